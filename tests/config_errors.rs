#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly
//! Every validation rule has a bad configuration in tests/config/bad/ whose trailing
//! `# expect: LINE:COL: message` comments list exactly the errors `tandem check` must report,
//! in order. Comments at the end keep the line numbers of the YAML above them honest.

use std::path::Path;

fn expectations(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_bad_config_reports_exactly_its_located_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/config/bad exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 35,
        "expected the whole corpus, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable");
        let expected = expectations(&text);
        assert!(
            !expected.is_empty(),
            "{} has no # expect: line",
            path.display()
        );
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let got: Vec<String> = match tandem::config::parse(&name, &text) {
            Ok(_) => vec!["<accepted>".to_string()],
            Err(errors) => errors
                .iter()
                .map(|e| {
                    let line = e.to_string();
                    line.strip_prefix(&format!("{name}:"))
                        .unwrap_or(&line)
                        .to_string()
                })
                .collect(),
        };
        if got != expected {
            failures.push(format!(
                "{name}:\n  expected: {expected:#?}\n  got:      {got:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_carry_file_line_and_column() {
    let err = tandem::config::parse("dir1.yaml", "vrrp_instances:\n  - name: a\n    interface: eth0\n    vrid: 0\n    virtual_addresses: [10.0.0.1]\n")
        .expect_err("vrid 0 is invalid");
    assert_eq!(
        err.to_string(),
        "dir1.yaml:4:11: vrrp_instances[0].vrid: must be at least 1"
    );
}

#[test]
fn a_reload_that_only_moves_values_is_no_change() {
    let a = "virtual_servers:\n  - name: web\n    address: 10.0.0.1\n    port: 80\n";
    let b = "\n\nvirtual_servers:\n  - { name: web, address: 10.0.0.1, port: 80 }\n";
    let a = tandem::config::parse("a", a).expect("valid");
    let b = tandem::config::parse("b", b).expect("valid");
    assert_eq!(a, b);
}
