//! Deterministic state-machine tests: a fake clock (a base `Instant` plus offsets) drives every
//! transition of RFC 5798 §6.4 / RFC 3768 §6.4, plus Fault, preemption delay and shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use tandem_vrrp::packet::Ipv4Header;
use tandem_vrrp::{
    Action, Advertisement, Centiseconds, ConfigError, DropReason, Event, Instance, InstanceConfig,
    ReceivedPacket, State, TransitionReason, V2Auth, Version,
};

const LOCAL: &str = "10.0.0.1";
const PEER_HIGH: &str = "10.0.0.2";
const PEER_LOW: &str = "10.0.0.0";
const VIP: &str = "10.0.0.100";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Fake clock: every instant is `base + offset`.
struct Clock {
    base: Instant,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            base: Instant::now(),
        }
    }
    fn ms(&self, ms: u64) -> Instant {
        self.base + Duration::from_millis(ms)
    }
}

fn config(version: Version, priority: u8, interval: Centiseconds) -> InstanceConfig {
    InstanceConfig::new(version, 51, priority, interval, ip(LOCAL), vec![ip(VIP)])
}

fn v3(priority: u8) -> Instance {
    Instance::new(config(Version::V3, priority, Centiseconds(100))).unwrap()
}

fn advert_event(version: Version, source: &str, priority: u8, interval: Centiseconds) -> Event {
    Event::AdvertReceived {
        source: ip(source),
        advert: Advertisement {
            version,
            vrid: 51,
            priority,
            advert_interval: interval,
            addresses: vec![ip(VIP)],
            auth: (version == Version::V2).then_some(V2Auth::NONE),
        },
    }
}

fn from(source: &str, priority: u8) -> Event {
    advert_event(Version::V3, source, priority, Centiseconds(100))
}

fn changed(from: State, to: State, reason: TransitionReason) -> Action {
    Action::StateChanged { from, to, reason }
}

fn sent_priorities(actions: &[Action]) -> Vec<u8> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendAdvert(ad) => Some(ad.priority),
            _ => None,
        })
        .collect()
}

fn our_advert(priority: u8) -> Advertisement {
    Advertisement {
        version: Version::V3,
        vrid: 51,
        priority,
        advert_interval: Centiseconds(100),
        addresses: vec![ip(VIP)],
        auth: None,
    }
}

/// Startup as prio 100 then let the master-down timer fire: master at 3.6 s.
fn master_v3(clock: &Clock, priority: u8) -> Instance {
    let mut inst = v3(priority);
    inst.handle(Event::Startup, clock.ms(0));
    let deadline = inst.next_deadline().unwrap();
    inst.handle(Event::Timer, deadline);
    assert_eq!(inst.state(), State::Master);
    inst
}

#[test]
fn init_to_backup_sets_master_down_timer() {
    let c = Clock::new();
    let mut inst = v3(100);
    assert_eq!(inst.state(), State::Initialize);
    assert_eq!(inst.next_deadline(), None);
    let actions = inst.handle(Event::Startup, c.ms(0));
    assert_eq!(
        actions,
        vec![changed(
            State::Initialize,
            State::Backup,
            TransitionReason::Startup
        )]
    );
    // Master_Down_Interval = 3 * 100 cs + (156 * 100) / 256 cs = 300 + 60 = 360 cs.
    assert_eq!(inst.next_deadline(), Some(c.ms(3600)));
    assert!(!inst.accepts_vip_traffic());
    // A second Startup changes nothing.
    assert!(inst.handle(Event::Startup, c.ms(5)).is_empty());
}

#[test]
fn owner_goes_straight_to_master() {
    let c = Clock::new();
    let mut inst = v3(255);
    let actions = inst.handle(Event::Startup, c.ms(0));
    assert_eq!(
        actions,
        vec![
            changed(
                State::Initialize,
                State::Master,
                TransitionReason::AddressOwner
            ),
            Action::AddVirtualAddresses(vec![ip(VIP)]),
            Action::SendAdvert(our_advert(255)),
            Action::SendGratuitous(vec![ip(VIP)]),
        ]
    );
    assert_eq!(inst.next_deadline(), Some(c.ms(1000)));
    assert_eq!(inst.master_address(), Some(ip(LOCAL)));
    assert!(inst.accepts_vip_traffic(), "the owner always accepts");
    assert_eq!(inst.counters().become_master, 1);
    assert_eq!(inst.counters().adverts_sent, 1);
}

#[test]
fn backup_becomes_master_when_master_down_timer_fires() {
    let c = Clock::new();
    let mut inst = v3(100);
    inst.handle(Event::Startup, c.ms(0));
    assert!(
        inst.handle(Event::Timer, c.ms(3599)).is_empty(),
        "early timer"
    );
    assert_eq!(inst.state(), State::Backup);
    let actions = inst.handle(Event::Timer, c.ms(3600));
    assert_eq!(
        actions,
        vec![
            changed(
                State::Backup,
                State::Master,
                TransitionReason::MasterDownTimer
            ),
            Action::AddVirtualAddresses(vec![ip(VIP)]),
            Action::SendAdvert(our_advert(100)),
            Action::SendGratuitous(vec![ip(VIP)]),
        ]
    );
    assert!(!inst.accepts_vip_traffic(), "accept_mode is off by default");
    // Adver_Timer: every Advertisement_Interval.
    assert_eq!(inst.next_deadline(), Some(c.ms(4600)));
    let actions = inst.handle(Event::Timer, c.ms(4600));
    assert_eq!(actions, vec![Action::SendAdvert(our_advert(100))]);
    assert_eq!(inst.next_deadline(), Some(c.ms(5600)));
}

#[test]
fn accept_mode_is_reported_in_master_only() {
    let c = Clock::new();
    let mut cfg = config(Version::V3, 100, Centiseconds(100));
    cfg.accept_mode = true;
    let mut inst = Instance::new(cfg).unwrap();
    inst.handle(Event::Startup, c.ms(0));
    assert!(!inst.accepts_vip_traffic());
    inst.handle(Event::Timer, c.ms(3600));
    assert!(inst.accepts_vip_traffic());
}

#[test]
fn backup_following_a_master_never_times_out() {
    let c = Clock::new();
    let mut inst = v3(100);
    inst.handle(Event::Startup, c.ms(0));
    for t in (1000..20_000).step_by(1000) {
        assert!(inst.handle(from(PEER_HIGH, 150), c.ms(t)).is_empty());
        assert_eq!(inst.next_deadline(), Some(c.ms(t + 3600)));
        assert!(inst.handle(Event::Timer, c.ms(t + 999)).is_empty());
    }
    assert_eq!(inst.state(), State::Backup);
    assert_eq!(inst.master_address(), Some(ip(PEER_HIGH)));
    assert_eq!(inst.counters().adverts_received, 19);
}

#[test]
fn master_yields_to_higher_priority() {
    let c = Clock::new();
    let mut inst = master_v3(&c, 100);
    let actions = inst.handle(from(PEER_LOW, 200), c.ms(4000));
    assert_eq!(
        actions,
        vec![
            // A last advert at our priority tells the winner it had company (split brain).
            Action::SendAdvert(our_advert(100)),
            changed(
                State::Master,
                State::Backup,
                TransitionReason::HigherPriority
            ),
            Action::RemoveVirtualAddresses(vec![ip(VIP)]),
        ]
    );
    assert_eq!(inst.master_address(), Some(ip(PEER_LOW)));
    assert_eq!(inst.next_deadline(), Some(c.ms(4000 + 3600)));
}

#[test]
fn equal_priority_tie_break_on_primary_address() {
    let c = Clock::new();
    // A lower address with equal priority loses: we stay master, advertise at once and
    // re-send gratuitous ARP (its gratuitous ARP may have come after ours on becoming master).
    let mut inst = master_v3(&c, 100);
    assert_eq!(
        inst.handle(from(PEER_LOW, 100), c.ms(4000)),
        vec![
            Action::SendAdvert(our_advert(100)),
            Action::SendGratuitous(vec![ip(VIP)]),
        ]
    );
    assert_eq!(inst.state(), State::Master);
    // A lower priority loses whatever the address (gratuitous ARP: twice per second at most).
    assert_eq!(
        inst.handle(from(PEER_HIGH, 99), c.ms(4100)),
        vec![
            Action::SendAdvert(our_advert(100)),
            Action::SendGratuitous(vec![ip(VIP)]),
        ]
    );
    assert_eq!(
        inst.handle(from(PEER_HIGH, 99), c.ms(4150)),
        vec![Action::SendAdvert(our_advert(100))]
    );
    assert_eq!(inst.state(), State::Master);
    // A higher address with equal priority wins.
    let actions = inst.handle(from(PEER_HIGH, 100), c.ms(4200));
    assert_eq!(
        actions[1],
        changed(
            State::Master,
            State::Backup,
            TransitionReason::EqualPriorityHigherAddress
        )
    );
    assert_eq!(inst.state(), State::Backup);
}

/// A healed split brain: the master hears a lower-priority master. It stays master, advertises
/// at once (Adver_Timer restarted) and re-sends gratuitous ARP/NA so clients that followed the
/// other one come back; at most two bursts per second however fast the other advertises.
#[test]
fn master_reasserts_against_a_lower_priority_master() {
    let c = Clock::new();
    let mut inst = master_v3(&c, 150); // master at 3.6 s
    let both = vec![
        Action::SendAdvert(our_advert(150)),
        Action::SendGratuitous(vec![ip(VIP)]),
    ];
    let advert_only = vec![Action::SendAdvert(our_advert(150))];
    assert_eq!(inst.handle(from(PEER_HIGH, 100), c.ms(10_000)), both);
    assert_eq!(inst.state(), State::Master);
    assert_eq!(inst.next_deadline(), Some(c.ms(11_000)));
    assert_eq!(inst.handle(from(PEER_HIGH, 100), c.ms(10_400)), both);
    assert_eq!(inst.handle(from(PEER_HIGH, 100), c.ms(10_500)), advert_only);
    assert_eq!(inst.handle(from(PEER_HIGH, 100), c.ms(10_999)), advert_only);
    // A new window: two more bursts at most.
    assert_eq!(inst.handle(from(PEER_HIGH, 100), c.ms(11_000)), both);
    assert_eq!(inst.handle(from(PEER_HIGH, 100), c.ms(11_001)), both);
    assert_eq!(inst.handle(from(PEER_HIGH, 100), c.ms(11_002)), advert_only);
    assert_eq!(inst.counters().adverts_received, 7);
}

/// A backup that missed our adverts took over: its advert, then its gratuitous ARP. Our
/// answer to the advert may reach the clients before that gratuitous ARP; it then hears our
/// advert and steps down with one last advert at its priority, sent after its gratuitous
/// ARP. Both of its adverts must get a burst, even though our own becoming-master burst was
/// less than a second ago (the clients follow the last gratuitous ARP they saw).
#[test]
fn both_cues_of_a_brief_second_master_get_a_reassertion() {
    let c = Clock::new();
    let mut inst = master_v3(&c, 150); // master (and a gratuitous burst) at 3.6 s
    let both = vec![
        Action::SendAdvert(our_advert(150)),
        Action::SendGratuitous(vec![ip(VIP)]),
    ];
    // Its becoming-master advert, then its step-down advert 0.4 ms later.
    assert_eq!(inst.handle(from(PEER_HIGH, 100), c.ms(3_800)), both);
    let step_down = c.ms(3_800) + std::time::Duration::from_micros(400);
    assert_eq!(inst.handle(from(PEER_HIGH, 100), step_down), both);
    // Still bounded afterwards: two bursts per second.
    assert_eq!(
        inst.handle(from(PEER_HIGH, 100), c.ms(4_000)),
        vec![Action::SendAdvert(our_advert(150))]
    );
}

#[test]
fn address_comparison_is_numeric_not_textual() {
    let c = Clock::new();
    // "10.0.0.9" > "10.0.0.10" as text, but 10.0.0.10 is the higher address.
    let cfg = InstanceConfig::new(
        Version::V3,
        51,
        100,
        Centiseconds(100),
        ip("10.0.0.9"),
        vec![ip(VIP)],
    );
    let mut inst = Instance::new(cfg).unwrap();
    inst.handle(Event::Startup, c.ms(0));
    inst.handle(Event::Timer, c.ms(3600));
    inst.handle(from("10.0.0.10", 100), c.ms(3700));
    assert_eq!(inst.state(), State::Backup);
}

#[test]
fn preempt_on_takes_over_from_lower_master_after_master_down_interval() {
    let c = Clock::new();
    let mut inst = v3(200);
    inst.handle(Event::Startup, c.ms(0));
    // Skew = (56 * 100) / 256 = 21 cs; Master_Down_Interval = 321 cs.
    assert_eq!(inst.next_deadline(), Some(c.ms(3210)));
    // The lower-priority master's adverts are discarded (RFC 5798 §6.4.2).
    for t in [500, 1500, 2500] {
        assert!(inst.handle(from(PEER_HIGH, 100), c.ms(t)).is_empty());
        assert_eq!(inst.next_deadline(), Some(c.ms(3210)));
    }
    let actions = inst.handle(Event::Timer, c.ms(3210));
    assert_eq!(
        actions[0],
        changed(
            State::Backup,
            State::Master,
            TransitionReason::MasterDownTimer
        )
    );
}

#[test]
fn preempt_off_keeps_following_a_lower_master() {
    let c = Clock::new();
    let mut cfg = config(Version::V3, 200, Centiseconds(100));
    cfg.preempt = false;
    let mut inst = Instance::new(cfg).unwrap();
    inst.handle(Event::Startup, c.ms(0));
    for t in (500..30_000).step_by(1000) {
        assert!(inst.handle(from(PEER_HIGH, 100), c.ms(t)).is_empty());
        assert_eq!(inst.next_deadline(), Some(c.ms(t + 3210)));
        assert!(inst.handle(Event::Timer, c.ms(t + 999)).is_empty());
    }
    assert_eq!(inst.state(), State::Backup);
    assert_eq!(inst.master_address(), Some(ip(PEER_HIGH)));
}

#[test]
fn preempt_delay_postpones_takeover_from_lower_master() {
    let c = Clock::new();
    let mut cfg = config(Version::V3, 200, Centiseconds(100));
    cfg.preempt_delay = Duration::from_secs(5);
    let mut inst = Instance::new(cfg).unwrap();
    inst.handle(Event::Startup, c.ms(0));
    // First lower advert at 0.5 s starts the 5 s delay; the master is followed meanwhile.
    inst.handle(from(PEER_HIGH, 100), c.ms(500));
    assert_eq!(inst.next_deadline(), Some(c.ms(3710)));
    for t in [1500, 2500, 3500, 4500] {
        inst.handle(from(PEER_HIGH, 100), c.ms(t));
        // Master_Down_Timer keeps being reset; the preempt deadline stays at 5.5 s.
        let expected = (t + 3210).min(5500);
        assert_eq!(inst.next_deadline(), Some(c.ms(expected)), "at {t}");
        assert!(
            inst.handle(Event::Timer, c.ms(t + 999)).is_empty(),
            "at {t}"
        );
    }
    assert!(inst.handle(Event::Timer, c.ms(5499)).is_empty());
    assert_eq!(inst.state(), State::Backup);
    let actions = inst.handle(Event::Timer, c.ms(5500));
    assert_eq!(
        actions[0],
        changed(
            State::Backup,
            State::Master,
            TransitionReason::PreemptDelayExpired
        )
    );
    assert_eq!(sent_priorities(&actions), vec![200]);
}

#[test]
fn preempt_delay_is_cancelled_by_a_higher_master() {
    let c = Clock::new();
    let mut cfg = config(Version::V3, 200, Centiseconds(100));
    cfg.preempt_delay = Duration::from_secs(5);
    let mut inst = Instance::new(cfg).unwrap();
    inst.handle(Event::Startup, c.ms(0));
    inst.handle(from(PEER_HIGH, 100), c.ms(500));
    // The master's priority rises above ours: no preemption any more.
    for t in (1500..12_000).step_by(1000) {
        inst.handle(from(PEER_HIGH, 250), c.ms(t));
        assert!(inst.handle(Event::Timer, c.ms(t + 999)).is_empty());
    }
    assert_eq!(inst.state(), State::Backup);
}

#[test]
fn priority_zero_makes_backup_wait_only_skew_time() {
    let c = Clock::new();
    let mut inst = v3(100);
    inst.handle(Event::Startup, c.ms(0));
    inst.handle(from(PEER_HIGH, 150), c.ms(1000));
    assert!(inst.handle(from(PEER_HIGH, 0), c.ms(2000)).is_empty());
    // Skew_Time = (156 * 100) / 256 = 60 cs, not Master_Down_Interval (360 cs).
    assert_eq!(inst.next_deadline(), Some(c.ms(2600)));
    assert_eq!(inst.master_address(), None);
    assert_eq!(inst.counters().priority_zero_received, 1);
    let actions = inst.handle(Event::Timer, c.ms(2600));
    assert_eq!(
        actions[0],
        changed(
            State::Backup,
            State::Master,
            TransitionReason::MasterReleased
        )
    );
}

#[test]
fn master_answers_priority_zero_with_an_immediate_advert() {
    let c = Clock::new();
    let mut inst = master_v3(&c, 100);
    let actions = inst.handle(from(PEER_HIGH, 0), c.ms(4000));
    assert_eq!(actions, vec![Action::SendAdvert(our_advert(100))]);
    assert_eq!(inst.next_deadline(), Some(c.ms(5000)), "Adver_Timer reset");
    assert_eq!(inst.state(), State::Master);
}

#[test]
fn interface_down_faults_and_recovery_restarts() {
    let c = Clock::new();
    let mut inst = master_v3(&c, 100);
    let actions = inst.handle(Event::InterfaceDown, c.ms(4000));
    assert_eq!(
        actions,
        vec![
            changed(State::Master, State::Fault, TransitionReason::InterfaceDown),
            Action::RemoveVirtualAddresses(vec![ip(VIP)]),
        ],
        "no advert on a dead link"
    );
    assert_eq!(inst.next_deadline(), None);
    // In Fault, adverts and timers do nothing.
    assert!(inst.handle(from(PEER_HIGH, 0), c.ms(4100)).is_empty());
    assert!(inst.handle(Event::Timer, c.ms(9000)).is_empty());
    assert!(inst.handle(Event::InterfaceDown, c.ms(9100)).is_empty());
    let actions = inst.handle(Event::InterfaceUp, c.ms(10_000));
    assert_eq!(
        actions,
        vec![changed(
            State::Fault,
            State::Backup,
            TransitionReason::Startup
        )]
    );
    assert_eq!(inst.next_deadline(), Some(c.ms(13_600)));
}

#[test]
fn owner_recovers_from_fault_as_master() {
    let c = Clock::new();
    let mut inst = v3(255);
    inst.handle(Event::Startup, c.ms(0));
    inst.handle(Event::InterfaceDown, c.ms(100));
    assert_eq!(inst.state(), State::Fault);
    let actions = inst.handle(Event::InterfaceUp, c.ms(200));
    assert_eq!(
        actions[0],
        changed(State::Fault, State::Master, TransitionReason::AddressOwner)
    );
}

#[test]
fn track_failure_releases_with_priority_zero_and_faults_stack() {
    let c = Clock::new();
    let mut inst = master_v3(&c, 100);
    let actions = inst.handle(Event::TrackFailed, c.ms(4000));
    assert_eq!(
        actions,
        vec![
            changed(State::Master, State::Fault, TransitionReason::TrackFailed),
            Action::SendAdvert(our_advert(0)),
            Action::RemoveVirtualAddresses(vec![ip(VIP)]),
        ]
    );
    assert_eq!(inst.counters().priority_zero_sent, 1);
    inst.handle(Event::InterfaceDown, c.ms(4100));
    // One of two faults clears: still Fault.
    assert!(inst.handle(Event::TrackRecovered, c.ms(4200)).is_empty());
    assert_eq!(inst.state(), State::Fault);
    inst.handle(Event::InterfaceUp, c.ms(4300));
    assert_eq!(inst.state(), State::Backup);
}

#[test]
fn fault_before_startup_enters_fault_on_startup() {
    let c = Clock::new();
    let mut inst = v3(100);
    assert!(inst.handle(Event::InterfaceDown, c.ms(0)).is_empty());
    assert!(
        inst.handle(Event::InterfaceUp, c.ms(1)).is_empty(),
        "not started"
    );
    inst.handle(Event::InterfaceDown, c.ms(2));
    let actions = inst.handle(Event::Startup, c.ms(3));
    assert_eq!(
        actions,
        vec![changed(
            State::Initialize,
            State::Fault,
            TransitionReason::InterfaceDown
        )]
    );
}

#[test]
fn master_shutdown_releases_with_priority_zero() {
    let c = Clock::new();
    let mut inst = master_v3(&c, 100);
    let actions = inst.handle(Event::Shutdown, c.ms(4000));
    assert_eq!(
        actions,
        vec![
            changed(State::Master, State::Initialize, TransitionReason::Shutdown),
            Action::SendAdvert(our_advert(0)),
            Action::RemoveVirtualAddresses(vec![ip(VIP)]),
        ]
    );
    assert_eq!(inst.next_deadline(), None);
    assert_eq!(inst.counters().priority_zero_sent, 1);
    // Events after shutdown are ignored; Startup starts again.
    assert!(inst.handle(Event::InterfaceUp, c.ms(4100)).is_empty());
    inst.handle(Event::Startup, c.ms(5000));
    assert_eq!(inst.state(), State::Backup);
}

#[test]
fn backup_shutdown_cancels_the_timer() {
    let c = Clock::new();
    let mut inst = v3(100);
    inst.handle(Event::Startup, c.ms(0));
    let actions = inst.handle(Event::Shutdown, c.ms(100));
    assert_eq!(
        actions,
        vec![changed(
            State::Backup,
            State::Initialize,
            TransitionReason::Shutdown
        )]
    );
    assert_eq!(inst.next_deadline(), None);
    assert!(inst.handle(Event::Timer, c.ms(10_000)).is_empty());
}

/// Master_Down_Interval at 10 ms, 100 ms and 1 s adverts (VRRPv3), in centiseconds exactly.
#[test]
fn v3_startup_timer_at_10ms_100ms_and_1s() {
    let c = Clock::new();
    // (interval cs, priority, expected Master_Down_Interval ms)
    let cases = [
        (1, 100, 30),     // skew (156*1)/256 = 0 cs → 3 cs
        (1, 1, 30),       // (255*1)/256 = 0 cs
        (10, 100, 360),   // (156*10)/256 = 6 cs → 36 cs
        (10, 200, 320),   // (56*10)/256 = 2 cs → 32 cs
        (100, 100, 3600), // (156*100)/256 = 60 cs → 360 cs
        (100, 254, 3000), // (2*100)/256 = 0 cs → 300 cs
    ];
    for (interval, priority, expected_ms) in cases {
        let mut inst =
            Instance::new(config(Version::V3, priority, Centiseconds(interval))).unwrap();
        inst.handle(Event::Startup, c.ms(0));
        assert_eq!(
            inst.next_deadline(),
            Some(c.ms(expected_ms)),
            "interval {interval} cs, priority {priority}"
        );
        assert_eq!(
            inst.master_down_interval(),
            Duration::from_millis(expected_ms)
        );
    }
}

#[test]
fn v3_master_advertises_every_10ms_not_every_second() {
    let c = Clock::new();
    let mut inst = Instance::new(config(Version::V3, 100, Centiseconds(1))).unwrap();
    inst.handle(Event::Startup, c.ms(0));
    inst.handle(Event::Timer, c.ms(30));
    assert_eq!(inst.state(), State::Master);
    assert_eq!(inst.next_deadline(), Some(c.ms(40)));
}

#[test]
fn v2_timers_use_fractional_second_skew() {
    let c = Clock::new();
    let mut inst = Instance::new(config(Version::V2, 100, Centiseconds::from_secs(1))).unwrap();
    inst.handle(Event::Startup, c.ms(0));
    // RFC 3768: 3 * 1 s + (256 - 100) / 256 s = 3.609375 s.
    assert_eq!(
        inst.next_deadline(),
        Some(c.base + Duration::from_micros(3_609_375))
    );
    // A v2 master's advert carries seconds and authentication.
    let actions = inst.handle(Event::Timer, c.base + Duration::from_micros(3_609_375));
    let Some(Action::SendAdvert(ad)) = actions.get(2) else {
        panic!("no advert: {actions:?}")
    };
    assert_eq!(ad.version, Version::V2);
    assert_eq!(ad.auth, Some(V2Auth::NONE));
    assert_eq!(
        inst.next_deadline(),
        Some(c.base + Duration::from_micros(4_609_375))
    );
    // Priority 0 in v2: skew only, 0.609375 s.
    let mut inst = Instance::new(config(Version::V2, 100, Centiseconds::from_secs(1))).unwrap();
    inst.handle(Event::Startup, c.ms(0));
    inst.handle(
        advert_event(Version::V2, PEER_HIGH, 0, Centiseconds::from_secs(1)),
        c.ms(1000),
    );
    assert_eq!(
        inst.next_deadline(),
        Some(c.ms(1000) + Duration::from_micros(609_375))
    );
}

#[test]
fn v3_backup_learns_the_master_interval() {
    let c = Clock::new();
    let mut inst = v3(100);
    inst.handle(Event::Startup, c.ms(0));
    inst.handle(
        advert_event(Version::V3, PEER_HIGH, 150, Centiseconds(10)),
        c.ms(1000),
    );
    assert_eq!(inst.master_adver_interval(), Centiseconds(10));
    // 3 * 10 cs + (156 * 10) / 256 cs = 36 cs.
    assert_eq!(inst.next_deadline(), Some(c.ms(1360)));
    // Becoming master, it advertises its own configured interval again.
    let actions = inst.handle(Event::Timer, c.ms(1360));
    let Some(Action::SendAdvert(ad)) = actions.get(2) else {
        panic!("no advert: {actions:?}")
    };
    assert_eq!(ad.advert_interval, Centiseconds(100));
    assert_eq!(inst.next_deadline(), Some(c.ms(2360)));
}

#[test]
fn priority_changes_are_clamped_and_owner_regains_master() {
    let c = Clock::new();
    let mut inst = v3(255);
    inst.handle(Event::Startup, c.ms(0));
    assert!(
        inst.handle(Event::PriorityChanged(200), c.ms(100))
            .is_empty()
    );
    assert_eq!(inst.effective_priority(), 200);
    assert_eq!(
        sent_priorities(&inst.handle(Event::Timer, c.ms(1000))),
        vec![200]
    );
    inst.handle(from(PEER_HIGH, 250), c.ms(1100));
    assert_eq!(inst.state(), State::Backup);
    let actions = inst.handle(Event::PriorityChanged(255), c.ms(1200));
    assert_eq!(
        actions[0],
        changed(State::Backup, State::Master, TransitionReason::AddressOwner)
    );

    let mut other = v3(100);
    other.handle(Event::PriorityChanged(255), c.ms(0));
    assert_eq!(
        other.effective_priority(),
        254,
        "only a configured owner may use 255"
    );
    other.handle(Event::PriorityChanged(0), c.ms(0));
    assert_eq!(other.effective_priority(), 1, "0 is reserved for release");
}

#[test]
fn lower_priority_changes_backup_skew() {
    let c = Clock::new();
    let mut inst = v3(200);
    inst.handle(Event::Startup, c.ms(0));
    inst.handle(Event::PriorityChanged(100), c.ms(0));
    inst.handle(from(PEER_HIGH, 150), c.ms(1000));
    assert_eq!(
        inst.next_deadline(),
        Some(c.ms(4600)),
        "skew uses priority 100"
    );
}

#[test]
fn gratuitous_refresh_repeats_while_master() {
    let c = Clock::new();
    let mut cfg = config(Version::V3, 255, Centiseconds(100));
    cfg.gratuitous_refresh = Some(Duration::from_millis(2500));
    let mut inst = Instance::new(cfg).unwrap();
    inst.handle(Event::Startup, c.ms(0));
    inst.handle(Event::Timer, c.ms(1000));
    inst.handle(Event::Timer, c.ms(2000));
    assert_eq!(inst.next_deadline(), Some(c.ms(2500)));
    assert_eq!(
        inst.handle(Event::Timer, c.ms(2500)),
        vec![Action::SendGratuitous(vec![ip(VIP)])]
    );
    assert_eq!(inst.next_deadline(), Some(c.ms(3000)));
}

fn wire(advert: &Advertisement, src: &str, ttl: u8) -> Vec<u8> {
    let packet = tandem_vrrp::packet::Ipv4VrrpPacket {
        header: Ipv4Header {
            tos: 0xc0,
            identification: 0,
            flags_fragment: 0,
            ttl,
            protocol: 112,
            src: src.parse().unwrap(),
            dst: "224.0.0.18".parse().unwrap(),
            options: vec![],
        },
        advert: advert.clone(),
    };
    packet.encode().unwrap()
}

#[test]
fn receive_validates_counts_and_handles() {
    let c = Clock::new();
    let mut inst = master_v3(&c, 100);
    let bad = wire(&our_advert(200), PEER_HIGH, 64);
    let rx = ReceivedPacket::from_ipv4_datagram(&bad).unwrap();
    assert_eq!(inst.receive(&rx, c.ms(4000)), Err(DropReason::BadTtl(64)));
    assert_eq!(inst.counters().bad_ttl, 1);
    assert_eq!(
        inst.state(),
        State::Master,
        "a dropped packet changes nothing"
    );
    let good = wire(&our_advert(200), PEER_HIGH, 255);
    let rx = ReceivedPacket::from_ipv4_datagram(&good).unwrap();
    let actions = inst.receive(&rx, c.ms(4100)).unwrap();
    assert_eq!(
        actions[1],
        changed(
            State::Master,
            State::Backup,
            TransitionReason::HigherPriority
        )
    );
    assert_eq!(inst.counters().adverts_received, 1);
    assert_eq!(inst.counters().dropped(), 1);
}

#[test]
fn owner_drops_adverts_for_its_vrid() {
    let c = Clock::new();
    let mut inst = v3(255);
    inst.handle(Event::Startup, c.ms(0));
    let bytes = wire(&our_advert(254), PEER_HIGH, 255);
    let rx = ReceivedPacket::from_ipv4_datagram(&bytes).unwrap();
    assert_eq!(inst.receive(&rx, c.ms(10)), Err(DropReason::LocalIsOwner));
}

/// keepalived's own v2 takeover capture drives a backup: its adverts keep us backup, its
/// priority-0 release hands over after Skew_Time.
#[test]
fn keepalived_release_sequence_drives_the_state_machine() {
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/vrrp/vrrp-v2-takeover.pcap"),
    )
    .unwrap();
    // Frames 0 and 1 (each 16-byte record header + 54-byte frame after the 24-byte header).
    let frame = |i: usize| &bytes[24 + i * 70 + 16 + 14..24 + (i + 1) * 70];
    let c = Clock::new();
    let cfg = InstanceConfig::new(
        Version::V2,
        51,
        100,
        Centiseconds::from_secs(1),
        ip("10.77.0.3"),
        vec![ip("10.77.0.100")],
    );
    let mut inst = Instance::new(cfg).unwrap();
    inst.handle(Event::Startup, c.ms(0));
    let rx = ReceivedPacket::from_ipv4_datagram(frame(0)).unwrap();
    assert!(inst.receive(&rx, c.ms(1000)).unwrap().is_empty());
    assert_eq!(inst.master_address(), Some(ip("10.77.0.2")));
    let rx = ReceivedPacket::from_ipv4_datagram(frame(1)).unwrap();
    assert!(inst.receive(&rx, c.ms(1900)).unwrap().is_empty());
    assert_eq!(inst.counters().priority_zero_received, 1);
    let deadline = inst.next_deadline().unwrap();
    assert_eq!(deadline, c.ms(1900) + Duration::from_micros(609_375));
    let actions = inst.handle(Event::Timer, deadline);
    assert_eq!(
        actions[0],
        changed(
            State::Backup,
            State::Master,
            TransitionReason::MasterReleased
        )
    );
}

#[test]
fn invalid_configs_are_rejected() {
    let base = || config(Version::V3, 100, Centiseconds(100));
    let mut c = base();
    c.vrid = 0;
    assert_eq!(Instance::new(c).unwrap_err(), ConfigError::InvalidVrid);
    let mut c = base();
    c.priority = 0;
    assert_eq!(Instance::new(c).unwrap_err(), ConfigError::InvalidPriority);
    let mut c = base();
    c.advert_interval = Centiseconds(4096);
    assert!(matches!(
        Instance::new(c).unwrap_err(),
        ConfigError::IntervalOutOfRange(_)
    ));
    let mut c = config(Version::V2, 100, Centiseconds(50));
    assert!(matches!(
        Instance::new(c.clone()).unwrap_err(),
        ConfigError::IntervalOutOfRange(_)
    ));
    c.advert_interval = Centiseconds(100);
    c.primary_address = ip("fe80::1");
    c.virtual_addresses = vec![ip("fe80::100")];
    assert_eq!(Instance::new(c).unwrap_err(), ConfigError::V2RequiresIpv4);
    let mut c = base();
    c.v2_auth = V2Auth::simple_text(b"x");
    assert_eq!(Instance::new(c).unwrap_err(), ConfigError::AuthRequiresV2);
    let mut c = base();
    c.virtual_addresses.clear();
    assert_eq!(
        Instance::new(c).unwrap_err(),
        ConfigError::NoVirtualAddresses
    );
    let mut c = base();
    c.virtual_addresses.push(ip("fe80::1"));
    assert_eq!(
        Instance::new(c).unwrap_err(),
        ConfigError::FamilyMismatch(ip("fe80::1"))
    );
}

#[test]
fn timer_settings_that_could_spin_or_overflow_are_rejected() {
    let mut c = config(Version::V3, 100, Centiseconds(100));
    c.gratuitous_refresh = Some(Duration::ZERO);
    assert_eq!(
        Instance::new(c.clone()).unwrap_err(),
        ConfigError::GratuitousRefreshOutOfRange(Duration::ZERO)
    );
    c.gratuitous_refresh = Some(Duration::from_secs(1));
    assert!(Instance::new(c.clone()).is_ok());
    c.preempt_delay = Duration::MAX;
    assert_eq!(
        Instance::new(c).unwrap_err(),
        ConfigError::PreemptDelayTooLong(Duration::MAX)
    );
}

#[test]
fn validation_params_follow_the_effective_priority() {
    let c = Clock::new();
    let mut inst = v3(255);
    assert!(inst.validation_params().local_is_owner);
    inst.handle(Event::PriorityChanged(100), c.ms(0));
    assert!(
        !inst.validation_params().local_is_owner,
        "no longer the owner"
    );
}
