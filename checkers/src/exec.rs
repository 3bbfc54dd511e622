//! Exec check (keepalived `MISC_CHECK`): run a program, its exit status is the verdict.
//!
//! * argv is executed directly, never through a shell, so target addresses cannot inject
//!   commands.
//! * The program runs in its own process group; when the probe is cancelled (timeout, check
//!   removed) the whole group gets SIGKILL, so a script's children do not outlive it.
//! * The target is passed in the environment, added to the inherited one:
//!   `TANDEM_REAL_ADDRESS` (IP), `TANDEM_REAL_PORT`, `TANDEM_REAL` (`ip:port`, IPv6 in
//!   brackets) and `TANDEM_REAL_FAMILY` (`inet` / `inet6`).
//! * Verdict: exit 0 is up, anything else (or death by a signal) is down. With
//!   [`DynamicWeight::ExitCode`] keepalived's `misc_dynamic` rule applies: 0 = up with the
//!   configured weight, 1 = down, 2..=255 = up with weight `code - 2`. With
//!   [`DynamicWeight::Stdout`] exit 0 is up and the first word of stdout (a non-negative integer)
//!   is the weight.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::checker::{BuildError, Checker, DownReason, Failure, ProbeFuture, Target, Up, timed};

/// How an exec check reports a weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DynamicWeight {
    /// keepalived `misc_dynamic`: exit 2..=255 means up with weight `code - 2`.
    ExitCode,
    /// Exit 0 and the first word of stdout is the weight.
    Stdout,
}

/// Parameters of an exec check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ExecSpec {
    /// Program and arguments; `argv[0]` is looked up on PATH when it has no slash.
    pub argv: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    pub dynamic_weight: Option<DynamicWeight>,
}

impl ExecSpec {
    pub(crate) fn build(&self) -> Result<ExecChecker, BuildError> {
        match self.argv.first() {
            Some(program) if !program.is_empty() => Ok(ExecChecker { spec: self.clone() }),
            _ => Err(BuildError::Invalid {
                field: "argv",
                message: "the program to run is missing".into(),
            }),
        }
    }
}

/// Ready exec check.
#[derive(Debug)]
pub struct ExecChecker {
    spec: ExecSpec,
}

/// stdout is read up to this many bytes (a weight is a few digits).
const MAX_STDOUT: u64 = 4096;

/// Kills the probe's process group when the probe is dropped before the program was reaped.
struct GroupGuard {
    pgid: Option<Pid>,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            // ESRCH (group already gone) is the expected race and needs no handling.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

impl ExecChecker {
    pub fn new(spec: &ExecSpec) -> Result<Self, BuildError> {
        spec.build()
    }

    async fn run(&self, target: Target) -> Result<Up, Failure> {
        let (program, args) = self
            .spec
            .argv
            .split_first()
            .ok_or_else(|| Failure::new(DownReason::Spawn, "empty argv"))?;
        let ip = target.addr.ip();
        let mut command = Command::new(program);
        command
            .args(args)
            .env("TANDEM_REAL_ADDRESS", ip.to_string())
            .env("TANDEM_REAL_PORT", target.addr.port().to_string())
            .env("TANDEM_REAL", target.addr.to_string())
            .env(
                "TANDEM_REAL_FAMILY",
                if ip.is_ipv4() { "inet" } else { "inet6" },
            )
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            // A service manager's notify socket and watchdog belong to the daemon that runs the
            // checks: a check script using them could report readiness or feed the watchdog.
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .stdout(if self.spec.dynamic_weight == Some(DynamicWeight::Stdout) {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| Failure::new(DownReason::Spawn, format!("{program}: {e}")))?;
        // Declared after `child` so it drops first: the group dies, then tokio reaps the child.
        let mut guard = GroupGuard {
            pgid: child
                .id()
                .and_then(|id| i32::try_from(id).ok())
                .map(Pid::from_raw),
        };
        let stdout = child.stdout.take();
        let read_stdout = async move {
            let mut text = Vec::new();
            if let Some(out) = stdout {
                // A read error only loses the weight text; the exit status still decides.
                let _ = out.take(MAX_STDOUT).read_to_end(&mut text).await;
            }
            text
        };
        let (status, stdout) = tokio::join!(child.wait(), read_stdout);
        let status = status.map_err(|e| Failure::from_io("wait", &e))?;
        guard.pgid = None;
        let Some(code) = status.code() else {
            let signal = status.signal().unwrap_or(0);
            return Err(Failure::new(
                DownReason::Signal(signal),
                format!("{program} killed by signal {signal}"),
            ));
        };
        verdict(self.spec.dynamic_weight, code, &stdout, program)
    }
}

/// Maps an exit code (and stdout) to a verdict; see the module docs.
fn verdict(
    mode: Option<DynamicWeight>,
    code: i32,
    stdout: &[u8],
    program: &str,
) -> Result<Up, Failure> {
    let failed = || {
        Failure::new(
            DownReason::ExitCode(code),
            format!("{program} exited with {code}"),
        )
    };
    match (mode, code) {
        (_, 0) if mode != Some(DynamicWeight::Stdout) => Ok(Up::default()),
        (Some(DynamicWeight::ExitCode), 2..=255) => Ok(Up {
            weight: u32::try_from(code - 2).ok(),
        }),
        (Some(DynamicWeight::Stdout), 0) => {
            let text = String::from_utf8_lossy(stdout);
            let word = text.split_whitespace().next().unwrap_or("");
            word.parse::<u32>()
                .map(|w| Up { weight: Some(w) })
                .map_err(|_| {
                    Failure::new(
                        DownReason::Protocol,
                        format!("{program} printed {word:?}, expected a weight"),
                    )
                })
        }
        _ => Err(failed()),
    }
}

impl Checker for ExecChecker {
    fn probe(&self, target: Target) -> ProbeFuture<'_> {
        timed(self.run(target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weight(
        mode: Option<DynamicWeight>,
        code: i32,
        out: &[u8],
    ) -> Result<Option<u32>, DownReason> {
        verdict(mode, code, out, "t")
            .map(|up| up.weight)
            .map_err(|f| f.reason)
    }

    #[test]
    fn keepalived_misc_dynamic_exit_codes() {
        let dynamic = Some(DynamicWeight::ExitCode);
        assert_eq!(weight(dynamic, 0, b""), Ok(None));
        assert_eq!(weight(dynamic, 1, b""), Err(DownReason::ExitCode(1)));
        assert_eq!(weight(dynamic, 2, b""), Ok(Some(0)));
        assert_eq!(weight(dynamic, 255, b""), Ok(Some(253)));
    }

    #[test]
    fn static_mode_treats_any_nonzero_as_down() {
        assert_eq!(weight(None, 0, b""), Ok(None));
        assert_eq!(weight(None, 7, b""), Err(DownReason::ExitCode(7)));
    }

    #[test]
    fn stdout_mode_reads_the_first_word() {
        let mode = Some(DynamicWeight::Stdout);
        assert_eq!(weight(mode, 0, b" 42\nrest"), Ok(Some(42)));
        assert_eq!(weight(mode, 0, b"heavy"), Err(DownReason::Protocol));
        assert_eq!(weight(mode, 3, b"42"), Err(DownReason::ExitCode(3)));
    }
}
