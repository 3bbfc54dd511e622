//! The status report: what `tandem status` prints and `/status` serves. Built from the
//! director's live state, never from the configuration alone.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub router_id: String,
    pub config_file: String,
    /// Successful and failed reloads since start.
    pub reloads_ok: u64,
    pub reloads_failed: u64,
    /// Errors of the last failed reload (empty after a successful one).
    #[serde(default)]
    pub last_reload_errors: Vec<String>,
    pub dataplane: String,
    /// IPVS: whether the generic-netlink family answered, the last error, operations applied.
    #[serde(default)]
    pub dataplane_connected: Option<bool>,
    #[serde(default)]
    pub dataplane_error: Option<String>,
    #[serde(default)]
    pub dataplane_operations: Option<u64>,
    pub vrrp_instances: Vec<VrrpInstanceStatus>,
    pub virtual_servers: Vec<VirtualServerStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VrrpInstanceStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub version: u8,
    /// INIT, BACKUP, MASTER or FAULT.
    pub state: String,
    /// Configured priority.
    pub priority: u8,
    /// Priority after tracking adjustments (what is advertised).
    pub effective_priority: u8,
    pub advert_interval_ms: u64,
    /// Address of the current master as last seen (this director's when MASTER).
    #[serde(default)]
    pub master_address: Option<String>,
    pub virtual_addresses: Vec<String>,
    #[serde(default)]
    pub sync_group: Option<String>,
    /// Counters (adverts sent/received, drops by reason, transitions).
    #[serde(default)]
    pub counters: std::collections::BTreeMap<String, u64>,
    /// Why the instance is not running (interface missing, no address), if so.
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VirtualServerStatus {
    pub name: String,
    /// `address:port/protocol` or `fwmark:N`.
    pub service: String,
    pub scheduler: String,
    pub forwarding: String,
    pub quorum: u32,
    pub up_real_servers: u32,
    pub has_quorum: bool,
    pub sorry_server_active: bool,
    pub real_servers: Vec<RealServerStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RealServerStatus {
    pub address: String,
    pub port: u16,
    pub weight: u32,
    /// Weight applied to the dataplane (0 when quiesced, dynamic weight from exec checks).
    pub effective_weight: u32,
    /// up or down.
    pub state: String,
    /// Kind of check, or `none` (always up).
    pub check: String,
    #[serde(default)]
    pub last_result: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// Present when the dataplane reports live counters (IPVS).
    #[serde(default)]
    pub active_connections: Option<u64>,
    #[serde(default)]
    pub inactive_connections: Option<u64>,
}

impl Status {
    /// Human-readable form, in the spirit of `ipvsadm -Ln` and keepalived's data dump.
    pub fn render_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "tandem {} (config {}, dataplane {}, reloads ok {} failed {})",
            self.router_id, self.config_file, self.dataplane, self.reloads_ok, self.reloads_failed
        );
        if let Some(e) = &self.dataplane_error {
            let _ = writeln!(out, "  dataplane error: {e}");
        }
        for e in &self.last_reload_errors {
            let _ = writeln!(out, "  last reload error: {e}");
        }
        if !self.vrrp_instances.is_empty() {
            let _ = writeln!(out, "\nVRRP instances");
            let _ = writeln!(
                out,
                "  {:<16} {:<10} {:>4} {:>2} {:<7} {:>8} {:<18} VIPs",
                "NAME", "IFACE", "VRID", "V", "STATE", "PRIO", "MASTER"
            );
            for i in &self.vrrp_instances {
                let prio = if i.effective_priority == i.priority {
                    i.priority.to_string()
                } else {
                    format!("{}({})", i.effective_priority, i.priority)
                };
                let _ = writeln!(
                    out,
                    "  {:<16} {:<10} {:>4} {:>2} {:<7} {:>8} {:<18} {}",
                    i.name,
                    i.interface,
                    i.vrid,
                    i.version,
                    i.state,
                    prio,
                    i.master_address.as_deref().unwrap_or("-"),
                    i.virtual_addresses.join(",")
                );
            }
        }
        if !self.virtual_servers.is_empty() {
            let _ = writeln!(out, "\nVirtual servers");
            for v in &self.virtual_servers {
                let _ = writeln!(
                    out,
                    "  {} {} {} {} quorum {}/{}{}{}",
                    v.name,
                    v.service,
                    v.scheduler,
                    v.forwarding,
                    v.up_real_servers,
                    v.quorum,
                    if v.has_quorum { "" } else { " QUORUM LOST" },
                    if v.sorry_server_active {
                        " (sorry server)"
                    } else {
                        ""
                    }
                );
                for r in &v.real_servers {
                    let conns = match (r.active_connections, r.inactive_connections) {
                        (Some(a), Some(i)) => format!(" act {a} inact {i}"),
                        _ => String::new(),
                    };
                    let _ = writeln!(
                        out,
                        "    -> {:<22} weight {:>5}/{:<5} {:<5} {:<6}{}{}{}",
                        endpoint(&r.address, r.port),
                        r.effective_weight,
                        r.weight,
                        r.state,
                        r.check,
                        r.latency_ms
                            .map(|l| format!(" {l:.1}ms"))
                            .unwrap_or_default(),
                        r.reason
                            .as_deref()
                            .map(|x| format!(" ({x})"))
                            .unwrap_or_default(),
                        conns
                    );
                }
            }
        }
        out
    }
}

fn endpoint(address: &str, port: u16) -> String {
    if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}
