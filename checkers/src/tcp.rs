//! TCP check: the target is up when a TCP connection to it completes (keepalived `TCP_CHECK`).

use std::net::{IpAddr, SocketAddr};

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
    abortive_close: bool,
) -> Result<TcpStream, Failure> {
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
    if abortive_close {
        // A bare TCP check only needs to know the server accepts: closing with RST keeps the
        // director from holding a TIME_WAIT entry per probe when thousands run per second.
        socket
            .set_zero_linger()
            .map_err(|e| Failure::from_io("setsockopt", &e))?;
    }
    socket
        .connect(addr)
        .await
        .map_err(|e| Failure::from_io("connect", &e))
}

impl Checker for TcpChecker {
    fn probe(&self, target: Target) -> ProbeFuture<'_> {
        timed(async move {
            connect(target.addr, self.spec.source, true).await?;
            Ok(Up::default())
        })
    }
}
