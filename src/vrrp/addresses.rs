//! Interface addresses over rtnetlink: virtual addresses added and removed by the master, and
//! the primary address an instance advertises from.

use std::net::IpAddr;

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressMessage};
use rtnetlink::Handle;

use crate::config::Cidr;

/// A route-netlink connection (its I/O task runs on the runtime until the handle is dropped).
pub fn connect() -> std::io::Result<Handle> {
    let (connection, handle, _) = rtnetlink::new_connection()?;
    tokio::spawn(connection);
    Ok(handle)
}

/// Interface index by name, over rtnetlink.
pub async fn link_index(handle: &Handle, ifname: &str) -> Result<u32, rtnetlink::Error> {
    let mut links = handle.link().get().match_name(ifname.to_string()).execute();
    match links.try_next().await? {
        Some(link) => Ok(link.header.index),
        None => Err(rtnetlink::Error::RequestFailed),
    }
}

/// Adds a virtual address. Already present is success (a restart of a master, or the owner).
/// IPv6 addresses skip duplicate address detection: the address must work the moment we are
/// master, and VRRP itself guarantees a single owner.
pub async fn add(handle: &Handle, index: u32, vip: &Cidr) -> Result<(), rtnetlink::Error> {
    let mut request = handle.address().add(index, vip.addr, vip.prefix_len);
    if vip.is_ipv6() {
        request.message_mut().header.flags |= AddressHeaderFlags::Nodad;
    }
    match request.execute().await {
        Ok(()) => Ok(()),
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes a virtual address. Already absent is success.
pub async fn remove(handle: &Handle, index: u32, vip: &Cidr) -> Result<(), rtnetlink::Error> {
    let mut found = None;
    let mut stream = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .set_address_filter(vip.addr)
        .execute();
    while let Some(message) = stream.try_next().await? {
        if address_of(&message) == Some(vip.addr) {
            found = Some(message);
            break;
        }
    }
    let Some(message) = found else {
        return Ok(());
    };
    match handle.address().del(message).execute().await {
        Ok(()) => Ok(()),
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EADDRNOTAVAIL => Ok(()),
        Err(e) => Err(e),
    }
}

fn address_of(message: &AddressMessage) -> Option<IpAddr> {
    // IFA_LOCAL is the interface's own address on point-to-point links; IFA_ADDRESS otherwise.
    let mut address = None;
    for attr in &message.attributes {
        match attr {
            AddressAttribute::Local(a) => return Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            _ => {}
        }
    }
    address
}

/// Addresses on interface `index`, in kernel order.
pub async fn addresses(handle: &Handle, index: u32) -> Result<Vec<IpAddr>, rtnetlink::Error> {
    let mut out = Vec::new();
    let mut stream = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute();
    while let Some(message) = stream.try_next().await? {
        if message.header.index == index {
            out.extend(address_of(&message));
        }
    }
    Ok(out)
}

/// The address adverts are sent from (RFC 5798 §5.1.1.1 / §5.1.2.1): for IPv4 the first
/// address on the interface that is not a virtual address; for IPv6 the link-local address.
pub fn primary_address(on_interface: &[IpAddr], vips: &[Cidr], ipv6: bool) -> Option<IpAddr> {
    on_interface
        .iter()
        .copied()
        .filter(|a| a.is_ipv6() == ipv6)
        .filter(|a| !vips.iter().any(|v| v.addr == *a))
        .find(|a| match a {
            IpAddr::V4(_) => true,
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn primary_skips_vips_and_picks_link_local_for_ipv6() {
        let on: Vec<IpAddr> = ["10.0.0.100", "10.0.0.2", "fd00::2", "fe80::1"]
            .iter()
            .map(|s| s.parse().unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let vips = [cidr("10.0.0.100/24")];
        assert_eq!(primary_address(&on, &vips, false), "10.0.0.2".parse().ok());
        assert_eq!(primary_address(&on, &vips, true), "fe80::1".parse().ok());
        assert_eq!(primary_address(&on[..1], &vips, false), None);
    }
}
