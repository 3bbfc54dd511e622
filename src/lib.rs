//! tandem: a high-availability manager for Linux Virtual Server directors.
//!
//! The daemon crate: configuration, CLI, director loop, control socket and the wiring of the
//! library crates (`tandem-vrrp`, `tandem-checkers`, `tandem-ipvs`).

pub mod alerts;
pub mod checks;
pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod dataplane;
pub mod demo;
pub mod director;
pub mod http;
pub mod lab;
pub mod logging;
pub mod metrics;
pub mod vrrp;
