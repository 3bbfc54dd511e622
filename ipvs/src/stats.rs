//! Traffic counters of a service or destination (`IPVS_*_ATTR_STATS` / `STATS64`).
//!
//! The kernel sends two nests: the legacy one (`STATS`: 32-bit counters except the byte
//! counters, which are 64-bit) and `STATS64` (all 64-bit). Both are parsed with the exact
//! widths the kernel's `ip_vs_genl_fill_stats` / `ip_vs_genl_fill_stats64` use, so a reply
//! re-emits byte-identical.

use netlink_packet_core::{DecodeError, DefaultNla, Nla, NlaBuffer, Parseable};

use crate::constants::*;
use crate::nla::{parse_all, read_u32, read_u64};

/// Which of the two stats nests an attribute belongs to; decides the counter widths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatsWidth {
    /// `IPVS_*_ATTR_STATS`: u32 counters, u64 byte counters.
    Legacy,
    /// `IPVS_*_ATTR_STATS64`: every counter u64.
    Wide,
}

/// One counter inside a stats nest.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatsAttr {
    Conns(u64),
    InPkts(u64),
    OutPkts(u64),
    InBytes(u64),
    OutBytes(u64),
    Cps(u64),
    InPps(u64),
    OutPps(u64),
    InBps(u64),
    OutBps(u64),
    /// Unknown counter or padding (`IPVS_STATS_ATTR_PAD`), kept as received.
    Other(DefaultNla),
}

impl StatsAttr {
    fn kind_value(&self) -> Option<(u16, u64)> {
        Some(match self {
            StatsAttr::Conns(v) => (IPVS_STATS_ATTR_CONNS, *v),
            StatsAttr::InPkts(v) => (IPVS_STATS_ATTR_INPKTS, *v),
            StatsAttr::OutPkts(v) => (IPVS_STATS_ATTR_OUTPKTS, *v),
            StatsAttr::InBytes(v) => (IPVS_STATS_ATTR_INBYTES, *v),
            StatsAttr::OutBytes(v) => (IPVS_STATS_ATTR_OUTBYTES, *v),
            StatsAttr::Cps(v) => (IPVS_STATS_ATTR_CPS, *v),
            StatsAttr::InPps(v) => (IPVS_STATS_ATTR_INPPS, *v),
            StatsAttr::OutPps(v) => (IPVS_STATS_ATTR_OUTPPS, *v),
            StatsAttr::InBps(v) => (IPVS_STATS_ATTR_INBPS, *v),
            StatsAttr::OutBps(v) => (IPVS_STATS_ATTR_OUTBPS, *v),
            StatsAttr::Other(_) => return None,
        })
    }

    fn is_wide(kind: u16, width: StatsWidth) -> bool {
        width == StatsWidth::Wide
            || kind == IPVS_STATS_ATTR_INBYTES
            || kind == IPVS_STATS_ATTR_OUTBYTES
    }

    pub(crate) fn parse(nla: &NlaBuffer<&[u8]>, width: StatsWidth) -> Result<Self, DecodeError> {
        let kind = nla.kind();
        let value = nla.value();
        let read = |what: &str| -> Result<u64, DecodeError> {
            if Self::is_wide(kind, width) {
                read_u64(value, what)
            } else {
                read_u32(value, what).map(u64::from)
            }
        };
        Ok(match kind {
            IPVS_STATS_ATTR_CONNS => StatsAttr::Conns(read("IPVS_STATS_ATTR_CONNS")?),
            IPVS_STATS_ATTR_INPKTS => StatsAttr::InPkts(read("IPVS_STATS_ATTR_INPKTS")?),
            IPVS_STATS_ATTR_OUTPKTS => StatsAttr::OutPkts(read("IPVS_STATS_ATTR_OUTPKTS")?),
            IPVS_STATS_ATTR_INBYTES => StatsAttr::InBytes(read("IPVS_STATS_ATTR_INBYTES")?),
            IPVS_STATS_ATTR_OUTBYTES => StatsAttr::OutBytes(read("IPVS_STATS_ATTR_OUTBYTES")?),
            IPVS_STATS_ATTR_CPS => StatsAttr::Cps(read("IPVS_STATS_ATTR_CPS")?),
            IPVS_STATS_ATTR_INPPS => StatsAttr::InPps(read("IPVS_STATS_ATTR_INPPS")?),
            IPVS_STATS_ATTR_OUTPPS => StatsAttr::OutPps(read("IPVS_STATS_ATTR_OUTPPS")?),
            IPVS_STATS_ATTR_INBPS => StatsAttr::InBps(read("IPVS_STATS_ATTR_INBPS")?),
            IPVS_STATS_ATTR_OUTBPS => StatsAttr::OutBps(read("IPVS_STATS_ATTR_OUTBPS")?),
            _ => StatsAttr::Other(DefaultNla::parse(nla)?),
        })
    }

    pub(crate) fn parse_nest(buf: &[u8], width: StatsWidth) -> Result<Vec<Self>, DecodeError> {
        parse_all(buf, |nla| Self::parse(nla, width))
    }

    pub(crate) fn value_len(&self, width: StatsWidth) -> usize {
        match self {
            StatsAttr::Other(nla) => nla.value_len(),
            other => match other.kind_value() {
                Some((kind, _)) if Self::is_wide(kind, width) => 8,
                _ => 4,
            },
        }
    }

    pub(crate) fn kind(&self) -> u16 {
        match self {
            StatsAttr::Other(nla) => nla.kind(),
            other => other.kind_value().map_or(0, |(kind, _)| kind),
        }
    }

    pub(crate) fn emit_value(&self, buf: &mut [u8], width: StatsWidth) {
        match self.kind_value() {
            None => {
                if let StatsAttr::Other(nla) = self {
                    nla.emit_value(buf)
                }
            }
            Some((kind, value)) if Self::is_wide(kind, width) => {
                buf.copy_from_slice(&value.to_ne_bytes())
            }
            // A legacy nest only has room for 32 bits; the kernel truncates the same way.
            Some((_, value)) => buf.copy_from_slice(&(value as u32).to_ne_bytes()),
        }
    }
}

/// A stats nest bound to its width, so it can be emitted as a netlink attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StatsNest<'a> {
    pub(crate) width: StatsWidth,
    pub(crate) attrs: &'a [StatsAttr],
}

impl StatsNest<'_> {
    pub(crate) fn value_len(&self) -> usize {
        self.attrs
            .iter()
            .map(|a| 4 + ((a.value_len(self.width) + 3) & !3))
            .sum()
    }

    pub(crate) fn emit_value(&self, buf: &mut [u8]) {
        let mut offset = 0;
        for attr in self.attrs {
            let len = attr.value_len(self.width);
            let padded = (len + 3) & !3;
            let total = 4 + padded;
            let slot = &mut buf[offset..offset + total];
            slot[..2].copy_from_slice(&((4 + len) as u16).to_ne_bytes());
            let kind = match attr {
                StatsAttr::Other(nla) => nla.kind(),
                other => other.kind(),
            };
            slot[2..4].copy_from_slice(&kind.to_ne_bytes());
            attr.emit_value(&mut slot[4..4 + len], self.width);
            slot[4 + len..].fill(0);
            offset += total;
        }
    }
}

/// Counters read back from the kernel for a service or a destination.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    pub in_pkts: u64,
    pub out_pkts: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    /// Current connection rate (per second, kernel estimator).
    pub cps: u64,
    pub in_pps: u64,
    pub out_pps: u64,
    pub in_bps: u64,
    pub out_bps: u64,
}

impl Stats {
    pub(crate) fn from_attrs(attrs: &[StatsAttr]) -> Self {
        let mut s = Stats::default();
        for attr in attrs {
            match *attr {
                StatsAttr::Conns(v) => s.conns = v,
                StatsAttr::InPkts(v) => s.in_pkts = v,
                StatsAttr::OutPkts(v) => s.out_pkts = v,
                StatsAttr::InBytes(v) => s.in_bytes = v,
                StatsAttr::OutBytes(v) => s.out_bytes = v,
                StatsAttr::Cps(v) => s.cps = v,
                StatsAttr::InPps(v) => s.in_pps = v,
                StatsAttr::OutPps(v) => s.out_pps = v,
                StatsAttr::InBps(v) => s.in_bps = v,
                StatsAttr::OutBps(v) => s.out_bps = v,
                StatsAttr::Other(_) => {}
            }
        }
        s
    }
}
