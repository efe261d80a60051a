//! SNTP end to end: `at-modem` on a pty synchronises against a real NTP server, chronyd,
//! that the test starts on 127.0.0.1:123 (the module always asks port 123, so the tests
//! run as root). chronyd runs with `-x` (it never touches the system clock), serves its
//! own clock (`local stratum 1`), has no `server`/`pool` line (it contacts nothing),
//! listens on loopback only and has no command port. Every address used is loopback.
//!
//! The times the module reports are checked against the test's own clock, formatted by
//! `date(1)` as an independent implementation of the asctime layout.

use std::fs::{self, File};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use at_e2e_tests::{retry_interrupted, Host, Modem, PATIENCE};

const SSID: &str = "lab";
const PASSWORD: &str = "secret123";
/// How far the module's time may be from the test's clock.
const TOLERANCE_S: i64 = 3;
/// Seconds from 1900 (NTP) to 1970 (Unix).
const NTP_UNIX_DELTA: u64 = 2_208_988_800;

/// `chronyd` on PATH (or where Debian installs it, should PATH lack the sbin
/// directories).
fn chronyd_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join("chronyd"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "chronyd is not installed: the SNTP end-to-end tests need chrony \
                 (scripts/test.sh installs it: apt-get install chrony)"
            )
        })
}

/// A client-mode SNTP request stamped with the current time.
fn ntp_request() -> [u8; 48] {
    let mut p = [0u8; 48];
    p[0] = 0x23;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let secs = ((now.as_secs() + NTP_UNIX_DELTA) as u32).to_be_bytes();
    p[40..44].copy_from_slice(&secs);
    p
}

/// chronyd serving NTP on 127.0.0.1:123; killed on drop.
struct Chrony {
    child: Child,
    dir: tempfile::TempDir,
}

impl Chrony {
    /// Starts chronyd and waits until it answers as a synchronised stratum-1 server.
    fn start() -> Chrony {
        let exe = chronyd_binary();
        let dir = tempfile::tempdir().expect("tempdir");
        // chronyd drops root after start; let it write its drift file here.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o1777)).unwrap();
        let d = dir.path().display();
        let conf = format!(
            "local stratum 1\n\
             allow 127.0.0.1\n\
             bindaddress 127.0.0.1\n\
             port 123\n\
             cmdport 0\n\
             bindcmdaddress /\n\
             pidfile {d}/chronyd.pid\n\
             driftfile {d}/drift\n"
        );
        let conf_path = dir.path().join("chrony.conf");
        fs::write(&conf_path, conf).unwrap();
        let log = File::create(dir.path().join("chronyd.log")).unwrap();
        let child = Command::new(&exe)
            .arg("-x")
            .arg("-d")
            .arg("-f")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {exe:?}: {e}"));
        let mut chrony = Chrony { child, dir };
        chrony.wait_ready();
        chrony
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("chronyd.log")).unwrap_or_default()
    }

    /// Asks chronyd for the time until it answers (each try waits at most 200 ms for
    /// the answer; the whole wait is bounded by [`PATIENCE`]).
    fn wait_ready(&mut self) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "chronyd exited ({status}) before serving; is 127.0.0.1:123 taken?\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "chronyd never answered on 127.0.0.1:123\n{}",
                self.log()
            );
            socket.send_to(&ntp_request(), "127.0.0.1:123").unwrap();
            let mut buf = [0u8; 128];
            if let Ok((n, _)) = socket.recv_from(&mut buf) {
                let (li, mode, stratum) = (buf[0] >> 6, buf[0] & 7, buf[1]);
                if n >= 48 && mode == 4 && li != 3 && (1..16).contains(&stratum) {
                    return;
                }
            }
        }
    }
}

impl Drop for Chrony {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A booted modem with echo off, joined to the emulated access point.
fn joined() -> (Modem, Host) {
    let ap = format!("{SSID}:{PASSWORD}");
    let (m, mut host) = Modem::on_pty(&["--ap", &ap]);
    host.expect(b"\r\nready\r\n");
    host.chat(b"ATE0\r\n", b"ATE0\r\n\r\nOK\r\n");
    host.chat(
        format!("AT+CWJAP=\"{SSID}\",\"{PASSWORD}\"\r\n").as_bytes(),
        b"WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n",
    );
    (m, host)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `secs` (Unix time already shifted to the zone) as `date(1)` prints it in the
/// asctime layout: `%e` pads the day with a space, as asctime's `%3d` does.
fn date_asctime(secs: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%a %b %e %H:%M:%S %Y"])
        .output()
        .expect("run date(1)");
    assert!(out.status.success(), "date(1) failed");
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

/// `AT+CIPSNTPTIME?`; checks the answer is the test's clock in `zone_s` (seconds east
/// of UTC) within [`TOLERANCE_S`].
fn time_matches_clock(host: &mut Host, zone_s: i64) -> String {
    let before = unix_now();
    host.send(b"AT+CIPSNTPTIME?\r\n");
    let got = host.read_until(b"\r\n\r\nOK\r\n");
    let after = unix_now();
    let text = String::from_utf8(got).unwrap();
    let line = text
        .strip_prefix("+CIPSNTPTIME:")
        .and_then(|l| l.strip_suffix("\r\n\r\nOK\r\n"))
        .unwrap_or_else(|| panic!("not a +CIPSNTPTIME answer: {text:?}"));
    let candidates: Vec<String> = (before - TOLERANCE_S..=after + TOLERANCE_S)
        .map(|t| date_asctime(t + zone_s))
        .collect();
    assert!(
        candidates.iter().any(|c| c == line),
        "module time {line:?} is not the test's clock ({:?} .. {:?})",
        candidates.first(),
        candidates.last()
    );
    line.to_owned()
}

#[test]
fn synchronises_with_chronyd_and_shows_two_zones() {
    let _chrony = Chrony::start();
    let (m, mut host) = joined();
    // Before any synchronisation: the epoch, in the zone.
    host.chat(
        b"AT+CIPSNTPTIME?\r\n",
        b"+CIPSNTPTIME:Thu Jan  1 00:00:00 1970\r\n\r\nOK\r\n",
    );
    host.chat(b"AT+CIPSNTPCFG=1,8,\"127.0.0.1\"\r\n", b"\r\nOK\r\n");
    host.expect(b"\r\n+TIME_UPDATED\r\n");
    host.chat(
        b"AT+CIPSNTPCFG?\r\n",
        b"+CIPSNTPCFG:1,8,\"127.0.0.1\"\r\n\r\nOK\r\n",
    );
    time_matches_clock(&mut host, 8 * 3600);
    // Another zone, and a second synchronisation with it.
    host.chat(b"AT+CIPSNTPCFG=1,-5,\"127.0.0.1\"\r\n", b"\r\nOK\r\n");
    host.expect(b"\r\n+TIME_UPDATED\r\n");
    host.chat(
        b"AT+CIPSNTPCFG?\r\n",
        b"+CIPSNTPCFG:1,-5,\"127.0.0.1\"\r\n\r\nOK\r\n",
    );
    time_matches_clock(&mut host, -5 * 3600);
    // The second format: UTC+05:30 shows 5 and renders with its half hour.
    host.chat(b"AT+CIPSNTPCFG=1,530,\"127.0.0.1\"\r\n", b"\r\nOK\r\n");
    host.expect(b"\r\n+TIME_UPDATED\r\n");
    host.chat(
        b"AT+CIPSNTPCFG?\r\n",
        b"+CIPSNTPCFG:1,5,\"127.0.0.1\"\r\n\r\nOK\r\n",
    );
    time_matches_clock(&mut host, 330 * 60);
    // Disabled: no more rounds, the time kept goes on.
    host.chat(b"AT+CIPSNTPCFG=0\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPSNTPCFG?\r\n", b"+CIPSNTPCFG:0\r\n\r\nOK\r\n");
    time_matches_clock(&mut host, 330 * 60);
    assert_eq!(m.terminate(), Some(0));
}

/// Binds a UDP socket on `addr` that records requests and never answers.
fn silent_server(addr: &str) -> UdpSocket {
    let socket = UdpSocket::bind(addr)
        .unwrap_or_else(|e| panic!("bind {addr} (the tests run as root): {e}"));
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    socket
}

fn expect_request(server: &UdpSocket) -> (SocketAddr, Instant) {
    let mut buf = [0u8; 128];
    let (n, from) =
        retry_interrupted(|| server.recv_from(&mut buf)).expect("an SNTP request from the module");
    assert_eq!(n, 48, "an SNTP request is 48 bytes");
    assert_eq!(buf[0], 0x23, "LI 0, version 4, mode 3 (client)");
    (from, Instant::now())
}

/// Nothing listens at 127.0.0.2; 127.0.0.3 takes requests and never answers. The module
/// asks each twice, 3 s apart, then gives up: no `+TIME_UPDATED`, still the epoch.
#[test]
fn servers_that_do_not_answer() {
    let silent = silent_server("127.0.0.3:123");
    let (m, mut host) = joined();
    let started = Instant::now();
    host.chat(
        b"AT+CIPSNTPCFG=1,8,\"127.0.0.2\",\"127.0.0.3\"\r\n",
        b"\r\nOK\r\n",
    );
    // 127.0.0.2 had its two tries (6 s); then the silent server gets its two.
    let (from, first) = expect_request(&silent);
    assert!(from.ip().is_loopback());
    let waited = first - started;
    assert!(
        waited >= Duration::from_millis(5_500) && waited < Duration::from_millis(8_000),
        "the second server was asked after {waited:?}"
    );
    let (from2, second) = expect_request(&silent);
    assert_eq!(from2, from, "the retry comes from the same socket");
    let gap = second - first;
    assert!(
        gap >= Duration::from_millis(2_500) && gap < Duration::from_millis(4_500),
        "retry after {gap:?}"
    );
    // The round ends 3 s after the retry, without an answer.
    host.expect_silence(Duration::from_millis(3_500));
    host.chat(
        b"AT+CIPSNTPTIME?\r\n",
        b"+CIPSNTPTIME:Thu Jan  1 08:00:00 1970\r\n\r\nOK\r\n",
    );
    host.chat(
        b"AT+CIPSNTPCFG?\r\n",
        b"+CIPSNTPCFG:1,8,\"127.0.0.2\",\"127.0.0.3\"\r\n\r\nOK\r\n",
    );
    assert_eq!(m.terminate(), Some(0));
}
