//! What goes into the state machine ([`Event`]) and what comes out ([`Action`]).
//!
//! The instance never does I/O: the caller turns sockets, timers, link monitoring and tracking
//! into events, and carries out the actions, in the order given.

use std::fmt;
use std::net::IpAddr;

use crate::packet::Advertisement;

/// VRRP state (RFC 5798 §6.4), plus Fault.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not started, or shut down (RFC 5798 §6.4.1).
    Initialize,
    /// Monitoring the master (RFC 5798 §6.4.2).
    Backup,
    /// Forwarding for the virtual addresses (RFC 5798 §6.4.3).
    Master,
    /// The interface is down or a tracked object failed: the instance neither sends nor
    /// answers until the fault clears (keepalived's FAULT; not in the RFC).
    Fault,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Initialize => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        })
    }
}

/// An input to [`crate::Instance::handle`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Start the virtual router (RFC 5798 §6.4.1 "Startup event").
    Startup,
    /// A deadline passed: send when `now >= next_deadline()`. Early calls do nothing.
    Timer,
    /// A validated advertisement (see [`crate::validate`]) arrived from `source`.
    AdvertReceived {
        /// IP source address of the packet: the sender's primary address.
        source: IpAddr,
        /// The decoded advertisement.
        advert: Advertisement,
    },
    /// Tracking changed the effective priority (1..=254; only a configured owner may use 255).
    PriorityChanged(u8),
    /// The interface lost carrier or went administratively down.
    InterfaceDown,
    /// The interface is back up.
    InterfaceUp,
    /// A tracked object (script, process, file) failed: the instance must not be master.
    TrackFailed,
    /// The tracked object recovered.
    TrackRecovered,
    /// Stop the virtual router (RFC 5798 §6.4.2/§6.4.3 "Shutdown event").
    Shutdown,
    /// Sync group gate (keepalived's `vrrp_sync_group`): while held, a Backup whose
    /// Master_Down_Timer or preemption delay runs out does not become Master; it reports
    /// [`Action::WantsMaster`] and waits until released. A group goes master only when every
    /// member would, so a backup that stops hearing one member's adverts (a partial network
    /// failure) does not split the group between the two directors.
    SyncGroupHold(bool),
}

/// Why the state changed; carried by [`Action::StateChanged`] for logs, alerts and SNMP traps.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransitionReason {
    /// Startup (or recovery from a fault) as a non-owner: Initialize → Backup.
    Startup,
    /// Priority 255: the address owner becomes master at once (RFC 5798 §6.4.1).
    AddressOwner,
    /// Master_Down_Timer fired: no advert from a master for Master_Down_Interval.
    MasterDownTimer,
    /// The master sent priority 0 and our Skew_Time passed (RFC 5798 §6.4.2).
    MasterReleased,
    /// A lower-priority master was seen and the preemption delay passed.
    PreemptDelayExpired,
    /// A master received an advert with a higher priority (RFC 5798 §6.4.3).
    HigherPriority,
    /// A master received an advert with equal priority from a higher primary address.
    EqualPriorityHigherAddress,
    /// The interface went down.
    InterfaceDown,
    /// A tracked object failed.
    TrackFailed,
    /// Shutdown event.
    Shutdown,
}

impl fmt::Display for TransitionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransitionReason::Startup => "startup",
            TransitionReason::AddressOwner => "address owner",
            TransitionReason::MasterDownTimer => "master down timer expired",
            TransitionReason::MasterReleased => "master released (priority 0)",
            TransitionReason::PreemptDelayExpired => "preempt delay expired",
            TransitionReason::HigherPriority => "higher priority advert",
            TransitionReason::EqualPriorityHigherAddress => {
                "equal priority advert from higher address"
            }
            TransitionReason::InterfaceDown => "interface down",
            TransitionReason::TrackFailed => "tracked object failed",
            TransitionReason::Shutdown => "shutdown",
        })
    }
}

/// An output of [`crate::Instance::handle`]: something the caller must do, in order.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this advertisement to the VRRP multicast group (or unicast peers). Encode it with
    /// [`Advertisement::encode`] using the interface's primary address as source.
    SendAdvert(Advertisement),
    /// Install the virtual addresses on the interface (becoming master).
    AddVirtualAddresses(Vec<IpAddr>),
    /// Remove the virtual addresses from the interface (leaving master).
    RemoveVirtualAddresses(Vec<IpAddr>),
    /// Send a gratuitous ARP (IPv4) or unsolicited Neighbor Advertisement (IPv6) for each
    /// address; build frames with [`crate::garp`].
    SendGratuitous(Vec<IpAddr>),
    /// A held Backup would now become Master (`true`), or no longer would (`false`: a master
    /// it accepts was heard, or it left Backup). Only emitted while [`Event::SyncGroupHold`]
    /// holds the instance; the caller tells the group.
    WantsMaster(bool),
    /// The state changed (always the first action of a transition).
    StateChanged {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
        /// Why.
        reason: TransitionReason,
    },
}
