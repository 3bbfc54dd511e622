//! VRRP wiring: one thread per configured instance (see `instance_task.rs`), link monitoring
//! over rtnetlink (`links.rs`), VIP management (`addresses.rs`) and tracking arithmetic
//! (`tracking.rs`). The protocol itself lives in the `tandem-vrrp` crate.

pub mod accept;
pub mod addresses;
pub mod instance_task;
pub mod links;
pub mod tracking;

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tandem_vrrp::net::Wakeup;
use tandem_vrrp::{Counters, State, TransitionReason};
use tokio::sync::{mpsc, oneshot};

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

/// How many commands may wait for an instance (the director sends a handful per event).
const COMMAND_QUEUE: usize = 64;

/// The director's end of an instance's command queue: a bounded queue plus an eventfd that
/// wakes the instance thread out of its `ppoll`.
#[derive(Debug, Clone)]
pub struct CommandSender {
    queue: std::sync::mpsc::SyncSender<InstanceCommand>,
    /// None for an instance whose thread never started (sends fail: nobody reads).
    wakeup: Option<Arc<Wakeup>>,
}

impl CommandSender {
    /// Queues `command` without waiting; an error when the queue is full or the instance
    /// has stopped.
    pub fn try_send(
        &self,
        command: InstanceCommand,
    ) -> Result<(), std::sync::mpsc::TrySendError<InstanceCommand>> {
        self.queue.try_send(command)?;
        if let Some(Err(e)) = self.wakeup.as_ref().map(|w| w.wake()) {
            tracing::error!(error = %e, "cannot wake a VRRP instance thread");
        }
        Ok(())
    }
}

impl Drop for CommandSender {
    /// Wakes the thread so it sees the queue closed once the director's last sender is gone
    /// (it stops then, as on Shutdown); a wake-up while other senders live is a no-op there.
    fn drop(&mut self) {
        // Our sender must be gone before the wake-up, or the woken thread could still find
        // the queue open and go back to sleep.
        let (closed, _) = std::sync::mpsc::sync_channel(0);
        drop(std::mem::replace(&mut self.queue, closed));
        if let Some(Err(e)) = self.wakeup.as_ref().map(|w| w.wake()) {
            tracing::debug!(error = %e, "cannot wake a VRRP instance thread");
        }
    }
}

/// The instance thread's end of its command queue.
#[derive(Debug)]
pub struct CommandQueue {
    queue: std::sync::mpsc::Receiver<InstanceCommand>,
    wakeup: Arc<Wakeup>,
}

/// A bounded command queue for one instance.
fn command_queue() -> std::io::Result<(CommandSender, CommandQueue)> {
    let wakeup = Arc::new(Wakeup::new()?);
    let (tx, rx) = std::sync::mpsc::sync_channel(COMMAND_QUEUE);
    Ok((
        CommandSender {
            queue: tx,
            wakeup: Some(wakeup.clone()),
        },
        CommandQueue { queue: rx, wakeup },
    ))
}

/// A running instance as the director holds it.
#[derive(Debug)]
pub struct InstanceHandle {
    pub spec: InstanceSpec,
    pub commands: CommandSender,
    pub snapshot: Arc<Mutex<Snapshot>>,
}

impl InstanceHandle {
    pub fn snapshot(&self) -> Option<Snapshot> {
        self.snapshot.lock().ok().map(|s| s.clone())
    }

    /// Stops the instance and waits (bounded) until it has released its addresses.
    pub async fn shutdown(self) {
        let (done, wait) = oneshot::channel();
        let stop = async {
            // A full queue (a burst of tracking commands) must delay the stop, not lose it:
            // an instance that never hears Shutdown would go on advertising its VIPs.
            let mut command = InstanceCommand::Shutdown(done);
            loop {
                match self.commands.try_send(command) {
                    Ok(()) => break,
                    Err(std::sync::mpsc::TrySendError::Full(back)) => {
                        command = back;
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    }
                    Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return,
                }
            }
            let _ = wait.await;
        };
        // The thread exits after answering; one stuck in a VIP change past this bound is
        // left to finish on its own (it holds nothing the next instance needs).
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), stop).await;
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

/// Starts one instance on a thread of its own (see `instance_task.rs`). When the OS refuses
/// the thread or its eventfd, the instance shows FAULT with the reason in its status.
pub fn spawn(spec: InstanceSpec, reports: mpsc::UnboundedSender<InstanceReport>) -> InstanceHandle {
    let snapshot = Arc::new(Mutex::new(Snapshot {
        state: State::Initialize,
        effective_priority: spec.priority,
        master: None,
        primary: None,
        counters: Counters::default(),
        error: None,
    }));
    let started = command_queue().and_then(|(commands, queue)| {
        let (thread_spec, thread_snapshot) = (spec.clone(), snapshot.clone());
        std::thread::Builder::new()
            .name(format!("vrrp-{}", spec.vrid))
            .spawn(move || instance_task::run(thread_spec, queue, reports, thread_snapshot))
            .map(|_detached| commands)
    });
    let commands = match started {
        Ok(commands) => commands,
        Err(e) => {
            tracing::error!(instance = %spec.name, vrid = spec.vrid, error = %e, "cannot start the VRRP instance thread");
            if let Ok(mut s) = snapshot.lock() {
                s.state = State::Fault;
                s.error = Some(format!("cannot start its thread: {e}"));
            }
            // A queue nobody reads: commands to it fail as to a stopped instance.
            let (tx, _) = std::sync::mpsc::sync_channel(0);
            CommandSender {
                queue: tx,
                wakeup: None,
            }
        }
    };
    InstanceHandle {
        spec,
        commands,
        snapshot,
    }
}
