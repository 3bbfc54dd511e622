//! One change to the kernel's IPVS table, as produced by [`crate::reconcile()`] and executed
//! by [`crate::IpvsClient::apply`].

use crate::config::Timeouts;
use crate::constants::{IP_VS_IFNAME_MAXLEN, IP_VS_SCHEDNAME_MAXLEN};
use crate::daemon::{DaemonAttr, DaemonState, SyncDaemon};
use crate::destination::{DestKey, Destination};
use crate::message::{IpvsAttr, IpvsCmd, IpvsMessage};
use crate::service::{Service, ServiceKey};

/// A single IPVS request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    NewService(Service),
    /// Changes scheduler, flags, timeout, netmask or persistence engine in place (the
    /// kernel keeps the service's destinations, connections and counters).
    SetService(Service),
    /// Removes a service and, in the kernel, all its destinations.
    DelService(ServiceKey),
    NewDest {
        service: ServiceKey,
        dest: Destination,
    },
    /// Changes weight, thresholds or forwarding in place; counters survive.
    SetDest {
        service: ServiceKey,
        dest: Destination,
    },
    DelDest {
        service: ServiceKey,
        dest: DestKey,
    },
    /// Removes every service (`ipvsadm -C`).
    Flush,
    /// Zeroes the counters of one service, or of all services with `None`.
    Zero(Option<ServiceKey>),
    NewDaemon(SyncDaemon),
    DelDaemon(DaemonState),
    /// Sets connection timeouts; zero fields are left unchanged by the kernel.
    SetTimeouts(Timeouts),
}

impl Operation {
    /// Checks what the kernel's attribute policy would reject and what would not fit a
    /// netlink attribute: names longer than 15 bytes (`IP_VS_SCHEDNAME_MAXLEN` /
    /// `IP_VS_IFNAME_MAXLEN` including the NUL) or containing NUL.
    pub fn validate(&self) -> Result<(), String> {
        fn name(what: &str, value: &str, max: usize) -> Result<(), String> {
            if value.len() >= max || value.contains('\0') {
                Err(format!(
                    "{what} {value:?} must be under {max} bytes without NUL"
                ))
            } else {
                Ok(())
            }
        }
        match self {
            Operation::NewService(s) | Operation::SetService(s) => {
                name("scheduler", &s.scheduler, IP_VS_SCHEDNAME_MAXLEN)?;
                if let Some(pe) = &s.pe_name {
                    name("persistence engine", pe, IP_VS_SCHEDNAME_MAXLEN)?;
                }
                Ok(())
            }
            Operation::NewDaemon(d) => name("sync interface", &d.interface, IP_VS_IFNAME_MAXLEN),
            _ => Ok(()),
        }
    }

    /// The request message for this operation.
    pub fn to_message(&self) -> IpvsMessage {
        match self {
            Operation::NewService(s) => {
                IpvsMessage::new(IpvsCmd::NewService, vec![IpvsAttr::Service(s.to_attrs())])
            }
            Operation::SetService(s) => {
                IpvsMessage::new(IpvsCmd::SetService, vec![IpvsAttr::Service(s.to_attrs())])
            }
            Operation::DelService(k) => {
                IpvsMessage::new(IpvsCmd::DelService, vec![IpvsAttr::Service(k.to_attrs())])
            }
            Operation::NewDest { service, dest } => IpvsMessage::new(
                IpvsCmd::NewDest,
                vec![
                    IpvsAttr::Service(service.to_attrs()),
                    IpvsAttr::Dest(dest.to_attrs()),
                ],
            ),
            Operation::SetDest { service, dest } => IpvsMessage::new(
                IpvsCmd::SetDest,
                vec![
                    IpvsAttr::Service(service.to_attrs()),
                    IpvsAttr::Dest(dest.to_attrs()),
                ],
            ),
            Operation::DelDest { service, dest } => IpvsMessage::new(
                IpvsCmd::DelDest,
                vec![
                    IpvsAttr::Service(service.to_attrs()),
                    IpvsAttr::Dest(Destination::key_attrs(dest)),
                ],
            ),
            Operation::Flush => IpvsMessage::new(IpvsCmd::Flush, vec![]),
            Operation::Zero(None) => IpvsMessage::new(IpvsCmd::Zero, vec![]),
            Operation::Zero(Some(k)) => {
                IpvsMessage::new(IpvsCmd::Zero, vec![IpvsAttr::Service(k.to_attrs())])
            }
            Operation::NewDaemon(d) => {
                IpvsMessage::new(IpvsCmd::NewDaemon, vec![IpvsAttr::Daemon(d.to_attrs())])
            }
            Operation::DelDaemon(state) => IpvsMessage::new(
                IpvsCmd::DelDaemon,
                vec![IpvsAttr::Daemon(vec![DaemonAttr::State(state.number())])],
            ),
            Operation::SetTimeouts(t) => IpvsMessage::new(
                IpvsCmd::SetConfig,
                vec![
                    IpvsAttr::TimeoutTcp(t.tcp),
                    IpvsAttr::TimeoutTcpFin(t.tcp_fin),
                    IpvsAttr::TimeoutUdp(t.udp),
                ],
            ),
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Operation::NewService(s) => write!(f, "NEW_SERVICE {} {}", s.key, s.scheduler),
            Operation::SetService(s) => write!(f, "SET_SERVICE {} {}", s.key, s.scheduler),
            Operation::DelService(k) => write!(f, "DEL_SERVICE {k}"),
            Operation::NewDest { service, dest } => {
                write!(
                    f,
                    "NEW_DEST {service} -> {} weight {}",
                    dest.key(),
                    dest.weight
                )
            }
            Operation::SetDest { service, dest } => {
                write!(
                    f,
                    "SET_DEST {service} -> {} weight {}",
                    dest.key(),
                    dest.weight
                )
            }
            Operation::DelDest { service, dest } => write!(f, "DEL_DEST {service} -> {dest}"),
            Operation::Flush => write!(f, "FLUSH"),
            Operation::Zero(None) => write!(f, "ZERO"),
            Operation::Zero(Some(k)) => write!(f, "ZERO {k}"),
            Operation::NewDaemon(d) => write!(
                f,
                "NEW_DAEMON {:?} {} syncid {}",
                d.state, d.interface, d.sync_id
            ),
            Operation::DelDaemon(s) => write!(f, "DEL_DAEMON {s:?}"),
            Operation::SetTimeouts(t) => {
                write!(
                    f,
                    "SET_CONFIG tcp {} tcpfin {} udp {}",
                    t.tcp, t.tcp_fin, t.udp
                )
            }
        }
    }
}
