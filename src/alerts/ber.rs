//! The small subset of ASN.1 BER that SNMPv2c notifications need (RFC 3416 PDUs in an
//! RFC 1901 community message), hand-written so the daemon carries no SNMP library.
//!
//! Encoding always uses definite, minimal lengths and minimal integers (what every agent
//! sends); decoding accepts any definite length so that a receiver's Response PDU is read even
//! when it uses the long form. Decoding never panics on any input and bounds its nesting.

use std::fmt;
use std::net::Ipv4Addr;

/// ASN.1 / SNMP tags (X.690 identifier octets; RFC 2578 §7.1 application types; RFC 3416 §3).
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
            [a, b, ..] => (*a < 2 && *b < 40) || (*a == 2 && *b <= u32::MAX - 80),
            _ => false,
        }
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arc) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{arc}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A varbind value (RFC 3416 §3 `ObjectSyntax`, the types notifications use).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Value {
    Integer(i64),
    OctetString(Vec<u8>),
    Null,
    Oid(Oid),
    IpAddress(Ipv4Addr),
    Counter32(u32),
    Gauge32(u32),
    TimeTicks(u32),
    Counter64(u64),
}

/// One SNMP PDU (RFC 3416 §3: request-id, error-status, error-index, variable-bindings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    /// PDU tag ([`tag::SNMPV2_TRAP`], [`tag::INFORM_REQUEST`], [`tag::RESPONSE`]...).
    pub kind: u8,
    pub request_id: i32,
    pub error_status: i64,
    pub error_index: i64,
    pub varbinds: Vec<(Oid, Value)>,
}

/// An SNMPv1/v2c community message (RFC 1901).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub version: i64,
    pub community: Vec<u8>,
    pub pdu: Pdu,
}

/// Why bytes are not an SNMP message this module understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed SNMP message: {0}")]
pub struct BerError(pub &'static str);

// ---------------------------------------------------------------------------------------------
// Encoding

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    push_len(out, content.len());
    out.extend_from_slice(content);
}

/// Minimal two's-complement content octets of a signed integer (X.690 §8.3.2).
fn int_content(v: i64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0x00 && next & 0x80 == 0) || (b == 0xFF && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    bytes[start..].to_vec()
}

/// Content octets of an unsigned application integer (Counter, Gauge, TimeTicks): encoded as a
/// non-negative INTEGER, so a leading zero octet when the high bit is set.
fn uint_content(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    let mut out = Vec::with_capacity(9);
    if bytes[skip] & 0x80 != 0 {
        out.push(0);
    }
    out.extend_from_slice(&bytes[skip..]);
    out
}

fn push_base128(out: &mut Vec<u8>, v: u64) {
    let mut groups = [0u8; 10];
    let mut n = 0;
    let mut rest = v;
    loop {
        groups[n] = (rest & 0x7F) as u8;
        n += 1;
        rest >>= 7;
        if rest == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(groups[i] | if i > 0 { 0x80 } else { 0 });
    }
}

fn oid_content(oid: &Oid) -> Vec<u8> {
    let mut out = Vec::with_capacity(oid.0.len() + 4);
    match oid.0.as_slice() {
        [a, b, rest @ ..] => {
            push_base128(&mut out, u64::from(*a) * 40 + u64::from(*b));
            for arc in rest {
                push_base128(&mut out, u64::from(*arc));
            }
        }
        // Not encodable: callers build OIDs from constants; encode as `0.0` rather than panic.
        _ => out.push(0),
    }
    out
}

fn encode_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Integer(v) => push_tlv(out, tag::INTEGER, &int_content(*v)),
        Value::OctetString(s) => push_tlv(out, tag::OCTET_STRING, s),
        Value::Null => push_tlv(out, tag::NULL, &[]),
        Value::Oid(oid) => push_tlv(out, tag::OID, &oid_content(oid)),
        Value::IpAddress(a) => push_tlv(out, tag::IP_ADDRESS, &a.octets()),
        Value::Counter32(v) => push_tlv(out, tag::COUNTER32, &uint_content(u64::from(*v))),
        Value::Gauge32(v) => push_tlv(out, tag::GAUGE32, &uint_content(u64::from(*v))),
        Value::TimeTicks(v) => push_tlv(out, tag::TIME_TICKS, &uint_content(u64::from(*v))),
        Value::Counter64(v) => push_tlv(out, tag::COUNTER64, &uint_content(*v)),
    }
}

impl Message {
    /// The message's bytes, ready for one UDP datagram.
    pub fn encode(&self) -> Vec<u8> {
        let mut varbinds = Vec::new();
        for (oid, value) in &self.pdu.varbinds {
            let mut vb = Vec::new();
            push_tlv(&mut vb, tag::OID, &oid_content(oid));
            encode_value(&mut vb, value);
            push_tlv(&mut varbinds, tag::SEQUENCE, &vb);
        }
        let mut pdu = Vec::with_capacity(varbinds.len() + 16);
        push_tlv(
            &mut pdu,
            tag::INTEGER,
            &int_content(i64::from(self.pdu.request_id)),
        );
        push_tlv(&mut pdu, tag::INTEGER, &int_content(self.pdu.error_status));
        push_tlv(&mut pdu, tag::INTEGER, &int_content(self.pdu.error_index));
        push_tlv(&mut pdu, tag::SEQUENCE, &varbinds);
        let mut msg = Vec::with_capacity(pdu.len() + self.community.len() + 16);
        push_tlv(&mut msg, tag::INTEGER, &int_content(self.version));
        push_tlv(&mut msg, tag::OCTET_STRING, &self.community);
        push_tlv(&mut msg, self.pdu.kind, &pdu);
        let mut out = Vec::with_capacity(msg.len() + 4);
        push_tlv(&mut out, tag::SEQUENCE, &msg);
        out
    }

    /// Parses one SNMPv1/v2c message. Trailing bytes after the outer SEQUENCE are an error.
    pub fn decode(bytes: &[u8]) -> Result<Message, BerError> {
        let mut outer = Reader(bytes);
        let mut msg = outer.expect(tag::SEQUENCE)?;
        if !outer.0.is_empty() {
            return Err(BerError("trailing bytes after message"));
        }
        let version = int_value(msg.expect(tag::INTEGER)?.0)?;
        let community = msg.expect(tag::OCTET_STRING)?.0.to_vec();
        let (kind, body) = msg.any()?;
        if kind & 0xE0 != 0xA0 {
            return Err(BerError("not a PDU"));
        }
        if !msg.0.is_empty() {
            return Err(BerError("trailing bytes after PDU"));
        }
        let mut body = Reader(body);
        let request_id = i32::try_from(int_value(body.expect(tag::INTEGER)?.0)?)
            .map_err(|_| BerError("request-id out of range"))?;
        let error_status = int_value(body.expect(tag::INTEGER)?.0)?;
        let error_index = int_value(body.expect(tag::INTEGER)?.0)?;
        let mut list = body.expect(tag::SEQUENCE)?;
        let mut varbinds = Vec::new();
        while !list.0.is_empty() {
            let mut vb = list.expect(tag::SEQUENCE)?;
            let oid = oid_value(vb.expect(tag::OID)?.0)?;
            let (t, content) = vb.any()?;
            varbinds.push((oid, decode_value(t, content)?));
            if !vb.0.is_empty() {
                return Err(BerError("trailing bytes in varbind"));
            }
        }
        Ok(Message {
            version,
            community,
            pdu: Pdu {
                kind,
                request_id,
                error_status,
                error_index,
                varbinds,
            },
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// Next TLV: (tag, content). Only single-octet tags and definite lengths (SNMP uses no
    /// other forms).
    fn any(&mut self) -> Result<(u8, &'a [u8]), BerError> {
        let (&tag, rest) = self.0.split_first().ok_or(BerError("truncated tag"))?;
        if tag & 0x1F == 0x1F {
            return Err(BerError("multi-octet tag"));
        }
        let (&first, mut rest) = rest.split_first().ok_or(BerError("truncated length"))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7F);
            if n == 0 {
                return Err(BerError("indefinite length"));
            }
            if n > 4 || rest.len() < n {
                return Err(BerError("bad length"));
            }
            let (len_bytes, after) = rest.split_at(n);
            rest = after;
            len_bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        };
        if rest.len() < len {
            return Err(BerError("content longer than message"));
        }
        let (content, after) = rest.split_at(len);
        self.0 = after;
        Ok((tag, content))
    }

    fn expect(&mut self, want: u8) -> Result<Reader<'a>, BerError> {
        let (t, content) = self.any()?;
        if t == want {
            Ok(Reader(content))
        } else {
            Err(BerError("unexpected tag"))
        }
    }
}

fn int_value(content: &[u8]) -> Result<i64, BerError> {
    if content.is_empty() || content.len() > 8 {
        return Err(BerError("bad INTEGER length"));
    }
    let negative = content[0] & 0x80 != 0;
    let init: i64 = if negative { -1 } else { 0 };
    Ok(content
        .iter()
        .fold(init, |acc, b| (acc << 8) | i64::from(*b)))
}

fn uint_value(content: &[u8], max_bits: u32) -> Result<u64, BerError> {
    let trimmed = match content {
        [0, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    };
    if content.is_empty() || trimmed.len() > 8 || content[0] & 0x80 != 0 {
        return Err(BerError("bad unsigned length"));
    }
    let v = trimmed
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    if max_bits < 64 && v >> max_bits != 0 {
        return Err(BerError("unsigned value out of range"));
    }
    Ok(v)
}

fn oid_value(content: &[u8]) -> Result<Oid, BerError> {
    let mut subids = Vec::new();
    let mut acc: u64 = 0;
    let mut in_progress = false;
    for &b in content {
        if !in_progress && b == 0x80 {
            return Err(BerError("non-minimal OID sub-identifier"));
        }
        acc = (acc << 7) | u64::from(b & 0x7F);
        if acc > u64::from(u32::MAX) + 80 {
            return Err(BerError("OID sub-identifier too large"));
        }
        in_progress = b & 0x80 != 0;
        if !in_progress {
            subids.push(acc);
            acc = 0;
        }
    }
    if in_progress || subids.is_empty() {
        return Err(BerError("truncated OID"));
    }
    let first = subids[0];
    let (a, b) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut arcs = Vec::with_capacity(subids.len() + 1);
    arcs.push(a as u32);
    arcs.push(u32::try_from(b).map_err(|_| BerError("OID arc too large"))?);
    for s in &subids[1..] {
        arcs.push(u32::try_from(*s).map_err(|_| BerError("OID arc too large"))?);
    }
    Ok(Oid(arcs))
}

fn decode_value(t: u8, content: &[u8]) -> Result<Value, BerError> {
    let u32_of = |c: &[u8]| uint_value(c, 32).map(|v| v as u32);
    Ok(match t {
        tag::INTEGER => Value::Integer(int_value(content)?),
        tag::OCTET_STRING => Value::OctetString(content.to_vec()),
        tag::NULL if content.is_empty() => Value::Null,
        tag::OID => Value::Oid(oid_value(content)?),
        tag::IP_ADDRESS => {
            let octets: [u8; 4] = content
                .try_into()
                .map_err(|_| BerError("IpAddress is not 4 octets"))?;
            Value::IpAddress(Ipv4Addr::from(octets))
        }
        tag::COUNTER32 => Value::Counter32(u32_of(content)?),
        tag::GAUGE32 => Value::Gauge32(u32_of(content)?),
        tag::TIME_TICKS => Value::TimeTicks(u32_of(content)?),
        tag::COUNTER64 => Value::Counter64(uint_value(content, 64)?),
        // Response varbinds may carry noSuchObject (0x80) etc.; notifications never need them.
        _ => return Err(BerError("unsupported value type")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(s: &str) -> Oid {
        Oid::parse(s).unwrap_or_else(|| Oid(vec![]))
    }

    /// A real datagram: what net-snmp's `snmptrap -v 2c -c public -m '' 127.0.0.1:PORT 123
    /// 1.3.6.1.4.1.8072.2.3.0.1 1.3.6.1.4.1.8072.2.3.2.1 i 123456 1.3.6.1.4.1.8072.2.3.2.2 s
    /// tandem 1.3.6.1.4.1.8072.2.3.2.3 a 10.0.0.1` sent (read from a UDP socket on loopback).
    /// The outer SEQUENCE uses the long length form (0x81 0x85).
    const NET_SNMP_TRAP: &[u8] = &[
        0x30, 0x81, 0x85, 0x02, 0x01, 0x01, 0x04, 0x06, 0x70, 0x75, 0x62, 0x6c, 0x69, 0x63, 0xa7,
        0x78, 0x02, 0x04, 0x27, 0xae, 0x95, 0xae, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x6a,
        0x30, 0x0d, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x03, 0x00, 0x43, 0x01, 0x7b,
        0x30, 0x19, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x06, 0x03, 0x01, 0x01, 0x04, 0x01, 0x00, 0x06,
        0x0b, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xbf, 0x08, 0x02, 0x03, 0x00, 0x01, 0x30, 0x12, 0x06,
        0x0b, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xbf, 0x08, 0x02, 0x03, 0x02, 0x01, 0x02, 0x03, 0x01,
        0xe2, 0x40, 0x30, 0x15, 0x06, 0x0b, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xbf, 0x08, 0x02, 0x03,
        0x02, 0x02, 0x04, 0x06, 0x74, 0x61, 0x6e, 0x64, 0x65, 0x6d, 0x30, 0x13, 0x06, 0x0b, 0x2b,
        0x06, 0x01, 0x04, 0x01, 0xbf, 0x08, 0x02, 0x03, 0x02, 0x03, 0x40, 0x04, 0x0a, 0x00, 0x00,
        0x01,
    ];

    #[test]
    fn integers_are_minimal() {
        assert_eq!(int_content(0), vec![0]);
        assert_eq!(int_content(127), vec![0x7f]);
        assert_eq!(int_content(128), vec![0x00, 0x80]);
        assert_eq!(int_content(-1), vec![0xff]);
        assert_eq!(int_content(-129), vec![0xff, 0x7f]);
        assert_eq!(uint_content(0), vec![0]);
        assert_eq!(uint_content(0x80), vec![0x00, 0x80]);
        assert_eq!(
            uint_content(u64::from(u32::MAX)),
            vec![0, 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn long_lengths() {
        let mut out = Vec::new();
        push_len(&mut out, 300);
        assert_eq!(out, vec![0x82, 0x01, 0x2c]);
    }

    #[test]
    fn oid_encoding_matches_x690() {
        // 1.3.6.1.4.1.64203 -> 2b 06 01 04 01 83 f5 4b
        assert_eq!(
            oid_content(&oid("1.3.6.1.4.1.64203")),
            vec![0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xf5, 0x4b]
        );
        assert_eq!(
            oid_value(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xf5, 0x4b]),
            Ok(oid("1.3.6.1.4.1.64203"))
        );
        assert!(oid_value(&[0x2b, 0x80, 0x01]).is_err());
        assert!(oid_value(&[0x2b, 0x86]).is_err());
    }

    #[test]
    fn message_round_trips_byte_identical() {
        let msg = Message::decode(NET_SNMP_TRAP);
        let Ok(msg) = msg else {
            panic!("decode failed: {msg:?}");
        };
        assert_eq!(msg.pdu.kind, tag::SNMPV2_TRAP);
        assert_eq!(msg.pdu.request_id, 0x27ae95ae);
        assert_eq!(msg.pdu.varbinds.len(), 5);
        assert_eq!(msg.pdu.varbinds[0].1, Value::TimeTicks(123));
        assert_eq!(msg.pdu.varbinds[2].1, Value::Integer(123456));
        assert_eq!(
            msg.pdu.varbinds[4].1,
            Value::IpAddress(Ipv4Addr::new(10, 0, 0, 1))
        );
        assert_eq!(msg.community, b"public");
        assert_eq!(msg.encode(), NET_SNMP_TRAP);
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bytes in [
            &[][..],
            &[0x30],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0x80, 0, 0],
        ] {
            assert!(Message::decode(bytes).is_err());
        }
        for cut in 0..NET_SNMP_TRAP.len() {
            assert!(Message::decode(&NET_SNMP_TRAP[..cut]).is_err());
        }
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        fn arb_oid() -> impl Strategy<Value = Oid> {
            (
                0u32..2,
                0u32..40,
                proptest::collection::vec(any::<u32>(), 0..12),
            )
                .prop_map(|(a, b, rest)| {
                    let mut arcs = vec![a, b];
                    arcs.extend(rest);
                    Oid(arcs)
                })
        }

        fn arb_value() -> impl Strategy<Value = Value> {
            prop_oneof![
                any::<i64>().prop_map(Value::Integer),
                proptest::collection::vec(any::<u8>(), 0..300).prop_map(Value::OctetString),
                Just(Value::Null),
                arb_oid().prop_map(Value::Oid),
                any::<[u8; 4]>().prop_map(|o| Value::IpAddress(Ipv4Addr::from(o))),
                any::<u32>().prop_map(Value::Counter32),
                any::<u32>().prop_map(Value::Gauge32),
                any::<u32>().prop_map(Value::TimeTicks),
                any::<u64>().prop_map(Value::Counter64),
            ]
        }

        proptest! {
            #[test]
            fn encode_decode_round_trip(
                request_id in any::<i32>(),
                kind in prop_oneof![Just(tag::SNMPV2_TRAP), Just(tag::INFORM_REQUEST), Just(tag::RESPONSE)],
                community in proptest::collection::vec(any::<u8>(), 0..40),
                varbinds in proptest::collection::vec((arb_oid(), arb_value()), 0..20),
            ) {
                let msg = Message { version: VERSION_2C, community, pdu: Pdu { kind, request_id, error_status: 0, error_index: 0, varbinds } };
                let bytes = msg.encode();
                let back = Message::decode(&bytes);
                prop_assert_eq!(back.as_ref(), Ok(&msg));
                prop_assert_eq!(back.map(|m| m.encode()), Ok(bytes));
            }

            #[test]
            fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
                let _ = Message::decode(&bytes);
            }

            #[test]
            fn decode_survives_mutations(pos in 0usize..136, byte in any::<u8>()) {
                let mut bytes = super::NET_SNMP_TRAP.to_vec();
                if let Some(b) = bytes.get_mut(pos) { *b = byte; }
                let _ = Message::decode(&bytes);
            }
        }
    }
}
