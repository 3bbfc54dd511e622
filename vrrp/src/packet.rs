//! VRRP advertisement codec: VRRPv2 (RFC 3768 §5) and VRRPv3 (RFC 5798 §5), plus the IPv4
//! header that a raw IPv4 socket hands back on receive.
//!
//! Decoding is structural only (version, type, lengths, address count); whether a packet is
//! acceptable for an instance (TTL, checksum, VRID, authentication, address list) is decided by
//! [`crate::validate`], so that every drop is attributed to exactly one counted reason. Decoding
//! never panics: every length is checked before it is read.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::checksum::{self, IPPROTO_VRRP};

/// VRRP protocol version.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// RFC 3768: IPv4 only, advertisement interval in whole seconds, authentication fields.
    V2,
    /// RFC 5798: IPv4 and IPv6, 12-bit advertisement interval in centiseconds.
    V3,
}

impl Version {
    /// Value of the 4-bit version field.
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// Address family of the virtual router (and of the addresses in its advertisements).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4: 4-byte addresses, multicast 224.0.0.18.
    Ipv4,
    /// IPv6: 16-byte addresses, multicast ff02::12 (VRRPv3 only).
    Ipv6,
}

impl Family {
    /// Family of an address.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// Length in bytes of one address of this family.
    pub fn address_len(self) -> usize {
        match self {
            Family::Ipv4 => 4,
            Family::Ipv6 => 16,
        }
    }

    /// The VRRP multicast group of this family (RFC 5798 §5.1.1.2, §5.1.2.2).
    pub fn multicast_group(self) -> IpAddr {
        match self {
            Family::Ipv4 => IpAddr::V4(VRRP_MULTICAST_V4),
            Family::Ipv6 => IpAddr::V6(VRRP_MULTICAST_V6),
        }
    }
}

/// IPv4 VRRP multicast group (RFC 5798 §5.1.1.2).
pub const VRRP_MULTICAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 VRRP multicast group (RFC 5798 §5.1.2.2).
pub const VRRP_MULTICAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// TTL / hop limit every VRRP packet is sent with and must arrive with (RFC 5798 §5.1.1.3).
pub const VRRP_TTL: u8 = 255;
/// Length of the fixed VRRP header (both versions).
pub const VRRP_HEADER_LEN: usize = 8;
/// Length of the VRRPv2 authentication data trailer (RFC 3768 §5.3.10).
pub const V2_AUTH_DATA_LEN: usize = 8;
/// Largest VRRPv3 Max Advert Interval: the field has 12 bits (RFC 5798 §5.2.7).
pub const V3_MAX_ADVERT_INTERVAL: u16 = 0x0fff;
/// The only packet type defined (RFC 5798 §5.2.2).
const TYPE_ADVERTISEMENT: u8 = 1;

/// A duration in centiseconds, the unit of VRRPv3 timers (RFC 5798 §5.2.7, §6.1).
///
/// A distinct type so that a centisecond count can never be mistaken for seconds or
/// milliseconds when timers are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Centiseconds(pub u32);

impl Centiseconds {
    /// `secs` whole seconds (the VRRPv2 unit).
    pub const fn from_secs(secs: u32) -> Self {
        Centiseconds(secs.saturating_mul(100))
    }

    /// The count of centiseconds.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// As a [`Duration`] (1 cs = 10 ms).
    pub const fn to_duration(self) -> Duration {
        Duration::from_millis(self.0 as u64 * 10)
    }
}

/// VRRPv2 authentication type (RFC 3768 §5.3.6; types 1 and 2 are deprecated but still
/// configured in keepalived deployments, so they are decoded and matched).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// 0: no authentication.
    None,
    /// 1: simple text password, up to 8 bytes in the authentication data.
    SimpleText,
    /// 2: IP Authentication Header (RFC 2338); the data field is unused.
    IpAh,
    /// Any other value, kept so that re-encoding is byte-identical and validation can name it.
    Other(u8),
}

impl From<u8> for AuthType {
    fn from(value: u8) -> Self {
        match value {
            0 => AuthType::None,
            1 => AuthType::SimpleText,
            2 => AuthType::IpAh,
            other => AuthType::Other(other),
        }
    }
}

impl From<AuthType> for u8 {
    fn from(value: AuthType) -> Self {
        match value {
            AuthType::None => 0,
            AuthType::SimpleText => 1,
            AuthType::IpAh => 2,
            AuthType::Other(v) => v,
        }
    }
}

/// VRRPv2 authentication fields: the type byte and the 8-byte data trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct V2Auth {
    /// Authentication type.
    pub auth_type: AuthType,
    /// Authentication data (the password, zero padded, for [`AuthType::SimpleText`]).
    pub data: [u8; V2_AUTH_DATA_LEN],
}

impl V2Auth {
    /// No authentication: type 0, zero data.
    pub const NONE: V2Auth = V2Auth {
        auth_type: AuthType::None,
        data: [0; V2_AUTH_DATA_LEN],
    };

    /// Simple text password authentication; passwords longer than 8 bytes are truncated, as
    /// keepalived does (RFC 3768 §5.3.10 allows only 8 bytes).
    pub fn simple_text(password: &[u8]) -> V2Auth {
        let mut data = [0; V2_AUTH_DATA_LEN];
        let n = password.len().min(V2_AUTH_DATA_LEN);
        data[..n].copy_from_slice(&password[..n]);
        V2Auth {
            auth_type: AuthType::SimpleText,
            data,
        }
    }
}

/// A decoded VRRP advertisement (either version).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Advertisement {
    /// Protocol version.
    pub version: Version,
    /// Virtual router identifier (1..=255 in valid packets).
    pub vrid: u8,
    /// Sender's priority: 255 address owner, 0 master releasing (RFC 5798 §5.2.4).
    pub priority: u8,
    /// Advertisement interval. VRRPv2 carries whole seconds (converted here); VRRPv3 carries
    /// centiseconds in 12 bits.
    pub advert_interval: Centiseconds,
    /// Virtual addresses, all of the packet's family.
    pub addresses: Vec<IpAddr>,
    /// VRRPv2 authentication fields; `None` for VRRPv3 (which removed them, RFC 5798 §1.1).
    pub auth: Option<V2Auth>,
}

/// Why bytes could not be decoded as a VRRP packet.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the fixed header (or IPv4 header) needs.
    #[error("packet truncated: need {needed} bytes, got {got}")]
    Truncated {
        /// Minimum length for what was being decoded.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// Version field is neither 2 nor 3.
    #[error("unsupported VRRP version {0}")]
    UnsupportedVersion(u8),
    /// Type field is not 1 (ADVERTISEMENT).
    #[error("unknown VRRP packet type {0}")]
    UnknownType(u8),
    /// The packet length does not match the length implied by the address count.
    #[error("VRRP length {got} does not match {count} address(es) (expected {expected} bytes)")]
    LengthMismatch {
        /// Count IPvX Addrs field.
        count: u8,
        /// Length implied by the count.
        expected: usize,
        /// Actual payload length.
        got: usize,
    },
    /// A VRRPv2 packet arrived over IPv6, which RFC 3768 does not define.
    #[error("VRRPv2 is IPv4 only")]
    V2OverIpv6,
    /// The IP header's version nibble is not 4.
    #[error("not an IPv4 packet (version {0})")]
    NotIpv4(u8),
    /// IPv4 header length or total length is inconsistent with the buffer.
    #[error("malformed IPv4 header: {0}")]
    BadIpv4Header(&'static str),
    /// The IPv4 protocol field is not 112.
    #[error("IP protocol {0} is not VRRP (112)")]
    NotVrrp(u8),
}

/// Why an advertisement could not be encoded.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// VRRPv2 interval not a whole number of seconds in 1..=255, or VRRPv3 interval outside
    /// 1..=4095 centiseconds.
    #[error("advertisement interval {0:?} is not representable in this VRRP version")]
    IntervalOutOfRange(Centiseconds),
    /// More than 255 addresses.
    #[error("{0} addresses do not fit the 8-bit count field")]
    TooManyAddresses(usize),
    /// An address, or the source/destination, is not of the packet's family.
    #[error("address {0} is not of the packet's address family")]
    FamilyMismatch(IpAddr),
    /// VRRPv2 asked to encode over IPv6.
    #[error("VRRPv2 is IPv4 only")]
    V2OverIpv6,
    /// Payload too long for the IPv4 total length field.
    #[error("packet too long for IPv4")]
    TooLong,
}

/// Reads the VRID of a VRRP payload without decoding the rest, so that a daemon with one socket
/// per interface can hand the packet to the right instance.
pub fn peek_vrid(vrrp: &[u8]) -> Option<u8> {
    vrrp.get(1).copied()
}

/// Reads the version nibble of a VRRP payload, if present.
pub fn peek_version(vrrp: &[u8]) -> Option<u8> {
    vrrp.first().map(|b| b >> 4)
}

/// Expected total VRRP length for `count` addresses of `family` in `version`.
fn expected_len(version: Version, family: Family, count: u8) -> usize {
    let addrs = usize::from(count) * family.address_len();
    match version {
        Version::V2 => VRRP_HEADER_LEN + addrs + V2_AUTH_DATA_LEN,
        Version::V3 => VRRP_HEADER_LEN + addrs,
    }
}

impl Advertisement {
    /// Decodes a VRRP payload (the bytes after the IP header) whose addresses are of `family`.
    ///
    /// The checksum is not verified here (VRRPv3 needs the IP addresses for that): see
    /// [`verify_checksum`].
    pub fn decode(vrrp: &[u8], family: Family) -> Result<Advertisement, DecodeError> {
        let header: &[u8; VRRP_HEADER_LEN] = vrrp
            .get(..VRRP_HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(DecodeError::Truncated {
                needed: VRRP_HEADER_LEN,
                got: vrrp.len(),
            })?;
        let version = match header[0] >> 4 {
            2 => Version::V2,
            3 => Version::V3,
            other => return Err(DecodeError::UnsupportedVersion(other)),
        };
        let kind = header[0] & 0x0f;
        if kind != TYPE_ADVERTISEMENT {
            return Err(DecodeError::UnknownType(kind));
        }
        if version == Version::V2 && family == Family::Ipv6 {
            return Err(DecodeError::V2OverIpv6);
        }
        let vrid = header[1];
        let priority = header[2];
        let count = header[3];
        let expected = expected_len(version, family, count);
        if vrrp.len() != expected {
            return Err(DecodeError::LengthMismatch {
                count,
                expected,
                got: vrrp.len(),
            });
        }
        let (advert_interval, auth) = match version {
            // RFC 3768 §5.3.6-7: Auth Type, then Adver Int in seconds.
            Version::V2 => {
                let mut data = [0; V2_AUTH_DATA_LEN];
                data.copy_from_slice(&vrrp[expected - V2_AUTH_DATA_LEN..]);
                let auth = V2Auth {
                    auth_type: AuthType::from(header[4]),
                    data,
                };
                (Centiseconds::from_secs(u32::from(header[5])), Some(auth))
            }
            // RFC 5798 §5.2.6-7: 4 reserved bits (ignored on receive), 12-bit interval.
            Version::V3 => {
                let raw = u16::from_be_bytes([header[4], header[5]]) & V3_MAX_ADVERT_INTERVAL;
                (Centiseconds(u32::from(raw)), None)
            }
        };
        let addr_bytes =
            &vrrp[VRRP_HEADER_LEN..VRRP_HEADER_LEN + usize::from(count) * family.address_len()];
        let addresses = match family {
            Family::Ipv4 => addr_bytes
                .chunks_exact(4)
                .map(|c| IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3])))
                .collect(),
            Family::Ipv6 => addr_bytes
                .chunks_exact(16)
                .map(|c| {
                    let mut octets = [0u8; 16];
                    octets.copy_from_slice(c);
                    IpAddr::V6(Ipv6Addr::from(octets))
                })
                .collect(),
        };
        Ok(Advertisement {
            version,
            vrid,
            priority,
            advert_interval,
            addresses,
            auth,
        })
    }

    /// Family of the packet, taken from its first address (`None` when it has none).
    pub fn family(&self) -> Option<Family> {
        self.addresses.first().map(Family::of)
    }

    /// Encodes the advertisement sent from `src` to `dst` (needed for the VRRPv3 pseudo-header
    /// checksum; for VRRPv2 they only fix the family), checksum filled in.
    pub fn encode(&self, src: IpAddr, dst: IpAddr) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(VRRP_HEADER_LEN + self.addresses.len() * 16 + 8);
        self.encode_into(&mut out, src, dst)?;
        Ok(out)
    }

    /// Like [`Advertisement::encode`] but appends to `out` (reusing a send buffer). On error
    /// `out` is left as it was.
    pub fn encode_into(
        &self,
        out: &mut Vec<u8>,
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<(), EncodeError> {
        let family = Family::of(&src);
        if Family::of(&dst) != family {
            return Err(EncodeError::FamilyMismatch(dst));
        }
        if let Some(bad) = self.addresses.iter().find(|a| Family::of(a) != family) {
            return Err(EncodeError::FamilyMismatch(*bad));
        }
        let count = u8::try_from(self.addresses.len())
            .map_err(|_| EncodeError::TooManyAddresses(self.addresses.len()))?;
        let interval_field: [u8; 2] = match self.version {
            Version::V2 => {
                if family != Family::Ipv4 {
                    return Err(EncodeError::V2OverIpv6);
                }
                let cs = self.advert_interval.get();
                let secs = cs / 100;
                if !cs.is_multiple_of(100) || !(1..=255).contains(&secs) {
                    return Err(EncodeError::IntervalOutOfRange(self.advert_interval));
                }
                let auth = self.auth.unwrap_or(V2Auth::NONE);
                [u8::from(auth.auth_type), secs as u8]
            }
            Version::V3 => {
                let cs = self.advert_interval.get();
                if !(1..=u32::from(V3_MAX_ADVERT_INTERVAL)).contains(&cs) {
                    return Err(EncodeError::IntervalOutOfRange(self.advert_interval));
                }
                (cs as u16).to_be_bytes()
            }
        };
        let start = out.len();
        out.push((self.version.number() << 4) | TYPE_ADVERTISEMENT);
        out.push(self.vrid);
        out.push(self.priority);
        out.push(count);
        out.extend_from_slice(&interval_field);
        out.extend_from_slice(&[0, 0]); // checksum placeholder
        for addr in &self.addresses {
            match addr {
                IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
            }
        }
        if self.version == Version::V2 {
            out.extend_from_slice(&self.auth.unwrap_or(V2Auth::NONE).data);
        }
        let Some(sum) = compute_checksum(self.version, src, dst, &out[start..]) else {
            out.truncate(start);
            return Err(EncodeError::FamilyMismatch(dst));
        };
        out[start + 6..start + 8].copy_from_slice(&sum.to_be_bytes());
        Ok(())
    }
}

/// Checksum over `vrrp` as it should appear in the checksum field (the field itself must be
/// zero in `vrrp`). VRRPv2: the message alone (RFC 3768 §5.3.8); VRRPv3: with the pseudo-header
/// (RFC 5798 §5.2.8).
fn compute_checksum(version: Version, src: IpAddr, dst: IpAddr, vrrp: &[u8]) -> Option<u16> {
    match version {
        Version::V2 => Some(checksum::internet_checksum(vrrp)),
        Version::V3 => checksum::pseudo_header_checksum(src, dst, IPPROTO_VRRP, vrrp),
    }
}

/// True when the checksum of the received VRRP payload `vrrp` (checksum field included) is
/// correct for `version` and the IP source/destination it arrived with.
pub fn verify_checksum(version: Version, src: IpAddr, dst: IpAddr, vrrp: &[u8]) -> bool {
    compute_checksum(version, src, dst, vrrp) == Some(0)
}

/// The IPv4 header of a received (or hand-built) VRRP packet (RFC 791 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ipv4Header {
    /// Type of service / DSCP+ECN (keepalived sends 0xc0, CS6).
    pub tos: u8,
    /// Identification.
    pub identification: u16,
    /// Flags (3 bits) and fragment offset (13 bits).
    pub flags_fragment: u16,
    /// Time to live: must be 255 for VRRP (RFC 5798 §7.1).
    pub ttl: u8,
    /// Protocol (112 for VRRP).
    pub protocol: u8,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Raw options (IHL > 5), kept for byte-identical re-encoding.
    pub options: Vec<u8>,
}

/// Length of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;

impl Ipv4Header {
    /// Decodes an IPv4 header and returns it with the payload it delimits (bounded by the total
    /// length field, so trailing link-layer padding is dropped). Does not check the protocol.
    pub fn decode(buf: &[u8]) -> Result<(Ipv4Header, &[u8]), DecodeError> {
        let fixed = buf.get(..IPV4_HEADER_LEN).ok_or(DecodeError::Truncated {
            needed: IPV4_HEADER_LEN,
            got: buf.len(),
        })?;
        let version = fixed[0] >> 4;
        if version != 4 {
            return Err(DecodeError::NotIpv4(version));
        }
        let header_len = usize::from(fixed[0] & 0x0f) * 4;
        if header_len < IPV4_HEADER_LEN {
            return Err(DecodeError::BadIpv4Header("IHL below 5"));
        }
        let total_len = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
        if total_len < header_len || total_len > buf.len() {
            return Err(DecodeError::BadIpv4Header(
                "total length inconsistent with buffer",
            ));
        }
        let header = Ipv4Header {
            tos: fixed[1],
            identification: u16::from_be_bytes([fixed[4], fixed[5]]),
            flags_fragment: u16::from_be_bytes([fixed[6], fixed[7]]),
            ttl: fixed[8],
            protocol: fixed[9],
            src: Ipv4Addr::new(fixed[12], fixed[13], fixed[14], fixed[15]),
            dst: Ipv4Addr::new(fixed[16], fixed[17], fixed[18], fixed[19]),
            options: buf[IPV4_HEADER_LEN..header_len].to_vec(),
        };
        Ok((header, &buf[header_len..total_len]))
    }

    /// Appends the header for a payload of `payload_len` bytes to `out`, header checksum
    /// computed. Options must be a multiple of 4 bytes, at most 40.
    pub fn encode_into(&self, out: &mut Vec<u8>, payload_len: usize) -> Result<(), EncodeError> {
        if !self.options.len().is_multiple_of(4) || self.options.len() > 40 {
            return Err(EncodeError::TooLong);
        }
        let header_len = IPV4_HEADER_LEN + self.options.len();
        let total = u16::try_from(header_len + payload_len).map_err(|_| EncodeError::TooLong)?;
        let start = out.len();
        out.push(0x40 | (header_len / 4) as u8);
        out.push(self.tos);
        out.extend_from_slice(&total.to_be_bytes());
        out.extend_from_slice(&self.identification.to_be_bytes());
        out.extend_from_slice(&self.flags_fragment.to_be_bytes());
        out.push(self.ttl);
        out.push(self.protocol);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.src.octets());
        out.extend_from_slice(&self.dst.octets());
        out.extend_from_slice(&self.options);
        let sum = checksum::internet_checksum(&out[start..]);
        out[start + 10..start + 12].copy_from_slice(&sum.to_be_bytes());
        Ok(())
    }
}

/// A whole IPv4 VRRP packet as received on a raw IPv4 socket: header plus advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4VrrpPacket {
    /// The IP header (TTL checked by validation).
    pub header: Ipv4Header,
    /// The decoded advertisement.
    pub advert: Advertisement,
}

impl Ipv4VrrpPacket {
    /// Splits a raw IPv4 datagram into header and VRRP payload bytes, checking that the protocol
    /// is VRRP. Validation wants the payload bytes (for the checksum), hence the split.
    pub fn split(buf: &[u8]) -> Result<(Ipv4Header, &[u8]), DecodeError> {
        let (header, payload) = Ipv4Header::decode(buf)?;
        if header.protocol != IPPROTO_VRRP {
            return Err(DecodeError::NotVrrp(header.protocol));
        }
        Ok((header, payload))
    }

    /// Decodes a raw IPv4 datagram carrying VRRP (checksum not verified; see
    /// [`verify_checksum`]).
    pub fn decode(buf: &[u8]) -> Result<Ipv4VrrpPacket, DecodeError> {
        let (header, payload) = Self::split(buf)?;
        let advert = Advertisement::decode(payload, Family::Ipv4)?;
        Ok(Ipv4VrrpPacket { header, advert })
    }

    /// Encodes header and advertisement, both checksums computed.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let payload = self
            .advert
            .encode(IpAddr::V4(self.header.src), IpAddr::V4(self.header.dst))?;
        let mut out =
            Vec::with_capacity(IPV4_HEADER_LEN + self.header.options.len() + payload.len());
        self.header.encode_into(&mut out, payload.len())?;
        out.extend_from_slice(&payload);
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    #[test]
    fn v3_ipv6_round_trip_and_checksum() {
        let src: IpAddr = "fe80::1".parse().unwrap();
        let dst = Family::Ipv6.multicast_group();
        let advert = Advertisement {
            version: Version::V3,
            vrid: 7,
            priority: 100,
            advert_interval: Centiseconds(100),
            addresses: vec!["fe80::100".parse().unwrap(), "2001:db8::1".parse().unwrap()],
            auth: None,
        };
        let bytes = advert.encode(src, dst).unwrap();
        assert_eq!(bytes.len(), 8 + 32);
        assert!(verify_checksum(Version::V3, src, dst, &bytes));
        // The pseudo-header matters: another source makes the checksum wrong.
        assert!(!verify_checksum(
            Version::V3,
            "fe80::2".parse().unwrap(),
            dst,
            &bytes
        ));
        assert_eq!(Advertisement::decode(&bytes, Family::Ipv6).unwrap(), advert);
    }

    #[test]
    fn v2_checksum_ignores_ip_addresses() {
        let advert = Advertisement {
            version: Version::V2,
            vrid: 1,
            priority: 50,
            advert_interval: Centiseconds::from_secs(3),
            addresses: vec![v4(10, 0, 0, 1)],
            auth: Some(V2Auth::simple_text(b"secret")),
        };
        let bytes = advert.encode(v4(1, 1, 1, 1), v4(224, 0, 0, 18)).unwrap();
        assert!(verify_checksum(
            Version::V2,
            v4(9, 9, 9, 9),
            v4(8, 8, 8, 8),
            &bytes
        ));
        assert_eq!(bytes[5], 3, "v2 interval is carried in seconds");
        assert_eq!(&bytes[12..20], b"secret\0\0");
    }

    #[test]
    fn v2_interval_must_be_whole_seconds() {
        let advert = Advertisement {
            version: Version::V2,
            vrid: 1,
            priority: 50,
            advert_interval: Centiseconds(150),
            addresses: vec![v4(10, 0, 0, 1)],
            auth: None,
        };
        assert_eq!(
            advert.encode(v4(1, 1, 1, 1), v4(224, 0, 0, 18)),
            Err(EncodeError::IntervalOutOfRange(Centiseconds(150)))
        );
    }

    #[test]
    fn v3_interval_is_twelve_bits() {
        let mut advert = Advertisement {
            version: Version::V3,
            vrid: 1,
            priority: 50,
            advert_interval: Centiseconds(4096),
            addresses: vec![v4(10, 0, 0, 1)],
            auth: None,
        };
        assert!(advert.encode(v4(1, 1, 1, 1), v4(224, 0, 0, 18)).is_err());
        advert.advert_interval = Centiseconds(4095);
        let bytes = advert.encode(v4(1, 1, 1, 1), v4(224, 0, 0, 18)).unwrap();
        assert_eq!(&bytes[4..6], &[0x0f, 0xff]);
    }

    #[test]
    fn v3_reserved_bits_are_ignored_on_receive() {
        let advert = Advertisement {
            version: Version::V3,
            vrid: 1,
            priority: 50,
            advert_interval: Centiseconds(100),
            addresses: vec![v4(10, 0, 0, 1)],
            auth: None,
        };
        let mut bytes = advert.encode(v4(1, 1, 1, 1), v4(224, 0, 0, 18)).unwrap();
        bytes[4] |= 0xf0;
        assert_eq!(Advertisement::decode(&bytes, Family::Ipv4).unwrap(), advert);
    }

    #[test]
    fn structural_errors_are_typed() {
        assert_eq!(
            Advertisement::decode(&[0x31, 1, 2], Family::Ipv4),
            Err(DecodeError::Truncated { needed: 8, got: 3 })
        );
        assert_eq!(
            Advertisement::decode(&[0x41, 1, 2, 0, 0, 1, 0, 0], Family::Ipv4),
            Err(DecodeError::UnsupportedVersion(4))
        );
        assert_eq!(
            Advertisement::decode(&[0x32, 1, 2, 0, 0, 1, 0, 0], Family::Ipv4),
            Err(DecodeError::UnknownType(2))
        );
        assert_eq!(
            Advertisement::decode(&[0x31, 1, 2, 2, 0, 1, 0, 0, 10, 0, 0, 1], Family::Ipv4),
            Err(DecodeError::LengthMismatch {
                count: 2,
                expected: 16,
                got: 12
            })
        );
        assert_eq!(
            Advertisement::decode(
                &[0x21, 1, 2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                Family::Ipv6
            ),
            Err(DecodeError::V2OverIpv6)
        );
    }

    #[test]
    fn ipv4_header_errors_are_typed() {
        assert!(matches!(
            Ipv4Header::decode(&[0x45; 10]),
            Err(DecodeError::Truncated { .. })
        ));
        let mut hdr = [0u8; 20];
        hdr[0] = 0x65;
        assert_eq!(Ipv4Header::decode(&hdr), Err(DecodeError::NotIpv4(6)));
        hdr[0] = 0x44;
        assert!(matches!(
            Ipv4Header::decode(&hdr),
            Err(DecodeError::BadIpv4Header(_))
        ));
        hdr[0] = 0x45;
        hdr[3] = 40; // total length beyond the buffer
        assert!(matches!(
            Ipv4Header::decode(&hdr),
            Err(DecodeError::BadIpv4Header(_))
        ));
        hdr[3] = 20;
        hdr[9] = 6;
        assert_eq!(Ipv4VrrpPacket::split(&hdr), Err(DecodeError::NotVrrp(6)));
    }

    #[test]
    fn peeks_do_not_panic_on_short_input() {
        assert_eq!(peek_vrid(&[]), None);
        assert_eq!(peek_version(&[]), None);
        assert_eq!(peek_vrid(&[0x31, 9]), Some(9));
        assert_eq!(peek_version(&[0x31]), Some(3));
    }
}
