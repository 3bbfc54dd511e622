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
    /// Also send the log to syslog (besides stderr or the journal). Absent = off;
    /// `syslog: {}` sends to `/dev/log` as facility `daemon`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub syslog: Option<Syslog>,
}

/// The syslog sink.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Syslog {
    /// A Unix datagram socket path (default `/dev/log`: journald or rsyslog), written as
    /// syslog(3) does (RFC 3164), or `ADDRESS[:PORT]` of a remote collector, written as
    /// RFC 5424 over UDP (port 514 when omitted).
    #[serde(default)]
    #[garde(skip)]
    pub address: SyslogAddress,
    /// Syslog facility.
    #[serde(default)]
    #[garde(skip)]
    pub facility: SyslogFacility,
    /// Least severe level sent (the log level of the daemon still applies first).
    #[serde(default)]
    #[garde(skip)]
    pub level: SyslogLevel,
}

/// Where syslog messages go: a local socket or a remote collector over UDP.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyslogAddress {
    Unix(std::path::PathBuf),
    Udp(std::net::SocketAddr),
}

impl Default for SyslogAddress {
    fn default() -> Self {
        SyslogAddress::Unix("/dev/log".into())
    }
}

impl std::fmt::Display for SyslogAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyslogAddress::Unix(path) => write!(f, "{}", path.display()),
            SyslogAddress::Udp(addr) => write!(f, "{addr}"),
        }
    }
}

impl std::str::FromStr for SyslogAddress {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with('/') {
            return Ok(SyslogAddress::Unix(s.into()));
        }
        let endpoint: Endpoint = s.parse().map_err(|_| {
            format!("invalid syslog address {s:?}: write a socket path (/dev/log), ADDRESS, ADDRESS:PORT or [IPV6]:PORT")
        })?;
        Ok(SyslogAddress::Udp(std::net::SocketAddr::new(
            endpoint.addr,
            endpoint.port.unwrap_or(514),
        )))
    }
}

impl<'de> Deserialize<'de> for SyslogAddress {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for SyslogAddress {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl JsonSchema for SyslogAddress {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SyslogAddress".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A Unix socket path (/dev/log) or ADDRESS[:PORT] of a UDP collector (port 514 when omitted)."
        })
    }
}

/// Syslog facility (RFC 5424 §6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SyslogFacility {
    User,
    #[default]
    Daemon,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl SyslogFacility {
    /// The facility's code.
    pub fn code(self) -> u8 {
        match self {
            SyslogFacility::User => 1,
            SyslogFacility::Daemon => 3,
            SyslogFacility::Local0 => 16,
            SyslogFacility::Local1 => 17,
            SyslogFacility::Local2 => 18,
            SyslogFacility::Local3 => 19,
            SyslogFacility::Local4 => 20,
            SyslogFacility::Local5 => 21,
            SyslogFacility::Local6 => 22,
            SyslogFacility::Local7 => 23,
        }
    }
}

/// Least severe log level a sink receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SyslogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
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
