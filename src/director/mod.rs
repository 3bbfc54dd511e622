//! The director: the one task that owns the desired state. Configuration, VRRP instances,
//! link monitoring, checkers and the control socket talk to it over channels; it decides and
//! tells the instances and the dataplane. Keeping every decision in one task means no locks
//! and a total order of events.

mod dataplane_control;
mod health;
pub mod services;
pub mod status;
mod vrrp_control;

use std::collections::HashMap;
use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot};

use crate::config::{self, Config};
use crate::vrrp::links::LinkChange;
use crate::vrrp::{InstanceHandle, InstanceReport};
use services::ServiceTable;
use status::Status;

/// What the director is asked to do.
#[derive(Debug)]
#[non_exhaustive]
pub enum DirectorCommand {
    /// Re-read the configuration file (SIGHUP).
    Reload,
    /// Report the live state.
    Status(oneshot::Sender<Status>),
    /// Stop: release VIPs, apply the shutdown policy, then return (SIGTERM/SIGINT).
    Shutdown,
}

/// What tracking last told an instance, so only changes are sent.
#[derive(Debug, Default, Clone, PartialEq)]
struct TrackingSent {
    link_up: Option<bool>,
    fault: Option<bool>,
    priority: Option<u8>,
    sync_hold: Option<bool>,
}

/// The director's state.
#[derive(Debug)]
pub struct Director {
    config_path: PathBuf,
    config: Config,
    router_id: String,
    services: ServiceTable,
    reloads_ok: u64,
    reloads_failed: u64,
    last_reload_errors: Vec<String>,
    instances: Vec<InstanceHandle>,
    tracking_sent: HashMap<String, TrackingSent>,
    links: HashMap<String, bool>,
    transitions_tx: mpsc::UnboundedSender<InstanceReport>,
    transitions_rx: mpsc::UnboundedReceiver<InstanceReport>,
    /// Sync-group members held in Backup that would be Master (see `vrrp_control.rs`).
    wants_master: std::collections::HashSet<String>,
    /// Each instance's state as of its last reported transition.
    vrrp_states: HashMap<String, tandem_vrrp::State>,
    links_rx: mpsc::Receiver<LinkChange>,
    links_tx: mpsc::Sender<LinkChange>,
    metrics: crate::metrics::Metrics,
    alerts: crate::alerts::Alerts,
    /// Last VRRP counters pushed to the metrics (they take deltas).
    metrics_counters: HashMap<String, tandem_vrrp::Counters>,
    checks: tandem_checkers::Scheduler,
    ipvs: Option<crate::dataplane::ipvs::IpvsDataplane>,
    check_events: mpsc::UnboundedReceiver<tandem_checkers::CheckEvent>,
}

impl Director {
    /// Must be called within the tokio runtime (the check scheduler's driver is a task).
    pub fn new(
        config_path: PathBuf,
        config: Config,
        metrics: crate::metrics::Metrics,
    ) -> Result<Self, String> {
        let router_id = router_id(&config);
        let services = ServiceTable::from_config(&config);
        let (transitions_tx, transitions_rx) = mpsc::unbounded_channel();
        let (links_tx, links_rx) = mpsc::channel(256);
        let alerts = crate::alerts::Alerts::new(
            &config.alerts,
            &router_id,
            config.global.notify_timeout.get(),
            Some(metrics.clone()),
        )
        .map_err(|e| format!("cannot start alerts: {e}"))?;
        apply_syslog(&config, &router_id, &metrics);
        let (checks, check_events) =
            tandem_checkers::Scheduler::start(tandem_checkers::SchedulerOptions {
                every_result: true,
                ..tandem_checkers::SchedulerOptions::default()
            })
            .map_err(|e| format!("cannot start the health-check scheduler: {e}"))?;
        Ok(Director {
            config_path,
            config,
            router_id,
            services,
            reloads_ok: 0,
            reloads_failed: 0,
            last_reload_errors: Vec::new(),
            instances: Vec::new(),
            tracking_sent: HashMap::new(),
            links: HashMap::new(),
            transitions_tx,
            transitions_rx,
            wants_master: std::collections::HashSet::new(),
            vrrp_states: HashMap::new(),
            links_rx,
            links_tx,
            metrics,
            alerts,
            metrics_counters: HashMap::new(),
            checks,
            ipvs: None,
            check_events,
        })
    }

    /// Runs until a Shutdown command arrives or every sender is gone.
    pub async fn run(mut self, mut commands: mpsc::Receiver<DirectorCommand>) {
        if !self.config.vrrp_instances.is_empty() {
            let links_tx = self.links_tx.clone();
            tokio::spawn(async move {
                if let Err(e) = crate::vrrp::links::monitor(links_tx).await {
                    tracing::error!(error = %e, "cannot monitor links over rtnetlink; interface tracking is off");
                }
            });
        }
        self.start_instances();
        self.sync_checks().await;
        self.ensure_dataplane().await;
        let mut metrics_tick = tokio::time::interval(std::time::Duration::from_secs(1));
        metrics_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // systemd's watchdog (WatchdogSec= in the unit): pinged from this loop, so a director
        // that stops handling events gets no pings and systemd restarts the daemon.
        let watchdog = sd_notify::watchdog_enabled();
        let mut watchdog_tick = tokio::time::interval(watchdog_ping_interval(watchdog));
        watchdog_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        if let Some(timeout) = watchdog {
            tracing::info!(
                timeout_ms = timeout.as_millis() as u64,
                "systemd watchdog enabled"
            );
        }
        loop {
            tokio::select! {
                _ = watchdog_tick.tick(), if watchdog.is_some() => {
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                }
                _ = metrics_tick.tick() => self.update_vrrp_metrics(),
                command = commands.recv() => match command {
                    Some(DirectorCommand::Reload) => self.reload().await,
                    Some(DirectorCommand::Status(reply)) => {
                        let status = self.status().await;
                        let _ = reply.send(status);
                    }
                    Some(DirectorCommand::Shutdown) | None => break,
                },
                Some(report) = self.transitions_rx.recv() => match report {
                    InstanceReport::Transition(transition) => {
                        self.on_transition(transition);
                        self.push_dataplane();
                    }
                    InstanceReport::WantsMaster { instance, wants } => {
                        self.on_wants_master(instance, wants);
                    }
                },
                Some(change) = self.links_rx.recv() => self.on_link_change(change),
                Some(event) = self.check_events.recv() => {
                    if self.on_check_event(event) {
                        self.push_dataplane();
                    }
                }
            }
        }
        self.stop_instances().await;
        self.stop_dataplane().await;
        tracing::info!("director stopped");
    }

    /// SIGHUP: parse and validate the file again; a bad file changes nothing.
    async fn reload(&mut self) {
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Reloading]);
        match config::load(&self.config_path) {
            Ok(new) => {
                let changed = new != self.config;
                match crate::alerts::Alerts::new(
                    &new.alerts,
                    &router_id(&new),
                    new.global.notify_timeout.get(),
                    Some(self.metrics.clone()),
                ) {
                    Ok(alerts) => self.alerts = alerts,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot rebuild alert sinks; keeping the previous ones")
                    }
                }
                self.services.update_from_config(&new);
                self.router_id = router_id(&new);
                apply_syslog(&new, &self.router_id, &self.metrics);
                self.config = new;
                self.reconcile_instances();
                self.sync_checks().await;
                self.ensure_dataplane().await;
                self.reloads_ok += 1;
                self.last_reload_errors.clear();
                self.metrics.config_reload(true);
                self.alerts.emit(crate::alerts::AlertEvent::ConfigReload {
                    ok: true,
                    errors: 0,
                });
                tracing::info!(
                    event = "config_reload",
                    result = "ok",
                    changed,
                    file = %self.config_path.display(),
                    "configuration reloaded: {}",
                    self.config.summary()
                );
            }
            Err(errors) => {
                self.reloads_failed += 1;
                self.last_reload_errors = errors.iter().map(|e| e.to_string()).collect();
                self.metrics.config_reload(false);
                self.alerts.emit(crate::alerts::AlertEvent::ConfigReload {
                    ok: false,
                    errors: errors.len(),
                });
                for e in errors.iter() {
                    tracing::error!(event = "config_reload", result = "error", "{e}");
                }
                tracing::error!(
                    event = "config_reload",
                    result = "rejected",
                    errors = errors.len(),
                    "configuration reload rejected; still running the previous configuration"
                );
            }
        }
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    }

    async fn status(&self) -> Status {
        let checks: HashMap<String, tandem_checkers::CheckStatus> = self
            .checks
            .statuses()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|(owner, status)| (owner.0, status))
            .collect();
        let mut status = Status {
            router_id: self.router_id.clone(),
            config_file: self.config_path.display().to_string(),
            reloads_ok: self.reloads_ok,
            reloads_failed: self.reloads_failed,
            last_reload_errors: self.last_reload_errors.clone(),
            dataplane: self.config.dataplane.to_string(),
            vrrp_instances: self.vrrp_status(),
            virtual_servers: self.services.status(&checks),
            ..Status::default()
        };
        self.dataplane_status(&mut status);
        status
    }
}

/// Turns the syslog sink on, off or re-points it. A sink that cannot open keeps the previous
/// one (or none): logging must never stop the director.
fn apply_syslog(config: &Config, router_id: &str, metrics: &crate::metrics::Metrics) {
    if let Err(e) = crate::logging::configure_syslog(
        config.alerts.syslog.as_ref(),
        router_id,
        Some(metrics.clone()),
    ) {
        tracing::error!(error = %e, "cannot open the syslog sink (alerts.syslog); keeping the previous syslog setting");
    }
}

/// How often to ping systemd's watchdog: twice per timeout, as sd_watchdog_enabled(3)
/// recommends, so one late ping does not trip it. Without a watchdog the timer never fires.
fn watchdog_ping_interval(timeout: Option<std::time::Duration>) -> std::time::Duration {
    match timeout {
        Some(t) => (t / 2).max(std::time::Duration::from_millis(1)),
        None => std::time::Duration::from_secs(3600),
    }
}

/// The configured router id, else the host name.
fn router_id(config: &Config) -> String {
    config.global.router_id.clone().unwrap_or_else(|| {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "tandem".to_string())
    })
}
