//! Property tests: the decoders never panic on arbitrary bytes, every valid advertisement
//! round-trips through encode/decode with a verifying checksum, and arbitrary event sequences
//! keep the state machine's invariants (virtual addresses installed exactly while master).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use tandem_vrrp::packet::{Ipv4VrrpPacket, verify_checksum};
use tandem_vrrp::validate::{ValidationParams, validate};
use tandem_vrrp::{
    Action, AddressListCheck, Advertisement, AuthType, Centiseconds, Event, Family, Instance,
    InstanceConfig, ReceivedPacket, State, V2Auth, Version,
};

fn ipv4() -> impl Strategy<Value = IpAddr> {
    any::<u32>().prop_map(|n| IpAddr::V4(Ipv4Addr::from(n)))
}

fn ipv6() -> impl Strategy<Value = IpAddr> {
    any::<u128>().prop_map(|n| IpAddr::V6(Ipv6Addr::from(n)))
}

/// A valid VRRPv2 advert with its source and destination.
fn v2_case() -> impl Strategy<Value = (Advertisement, IpAddr, IpAddr)> {
    (
        any::<u8>(),
        any::<u8>(),
        1u32..=255,
        prop::collection::vec(ipv4(), 0..16),
        any::<u8>(),
        any::<[u8; 8]>(),
        ipv4(),
        ipv4(),
    )
        .prop_map(
            |(vrid, priority, secs, addresses, auth_type, data, src, dst)| {
                let advert = Advertisement {
                    version: Version::V2,
                    vrid,
                    priority,
                    advert_interval: Centiseconds::from_secs(secs),
                    addresses,
                    auth: Some(V2Auth {
                        auth_type: AuthType::from(auth_type),
                        data,
                    }),
                };
                (advert, src, dst)
            },
        )
}

/// A valid VRRPv3 advert (IPv4 or IPv6) with its source and destination.
fn v3_case() -> impl Strategy<Value = (Advertisement, IpAddr, IpAddr)> {
    let v4 = (prop::collection::vec(ipv4(), 0..16), ipv4(), ipv4());
    let v6 = (prop::collection::vec(ipv6(), 0..16), ipv6(), ipv6());
    (any::<u8>(), any::<u8>(), 1u32..=4095, prop_oneof![v4, v6]).prop_map(
        |(vrid, priority, cs, (addresses, src, dst))| {
            let advert = Advertisement {
                version: Version::V3,
                vrid,
                priority,
                advert_interval: Centiseconds(cs),
                addresses,
                auth: None,
            };
            (advert, src, dst)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = Advertisement::decode(&bytes, Family::Ipv4);
        let _ = Advertisement::decode(&bytes, Family::Ipv6);
        let _ = Ipv4VrrpPacket::decode(&bytes);
        let _ = tandem_vrrp::packet::peek_vrid(&bytes);
        if let Ok(rx) = ReceivedPacket::from_ipv4_datagram(&bytes) {
            let params = ValidationParams {
                version: Version::V3,
                family: Family::Ipv4,
                vrid: 1,
                local_is_owner: false,
                v2_auth: V2Auth::NONE,
                advert_interval: Centiseconds(100),
                virtual_addresses: vec![],
                address_list_check: AddressListCheck::DropUnlessOwner,
                local_address: None,
            };
            let _ = validate(&params, &rx);
        }
    }

    /// Bytes that look like VRRP (valid version/type nibble) exercise the deeper paths.
    #[test]
    fn vrrp_like_bytes_never_panic(
        first in prop::sample::select(vec![0x21u8, 0x31]),
        rest in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = vec![first];
        bytes.extend_from_slice(&rest);
        for family in [Family::Ipv4, Family::Ipv6] {
            if let Ok(advert) = Advertisement::decode(&bytes, family) {
                // What decodes re-encodes to the same length.
                let (src, dst) = match family {
                    Family::Ipv4 => (IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V4(Ipv4Addr::LOCALHOST)),
                    _ => (IpAddr::V6(Ipv6Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)),
                };
                if let Ok(again) = advert.encode(src, dst) {
                    prop_assert_eq!(again.len(), bytes.len());
                }
            }
        }
    }

    #[test]
    fn v2_round_trip((advert, src, dst) in v2_case()) {
        let bytes = advert.encode(src, dst).unwrap();
        prop_assert!(verify_checksum(Version::V2, src, dst, &bytes));
        prop_assert_eq!(Advertisement::decode(&bytes, Family::Ipv4).unwrap(), advert);
    }

    #[test]
    fn v3_round_trip((advert, src, dst) in v3_case()) {
        let bytes = advert.encode(src, dst).unwrap();
        prop_assert!(verify_checksum(Version::V3, src, dst, &bytes));
        let family = Family::of(&src);
        prop_assert_eq!(Advertisement::decode(&bytes, family).unwrap(), advert);
    }

    #[test]
    fn single_bit_flips_break_the_checksum((advert, src, dst) in v3_case(), bit in 0usize..64) {
        let mut bytes = advert.encode(src, dst).unwrap();
        let bit = bit % (bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(!verify_checksum(Version::V3, src, dst, &bytes));
    }
}

#[derive(Debug, Clone)]
enum Step {
    Wait(u64),
    Timer,
    Advert { priority: u8, high_address: bool },
    Priority(u8),
    InterfaceDown,
    InterfaceUp,
    TrackFailed,
    TrackRecovered,
    Shutdown,
    Startup,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u64..5000).prop_map(Step::Wait),
        Just(Step::Timer),
        Just(Step::Timer),
        (any::<u8>(), any::<bool>()).prop_map(|(priority, high_address)| Step::Advert {
            priority,
            high_address
        }),
        any::<u8>().prop_map(Step::Priority),
        Just(Step::InterfaceDown),
        Just(Step::InterfaceUp),
        Just(Step::TrackFailed),
        Just(Step::TrackRecovered),
        Just(Step::Shutdown),
        Just(Step::Startup),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Whatever happens, the virtual addresses are installed exactly while master, a master
    /// or backup always has a deadline and other states never do, and every transition
    /// starts from the state the instance was in.
    #[test]
    fn state_machine_invariants(
        priority in 1u8..=255,
        preempt in any::<bool>(),
        delay_ms in prop::sample::select(vec![0u64, 1500]),
        steps in prop::collection::vec(step(), 1..80),
    ) {
        let mut cfg = InstanceConfig::new(
            Version::V3,
            7,
            priority,
            Centiseconds(100),
            "10.0.0.5".parse().unwrap(),
            vec!["10.0.0.100".parse().unwrap()],
        );
        cfg.preempt = preempt;
        cfg.preempt_delay = Duration::from_millis(delay_ms);
        let mut inst = Instance::new(cfg).unwrap();
        let mut now = Instant::now();
        let mut installed = false;
        for step in steps {
            let event = match step {
                Step::Wait(ms) => {
                    now += Duration::from_millis(ms);
                    continue;
                }
                Step::Timer => {
                    if let Some(d) = inst.next_deadline() {
                        now = now.max(d);
                    }
                    Event::Timer
                }
                Step::Advert { priority, high_address } => Event::AdvertReceived {
                    source: if high_address { "10.0.0.9" } else { "10.0.0.1" }.parse().unwrap(),
                    advert: Advertisement {
                        version: Version::V3,
                        vrid: 7,
                        priority,
                        advert_interval: Centiseconds(100),
                        addresses: vec!["10.0.0.100".parse().unwrap()],
                        auth: None,
                    },
                },
                Step::Priority(p) => Event::PriorityChanged(p),
                Step::InterfaceDown => Event::InterfaceDown,
                Step::InterfaceUp => Event::InterfaceUp,
                Step::TrackFailed => Event::TrackFailed,
                Step::TrackRecovered => Event::TrackRecovered,
                Step::Shutdown => Event::Shutdown,
                Step::Startup => Event::Startup,
            };
            let before = inst.state();
            let actions = inst.handle(event, now);
            let mut state = before;
            for action in &actions {
                match action {
                    Action::StateChanged { from, to, .. } => {
                        prop_assert_eq!(*from, state);
                        prop_assert_ne!(*from, *to);
                        state = *to;
                    }
                    Action::AddVirtualAddresses(_) => {
                        prop_assert!(!installed, "added twice");
                        installed = true;
                    }
                    Action::RemoveVirtualAddresses(_) => {
                        prop_assert!(installed, "removed while not installed");
                        installed = false;
                    }
                    Action::SendAdvert(ad) => {
                        prop_assert!(ad.priority == 0 || state == State::Master);
                    }
                    _ => {}
                }
            }
            prop_assert_eq!(state, inst.state());
            prop_assert_eq!(installed, inst.state() == State::Master);
            let timed = matches!(inst.state(), State::Master | State::Backup);
            prop_assert_eq!(inst.next_deadline().is_some(), timed);
            prop_assert!(inst.effective_priority() >= 1);
        }
    }
}
