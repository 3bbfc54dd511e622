//! Address families and the kernel's `union nf_inet_addr`, the 16-byte address slot IPVS
//! uses for both IPv4 and IPv6 (IPv4 occupies the first four bytes).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `AF_INET`, as the kernel puts it in `IPVS_SVC_ATTR_AF` / `IPVS_DEST_ATTR_ADDR_FAMILY`.
pub const AF_INET: u16 = libc::AF_INET as u16;
/// `AF_INET6`.
pub const AF_INET6: u16 = libc::AF_INET6 as u16;

/// The IP version of a service or destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    /// The `AF_*` number the kernel uses for this family.
    pub fn af(self) -> u16 {
        match self {
            IpFamily::V4 => AF_INET,
            IpFamily::V6 => AF_INET6,
        }
    }

    /// Maps an `AF_*` number back; `None` for families IPVS does not serve.
    pub fn from_af(af: u16) -> Option<Self> {
        match af {
            AF_INET => Some(IpFamily::V4),
            AF_INET6 => Some(IpFamily::V6),
            _ => None,
        }
    }

    /// Family of an address.
    pub fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => IpFamily::V4,
            IpAddr::V6(_) => IpFamily::V6,
        }
    }
}

/// Raw `union nf_inet_addr` bytes. Kept raw in the attribute layer because which half is
/// meaningful depends on a sibling attribute (the address family).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct InetAddr(pub [u8; 16]);

impl InetAddr {
    /// Stores an address the way the kernel does (IPv4 in the first four bytes, rest zero).
    pub fn from_ip(ip: IpAddr) -> Self {
        let mut raw = [0u8; 16];
        match ip {
            IpAddr::V4(v4) => raw[..4].copy_from_slice(&v4.octets()),
            IpAddr::V6(v6) => raw = v6.octets(),
        }
        InetAddr(raw)
    }

    /// Reads the address for a given family.
    pub fn to_ip(self, family: IpFamily) -> IpAddr {
        match family {
            IpFamily::V4 => IpAddr::V4(Ipv4Addr::new(self.0[0], self.0[1], self.0[2], self.0[3])),
            IpFamily::V6 => IpAddr::V6(Ipv6Addr::from(self.0)),
        }
    }
}
