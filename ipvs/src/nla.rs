//! Small helpers shared by the attribute codecs: strict fixed-size readers (a kernel reply
//! with a wrongly sized attribute is an error, never a panic or a silent truncation) and
//! emitters for the value shapes IPVS uses.

use netlink_packet_core::{DecodeError, Emitable, Nla, NlaBuffer, NlasIterator};

/// Parses every attribute in `buf` with `parse`, failing on the first malformed one.
pub(crate) fn parse_all<T>(
    buf: &[u8],
    mut parse: impl FnMut(&NlaBuffer<&[u8]>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    NlasIterator::new(buf)
        .map(|nla| nla.and_then(|nla| parse(&nla)))
        .collect()
}

fn exact<const N: usize>(value: &[u8], what: &str) -> Result<[u8; N], DecodeError> {
    <[u8; N]>::try_from(value)
        .map_err(|_| DecodeError::from(format!("{what}: expected {N} bytes, got {}", value.len())))
}

pub(crate) fn read_u8(value: &[u8], what: &str) -> Result<u8, DecodeError> {
    exact::<1>(value, what).map(|b| b[0])
}

pub(crate) fn read_u16(value: &[u8], what: &str) -> Result<u16, DecodeError> {
    exact::<2>(value, what).map(u16::from_ne_bytes)
}

/// Ports travel in network byte order (`nla_put_be16`).
pub(crate) fn read_be16(value: &[u8], what: &str) -> Result<u16, DecodeError> {
    exact::<2>(value, what).map(u16::from_be_bytes)
}

pub(crate) fn read_u32(value: &[u8], what: &str) -> Result<u32, DecodeError> {
    exact::<4>(value, what).map(u32::from_ne_bytes)
}

pub(crate) fn read_u64(value: &[u8], what: &str) -> Result<u64, DecodeError> {
    exact::<8>(value, what).map(u64::from_ne_bytes)
}

pub(crate) fn read_array<const N: usize>(value: &[u8], what: &str) -> Result<[u8; N], DecodeError> {
    exact::<N>(value, what)
}

/// Kernel strings are NUL-terminated (`nla_put_string`); the terminator is dropped here and
/// added back by [`string_len`] / [`emit_string`] so a reply re-emits byte-identical.
pub(crate) fn read_string(value: &[u8], what: &str) -> Result<String, DecodeError> {
    let body = value.strip_suffix(&[0]).unwrap_or(value);
    String::from_utf8(body.to_vec())
        .map_err(|e| DecodeError::from(format!("{what}: invalid UTF-8: {e}")))
}

pub(crate) fn string_len(s: &str) -> usize {
    s.len() + 1
}

pub(crate) fn emit_string(buf: &mut [u8], s: &str) {
    let (body, nul) = buf.split_at_mut(s.len());
    body.copy_from_slice(s.as_bytes());
    nul.fill(0);
}

pub(crate) fn nested_len<T: Nla>(attrs: &[T]) -> usize {
    attrs.iter().map(Emitable::buffer_len).sum()
}

pub(crate) fn emit_nested<T: Nla>(attrs: &[T], buf: &mut [u8]) {
    let mut offset = 0;
    for attr in attrs {
        let len = attr.buffer_len();
        attr.emit(&mut buf[offset..offset + len]);
        offset += len;
    }
}
