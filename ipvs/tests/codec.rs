//! Host-side codec tests: every request this crate builds parses back to itself, unknown
//! attributes survive a round trip, and no byte sequence makes the decoder panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{
    DefaultNla, NLM_F_ACK, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_generic::GenlMessage;
use proptest::prelude::*;
use tandem_ipvs::message::{IpvsAttr, IpvsCmd, IpvsMessage, emit_datagram, parse_datagram};
use tandem_ipvs::service::ServiceAttr;
use tandem_ipvs::{
    DaemonState, DestKey, Destination, ForwardMethod, IpFamily, Operation, Protocol, Service,
    ServiceFlags, ServiceKey, SyncDaemon, Timeouts, TunnelType,
};

fn wrap(msg: IpvsMessage, seq: u32) -> tandem_ipvs::message::IpvsNetlinkMessage {
    let mut genl = GenlMessage::from_payload(msg);
    genl.set_resolved_family_id(0x1a);
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK;
    header.sequence_number = seq;
    let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(genl));
    nl.finalize();
    nl
}

fn roundtrip(msg: IpvsMessage) -> IpvsMessage {
    let bytes = emit_datagram(&[wrap(msg, 7)]);
    let parsed = parse_datagram(&bytes).expect("own bytes parse");
    assert_eq!(parsed.len(), 1);
    assert_eq!(emit_datagram(&parsed), bytes, "re-emit differs");
    match parsed.into_iter().next().map(|m| m.payload) {
        Some(NetlinkPayload::InnerMessage(g)) => g.payload,
        other => panic!("unexpected payload {other:?}"),
    }
}

fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn sample_ops() -> Vec<Operation> {
    let tcp = ServiceKey::tcp(v4([10, 0, 0, 1]), 80);
    let v6 = ServiceKey::Inet {
        protocol: Protocol::Sctp,
        addr: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        port: 443,
    };
    let fw = ServiceKey::fwmark(IpFamily::V6, 9);
    let mut persistent = Service::new(tcp, "wlc");
    persistent.flags = ServiceFlags::PERSISTENT | ServiceFlags::ONE_PACKET;
    persistent.timeout = 360;
    persistent.netmask = Service::ipv4_netmask(24);
    persistent.pe_name = Some("sip".into());
    let mut dest = Destination::new(v4([192, 168, 0, 2]), 8080, ForwardMethod::Masquerade, 5);
    dest.upper_threshold = 1000;
    dest.lower_threshold = 100;
    let gre = Destination::new(
        v4([192, 168, 0, 3]),
        0,
        ForwardMethod::Tunnel {
            tun_type: TunnelType::Gre,
            port: 0,
            flags: 2,
        },
        1,
    );
    let mut daemon = SyncDaemon::new(DaemonState::Backup, "eth1", 3);
    daemon.mcast_group = Some("ff02::81".parse().expect("addr"));
    daemon.mcast_port = Some(8849);
    daemon.mcast_ttl = Some(4);
    daemon.sync_maxlen = Some(1400);
    vec![
        Operation::NewService(persistent.clone()),
        Operation::SetService(Service::new(v6, "mh")),
        Operation::DelService(fw),
        Operation::NewDest {
            service: tcp,
            dest: dest.clone(),
        },
        Operation::SetDest {
            service: fw,
            dest: gre,
        },
        Operation::DelDest {
            service: v6,
            dest: DestKey {
                addr: v4([1, 2, 3, 4]),
                port: 1,
            },
        },
        Operation::Flush,
        Operation::Zero(None),
        Operation::Zero(Some(tcp)),
        Operation::NewDaemon(daemon),
        Operation::DelDaemon(DaemonState::Master),
        Operation::SetTimeouts(Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300,
        }),
    ]
}

#[test]
fn every_operation_roundtrips() {
    for op in sample_ops() {
        let msg = op.to_message();
        assert_eq!(roundtrip(msg.clone()), msg, "{op}");
    }
}

#[test]
fn typed_values_survive_the_wire() {
    for op in sample_ops() {
        let back = roundtrip(op.to_message());
        match &op {
            Operation::NewService(s) | Operation::SetService(s) => {
                let IpvsAttr::Service(attrs) = &back.attrs[0] else {
                    panic!("no service")
                };
                assert_eq!(&Service::from_attrs(attrs).expect("decodes"), s);
            }
            Operation::NewDest { service, dest } | Operation::SetDest { service, dest } => {
                let IpvsAttr::Dest(attrs) = &back.attrs[1] else {
                    panic!("no dest")
                };
                assert_eq!(
                    &Destination::from_attrs(attrs, service.family()).expect("decodes"),
                    dest
                );
            }
            Operation::NewDaemon(d) => {
                let IpvsAttr::Daemon(attrs) = &back.attrs[0] else {
                    panic!("no daemon")
                };
                assert_eq!(&SyncDaemon::from_attrs(attrs).expect("decodes"), d);
            }
            _ => {}
        }
    }
}

#[test]
fn port_is_network_byte_order_on_the_wire() {
    let msg = Operation::DelService(ServiceKey::tcp(v4([10, 0, 0, 1]), 0x1234)).to_message();
    let bytes = emit_datagram(&[wrap(msg, 1)]);
    let port_attr = [6u8, 0, 4, 0, 0x12, 0x34];
    assert!(
        bytes.windows(6).any(|w| w == port_attr),
        "IPVS_SVC_ATTR_PORT not big-endian"
    );
}

#[test]
fn unknown_attributes_are_preserved() {
    let msg = IpvsMessage::new(
        IpvsCmd::NewService,
        vec![
            IpvsAttr::Service(vec![
                ServiceAttr::Af(2),
                ServiceAttr::Other(DefaultNla::new(99, vec![1, 2, 3])),
                ServiceAttr::Fwmark(5),
            ]),
            IpvsAttr::Other(DefaultNla::new(77, vec![9; 9])),
        ],
    );
    assert_eq!(roundtrip(msg.clone()), msg);
    let IpvsAttr::Service(attrs) = &msg.attrs[0] else {
        unreachable!()
    };
    assert_eq!(
        Service::from_attrs(attrs).expect("decodes").key,
        ServiceKey::fwmark(IpFamily::V4, 5)
    );
}

#[test]
fn unknown_command_is_kept() {
    let msg = IpvsMessage::new(
        IpvsCmd::Other(200),
        vec![IpvsAttr::Other(DefaultNla::new(50, vec![0; 4]))],
    );
    assert_eq!(roundtrip(msg.clone()), msg);
}

#[test]
fn wrongly_sized_attribute_is_an_error() {
    // IPVS_SVC_ATTR_PORT with 3 bytes inside IPVS_CMD_ATTR_SERVICE.
    let mut bytes = emit_datagram(&[wrap(IpvsMessage::new(IpvsCmd::NewService, vec![]), 1)]);
    let nest = [12u8, 0, 1, 0, 7, 0, 4, 0, 1, 2, 3, 0];
    bytes.extend_from_slice(&nest);
    let len = bytes.len() as u32;
    bytes[..4].copy_from_slice(&len.to_ne_bytes());
    let err = parse_datagram(&bytes).expect_err("must reject");
    assert!(err.to_string().contains("IPVS_SVC_ATTR_PORT"), "{err}");
}

#[test]
fn missing_key_attributes_are_reported() {
    let err = Service::from_attrs(&[ServiceAttr::Af(2), ServiceAttr::SchedName("rr".into())])
        .expect_err("no key");
    assert!(err.to_string().contains("FWMARK"), "{err}");
    let err = Service::from_attrs(&[ServiceAttr::Af(99), ServiceAttr::Fwmark(1)]).expect_err("af");
    assert!(err.to_string().contains("99"), "{err}");
}

#[test]
fn oversized_names_are_rejected_before_sending() {
    let ok = Service::new(ServiceKey::tcp(v4([10, 0, 0, 1]), 80), "wlc");
    assert_eq!(Operation::NewService(ok.clone()).validate(), Ok(()));
    let mut long = ok.clone();
    long.scheduler = "s".repeat(70_000);
    assert!(Operation::NewService(long).validate().is_err());
    let mut pe = ok;
    pe.pe_name = Some("sip\0x".into());
    assert!(Operation::SetService(pe).validate().is_err());
    let daemon = SyncDaemon::new(DaemonState::Master, "a-very-long-interface-name", 1);
    assert!(Operation::NewDaemon(daemon).validate().is_err());
    for op in sample_ops() {
        assert_eq!(op.validate(), Ok(()), "{op}");
    }
}

#[test]
fn netmask_helper_matches_kernel_layout() {
    assert_eq!(Service::ipv4_netmask(32), u32::MAX);
    assert_eq!(Service::ipv4_netmask(0), 0);
    assert_eq!(Service::ipv4_netmask(24).to_ne_bytes(), [255, 255, 255, 0]);
}

fn arb_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|a| IpAddr::V4(a.into())),
        any::<[u8; 16]>().prop_map(|a| IpAddr::V6(a.into())),
    ]
}

fn arb_forward() -> impl Strategy<Value = ForwardMethod> {
    prop_oneof![
        Just(ForwardMethod::Masquerade),
        Just(ForwardMethod::DirectRoute),
        (0u8..3, any::<u16>(), 0u16..4).prop_map(|(t, port, flags)| ForwardMethod::Tunnel {
            tun_type: TunnelType::from_number(t),
            port,
            flags
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_datagram(&bytes);
    }

    #[test]
    fn arbitrary_payload_after_valid_header_never_panics(
        cmd in any::<u8>(),
        payload in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        // A well-formed nlmsghdr + genlmsghdr followed by garbage attributes, so the fuzzing
        // reaches the attribute decoders instead of stopping at the netlink header.
        let total = 16 + 4 + payload.len();
        let mut bytes = Vec::with_capacity(total);
        bytes.extend_from_slice(&(total as u32).to_ne_bytes());
        bytes.extend_from_slice(&0x1au16.to_ne_bytes());
        bytes.extend_from_slice(&[0; 10]);
        bytes.extend_from_slice(&[cmd, 1, 0, 0]);
        bytes.extend_from_slice(&payload);
        if let Ok(msgs) = parse_datagram(&bytes) {
            for m in msgs {
                if let NetlinkPayload::InnerMessage(g) = m.payload {
                    for a in &g.payload.attrs {
                        match a {
                            IpvsAttr::Service(s) => { let _ = Service::from_attrs(s); }
                            IpvsAttr::Dest(d) => { let _ = Destination::from_attrs(d, IpFamily::V4); }
                            IpvsAttr::Daemon(d) => { let _ = SyncDaemon::from_attrs(d); }
                            _ => {}
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn services_and_destinations_roundtrip(
        addr in arb_ip(), port in any::<u16>(), mark in 1u32.., sched in "[a-z]{1,15}",
        flags in 0u32..64, timeout in any::<u32>(), weight in 0u32..=i32::MAX as u32,
        daddr in arb_ip(), dport in any::<u16>(), fwd in arb_forward(),
        use_fwmark in any::<bool>(),
    ) {
        let key = if use_fwmark {
            ServiceKey::fwmark(IpFamily::of(&addr), mark)
        } else {
            ServiceKey::Inet { protocol: Protocol::Tcp, addr, port }
        };
        let mut svc = Service::new(key, sched);
        svc.flags = ServiceFlags(flags).configurable();
        svc.timeout = timeout;
        let dest = Destination::new(daddr, dport, fwd, weight);
        let back = roundtrip(Operation::NewDest { service: key, dest: dest.clone() }.to_message());
        let IpvsAttr::Dest(d) = &back.attrs[1] else { panic!("no dest") };
        prop_assert_eq!(Destination::from_attrs(d, key.family()).expect("decodes"), dest);
        let back = roundtrip(Operation::NewService(svc.clone()).to_message());
        let IpvsAttr::Service(s) = &back.attrs[0] else { panic!("no service") };
        prop_assert_eq!(Service::from_attrs(s).expect("decodes"), svc);
    }
}
