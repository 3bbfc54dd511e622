//! Synchronous IPVS client on one generic-netlink socket.
//!
//! Writes are batched: [`IpvsClient::apply`] packs up to [`IpvsClient::batch_window`]
//! requests (each with `NLM_F_ACK` and its own sequence number) into one `send`, then
//! collects the acks. The kernel processes netlink requests synchronously inside `send`, so
//! every ack is queued by the time `send` returns; acks are drained without blocking and any
//! that are missing were dropped by a receive-buffer overflow (reported, never waited on).
//! Call it from a blocking thread; nothing here is async.

use std::io;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_generic::GenlMessage;
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_GENERIC};

use crate::config::Timeouts;
use crate::daemon::SyncDaemon;
use crate::destination::Destination;
use crate::error::IpvsError;
use crate::info::Info;
use crate::message::{IpvsAttr, IpvsCmd, IpvsMessage, parse_datagram};
use crate::operation::Operation;
use crate::service::{Service, ServiceKey};
use crate::state::{IpvsState, VirtualService};

/// Receive buffer for one datagram. Dump skbs are at most 32 KiB (`netlink_dump`).
const RECV_BUF: usize = 64 * 1024;
/// Socket receive buffer we ask for (the kernel caps it at `net.core.rmem_max`, doubled).
const SOCKET_RCVBUF: usize = 4 * 1024 * 1024;
/// Largest single `send` (well under the default 208 KiB socket send buffer).
const MAX_SEND: usize = 64 * 1024;
/// Requests in flight per batch; small enough that their acks fit the default receive
/// buffer even when `rmem_max` could not be raised.
const DEFAULT_WINDOW: usize = 128;

/// Why one operation of a batch failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpFailure {
    /// The kernel rejected it with this errno (positive, e.g. `libc::EEXIST`).
    Errno(i32),
    /// Its ack was lost to a receive-buffer overflow: outcome unknown, re-dump to find out.
    Unacknowledged,
    /// It was not sent because sending the batch failed.
    NotSent(String),
}

impl std::fmt::Display for OpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpFailure::Errno(e) => write!(f, "{}", io::Error::from_raw_os_error(*e)),
            OpFailure::Unacknowledged => write!(f, "acknowledgement lost, outcome unknown"),
            OpFailure::NotSent(why) => write!(f, "not sent: {why}"),
        }
    }
}

/// Outcome of [`IpvsClient::apply`]: one result per operation, in input order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApplyReport {
    pub results: Vec<Result<(), OpFailure>>,
}

impl ApplyReport {
    pub fn all_ok(&self) -> bool {
        self.results.iter().all(Result::is_ok)
    }

    /// `(index into the operations, failure)` for each failed operation.
    pub fn failures(&self) -> Vec<(usize, &OpFailure)> {
        self.results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
            .collect()
    }
}

/// A connected IPVS generic-netlink client.
#[derive(Debug)]
pub struct IpvsClient {
    socket: Socket,
    family_id: u16,
    next_seq: u32,
    window: usize,
}

impl IpvsClient {
    /// Opens a socket and resolves the "IPVS" generic-netlink family.
    pub fn connect() -> Result<Self, IpvsError> {
        let mut socket = Socket::new(NETLINK_GENERIC)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        // Acks then carry only the request header, not the whole request: smaller acks,
        // more of them fit the receive buffer.
        socket.set_cap_ack(true)?;
        // Best effort: the kernel caps this at rmem_max; the window stays safe regardless.
        let _ = socket.set_rx_buf_sz(SOCKET_RCVBUF);
        let mut client = IpvsClient {
            socket,
            family_id: 0,
            next_seq: 1,
            window: DEFAULT_WINDOW,
        };
        client.family_id = client.resolve_family()?;
        Ok(client)
    }

    /// The dynamically assigned generic-netlink family id of IPVS.
    pub fn family_id(&self) -> u16 {
        self.family_id
    }

    /// Requests per `send` in [`IpvsClient::apply`].
    pub fn batch_window(&self) -> usize {
        self.window
    }

    /// Sets the batch window (at least 1). Larger windows need a larger receive buffer.
    pub fn set_batch_window(&mut self, window: usize) {
        self.window = window.max(1);
    }

    fn seq(&mut self) -> u32 {
        let seq = self.next_seq;
        // Plain wrapping (0 is a valid sequence number), so `seq - first_seq` always indexes
        // a batch correctly, even across the wrap.
        self.next_seq = self.next_seq.wrapping_add(1);
        seq
    }

    fn resolve_family(&mut self) -> Result<u16, IpvsError> {
        let seq = self.seq();
        let mut genl = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(
                crate::constants::IPVS_GENL_NAME.to_string(),
            )],
        });
        genl.finalize();
        let mut msg = NetlinkMessage::from(genl);
        msg.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        msg.header.sequence_number = seq;
        msg.finalize();
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        let mut family = None;
        loop {
            let datagram = self.recv_raw(0)?;
            let mut offset = 0;
            while offset < datagram.len() {
                let rest = &datagram[offset..];
                let len = netlink_packet_core::NetlinkBuffer::new_checked(rest)?.length() as usize;
                let reply = NetlinkMessage::<GenlMessage<GenlCtrl>>::deserialize(&rest[..len])?;
                offset += (len + 3) & !3;
                if reply.header.sequence_number != seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::InnerMessage(m) => {
                        family = m.payload.nlas.iter().find_map(|a| match a {
                            GenlCtrlAttrs::FamilyId(id) => Some(*id),
                            _ => None,
                        })
                    }
                    NetlinkPayload::Error(e) if e.code.is_none() => {
                        return family.ok_or(IpvsError::FamilyNotFound);
                    }
                    NetlinkPayload::Error(e) if e.raw_code() == -libc::ENOENT => {
                        return Err(IpvsError::FamilyNotFound);
                    }
                    NetlinkPayload::Error(e) => {
                        return Err(IpvsError::Kernel {
                            operation: "CTRL_CMD_GETFAMILY IPVS".into(),
                            source: e.to_io(),
                        });
                    }
                    _ => {}
                }
            }
        }
    }

    fn encode(&self, msg: IpvsMessage, flags: u16, seq: u32, out: &mut Vec<u8>) {
        let mut genl = GenlMessage::from_payload(msg);
        genl.set_resolved_family_id(self.family_id);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(genl));
        nl.finalize();
        let start = out.len();
        let len = nl.buffer_len();
        out.resize(start + ((len + 3) & !3), 0);
        nl.serialize(&mut out[start..start + len]);
    }

    fn recv_raw(&self, flags: libc::c_int) -> Result<Vec<u8>, io::Error> {
        let mut buf = Vec::with_capacity(RECV_BUF);
        let n = self.socket.recv(&mut buf, flags | libc::MSG_TRUNC)?;
        if n > buf.len() {
            return Err(io::Error::other(format!(
                "netlink datagram of {n} bytes truncated"
            )));
        }
        Ok(buf)
    }

    /// Sends one request and returns the raw reply datagrams, up to and including the one
    /// that ends the exchange (NLMSG_DONE for dumps, the ack or error otherwise). Exposed
    /// for capturing test fixtures; normal callers use the typed methods.
    pub fn exchange_raw(
        &mut self,
        msg: IpvsMessage,
        dump: bool,
    ) -> Result<Vec<Vec<u8>>, IpvsError> {
        let seq = self.seq();
        let flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { NLM_F_ACK };
        let operation = format!("{:?}", msg.cmd);
        let mut buf = Vec::new();
        self.encode(msg, flags, seq, &mut buf);
        self.socket.send(&buf, 0)?;
        let mut datagrams = Vec::new();
        loop {
            let datagram = self.recv_raw(0)?;
            let messages = parse_datagram(&datagram)?;
            let mut finished = false;
            for m in &messages {
                if m.header.sequence_number != seq {
                    continue;
                }
                match &m.payload {
                    NetlinkPayload::Done(_) => finished = true,
                    NetlinkPayload::Error(e) if e.code.is_none() => finished = true,
                    NetlinkPayload::Error(e) => {
                        return Err(IpvsError::Kernel {
                            operation,
                            source: e.to_io(),
                        });
                    }
                    NetlinkPayload::Overrun(_) => {
                        return Err(IpvsError::Protocol("NLMSG_OVERRUN during dump".into()));
                    }
                    _ => {}
                }
            }
            datagrams.push(datagram);
            if finished {
                return Ok(datagrams);
            }
        }
    }

    /// Sends one request and returns the IPVS payloads of the replies.
    pub fn request(&mut self, msg: IpvsMessage, dump: bool) -> Result<Vec<IpvsMessage>, IpvsError> {
        let datagrams = self.exchange_raw(msg, dump)?;
        let mut out = Vec::new();
        for d in &datagrams {
            for m in parse_datagram(d)? {
                if let NetlinkPayload::InnerMessage(genl) = m.payload {
                    out.push(genl.payload);
                }
            }
        }
        Ok(out)
    }

    /// IPVS module version and connection-table size (GET_INFO).
    pub fn info(&mut self) -> Result<Info, IpvsError> {
        let replies = self.request(IpvsMessage::new(IpvsCmd::GetInfo, vec![]), false)?;
        let (mut version, mut size) = (None, None);
        for attr in replies.iter().flat_map(|m| &m.attrs) {
            match attr {
                IpvsAttr::InfoVersion(v) => version = Some(*v),
                IpvsAttr::InfoConnTabSize(v) => size = Some(*v),
                _ => {}
            }
        }
        Ok(Info {
            version: version.ok_or(IpvsError::MissingAttribute("IPVS_INFO_ATTR_VERSION"))?,
            conn_tab_size: size
                .ok_or(IpvsError::MissingAttribute("IPVS_INFO_ATTR_CONN_TAB_SIZE"))?,
        })
    }

    /// All services (GET_SERVICE dump).
    pub fn services(&mut self) -> Result<Vec<Service>, IpvsError> {
        let replies = self.request(IpvsMessage::new(IpvsCmd::GetService, vec![]), true)?;
        services_from(&replies)
    }

    /// One service by key (GET_SERVICE); `None` if it does not exist.
    pub fn service(&mut self, key: &ServiceKey) -> Result<Option<Service>, IpvsError> {
        let msg = IpvsMessage::new(IpvsCmd::GetService, vec![IpvsAttr::Service(key.to_attrs())]);
        match self.request(msg, false) {
            Ok(replies) => Ok(services_from(&replies)?.into_iter().next()),
            Err(IpvsError::Kernel { source, .. }) if source.raw_os_error() == Some(libc::ESRCH) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Destinations of one service (GET_DEST dump).
    pub fn destinations(&mut self, key: &ServiceKey) -> Result<Vec<Destination>, IpvsError> {
        let msg = IpvsMessage::new(IpvsCmd::GetDest, vec![IpvsAttr::Service(key.to_attrs())]);
        let replies = self.request(msg, true)?;
        let mut out = Vec::new();
        for attr in replies.iter().flat_map(|m| &m.attrs) {
            if let IpvsAttr::Dest(d) = attr {
                out.push(Destination::from_attrs(d, key.family())?);
            }
        }
        Ok(out)
    }

    /// The whole table: every service with its destinations.
    pub fn state(&mut self) -> Result<IpvsState, IpvsError> {
        let services = self.services()?;
        let mut state = IpvsState::default();
        for service in services {
            let destinations = self.destinations(&service.key)?;
            state.services.push(VirtualService {
                service,
                destinations,
            });
        }
        Ok(state)
    }

    /// Running sync daemons (GET_DAEMON dump).
    pub fn daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        let replies = self.request(IpvsMessage::new(IpvsCmd::GetDaemon, vec![]), true)?;
        let mut out = Vec::new();
        for attr in replies.iter().flat_map(|m| &m.attrs) {
            if let IpvsAttr::Daemon(d) = attr {
                out.push(SyncDaemon::from_attrs(d)?);
            }
        }
        Ok(out)
    }

    /// Connection timeouts (GET_CONFIG).
    pub fn timeouts(&mut self) -> Result<Timeouts, IpvsError> {
        let replies = self.request(IpvsMessage::new(IpvsCmd::GetConfig, vec![]), false)?;
        let mut t = Timeouts::default();
        for attr in replies.iter().flat_map(|m| &m.attrs) {
            match attr {
                IpvsAttr::TimeoutTcp(v) => t.tcp = *v,
                IpvsAttr::TimeoutTcpFin(v) => t.tcp_fin = *v,
                IpvsAttr::TimeoutUdp(v) => t.udp = *v,
                _ => {}
            }
        }
        Ok(t)
    }

    /// Executes one operation and waits for its ack.
    pub fn execute(&mut self, op: &Operation) -> Result<(), IpvsError> {
        op.validate()
            .map_err(|reason| IpvsError::InvalidOperation { index: 0, reason })?;
        self.request(op.to_message(), false)
            .map(|_| ())
            .map_err(|e| match e {
                IpvsError::Kernel { source, .. } => IpvsError::Kernel {
                    operation: op.to_string(),
                    source,
                },
                other => other,
            })
    }

    /// Executes operations in order, batched, and reports each one's outcome. Later
    /// operations are still attempted when an earlier one fails (the kernel processes every
    /// message of a batch), so a failed NEW_SERVICE typically makes its NEW_DESTs fail with
    /// ESRCH: look at the first failure.
    pub fn apply(&mut self, ops: &[Operation]) -> Result<ApplyReport, IpvsError> {
        // Bad input changes nothing: validate the whole batch before sending any of it.
        for (index, op) in ops.iter().enumerate() {
            op.validate()
                .map_err(|reason| IpvsError::InvalidOperation { index, reason })?;
        }
        let mut results = Vec::with_capacity(ops.len());
        let mut buf = Vec::with_capacity(MAX_SEND);
        let mut index = 0;
        while index < ops.len() {
            let chunk = &ops[index..ops.len().min(index + self.window)];
            index += chunk.len();
            let first_seq = self.next_seq;
            let mut seqs = Vec::with_capacity(chunk.len());
            let mut outcome: Vec<Option<Result<(), OpFailure>>> = vec![None; chunk.len()];
            // Encode and send in segments of at most MAX_SEND bytes (a netlink send larger
            // than the socket's send buffer fails with EMSGSIZE); acks are collected once
            // the whole window is out.
            let mut sent = 0;
            while sent < chunk.len() {
                buf.clear();
                let mut end = sent;
                while end < chunk.len() && (end == sent || buf.len() < MAX_SEND - 1024) {
                    let seq = self.seq();
                    seqs.push(seq);
                    self.encode(
                        chunk[end].to_message(),
                        NLM_F_REQUEST | NLM_F_ACK,
                        seq,
                        &mut buf,
                    );
                    end += 1;
                }
                if let Err(e) = self.socket.send(&buf, 0) {
                    for slot in &mut outcome[sent..] {
                        *slot = Some(Err(OpFailure::NotSent(e.to_string())));
                    }
                    seqs.truncate(sent);
                    break;
                }
                sent = end;
            }
            if self.collect_acks(&seqs, first_seq, &mut outcome[..seqs.len()])? {
                // Acks overflowed the receive buffer: smaller windows from here on.
                self.window = (self.window / 2).max(1);
            }
            results.extend(
                outcome
                    .into_iter()
                    .map(|o| o.unwrap_or(Err(OpFailure::Unacknowledged))),
            );
        }
        Ok(ApplyReport { results })
    }

    /// Reads the acks of one batch into `outcome`; returns whether the receive buffer
    /// overflowed (some acks dropped by the kernel).
    fn collect_acks(
        &mut self,
        seqs: &[u32],
        first_seq: u32,
        outcome: &mut [Option<Result<(), OpFailure>>],
    ) -> Result<bool, IpvsError> {
        let mut pending = seqs.len();
        let mut overflowed = false;
        while pending > 0 {
            let datagram = match self.recv_raw(libc::MSG_DONTWAIT) {
                Ok(d) => d,
                // Everything the kernel produced has been read: the rest was dropped.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                // Overflow: some acks were dropped; keep draining what is still queued.
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    overflowed = true;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            for m in parse_datagram(&datagram)? {
                let idx = m.header.sequence_number.wrapping_sub(first_seq) as usize;
                let Some(slot) = outcome.get_mut(idx) else {
                    continue;
                };
                if seqs.get(idx) != Some(&m.header.sequence_number) || slot.is_some() {
                    continue;
                }
                if let NetlinkPayload::Error(e) = &m.payload {
                    *slot = Some(match e.code {
                        None => Ok(()),
                        Some(code) => Err(OpFailure::Errno(code.get().saturating_abs())),
                    });
                    pending -= 1;
                }
            }
        }
        Ok(overflowed)
    }
}

fn services_from(replies: &[IpvsMessage]) -> Result<Vec<Service>, IpvsError> {
    let mut out = Vec::new();
    for attr in replies.iter().flat_map(|m| &m.attrs) {
        if let IpvsAttr::Service(s) = attr {
            out.push(Service::from_attrs(s)?);
        }
    }
    Ok(out)
}
