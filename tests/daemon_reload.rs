#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly
//! The daemon's lifecycle as an operator sees it: start, `tandem status`, SIGHUP with a broken
//! file (nothing changes, the error is logged with line:column), SIGHUP with a good file
//! (applied), SIGTERM (clean exit, socket removed).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Daemon {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn start(config: &Path, log: &Path) -> Daemon {
        let log_file = std::fs::File::create(log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["run", "-c"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .env_remove("JOURNAL_STREAM")
            .env_remove("NOTIFY_SOCKET")
            .spawn()
            .expect("tandem starts");
        Daemon {
            child,
            log: log.to_path_buf(),
        }
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig)
            .expect("signal delivered");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn status_json(socket: &Path) -> Option<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["status", "--json", "-s"])
        .arg(socket)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn config(socket: &Path, services: &[(&str, &str)]) -> String {
    let mut text = format!(
        "global:\n  router_id: reload-test\n  control_socket: {}\ndataplane: none\nvirtual_servers:\n",
        socket.display()
    );
    for (name, addr) in services {
        text.push_str(&format!(
            "  - name: {name}\n    address: {addr}\n    port: 80\n    real_servers:\n      - {{ address: 10.9.1.1, weight: 3 }}\n"
        ));
    }
    text
}

#[test]
fn sighup_with_a_bad_file_keeps_running_config_then_a_good_file_applies() {
    use nix::sys::signal::Signal;
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("tandem.sock");
    let cfg = dir.path().join("tandem.yaml");
    std::fs::write(&cfg, config(&socket, &[("web", "10.9.0.1")])).expect("write");
    let daemon = Daemon::start(&cfg, &dir.path().join("daemon.log"));

    let before = wait_for("the control socket", Duration::from_secs(10), || {
        status_json(&socket)
    });
    assert_eq!(before["router_id"], "reload-test");
    assert_eq!(before["virtual_servers"][0]["name"], "web");
    assert_eq!(
        before["virtual_servers"][0]["real_servers"][0]["state"],
        "up"
    );
    let mode = std::fs::metadata(&socket).expect("socket exists");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );

    // A broken file: vrid out of range on line 4, column 11.
    std::fs::write(
        &cfg,
        "vrrp_instances:\n  - name: VI_1\n    interface: eth0\n    vrid: 999\n    virtual_addresses: [10.0.0.1/24]\n",
    )
    .expect("write");
    daemon.signal(Signal::SIGHUP);
    let after_bad = wait_for("the failed reload", Duration::from_secs(10), || {
        status_json(&socket).filter(|s| s["reloads_failed"] == 1)
    });
    assert_eq!(after_bad["virtual_servers"], before["virtual_servers"]);
    assert_eq!(after_bad["vrrp_instances"], before["vrrp_instances"]);
    assert_eq!(after_bad["reloads_ok"], 0);
    let log = daemon.log();
    assert!(
        log.contains(&format!(
            "{}:4:11: vrrp_instances[0].vrid: must be at most 255",
            cfg.display()
        )),
        "error with line:col not logged:\n{log}"
    );
    assert!(
        log.contains("still running the previous configuration"),
        "{log}"
    );

    // A good change: a second service appears.
    std::fs::write(
        &cfg,
        config(&socket, &[("web", "10.9.0.1"), ("api", "10.9.0.2")]),
    )
    .expect("write");
    daemon.signal(Signal::SIGHUP);
    let after_good = wait_for("the good reload", Duration::from_secs(10), || {
        status_json(&socket).filter(|s| s["reloads_ok"] == 1)
    });
    let names: Vec<&str> = after_good["virtual_servers"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(names, ["web", "api"]);
    assert_eq!(after_good["last_reload_errors"], serde_json::json!([]));

    // The human-readable status works too.
    let table = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["status", "-s"])
        .arg(&socket)
        .output()
        .expect("status runs");
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("api 10.9.0.2:80/tcp"), "{table}");

    daemon.signal(Signal::SIGTERM);
    let mut daemon = daemon;
    let code = wait_for("the daemon to exit", Duration::from_secs(10), || {
        daemon.child.try_wait().ok().flatten()
    });
    assert!(code.success(), "exit status {code}");
    assert!(!socket.exists(), "control socket left behind");
}

#[test]
fn status_without_a_daemon_fails_with_a_hint() {
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["status", "-s", "/nonexistent/tandem.sock"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is it running?"));
}

#[test]
fn run_refuses_an_invalid_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("bad.yaml");
    std::fs::write(&cfg, "dataplane: lvs\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["run", "-c"])
        .arg(&cfg)
        .env_remove("JOURNAL_STREAM")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:1:12: unknown variant `lvs`", cfg.display())),
        "{stderr}"
    );
}

/// Reads a syslog socket continuously (as journald would) until the test ends.
fn syslog_reader(path: &Path) -> std::sync::mpsc::Receiver<String> {
    let socket = std::os::unix::net::UnixDatagram::bind(path).expect("bind syslog socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = socket.recv(&mut buf) {
            if tx
                .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    rx
}

/// Waits (bounded) for a line containing `needle`.
fn expect_line(rx: &std::sync::mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    panic!("no syslog line with {needle:?}; got:\n{}", seen.join("\n"));
}

#[test]
fn syslog_follows_reloads_and_an_unreachable_address_keeps_the_previous_one() {
    use nix::sys::signal::Signal;
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("tandem.sock");
    let cfg = dir.path().join("tandem.yaml");
    let first = dir.path().join("syslog-a.sock");
    let second = dir.path().join("syslog-b.sock");
    let a = syslog_reader(&first);
    let b = syslog_reader(&second);
    let with_syslog = |path: &Path, facility: &str| {
        format!(
            "{}alerts:\n  syslog: {{ address: {}, facility: {facility} }}\n",
            config(&socket, &[("web", "10.9.0.1")]),
            path.display()
        )
    };
    std::fs::write(&cfg, with_syslog(&first, "daemon")).expect("write");
    let daemon = Daemon::start(&cfg, &dir.path().join("daemon.log"));
    // daemon(3) * 8 + info(6) = 30.
    let started = expect_line(&a, "health checks scheduled");
    assert!(started.starts_with("<30>tandem["), "{started}");

    // Re-pointed at another socket with another facility: local5(21) * 8 + info(6) = 174.
    std::fs::write(&cfg, with_syslog(&second, "local5")).expect("write");
    daemon.signal(Signal::SIGHUP);
    let reloaded = expect_line(&b, "event=config_reload result=ok");
    assert!(reloaded.starts_with("<174>tandem["), "{reloaded}");

    // An address nobody listens on: the reload applies, syslog stays where it was and the
    // error is logged.
    std::fs::write(
        &cfg,
        with_syslog(&dir.path().join("nobody-listens.sock"), "local5"),
    )
    .expect("write");
    daemon.signal(Signal::SIGHUP);
    expect_line(&b, "cannot open the syslog sink");
    expect_line(&b, "event=config_reload result=ok");
    let status = wait_for("two reloads", Duration::from_secs(10), || {
        status_json(&socket).filter(|s| s["reloads_ok"] == 2)
    });
    assert_eq!(status["reloads_failed"], 0);
    // Nothing more went to the first socket after the switch.
    std::thread::sleep(Duration::from_millis(200));
    let late: Vec<String> = a
        .try_iter()
        .filter(|l| l.contains("config_reload"))
        .collect();
    assert!(late.is_empty(), "the old sink still got lines: {late:?}");
    drop(daemon);
}
