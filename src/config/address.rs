//! Address types of the configuration: CIDR virtual addresses and `address[:port]` endpoints.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An address with a prefix length, `10.77.0.100/24` or `fd00::100/64`. A bare address means a
/// host prefix (/32 or /128), as `ip addr add` does.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl Cidr {
    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl fmt::Debug for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr_text, prefix_text) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| format!("invalid address {addr_text:?} in {s:?}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = match prefix_text {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("invalid prefix length {p:?} in {s:?} (0..{max})")),
            },
        };
        Ok(Cidr { addr, prefix_len })
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl schemars::JsonSchema for Cidr {
    fn schema_name() -> Cow<'static, str> {
        "Cidr".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An IPv4 or IPv6 address with optional prefix length, e.g. 10.77.0.100/24 or fd00::100/64 (bare address = host prefix)."
        })
    }
}

/// `address:port` of a sorry server or peer; IPv6 in brackets (`[fd00::9]:80`). The port may be
/// omitted (`10.77.0.9`): it then defaults to the virtual server's port.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub addr: IpAddr,
    pub port: Option<u16>,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.addr, self.port) {
            (IpAddr::V6(a), Some(p)) => write!(f, "[{a}]:{p}"),
            (a, Some(p)) => write!(f, "{a}:{p}"),
            (a, None) => write!(f, "{a}"),
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(addr) = s.parse::<IpAddr>() {
            return Ok(Endpoint { addr, port: None });
        }
        match s.parse::<SocketAddr>() {
            Ok(sa) if sa.port() == 0 => Err(format!("port 0 in {s:?} (1..65535)")),
            Ok(sa) => Ok(Endpoint {
                addr: sa.ip(),
                port: Some(sa.port()),
            }),
            Err(_) => Err(format!(
                "invalid endpoint {s:?}: write ADDRESS, ADDRESS:PORT or [IPV6]:PORT"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl schemars::JsonSchema for Endpoint {
    fn schema_name() -> Cow<'static, str> {
        "Endpoint".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "ADDRESS, ADDRESS:PORT or [IPV6]:PORT, e.g. 10.77.0.9:80."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_forms() {
        assert_eq!(
            "10.0.0.1/24".parse::<Cidr>().map(|c| c.to_string()),
            Ok("10.0.0.1/24".into())
        );
        assert_eq!("10.0.0.1".parse::<Cidr>().map(|c| c.prefix_len), Ok(32));
        assert_eq!("fd00::1".parse::<Cidr>().map(|c| c.prefix_len), Ok(128));
        assert!("10.0.0.1/33".parse::<Cidr>().is_err());
        assert!("10.0.0.256/24".parse::<Cidr>().is_err());
        assert!("fd00::1/129".parse::<Cidr>().is_err());
    }

    #[test]
    fn endpoint_forms() {
        assert_eq!(
            "10.0.0.9:80".parse::<Endpoint>().map(|e| e.port),
            Ok(Some(80))
        );
        assert_eq!("10.0.0.9".parse::<Endpoint>().map(|e| e.port), Ok(None));
        assert_eq!(
            "[fd00::9]:8080".parse::<Endpoint>().map(|e| e.to_string()),
            Ok("[fd00::9]:8080".into())
        );
        assert!("10.0.0.9:0".parse::<Endpoint>().is_err());
        assert!("host:80".parse::<Endpoint>().is_err());
    }
}
