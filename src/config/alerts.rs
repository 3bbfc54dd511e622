//! The `alerts:` section: where events go besides the log (SNMP traps and informs, notify hooks
//! for real servers and quorum). VRRP notify commands live in each instance's `notify:`.

use garde::Validate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::address::Endpoint;
use super::duration::ConfigDuration;

/// Alert sinks.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alerts {
    /// SNMPv2c notifications (traps or informs) to network management stations.
    #[serde(default)]
    #[garde(dive)]
    pub snmp: Snmp,
    /// Commands run on real server and quorum transitions (argv, no shell), with the event in
    /// `TANDEM_*` environment variables (see docs/alerts.md).
    #[serde(default)]
    #[garde(dive)]
    pub notify: AlertNotify,
}

/// SNMP notification settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Snmp {
    /// Receivers; each gets every notification. Empty = SNMP off.
    #[serde(default)]
    #[garde(dive)]
    pub targets: Vec<SnmpTarget>,
    /// Notifications waiting per target (1..65536). When a target is slow or dead its queue
    /// fills and further notifications to it are dropped (and counted in
    /// `tandem_alerts_dropped_total{sink}`): a dead receiver never delays failover.
    #[serde(default = "default_queue")]
    #[garde(range(min = 1, max = 65536))]
    pub queue: u32,
}

impl Default for Snmp {
    fn default() -> Self {
        Snmp {
            targets: Vec::new(),
            queue: default_queue(),
        }
    }
}

fn default_queue() -> u32 {
    256
}

/// One SNMP notification receiver.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnmpTarget {
    /// `address[:port]` of the receiver (port 162 when omitted; IPv6 in brackets).
    #[garde(skip)]
    pub address: Endpoint,
    /// SNMPv2c community string.
    #[serde(default = "default_community")]
    #[garde(length(min = 1, max = 255))]
    pub community: String,
    /// Send InformRequest PDUs, which the receiver acknowledges, and resend unacknowledged
    /// ones; `false` sends fire-and-forget SNMPv2-Trap PDUs.
    #[serde(default)]
    #[garde(skip)]
    pub inform: bool,
    /// Resends of an unacknowledged inform (0..10); ignored for traps.
    #[serde(default = "default_retries")]
    #[garde(range(max = 10))]
    pub retries: u32,
    /// How long to wait for an inform's acknowledgement before resending (10ms..60s).
    #[serde(default = "default_timeout")]
    #[garde(custom(timeout_in_range))]
    pub timeout: ConfigDuration,
}

fn default_community() -> String {
    "public".to_string()
}
fn default_retries() -> u32 {
    3
}
fn default_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(1)
}

fn timeout_in_range(value: &ConfigDuration, _: &()) -> garde::Result {
    let d = value.get();
    if d < std::time::Duration::from_millis(10) || d > std::time::Duration::from_secs(60) {
        return Err(garde::Error::new(format!(
            "timeout {value} out of range 10ms..60s"
        )));
    }
    Ok(())
}

/// Notify hooks for events that are not VRRP transitions.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertNotify {
    /// Run when a real server goes up or down (`TANDEM_SERVICE`, `TANDEM_REAL`,
    /// `TANDEM_STATE`, `TANDEM_REASON`). Runs for one real server are strictly ordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(min = 1)))]
    pub real_server: Option<Vec<String>>,
    /// Run when a virtual server loses or regains quorum (`TANDEM_SERVICE`, `TANDEM_STATE`,
    /// `TANDEM_UP`, `TANDEM_QUORUM`). Runs for one virtual server are strictly ordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(min = 1)))]
    pub quorum: Option<Vec<String>>,
}
