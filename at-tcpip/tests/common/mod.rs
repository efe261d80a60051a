//! Shared set-up for the engine-level tests of the TCP/IP command set: a booted engine
//! on the simulated platform, with an access point, remote servers and helpers for the
//! exact bytes of error responses.
#![allow(dead_code)]

use std::net::SocketAddr;

use at_core::sim::{PeerId, SimPlatform};
use at_core::testing::{Capture, Harness};
use at_tcpip::TcpIp;

/// The engine under test on the simulated platform, boxed: it is a quarter megabyte
/// (socket buffers and the engine's queues), too big to move around the test stack.
pub type H = Box<Harness<TcpIp<SimPlatform>, SimPlatform>>;

pub const SSID: &str = "lab";
pub const PASSWORD: &str = "secret123";
/// The remote TCP server every test can connect to.
pub const SERVER: &str = "192.168.4.10:80";
/// A second remote TCP server.
pub const SERVER2: &str = "192.168.4.11:81";
/// The station's address in the simulation.
pub const LOCAL_IP: &str = "192.168.4.2";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Expected bytes that print escaped, like [`Capture`], when an assertion fails.
#[derive(Clone, PartialEq, Eq)]
pub struct Text(pub Vec<u8>);

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let escaped: String = self.0.escape_ascii().to_string();
        write!(f, "b\"{escaped}\"")
    }
}

impl PartialEq<Text> for Capture {
    fn eq(&self, other: &Text) -> bool {
        self.as_bytes() == other.0.as_slice()
    }
}

impl std::ops::Deref for Text {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Text {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Expected bytes.
pub fn t(bytes: impl AsRef<[u8]>) -> Text {
    Text(bytes.as_ref().to_vec())
}

/// `ERR CODE:0x<code>` and `ERROR`, as printed with `AT+SYSLOG=1`.
pub fn err(code: u32) -> Text {
    t(format!("ERR CODE:0x{code:08x}\r\n\r\nERROR\r\n"))
}

/// Parameter count mismatch: `need << 8 | given`.
pub fn count_err(need: u32, given: u32) -> Text {
    err(0x0106_0000 | need << 8 | given)
}

/// Invalid parameter `index`.
pub fn invalid(index: u32) -> Text {
    err(0x0107_0000 | index)
}

/// Type mismatch at parameter `index`.
pub fn type_err(index: u32) -> Text {
    err(0x0105_0000 | index)
}

/// Length mismatch at parameter `index`.
pub fn length_err(index: u32) -> Text {
    err(0x0104_0000 | index)
}

/// Execution failed.
pub fn exec_err() -> Text {
    err(0x010a_0000)
}

/// Wrong command form.
pub fn form_err() -> Text {
    err(0x010c_0000)
}

/// A world with the access point and two remote servers.
pub fn world() -> SimPlatform {
    let mut p = SimPlatform::default();
    p.station
        .add_ap(SSID.as_bytes(), PASSWORD.as_bytes())
        .unwrap();
    p.net.listen(addr(SERVER)).unwrap();
    p.net.listen(addr(SERVER2)).unwrap();
    p
}

/// Booted on `platform`, echo off, `AT+SYSLOG=1`, not joined.
pub fn boot_on(platform: SimPlatform) -> H {
    let mut h = Box::new(Harness::with_platform(
        TcpIp::<SimPlatform>::new(),
        platform,
    ));
    assert_eq!(h.boot(), b"\r\nready\r\n");
    assert_eq!(h.send(b"ATE0\r\n"), b"ATE0\r\n\r\nOK\r\n");
    assert_eq!(h.send(b"AT+SYSLOG=1\r\n"), b"\r\nOK\r\n");
    h
}

/// Booted, echo off, `AT+SYSLOG=1`, not joined.
pub fn booted() -> H {
    boot_on(world())
}

/// Booted and joined to the access point.
pub fn joined() -> H {
    let mut h = booted();
    join(&mut h);
    h
}

/// Booted and joined, the platform's random generator seeded with `seed` (the DNS
/// query IDs and SNTP request times it draws).
pub fn joined_with_random_seed(seed: u32) -> H {
    let mut p = world();
    p.random_state = seed;
    let mut h = boot_on(p);
    join(&mut h);
    h
}

pub fn join(h: &mut H) {
    let line = format!("AT+CWJAP=\"{SSID}\",\"{PASSWORD}\"\r\n");
    assert_eq!(
        h.send(line.as_bytes()),
        b"WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n"
    );
}

/// Single-connection TCP link 0 to [`SERVER`]; returns the remote end.
pub fn connect_single(h: &mut H) -> PeerId {
    assert_eq!(
        h.send(b"AT+CIPSTART=\"TCP\",\"192.168.4.10\",80\r\n"),
        b"CONNECT\r\n\r\nOK\r\n"
    );
    h.platform.net.accepted(addr(SERVER)).unwrap()
}

/// Multi-connection TCP link `id` to [`SERVER`] (CIPMUX must be 1).
pub fn connect_mux(h: &mut H, id: usize) -> PeerId {
    let line = format!("AT+CIPSTART={id},\"TCP\",\"192.168.4.10\",80\r\n");
    let want = format!("{id},CONNECT\r\n\r\nOK\r\n");
    assert_eq!(h.send(line.as_bytes()), want.as_bytes());
    h.platform.net.accepted(addr(SERVER)).unwrap()
}

/// Polls until nothing more comes out (at most `max` polls), collecting all output.
pub fn drain(h: &mut H, max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..max {
        let got = h.poll();
        if got.is_empty() {
            break;
        }
        out.extend_from_slice(&got);
    }
    out
}

/// Splits active-mode `+IPD` messages (`\r\n+IPD,<len>:<data>\r\n`, single connection,
/// no CIPDINFO) into their payloads; panics on anything else.
pub fn parse_ipd(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let rest = bytes
            .strip_prefix(b"\r\n+IPD,")
            .unwrap_or_else(|| panic!("not an +IPD frame: {:?}", String::from_utf8_lossy(bytes)));
        let colon = rest.iter().position(|&b| b == b':').unwrap();
        let len: usize = std::str::from_utf8(&rest[..colon])
            .unwrap()
            .parse()
            .unwrap();
        let data = &rest[colon + 1..colon + 1 + len];
        out.push(data.to_vec());
        bytes = rest[colon + 1 + len..]
            .strip_prefix(b"\r\n")
            .expect("\\r\\n after the +IPD data");
    }
    out
}
