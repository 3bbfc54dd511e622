//! Internet checksum (RFC 1071) and the IPv4/IPv6 pseudo-headers VRRPv3 covers.
//!
//! VRRPv2 (RFC 3768 §5.3.8) checksums only the VRRP message; VRRPv3 (RFC 5798 §5.2.8) prepends
//! the pseudo-header of RFC 2460 §8.1 (IPv6) or of RFC 768/793 style (IPv4). Getting this
//! difference wrong is the classic v2/v3 interop bug, so both forms live here side by side.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol number of VRRP (RFC 5798 §5.1.1.4, §5.1.2.3).
pub const IPPROTO_VRRP: u8 = 112;

/// Running one's-complement sum, folded at the end; kept in a `u32` so carries are never lost
/// for any input shorter than 128 KiB (VRRP packets are a few hundred bytes).
#[derive(Debug, Clone, Copy, Default)]
pub struct Checksum {
    sum: u32,
    /// A trailing odd byte waiting for its pair, so `add` may be called on odd-length slices.
    pending: Option<u8>,
}

impl Checksum {
    /// An empty sum.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes as a continuation of the previous ones (16-bit big-endian words).
    pub fn add(&mut self, mut bytes: &[u8]) -> &mut Self {
        if let Some(hi) = self.pending.take() {
            match bytes.split_first() {
                Some((lo, rest)) => {
                    self.add_word(u16::from_be_bytes([hi, *lo]));
                    bytes = rest;
                }
                None => {
                    self.pending = Some(hi);
                    return self;
                }
            }
        }
        let mut chunks = bytes.chunks_exact(2);
        for pair in &mut chunks {
            self.add_word(u16::from_be_bytes([pair[0], pair[1]]));
        }
        if let [last] = chunks.remainder() {
            self.pending = Some(*last);
        }
        self
    }

    fn add_word(&mut self, word: u16) {
        self.sum += u32::from(word);
        // Fold eagerly: keeps the accumulator bounded whatever the input length.
        self.sum = (self.sum & 0xffff) + (self.sum >> 16);
    }

    /// The one's complement of the folded sum: the value to put in a checksum field (or 0 when
    /// verifying a message whose checksum field was included).
    pub fn finish(&self) -> u16 {
        let mut copy = *self;
        if let Some(hi) = copy.pending.take() {
            copy.add_word(u16::from_be_bytes([hi, 0]));
        }
        let mut sum = copy.sum;
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }
}

/// RFC 1071 checksum of `bytes` alone (VRRPv2, IPv4 header).
pub fn internet_checksum(bytes: &[u8]) -> u16 {
    Checksum::new().add(bytes).finish()
}

/// Adds the IPv4 pseudo-header (source, destination, zero, protocol, upper-layer length).
fn add_ipv4_pseudo_header(sum: &mut Checksum, src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: u16) {
    sum.add(&src.octets())
        .add(&dst.octets())
        .add(&[0, proto])
        .add(&len.to_be_bytes());
}

/// Adds the IPv6 pseudo-header of RFC 8200 §8.1 (source, destination, 32-bit length, three zero
/// bytes, next header).
fn add_ipv6_pseudo_header(sum: &mut Checksum, src: Ipv6Addr, dst: Ipv6Addr, proto: u8, len: u32) {
    sum.add(&src.octets())
        .add(&dst.octets())
        .add(&len.to_be_bytes())
        .add(&[0, 0, 0, proto]);
}

/// Checksum of an upper-layer message `payload` behind the pseudo-header for `src`/`dst` and
/// protocol `proto` (VRRPv3 with 112, ICMPv6 with 58). `None` when `src` and `dst` are of different
/// families or the payload is too long for the length field.
pub fn pseudo_header_checksum(src: IpAddr, dst: IpAddr, proto: u8, payload: &[u8]) -> Option<u16> {
    let mut sum = Checksum::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let len = u16::try_from(payload.len()).ok()?;
            add_ipv4_pseudo_header(&mut sum, s, d, proto, len);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let len = u32::try_from(payload.len()).ok()?;
            add_ipv6_pseudo_header(&mut sum, s, d, proto, len);
        }
        _ => return None,
    }
    Some(sum.add(payload).finish())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_worked_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum (folded) to ddf2, so the checksum is !ddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(internet_checksum(&bytes), !0xddf2);
    }

    #[test]
    fn split_odd_additions_equal_one_addition() {
        let bytes: Vec<u8> = (0u8..=40).map(|b| b.wrapping_mul(37)).collect();
        let whole = internet_checksum(&bytes);
        let mut parts = Checksum::new();
        parts
            .add(&bytes[..3])
            .add(&bytes[3..4])
            .add(&[])
            .add(&bytes[4..]);
        assert_eq!(parts.finish(), whole);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(internet_checksum(&[0x12]), internet_checksum(&[0x12, 0x00]));
    }

    #[test]
    fn mixed_families_have_no_pseudo_header() {
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(pseudo_header_checksum(v4, v6, IPPROTO_VRRP, &[1, 2]), None);
    }
}
