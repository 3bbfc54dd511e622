//! Connection-synchronisation daemons (`ipvsadm --start-daemon`): the
//! `IPVS_DAEMON_ATTR_*` codec and the typed [`SyncDaemon`]. A director pair runs a master
//! daemon on the active node and a backup daemon on the standby, so established
//! connections survive a failover.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{DecodeError, DefaultNla, Nla, NlaBuffer, Parseable};

use crate::constants::*;
use crate::error::IpvsError;
use crate::nla::*;

/// One attribute of an `IPVS_CMD_ATTR_DAEMON` nest, in wire order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DaemonAttr {
    /// `IP_VS_STATE_*`.
    State(u32),
    McastIfn(String),
    SyncId(u32),
    SyncMaxLen(u16),
    McastGroup(Ipv4Addr),
    McastGroup6(Ipv6Addr),
    /// Host byte order, as the kernel keeps it (`nla_put_u16`).
    McastPort(u16),
    McastTtl(u8),
    /// Attribute this crate does not know, kept byte for byte.
    Other(DefaultNla),
}

impl Nla for DaemonAttr {
    fn value_len(&self) -> usize {
        match self {
            DaemonAttr::State(_) | DaemonAttr::SyncId(_) | DaemonAttr::McastGroup(_) => 4,
            DaemonAttr::McastIfn(s) => string_len(s),
            DaemonAttr::SyncMaxLen(_) | DaemonAttr::McastPort(_) => 2,
            DaemonAttr::McastGroup6(_) => 16,
            DaemonAttr::McastTtl(_) => 1,
            DaemonAttr::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            DaemonAttr::State(_) => IPVS_DAEMON_ATTR_STATE,
            DaemonAttr::McastIfn(_) => IPVS_DAEMON_ATTR_MCAST_IFN,
            DaemonAttr::SyncId(_) => IPVS_DAEMON_ATTR_SYNC_ID,
            DaemonAttr::SyncMaxLen(_) => IPVS_DAEMON_ATTR_SYNC_MAXLEN,
            DaemonAttr::McastGroup(_) => IPVS_DAEMON_ATTR_MCAST_GROUP,
            DaemonAttr::McastGroup6(_) => IPVS_DAEMON_ATTR_MCAST_GROUP6,
            DaemonAttr::McastPort(_) => IPVS_DAEMON_ATTR_MCAST_PORT,
            DaemonAttr::McastTtl(_) => IPVS_DAEMON_ATTR_MCAST_TTL,
            DaemonAttr::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            DaemonAttr::State(v) | DaemonAttr::SyncId(v) => buf.copy_from_slice(&v.to_ne_bytes()),
            DaemonAttr::McastIfn(s) => emit_string(buf, s),
            DaemonAttr::SyncMaxLen(v) | DaemonAttr::McastPort(v) => {
                buf.copy_from_slice(&v.to_ne_bytes())
            }
            DaemonAttr::McastGroup(a) => buf.copy_from_slice(&a.octets()),
            DaemonAttr::McastGroup6(a) => buf.copy_from_slice(&a.octets()),
            DaemonAttr::McastTtl(v) => buf[0] = *v,
            DaemonAttr::Other(nla) => nla.emit_value(buf),
        }
    }
}

impl<'a> Parseable<NlaBuffer<&'a [u8]>> for DaemonAttr {
    fn parse(nla: &NlaBuffer<&'a [u8]>) -> Result<Self, DecodeError> {
        let v = nla.value();
        Ok(match nla.kind() {
            IPVS_DAEMON_ATTR_STATE => DaemonAttr::State(read_u32(v, "IPVS_DAEMON_ATTR_STATE")?),
            IPVS_DAEMON_ATTR_MCAST_IFN => {
                DaemonAttr::McastIfn(read_string(v, "IPVS_DAEMON_ATTR_MCAST_IFN")?)
            }
            IPVS_DAEMON_ATTR_SYNC_ID => {
                DaemonAttr::SyncId(read_u32(v, "IPVS_DAEMON_ATTR_SYNC_ID")?)
            }
            IPVS_DAEMON_ATTR_SYNC_MAXLEN => {
                DaemonAttr::SyncMaxLen(read_u16(v, "IPVS_DAEMON_ATTR_SYNC_MAXLEN")?)
            }
            IPVS_DAEMON_ATTR_MCAST_GROUP => DaemonAttr::McastGroup(Ipv4Addr::from(
                read_array::<4>(v, "IPVS_DAEMON_ATTR_MCAST_GROUP")?,
            )),
            IPVS_DAEMON_ATTR_MCAST_GROUP6 => {
                DaemonAttr::McastGroup6(Ipv6Addr::from(read_array::<16>(
                    v,
                    "IPVS_DAEMON_ATTR_MCAST_GROUP6",
                )?))
            }
            IPVS_DAEMON_ATTR_MCAST_PORT => {
                DaemonAttr::McastPort(read_u16(v, "IPVS_DAEMON_ATTR_MCAST_PORT")?)
            }
            IPVS_DAEMON_ATTR_MCAST_TTL => {
                DaemonAttr::McastTtl(read_u8(v, "IPVS_DAEMON_ATTR_MCAST_TTL")?)
            }
            _ => DaemonAttr::Other(DefaultNla::parse(nla)?),
        })
    }
}

/// Role of a sync daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DaemonState {
    /// Sends connection updates (runs on the active director).
    Master,
    /// Receives them (runs on the standby).
    Backup,
}

impl DaemonState {
    pub fn number(self) -> u32 {
        match self {
            DaemonState::Master => IP_VS_STATE_MASTER,
            DaemonState::Backup => IP_VS_STATE_BACKUP,
        }
    }

    pub fn from_number(n: u32) -> Option<Self> {
        match n {
            IP_VS_STATE_MASTER => Some(DaemonState::Master),
            IP_VS_STATE_BACKUP => Some(DaemonState::Backup),
            _ => None,
        }
    }
}

/// A connection-synchronisation daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncDaemon {
    pub state: DaemonState,
    /// Interface the sync multicast is sent / received on.
    pub interface: String,
    pub sync_id: u32,
    /// UDP payload size; `None` lets the kernel derive it from the interface MTU.
    pub sync_maxlen: Option<u16>,
    /// Multicast group (IPv4 or IPv6); `None` means the kernel default 224.0.0.81.
    pub mcast_group: Option<IpAddr>,
    /// `None` means the kernel default port 8848.
    pub mcast_port: Option<u16>,
    /// `None` means the kernel default TTL 1.
    pub mcast_ttl: Option<u8>,
}

impl SyncDaemon {
    pub fn new(state: DaemonState, interface: impl Into<String>, sync_id: u32) -> Self {
        SyncDaemon {
            state,
            interface: interface.into(),
            sync_id,
            sync_maxlen: None,
            mcast_group: None,
            mcast_port: None,
            mcast_ttl: None,
        }
    }

    /// Whether a daemon read back from the kernel satisfies this one. Options left `None`
    /// here mean "kernel default" and match whatever the kernel filled in.
    pub fn satisfied_by(&self, running: &SyncDaemon) -> bool {
        fn opt<T: PartialEq>(want: &Option<T>, have: &Option<T>) -> bool {
            want.is_none() || want == have
        }
        self.state == running.state
            && self.interface == running.interface
            && self.sync_id == running.sync_id
            && opt(&self.sync_maxlen, &running.sync_maxlen)
            && opt(&self.mcast_group, &running.mcast_group)
            && opt(&self.mcast_port, &running.mcast_port)
            && opt(&self.mcast_ttl, &running.mcast_ttl)
    }

    /// Attributes for NEW_DAEMON.
    pub fn to_attrs(&self) -> Vec<DaemonAttr> {
        let mut attrs = vec![
            DaemonAttr::State(self.state.number()),
            DaemonAttr::McastIfn(self.interface.clone()),
            DaemonAttr::SyncId(self.sync_id),
        ];
        if let Some(v) = self.sync_maxlen {
            attrs.push(DaemonAttr::SyncMaxLen(v));
        }
        match self.mcast_group {
            Some(IpAddr::V4(a)) => attrs.push(DaemonAttr::McastGroup(a)),
            Some(IpAddr::V6(a)) => attrs.push(DaemonAttr::McastGroup6(a)),
            None => {}
        }
        if let Some(v) = self.mcast_port {
            attrs.push(DaemonAttr::McastPort(v));
        }
        if let Some(v) = self.mcast_ttl {
            attrs.push(DaemonAttr::McastTtl(v));
        }
        attrs
    }

    /// Builds a daemon from a GET_DAEMON reply nest.
    pub fn from_attrs(attrs: &[DaemonAttr]) -> Result<Self, IpvsError> {
        let mut state = None;
        let mut d = SyncDaemon::new(DaemonState::Master, String::new(), 0);
        let mut ifn = None;
        for attr in attrs {
            match attr {
                DaemonAttr::State(s) => {
                    state = Some(DaemonState::from_number(*s).ok_or(
                        IpvsError::UnexpectedValue {
                            what: "IPVS_DAEMON_ATTR_STATE",
                            value: u64::from(*s),
                        },
                    )?)
                }
                DaemonAttr::McastIfn(s) => ifn = Some(s.clone()),
                DaemonAttr::SyncId(v) => d.sync_id = *v,
                DaemonAttr::SyncMaxLen(v) => d.sync_maxlen = Some(*v),
                DaemonAttr::McastGroup(a) => d.mcast_group = Some(IpAddr::V4(*a)),
                DaemonAttr::McastGroup6(a) => d.mcast_group = Some(IpAddr::V6(*a)),
                DaemonAttr::McastPort(v) => d.mcast_port = Some(*v),
                DaemonAttr::McastTtl(v) => d.mcast_ttl = Some(*v),
                DaemonAttr::Other(_) => {}
            }
        }
        d.state = state.ok_or(IpvsError::MissingAttribute("IPVS_DAEMON_ATTR_STATE"))?;
        d.interface = ifn.ok_or(IpvsError::MissingAttribute("IPVS_DAEMON_ATTR_MCAST_IFN"))?;
        Ok(d)
    }
}
