#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly
//! Interop with real keepalived (the apt package) as the VRRP peer, VRRPv3 (100 ms adverts)
//! and VRRPv2 (1 s): keepalived master + tandem backup, keepalived dies hard → tandem takes the
//! VIP; then keepalived backup + tandem master, tandem dies → keepalived takes the VIP; tandem
//! comes back with the higher priority and preempts keepalived, which must release the VIP.
//! In every phase exactly the master holds the VIP and the client reaches it there.

#[path = "vrrp_support.rs"]
mod support;

use std::time::Duration;

use support::*;
use tandem::lab::{DirectorLab, VIP4, VIP6};

const VI: &str = "VI_1";
const KA: usize = 0; // dir1 runs keepalived
const TD: usize = 1; // dir2 runs tandem

fn keepalived_conf(version: u8, priority: u8, advert_int: &str) -> String {
    format!(
        "global_defs {{\n  router_id ka_dir1\n  vrrp_version {version}\n  script_user root\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
         priority {priority}\n  advert_int {advert_int}\n  garp_master_delay 1\n  garp_master_repeat 2\n  \
         virtual_ipaddress {{\n    10.77.0.100/24\n  }}\n}}\n"
    )
}

/// Kills keepalived on director `i` hard (its VRRP child and the parent in one `kill`, so the
/// parent cannot restart the child or make it release gracefully).
fn kill_keepalived(lab: &mut DirectorLab, i: usize) {
    let dir = lab.state_dir.join(format!("ka-{}", lab.directors[i].name));
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .unwrap_or_else(|e| panic!("keepalived {f}: {e}"))
            .trim()
            .to_string()
    };
    let (child, parent) = (read("vrrp.pid"), read("keepalived.pid"));
    tandem_testlab::run(&["kill", "-KILL", &child, &parent]).unwrap();
    lab.signal(i, "KILL").unwrap(); // reaps the parent
    // The orphaned child may linger as a zombie: a keepalived started next must not take its
    // pid file for a running daemon.
    for f in ["vrrp.pid", "keepalived.pid", "checkers.pid"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
}

fn ka_log(lab: &DirectorLab) -> String {
    std::fs::read_to_string(lab.state_dir.join("ka-dir1").join("keepalived.log"))
        .unwrap_or_default()
}

fn expect_vip(lab: &DirectorLab, i: usize, present: bool, timeout: Duration) {
    let ok = tandem_testlab::wait_until(timeout, Duration::from_millis(10), || {
        lab.has_address(i, VIP4).unwrap_or(!present) == present
    });
    assert!(
        ok,
        "{} should {}hold {VIP4} within {timeout:?}\nkeepalived log:\n{}\ntandem log:\n{}",
        lab.directors[i].name,
        if present { "" } else { "not " },
        ka_log(lab),
        log(lab, TD)
    );
}

fn interop(version: u8) {
    tandem_testlab::require_root();
    tandem_testlab::require_tool("keepalived", "keepalived");
    let mut lab = build(&format!("vrrp-ka{version}"), &["dir1", "dir2"], false);
    let (interval, ka_int, slow) = match version {
        3 => ("100ms", "0.1", Duration::from_secs(5)),
        _ => ("1s", "1", Duration::from_secs(12)),
    };
    let tandem_conf = |priority| {
        config(&[Instance {
            version,
            interval,
            ..Instance::v3(priority)
        }])
    };
    let _responders = responders(&lab, VIP4);
    let prober = prober(&lab, VIP4);

    // 1. keepalived (150) master, tandem (100) backup.
    lab.start_keepalived(KA, &keepalived_conf(version, 150, ka_int))
        .unwrap();
    expect_vip(&lab, KA, true, slow);
    lab.start(TD, &tandem_conf(100)).unwrap();
    expect_state(&lab, TD, VI, "BACKUP", slow);
    let received = counter(&lab, TD, VI, "adverts_received");
    std::thread::sleep(Duration::from_millis(if version == 3 { 500 } else { 2500 }));
    assert!(
        counter(&lab, TD, VI, "adverts_received") >= received + 2,
        "tandem accepts keepalived's v{version} adverts: {:?}",
        lab.status(TD)
    );
    let s = lab.status(TD).unwrap();
    assert_eq!(
        s.vrrp_instances[0].master_address.as_deref(),
        Some("10.77.0.1")
    );
    assert_eq!(s.vrrp_instances[0].state, "BACKUP", "tandem stays backup");
    for reason in [
        "bad_checksum",
        "version_mismatch",
        "interval_mismatch",
        "auth_type_mismatch",
    ] {
        assert_eq!(
            counter(&lab, TD, VI, reason),
            0,
            "keepalived's adverts dropped: {reason}"
        );
    }
    expect_vip(&lab, TD, false, Duration::ZERO);
    expect_answers_from(&prober, "dir1", slow);

    // 2. keepalived dies hard (its VIP stays, stale): tandem takes over, GARP moves the client.
    kill_keepalived(&mut lab, KA);
    expect_state(&lab, TD, VI, "MASTER", slow);
    expect_vip(&lab, TD, true, Duration::from_secs(1));
    expect_answers_from(&prober, "dir2", slow);
    expect_client_neighbour(&lab, VIP4, TD, slow);

    // 3. keepalived back with priority 50: backup behind tandem (the stale VIP is the dead
    //    instance's; remove it as an operator would after a crash).
    let _ = lab.directors[KA]
        .host
        .exec(&["ip", "addr", "del", "10.77.0.100/24", "dev", "eth0"]);
    lab.start_keepalived(KA, &keepalived_conf(version, 50, ka_int))
        .unwrap();
    std::thread::sleep(Duration::from_millis(if version == 3 {
        1500
    } else {
        5000
    }));
    expect_only_tandem_master(&lab);
    assert!(
        ka_log(&lab).contains("Entering BACKUP STATE"),
        "keepalived log:\n{}",
        ka_log(&lab)
    );

    // 4. tandem dies hard: keepalived takes over.
    lab.signal(TD, "KILL").unwrap();
    expect_vip(&lab, KA, true, slow);
    expect_answers_from(&prober, "dir1", slow);
    expect_client_neighbour(&lab, VIP4, KA, slow);

    // 5. tandem restarts with the higher priority: removes its stale VIP, preempts
    //    keepalived, which releases the VIP.
    lab.restart(TD).unwrap();
    expect_state(&lab, TD, VI, "MASTER", slow);
    expect_vip(&lab, KA, false, slow);
    expect_only_tandem_master(&lab);
    expect_answers_from(&prober, "dir2", slow);

    // 6. tandem stops gracefully (priority 0): keepalived takes over.
    lab.signal(TD, "TERM").unwrap();
    expect_vip(&lab, KA, true, slow);
    expect_vip(&lab, TD, false, Duration::ZERO);
    expect_answers_from(&prober, "dir1", slow);
}

fn expect_only_tandem_master(lab: &DirectorLab) {
    assert_eq!(lab.state(TD, VI).as_deref(), Some("MASTER"));
    assert!(lab.has_address(TD, VIP4).unwrap(), "tandem holds the VIP");
    assert!(
        !lab.has_address(KA, VIP4).unwrap(),
        "keepalived must not hold the VIP; its log:\n{}",
        ka_log(lab)
    );
}

#[test]
fn keepalived_interop_v3() {
    interop(3);
}

#[test]
fn keepalived_interop_v2() {
    interop(2);
}

/// VRRPv3 over IPv6 with keepalived (checksums over the IPv6 pseudo-header both ways):
/// keepalived master + tandem backup, keepalived dies → tandem takes fd77::100; keepalived
/// back with a lower priority stays backup behind tandem (it accepts tandem's adverts).
#[test]
fn keepalived_interop_v3_ipv6() {
    tandem_testlab::require_root();
    tandem_testlab::require_tool("keepalived", "keepalived");
    let mut lab = build("vrrp-ka6", &["dir1", "dir2"], true);
    let conf = |priority: u8| {
        format!(
            "global_defs {{\n  router_id ka_dir1\n  vrrp_version 3\n}}\n\
             vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
             priority {priority}\n  advert_int 0.1\n  native_ipv6\n  \
             virtual_ipaddress {{\n    fd77::100/64\n  }}\n}}\n"
        )
    };
    let vips = ["fd77::100/64"];
    let slow = Duration::from_secs(5);
    lab.start_keepalived(KA, &conf(150)).unwrap();
    let has = |lab: &DirectorLab, i| lab.has_address(i, VIP6).unwrap();
    let ok = tandem_testlab::wait_until(slow, Duration::from_millis(10), || has(&lab, KA));
    assert!(ok, "keepalived never became master:\n{}", ka_log(&lab));
    lab.start(
        TD,
        &config(&[Instance {
            vips: &vips,
            ..Instance::v3(100)
        }]),
    )
    .unwrap();
    expect_state(&lab, TD, VI, "BACKUP", slow);
    let ok = tandem_testlab::wait_until(slow, Duration::from_millis(20), || {
        counter(&lab, TD, VI, "adverts_received") >= 3
    });
    assert!(
        ok,
        "tandem accepts keepalived's IPv6 adverts: {:?}",
        lab.status(TD)
    );
    assert_eq!(counter(&lab, TD, VI, "bad_checksum"), 0);
    assert!(!has(&lab, TD));

    kill_keepalived(&mut lab, KA);
    expect_state(&lab, TD, VI, "MASTER", slow);
    assert!(has(&lab, TD));

    let _ = lab.directors[KA]
        .host
        .exec(&["ip", "addr", "del", "fd77::100/64", "dev", "eth0"]);
    lab.start_keepalived(KA, &conf(50)).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(lab.state(TD, VI).as_deref(), Some("MASTER"));
    assert!(has(&lab, TD));
    assert!(
        !has(&lab, KA),
        "keepalived took the VIP: it did not accept tandem's IPv6 adverts\n{}",
        ka_log(&lab)
    );
}
