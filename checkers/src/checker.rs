//! One probe of one target: the [`Checker`] trait, its result type and the typed check specs.
//!
//! A [`CheckSpec`] is plain data (comparable and hashable, so the scheduler can recognise two
//! owners asking for the same probe); [`CheckSpec::build`] validates it once and turns it into a
//! ready [`Checker`] (compiled regex, HTTP client), so a bad spec is refused when registered and
//! never fails at probe time.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dns::DnsSpec;
use crate::exec::ExecSpec;
use crate::http::HttpSpec;
use crate::smtp::SmtpSpec;
use crate::tcp::TcpSpec;
use crate::udp::UdpSpec;

/// What a check probes: the real server's address and the port the check connects to (the
/// daemon resolves a check-specific port before building the target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    pub addr: SocketAddr,
}

impl Target {
    pub fn new(addr: SocketAddr) -> Self {
        Target { addr }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.addr.fmt(f)
    }
}

/// Why a probe found the target down.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownReason {
    /// Connection refused (TCP RST, or ICMP port unreachable for UDP).
    Refused,
    /// No answer within the probe timeout.
    Timeout,
    /// No route / host unreachable.
    Unreachable,
    /// Another socket or I/O error.
    Io,
    /// HTTP status outside the expected set.
    BadStatus(u16),
    /// HTTP body did not match `body_regex`.
    BodyMismatch,
    /// MD5 of the HTTP body differs from the expected digest.
    DigestMismatch,
    /// TLS handshake or certificate verification failed.
    Tls,
    /// DNS response code differs from the expected one.
    Rcode(u16),
    /// DNS answer section does not satisfy the expectation.
    AnswerMismatch,
    /// The server spoke, but not the expected protocol (bad banner, malformed reply, SMTP
    /// 4xx/5xx, UDP reply not matching).
    Protocol,
    /// Exec check exited with this non-success code.
    ExitCode(i32),
    /// Exec check was killed by this signal.
    Signal(i32),
    /// Exec check could not be started.
    Spawn,
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownReason::Refused => f.write_str("refused"),
            DownReason::Timeout => f.write_str("timeout"),
            DownReason::Unreachable => f.write_str("unreachable"),
            DownReason::Io => f.write_str("io"),
            DownReason::BadStatus(code) => write!(f, "bad-status {code}"),
            DownReason::BodyMismatch => f.write_str("body-mismatch"),
            DownReason::DigestMismatch => f.write_str("digest-mismatch"),
            DownReason::Tls => f.write_str("tls"),
            DownReason::Rcode(code) => write!(f, "rcode {code}"),
            DownReason::AnswerMismatch => f.write_str("answer-mismatch"),
            DownReason::Protocol => f.write_str("protocol"),
            DownReason::ExitCode(code) => write!(f, "exit-code {code}"),
            DownReason::Signal(sig) => write!(f, "signal {sig}"),
            DownReason::Spawn => f.write_str("spawn"),
        }
    }
}

/// A failed probe: a typed reason for programs, a detail for humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: DownReason,
    pub detail: String,
}

impl Failure {
    pub fn new(reason: DownReason, detail: impl Into<String>) -> Self {
        Failure {
            reason,
            detail: detail.into(),
        }
    }

    /// Classifies a socket error: refused, timed out and unreachable are told apart because an
    /// operator acts differently on each.
    pub fn from_io(context: &str, err: &io::Error) -> Self {
        let reason = match err.kind() {
            io::ErrorKind::ConnectionRefused => DownReason::Refused,
            io::ErrorKind::TimedOut => DownReason::Timeout,
            io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
                DownReason::Unreachable
            }
            _ => DownReason::Io,
        };
        Failure::new(reason, format!("{context}: {err}"))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// Verdict of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    Up,
    Down(Failure),
}

impl Outcome {
    pub fn is_up(&self) -> bool {
        matches!(self, Outcome::Up)
    }
}

/// Result of one probe of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub outcome: Outcome,
    /// Time from the start of the probe to its verdict.
    pub latency: Duration,
    /// Weight reported by the target (exec checks with `dynamic_weight`); `None` leaves the
    /// configured weight alone.
    pub weight: Option<u32>,
}

impl ProbeResult {
    pub fn up(latency: Duration) -> Self {
        ProbeResult {
            outcome: Outcome::Up,
            latency,
            weight: None,
        }
    }

    pub fn down(failure: Failure, latency: Duration) -> Self {
        ProbeResult {
            outcome: Outcome::Down(failure),
            latency,
            weight: None,
        }
    }
}

/// Success of a probe as the kinds report it, before latency is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Up {
    pub weight: Option<u32>,
}

/// Future returned by [`Checker::probe`].
pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = ProbeResult> + Send + 'a>>;

/// One kind of health check, ready to probe.
///
/// A probe runs until it has a verdict; the caller bounds it with a timeout (the scheduler does,
/// or use [`probe_with_timeout`]). Dropping the future cancels the probe and releases its
/// resources (sockets closed, exec process group killed). The trait is object-safe so the daemon
/// can add its own kinds next to the built-in ones.
pub trait Checker: std::any::Any + Send + Sync + fmt::Debug {
    fn probe(&self, target: Target) -> ProbeFuture<'_>;
}

/// Runs a kind's probe body and measures its latency.
pub(crate) fn timed<'a, F>(body: F) -> ProbeFuture<'a>
where
    F: Future<Output = Result<Up, Failure>> + Send + 'a,
{
    Box::pin(async move {
        let start = Instant::now();
        let verdict = body.await;
        let latency = start.elapsed();
        match verdict {
            Ok(up) => ProbeResult {
                outcome: Outcome::Up,
                latency,
                weight: up.weight,
            },
            Err(failure) => ProbeResult::down(failure, latency),
        }
    })
}

/// Probes `target`, turning an overrun of `timeout` into [`DownReason::Timeout`].
pub async fn probe_with_timeout(
    checker: &dyn Checker,
    target: Target,
    timeout: Duration,
) -> ProbeResult {
    match tokio::time::timeout(timeout, checker.probe(target)).await {
        Ok(result) => result,
        Err(_) => ProbeResult::down(
            Failure::new(
                DownReason::Timeout,
                format!("no verdict within {} ms", timeout.as_millis()),
            ),
            timeout,
        ),
    }
}

/// A check spec was refused when built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error("invalid regex {pattern:?}: {source}")]
    Regex {
        pattern: String,
        #[source]
        source: regex::Error,
    },
    #[error("invalid {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

/// Parameters of one check, by kind. Hashable so identical checks can be shared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CheckSpec {
    Tcp(TcpSpec),
    Http(HttpSpec),
    Dns(DnsSpec),
    Smtp(SmtpSpec),
    Udp(UdpSpec),
    Exec(ExecSpec),
}

impl CheckSpec {
    /// Short kind name for logs and status (`tcp`, `http`, `https`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            CheckSpec::Tcp(_) => "tcp",
            CheckSpec::Http(spec) if spec.tls => "https",
            CheckSpec::Http(_) => "http",
            CheckSpec::Dns(_) => "dns",
            CheckSpec::Smtp(_) => "smtp",
            CheckSpec::Udp(_) => "udp",
            CheckSpec::Exec(_) => "exec",
        }
    }

    /// Validates the spec and prepares a checker.
    pub fn build(&self) -> Result<Arc<dyn Checker>, BuildError> {
        Ok(match self {
            CheckSpec::Tcp(spec) => Arc::new(spec.build()),
            CheckSpec::Http(spec) => Arc::new(spec.build()?),
            CheckSpec::Dns(spec) => Arc::new(spec.build()?),
            CheckSpec::Smtp(spec) => Arc::new(spec.build()?),
            CheckSpec::Udp(spec) => Arc::new(spec.build()?),
            CheckSpec::Exec(spec) => Arc::new(spec.build()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classified() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(
            Failure::from_io("connect", &refused).reason,
            DownReason::Refused
        );
        let other = io::Error::from(io::ErrorKind::BrokenPipe);
        let failure = Failure::from_io("write", &other);
        assert_eq!(failure.reason, DownReason::Io);
        assert!(failure.detail.starts_with("write: "));
    }

    #[derive(Debug)]
    struct Never;
    impl Checker for Never {
        fn probe(&self, _target: Target) -> ProbeFuture<'_> {
            timed(std::future::pending())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_overrun_probe_is_a_timeout() {
        let target = Target::new(SocketAddr::from(([127, 0, 0, 1], 1)));
        let result = probe_with_timeout(&Never, target, Duration::from_millis(250)).await;
        assert!(matches!(
            result.outcome,
            Outcome::Down(Failure {
                reason: DownReason::Timeout,
                ..
            })
        ));
        assert_eq!(result.latency, Duration::from_millis(250));
    }
}
