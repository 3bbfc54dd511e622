//! HTTP and HTTPS checks (keepalived `HTTP_GET` / `SSL_GET`).
//!
//! The probe always connects to the real server's own address and port, even when `host` names a
//! virtual host: `host` only sets the `Host` header and TLS SNI. Redirects are not followed (a
//! 3xx is judged against `expect_status` like any status), proxies are never used (proxy
//! environment variables are ignored: a health check must reach the real server, not a proxy),
//! and each probe opens a fresh connection so a dead server is not hidden behind a pooled one.

use std::collections::HashMap;
use std::error::Error as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Once, OnceLock};

use md5::{Digest, Md5};
use regex::bytes::Regex;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::checker::{BuildError, Checker, DownReason, Failure, ProbeFuture, Target, Up, timed};

/// Bodies are read up to this many bytes; `body_regex` and `digest` see only this prefix, so a
/// misbehaving server streaming forever cannot exhaust the director's memory.
pub const MAX_BODY: usize = 1 << 20;

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
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|e| BuildError::Invalid {
                    field: "headers",
                    message: format!("{name:?}: {e}"),
                })?;
            let value = HeaderValue::from_str(value).map_err(|e| BuildError::Invalid {
                field: "headers",
                message: format!("{value:?}: {e}"),
            })?;
            headers.append(name, value);
        }
        if let Some(host) = &self.host
            && (host.is_empty() || host.contains(['/', ' ', '@', '?', '#']))
        {
            return Err(BuildError::Invalid {
                field: "host",
                message: format!("{host:?} is not a host name"),
            });
        }
        let host_is_name = self
            .host
            .as_deref()
            .is_some_and(|h| h.trim_matches(['[', ']']).parse::<IpAddr>().is_err());
        // Loading the trust anchors here surfaces TLS errors at registration, not at probe time
        // (headers were validated above; the client itself is built on the first probe).
        let tls = shared_tls_config(self.tls_verify)?;
        let checker = HttpChecker {
            tls,
            spec: self.clone(),
            headers,
            body_regex,
            digest,
            host_is_name,
            clients: Mutex::new(HashMap::new()),
        };
        Ok(checker)
    }
}

/// Ready HTTP(S) check.
#[derive(Debug)]
pub struct HttpChecker {
    spec: HttpSpec,
    tls: rustls::ClientConfig,
    headers: HeaderMap,
    body_regex: Option<Regex>,
    digest: Option<String>,
    /// `host` is a DNS name: the URL carries it (Host header and SNI follow) and the client maps
    /// it to the target address instead of resolving it.
    host_is_name: bool,
    /// One client per target address (the scheduler gives each checker exactly one target), so
    /// the name-to-target override can be baked into the client.
    clients: Mutex<HashMap<SocketAddr, reqwest::Client>>,
}

impl HttpChecker {
    pub fn new(spec: &HttpSpec) -> Result<Self, BuildError> {
        spec.build()
    }

    fn client_builder(&self) -> reqwest::ClientBuilder {
        install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .http1_only()
            .user_agent(concat!("tandem-checkers/", env!("CARGO_PKG_VERSION")))
            .default_headers(self.headers.clone())
            .tls_backend_preconfigured(self.tls.clone());
        if let Some(source) = self.spec.source {
            builder = builder.local_address(source);
        }
        builder
    }

    fn client_for(&self, addr: SocketAddr) -> Result<reqwest::Client, Failure> {
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| Failure::new(DownReason::Io, "HTTP client cache poisoned"))?;
        if let Some(client) = clients.get(&addr) {
            return Ok(client.clone());
        }
        let mut builder = self.client_builder();
        if let (true, Some(host)) = (self.host_is_name, &self.spec.host) {
            builder = builder.resolve(host, addr);
        }
        let client = builder
            .build()
            .map_err(|e| Failure::new(DownReason::Io, format!("HTTP client: {e}")))?;
        clients.insert(addr, client.clone());
        Ok(client)
    }

    fn url(&self, addr: SocketAddr) -> String {
        let scheme = if self.spec.tls { "https" } else { "http" };
        match (&self.spec.host, self.host_is_name) {
            (Some(host), true) => format!("{scheme}://{host}:{}{}", addr.port(), self.spec.path),
            _ => format!("{scheme}://{addr}{}", self.spec.path),
        }
    }

    fn status_ok(&self, code: u16) -> bool {
        if self.spec.expect_status.is_empty() {
            (200..=299).contains(&code)
        } else {
            self.spec.expect_status.iter().any(|r| r.contains(code))
        }
    }

    async fn run(&self, target: Target) -> Result<Up, Failure> {
        let client = self.client_for(target.addr)?;
        let method = match self.spec.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Head => reqwest::Method::HEAD,
        };
        let mut request = client.request(method, self.url(target.addr));
        if let (Some(host), false) = (&self.spec.host, self.host_is_name) {
            // An IP-literal virtual host: the URL already targets the real server, only the
            // header differs.
            request = request.header(reqwest::header::HOST, host);
        }
        let mut response = request.send().await.map_err(|e| classify(&e))?;
        let code = response.status().as_u16();
        if !self.status_ok(code) {
            return Err(Failure::new(
                DownReason::BadStatus(code),
                format!("status {code} not in the expected set"),
            ));
        }
        if self.body_regex.is_none() && self.digest.is_none() {
            return Ok(Up::default());
        }
        let mut body = Vec::new();
        while body.len() < MAX_BODY {
            match response.chunk().await.map_err(|e| classify(&e))? {
                Some(chunk) => {
                    let room = MAX_BODY - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                None => break,
            }
        }
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

/// The TLS client configuration shared by every HTTPS check with the same `tls_verify`.
///
/// Built once per process: loading the system trust store costs milliseconds, which for
/// thousands of checks (one HTTP client each) would dominate start-up.
fn shared_tls_config(verify: bool) -> Result<rustls::ClientConfig, BuildError> {
    static VERIFYING: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();
    static ACCEPTING: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();
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
        client_config(provider, verifier)
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

/// Maps a reqwest error to a typed reason by walking its cause chain: TLS failures come out of
/// rustls (possibly wrapped in an `io::Error`), refusals out of the connect `io::Error`.
fn classify(err: &reqwest::Error) -> Failure {
    let mut detail = err.to_string();
    let mut reason = if err.is_timeout() {
        DownReason::Timeout
    } else {
        DownReason::Io
    };
    let mut cause: Option<&(dyn std::error::Error + 'static)> = err.source();
    while let Some(current) = cause {
        detail.push_str(": ");
        detail.push_str(&current.to_string());
        if current.downcast_ref::<rustls::Error>().is_some() {
            reason = DownReason::Tls;
        } else if let Some(io) = current.downcast_ref::<std::io::Error>() {
            if wraps_rustls(io) {
                reason = DownReason::Tls;
            } else if reason == DownReason::Io {
                reason = Failure::from_io("", io).reason;
            }
        }
        cause = current.source();
    }
    if reason == DownReason::Io && err.is_decode() {
        reason = DownReason::Protocol;
    }
    Failure::new(reason, detail)
}

/// True when `err` wraps a rustls error, possibly through nested `io::Error`s (tokio-rustls
/// wraps it once, hyper-util once more; `io::Error::source` skips the wrapped error itself).
fn wraps_rustls(err: &std::io::Error) -> bool {
    let mut inner = err.get_ref();
    // Bounded: real chains are two levels deep.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_matches_the_rfc_1321_test_vector() {
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn default_status_set_is_2xx_and_lists_override_it() {
        let checker = HttpSpec::default().build().map_err(|e| e.to_string());
        let checker = checker.unwrap_or_else(|e| panic!("{e}"));
        assert!(checker.status_ok(204));
        assert!(!checker.status_ok(301));
        let spec = HttpSpec {
            expect_status: vec![StatusRange::single(301), StatusRange::range(500, 503)],
            ..HttpSpec::default()
        };
        let checker = spec.build().unwrap_or_else(|e| panic!("{e}"));
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
        ];
        for spec in bad {
            assert!(spec.build().is_err(), "{spec:?} accepted");
        }
    }

    #[test]
    fn url_keeps_the_target_address_unless_host_is_a_name() {
        let addr: SocketAddr = "[fd00::5]:8443".parse().unwrap_or_else(|e| panic!("{e}"));
        let named = HttpSpec {
            tls: true,
            host: Some("www.example.test".into()),
            path: "/h".into(),
            ..HttpSpec::default()
        };
        let named = named.build().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(named.url(addr), "https://www.example.test:8443/h");
        let literal = HttpSpec {
            host: Some("192.0.2.1".into()),
            ..HttpSpec::default()
        };
        let literal = literal.build().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(literal.url(addr), "http://[fd00::5]:8443/");
    }
}
