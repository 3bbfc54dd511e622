//! Alerts: every state change the director reports goes to the log, to each SNMP target and
//! to the notify hooks, without ever making the director wait.
//!
//! [`Alerts::emit`] is synchronous and returns at once: it logs the event, then hands it to each
//! sink's bounded queue with `try_send`. A sink whose receiver is slow or dead fills its queue
//! and further events for it are dropped and counted (`tandem_alerts_dropped_total{sink}`),
//! because a failover must never wait for a trap receiver.

pub mod ber;
pub mod event;
pub mod notify;
pub mod snmp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

pub use event::AlertEvent;
pub use notify::{NotifyError, NotifyJob, NotifyRunner, NotifyStats};

use crate::config;
use crate::metrics::Metrics;
use snmp::{TargetCounters, TargetSpec};

/// Default SNMP port of notification receivers (RFC 3417 §3: snmp-trap, 162).
pub const SNMP_TRAP_PORT: u16 = 162;

/// Commands waiting per notify key before further ones are dropped: room for every real server
/// of a large virtual server going down at once, plus its quorum event.
const NOTIFY_QUEUE_PER_KEY: usize = 1024;
/// Objects with pending notify commands at once (bounds tasks and memory under a storm).
const NOTIFY_MAX_KEYS: usize = 4096;

/// Why the alert sinks could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlertsError {
    #[error("alerts need a tokio runtime (build them inside the daemon's runtime)")]
    NoRuntime,
}

/// Delivery counters of one SNMP target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkStats {
    /// `snmp:ADDRESS:PORT`: the `sink` label of `tandem_alerts_dropped_total`.
    pub name: String,
    /// PDUs sent, resends of informs included.
    pub sent: u64,
    /// Informs acknowledged by the receiver.
    pub acknowledged: u64,
    /// Informs given up after all retries.
    pub unacknowledged: u64,
    /// Sends that failed locally (no route, socket error).
    pub send_errors: u64,
    /// Events dropped because the queue was full.
    pub dropped: u64,
}

#[derive(Debug)]
struct SnmpSink {
    name: String,
    tx: mpsc::Sender<AlertEvent>,
    counters: Arc<TargetCounters>,
}

#[derive(Debug)]
struct Inner {
    router_id: String,
    sinks: Vec<SnmpSink>,
    notify: NotifyRunner,
    real_server_hook: Option<Vec<String>>,
    quorum_hook: Option<Vec<String>>,
    metrics: Option<Metrics>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for sink in &self.sinks {
            sink.counters.closing.store(true, Ordering::Relaxed);
        }
    }
}

/// The alert fan-out. Cheap to clone; build a new one on reload. When the old one's last clone
/// is dropped its SNMP tasks send what is still queued once each (no more inform retries) and
/// end.
#[derive(Debug, Clone)]
pub struct Alerts {
    inner: Arc<Inner>,
}

impl Alerts {
    /// Builds the sinks of `config` and starts one sender task per SNMP target. Must run inside
    /// a tokio runtime. `notify_timeout` is `global.notify_timeout`; `metrics` receives the
    /// drop counts.
    pub fn new(
        config: &config::Alerts,
        router_id: &str,
        notify_timeout: Duration,
        metrics: Option<Metrics>,
    ) -> Result<Alerts, AlertsError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| AlertsError::NoRuntime)?;
        let started = Instant::now();
        let capacity = usize::try_from(config.snmp.queue).unwrap_or(256).max(1);
        let mut sinks = Vec::new();
        for target in &config.snmp.targets {
            let address = SocketAddr::new(
                target.address.addr,
                target.address.port.unwrap_or(SNMP_TRAP_PORT),
            );
            let spec = TargetSpec {
                address,
                community: target.community.clone(),
                inform: target.inform,
                retries: target.retries,
                timeout: target.timeout.get(),
            };
            let (tx, rx) = mpsc::channel(capacity);
            let counters = Arc::new(TargetCounters::default());
            runtime.spawn(snmp::run_target(
                spec,
                router_id.to_string(),
                started,
                rx,
                counters.clone(),
            ));
            sinks.push(SnmpSink {
                name: format!("snmp:{address}"),
                tx,
                counters,
            });
        }
        Ok(Alerts {
            inner: Arc::new(Inner {
                router_id: router_id.to_string(),
                sinks,
                notify: NotifyRunner::new(notify_timeout, NOTIFY_QUEUE_PER_KEY, NOTIFY_MAX_KEYS),
                real_server_hook: config.notify.real_server.clone(),
                quorum_hook: config.notify.quorum.clone(),
                metrics,
            }),
        })
    }

    /// Logs `event` and queues it for every sink; never blocks, never fails. Real server and
    /// quorum events also run their `alerts.notify` hook.
    pub fn emit(&self, event: AlertEvent) {
        event.log();
        let hook = match &event {
            AlertEvent::RealServer { .. } => self.inner.real_server_hook.as_deref(),
            AlertEvent::Quorum { .. } => self.inner.quorum_hook.as_deref(),
            _ => None,
        };
        if let Some(argv) = hook {
            let _ = self.run_hook(argv, &event);
        }
        for sink in &self.inner.sinks {
            if sink.tx.try_send(event.clone()).is_err() {
                let dropped = sink.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                // Logged at 1, 2, 4, 8... drops: visible without flooding the log while a
                // receiver is down.
                if dropped.is_power_of_two() {
                    tracing::warn!(event = "alert_dropped", sink = %sink.name, dropped, "alert queue full (receiver slow or down); alerts dropped");
                }
                if let Some(m) = &self.inner.metrics {
                    m.alert_dropped(&sink.name);
                }
            }
        }
    }

    /// Runs a notify command for `event` (VRRP `notify.master` etc.): queued behind earlier
    /// commands of the same object, with the event's `TANDEM_*` environment. Never blocks; a
    /// full queue drops the command, logs it and counts it in
    /// `tandem_alerts_dropped_total{sink="notify"}`.
    pub fn run_hook(&self, argv: &[String], event: &AlertEvent) -> Result<(), NotifyError> {
        let job = NotifyJob {
            argv: argv.to_vec(),
            env: event.notify_env(&self.inner.router_id),
        };
        let key = event.object_key();
        let result = self.inner.notify.submit(&key, job);
        if let Err(e) = &result {
            tracing::warn!(event = "notify", key = %key, reason = %e, "notify command dropped");
            if let Some(m) = &self.inner.metrics {
                m.alert_dropped("notify");
            }
        }
        result
    }

    /// Runs a notify command for `event` now and waits for it (bounded by the notify timeout):
    /// the `stop` commands at shutdown.
    pub async fn run_hook_now(&self, argv: &[String], event: &AlertEvent) {
        let job = NotifyJob {
            argv: argv.to_vec(),
            env: event.notify_env(&self.inner.router_id),
        };
        self.inner.notify.run_now(&event.object_key(), job).await;
    }

    /// Delivery counters of each SNMP target, in configuration order.
    pub fn sink_stats(&self) -> Vec<SinkStats> {
        self.inner
            .sinks
            .iter()
            .map(|s| {
                let c = &s.counters;
                SinkStats {
                    name: s.name.clone(),
                    sent: c.sent.load(Ordering::Relaxed),
                    acknowledged: c.acknowledged.load(Ordering::Relaxed),
                    unacknowledged: c.unacknowledged.load(Ordering::Relaxed),
                    send_errors: c.send_errors.load(Ordering::Relaxed),
                    dropped: c.dropped.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Counters of the notify hooks.
    pub fn notify_stats(&self) -> NotifyStats {
        self.inner.notify.stats()
    }
}
