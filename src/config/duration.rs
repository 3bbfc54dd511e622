//! Durations written the way operators write them: `10ms`, `1s`, `1.5s`, `2m`, `1h`, `1m30s`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration in a configuration file. A bare number is rejected on purpose: `advert_interval:
/// 1` is ambiguous between keepalived's seconds and a millisecond value.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigDuration(pub Duration);

impl ConfigDuration {
    pub const ZERO: ConfigDuration = ConfigDuration(Duration::ZERO);

    pub const fn from_millis(ms: u64) -> Self {
        ConfigDuration(Duration::from_millis(ms))
    }

    pub const fn from_secs(s: u64) -> Self {
        ConfigDuration(Duration::from_secs(s))
    }

    pub fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Debug for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Prints the shortest exact form: `0s`, `10ms`, `1s`, `1500ms`, `2m`.
impl fmt::Display for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let nanos = d.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        if nanos.is_multiple_of(3_600_000_000_000) {
            write!(f, "{}h", nanos / 3_600_000_000_000)
        } else if nanos.is_multiple_of(60_000_000_000) {
            write!(f, "{}m", nanos / 60_000_000_000)
        } else if nanos.is_multiple_of(1_000_000_000) {
            write!(f, "{}s", nanos / 1_000_000_000)
        } else if nanos.is_multiple_of(1_000_000) {
            write!(f, "{}ms", nanos / 1_000_000)
        } else if nanos.is_multiple_of(1_000) {
            write!(f, "{}us", nanos / 1_000)
        } else {
            write!(f, "{nanos}ns")
        }
    }
}

/// Why a duration string is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {why} (write e.g. 10ms, 1s, 1.5s, 2m, 1h, 1m30s)")]
pub struct DurationError {
    input: String,
    why: &'static str,
}

impl FromStr for ConfigDuration {
    type Err = DurationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |why| DurationError {
            input: input.to_string(),
            why,
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(err("empty"));
        }
        let bytes = s.as_bytes();
        let mut i = 0;
        let mut total: u128 = 0;
        while i < bytes.len() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            let number = &s[start..i];
            if number.is_empty() {
                return Err(err("expected a number"));
            }
            let unit_start = i;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            let unit = &s[unit_start..i];
            let unit_nanos: u128 = match unit {
                "ns" => 1,
                "us" | "µs" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60_000_000_000,
                "h" => 3_600_000_000_000,
                "" => return Err(err("missing unit")),
                _ => return Err(err("unknown unit (use ms, s, m or h)")),
            };
            let (whole, frac) = match number.split_once('.') {
                Some((w, f)) => (w, f),
                None => (number, ""),
            };
            if whole.is_empty() || frac.contains('.') || (number.contains('.') && frac.is_empty()) {
                return Err(err("malformed number"));
            }
            let whole: u128 = whole.parse().map_err(|_| err("number too large"))?;
            let mut nanos = whole
                .checked_mul(unit_nanos)
                .ok_or_else(|| err("number too large"))?;
            if !frac.is_empty() {
                if frac.len() > 9 {
                    return Err(err("too many decimals"));
                }
                let frac_value: u128 = frac.parse().map_err(|_| err("malformed number"))?;
                let scale = 10u128.pow(frac.len() as u32);
                let part = frac_value * unit_nanos;
                if !part.is_multiple_of(scale) {
                    return Err(err("finer than a nanosecond"));
                }
                nanos += part / scale;
            }
            total = total
                .checked_add(nanos)
                .ok_or_else(|| err("number too large"))?;
        }
        let secs = u64::try_from(total / 1_000_000_000).map_err(|_| err("number too large"))?;
        Ok(ConfigDuration(Duration::new(
            secs,
            (total % 1_000_000_000) as u32,
        )))
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ConfigDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 10ms, 1s or 2m")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Err(E::custom(format!(
                    "a duration needs a unit: write {v}s or {v}ms"
                )))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Err(E::custom(format!(
                    "a duration needs a unit and cannot be negative: {v}"
                )))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Err(E::custom(format!("a duration needs a unit: write {v}s")))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl schemars::JsonSchema for ConfigDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration: a number with a unit (ns, us, ms, s, m, h), e.g. 10ms, 1s, 1.5s, 2m, 1m30s.",
            "pattern": "^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Duration {
        s.parse::<ConfigDuration>()
            .map(|d| d.0)
            .unwrap_or(Duration::MAX)
    }

    #[test]
    fn parses_operator_forms() {
        assert_eq!(p("10ms"), Duration::from_millis(10));
        assert_eq!(p("1s"), Duration::from_secs(1));
        assert_eq!(p("1.5s"), Duration::from_millis(1500));
        assert_eq!(p("40.95s"), Duration::from_millis(40950));
        assert_eq!(p("2m"), Duration::from_secs(120));
        assert_eq!(p("1h"), Duration::from_secs(3600));
        assert_eq!(p("1m30s"), Duration::from_secs(90));
        assert_eq!(p("0s"), Duration::ZERO);
        assert_eq!(p("250us"), Duration::from_micros(250));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "10",
            "s",
            "1x",
            "1.s",
            ".5s",
            "1..5s",
            "-1s",
            "1.2.3s",
            "99999999999999999999999h",
        ] {
            assert!(bad.parse::<ConfigDuration>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["0s", "10ms", "1s", "1500ms", "2m", "1h", "250us", "90s"] {
            assert_eq!(
                s.parse::<ConfigDuration>()
                    .map(|d| d.to_string())
                    .as_deref(),
                Ok(s)
            );
        }
    }
}
