//! Sans-IO health state of one real server: rise/fall counting, and the quorum of a virtual
//! service.
//!
//! Nothing here reads a clock or touches a socket: probe outcomes go in, transitions come out, so
//! the rules are tested as plain sequences.

/// Health of one real server as seen by one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Health {
    /// The real server receives traffic.
    Up,
    /// The real server is taken out of the virtual service.
    Down,
}

/// Thresholds of the rise/fall state machine.
///
/// Counting consecutive outcomes (rather than reacting to each probe) keeps one lost packet from
/// flapping a real server in and out of IPVS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RiseFall {
    /// Consecutive successes that bring a down server up (at least 1).
    pub rise: u32,
    /// Consecutive failures that bring an up server down (at least 1).
    pub fall: u32,
    /// State before any probe has run. [`Health::Down`] (the default) admits a server only after
    /// `rise` successes; [`Health::Up`] is keepalived's behaviour without `alpha`: the server is
    /// in the pool from the start and leaves it after `fall` failures.
    pub initial: Health,
}

impl Default for RiseFall {
    fn default() -> Self {
        RiseFall {
            rise: 1,
            fall: 1,
            initial: Health::Down,
        }
    }
}

/// Rise/fall state machine of one check of one real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthTracker {
    thresholds: RiseFall,
    health: Health,
    /// Consecutive outcomes that disagree with `health` (successes while down, failures while
    /// up); reset by any outcome that agrees with it.
    streak: u32,
    /// Whether any probe result has been recorded (the initial state is an assumption until then).
    observed: bool,
}

impl HealthTracker {
    /// A tracker in `thresholds.initial`. Zero thresholds are treated as 1: "change state after
    /// zero results" has no meaning, and a typed config layer validates them anyway.
    pub fn new(thresholds: RiseFall) -> Self {
        let thresholds = RiseFall {
            rise: thresholds.rise.max(1),
            fall: thresholds.fall.max(1),
            initial: thresholds.initial,
        };
        HealthTracker {
            thresholds,
            health: thresholds.initial,
            streak: 0,
            observed: false,
        }
    }

    /// Current health.
    pub fn health(&self) -> Health {
        self.health
    }

    /// True once at least one result has been recorded.
    pub fn observed(&self) -> bool {
        self.observed
    }

    /// Consecutive results pointing away from the current state.
    pub fn streak(&self) -> u32 {
        self.streak
    }

    /// The thresholds in force (zeros raised to 1).
    pub fn thresholds(&self) -> RiseFall {
        self.thresholds
    }

    /// Records one probe result; returns the new health when it changed.
    pub fn record(&mut self, success: bool) -> Option<Health> {
        self.observed = true;
        let (agrees, needed, other) = match self.health {
            Health::Up => (success, self.thresholds.fall, Health::Down),
            Health::Down => (!success, self.thresholds.rise, Health::Up),
        };
        if agrees {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        if self.streak >= needed {
            self.health = other;
            self.streak = 0;
            Some(other)
        } else {
            None
        }
    }
}

/// Quorum of a virtual service with keepalived's hysteresis.
///
/// `up` is whatever the caller sums: the number of up real servers, or (as keepalived does) the
/// sum of their weights. With quorum `q` and hysteresis `h`, a service that has quorum loses it
/// when `up < q - h`, and one without regains it when `up >= q + h` (keepalived
/// `check/ipwrapper.c`, `update_quorum_state`). Between the two bounds the previous state holds,
/// so a server flapping around the threshold does not flap the whole service. `h` is capped at
/// `q` so the lower bound never underflows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumTracker {
    quorum: u64,
    hysteresis: u64,
    has_quorum: bool,
}

impl QuorumTracker {
    /// A tracker starting with quorum `initially_up` (keepalived starts a virtual service with
    /// quorum up; pass `false` to require `quorum + hysteresis` before the first "gained").
    pub fn new(quorum: u64, hysteresis: u64, initially_up: bool) -> Self {
        QuorumTracker {
            quorum,
            hysteresis: hysteresis.min(quorum),
            has_quorum: initially_up,
        }
    }

    /// Whether the service currently has quorum.
    pub fn has_quorum(&self) -> bool {
        self.has_quorum
    }

    /// Feeds the current up count (or weight sum); returns `Some(new_state)` on a change.
    pub fn update(&mut self, up: u64) -> Option<bool> {
        if self.has_quorum && up < self.quorum - self.hysteresis {
            self.has_quorum = false;
            Some(false)
        } else if !self.has_quorum && up >= self.quorum.saturating_add(self.hysteresis) {
            self.has_quorum = true;
            Some(true)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tracker(rise: u32, fall: u32, initial: Health) -> HealthTracker {
        HealthTracker::new(RiseFall {
            rise,
            fall,
            initial,
        })
    }

    #[test]
    fn starts_down_and_rises_after_rise_consecutive_successes() {
        let mut t = tracker(3, 2, Health::Down);
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), Some(Health::Up));
        assert_eq!(t.health(), Health::Up);
    }

    #[test]
    fn a_failure_resets_the_rise_streak() {
        let mut t = tracker(3, 2, Health::Down);
        t.record(true);
        t.record(true);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), Some(Health::Up));
    }

    #[test]
    fn falls_after_fall_consecutive_failures_and_a_success_resets() {
        let mut t = tracker(1, 3, Health::Up);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), Some(Health::Down));
        assert_eq!(t.record(false), None);
    }

    #[test]
    fn keepalived_style_initial_up_needs_no_rise() {
        let mut t = tracker(5, 1, Health::Up);
        assert_eq!(t.health(), Health::Up);
        assert!(!t.observed());
        assert_eq!(t.record(true), None);
        assert!(t.observed());
        assert_eq!(t.record(false), Some(Health::Down));
    }

    #[test]
    fn zero_thresholds_act_as_one() {
        let mut t = tracker(0, 0, Health::Down);
        assert_eq!(t.record(true), Some(Health::Up));
        assert_eq!(t.record(false), Some(Health::Down));
    }

    #[test]
    fn quorum_hysteresis_follows_keepalived_bounds() {
        // quorum 4, hysteresis 1: lost below 3, regained at 5.
        let mut q = QuorumTracker::new(4, 1, true);
        assert_eq!(q.update(4), None);
        assert_eq!(q.update(3), None, "3 is inside the band: still up");
        assert_eq!(q.update(2), Some(false));
        assert_eq!(q.update(4), None, "4 is inside the band: still lost");
        assert_eq!(q.update(5), Some(true));
        assert_eq!(q.update(5), None);
    }

    #[test]
    fn quorum_without_hysteresis_is_a_plain_threshold() {
        let mut q = QuorumTracker::new(2, 0, false);
        assert_eq!(q.update(1), None);
        assert_eq!(q.update(2), Some(true));
        assert_eq!(q.update(1), Some(false));
    }

    #[test]
    fn hysteresis_larger_than_quorum_does_not_underflow() {
        let mut q = QuorumTracker::new(1, 5, true);
        assert_eq!(q.update(0), None, "lower bound is 0: nothing is below it");
        assert!(q.has_quorum());
    }

    proptest! {
        /// Compared with a model that only looks at the trailing run of equal outcomes.
        #[test]
        fn state_matches_trailing_run_model(
            rise in 1u32..5, fall in 1u32..5, start_up: bool,
            outcomes in proptest::collection::vec(any::<bool>(), 0..60),
        ) {
            let initial = if start_up { Health::Up } else { Health::Down };
            let mut t = tracker(rise, fall, initial);
            let mut model = initial;
            let mut run = 0u32;
            for &ok in &outcomes {
                let changed = t.record(ok);
                let toward = if ok { Health::Up } else { Health::Down };
                if toward == model { run = 0; } else { run += 1; }
                let needed = if ok { rise } else { fall };
                let expect = if toward != model && run >= needed {
                    model = toward; run = 0; Some(toward)
                } else { None };
                prop_assert_eq!(changed, expect);
                prop_assert_eq!(t.health(), model);
            }
        }

        #[test]
        fn quorum_state_only_changes_outside_the_band(
            quorum in 0u64..10, hysteresis in 0u64..4, start: bool,
            ups in proptest::collection::vec(0u64..15, 0..40),
        ) {
            let mut q = QuorumTracker::new(quorum, hysteresis, start);
            let h = hysteresis.min(quorum);
            for up in ups {
                let before = q.has_quorum();
                let change = q.update(up);
                match change {
                    Some(false) => prop_assert!(before && up < quorum - h),
                    Some(true) => prop_assert!(!before && up >= quorum + h),
                    None => prop_assert_eq!(q.has_quorum(), before),
                }
            }
        }
    }
}
