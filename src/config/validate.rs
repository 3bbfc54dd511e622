//! Rules that relate several values of the configuration (field ranges are garde rules on the
//! model). Each rule reports the position of the offending value; for a duplicate, the second
//! occurrence.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

use super::located::{At, Position};
use super::model::*;

type Errors = Vec<(Position, String)>;

/// Every semantic problem of `config`, unordered.
pub(crate) fn semantic_errors(config: &Config) -> Errors {
    let mut errors = Vec::new();
    check_vrrp_instances(config, &mut errors);
    check_sync_groups(config, &mut errors);
    check_virtual_servers(config, &mut errors);
    check_dataplane(config, &mut errors);
    errors
}

fn check_dataplane(config: &Config, errors: &mut Errors) {
    if *config.dataplane == Dataplane::Xdp {
        errors.push((
            config.dataplane.pos,
            "dataplane `xdp` is not available in this build of tandem; use `ipvs` or `none`".into(),
        ));
    }
    if let Some(sync) = &config.ipvs.sync_daemon {
        let known = config
            .vrrp_instances
            .iter()
            .any(|i| i.name.value == sync.follow.value)
            || config
                .sync_groups
                .iter()
                .any(|g| g.name.value == sync.follow.value);
        if !known {
            errors.push((
                sync.follow.pos,
                format!(
                    "ipvs.sync_daemon.follow: no vrrp instance or sync group named {:?}",
                    sync.follow.value
                ),
            ));
        }
    }
    if config.ipvs.reconcile_interval.get() < Duration::from_millis(100) {
        errors.push((
            config.ipvs.reconcile_interval.pos,
            "ipvs.reconcile_interval must be at least 100ms".into(),
        ));
    }
}

/// Records `value` under `key` in `seen`; a second occurrence is an error at its position.
fn first_occurrence<K: std::hash::Hash + Eq>(
    seen: &mut HashMap<K, Position>,
    key: K,
    pos: Position,
    errors: &mut Errors,
    what: impl FnOnce(Position) -> String,
) {
    match seen.get(&key) {
        Some(first) => errors.push((pos, what(*first))),
        None => {
            seen.insert(key, pos);
        }
    }
}

fn check_argv(argv: &Option<At<Vec<String>>>, what: &str, errors: &mut Errors) {
    if let Some(argv) = argv {
        match argv.first() {
            None => errors.push((argv.pos, format!("{what}: command is empty"))),
            Some(program) if !program.starts_with('/') => errors.push((
                argv.pos,
                format!(
                    "{what}: program {program:?} must be an absolute path (commands run without a shell or PATH lookup)"
                ),
            )),
            Some(_) => {}
        }
    }
}

fn check_vrrp_instances(config: &Config, errors: &mut Errors) {
    let mut names = HashMap::new();
    let mut vrids = HashMap::new();
    let service_names: HashSet<&str> = config
        .virtual_servers
        .iter()
        .map(|v| v.name.as_str())
        .collect();

    for instance in &config.vrrp_instances {
        first_occurrence(
            &mut names,
            instance.name.as_str(),
            instance.name.pos,
            errors,
            |first| {
                format!(
                    "duplicate vrrp instance name {:?} (first defined at {first})",
                    instance.name.value
                )
            },
        );

        // Address family: all virtual addresses of an instance share one (RFC 5798 §5.2.9:
        // an advert carries addresses of its own family only).
        let first_family = instance.virtual_addresses.first().map(|a| a.is_ipv6());
        for addr in instance.virtual_addresses.iter() {
            if Some(addr.is_ipv6()) != first_family {
                errors.push((
                    addr.pos,
                    format!(
                        "virtual address {} is not of the same family as the instance's first address (use one instance per address family)",
                        addr.value
                    ),
                ));
            }
        }
        let ipv6 = first_family.unwrap_or(false);
        if ipv6 && *instance.version == 2 {
            errors.push((
                instance.version.pos,
                "VRRP version 2 cannot carry IPv6 addresses (RFC 3768 is IPv4-only); use version: 3"
                    .to_string(),
            ));
        }
        if (1..=255).contains(&*instance.vrid) {
            first_occurrence(
                &mut vrids,
                (instance.interface.as_str(), *instance.vrid, ipv6),
                instance.vrid.pos,
                errors,
                |first| {
                    format!(
                        "vrid {} is already used on interface {} for {} (at {first}); vrids must be unique per interface and address family",
                        *instance.vrid,
                        instance.interface.value,
                        if ipv6 { "IPv6" } else { "IPv4" }
                    )
                },
            );
        }

        check_advert_interval(instance, errors);
        let refresh = instance.garp.refresh.get();
        if !refresh.is_zero()
            && !(Duration::from_secs(1)..=Duration::from_secs(24 * 3600)).contains(&refresh)
        {
            errors.push((
                instance.garp.refresh.pos,
                format!(
                    "garp.refresh {} out of range: 0s (off) or 1s..24h",
                    instance.garp.refresh.value
                ),
            ));
        }

        for peer in &instance.unicast_peers {
            if peer.is_ipv6() != ipv6 {
                errors.push((
                    peer.pos,
                    format!(
                        "unicast peer {} is not of the instance's address family",
                        peer.value
                    ),
                ));
            }
        }
        if let Some(src) = &instance.source_address
            && src.is_ipv6() != ipv6
        {
            errors.push((
                src.pos,
                format!(
                    "source address {} is not of the instance's address family",
                    src.value
                ),
            ));
        }

        let mut tracked = HashMap::new();
        for t in &instance.track_interfaces {
            first_occurrence(&mut tracked, t.name.as_str(), t.name.pos, errors, |first| {
                format!(
                    "interface {:?} is tracked twice (first at {first})",
                    t.name.value
                )
            });
        }
        let mut tracked = HashMap::new();
        for t in &instance.track_services {
            if !service_names.contains(t.name.as_str()) {
                errors.push((
                    t.name.pos,
                    format!("track_services: no virtual server named {:?}", t.name.value),
                ));
            }
            first_occurrence(&mut tracked, t.name.as_str(), t.name.pos, errors, |first| {
                format!(
                    "service {:?} is tracked twice (first at {first})",
                    t.name.value
                )
            });
        }
        check_argv(&instance.notify.master, "notify.master", errors);
        check_argv(&instance.notify.backup, "notify.backup", errors);
        check_argv(&instance.notify.fault, "notify.fault", errors);
        check_argv(&instance.notify.stop, "notify.stop", errors);
    }
}

/// RFC 5798 §5.2.7: v3 Max Adver Int is 12 bits of centiseconds (10 ms .. 40.95 s). RFC 3768
/// §5.3.7: v2 Adver Int is 8 bits of whole seconds (1 .. 255 s).
fn check_advert_interval(instance: &VrrpInstance, errors: &mut Errors) {
    let interval = instance.advert_interval.get();
    let pos = instance.advert_interval.pos;
    match *instance.version {
        2 if (interval.subsec_nanos() != 0
            || interval < Duration::from_secs(1)
            || interval > Duration::from_secs(255)) =>
        {
            errors.push((
                    pos,
                    format!(
                        "advert_interval {} is invalid for VRRP version 2: whole seconds from 1s to 255s (RFC 3768 §5.3.7); use version: 3 for sub-second adverts",
                        instance.advert_interval.value
                    ),
                ));
        }
        3 => {
            let nanos = interval.as_nanos();
            if !nanos.is_multiple_of(10_000_000)
                || interval < Duration::from_millis(10)
                || interval > Duration::from_millis(40_950)
            {
                errors.push((
                    pos,
                    format!(
                        "advert_interval {} is invalid for VRRP version 3: 10ms to 40.95s in 10ms steps (RFC 5798 §5.2.7)",
                        instance.advert_interval.value
                    ),
                ));
            }
        }
        _ => {} // reported by the range rule on `version`
    }
}

fn check_sync_groups(config: &Config, errors: &mut Errors) {
    let instance_names: HashSet<&str> = config
        .vrrp_instances
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    let mut group_names = HashMap::new();
    let mut membership = HashMap::new();
    for group in &config.sync_groups {
        first_occurrence(
            &mut group_names,
            group.name.as_str(),
            group.name.pos,
            errors,
            |first| {
                format!(
                    "duplicate sync group name {:?} (first defined at {first})",
                    group.name.value
                )
            },
        );
        for member in &group.instances {
            if !instance_names.contains(member.as_str()) {
                errors.push((
                    member.pos,
                    format!(
                        "sync group {:?}: no vrrp instance named {:?}",
                        group.name.value, member.value
                    ),
                ));
                continue;
            }
            first_occurrence(
                &mut membership,
                member.as_str(),
                member.pos,
                errors,
                |first| {
                    format!(
                        "vrrp instance {:?} is already in a sync group (at {first}); an instance belongs to at most one group",
                        member.value
                    )
                },
            );
        }
    }
}

/// Identity of a virtual service in the kernel: IPVS keys services by (address, port, protocol)
/// or by (fwmark, family).
#[derive(Hash, PartialEq, Eq)]
enum ServiceKey {
    Address(IpAddr, u32, Protocol),
    Fwmark(u32, bool),
}

fn check_virtual_servers(config: &Config, errors: &mut Errors) {
    let mut names = HashMap::new();
    let mut keys = HashMap::new();
    for vs in &config.virtual_servers {
        first_occurrence(&mut names, vs.name.as_str(), vs.name.pos, errors, |first| {
            format!(
                "duplicate virtual server name {:?} (first defined at {first})",
                vs.name.value
            )
        });

        let key = match (&vs.address, &vs.port, &vs.fwmark) {
            (Some(addr), Some(port), None) => {
                if vs.family.is_some() {
                    errors.push((
                        vs.name.pos,
                        "`family` applies to fwmark services only (an address implies its family)"
                            .to_string(),
                    ));
                }
                Some((
                    ServiceKey::Address(addr.value, port.value, *vs.protocol),
                    addr.pos,
                ))
            }
            (None, None, Some(mark)) => {
                let v6 = vs.family.as_ref().is_some_and(|f| **f == Family::Inet6);
                Some((ServiceKey::Fwmark(mark.value, v6), mark.pos))
            }
            (Some(addr), None, None) => {
                errors.push((
                    addr.pos,
                    "virtual server needs a `port` with its `address`".into(),
                ));
                None
            }
            (None, Some(port), None) => {
                errors.push((
                    port.pos,
                    "virtual server needs an `address` with its `port`".into(),
                ));
                None
            }
            (None, None, None) => {
                errors.push((
                    vs.name.pos,
                    "virtual server needs `address` and `port`, or `fwmark`".into(),
                ));
                None
            }
            (_, _, Some(mark)) => {
                errors.push((
                    mark.pos,
                    "`fwmark` excludes `address` and `port`: a service is keyed by one or the other"
                        .into(),
                ));
                None
            }
        };
        if let Some((key, pos)) = key {
            first_occurrence(&mut keys, key, pos, errors, |first| {
                format!(
                    "virtual server {:?} duplicates the service defined at {first} (same address, port and protocol, or same fwmark)",
                    vs.name.value
                )
            });
        }
        let vs_v6 = match (&vs.address, &vs.family) {
            (Some(a), _) => a.is_ipv6(),
            (None, Some(f)) => **f == Family::Inet6,
            (None, None) => false,
        };

        if let Some(check) = &vs.check {
            check_check(check, errors);
        }

        let mut reals = HashMap::new();
        for real in &vs.real_servers {
            let port = real
                .port
                .as_ref()
                .map(|p| p.value)
                .or(vs.port.as_ref().map(|p| p.value));
            first_occurrence(
                &mut reals,
                (real.address.value, port),
                real.address.pos,
                errors,
                |first| {
                    format!(
                        "duplicate real server {} in virtual server {:?} (first at {first})",
                        real.address.value, vs.name.value
                    )
                },
            );
            if real.address.is_ipv6() != vs_v6 && vs.forwarding != Forwarding::Tun {
                errors.push((
                    real.address.pos,
                    format!(
                        "real server {} is not of the virtual server's address family (only `forwarding: tun` can mix families)",
                        real.address.value
                    ),
                ));
            }
            if real.lower_threshold > real.upper_threshold && real.upper_threshold != 0 {
                errors.push((
                    real.weight.pos,
                    format!(
                        "real server {}: lower_threshold {} is above upper_threshold {}",
                        real.address.value, real.lower_threshold, real.upper_threshold
                    ),
                ));
            }
            if let Some(check) = &real.check {
                check_check(check, errors);
            }
            if real.check.is_none() && vs.check.is_none() {
                // No check: the real server is always considered up (as keepalived does).
            }
        }

        let count = vs.real_servers.len() as u32;
        if *vs.quorum > count && !vs.real_servers.is_empty() {
            errors.push((
                vs.quorum.pos,
                format!(
                    "quorum {} can never be reached: virtual server {:?} has {} real servers",
                    *vs.quorum, vs.name.value, count
                ),
            ));
        }
        if *vs.hysteresis >= *vs.quorum && *vs.hysteresis > 0 {
            errors.push((
                vs.hysteresis.pos,
                format!(
                    "hysteresis {} must be smaller than quorum {}",
                    *vs.hysteresis, *vs.quorum
                ),
            ));
        }
        if let Some(sorry) = &vs.sorry_server {
            if sorry.port.is_none() && vs.port.is_none() {
                errors.push((
                    sorry.pos,
                    "sorry_server needs a port for a fwmark service (ADDRESS:PORT)".into(),
                ));
            }
            if sorry.addr.is_ipv6() != vs_v6 {
                errors.push((
                    sorry.pos,
                    "sorry_server is not of the virtual server's address family".into(),
                ));
            }
        }
    }
}

/// Keys that apply to each check kind (beyond the common timing keys).
fn applies(kind: CheckKind) -> &'static [&'static str] {
    match kind {
        CheckKind::Tcp => &[],
        CheckKind::Http => &[
            "path",
            "method",
            "host",
            "expect_status",
            "body_regex",
            "digest",
            "headers",
        ],
        CheckKind::Https => &[
            "path",
            "method",
            "host",
            "expect_status",
            "body_regex",
            "digest",
            "headers",
            "tls_verify",
        ],
        CheckKind::Dns => &["name", "qtype", "expect_rcode", "expect_answers"],
        CheckKind::Smtp => &["helo_name"],
        CheckKind::Udp => &["payload", "expect"],
        CheckKind::Exec => &["command", "dynamic_weight"],
    }
}

fn check_check(check: &Check, errors: &mut Errors) {
    let kind = *check.kind;
    let interval = check.interval.get();
    let timeout = check.timeout.get();
    if interval.is_zero() {
        errors.push((
            check.interval.pos,
            "check interval must be greater than 0".into(),
        ));
    }
    if timeout.is_zero() {
        errors.push((
            check.timeout.pos,
            "check timeout must be greater than 0".into(),
        ));
    } else if timeout > interval && !interval.is_zero() {
        errors.push((
            check.timeout.pos,
            format!(
                "check timeout {} is longer than its interval {}",
                check.timeout.value, check.interval.value
            ),
        ));
    }

    let allowed = applies(kind);
    let present: [(&str, Option<Position>); 17] = [
        ("path", check.path.as_ref().map(|v| v.pos)),
        ("method", check.method.as_ref().map(|v| v.pos)),
        ("host", check.host.as_ref().map(|v| v.pos)),
        ("expect_status", check.expect_status.as_ref().map(|v| v.pos)),
        ("body_regex", check.body_regex.as_ref().map(|v| v.pos)),
        ("digest", check.digest.as_ref().map(|v| v.pos)),
        ("tls_verify", check.tls_verify.as_ref().map(|v| v.pos)),
        ("headers", check.headers.as_ref().map(|v| v.pos)),
        ("name", check.name.as_ref().map(|v| v.pos)),
        ("qtype", check.qtype.as_ref().map(|v| v.pos)),
        ("expect_rcode", check.expect_rcode.as_ref().map(|v| v.pos)),
        (
            "expect_answers",
            check.expect_answers.as_ref().map(|v| v.pos),
        ),
        ("helo_name", check.helo_name.as_ref().map(|v| v.pos)),
        ("payload", check.payload.as_ref().map(|v| v.pos)),
        ("expect", check.expect.as_ref().map(|v| v.pos)),
        ("command", check.command.as_ref().map(|v| v.pos)),
        (
            "dynamic_weight",
            check.dynamic_weight.as_ref().map(|v| v.pos),
        ),
    ];
    for (key, pos) in present {
        if let Some(pos) = pos
            && !allowed.contains(&key)
        {
            errors.push((pos, format!("`{key}` does not apply to a {kind} check")));
        }
    }

    match kind {
        CheckKind::Dns if check.name.is_none() => errors.push((
            check.kind.pos,
            "a dns check needs `name` (the name to query)".into(),
        )),
        CheckKind::Exec if check.command.is_none() => {
            errors.push((check.kind.pos, "an exec check needs `command`".into()))
        }
        CheckKind::Udp if check.payload.is_none() => {
            errors.push((check.kind.pos, "a udp check needs `payload`".into()))
        }
        _ => {}
    }
    if kind == CheckKind::Exec {
        check_argv(&check.command, "check.command", errors);
    }
    if let Some(path) = &check.path
        && !path.starts_with('/')
    {
        errors.push((
            path.pos,
            format!("check path {:?} must start with /", path.value),
        ));
    }
    if let Some(statuses) = &check.expect_status {
        for status in statuses.iter() {
            let ok = match status {
                StatusSpec::Code(c) => (100..=599).contains(c),
                StatusSpec::Range(r) => parse_status_range(r).is_some(),
            };
            if !ok {
                errors.push((
                    statuses.pos,
                    format!(
                        "expect_status: {} is not a status code 100..599 or a range like \"200-299\"",
                        match status {
                            StatusSpec::Code(c) => c.to_string(),
                            StatusSpec::Range(r) => format!("{r:?}"),
                        }
                    ),
                ));
            }
        }
    }
    if let Some(re) = &check.body_regex
        && let Err(e) = regex_syntax_check(re)
    {
        errors.push((re.pos, format!("body_regex: {e}")));
    }
    if let Some(digest) = &check.digest
        && (digest.len() != 32 || !digest.chars().all(|c| c.is_ascii_hexdigit()))
    {
        errors.push((
            digest.pos,
            "digest must be an MD5 sum: 32 hex digits".into(),
        ));
    }
    for hexish in [&check.payload, &check.expect].into_iter().flatten() {
        if let Some(hex) = hexish.strip_prefix("hex:")
            && (hex.len() % 2 != 0 || !hex.chars().all(|c| c.is_ascii_hexdigit()))
        {
            errors.push((
                hexish.pos,
                "hex: value must be an even number of hex digits".into(),
            ));
        }
    }
}

/// Parses `"200-299"` into an inclusive range of valid status codes.
pub fn parse_status_range(text: &str) -> Option<(u16, u16)> {
    let (lo, hi) = text.split_once('-')?;
    let lo: u16 = lo.trim().parse().ok()?;
    let hi: u16 = hi.trim().parse().ok()?;
    ((100..=599).contains(&lo) && (100..=599).contains(&hi) && lo <= hi).then_some((lo, hi))
}

fn regex_syntax_check(re: &str) -> Result<(), String> {
    // The regex error is a multi-line drawing; its last line says what is wrong.
    regex::Regex::new(re).map(|_| ()).map_err(|e| {
        let text = e.to_string();
        text.lines()
            .last()
            .unwrap_or("invalid regular expression")
            .trim_start_matches("error: ")
            .to_string()
    })
}
