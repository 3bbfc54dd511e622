//! Virtual services as the director sees them: configuration plus the live health of every
//! real server and each service's quorum. This is the "desired state" the dataplane applies.

use std::time::Duration;

use crate::config::{Check, Config, VirtualServer};

use super::status::{RealServerStatus, VirtualServerStatus};

/// Health of one real server as last decided by its checker (rise/fall already applied).
#[derive(Debug, Clone, PartialEq)]
pub struct RealHealth {
    pub up: bool,
    pub last_result: Option<String>,
    pub reason: Option<String>,
    pub latency: Option<Duration>,
    /// Weight set by an exec check with `dynamic_weight`.
    pub dynamic_weight: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct RealState {
    pub address: std::net::IpAddr,
    pub port: u16,
    pub weight: u32,
    /// The check in force (the real server's own, else the virtual server's).
    pub check: Option<Check>,
    pub health: RealHealth,
}

#[derive(Debug, Clone)]
pub struct ServiceState {
    pub config: VirtualServer,
    pub reals: Vec<RealState>,
    /// Quorum state with hysteresis (keepalived semantics).
    pub has_quorum: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ServiceTable {
    pub services: Vec<ServiceState>,
}

fn initial_health(check: Option<&Check>) -> RealHealth {
    // A real server without a check is always up, as in keepalived; with one it starts in the
    // check's initial state (default down until `rise` successes).
    let up = match check {
        None => true,
        Some(c) => c.initial_state == crate::config::InitialState::Up,
    };
    RealHealth {
        up,
        last_result: None,
        reason: if check.is_some() && !up {
            Some("waiting for first checks".into())
        } else {
            None
        },
        latency: None,
        dynamic_weight: None,
    }
}

impl ServiceState {
    fn from_config(vs: &VirtualServer) -> Self {
        let reals = vs
            .real_servers
            .iter()
            .map(|r| {
                let check = r.check.as_deref().or(vs.check.as_deref()).cloned();
                let port = r
                    .port
                    .as_ref()
                    .map(|p| p.value)
                    .or(vs.port.as_ref().map(|p| p.value))
                    .unwrap_or(0);
                RealState {
                    address: r.address.value,
                    port: u16::try_from(port).unwrap_or(0),
                    weight: *r.weight,
                    health: initial_health(check.as_ref()),
                    check,
                }
            })
            .collect();
        let mut state = ServiceState {
            config: vs.clone(),
            reals,
            has_quorum: false,
        };
        state.has_quorum = state.up_count() >= *state.config.quorum;
        state
    }

    pub fn up_count(&self) -> u32 {
        self.reals.iter().filter(|r| r.health.up).count() as u32
    }

    /// Re-evaluates quorum with hysteresis; returns Some(new) when it changed. Lost when fewer
    /// than `quorum - hysteresis` reals are up, regained at `quorum + hysteresis`.
    pub fn update_quorum(&mut self) -> Option<bool> {
        let up = self.up_count();
        let quorum = *self.config.quorum;
        let hysteresis = *self.config.hysteresis;
        let next = if self.has_quorum {
            up >= quorum.saturating_sub(hysteresis)
        } else {
            up >= quorum.saturating_add(hysteresis)
        };
        (next != self.has_quorum).then(|| {
            self.has_quorum = next;
            next
        })
    }

    pub fn service_label(&self) -> String {
        let c = &self.config;
        match (&c.address, &c.port, &c.fwmark) {
            (Some(a), Some(p), _) if a.is_ipv6() => {
                format!("[{}]:{}/{}", a.value, p.value, c.protocol.value)
            }
            (Some(a), Some(p), _) => format!("{}:{}/{}", a.value, p.value, c.protocol.value),
            (_, _, Some(m)) => format!("fwmark:{}", m.value),
            _ => "?".to_string(),
        }
    }
}

impl ServiceTable {
    pub fn from_config(config: &Config) -> Self {
        ServiceTable {
            services: config
                .virtual_servers
                .iter()
                .map(ServiceState::from_config)
                .collect(),
        }
    }

    /// Rebuilds from a new configuration, keeping the health of every real server whose
    /// identity (service name, address, port) and check are unchanged: a reload must not make
    /// healthy servers flap.
    pub fn update_from_config(&mut self, config: &Config) {
        let mut next = ServiceTable::from_config(config);
        for service in &mut next.services {
            let Some(old) = self
                .services
                .iter()
                .find(|s| s.config.name.value == service.config.name.value)
            else {
                continue;
            };
            for real in &mut service.reals {
                if let Some(prev) = old.reals.iter().find(|r| {
                    r.address == real.address && r.port == real.port && r.check == real.check
                }) {
                    real.health = prev.health.clone();
                }
            }
            service.has_quorum = old.has_quorum;
            service.update_quorum();
        }
        *self = next;
    }

    pub fn status(&self) -> Vec<VirtualServerStatus> {
        self.services
            .iter()
            .map(|s| VirtualServerStatus {
                name: s.config.name.value.clone(),
                service: s.service_label(),
                scheduler: s.config.scheduler.to_string(),
                forwarding: s.config.forwarding.to_string(),
                quorum: *s.config.quorum,
                up_real_servers: s.up_count(),
                has_quorum: s.has_quorum,
                sorry_server_active: !s.has_quorum && s.config.sorry_server.is_some(),
                real_servers: s
                    .reals
                    .iter()
                    .map(|r| RealServerStatus {
                        address: r.address.to_string(),
                        port: r.port,
                        weight: r.weight,
                        effective_weight: effective_weight(s, r),
                        state: if r.health.up { "up" } else { "down" }.to_string(),
                        check: r
                            .check
                            .as_ref()
                            .map(|c| c.kind.to_string())
                            .unwrap_or_else(|| "none".to_string()),
                        last_result: r.health.last_result.clone(),
                        reason: r.health.reason.clone(),
                        latency_ms: r.health.latency.map(|l| l.as_secs_f64() * 1000.0),
                        active_connections: None,
                        inactive_connections: None,
                    })
                    .collect(),
            })
            .collect()
    }
}

/// Weight the dataplane should use: the configured (or dynamic) weight when up, 0 when down
/// (quiesced or about to be removed).
pub fn effective_weight(_service: &ServiceState, real: &RealState) -> u32 {
    if real.health.up {
        real.health.dynamic_weight.unwrap_or(real.weight)
    } else {
        0
    }
}
