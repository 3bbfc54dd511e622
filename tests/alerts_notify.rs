#![allow(clippy::expect_used, clippy::unwrap_used)]
//! Notify hooks run real scripts: strict order per object, concurrency across objects, the
//! timeout kills the whole process group, the `TANDEM_*` environment, and a full queue drops
//! instead of blocking.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tandem::alerts::{AlertEvent, Alerts, NotifyError, NotifyJob, NotifyRunner};
use tandem::config;

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn job(argv: &[&str]) -> NotifyJob {
    NotifyJob {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: Vec::new(),
    }
}

/// Polls `done` for at most 10 s.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..1000 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_of_one_object_run_in_the_order_submitted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // Earlier jobs sleep longer: if two jobs of one key ever overlapped, the later one would
    // finish first and the file would be out of order.
    let hook = script(
        dir.path(),
        "hook",
        &format!(
            "sleep 0.0$((9 - $2 % 10)); echo \"$1 $2\" >> {}",
            out.display()
        ),
    );
    let hook = hook.to_str().unwrap();
    let runner = NotifyRunner::new(Duration::from_secs(10), 64, 16);
    for i in 0..15 {
        for key in ["real/web/10.0.0.1:80", "real/web/10.0.0.2:80"] {
            runner
                .submit(key, job(&[hook, key, &i.to_string()]))
                .unwrap();
        }
    }
    assert!(
        eventually(|| lines(&out).len() == 30).await,
        "{:?}",
        lines(&out)
    );
    for key in ["real/web/10.0.0.1:80", "real/web/10.0.0.2:80"] {
        let seq: Vec<u32> = lines(&out)
            .iter()
            .filter_map(|l| l.strip_prefix(&format!("{key} ")))
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(seq, (0..15).collect::<Vec<_>>(), "order of {key}");
    }
    // The last hook's line is written before the runner has reaped it and counted it.
    assert!(
        eventually(|| runner.stats().succeeded == 30).await,
        "succeeded: {}",
        runner.stats().succeeded
    );
    // Idle keys leave no worker behind.
    assert!(eventually(|| runner.busy_keys() == 0).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_objects_run_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let release = dir.path().join("release");
    let blocked = script(
        dir.path(),
        "blocked",
        &format!(
            "i=0; while [ ! -e {} ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; echo blocked >> {}",
            release.display(),
            out.display()
        ),
    );
    let free = script(
        dir.path(),
        "free",
        &format!("echo free >> {}", out.display()),
    );
    let runner = NotifyRunner::new(Duration::from_secs(30), 64, 16);
    runner
        .submit("vrrp/vi_1", job(&[blocked.to_str().unwrap()]))
        .unwrap();
    runner
        .submit("vrrp/vi_2", job(&[free.to_str().unwrap()]))
        .unwrap();
    assert!(
        eventually(|| lines(&out) == ["free"]).await,
        "{:?}",
        lines(&out)
    );
    std::fs::write(&release, "").unwrap();
    assert!(
        eventually(|| lines(&out) == ["free", "blocked"]).await,
        "{:?}",
        lines(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_kills_the_command_and_what_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let after = dir.path().join("after");
    let hung = script(
        dir.path(),
        "hung",
        &format!("sleep 60 & echo $! > {}; wait", pidfile.display()),
    );
    let next = script(
        dir.path(),
        "next",
        &format!("echo next > {}", after.display()),
    );
    let runner = NotifyRunner::new(Duration::from_millis(300), 64, 16);
    runner
        .submit("real/web/x", job(&[hung.to_str().unwrap()]))
        .unwrap();
    // Queued behind the hung command: runs once the timeout killed it.
    runner
        .submit("real/web/x", job(&[next.to_str().unwrap()]))
        .unwrap();
    assert!(eventually(|| after.exists()).await, "{:?}", runner.stats());
    assert_eq!(runner.stats().timed_out, 1);
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The background `sleep 60` was in the command's process group: it is gone (or a zombie
    // waiting for its reaper), not sleeping.
    let gone = eventually(|| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true)
    })
    .await;
    assert!(gone, "sleep {pid} survived the timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_instead_of_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let release = dir.path().join("release");
    let blocked = script(
        dir.path(),
        "blocked",
        &format!(
            "i=0; while [ ! -e {} ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done",
            release.display()
        ),
    );
    let runner = NotifyRunner::new(Duration::from_secs(30), 4, 2);
    let blocked = blocked.to_str().unwrap();
    let mut full = 0;
    for _ in 0..100 {
        match runner.submit("quorum/web", job(&[blocked])) {
            Ok(()) => {}
            Err(NotifyError::QueueFull { .. }) => full += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    // The first job runs (or is about to), 4 wait, the rest are dropped.
    assert!(full >= 100 - 5, "only {full} dropped");
    assert_eq!(runner.stats().dropped, full);
    runner.submit("k2", job(&[blocked])).unwrap();
    assert!(matches!(
        runner.submit("k3", job(&[blocked])),
        Err(NotifyError::TooManyKeys(2))
    ));
    assert_eq!(runner.submit("k4", job(&[])), Err(NotifyError::EmptyArgv));
    std::fs::write(&release, "").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emit_runs_real_server_and_quorum_hooks_with_their_environment() {
    let dir = tempfile::tempdir().unwrap();
    let hook = script(
        dir.path(),
        "hook",
        &format!(
            "env | grep '^TANDEM_' | sort > {}/$1.$TANDEM_STATE",
            dir.path().display()
        ),
    );
    let hook = hook.to_str().unwrap();
    let yaml = format!("notify:\n  real_server: [{hook}, real]\n  quorum: [{hook}, quorum]\n");
    let cfg: config::Alerts = serde_saphyr::from_str(&yaml).unwrap();
    let alerts = Alerts::new(&cfg, "dir1", Duration::from_secs(5), None).unwrap();
    alerts.emit(AlertEvent::RealServer {
        service: "web".into(),
        real: "10.77.1.11:80".into(),
        up: false,
        reason: "connect timeout".into(),
    });
    alerts.emit(AlertEvent::Quorum {
        service: "web".into(),
        has_quorum: false,
        up: 1,
        quorum: 2,
    });
    let real = dir.path().join("real.down");
    let quorum = dir.path().join("quorum.down");
    assert!(
        eventually(|| real.exists() && quorum.exists() && alerts.notify_stats().succeeded == 2)
            .await
    );
    assert_eq!(
        lines(&real),
        [
            "TANDEM_EVENT=real_server",
            "TANDEM_REAL=10.77.1.11:80",
            "TANDEM_REASON=connect timeout",
            "TANDEM_ROUTER_ID=dir1",
            "TANDEM_SERVICE=web",
            "TANDEM_STATE=down",
        ]
    );
    assert_eq!(
        lines(&quorum),
        [
            "TANDEM_EVENT=quorum",
            "TANDEM_QUORUM=2",
            "TANDEM_ROUTER_ID=dir1",
            "TANDEM_SERVICE=web",
            "TANDEM_STATE=down",
            "TANDEM_UP=1",
        ]
    );
    // VRRP notify commands (per-instance `notify.master` etc.) go through run_hook.
    alerts
        .run_hook(
            &[hook.to_string(), "vrrp".to_string()],
            &AlertEvent::VrrpTransition {
                instance: "vi_web".into(),
                vrid: 51,
                version: 3,
                from: "BACKUP".into(),
                to: "MASTER".into(),
                priority: 150,
                master_address: None,
                reason: "master_no_response".into(),
                if_index: 0,
            },
        )
        .unwrap();
    let vrrp = dir.path().join("vrrp.MASTER");
    assert!(eventually(|| alerts.notify_stats().succeeded == 3).await);
    let env = lines(&vrrp);
    for want in [
        "TANDEM_EVENT=vrrp_transition",
        "TANDEM_INSTANCE=vi_web",
        "TANDEM_FROM_STATE=BACKUP",
        "TANDEM_PRIORITY=150",
        "TANDEM_VRID=51",
    ] {
        assert!(env.iter().any(|l| l == want), "missing {want} in {env:?}");
    }
}
