//! TCP check: the target is up when a TCP connection to it completes (keepalived `TCP_CHECK`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

use crate::checker::{Checker, Failure, ProbeFuture, Target, Up, timed};

/// Parameters of a TCP check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TcpSpec {
    /// Source address to bind before connecting (keepalived `bindto`), e.g. to leave through a
    /// specific interface or satisfy a real server's ACL.
    pub source: Option<IpAddr>,
}

impl TcpSpec {
    pub(crate) fn build(&self) -> TcpChecker {
        TcpChecker { spec: self.clone() }
    }
}

/// Ready TCP check.
#[derive(Debug, Clone)]
pub struct TcpChecker {
    spec: TcpSpec,
}

impl TcpChecker {
    pub fn new(spec: TcpSpec) -> Self {
        spec.build()
    }
}

/// Opens a TCP connection to `addr`, optionally from `source` (shared with SMTP and DNS over TCP).
pub(crate) async fn connect(
    addr: SocketAddr,
    source: Option<IpAddr>,
) -> Result<TcpStream, Failure> {
    let socket = new_socket(addr, source)?;
    socket
        .connect(addr)
        .await
        .map_err(|e| Failure::from_io("connect", &e))
}

fn new_socket(addr: SocketAddr, source: Option<IpAddr>) -> Result<TcpSocket, Failure> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| Failure::from_io("socket", &e))?;
    if let Some(source) = source {
        socket
            .bind(SocketAddr::new(source, 0))
            .map_err(|e| Failure::from_io("bind", &e))?;
    }
    Ok(socket)
}

/// The bare TCP check: up when `connect` completes, i.e. the server's listening socket answered
/// our SYN with a SYN-ACK (exactly what keepalived's `TCP_CHECK` and any client observe).
///
/// Two socket options make the check cheap for both ends without changing that meaning:
/// * `TCP_QUICKACK` off before connecting puts the socket in delayed-ACK ("pingpong") mode, so
///   the kernel does not acknowledge the SYN-ACK at once (Linux tcp_rcv_synsent_state_process
///   "Save one ACK"); `connect` still completes on the SYN-ACK;
/// * `SO_LINGER` 0 closes with a RST instead of a FIN: no TIME_WAIT entry per probe, and the
///   RST cancels the pending ACK.
///
/// The server thus sees SYN, sends SYN-ACK and gets a RST for its half-open request: it never
/// creates a connection, wakes its application or holds a socket for the probe (a full
/// handshake + FIN costs the real server an accept, a read of EOF and a close, and shows up in
/// its logs as an empty connection).
async fn connect_half_open(addr: SocketAddr, source: Option<IpAddr>) -> Result<(), Failure> {
    let socket = new_socket(addr, source)?;
    let options = socket2::SockRef::from(&socket);
    options
        .set_tcp_quickack(false)
        .and_then(|()| options.set_linger(Some(Duration::ZERO)))
        .map_err(|e| Failure::from_io("setsockopt", &e))?;
    let stream = socket
        .connect(addr)
        .await
        .map_err(|e| Failure::from_io("connect", &e))?;
    drop(stream);
    Ok(())
}

impl Checker for TcpChecker {
    fn probe(&self, target: Target) -> ProbeFuture<'_> {
        timed(async move {
            connect_half_open(target.addr, self.spec.source).await?;
            Ok(Up::default())
        })
    }
}
