//! tandem-vrrp (crate docs written in full below once all modules land).

pub mod checksum;
pub mod garp;
pub mod packet;
pub mod validate;
