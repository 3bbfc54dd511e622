//! Benchmark of the check scheduler: N TCP or HTTP checks at a 1 s interval against one nginx
//! listening on all of 127.0.0.0/8, inside a private network namespace (each target is its own
//! loopback address, as N real servers would be).
//!
//! Reports checks/s, CPU-seconds used by this process (getrusage), checks per CPU-second,
//! schedule lateness (p50/p99/max) and RSS growth per target. Not a test: no assertions on
//! timing. Needs root (namespace) and nginx.
//!
//! ```text
//! cargo run --release -p tandem-checkers --example checkers-bench -- \
//!     --targets 10000 --duration 30 --kind tcp
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use nix::sys::resource::{Resource, UsageWho, getrlimit, getrusage, setrlimit};
use tandem_checkers::http::HttpSpec;
use tandem_checkers::tcp::TcpSpec;
use tandem_checkers::{
    CheckConfig, CheckSpec, CheckTiming, EventKind, Health, OwnerId, RiseFall, Scheduler,
    SchedulerOptions, Target,
};
use tandem_testlab::{Lab, require_root, require_tool, run, wait_until};

#[derive(Clone)]
struct Args {
    targets: usize,
    duration: u64,
    kind: String,
    concurrency: usize,
    interval_ms: u64,
    workers: usize,
    own_thread: bool,
    netns: Option<String>,
    start_window: Duration,
}

fn parse_args() -> Args {
    let mut args = Args {
        targets: 10_000,
        duration: 30,
        kind: "tcp".into(),
        concurrency: 1024,
        interval_ms: 1000,
        workers: 2,
        own_thread: true,
        netns: None,
        start_window: tandem_checkers::START_BATCH_WINDOW,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--targets" => args.targets = value.parse().expect("--targets N"),
            "--duration" => args.duration = value.parse().expect("--duration SECONDS"),
            "--kind" => args.kind = value,
            "--concurrency" => args.concurrency = value.parse().expect("--concurrency N"),
            "--interval-ms" => args.interval_ms = value.parse().expect("--interval-ms MS"),
            "--workers" => args.workers = value.parse().expect("--workers N"),
            "--own-thread" => args.own_thread = value != "0" && value != "false",
            "--netns" => args.netns = Some(value),
            "--start-window-ms" => {
                args.start_window =
                    Duration::from_millis(value.parse().expect("--start-window-ms MS"));
            }
            _ => panic!(
                "unknown flag {flag}; flags: --targets --duration --kind tcp|http --concurrency --interval-ms --workers --own-thread 0|1 --netns NAME --start-window-ms MS"
            ),
        }
    }
    assert!(
        args.targets <= 65_000,
        "at most 65000 targets (127.1.0.0/16 + some)"
    );
    args
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn cpu_seconds() -> f64 {
    let usage = getrusage(UsageWho::RUSAGE_SELF).unwrap();
    let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
    t(usage.user_time()) + t(usage.system_time())
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx]
}

/// Target `i`: 127.1.0.1 upward, skipping .0 and .255 octets for readability.
fn target_addr(i: usize) -> Ipv4Addr {
    let n = u32::try_from(i).unwrap();
    Ipv4Addr::new(
        127,
        1 + (n / 250 / 250) as u8,
        (n / 250 % 250) as u8 + 1,
        (n % 250) as u8 + 1,
    )
}

fn main() {
    let args = parse_args();
    require_root();
    if let Some(name) = &args.netns {
        // Targets prepared by the caller (dev/ipvs-vm/checkers-bench.sh: the same namespace and
        // listener serve keepalived): join the namespace and run, nothing to set up or tear down.
        let netns = File::open(format!("/var/run/netns/{name}")).unwrap();
        setns(&netns, CloneFlags::CLONE_NEWNET).unwrap();
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
        run_bench(&args);
        return;
    }
    let nginx = require_tool("nginx", "nginx-light");

    // The lab: one namespace, loopback only. 127.0.0.0/8 is local on lo, so every 127.x
    // address is a distinct reachable destination without configuring 10k addresses.
    let lab = Lab::new("bench").unwrap();
    let host = lab.host("bench").unwrap();
    for (key, value) in [
        ("net.core.somaxconn", "65535"),
        ("net.ipv4.tcp_max_syn_backlog", "65535"),
        ("net.ipv4.tcp_max_tw_buckets", "2000000"),
        ("net.ipv4.ip_local_port_range", "1024 65535"),
        ("net.ipv4.tcp_tw_reuse", "1"),
    ] {
        host.sysctl(key, value).unwrap();
    }
    let dir = std::env::temp_dir().join(format!("checkers-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = format!(
        r#"
user root;
worker_processes 1;
worker_rlimit_nofile 65536;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    listen 8080 backlog=65535;
    location / {{ return 200 "ok\n"; }}
  }}
}}
"#,
        d = dir.display()
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    lab.spawn(
        &host,
        &[
            nginx.to_str().unwrap(),
            "-c",
            conf_path.to_str().unwrap(),
            "-p",
            dir.to_str().unwrap(),
            "-g",
            "daemon off;",
        ],
        Some(&dir.join("nginx.out")),
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            host.exec_stdout(&["ss", "-Hltn"])
                .map(|o| o.contains(":8080 "))
                .unwrap_or(false)
        }),
        "nginx did not start"
    );

    // Every thread of the runtime is created after this: they all live in the namespace.
    let original_netns = File::open("/proc/self/ns/net").unwrap();
    let netns = File::open(format!("/var/run/netns/{}", host.netns)).unwrap();
    setns(&netns, CloneFlags::CLONE_NEWNET).unwrap();
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    run_bench(&args);
    // Leave the namespace before the lab is torn down: the lab kills every process still in its
    // namespaces, and this process would be one of them.
    setns(&original_netns, CloneFlags::CLONE_NEWNET).unwrap();
    drop(lab);
    let _ = run(&["rm", "-rf", dir.to_str().unwrap()]);
}

/// Runs the benchmark on a fresh runtime in the current network namespace.
fn run_bench(args: &Args) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .enable_all()
        .build()
        .unwrap();
    // The consumer runs as a task on the runtime, as the daemon's director does (a main thread
    // parked in block_on would need a cross-thread wake-up per event).
    let task_args = args.clone();
    runtime
        .block_on(async move { tokio::spawn(async move { bench(&task_args).await }).await })
        .unwrap();
    runtime.shutdown_timeout(Duration::from_secs(5));
}

async fn bench(args: &Args) {
    let interval = Duration::from_millis(args.interval_ms);
    let spec = match args.kind.as_str() {
        "tcp" => CheckSpec::Tcp(TcpSpec::default()),
        "http" => CheckSpec::Http(HttpSpec::default()),
        other => panic!("--kind tcp|http, not {other}"),
    };
    let (scheduler, mut events) = Scheduler::start(SchedulerOptions {
        max_concurrency: args.concurrency,
        every_result: true,
        seed: Some(1),
        own_thread: args.own_thread,
        start_batch_window: args.start_window,
    })
    .unwrap();
    let rss_before = rss_kib();
    // One `sync` for all checks, as the daemon registers them: one-by-one upserts left the
    // events unread while the checks registered, and on a saturated scheduler (the IPVS VM at
    // 10k) registering took long enough for that backlog to grow the heap by 100+ MiB.
    let desired: Vec<(OwnerId, CheckConfig)> = (0..args.targets)
        .map(|i| {
            let config = CheckConfig {
                spec: spec.clone(),
                target: Target::new(SocketAddr::from((target_addr(i), 8080))),
                timing: CheckTiming {
                    interval,
                    timeout: Duration::from_secs(2),
                    // Spread the first probes over one interval, as a real start would.
                    warmup: interval,
                    jitter: Duration::ZERO,
                    ..CheckTiming::default()
                },
                rise_fall: RiseFall {
                    rise: 1,
                    fall: 1,
                    initial: Health::Down,
                },
            };
            (OwnerId(format!("t{i}")), config)
        })
        .collect();
    let registering = Instant::now();
    scheduler.sync(desired).await.unwrap();
    println!(
        "registered {} checks in {:.2}s",
        args.targets,
        registering.elapsed().as_secs_f64()
    );
    // Warm up for two intervals (first probes, client buffers), then measure.
    let warm_end = tokio::time::Instant::now() + 2 * interval;
    while tokio::time::timeout_at(warm_end, events.recv())
        .await
        .is_ok()
    {}
    let rss_warm = rss_kib();
    let cpu_start = cpu_seconds();
    let start = Instant::now();
    let end = tokio::time::Instant::now() + Duration::from_secs(args.duration);
    let mut lateness_us = Vec::with_capacity(args.targets * args.duration as usize + 1024);
    let mut latency_us = Vec::with_capacity(lateness_us.capacity());
    let (mut ups, mut downs) = (0u64, 0u64);
    let mut first_down: Option<String> = None;
    // RSS sampled every 10 s: a leak grows steadily, a high-water mark levels off.
    let mut rss_samples = Vec::new();
    let mut next_sample = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Some(event)) = tokio::time::timeout_at(end, events.recv()).await {
        if tokio::time::Instant::now() >= next_sample {
            rss_samples.push(rss_kib());
            next_sample += Duration::from_secs(10);
        }
        if matches!(event.kind, EventKind::Weight(_)) {
            continue;
        }
        lateness_us.push(u64::try_from(event.lateness.as_micros()).unwrap_or(u64::MAX));
        latency_us.push(u64::try_from(event.result.latency.as_micros()).unwrap_or(u64::MAX));
        if event.result.outcome.is_up() {
            ups += 1;
        } else {
            downs += 1;
            first_down.get_or_insert_with(|| format!("{:?}", event.result.outcome));
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_start;
    let rss_end = rss_kib();
    lateness_us.sort_unstable();
    latency_us.sort_unstable();
    let checks = ups + downs;
    let per_target = |kib: u64| kib as f64 * 1024.0 / args.targets as f64;
    println!(
        "kind={} targets={} interval={}ms duration={:.1}s concurrency={}",
        args.kind, args.targets, args.interval_ms, elapsed, args.concurrency
    );
    println!(
        "checks={checks} up={ups} down={downs} checks/s={:.0} (ideal {:.0})",
        checks as f64 / elapsed,
        args.targets as f64 * 1000.0 / args.interval_ms as f64
    );
    println!(
        "cpu_seconds={cpu:.2} cpu_util={:.1}% checks_per_cpu_second={:.0}",
        cpu / elapsed * 100.0,
        checks as f64 / cpu
    );
    println!(
        "lateness_ms p50={:.2} p99={:.2} max={:.2}",
        percentile(&lateness_us, 0.50) as f64 / 1000.0,
        percentile(&lateness_us, 0.99) as f64 / 1000.0,
        lateness_us.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    println!(
        "probe_latency_ms p50={:.2} p99={:.2} max={:.2}",
        percentile(&latency_us, 0.50) as f64 / 1000.0,
        percentile(&latency_us, 0.99) as f64 / 1000.0,
        latency_us.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    println!(
        "rss_kib before={rss_before} after_warmup={rss_warm} end={rss_end} bytes_per_target={:.0} growth_during_run_kib={}",
        per_target(rss_warm.saturating_sub(rss_before)),
        rss_end as i64 - rss_warm as i64
    );
    println!("rss_kib every 10s: {rss_samples:?}");
    // Other work on the machine skews lateness and throughput (not the CPU-seconds of this
    // process much): print the load so a reader can judge a run.
    println!(
        "loadavg={}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    if let Some(down) = first_down {
        println!("first failure: {down}");
    }
}
