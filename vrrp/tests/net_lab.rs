//! Socket helpers against a real kernel: two network namespaces on a bridge (the testlab
//! harness). One host sends a VRRPv3 advert over the multicast raw socket, the other receives
//! it with TTL/hop limit 255 and it validates; gratuitous ARP / unsolicited NA frames sent over
//! `AF_PACKET` update the other host's neighbour table. Needs root (CI runs as root).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use tandem_testlab::{Host, Lab, require_root, wait_until};
use tandem_vrrp::garp::{MacAddr, gratuitous_arp, unsolicited_na};
use tandem_vrrp::net::{
    AsyncVrrpSocket, Datagram, PacketSocket, VrrpSocket, enter_network_namespace,
};
use tandem_vrrp::{
    Advertisement, Centiseconds, Event, Instance, InstanceConfig, State, Version, validate,
};

fn netns_path(host: &Host) -> PathBuf {
    PathBuf::from("/var/run/netns").join(&host.netns)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn advert(vip: &str) -> Advertisement {
    Advertisement {
        version: Version::V3,
        vrid: 42,
        priority: 200,
        advert_interval: Centiseconds(10),
        addresses: vec![ip(vip)],
        auth: None,
    }
}

/// The link-local address of `ifname` on `host`, once the kernel has assigned it.
fn link_local(host: &Host, ifname: &str) -> String {
    let mut found = None;
    let assigned = wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        let out = host
            .exec_stdout(&[
                "ip", "-6", "-o", "addr", "show", "dev", ifname, "scope", "link",
            ])
            .unwrap_or_default();
        found = out
            .split_whitespace()
            .skip_while(|w| *w != "inet6")
            .nth(1)
            .and_then(|a| a.split('/').next())
            .map(str::to_string);
        found.is_some()
    });
    assert!(
        assigned,
        "{ifname} on {} got no link-local address",
        host.name
    );
    found.unwrap()
}

/// Starts a receiver thread in `host`'s namespace; returns once its socket is open.
fn spawn_receiver(
    host: &Host,
    source: IpAddr,
) -> thread::JoinHandle<io::Result<(Datagram, Vec<u8>)>> {
    let path = netns_path(host);
    let (ready_tx, ready_rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        enter_network_namespace(&path)?;
        let socket = VrrpSocket::open("eth0", source)?;
        socket.set_read_timeout(Some(Duration::from_secs(5)))?;
        let _ = ready_tx.send(());
        let mut buf = vec![0u8; 2048];
        let datagram = socket.recv(&mut buf)?;
        Ok((datagram, buf))
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("receiver socket did not open (see the thread's error)");
    handle
}

/// Sends `advert` from `host` to the multicast group every 100 ms until `done()` (at most 30
/// times).
fn send_until(host: &Host, source: IpAddr, advert: Advertisement, done: impl Fn() -> bool) {
    let path = netns_path(host);
    let sender = thread::spawn(move || -> io::Result<VrrpSocket> {
        enter_network_namespace(&path)?;
        VrrpSocket::open("eth0", source)
    });
    let socket = sender.join().unwrap().expect("open sender socket");
    for _ in 0..30 {
        socket.send_advert_multicast(&advert).expect("send advert");
        if wait_until(Duration::from_millis(100), Duration::from_millis(10), &done) {
            return;
        }
    }
}

#[test]
fn ipv4_advert_crosses_the_bridge_with_ttl_255_and_validates() {
    require_root();
    let lab = Lab::new("vrrp4").unwrap();
    let a = lab.host("a").unwrap();
    let b = lab.host("b").unwrap();
    lab.connect(&a, "br0", "eth0", &["10.99.7.1/24"]).unwrap();
    lab.connect(&b, "br0", "eth0", &["10.99.7.2/24"]).unwrap();
    let receiver = spawn_receiver(&b, ip("10.99.7.2"));
    let sent = advert("10.99.7.100");
    send_until(&a, ip("10.99.7.1"), sent.clone(), || receiver.is_finished());
    let (datagram, buf) = receiver.join().unwrap().expect("receive the advert");
    assert_eq!(datagram.ttl, 255, "TTL must arrive as 255");
    assert_eq!(datagram.source, ip("10.99.7.1"));
    assert_eq!(datagram.destination, ip("224.0.0.18"));
    assert!(
        datagram.ifindex.is_some(),
        "IP_PKTINFO reports the interface"
    );

    // The packet validates (TTL, checksum with pseudo-header, VRID) and drives an instance.
    let config = InstanceConfig::new(
        Version::V3,
        42,
        100,
        Centiseconds(10),
        ip("10.99.7.2"),
        vec![ip("10.99.7.100")],
    );
    let mut instance = Instance::new(config).unwrap();
    let now = std::time::Instant::now();
    instance.handle(Event::Startup, now);
    let packet = datagram.packet(&buf);
    assert_eq!(
        validate::validate(instance.validation_params(), &packet),
        Ok(sent)
    );
    instance.receive(&packet, now).unwrap();
    assert_eq!(instance.state(), State::Backup);
    assert_eq!(instance.master_address(), Some(ip("10.99.7.1")));
    assert_eq!(instance.counters().adverts_received, 1);
}

#[test]
fn ipv6_advert_arrives_with_hop_limit_255_on_the_async_socket() {
    require_root();
    let lab = Lab::new("vrrp6").unwrap();
    let a = lab.host_with_ipv6("a", true).unwrap();
    let b = lab.host_with_ipv6("b", true).unwrap();
    lab.connect(&a, "br0", "eth0", &["fd00:99::1/64"]).unwrap();
    lab.connect(&b, "br0", "eth0", &["fd00:99::2/64"]).unwrap();
    let a_ll = ip(&link_local(&a, "eth0"));
    let b_ll = ip(&link_local(&b, "eth0"));

    let path = netns_path(&b);
    let (ready_tx, ready_rx) = mpsc::channel();
    let receiver = thread::spawn(move || -> io::Result<(Datagram, Vec<u8>)> {
        enter_network_namespace(&path)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let socket = AsyncVrrpSocket::new(VrrpSocket::open("eth0", b_ll)?)?;
            let _ = ready_tx.send(());
            let mut buf = vec![0u8; 2048];
            let datagram = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no advert in 5 s"))??;
            Ok((datagram, buf))
        })
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("receiver socket did not open");
    let sent = advert("fd00:99::100");
    send_until(&a, a_ll, sent.clone(), || receiver.is_finished());
    let (datagram, buf) = receiver.join().unwrap().expect("receive the advert");
    assert_eq!(datagram.ttl, 255, "hop limit from IPV6_HOPLIMIT");
    assert_eq!(datagram.source, a_ll);
    assert_eq!(datagram.destination, ip("ff02::12"), "from IPV6_PKTINFO");

    let config = InstanceConfig::new(
        Version::V3,
        42,
        100,
        Centiseconds(10),
        b_ll,
        vec![ip("fd00:99::100")],
    );
    let instance = Instance::new(config).unwrap();
    assert_eq!(
        validate::validate(instance.validation_params(), &datagram.packet(&buf)),
        Ok(sent),
        "checksum over the IPv6 pseudo-header verifies"
    );
}

/// The lladdr `host` has for `addr` on eth0, if any.
fn neighbour_mac(host: &Host, addr: &str) -> Option<String> {
    let out = host
        .exec_stdout(&["ip", "neigh", "show", addr, "dev", "eth0"])
        .ok()?;
    out.split_whitespace()
        .skip_while(|w| *w != "lladdr")
        .nth(1)
        .map(str::to_string)
}

fn open_packet_socket(host: &Host) -> PacketSocket {
    let path = netns_path(host);
    thread::spawn(move || -> io::Result<PacketSocket> {
        enter_network_namespace(&path)?;
        PacketSocket::open("eth0")
    })
    .join()
    .unwrap()
    .expect("open AF_PACKET socket")
}

#[test]
fn gratuitous_arp_over_af_packet_updates_the_peer_neighbour_table() {
    require_root();
    let lab = Lab::new("garp").unwrap();
    let a = lab.host("a").unwrap();
    let b = lab.host("b").unwrap();
    let link_a = lab.connect(&a, "br0", "eth0", &["10.99.8.1/24"]).unwrap();
    lab.connect(&b, "br0", "eth0", &["10.99.8.2/24"]).unwrap();
    // b believes the VIP is at an old MAC (the previous master).
    b.exec(&[
        "ip",
        "neigh",
        "replace",
        "10.99.8.100",
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        "eth0",
        "nud",
        "stale",
    ])
    .unwrap();
    let socket = open_packet_socket(&a);
    assert_eq!(
        socket.mac().to_string(),
        link_a.mac,
        "SIOCGIFHWADDR in the namespace"
    );
    let frame = gratuitous_arp(socket.mac(), "10.99.8.100".parse().unwrap());
    let mut moved = false;
    for _ in 0..30 {
        assert_eq!(socket.send_frame(&frame).unwrap(), frame.len());
        moved = wait_until(
            Duration::from_millis(100),
            Duration::from_millis(10),
            || neighbour_mac(&b, "10.99.8.100").as_deref() == Some(link_a.mac.as_str()),
        );
        if moved {
            break;
        }
    }
    assert!(
        moved,
        "b's neighbour entry for the VIP still {:?}, expected {}",
        neighbour_mac(&b, "10.99.8.100"),
        link_a.mac
    );
}

#[test]
fn unsolicited_na_over_af_packet_overrides_the_peer_neighbour_entry() {
    require_root();
    let lab = Lab::new("una").unwrap();
    let a = lab.host_with_ipv6("a", true).unwrap();
    let b = lab.host_with_ipv6("b", true).unwrap();
    let link_a = lab.connect(&a, "br0", "eth0", &["fd00:98::1/64"]).unwrap();
    lab.connect(&b, "br0", "eth0", &["fd00:98::2/64"]).unwrap();
    let a_ll: std::net::Ipv6Addr = link_local(&a, "eth0").parse().unwrap();
    b.exec(&[
        "ip",
        "-6",
        "neigh",
        "replace",
        "fd00:98::100",
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        "eth0",
        "nud",
        "stale",
    ])
    .unwrap();
    let socket = open_packet_socket(&a);
    let mac: MacAddr = socket.mac();
    let frame = unsolicited_na(mac, a_ll, "fd00:98::100".parse().unwrap(), false);
    let mut moved = false;
    for _ in 0..30 {
        socket.send_frame(&frame).unwrap();
        moved = wait_until(
            Duration::from_millis(100),
            Duration::from_millis(10),
            || neighbour_mac(&b, "fd00:98::100").as_deref() == Some(link_a.mac.as_str()),
        );
        if moved {
            break;
        }
    }
    assert!(
        moved,
        "b's neighbour entry for the VIP still {:?}, expected {}",
        neighbour_mac(&b, "fd00:98::100"),
        link_a.mac
    );
}

#[test]
fn opening_a_socket_on_a_missing_interface_is_an_error() {
    require_root();
    let err = VrrpSocket::open("tandem-nosuch0", ip("10.0.0.1")).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    assert!(PacketSocket::open("tandem-nosuch0").is_err());
}

#[test]
fn async_socket_outside_a_runtime_is_an_error_not_a_panic() {
    require_root();
    let lab = Lab::new("noreact").unwrap();
    let a = lab.host("a").unwrap();
    lab.connect(&a, "br0", "eth0", &["10.99.9.1/24"]).unwrap();
    let path = netns_path(&a);
    let result = thread::spawn(move || -> io::Result<()> {
        enter_network_namespace(&path)?;
        AsyncVrrpSocket::new(VrrpSocket::open("eth0", ip("10.99.9.1"))?).map(|_| ())
    })
    .join()
    .unwrap();
    assert_eq!(result.unwrap_err().kind(), io::ErrorKind::Unsupported);
}

/// keepalived's `unicast_peer` mode: the advert goes to the peer's address, still with TTL 255,
/// and validates with the unicast destination in the VRRPv3 pseudo-header.
#[test]
fn ipv4_unicast_advert_reaches_the_peer() {
    require_root();
    let lab = Lab::new("vrrpuni").unwrap();
    let a = lab.host("a").unwrap();
    let b = lab.host("b").unwrap();
    lab.connect(&a, "br0", "eth0", &["10.99.6.1/24"]).unwrap();
    lab.connect(&b, "br0", "eth0", &["10.99.6.2/24"]).unwrap();
    let receiver = spawn_receiver(&b, ip("10.99.6.2"));
    let sent = advert("10.99.6.100");
    let path = netns_path(&a);
    let socket = thread::spawn(move || -> io::Result<VrrpSocket> {
        enter_network_namespace(&path)?;
        VrrpSocket::open("eth0", ip("10.99.6.1"))
    })
    .join()
    .unwrap()
    .expect("open sender socket");
    for _ in 0..30 {
        socket.send_advert(&sent, ip("10.99.6.2")).unwrap();
        if wait_until(
            Duration::from_millis(100),
            Duration::from_millis(10),
            || receiver.is_finished(),
        ) {
            break;
        }
    }
    let (datagram, buf) = receiver.join().unwrap().expect("receive the advert");
    assert_eq!(datagram.ttl, 255, "unicast TTL must be 255 too");
    assert_eq!(datagram.destination, ip("10.99.6.2"));
    let config = InstanceConfig::new(
        Version::V3,
        42,
        100,
        Centiseconds(10),
        ip("10.99.6.2"),
        vec![ip("10.99.6.100")],
    );
    let instance = Instance::new(config).unwrap();
    assert_eq!(
        validate::validate(instance.validation_params(), &datagram.packet(&buf)),
        Ok(sent)
    );
}
