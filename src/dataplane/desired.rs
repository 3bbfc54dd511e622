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

#[cfg(test)]
mod tests {
    use super::*;

    fn table(on_failure: &str) -> ServiceTable {
        let yaml = format!(
            "virtual_servers:\n  - name: web\n    address: 10.0.0.100\n    port: 80\n    scheduler: wrr\n    on_failure: {on_failure}\n    persistence: 5m\n    sorry_server: 10.0.0.9:8080\n    quorum: 1\n    check: {{ type: tcp }}\n    real_servers:\n      - {{ address: 10.0.1.1, weight: 10, upper_threshold: 100, lower_threshold: 50 }}\n      - {{ address: 10.0.1.2, weight: 20 }}\n"
        );
        let config = crate::config::parse("t", &yaml).unwrap_or_else(|e| panic!("{e}"));
        ServiceTable::from_config(&config)
    }

    fn set_health(table: &mut ServiceTable, ups: [bool; 2]) {
        let service = &mut table.services[0];
        for (real, up) in service.reals.iter_mut().zip(ups) {
            real.health.up = up;
        }
        service.update_quorum();
    }

    fn dests(table: &ServiceTable) -> Vec<(String, u16, u32)> {
        let (state, owned) = desired_state(table);
        assert_eq!(owned.len(), 1);
        state.services[0]
            .destinations
            .iter()
            .map(|d| (d.addr.to_string(), d.port, d.weight))
            .collect()
    }

    #[test]
    fn healthy_service_has_its_weights_and_persistence() {
        let mut t = table("remove");
        set_health(&mut t, [true, true]);
        assert_eq!(
            dests(&t),
            [("10.0.1.1".into(), 80, 10), ("10.0.1.2".into(), 80, 20)]
        );
        let (state, _) = desired_state(&t);
        let service = &state.services[0].service;
        assert_eq!(service.scheduler, "wrr");
        assert!(service.flags.contains(ServiceFlags::PERSISTENT));
        assert_eq!(service.timeout, 300);
        assert_eq!(state.services[0].destinations[0].upper_threshold, 100);
        assert_eq!(state.services[0].destinations[0].lower_threshold, 50);
    }

    #[test]
    fn a_failed_real_is_removed_or_quiesced() {
        let mut t = table("remove");
        set_health(&mut t, [false, true]);
        assert_eq!(dests(&t), [("10.0.1.2".into(), 80, 20)]);
        let mut t = table("quiesce");
        set_health(&mut t, [false, true]);
        assert_eq!(
            dests(&t),
            [("10.0.1.1".into(), 80, 0), ("10.0.1.2".into(), 80, 20)]
        );
    }

    #[test]
    fn the_sorry_server_comes_with_lost_quorum_and_goes_when_it_returns() {
        let mut t = table("remove");
        set_health(&mut t, [false, false]);
        assert_eq!(dests(&t), [("10.0.0.9".into(), 8080, 1)]);
        set_health(&mut t, [true, false]);
        assert_eq!(dests(&t), [("10.0.1.1".into(), 80, 10)]);
    }
}
