#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly
//! The alert paths end to end, through real daemons: two `tandem run` directors in lab
//! namespaces, a real net-snmp `snmptrapd` on the client host, notify hooks that are real
//! scripts, the JSON log, `/metrics` and `/status` over HTTP.
//!
//! - A failover (SIGTERM on the master) gives, on the new master, the log event, the notify
//!   call and the traps (vrrpv3NewMaster before tandemInstanceStateChange) in transition
//!   order, each within 100 ms of the transition, and the metrics show it.
//! - A real server failure does the same for `real_server` down then `quorum` lost.
//! - Meanwhile a second SNMP target never answers (informs to an address nobody has): its
//!   queue fills and drops are counted, and none of the above is late.
//! - `tandem status --json` and `GET /status` agree.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tandem::lab::DirectorLab;
use tandem_testlab::{Host, require_root, require_tool, wait_until};

const TRAP_PORT: u16 = 16262;
/// Every alert must arrive this soon after its transition.
const DEADLINE: Duration = Duration::from_millis(100);
const TANDEM_MIB: &str = ".1.3.6.1.4.1.64203";
const VRRPV3_NEW_MASTER: &str = ".1.3.6.1.2.1.207.0.1";

fn tandem() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tandem"))
}

/// Appends `EPOCH_SECONDS EVENT INSTANCE-OR-SERVICE FROM TO` to the file named by `$1`.
const NOTIFY_SCRIPT: &str = r#"#!/bin/sh
echo "$(date +%s.%N) $TANDEM_EVENT ${TANDEM_INSTANCE:-$TANDEM_SERVICE} ${TANDEM_FROM_STATE:--} $TANDEM_STATE" >> "$1"
"#;

fn director_config(priority: u8, script: &Path, notify_log: &Path, syslog: &Path) -> String {
    let hook = format!("[{}, {}]", script.display(), notify_log.display());
    let syslog = syslog.display();
    format!(
        "  http_listen: 127.0.0.1:9120
vrrp_instances:
  - name: VI_1
    interface: eth0
    vrid: 81
    priority: {priority}
    advert_interval: 100ms
    virtual_addresses: [10.77.0.100/24]
    garp: {{ delay: 1s, repeat: 1 }}
    notify: {{ master: {hook}, backup: {hook}, fault: {hook} }}
virtual_servers:
  - name: web
    address: 10.77.0.100
    port: 80
    quorum: 1
    check: {{ type: tcp, interval: 100ms, timeout: 100ms, rise: 1, fall: 1 }}
    real_servers:
      - {{ address: 10.77.0.11 }}
alerts:
  snmp:
    queue: 4
    targets:
      - {{ address: '10.77.0.10:{TRAP_PORT}', community: public, inform: true, retries: 2, timeout: 1s }}
      - {{ address: '10.77.0.99:{TRAP_PORT}', community: public, inform: true, retries: 10, timeout: 1s }}
  notify:
    real_server: {hook}
    quorum: {hook}
  syslog: {{ address: {syslog}, facility: local3 }}
dataplane: none
"
    )
}

/// Lines of a growing file, each stamped with when the test first saw it: polled every 2 ms.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(SystemTime, String)>>>);

impl Seen {
    fn items(&self) -> Vec<(SystemTime, String)> {
        self.0.lock().unwrap().clone()
    }
}

/// Watches snmptrapd's log (one item per notification) and a notify log (one item per
/// line) until dropped.
struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    traps: Seen,
    notify: Seen,
}

impl Watcher {
    fn start(trap_log: PathBuf, notify_log: PathBuf) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let (traps, notify) = (Seen::default(), Seen::default());
        let thread = {
            let (stop, traps, notify) = (stop.clone(), traps.clone(), notify.clone());
            std::thread::spawn(move || {
                // Bounded: a test never runs this long.
                let end = std::time::Instant::now() + Duration::from_secs(120);
                while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < end {
                    let now = SystemTime::now();
                    let log = std::fs::read_to_string(&trap_log).unwrap_or_default();
                    extend(&traps, now, split_traps(&log));
                    let lines = std::fs::read_to_string(&notify_log).unwrap_or_default();
                    extend(
                        &notify,
                        now,
                        lines
                            .lines()
                            .filter(|l| !l.is_empty())
                            .map(str::to_string)
                            .collect(),
                    );
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        Watcher {
            stop,
            thread: Some(thread),
            traps,
            notify,
        }
    }
}

impl Watcher {
    /// Waits (bounded) until `count` notifications sent from `source` arrived after the first
    /// `skip` ones, and returns them (all of that sender's, in arrival order).
    fn traps_from(&self, source: &str, skip: usize, count: usize) -> Vec<(SystemTime, String)> {
        let needle = format!("[{source}]");
        let from_source = || -> Vec<(SystemTime, String)> {
            self.traps.items()[skip..]
                .iter()
                .filter(|(_, t)| t.contains(&needle))
                .cloned()
                .collect()
        };
        let ok = wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
            from_source().len() >= count
        });
        assert!(
            ok,
            "fewer than {count} traps from {source}: {:?}",
            self.traps.items()
        );
        from_source()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A syslog socket read continuously by a thread (as journald or rsyslog would) until dropped.
struct SyslogReceiver {
    stop: Arc<AtomicBool>,
    lines: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SyslogReceiver {
    fn bind(path: &Path) -> SyslogReceiver {
        let socket = std::os::unix::net::UnixDatagram::bind(path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, lines) = (stop.clone(), lines.clone());
            std::thread::spawn(move || {
                let end = std::time::Instant::now() + Duration::from_secs(120);
                let mut buf = [0u8; 8192];
                while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < end {
                    if let Ok(n) = socket.recv(&mut buf) {
                        let line = String::from_utf8_lossy(&buf[..n]).into_owned();
                        lines.lock().unwrap().push(line);
                    }
                }
            })
        };
        SyslogReceiver {
            stop,
            lines,
            thread: Some(thread),
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for SyslogReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn extend(seen: &Seen, now: SystemTime, all: Vec<String>) {
    let mut items = seen.0.lock().unwrap();
    let known = items.len();
    for item in all.into_iter().skip(known) {
        items.push((now, item));
    }
}

/// snmptrapd's log split into notifications: each starts with a date line.
fn split_traps(log: &str) -> Vec<String> {
    log.split("\n20")
        .filter(|t| t.contains(".1.3.6.1.6.3.1.1.4.1.0"))
        .map(str::to_string)
        .collect()
}

/// `2026-11-23T12:14:56.123456Z` (tracing's JSON timestamps) as a SystemTime.
fn parse_rfc3339(text: &str) -> SystemTime {
    let bad = || panic!("bad timestamp {text:?}");
    let (date, time) = text
        .trim_end_matches('Z')
        .split_once('T')
        .unwrap_or_else(bad);
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<u64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
    // Howard Hinnant's days_from_civil.
    let (y, m, day) = (if d[1] <= 2 { d[0] - 1 } else { d[0] }, d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe - 719_468) as u64;
    let nanos: u64 = format!("{frac:0<9}")[..9].parse().unwrap();
    UNIX_EPOCH
        + Duration::from_secs(days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2])
        + Duration::from_nanos(nanos)
}

/// JSON log events of a director with `event == name`, as (time, event).
fn log_events(log: &Path, name: &str) -> Vec<(SystemTime, serde_json::Value)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == name)
        .map(|v| (parse_rfc3339(v["timestamp"].as_str().unwrap()), v))
        .collect()
}

/// A notify line's time (its first word, epoch seconds with nanoseconds).
fn notify_time(line: &str) -> SystemTime {
    let secs: f64 = line.split_whitespace().next().unwrap().parse().unwrap();
    UNIX_EPOCH + Duration::from_secs_f64(secs)
}

fn after(at: SystemTime, then: SystemTime) -> Duration {
    then.duration_since(at).unwrap_or_default()
}

/// `GET path` on the director's loopback HTTP endpoint, inside its namespace.
fn http_get(host: &Host, path: &str) -> String {
    host.exec_stdout(&[
        "curl",
        "-sS",
        "--max-time",
        "5",
        &format!("http://127.0.0.1:9120{path}"),
    ])
    .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// The value of the metric line starting with `series` (name and labels), if present.
fn metric(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Status without what changes from one second to the next (counters, latencies).
fn stable(mut status: serde_json::Value) -> serde_json::Value {
    for inst in status["vrrp_instances"].as_array_mut().unwrap() {
        inst.as_object_mut().unwrap().remove("counters");
    }
    for vs in status["virtual_servers"].as_array_mut().unwrap() {
        for rs in vs["real_servers"].as_array_mut().unwrap() {
            rs.as_object_mut().unwrap().remove("latency_ms");
        }
    }
    status
}

#[test]
fn failover_and_real_server_failure_raise_every_alert_in_order_and_in_time() {
    require_root();
    let trapd = require_tool("snmptrapd", "snmptrapd");
    let socat = require_tool("socat", "socat");
    require_tool("curl", "curl");
    let mut lab = DirectorLab::build("alertsfo", &["dir1", "dir2"], 1, false, &tandem()).unwrap();
    lab.run_args = vec!["--log-format".into(), "json".into()];
    let dir = lab.state_dir.clone();

    // The trap receiver on the client host.
    let trapd_conf = dir.join("snmptrapd.conf");
    std::fs::write(&trapd_conf, "authCommunity log,execute,net public\n").unwrap();
    let trap_log = dir.join("traps.log");
    lab.lab
        .spawn(
            &lab.client,
            &[
                trapd.to_str().unwrap(),
                "-f",
                "-n",
                "-On",
                "-m",
                "",
                "-Lf",
                trap_log.to_str().unwrap(),
                "-C",
                "-c",
                trapd_conf.to_str().unwrap(),
                &format!("udp:10.77.0.10:{TRAP_PORT}"),
            ],
            Some(&dir.join("snmptrapd.out")),
        )
        .unwrap();
    let listening = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
        lab.client
            .exec_stdout(&["ss", "-Hlun"])
            .is_ok_and(|s| s.contains(&format!("10.77.0.10:{TRAP_PORT}")))
    });
    assert!(listening, "snmptrapd did not start");

    // The real server: a TCP listener.
    let real = lab
        .lab
        .spawn(
            &lab.reals[0],
            &[
                socat.to_str().unwrap(),
                "TCP-LISTEN:80,bind=10.77.0.11,fork,reuseaddr",
                "SYSTEM:true",
            ],
            None,
        )
        .unwrap();

    let script = dir.join("notify.sh");
    std::fs::write(&script, NOTIFY_SCRIPT).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let notify1 = dir.join("notify-dir1.log");
    let notify2 = dir.join("notify-dir2.log");
    // dir2's syslog: a Unix datagram socket of the test (path sockets cross namespaces).
    let syslog1 = dir.join("syslog-dir1.sock");
    let syslog2 = dir.join("syslog-dir2.sock");
    let _syslog1 = SyslogReceiver::bind(&syslog1);
    let syslog = SyslogReceiver::bind(&syslog2);
    lab.start(0, &director_config(200, &script, &notify1, &syslog1))
        .unwrap();
    lab.wait_state(0, "VI_1", "MASTER", Duration::from_secs(10))
        .unwrap();
    lab.start(1, &director_config(100, &script, &notify2, &syslog2))
        .unwrap();
    lab.wait_state(1, "VI_1", "BACKUP", Duration::from_secs(10))
        .unwrap();
    let real_up = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
        (0..2).all(|i| {
            lab.status(i)
                .is_ok_and(|s| s.virtual_servers.iter().all(|v| v.has_quorum))
        })
    });
    assert!(real_up, "the real server never came up on both directors");
    let log2 = lab.directors[1].log.clone();
    let dir2_log = || std::fs::read_to_string(&log2).unwrap_or_default();

    // ---- Failover: SIGTERM on the master; dir2 takes over. ----
    let watcher = Watcher::start(trap_log.clone(), notify2.clone());
    std::thread::sleep(Duration::from_millis(300)); // the watcher has seen the history
    let traps_before = watcher.traps.items().len();
    let notify_before = watcher.notify.items().len();
    lab.signal(0, "TERM").unwrap();
    lab.wait_state(1, "VI_1", "MASTER", Duration::from_secs(5))
        .unwrap();
    let to_master = wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
        log_events(&log2, "vrrp_transition")
            .iter()
            .any(|(_, e)| e["to"] == "MASTER")
    });
    assert!(
        to_master,
        "no vrrp_transition to MASTER logged:\n{}",
        dir2_log()
    );
    let (t_master, event) = log_events(&log2, "vrrp_transition")
        .into_iter()
        .find(|(_, e)| e["to"] == "MASTER")
        .unwrap();
    assert_eq!(event["from"], "BACKUP", "{event}");
    assert_eq!(event["instance"], "VI_1", "{event}");

    // The notify call: dir2's hooks ran in transition order, BACKUP then MASTER.
    let ok = wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
        watcher.notify.items().len() > notify_before
    });
    assert!(ok, "no notify call for the failover");
    let notify = watcher.notify.items();
    let states: Vec<String> = notify
        .iter()
        .filter(|(_, l)| l.contains("vrrp_transition"))
        .map(|(_, l)| l.split_whitespace().skip(3).collect::<Vec<_>>().join(">"))
        .collect();
    assert_eq!(
        states,
        ["INIT>BACKUP", "BACKUP>MASTER"],
        "dir2's VRRP hooks, in order: {notify:?}"
    );
    let (_, master_line) = notify
        .iter()
        .find(|(_, l)| l.ends_with("BACKUP MASTER"))
        .unwrap();
    let ran = notify_time(master_line);
    assert!(
        after(t_master, ran) <= DEADLINE,
        "notify ran {:?} after the transition",
        after(t_master, ran)
    );

    // The traps from dir2: the standard one first, then tandem's.
    let dir2_traps = watcher.traps_from("10.77.0.2", traps_before, 2);
    assert!(
        dir2_traps[0].1.contains(VRRPV3_NEW_MASTER),
        "first trap should be vrrpv3NewMaster:\n{}",
        dir2_traps[0].1
    );
    assert!(
        dir2_traps[1].1.contains(&format!("{TANDEM_MIB}.0.1"))
            // tandemInstanceOldState backup(2), tandemInstanceNewState master(3)
            && dir2_traps[1].1.contains(&format!("{TANDEM_MIB}.1.1.4.0 = INTEGER: 2"))
            && dir2_traps[1].1.contains(&format!("{TANDEM_MIB}.1.1.5.0 = INTEGER: 3"))
            && dir2_traps[1].1.contains("master_released"),
        "second trap should be tandemInstanceStateChange BACKUP->MASTER:\n{}\nall traps from dir2: {dir2_traps:#?}\ndir2 log:\n{}",
        dir2_traps[1].1,
        dir2_log()
    );
    eprintln!(
        "failover: notify +{:?}, traps +{:?} / +{:?} after the transition",
        after(t_master, ran),
        after(t_master, dir2_traps[0].0),
        after(t_master, dir2_traps[1].0)
    );
    for (seen, trap) in &dir2_traps[..2] {
        assert!(
            after(t_master, *seen) <= DEADLINE,
            "trap arrived {:?} after the transition:\n{trap}",
            after(t_master, *seen)
        );
    }

    // Metrics on the new master.
    let metrics = http_get(&lab.directors[1].host, "/metrics");
    assert_eq!(
        metric(&metrics, "tandem_vrrp_is_master{instance=\"VI_1\"}"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            "tandem_vrrp_transitions_total{instance=\"VI_1\",to=\"MASTER\"}"
        ),
        Some(1.0),
        "{metrics}"
    );

    // ---- Real server failure: real_server down, then quorum lost, on dir2. ----
    let traps_before = watcher.traps.items().len();
    let notify_before = watcher.notify.items().len();
    lab.lab.kill(real).unwrap();
    let down = wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
        !log_events(&log2, "quorum").is_empty()
            && log_events(&log2, "quorum")
                .iter()
                .any(|(_, e)| e["state"] == "down")
    });
    assert!(down, "no quorum lost event:\n{}", dir2_log());
    let (t_real, real_event) = log_events(&log2, "real_server")
        .into_iter()
        .find(|(_, e)| e["state"] == "down")
        .expect("a real_server down event");
    let (t_quorum, _) = log_events(&log2, "quorum")
        .into_iter()
        .find(|(_, e)| e["state"] == "down")
        .unwrap();
    assert_eq!(real_event["real"], "10.77.0.11:80", "{real_event}");
    assert!(
        t_real <= t_quorum,
        "real server event after the quorum event"
    );

    let ok = wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
        watcher.notify.items().len() >= notify_before + 2
    });
    assert!(ok, "notify calls missing: {:?}", watcher.notify.items());
    let notify = watcher.notify.items()[notify_before..].to_vec();
    assert!(
        notify[0].1.contains("real_server web") && notify[0].1.ends_with(" down"),
        "first hook should be the real server going down: {notify:?}"
    );
    assert!(
        notify[1].1.contains("quorum web") && notify[1].1.ends_with(" down"),
        "second hook should be the quorum lost: {notify:?}"
    );
    for ((_, line), t) in notify.iter().zip([t_real, t_quorum]) {
        assert!(
            after(t, notify_time(line)) <= DEADLINE,
            "hook ran {:?} after its transition: {line}",
            after(t, notify_time(line))
        );
    }

    let dir2_traps = watcher.traps_from("10.77.0.2", traps_before, 2);
    assert!(
        dir2_traps[0].1.contains(&format!("{TANDEM_MIB}.0.3"))
            && dir2_traps[0].1.contains("10.77.0.11:80"),
        "first trap should be tandemRealServerDown:\n{}",
        dir2_traps[0].1
    );
    assert!(
        dir2_traps[1].1.contains(&format!("{TANDEM_MIB}.0.4")),
        "second trap should be tandemQuorumLost:\n{}",
        dir2_traps[1].1
    );
    eprintln!(
        "real server down: hooks +{:?} / +{:?}, traps +{:?} / +{:?} after their transitions",
        after(t_real, notify_time(&notify[0].1)),
        after(t_quorum, notify_time(&notify[1].1)),
        after(t_real, dir2_traps[0].0),
        after(t_quorum, dir2_traps[1].0)
    );
    for ((seen, trap), t) in dir2_traps.iter().zip([t_real, t_quorum]) {
        assert!(
            after(t, *seen) <= DEADLINE,
            "trap arrived {:?} after its transition:\n{trap}",
            after(t, *seen)
        );
    }

    let metrics = http_get(&lab.directors[1].host, "/metrics");
    assert_eq!(
        metric(
            &metrics,
            "tandem_real_server_up{service=\"web\",real=\"10.77.0.11:80\"}"
        ),
        Some(0.0),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l
                .starts_with("tandem_check_failures_total{service=\"web\",real=\"10.77.0.11:80\"")),
        "{metrics}"
    );
    // The dead receiver's queue (4) filled: its drops are counted, nothing above was late.
    let dropped = metric(
        &metrics,
        &format!("tandem_alerts_dropped_total{{sink=\"snmp:10.77.0.99:{TRAP_PORT}\"}}"),
    );
    assert!(
        dropped.is_some_and(|d| d >= 1.0),
        "drops of the dead target not counted:\n{metrics}"
    );
    drop(watcher);

    // The same events reached syslog (facility local3: PRI 158 info, 156 warning).
    let lines = syslog.lines();
    for (pri, needle) in [
        (
            "<158>",
            "BACKUP -> MASTER event=vrrp_transition instance=VI_1 vrid=81",
        ),
        (
            "<156>",
            "event=real_server service=web real=10.77.0.11:80 state=down",
        ),
        ("<156>", "event=quorum service=web state=down up=0 quorum=1"),
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(pri) && l.contains("tandem[") && l.contains(needle)),
            "no syslog line {pri}…{needle}; got:\n{}",
            lines.join("\n")
        );
    }

    // ---- `tandem status --json` and GET /status agree. ----
    let socket = lab.directors[1].socket.to_string_lossy().into_owned();
    let cli = std::process::Command::new(tandem())
        .args(["status", "--json", "-s", &socket])
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let cli: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    let http: serde_json::Value =
        serde_json::from_str(&http_get(&lab.directors[1].host, "/status")).unwrap();
    assert_eq!(
        stable(cli),
        stable(http),
        "tandem status and /status differ"
    );
}
