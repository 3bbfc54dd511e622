//! The I/O shell of one VRRP instance: a tokio task that owns the sans-IO
//! [`tandem_vrrp::Instance`], its raw sockets and its timer, and carries out the actions the
//! state machine returns (send adverts, add/remove VIPs over rtnetlink, gratuitous ARP/NA).
//! State changes go to the director, which runs notify commands, alerts and sync groups.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tandem_vrrp::garp::{gratuitous_arp, unsolicited_na};
use tandem_vrrp::net::{AsyncVrrpSocket, PacketSocket, VrrpSocket};
use tandem_vrrp::packet::peek_vrid;
use tandem_vrrp::{Action, Centiseconds, Event, Instance, InstanceConfig, State, Version};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{InstanceCommand, InstanceReport, Snapshot, Transition};
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
    socket: AsyncVrrpSocket,
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
        .and_then(AsyncVrrpSocket::new)
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

/// Runs one instance until shutdown.
pub async fn run(
    spec: InstanceSpec,
    mut commands: mpsc::Receiver<InstanceCommand>,
    reports: mpsc::UnboundedSender<InstanceReport>,
    snapshot: Arc<Mutex<Snapshot>>,
) {
    // Commands that arrive while the interface is not ready yet (tracking, sync-group hold)
    // are applied, in order, once the state machine exists.
    let mut pending = Vec::new();
    let io = loop {
        match setup(&spec).await {
            Ok(io) => break io,
            Err(error) => {
                tracing::warn!(instance = %spec.name, vrid = spec.vrid, error = %error, "VRRP instance cannot start yet; retrying");
                if let Ok(mut s) = snapshot.lock() {
                    s.state = State::Fault;
                    s.error = Some(error);
                }
                tokio::select! {
                    _ = tokio::time::sleep(SETUP_RETRY) => {}
                    command = commands.recv() => match command {
                        Some(InstanceCommand::Shutdown(done)) => { let _ = done.send(()); return; }
                        None => return,
                        Some(other) => pending.push(other),
                    }
                }
            }
        }
    };

    // After a crash (SIGKILL) the VIPs may still be configured: we are not master yet, so
    // they must go before anyone else takes over (keepalived leaves them, and both directors
    // then answer ARP for the VIP).
    for vip in &spec.virtual_addresses {
        if let Err(e) = addresses::remove(&io.netlink, io.ifindex, vip).await {
            tracing::warn!(instance = %spec.name, vip = %vip, error = %e, "cannot remove stale virtual address");
        }
    }
    if !spec.accept_mode {
        // A filter a killed daemon left: not master yet, so nothing to drop.
        let script = accept::script(spec.vrid, spec.ipv6(), &spec.virtual_addresses, false);
        if let Err(e) = accept::apply(&script).await {
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
            if let Ok(mut s) = snapshot.lock() {
                s.state = State::Fault;
                s.error = Some(e.to_string());
            }
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
        reports: &reports,
        second_garp: None,
    };
    // What the director said before we could listen: tracking first, so Startup already
    // sees the right priority, fault and hold.
    for command in pending {
        if let Some(event) = event_of(&command) {
            let actions = instance.handle(event, std::time::Instant::now());
            shell.apply(&instance, actions).await;
        }
    }
    let actions = instance.handle(Event::Startup, std::time::Instant::now());
    shell.apply(&instance, actions).await;
    publish(&snapshot, &instance);

    let mut buf = vec![0u8; 2048];
    loop {
        let deadline = instance.next_deadline().map(Instant::from_std);
        let second_garp = shell.second_garp;
        tokio::select! {
            biased;
            command = commands.recv() => {
                let (event, done) = match command {
                    Some(InstanceCommand::Shutdown(done)) => (Event::Shutdown, Some(done)),
                    None => (Event::Shutdown, None),
                    Some(other) => match event_of(&other) {
                        Some(event) => (event, None),
                        None => continue,
                    },
                };
                let is_shutdown = matches!(event, Event::Shutdown);
                let actions = instance.handle(event, std::time::Instant::now());
                shell.apply(&instance, actions).await;
                publish(&snapshot, &instance);
                if is_shutdown {
                    if let Some(done) = done { let _ = done.send(()); }
                    tracing::info!(instance = %spec.name, vrid = spec.vrid, "VRRP instance stopped");
                    return;
                }
            }
            _ = sleep_until(deadline) => {
                let actions = instance.handle(Event::Timer, std::time::Instant::now());
                shell.apply(&instance, actions).await;
                publish(&snapshot, &instance);
            }
            _ = sleep_until(second_garp) => {
                shell.second_garp = None;
                if instance.state() == State::Master {
                    shell.gratuitous(&spec.virtual_addresses.iter().map(|c| c.addr).collect::<Vec<_>>());
                }
            }
            received = io.socket.recv(&mut buf) => {
                let datagram = match received {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::warn!(instance = %spec.name, error = %e, "VRRP receive failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                if datagram.ifindex.is_some_and(|i| i != io.ifindex) {
                    continue;
                }
                let packet = datagram.packet(&buf);
                if peek_vrid(packet.payload).is_some_and(|v| v != spec.vrid && spec.sibling_vrids.contains(&v)) {
                    continue;
                }
                match instance.receive(&packet, std::time::Instant::now()) {
                    Ok(actions) => shell.apply(&instance, actions).await,
                    Err(reason) => {
                        tracing::debug!(instance = %spec.name, vrid = spec.vrid, source = %packet.source, reason = %reason, "VRRP packet dropped");
                    }
                }
                publish(&snapshot, &instance);
            }
        }
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

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
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
    reports: &'a mpsc::UnboundedSender<InstanceReport>,
    second_garp: Option<Instant>,
}

impl Shell<'_> {
    /// Carries out actions in order. A failed action is logged and the rest still run: a VIP
    /// that cannot be added must not stop the advert that keeps the peer backup.
    async fn apply(&mut self, instance: &Instance, actions: Vec<Action>) {
        let spec = self.spec;
        for action in actions {
            match action {
                Action::SendAdvert(advert) => {
                    let result = if spec.unicast_peers.is_empty() {
                        self.io
                            .socket
                            .get_ref()
                            .send_advert_multicast(&advert)
                            .map(|_| ())
                    } else {
                        spec.unicast_peers.iter().try_for_each(|peer| {
                            self.io
                                .socket
                                .get_ref()
                                .send_advert(&advert, *peer)
                                .map(|_| ())
                        })
                    };
                    if let Err(e) = result {
                        tracing::warn!(instance = %spec.name, vrid = spec.vrid, error = %e, "cannot send advert");
                    }
                }
                Action::AddVirtualAddresses(addrs) => {
                    // accept_mode: false: the filter goes in before the VIPs are ours.
                    if !spec.accept_mode && !instance.accepts_vip_traffic() {
                        self.accept_filter(true).await;
                    }
                    for addr in addrs {
                        let cidr = spec.cidr_of(addr);
                        if let Err(e) =
                            addresses::add(&self.io.netlink, self.io.ifindex, &cidr).await
                        {
                            tracing::error!(instance = %spec.name, vip = %cidr, error = %e, "cannot add virtual address");
                        }
                    }
                }
                Action::RemoveVirtualAddresses(addrs) => {
                    self.second_garp = None;
                    for addr in addrs {
                        let cidr = spec.cidr_of(addr);
                        if let Err(e) =
                            addresses::remove(&self.io.netlink, self.io.ifindex, &cidr).await
                        {
                            tracing::error!(instance = %spec.name, vip = %cidr, error = %e, "cannot remove virtual address");
                        }
                    }
                    if !spec.accept_mode {
                        self.accept_filter(false).await;
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
    async fn accept_filter(&self, drop: bool) {
        let spec = self.spec;
        let script = accept::script(spec.vrid, spec.ipv6(), &spec.virtual_addresses, drop);
        match accept::apply(&script).await {
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
