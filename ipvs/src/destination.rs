//! Real servers (destinations) of a virtual service: the `IPVS_DEST_ATTR_*` codec and the
//! typed [`Destination`].

use std::net::IpAddr;

use netlink_packet_core::{DecodeError, DefaultNla, Nla, NlaBuffer, Parseable};

use crate::addr::{InetAddr, IpFamily};
use crate::constants::*;
use crate::error::IpvsError;
use crate::nla::*;
use crate::service::stats_nest;
use crate::stats::{Stats, StatsAttr, StatsWidth};

/// One attribute of an `IPVS_CMD_ATTR_DEST` nest, in wire order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DestAttr {
    Addr(InetAddr),
    /// Host byte order here; network byte order on the wire.
    Port(u16),
    /// `IP_VS_CONN_F_*` forwarding bits.
    FwdMethod(u32),
    Weight(u32),
    UThresh(u32),
    LThresh(u32),
    ActiveConns(u32),
    InactConns(u32),
    PersistConns(u32),
    Stats(Vec<StatsAttr>),
    AddrFamily(u16),
    Stats64(Vec<StatsAttr>),
    TunType(u8),
    /// Host byte order here; network byte order on the wire.
    TunPort(u16),
    TunFlags(u16),
    /// Attribute this crate does not know, kept byte for byte.
    Other(DefaultNla),
}

impl Nla for DestAttr {
    fn value_len(&self) -> usize {
        match self {
            DestAttr::Addr(_) => 16,
            DestAttr::Port(_)
            | DestAttr::AddrFamily(_)
            | DestAttr::TunPort(_)
            | DestAttr::TunFlags(_) => 2,
            DestAttr::TunType(_) => 1,
            DestAttr::FwdMethod(_)
            | DestAttr::Weight(_)
            | DestAttr::UThresh(_)
            | DestAttr::LThresh(_)
            | DestAttr::ActiveConns(_)
            | DestAttr::InactConns(_)
            | DestAttr::PersistConns(_) => 4,
            DestAttr::Stats(a) => stats_nest(StatsWidth::Legacy, a).value_len(),
            DestAttr::Stats64(a) => stats_nest(StatsWidth::Wide, a).value_len(),
            DestAttr::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            DestAttr::Addr(_) => IPVS_DEST_ATTR_ADDR,
            DestAttr::Port(_) => IPVS_DEST_ATTR_PORT,
            DestAttr::FwdMethod(_) => IPVS_DEST_ATTR_FWD_METHOD,
            DestAttr::Weight(_) => IPVS_DEST_ATTR_WEIGHT,
            DestAttr::UThresh(_) => IPVS_DEST_ATTR_U_THRESH,
            DestAttr::LThresh(_) => IPVS_DEST_ATTR_L_THRESH,
            DestAttr::ActiveConns(_) => IPVS_DEST_ATTR_ACTIVE_CONNS,
            DestAttr::InactConns(_) => IPVS_DEST_ATTR_INACT_CONNS,
            DestAttr::PersistConns(_) => IPVS_DEST_ATTR_PERSIST_CONNS,
            DestAttr::Stats(_) => IPVS_DEST_ATTR_STATS,
            DestAttr::AddrFamily(_) => IPVS_DEST_ATTR_ADDR_FAMILY,
            DestAttr::Stats64(_) => IPVS_DEST_ATTR_STATS64,
            DestAttr::TunType(_) => IPVS_DEST_ATTR_TUN_TYPE,
            DestAttr::TunPort(_) => IPVS_DEST_ATTR_TUN_PORT,
            DestAttr::TunFlags(_) => IPVS_DEST_ATTR_TUN_FLAGS,
            DestAttr::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            DestAttr::Addr(a) => buf.copy_from_slice(&a.0),
            DestAttr::Port(v) | DestAttr::TunPort(v) => buf.copy_from_slice(&v.to_be_bytes()),
            DestAttr::AddrFamily(v) | DestAttr::TunFlags(v) => {
                buf.copy_from_slice(&v.to_ne_bytes())
            }
            DestAttr::TunType(v) => buf[0] = *v,
            DestAttr::FwdMethod(v)
            | DestAttr::Weight(v)
            | DestAttr::UThresh(v)
            | DestAttr::LThresh(v)
            | DestAttr::ActiveConns(v)
            | DestAttr::InactConns(v)
            | DestAttr::PersistConns(v) => buf.copy_from_slice(&v.to_ne_bytes()),
            DestAttr::Stats(a) => stats_nest(StatsWidth::Legacy, a).emit_value(buf),
            DestAttr::Stats64(a) => stats_nest(StatsWidth::Wide, a).emit_value(buf),
            DestAttr::Other(nla) => nla.emit_value(buf),
        }
    }
}

impl<'a> Parseable<NlaBuffer<&'a [u8]>> for DestAttr {
    fn parse(nla: &NlaBuffer<&'a [u8]>) -> Result<Self, DecodeError> {
        let v = nla.value();
        Ok(match nla.kind() {
            IPVS_DEST_ATTR_ADDR => DestAttr::Addr(InetAddr(read_array(v, "IPVS_DEST_ATTR_ADDR")?)),
            IPVS_DEST_ATTR_PORT => DestAttr::Port(read_be16(v, "IPVS_DEST_ATTR_PORT")?),
            IPVS_DEST_ATTR_FWD_METHOD => {
                DestAttr::FwdMethod(read_u32(v, "IPVS_DEST_ATTR_FWD_METHOD")?)
            }
            IPVS_DEST_ATTR_WEIGHT => DestAttr::Weight(read_u32(v, "IPVS_DEST_ATTR_WEIGHT")?),
            IPVS_DEST_ATTR_U_THRESH => DestAttr::UThresh(read_u32(v, "IPVS_DEST_ATTR_U_THRESH")?),
            IPVS_DEST_ATTR_L_THRESH => DestAttr::LThresh(read_u32(v, "IPVS_DEST_ATTR_L_THRESH")?),
            IPVS_DEST_ATTR_ACTIVE_CONNS => {
                DestAttr::ActiveConns(read_u32(v, "IPVS_DEST_ATTR_ACTIVE_CONNS")?)
            }
            IPVS_DEST_ATTR_INACT_CONNS => {
                DestAttr::InactConns(read_u32(v, "IPVS_DEST_ATTR_INACT_CONNS")?)
            }
            IPVS_DEST_ATTR_PERSIST_CONNS => {
                DestAttr::PersistConns(read_u32(v, "IPVS_DEST_ATTR_PERSIST_CONNS")?)
            }
            IPVS_DEST_ATTR_STATS => DestAttr::Stats(StatsAttr::parse_nest(v, StatsWidth::Legacy)?),
            IPVS_DEST_ATTR_ADDR_FAMILY => {
                DestAttr::AddrFamily(read_u16(v, "IPVS_DEST_ATTR_ADDR_FAMILY")?)
            }
            IPVS_DEST_ATTR_STATS64 => {
                DestAttr::Stats64(StatsAttr::parse_nest(v, StatsWidth::Wide)?)
            }
            IPVS_DEST_ATTR_TUN_TYPE => DestAttr::TunType(read_u8(v, "IPVS_DEST_ATTR_TUN_TYPE")?),
            IPVS_DEST_ATTR_TUN_PORT => DestAttr::TunPort(read_be16(v, "IPVS_DEST_ATTR_TUN_PORT")?),
            IPVS_DEST_ATTR_TUN_FLAGS => {
                DestAttr::TunFlags(read_u16(v, "IPVS_DEST_ATTR_TUN_FLAGS")?)
            }
            _ => DestAttr::Other(DefaultNla::parse(nla)?),
        })
    }
}

/// Encapsulation of a tunnelled (`-i`) destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TunnelType {
    Ipip,
    /// Generic UDP Encapsulation; needs a non-zero tunnel port.
    Gue,
    Gre,
    Other(u8),
}

impl TunnelType {
    pub fn number(self) -> u8 {
        match self {
            TunnelType::Ipip => IP_VS_CONN_F_TUNNEL_TYPE_IPIP,
            TunnelType::Gue => IP_VS_CONN_F_TUNNEL_TYPE_GUE,
            TunnelType::Gre => IP_VS_CONN_F_TUNNEL_TYPE_GRE,
            TunnelType::Other(n) => n,
        }
    }

    pub fn from_number(n: u8) -> Self {
        match n {
            IP_VS_CONN_F_TUNNEL_TYPE_IPIP => TunnelType::Ipip,
            IP_VS_CONN_F_TUNNEL_TYPE_GUE => TunnelType::Gue,
            IP_VS_CONN_F_TUNNEL_TYPE_GRE => TunnelType::Gre,
            other => TunnelType::Other(other),
        }
    }
}

/// How the director forwards packets to a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ForwardMethod {
    /// NAT (`ipvsadm -m`).
    Masquerade,
    /// Direct routing (`-g`); the destination address must be reachable on a link.
    DirectRoute,
    /// IP tunnelling (`-i`); `port` and `flags` (`IP_VS_TUNNEL_ENCAP_FLAG_*`) matter for GUE/GRE.
    Tunnel {
        tun_type: TunnelType,
        port: u16,
        flags: u16,
    },
    /// Local node (the kernel reports this for destinations that are local addresses).
    LocalNode,
    /// Any other `IP_VS_CONN_F_FWD_MASK` value the kernel reported.
    Other(u32),
}

impl ForwardMethod {
    /// IPIP tunnel, the classic `ipvsadm -i`.
    pub const TUNNEL_IPIP: ForwardMethod = ForwardMethod::Tunnel {
        tun_type: TunnelType::Ipip,
        port: 0,
        flags: 0,
    };

    pub fn conn_flags(self) -> u32 {
        match self {
            ForwardMethod::Masquerade => IP_VS_CONN_F_MASQ,
            ForwardMethod::DirectRoute => IP_VS_CONN_F_DROUTE,
            ForwardMethod::Tunnel { .. } => IP_VS_CONN_F_TUNNEL,
            ForwardMethod::LocalNode => IP_VS_CONN_F_LOCALNODE,
            ForwardMethod::Other(n) => n,
        }
    }
}

/// Identifies a destination within its service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestKey {
    pub addr: IpAddr,
    pub port: u16,
}

impl std::fmt::Display for DestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.addr {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
        }
    }
}

/// A real server of a virtual service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    pub addr: IpAddr,
    pub port: u16,
    pub forward: ForwardMethod,
    /// Scheduling weight; 0 quiesces the destination (no new connections, existing ones
    /// continue), which is different from removing it.
    pub weight: u32,
    /// Upper connection threshold (0 = none).
    pub upper_threshold: u32,
    /// Lower connection threshold (0 = none).
    pub lower_threshold: u32,
    /// Read back only: active / inactive / persistent connection counts.
    pub active_conns: u32,
    pub inactive_conns: u32,
    pub persistent_conns: u32,
    /// Read back only.
    pub stats: Option<Stats>,
}

impl Destination {
    pub fn new(addr: IpAddr, port: u16, forward: ForwardMethod, weight: u32) -> Self {
        Destination {
            addr,
            port,
            forward,
            weight,
            upper_threshold: 0,
            lower_threshold: 0,
            active_conns: 0,
            inactive_conns: 0,
            persistent_conns: 0,
            stats: None,
        }
    }

    pub fn key(&self) -> DestKey {
        DestKey {
            addr: self.addr,
            port: self.port,
        }
    }

    /// Whether anything the user configures differs (counters and stats are ignored).
    pub fn config_differs(&self, other: &Destination) -> bool {
        self.forward != other.forward
            || self.weight != other.weight
            || self.upper_threshold != other.upper_threshold
            || self.lower_threshold != other.lower_threshold
    }

    /// Attributes for NEW_DEST / SET_DEST.
    pub fn to_attrs(&self) -> Vec<DestAttr> {
        let mut attrs = vec![
            DestAttr::Addr(InetAddr::from_ip(self.addr)),
            DestAttr::Port(self.port),
            DestAttr::FwdMethod(self.forward.conn_flags()),
            DestAttr::Weight(self.weight),
            DestAttr::UThresh(self.upper_threshold),
            DestAttr::LThresh(self.lower_threshold),
            DestAttr::AddrFamily(IpFamily::of(&self.addr).af()),
        ];
        if let ForwardMethod::Tunnel {
            tun_type,
            port,
            flags,
        } = self.forward
        {
            attrs.push(DestAttr::TunType(tun_type.number()));
            attrs.push(DestAttr::TunPort(port));
            attrs.push(DestAttr::TunFlags(flags));
        }
        attrs
    }

    /// Key-only attributes for DEL_DEST.
    pub fn key_attrs(key: &DestKey) -> Vec<DestAttr> {
        vec![
            DestAttr::Addr(InetAddr::from_ip(key.addr)),
            DestAttr::Port(key.port),
            DestAttr::AddrFamily(IpFamily::of(&key.addr).af()),
        ]
    }

    /// Builds a destination from a kernel reply nest. Replies from kernels older than 3.18
    /// lack `IPVS_DEST_ATTR_ADDR_FAMILY`; `service_family` is the fallback then.
    pub fn from_attrs(attrs: &[DestAttr], service_family: IpFamily) -> Result<Self, IpvsError> {
        let mut addr = None;
        let mut port = None;
        let mut fwd = None;
        let mut family = service_family;
        let mut tun = (TunnelType::Ipip, 0u16, 0u16);
        let mut dest = Destination::new(IpAddr::from([0u8; 4]), 0, ForwardMethod::Masquerade, 0);
        let mut stats = None;
        let mut stats64 = None;
        for attr in attrs {
            match attr {
                DestAttr::Addr(a) => addr = Some(*a),
                DestAttr::Port(p) => port = Some(*p),
                DestAttr::FwdMethod(f) => fwd = Some(*f),
                DestAttr::Weight(w) => dest.weight = *w,
                DestAttr::UThresh(v) => dest.upper_threshold = *v,
                DestAttr::LThresh(v) => dest.lower_threshold = *v,
                DestAttr::ActiveConns(v) => dest.active_conns = *v,
                DestAttr::InactConns(v) => dest.inactive_conns = *v,
                DestAttr::PersistConns(v) => dest.persistent_conns = *v,
                DestAttr::Stats(s) => stats = Some(Stats::from_attrs(s)),
                DestAttr::Stats64(s) => stats64 = Some(Stats::from_attrs(s)),
                DestAttr::AddrFamily(af) => {
                    family = IpFamily::from_af(*af).ok_or(IpvsError::UnsupportedFamily(*af))?
                }
                DestAttr::TunType(t) => tun.0 = TunnelType::from_number(*t),
                DestAttr::TunPort(p) => tun.1 = *p,
                DestAttr::TunFlags(f) => tun.2 = *f,
                DestAttr::Other(_) => {}
            }
        }
        dest.addr = addr
            .ok_or(IpvsError::MissingAttribute("IPVS_DEST_ATTR_ADDR"))?
            .to_ip(family);
        dest.port = port.ok_or(IpvsError::MissingAttribute("IPVS_DEST_ATTR_PORT"))?;
        let fwd = fwd.ok_or(IpvsError::MissingAttribute("IPVS_DEST_ATTR_FWD_METHOD"))?;
        dest.forward = match fwd & IP_VS_CONN_F_FWD_MASK {
            IP_VS_CONN_F_MASQ => ForwardMethod::Masquerade,
            IP_VS_CONN_F_DROUTE => ForwardMethod::DirectRoute,
            IP_VS_CONN_F_TUNNEL => ForwardMethod::Tunnel {
                tun_type: tun.0,
                port: tun.1,
                flags: tun.2,
            },
            IP_VS_CONN_F_LOCALNODE => ForwardMethod::LocalNode,
            other => ForwardMethod::Other(other),
        };
        dest.stats = stats64.or(stats);
        Ok(dest)
    }
}
