//! SMTP check (keepalived `SMTP_CHECK`): read the 220 greeting, say EHLO (HELO when the server
//! rejects EHLO with 5xx, RFC 5321 §4.1.1.1), expect 250, then QUIT. Any 4xx/5xx reply is down.

use std::net::IpAddr;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::checker::{BuildError, Checker, DownReason, Failure, ProbeFuture, Target, Up, timed};

/// Parameters of an SMTP check.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SmtpSpec {
    /// Domain sent with EHLO/HELO.
    pub helo_name: String,
    /// Source address to bind.
    pub source: Option<IpAddr>,
}

impl Default for SmtpSpec {
    fn default() -> Self {
        SmtpSpec {
            helo_name: "localhost".into(),
            source: None,
        }
    }
}

impl SmtpSpec {
    pub(crate) fn build(&self) -> Result<SmtpChecker, BuildError> {
        if self.helo_name.is_empty()
            || !self
                .helo_name
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'\\')
        {
            return Err(BuildError::Invalid {
                field: "helo_name",
                message: format!("{:?} is not a domain", self.helo_name),
            });
        }
        Ok(SmtpChecker { spec: self.clone() })
    }
}

/// Ready SMTP check.
#[derive(Debug)]
pub struct SmtpChecker {
    spec: SmtpSpec,
}

/// RFC 5321 §4.5.3.1.5 limits a reply line to 512 octets; lines per reply are bounded too so a
/// broken server cannot keep the probe reading.
const MAX_LINE: usize = 512;
const MAX_LINES: usize = 100;

/// One SMTP reply: its code and the text of its last line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reply {
    code: u16,
    text: String,
}

async fn read_reply(reader: &mut BufReader<TcpStream>, step: &str) -> Result<Reply, Failure> {
    let mut line = Vec::with_capacity(128);
    for _ in 0..MAX_LINES {
        line.clear();
        let n = (&mut *reader)
            .take(MAX_LINE as u64 + 2)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| Failure::from_io(step, &e))?;
        if n == 0 {
            return Err(Failure::new(
                DownReason::Protocol,
                format!("{step}: connection closed"),
            ));
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        let code = text
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| (200..=599).contains(c))
            .ok_or_else(|| {
                Failure::new(
                    DownReason::Protocol,
                    format!("{step}: not a reply: {text:?}"),
                )
            })?;
        match text.as_bytes().get(3) {
            Some(b'-') => continue,
            None | Some(b' ') => {
                return Ok(Reply {
                    code,
                    text: text.to_string(),
                });
            }
            Some(_) => {
                return Err(Failure::new(
                    DownReason::Protocol,
                    format!("{step}: malformed reply {text:?}"),
                ));
            }
        }
    }
    Err(Failure::new(
        DownReason::Protocol,
        format!("{step}: more than {MAX_LINES} reply lines"),
    ))
}

fn expect(reply: &Reply, code: u16, step: &str) -> Result<(), Failure> {
    if reply.code == code {
        Ok(())
    } else {
        Err(Failure::new(
            DownReason::Protocol,
            format!("{step}: expected {code}, got {:?}", reply.text),
        ))
    }
}

impl SmtpChecker {
    pub fn new(spec: &SmtpSpec) -> Result<Self, BuildError> {
        spec.build()
    }

    async fn run(&self, target: Target) -> Result<Up, Failure> {
        let stream = crate::tcp::connect(target.addr, self.spec.source).await?;
        let mut conn = BufReader::new(stream);
        let banner = read_reply(&mut conn, "banner").await?;
        expect(&banner, 220, "banner")?;
        send(&mut conn, &format!("EHLO {}\r\n", self.spec.helo_name)).await?;
        let mut hello = read_reply(&mut conn, "EHLO").await?;
        if (500..=599).contains(&hello.code) {
            send(&mut conn, &format!("HELO {}\r\n", self.spec.helo_name)).await?;
            hello = read_reply(&mut conn, "HELO").await?;
        }
        expect(&hello, 250, "EHLO/HELO")?;
        // A polite goodbye; its reply does not change the verdict (the server already proved
        // healthy), but it is read so the server logs a clean session.
        send(&mut conn, "QUIT\r\n").await?;
        let _ = read_reply(&mut conn, "QUIT").await;
        Ok(Up::default())
    }
}

async fn send(conn: &mut BufReader<TcpStream>, line: &str) -> Result<(), Failure> {
    conn.get_mut()
        .write_all(line.as_bytes())
        .await
        .map_err(|e| Failure::from_io("write", &e))
}

impl Checker for SmtpChecker {
    fn probe(&self, target: Target) -> ProbeFuture<'_> {
        timed(self.run(target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helo_names_with_spaces_or_controls_are_refused() {
        for bad in ["", "a b", "x\r\nQUIT"] {
            let spec = SmtpSpec {
                helo_name: bad.into(),
                ..SmtpSpec::default()
            };
            assert!(spec.build().is_err(), "{bad:?} accepted");
        }
        assert!(SmtpSpec::default().build().is_ok());
    }
}
