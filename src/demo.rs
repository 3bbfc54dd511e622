//! `tandem demo`: a director pair in network namespaces, failing over while a client watches.
//!
//! Builds a LAN (switch namespace with a bridge), two directors running real `tandem run`
//! processes from the embedded configuration below, and a client probing a UDP service on the
//! virtual address every 2 ms. It shows who is master, kills the master (SIGKILL), prints the
//! outage the client saw, brings the director back (preemption), stops it gracefully
//! (SIGTERM: priority 0), and tears everything down. Needs root, iproute2, netns and veth.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use crate::lab::probe::{Prober, Responder, switchover};
use crate::lab::{DirectorLab, VIP4};

/// The demo's director configuration: VRRPv3 with 10 ms adverts (Master_Down_Interval about
/// 35 ms for the backup), dir1 preferred.
pub fn demo_config(priority: u8) -> String {
    format!(
        "vrrp_instances:\n  - name: VI_demo\n    interface: eth0\n    vrid: 77\n    priority: {priority}\n    version: 3\n    advert_interval: 10ms\n    virtual_addresses: [{VIP4}/24]\n    garp: {{ delay: 1s, repeat: 2 }}\ndataplane: none\n"
    )
}

const PROBE_PORT: u16 = 7777;

pub fn run() -> ExitCode {
    match demo() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn step(text: &str) {
    println!("==> {text}");
}

fn demo() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err(
            "tandem demo builds network namespaces: run it as root (sudo tandem demo)".into(),
        );
    }
    if tandem_testlab::which("ip").is_none() {
        return Err("iproute2 (`ip`) is required: apt-get install iproute2".into());
    }
    let tandem = std::env::current_exe().map_err(|e| format!("cannot find my own binary: {e}"))?;
    let started = std::time::Instant::now();

    step("building the lab: switch, dir1 (10.77.0.1), dir2 (10.77.0.2), client (10.77.0.10)");
    let mut lab = DirectorLab::build("demo", &["dir1", "dir2"], 0, false, &tandem)
        .map_err(|e| e.to_string())?;
    let vip = VIP4.parse().map_err(|e| format!("{e}"))?;
    let _responders = [
        Responder::start(&lab.directors[0].host.netns, vip, PROBE_PORT, "dir1")
            .map_err(|e| e.to_string())?,
        Responder::start(&lab.directors[1].host.netns, vip, PROBE_PORT, "dir2")
            .map_err(|e| e.to_string())?,
    ];

    step("starting tandem on both directors (VRRPv3, 10 ms adverts, dir1 priority 150, dir2 100)");
    lab.start(0, &demo_config(150)).map_err(|e| e.to_string())?;
    lab.start(1, &demo_config(100)).map_err(|e| e.to_string())?;
    lab.wait_state(0, "VI_demo", "MASTER", Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    lab.wait_state(1, "VI_demo", "BACKUP", Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    let prober = Prober::start(
        &lab.client.netns,
        SocketAddr::new(vip, PROBE_PORT),
        Duration::from_millis(2),
    )
    .map_err(|e| e.to_string())?;
    wait_for_answer(&prober, "dir1")?;
    print_states(&lab);
    println!(
        "    client -> {VIP4}:{PROBE_PORT} answered by {}",
        prober.last_answer().unwrap_or_default()
    );

    let (takeover, outage) = failover(&prober, "dir1", "dir2", || {
        step(
            "killing tandem on dir1 (SIGKILL: no goodbye, the VIP stays configured on the dead master)",
        );
        lab.signal(0, "KILL").map_err(|e| e.to_string())
    })?;
    println!(
        "    dir2 answered the client {:.1} ms after the kill (Master_Down_Interval is 30 ms);\n    the client's longest gap was {:.1} ms: dir1's stale VIP kept answering until dir2's\n    gratuitous ARP moved the client over",
        ms(takeover),
        ms(outage)
    );
    print_states(&lab);

    let (_, outage) = failover(&prober, "dir2", "dir1", || {
        step("restarting tandem on dir1: it removes the stale VIP, then preempts dir2");
        lab.restart(0).map_err(|e| e.to_string())
    })?;
    println!(
        "    dir1 is master again; the client's gap during preemption was {:.1} ms",
        ms(outage)
    );

    let (takeover, outage) = failover(&prober, "dir1", "dir2", || {
        step("stopping tandem on dir1 gracefully (SIGTERM: it advertises priority 0)");
        lab.signal(0, "TERM").map_err(|e| e.to_string())
    })?;
    println!(
        "    dir2 took over {:.1} ms after the SIGTERM; the client's gap was {:.1} ms",
        ms(takeover),
        ms(outage)
    );
    print_states(&lab);

    drop(prober);
    step("tearing the lab down");
    drop(lab);
    println!(
        "done in {:.1} s. The same topology runs in tandem's integration tests and benchmarks.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn wait_for_answer(prober: &Prober, who: &str) -> Result<(), String> {
    if tandem_testlab::wait_until(Duration::from_secs(10), Duration::from_millis(5), || {
        prober.last_answer().as_deref() == Some(who)
    }) {
        Ok(())
    } else {
        Err(format!("the client never reached the VIP through {who}"))
    }
}

/// Runs `fault` after a random delay (so it does not lock onto the advert phase), waits until
/// `to` answers the client and returns (time from the fault to `to`'s first answer, the
/// client's gap between the last answer from `from` and the first from `to`).
fn failover(
    prober: &Prober,
    from: &str,
    to: &str,
    fault: impl FnOnce() -> Result<(), String>,
) -> Result<(Duration, Duration), String> {
    let jitter = Duration::from_millis(200 + u64::from(rand_byte()) % 100);
    std::thread::sleep(jitter);
    prober.reset();
    std::thread::sleep(Duration::from_millis(20));
    let fault_at = std::time::Instant::now();
    fault()?;
    wait_for_answer(prober, to)?;
    std::thread::sleep(Duration::from_millis(20));
    let samples = prober.samples();
    let takeover = samples
        .iter()
        .find(|s| s.at >= fault_at && s.answered_by.as_deref() == Some(to))
        .map(|s| s.at.duration_since(fault_at))
        .ok_or_else(|| format!("{to} never answered"))?;
    let gap = switchover(&samples, from)
        .ok_or_else(|| format!("no switch from {from} to {to} was observed"))?;
    Ok((takeover, gap))
}

fn rand_byte() -> u8 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.subsec_nanos() >> 8) as u8)
        .unwrap_or(0)
}

fn print_states(lab: &DirectorLab) {
    for (i, d) in lab.directors.iter().enumerate() {
        let state = lab
            .state(i, "VI_demo")
            .unwrap_or_else(|| "stopped".to_string());
        let vip = if lab.has_address(i, VIP4).unwrap_or(false) {
            " (holds the VIP)"
        } else {
            ""
        };
        println!("    {:<5} {state}{vip}", d.name);
    }
}
