//! Health checks of LVS real servers.
//!
//! The crate knows nothing of the daemon or its YAML: callers build typed [`CheckSpec`]s, hand
//! them to a [`Scheduler`], and receive [`CheckEvent`]s on a tokio channel.
//!
//! * [`state`]: sans-IO rise/fall and quorum/hysteresis rules.
//! * [`checker`]: one probe of one target ([`Checker`], [`ProbeResult`]).
//! * [`tcp`], [`http`], [`dns`], [`smtp`], [`udp`], [`exec`]: the check kinds.
//! * [`schedule`] (sans-IO timing) and [`scheduler`] (the tokio shell): thousands of checks,
//!   shared probes, runtime add/update/remove.

pub mod state;

pub use state::{Health, HealthTracker, QuorumTracker, RiseFall};
pub mod checker;
pub mod dns;
pub mod exec;
pub mod http;
pub mod schedule;
pub mod scheduler;
pub mod smtp;
pub mod tcp;
pub mod udp;

pub use checker::{
    BuildError, CheckSpec, Checker, DownReason, Failure, Outcome, ProbeFuture, ProbeResult, Target,
    probe_with_timeout,
};
pub use schedule::{
    CheckConfig, CheckEvent, CheckKey, CheckStatus, CheckTiming, EventKind, OwnerId,
};
pub use scheduler::{Scheduler, SchedulerError, SchedulerOptions, SyncReport};
