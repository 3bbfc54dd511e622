#![allow(clippy::expect_used, clippy::unwrap_used)]
//! The HTTP endpoint on a loopback port: `/metrics` carries every metric family, `/status` is
//! the JSON of `tandem status --json`, `/healthz` answers.

use std::sync::Arc;
use std::time::Duration;

use tandem::director::status::{Status, VrrpInstanceStatus};
use tandem::http;
use tandem::metrics::{Metrics, VrrpStateValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 GET with `Connection: close`; returns (status line, body).
async fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut stream =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

fn sample_status() -> Status {
    Status {
        router_id: "dir1".into(),
        config_file: "/etc/tandem/tandem.yaml".into(),
        dataplane: "none".into(),
        vrrp_instances: vec![VrrpInstanceStatus {
            name: "vi_web".into(),
            vrid: 51,
            version: 3,
            state: "MASTER".into(),
            priority: 150,
            effective_priority: 150,
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_metrics_status_and_healthz_on_loopback() {
    let metrics = Metrics::new();
    metrics.vrrp_transition("vi_web", VrrpStateValue::Master);
    metrics.vrrp_advert_sent("vi_web");
    metrics.vrrp_advert_received("vi_web");
    metrics.vrrp_packet_dropped("vi_web", "checksum");
    metrics.set_real_server_up("web", "10.77.1.11:80", true);
    metrics.check_result("http", "web", "10.77.1.11:80", 0.004, Some("timeout"));
    metrics.ipvs_operation("add_real", true);
    metrics.config_reload(true);
    metrics.alert_dropped("snmp:127.0.0.1:162");

    let listener = http::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let provider: Arc<dyn http::StatusProvider> = Arc::new(|| async { sample_status() });
    let server = tokio::spawn(http::serve(listener, metrics.clone(), provider, async {
        let _ = stopped.await;
    }));

    let (line, body) = get(addr, "/metrics").await;
    assert!(line.contains("200"), "{line}");
    for family in [
        "tandem_vrrp_state{instance=\"vi_web\"} 2",
        "tandem_vrrp_is_master{instance=\"vi_web\"} 1",
        "tandem_vrrp_transitions_total{instance=\"vi_web\",to=\"MASTER\"} 1",
        "tandem_vrrp_adverts_sent_total{instance=\"vi_web\"} 1",
        "tandem_vrrp_adverts_received_total{instance=\"vi_web\"} 1",
        "tandem_vrrp_packets_dropped_total{instance=\"vi_web\",reason=\"checksum\"} 1",
        "tandem_real_server_up{service=\"web\",real=\"10.77.1.11:80\"} 1",
        "tandem_check_duration_seconds_count{kind=\"http\"} 1",
        "tandem_check_failures_total{service=\"web\",real=\"10.77.1.11:80\",reason=\"timeout\"} 1",
        "tandem_ipvs_operations_total{op=\"add_real\",result=\"ok\"} 1",
        "tandem_config_reloads_total{result=\"ok\"} 1",
        "tandem_alerts_dropped_total{sink=\"snmp:127.0.0.1:162\"} 1",
    ] {
        assert!(body.contains(family), "missing {family} in\n{body}");
    }

    let (line, body) = get(addr, "/status").await;
    assert!(line.contains("200"), "{line}");
    // Exactly what `tandem status --json` prints (the control socket's compact serde JSON).
    assert_eq!(body, serde_json::to_string(&sample_status()).unwrap());
    let back: Status = serde_json::from_str(&body).unwrap();
    assert_eq!(back, sample_status());

    let (line, body) = get(addr, "/healthz").await;
    assert!(line.contains("200"), "{line}");
    assert_eq!(body, "ok\n");

    let (line, _) = get(addr, "/nope").await;
    assert!(line.contains("404"), "{line}");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn binding_a_used_port_is_a_clear_error() {
    let first = http::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = first.local_addr().unwrap();
    let err = http::bind(addr).await.unwrap_err().to_string();
    assert!(
        err.contains("global.http_listen") && err.contains(&addr.to_string()),
        "{err}"
    );
}
