//! Pure diff from the desired IPVS table to the current one (sans-IO: no sockets, no
//! clock). The daemon has already decided membership and weights (health checks, quorum,
//! sorry server); this module only works out the fewest kernel operations that get there.
//!
//! Rules, and why:
//! - A service missing from the kernel gets NEW_SERVICE, then a NEW_DEST per destination
//!   (a destination cannot exist before its service).
//! - A service the kernel has but with different scheduler / flags / persistence / netmask /
//!   persistence engine gets SET_SERVICE: the kernel edits it in place
//!   (`ip_vs_edit_service`), keeping destinations, connections and counters.
//! - A destination whose weight, thresholds or forwarding method differ gets SET_DEST: the
//!   kernel's `__ip_vs_update_dest` rewrites weight, thresholds, forwarding flags and tunnel
//!   settings in place (rehashing if the method changed), so counters survive and no
//!   DEL+NEW is ever needed for a destination that keeps its address and port.
//! - Within a service, additions come before updates and removals, so a service whose real
//!   servers are all replaced is never momentarily empty.
//! - Removing a service is one DEL_SERVICE: the kernel unlinks its destinations itself
//!   (`ip_vs_del_service`), so no DEL_DEST precedes it. Services are removed first.
//! - Weight 0 (quiesce: existing connections continue, no new ones) is a SET_DEST; only a
//!   destination absent from the desired state is removed.
//! - Services neither desired nor owned are foreign (added by hand or by another tool) and
//!   are left alone unless [`ReconcileOptions::flush_foreign`] is set. A desired service
//!   takes over a foreign one with the same key.

use std::collections::{HashMap, HashSet};

use crate::daemon::SyncDaemon;
use crate::destination::{DestKey, Destination};
use crate::operation::Operation;
use crate::service::ServiceKey;
use crate::state::{IpvsState, VirtualService};

/// Knobs of [`reconcile`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcileOptions {
    /// Also delete services that are neither desired nor owned.
    pub flush_foreign: bool,
}

/// The desired state is inconsistent; nothing was computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReconcileError {
    #[error("service {0} is declared twice")]
    DuplicateService(ServiceKey),
    #[error("destination {dest} is declared twice in service {service}")]
    DuplicateDestination { service: ServiceKey, dest: DestKey },
}

/// Computes the ordered operations that turn `current` into `desired`.
///
/// `owned` holds the keys of services tandem manages (typically: every service it declared
/// before, so that removing one from the configuration deletes it). Desired services are
/// always treated as owned.
pub fn reconcile(
    desired: &IpvsState,
    current: &IpvsState,
    owned: &HashSet<ServiceKey>,
    options: &ReconcileOptions,
) -> Result<Vec<Operation>, ReconcileError> {
    let mut wanted: HashMap<ServiceKey, &VirtualService> = HashMap::new();
    for vs in &desired.services {
        if wanted.insert(vs.key(), vs).is_some() {
            return Err(ReconcileError::DuplicateService(vs.key()));
        }
        let mut seen = HashSet::new();
        for d in &vs.destinations {
            if !seen.insert(d.key()) {
                return Err(ReconcileError::DuplicateDestination {
                    service: vs.key(),
                    dest: d.key(),
                });
            }
        }
    }
    let existing: HashMap<ServiceKey, &VirtualService> =
        current.services.iter().map(|vs| (vs.key(), vs)).collect();

    let mut ops = Vec::new();
    for vs in &current.services {
        let key = vs.key();
        if !wanted.contains_key(&key) && (owned.contains(&key) || options.flush_foreign) {
            ops.push(Operation::DelService(key));
        }
    }
    for want in &desired.services {
        let key = want.key();
        match existing.get(&key) {
            None => {
                ops.push(Operation::NewService(strip_service(want)));
                ops.extend(want.destinations.iter().map(|d| Operation::NewDest {
                    service: key,
                    dest: strip_dest(d),
                }));
            }
            Some(have) => diff_service(want, have, &mut ops),
        }
    }
    Ok(ops)
}

fn diff_service(want: &VirtualService, have: &VirtualService, ops: &mut Vec<Operation>) {
    let key = want.key();
    if want.service.config_differs(&have.service) {
        ops.push(Operation::SetService(strip_service(want)));
    }
    let have_dests: HashMap<DestKey, &Destination> =
        have.destinations.iter().map(|d| (d.key(), d)).collect();
    let want_keys: HashSet<DestKey> = want.destinations.iter().map(Destination::key).collect();
    let mut updates = Vec::new();
    for d in &want.destinations {
        match have_dests.get(&d.key()) {
            None => ops.push(Operation::NewDest {
                service: key,
                dest: strip_dest(d),
            }),
            Some(h) if d.config_differs(h) => updates.push(Operation::SetDest {
                service: key,
                dest: strip_dest(d),
            }),
            Some(_) => {}
        }
    }
    ops.extend(updates);
    ops.extend(
        have.destinations
            .iter()
            .filter(|d| !want_keys.contains(&d.key()))
            .map(|d| Operation::DelDest {
                service: key,
                dest: d.key(),
            }),
    );
}

/// Read-back fields (stats) are not part of a request; dropping them keeps operations
/// comparable in tests and logs.
fn strip_service(vs: &VirtualService) -> crate::service::Service {
    let mut s = vs.service.clone();
    s.stats = None;
    s
}

fn strip_dest(d: &Destination) -> Destination {
    let mut d = d.clone();
    d.stats = None;
    d.active_conns = 0;
    d.inactive_conns = 0;
    d.persistent_conns = 0;
    d
}

/// Operations that make the running sync daemons match `desired` (at most one master and one
/// backup: the kernel keys daemons by state). A daemon whose settings differ is restarted
/// (DEL then NEW): the kernel has no in-place edit for daemons. Stops come first, so a
/// director turning from backup to master never runs two of a kind.
pub fn reconcile_daemons(desired: &[SyncDaemon], running: &[SyncDaemon]) -> Vec<Operation> {
    let mut stops = Vec::new();
    let mut starts = Vec::new();
    for have in running {
        match desired.iter().find(|d| d.state == have.state) {
            Some(want) if want.satisfied_by(have) => {}
            _ => stops.push(Operation::DelDaemon(have.state)),
        }
    }
    for want in desired {
        let satisfied = running.iter().any(|have| want.satisfied_by(have));
        if !satisfied {
            starts.push(Operation::NewDaemon(want.clone()));
        }
    }
    stops.extend(starts);
    stops
}
