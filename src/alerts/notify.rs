//! Runs notify hooks: argv (never a shell), extra environment, a timeout that kills the whole
//! process group, strict order per object key, concurrency across keys, never blocking the
//! caller.
//!
//! Why one queue per key: two transitions of one real server (down, then up 50 ms later) must
//! reach the operator's script in that order, or the script leaves the server marked down. A
//! single global queue would order them too but let one slow script delay every other object;
//! per-key queues give both properties. A key's worker task exists only while it has work, so
//! thousands of real servers cost nothing when idle.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

/// One command to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyJob {
    /// Program and arguments; the program is looked up on `PATH` when it has no `/`.
    pub argv: Vec<String>,
    /// Added to the daemon's environment.
    pub env: Vec<(String, String)>,
}

/// Why a job was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    #[error("empty notify command")]
    EmptyArgv,
    #[error("notify queue of {key} is full ({capacity} waiting); command dropped")]
    QueueFull { key: String, capacity: usize },
    #[error("too many objects with pending notify commands ({0}); command dropped")]
    TooManyKeys(usize),
    #[error("no tokio runtime to run notify commands on")]
    NoRuntime,
}

/// Counters of a [`NotifyRunner`] (for tests, status and metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifyStats {
    /// Commands that ran and exited 0.
    pub succeeded: u64,
    /// Commands that exited non-zero, were killed by a signal or could not start.
    pub failed: u64,
    /// Commands killed because they outlived the timeout.
    pub timed_out: u64,
    /// Commands never run because their queue was full.
    pub dropped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    succeeded: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
    dropped: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    /// Live queues by object key. Sending and a worker's decision to retire both happen under
    /// this lock, so a job is never left in a queue whose worker has gone.
    queues: Mutex<HashMap<String, mpsc::Sender<NotifyJob>>>,
    timeout: Duration,
    per_key_capacity: usize,
    max_keys: usize,
    counters: Counters,
}

/// The hook runner. Cheap to clone; all clones share the queues.
#[derive(Debug, Clone)]
pub struct NotifyRunner {
    inner: Arc<Inner>,
}

impl NotifyRunner {
    /// `timeout`: how long one command may run (then its process group is SIGKILLed).
    /// `per_key_capacity`: commands waiting per object; `max_keys`: objects with pending work.
    pub fn new(timeout: Duration, per_key_capacity: usize, max_keys: usize) -> NotifyRunner {
        NotifyRunner {
            inner: Arc::new(Inner {
                queues: Mutex::new(HashMap::new()),
                timeout,
                per_key_capacity: per_key_capacity.max(1),
                max_keys: max_keys.max(1),
                counters: Counters::default(),
            }),
        }
    }

    /// Runs `job` now and waits for it (bounded by the timeout, same process-group kill), outside
    /// the queues: for the last commands at daemon shutdown, which a queue would drop with the
    /// runtime.
    pub async fn run_now(&self, key: &str, job: NotifyJob) {
        run_one(&self.inner, key, job).await;
    }

    /// Queues `job` behind earlier jobs of `key` and returns at once. Must be called from
    /// within a tokio runtime (the worker is a task).
    pub fn submit(&self, key: &str, job: NotifyJob) -> Result<(), NotifyError> {
        if job.argv.is_empty() {
            return Err(NotifyError::EmptyArgv);
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NotifyError::NoRuntime)?;
        let result = self.enqueue(key, job, &runtime);
        if result.is_err() {
            self.inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn enqueue(
        &self,
        key: &str,
        job: NotifyJob,
        runtime: &tokio::runtime::Handle,
    ) -> Result<(), NotifyError> {
        // A poisoned lock only means a panic elsewhere while holding it; the map is still valid.
        let mut queues = self
            .inner
            .queues
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(tx) = queues.get(key) {
            return match tx.try_send(job) {
                Ok(()) => Ok(()),
                Err(mpsc::error::TrySendError::Full(_)) => Err(NotifyError::QueueFull {
                    key: key.to_string(),
                    capacity: self.inner.per_key_capacity,
                }),
                // The worker is gone without retiring (its task was cancelled at runtime
                // shutdown): nothing will run any more.
                Err(mpsc::error::TrySendError::Closed(_)) => Err(NotifyError::NoRuntime),
            };
        }
        if queues.len() >= self.inner.max_keys {
            return Err(NotifyError::TooManyKeys(self.inner.max_keys));
        }
        let (tx, rx) = mpsc::channel(self.inner.per_key_capacity);
        // Cannot fail: the channel is new and has capacity >= 1.
        let _ = tx.try_send(job);
        queues.insert(key.to_string(), tx);
        runtime.spawn(worker(self.inner.clone(), key.to_string(), rx));
        Ok(())
    }

    /// Counters since creation.
    pub fn stats(&self) -> NotifyStats {
        let c = &self.inner.counters;
        NotifyStats {
            succeeded: c.succeeded.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            timed_out: c.timed_out.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
        }
    }

    /// Objects with queued or running commands.
    pub fn busy_keys(&self) -> usize {
        self.inner
            .queues
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }
}

async fn worker(inner: Arc<Inner>, key: String, mut rx: mpsc::Receiver<NotifyJob>) {
    loop {
        let job = match rx.try_recv() {
            Ok(job) => job,
            Err(_) => {
                // Retire only if nothing arrived meanwhile: checked under the senders' lock.
                let mut queues = inner
                    .queues
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                match rx.try_recv() {
                    Ok(job) => job,
                    Err(_) => {
                        queues.remove(&key);
                        return;
                    }
                }
            }
        };
        run_one(&inner, &key, job).await;
    }
}

async fn run_one(inner: &Inner, key: &str, job: NotifyJob) {
    let counters = &inner.counters;
    let Some((program, args)) = job.argv.split_first() else {
        return;
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .envs(job.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        // systemd's notify and watchdog settings belong to the daemon: a hook that used them
        // could report readiness or feed the watchdog in its place.
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Own process group, so the timeout kills what the command started too.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(event = "notify", key, program = %program, reason = %e, "cannot start notify command");
            return;
        }
    };
    match tokio::time::timeout(inner.timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => {
            counters.succeeded.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(event = "notify", key, program = %program, "notify command done");
        }
        Ok(Ok(status)) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(event = "notify", key, program = %program, status = %status, "notify command failed");
        }
        Ok(Err(e)) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(event = "notify", key, program = %program, reason = %e, "cannot wait for notify command");
        }
        Err(_) => {
            counters.timed_out.fetch_add(1, Ordering::Relaxed);
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.kill().await;
            tracing::warn!(event = "notify", key, program = %program, timeout = ?inner.timeout, "notify command timed out and was killed");
        }
    }
}
