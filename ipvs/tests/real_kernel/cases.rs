//! The cases that run inside the IPVS VM, against the real kernel, with `ipvsadm` as the
//! independent peer. Each case starts from an empty table.

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::Instant;

use netlink_packet_core::NetlinkPayload;
use tandem_ipvs::message::{IpvsCmd, IpvsMessage, emit_datagram, parse_datagram};
use tandem_ipvs::{
    DaemonState, DestKey, Destination, ForwardMethod, IpFamily, IpvsClient, IpvsError, IpvsState,
    OpFailure, Operation, ReconcileOptions, Service, ServiceFlags, ServiceKey, SyncDaemon,
    Timeouts, TunnelType, VirtualService, reconcile, reconcile_daemons,
};

use crate::support::*;

type Case = (&'static str, fn() -> CaseResult);

const CASES: &[Case] = &[
    ("get_info", get_info),
    ("timeouts_set_and_get", timeouts_set_and_get),
    ("service_lifecycle", service_lifecycle),
    ("destination_lifecycle", destination_lifecycle),
    ("every_scheduler", every_scheduler),
    ("forwarding_methods", forwarding_methods),
    ("forwarding_change_in_place", forwarding_change_in_place),
    ("ipv6_and_fwmark_services", ipv6_and_fwmark_services),
    ("reconcile_from_empty", reconcile_from_empty),
    (
        "reconcile_repairs_manual_drift",
        reconcile_repairs_manual_drift,
    ),
    ("weight_only_change_is_one_op", weight_only_change_is_one_op),
    ("quiesce_versus_remove", quiesce_versus_remove),
    ("foreign_services", foreign_services),
    ("sync_daemons", sync_daemons),
    (
        "batch_reports_per_operation_errors",
        batch_reports_per_operation_errors,
    ),
    (
        "large_batch_and_multi_datagram_dump",
        large_batch_and_multi_datagram_dump,
    ),
    (
        "stats_read_back_and_survive_weight_change",
        stats_read_back_and_survive_weight_change,
    ),
    (
        "ack_overflow_is_reported_not_waited_on",
        ack_overflow_is_reported_not_waited_on,
    ),
    (
        "live_replies_roundtrip_byte_identical",
        live_replies_roundtrip_byte_identical,
    ),
    ("zero_and_flush", zero_and_flush),
];

fn reset() -> CaseResult {
    sh(
        "ipvsadm -C; ipvsadm --stop-daemon master 2>/dev/null || true; \
        ipvsadm --stop-daemon backup 2>/dev/null || true",
    )?;
    Ok(())
}

pub fn run_all(filters: &[String]) -> ExitCode {
    let filters: Vec<&String> = filters.iter().filter(|a| !a.starts_with('-')).collect();
    if let Err(e) = sh(
        "ip addr add 10.2.0.1/24 dev dummy0 && ip link set dummy0 up \
                        && ip -6 addr add 2001:db8:2::1/64 dev dummy0 nodad",
    ) {
        eprintln!("guest setup failed: {e}");
        return ExitCode::FAILURE;
    }
    let (mut passed, mut failed) = (0, Vec::new());
    for (name, case) in CASES {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let started = Instant::now();
        let result = reset().and_then(|()| case());
        let secs = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok ({secs:.2} s)");
            }
            Err(e) => {
                println!("test {name} ... FAILED ({secs:.2} s)\n{e}\n");
                failed.push(*name);
            }
        }
    }
    println!(
        "kernel suite: {passed} passed, {} failed {:?}",
        failed.len(),
        failed
    );
    if failed.is_empty() && passed > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn get_info() -> CaseResult {
    let info = client()?.info().map_err(|e| e.to_string())?;
    ensure(info.version_triple() == (1, 2, 1), || {
        format!("version {:?}", info.version_triple())
    })?;
    contains(
        &ipvsadm_list("")?,
        &format!("(size={})", info.conn_tab_size),
    )
}

fn timeouts_set_and_get() -> CaseResult {
    let mut c = client()?;
    let set = Timeouts {
        tcp: 901,
        tcp_fin: 121,
        udp: 301,
    };
    c.execute(&Operation::SetTimeouts(set))
        .map_err(|e| e.to_string())?;
    ensure(c.timeouts().map_err(|e| e.to_string())? == set, || {
        "GET_CONFIG differs".into()
    })?;
    contains(&sh("ipvsadm -L --timeout")?, "901 121 301")?;
    // Zero leaves a value unchanged (kernel semantics the daemon relies on).
    c.execute(&Operation::SetTimeouts(Timeouts {
        tcp: 0,
        tcp_fin: 0,
        udp: 60,
    }))
    .map_err(|e| e.to_string())?;
    let got = c.timeouts().map_err(|e| e.to_string())?;
    ensure(
        got == Timeouts {
            tcp: 901,
            tcp_fin: 121,
            udp: 60,
        },
        || format!("{got:?}"),
    )?;
    c.execute(&Operation::SetTimeouts(Timeouts {
        tcp: 900,
        tcp_fin: 120,
        udp: 300,
    }))
    .map_err(|e| e.to_string())
}

fn service_lifecycle() -> CaseResult {
    let mut c = client()?;
    let key = ServiceKey::tcp(ip("10.0.0.1"), 80);
    ensure(
        c.service(&key).map_err(|e| e.to_string())?.is_none(),
        || "exists before creation".into(),
    )?;
    let mut svc = Service::new(key, "wlc");
    c.execute(&Operation::NewService(svc.clone()))
        .map_err(|e| e.to_string())?;
    contains(&ipvsadm_list("")?, "TCP  10.0.0.1:80 wlc")?;
    let got = c
        .service(&key)
        .map_err(|e| e.to_string())?
        .ok_or("GET_SERVICE found nothing")?;
    ensure(!got.config_differs(&svc), || format!("read back {got:?}"))?;
    ensure(got.stats.is_some(), || "no stats read back".into())?;
    svc.scheduler = "sh".into();
    svc.flags = ServiceFlags::PERSISTENT | ServiceFlags::SCHED2;
    svc.timeout = 300;
    svc.netmask = Service::ipv4_netmask(24);
    c.execute(&Operation::SetService(svc.clone()))
        .map_err(|e| e.to_string())?;
    let listing = ipvsadm_list("")?;
    contains(
        &listing,
        "TCP  10.0.0.1:80 sh (sh-port) persistent 300 mask 255.255.255.0",
    )?;
    let dumped = c.services().map_err(|e| e.to_string())?;
    ensure(dumped.len() == 1 && !dumped[0].config_differs(&svc), || {
        format!("{dumped:?}")
    })?;
    // One-packet scheduling on UDP.
    let mut udp = Service::new(ServiceKey::udp(ip("10.0.0.2"), 53), "rr");
    udp.flags = ServiceFlags::ONE_PACKET;
    c.execute(&Operation::NewService(udp))
        .map_err(|e| e.to_string())?;
    contains(&ipvsadm_list("")?, "UDP  10.0.0.2:53 rr ops")?;
    // Persistence engine (SIP Call-ID persistence), edited in place and read back.
    let mut sip = Service::new(ServiceKey::udp(ip("10.0.0.3"), 5060), "rr");
    sip.flags = ServiceFlags::PERSISTENT;
    sip.timeout = 60;
    c.execute(&Operation::NewService(sip.clone()))
        .map_err(|e| e.to_string())?;
    sip.pe_name = Some("sip".into());
    c.execute(&Operation::SetService(sip.clone()))
        .map_err(|e| e.to_string())?;
    contains(
        &ipvsadm_list("")?,
        "UDP  10.0.0.3:5060 rr persistent 60 pe sip",
    )?;
    let got = c
        .service(&sip.key)
        .map_err(|e| e.to_string())?
        .ok_or("sip service missing")?;
    ensure(got.pe_name.as_deref() == Some("sip"), || format!("{got:?}"))?;
    c.execute(&Operation::DelService(key))
        .map_err(|e| e.to_string())?;
    lacks(&ipvsadm_list("")?, "10.0.0.1:80")?;
    match c.execute(&Operation::DelService(key)) {
        Err(IpvsError::Kernel { source, .. }) if source.raw_os_error() == Some(libc::ESRCH) => {
            Ok(())
        }
        other => Err(format!("deleting a missing service gave {other:?}")),
    }
}

fn destination_lifecycle() -> CaseResult {
    let mut c = client()?;
    let key = ServiceKey::tcp(ip("10.0.0.1"), 80);
    c.execute(&Operation::NewService(Service::new(key, "wrr")))
        .map_err(|e| e.to_string())?;
    let mut d = masq("192.168.1.10", 8080, 3);
    d.upper_threshold = 100;
    d.lower_threshold = 10;
    c.execute(&Operation::NewDest {
        service: key,
        dest: d.clone(),
    })
    .map_err(|e| e.to_string())?;
    contains(
        &ipvsadm_list("")?,
        "-> 192.168.1.10:8080            Masq    3",
    )?;
    contains(&ipvsadm_list("--thresholds")?, "100        10")?;
    let got = c.destinations(&key).map_err(|e| e.to_string())?;
    ensure(got.len() == 1 && !got[0].config_differs(&d), || {
        format!("{got:?}")
    })?;
    d.weight = 9;
    c.execute(&Operation::SetDest {
        service: key,
        dest: d.clone(),
    })
    .map_err(|e| e.to_string())?;
    contains(
        &ipvsadm_list("")?,
        "-> 192.168.1.10:8080            Masq    9",
    )?;
    c.execute(&Operation::DelDest {
        service: key,
        dest: d.key(),
    })
    .map_err(|e| e.to_string())?;
    lacks(&ipvsadm_list("")?, "192.168.1.10")?;
    ensure(
        c.destinations(&key).map_err(|e| e.to_string())?.is_empty(),
        || "dest left".into(),
    )
}

fn every_scheduler() -> CaseResult {
    let mut c = client()?;
    let scheds = [
        "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf",
    ];
    let ops: Vec<Operation> = scheds
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            let key = ServiceKey::tcp(ip(&format!("10.0.1.{}", i + 1)), 80);
            [
                Operation::NewService(Service::new(key, *s)),
                Operation::NewDest {
                    service: key,
                    dest: masq("192.168.2.1", 80, 1),
                },
            ]
        })
        .collect();
    let report = c.apply(&ops).map_err(|e| e.to_string())?;
    ensure(report.all_ok(), || format!("{:?}", report.failures()))?;
    let listing = ipvsadm_list("")?;
    for (i, s) in scheds.iter().enumerate() {
        contains(&listing, &format!("TCP  10.0.1.{}:80 {s}", i + 1))?;
    }
    let mut got: Vec<String> = c
        .services()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|s| s.scheduler)
        .collect();
    got.sort();
    let mut want: Vec<String> = scheds.iter().map(|s| s.to_string()).collect();
    want.sort();
    ensure(got == want, || format!("{got:?}"))?;
    // Scheduler flags of mh (mh-port, mh-fallback share SCHED1/SCHED2 with sh).
    let mut mh = Service::new(ServiceKey::tcp(ip("10.0.1.100"), 80), "mh");
    mh.flags = ServiceFlags::SCHED1 | ServiceFlags::SCHED2;
    c.execute(&Operation::NewService(mh))
        .map_err(|e| e.to_string())?;
    contains(&ipvsadm_list("")?, "10.0.1.100:80 mh (mh-fallback,mh-port)")
}

fn forwarding_methods() -> CaseResult {
    let mut c = client()?;
    let key = ServiceKey::tcp(ip("10.0.0.1"), 80);
    let dests = vec![
        masq("192.168.1.10", 8080, 1),
        // Direct routing needs the real server on a link: 10.2.0.0/24 is on dummy0.
        Destination::new(ip("10.2.0.5"), 80, ForwardMethod::DirectRoute, 2),
        Destination::new(ip("10.3.0.5"), 80, ForwardMethod::TUNNEL_IPIP, 3),
        Destination::new(
            ip("10.3.0.6"),
            80,
            ForwardMethod::Tunnel {
                tun_type: TunnelType::Gue,
                port: 6080,
                flags: 1,
            },
            4,
        ),
        Destination::new(
            ip("10.3.0.7"),
            80,
            ForwardMethod::Tunnel {
                tun_type: TunnelType::Gre,
                port: 0,
                flags: 0,
            },
            5,
        ),
    ];
    let desired = IpvsState::new(vec![VirtualService::new(
        Service::new(key, "wrr"),
        dests.clone(),
    )]);
    apply_reconcile(&mut c, &desired, false)?;
    let listing = ipvsadm_list("")?;
    contains(&listing, "-> 192.168.1.10:8080            Masq    1")?;
    contains(&listing, "-> 10.2.0.5:80                  Route   2")?;
    contains(&listing, "-> 10.3.0.5:80                  Tunnel  3")?;
    let tun = ipvsadm_list("--tun-info")?;
    contains(&tun, "-> 10.3.0.5:80 Tunnel ipip 3")?;
    contains(&tun, "-> 10.3.0.6:80 Tunnel gue:6080:+c 4")?;
    contains(&tun, "-> 10.3.0.7:80 Tunnel gre:-c 5")?;
    let got = c.destinations(&key).map_err(|e| e.to_string())?;
    for d in &dests {
        let back = got
            .iter()
            .find(|g| g.key() == d.key())
            .ok_or(format!("{} missing", d.key()))?;
        ensure(!back.config_differs(d), || {
            format!("{d:?} read back as {back:?}")
        })?;
    }
    Ok(())
}

fn forwarding_change_in_place() -> CaseResult {
    let mut c = client()?;
    let key = ServiceKey::tcp(ip("10.0.0.1"), 80);
    let mut desired = IpvsState::new(vec![VirtualService::new(
        Service::new(key, "rr"),
        vec![masq("10.2.0.9", 80, 1)],
    )]);
    apply_reconcile(&mut c, &desired, false)?;
    desired.services[0].destinations[0].forward = ForwardMethod::DirectRoute;
    let ops = reconcile(
        &desired,
        &c.state().map_err(|e| e.to_string())?,
        &owned(&desired),
        &ReconcileOptions::default(),
    )
    .map_err(|e| e.to_string())?;
    ensure(
        matches!(ops.as_slice(), [Operation::SetDest { .. }]),
        || format!("{ops:?}"),
    )?;
    let report = c.apply(&ops).map_err(|e| e.to_string())?;
    ensure(report.all_ok(), || {
        format!("kernel refused an in-place forwarding change: {report:?}")
    })?;
    contains(
        &ipvsadm_list("")?,
        "-> 10.2.0.9:80                  Route   1",
    )
}

fn owned(desired: &IpvsState) -> HashSet<ServiceKey> {
    desired.services.iter().map(VirtualService::key).collect()
}

/// Dumps, reconciles, applies, and checks a second pass is empty (convergence).
fn apply_reconcile(
    c: &mut IpvsClient,
    desired: &IpvsState,
    flush_foreign: bool,
) -> Result<Vec<Operation>, String> {
    let options = ReconcileOptions { flush_foreign };
    let current = c.state().map_err(|e| e.to_string())?;
    let ops = reconcile(desired, &current, &owned(desired), &options).map_err(|e| e.to_string())?;
    let report = c.apply(&ops).map_err(|e| e.to_string())?;
    let failures: Vec<String> = report
        .failures()
        .iter()
        .map(|(i, f)| format!("{}: {f}", ops[*i]))
        .collect();
    ensure(failures.is_empty(), || failures.join("\n"))?;
    let after = c.state().map_err(|e| e.to_string())?;
    let again = reconcile(desired, &after, &owned(desired), &options).map_err(|e| e.to_string())?;
    ensure(again.is_empty(), || {
        format!("not converged, still: {again:?}")
    })?;
    Ok(ops)
}

fn mixed_desired() -> IpvsState {
    let v6 = VirtualService::new(
        Service::new(ServiceKey::udp(ip("2001:db8::1"), 53), "sh"),
        vec![
            Destination::new(ip("2001:db8::10"), 53, ForwardMethod::Masquerade, 1),
            Destination::new(ip("2001:db8:2::20"), 53, ForwardMethod::DirectRoute, 2),
        ],
    );
    let mut fw_svc = Service::new(ServiceKey::fwmark(IpFamily::V4, 42), "rr");
    fw_svc.flags = ServiceFlags::PERSISTENT;
    fw_svc.timeout = 120;
    let fw = VirtualService::new(
        fw_svc,
        vec![masq("192.168.3.1", 0, 1), masq("192.168.3.2", 0, 1)],
    );
    let fw6 = VirtualService::new(
        Service::new(ServiceKey::fwmark(IpFamily::V6, 43), "wlc"),
        vec![Destination::new(
            ip("2001:db8::30"),
            0,
            ForwardMethod::Masquerade,
            1,
        )],
    );
    IpvsState::new(vec![
        tcp_service(
            "10.0.0.1",
            80,
            "wrr",
            vec![
                masq("192.168.1.1", 80, 1),
                masq("192.168.1.2", 80, 2),
                masq("192.168.1.3", 80, 3),
            ],
        ),
        v6,
        fw,
        fw6,
    ])
}

fn ipv6_and_fwmark_services() -> CaseResult {
    let mut c = client()?;
    apply_reconcile(&mut c, &mixed_desired(), false)?;
    let listing = ipvsadm_list("")?;
    contains(&listing, "UDP  [2001:db8::1]:53 sh")?;
    contains(&listing, "-> [2001:db8::10]:53            Masq    1")?;
    contains(&listing, "-> [2001:db8:2::20]:53          Route   2")?;
    contains(&listing, "FWM  42 rr persistent 120")?;
    contains(&listing, "FWM  43 IPv6 wlc")?;
    contains(&listing, "-> [2001:db8::30]:0             Masq    1")
}

fn reconcile_from_empty() -> CaseResult {
    let mut c = client()?;
    let desired = mixed_desired();
    let ops = apply_reconcile(&mut c, &desired, false)?;
    let expected = desired.services.len() + desired.destination_count();
    ensure(ops.len() == expected, || {
        format!("{} ops for {expected} objects", ops.len())
    })?;
    let counts = proc_counts()?;
    ensure(counts == (4, 8), || {
        format!("/proc/net/ip_vs counts {counts:?}")
    })
}

fn reconcile_repairs_manual_drift() -> CaseResult {
    let mut c = client()?;
    let desired = mixed_desired();
    apply_reconcile(&mut c, &desired, false)?;
    let before = ipvsadm_list("")?;
    // An operator edits by hand: weight, scheduler, an extra real server, a removed one.
    sh("ipvsadm -e -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 50
        ipvsadm -E -t 10.0.0.1:80 -s lc
        ipvsadm -a -t 10.0.0.1:80 -r 192.168.1.99:80 -m -w 1
        ipvsadm -d -u [2001:db8::1]:53 -r [2001:db8::10]:53")?;
    ensure(ipvsadm_list("")? != before, || {
        "hand edits had no effect".into()
    })?;
    let ops = apply_reconcile(&mut c, &desired, false)?;
    ensure(ops.len() == 4, || {
        format!("expected 4 repairs, got {ops:#?}")
    })?;
    let after = ipvsadm_list("")?;
    ensure(after == before, || {
        format!("not restored:\nbefore\n{before}\nafter\n{after}")
    })
}

fn weight_only_change_is_one_op() -> CaseResult {
    let mut c = client()?;
    let mut desired = mixed_desired();
    apply_reconcile(&mut c, &desired, false)?;
    desired.services[0].destinations[1].weight = 7;
    let ops = apply_reconcile(&mut c, &desired, false)?;
    ensure(
        matches!(ops.as_slice(), [Operation::SetDest { dest, .. }] if dest.weight == 7),
        || format!("{ops:?}"),
    )?;
    contains(
        &ipvsadm_list("")?,
        "-> 192.168.1.2:80              Masq    7",
    )
}

fn quiesce_versus_remove() -> CaseResult {
    let mut c = client()?;
    let mut desired = mixed_desired();
    apply_reconcile(&mut c, &desired, false)?;
    desired.services[0].destinations[2].weight = 0;
    apply_reconcile(&mut c, &desired, false)?;
    contains(
        &ipvsadm_list("")?,
        "-> 192.168.1.3:80              Masq    0",
    )?;
    desired.services[0].destinations.remove(2);
    let ops = apply_reconcile(&mut c, &desired, false)?;
    ensure(
        matches!(ops.as_slice(), [Operation::DelDest { .. }]),
        || format!("{ops:?}"),
    )?;
    lacks(&ipvsadm_list("")?, "192.168.1.3")
}

fn foreign_services() -> CaseResult {
    let mut c = client()?;
    let desired = mixed_desired();
    sh("ipvsadm -A -t 10.9.9.9:443 -s rr && ipvsadm -a -t 10.9.9.9:443 -r 192.168.9.9:443 -m")?;
    apply_reconcile(&mut c, &desired, false)?;
    contains(&ipvsadm_list("")?, "TCP  10.9.9.9:443 rr")?;
    let ops = apply_reconcile(&mut c, &desired, true)?;
    ensure(
        ops == vec![Operation::DelService(ServiceKey::tcp(ip("10.9.9.9"), 443))],
        || format!("{ops:?}"),
    )?;
    lacks(&ipvsadm_list("")?, "10.9.9.9")
}

fn sync_daemons() -> CaseResult {
    sh("ip link add syncm type veth peer name syncb; ip link set syncm up; ip link set syncb up")?;
    let result = (|| {
        let mut c = client()?;
        let master = SyncDaemon::new(DaemonState::Master, "syncm", 9);
        let mut backup = SyncDaemon::new(DaemonState::Backup, "syncb", 9);
        backup.mcast_port = Some(8850);
        backup.mcast_ttl = Some(2);
        let report = c
            .apply(&[Operation::NewDaemon(master), Operation::NewDaemon(backup)])
            .map_err(|e| e.to_string())?;
        ensure(report.all_ok(), || format!("{report:?}"))?;
        let daemons = c.daemons().map_err(|e| e.to_string())?;
        let m = daemons
            .iter()
            .find(|d| d.state == DaemonState::Master)
            .ok_or("no master")?;
        let b = daemons
            .iter()
            .find(|d| d.state == DaemonState::Backup)
            .ok_or("no backup")?;
        ensure(m.interface == "syncm" && m.sync_id == 9, || {
            format!("{m:?}")
        })?;
        ensure(
            b.interface == "syncb" && b.mcast_port == Some(8850) && b.mcast_ttl == Some(2),
            || format!("{b:?}"),
        )?;
        let listing = sh("ipvsadm -L --daemon")?;
        contains(&listing, "master sync daemon (mcast=syncm, syncid=9")?;
        contains(&listing, "backup sync daemon (mcast=syncb, syncid=9")?;
        c.execute(&Operation::DelDaemon(DaemonState::Master))
            .map_err(|e| e.to_string())?;
        let left = c.daemons().map_err(|e| e.to_string())?;
        ensure(
            left.len() == 1 && left[0].state == DaemonState::Backup,
            || format!("{left:?}"),
        )?;
        // Failover on the standby: the backup daemon gives way to a master.
        let promoted = [SyncDaemon::new(DaemonState::Master, "syncb", 9)];
        let ops = reconcile_daemons(&promoted, &left);
        ensure(ops.len() == 2, || format!("{ops:?}"))?;
        let report = c.apply(&ops).map_err(|e| e.to_string())?;
        ensure(report.all_ok(), || format!("{report:?}"))?;
        let now = c.daemons().map_err(|e| e.to_string())?;
        ensure(reconcile_daemons(&promoted, &now).is_empty(), || {
            format!("{now:?}")
        })?;
        contains(
            &sh("ipvsadm -L --daemon")?,
            "master sync daemon (mcast=syncb, syncid=9",
        )?;
        c.execute(&Operation::DelDaemon(DaemonState::Master))
            .map_err(|e| e.to_string())?;
        ensure(c.daemons().map_err(|e| e.to_string())?.is_empty(), || {
            "daemon left".into()
        })
    })();
    sh("ip link del syncm")?;
    result
}

fn batch_reports_per_operation_errors() -> CaseResult {
    let mut c = client()?;
    let a = ServiceKey::tcp(ip("10.0.0.1"), 80);
    let missing = ServiceKey::tcp(ip("10.0.0.99"), 80);
    // A batch with an invalid operation is refused as a whole: nothing reaches the kernel.
    let bad = vec![
        Operation::NewService(Service::new(a, "rr")),
        Operation::NewService(Service::new(missing, "a-scheduler-name-too-long")),
    ];
    match c.apply(&bad) {
        Err(IpvsError::InvalidOperation { index: 1, .. }) => {}
        other => return Err(format!("invalid batch gave {other:?}")),
    }
    ensure(proc_counts()? == (0, 0), || {
        "an invalid batch changed the kernel".into()
    })?;
    let ops = vec![
        Operation::NewService(Service::new(a, "rr")),
        Operation::NewService(Service::new(a, "rr")),
        Operation::NewDest {
            service: missing,
            dest: masq("192.168.1.1", 80, 1),
        },
        Operation::NewService(Service::new(ServiceKey::tcp(ip("10.0.0.2"), 80), "nosuch")),
        Operation::NewDest {
            service: a,
            dest: masq("192.168.1.1", 80, 1),
        },
        Operation::DelDest {
            service: a,
            dest: DestKey {
                addr: ip("192.168.1.200"),
                port: 80,
            },
        },
    ];
    let report = c.apply(&ops).map_err(|e| e.to_string())?;
    let want = vec![
        Ok(()),
        Err(OpFailure::Errno(libc::EEXIST)),
        Err(OpFailure::Errno(libc::ESRCH)),
        Err(OpFailure::Errno(libc::ENOENT)),
        Ok(()),
        Err(OpFailure::Errno(libc::ENOENT)),
    ];
    ensure(report.results == want, || {
        format!("got {:?}", report.results)
    })?;
    contains(
        &ipvsadm_list("")?,
        "-> 192.168.1.1:80               Masq    1",
    )
}

fn large_batch_and_multi_datagram_dump() -> CaseResult {
    let mut c = client()?;
    let (services, per) = (300usize, 10usize);
    let desired = IpvsState::new(
        (0..services)
            .map(|i| {
                let vip = format!("10.10.{}.{}", i / 250, i % 250 + 1);
                let dests = (0..per)
                    .map(|j| {
                        masq(
                            &format!("172.16.{}.{}", i / 250, j + 1),
                            8000 + (i % 250) as u16,
                            1,
                        )
                    })
                    .collect();
                tcp_service(&vip, 80, "wrr", dests)
            })
            .collect(),
    );
    let ops = apply_reconcile(&mut c, &desired, false)?;
    ensure(ops.len() == services * (per + 1), || {
        format!("{} ops", ops.len())
    })?;
    let counts = proc_counts()?;
    ensure(counts == (services, services * per), || {
        format!("/proc/net/ip_vs counts {counts:?}")
    })?;
    // The service dump of 300 entries spans several datagrams.
    let datagrams = c
        .exchange_raw(IpvsMessage::new(IpvsCmd::GetService, vec![]), true)
        .map_err(|e| e.to_string())?;
    ensure(datagrams.len() > 2, || {
        format!("dump fit in {} datagrams", datagrams.len())
    })?;
    ensure(
        c.services().map_err(|e| e.to_string())?.len() == services,
        || "dump lost services".into(),
    )
}

fn live_replies_roundtrip_byte_identical() -> CaseResult {
    let mut c = client()?;
    apply_reconcile(&mut c, &mixed_desired(), false)?;
    let mut requests = vec![
        (IpvsMessage::new(IpvsCmd::GetInfo, vec![]), false),
        (IpvsMessage::new(IpvsCmd::GetConfig, vec![]), false),
        (IpvsMessage::new(IpvsCmd::GetService, vec![]), true),
    ];
    for vs in mixed_desired().services {
        requests.push((
            IpvsMessage::new(
                IpvsCmd::GetDest,
                vec![tandem_ipvs::message::IpvsAttr::Service(vs.key().to_attrs())],
            ),
            true,
        ));
    }
    for (msg, dump) in requests {
        let cmd = msg.cmd;
        for datagram in c.exchange_raw(msg, dump).map_err(|e| e.to_string())? {
            let parsed = parse_datagram(&datagram).map_err(|e| format!("{cmd:?}: {e}"))?;
            ensure(emit_datagram(&parsed) == datagram, || {
                format!("{cmd:?} reply re-emits differently")
            })?;
            ensure(
                parsed
                    .iter()
                    .all(|m| !matches!(&m.payload, NetlinkPayload::Error(e) if e.code.is_some())),
                || format!("{cmd:?} returned an error"),
            )?;
        }
    }
    Ok(())
}

fn zero_and_flush() -> CaseResult {
    let mut c = client()?;
    apply_reconcile(&mut c, &mixed_desired(), false)?;
    let report = c
        .apply(&[
            Operation::Zero(Some(ServiceKey::tcp(ip("10.0.0.1"), 80))),
            Operation::Zero(None),
            Operation::Flush,
        ])
        .map_err(|e| e.to_string())?;
    ensure(report.all_ok(), || format!("{report:?}"))?;
    ensure(proc_counts()? == (0, 0), || "flush left entries".into())?;
    ensure(
        c.state().map_err(|e| e.to_string())?.services.is_empty(),
        || "dump not empty".into(),
    )
}

fn ack_overflow_is_reported_not_waited_on() -> CaseResult {
    let mut c = client()?;
    let key = ServiceKey::tcp(ip("10.0.0.1"), 80);
    let mut ops = vec![Operation::NewService(Service::new(key, "rr"))];
    for i in 0..1499u32 {
        let addr = format!("172.20.{}.{}", i / 250, i % 250 + 1);
        ops.push(Operation::NewDest {
            service: key,
            dest: masq(&addr, 80, 1),
        });
    }
    // One window of 1,500 requests: about three times the acks the receive buffer holds.
    c.set_batch_window(ops.len());
    let report = c.apply(&ops).map_err(|e| e.to_string())?;
    ensure(report.results.len() == ops.len(), || {
        "one result per operation".into()
    })?;
    let lost = report
        .results
        .iter()
        .filter(|r| matches!(r, Err(OpFailure::Unacknowledged)))
        .count();
    let ok = report.results.iter().filter(|r| r.is_ok()).count();
    ensure(lost > 0, || {
        "expected the receive buffer to overflow".into()
    })?;
    ensure(ok + lost == ops.len(), || {
        format!("unexpected failures: {:?}", report.failures())
    })?;
    ensure(c.batch_window() < ops.len(), || {
        "window not reduced after overflow".into()
    })?;
    // The kernel applied everything; the client is still in sync (no stale acks confuse it).
    ensure(proc_counts()? == (1, 1499), || {
        format!("{:?}", proc_counts())
    })?;
    ensure(
        c.destinations(&key).map_err(|e| e.to_string())?.len() == 1499,
        || "dump after overflow".into(),
    )?;
    println!(
        "  ({lost} of {} acks lost to the overflow, window now {})",
        ops.len(),
        c.batch_window()
    );
    Ok(())
}

fn stats_read_back_and_survive_weight_change() -> CaseResult {
    let mut c = client()?;
    let key = ServiceKey::tcp(ip("10.2.0.100"), 80);
    let mut desired = IpvsState::new(vec![VirtualService::new(
        Service::new(key, "rr"),
        vec![masq("10.2.0.5", 80, 1)],
    )]);
    apply_reconcile(&mut c, &desired, false)?;
    // IPVS schedules locally generated connections too (LOCAL_OUT hook): each attempt to the
    // VIP creates a connection even though nothing answers behind 10.2.0.5.
    for _ in 0..3 {
        let vip = std::net::SocketAddr::from(([10, 2, 0, 100], 80));
        // Times out (nobody answers); the SYN has been scheduled by then.
        let _ = std::net::TcpStream::connect_timeout(&vip, std::time::Duration::from_millis(300));
    }
    let conns = |c: &mut IpvsClient| -> Result<(u64, u64), String> {
        let svc = c
            .service(&key)
            .map_err(|e| e.to_string())?
            .ok_or("service gone")?;
        let dest = c.destinations(&key).map_err(|e| e.to_string())?;
        let d = dest.first().and_then(|d| d.stats).ok_or("no dest stats")?;
        Ok((svc.stats.ok_or("no service stats")?.conns, d.conns))
    };
    // The counters netlink reports are summed from per-CPU counters by the kernel's
    // estimator every 2 s, so wait (bounded) for them to show up.
    let mut before = conns(&mut c)?;
    for _ in 0..30 {
        if before.0 >= 1 && before.1 >= 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        before = conns(&mut c)?;
    }
    ensure(before.0 >= 1 && before.1 >= 1, || {
        format!("no connections counted: {before:?}")
    })?;
    contains(&ipvsadm_list("--stats")?, "TCP  10.2.0.100:80")?;
    desired.services[0].destinations[0].weight = 5;
    let ops = apply_reconcile(&mut c, &desired, false)?;
    ensure(ops.len() == 1, || format!("{ops:?}"))?;
    let after = conns(&mut c)?;
    ensure(after.1 >= before.1, || {
        format!("counters reset by SET_DEST: {before:?} -> {after:?}")
    })?;
    // (No DEL+NEW contrast here: a destination deleted while it still has connections goes
    // to the kernel's trash list, and a NEW_DEST for the same address revives it with its
    // counters, so that would not reset them either.)
    ensure(after.0 >= before.0, || {
        format!("service counters went back: {before:?} -> {after:?}")
    })
}
