//! Shared by the fuzz targets: a world on the simulated platform, a host writer with
//! backpressure, and a parser for the byte stream the engine writes to the host.
#![allow(dead_code)]

use std::net::SocketAddr;

use at_core::sim::SimPlatform;
use at_core::testing::Harness;
use at_core::time::Duration;
use at_tcpip::TcpIp;

pub type H = Box<Harness<TcpIp<SimPlatform>, SimPlatform>>;

pub const SERVER: &str = "192.168.4.10:80";
pub const SERVER2: &str = "192.168.4.11:81";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Booted, echo off, joined to the access point "lab".
pub fn joined() -> H {
    let mut p = SimPlatform::default();
    p.station.add_ap(b"lab", b"secret123").unwrap();
    p.net.listen(addr(SERVER)).unwrap();
    p.net.listen(addr(SERVER2)).unwrap();
    p.net
        .add_host("example.test", "192.168.4.10".parse().unwrap())
        .unwrap();
    let mut h = Box::new(Harness::with_platform(TcpIp::<SimPlatform>::new(), p));
    assert_eq!(h.boot(), b"\r\nready\r\n");
    assert_eq!(h.send(b"ATE0\r\n"), b"ATE0\r\n\r\nOK\r\n");
    assert_eq!(
        h.send(b"AT+CWJAP=\"lab\",\"secret123\"\r\n"),
        b"WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n"
    );
    h
}

/// A host that takes at most `budget` bytes per `poll`.
pub struct Throttled {
    pub out: Vec<u8>,
    pub budget: usize,
    left: usize,
}

impl Throttled {
    pub fn new(budget: usize) -> Self {
        Throttled {
            out: Vec::new(),
            budget,
            left: budget,
        }
    }
}

impl embedded_io::ErrorType for Throttled {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for Throttled {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let n = buf.len().min(self.left);
        self.left -= n;
        self.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Polls once with a fresh per-poll budget.
pub fn poll(h: &mut H, w: &mut Throttled) {
    w.left = w.budget;
    let _ = h.engine.poll(h.now, &mut h.platform, w);
}

/// Moves the clock by `ms` and polls.
pub fn advance(h: &mut H, w: &mut Throttled, ms: u64) {
    h.now = h.now + Duration::from_millis(ms);
    poll(h, w);
}

/// Feeds `bytes` (polling, letting time pass a little when the engine takes nothing);
/// returns how many were taken.
pub fn feed(h: &mut H, w: &mut Throttled, bytes: &[u8]) -> usize {
    let mut rest = bytes;
    let mut stalls = 0;
    while !rest.is_empty() && stalls < 50 {
        let n = h.engine.feed(h.now, rest);
        rest = &rest[n..];
        poll(h, w);
        if n == 0 {
            stalls += 1;
            advance(h, w, 5);
        } else {
            stalls = 0;
        }
    }
    bytes.len() - rest.len()
}

/// One thing the engine wrote to the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// `+IPD` with data: link (None in single mode) and payload.
    Ipd(Option<u8>, Vec<u8>),
    /// Passive-mode `+IPD,[<id>,]<len>` notice.
    IpdNotice,
    /// `+CIPRECVDATA:<n>,<data>`.
    RecvData(Vec<u8>),
    /// The `>` prompt (after `\r\nOK\r\n\r\n`).
    Prompt,
    /// Any other whole line (without its CR LF); a leading empty line is skipped.
    Line(Vec<u8>),
}

fn digits(b: &[u8]) -> Option<(usize, &[u8])> {
    let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || n > 10 {
        return None;
    }
    let v = std::str::from_utf8(&b[..n]).ok()?.parse().ok()?;
    Some((v, &b[n..]))
}

/// Parses `bytes` into items. Returns the items and the unparsed tail (an incomplete
/// item); panics on bytes that cannot start any known item.
pub fn parse_output(bytes: &[u8]) -> (Vec<Item>, &[u8]) {
    let (items, tail) = parse_output_at(bytes);
    (items.into_iter().map(|(_, item)| item).collect(), tail)
}

/// [`parse_output`] with the offset in `bytes` where each item starts.
pub fn parse_output_at(mut b: &[u8]) -> (Vec<(usize, Item)>, &[u8]) {
    let total = b.len();
    let mut items = Vec::new();
    loop {
        let at = total - b.len();
        if b.is_empty() {
            return (items, b);
        }
        // The prompt: "\r\nOK\r\n\r\n>" was emitted as OK line, empty line, then '>'.
        if let Some(r) = b.strip_prefix(b">") {
            items.push((at, Item::Prompt));
            b = r;
            continue;
        }
        if b == b"\r" {
            return (items, b);
        }
        if let Some(r) = b.strip_prefix(b"\r\n") {
            b = r;
            continue;
        }
        if b"+IPD,".starts_with(b) || b"+CIPRECVDATA:".starts_with(b) {
            return (items, b);
        }
        if let Some(r) = b.strip_prefix(b"+IPD,") {
            // +IPD,[<id>,]<len>[,"ip",port]:<data>  or  +IPD,[<id>,]<len>\r\n
            let Some(end) = r.iter().position(|&c| c == b':' || c == b'\r') else {
                assert!(
                    r.len() < 64,
                    "+IPD header too long: {:?}",
                    r[..64].escape_ascii().to_string()
                );
                return (items, b);
            };
            let head = &r[..end];
            let (a, after) = digits(head).unwrap_or_else(|| bad(b));
            let (id, len) = match after.strip_prefix(b",") {
                Some(x) if x.first().is_some_and(|c| c.is_ascii_digit()) => {
                    let (l, _) = digits(x).unwrap_or_else(|| bad(b));
                    (Some(a as u8), l)
                }
                _ => (None, a),
            };
            if r[end] == b'\r' {
                if r.len() < end + 2 {
                    return (items, b);
                }
                assert_eq!(r[end + 1], b'\n', "bad +IPD notice");
                items.push((at, Item::IpdNotice));
                b = &r[end + 2..];
                continue;
            }
            let data = &r[end + 1..];
            if data.len() < len + 2 {
                return (items, b);
            }
            assert_eq!(
                &data[len..len + 2],
                b"\r\n",
                "+IPD data of {len} bytes not followed by CR LF: {:?}",
                b[..(end + 1 + len + 2 + 5).min(b.len())]
                    .escape_ascii()
                    .to_string()
            );
            items.push((at, Item::Ipd(id, data[..len].to_vec())));
            b = &data[len + 2..];
            continue;
        }
        if let Some(r) = b.strip_prefix(b"+CIPRECVDATA:") {
            let Some(comma) = r.iter().position(|&c| c == b',') else {
                return (items, b);
            };
            let (len, _) = digits(&r[..comma]).unwrap_or_else(|| bad(b));
            // Optional "ip",port, before the data (CIPDINFO=1). Data may itself start
            // with a quote, so the prefix counts only when it is a whole address and port
            // and the data after it ends where the length says.
            let after_comma = &r[comma + 1..];
            let mut data = after_comma;
            if let Some(skip) = remote_prefix(after_comma) {
                let with_info = &after_comma[skip..];
                if with_info.len() < len + 2 {
                    return (items, b);
                }
                if &with_info[len..len + 2] == b"\r\n" {
                    data = with_info;
                }
            }
            if data.len() < len + 2 {
                return (items, b);
            }
            assert_eq!(
                &data[len..len + 2],
                b"\r\n",
                "+CIPRECVDATA data of {len} bytes not followed by CR LF: {:?}",
                b[..(b.len() - data.len() + len + 2 + 5).min(b.len())]
                    .escape_ascii()
                    .to_string()
            );
            items.push((at, Item::RecvData(data[..len].to_vec())));
            b = &data[len + 2..];
            continue;
        }
        let Some(end) = b.windows(2).position(|w| w == b"\r\n") else {
            assert!(
                b.len() < 512,
                "line without end: {:?}",
                b[..64].escape_ascii().to_string()
            );
            assert!(
                b.iter().all(|c| (0x20..0x7f).contains(c) || *c == b'\r'),
                "unprintable output: {:?}",
                b.escape_ascii().to_string()
            );
            return (items, b);
        };
        let line = &b[..end];
        assert!(
            line.iter().all(|c| (0x20..0x7f).contains(c)),
            "unprintable line: {:?}",
            line.escape_ascii().to_string()
        );
        assert!(
            // Upper case (`OK`, `+CIPMUX:0`, `WIFI CONNECTED`), digits (`0,CONNECT`), or the
            // lower-case lines of `AT+GMR` (`compile time(...)`) and `busy p...`.
            line.first()
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'+'),
            "unknown line shape: {:?}",
            line.escape_ascii().to_string()
        );
        assert!(
            !line.windows(4).any(|w| w == b"+IPD"),
            "+IPD inside a line: {:?}",
            line.escape_ascii().to_string()
        );
        items.push((at, Item::Line(line.to_vec())));
        b = &b[end + 2..];
    }
}

fn bad(b: &[u8]) -> ! {
    panic!(
        "malformed output at {:?}",
        b[..b.len().min(80)].escape_ascii().to_string()
    )
}

/// Final result codes of a command line.
pub fn is_final(item: &Item) -> bool {
    match item {
        Item::Prompt => true,
        Item::Line(l) => matches!(
            l.as_slice(),
            b"OK" | b"ERROR" | b"SEND OK" | b"SEND FAIL" | b"busy p..."
        ),
        _ => false,
    }
}

/// The length of a `"<ip>",<port>,` prefix at the start of `b` (CIPDINFO=1), if it has
/// one.
fn remote_prefix(b: &[u8]) -> Option<usize> {
    let rest = b.strip_prefix(b"\"")?;
    let ip_len = rest
        .iter()
        .position(|&c| !(c.is_ascii_hexdigit() || c == b'.' || c == b':'))?;
    let rest = rest[ip_len..].strip_prefix(b"\",")?;
    let port_len = rest.iter().position(|c| !c.is_ascii_digit())?;
    if ip_len == 0 || port_len == 0 || rest[port_len] != b',' {
        return None;
    }
    Some(1 + ip_len + 2 + port_len + 1)
}
