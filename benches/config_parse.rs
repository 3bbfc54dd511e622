#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark tool: failing loudly is right
//! Configuration parsing at scale: 1,000 virtual servers × 10 real servers, tandem's parser and
//! validator vs `keepalived -t` on the equivalent keepalived.conf, in the same run.
//!
//! Run: `cargo bench --bench config_parse` (keepalived must be installed: dev/deps.sh).
//! Memory is measured exactly with a counting allocator (peak bytes allocated during parse);
//! keepalived's figure is its peak RSS (getrusage of the child).

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates to the system allocator; only counts bytes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: ptr was allocated by System with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SERVICES: usize = 1000;
const REALS: usize = 10;

fn tandem_yaml() -> String {
    let mut y = String::from("dataplane: none\nvirtual_servers:\n");
    for s in 0..SERVICES {
        let _ = write!(
            y,
            "  - name: svc{s}\n    address: 10.{}.{}.1\n    port: 80\n    scheduler: wrr\n    forwarding: dr\n    check: {{ type: tcp, interval: 1s, timeout: 500ms, rise: 2, fall: 3 }}\n    real_servers:\n",
            100 + s / 256,
            s % 256
        );
        for r in 0..REALS {
            let _ = writeln!(
                y,
                "      - {{ address: 10.{}.{}.{}, port: 80, weight: 10 }}",
                200 + s / 256,
                s % 256,
                10 + r
            );
        }
    }
    y
}

fn keepalived_conf() -> String {
    let mut c = String::from("global_defs {\n  router_id bench\n}\n");
    for s in 0..SERVICES {
        let _ = writeln!(
            c,
            "virtual_server 10.{}.{}.1 80 {{\n  delay_loop 1\n  lb_algo wrr\n  lb_kind DR\n  protocol TCP",
            100 + s / 256,
            s % 256
        );
        for r in 0..REALS {
            let _ = writeln!(
                c,
                "  real_server 10.{}.{}.{} 80 {{\n    weight 10\n    TCP_CHECK {{\n      connect_timeout 0.5\n    }}\n  }}",
                200 + s / 256,
                s % 256,
                10 + r
            );
        }
        c.push_str("}\n");
    }
    c
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let yaml = tandem_yaml();
    let runs = 11;
    let mut times = Vec::new();
    let mut peak_extra = 0;
    for _ in 0..runs {
        let base = CURRENT.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let start = Instant::now();
        let config = tandem::config::parse("bench.yaml", &yaml).expect("bench config is valid");
        times.push(start.elapsed());
        peak_extra = PEAK.load(Ordering::Relaxed) - base;
        assert_eq!(config.real_server_count(), SERVICES * REALS);
    }
    let tandem_time = median(times);
    println!(
        "tandem parse+validate {SERVICES}x{REALS}: median {:.1} ms of {runs}, peak extra memory {:.1} MB ({} bytes of YAML)",
        tandem_time.as_secs_f64() * 1e3,
        peak_extra as f64 / 1e6,
        yaml.len()
    );

    let dir = std::env::temp_dir().join(format!("tandem-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let conf = dir.join("keepalived.conf");
    std::fs::write(&conf, keepalived_conf()).expect("write keepalived.conf");
    let keepalived = ["/usr/sbin/keepalived", "/sbin/keepalived"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(keepalived) = keepalived else {
        eprintln!("keepalived is not installed (dev/deps.sh installs it): no side-by-side figure");
        std::process::exit(1);
    };
    let mut ka_times = Vec::new();
    let mut ka_rss_kb = 0;
    for _ in 0..5 {
        let start = Instant::now();
        let status = std::process::Command::new(keepalived)
            .args(["-t", "-n", "-l", "-f"])
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("keepalived runs");
        ka_times.push(start.elapsed());
        let _ = status;
        let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
            .expect("getrusage");
        ka_rss_kb = usage.max_rss();
    }
    let ka_time = median(ka_times);
    println!(
        "keepalived -t same services: median {:.1} ms of 5, peak RSS {:.1} MB",
        ka_time.as_secs_f64() * 1e3,
        ka_rss_kb as f64 / 1e3
    );
    println!(
        "ratio: tandem is {:.1}x faster, uses {:.1}x less memory (extra allocation vs keepalived RSS)",
        ka_time.as_secs_f64() / tandem_time.as_secs_f64(),
        (ka_rss_kb as f64 * 1e3) / peak_extra as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}
