#![allow(clippy::expect_used, clippy::unwrap_used)]
//! `conf/TANDEM-MIB.txt` is valid SMIv2 (libsmi's `smilint`) and its OIDs are the ones the
//! daemon sends.
//!
//! Debian strips the IETF base modules (SNMPv2-SMI, -TC, -CONF) from libsmi and net-snmp as
//! non-free, and without them smilint silently treats the module as SMIv1 and checks nothing.
//! The test therefore writes minimal stand-ins declaring just the names TANDEM-MIB imports
//! (OID roots, application types, the macro names, DisplayString), so that smilint parses the
//! module as SMIv2 and applies every SMIv2 rule to it.

use std::path::{Path, PathBuf};
use std::process::Command;

use tandem::alerts::snmp::{oids, tandem_notification, tandem_object};
use tandem_testlab::require_tool;

const SNMPV2_SMI: &str = r#"SNMPv2-SMI DEFINITIONS ::= BEGIN
org          OBJECT IDENTIFIER ::= { iso 3 }
dod          OBJECT IDENTIFIER ::= { org 6 }
internet     OBJECT IDENTIFIER ::= { dod 1 }
mgmt         OBJECT IDENTIFIER ::= { internet 2 }
mib-2        OBJECT IDENTIFIER ::= { mgmt 1 }
private      OBJECT IDENTIFIER ::= { internet 4 }
enterprises  OBJECT IDENTIFIER ::= { private 1 }
MODULE-IDENTITY MACRO ::= BEGIN END
OBJECT-IDENTITY MACRO ::= BEGIN END
OBJECT-TYPE MACRO ::= BEGIN END
NOTIFICATION-TYPE MACRO ::= BEGIN END
Integer32 ::= INTEGER (-2147483648..2147483647)
IpAddress ::= [APPLICATION 0] IMPLICIT OCTET STRING (SIZE (4))
Counter32 ::= [APPLICATION 1] IMPLICIT INTEGER (0..4294967295)
Gauge32 ::= [APPLICATION 2] IMPLICIT INTEGER (0..4294967295)
Unsigned32 ::= [APPLICATION 2] IMPLICIT INTEGER (0..4294967295)
TimeTicks ::= [APPLICATION 3] IMPLICIT INTEGER (0..4294967295)
Counter64 ::= [APPLICATION 6] IMPLICIT INTEGER (0..18446744073709551615)
END
"#;

const SNMPV2_TC: &str = r#"SNMPv2-TC DEFINITIONS ::= BEGIN
TEXTUAL-CONVENTION MACRO ::= BEGIN END
DisplayString ::= TEXTUAL-CONVENTION
    DISPLAY-HINT "255a"
    STATUS       current
    DESCRIPTION  "Printable text, at most 255 octets."
    SYNTAX       OCTET STRING (SIZE (0..255))
END
"#;

const SNMPV2_CONF: &str = r#"SNMPv2-CONF DEFINITIONS ::= BEGIN
OBJECT-GROUP MACRO ::= BEGIN END
NOTIFICATION-GROUP MACRO ::= BEGIN END
MODULE-COMPLIANCE MACRO ::= BEGIN END
END
"#;

fn mib() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/TANDEM-MIB.txt")
}

fn base_modules() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("SNMPv2-SMI", SNMPV2_SMI),
        ("SNMPv2-TC", SNMPV2_TC),
        ("SNMPv2-CONF", SNMPV2_CONF),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn smi(tool: &str, args: &[&str], path: &Path) -> (String, String) {
    require_tool(tool, "smitools");
    let out = Command::new(tool)
        .args(args)
        .arg(mib())
        .env("SMIPATH", path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn tandem_mib_passes_smilint() {
    let base = base_modules();
    // smilint exits 0 even when it reports errors: the verdict is its output.
    let (stdout, stderr) = smi("smilint", &["-l", "6"], base.path());
    assert!(
        stdout.trim().is_empty() && stderr.trim().is_empty(),
        "smilint -l 6 found problems in conf/TANDEM-MIB.txt:\n{stdout}{stderr}"
    );
}

#[test]
fn smilint_catches_a_broken_module() {
    // Guards the test above: with the stand-ins in place smilint really checks SMIv2 rules.
    let base = base_modules();
    let broken = base.path().join("BROKEN-MIB.txt");
    let text = std::fs::read_to_string(mib())
        .unwrap()
        .replace("TANDEM-MIB DEFINITIONS", "BROKEN-MIB DEFINITIONS")
        .replace("{ tandemNotifyObjects 14 }", "{ tandemNotifyObjects 13 }");
    std::fs::write(&broken, text).unwrap();
    let out = Command::new("smilint")
        .args(["-l", "3"])
        .arg(&broken)
        .env("SMIPATH", base.path())
        .output()
        .unwrap();
    let report =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("already registered"), "{report}");
}

#[test]
fn mib_oids_match_what_the_daemon_sends() {
    let base = base_modules();
    let (ids, stderr) = smi("smidump", &["-f", "identifiers"], base.path());
    assert!(stderr.trim().is_empty(), "{stderr}");
    let oid_of = |name: &str| -> String {
        ids.lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .and_then(|l| l.split_whitespace().nth(3))
            .unwrap_or_else(|| panic!("{name} not in smidump output:\n{ids}"))
            .to_string()
    };
    let root = oids::TANDEM_MIB;
    assert_eq!(oid_of("tandemMIB"), root);
    for (name, n) in [
        (
            "tandemInstanceStateChange",
            tandem_notification::INSTANCE_STATE_CHANGE,
        ),
        ("tandemRealServerUp", tandem_notification::REAL_SERVER_UP),
        (
            "tandemRealServerDown",
            tandem_notification::REAL_SERVER_DOWN,
        ),
        ("tandemQuorumLost", tandem_notification::QUORUM_LOST),
        ("tandemQuorumRegained", tandem_notification::QUORUM_REGAINED),
        ("tandemConfigReload", tandem_notification::CONFIG_RELOAD),
        ("tandemDataplaneError", tandem_notification::DATAPLANE_ERROR),
    ] {
        assert_eq!(oid_of(name), format!("{root}.0.{n}"), "{name}");
    }
    for (name, n) in [
        ("tandemRouterId", tandem_object::ROUTER_ID),
        ("tandemInstanceName", tandem_object::INSTANCE_NAME),
        ("tandemInstanceVrid", tandem_object::INSTANCE_VRID),
        ("tandemInstanceOldState", tandem_object::INSTANCE_OLD_STATE),
        ("tandemInstanceNewState", tandem_object::INSTANCE_NEW_STATE),
        ("tandemInstancePriority", tandem_object::INSTANCE_PRIORITY),
        ("tandemServiceName", tandem_object::SERVICE_NAME),
        ("tandemRealServer", tandem_object::REAL_SERVER),
        ("tandemReason", tandem_object::REASON),
        ("tandemQuorumUp", tandem_object::QUORUM_UP),
        ("tandemQuorum", tandem_object::QUORUM),
        ("tandemReloadResult", tandem_object::RELOAD_RESULT),
        ("tandemReloadErrors", tandem_object::RELOAD_ERRORS),
        (
            "tandemDataplaneOperation",
            tandem_object::DATAPLANE_OPERATION,
        ),
    ] {
        assert_eq!(oid_of(name), format!("{root}.1.1.{n}"), "{name}");
    }
}
