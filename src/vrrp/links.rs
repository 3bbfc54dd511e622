//! Link state of every interface, from rtnetlink: a dump at start, then the kernel's link
//! notifications (RTNLGRP_LINK), so a cable cut reaches the VRRP instances within the time it
//! takes the kernel to notice carrier loss, not at the next poll.

use futures::{StreamExt, TryStreamExt};
use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::MulticastGroup;
use tokio::sync::mpsc;

/// A change of an interface's operational state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkChange {
    pub ifname: String,
    /// Up and running with carrier (IFF_UP, IFF_RUNNING and IFF_LOWER_UP).
    pub up: bool,
}

fn change_of(message: &LinkMessage, deleted: bool) -> Option<LinkChange> {
    let ifname = message.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(name) => Some(name.clone()),
        _ => None,
    })?;
    let flags = message.header.flags;
    let up = !deleted
        && flags.contains(LinkFlags::Up)
        && flags.contains(LinkFlags::Running)
        && flags.contains(LinkFlags::LowerUp);
    Some(LinkChange { ifname, up })
}

/// Dumps the current state of every link, then forwards every change to `out` until `out`
/// closes. Runs as a task; an error is returned only when the netlink socket cannot be opened.
pub async fn monitor(out: mpsc::Sender<LinkChange>) -> std::io::Result<()> {
    let (connection, handle, mut messages) =
        rtnetlink::new_multicast_connection(&[MulticastGroup::Link])?;
    tokio::spawn(connection);
    // Subscribe before dumping so no change falls between the dump and the notifications.
    let mut links = handle.link().get().execute();
    loop {
        match links.try_next().await {
            Ok(Some(link)) => {
                if let Some(change) = change_of(&link, false)
                    && out.send(change).await.is_err()
                {
                    return Ok(());
                }
            }
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(error = %e, "link dump failed; relying on notifications");
                break;
            }
        }
    }
    while let Some((message, _)) = messages.next().await {
        let change = match message.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) => {
                change_of(&link, false)
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(link)) => {
                change_of(&link, true)
            }
            _ => None,
        };
        if let Some(change) = change
            && out.send(change).await.is_err()
        {
            break;
        }
    }
    Ok(())
}
