//! VRRP wiring: one task per configured instance (see `instance_task.rs`), link monitoring
//! over rtnetlink (`links.rs`), VIP management (`addresses.rs`) and tracking arithmetic
//! (`tracking.rs`). The protocol itself lives in the `tandem-vrrp` crate.

pub mod accept;
pub mod addresses;
pub mod instance_task;
pub mod links;
pub mod runtime;
pub mod tracking;

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tandem_vrrp::{Counters, State, TransitionReason};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::Config;
pub use instance_task::InstanceSpec;

/// What the director tells a running instance.
#[derive(Debug)]
#[non_exhaustive]
pub enum InstanceCommand {
    /// New effective priority (tracking changed it).
    Priority(u8),
    /// A tracked object with weight 0 (or a sync-group member) failed / recovered.
    TrackFault(bool),
    /// The instance's own interface went down / up.
    Link(bool),
    /// Stop: a master sends priority 0 and removes its VIPs; answered when done.
    Shutdown(oneshot::Sender<()>),
    /// Sync group gate: while held, the instance does not leave Backup for Master on its own
    /// (it reports [`InstanceReport::WantsMaster`] instead).
    SyncGroupHold(bool),
}

/// What an instance tells the director, in the order it happened.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum InstanceReport {
    /// A state change.
    Transition(Transition),
    /// A Backup held by its sync group would (or no longer would) become Master.
    WantsMaster { instance: String, wants: bool },
}

/// A state change, reported to the director in the order it happened.
#[derive(Debug, Clone)]
pub struct Transition {
    pub instance: String,
    pub vrid: u8,
    pub version: u8,
    pub from: State,
    pub to: State,
    pub reason: TransitionReason,
    pub priority: u8,
    /// The master after the change: ours when we became master, else the one last heard.
    pub master: Option<IpAddr>,
}

/// Live view of an instance for status and metrics (updated by its task).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub state: State,
    pub effective_priority: u8,
    pub master: Option<IpAddr>,
    pub primary: Option<IpAddr>,
    pub counters: Counters,
    /// Why the instance is not running (interface missing, no address), if so.
    pub error: Option<String>,
}

/// A running instance as the director holds it.
#[derive(Debug)]
pub struct InstanceHandle {
    pub spec: InstanceSpec,
    pub commands: mpsc::Sender<InstanceCommand>,
    pub snapshot: Arc<Mutex<Snapshot>>,
    pub task: JoinHandle<()>,
}

impl InstanceHandle {
    pub fn snapshot(&self) -> Option<Snapshot> {
        self.snapshot.lock().ok().map(|s| s.clone())
    }

    /// Stops the instance and waits (bounded) until it has released its addresses.
    pub async fn shutdown(self) {
        let (done, wait) = oneshot::channel();
        if self
            .commands
            .send(InstanceCommand::Shutdown(done))
            .await
            .is_ok()
        {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), wait).await;
        }
        self.task.abort();
    }
}

/// Specs for every instance of `config`, with each one's sibling VRIDs.
pub fn specs(config: &Config) -> Vec<InstanceSpec> {
    config
        .vrrp_instances
        .iter()
        .map(|cfg| {
            let v6 = cfg.virtual_addresses.first().is_some_and(|a| a.is_ipv6());
            let siblings: HashSet<u8> = config
                .vrrp_instances
                .iter()
                .filter(|o| o.name.value != cfg.name.value)
                .filter(|o| o.interface.value == cfg.interface.value)
                .filter(|o| o.virtual_addresses.first().is_some_and(|a| a.is_ipv6()) == v6)
                .filter_map(|o| u8::try_from(*o.vrid).ok())
                .collect();
            InstanceSpec::from_config(cfg, siblings)
        })
        .collect()
}

/// Starts one instance task, on the VRRP thread (see `runtime.rs`).
pub fn spawn(spec: InstanceSpec, reports: mpsc::UnboundedSender<InstanceReport>) -> InstanceHandle {
    let (commands, rx) = mpsc::channel(64);
    let snapshot = Arc::new(Mutex::new(Snapshot {
        state: State::Initialize,
        effective_priority: spec.priority,
        master: None,
        primary: None,
        counters: Counters::default(),
        error: None,
    }));
    let task = runtime::spawn(instance_task::run(
        spec.clone(),
        rx,
        reports,
        snapshot.clone(),
    ));
    InstanceHandle {
        spec,
        commands,
        snapshot,
        task,
    }
}
