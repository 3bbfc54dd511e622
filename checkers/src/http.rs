//! HTTP and HTTPS checks (keepalived `HTTP_GET` / `SSL_GET`).
//!
//! The probe always connects to the real server's own address and port, even when `host` names a
//! virtual host: `host` only sets the `Host` header and TLS SNI. Redirects are not followed (a
//! 3xx is judged against `expect_status` like any status), proxies are never used (a health
//! check must reach the real server, not a proxy), and each probe opens a fresh connection
//! (`Connection: close`) so a dead server is not hidden behind a pooled one.
//!
//! The client is a minimal HTTP/1.1 one of our own ([`response`] reads the answer): a check
//! writes one request and reads a status line, and the body only for `body_regex` / `digest`.
//! A general-purpose client (reqwest/hyper: a client per target, a spawned connection task per
//! request, header maps) cost 2–3.5× keepalived's CPU per check and 5–10 KB per real server.

mod response;

use std::fmt::Write as _;
use std::future::Future as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Once, OnceLock};

use md5::{Digest, Md5};
use regex::bytes::Regex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::checker::{BuildError, Checker, DownReason, Failure, ProbeFuture, Target, Up, timed};
use response::Input;

/// Bodies are read up to this many bytes; `body_regex` and `digest` see only this prefix, so a
/// misbehaving server streaming forever cannot exhaust the director's memory.
pub const MAX_BODY: usize = 1 << 20;

/// `User-Agent` of the probes (unless the spec's headers set one).
const USER_AGENT: &str = concat!("tandem-checkers/", env!("CARGO_PKG_VERSION"));

/// HTTP method of the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum HttpMethod {
    #[default]
    Get,
    /// HEAD: no body is read, so `body_regex` and `digest` are refused.
    Head,
}

/// An inclusive range of accepted status codes (`200..=299`, or one code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusRange {
    pub first: u16,
    pub last: u16,
}

impl StatusRange {
    pub fn single(code: u16) -> Self {
        StatusRange {
            first: code,
            last: code,
        }
    }

    pub fn range(first: u16, last: u16) -> Self {
        StatusRange { first, last }
    }

    fn contains(&self, code: u16) -> bool {
        (self.first..=self.last).contains(&code)
    }
}

/// Parameters of an HTTP(S) check.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpSpec {
    /// HTTPS when true.
    pub tls: bool,
    pub method: HttpMethod,
    /// Request path with optional query (`/health?full=1`).
    pub path: String,
    /// Virtual host: `Host` header and TLS SNI. `None` uses the target address.
    pub host: Option<String>,
    /// Accepted statuses; empty means 200–299.
    pub expect_status: Vec<StatusRange>,
    /// Regex the body (first [`MAX_BODY`] bytes) must match.
    pub body_regex: Option<String>,
    /// Expected MD5 of the body as hex, as keepalived's `digest` / `genhash` print it.
    pub digest: Option<String>,
    /// Verify the server certificate against the system roots and `host` (default). Off accepts
    /// any certificate, e.g. a real server's self-signed one.
    pub tls_verify: bool,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Source address to bind.
    pub source: Option<IpAddr>,
}

impl Default for HttpSpec {
    fn default() -> Self {
        HttpSpec {
            tls: false,
            method: HttpMethod::Get,
            path: "/".into(),
            host: None,
            expect_status: Vec::new(),
            body_regex: None,
            digest: None,
            tls_verify: true,
            headers: Vec::new(),
            source: None,
        }
    }
}

/// Installs ring as rustls' process-wide crypto provider (once; a provider installed earlier by
/// the embedding program is kept).
pub fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Err only means another provider is already installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl HttpSpec {
    pub(crate) fn build(&self) -> Result<HttpChecker, BuildError> {
        if !self.path.starts_with('/') {
            return Err(BuildError::Invalid {
                field: "path",
                message: format!("{:?} must start with '/'", self.path),
            });
        }
        if self.method == HttpMethod::Head && (self.body_regex.is_some() || self.digest.is_some()) {
            return Err(BuildError::Invalid {
                field: "method",
                message: "HEAD has no body: body_regex and digest need GET".into(),
            });
        }
        let body_regex = self
            .body_regex
            .as_deref()
            .map(|pattern| {
                Regex::new(pattern).map_err(|source| BuildError::Regex {
                    pattern: pattern.into(),
                    source,
                })
            })
            .transpose()?;
        let digest = self
            .digest
            .as_deref()
            .map(|hex| {
                let hex = hex.trim().to_ascii_lowercase();
                if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Ok(hex)
                } else {
                    Err(BuildError::Invalid {
                        field: "digest",
                        message: format!("{hex:?} is not 32 hex digits (an MD5)"),
                    })
                }
            })
            .transpose()?;
        for (name, value) in &self.headers {
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return Err(BuildError::Invalid {
                    field: "headers",
                    message: format!("{name:?}: invalid HTTP header name"),
                });
            }
            // Visible ASCII, space and tab (RFC 9110 §5.5; what hyper's HeaderValue accepted).
            if !value
                .bytes()
                .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
            {
                return Err(BuildError::Invalid {
                    field: "headers",
                    message: format!("{value:?}: invalid HTTP header value"),
                });
            }
        }
        if let Some(host) = &self.host
            && (host.is_empty()
                || host.contains(['/', ' ', '@', '?', '#'])
                || !host.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(BuildError::Invalid {
                field: "host",
                message: format!("{host:?} is not a host name"),
            });
        }
        let server_name = match self.host.as_deref() {
            Some(host) if host.trim_matches(['[', ']']).parse::<IpAddr>().is_err() => Some(
                ServerName::try_from(host.to_string()).map_err(|e| BuildError::Invalid {
                    field: "host",
                    message: format!("{host:?}: {e}"),
                })?,
            ),
            _ => None,
        };
        // Loading the trust anchors here surfaces TLS errors at registration, not at probe time.
        let tls = if self.tls {
            Some(shared_tls_config(self.tls_verify)?)
        } else {
            None
        };
        Ok(HttpChecker {
            request: Request::new(self),
            tls,
            server_name,
            head: self.method == HttpMethod::Head,
            expect_status: self.expect_status.clone(),
            body_regex,
            digest,
            source: self.source,
        })
    }
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The request of a check, rendered once at build but for the `Host` header, whose default
/// (the target's address and port) is only known per probe.
#[derive(Debug)]
struct Request {
    /// Request line.
    start: String,
    host: HostHeader,
    /// The other headers and the blank line.
    rest: String,
    tls: bool,
}

#[derive(Debug)]
enum HostHeader {
    /// The spec's headers set `Host` (it is in `rest`).
    Custom,
    /// An IP-literal virtual host, sent as given.
    Fixed(String),
    /// The virtual host name, or else the target's address, with the target's port unless it
    /// is the scheme's default (as in a URL, RFC 9110 §7.2).
    Target,
}

impl Request {
    fn new(spec: &HttpSpec) -> Self {
        let has = |name: &str| {
            spec.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        let method = match spec.method {
            HttpMethod::Get => "GET",
            HttpMethod::Head => "HEAD",
        };
        let start = format!("{method} {} HTTP/1.1\r\n", request_target(&spec.path));
        let host = match &spec.host {
            _ if has("host") => HostHeader::Custom,
            Some(host) if host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() => {
                HostHeader::Fixed(host.clone())
            }
            _ => HostHeader::Target,
        };
        let mut rest = String::new();
        if !has("user-agent") {
            let _ = write!(rest, "User-Agent: {USER_AGENT}\r\n");
        }
        if !has("accept") {
            rest.push_str("Accept: */*\r\n");
        }
        for (name, value) in &spec.headers {
            let _ = write!(rest, "{name}: {value}\r\n");
        }
        if !has("connection") {
            rest.push_str("Connection: close\r\n");
        }
        rest.push_str("\r\n");
        Request {
            start,
            host,
            rest,
            tls: spec.tls,
        }
    }

    /// The bytes to send to `addr`; `name` is the spec's host when it is a DNS name.
    fn render(&self, addr: SocketAddr, name: Option<&str>) -> Vec<u8> {
        let mut out = String::with_capacity(self.start.len() + self.rest.len() + 64);
        out.push_str(&self.start);
        match &self.host {
            HostHeader::Custom => {}
            HostHeader::Fixed(host) => {
                let _ = write!(out, "Host: {host}\r\n");
            }
            HostHeader::Target => {
                let _ = match (name, addr.ip()) {
                    (Some(name), _) => write!(out, "Host: {name}"),
                    (None, IpAddr::V4(ip)) => write!(out, "Host: {ip}"),
                    (None, IpAddr::V6(ip)) => write!(out, "Host: [{ip}]"),
                };
                let default_port = if self.tls { 443 } else { 80 };
                if addr.port() != default_port {
                    let _ = write!(out, ":{}", addr.port());
                }
                out.push_str("\r\n");
            }
        }
        out.push_str(&self.rest);
        out.into_bytes()
    }
}

/// The path as a request target: the fragment is dropped and bytes that may not appear in one
/// (controls, space, non-ASCII) are percent-encoded, as a URL parser does.
fn request_target(path: &str) -> String {
    let path = path.split('#').next().unwrap_or(path);
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_graphic() {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Ready HTTP(S) check.
#[derive(Debug)]
pub struct HttpChecker {
    request: Request,
    /// HTTPS: the shared client configuration.
    tls: Option<Arc<rustls::ClientConfig>>,
    /// `host` when it is a DNS name: `Host` header and SNI. Otherwise the certificate is checked
    /// against the target's address and no SNI is sent.
    server_name: Option<ServerName<'static>>,
    head: bool,
    expect_status: Vec<StatusRange>,
    body_regex: Option<Regex>,
    digest: Option<String>,
    source: Option<IpAddr>,
}

impl HttpChecker {
    pub fn new(spec: &HttpSpec) -> Result<Self, BuildError> {
        spec.build()
    }

    fn status_ok(&self, code: u16) -> bool {
        if self.expect_status.is_empty() {
            (200..=299).contains(&code)
        } else {
            self.expect_status.iter().any(|r| r.contains(code))
        }
    }

    fn host_name(&self) -> Option<&str> {
        match &self.server_name {
            Some(ServerName::DnsName(name)) => Some(name.as_ref()),
            _ => None,
        }
    }

    async fn run(&self, target: Target) -> Result<Up, Failure> {
        let request = self.request.render(target.addr, self.host_name());
        let stream = crate::tcp::connect(target.addr, self.source).await?;
        // Closed with a RST once the verdict is in (SO_LINGER 0): the server has answered and
        // closed its side (`Connection: close`), and the RST frees its socket at once instead of
        // leaving it in TIME_WAIT / FIN_WAIT2 for every probe, and spares the FIN/ACK exchange.
        socket2::SockRef::from(&stream)
            .set_linger(Some(std::time::Duration::ZERO))
            .map_err(|e| Failure::from_io("setsockopt", &e))?;
        match &self.tls {
            None => self.exchange(stream, &request).await,
            Some(config) => {
                let name = self
                    .server_name
                    .clone()
                    .unwrap_or_else(|| ServerName::IpAddress(target.addr.ip().into()));
                let stream = tokio_rustls::TlsConnector::from(Arc::clone(config))
                    .connect(name, stream)
                    .await
                    .map_err(|e| io_failure("TLS handshake", &e))?;
                self.exchange(stream, &request).await
            }
        }
    }

    /// Sends the request and judges the response.
    async fn exchange<S>(&self, mut stream: S, request: &[u8]) -> Result<Up, Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        stream
            .write_all(request)
            .await
            .map_err(|e| io_failure("write", &e))?;
        stream.flush().await.map_err(|e| io_failure("write", &e))?;
        self.judge(Input::new(stream)).await
    }

    /// The request of a probe of `target`, for a caller that does the I/O itself.
    pub(crate) fn request_for(&self, target: Target) -> Vec<u8> {
        self.request.render(target.addr, self.host_name())
    }

    /// Judges the response bytes received so far on a plain connection: `None` while the
    /// verdict needs more bytes (never once `closed`, the server having ended the stream).
    ///
    /// This is the same reader and judgement as the async exchange, run over the bytes at hand
    /// (a stream that is "pending" when they run out), so the scheduler's own event loop and
    /// the tokio path cannot disagree on a response.
    pub(crate) fn judge_received(
        &self,
        received: &[u8],
        closed: bool,
    ) -> Option<Result<Up, Failure>> {
        let judging = self.judge(Input::new(Received {
            bytes: received,
            closed,
        }));
        let mut judging = std::pin::pin!(judging);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match judging.as_mut().poll(&mut context) {
            std::task::Poll::Ready(verdict) => Some(verdict),
            // The reader reports a closed stream as an end, so this cannot happen today; it
            // keeps the promise above (a caller looping until a verdict always gets one).
            std::task::Poll::Pending if closed => Some(Err(Failure::new(
                DownReason::Io,
                "connection closed before a verdict",
            ))),
            std::task::Poll::Pending => None,
        }
    }

    /// Judges the response read from `input`: status, then the body when the check looks at it.
    async fn judge<R: AsyncRead + Unpin>(&self, mut input: Input<R>) -> Result<Up, Failure> {
        let (code, framing) = input.head(self.head).await?;
        if !self.status_ok(code) {
            return Err(Failure::new(
                DownReason::BadStatus(code),
                format!("status {code} not in the expected set"),
            ));
        }
        if self.body_regex.is_none() && self.digest.is_none() {
            return Ok(Up::default());
        }
        let body = input.body(framing, MAX_BODY).await?;
        if let Some(regex) = &self.body_regex
            && !regex.is_match(&body)
        {
            return Err(Failure::new(
                DownReason::BodyMismatch,
                format!(
                    "body ({} bytes) does not match {}",
                    body.len(),
                    regex.as_str()
                ),
            ));
        }
        if let Some(expected) = &self.digest {
            let actual = md5_hex(&body);
            if &actual != expected {
                return Err(Failure::new(
                    DownReason::DigestMismatch,
                    format!("body md5 {actual}, expected {expected}"),
                ));
            }
        }
        Ok(Up::default())
    }
}

/// Bytes already received, as a stream: they are read once, then the stream ends (`closed`)
/// or is pending (more may come, the caller will judge again).
struct Received<'a> {
    bytes: &'a [u8],
    closed: bool,
}

impl AsyncRead for Received<'_> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.bytes.is_empty() {
            return if self.closed {
                std::task::Poll::Ready(Ok(()))
            } else {
                std::task::Poll::Pending
            };
        }
        let n = self.bytes.len().min(buf.remaining());
        let (now, later) = self.bytes.split_at(n);
        buf.put_slice(now);
        self.bytes = later;
        std::task::Poll::Ready(Ok(()))
    }
}

/// An I/O error of the exchange: a TLS failure (a rustls error wrapped by tokio-rustls) is
/// [`DownReason::Tls`], the others are classified as socket errors.
fn io_failure(context: &str, err: &std::io::Error) -> Failure {
    if wraps_rustls(err) {
        Failure::new(DownReason::Tls, format!("{context}: {err}"))
    } else {
        Failure::from_io(context, err)
    }
}

/// True when `err` wraps a rustls error, possibly through nested `io::Error`s.
fn wraps_rustls(err: &std::io::Error) -> bool {
    let mut inner = err.get_ref();
    // Bounded: real chains are one or two levels deep.
    for _ in 0..8 {
        let Some(current) = inner else {
            return false;
        };
        if current.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        inner = current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
    }
    false
}

impl Checker for HttpChecker {
    fn probe(&self, target: Target) -> ProbeFuture<'_> {
        timed(self.run(target))
    }
}

/// The TLS client configuration shared by every HTTPS check with the same `tls_verify`.
///
/// Built once per process: loading the system trust store costs milliseconds, which for
/// thousands of checks would dominate start-up; one `Arc` is shared by all of them.
fn shared_tls_config(verify: bool) -> Result<Arc<rustls::ClientConfig>, BuildError> {
    static VERIFYING: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    static ACCEPTING: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    let cell = if verify { &VERIFYING } else { &ACCEPTING };
    cell.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = if verify {
            Arc::new(
                rustls_platform_verifier::Verifier::new(Arc::clone(&provider))
                    .map_err(|e| format!("system trust store: {e}"))?,
            )
        } else {
            Arc::new(AcceptAnyCertificate(Arc::clone(&provider)))
        };
        client_config(provider, verifier).map(Arc::new)
    })
    .clone()
    .map_err(|message| BuildError::Invalid {
        field: "tls",
        message,
    })
}

/// HTTP/1.1 only, no client certificate, and no session resumption: every probe does a full
/// handshake and verifies the certificate it is served today (a resumed TLS 1.3 session skips
/// certificate verification, which would hide an expired certificate).
fn client_config(
    provider: Arc<rustls::crypto::CryptoProvider>,
    verifier: Arc<dyn ServerCertVerifier>,
) -> Result<rustls::ClientConfig, String> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// `tls_verify: false`: any certificate is accepted (a real server's self-signed one), but the
/// handshake signatures are still checked, so the session is at least bound to the key the
/// server presented.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// MD5 of `body` in lowercase hex, as keepalived's `genhash` prints it.
pub fn md5_hex(body: &[u8]) -> String {
    Md5::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(spec: HttpSpec) -> HttpChecker {
        spec.build().unwrap_or_else(|e| panic!("{e}"))
    }

    fn request(checker: &HttpChecker, addr: &str) -> String {
        let addr: SocketAddr = addr.parse().unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8_lossy(&checker.request.render(addr, checker.host_name())).into_owned()
    }

    #[test]
    fn md5_matches_the_rfc_1321_test_vector() {
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn default_status_set_is_2xx_and_lists_override_it() {
        let checker = build(HttpSpec::default());
        assert!(checker.status_ok(204));
        assert!(!checker.status_ok(301));
        let checker = build(HttpSpec {
            expect_status: vec![StatusRange::single(301), StatusRange::range(500, 503)],
            ..HttpSpec::default()
        });
        assert!(checker.status_ok(301) && checker.status_ok(502));
        assert!(!checker.status_ok(200) && !checker.status_ok(504));
    }

    #[test]
    fn bad_specs_are_refused_at_build() {
        let bad = [
            HttpSpec {
                path: "health".into(),
                ..HttpSpec::default()
            },
            HttpSpec {
                body_regex: Some("(".into()),
                ..HttpSpec::default()
            },
            HttpSpec {
                digest: Some("xyz".into()),
                ..HttpSpec::default()
            },
            HttpSpec {
                method: HttpMethod::Head,
                digest: Some("900150983cd24fb0d6963f7d28e17f72".into()),
                ..HttpSpec::default()
            },
            HttpSpec {
                headers: vec![("bad header".into(), "v".into())],
                ..HttpSpec::default()
            },
            HttpSpec {
                headers: vec![("X-Ok".into(), "line\r\nInjected: 1".into())],
                ..HttpSpec::default()
            },
            HttpSpec {
                host: Some("www.example.test\r\nX: 1".into()),
                ..HttpSpec::default()
            },
        ];
        for spec in bad {
            assert!(spec.build().is_err(), "{spec:?} accepted");
        }
    }

    #[test]
    fn host_header_is_the_virtual_host_or_the_target_with_a_non_default_port() {
        let plain = build(HttpSpec::default());
        assert!(request(&plain, "10.0.0.5:80").contains("\r\nHost: 10.0.0.5\r\n"));
        assert!(request(&plain, "10.0.0.5:8080").contains("\r\nHost: 10.0.0.5:8080\r\n"));
        assert!(request(&plain, "[fd00::5]:8080").contains("\r\nHost: [fd00::5]:8080\r\n"));
        let named = build(HttpSpec {
            tls: true,
            tls_verify: false,
            host: Some("www.example.test".into()),
            path: "/h".into(),
            ..HttpSpec::default()
        });
        assert_eq!(named.host_name(), Some("www.example.test"));
        let sent = request(&named, "[fd00::5]:8443");
        assert!(sent.starts_with("GET /h HTTP/1.1\r\nHost: www.example.test:8443\r\n"));
        assert!(request(&named, "[fd00::5]:443").contains("\r\nHost: www.example.test\r\n"));
        let literal = build(HttpSpec {
            host: Some("192.0.2.1".into()),
            ..HttpSpec::default()
        });
        assert_eq!(literal.host_name(), None);
        assert!(request(&literal, "[fd00::5]:8443").contains("\r\nHost: 192.0.2.1\r\n"));
    }

    #[test]
    fn request_has_defaults_custom_headers_and_closes_the_connection() {
        let checker = build(HttpSpec {
            method: HttpMethod::Head,
            path: "/a b?q=1#frag".into(),
            headers: vec![
                ("X-Tandem".into(), "1".into()),
                ("accept".into(), "text/plain".into()),
            ],
            ..HttpSpec::default()
        });
        let sent = request(&checker, "10.0.0.5:80");
        assert_eq!(
            sent,
            format!(
                "HEAD /a%20b?q=1 HTTP/1.1\r\nHost: 10.0.0.5\r\nUser-Agent: {USER_AGENT}\r\n\
                 X-Tandem: 1\r\naccept: text/plain\r\nConnection: close\r\n\r\n"
            )
        );
        let custom_host = build(HttpSpec {
            host: Some("ignored.test".into()),
            headers: vec![("Host".into(), "mine.test".into())],
            ..HttpSpec::default()
        });
        let sent = request(&custom_host, "10.0.0.5:80");
        assert_eq!(sent.matches("Host:").count(), 1, "{sent}");
        assert!(sent.contains("\r\nHost: mine.test\r\n"));
    }
}
