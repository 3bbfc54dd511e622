//! Virtual services: the `IPVS_SVC_ATTR_*` attribute codec and the typed [`Service`].

use std::net::IpAddr;

use netlink_packet_core::{DecodeError, DefaultNla, Nla, NlaBuffer, Parseable};

use crate::addr::{InetAddr, IpFamily};
use crate::constants::*;
use crate::error::IpvsError;
use crate::nla::*;
use crate::stats::{Stats, StatsAttr, StatsNest, StatsWidth};

/// `struct ip_vs_flags`: the kernel applies `flags` only where `mask` has bits set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FlagsMask {
    pub flags: u32,
    pub mask: u32,
}

/// One attribute of an `IPVS_CMD_ATTR_SERVICE` nest, in wire order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceAttr {
    Af(u16),
    Protocol(u16),
    Addr(InetAddr),
    /// Host byte order here; network byte order on the wire.
    Port(u16),
    Fwmark(u32),
    SchedName(String),
    Flags(FlagsMask),
    Timeout(u32),
    /// Raw `__be32` as the kernel stores it (IPv4 mask bytes, or IPv6 prefix length).
    Netmask(u32),
    Stats(Vec<StatsAttr>),
    PeName(String),
    Stats64(Vec<StatsAttr>),
    /// Attribute this crate does not know, kept byte for byte.
    Other(DefaultNla),
}

impl Nla for ServiceAttr {
    fn value_len(&self) -> usize {
        match self {
            ServiceAttr::Af(_) | ServiceAttr::Protocol(_) | ServiceAttr::Port(_) => 2,
            ServiceAttr::Fwmark(_) | ServiceAttr::Timeout(_) | ServiceAttr::Netmask(_) => 4,
            ServiceAttr::Addr(_) => 16,
            ServiceAttr::Flags(_) => 8,
            ServiceAttr::SchedName(s) | ServiceAttr::PeName(s) => string_len(s),
            ServiceAttr::Stats(a) => stats_nest(StatsWidth::Legacy, a).value_len(),
            ServiceAttr::Stats64(a) => stats_nest(StatsWidth::Wide, a).value_len(),
            ServiceAttr::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            ServiceAttr::Af(_) => IPVS_SVC_ATTR_AF,
            ServiceAttr::Protocol(_) => IPVS_SVC_ATTR_PROTOCOL,
            ServiceAttr::Addr(_) => IPVS_SVC_ATTR_ADDR,
            ServiceAttr::Port(_) => IPVS_SVC_ATTR_PORT,
            ServiceAttr::Fwmark(_) => IPVS_SVC_ATTR_FWMARK,
            ServiceAttr::SchedName(_) => IPVS_SVC_ATTR_SCHED_NAME,
            ServiceAttr::Flags(_) => IPVS_SVC_ATTR_FLAGS,
            ServiceAttr::Timeout(_) => IPVS_SVC_ATTR_TIMEOUT,
            ServiceAttr::Netmask(_) => IPVS_SVC_ATTR_NETMASK,
            ServiceAttr::Stats(_) => IPVS_SVC_ATTR_STATS,
            ServiceAttr::PeName(_) => IPVS_SVC_ATTR_PE_NAME,
            ServiceAttr::Stats64(_) => IPVS_SVC_ATTR_STATS64,
            ServiceAttr::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            ServiceAttr::Af(v) | ServiceAttr::Protocol(v) => buf.copy_from_slice(&v.to_ne_bytes()),
            ServiceAttr::Port(v) => buf.copy_from_slice(&v.to_be_bytes()),
            ServiceAttr::Fwmark(v) | ServiceAttr::Timeout(v) | ServiceAttr::Netmask(v) => {
                buf.copy_from_slice(&v.to_ne_bytes())
            }
            ServiceAttr::Addr(a) => buf.copy_from_slice(&a.0),
            ServiceAttr::Flags(f) => {
                buf[..4].copy_from_slice(&f.flags.to_ne_bytes());
                buf[4..8].copy_from_slice(&f.mask.to_ne_bytes());
            }
            ServiceAttr::SchedName(s) | ServiceAttr::PeName(s) => emit_string(buf, s),
            ServiceAttr::Stats(a) => stats_nest(StatsWidth::Legacy, a).emit_value(buf),
            ServiceAttr::Stats64(a) => stats_nest(StatsWidth::Wide, a).emit_value(buf),
            ServiceAttr::Other(nla) => nla.emit_value(buf),
        }
    }
}

pub(crate) fn stats_nest(width: StatsWidth, attrs: &[StatsAttr]) -> StatsNest<'_> {
    StatsNest { width, attrs }
}

impl<'a> Parseable<NlaBuffer<&'a [u8]>> for ServiceAttr {
    fn parse(nla: &NlaBuffer<&'a [u8]>) -> Result<Self, DecodeError> {
        let v = nla.value();
        Ok(match nla.kind() {
            IPVS_SVC_ATTR_AF => ServiceAttr::Af(read_u16(v, "IPVS_SVC_ATTR_AF")?),
            IPVS_SVC_ATTR_PROTOCOL => ServiceAttr::Protocol(read_u16(v, "IPVS_SVC_ATTR_PROTOCOL")?),
            IPVS_SVC_ATTR_ADDR => ServiceAttr::Addr(InetAddr(read_array(v, "IPVS_SVC_ATTR_ADDR")?)),
            IPVS_SVC_ATTR_PORT => ServiceAttr::Port(read_be16(v, "IPVS_SVC_ATTR_PORT")?),
            IPVS_SVC_ATTR_FWMARK => ServiceAttr::Fwmark(read_u32(v, "IPVS_SVC_ATTR_FWMARK")?),
            IPVS_SVC_ATTR_SCHED_NAME => {
                ServiceAttr::SchedName(read_string(v, "IPVS_SVC_ATTR_SCHED_NAME")?)
            }
            IPVS_SVC_ATTR_FLAGS => {
                let raw: [u8; 8] = read_array(v, "IPVS_SVC_ATTR_FLAGS")?;
                ServiceAttr::Flags(FlagsMask {
                    flags: u32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]),
                    mask: u32::from_ne_bytes([raw[4], raw[5], raw[6], raw[7]]),
                })
            }
            IPVS_SVC_ATTR_TIMEOUT => ServiceAttr::Timeout(read_u32(v, "IPVS_SVC_ATTR_TIMEOUT")?),
            IPVS_SVC_ATTR_NETMASK => ServiceAttr::Netmask(read_u32(v, "IPVS_SVC_ATTR_NETMASK")?),
            IPVS_SVC_ATTR_STATS => {
                ServiceAttr::Stats(StatsAttr::parse_nest(v, StatsWidth::Legacy)?)
            }
            IPVS_SVC_ATTR_PE_NAME => ServiceAttr::PeName(read_string(v, "IPVS_SVC_ATTR_PE_NAME")?),
            IPVS_SVC_ATTR_STATS64 => {
                ServiceAttr::Stats64(StatsAttr::parse_nest(v, StatsWidth::Wide)?)
            }
            _ => ServiceAttr::Other(DefaultNla::parse(nla)?),
        })
    }
}

/// Transport protocol of a virtual service (`IPPROTO_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
    Other(u16),
}

impl Protocol {
    pub fn number(self) -> u16 {
        match self {
            Protocol::Tcp => libc::IPPROTO_TCP as u16,
            Protocol::Udp => libc::IPPROTO_UDP as u16,
            Protocol::Sctp => libc::IPPROTO_SCTP as u16,
            Protocol::Other(n) => n,
        }
    }

    pub fn from_number(n: u16) -> Self {
        match i32::from(n) {
            libc::IPPROTO_TCP => Protocol::Tcp,
            libc::IPPROTO_UDP => Protocol::Udp,
            libc::IPPROTO_SCTP => Protocol::Sctp,
            _ => Protocol::Other(n),
        }
    }
}

/// What identifies a virtual service in the kernel: either (protocol, address, port) or a
/// firewall mark plus the address family it applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ServiceKey {
    Inet {
        protocol: Protocol,
        addr: IpAddr,
        port: u16,
    },
    Fwmark {
        family: IpFamily,
        mark: u32,
    },
}

impl ServiceKey {
    pub fn tcp(addr: IpAddr, port: u16) -> Self {
        ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr,
            port,
        }
    }

    pub fn udp(addr: IpAddr, port: u16) -> Self {
        ServiceKey::Inet {
            protocol: Protocol::Udp,
            addr,
            port,
        }
    }

    pub fn fwmark(family: IpFamily, mark: u32) -> Self {
        ServiceKey::Fwmark { family, mark }
    }

    pub fn family(&self) -> IpFamily {
        match self {
            ServiceKey::Inet { addr, .. } => IpFamily::of(addr),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }

    /// The attributes that select this service in a request (what `ipvsadm` sends too).
    pub fn to_attrs(&self) -> Vec<ServiceAttr> {
        match *self {
            ServiceKey::Inet {
                protocol,
                addr,
                port,
            } => vec![
                ServiceAttr::Af(IpFamily::of(&addr).af()),
                ServiceAttr::Protocol(protocol.number()),
                ServiceAttr::Addr(InetAddr::from_ip(addr)),
                ServiceAttr::Port(port),
            ],
            ServiceKey::Fwmark { family, mark } => {
                vec![ServiceAttr::Af(family.af()), ServiceAttr::Fwmark(mark)]
            }
        }
    }
}

impl std::fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceKey::Inet {
                protocol,
                addr,
                port,
            } => {
                let proto = match protocol {
                    Protocol::Tcp => "tcp".to_string(),
                    Protocol::Udp => "udp".to_string(),
                    Protocol::Sctp => "sctp".to_string(),
                    Protocol::Other(n) => format!("proto{n}"),
                };
                match addr {
                    IpAddr::V4(a) => write!(f, "{proto}/{a}:{port}"),
                    IpAddr::V6(a) => write!(f, "{proto}/[{a}]:{port}"),
                }
            }
            ServiceKey::Fwmark { family, mark } => write!(f, "fwmark/{family:?}/{mark}"),
        }
    }
}

/// `IP_VS_SVC_F_*` service flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ServiceFlags(pub u32);

impl ServiceFlags {
    pub const PERSISTENT: ServiceFlags = ServiceFlags(IP_VS_SVC_F_PERSISTENT);
    /// Set by the kernel on every hashed (i.e. live) service; never meaningful to request.
    pub const HASHED: ServiceFlags = ServiceFlags(IP_VS_SVC_F_HASHED);
    pub const ONE_PACKET: ServiceFlags = ServiceFlags(IP_VS_SVC_F_ONEPACKET);
    pub const SCHED1: ServiceFlags = ServiceFlags(IP_VS_SVC_F_SCHED1);
    pub const SCHED2: ServiceFlags = ServiceFlags(IP_VS_SVC_F_SCHED2);
    pub const SCHED3: ServiceFlags = ServiceFlags(IP_VS_SVC_F_SCHED3);
    /// `sh-fallback`: the sh scheduler skips overloaded / weight-0 servers.
    pub const SH_FALLBACK: ServiceFlags = ServiceFlags::SCHED1;
    /// `sh-port`: the sh scheduler also hashes the source port.
    pub const SH_PORT: ServiceFlags = ServiceFlags::SCHED2;
    /// `mh-fallback`, same bit as `sh-fallback`.
    pub const MH_FALLBACK: ServiceFlags = ServiceFlags::SCHED1;
    /// `mh-port`, same bit as `sh-port`.
    pub const MH_PORT: ServiceFlags = ServiceFlags::SCHED2;

    pub fn contains(self, other: ServiceFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The flags a user can configure: everything except the kernel-managed `HASHED`.
    pub fn configurable(self) -> ServiceFlags {
        ServiceFlags(self.0 & !IP_VS_SVC_F_HASHED)
    }
}

impl std::ops::BitOr for ServiceFlags {
    type Output = ServiceFlags;
    fn bitor(self, rhs: ServiceFlags) -> ServiceFlags {
        ServiceFlags(self.0 | rhs.0)
    }
}

/// A virtual service: its key, scheduling configuration and (when read back) its counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub key: ServiceKey,
    /// Scheduler name as the kernel knows it: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed,
    /// nq, mh, fo, ovf.
    pub scheduler: String,
    pub flags: ServiceFlags,
    /// Persistence timeout in seconds (meaningful with [`ServiceFlags::PERSISTENT`]).
    pub timeout: u32,
    /// Persistence netmask, raw as the kernel stores it: for IPv4 the mask in network byte
    /// order (use [`Service::ipv4_netmask`]), for IPv6 the prefix length.
    pub netmask: u32,
    /// Persistence engine (e.g. "sip"), if any.
    pub pe_name: Option<String>,
    /// Counters, present only on services read back from the kernel.
    pub stats: Option<Stats>,
}

impl Service {
    /// A service with the defaults `ipvsadm -A` uses: no flags, no persistence, full netmask.
    pub fn new(key: ServiceKey, scheduler: impl Into<String>) -> Self {
        let netmask = match key.family() {
            IpFamily::V4 => u32::MAX,
            IpFamily::V6 => 128,
        };
        Service {
            key,
            scheduler: scheduler.into(),
            flags: ServiceFlags::default(),
            timeout: 0,
            netmask,
            pe_name: None,
            stats: None,
        }
    }

    /// Raw netmask value for an IPv4 prefix length (e.g. 24 → 255.255.255.0).
    pub fn ipv4_netmask(prefix_len: u8) -> u32 {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(prefix_len.min(32)))
            .unwrap_or(0);
        u32::from_ne_bytes(mask.to_be_bytes())
    }

    /// Whether the configuration the kernel can change in place (SET_SERVICE) differs.
    pub fn config_differs(&self, other: &Service) -> bool {
        self.scheduler != other.scheduler
            || self.flags.configurable() != other.flags.configurable()
            || self.timeout != other.timeout
            || self.netmask != other.netmask
            || self.pe_name.as_deref().unwrap_or("") != other.pe_name.as_deref().unwrap_or("")
    }

    /// Full attribute set for NEW_SERVICE / SET_SERVICE (the kernel requires scheduler,
    /// flags, timeout and netmask on both).
    pub fn to_attrs(&self) -> Vec<ServiceAttr> {
        let mut attrs = self.key.to_attrs();
        attrs.push(ServiceAttr::SchedName(self.scheduler.clone()));
        if let Some(pe) = &self.pe_name {
            attrs.push(ServiceAttr::PeName(pe.clone()));
        }
        attrs.push(ServiceAttr::Flags(FlagsMask {
            flags: self.flags.configurable().0,
            mask: u32::MAX,
        }));
        attrs.push(ServiceAttr::Timeout(self.timeout));
        attrs.push(ServiceAttr::Netmask(self.netmask));
        attrs
    }

    /// Builds a service from a kernel reply nest.
    pub fn from_attrs(attrs: &[ServiceAttr]) -> Result<Self, IpvsError> {
        let mut af = None;
        let mut protocol = None;
        let mut addr = None;
        let mut port = None;
        let mut fwmark = None;
        let mut scheduler = None;
        let mut flags = ServiceFlags::default();
        let mut timeout = 0;
        let mut netmask = None;
        let mut pe_name = None;
        let mut stats = None;
        let mut stats64 = None;
        for attr in attrs {
            match attr {
                ServiceAttr::Af(v) => af = Some(*v),
                ServiceAttr::Protocol(v) => protocol = Some(*v),
                ServiceAttr::Addr(v) => addr = Some(*v),
                ServiceAttr::Port(v) => port = Some(*v),
                ServiceAttr::Fwmark(v) => fwmark = Some(*v),
                ServiceAttr::SchedName(v) => scheduler = Some(v.clone()),
                ServiceAttr::Flags(v) => flags = ServiceFlags(v.flags & v.mask),
                ServiceAttr::Timeout(v) => timeout = *v,
                ServiceAttr::Netmask(v) => netmask = Some(*v),
                ServiceAttr::Stats(v) => stats = Some(Stats::from_attrs(v)),
                ServiceAttr::PeName(v) => pe_name = Some(v.clone()),
                ServiceAttr::Stats64(v) => stats64 = Some(Stats::from_attrs(v)),
                ServiceAttr::Other(_) => {}
            }
        }
        let af = af.ok_or(IpvsError::MissingAttribute("IPVS_SVC_ATTR_AF"))?;
        let family = IpFamily::from_af(af).ok_or(IpvsError::UnsupportedFamily(af))?;
        let key = match (fwmark, protocol, addr, port) {
            (Some(mark), _, _, _) if mark != 0 => ServiceKey::Fwmark { family, mark },
            (_, Some(protocol), Some(addr), Some(port)) => ServiceKey::Inet {
                protocol: Protocol::from_number(protocol),
                addr: addr.to_ip(family),
                port,
            },
            _ => {
                return Err(IpvsError::MissingAttribute(
                    "IPVS_SVC_ATTR_FWMARK or ADDR/PORT/PROTOCOL",
                ));
            }
        };
        let mut service = Service::new(key, scheduler.unwrap_or_default());
        service.flags = flags;
        service.timeout = timeout;
        if let Some(netmask) = netmask {
            service.netmask = netmask;
        }
        service.pe_name = pe_name.filter(|p| !p.is_empty());
        service.stats = stats64.or(stats);
        Ok(service)
    }
}
