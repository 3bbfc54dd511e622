#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly
//! Malformed adverts injected from the client namespace with a raw socket (RFC 5798 §7.1,
//! RFC 3768 §7.1): each is dropped and counted under its reason in `tandem status`, and the
//! master it claims to preempt (priority 254) stays master. A valid priority-254 advert at the
//! end shows the injection path would have been noticed.

#[path = "vrrp_support.rs"]
mod support;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use support::*;
use tandem::lab::{DirectorLab, VIP4, VIP6};
use tandem_vrrp::packet::{Advertisement, V2Auth};
use tandem_vrrp::{Centiseconds, Version};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 10);
const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
const VIP2: &str = "10.77.0.101";
const CLIENT6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 0x10);
const GROUP6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The IPv6 instance: packets for it are injected over IPv6.
const V6_INSTANCE: &str = "VI_6";

fn advert(version: Version, vrid: u8, priority: u8, vip: &str) -> Advertisement {
    Advertisement {
        version,
        vrid,
        priority,
        advert_interval: Centiseconds(if version == Version::V2 { 100 } else { 10 }),
        addresses: vec![vip.parse().unwrap()],
        auth: (version == Version::V2).then_some(V2Auth::NONE),
    }
}

fn encode(a: &Advertisement) -> Vec<u8> {
    a.encode(IpAddr::V4(CLIENT), IpAddr::V4(GROUP)).unwrap()
}

fn encode6(a: &Advertisement) -> Vec<u8> {
    a.encode(IpAddr::V6(CLIENT6), IpAddr::V6(GROUP6)).unwrap()
}

/// Like [`inject`] over IPv6 to ff02::12 with the given hop limit; the payload (with its
/// checksum) is sent as is (raw IPv6 sockets of protocol 112 do not touch it).
fn inject6(lab: &DirectorLab, payload: &[u8], hops: u8, count: usize) {
    let netns = std::path::PathBuf::from("/var/run/netns").join(&lab.client.netns);
    let payload = payload.to_vec();
    std::thread::spawn(move || -> std::io::Result<()> {
        tandem_vrrp::net::enter_network_namespace(&netns)?;
        let ifindex = tandem_vrrp::net::interface_index("eth0")?;
        let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(112)))?;
        s.bind_device(Some(b"eth0"))?;
        s.bind(&SocketAddr::V6(SocketAddrV6::new(CLIENT6, 0, 0, 0)).into())?;
        s.set_multicast_if_v6(ifindex)?;
        s.set_multicast_hops_v6(u32::from(hops))?;
        let to = SocketAddr::V6(SocketAddrV6::new(GROUP6, 0, 0, ifindex)).into();
        for _ in 0..count {
            s.send_to(&payload, &to)?;
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    })
    .join()
    .unwrap()
    .expect("injecting IPv6 packets from the client");
}

/// Sends `payload` `count` times as IP protocol 112 to 224.0.0.18 from the client's eth0 with
/// the given TTL (the kernel writes the IP header).
fn inject(lab: &DirectorLab, payload: &[u8], ttl: u8, count: usize) {
    let netns = std::path::PathBuf::from("/var/run/netns").join(&lab.client.netns);
    let payload = payload.to_vec();
    std::thread::spawn(move || -> std::io::Result<()> {
        tandem_vrrp::net::enter_network_namespace(&netns)?;
        let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112)))?;
        s.bind_device(Some(b"eth0"))?;
        s.bind(&SocketAddr::V4(SocketAddrV4::new(CLIENT, 0)).into())?;
        s.set_multicast_if_v4(&CLIENT)?;
        s.set_multicast_ttl_v4(u32::from(ttl))?;
        let to = SocketAddr::V4(SocketAddrV4::new(GROUP, 0)).into();
        for _ in 0..count {
            s.send_to(&payload, &to)?;
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    })
    .join()
    .unwrap()
    .expect("injecting packets from the client");
}

fn counters(lab: &DirectorLab, instance: &str) -> BTreeMap<String, u64> {
    lab.status(0)
        .unwrap()
        .vrrp_instances
        .into_iter()
        .find(|v| v.name == instance)
        .unwrap()
        .counters
}

/// Counters that changed, except the master's own sending.
fn changes(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter(|(k, _)| k.as_str() != "adverts_sent")
        .filter_map(|(k, v)| {
            let was = before.get(k).copied().unwrap_or(0);
            (*v != was).then(|| (k.clone(), v - was))
        })
        .collect()
}

/// Injects `payload` 3 times and expects exactly `expect` to change on `instance` (and
/// nothing on the other instance when `quiet` names it), both instances still MASTER.
fn expect_counted(
    lab: &DirectorLab,
    what: &str,
    payload: &[u8],
    ttl: u8,
    instance: &str,
    expect: &[(&str, u64)],
    quiet: Option<&str>,
) {
    let before = counters(lab, instance);
    let quiet_before = quiet.map(|q| counters(lab, q));
    if instance == V6_INSTANCE {
        inject6(lab, payload, ttl, 3);
    } else {
        inject(lab, payload, ttl, 3);
    }
    let mut want: BTreeMap<String, u64> = expect.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    // Drops also count in the total.
    let dropped: u64 = expect
        .iter()
        .filter(|(k, _)| *k != "adverts_received")
        .map(|(_, v)| v)
        .sum();
    if dropped > 0 {
        want.insert("packets_dropped".into(), dropped);
    }
    let mut got = BTreeMap::new();
    let ok = tandem_testlab::wait_until(Duration::from_secs(3), Duration::from_millis(20), || {
        got = changes(&before, &counters(lab, instance));
        got == want
    });
    // A little longer: nothing else may move.
    std::thread::sleep(Duration::from_millis(200));
    got = changes(&before, &counters(lab, instance));
    assert!(
        ok && got == want,
        "{what}: {instance} counters changed by {got:?}, want {want:?}"
    );
    if let (Some(q), Some(qb)) = (quiet, quiet_before) {
        let moved = changes(&qb, &counters(lab, q));
        assert!(
            moved.is_empty(),
            "{what}: {q} counted {moved:?}, should skip silently"
        );
    }
    for (name, vip) in [("VI_3", VIP4), ("VI_2", VIP2), (V6_INSTANCE, VIP6)] {
        assert_eq!(
            lab.state(0, name).as_deref(),
            Some("MASTER"),
            "{what}: {name} must stay MASTER"
        );
        assert!(
            lab.has_address(0, vip).unwrap(),
            "{what}: {name} lost {vip}"
        );
    }
}

#[test]
fn malformed_adverts_are_counted_and_dropped() {
    let mut lab = build("vrrp-bad", &["dir1"], true);
    let v2_vips = ["10.77.0.101/24"];
    let v6_vips = ["fd77::100/64"];
    lab.start(
        0,
        &config(&[
            Instance {
                name: "VI_3",
                ..Instance::v3(150)
            },
            Instance {
                name: "VI_2",
                vrid: 52,
                version: 2,
                interval: "1s",
                vips: &v2_vips,
                ..Instance::v3(150)
            },
            Instance {
                name: V6_INSTANCE,
                vrid: 53,
                vips: &v6_vips,
                ..Instance::v3(150)
            },
        ]),
    )
    .unwrap();
    expect_state(&lab, 0, "VI_3", "MASTER", Duration::from_secs(5));
    expect_state(&lab, 0, "VI_2", "MASTER", Duration::from_secs(8));
    expect_state(&lab, 0, V6_INSTANCE, "MASTER", Duration::from_secs(5));

    let v3 = encode(&advert(Version::V3, 51, 254, VIP4));
    let v2 = encode(&advert(Version::V2, 52, 254, VIP2));

    // Controls: well-formed lower-priority adverts are received (the path works).
    let low3 = encode(&advert(Version::V3, 51, 1, VIP4));
    let low2 = encode(&advert(Version::V2, 52, 1, VIP2));
    expect_counted(
        &lab,
        "valid v3 advert, priority 1",
        &low3,
        255,
        "VI_3",
        &[("adverts_received", 3)],
        Some("VI_2"),
    );
    expect_counted(
        &lab,
        "valid v2 advert, priority 1",
        &low2,
        255,
        "VI_2",
        &[("adverts_received", 3)],
        Some("VI_3"),
    );

    // TTL 64: crossed a router.
    expect_counted(&lab, "TTL 64", &v3, 64, "VI_3", &[("bad_ttl", 3)], None);
    // Bad checksum (v3 includes the pseudo-header; v2 does not).
    let mut bad = v3.clone();
    bad[6] ^= 0xff;
    expect_counted(
        &lab,
        "v3 bad checksum",
        &bad,
        255,
        "VI_3",
        &[("bad_checksum", 3)],
        None,
    );
    let mut bad = v2.clone();
    bad[7] ^= 0x55;
    expect_counted(
        &lab,
        "v2 bad checksum",
        &bad,
        255,
        "VI_2",
        &[("bad_checksum", 3)],
        None,
    );
    // A VRID configured nowhere here.
    let other = encode(&advert(Version::V3, 99, 254, VIP4));
    expect_counted(
        &lab,
        "VRID 99",
        &other,
        255,
        "VI_3",
        &[("vrid_mismatch", 3)],
        None,
    );
    // A sibling's VRID (52 is VI_2's): VI_3 skips it silently; VI_2 sees a v3 packet.
    let sibling = encode(&advert(Version::V3, 52, 254, VIP2));
    expect_counted(
        &lab,
        "sibling VRID",
        &sibling,
        255,
        "VI_2",
        &[("version_mismatch", 3)],
        Some("VI_3"),
    );
    // Truncated: the first 6 bytes of a header.
    expect_counted(
        &lab,
        "truncated",
        &v3[..6],
        255,
        "VI_3",
        &[("truncated", 3)],
        None,
    );
    // Length not matching the address count.
    expect_counted(
        &lab,
        "address count",
        &v3[..v3.len() - 2],
        255,
        "VI_3",
        &[("address_count_mismatch", 3)],
        None,
    );
    // VRRPv2 authentication: simple-text password sent to a router configured without.
    let mut auth = advert(Version::V2, 52, 254, VIP2);
    auth.auth = Some(V2Auth::simple_text(b"secret"));
    expect_counted(
        &lab,
        "v2 auth mismatch",
        &encode(&auth),
        255,
        "VI_2",
        &[("auth_type_mismatch", 3)],
        None,
    );
    // VRRPv2 interval differing from ours (RFC 3768 §7.1).
    let mut slow = advert(Version::V2, 52, 254, VIP2);
    slow.advert_interval = Centiseconds(300);
    expect_counted(
        &lab,
        "v2 interval",
        &encode(&slow),
        255,
        "VI_2",
        &[("interval_mismatch", 3)],
        None,
    );

    // IPv6: control, hop limit 64 (read from IPV6_HOPLIMIT), bad checksum (pseudo-header).
    let v6 = encode6(&advert(Version::V3, 53, 254, VIP6));
    let low6 = encode6(&advert(Version::V3, 53, 1, VIP6));
    expect_counted(
        &lab,
        "valid IPv6 advert, priority 1",
        &low6,
        255,
        V6_INSTANCE,
        &[("adverts_received", 3)],
        Some("VI_3"),
    );
    expect_counted(
        &lab,
        "hop limit 64",
        &v6,
        64,
        V6_INSTANCE,
        &[("bad_ttl", 3)],
        None,
    );
    let mut bad = v6.clone();
    bad[6] ^= 0xff;
    expect_counted(
        &lab,
        "IPv6 bad checksum",
        &bad,
        255,
        V6_INSTANCE,
        &[("bad_checksum", 3)],
        None,
    );
    inject6(&lab, &v6, 255, 1);
    expect_state(&lab, 0, V6_INSTANCE, "BACKUP", Duration::from_secs(3));
    expect_state(&lab, 0, V6_INSTANCE, "MASTER", Duration::from_secs(5));

    // The same priority-254 advert, valid: VI_3 yields (so the checks above could fail).
    inject(&lab, &v3, 255, 1);
    expect_state(&lab, 0, "VI_3", "BACKUP", Duration::from_secs(3));
    // Nobody advertises any more: it takes the VIP back after Master_Down_Interval.
    expect_state(&lab, 0, "VI_3", "MASTER", Duration::from_secs(5));
}
