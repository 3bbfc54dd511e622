#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly
//! tandem ↔ tandem VRRP in network namespaces (issue 3): election, failover on SIGKILL, link
//! cut and SIGTERM, preemption (on, off, delayed), the address owner, interface tracking,
//! stale-VIP cleanup after a crash, notify commands and `tandem status`. Each test builds its
//! own lab; VRRPv3 tests use 100 ms adverts (Master_Down_Interval ≈ 360 ms for priority 100),
//! VRRPv2 1 s.

#[path = "vrrp_support.rs"]
mod support;

use std::time::{Duration, Instant};

use support::*;
use tandem::lab::{VIP4, VIP6};

const VI: &str = "VI_1";
/// Generous bound for anything that takes a few 100 ms Master_Down_Intervals.
const FEW: Duration = Duration::from_secs(5);

/// dir1 (150) and dir2 (100) with VRRPv3 multicast, 100 ms adverts; dir2 runs notify
/// commands. Election, status, SIGKILL failover (GARP moves the client), restart (stale VIP
/// removed, preempt back), SIGTERM (priority 0), link cut and restore, notify order.
#[test]
fn v3_ipv4_multicast_election_failover_preempt_notify() {
    let mut lab = build("vrrp-mc", &["dir1", "dir2"], false);
    let notify_file = lab.state_dir.join("notify-dir2.log");
    let echo = format!(
        "[/bin/sh, -c, 'echo $TANDEM_INSTANCE $TANDEM_STATE $TANDEM_PRIORITY >> {}']",
        notify_file.display()
    );
    let notify = format!("notify: {{ master: {echo}, backup: {echo} }}");
    lab.start(0, &config(&[Instance::v3(150)])).unwrap();
    lab.start(
        1,
        &config(&[Instance {
            extra: &[notify.as_str()],
            ..Instance::v3(100)
        }]),
    )
    .unwrap();

    // Election: the higher priority is master and alone holds the VIP.
    expect_state(&lab, 0, VI, "MASTER", FEW);
    expect_state(&lab, 1, VI, "BACKUP", FEW);
    expect_only_master(&lab, 0, VI, VIP4);

    // Status: state, priorities, master address, advert counters that move.
    let s1 = lab.status(1).unwrap();
    let v = &s1.vrrp_instances[0];
    assert_eq!(
        (v.priority, v.effective_priority, v.vrid, v.version),
        (100, 100, 51, 3)
    );
    assert_eq!(v.advert_interval_ms, 100);
    assert_eq!(v.master_address.as_deref(), Some("10.77.0.1"), "{v:?}");
    let (sent, received) = (
        counter(&lab, 0, VI, "adverts_sent"),
        counter(&lab, 1, VI, "adverts_received"),
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        counter(&lab, 0, VI, "adverts_sent") >= sent + 2,
        "master sends adverts"
    );
    assert!(
        counter(&lab, 1, VI, "adverts_received") >= received + 2,
        "backup receives them"
    );
    assert_eq!(
        counter(&lab, 1, VI, "adverts_sent"),
        0,
        "a backup never advertises"
    );
    // The operator's command shows the same.
    let out = std::process::Command::new(tandem())
        .args(["status", "--json", "-s"])
        .arg(&lab.directors[0].socket)
        .output()
        .unwrap();
    assert!(out.status.success(), "tandem status: {out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let inst = &json["vrrp_instances"][0];
    assert_eq!(inst["state"], "MASTER", "{json}");
    assert_eq!(inst["priority"], 150, "{json}");
    assert!(
        inst["counters"]["adverts_sent"].as_u64().unwrap() > 0,
        "{json}"
    );

    let _responders = responders(&lab, VIP4);
    let prober = prober(&lab, VIP4);
    expect_answers_from(&prober, "dir1", FEW);
    expect_client_neighbour(&lab, VIP4, 0, FEW);

    // SIGKILL: dir1's VIP stays configured on the dead master; dir2 takes over after
    // Master_Down_Interval and its gratuitous ARP moves the client (its neighbour entry is
    // fresh: without GARP it would keep pointing at dir1 for tens of seconds).
    lab.signal(0, "KILL").unwrap();
    expect_state(&lab, 1, VI, "MASTER", FEW);
    assert!(lab.has_address(1, VIP4).unwrap());
    assert!(
        lab.has_address(0, VIP4).unwrap(),
        "a SIGKILLed daemon cannot remove its VIP"
    );
    expect_client_neighbour(&lab, VIP4, 1, FEW);
    expect_answers_from(&prober, "dir2", FEW);

    // Restart: dir1 removes its stale VIP at once, then preempts dir2.
    lab.restart(0).unwrap();
    expect_state(&lab, 0, VI, "MASTER", FEW);
    expect_state(&lab, 1, VI, "BACKUP", FEW);
    expect_address(&lab, 1, VIP4, false, FEW);
    expect_answers_from(&prober, "dir1", FEW);
    expect_client_neighbour(&lab, VIP4, 0, FEW);

    // SIGTERM: dir1 advertises priority 0 and removes its VIP; dir2 takes over after
    // Skew_Time instead of Master_Down_Interval.
    let zero_before = counter(&lab, 1, VI, "priority_zero_received");
    lab.signal(0, "TERM").unwrap();
    expect_state(&lab, 1, VI, "MASTER", FEW);
    assert_eq!(
        counter(&lab, 1, VI, "priority_zero_received"),
        zero_before + 1,
        "dir2 saw dir1's release"
    );
    assert!(
        !lab.has_address(0, VIP4).unwrap(),
        "SIGTERM removes the VIP"
    );
    expect_answers_from(&prober, "dir2", FEW);

    // Link cut: dir1 master again, then its cable is cut: dir2 takes over; dir1 is in FAULT
    // (carrier lost) and takes the VIP back when the cable returns (preempt).
    lab.restart(0).unwrap();
    expect_state(&lab, 0, VI, "MASTER", FEW);
    expect_state(&lab, 1, VI, "BACKUP", FEW);
    expect_answers_from(&prober, "dir1", FEW);
    lab.cut(0).unwrap();
    expect_state(&lab, 1, VI, "MASTER", FEW);
    expect_state(&lab, 0, VI, "FAULT", FEW);
    expect_answers_from(&prober, "dir2", FEW);
    lab.restore(0).unwrap();
    expect_state(&lab, 0, VI, "MASTER", FEW);
    expect_state(&lab, 1, VI, "BACKUP", FEW);
    expect_only_master(&lab, 0, VI, VIP4);
    expect_answers_from(&prober, "dir1", FEW);

    // Notify: dir2's commands ran once per transition, in order, with the environment.
    let want = [
        "VI_1 BACKUP 100", // start
        "VI_1 MASTER 100", // dir1 killed
        "VI_1 BACKUP 100", // dir1 preempts
        "VI_1 MASTER 100", // dir1 released (SIGTERM)
        "VI_1 BACKUP 100", // dir1 back
        "VI_1 MASTER 100", // dir1's cable cut
        "VI_1 BACKUP 100", // cable back, dir1 preempts
    ];
    let ok = tandem_testlab::wait_until(FEW, Duration::from_millis(20), || {
        std::fs::read_to_string(&notify_file)
            .unwrap_or_default()
            .lines()
            .count()
            >= want.len()
    });
    let got = std::fs::read_to_string(&notify_file).unwrap_or_default();
    assert!(ok, "notify ran {got:?}");
    assert_eq!(got.lines().collect::<Vec<_>>(), want);
}

fn peers(peer: &str) -> String {
    format!("unicast_peers: [{peer}]")
}

/// VRRPv3 over unicast: election and SIGKILL failover with adverts sent to the peer only.
#[test]
fn v3_ipv4_unicast_election_and_failover() {
    let mut lab = build("vrrp-uc", &["dir1", "dir2"], false);
    let (p1, p2) = (peers("10.77.0.2"), peers("10.77.0.1"));
    lab.start(
        0,
        &config(&[Instance {
            extra: &[p1.as_str()],
            ..Instance::v3(150)
        }]),
    )
    .unwrap();
    lab.start(
        1,
        &config(&[Instance {
            extra: &[p2.as_str()],
            ..Instance::v3(100)
        }]),
    )
    .unwrap();
    expect_state(&lab, 0, VI, "MASTER", FEW);
    expect_state(&lab, 1, VI, "BACKUP", FEW);
    expect_only_master(&lab, 0, VI, VIP4);
    let received = counter(&lab, 1, VI, "adverts_received");
    std::thread::sleep(Duration::from_millis(500));
    assert!(counter(&lab, 1, VI, "adverts_received") >= received + 2);

    // The client is not a peer: a unicast advert never reaches it. Listen there for 2 s.
    tandem_testlab::require_tool("tcpdump", "tcpdump");
    let out = lab
        .client
        .command(&[
            "timeout",
            "2",
            "tcpdump",
            "-n",
            "-c",
            "1",
            "-i",
            "eth0",
            "ip proto 112",
        ])
        .unwrap()
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        stderr.contains("listening on"),
        "tcpdump did not run: {stderr}"
    );
    assert!(
        !stdout.contains("VRRP"),
        "adverts reached the client: {stdout}"
    );

    let _responders = responders(&lab, VIP4);
    let prober = prober(&lab, VIP4);
    expect_answers_from(&prober, "dir1", FEW);
    lab.signal(0, "KILL").unwrap();
    expect_state(&lab, 1, VI, "MASTER", FEW);
    expect_answers_from(&prober, "dir2", FEW);
    expect_client_neighbour(&lab, VIP4, 1, FEW);
    lab.restart(0).unwrap();
    expect_state(&lab, 0, VI, "MASTER", FEW);
    expect_state(&lab, 1, VI, "BACKUP", FEW);
    expect_only_master(&lab, 0, VI, VIP4);
}

/// VRRPv3 over IPv6: election, SIGKILL failover (unsolicited NA moves the client's neighbour
/// entry), preempt back.
#[test]
fn v3_ipv6_election_and_failover() {
    let mut lab = build("vrrp-v6", &["dir1", "dir2"], true);
    let vips = ["fd77::100/64"];
    let inst = |priority| Instance {
        vips: &vips,
        ..Instance::v3(priority)
    };
    lab.start(0, &config(&[inst(150)])).unwrap();
    lab.start(1, &config(&[inst(100)])).unwrap();
    expect_state(&lab, 0, VI, "MASTER", FEW);
    expect_state(&lab, 1, VI, "BACKUP", FEW);
    expect_only_master(&lab, 0, VI, VIP6);
    let master = lab.status(1).unwrap().vrrp_instances[0]
        .master_address
        .clone()
        .unwrap_or_default();
    assert!(
        master.starts_with("fe80:"),
        "IPv6 adverts come from the link-local address, got {master:?}"
    );

    let _responders = responders(&lab, VIP6);
    let prober = prober(&lab, VIP6);
    expect_answers_from(&prober, "dir1", FEW);
    expect_client_neighbour(&lab, VIP6, 0, FEW);
    lab.signal(0, "KILL").unwrap();
    expect_state(&lab, 1, VI, "MASTER", FEW);
    expect_client_neighbour(&lab, VIP6, 1, FEW);
    expect_answers_from(&prober, "dir2", FEW);
    lab.restart(0).unwrap();
    expect_state(&lab, 0, VI, "MASTER", FEW);
    expect_state(&lab, 1, VI, "BACKUP", FEW);
    expect_only_master(&lab, 0, VI, VIP6);
    expect_answers_from(&prober, "dir1", FEW);
}

/// VRRPv2, 1 s adverts: election, SIGTERM handover after Skew_Time (≈ 0.6 s for priority 100)
/// rather than Master_Down_Interval (≈ 3.6 s), SIGKILL failover.
#[test]
fn v2_ipv4_election_sigterm_and_sigkill() {
    let mut lab = build("vrrp-v2", &["dir1", "dir2"], false);
    let inst = |priority| Instance {
        version: 2,
        interval: "1s",
        ..Instance::v3(priority)
    };
    lab.start(0, &config(&[inst(150)])).unwrap();
    lab.start(1, &config(&[inst(100)])).unwrap();
    let slow = Duration::from_secs(10);
    expect_state(&lab, 0, VI, "MASTER", slow);
    expect_state(&lab, 1, VI, "BACKUP", slow);
    expect_only_master(&lab, 0, VI, VIP4);
    assert_eq!(lab.status(0).unwrap().vrrp_instances[0].version, 2);

    let _responders = responders(&lab, VIP4);
    let prober = prober(&lab, VIP4);
    expect_answers_from(&prober, "dir1", FEW);

    // SIGTERM: priority 0 → dir2 is master well before 3 × Advertisement_Interval.
    let t = Instant::now();
    lab.signal(0, "TERM").unwrap();
    expect_state(&lab, 1, VI, "MASTER", slow);
    let took = t.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "dir2 became master {took:?} after dir1's SIGTERM: it did not use Skew_Time"
    );
    assert_eq!(counter(&lab, 1, VI, "priority_zero_received"), 1);
    expect_answers_from(&prober, "dir2", FEW);

    // dir1 back (preempts after its Master_Down_Interval), then SIGKILLed: dir2 takes over
    // after Master_Down_Interval.
    lab.restart(0).unwrap();
    expect_state(&lab, 0, VI, "MASTER", slow);
    expect_state(&lab, 1, VI, "BACKUP", slow);
    let t = Instant::now();
    lab.signal(0, "KILL").unwrap();
    expect_state(&lab, 1, VI, "MASTER", slow);
    assert!(
        t.elapsed() > Duration::from_millis(2000),
        "dir2 took over {:?} after a SIGKILL, before Master_Down_Interval",
        t.elapsed()
    );
    expect_answers_from(&prober, "dir2", FEW);
}

/// `preempt: false`: after a crash, the restarted higher-priority director removes the stale
/// VIP it does not own and stays BACKUP behind the lower-priority master.
#[test]
fn no_preempt_and_stale_vip_removed_after_sigkill() {
    let mut lab = build("vrrp-np", &["dir1", "dir2"], false);
    lab.start(
        0,
        &config(&[Instance {
            extra: &["preempt: false"],
            ..Instance::v3(150)
        }]),
    )
    .unwrap();
    lab.start(1, &config(&[Instance::v3(100)])).unwrap();
    expect_state(&lab, 0, VI, "MASTER", FEW);
    expect_state(&lab, 1, VI, "BACKUP", FEW);

    lab.signal(0, "KILL").unwrap();
    expect_state(&lab, 1, VI, "MASTER", FEW);
    assert!(
        lab.has_address(0, VIP4).unwrap(),
        "stale VIP left by SIGKILL"
    );

    lab.restart(0).unwrap();
    expect_state(&lab, 0, VI, "BACKUP", FEW);
    expect_address(&lab, 0, VIP4, false, FEW);
    // Many Master_Down_Intervals later, still BACKUP: no preemption.
    std::thread::sleep(Duration::from_millis(1500));
    expect_only_master(&lab, 1, VI, VIP4);
    assert_eq!(counter(&lab, 0, VI, "become_master"), 0);
}

/// `preempt_delay: 2s`: a higher-priority director that comes up behind a master follows it
/// for the delay, then takes over.
#[test]
fn preempt_delay() {
    let mut lab = build("vrrp-pd", &["dir1", "dir2"], false);
    lab.start(1, &config(&[Instance::v3(100)])).unwrap();
    expect_state(&lab, 1, VI, "MASTER", FEW);
    let t = Instant::now();
    lab.start(
        0,
        &config(&[Instance {
            extra: &["preempt_delay: 2s"],
            ..Instance::v3(150)
        }]),
    )
    .unwrap();
    expect_state(&lab, 0, VI, "BACKUP", FEW);
    std::thread::sleep(Duration::from_secs(1).saturating_sub(t.elapsed()));
    expect_only_master(&lab, 1, VI, VIP4);
    expect_state(&lab, 0, VI, "MASTER", Duration::from_secs(8));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(1900),
        "dir1 preempted {took:?} after start, before its 2 s preempt delay"
    );
    expect_state(&lab, 1, VI, "BACKUP", FEW);
    expect_only_master(&lab, 0, VI, VIP4);
}

/// Priority 255 (address owner): master at once on start, without waiting
/// Master_Down_Interval (3 s at 1 s adverts), and the other director stays backup.
#[test]
fn address_owner_is_master_at_once() {
    let mut lab = build("vrrp-own", &["dir1", "dir2"], false);
    let inst = |priority| Instance {
        interval: "1s",
        ..Instance::v3(priority)
    };
    lab.start(0, &config(&[inst(255)])).unwrap();
    // Measured from the control socket answering (the instance starts with the daemon).
    let took = lab
        .wait_state(0, VI, "MASTER", Duration::from_secs(5))
        .unwrap();
    assert!(
        took < Duration::from_millis(2000),
        "the owner became master {took:?} after start: it waited for Master_Down_Interval (3 s)"
    );
    lab.start(1, &config(&[inst(100)])).unwrap();
    expect_state(&lab, 1, VI, "BACKUP", FEW);
    std::thread::sleep(Duration::from_millis(4000));
    expect_only_master(&lab, 0, VI, VIP4);
    assert!(counter(&lab, 1, VI, "adverts_received") >= 2);
}

/// A tracked interface going down lowers the effective priority (150 − 60 = 90 < 100): dir2
/// preempts; back up, dir1 preempts again.
#[test]
fn tracked_interface_down_lowers_priority_and_fails_over() {
    let mut lab = build("vrrp-trk", &["dir1", "dir2"], false);
    let host = lab.directors[0].host.clone();
    host.exec(&[
        "ip", "link", "add", "trk0", "type", "veth", "peer", "name", "trk1",
    ])
    .unwrap();
    host.link_set("trk0", true).unwrap();
    host.link_set("trk1", true).unwrap();
    lab.start(
        0,
        &config(&[Instance {
            extra: &["track_interfaces: [{ name: trk0, weight: -60 }]"],
            ..Instance::v3(150)
        }]),
    )
    .unwrap();
    lab.start(1, &config(&[Instance::v3(100)])).unwrap();
    expect_state(&lab, 0, VI, "MASTER", FEW);
    expect_state(&lab, 1, VI, "BACKUP", FEW);
    assert_eq!(effective_priority(&lab, 0, VI), 150);

    // The peer end down: trk0 loses carrier.
    host.link_set("trk1", false).unwrap();
    let ok = tandem_testlab::wait_until(FEW, Duration::from_millis(10), || {
        effective_priority(&lab, 0, VI) == 90
    });
    assert!(ok, "effective priority not lowered: {:?}", lab.status(0));
    expect_state(&lab, 1, VI, "MASTER", FEW);
    expect_state(&lab, 0, VI, "BACKUP", FEW);
    expect_only_master(&lab, 1, VI, VIP4);
    let s = lab.status(0).unwrap();
    assert_eq!(
        s.vrrp_instances[0].priority, 150,
        "configured priority unchanged"
    );

    host.link_set("trk1", true).unwrap();
    expect_state(&lab, 0, VI, "MASTER", FEW);
    expect_state(&lab, 1, VI, "BACKUP", FEW);
    assert_eq!(effective_priority(&lab, 0, VI), 150);
    expect_only_master(&lab, 0, VI, VIP4);
}

/// VRRPv3 backups learn the master's advertisement interval (RFC 5798 §6.4.2): dir2,
/// configured with 1 s adverts, follows dir1's 100 ms ones, so it takes over about 0.36 s after
/// dir1 dies instead of 3.6 s.
#[test]
fn v3_backup_learns_master_interval() {
    let mut lab = build("vrrp-learn", &["dir1", "dir2"], false);
    lab.start(0, &config(&[Instance::v3(150)])).unwrap();
    expect_state(&lab, 0, VI, "MASTER", FEW);
    lab.start(
        1,
        &config(&[Instance {
            interval: "1s",
            ..Instance::v3(100)
        }]),
    )
    .unwrap();
    expect_state(&lab, 1, VI, "BACKUP", FEW);
    let ok = tandem_testlab::wait_until(FEW, Duration::from_millis(20), || {
        counter(&lab, 1, VI, "adverts_received") >= 3
    });
    assert!(ok, "dir2 hears dir1");
    let t = Instant::now();
    lab.signal(0, "KILL").unwrap();
    expect_state(&lab, 1, VI, "MASTER", FEW);
    let took = t.elapsed();
    assert!(
        took < Duration::from_millis(2000),
        "dir2 took over {took:?} after the kill: it kept its own 1 s interval (Master_Down 3.6 s)"
    );
}

/// Sync group G1 of VI_a (VRID 51, VIP4, `extra_a` lines) and VI_b (VRID 52, 10.77.0.101),
/// both at `priority`.
fn sync_group_config(priority: u8, extra_a: &[&str]) -> String {
    config(&[
        Instance {
            name: "VI_a",
            extra: extra_a,
            ..Instance::v3(priority)
        },
        Instance {
            name: "VI_b",
            vrid: 52,
            vips: &["10.77.0.101/24"],
            ..Instance::v3(priority)
        },
    ])
    .replace(
        "dataplane: none\n",
        "sync_groups:\n  - { name: G1, instances: [VI_a, VI_b] }\ndataplane: none\n",
    )
}

/// A sync group moves together: dir1's VI_a tracks trk0 with weight 0 (down = FAULT); VI_b,
/// in the same group, follows it into FAULT. Both release (priority 0) and dir2 becomes master
/// of both; with trk0 back, dir1 takes both back.
#[test]
fn sync_group_follows_a_member_fault() {
    let mut lab = build("vrrp-sync", &["dir1", "dir2"], false);
    let host = lab.directors[0].host.clone();
    host.exec(&[
        "ip", "link", "add", "trk0", "type", "veth", "peer", "name", "trk1",
    ])
    .unwrap();
    host.link_set("trk0", true).unwrap();
    host.link_set("trk1", true).unwrap();
    let group = sync_group_config;
    lab.start(
        0,
        &group(150, &["track_interfaces: [{ name: trk0, weight: 0 }]"]),
    )
    .unwrap();
    lab.start(1, &group(100, &[])).unwrap();
    for vi in ["VI_a", "VI_b"] {
        expect_state(&lab, 0, vi, "MASTER", FEW);
        expect_state(&lab, 1, vi, "BACKUP", FEW);
    }
    assert_eq!(
        lab.status(0).unwrap().vrrp_instances[1]
            .sync_group
            .as_deref(),
        Some("G1")
    );

    host.link_set("trk1", false).unwrap();
    for vi in ["VI_a", "VI_b"] {
        expect_state(&lab, 0, vi, "FAULT", FEW);
        expect_state(&lab, 1, vi, "MASTER", FEW);
        assert_eq!(
            counter(&lab, 1, vi, "priority_zero_received"),
            1,
            "{vi}: dir1 released"
        );
    }
    expect_address(&lab, 0, VIP4, false, FEW);
    expect_address(&lab, 0, "10.77.0.101", false, FEW);
    assert!(lab.has_address(1, VIP4).unwrap() && lab.has_address(1, "10.77.0.101").unwrap());

    host.link_set("trk1", true).unwrap();
    for vi in ["VI_a", "VI_b"] {
        expect_state(&lab, 0, vi, "MASTER", FEW);
        expect_state(&lab, 1, vi, "BACKUP", FEW);
    }
    expect_only_master(&lab, 0, "VI_a", VIP4);
    expect_only_master(&lab, 0, "VI_b", "10.77.0.101");
}

/// Notify commands for every state, in transition order, with the previous state: BACKUP on
/// start, MASTER, FAULT on link loss, BACKUP and MASTER when it returns, and `stop` (state
/// INIT) on SIGTERM.
#[test]
fn notify_every_state_including_fault_and_stop() {
    let mut lab = build("vrrp-notify", &["dir1"], false);
    let file = lab.state_dir.join("notify-dir1.log");
    let echo = format!(
        "[/bin/sh, -c, 'echo $TANDEM_INSTANCE $TANDEM_STATE $TANDEM_FROM_STATE $TANDEM_PRIORITY >> {}']",
        file.display()
    );
    let notify =
        format!("notify: {{ master: {echo}, backup: {echo}, fault: {echo}, stop: {echo} }}");
    lab.start(
        0,
        &config(&[Instance {
            extra: &[notify.as_str()],
            ..Instance::v3(120)
        }]),
    )
    .unwrap();
    expect_state(&lab, 0, VI, "MASTER", FEW);
    lab.cut(0).unwrap();
    expect_state(&lab, 0, VI, "FAULT", FEW);
    lab.restore(0).unwrap();
    expect_state(&lab, 0, VI, "MASTER", FEW);
    lab.signal(0, "TERM").unwrap();
    let want = [
        "VI_1 BACKUP INIT 120",
        "VI_1 MASTER BACKUP 120",
        "VI_1 FAULT MASTER 120",
        "VI_1 BACKUP FAULT 120",
        "VI_1 MASTER BACKUP 120",
        "VI_1 INIT MASTER 120",
    ];
    let read = || std::fs::read_to_string(&file).unwrap_or_default();
    let ok = tandem_testlab::wait_until(FEW, Duration::from_millis(20), || {
        read().lines().count() >= want.len()
    });
    assert!(ok, "notify ran {:?}; log:\n{}", read(), log(&lab, 0));
    assert_eq!(read().lines().collect::<Vec<_>>(), want);
}

/// A reload that changes only an instance's priority applies it in place: lowering it on the
/// master hands the VIP to the peer in one preemption (no restart, so no priority-0 release
/// and no INIT), raising it again takes it back the same way.
#[test]
fn reload_changing_priority_moves_the_vip_without_a_restart() {
    let mut lab = build("vrrp-reprio", &["dir1", "dir2"], false);
    lab.start(0, &config(&[Instance::v3(150)])).unwrap();
    lab.start(1, &config(&[Instance::v3(100)])).unwrap();
    expect_state(&lab, 0, VI, "MASTER", FEW);
    expect_state(&lab, 1, VI, "BACKUP", FEW);

    let path = lab.directors[0].config.clone();
    let original = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, original.replace("priority: 150", "priority: 50")).unwrap();
    lab.signal(0, "HUP").unwrap();
    expect_state(&lab, 1, VI, "MASTER", FEW);
    expect_state(&lab, 0, VI, "BACKUP", FEW);
    expect_only_master(&lab, 1, VI, VIP4);
    let status = lab.status(0).unwrap();
    assert_eq!(status.reloads_ok, 1);
    assert_eq!(status.vrrp_instances[0].priority, 50, "configured priority");
    assert_eq!(effective_priority(&lab, 0, VI), 50);
    // Handed over by preemption, not released by a restart.
    assert_eq!(counter(&lab, 1, VI, "priority_zero_received"), 0);
    let log = log(&lab, 0);
    assert!(log.contains("applied in place"), "{log}");
    assert!(!log.contains("-> INIT"), "the instance restarted:\n{log}");

    std::fs::write(&path, &original).unwrap();
    lab.signal(0, "HUP").unwrap();
    expect_state(&lab, 0, VI, "MASTER", FEW);
    expect_state(&lab, 1, VI, "BACKUP", FEW);
    expect_only_master(&lab, 0, VI, VIP4);
    assert_eq!(counter(&lab, 1, VI, "priority_zero_received"), 0);
}

/// The sync-group gate: dir2 stops hearing dir1's adverts for VI_b only (an nftables rule
/// drops VRID 52 in dir2's namespace, a partial network failure). VI_b's timer runs out, but
/// VI_a still hears its master, so VI_b stays BACKUP: no split brain, no split group. When
/// dir1 really dies, both members move to dir2 together.
#[test]
fn sync_group_member_losing_adverts_alone_does_not_split_the_group() {
    tandem_testlab::require_tool("nft", "nftables");
    let mut lab = build("vrrp-gate", &["dir1", "dir2"], false);
    lab.start(0, &sync_group_config(150, &[])).unwrap();
    lab.start(1, &sync_group_config(100, &[])).unwrap();
    for vi in ["VI_a", "VI_b"] {
        expect_state(&lab, 0, vi, "MASTER", FEW);
        expect_state(&lab, 1, vi, "BACKUP", FEW);
    }

    // dir2 no longer hears VRID 52 (byte 1 of the VRRP header, after a 20-byte IPv4 header).
    let dir2 = lab.directors[1].host.clone();
    dir2.exec(&["nft", "add", "table", "inet", "gate"]).unwrap();
    dir2.exec(&[
        "nft",
        "add chain inet gate input { type filter hook input priority 0 ; }",
    ])
    .unwrap();
    dir2.exec(&[
        "nft",
        "add rule inet gate input ip protocol 112 @nh,168,8 52 drop",
    ])
    .unwrap();
    // Well past VI_b's Master_Down_Interval (~0.36 s): dir2 holds it back.
    std::thread::sleep(Duration::from_millis(1500));
    for vi in ["VI_a", "VI_b"] {
        expect_state(&lab, 0, vi, "MASTER", FEW);
        expect_state(&lab, 1, vi, "BACKUP", FEW);
    }
    assert!(
        !lab.has_address(1, "10.77.0.101").unwrap(),
        "dir2 took VI_b alone"
    );
    assert!(
        log(&lab, 1).contains("is ready to become master"),
        "dir2's VI_b should be waiting for its group:\n{}",
        log(&lab, 1)
    );
    dir2.exec(&["nft", "delete", "table", "inet", "gate"])
        .unwrap();

    // dir1 dies: the group moves as a whole.
    lab.signal(0, "KILL").unwrap();
    for vi in ["VI_a", "VI_b"] {
        expect_state(&lab, 1, vi, "MASTER", FEW);
    }
    assert!(lab.has_address(1, VIP4).unwrap() && lab.has_address(1, "10.77.0.101").unwrap());
}

/// `accept_mode: false`: the non-owner master drops traffic to its VIP (RFC 5798 §6.4.3) with
/// an nftables chain it installs as master and removes on SIGTERM; the default accepts.
#[test]
fn accept_mode_false_drops_traffic_to_the_vip_while_master() {
    tandem_testlab::require_tool("nft", "nftables");
    tandem_testlab::require_tool("ping", "iputils-ping");
    let mut lab = build("vrrp-accept", &["dir1"], false);
    let ping = |lab: &tandem::lab::DirectorLab| {
        lab.client
            .exec(&["ping", "-c", "1", "-W", "1", "10.77.0.100"])
            .is_ok()
    };
    lab.start(
        0,
        &config(&[Instance {
            extra: &["accept_mode: false"],
            ..Instance::v3(150)
        }]),
    )
    .unwrap();
    expect_state(&lab, 0, VI, "MASTER", FEW);
    expect_address(&lab, 0, VIP4, true, FEW);
    assert!(!ping(&lab), "the VIP answered ping with accept_mode: false");
    let dir1 = lab.directors[0].host.clone();
    let chain = dir1
        .exec_stdout(&["nft", "list", "chain", "inet", "tandem_accept", "vr51_v4"])
        .unwrap();
    assert!(
        chain.contains("ip daddr 10.77.0.100") && !chain.contains("packets 0 "),
        "the drop rule should have counted the ping:\n{chain}"
    );

    lab.signal(0, "TERM").unwrap();
    let tables = dir1.exec_stdout(&["nft", "list", "ruleset"]).unwrap();
    assert!(
        !tables.contains("vr51_v4"),
        "filter left behind after SIGTERM:\n{tables}"
    );

    // The default accepts.
    lab.start(0, &config(&[Instance::v3(150)])).unwrap();
    expect_state(&lab, 0, VI, "MASTER", FEW);
    expect_address(&lab, 0, VIP4, true, FEW);
    assert!(ping(&lab), "the VIP should answer ping by default");
}

/// `garp.refresh`: while master, a gratuitous ARP burst goes out every `refresh` (here 1 s,
/// so a 3.5 s capture on the client sees at least 2), and none once the instance stops.
#[test]
fn garp_refresh_repeats_gratuitous_arp_while_master() {
    tandem_testlab::require_tool("tcpdump", "tcpdump");
    let mut lab = build("vrrp-garp", &["dir1"], false);
    lab.start(
        0,
        &config(&[Instance {
            extra: &["garp: { delay: 0s, repeat: 1, refresh: 1s }"],
            ..Instance::v3(150)
        }]),
    )
    .unwrap();
    expect_state(&lab, 0, VI, "MASTER", FEW);
    let capture = |lab: &tandem::lab::DirectorLab| {
        let out = lab
            .client
            .command(&["timeout", "3.5", "tcpdump", "-n", "-l", "-i", "eth0", "arp"])
            .unwrap()
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            stderr.contains("listening on"),
            "tcpdump did not run: {stderr}"
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("tell 10.77.0.100,") || l.contains("Reply 10.77.0.100 is-at"))
            .count()
    };
    let seen = capture(&lab);
    // One burst per second for 3.5 s (minus tcpdump's start-up): at least 2.
    assert!(
        seen >= 2,
        "only {seen} gratuitous ARPs in 3.5 s with refresh 1s"
    );
    lab.signal(0, "TERM").unwrap();
    assert_eq!(
        capture(&lab),
        0,
        "gratuitous ARP after the instance stopped"
    );
}
