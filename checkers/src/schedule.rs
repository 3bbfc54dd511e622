//! Sans-IO core of the scheduler: which check runs when, retries, rise/fall, sharing of
//! identical checks between owners, and the events each result produces.
//!
//! Time is a [`Duration`] since an epoch chosen by the caller; randomness (warmup, jitter) comes
//! from a seedable RNG. The tokio shell in [`crate::scheduler`] only runs probes and sleeps
//! until [`Schedule::next_deadline`].

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::checker::{CheckSpec, ProbeResult, Target};
use crate::state::{Health, HealthTracker, RiseFall};

/// Who asked for a check: the daemon's name for it (e.g. `web/10.0.0.5:80/0`). Several owners
/// may ask for the same check; each receives its own events.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OwnerId(pub String);

impl fmt::Display for OwnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for OwnerId {
    fn from(s: &str) -> Self {
        OwnerId(s.to_string())
    }
}

/// When a check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CheckTiming {
    /// Time between the scheduled starts of two probes (keepalived `delay_loop`).
    pub interval: Duration,
    /// Bound of one probe (keepalived `connect_timeout`).
    pub timeout: Duration,
    /// Extra attempts after a failure before it counts toward `fall` (keepalived `retry`).
    pub retries: u32,
    /// Pause before each retry (keepalived `delay_before_retry`).
    pub retry_delay: Duration,
    /// The first probe starts after a random delay in `[0, warmup]` (keepalived `warmup`), so a
    /// restart does not fire every check at once.
    pub warmup: Duration,
    /// Each later probe starts up to this much (random) after its interval, spreading checks that
    /// were registered together.
    pub jitter: Duration,
}

impl Default for CheckTiming {
    fn default() -> Self {
        CheckTiming {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(3),
            retries: 0,
            retry_delay: Duration::from_secs(1),
            warmup: Duration::ZERO,
            jitter: Duration::ZERO,
        }
    }
}

/// Everything that defines one running check. Two owners registering equal configs share one
/// check: one probe, one rise/fall state, results fanned out to both. A config differing in
/// anything (timing included) is a separate check.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CheckConfig {
    pub spec: CheckSpec,
    pub target: Target,
    pub timing: CheckTiming,
    pub rise_fall: RiseFall,
}

/// Identity of a running (possibly shared) check. Never reused, so a late result of a removed
/// check cannot be credited to a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckKey(pub u64);

/// What an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// The owner's health changed (or, for an owner joining a shared check that already has
    /// results, the current health).
    Health(Health),
    /// The dynamic weight reported by the check changed.
    Weight(u32),
    /// A probe finished without changing anything (only when every result is requested).
    Probe,
}

/// An event for one owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckEvent {
    pub owner: OwnerId,
    pub target: Target,
    pub kind: EventKind,
    /// Health after this result.
    pub health: Health,
    /// Result that caused the event.
    pub result: ProbeResult,
    /// How late the probe started compared with its schedule (queueing for the concurrency
    /// limit, a busy runtime).
    pub lateness: Duration,
}

/// Status of one owner's check, for `tandem status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckStatus {
    pub key: CheckKey,
    pub target: Target,
    pub kind: &'static str,
    pub health: Health,
    /// False until the first counted result: `health` is still the configured initial state.
    pub observed: bool,
    /// Consecutive results pointing away from `health`.
    pub streak: u32,
    pub last: Option<ProbeResult>,
    pub weight: Option<u32>,
    /// Owners sharing this check.
    pub owners: usize,
    /// Probes run so far (retries included).
    pub probes: u64,
}

/// A probe the shell must start now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartProbe {
    pub key: CheckKey,
    pub target: Target,
    pub timeout: Duration,
    /// When it was due (for lateness).
    pub due: Duration,
}

/// What [`Schedule::upsert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    /// Check now serving the owner.
    pub key: CheckKey,
    /// True when `key` is a new check: the shell must build its checker.
    pub created: bool,
    /// Check left without owners by this change: the shell drops its checker and cancels its
    /// probe.
    pub dropped: Option<CheckKey>,
    /// Immediate events (an owner joining a shared check that already has a state).
    pub events: Vec<CheckEvent>,
}

#[derive(Debug)]
struct Entry {
    config: CheckConfig,
    /// Sorted, no duplicates. A sorted `Vec`, not a `BTreeSet`: almost every check has one
    /// owner, and a B-tree leaf for one element costs ~300 bytes per check.
    owners: Vec<OwnerId>,
    tracker: HealthTracker,
    /// Next start while idle; `None` while a probe runs.
    due: Option<Duration>,
    /// Start the running probe was due at (base of the next interval).
    running_due: Duration,
    /// Retries used for the current failure.
    attempt: u32,
    last: Option<ProbeResult>,
    weight: Option<u32>,
    probes: u64,
}

/// The scheduling core.
#[derive(Debug)]
pub struct Schedule {
    entries: HashMap<CheckKey, Entry>,
    by_config: HashMap<CheckConfig, CheckKey>,
    owners: HashMap<OwnerId, CheckKey>,
    queue: BTreeSet<(Duration, CheckKey)>,
    next_key: u64,
    rng: StdRng,
    every_result: bool,
}

impl Schedule {
    /// A core whose random delays come from `seed` (fixed in tests, random in production).
    /// `every_result` adds a [`EventKind::Probe`] event for results that change nothing.
    pub fn new(seed: u64, every_result: bool) -> Self {
        Schedule {
            entries: HashMap::new(),
            by_config: HashMap::new(),
            owners: HashMap::new(),
            queue: BTreeSet::new(),
            next_key: 0,
            rng: StdRng::seed_from_u64(seed),
            every_result,
        }
    }

    /// Number of distinct running checks (shared ones count once).
    pub fn check_count(&self) -> usize {
        self.entries.len()
    }

    /// Number of owners.
    pub fn owner_count(&self) -> usize {
        self.owners.len()
    }

    /// The check serving `owner`, if any.
    pub fn key_of(&self, owner: &OwnerId) -> Option<CheckKey> {
        self.owners.get(owner).copied()
    }

    /// True when `config` is not yet running (the shell builds a checker only then).
    pub fn would_create(&self, config: &CheckConfig) -> bool {
        !self.by_config.contains_key(config)
    }

    /// The config of a running check.
    pub fn config(&self, key: CheckKey) -> Option<&CheckConfig> {
        self.entries.get(&key).map(|e| &e.config)
    }

    fn random_upto(&mut self, max: Duration) -> Duration {
        if max.is_zero() {
            Duration::ZERO
        } else {
            let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
            Duration::from_nanos(self.rng.random_range(0..=nanos))
        }
    }

    /// Sets `owner`'s check to `config`. An unchanged config changes nothing (state and timers
    /// kept): that is what lets a reload touch only the checks it really changed.
    pub fn upsert(&mut self, owner: OwnerId, config: CheckConfig, now: Duration) -> Upserted {
        if let Some(&current) = self.owners.get(&owner)
            && self.entries.get(&current).map(|e| &e.config) == Some(&config)
        {
            return Upserted {
                key: current,
                created: false,
                dropped: None,
                events: Vec::new(),
            };
        }
        let dropped = self.detach(&owner);
        let mut events = Vec::new();
        let (key, created) = match self.by_config.get(&config) {
            Some(&key) => {
                if let Some(entry) = self.entries.get_mut(&key) {
                    if let Err(at) = entry.owners.binary_search(&owner) {
                        entry.owners.insert(at, owner.clone());
                    }
                    if let (true, Some(last)) = (entry.tracker.observed(), &entry.last) {
                        events.push(CheckEvent {
                            owner: owner.clone(),
                            target: entry.config.target,
                            kind: EventKind::Health(entry.tracker.health()),
                            health: entry.tracker.health(),
                            result: last.clone(),
                            lateness: Duration::ZERO,
                        });
                    }
                }
                (key, false)
            }
            None => {
                let key = CheckKey(self.next_key);
                self.next_key += 1;
                let due = now + self.random_upto(config.timing.warmup);
                self.queue.insert((due, key));
                self.by_config.insert(config.clone(), key);
                self.entries.insert(
                    key,
                    Entry {
                        tracker: HealthTracker::new(config.rise_fall),
                        config,
                        owners: vec![owner.clone()],
                        due: Some(due),
                        running_due: due,
                        attempt: 0,
                        last: None,
                        weight: None,
                        probes: 0,
                    },
                );
                (key, true)
            }
        };
        self.owners.insert(owner, key);
        Upserted {
            key,
            created,
            dropped,
            events,
        }
    }

    /// Removes `owner`; returns the check it left when that check has no owner left.
    pub fn remove(&mut self, owner: &OwnerId) -> Option<CheckKey> {
        self.detach(owner)
    }

    fn detach(&mut self, owner: &OwnerId) -> Option<CheckKey> {
        let key = self.owners.remove(owner)?;
        let entry = self.entries.get_mut(&key)?;
        if let Ok(at) = entry.owners.binary_search(owner) {
            entry.owners.remove(at);
        }
        if !entry.owners.is_empty() {
            return None;
        }
        let entry = self.entries.remove(&key)?;
        if let Some(due) = entry.due {
            self.queue.remove(&(due, key));
        }
        self.by_config.remove(&entry.config);
        Some(key)
    }

    /// Earliest time a probe is due, if any check is idle.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.queue.first().map(|&(due, _)| due)
    }

    /// Probes due at `now`, marked running (a check never has two probes at once).
    pub fn take_due(&mut self, now: Duration) -> Vec<StartProbe> {
        let mut starts = Vec::new();
        while let Some(&(due, key)) = self.queue.first() {
            if due > now {
                break;
            }
            self.queue.pop_first();
            if let Some(entry) = self.entries.get_mut(&key) {
                entry.due = None;
                entry.running_due = due;
                entry.probes += 1;
                starts.push(StartProbe {
                    key,
                    target: entry.config.target,
                    timeout: entry.config.timing.timeout,
                    due,
                });
            }
        }
        starts
    }

    /// Records the result of the probe of `key` that started `lateness` after it was due, and
    /// schedules the next one. Results for removed checks are ignored.
    pub fn complete(
        &mut self,
        key: CheckKey,
        result: ProbeResult,
        lateness: Duration,
        now: Duration,
    ) -> Vec<CheckEvent> {
        let every_result = self.every_result;
        let jitter = match self.entries.get(&key) {
            Some(entry) if entry.due.is_none() => entry.config.timing.jitter,
            _ => return Vec::new(),
        };
        let jitter = self.random_upto(jitter);
        let Some(entry) = self.entries.get_mut(&key) else {
            return Vec::new();
        };
        let timing = entry.config.timing;
        let success = result.outcome.is_up();
        let next_due;
        let mut kinds = Vec::new();
        if !success && entry.attempt < timing.retries {
            // A failure with retries left does not count yet (keepalived `retry`).
            entry.attempt += 1;
            next_due = now + timing.retry_delay;
        } else {
            entry.attempt = 0;
            if let Some(health) = entry.tracker.record(success) {
                kinds.push(EventKind::Health(health));
            }
            if success
                && let Some(weight) = result.weight
                && entry.weight != Some(weight)
            {
                entry.weight = Some(weight);
                kinds.push(EventKind::Weight(weight));
            }
            // Anchored on the scheduled start, not on completion, so probe latency does not
            // stretch the period; a probe that overran its interval is followed at once.
            next_due = (entry.running_due + timing.interval + jitter).max(now);
        }
        if kinds.is_empty() && every_result {
            kinds.push(EventKind::Probe);
        }
        let health = entry.tracker.health();
        let mut events = Vec::with_capacity(kinds.len() * entry.owners.len());
        for kind in kinds {
            for owner in &entry.owners {
                events.push(CheckEvent {
                    owner: owner.clone(),
                    target: entry.config.target,
                    kind,
                    health,
                    result: result.clone(),
                    lateness,
                });
            }
        }
        entry.last = Some(result);
        entry.due = Some(next_due);
        self.queue.insert((next_due, key));
        events
    }

    /// Status of `owner`'s check.
    pub fn status(&self, owner: &OwnerId) -> Option<CheckStatus> {
        let key = *self.owners.get(owner)?;
        let entry = self.entries.get(&key)?;
        Some(CheckStatus {
            key,
            target: entry.config.target,
            kind: entry.config.spec.kind(),
            health: entry.tracker.health(),
            observed: entry.tracker.observed(),
            streak: entry.tracker.streak(),
            last: entry.last.clone(),
            weight: entry.weight,
            owners: entry.owners.len(),
            probes: entry.probes,
        })
    }

    /// Every owner, in no particular order.
    pub fn owner_ids(&self) -> impl Iterator<Item = &OwnerId> {
        self.owners.keys()
    }

    /// Status of every owner, sorted by owner.
    pub fn statuses(&self) -> Vec<(OwnerId, CheckStatus)> {
        let mut all: Vec<(OwnerId, CheckStatus)> = self
            .owners
            .keys()
            .filter_map(|o| self.status(o).map(|s| (o.clone(), s)))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::{DownReason, Failure};
    use crate::tcp::TcpSpec;

    const S: Duration = Duration::from_secs(1);

    fn config(port: u16, timing: CheckTiming, rise: u32, fall: u32) -> CheckConfig {
        CheckConfig {
            spec: CheckSpec::Tcp(TcpSpec::default()),
            target: Target::new(([10, 0, 0, 1], port).into()),
            timing,
            rise_fall: RiseFall {
                rise,
                fall,
                initial: Health::Down,
            },
        }
    }

    fn timing(interval: Duration) -> CheckTiming {
        CheckTiming {
            interval,
            timeout: S,
            ..CheckTiming::default()
        }
    }

    fn up() -> ProbeResult {
        ProbeResult::up(Duration::from_millis(3))
    }

    fn down() -> ProbeResult {
        ProbeResult::down(Failure::new(DownReason::Refused, "x"), Duration::ZERO)
    }

    /// Runs every due probe of the schedule at `now` with `result`.
    fn run_due(s: &mut Schedule, now: Duration, result: &ProbeResult) -> Vec<CheckEvent> {
        let mut events = Vec::new();
        for start in s.take_due(now) {
            events.extend(s.complete(start.key, result.clone(), now - start.due, now));
        }
        events
    }

    #[test]
    fn probes_follow_the_interval_and_rise_emits_one_event() {
        let mut s = Schedule::new(1, false);
        let owner = OwnerId::from("a");
        let added = s.upsert(
            owner.clone(),
            config(80, timing(2 * S), 2, 1),
            Duration::ZERO,
        );
        assert!(added.created);
        assert_eq!(s.next_deadline(), Some(Duration::ZERO));
        assert!(run_due(&mut s, Duration::ZERO, &up()).is_empty());
        assert_eq!(s.next_deadline(), Some(2 * S));
        assert!(s.take_due(S).is_empty(), "not due before the interval");
        let events = run_due(&mut s, 2 * S, &up());
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventKind::Health(Health::Up));
        assert_eq!(events[0].owner, owner);
        assert_eq!(s.next_deadline(), Some(4 * S));
    }

    #[test]
    fn a_probe_is_never_started_twice_while_running() {
        let mut s = Schedule::new(1, false);
        s.upsert("a".into(), config(80, timing(S), 1, 1), Duration::ZERO);
        let starts = s.take_due(Duration::ZERO);
        assert_eq!(starts.len(), 1);
        assert!(s.take_due(10 * S).is_empty());
        assert_eq!(s.next_deadline(), None);
        // Completion long after the interval: next probe at once, not in the past.
        s.complete(starts[0].key, up(), Duration::ZERO, 10 * S);
        assert_eq!(s.next_deadline(), Some(10 * S));
    }

    #[test]
    fn retries_delay_the_fall_and_use_retry_delay() {
        let mut s = Schedule::new(1, false);
        let t = CheckTiming {
            retries: 2,
            retry_delay: Duration::from_millis(300),
            ..timing(5 * S)
        };
        let mut cfg = config(80, t, 1, 1);
        cfg.rise_fall.initial = Health::Up;
        s.upsert("a".into(), cfg, Duration::ZERO);
        let mut now = Duration::ZERO;
        for expected_retry in 1..=2u32 {
            assert!(run_due(&mut s, now, &down()).is_empty());
            now += Duration::from_millis(300);
            assert_eq!(s.next_deadline(), Some(now), "retry {expected_retry}");
        }
        let events = run_due(&mut s, now, &down());
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventKind::Health(Health::Down));
        // The next regular probe is anchored on the last start.
        assert_eq!(s.next_deadline(), Some(now + 5 * S));
    }

    #[test]
    fn a_success_during_retries_resets_the_attempts() {
        let mut s = Schedule::new(1, false);
        let t = CheckTiming {
            retries: 1,
            retry_delay: S,
            ..timing(5 * S)
        };
        let mut cfg = config(80, t, 1, 1);
        cfg.rise_fall.initial = Health::Up;
        s.upsert("a".into(), cfg, Duration::ZERO);
        assert!(run_due(&mut s, Duration::ZERO, &down()).is_empty());
        assert!(run_due(&mut s, S, &up()).is_empty());
        assert!(
            run_due(&mut s, 6 * S, &down()).is_empty(),
            "retry budget back"
        );
    }

    #[test]
    fn warmup_and_jitter_stay_within_bounds_and_are_reproducible() {
        let t = CheckTiming {
            warmup: 10 * S,
            jitter: S,
            ..timing(5 * S)
        };
        let first = |seed| {
            let mut s = Schedule::new(seed, false);
            let mut dues = Vec::new();
            let mut first_due = HashMap::new();
            for port in 0..200 {
                s.upsert(
                    OwnerId(port.to_string()),
                    config(port, t, 1, 1),
                    Duration::ZERO,
                );
            }
            for start in s.take_due(10 * S) {
                assert!(start.due <= 10 * S);
                dues.push(start.due);
                first_due.insert(start.key, start.due);
                s.complete(start.key, up(), Duration::ZERO, start.due);
            }
            assert_eq!(dues.len(), 200, "every check starts within the warmup");
            for start in s.take_due(Duration::from_secs(100)) {
                let gap = start.due - first_due[&start.key];
                assert!(gap >= 5 * S && gap <= 6 * S, "gap {gap:?}");
            }
            dues
        };
        let a = first(7);
        assert_eq!(a, first(7));
        assert_ne!(a, first(8));
        let spread = a.iter().max().copied().unwrap_or_default()
            - a.iter().min().copied().unwrap_or_default();
        assert!(spread > 5 * S, "warmup spreads starts, spread {spread:?}");
    }

    #[test]
    fn identical_configs_share_one_check_and_fan_out() {
        let mut s = Schedule::new(1, false);
        let cfg = config(80, timing(S), 1, 1);
        let a = s.upsert("a".into(), cfg.clone(), Duration::ZERO);
        let b = s.upsert("b".into(), cfg.clone(), Duration::ZERO);
        assert!(a.created && !b.created);
        assert_eq!(a.key, b.key);
        assert_eq!(s.check_count(), 1);
        let starts = s.take_due(Duration::ZERO);
        assert_eq!(starts.len(), 1, "one probe for two owners");
        let events = s.complete(starts[0].key, up(), Duration::ZERO, Duration::ZERO);
        let owners: Vec<_> = events.iter().map(|e| e.owner.0.as_str()).collect();
        assert_eq!(owners, ["a", "b"]);
        // A late joiner learns the current state at once.
        let c = s.upsert("c".into(), cfg, Duration::ZERO);
        assert_eq!(c.events.len(), 1);
        assert_eq!(c.events[0].kind, EventKind::Health(Health::Up));
        // Removing one owner keeps the check; removing the last drops it.
        assert_eq!(s.remove(&"a".into()), None);
        assert_eq!(s.remove(&"b".into()), None);
        assert_eq!(s.remove(&"c".into()), Some(a.key));
        assert_eq!(s.check_count(), 0);
        assert_eq!(s.next_deadline(), None);
    }

    #[test]
    fn updating_one_owner_leaves_the_others_untouched() {
        let mut s = Schedule::new(1, false);
        s.upsert("a".into(), config(80, timing(S), 1, 1), Duration::ZERO);
        s.upsert("b".into(), config(81, timing(S), 1, 1), Duration::ZERO);
        run_due(&mut s, Duration::ZERO, &up());
        let b_before = s.status(&"b".into());
        let b_deadline = s.statuses();
        // Same config again: nothing changes.
        let same = s.upsert("a".into(), config(80, timing(S), 1, 1), S / 2);
        assert!(!same.created && same.dropped.is_none());
        // New config for a: new check, old dropped, b untouched.
        let changed = s.upsert("a".into(), config(80, timing(2 * S), 1, 1), S / 2);
        assert!(changed.created);
        assert!(changed.dropped.is_some());
        assert_eq!(s.status(&"b".into()), b_before);
        assert_eq!(s.statuses()[1], b_deadline[1]);
        let a = s.status(&"a".into()).map(|st| (st.health, st.observed));
        assert_eq!(a, Some((Health::Down, false)), "a starts over");
        // A late result of the dropped check is ignored.
        if let Some(old) = changed.dropped {
            assert!(s.complete(old, up(), Duration::ZERO, S).is_empty());
        }
    }

    #[test]
    fn dynamic_weight_changes_are_events_and_every_result_mode_reports_probes() {
        let mut s = Schedule::new(1, true);
        s.upsert("a".into(), config(80, timing(S), 1, 1), Duration::ZERO);
        let weighted = |w| ProbeResult {
            weight: Some(w),
            ..up()
        };
        let e = run_due(&mut s, Duration::ZERO, &weighted(5));
        let kinds: Vec<_> = e.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventKind::Health(Health::Up), EventKind::Weight(5)]);
        let e = run_due(&mut s, S, &weighted(5));
        assert_eq!(
            e.iter().map(|e| e.kind).collect::<Vec<_>>(),
            [EventKind::Probe]
        );
        let e = run_due(&mut s, 2 * S, &weighted(7));
        assert_eq!(
            e.iter().map(|e| e.kind).collect::<Vec<_>>(),
            [EventKind::Weight(7)]
        );
        assert_eq!(s.status(&"a".into()).and_then(|st| st.weight), Some(7));
    }
}
