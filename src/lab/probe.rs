//! Measuring failover as a client sees it: a UDP responder bound to the VIP in each director
//! answers with the director's name; a prober in the client namespace asks every few
//! milliseconds and records who answered. The outage is the longest run without an answer.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

fn netns_path(netns: &str) -> PathBuf {
    PathBuf::from("/var/run/netns").join(netns)
}

/// Answers every datagram on `vip:port` with `name`, inside `netns`, until dropped. Binds with
/// IP_FREEBIND so it can start before the director owns the VIP.
#[derive(Debug)]
pub struct Responder {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Responder {
    pub fn start(netns: &str, vip: IpAddr, port: u16, name: &str) -> std::io::Result<Responder> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let path = netns_path(netns);
        let name = name.as_bytes().to_vec();
        let thread_stop = stop.clone();
        let thread = std::thread::spawn(move || {
            let setup = (|| -> std::io::Result<Socket> {
                tandem_vrrp::net::enter_network_namespace(&path)?;
                let domain = if vip.is_ipv6() {
                    Domain::IPV6
                } else {
                    Domain::IPV4
                };
                let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
                if vip.is_ipv6() {
                    socket.set_freebind_v6(true)?;
                } else {
                    socket.set_freebind_v4(true)?;
                }
                socket.bind(&SocketAddr::new(vip, port).into())?;
                socket.set_read_timeout(Some(Duration::from_millis(50)))?;
                Ok(socket)
            })();
            let socket: UdpSocket = match setup {
                Ok(s) => {
                    let _ = ready_tx.send(Ok(()));
                    s.into()
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let mut buf = [0u8; 64];
            while !thread_stop.load(Ordering::Relaxed) {
                if let Ok((_, peer)) = socket.recv_from(&mut buf) {
                    let _ = socket.send_to(&name, peer);
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| std::io::Error::other("responder did not start"))??;
        Ok(Responder {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One probe: when it was sent and who answered (None = no answer within the interval).
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Instant,
    pub answered_by: Option<String>,
}

/// Sends a datagram every `interval` to `target` from `netns` and records the answers.
#[derive(Debug)]
pub struct Prober {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    thread: Option<JoinHandle<()>>,
}

impl Prober {
    pub fn start(netns: &str, target: SocketAddr, interval: Duration) -> std::io::Result<Prober> {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let path = netns_path(netns);
        let (thread_stop, thread_samples) = (stop.clone(), samples.clone());
        let thread = std::thread::spawn(move || {
            let setup = (|| -> std::io::Result<UdpSocket> {
                tandem_vrrp::net::enter_network_namespace(&path)?;
                let bind: SocketAddr = if target.is_ipv6() {
                    "[::]:0".parse().map_err(std::io::Error::other)?
                } else {
                    "0.0.0.0:0".parse().map_err(std::io::Error::other)?
                };
                let socket = UdpSocket::bind(bind)?;
                socket.connect(target)?;
                // Waits are `ppoll`s, not SO_RCVTIMEO: the kernel rounds a socket timeout up
                // to whole jiffies (4 ms at HZ=250), which made a "2 ms" prober probe every 4.
                socket.set_nonblocking(true)?;
                Ok(socket)
            })();
            let socket = match setup {
                Ok(s) => {
                    let _ = ready_tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let mut buf = [0u8; 64];
            // At most 10 minutes of probing, whatever the caller does.
            let limit = Instant::now() + Duration::from_secs(600);
            let mut seq: u32 = 0;
            while !thread_stop.load(Ordering::Relaxed) && Instant::now() < limit {
                let at = Instant::now();
                seq = seq.wrapping_add(1);
                let _ = socket.send(&seq.to_be_bytes());
                let deadline = at + interval;
                let mut answered_by = None;
                // Drain answers until the next probe is due; late answers to earlier probes
                // are ignored (they carry no information about now).
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    match tandem_vrrp::net::wait_readable([socket.as_fd()], Some(left)) {
                        Ok([true]) => {}
                        Ok([false]) => continue,
                        Err(_) => break,
                    }
                    match socket.recv(&mut buf) {
                        Ok(n) if answered_by.is_none() => {
                            answered_by = Some(String::from_utf8_lossy(&buf[..n]).into_owned());
                        }
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => break,
                    }
                }
                if let Ok(mut s) = thread_samples.lock() {
                    s.push(Sample { at, answered_by });
                }
                let now = Instant::now();
                if now < deadline {
                    std::thread::sleep(deadline - now);
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| std::io::Error::other("prober did not start"))??;
        Ok(Prober {
            stop,
            samples,
            thread: Some(thread),
        })
    }

    /// Samples recorded so far.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Who answered the latest probe that got an answer.
    pub fn last_answer(&self) -> Option<String> {
        self.samples()
            .iter()
            .rev()
            .find_map(|s| s.answered_by.clone())
    }

    /// Clears the samples (start of a measurement).
    pub fn reset(&self) {
        if let Ok(mut s) = self.samples.lock() {
            s.clear();
        }
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The longest stretch without an answer in `samples`, measured from the last answered probe
/// before it to the first answered probe after it; None when no probe was answered at all.
pub fn longest_outage(samples: &[Sample]) -> Option<Duration> {
    let mut last_ok: Option<Instant> = None;
    let mut longest = Duration::ZERO;
    let mut any = false;
    for s in samples {
        if s.answered_by.is_some() {
            if let Some(prev) = last_ok {
                longest = longest.max(s.at.duration_since(prev));
            }
            last_ok = Some(s.at);
            any = true;
        }
    }
    any.then_some(longest)
}

/// The outage around a switch from one responder to another: from the last probe answered by
/// `from` to the first answered by someone else. None when no switch happened.
pub fn switchover(samples: &[Sample], from: &str) -> Option<Duration> {
    let mut last_from = None;
    for s in samples {
        match s.answered_by.as_deref() {
            Some(who) if who == from => last_from = Some(s.at),
            Some(_) => {
                if let Some(t) = last_from {
                    return Some(s.at.duration_since(t));
                }
            }
            None => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(pattern: &[Option<&str>]) -> Vec<Sample> {
        let t0 = Instant::now();
        pattern
            .iter()
            .enumerate()
            .map(|(i, who)| Sample {
                at: t0 + Duration::from_millis(2 * i as u64),
                answered_by: who.map(str::to_string),
            })
            .collect()
    }

    #[test]
    fn outage_spans_from_last_to_next_answer() {
        let s = samples(&[
            Some("d1"),
            Some("d1"),
            None,
            None,
            None,
            Some("d2"),
            Some("d2"),
        ]);
        assert_eq!(longest_outage(&s), Some(Duration::from_millis(8)));
        assert_eq!(switchover(&s, "d1"), Some(Duration::from_millis(8)));
        assert_eq!(switchover(&s, "d2"), None);
        assert_eq!(longest_outage(&samples(&[None, None])), None);
    }
}
