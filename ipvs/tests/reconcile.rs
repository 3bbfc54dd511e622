//! Unit tests of the pure reconcile diff, plus a property: applying the diff to the current
//! table (with a model of the kernel's semantics) yields exactly the desired services while
//! foreign services stay untouched.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::collections::HashSet;
use std::net::IpAddr;

use proptest::prelude::*;
use tandem_ipvs::{
    DaemonState, DestKey, Destination, ForwardMethod, IpFamily, IpvsState, Operation,
    ReconcileError, ReconcileOptions, Service, ServiceFlags, ServiceKey, SyncDaemon,
    VirtualService, reconcile, reconcile_daemons,
};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn dest(addr: &str, weight: u32) -> Destination {
    Destination::new(ip(addr), 80, ForwardMethod::Masquerade, weight)
}

fn web(vip: &str, dests: Vec<Destination>) -> VirtualService {
    VirtualService::new(Service::new(ServiceKey::tcp(ip(vip), 80), "wrr"), dests)
}

fn owned(state: &IpvsState) -> HashSet<ServiceKey> {
    state.services.iter().map(VirtualService::key).collect()
}

fn diff(desired: &IpvsState, current: &IpvsState) -> Vec<Operation> {
    reconcile(
        desired,
        current,
        &owned(desired),
        &ReconcileOptions::default(),
    )
    .expect("valid")
}

/// Applies operations with the kernel's semantics (errors where the kernel would refuse).
fn apply(state: &mut IpvsState, ops: &[Operation]) {
    for op in ops {
        match op {
            Operation::NewService(s) => {
                assert!(
                    state.get(&s.key).is_none(),
                    "NEW_SERVICE on existing {}",
                    s.key
                );
                state.services.push(VirtualService::new(s.clone(), vec![]));
            }
            Operation::SetService(s) => {
                let vs = state
                    .services
                    .iter_mut()
                    .find(|v| v.key() == s.key)
                    .expect("exists");
                vs.service = s.clone();
            }
            Operation::DelService(k) => {
                let before = state.services.len();
                state.services.retain(|v| v.key() != *k);
                assert_eq!(
                    before - 1,
                    state.services.len(),
                    "DEL_SERVICE of missing {k}"
                );
            }
            Operation::NewDest { service, dest } => {
                let vs = state
                    .services
                    .iter_mut()
                    .find(|v| v.key() == *service)
                    .expect("svc");
                assert!(
                    vs.destinations.iter().all(|d| d.key() != dest.key()),
                    "EEXIST"
                );
                vs.destinations.push(dest.clone());
            }
            Operation::SetDest { service, dest } => {
                let vs = state
                    .services
                    .iter_mut()
                    .find(|v| v.key() == *service)
                    .expect("svc");
                let d = vs
                    .destinations
                    .iter_mut()
                    .find(|d| d.key() == dest.key())
                    .expect("dest");
                *d = dest.clone();
            }
            Operation::DelDest { service, dest } => {
                let vs = state
                    .services
                    .iter_mut()
                    .find(|v| v.key() == *service)
                    .expect("svc");
                let before = vs.destinations.len();
                vs.destinations.retain(|d| d.key() != *dest);
                assert_eq!(
                    before - 1,
                    vs.destinations.len(),
                    "DEL_DEST of missing {dest}"
                );
            }
            other => panic!("reconcile emitted {other}"),
        }
    }
}

/// Order-insensitive comparison of configuration (what reconcile promises).
fn same_config(a: &IpvsState, b: &IpvsState) -> bool {
    a.services.len() == b.services.len()
        && a.services.iter().all(|x| {
            b.get(&x.key()).is_some_and(|y| {
                !x.service.config_differs(&y.service)
                    && x.destinations.len() == y.destinations.len()
                    && x.destinations.iter().all(|d| {
                        y.destinations
                            .iter()
                            .any(|e| e.key() == d.key() && !d.config_differs(e))
                    })
            })
        })
}

#[test]
fn from_empty_adds_services_before_their_destinations() {
    let desired = IpvsState::new(vec![
        web(
            "10.0.0.1",
            vec![dest("192.168.0.1", 1), dest("192.168.0.2", 2)],
        ),
        web("10.0.0.2", vec![dest("192.168.0.3", 1)]),
    ]);
    let ops = diff(&desired, &IpvsState::default());
    assert_eq!(ops.len(), 5);
    let kinds: Vec<&str> = ops
        .iter()
        .map(|o| match o {
            Operation::NewService(_) => "svc",
            Operation::NewDest { .. } => "dest",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["svc", "dest", "dest", "svc", "dest"]);
    let mut state = IpvsState::default();
    apply(&mut state, &ops);
    assert!(same_config(&state, &desired));
}

#[test]
fn identical_state_yields_no_operations() {
    let desired = IpvsState::new(vec![web("10.0.0.1", vec![dest("192.168.0.1", 1)])]);
    let mut current = desired.clone();
    // Read-back fields must not cause churn.
    current.services[0].service.flags = ServiceFlags::HASHED;
    current.services[0].service.stats = Some(Default::default());
    current.services[0].destinations[0].active_conns = 12;
    current.services[0].destinations[0].stats = Some(Default::default());
    assert_eq!(diff(&desired, &current), vec![]);
}

#[test]
fn weight_only_change_is_exactly_one_set_dest() {
    let current = IpvsState::new(vec![web(
        "10.0.0.1",
        vec![dest("192.168.0.1", 1), dest("192.168.0.2", 1)],
    )]);
    let mut desired = current.clone();
    desired.services[0].destinations[1].weight = 5;
    let ops = diff(&desired, &current);
    assert_eq!(
        ops,
        vec![Operation::SetDest {
            service: desired.services[0].key(),
            dest: dest("192.168.0.2", 5)
        }]
    );
}

#[test]
fn quiesce_is_a_weight_change_and_removal_is_a_delete() {
    let current = IpvsState::new(vec![web(
        "10.0.0.1",
        vec![dest("192.168.0.1", 1), dest("192.168.0.2", 1)],
    )]);
    let key = current.services[0].key();
    let quiesced = IpvsState::new(vec![web(
        "10.0.0.1",
        vec![dest("192.168.0.1", 1), dest("192.168.0.2", 0)],
    )]);
    assert_eq!(
        diff(&quiesced, &current),
        vec![Operation::SetDest {
            service: key,
            dest: dest("192.168.0.2", 0)
        }]
    );
    let removed = IpvsState::new(vec![web("10.0.0.1", vec![dest("192.168.0.1", 1)])]);
    assert_eq!(
        diff(&removed, &current),
        vec![Operation::DelDest {
            service: key,
            dest: DestKey {
                addr: ip("192.168.0.2"),
                port: 80
            }
        }]
    );
}

#[test]
fn scheduler_and_persistence_changes_edit_the_service_in_place() {
    let current = IpvsState::new(vec![web("10.0.0.1", vec![dest("192.168.0.1", 1)])]);
    let mut desired = current.clone();
    desired.services[0].service.scheduler = "mh".into();
    desired.services[0].service.flags = ServiceFlags::PERSISTENT;
    desired.services[0].service.timeout = 600;
    let ops = diff(&desired, &current);
    assert_eq!(
        ops,
        vec![Operation::SetService(desired.services[0].service.clone())]
    );
}

#[test]
fn forwarding_change_is_an_in_place_set_dest() {
    let current = IpvsState::new(vec![web("10.0.0.1", vec![dest("192.168.0.1", 1)])]);
    let mut desired = current.clone();
    desired.services[0].destinations[0].forward = ForwardMethod::TUNNEL_IPIP;
    let ops = diff(&desired, &current);
    assert_eq!(ops.len(), 1);
    assert!(
        matches!(&ops[0], Operation::SetDest { dest, .. } if dest.forward == ForwardMethod::TUNNEL_IPIP)
    );
}

#[test]
fn drift_is_repaired() {
    let desired = IpvsState::new(vec![web(
        "10.0.0.1",
        vec![dest("192.168.0.1", 3), dest("192.168.0.2", 3)],
    )]);
    // Someone edited by hand: a weight changed, a real server added, one removed, scheduler.
    let mut current = IpvsState::new(vec![web(
        "10.0.0.1",
        vec![dest("192.168.0.1", 9), dest("192.168.0.9", 1)],
    )]);
    current.services[0].service.scheduler = "rr".into();
    let ops = diff(&desired, &current);
    let key = desired.services[0].key();
    assert_eq!(
        ops,
        vec![
            Operation::SetService(desired.services[0].service.clone()),
            Operation::NewDest {
                service: key,
                dest: dest("192.168.0.2", 3)
            },
            Operation::SetDest {
                service: key,
                dest: dest("192.168.0.1", 3)
            },
            Operation::DelDest {
                service: key,
                dest: DestKey {
                    addr: ip("192.168.0.9"),
                    port: 80
                }
            },
        ]
    );
    apply(&mut current, &ops);
    assert!(same_config(&current, &desired));
}

#[test]
fn foreign_services_are_left_alone_unless_flushing() {
    let desired = IpvsState::new(vec![web("10.0.0.1", vec![dest("192.168.0.1", 1)])]);
    let foreign = web("10.9.9.9", vec![dest("192.168.9.9", 1)]);
    let current = IpvsState::new(vec![foreign.clone(), desired.services[0].clone()]);
    assert_eq!(diff(&desired, &current), vec![]);
    let ops = reconcile(
        &desired,
        &current,
        &owned(&desired),
        &ReconcileOptions {
            flush_foreign: true,
        },
    )
    .expect("valid");
    assert_eq!(ops, vec![Operation::DelService(foreign.key())]);
}

#[test]
fn owned_service_no_longer_desired_is_deleted_first() {
    let old = web(
        "10.0.0.5",
        vec![dest("192.168.0.5", 1), dest("192.168.0.6", 1)],
    );
    let current = IpvsState::new(vec![old.clone()]);
    let desired = IpvsState::new(vec![web("10.0.0.1", vec![dest("192.168.0.1", 1)])]);
    let mut owned_keys = owned(&desired);
    owned_keys.insert(old.key());
    let ops = reconcile(
        &desired,
        &current,
        &owned_keys,
        &ReconcileOptions::default(),
    )
    .expect("valid");
    // One DEL_SERVICE removes its destinations too; it precedes the additions.
    assert_eq!(ops[0], Operation::DelService(old.key()));
    assert_eq!(ops.len(), 3);
}

#[test]
fn fwmark_and_ipv6_services() {
    let fw = VirtualService::new(
        Service::new(ServiceKey::fwmark(IpFamily::V6, 7), "sh"),
        vec![Destination::new(
            ip("2001:db8::10"),
            0,
            ForwardMethod::DirectRoute,
            1,
        )],
    );
    let v6 = VirtualService::new(
        Service::new(ServiceKey::udp(ip("2001:db8::1"), 53), "rr"),
        vec![Destination::new(
            ip("2001:db8::11"),
            53,
            ForwardMethod::Masquerade,
            1,
        )],
    );
    let desired = IpvsState::new(vec![fw.clone(), v6.clone()]);
    let ops = diff(&desired, &IpvsState::default());
    assert_eq!(ops.len(), 4);
    assert_eq!(ops[0], Operation::NewService(fw.service.clone()));
    assert_eq!(ops[2], Operation::NewService(v6.service.clone()));
    let mut state = IpvsState::default();
    apply(&mut state, &ops);
    assert_eq!(diff(&desired, &state), vec![]);
}

#[test]
fn duplicates_are_rejected() {
    let dup = IpvsState::new(vec![web("10.0.0.1", vec![]), web("10.0.0.1", vec![])]);
    assert!(matches!(
        reconcile(
            &dup,
            &IpvsState::default(),
            &HashSet::new(),
            &ReconcileOptions::default()
        ),
        Err(ReconcileError::DuplicateService(_))
    ));
    let dup = IpvsState::new(vec![web(
        "10.0.0.1",
        vec![dest("192.168.0.1", 1), dest("192.168.0.1", 2)],
    )]);
    assert!(matches!(
        reconcile(
            &dup,
            &IpvsState::default(),
            &HashSet::new(),
            &ReconcileOptions::default()
        ),
        Err(ReconcileError::DuplicateDestination { .. })
    ));
}

#[test]
fn daemons_follow_the_role() {
    let master = SyncDaemon::new(DaemonState::Master, "eth1", 5);
    let backup = SyncDaemon::new(DaemonState::Backup, "eth1", 5);
    // The kernel fills in defaults the desired daemon leaves open: still satisfied.
    let mut running_backup = backup.clone();
    running_backup.mcast_port = Some(8848);
    running_backup.sync_maxlen = Some(1472);
    assert_eq!(
        reconcile_daemons(
            std::slice::from_ref(&backup),
            std::slice::from_ref(&running_backup)
        ),
        vec![]
    );
    // Standby becomes active: stop the backup first, then start the master.
    assert_eq!(
        reconcile_daemons(
            std::slice::from_ref(&master),
            std::slice::from_ref(&running_backup)
        ),
        vec![
            Operation::DelDaemon(DaemonState::Backup),
            Operation::NewDaemon(master.clone())
        ]
    );
    // A changed sync id restarts the daemon.
    let mut other_id = master.clone();
    other_id.sync_id = 6;
    assert_eq!(
        reconcile_daemons(
            std::slice::from_ref(&other_id),
            std::slice::from_ref(&master)
        ),
        vec![
            Operation::DelDaemon(DaemonState::Master),
            Operation::NewDaemon(other_id)
        ]
    );
    // Both roles at once (a director that both sends and receives).
    assert_eq!(
        reconcile_daemons(&[master.clone(), backup.clone()], &[]),
        vec![Operation::NewDaemon(master), Operation::NewDaemon(backup)]
    );
    assert_eq!(
        reconcile_daemons(&[], &[running_backup]),
        vec![Operation::DelDaemon(DaemonState::Backup)]
    );
}

fn arb_state(prefix: u8) -> impl Strategy<Value = IpvsState> {
    // Small key spaces so desired and current overlap often.
    proptest::collection::btree_map(
        0u8..6,
        (
            prop_oneof![Just("rr"), Just("wrr"), Just("mh")],
            proptest::collection::btree_map(0u8..6, (0u32..4, any::<bool>()), 0..5),
        ),
        0..5,
    )
    .prop_map(move |services| {
        IpvsState::new(
            services
                .into_iter()
                .map(|(s, (sched, dests))| {
                    let key = ServiceKey::tcp(IpAddr::from([10, prefix, 0, s]), 80);
                    let dests = dests
                        .into_iter()
                        .map(|(d, (w, dr))| {
                            let fwd = if dr {
                                ForwardMethod::DirectRoute
                            } else {
                                ForwardMethod::Masquerade
                            };
                            Destination::new(IpAddr::from([192, 168, s, d]), 80, fwd, w)
                        })
                        .collect();
                    VirtualService::new(Service::new(key, sched), dests)
                })
                .collect(),
        )
    })
}

proptest! {
    #[test]
    fn applying_the_diff_reaches_the_desired_state(
        desired in arb_state(0), current in arb_state(0), foreign in arb_state(1),
    ) {
        let mut kernel = current.clone();
        kernel.services.extend(foreign.services.clone());
        let mut owned_keys = owned(&desired);
        owned_keys.extend(current.services.iter().map(VirtualService::key));
        let ops = reconcile(&desired, &kernel, &owned_keys, &ReconcileOptions::default()).expect("valid");
        apply(&mut kernel, &ops);
        let (mine, theirs): (Vec<_>, Vec<_>) =
            kernel.services.into_iter().partition(|vs| owned_keys.contains(&vs.key()));
        prop_assert!(same_config(&IpvsState::new(mine.clone()), &desired));
        prop_assert_eq!(theirs, foreign.services);
        // Second pass is a no-op: the diff is minimal and converges.
        let again = reconcile(&desired, &IpvsState::new(mine), &owned_keys, &ReconcileOptions::default())
            .expect("valid");
        prop_assert_eq!(again, vec![]);
    }
}
