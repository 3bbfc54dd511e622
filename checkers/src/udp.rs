//! UDP check: send a datagram, expect a reply (any, or one containing `expect`). UDP has no
//! handshake, so silence is a timeout and only an ICMP port unreachable is "refused".

use std::net::{IpAddr, SocketAddr};

use tokio::net::UdpSocket;

use crate::checker::{BuildError, Checker, DownReason, Failure, ProbeFuture, Target, Up, timed};

/// Parameters of a UDP check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct UdpSpec {
    /// Datagram sent to the target (may be empty).
    pub payload: Vec<u8>,
    /// Bytes the reply must contain; `None` accepts any reply.
    pub expect: Option<Vec<u8>>,
    /// Source address to bind.
    pub source: Option<IpAddr>,
}

/// Parses hex (`"de ad:be-ef"`; spaces, colons and dashes between bytes are ignored) into bytes,
/// for payloads written in a config file.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, BuildError> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b' ' | b':' | b'-' | b'\t'))
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err(BuildError::Invalid {
            field: "payload",
            message: format!("{text:?}: odd number of hex digits"),
        });
    }
    digits
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
                .ok_or_else(|| BuildError::Invalid {
                    field: "payload",
                    message: format!("{text:?}: not hex"),
                })
        })
        .collect()
}

impl UdpSpec {
    pub(crate) fn build(&self) -> Result<UdpChecker, BuildError> {
        if self.payload.len() > MAX_DATAGRAM {
            return Err(BuildError::Invalid {
                field: "payload",
                message: format!("{} bytes, at most {MAX_DATAGRAM}", self.payload.len()),
            });
        }
        Ok(UdpChecker { spec: self.clone() })
    }
}

const MAX_DATAGRAM: usize = 65_507;

/// Ready UDP check.
#[derive(Debug)]
pub struct UdpChecker {
    spec: UdpSpec,
}

impl UdpChecker {
    pub fn new(spec: &UdpSpec) -> Result<Self, BuildError> {
        spec.build()
    }

    async fn run(&self, target: Target) -> Result<Up, Failure> {
        let local = match (self.spec.source, target.addr) {
            (Some(ip), _) => SocketAddr::new(ip, 0),
            (None, SocketAddr::V4(_)) => SocketAddr::from(([0, 0, 0, 0], 0)),
            (None, SocketAddr::V6(_)) => SocketAddr::from(([0u16; 8], 0)),
        };
        let socket = UdpSocket::bind(local)
            .await
            .map_err(|e| Failure::from_io("bind", &e))?;
        socket
            .connect(target.addr)
            .await
            .map_err(|e| Failure::from_io("connect", &e))?;
        socket
            .send(&self.spec.payload)
            .await
            .map_err(|e| Failure::from_io("send", &e))?;
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let len = socket
            .recv(&mut buf)
            .await
            .map_err(|e| Failure::from_io("recv", &e))?;
        let reply = &buf[..len];
        match &self.spec.expect {
            Some(expected) if !contains(reply, expected) => Err(Failure::new(
                DownReason::Protocol,
                format!(
                    "reply of {len} bytes does not contain the expected {} bytes",
                    expected.len()
                ),
            )),
            _ => Ok(Up::default()),
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

impl Checker for UdpChecker {
    fn probe(&self, target: Target) -> ProbeFuture<'_> {
        timed(self.run(target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_payloads_parse_with_separators() {
        let parsed = parse_hex("de ad:BE-ef").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed, vec![0xde, 0xad, 0xbe, 0xef]);
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
    }

    #[test]
    fn containment() {
        assert!(contains(b"PONG 1", b"PONG"));
        assert!(!contains(b"PON", b"PONG"));
        assert!(contains(b"x", b""));
    }
}
