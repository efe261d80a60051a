//! The rules that make commands refuse: modes that cannot change while links or the
//! server exist, ids in use, host name length, link types, the station, the server's
//! preconditions, and sending to links that are not there. After each refusal the state
//! is queried again.

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

fn query(h: &mut H, q: &str, state: &str) {
    expect(h, q, format!("{state}\r\n\r\nOK\r\n"));
}

const LINK0: &str = "+CIPSTATE:0,\"TCP\",\"192.168.4.10\",80,49152,0";

#[test]
fn cipmux_cannot_change_while_a_link_is_open() {
    let mut h = joined();
    connect_single(&mut h);
    expect(&mut h, "AT+CIPMUX=1", exec_err());
    query(&mut h, "AT+CIPMUX?", "+CIPMUX:0");
    query(&mut h, "AT+CIPSTATE?", LINK0);
    // Setting the mode it already has is fine.
    ok(&mut h, "AT+CIPMUX=0");
    expect(&mut h, "AT+CIPCLOSE", "CLOSED\r\n\r\nOK\r\n");
    ok(&mut h, "AT+CIPMUX=1");
    connect_mux(&mut h, 0);
    expect(&mut h, "AT+CIPMUX=0", exec_err());
    query(&mut h, "AT+CIPMUX?", "+CIPMUX:1");
}

#[test]
fn cipmux_1_is_refused_in_transparent_mode() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMODE=1");
    expect(&mut h, "AT+CIPMUX=1", exec_err());
    query(&mut h, "AT+CIPMUX?", "+CIPMUX:0");
    ok(&mut h, "AT+CIPMODE=0");
    ok(&mut h, "AT+CIPMUX=1");
}

#[test]
fn cipmux_0_is_refused_while_the_server_runs() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    ok(&mut h, "AT+CIPSERVER=1,8080");
    expect(&mut h, "AT+CIPMUX=0", exec_err());
    query(&mut h, "AT+CIPMUX?", "+CIPMUX:1");
    ok(&mut h, "AT+CIPSERVER=0");
    ok(&mut h, "AT+CIPMUX=0");
}

#[test]
fn cipmode_1_is_refused_with_cipmux_1_a_server_or_passive_receive() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    expect(&mut h, "AT+CIPMODE=1", exec_err());
    query(&mut h, "AT+CIPMODE?", "+CIPMODE:0");
    ok(&mut h, "AT+CIPMUX=0");
    ok(&mut h, "AT+CIPRECVMODE=1");
    expect(&mut h, "AT+CIPMODE=1", exec_err());
    query(&mut h, "AT+CIPMODE?", "+CIPMODE:0");
    ok(&mut h, "AT+CIPRECVMODE=0");
    ok(&mut h, "AT+CIPMODE=1");
    // ... and passive receive is refused in transparent mode.
    expect(&mut h, "AT+CIPRECVMODE=1", exec_err());
    query(&mut h, "AT+CIPRECVMODE?", "+CIPRECVMODE:0");
}

#[test]
fn cipstart_on_an_id_in_use_is_refused() {
    let mut h = joined();
    connect_single(&mut h);
    expect(
        &mut h,
        "AT+CIPSTART=\"TCP\",\"192.168.4.11\",81",
        exec_err(),
    );
    query(&mut h, "AT+CIPSTATE?", LINK0);
    assert_eq!(h.platform.net.tcp_open_sockets(), 1, "no socket leaked");
    expect(&mut h, "AT+CIPCLOSE", "CLOSED\r\n\r\nOK\r\n");
    ok(&mut h, "AT+CIPMUX=1");
    connect_mux(&mut h, 3);
    expect(
        &mut h,
        "AT+CIPSTART=3,\"TCP\",\"192.168.4.11\",81",
        exec_err(),
    );
    query(
        &mut h,
        "AT+CIPSTATE?",
        "+CIPSTATE:3,\"TCP\",\"192.168.4.10\",80,49153,0",
    );
    expect(
        &mut h,
        "AT+CIPSTART=5,\"TCP\",\"192.168.4.11\",81",
        invalid(0),
    );
}

#[test]
fn a_64_byte_host_name_resolves_and_a_65_byte_one_is_too_long() {
    let mut p = world();
    let name64 = format!("{}.example", "h".repeat(56));
    assert_eq!(name64.len(), 64);
    p.net
        .add_host(&name64, IpAddr::V4(Ipv4Addr::new(192, 168, 4, 10)))
        .unwrap();
    let mut h = boot_on(p);
    join(&mut h);
    let name65 = format!("h{name64}");
    expect(
        &mut h,
        &format!("AT+CIPSTART=\"TCP\",\"{name65}\",80"),
        length_err(1),
    );
    expect(&mut h, "AT+CIPSTATE?", "\r\nOK\r\n");
    expect(
        &mut h,
        &format!("AT+CIPSTART=\"TCP\",\"{name64}\",80"),
        "CONNECT\r\n\r\nOK\r\n",
    );
    query(&mut h, "AT+CIPSTATE?", LINK0);
    expect(&mut h, "AT+CIPCLOSE", "CLOSED\r\n\r\nOK\r\n");
    ok(&mut h, "AT+CIPMUX=1");
    expect(
        &mut h,
        &format!("AT+CIPSTART=1,\"TCP\",\"{name65}\",80"),
        length_err(2),
    );
}

#[test]
fn a_64_byte_host_name_that_does_not_resolve_fails_cleanly() {
    let mut h = joined();
    let name64 = format!("{}.example", "u".repeat(56));
    expect(
        &mut h,
        &format!("AT+CIPSTART=\"TCP\",\"{name64}\",80"),
        exec_err(),
    );
    expect(&mut h, "AT+CIPSTATE?", "\r\nOK\r\n");
    assert_eq!(h.platform.net.tcp_open_sockets(), 0);
    connect_single(&mut h);
}

#[test]
fn unknown_link_types_are_invalid() {
    let mut h = joined();
    for ty in ["TCPX", "tcp", "", "UDP6"] {
        expect(
            &mut h,
            &format!("AT+CIPSTART=\"{ty}\",\"192.168.4.10\",80"),
            invalid(0),
        );
    }
    expect(&mut h, "AT+CIPSTART=1,\"192.168.4.10\",80", type_err(0));
    expect(&mut h, "AT+CIPSTATE?", "\r\nOK\r\n");
}

#[test]
fn links_need_a_joined_station() {
    let mut h = booted();
    expect(
        &mut h,
        "AT+CIPSTART=\"TCP\",\"192.168.4.10\",80",
        exec_err(),
    );
    expect(
        &mut h,
        "AT+CIPSTART=\"UDP\",\"192.168.4.10\",80",
        exec_err(),
    );
    expect(&mut h, "AT+CIPSTATE?", "\r\nOK\r\n");
    assert_eq!(h.platform.net.tcp_open_sockets(), 0);
    assert_eq!(h.platform.net.udp_open_sockets(), 0);
    join(&mut h);
    connect_single(&mut h);
}

#[test]
fn the_server_needs_cipmux_1() {
    let mut h = joined();
    expect(&mut h, "AT+CIPSERVER=1,80", exec_err());
    query(&mut h, "AT+CIPSERVER?", "+CIPSERVER:0");
    assert_eq!(h.platform.net.tcp_open_sockets(), 0);
}

#[test]
fn only_one_server_runs() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    ok(&mut h, "AT+CIPSERVER=1,80");
    expect(&mut h, "AT+CIPSERVER=1,81", exec_err());
    query(&mut h, "AT+CIPSERVER?", "+CIPSERVER:1,80,\"TCP\",0");
}

#[test]
fn cipservermaxconn_is_refused_while_the_server_runs() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    ok(&mut h, "AT+CIPSERVERMAXCONN=2");
    ok(&mut h, "AT+CIPSERVER=1,80");
    expect(&mut h, "AT+CIPSERVERMAXCONN=3", exec_err());
    query(&mut h, "AT+CIPSERVERMAXCONN?", "+CIPSERVERMAXCONN:2");
    ok(&mut h, "AT+CIPSERVER=0");
    ok(&mut h, "AT+CIPSERVERMAXCONN=3");
}

#[test]
fn closing_the_server_with_a_type_or_ca_enable_is_refused() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    ok(&mut h, "AT+CIPSERVER=1,80");
    let running = "+CIPSERVER:1,80,\"TCP\",0";
    expect(&mut h, "AT+CIPSERVER=0,1,\"TCP\"", count_err(2, 3));
    query(&mut h, "AT+CIPSERVER?", running);
    expect(&mut h, "AT+CIPSERVER=0,0,\"TCP\",0", count_err(2, 4));
    query(&mut h, "AT+CIPSERVER?", running);
    expect(&mut h, "AT+CIPSERVER=0,2", invalid(1));
    query(&mut h, "AT+CIPSERVER?", running);
    ok(&mut h, "AT+CIPSERVER=0,1");
    query(&mut h, "AT+CIPSERVER?", "+CIPSERVER:0");
}

#[test]
fn cipstartex_takes_the_lowest_free_id() {
    let mut h = joined();
    expect(
        &mut h,
        "AT+CIPSTARTEX=\"TCP\",\"192.168.4.10\",80",
        "CONNECT\r\n\r\nOK\r\n",
    );
    expect(&mut h, "AT+CIPCLOSE", "CLOSED\r\n\r\nOK\r\n");
    ok(&mut h, "AT+CIPMUX=1");
    expect(
        &mut h,
        "AT+CIPSTARTEX=0,\"TCP\",\"192.168.4.11\",81",
        type_err(0),
    );
    connect_mux(&mut h, 0);
    connect_mux(&mut h, 2);
    let start = "AT+CIPSTARTEX=\"TCP\",\"192.168.4.11\",81";
    expect(&mut h, start, "1,CONNECT\r\n\r\nOK\r\n");
    expect(&mut h, start, "3,CONNECT\r\n\r\nOK\r\n");
    expect(&mut h, "AT+CIPCLOSE=0", "0,CLOSED\r\n\r\nOK\r\n");
    expect(&mut h, start, "0,CONNECT\r\n\r\nOK\r\n");
    expect(&mut h, start, "4,CONNECT\r\n\r\nOK\r\n");
    expect(&mut h, start, exec_err());
}

#[test]
fn cipclose_5_closes_every_link() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    let peers: Vec<_> = [0, 1, 3]
        .into_iter()
        .map(|id| connect_mux(&mut h, id))
        .collect();
    expect(
        &mut h,
        "AT+CIPCLOSE=5",
        "0,CLOSED\r\n1,CLOSED\r\n3,CLOSED\r\n\r\nOK\r\n",
    );
    assert!(peers.iter().all(|&p| h.platform.net.engine_closed(p)));
    expect(&mut h, "AT+CIPSTATE?", "\r\nOK\r\n");
    assert_eq!(h.platform.net.tcp_open_sockets(), 0);
}

#[test]
fn cipsend_to_an_absent_link_is_an_error_instead_of_the_prompt() {
    let mut h = joined();
    expect(&mut h, "AT+CIPSEND=5", exec_err());
    // No data phase began: the next line is a command.
    expect(&mut h, "hello", err(0x0103_0000));
    expect(&mut h, "AT+CIPSENDEX=5", exec_err());
    expect(&mut h, "AT+CIPSENDL=5", exec_err());
    ok(&mut h, "AT+CIPMUX=1");
    connect_mux(&mut h, 0);
    expect(&mut h, "AT+CIPSEND=3,5", exec_err());
    expect(&mut h, "AT", "\r\nOK\r\n");
    expect(&mut h, "AT+CIPSEND=5,5", invalid(0));
    expect(&mut h, "AT+CIPSEND=0,0", invalid(1));
    expect(&mut h, "AT+CIPSEND=0,5761", invalid(1));
    expect(&mut h, "AT+CIPSEND=5", count_err(2, 1));
}

#[test]
fn cipsend_with_a_host_and_port_is_refused_on_a_tcp_link() {
    let mut h = joined();
    let peer = connect_single(&mut h);
    expect(&mut h, "AT+CIPSEND=5,\"192.168.4.11\",81", exec_err());
    expect(&mut h, "AT+CIPSENDEX=5,\"192.168.4.11\",81", exec_err());
    expect(&mut h, "AT", "\r\nOK\r\n");
    expect(&mut h, "AT+CIPSEND=2", "\r\nOK\r\n\r\n>");
    assert_eq!(h.send(b"hi"), b"\r\nRecv 2 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(h.platform.net.peer_received(peer), b"hi");
}

#[test]
fn cipsend_with_a_length_is_refused_in_transparent_mode() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMODE=1");
    connect_single(&mut h);
    expect(&mut h, "AT+CIPSEND=5", exec_err());
    expect(&mut h, "AT", "\r\nOK\r\n");
}

#[test]
fn ipv6_links_need_cipv6_and_keep_it_on() {
    let mut p = world();
    p.net.listen(addr("[2001:db8::10]:80")).unwrap();
    let mut h = boot_on(p);
    join(&mut h);
    ok(&mut h, "AT+CIPV6=0");
    expect(
        &mut h,
        "AT+CIPSTART=\"TCPv6\",\"2001:db8::10\",80",
        exec_err(),
    );
    ok(&mut h, "AT+CIPV6=1");
    expect(
        &mut h,
        "AT+CIPSTART=\"TCPv6\",\"2001:db8::10\",80",
        "CONNECT\r\n\r\nOK\r\n",
    );
    expect(&mut h, "AT+CIPV6=0", exec_err());
    query(&mut h, "AT+CIPV6?", "+CIPV6:1");
    query(
        &mut h,
        "AT+CIPSTATE?",
        "+CIPSTATE:0,\"TCPv6\",\"2001:db8::10\",80,49152,0",
    );
}

#[test]
fn the_address_family_must_match_the_link_type() {
    let mut h = joined();
    expect(
        &mut h,
        "AT+CIPSTART=\"TCP\",\"2001:db8::10\",80",
        exec_err(),
    );
    expect(
        &mut h,
        "AT+CIPSTART=\"TCPv6\",\"192.168.4.10\",80",
        exec_err(),
    );
    expect(&mut h, "AT+CIPSTATE?", "\r\nOK\r\n");
}
