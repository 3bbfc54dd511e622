//! The small subset of ASN.1 BER that SNMPv2c notifications need (RFC 3416 PDUs in an
//! RFC 1901 community message), hand-written so the daemon carries no SNMP library.
//!
//! Encoding always uses definite, minimal lengths and minimal integers (what every agent
//! sends); decoding accepts any definite length so that a receiver's Response PDU is read even
//! when it uses the long form. Decoding never panics on any input and bounds its nesting.

use std::fmt;

/// ASN.1 / SNMP tags (X.690 identifier octets; RFC 2578 §7.1 application types; RFC 3416 §3 PDUs).
pub mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const SEQUENCE: u8 = 0x30;
    pub const IP_ADDRESS: u8 = 0x40;
    pub const COUNTER32: u8 = 0x41;
    pub const GAUGE32: u8 = 0x42;
    pub const TIME_TICKS: u8 = 0x43;
    pub const COUNTER64: u8 = 0x46;
    pub const RESPONSE: u8 = 0xA2;
    pub const INFORM_REQUEST: u8 = 0xA6;
    pub const SNMPV2_TRAP: u8 = 0xA7;
}

/// SNMP version field of an SNMPv2c message (RFC 1901: version-2 = 1).
pub const VERSION_2C: i64 = 1;

/// An object identifier (`1.3.6.1.2.1.1.3.0`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Oid(pub Vec<u32>);

impl Oid {
    /// Parses dotted form; `None` unless it has at least two arcs and a valid first pair.
    pub fn parse(text: &str) -> Option<Oid> {
        let arcs: Option<Vec<u32>> = text
            .trim_start_matches('.')
            .split('.')
            .map(|a| a.parse().ok())
            .collect();
        let oid = Oid(arcs?);
        oid.is_encodable().then_some(oid)
    }

    /// This OID with `suffix` arcs appended (a column OID plus its row index).
    pub fn child(&self, suffix: &[u32]) -> Oid {
        let mut arcs = self.0.clone();
        arcs.extend_from_slice(suffix);
        Oid(arcs)
    }

    /// X.690 §8.19: the first two arcs share one sub-identifier, so arc 0 is 0..=2 and arc 1
    /// is < 40 unless arc 0 is 2.
    pub fn is_encodable(&self) -> bool {
        match self.0.as_slice() {
            [a, b, ..] => *a < 2 && *b < 40 || *a == 2 && *b <= u32::MAX - 80,
            _ => false,
        }
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arc) in self.0.iter().enumerate() {
            if i > 0 {
                f.write str_dot()?;
            }
            write!(f, "{arc}")?;
        }
        Ok(())
    }
}
