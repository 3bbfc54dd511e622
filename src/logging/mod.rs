//! Log output: journald when started by systemd with its journal on stderr (`JOURNAL_STREAM`),
//! else text or JSON lines on stderr; plus an optional syslog sink (`alerts.syslog`) that the
//! configuration turns on, off or re-points at reload. Events carry structured fields (`vrid=`,
//! `service=`, `real=`) so every form stays machine-readable.

pub mod syslog;

use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

use crate::cli::LogFormat;
use syslog::SyslogLayer;

/// Swaps the syslog sink of the installed subscriber (set once by [`init`]).
static SYSLOG: OnceLock<reload::Handle<Option<SyslogLayer>, Registry>> = OnceLock::new();

/// Installs the global subscriber. `RUST_LOG` overrides the default `info` level, for every
/// sink. Syslog starts off; [`configure_syslog`] turns it on once the configuration is read.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (syslog, handle) = reload::Layer::new(None::<SyslogLayer>);
    let _ = SYSLOG.set(handle);
    let base = tracing_subscriber::registry().with(syslog).with(filter);
    if std::env::var_os("JOURNAL_STREAM").is_some()
        && let Ok(journald) = tracing_journald::layer()
    {
        let _ = base
            .with(journald.with_syslog_identifier("tandem".into()))
            .try_init();
        return;
    }
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let stderr = match format {
        LogFormat::Json => stderr.json().flatten_event(true).boxed(),
        _ => stderr.boxed(),
    };
    let _ = base.with(stderr).try_init();
}

/// Points the syslog sink at `config`, or turns it off (`None`). Called at start and at each
/// reload that succeeded. An unreachable socket is an error for the caller to log; the
/// previous sink is then kept.
pub fn configure_syslog(
    config: Option<&crate::config::Syslog>,
    hostname: &str,
    metrics: Option<crate::metrics::Metrics>,
) -> std::io::Result<()> {
    let Some(handle) = SYSLOG.get() else {
        return Ok(());
    };
    // Unchanged settings keep the open socket, its writer thread and its counters.
    let unchanged = handle
        .with_current(|current| match (current, config) {
            (Some(current), Some(config)) => current.is_configured_as(config, hostname),
            (None, None) => true,
            _ => false,
        })
        .unwrap_or(false);
    if unchanged {
        return Ok(());
    }
    let layer = match config {
        Some(config) => Some(SyslogLayer::connect(config, hostname, metrics)?),
        None => None,
    };
    handle
        .reload(layer)
        .map_err(|e| std::io::Error::other(e.to_string()))
}
