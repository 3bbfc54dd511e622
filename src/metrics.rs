//! Prometheus metrics of the daemon: one registry, typed setters for the director, text
//! exposition for `/metrics`.
//!
//! The director calls the setters where the state changes (it owns the truth); this module
//! only stores and renders. Label values are names from the configuration, so the number of
//! series is bounded by the configuration, never by traffic. When a real server or instance
//! leaves the configuration, `forget_*` removes its series so a reload does not leave stale
//! gauges behind.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstanceLabels {
    instance: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransitionLabels {
    instance: String,
    to: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabels {
    instance: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RealLabels {
    service: String,
    real: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckFailureLabels {
    service: String,
    real: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IpvsLabels {
    op: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabels {
    sink: String,
}

type HistogramFamily = Family<KindLabels, Histogram, fn() -> Histogram>;

/// Check latency buckets, seconds: from a fast loopback TCP connect to a slow HTTPS page.
const CHECK_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn check_histogram() -> Histogram {
    Histogram::new(CHECK_BUCKETS)
}

/// VRRP state as the value of `tandem_vrrp_state` (a gauge, so alert rules can compare it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VrrpStateValue {
    Init = 0,
    Backup = 1,
    Master = 2,
    Fault = 3,
}

impl VrrpStateValue {
    /// From the upper-case state names of `tandem status` (`INIT`, `BACKUP`, `MASTER`,
    /// `FAULT`); anything else is INIT.
    pub fn from_name(name: &str) -> VrrpStateValue {
        match name.to_ascii_uppercase().as_str() {
            "BACKUP" => VrrpStateValue::Backup,
            "MASTER" => VrrpStateValue::Master,
            "FAULT" => VrrpStateValue::Fault,
            _ => VrrpStateValue::Init,
        }
    }
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    vrrp_state: Family<InstanceLabels, Gauge>,
    vrrp_is_master: Family<InstanceLabels, Gauge>,
    vrrp_transitions: Family<TransitionLabels, Counter>,
    vrrp_adverts_sent: Family<InstanceLabels, Counter>,
    vrrp_adverts_received: Family<InstanceLabels, Counter>,
    vrrp_packets_dropped: Family<DropLabels, Counter>,
    real_server_up: Family<RealLabels, Gauge>,
    check_duration: HistogramFamily,
    check_failures: Family<CheckFailureLabels, Counter>,
    ipvs_operations: Family<IpvsLabels, Counter>,
    config_reloads: Family<ResultLabels, Counter>,
    alerts_dropped: Family<SinkLabels, Counter>,
}

/// The daemon's metrics. Cheap to clone (one `Arc`); every clone updates the same series.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let vrrp_state = Family::<InstanceLabels, Gauge>::default();
        registry.register(
            "tandem_vrrp_state",
            "VRRP instance state: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT",
            vrrp_state.clone(),
        );
        let vrrp_is_master = Family::<InstanceLabels, Gauge>::default();
        registry.register(
            "tandem_vrrp_is_master",
            "1 while this director is MASTER of the instance, else 0",
            vrrp_is_master.clone(),
        );
        let vrrp_transitions = Family::<TransitionLabels, Counter>::default();
        registry.register(
            "tandem_vrrp_transitions",
            "VRRP state transitions by new state",
            vrrp_transitions.clone(),
        );
        let vrrp_adverts_sent = Family::<InstanceLabels, Counter>::default();
        registry.register(
            "tandem_vrrp_adverts_sent",
            "VRRP advertisements sent",
            vrrp_adverts_sent.clone(),
        );
        let vrrp_adverts_received = Family::<InstanceLabels, Counter>::default();
        registry.register(
            "tandem_vrrp_adverts_received",
            "Valid VRRP advertisements received",
            vrrp_adverts_received.clone(),
        );
        let vrrp_packets_dropped = Family::<DropLabels, Counter>::default();
        registry.register(
            "tandem_vrrp_packets_dropped",
            "VRRP packets dropped, by reason (checksum, ttl, auth, interval, ...)",
            vrrp_packets_dropped.clone(),
        );
        let real_server_up = Family::<RealLabels, Gauge>::default();
        registry.register(
            "tandem_real_server_up",
            "1 while the real server passes its health check, else 0",
            real_server_up.clone(),
        );
        let check_duration: HistogramFamily = Family::new_with_constructor(check_histogram);
        registry.register(
            "tandem_check_duration_seconds",
            "Health check probe duration by kind of check",
            check_duration.clone(),
        );
        let check_failures = Family::<CheckFailureLabels, Counter>::default();
        registry.register(
            "tandem_check_failures",
            "Failed health check probes by reason",
            check_failures.clone(),
        );
        let ipvs_operations = Family::<IpvsLabels, Counter>::default();
        registry.register(
            "tandem_ipvs_operations",
            "Dataplane operations by operation and result (ok, error)",
            ipvs_operations.clone(),
        );
        let config_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "tandem_config_reloads",
            "Configuration reloads by result (ok, failed)",
            config_reloads.clone(),
        );
        let alerts_dropped = Family::<SinkLabels, Counter>::default();
        registry.register(
            "tandem_alerts_dropped",
            "Alerts dropped because the sink's queue was full (slow or dead receiver)",
            alerts_dropped.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                vrrp_state,
                vrrp_is_master,
                vrrp_transitions,
                vrrp_adverts_sent,
                vrrp_adverts_received,
                vrrp_packets_dropped,
                real_server_up,
                check_duration,
                check_failures,
                ipvs_operations,
                config_reloads,
                alerts_dropped,
            }),
        }
    }

    fn instance(instance: &str) -> InstanceLabels {
        InstanceLabels {
            instance: instance.to_string(),
        }
    }

    /// Sets the current state of `instance` (also `tandem_vrrp_is_master`), without counting a
    /// transition: use at startup and after a reload.
    pub fn set_vrrp_state(&self, instance: &str, state: VrrpStateValue) {
        let labels = Self::instance(instance);
        self.inner
            .vrrp_state
            .get_or_create(&labels)
            .set(state as i64);
        self.inner
            .vrrp_is_master
            .get_or_create(&labels)
            .set(i64::from(state == VrrpStateValue::Master));
    }

    /// Records a transition of `instance` to `to`: sets the state and counts the transition.
    pub fn vrrp_transition(&self, instance: &str, to: VrrpStateValue) {
        self.set_vrrp_state(instance, to);
        let to_name = match to {
            VrrpStateValue::Init => "INIT",
            VrrpStateValue::Backup => "BACKUP",
            VrrpStateValue::Master => "MASTER",
            VrrpStateValue::Fault => "FAULT",
        };
        self.inner
            .vrrp_transitions
            .get_or_create(&TransitionLabels {
                instance: instance.to_string(),
                to: to_name.to_string(),
            })
            .inc();
    }

    pub fn vrrp_advert_sent(&self, instance: &str) {
        self.inner
            .vrrp_adverts_sent
            .get_or_create(&Self::instance(instance))
            .inc();
    }

    pub fn vrrp_advert_received(&self, instance: &str) {
        self.inner
            .vrrp_adverts_received
            .get_or_create(&Self::instance(instance))
            .inc();
    }

    /// Adds `count` to the adverts counters (for a director that polls the VRRP task's own
    /// counters instead of calling per packet).
    pub fn vrrp_adverts_add(&self, instance: &str, sent: u64, received: u64) {
        let labels = Self::instance(instance);
        self.inner
            .vrrp_adverts_sent
            .get_or_create(&labels)
            .inc_by(sent);
        self.inner
            .vrrp_adverts_received
            .get_or_create(&labels)
            .inc_by(received);
    }

    /// Adds `count` drops for `reason` (the director pushes counter growth once a second).
    pub fn vrrp_packets_dropped_add(&self, instance: &str, reason: &str, count: u64) {
        if count == 0 {
            return;
        }
        self.inner
            .vrrp_packets_dropped
            .get_or_create(&DropLabels {
                instance: instance.to_string(),
                reason: reason.to_string(),
            })
            .inc_by(count);
    }

    pub fn vrrp_packet_dropped(&self, instance: &str, reason: &str) {
        self.inner
            .vrrp_packets_dropped
            .get_or_create(&DropLabels {
                instance: instance.to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn set_real_server_up(&self, service: &str, real: &str, up: bool) {
        self.inner
            .real_server_up
            .get_or_create(&RealLabels {
                service: service.to_string(),
                real: real.to_string(),
            })
            .set(i64::from(up));
    }

    /// One probe finished after `seconds`; `failure` is its reason when it failed.
    pub fn check_result(
        &self,
        kind: &str,
        service: &str,
        real: &str,
        seconds: f64,
        failure: Option<&str>,
    ) {
        self.inner
            .check_duration
            .get_or_create(&KindLabels {
                kind: kind.to_string(),
            })
            .observe(seconds);
        if let Some(reason) = failure {
            self.inner
                .check_failures
                .get_or_create(&CheckFailureLabels {
                    service: service.to_string(),
                    real: real.to_string(),
                    reason: reason.to_string(),
                })
                .inc();
        }
    }

    /// One dataplane operation (`add_service`, `edit_real`, ...) finished.
    pub fn ipvs_operation(&self, op: &str, ok: bool) {
        self.inner
            .ipvs_operations
            .get_or_create(&IpvsLabels {
                op: op.to_string(),
                result: if ok { "ok" } else { "error" }.to_string(),
            })
            .inc();
    }

    pub fn config_reload(&self, ok: bool) {
        self.inner
            .config_reloads
            .get_or_create(&ResultLabels {
                result: if ok { "ok" } else { "failed" }.to_string(),
            })
            .inc();
    }

    /// An alert was dropped by `sink` (`snmp:ADDRESS`, `notify`).
    pub fn alert_dropped(&self, sink: &str) {
        self.inner
            .alerts_dropped
            .get_or_create(&SinkLabels {
                sink: sink.to_string(),
            })
            .inc();
    }

    /// Removes the series of an instance that left the configuration.
    pub fn forget_instance(&self, instance: &str) {
        let labels = Self::instance(instance);
        self.inner.vrrp_state.remove(&labels);
        self.inner.vrrp_is_master.remove(&labels);
        self.inner.vrrp_adverts_sent.remove(&labels);
        self.inner.vrrp_adverts_received.remove(&labels);
    }

    /// Removes the up/down series of a real server that left the configuration.
    pub fn forget_real_server(&self, service: &str, real: &str) {
        self.inner.real_server_up.remove(&RealLabels {
            service: service.to_string(),
            real: real.to_string(),
        });
    }

    /// The Prometheus text exposition format (version 0.0.4, what `/metrics` serves).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; an error would only come from a broken encoder.
        if prometheus_client::encoding::text::encode(&mut out, &self.inner.registry).is_err() {
            tracing::warn!("cannot encode metrics");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_with_labels() {
        let m = Metrics::new();
        m.vrrp_transition("vi_1", VrrpStateValue::Master);
        m.set_real_server_up("web", "10.0.0.1:80", true);
        m.check_result("http", "web", "10.0.0.1:80", 0.003, Some("timeout"));
        m.ipvs_operation("add_real", true);
        m.config_reload(false);
        m.alert_dropped("snmp:127.0.0.1:162");
        let text = m.encode();
        for needle in [
            "tandem_vrrp_state{instance=\"vi_1\"} 2",
            "tandem_vrrp_is_master{instance=\"vi_1\"} 1",
            "tandem_vrrp_transitions_total{instance=\"vi_1\",to=\"MASTER\"} 1",
            "tandem_real_server_up{service=\"web\",real=\"10.0.0.1:80\"} 1",
            "tandem_check_duration_seconds_bucket{le=\"0.005\",kind=\"http\"} 1",
            "tandem_check_failures_total{service=\"web\",real=\"10.0.0.1:80\",reason=\"timeout\"} 1",
            "tandem_ipvs_operations_total{op=\"add_real\",result=\"ok\"} 1",
            "tandem_config_reloads_total{result=\"failed\"} 1",
            "tandem_alerts_dropped_total{sink=\"snmp:127.0.0.1:162\"} 1",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        m.forget_real_server("web", "10.0.0.1:80");
        assert!(!m.encode().contains("tandem_real_server_up{"));
    }
}
