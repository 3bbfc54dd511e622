//! Lab fixture shared by the integration tests: a director namespace (`dir`, 10.77.0.1) and a
//! real-server namespace (`rs`, 10.77.0.2) on one bridge; helpers start real nginx, dnsmasq,
//! aiosmtpd and socat inside `rs`, and run the async test body on a thread that lives in `dir`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sched::{CloneFlags, setns};
use tandem_testlab::{Host, Lab, require_root, require_tool, wait_until};

pub const DIR_IP: &str = "10.77.0.1";
pub const RS_IP: &str = "10.77.0.2";
pub const DIR_IP6: &str = "fd77::1";
pub const RS_IP6: &str = "fd77::2";
/// Pause between two probes of the socat UDP responder.
pub const UDP_SPACING: Duration = Duration::from_millis(400);

/// A plain HTTP GET check of `path` with every other setting at its default.
pub fn http(path: &str) -> tandem_checkers::http::HttpSpec {
    tandem_checkers::http::HttpSpec {
        path: path.into(),
        ..tandem_checkers::http::HttpSpec::default()
    }
}

pub fn rs(port: u16) -> tandem_checkers::Target {
    tandem_checkers::Target::new(SocketAddr::new(RS_IP.parse().unwrap(), port))
}

pub fn rs6(port: u16) -> tandem_checkers::Target {
    tandem_checkers::Target::new(SocketAddr::new(RS_IP6.parse().unwrap(), port))
}

/// Scratch directory removed on drop (no tempfile crate needed).
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("tandem-checkers-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Env {
    /// Whether the hosts also have IPv6 addresses (`DIR_IP6`, `RS_IP6`).
    pub ipv6: bool,
    pub lab: Lab,
    pub dir: Host,
    pub rs: Host,
    pub scratch: Scratch,
}

impl Env {
    pub fn new(tag: &str) -> Env {
        Env::build(tag, false)
    }

    /// Like [`Env::new`], with IPv6 addresses too.
    pub fn new_dual_stack(tag: &str) -> Env {
        Env::build(tag, true)
    }

    fn build(tag: &str, ipv6: bool) -> Env {
        require_root();
        let lab = Lab::new(tag).unwrap();
        let dir = lab.host_with_ipv6("dir", ipv6).unwrap();
        let rs = lab.host_with_ipv6("rs", ipv6).unwrap();
        let (dir4, rs4) = (format!("{DIR_IP}/24"), format!("{RS_IP}/24"));
        let (dir6, rs6) = (format!("{DIR_IP6}/64"), format!("{RS_IP6}/64"));
        let mut dir_addrs = vec![dir4.as_str()];
        let mut rs_addrs = vec![rs4.as_str()];
        if ipv6 {
            dir_addrs.push(&dir6);
            rs_addrs.push(&rs6);
        }
        lab.connect(&dir, "br0", "eth0", &dir_addrs).unwrap();
        lab.connect(&rs, "br0", "eth0", &rs_addrs).unwrap();
        Env {
            ipv6,
            lab,
            dir,
            rs,
            scratch: Scratch::new(tag),
        }
    }

    /// Runs `body` on a fresh current-thread runtime whose thread has entered the director
    /// namespace, so every socket (and exec child) of the checkers lives there.
    pub fn in_director<F, Fut, T>(&self, body: F) -> T
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = T>,
        T: Send,
    {
        let netns = format!("/var/run/netns/{}", self.dir.netns);
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let fd = File::open(&netns).unwrap();
                    setns(&fd, CloneFlags::CLONE_NEWNET).unwrap();
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(body())
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    fn wait_listening(&self, proto: &str, port: u16, what: &str) {
        let flag = if proto == "udp" { "-Hlun" } else { "-Hltn" };
        let needle = format!(":{port} ");
        let ok = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            self.rs
                .exec_stdout(&["ss", flag])
                .map(|out| out.contains(&needle))
                .unwrap_or(false)
        });
        assert!(
            ok,
            "{what} did not listen on {proto} port {port} within 10 s"
        );
    }

    /// Path of the test CA's certificate (PEM), which signed nginx's certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.scratch.path("ca.pem")
    }

    /// A private CA (`ca.pem`) and a server certificate for `www.example.test` signed by it: the
    /// real-world layout of an internal real server, untrusted by the system trust store.
    fn make_certificates(&self, cert: &Path, key: &Path) {
        let ca_key = self.scratch.path("ca.key");
        let csr = self.scratch.path("leaf.csr");
        let ext = self.scratch.path("leaf.ext");
        std::fs::write(
            &ext,
            "subjectAltName=DNS:www.example.test\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let s = |p: &Path| p.to_str().unwrap().to_string();
        let steps: [Vec<String>; 3] = [
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=tandem test CA",
                "-keyout",
            ]
            .iter()
            .map(|a| a.to_string())
            .chain([s(&ca_key), "-out".into(), s(&self.ca_cert())])
            .collect(),
            [
                "openssl",
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=www.example.test",
                "-keyout",
            ]
            .iter()
            .map(|a| a.to_string())
            .chain([s(key), "-out".into(), s(&csr)])
            .collect(),
            [
                "openssl",
                "x509",
                "-req",
                "-days",
                "2",
                "-set_serial",
                "2",
                "-in",
            ]
            .iter()
            .map(|a| a.to_string())
            .chain([
                s(&csr),
                "-CA".into(),
                s(&self.ca_cert()),
                "-CAkey".into(),
                s(&ca_key),
                "-extfile".into(),
                s(&ext),
                "-out".into(),
                s(cert),
            ])
            .collect(),
        ];
        for step in &steps {
            let argv: Vec<&str> = step.iter().map(String::as_str).collect();
            tandem_testlab::run(&argv).unwrap();
        }
    }

    /// Starts nginx in `rs`: HTTP on 8080 and HTTPS on 8443 with a certificate for
    /// `www.example.test` signed by the test CA ([`Env::ca_cert`]). Returns the pid and the
    /// access log path.
    pub fn start_nginx(&self) -> (u32, PathBuf) {
        let nginx = require_tool("nginx", "nginx-light");
        require_tool("openssl", "openssl");
        let d = &self.scratch.0;
        let cert = self.scratch.path("cert.pem");
        let key = self.scratch.path("key.pem");
        if !cert.exists() {
            self.make_certificates(&cert, &key);
        }
        // 2 MiB: twice the body bound; a marker only in the second MiB.
        let big = self.scratch.path("big.bin");
        let mut body = vec![b'a'; 2 << 20];
        body.extend_from_slice(b"END-MARKER");
        std::fs::write(&big, body).unwrap();
        let access = self.scratch.path("access.log");
        let listen6 = if self.ipv6 {
            format!("listen [{RS_IP6}]:8080;\n    listen [{RS_IP6}]:8443 ssl;")
        } else {
            String::new()
        };
        let conf = format!(
            r#"
user root;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 512; }}
http {{
  access_log {d}/access.log;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  default_type text/plain;
  server {{
    listen {RS_IP}:8080;
    listen {RS_IP}:8443 ssl;
    {listen6}
    ssl_certificate {cert};
    ssl_certificate_key {key};
    server_name _;
    location = /error {{ return 500 "boom\n"; }}
    location = /moved {{ return 302 /; }}
    location = /host {{ return 200 "host=$host\n"; }}
    location = /big {{ alias {big}; }}
    location / {{ return 200 "hello tandem\n"; }}
  }}
}}
"#,
            d = d.display(),
            cert = cert.display(),
            key = key.display(),
            big = big.display(),
        );
        let conf_path = self.scratch.path("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let pid = self
            .lab
            .spawn(
                &self.rs,
                &[
                    nginx.to_str().unwrap(),
                    "-c",
                    conf_path.to_str().unwrap(),
                    "-p",
                    d.to_str().unwrap(),
                    "-g",
                    "daemon off;",
                ],
                Some(&self.scratch.path("nginx.out")),
            )
            .unwrap();
        self.wait_listening("tcp", 8080, "nginx");
        self.wait_listening("tcp", 8443, "nginx");
        (pid, access)
    }

    /// Starts dnsmasq in `rs` on port 53 (UDP and TCP) serving `example.test` from a hosts file
    /// and options. For SERVFAIL, a second, DNSSEC-validating dnsmasq on port 5300 forwards to a
    /// third one (127.0.0.1:5301) that knows `sf.test` but serves no DNSSEC records: validation
    /// fails and the validating server answers SERVFAIL.
    pub fn start_dnsmasq(&self) -> u32 {
        let dnsmasq = require_tool("dnsmasq", "dnsmasq-base");
        let hosts = self.scratch.path("hosts");
        std::fs::write(
            &hosts,
            "10.77.0.10 www.example.test\n10.77.0.11 www.example.test\n",
        )
        .unwrap();
        // Four 200-byte strings: the answer exceeds 512 bytes, so UDP is truncated (TC).
        let chunk = "x".repeat(200);
        let big_txt = format!("--txt-record=big.example.test,{chunk},{chunk},{chunk},{chunk}");
        let addn = format!("--addn-hosts={}", hosts.display());
        let pid_file = format!("--pid-file={}", self.scratch.path("dnsmasq.pid").display());
        let pid = self
            .lab
            .spawn(
                &self.rs,
                &[
                    dnsmasq.to_str().unwrap(),
                    "--keep-in-foreground",
                    "--conf-file=/dev/null",
                    "--no-resolv",
                    "--no-hosts",
                    &addn,
                    &pid_file,
                    "--user=root",
                    "--bind-interfaces",
                    &format!("--listen-address={RS_IP}"),
                    "--port=53",
                    "--local=/example.test/",
                    "--mx-host=example.test,mail.example.test,10",
                    &big_txt,
                    "--log-facility=-",
                ],
                Some(&self.scratch.path("dnsmasq.out")),
            )
            .unwrap();
        let dnsmasq = dnsmasq.to_str().unwrap();
        let common = [
            dnsmasq,
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--user=root",
            "--bind-interfaces",
            "--log-facility=-",
        ];
        let upstream_pid = format!("--pid-file={}", self.scratch.path("up.pid").display());
        let mut upstream = common.to_vec();
        upstream.extend([
            "--listen-address=127.0.0.1",
            "--port=5301",
            "--address=/sf.test/10.77.0.20",
            upstream_pid.as_str(),
        ]);
        self.lab.spawn(&self.rs, &upstream, None).unwrap();
        let validating_pid = format!("--pid-file={}", self.scratch.path("val.pid").display());
        let listen = format!("--listen-address={RS_IP}");
        let mut validating = common.to_vec();
        validating.extend([
            listen.as_str(),
            "--port=5300",
            "--server=127.0.0.1#5301",
            "--dnssec",
            // The IANA root KSK-2017 trust anchor (DS record).
            "--trust-anchor=.,20326,8,2,E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
            validating_pid.as_str(),
        ]);
        self.lab.spawn(&self.rs, &validating, None).unwrap();
        self.wait_listening("udp", 53, "dnsmasq");
        self.wait_listening("tcp", 53, "dnsmasq");
        self.wait_listening("udp", 5300, "validating dnsmasq");
        self.wait_listening("udp", 5301, "upstream dnsmasq");
        pid
    }

    /// Starts a real SMTP server (aiosmtpd) on 2525, an aiosmtpd refusing EHLO on 2528, and a
    /// one-line responder that greets with 554 on 2526.
    pub fn start_smtp(&self) {
        // Debian's interpreter: the package installs aiosmtpd for /usr/bin/python3, which may not
        // be the first python3 on PATH.
        let python = Path::new("/usr/bin/python3");
        assert!(
            python.is_file()
                && tandem_testlab::run(&["/usr/bin/python3", "-c", "import aiosmtpd"]).is_ok(),
            "/usr/bin/python3 with aiosmtpd is required: apt-get install python3-aiosmtpd"
        );
        require_tool("socat", "socat");
        self.lab
            .spawn(
                &self.rs,
                &[
                    "/usr/bin/python3",
                    "-m",
                    "aiosmtpd",
                    "-n",
                    "-l",
                    &format!("{RS_IP}:2525"),
                ],
                Some(&self.scratch.path("smtp.out")),
            )
            .unwrap();
        self.lab
            .spawn(
                &self.rs,
                &[
                    "socat",
                    &format!("TCP-LISTEN:2526,bind={RS_IP},reuseaddr,fork"),
                    "SYSTEM:printf '554 5.3.2 no service here\\r\\n'",
                ],
                None,
            )
            .unwrap();
        // A second aiosmtpd whose handler refuses EHLO with 502, as a pre-ESMTP server would:
        // the check must fall back to HELO (RFC 5321 section 4.1.1.1).
        std::fs::write(
            self.scratch.path("helo_only.py"),
            "class Handler:\n    async def handle_EHLO(self, server, session, envelope, hostname, responses):\n        return ['502 5.5.1 EHLO not implemented']\n",
        )
        .unwrap();
        let pythonpath = format!("PYTHONPATH={}", self.scratch.0.display());
        self.lab
            .spawn(
                &self.rs,
                &[
                    "env",
                    &pythonpath,
                    "/usr/bin/python3",
                    "-m",
                    "aiosmtpd",
                    "-n",
                    "-c",
                    "helo_only.Handler",
                    "-l",
                    &format!("{RS_IP}:2528"),
                ],
                Some(&self.scratch.path("smtp-helo.out")),
            )
            .unwrap();
        self.wait_listening("tcp", 2525, "aiosmtpd");
        self.wait_listening("tcp", 2528, "aiosmtpd (HELO only)");
        self.wait_listening("tcp", 2526, "socat 554 responder");
    }

    /// Starts a UDP echo responder on 9000 (socat `PIPE`: the reply is the datagram received).
    /// socat forks a child per peer (each probe is a new source port); probes are spaced by
    /// [`UDP_SPACING`] so a new peer never arrives while the listener is being re-created.
    pub fn start_udp_echo(&self) {
        require_tool("socat", "socat");
        self.lab
            .spawn(
                &self.rs,
                &[
                    "socat",
                    "-T1",
                    &format!("UDP4-LISTEN:9000,bind={RS_IP},reuseaddr,fork"),
                    "PIPE",
                ],
                Some(&self.scratch.path("socat-udp.out")),
            )
            .unwrap();
        self.wait_listening("udp", 9000, "socat UDP responder");
    }

    /// Starts a TCP server on `port` (socat, a process per connection running a small script)
    /// that writes `reply` (a `printf` format) and then waits `linger` seconds before closing:
    /// a half-answering or silent real server.
    pub fn start_scripted_tcp(&self, port: u16, reply: &str, linger: u32) {
        require_tool("socat", "socat");
        let script = self.scratch.path(&format!("reply-{port}.sh"));
        std::fs::write(
            &script,
            format!("#!/bin/sh\nprintf '{reply}'\nsleep {linger}\n"),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        self.lab
            .spawn(
                &self.rs,
                &[
                    "socat",
                    &format!("TCP4-LISTEN:{port},bind={RS_IP},reuseaddr,fork"),
                    &format!("EXEC:{}", script.display()),
                ],
                Some(&self.scratch.path(&format!("socat-{port}.out"))),
            )
            .unwrap();
        self.wait_listening("tcp", port, "socat TCP responder");
    }

    /// Drops every packet from the director in `rs` (a black hole: probes time out).
    pub fn blackhole(&self) {
        require_tool("nft", "nftables");
        let rules = self.scratch.path("drop.nft");
        std::fs::write(
            &rules,
            format!(
                "table inet tandem_test {{\n chain input {{\n  type filter hook input priority 0; policy accept;\n  ip saddr {DIR_IP} drop\n }}\n}}\n"
            ),
        )
        .unwrap();
        self.rs
            .exec(&["nft", "-f", rules.to_str().unwrap()])
            .unwrap();
    }

    /// Drops TCP to `port` in `rs` (UDP still answered).
    pub fn drop_tcp_port(&self, port: u16) {
        require_tool("nft", "nftables");
        let rules = self.scratch.path("droptcp.nft");
        std::fs::write(
            &rules,
            format!(
                "table inet tandem_tcp {{\n chain input {{\n  type filter hook input priority 0; policy accept;\n  tcp dport {port} drop\n }}\n}}\n"
            ),
        )
        .unwrap();
        self.rs
            .exec(&["nft", "-f", rules.to_str().unwrap()])
            .unwrap();
    }

    /// Removes the black hole.
    pub fn unblackhole(&self) {
        self.rs
            .exec(&["nft", "delete", "table", "inet", "tandem_test"])
            .unwrap();
    }
}

/// Lines of an nginx access log requesting `path`.
pub fn hits(access_log: &Path, path: &str) -> usize {
    let needle = format!("\"GET {path} ");
    std::fs::read_to_string(access_log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&needle))
        .count()
}
