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
    /// Identity of this real server's check in the scheduler: `service/address:port`.
    pub owner: String,
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
    /// owner id → (service index, real index), rebuilt with the table.
    index: std::collections::HashMap<String, (usize, usize)>,
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

/// The scheduler owner id of a real server's check.
pub fn owner_id(service: &str, address: std::net::IpAddr, port: u32) -> String {
    match address {
        std::net::IpAddr::V6(a) => format!("{service}/[{a}]:{port}"),
        a => format!("{service}/{a}:{port}"),
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
                    owner: owner_id(&vs.name.value, r.address.value, port),
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
        let services: Vec<ServiceState> = config
            .virtual_servers
            .iter()
            .map(ServiceState::from_config)
            .collect();
        let mut index = std::collections::HashMap::new();
        for (si, s) in services.iter().enumerate() {
            for (ri, r) in s.reals.iter().enumerate() {
                index.insert(r.owner.clone(), (si, ri));
            }
        }
        ServiceTable { services, index }
    }

    /// The service and real server a check owner id belongs to.
    pub fn locate(&mut self, owner: &str) -> Option<(&mut ServiceState, usize)> {
        let (si, ri) = *self.index.get(owner)?;
        self.services.get_mut(si).map(|s| (s, ri))
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

    /// Status of every service; `checks` holds the scheduler's view of each check (last probe
    /// result even when it changed nothing), keyed by owner id.
    pub fn status(
        &self,
        checks: &std::collections::HashMap<String, tandem_checkers::CheckStatus>,
    ) -> Vec<VirtualServerStatus> {
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
                    .map(|r| {
                        let last = checks.get(&r.owner).and_then(|c| c.last.as_ref());
                        let (last_result, reason, latency_ms) = match last {
                            Some(result) => match &result.outcome {
                                tandem_checkers::Outcome::Down(f) => (
                                    Some("down".to_string()),
                                    Some(f.to_string()),
                                    Some(result.latency.as_secs_f64() * 1000.0),
                                ),
                                _ => (
                                    Some("up".to_string()),
                                    None,
                                    Some(result.latency.as_secs_f64() * 1000.0),
                                ),
                            },
                            None => (
                                r.health.last_result.clone(),
                                r.health.reason.clone(),
                                r.health.latency.map(|l| l.as_secs_f64() * 1000.0),
                            ),
                        };
                        RealServerStatus {
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
                            last_result,
                            reason,
                            latency_ms,
                            active_connections: None,
                            inactive_connections: None,
                        }
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
