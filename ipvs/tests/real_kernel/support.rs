//! Helpers for the in-VM cases: shelling out to the peer tools and building fixtures.

use std::net::IpAddr;
use std::process::Command;

use tandem_ipvs::{Destination, ForwardMethod, IpvsClient, Service, ServiceKey, VirtualService};

pub type CaseResult = Result<(), String>;

/// Runs a shell snippet (ipvsadm, ip) and returns stdout; fails on non-zero exit.
pub fn sh(script: &str) -> Result<String, String> {
    let out = Command::new("bash")
        .args(["-euc", script])
        .output()
        .map_err(|e| format!("bash: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{script}` failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ipvsadm -Ln` (plus extra flags), the peer's view of the table.
pub fn ipvsadm_list(extra: &str) -> Result<String, String> {
    sh(&format!("ipvsadm -Ln {extra}"))
}

pub fn ensure(cond: bool, what: impl FnOnce() -> String) -> CaseResult {
    if cond { Ok(()) } else { Err(what()) }
}

/// Column widths of `ipvsadm` output are not the point: compare with runs of blanks
/// collapsed to one space.
fn squeeze(s: &str) -> String {
    s.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn contains(haystack: &str, needle: &str) -> CaseResult {
    let ok = squeeze(haystack).contains(&squeeze(needle));
    ensure(ok, || format!("expected {needle:?} in:\n{haystack}"))
}

pub fn lacks(haystack: &str, needle: &str) -> CaseResult {
    let ok = !squeeze(haystack).contains(&squeeze(needle));
    ensure(ok, || format!("did not expect {needle:?} in:\n{haystack}"))
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

pub fn client() -> Result<IpvsClient, String> {
    IpvsClient::connect().map_err(|e| format!("connect: {e}"))
}

pub fn masq(addr: &str, port: u16, weight: u32) -> Destination {
    Destination::new(ip(addr), port, ForwardMethod::Masquerade, weight)
}

pub fn tcp_service(vip: &str, port: u16, sched: &str, dests: Vec<Destination>) -> VirtualService {
    VirtualService::new(Service::new(ServiceKey::tcp(ip(vip), port), sched), dests)
}

/// Number of entries in /proc/net/ip_vs: (services, destinations). Cheap, unlike ipvsadm.
pub fn proc_counts() -> Result<(usize, usize), String> {
    let text = std::fs::read_to_string("/proc/net/ip_vs").map_err(|e| e.to_string())?;
    let services = text
        .lines()
        .filter(|l| {
            l.starts_with("TCP")
                || l.starts_with("UDP")
                || l.starts_with("FWM")
                || l.starts_with("SCTP")
        })
        .count();
    let dests = text
        .lines()
        .filter(|l| l.trim_start().starts_with("->") && !l.contains("RemoteAddress"))
        .count();
    Ok((services, dests))
}
