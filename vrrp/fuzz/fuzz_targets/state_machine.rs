//! Fuzzes the state machine with arbitrary event sequences (including adverts built from fuzz
//! bytes) and checks the invariants the daemon relies on: virtual addresses are installed
//! exactly while master, transitions chain, and a running instance always has a deadline.

#![no_main]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use tandem_vrrp::{
    Action, Advertisement, Centiseconds, Event, Instance, InstanceConfig, State, Version,
};

fuzz_target!(|data: &[u8]| {
    let Some((&priority, rest)) = data.split_first() else {
        return;
    };
    let Some((&flags, rest)) = rest.split_first() else {
        return;
    };
    let mut config = InstanceConfig::new(
        if flags & 1 == 0 {
            Version::V3
        } else {
            Version::V2
        },
        7,
        priority.max(1),
        Centiseconds(100),
        IpAddr::from([10, 0, 0, 5]),
        vec![IpAddr::from([10, 0, 0, 100])],
    );
    config.preempt = flags & 2 == 0;
    config.preempt_delay = Duration::from_millis(u64::from(flags >> 4) * 300);
    config.gratuitous_refresh = (flags & 4 != 0).then_some(Duration::from_secs(2));
    let version = config.version;
    let Ok(mut instance) = Instance::new(config) else {
        return;
    };
    let mut now = Instant::now();
    let mut installed = false;
    for chunk in rest.chunks(3) {
        let [op, a, b] = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let event = match op % 10 {
            0 => {
                now += Duration::from_millis(u64::from(a) * 20);
                continue;
            }
            1 => {
                if let Some(d) = instance.next_deadline() {
                    now = now.max(d);
                }
                Event::Timer
            }
            2 => Event::AdvertReceived {
                source: IpAddr::from([10, 0, 0, b]),
                advert: Advertisement {
                    version,
                    vrid: 7,
                    priority: a,
                    advert_interval: Centiseconds(u32::from(b).max(1)),
                    addresses: vec![IpAddr::from([10, 0, 0, 100])],
                    auth: None,
                },
            },
            3 => Event::PriorityChanged(a),
            4 => Event::InterfaceDown,
            5 => Event::InterfaceUp,
            6 => Event::TrackFailed,
            7 => Event::TrackRecovered,
            8 => Event::Shutdown,
            _ => Event::Startup,
        };
        let mut state = instance.state();
        for action in instance.handle(event, now) {
            match action {
                Action::StateChanged { from, to, .. } => {
                    assert_eq!(from, state);
                    state = to;
                }
                Action::AddVirtualAddresses(_) => {
                    assert!(!installed);
                    installed = true;
                }
                Action::RemoveVirtualAddresses(_) => {
                    assert!(installed);
                    installed = false;
                }
                _ => {}
            }
        }
        assert_eq!(state, instance.state());
        assert_eq!(installed, instance.state() == State::Master);
        let running = matches!(instance.state(), State::Master | State::Backup);
        assert_eq!(instance.next_deadline().is_some(), running);
    }
});
