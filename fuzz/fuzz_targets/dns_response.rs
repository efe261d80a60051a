//! (f) The engine's own DNS client against whatever comes back: manual DNS servers, an
//! `AT+CIPDOMAIN` lookup, and the input's datagrams delivered to the query's socket,
//! from the server or from elsewhere: responses built like a server's (any RCODE, any
//! records in the three sections, names compressed or not, lengths that may lie), or
//! raw bytes with the query's ID and question patched in or not. Invariants: no panic; the lookup ends with exactly one final result within
//! the retry budget (two servers, two attempts each, two seconds per attempt, plus the
//! AAAA retry of preference 1): `+CIPDOMAIN:"<ip>"` and `OK`, where the address's bytes
//! came in a datagram from the server, or `ERROR`; afterwards `AT` is answered `OK`.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use std::net::{IpAddr, SocketAddr};

use arbitrary::Arbitrary;
use common::{advance, feed, is_final, joined, parse_output, Item, Throttled};
use libfuzzer_sys::fuzz_target;

const DNS1: &str = "192.168.4.53";
const DNS2: &str = "192.168.4.54";

#[derive(Arbitrary, Debug)]
struct Input {
    /// 0: none given; 1..=3 the `AT+CIPDOMAIN` preference.
    preference: u8,
    responses: Vec<Response>,
}

#[derive(Arbitrary, Debug)]
struct Response {
    /// 0: from the server asked; 1: from the other server; 2: from the server's address
    /// but another port; 3: from another host.
    source: u8,
    /// Simulated milliseconds before the next response (0..=4095).
    delay_ms: u16,
    form: Form,
}

#[derive(Arbitrary, Debug)]
enum Form {
    /// A response as a server writes it: the query's ID (or another), the question
    /// echoed, then records, each with a compressed or a literal owner name.
    Answer {
        same_id: bool,
        /// The flags' low byte: RA and the RCODE (any of 0..=15).
        flags_low: u8,
        answers: Vec<Record>,
        /// Records counted in the authority and additional sections.
        authority: Vec<Record>,
        additional: Vec<Record>,
    },
    /// Raw bytes, with the query's ID and question patched in or not.
    Raw {
        patch_id: bool,
        patch_question: bool,
        bytes: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug)]
struct Record {
    /// 0: A, 1: AAAA, 2: CNAME, else this value as the type.
    kind: u8,
    /// Owner name as a pointer to the question (else a literal name).
    pointer: bool,
    ttl: u32,
    /// The record data (for A and AAAA, its first 4 or 16 bytes, padded; declared
    /// lengths may also lie: `short` cuts the data by one byte).
    data: Vec<u8>,
    short: bool,
}

fn record(r: &Record, out: &mut Vec<u8>) {
    if r.pointer {
        out.extend_from_slice(&[0xc0, 0x0c]);
    } else {
        out.extend_from_slice(b"\x04fuzz\x04test\x00");
    }
    let (ty, mut data) = match r.kind {
        0 => (1u16, {
            let mut d = r.data.clone();
            d.resize(4, 0);
            d
        }),
        1 => (28, {
            let mut d = r.data.clone();
            d.resize(16, 0);
            d
        }),
        2 => (5, b"\x05other\x04test\x00".to_vec()),
        k => (u16::from(k), r.data.iter().copied().take(64).collect()),
    };
    out.extend_from_slice(&ty.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&r.ttl.to_be_bytes());
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    if r.short {
        data.pop();
    }
    out.extend(data);
}

/// The datagram `form` describes, for query `q`.
fn datagram(form: &Form, q: &Query) -> Vec<u8> {
    match form {
        Form::Answer {
            same_id,
            flags_low,
            answers,
            authority,
            additional,
        } => {
            let id = if *same_id {
                q.id
            } else {
                [q.id[0] ^ 0x5a, q.id[1]]
            };
            let mut v = id.to_vec();
            v.extend_from_slice(&[0x81, *flags_low]);
            for n in [1, answers.len(), authority.len(), additional.len()] {
                v.extend_from_slice(&(n as u16).to_be_bytes());
            }
            v.extend_from_slice(&q.question);
            for r in answers.iter().chain(authority).chain(additional) {
                record(r, &mut v);
            }
            v
        }
        Form::Raw {
            patch_id,
            patch_question,
            bytes,
        } => {
            let mut d = bytes.clone();
            if *patch_question {
                d.resize(d.len().max(12), 0);
                let rest = d.split_off(12);
                d.extend_from_slice(&q.question);
                d.extend(rest);
            }
            if *patch_id && d.len() >= 2 {
                d[..2].copy_from_slice(&q.id);
            }
            d
        }
    }
}

struct Query {
    local: SocketAddr,
    server: SocketAddr,
    id: [u8; 2],
    question: Vec<u8>,
}

/// The newest query the engine sent, if it sent any since the last call.
fn newest_query(h: &mut common::H) -> Option<Query> {
    let mut newest = None;
    let mut buf = [0u8; 1024];
    while let Some((local, server, n)) = h.platform.net.udp_take_sent(&mut buf) {
        let b = &buf[..n];
        // The question: from offset 12 to the end of its name, then type and class.
        let mut pos = 12;
        while let Some(&len) = b.get(pos) {
            pos += 1 + usize::from(len);
            if len == 0 {
                break;
            }
        }
        let end = (pos + 4).min(b.len());
        newest = Some(Query {
            local,
            server,
            id: [b[0], b[1]],
            question: b.get(12..end).unwrap_or_default().to_vec(),
        });
    }
    newest
}

fuzz_target!(|input: Input| {
    let mut h = joined();
    let mut w = Throttled::new(4096);
    assert_eq!(
        h.send(format!("AT+CIPDNS=1,\"{DNS1}\",\"{DNS2}\"\r\n").as_bytes()),
        b"\r\nOK\r\n"
    );
    let line = match input.preference % 4 {
        0 => "AT+CIPDOMAIN=\"fuzz.test\"\r\n".to_string(),
        p => format!("AT+CIPDOMAIN=\"fuzz.test\",{p}\r\n"),
    };
    assert_eq!(feed(&mut h, &mut w, line.as_bytes()), line.len());
    let mut query = newest_query(&mut h);
    let mut from_server: Vec<Vec<u8>> = Vec::new();
    for r in input.responses.iter().take(8) {
        if let Some(q) = newest_query(&mut h) {
            query = Some(q);
        }
        let Some(q) = query.as_ref() else { break };
        let mut bytes = datagram(&r.form, q);
        bytes.truncate(512);
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let from = match r.source % 4 {
            0 => q.server,
            1 => {
                let other = if q.server.ip() == ip(DNS1) {
                    DNS2
                } else {
                    DNS1
                };
                SocketAddr::new(ip(other), 53)
            }
            2 => SocketAddr::new(q.server.ip(), 5353),
            _ => SocketAddr::new(ip("192.168.4.66"), 53),
        };
        if h.platform
            .net
            .udp_peer_inject(q.local, from, &bytes)
            .is_ok()
            && from == q.server
        {
            from_server.push(bytes);
        }
        advance(&mut h, &mut w, u64::from(r.delay_ms % 4096));
    }
    // The retry budget: 2 servers x 2 attempts x 2 s, twice (A, then AAAA).
    for _ in 0..40 {
        advance(&mut h, &mut w, 500);
    }
    assert!(!h.engine.is_busy(), "the lookup never ended");
    let (items, tail) = parse_output(&w.out);
    assert!(
        tail.is_empty(),
        "incomplete output {:?}",
        String::from_utf8_lossy(tail)
    );
    let finals: Vec<&Item> = items.iter().filter(|i| is_final(i)).collect();
    assert_eq!(finals.len(), 1, "one final result: {items:?}");
    match finals[0] {
        Item::Line(l) if l == b"OK" => {
            let answer = items
                .iter()
                .find_map(|i| match i {
                    Item::Line(l) => l.strip_prefix(b"+CIPDOMAIN:\""),
                    _ => None,
                })
                .and_then(|l| l.strip_suffix(b"\""))
                .expect("+CIPDOMAIN before OK");
            let ip: IpAddr = std::str::from_utf8(answer).unwrap().parse().unwrap();
            let octets = match ip {
                IpAddr::V4(a) => a.octets().to_vec(),
                IpAddr::V6(a) => a.octets().to_vec(),
            };
            assert!(
                from_server
                    .iter()
                    .any(|d| d.windows(octets.len()).any(|w| w == octets)),
                "{ip} came in no datagram from the server"
            );
        }
        Item::Line(l) if l == b"ERROR" => {}
        other => panic!("unexpected final result {other:?}"),
    }
    w.out.clear();
    assert_eq!(feed(&mut h, &mut w, b"AT\r\n"), 4);
    let (items, _) = parse_output(&w.out);
    assert_eq!(items, vec![Item::Line(b"OK".to_vec())]);
});
