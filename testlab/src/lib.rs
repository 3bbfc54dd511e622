//! A multi-host lab built from Linux network namespaces, for integration tests.
//!
//! Topology (see `../shared/notes/testbed.md`): one "switch" namespace holds Linux bridges; each
//! host namespace gets a veth pair whose switch end is enslaved to a bridge. The host's own
//! network namespace is never touched. Every namespace name carries a per-lab unique prefix, so
//! tests run in parallel, and everything (processes first, then namespaces) is torn down on drop,
//! even when the test panics.
//!
//! The harness shells out to iproute2 (`ip`), the tool operators use, so a failing step prints the
//! exact command that failed.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Error from a lab operation: which command failed and what it printed.
#[derive(Debug)]
pub struct LabError(pub String);

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LabError {}

pub type Result<T> = std::result::Result<T, LabError>;

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Fails with a clear message unless the test runs as root with iproute2 available: lab tests
/// never skip themselves silently.
pub fn require_root() {
    // SAFETY-free check: /proc/self/status Uid line, avoiding a libc dependency.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or("?");
    assert_eq!(
        euid, "0",
        "this test builds network namespaces and must run as root (CI runs as root); run it with sudo"
    );
    assert!(
        which("ip").is_some(),
        "iproute2 (`ip`) is required: apt-get install iproute2 (dev/deps.sh installs it)"
    );
}

/// Path of `program` on PATH, if any.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].iter().map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Like [`which`] but panics with an install hint: a missing tool is a failure, not a skip.
pub fn require_tool(program: &str, debian_package: &str) -> PathBuf {
    which(program).unwrap_or_else(|| {
        panic!("`{program}` is required by this test: apt-get install {debian_package} (dev/deps.sh installs it)")
    })
}

/// Runs a command, returning its output, or an error naming the command when it fails.
pub fn run(argv: &[&str]) -> Result<Output> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| LabError("empty command".into()))?;
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError(format!("cannot run {}: {e}", argv.join(" "))))?;
    if !out.status.success() {
        return Err(LabError(format!(
            "`{}` failed ({}): {}{}",
            argv.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        )));
    }
    Ok(out)
}

/// A lab: a unique prefix, a switch namespace with bridges, and host namespaces.
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    switch: String,
    namespaces: Mutex<Vec<String>>,
    processes: Mutex<Vec<Child>>,
    bridges: Mutex<Vec<String>>,
    next_mac: AtomicU32,
}

/// One host: a network namespace in a lab.
#[derive(Debug, Clone)]
pub struct Host {
    /// Short name given by the test (`dir1`).
    pub name: String,
    /// Full namespace name (`tl1234-0-dir1`).
    pub netns: String,
}

/// A veth cable between a host interface and a bridge in the switch namespace.
#[derive(Debug, Clone)]
pub struct Link {
    /// Interface name inside the host namespace.
    pub host_ifname: String,
    /// Interface name of the switch end (cut/restore operate on it).
    pub switch_ifname: String,
    /// Fixed MAC address of the host end.
    pub mac: String,
    pub host: Host,
}

impl Lab {
    /// Creates a lab whose namespaces are named `tl<pid>-<n>-...` (`tag` is only for humans: it
    /// appears in the switch namespace name).
    pub fn new(tag: &str) -> Result<Lab> {
        let n = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("tl{}-{}", std::process::id(), n);
        let tag: String = tag
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(8)
            .collect();
        let switch = format!("{prefix}-sw{tag}");
        let lab = Lab {
            prefix,
            switch: switch.clone(),
            namespaces: Mutex::new(Vec::new()),
            processes: Mutex::new(Vec::new()),
            bridges: Mutex::new(Vec::new()),
            next_mac: AtomicU32::new(1),
        };
        lab.add_netns(&switch)?;
        Ok(lab)
    }

    /// The unique prefix of this lab's namespaces.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Name of the switch namespace (holds the bridges and switch ends of every cable).
    pub fn switch_netns(&self) -> &str {
        &self.switch
    }

    fn add_netns(&self, name: &str) -> Result<()> {
        run(&["ip", "netns", "add", name])?;
        self.namespaces
            .lock()
            .map_err(|_| LabError("lab lock poisoned".into()))?
            .push(name.to_string());
        run(&["ip", "-n", name, "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// Creates a host namespace with loopback up and IPv6 disabled (no MLD/RS/DAD noise).
    pub fn host(&self, name: &str) -> Result<Host> {
        self.host_with_ipv6(name, false)
    }

    /// Creates a host namespace; `ipv6` keeps IPv6 enabled (with DAD off so addresses are usable
    /// at once).
    pub fn host_with_ipv6(&self, name: &str, ipv6: bool) -> Result<Host> {
        let netns = format!("{}-{}", self.prefix, name);
        self.add_netns(&netns)?;
        let host = Host {
            name: name.to_string(),
            netns,
        };
        if ipv6 {
            host.sysctl("net.ipv6.conf.all.accept_dad", "0")?;
            host.sysctl("net.ipv6.conf.default.accept_dad", "0")?;
        } else {
            host.sysctl("net.ipv6.conf.all.disable_ipv6", "1")?;
            host.sysctl("net.ipv6.conf.default.disable_ipv6", "1")?;
        }
        Ok(host)
    }

    /// Creates (once) a bridge named `bridge` in the switch namespace: STP off, no forward delay.
    pub fn bridge(&self, bridge: &str) -> Result<()> {
        let mut bridges = self
            .bridges
            .lock()
            .map_err(|_| LabError("lab lock poisoned".into()))?;
        if bridges.iter().any(|b| b == bridge) {
            return Ok(());
        }
        let sw = &self.switch;
        run(&[
            "ip",
            "-n",
            sw,
            "link",
            "add",
            bridge,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ])?;
        run(&["ip", "-n", sw, "link", "set", bridge, "up"])?;
        bridges.push(bridge.to_string());
        Ok(())
    }

    /// Plugs `host` into `bridge` with a veth whose host end is `ifname`, with a fixed MAC
    /// (02:74:6c:00:NN:NN, unique in the lab) and the given addresses (`10.0.0.1/24`,
    /// `fd00::1/64`), and brings it up.
    pub fn connect(&self, host: &Host, bridge: &str, ifname: &str, addrs: &[&str]) -> Result<Link> {
        self.bridge(bridge)?;
        let sw = &self.switch;
        let n = self.next_mac.fetch_add(1, Ordering::SeqCst);
        let switch_ifname = format!("v{n}");
        let mac = format!("02:74:6c:00:{:02x}:{:02x}", (n >> 8) & 0xff, n & 0xff);
        run(&[
            "ip",
            "-n",
            sw,
            "link",
            "add",
            &switch_ifname,
            "type",
            "veth",
            "peer",
            "name",
            ifname,
            "netns",
            &host.netns,
        ])?;
        run(&[
            "ip",
            "-n",
            sw,
            "link",
            "set",
            &switch_ifname,
            "master",
            bridge,
        ])?;
        run(&["ip", "-n", sw, "link", "set", &switch_ifname, "up"])?;
        run(&[
            "ip",
            "-n",
            &host.netns,
            "link",
            "set",
            ifname,
            "address",
            &mac,
        ])?;
        for addr in addrs {
            let family = if addr.contains(':') { "-6" } else { "-4" };
            run(&[
                "ip",
                family,
                "-n",
                &host.netns,
                "addr",
                "add",
                addr,
                "dev",
                ifname,
                "nodad",
            ])
            .or_else(|_| {
                run(&[
                    "ip",
                    family,
                    "-n",
                    &host.netns,
                    "addr",
                    "add",
                    addr,
                    "dev",
                    ifname,
                ])
            })?;
        }
        run(&["ip", "-n", &host.netns, "link", "set", ifname, "up"])?;
        Ok(Link {
            host_ifname: ifname.to_string(),
            switch_ifname,
            mac,
            host: host.clone(),
        })
    }

    /// "Cuts the cable": the switch end goes down, so the host end loses carrier.
    pub fn cut(&self, link: &Link) -> Result<()> {
        run(&[
            "ip",
            "-n",
            &self.switch,
            "link",
            "set",
            &link.switch_ifname,
            "down",
        ])
        .map(|_| ())
    }

    /// Plugs a cut cable back in.
    pub fn restore(&self, link: &Link) -> Result<()> {
        run(&[
            "ip",
            "-n",
            &self.switch,
            "link",
            "set",
            &link.switch_ifname,
            "up",
        ])
        .map(|_| ())
    }

    /// Starts `argv` inside `host`; the process is killed when the lab is dropped (or earlier by
    /// [`Lab::kill`]). Its stdout/stderr go to `log` when given, else are discarded.
    pub fn spawn(&self, host: &Host, argv: &[&str], log: Option<&Path>) -> Result<u32> {
        let mut cmd = host.command(argv)?;
        cmd.stdin(Stdio::null());
        match log {
            Some(path) => {
                let file = std::fs::File::create(path)
                    .map_err(|e| LabError(format!("cannot create {}: {e}", path.display())))?;
                let file2 = file
                    .try_clone()
                    .map_err(|e| LabError(format!("cannot dup log file: {e}")))?;
                cmd.stdout(file).stderr(file2);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let child = cmd
            .spawn()
            .map_err(|e| LabError(format!("cannot start {}: {e}", argv.join(" "))))?;
        let pid = child.id();
        self.processes
            .lock()
            .map_err(|_| LabError("lab lock poisoned".into()))?
            .push(child);
        Ok(pid)
    }

    /// Sends `signal` (e.g. "KILL", "TERM", "HUP") to a process started by [`Lab::spawn`]; KILL
    /// and TERM also reap it (bounded wait).
    pub fn signal(&self, pid: u32, signal: &str) -> Result<()> {
        run(&["kill", &format!("-{signal}"), &pid.to_string()])?;
        if signal == "KILL" || signal == "TERM" {
            let mut procs = self
                .processes
                .lock()
                .map_err(|_| LabError("lab lock poisoned".into()))?;
            if let Some(pos) = procs.iter().position(|c| c.id() == pid) {
                let mut child = procs.remove(pos);
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    match child.try_wait() {
                        Ok(Some(_)) | Err(_) => break,
                        Ok(None) if Instant::now() > deadline => {
                            let _ = child.kill();
                            let _ = child.wait();
                            break;
                        }
                        Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            }
        }
        Ok(())
    }

    /// Waits (bounded) for a spawned process to exit on its own and returns its exit code.
    pub fn wait_exit(&self, pid: u32, timeout: Duration) -> Result<Option<i32>> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let mut procs = self
                    .processes
                    .lock()
                    .map_err(|_| LabError("lab lock poisoned".into()))?;
                let pos = procs
                    .iter()
                    .position(|c| c.id() == pid)
                    .ok_or_else(|| LabError(format!("pid {pid} is not a lab process")))?;
                if let Ok(Some(_)) = procs[pos].try_wait() {
                    // Already reaped by try_wait; wait() returns the cached status at once.
                    let mut child = procs.remove(pos);
                    return child
                        .wait()
                        .map(|status| status.code())
                        .map_err(|e| LabError(format!("wait for pid {pid}: {e}")));
                }
            }
            if Instant::now() > deadline {
                return Err(LabError(format!(
                    "pid {pid} still running after {timeout:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills a spawned process with SIGKILL.
    pub fn kill(&self, pid: u32) -> Result<()> {
        self.signal(pid, "KILL")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Ok(mut procs) = self.processes.lock() {
            for child in procs.iter_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
            procs.clear();
        }
        if let Ok(namespaces) = self.namespaces.lock() {
            // Processes started with `ip netns exec` outside `spawn` (daemonized helpers) would
            // keep a namespace alive: kill whatever still runs in it first.
            for ns in namespaces.iter().rev() {
                if let Ok(out) = run(&["ip", "netns", "pids", ns]) {
                    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                        let _ = run(&["kill", "-KILL", pid]);
                    }
                }
                let _ = run(&["ip", "netns", "del", ns]);
            }
        }
    }
}

impl Host {
    /// A `Command` running `argv` inside this namespace (`ip netns exec NS argv...`).
    pub fn command(&self, argv: &[&str]) -> Result<Command> {
        if argv.is_empty() {
            return Err(LabError("empty command".into()));
        }
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns]).args(argv);
        Ok(cmd)
    }

    /// Runs `argv` inside this namespace; an error names the command and its stderr.
    pub fn exec(&self, argv: &[&str]) -> Result<Output> {
        let mut full = vec!["ip", "netns", "exec", self.netns.as_str()];
        full.extend_from_slice(argv);
        run(&full)
    }

    /// Runs `argv` inside this namespace and returns its stdout as text.
    pub fn exec_stdout(&self, argv: &[&str]) -> Result<String> {
        self.exec(argv)
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// Sets a sysctl inside this namespace.
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        self.exec(&["sysctl", "-q", "-w", &format!("{key}={value}")])
            .map(|_| ())
    }

    /// Adds an address to an interface of this host.
    pub fn add_addr(&self, ifname: &str, addr: &str) -> Result<()> {
        run(&["ip", "-n", &self.netns, "addr", "add", addr, "dev", ifname]).map(|_| ())
    }

    /// Adds a route (`ip route add DEST via GW` style arguments).
    pub fn route(&self, args: &[&str]) -> Result<()> {
        let mut full = vec!["ip", "-n", self.netns.as_str(), "route", "add"];
        full.extend_from_slice(args);
        run(&full).map(|_| ())
    }

    /// True when `addr` (without prefix length) is configured on any interface of this host.
    pub fn has_addr(&self, addr: &str) -> Result<bool> {
        let out = run(&["ip", "-n", &self.netns, "-o", "addr", "show"])?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text
            .split_whitespace()
            .any(|word| word.split('/').next() == Some(addr)))
    }

    /// Sets an interface of this host up or down.
    pub fn link_set(&self, ifname: &str, up: bool) -> Result<()> {
        run(&[
            "ip",
            "-n",
            &self.netns,
            "link",
            "set",
            ifname,
            if up { "up" } else { "down" },
        ])
        .map(|_| ())
    }
}

/// Polls `condition` every `step` until it is true or `timeout` passes; returns whether it became
/// true. Every wait in a lab test is bounded by this.
pub fn wait_until(timeout: Duration, step: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(step);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_hosts_ping_across_the_bridge_and_a_cut_cable_stops_it() -> Result<()> {
        require_root();
        let lab = Lab::new("ping")?;
        let a = lab.host("a")?;
        let b = lab.host("b")?;
        lab.connect(&a, "br0", "eth0", &["10.99.0.1/24"])?;
        let lb = lab.connect(&b, "br0", "eth0", &["10.99.0.2/24"])?;
        assert!(a.has_addr("10.99.0.1")?);
        a.exec(&["ping", "-c", "1", "-W", "2", "10.99.0.2"])?;
        lab.cut(&lb)?;
        assert!(
            a.exec(&["ping", "-c", "1", "-W", "1", "10.99.0.2"])
                .is_err()
        );
        lab.restore(&lb)?;
        assert!(wait_until(
            Duration::from_secs(5),
            Duration::from_millis(100),
            || { a.exec(&["ping", "-c", "1", "-W", "1", "10.99.0.2"]).is_ok() }
        ));
        let ns = a.netns.clone();
        drop(lab);
        let list = run(&["ip", "netns", "list"])?;
        assert!(
            !String::from_utf8_lossy(&list.stdout).contains(&ns),
            "namespace {ns} left behind"
        );
        Ok(())
    }

    #[test]
    fn spawned_processes_die_with_the_lab() -> Result<()> {
        require_root();
        let lab = Lab::new("proc")?;
        let h = lab.host("h")?;
        let pid = lab.spawn(&h, &["sleep", "30"], None)?;
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        drop(lab);
        let gone = wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(" Z "))
                .unwrap_or(true)
        });
        assert!(gone, "process {pid} survived the lab");
        Ok(())
    }
}
