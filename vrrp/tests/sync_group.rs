//! The sync-group gate (`Event::SyncGroupHold`), with a fake clock: a held Backup whose timer
//! runs out reports `WantsMaster(true)` and stays Backup until released; a master it accepts
//! cancels the wish; a release with a pending wish goes straight to Master.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use tandem_vrrp::{
    Action, Advertisement, Centiseconds, Event, Instance, InstanceConfig, State, TransitionReason,
    Version,
};

const VIP: &str = "10.0.0.100";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn v3(priority: u8) -> Instance {
    Instance::new(InstanceConfig::new(
        Version::V3,
        51,
        priority,
        Centiseconds(100),
        ip("10.0.0.1"),
        vec![ip(VIP)],
    ))
    .unwrap()
}

fn from(priority: u8) -> Event {
    Event::AdvertReceived {
        source: ip("10.0.0.2"),
        advert: Advertisement {
            version: Version::V3,
            vrid: 51,
            priority,
            advert_interval: Centiseconds(100),
            addresses: vec![ip(VIP)],
            auth: None,
        },
    }
}

fn at(base: Instant, ms: u64) -> Instant {
    base + Duration::from_millis(ms)
}

fn became_master(actions: &[Action], reason: TransitionReason) -> bool {
    actions.first()
        == Some(&Action::StateChanged {
            from: State::Backup,
            to: State::Master,
            reason,
        })
}

#[test]
fn a_held_backup_waits_for_its_group_then_takes_over_at_once() {
    let t0 = Instant::now();
    let mut inst = v3(100);
    inst.handle(Event::SyncGroupHold(true), at(t0, 0));
    inst.handle(Event::Startup, at(t0, 0));
    // Master_Down_Interval at 1 s adverts, priority 100: 3 s + 600 ms skew (60 cs).
    assert_eq!(inst.next_deadline(), Some(at(t0, 3600)));
    let actions = inst.handle(Event::Timer, at(t0, 3600));
    assert_eq!(actions, vec![Action::WantsMaster(true)]);
    assert_eq!(inst.state(), State::Backup);
    assert!(inst.wants_master());
    // No timer left to spin on while it waits.
    assert_eq!(inst.next_deadline(), None);
    assert!(inst.handle(Event::Timer, at(t0, 5000)).is_empty());
    // The group releases it: Master now, with the reason it had.
    let actions = inst.handle(Event::SyncGroupHold(false), at(t0, 6000));
    assert!(
        became_master(&actions, TransitionReason::MasterDownTimer),
        "{actions:?}"
    );
    assert!(!inst.wants_master());
}

#[test]
fn a_master_heard_while_held_cancels_the_wish() {
    let t0 = Instant::now();
    let mut inst = v3(100);
    inst.handle(Event::SyncGroupHold(true), at(t0, 0));
    inst.handle(Event::Startup, at(t0, 0));
    assert_eq!(
        inst.handle(Event::Timer, at(t0, 3600)),
        vec![Action::WantsMaster(true)]
    );
    // A master as good as us shows up: follow it, re-arm Master_Down_Timer.
    assert_eq!(
        inst.handle(from(150), at(t0, 4000)),
        vec![Action::WantsMaster(false)]
    );
    assert!(!inst.wants_master());
    assert_eq!(inst.next_deadline(), Some(at(t0, 4000 + 3600)));
    // Released while following a live master: stays Backup.
    assert!(
        inst.handle(Event::SyncGroupHold(false), at(t0, 4100))
            .is_empty()
    );
    assert_eq!(inst.state(), State::Backup);
}

#[test]
fn a_held_backup_keeps_wanting_to_preempt_a_lower_master() {
    let t0 = Instant::now();
    let mut inst = v3(200);
    inst.handle(Event::SyncGroupHold(true), at(t0, 0));
    inst.handle(Event::Startup, at(t0, 0));
    // A lower master's adverts are discarded, the timer runs out: we would preempt.
    assert!(inst.handle(from(100), at(t0, 1000)).is_empty());
    let actions = inst.handle(Event::Timer, at(t0, 3210));
    assert_eq!(actions, vec![Action::WantsMaster(true)]);
    // More adverts from the lower master change nothing, and nothing is re-armed.
    assert!(inst.handle(from(100), at(t0, 4000)).is_empty());
    assert!(inst.wants_master());
    assert_eq!(inst.next_deadline(), None);
    let actions = inst.handle(Event::SyncGroupHold(false), at(t0, 4500));
    assert!(
        became_master(&actions, TransitionReason::MasterDownTimer),
        "{actions:?}"
    );
}

#[test]
fn without_a_hold_nothing_changes_and_nothing_is_reported() {
    let t0 = Instant::now();
    let mut inst = v3(100);
    inst.handle(Event::SyncGroupHold(true), at(t0, 0));
    inst.handle(Event::SyncGroupHold(false), at(t0, 0));
    inst.handle(Event::Startup, at(t0, 0));
    let actions = inst.handle(Event::Timer, at(t0, 3600));
    assert!(
        became_master(&actions, TransitionReason::MasterDownTimer),
        "{actions:?}"
    );
    assert!(!actions.iter().any(|a| matches!(a, Action::WantsMaster(_))));
}

#[test]
fn holding_a_master_does_not_demote_it() {
    // The gate only stops Backups from taking over: a master keeps its role (a group is
    // never left without its master because a peer instance restarted).
    let t0 = Instant::now();
    let mut inst = v3(100);
    inst.handle(Event::Startup, at(t0, 0));
    inst.handle(Event::Timer, at(t0, 3600));
    assert_eq!(inst.state(), State::Master);
    assert!(
        inst.handle(Event::SyncGroupHold(true), at(t0, 3700))
            .is_empty()
    );
    assert_eq!(inst.state(), State::Master);
}

#[test]
fn a_fault_forgets_the_wish() {
    let t0 = Instant::now();
    let mut inst = v3(100);
    inst.handle(Event::SyncGroupHold(true), at(t0, 0));
    inst.handle(Event::Startup, at(t0, 0));
    inst.handle(Event::Timer, at(t0, 3600));
    assert!(inst.wants_master());
    inst.handle(Event::InterfaceDown, at(t0, 3700));
    assert_eq!(inst.state(), State::Fault);
    assert!(!inst.wants_master());
    // Recovery restarts the timer; release then does not jump to Master.
    inst.handle(Event::InterfaceUp, at(t0, 3800));
    assert_eq!(inst.state(), State::Backup);
    assert!(
        inst.handle(Event::SyncGroupHold(false), at(t0, 3900))
            .is_empty()
    );
    assert_eq!(inst.next_deadline(), Some(at(t0, 3800 + 3600)));
}
