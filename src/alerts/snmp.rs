//! SNMPv2c notifications: which notifications an event raises (pure), and the per-target
//! sender task (traps, or informs resent until acknowledged).
//!
//! Standard MIBs first, so that a generic NMS understands a failover without tandem's MIB:
//! RFC 6527 `vrrpv3NewMaster` for VRRPv3 instances and RFC 2787 `vrrpTrapNewMaster` for
//! VRRPv2 ones. Everything else uses TANDEM-MIB (`conf/TANDEM-MIB.txt`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::ber::{Message, Oid, Pdu, VERSION_2C, Value, tag};
use super::event::AlertEvent;

/// Well-known OIDs (dotted), each with the document that defines it.
pub mod oids {
    /// SNMPv2-MIB sysUpTime.0 (RFC 3418): first varbind of every notification (RFC 3416 §4.2.6).
    pub const SYS_UP_TIME_0: &str = "1.3.6.1.2.1.1.3.0";
    /// SNMPv2-MIB snmpTrapOID.0 (RFC 3418): second varbind, the notification's identity.
    pub const SNMP_TRAP_OID_0: &str = "1.3.6.1.6.3.1.1.4.1.0";
    /// VRRPV3-MIB vrrpv3NewMaster (RFC 6527 §8).
    pub const VRRPV3_NEW_MASTER: &str = "1.3.6.1.2.1.207.0.1";
    /// VRRPV3-MIB vrrpv3OperationsMasterIpAddr, indexed by ifIndex.vrId.inetAddrType.
    pub const VRRPV3_OPERATIONS_MASTER_IP_ADDR: &str = "1.3.6.1.2.1.207.1.1.1.1.3";
    /// VRRPV3-MIB vrrpv3StatisticsNewMasterReason (same index; the statistics entry augments
    /// the operations entry).
    pub const VRRPV3_STATISTICS_NEW_MASTER_REASON: &str = "1.3.6.1.2.1.207.1.2.5.1.2";
    /// VRRP-MIB vrrpTrapNewMaster (RFC 2787).
    pub const VRRP_TRAP_NEW_MASTER: &str = "1.3.6.1.2.1.68.0.1";
    /// VRRP-MIB vrrpOperMasterIpAddr, indexed by ifIndex.vrrpOperVrId.
    pub const VRRP_OPER_MASTER_IP_ADDR: &str = "1.3.6.1.2.1.68.1.3.1.7";
    /// TANDEM-MIB root: enterprises.64203, a placeholder until an IANA Private Enterprise
    /// Number is registered for tandem (see docs/alerts.md).
    pub const TANDEM_MIB: &str = "1.3.6.1.4.1.64203";
}

/// TANDEM-MIB notification numbers under `tandemNotifications` (`TANDEM_MIB.0`).
pub mod tandem_notification {
    pub const INSTANCE_STATE_CHANGE: u32 = 1;
    pub const REAL_SERVER_UP: u32 = 2;
    pub const REAL_SERVER_DOWN: u32 = 3;
    pub const QUORUM_LOST: u32 = 4;
    pub const QUORUM_REGAINED: u32 = 5;
    pub const CONFIG_RELOAD: u32 = 6;
    pub const DATAPLANE_ERROR: u32 = 7;
}

/// TANDEM-MIB notification objects under `tandemNotifyObjects` (`TANDEM_MIB.1.1`); each is a
/// scalar, sent with instance suffix `.0`.
pub mod tandem_object {
    pub const ROUTER_ID: u32 = 1;
    pub const INSTANCE_NAME: u32 = 2;
    pub const INSTANCE_VRID: u32 = 3;
    pub const INSTANCE_OLD_STATE: u32 = 4;
    pub const INSTANCE_NEW_STATE: u32 = 5;
    pub const INSTANCE_PRIORITY: u32 = 6;
    pub const SERVICE_NAME: u32 = 7;
    pub const REAL_SERVER: u32 = 8;
    pub const REASON: u32 = 9;
    pub const QUORUM_UP: u32 = 10;
    pub const QUORUM: u32 = 11;
    pub const RELOAD_RESULT: u32 = 12;
    pub const RELOAD_ERRORS: u32 = 13;
    pub const DATAPLANE_OPERATION: u32 = 14;
}

/// One notification: its snmpTrapOID.0 value and the varbinds after the two standard ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub trap_oid: Oid,
    pub varbinds: Vec<(Oid, Value)>,
}

fn oid(dotted: &str) -> Oid {
    // The constants above are valid; an invalid one would encode as an empty OID, never panic.
    Oid::parse(dotted).unwrap_or(Oid(Vec::new()))
}

fn tandem_notification(n: u32) -> Oid {
    oid(oids::TANDEM_MIB).child(&[0, n])
}

fn tandem_scalar(object: u32) -> Oid {
    oid(oids::TANDEM_MIB).child(&[1, 1, object, 0])
}

fn text(s: &str) -> Value {
    // DisplayString is at most 255 octets (RFC 2579); cut on a char boundary.
    let mut end = s.len().min(255);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Value::OctetString(s.as_bytes()[..end].to_vec())
}

/// TANDEM-MIB `TandemVrrpState`: init(1), backup(2), master(3), fault(4); unknown(0) otherwise.
pub fn vrrp_state_number(state: &str) -> i64 {
    match state.to_ascii_uppercase().as_str() {
        "INIT" | "INITIALIZE" => 1,
        "BACKUP" => 2,
        "MASTER" => 3,
        "FAULT" => 4,
        _ => 0,
    }
}

/// RFC 6527 `vrrpv3StatisticsNewMasterReason` of a transition reason: priority(1),
/// preempted(2), masterNoResponse(3). A reason tandem does not classify is reported as
/// masterNoResponse, the usual cause of a backup becoming master.
pub fn new_master_reason(reason: &str) -> i64 {
    let r = reason.to_ascii_lowercase();
    if r.starts_with("priority") || r.contains("owner") {
        1
    } else if r.starts_with("preempt") {
        2
    } else {
        3
    }
}

/// The notifications `event` raises, in sending order.
pub fn notifications(event: &AlertEvent, router_id: &str) -> Vec<Notification> {
    use tandem_notification as n;
    use tandem_object as o;
    let router = (tandem_scalar(o::ROUTER_ID), text(router_id));
    let mut out = Vec::new();
    match event {
        AlertEvent::VrrpTransition {
            instance,
            vrid,
            version,
            from,
            to,
            priority,
            master_address,
            reason,
            if_index,
        } => {
            if vrrp_state_number(to) == 3 {
                match (version, master_address) {
                    (3, Some(addr)) => {
                        let (addr_type, bytes) = match addr {
                            IpAddr::V4(a) => (1, a.octets().to_vec()),
                            IpAddr::V6(a) => (2, a.octets().to_vec()),
                        };
                        let index = [*if_index, u32::from(*vrid), addr_type];
                        out.push(Notification {
                            trap_oid: oid(oids::VRRPV3_NEW_MASTER),
                            varbinds: vec![
                                (
                                    oid(oids::VRRPV3_OPERATIONS_MASTER_IP_ADDR).child(&index),
                                    Value::OctetString(bytes),
                                ),
                                (
                                    oid(oids::VRRPV3_STATISTICS_NEW_MASTER_REASON).child(&index),
                                    Value::Integer(new_master_reason(reason)),
                                ),
                            ],
                        });
                    }
                    (2, Some(IpAddr::V4(addr))) => out.push(Notification {
                        trap_oid: oid(oids::VRRP_TRAP_NEW_MASTER),
                        varbinds: vec![(
                            oid(oids::VRRP_OPER_MASTER_IP_ADDR)
                                .child(&[*if_index, u32::from(*vrid)]),
                            Value::IpAddress(*addr),
                        )],
                    }),
                    _ => {}
                }
            }
            out.push(Notification {
                trap_oid: tandem_notification(n::INSTANCE_STATE_CHANGE),
                varbinds: vec![
                    router,
                    (tandem_scalar(o::INSTANCE_NAME), text(instance)),
                    (
                        tandem_scalar(o::INSTANCE_VRID),
                        Value::Gauge32(u32::from(*vrid)),
                    ),
                    (
                        tandem_scalar(o::INSTANCE_OLD_STATE),
                        Value::Integer(vrrp_state_number(from)),
                    ),
                    (
                        tandem_scalar(o::INSTANCE_NEW_STATE),
                        Value::Integer(vrrp_state_number(to)),
                    ),
                    (
                        tandem_scalar(o::INSTANCE_PRIORITY),
                        Value::Gauge32(u32::from(*priority)),
                    ),
                    (tandem_scalar(o::REASON), text(reason)),
                ],
            });
        }
        AlertEvent::RealServer {
            service,
            real,
            up,
            reason,
        } => out.push(Notification {
            trap_oid: tandem_notification(if *up {
                n::REAL_SERVER_UP
            } else {
                n::REAL_SERVER_DOWN
            }),
            varbinds: vec![
                router,
                (tandem_scalar(o::SERVICE_NAME), text(service)),
                (tandem_scalar(o::REAL_SERVER), text(real)),
                (tandem_scalar(o::REASON), text(reason)),
            ],
        }),
        AlertEvent::Quorum {
            service,
            has_quorum,
            up,
            quorum,
        } => out.push(Notification {
            trap_oid: tandem_notification(if *has_quorum {
                n::QUORUM_REGAINED
            } else {
                n::QUORUM_LOST
            }),
            varbinds: vec![
                router,
                (tandem_scalar(o::SERVICE_NAME), text(service)),
                (tandem_scalar(o::QUORUM_UP), Value::Gauge32(*up)),
                (tandem_scalar(o::QUORUM), Value::Gauge32(*quorum)),
            ],
        }),
        AlertEvent::ConfigReload { ok, errors } => out.push(Notification {
            trap_oid: tandem_notification(n::CONFIG_RELOAD),
            varbinds: vec![
                router,
                (
                    tandem_scalar(o::RELOAD_RESULT),
                    Value::Integer(if *ok { 1 } else { 2 }),
                ),
                (
                    tandem_scalar(o::RELOAD_ERRORS),
                    Value::Gauge32(u32::try_from(*errors).unwrap_or(u32::MAX)),
                ),
            ],
        }),
        AlertEvent::Dataplane { operation, error } => out.push(Notification {
            trap_oid: tandem_notification(n::DATAPLANE_ERROR),
            varbinds: vec![
                router,
                (tandem_scalar(o::DATAPLANE_OPERATION), text(operation)),
                (tandem_scalar(o::REASON), text(error)),
            ],
        }),
    }
    out
}

/// The full PDU varbind list: sysUpTime.0, snmpTrapOID.0, then the notification's own
/// (RFC 3416 §4.2.6).
pub fn pdu_varbinds(notification: &Notification, uptime: Duration) -> Vec<(Oid, Value)> {
    // TimeTicks count modulo 2^32 (RFC 2578 §7.1.8): wrap after 497 days, as agents do.
    let ticks = (uptime.as_millis() / 10 % (1u128 << 32)) as u32;
    let mut varbinds = Vec::with_capacity(notification.varbinds.len() + 2);
    varbinds.push((oid(oids::SYS_UP_TIME_0), Value::TimeTicks(ticks)));
    varbinds.push((
        oid(oids::SNMP_TRAP_OID_0),
        Value::Oid(notification.trap_oid.clone()),
    ));
    varbinds.extend(notification.varbinds.iter().cloned());
    varbinds
}

/// Where and how to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    pub address: SocketAddr,
    pub community: String,
    pub inform: bool,
    pub retries: u32,
    pub timeout: Duration,
}

/// Delivery counters of one target.
#[derive(Debug, Default)]
pub(crate) struct TargetCounters {
    pub(crate) sent: AtomicU64,
    pub(crate) acknowledged: AtomicU64,
    pub(crate) unacknowledged: AtomicU64,
    pub(crate) send_errors: AtomicU64,
    pub(crate) dropped: AtomicU64,
    /// Set when the owning [`super::Alerts`] is dropped (reload, shutdown): the task then sends
    /// what is still queued once each, without waiting for acknowledgements, so that a dead
    /// receiver cannot keep an old task alive for `queue x (retries + 1) x timeout`.
    pub(crate) closing: AtomicBool,
}

/// Sends every event it receives to one target, in order, until the channel closes (the
/// [`super::Alerts`] holding the sender was dropped, e.g. after a reload).
pub(crate) async fn run_target(
    spec: TargetSpec,
    router_id: String,
    started: Instant,
    mut rx: mpsc::Receiver<AlertEvent>,
    counters: Arc<TargetCounters>,
) {
    let bind: SocketAddr = if spec.address.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let mut socket: Option<UdpSocket> = None;
    // Request ids start at a clock- and pid-derived value so a restarted daemon's first informs
    // are not mistaken for duplicates of the previous run's by a receiver.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id().rotate_left(16);
    let mut request_id = (seed & 0x3FFF_FFFF) as i32;
    while let Some(event) = rx.recv().await {
        for notification in notifications(&event, &router_id) {
            if socket.is_none() {
                socket = match open_socket(bind, spec.address).await {
                    Ok(s) => Some(s),
                    Err(e) => {
                        counters.send_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(event = "snmp", target = %spec.address, reason = %e, "cannot open SNMP socket");
                        continue;
                    }
                };
            }
            let Some(sock) = socket.as_ref() else {
                continue;
            };
            request_id = (request_id + 1) & 0x3FFF_FFFF;
            let message = Message {
                version: VERSION_2C,
                community: spec.community.as_bytes().to_vec(),
                pdu: Pdu {
                    kind: if spec.inform {
                        tag::INFORM_REQUEST
                    } else {
                        tag::SNMPV2_TRAP
                    },
                    request_id,
                    error_status: 0,
                    error_index: 0,
                    varbinds: pdu_varbinds(&notification, started.elapsed()),
                },
            };
            let bytes = message.encode();
            if spec.inform && !counters.closing.load(Ordering::Relaxed) {
                deliver_inform(sock, &spec, &bytes, request_id, &counters).await;
            } else {
                match sock.send(&bytes).await {
                    Ok(_) => {
                        counters.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        counters.send_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(event = "snmp", target = %spec.address, reason = %e, "trap not sent");
                    }
                }
            }
        }
    }
}

async fn open_socket(bind: SocketAddr, target: SocketAddr) -> std::io::Result<UdpSocket> {
    let sock = UdpSocket::bind(bind).await?;
    // Connected: only the target's datagrams are received, and ICMP errors are reported.
    sock.connect(target).await?;
    Ok(sock)
}

/// Sends an InformRequest and waits for the Response with the same request-id (RFC 3416
/// §4.2.7), resending up to `retries` times, each attempt waiting `timeout`.
async fn deliver_inform(
    sock: &UdpSocket,
    spec: &TargetSpec,
    bytes: &[u8],
    request_id: i32,
    counters: &TargetCounters,
) {
    let mut buf = vec![0u8; 2048];
    for attempt in 0..=spec.retries {
        if attempt > 0 && counters.closing.load(Ordering::Relaxed) {
            break;
        }
        let deadline = tokio::time::Instant::now() + spec.timeout;
        match sock.send(bytes).await {
            Ok(_) => {
                counters.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                counters.send_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(event = "snmp", target = %spec.address, reason = %e, "inform not sent");
            }
        }
        // Wait out the attempt even when recv fails at once (ICMP port unreachable while the
        // receiver is down), so retries are spaced by `timeout` as configured.
        loop {
            match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                Err(_) => break,
                Ok(Err(_)) => {
                    tokio::time::sleep_until(deadline).await;
                    break;
                }
                Ok(Ok(n)) => {
                    let acked = buf
                        .get(..n)
                        .and_then(|b| Message::decode(b).ok())
                        .is_some_and(|m| {
                            m.pdu.kind == tag::RESPONSE && m.pdu.request_id == request_id
                        });
                    if acked {
                        counters.acknowledged.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    // A late answer to an earlier inform or garbage: keep waiting.
                }
            }
        }
    }
    counters.unacknowledged.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(event = "snmp", target = %spec.address, request_id, retries = spec.retries, "inform not acknowledged");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transition(version: u8, to: &str, addr: &str) -> AlertEvent {
        AlertEvent::VrrpTransition {
            instance: "vi_1".into(),
            vrid: 51,
            version,
            from: "BACKUP".into(),
            to: to.into(),
            priority: 150,
            master_address: addr.parse().ok(),
            reason: "master_no_response".into(),
            if_index: 7,
        }
    }

    #[test]
    fn v3_master_raises_vrrpv3_new_master_then_state_change() {
        let n = notifications(&transition(3, "MASTER", "10.0.0.2"), "dir1");
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].trap_oid.to_string(), "1.3.6.1.2.1.207.0.1");
        assert_eq!(
            n[0].varbinds[0].0.to_string(),
            "1.3.6.1.2.1.207.1.1.1.1.3.7.51.1"
        );
        assert_eq!(n[0].varbinds[0].1, Value::OctetString(vec![10, 0, 0, 2]));
        assert_eq!(n[0].varbinds[1].1, Value::Integer(3));
        assert_eq!(n[1].trap_oid.to_string(), "1.3.6.1.4.1.64203.0.1");
    }

    #[test]
    fn v2_master_raises_rfc2787_trap() {
        let n = notifications(&transition(2, "MASTER", "10.0.0.2"), "dir1");
        assert_eq!(n[0].trap_oid.to_string(), "1.3.6.1.2.1.68.0.1");
        assert_eq!(
            n[0].varbinds[0].0.to_string(),
            "1.3.6.1.2.1.68.1.3.1.7.7.51"
        );
        assert_eq!(
            n[0].varbinds[0].1,
            Value::IpAddress(std::net::Ipv4Addr::new(10, 0, 0, 2))
        );
    }

    #[test]
    fn backup_raises_only_state_change() {
        let n = notifications(&transition(3, "BACKUP", "10.0.0.3"), "dir1");
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].varbinds[4].1, Value::Integer(2));
    }

    #[test]
    fn reasons_map_to_rfc6527() {
        assert_eq!(new_master_reason("priority"), 1);
        assert_eq!(new_master_reason("preempted"), 2);
        assert_eq!(new_master_reason("master_no_response"), 3);
    }

    #[test]
    fn long_text_is_cut_on_char_boundary() {
        let s = "é".repeat(200);
        let Value::OctetString(v) = text(&s) else {
            panic!("not a string");
        };
        assert_eq!(v.len(), 254);
        assert!(std::str::from_utf8(&v).is_ok());
    }
}
