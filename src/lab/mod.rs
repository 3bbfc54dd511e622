//! A director pair in network namespaces: the topology `tandem demo`, the integration tests
//! and the failover benchmark share. One switch namespace with a bridge; directors, a client
//! and real servers plugged into it (10.77.0.0/24, fd77::/64); `tandem run` processes in the
//! director namespaces; everything removed on drop.

pub mod probe;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tandem_testlab::{Host, Lab, LabError, Link};

use crate::director::status::Status;

pub type Result<T> = std::result::Result<T, LabError>;

/// IPv4 subnet of the lab LAN; hosts get fixed host numbers in it.
pub const NET4: &str = "10.77.0";
/// IPv6 subnet of the lab LAN.
pub const NET6: &str = "fd77::";
/// The virtual address the directors fight over.
pub const VIP4: &str = "10.77.0.100";
pub const VIP6: &str = "fd77::100";

/// One director host.
#[derive(Debug)]
pub struct DirectorHost {
    pub name: String,
    pub host: Host,
    pub link: Link,
    /// Host number in the LAN (10.77.0.N, fd77::N).
    pub number: u8,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
    pub pid: Option<u32>,
}

impl DirectorHost {
    pub fn address4(&self) -> String {
        format!("{NET4}.{}", self.number)
    }
}

/// The lab: directors, a client, optional real servers.
#[derive(Debug)]
pub struct DirectorLab {
    pub directors: Vec<DirectorHost>,
    pub client: Host,
    pub reals: Vec<Host>,
    pub state_dir: PathBuf,
    tandem: PathBuf,
    /// Extra arguments of every `tandem run` started from now on (e.g. `--log-format json`).
    pub run_args: Vec<String>,
    // Declared last: dropped after the hosts' users above, removing namespaces and processes.
    pub lab: Lab,
}

impl DirectorLab {
    /// Builds the LAN with `directors` (named as given, numbered 1, 2, …), a client (.10) and
    /// `reals` real servers (.11, .12, …). `ipv6` keeps IPv6 on and adds fd77::N addresses.
    /// `tandem` is the binary the directors run.
    pub fn build(
        tag: &str,
        directors: &[&str],
        reals: usize,
        ipv6: bool,
        tandem: &Path,
    ) -> Result<Self> {
        let lab = Lab::new(tag)?;
        let state_dir = std::env::temp_dir().join(format!("tandem-lab-{}", lab.prefix()));
        std::fs::create_dir_all(&state_dir)
            .map_err(|e| LabError(format!("cannot create {}: {e}", state_dir.display())))?;
        let plug = |name: &str, number: u8| -> Result<(Host, Link)> {
            let host = lab.host_with_ipv6(name, ipv6)?;
            let v4 = format!("{NET4}.{number}/24");
            let v6 = format!("{NET6}{number}/64");
            let mut addrs = vec![v4.as_str()];
            if ipv6 {
                addrs.push(v6.as_str());
            }
            let link = lab.connect(&host, "br0", "eth0", &addrs)?;
            Ok((host, link))
        };
        let mut hosts = Vec::new();
        for (i, name) in directors.iter().enumerate() {
            let number = (i + 1) as u8;
            let (host, link) = plug(name, number)?;
            // Probe responders bind the VIP before owning it.
            host.sysctl("net.ipv4.ip_nonlocal_bind", "1")?;
            if ipv6 {
                host.sysctl("net.ipv6.ip_nonlocal_bind", "1")?;
            }
            hosts.push(DirectorHost {
                name: name.to_string(),
                config: state_dir.join(format!("{name}.yaml")),
                socket: state_dir.join(format!("{name}.sock")),
                log: state_dir.join(format!("{name}.log")),
                host,
                link,
                number,
                pid: None,
            });
        }
        let (client, _) = plug("client", 10)?;
        let mut real_hosts = Vec::new();
        for i in 0..reals {
            let (h, _) = plug(&format!("real{}", i + 1), 11 + i as u8)?;
            real_hosts.push(h);
        }
        Ok(DirectorLab {
            directors: hosts,
            client,
            reals: real_hosts,
            state_dir,
            tandem: tandem.to_path_buf(),
            run_args: Vec::new(),
            lab,
        })
    }

    /// Index of a director by name.
    pub fn index(&self, name: &str) -> Result<usize> {
        self.directors
            .iter()
            .position(|d| d.name == name)
            .ok_or_else(|| LabError(format!("no director named {name}")))
    }

    /// Writes `config` for director `i` (the control socket line is added here) and starts
    /// `tandem run` in its namespace. Waits (bounded) until the control socket answers.
    pub fn start(&mut self, i: usize, config: &str) -> Result<()> {
        let d = &self.directors[i];
        let text = format!(
            "global:\n  router_id: {}\n  control_socket: {}\n{}",
            d.name,
            d.socket.display(),
            config
        );
        std::fs::write(&d.config, text)
            .map_err(|e| LabError(format!("cannot write {}: {e}", d.config.display())))?;
        self.restart(i)
    }

    /// Starts `tandem run` again with the config already written.
    pub fn restart(&mut self, i: usize) -> Result<()> {
        let tandem = self.tandem.to_string_lossy().into_owned();
        let d = &self.directors[i];
        let config = d.config.to_string_lossy().into_owned();
        let log = self.state_dir.join(format!(
            "{}-{}.log",
            d.name,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|t| t.as_millis())
                .unwrap_or(0)
        ));
        let pid = self.lab.spawn(
            &d.host,
            &[&tandem, "run", "-c", &config]
                .into_iter()
                .chain(self.run_args.iter().map(String::as_str))
                .collect::<Vec<_>>(),
            Some(&log),
        )?;
        let d = &mut self.directors[i];
        d.pid = Some(pid);
        d.log = log;
        let socket = d.socket.clone();
        let ok =
            tandem_testlab::wait_until(Duration::from_secs(10), Duration::from_millis(10), || {
                crate::control::client::request(&socket, "status").is_ok()
            });
        if !ok {
            let log = std::fs::read_to_string(&self.directors[i].log).unwrap_or_default();
            return Err(LabError(format!(
                "tandem on {} did not open its control socket:\n{log}",
                self.directors[i].name
            )));
        }
        Ok(())
    }

    /// Starts keepalived (VRRP only, foreground, logging to a file) on director `i` with the
    /// given keepalived.conf text, as a peer for interop tests and benchmarks. Signals then go
    /// to keepalived through [`DirectorLab::signal`].
    pub fn start_keepalived(&mut self, i: usize, conf: &str) -> Result<()> {
        let binary = tandem_testlab::which("keepalived").ok_or_else(|| {
            LabError("keepalived is required: apt-get install keepalived (dev/deps.sh)".into())
        })?;
        let d = &self.directors[i];
        let run_dir = self.state_dir.join(format!("ka-{}", d.name));
        std::fs::create_dir_all(&run_dir)
            .map_err(|e| LabError(format!("cannot create {}: {e}", run_dir.display())))?;
        let conf_path = run_dir.join("keepalived.conf");
        std::fs::write(&conf_path, conf)
            .map_err(|e| LabError(format!("cannot write {}: {e}", conf_path.display())))?;
        let log = run_dir.join("keepalived.log");
        let p = |name: &str| run_dir.join(name).to_string_lossy().into_owned();
        let argv = [
            binary.to_string_lossy().into_owned(),
            "--dont-fork".into(),
            "--log-console".into(),
            "--log-detail".into(),
            "--vrrp".into(),
            "--use-file".into(),
            conf_path.to_string_lossy().into_owned(),
            "--pid".into(),
            p("keepalived.pid"),
            "--vrrp_pid".into(),
            p("vrrp.pid"),
            "--checkers_pid".into(),
            p("checkers.pid"),
        ];
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let pid = self.lab.spawn(&d.host, &argv, Some(&log))?;
        let d = &mut self.directors[i];
        d.pid = Some(pid);
        d.log = log;
        Ok(())
    }

    /// Sends a signal ("KILL", "TERM", "HUP") to director `i`'s tandem.
    pub fn signal(&mut self, i: usize, signal: &str) -> Result<()> {
        let pid = self.directors[i].pid.ok_or_else(|| {
            LabError(format!(
                "tandem is not running on {}",
                self.directors[i].name
            ))
        })?;
        self.lab.signal(pid, signal)?;
        if signal == "KILL" || signal == "TERM" {
            self.directors[i].pid = None;
        }
        Ok(())
    }

    /// The daemon's status on director `i`.
    pub fn status(&self, i: usize) -> Result<Status> {
        let answer = crate::control::client::request(&self.directors[i].socket, "status")
            .map_err(|e| LabError(format!("status of {}: {e}", self.directors[i].name)))?;
        serde_json::from_str(&answer).map_err(|e| LabError(format!("status JSON: {e}: {answer}")))
    }

    /// State of `instance` on director `i` ("MASTER", "BACKUP", …); None if unreachable.
    pub fn state(&self, i: usize, instance: &str) -> Option<String> {
        self.status(i)
            .ok()?
            .vrrp_instances
            .into_iter()
            .find(|v| v.name == instance)
            .map(|v| v.state)
    }

    /// Waits (bounded) until `instance` on director `i` is in `state`; returns how long it took.
    pub fn wait_state(
        &self,
        i: usize,
        instance: &str,
        state: &str,
        timeout: Duration,
    ) -> Result<Duration> {
        let start = Instant::now();
        let ok = tandem_testlab::wait_until(timeout, Duration::from_millis(5), || {
            self.state(i, instance).as_deref() == Some(state)
        });
        if ok {
            Ok(start.elapsed())
        } else {
            Err(LabError(format!(
                "{} did not reach {state} for {instance} within {timeout:?} (now {:?}); log:\n{}",
                self.directors[i].name,
                self.state(i, instance),
                std::fs::read_to_string(&self.directors[i].log).unwrap_or_default()
            )))
        }
    }

    /// Whether director `i` has `addr` configured.
    pub fn has_address(&self, i: usize, addr: &str) -> Result<bool> {
        self.directors[i].host.has_addr(addr)
    }

    /// Cuts director `i`'s cable (its eth0 loses carrier).
    pub fn cut(&self, i: usize) -> Result<()> {
        self.lab.cut(&self.directors[i].link)
    }

    pub fn restore(&self, i: usize) -> Result<()> {
        self.lab.restore(&self.directors[i].link)
    }
}

impl Drop for DirectorLab {
    fn drop(&mut self) {
        // Stop the daemons gracefully is not needed: the lab kills them, and the namespaces
        // (with their VIPs) disappear with it.
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}
