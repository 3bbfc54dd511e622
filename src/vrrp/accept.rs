//! `accept_mode: false`: a master that does not own the virtual addresses does not accept
//! packets addressed to them (RFC 5798 §6.4.3, RFC 3768 §6.4.3), enforced with an nftables
//! rule while it is master.
//!
//! The rule lives in table `inet tandem_accept`, one base chain per instance (`vr<VRID>_<family>`
//! on the input hook at priority 200). IPVS takes the packets of its virtual services on the
//! same hook at priority 98 (`NF_IP_PRI_NAT_SRC - 2`), before this chain, so an LVS director
//! keeps balancing its services and only stops answering anything else on the VIPs (ping, ssh,
//! local daemons) — keepalived's `vrrp_strict` behaviour. Loopback traffic is left alone.
//!
//! Without `accept_mode: false` nothing here runs (the default accepts, like keepalived).
//! The chain is installed before the VIPs are added and removed after they are gone, and a
//! starting instance removes a chain a killed daemon left behind.

use std::net::IpAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::config::Cidr;

/// nftables table holding every instance's chain.
pub const TABLE: &str = "tandem_accept";
/// How long one `nft` run may take.
const NFT_TIMEOUT: Duration = Duration::from_secs(5);

/// The chain name of an instance: unique per VRID and family on the host.
pub fn chain_name(vrid: u8, ipv6: bool) -> String {
    format!("vr{vrid}_{}", if ipv6 { "v6" } else { "v4" })
}

/// The nft script that installs (`drop = true`) or removes the instance's chain. Both forms
/// succeed whatever exists already (`add` is idempotent, so `delete` always finds the chain).
pub fn script(vrid: u8, ipv6: bool, vips: &[Cidr], drop: bool) -> String {
    let chain = chain_name(vrid, ipv6);
    let mut s = format!(
        "add table inet {TABLE}\nadd chain inet {TABLE} {chain} {{ type filter hook input priority 200 ; policy accept ; }}\n"
    );
    if drop {
        s.push_str(&format!("flush chain inet {TABLE} {chain}\n"));
        let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) =
            vips.iter().map(|c| c.addr).partition(IpAddr::is_ipv4);
        for (family, addrs) in [("ip", v4), ("ip6", v6)] {
            if addrs.is_empty() {
                continue;
            }
            let list: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
            s.push_str(&format!(
                "add rule inet {TABLE} {chain} iifname != \"lo\" {family} daddr {{ {} }} counter drop\n",
                list.join(", ")
            ));
        }
    } else {
        s.push_str(&format!("delete chain inet {TABLE} {chain}\n"));
    }
    s
}

/// Runs `nft -f -` with `script`; the error says what failed and how to fix it.
pub async fn apply(script: &str) -> Result<(), String> {
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run nft (package nftables) for accept_mode: false: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(|e| format!("nft: {e}"))?;
    }
    let output = tokio::time::timeout(NFT_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| format!("nft did not finish within {NFT_TIMEOUT:?}"))?
        .map_err(|e| format!("nft: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        let (a, p) = s.split_once('/').unwrap_or((s, "32"));
        Cidr {
            addr: a.parse().unwrap(),
            prefix_len: p.parse().unwrap(),
        }
    }

    #[test]
    fn drop_script_lists_every_vip_of_its_family() {
        let s = script(
            51,
            false,
            &[cidr("10.0.0.100/24"), cidr("10.0.0.101/24")],
            true,
        );
        assert_eq!(
            s,
            "add table inet tandem_accept\n\
             add chain inet tandem_accept vr51_v4 { type filter hook input priority 200 ; policy accept ; }\n\
             flush chain inet tandem_accept vr51_v4\n\
             add rule inet tandem_accept vr51_v4 iifname != \"lo\" ip daddr { 10.0.0.100, 10.0.0.101 } counter drop\n"
        );
        let s = script(7, true, &[cidr("fd00::7/64")], true);
        assert!(s.contains("ip6 daddr { fd00::7 } counter drop"), "{s}");
        assert!(s.contains(" vr7_v6 "), "{s}");
    }

    #[test]
    fn remove_script_always_succeeds() {
        let s = script(51, false, &[cidr("10.0.0.100/24")], false);
        assert_eq!(
            s,
            "add table inet tandem_accept\n\
             add chain inet tandem_accept vr51_v4 { type filter hook input priority 200 ; policy accept ; }\n\
             delete chain inet tandem_accept vr51_v4\n"
        );
    }
}
