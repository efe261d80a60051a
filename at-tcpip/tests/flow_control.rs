//! Flow control: a host that stops reading stops the engine reading its sockets (the
//! peers are held by TCP, nothing is lost), and a socket that takes nothing stops the
//! engine taking transparent-mode input (the host is held, nothing is lost).

mod common;

use common::*;

/// A host that reads nothing.
struct Blocked;

impl embedded_io::ErrorType for Blocked {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for Blocked {
    fn write(&mut self, _: &[u8]) -> Result<usize, Self::Error> {
        Ok(0)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Splits multi-connection `+IPD,<id>,<len>:` frames into per-link payloads.
fn parse_mux_ipd(mut bytes: &[u8]) -> [Vec<u8>; 5] {
    let mut links: [Vec<u8>; 5] = Default::default();
    while !bytes.is_empty() {
        let rest = bytes.strip_prefix(b"\r\n+IPD,").expect("an +IPD frame");
        let colon = rest.iter().position(|&b| b == b':').unwrap();
        let header = std::str::from_utf8(&rest[..colon]).unwrap();
        let (id, len) = header.split_once(',').unwrap();
        let (id, len): (usize, usize) = (id.parse().unwrap(), len.parse().unwrap());
        links[id].extend_from_slice(&rest[colon + 1..colon + 1 + len]);
        bytes = rest[colon + 1 + len..].strip_prefix(b"\r\n").unwrap();
    }
    links
}

#[test]
fn a_host_that_does_not_read_stops_the_engine_reading_the_socket() {
    let mut h = joined();
    let peer = connect_single(&mut h);
    let data = pattern(40_000, 1);
    let mut sent = h.platform.net.peer_send(peer, &data);
    for _ in 0..100 {
        h.engine.poll(h.now, &mut h.platform, &mut Blocked).unwrap();
        sent += h.platform.net.peer_send(peer, &data[sent..]);
    }
    assert!(h.engine.has_output());
    assert!(
        sent <= 4096 + at_core::sim::TCP_BUFFER,
        "{sent} bytes taken from the peer with nobody reading"
    );
    let before = sent;
    h.engine.poll(h.now, &mut h.platform, &mut Blocked).unwrap();
    assert_eq!(
        h.platform.net.peer_send(peer, &data[sent..]),
        0,
        "the peer is held"
    );
    assert_eq!(sent, before);
    // The host reads again: everything arrives, in order.
    let mut out = Vec::new();
    for _ in 0..200 {
        out.extend_from_slice(&h.poll());
        sent += h.platform.net.peer_send(peer, &data[sent..]);
    }
    assert_eq!(sent, data.len());
    let got: Vec<u8> = parse_ipd(&out).concat();
    assert_eq!(got.len(), data.len());
    assert!(got == data, "bytes lost or reordered");
}

#[test]
fn a_blocked_host_holds_every_link_and_loses_nothing() {
    let mut h = joined();
    assert_eq!(h.send(b"AT+CIPMUX=1\r\n"), b"\r\nOK\r\n");
    let peers = [connect_mux(&mut h, 0), connect_mux(&mut h, 3)];
    let data = [pattern(30_000, 2), pattern(25_000, 3)];
    let mut sent = [0usize; 2];
    let mut out = Vec::new();
    for round in 0..600 {
        for i in 0..2 {
            sent[i] += h.platform.net.peer_send(peers[i], &data[i][sent[i]..]);
        }
        if round % 3 == 0 {
            out.extend_from_slice(&h.poll());
        } else {
            h.engine.poll(h.now, &mut h.platform, &mut Blocked).unwrap();
        }
    }
    out.extend_from_slice(&drain(&mut h, 100));
    assert_eq!(sent, [data[0].len(), data[1].len()]);
    let links = parse_mux_ipd(&out);
    assert!(
        links[0] == data[0],
        "link 0: {} of {} bytes",
        links[0].len(),
        data[0].len()
    );
    assert!(
        links[3] == data[1],
        "link 3: {} of {} bytes",
        links[3].len(),
        data[1].len()
    );
}

#[test]
fn a_blocked_host_holds_the_peer_in_transparent_mode_too() {
    let mut h = joined();
    assert_eq!(h.send(b"AT+CIPMODE=1\r\n"), b"\r\nOK\r\n");
    let peer = connect_single(&mut h);
    assert_eq!(h.send(b"AT+CIPSEND\r\n"), b"\r\nOK\r\n\r\n>");
    let data = pattern(40_000, 5);
    let mut sent = 0;
    for _ in 0..100 {
        sent += h.platform.net.peer_send(peer, &data[sent..]);
        h.engine.poll(h.now, &mut h.platform, &mut Blocked).unwrap();
    }
    assert!(
        sent <= 4096 + at_core::sim::TCP_BUFFER,
        "{sent} bytes taken"
    );
    assert_eq!(
        h.platform.net.peer_send(peer, &data[sent..]),
        0,
        "the peer is held"
    );
    let mut out = Vec::new();
    for _ in 0..200 {
        out.extend_from_slice(&h.poll());
        sent += h.platform.net.peer_send(peer, &data[sent..]);
    }
    assert_eq!(sent, data.len());
    assert!(
        out == data,
        "{} of {} bytes, raw and in order?",
        out.len(),
        data.len()
    );
}

#[test]
fn a_socket_that_takes_nothing_stops_transparent_input_and_nothing_is_lost() {
    let mut h = joined();
    assert_eq!(h.send(b"AT+CIPMODE=1\r\n"), b"\r\nOK\r\n");
    let peer = connect_single(&mut h);
    assert_eq!(h.send(b"AT+CIPSEND\r\n"), b"\r\nOK\r\n\r\n>");
    h.platform.net.set_send_window(peer, 0);
    let data: Vec<u8> = pattern(30_000, 4)
        .into_iter()
        .map(|b| if b == b'+' { b'-' } else { b })
        .collect();
    let mut taken = 0;
    let mut stalls = 0;
    for _ in 0..200 {
        let n = h
            .engine
            .feed(h.now, &data[taken..(taken + 700).min(data.len())]);
        taken += n;
        h.advance(10);
        stalls = if n == 0 { stalls + 1 } else { 0 };
    }
    assert!(stalls > 10, "input stopped being taken");
    assert!(
        taken <= 5760,
        "{taken} bytes taken while the socket took nothing"
    );
    assert!(taken >= 512, "the buffer fills first");
    assert_eq!(h.platform.net.peer_received(peer), b"");
    assert_eq!(h.engine.feed(h.now, &data[taken..]), 0);
    // The socket opens: input resumes and every byte arrives in order.
    h.platform.net.set_send_window(peer, usize::MAX);
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    for _ in 0..2000 {
        if taken < data.len() {
            taken += h
                .engine
                .feed(h.now, &data[taken..(taken + 700).min(data.len())]);
        }
        h.advance(10);
        let n = h.platform.net.peer_take(peer, &mut buf);
        got.extend_from_slice(&buf[..n]);
        if got.len() == data.len() {
            break;
        }
    }
    assert_eq!(taken, data.len());
    assert_eq!(got.len(), data.len());
    assert!(got == data, "bytes lost or reordered");
    assert!(h.engine.in_data_mode());
}

#[test]
fn a_slow_socket_paces_transparent_input_block_by_block() {
    let mut h = joined();
    assert_eq!(h.send(b"AT+CIPMODE=1\r\n"), b"\r\nOK\r\n");
    let peer = connect_single(&mut h);
    assert_eq!(h.send(b"AT+CIPSEND\r\n"), b"\r\nOK\r\n\r\n>");
    let data: Vec<u8> = (0..12_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut taken = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1024];
    for _ in 0..5000 {
        h.platform.net.set_send_window(peer, 100);
        if taken < data.len() {
            taken += h
                .engine
                .feed(h.now, &data[taken..(taken + 300).min(data.len())]);
        }
        h.advance(5);
        let n = h.platform.net.peer_take(peer, &mut buf);
        got.extend_from_slice(&buf[..n]);
        if got.len() == data.len() {
            break;
        }
    }
    assert!(
        got == data,
        "{} of {} bytes, in order?",
        got.len(),
        data.len()
    );
}
