//! The YAML configuration model: what operators write in `/etc/tandem/tandem.yaml`.
//!
//! Every field is documented here; the doc comments become the descriptions of the published
//! JSON Schema (`conf/tandem.schema.json`, `tandem schema`). Field-level ranges are garde rules;
//! rules that relate several values (duplicates, references, v2/v3 intervals) live in
//! `validate.rs`. Unknown keys are errors everywhere (`deny_unknown_fields`): a typo must never
//! silently become a default.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use garde::Validate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::address::{Cidr, Endpoint};
pub use super::alerts::{
    AlertNotify, Alerts, Snmp, SnmpTarget, Syslog, SyslogAddress, SyslogFacility, SyslogLevel,
};
use super::duration::ConfigDuration;
use super::located::At;

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "tandem configuration")]
pub struct Config {
    /// Daemon-wide settings.
    #[serde(default)]
    #[garde(dive)]
    pub global: Global,
    /// VRRP instances: each one elects a master among the directors for a set of virtual
    /// addresses.
    #[serde(default)]
    #[garde(dive)]
    pub vrrp_instances: Vec<VrrpInstance>,
    /// Groups of VRRP instances that change state together: a member's fault faults them all,
    /// and a member becomes master only when every member would (as keepalived's
    /// vrrp_sync_group), so the group never splits between the directors. Give every member
    /// the same priority order on both directors, and track objects on every member that
    /// should move the group.
    #[serde(default)]
    #[garde(dive)]
    pub sync_groups: Vec<SyncGroup>,
    /// Virtual services load-balanced by the dataplane, with their real servers.
    #[serde(default)]
    #[garde(dive)]
    pub virtual_servers: Vec<VirtualServer>,
    /// Where events are sent (SNMP traps, log alerts).
    #[serde(default)]
    #[garde(dive)]
    pub alerts: Alerts,
    /// Which dataplane applies the virtual servers: `ipvs` (kernel IPVS over generic netlink),
    /// `xdp` (embedded XDP load balancer) or `none` (health state and logs only).
    #[serde(default)]
    #[garde(skip)]
    pub dataplane: At<Dataplane>,
    /// IPVS dataplane settings (with `dataplane: ipvs`).
    #[serde(default)]
    #[garde(dive)]
    pub ipvs: IpvsSettings,
}

/// IPVS dataplane settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IpvsSettings {
    /// Also delete IPVS services this configuration does not declare (by default tandem only
    /// touches its own services and leaves others, e.g. added with ipvsadm, alone).
    #[serde(default)]
    #[garde(skip)]
    pub flush_foreign: bool,
    /// On daemon stop: `keep` the services in the kernel (traffic keeps flowing while tandem
    /// restarts) or `remove` them.
    #[serde(default)]
    #[garde(skip)]
    pub on_shutdown: OnShutdown,
    /// How often the kernel table is compared with the desired state even when nothing
    /// changed, repairing drift (someone ran ipvsadm by hand).
    #[serde(default = "default_reconcile_interval")]
    #[garde(skip)]
    pub reconcile_interval: At<ConfigDuration>,
    /// Connection synchronisation: the IPVS sync daemon runs as master while the followed VRRP
    /// instance (or sync group) is MASTER, as backup otherwise, so established connections
    /// survive a failover.
    #[serde(default)]
    #[garde(dive)]
    pub sync_daemon: Option<SyncDaemonSettings>,
}

impl Default for IpvsSettings {
    fn default() -> Self {
        IpvsSettings {
            flush_foreign: false,
            on_shutdown: OnShutdown::Keep,
            reconcile_interval: default_reconcile_interval(),
            sync_daemon: None,
        }
    }
}

fn default_reconcile_interval() -> At<ConfigDuration> {
    At::new(ConfigDuration::from_secs(5))
}

/// IPVS connection synchronisation daemon.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncDaemonSettings {
    /// Interface the sync traffic uses (usually a dedicated link between the directors).
    #[garde(length(min = 1, max = 15))]
    pub interface: At<String>,
    /// Sync id shared by both directors (0..255).
    #[serde(default)]
    #[garde(range(max = 255))]
    pub sync_id: At<u32>,
    /// Name of the VRRP instance or sync group whose state decides master/backup.
    #[garde(length(min = 1))]
    pub follow: At<String>,
}

/// Daemon-wide settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Global {
    /// Name of this director in logs, traps and status (default: the host name).
    #[serde(default)]
    #[garde(length(max = 64))]
    pub router_id: Option<String>,
    /// Unix socket where `tandem status` reaches the daemon (created with mode 0600).
    #[serde(default = "default_control_socket")]
    #[garde(skip)]
    pub control_socket: PathBuf,
    /// Address of the HTTP endpoint (`/metrics`, `/status`, `/healthz`); absent = disabled.
    /// Keep it on loopback unless a firewall protects it.
    #[serde(default)]
    #[garde(skip)]
    pub http_listen: Option<std::net::SocketAddr>,
    /// How long a notify command may run before it is killed.
    #[serde(default = "default_notify_timeout")]
    #[garde(skip)]
    pub notify_timeout: ConfigDuration,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            router_id: None,
            control_socket: default_control_socket(),
            http_listen: None,
            notify_timeout: default_notify_timeout(),
        }
    }
}

pub const DEFAULT_CONTROL_SOCKET: &str = "/run/tandem/tandem.sock";

fn default_control_socket() -> PathBuf {
    PathBuf::from(DEFAULT_CONTROL_SOCKET)
}

fn default_notify_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(10)
}

/// One VRRP instance (RFC 5798 / RFC 3768 virtual router).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VrrpInstance {
    /// Unique name, used by `sync_groups`, logs, status and notify scripts.
    #[garde(length(min = 1, max = 64))]
    pub name: At<String>,
    /// Interface the adverts are sent and received on, and where the virtual addresses go.
    #[garde(length(min = 1, max = 15))]
    pub interface: At<String>,
    /// Virtual router id, 1..255; unique per (interface, address family). Both directors of a
    /// pair use the same vrid.
    #[garde(range(min = 1, max = 255))]
    pub vrid: At<u32>,
    /// Priority 1..255; the highest wins. 255 means this director owns the addresses.
    #[serde(default = "default_priority")]
    #[garde(range(min = 1, max = 255))]
    pub priority: At<u32>,
    /// VRRP version: 3 (RFC 5798, default, required for IPv6) or 2 (RFC 3768).
    #[serde(default = "default_version")]
    #[garde(range(min = 2, max = 3))]
    pub version: At<u32>,
    /// Advertisement interval. v3: 10ms..40.95s in 10 ms steps; v2: whole seconds 1s..255s.
    #[serde(default = "default_advert_interval")]
    #[garde(skip)]
    pub advert_interval: At<ConfigDuration>,
    /// Whether a higher-priority backup takes over from a lower-priority master.
    #[serde(default = "default_true")]
    #[garde(skip)]
    pub preempt: bool,
    /// How long a higher-priority backup waits before preempting (lets services warm up);
    /// at most 1h.
    #[serde(default)]
    #[garde(custom(preempt_delay_in_range))]
    pub preempt_delay: ConfigDuration,
    /// Whether a master that does not own the virtual addresses accepts packets addressed to
    /// them. Absent or `true`: it does (keepalived's default; services bound to the VIP and
    /// ping work). `false`: it drops them while master, as RFC 5798 §6.4.3 (Accept_Mode
    /// False) and RFC 3768 §6.4.3 require, with an nftables rule (the `nft` program) that runs
    /// after IPVS, so the virtual services of an LVS director keep working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub accept_mode: Option<bool>,
    /// Peers to send adverts to by unicast; empty = multicast (224.0.0.18 / ff02::12).
    #[serde(default)]
    #[garde(skip)]
    pub unicast_peers: Vec<At<IpAddr>>,
    /// Source address of adverts (default: the interface's primary address of the family).
    #[serde(default)]
    #[garde(skip)]
    pub source_address: Option<At<IpAddr>>,
    /// Virtual addresses (VIPs) owned by the master, `address/prefix`. All of one family.
    #[garde(length(min = 1, max = 255))]
    pub virtual_addresses: At<Vec<At<Cidr>>>,
    /// Interfaces whose link state changes this instance's priority (`weight` != 0) or, with
    /// `weight: 0`, puts it in FAULT when the link is down.
    #[serde(default)]
    #[garde(dive)]
    pub track_interfaces: Vec<TrackInterface>,
    /// Virtual servers whose loss of quorum lowers this instance's priority by `weight`.
    #[serde(default)]
    #[garde(dive)]
    pub track_services: Vec<TrackService>,
    /// Commands run on state changes (argv, no shell).
    #[serde(default)]
    #[garde(dive)]
    pub notify: Notify,
    /// Gratuitous ARP / unsolicited neighbour advertisement behaviour on becoming master.
    #[serde(default)]
    #[garde(dive)]
    pub garp: Garp,
}

fn default_priority() -> At<u32> {
    At::new(100)
}
fn default_version() -> At<u32> {
    At::new(3)
}
fn default_advert_interval() -> At<ConfigDuration> {
    At::new(ConfigDuration::from_secs(1))
}
fn default_true() -> bool {
    true
}

/// A tracked interface.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackInterface {
    /// Interface name.
    #[garde(length(min = 1, max = 15))]
    pub name: At<String>,
    /// Priority change while the link is down (-254..254); 0 = go to FAULT instead.
    #[serde(default)]
    #[garde(range(min = -254, max = 254))]
    pub weight: At<i32>,
}

/// A tracked virtual server.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackService {
    /// Name of a virtual server in `virtual_servers`.
    #[garde(length(min = 1))]
    pub name: At<String>,
    /// Priority change while the service has lost quorum (-254..254); 0 = go to FAULT instead.
    #[serde(default)]
    #[garde(range(min = -254, max = 254))]
    pub weight: At<i32>,
}

/// Notify commands for VRRP state changes. Each is an argv list (no shell): the program and its
/// arguments. They run in the order the transitions happened, with `TANDEM_INSTANCE`,
/// `TANDEM_STATE` and `TANDEM_PRIORITY` in the environment.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// Run on becoming MASTER.
    #[serde(default)]
    #[garde(skip)]
    pub master: Option<At<Vec<String>>>,
    /// Run on becoming BACKUP.
    #[serde(default)]
    #[garde(skip)]
    pub backup: Option<At<Vec<String>>>,
    /// Run on entering FAULT.
    #[serde(default)]
    #[garde(skip)]
    pub fault: Option<At<Vec<String>>>,
    /// Run when the instance stops (daemon shutdown).
    #[serde(default)]
    #[garde(skip)]
    pub stop: Option<At<Vec<String>>>,
}

/// Gratuitous ARP (IPv4) / unsolicited Neighbor Advertisement (IPv6) sent by a new master so
/// that hosts and switches move the virtual addresses to it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Garp {
    /// Delay before the second burst (the first is sent at once on becoming master).
    #[serde(default = "default_garp_delay")]
    #[garde(skip)]
    pub delay: ConfigDuration,
    /// Packets per address in each burst (1..100).
    #[serde(default = "default_garp_repeat")]
    #[garde(range(min = 1, max = 100))]
    pub repeat: At<u32>,
    /// While master, resend one burst this often: 0s = never (default), else 1s..24h.
    #[serde(default)]
    #[garde(skip)]
    pub refresh: At<ConfigDuration>,
}

impl Default for Garp {
    fn default() -> Self {
        Garp {
            delay: default_garp_delay(),
            repeat: default_garp_repeat(),
            refresh: At::new(ConfigDuration::ZERO),
        }
    }
}

fn preempt_delay_in_range(value: &ConfigDuration, _: &()) -> garde::Result {
    if value.get() > std::time::Duration::from_secs(3600) {
        return Err(garde::Error::new(format!(
            "preempt_delay {value} is longer than 1h"
        )));
    }
    Ok(())
}

fn default_garp_delay() -> ConfigDuration {
    ConfigDuration::from_secs(5)
}
fn default_garp_repeat() -> At<u32> {
    At::new(5)
}

/// VRRP instances that move together.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncGroup {
    /// Unique group name.
    #[garde(length(min = 1, max = 64))]
    pub name: At<String>,
    /// Names of the member VRRP instances (each in at most one group).
    #[garde(length(min = 1))]
    pub instances: Vec<At<String>>,
}

/// A virtual service: address:port (or firewall mark) balanced over real servers.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VirtualServer {
    /// Unique name, used by `track_services`, logs and status.
    #[garde(length(min = 1, max = 64))]
    pub name: At<String>,
    /// Virtual address (usually a VRRP virtual address). Exclusive with `fwmark`.
    #[serde(default)]
    #[garde(skip)]
    pub address: Option<At<IpAddr>>,
    /// Virtual port, 1..65535 (with `address`).
    #[serde(default)]
    #[garde(inner(range(min = 1, max = 65535)))]
    pub port: Option<At<u32>>,
    /// Firewall mark (1..4294967295) matched instead of address/port.
    #[serde(default)]
    #[garde(inner(range(min = 1)))]
    pub fwmark: Option<At<u32>>,
    /// Address family of a `fwmark` service (default inet).
    #[serde(default)]
    #[garde(skip)]
    pub family: Option<At<Family>>,
    /// Transport protocol.
    #[serde(default)]
    #[garde(skip)]
    pub protocol: At<Protocol>,
    /// IPVS scheduler.
    #[serde(default)]
    #[garde(skip)]
    pub scheduler: Scheduler,
    /// Packet forwarding method to the real servers: `nat` (masquerading), `dr` (direct
    /// routing, default) or `tun` (IP-in-IP tunnel).
    #[serde(default)]
    #[garde(skip)]
    pub forwarding: Forwarding,
    /// Client persistence timeout (0s = off).
    #[serde(default)]
    #[garde(skip)]
    pub persistence: ConfigDuration,
    /// Minimum number of healthy real servers for the service to be up. Below it the sorry
    /// server is used and tracking VRRP instances lower their priority.
    #[serde(default = "default_quorum")]
    #[garde(range(min = 1, max = 65535))]
    pub quorum: At<u32>,
    /// Margin around `quorum` to avoid flapping: quorum is lost when fewer than
    /// `quorum - hysteresis` reals are up and regained at `quorum + hysteresis`.
    #[serde(default)]
    #[garde(range(max = 65535))]
    pub hysteresis: At<u32>,
    /// What happens to a failed real server: `remove` it from the service, or `quiesce` it
    /// (weight 0: existing connections finish, no new ones).
    #[serde(default)]
    #[garde(skip)]
    pub on_failure: OnFailure,
    /// Real server used while quorum is lost (`address[:port]`).
    #[serde(default)]
    #[garde(skip)]
    pub sorry_server: Option<At<Endpoint>>,
    /// Health check applied to every real server without its own `check`.
    #[serde(default)]
    #[garde(dive)]
    pub check: Option<Box<Check>>,
    /// The real servers.
    #[serde(default)]
    #[garde(dive)]
    pub real_servers: Vec<RealServer>,
}

fn default_quorum() -> At<u32> {
    At::new(1)
}

/// A real server behind a virtual service.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RealServer {
    /// Address of the real server.
    #[garde(skip)]
    pub address: At<IpAddr>,
    /// Port, 1..65535 (default: the virtual server's port; required for fwmark services that
    /// change ports, else the client's port is kept).
    #[serde(default)]
    #[garde(inner(range(min = 1, max = 65535)))]
    pub port: Option<At<u32>>,
    /// Scheduling weight 0..65535 (0 = no new connections).
    #[serde(default = "default_weight")]
    #[garde(range(max = 65535))]
    pub weight: At<u32>,
    /// Stop sending new connections above this many (0 = no limit).
    #[serde(default)]
    #[garde(skip)]
    pub upper_threshold: u32,
    /// Resume sending connections below this many (0 = no limit).
    #[serde(default)]
    #[garde(skip)]
    pub lower_threshold: u32,
    /// Health check for this real server (overrides the virtual server's `check`).
    #[serde(default)]
    #[garde(dive)]
    pub check: Option<Box<Check>>,
}

fn default_weight() -> At<u32> {
    At::new(1)
}

/// A health check. `type` selects the kind; the other keys apply to the kinds named in their
/// description (a key that does not apply to the kind is an error).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Kind of check: tcp, http, https, dns, smtp, udp, exec.
    #[serde(rename = "type")]
    #[garde(skip)]
    pub kind: At<CheckKind>,
    /// Time between checks (> 0).
    #[serde(default = "default_check_interval")]
    #[garde(skip)]
    pub interval: At<ConfigDuration>,
    /// Time allowed for one probe (> 0, ≤ interval).
    #[serde(default = "default_check_timeout")]
    #[garde(skip)]
    pub timeout: At<ConfigDuration>,
    /// Consecutive successes that bring a down real server up (1..100).
    #[serde(default = "default_rise")]
    #[garde(range(min = 1, max = 100))]
    pub rise: At<u32>,
    /// Consecutive failures that bring an up real server down (1..100).
    #[serde(default = "default_fall")]
    #[garde(range(min = 1, max = 100))]
    pub fall: At<u32>,
    /// Extra attempts after a failed probe before it counts as a failure (0..10).
    #[serde(default)]
    #[garde(range(max = 10))]
    pub retry: At<u32>,
    /// Delay between those attempts.
    #[serde(default = "default_retry_delay")]
    #[garde(skip)]
    pub retry_delay: ConfigDuration,
    /// Random delay (0..warmup) before the first probe, spreading checks at start.
    #[serde(default)]
    #[garde(skip)]
    pub warmup: ConfigDuration,
    /// State of the real server before the first result: `down` (default; up after `rise`
    /// successes) or `up` (down after `fall` failures).
    #[serde(default)]
    #[garde(skip)]
    pub initial_state: InitialState,
    /// Port to probe (default: the real server's port).
    #[serde(default)]
    #[garde(inner(range(min = 1, max = 65535)))]
    pub port: Option<At<u32>>,
    /// Source address of probes.
    #[serde(default)]
    #[garde(skip)]
    pub bind_address: Option<At<IpAddr>>,
    /// http/https: request path (default `/`).
    #[serde(default)]
    #[garde(skip)]
    pub path: Option<At<String>>,
    /// http/https: `GET` (default) or `HEAD`.
    #[serde(default)]
    #[garde(skip)]
    pub method: Option<At<HttpMethod>>,
    /// http/https: Host header and TLS SNI (default: the real server's address).
    #[serde(default)]
    #[garde(skip)]
    pub host: Option<At<String>>,
    /// http/https: accepted status codes, numbers or ranges (`[200, "300-399"]`); default
    /// 200-299.
    #[serde(default)]
    #[garde(skip)]
    pub expect_status: Option<At<Vec<StatusSpec>>>,
    /// http/https: regular expression the body must match (first 1 MiB).
    #[serde(default)]
    #[garde(skip)]
    pub body_regex: Option<At<String>>,
    /// http/https: MD5 of the body as 32 hex digits (keepalived `digest` compatible).
    #[serde(default)]
    #[garde(skip)]
    pub digest: Option<At<String>>,
    /// https: verify the server certificate (default true; false accepts self-signed).
    #[serde(default)]
    #[garde(skip)]
    pub tls_verify: Option<At<bool>>,
    /// http/https: extra request headers.
    #[serde(default)]
    #[garde(skip)]
    pub headers: Option<At<BTreeMap<String, String>>>,
    /// dns: name to query.
    #[serde(default)]
    #[garde(skip)]
    pub name: Option<At<String>>,
    /// dns: query type A, AAAA, NS, SOA, MX, TXT or CNAME (default A).
    #[serde(default)]
    #[garde(skip)]
    pub qtype: Option<At<DnsType>>,
    /// dns: expected response code (default NOERROR).
    #[serde(default)]
    #[garde(skip)]
    pub expect_rcode: Option<At<DnsRcode>>,
    /// dns: values that must all appear in the answer section (addresses, names, text).
    #[serde(default)]
    #[garde(skip)]
    pub expect_answers: Option<At<Vec<String>>>,
    /// smtp: name sent in EHLO/HELO (default: the router id).
    #[serde(default)]
    #[garde(skip)]
    pub helo_name: Option<At<String>>,
    /// udp: payload to send; `hex:` prefix for bytes (`hex:deadbeef`), else text.
    #[serde(default)]
    #[garde(skip)]
    pub payload: Option<At<String>>,
    /// udp: the reply must contain this (`hex:` prefix for bytes); absent = any reply.
    #[serde(default)]
    #[garde(skip)]
    pub expect: Option<At<String>>,
    /// exec: program and arguments (no shell). Exit 0 = up.
    #[serde(default)]
    #[garde(skip)]
    pub command: Option<At<Vec<String>>>,
    /// exec: the exit code sets the weight (keepalived misc_dynamic: exit 2..255 = weight
    /// code-2, 0 = up unchanged, 1 = down).
    #[serde(default)]
    #[garde(skip)]
    pub dynamic_weight: Option<At<bool>>,
}

fn default_check_interval() -> At<ConfigDuration> {
    At::new(ConfigDuration::from_secs(2))
}
fn default_check_timeout() -> At<ConfigDuration> {
    At::new(ConfigDuration::from_secs(1))
}
fn default_rise() -> At<u32> {
    At::new(2)
}
fn default_fall() -> At<u32> {
    At::new(3)
}
fn default_retry_delay() -> ConfigDuration {
    ConfigDuration::from_secs(1)
}

/// A status code or an inclusive range `"200-299"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum StatusSpec {
    Code(u16),
    Range(String),
}

macro_rules! keyword_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Deserialize, Serialize, JsonSchema)]
        #[non_exhaustive]
        pub enum $name {
            $(
                $(#[$vdoc])*
                #[serde(rename = $text)]
                $variant,
            )+
        }
        impl $name {
            /// The keyword as written in the configuration.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

keyword_enum!(
    /// Which dataplane applies virtual servers.
    Dataplane { Ipvs = "ipvs", Xdp = "xdp", #[default] None = "none" }
);

keyword_enum!(
    /// Address family.
    Family { #[default] Inet = "inet", Inet6 = "inet6" }
);

keyword_enum!(
    /// Transport protocol of a virtual service.
    Protocol { #[default] Tcp = "tcp", Udp = "udp", Sctp = "sctp" }
);

keyword_enum!(
    /// IPVS schedulers (ipvsadm -s).
    Scheduler {
        /// Round robin.
        Rr = "rr",
        /// Weighted round robin.
        Wrr = "wrr",
        /// Least connections.
        Lc = "lc",
        /// Weighted least connections (IPVS default).
        #[default]
        Wlc = "wlc",
        /// Locality-based least connections.
        Lblc = "lblc",
        /// Locality-based least connections with replication.
        Lblcr = "lblcr",
        /// Destination hashing.
        Dh = "dh",
        /// Source hashing.
        Sh = "sh",
        /// Shortest expected delay.
        Sed = "sed",
        /// Never queue.
        Nq = "nq",
        /// Maglev hashing.
        Mh = "mh",
        /// Weighted failover.
        Fo = "fo",
        /// Weighted overflow.
        Ovf = "ovf",
    }
);

keyword_enum!(
    /// Forwarding method.
    Forwarding { Nat = "nat", #[default] Dr = "dr", Tun = "tun" }
);

keyword_enum!(
    /// IPVS services on daemon stop.
    OnShutdown { #[default] Keep = "keep", Remove = "remove" }
);

keyword_enum!(
    /// What to do with a failed real server.
    OnFailure { #[default] Remove = "remove", Quiesce = "quiesce" }
);

keyword_enum!(
    /// Health check kinds.
    CheckKind { #[default] Tcp = "tcp", Http = "http", Https = "https", Dns = "dns", Smtp = "smtp", Udp = "udp", Exec = "exec" }
);

keyword_enum!(
    /// Initial health state of a real server.
    InitialState { #[default] Down = "down", Up = "up" }
);

keyword_enum!(
    /// HTTP request method of a check.
    HttpMethod { #[default] Get = "GET", Head = "HEAD" }
);

keyword_enum!(
    /// DNS query type of a check.
    DnsType { #[default] A = "A", Aaaa = "AAAA", Ns = "NS", Soa = "SOA", Mx = "MX", Txt = "TXT", Cname = "CNAME" }
);

keyword_enum!(
    /// DNS response code expected by a check.
    DnsRcode { #[default] NoError = "NOERROR", FormErr = "FORMERR", ServFail = "SERVFAIL", NxDomain = "NXDOMAIN", NotImp = "NOTIMP", Refused = "REFUSED" }
);
