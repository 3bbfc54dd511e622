#![allow(clippy::expect_used, clippy::unwrap_used)]
//! The `alerts:` section as operators write it: defaults, and every range rule reported with
//! its file:line:column.

use std::time::Duration;

use tandem::config;

fn errors(yaml: &str) -> String {
    match config::parse("t.yaml", yaml) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn full_section_parses_with_defaults() {
    let c = config::parse(
        "t.yaml",
        "alerts:\n  snmp:\n    targets:\n      - address: 127.0.0.1\n      - address: '[::1]:1162'\n        community: ops\n        inform: true\n        retries: 5\n        timeout: 250ms\n  notify:\n    real_server: [/usr/local/bin/rs-changed, --json]\n",
    )
    .unwrap();
    let snmp = &c.alerts.snmp;
    assert_eq!(snmp.queue, 256);
    let t0 = &snmp.targets[0];
    assert_eq!(t0.address.to_string(), "127.0.0.1");
    assert_eq!(t0.address.port, None, "port 162 is applied by the sink");
    assert_eq!(
        (
            t0.community.as_str(),
            t0.inform,
            t0.retries,
            t0.timeout.get()
        ),
        ("public", false, 3, Duration::from_secs(1))
    );
    let t1 = &snmp.targets[1];
    assert_eq!(t1.address.port, Some(1162));
    assert_eq!(
        (
            t1.community.as_str(),
            t1.inform,
            t1.retries,
            t1.timeout.get()
        ),
        ("ops", true, 5, Duration::from_millis(250))
    );
    assert_eq!(
        c.alerts.notify.real_server.as_deref(),
        Some(
            &[
                "/usr/local/bin/rs-changed".to_string(),
                "--json".to_string()
            ][..]
        )
    );
    assert_eq!(c.alerts.notify.quorum, None);
}

#[test]
fn bad_values_are_located_errors() {
    for (yaml, want) in [
        (
            "alerts:\n  snmp:\n    targets:\n      - address: 127.0.0.1\n        community: ''\n",
            "community",
        ),
        (
            "alerts:\n  snmp:\n    targets:\n      - address: 127.0.0.1\n        retries: 11\n",
            "retries",
        ),
        (
            "alerts:\n  snmp:\n    targets:\n      - address: 127.0.0.1\n        timeout: 5ms\n",
            "t.yaml:5:18: alerts.snmp.targets[0].timeout: timeout 5ms out of range 10ms..60s",
        ),
        ("alerts:\n  snmp:\n    queue: 0\n", "queue"),
        ("alerts:\n  notify:\n    quorum: []\n", "quorum"),
        (
            "alerts:\n  snmp:\n    targets:\n      - address: 127.0.0.1:0\n",
            "port 0",
        ),
        (
            "alerts:\n  snmp:\n    targets:\n      - address: 127.0.0.1\n        trap: true\n",
            "trap",
        ),
    ] {
        let e = errors(yaml);
        assert!(e.contains("t.yaml:"), "no location in {e:?} for\n{yaml}");
        assert!(
            e.contains(want),
            "{e:?} does not mention {want} for\n{yaml}"
        );
    }
}
