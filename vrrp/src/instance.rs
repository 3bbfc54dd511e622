//! The sans-IO VRRP state machine of one virtual router (RFC 5798 §6, RFC 3768 §6), plus a
//! Fault state for interface and tracking failures.
//!
//! [`Instance::handle`] takes an [`Event`] and the current time and returns [`Action`]s;
//! [`Instance::next_deadline`] says when to deliver the next [`Event::Timer`]. Time is only ever
//! passed in, so tests drive it with a fake clock.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::events::{Action, Event, State, TransitionReason};
use crate::packet::{Advertisement, Centiseconds, Family, V2Auth, V3_MAX_ADVERT_INTERVAL, Version};
use crate::timers::{self, Timers, expired};
use crate::validate::{
    AddressListCheck, Counters, DropReason, ReceivedPacket, ValidationParams, validate,
};

/// Priority of the address owner (RFC 5798 §5.2.4).
pub const OWNER_PRIORITY: u8 = 255;
/// Priority a master sends to release the virtual router (RFC 5798 §5.2.4).
pub const RELEASE_PRIORITY: u8 = 0;

/// Longest accepted preemption delay (keepalived caps it at 1000 s; an hour leaves room while
/// keeping deadline arithmetic far from `Instant` overflow).
pub const MAX_PREEMPT_DELAY: Duration = Duration::from_secs(3600);
/// Shortest gratuitous refresh period: a zero period would make the deadline always due and
/// spin the caller's timer loop.
pub const MIN_GRATUITOUS_REFRESH: Duration = Duration::from_secs(1);
/// Longest gratuitous refresh period.
pub const MAX_GRATUITOUS_REFRESH: Duration = Duration::from_secs(86_400);
/// Gratuitous ARP/NA bursts a master sends per [`MIN_GRATUITOUS_REFRESH`] to re-assert itself
/// against a lower-priority master (see [`Instance::master_on_advert`]). Two, because a brief
/// dual-master episode gives two cues: the other router's first advert, whose reply can race
/// its own gratuitous ARP on the wire, and its step-down advert, always sent after it.
const REASSERTIONS_PER_WINDOW: u8 = 2;

/// Configuration of one virtual router. Build with [`InstanceConfig::new`] and adjust fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    /// Protocol version.
    pub version: Version,
    /// Virtual router identifier, 1..=255.
    pub vrid: u8,
    /// Configured priority, 1..=255 (255 = address owner).
    pub priority: u8,
    /// Advertisement_Interval. VRRPv2: whole seconds 1..=255; VRRPv3: 1..=4095 cs.
    pub advert_interval: Centiseconds,
    /// Our primary address on the interface: the advert source and the tie-break key
    /// (RFC 5798 §6.4.3). Its family is the virtual router's family.
    pub primary_address: IpAddr,
    /// The virtual addresses (at least one, all of the primary address's family).
    pub virtual_addresses: Vec<IpAddr>,
    /// Preempt_Mode (RFC 5798 §6.1): a higher-priority backup takes over from a lower master.
    pub preempt: bool,
    /// Delay before a higher-priority backup takes over from a lower-priority master it has
    /// seen (zero: take over per the RFC, when Master_Down_Timer fires).
    pub preempt_delay: Duration,
    /// Accept_Mode (RFC 5798 §6.1): a non-owner master accepts packets for the virtual
    /// addresses. The instance only reports it ([`Instance::accepts_vip_traffic`]).
    pub accept_mode: bool,
    /// VRRPv2 authentication (must be [`V2Auth::NONE`] for VRRPv3).
    pub v2_auth: V2Auth,
    /// Address-list check on receive (RFC 5798 §7.1 MAY).
    pub address_list_check: AddressListCheck,
    /// While master, repeat gratuitous ARP/NA every this long (switch MAC tables and neighbour
    /// caches age out); `None` sends them only on becoming master.
    pub gratuitous_refresh: Option<Duration>,
}

impl InstanceConfig {
    /// A configuration with the RFC defaults for everything not given: preempt on, no preempt
    /// delay, accept mode off, no authentication, no address-list check, no gratuitous refresh.
    pub fn new(
        version: Version,
        vrid: u8,
        priority: u8,
        advert_interval: Centiseconds,
        primary_address: IpAddr,
        virtual_addresses: Vec<IpAddr>,
    ) -> InstanceConfig {
        InstanceConfig {
            version,
            vrid,
            priority,
            advert_interval,
            primary_address,
            virtual_addresses,
            preempt: true,
            preempt_delay: Duration::ZERO,
            accept_mode: false,
            v2_auth: V2Auth::NONE,
            address_list_check: AddressListCheck::Ignore,
            gratuitous_refresh: None,
        }
    }

    /// The virtual router's address family.
    pub fn family(&self) -> Family {
        Family::of(&self.primary_address)
    }

    /// Checks the configuration; the daemon reports these as config errors.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.vrid == 0 {
            return Err(ConfigError::InvalidVrid);
        }
        if self.priority == RELEASE_PRIORITY {
            return Err(ConfigError::InvalidPriority);
        }
        let cs = self.advert_interval.get();
        let interval_ok = match self.version {
            Version::V2 => cs.is_multiple_of(100) && (1..=255).contains(&(cs / 100)),
            Version::V3 => (1..=u32::from(V3_MAX_ADVERT_INTERVAL)).contains(&cs),
        };
        if !interval_ok {
            return Err(ConfigError::IntervalOutOfRange(self.advert_interval));
        }
        if self.version == Version::V2 && self.family() != Family::Ipv4 {
            return Err(ConfigError::V2RequiresIpv4);
        }
        if self.version != Version::V2 && self.v2_auth != V2Auth::NONE {
            return Err(ConfigError::AuthRequiresV2);
        }
        if self.virtual_addresses.is_empty() {
            return Err(ConfigError::NoVirtualAddresses);
        }
        if self.virtual_addresses.len() > usize::from(u8::MAX) {
            return Err(ConfigError::TooManyAddresses(self.virtual_addresses.len()));
        }
        if self.preempt_delay > MAX_PREEMPT_DELAY {
            return Err(ConfigError::PreemptDelayTooLong(self.preempt_delay));
        }
        if let Some(refresh) = self.gratuitous_refresh
            && !(MIN_GRATUITOUS_REFRESH..=MAX_GRATUITOUS_REFRESH).contains(&refresh)
        {
            return Err(ConfigError::GratuitousRefreshOutOfRange(refresh));
        }
        if let Some(bad) = self
            .virtual_addresses
            .iter()
            .find(|a| Family::of(a) != self.family())
        {
            return Err(ConfigError::FamilyMismatch(*bad));
        }
        Ok(())
    }
}

/// An invalid [`InstanceConfig`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// VRID 0 is not valid (RFC 5798 §5.2.3: 1-255).
    #[error("VRID must be 1..=255")]
    InvalidVrid,
    /// Priority 0 is reserved for releasing (RFC 5798 §5.2.4).
    #[error("priority must be 1..=255 (0 is reserved)")]
    InvalidPriority,
    /// Interval not representable in the configured version.
    #[error(
        "advertisement interval {0:?} out of range (v2: whole seconds 1-255, v3: 1-4095 centiseconds)"
    )]
    IntervalOutOfRange(Centiseconds),
    /// VRRPv2 with IPv6 addresses.
    #[error("VRRPv2 supports IPv4 only")]
    V2RequiresIpv4,
    /// Authentication configured for VRRPv3, which has none (RFC 5798 §1.1).
    #[error("authentication exists only in VRRPv2")]
    AuthRequiresV2,
    /// No virtual addresses.
    #[error("at least one virtual address is required")]
    NoVirtualAddresses,
    /// More addresses than the advert's 8-bit count allows.
    #[error("{0} virtual addresses; at most 255")]
    TooManyAddresses(usize),
    /// A virtual address of another family than the primary address.
    #[error("virtual address {0} is not of the primary address's family")]
    FamilyMismatch(IpAddr),
    /// Preemption delay above [`MAX_PREEMPT_DELAY`].
    #[error("preempt delay {0:?} is longer than one hour")]
    PreemptDelayTooLong(Duration),
    /// Gratuitous refresh outside [`MIN_GRATUITOUS_REFRESH`]..=[`MAX_GRATUITOUS_REFRESH`].
    #[error("gratuitous refresh period {0:?} must be between 1 s and 24 h")]
    GratuitousRefreshOutOfRange(Duration),
}

/// One virtual router's state machine.
#[derive(Debug, Clone)]
pub struct Instance {
    config: InstanceConfig,
    state: State,
    effective_priority: u8,
    /// Master_Adver_Interval (RFC 5798 §6.1): learned from the master's adverts in VRRPv3.
    master_adver_interval: Centiseconds,
    /// Primary address of the current master (ours when master).
    master_address: Option<IpAddr>,
    timers: Timers,
    /// Set when the master released with priority 0, so the takeover is reported as such.
    master_released: bool,
    interface_down: bool,
    track_failed: bool,
    /// Startup received and no Shutdown since: faults clearing should restart the router.
    running: bool,
    counters: Counters,
    /// What received packets must match; kept up to date so receiving allocates nothing.
    params: ValidationParams,
    /// Re-assertion bursts against a conflicting lower-priority master: when the current
    /// window of [`MIN_GRATUITOUS_REFRESH`] began and how many bursts it has had (at most
    /// [`REASSERTIONS_PER_WINDOW`]; see [`Instance::master_on_advert`]). The burst sent on
    /// becoming master (or by the refresh timer) does not count: it must not suppress a
    /// re-assertion, since the other router's gratuitous ARP/NA may have come after ours.
    reassertions: Option<(Instant, u8)>,
    /// Held by its sync group ([`Event::SyncGroupHold`]).
    sync_held: bool,
    /// A held Backup that would have become Master, and why.
    wants_master: Option<TransitionReason>,
}

impl Instance {
    /// Creates an instance in Initialize; nothing happens until [`Event::Startup`].
    pub fn new(config: InstanceConfig) -> Result<Instance, ConfigError> {
        config.check()?;
        let params = ValidationParams {
            version: config.version,
            family: config.family(),
            vrid: config.vrid,
            local_is_owner: config.priority == OWNER_PRIORITY,
            v2_auth: config.v2_auth,
            advert_interval: config.advert_interval,
            virtual_addresses: config.virtual_addresses.clone(),
            address_list_check: config.address_list_check,
            local_address: Some(config.primary_address),
        };
        Ok(Instance {
            params,
            effective_priority: config.priority,
            master_adver_interval: config.advert_interval,
            config,
            state: State::Initialize,
            master_address: None,
            timers: Timers::default(),
            master_released: false,
            interface_down: false,
            track_failed: false,
            running: false,
            counters: Counters::default(),
            reassertions: None,
            sync_held: false,
            wants_master: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &InstanceConfig {
        &self.config
    }

    /// VRID.
    pub fn vrid(&self) -> u8 {
        self.config.vrid
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Priority in use: configured, or as last set by [`Event::PriorityChanged`].
    pub fn effective_priority(&self) -> u8 {
        self.effective_priority
    }

    /// Primary address of the current master: ours in Master, the last accepted advert's
    /// source in Backup, `None` when unknown.
    pub fn master_address(&self) -> Option<IpAddr> {
        self.master_address
    }

    /// Master_Adver_Interval: the interval the current master advertises (VRRPv3 learns it).
    pub fn master_adver_interval(&self) -> Centiseconds {
        self.master_adver_interval
    }

    /// Skew_Time for the effective priority and Master_Adver_Interval (RFC 5798 §6.1).
    pub fn skew_time(&self) -> Duration {
        timers::skew_time(
            self.config.version,
            self.effective_priority,
            self.master_adver_interval,
        )
    }

    /// Master_Down_Interval for the effective priority and Master_Adver_Interval.
    pub fn master_down_interval(&self) -> Duration {
        timers::master_down_interval(
            self.config.version,
            self.effective_priority,
            self.master_adver_interval,
        )
    }

    /// Counters (received/sent/dropped/transitions).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// True when packets addressed to the virtual addresses must be accepted: in Master, if
    /// we are the address owner or Accept_Mode is on (RFC 5798 §6.4.3). The daemon drops such
    /// traffic otherwise (e.g. with a firewall rule).
    pub fn accepts_vip_traffic(&self) -> bool {
        self.state == State::Master
            && (self.effective_priority == OWNER_PRIORITY || self.config.accept_mode)
    }

    /// When to deliver the next [`Event::Timer`], if any timer runs.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// What received packets must match, for [`validate`].
    pub fn validation_params(&self) -> &ValidationParams {
        &self.params
    }

    /// Validates a received packet, counts it if dropped, and otherwise handles it as
    /// [`Event::AdvertReceived`].
    pub fn receive(
        &mut self,
        packet: &ReceivedPacket<'_>,
        now: Instant,
    ) -> Result<Vec<Action>, DropReason> {
        match validate(&self.params, packet) {
            Ok(advert) => Ok(self.handle(
                Event::AdvertReceived {
                    source: packet.source,
                    advert,
                },
                now,
            )),
            Err(reason) => {
                self.counters.record_drop(&reason);
                Err(reason)
            }
        }
    }

    /// Handles one event at time `now` and returns the actions to carry out, in order.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        self.handle_into(event, now, &mut actions);
        actions
    }

    /// Like [`Instance::handle`], appending to a caller-owned vector (no allocation per event).
    pub fn handle_into(&mut self, event: Event, now: Instant, out: &mut Vec<Action>) {
        match event {
            Event::Startup => self.on_startup(now, out),
            Event::Timer => self.on_timer(now, out),
            Event::AdvertReceived { source, advert } => self.on_advert(source, &advert, now, out),
            Event::PriorityChanged(priority) => self.on_priority_changed(priority, now, out),
            Event::InterfaceDown => {
                self.interface_down = true;
                self.enter_fault(TransitionReason::InterfaceDown, out);
            }
            Event::TrackFailed => {
                self.track_failed = true;
                self.enter_fault(TransitionReason::TrackFailed, out);
            }
            Event::InterfaceUp => {
                self.interface_down = false;
                self.leave_fault_if_clear(now, out);
            }
            Event::TrackRecovered => {
                self.track_failed = false;
                self.leave_fault_if_clear(now, out);
            }
            Event::Shutdown => self.on_shutdown(out),
            Event::SyncGroupHold(held) => self.on_sync_group_hold(held, now, out),
        }
    }

    /// Whether the sync group holds this instance in Backup although it would be Master.
    pub fn wants_master(&self) -> bool {
        self.wants_master.is_some()
    }

    fn on_sync_group_hold(&mut self, held: bool, now: Instant, out: &mut Vec<Action>) {
        self.sync_held = held;
        if !held
            && self.state == State::Backup
            && let Some(reason) = self.wants_master.take()
        {
            self.become_master(reason, now, out);
        }
    }

    /// A held Backup whose timer ran out: stays Backup with no timer running (a live
    /// master's advert re-arms it) and tells the group once.
    fn hold_back(&mut self, reason: TransitionReason, out: &mut Vec<Action>) {
        self.timers.master_down = None;
        self.timers.preempt = None;
        if self.wants_master.replace(reason).is_none() {
            out.push(Action::WantsMaster(true));
        }
    }

    /// Forgets a pending wish to become Master (a master we accept was heard, or we left
    /// Backup), telling the group if there was one.
    fn drop_wish(&mut self, out: &mut Vec<Action>) {
        if self.wants_master.take().is_some() {
            out.push(Action::WantsMaster(false));
        }
    }

    fn faulted(&self) -> bool {
        self.interface_down || self.track_failed
    }

    /// The advertisement we send with `priority`.
    fn advert(&self, priority: u8) -> Advertisement {
        Advertisement {
            version: self.config.version,
            vrid: self.config.vrid,
            priority,
            // RFC 5798 §6.4.3: a master advertises its own Advertisement_Interval.
            advert_interval: self.config.advert_interval,
            addresses: self.config.virtual_addresses.clone(),
            auth: match self.config.version {
                Version::V2 => Some(self.config.v2_auth),
                _ => None,
            },
        }
    }

    fn send_advert(&mut self, priority: u8, out: &mut Vec<Action>) {
        self.counters.adverts_sent += 1;
        if priority == RELEASE_PRIORITY {
            self.counters.priority_zero_sent += 1;
        }
        out.push(Action::SendAdvert(self.advert(priority)));
    }

    fn transition(&mut self, to: State, reason: TransitionReason, out: &mut Vec<Action>) {
        let from = self.state;
        self.state = to;
        out.push(Action::StateChanged { from, to, reason });
        // Only a Backup can want to be Master.
        self.wants_master = None;
    }

    /// RFC 5798 §6.4.1: what Initialize does on Startup (also used when a fault clears).
    fn start(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.effective_priority == OWNER_PRIORITY {
            self.become_master(TransitionReason::AddressOwner, now, out);
        } else {
            self.become_backup(TransitionReason::Startup, out);
            // "Set Master_Adver_Interval to Advertisement_Interval" before computing the timer.
            self.master_adver_interval = self.config.advert_interval;
            self.timers.master_down = Some(now + self.master_down_interval());
        }
    }

    fn on_startup(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.state != State::Initialize {
            return;
        }
        self.running = true;
        if self.faulted() {
            let reason = if self.interface_down {
                TransitionReason::InterfaceDown
            } else {
                TransitionReason::TrackFailed
            };
            self.transition(State::Fault, reason, out);
        } else {
            self.start(now, out);
        }
    }

    /// Enters Master: RFC 5798 §6.4.1/§6.4.2 "Send an ADVERTISEMENT; broadcast a gratuitous
    /// ARP / send unsolicited NDs; set the Adver_Timer to Advertisement_Interval".
    fn become_master(&mut self, reason: TransitionReason, now: Instant, out: &mut Vec<Action>) {
        self.timers.clear();
        self.master_released = false;
        self.transition(State::Master, reason, out);
        self.counters.become_master += 1;
        self.master_address = Some(self.config.primary_address);
        out.push(Action::AddVirtualAddresses(
            self.config.virtual_addresses.clone(),
        ));
        self.send_advert(self.effective_priority, out);
        out.push(Action::SendGratuitous(
            self.config.virtual_addresses.clone(),
        ));
        self.timers.advert = Some(now + self.config.advert_interval.to_duration());
        self.timers.gratuitous_refresh = self.config.gratuitous_refresh.map(|d| now + d);
    }

    /// Enters Backup from any state; the caller sets Master_Down_Timer.
    fn become_backup(&mut self, reason: TransitionReason, out: &mut Vec<Action>) {
        let was_master = self.state == State::Master;
        self.timers.clear();
        self.master_released = false;
        self.transition(State::Backup, reason, out);
        if was_master {
            out.push(Action::RemoveVirtualAddresses(
                self.config.virtual_addresses.clone(),
            ));
            self.master_address = None;
        }
    }

    fn on_timer(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.state {
            State::Backup => {
                // RFC 5798 §6.4.2: "If the Master_Down_Timer fires" → Master.
                let due = if expired(self.timers.master_down, now) {
                    Some(if self.master_released {
                        TransitionReason::MasterReleased
                    } else {
                        TransitionReason::MasterDownTimer
                    })
                } else if expired(self.timers.preempt, now) {
                    Some(TransitionReason::PreemptDelayExpired)
                } else {
                    None
                };
                match due {
                    Some(reason) if self.sync_held => self.hold_back(reason, out),
                    Some(reason) => self.become_master(reason, now, out),
                    None => {}
                }
            }
            State::Master => {
                // RFC 5798 §6.4.3: "If the Adver_Timer fires": send, reset the timer.
                if expired(self.timers.advert, now) {
                    self.send_advert(self.effective_priority, out);
                    self.timers.advert = Some(now + self.config.advert_interval.to_duration());
                }
                if expired(self.timers.gratuitous_refresh, now) {
                    out.push(Action::SendGratuitous(
                        self.config.virtual_addresses.clone(),
                    ));
                    self.timers.gratuitous_refresh =
                        self.config.gratuitous_refresh.map(|d| now + d);
                }
            }
            State::Initialize | State::Fault => {}
        }
    }

    /// Sets Master_Adver_Interval from an advert: VRRPv3 learns it (RFC 5798 §6.4.2); VRRPv2
    /// requires it to equal ours (checked on receive), so it never changes.
    fn learn_interval(&mut self, advert: &Advertisement) {
        if self.config.version == Version::V3 && advert.advert_interval.get() > 0 {
            self.master_adver_interval = advert.advert_interval;
        }
    }

    fn on_advert(
        &mut self,
        source: IpAddr,
        advert: &Advertisement,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        self.counters.adverts_received += 1;
        if advert.priority == RELEASE_PRIORITY {
            self.counters.priority_zero_received += 1;
        }
        match self.state {
            State::Backup => self.backup_on_advert(source, advert, now, out),
            State::Master => self.master_on_advert(source, advert, now, out),
            State::Initialize | State::Fault => {}
        }
    }

    /// RFC 5798 §6.4.2, Backup receiving an ADVERTISEMENT.
    fn backup_on_advert(
        &mut self,
        source: IpAddr,
        advert: &Advertisement,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        if advert.priority == RELEASE_PRIORITY {
            // "If the Priority in the ADVERTISEMENT is zero, then: Set the Master_Down_Timer to
            // Skew_Time": the master is leaving, the best backup takes over first.
            if self.wants_master.is_none() {
                self.timers.master_down = Some(now + self.skew_time());
            }
            self.master_released = true;
            self.master_address = None;
            return;
        }
        let lower_master = advert.priority < self.effective_priority;
        if !self.config.preempt || !lower_master {
            // "If Preempt_Mode is False, or if the Priority in the ADVERTISEMENT is greater
            // than or equal to the local Priority": accept this master.
            self.accept_master(source, advert, now);
            self.timers.preempt = None;
            self.drop_wish(out);
        } else if self.wants_master.is_some() {
            // Held, still wanting to preempt this lower master: nothing to re-arm.
        } else if !self.config.preempt_delay.is_zero() {
            // Preemption delay (tandem/keepalived extension): keep following the lower master
            // until the delay, started when it was first seen, runs out; then take over.
            self.accept_master(source, advert, now);
            if self.timers.preempt.is_none() {
                self.timers.preempt = Some(now + self.config.preempt_delay);
            }
        }
        // Otherwise "Discard the ADVERTISEMENT": Master_Down_Timer runs out and we preempt.
    }

    fn accept_master(&mut self, source: IpAddr, advert: &Advertisement, now: Instant) {
        self.learn_interval(advert);
        self.timers.master_down = Some(now + self.master_down_interval());
        self.master_address = Some(source);
        self.master_released = false;
    }

    /// RFC 5798 §6.4.3, Master receiving an ADVERTISEMENT.
    fn master_on_advert(
        &mut self,
        source: IpAddr,
        advert: &Advertisement,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        if advert.priority == RELEASE_PRIORITY {
            // "If the Priority in the ADVERTISEMENT is zero, then: Send an ADVERTISEMENT; Reset
            // the Adver_Timer to Advertisement_Interval" (another router released: show we hold
            // the virtual router so nobody waits out Skew_Time).
            self.send_advert(self.effective_priority, out);
            self.timers.advert = Some(now + self.config.advert_interval.to_duration());
            return;
        }
        let reason = if advert.priority > self.effective_priority {
            TransitionReason::HigherPriority
        } else if advert.priority == self.effective_priority && source > self.config.primary_address
        {
            // "the Priority in the ADVERTISEMENT is equal to the local Priority and the primary
            // IPvX Address of the sender is greater than the local primary IPvX Address".
            TransitionReason::EqualPriorityHigherAddress
        } else {
            // "Otherwise: Discard the ADVERTISEMENT" — we stay master. But a router advertising
            // a lower priority believes it is master too (a healed split brain), and clients
            // may have followed its gratuitous ARP/NA. Assert ourselves at once: an advert, so
            // it yields now rather than at our next interval, and gratuitous ARP/NA so clients
            // come back (keepalived leaves them on the loser, which dropped the VIPs). Bursts
            // are bounded to REASSERTIONS_PER_WINDOW per MIN_GRATUITOUS_REFRESH whatever the
            // peer's advert rate, and are sent even right after our own becoming-master burst.
            // A backup that missed our adverts (started late, lost packets) takes over with an
            // advert followed by its gratuitous ARP; our answer to that advert can reach the
            // clients before its gratuitous ARP does (the failover bench saw it at start-up),
            // and its one advert on stepping down, sent after its gratuitous ARP, is then our
            // only cue to win the clients back: hence two bursts per window, not one.
            self.send_advert(self.effective_priority, out);
            self.timers.advert = Some(now + self.config.advert_interval.to_duration());
            let in_window = self.reassertions.filter(|(start, _)| {
                now.saturating_duration_since(*start) < MIN_GRATUITOUS_REFRESH
            });
            let next = match in_window {
                None => Some((now, 1)),
                Some((start, sent)) if sent < REASSERTIONS_PER_WINDOW => Some((start, sent + 1)),
                Some(_) => None,
            };
            if let Some(window) = next {
                out.push(Action::SendGratuitous(
                    self.config.virtual_addresses.clone(),
                ));
                self.reassertions = Some(window);
            }
            return;
        };
        // Stepping down, we were master alongside a better master (split brain healing, or a
        // preemption). One last advert with our priority tells the winner, even if its advert
        // reached us before any of ours reached it, so it re-sends gratuitous ARP/NA (above)
        // for the clients that followed ours.
        self.send_advert(self.effective_priority, out);
        // "Cancel Adver_Timer; Set Master_Adver_Interval to Adver Interval contained in the
        // ADVERTISEMENT; Recompute Skew_Time and Master_Down_Interval; Set Master_Down_Timer to
        // Master_Down_Interval; Transition to the Backup state".
        self.become_backup(reason, out);
        self.accept_master(source, advert, now);
    }

    fn on_priority_changed(&mut self, priority: u8, now: Instant, out: &mut Vec<Action>) {
        // Only a configured owner may claim 255; nobody may use 0 (release) as a priority.
        let ceiling = if self.config.priority == OWNER_PRIORITY {
            OWNER_PRIORITY
        } else {
            OWNER_PRIORITY - 1
        };
        let priority = priority.clamp(1, ceiling);
        if priority == self.effective_priority {
            return;
        }
        self.effective_priority = priority;
        self.params.local_is_owner = priority == OWNER_PRIORITY;
        if self.state == State::Backup && priority == OWNER_PRIORITY {
            // Owner again: RFC 5798 §6.4.1 sends the owner straight to Master.
            self.become_master(TransitionReason::AddressOwner, now, out);
        }
        // Otherwise the new priority is used from the next advert / timer computation on:
        // RFC 5798 defines no immediate reaction.
    }

    fn enter_fault(&mut self, reason: TransitionReason, out: &mut Vec<Action>) {
        match self.state {
            State::Master => {
                self.timers.clear();
                self.transition(State::Fault, reason, out);
                if reason == TransitionReason::TrackFailed {
                    // The link still works: release at once so a backup takes over after
                    // Skew_Time instead of Master_Down_Interval (as on Shutdown).
                    self.send_advert(RELEASE_PRIORITY, out);
                }
                out.push(Action::RemoveVirtualAddresses(
                    self.config.virtual_addresses.clone(),
                ));
                self.master_address = None;
            }
            State::Backup => {
                self.timers.clear();
                self.transition(State::Fault, reason, out);
                self.master_address = None;
            }
            // Not started: Startup will go to Fault. Already in Fault: nothing changes.
            State::Initialize | State::Fault => {}
        }
    }

    fn leave_fault_if_clear(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.state == State::Fault && !self.faulted() && self.running {
            self.start(now, out);
        }
    }

    /// RFC 5798 §6.4.2/§6.4.3 Shutdown event.
    fn on_shutdown(&mut self, out: &mut Vec<Action>) {
        self.running = false;
        match self.state {
            State::Master => {
                // "Cancel the Adver_Timer; Send an ADVERTISEMENT with Priority = 0; Transition
                // to the Initialize state".
                self.timers.clear();
                self.transition(State::Initialize, TransitionReason::Shutdown, out);
                self.send_advert(RELEASE_PRIORITY, out);
                out.push(Action::RemoveVirtualAddresses(
                    self.config.virtual_addresses.clone(),
                ));
            }
            State::Backup | State::Fault => {
                // "Cancel the Master_Down_Timer; Transition to the Initialize state".
                self.timers.clear();
                self.transition(State::Initialize, TransitionReason::Shutdown, out);
            }
            State::Initialize => {}
        }
        self.master_address = None;
    }
}
