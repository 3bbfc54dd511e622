#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly
//! Health checks through the whole daemon: real servers (python's http.server, a real HTTP
//! server) in lab namespaces, `tandem run` on a director, and what an operator sees in
//! `tandem status`: real-server transitions with reasons, quorum, and a tracked service
//! lowering the VRRP priority. A reload that changes one check leaves the others alone.

use std::time::Duration;

use tandem::lab::DirectorLab;
use tandem_testlab::{require_root, require_tool, wait_until};

fn config(api_interval: &str) -> String {
    format!(
        "vrrp_instances:
  - name: VI_1
    interface: eth0
    vrid: 61
    priority: 150
    advert_interval: 100ms
    virtual_addresses: [10.77.0.100/24]
    track_services: [{{ name: web, weight: -60 }}]
virtual_servers:
  - name: web
    address: 10.77.0.100
    port: 80
    quorum: 2
    check: {{ type: http, path: /, interval: 200ms, timeout: 150ms, rise: 1, fall: 2 }}
    real_servers:
      - {{ address: 10.77.0.11 }}
      - {{ address: 10.77.0.12 }}
  - name: api
    address: 10.77.0.100
    port: 8080
    check: {{ type: tcp, interval: {api_interval}, timeout: 150ms, rise: 1, fall: 1 }}
    real_servers:
      - {{ address: 10.77.0.11, port: 80 }}
dataplane: none
"
    )
}

fn real<'a>(
    status: &'a tandem::director::status::Status,
    service: &str,
    addr: &str,
) -> &'a tandem::director::status::RealServerStatus {
    status
        .virtual_servers
        .iter()
        .find(|v| v.name == service)
        .and_then(|v| v.real_servers.iter().find(|r| r.address == addr))
        .unwrap_or_else(|| panic!("{service}/{addr} missing from status"))
}

#[test]
fn real_server_failure_loses_quorum_lowers_priority_and_recovers() {
    require_root();
    let python = require_tool("python3", "python3");
    let tandem = std::path::PathBuf::from(env!("CARGO_BIN_EXE_tandem"));
    let mut lab = DirectorLab::build("health", &["dir1"], 2, false, &tandem).unwrap();
    let python = python.to_string_lossy().into_owned();
    let serve = |lab: &DirectorLab, i: usize| {
        let addr = format!("10.77.0.{}", 11 + i);
        lab.lab
            .spawn(
                &lab.reals[i],
                &[&python, "-m", "http.server", "80", "--bind", &addr],
                None,
            )
            .unwrap()
    };
    let _server1 = serve(&lab, 0);
    let server2 = serve(&lab, 1);
    lab.start(0, &config("200ms")).unwrap();
    lab.wait_state(0, "VI_1", "MASTER", Duration::from_secs(10))
        .unwrap();

    let healthy = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        lab.status(0).is_ok_and(|s| {
            s.virtual_servers.iter().all(|v| v.has_quorum)
                && s.vrrp_instances[0].effective_priority == 150
        })
    });
    let status = lab.status(0).unwrap();
    assert!(healthy, "services never became healthy: {status:#?}");
    assert_eq!(real(&status, "web", "10.77.0.12").state, "up");
    assert_eq!(
        real(&status, "web", "10.77.0.12").last_result.as_deref(),
        Some("up")
    );

    // Real server 2 dies: after `fall` failures it is down with a reason, web loses its quorum
    // of 2 and the tracking instance drops to 150 - 60.
    lab.lab.kill(server2).unwrap();
    let degraded = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        lab.status(0)
            .is_ok_and(|s| s.vrrp_instances[0].effective_priority == 90)
    });
    let status = lab.status(0).unwrap();
    assert!(degraded, "tracking did not lower the priority: {status:#?}");
    let down = real(&status, "web", "10.77.0.12");
    assert_eq!(down.state, "down");
    assert_eq!(down.effective_weight, 0);
    assert!(
        down.reason.as_deref().unwrap_or("").contains("refused"),
        "reason: {:?}",
        down.reason
    );
    let web = status
        .virtual_servers
        .iter()
        .find(|v| v.name == "web")
        .unwrap();
    assert!(!web.has_quorum);
    assert_eq!(web.up_real_servers, 1);
    assert_eq!(real(&status, "web", "10.77.0.11").state, "up");
    let log = std::fs::read_to_string(&lab.directors[0].log).unwrap();
    assert!(
        log.contains("event=\"real_server\" service=web real=10.77.0.12:80 state=\"down\""),
        "{log}"
    );
    assert!(
        log.contains("event=\"quorum\" service=web state=\"down\""),
        "{log}"
    );

    // A reload that changes only api's check: web's real servers keep their state (no
    // re-flap through "waiting for first checks"), the reload is applied.
    let transitions_before = log.matches("event=\"real_server\"").count();
    let config_path = lab.directors[0].config.clone();
    let text = std::fs::read_to_string(&config_path).unwrap().replace(
        "interval: 200ms, timeout: 150ms, rise: 1, fall: 1",
        "interval: 300ms, timeout: 150ms, rise: 1, fall: 1",
    );
    std::fs::write(&config_path, text).unwrap();
    lab.signal(0, "HUP").unwrap();
    assert!(wait_until(
        Duration::from_secs(5),
        Duration::from_millis(20),
        || { lab.status(0).is_ok_and(|s| s.reloads_ok == 1) }
    ));
    std::thread::sleep(Duration::from_millis(500));
    let status = lab.status(0).unwrap();
    assert_eq!(real(&status, "web", "10.77.0.11").state, "up");
    assert_eq!(real(&status, "web", "10.77.0.12").state, "down");
    assert_eq!(status.vrrp_instances[0].effective_priority, 90);
    let log = std::fs::read_to_string(&lab.directors[0].log).unwrap();
    let web_flaps = log
        .lines()
        .skip_while(|l| !l.contains("configuration reloaded"))
        .filter(|l| l.contains("event=\"real_server\" service=web"))
        .count();
    assert_eq!(web_flaps, 0, "web's checks flapped on reload:\n{log}");
    assert!(log.matches("event=\"real_server\"").count() >= transitions_before);

    // The server comes back: up again, quorum regained, priority restored.
    let _server2 = serve(&lab, 1);
    let recovered = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        lab.status(0)
            .is_ok_and(|s| s.vrrp_instances[0].effective_priority == 150)
    });
    let status = lab.status(0).unwrap();
    assert!(recovered, "did not recover: {status:#?}");
    assert_eq!(real(&status, "web", "10.77.0.12").state, "up");
    assert!(status.virtual_servers.iter().all(|v| v.has_quorum));
    lab.signal(0, "TERM").unwrap();
}
