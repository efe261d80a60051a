//! (b) Each command family's argument handling, with structured input: a command name
//! from the TCP/IP set (and a few basic ones), a form, and parameters drawn from values
//! that matter (ranges' edges, link ids, protocol names, addresses, the sim's servers)
//! or arbitrary ones, rendered into a command line and run through a Harness on
//! SimPlatform. Invariant: every command line gets exactly one final result code (OK,
//! ERROR, SEND OK/FAIL, busy, or the `>` prompt), within a minute of simulated time, in
//! output made of whole known items; no panic. A prompt ends the run (data phases are
//! the other targets' business).
#![no_main]

#[path = "common/mod.rs"]
mod common;

use arbitrary::Arbitrary;
use common::{advance, feed, is_final, joined, parse_output, Item, Throttled};
use libfuzzer_sys::fuzz_target;

const NAMES: &[&str] = &[
    "+CIPMUX",
    "+CIPSTART",
    "+CIPCLOSE",
    "+CIPSERVER",
    "+CIPSERVERMAXCONN",
    "+CIPMODE",
    "+CIPSEND",
    "+CIPSENDEX",
    "+CIPSENDL",
    "+CIPSENDLCFG",
    "+CIPSTO",
    "+CIPDINFO",
    "+CIPRECVMODE",
    "+CIPRECVDATA",
    "+CIPRECVLEN",
    "+CIPSTATUS",
    "+CIPSTATE",
    "+CIPDOMAIN",
    "+CIPDNS",
    "+PING",
    "+CIPSNTPCFG",
    "+CIPSNTPTIME",
    "+CIPSNTPINTV",
    "+CIPRECONNINTV",
    "+CIPSTAMAC",
    "+CIPSTA",
    "+CIFSR",
    "+CWJAP",
    "+CWQAP",
    "+CWMODE",
    "+CWLAP",
    "+SYSMSG",
    "+SYSLOG",
    "+GMR",
    "+CIPTCPOPT",
    "+CIPV6",
    "+CIPKEEPALIVE",
    "+CIPSSLSIZE",
    "",
    "E0",
    "+SYSRAM",
    "+CMD",
    "+UART_CUR",
    "+SAVETRANSLINK",
    "+CIPLINKMAX",
    "+BOGUS",
];

const STRS: &[&str] = &[
    "TCP",
    "UDP",
    "SSL",
    "TCPv6",
    "UDPv6",
    "192.168.4.10",
    "192.168.4.11",
    "192.168.4.2",
    "127.0.0.1",
    "0.0.0.0",
    "255.255.255.255",
    "example.test",
    "nowhere.test",
    "lab",
    "secret123",
    "",
    "::1",
    "fe80::1",
    "224.0.0.1",
    "1.2.3",
    "999.1.1.1",
    "a\\\"b",
];

#[derive(Arbitrary, Debug)]
enum Val {
    Omitted,
    Small(i8),
    Port(PortChoice),
    Int(i64),
    Known(u8),
    Str(String),
}

#[derive(Arbitrary, Debug)]
enum PortChoice {
    Server,
    Server2,
    Refused,
    Any(u16),
}

#[derive(Arbitrary, Debug)]
enum FormChoice {
    Test,
    Query,
    Set,
    Execute,
}

#[derive(Arbitrary, Debug)]
struct Cmd {
    name: u8,
    form: FormChoice,
    params: Vec<Val>,
}

fn render(c: &Cmd) -> Vec<u8> {
    let mut s = b"AT".to_vec();
    s.extend_from_slice(NAMES[usize::from(c.name) % NAMES.len()].as_bytes());
    match c.form {
        FormChoice::Test => s.extend_from_slice(b"=?"),
        FormChoice::Query => s.push(b'?'),
        FormChoice::Execute => {}
        FormChoice::Set => {
            s.push(b'=');
            for (i, p) in c.params.iter().take(18).enumerate() {
                if i > 0 {
                    s.push(b',');
                }
                match p {
                    Val::Omitted => {}
                    Val::Small(v) => s.extend_from_slice(v.to_string().as_bytes()),
                    Val::Port(PortChoice::Server) => s.extend_from_slice(b"80"),
                    Val::Port(PortChoice::Server2) => s.extend_from_slice(b"81"),
                    Val::Port(PortChoice::Refused) => s.extend_from_slice(b"9"),
                    Val::Port(PortChoice::Any(p)) => s.extend_from_slice(p.to_string().as_bytes()),
                    Val::Int(v) => s.extend_from_slice(v.to_string().as_bytes()),
                    Val::Known(k) => {
                        s.push(b'"');
                        s.extend_from_slice(STRS[usize::from(*k) % STRS.len()].as_bytes());
                        s.push(b'"');
                    }
                    Val::Str(t) => {
                        s.push(b'"');
                        for c in t.bytes().filter(|&c| c != b'\r' && c != b'\n').take(80) {
                            if c == b'"' || c == b'\\' {
                                s.push(b'\\');
                            }
                            s.push(c);
                        }
                        s.push(b'"');
                    }
                }
            }
        }
    }
    s.extend_from_slice(b"\r\n");
    s
}

fuzz_target!(|cmds: Vec<Cmd>| {
    let mut h = joined();
    let mut w = Throttled::new(usize::MAX);
    for cmd in cmds.iter().take(24) {
        let line = render(cmd);
        if line.len() > 256 {
            continue;
        }
        let start = w.out.len();
        assert_eq!(
            feed(&mut h, &mut w, &line),
            line.len(),
            "line not taken: {:?}",
            line.escape_ascii().to_string()
        );
        // Wait (simulated) up to a minute for the final result code.
        let mut finals;
        let mut waited = 0;
        loop {
            let (items, tail) = parse_output(&w.out[start..]);
            finals = items.iter().filter(|i| is_final(i)).count();
            let prompt = items.contains(&Item::Prompt);
            if prompt {
                finals -= 1; // the OK before the prompt belongs to it
            }
            if (finals >= 1 && tail.is_empty() && !h.engine.is_busy()) || waited > 60_000 {
                break;
            }
            advance(&mut h, &mut w, 100);
            waited += 100;
        }
        let text = w.out[start..].escape_ascii().to_string();
        assert_eq!(
            finals,
            1,
            "{:?} -> {text:?}",
            line.escape_ascii().to_string()
        );
        // Let trailing messages out; nothing in them may be a second final code.
        for _ in 0..3 {
            advance(&mut h, &mut w, 10);
        }
        let (items, _) = parse_output(&w.out[start..]);
        let mut n = items.iter().filter(|i| is_final(i)).count();
        if items.contains(&Item::Prompt) {
            return; // a data phase is open: the end of this run
        }
        if line.starts_with(b"AT+CWQAP") || line.starts_with(b"AT+CWJAP") {
            // Wi-Fi events may follow; not result codes.
            n = n.min(1);
        }
        assert_eq!(
            n,
            1,
            "{:?} -> {:?}",
            line.escape_ascii().to_string(),
            w.out[start..].escape_ascii().to_string()
        );
    }
    let start = w.out.len();
    feed(&mut h, &mut w, b"AT\r\n");
    for _ in 0..3 {
        advance(&mut h, &mut w, 10);
    }
    let (items, _) = parse_output(&w.out[start..]);
    assert!(
        items.contains(&Item::Line(b"OK".to_vec())),
        "{:?}",
        w.out[start..].escape_ascii().to_string()
    );
});
