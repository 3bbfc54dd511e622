//! Health checks of LVS real servers.
//!
//! The crate knows nothing of the daemon or its YAML: callers build typed [`CheckSpec`]s, hand
//! them to a [`Scheduler`] keyed by an [`OwnerId`] of their choosing, and receive
//! [`CheckEvent`]s on a tokio channel.
//!
//! * [`state`]: sans-IO rise/fall ([`HealthTracker`]) and quorum/hysteresis ([`QuorumTracker`]).
//! * [`checker`]: one probe of one target ([`Checker`], [`ProbeResult`], [`DownReason`]).
//! * [`tcp`], [`http`], [`dns`], [`smtp`], [`udp`], [`exec`]: the check kinds, one file each.
//! * [`schedule`]: sans-IO timing (interval, retries, warmup, jitter), shared checks, events.
//! * [`scheduler`]: the thin tokio shell: concurrency limit, probe tasks, command channel.
//!
//! ```no_run
//! use std::time::Duration;
//! use tandem_checkers::{CheckConfig, CheckSpec, CheckTiming, RiseFall, Scheduler,
//!     SchedulerOptions, Target, http::HttpSpec};
//!
//! # async fn demo() -> Result<(), tandem_checkers::SchedulerError> {
//! let (scheduler, mut events) = Scheduler::start(SchedulerOptions::default())?;
//! let config = CheckConfig {
//!     spec: CheckSpec::Http(HttpSpec { path: "/health".into(), ..HttpSpec::default() }),
//!     target: Target::new("10.0.0.5:80".parse().unwrap()),
//!     timing: CheckTiming { interval: Duration::from_secs(2), ..CheckTiming::default() },
//!     rise_fall: RiseFall { rise: 2, fall: 3, ..RiseFall::default() },
//! };
//! scheduler.upsert("web/10.0.0.5:80".into(), config).await?;
//! while let Some(event) = events.recv().await {
//!     println!("{} is now {:?}", event.owner, event.health);
//! }
//! # Ok(()) }
//! ```

pub mod checker;
pub mod dns;
pub mod exec;
pub mod http;
pub mod schedule;
pub mod scheduler;
pub mod smtp;
mod socket_probes;
pub mod state;
pub mod tcp;
pub mod udp;

pub use checker::{
    BuildError, CheckSpec, Checker, DownReason, Failure, Outcome, ProbeFuture, ProbeResult, Target,
    probe_with_timeout,
};
pub use schedule::{
    CheckConfig, CheckEvent, CheckKey, CheckStatus, CheckTiming, EventKind, OwnerId,
};
pub use scheduler::{START_BATCH_WINDOW, Scheduler, SchedulerError, SchedulerOptions, SyncReport};
pub use state::{Health, HealthTracker, QuorumTracker, RiseFall};
