//! IPVS (Linux Virtual Server) over generic netlink, for tandem.
//!
//! Three layers, each usable on its own:
//! - the codec ([`message`], [`service`], [`destination`], [`daemon`], [`stats`], ...):
//!   typed IPVS generic-netlink messages that round-trip the kernel's bytes exactly, keep
//!   unknown attributes (`Other`) and never panic on what the kernel (or anyone) sends;
//! - [`client::IpvsClient`]: one netlink socket, batched requests with per-operation
//!   results, dumps across as many datagrams as the kernel needs;
//! - [`reconcile()`]: a pure diff from desired to current state into the minimal ordered list
//!   of [`Operation`]s.
//!
//! The crate knows nothing of tandem's configuration: callers build [`Service`] and
//! [`Destination`] values themselves.
//!
//! ```no_run
//! use std::collections::HashSet;
//! use tandem_ipvs::*;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = ServiceKey::tcp("192.0.2.10".parse()?, 80);
//! let desired = IpvsState::new(vec![VirtualService::new(
//!     Service::new(key, "wrr"),
//!     vec![Destination::new("10.0.0.11".parse()?, 80, ForwardMethod::DirectRoute, 100)],
//! )]);
//! let mut client = IpvsClient::connect()?; // blocking: call from spawn_blocking
//! let current = client.state()?;
//! let owned: HashSet<ServiceKey> = [key].into();
//! let ops = reconcile(&desired, &current, &owned, &ReconcileOptions::default())?;
//! let report = client.apply(&ops)?;
//! for (i, failure) in report.failures() {
//!     eprintln!("{} failed: {failure}", ops[i]);
//! }
//! # Ok(())
//! # }
//! ```

pub mod addr;
pub mod client;
pub mod config;
pub mod constants;
pub mod daemon;
pub mod destination;
pub mod error;
pub mod info;
pub mod message;
mod nla;
pub mod operation;
pub mod reconcile;
pub mod service;
pub mod state;
pub mod stats;

pub use addr::IpFamily;
pub use client::{ApplyReport, IpvsClient, OpFailure};
pub use config::Timeouts;
pub use daemon::{DaemonState, SyncDaemon};
pub use destination::{DestKey, Destination, ForwardMethod, TunnelType};
pub use error::IpvsError;
pub use info::Info;
pub use operation::Operation;
pub use reconcile::{ReconcileError, ReconcileOptions, reconcile, reconcile_daemons};
pub use service::{Protocol, Service, ServiceFlags, ServiceKey};
pub use state::{IpvsState, VirtualService};
pub use stats::Stats;
