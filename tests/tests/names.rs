//! Names and reachability end to end: `at-modem` on a pty, `AT+PING` to loopback
//! addresses and `localhost`, and `AT+CIPDNS`/`AT+CIPDOMAIN` against a real DNS server,
//! dnsmasq, that the tests start on a loopback address (port 53: the module's DNS
//! servers have no port). Nothing is ever sent to a non-loopback address: names are
//! only resolved by the test's dnsmasq (manual DNS) or from `/etc/hosts` (`localhost`),
//! and the addresses dnsmasq hands out (10.9.8.7, fd00:9:8::7) are only printed.
//!
//! Needs root (port 53) and dnsmasq (`dnsmasq-base`, installed by `scripts/test.sh`).

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use at_e2e_tests::{Host, Modem, PATIENCE};

const QUIET: Duration = Duration::from_millis(100);
const SSID: &str = "LabNet";
const PASSWORD: &str = "correct-horse";

/// Where the test's dnsmasq listens.
const DNS_UP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 77);
/// A loopback address where nothing listens: a DNS server that never answers.
const DNS_SILENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 78);

/// The module's DNS timing (`at-tcpip/src/dns.rs`): 2 s a query, 2 queries a server.
const SERVER_GIVES_UP: Duration = Duration::from_millis(4_000);

// ---------------------------------------------------------------------------------------
// The module
// ---------------------------------------------------------------------------------------

/// A booted modem, echo off, joined to `LabNet`.
fn joined() -> (Modem, Host) {
    let ap = format!("{SSID}:{PASSWORD}");
    let (m, mut host) = Modem::on_pty(&["--ap", ap.as_str()]);
    host.expect(b"\r\nready\r\n");
    host.chat(b"ATE0\r\n", b"ATE0\r\n\r\nOK\r\n");
    host.chat(
        format!("AT+CWJAP=\"{SSID}\",\"{PASSWORD}\"\r\n").as_bytes(),
        b"WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n",
    );
    (m, host)
}

/// `joined()`, with the test's dnsmasq as the only manual DNS server.
fn joined_with_manual_dns() -> (Modem, Host) {
    let (m, mut host) = joined();
    host.chat(
        format!("AT+CIPDNS=1,\"{DNS_UP}\"\r\n").as_bytes(),
        b"\r\nOK\r\n",
    );
    (m, host)
}

/// `AT+PING=<host>` must answer `+PING:<ms>` then `OK`; returns the time.
fn ping_ok(host: &mut Host, target: &str) -> u64 {
    host.send(format!("AT+PING=\"{target}\"\r\n").as_bytes());
    let head = host.read_until(b"\r\n\r\n");
    let text = String::from_utf8_lossy(&head).into_owned();
    let ms = text
        .strip_prefix("+PING:")
        .and_then(|r| r.strip_suffix("\r\n\r\n"))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("AT+PING=\"{target}\": expected +PING:<ms>, got {text:?}"));
    host.expect(b"OK\r\n");
    host.expect_silence(QUIET);
    ms.parse().unwrap()
}

fn domain(host: &mut Host, args: &str, want: &str) {
    host.chat(
        format!("AT+CIPDOMAIN={args}\r\n").as_bytes(),
        format!("+CIPDOMAIN:\"{want}\"\r\n\r\nOK\r\n").as_bytes(),
    );
}

fn domain_fails(host: &mut Host, args: &str) {
    host.chat(
        format!("AT+CIPDOMAIN={args}\r\n").as_bytes(),
        b"\r\nERROR\r\n",
    );
}

// ---------------------------------------------------------------------------------------
// dnsmasq
// ---------------------------------------------------------------------------------------

/// The dnsmasq tests share the fixed loopback addresses: one at a time.
fn dns_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn dnsmasq_binary() -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin"] {
        let p = Path::new(dir).join("dnsmasq");
        if p.exists() {
            return p;
        }
    }
    panic!(
        "dnsmasq is not installed: these tests need a real DNS server on loopback. \
         Install the `dnsmasq-base` package (scripts/test.sh does: it is in need_apt)."
    );
}

/// Fails unless UDP and TCP port 53 of `addr` are free.
fn assert_port_53_free(addr: Ipv4Addr) {
    let at = SocketAddr::from((addr, 53));
    if let Err(e) = UdpSocket::bind(at) {
        panic!("UDP {at} is not free ({e}); another DNS server listens there?");
    }
    if let Err(e) = TcpListener::bind(at) {
        panic!("TCP {at} is not free ({e}); another DNS server listens there?");
    }
}

/// A dnsmasq serving only its own records on `DNS_UP:53`, with no upstream server (it
/// never forwards anything); killed on drop.
struct Dnsmasq {
    child: Child,
    dir: tempfile::TempDir,
    /// Held while this dnsmasq runs: the tests share its fixed loopback addresses.
    _lock: MutexGuard<'static, ()>,
}

impl Dnsmasq {
    /// Records: `host.test` A 10.9.8.7 and AAAA fd00:9:8::7, `v4.test` A only,
    /// `v6.test` AAAA only, `lo.test` 127.0.0.1, `pool.test` A 10.0.0.1 to 10.0.0.30;
    /// other names under `test` are NXDOMAIN.
    fn start() -> Dnsmasq {
        let lock = dns_lock();
        let bin = dnsmasq_binary();
        assert_port_53_free(DNS_UP);
        assert_port_53_free(DNS_SILENT);
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("dnsmasq.log");
        let pid = dir.path().join("dnsmasq.pid");
        let child = Command::new(&bin)
            .args([
                "--no-daemon",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--bind-interfaces",
                &format!("--listen-address={DNS_UP}"),
                "--port=53",
                &format!("--pid-file={}", pid.display()),
                "--local=/test/",
                "--host-record=host.test,10.9.8.7,fd00:9:8::7",
                "--host-record=v4.test,10.9.8.4",
                "--host-record=v6.test,fd00:9:8::6",
                "--host-record=lo.test,127.0.0.1",
                "--log-queries",
            ])
            // `pool.test`: 30 addresses, a 507-byte answer (more records than the
            // engine reads from one response).
            .args((1..=30).map(|i| format!("--host-record=pool.test,10.0.0.{i}")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("dnsmasq log"))
            .spawn()
            .unwrap_or_else(|e| panic!("start {bin:?}: {e}"));
        let mut d = Dnsmasq {
            child,
            dir,
            _lock: lock,
        };
        d.wait_ready();
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dnsmasq.log")).unwrap_or_default()
    }

    /// Asks `ready.test` until dnsmasq answers (it binds before it serves).
    fn wait_ready(&mut self) {
        let probe = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("probe socket");
        probe
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut query = vec![0x7e, 0x57, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        query.extend_from_slice(b"\x05ready\x04test\x00\x00\x01\x00\x01");
        let deadline = Instant::now() + PATIENCE;
        let mut buf = [0u8; 512];
        loop {
            if let Some(status) = self.child.try_wait().expect("wait dnsmasq") {
                panic!("dnsmasq exited ({status}) at start:\n{}", self.log());
            }
            let _ = probe.send_to(&query, (DNS_UP, 53));
            if let Ok((n, _)) = probe.recv_from(&mut buf) {
                if n >= 12 && buf[..2] == query[..2] {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "dnsmasq did not answer on {DNS_UP}:53:\n{}",
                self.log()
            );
        }
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("dnsmasq log:\n{}", self.log());
        }
    }
}

// ---------------------------------------------------------------------------------------
// AT+PING
// ---------------------------------------------------------------------------------------

#[test]
fn ping_loopback_ipv4_ipv6_and_localhost() {
    let (_m, mut host) = joined();
    for target in ["127.0.0.1", "::1", "localhost"] {
        let ms = ping_ok(&mut host, target);
        assert!(ms < 1000, "{target}: {ms} ms on loopback");
    }
    host.chat(b"AT\r\n", b"\r\nOK\r\n");
}

// ---------------------------------------------------------------------------------------
// AT+CIPDNS and AT+CIPDOMAIN against dnsmasq
// ---------------------------------------------------------------------------------------

#[test]
fn cipdomain_through_a_manual_dns_server() {
    let dns = Dnsmasq::start();
    let (_m, mut host) = joined();
    host.chat(
        b"AT+CIPDNS?\r\n",
        b"+CIPDNS:0,\"208.67.222.222\",\"8.8.8.8\"\r\n\r\nOK\r\n",
    );
    host.chat(
        format!("AT+CIPDNS=1,\"{DNS_UP}\"\r\n").as_bytes(),
        b"\r\nOK\r\n",
    );
    host.chat(
        b"AT+CIPDNS?\r\n",
        format!("+CIPDNS:1,\"{DNS_UP}\"\r\n\r\nOK\r\n").as_bytes(),
    );
    domain(&mut host, "\"host.test\"", "10.9.8.7");
    domain(&mut host, "\"host.test\",1", "10.9.8.7");
    domain(&mut host, "\"host.test\",2", "10.9.8.7");
    domain(&mut host, "\"host.test\",3", "fd00:9:8::7");
    domain(&mut host, "\"HOST.test\",2", "10.9.8.7");
    // Preference 1 falls back to the AAAA record; 2 does not.
    domain(&mut host, "\"v6.test\",1", "fd00:9:8::6");
    domain_fails(&mut host, "\"v6.test\",2");
    domain(&mut host, "\"v4.test\",2", "10.9.8.4");
    domain_fails(&mut host, "\"v4.test\",3");
    // NXDOMAIN.
    domain_fails(&mut host, "\"nowhere.test\"");
    domain_fails(&mut host, "\"nowhere.test\",3");
    host.expect_silence(QUIET);
    let log = dns.log();
    assert!(log.contains("query[A] host.test"), "dnsmasq log:\n{log}");
    assert!(log.contains("query[AAAA] host.test"), "dnsmasq log:\n{log}");
}

#[test]
fn a_name_with_thirty_addresses_resolves_to_one_of_them() {
    let dns = Dnsmasq::start();
    let (_m, mut host) = joined_with_manual_dns();
    host.send(b"AT+CIPDOMAIN=\"pool.test\",2\r\n");
    let reply = String::from_utf8(host.read_until(b"OK\r\n")).expect("text");
    let addr = reply
        .strip_prefix("+CIPDOMAIN:\"")
        .and_then(|r| r.strip_suffix("\"\r\n\r\nOK\r\n"))
        .unwrap_or_else(|| panic!("unexpected reply {reply:?}"));
    let pool: Vec<String> = (1..=30).map(|i| format!("10.0.0.{i}")).collect();
    assert!(
        pool.contains(&addr.to_string()),
        "{addr} is not in pool.test"
    );
    host.expect_silence(QUIET);
    let log = dns.log();
    assert!(log.contains("query[A] pool.test"), "dnsmasq log:\n{log}");
}

#[test]
fn ping_a_name_resolved_by_the_manual_dns_server() {
    let dns = Dnsmasq::start();
    let (_m, mut host) = joined_with_manual_dns();
    ping_ok(&mut host, "lo.test");
    // A name the server does not know: `+PING:TIMEOUT`, then ERROR.
    host.chat(
        b"AT+PING=\"nowhere.test\"\r\n",
        b"+PING:TIMEOUT\r\n\r\nERROR\r\n",
    );
    let log = dns.log();
    assert!(log.contains("query[A] lo.test"), "dnsmasq log:\n{log}");
}

#[test]
fn a_silent_first_server_is_given_up_for_the_second_after_its_timeout() {
    let dns = Dnsmasq::start();
    let (_m, mut host) = joined();
    host.chat(
        format!("AT+CIPDNS=1,\"{DNS_SILENT}\",\"{DNS_UP}\"\r\n").as_bytes(),
        b"\r\nOK\r\n",
    );
    host.chat(
        b"AT+CIPDNS?\r\n",
        format!("+CIPDNS:1,\"{DNS_SILENT}\",\"{DNS_UP}\"\r\n\r\nOK\r\n").as_bytes(),
    );
    let started = Instant::now();
    host.send(b"AT+CIPDOMAIN=\"host.test\"\r\n");
    // Meanwhile the module is busy.
    host.expect_silence(Duration::from_millis(500));
    host.chat(b"AT\r\n", b"\r\nbusy p...\r\n");
    host.expect(b"+CIPDOMAIN:\"10.9.8.7\"\r\n\r\nOK\r\n");
    let took = started.elapsed();
    assert!(
        took >= SERVER_GIVES_UP - Duration::from_millis(50),
        "answered after {took:?}: the silent server was not waited for"
    );
    assert!(
        took < SERVER_GIVES_UP + Duration::from_millis(1500),
        "answered after {took:?}"
    );
    host.expect_silence(QUIET);
    // The same again with IPv6 only: the second server answers after the timeout.
    let started = Instant::now();
    host.chat(
        b"AT+CIPDOMAIN=\"host.test\",3\r\n",
        b"+CIPDOMAIN:\"fd00:9:8::7\"\r\n\r\nOK\r\n",
    );
    assert!(started.elapsed() >= SERVER_GIVES_UP - Duration::from_millis(50));
    let log = dns.log();
    assert_eq!(
        log.matches("query[A] host.test").count(),
        1,
        "one A query reached dnsmasq:\n{log}"
    );
}
