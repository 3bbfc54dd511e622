//! Maps the YAML checks onto the `tandem-checkers` crate's typed specs. The crate knows nothing
//! of the configuration; this is the one place that translates.

use std::net::{IpAddr, SocketAddr};

use tandem_checkers::dns::{AnswerExpectation, DnsSpec, DnsType};
use tandem_checkers::exec::{DynamicWeight, ExecSpec};
use tandem_checkers::http::{HttpMethod, HttpSpec, StatusRange};
use tandem_checkers::smtp::SmtpSpec;
use tandem_checkers::tcp::TcpSpec;
use tandem_checkers::udp::UdpSpec;
use tandem_checkers::{CheckConfig, CheckSpec, CheckTiming, Health, RiseFall, Target};

use crate::config::{self, Check, CheckKind, StatusSpec};

/// Decodes `hex:...` or takes the text as bytes (validated by the config checks).
fn payload_bytes(text: &str) -> Vec<u8> {
    match text.strip_prefix("hex:") {
        Some(hex) => (0..hex.len() / 2)
            .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
            .collect(),
        None => text.as_bytes().to_vec(),
    }
}

fn status_ranges(specs: Option<&Vec<StatusSpec>>) -> Vec<StatusRange> {
    match specs {
        None => vec![StatusRange {
            first: 200,
            last: 299,
        }],
        Some(list) => {
            list.iter()
                .filter_map(|s| match s {
                    StatusSpec::Code(c) => Some(StatusRange::single(*c)),
                    StatusSpec::Range(r) => config::parse_status_range(r)
                        .map(|(first, last)| StatusRange { first, last }),
                })
                .collect()
        }
    }
}

fn dns_type(t: config::DnsType) -> DnsType {
    match t {
        config::DnsType::Aaaa => DnsType::Aaaa,
        config::DnsType::Ns => DnsType::Ns,
        config::DnsType::Soa => DnsType::Soa,
        config::DnsType::Mx => DnsType::Mx,
        config::DnsType::Txt => DnsType::Txt,
        config::DnsType::Cname => DnsType::Cname,
        _ => DnsType::A,
    }
}

fn rcode(r: config::DnsRcode) -> u16 {
    match r {
        config::DnsRcode::FormErr => 1,
        config::DnsRcode::ServFail => 2,
        config::DnsRcode::NxDomain => 3,
        config::DnsRcode::NotImp => 4,
        config::DnsRcode::Refused => 5,
        _ => 0,
    }
}

/// The checker configuration of `check` against the real server `address:port`.
pub fn check_config(check: &Check, address: IpAddr, port: u16, helo_default: &str) -> CheckConfig {
    let port = check
        .port
        .as_ref()
        .and_then(|p| u16::try_from(p.value).ok())
        .unwrap_or(port);
    let source = check.bind_address.as_ref().map(|a| a.value);
    let spec = match *check.kind {
        CheckKind::Http | CheckKind::Https => CheckSpec::Http(HttpSpec {
            tls: *check.kind == CheckKind::Https,
            method: match check.method.as_ref().map(|m| m.value) {
                Some(config::HttpMethod::Head) => HttpMethod::Head,
                _ => HttpMethod::Get,
            },
            path: check
                .path
                .as_ref()
                .map(|p| p.value.clone())
                .unwrap_or_else(|| "/".into()),
            host: check.host.as_ref().map(|h| h.value.clone()),
            expect_status: status_ranges(check.expect_status.as_ref().map(|s| &s.value)),
            body_regex: check.body_regex.as_ref().map(|r| r.value.clone()),
            digest: check.digest.as_ref().map(|d| d.value.to_ascii_lowercase()),
            tls_verify: check.tls_verify.as_ref().is_none_or(|v| v.value),
            headers: check
                .headers
                .as_ref()
                .map(|h| h.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            source,
        }),
        CheckKind::Dns => CheckSpec::Dns(DnsSpec {
            name: check
                .name
                .as_ref()
                .map(|n| n.value.clone())
                .unwrap_or_default(),
            qtype: dns_type(check.qtype.as_ref().map(|q| q.value).unwrap_or_default()),
            expect_rcode: rcode(
                check
                    .expect_rcode
                    .as_ref()
                    .map(|r| r.value)
                    .unwrap_or_default(),
            ),
            expect_answers: check
                .expect_answers
                .as_ref()
                .map(|a| AnswerExpectation::Includes(a.value.clone())),
            source,
            ..DnsSpec::default()
        }),
        CheckKind::Smtp => CheckSpec::Smtp(SmtpSpec {
            helo_name: check
                .helo_name
                .as_ref()
                .map(|h| h.value.clone())
                .unwrap_or_else(|| helo_default.to_string()),
            source,
        }),
        CheckKind::Udp => CheckSpec::Udp(UdpSpec {
            payload: check
                .payload
                .as_ref()
                .map(|p| payload_bytes(p))
                .unwrap_or_default(),
            expect: check.expect.as_ref().map(|e| payload_bytes(e)),
            source,
        }),
        CheckKind::Exec => CheckSpec::Exec(ExecSpec {
            argv: check
                .command
                .as_ref()
                .map(|c| c.value.clone())
                .unwrap_or_default(),
            dynamic_weight: check
                .dynamic_weight
                .as_ref()
                .filter(|d| d.value)
                .map(|_| DynamicWeight::ExitCode),
            ..ExecSpec::default()
        }),
        _ => CheckSpec::Tcp(TcpSpec { source }),
    };
    CheckConfig {
        spec,
        target: Target::new(SocketAddr::new(address, port)),
        timing: CheckTiming {
            interval: check.interval.get(),
            timeout: check.timeout.get(),
            retries: *check.retry,
            retry_delay: check.retry_delay.get(),
            warmup: check.warmup.get(),
            ..CheckTiming::default()
        },
        rise_fall: RiseFall {
            rise: *check.rise,
            fall: *check.fall,
            initial: if check.initial_state == config::InitialState::Up {
                Health::Up
            } else {
                Health::Down
            },
        },
    }
}
