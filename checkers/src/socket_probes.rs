//! The scheduler's fast path for TCP and plain HTTP checks: their sockets live on one epoll
//! set owned by the scheduler thread and are reused from probe to probe.
//!
//! Through tokio, every TCP probe cost eight system calls — socket, two setsockopt, connect,
//! epoll_ctl ADD, getsockopt(SO_ERROR), epoll_ctl DEL, close — plus a timer entry, a reactor
//! slot and two boxed futures. Here a TCP probe (half-open, see [`crate::tcp`]) is:
//! setsockopt(TCP_QUICKACK off), connect, epoll_ctl MOD (re-arming a one-shot registration),
//! its share of one `epoll_wait` that harvests many completions, then connect(AF_UNSPEC) —
//! which resets the connection exactly as the abortive close did (a RST, no TIME_WAIT) but
//! keeps the socket for the next probe. Socket creation and destruction (about a third of a
//! probe's kernel time), the epoll add/del and the error read go away. Timeouts are a sorted
//! set polled by the driver's one timer.
//!
//! A plain HTTP probe is the same connect, then on writability one `send` of the rendered
//! request (which also carries the ACK the quick-ack setting held back: one packet less),
//! epoll_ctl MOD for readability, `recv` until [`HttpChecker::judge_received`] has a verdict
//! (usually the first read: status line and headers), and the same reset. It replaces tokio's
//! socket, epoll add/del, a timer, two boxed futures and three task wake-ups per probe. The
//! response is judged by the same reader as the tokio path (HTTPS stays there: TLS).
//!
//! Idle sockets are kept per (family, source address), at most as many as were ever in flight
//! at once, which the scheduler's concurrency limit bounds.
//!
//! `unsafe` here: two FFI-level calls with their soundness argument next to them —
//! `connect(AF_UNSPEC)` (neither socket2 nor nix offers it) and registering the epoll set's
//! descriptor with tokio's reactor (`AsyncFd::register_with_interest`).
#![allow(unsafe_code)]

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read as _};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

use crate::checker::{DownReason, Failure, ProbeResult, Target, Up};
use crate::http::HttpChecker;
use crate::schedule::{CheckKey, StartProbe};

/// Events harvested per `epoll_wait`.
const HARVEST: usize = 256;

/// Bytes asked for per `recv` of an HTTP response: a status line and headers fit.
const READ_CHUNK: usize = 16 * 1024;

/// A response that needs more than one read is judged again at least every this many bytes.
const JUDGE_AFTER: usize = 256 * 1024;

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

/// What the fast path runs for a check.
#[derive(Debug, Clone)]
pub(crate) enum FastProbe {
    /// A half-open connect: its completion is the verdict.
    Tcp,
    /// A plain HTTP exchange, judged by the check's checker.
    Http(Arc<HttpChecker>),
}

/// A finished probe.
#[derive(Debug)]
pub(crate) struct SocketDone {
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
    stage: Stage,
}

/// Where a probe is; every stage waits for one readiness of its socket.
#[derive(Debug)]
enum Stage {
    /// TCP check: waiting for the connect to finish, which is the verdict.
    Connect,
    /// HTTP: waiting for the connect to finish, then the request goes out.
    HttpConnect {
        checker: Arc<HttpChecker>,
        target: Target,
    },
    /// HTTP: `request[sent..]` is still to be sent (the socket buffer was full).
    HttpSend {
        checker: Arc<HttpChecker>,
        request: Vec<u8>,
        sent: usize,
    },
    /// HTTP: waiting for (more of) the response; `received` holds what was read so far when
    /// it was not enough for a verdict (empty in the common case: one read decides).
    HttpReceive {
        checker: Arc<HttpChecker>,
        received: Vec<u8>,
    },
}

/// What a probe needs next.
enum Step {
    /// Re-arm the socket for this readiness.
    Wait(EpollFlags),
    Done(Result<Up, Failure>),
}

/// Probes in flight on one epoll set.
#[derive(Debug, Default)]
pub(crate) struct SocketProbes {
    slots: Vec<Option<Slot>>,
    /// Empty slots (their socket was closed after an error), to reuse.
    free: Vec<usize>,
    idle: HashMap<PoolKey, Vec<usize>>,
    by_key: HashMap<CheckKey, usize>,
    deadlines: BTreeSet<(Instant, usize)>,
    /// Receive buffer shared by every HTTP probe (they are handled one at a time).
    scratch: Vec<u8>,
}

impl SocketProbes {
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
        probe: &FastProbe,
        source: Option<IpAddr>,
        due: Duration,
    ) -> Option<SocketDone> {
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
                Err(failure) => return Some(failed_at_start(&start, started, due, failure)),
            },
        };
        let connected = match self.connect(slot, start.target.addr) {
            Ok(connected) => connected,
            Err(failure) => {
                self.recycle(slot);
                return Some(failed_at_start(&start, started, due, failure));
            }
        };
        let stage = match probe {
            FastProbe::Tcp => Stage::Connect,
            FastProbe::Http(checker) => Stage::HttpConnect {
                checker: Arc::clone(checker),
                target: start.target,
            },
        };
        let deadline = started + start.timeout;
        if let Some(Some(entry)) = self.slots.get_mut(slot) {
            entry.running = Some(Running {
                key: start.key,
                started,
                deadline,
                timeout: start.timeout,
                due,
                stage,
            });
        }
        self.deadlines.insert((deadline, slot));
        self.by_key.insert(start.key, slot);
        let step = if connected {
            // As if the socket had reported it is writable.
            self.step(slot, false)
        } else {
            Step::Wait(EpollFlags::EPOLLOUT)
        };
        self.settle(epoll, slot, step)
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

    /// Connects `slot`'s socket; true when already connected, false when in progress.
    fn connect(&mut self, slot: usize, addr: SocketAddr) -> Result<bool, Failure> {
        let Some(Some(entry)) = self.slots.get_mut(slot) else {
            return Err(Failure::new(DownReason::Io, "probe slot vanished"));
        };
        // Delayed-ACK mode must be set for every connection: a reset socket is back in quick-ack
        // mode (tcp_disconnect re-initialises the ACK state). A TCP check never sends the ACK
        // (half-open); an HTTP check's ACK rides on its request.
        entry
            .socket
            .set_tcp_quickack(false)
            .map_err(|e| Failure::from_io("setsockopt", &e))?;
        match entry.socket.connect(&SockAddr::from(addr)) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => Ok(false),
            Err(e) => Err(Failure::from_io("connect", &e)),
        }
    }

    /// Arms `slot` for `readiness`, one-shot: the registration fires once and then stays
    /// disabled, so the reset that ends a probe (a HUP) is never reported. Only ever armed
    /// after connect: an unconnected socket reports HUP at once.
    fn arm(&mut self, epoll: &EpollFd, slot: usize, readiness: EpollFlags) -> Result<(), Failure> {
        let Some(Some(entry)) = self.slots.get_mut(slot) else {
            return Err(Failure::new(DownReason::Io, "probe slot vanished"));
        };
        let event = EpollEvent::new(
            readiness | EpollFlags::EPOLLONESHOT,
            u64::try_from(slot).unwrap_or(u64::MAX),
        );
        let armed = if entry.registered {
            epoll.0.modify(entry.socket.as_fd(), &mut { event })
        } else {
            epoll.0.add(entry.socket.as_fd(), event)
        };
        armed.map_err(|e| Failure::from_io("epoll_ctl", &io::Error::from(e)))?;
        entry.registered = true;
        Ok(())
    }

    /// Re-arms a waiting probe, or ends a finished one (returned).
    fn settle(&mut self, epoll: &EpollFd, slot: usize, step: Step) -> Option<SocketDone> {
        let verdict = match step {
            Step::Wait(readiness) => match self.arm(epoll, slot, readiness) {
                Ok(()) => return None,
                Err(failure) => Err(failure),
            },
            Step::Done(verdict) => verdict,
        };
        let running = self.take_running(slot)?;
        self.recycle(slot);
        Some(finish(running, verdict))
    }

    /// Moves the probe in `slot` on after its socket became ready; `failed` when epoll
    /// reported an error or hang-up.
    fn step(&mut self, slot: usize, failed: bool) -> Step {
        let Some(Some(entry)) = self.slots.get_mut(slot) else {
            return Step::Done(Err(Failure::new(DownReason::Io, "probe slot vanished")));
        };
        let Some(running) = entry.running.as_mut() else {
            return Step::Done(Err(Failure::new(DownReason::Io, "probe vanished")));
        };
        let socket = &entry.socket;
        let stage = std::mem::replace(&mut running.stage, Stage::Connect);
        let (stage, step) = match stage {
            Stage::Connect => {
                let verdict = if failed {
                    Err(connect_failure(socket))
                } else {
                    Ok(Up::default())
                };
                (Stage::Connect, Step::Done(verdict))
            }
            Stage::HttpConnect { .. } if failed => {
                (Stage::Connect, Step::Done(Err(connect_failure(socket))))
            }
            Stage::HttpConnect { checker, target } => {
                let request = checker.request_for(target);
                send(socket, checker, request, 0)
            }
            // Errors past the connect show in the send/recv calls themselves.
            Stage::HttpSend {
                checker,
                request,
                sent,
            } => send(socket, checker, request, sent),
            Stage::HttpReceive { checker, received } => {
                receive(socket, checker, received, &mut self.scratch)
            }
        };
        running.stage = stage;
        step
    }

    /// Collects finished probes and moves the others on (epoll_wait without blocking). Returns
    /// whether the set was drained (fewer events than asked for), i.e. whether the reactor's
    /// readiness may be cleared.
    pub(crate) fn harvest(&mut self, epoll: &EpollFd, finished: &mut Vec<SocketDone>) -> bool {
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
            let running = self
                .slots
                .get(slot)
                .and_then(Option::as_ref)
                .is_some_and(|entry| entry.running.is_some());
            if !running {
                continue; // finished already (timed out or cancelled)
            }
            let failed = event
                .events()
                .intersects(EpollFlags::EPOLLERR | EpollFlags::EPOLLHUP);
            let step = self.step(slot, failed);
            if let Some(done) = self.settle(epoll, slot, step) {
                finished.push(done);
            }
        }
        count < HARVEST
    }

    /// Ends the probes whose timeout passed.
    pub(crate) fn expire(&mut self, now: Instant, finished: &mut Vec<SocketDone>) {
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
                finished.push(SocketDone {
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
        // The reset leaves ECONNRESET in the socket's error, which needs no clearing: the next
        // connect zeroes it before its SYN goes out (Linux tcp_connect_init, since 2.6), and
        // nothing reads it in between.
        if disconnect(entry.socket.as_fd()).is_ok() {
            self.idle.entry(entry.pool).or_default().push(slot);
        } else if let Some(slot_entry) = self.slots.get_mut(slot) {
            // Closing the socket (SO_LINGER 0: a RST) also removes it from the epoll set.
            *slot_entry = None;
            self.free.push(slot);
        }
    }
}

/// The error a failed connect left on `socket`.
fn connect_failure(socket: &Socket) -> Failure {
    let error = socket
        .take_error()
        .ok()
        .flatten()
        .unwrap_or_else(|| io::Error::from(io::ErrorKind::ConnectionReset));
    Failure::from_io("connect", &error)
}

/// Sends the rest of an HTTP request; then the response is awaited.
fn send(
    socket: &Socket,
    checker: Arc<HttpChecker>,
    request: Vec<u8>,
    mut sent: usize,
) -> (Stage, Step) {
    // Bounded: each turn sends bytes or leaves.
    loop {
        let rest = request.get(sent..).unwrap_or_default();
        if rest.is_empty() {
            let stage = Stage::HttpReceive {
                checker,
                received: Vec::new(),
            };
            return (stage, Step::Wait(EpollFlags::EPOLLIN));
        }
        match socket.send_with_flags(rest, nix::libc::MSG_NOSIGNAL) {
            Ok(0) => {
                let failure = Failure::new(DownReason::Io, "write: the socket took no bytes");
                return (Stage::Connect, Step::Done(Err(failure)));
            }
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let stage = Stage::HttpSend {
                    checker,
                    request,
                    sent,
                };
                return (stage, Step::Wait(EpollFlags::EPOLLOUT));
            }
            Err(e) => {
                return (
                    Stage::Connect,
                    Step::Done(Err(Failure::from_io("write", &e))),
                );
            }
        }
    }
}

/// Reads what the server sent until the checker has a verdict or the socket has no more.
///
/// The first read is judged at once (it usually holds the whole head: the verdict); after
/// that the response is judged again only when the socket has nothing more for now, the server
/// closed, or [`JUDGE_AFTER`] more bytes came, so a large body is not re-read per read.
fn receive(
    socket: &Socket,
    checker: Arc<HttpChecker>,
    mut received: Vec<u8>,
    scratch: &mut Vec<u8>,
) -> (Stage, Step) {
    scratch.resize(READ_CHUNK, 0);
    let mut unjudged = 0;
    // Bounded: each turn consumes bytes, or ends the probe or the wait; the checker gives a
    // verdict once the head or the body exceeds its bound, so `received` stays bounded too.
    loop {
        let n = match (&*socket).read(scratch) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if unjudged > 0
                    && let Some(verdict) = checker.judge_received(&received, false)
                {
                    return (Stage::Connect, Step::Done(verdict));
                }
                let stage = Stage::HttpReceive { checker, received };
                return (stage, Step::Wait(EpollFlags::EPOLLIN));
            }
            Err(e) => {
                return (
                    Stage::Connect,
                    Step::Done(Err(Failure::from_io("read", &e))),
                );
            }
        };
        let closed = n == 0;
        let fresh = scratch.get(..n).unwrap_or_default();
        let verdict = if received.is_empty() {
            let verdict = checker.judge_received(fresh, closed);
            if verdict.is_none() {
                received.extend_from_slice(fresh);
            }
            verdict
        } else {
            received.extend_from_slice(fresh);
            unjudged += n;
            if closed || unjudged >= JUDGE_AFTER {
                unjudged = 0;
                checker.judge_received(&received, closed)
            } else {
                None
            }
        };
        if let Some(verdict) = verdict {
            return (Stage::Connect, Step::Done(verdict));
        }
    }
}

/// A probe that failed before its socket was waiting on anything.
fn failed_at_start(
    start: &StartProbe,
    started: Instant,
    due: Duration,
    failure: Failure,
) -> SocketDone {
    SocketDone {
        key: start.key,
        result: ProbeResult::down(failure, started.elapsed()),
        started,
        due,
    }
}

fn finish(running: Running, verdict: Result<Up, Failure>) -> SocketDone {
    let latency = running.started.elapsed();
    SocketDone {
        key: running.key,
        result: match verdict {
            Ok(up) => ProbeResult {
                weight: up.weight,
                ..ProbeResult::up(latency)
            },
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
