//! Receive-side validation of VRRP packets: RFC 5798 §7.1 (VRRPv3) and RFC 3768 §7.1 (VRRPv2).
//!
//! Every packet is either accepted (yielding a decoded [`Advertisement`] the state machine may
//! act on) or dropped for exactly one [`DropReason`], which [`Counters`] counts. Checks run in the
//! order the RFCs list them, so a packet failing several checks is attributed to the first.

use std::net::IpAddr;

use crate::packet::{
    Advertisement, AuthType, Centiseconds, DecodeError, Family, Ipv4VrrpPacket, V2Auth, VRRP_TTL,
    Version, peek_version, verify_checksum,
};

/// A packet as it came off the wire, before validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedPacket<'a> {
    /// IP source address (the sender's primary address, used for tie-breaks).
    pub source: IpAddr,
    /// IP destination address (224.0.0.18 / ff02::12, or ours when unicast).
    pub destination: IpAddr,
    /// IPv4 TTL (from the IP header) or IPv6 hop limit (from `IPV6_HOPLIMIT` ancillary data).
    pub ttl: u8,
    /// The VRRP message bytes (after the IP header).
    pub payload: &'a [u8],
}

impl<'a> ReceivedPacket<'a> {
    /// Splits a whole IPv4 datagram, as a raw IPv4 socket returns it, into a received packet.
    /// A datagram that is not well-formed IPv4/VRRP is dropped as [`DropReason::Malformed`].
    pub fn from_ipv4_datagram(datagram: &'a [u8]) -> Result<ReceivedPacket<'a>, DropReason> {
        let (header, payload) = Ipv4VrrpPacket::split(datagram).map_err(DropReason::Malformed)?;
        Ok(ReceivedPacket {
            source: IpAddr::V4(header.src),
            destination: IpAddr::V4(header.dst),
            ttl: header.ttl,
            payload,
        })
    }
}

/// Whether adverts whose address list differs from ours are dropped (RFC 5798 §7.1 "MAY
/// verify that 'Count IPvX Addrs' and the list of IPvX address(es) match").
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressListCheck {
    /// Do not compare address lists (keepalived's default behaviour).
    #[default]
    Ignore,
    /// Compare (order-insensitively) and drop mismatching adverts unless the sender is the
    /// address owner (priority 255), as the RFC prescribes when the check is performed.
    DropUnlessOwner,
}

/// What the receiving virtual router is configured with: what a packet must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationParams {
    /// Configured protocol version.
    pub version: Version,
    /// Configured address family.
    pub family: Family,
    /// Configured VRID.
    pub vrid: u8,
    /// True when this router is the address owner (configured priority 255): an owner never
    /// accepts adverts for its VRID (RFC 5798 §7.1).
    pub local_is_owner: bool,
    /// Configured VRRPv2 authentication (ignored for VRRPv3).
    pub v2_auth: V2Auth,
    /// Configured advertisement interval; VRRPv2 adverts must carry the same (RFC 3768 §7.1),
    /// VRRPv3 backups learn the master's instead (RFC 5798 §6.4.2).
    pub advert_interval: Centiseconds,
    /// Configured virtual addresses.
    pub virtual_addresses: Vec<IpAddr>,
    /// Address-list check policy.
    pub address_list_check: AddressListCheck,
    /// Our own primary address: a packet from it is our own advert looped back.
    pub local_address: Option<IpAddr>,
}

/// Why a received packet was dropped. Each variant has its own counter in [`Counters`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    /// IPv4 TTL / IPv6 hop limit not 255: the packet crossed a router (RFC 5798 §7.1).
    #[error("TTL/hop limit {0} is not 255")]
    BadTtl(u8),
    /// Version field differs from the configured version (or is not a VRRP version at all).
    #[error("VRRP version {got} does not match configured version {expected}")]
    VersionMismatch {
        /// Version in the packet.
        got: u8,
        /// Configured version.
        expected: u8,
    },
    /// Type field is not ADVERTISEMENT.
    #[error("unknown VRRP packet type {0}")]
    UnknownType(u8),
    /// Shorter than the fixed VRRP header: not a complete VRRP packet.
    #[error("packet shorter than the VRRP header ({0} bytes)")]
    Truncated(usize),
    /// Packet length does not match the address count (RFC 5798 §7.1 "complete VRRP packet").
    #[error("length {got} does not match {count} address(es)")]
    AddressCountMismatch {
        /// Count IPvX Addrs field.
        count: u8,
        /// Payload length.
        got: usize,
    },
    /// Checksum wrong (RFC 5798 §7.1; v3 includes the pseudo-header).
    #[error("bad VRRP checksum")]
    BadChecksum,
    /// VRID not the one configured.
    #[error("VRID {0} is not configured here")]
    VridMismatch(u8),
    /// We are the address owner, which never accepts adverts (RFC 5798 §7.1).
    #[error("local router is the address owner")]
    LocalIsOwner,
    /// Advertisement interval zero, which would make Master_Down_Interval zero.
    #[error("advertisement interval is zero")]
    InvalidInterval,
    /// VRRPv2 interval differs from the configured one (RFC 3768 §7.1).
    #[error("advertisement interval {got:?} differs from configured {expected:?}")]
    IntervalMismatch {
        /// Interval in the packet.
        got: Centiseconds,
        /// Configured interval.
        expected: Centiseconds,
    },
    /// VRRPv2 authentication type differs from the configured one (RFC 3768 §7.1).
    #[error("authentication type {got:?} differs from configured {expected:?}")]
    AuthTypeMismatch {
        /// Type in the packet.
        got: AuthType,
        /// Configured type.
        expected: AuthType,
    },
    /// VRRPv2 simple-text password does not match (RFC 3768 §5.3.6.1).
    #[error("authentication password mismatch")]
    AuthFailure,
    /// Address list differs and the sender is not the owner (RFC 5798 §7.1).
    #[error("virtual address list differs from the configured one")]
    AddressListMismatch,
    /// Source/destination family differs from the configured family, or VRRPv2 over IPv6.
    #[error("packet address family does not match the virtual router's")]
    FamilyMismatch,
    /// Our own advert looped back.
    #[error("packet sent by this router")]
    FromSelf,
    /// Not a well-formed IP/VRRP packet for another reason (IPv4 header, protocol).
    #[error("malformed packet: {0}")]
    Malformed(DecodeError),
}

impl DropReason {
    /// The drop reason for a packet that failed to decode, for a router configured with
    /// protocol version number `expected`.
    pub fn from_decode_error(error: DecodeError, expected: u8) -> DropReason {
        match error {
            DecodeError::Truncated { got, .. } => DropReason::Truncated(got),
            DecodeError::UnsupportedVersion(got) => DropReason::VersionMismatch { got, expected },
            DecodeError::UnknownType(t) => DropReason::UnknownType(t),
            DecodeError::LengthMismatch { count, got, .. } => {
                DropReason::AddressCountMismatch { count, got }
            }
            DecodeError::V2OverIpv6 => DropReason::FamilyMismatch,
            other => DropReason::Malformed(other),
        }
    }
}

/// Per-instance counters: one per drop reason, plus traffic and transition counts (the
/// figures RFC 6527's VRRPv3 MIB and keepalived's stats expose).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Valid adverts received (handed to the state machine).
    pub adverts_received: u64,
    /// Adverts sent.
    pub adverts_sent: u64,
    /// Valid adverts received with priority 0 (a master releasing).
    pub priority_zero_received: u64,
    /// Adverts sent with priority 0 (our shutdown or fault release).
    pub priority_zero_sent: u64,
    /// Transitions into Master.
    pub become_master: u64,
    /// Dropped: [`DropReason::BadTtl`].
    pub bad_ttl: u64,
    /// Dropped: [`DropReason::VersionMismatch`].
    pub version_mismatch: u64,
    /// Dropped: [`DropReason::UnknownType`].
    pub unknown_type: u64,
    /// Dropped: [`DropReason::Truncated`].
    pub truncated: u64,
    /// Dropped: [`DropReason::AddressCountMismatch`].
    pub address_count_mismatch: u64,
    /// Dropped: [`DropReason::BadChecksum`].
    pub bad_checksum: u64,
    /// Dropped: [`DropReason::VridMismatch`].
    pub vrid_mismatch: u64,
    /// Dropped: [`DropReason::LocalIsOwner`].
    pub local_is_owner: u64,
    /// Dropped: [`DropReason::InvalidInterval`].
    pub invalid_interval: u64,
    /// Dropped: [`DropReason::IntervalMismatch`].
    pub interval_mismatch: u64,
    /// Dropped: [`DropReason::AuthTypeMismatch`].
    pub auth_type_mismatch: u64,
    /// Dropped: [`DropReason::AuthFailure`].
    pub auth_failure: u64,
    /// Dropped: [`DropReason::AddressListMismatch`].
    pub address_list_mismatch: u64,
    /// Dropped: [`DropReason::FamilyMismatch`].
    pub family_mismatch: u64,
    /// Dropped: [`DropReason::FromSelf`].
    pub from_self: u64,
    /// Dropped: [`DropReason::Malformed`].
    pub malformed: u64,
}

impl Counters {
    /// Counts one dropped packet under its reason.
    pub fn record_drop(&mut self, reason: &DropReason) {
        let counter = match reason {
            DropReason::BadTtl(_) => &mut self.bad_ttl,
            DropReason::VersionMismatch { .. } => &mut self.version_mismatch,
            DropReason::UnknownType(_) => &mut self.unknown_type,
            DropReason::Truncated(_) => &mut self.truncated,
            DropReason::AddressCountMismatch { .. } => &mut self.address_count_mismatch,
            DropReason::BadChecksum => &mut self.bad_checksum,
            DropReason::VridMismatch(_) => &mut self.vrid_mismatch,
            DropReason::LocalIsOwner => &mut self.local_is_owner,
            DropReason::InvalidInterval => &mut self.invalid_interval,
            DropReason::IntervalMismatch { .. } => &mut self.interval_mismatch,
            DropReason::AuthTypeMismatch { .. } => &mut self.auth_type_mismatch,
            DropReason::AuthFailure => &mut self.auth_failure,
            DropReason::AddressListMismatch => &mut self.address_list_mismatch,
            DropReason::FamilyMismatch => &mut self.family_mismatch,
            DropReason::FromSelf => &mut self.from_self,
            DropReason::Malformed(_) => &mut self.malformed,
        };
        *counter = counter.saturating_add(1);
    }

    /// Every counter with a stable snake_case name (for status output and metrics labels).
    pub fn entries(&self) -> [(&'static str, u64); 21] {
        [
            ("adverts_received", self.adverts_received),
            ("adverts_sent", self.adverts_sent),
            ("priority_zero_received", self.priority_zero_received),
            ("priority_zero_sent", self.priority_zero_sent),
            ("become_master", self.become_master),
            ("bad_ttl", self.bad_ttl),
            ("version_mismatch", self.version_mismatch),
            ("unknown_type", self.unknown_type),
            ("truncated", self.truncated),
            ("address_count_mismatch", self.address_count_mismatch),
            ("bad_checksum", self.bad_checksum),
            ("vrid_mismatch", self.vrid_mismatch),
            ("local_is_owner", self.local_is_owner),
            ("invalid_interval", self.invalid_interval),
            ("interval_mismatch", self.interval_mismatch),
            ("auth_type_mismatch", self.auth_type_mismatch),
            ("auth_failure", self.auth_failure),
            ("address_list_mismatch", self.address_list_mismatch),
            ("family_mismatch", self.family_mismatch),
            ("from_self", self.from_self),
            ("malformed", self.malformed),
        ]
    }

    /// Total packets dropped, all reasons.
    pub fn dropped(&self) -> u64 {
        [
            self.bad_ttl,
            self.version_mismatch,
            self.unknown_type,
            self.truncated,
            self.address_count_mismatch,
            self.bad_checksum,
            self.vrid_mismatch,
            self.local_is_owner,
            self.invalid_interval,
            self.interval_mismatch,
            self.auth_type_mismatch,
            self.auth_failure,
            self.address_list_mismatch,
            self.family_mismatch,
            self.from_self,
            self.malformed,
        ]
        .iter()
        .fold(0u64, |acc, n| acc.saturating_add(*n))
    }
}

/// Validates `packet` against `params` (RFC 5798 §7.1 / RFC 3768 §7.1) and returns the decoded
/// advertisement, or the reason to drop it. Pure: counting is the caller's (see
/// [`Counters::record_drop`]; [`crate::Instance::receive`] does both).
pub fn validate(
    params: &ValidationParams,
    packet: &ReceivedPacket<'_>,
) -> Result<Advertisement, DropReason> {
    if Family::of(&packet.source) != params.family
        || Family::of(&packet.destination) != params.family
    {
        return Err(DropReason::FamilyMismatch);
    }
    if params.local_address == Some(packet.source) {
        return Err(DropReason::FromSelf);
    }
    // RFC 5798 §7.1: "MUST verify that the IP TTL is 255" / "IPv6 Hop Limit is 255".
    if packet.ttl != VRRP_TTL {
        return Err(DropReason::BadTtl(packet.ttl));
    }
    // "MUST verify the VRRP version is 3" (RFC 3768: 2): checked before decoding so that a
    // packet of the other version is reported as such, not as a length error.
    let expected = params.version.number();
    match peek_version(packet.payload) {
        None => return Err(DropReason::Truncated(0)),
        Some(got) if got != expected => return Err(DropReason::VersionMismatch { got, expected }),
        Some(_) => {}
    }
    // "MUST verify that the received packet contains the complete VRRP packet".
    let advert = Advertisement::decode(packet.payload, params.family)
        .map_err(|e| DropReason::from_decode_error(e, expected))?;
    // "MUST verify the VRRP checksum".
    if !verify_checksum(
        params.version,
        packet.source,
        packet.destination,
        packet.payload,
    ) {
        return Err(DropReason::BadChecksum);
    }
    // "MUST verify that the VRID is configured on the receiving interface and the local router
    // is not the IPvX address owner".
    if advert.vrid != params.vrid {
        return Err(DropReason::VridMismatch(advert.vrid));
    }
    if params.local_is_owner {
        return Err(DropReason::LocalIsOwner);
    }
    if params.version == Version::V2 {
        // RFC 3768 §7.1: authentication type must match; simple text data must match (§5.3.6.1).
        let got = advert.auth.unwrap_or(V2Auth::NONE);
        if got.auth_type != params.v2_auth.auth_type {
            return Err(DropReason::AuthTypeMismatch {
                got: got.auth_type,
                expected: params.v2_auth.auth_type,
            });
        }
        if got.auth_type == AuthType::SimpleText && got.data != params.v2_auth.data {
            return Err(DropReason::AuthFailure);
        }
        // RFC 3768 §7.1: "MUST verify that the Adver Interval in the packet is the same as the
        // locally configured for this virtual router".
        if advert.advert_interval != params.advert_interval {
            return Err(DropReason::IntervalMismatch {
                got: advert.advert_interval,
                expected: params.advert_interval,
            });
        }
    }
    if advert.advert_interval.get() == 0 {
        return Err(DropReason::InvalidInterval);
    }
    // RFC 5798 §7.1: the optional address-list check; on mismatch "If the packet was not
    // generated by the address owner (Priority does not equal 255 (decimal)), the receiver
    // MUST drop the packet".
    if params.address_list_check == AddressListCheck::DropUnlessOwner
        && advert.priority != 255
        && !same_address_set(&advert.addresses, &params.virtual_addresses)
    {
        return Err(DropReason::AddressListMismatch);
    }
    Ok(advert)
}

/// Order-insensitive comparison of two address lists (duplicates count).
fn same_address_set(a: &[IpAddr], b: &[IpAddr]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn params(version: Version) -> ValidationParams {
        ValidationParams {
            version,
            family: Family::Ipv4,
            vrid: 51,
            local_is_owner: false,
            v2_auth: V2Auth::NONE,
            advert_interval: Centiseconds(100),
            virtual_addresses: vec![ip("10.77.0.100")],
            address_list_check: AddressListCheck::Ignore,
            local_address: Some(ip("10.77.0.3")),
        }
    }

    fn advert(version: Version) -> Advertisement {
        Advertisement {
            version,
            vrid: 51,
            priority: 150,
            advert_interval: Centiseconds(100),
            addresses: vec![ip("10.77.0.100")],
            auth: (version == Version::V2).then_some(V2Auth::NONE),
        }
    }

    const SRC: &str = "10.77.0.2";
    const DST: &str = "224.0.0.18";

    fn check(
        p: &ValidationParams,
        a: &Advertisement,
        ttl: u8,
    ) -> Result<Advertisement, DropReason> {
        let bytes = a.encode(ip(SRC), ip(DST)).unwrap();
        validate(
            p,
            &ReceivedPacket {
                source: ip(SRC),
                destination: ip(DST),
                ttl,
                payload: &bytes,
            },
        )
    }

    #[test]
    fn valid_adverts_pass_both_versions() {
        for v in [Version::V2, Version::V3] {
            assert_eq!(check(&params(v), &advert(v), 255), Ok(advert(v)));
        }
    }

    #[test]
    fn ttl_must_be_255() {
        assert_eq!(
            check(&params(Version::V3), &advert(Version::V3), 254),
            Err(DropReason::BadTtl(254))
        );
    }

    #[test]
    fn version_must_match() {
        assert_eq!(
            check(&params(Version::V3), &advert(Version::V2), 255),
            Err(DropReason::VersionMismatch {
                got: 2,
                expected: 3
            })
        );
    }

    #[test]
    fn checksum_is_verified() {
        let p = params(Version::V3);
        let mut bytes = advert(Version::V3).encode(ip(SRC), ip(DST)).unwrap();
        bytes[7] ^= 0xff;
        let pkt = ReceivedPacket {
            source: ip(SRC),
            destination: ip(DST),
            ttl: 255,
            payload: &bytes,
        };
        assert_eq!(validate(&p, &pkt), Err(DropReason::BadChecksum));
    }

    #[test]
    fn vrid_must_match() {
        let mut a = advert(Version::V3);
        a.vrid = 52;
        assert_eq!(
            check(&params(Version::V3), &a, 255),
            Err(DropReason::VridMismatch(52))
        );
    }

    #[test]
    fn truncated_and_count_mismatch_are_distinct() {
        let p = params(Version::V3);
        let bytes = advert(Version::V3).encode(ip(SRC), ip(DST)).unwrap();
        let pkt = |payload| ReceivedPacket {
            source: ip(SRC),
            destination: ip(DST),
            ttl: 255,
            payload,
        };
        assert_eq!(
            validate(&p, &pkt(&bytes[..5])),
            Err(DropReason::Truncated(5))
        );
        assert_eq!(validate(&p, &pkt(&[])), Err(DropReason::Truncated(0)));
        assert_eq!(
            validate(&p, &pkt(&bytes[..10])),
            Err(DropReason::AddressCountMismatch { count: 1, got: 10 })
        );
    }

    #[test]
    fn owner_accepts_no_adverts() {
        let mut p = params(Version::V3);
        p.local_is_owner = true;
        assert_eq!(
            check(&p, &advert(Version::V3), 255),
            Err(DropReason::LocalIsOwner)
        );
    }

    #[test]
    fn v2_auth_type_and_password_are_checked() {
        let mut p = params(Version::V2);
        p.v2_auth = V2Auth::simple_text(b"labpass");
        assert_eq!(
            check(&p, &advert(Version::V2), 255),
            Err(DropReason::AuthTypeMismatch {
                got: AuthType::None,
                expected: AuthType::SimpleText
            })
        );
        let mut a = advert(Version::V2);
        a.auth = Some(V2Auth::simple_text(b"wrong"));
        assert_eq!(check(&p, &a, 255), Err(DropReason::AuthFailure));
        a.auth = Some(V2Auth::simple_text(b"labpass"));
        assert_eq!(check(&p, &a, 255), Ok(a));
    }

    #[test]
    fn v2_interval_must_match_but_v3_is_learned() {
        let mut a = advert(Version::V2);
        a.advert_interval = Centiseconds::from_secs(2);
        assert_eq!(
            check(&params(Version::V2), &a, 255),
            Err(DropReason::IntervalMismatch {
                got: Centiseconds(200),
                expected: Centiseconds(100)
            })
        );
        let mut a = advert(Version::V3);
        a.advert_interval = Centiseconds(7);
        assert_eq!(check(&params(Version::V3), &a, 255), Ok(a));
    }

    #[test]
    fn v3_zero_interval_is_dropped() {
        let p = params(Version::V3);
        let mut bytes = advert(Version::V3).encode(ip(SRC), ip(DST)).unwrap();
        // Zero the interval and fix the checksum by re-summing.
        bytes[4] = 0;
        bytes[5] = 0;
        bytes[6] = 0;
        bytes[7] = 0;
        let sum = crate::checksum::pseudo_header_checksum(ip(SRC), ip(DST), 112, &bytes).unwrap();
        bytes[6..8].copy_from_slice(&sum.to_be_bytes());
        let pkt = ReceivedPacket {
            source: ip(SRC),
            destination: ip(DST),
            ttl: 255,
            payload: &bytes,
        };
        assert_eq!(validate(&p, &pkt), Err(DropReason::InvalidInterval));
    }

    #[test]
    fn address_list_check_is_configurable_and_spares_the_owner() {
        let mut a = advert(Version::V3);
        a.addresses = vec![ip("10.77.0.101")];
        let mut p = params(Version::V3);
        assert_eq!(check(&p, &a, 255), Ok(a.clone()), "ignored by default");
        p.address_list_check = AddressListCheck::DropUnlessOwner;
        assert_eq!(check(&p, &a, 255), Err(DropReason::AddressListMismatch));
        a.priority = 255;
        assert_eq!(check(&p, &a, 255), Ok(a.clone()), "owner's list wins");
        // Order does not matter.
        p.virtual_addresses = vec![ip("10.77.0.1"), ip("10.77.0.2")];
        a.priority = 100;
        a.addresses = vec![ip("10.77.0.2"), ip("10.77.0.1")];
        assert_eq!(check(&p, &a, 255), Ok(a));
    }

    #[test]
    fn own_packets_and_wrong_family_are_dropped() {
        let p = params(Version::V3);
        let bytes = advert(Version::V3)
            .encode(ip("10.77.0.3"), ip(DST))
            .unwrap();
        let own = ReceivedPacket {
            source: ip("10.77.0.3"),
            destination: ip(DST),
            ttl: 255,
            payload: &bytes,
        };
        assert_eq!(validate(&p, &own), Err(DropReason::FromSelf));
        let v6 = ReceivedPacket {
            source: ip("fe80::1"),
            destination: ip("ff02::12"),
            ttl: 255,
            payload: &bytes,
        };
        assert_eq!(validate(&p, &v6), Err(DropReason::FamilyMismatch));
    }

    #[test]
    fn ipv4_datagram_split_gives_ttl_and_addresses() {
        let a = advert(Version::V3);
        let pkt = Ipv4VrrpPacket {
            header: crate::packet::Ipv4Header {
                tos: 0xc0,
                identification: 1,
                flags_fragment: 0,
                ttl: 64,
                protocol: 112,
                src: SRC.parse().unwrap(),
                dst: DST.parse().unwrap(),
                options: vec![],
            },
            advert: a,
        };
        let bytes = pkt.encode().unwrap();
        let rx = ReceivedPacket::from_ipv4_datagram(&bytes).unwrap();
        assert_eq!(rx.ttl, 64);
        assert_eq!(
            validate(&params(Version::V3), &rx),
            Err(DropReason::BadTtl(64))
        );
        assert!(matches!(
            ReceivedPacket::from_ipv4_datagram(&bytes[..10]),
            Err(DropReason::Malformed(_))
        ));
    }

    #[test]
    fn every_reason_has_its_own_counter() {
        let reasons = [
            DropReason::BadTtl(1),
            DropReason::VersionMismatch {
                got: 2,
                expected: 3,
            },
            DropReason::UnknownType(2),
            DropReason::Truncated(1),
            DropReason::AddressCountMismatch { count: 1, got: 2 },
            DropReason::BadChecksum,
            DropReason::VridMismatch(1),
            DropReason::LocalIsOwner,
            DropReason::InvalidInterval,
            DropReason::IntervalMismatch {
                got: Centiseconds(1),
                expected: Centiseconds(2),
            },
            DropReason::AuthTypeMismatch {
                got: AuthType::None,
                expected: AuthType::IpAh,
            },
            DropReason::AuthFailure,
            DropReason::AddressListMismatch,
            DropReason::FamilyMismatch,
            DropReason::FromSelf,
            DropReason::Malformed(DecodeError::NotVrrp(6)),
        ];
        let mut previous = Counters::default();
        for (i, reason) in reasons.iter().enumerate() {
            let mut c = previous;
            c.record_drop(reason);
            assert_eq!(c.dropped(), i as u64 + 1);
            assert_ne!(c, previous);
            // A fresh counter set touched only by this reason differs from one touched by any
            // other reason: no two reasons share a counter.
            for (j, other) in reasons.iter().enumerate().skip(i + 1) {
                let mut a = Counters::default();
                let mut b = Counters::default();
                a.record_drop(reason);
                b.record_drop(other);
                assert_ne!(a, b, "reasons {i} and {j} share a counter");
            }
            previous = c;
        }
    }
}
