//! Fuzzes every decoder on untrusted packet bytes: IPv4 datagram split, advert decode for both
//! families, and full receive validation. Anything that decodes must re-encode to the same
//! length and decode to the same advertisement.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use tandem_vrrp::packet::{Ipv4VrrpPacket, peek_vrid};
use tandem_vrrp::validate::{ValidationParams, validate};
use tandem_vrrp::{
    AddressListCheck, Advertisement, Centiseconds, Family, ReceivedPacket, V2Auth, Version,
};

fn params(version: Version) -> ValidationParams {
    ValidationParams {
        version,
        family: Family::Ipv4,
        vrid: 51,
        local_is_owner: false,
        v2_auth: V2Auth::simple_text(b"labpass"),
        advert_interval: Centiseconds(100),
        virtual_addresses: vec![IpAddr::V4(Ipv4Addr::new(10, 77, 0, 100))],
        address_list_check: AddressListCheck::DropUnlessOwner,
        local_address: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = peek_vrid(data);
    let _ = Ipv4VrrpPacket::decode(data);
    if let Ok(rx) = ReceivedPacket::from_ipv4_datagram(data) {
        let _ = validate(&params(Version::V2), &rx);
        let _ = validate(&params(Version::V3), &rx);
    }
    for (family, src) in [
        (Family::Ipv4, IpAddr::V4(Ipv4Addr::LOCALHOST)),
        (Family::Ipv6, IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ] {
        if let Ok(advert) = Advertisement::decode(data, family)
            && let Ok(bytes) = advert.encode(src, src)
        {
            assert_eq!(bytes.len(), data.len());
            assert_eq!(Advertisement::decode(&bytes, family).as_ref(), Ok(&advert));
        }
    }
});
