//! The module's server: accepting clients into link ids, `AT+CIPSERVERMAXCONN`, the
//! `AT+CIPSTO` idle timeout, and closing the server with or without its clients.

mod common;

use at_core::sim::PeerId;
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

const PORT: u16 = 333;

/// Joined, CIPMUX=1, then `setup` lines, then the server on port 333.
fn server(setup: &[&str]) -> H {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    for line in setup {
        ok(&mut h, line);
    }
    ok(&mut h, "AT+CIPSERVER=1");
    h
}

/// A client at 192.168.4.`host`:40000 connects to the server.
fn client(h: &mut H, host: u8) -> PeerId {
    let to = addr(&format!("{LOCAL_IP}:{PORT}"));
    let from = addr(&format!("192.168.4.{host}:40000"));
    h.platform.net.peer_connect(to, from).unwrap()
}

#[test]
fn a_client_connecting_is_announced_with_its_id() {
    let mut h = server(&[]);
    let peer = client(&mut h, 50);
    assert_eq!(h.poll(), b"\r\n0,CONNECT\r\n");
    expect(
        &mut h,
        "AT+CIPSTATE?",
        "+CIPSTATE:0,\"TCP\",\"192.168.4.50\",40000,333,1\r\n\r\nOK\r\n",
    );
    h.platform.net.peer_send(peer, b"GET");
    assert_eq!(h.poll(), b"\r\n+IPD,0,3:GET\r\n");
    expect(&mut h, "AT+CIPSEND=0,2", "\r\nOK\r\n\r\n>");
    assert_eq!(h.send(b"OK"), b"\r\nRecv 2 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(h.platform.net.peer_received(peer), b"OK");
    h.platform.net.peer_close(peer);
    assert_eq!(h.poll(), b"\r\n0,CLOSED\r\n");
}

#[test]
fn clients_take_the_lowest_free_ids_next_to_the_modules_own_links() {
    let mut h = server(&[]);
    connect_mux(&mut h, 0);
    connect_mux(&mut h, 2);
    client(&mut h, 50);
    client(&mut h, 51);
    assert_eq!(h.poll(), b"\r\n1,CONNECT\r\n\r\n3,CONNECT\r\n");
    expect(
        &mut h,
        "AT+CIPSTATUS",
        "STATUS:3\r\n\
         +CIPSTATUS:0,\"TCP\",\"192.168.4.10\",80,49152,0\r\n\
         +CIPSTATUS:1,\"TCP\",\"192.168.4.50\",40000,333,1\r\n\
         +CIPSTATUS:2,\"TCP\",\"192.168.4.10\",80,49153,0\r\n\
         +CIPSTATUS:3,\"TCP\",\"192.168.4.51\",40000,333,1\r\n\r\nOK\r\n",
    );
}

#[test]
fn sysmsg_2_announces_a_client_with_link_conn() {
    let mut h = server(&["AT+SYSMSG=2"]);
    client(&mut h, 50);
    assert_eq!(
        h.poll(),
        b"\r\n+LINK_CONN:0,0,\"TCP\",1,\"192.168.4.50\",40000,333\r\n"
    );
}

#[test]
fn clients_beyond_cipservermaxconn_are_refused() {
    let mut h = server(&["AT+CIPSERVERMAXCONN=2"]);
    let a = client(&mut h, 50);
    let b = client(&mut h, 51);
    let c = client(&mut h, 52);
    assert_eq!(
        h.poll(),
        b"\r\n0,CONNECT\r\n\r\n1,CONNECT\r\n",
        "nothing about the third"
    );
    assert!(!h.platform.net.engine_closed(a));
    assert!(!h.platform.net.engine_closed(b));
    assert!(h.platform.net.engine_closed(c), "the third is closed");
    assert_eq!(h.platform.net.peer_send(c, b"x"), 0);
    // A place frees up: the next client gets in.
    h.platform.net.peer_close(a);
    assert_eq!(h.poll(), b"\r\n0,CLOSED\r\n");
    client(&mut h, 53);
    assert_eq!(h.poll(), b"\r\n0,CONNECT\r\n");
}

#[test]
fn clients_are_refused_when_every_id_is_taken() {
    let mut h = server(&[]);
    for id in 0..4 {
        connect_mux(&mut h, id);
    }
    let a = client(&mut h, 50);
    let b = client(&mut h, 51);
    assert_eq!(h.poll(), b"\r\n4,CONNECT\r\n");
    assert!(!h.platform.net.engine_closed(a));
    assert!(h.platform.net.engine_closed(b));
}

#[test]
fn cipsto_closes_an_idle_client_exactly_at_the_timeout() {
    let mut h = server(&["AT+CIPSTO=10"]);
    client(&mut h, 50);
    assert_eq!(h.poll(), b"\r\n0,CONNECT\r\n");
    assert_eq!(h.advance(9_999), b"");
    assert_eq!(h.advance(1), b"\r\n0,CLOSED\r\n");
    expect(&mut h, "AT+CIPSTATE?", "\r\nOK\r\n");
}

#[test]
fn the_engine_asks_to_be_polled_at_the_idle_timeout() {
    let mut h = server(&["AT+CIPSTO=10"]);
    client(&mut h, 50);
    h.poll();
    assert_eq!(
        h.engine.poll_delay(h.now),
        Some(at_core::Duration::from_secs(10))
    );
}

#[test]
fn traffic_either_way_restarts_the_idle_timer() {
    let mut h = server(&["AT+CIPSTO=10"]);
    let peer = client(&mut h, 50);
    assert_eq!(h.poll(), b"\r\n0,CONNECT\r\n");
    h.advance(5_000);
    h.platform.net.peer_send(peer, b"hi");
    assert_eq!(h.poll(), b"\r\n+IPD,0,2:hi\r\n");
    assert_eq!(
        h.advance(7_000),
        b"",
        "12 s after connecting, 7 s after data"
    );
    expect(&mut h, "AT+CIPSEND=0,2", "\r\nOK\r\n\r\n>");
    assert_eq!(h.send(b"yo"), b"\r\nRecv 2 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(h.advance(9_999), b"");
    assert_eq!(h.advance(1), b"\r\n0,CLOSED\r\n");
}

#[test]
fn cipsto_leaves_the_modules_own_links_alone_and_0_never_times_out() {
    let mut h = server(&["AT+CIPSTO=1"]);
    connect_mux(&mut h, 0);
    assert_eq!(h.advance(60_000), b"");
    ok(&mut h, "AT+CIPSTO=0");
    client(&mut h, 50);
    assert_eq!(h.poll(), b"\r\n1,CONNECT\r\n");
    assert_eq!(h.advance(10_000_000), b"");
    expect(
        &mut h,
        "AT+CIPSTATE?",
        "+CIPSTATE:0,\"TCP\",\"192.168.4.10\",80,49152,0\r\n\
         +CIPSTATE:1,\"TCP\",\"192.168.4.50\",40000,333,1\r\n\r\nOK\r\n",
    );
}

#[test]
fn cipserver_0_1_closes_the_clients_but_not_the_modules_own_links() {
    let mut h = server(&[]);
    let own = connect_mux(&mut h, 0);
    let a = client(&mut h, 50);
    let b = client(&mut h, 51);
    assert_eq!(h.poll(), b"\r\n1,CONNECT\r\n\r\n2,CONNECT\r\n");
    expect(
        &mut h,
        "AT+CIPSERVER=0,1",
        "1,CLOSED\r\n2,CLOSED\r\n\r\nOK\r\n",
    );
    assert!(h.platform.net.engine_closed(a) && h.platform.net.engine_closed(b));
    assert!(!h.platform.net.engine_closed(own));
    expect(&mut h, "AT+CIPSERVER?", "+CIPSERVER:0\r\n\r\nOK\r\n");
    let to = addr(&format!("{LOCAL_IP}:{PORT}"));
    assert!(
        h.platform
            .net
            .peer_connect(to, addr("192.168.4.52:1"))
            .is_err(),
        "no longer listening"
    );
}

#[test]
fn cipserver_0_keeps_the_clients() {
    let mut h = server(&[]);
    let a = client(&mut h, 50);
    assert_eq!(h.poll(), b"\r\n0,CONNECT\r\n");
    ok(&mut h, "AT+CIPSERVER=0");
    assert!(!h.platform.net.engine_closed(a));
    h.platform.net.peer_send(a, b"still");
    assert_eq!(h.poll(), b"\r\n+IPD,0,5:still\r\n");
    let to = addr(&format!("{LOCAL_IP}:{PORT}"));
    assert!(h
        .platform
        .net
        .peer_connect(to, addr("192.168.4.52:1"))
        .is_err());
}

#[test]
fn an_ipv6_server_accepts_ipv6_clients() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    ok(&mut h, "AT+CIPSERVER=1,8080,\"TCPv6\"");
    h.platform
        .net
        .peer_connect(addr("[2001:db8::2]:8080"), addr("[2001:db8::50]:40000"))
        .unwrap();
    assert_eq!(h.poll(), b"\r\n0,CONNECT\r\n");
    expect(
        &mut h,
        "AT+CIPSTATE?",
        "+CIPSTATE:0,\"TCPv6\",\"2001:db8::50\",40000,8080,1\r\n\r\nOK\r\n",
    );
}
