#![allow(clippy::expect_used, clippy::unwrap_used)]
//! End to end against a real IPVS kernel: boots Debian's stock kernel under qemu once
//! (`dev/ipvs-vm/run.sh`) and runs `dev/ipvs-vm/e2e.sh` in it, which builds client, director
//! (the tandem binary built by this `cargo test`, `dataplane: ipvs`) and HTTP real servers in
//! network namespaces and checks traffic through the VIP, failure and recovery of reals
//! (remove and quiesce), drift repair, the sorry server, the sync daemon and on_shutdown.
//! A missing qemu, kernel or tool fails the test with run.sh's or the script's message.

use std::process::Command;
use std::time::Instant;

#[test]
fn tandem_programs_real_ipvs_end_to_end() {
    let root = env!("CARGO_MANIFEST_DIR");
    let run_sh = format!("{root}/dev/ipvs-vm/run.sh");
    let script = format!("{root}/dev/ipvs-vm/e2e.sh");
    let tandem = env!("CARGO_BIN_EXE_tandem");
    let started = Instant::now();
    let output = Command::new(&run_sh)
        .arg(&script)
        .arg(tandem)
        .current_dir(root)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {run_sh}: {e}"));
    let elapsed = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("ipvs_e2e: VM run took {elapsed:.1} s\n{stdout}");
    assert!(
        output.status.success() && stdout.contains("ALL PASS"),
        "IPVS end-to-end scenario failed ({}) after {elapsed:.1} s\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
}
