//! The scheduler over real probes: rise/fall against a real nginx that stops and starts, one
//! shared probe feeding two owners (counted in nginx's access log), and a runtime update of one
//! check that leaves another untouched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, http, rs};
use tandem_checkers::http::HttpSpec;
use tandem_checkers::tcp::TcpSpec;
use tandem_checkers::{
    CheckConfig, CheckEvent, CheckSpec, CheckTiming, DownReason, EventKind, Health, Outcome,
    OwnerId, RiseFall, Scheduler, SchedulerOptions, probe_with_timeout,
};
use tokio::sync::mpsc::UnboundedReceiver;

fn http_check(path: &str, interval_ms: u64, rise: u32, fall: u32) -> CheckConfig {
    CheckConfig {
        spec: CheckSpec::Http(HttpSpec {
            path: path.into(),
            ..HttpSpec::default()
        }),
        target: rs(8080),
        timing: CheckTiming {
            interval: Duration::from_millis(interval_ms),
            timeout: Duration::from_millis(500),
            ..CheckTiming::default()
        },
        rise_fall: RiseFall {
            rise,
            fall,
            initial: Health::Down,
        },
    }
}

/// A scheduler that reports every probe result, not only transitions.
fn start_reporting_every_result() -> (Scheduler, UnboundedReceiver<CheckEvent>) {
    Scheduler::start(SchedulerOptions {
        every_result: true,
        ..SchedulerOptions::default()
    })
    .unwrap()
}

/// Next event for `owner` matching `kind`, within `within` (other events are returned in `skipped`).
async fn wait_event(
    events: &mut UnboundedReceiver<CheckEvent>,
    owner: &str,
    kind: EventKind,
    within: Duration,
    skipped: &mut Vec<CheckEvent>,
) -> CheckEvent {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("no {kind:?} event for {owner} within {within:?}"))
            .expect("scheduler stopped");
        if event.owner.0 == owner && event.kind == kind {
            return event;
        }
        skipped.push(event);
    }
}

#[test]
fn rise_and_fall_follow_a_real_server_stopping_and_starting() {
    let env = Env::new("risefall");
    let (pid, _) = env.start_nginx();
    // One runtime for the whole test (the scheduler lives on it); the lab operations in between
    // block it for a few milliseconds, which only delays probes.
    env.in_director(|| async {
        let (scheduler, mut events) = Scheduler::start(SchedulerOptions::default()).unwrap();
        scheduler
            .upsert("web".into(), http_check("/", 150, 3, 2))
            .await
            .unwrap();
        let mut skipped = Vec::new();
        let up = wait_event(
            &mut events,
            "web",
            EventKind::Health(Health::Up),
            Duration::from_secs(5),
            &mut skipped,
        )
        .await;
        assert!(up.result.outcome.is_up());
        let status = scheduler.status("web".into()).await.unwrap().unwrap();
        assert!(
            status.probes >= 3,
            "up after {} probes, rise is 3",
            status.probes
        );
        assert!(skipped.is_empty(), "no event before the rise: {skipped:?}");

        // TERM: nginx's fast shutdown takes its workers along (KILL would orphan them, still
        // serving).
        env.lab.signal(pid, "TERM").unwrap();
        let down = wait_event(
            &mut events,
            "web",
            EventKind::Health(Health::Down),
            Duration::from_secs(5),
            &mut skipped,
        )
        .await;
        match &down.result.outcome {
            Outcome::Down(failure) => assert_eq!(failure.reason, DownReason::Refused),
            other => panic!("{other:?}"),
        }
        let status = scheduler.status("web".into()).await.unwrap().unwrap();
        assert_eq!(status.health, Health::Down);

        env.start_nginx();
        wait_event(
            &mut events,
            "web",
            EventKind::Health(Health::Up),
            Duration::from_secs(5),
            &mut skipped,
        )
        .await;
    });
}

#[test]
fn a_check_shared_by_two_owners_probes_once_and_informs_both() {
    let env = Env::new("shared");
    let (_pid, access) = env.start_nginx();
    let interval = Duration::from_millis(300);
    let (probes, elapsed) = env.in_director(|| async {
        let (scheduler, mut events) = Scheduler::start(SchedulerOptions::default()).unwrap();
        let config = http_check("/shared", 300, 1, 1);
        let start = tokio::time::Instant::now();
        let a = scheduler
            .upsert("svc-a/rs1".into(), config.clone())
            .await
            .unwrap();
        let b = scheduler.upsert("svc-b/rs1".into(), config).await.unwrap();
        assert_eq!(a, b, "same check key");
        let mut skipped = Vec::new();
        for owner in ["svc-a/rs1", "svc-b/rs1"] {
            wait_event(
                &mut events,
                owner,
                EventKind::Health(Health::Up),
                Duration::from_secs(5),
                &mut skipped,
            )
            .await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let sa = scheduler.status("svc-a/rs1".into()).await.unwrap().unwrap();
        let sb = scheduler.status("svc-b/rs1".into()).await.unwrap().unwrap();
        assert_eq!(sa, sb, "both owners see the one check");
        assert_eq!(sa.owners, 2);
        // Stop probing before counting server-side hits.
        scheduler.sync(Vec::new()).await.unwrap();
        (sa.probes, start.elapsed())
    });
    let hits = common::hits(&access, "/shared") as u64;
    // A probe counted at its start may not have been logged yet: allow one in flight.
    assert!(
        hits == probes || hits + 1 == probes,
        "nginx saw {hits} requests for {probes} probes"
    );
    let one_owner_max = elapsed.as_millis() as u64 / interval.as_millis() as u64 + 2;
    assert!(
        hits <= one_owner_max,
        "{hits} hits in {elapsed:?}: more than one probe per interval ({one_owner_max})"
    );
}

#[test]
fn updating_one_check_at_runtime_leaves_the_other_untouched() {
    let env = Env::new("update");
    let (_pid, access) = env.start_nginx();
    env.in_director(|| async {
        let (scheduler, mut events) = Scheduler::start(SchedulerOptions::default()).unwrap();
        let a = http_check("/a", 200, 1, 1);
        let b = http_check("/b", 200, 1, 1);
        scheduler.upsert("a".into(), a.clone()).await.unwrap();
        scheduler.upsert("b".into(), b.clone()).await.unwrap();
        let mut skipped = Vec::new();
        wait_event(
            &mut events,
            "a",
            EventKind::Health(Health::Up),
            Duration::from_secs(5),
            &mut skipped,
        )
        .await;
        if !skipped.iter().any(|e| e.owner.0 == "b") {
            wait_event(
                &mut events,
                "b",
                EventKind::Health(Health::Up),
                Duration::from_secs(5),
                &mut skipped,
            )
            .await;
        }
        let b_before = scheduler.status("b".into()).await.unwrap().unwrap();
        let a_before = scheduler.status("a".into()).await.unwrap().unwrap();

        // Reload: a's path changes, b is identical.
        let a2 = http_check("/a2", 200, 1, 1);
        let report = scheduler
            .sync(vec![("a".into(), a2), ("b".into(), b)])
            .await
            .unwrap();
        assert_eq!(report.changed, vec![OwnerId::from("a")]);
        assert_eq!(report.unchanged, 1);
        let b_after = scheduler.status("b".into()).await.unwrap().unwrap();
        assert_eq!(b_after.key, b_before.key, "b kept its check");
        assert_eq!(b_after.health, Health::Up);
        assert!(
            b_after.probes >= b_before.probes,
            "b's counters were not reset"
        );
        let a_after = scheduler.status("a".into()).await.unwrap().unwrap();
        assert_ne!(a_after.key, a_before.key);
        assert!(!a_after.observed || a_after.health == Health::Up);

        // a starts over (new Up event), b produces no event at all.
        let mut skipped = Vec::new();
        wait_event(
            &mut events,
            "a",
            EventKind::Health(Health::Up),
            Duration::from_secs(5),
            &mut skipped,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        while let Ok(event) = events.try_recv() {
            skipped.push(event);
        }
        assert!(
            skipped.iter().all(|e| e.owner.0 != "b"),
            "b was disturbed: {skipped:?}"
        );
        let b_later = scheduler.status("b".into()).await.unwrap().unwrap();
        assert!(b_later.probes > b_after.probes, "b's timer kept running");
        scheduler.sync(Vec::new()).await.unwrap();
    });
    let a_hits = common::hits(&access, "/a");
    let a2_hits = common::hits(&access, "/a2");
    assert!(a_hits >= 1 && a2_hits >= 1, "/a {a_hits}, /a2 {a2_hits}");
}

fn tcp_check(port: u16, source: Option<&str>, interval_ms: u64) -> CheckConfig {
    CheckConfig {
        spec: CheckSpec::Tcp(TcpSpec {
            source: source.map(|s| s.parse().unwrap()),
        }),
        target: rs(port),
        timing: CheckTiming {
            interval: Duration::from_millis(interval_ms),
            timeout: Duration::from_millis(300),
            ..CheckTiming::default()
        },
        rise_fall: RiseFall {
            rise: 1,
            fall: 1,
            initial: Health::Down,
        },
    }
}

/// Down reason of the next result of `owner` that is a failure, within 5 s.
async fn next_failure(events: &mut UnboundedReceiver<CheckEvent>, owner: &str) -> CheckEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("no failure for {owner} within 5 s"))
            .expect("scheduler stopped");
        if event.owner.0 == owner && !event.result.outcome.is_up() {
            return event;
        }
    }
}

fn reason(event: &CheckEvent) -> DownReason {
    match &event.result.outcome {
        Outcome::Down(failure) => failure.reason.clone(),
        other => panic!("{other:?}"),
    }
}

/// TCP checks run on the scheduler's own epoll set with sockets reused from probe to probe:
/// up, bound to a source address, refused, a bind error, a timeout (reported as the timeout),
/// and up again on the same reused sockets once the server answers again.
#[test]
fn tcp_checks_in_the_scheduler_report_up_refused_bind_errors_and_timeouts() {
    let env = Env::new("schedtcp");
    env.start_nginx();
    env.in_director(|| async {
        let (scheduler, mut events) = start_reporting_every_result();
        let checks = [
            ("up", tcp_check(8080, None, 50)),
            ("bound", tcp_check(8080, Some(common::DIR_IP), 50)),
            ("refused", tcp_check(8081, None, 50)),
            ("foreign", tcp_check(8080, Some("192.0.2.9"), 50)),
        ];
        for (owner, config) in checks {
            scheduler.upsert(owner.into(), config).await.unwrap();
        }
        let mut skipped = Vec::new();
        for owner in ["up", "bound"] {
            wait_event(
                &mut events,
                owner,
                EventKind::Health(Health::Up),
                Duration::from_secs(5),
                &mut skipped,
            )
            .await;
        }
        assert_eq!(
            reason(&next_failure(&mut events, "refused").await),
            DownReason::Refused
        );
        assert_eq!(
            reason(&next_failure(&mut events, "foreign").await),
            DownReason::Io
        );
        // Several probes per check ran on reused sockets; all still up.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let status = scheduler.status("up".into()).await.unwrap().unwrap();
        assert!(
            status.probes >= 3 && status.health == Health::Up,
            "{status:?}"
        );

        env.blackhole();
        let timeout = next_failure(&mut events, "up").await;
        assert_eq!(reason(&timeout), DownReason::Timeout);
        assert_eq!(timeout.result.latency, Duration::from_millis(300));
        env.unblackhole();
        wait_event(
            &mut events,
            "up",
            EventKind::Health(Health::Up),
            Duration::from_secs(5),
            &mut skipped,
        )
        .await;
    });
}

/// Plain HTTP checks run on the scheduler's own event loop (connect, send, receive on its epoll
/// set): each case gives the verdict it should, and the same one the checker's own future gives
/// (the tokio path HTTPS uses) — status, redirect, HEAD, body regex, digest, the 1 MiB body
/// bound, a virtual host, refused, a server that accepts and never answers (timeout, after the
/// connect), one that closes inside the head, and a black hole (timeout at the connect).
#[test]
fn http_checks_in_the_scheduler_judge_as_the_checker_does() {
    let env = Env::new("schedhttp");
    let (_pid, access) = env.start_nginx();
    env.start_scripted_tcp(8082, "", 5);
    env.start_scripted_tcp(8083, "HTTP/1.1 200 OK\\r\\nContent-Le", 0);
    let big = vec![b'a'; tandem_checkers::http::MAX_BODY];
    let cases: Vec<(&str, HttpSpec, u16, Option<DownReason>)> = vec![
        ("root", http("/"), 8080, None),
        (
            "head",
            HttpSpec {
                method: tandem_checkers::http::HttpMethod::Head,
                ..http("/")
            },
            8080,
            None,
        ),
        (
            "error",
            http("/error"),
            8080,
            Some(DownReason::BadStatus(500)),
        ),
        (
            "moved",
            http("/moved"),
            8080,
            Some(DownReason::BadStatus(302)),
        ),
        (
            "accept-302",
            HttpSpec {
                expect_status: vec![tandem_checkers::http::StatusRange::single(302)],
                ..http("/moved")
            },
            8080,
            None,
        ),
        (
            "regex-at-end",
            HttpSpec {
                body_regex: Some("^hello (tandem|world)$".into()),
                ..http("/")
            },
            8080,
            Some(DownReason::BodyMismatch),
        ),
        (
            "regex-multiline",
            HttpSpec {
                body_regex: Some("(?m)^hello (tandem|world)$".into()),
                ..http("/")
            },
            8080,
            None,
        ),
        (
            "digest",
            HttpSpec {
                digest: Some(tandem_checkers::http::md5_hex(b"hello tandem\n")),
                ..http("/")
            },
            8080,
            None,
        ),
        (
            "digest-bad",
            HttpSpec {
                digest: Some(tandem_checkers::http::md5_hex(b"hello world\n")),
                ..http("/")
            },
            8080,
            Some(DownReason::DigestMismatch),
        ),
        (
            "first-mib",
            HttpSpec {
                digest: Some(tandem_checkers::http::md5_hex(&big)),
                ..http("/big")
            },
            8080,
            None,
        ),
        (
            "past-bound",
            HttpSpec {
                body_regex: Some("END-MARKER".into()),
                ..http("/big")
            },
            8080,
            Some(DownReason::BodyMismatch),
        ),
        (
            "vhost",
            HttpSpec {
                host: Some("www.example.test".into()),
                body_regex: Some("host=www.example.test".into()),
                ..http("/host")
            },
            8080,
            None,
        ),
        ("refused", http("/"), 8081, Some(DownReason::Refused)),
        ("silent", http("/"), 8082, Some(DownReason::Timeout)),
        ("cut-head", http("/"), 8083, Some(DownReason::Protocol)),
    ];
    let timeout = Duration::from_secs(3);
    env.in_director(|| async {
        let (scheduler, mut events) = start_reporting_every_result();
        for (owner, spec, port, _) in &cases {
            let config = CheckConfig {
                spec: CheckSpec::Http(spec.clone()),
                target: rs(*port),
                timing: CheckTiming {
                    interval: Duration::from_secs(60),
                    timeout,
                    ..CheckTiming::default()
                },
                rise_fall: RiseFall {
                    rise: 1,
                    fall: 1,
                    initial: Health::Down,
                },
            };
            scheduler.upsert((*owner).into(), config).await.unwrap();
        }
        // The first result of every check (an Up transition or a Down probe result).
        let mut first = std::collections::HashMap::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while first.len() < cases.len() {
            let event = tokio::time::timeout_at(deadline, events.recv())
                .await
                .unwrap_or_else(|_| panic!("results so far: {first:?}"))
                .expect("scheduler stopped");
            first.entry(event.owner.0.clone()).or_insert(event.result);
        }
        let mut wrong = Vec::new();
        for (owner, spec, port, expected) in &cases {
            let scheduled = &first[*owner];
            let checker = CheckSpec::Http(spec.clone()).build().unwrap();
            let direct = probe_with_timeout(&*checker, rs(*port), timeout).await;
            for (path, result) in [("scheduler", scheduled), ("checker", &direct)] {
                let reason = match &result.outcome {
                    Outcome::Up => None,
                    Outcome::Down(failure) => Some(failure.reason.clone()),
                    other => panic!("{other:?}"),
                };
                if &reason != expected {
                    wrong.push(format!(
                        "{owner} via the {path}: expected {expected:?}, got {result:?}"
                    ));
                }
            }
            if *owner == "silent" {
                assert_eq!(scheduled.latency, timeout);
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    });
    assert!(
        common::hits(&access, "/host") >= 2,
        "vhost probes reached nginx"
    );
    env.blackhole();
    env.in_director(|| async {
        let (scheduler, mut events) = start_reporting_every_result();
        let mut config = http_check("/", 60_000, 1, 1);
        config.timing.timeout = Duration::from_millis(300);
        scheduler.upsert("holed".into(), config).await.unwrap();
        let failure = next_failure(&mut events, "holed").await;
        assert_eq!(reason(&failure), DownReason::Timeout);
        assert_eq!(failure.result.latency, Duration::from_millis(300));
    });
}
