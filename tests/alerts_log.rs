#![allow(clippy::expect_used, clippy::unwrap_used)]
//! Log alerts: one structured event per transition with the stable field names of
//! docs/alerts.md, captured as JSON the way the daemon logs off systemd.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tandem::alerts::{AlertEvent, Alerts};
use tandem::config;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn each_transition_is_one_structured_event_with_stable_fields() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        rt.block_on(async {
            let alerts = Alerts::new(
                &config::Alerts::default(),
                "dir1",
                std::time::Duration::from_secs(1),
                None,
            )
            .unwrap();
            alerts.emit(AlertEvent::VrrpTransition {
                instance: "vi_web".into(),
                vrid: 51,
                version: 3,
                from: "BACKUP".into(),
                to: "MASTER".into(),
                priority: 150,
                master_address: Some("10.77.0.2".parse().unwrap()),
                reason: "master_no_response".into(),
                if_index: 4,
            });
            alerts.emit(AlertEvent::RealServer {
                service: "web".into(),
                real: "10.77.1.11:80".into(),
                up: false,
                reason: "connect timeout".into(),
            });
            alerts.emit(AlertEvent::Quorum {
                service: "web".into(),
                has_quorum: false,
                up: 0,
                quorum: 1,
            });
            alerts.emit(AlertEvent::ConfigReload {
                ok: true,
                errors: 0,
            });
            alerts.emit(AlertEvent::Dataplane {
                operation: "add_real".into(),
                error: "File exists".into(),
            });
        })
    });
    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 5, "{text}");
    let f = |i: usize, k: &str| events[i]["fields"][k].clone();
    assert_eq!(f(0, "event"), "vrrp_transition");
    assert_eq!(f(0, "instance"), "vi_web");
    assert_eq!(f(0, "vrid"), 51);
    assert_eq!(f(0, "version"), 3);
    assert_eq!(f(0, "from"), "BACKUP");
    assert_eq!(f(0, "to"), "MASTER");
    assert_eq!(f(0, "priority"), 150);
    assert_eq!(f(0, "master"), "10.77.0.2");
    assert_eq!(f(0, "reason"), "master_no_response");
    assert_eq!(events[0]["level"], "INFO");
    assert_eq!(f(1, "event"), "real_server");
    assert_eq!(f(1, "service"), "web");
    assert_eq!(f(1, "real"), "10.77.1.11:80");
    assert_eq!(f(1, "state"), "down");
    assert_eq!(f(1, "reason"), "connect timeout");
    assert_eq!(events[1]["level"], "WARN");
    assert_eq!(f(2, "event"), "quorum");
    assert_eq!(f(2, "state"), "down");
    assert_eq!(f(2, "up"), 0);
    assert_eq!(f(2, "quorum"), 1);
    assert_eq!(f(3, "event"), "config_reload");
    assert_eq!(f(3, "result"), "ok");
    assert_eq!(f(4, "event"), "dataplane");
    assert_eq!(f(4, "operation"), "add_real");
    assert_eq!(f(4, "reason"), "File exists");
}
