//! Hostile input end to end through `at-modem` on a pty: binary garbage and a 1 MB line,
//! `+++` storms, CIPSEND with surplus bytes, and a host that stops reading for a full
//! minute while a peer keeps sending. After
//! each: the modem answers `AT` with OK, the link's data is intact (hashed), and the
//! process RSS (VmRSS from /proc/<pid>/status) grows by less than 8 MiB; the figures are
//! printed. Loopback only.
//!
//! Under load: a flood of 2000 command lines while an `AT+CIPSTART` waits for a DNS server
//! that never answers (127.0.0.78, nothing listens there), a peer that resets in the
//! middle of a transfer while another link moves 1 MiB, a burst of 20 clients against a
//! server limited to 3, an `AT+CIPSEND` whose data never comes, and a `+++` storm in
//! transparent mode. The only deliberate pauses are protocol timings (the `+++` guard,
//! the DNS retry timeout, the silence that shows the module keeps waiting) and the pace
//! of the peers' writes; every other wait ends as soon as the bytes are there.

use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use at_e2e_tests::{accept_peer, port_writer, retry_interrupted, Host, Modem, PATIENCE};

const LIMIT_KIB: u64 = 8 * 1024;

fn rss_kib(m: &Modem) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{}/status", m.child.id())).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn booted() -> (Modem, Host) {
    let (m, mut host) = Modem::on_pty(&["--ap", "lab:secret123"]);
    host.expect(b"\r\nready\r\n");
    host.chat(b"ATE0\r\n", b"ATE0\r\n\r\nOK\r\n");
    (m, host)
}

/// Discards whatever the modem says until it has been quiet for `quiet`.
fn drain(host: &mut Host, quiet: Duration) {
    loop {
        let n = host.peek(1, quiet).len();
        if n == 0 {
            return;
        }
        host.consume(n);
    }
}

/// The modem is sane again: echo off, `AT` answers exactly OK.
fn sane(host: &mut Host) {
    drain(host, Duration::from_millis(300));
    host.send(b"\r\nATE0\r\n");
    drain(host, Duration::from_millis(300));
    host.chat(b"AT\r\n", b"\r\nOK\r\n");
}

fn check_rss(m: &Modem, before: u64, what: &str) {
    let after = rss_kib(m);
    println!("{what}: at-modem VmRSS {before} KiB before, {after} KiB after");
    assert!(
        after < before + LIMIT_KIB,
        "{what}: RSS grew from {before} to {after} KiB"
    );
}

#[test]
fn binary_garbage_and_a_1_mb_line() {
    let (m, mut host) = booted();
    let before = rss_kib(&m);
    let mut x: u32 = 0x1234_5678;
    let garbage: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    // Writing blocks when the pty is full; read meanwhile so the modem never stalls.
    for chunk in garbage.chunks(4096) {
        host.send(chunk);
        drain(&mut host, Duration::from_millis(1));
    }
    sane(&mut host);
    let line = vec![b'A'; 1024 * 1024];
    for chunk in line.chunks(4096) {
        host.send(chunk);
        drain(&mut host, Duration::from_millis(1));
    }
    host.send(b"\r\n");
    sane(&mut host);
    check_rss(&m, before, "garbage + 1 MB line");
}

#[test]
fn plus_storms_in_command_mode() {
    let (m, mut host) = booted();
    let before = rss_kib(&m);
    for _ in 0..200 {
        host.send(b"+++");
        host.send(b"+++\r\n");
    }
    drain(&mut host, Duration::from_millis(300));
    sane(&mut host);
    check_rss(&m, before, "+++ storm");
}

fn joined_link() -> (Modem, Host, std::net::TcpStream) {
    let (m, mut host) = booted();
    host.chat(
        b"AT+CWJAP=\"lab\",\"secret123\"\r\n",
        b"WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n",
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    host.chat(
        format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let (peer, _) = l.accept().unwrap();
    (m, host, peer)
}

#[test]
fn cipsend_with_surplus_bytes() {
    let (m, mut host, mut peer) = joined_link();
    let before = rss_kib(&m);
    host.chat(b"AT+CIPSEND=5\r\n", b"\r\nOK\r\n\r\n>");
    // Five payload bytes, then surplus that is read as command lines.
    host.send(b"helloAT\r\n");
    let mut got = [0u8; 5];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello");
    host.expect(b"\r\nRecv 5 bytes\r\n\r\nSEND OK\r\n\r\nOK\r\n");
    sane(&mut host);
    check_rss(&m, before, "CIPSEND surplus");
}

#[test]
fn a_host_that_stops_reading_for_a_minute_loses_nothing() {
    let (m, mut host, mut peer) = joined_link();
    let before = rss_kib(&m);
    // The peer sends 256 KiB while the host does not read for a minute: the modem's
    // output queue and the pty fill, the modem stops reading the socket, and TCP holds
    // the peer back.
    let total = 256 * 1024;
    let data: Vec<u8> = (0..total).map(|i| (i * 7 % 251) as u8).collect();
    let mut want = DefaultHasher::new();
    want.write(&data);
    let sender = std::thread::spawn(move || {
        peer.write_all(&data).unwrap();
        peer
    });
    std::thread::sleep(Duration::from_secs(60));
    let mid = rss_kib(&m);
    println!("host stalled 60 s: at-modem VmRSS {mid} KiB (before: {before} KiB)");
    let mut payload = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while payload.len() < total {
        assert!(
            Instant::now() < deadline,
            "only {} of {total} bytes",
            payload.len()
        );
        let head = host.read_until(b":");
        let text = String::from_utf8_lossy(&head).into_owned();
        let len: usize = text
            .trim_start_matches("\r\n")
            .strip_prefix("+IPD,")
            .and_then(|r| r.strip_suffix(':'))
            .unwrap_or_else(|| panic!("not +IPD: {text:?}"))
            .parse()
            .unwrap();
        payload.extend(host.read_exact_bytes(len));
        assert_eq!(host.read_exact_bytes(2), b"\r\n");
    }
    let _peer = sender.join().unwrap();
    let mut got = DefaultHasher::new();
    got.write(&payload);
    assert_eq!(got.finish(), want.finish(), "payload hash");
    sane(&mut host);
    check_rss(&m, before, "stalled host");
}

// ---------------------------------------------------------------------------------------
// Under load: helpers
// ---------------------------------------------------------------------------------------

/// A loopback address where nothing listens: a DNS server that never answers.
const DNS_SILENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 78);
/// The module's DNS timing (`at-tcpip/src/dns.rs`): 2 queries of 2 s to the one server.
const DNS_GIVES_UP: Duration = Duration::from_millis(4_000);
/// The `+++` guard time of the W800 profile.
const GUARD: Duration = Duration::from_millis(30);

fn digest(data: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    h.write(data);
    h.finish()
}

/// `len` pseudo-random bytes (xorshift64), different for every seed.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A booted modem, echo off, joined to the lab AP.
fn joined() -> (Modem, Host) {
    let (m, mut host) = booted();
    host.chat(
        b"AT+CWJAP=\"lab\",\"secret123\"\r\n",
        b"WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n",
    );
    (m, host)
}

fn listen() -> (TcpListener, u16) {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1");
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// `AT+CIPSTART=<id>,"TCP","127.0.0.1",<port>` in multi-connection mode; the peer's end.
fn open_link(host: &mut Host, id: usize, l: &TcpListener) -> TcpStream {
    let port = l.local_addr().unwrap().port();
    host.chat(
        format!("AT+CIPSTART={id},\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        format!("{id},CONNECT\r\n\r\nOK\r\n").as_bytes(),
    );
    accept_peer(l)
}

/// Asserts the module closed the connection: end of stream or reset, within the bound.
fn expect_closed(s: &mut TcpStream, what: &str) {
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0u8; 64];
    match retry_interrupted(|| s.read(&mut buf)) {
        Ok(0) => {}
        Ok(n) => panic!("{what}: data instead of a close: {:?}", &buf[..n]),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("{what}: the module did not close the connection: {e}"),
    }
}

/// One message of the modem in multi-connection active mode; each starts with `\r\n`
/// (`busy p...`, result codes and unsolicited lines as WIRE.md frames them).
#[derive(Debug)]
enum Said {
    /// `+IPD,<id>,<len>:<data>` and its trailing `\r\n`.
    Ipd(usize, Vec<u8>),
    /// Any other line, without its `\r\n`s.
    Line(String),
}

fn next_said(host: &mut Host) -> Said {
    host.expect(b"\r\n");
    if host.peek(5, PATIENCE).starts_with(b"+IPD,") {
        let head = host.read_until(b":");
        let text = String::from_utf8_lossy(&head[5..head.len() - 1]).into_owned();
        let (id, len) = text
            .split_once(',')
            .and_then(|(id, len)| Some((id.parse().ok()?, len.parse().ok()?)))
            .unwrap_or_else(|| panic!("bad +IPD header {text:?}"));
        assert!((1..=2920).contains(&len), "+IPD of {len} bytes");
        let data = host.read_exact_bytes(len);
        host.expect(b"\r\n");
        Said::Ipd(id, data)
    } else {
        let line = host.read_until(b"\r\n");
        Said::Line(String::from_utf8_lossy(&line[..line.len() - 2]).into_owned())
    }
}

// ---------------------------------------------------------------------------------------
// Under load: the scenarios
// ---------------------------------------------------------------------------------------

/// While `AT+CIPSTART` waits ~4 s for a DNS server that never answers, 2000 `AT` lines
/// each get exactly one `busy p...`, the CIPSTART then ends with ERROR, and link 0 keeps
/// delivering `+IPD` data. Its peer streams on its own (an echo server would need a
/// CIPSEND, which is busy too).
#[test]
fn a_flood_of_commands_while_cipstart_waits_for_dns_gets_busy_and_data_flows() {
    const FLOOD: usize = 2000;
    const CHUNK: usize = 16 * 1024;
    const CHUNKS: usize = 48;
    let (m, mut host) = joined();
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    let (l, port) = listen();
    let mut peer = open_link(&mut host, 0, &l);
    host.chat(
        format!("AT+CIPDNS=1,\"{DNS_SILENT}\"\r\n").as_bytes(),
        b"\r\nOK\r\n",
    );
    let before = rss_kib(&m);
    let data = pattern(1, CHUNK * CHUNKS);
    let (want, total) = (digest(&data), data.len());

    // Link 1 to a name only the silent server could resolve: CIPSTART pends ~4 s.
    host.send(format!("AT+CIPSTART=1,\"TCP\",\"nowhere.test\",{port}\r\n").as_bytes());
    let started = Instant::now();
    let mut w = port_writer(&m);
    let flood = b"AT\r\n".repeat(FLOOD);
    let writer = thread::spawn(move || w.write_all(&flood).map(|()| Instant::now()));
    // Meanwhile link 0's peer sends 16 KiB every 60 ms (about 3 s of traffic).
    let source = thread::spawn(move || {
        for chunk in data.chunks(CHUNK) {
            peer.write_all(chunk).expect("peer write");
            thread::sleep(Duration::from_millis(60));
        }
        peer
    });

    let mut busy = 0;
    let mut got = Vec::new();
    let mut before_last_busy = 0;
    let mut error_after = None;
    let mut data_before_error = 0;
    while error_after.is_none() || got.len() < total {
        match next_said(&mut host) {
            Said::Line(l) if l == "busy p..." => {
                assert!(error_after.is_none(), "busy p... after CIPSTART ended");
                busy += 1;
                before_last_busy = got.len();
            }
            Said::Line(l) if l == "ERROR" => {
                assert!(error_after.is_none(), "a second ERROR");
                error_after = Some(started.elapsed());
                data_before_error = got.len();
            }
            Said::Ipd(0, d) => got.extend_from_slice(&d),
            other => panic!("unexpected {other:?} (busy {busy}, data {})", got.len()),
        }
    }
    let flood_written = writer.join().unwrap().expect("flood write") - started;
    let peer = source.join().unwrap();
    let took = error_after.unwrap();
    println!(
        "{FLOOD} lines written in {flood_written:?}; {busy} busy p...; CIPSTART ERROR after \
         {took:?}; link 0: {before_last_busy} B before the last busy, {data_before_error} B \
         before ERROR, {} B in all",
        got.len()
    );
    assert_eq!(busy, FLOOD, "every line during CIPSTART gets busy p...");
    assert!(
        took >= DNS_GIVES_UP - Duration::from_millis(100),
        "CIPSTART ended after {took:?}: the silent DNS server was not waited for"
    );
    assert!(
        data_before_error > 0,
        "link 0 delivered nothing while CIPSTART was pending"
    );
    assert_eq!(got.len(), total, "link 0 length");
    assert_eq!(digest(&got), want, "link 0 hash");
    sane(&mut host);
    // Link 1 never opened; link 0 is still up.
    let (remote, local) = (
        peer.local_addr().unwrap().port(),
        peer.peer_addr().unwrap().port(),
    );
    host.chat(
        b"AT+CIPSTATE?\r\n",
        format!("+CIPSTATE:0,\"TCP\",\"127.0.0.1\",{remote},{local},0\r\n\r\nOK\r\n").as_bytes(),
    );
    check_rss(&m, before, "2000 lines during a pending CIPSTART");
}

/// Peer B resets (SO_LINGER 0) while it and peer A are both sending in active mode: the
/// host gets `1,CLOSED`, a prefix of B's data and all of A's 1 MiB.
#[test]
fn a_peer_resetting_mid_transfer_closes_only_its_link() {
    const MIB: usize = 1024 * 1024;
    const CHUNK: usize = 16 * 1024;
    let (m, mut host) = joined();
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    let (l, _) = listen();
    let mut a = open_link(&mut host, 0, &l);
    let mut b = open_link(&mut host, 1, &l);
    let before = rss_kib(&m);
    let big = pattern(2, MIB);
    let want = digest(&big);
    let b_data = pattern(3, 4 * MIB);
    let b_copy = b_data.clone();
    let (reset_now, reset_rx) = mpsc::channel();

    // A sends 1 MiB; a quarter of the way in, it tells B to reset.
    let sender = thread::spawn(move || {
        for (i, chunk) in big.chunks(CHUNK).enumerate() {
            a.write_all(chunk).expect("peer A write");
            if (i + 1) * CHUNK == MIB / 4 {
                reset_now.send(()).unwrap();
            }
        }
        a
    });
    // B streams until told, then resets (SO_LINGER 0) with its data still on the way.
    let resetter = thread::spawn(move || {
        let mut sent = 0;
        for chunk in b_copy.chunks(4096) {
            if reset_rx.try_recv().is_ok() {
                break;
            }
            b.write_all(chunk).expect("peer B write");
            sent += chunk.len();
        }
        if sent == b_copy.len() {
            reset_rx.recv().unwrap();
        }
        socket2::SockRef::from(&b)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(b);
        sent
    });

    let mut got = Vec::new();
    let mut got_b = Vec::new();
    let mut closed_at = None;
    while closed_at.is_none() || got.len() < MIB {
        match next_said(&mut host) {
            Said::Ipd(0, d) => got.extend_from_slice(&d),
            Said::Ipd(1, d) => {
                assert!(closed_at.is_none(), "+IPD on link 1 after 1,CLOSED");
                got_b.extend_from_slice(&d);
            }
            Said::Line(l) if l == "1,CLOSED" => {
                assert!(closed_at.is_none(), "1,CLOSED twice");
                closed_at = Some(got.len());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let a = sender.join().unwrap();
    let b_sent = resetter.join().unwrap();
    println!(
        "peer B sent {b_sent} B, the host got {} B of it; 1,CLOSED after {} B of link 0",
        got_b.len(),
        closed_at.unwrap()
    );
    assert!(
        got_b.len() <= b_sent && got_b == b_data[..got_b.len()],
        "link 1 delivered something other than a prefix of what peer B sent"
    );
    assert_eq!(got.len(), MIB, "link 0 length");
    assert_eq!(digest(&got), want, "link 0 hash");
    sane(&mut host);
    let (remote, local) = (
        a.local_addr().unwrap().port(),
        a.peer_addr().unwrap().port(),
    );
    host.chat(
        b"AT+CIPSTATE?\r\n",
        format!("+CIPSTATE:0,\"TCP\",\"127.0.0.1\",{remote},{local},0\r\n\r\nOK\r\n").as_bytes(),
    );
    check_rss(&m, before, "peer reset during a 1 MiB transfer");
}

/// 20 clients connect at once to a server limited to 3, each sending 64 KiB at once:
/// exactly 3 `<id>,CONNECT`, those clients' data intact, the other 17 closed.
#[test]
fn a_burst_of_20_clients_against_maxconn_3_while_the_accepted_send() {
    const CLIENTS: usize = 20;
    const MAX: usize = 3;
    const LEN: usize = 64 * 1024;
    let (m, mut host) = joined();
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSERVERMAXCONN={MAX}\r\n").as_bytes(),
        b"\r\nOK\r\n",
    );
    let port = listen().1;
    host.chat(
        format!("AT+CIPSERVER=1,{port}\r\n").as_bytes(),
        b"\r\nOK\r\n",
    );
    let before = rss_kib(&m);
    // Each client's payload starts with its number.
    let payload = |i: usize| {
        let mut p = format!("client {i:02}|").into_bytes();
        p.extend(pattern(100 + i as u64, LEN - p.len()));
        p
    };
    let start = Arc::new(Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let start = start.clone();
            let data = payload(i);
            thread::spawn(move || {
                start.wait();
                let to = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                let mut s = TcpStream::connect_timeout(&to, PATIENCE)
                    .unwrap_or_else(|e| panic!("client {i}: connect: {e}"));
                s.set_write_timeout(Some(PATIENCE)).unwrap();
                // A refused client's write may fail (reset, broken pipe): that is fine.
                let wrote = s.write_all(&data);
                (s, wrote)
            })
        })
        .collect();

    let mut connected: Vec<usize> = Vec::new();
    let mut data: [Vec<u8>; 5] = Default::default();
    while connected.len() < MAX || connected.iter().any(|&id| data[id].len() < LEN) {
        match next_said(&mut host) {
            Said::Line(l) if l.ends_with(",CONNECT") => {
                let id: usize = l[..l.len() - 8].parse().expect("link id");
                assert!(!connected.contains(&id), "{id},CONNECT twice");
                connected.push(id);
                assert!(
                    connected.len() <= MAX,
                    "more than {MAX} clients accepted: {connected:?}"
                );
            }
            Said::Ipd(id, d) if connected.contains(&id) => {
                data[id].extend_from_slice(&d);
                assert!(data[id].len() <= LEN, "link {id}: more data than sent");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let mut accepted = Vec::new();
    for &id in &connected {
        let d = &data[id];
        let i: usize = std::str::from_utf8(&d[7..9])
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("link {id}: no client header"));
        assert_eq!(
            digest(d),
            digest(&payload(i)),
            "link {id} (client {i}) hash"
        );
        accepted.push(i);
    }
    let mut refused = 0;
    let mut kept = Vec::new();
    for (i, c) in clients.into_iter().enumerate() {
        let (mut s, wrote) = c.join().unwrap();
        if accepted.contains(&i) {
            wrote.unwrap_or_else(|e| panic!("accepted client {i}: write: {e}"));
            // Still connected until the end of the test.
            kept.push(s);
        } else {
            expect_closed(&mut s, &format!("client {i}"));
            refused += 1;
        }
    }
    println!("accepted clients {accepted:?} as links {connected:?}; {refused} closed");
    assert_eq!(refused, CLIENTS - MAX);
    // Every refused client saw its close, so the module has handled them all: nothing
    // more may come before this answer (no 4th CONNECT).
    host.chat(b"AT\r\n", b"\r\nOK\r\n");
    host.send(b"AT+CIPSTATE?\r\n");
    let state = host.read_until(b"\r\nOK\r\n");
    let state = String::from_utf8_lossy(&state);
    assert_eq!(
        state.matches("+CIPSTATE:").count(),
        MAX,
        "links after the burst: {state:?}"
    );
    sane(&mut host);
    check_rss(&m, before, "20 clients against CIPSERVERMAXCONN=3");
    drop(kept);
}

/// `AT+CIPSEND=<len>` whose data never (fully) comes. The W800 document and WIRE.md give
/// this phase no timeout and no escape: it ends after exactly `<len>` bytes (only
/// `AT+CIPSENDL` and transparent mode leave on `+++`), and the engine's `Collect` state
/// agrees. So the module waits in data mode however long the host is silent, a command
/// line and even a properly guarded `+++` are payload, and the host gets out by sending
/// the remaining bytes.
#[test]
fn cipsend_whose_data_never_comes_waits_until_the_length_is_complete() {
    let (m, mut host, mut peer) = joined_link();
    let before = rss_kib(&m);
    host.chat(b"AT+CIPSEND=16\r\n", b"\r\nOK\r\n\r\n>");
    host.send(b"hello");
    // 5 of 16 bytes, then silence: no timeout, no response, nothing sent.
    host.expect_silence(Duration::from_secs(2));
    // A command line is payload (9 of 16).
    host.send(b"AT\r\n");
    host.expect_silence(Duration::from_millis(300));
    // A lone `+++` with more than the guard time of silence on both sides is payload
    // too (12 of 16): no SEND CANCELLED, no leaving.
    host.send(b"+++");
    host.expect_silence(Duration::from_secs(1));
    peer.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 32];
    match peer.read(&mut buf) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the peer got something before the length was complete: {other:?}"),
    }
    peer.set_nonblocking(false).unwrap();
    peer.set_read_timeout(Some(PATIENCE)).unwrap();
    // The remaining 4 bytes finish it.
    host.send(b"AT\r\n");
    host.expect(b"\r\nRecv 16 bytes\r\n\r\nSEND OK\r\n");
    let mut got = [0u8; 16];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"helloAT\r\n+++AT\r\n");
    host.expect_silence(Duration::from_millis(100));
    sane(&mut host);
    check_rss(&m, before, "CIPSEND without its data");
}

/// 3000 `+++` writes less than the guard time apart are 9000 bytes of data for the
/// peer; a final `+++` with silence around it leaves transparent mode and is not data.
#[test]
fn a_plus_storm_in_transparent_mode_is_data_and_a_guarded_plus_leaves() {
    const STORM: usize = 3000;
    let (m, mut host) = joined();
    let (l, port) = listen();
    host.chat(b"AT+CIPMODE=1\r\n", b"\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let mut peer = accept_peer(&l);
    host.chat(b"AT+CIPSEND\r\n", b"\r\nOK\r\n\r\n>");
    let before = rss_kib(&m);
    let mut reader = peer.try_clone().unwrap();
    let drain = thread::spawn(move || {
        let mut got = vec![0u8; STORM * 3];
        reader.read_exact(&mut got).map(|()| got)
    });
    // Thousands of separate `+++` writes, never with a guard time of silence on both
    // sides: back to back, 1 ms apart, and the last 50 a third of the guard apart.
    let mut w = port_writer(&m);
    for i in 0..STORM {
        w.write_all(b"+++").unwrap();
        if i >= STORM - 50 {
            thread::sleep(GUARD / 3);
        } else if i % 4 == 3 {
            thread::sleep(Duration::from_millis(1));
        }
    }
    let got = drain
        .join()
        .unwrap()
        .expect("the peer got every `+` of the storm");
    assert!(got.iter().all(|&b| b == b'+'), "the peer got other bytes");
    // The host heard nothing: the mode was never left.
    host.expect_silence(Duration::from_millis(200));
    // Silence, a lone `+++`, silence (the W800 document asks for 1 s before the next
    // command): the mode ends, silently.
    host.send(b"+++");
    host.expect_silence(Duration::from_secs(1));
    host.chat(b"AT\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPMODE=0\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPCLOSE\r\n", b"CLOSED\r\n\r\nOK\r\n");
    // The final `+++` was not data: the peer's stream ends with nothing more.
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).expect("peer: end of stream");
    assert!(rest.is_empty(), "more reached the peer: {rest:?}");
    sane(&mut host);
    check_rss(&m, before, "+++ storm in transparent mode");
}
