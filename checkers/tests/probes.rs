//! Every check kind against real servers in lab namespaces: up, refused, timeout and the
//! kind-specific failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, RS_IP, http, rs};
use tandem_checkers::dns::{AnswerExpectation, DnsSpec, DnsType, RCODE_NXDOMAIN};
use tandem_checkers::exec::{DynamicWeight, ExecSpec};
use tandem_checkers::http::{HttpMethod, HttpSpec, StatusRange, md5_hex};
use tandem_checkers::smtp::SmtpSpec;
use tandem_checkers::tcp::TcpSpec;
use tandem_checkers::udp::UdpSpec;
use tandem_checkers::{CheckSpec, DownReason, Outcome, ProbeResult, Target, probe_with_timeout};

const TIMEOUT: Duration = Duration::from_secs(2);

async fn probe(spec: CheckSpec, target: Target) -> ProbeResult {
    let checker = spec.build().unwrap_or_else(|e| panic!("{spec:?}: {e}"));
    probe_with_timeout(&*checker, target, TIMEOUT).await
}

#[track_caller]
fn assert_up(result: &ProbeResult) {
    assert!(result.outcome.is_up(), "expected up, got {result:?}");
}

#[track_caller]
fn assert_down(result: &ProbeResult, reason: DownReason) {
    match &result.outcome {
        Outcome::Down(failure) => assert_eq!(failure.reason, reason, "{failure}"),
        other => panic!("expected down ({reason}), got {other:?}"),
    }
}

#[test]
fn tcp_up_refused_timeout_and_source_address() {
    let env = Env::new("tcp");
    env.start_nginx();
    env.in_director(|| async {
        assert_up(&probe(CheckSpec::Tcp(TcpSpec::default()), rs(8080)).await);
        let bound = TcpSpec {
            source: Some(common::DIR_IP.parse().unwrap()),
        };
        assert_up(&probe(CheckSpec::Tcp(bound), rs(8080)).await);
        let foreign = TcpSpec {
            source: Some("192.0.2.9".parse().unwrap()),
        };
        // Binding an address the director does not own fails before any packet leaves.
        assert_down(
            &probe(CheckSpec::Tcp(foreign), rs(8080)).await,
            DownReason::Io,
        );
        assert_down(
            &probe(CheckSpec::Tcp(TcpSpec::default()), rs(8081)).await,
            DownReason::Refused,
        );
    });
    env.blackhole();
    env.in_director(|| async {
        let result = probe(CheckSpec::Tcp(TcpSpec::default()), rs(8080)).await;
        assert_down(&result, DownReason::Timeout);
        assert_eq!(result.latency, TIMEOUT);
    });
}

#[test]
fn http_status_body_digest_and_virtual_host() {
    let env = Env::new("http");
    let (_pid, access) = env.start_nginx();
    env.in_director(|| async {
        assert_up(&probe(CheckSpec::Http(http("/")), rs(8080)).await);
        let head = HttpSpec {
            method: HttpMethod::Head,
            ..http("/")
        };
        assert_up(&probe(CheckSpec::Http(head), rs(8080)).await);
        assert_down(
            &probe(CheckSpec::Http(http("/error")), rs(8080)).await,
            DownReason::BadStatus(500),
        );
        // Redirects are judged, not followed.
        assert_down(
            &probe(CheckSpec::Http(http("/moved")), rs(8080)).await,
            DownReason::BadStatus(302),
        );
        let accept_302 = HttpSpec {
            expect_status: vec![StatusRange::single(302)],
            ..http("/moved")
        };
        assert_up(&probe(CheckSpec::Http(accept_302), rs(8080)).await);
        let regex_ok = HttpSpec {
            body_regex: Some("^hello (tandem|world)$".into()),
            ..http("/")
        };
        // (?m) is not set: `$` must match at the very end, and nginx sends a trailing newline.
        assert_down(
            &probe(CheckSpec::Http(regex_ok), rs(8080)).await,
            DownReason::BodyMismatch,
        );
        let regex_ok = HttpSpec {
            body_regex: Some("(?m)^hello (tandem|world)$".into()),
            ..http("/")
        };
        assert_up(&probe(CheckSpec::Http(regex_ok), rs(8080)).await);
        let digest_ok = HttpSpec {
            digest: Some(md5_hex(b"hello tandem\n").to_uppercase()),
            ..http("/")
        };
        assert_up(&probe(CheckSpec::Http(digest_ok), rs(8080)).await);
        let digest_bad = HttpSpec {
            digest: Some(md5_hex(b"hello world\n")),
            ..http("/")
        };
        assert_down(
            &probe(CheckSpec::Http(digest_bad), rs(8080)).await,
            DownReason::DigestMismatch,
        );
        // Bodies are read up to 1 MiB: the digest covers exactly that prefix, and a marker past
        // it is never seen.
        let first_mib = HttpSpec {
            digest: Some(md5_hex(&vec![b'a'; tandem_checkers::http::MAX_BODY])),
            ..http("/big")
        };
        assert_up(&probe(CheckSpec::Http(first_mib), rs(8080)).await);
        let past_bound = HttpSpec {
            body_regex: Some("END-MARKER".into()),
            ..http("/big")
        };
        assert_down(
            &probe(CheckSpec::Http(past_bound), rs(8080)).await,
            DownReason::BodyMismatch,
        );
        // A name as virtual host: sent as Host, but the connection goes to the real server.
        let vhost = HttpSpec {
            host: Some("www.example.test".into()),
            body_regex: Some("host=www.example.test".into()),
            headers: vec![("X-Tandem-Check".into(), "1".into())],
            ..http("/host")
        };
        assert_up(&probe(CheckSpec::Http(vhost), rs(8080)).await);
        assert_down(
            &probe(CheckSpec::Http(http("/")), rs(8081)).await,
            DownReason::Refused,
        );
    });
    assert!(
        common::hits(&access, "/host") >= 1,
        "vhost probe reached nginx"
    );
    env.blackhole();
    env.in_director(|| async {
        assert_down(
            &probe(CheckSpec::Http(http("/")), rs(8080)).await,
            DownReason::Timeout,
        );
    });
}

#[test]
fn ipv6_targets_tcp_http_https_and_exec_family() {
    let env = Env::new_dual_stack("ipv6");
    env.start_nginx();
    env.in_director(|| async {
        let target = common::rs6(8080);
        assert_up(&probe(CheckSpec::Tcp(TcpSpec::default()), target).await);
        let vhost = HttpSpec {
            host: Some("www.example.test".into()),
            body_regex: Some("host=www.example.test".into()),
            ..http("/host")
        };
        assert_up(&probe(CheckSpec::Http(vhost), target).await);
        let tls = HttpSpec {
            tls: true,
            tls_verify: false,
            host: Some("www.example.test".into()),
            ..http("/")
        };
        assert_up(&probe(CheckSpec::Http(tls), common::rs6(8443)).await);
        assert_down(
            &probe(CheckSpec::Tcp(TcpSpec::default()), common::rs6(8081)).await,
            DownReason::Refused,
        );
        let family = sh(&format!(
            "test \"$TANDEM_REAL_FAMILY\" = inet6 && test \"$TANDEM_REAL\" = '[{}]:8080'",
            common::RS_IP6
        ));
        assert_up(&probe(CheckSpec::Exec(family), target).await);
    });
}

#[test]
fn https_certificate_verification_on_and_off() {
    let env = Env::new("https");
    env.start_nginx();
    env.in_director(|| async {
        let verify = HttpSpec {
            tls: true,
            host: Some("www.example.test".into()),
            ..http("/")
        };
        // Signed by a CA the system does not trust.
        assert_down(
            &probe(CheckSpec::Http(verify.clone()), rs(8443)).await,
            DownReason::Tls,
        );

        let no_verify = HttpSpec {
            tls_verify: false,
            body_regex: Some("hello tandem".into()),
            ..verify
        };
        assert_up(&probe(CheckSpec::Http(no_verify.clone()), rs(8443)).await);
        // Without a host name (SNI-less, IP URL) too.
        let by_ip = HttpSpec {
            host: None,
            ..no_verify
        };
        assert_up(&probe(CheckSpec::Http(by_ip), rs(8443)).await);
        // Plain HTTP spoken to the TLS port is not up.
        let plain = probe(CheckSpec::Http(http("/")), rs(8443)).await;
        assert!(!plain.outcome.is_up(), "{plain:?}");
    });
}

fn dns(name: &str, qtype: DnsType) -> DnsSpec {
    DnsSpec {
        name: name.into(),
        qtype,
        ..DnsSpec::default()
    }
}

#[test]
fn dns_answers_nxdomain_servfail_and_tcp_fallback() {
    let env = Env::new("dns");
    env.start_dnsmasq();
    env.in_director(|| async {
        let both = DnsSpec {
            expect_answers: Some(AnswerExpectation::Includes(vec![
                "10.77.0.10".into(),
                "10.77.0.11".into(),
            ])),
            ..dns("www.example.test", DnsType::A)
        };
        assert_up(&probe(CheckSpec::Dns(both), rs(53)).await);
        let wrong = DnsSpec {
            expect_answers: Some(AnswerExpectation::Includes(vec!["10.77.0.99".into()])),
            ..dns("www.example.test", DnsType::A)
        };
        assert_down(
            &probe(CheckSpec::Dns(wrong), rs(53)).await,
            DownReason::AnswerMismatch,
        );
        let mx = DnsSpec {
            expect_answers: Some(AnswerExpectation::Includes(vec![
                "10 mail.example.test.".into(),
            ])),
            ..dns("example.test", DnsType::Mx)
        };
        assert_up(&probe(CheckSpec::Dns(mx), rs(53)).await);
        assert_down(
            &probe(
                CheckSpec::Dns(dns("missing.example.test", DnsType::A)),
                rs(53),
            )
            .await,
            DownReason::Rcode(RCODE_NXDOMAIN),
        );
        let expect_nx = DnsSpec {
            expect_rcode: RCODE_NXDOMAIN,
            ..dns("missing.example.test", DnsType::A)
        };
        assert_up(&probe(CheckSpec::Dns(expect_nx), rs(53)).await);
        assert_down(
            &probe(CheckSpec::Dns(dns("www.sf.test", DnsType::A)), rs(5300)).await,
            DownReason::Rcode(tandem_checkers::dns::RCODE_SERVFAIL),
        );
        // 800 bytes of TXT do not fit a 512-byte UDP reply: TC set, answered over TCP.
        let big = DnsSpec {
            expect_answers: Some(AnswerExpectation::AtLeast(1)),
            ..dns("big.example.test", DnsType::Txt)
        };
        assert_up(&probe(CheckSpec::Dns(big), rs(53)).await);
        // Nothing on this port: ICMP port unreachable.
        assert_down(
            &probe(CheckSpec::Dns(dns("www.example.test", DnsType::A)), rs(54)).await,
            DownReason::Refused,
        );
    });
    // Proof that the big answer really came over TCP: with TCP blocked it times out, while a
    // small answer still arrives over UDP.
    env.drop_tcp_port(53);
    env.in_director(|| async {
        assert_up(&probe(CheckSpec::Dns(dns("www.example.test", DnsType::A)), rs(53)).await);
        assert_down(
            &probe(
                CheckSpec::Dns(dns("big.example.test", DnsType::Txt)),
                rs(53),
            )
            .await,
            DownReason::Timeout,
        );
    });
    env.blackhole();
    env.in_director(|| async {
        assert_down(
            &probe(CheckSpec::Dns(dns("www.example.test", DnsType::A)), rs(53)).await,
            DownReason::Timeout,
        );
    });
}

#[test]
fn smtp_real_server_up_and_554_banner_down() {
    let env = Env::new("smtp");
    env.start_smtp();
    env.in_director(|| async {
        let spec = SmtpSpec {
            helo_name: "director.example.test".into(),
            ..SmtpSpec::default()
        };
        assert_up(&probe(CheckSpec::Smtp(spec.clone()), rs(2525)).await);
        assert_up(&probe(CheckSpec::Smtp(spec.clone()), rs(2528)).await);
        assert_down(
            &probe(CheckSpec::Smtp(spec.clone()), rs(2526)).await,
            DownReason::Protocol,
        );
        assert_down(
            &probe(CheckSpec::Smtp(spec), rs(2527)).await,
            DownReason::Refused,
        );
    });
    env.blackhole();
    env.in_director(|| async {
        assert_down(
            &probe(CheckSpec::Smtp(SmtpSpec::default()), rs(2525)).await,
            DownReason::Timeout,
        );
    });
}

#[test]
fn udp_reply_expected_bytes_refused_and_silence() {
    let env = Env::new("udp");
    env.start_udp_echo();
    env.in_director(|| async {
        let any = UdpSpec {
            payload: b"PING".to_vec(),
            ..UdpSpec::default()
        };
        assert_up(&probe(CheckSpec::Udp(any.clone()), rs(9000)).await);
        let echoed = UdpSpec {
            expect: Some(b"ING".to_vec()),
            ..any.clone()
        };
        tokio::time::sleep(common::UDP_SPACING).await;
        assert_up(&probe(CheckSpec::Udp(echoed), rs(9000)).await);
        let nope = UdpSpec {
            expect: Some(b"NOPE".to_vec()),
            ..any.clone()
        };
        tokio::time::sleep(common::UDP_SPACING).await;
        assert_down(
            &probe(CheckSpec::Udp(nope), rs(9000)).await,
            DownReason::Protocol,
        );
        assert_down(
            &probe(CheckSpec::Udp(any), rs(9001)).await,
            DownReason::Refused,
        );
    });
    env.blackhole();
    env.in_director(|| async {
        let any = UdpSpec {
            payload: b"PING".to_vec(),
            ..UdpSpec::default()
        };
        assert_down(
            &probe(CheckSpec::Udp(any), rs(9000)).await,
            DownReason::Timeout,
        );
    });
}

fn sh(script: &str) -> ExecSpec {
    ExecSpec {
        argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
        ..ExecSpec::default()
    }
}

#[tokio::test]
async fn exec_exit_codes_environment_dynamic_weight_and_timeout() {
    let target = rs(8080);
    let env_check = sh(&format!(
        "test \"$TANDEM_REAL_ADDRESS\" = {RS_IP} && test \"$TANDEM_REAL_PORT\" = 8080 \
         && test \"$TANDEM_REAL\" = {RS_IP}:8080 && test \"$TANDEM_REAL_FAMILY\" = inet \
         && test \"$EXTRA\" = yes"
    ));
    let env_check = ExecSpec {
        env: vec![("EXTRA".into(), "yes".into())],
        ..env_check
    };
    assert_up(&probe(CheckSpec::Exec(env_check), target).await);
    assert_down(
        &probe(CheckSpec::Exec(sh("exit 3")), target).await,
        DownReason::ExitCode(3),
    );
    assert_down(
        &probe(CheckSpec::Exec(sh("kill -9 $$")), target).await,
        DownReason::Signal(9),
    );
    let missing = ExecSpec {
        argv: vec!["/nonexistent/tandem-check".into()],
        ..ExecSpec::default()
    };
    assert_down(
        &probe(CheckSpec::Exec(missing), target).await,
        DownReason::Spawn,
    );

    let dynamic = |script: &str| ExecSpec {
        dynamic_weight: Some(DynamicWeight::ExitCode),
        ..sh(script)
    };
    let weighted = probe(CheckSpec::Exec(dynamic("exit 52")), target).await;
    assert_up(&weighted);
    assert_eq!(weighted.weight, Some(50));
    assert_down(
        &probe(CheckSpec::Exec(dynamic("exit 1")), target).await,
        DownReason::ExitCode(1),
    );
    let plain = probe(CheckSpec::Exec(dynamic("exit 0")), target).await;
    assert_up(&plain);
    assert_eq!(plain.weight, None);
    let stdout = ExecSpec {
        dynamic_weight: Some(DynamicWeight::Stdout),
        ..sh("echo 17")
    };
    assert_eq!(
        probe(CheckSpec::Exec(stdout), target).await.weight,
        Some(17)
    );

    // Timeout: the script and the child it forked both die (process group killed).
    let scratch = common::Scratch::new("exec");
    let pidfile = scratch.path("child.pid");
    let slow = sh(&format!("sleep 60 & echo $! > {}; wait", pidfile.display()));
    let checker = CheckSpec::Exec(slow).build().unwrap();
    let result = probe_with_timeout(&*checker, target, Duration::from_millis(500)).await;
    assert_down(&result, DownReason::Timeout);
    let child: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let gone =
        tandem_testlab::wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true)
        });
    assert!(
        gone,
        "the script's background child {child} survived the timeout"
    );
}
