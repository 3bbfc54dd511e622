//! The IPVS dataplane: a dedicated thread that owns the generic-netlink socket (blocking I/O
//! stays off the async runtime), applies the newest desired table as a minimal diff, repairs
//! drift periodically, runs the connection-sync daemon in the role VRRP dictates, and applies
//! the shutdown policy.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tandem_ipvs::{
    IpvsClient, IpvsState, ReconcileOptions, ServiceKey, SyncDaemon, reconcile, reconcile_daemons,
};

use super::desired::dest_id;

/// What the director asks of the dataplane.
#[derive(Debug)]
enum Request {
    Apply(Box<Desired>),
    Shutdown {
        remove: bool,
        done: std::sync::mpsc::Sender<()>,
    },
}

/// The whole desired state: the thread always works from the newest one.
#[derive(Debug, Clone)]
pub struct Desired {
    pub state: IpvsState,
    pub owned: HashSet<ServiceKey>,
    pub flush_foreign: bool,
    /// Sync daemons that should run (empty = none managed).
    pub daemons: Vec<SyncDaemon>,
    /// Whether sync daemons are managed at all (false leaves running ones alone).
    pub manage_daemons: bool,
}

/// Live dataplane facts for status and metrics.
#[derive(Debug, Clone, Default)]
pub struct DataplaneStatus {
    pub connected: bool,
    pub last_error: Option<String>,
    /// Netlink operations applied successfully / failed since start.
    pub operations_ok: u64,
    pub operations_failed: u64,
    /// Operations applied by the last reconcile (0 = the kernel already matched).
    pub last_operations: usize,
    /// (active, inactive) connections per destination, from the last dump.
    pub connections: HashMap<String, (u32, u32)>,
}

/// Handle to the dataplane thread.
#[derive(Debug)]
pub struct IpvsDataplane {
    requests: Sender<Request>,
    pub status: Arc<Mutex<DataplaneStatus>>,
    thread: Option<JoinHandle<()>>,
}

impl IpvsDataplane {
    pub fn start(
        reconcile_interval: Duration,
        metrics: crate::metrics::Metrics,
    ) -> std::io::Result<IpvsDataplane> {
        let (requests, rx) = std::sync::mpsc::channel();
        let status = Arc::new(Mutex::new(DataplaneStatus::default()));
        let thread_status = status.clone();
        let thread = std::thread::Builder::new()
            .name("tandem-ipvs".into())
            .spawn(move || run(rx, thread_status, reconcile_interval, metrics))?;
        Ok(IpvsDataplane {
            requests,
            status,
            thread: Some(thread),
        })
    }

    /// Queues a new desired state; the thread coalesces bursts and applies the newest.
    pub fn apply(&self, desired: Desired) {
        let _ = self.requests.send(Request::Apply(Box::new(desired)));
    }

    /// Applies the shutdown policy (`remove` deletes tandem's services) and stops the thread.
    pub async fn shutdown(mut self, remove: bool) {
        let (done, wait) = std::sync::mpsc::channel();
        if self
            .requests
            .send(Request::Shutdown { remove, done })
            .is_ok()
        {
            let _ = tokio::task::spawn_blocking(move || wait.recv_timeout(Duration::from_secs(10)))
                .await;
        }
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

/// Where the thread reports: the shared status and the metrics.
struct Reporter {
    status: Arc<Mutex<DataplaneStatus>>,
    metrics: crate::metrics::Metrics,
}

fn set_status(reporter: &Reporter, f: impl FnOnce(&mut DataplaneStatus)) {
    if let Ok(mut s) = reporter.status.lock() {
        f(&mut s);
    }
}

/// Label of an operation in `tandem_ipvs_operations_total{op}`.
fn op_label(op: &tandem_ipvs::Operation) -> &'static str {
    use tandem_ipvs::Operation as O;
    match op {
        O::NewService(_) => "new_service",
        O::SetService(_) => "set_service",
        O::DelService(_) => "del_service",
        O::NewDest { .. } => "new_dest",
        O::SetDest { .. } => "set_dest",
        O::DelDest { .. } => "del_dest",
        O::NewDaemon(_) => "new_daemon",
        O::DelDaemon(_) => "del_daemon",
        _ => "other",
    }
}

fn run(
    requests: Receiver<Request>,
    status: Arc<Mutex<DataplaneStatus>>,
    interval: Duration,
    metrics: crate::metrics::Metrics,
) {
    let status = Reporter { status, metrics };
    let mut client: Option<IpvsClient> = None;
    let mut desired: Option<Desired> = None;
    // Keys applied before: a service dropped from the configuration is still ours to delete.
    let mut previously_owned: HashSet<ServiceKey> = HashSet::new();
    let mut connect_error_logged = false;
    loop {
        let mut shutdown = None;
        match requests.recv_timeout(interval) {
            Ok(Request::Apply(d)) => desired = Some(*d),
            Ok(Request::Shutdown { remove, done }) => shutdown = Some((remove, done)),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        // Coalesce: only the newest desired state matters.
        while shutdown.is_none() {
            match requests.try_recv() {
                Ok(Request::Apply(d)) => desired = Some(*d),
                Ok(Request::Shutdown { remove, done }) => shutdown = Some((remove, done)),
                Err(_) => break,
            }
        }
        if client.is_none() {
            match IpvsClient::connect() {
                Ok(c) => {
                    tracing::info!(
                        event = "dataplane",
                        "connected to IPVS over generic netlink"
                    );
                    connect_error_logged = false;
                    set_status(&status, |s| {
                        s.connected = true;
                        s.last_error = None;
                    });
                    client = Some(c);
                }
                Err(e) => {
                    if !connect_error_logged {
                        tracing::error!(event = "dataplane", error = %e, "IPVS is not available (is the ip_vs module loaded?); retrying");
                        connect_error_logged = true;
                    }
                    set_status(&status, |s| {
                        s.connected = false;
                        s.last_error = Some(e.to_string());
                    });
                }
            }
        }
        if let Some((remove, done)) = shutdown {
            if let (Some(c), true) = (client.as_mut(), remove) {
                let empty = IpvsState::new(Vec::new());
                let mut owned = previously_owned.clone();
                if let Some(d) = &desired {
                    owned.extend(d.owned.iter().copied());
                }
                apply_state(c, &empty, &owned, false, &status);
                tracing::info!(
                    event = "dataplane",
                    "removed tandem's IPVS services on shutdown"
                );
            }
            let _ = done.send(());
            return;
        }
        let (Some(c), Some(d)) = (client.as_mut(), desired.as_ref()) else {
            continue;
        };
        let mut owned = previously_owned.clone();
        owned.extend(d.owned.iter().copied());
        if apply_state(c, &d.state, &owned, d.flush_foreign, &status) {
            previously_owned = d.owned.clone();
        } else {
            // A netlink failure may mean a dead socket: reconnect next round.
            client = None;
            continue;
        }
        if d.manage_daemons {
            match c.daemons() {
                Ok(running) => {
                    let ops = reconcile_daemons(&d.daemons, &running);
                    if !ops.is_empty() {
                        report(c.apply(&ops), &ops, &status, "sync daemon");
                    }
                }
                Err(e) => {
                    tracing::warn!(event = "dataplane", error = %e, "cannot read IPVS sync daemons")
                }
            }
        }
    }
}

/// Reconciles the kernel table with `desired`; returns false when the kernel could not be
/// read or written at all.
fn apply_state(
    client: &mut IpvsClient,
    desired: &IpvsState,
    owned: &HashSet<ServiceKey>,
    flush_foreign: bool,
    status: &Reporter,
) -> bool {
    let current = match client.state() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(event = "dataplane", error = %e, "cannot dump the IPVS table");
            set_status(status, |s| s.last_error = Some(e.to_string()));
            return false;
        }
    };
    let mut connections = HashMap::new();
    for vs in &current.services {
        for d in &vs.destinations {
            connections.insert(
                dest_id(&vs.key(), d.addr, d.port),
                (d.active_conns, d.inactive_conns),
            );
        }
    }
    set_status(status, |s| s.connections = connections);
    let ops = match reconcile(
        desired,
        &current,
        owned,
        &ReconcileOptions { flush_foreign },
    ) {
        Ok(ops) => ops,
        Err(e) => {
            tracing::error!(event = "dataplane", error = %e, "inconsistent desired IPVS state");
            set_status(status, |s| s.last_error = Some(e.to_string()));
            return true;
        }
    };
    set_status(status, |s| s.last_operations = ops.len());
    if ops.is_empty() {
        return true;
    }
    report(client.apply(&ops), &ops, status, "service")
}

fn report(
    result: Result<tandem_ipvs::ApplyReport, tandem_ipvs::IpvsError>,
    ops: &[tandem_ipvs::Operation],
    status: &Reporter,
    what: &str,
) -> bool {
    match result {
        Ok(report) => {
            for (op, result) in ops.iter().zip(&report.results) {
                status.metrics.ipvs_operation(op_label(op), result.is_ok());
            }
            let failures = report.failures();
            for (i, failure) in &failures {
                if let Some(op) = ops.get(*i) {
                    tracing::error!(event = "dataplane", operation = %op, error = %failure, "IPVS {what} operation failed");
                }
            }
            let failed = failures.len() as u64;
            let ok = ops.len() as u64 - failed;
            tracing::info!(
                event = "dataplane",
                operations = ops.len(),
                failed,
                "IPVS {what} table updated"
            );
            set_status(status, |s| {
                s.operations_ok += ok;
                s.operations_failed += failed;
                s.last_error = failures.first().map(|(_, f)| f.to_string());
            });
            true
        }
        Err(e) => {
            tracing::error!(event = "dataplane", error = %e, "IPVS apply failed");
            set_status(status, |s| s.last_error = Some(e.to_string()));
            false
        }
    }
}
