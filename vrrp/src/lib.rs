//! VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798) for tandem: a packet codec, receive validation, a
//! sans-IO state machine, gratuitous ARP/NA frame builders, and thin raw-socket helpers.
//!
//! The crate knows nothing of the daemon or its YAML: it takes typed parameters
//! ([`InstanceConfig`]) and reports through return values ([`Action`]s, [`DropReason`]s,
//! [`Counters`]).
//!
//! # Wiring one virtual router
//!
//! ```text
//!   socket (net::VrrpSocket) ──recv──► ReceivedPacket ──► Instance::receive ──► Vec<Action>
//!   timer  (sleep_until next_deadline) ─────────────────► Instance::handle(Timer)
//!   link / tracking monitors ─── Event::{InterfaceDown, TrackFailed, PriorityChanged, …} ─┘
//!   Vec<Action> ──► SendAdvert → Advertisement::encode → VrrpSocket::send
//!                   Add/RemoveVirtualAddresses → netlink (daemon)
//!                   SendGratuitous → garp::{gratuitous_arp, unsolicited_na} → net::PacketSocket
//!                   StateChanged → logs, alerts, SNMP traps
//! ```
//!
//! 1. Build an [`InstanceConfig`] with [`InstanceConfig::new`], adjust the optional fields,
//!    and create the [`Instance`] with [`Instance::new`] (which checks the config).
//! 2. Deliver [`Event::Startup`]. Carry out the returned actions in order.
//! 3. Loop: wait until the earliest of (a) [`Instance::next_deadline`], then deliver
//!    [`Event::Timer`]; (b) a packet on the interface's socket: for IPv4 split the datagram
//!    with [`ReceivedPacket::from_ipv4_datagram`], for IPv6 build a [`ReceivedPacket`] from the
//!    source, destination, hop limit and payload [`net::VrrpSocket::recv`] returns; demultiplex
//!    by [`packet::peek_vrid`] when several instances share an interface; hand it to
//!    [`Instance::receive`], which validates (RFC 5798 §7.1), counts drops, and runs the state
//!    machine; (c) an event from link monitoring or tracking.
//! 4. On exit deliver [`Event::Shutdown`]: a master sends priority 0 and removes its addresses.
//!
//! Every call takes `now: Instant` from the caller; the instance never reads the clock, so
//! tests drive it with a fake one. The instance counts an advert as sent when it emits
//! [`Action::SendAdvert`].
//!
//! [`Instance::accepts_vip_traffic`] tells whether traffic to the virtual addresses must be
//! accepted (RFC 5798 §6.4.3 Accept_Mode): the daemon enforces it.
//!
//! # Example (no sockets: time is passed in)
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tandem_vrrp::{Action, Centiseconds, Event, Instance, InstanceConfig, State, Version};
//!
//! let config = InstanceConfig::new(
//!     Version::V3,
//!     51,                                   // VRID
//!     100,                                  // priority
//!     Centiseconds(100),                    // 1 s adverts
//!     "10.0.0.1".parse().unwrap(),          // our primary address
//!     vec!["10.0.0.100".parse().unwrap()],  // virtual address
//! );
//! let mut vr = Instance::new(config).expect("valid config");
//! let t0 = Instant::now();
//! vr.handle(Event::Startup, t0);
//! assert_eq!(vr.state(), State::Backup);
//! // Master_Down_Interval = 3 * 100 cs + (156 * 100) / 256 cs = 360 cs.
//! let deadline = vr.next_deadline().unwrap();
//! assert_eq!(deadline, t0 + Duration::from_millis(3600));
//! let actions = vr.handle(Event::Timer, deadline);
//! assert_eq!(vr.state(), State::Master);
//! assert!(actions.iter().any(|a| matches!(a, Action::SendAdvert(ad) if ad.priority == 100)));
//! ```
//!
//! # Modules
//! - [`packet`]: advert and IPv4 header codec ([`checksum`] has the RFC 1071 sums).
//! - [`validate`]: receive checks, [`DropReason`], [`Counters`].
//! - [`instance`], [`events`], [`timers`]: the state machine and its timer formulas.
//! - [`garp`]: gratuitous ARP / unsolicited NA frames, virtual MACs.
//! - [`net`]: raw IP-protocol-112 sockets, `AF_PACKET` sender, tokio wrappers (the only
//!   `unsafe` code, for socket options `socket2` lacks).

pub mod checksum;
pub mod events;
pub mod garp;
pub mod instance;
pub mod net;
pub mod packet;
pub mod timers;
pub mod validate;

pub use events::{Action, Event, State, TransitionReason};
pub use instance::{ConfigError, Instance, InstanceConfig};
pub use packet::{Advertisement, AuthType, Centiseconds, Family, V2Auth, Version};
pub use validate::{AddressListCheck, Counters, DropReason, ReceivedPacket};
