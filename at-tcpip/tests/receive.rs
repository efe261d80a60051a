//! Receiving: active `+IPD` in its four forms and its 2920-byte limit, UDP peers that
//! follow the sender, passive mode (`+IPD,<id>,<total>`, `AT+CIPRECVDATA`,
//! `AT+CIPRECVLEN?`, `CLOSED` held back, the UDP window), peer closes and `+LINK_CONN`.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::*;

fn ok(h: &mut H, line: &str) {
    assert_eq!(
        h.send(format!("{line}\r\n").as_bytes()),
        b"\r\nOK\r\n",
        "{line}"
    );
}

fn expect(h: &mut H, line: &str, want: impl AsRef<[u8]>) {
    let got = h.send(format!("{line}\r\n").as_bytes());
    assert_eq!(got, t(want), "{line}");
}

#[test]
fn active_ipd_single_connection() {
    let mut h = joined();
    let peer = connect_single(&mut h);
    h.platform.net.peer_send(peer, b"hello");
    assert_eq!(h.poll(), b"\r\n+IPD,5:hello\r\n");
}

#[test]
fn quiet_sockets_are_left_alone_until_the_network_has_news() {
    let mut h = joined();
    let peer = connect_single(&mut h);
    // Settle: the passes after the connect find nothing.
    for _ in 0..3 {
        assert_eq!(h.poll(), b"");
    }
    let before = h.platform.net.tcp_receive_calls();
    for _ in 0..100 {
        assert_eq!(h.advance(10), b"");
    }
    assert_eq!(
        h.platform.net.tcp_receive_calls(),
        before,
        "receive was called on a quiet socket"
    );
    // News from the peer: the next poll reads it.
    h.platform.net.peer_send(peer, b"news");
    assert_eq!(h.poll(), b"\r\n+IPD,4:news\r\n");
    assert!(h.platform.net.tcp_receive_calls() > before);
}

#[test]
fn active_ipd_multi_connection() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    connect_mux(&mut h, 0);
    let peer = connect_mux(&mut h, 2);
    h.platform.net.peer_send(peer, b"hello");
    assert_eq!(h.poll(), b"\r\n+IPD,2,5:hello\r\n");
}

#[test]
fn active_ipd_single_connection_with_cipdinfo() {
    let mut h = joined();
    ok(&mut h, "AT+CIPDINFO=1");
    let peer = connect_single(&mut h);
    h.platform.net.peer_send(peer, b"hello");
    assert_eq!(h.poll(), b"\r\n+IPD,5,\"192.168.4.10\",80:hello\r\n");
}

#[test]
fn active_ipd_multi_connection_with_cipdinfo() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    ok(&mut h, "AT+CIPDINFO=1");
    let peer = connect_mux(&mut h, 4);
    h.platform.net.peer_send(peer, b"hello");
    assert_eq!(h.poll(), b"\r\n+IPD,4,5,\"192.168.4.10\",80:hello\r\n");
}

#[test]
fn active_ipd_carries_binary_data_unchanged() {
    let mut h = joined();
    let peer = connect_single(&mut h);
    let data: Vec<u8> = (0..=255u8).collect();
    h.platform.net.peer_send(peer, &data);
    let mut want = b"\r\n+IPD,256:".to_vec();
    want.extend_from_slice(&data);
    want.extend_from_slice(b"\r\n");
    assert_eq!(h.poll(), t(want));
}

#[test]
fn an_ipd_message_carries_at_most_2920_bytes() {
    let mut h = joined();
    let peer = connect_single(&mut h);
    let data: Vec<u8> = (0..6000u32).map(|i| (i * 13 % 256) as u8).collect();
    assert_eq!(h.platform.net.peer_send(peer, &data), 6000);
    let out = drain(&mut h, 10);
    let mut want = Vec::new();
    for part in [&data[..2920], &data[2920..5840], &data[5840..]] {
        want.extend_from_slice(format!("\r\n+IPD,{}:", part.len()).as_bytes());
        want.extend_from_slice(part);
        want.extend_from_slice(b"\r\n");
    }
    assert_eq!(t(out), t(want));
}

#[test]
fn every_link_gets_its_turn() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    let p0 = connect_mux(&mut h, 0);
    let p1 = connect_mux(&mut h, 1);
    h.platform.net.peer_send(p0, &[b'a'; 3000]);
    h.platform.net.peer_send(p1, b"b");
    // One message per link per turn: link 0's first 2920 bytes, link 1, then the rest
    // of link 0 (the host takes everything, so the engine keeps going in one poll).
    let mut want = b"\r\n+IPD,0,2920:".to_vec();
    want.extend_from_slice(&[b'a'; 2920]);
    want.extend_from_slice(b"\r\n\r\n+IPD,1,1:b\r\n\r\n+IPD,0,80:");
    want.extend_from_slice(&[b'a'; 80]);
    want.extend_from_slice(b"\r\n");
    assert_eq!(h.poll(), t(want));
}

#[test]
fn a_peer_close_is_reported_after_its_data() {
    let mut h = joined();
    let peer = connect_single(&mut h);
    h.platform.net.peer_send(peer, b"bye");
    h.platform.net.peer_close(peer);
    assert_eq!(t(drain(&mut h, 5)), t("\r\n+IPD,3:bye\r\n\r\nCLOSED\r\n"));
    assert!(h.platform.net.engine_closed(peer));
    expect(&mut h, "AT+CIPSTATE?", "\r\nOK\r\n");
}

#[test]
fn a_peer_close_in_multi_connection_mode_names_the_link() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    let peer = connect_mux(&mut h, 3);
    h.platform.net.peer_close(peer);
    assert_eq!(h.poll(), b"\r\n3,CLOSED\r\n");
    let peer = connect_mux(&mut h, 3);
    h.platform.net.peer_reset(peer);
    assert_eq!(h.poll(), b"\r\n3,CLOSED\r\n", "a reset closes too");
}

#[test]
fn sysmsg_2_announces_links_with_link_conn() {
    let mut h = joined();
    ok(&mut h, "AT+SYSMSG=2");
    expect(
        &mut h,
        "AT+CIPSTART=\"TCP\",\"192.168.4.10\",80",
        "+LINK_CONN:0,0,\"TCP\",0,\"192.168.4.10\",80,49152\r\n\r\nOK\r\n",
    );
    expect(&mut h, "AT+CIPCLOSE", "CLOSED\r\n\r\nOK\r\n");
    ok(&mut h, "AT+CIPMUX=1");
    expect(
        &mut h,
        "AT+CIPSTART=3,\"UDP\",\"192.168.4.20\",5000,6000",
        "+LINK_CONN:0,3,\"UDP\",0,\"192.168.4.20\",5000,6000\r\n\r\nOK\r\n",
    );
}

/// Joined, CIPDINFO=1, a UDP link to 192.168.4.20:5000 from local port 6000 in `mode`.
fn udp(mode: u8) -> H {
    let mut h = joined();
    ok(&mut h, "AT+CIPDINFO=1");
    expect(
        &mut h,
        &format!("AT+CIPSTART=\"UDP\",\"192.168.4.20\",5000,6000,{mode}"),
        "CONNECT\r\n\r\nOK\r\n",
    );
    h
}

fn inject(h: &mut H, from: &str, data: &[u8]) {
    h.platform
        .net
        .udp_peer_inject(addr("192.168.4.2:6000"), addr(from), data)
        .unwrap();
}

/// Sends `data` with AT+CIPSEND; returns where the datagram went.
fn udp_send(h: &mut H, data: &[u8]) -> std::net::SocketAddr {
    expect(h, &format!("AT+CIPSEND={}", data.len()), "\r\nOK\r\n\r\n>");
    let want = format!("\r\nRecv {} bytes\r\n\r\nSEND OK\r\n", data.len());
    assert_eq!(h.send(data), t(want));
    let mut buf = [0u8; 64];
    let (local, remote, n) = h.platform.net.udp_take_sent(&mut buf).unwrap();
    assert_eq!((local, &buf[..n]), (addr("192.168.4.2:6000"), data));
    remote
}

#[test]
fn udp_mode_0_keeps_sending_to_the_configured_peer() {
    let mut h = udp(0);
    inject(&mut h, "192.168.4.30:7000", b"hi");
    assert_eq!(h.poll(), b"\r\n+IPD,2,\"192.168.4.30\",7000:hi\r\n");
    assert_eq!(udp_send(&mut h, b"yo"), addr("192.168.4.20:5000"));
}

#[test]
fn udp_mode_1_follows_the_first_different_sender_only() {
    let mut h = udp(1);
    inject(&mut h, "192.168.4.20:5000", b"same");
    assert_eq!(h.poll(), b"\r\n+IPD,4,\"192.168.4.20\",5000:same\r\n");
    assert_eq!(udp_send(&mut h, b"a"), addr("192.168.4.20:5000"));
    inject(&mut h, "192.168.4.30:7000", b"hi");
    assert_eq!(h.poll(), b"\r\n+IPD,2,\"192.168.4.30\",7000:hi\r\n");
    assert_eq!(udp_send(&mut h, b"b"), addr("192.168.4.30:7000"));
    inject(&mut h, "192.168.4.40:8000", b"ho");
    assert_eq!(h.poll(), b"\r\n+IPD,2,\"192.168.4.40\",8000:ho\r\n");
    assert_eq!(
        udp_send(&mut h, b"c"),
        addr("192.168.4.30:7000"),
        "only once"
    );
}

#[test]
fn udp_mode_2_follows_every_sender() {
    let mut h = udp(2);
    inject(&mut h, "192.168.4.30:7000", b"hi");
    h.poll();
    assert_eq!(udp_send(&mut h, b"a"), addr("192.168.4.30:7000"));
    inject(&mut h, "192.168.4.40:8000", b"ho");
    h.poll();
    assert_eq!(udp_send(&mut h, b"b"), addr("192.168.4.40:8000"));
    inject(&mut h, "192.168.4.20:5000", b"back");
    h.poll();
    assert_eq!(udp_send(&mut h, b"c"), addr("192.168.4.20:5000"));
}

#[test]
fn udp_cipsend_can_name_another_peer() {
    let mut h = udp(0);
    expect(
        &mut h,
        "AT+CIPSEND=2,\"192.168.4.50\",9000",
        "\r\nOK\r\n\r\n>",
    );
    assert_eq!(h.send(b"yo"), b"\r\nRecv 2 bytes\r\n\r\nSEND OK\r\n");
    let (_, remote, data) = h.platform.net.udp_sent().unwrap();
    assert_eq!((remote, data), (addr("192.168.4.50:9000"), &b"yo"[..]));
}

#[test]
fn udp_cipsend_can_name_another_peer_by_domain() {
    let mut p = world();
    p.net
        .add_host("peer.example", IpAddr::V4(Ipv4Addr::new(192, 168, 4, 50)))
        .unwrap();
    let mut h = boot_on(p);
    join(&mut h);
    expect(
        &mut h,
        "AT+CIPSTART=\"UDP\",\"192.168.4.20\",5000,6000",
        "CONNECT\r\n\r\nOK\r\n",
    );
    expect(
        &mut h,
        "AT+CIPSEND=2,\"peer.example\",9000",
        "\r\nOK\r\n\r\n>",
    );
    assert_eq!(h.send(b"yo"), b"\r\nRecv 2 bytes\r\n\r\nSEND OK\r\n");
    let (_, remote, _) = h.platform.net.udp_sent().unwrap();
    assert_eq!(remote, addr("192.168.4.50:9000"));
}

#[test]
fn udp_cipsend_needs_both_host_and_port() {
    let mut h = udp(0);
    expect(&mut h, "AT+CIPSEND=2,\"192.168.4.50\"", exec_err());
    expect(&mut h, "AT+CIPSEND=2,,9000", exec_err());
    expect(&mut h, "AT+CIPSEND=2,\"192.168.4.50\",0", invalid(2));
    expect(&mut h, "AT+CIPSEND=2,\"192.168.4.50\",65536", invalid(2));
}

/// Joined, passive receive, CIPMUX=`mux`, TCP link 0 to [`SERVER`].
fn passive(mux: bool) -> (H, at_core::sim::PeerId) {
    let mut h = joined();
    ok(&mut h, "AT+CIPRECVMODE=1");
    let peer = if mux {
        ok(&mut h, "AT+CIPMUX=1");
        connect_mux(&mut h, 0)
    } else {
        connect_single(&mut h)
    };
    (h, peer)
}

#[test]
fn passive_mode_notifies_once_until_the_host_reads() {
    let (mut h, peer) = passive(true);
    h.platform.net.peer_send(peer, b"hello world");
    assert_eq!(h.poll(), b"\r\n+IPD,0,11\r\n");
    h.platform.net.peer_send(peer, b"!!");
    assert_eq!(h.poll(), b"", "not repeated before CIPRECVDATA");
    assert_eq!(h.advance(1000), b"");
    expect(
        &mut h,
        "AT+CIPRECVLEN?",
        "+CIPRECVLEN:13,-1,-1,-1,-1\r\n\r\nOK\r\n",
    );
    expect(
        &mut h,
        "AT+CIPRECVDATA=0,5",
        "+CIPRECVDATA:5,hello\r\nOK\r\n\r\n+IPD,0,8\r\n",
    );
    expect(
        &mut h,
        "AT+CIPRECVDATA=0,100",
        "+CIPRECVDATA:8, world!!\r\nOK\r\n",
    );
    assert_eq!(h.poll(), b"");
    expect(
        &mut h,
        "AT+CIPRECVLEN?",
        "+CIPRECVLEN:0,-1,-1,-1,-1\r\n\r\nOK\r\n",
    );
    expect(&mut h, "AT+CIPRECVDATA=0,100", "+CIPRECVDATA:0,\r\nOK\r\n");
}

#[test]
fn passive_mode_single_connection() {
    let (mut h, peer) = passive(false);
    h.platform.net.peer_send(peer, b"abc\r\ndef");
    assert_eq!(h.poll(), b"\r\n+IPD,8\r\n");
    expect(
        &mut h,
        "AT+CIPRECVDATA=8",
        "+CIPRECVDATA:8,abc\r\ndef\r\nOK\r\n",
    );
    expect(&mut h, "AT+CIPRECVDATA=0,8", count_err(1, 2));
}

#[test]
fn passive_mode_with_cipdinfo_names_the_sender() {
    let (mut h, peer) = passive(true);
    ok(&mut h, "AT+CIPDINFO=1");
    h.platform.net.peer_send(peer, b"hello");
    assert_eq!(h.poll(), b"\r\n+IPD,0,5\r\n");
    expect(
        &mut h,
        "AT+CIPRECVDATA=0,5",
        "+CIPRECVDATA:5,\"192.168.4.10\",80,hello\r\nOK\r\n",
    );
}

#[test]
fn ciprecvdata_needs_passive_mode_and_an_open_link() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    connect_mux(&mut h, 0);
    expect(&mut h, "AT+CIPRECVDATA=0,5", exec_err());
    ok(&mut h, "AT+CIPRECVMODE=1");
    expect(&mut h, "AT+CIPRECVDATA=1,5", exec_err());
    expect(&mut h, "AT+CIPRECVDATA=5,5", invalid(0));
    expect(&mut h, "AT+CIPRECVDATA=0,0", invalid(1));
}

#[test]
fn passive_mode_holds_closed_back_until_the_data_is_read() {
    let (mut h, peer) = passive(true);
    h.platform.net.peer_send(peer, b"bye");
    h.platform.net.peer_close(peer);
    assert_eq!(h.poll(), b"\r\n+IPD,0,3\r\n");
    assert_eq!(h.advance(1000), b"", "CLOSED held back");
    expect(
        &mut h,
        "AT+CIPRECVLEN?",
        "+CIPRECVLEN:3,-1,-1,-1,-1\r\n\r\nOK\r\n",
    );
    let read = h.send(b"AT+CIPRECVDATA=0,3\r\n");
    let closed = if read.ends_with(b"\r\n0,CLOSED\r\n") {
        read.to_vec()
    } else {
        [read.to_vec(), h.poll().to_vec()].concat()
    };
    assert_eq!(t(closed), t("+CIPRECVDATA:3,bye\r\nOK\r\n\r\n0,CLOSED\r\n"));
    expect(
        &mut h,
        "AT+CIPRECVLEN?",
        "+CIPRECVLEN:-1,-1,-1,-1,-1\r\n\r\nOK\r\n",
    );
}

#[test]
fn passive_mode_reports_closed_at_once_when_nothing_is_buffered() {
    let (mut h, peer) = passive(true);
    h.platform.net.peer_close(peer);
    assert_eq!(h.poll(), b"\r\n0,CLOSED\r\n");
}

#[test]
fn passive_mode_closing_by_the_host_drops_buffered_data() {
    let (mut h, peer) = passive(true);
    h.platform.net.peer_send(peer, b"unread");
    h.platform.net.peer_close(peer);
    assert_eq!(h.poll(), b"\r\n+IPD,0,6\r\n");
    expect(&mut h, "AT+CIPCLOSE=0", "0,CLOSED\r\n\r\nOK\r\n");
    assert_eq!(h.poll(), b"");
    expect(
        &mut h,
        "AT+CIPRECVLEN?",
        "+CIPRECVLEN:-1,-1,-1,-1,-1\r\n\r\nOK\r\n",
    );
}

#[test]
fn passive_mode_leaves_tcp_data_in_the_socket_and_flow_controls_the_peer() {
    let (mut h, peer) = passive(true);
    let data: Vec<u8> = (0..20_000u32).map(|i| (i % 253) as u8).collect();
    let mut sent = h.platform.net.peer_send(peer, &data);
    assert!(
        sent < data.len(),
        "the socket buffer fills: the peer is held"
    );
    assert_eq!(h.poll(), t(format!("\r\n+IPD,0,{sent}\r\n")));
    let mut got = Vec::new();
    while got.len() < data.len() {
        let out = h.send(b"AT+CIPRECVDATA=0,2000\r\n").to_vec();
        let body = out
            .strip_prefix(b"+CIPRECVDATA:")
            .expect("a CIPRECVDATA answer");
        let comma = body.iter().position(|&b| b == b',').unwrap();
        let n: usize = std::str::from_utf8(&body[..comma])
            .unwrap()
            .parse()
            .unwrap();
        got.extend_from_slice(&body[comma + 1..comma + 1 + n]);
        assert!(body[comma + 1 + n..].starts_with(b"\r\nOK\r\n"));
        sent += h.platform.net.peer_send(peer, &data[sent..]);
        assert!(n > 0 || sent > got.len(), "progress");
    }
    assert_eq!(got, data, "nothing lost");
}

/// Passive mode, CIPMUX=1, CIPDINFO=1, UDP link 0 from local port 6000.
fn passive_udp() -> H {
    let mut h = joined();
    ok(&mut h, "AT+CIPRECVMODE=1");
    ok(&mut h, "AT+CIPMUX=1");
    ok(&mut h, "AT+CIPDINFO=1");
    expect(
        &mut h,
        "AT+CIPSTART=0,\"UDP\",\"192.168.4.20\",5000,6000",
        "0,CONNECT\r\n\r\nOK\r\n",
    );
    h
}

/// Expects `line` to return `data` from `from`, followed by `then` (the next
/// notification, which may follow at once).
fn recvdata(h: &mut H, line: &str, from: &str, data: &[u8], then: &str) {
    let (ip, port) = from.split_once(':').unwrap();
    let mut want = format!("+CIPRECVDATA:{},\"{ip}\",{port},", data.len()).into_bytes();
    want.extend_from_slice(data);
    want.extend_from_slice(b"\r\nOK\r\n");
    want.extend_from_slice(then.as_bytes());
    assert_eq!(h.send(format!("{line}\r\n").as_bytes()), t(want), "{line}");
}

#[test]
fn passive_udp_leaves_datagrams_in_the_stack_until_they_fit() {
    let mut h = passive_udp();
    let a = vec![b'a'; 1500];
    let b = vec![b'b'; 1500];
    let c = vec![b'c'; 1500];
    inject(&mut h, "192.168.4.30:7000", &a);
    inject(&mut h, "192.168.4.31:7001", &b);
    inject(&mut h, "192.168.4.32:7002", &c);
    assert_eq!(
        h.poll(),
        b"\r\n+IPD,0,1500\r\n",
        "the second does not fit yet"
    );
    expect(
        &mut h,
        "AT+CIPRECVLEN?",
        "+CIPRECVLEN:1500,-1,-1,-1,-1\r\n\r\nOK\r\n",
    );
    // Each read makes room for the next datagram, which was waiting in the stack.
    let next = "\r\n+IPD,0,1500\r\n";
    recvdata(
        &mut h,
        "AT+CIPRECVDATA=0,1500",
        "192.168.4.30:7000",
        &a,
        next,
    );
    recvdata(
        &mut h,
        "AT+CIPRECVDATA=0,1500",
        "192.168.4.31:7001",
        &b,
        next,
    );
    recvdata(&mut h, "AT+CIPRECVDATA=0,1500", "192.168.4.32:7002", &c, "");
    expect(
        &mut h,
        "AT+CIPRECVLEN?",
        "+CIPRECVLEN:0,-1,-1,-1,-1\r\n\r\nOK\r\n",
    );
    // A datagram longer than the whole window can never be kept: dropped whole.
    inject(&mut h, "192.168.4.33:7003", &[b'x'; 2049]);
    inject(&mut h, "192.168.4.33:7003", b"later");
    assert_eq!(h.poll(), b"\r\n+IPD,0,5\r\n");
    recvdata(
        &mut h,
        "AT+CIPRECVDATA=0,100",
        "192.168.4.33:7003",
        b"later",
        "",
    );
}

#[test]
fn passive_udp_window_holds_2048_bytes_of_data() {
    let mut h = passive_udp();
    inject(&mut h, "192.168.4.30:7000", &[b'a'; 1000]);
    inject(&mut h, "192.168.4.30:7000", &[b'b'; 1000]);
    inject(&mut h, "192.168.4.30:7000", &[b'c'; 48]);
    inject(&mut h, "192.168.4.30:7000", b"d");
    assert_eq!(
        h.poll(),
        b"\r\n+IPD,0,2048\r\n",
        "2048 bytes fit, the 2049th waits"
    );
    expect(
        &mut h,
        "AT+CIPRECVLEN?",
        "+CIPRECVLEN:2048,-1,-1,-1,-1\r\n\r\nOK\r\n",
    );
    recvdata(
        &mut h,
        "AT+CIPRECVDATA=0,1000",
        "192.168.4.30:7000",
        &[b'a'; 1000],
        "\r\n+IPD,0,1049\r\n",
    );
}

#[test]
fn switching_back_to_active_mode_delivers_what_was_buffered() {
    let (mut h, peer) = passive(false);
    h.platform.net.peer_send(peer, b"hello");
    assert_eq!(h.poll(), b"\r\n+IPD,5\r\n");
    expect(&mut h, "AT+CIPRECVMODE=0", "\r\nOK\r\n\r\n+IPD,5:hello\r\n");
}

#[test]
fn passive_udp_reads_one_datagram_at_a_time() {
    let mut h = passive_udp();
    inject(&mut h, "192.168.4.30:7000", b"one");
    inject(&mut h, "192.168.4.31:7001", b"two");
    assert_eq!(h.poll(), b"\r\n+IPD,0,6\r\n");
    let next = "\r\n+IPD,0,3\r\n";
    recvdata(
        &mut h,
        "AT+CIPRECVDATA=0,100",
        "192.168.4.30:7000",
        b"one",
        next,
    );
    recvdata(
        &mut h,
        "AT+CIPRECVDATA=0,100",
        "192.168.4.31:7001",
        b"two",
        "",
    );
}

/// Stacks report readiness once per change: whatever the stack holds must come out without
/// another wake-up, or the rest (and a close behind it) would wait for an unrelated one.
#[test]
fn data_and_a_close_behind_it_all_reach_a_host_that_reads() {
    let mut h = joined();
    let peer = connect_single(&mut h);
    h.platform.net.peer_send(peer, &[b'x'; 3000]);
    h.platform.net.peer_close(peer);
    // Everything the stack holds, and the close behind it, reaches a host that reads:
    // while anything is left the engine asks to be polled again at once.
    let mut out = h.poll().to_vec();
    for _ in 0..10 {
        if h.engine.poll_delay(h.now).is_none() {
            break;
        }
        assert_eq!(h.engine.poll_delay(h.now), Some(at_core::Duration::ZERO));
        out.extend_from_slice(&h.poll());
    }
    let mut want = b"\r\n+IPD,2920:".to_vec();
    want.extend_from_slice(&[b'x'; 2920]);
    want.extend_from_slice(b"\r\n\r\n+IPD,80:");
    want.extend_from_slice(&[b'x'; 80]);
    want.extend_from_slice(b"\r\n\r\nCLOSED\r\n");
    assert_eq!(t(out), t(want));
    assert_eq!(h.engine.poll_delay(h.now), None, "nothing left: sleep");
}
