//! Connection timeouts (`ipvsadm --set tcp tcpfin udp`), carried as top-level attributes of
//! SET_CONFIG / GET_CONFIG.

/// IPVS connection timeouts in seconds. In a SET_CONFIG request, 0 leaves a value unchanged
/// (kernel semantics), so a partial update is expressed with zeros.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeouts {
    /// Established TCP connections.
    pub tcp: u32,
    /// TCP connections after receiving FIN.
    pub tcp_fin: u32,
    /// UDP "connections".
    pub udp: u32,
}
