//! Notify commands: argv (no shell), environment variables describing the event, a timeout,
//! and strict ordering per object (one queue per key: an instance's MASTER script never runs
//! after its later BACKUP script). Different objects run concurrently. The caller never waits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

/// Jobs queued per key before new ones are dropped (and counted): a hung script must not make
/// the daemon buffer without bound.
const QUEUE_PER_KEY: usize = 64;

#[derive(Debug)]
struct Job {
    argv: Vec<String>,
    env: Vec<(String, String)>,
}

/// Runs notify commands. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Notifier {
    timeout: Duration,
    queues: Arc<Mutex<HashMap<String, mpsc::Sender<Job>>>>,
    dropped: Arc<std::sync::atomic::AtomicU64>,
}

impl Notifier {
    pub fn new(timeout: Duration) -> Self {
        Notifier {
            timeout,
            queues: Arc::default(),
            dropped: Arc::default(),
        }
    }

    /// Commands dropped because their key's queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Queues `argv` to run after every earlier command of the same `key`. Must be called
    /// within a tokio runtime.
    pub fn run(&self, key: String, argv: Vec<String>, env: Vec<(String, String)>) {
        if argv.is_empty() {
            return;
        }
        let Ok(mut queues) = self.queues.lock() else {
            return;
        };
        let sender = queues.entry(key.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(QUEUE_PER_KEY);
            tokio::spawn(worker(key.clone(), rx, self.timeout));
            tx
        });
        if sender.try_send(Job { argv, env }).is_err() {
            self.dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(key = %key, "notify queue full; command dropped");
        }
    }
}

async fn worker(key: String, mut jobs: mpsc::Receiver<Job>, timeout: Duration) {
    while let Some(job) = jobs.recv().await {
        run_one(&key, job, timeout).await;
    }
}

async fn run_one(key: &str, job: Job, timeout: Duration) {
    let Some((program, args)) = job.argv.split_first() else {
        return;
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .envs(job.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .process_group(0);
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(key = %key, program = %program, error = %e, "cannot start notify command");
            return;
        }
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => {
            tracing::debug!(key = %key, program = %program, "notify command finished");
        }
        Ok(Ok(status)) => {
            tracing::warn!(key = %key, program = %program, status = %status, "notify command failed");
        }
        Ok(Err(e)) => {
            tracing::warn!(key = %key, program = %program, error = %e, "notify command wait failed")
        }
        Err(_) => {
            // Kill the whole process group: a script's children must not outlive it.
            if let Some(pid) = child.id() {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.kill().await;
            tracing::warn!(key = %key, program = %program, timeout = ?timeout, "notify command timed out and was killed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn commands_of_one_key_run_in_order_and_timeouts_kill() {
        let dir = std::env::temp_dir().join(format!("tandem-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let log = dir.join("order.log");
        let notifier = Notifier::new(Duration::from_millis(500));
        // The first command is slow: a runner that did not serialize would log "2" first.
        for (i, delay) in [(1, "0.2"), (2, "0")] {
            notifier.run(
                "vrrp:VI_1".into(),
                vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    format!(
                        "sleep {delay}; echo ${{TANDEM_STATE}}{i} >> {}",
                        log.display()
                    ),
                ],
                vec![("TANDEM_STATE".into(), "MASTER".into())],
            );
        }
        // A hung command is killed at the timeout and the next one of its key still runs.
        let after = dir.join("after.log");
        notifier.run(
            "vrrp:VI_2".into(),
            vec!["/bin/sleep".into(), "30".into()],
            vec![],
        );
        notifier.run(
            "vrrp:VI_2".into(),
            vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("echo ran > {}", after.display()),
            ],
            vec![],
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.lines().count() == 2 {
                assert_eq!(text, "MASTER1\nMASTER2\n");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "notify commands did not run: {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
