//! Transparent transmission (`AT+CIPMODE=1`, `AT+CIPSEND`): W800 packing (512-byte
//! blocks or 30 ms idle), the `+++` escape with its 30 ms guard times, raw data toward
//! the host, reconnection after the link drops, and when the mode may not be entered.

mod common;

use at_core::sim::PeerId;
use common::*;

/// Joined, `AT+CIPMODE=1`, link 0 to [`SERVER`], in transparent mode.
fn transparent() -> (H, PeerId) {
    let mut h = joined();
    assert_eq!(h.send(b"AT+CIPMODE=1\r\n"), b"\r\nOK\r\n");
    let peer = connect_single(&mut h);
    assert_eq!(h.send(b"AT+CIPSEND\r\n"), b"\r\nOK\r\n\r\n>");
    assert!(h.engine.in_data_mode());
    (h, peer)
}

fn received(h: &H, peer: PeerId) -> Vec<u8> {
    h.platform.net.peer_received(peer).to_vec()
}

#[test]
fn a_512_byte_block_is_sent_at_once() {
    let (mut h, peer) = transparent();
    let block: Vec<u8> = (0..512u32).map(|i| (i % 251) as u8 + 1).collect();
    assert_eq!(h.send(&block), b"");
    assert_eq!(received(&h, peer), block);
}

#[test]
fn more_than_a_block_sends_the_block_now_and_the_rest_after_30_ms() {
    let (mut h, peer) = transparent();
    let data: Vec<u8> = (0..600u32).map(|i| b'a' + (i % 26) as u8).collect();
    assert_eq!(h.send(&data), b"");
    assert_eq!(received(&h, peer), &data[..512]);
    assert_eq!(h.advance(29), b"");
    assert_eq!(received(&h, peer), &data[..512]);
    assert_eq!(h.advance(1), b"");
    assert_eq!(received(&h, peer), data);
}

#[test]
fn a_short_packet_is_sent_after_30_ms_of_idle_input_not_29() {
    let (mut h, peer) = transparent();
    h.send(b"abc");
    h.advance(20);
    h.send(b"def");
    assert_eq!(h.advance(29), b"");
    assert_eq!(received(&h, peer), b"", "29 ms after the last byte");
    h.advance(1);
    assert_eq!(received(&h, peer), b"abcdef");
}

#[test]
fn the_engine_asks_to_be_polled_when_the_idle_flush_is_due() {
    let (mut h, _peer) = transparent();
    h.send(b"abc");
    assert_eq!(
        h.engine.poll_delay(h.now),
        Some(at_core::Duration::from_millis(30))
    );
}

/// Sends `x` (flushed after 100 ms), waits `before` ms, sends `+++`, waits `after` ms
/// and sends `tail` unless empty; then waits 100 ms. Returns whether transparent mode
/// was left, what the host saw and what the peer got.
fn escape(before: u64, after: u64, tail: &[u8]) -> (bool, Vec<u8>, Vec<u8>) {
    let (mut h, peer) = transparent();
    let mut out = h.send(b"x").to_vec();
    out.extend_from_slice(&h.advance(100));
    out.extend_from_slice(&h.advance(before - 100));
    out.extend_from_slice(&h.send(b"+++"));
    out.extend_from_slice(&h.advance(after));
    if !tail.is_empty() {
        out.extend_from_slice(&h.send(tail));
    }
    out.extend_from_slice(&h.advance(100));
    (!h.engine.in_data_mode(), out, received(&h, peer))
}

#[test]
fn plus_plus_plus_after_30_ms_of_silence_leaves_silently() {
    let (left, out, got) = escape(130, 30, b"");
    assert!(left);
    assert_eq!(t(out), t(""), "leaving prints nothing");
    assert_eq!(t(got), t("x"));
}

#[test]
fn plus_plus_plus_needs_30_ms_of_silence_before() {
    // 29 ms after the last data byte: the pluses are data.
    let (mut h, peer) = transparent();
    h.send(b"x");
    h.advance(29);
    h.send(b"+++");
    h.advance(100);
    assert!(h.engine.in_data_mode());
    assert_eq!(received(&h, peer), b"x+++");
    // 30 ms after: the escape.
    let (mut h, peer) = transparent();
    h.send(b"x");
    h.advance(30);
    h.send(b"+++");
    h.advance(30);
    assert!(!h.engine.in_data_mode());
    assert_eq!(received(&h, peer), b"x");
    // 31 ms after: the escape.
    let (mut h, _) = transparent();
    h.send(b"x");
    h.advance(31);
    h.send(b"+++");
    h.advance(30);
    assert!(!h.engine.in_data_mode());
}

#[test]
fn plus_plus_plus_needs_30_ms_of_silence_after() {
    let (left, _, got) = escape(130, 29, b"y");
    assert!(!left, "a byte 29 ms after the pluses makes them data");
    assert_eq!(t(got), t("x+++y"));
    let (left, _, got) = escape(130, 30, b"y");
    assert!(left, "30 ms of silence after the pluses");
    assert_eq!(t(got), t("x"));
}

#[test]
fn the_escape_is_recognised_at_30_ms_after_the_third_plus_not_29() {
    let (mut h, _) = transparent();
    h.advance(100);
    h.send(b"+++");
    h.advance(29);
    assert!(h.engine.in_data_mode());
    h.advance(1);
    assert!(!h.engine.in_data_mode());
}

#[test]
fn plus_plus_plus_30_ms_after_the_command_line_leaves() {
    let mut h = joined();
    assert_eq!(h.send(b"AT+CIPMODE=1\r\n"), b"\r\nOK\r\n");
    connect_single(&mut h);
    assert_eq!(h.send(b"AT+CIPSEND\r\n"), b"\r\nOK\r\n\r\n>");
    h.advance(30);
    h.send(b"+++");
    h.advance(30);
    assert!(!h.engine.in_data_mode());
}

#[test]
fn plus_plus_plus_less_than_30_ms_after_the_command_line_is_data() {
    for gap in [0, 29] {
        let mut h = joined();
        assert_eq!(h.send(b"AT+CIPMODE=1\r\n"), b"\r\nOK\r\n");
        let peer = connect_single(&mut h);
        assert_eq!(h.send(b"AT+CIPSEND\r\n"), b"\r\nOK\r\n\r\n>");
        h.advance(gap);
        h.send(b"+++");
        h.advance(30);
        assert!(
            h.engine.in_data_mode(),
            "+++ {gap} ms after AT+CIPSEND is data"
        );
        h.advance(100);
        assert_eq!(received(&h, peer), b"+++");
    }
}

#[test]
fn pluses_at_most_30_ms_apart_form_the_escape() {
    let (mut h, peer) = transparent();
    h.advance(100);
    h.send(b"+");
    h.advance(30);
    h.send(b"+");
    h.advance(30);
    h.send(b"+");
    assert!(h.engine.in_data_mode());
    h.advance(30);
    assert!(!h.engine.in_data_mode());
    assert_eq!(received(&h, peer), b"");
}

#[test]
fn pluses_31_ms_apart_are_data() {
    let (mut h, peer) = transparent();
    h.advance(100);
    h.send(b"+");
    h.advance(31);
    h.send(b"+");
    h.advance(31);
    h.send(b"+");
    h.advance(100);
    assert!(h.engine.in_data_mode());
    assert_eq!(received(&h, peer), b"+++");
}

#[test]
fn plus_plus_plus_inside_a_packet_is_data() {
    let (mut h, peer) = transparent();
    h.advance(100);
    h.send(b"a+++b");
    h.advance(100);
    h.send(b"+++c");
    h.advance(100);
    h.send(b"++++");
    h.advance(100);
    assert!(h.engine.in_data_mode());
    assert_eq!(received(&h, peer), b"a+++b+++c++++");
}

#[test]
fn held_pluses_are_released_in_order() {
    let (mut h, peer) = transparent();
    h.send(b"x");
    h.advance(30);
    assert_eq!(received(&h, peer), b"x");
    h.send(b"++");
    h.advance(5);
    h.send(b"y");
    h.advance(30);
    assert_eq!(received(&h, peer), b"x++y");
    // Two pluses and then silence are data once the guard has passed.
    h.advance(100);
    h.send(b"++");
    h.advance(30);
    assert_eq!(received(&h, peer), b"x++y", "still held at 30 ms");
    h.advance(1);
    assert_eq!(received(&h, peer), b"x++y++");
    assert!(h.engine.in_data_mode());
}

#[test]
fn buffered_data_goes_out_before_leaving() {
    let (mut h, peer) = transparent();
    h.send(b"tail");
    h.advance(29);
    assert_eq!(received(&h, peer), b"");
    // Pluses 29 ms later are data: they join the packet.
    h.send(b"+++");
    h.advance(29);
    h.send(b"more");
    h.advance(30);
    h.send(b"+++");
    h.advance(30);
    assert!(!h.engine.in_data_mode());
    assert_eq!(received(&h, peer), b"tail+++more");
}

#[test]
fn leaving_prints_quitt_with_sysmsg_1_and_the_link_stays() {
    let mut h = joined();
    assert_eq!(h.send(b"AT+SYSMSG=1\r\n"), b"\r\nOK\r\n");
    assert_eq!(h.send(b"AT+CIPMODE=1\r\n"), b"\r\nOK\r\n");
    let peer = connect_single(&mut h);
    assert_eq!(h.send(b"AT+CIPSEND\r\n"), b"\r\nOK\r\n\r\n>");
    h.advance(100);
    assert_eq!(h.send(b"+++"), b"");
    assert_eq!(h.advance(30), b"+QUITT\r\n");
    assert_eq!(h.send(b"AT+CIPMODE?\r\n"), b"+CIPMODE:1\r\n\r\nOK\r\n");
    assert_eq!(
        h.send(b"AT+CIPSTATE?\r\n"),
        b"+CIPSTATE:0,\"TCP\",\"192.168.4.10\",80,49152,0\r\n\r\nOK\r\n"
    );
    assert!(!h.platform.net.engine_closed(peer));
    // Back in again.
    assert_eq!(h.send(b"AT+CIPSEND\r\n"), b"\r\nOK\r\n\r\n>");
    h.send(b"again");
    h.advance(30);
    assert_eq!(received(&h, peer), b"again");
}

#[test]
fn received_data_goes_to_the_host_raw() {
    let (mut h, peer) = transparent();
    h.platform.net.peer_send(peer, b"world\r\n+IPD,1:x");
    assert_eq!(h.poll(), b"world\r\n+IPD,1:x");
    let big: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
    assert_eq!(h.platform.net.peer_send(peer, &big), 5000);
    let out = drain(&mut h, 10);
    assert_eq!(out, big);
}

#[test]
fn data_stops_at_the_escape_and_commands_run_afterwards() {
    let (mut h, peer) = transparent();
    h.advance(100);
    h.send(b"+++");
    h.advance(30);
    assert_eq!(h.send(b"AT\r\n"), b"\r\nOK\r\n");
    h.platform.net.peer_send(peer, b"data");
    assert_eq!(
        h.poll(),
        b"\r\n+IPD,4:data\r\n",
        "framed again in command mode"
    );
}

#[test]
fn a_dropped_link_reconnects_after_cipreconnintv_and_data_resumes() {
    let mut h = joined();
    assert_eq!(h.send(b"AT+CIPRECONNINTV=5\r\n"), b"\r\nOK\r\n");
    assert_eq!(h.send(b"AT+CIPMODE=1\r\n"), b"\r\nOK\r\n");
    let peer = connect_single(&mut h);
    assert_eq!(h.send(b"AT+CIPSEND\r\n"), b"\r\nOK\r\n\r\n>");
    h.platform.net.peer_close(peer);
    assert_eq!(h.poll(), b"", "no CLOSED in the raw stream");
    assert!(h.platform.net.engine_closed(peer));
    assert_eq!(h.advance(499), b"");
    assert!(
        h.platform.net.accepted(addr(SERVER)).is_none(),
        "not before 500 ms"
    );
    assert_eq!(h.advance(1), b"");
    let again = h
        .platform
        .net
        .accepted(addr(SERVER))
        .expect("reconnected at 500 ms");
    assert!(h.engine.in_data_mode());
    h.send(b"resumed");
    h.advance(30);
    assert_eq!(received(&h, again), b"resumed");
    h.platform.net.peer_send(again, b"back");
    assert_eq!(h.poll(), b"back");
}

#[test]
fn reconnection_retries_every_interval_until_the_server_is_back() {
    let mut h = joined();
    assert_eq!(h.send(b"AT+CIPMODE=1\r\n"), b"\r\nOK\r\n");
    let peer = connect_single(&mut h);
    assert_eq!(h.send(b"AT+CIPSEND\r\n"), b"\r\nOK\r\n\r\n>");
    h.platform.net.unlisten(addr(SERVER));
    h.platform.net.peer_reset(peer);
    assert_eq!(h.poll(), b"");
    assert_eq!(h.advance(100), b"", "first attempt at 100 ms: refused");
    assert!(h.platform.net.accepted(addr(SERVER)).is_none());
    assert_eq!(
        h.platform.net.tcp_open_sockets(),
        0,
        "the refused socket is released"
    );
    h.platform.net.listen(addr(SERVER)).unwrap();
    assert_eq!(h.advance(99), b"");
    assert!(h.platform.net.accepted(addr(SERVER)).is_none());
    h.advance(1);
    let again = h
        .platform
        .net
        .accepted(addr(SERVER))
        .expect("second attempt");
    h.send(b"ok");
    h.advance(30);
    assert_eq!(received(&h, again), b"ok");
}

#[test]
fn transparent_mode_is_refused_with_cipmux_1() {
    let mut h = joined();
    assert_eq!(h.send(b"AT+CIPMUX=1\r\n"), b"\r\nOK\r\n");
    connect_mux(&mut h, 0);
    assert_eq!(h.send(b"AT+CIPMODE=1\r\n"), exec_err());
    assert_eq!(h.send(b"AT+CIPSEND\r\n"), exec_err());
    assert!(!h.engine.in_data_mode());
    assert_eq!(h.send(b"AT\r\n"), b"\r\nOK\r\n");
}

#[test]
fn transparent_mode_is_refused_without_cipmode_1_or_without_a_link() {
    let mut h = joined();
    connect_single(&mut h);
    assert_eq!(h.send(b"AT+CIPSEND\r\n"), exec_err(), "CIPMODE=0");
    assert_eq!(h.send(b"AT+CIPCLOSE\r\n"), b"CLOSED\r\n\r\nOK\r\n");
    assert_eq!(h.send(b"AT+CIPMODE=1\r\n"), b"\r\nOK\r\n");
    assert_eq!(h.send(b"AT+CIPSEND\r\n"), exec_err(), "no link");
    assert!(!h.engine.in_data_mode());
    assert_eq!(h.send(b"abc\r\n"), err(0x0103_0000), "still command mode");
}

#[test]
fn transparent_mode_is_refused_with_a_udp_link_following_its_peer() {
    for mode in [1, 2] {
        let mut h = joined();
        assert_eq!(h.send(b"AT+CIPMODE=1\r\n"), b"\r\nOK\r\n");
        let start = format!("AT+CIPSTART=\"UDP\",\"192.168.4.20\",5000,6000,{mode}\r\n");
        assert_eq!(h.send(start.as_bytes()), b"CONNECT\r\n\r\nOK\r\n");
        assert_eq!(h.send(b"AT+CIPSEND\r\n"), exec_err(), "UDP mode {mode}");
        assert!(!h.engine.in_data_mode());
    }
}

#[test]
fn transparent_mode_over_udp_with_a_fixed_peer_sends_datagrams() {
    let mut h = joined();
    assert_eq!(h.send(b"AT+CIPMODE=1\r\n"), b"\r\nOK\r\n");
    assert_eq!(
        h.send(b"AT+CIPSTART=\"UDP\",\"192.168.4.20\",5000,6000,0\r\n"),
        b"CONNECT\r\n\r\nOK\r\n"
    );
    assert_eq!(h.send(b"AT+CIPSEND\r\n"), b"\r\nOK\r\n\r\n>");
    h.send(b"datagram");
    h.advance(30);
    let (local, remote, data) = h.platform.net.udp_sent().unwrap();
    assert_eq!(
        (local, remote, data),
        (
            addr("192.168.4.2:6000"),
            addr("192.168.4.20:5000"),
            &b"datagram"[..]
        )
    );
    h.platform
        .net
        .udp_peer_inject(
            addr("192.168.4.2:6000"),
            addr("192.168.4.20:5000"),
            b"reply",
        )
        .unwrap();
    assert_eq!(h.poll(), b"reply");
}

#[test]
fn data_is_never_echoed() {
    let mut h = joined();
    assert_eq!(h.send(b"ATE1\r\n"), b"\r\nOK\r\n");
    assert_eq!(h.send(b"AT+CIPMODE=1\r\n"), b"AT+CIPMODE=1\r\n\r\nOK\r\n");
    let peer = {
        h.send(b"AT+CIPSTART=\"TCP\",\"192.168.4.10\",80\r\n");
        h.platform.net.accepted(addr(SERVER)).unwrap()
    };
    assert_eq!(h.send(b"AT+CIPSEND\r\n"), b"AT+CIPSEND\r\n\r\nOK\r\n\r\n>");
    assert_eq!(h.send(b"AT\r\n"), b"");
    assert_eq!(h.advance(30), b"");
    assert_eq!(received(&h, peer), b"AT\r\n");
}

#[test]
fn sysmsg_4_reports_the_link_dropping_and_coming_back() {
    let mut h = joined();
    assert_eq!(h.send(b"AT+SYSMSG=4\r\n"), b"\r\nOK\r\n");
    assert_eq!(h.send(b"AT+CIPMODE=1\r\n"), b"\r\nOK\r\n");
    let peer = connect_single(&mut h);
    assert_eq!(h.send(b"AT+CIPSEND\r\n"), b"\r\nOK\r\n\r\n>");
    h.platform.net.peer_close(peer);
    assert_eq!(h.poll(), b"CLOSED\r\n");
    assert_eq!(h.advance(100), b"CONNECT\r\n");
}

#[test]
fn losing_wifi_in_transparent_mode_prints_nothing_without_sysmsg_4() {
    let (mut h, _peer) = transparent();
    h.platform.station.drop_link();
    assert_eq!(
        h.poll(),
        b"",
        "raw stream: no status lines unless AT+SYSMSG bit 2"
    );
    assert_eq!(h.advance(100), b"");
}

#[test]
fn leaving_while_reconnecting_leaves_no_half_open_link() {
    let (mut h, peer) = transparent();
    h.platform.net.set_connect_delay(255);
    h.platform.net.peer_close(peer);
    h.poll();
    h.advance(100);
    assert_eq!(h.platform.net.tcp_open_sockets(), 1, "reconnecting");
    h.advance(100);
    h.send(b"+++");
    h.advance(30);
    assert!(!h.engine.in_data_mode());
    h.advance(5_000);
    assert_eq!(
        h.send(b"AT+CIPSTATE?\r\n"),
        b"\r\nOK\r\n",
        "a link that never connected is not listed (with local port 0)"
    );
    assert_eq!(h.send(b"AT+CIPSTATUS\r\n"), b"STATUS:4\r\n\r\nOK\r\n");
    assert_eq!(h.platform.net.tcp_open_sockets(), 0, "socket released");
    h.platform.net.set_connect_delay(0);
    assert_eq!(
        h.send(b"AT+CIPSTART=\"TCP\",\"192.168.4.10\",80\r\n"),
        b"CONNECT\r\n\r\nOK\r\n"
    );
}

#[test]
fn transparent_udp_sends_one_datagram_per_512_byte_block() {
    let mut h = joined();
    assert_eq!(h.send(b"AT+CIPMODE=1\r\n"), b"\r\nOK\r\n");
    assert_eq!(
        h.send(b"AT+CIPSTART=\"UDP\",\"192.168.4.20\",5000,6000,0\r\n"),
        b"CONNECT\r\n\r\nOK\r\n"
    );
    assert_eq!(h.send(b"AT+CIPSEND\r\n"), b"\r\nOK\r\n\r\n>");
    // Two whole blocks and a tail arrive together: TCP may take the blocks in one call
    // (a stream), but over UDP each block is its own datagram.
    let data: Vec<u8> = (0..1300u32).map(|i| (i % 253) as u8).collect();
    h.send(&data);
    let mut sizes = Vec::new();
    let mut buf = [0u8; 2048];
    while let Some((_, _, n)) = h.platform.net.udp_take_sent(&mut buf) {
        sizes.push(n);
    }
    assert_eq!(sizes, [512, 512]);
    h.advance(30);
    let (_, _, n) = h.platform.net.udp_take_sent(&mut buf).unwrap();
    assert_eq!(&buf[..n], &data[1024..]);
}

#[test]
fn the_escape_leaves_even_when_data_waits_for_a_link_that_is_down() {
    // Found while investigating a data_mode fuzz failure: data typed while the link is
    // down waits for the reconnection; `+++` must still hand the port back to commands
    // (the waiting data, which no link can take, is dropped), not leave the module deaf
    // to the host.
    let (mut h, peer) = transparent();
    h.platform.net.unlisten(addr(SERVER));
    h.platform.net.peer_reset(peer);
    assert_eq!(h.poll(), b"");
    h.send(b"typed while down");
    h.advance(100);
    assert_eq!(received(&h, peer), b"", "nothing to send it on");
    assert_eq!(h.send(b"+++"), b"");
    h.advance(30);
    assert!(!h.engine.in_data_mode(), "the escape left transparent mode");
    assert_eq!(h.send(b"AT\r\n"), b"\r\nOK\r\n");
    // The link comes back only when asked, and the dropped bytes stay dropped.
    h.platform.net.listen(addr(SERVER)).unwrap();
    assert_eq!(
        h.send(b"AT+CIPSTART=\"TCP\",\"192.168.4.10\",80\r\n"),
        b"CONNECT\r\n\r\nOK\r\n"
    );
    let again = h.platform.net.accepted(addr(SERVER)).expect("connected");
    assert_eq!(h.send(b"AT+CIPSEND\r\n"), b"\r\nOK\r\n\r\n>");
    h.send(b"fresh");
    h.advance(30);
    assert_eq!(received(&h, again), b"fresh");
}
