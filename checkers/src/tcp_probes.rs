//! The scheduler's fast path for TCP checks: half-open connects (see [`crate::tcp`]) run on one
//! epoll set owned by the scheduler thread, on sockets that are reused from probe to probe.
//!
//! Through tokio, every TCP probe cost eight system calls — socket, two setsockopt, connect,
//! epoll_ctl ADD, getsockopt(SO_ERROR), epoll_ctl DEL, close — plus a timer entry, a reactor
//! slot and two boxed futures. Here a probe is: setsockopt(TCP_QUICKACK off), connect,
//! epoll_ctl MOD (re-arming a one-shot registration), its share of one `epoll_wait` that
//! harvests many completions, then connect(AF_UNSPEC) — which resets the connection exactly as
//! the abortive close did (a RST, no TIME_WAIT) but keeps the socket for the next probe — and
//! getsockopt(SO_ERROR) to clear the error the reset leaves behind. Socket creation and
//! destruction (about a third of a probe's kernel time) and the epoll add/del go away.
//! Timeouts are a sorted set polled by the driver's one timer.
//!
//! Idle sockets are kept per (family, source address), at most as many as were ever in flight
//! at once, which the scheduler's concurrency limit bounds.
//!
//! `unsafe` here: two FFI-level calls with their soundness argument next to them —
//! `connect(AF_UNSPEC)` (neither socket2 nor nix offers it) and registering the epoll set's
//! descriptor with tokio's reactor (`AsyncFd::register_with_interest`).
#![allow(unsafe_code)]

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

use crate::checker::{DownReason, Failure, ProbeResult};
use crate::schedule::{CheckKey, StartProbe};

/// Events harvested per `epoll_wait`.
const HARVEST: usize = 256;

/// The epoll set, registered in the runtime's reactor (it is readable when a probe finished).
#[derive(Debug)]
pub(crate) struct EpollFd(Epoll);

impl AsRawFd for EpollFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.0.as_raw_fd()
    }
}

impl EpollFd {
    pub(crate) fn new() -> io::Result<AsyncFd<EpollFd>> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(io::Error::from)?;
        // SAFETY: `EpollFd` owns the descriptor (an `OwnedFd`, never replaced or closed while
        // the value lives) and `as_raw_fd` always returns that same descriptor, so it stays
        // open and the same for the whole life of the `AsyncFd`, as the contract requires.
        unsafe { AsyncFd::register_with_interest(EpollFd(epoll), Interest::READABLE) }
            .map_err(io::Error::from)
    }
}

/// A finished TCP probe.
#[derive(Debug)]
pub(crate) struct TcpDone {
    pub key: CheckKey,
    pub result: ProbeResult,
    pub started: Instant,
    pub due: Duration,
}

/// Sockets are pooled by address family and source address.
type PoolKey = (bool, Option<IpAddr>);

#[derive(Debug)]
struct Slot {
    socket: Socket,
    pool: PoolKey,
    /// Registered in the epoll set (the first probe adds it, later ones re-arm it).
    registered: bool,
    running: Option<Running>,
}

#[derive(Debug)]
struct Running {
    key: CheckKey,
    started: Instant,
    deadline: Instant,
    timeout: Duration,
    due: Duration,
}

/// TCP probes in flight on one epoll set.
#[derive(Debug, Default)]
pub(crate) struct TcpProbes {
    slots: Vec<Option<Slot>>,
    /// Empty slots (their socket was closed after an error), to reuse.
    free: Vec<usize>,
    idle: HashMap<PoolKey, Vec<usize>>,
    by_key: HashMap<CheckKey, usize>,
    deadlines: BTreeSet<(Instant, usize)>,
}

impl TcpProbes {
    pub(crate) fn running(&self) -> usize {
        self.by_key.len()
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(at, _)| at)
    }

    /// Starts a probe; a probe that fails (or succeeds) at once is returned as done.
    pub(crate) fn start(
        &mut self,
        epoll: &EpollFd,
        start: StartProbe,
        source: Option<IpAddr>,
        due: Duration,
    ) -> Option<TcpDone> {
        let started = Instant::now();
        let pool = (start.target.addr.is_ipv6(), source);
        let slot = match self.idle.get_mut(&pool).and_then(Vec::pop) {
            Some(slot) => slot,
            None => match new_socket(start.target.addr, source) {
                Ok(socket) => self.insert(Slot {
                    socket,
                    pool,
                    registered: false,
                    running: None,
                }),
                Err(failure) => return Some(done(&start, started, due, Err(failure))),
            },
        };
        let connected = self.connect(epoll, slot, start.target.addr);
        match connected {
            Ok(false) => {
                let deadline = started + start.timeout;
                if let Some(Some(entry)) = self.slots.get_mut(slot) {
                    entry.running = Some(Running {
                        key: start.key,
                        started,
                        deadline,
                        timeout: start.timeout,
                        due,
                    });
                }
                self.deadlines.insert((deadline, slot));
                self.by_key.insert(start.key, slot);
                None
            }
            Ok(true) => {
                self.recycle(slot);
                Some(done(&start, started, due, Ok(())))
            }
            Err(failure) => {
                self.recycle(slot);
                Some(done(&start, started, due, Err(failure)))
            }
        }
    }

    fn insert(&mut self, slot: Slot) -> usize {
        match self.free.pop() {
            Some(index) if index < self.slots.len() => {
                self.slots[index] = Some(slot);
                index
            }
            _ => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        }
    }

    /// Connects `slot`'s socket; true when already connected, false when in progress (the
    /// epoll set is armed for it).
    fn connect(&mut self, epoll: &EpollFd, slot: usize, addr: SocketAddr) -> Result<bool, Failure> {
        let Some(Some(entry)) = self.slots.get_mut(slot) else {
            return Err(Failure::new(DownReason::Io, "probe slot vanished"));
        };
        // Delayed-ACK mode must be set for every connection: a reset socket is back in quick-ack
        // mode (tcp_disconnect re-initialises the ACK state).
        entry
            .socket
            .set_tcp_quickack(false)
            .map_err(|e| Failure::from_io("setsockopt", &e))?;
        match entry.socket.connect(&SockAddr::from(addr)) {
            Ok(()) => return Ok(true),
            Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => {}
            Err(e) => return Err(Failure::from_io("connect", &e)),
        }
        // One-shot: the registration fires once and then stays disabled, so the reset that
        // ends the probe (a HUP) is never reported. Added after connect: an unconnected socket
        // reports HUP at once.
        let event = EpollEvent::new(
            EpollFlags::EPOLLOUT | EpollFlags::EPOLLONESHOT,
            u64::try_from(slot).unwrap_or(u64::MAX),
        );
        let armed = if entry.registered {
            epoll.0.modify(entry.socket.as_fd(), &mut { event })
        } else {
            epoll.0.add(entry.socket.as_fd(), event)
        };
        armed.map_err(|e| Failure::from_io("epoll_ctl", &io::Error::from(e)))?;
        entry.registered = true;
        Ok(false)
    }

    /// Collects finished probes (epoll_wait without blocking). Returns whether the set was
    /// drained (fewer events than asked for), i.e. whether the reactor's readiness may be
    /// cleared.
    pub(crate) fn harvest(&mut self, epoll: &EpollFd, finished: &mut Vec<TcpDone>) -> bool {
        let mut events = [EpollEvent::empty(); HARVEST];
        let count = match epoll.0.wait(&mut events, EpollTimeout::ZERO) {
            Ok(count) => count,
            // EINTR and the like: try again on the next wake-up.
            Err(_) => return false,
        };
        for event in events.iter().take(count) {
            let Ok(slot) = usize::try_from(event.data()) else {
                continue;
            };
            let Some(running) = self.take_running(slot) else {
                continue; // finished already (timed out or cancelled)
            };
            let failed = event
                .events()
                .intersects(EpollFlags::EPOLLERR | EpollFlags::EPOLLHUP);
            let verdict = if failed {
                let error = self
                    .slots
                    .get(slot)
                    .and_then(Option::as_ref)
                    .map(|s| s.socket.take_error())
                    .and_then(Result::ok)
                    .flatten()
                    .unwrap_or_else(|| io::Error::from(io::ErrorKind::ConnectionReset));
                Err(Failure::from_io("connect", &error))
            } else {
                Ok(())
            };
            self.recycle(slot);
            finished.push(finish(running, verdict));
        }
        count < HARVEST
    }

    /// Ends the probes whose timeout passed.
    pub(crate) fn expire(&mut self, now: Instant, finished: &mut Vec<TcpDone>) {
        while let Some(&(deadline, slot)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            if let Some(running) = self.take_running(slot) {
                let failure = Failure::new(
                    DownReason::Timeout,
                    format!("no verdict within {} ms", running.timeout.as_millis()),
                );
                self.recycle(slot);
                // As probe_with_timeout reports it: the timeout, not the timer's lateness.
                finished.push(TcpDone {
                    key: running.key,
                    result: ProbeResult::down(failure, running.timeout),
                    started: running.started,
                    due: running.due,
                });
            } else {
                self.deadlines.pop_first();
            }
        }
    }

    /// Cancels `key`'s probe (its check was removed).
    pub(crate) fn cancel(&mut self, key: CheckKey) {
        if let Some(&slot) = self.by_key.get(&key) {
            self.take_running(slot);
            self.recycle(slot);
        }
    }

    fn take_running(&mut self, slot: usize) -> Option<Running> {
        let running = self.slots.get_mut(slot)?.as_mut()?.running.take()?;
        self.deadlines.remove(&(running.deadline, slot));
        self.by_key.remove(&running.key);
        Some(running)
    }

    /// Resets the slot's connection (RST if it was established) and keeps the socket for the
    /// next probe; a socket that cannot be reset is closed.
    fn recycle(&mut self, slot: usize) {
        let Some(Some(entry)) = self.slots.get_mut(slot) else {
            return;
        };
        let reset = disconnect(entry.socket.as_fd())
            // The reset leaves ECONNRESET pending; the next connect would report it.
            .and_then(|()| entry.socket.take_error().map(|_| ()));
        if reset.is_ok() {
            self.idle.entry(entry.pool).or_default().push(slot);
        } else if let Some(slot_entry) = self.slots.get_mut(slot) {
            // Closing the socket (SO_LINGER 0: a RST) also removes it from the epoll set.
            *slot_entry = None;
            self.free.push(slot);
        }
    }
}

fn done(
    start: &StartProbe,
    started: Instant,
    due: Duration,
    verdict: Result<(), Failure>,
) -> TcpDone {
    finish(
        Running {
            key: start.key,
            started,
            deadline: started,
            timeout: start.timeout,
            due,
        },
        verdict,
    )
}

fn finish(running: Running, verdict: Result<(), Failure>) -> TcpDone {
    let latency = running.started.elapsed();
    TcpDone {
        key: running.key,
        result: match verdict {
            Ok(()) => ProbeResult::up(latency),
            Err(failure) => ProbeResult::down(failure, latency),
        },
        started: running.started,
        due: running.due,
    }
}

/// A non-blocking TCP socket that closes with a RST (see [`crate::tcp`]), bound to `source`.
fn new_socket(addr: SocketAddr, source: Option<IpAddr>) -> Result<Socket, Failure> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )
    .map_err(|e| Failure::from_io("socket", &e))?;
    socket
        .set_linger(Some(Duration::ZERO))
        .map_err(|e| Failure::from_io("setsockopt", &e))?;
    if let Some(source) = source {
        socket
            .bind(&SockAddr::from(SocketAddr::new(source, 0)))
            .map_err(|e| Failure::from_io("bind", &e))?;
    }
    Ok(socket)
}

/// `connect(fd, AF_UNSPEC)`: dissolves the socket's association (Linux tcp_disconnect: a RST
/// for an established connection, nothing for one still in SYN-SENT), leaving a fresh unbound
/// socket that can connect again.
fn disconnect(fd: BorrowedFd<'_>) -> io::Result<()> {
    let unspec = nix::libc::sockaddr {
        sa_family: nix::libc::AF_UNSPEC as nix::libc::sa_family_t,
        sa_data: [0; 14],
    };
    let len = std::mem::size_of::<nix::libc::sockaddr>() as nix::libc::socklen_t;
    // SAFETY: FFI call with a live descriptor and a pointer to a properly initialised sockaddr
    // of `len` bytes that outlives the call; connect does not retain the pointer.
    let rc = unsafe { nix::libc::connect(fd.as_raw_fd(), &raw const unspec, len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
