//! VRRP timer formulas (RFC 5798 §6.1, RFC 3768 §6.1) and the deadlines an instance tracks.
//!
//! VRRPv3 timers are defined in centiseconds with integer arithmetic: the RFC's division
//! truncates, so `Skew_Time` for priority 100 at a 1 cs interval is `(156 * 1) / 256 = 0` cs. The
//! computations below keep centiseconds as [`Centiseconds`] until the last step, so no interval
//! can be built in the wrong unit. VRRPv2's `Skew_Time = (256 - Priority) / 256` seconds is a
//! fraction of a second; it is computed exactly in nanoseconds (1 s / 256 = 3 906 250 ns).

use std::time::{Duration, Instant};

use crate::packet::{Centiseconds, Version};

/// 1/256 s in nanoseconds: exact, so VRRPv2 skew has no rounding at all.
const NANOS_PER_256TH_SECOND: u64 = 3_906_250;

/// VRRPv3 `Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256` centiseconds
/// (RFC 5798 §6.1), truncating like the RFC's integer arithmetic.
pub fn v3_skew_time(priority: u8, master_adver_interval: Centiseconds) -> Centiseconds {
    // u64: no overflow for any u32 interval (valid ones are at most 4095 cs).
    let factor = 256 - u64::from(priority);
    let skew = factor * u64::from(master_adver_interval.get()) / 256;
    Centiseconds(u32::try_from(skew).unwrap_or(u32::MAX))
}

/// VRRPv3 `Master_Down_Interval = (3 * Master_Adver_Interval) + Skew_time` centiseconds
/// (RFC 5798 §6.1).
pub fn v3_master_down_interval(priority: u8, master_adver_interval: Centiseconds) -> Centiseconds {
    let interval = u64::from(master_adver_interval.get());
    let skew = u64::from(v3_skew_time(priority, master_adver_interval).get());
    Centiseconds(u32::try_from(3 * interval + skew).unwrap_or(u32::MAX))
}

/// VRRPv2 `Skew_Time = (256 - Priority) / 256` seconds (RFC 3768 §6.1), exact.
pub fn v2_skew_time(priority: u8) -> Duration {
    Duration::from_nanos((256 - u64::from(priority)) * NANOS_PER_256TH_SECOND)
}

/// VRRPv2 `Master_Down_Interval = (3 * Advertisement_Interval) + Skew_time` (RFC 3768 §6.1).
pub fn v2_master_down_interval(priority: u8, advert_interval: Centiseconds) -> Duration {
    advert_interval.to_duration() * 3 + v2_skew_time(priority)
}

/// `Skew_Time` for either version, as a duration.
pub fn skew_time(version: Version, priority: u8, master_adver_interval: Centiseconds) -> Duration {
    match version {
        Version::V2 => v2_skew_time(priority),
        Version::V3 => v3_skew_time(priority, master_adver_interval).to_duration(),
    }
}

/// `Master_Down_Interval` for either version, as a duration.
pub fn master_down_interval(
    version: Version,
    priority: u8,
    master_adver_interval: Centiseconds,
) -> Duration {
    match version {
        Version::V2 => v2_master_down_interval(priority, master_adver_interval),
        Version::V3 => v3_master_down_interval(priority, master_adver_interval).to_duration(),
    }
}

/// The deadlines of one instance. RFC 5798 defines two timers (Adver_Timer in Master,
/// Master_Down_Timer in Backup); the preemption delay and the gratuitous ARP/NA refresh are
/// tandem additions. `None` means not running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Timers {
    /// Master_Down_Timer (Backup).
    pub master_down: Option<Instant>,
    /// Adver_Timer (Master).
    pub advert: Option<Instant>,
    /// End of the preemption delay (Backup, lower-priority master seen).
    pub preempt: Option<Instant>,
    /// Next gratuitous ARP/NA refresh (Master).
    pub gratuitous_refresh: Option<Instant>,
}

impl Timers {
    /// Earliest running deadline.
    pub fn next(&self) -> Option<Instant> {
        [
            self.master_down,
            self.advert,
            self.preempt,
            self.gratuitous_refresh,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Stops every timer.
    pub fn clear(&mut self) {
        *self = Timers::default();
    }
}

/// True when `deadline` is running and has passed at `now`.
pub(crate) fn expired(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|d| d <= now)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// RFC 5798 §6.1 with exact integer arithmetic at a 10 ms (1 cs) interval.
    #[test]
    fn v3_at_10ms() {
        let i = Centiseconds(1);
        // (256-100)*1/256 = 156/256 = 0 cs
        assert_eq!(v3_skew_time(100, i), Centiseconds(0));
        assert_eq!(v3_master_down_interval(100, i), Centiseconds(3));
        assert_eq!(master_down_interval(Version::V3, 100, i), MS(30));
        // (256-1)*1/256 = 0 cs: even the lowest priority gets no skew at 1 cs.
        assert_eq!(v3_skew_time(1, i), Centiseconds(0));
        assert_eq!(v3_skew_time(254, i), Centiseconds(0));
    }

    /// At a 100 ms (10 cs) interval.
    #[test]
    fn v3_at_100ms() {
        let i = Centiseconds(10);
        // (156*10)/256 = 1560/256 = 6 cs (6.09 truncated)
        assert_eq!(v3_skew_time(100, i), Centiseconds(6));
        assert_eq!(v3_master_down_interval(100, i), Centiseconds(36));
        assert_eq!(master_down_interval(Version::V3, 100, i), MS(360));
        assert_eq!(skew_time(Version::V3, 100, i), MS(60));
        // (106*10)/256 = 1060/256 = 4 cs
        assert_eq!(v3_skew_time(150, i), Centiseconds(4));
        assert_eq!(master_down_interval(Version::V3, 150, i), MS(340));
        // (255*10)/256 = 9 cs
        assert_eq!(v3_skew_time(1, i), Centiseconds(9));
    }

    /// At a 1 s (100 cs) interval, the RFC default.
    #[test]
    fn v3_at_1s() {
        let i = Centiseconds(100);
        // (156*100)/256 = 15600/256 = 60 cs (60.94 truncated)
        assert_eq!(v3_skew_time(100, i), Centiseconds(60));
        assert_eq!(v3_master_down_interval(100, i), Centiseconds(360));
        assert_eq!(master_down_interval(Version::V3, 100, i), MS(3600));
        // (106*100)/256 = 10600/256 = 41 cs
        assert_eq!(v3_skew_time(150, i), Centiseconds(41));
        assert_eq!(master_down_interval(Version::V3, 150, i), MS(3410));
        // (2*100)/256 = 0 cs
        assert_eq!(v3_skew_time(254, i), Centiseconds(0));
        // (255*100)/256 = 99 cs
        assert_eq!(v3_skew_time(1, i), Centiseconds(99));
    }

    /// The largest interval (4095 cs) does not overflow and truncates per the RFC.
    #[test]
    fn v3_at_max_interval() {
        let i = Centiseconds(4095);
        // (255*4095)/256 = 1044225/256 = 4079 cs
        assert_eq!(v3_skew_time(1, i), Centiseconds(4079));
        assert_eq!(v3_master_down_interval(1, i), Centiseconds(3 * 4095 + 4079));
    }

    /// RFC 3768 §6.1 at the 1 s interval: skew is a fraction of a second, kept exact.
    #[test]
    fn v2_at_1s() {
        let i = Centiseconds::from_secs(1);
        // (256-100)/256 s = 0.609375 s
        assert_eq!(v2_skew_time(100), Duration::from_micros(609_375));
        assert_eq!(
            master_down_interval(Version::V2, 100, i),
            Duration::from_micros(3_609_375)
        );
        // (256-150)/256 s = 0.4140625 s
        assert_eq!(v2_skew_time(150), Duration::from_nanos(414_062_500));
        assert_eq!(
            master_down_interval(Version::V2, 150, i),
            Duration::from_nanos(3_414_062_500)
        );
        // (256-255)/256 s
        assert_eq!(v2_skew_time(255), Duration::from_nanos(3_906_250));
        assert_eq!(
            skew_time(Version::V2, 100, i),
            Duration::from_micros(609_375)
        );
    }

    /// Out-of-range intervals (never accepted by the config check) saturate instead of
    /// overflowing.
    #[test]
    fn huge_intervals_do_not_overflow() {
        assert_eq!(
            v3_skew_time(0, Centiseconds(u32::MAX)),
            Centiseconds(u32::MAX)
        );
        assert_eq!(
            v3_master_down_interval(1, Centiseconds(u32::MAX)),
            Centiseconds(u32::MAX)
        );
    }

    /// Guard against building centiseconds as seconds or milliseconds.
    #[test]
    fn centiseconds_are_ten_milliseconds() {
        assert_eq!(Centiseconds(1).to_duration(), MS(10));
        assert_eq!(Centiseconds(100).to_duration(), Duration::from_secs(1));
        assert_eq!(Centiseconds::from_secs(3), Centiseconds(300));
    }

    #[test]
    fn next_is_the_earliest_running_timer() {
        let base = Instant::now();
        let mut t = Timers::default();
        assert_eq!(t.next(), None);
        t.advert = Some(base + MS(50));
        t.gratuitous_refresh = Some(base + MS(20));
        assert_eq!(t.next(), Some(base + MS(20)));
        assert!(expired(t.gratuitous_refresh, base + MS(20)));
        assert!(!expired(t.advert, base + MS(49)));
        assert!(!expired(None, base));
        t.clear();
        assert_eq!(t.next(), None);
    }
}
