//! The floor of a VRRP master's CPU: a loop that does nothing but what every master must,
//! one sleep and one `sendto` of a pre-encoded advert per interval, with the same socket
//! tandem uses. Run it in place of a master in the failover bench's lab and compare its CPU
//! with tandem's and keepalived's: what remains above it is the implementation's own cost.
//!
//! ```sh
//! advert-floor IFNAME SOURCE_IPV4 [INTERVAL_MS=10] [SECONDS=30] [VIP=SOURCE] [VRID=51]
//! ```
//! Prints the CPU (user + system, getrusage) it used while sending, as % of a core.

use std::net::IpAddr;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use tandem_vrrp::net::{VrrpSocket, Wakeup, wait_readable};
use tandem_vrrp::{Advertisement, Centiseconds, Version};

fn cpu_seconds() -> f64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).map_or(0.0, |u| {
        let (user, system) = (u.user_time(), u.system_time());
        user.tv_sec() as f64
            + user.tv_usec() as f64 / 1e6
            + system.tv_sec() as f64
            + system.tv_usec() as f64 / 1e6
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [ifname, source, rest @ ..] = args.as_slice() else {
        return Err(
            "usage: advert-floor IFNAME SOURCE_IPV4 [INTERVAL_MS] [SECONDS] [VIP] [VRID]".into(),
        );
    };
    let source: IpAddr = source.parse()?;
    let interval = Duration::from_millis(rest.first().map_or(Ok(10), |s| s.parse())?);
    let seconds: u64 = rest.get(1).map_or(Ok(30), |s| s.parse())?;
    let vip: IpAddr = rest.get(2).map_or(Ok(source), |s| s.parse())?;
    let vrid: u8 = rest.get(3).map_or(Ok(51), |s| s.parse())?;
    let socket = VrrpSocket::open(ifname, source)?;
    let advert = Advertisement {
        version: Version::V3,
        vrid,
        priority: 200,
        advert_interval: Centiseconds(u32::try_from(interval.as_millis() / 10)?),
        addresses: vec![vip],
        auth: None,
    };
    let group = source_family_group(source);
    let bytes = advert.encode(source, group)?;
    // Nothing ever wakes it: a descriptor to ppoll on, as tandem's instance loop does.
    let never = Wakeup::new()?;
    let start = Instant::now();
    let cpu_start = cpu_seconds();
    let mut next = start;
    let mut sent = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        socket.send(&bytes, group)?;
        sent += 1;
        next += interval;
        let timeout = next.saturating_duration_since(Instant::now());
        wait_readable([never.as_fd()], Some(timeout))?;
    }
    let cpu = cpu_seconds() - cpu_start;
    let wall = start.elapsed().as_secs_f64();
    println!(
        "advert-floor: {sent} adverts in {wall:.1} s, CPU {:.3} % of a core ({:.1} us per advert)",
        100.0 * cpu / wall,
        1e6 * cpu / sent.max(1) as f64
    );
    Ok(())
}

fn source_family_group(source: IpAddr) -> IpAddr {
    tandem_vrrp::Family::of(&source).multicast_group()
}
