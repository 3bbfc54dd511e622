//! A whole IPVS table: services with their destinations. Used both for the desired state
//! (built by the caller) and for the current state (dumped from the kernel).

use crate::destination::Destination;
use crate::service::{Service, ServiceKey};

/// A virtual service together with its real servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualService {
    pub service: Service,
    pub destinations: Vec<Destination>,
}

impl VirtualService {
    pub fn new(service: Service, destinations: Vec<Destination>) -> Self {
        VirtualService {
            service,
            destinations,
        }
    }

    pub fn key(&self) -> ServiceKey {
        self.service.key
    }
}

/// An IPVS table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpvsState {
    pub services: Vec<VirtualService>,
}

impl IpvsState {
    pub fn new(services: Vec<VirtualService>) -> Self {
        IpvsState { services }
    }

    pub fn get(&self, key: &ServiceKey) -> Option<&VirtualService> {
        self.services.iter().find(|vs| vs.service.key == *key)
    }

    /// Number of destinations across all services.
    pub fn destination_count(&self) -> usize {
        self.services.iter().map(|vs| vs.destinations.len()).sum()
    }
}
