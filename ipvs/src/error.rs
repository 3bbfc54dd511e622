//! Errors of this crate.

use std::io;

/// Everything that can go wrong talking to IPVS.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IpvsError {
    /// A socket call failed.
    #[error("netlink socket: {0}")]
    Io(#[from] io::Error),
    /// The kernel has no "IPVS" generic-netlink family (module not loaded / not built).
    #[error("the kernel has no IPVS generic-netlink family (is ip_vs loaded?)")]
    FamilyNotFound,
    /// Bytes from the kernel did not decode.
    #[error("malformed netlink message: {0}")]
    Decode(String),
    /// A reply lacked an attribute this crate needs.
    #[error("reply is missing {0}")]
    MissingAttribute(&'static str),
    /// A reply carried an address family IPVS does not serve.
    #[error("unsupported address family {0}")]
    UnsupportedFamily(u16),
    /// A reply carried a value outside the kernel's documented range.
    #[error("unexpected value {value} for {what}")]
    UnexpectedValue { what: &'static str, value: u64 },
    /// The kernel answered a request with an error.
    #[error("kernel rejected {operation}: {source}")]
    Kernel {
        operation: String,
        #[source]
        source: io::Error,
    },
    /// The receive buffer overflowed and acknowledgements were lost; the outcome of the
    /// unacknowledged requests is unknown, so the caller must re-read the kernel state.
    #[error("netlink receive buffer overflowed; {unacknowledged} requests have unknown outcome")]
    AcksLost { unacknowledged: usize },
    /// An operation was rejected before anything was sent (see `Operation::validate`).
    #[error("invalid operation #{index}: {reason}")]
    InvalidOperation { index: usize, reason: String },
    /// The kernel sent something the protocol does not allow at this point.
    #[error("protocol violation: {0}")]
    Protocol(String),
}

impl From<netlink_packet_core::DecodeError> for IpvsError {
    fn from(e: netlink_packet_core::DecodeError) -> Self {
        IpvsError::Decode(e.to_string())
    }
}
