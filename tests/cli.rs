#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly
//! The `tandem` command as operators run it: `check`, `schema`, the shipped examples.

use std::path::{Path, PathBuf};
use std::process::Command;

fn tandem() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn check_prints_a_one_line_summary_and_exits_zero() {
    let out = tandem()
        .args(["check", "-c"])
        .arg(repo("conf/example.yaml"))
        .output()
        .expect("tandem runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "configuration OK: 1 vrrp instances, 1 virtual servers, 3 real servers\n"
    );
}

#[test]
fn check_reports_every_error_with_file_line_column_and_exits_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "vrrp_instances:\n  - name: VI_1\n    interface: eth0\n    vrid: 300\n    priority: 0\n    advert_interval: 15ms\n    virtual_addresses: [10.0.0.1/24]\n    track_services: [{ name: nope }]\n",
    )
    .expect("write");
    let out = tandem()
        .args(["check", "-c"])
        .arg(&path)
        .output()
        .expect("tandem runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let p = path.display();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        vec![
            format!("{p}:4:11: vrrp_instances[0].vrid: must be at most 255").as_str(),
            format!("{p}:5:15: vrrp_instances[0].priority: must be at least 1").as_str(),
            format!("{p}:6:22: advert_interval 15ms is invalid for VRRP version 3: 10ms to 40.95s in 10ms steps (RFC 5798 §5.2.7)").as_str(),
            format!("{p}:8:30: track_services: no virtual server named \"nope\"").as_str(),
            format!("{p}: 4 errors found").as_str(),
        ]
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn check_of_a_missing_file_fails_clearly() {
    let out = tandem()
        .args(["check", "-c", "/nonexistent/tandem.yaml"])
        .output()
        .expect("tandem runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("/nonexistent/tandem.yaml: cannot read:")
    );
}

#[test]
fn every_shipped_example_passes_check() {
    let mut files = vec![repo("conf/example.yaml")];
    for entry in std::fs::read_dir(repo("conf/examples")).expect("conf/examples") {
        files.push(entry.expect("entry").path());
    }
    assert!(files.len() >= 5);
    for file in files {
        let out = tandem()
            .args(["check", "-c"])
            .arg(&file)
            .output()
            .expect("tandem runs");
        assert!(
            out.status.success(),
            "{} fails check: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn published_json_schema_is_up_to_date() {
    let out = tandem().arg("schema").output().expect("tandem runs");
    assert!(out.status.success());
    let published = std::fs::read_to_string(repo("conf/tandem.schema.json")).expect("schema file");
    assert!(
        published == String::from_utf8_lossy(&out.stdout),
        "conf/tandem.schema.json is stale: run `cargo run -- schema > conf/tandem.schema.json`"
    );
    // It is a real schema of the real types: spot-check a documented field.
    let schema: serde_json::Value = serde_json::from_str(&published).expect("valid JSON");
    let vrid = &schema["$defs"]["VrrpInstance"]["properties"]["vrid"];
    assert_eq!(vrid["minimum"], 1, "{vrid}");
    assert_eq!(vrid["maximum"], 255, "{vrid}");
    assert!(
        vrid["description"]
            .as_str()
            .unwrap_or("")
            .contains("Virtual router id")
    );
}

#[test]
fn version_flag_prints_the_version() {
    let out = tandem().arg("--version").output().expect("tandem runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("tandem {}", env!("CARGO_PKG_VERSION"))
    );
}
