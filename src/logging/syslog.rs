//! The syslog sink: every log event the daemon's filter lets through, as one datagram.
//!
//! - To a local socket (`/dev/log`, where journald or rsyslog listens) the line is what
//!   syslog(3) writes, RFC 3164 §4.1: `<PRI>tandem[PID]: MESSAGE`. The timestamp is left out:
//!   the local daemon stamps what it receives (RFC 3164 §4.3.2), and the daemon needs no time
//!   zone database.
//! - To a remote collector over UDP the line is RFC 5424 §6 (with RFC 5426 transport):
//!   `<PRI>1 TIMESTAMP HOSTNAME tandem PID - - MESSAGE`, UTC timestamp with microseconds, the
//!   router id as HOSTNAME so a collector tells the two directors apart.
//!
//! MESSAGE is the event's message followed by its fields as `key=value`, the same stable
//! names as the other sinks (docs/alerts.md). Logging never blocks the daemon: lines go through
//! a bounded queue to a writer thread, which absorbs bursts (a local socket takes only about
//! ten datagrams before its reader catches up) and waits at most a second per line. A full
//! queue, or a line that cannot be sent, is dropped and counted in
//! `tandem_alerts_dropped_total{sink="syslog"}`. After a send error the socket is reconnected
//! once before the line is given up, so a restarted rsyslog is picked up again.

use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::config::{Syslog, SyslogAddress, SyslogFacility, SyslogLevel};

/// Longest line sent to a local socket (rsyslog's default maximum message size).
const MAX_LOCAL_LINE: usize = 8192;
/// Longest line sent over UDP: RFC 5426 §3.2 says every receiver takes 2048 octets.
const MAX_UDP_LINE: usize = 2048;
/// Lines waiting for the writer thread.
const QUEUE: usize = 4096;
/// Longest wait for the receiver to take one line.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// The tracing layer that writes to syslog.
pub struct SyslogLayer {
    settings: Syslog,
    hostname: String,
    pid: u32,
    /// To the writer thread, which ends when this layer (the last sender) is dropped.
    lines: SyncSender<String>,
    drops: Arc<Drops>,
}

/// Lines given up, shared with the writer thread.
#[derive(Debug)]
struct Drops {
    count: AtomicU64,
    metrics: Option<crate::metrics::Metrics>,
}

impl Drops {
    fn count(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if let Some(metrics) = &self.metrics {
            metrics.alert_dropped("syslog");
        }
    }
}

impl std::fmt::Debug for SyslogLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogLayer")
            .field("settings", &self.settings)
            .field("hostname", &self.hostname)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

enum Socket {
    Unix(UnixDatagram),
    Udp(UdpSocket),
}

impl Socket {
    fn connect(address: &SyslogAddress) -> std::io::Result<Socket> {
        match address {
            SyslogAddress::Unix(path) => {
                let socket = UnixDatagram::unbound()?;
                socket.connect(path)?;
                socket.set_write_timeout(Some(SEND_TIMEOUT))?;
                Ok(Socket::Unix(socket))
            }
            SyslogAddress::Udp(addr) => {
                let local: SocketAddr = if addr.is_ipv6() {
                    "[::]:0".parse().map_err(std::io::Error::other)?
                } else {
                    "0.0.0.0:0".parse().map_err(std::io::Error::other)?
                };
                let socket = UdpSocket::bind(local)?;
                socket.connect(addr)?;
                socket.set_write_timeout(Some(SEND_TIMEOUT))?;
                Ok(Socket::Udp(socket))
            }
        }
    }

    fn send(&self, line: &[u8]) -> std::io::Result<usize> {
        match self {
            Socket::Unix(s) => s.send(line),
            Socket::Udp(s) => s.send(line),
        }
    }
}

impl SyslogLayer {
    /// Opens the socket and starts the writer thread; an error (no `/dev/log`, bad address)
    /// is the caller's to report.
    pub fn connect(
        settings: &Syslog,
        hostname: &str,
        metrics: Option<crate::metrics::Metrics>,
    ) -> std::io::Result<SyslogLayer> {
        let socket = Socket::connect(&settings.address).map_err(|e| {
            std::io::Error::new(e.kind(), format!("syslog {}: {e}", settings.address))
        })?;
        let drops = Arc::new(Drops {
            count: AtomicU64::new(0),
            metrics,
        });
        let (lines, queue) = std::sync::mpsc::sync_channel(QUEUE);
        let writer = Writer {
            address: settings.address.clone(),
            socket,
            drops: drops.clone(),
        };
        std::thread::Builder::new()
            .name("tandem-syslog".into())
            .spawn(move || writer.run(queue))?;
        Ok(SyslogLayer {
            settings: settings.clone(),
            hostname: rfc5424_hostname(hostname),
            pid: std::process::id(),
            lines,
            drops,
        })
    }

    /// Whether this sink already is what `settings` and `hostname` ask for: a reload then
    /// keeps it (no new socket, no new writer thread).
    pub fn is_configured_as(&self, settings: &Syslog, hostname: &str) -> bool {
        self.settings == *settings && self.hostname == rfc5424_hostname(hostname)
    }

    /// Lines dropped so far (queue full, or the receiver gone).
    pub fn dropped(&self) -> u64 {
        self.drops.count.load(Ordering::Relaxed)
    }

    /// The whole datagram for one event.
    pub fn format(&self, level: Level, text: &str, now: SystemTime) -> String {
        let pri = priority(self.settings.facility, level);
        let (mut line, max) = match self.settings.address {
            SyslogAddress::Udp(_) => (
                format!(
                    "<{pri}>1 {} {} tandem {} - - ",
                    rfc3339_utc(now),
                    self.hostname,
                    self.pid
                ),
                MAX_UDP_LINE,
            ),
            _ => (format!("<{pri}>tandem[{}]: ", self.pid), MAX_LOCAL_LINE),
        };
        line.push_str(text);
        truncate_at_char(&mut line, max);
        line
    }

    fn send(&self, line: String) {
        match self.lines.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.drops.count(),
        }
    }
}

/// The thread that owns the socket.
struct Writer {
    address: SyslogAddress,
    socket: Socket,
    drops: Arc<Drops>,
}

impl Writer {
    fn run(mut self, queue: Receiver<String>) {
        while let Ok(line) = queue.recv() {
            self.write(line.as_bytes());
        }
    }

    fn write(&mut self, line: &[u8]) {
        if self.socket.send(line).is_ok() {
            return;
        }
        // The receiver may have restarted (ECONNREFUSED/ENOTCONN): reconnect once and retry.
        match Socket::connect(&self.address) {
            Ok(fresh) => {
                self.socket = fresh;
                if self.socket.send(line).is_err() {
                    self.drops.count();
                }
            }
            Err(_) => self.drops.count(),
        }
    }
}

impl<S: Subscriber> Layer<S> for SyslogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if !passes(self.settings.level, level) {
            return;
        }
        let mut text = MessageText::default();
        event.record(&mut text);
        let line = self.format(level, &text.finish(), SystemTime::now());
        self.send(line);
    }
}

/// Whether an event of `level` reaches a sink configured with `least`.
fn passes(least: SyslogLevel, level: Level) -> bool {
    let least = match least {
        SyslogLevel::Error => Level::ERROR,
        SyslogLevel::Warn => Level::WARN,
        SyslogLevel::Info => Level::INFO,
        _ => Level::DEBUG,
    };
    // tracing orders levels by verbosity: ERROR < WARN < INFO < DEBUG < TRACE.
    level <= least
}

/// PRI = facility × 8 + severity (RFC 5424 §6.2.1).
fn priority(facility: SyslogFacility, level: Level) -> u8 {
    let severity = match level {
        Level::ERROR => 3, // err
        Level::WARN => 4,  // warning
        Level::INFO => 6,  // info
        _ => 7,            // debug
    };
    facility.code() * 8 + severity
}

/// The message, then the fields as `key=value` (values with spaces, quotes or `=` quoted).
#[derive(Default)]
struct MessageText {
    message: String,
    fields: String,
}

impl MessageText {
    fn finish(self) -> String {
        let mut text = self.message;
        text.push_str(&self.fields);
        // Control characters would split or corrupt the line at the receiver.
        text.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    }

    fn field(&mut self, name: &str, value: &str) {
        let needs_quotes =
            value.is_empty() || value.contains([' ', '"', '=']) || value.contains(char::is_control);
        if needs_quotes {
            let _ = write!(self.fields, " {name}={value:?}");
        } else {
            let _ = write!(self.fields, " {name}={value}");
        }
    }
}

impl Visit for MessageText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.field(field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.field(field.name(), &format!("{value:?}"));
        }
    }
}

/// RFC 5424 §6.2.4: HOSTNAME is printable US-ASCII without spaces, at most 255 octets.
fn rfc5424_hostname(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    if cleaned.is_empty() {
        "-".to_string()
    } else {
        cleaned
    }
}

/// `2026-11-23T12:34:56.123456Z` (RFC 5424 §6.2.3, RFC 3339 in UTC).
fn rfc3339_utc(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn truncate_at_char(line: &mut String, max: usize) {
    if line.len() > max {
        let mut cut = max;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn layer(address: SyslogAddress, dir: &std::path::Path) -> (SyslogLayer, Option<UnixDatagram>) {
        let (address, receiver) = match address {
            SyslogAddress::Unix(_) => {
                let path = dir.join("log.sock");
                let receiver = UnixDatagram::bind(&path).unwrap();
                (SyslogAddress::Unix(path), Some(receiver))
            }
            other => (other, None),
        };
        let settings = Syslog {
            address,
            facility: SyslogFacility::Local3,
            level: SyslogLevel::Info,
        };
        (
            SyslogLayer::connect(&settings, "dir 1\u{e9}", None).unwrap(),
            receiver,
        )
    }

    /// A sink on a socket in `dir` and that socket's reader (5 s read timeout).
    fn local_layer(dir: &std::path::Path) -> (SyslogLayer, UnixDatagram) {
        let (layer, receiver) = layer(SyslogAddress::Unix("/unused".into()), dir);
        let receiver = receiver.unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        (layer, receiver)
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_436_096_123_456);
        assert_eq!(rfc3339_utc(t), "2026-11-23T12:14:56.123456Z");
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        // Leap day.
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339_utc(t), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn priority_is_facility_times_eight_plus_severity() {
        assert_eq!(priority(SyslogFacility::Daemon, Level::ERROR), 27);
        assert_eq!(priority(SyslogFacility::Daemon, Level::INFO), 30);
        assert_eq!(priority(SyslogFacility::Local7, Level::WARN), 188);
        assert_eq!(priority(SyslogFacility::User, Level::DEBUG), 15);
    }

    #[test]
    fn level_threshold() {
        assert!(passes(SyslogLevel::Warn, Level::ERROR));
        assert!(passes(SyslogLevel::Warn, Level::WARN));
        assert!(!passes(SyslogLevel::Warn, Level::INFO));
        assert!(passes(SyslogLevel::Debug, Level::DEBUG));
        assert!(!passes(SyslogLevel::Debug, Level::TRACE));
    }

    #[test]
    fn local_lines_are_rfc3164_and_remote_lines_rfc5424() {
        let dir = tempfile::tempdir().unwrap();
        let (local, _rx) = layer(SyslogAddress::Unix("/unused".into()), dir.path());
        let line = local.format(Level::WARN, "real server down service=web", UNIX_EPOCH);
        assert_eq!(
            line,
            format!(
                "<156>tandem[{}]: real server down service=web",
                std::process::id()
            )
        );
        let (remote, _) = layer(
            SyslogAddress::Udp("127.0.0.1:9".parse().unwrap()),
            dir.path(),
        );
        let line = remote.format(Level::INFO, "hello", UNIX_EPOCH);
        assert_eq!(
            line,
            format!(
                "<158>1 1970-01-01T00:00:00.000000Z dir1 tandem {} - - hello",
                std::process::id()
            )
        );
    }

    #[test]
    fn long_lines_are_cut_on_a_character_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let (remote, _) = layer(
            SyslogAddress::Udp("127.0.0.1:9".parse().unwrap()),
            dir.path(),
        );
        let line = remote.format(Level::INFO, &"\u{e9}".repeat(2000), UNIX_EPOCH);
        assert!(line.len() <= MAX_UDP_LINE && line.len() > MAX_UDP_LINE - 2);
    }

    #[test]
    fn a_burst_larger_than_the_socket_queue_arrives_whole() {
        use tracing_subscriber::layer::SubscriberExt;
        let dir = tempfile::tempdir().unwrap();
        let (layer, receiver) = local_layer(dir.path());
        let subscriber = tracing_subscriber::registry().with(layer);
        // A local datagram socket queues about 10 lines (net.unix.max_dgram_qlen); the writer
        // thread waits for the reader instead of dropping.
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..200 {
                tracing::info!(i, "burst");
            }
        });
        let mut buf = [0u8; 512];
        for i in 0..200 {
            let n = receiver.recv(&mut buf).unwrap();
            assert!(
                std::str::from_utf8(&buf[..n])
                    .unwrap()
                    .ends_with(&format!("burst i={i}")),
                "line {i}"
            );
        }
    }

    #[test]
    fn events_arrive_as_one_datagram_with_fields_and_drops_are_counted() {
        use tracing_subscriber::layer::SubscriberExt;
        let dir = tempfile::tempdir().unwrap();
        let (layer, receiver) = local_layer(dir.path());
        let layer = std::sync::Arc::new(layer);
        let subscriber = tracing_subscriber::registry().with(ArcLayer(layer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                event = "real_server",
                service = "web",
                real = "10.0.0.1:80",
                reason = "connect timeout",
                "real server down"
            );
            tracing::debug!("below the configured level: not sent");
            tracing::error!(errors = 2_u64, "line one\nline two");
        });
        let mut buf = [0u8; 4096];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            format!(
                "<156>tandem[{}]: real server down event=real_server service=web real=10.0.0.1:80 reason=\"connect timeout\"",
                std::process::id()
            )
        );
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            format!(
                "<155>tandem[{}]: line one line two errors=2",
                std::process::id()
            )
        );
        assert_eq!(layer.dropped(), 0);

        // The receiver goes away: lines are dropped and counted, nothing blocks.
        drop(receiver);
        std::fs::remove_file(dir.path().join("log.sock")).unwrap();
        let subscriber = tracing_subscriber::registry().with(ArcLayer(layer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("lost");
            tracing::info!("lost too");
        });
        // The writer thread gives them up (bounded wait).
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while layer.dropped() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(layer.dropped(), 2);
    }

    /// Lets a test keep a handle on the layer it installed.
    struct ArcLayer(std::sync::Arc<SyslogLayer>);

    impl<S: Subscriber> Layer<S> for ArcLayer {
        fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
            self.0.on_event(event, ctx);
        }
    }
}
