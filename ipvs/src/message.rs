//! The IPVS generic-netlink message: command + top-level attributes, plus framing helpers
//! that split a received datagram into netlink messages without ever panicking.

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, NetlinkBuffer, NetlinkMessage, Nla, NlaBuffer, Parseable,
    ParseableParametrized,
};
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};

use crate::constants::*;
use crate::daemon::DaemonAttr;
use crate::destination::DestAttr;
use crate::nla::*;
use crate::service::ServiceAttr;

/// `IPVS_CMD_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IpvsCmd {
    NewService,
    SetService,
    DelService,
    GetService,
    NewDest,
    SetDest,
    DelDest,
    GetDest,
    NewDaemon,
    DelDaemon,
    GetDaemon,
    SetConfig,
    GetConfig,
    SetInfo,
    GetInfo,
    Zero,
    Flush,
    Other(u8),
}

impl IpvsCmd {
    pub fn number(self) -> u8 {
        match self {
            IpvsCmd::NewService => IPVS_CMD_NEW_SERVICE,
            IpvsCmd::SetService => IPVS_CMD_SET_SERVICE,
            IpvsCmd::DelService => IPVS_CMD_DEL_SERVICE,
            IpvsCmd::GetService => IPVS_CMD_GET_SERVICE,
            IpvsCmd::NewDest => IPVS_CMD_NEW_DEST,
            IpvsCmd::SetDest => IPVS_CMD_SET_DEST,
            IpvsCmd::DelDest => IPVS_CMD_DEL_DEST,
            IpvsCmd::GetDest => IPVS_CMD_GET_DEST,
            IpvsCmd::NewDaemon => IPVS_CMD_NEW_DAEMON,
            IpvsCmd::DelDaemon => IPVS_CMD_DEL_DAEMON,
            IpvsCmd::GetDaemon => IPVS_CMD_GET_DAEMON,
            IpvsCmd::SetConfig => IPVS_CMD_SET_CONFIG,
            IpvsCmd::GetConfig => IPVS_CMD_GET_CONFIG,
            IpvsCmd::SetInfo => IPVS_CMD_SET_INFO,
            IpvsCmd::GetInfo => IPVS_CMD_GET_INFO,
            IpvsCmd::Zero => IPVS_CMD_ZERO,
            IpvsCmd::Flush => IPVS_CMD_FLUSH,
            IpvsCmd::Other(n) => n,
        }
    }

    pub fn from_number(n: u8) -> Self {
        match n {
            IPVS_CMD_NEW_SERVICE => IpvsCmd::NewService,
            IPVS_CMD_SET_SERVICE => IpvsCmd::SetService,
            IPVS_CMD_DEL_SERVICE => IpvsCmd::DelService,
            IPVS_CMD_GET_SERVICE => IpvsCmd::GetService,
            IPVS_CMD_NEW_DEST => IpvsCmd::NewDest,
            IPVS_CMD_SET_DEST => IpvsCmd::SetDest,
            IPVS_CMD_DEL_DEST => IpvsCmd::DelDest,
            IPVS_CMD_GET_DEST => IpvsCmd::GetDest,
            IPVS_CMD_NEW_DAEMON => IpvsCmd::NewDaemon,
            IPVS_CMD_DEL_DAEMON => IpvsCmd::DelDaemon,
            IPVS_CMD_GET_DAEMON => IpvsCmd::GetDaemon,
            IPVS_CMD_SET_CONFIG => IpvsCmd::SetConfig,
            IPVS_CMD_GET_CONFIG => IpvsCmd::GetConfig,
            IPVS_CMD_SET_INFO => IpvsCmd::SetInfo,
            IPVS_CMD_GET_INFO => IpvsCmd::GetInfo,
            IPVS_CMD_ZERO => IpvsCmd::Zero,
            IPVS_CMD_FLUSH => IpvsCmd::Flush,
            other => IpvsCmd::Other(other),
        }
    }

    /// GET_INFO / SET_INFO carry `IPVS_INFO_ATTR_*` at the top level instead of
    /// `IPVS_CMD_ATTR_*` (the numbers overlap, so the command decides).
    fn carries_info(self) -> bool {
        matches!(self, IpvsCmd::GetInfo | IpvsCmd::SetInfo)
    }
}

/// Top-level attribute of an IPVS message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IpvsAttr {
    Service(Vec<ServiceAttr>),
    Dest(Vec<DestAttr>),
    Daemon(Vec<DaemonAttr>),
    TimeoutTcp(u32),
    TimeoutTcpFin(u32),
    TimeoutUdp(u32),
    /// `IPVS_INFO_ATTR_VERSION` (only in GET_INFO / SET_INFO messages).
    InfoVersion(u32),
    /// `IPVS_INFO_ATTR_CONN_TAB_SIZE` (only in GET_INFO / SET_INFO messages).
    InfoConnTabSize(u32),
    /// Attribute this crate does not know, kept byte for byte.
    Other(DefaultNla),
}

impl Nla for IpvsAttr {
    fn value_len(&self) -> usize {
        match self {
            IpvsAttr::Service(a) => nested_len(a),
            IpvsAttr::Dest(a) => nested_len(a),
            IpvsAttr::Daemon(a) => nested_len(a),
            IpvsAttr::TimeoutTcp(_)
            | IpvsAttr::TimeoutTcpFin(_)
            | IpvsAttr::TimeoutUdp(_)
            | IpvsAttr::InfoVersion(_)
            | IpvsAttr::InfoConnTabSize(_) => 4,
            IpvsAttr::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            IpvsAttr::Service(_) => IPVS_CMD_ATTR_SERVICE,
            IpvsAttr::Dest(_) => IPVS_CMD_ATTR_DEST,
            IpvsAttr::Daemon(_) => IPVS_CMD_ATTR_DAEMON,
            IpvsAttr::TimeoutTcp(_) => IPVS_CMD_ATTR_TIMEOUT_TCP,
            IpvsAttr::TimeoutTcpFin(_) => IPVS_CMD_ATTR_TIMEOUT_TCP_FIN,
            IpvsAttr::TimeoutUdp(_) => IPVS_CMD_ATTR_TIMEOUT_UDP,
            IpvsAttr::InfoVersion(_) => IPVS_INFO_ATTR_VERSION,
            IpvsAttr::InfoConnTabSize(_) => IPVS_INFO_ATTR_CONN_TAB_SIZE,
            IpvsAttr::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            IpvsAttr::Service(a) => emit_nested(a, buf),
            IpvsAttr::Dest(a) => emit_nested(a, buf),
            IpvsAttr::Daemon(a) => emit_nested(a, buf),
            IpvsAttr::TimeoutTcp(v)
            | IpvsAttr::TimeoutTcpFin(v)
            | IpvsAttr::TimeoutUdp(v)
            | IpvsAttr::InfoVersion(v)
            | IpvsAttr::InfoConnTabSize(v) => buf.copy_from_slice(&v.to_ne_bytes()),
            IpvsAttr::Other(nla) => nla.emit_value(buf),
        }
    }
}

impl IpvsAttr {
    fn parse(nla: &NlaBuffer<&[u8]>, cmd: IpvsCmd) -> Result<Self, DecodeError> {
        let v = nla.value();
        if cmd.carries_info() {
            return Ok(match nla.kind() {
                IPVS_INFO_ATTR_VERSION => {
                    IpvsAttr::InfoVersion(read_u32(v, "IPVS_INFO_ATTR_VERSION")?)
                }
                IPVS_INFO_ATTR_CONN_TAB_SIZE => {
                    IpvsAttr::InfoConnTabSize(read_u32(v, "IPVS_INFO_ATTR_CONN_TAB_SIZE")?)
                }
                _ => IpvsAttr::Other(DefaultNla::parse(nla)?),
            });
        }
        Ok(match nla.kind() {
            IPVS_CMD_ATTR_SERVICE => IpvsAttr::Service(parse_all(v, |n| ServiceAttr::parse(n))?),
            IPVS_CMD_ATTR_DEST => IpvsAttr::Dest(parse_all(v, |n| DestAttr::parse(n))?),
            IPVS_CMD_ATTR_DAEMON => IpvsAttr::Daemon(parse_all(v, |n| DaemonAttr::parse(n))?),
            IPVS_CMD_ATTR_TIMEOUT_TCP => {
                IpvsAttr::TimeoutTcp(read_u32(v, "IPVS_CMD_ATTR_TIMEOUT_TCP")?)
            }
            IPVS_CMD_ATTR_TIMEOUT_TCP_FIN => {
                IpvsAttr::TimeoutTcpFin(read_u32(v, "IPVS_CMD_ATTR_TIMEOUT_TCP_FIN")?)
            }
            IPVS_CMD_ATTR_TIMEOUT_UDP => {
                IpvsAttr::TimeoutUdp(read_u32(v, "IPVS_CMD_ATTR_TIMEOUT_UDP")?)
            }
            _ => IpvsAttr::Other(DefaultNla::parse(nla)?),
        })
    }
}

/// Payload of an IPVS generic-netlink message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpvsMessage {
    pub cmd: IpvsCmd,
    pub attrs: Vec<IpvsAttr>,
}

impl IpvsMessage {
    pub fn new(cmd: IpvsCmd, attrs: Vec<IpvsAttr>) -> Self {
        IpvsMessage { cmd, attrs }
    }
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        IPVS_GENL_NAME
    }

    fn command(&self) -> u8 {
        self.cmd.number()
    }

    fn version(&self) -> u8 {
        IPVS_GENL_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        nested_len(&self.attrs)
    }

    fn emit(&self, buffer: &mut [u8]) {
        emit_nested(&self.attrs, buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        let cmd = IpvsCmd::from_number(header.cmd);
        let attrs = parse_all(buf, |nla| IpvsAttr::parse(nla, cmd))?;
        Ok(IpvsMessage { cmd, attrs })
    }
}

/// A complete netlink message carrying an IPVS payload (or an ack / error / done).
pub type IpvsNetlinkMessage = NetlinkMessage<GenlMessage<IpvsMessage>>;

/// Splits one received datagram into its netlink messages and parses each. Never panics,
/// whatever the bytes: malformed framing or attributes come back as an error.
pub fn parse_datagram(buf: &[u8]) -> Result<Vec<IpvsNetlinkMessage>, DecodeError> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < buf.len() {
        let rest = &buf[offset..];
        let len = NetlinkBuffer::new_checked(rest)?.length() as usize;
        let msg = IpvsNetlinkMessage::deserialize(&rest[..len])?;
        out.push(msg);
        // Messages in a datagram are 4-byte aligned (NLMSG_ALIGN).
        offset += (len + 3) & !3;
    }
    Ok(out)
}

/// Serializes messages back to back, as the kernel packs them into a datagram.
pub fn emit_datagram(messages: &[IpvsNetlinkMessage]) -> Vec<u8> {
    let mut out = Vec::new();
    for msg in messages {
        let len = msg.buffer_len();
        let start = out.len();
        out.resize(start + ((len + 3) & !3), 0);
        msg.serialize(&mut out[start..start + len]);
    }
    out
}
