#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly
#![allow(dead_code)] // each vrrp_* test file uses part of these helpers
//! Shared helpers of the VRRP integration tests (`tests/vrrp_*.rs` include this file with
//! `#[path]`): director configurations, waits with clear failure messages, the client's view
//! of the VIP (neighbour entry, UDP prober), counters from `tandem status`.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use tandem::lab::DirectorLab;
use tandem::lab::probe::{Prober, Responder};

/// Port of the UDP responders on the VIP.
pub const PROBE_PORT: u16 = 7777;

/// The tandem binary under test.
pub fn tandem() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tandem"))
}

/// Builds a lab with directors `dir1`, `dir2` (or the given names); fails loudly.
pub fn build(tag: &str, directors: &[&str], ipv6: bool) -> DirectorLab {
    tandem_testlab::require_root();
    DirectorLab::build(tag, directors, 0, ipv6, tandem()).expect("lab builds")
}

/// One VRRP instance in YAML (a list item under `vrrp_instances:`). `extra` lines are
/// appended with the item's indentation (e.g. "preempt: false").
#[derive(Debug)]
pub struct Instance<'a> {
    pub name: &'a str,
    pub vrid: u8,
    pub priority: u8,
    pub version: u8,
    pub interval: &'a str,
    pub vips: &'a [&'a str],
    pub extra: &'a [&'a str],
}

impl Instance<'_> {
    /// v3, 100 ms adverts, VIP 10.77.0.100/24, VRID 51, instance VI_1.
    pub fn v3(priority: u8) -> Instance<'static> {
        Instance {
            name: "VI_1",
            vrid: 51,
            priority,
            version: 3,
            interval: "100ms",
            vips: &["10.77.0.100/24"],
            extra: &[],
        }
    }

    pub fn yaml(&self) -> String {
        let mut s = format!(
            "  - name: {}\n    interface: eth0\n    vrid: {}\n    priority: {}\n    version: {}\n    advert_interval: {}\n    virtual_addresses: [{}]\n",
            self.name,
            self.vrid,
            self.priority,
            self.version,
            self.interval,
            self.vips.join(", ")
        );
        // Two gratuitous packets at once, a second burst 1 s later (the default waits 5 s).
        if !self.extra.iter().any(|l| l.starts_with("garp")) {
            s.push_str("    garp: { delay: 1s, repeat: 2 }\n");
        }
        for line in self.extra {
            s.push_str("    ");
            s.push_str(line);
            s.push('\n');
        }
        s
    }
}

/// A whole director configuration (without `global:`, which the lab adds).
pub fn config(instances: &[Instance<'_>]) -> String {
    let mut s = String::from("vrrp_instances:\n");
    for i in instances {
        s.push_str(&i.yaml());
    }
    s.push_str("dataplane: none\n");
    s
}

/// Waits until director `i`'s `instance` is in `state`; panics with the daemon log otherwise.
pub fn expect_state(lab: &DirectorLab, i: usize, instance: &str, state: &str, timeout: Duration) {
    lab.wait_state(i, instance, state, timeout)
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Waits until director `i` has (or has not) `addr`.
pub fn expect_address(lab: &DirectorLab, i: usize, addr: &str, present: bool, timeout: Duration) {
    let ok = tandem_testlab::wait_until(timeout, Duration::from_millis(10), || {
        lab.has_address(i, addr).unwrap_or(!present) == present
    });
    assert!(
        ok,
        "{}: address {addr} should be {} within {timeout:?}; log:\n{}",
        lab.directors[i].name,
        if present { "present" } else { "absent" },
        log(lab, i)
    );
}

/// The current daemon log of director `i`.
pub fn log(lab: &DirectorLab, i: usize) -> String {
    std::fs::read_to_string(&lab.directors[i].log).unwrap_or_default()
}

/// Counter `name` of `instance` on director `i`, from the daemon's status.
pub fn counter(lab: &DirectorLab, i: usize, instance: &str, name: &str) -> u64 {
    let status = lab.status(i).expect("status answers");
    let inst = status
        .vrrp_instances
        .iter()
        .find(|v| v.name == instance)
        .unwrap_or_else(|| panic!("no instance {instance} in status"));
    *inst
        .counters
        .get(name)
        .unwrap_or_else(|| panic!("no counter {name} in {:?}", inst.counters))
}

/// Effective priority of `instance` on director `i`.
pub fn effective_priority(lab: &DirectorLab, i: usize, instance: &str) -> u8 {
    lab.status(i)
        .expect("status answers")
        .vrrp_instances
        .iter()
        .find(|v| v.name == instance)
        .map(|v| v.effective_priority)
        .expect("instance in status")
}

/// UDP responders on the VIP in every director (answering with the director's name).
pub fn responders(lab: &DirectorLab, vip: &str) -> Vec<Responder> {
    let vip: IpAddr = vip.parse().expect("VIP");
    lab.directors
        .iter()
        .map(|d| Responder::start(&d.host.netns, vip, PROBE_PORT, &d.name).expect("responder"))
        .collect()
}

/// A prober in the client namespace sending to the VIP every 20 ms.
pub fn prober(lab: &DirectorLab, vip: &str) -> Prober {
    let vip: IpAddr = vip.parse().expect("VIP");
    Prober::start(
        &lab.client.netns,
        SocketAddr::new(vip, PROBE_PORT),
        Duration::from_millis(20),
    )
    .expect("prober")
}

/// Waits until the client's probes are answered by `who` (the VIP's traffic reaches that
/// director: it holds the VIP and the client's neighbour entry points at it).
pub fn expect_answers_from(prober: &Prober, who: &str, timeout: Duration) -> Duration {
    let start = Instant::now();
    let ok = tandem_testlab::wait_until(timeout, Duration::from_millis(10), || {
        prober.last_answer().as_deref() == Some(who)
    });
    assert!(
        ok,
        "the client's probes to the VIP were not answered by {who} within {timeout:?} (last answer: {:?})",
        prober.last_answer()
    );
    start.elapsed()
}

/// The link-layer address the client's neighbour table has for `addr`, if any.
pub fn client_neighbour(lab: &DirectorLab, addr: &str) -> Option<String> {
    let out = lab
        .client
        .exec_stdout(&["ip", "neigh", "show", addr])
        .ok()?;
    let words: Vec<&str> = out.split_whitespace().collect();
    words
        .iter()
        .position(|w| *w == "lladdr")
        .and_then(|p| words.get(p + 1))
        .map(|m| m.to_lowercase())
}

/// Waits until the client's neighbour entry for `addr` is director `i`'s MAC address.
pub fn expect_client_neighbour(lab: &DirectorLab, addr: &str, i: usize, timeout: Duration) {
    let mac = lab.directors[i].link.mac.to_lowercase();
    let ok = tandem_testlab::wait_until(timeout, Duration::from_millis(10), || {
        client_neighbour(lab, addr).as_deref() == Some(mac.as_str())
    });
    assert!(
        ok,
        "the client's neighbour entry for {addr} should be {} ({mac}) within {timeout:?}, is {:?}",
        lab.directors[i].name,
        client_neighbour(lab, addr)
    );
}

/// Asserts that `instance` is MASTER on exactly director `master` and BACKUP on the others,
/// and that only the master holds `vip`.
pub fn expect_only_master(lab: &DirectorLab, master: usize, instance: &str, vip: &str) {
    for i in 0..lab.directors.len() {
        let want = if i == master { "MASTER" } else { "BACKUP" };
        assert_eq!(
            lab.state(i, instance).as_deref(),
            Some(want),
            "{} state",
            lab.directors[i].name
        );
        assert_eq!(
            lab.has_address(i, vip).unwrap(),
            i == master,
            "{} holds {vip}: {}",
            lab.directors[i].name,
            i == master
        );
    }
}
