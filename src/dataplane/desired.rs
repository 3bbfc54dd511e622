//! The desired IPVS table, computed from the director's services: configuration plus the
//! health of each real server and each service's quorum. Pure: tested without a kernel.

use std::collections::HashSet;
use std::net::IpAddr;

use tandem_ipvs::{
    Destination, ForwardMethod, IpFamily, IpvsState, Protocol, Service, ServiceFlags, ServiceKey,
    VirtualService,
};

use crate::config::{self, Family, Forwarding, OnFailure};
use crate::director::services::{ServiceState, ServiceTable, effective_weight};

/// The kernel key of a configured virtual service (None for an incomplete one, which
/// validation rejects).
pub fn service_key(vs: &config::VirtualServer) -> Option<ServiceKey> {
    match (&vs.address, &vs.port, &vs.fwmark) {
        (Some(addr), Some(port), None) => Some(ServiceKey::Inet {
            protocol: match *vs.protocol {
                config::Protocol::Udp => Protocol::Udp,
                config::Protocol::Sctp => Protocol::Sctp,
                _ => Protocol::Tcp,
            },
            addr: addr.value,
            port: u16::try_from(port.value).ok()?,
        }),
        (None, None, Some(mark)) => {
            let family = match vs.family.as_ref().map(|f| f.value) {
                Some(Family::Inet6) => IpFamily::V6,
                _ => IpFamily::V4,
            };
            Some(ServiceKey::fwmark(family, mark.value))
        }
        _ => None,
    }
}

fn forward(method: Forwarding) -> ForwardMethod {
    match method {
        Forwarding::Nat => ForwardMethod::Masquerade,
        Forwarding::Tun => ForwardMethod::TUNNEL_IPIP,
        _ => ForwardMethod::DirectRoute,
    }
}

/// One service's kernel entry and destinations.
pub fn virtual_service(state: &ServiceState) -> Option<VirtualService> {
    let cfg = &state.config;
    let key = service_key(cfg)?;
    let mut service = Service::new(key, cfg.scheduler.as_str());
    let persistence = cfg.persistence.get().as_secs();
    if persistence > 0 {
        service.flags = ServiceFlags::PERSISTENT;
        service.timeout = u32::try_from(persistence).unwrap_or(u32::MAX);
    }
    let method = forward(cfg.forwarding);
    let mut destinations = Vec::new();
    // `reals` were built from `real_servers` in order: zip pairs each with its configuration.
    for (real, real_cfg) in state.reals.iter().zip(&cfg.real_servers) {
        if !real.health.up && cfg.on_failure == OnFailure::Remove {
            continue;
        }
        let mut d = Destination::new(
            real.address,
            real.port,
            method,
            effective_weight(state, real),
        );
        d.upper_threshold = real_cfg.upper_threshold;
        d.lower_threshold = real_cfg.lower_threshold;
        destinations.push(d);
    }
    if !state.has_quorum
        && let Some(sorry) = &cfg.sorry_server
    {
        let port = sorry
            .port
            .or(cfg.port.as_ref().and_then(|p| u16::try_from(p.value).ok()))
            .unwrap_or(0);
        let duplicate = destinations
            .iter()
            .any(|d| d.addr == sorry.addr && d.port == port);
        if !duplicate {
            destinations.push(Destination::new(sorry.addr, port, method, 1));
        }
    }
    Some(VirtualService::new(service, destinations))
}

/// The desired table and the keys tandem declares (owns).
pub fn desired_state(services: &ServiceTable) -> (IpvsState, HashSet<ServiceKey>) {
    let services: Vec<VirtualService> = services
        .services
        .iter()
        .filter_map(virtual_service)
        .collect();
    let owned = services.iter().map(|s| s.key()).collect();
    (IpvsState::new(services), owned)
}

/// Address of a destination as shown in status (for matching kernel counters).
pub fn dest_id(key: &ServiceKey, addr: IpAddr, port: u16) -> String {
    format!("{key:?}/{addr}/{port}")
}
