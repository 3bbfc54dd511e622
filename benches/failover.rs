#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark tool: failing loudly is right
//! VRRP failover, tandem vs keepalived, side by side in the same run.
//!
//! Two director pairs are built in network namespaces (`tandem::lab::DirectorLab`, one lab per
//! implementation, both alive for the whole interval so load hits both alike): dir1 (priority
//! 150) and dir2 (priority 100) with the same VRID and VIP, a UDP responder bound to the VIP in
//! each director answering with its name, and a client probing the VIP every 2 ms. For every
//! advert interval (v3 10 ms, v3 100 ms, v2 1 s) and repetition, each implementation in turn
//! (the order alternates between repetitions) goes through:
//! - link cut: after a random delay, dir1's cable is cut; measured: cut → first answer from
//!   dir2 ("takeover"), the client's longest gap, and the master's last advert seen on the LAN
//!   → first answer from dir2 (independent of the advert phase: Master_Down_Interval plus the
//!   implementation's reaction time). The cable is restored and the pair left to return to its
//!   steady state (dir1 master, only dir1 holding the VIP, the client answered by dir1);
//! - SIGTERM handover: dir1's daemon gets SIGTERM (it advertises priority 0); takeover and gap;
//! - preempt-back: dir1's daemon is started again and preempts dir2; the client's gap.
//!
//! Then, at 10 ms adverts, idle CPU (utime+stime of every process of the implementation in the
//! director, from /proc/PID/stat) and RSS (sum of VmRSS), master and backup, measured for both
//! pairs over the same window with no client traffic, in ~10 s slices (median/min/max over
//! the slices).
//!
//! Each fault is preceded by a random pause of at least 200 ms that is also the pre-fault
//! window: the client must have been answered by the director serving before the fault, and
//! the master's last advert before a cut is taken from it.
//!
//! Run (root, keepalived installed):
//! ```text
//! cargo bench --bench failover -- [--reps N] [--reps-v2 N] [--idle-secs S] [--intervals LIST]
//! ```
//! Environment: TANDEM_BIN (default: the static release binary `dev/build-release.sh` builds,
//! built first if needed), ADVERT_FLOOR_BIN (default: vrrp's `advert-floor` example, built
//! first), FAILOVER_REPS (5), FAILOVER_REPS_V2 (3), FAILOVER_IDLE_SECS (60),
//! FAILOVER_INTERVALS (`v3-10ms,v3-100ms,v2-1s`). Arguments override the environment.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tandem::lab::probe::{Prober, Responder, Sample, longest_outage};
use tandem::lab::{DirectorLab, VIP4};

const PROBE_PORT: u16 = 7777;
const PROBE_EVERY: Duration = Duration::from_millis(2);
const VRID: u8 = 77;
const INSTANCE: &str = "VI_bench";
const PRIORITIES: [u8; 2] = [150, 100];
const NAMES: [&str; 2] = ["dir1", "dir2"];
const MASTER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 10);

// ---------------------------------------------------------------------------------------------
// Settings

#[derive(Debug, Clone, Copy, PartialEq)]
struct Interval {
    version: u8,
    millis: u64,
}

impl Interval {
    fn parse(s: &str) -> Interval {
        let (v, t) = s
            .split_once('-')
            .unwrap_or_else(|| panic!("interval {s:?}: expected v3-10ms, v3-100ms, v2-1s"));
        let version = match v {
            "v2" => 2,
            "v3" => 3,
            _ => panic!("interval {s:?}: version must be v2 or v3"),
        };
        let millis = if let Some(ms) = t.strip_suffix("ms") {
            ms.parse().expect("interval milliseconds")
        } else if let Some(s) = t.strip_suffix('s') {
            s.parse::<u64>().expect("interval seconds") * 1000
        } else {
            panic!("interval {s:?}: time must end in ms or s")
        };
        assert!(
            version == 3 || millis % 1000 == 0,
            "VRRPv2 adverts are whole seconds"
        );
        assert!(
            version == 2 || (millis % 10 == 0 && millis >= 10),
            "VRRPv3 adverts are 10 ms steps"
        );
        Interval { version, millis }
    }

    fn label(self) -> String {
        if self.millis >= 1000 {
            format!("v{} {} s", self.version, self.millis / 1000)
        } else {
            format!("v{} {} ms", self.version, self.millis)
        }
    }

    fn duration(self) -> Duration {
        Duration::from_millis(self.millis)
    }

    fn tandem_yaml(self, priority: u8) -> String {
        format!(
            "vrrp_instances:\n  - name: {INSTANCE}\n    interface: eth0\n    vrid: {VRID}\n    priority: {priority}\n    version: {}\n    advert_interval: {}ms\n    virtual_addresses: [{VIP4}/24]\ndataplane: none\n",
            self.version, self.millis
        )
    }

    fn keepalived_conf(self, name: &str, priority: u8) -> String {
        let advert = if self.millis.is_multiple_of(1000) {
            format!("{}", self.millis / 1000)
        } else {
            format!("{:.2}", self.millis as f64 / 1000.0)
        };
        format!(
            "global_defs {{\n  router_id {name}\n  vrrp_version {}\n}}\n\
             vrrp_instance {INSTANCE} {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {VRID}\n  \
             priority {priority}\n  advert_int {advert}\n  virtual_ipaddress {{\n    {VIP4}/24\n  }}\n}}\n",
            self.version
        )
    }

    /// Master_Down_Interval of the priority-100 backup as the RFCs define it: the protocol
    /// floor of a link-cut failover, counted from the master's last advert. VRRPv3 (RFC 5798
    /// §6.1) computes in whole centiseconds, Skew_Time truncated: 30 ms at 10 ms adverts,
    /// 360 ms at 100 ms. VRRPv2 (RFC 3768 §6.1): 3 s + 156/256 s at 1 s.
    fn protocol_floor(self) -> Duration {
        let cs = self.millis / 10;
        if self.version == 3 {
            Duration::from_millis((3 * cs + (256 - u64::from(PRIORITIES[1])) * cs / 256) * 10)
        } else {
            self.duration() * 3 + Duration::from_secs(256 - u64::from(PRIORITIES[1])) / 256
        }
    }

    /// Master_Down_Interval of the priority-100 backup, RFC arithmetic, exact (not rounded to
    /// centiseconds), for waits only.
    fn master_down(self) -> Duration {
        self.duration() * 3 + self.duration() * 156 / 256
    }
}

#[derive(Debug)]
struct Settings {
    reps: usize,
    reps_v2: usize,
    idle: Duration,
    intervals: Vec<Interval>,
    tandem: PathBuf,
    /// `advert-floor`, the kernel's floor for a master's CPU (measured in the idle window).
    advert_floor: PathBuf,
}

fn settings() -> Settings {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut reps = env("FAILOVER_REPS").map_or(5, |v| v.parse().expect("FAILOVER_REPS"));
    let mut reps_v2 = env("FAILOVER_REPS_V2").map_or(3, |v| v.parse().expect("FAILOVER_REPS_V2"));
    let mut idle = env("FAILOVER_IDLE_SECS").map_or(60, |v| v.parse().expect("FAILOVER_IDLE_SECS"));
    let mut intervals =
        env("FAILOVER_INTERVALS").unwrap_or_else(|| "v3-10ms,v3-100ms,v2-1s".to_string());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| panic!("{name} needs a value"))
        };
        match a.as_str() {
            "--bench" => {} // added by `cargo bench`
            "--reps" => reps = value("--reps").parse().expect("--reps"),
            "--reps-v2" => reps_v2 = value("--reps-v2").parse().expect("--reps-v2"),
            "--idle-secs" => idle = value("--idle-secs").parse().expect("--idle-secs"),
            "--intervals" => intervals = value("--intervals"),
            other => panic!(
                "unknown argument {other:?}; use --reps N --reps-v2 N --idle-secs S --intervals v3-10ms,v3-100ms,v2-1s"
            ),
        }
    }
    // Default: the binary a director runs, as dev/build-release.sh builds it (static PIE).
    let tandem = env("TANDEM_BIN").map(PathBuf::from).unwrap_or_else(|| {
        let built = std::process::Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("dev/build-release.sh"))
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("run dev/build-release.sh");
        assert!(built.status.success(), "dev/build-release.sh failed");
        PathBuf::from(String::from_utf8_lossy(&built.stdout).trim())
    });
    assert!(
        tandem.is_file(),
        "tandem binary {} not found: build it with dev/build-release.sh or set TANDEM_BIN",
        tandem.display()
    );
    let tandem = tandem.canonicalize().expect("tandem binary path");
    Settings {
        reps,
        reps_v2,
        idle: Duration::from_secs(idle),
        intervals: intervals
            .split(',')
            .filter(|s| !s.is_empty())
            .map(Interval::parse)
            .collect(),
        tandem,
        advert_floor: env("ADVERT_FLOOR_BIN").map_or_else(build_advert_floor, PathBuf::from),
    }
}

/// Builds `vrrp/examples/advert-floor.rs` (release) and returns its path.
fn build_advert_floor() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new("cargo")
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "tandem-vrrp",
            "--example",
            "advert-floor",
        ])
        .current_dir(manifest)
        .status()
        .expect("run cargo build for advert-floor");
    assert!(
        status.success(),
        "cargo build --example advert-floor failed"
    );
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| manifest.join("target"), PathBuf::from);
    target.join("release/examples/advert-floor")
}

// ---------------------------------------------------------------------------------------------
// Randomness for the pre-fault delay (xorshift; no dependency needed).

struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Rng(t ^ (u64::from(std::process::id()) << 32) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        if n == 0 { 0 } else { self.0 % n }
    }
}

// ---------------------------------------------------------------------------------------------
// Adverts seen on the LAN (from the client namespace): when the master last spoke before a cut.

#[derive(Debug, Clone, Copy)]
struct Advert {
    at: Instant,
    source: Ipv4Addr,
    priority: u8,
}

struct AdvertLog {
    stop: Arc<AtomicBool>,
    adverts: Arc<Mutex<Vec<Advert>>>,
    thread: Option<JoinHandle<()>>,
}

impl AdvertLog {
    fn start(netns: &str) -> std::io::Result<AdvertLog> {
        let stop = Arc::new(AtomicBool::new(false));
        let adverts = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let path = PathBuf::from("/var/run/netns").join(netns);
        let (thread_stop, thread_adverts) = (stop.clone(), adverts.clone());
        let thread = std::thread::spawn(move || {
            let setup = (|| -> std::io::Result<UdpSocket> {
                tandem_vrrp::net::enter_network_namespace(&path)?;
                let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112)))?;
                socket.join_multicast_v4(&Ipv4Addr::new(224, 0, 0, 18), &CLIENT_ADDR)?;
                socket.set_read_timeout(Some(Duration::from_millis(50)))?;
                // Only recv() is used: a std socket wraps the raw descriptor for that.
                Ok(socket.into())
            })();
            let socket = match setup {
                Ok(s) => {
                    let _ = ready_tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let mut buf = [0u8; 1500];
            while !thread_stop.load(Ordering::Relaxed) {
                let Ok(n) = socket.recv(&mut buf) else {
                    continue;
                };
                let at = Instant::now();
                let ihl = usize::from(buf[0] & 0x0f) * 4;
                if n < ihl + 8 {
                    continue;
                }
                let source = Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]);
                let priority = buf[ihl + 2];
                if let Ok(mut a) = thread_adverts.lock() {
                    if a.len() > 100_000 {
                        a.clear();
                    }
                    a.push(Advert {
                        at,
                        source,
                        priority,
                    });
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| std::io::Error::other("advert log did not start"))??;
        Ok(AdvertLog {
            stop,
            adverts,
            thread: Some(thread),
        })
    }

    fn reset(&self) {
        self.adverts.lock().unwrap().clear();
    }

    /// The last advert with a non-zero priority from `source` before `before`.
    fn last_from(&self, source: Ipv4Addr, before: Instant) -> Option<Instant> {
        self.adverts
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|a| a.source == source && a.priority > 0 && a.at <= before)
            .map(|a| a.at)
    }
}

impl Drop for AdvertLog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One director pair of one implementation.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Implementation {
    Tandem,
    Keepalived,
}

impl Implementation {
    fn name(self) -> &'static str {
        match self {
            Implementation::Tandem => "tandem",
            Implementation::Keepalived => "keepalived",
        }
    }
}

struct Pair {
    implementation: Implementation,
    interval: Interval,
    // Field order is drop order: probes and captures stop before the lab goes away.
    prober: Option<Prober>,
    adverts: AdvertLog,
    _responders: Vec<Responder>,
    lab: DirectorLab,
    started: [bool; 2],
}

type Fallible<T> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Pair {
    fn build(implementation: Implementation, interval: Interval, tandem: &Path) -> Fallible<Pair> {
        let tag = match implementation {
            Implementation::Tandem => "fbt",
            Implementation::Keepalived => "fbk",
        };
        let lab = DirectorLab::build(tag, &NAMES, 0, false, tandem).map_err(err)?;
        let vip: IpAddr = VIP4.parse().map_err(err)?;
        let responders = (0..2)
            .map(|i| Responder::start(&lab.directors[i].host.netns, vip, PROBE_PORT, NAMES[i]))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(err)?;
        let adverts = AdvertLog::start(&lab.client.netns).map_err(err)?;
        let mut pair = Pair {
            implementation,
            interval,
            prober: None,
            adverts,
            _responders: responders,
            lab,
            started: [false; 2],
        };
        pair.start_probing()?;
        pair.start_director(0)?;
        pair.start_director(1)?;
        pair.wait_steady()?;
        Ok(pair)
    }

    fn start_probing(&mut self) -> Fallible<()> {
        let vip: IpAddr = VIP4.parse().map_err(err)?;
        self.prober = Some(
            Prober::start(
                &self.lab.client.netns,
                SocketAddr::new(vip, PROBE_PORT),
                PROBE_EVERY,
            )
            .map_err(err)?,
        );
        Ok(())
    }

    fn prober(&self) -> &Prober {
        self.prober.as_ref().expect("prober running")
    }

    /// Starts the daemon on director `i` (again): tandem keeps its config file and is
    /// restarted; keepalived is started with its configuration.
    fn start_director(&mut self, i: usize) -> Fallible<()> {
        match self.implementation {
            Implementation::Tandem if self.started[i] => self.lab.restart(i).map_err(err)?,
            Implementation::Tandem => self
                .lab
                .start(i, &self.interval.tandem_yaml(PRIORITIES[i]))
                .map_err(err)?,
            Implementation::Keepalived => self
                .lab
                .start_keepalived(i, &self.interval.keepalived_conf(NAMES[i], PRIORITIES[i]))
                .map_err(err)?,
        }
        self.started[i] = true;
        Ok(())
    }

    fn timeout(&self) -> Duration {
        self.interval.master_down() * 4 + Duration::from_secs(10)
    }

    /// Waits until dir1 alone holds the VIP and the client's last 10 probes were answered by
    /// dir1.
    fn wait_steady(&self) -> Fallible<()> {
        let ok = tandem_testlab::wait_until(self.timeout(), Duration::from_millis(20), || {
            let samples = self.prober().samples();
            samples.len() >= 10
                && samples[samples.len() - 10..]
                    .iter()
                    .all(|s| s.answered_by.as_deref() == Some(NAMES[0]))
                && self.lab.has_address(0, VIP4).unwrap_or(false)
                && !self.lab.has_address(1, VIP4).unwrap_or(true)
        });
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{} pair at {} did not reach its steady state (dir1 master) within {:?}\n{}",
                self.implementation.name(),
                self.interval.label(),
                self.timeout(),
                self.logs()
            ))
        }
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for d in &self.lab.directors {
            let log = std::fs::read_to_string(&d.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            let _ = writeln!(out, "--- {} ({}):", d.name, d.log.display());
            for line in tail.iter().rev() {
                let _ = writeln!(out, "{line}");
            }
        }
        out
    }

    /// Random pause before a fault: at least 200 ms (and 2 advert intervals) of steady state,
    /// plus a uniform delay over one advert interval so the fault lands at any advert phase.
    fn pause(&self, rng: &mut Rng) {
        let base = Duration::from_millis(200).max(self.interval.duration() * 2);
        let jitter = Duration::from_micros(rng.below(self.interval.millis * 1000));
        std::thread::sleep(base + jitter);
    }

    /// Injects `fault` while `from` serves the client and waits until `to` answers. Returns
    /// the samples from the start of the random pause before the fault until `watch` after the
    /// switch, and the fault instant.
    ///
    /// The whole pause (≥ 200 ms) is the pre-fault window: the client must have been answered
    /// by `from` last before the fault. (A 20 ms window after clearing the samples used to be
    /// the pre-fault window: on a loaded machine the prober thread can be descheduled for that
    /// long, leaving no answered probe before the fault and failing the round for nothing.)
    fn run_fault(
        &mut self,
        rng: &mut Rng,
        from: &str,
        to: &str,
        watch: Duration,
        fault: impl FnOnce(&mut Pair) -> Fallible<()>,
    ) -> Fallible<(Vec<Sample>, Instant)> {
        // The advert log spans the pause too, so the master's last advert before the fault is
        // in it at every interval (with a 20 ms window it was missing at 100 ms and 1 s).
        self.prober().reset();
        self.adverts.reset();
        self.pause(rng);
        let before = self.prober().samples();
        let last = before.iter().rev().find_map(|s| s.answered_by.as_deref());
        if last != Some(from) {
            return Err(format!(
                "{}: before the fault the client was not served by {from} (last answer: {last:?}; \
                 pre-fault samples: {})\n{}",
                self.implementation.name(),
                timeline(&before),
                self.logs()
            ));
        }
        let fault_at = Instant::now();
        fault(self)?;
        // Samples carry their own timestamps: polling only decides when to stop watching, so
        // it can be coarse (and cheap) at long intervals.
        let poll = (self.interval.duration() / 10)
            .clamp(Duration::from_millis(2), Duration::from_millis(50));
        let answered = tandem_testlab::wait_until(self.timeout(), poll, || {
            self.prober()
                .samples()
                .iter()
                .any(|s| s.at >= fault_at && s.answered_by.as_deref() == Some(to))
        });
        if !answered {
            let samples = self.prober().samples();
            let after: Vec<Sample> = samples.into_iter().filter(|s| s.at >= fault_at).collect();
            return Err(format!(
                "{}: {to} never answered the client after the fault (samples after it: {})\n{}",
                self.implementation.name(),
                timeline(&after),
                self.logs()
            ));
        }
        std::thread::sleep(watch);
        Ok((self.prober().samples(), fault_at))
    }

    /// One round: link cut, SIGTERM handover, preempt-back. Leaves the pair in steady state.
    fn round(&mut self, rng: &mut Rng) -> Fallible<Round> {
        let watch = Duration::from_millis(20);
        // Link cut.
        let (samples, cut_at) = self.run_fault(rng, NAMES[0], NAMES[1], watch, |p| {
            p.lab.cut(0).map_err(err)
        })?;
        let cut_takeover = first_answer(&samples, NAMES[1], cut_at)?;
        let cut_gap = gap(&samples, cut_at)?;
        // The master's last advert is the last one the client saw before the backup answered,
        // not before `cut_at`: the cut is an `ip link set down` run as a child process, and the
        // master keeps advertising (and the backup keeps hearing it) for the few milliseconds
        // that process takes to start. Nothing from the master reaches the LAN once the port is
        // down, so every advert logged before the answer was sent before the cut took effect.
        let answered_at = cut_at + cut_takeover;
        let cut_since_advert = self
            .adverts
            .last_from(MASTER_ADDR, answered_at)
            .map(|last| answered_at.saturating_duration_since(last));
        self.lab.restore(0).map_err(err)?;
        self.wait_steady()?;

        // SIGTERM handover (priority 0).
        let (samples, term_at) = self.run_fault(rng, NAMES[0], NAMES[1], watch, |p| {
            p.lab.signal(0, "TERM").map_err(err)
        })?;
        let term_takeover = first_answer(&samples, NAMES[1], term_at)?;
        let term_gap = gap(&samples, term_at)?;

        // Preempt-back: dir1 starts again and takes over from dir2. Watch a while after the
        // switch so a flap back (ARP ping-pong) would show in the gap.
        let watch = Duration::from_millis(100).max(self.interval.duration() * 2);
        let (samples, start_at) =
            self.run_fault(rng, NAMES[1], NAMES[0], watch, |p| p.start_director(0))?;
        let preempt_gap = gap(&samples, start_at)?;
        self.wait_steady()?;
        Ok(Round {
            cut_takeover,
            cut_gap,
            cut_since_advert,
            term_takeover,
            term_gap,
            preempt_gap,
        })
    }

    /// PIDs of the implementation's processes on director `i`: the daemon and its descendants
    /// (keepalived runs a VRRP child under its parent).
    fn processes(&self, i: usize) -> Vec<u32> {
        let Some(root) = self.lab.directors[i].pid else {
            return Vec::new();
        };
        let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(|pid| Some((pid, parent_pid(pid)?)))
            .collect();
        let mut set = vec![root];
        let mut k = 0;
        while k < set.len() {
            let p = set[k];
            set.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
            k += 1;
        }
        set
    }
}

/// Parent of `pid` (field 4 of /proc/PID/stat).
fn parent_pid(pid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) in parentheses: state, ppid, …
    let rest = &text[text.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time of `pid`'s threads in nanoseconds (`/proc/PID/task/*/schedstat`, the scheduler's
/// exact runtime: /proc/PID/stat's utime + stime count 10 ms ticks, which at a master's ~0.5 %
/// of a core is 5 ticks per 10 s slice).
fn cpu_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    Some(
        tasks
            .flatten()
            // A thread that ended meanwhile has no schedstat any more.
            .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
            .filter_map(|text| text.split_whitespace().next()?.parse::<u64>().ok())
            .sum(),
    )
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Private memory (USS: Private_Clean + Private_Dirty from smaps_rollup): what the process
/// alone holds, freed when it exits; shared library and binary pages mapped by other
/// processes too are not in it.
fn private_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .map(|s| {
            s.lines()
                .filter(|l| l.starts_with("Private_Clean:") || l.starts_with("Private_Dirty:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}

fn first_answer(samples: &[Sample], to: &str, since: Instant) -> Fallible<Duration> {
    samples
        .iter()
        .find(|s| s.at >= since && s.answered_by.as_deref() == Some(to))
        .map(|s| s.at.duration_since(since))
        .ok_or_else(|| format!("{to} never answered"))
}

/// The client's longest stretch without an answer around the fault (from the last answer
/// before it to the next answer); 2 ms (one probe period) means no probe was lost.
fn gap(samples: &[Sample], fault_at: Instant) -> Fallible<Duration> {
    let start = samples
        .iter()
        .rposition(|s| s.at < fault_at && s.answered_by.is_some())
        .ok_or("no answer before the fault")?;
    longest_outage(&samples[start..]).ok_or_else(|| "no answer at all".to_string())
}

/// Who answered, as runs: `dir1×112 –×3 dir2×40` (– = no answer), for failure messages.
fn timeline(samples: &[Sample]) -> String {
    let mut runs: Vec<(Option<&str>, usize)> = Vec::new();
    for s in samples {
        let who = s.answered_by.as_deref();
        match runs.last_mut() {
            Some((w, n)) if *w == who => *n += 1,
            _ => runs.push((who, 1)),
        }
    }
    if runs.is_empty() {
        return "none".to_string();
    }
    runs.iter()
        .map(|(w, n)| format!("{}×{n}", w.unwrap_or("–")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Debug, Clone, Copy)]
struct Round {
    cut_takeover: Duration,
    cut_gap: Duration,
    cut_since_advert: Option<Duration>,
    term_takeover: Duration,
    term_gap: Duration,
    preempt_gap: Duration,
}

// ---------------------------------------------------------------------------------------------
// Figures and the table.

#[derive(Debug, Default, Clone)]
struct Series(Vec<f64>);

impl Series {
    fn push(&mut self, v: f64) {
        self.0.push(v);
    }

    fn median(&self) -> Option<f64> {
        let mut v = self.0.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        Some(if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        })
    }

    fn cell(&self, decimals: usize) -> String {
        let Some(median) = self.median() else {
            return "–".to_string();
        };
        let min = self.0.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self.0.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if self.0.len() == 1 {
            format!("{median:.decimals$}")
        } else {
            format!("{median:.decimals$} ({min:.decimals$}–{max:.decimals$})")
        }
    }
}

struct Row {
    scenario: String,
    interval: String,
    unit: &'static str,
    decimals: usize,
    tandem: Series,
    keepalived: Series,
}

impl Row {
    fn new(scenario: &str, interval: &str, unit: &'static str, decimals: usize) -> Row {
        Row {
            scenario: scenario.to_string(),
            interval: interval.to_string(),
            unit,
            decimals,
            tandem: Series::default(),
            keepalived: Series::default(),
        }
    }

    fn series(&mut self, implementation: Implementation) -> &mut Series {
        match implementation {
            Implementation::Tandem => &mut self.tandem,
            Implementation::Keepalived => &mut self.keepalived,
        }
    }
}

fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| scenario | interval | n | tandem median (min–max) | keepalived median (min–max) | ratio keepalived/tandem |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for r in rows {
        let ratio = match (r.tandem.median(), r.keepalived.median()) {
            (Some(t), Some(k)) if t > 0.0 => format!("{:.2}", k / t),
            _ => "–".to_string(),
        };
        let n = if r.tandem.0.len() == r.keepalived.0.len() {
            r.tandem.0.len().to_string()
        } else {
            format!("{}/{}", r.tandem.0.len(), r.keepalived.0.len())
        };
        let _ = writeln!(
            out,
            "| {} ({}) | {} | {} | {} | {} | {} |",
            r.scenario,
            r.unit,
            r.interval,
            n,
            r.tandem.cell(r.decimals),
            r.keepalived.cell(r.decimals),
            ratio
        );
    }
    out
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------------------------

fn measure_interval(
    settings: &Settings,
    interval: Interval,
    rng: &mut Rng,
    rows: &mut Vec<Row>,
    failures: &mut Vec<String>,
) {
    let label = interval.label();
    let reps = if interval.version == 2 {
        settings.reps_v2
    } else {
        settings.reps
    };
    println!(
        "== {label}: {reps} repetitions per implementation, alternating; Master_Down_Interval of the backup {:.1} ms",
        ms(interval.protocol_floor())
    );
    let impls = [Implementation::Tandem, Implementation::Keepalived];
    let mut pairs: Vec<Option<Pair>> = impls
        .iter()
        .map(|&im| {
            Some(
                Pair::build(im, interval, &settings.tandem).unwrap_or_else(|e| {
                    panic!("cannot set up the {} pair at {label}: {e}", im.name())
                }),
            )
        })
        .collect();
    let base = rows.len();
    for (name, unit) in [
        ("link cut: cut → backup answers", "ms"),
        ("link cut: client gap", "ms"),
        ("link cut: master's last advert → backup answers", "ms"),
        ("link cut: that, minus Master_Down_Interval", "ms"),
        ("SIGTERM: signal → backup answers", "ms"),
        ("SIGTERM: client gap", "ms"),
        ("preempt-back: client gap", "ms"),
    ] {
        rows.push(Row::new(name, &label, unit, 1));
    }
    for rep in 0..reps {
        let order: Vec<usize> = if rep % 2 == 0 { vec![0, 1] } else { vec![1, 0] };
        for k in order {
            let im = impls[k];
            let result = pairs[k]
                .as_mut()
                .ok_or_else(|| "pair unavailable".to_string())
                .and_then(|p| p.round(rng));
            match result {
                Ok(r) => {
                    println!(
                        "   {label} rep {} {:<10} cut {:>7.1} gap {:>7.1} since-advert {:>7} | term {:>7.1} gap {:>7.1} | preempt gap {:>7.1} ms",
                        rep + 1,
                        im.name(),
                        ms(r.cut_takeover),
                        ms(r.cut_gap),
                        r.cut_since_advert
                            .map_or("?".to_string(), |d| format!("{:.1}", ms(d))),
                        ms(r.term_takeover),
                        ms(r.term_gap),
                        ms(r.preempt_gap)
                    );
                    rows[base].series(im).push(ms(r.cut_takeover));
                    rows[base + 1].series(im).push(ms(r.cut_gap));
                    if let Some(d) = r.cut_since_advert {
                        rows[base + 2].series(im).push(ms(d));
                        rows[base + 3]
                            .series(im)
                            .push(ms(d) - ms(interval.protocol_floor()));
                    }
                    rows[base + 4].series(im).push(ms(r.term_takeover));
                    rows[base + 5].series(im).push(ms(r.term_gap));
                    rows[base + 6].series(im).push(ms(r.preempt_gap));
                }
                Err(e) => {
                    let msg = format!("{label} rep {} {}: {e}", rep + 1, im.name());
                    eprintln!("!! round failed, rebuilding the pair: {msg}");
                    failures.push(msg.lines().next().unwrap_or_default().to_string());
                    pairs[k] = None; // tear the broken lab down before building a new one
                    pairs[k] = Pair::build(im, interval, &settings.tandem)
                        .map_err(|e| eprintln!("!! rebuild failed: {e}"))
                        .ok();
                }
            }
        }
    }
    if interval.version == 3 && interval.millis == 10 && !settings.idle.is_zero() {
        let live: Vec<&mut Pair> = pairs.iter_mut().flatten().collect();
        idle(settings, live, &label, rows);
    }
}

/// A third lab for the idle window: `advert-floor` as dir1 (sleep in `ppoll`, `sendto` a
/// pre-encoded advert on tandem's socket, nothing else), a tandem backup as dir2, the same LAN
/// as the pairs'. Its CPU is what the kernel charges any master for its adverts here, measured
/// in the same window as tandem's and keepalived's masters.
struct FloorLab {
    pid: u32,
    /// Held for its drop, which kills advert-floor and the backup and removes the namespaces.
    _lab: DirectorLab,
}

impl FloorLab {
    fn start(settings: &Settings) -> Fallible<FloorLab> {
        let interval = Interval::parse("v3-10ms");
        let mut lab = DirectorLab::build("fbf", &NAMES, 0, false, &settings.tandem).map_err(err)?;
        lab.start(1, &interval.tandem_yaml(PRIORITIES[1]))
            .map_err(err)?;
        let floor = settings.advert_floor.to_string_lossy().into_owned();
        // Longer than the window: the process is killed with the lab.
        let seconds = (settings.idle.as_secs() + 60).to_string();
        let master = MASTER_ADDR.to_string();
        let vrid = VRID.to_string();
        let log = lab.state_dir.join("advert-floor.log");
        let argv = [floor.as_str(), "eth0", &master, "10", &seconds, VIP4, &vrid];
        let pid = lab
            .lab
            .spawn(&lab.directors[0].host, &argv, Some(&log))
            .map_err(err)?;
        // Settle: the backup hears the floor's adverts (priority 200) and stays backup.
        std::thread::sleep(Duration::from_secs(1));
        if !lab.has_address(1, VIP4).map_err(err)? {
            Ok(FloorLab { pid, _lab: lab })
        } else {
            Err(format!(
                "the tandem backup took the VIP: it does not hear advert-floor\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            ))
        }
    }
}

/// Idle CPU and RSS of both pairs over the same window, no client traffic. The window is cut
/// into slices of ~10 s: CPU and peak RSS are computed per slice, so each figure has a median,
/// a minimum and a maximum (CPU: the scheduler's runtime of every thread, in nanoseconds).
/// Values are printed to 0.01 % of a core.
fn idle(settings: &Settings, mut pairs: Vec<&mut Pair>, label: &str, rows: &mut Vec<Row>) {
    let slices = (settings.idle.as_secs() / 10).max(1) as u32;
    let slice = settings.idle / slices;
    let floor = match FloorLab::start(settings) {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!("!! no advert-floor lab, the floor row stays empty: {e}");
            None
        }
    };
    println!(
        "== idle CPU and RSS at {label} over {} s in {slices} slices (both pairs in the same window)",
        settings.idle.as_secs()
    );
    for p in pairs.iter_mut() {
        p.prober = None;
    }
    std::thread::sleep(Duration::from_secs(2));
    const NANOS: f64 = 1e9;
    let pair_cpu_ns =
        |p: &Pair, i: usize| -> u64 { p.processes(i).iter().filter_map(|&pid| cpu_ns(pid)).sum() };
    let base = rows.len();
    rows.push(Row::new("idle CPU, master", label, "% of a core", 2));
    rows.push(Row::new("idle CPU, backup", label, "% of a core", 2));
    rows.push(Row::new("RSS, master", label, "MB", 1));
    rows.push(Row::new("RSS, backup", label, "MB", 1));
    rows.push(Row::new("RSS, both directors", label, "MB", 1));
    rows.push(Row::new("private memory (USS), master", label, "MB", 1));
    rows.push(Row::new(
        "idle CPU, advert-floor as master (ppoll + sendto only: the kernel's floor)",
        label,
        "% of a core",
        2,
    ));
    let mb = |kib: u64| kib as f64 / 1024.0;
    let floor_cpu_ns = || floor.as_ref().and_then(|f| cpu_ns(f.pid));
    for n in 0..slices {
        let before: Vec<[u64; 2]> = pairs
            .iter()
            .map(|p| [pair_cpu_ns(p, 0), pair_cpu_ns(p, 1)])
            .collect();
        let floor_before = floor_cpu_ns();
        let t0 = Instant::now();
        // RSS sampled every second; the slice's maximum is reported.
        let mut rss: Vec<[u64; 2]> = vec![[0; 2]; pairs.len()];
        let mut uss: Vec<u64> = vec![0; pairs.len()];
        while t0.elapsed() < slice {
            for (k, p) in pairs.iter().enumerate() {
                for (i, slot) in rss[k].iter_mut().enumerate() {
                    let kib: u64 = p.processes(i).iter().map(|&pid| rss_kib(pid)).sum();
                    *slot = (*slot).max(kib);
                }
                let kib: u64 = p.processes(0).iter().map(|&pid| private_kib(pid)).sum();
                uss[k] = uss[k].max(kib);
            }
            std::thread::sleep(Duration::from_secs(1).min(slice.saturating_sub(t0.elapsed())));
        }
        let secs = t0.elapsed().as_secs_f64();
        let after: Vec<[u64; 2]> = pairs
            .iter()
            .map(|p| [pair_cpu_ns(p, 0), pair_cpu_ns(p, 1)])
            .collect();
        if let (Some(b), Some(a)) = (floor_before, floor_cpu_ns()) {
            let cpu = 100.0 * a.saturating_sub(b) as f64 / NANOS / secs;
            println!(
                "   slice {}/{slices} advert-floor master {cpu:.2} % of a core",
                n + 1
            );
            // The tandem column holds it; there is no keepalived counterpart.
            rows[base + 6].tandem.push(cpu);
        }
        for (k, p) in pairs.iter().enumerate() {
            let im = p.implementation;
            let processes = [p.processes(0).len(), p.processes(1).len()];
            let mut cpu = [0.0; 2];
            for i in 0..2 {
                let d = after[k][i].saturating_sub(before[k][i]) as f64 / NANOS;
                cpu[i] = 100.0 * d / secs;
            }
            println!(
                "   slice {}/{slices} {:<10} master {:.2} % backup {:.2} % of a core; RSS master {:.1} MB backup {:.1} MB, private master {:.1} MB ({} + {} processes)",
                n + 1,
                im.name(),
                cpu[0],
                cpu[1],
                mb(rss[k][0]),
                mb(rss[k][1]),
                mb(uss[k]),
                processes[0],
                processes[1]
            );
            rows[base].series(im).push(cpu[0]);
            rows[base + 1].series(im).push(cpu[1]);
            rows[base + 2].series(im).push(mb(rss[k][0]));
            rows[base + 3].series(im).push(mb(rss[k][1]));
            rows[base + 4].series(im).push(mb(rss[k][0] + rss[k][1]));
            rows[base + 5].series(im).push(mb(uss[k]));
        }
    }
    for p in pairs.iter_mut() {
        let _ = p.start_probing();
    }
}

fn main() {
    tandem_testlab::require_root();
    tandem_testlab::require_tool("keepalived", "keepalived");
    let settings = settings();
    let version = std::process::Command::new("keepalived")
        .arg("-v")
        .output()
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines().next().unwrap_or_default().to_string()
        })
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "VRRP failover benchmark: tandem ({}) vs {version}; probes every {} ms; load average at start: {}",
        settings.tandem.display(),
        PROBE_EVERY.as_millis(),
        load.trim()
    );
    let started = Instant::now();
    let mut rng = Rng::new();
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for &interval in &settings.intervals {
        measure_interval(&settings, interval, &mut rng, &mut rows, &mut failures);
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\nfinished in {:.0} s; load average at end: {}; failed rounds: {}",
        started.elapsed().as_secs_f64(),
        load.trim(),
        failures.len()
    );
    for f in &failures {
        println!("  failed: {f}");
    }
    println!("\n{}", table(&rows));
}
