//! Gratuitous ARP and unsolicited Neighbor Advertisement frames a new master sends so that
//! hosts and switches move the virtual addresses to it at once (RFC 5798 §6.4.1, §6.4.2:
//! "broadcast a gratuitous ARP request"/"send an unsolicited ND Neighbor Advertisement").
//!
//! The builders return complete Ethernet frames for an `AF_PACKET` socket (see
//! [`crate::net::PacketSocket`]), so the kernel neither rewrites nor rate-limits them.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::checksum;
use crate::packet::Family;

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// The Ethernet multicast address an IPv6 multicast group maps to (RFC 2464 §7).
    pub fn ipv6_multicast(group: Ipv6Addr) -> MacAddr {
        let o = group.octets();
        MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// The virtual router MAC address (RFC 5798 §7.3): 00-00-5E-00-01-{VRID} for IPv4,
/// 00-00-5E-00-02-{VRID} for IPv6. Used when the daemon runs with VMAC interfaces.
pub fn virtual_mac(vrid: u8, family: Family) -> MacAddr {
    let kind = match family {
        Family::Ipv4 => 0x01,
        Family::Ipv6 => 0x02,
    };
    MacAddr([0x00, 0x00, 0x5e, 0x00, kind, vrid])
}

const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ARP_HTYPE_ETHERNET: u16 = 1;
const ARP_OP_REQUEST: u16 = 1;
const IPPROTO_ICMPV6: u8 = 58;
const ICMPV6_NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// NA flags (RFC 4861 §4.4): Router, Solicited, Override.
const NA_FLAG_ROUTER: u8 = 0x80;
const NA_FLAG_OVERRIDE: u8 = 0x20;
/// Target Link-Layer Address option type (RFC 4861 §4.6.1).
const ND_OPT_TARGET_LINKADDR: u8 = 2;

/// Length of a gratuitous ARP frame (Ethernet 14 + ARP 28; NICs pad to 60 on the wire).
pub const GARP_FRAME_LEN: usize = 42;
/// Length of an unsolicited NA frame: Ethernet 14 + IPv6 40 + NA 24 + TLLA option 8.
pub const NA_FRAME_LEN: usize = 86;

/// IPv6 all-nodes multicast group, the destination of unsolicited NAs (RFC 4861 §7.2.6).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Gratuitous ARP for `vip` from `sender`: an ARP *request* broadcast with sender and target
/// protocol address both the VIP (RFC 5227 §3 "ARP Announcement"). The target hardware address
/// is ff:ff:ff:ff:ff:ff, byte-identical to what keepalived sends, so captures of both can be
/// compared directly.
pub fn gratuitous_arp(sender: MacAddr, vip: Ipv4Addr) -> [u8; GARP_FRAME_LEN] {
    let mut f = [0u8; GARP_FRAME_LEN];
    f[0..6].copy_from_slice(&MacAddr::BROADCAST.0);
    f[6..12].copy_from_slice(&sender.0);
    f[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    f[14..16].copy_from_slice(&ARP_HTYPE_ETHERNET.to_be_bytes());
    f[16..18].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    f[18] = 6; // hardware address length
    f[19] = 4; // protocol address length
    f[20..22].copy_from_slice(&ARP_OP_REQUEST.to_be_bytes());
    f[22..28].copy_from_slice(&sender.0);
    f[28..32].copy_from_slice(&vip.octets());
    f[32..38].copy_from_slice(&MacAddr::BROADCAST.0);
    f[38..42].copy_from_slice(&vip.octets());
    f
}

/// Unsolicited Neighbor Advertisement for `target` (the virtual IPv6 address), sent from
/// `source` (an address of the interface, normally its link-local one, RFC 4861 §7.2.6) to
/// all-nodes ff02::1 with hop limit 255 (receivers drop NAs with any other, RFC 4861 §7.1.2),
/// the Override flag set so caches replace the old master's MAC, Solicited clear, Router as
/// given, and a Target Link-Layer Address option carrying `sender`.
pub fn unsolicited_na(
    sender: MacAddr,
    source: Ipv6Addr,
    target: Ipv6Addr,
    router: bool,
) -> [u8; NA_FRAME_LEN] {
    const ICMP_LEN: usize = 24 + 8;
    let mut f = [0u8; NA_FRAME_LEN];
    f[0..6].copy_from_slice(&MacAddr::ipv6_multicast(ALL_NODES).0);
    f[6..12].copy_from_slice(&sender.0);
    f[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    // IPv6 header (RFC 8200 §3): version 6, traffic class 0, flow label 0.
    f[14] = 0x60;
    f[18..20].copy_from_slice(&(ICMP_LEN as u16).to_be_bytes());
    f[20] = IPPROTO_ICMPV6;
    f[21] = 255;
    f[22..38].copy_from_slice(&source.octets());
    f[38..54].copy_from_slice(&ALL_NODES.octets());
    // ICMPv6 Neighbor Advertisement (RFC 4861 §4.4).
    let icmp = 54;
    f[icmp] = ICMPV6_NEIGHBOR_ADVERTISEMENT;
    f[icmp + 1] = 0; // code
    f[icmp + 4] = NA_FLAG_OVERRIDE | if router { NA_FLAG_ROUTER } else { 0 };
    f[icmp + 8..icmp + 24].copy_from_slice(&target.octets());
    f[icmp + 24] = ND_OPT_TARGET_LINKADDR;
    f[icmp + 25] = 1; // option length in units of 8 bytes
    f[icmp + 26..icmp + 32].copy_from_slice(&sender.0);
    let sum = checksum::pseudo_header_checksum(
        source.into(),
        ALL_NODES.into(),
        IPPROTO_ICMPV6,
        &f[icmp..],
    )
    .unwrap_or(0); // both addresses are IPv6 and the payload is 32 bytes: never None
    f[icmp + 2..icmp + 4].copy_from_slice(&sum.to_be_bytes());
    f
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    const MAC: MacAddr = MacAddr([0x02, 0x77, 0x00, 0x00, 0x00, 0x03]);

    /// The first gratuitous ARP keepalived 2.2.7 sent on takeover in
    /// `tests/fixtures/vrrp/vrrp-v2-takeover.pcap` (tcpdump -xx).
    const KEEPALIVED_GARP: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x77, 0x00, 0x00, 0x00, 0x03, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x77, 0x00, 0x00, 0x00, 0x03, 0x0a, 0x4d,
        0x00, 0x64, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a, 0x4d, 0x00, 0x64,
    ];

    #[test]
    fn garp_is_byte_identical_to_keepalived() {
        let frame = gratuitous_arp(MAC, Ipv4Addr::new(10, 77, 0, 100));
        assert_eq!(frame, KEEPALIVED_GARP);
    }

    #[test]
    fn garp_parses_as_arp_request_with_sender_equal_target() {
        let frame = gratuitous_arp(MAC, Ipv4Addr::new(192, 0, 2, 7));
        let parsed = SlicedPacket::from_ethernet(&frame).unwrap();
        let Some(NetSlice::Arp(arp)) = parsed.net else {
            panic!("not ARP: {:?}", parsed.net)
        };
        let arp = arp.to_packet();
        assert_eq!(arp.operation, etherparse::ArpOperation::REQUEST);
        assert_eq!(arp.sender_protocol_addr(), &[192, 0, 2, 7]);
        assert_eq!(arp.target_protocol_addr(), &[192, 0, 2, 7]);
        assert_eq!(arp.sender_hw_addr(), &MAC.0);
    }

    #[test]
    fn na_parses_with_valid_checksum_override_flag_and_tlla() {
        let source: Ipv6Addr = "fe80::74:6cff:fe00:1".parse().unwrap();
        let target: Ipv6Addr = "2001:db8::100".parse().unwrap();
        let frame = unsolicited_na(MAC, source, target, false);
        assert_eq!(&frame[0..6], &[0x33, 0x33, 0, 0, 0, 1]);
        let parsed = SlicedPacket::from_ethernet(&frame).unwrap();
        let Some(NetSlice::Ipv6(ip)) = &parsed.net else {
            panic!("not IPv6")
        };
        assert_eq!(ip.header().hop_limit(), 255);
        assert_eq!(ip.header().source_addr(), source);
        assert_eq!(ip.header().destination_addr(), ALL_NODES);
        let Some(TransportSlice::Icmpv6(icmp)) = &parsed.transport else {
            panic!("not ICMPv6")
        };
        assert!(icmp.is_checksum_valid(source.octets(), ALL_NODES.octets()));
        match icmp.icmp_type() {
            etherparse::Icmpv6Type::NeighborAdvertisement(h) => {
                assert!(h.r#override);
                assert!(!h.solicited);
                assert!(!h.router);
            }
            other => panic!("not an NA: {other:?}"),
        }
        let payload = icmp.payload();
        assert_eq!(&payload[..16], &target.octets());
        assert_eq!(&payload[16..18], &[2, 1], "TLLA option header");
        assert_eq!(&payload[18..24], &MAC.0);
    }

    #[test]
    fn na_router_flag_changes_checksum_and_stays_valid() {
        let source: Ipv6Addr = "fe80::1".parse().unwrap();
        let target: Ipv6Addr = "fe80::100".parse().unwrap();
        let plain = unsolicited_na(MAC, source, target, false);
        let router = unsolicited_na(MAC, source, target, true);
        assert_ne!(plain[56..58], router[56..58]);
        let parsed = SlicedPacket::from_ethernet(&router).unwrap();
        let Some(TransportSlice::Icmpv6(icmp)) = &parsed.transport else {
            panic!("not ICMPv6")
        };
        assert!(icmp.is_checksum_valid(source.octets(), ALL_NODES.octets()));
    }

    #[test]
    fn virtual_macs_follow_rfc5798() {
        assert_eq!(
            virtual_mac(51, Family::Ipv4).to_string(),
            "00:00:5e:00:01:33"
        );
        assert_eq!(
            virtual_mac(1, Family::Ipv6).to_string(),
            "00:00:5e:00:02:01"
        );
    }
}
