//! The director's side of VRRP: starting and stopping instance tasks, turning link and service
//! state into tracking commands (priority, fault), sync groups, and reporting transitions.

use std::collections::BTreeMap;

use tandem_vrrp::State;

use super::status::VrrpInstanceStatus;
use super::{Director, TrackingSent};
use crate::vrrp::links::LinkChange;
use crate::vrrp::{self, InstanceCommand, Transition, tracking};
use tandem_vrrp::TransitionReason;

/// The reason field of alerts: RFC 6527 `vrrpv3NewMasterReason` words when becoming master,
/// else the transition's own wording. A peer that released (priority 0: stopped cleanly) is
/// told apart from one that went silent (crashed, cut off); SNMP reports both as
/// masterNoResponse(3), the nearest RFC 6527 reason.
fn alert_reason(t: &Transition) -> String {
    if t.to != State::Master {
        return t.reason.to_string();
    }
    match t.reason {
        TransitionReason::AddressOwner => "priority".into(),
        TransitionReason::PreemptDelayExpired => "preempted".into(),
        TransitionReason::MasterDownTimer => "master_no_response".into(),
        TransitionReason::MasterReleased => "master_released".into(),
        _ => t.reason.to_string(),
    }
}

/// The new priority when `running`'s configuration changed in nothing else. Becoming or
/// ceasing to be the address owner (255) changes the protocol rules (RFC 5798 §6.4.1), so
/// it restarts the instance.
fn priority_only_change(running: &vrrp::InstanceSpec, wanted: &[vrrp::InstanceSpec]) -> Option<u8> {
    let new = wanted.iter().find(|w| w.name == running.name)?;
    let owner = 255; // RFC 5798 §5.2.4: the address owner's priority
    if new.priority == running.priority || new.priority == owner || running.priority == owner {
        return None;
    }
    let same_otherwise = vrrp::InstanceSpec {
        priority: running.priority,
        ..new.clone()
    } == *running;
    same_otherwise.then_some(new.priority)
}

impl Director {
    pub(super) fn start_instances(&mut self) {
        for spec in vrrp::specs(&self.config) {
            self.instances
                .push(vrrp::spawn(spec, self.transitions_tx.clone()));
        }
        self.recompute_tracking();
    }

    /// Daemon shutdown: stops every instance (a master sends priority 0 and removes its
    /// VIPs), then handles their last transitions (→ INIT), which arrive after the director's
    /// loop has ended: logged, and their `stop` notify commands run to completion (bounded by
    /// `notify_timeout`). Queued on the notifier they would never run, or be killed with the
    /// runtime as the daemon exits.
    pub(super) async fn stop_instances(&mut self) {
        let stops: Vec<_> = self.instances.drain(..).map(|h| h.shutdown()).collect();
        futures::future::join_all(stops).await;
        let mut stops = Vec::new();
        while let Ok(report) = self.transitions_rx.try_recv() {
            let vrrp::InstanceReport::Transition(t) = report else {
                continue;
            };
            let event = self.transition_event(&t);
            self.alerts.emit(event.clone());
            if let Some(argv) = self.vrrp_notify_argv(&t) {
                stops.push((argv, event));
            }
        }
        let alerts = &self.alerts;
        futures::future::join_all(
            stops
                .iter()
                .map(|(argv, event)| alerts.run_hook_now(argv, event)),
        )
        .await;
    }

    /// After a reload: instances whose parameters are unchanged keep running untouched (no
    /// flap). A new priority is applied in place, like tracking does, so lowering it on the
    /// master moves the addresses to the peer in one clean preemption (restarting the
    /// instance would release them, then take them back: two failovers). Otherwise changed
    /// or removed instances are stopped (releasing their VIPs), new ones started.
    pub(super) fn reconcile_instances(&mut self) {
        let wanted = vrrp::specs(&self.config);
        let mut keep = Vec::new();
        for mut handle in self.instances.drain(..) {
            if wanted.contains(&handle.spec) {
                keep.push(handle);
            } else if let Some(priority) = priority_only_change(&handle.spec, &wanted) {
                tracing::info!(instance = %handle.spec.name, vrid = handle.spec.vrid, from = handle.spec.priority, to = priority, "VRRP priority changed by reload; applied in place");
                handle.spec.priority = priority;
                keep.push(handle);
            } else {
                tracing::info!(instance = %handle.spec.name, "VRRP instance changed or removed by reload; stopping it");
                self.tracking_sent.remove(&handle.spec.name);
                self.wants_master.remove(&handle.spec.name);
                self.vrrp_states.remove(&handle.spec.name);
                tokio::spawn(handle.shutdown());
            }
        }
        for spec in wanted {
            if !keep.iter().any(|h| h.spec == spec) {
                tracing::info!(instance = %spec.name, "starting VRRP instance");
                keep.push(vrrp::spawn(spec, self.transitions_tx.clone()));
            }
        }
        self.instances = keep;
        self.recompute_tracking();
    }

    pub(super) fn on_link_change(&mut self, change: LinkChange) {
        let previous = self.links.insert(change.ifname.clone(), change.up);
        if previous != Some(change.up) {
            let tracked = self.config.vrrp_instances.iter().any(|i| {
                i.interface.value == change.ifname
                    || i.track_interfaces
                        .iter()
                        .any(|t| t.name.value == change.ifname)
            });
            if tracked && previous.is_some() {
                tracing::info!(event = "link", interface = %change.ifname, up = change.up, "tracked interface changed state");
            }
            self.recompute_tracking();
        }
    }

    /// Whether an interface is known to be down (unknown = not down: never fault an instance
    /// on missing information).
    fn link_down(&self, ifname: &str) -> bool {
        self.links.get(ifname) == Some(&false)
    }

    /// Failed tracked objects' weights of one instance.
    fn failed_weights(&self, name: &str) -> Vec<i32> {
        let Some(cfg) = self
            .config
            .vrrp_instances
            .iter()
            .find(|i| i.name.value == name)
        else {
            return Vec::new();
        };
        let mut weights: Vec<i32> = cfg
            .track_interfaces
            .iter()
            .filter(|t| self.link_down(&t.name))
            .map(|t| *t.weight)
            .collect();
        for t in &cfg.track_services {
            let lost = self
                .services
                .services
                .iter()
                .any(|s| s.config.name.value == t.name.value && !s.has_quorum);
            if lost {
                weights.push(*t.weight);
            }
        }
        weights
    }

    /// An instance's own fault: its interface is down or a weight-0 tracked object failed.
    fn own_fault(&self, name: &str) -> bool {
        let Some(cfg) = self
            .config
            .vrrp_instances
            .iter()
            .find(|i| i.name.value == name)
        else {
            return false;
        };
        self.link_down(&cfg.interface) || tracking::faulted(self.failed_weights(name))
    }

    /// Recomputes every instance's link, fault and priority and sends what changed.
    pub(super) fn recompute_tracking(&mut self) {
        let mut commands = Vec::new();
        for handle in &self.instances {
            let name = &handle.spec.name;
            let weights = self.failed_weights(name);
            let group_fault = self.group_mates(name).any(|m| self.own_fault(m));
            let wanted = TrackingSent {
                link_up: self.links.get(&handle.spec.interface).copied(),
                fault: Some(tracking::faulted(weights.iter().copied()) || group_fault),
                priority: Some(tracking::effective_priority(
                    handle.spec.priority,
                    weights.iter().copied().filter(|w| *w != 0),
                )),
                sync_hold: Some(self.sync_group_holds(name)),
            };
            let sent = self
                .tracking_sent
                .get(name)
                .cloned()
                .unwrap_or(TrackingSent {
                    link_up: None,
                    fault: Some(false),
                    priority: Some(handle.spec.priority),
                    sync_hold: Some(false),
                });
            if wanted.link_up.is_some() && wanted.link_up != sent.link_up {
                // The first report of an up link is not news to an instance that assumed it.
                if !(sent.link_up.is_none() && wanted.link_up == Some(true)) {
                    commands.push((
                        handle.commands.clone(),
                        InstanceCommand::Link(wanted.link_up == Some(true)),
                    ));
                }
            }
            if wanted.fault != sent.fault {
                commands.push((
                    handle.commands.clone(),
                    InstanceCommand::TrackFault(wanted.fault == Some(true)),
                ));
            }
            if wanted.sync_hold != sent.sync_hold {
                let held = wanted.sync_hold == Some(true);
                tracing::debug!(instance = %name, vrid = handle.spec.vrid, held, "sync group gate");
                commands.push((
                    handle.commands.clone(),
                    InstanceCommand::SyncGroupHold(held),
                ));
            }
            if wanted.priority != sent.priority
                && let Some(p) = wanted.priority
            {
                tracing::info!(instance = %name, vrid = handle.spec.vrid, priority = p, configured = handle.spec.priority, "tracking changed the effective priority");
                commands.push((handle.commands.clone(), InstanceCommand::Priority(p)));
            }
            self.tracking_sent.insert(name.clone(), wanted);
        }
        for (tx, command) in commands {
            if let Err(e) = tx.try_send(command) {
                tracing::error!(error = %e, "VRRP instance command queue full or closed");
            }
        }
    }

    /// Sync groups move together (keepalived's `vrrp_sync_group`): a member may leave Backup
    /// for Master only when every other member of its group is Master or would be (its own
    /// timer ran out). Otherwise it is held: a backup that stops hearing one member's
    /// adverts (a partial network failure) keeps the whole group where it is instead of
    /// splitting it, and a group takes over, or preempts back, as a whole. A member's own
    /// fault still sends the others to FAULT (`own_fault`).
    fn sync_group_holds(&self, name: &str) -> bool {
        self.group_mates(name).any(|m| {
            let master = self.vrrp_states.get(m) == Some(&State::Master);
            !master && !self.wants_master.contains(m)
        })
    }

    /// The other members of `name`'s sync group (none when it is in no group).
    fn group_mates<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.config
            .sync_groups
            .iter()
            .filter(move |g| g.instances.iter().any(|m| m.value == name))
            .flat_map(|g| g.instances.iter())
            .map(|m| m.value.as_str())
            .filter(move |m| *m != name)
    }

    pub(super) fn on_wants_master(&mut self, instance: String, wants: bool) {
        let changed = if wants {
            self.wants_master.insert(instance.clone())
        } else {
            self.wants_master.remove(&instance)
        };
        if changed {
            tracing::info!(instance = %instance, wants, "sync group member {} master", if wants { "is ready to become" } else { "no longer wants to become" });
            self.recompute_tracking();
        }
    }

    pub(super) fn on_transition(&mut self, t: Transition) {
        // A transition ends any pending wish; the group's gate depends on the new state.
        self.wants_master.remove(&t.instance);
        self.vrrp_states.insert(t.instance.clone(), t.to);
        // Its group mates' gate and group fault follow this member's state.
        if self.group_mates(&t.instance).next().is_some() {
            self.recompute_tracking();
        }
        let event = self.transition_event(&t);
        self.metrics.vrrp_transition(
            &t.instance,
            crate::metrics::VrrpStateValue::from_name(&t.to.to_string()),
        );
        self.alerts.emit(event.clone());
        if let Some(argv) = self.vrrp_notify_argv(&t) {
            let _ = self.alerts.run_hook(&argv, &event);
        }
    }

    /// The alert (log line, SNMP traps, notify environment) of a transition.
    fn transition_event(&self, t: &Transition) -> crate::alerts::AlertEvent {
        crate::alerts::AlertEvent::VrrpTransition {
            instance: t.instance.clone(),
            vrid: t.vrid,
            version: t.version,
            from: t.from.to_string(),
            to: t.to.to_string(),
            priority: t.priority,
            master_address: t.master,
            reason: alert_reason(t),
            if_index: self
                .config
                .vrrp_instances
                .iter()
                .find(|i| i.name.value == t.instance)
                .and_then(|i| nix::net::if_::if_nametoindex(i.interface.value.as_str()).ok())
                .unwrap_or(0),
        }
    }

    /// The notify command configured for `t`'s new state.
    fn vrrp_notify_argv(&self, t: &Transition) -> Option<Vec<String>> {
        let cfg = self
            .config
            .vrrp_instances
            .iter()
            .find(|i| i.name.value == t.instance)?;
        let argv = match t.to {
            State::Master => cfg.notify.master.as_ref(),
            State::Backup => cfg.notify.backup.as_ref(),
            State::Fault => cfg.notify.fault.as_ref(),
            State::Initialize => cfg.notify.stop.as_ref(),
            _ => None,
        }?;
        Some(argv.value.clone())
    }

    /// Pushes the VRRP counters' growth since the last tick to the metrics.
    pub(super) fn update_vrrp_metrics(&mut self) {
        for handle in &self.instances {
            let Some(snap) = handle.snapshot() else {
                continue;
            };
            let name = &handle.spec.name;
            let previous = self.metrics_counters.get(name).copied().unwrap_or_default();
            let now = snap.counters;
            self.metrics.vrrp_adverts_add(
                name,
                now.adverts_sent.saturating_sub(previous.adverts_sent),
                now.adverts_received
                    .saturating_sub(previous.adverts_received),
            );
            // entries(): the first five are traffic counters, the rest drop reasons.
            for ((reason, value), (_, before)) in
                now.entries().iter().zip(previous.entries()).skip(5)
            {
                self.metrics
                    .vrrp_packets_dropped_add(name, reason, value.saturating_sub(before));
            }
            self.metrics.set_vrrp_state(
                name,
                crate::metrics::VrrpStateValue::from_name(&snap.state.to_string()),
            );
            self.metrics_counters.insert(name.clone(), now);
        }
    }

    pub(super) fn vrrp_status(&self) -> Vec<VrrpInstanceStatus> {
        self.config
            .vrrp_instances
            .iter()
            .map(|cfg| {
                let handle = self
                    .instances
                    .iter()
                    .find(|h| h.spec.name == cfg.name.value);
                let snap = handle.and_then(|h| h.snapshot());
                let mut counters = BTreeMap::new();
                if let Some(s) = &snap {
                    for (name, value) in s.counters.entries() {
                        counters.insert(name.to_string(), value);
                    }
                    counters.insert("packets_dropped".into(), s.counters.dropped());
                }
                let priority = u8::try_from(*cfg.priority).unwrap_or(0);
                VrrpInstanceStatus {
                    name: cfg.name.value.clone(),
                    interface: cfg.interface.value.clone(),
                    vrid: u8::try_from(*cfg.vrid).unwrap_or(0),
                    version: u8::try_from(*cfg.version).unwrap_or(0),
                    state: snap
                        .as_ref()
                        .map(|s| s.state.to_string())
                        .unwrap_or_else(|| "INIT".into()),
                    priority,
                    effective_priority: snap
                        .as_ref()
                        .map(|s| s.effective_priority)
                        .unwrap_or(priority),
                    advert_interval_ms: cfg.advert_interval.get().as_millis() as u64,
                    master_address: snap
                        .as_ref()
                        .and_then(|s| {
                            if s.state == State::Master {
                                s.primary
                            } else {
                                s.master
                            }
                        })
                        .map(|a| a.to_string()),
                    virtual_addresses: cfg
                        .virtual_addresses
                        .iter()
                        .map(|a| a.to_string())
                        .collect(),
                    sync_group: self
                        .config
                        .sync_groups
                        .iter()
                        .find(|g| g.instances.iter().any(|m| m.value == cfg.name.value))
                        .map(|g| g.name.value.clone()),
                    counters,
                    error: snap.and_then(|s| s.error),
                }
            })
            .collect()
    }
}
