//! Captures real kernel reply bytes into `ipvs/tests/fixtures/*.bin` for the host codec
//! tests. Runs only inside the IPVS VM:
//!
//!     dev/ipvs-vm/capture-fixtures.sh
//!
//! The table is set up with `ipvsadm` (the independent peer), then read back with this
//! crate's client; each file holds the raw datagrams of one exchange, concatenated.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use tandem_ipvs::message::{IpvsAttr, IpvsCmd, IpvsMessage};
use tandem_ipvs::{IpFamily, IpvsClient, ServiceKey};

fn sh(script: &str) -> Result<(), String> {
    let status = Command::new("bash")
        .args(["-euxc", script])
        .status()
        .map_err(|e| format!("bash: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("setup failed: {status}"))
}

fn run() -> Result<(), String> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: capture_fixtures <dir>")?,
    );
    sh("ipvsadm -C
        ip link add cap0 type veth peer name cap1
        ip link set cap0 up; ip link set cap1 up
        ip addr add 10.2.0.1/24 dev dummy0; ip link set dummy0 up
        ipvsadm -A -t 10.0.0.1:80 -s wrr
        ipvsadm -a -t 10.0.0.1:80 -r 192.168.1.10:8080 -m -w 3
        ipvsadm -a -t 10.0.0.1:80 -r 192.168.1.11:8080 -m -w 0 -x 100 -y 10
        ipvsadm -a -t 10.0.0.1:80 -r 10.2.0.5:80 -g -w 7
        ipvsadm -A -u [2001:db8::1]:53 -s sh -b sh-port,sh-fallback
        ipvsadm -a -u [2001:db8::1]:53 -r [2001:db8::10]:53 -m -w 2
        ipvsadm -A -f 42 -s rr -p 300 -M 255.255.255.0
        ipvsadm -a -f 42 -r 10.1.0.5:0 -i --tun-type gue --tun-port 6080 --tun-csum -w 1
        ipvsadm -a -f 42 -r 10.1.0.6:0 -i -w 1
        ipvsadm --set 900 120 300
        ipvsadm --start-daemon master --mcast-interface cap0 --syncid 7
        ipvsadm --start-daemon backup --mcast-interface cap1 --syncid 7")?;
    let mut client = IpvsClient::connect().map_err(|e| e.to_string())?;
    let svc = |key: ServiceKey| vec![IpvsAttr::Service(key.to_attrs())];
    let v4 = ServiceKey::tcp([10, 0, 0, 1].into(), 80);
    let v6 = ServiceKey::udp("2001:db8::1".parse().map_err(|e| format!("{e}"))?, 53);
    let fw = ServiceKey::fwmark(IpFamily::V4, 42);
    let captures = [
        (
            "get_info",
            IpvsMessage::new(IpvsCmd::GetInfo, vec![]),
            false,
        ),
        (
            "get_config",
            IpvsMessage::new(IpvsCmd::GetConfig, vec![]),
            false,
        ),
        (
            "get_service_dump",
            IpvsMessage::new(IpvsCmd::GetService, vec![]),
            true,
        ),
        (
            "get_service_v4",
            IpvsMessage::new(IpvsCmd::GetService, svc(v4)),
            false,
        ),
        (
            "get_dest_dump_v4",
            IpvsMessage::new(IpvsCmd::GetDest, svc(v4)),
            true,
        ),
        (
            "get_dest_dump_v6",
            IpvsMessage::new(IpvsCmd::GetDest, svc(v6)),
            true,
        ),
        (
            "get_dest_dump_fwmark",
            IpvsMessage::new(IpvsCmd::GetDest, svc(fw)),
            true,
        ),
        (
            "get_daemon_dump",
            IpvsMessage::new(IpvsCmd::GetDaemon, vec![]),
            true,
        ),
    ];
    for (name, msg, dump) in captures {
        let datagrams = client
            .exchange_raw(msg, dump)
            .map_err(|e| format!("{name}: {e}"))?;
        let bytes: Vec<u8> = datagrams.concat();
        let path = dir.join(format!("{name}.bin"));
        std::fs::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        println!(
            "captured {name}: {} bytes in {} datagram(s)",
            bytes.len(),
            datagrams.len()
        );
    }
    sh("ipvsadm -Ln; ipvsadm -L --daemon")?;
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("capture_fixtures: {e}");
            ExitCode::FAILURE
        }
    }
}
