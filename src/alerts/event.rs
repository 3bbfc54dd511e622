//! What happened: the events the director reports to every alert sink (log, SNMP, notify hooks).
//!
//! One type for all sinks so that a transition is described once, in the director, and every
//! sink renders it the same way. Field names here are the stable log field names documented in
//! `docs/alerts.md`; renaming one breaks operators' log queries.

use std::net::IpAddr;

/// One state change worth telling an operator about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlertEvent {
    /// A VRRP instance changed state (any state: INIT, BACKUP, MASTER, FAULT).
    VrrpTransition {
        instance: String,
        vrid: u8,
        /// 2 or 3: selects RFC 2787 or RFC 6527 notifications on becoming master.
        version: u8,
        /// Previous state, upper case as in `tandem status` (`BACKUP`).
        from: String,
        /// New state (`MASTER`).
        to: String,
        /// Priority advertised after the transition.
        priority: u8,
        /// Address of the master after the transition (this director's when `to` is MASTER).
        master_address: Option<IpAddr>,
        /// Why: `priority`, `preempted`, `master_no_response` (RFC 6527 reasons when becoming
        /// master), or free text (`interface eth0 down`).
        reason: String,
        /// Interface index of the instance's interface: the row index of the RFC 2787 /
        /// RFC 6527 tables in the standard traps (0 when unknown).
        if_index: u32,
    },
    /// A real server passed (`up`) or failed its health check.
    RealServer {
        /// Virtual server name.
        service: String,
        /// `address:port` (`[v6]:port` for IPv6).
        real: String,
        up: bool,
        reason: String,
    },
    /// A virtual server lost or regained quorum.
    Quorum {
        service: String,
        has_quorum: bool,
        /// Real servers up at the transition.
        up: u32,
        /// Configured quorum.
        quorum: u32,
    },
    /// A configuration reload finished.
    ConfigReload { ok: bool, errors: usize },
    /// The dataplane (IPVS, XDP) refused an operation.
    Dataplane { operation: String, error: String },
}

impl AlertEvent {
    /// Short kind name: the `event=` log field, `TANDEM_EVENT` of hooks.
    pub fn kind(&self) -> &'static str {
        match self {
            AlertEvent::VrrpTransition { .. } => "vrrp_transition",
            AlertEvent::RealServer { .. } => "real_server",
            AlertEvent::Quorum { .. } => "quorum",
            AlertEvent::ConfigReload { .. } => "config_reload",
            AlertEvent::Dataplane { .. } => "dataplane",
        }
    }

    /// The object the event is about. Notify hooks of one key run strictly in order; hooks of
    /// different keys run concurrently. A virtual server's real servers and its quorum share
    /// one key, so "real server down" always finishes before the "quorum lost" it caused
    /// starts, and a whole pool failing starts one script at a time, not one per real server.
    pub fn object_key(&self) -> String {
        match self {
            AlertEvent::VrrpTransition { instance, .. } => format!("vrrp/{instance}"),
            AlertEvent::RealServer { service, .. } | AlertEvent::Quorum { service, .. } => {
                format!("service/{service}")
            }
            AlertEvent::ConfigReload { .. } => "config".to_string(),
            AlertEvent::Dataplane { .. } => "dataplane".to_string(),
        }
    }

    /// Environment of a notify hook run for this event (documented in `docs/alerts.md`).
    pub fn notify_env(&self, router_id: &str) -> Vec<(String, String)> {
        let mut env = vec![
            ("TANDEM_EVENT".to_string(), self.kind().to_string()),
            ("TANDEM_ROUTER_ID".to_string(), router_id.to_string()),
        ];
        let mut put = |k: &str, v: String| env.push((k.to_string(), v));
        match self {
            AlertEvent::VrrpTransition {
                instance,
                vrid,
                version,
                from,
                to,
                priority,
                master_address,
                reason,
                ..
            } => {
                put("TANDEM_INSTANCE", instance.clone());
                put("TANDEM_VRID", vrid.to_string());
                put("TANDEM_VERSION", version.to_string());
                put("TANDEM_FROM_STATE", from.clone());
                put("TANDEM_STATE", to.clone());
                put("TANDEM_PRIORITY", priority.to_string());
                put(
                    "TANDEM_MASTER",
                    master_address.map(|a| a.to_string()).unwrap_or_default(),
                );
                put("TANDEM_REASON", reason.clone());
            }
            AlertEvent::RealServer {
                service,
                real,
                up,
                reason,
            } => {
                put("TANDEM_SERVICE", service.clone());
                put("TANDEM_REAL", real.clone());
                put("TANDEM_STATE", up_down(*up).to_string());
                put("TANDEM_REASON", reason.clone());
            }
            AlertEvent::Quorum {
                service,
                has_quorum,
                up,
                quorum,
            } => {
                put("TANDEM_SERVICE", service.clone());
                put("TANDEM_STATE", up_down(*has_quorum).to_string());
                put("TANDEM_UP", up.to_string());
                put("TANDEM_QUORUM", quorum.to_string());
            }
            AlertEvent::ConfigReload { ok, errors } => {
                put(
                    "TANDEM_STATE",
                    if *ok { "ok" } else { "failed" }.to_string(),
                );
                put("TANDEM_ERRORS", errors.to_string());
            }
            AlertEvent::Dataplane { operation, error } => {
                put("TANDEM_OPERATION", operation.clone());
                put("TANDEM_REASON", error.clone());
            }
        }
        env
    }

    /// Writes the event to the log: one structured event per transition, with the stable field
    /// names of `docs/alerts.md`. Failures (real down, quorum lost, failed reload, dataplane
    /// errors, FAULT) are warnings so that a default filter shows them.
    pub fn log(&self) {
        match self {
            AlertEvent::VrrpTransition {
                instance,
                vrid,
                version,
                from,
                to,
                priority,
                master_address,
                reason,
                ..
            } => {
                let master = master_address.map(|a| a.to_string()).unwrap_or_default();
                if to == "FAULT" {
                    tracing::warn!(event = "vrrp_transition", instance = %instance, vrid, version, from = %from, to = %to, priority, master = %master, reason = %reason, "VRRP instance {instance} {from} -> {to}");
                } else {
                    tracing::info!(event = "vrrp_transition", instance = %instance, vrid, version, from = %from, to = %to, priority, master = %master, reason = %reason, "VRRP instance {instance} {from} -> {to}");
                }
            }
            AlertEvent::RealServer {
                service,
                real,
                up,
                reason,
            } => {
                let state = up_down(*up);
                if *up {
                    tracing::info!(event = "real_server", service = %service, real = %real, state, reason = %reason, "real server {real} of {service} is {state}");
                } else {
                    tracing::warn!(event = "real_server", service = %service, real = %real, state, reason = %reason, "real server {real} of {service} is {state}");
                }
            }
            AlertEvent::Quorum {
                service,
                has_quorum,
                up,
                quorum,
            } => {
                let state = up_down(*has_quorum);
                if *has_quorum {
                    tracing::info!(event = "quorum", service = %service, state, up, quorum, "virtual server {service} regained quorum ({up}/{quorum})");
                } else {
                    tracing::warn!(event = "quorum", service = %service, state, up, quorum, "virtual server {service} lost quorum ({up}/{quorum})");
                }
            }
            AlertEvent::ConfigReload { ok, errors } => {
                if *ok {
                    tracing::info!(
                        event = "config_reload",
                        result = "ok",
                        errors,
                        "configuration reloaded"
                    );
                } else {
                    tracing::warn!(
                        event = "config_reload",
                        result = "failed",
                        errors,
                        "configuration reload failed; running configuration kept"
                    );
                }
            }
            AlertEvent::Dataplane { operation, error } => {
                tracing::warn!(event = "dataplane", operation = %operation, reason = %error, "dataplane {operation} failed: {error}");
            }
        }
    }
}

/// `up` / `down`: the one spelling used by logs, hooks and status.
pub fn up_down(up: bool) -> &'static str {
    if up { "up" } else { "down" }
}
