//! Real-kernel test suite. The development kernel has no IPVS, so on the host this test
//! boots Debian's stock kernel under qemu (`dev/ipvs-vm/run.sh`, ~16 s per boot) and re-runs
//! its own binary inside it, where the whole suite runs in one boot. Missing qemu, kernel or
//! busybox fail the test with run.sh's message; nothing is skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod cases;
mod support;

use std::process::{Command, ExitCode};

/// Set (by the host half) in the guest's environment; run.sh passes TANDEM_* through.
const IN_VM: &str = "TANDEM_IPVS_IN_VM";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("real_kernel: test");
        return ExitCode::SUCCESS;
    }
    if std::env::var_os(IN_VM).is_some() {
        return cases::run_all(&args);
    }
    let run_sh = concat!(env!("CARGO_MANIFEST_DIR"), "/../dev/ipvs-vm/run.sh");
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("real_kernel: cannot locate own binary: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = std::time::Instant::now();
    println!("real_kernel: booting the IPVS VM for {}", exe.display());
    let status = Command::new(run_sh)
        .arg(&exe)
        .args(&args)
        .env(IN_VM, "1")
        .status();
    println!(
        "real_kernel: VM run took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("real_kernel: FAILED ({s}); see the output above");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("real_kernel: cannot run {run_sh}: {e}");
            ExitCode::FAILURE
        }
    }
}
