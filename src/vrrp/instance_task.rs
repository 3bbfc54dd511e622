//! The I/O shell of one VRRP instance: a thread of its own that owns the sans-IO
//! [`tandem_vrrp::Instance`], its raw sockets and its timer, and carries out the actions the
//! state machine returns (send adverts, add/remove VIPs over rtnetlink, gratuitous ARP/NA).
//! State changes go to the director, which runs notify commands, alerts and sync groups.
//!
//! Why a plain thread sleeping in `ppoll`, not a task on the daemon's tokio runtime:
//! - **Timing isolation.** An advert every 10 ms and a Master_Down_Timer of ~30 ms must not
//!   queue behind thousands of health-check probes or an IPVS reconcile, nor behind another
//!   instance's VIP change. keepalived runs VRRP in a process of its own for the same reason.
//! - **Idle cost.** A master's steady state is one `ppoll` that times out and one `sendto`
//!   per advert, a backup's one `ppoll` and one `recvmsg`: the fewest system calls VRRP can
//!   be done with. On a tokio runtime each advert also cost an eventfd `write` and an extra
//!   `epoll_wait` (the time driver wakes its own thread whenever a timer is set after the
//!   previous one fired), a multi-thread runtime ~3 context switches more, and the reactor
//!   an extra `recvmsg` per advert to see `EAGAIN`; at 10 ms adverts that was twice the CPU
//!   of keepalived's master.
//!
//! The rare asynchronous work (rtnetlink requests, `nft`) runs to completion on a
//! current-thread runtime owned by the instance thread, which is idle otherwise.

use std::collections::HashSet;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::sync::mpsc::TryRecvError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tandem_vrrp::garp::{gratuitous_arp, unsolicited_na};
use tandem_vrrp::net::{PacketSocket, VrrpSocket, wait_readable};
use tandem_vrrp::packet::peek_vrid;
use tandem_vrrp::{Action, Centiseconds, Event, Instance, InstanceConfig, State, Version};
use tokio::sync::mpsc;

use super::{CommandQueue, InstanceCommand, InstanceReport, Snapshot, Transition};
use super::{accept, addresses};
use crate::config::{Cidr, VrrpInstance};

/// How often a failed setup (missing interface, no address yet) is retried.
const SETUP_RETRY: Duration = Duration::from_secs(1);

/// Everything the task needs, resolved from the configuration by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceSpec {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub version: Version,
    pub priority: u8,
    pub advert_interval: Centiseconds,
    pub preempt: bool,
    pub preempt_delay: Duration,
    /// False: a non-owner master drops traffic to its VIPs (`accept.rs`).
    pub accept_mode: bool,
    pub unicast_peers: Vec<IpAddr>,
    pub source_address: Option<IpAddr>,
    pub virtual_addresses: Vec<Cidr>,
    pub garp_delay: Duration,
    pub garp_repeat: u32,
    pub garp_refresh: Option<Duration>,
    /// VRIDs of the other instances on the same interface and family: their adverts are not
    /// ours to count as drops.
    pub sibling_vrids: HashSet<u8>,
}

impl InstanceSpec {
    pub fn from_config(cfg: &VrrpInstance, sibling_vrids: HashSet<u8>) -> InstanceSpec {
        let interval = cfg.advert_interval.get();
        InstanceSpec {
            name: cfg.name.value.clone(),
            interface: cfg.interface.value.clone(),
            vrid: u8::try_from(*cfg.vrid).unwrap_or(1),
            version: if *cfg.version == 2 {
                Version::V2
            } else {
                Version::V3
            },
            priority: u8::try_from(*cfg.priority).unwrap_or(100),
            // Validated: v3 in 10 ms steps, v2 in whole seconds.
            advert_interval: Centiseconds((interval.as_millis() / 10) as u32),
            preempt: cfg.preempt,
            preempt_delay: cfg.preempt_delay.get(),
            accept_mode: cfg.accept_mode.unwrap_or(true),
            unicast_peers: cfg.unicast_peers.iter().map(|p| p.value).collect(),
            source_address: cfg.source_address.as_ref().map(|a| a.value),
            virtual_addresses: cfg.virtual_addresses.iter().map(|a| a.value).collect(),
            garp_delay: cfg.garp.delay.get(),
            garp_repeat: *cfg.garp.repeat,
            garp_refresh: Some(cfg.garp.refresh.get()).filter(|d| !d.is_zero()),
            sibling_vrids,
        }
    }

    fn ipv6(&self) -> bool {
        self.virtual_addresses.first().is_some_and(|a| a.is_ipv6())
    }

    fn cidr_of(&self, addr: IpAddr) -> Cidr {
        self.virtual_addresses
            .iter()
            .copied()
            .find(|c| c.addr == addr)
            .unwrap_or(Cidr {
                addr,
                prefix_len: if addr.is_ipv4() { 32 } else { 128 },
            })
    }
}

/// Sockets and kernel handles of a running instance.
struct Io {
    netlink: rtnetlink::Handle,
    ifindex: u32,
    primary: IpAddr,
    /// Non-blocking: read only after `ppoll` said it is readable.
    socket: VrrpSocket,
    frames: PacketSocket,
}

async fn setup(spec: &InstanceSpec) -> Result<Io, String> {
    let netlink = addresses::connect().map_err(|e| format!("rtnetlink: {e}"))?;
    let ifindex = addresses::link_index(&netlink, &spec.interface)
        .await
        .map_err(|_| format!("interface {} not found", spec.interface))?;
    let primary = match spec.source_address {
        Some(a) => a,
        None => {
            let on = addresses::addresses(&netlink, ifindex)
                .await
                .map_err(|e| format!("cannot list addresses of {}: {e}", spec.interface))?;
            addresses::primary_address(&on, &spec.virtual_addresses, spec.ipv6()).ok_or_else(
                || {
                    format!(
                        "interface {} has no {} address to send adverts from",
                        spec.interface,
                        if spec.ipv6() {
                            "IPv6 link-local"
                        } else {
                            "IPv4"
                        }
                    )
                },
            )?
        }
    };
    let socket = VrrpSocket::open(&spec.interface, primary)
        .and_then(|s| s.set_nonblocking(true).map(|()| s))
        .map_err(|e| format!("VRRP socket on {}: {e}", spec.interface))?;
    let frames = PacketSocket::open(&spec.interface)
        .map_err(|e| format!("packet socket on {}: {e}", spec.interface))?;
    Ok(Io {
        netlink,
        ifindex,
        primary,
        socket,
        frames,
    })
}

/// Why the instance loop stopped waiting.
struct Woken {
    packet: bool,
    command: bool,
}

/// Runs one instance until shutdown, on the calling thread (see the module docs).
pub fn run(
    spec: InstanceSpec,
    commands: CommandQueue,
    reports: mpsc::UnboundedSender<InstanceReport>,
    snapshot: Arc<Mutex<Snapshot>>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(instance = %spec.name, vrid = spec.vrid, error = %e, "cannot build the VRRP instance's runtime");
            set_fault(&snapshot, format!("cannot start: {e}"));
            return;
        }
    };
    // Commands that arrive while the interface is not ready yet (tracking, sync-group hold)
    // are applied, in order, once the state machine exists.
    let mut pending = Vec::new();
    let io = loop {
        match rt.block_on(setup(&spec)) {
            Ok(io) => break io,
            Err(error) => {
                tracing::warn!(instance = %spec.name, vrid = spec.vrid, error = %error, "VRRP instance cannot start yet; retrying");
                set_fault(&snapshot, error);
                if let Err(e) = wait_readable([commands.wakeup.as_fd()], Some(SETUP_RETRY)) {
                    tracing::warn!(instance = %spec.name, error = %e, "VRRP wait failed");
                    std::thread::sleep(SETUP_RETRY);
                }
                commands.wakeup.clear();
                loop {
                    match commands.queue.try_recv() {
                        Ok(InstanceCommand::Shutdown(done)) => {
                            let _ = done.send(());
                            return;
                        }
                        Ok(other) => pending.push(other),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => return,
                    }
                }
            }
        }
    };

    // After a crash (SIGKILL) the VIPs may still be configured: we are not master yet, so
    // they must go before anyone else takes over (keepalived leaves them, and both directors
    // then answer ARP for the VIP).
    for vip in &spec.virtual_addresses {
        if let Err(e) = rt.block_on(addresses::remove(&io.netlink, io.ifindex, vip)) {
            tracing::warn!(instance = %spec.name, vip = %vip, error = %e, "cannot remove stale virtual address");
        }
    }
    if !spec.accept_mode {
        // A filter a killed daemon left: not master yet, so nothing to drop.
        let script = accept::script(spec.vrid, spec.ipv6(), &spec.virtual_addresses, false);
        if let Err(e) = rt.block_on(accept::apply(&script)) {
            tracing::error!(instance = %spec.name, vrid = spec.vrid, error = %e, "cannot clear the accept_mode filter");
        }
    }

    let mut config = InstanceConfig::new(
        spec.version,
        spec.vrid,
        spec.priority,
        spec.advert_interval,
        io.primary,
        spec.virtual_addresses.iter().map(|c| c.addr).collect(),
    );
    config.preempt = spec.preempt;
    config.preempt_delay = spec.preempt_delay;
    config.accept_mode = spec.accept_mode;
    config.gratuitous_refresh = spec.garp_refresh;
    let mut instance = match Instance::new(config) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(instance = %spec.name, error = %e, "invalid VRRP instance parameters");
            set_fault(&snapshot, e.to_string());
            return;
        }
    };
    if let Ok(mut s) = snapshot.lock() {
        s.primary = Some(io.primary);
        s.error = None;
    }
    tracing::info!(instance = %spec.name, vrid = spec.vrid, interface = %spec.interface, primary = %io.primary, "VRRP instance started");

    let mut shell = Shell {
        spec: &spec,
        io: &io,
        rt: &rt,
        reports: &reports,
        second_garp: None,
    };
    // What the director said before we could listen: tracking first, so Startup already
    // sees the right priority, fault and hold.
    for command in pending {
        if let Some(event) = event_of(&command) {
            let actions = instance.handle(event, Instant::now());
            shell.apply(&instance, actions);
        }
    }
    let actions = instance.handle(Event::Startup, Instant::now());
    shell.apply(&instance, actions);
    publish(&snapshot, &instance);

    let mut buf = [0u8; 2048];
    loop {
        let woken = match shell.wait(&instance, &commands) {
            Ok(woken) => woken,
            Err(e) => {
                tracing::warn!(instance = %spec.name, vrid = spec.vrid, error = %e, "VRRP wait failed");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        // Director commands first: a shutdown must not be preceded by a takeover.
        if woken.command {
            commands.wakeup.clear();
            loop {
                let (event, done) = match commands.queue.try_recv() {
                    Ok(InstanceCommand::Shutdown(done)) => (Event::Shutdown, Some(done)),
                    Err(TryRecvError::Disconnected) => (Event::Shutdown, None),
                    Err(TryRecvError::Empty) => break,
                    Ok(other) => match event_of(&other) {
                        Some(event) => (event, None),
                        None => continue,
                    },
                };
                let is_shutdown = matches!(event, Event::Shutdown);
                let actions = instance.handle(event, Instant::now());
                shell.apply(&instance, actions);
                publish(&snapshot, &instance);
                if is_shutdown {
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                    tracing::info!(instance = %spec.name, vrid = spec.vrid, "VRRP instance stopped");
                    return;
                }
            }
        }
        // A received advert before the timer: an advert that waited in the queue while this
        // thread was late (scheduling, a slow VIP change) still counts, instead of the
        // expired Master_Down_Timer making a backup take over from a master that is alive.
        if woken.packet {
            shell.receive(&mut instance, &mut buf);
            publish(&snapshot, &instance);
        }
        let now = Instant::now();
        if instance.next_deadline().is_some_and(|d| d <= now) {
            let actions = instance.handle(Event::Timer, now);
            shell.apply(&instance, actions);
            publish(&snapshot, &instance);
        }
        if shell.second_garp.is_some_and(|d| d <= now) {
            shell.second_garp = None;
            if instance.state() == State::Master {
                shell.gratuitous(
                    &spec
                        .virtual_addresses
                        .iter()
                        .map(|c| c.addr)
                        .collect::<Vec<_>>(),
                );
            }
        }
    }
}

fn set_fault(snapshot: &Mutex<Snapshot>, error: String) {
    if let Ok(mut s) = snapshot.lock() {
        s.state = State::Fault;
        s.error = Some(error);
    }
}

/// The state-machine event of a director command (Shutdown is handled by the caller).
fn event_of(command: &InstanceCommand) -> Option<Event> {
    Some(match command {
        InstanceCommand::Priority(p) => Event::PriorityChanged(*p),
        InstanceCommand::TrackFault(true) => Event::TrackFailed,
        InstanceCommand::TrackFault(false) => Event::TrackRecovered,
        InstanceCommand::Link(false) => Event::InterfaceDown,
        InstanceCommand::Link(true) => Event::InterfaceUp,
        InstanceCommand::SyncGroupHold(held) => Event::SyncGroupHold(*held),
        InstanceCommand::Shutdown(_) => return None,
    })
}

fn publish(snapshot: &Mutex<Snapshot>, instance: &Instance) {
    if let Ok(mut s) = snapshot.lock() {
        s.state = instance.state();
        s.effective_priority = instance.effective_priority();
        s.master = instance.master_address();
        s.counters = *instance.counters();
    }
}

struct Shell<'a> {
    spec: &'a InstanceSpec,
    io: &'a Io,
    /// Runs the rare asynchronous work (rtnetlink, nft) to completion on this thread.
    rt: &'a tokio::runtime::Runtime,
    reports: &'a mpsc::UnboundedSender<InstanceReport>,
    second_garp: Option<Instant>,
}

impl Shell<'_> {
    /// Sleeps until a packet or a command arrives or the next timer (state machine or
    /// second gratuitous burst) is due: one `ppoll` per advert interval.
    fn wait(&self, instance: &Instance, commands: &CommandQueue) -> std::io::Result<Woken> {
        let deadline = match (instance.next_deadline(), self.second_garp) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let [packet, command] =
            wait_readable([self.io.socket.as_fd(), commands.wakeup.as_fd()], timeout)?;
        Ok(Woken { packet, command })
    }

    /// Reads one packet (the socket is non-blocking; another one waiting wakes the next
    /// `ppoll` at once) and hands it to the state machine.
    fn receive(&mut self, instance: &mut Instance, buf: &mut [u8]) {
        let spec = self.spec;
        let datagram = match self.io.socket.recv(buf) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(e) => {
                tracing::warn!(instance = %spec.name, vrid = spec.vrid, error = %e, "VRRP receive failed");
                return;
            }
        };
        if datagram.ifindex.is_some_and(|i| i != self.io.ifindex) {
            return;
        }
        let packet = datagram.packet(buf);
        if peek_vrid(packet.payload)
            .is_some_and(|v| v != spec.vrid && spec.sibling_vrids.contains(&v))
        {
            return;
        }
        match instance.receive(&packet, Instant::now()) {
            Ok(actions) => self.apply(instance, actions),
            Err(reason) => {
                tracing::debug!(instance = %spec.name, vrid = spec.vrid, source = %packet.source, reason = %reason, "VRRP packet dropped");
            }
        }
    }

    /// Carries out actions in order. A failed action is logged and the rest still run: a VIP
    /// that cannot be added must not stop the advert that keeps the peer backup.
    fn apply(&mut self, instance: &Instance, actions: Vec<Action>) {
        let spec = self.spec;
        for action in actions {
            match action {
                Action::SendAdvert(advert) => {
                    let result = if spec.unicast_peers.is_empty() {
                        self.io.socket.send_advert_multicast(&advert).map(|_| ())
                    } else {
                        spec.unicast_peers.iter().try_for_each(|peer| {
                            self.io.socket.send_advert(&advert, *peer).map(|_| ())
                        })
                    };
                    if let Err(e) = result {
                        tracing::warn!(instance = %spec.name, vrid = spec.vrid, error = %e, "cannot send advert");
                    }
                }
                Action::AddVirtualAddresses(addrs) => {
                    // accept_mode: false: the filter goes in before the VIPs are ours.
                    if !spec.accept_mode && !instance.accepts_vip_traffic() {
                        self.accept_filter(true);
                    }
                    for addr in addrs {
                        let cidr = spec.cidr_of(addr);
                        let added = addresses::add(&self.io.netlink, self.io.ifindex, &cidr);
                        if let Err(e) = self.rt.block_on(added) {
                            tracing::error!(instance = %spec.name, vip = %cidr, error = %e, "cannot add virtual address");
                        }
                    }
                }
                Action::RemoveVirtualAddresses(addrs) => {
                    self.second_garp = None;
                    for addr in addrs {
                        let cidr = spec.cidr_of(addr);
                        let removed = addresses::remove(&self.io.netlink, self.io.ifindex, &cidr);
                        if let Err(e) = self.rt.block_on(removed) {
                            tracing::error!(instance = %spec.name, vip = %cidr, error = %e, "cannot remove virtual address");
                        }
                    }
                    if !spec.accept_mode {
                        self.accept_filter(false);
                    }
                }
                Action::SendGratuitous(addrs) => {
                    self.gratuitous(&addrs);
                    if !spec.garp_delay.is_zero()
                        && self.second_garp.is_none()
                        && instance.state() == State::Master
                    {
                        self.second_garp = Some(Instant::now() + spec.garp_delay);
                    }
                }
                Action::WantsMaster(wants) => {
                    tracing::debug!(instance = %spec.name, vrid = spec.vrid, wants, "sync group: held backup would become master");
                    let _ = self.reports.send(InstanceReport::WantsMaster {
                        instance: spec.name.clone(),
                        wants,
                    });
                }
                Action::StateChanged { from, to, reason } => {
                    let _ = self.reports.send(InstanceReport::Transition(Transition {
                        instance: spec.name.clone(),
                        vrid: spec.vrid,
                        version: spec.version.number(),
                        from,
                        to,
                        reason,
                        priority: instance.effective_priority(),
                        master: if to == State::Master {
                            Some(self.io.primary)
                        } else {
                            instance.master_address()
                        },
                    }));
                }
                other => {
                    tracing::debug!(instance = %spec.name, action = ?other, "unhandled VRRP action");
                }
            }
        }
    }

    /// Installs (`drop`) or removes the accept_mode filter of this instance's VIPs.
    fn accept_filter(&self, drop: bool) {
        let spec = self.spec;
        let script = accept::script(spec.vrid, spec.ipv6(), &spec.virtual_addresses, drop);
        match self.rt.block_on(accept::apply(&script)) {
            Ok(()) => {
                tracing::debug!(instance = %spec.name, vrid = spec.vrid, drop, "accept_mode filter updated")
            }
            Err(e) => {
                tracing::error!(instance = %spec.name, vrid = spec.vrid, error = %e, "cannot update the accept_mode filter")
            }
        }
    }

    /// One burst: `garp_repeat` gratuitous ARPs / unsolicited NAs per virtual address.
    fn gratuitous(&self, addrs: &[IpAddr]) {
        let mac = self.io.frames.mac();
        for _ in 0..self.spec.garp_repeat.max(1) {
            for addr in addrs {
                let result = match (addr, self.io.primary) {
                    (IpAddr::V4(v4), _) => self.io.frames.send_frame(&gratuitous_arp(mac, *v4)),
                    (IpAddr::V6(v6), IpAddr::V6(link_local)) => self
                        .io
                        .frames
                        .send_frame(&unsolicited_na(mac, link_local, *v6, false)),
                    (IpAddr::V6(_), IpAddr::V4(_)) => Ok(0),
                };
                if let Err(e) = result {
                    tracing::warn!(instance = %self.spec.name, vip = %addr, error = %e, "cannot send gratuitous ARP/NA");
                }
            }
        }
    }
}
