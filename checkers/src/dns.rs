//! DNS check: query the real server over UDP, retry over TCP when the answer is truncated
//! (RFC 1035 §4.2.1/§4.2.2, RFC 7766 §5), and judge the response code and answers.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

use crate::checker::{BuildError, Checker, DownReason, Failure, ProbeFuture, Target, Up, timed};

/// Response code NOERROR (RFC 1035 §4.1.1); the other common ones are NXDOMAIN = 3 and
/// SERVFAIL = 2.
pub const RCODE_NOERROR: u16 = 0;
/// Response code SERVFAIL.
pub const RCODE_SERVFAIL: u16 = 2;
/// Response code NXDOMAIN.
pub const RCODE_NXDOMAIN: u16 = 3;

/// Query types a DNS check can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DnsType {
    #[default]
    A,
    Aaaa,
    Ns,
    Soa,
    Mx,
    Txt,
    Cname,
}

impl DnsType {
    fn record_type(self) -> RecordType {
        match self {
            DnsType::A => RecordType::A,
            DnsType::Aaaa => RecordType::AAAA,
            DnsType::Ns => RecordType::NS,
            DnsType::Soa => RecordType::SOA,
            DnsType::Mx => RecordType::MX,
            DnsType::Txt => RecordType::TXT,
            DnsType::Cname => RecordType::CNAME,
        }
    }
}

/// What the answer section must hold (only records of the queried type count, so a CNAME chain
/// in front of an A answer does not inflate the count).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AnswerExpectation {
    /// At least this many records.
    AtLeast(usize),
    /// Every listed value appears among the records, compared as presentation text (`10.0.0.1`,
    /// `10 mail.example.com`, a TXT string), case-insensitively and ignoring a trailing dot.
    /// Extra records are allowed: round-robin servers may return more.
    Includes(Vec<String>),
}

/// Parameters of a DNS check.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DnsSpec {
    /// Name to query (absolute or relative; a trailing dot is added).
    pub name: String,
    pub qtype: DnsType,
    /// Response code that means healthy; [`RCODE_NOERROR`] by default. An authoritative server
    /// can be checked with a name known not to exist and `RCODE_NXDOMAIN`.
    pub expect_rcode: u16,
    pub expect_answers: Option<AnswerExpectation>,
    /// Set RD in the query (default true: recursors answer it; authoritative servers ignore it).
    pub recursion_desired: bool,
    /// Source address to bind.
    pub source: Option<IpAddr>,
}

impl Default for DnsSpec {
    fn default() -> Self {
        DnsSpec {
            name: ".".into(),
            qtype: DnsType::A,
            expect_rcode: RCODE_NOERROR,
            expect_answers: None,
            recursion_desired: true,
            source: None,
        }
    }
}

impl DnsSpec {
    pub(crate) fn build(&self) -> Result<DnsChecker, BuildError> {
        let mut name = Name::from_str(&self.name).map_err(|e| BuildError::Invalid {
            field: "name",
            message: format!("{:?}: {e}", self.name),
        })?;
        name.set_fqdn(true);
        if self.expect_rcode > 0xfff {
            return Err(BuildError::Invalid {
                field: "expect_rcode",
                message: format!("{} is not a 12-bit response code", self.expect_rcode),
            });
        }
        Ok(DnsChecker {
            spec: self.clone(),
            name,
        })
    }
}

/// Ready DNS check.
#[derive(Debug)]
pub struct DnsChecker {
    spec: DnsSpec,
    name: Name,
}

/// Largest UDP response accepted without EDNS (RFC 1035 §2.3.4 says 512; read more in case the
/// server sends it anyway).
const UDP_BUFFER: usize = 4096;

impl DnsChecker {
    pub fn new(spec: &DnsSpec) -> Result<Self, BuildError> {
        spec.build()
    }

    fn query(&self) -> Result<(u16, Vec<u8>), Failure> {
        let id: u16 = rand::random();
        let mut message = Message::new(id, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = self.spec.recursion_desired;
        message.add_query(Query::query(
            self.name.clone(),
            self.spec.qtype.record_type(),
        ));
        let bytes = message
            .to_vec()
            .map_err(|e| Failure::new(DownReason::Protocol, format!("encode query: {e}")))?;
        Ok((id, bytes))
    }

    async fn run(&self, target: Target) -> Result<Up, Failure> {
        let (id, query) = self.query()?;
        let local = match (self.spec.source, target.addr) {
            (Some(ip), _) => SocketAddr::new(ip, 0),
            (None, SocketAddr::V4(_)) => SocketAddr::from(([0, 0, 0, 0], 0)),
            (None, SocketAddr::V6(_)) => SocketAddr::from(([0u16; 8], 0)),
        };
        let socket = UdpSocket::bind(local)
            .await
            .map_err(|e| Failure::from_io("bind", &e))?;
        // Connected: ICMP port unreachable surfaces as ECONNREFUSED, and datagrams from other
        // sources are filtered by the kernel.
        socket
            .connect(target.addr)
            .await
            .map_err(|e| Failure::from_io("connect", &e))?;
        socket
            .send(&query)
            .await
            .map_err(|e| Failure::from_io("send", &e))?;
        let mut buf = vec![0u8; UDP_BUFFER];
        // Skip stray datagrams with another id (bounded: the probe timeout ends the loop).
        let response = loop {
            let len = socket
                .recv(&mut buf)
                .await
                .map_err(|e| Failure::from_io("recv", &e))?;
            match Message::from_vec(&buf[..len]) {
                Ok(message) if message.metadata.id == id => break message,
                _ => continue,
            }
        };
        let response = if response.metadata.truncation {
            self.over_tcp(target, id, &query).await?
        } else {
            response
        };
        self.judge(&response)
    }

    async fn over_tcp(&self, target: Target, id: u16, query: &[u8]) -> Result<Message, Failure> {
        let mut stream = crate::tcp::connect(target.addr, self.spec.source).await?;
        let len = u16::try_from(query.len())
            .map_err(|_| Failure::new(DownReason::Protocol, "query too long for TCP"))?;
        let mut framed = Vec::with_capacity(query.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(query);
        stream
            .write_all(&framed)
            .await
            .map_err(|e| Failure::from_io("tcp write", &e))?;
        let len = stream
            .read_u16()
            .await
            .map_err(|e| Failure::from_io("tcp read", &e))?;
        let mut buf = vec![0u8; usize::from(len)];
        stream
            .read_exact(&mut buf)
            .await
            .map_err(|e| Failure::from_io("tcp read", &e))?;
        let message = Message::from_vec(&buf)
            .map_err(|e| Failure::new(DownReason::Protocol, format!("tcp response: {e}")))?;
        if message.metadata.id != id {
            return Err(Failure::new(
                DownReason::Protocol,
                "tcp response id mismatch",
            ));
        }
        Ok(message)
    }

    fn judge(&self, response: &Message) -> Result<Up, Failure> {
        if response.metadata.message_type != MessageType::Response {
            return Err(Failure::new(
                DownReason::Protocol,
                "reply is not a response",
            ));
        }
        let rcode = response.metadata.response_code.into();
        if rcode != self.spec.expect_rcode {
            return Err(Failure::new(
                DownReason::Rcode(rcode),
                format!(
                    "rcode {} ({}), expected {}",
                    rcode, response.metadata.response_code, self.spec.expect_rcode
                ),
            ));
        }
        let qtype = self.spec.qtype.record_type();
        let values: Vec<String> = response
            .answers
            .iter()
            .filter(|r| r.record_type() == qtype)
            .map(|r| normalize(&r.data.to_string()))
            .collect();
        match &self.spec.expect_answers {
            None => Ok(Up::default()),
            Some(AnswerExpectation::AtLeast(n)) if values.len() >= *n => Ok(Up::default()),
            Some(AnswerExpectation::AtLeast(n)) => Err(Failure::new(
                DownReason::AnswerMismatch,
                format!("{} {qtype} records, expected at least {n}", values.len()),
            )),
            Some(AnswerExpectation::Includes(expected)) => {
                let missing: Vec<&String> = expected
                    .iter()
                    .filter(|e| !values.contains(&normalize(e)))
                    .collect();
                if missing.is_empty() {
                    Ok(Up::default())
                } else {
                    Err(Failure::new(
                        DownReason::AnswerMismatch,
                        format!("missing {missing:?} among {values:?}"),
                    ))
                }
            }
        }
    }
}

/// Presentation text made comparable: lowercase, no trailing dot, TXT quotes removed.
fn normalize(text: &str) -> String {
    text.trim()
        .trim_matches('"')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

impl Checker for DnsChecker {
    fn probe(&self, target: Target) -> ProbeFuture<'_> {
        timed(self.run(target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record};

    fn checker(spec: DnsSpec) -> DnsChecker {
        spec.build().unwrap_or_else(|e| panic!("{e}"))
    }

    fn response(rcode: ResponseCode, addrs: &[[u8; 4]]) -> Message {
        let mut m = Message::new(7, MessageType::Response, OpCode::Query);
        m.metadata.response_code = rcode;
        for a in addrs {
            let name = Name::from_str("www.example.test.").unwrap_or_else(|e| panic!("{e}"));
            m.add_answer(Record::from_rdata(
                name,
                60,
                RData::A(A::from(std::net::Ipv4Addr::from(*a))),
            ));
        }
        m
    }

    #[test]
    fn rcode_and_answer_expectations() {
        let spec = DnsSpec {
            name: "www.example.test".into(),
            expect_answers: Some(AnswerExpectation::Includes(vec!["10.0.0.2".into()])),
            ..DnsSpec::default()
        };
        let c = checker(spec);
        assert!(
            c.judge(&response(
                ResponseCode::NoError,
                &[[10, 0, 0, 1], [10, 0, 0, 2]]
            ))
            .is_ok()
        );
        let miss = c.judge(&response(ResponseCode::NoError, &[[10, 0, 0, 1]]));
        assert_eq!(miss.map_err(|f| f.reason), Err(DownReason::AnswerMismatch));
        let nx = c.judge(&response(ResponseCode::NXDomain, &[]));
        assert_eq!(
            nx.map_err(|f| f.reason),
            Err(DownReason::Rcode(RCODE_NXDOMAIN))
        );

        let c = checker(DnsSpec {
            name: "www.example.test".into(),
            expect_answers: Some(AnswerExpectation::AtLeast(2)),
            ..DnsSpec::default()
        });
        assert!(
            c.judge(&response(ResponseCode::NoError, &[[10, 0, 0, 1]]))
                .is_err()
        );
        assert!(
            c.judge(&response(
                ResponseCode::NoError,
                &[[1, 1, 1, 1], [2, 2, 2, 2]]
            ))
            .is_ok()
        );
    }

    #[test]
    fn query_round_trips_through_the_codec() {
        let c = checker(DnsSpec {
            name: "example.test".into(),
            qtype: DnsType::Mx,
            ..DnsSpec::default()
        });
        let (id, bytes) = c.query().unwrap_or_else(|f| panic!("{f}"));
        let parsed = Message::from_vec(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.metadata.id, id);
        assert_eq!(parsed.queries[0].query_type, RecordType::MX);
        assert_eq!(parsed.queries[0].name.to_string(), "example.test.");
        assert_eq!(parsed.to_vec().unwrap_or_else(|e| panic!("{e}")), bytes);
    }
}
