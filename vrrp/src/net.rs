//! Raw-socket helpers: the VRRP socket (IP protocol 112, IPv4 and IPv6), an `AF_PACKET`
//! sender for gratuitous ARP/NA frames, interface look-ups, a tokio wrapper, and a `ppoll`
//! wait with an eventfd wake-up for a thread that runs instances without a runtime.
//!
//! This is the only module with `unsafe` code: `socket2` covers most options, but not
//! `IP_PKTINFO`, `IPV6_RECVPKTINFO` and `IPV6_CHECKSUM`, nor reading control messages
//! (`recvmsg` + `CMSG_*`), `sockaddr_ll` for `AF_PACKET`, `if_nametoindex`, `SIOCGIFHWADDR`,
//! `setns`, `eventfd` and `ppoll`. Each `unsafe` block is a single FFI call or a read of a C struct the kernel
//! filled, with the reason it is sound next to it.
//!
//! # Why two sockets per [`VrrpSocket`]
//! A raw IPv4 socket bound to a unicast address only receives packets addressed to it, so it
//! would miss adverts sent to 224.0.0.18. The VRRPv3 checksum covers the source address,
//! which must therefore be fixed before sending. So one socket receives (unbound, joined to the
//! group, bound to the device) and another sends (bound to the primary address, with a
//! drop-everything BPF filter so it never queues received packets).

#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::ptr;
use std::time::{Duration, Instant};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, SockFilter, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::checksum::IPPROTO_VRRP;
use crate::garp::MacAddr;
use crate::packet::{
    Advertisement, Family, IPV4_HEADER_LEN, Ipv4Header, VRRP_MULTICAST_V4, VRRP_MULTICAST_V6,
    VRRP_TTL,
};
use crate::validate::ReceivedPacket;

/// DSCP CS6 (network control), the traffic class keepalived and routers use for VRRP.
const TOS_NETWORK_CONTROL: u32 = 0xc0;

fn invalid_data(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

/// Index of the interface `ifname` in the calling thread's network namespace.
pub fn interface_index(ifname: &str) -> io::Result<u32> {
    let name = CString::new(ifname).map_err(|_| invalid_data("interface name contains NUL"))?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        let os = io::Error::last_os_error();
        return Err(if os.raw_os_error() == Some(libc::ENODEV) {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no interface named {ifname}"),
            )
        } else {
            os
        });
    }
    Ok(index)
}

/// MAC address of the interface `ifname` (`SIOCGIFHWADDR`), in the calling thread's network
/// namespace (sysfs would show the namespace `/sys` was mounted in, which may differ).
pub fn interface_mac(ifname: &str) -> io::Result<MacAddr> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    // SAFETY: `ifreq` is a plain C struct for which all-zero bytes are a valid value.
    let mut request: libc::ifreq = unsafe { mem::zeroed() };
    let bytes = ifname.as_bytes();
    if bytes.is_empty() || bytes.len() >= request.ifr_name.len() || bytes.contains(&0) {
        return Err(invalid_data("invalid interface name"));
    }
    for (dst, src) in request.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR reads `ifr_name` and writes `ifr_hwaddr` inside `request`, which is
    // a properly sized, writable `ifreq`.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFHWADDR as _, &mut request) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after a successful SIOCGIFHWADDR the kernel has initialised `ifru_hwaddr`.
    let hwaddr = unsafe { request.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (dst, src) in mac.iter_mut().zip(hwaddr.sa_data.iter()) {
        *dst = *src as u8;
    }
    Ok(MacAddr(mac))
}

/// Moves the calling *thread* into the network namespace at `path` (e.g.
/// `/var/run/netns/NAME`); sockets it opens afterwards live there (keepalived's
/// `net_namespace`). Other threads are unaffected.
pub fn enter_network_namespace(path: &Path) -> io::Result<()> {
    let file = File::open(path)?;
    // SAFETY: `file` is an open namespace file descriptor for the duration of the call.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_int_option(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` is a live c_int and the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            ptr::from_ref(&value).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Metadata of one received VRRP packet; the bytes are in the caller's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// IP source address.
    pub source: IpAddr,
    /// IP destination address (the group, or ours for unicast).
    pub destination: IpAddr,
    /// IPv4 TTL (from the header) or IPv6 hop limit (from `IPV6_HOPLIMIT`).
    pub ttl: u8,
    /// Receiving interface index (`IP_PKTINFO` / `IPV6_PKTINFO`), when reported.
    pub ifindex: Option<u32>,
    /// Where the VRRP message lies in the receive buffer.
    pub payload: Range<usize>,
}

impl Datagram {
    /// The packet for [`crate::Instance::receive`] / [`crate::validate::validate`], borrowing
    /// the payload from `buf` (the buffer given to `recv`).
    pub fn packet<'a>(&self, buf: &'a [u8]) -> ReceivedPacket<'a> {
        ReceivedPacket {
            source: self.source,
            destination: self.destination,
            ttl: self.ttl,
            payload: buf.get(self.payload.clone()).unwrap_or(&[]),
        }
    }
}

/// What the control messages of one `recvmsg` reported.
#[derive(Debug, Default)]
struct ControlInfo {
    hop_limit: Option<u8>,
    destination_v6: Option<Ipv6Addr>,
    ifindex: Option<u32>,
}

/// `recvmsg` into `buf`, returning the length, the sender and the control information.
fn recv_with_control(
    fd: RawFd,
    buf: &mut [u8],
) -> io::Result<(usize, Option<SocketAddr>, ControlInfo)> {
    // SAFETY: sockaddr_storage and msghdr are plain C structs; all-zero is valid for both.
    let mut name: libc::sockaddr_storage = unsafe { mem::zeroed() };
    // u64 elements keep the control buffer aligned for cmsghdr.
    let mut control = [0u64; 32];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_name = ptr::from_mut(&mut name).cast();
    msg.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = mem::size_of_val(&control) as _;
    // SAFETY: every pointer in `msg` refers to a live, writable buffer of the stated length.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if msg.msg_flags & libc::MSG_TRUNC != 0 {
        return Err(invalid_data("datagram larger than the receive buffer"));
    }
    let mut info = ControlInfo::default();
    // SAFETY: CMSG_FIRSTHDR/CMSG_NXTHDR walk the control buffer the kernel filled, bounded by
    // `msg_controllen`; each payload is read unaligned after checking `cmsg_len` covers it.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let header = ptr::read_unaligned(cmsg);
            let data = libc::CMSG_DATA(cmsg);
            let covers =
                |size: usize| header.cmsg_len as usize >= libc::CMSG_LEN(size as u32) as usize;
            match (header.cmsg_level, header.cmsg_type) {
                (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT)
                    if covers(mem::size_of::<libc::c_int>()) =>
                {
                    let value: libc::c_int = ptr::read_unaligned(data.cast());
                    info.hop_limit = u8::try_from(value).ok();
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO)
                    if covers(mem::size_of::<libc::in6_pktinfo>()) =>
                {
                    let value: libc::in6_pktinfo = ptr::read_unaligned(data.cast());
                    info.destination_v6 = Some(Ipv6Addr::from(value.ipi6_addr.s6_addr));
                    info.ifindex = Some(value.ipi6_ifindex);
                }
                (libc::IPPROTO_IP, libc::IP_PKTINFO)
                    if covers(mem::size_of::<libc::in_pktinfo>()) =>
                {
                    let value: libc::in_pktinfo = ptr::read_unaligned(data.cast());
                    info.ifindex = u32::try_from(value.ipi_ifindex).ok();
                }
                _ => {}
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    let source = match i32::from(name.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in (family AF_INET) into the storage.
            let sin: libc::sockaddr_in =
                unsafe { ptr::read_unaligned(ptr::from_ref(&name).cast()) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                0,
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6 (family AF_INET6) into the storage.
            let sin6: libc::sockaddr_in6 =
                unsafe { ptr::read_unaligned(ptr::from_ref(&name).cast()) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                0,
                0,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    };
    Ok((n as usize, source, info))
}

/// A VRRP raw socket pair on one interface (see the module docs for why two).
///
/// Receive: joined to 224.0.0.18 / ff02::12 on the interface, `SO_BINDTODEVICE`, `IP_PKTINFO`
/// / `IPV6_RECVPKTINFO` + `IPV6_RECVHOPLIMIT` so TTL/hop limit and destination are known.
/// Send: bound to the primary address, TTL/hop limit 255 (RFC 5798 §5.1.1.3, §5.1.2.3),
/// multicast loop off, DSCP CS6, `IPV6_CHECKSUM` off (the codec computes it).
///
/// The receive socket's fd ([`AsRawFd`]) is what to poll for readability.
#[derive(Debug)]
pub struct VrrpSocket {
    rx: Socket,
    tx: Socket,
    family: Family,
    ifindex: u32,
    source: IpAddr,
}

impl VrrpSocket {
    /// Opens the socket pair on `ifname`, sending from `source` (the interface's primary
    /// address; for IPv6 its link-local address, RFC 5798 §5.1.2.1). Needs `CAP_NET_RAW`.
    pub fn open(ifname: &str, source: IpAddr) -> io::Result<VrrpSocket> {
        let ifindex = interface_index(ifname)?;
        let family = Family::of(&source);
        let domain = match family {
            Family::Ipv4 => Domain::IPV4,
            Family::Ipv6 => Domain::IPV6,
        };
        let protocol = Some(Protocol::from(i32::from(IPPROTO_VRRP)));
        let rx = Socket::new(domain, Type::RAW, protocol)?;
        let tx = Socket::new(domain, Type::RAW, protocol)?;
        for socket in [&rx, &tx] {
            socket.bind_device(Some(ifname.as_bytes()))?;
        }
        // Never read: a filter returning 0 drops every packet before it is queued.
        tx.attach_filter(&[SockFilter::new(0x06, 0, 0, 0)])?;
        match source {
            IpAddr::V4(addr) => {
                rx.set_multicast_all_v4(false)?;
                rx.join_multicast_v4_n(
                    &VRRP_MULTICAST_V4,
                    &InterfaceIndexOrAddress::Index(ifindex),
                )?;
                set_int_option(rx.as_raw_fd(), libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
                tx.bind(&SockAddr::from(SocketAddrV4::new(addr, 0)))?;
                tx.set_multicast_if_v4(&addr)?;
                tx.set_multicast_ttl_v4(u32::from(VRRP_TTL))?;
                tx.set_ttl_v4(u32::from(VRRP_TTL))?;
                tx.set_multicast_loop_v4(false)?;
                tx.set_tos_v4(TOS_NETWORK_CONTROL)?;
            }
            IpAddr::V6(addr) => {
                rx.set_multicast_all_v6(false)?;
                rx.join_multicast_v6(&VRRP_MULTICAST_V6, ifindex)?;
                rx.set_recv_hoplimit_v6(true)?;
                set_int_option(
                    rx.as_raw_fd(),
                    libc::IPPROTO_IPV6,
                    libc::IPV6_RECVPKTINFO,
                    1,
                )?;
                for socket in [&rx, &tx] {
                    // -1: the kernel neither computes nor verifies the checksum; we do both.
                    set_int_option(
                        socket.as_raw_fd(),
                        libc::IPPROTO_IPV6,
                        libc::IPV6_CHECKSUM,
                        -1,
                    )?;
                }
                let scope = if addr.is_unicast_link_local() {
                    ifindex
                } else {
                    0
                };
                tx.bind(&SockAddr::from(SocketAddrV6::new(addr, 0, 0, scope)))?;
                tx.set_multicast_if_v6(ifindex)?;
                tx.set_multicast_hops_v6(u32::from(VRRP_TTL))?;
                tx.set_unicast_hops_v6(u32::from(VRRP_TTL))?;
                tx.set_multicast_loop_v6(false)?;
            }
        }
        Ok(VrrpSocket {
            rx,
            tx,
            family,
            ifindex,
            source,
        })
    }

    /// Address family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Interface index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Source address of sent packets.
    pub fn source(&self) -> IpAddr {
        self.source
    }

    /// Makes both sockets non-blocking (as [`AsyncVrrpSocket`] needs).
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.rx.set_nonblocking(nonblocking)?;
        self.tx.set_nonblocking(nonblocking)
    }

    /// Bounds blocking receives (`None`: wait forever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.rx.set_read_timeout(timeout)
    }

    /// Sends an encoded VRRP message to `destination` (the family's group, or a unicast peer).
    pub fn send(&self, payload: &[u8], destination: IpAddr) -> io::Result<usize> {
        let address = match destination {
            IpAddr::V4(a) => SocketAddr::V4(SocketAddrV4::new(a, 0)),
            IpAddr::V6(a) => {
                let link_scoped = a.is_unicast_link_local() || a.is_multicast();
                let scope = if link_scoped { self.ifindex } else { 0 };
                SocketAddr::V6(SocketAddrV6::new(a, 0, 0, scope))
            }
        };
        self.tx.send_to(payload, &SockAddr::from(address))
    }

    /// Encodes `advert` from this socket's source to `destination` and sends it.
    pub fn send_advert(&self, advert: &Advertisement, destination: IpAddr) -> io::Result<usize> {
        let bytes = advert
            .encode(self.source, destination)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.send(&bytes, destination)
    }

    /// Sends `advert` to the VRRP multicast group of this socket's family.
    pub fn send_advert_multicast(&self, advert: &Advertisement) -> io::Result<usize> {
        self.send_advert(advert, self.family.multicast_group())
    }

    /// Receives one packet into `buf` (64 KiB always suffices; 1500 bytes for a normal MTU).
    /// `InvalidData` means a packet arrived without the metadata needed to validate it and was
    /// skipped; callers should count it and continue.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Datagram> {
        let (len, sender, info) = recv_with_control(self.rx.as_raw_fd(), buf)?;
        let data = buf
            .get(..len)
            .ok_or_else(|| invalid_data("length beyond buffer"))?;
        match self.family {
            Family::Ipv4 => {
                // Raw IPv4 sockets deliver the IP header: TTL and destination come from it.
                let (header, payload) =
                    Ipv4Header::decode(data).map_err(|_| invalid_data("malformed IPv4 header"))?;
                // The payload starts right after the header and its options.
                let start = IPV4_HEADER_LEN + header.options.len();
                Ok(Datagram {
                    source: IpAddr::V4(header.src),
                    destination: IpAddr::V4(header.dst),
                    ttl: header.ttl,
                    ifindex: info.ifindex,
                    payload: start..start + payload.len(),
                })
            }
            Family::Ipv6 => {
                let source = sender
                    .map(|s| s.ip())
                    .ok_or_else(|| invalid_data("no IPv6 source address"))?;
                let ttl = info
                    .hop_limit
                    .ok_or_else(|| invalid_data("no IPV6_HOPLIMIT control message"))?;
                let destination = info
                    .destination_v6
                    .ok_or_else(|| invalid_data("no IPV6_PKTINFO control message"))?;
                Ok(Datagram {
                    source,
                    destination: IpAddr::V6(destination),
                    ttl,
                    ifindex: info.ifindex,
                    payload: 0..len,
                })
            }
        }
    }
}

impl AsRawFd for VrrpSocket {
    /// The receive socket: poll it for readability.
    fn as_raw_fd(&self) -> RawFd {
        self.rx.as_raw_fd()
    }
}

impl AsFd for VrrpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.rx.as_fd()
    }
}

/// [`VrrpSocket`] registered with the tokio reactor: `recv` awaits readability. Sends stay
/// synchronous: a raw socket send does not block in practice, and if the queue is full the
/// advert is better dropped (the next one follows within an interval) than delayed.
#[derive(Debug)]
pub struct AsyncVrrpSocket {
    inner: AsyncFd<VrrpSocket>,
}

impl AsyncVrrpSocket {
    /// Registers `socket` (made non-blocking) with the current tokio runtime; an error (not a
    /// panic) when called outside one.
    pub fn new(socket: VrrpSocket) -> io::Result<AsyncVrrpSocket> {
        socket.set_nonblocking(true)?;
        // Registering outside a runtime would panic: report it as an error instead.
        tokio::runtime::Handle::try_current()
            .map_err(|e| io::Error::new(io::ErrorKind::Unsupported, e))?;
        // SAFETY: `VrrpSocket` owns its receive socket for its whole life and `as_raw_fd`
        // always returns that same open descriptor, as `register` requires.
        let inner = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(AsyncVrrpSocket { inner })
    }

    /// The wrapped socket (for `send`, `source`, ...).
    pub fn get_ref(&self) -> &VrrpSocket {
        self.inner.get_ref()
    }

    /// Waits for and receives one packet; see [`VrrpSocket::recv`].
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Datagram> {
        loop {
            let mut guard = self.inner.readable().await?;
            match guard.try_io(|inner| inner.get_ref().recv(buf)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Sends an encoded message; see [`VrrpSocket::send`].
    pub fn send(&self, payload: &[u8], destination: IpAddr) -> io::Result<usize> {
        self.get_ref().send(payload, destination)
    }
}

/// An `AF_PACKET` socket that sends whole Ethernet frames (gratuitous ARP / unsolicited NA from
/// [`crate::garp`]) on one interface. Opened with protocol 0, so it never receives anything.
#[derive(Debug)]
pub struct PacketSocket {
    socket: Socket,
    ifindex: u32,
    mac: MacAddr,
}

impl PacketSocket {
    /// Opens the sender on `ifname`. Needs `CAP_NET_RAW`.
    pub fn open(ifname: &str) -> io::Result<PacketSocket> {
        let ifindex = interface_index(ifname)?;
        let mac = interface_mac(ifname)?;
        let socket = Socket::new(Domain::PACKET, Type::RAW, None)?;
        Ok(PacketSocket {
            socket,
            ifindex,
            mac,
        })
    }

    /// The interface's MAC address: the sender address to build frames with.
    pub fn mac(&self) -> MacAddr {
        self.mac
    }

    /// Interface index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Sends one complete Ethernet frame (destination MAC and EtherType are read from it).
    pub fn send_frame(&self, frame: &[u8]) -> io::Result<usize> {
        if frame.len() < 14 {
            return Err(invalid_data("frame shorter than an Ethernet header"));
        }
        // SAFETY: sockaddr_ll is a plain C struct; all-zero is valid.
        let mut address: libc::sockaddr_ll = unsafe { mem::zeroed() };
        address.sll_family = libc::AF_PACKET as libc::c_ushort;
        // sll_protocol is in network byte order: copy the frame's EtherType bytes as they are.
        address.sll_protocol = u16::from_ne_bytes([frame[12], frame[13]]);
        address.sll_ifindex =
            i32::try_from(self.ifindex).map_err(|_| invalid_data("interface index too large"))?;
        address.sll_halen = 6;
        address.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: `frame` and `address` are live for the call, with their exact lengths.
        let n = unsafe {
            libc::sendto(
                self.socket.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                ptr::from_ref(&address).cast(),
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// Wakes a thread blocked in [`wait_readable`] from another thread: an eventfd, readable while
/// a wake-up is pending. It lets a VRRP instance thread sleep in one `ppoll` on its socket
/// and its command queue at once.
#[derive(Debug)]
pub struct Wakeup {
    eventfd: File,
}

impl Wakeup {
    /// A new, non-blocking eventfd.
    pub fn new() -> io::Result<Wakeup> {
        // SAFETY: eventfd takes no pointers; it returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd and nothing else owns it.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Wakeup {
            eventfd: File::from(owned),
        })
    }

    /// Makes the descriptor readable (wakes the waiting thread). Never blocks: a counter that
    /// is full already means a wake-up is pending.
    pub fn wake(&self) -> io::Result<()> {
        match (&self.eventfd).write(&1u64.to_ne_bytes()) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Consumes pending wake-ups, so the next wait blocks again.
    pub fn clear(&self) {
        let mut counter = [0u8; 8];
        // WouldBlock: nothing was pending. An eventfd read has no other failure mode here.
        let _ = (&self.eventfd).read(&mut counter);
    }
}

impl AsFd for Wakeup {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.eventfd.as_fd()
    }
}

/// Blocks until one of `fds` is readable (or has an error or hang-up pending, which a read
/// then reports) or `timeout` has passed (`None`: no limit), and says which are.
///
/// `ppoll`, because it takes the timeout in nanoseconds: `poll` and `epoll_wait` count whole
/// milliseconds, so a 10 ms advert timer would fire up to 1 ms late, and the Master_Down
/// timer's precision is the failover time. The kernel may still expire a `ppoll` timeout
/// max(timeout / 1000, the thread's 50 µs timer slack) late (fs/select.c,
/// `select_estimate_accuracy`): 3.6 ms on a VRRPv2 backup's 3.6 s Master_Down_Interval. So a
/// long wait aims that much early and, woken before the timeout with nothing ready, waits the
/// rest, whose slack is 50 µs; waits up to 50 ms (10 ms adverts) stay one `ppoll`. An
/// interrupted wait (a signal) returns no fd ready; the caller re-checks its timers and waits
/// again.
pub fn wait_readable<const N: usize>(
    fds: [BorrowedFd<'_>; N],
    timeout: Option<Duration>,
) -> io::Result<[bool; N]> {
    let mut polled = fds.map(|fd| libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    });
    let Some(timeout) = timeout else {
        ppoll(&mut polled, None)?;
        return Ok(polled.map(|p| p.revents != 0));
    };
    let deadline = Instant::now() + timeout;
    let mut left = timeout;
    loop {
        let interrupted = !ppoll(&mut polled, Some(aim_early_for_slack(left)))?;
        let ready = polled.map(|p| p.revents != 0);
        left = deadline.saturating_duration_since(Instant::now());
        if interrupted || ready.contains(&true) || left.is_zero() {
            return Ok(ready);
        }
    }
}

/// One `ppoll` of `polled` (revents filled in); `Ok(false)` when a signal interrupted it.
fn ppoll<const N: usize>(
    polled: &mut [libc::pollfd; N],
    timeout: Option<Duration>,
) -> io::Result<bool> {
    let timespec = timeout.map(|t| libc::timespec {
        tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(t.subsec_nanos()),
    });
    let timespec_ptr = timespec.as_ref().map_or(ptr::null(), ptr::from_ref);
    // SAFETY: `polled` holds N initialised pollfd for the call's duration, the timespec (if
    // any) outlives the call, and a null signal mask leaves the thread's mask as it is.
    let rc = unsafe {
        libc::ppoll(
            polled.as_mut_ptr(),
            N as libc::nfds_t,
            timespec_ptr,
            ptr::null(),
        )
    };
    if rc < 0 {
        let error = io::Error::last_os_error();
        if error.kind() == io::ErrorKind::Interrupted {
            polled.iter_mut().for_each(|p| p.revents = 0);
            return Ok(false);
        }
        return Err(error);
    }
    Ok(true)
}

/// The timeout to give `ppoll` so that, with the kernel's slack added, it expires by
/// `timeout` (see [`wait_readable`]).
fn aim_early_for_slack(timeout: Duration) -> Duration {
    const DEFAULT_TIMER_SLACK: Duration = Duration::from_micros(50);
    let slack = timeout / 1000;
    if slack > DEFAULT_TIMER_SLACK {
        timeout - slack
    } else {
        timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_waits_aim_early_by_the_kernel_slack() {
        let ms = Duration::from_millis;
        // VRRPv2 backup at 1 s adverts: 3609.375 ms, the kernel may add 3.6 ms.
        let v2 = Duration::from_micros(3_609_375);
        assert_eq!(
            aim_early_for_slack(v2),
            v2 - Duration::from_nanos(3_609_375)
        );
        assert_eq!(
            aim_early_for_slack(ms(100)),
            ms(100) - Duration::from_micros(100)
        );
        // Short waits get the 50 µs minimum slack anyway.
        assert_eq!(aim_early_for_slack(ms(50)), ms(50));
        assert_eq!(aim_early_for_slack(ms(10)), ms(10));
        assert_eq!(aim_early_for_slack(Duration::ZERO), Duration::ZERO);
    }
}
