#![allow(clippy::expect_used, clippy::unwrap_used)]
//! SNMP notifications against a real net-snmp `snmptrapd` listening on loopback inside a lab
//! namespace: every notification kind with its OIDs and varbind values, informs acknowledged
//! (and retried while the receiver is down), and a dead receiver that never delays `emit`.

use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;

use nix::sched::{CloneFlags, setns};
use tandem::alerts::{AlertEvent, Alerts};
use tandem::config;
use tandem::metrics::Metrics;
use tandem_testlab::{Host, Lab, require_root, require_tool, wait_until};

struct Receiver {
    lab: Lab,
    host: Host,
    dir: tempfile::TempDir,
}

impl Receiver {
    fn new(tag: &str) -> Receiver {
        Receiver::with_ipv6(tag, false)
    }

    fn with_ipv6(tag: &str, ipv6: bool) -> Receiver {
        require_root();
        require_tool("snmptrapd", "snmptrapd");
        let lab = Lab::new(tag).expect("lab");
        let host = lab.host_with_ipv6("nms", ipv6).expect("host");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("snmptrapd.conf"),
            "authCommunity log,execute,net public\n",
        )
        .unwrap();
        Receiver { lab, host, dir }
    }

    fn log_path(&self, port: u16) -> PathBuf {
        self.dir.path().join(format!("traps-{port}.log"))
    }

    /// Starts snmptrapd on 127.0.0.1:`port` of the namespace and waits until it listens.
    fn start(&self, port: u16) -> u32 {
        self.start_on(
            &format!("udp:127.0.0.1:{port}"),
            &format!("127.0.0.1:{port} "),
            port,
        )
    }

    /// Starts snmptrapd on `endpoint` and waits until `ss` shows `listening`.
    fn start_on(&self, endpoint: &str, listening: &str, port: u16) -> u32 {
        let conf = self.dir.path().join("snmptrapd.conf");
        let log = self.log_path(port);
        let argv = [
            "snmptrapd",
            "-f",
            "-n",
            "-On",
            "-m",
            "",
            "-Lf",
            log.to_str().unwrap(),
            "-C",
            "-c",
            conf.to_str().unwrap(),
            endpoint,
        ];
        let out = self.dir.path().join(format!("snmptrapd-{port}.out"));
        let pid = self
            .lab
            .spawn(&self.host, &argv, Some(&out))
            .expect("snmptrapd");
        let needle = listening.to_string();
        let up = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
            self.host
                .exec_stdout(&["ss", "-Hlun"])
                .map(|s| s.contains(&needle))
                .unwrap_or(false)
        });
        assert!(
            up,
            "snmptrapd did not listen on {port}: {}",
            std::fs::read_to_string(out).unwrap_or_default()
        );
        pid
    }

    fn log(&self, port: u16) -> String {
        std::fs::read_to_string(self.log_path(port)).unwrap_or_default()
    }

    /// Waits (bounded) until snmptrapd logged `count` notifications and returns them, one
    /// string per notification.
    fn wait_traps(&self, port: u16, count: usize) -> Vec<String> {
        let ok = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
            traps(&self.log(port)).len() >= count
        });
        let all = traps(&self.log(port));
        assert!(
            ok,
            "expected {count} notifications, snmptrapd logged {}:\n{}",
            all.len(),
            self.log(port)
        );
        all
    }

    /// Runs `body` on a current-thread runtime in a thread that entered the receiver's
    /// namespace, so the alert sockets live there and reach its loopback.
    fn in_netns<T: Send>(&self, body: impl AsyncFnOnce() -> T + Send) -> T {
        let netns = format!("/var/run/netns/{}", self.host.netns);
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let fd = File::open(&netns).unwrap();
                    setns(&fd, CloneFlags::CLONE_NEWNET).unwrap();
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(body())
                })
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }
}

/// Splits snmptrapd's log into notifications: each starts with a date line and holds the
/// tab-separated varbinds.
fn traps(log: &str) -> Vec<String> {
    log.split("\n20")
        .filter(|t| t.contains(".1.3.6.1.6.3.1.1.4.1.0"))
        .map(str::to_string)
        .collect()
}

/// One SNMP target as YAML (`alerts.snmp.targets[]`).
fn target(port: u16, inform: bool, retries: u32, timeout_ms: u64) -> String {
    target_at(&format!("127.0.0.1:{port}"), inform, retries, timeout_ms)
}

fn target_at(address: &str, inform: bool, retries: u32, timeout_ms: u64) -> String {
    format!(
        "    - address: '{address}'\n      community: public\n      inform: {inform}\n      retries: {retries}\n      timeout: {timeout_ms}ms\n"
    )
}

/// The `alerts:` section, parsed the way the daemon parses it.
fn alerts_config(targets: Vec<String>, queue: u32) -> config::Alerts {
    let yaml = format!("snmp:\n  queue: {queue}\n  targets:\n{}", targets.concat());
    serde_saphyr::from_str(&yaml).expect("alerts yaml")
}

fn vrrp(version: u8, from: &str, to: &str, reason: &str) -> AlertEvent {
    AlertEvent::VrrpTransition {
        instance: "vi_web".into(),
        vrid: 51,
        version,
        from: from.into(),
        to: to.into(),
        priority: 150,
        master_address: Some("10.77.0.2".parse().unwrap()),
        reason: reason.into(),
        if_index: 4,
    }
}

fn assert_has(trap: &str, needle: &str) {
    assert!(
        trap.contains(needle),
        "missing `{needle}` in notification:\n{trap}"
    );
}

const TANDEM: &str = ".1.3.6.1.4.1.64203";

#[test]
fn every_notification_kind_reaches_snmptrapd_with_its_varbinds() {
    let rx = Receiver::new("snmpkinds");
    let port = 16201;
    rx.start(port);
    rx.in_netns(async || {
        let alerts = Alerts::new(
            &alerts_config(vec![target(port, false, 0, 1000)], 64),
            "dir1",
            Duration::from_secs(5),
            None,
        )
        .unwrap();
        alerts.emit(vrrp(3, "BACKUP", "MASTER", "master_no_response"));
        alerts.emit(vrrp(2, "BACKUP", "MASTER", "preempted"));
        alerts.emit(vrrp(3, "MASTER", "FAULT", "interface eth0 down"));
        alerts.emit(AlertEvent::RealServer {
            service: "web".into(),
            real: "10.77.1.11:80".into(),
            up: false,
            reason: "connect timeout".into(),
        });
        alerts.emit(AlertEvent::RealServer {
            service: "web".into(),
            real: "10.77.1.11:80".into(),
            up: true,
            reason: "HTTP 200".into(),
        });
        alerts.emit(AlertEvent::Quorum {
            service: "web".into(),
            has_quorum: false,
            up: 1,
            quorum: 2,
        });
        alerts.emit(AlertEvent::Quorum {
            service: "web".into(),
            has_quorum: true,
            up: 2,
            quorum: 2,
        });
        alerts.emit(AlertEvent::ConfigReload {
            ok: false,
            errors: 3,
        });
        alerts.emit(AlertEvent::Dataplane {
            operation: "add_real".into(),
            error: "File exists".into(),
        });
        // Let the sender task drain its queue before the runtime goes away.
        let ok = wait_until_async(|| alerts.sink_stats()[0].sent >= 11).await;
        assert!(ok, "not all sent: {:?}", alerts.sink_stats());
    });
    // 2 (v3 master) + 2 (v2 master) + 1 (fault) + 2 real + 2 quorum + reload + dataplane.
    let t = rx.wait_traps(port, 11);
    for trap in &t {
        assert_has(trap, ".1.3.6.1.2.1.1.3.0 = Timeticks:");
    }
    // RFC 6527 vrrpv3NewMaster: master address (InetAddress, ipv4) and reason masterNoResponse(3),
    // indexed ifIndex.vrid.addrType.
    assert_has(&t[0], ".1.3.6.1.6.3.1.1.4.1.0 = OID: .1.3.6.1.2.1.207.0.1");
    assert_has(
        &t[0],
        ".1.3.6.1.2.1.207.1.1.1.1.3.4.51.1 = Hex-STRING: 0A 4D 00 02",
    );
    assert_has(&t[0], ".1.3.6.1.2.1.207.1.2.5.1.2.4.51.1 = INTEGER: 3");
    // tandemInstanceStateChange: backup(2) -> master(3).
    assert_has(
        &t[1],
        &format!(".1.3.6.1.6.3.1.1.4.1.0 = OID: {TANDEM}.0.1"),
    );
    assert_has(&t[1], &format!("{TANDEM}.1.1.1.0 = STRING: \"dir1\""));
    assert_has(&t[1], &format!("{TANDEM}.1.1.2.0 = STRING: \"vi_web\""));
    assert_has(&t[1], &format!("{TANDEM}.1.1.3.0 = Gauge32: 51"));
    assert_has(&t[1], &format!("{TANDEM}.1.1.4.0 = INTEGER: 2"));
    assert_has(&t[1], &format!("{TANDEM}.1.1.5.0 = INTEGER: 3"));
    assert_has(&t[1], &format!("{TANDEM}.1.1.6.0 = Gauge32: 150"));
    // RFC 2787 vrrpTrapNewMaster with vrrpOperMasterIpAddr.ifIndex.vrid (IpAddress).
    assert_has(&t[2], ".1.3.6.1.6.3.1.1.4.1.0 = OID: .1.3.6.1.2.1.68.0.1");
    assert_has(&t[2], ".1.3.6.1.2.1.68.1.3.1.7.4.51 = IpAddress: 10.77.0.2");
    // FAULT: only tandem's state change, master(3) -> fault(4).
    assert_has(
        &t[4],
        &format!(".1.3.6.1.6.3.1.1.4.1.0 = OID: {TANDEM}.0.1"),
    );
    assert_has(&t[4], &format!("{TANDEM}.1.1.5.0 = INTEGER: 4"));
    assert_has(&t[4], "STRING: \"interface eth0 down\"");
    // Real server down (3) then up (2).
    assert_has(
        &t[5],
        &format!(".1.3.6.1.6.3.1.1.4.1.0 = OID: {TANDEM}.0.3"),
    );
    assert_has(&t[5], &format!("{TANDEM}.1.1.7.0 = STRING: \"web\""));
    assert_has(
        &t[5],
        &format!("{TANDEM}.1.1.8.0 = STRING: \"10.77.1.11:80\""),
    );
    assert_has(
        &t[5],
        &format!("{TANDEM}.1.1.9.0 = STRING: \"connect timeout\""),
    );
    assert_has(
        &t[6],
        &format!(".1.3.6.1.6.3.1.1.4.1.0 = OID: {TANDEM}.0.2"),
    );
    // Quorum lost (4) then regained (5).
    assert_has(
        &t[7],
        &format!(".1.3.6.1.6.3.1.1.4.1.0 = OID: {TANDEM}.0.4"),
    );
    assert_has(&t[7], &format!("{TANDEM}.1.1.10.0 = Gauge32: 1"));
    assert_has(&t[7], &format!("{TANDEM}.1.1.11.0 = Gauge32: 2"));
    assert_has(
        &t[8],
        &format!(".1.3.6.1.6.3.1.1.4.1.0 = OID: {TANDEM}.0.5"),
    );
    // Reload failed(2) with 3 errors; dataplane error.
    assert_has(
        &t[9],
        &format!(".1.3.6.1.6.3.1.1.4.1.0 = OID: {TANDEM}.0.6"),
    );
    assert_has(&t[9], &format!("{TANDEM}.1.1.12.0 = INTEGER: 2"));
    assert_has(&t[9], &format!("{TANDEM}.1.1.13.0 = Gauge32: 3"));
    assert_has(
        &t[10],
        &format!(".1.3.6.1.6.3.1.1.4.1.0 = OID: {TANDEM}.0.7"),
    );
    assert_has(&t[10], &format!("{TANDEM}.1.1.14.0 = STRING: \"add_real\""));
}

/// Polls `done` on the current runtime for at most 10 s.
async fn wait_until_async(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..1000 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}

#[test]
fn informs_are_acknowledged_by_snmptrapd() {
    let rx = Receiver::new("snmpinform");
    let port = 16202;
    rx.start(port);
    let stats = rx.in_netns(async || {
        let alerts = Alerts::new(
            &alerts_config(vec![target(port, true, 2, 2000)], 64),
            "dir1",
            Duration::from_secs(5),
            None,
        )
        .unwrap();
        for i in 0..3 {
            alerts.emit(AlertEvent::RealServer {
                service: "web".into(),
                real: format!("10.77.1.1{i}:80"),
                up: false,
                reason: "refused".into(),
            });
        }
        wait_until_async(|| alerts.sink_stats()[0].acknowledged >= 3).await;
        alerts.sink_stats().remove(0)
    });
    assert_eq!(stats.acknowledged, 3, "{stats:?}");
    assert_eq!(stats.unacknowledged, 0, "{stats:?}");
    let t = rx.wait_traps(port, 3);
    assert_has(
        &t[2],
        &format!("{TANDEM}.1.1.8.0 = STRING: \"10.77.1.12:80\""),
    );
}

#[test]
fn informs_are_resent_until_the_receiver_comes_up() {
    let rx = Receiver::new("snmpretry");
    let port = 16203;
    let stats = rx.in_netns(async || {
        let alerts = Alerts::new(
            &alerts_config(vec![target(port, true, 10, 300)], 64),
            "dir1",
            Duration::from_secs(5),
            None,
        )
        .unwrap();
        alerts.emit(AlertEvent::ConfigReload {
            ok: true,
            errors: 0,
        });
        // The receiver is down: the first attempts go unanswered.
        wait_until_async(|| alerts.sink_stats()[0].sent >= 2).await;
        rx.start(port);
        wait_until_async(|| alerts.sink_stats()[0].acknowledged >= 1).await;
        alerts.sink_stats().remove(0)
    });
    assert_eq!(stats.acknowledged, 1, "{stats:?}");
    assert!(stats.sent >= 3, "expected resends: {stats:?}");
    let t = rx.wait_traps(port, 1);
    assert_has(
        &t[0],
        &format!(".1.3.6.1.6.3.1.1.4.1.0 = OID: {TANDEM}.0.6"),
    );
    assert_has(&t[0], &format!("{TANDEM}.1.1.12.0 = INTEGER: 1"));
}

#[test]
fn a_dead_receiver_never_blocks_emit_and_drops_are_counted() {
    let rx = Receiver::new("snmpdead");
    let live_port = 16204;
    rx.start(live_port);
    let metrics = Metrics::new();
    let (dead, live, text) = rx.in_netns(async || {
        // A UDP socket nobody reads: informs to it are never answered (and no ICMP error
        // shortens the wait), so its sender sits in its 1 s timeouts.
        let black_hole = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let dead_port = black_hole.local_addr().unwrap().port();
        let queue = 16;
        let alerts = Alerts::new(
            &alerts_config(
                vec![
                    target(dead_port, true, 3, 1000),
                    target(live_port, false, 0, 1000),
                ],
                queue,
            ),
            "dir1",
            Duration::from_secs(5),
            Some(metrics.clone()),
        )
        .unwrap();
        let events = 100u32;
        for i in 0..events {
            // emit is synchronous: if it waited for the dead receiver this loop would take
            // 100 x 4 s; it returns at once and the dead sink's queue overflows instead.
            alerts.emit(AlertEvent::RealServer {
                service: "web".into(),
                real: format!("10.77.1.{}:80", i % 250),
                up: i % 2 == 0,
                reason: format!("event {i}"),
            });
            // Let the live sender run between events (the runtime has one thread).
            tokio::task::yield_now().await;
        }
        wait_until_async(|| alerts.sink_stats()[1].sent >= u64::from(events)).await;
        let stats = alerts.sink_stats();
        (stats[0].clone(), stats[1].clone(), metrics.encode())
    });
    assert!(
        dead.dropped >= 100 - 16 - 1,
        "dead sink should have dropped nearly everything: {dead:?}"
    );
    assert_eq!(dead.acknowledged, 0, "{dead:?}");
    assert_eq!(live.dropped, 0, "the live sink must not suffer: {live:?}");
    assert_eq!(live.sent, 100, "{live:?}");
    let needle = format!(
        "tandem_alerts_dropped_total{{sink=\"snmp:127.0.0.1:{}\"}} {}",
        dead.name.rsplit(':').next().unwrap(),
        dead.dropped
    );
    assert!(text.contains(&needle), "missing {needle} in\n{text}");
    // 100 datagrams fit in snmptrapd's socket buffer: all arrive, in order.
    let t = rx.wait_traps(live_port, 100);
    assert_has(&t[99], "STRING: \"event 99\"");
}

#[test]
fn ipv6_receiver_gets_vrrpv3_new_master_with_an_ipv6_address() {
    let rx = Receiver::with_ipv6("snmpv6", true);
    let port = 16205;
    rx.start_on(
        &format!("udp6:[::1]:{port}"),
        &format!("[::1]:{port} "),
        port,
    );
    let stats = rx.in_netns(async || {
        let alerts = Alerts::new(
            &alerts_config(vec![target_at(&format!("[::1]:{port}"), true, 3, 1000)], 64),
            "dir1",
            Duration::from_secs(5),
            None,
        )
        .unwrap();
        alerts.emit(AlertEvent::VrrpTransition {
            instance: "vi6".into(),
            vrid: 52,
            version: 3,
            from: "BACKUP".into(),
            to: "MASTER".into(),
            priority: 200,
            master_address: Some("fd00::2".parse().unwrap()),
            reason: "preempted".into(),
            if_index: 9,
        });
        wait_until_async(|| alerts.sink_stats()[0].acknowledged >= 2).await;
        alerts.sink_stats().remove(0)
    });
    assert_eq!(stats.acknowledged, 2, "{stats:?}");
    let t = rx.wait_traps(port, 2);
    assert_has(&t[0], ".1.3.6.1.6.3.1.1.4.1.0 = OID: .1.3.6.1.2.1.207.0.1");
    // Address type ipv6(2) in the index, 16 octets, reason preempted(2).
    assert_has(
        &t[0],
        ".1.3.6.1.2.1.207.1.1.1.1.3.9.52.2 = Hex-STRING: FD 00 00 00 00 00 00 00 00 00 00 00 00 00 00 02",
    );
    assert_has(&t[0], ".1.3.6.1.2.1.207.1.2.5.1.2.9.52.2 = INTEGER: 2");
}

#[test]
fn dropping_alerts_flushes_queued_informs_without_waiting_for_a_dead_receiver() {
    let rx = Receiver::new("snmpclose");
    let received = rx.in_netns(async || {
        let black_hole = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = black_hole.local_addr().unwrap().port();
        // 10 retries of 2 s: without the flush, 8 informs would keep the task busy for minutes.
        let alerts = Alerts::new(
            &alerts_config(vec![target(port, true, 10, 2000)], 8),
            "dir1",
            Duration::from_secs(5),
            None,
        )
        .unwrap();
        for i in 0..8 {
            alerts.emit(AlertEvent::ConfigReload {
                ok: true,
                errors: i,
            });
        }
        tokio::task::yield_now().await;
        drop(alerts);
        // Each queued inform arrives (the first perhaps twice: its wait was under way). Without
        // the flush only the first inform's resends would arrive, every 2 s.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut ids = std::collections::BTreeSet::new();
        let mut buf = [0u8; 2048];
        while ids.len() < 8 {
            match tokio::time::timeout_at(deadline, black_hole.recv(&mut buf)).await {
                Ok(Ok(n)) => {
                    let msg = tandem::alerts::ber::Message::decode(&buf[..n]).unwrap();
                    ids.insert(msg.pdu.request_id);
                }
                _ => break,
            }
        }
        ids.len()
    });
    assert_eq!(received, 8, "distinct informs flushed after drop");
}
