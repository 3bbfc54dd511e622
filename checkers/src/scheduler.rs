//! The tokio shell around [`Schedule`]: runs due probes on the runtime under a global
//! concurrency limit, feeds results back into the core, and delivers [`CheckEvent`]s on a
//! channel.
//!
//! One driver task owns the core and runs the probes concurrently inside itself (a slow server
//! never delays another check: probes are futures polled independently); callers talk to it
//! through a cloneable [`Scheduler`] handle. Removing a check aborts its running probe, which
//! cancels it (an exec probe's process group is killed).

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::FuturesUnordered;
use tokio::io::unix::{AsyncFd, AsyncFdReadyGuard};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::checker::{BuildError, CheckSpec, Checker, Outcome, ProbeResult, probe_with_timeout};
use crate::http::HttpChecker;
use crate::schedule::{
    CheckConfig, CheckEvent, CheckKey, CheckStatus, EventKind, OwnerId, Schedule, StartProbe,
};
use crate::socket_probes::{EpollFd, FastProbe, SocketDone, SocketProbes};

/// Tuning of the scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Probes running at once, across all checks; the others wait their turn (and report the wait
    /// as lateness). Bounds sockets, file descriptors and processes on the director.
    pub max_concurrency: usize,
    /// Also send an [`EventKind::Probe`] event for results that change nothing (status displays,
    /// metrics, benchmarks). Off by default. These events are delivered in batches, up to
    /// [`PROBE_EVENT_DELAY`] late (one wake-up of the consumer per batch instead of one per
    /// probe); transitions are sent at once, after any batched events, so order is kept.
    pub every_result: bool,
    /// Seed of the warmup/jitter randomness; `None` draws one.
    pub seed: Option<u64>,
    /// Run the scheduler and all its probes on a thread of its own (a single-threaded tokio
    /// runtime) instead of the caller's runtime. On by default: probes are I/O-bound and one
    /// thread runs tens of thousands per second, while a multi-threaded runtime spends more CPU
    /// waking idle worker threads for each probe than the probe costs; it also keeps a burst of
    /// checks from delaying the daemon's own tasks (VRRP adverts).
    pub own_thread: bool,
    /// Due probes are started together at most once per this window (see
    /// [`START_BATCH_WINDOW`], the default), so a probe starts up to this late.
    pub start_batch_window: Duration,
}

/// Longest delay of a batched [`EventKind::Probe`] event. These results change nothing (a
/// status display's last result, a metric), so a tenth of a second is invisible to their
/// readers; every flush wakes the consumer's runtime (a futex wake, often two worker threads),
/// which at 10 ms was 100 wake-ups a second and 15 % of the CPU of 1,000 TCP checks a second.
/// 100 ms made 1k checks 10-45 % cheaper on the host (TCP and HTTP), 10k TCP ~6 %.
pub const PROBE_EVENT_DELAY: Duration = Duration::from_millis(100);

/// Due probes are started together at most once per this window, so a probe starts up to this
/// late. At 1,000 checks per second every probe otherwise ran alone in its own wake-up, on cold
/// caches (a loopback connect cost ~1.5x what it costs in a burst); starting the probes due
/// within a few milliseconds together made 1k TCP checks ~15 % cheaper on the host, and is
/// negligible next to intervals of a second or more (keepalived's own jitter is ~10 ms).
pub const START_BATCH_WINDOW: Duration = Duration::from_millis(4);

/// Batched probe events are flushed at this many even before [`PROBE_EVENT_DELAY`] (10k checks a
/// second: a flush every ~100 ms; bounds the batch's memory to a few hundred KB).
const PROBE_EVENT_BATCH: usize = 1024;

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            max_concurrency: 1024,
            every_result: false,
            seed: None,
            own_thread: true,
            start_batch_window: START_BATCH_WINDOW,
        }
    }
}

/// A scheduler request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchedulerError {
    /// The check spec of `owner` is invalid; nothing was changed.
    #[error("check of {owner}: {source}")]
    Build {
        owner: OwnerId,
        #[source]
        source: BuildError,
    },
    /// The driver task is gone (runtime shutting down).
    #[error("the check scheduler has stopped")]
    Stopped,
    /// [`Scheduler::start`] was called outside a tokio runtime.
    #[error("the check scheduler needs a tokio runtime")]
    NoRuntime,
    /// The scheduler's own thread or runtime could not be created.
    #[error("cannot start the check scheduler thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// What a [`Scheduler::sync`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Owners whose check was added or changed.
    pub changed: Vec<OwnerId>,
    /// Owners removed.
    pub removed: Vec<OwnerId>,
    /// Owners left exactly as they were (state and timers kept).
    pub unchanged: usize,
}

enum Command {
    Upsert {
        owner: OwnerId,
        config: Box<CheckConfig>,
        reply: oneshot::Sender<Result<CheckKey, SchedulerError>>,
    },
    Remove {
        owner: OwnerId,
        reply: oneshot::Sender<bool>,
    },
    Sync {
        desired: Vec<(OwnerId, CheckConfig)>,
        reply: oneshot::Sender<Result<SyncReport, SchedulerError>>,
    },
    Status {
        owner: OwnerId,
        reply: oneshot::Sender<Option<CheckStatus>>,
    },
    Statuses {
        reply: oneshot::Sender<Vec<(OwnerId, CheckStatus)>>,
    },
}

/// Handle to a running scheduler. Cloneable; the scheduler stops (and cancels every probe) when
/// the last handle is dropped.
#[derive(Debug, Clone)]
pub struct Scheduler {
    commands: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Upsert { .. } => "Upsert",
            Command::Remove { .. } => "Remove",
            Command::Sync { .. } => "Sync",
            Command::Status { .. } => "Status",
            Command::Statuses { .. } => "Statuses",
        })
    }
}

impl Scheduler {
    /// Starts the driver on its own thread or on the current tokio runtime (see
    /// [`SchedulerOptions::own_thread`]); either way the caller must be inside a tokio runtime
    /// ([`SchedulerError::NoRuntime`] otherwise), where the handle and receiver are used. Events arrive on the returned receiver; it is unbounded so a transition is never
    /// dropped, which means the consumer must keep reading.
    pub fn start(
        options: SchedulerOptions,
    ) -> Result<(Scheduler, mpsc::UnboundedReceiver<CheckEvent>), SchedulerError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| SchedulerError::NoRuntime)?;
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (events, event_rx) = mpsc::unbounded_channel();
        let driver = Driver {
            core: Schedule::new(
                options.seed.unwrap_or_else(rand::random),
                options.every_result,
            ),
            checkers: HashMap::new(),
            shared: HashMap::new(),
            shared_pruned_at: 0,
            fast_checks: HashMap::new(),
            sockets: SocketProbes::default(),
            epoll: None,
            ready: Vec::new(),
            probes: HashMap::new(),
            in_flight: FuturesUnordered::new(),
            waiting: VecDeque::new(),
            max_concurrency: options.max_concurrency.max(1),
            start_batch_window: options.start_batch_window,
            epoch: Instant::now(),
            events,
            batched: Vec::new(),
            flush_at: None,
        };
        if options.own_thread {
            let own = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(SchedulerError::Thread)?;
            std::thread::Builder::new()
                .name("tandem-checks".into())
                .spawn(move || own.block_on(driver.run(command_rx)))
                .map_err(SchedulerError::Thread)?;
        } else {
            runtime.spawn(driver.run(command_rx));
        }
        Ok((Scheduler { commands }, event_rx))
    }

    async fn request<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, SchedulerError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .map_err(|_| SchedulerError::Stopped)?;
        answer.await.map_err(|_| SchedulerError::Stopped)
    }

    /// Sets `owner`'s check. The same config as before changes nothing; an equal config of
    /// another owner is shared; an invalid spec is refused and changes nothing.
    pub async fn upsert(
        &self,
        owner: OwnerId,
        config: CheckConfig,
    ) -> Result<CheckKey, SchedulerError> {
        self.request(|reply| Command::Upsert {
            owner,
            config: Box::new(config),
            reply,
        })
        .await?
    }

    /// Removes `owner`'s check; false when it had none.
    pub async fn remove(&self, owner: OwnerId) -> Result<bool, SchedulerError> {
        self.request(|reply| Command::Remove { owner, reply }).await
    }

    /// Makes the set of checks exactly `desired` (a config reload): owners absent from it are
    /// removed, new or changed ones (re)started, identical ones left running untouched. All
    /// specs are validated first: if one is invalid, nothing changes.
    pub async fn sync(
        &self,
        desired: Vec<(OwnerId, CheckConfig)>,
    ) -> Result<SyncReport, SchedulerError> {
        self.request(|reply| Command::Sync { desired, reply })
            .await?
    }

    /// Status of `owner`'s check.
    pub async fn status(&self, owner: OwnerId) -> Result<Option<CheckStatus>, SchedulerError> {
        self.request(|reply| Command::Status { owner, reply }).await
    }

    /// Status of every owner.
    pub async fn statuses(&self) -> Result<Vec<(OwnerId, CheckStatus)>, SchedulerError> {
        self.request(|reply| Command::Statuses { reply }).await
    }
}

/// A finished probe.
#[derive(Debug)]
struct Done {
    key: CheckKey,
    result: ProbeResult,
    started: Instant,
    due: Duration,
}

impl From<SocketDone> for Done {
    fn from(done: SocketDone) -> Self {
        Done {
            key: done.key,
            result: done.result,
            started: done.started,
            due: done.due,
        }
    }
}

/// Waits until the fast path's epoll set has sockets ready.
async fn sockets_ready(epoll: Option<&AsyncFd<EpollFd>>) -> Option<AsyncFdReadyGuard<'_, EpollFd>> {
    match epoll {
        Some(epoll) => epoll.readable().await.ok(),
        None => std::future::pending().await,
    }
}

/// A probe running inside the driver task; `Err` when it was aborted (its check was removed).
type InFlight = Abortable<Pin<Box<dyn Future<Output = Done> + Send>>>;

/// The driver runs every probe inside its own task (a `FuturesUnordered`), not one spawned
/// task per probe: at thousands of probes per second, spawning woke an idle worker thread and
/// every result crossed back over a channel, two thread wake-ups (futex calls and context
/// switches) per probe that cost more CPU than the probe's own user-space work. Probes are
/// I/O-bound; the CPU-heavy part of a check (TLS, body regex) is per result and small.
struct Driver {
    core: Schedule,
    /// The built checker of every running check.
    checkers: HashMap<CheckKey, Arc<dyn Checker>>,
    /// Built checkers by spec, shared by every check with an equal spec: a checker takes its
    /// target per probe, so 10,000 real servers with one HTTP check share one compiled regex
    /// and rendered request. Weak: a checker goes with its last check; dead entries are pruned
    /// whenever the map has doubled since the last prune.
    shared: HashMap<CheckSpec, Weak<dyn Checker>>,
    shared_pruned_at: usize,
    /// The TCP and plain HTTP checks, which run on the fast path ([`crate::socket_probes`])
    /// instead of through their checker's future, with their source address.
    fast_checks: HashMap<CheckKey, (FastProbe, Option<IpAddr>)>,
    sockets: SocketProbes,
    /// The fast path's epoll set (`None`: it could not be created, every check runs through
    /// its checker).
    epoll: Option<Arc<AsyncFd<EpollFd>>>,
    /// Probes that finished as they started (fast path), not yet fed to the core.
    ready: Vec<Done>,
    /// Abort handles of the probes in flight, by check (a check has at most one).
    probes: HashMap<CheckKey, AbortHandle>,
    in_flight: FuturesUnordered<InFlight>,
    /// Due probes beyond the concurrency limit, in due order.
    waiting: VecDeque<StartProbe>,
    max_concurrency: usize,
    start_batch_window: Duration,
    epoch: Instant,
    events: mpsc::UnboundedSender<CheckEvent>,
    /// [`EventKind::Probe`] events not sent yet, and when they must be.
    batched: Vec<CheckEvent>,
    flush_at: Option<Instant>,
}

impl Driver {
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        // One timer for the whole schedule, re-armed only when the earliest due time moves
        // (a new sleep per loop turn would register and cancel a timer each time).
        let timer = tokio::time::sleep_until(self.epoch);
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        self.epoll = match EpollFd::new() {
            Ok(epoll) => Some(Arc::new(epoll)),
            Err(e) => {
                warn!(error = %e, "no epoll set for TCP checks, they run through tokio");
                None
            }
        };
        let mut finished = Vec::new();
        let mut batch_opens = self.epoch;
        loop {
            if self.sockets.running() > 0 {
                self.sockets.expire(Instant::now(), &mut finished);
                for done in finished.drain(..) {
                    self.finish(done.into());
                }
            }
            let now = self.now();
            if self
                .core
                .next_deadline()
                .is_some_and(|due| due <= now && self.epoch + now >= batch_opens)
            {
                batch_opens = self.epoch + now + self.start_batch_window;
                for start in self.core.take_due(now) {
                    self.start_or_queue(start);
                }
            }
            while let Some(done) = self.ready.pop() {
                self.finish(done);
            }
            // The next batch starts at the earliest due time, but not inside the window.
            let due = self
                .core
                .next_deadline()
                .map(|due| (self.epoch + due).max(batch_opens));
            let deadline = [due, self.flush_at, self.sockets.next_deadline()]
                .into_iter()
                .flatten()
                .min();
            if deadline != armed {
                if let Some(deadline) = deadline {
                    timer.as_mut().reset(deadline);
                }
                armed = deadline;
            }
            let epoll = self.epoll.clone();
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.handle(command),
                    None => break,
                },
                Some(done) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    if let Ok(done) = done {
                        self.finish(done);
                    }
                }
                Some(mut guard) = sockets_ready(epoll.as_deref()), if self.sockets.running() > 0 => {
                    if self.sockets.harvest(guard.get_inner(), &mut finished) {
                        guard.clear_ready();
                    }
                    drop(guard);
                    for done in finished.drain(..) {
                        self.finish(done.into());
                    }
                }
                () = &mut timer, if armed.is_some() => {
                    armed = None;
                    if self.flush_at.is_some_and(|at| at <= Instant::now()) {
                        self.flush();
                    }
                }
            }
        }
        self.flush();
        for probe in self.probes.values() {
            probe.abort();
        }
        debug!("check scheduler stopped");
    }

    fn running(&self) -> usize {
        self.in_flight.len() + self.sockets.running()
    }

    fn start_or_queue(&mut self, start: StartProbe) {
        if self.running() < self.max_concurrency {
            self.start_probe(start);
        } else {
            self.waiting.push_back(start);
        }
    }

    fn start_probe(&mut self, start: StartProbe) {
        if let (Some((probe, source)), Some(epoll)) =
            (self.fast_checks.get(&start.key), &self.epoll)
        {
            let due = start.due;
            let started = self
                .sockets
                .start(epoll.get_ref(), start, probe, *source, due);
            if let Some(done) = started {
                self.ready.push(done.into());
            }
            return;
        }
        let Some(checker) = self.checkers.get(&start.key) else {
            return; // removed while it waited for a slot
        };
        let checker = Arc::clone(checker);
        let probe: Pin<Box<dyn Future<Output = Done> + Send>> = Box::pin(async move {
            let started = Instant::now();
            let result = probe_with_timeout(&*checker, start.target, start.timeout).await;
            Done {
                key: start.key,
                result,
                started,
                due: start.due,
            }
        });
        let (abort, registration) = AbortHandle::new_pair();
        self.probes.insert(start.key, abort);
        self.in_flight.push(Abortable::new(probe, registration));
    }

    fn finish(&mut self, done: Done) {
        self.probes.remove(&done.key);
        while self.running() < self.max_concurrency
            && let Some(start) = self.waiting.pop_front()
        {
            self.start_probe(start);
        }
        let due_at = self.epoch + done.due;
        let lateness = done.started.saturating_duration_since(due_at);
        let now = self.now();
        let events = self.core.complete(done.key, done.result, lateness, now);
        for event in events {
            if event.kind == EventKind::Probe {
                if self.batched.is_empty() {
                    self.flush_at = Some(Instant::now() + PROBE_EVENT_DELAY);
                }
                self.batched.push(event);
                if self.batched.len() >= PROBE_EVENT_BATCH {
                    self.flush();
                }
            } else {
                log_event(&event);
                self.flush();
                self.send(event);
            }
        }
    }

    fn flush(&mut self) {
        self.flush_at = None;
        for event in self.batched.drain(..) {
            let _ = self.events.send(event);
        }
    }

    fn send(&self, event: CheckEvent) {
        // A dropped receiver means nobody listens any more; the checks keep running for status
        // queries.
        let _ = self.events.send(event);
    }

    fn build(
        &self,
        owner: &OwnerId,
        config: &CheckConfig,
    ) -> Result<Option<Arc<dyn Checker>>, SchedulerError> {
        if !self.core.would_create(config) {
            return Ok(None);
        }
        if let Some(checker) = self.shared.get(&config.spec).and_then(Weak::upgrade) {
            return Ok(Some(checker));
        }
        config
            .spec
            .build()
            .map(Some)
            .map_err(|source| SchedulerError::Build {
                owner: owner.clone(),
                source,
            })
    }

    /// Offers `checker` (built for `spec`) for sharing.
    fn share(&mut self, spec: &CheckSpec, checker: &Arc<dyn Checker>) {
        if self.shared.get(spec).and_then(Weak::upgrade).is_some() {
            return;
        }
        self.shared.insert(spec.clone(), Arc::downgrade(checker));
        if self.shared.len() > 2 * self.shared_pruned_at.max(64) {
            self.shared.retain(|_, checker| checker.strong_count() > 0);
            self.shared_pruned_at = self.shared.len();
        }
    }

    /// Applies an upsert whose checker (when new) is already built.
    fn apply(
        &mut self,
        owner: OwnerId,
        config: CheckConfig,
        checker: Option<Arc<dyn Checker>>,
    ) -> Result<CheckKey, SchedulerError> {
        // The core creates a check exactly when `would_create` says so; build here if the caller
        // had no checker ready, so a created check always has one (else it would never run).
        let checker = match checker {
            Some(checker) => Some(checker),
            None => self.build(&owner, &config)?,
        };
        let now = self.now();
        let fast = checker
            .as_ref()
            .and_then(|checker| fast_probe(&config.spec, checker));
        let spec = checker.as_ref().map(|_| config.spec.clone());
        let upserted = self.core.upsert(owner, config, now);
        if upserted.created
            && let Some(checker) = checker
        {
            if let Some(spec) = spec {
                self.share(&spec, &checker);
            }
            self.checkers.insert(upserted.key, checker);
            if let Some(fast) = fast {
                self.fast_checks.insert(upserted.key, fast);
            }
        }
        if let Some(dropped) = upserted.dropped {
            self.drop_check(dropped);
        }
        if !upserted.events.is_empty() {
            self.flush();
        }
        for event in upserted.events {
            self.send(event);
        }
        Ok(upserted.key)
    }

    fn drop_check(&mut self, key: CheckKey) {
        self.checkers.remove(&key);
        self.fast_checks.remove(&key);
        self.sockets.cancel(key);
        self.ready.retain(|done| done.key != key);
        if let Some(probe) = self.probes.remove(&key) {
            probe.abort();
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Upsert {
                owner,
                config,
                reply,
            } => {
                let result = self
                    .build(&owner, &config)
                    .and_then(|checker| self.apply(owner, *config, checker));
                let _ = reply.send(result);
            }
            Command::Remove { owner, reply } => {
                let existed = self.core.key_of(&owner).is_some();
                if let Some(dropped) = self.core.remove(&owner) {
                    self.drop_check(dropped);
                }
                let _ = reply.send(existed);
            }
            Command::Sync { desired, reply } => {
                let _ = reply.send(self.sync(desired));
            }
            Command::Status { owner, reply } => {
                let _ = reply.send(self.core.status(&owner));
            }
            Command::Statuses { reply } => {
                let _ = reply.send(self.core.statuses());
            }
        }
    }

    fn sync(&mut self, desired: Vec<(OwnerId, CheckConfig)>) -> Result<SyncReport, SchedulerError> {
        // Build every new checker before touching anything: a bad spec leaves the running set
        // exactly as it was. Checkers are per spec (shared by every target), so a spec is
        // built once; keying by spec, not by config, also keeps this transient map small (a
        // copy of 10k configs raised the heap's high-water mark by megabytes).
        let mut built: HashMap<CheckSpec, Arc<dyn Checker>> = HashMap::new();
        for (owner, config) in &desired {
            if built.contains_key(&config.spec) {
                continue;
            }
            if let Some(checker) = self.build(owner, config)? {
                built.insert(config.spec.clone(), checker);
            }
        }
        // Owners that are not desired any more; collected before applying (applying only adds
        // or changes desired owners), and only them, not a status of every owner.
        let stale: Vec<OwnerId> = {
            let wanted: HashSet<&OwnerId> = desired.iter().map(|(owner, _)| owner).collect();
            self.core
                .owner_ids()
                .filter(|owner| !wanted.contains(owner))
                .cloned()
                .collect()
        };
        let mut report = SyncReport::default();
        // Desired owners first, stale ones after: a stale owner's check that a desired owner now
        // shares must be joined before the stale owner leaves, or it would be dropped and
        // restarted.
        for (owner, config) in desired {
            let before = self.core.key_of(&owner);
            let checker = built.get(&config.spec).cloned();
            let key = self.apply(owner.clone(), config, checker)?;
            if before == Some(key) {
                report.unchanged += 1;
            } else {
                report.changed.push(owner);
            }
        }
        for owner in stale {
            if let Some(dropped) = self.core.remove(&owner) {
                self.drop_check(dropped);
            }
            report.removed.push(owner);
        }
        Ok(report)
    }
}

/// The fast-path probe of a check of `spec` built as `checker`: TCP and plain HTTP (HTTPS and
/// the other kinds run through their checker's future).
fn fast_probe(spec: &CheckSpec, checker: &Arc<dyn Checker>) -> Option<(FastProbe, Option<IpAddr>)> {
    match spec {
        CheckSpec::Tcp(spec) => Some((FastProbe::Tcp, spec.source)),
        CheckSpec::Http(spec) if !spec.tls => {
            let any: Arc<dyn std::any::Any + Send + Sync> = Arc::<dyn Checker>::clone(checker);
            let http = any.downcast::<HttpChecker>().ok()?;
            Some((FastProbe::Http(http), spec.source))
        }
        _ => None,
    }
}

fn log_event(event: &CheckEvent) {
    let latency_ms = event.result.latency.as_secs_f64() * 1000.0;
    match (&event.kind, &event.result.outcome) {
        (EventKind::Health(health), Outcome::Down(failure)) => warn!(
            owner = %event.owner,
            real = %event.target,
            health = ?health,
            reason = %failure.reason,
            detail = %failure.detail,
            latency_ms,
            "real server check changed state"
        ),
        (EventKind::Health(health), _) => info!(
            owner = %event.owner,
            real = %event.target,
            health = ?health,
            latency_ms,
            "real server check changed state"
        ),
        (EventKind::Weight(weight), _) => info!(
            owner = %event.owner,
            real = %event.target,
            weight,
            latency_ms,
            "real server reported a new weight"
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::{CheckSpec, Target};
    use crate::exec::ExecSpec;
    use crate::schedule::CheckTiming;
    use crate::state::{Health, RiseFall};
    use crate::tcp::TcpSpec;

    fn config(spec: CheckSpec, port: u16) -> CheckConfig {
        CheckConfig {
            spec,
            target: Target::new(([127, 0, 0, 1], port).into()),
            timing: CheckTiming {
                interval: Duration::from_millis(200),
                timeout: Duration::from_millis(500),
                ..CheckTiming::default()
            },
            rise_fall: RiseFall::default(),
        }
    }

    #[test]
    fn starting_outside_a_runtime_is_an_error_not_a_panic() {
        assert!(matches!(
            Scheduler::start(SchedulerOptions::default()),
            Err(SchedulerError::NoRuntime)
        ));
    }

    #[tokio::test]
    async fn a_sync_with_an_invalid_spec_changes_nothing() -> Result<(), SchedulerError> {
        let (scheduler, _events) = Scheduler::start(SchedulerOptions::default())?;
        let tcp = config(CheckSpec::Tcp(TcpSpec::default()), 9);
        scheduler.upsert("a".into(), tcp.clone()).await?;
        let bad = config(CheckSpec::Exec(ExecSpec::default()), 9);
        let err = scheduler
            .sync(vec![("b".into(), bad)])
            .await
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("argv")));
        let statuses = scheduler.statuses().await?;
        assert_eq!(statuses.len(), 1);
        assert_eq!(statuses[0].0, OwnerId::from("a"));
        let report = scheduler.sync(vec![("a".into(), tcp)]).await?;
        assert_eq!(report.unchanged, 1);
        assert!(report.changed.is_empty() && report.removed.is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn a_check_handed_from_a_removed_owner_to_a_new_one_keeps_running()
    -> Result<(), SchedulerError> {
        let (scheduler, _events) = Scheduler::start(SchedulerOptions::default())?;
        let tcp = config(CheckSpec::Tcp(TcpSpec::default()), 9);
        let key = scheduler.upsert("old".into(), tcp.clone()).await?;
        let report = scheduler.sync(vec![("new".into(), tcp)]).await?;
        assert_eq!(report.changed, vec![OwnerId::from("new")]);
        assert_eq!(report.removed, vec![OwnerId::from("old")]);
        let status = scheduler.status("new".into()).await?;
        assert_eq!(status.map(|s| (s.key, s.owners)), Some((key, 1)));
        // It still probes: wait (bounded) for its probe counter to move.
        let mut probes = 0;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            probes = scheduler
                .status("new".into())
                .await?
                .map_or(0, |s| s.probes);
            if probes >= 2 {
                break;
            }
        }
        assert!(probes >= 2, "the handed-over check stopped probing");
        Ok(())
    }

    /// The concurrency limit bounds probes in flight: with 2 slots, 6 probes of 400 ms each need
    /// three waves, so some probe starts at least two probe durations after it was due. (A lower
    /// bound the limit guarantees, not a speed expectation: a slow machine only raises it.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn probes_beyond_the_concurrency_limit_wait_their_turn() -> Result<(), SchedulerError> {
        let (scheduler, mut events) = Scheduler::start(SchedulerOptions {
            max_concurrency: 2,
            every_result: true,
            seed: Some(3),
            ..SchedulerOptions::default()
        })?;
        for port in 0..6u16 {
            let sleep = CheckSpec::Exec(ExecSpec {
                argv: vec!["sleep".into(), "0.4".into()],
                ..ExecSpec::default()
            });
            let mut cfg = config(sleep, 1000 + port);
            cfg.timing.interval = Duration::from_secs(60);
            cfg.timing.timeout = Duration::from_secs(10);
            scheduler.upsert(OwnerId(format!("o{port}")), cfg).await?;
        }
        let mut lateness = Vec::new();
        while lateness.len() < 6 {
            let event = tokio::time::timeout(Duration::from_secs(20), events.recv()).await;
            let event = event
                .ok()
                .flatten()
                .unwrap_or_else(|| panic!("missing probe results"));
            assert!(event.result.outcome.is_up(), "{event:?}");
            lateness.push(event.lateness);
        }
        lateness.sort();
        assert!(lateness[5] >= Duration::from_millis(790), "{lateness:?}");
        Ok(())
    }

    #[tokio::test]
    async fn a_closed_port_on_loopback_goes_down_and_reports_refused() -> Result<(), SchedulerError>
    {
        let (scheduler, mut events) = Scheduler::start(SchedulerOptions::default())?;
        // Bind then drop a listener: the port is free and refuses connections.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(9);
        let mut cfg = config(CheckSpec::Tcp(TcpSpec::default()), port);
        cfg.rise_fall.initial = Health::Up;
        scheduler.upsert("a".into(), cfg).await?;
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv()).await;
        let event = event.ok().flatten().unwrap_or_else(|| panic!("no event"));
        assert_eq!(event.kind, EventKind::Health(Health::Down));
        assert!(matches!(
            event.result.outcome,
            Outcome::Down(crate::checker::Failure {
                reason: crate::checker::DownReason::Refused,
                ..
            })
        ));
        Ok(())
    }
}
