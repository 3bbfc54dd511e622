//! Real kernel replies (captured in the IPVS VM by `dev/ipvs-vm/capture-fixtures.sh`) parse
//! into the expected values and re-emit byte-identical.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::net::IpAddr;

use netlink_packet_core::NetlinkPayload;
use tandem_ipvs::message::{IpvsAttr, IpvsCmd, IpvsMessage, emit_datagram, parse_datagram};
use tandem_ipvs::{
    DaemonState, Destination, ForwardMethod, IpFamily, Protocol, Service, ServiceFlags, ServiceKey,
    SyncDaemon, TunnelType,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}.bin", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Parses a fixture, checks the re-emitted bytes are identical, returns the IPVS payloads
/// and asserts the exchange ends with DONE (dump) or an ack.
fn roundtrip(name: &str) -> Vec<IpvsMessage> {
    let bytes = fixture(name);
    let messages = parse_datagram(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        emit_datagram(&messages),
        bytes,
        "{name}: re-emitted bytes differ"
    );
    let last = messages.last().expect("fixture has messages");
    match &last.payload {
        NetlinkPayload::Done(_) => {}
        NetlinkPayload::Error(e) => assert_eq!(e.code, None, "{name}: ends with an error"),
        other => panic!("{name}: ends with {other:?}"),
    }
    messages
        .into_iter()
        .filter_map(|m| match m.payload {
            NetlinkPayload::InnerMessage(g) => Some(g.payload),
            _ => None,
        })
        .collect()
}

fn services(msgs: &[IpvsMessage]) -> Vec<Service> {
    msgs.iter()
        .flat_map(|m| &m.attrs)
        .filter_map(|a| match a {
            IpvsAttr::Service(s) => Some(Service::from_attrs(s).expect("service decodes")),
            _ => None,
        })
        .collect()
}

fn dests(msgs: &[IpvsMessage], family: IpFamily) -> Vec<Destination> {
    msgs.iter()
        .flat_map(|m| &m.attrs)
        .filter_map(|a| match a {
            IpvsAttr::Dest(d) => Some(Destination::from_attrs(d, family).expect("dest decodes")),
            _ => None,
        })
        .collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

#[test]
fn get_info_reply() {
    let msgs = roundtrip("get_info");
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].cmd, IpvsCmd::SetInfo);
    assert_eq!(
        msgs[0].attrs,
        vec![
            IpvsAttr::InfoVersion(0x010201),
            IpvsAttr::InfoConnTabSize(4096)
        ]
    );
}

#[test]
fn get_config_reply() {
    let msgs = roundtrip("get_config");
    assert_eq!(msgs[0].cmd, IpvsCmd::SetConfig);
    assert_eq!(
        msgs[0].attrs,
        vec![
            IpvsAttr::TimeoutTcp(900),
            IpvsAttr::TimeoutTcpFin(120),
            IpvsAttr::TimeoutUdp(300)
        ]
    );
}

#[test]
fn get_service_dump_reply() {
    let msgs = roundtrip("get_service_dump");
    assert!(msgs.iter().all(|m| m.cmd == IpvsCmd::NewService));
    let mut svcs = services(&msgs);
    svcs.sort_by_key(|s| s.key);
    assert_eq!(svcs.len(), 3);
    let by_key = |k: ServiceKey| svcs.iter().find(|s| s.key == k).expect("service present");

    let tcp = by_key(ServiceKey::tcp(ip("10.0.0.1"), 80));
    assert_eq!(tcp.scheduler, "wrr");
    assert_eq!(tcp.flags.configurable(), ServiceFlags::default());
    assert!(
        tcp.flags.contains(ServiceFlags::HASHED),
        "kernel marks live services hashed"
    );
    assert_eq!(tcp.netmask, u32::MAX);
    assert!(tcp.stats.is_some());

    let udp6 = by_key(ServiceKey::Inet {
        protocol: Protocol::Udp,
        addr: ip("2001:db8::1"),
        port: 53,
    });
    assert_eq!(udp6.scheduler, "sh");
    assert_eq!(
        udp6.flags.configurable(),
        ServiceFlags::SCHED1 | ServiceFlags::SCHED2
    );
    assert_eq!(udp6.netmask, 128);

    let fw = by_key(ServiceKey::fwmark(IpFamily::V4, 42));
    assert_eq!(fw.scheduler, "rr");
    assert!(fw.flags.contains(ServiceFlags::PERSISTENT));
    assert_eq!(fw.timeout, 300);
    assert_eq!(fw.netmask, Service::ipv4_netmask(24));
}

#[test]
fn get_single_service_reply() {
    let msgs = roundtrip("get_service_v4");
    let svcs = services(&msgs);
    assert_eq!(svcs.len(), 1);
    assert_eq!(svcs[0].key, ServiceKey::tcp(ip("10.0.0.1"), 80));
}

#[test]
fn get_dest_dump_v4_reply() {
    let msgs = roundtrip("get_dest_dump_v4");
    let mut d = dests(&msgs, IpFamily::V4);
    d.sort_by_key(|d| d.key());
    assert_eq!(d.len(), 3);
    assert_eq!((d[0].addr, d[0].port), (ip("10.2.0.5"), 80));
    assert_eq!(d[0].forward, ForwardMethod::DirectRoute);
    assert_eq!(d[0].weight, 7);
    assert_eq!(
        (d[1].addr, d[1].forward, d[1].weight),
        (ip("192.168.1.10"), ForwardMethod::Masquerade, 3)
    );
    assert_eq!(d[2].addr, ip("192.168.1.11"));
    assert_eq!(
        (d[2].weight, d[2].upper_threshold, d[2].lower_threshold),
        (0, 100, 10)
    );
    assert!(d.iter().all(|d| d.stats.is_some()));
}

#[test]
fn get_dest_dump_v6_reply() {
    let msgs = roundtrip("get_dest_dump_v6");
    let d = dests(&msgs, IpFamily::V6);
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].addr, d[0].port, d[0].weight),
        (ip("2001:db8::10"), 53, 2)
    );
}

#[test]
fn get_dest_dump_tunnel_reply() {
    let msgs = roundtrip("get_dest_dump_fwmark");
    let mut d = dests(&msgs, IpFamily::V4);
    d.sort_by_key(|d| d.key());
    assert_eq!(d.len(), 2);
    assert_eq!(
        d[0].forward,
        ForwardMethod::Tunnel {
            tun_type: TunnelType::Gue,
            port: 6080,
            flags: 1
        }
    );
    assert_eq!(d[1].forward, ForwardMethod::TUNNEL_IPIP);
}

#[test]
fn get_daemon_dump_reply() {
    let msgs = roundtrip("get_daemon_dump");
    let mut daemons: Vec<SyncDaemon> = msgs
        .iter()
        .flat_map(|m| &m.attrs)
        .filter_map(|a| match a {
            IpvsAttr::Daemon(d) => Some(SyncDaemon::from_attrs(d).expect("daemon decodes")),
            _ => None,
        })
        .collect();
    daemons.sort_by_key(|d| d.interface.clone());
    assert_eq!(daemons.len(), 2);
    assert_eq!(
        (daemons[0].state, daemons[0].interface.as_str()),
        (DaemonState::Master, "cap0")
    );
    assert_eq!(
        (daemons[1].state, daemons[1].interface.as_str()),
        (DaemonState::Backup, "cap1")
    );
    for d in &daemons {
        assert_eq!(d.sync_id, 7);
        assert_eq!(d.mcast_group, Some(ip("224.0.0.81")));
        assert_eq!(d.mcast_port, Some(8848));
        assert_eq!(d.mcast_ttl, Some(1));
    }
}
