#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly
//! What `systemd/tandem.service` promises, checked without a running systemd:
//! - its `systemd-analyze security` exposure is at most 2.0;
//! - the daemon works with exactly the unit's privileges: an unprivileged user holding only
//!   the ambient CAP_NET_ADMIN and CAP_NET_RAW wins the election, adds and removes its VIP;
//! - `Type=notify` + `WatchdogSec=`: READY=1, then WATCHDOG=1 pings at least twice per
//!   timeout from the director loop, and none when systemd asked for no watchdog.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tandem::lab::DirectorLab;
use tandem_testlab::{require_root, require_tool, wait_until};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tandem() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tandem"))
}

#[test]
fn unit_exposure_is_at_most_2_0() {
    let analyze = require_tool("systemd-analyze", "systemd");
    let unit = repo().join("systemd/tandem.service");
    let out = Command::new(analyze)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| {
            panic!(
                "no exposure line from systemd-analyze:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the score in {line:?}"));
    assert!(score <= 2.0, "exposure {score} > 2.0:\n{text}");
    // The README records the figure operators will see.
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("rates it {score:.1}")),
        "README.md should say `rates it {score:.1}`"
    );
}

#[test]
fn daemon_runs_as_an_unprivileged_user_with_only_the_units_capabilities() {
    require_root();
    let setpriv = require_tool("setpriv", "util-linux");
    let mut lab = DirectorLab::build("unpriv", &["dir1"], 0, false, &tandem()).unwrap();
    // A directory the unprivileged user owns, like the unit's RuntimeDirectory=.
    let run_dir = lab.state_dir.join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    nix::unistd::chown(
        &run_dir,
        Some(nix::unistd::Uid::from_raw(65534)),
        Some(nix::unistd::Gid::from_raw(65534)),
    )
    .unwrap();
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let socket = run_dir.join("tandem.sock");
    let config = lab.state_dir.join("unpriv.yaml");
    std::fs::write(
        &config,
        format!(
            "global: {{ router_id: dir1, control_socket: {} }}
vrrp_instances:
  - name: VI_1
    interface: eth0
    vrid: 71
    priority: 200
    advert_interval: 100ms
    virtual_addresses: [10.77.0.100/24]
dataplane: none
",
            socket.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let log = lab.state_dir.join("unpriv.log");
    let setpriv = setpriv.to_string_lossy().into_owned();
    let tandem = tandem().to_string_lossy().into_owned();
    let config_arg = config.to_string_lossy().into_owned();
    // The unit's privileges: User= (here nobody), CapabilityBoundingSet= and
    // AmbientCapabilities= CAP_NET_ADMIN CAP_NET_RAW, NoNewPrivileges=yes.
    let pid = lab
        .lab
        .spawn(
            &lab.directors[0].host,
            &[
                &setpriv,
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all,+net_admin,+net_raw",
                "--ambient-caps=-all,+net_admin,+net_raw",
                "--bounding-set=-all,+net_admin,+net_raw",
                "--no-new-privs",
                "--",
                &tandem,
                "run",
                "-c",
                &config_arg,
            ],
            Some(&log),
        )
        .unwrap();
    lab.directors[0].socket = socket.clone();
    lab.directors[0].log = log.clone();
    lab.directors[0].pid = Some(pid);
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();

    let status = std::fs::read_to_string(format!("/proc/{}/status", child_of(pid))).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l[name.len()..].trim().to_string())
            .unwrap_or_default()
    };
    assert!(
        field("Uid:").starts_with("65534"),
        "daemon not running as 65534:\n{status}"
    );
    // CAP_NET_ADMIN (12) and CAP_NET_RAW (13) and nothing else.
    assert_eq!(
        field("CapEff:"),
        "0000000000003000",
        "effective capabilities:\n{status}"
    );

    lab.wait_state(0, "VI_1", "MASTER", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", read_log()));
    let has_vip = wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
        lab.has_address(0, "10.77.0.100").unwrap_or(false)
    });
    assert!(
        has_vip,
        "VIP not added by the unprivileged daemon:\n{}",
        read_log()
    );
    assert!(
        !read_log().contains("ERROR"),
        "errors running unprivileged:\n{}",
        read_log()
    );

    // Not Lab::signal: it reaps the process itself, and the exit status is wanted here.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let code = lab.lab.wait_exit(pid, Duration::from_secs(10)).unwrap();
    assert_eq!(code, Some(0), "exit status; log:\n{}", read_log());
    assert!(
        !lab.has_address(0, "10.77.0.100").unwrap(),
        "VIP left behind after SIGTERM:\n{}",
        read_log()
    );
}

/// `setpriv` execs the daemon in place, but the lab may wrap it in `ip netns exec`, which
/// also execs: the pid is the daemon's once it runs tandem. Waits (bounded) until it does.
fn child_of(pid: u32) -> u32 {
    let exe = tandem();
    let ok = wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
        std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == exe)
    });
    assert!(ok, "process {pid} never became {}", exe.display());
    pid
}

/// A daemon with no VRRP instances, its notify socket and control socket in `dir`.
fn spawn_with_notify(dir: &Path, watchdog_usec: Option<u64>) -> (Child, UnixDatagram) {
    let notify = dir.join("notify.sock");
    let receiver = UnixDatagram::bind(&notify).unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let config = dir.join("tandem.yaml");
    std::fs::write(
        &config,
        format!(
            "global: {{ control_socket: {} }}\ndataplane: none\n",
            dir.join("control.sock").display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(tandem());
    cmd.args(["run", "-c"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify)
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(usec) = watchdog_usec {
        cmd.env("WATCHDOG_USEC", usec.to_string());
    }
    (cmd.spawn().expect("tandem starts"), receiver)
}

/// Every datagram received within `window`.
fn collect(receiver: &UnixDatagram, window: Duration) -> Vec<(Instant, String)> {
    let end = Instant::now() + window;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        if let Ok(n) = receiver.recv(&mut buf) {
            got.push((
                Instant::now(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            ));
        }
    }
    got
}

fn stop(mut child: Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("tandem did not stop on SIGTERM within 10 s");
}

#[test]
fn watchdog_is_pinged_from_the_director_loop() {
    let dir = tempfile::tempdir().unwrap();
    // 1 s timeout: a ping every 500 ms, so 3 s hold about 6.
    let (child, receiver) = spawn_with_notify(dir.path(), Some(1_000_000));
    let messages = collect(&receiver, Duration::from_secs(3));
    stop(child);
    let ready = messages.iter().position(|(_, m)| m.contains("READY=1"));
    assert!(ready.is_some(), "no READY=1: {messages:?}");
    let pings: Vec<Instant> = messages
        .iter()
        .filter(|(_, m)| m.lines().any(|l| l == "WATCHDOG=1"))
        .map(|(t, _)| *t)
        .collect();
    assert!(
        pings.len() >= 3,
        "expected a ping every 500 ms for 3 s, got {}: {messages:?}",
        pings.len()
    );
    // No gap as long as the timeout itself: systemd would have killed the daemon.
    for pair in pings.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap < Duration::from_secs(1), "pings {gap:?} apart");
    }
}

#[test]
fn no_watchdog_pings_unless_systemd_asks() {
    let dir = tempfile::tempdir().unwrap();
    let (child, receiver) = spawn_with_notify(dir.path(), None);
    let messages = collect(&receiver, Duration::from_millis(1500));
    stop(child);
    assert!(
        messages.iter().any(|(_, m)| m.contains("READY=1")),
        "no READY=1: {messages:?}"
    );
    assert!(
        !messages.iter().any(|(_, m)| m.contains("WATCHDOG=1")),
        "pings without WATCHDOG_USEC: {messages:?}"
    );
}
