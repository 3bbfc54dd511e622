//! Round-trips every VRRP packet of the keepalived 2.2.7 captures in `tests/fixtures/vrrp/`:
//! decode, verify checksums, re-encode, and compare the IP+VRRP bytes byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use tandem_vrrp::packet::{Advertisement, Family, Ipv4VrrpPacket, Version, verify_checksum};

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const LINKTYPE_ETHERNET: u32 = 1;

/// One captured Ethernet frame.
struct Frame {
    data: Vec<u8>,
}

/// Minimal libpcap reader (classic format, either byte order, micro- or nanosecond magic).
fn read_pcap(path: &Path) -> Vec<Frame> {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(
        bytes.len() >= 24,
        "{}: pcap global header truncated",
        path.display()
    );
    let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
    let little = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        other => panic!("{}: not a pcap file (magic {other:02x?})", path.display()),
    };
    let u32_at = |off: usize| -> u32 {
        let b: [u8; 4] = bytes[off..off + 4].try_into().unwrap();
        if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    assert_eq!(
        u32_at(20),
        LINKTYPE_ETHERNET,
        "{}: expected Ethernet link type",
        path.display()
    );
    let mut frames = Vec::new();
    let mut off = 24;
    while off < bytes.len() {
        assert!(
            off + 16 <= bytes.len(),
            "{}: record header truncated",
            path.display()
        );
        let incl = u32_at(off + 8) as usize;
        let orig = u32_at(off + 12) as usize;
        assert_eq!(
            incl,
            orig,
            "{}: frame was truncated by the snap length",
            path.display()
        );
        let start = off + 16;
        assert!(
            start + incl <= bytes.len(),
            "{}: record data truncated",
            path.display()
        );
        frames.push(Frame {
            data: bytes[start..start + incl].to_vec(),
        });
        off = start + incl;
    }
    frames
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/vrrp")
}

fn fixture(name: &str) -> Vec<Frame> {
    read_pcap(&fixtures_dir().join(name))
}

fn ethertype(frame: &Frame) -> u16 {
    u16::from_be_bytes([frame.data[12], frame.data[13]])
}

/// The IP+VRRP bytes of a frame (Ethernet header stripped).
fn ip_bytes(frame: &Frame) -> &[u8] {
    &frame.data[14..]
}

/// Decodes, checks and re-encodes one frame; returns the decoded packet.
fn round_trip(name: &str, index: usize, frame: &Frame) -> Ipv4VrrpPacket {
    let ip = ip_bytes(frame);
    let packet = Ipv4VrrpPacket::decode(ip)
        .unwrap_or_else(|e| panic!("{name} frame {index}: decode failed: {e}"));
    let (_, payload) = Ipv4VrrpPacket::split(ip).unwrap();
    assert!(
        verify_checksum(
            packet.advert.version,
            IpAddr::V4(packet.header.src),
            IpAddr::V4(packet.header.dst),
            payload
        ),
        "{name} frame {index}: VRRP checksum does not verify"
    );
    assert_eq!(packet.header.ttl, 255, "{name} frame {index}: TTL");
    let again = packet
        .encode()
        .unwrap_or_else(|e| panic!("{name} frame {index}: encode failed: {e}"));
    assert_eq!(again, ip, "{name} frame {index}: re-encoded bytes differ");
    assert_eq!(
        Advertisement::decode(payload, Family::Ipv4).unwrap(),
        packet.advert
    );
    packet
}

/// Every frame of every fixture: VRRP frames round-trip, the only other frames are ARP.
#[test]
fn every_vrrp_packet_in_every_fixture_round_trips() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures directory")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcap"))
        .collect();
    names.sort();
    assert_eq!(
        names.len(),
        8,
        "expected the 8 keepalived captures, found {names:?}"
    );
    let mut vrrp_packets = 0;
    for name in &names {
        let frames = fixture(name);
        assert!(!frames.is_empty(), "{name} has no frames");
        for (i, frame) in frames.iter().enumerate() {
            match ethertype(frame) {
                ETHERTYPE_IPV4 => {
                    round_trip(name, i, frame);
                    vrrp_packets += 1;
                }
                ETHERTYPE_ARP => {}
                other => panic!("{name} frame {i}: unexpected ethertype {other:#06x}"),
            }
        }
    }
    assert!(vrrp_packets >= 30, "only {vrrp_packets} VRRP packets found");
}

#[test]
fn v2_advert_fields() {
    let frames = fixture("vrrp-v2-advert.pcap");
    let p = round_trip("v2-advert", 0, &frames[0]);
    assert_eq!(p.advert.version, Version::V2);
    assert_eq!(p.advert.vrid, 51);
    assert_eq!(p.advert.priority, 150);
    assert_eq!(p.advert.advert_interval.get(), 100, "1 s = 100 cs");
    assert_eq!(
        p.advert.addresses,
        vec!["10.77.0.100".parse::<IpAddr>().unwrap()]
    );
    let auth = p.advert.auth.unwrap();
    assert_eq!(auth, tandem_vrrp::packet::V2Auth::NONE);
    assert_eq!(p.header.tos, 0xc0);
    assert_eq!(p.header.src.to_string(), "10.77.0.2");
    assert_eq!(p.header.dst.to_string(), "224.0.0.18");
}

#[test]
fn v2_pass_advert_carries_password() {
    let frames = fixture("vrrp-v2-pass-advert.pcap");
    let p = round_trip("v2-pass", 0, &frames[0]);
    let auth = p.advert.auth.unwrap();
    assert_eq!(auth, tandem_vrrp::packet::V2Auth::simple_text(b"labpass"));
}

#[test]
fn priority_zero_fixtures() {
    for name in ["vrrp-v2-prio0.pcap", "vrrp-v3-prio0.pcap"] {
        let frames = fixture(name);
        let p = round_trip(name, 0, &frames[0]);
        assert_eq!(p.advert.priority, 0, "{name}");
    }
}

#[test]
fn v3_advert_fields() {
    for name in ["vrrp-v3-advert.pcap", "vrrp-v3-vmac-advert.pcap"] {
        let frames = fixture(name);
        let p = round_trip(name, 0, &frames[0]);
        assert_eq!(p.advert.version, Version::V3);
        assert_eq!(p.advert.vrid, 51);
        assert_eq!(p.advert.priority, 150);
        assert_eq!(p.advert.advert_interval.get(), 10, "{name}: 100 ms = 10 cs");
        assert_eq!(p.advert.auth, None);
    }
}

#[test]
fn v3_takeover_sequence_is_master_release_then_backup_takes_over() {
    let frames = fixture("vrrp-v3-takeover.pcap");
    let prios: Vec<(String, u8)> = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| ethertype(f) == ETHERTYPE_IPV4)
        .map(|(i, f)| {
            let p = round_trip("v3-takeover", i, f);
            (p.header.src.to_string(), p.advert.priority)
        })
        .collect();
    let release = prios
        .iter()
        .position(|(_, p)| *p == 0)
        .expect("a priority-0 advert");
    assert!(
        prios[..release]
            .iter()
            .all(|(s, p)| s == "10.77.0.2" && *p == 150)
    );
    assert!(
        prios[release + 1..]
            .iter()
            .all(|(s, p)| s == "10.77.0.3" && *p == 100)
    );
    assert!(release + 1 < prios.len());
}

/// A corrupted byte must make the checksum fail, proving the check is not vacuous.
#[test]
fn corrupted_fixture_fails_checksum() {
    for name in ["vrrp-v2-advert.pcap", "vrrp-v3-advert.pcap"] {
        let frames = fixture(name);
        let (header, payload) = Ipv4VrrpPacket::split(ip_bytes(&frames[0])).unwrap();
        let mut bad = payload.to_vec();
        bad[2] ^= 0x01;
        let version = if name.contains("v2") {
            Version::V2
        } else {
            Version::V3
        };
        assert!(!verify_checksum(
            version,
            IpAddr::V4(header.src),
            IpAddr::V4(header.dst),
            &bad
        ));
    }
}

/// Every gratuitous ARP keepalived sent on takeover is byte-identical to our builder's frame.
#[test]
fn keepalived_gratuitous_arps_match_our_builder() {
    use std::net::Ipv4Addr;
    use tandem_vrrp::garp::{MacAddr, gratuitous_arp};
    let mut seen = 0;
    for name in ["vrrp-v2-takeover.pcap", "vrrp-v3-takeover.pcap"] {
        for frame in fixture(name)
            .iter()
            .filter(|f| ethertype(f) == ETHERTYPE_ARP)
        {
            let mac = MacAddr(frame.data[6..12].try_into().unwrap());
            let spa: [u8; 4] = frame.data[28..32].try_into().unwrap();
            assert_eq!(
                &gratuitous_arp(mac, Ipv4Addr::from(spa))[..],
                &frame.data[..],
                "{name}"
            );
            seen += 1;
        }
    }
    assert!(
        seen >= 2,
        "expected gratuitous ARPs in the takeover captures, saw {seen}"
    );
}

/// Every captured advert passes receive validation (TTL 255, checksum, VRID 51, VRRPv2
/// authentication and interval, address list) for a router configured like the capture lab,
/// and the configuration mismatches keepalived would report are caught.
#[test]
fn every_fixture_advert_validates_and_mismatches_are_caught() {
    use tandem_vrrp::validate::{ValidationParams, validate};
    use tandem_vrrp::{AddressListCheck, Centiseconds, DropReason, ReceivedPacket, V2Auth};
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcap"))
        .collect();
    names.sort();
    let mut validated = 0;
    for name in &names {
        let version = if name.contains("-v2") {
            Version::V2
        } else {
            Version::V3
        };
        let auth = if name.contains("pass") {
            V2Auth::simple_text(b"labpass")
        } else {
            V2Auth::NONE
        };
        let params = ValidationParams {
            version,
            family: Family::Ipv4,
            vrid: 51,
            local_is_owner: false,
            v2_auth: if version == Version::V2 {
                auth
            } else {
                V2Auth::NONE
            },
            advert_interval: Centiseconds(100),
            virtual_addresses: vec!["10.77.0.100".parse().unwrap()],
            address_list_check: AddressListCheck::DropUnlessOwner,
            local_address: None,
        };
        for frame in fixture(name)
            .iter()
            .filter(|f| ethertype(f) == ETHERTYPE_IPV4)
        {
            let rx = ReceivedPacket::from_ipv4_datagram(ip_bytes(frame)).unwrap();
            let advert = validate(&params, &rx).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(advert.vrid, 51);
            validated += 1;

            let mut other_vrid = params.clone();
            other_vrid.vrid = 52;
            assert_eq!(
                validate(&other_vrid, &rx),
                Err(DropReason::VridMismatch(51))
            );
            let mut other_list = params.clone();
            other_list.virtual_addresses = vec!["10.77.0.101".parse().unwrap()];
            assert_eq!(
                validate(&other_list, &rx),
                Err(DropReason::AddressListMismatch)
            );
            if version == Version::V2 {
                let mut other_auth = params.clone();
                other_auth.v2_auth = V2Auth::simple_text(b"other");
                let expected = if name.contains("pass") {
                    DropReason::AuthFailure
                } else {
                    DropReason::AuthTypeMismatch {
                        got: tandem_vrrp::AuthType::None,
                        expected: tandem_vrrp::AuthType::SimpleText,
                    }
                };
                assert_eq!(validate(&other_auth, &rx), Err(expected), "{name}");
            }
        }
    }
    assert!(validated >= 30, "validated only {validated} adverts");
}
