//! The director's side of the dataplane: when the desired IPVS table changes (configuration,
//! health, quorum) or VRRP changes role (sync daemon), hand the newest desired state over.

use tandem_ipvs::{DaemonState, SyncDaemon};
use tandem_vrrp::State;

use super::Director;
use crate::config::{Dataplane, OnShutdown};
use crate::dataplane::desired::{desired_state, dest_id, service_key};
use crate::dataplane::ipvs::{Desired, IpvsDataplane};
use crate::director::status::Status;

impl Director {
    /// Starts or stops the IPVS thread to match `dataplane:` in the configuration.
    pub(super) async fn ensure_dataplane(&mut self) {
        let want_ipvs = *self.config.dataplane == Dataplane::Ipvs;
        if want_ipvs && self.ipvs.is_none() {
            match IpvsDataplane::start(
                self.config.ipvs.reconcile_interval.get(),
                self.metrics.clone(),
            ) {
                Ok(d) => self.ipvs = Some(d),
                Err(e) => {
                    tracing::error!(event = "dataplane", error = %e, "cannot start the IPVS dataplane thread")
                }
            }
        } else if !want_ipvs && let Some(d) = self.ipvs.take() {
            tracing::info!(
                event = "dataplane",
                "dataplane changed from ipvs: leaving the kernel table as it is"
            );
            d.shutdown(false).await;
        }
        self.push_dataplane();
    }

    /// Sends the current desired state to the dataplane (coalesced there).
    pub(super) fn push_dataplane(&self) {
        let Some(ipvs) = &self.ipvs else {
            return;
        };
        let (state, owned) = desired_state(&self.services);
        let (daemons, manage_daemons) = match &self.config.ipvs.sync_daemon {
            Some(sync) => {
                let role = if self.follows_master(&sync.follow) {
                    DaemonState::Master
                } else {
                    DaemonState::Backup
                };
                (
                    vec![SyncDaemon::new(
                        role,
                        sync.interface.value.clone(),
                        *sync.sync_id,
                    )],
                    true,
                )
            }
            None => (Vec::new(), false),
        };
        ipvs.apply(Desired {
            state,
            owned,
            flush_foreign: self.config.ipvs.flush_foreign,
            daemons,
            manage_daemons,
        });
    }

    /// Whether the VRRP instance, or every member of the sync group, named `name` is MASTER.
    fn follows_master(&self, name: &str) -> bool {
        let members: Vec<&str> = match self
            .config
            .sync_groups
            .iter()
            .find(|g| g.name.value == name)
        {
            Some(group) => group.instances.iter().map(|m| m.value.as_str()).collect(),
            None => vec![name],
        };
        !members.is_empty()
            && members.iter().all(|m| {
                self.instances
                    .iter()
                    .find(|h| h.spec.name == *m)
                    .and_then(|h| h.snapshot())
                    .is_some_and(|s| s.state == State::Master)
            })
    }

    pub(super) async fn stop_dataplane(&mut self) {
        if let Some(d) = self.ipvs.take() {
            d.shutdown(self.config.ipvs.on_shutdown == OnShutdown::Remove)
                .await;
        }
    }

    /// Adds the kernel's view (connections, errors) to a status report.
    pub(super) fn dataplane_status(&self, status: &mut Status) {
        let Some(ipvs) = &self.ipvs else {
            return;
        };
        let Ok(dp) = ipvs.status.lock().map(|s| s.clone()) else {
            return;
        };
        status.dataplane_connected = Some(dp.connected);
        status.dataplane_error = dp.last_error.clone();
        status.dataplane_operations = Some(dp.operations_ok);
        for (vs_status, service) in status
            .virtual_servers
            .iter_mut()
            .zip(&self.services.services)
        {
            let Some(key) = service_key(&service.config) else {
                continue;
            };
            for real in &mut vs_status.real_servers {
                let Ok(addr) = real.address.parse() else {
                    continue;
                };
                if let Some((active, inactive)) =
                    dp.connections.get(&dest_id(&key, addr, real.port))
                {
                    real.active_connections = Some(u64::from(*active));
                    real.inactive_connections = Some(u64::from(*inactive));
                }
            }
        }
    }
}
