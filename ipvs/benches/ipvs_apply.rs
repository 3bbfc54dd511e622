//! Benchmark: tandem's batched netlink apply versus `ipvsadm --restore`, inside the IPVS VM.
//!
//!     dev/ipvs-vm/bench.sh [services] [dests] [repeats]   # one VM boot, release build
//!
//! Method. Per repeat, each tool gets its own fresh network namespace: IPVS tables are per
//! namespace, so every cold apply starts empty and without a trash list of removed
//! destinations (which slows later adds). Tools alternate and the order flips every repeat.
//! Inside the namespace a `measure` process (entered with `ip netns exec`, untimed: that
//! command alone costs 0.3–3 s under TCG) times two child processes per tool: the cold apply
//! of S services × D destinations, then one weight change per service. Both timings cover
//! the whole child process (start, rule building or parsing, all netlink traffic). Entries
//! are counted through /proc/net/ip_vs. After each measurement the namespace's table is
//! flushed and the namespace deleted: the kernel's service hash table is global (shared by
//! all namespaces), so leftover tables would slow every later run down (observed: ipvsadm
//! 12 s → 21 s over five repeats without the flush). No time assertions: not a test.

use std::collections::HashSet;
use std::net::IpAddr;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use tandem_ipvs::{
    Destination, ForwardMethod, IpvsClient, IpvsState, ReconcileOptions, Service, ServiceKey,
    VirtualService, reconcile,
};

/// Where the binary is copied in the guest: tmpfs, so loading it is not a 9p read.
const GUEST_EXE: &str = "/tmp/ipvs_apply";

#[derive(Clone, Copy)]
struct Shape {
    services: usize,
    dests: usize,
}

fn vip(i: usize) -> IpAddr {
    IpAddr::from([10, (i / 250) as u8, (i % 250 + 1) as u8, 1])
}

fn rip(i: usize, j: usize) -> IpAddr {
    IpAddr::from([172, 16 + (i / 250) as u8, (i % 250) as u8, (j + 1) as u8])
}

/// The table both tools build. `bump` raises the weight of each service's first server.
fn desired(shape: Shape, bump: u32) -> IpvsState {
    IpvsState::new(
        (0..shape.services)
            .map(|i| {
                let dests = (0..shape.dests)
                    .map(|j| {
                        let weight = if j == 0 { 1 + bump } else { 1 };
                        Destination::new(rip(i, j), 80, ForwardMethod::Masquerade, weight)
                    })
                    .collect();
                VirtualService::new(Service::new(ServiceKey::tcp(vip(i), 80), "wrr"), dests)
            })
            .collect(),
    )
}

fn restore_rules(shape: Shape) -> String {
    let mut out = String::new();
    for i in 0..shape.services {
        out += &format!("-A -t {}:80 -s wrr\n", vip(i));
        for j in 0..shape.dests {
            out += &format!("-a -t {}:80 -r {}:80 -m -w 1\n", vip(i), rip(i, j));
        }
    }
    out
}

fn weight_rules(shape: Shape) -> String {
    (0..shape.services)
        .map(|i| format!("-e -t {}:80 -r {}:80 -m -w 2\n", vip(i), rip(i, 0)))
        .collect()
}

/// (services, destinations) in this process's namespace.
fn proc_counts() -> Result<(usize, usize), String> {
    let text = std::fs::read_to_string("/proc/net/ip_vs").map_err(|e| e.to_string())?;
    let services = text.lines().filter(|l| l.starts_with("TCP")).count();
    let dests = text
        .lines()
        .filter(|l| l.trim_start().starts_with("->") && !l.contains("Remote"))
        .count();
    Ok((services, dests))
}

fn check(shape: Shape) -> Result<(), String> {
    let counts = proc_counts()?;
    let want = (shape.services, shape.services * shape.dests);
    if counts == want {
        Ok(())
    } else {
        Err(format!("/proc/net/ip_vs has {counts:?}, want {want:?}"))
    }
}

fn sh(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{args:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{args:?}: {}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a child process with `stdin`; returns wall seconds and its stdout.
fn timed(cmd: &[&str], stdin: Option<&str>) -> Result<(f64, String), String> {
    let started = Instant::now();
    let mut child = Command::new(cmd[0])
        .args(&cmd[1..])
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(input.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}", out.status));
    }
    Ok((secs, String::from_utf8_lossy(&out.stdout).into_owned()))
}

fn field(stdout: &str, key: &str) -> Result<f64, String> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no {key} in {stdout:?}"))
}

/// Worker (child of `measure`): applies the cold table or the weight changes with tandem.
fn tandem(mode: &str, shape: Shape) -> Result<(), String> {
    let (target, base) = match mode {
        "tandem-cold" => (desired(shape, 0), IpvsState::default()),
        _ => (desired(shape, 1), desired(shape, 0)),
    };
    let owned: HashSet<ServiceKey> = target.services.iter().map(VirtualService::key).collect();
    let ops = reconcile(&target, &base, &owned, &ReconcileOptions::default())
        .map_err(|e| e.to_string())?;
    let mut client = IpvsClient::connect().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let report = client.apply(&ops).map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    if !report.all_ok() {
        let failures = report.failures();
        return Err(format!(
            "{} failures, first {:?}",
            failures.len(),
            failures.first()
        ));
    }
    println!("apply_seconds={secs}");
    Ok(())
}

/// Runs inside one fresh namespace: times one tool's cold apply then its weight changes.
fn measure(tool: &str, shape: Shape) -> Result<(), String> {
    let (svc, dst) = (shape.services.to_string(), shape.dests.to_string());
    let (cold, weights, apply_cold, apply_weights) = if tool == "tandem" {
        let (cold, out) = timed(&[GUEST_EXE, "tandem-cold", &svc, &dst], None)?;
        check(shape)?;
        let (weights, out_w) = timed(&[GUEST_EXE, "tandem-weights", &svc, &dst], None)?;
        (
            cold,
            weights,
            field(&out, "apply_seconds=")?,
            field(&out_w, "apply_seconds=")?,
        )
    } else {
        let (cold, _) = timed(&["ipvsadm", "--restore"], Some(&restore_rules(shape)))?;
        check(shape)?;
        let (weights, _) = timed(&["ipvsadm", "--restore"], Some(&weight_rules(shape)))?;
        (cold, weights, f64::NAN, f64::NAN)
    };
    println!(
        "cold={cold}\nweights={weights}\napply_cold={apply_cold}\napply_weights={apply_weights}"
    );
    Ok(())
}

#[derive(Clone, Copy)]
struct Row {
    tandem: bool,
    cold: f64,
    weights: f64,
}

fn run(shape: Shape, repeats: usize) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    std::fs::copy(exe, GUEST_EXE).map_err(|e| e.to_string())?;
    let (svc, dst) = (shape.services.to_string(), shape.dests.to_string());
    let cold_ops = shape.services * (shape.dests + 1);
    println!(
        "cold apply: {} services x {} destinations = {cold_ops} operations; weights: {} SET_DEST",
        shape.services, shape.dests, shape.services
    );
    let mut rows = Vec::new();
    for r in 0..repeats {
        let order = if r % 2 == 0 {
            ["tandem", "ipvsadm"]
        } else {
            ["ipvsadm", "tandem"]
        };
        for tool in order {
            let ns = format!("bench-{tool}-{r}");
            sh(&["ip", "netns", "add", &ns])?;
            // With loopback down, IPVS sees every address as "not unicast" and refuses it.
            sh(&["ip", "netns", "exec", &ns, "ip", "link", "set", "lo", "up"])?;
            let out = sh(&[
                "ip", "netns", "exec", &ns, GUEST_EXE, "measure", tool, &svc, &dst,
            ])?;
            let row = Row {
                tandem: tool == "tandem",
                cold: field(&out, "cold=")?,
                weights: field(&out, "weights=")?,
            };
            let inner = if row.tandem {
                format!(
                    "  (netlink apply alone: cold {:.3} s, weights {:.3} s)",
                    field(&out, "apply_cold=")?,
                    field(&out, "apply_weights=")?
                )
            } else {
                String::new()
            };
            println!(
                "repeat {r} {tool:8} cold {:7.3} s = {:6.0} ops/s   weights {:6.3} s = {:6.0} ops/s{inner}",
                row.cold,
                cold_ops as f64 / row.cold,
                row.weights,
                shape.services as f64 / row.weights
            );
            rows.push(row);
            // The kernel's service hash table is shared by all namespaces (6.1), so
            // tables left behind would lengthen every later lookup: flush (synchronous)
            // before the next measurement. Its trash list dies with this namespace.
            sh(&["ip", "netns", "exec", &ns, "ipvsadm", "-C"])?;
            sh(&["ip", "netns", "del", &ns])?;
        }
    }
    let median = |tandem: bool, pick: fn(&Row) -> f64| {
        let mut v: Vec<f64> = rows
            .iter()
            .filter(|r| r.tandem == tandem)
            .map(pick)
            .collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let (tc, ic) = (median(true, |r| r.cold), median(false, |r| r.cold));
    let (tw, iw) = (median(true, |r| r.weights), median(false, |r| r.weights));
    println!(
        "median cold apply: tandem {tc:.3} s ({:.0} ops/s), ipvsadm --restore {ic:.3} s ({:.0} ops/s): tandem {:.1}x faster",
        cold_ops as f64 / tc,
        cold_ops as f64 / ic,
        ic / tc
    );
    println!(
        "median weight changes: tandem {tw:.3} s ({:.0} ops/s), ipvsadm --restore {iw:.3} s ({:.0} ops/s): tandem {:.1}x faster",
        shape.services as f64 / tw,
        shape.services as f64 / iw,
        iw / tw
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let num =
        |i: usize, default: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    let result = match args.first().map(String::as_str) {
        Some("run") => run(
            Shape {
                services: num(1, 1000),
                dests: num(2, 10),
            },
            num(3, 3),
        ),
        Some("measure") => {
            let tool = args.get(1).map(String::as_str).unwrap_or("tandem");
            measure(
                tool,
                Shape {
                    services: num(2, 1000),
                    dests: num(3, 10),
                },
            )
        }
        Some(mode @ ("tandem-cold" | "tandem-weights")) => tandem(
            mode,
            Shape {
                services: num(1, 1000),
                dests: num(2, 10),
            },
        ),
        _ => Err("needs the IPVS VM: run dev/ipvs-vm/bench.sh [services dests repeats]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipvs_apply: {e}");
            ExitCode::FAILURE
        }
    }
}
