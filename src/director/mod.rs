//! The director: the one task that owns the desired state. Configuration, VRRP instances,
//! checkers and the control socket talk to it over channels; it decides and tells the
//! dataplane. Keeping every decision in one task means no locks and a total order of events.

pub mod services;
pub mod status;

use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot};

use crate::config::{self, Config};
use services::ServiceTable;
use status::{Status, VrrpInstanceStatus};

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
}

impl Director {
    pub fn new(config_path: PathBuf, config: Config) -> Self {
        let router_id = router_id(&config);
        let services = ServiceTable::from_config(&config);
        Director {
            config_path,
            config,
            router_id,
            services,
            reloads_ok: 0,
            reloads_failed: 0,
            last_reload_errors: Vec::new(),
        }
    }

    /// Runs until a Shutdown command arrives or every sender is gone.
    pub async fn run(mut self, mut commands: mpsc::Receiver<DirectorCommand>) {
        while let Some(command) = commands.recv().await {
            match command {
                DirectorCommand::Reload => self.reload(),
                DirectorCommand::Status(reply) => {
                    let _ = reply.send(self.status());
                }
                DirectorCommand::Shutdown => break,
            }
        }
        tracing::info!("director stopped");
    }

    /// SIGHUP: parse and validate the file again; a bad file changes nothing.
    fn reload(&mut self) {
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Reloading]);
        match config::load(&self.config_path) {
            Ok(new) => {
                let changed = new != self.config;
                self.services.update_from_config(&new);
                self.router_id = router_id(&new);
                self.config = new;
                self.reloads_ok += 1;
                self.last_reload_errors.clear();
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

    fn status(&self) -> Status {
        Status {
            router_id: self.router_id.clone(),
            config_file: self.config_path.display().to_string(),
            reloads_ok: self.reloads_ok,
            reloads_failed: self.reloads_failed,
            last_reload_errors: self.last_reload_errors.clone(),
            dataplane: self.config.dataplane.to_string(),
            vrrp_instances: self
                .config
                .vrrp_instances
                .iter()
                .map(|i| VrrpInstanceStatus {
                    name: i.name.value.clone(),
                    interface: i.interface.value.clone(),
                    vrid: u8::try_from(*i.vrid).unwrap_or(0),
                    version: u8::try_from(*i.version).unwrap_or(0),
                    state: "INIT".to_string(),
                    priority: u8::try_from(*i.priority).unwrap_or(0),
                    effective_priority: u8::try_from(*i.priority).unwrap_or(0),
                    advert_interval_ms: i.advert_interval.get().as_millis() as u64,
                    master_address: None,
                    virtual_addresses: i.virtual_addresses.iter().map(|a| a.to_string()).collect(),
                    sync_group: self
                        .config
                        .sync_groups
                        .iter()
                        .find(|g| g.instances.iter().any(|m| m.value == i.name.value))
                        .map(|g| g.name.value.clone()),
                    counters: Default::default(),
                })
                .collect(),
            virtual_servers: self.services.status(),
        }
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
