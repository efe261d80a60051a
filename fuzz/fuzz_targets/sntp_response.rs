//! (g) The SNTP client against whatever comes back: `AT+CIPSNTPCFG` with a fuzzed time
//! zone, and the input's datagrams delivered to the request's socket, from the server or
//! from elsewhere: well-formed answers with any timestamps (the engine's clock and date
//! arithmetic), or raw bytes with the originate time and mode patched in or not (sntpc's
//! checks), while `AT+CIPSNTPTIME?` is asked between them. Invariants: no panic; the output parses into whole known items; every
//! `+CIPSNTPTIME:` is a well-formed asctime (`Www Mmm dd hh:mm:ss yyyy`); each query gets
//! exactly one final `OK`; afterwards `AT` is answered `OK`.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use std::net::{IpAddr, SocketAddr};

use arbitrary::Arbitrary;
use common::{advance, feed, is_final, joined, parse_output, Item, Throttled};
use libfuzzer_sys::fuzz_target;

const NTP: &str = "192.168.4.123";

#[derive(Arbitrary, Debug)]
struct Input {
    /// The time zone: hours (-12..=14) or `[+|-]hhmm`.
    zone: i16,
    steps: Vec<Step>,
}

#[derive(Arbitrary, Debug)]
enum Step {
    /// A datagram to the request's socket.
    Response {
        /// From the server (else from another address).
        from_server: bool,
        form: Form,
    },
    /// Simulated time passes (0..=65535 ms).
    Wait(u16),
    /// `AT+CIPSNTPTIME?`.
    AskTime,
}

#[derive(Arbitrary, Debug)]
enum Form {
    /// A server's answer to the request in flight (mode 4, its transmit time as the
    /// originate time, stratum 1..=15, root delay and dispersion under 16 s) with the
    /// input's leap bits, version, precision and timestamps: what reaches the clock.
    Answer {
        leap: u8,
        version: u8,
        stratum: u8,
        precision: i8,
        root_delay: u32,
        root_dispersion: u32,
        reference: u64,
        receive: u64,
        transmit: u64,
    },
    /// Raw bytes, with the request's transmit time patched in as the originate time
    /// (24..32) and the mode bits set to 4 (server), or left as they are.
    Raw {
        patch_origin: bool,
        patch_mode: bool,
        bytes: Vec<u8>,
    },
}

/// The datagram `form` describes, for a request whose transmit timestamp is `transmit`.
fn datagram(form: &Form, request_transmit: [u8; 8]) -> Vec<u8> {
    match form {
        Form::Answer {
            leap,
            version,
            stratum,
            precision,
            root_delay,
            root_dispersion,
            reference,
            receive,
            transmit,
        } => {
            let mut p = vec![0u8; 48];
            p[0] = (leap % 4) << 6 | (3 + version % 2) << 3 | 4;
            p[1] = 1 + stratum % 15;
            p[2] = 6;
            p[3] = *precision as u8;
            p[4..8].copy_from_slice(&(root_delay % (1 << 20)).to_be_bytes());
            p[8..12].copy_from_slice(&(root_dispersion % (1 << 20)).to_be_bytes());
            p[12..16].copy_from_slice(b"FUZZ");
            p[16..24].copy_from_slice(&reference.to_be_bytes());
            p[24..32].copy_from_slice(&request_transmit);
            p[32..40].copy_from_slice(&receive.to_be_bytes());
            p[40..48].copy_from_slice(&transmit.to_be_bytes());
            p
        }
        Form::Raw {
            patch_origin,
            patch_mode,
            bytes,
        } => {
            let mut p = bytes.clone();
            p.truncate(96);
            if *patch_origin {
                p.resize(p.len().max(48), 0);
                p[24..32].copy_from_slice(&request_transmit);
            }
            if *patch_mode && !p.is_empty() {
                p[0] = (p[0] & !0x07) | 4;
            }
            p
        }
    }
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Www Mmm dd hh:mm:ss yyyy`, the day space-padded.
fn is_asctime(s: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(s) else {
        return false;
    };
    let num = |t: &str, max: u32| t.trim_start().parse::<u32>().is_ok_and(|v| v <= max);
    s.len() == 24
        && DAYS.contains(&&s[0..3])
        && &s[3..4] == " "
        && MONTHS.contains(&&s[4..7])
        && &s[7..8] == " "
        && num(&s[8..10], 31)
        && &s[10..11] == " "
        && num(&s[11..13], 23)
        && &s[13..14] == ":"
        && num(&s[14..16], 59)
        && &s[16..17] == ":"
        && num(&s[17..19], 60)
        && &s[19..20] == " "
        && s[20..24].bytes().all(|b| b.is_ascii_digit())
}

/// The newest request the engine sent since the last call: (local, server, transmit).
fn newest_request(h: &mut common::H) -> Option<(SocketAddr, SocketAddr, [u8; 8])> {
    let mut newest = None;
    let mut buf = [0u8; 128];
    while let Some((local, server, n)) = h.platform.net.udp_take_sent(&mut buf) {
        let mut transmit = [0u8; 8];
        if n >= 48 {
            transmit.copy_from_slice(&buf[40..48]);
        }
        newest = Some((local, server, transmit));
    }
    newest
}

fn zone_text(zone: i16) -> String {
    if (-12..=14).contains(&zone) {
        zone.to_string()
    } else {
        // `[+|-]hhmm` forms, in or out of range (out of range is refused: fine).
        format!(
            "{}{:04}",
            if zone < 0 { "-" } else { "" },
            zone.unsigned_abs() % 10_000
        )
    }
}

fuzz_target!(|input: Input| {
    let mut h = joined();
    let mut w = Throttled::new(4096);
    let cfg = format!("AT+CIPSNTPCFG=1,{},\"{NTP}\"\r\n", zone_text(input.zone));
    let answer = h.send(cfg.as_bytes());
    if answer != b"\r\nOK\r\n" {
        // A zone the command refuses: nothing else to test.
        assert_eq!(answer, b"\r\nERROR\r\n");
        return;
    }
    let mut request = newest_request(&mut h);
    let mut asked = 0;
    for step in input.steps.iter().take(16) {
        if let Some(r) = newest_request(&mut h) {
            request = Some(r);
        }
        match step {
            Step::Response { from_server, form } => {
                let Some((local, server, transmit)) = request else {
                    continue;
                };
                let p = datagram(form, transmit);
                let from = if *from_server {
                    server
                } else {
                    SocketAddr::new("192.168.4.66".parse::<IpAddr>().unwrap(), 123)
                };
                let _ = h.platform.net.udp_peer_inject(local, from, &p);
                advance(&mut h, &mut w, 1);
            }
            Step::Wait(ms) => advance(&mut h, &mut w, u64::from(*ms)),
            Step::AskTime => {
                let line = b"AT+CIPSNTPTIME?\r\n";
                assert_eq!(feed(&mut h, &mut w, line), line.len());
                asked += 1;
            }
        }
    }
    for _ in 0..4 {
        advance(&mut h, &mut w, 1000);
    }
    assert_eq!(feed(&mut h, &mut w, b"AT\r\n"), 4);
    advance(&mut h, &mut w, 1);
    let (items, tail) = parse_output(&w.out);
    assert!(
        tail.is_empty(),
        "incomplete output {:?}",
        String::from_utf8_lossy(tail)
    );
    let mut times = 0;
    for item in &items {
        if let Item::Line(l) = item {
            if let Some(t) = l.strip_prefix(b"+CIPSNTPTIME:") {
                assert!(
                    is_asctime(t),
                    "not asctime: {:?}",
                    String::from_utf8_lossy(t)
                );
                times += 1;
            } else {
                assert!(
                    is_final(item) || l == b"+TIME_UPDATED",
                    "unexpected line {:?}",
                    String::from_utf8_lossy(l)
                );
            }
        }
    }
    assert_eq!(times, asked, "one +CIPSNTPTIME per query: {items:?}");
    let oks = items
        .iter()
        .filter(|i| matches!(i, Item::Line(l) if l == b"OK"))
        .count();
    assert_eq!(oks, asked + 1, "an OK per query and for AT: {items:?}");
    assert!(items
        .iter()
        .all(|i| !matches!(i, Item::Line(l) if l == b"ERROR")));
});
