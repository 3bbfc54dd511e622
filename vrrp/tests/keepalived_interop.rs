//! Interop with a real keepalived 2.2.x as the VRRPv3 peer, in two network namespaces on a
//! bridge. A small event loop (what the daemon does: socket + timers + actions) drives an
//! [`Instance`] on the raw sockets of this crate:
//! - keepalived with the higher priority becomes master and we follow it as backup; when it is
//!   stopped it releases with priority 0 and we take over after Skew_Time (MasterReleased);
//! - with our priority higher we preempt keepalived: it accepts our adverts (checksum, TTL,
//!   format) and gives up the virtual address.
//!
//! Needs root and keepalived (dev/deps.sh installs it); fails with a clear message otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tandem_testlab::{Host, Lab, require_root, require_tool, run, wait_until};
use tandem_vrrp::garp::{gratuitous_arp, unsolicited_na};
use tandem_vrrp::net::{PacketSocket, VrrpSocket, enter_network_namespace};
use tandem_vrrp::{
    Action, Centiseconds, Event, Instance, InstanceConfig, State, TransitionReason, Version,
};

const VRID: u8 = 42;
const KA_ADDR: &str = "10.99.10.1";
const OUR_ADDR: &str = "10.99.10.2";
const VIP: &str = "10.99.10.100";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A scratch directory removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(tag: &str) -> ScratchDir {
        let dir = std::env::temp_dir().join(format!("tandem-vrrp-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        ScratchDir(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts keepalived (VRRPv3, 100 ms adverts) in `host`; returns its pid.
fn start_keepalived(
    lab: &Lab,
    host: &Host,
    dir: &Path,
    priority: u8,
    vip_cidr: &str,
) -> (u32, PathBuf) {
    let binary = require_tool("keepalived", "keepalived");
    let conf = dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        format!(
            "global_defs {{\n  router_id tandem_interop\n  vrrp_version 3\n  vrrp_garp_master_repeat 1\n}}\n\
             vrrp_instance VI {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {VRID}\n  \
             priority {priority}\n  advert_int 0.1\n  virtual_ipaddress {{\n    {vip_cidr}\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let log = dir.join("keepalived.log");
    let pid = lab
        .spawn(
            host,
            &[
                binary.to_str().unwrap(),
                "--dont-fork",
                "--log-console",
                "--log-detail",
                "--vrrp",
                "--use-file",
                conf.to_str().unwrap(),
                "--pid",
                dir.join("keepalived.pid").to_str().unwrap(),
                "--vrrp_pid",
                dir.join("vrrp.pid").to_str().unwrap(),
            ],
            Some(&log),
        )
        .unwrap();
    (pid, log)
}

/// What the event loop has seen, for the test to poll.
#[derive(Debug, Default)]
struct Observed {
    state: Option<State>,
    master: Option<IpAddr>,
    transitions: Vec<(State, State, TransitionReason)>,
    error: Option<String>,
}

/// A minimal daemon loop around one instance, in `host`'s namespace, until `stop` is set (or
/// 60 s pass).
fn spawn_instance(
    host: &Host,
    config: InstanceConfig,
    stop: Arc<AtomicBool>,
    observed: Arc<Mutex<Observed>>,
) -> thread::JoinHandle<()> {
    let host = host.clone();
    thread::spawn(move || {
        let result = event_loop(&host, config, &stop, &observed);
        if let Err(e) = result {
            observed.lock().unwrap().error = Some(e.to_string());
        }
    })
}

fn event_loop(
    host: &Host,
    config: InstanceConfig,
    stop: &AtomicBool,
    observed: &Mutex<Observed>,
) -> io::Result<()> {
    enter_network_namespace(&PathBuf::from("/var/run/netns").join(&host.netns))?;
    let source = config.primary_address;
    let socket = VrrpSocket::open("eth0", source)?;
    let garp = PacketSocket::open("eth0")?;
    let mut instance = Instance::new(config).map_err(io::Error::other)?;
    let mut buf = vec![0u8; 2048];
    let started = Instant::now();
    let apply = |instance: &Instance, actions: Vec<Action>| -> io::Result<()> {
        for action in actions {
            match action {
                Action::SendAdvert(advert) => {
                    socket.send_advert_multicast(&advert)?;
                }
                Action::AddVirtualAddresses(addrs) => {
                    for a in addrs {
                        let cidr = host_cidr(a);
                        run(&["ip", "-n", &host.netns, "addr", "add", &cidr, "dev", "eth0"])
                            .map_err(io::Error::other)?;
                    }
                }
                Action::RemoveVirtualAddresses(addrs) => {
                    for a in addrs {
                        let cidr = host_cidr(a);
                        run(&["ip", "-n", &host.netns, "addr", "del", &cidr, "dev", "eth0"])
                            .map_err(io::Error::other)?;
                    }
                }
                Action::SendGratuitous(addrs) => {
                    for a in addrs {
                        match (a, source) {
                            (IpAddr::V4(v4), _) => {
                                garp.send_frame(&gratuitous_arp(garp.mac(), v4))?;
                            }
                            (IpAddr::V6(v6), IpAddr::V6(link_local)) => {
                                garp.send_frame(&unsolicited_na(
                                    garp.mac(),
                                    link_local,
                                    v6,
                                    false,
                                ))?;
                            }
                            (IpAddr::V6(_), IpAddr::V4(_)) => {}
                        }
                    }
                }
                Action::StateChanged { from, to, reason } => {
                    observed
                        .lock()
                        .unwrap()
                        .transitions
                        .push((from, to, reason));
                }
                other => return Err(io::Error::other(format!("unexpected action {other:?}"))),
            }
        }
        let mut o = observed.lock().unwrap();
        o.state = Some(instance.state());
        o.master = instance.master_address();
        Ok(())
    };
    let actions = instance.handle(Event::Startup, Instant::now());
    apply(&instance, actions)?;
    while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(60) {
        let now = Instant::now();
        if instance.next_deadline().is_some_and(|d| d <= now) {
            let actions = instance.handle(Event::Timer, now);
            apply(&instance, actions)?;
        }
        let wait = instance
            .next_deadline()
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_millis(50))
            .clamp(Duration::from_millis(1), Duration::from_millis(50));
        socket.set_read_timeout(Some(wait))?;
        match socket.recv(&mut buf) {
            Ok(datagram) => {
                let packet = datagram.packet(&buf);
                if let Ok(actions) = instance.receive(&packet, Instant::now()) {
                    apply(&instance, actions)?;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
    let actions = instance.handle(Event::Shutdown, Instant::now());
    apply(&instance, actions)
}

/// A host route for a virtual address (/32 or /128).
fn host_cidr(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(_) => format!("{addr}/32"),
        IpAddr::V6(_) => format!("{addr}/128"),
    }
}

fn log_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn setup(tag: &str) -> (Lab, Host, Host) {
    require_root();
    require_tool("keepalived", "keepalived");
    let lab = Lab::new(tag).unwrap();
    let ka = lab.host("ka").unwrap();
    let us = lab.host("us").unwrap();
    lab.connect(&ka, "br0", "eth0", &[&format!("{KA_ADDR}/24")])
        .unwrap();
    lab.connect(&us, "br0", "eth0", &[&format!("{OUR_ADDR}/24")])
        .unwrap();
    (lab, ka, us)
}

fn our_config(priority: u8) -> InstanceConfig {
    InstanceConfig::new(
        Version::V3,
        VRID,
        priority,
        Centiseconds(10),
        ip(OUR_ADDR),
        vec![ip(VIP)],
    )
}

#[test]
fn we_follow_a_higher_keepalived_and_take_over_when_it_releases() {
    let (lab, ka, us) = setup("kafollow");
    let dir = ScratchDir::new("ka-follow");
    let (pid, log) = start_keepalived(&lab, &ka, &dir.0, 150, &format!("{VIP}/24"));
    let stop = Arc::new(AtomicBool::new(false));
    let observed = Arc::new(Mutex::new(Observed::default()));
    let looper = spawn_instance(&us, our_config(100), stop.clone(), observed.clone());

    let following = wait_until(Duration::from_secs(15), Duration::from_millis(50), || {
        let o = observed.lock().unwrap();
        o.state == Some(State::Backup) && o.master == Some(ip(KA_ADDR))
    }) && wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        ka.has_addr(VIP).unwrap_or(false)
    });
    assert!(
        following,
        "expected keepalived master and us backup; observed {:?}\nkeepalived log:\n{}",
        observed.lock().unwrap(),
        log_text(&log)
    );
    assert!(!us.has_addr(VIP).unwrap(), "backup must not hold the VIP");

    // keepalived stops: it sends priority 0, we take over after Skew_Time.
    lab.signal(pid, "TERM").unwrap();
    let took_over = wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
        observed.lock().unwrap().state == Some(State::Master)
    });
    stop.store(true, Ordering::SeqCst);
    looper.join().unwrap();
    let o = observed.lock().unwrap();
    assert!(
        took_over,
        "no takeover: {o:?}\nkeepalived log:\n{}",
        log_text(&log)
    );
    assert_eq!(o.error, None);
    let takeover = o
        .transitions
        .iter()
        .rev()
        .find(|(_, to, _)| *to == State::Master)
        .unwrap();
    assert_eq!(
        takeover.2,
        TransitionReason::MasterReleased,
        "keepalived's priority-0 release should trigger the takeover: {:?}",
        o.transitions
    );
}

#[test]
fn keepalived_yields_to_our_higher_priority() {
    let (lab, ka, us) = setup("kapreempt");
    let dir = ScratchDir::new("ka-preempt");
    let (_pid, log) = start_keepalived(&lab, &ka, &dir.0, 150, &format!("{VIP}/24"));
    // Let keepalived become master first, so that it must yield to us.
    let ka_master = wait_until(Duration::from_secs(15), Duration::from_millis(50), || {
        ka.has_addr(VIP).unwrap_or(false)
    });
    assert!(
        ka_master,
        "keepalived never became master:\n{}",
        log_text(&log)
    );

    let stop = Arc::new(AtomicBool::new(false));
    let observed = Arc::new(Mutex::new(Observed::default()));
    let looper = spawn_instance(&us, our_config(200), stop.clone(), observed.clone());
    let we_master = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        observed.lock().unwrap().state == Some(State::Master)
    });
    let ka_yielded = we_master
        && wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            !ka.has_addr(VIP).unwrap_or(true)
        });
    let stable = ka_yielded
        && !wait_until(Duration::from_secs(1), Duration::from_millis(50), || {
            observed.lock().unwrap().state != Some(State::Master)
        });
    stop.store(true, Ordering::SeqCst);
    looper.join().unwrap();
    let o = observed.lock().unwrap();
    assert_eq!(o.error, None);
    assert!(
        we_master && ka_yielded && stable,
        "we master: {we_master}, keepalived yielded: {ka_yielded}, stable: {stable}; \
         observed {o:?}\nkeepalived log:\n{}",
        log_text(&log)
    );
    assert!(
        log_text(&log).contains("BACKUP"),
        "keepalived should report entering BACKUP:\n{}",
        log_text(&log)
    );
}

const VIP6: &str = "fd00:97::100";

/// The link-local address of eth0 on `host`, once assigned.
fn link_local(host: &Host) -> IpAddr {
    let mut found = None;
    let assigned = wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        let out = host
            .exec_stdout(&[
                "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link",
            ])
            .unwrap_or_default();
        found = out
            .split_whitespace()
            .skip_while(|w| *w != "inet6")
            .nth(1)
            .and_then(|a| a.split('/').next())
            .and_then(|a| a.parse().ok());
        found.is_some()
    });
    assert!(assigned, "no link-local address on {}", host.name);
    found.unwrap()
}

/// IPv6 has no keepalived capture in the fixtures, so this is where the VRRPv3 IPv6
/// pseudo-header checksum meets an independent implementation, in both directions: we accept
/// keepalived's adverts (following it as backup), and keepalived accepts ours (yielding to our
/// higher priority).
#[test]
fn ipv6_interop_both_directions() {
    require_root();
    require_tool("keepalived", "keepalived");
    let lab = Lab::new("ka6").unwrap();
    let ka = lab.host_with_ipv6("ka", true).unwrap();
    let us = lab.host_with_ipv6("us", true).unwrap();
    lab.connect(&ka, "br0", "eth0", &["fd00:97::1/64"]).unwrap();
    lab.connect(&us, "br0", "eth0", &["fd00:97::2/64"]).unwrap();
    let ka_ll = link_local(&ka);
    let our_ll = link_local(&us);
    let dir = ScratchDir::new("ka6");
    let (_pid, log) = start_keepalived(&lab, &ka, &dir.0, 150, &format!("{VIP6}/64"));
    let config = |priority| {
        InstanceConfig::new(
            Version::V3,
            VRID,
            priority,
            Centiseconds(10),
            our_ll,
            vec![ip(VIP6)],
        )
    };

    // 1. We follow keepalived: its adverts pass our validation (hop limit, checksum).
    let stop = Arc::new(AtomicBool::new(false));
    let observed = Arc::new(Mutex::new(Observed::default()));
    let looper = spawn_instance(&us, config(100), stop.clone(), observed.clone());
    let following = wait_until(Duration::from_secs(15), Duration::from_millis(50), || {
        let o = observed.lock().unwrap();
        o.state == Some(State::Backup) && o.master == Some(ka_ll)
    }) && wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        ka.has_addr(VIP6).unwrap_or(false)
    });
    stop.store(true, Ordering::SeqCst);
    looper.join().unwrap();
    assert!(
        following,
        "expected to follow keepalived at {ka_ll}; observed {:?}\nkeepalived log:\n{}",
        observed.lock().unwrap(),
        log_text(&log)
    );
    assert_eq!(observed.lock().unwrap().error, None);

    // 2. We preempt keepalived: it accepts our adverts and removes the VIP.
    let stop = Arc::new(AtomicBool::new(false));
    let observed = Arc::new(Mutex::new(Observed::default()));
    let looper = spawn_instance(&us, config(200), stop.clone(), observed.clone());
    let we_master = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        observed.lock().unwrap().state == Some(State::Master)
    });
    let ka_yielded = we_master
        && wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            !ka.has_addr(VIP6).unwrap_or(true)
        });
    stop.store(true, Ordering::SeqCst);
    looper.join().unwrap();
    assert_eq!(observed.lock().unwrap().error, None);
    assert!(
        we_master && ka_yielded,
        "we master: {we_master}, keepalived yielded: {ka_yielded}; observed {:?}\nkeepalived log:\n{}",
        observed.lock().unwrap(),
        log_text(&log)
    );
}
