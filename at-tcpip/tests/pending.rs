//! Commands that wait for the network: `AT+CIPSTART` while the connect (or the DNS
//! lookup) is in progress answers nothing yet, other lines get `busy p...`, received data
//! keeps flowing, and the command ends with `CONNECT`/`OK`, or `ERROR` on refusal or
//! after the 5 s connect timeout.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::*;

/// Joined, `AT+SYSLOG=0` (so `busy p...` is shown bare).
fn joined_quiet() -> H {
    let mut h = joined();
    assert_eq!(h.send(b"AT+SYSLOG=0\r\n"), b"\r\nOK\r\n");
    h
}

/// Polls until output appears (at most `max` polls); returns it and the polls it took.
fn poll_until_output(h: &mut H, max: usize) -> (Vec<u8>, usize) {
    for i in 1..=max {
        let out = h.poll();
        if !out.is_empty() {
            return (out.to_vec(), i);
        }
    }
    (Vec::new(), max)
}

#[test]
fn cipstart_stays_pending_while_connecting_and_then_connects() {
    let mut h = joined_quiet();
    h.platform.net.set_connect_delay(20);
    assert_eq!(h.send(b"AT+CIPSTART=\"TCP\",\"192.168.4.10\",80\r\n"), b"");
    assert!(h.engine.is_busy());
    assert_eq!(h.poll(), b"");
    assert_eq!(h.poll(), b"");
    let (out, polls) = poll_until_output(&mut h, 40);
    assert_eq!(t(out), t("CONNECT\r\n\r\nOK\r\n"));
    assert!(polls > 5, "connected after {polls} polls");
    assert!(!h.engine.is_busy());
    assert!(h.platform.net.accepted(addr(SERVER)).is_some());
    assert_eq!(h.send(b"AT\r\n"), b"\r\nOK\r\n");
}

#[test]
fn a_line_arriving_while_cipstart_is_pending_gets_busy_and_is_not_run() {
    let mut h = joined_quiet();
    h.platform.net.set_connect_delay(30);
    assert_eq!(h.send(b"AT+CIPSTART=\"TCP\",\"192.168.4.10\",80\r\n"), b"");
    assert_eq!(h.send(b"AT+CIPMUX=1\r\n"), b"\r\nbusy p...\r\n");
    assert_eq!(h.send(b"AT\r"), b"\r\nbusy p...\r\n");
    assert_eq!(h.send(b"\nAT\n"), b"\r\nbusy p...\r\n", "late LF swallowed");
    let (out, _) = poll_until_output(&mut h, 60);
    assert_eq!(t(out), t("CONNECT\r\n\r\nOK\r\n"));
    assert_eq!(h.send(b"AT+CIPMUX?\r\n"), b"+CIPMUX:0\r\n\r\nOK\r\n");
}

#[test]
fn busy_lines_are_echoed_with_echo_on() {
    let mut h = joined_quiet();
    assert_eq!(h.send(b"ATE1\r\n"), b"\r\nOK\r\n");
    h.platform.net.set_connect_delay(30);
    assert_eq!(
        h.send(b"AT+CIPSTART=\"TCP\",\"192.168.4.10\",80\r\n"),
        b"AT+CIPSTART=\"TCP\",\"192.168.4.10\",80\r\n"
    );
    assert_eq!(h.send(b"AT\r\n"), b"AT\r\n\r\nbusy p...\r\n");
}

#[test]
fn other_links_keep_delivering_while_a_connect_is_pending() {
    let mut h = joined_quiet();
    assert_eq!(h.send(b"AT+CIPMUX=1\r\n"), b"\r\nOK\r\n");
    let peer0 = connect_mux(&mut h, 0);
    h.platform.net.set_connect_delay(30);
    assert_eq!(
        h.send(b"AT+CIPSTART=1,\"TCP\",\"192.168.4.11\",81\r\n"),
        b""
    );
    h.platform.net.peer_send(peer0, b"ping");
    assert_eq!(h.poll(), b"\r\n+IPD,0,4:ping\r\n");
    assert!(h.engine.is_busy(), "still connecting");
    h.platform.net.peer_close(peer0);
    assert_eq!(h.poll(), b"\r\n0,CLOSED\r\n");
    let (out, _) = poll_until_output(&mut h, 60);
    assert_eq!(t(out), t("1,CONNECT\r\n\r\nOK\r\n"));
}

#[test]
fn a_connect_that_never_completes_times_out_after_5_s_and_frees_the_id() {
    let mut h = joined();
    h.platform.net.set_connect_delay(255);
    assert_eq!(h.send(b"AT+CIPSTART=\"TCP\",\"192.168.4.10\",80\r\n"), b"");
    assert_eq!(h.advance(2000), b"");
    assert_eq!(h.advance(2999), b"", "4999 ms: still connecting");
    assert!(h.engine.is_busy());
    assert_eq!(h.advance(1), exec_err(), "5000 ms: timeout");
    assert!(!h.engine.is_busy());
    assert_eq!(h.platform.net.tcp_open_sockets(), 0, "socket released");
    assert_eq!(h.send(b"AT+CIPSTATE?\r\n"), b"\r\nOK\r\n");
    h.platform.net.set_connect_delay(0);
    connect_single(&mut h);
}

#[test]
fn a_refused_connect_is_an_error() {
    let mut h = joined();
    assert_eq!(
        h.send(b"AT+CIPSTART=\"TCP\",\"192.168.4.99\",80\r\n"),
        exec_err()
    );
    h.platform.net.set_connect_delay(5);
    assert_eq!(h.send(b"AT+CIPSTART=\"TCP\",\"192.168.4.99\",80\r\n"), b"");
    let (out, _) = poll_until_output(&mut h, 20);
    assert_eq!(t(out), exec_err());
    assert_eq!(h.platform.net.tcp_open_sockets(), 0);
    assert_eq!(h.send(b"AT+CIPSTATE?\r\n"), b"\r\nOK\r\n");
    assert_eq!(h.send(b"AT+CIPSTATUS\r\n"), b"STATUS:2\r\n\r\nOK\r\n");
}

#[test]
fn cipstart_waits_for_a_slow_dns_lookup() {
    let mut p = world();
    p.net
        .add_host("server.example", IpAddr::V4(Ipv4Addr::new(192, 168, 4, 10)))
        .unwrap();
    p.net.set_dns_delay(10);
    let mut h = boot_on(p);
    join(&mut h);
    assert_eq!(
        h.send(b"AT+CIPSTART=\"TCP\",\"server.example\",80\r\n"),
        b""
    );
    assert!(h.engine.is_busy());
    let (out, polls) = poll_until_output(&mut h, 30);
    assert_eq!(t(out), t("CONNECT\r\n\r\nOK\r\n"));
    assert!(polls > 3);
    assert_eq!(
        h.send(b"AT+CIPSTATE?\r\n"),
        b"+CIPSTATE:0,\"TCP\",\"192.168.4.10\",80,49152,0\r\n\r\nOK\r\n"
    );
}

#[test]
fn a_dns_lookup_that_never_completes_times_out() {
    let mut p = world();
    p.net.set_dns_delay(255);
    let mut h = boot_on(p);
    join(&mut h);
    assert_eq!(h.send(b"AT+CIPSTART=\"TCP\",\"slow.example\",80\r\n"), b"");
    assert_eq!(h.advance(4999), b"");
    assert_eq!(h.advance(1), exec_err());
    assert_eq!(h.send(b"AT\r\n"), b"\r\nOK\r\n");
}
