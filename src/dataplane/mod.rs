//! Dataplanes: what applies the director's virtual services to the kernel. `ipvs` programs
//! IPVS over generic netlink; `none` only tracks health and logs.

pub mod desired;
pub mod ipvs;
