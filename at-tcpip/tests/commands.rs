//! Every TCP/IP and Wi-Fi command's query/set/execute forms with their exact responses
//! and defaults, each range's boundaries, and the ERR CODE of every malformed line; after
//! each refusal the setting is queried again to show nothing changed.

mod common;

use at_core::sim::SimTcpOptions;
use common::*;

/// Sends `line`, expects `want`, then expects `query` to answer `state`.
fn refused(h: &mut H, line: &str, want: &Text, query: &str, state: &str) {
    let got = h.send(format!("{line}\r\n").as_bytes());
    assert_eq!(got, *want, "response to {line}");
    let got = h.send(format!("{query}\r\n").as_bytes());
    assert_eq!(
        got,
        t(format!("{state}\r\n\r\nOK\r\n")),
        "{query} after {line}"
    );
}

fn ok(h: &mut H, line: &str) {
    assert_eq!(
        h.send(format!("{line}\r\n").as_bytes()),
        b"\r\nOK\r\n",
        "{line}"
    );
}

fn query(h: &mut H, q: &str, state: &str) {
    let got = h.send(format!("{q}\r\n").as_bytes());
    assert_eq!(got, t(format!("{state}\r\n\r\nOK\r\n")), "{q}");
}

/// An integer setting `AT+<name>=<v>` with range `[min, max]`, default `default`,
/// printed by `show`.
fn integer_setting(name: &str, default: i64, min: i64, max: i64, show: fn(i64) -> String) {
    let mut h = booted();
    let q = format!("AT+{name}?");
    let line = |v: &str| format!("AT+{name}={v}");
    query(&mut h, &q, &show(default));
    ok(&mut h, &line(&min.to_string()));
    query(&mut h, &q, &show(min));
    ok(&mut h, &line(&max.to_string()));
    query(&mut h, &q, &show(max));
    let state = show(max);
    refused(
        &mut h,
        &line(&(min - 1).to_string()),
        &invalid(0),
        &q,
        &state,
    );
    refused(
        &mut h,
        &line(&(max + 1).to_string()),
        &invalid(0),
        &q,
        &state,
    );
    refused(&mut h, &line(""), &count_err(1, 0), &q, &state);
    refused(
        &mut h,
        &line(&format!("{min},{min}")),
        &count_err(1, 2),
        &q,
        &state,
    );
    refused(
        &mut h,
        &line(&format!("\"{min}\"")),
        &type_err(0),
        &q,
        &state,
    );
    refused(&mut h, &line(","), &count_err(1, 2), &q, &state);
    refused(&mut h, &format!("AT+{name}"), &form_err(), &q, &state);
    refused(&mut h, &format!("AT+{name}=?"), &form_err(), &q, &state);
}

#[test]
fn cipmux_defaults_to_0_and_takes_0_to_1() {
    integer_setting("CIPMUX", 0, 0, 1, |v| format!("+CIPMUX:{v}"));
}

#[test]
fn cipmode_defaults_to_0_and_takes_0_to_1() {
    integer_setting("CIPMODE", 0, 0, 1, |v| format!("+CIPMODE:{v}"));
}

#[test]
fn cipdinfo_prints_true_or_false_and_defaults_to_false() {
    integer_setting("CIPDINFO", 0, 0, 1, |v| {
        format!("+CIPDINFO:{}", if v == 1 { "true" } else { "false" })
    });
}

#[test]
fn cipsto_defaults_to_180_and_takes_0_to_7200() {
    integer_setting("CIPSTO", 180, 0, 7200, |v| format!("+CIPSTO:{v}"));
}

#[test]
fn cipservermaxconn_defaults_to_5_and_takes_1_to_5() {
    integer_setting("CIPSERVERMAXCONN", 5, 1, 5, |v| {
        format!("+CIPSERVERMAXCONN:{v}")
    });
}

#[test]
fn cipreconnintv_defaults_to_1_and_takes_1_to_36000() {
    integer_setting("CIPRECONNINTV", 1, 1, 36000, |v| {
        format!("+CIPRECONNINTV:{v}")
    });
}

#[test]
fn cipv6_defaults_to_1_on_the_w800_and_takes_0_to_1() {
    integer_setting("CIPV6", 1, 0, 1, |v| format!("+CIPV6:{v}"));
}

#[test]
fn ciprecvmode_defaults_to_0_and_takes_0_to_1() {
    integer_setting("CIPRECVMODE", 0, 0, 1, |v| format!("+CIPRECVMODE:{v}"));
}

fn tcpopt_lines(lines: [&str; 5]) -> String {
    lines
        .iter()
        .enumerate()
        .map(|(id, l)| format!("+CIPTCPOPT:{id},{l}"))
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[test]
fn ciptcpopt_lists_five_links_with_defaults() {
    let mut h = booted();
    query(&mut h, "AT+CIPTCPOPT?", &tcpopt_lines(["-1,0,0,0"; 5]));
}

#[test]
fn ciptcpopt_single_connection_sets_link_0_within_ranges() {
    let mut h = booted();
    let q = "AT+CIPTCPOPT?";
    ok(&mut h, "AT+CIPTCPOPT=0,1,5000,7200");
    let set = tcpopt_lines([
        "0,1,5000,7200",
        "-1,0,0,0",
        "-1,0,0,0",
        "-1,0,0,0",
        "-1,0,0,0",
    ]);
    query(&mut h, q, &set);
    // Omitted fields keep their values.
    ok(&mut h, "AT+CIPTCPOPT=,,,");
    query(&mut h, q, &set);
    ok(&mut h, "AT+CIPTCPOPT=-1,0,0");
    let reset = tcpopt_lines([
        "-1,0,0,7200",
        "-1,0,0,0",
        "-1,0,0,0",
        "-1,0,0,0",
        "-1,0,0,0",
    ]);
    query(&mut h, q, &reset);
    refused(&mut h, "AT+CIPTCPOPT=-2,0,0", &invalid(0), q, &reset);
    refused(&mut h, "AT+CIPTCPOPT=0,2,0", &invalid(1), q, &reset);
    refused(&mut h, "AT+CIPTCPOPT=0,-1,0", &invalid(1), q, &reset);
    refused(&mut h, "AT+CIPTCPOPT=0,0,-1", &invalid(2), q, &reset);
    refused(&mut h, "AT+CIPTCPOPT=0,0,0,7201", &invalid(3), q, &reset);
    refused(&mut h, "AT+CIPTCPOPT=0,0,0,-1", &invalid(3), q, &reset);
    refused(&mut h, "AT+CIPTCPOPT=0,0", &count_err(3, 2), q, &reset);
    refused(
        &mut h,
        "AT+CIPTCPOPT=0,0,0,0,0",
        &count_err(4, 5),
        q,
        &reset,
    );
    refused(&mut h, "AT+CIPTCPOPT=\"0\",0,0", &type_err(0), q, &reset);
    refused(&mut h, "AT+CIPTCPOPT", &form_err(), q, &reset);
}

#[test]
fn ciptcpopt_multi_connection_takes_an_id_and_5_means_all() {
    let mut h = booted();
    let q = "AT+CIPTCPOPT?";
    ok(&mut h, "AT+CIPMUX=1");
    ok(&mut h, "AT+CIPTCPOPT=4,1,1,10,20");
    let one = tcpopt_lines(["-1,0,0,0", "-1,0,0,0", "-1,0,0,0", "-1,0,0,0", "1,1,10,20"]);
    query(&mut h, q, &one);
    refused(&mut h, "AT+CIPTCPOPT=6,1,1,10,20", &invalid(0), q, &one);
    refused(&mut h, "AT+CIPTCPOPT=-1,1,1,10,20", &invalid(0), q, &one);
    refused(&mut h, "AT+CIPTCPOPT=0,1,1", &count_err(4, 3), q, &one);
    refused(
        &mut h,
        "AT+CIPTCPOPT=0,1,1,1,1,1",
        &count_err(5, 6),
        q,
        &one,
    );
    ok(&mut h, "AT+CIPTCPOPT=5,2,1,30");
    query(
        &mut h,
        q,
        &tcpopt_lines(["2,1,30,0", "2,1,30,0", "2,1,30,0", "2,1,30,0", "2,1,30,20"]),
    );
}

#[test]
fn ciptcpopt_reaches_the_socket_and_cipstart_keepalive_updates_it() {
    let mut h = joined();
    ok(&mut h, "AT+CIPTCPOPT=0,1,5000,60");
    let peer = connect_single(&mut h);
    let want = SimTcpOptions {
        linger: Some(0),
        no_delay: true,
        send_timeout: 5000,
        keep_alive: Some(60),
    };
    assert_eq!(h.platform.net.tcp_options(peer.socket()), Some(want));
    assert_eq!(h.send(b"AT+CIPCLOSE\r\n"), b"CLOSED\r\n\r\nOK\r\n");
    // The last setting wins: CIPSTART's keep-alive is CIPTCPOPT's too.
    assert_eq!(
        h.send(b"AT+CIPSTART=\"TCP\",\"192.168.4.10\",80,7200\r\n"),
        b"CONNECT\r\n\r\nOK\r\n"
    );
    let peer = h.platform.net.accepted(addr(SERVER)).unwrap();
    assert_eq!(
        h.platform
            .net
            .tcp_options(peer.socket())
            .unwrap()
            .keep_alive,
        Some(7200)
    );
    query(
        &mut h,
        "AT+CIPTCPOPT?",
        &tcpopt_lines([
            "0,1,5000,7200",
            "-1,0,0,0",
            "-1,0,0,0",
            "-1,0,0,0",
            "-1,0,0,0",
        ]),
    );
}

#[test]
fn cipsendlcfg_defaults_to_1024_2920_with_ranges() {
    let mut h = booted();
    let q = "AT+CIPSENDLCFG?";
    query(&mut h, q, "+CIPSENDLCFG:1024,2920");
    ok(&mut h, "AT+CIPSENDLCFG=100,100");
    query(&mut h, q, "+CIPSENDLCFG:100,100");
    ok(&mut h, "AT+CIPSENDLCFG=1048576,2920");
    let max = "+CIPSENDLCFG:1048576,2920";
    query(&mut h, q, max);
    refused(&mut h, "AT+CIPSENDLCFG=99,2920", &invalid(0), q, max);
    refused(&mut h, "AT+CIPSENDLCFG=1048577,2920", &invalid(0), q, max);
    refused(&mut h, "AT+CIPSENDLCFG=1024,99", &invalid(1), q, max);
    refused(&mut h, "AT+CIPSENDLCFG=1024,2921", &invalid(1), q, max);
    refused(&mut h, "AT+CIPSENDLCFG=", &count_err(1, 0), q, max);
    refused(
        &mut h,
        "AT+CIPSENDLCFG=1024,2920,1",
        &count_err(2, 3),
        q,
        max,
    );
    refused(&mut h, "AT+CIPSENDLCFG=\"1024\"", &type_err(0), q, max);
    refused(&mut h, "AT+CIPSENDLCFG", &form_err(), q, max);
    ok(&mut h, "AT+CIPSENDLCFG=2048");
    query(&mut h, q, "+CIPSENDLCFG:2048,2920");
}

#[test]
fn ciprecvlen_is_minus_1_for_inactive_links() {
    let mut h = joined();
    query(&mut h, "AT+CIPRECVLEN?", "+CIPRECVLEN:-1,-1,-1,-1,-1");
    ok(&mut h, "AT+CIPMUX=1");
    ok(&mut h, "AT+CIPRECVMODE=1");
    connect_mux(&mut h, 2);
    query(&mut h, "AT+CIPRECVLEN?", "+CIPRECVLEN:-1,-1,0,-1,-1");
    assert_eq!(h.send(b"AT+CIPRECVLEN\r\n"), form_err());
    assert_eq!(h.send(b"AT+CIPRECVLEN=1\r\n"), form_err());
}

#[test]
fn cwmode_defaults_to_station_and_takes_0_and_1() {
    let mut h = booted();
    let q = "AT+CWMODE?";
    query(&mut h, q, "+CWMODE:1");
    ok(&mut h, "AT+CWMODE=0");
    query(&mut h, q, "+CWMODE:0");
    ok(&mut h, "AT+CWMODE=1,1");
    query(&mut h, q, "+CWMODE:1");
    refused(&mut h, "AT+CWMODE=4", &invalid(0), q, "+CWMODE:1");
    refused(&mut h, "AT+CWMODE=-1", &invalid(0), q, "+CWMODE:1");
    refused(&mut h, "AT+CWMODE=1,2", &invalid(1), q, "+CWMODE:1");
    refused(&mut h, "AT+CWMODE=", &count_err(1, 0), q, "+CWMODE:1");
    refused(&mut h, "AT+CWMODE=1,1,1", &count_err(2, 3), q, "+CWMODE:1");
    refused(&mut h, "AT+CWMODE=\"1\"", &type_err(0), q, "+CWMODE:1");
    refused(&mut h, "AT+CWMODE", &form_err(), q, "+CWMODE:1");
}

#[test]
fn cwmode_without_a_soft_ap_refuses_2_and_3_as_execution_failures() {
    let mut h = booted();
    refused(
        &mut h,
        "AT+CWMODE=2",
        &exec_err(),
        "AT+CWMODE?",
        "+CWMODE:1",
    );
    refused(
        &mut h,
        "AT+CWMODE=3",
        &exec_err(),
        "AT+CWMODE?",
        "+CWMODE:1",
    );
}

#[test]
fn station_queries_before_joining() {
    let mut h = booted();
    assert_eq!(h.send(b"AT+CWJAP?\r\n"), b"\r\nOK\r\n");
    query(&mut h, "AT+CWSTATE?", "+CWSTATE:0,\"\"");
    query(
        &mut h,
        "AT+CIPSTA?",
        "+CIPSTA:ip:\"0.0.0.0\"\r\n+CIPSTA:gateway:\"0.0.0.0\"\r\n+CIPSTA:netmask:\"0.0.0.0\"",
    );
    query(&mut h, "AT+CWDHCP?", "+CWDHCP:1");
    query(
        &mut h,
        "AT+CIFSR",
        "+CIFSR:STAIP,\"0.0.0.0\"\r\n+CIFSR:STAMAC,\"02:00:00:00:00:02\"",
    );
    query(&mut h, "AT+CIPSTATUS", "STATUS:5");
    assert_eq!(h.send(b"AT+CIPSTATE?\r\n"), b"\r\nOK\r\n");
    query(&mut h, "AT+CIPSERVER?", "+CIPSERVER:0");
}

#[test]
fn station_queries_when_joined() {
    let mut h = joined();
    query(
        &mut h,
        "AT+CWJAP?",
        "+CWJAP:\"lab\",\"0a:00:00:00:00:01\",1,-40,0,1,3,0,1",
    );
    query(&mut h, "AT+CWSTATE?", "+CWSTATE:2,\"lab\"");
    query(
        &mut h,
        "AT+CIPSTA?",
        "+CIPSTA:ip:\"192.168.4.2\"\r\n+CIPSTA:gateway:\"192.168.4.1\"\r\n\
         +CIPSTA:netmask:\"255.255.255.0\"\r\n+CIPSTA:ip6ll:\"fe80::2\"\r\n\
         +CIPSTA:ip6gl:\"2001:db8::2\"",
    );
    query(
        &mut h,
        "AT+CIFSR",
        "+CIFSR:STAIP,\"192.168.4.2\"\r\n+CIFSR:STAIP6LL,\"fe80::2\"\r\n\
         +CIFSR:STAIP6GL,\"2001:db8::2\"\r\n+CIFSR:STAMAC,\"02:00:00:00:00:02\"",
    );
    query(&mut h, "AT+CIPSTATUS", "STATUS:2");
    // Without IPv6 the v6 addresses are not listed.
    ok(&mut h, "AT+CIPV6=0");
    query(
        &mut h,
        "AT+CIFSR",
        "+CIFSR:STAIP,\"192.168.4.2\"\r\n+CIFSR:STAMAC,\"02:00:00:00:00:02\"",
    );
}

#[test]
fn query_only_and_execute_only_commands_refuse_other_forms() {
    let mut h = joined();
    for line in [
        "AT+CWJAP=?",
        "AT+CWSTATE",
        "AT+CWSTATE=1",
        "AT+CIPSTA",
        "AT+CWDHCP",
        "AT+CIFSR?",
        "AT+CIFSR=1",
        "AT+CWLAP?",
        "AT+CWQAP?",
        "AT+CIPSTATE",
        "AT+CIPSTATE=0",
        "AT+CIPSTATUS?",
        "AT+CIPSTART",
        "AT+CIPSTART?",
        "AT+CIPSTARTEX?",
        "AT+CIPSENDEX",
        "AT+CIPSENDL",
        "AT+CIPRECVDATA?",
        "AT+CIPCLOSE?",
        "AT+CIPSERVER",
        "AT+CIPSEND?",
    ] {
        assert_eq!(
            h.send(format!("{line}\r\n").as_bytes()),
            form_err(),
            "{line}"
        );
    }
    query(&mut h, "AT+CWSTATE?", "+CWSTATE:2,\"lab\"");
}

#[test]
fn cwlap_lists_every_access_point() {
    let mut p = world();
    p.station.add_ap(b"open", b"").unwrap();
    let mut h = boot_on(p);
    query(
        &mut h,
        "AT+CWLAP",
        "+CWLAP:(3,\"lab\",-40,\"0a:00:00:00:00:01\",1,0,0,4,4,7,0)\r\n\
         +CWLAP:(0,\"open\",-45,\"0a:00:00:00:00:02\",6,0,0,0,0,7,0)",
    );
}

#[test]
fn cipstate_and_cipstatus_list_links() {
    let mut h = joined();
    connect_single(&mut h);
    query(
        &mut h,
        "AT+CIPSTATE?",
        "+CIPSTATE:0,\"TCP\",\"192.168.4.10\",80,49152,0",
    );
    query(
        &mut h,
        "AT+CIPSTATUS",
        "STATUS:3\r\n+CIPSTATUS:0,\"TCP\",\"192.168.4.10\",80,49152,0",
    );
    assert_eq!(h.send(b"AT+CIPCLOSE\r\n"), b"CLOSED\r\n\r\nOK\r\n");
    query(&mut h, "AT+CIPSTATUS", "STATUS:4");
    assert_eq!(h.send(b"AT+CIPSTATE?\r\n"), b"\r\nOK\r\n");
}

#[test]
fn cipserver_query_shows_port_and_type() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    ok(&mut h, "AT+CIPSERVER=1");
    query(&mut h, "AT+CIPSERVER?", "+CIPSERVER:1,333,\"TCP\",0");
    ok(&mut h, "AT+CIPSERVER=0");
    query(&mut h, "AT+CIPSERVER?", "+CIPSERVER:0");
    ok(&mut h, "AT+CIPSERVER=1,65535,\"TCPv6\",0");
    query(&mut h, "AT+CIPSERVER?", "+CIPSERVER:1,65535,\"TCPv6\",0");
}

#[test]
fn cipserver_set_ranges_and_malformed_lines() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    let q = "AT+CIPSERVER?";
    let off = "+CIPSERVER:0";
    refused(&mut h, "AT+CIPSERVER=2", &invalid(0), q, off);
    refused(&mut h, "AT+CIPSERVER=-1", &invalid(0), q, off);
    refused(&mut h, "AT+CIPSERVER=1,0", &invalid(1), q, off);
    refused(&mut h, "AT+CIPSERVER=1,65536", &invalid(1), q, off);
    refused(&mut h, "AT+CIPSERVER=1,80,\"UDP\"", &invalid(2), q, off);
    refused(&mut h, "AT+CIPSERVER=1,80,\"TCP\",2", &invalid(3), q, off);
    refused(&mut h, "AT+CIPSERVER=1,80,TCP", &err(0x0108_0002), q, off);
    refused(&mut h, "AT+CIPSERVER=1,\"80\"", &type_err(1), q, off);
    refused(&mut h, "AT+CIPSERVER=", &count_err(1, 0), q, off);
    refused(
        &mut h,
        "AT+CIPSERVER=1,80,\"TCP\",0,1",
        &count_err(4, 5),
        q,
        off,
    );
    ok(&mut h, "AT+CIPSERVER=1,1");
    query(&mut h, q, "+CIPSERVER:1,1,\"TCP\",0");
}

#[test]
fn cipclose_ranges_and_forms() {
    let mut h = joined();
    assert_eq!(h.send(b"AT+CIPCLOSE\r\n"), exec_err(), "no link");
    assert_eq!(
        h.send(b"AT+CIPCLOSE=0\r\n"),
        exec_err(),
        "set form needs CIPMUX=1"
    );
    ok(&mut h, "AT+CIPMUX=1");
    connect_mux(&mut h, 0);
    let q = "AT+CIPSTATE?";
    let state = "+CIPSTATE:0,\"TCP\",\"192.168.4.10\",80,49152,0";
    refused(&mut h, "AT+CIPCLOSE=6", &invalid(0), q, state);
    refused(&mut h, "AT+CIPCLOSE=-1", &invalid(0), q, state);
    refused(&mut h, "AT+CIPCLOSE=", &count_err(1, 0), q, state);
    refused(&mut h, "AT+CIPCLOSE=0,0", &count_err(1, 2), q, state);
    refused(&mut h, "AT+CIPCLOSE=\"0\"", &type_err(0), q, state);
    refused(&mut h, "AT+CIPCLOSE", &exec_err(), q, state);
    refused(&mut h, "AT+CIPCLOSE=1", &exec_err(), q, state);
    assert_eq!(h.send(b"AT+CIPCLOSE=0\r\n"), b"0,CLOSED\r\n\r\nOK\r\n");
}

#[test]
fn cipstart_ranges_and_malformed_lines() {
    let mut h = joined();
    let q = "AT+CIPSTATE?";
    let go = |h: &mut H, line: &str, want: &Text| {
        assert_eq!(h.send(format!("{line}\r\n").as_bytes()), *want, "{line}");
        assert_eq!(
            h.send(format!("{q}\r\n").as_bytes()),
            b"\r\nOK\r\n",
            "{line}"
        );
    };
    go(
        &mut h,
        "AT+CIPSTART=\"TCP\",\"192.168.4.10\"",
        &count_err(3, 2),
    );
    go(
        &mut h,
        "AT+CIPSTART=\"TCP\",\"192.168.4.10\",80,0,\"\",1",
        &count_err(5, 6),
    );
    go(
        &mut h,
        "AT+CIPSTART=\"UDP\",\"192.168.4.10\",80,1,0,\"\",1",
        &count_err(6, 7),
    );
    go(
        &mut h,
        "AT+CIPSTART=\"TCP\",\"192.168.4.10\",0",
        &invalid(2),
    );
    go(
        &mut h,
        "AT+CIPSTART=\"TCP\",\"192.168.4.10\",65536",
        &invalid(2),
    );
    go(
        &mut h,
        "AT+CIPSTART=\"TCP\",\"192.168.4.10\",\"80\"",
        &type_err(2),
    );
    go(&mut h, "AT+CIPSTART=\"TCP\",192,80", &type_err(1));
    go(
        &mut h,
        "AT+CIPSTART=\"TCP\",\"192.168.4.10\",80,7201",
        &invalid(3),
    );
    go(
        &mut h,
        "AT+CIPSTART=\"TCP\",\"192.168.4.10\",80,-1",
        &invalid(3),
    );
    go(&mut h, "AT+CIPSTART=\"TCP\",\"\",80", &invalid(1));
    go(
        &mut h,
        "AT+CIPSTART=\"UDP\",\"192.168.4.10\",80,1000,3",
        &invalid(4),
    );
    go(
        &mut h,
        "AT+CIPSTART=\"UDP\",\"192.168.4.10\",80,65536",
        &invalid(3),
    );
    go(
        &mut h,
        "AT+CIPSTART=\"TCP\",\"192.168.4.10\",80,,\"nonsense\"",
        &invalid(4),
    );
    assert_eq!(
        h.send(b"AT+CIPSTART=\"TCP\",\"192.168.4.10\",80,7200,\"192.168.4.2\"\r\n"),
        b"CONNECT\r\n\r\nOK\r\n"
    );
}

#[test]
fn cipsend_ranges_and_malformed_lines() {
    let mut h = joined();
    connect_single(&mut h);
    for (line, want) in [
        ("AT+CIPSEND=0", invalid(0)),
        ("AT+CIPSEND=5761", invalid(0)),
        ("AT+CIPSEND=-1", invalid(0)),
        ("AT+CIPSEND=", count_err(1, 0)),
        ("AT+CIPSEND=1,\"192.168.4.10\",80,1", count_err(3, 4)),
        ("AT+CIPSEND=\"1\"", type_err(0)),
        ("AT+CIPSENDEX=0", invalid(0)),
        ("AT+CIPSENDEX=5761", invalid(0)),
        ("AT+CIPSENDL=0", invalid(0)),
        ("AT+CIPSENDL=2147483648", invalid(0)),
    ] {
        assert_eq!(h.send(format!("{line}\r\n").as_bytes()), want, "{line}");
        assert_eq!(
            h.send(b"AT\r\n"),
            b"\r\nOK\r\n",
            "command mode after {line}"
        );
    }
    assert_eq!(h.send(b"AT+CIPSEND=5760\r\n"), b"\r\nOK\r\n\r\n>");
    let payload = vec![b'x'; 5760];
    assert_eq!(h.send(&payload), b"\r\nRecv 5760 bytes\r\n\r\nSEND OK\r\n");
}

#[test]
fn ciprecvdata_ranges_and_malformed_lines() {
    let mut h = joined();
    ok(&mut h, "AT+CIPRECVMODE=1");
    connect_single(&mut h);
    for (line, want) in [
        ("AT+CIPRECVDATA=0", invalid(0)),
        ("AT+CIPRECVDATA=2147483648", invalid(0)),
        ("AT+CIPRECVDATA=", count_err(1, 0)),
        ("AT+CIPRECVDATA=0,1", count_err(1, 2)),
        ("AT+CIPRECVDATA=\"1\"", type_err(0)),
    ] {
        assert_eq!(h.send(format!("{line}\r\n").as_bytes()), want, "{line}");
    }
    assert_eq!(
        h.send(b"AT+CIPRECVDATA=2147483647\r\n"),
        b"+CIPRECVDATA:0,\r\nOK\r\n"
    );
}

#[test]
fn cwjap_malformed_lines() {
    let mut h = booted();
    let q = "AT+CWSTATE?";
    let idle = "+CWSTATE:0,\"\"";
    refused(&mut h, "AT+CWJAP=", &count_err(1, 0), q, idle);
    refused(&mut h, "AT+CWJAP=1,\"x\"", &type_err(0), q, idle);
    let long_ssid = format!("AT+CWJAP=\"{}\",\"x\"", "s".repeat(33));
    refused(&mut h, &long_ssid, &length_err(0), q, idle);
    let long_pwd = format!("AT+CWJAP=\"lab\",\"{}\"", "p".repeat(65));
    refused(&mut h, &long_pwd, &length_err(1), q, idle);
    refused(
        &mut h,
        "AT+CWJAP=\"lab\",\"x\",\"zz\"",
        &invalid(2),
        q,
        idle,
    );
    refused(
        &mut h,
        "AT+CWJAP=\"lab\",\"x\",,,,,,2",
        &invalid(7),
        q,
        idle,
    );
    refused(
        &mut h,
        "AT+CWJAP=\"lab\",\"x\",,,,,,601",
        &invalid(7),
        q,
        idle,
    );
    refused(
        &mut h,
        "AT+CWJAP=\"lab\",\"x\",,,,,,,,1",
        &count_err(9, 10),
        q,
        idle,
    );
}

#[test]
fn settings_marked_for_nvs_survive_a_restart_and_the_others_do_not() {
    let mut h = joined();
    for line in [
        "AT+CIPV6=0",
        "AT+CIPRECONNINTV=50",
        "AT+CIPTCPOPT=3,1,100,60",
        "AT+CIPDINFO=1",
        "AT+CIPSTO=10",
        "AT+CIPMODE=1",
    ] {
        ok(&mut h, line);
    }
    assert_eq!(
        h.send(b"AT+RST\r\n"),
        b"\r\nOK\r\n\r\nready\r\n\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n"
    );
    h.send(b"ATE0\r\n");
    query(&mut h, "AT+CIPV6?", "+CIPV6:0");
    query(&mut h, "AT+CIPRECONNINTV?", "+CIPRECONNINTV:50");
    query(
        &mut h,
        "AT+CIPTCPOPT?",
        &tcpopt_lines(["3,1,100,60", "-1,0,0,0", "-1,0,0,0", "-1,0,0,0", "-1,0,0,0"]),
    );
    query(&mut h, "AT+CIPDINFO?", "+CIPDINFO:false");
    query(&mut h, "AT+CIPSTO?", "+CIPSTO:180");
    query(&mut h, "AT+CIPMODE?", "+CIPMODE:0");
}

#[test]
fn settings_are_not_stored_with_sysstore_0() {
    let mut h = booted();
    ok(&mut h, "AT+SYSSTORE=0");
    ok(&mut h, "AT+CIPV6=0");
    ok(&mut h, "AT+CIPRECONNINTV=50");
    query(&mut h, "AT+CIPV6?", "+CIPV6:0");
    assert_eq!(h.send(b"AT+RST\r\n"), b"\r\nOK\r\n\r\nready\r\n");
    h.send(b"ATE0\r\n");
    query(&mut h, "AT+CIPV6?", "+CIPV6:1");
    query(&mut h, "AT+CIPRECONNINTV?", "+CIPRECONNINTV:1");
}
