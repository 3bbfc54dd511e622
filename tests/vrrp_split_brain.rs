#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly
//! Split brain and its healing. All hosts share one bridge, so "the directors' link" is cut by
//! dropping VRRP (IP protocol 112) in and out of dir2 with nftables: dir2 stops hearing dir1
//! and becomes master too; the client follows dir2's gratuitous ARP. When the rule goes, dir2
//! yields and exactly one master (dir1) remains; the client must reach the VIP on dir1 again
//! at once, which needs dir1 to re-send gratuitous ARP (keepalived does not: its clients keep
//! sending to the loser, which dropped the VIP, until their neighbour entry expires).

#[path = "vrrp_support.rs"]
mod support;

use std::time::Duration;

use support::*;
use tandem::lab::{DirectorLab, VIP4, VIP6};

const VI: &str = "VI_1";
const FEW: Duration = Duration::from_secs(5);
/// Well below the client's neighbour reachable time (15–45 s): only gratuitous ARP/NA moves
/// the client this fast.
const HEAL: Duration = Duration::from_secs(3);

fn nft(lab: &DirectorLab, i: usize, script: &str) {
    tandem_testlab::require_tool("nft", "nftables");
    lab.directors[i]
        .host
        .exec(&["nft", script])
        .unwrap_or_else(|e| panic!("nft {script}: {e}"));
}

fn isolate_vrrp(lab: &DirectorLab, i: usize) {
    nft(lab, i, "add table inet vrrpcut");
    for hook in ["input", "output"] {
        nft(
            lab,
            i,
            &format!("add chain inet vrrpcut {hook} {{ type filter hook {hook} priority 0 ; }}"),
        );
        nft(
            lab,
            i,
            &format!("add rule inet vrrpcut {hook} meta l4proto 112 drop"),
        );
    }
}

fn split_and_heal(ipv6: bool, vip: &str, cidr: &str) {
    let mut lab = build(
        if ipv6 { "vrrp-sb6" } else { "vrrp-sb" },
        &["dir1", "dir2"],
        ipv6,
    );
    let vips = [cidr];
    let inst = |priority| Instance {
        vips: &vips,
        ..Instance::v3(priority)
    };
    lab.start(0, &config(&[inst(150)])).unwrap();
    lab.start(1, &config(&[inst(100)])).unwrap();
    expect_state(&lab, 0, VI, "MASTER", FEW);
    expect_state(&lab, 1, VI, "BACKUP", FEW);
    let _responders = responders(&lab, vip);
    let prober = prober(&lab, vip);
    expect_answers_from(&prober, "dir1", FEW);

    // Split: both masters; the client follows the newer gratuitous ARP/NA (dir2's).
    isolate_vrrp(&lab, 1);
    expect_state(&lab, 1, VI, "MASTER", FEW);
    assert_eq!(
        lab.state(0, VI).as_deref(),
        Some("MASTER"),
        "dir1 stays master"
    );
    assert!(lab.has_address(0, vip).unwrap() && lab.has_address(1, vip).unwrap());
    expect_answers_from(&prober, "dir2", FEW);
    expect_client_neighbour(&lab, vip, 1, FEW);
    // Let the split last a while (dir1's own gratuitous bursts are long over).
    std::thread::sleep(Duration::from_millis(1500));
    expect_answers_from(&prober, "dir2", Duration::ZERO);

    // Heal: one master within a few Master_Down_Intervals, and the client back on it.
    nft(&lab, 1, "delete table inet vrrpcut");
    expect_state(&lab, 1, VI, "BACKUP", FEW);
    expect_only_master(&lab, 0, VI, vip);
    expect_client_neighbour(&lab, vip, 0, HEAL);
    expect_answers_from(&prober, "dir1", HEAL);
    // And it stays that way.
    std::thread::sleep(Duration::from_millis(1000));
    expect_only_master(&lab, 0, VI, vip);
    expect_answers_from(&prober, "dir1", Duration::ZERO);
}

#[test]
fn split_brain_heals_to_one_master_and_client_follows_ipv4() {
    split_and_heal(false, VIP4, "10.77.0.100/24");
}

#[test]
fn split_brain_heals_to_one_master_and_client_follows_ipv6() {
    split_and_heal(true, VIP6, "fd77::100/64");
}
