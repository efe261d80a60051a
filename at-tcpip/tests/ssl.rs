//! SSL: the client settings commands (`AT+CIPSSLCCONF`, `AT+CIPSSLCCN`, `AT+CIPSSLCSNI`,
//! `AT+CIPSSLCALPN`, `AT+CIPSSLCPSK`) in both connection modes with every range and
//! malformed line (the setting queried again after each refusal), what `AT+SYSSTORE`
//! keeps over a restart, SSL links (`AT+CIPSTART`/`AT+CIPSTARTEX` with "SSL"/"SSLv6":
//! the configuration the simulated TLS peer saw, a slow handshake, a failed one, a
//! missing certificate, the 15 s timeout), data over SSL links in every receive and send
//! mode, and the SSL server (clients announced after their handshake, one at a time,
//! dropped silently when the handshake fails or times out).
//!
//! The simulated TLS layer ([`at_core::sim::SimNet::peer_tls`]) describes what reached
//! the platform: `client auth=<n> pki=<n> ca=<n> name=<verify name> sni=<sni or ->
//! alpn=<a,b or -> psk=<identity:hex key or -> time=<unix seconds or ->`, or
//! `server verify=<0|1> time=<...>`.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use at_core::sim::{PeerId, SimOp, SimTcpOptions};
use common::*;

fn line(h: &mut H, line: &str) -> Text {
    t(h.send(format!("{line}\r\n").as_bytes()).as_bytes())
}

fn expect(h: &mut H, l: &str, want: impl AsRef<[u8]>) {
    assert_eq!(line(h, l), t(want), "{l}");
}

fn ok(h: &mut H, l: &str) {
    expect(h, l, "\r\nOK\r\n");
}

/// `q` answers the information lines `state` (joined by `\r\n`), then OK.
fn query(h: &mut H, q: &str, state: &str) {
    expect(h, q, format!("{state}\r\n\r\nOK\r\n"));
}

/// `l` is refused with `want`, and `q` still answers `state`.
fn refused(h: &mut H, l: &str, want: &Text, q: &str, state: &str) {
    assert_eq!(line(h, l), *want, "response to {l}");
    let got = line(h, q);
    assert_eq!(got, t(format!("{state}\r\n\r\nOK\r\n")), "{q} after {l}");
}

/// `busy p...` as printed with `AT+SYSLOG=1`.
fn busy() -> Text {
    t("ERR CODE:0x010b0000\r\n\r\nbusy p...\r\n")
}

/// The five query lines `<prefix>:<id>,<value>` of multi-connection mode.
fn lines5(prefix: &str, values: [&str; 5]) -> String {
    values
        .iter()
        .enumerate()
        .map(|(id, v)| format!("{prefix}:{id}{v}"))
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// The same value for all five ids.
fn all5(prefix: &str, value: &str) -> String {
    lines5(prefix, [value; 5])
}

/// Polls until output appears (at most `max` polls); returns it and the polls it took.
fn poll_until_output(h: &mut H, max: usize) -> (Text, usize) {
    for i in 1..=max {
        let out = h.poll();
        if !out.is_empty() {
            return (t(out.as_bytes()), i);
        }
    }
    (t(""), max)
}

/// The description of a completed client handshake with the given fields.
fn client_note(auth_pki_ca: &str, name: &str, sni: &str, alpn: &str, psk: &str) -> String {
    format!("client auth={auth_pki_ca} name={name} sni={sni} alpn={alpn} psk={psk} time=-")
}

fn tls(h: &H, peer: PeerId) -> Option<String> {
    h.platform.net.peer_tls(peer).map(str::to_owned)
}

/// A world where "secure.example" is [`SERVER`]'s address, booted and joined.
fn joined_with_names() -> H {
    let mut p = world();
    p.net
        .add_host("secure.example", IpAddr::V4(Ipv4Addr::new(192, 168, 4, 10)))
        .unwrap();
    let mut h = boot_on(p);
    join(&mut h);
    h
}

/// Single-connection SSL link 0 to [`SERVER`]; returns the remote end.
fn ssl_single(h: &mut H) -> PeerId {
    expect(
        h,
        "AT+CIPSTART=\"SSL\",\"192.168.4.10\",80",
        "CONNECT\r\n\r\nOK\r\n",
    );
    h.platform.net.accepted(addr(SERVER)).unwrap()
}

/// Multi-connection SSL link `id` to [`SERVER`] (CIPMUX must be 1).
fn ssl_mux(h: &mut H, id: usize) -> PeerId {
    expect(
        h,
        &format!("AT+CIPSTART={id},\"SSL\",\"192.168.4.10\",80"),
        format!("{id},CONNECT\r\n\r\nOK\r\n"),
    );
    h.platform.net.accepted(addr(SERVER)).unwrap()
}

const DEFAULT_NOTE: &str = "client auth=0 pki=0 ca=0 name=192.168.4.10 sni=- alpn=- psk=- time=-";

// ---------------------------------------------------------------------------------------
// The settings commands
// ---------------------------------------------------------------------------------------

#[test]
fn every_ssl_query_lists_id_0_in_single_mode_and_ids_0_to_4_in_multi_mode() {
    let mut h = booted();
    let defaults = [
        ("AT+CIPSSLCCONF?", "+CIPSSLCCONF", ",0,0,0"),
        ("AT+CIPSSLCCN?", "+CIPSSLCCN", ",\"\""),
        ("AT+CIPSSLCSNI?", "+CIPSSLCSNI", ",\"\""),
        ("AT+CIPSSLCALPN?", "+CIPSSLCALPN", ""),
        ("AT+CIPSSLCPSK?", "+CIPSSLCPSK", ",\"\",\"\""),
    ];
    for (q, prefix, value) in defaults {
        query(&mut h, q, &format!("{prefix}:0{value}"));
    }
    ok(&mut h, "AT+CIPMUX=1");
    for (q, prefix, value) in defaults {
        query(&mut h, q, &all5(prefix, value));
    }
}

#[test]
fn ssl_commands_have_only_query_and_set_forms() {
    let mut h = booted();
    for name in [
        "CIPSSLCCONF",
        "CIPSSLCCN",
        "CIPSSLCSNI",
        "CIPSSLCALPN",
        "CIPSSLCPSK",
    ] {
        expect(&mut h, &format!("AT+{name}"), form_err());
        expect(&mut h, &format!("AT+{name}=?"), form_err());
    }
    query(&mut h, "AT+CIPSSLCCONF?", "+CIPSSLCCONF:0,0,0,0");
}

#[test]
fn cipsslcconf_single_connection() {
    let mut h = booted();
    let q = "AT+CIPSSLCCONF?";
    ok(&mut h, "AT+CIPSSLCCONF=3,15,15");
    query(&mut h, q, "+CIPSSLCCONF:0,3,15,15");
    // Omitted indexes are 0.
    ok(&mut h, "AT+CIPSSLCCONF=2");
    query(&mut h, q, "+CIPSSLCCONF:0,2,0,0");
    ok(&mut h, "AT+CIPSSLCCONF=1,,5");
    query(&mut h, q, "+CIPSSLCCONF:0,1,0,5");
    ok(&mut h, "AT+CIPSSLCCONF=0,7");
    query(&mut h, q, "+CIPSSLCCONF:0,0,7,0");
    ok(&mut h, "AT+CIPSSLCCONF=3,7,9");
    let s = "+CIPSSLCCONF:0,3,7,9";
    refused(&mut h, "AT+CIPSSLCCONF=4", &invalid(0), q, s);
    refused(&mut h, "AT+CIPSSLCCONF=-1", &invalid(0), q, s);
    refused(&mut h, "AT+CIPSSLCCONF=1,16", &invalid(1), q, s);
    refused(&mut h, "AT+CIPSSLCCONF=1,-1", &invalid(1), q, s);
    refused(&mut h, "AT+CIPSSLCCONF=2,0,16", &invalid(2), q, s);
    refused(&mut h, "AT+CIPSSLCCONF=2,0,-1", &invalid(2), q, s);
    refused(&mut h, "AT+CIPSSLCCONF=,1", &invalid(0), q, s);
    refused(&mut h, "AT+CIPSSLCCONF=", &count_err(1, 0), q, s);
    // The multi-connection form has one parameter too many.
    refused(&mut h, "AT+CIPSSLCCONF=0,3,7,9", &count_err(3, 4), q, s);
    refused(&mut h, "AT+CIPSSLCCONF=\"1\"", &type_err(0), q, s);
    refused(&mut h, "AT+CIPSSLCCONF=1,\"2\"", &type_err(1), q, s);
    refused(&mut h, "AT+CIPSSLCCONF=1,2,\"3\"", &type_err(2), q, s);
    // Only id 0 exists in single-connection mode.
    ok(&mut h, "AT+CIPMUX=1");
    query(
        &mut h,
        q,
        &lines5(
            "+CIPSSLCCONF",
            [",3,7,9", ",0,0,0", ",0,0,0", ",0,0,0", ",0,0,0"],
        ),
    );
}

#[test]
fn cipsslcconf_multi_connection_takes_an_id_and_5_means_all() {
    let mut h = booted();
    let q = "AT+CIPSSLCCONF?";
    ok(&mut h, "AT+CIPMUX=1");
    ok(&mut h, "AT+CIPSSLCCONF=4,3,1,2");
    let one = lines5(
        "+CIPSSLCCONF",
        [",0,0,0", ",0,0,0", ",0,0,0", ",0,0,0", ",3,1,2"],
    );
    query(&mut h, q, &one);
    refused(&mut h, "AT+CIPSSLCCONF=6,0", &invalid(0), q, &one);
    refused(&mut h, "AT+CIPSSLCCONF=-1,0", &invalid(0), q, &one);
    refused(&mut h, "AT+CIPSSLCCONF=0,4", &invalid(1), q, &one);
    refused(&mut h, "AT+CIPSSLCCONF=0,-1", &invalid(1), q, &one);
    refused(&mut h, "AT+CIPSSLCCONF=0,1,16", &invalid(2), q, &one);
    refused(&mut h, "AT+CIPSSLCCONF=0,3,0,16", &invalid(3), q, &one);
    refused(
        &mut h,
        "AT+CIPSSLCCONF=0,1,0,0,0",
        &count_err(4, 5),
        q,
        &one,
    );
    refused(&mut h, "AT+CIPSSLCCONF=\"0\",1", &type_err(0), q, &one);
    refused(&mut h, "AT+CIPSSLCCONF=0,\"1\"", &type_err(1), q, &one);
    refused(&mut h, "AT+CIPSSLCCONF=0,1,0,\"0\"", &type_err(3), q, &one);
    // The single-connection form: the auth mode is taken for the id, the rest is missing.
    refused(&mut h, "AT+CIPSSLCCONF=2", &count_err(2, 1), q, &one);
    // Too few parameters is a count error before the id is looked at.
    refused(&mut h, "AT+CIPSSLCCONF=", &count_err(2, 0), q, &one);
    ok(&mut h, "AT+CIPSSLCCONF=5,2,3,4");
    query(&mut h, q, &all5("+CIPSSLCCONF", ",2,3,4"));
    ok(&mut h, "AT+CIPSSLCCONF=0,1");
    query(
        &mut h,
        q,
        &lines5(
            "+CIPSSLCCONF",
            [",1,0,0", ",2,3,4", ",2,3,4", ",2,3,4", ",2,3,4"],
        ),
    );
    // Back in single-connection mode, id 0 is shown and set.
    ok(&mut h, "AT+CIPMUX=0");
    query(&mut h, q, "+CIPSSLCCONF:0,1,0,0");
}

/// `AT+CIPSSLCCN` and `AT+CIPSSLCSNI` take the same parameters.
fn name_command(name: &str) {
    let mut h = booted();
    let q = format!("AT+{name}?");
    let q = q.as_str();
    let set = |v: &str| format!("AT+{name}={v}");
    let show = |v: &str| format!("+{name}:0,\"{v}\"");
    ok(&mut h, &set("\"server.example\""));
    query(&mut h, q, &show("server.example"));
    let max = "n".repeat(64);
    ok(&mut h, &set(&format!("\"{max}\"")));
    query(&mut h, q, &show(&max));
    ok(&mut h, &set("\"a\\,b c\""));
    query(&mut h, q, &show("a,b c"));
    // A quote or a control character could not be printed back inside quotes.
    let kept = show("a,b c");
    refused(&mut h, &set("\"a\\\"b\""), &invalid(0), q, &kept);
    refused(&mut h, &set("\"a\tb\""), &invalid(0), q, &kept);
    ok(&mut h, &set("\"host.example\""));
    let s = show("host.example");
    let long = format!("\"{}\"", "n".repeat(65));
    refused(&mut h, &set(&long), &length_err(0), q, &s);
    refused(&mut h, &set("5"), &type_err(0), q, &s);
    refused(&mut h, &set(""), &count_err(1, 0), q, &s);
    refused(&mut h, &set(","), &count_err(1, 2), q, &s);
    refused(&mut h, &set("\"a\",\"b\""), &count_err(1, 2), q, &s);
    // The multi-connection form.
    refused(&mut h, &set("0,\"a\""), &count_err(1, 2), q, &s);
    refused(&mut h, &set("\"\",\"a\""), &count_err(1, 2), q, &s);
    // An empty name clears it.
    ok(&mut h, &set("\"\""));
    query(&mut h, q, &show(""));

    ok(&mut h, "AT+CIPMUX=1");
    let lines = |vals: [&str; 5]| {
        vals.iter()
            .enumerate()
            .map(|(id, v)| format!("+{name}:{id},\"{v}\""))
            .collect::<Vec<_>>()
            .join("\r\n")
    };
    ok(&mut h, &set("2,\"two.example\""));
    let two = lines(["", "", "two.example", "", ""]);
    query(&mut h, q, &two);
    ok(&mut h, &set(&format!("4,\"{max}\"")));
    let two_four = lines(["", "", "two.example", "", &max]);
    query(&mut h, q, &two_four);
    let s = two_four.as_str();
    refused(&mut h, &set(&format!("1,{long}")), &length_err(1), q, s);
    refused(&mut h, &set("6,\"x\""), &invalid(0), q, s);
    refused(&mut h, &set("-1,\"x\""), &invalid(0), q, s);
    refused(&mut h, &set("0,1"), &type_err(1), q, s);
    refused(&mut h, &set("0"), &count_err(2, 1), q, s);
    refused(&mut h, &set("0,\"a\",\"b\""), &count_err(2, 3), q, s);
    // The single-connection form: one parameter too few.
    refused(&mut h, &set("\"x\""), &count_err(2, 1), q, s);
    ok(&mut h, &set("5,\"all.example\""));
    query(&mut h, q, &lines(["all.example"; 5]));
    ok(&mut h, &set("3,\"\""));
    query(
        &mut h,
        q,
        &lines([
            "all.example",
            "all.example",
            "all.example",
            "",
            "all.example",
        ]),
    );
}

#[test]
fn cipsslccn_names_up_to_64_bytes_per_id() {
    name_command("CIPSSLCCN");
}

#[test]
fn cipsslcsni_names_up_to_64_bytes_per_id() {
    name_command("CIPSSLCSNI");
}

#[test]
fn cipsslcalpn_single_connection() {
    let mut h = booted();
    let q = "AT+CIPSSLCALPN?";
    ok(&mut h, "AT+CIPSSLCALPN=2,\"h2\",\"http/1.1\"");
    query(&mut h, q, "+CIPSSLCALPN:0,\"h2\",\"http/1.1\"");
    ok(&mut h, "AT+CIPSSLCALPN=5,\"a\",\"bb\",\"ccc\",\"dd\",\"e\"");
    let five = "+CIPSSLCALPN:0,\"a\",\"bb\",\"ccc\",\"dd\",\"e\"";
    query(&mut h, q, five);
    // 128 bytes in wire format (four names of 31 bytes and their length bytes) fit.
    let n31: Vec<String> = (b'a'..=b'd')
        .map(|c| (c as char).to_string().repeat(31))
        .collect();
    ok(
        &mut h,
        &format!(
            "AT+CIPSSLCALPN=4,\"{}\",\"{}\",\"{}\",\"{}\"",
            n31[0], n31[1], n31[2], n31[3]
        ),
    );
    let full = format!(
        "+CIPSSLCALPN:0,\"{}\",\"{}\",\"{}\",\"{}\"",
        n31[0], n31[1], n31[2], n31[3]
    );
    query(&mut h, q, &full);
    ok(&mut h, "AT+CIPSSLCALPN=1,\"h2\"");
    let s = "+CIPSSLCALPN:0,\"h2\"";
    // 129 bytes do not.
    refused(
        &mut h,
        &format!(
            "AT+CIPSSLCALPN=4,\"{}\",\"{}\",\"{}\",\"{}x\"",
            n31[0], n31[1], n31[2], n31[3]
        ),
        &length_err(4),
        q,
        s,
    );
    let n25 = "z".repeat(25);
    refused(
        &mut h,
        &format!("AT+CIPSSLCALPN=5,\"{n25}\",\"{n25}\",\"{n25}\",\"{n25}\",\"{n25}\""),
        &length_err(5),
        q,
        s,
    );
    refused(&mut h, "AT+CIPSSLCALPN=6", &invalid(0), q, s);
    refused(&mut h, "AT+CIPSSLCALPN=-1", &invalid(0), q, s);
    refused(
        &mut h,
        "AT+CIPSSLCALPN=6,\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"",
        &count_err(6, 7),
        q,
        s,
    );
    // Counts and names must agree, both ways.
    refused(&mut h, "AT+CIPSSLCALPN=2,\"h2\"", &count_err(3, 2), q, s);
    refused(
        &mut h,
        "AT+CIPSSLCALPN=1,\"a\",\"b\"",
        &count_err(2, 3),
        q,
        s,
    );
    refused(&mut h, "AT+CIPSSLCALPN=0,\"a\"", &count_err(1, 2), q, s);
    refused(&mut h, "AT+CIPSSLCALPN=1,\"\"", &length_err(1), q, s);
    refused(&mut h, "AT+CIPSSLCALPN=2,\"a\",\"\"", &length_err(2), q, s);
    refused(&mut h, "AT+CIPSSLCALPN=1,", &invalid(1), q, s);
    refused(&mut h, "AT+CIPSSLCALPN=1,2", &type_err(1), q, s);
    refused(&mut h, "AT+CIPSSLCALPN=\"1\",\"a\"", &type_err(0), q, s);
    refused(&mut h, "AT+CIPSSLCALPN=", &count_err(1, 0), q, s);
    // The multi-connection form: id 0, count 1, one name: one name too many.
    refused(&mut h, "AT+CIPSSLCALPN=0,1,\"h2\"", &count_err(1, 3), q, s);
    // 0 clears.
    ok(&mut h, "AT+CIPSSLCALPN=0");
    query(&mut h, q, "+CIPSSLCALPN:0");
}

#[test]
fn cipsslcalpn_multi_connection() {
    let mut h = booted();
    let q = "AT+CIPSSLCALPN?";
    ok(&mut h, "AT+CIPMUX=1");
    ok(&mut h, "AT+CIPSSLCALPN=3,2,\"h2\",\"http/1.1\"");
    let three = lines5("+CIPSSLCALPN", ["", "", "", ",\"h2\",\"http/1.1\"", ""]);
    query(&mut h, q, &three);
    let s = three.as_str();
    refused(&mut h, "AT+CIPSSLCALPN=6,0", &invalid(0), q, s);
    refused(&mut h, "AT+CIPSSLCALPN=0,6", &invalid(1), q, s);
    refused(&mut h, "AT+CIPSSLCALPN=0,1", &count_err(3, 2), q, s);
    refused(
        &mut h,
        "AT+CIPSSLCALPN=0,1,\"a\",\"b\"",
        &count_err(3, 4),
        q,
        s,
    );
    refused(&mut h, "AT+CIPSSLCALPN=0,1,\"\"", &length_err(2), q, s);
    refused(&mut h, "AT+CIPSSLCALPN=0", &count_err(2, 1), q, s);
    // The single-connection form: a name where the count goes.
    refused(&mut h, "AT+CIPSSLCALPN=1,\"h2\"", &type_err(1), q, s);
    ok(&mut h, "AT+CIPSSLCALPN=5,1,\"mqtt\"");
    query(&mut h, q, &all5("+CIPSSLCALPN", ",\"mqtt\""));
    ok(&mut h, "AT+CIPSSLCALPN=1,0");
    query(
        &mut h,
        q,
        &lines5(
            "+CIPSSLCALPN",
            [",\"mqtt\"", "", ",\"mqtt\"", ",\"mqtt\"", ",\"mqtt\""],
        ),
    );
}

#[test]
fn cipsslcpsk_single_connection() {
    let mut h = booted();
    let q = "AT+CIPSSLCPSK?";
    // The key is kept as given, upper case included.
    ok(&mut h, "AT+CIPSSLCPSK=\"0a1B2c3D\",\"client\"");
    query(&mut h, q, "+CIPSSLCPSK:0,\"0a1B2c3D\",\"client\"");
    let key32 = "0123456789ABCDEFabcdef0123456789";
    let hint32 = "h".repeat(32);
    ok(&mut h, &format!("AT+CIPSSLCPSK=\"{key32}\",\"{hint32}\""));
    query(
        &mut h,
        q,
        &format!("+CIPSSLCPSK:0,\"{key32}\",\"{hint32}\""),
    );
    ok(&mut h, "AT+CIPSSLCPSK=\"C0FFEE\",\"dev\"");
    let s = "+CIPSSLCPSK:0,\"C0FFEE\",\"dev\"";
    let key33 = format!("{key32}0");
    let key34 = format!("{key32}00");
    refused(
        &mut h,
        &format!("AT+CIPSSLCPSK=\"{key33}\",\"x\""),
        &length_err(0),
        q,
        s,
    );
    refused(
        &mut h,
        &format!("AT+CIPSSLCPSK=\"{key34}\",\"x\""),
        &length_err(0),
        q,
        s,
    );
    refused(&mut h, "AT+CIPSSLCPSK=\"abc\",\"x\"", &invalid(0), q, s);
    refused(
        &mut h,
        &format!("AT+CIPSSLCPSK=\"{}\",\"x\"", &key32[..31]),
        &invalid(0),
        q,
        s,
    );
    refused(&mut h, "AT+CIPSSLCPSK=\"zz\",\"x\"", &invalid(0), q, s);
    refused(&mut h, "AT+CIPSSLCPSK=\"0x12\",\"x\"", &invalid(0), q, s);
    refused(&mut h, "AT+CIPSSLCPSK=\"12 4\",\"x\"", &invalid(0), q, s);
    refused(
        &mut h,
        &format!("AT+CIPSSLCPSK=\"abcd\",\"{}\"", "h".repeat(33)),
        &length_err(1),
        q,
        s,
    );
    refused(&mut h, "AT+CIPSSLCPSK=\"abcd\"", &count_err(2, 1), q, s);
    refused(
        &mut h,
        "AT+CIPSSLCPSK=\"abcd\",\"x\",\"y\"",
        &count_err(2, 3),
        q,
        s,
    );
    refused(&mut h, "AT+CIPSSLCPSK=1234,\"x\"", &type_err(0), q, s);
    refused(&mut h, "AT+CIPSSLCPSK=\"1234\",1", &type_err(1), q, s);
    refused(&mut h, "AT+CIPSSLCPSK=\"1234\",", &invalid(1), q, s);
    refused(&mut h, "AT+CIPSSLCPSK=", &count_err(2, 0), q, s);
    // The multi-connection form.
    refused(
        &mut h,
        "AT+CIPSSLCPSK=0,\"abcd\",\"x\"",
        &count_err(2, 3),
        q,
        s,
    );
    // Empty clears.
    ok(&mut h, "AT+CIPSSLCPSK=\"\",\"\"");
    query(&mut h, q, "+CIPSSLCPSK:0,\"\",\"\"");
}

#[test]
fn cipsslcpsk_multi_connection() {
    let mut h = booted();
    let q = "AT+CIPSSLCPSK?";
    ok(&mut h, "AT+CIPMUX=1");
    ok(&mut h, "AT+CIPSSLCPSK=1,\"ABCD\",\"one\"");
    let one = lines5(
        "+CIPSSLCPSK",
        [
            ",\"\",\"\"",
            ",\"ABCD\",\"one\"",
            ",\"\",\"\"",
            ",\"\",\"\"",
            ",\"\",\"\"",
        ],
    );
    query(&mut h, q, &one);
    let s = one.as_str();
    refused(&mut h, "AT+CIPSSLCPSK=6,\"ab\",\"x\"", &invalid(0), q, s);
    refused(&mut h, "AT+CIPSSLCPSK=0,\"abc\",\"x\"", &invalid(1), q, s);
    refused(
        &mut h,
        &format!("AT+CIPSSLCPSK=0,\"ab\",\"{}\"", "h".repeat(33)),
        &length_err(2),
        q,
        s,
    );
    refused(&mut h, "AT+CIPSSLCPSK=0,\"ab\"", &count_err(3, 2), q, s);
    refused(
        &mut h,
        "AT+CIPSSLCPSK=0,\"ab\",\"x\",1",
        &count_err(3, 4),
        q,
        s,
    );
    // The single-connection form: one parameter too few.
    refused(&mut h, "AT+CIPSSLCPSK=\"ab\",\"x\"", &count_err(3, 2), q, s);
    ok(&mut h, "AT+CIPSSLCPSK=5,\"00ff\",\"all\"");
    query(&mut h, q, &all5("+CIPSSLCPSK", ",\"00ff\",\"all\""));
}

// ---------------------------------------------------------------------------------------
// What a restart keeps
// ---------------------------------------------------------------------------------------

/// `AT+RST`, then echo off and `AT+SYSLOG=1` again.
fn restart(h: &mut H) {
    assert_eq!(h.send(b"AT+RST\r\n"), b"\r\nOK\r\n\r\nready\r\n");
    assert_eq!(h.send(b"ATE0\r\n"), b"ATE0\r\n\r\nOK\r\n");
    ok(h, "AT+SYSLOG=1");
}

fn set_everything_on_id_2(h: &mut H) {
    ok(h, "AT+CIPMUX=1");
    ok(h, "AT+CIPSSLCCONF=2,3,1,0");
    ok(h, "AT+CIPSSLCCN=2,\"cn\"");
    ok(h, "AT+CIPSSLCSNI=2,\"sni\"");
    ok(h, "AT+CIPSSLCALPN=2,1,\"h2\"");
    ok(h, "AT+CIPSSLCPSK=2,\"abcd\",\"id\"");
}

fn other_settings_are_defaults(h: &mut H) {
    query(h, "AT+CIPSSLCCN?", &all5("+CIPSSLCCN", ",\"\""));
    query(h, "AT+CIPSSLCSNI?", &all5("+CIPSSLCSNI", ",\"\""));
    query(h, "AT+CIPSSLCALPN?", &all5("+CIPSSLCALPN", ""));
    query(h, "AT+CIPSSLCPSK?", &all5("+CIPSSLCPSK", ",\"\",\"\""));
}

#[test]
fn cipsslcconf_is_stored_with_sysstore_1_and_nothing_else_is() {
    let mut h = booted();
    query(&mut h, "AT+SYSSTORE?", "+SYSSTORE:1");
    set_everything_on_id_2(&mut h);
    restart(&mut h);
    // Single-connection mode after the restart: id 0 only.
    query(&mut h, "AT+CIPSSLCCONF?", "+CIPSSLCCONF:0,0,0,0");
    ok(&mut h, "AT+CIPMUX=1");
    query(
        &mut h,
        "AT+CIPSSLCCONF?",
        &lines5(
            "+CIPSSLCCONF",
            [",0,0,0", ",0,0,0", ",3,1,0", ",0,0,0", ",0,0,0"],
        ),
    );
    other_settings_are_defaults(&mut h);
    // Stored again at the next restart.
    restart(&mut h);
    ok(&mut h, "AT+CIPMUX=1");
    query(
        &mut h,
        "AT+CIPSSLCCONF?",
        &lines5(
            "+CIPSSLCCONF",
            [",0,0,0", ",0,0,0", ",3,1,0", ",0,0,0", ",0,0,0"],
        ),
    );
    // A refused line stores nothing either.
    expect(&mut h, "AT+CIPSSLCCONF=2,1,16", invalid(2));
    restart(&mut h);
    ok(&mut h, "AT+CIPMUX=1");
    query(
        &mut h,
        "AT+CIPSSLCCONF?",
        &lines5(
            "+CIPSSLCCONF",
            [",0,0,0", ",0,0,0", ",3,1,0", ",0,0,0", ",0,0,0"],
        ),
    );
}

#[test]
fn cipsslcconf_is_not_stored_with_sysstore_0() {
    let mut h = booted();
    ok(&mut h, "AT+SYSSTORE=0");
    set_everything_on_id_2(&mut h);
    ok(&mut h, "AT+CIPSSLCCONF=0,1");
    query(
        &mut h,
        "AT+CIPSSLCCONF?",
        &lines5(
            "+CIPSSLCCONF",
            [",1,0,0", ",0,0,0", ",3,1,0", ",0,0,0", ",0,0,0"],
        ),
    );
    restart(&mut h);
    ok(&mut h, "AT+CIPMUX=1");
    query(&mut h, "AT+CIPSSLCCONF?", &all5("+CIPSSLCCONF", ",0,0,0"));
    other_settings_are_defaults(&mut h);
}

#[test]
fn at_restore_forgets_the_stored_cipsslcconf() {
    let mut h = booted();
    ok(&mut h, "AT+CIPSSLCCONF=2,0,3");
    assert_eq!(h.send(b"AT+RESTORE\r\n"), b"\r\nOK\r\n\r\nready\r\n");
    assert_eq!(h.send(b"ATE0\r\n"), b"ATE0\r\n\r\nOK\r\n");
    query(&mut h, "AT+CIPSSLCCONF?", "+CIPSSLCCONF:0,0,0,0");
}

// ---------------------------------------------------------------------------------------
// SSL links
// ---------------------------------------------------------------------------------------

#[test]
fn an_ssl_link_in_single_connection_mode() {
    let mut h = joined();
    let peer = ssl_single(&mut h);
    assert_eq!(tls(&h, peer).as_deref(), Some(DEFAULT_NOTE));
    query(
        &mut h,
        "AT+CIPSTATE?",
        "+CIPSTATE:0,\"SSL\",\"192.168.4.10\",80,49152,0",
    );
    query(
        &mut h,
        "AT+CIPSTATUS",
        "STATUS:3\r\n+CIPSTATUS:0,\"SSL\",\"192.168.4.10\",80,49152,0",
    );
    expect(
        &mut h,
        "AT+CIPSTART=\"SSL\",\"192.168.4.10\",80",
        exec_err(),
    );
    expect(&mut h, "AT+CIPCLOSE", "CLOSED\r\n\r\nOK\r\n");
    assert!(h.platform.net.engine_closed(peer));
    query(&mut h, "AT+CIPSTATUS", "STATUS:4");
}

#[test]
fn an_ssl_link_in_multi_connection_mode() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    let peer = ssl_mux(&mut h, 3);
    assert_eq!(tls(&h, peer).as_deref(), Some(DEFAULT_NOTE));
    connect_mux(&mut h, 0);
    query(
        &mut h,
        "AT+CIPSTATE?",
        "+CIPSTATE:0,\"TCP\",\"192.168.4.10\",80,49153,0\r\n\
         +CIPSTATE:3,\"SSL\",\"192.168.4.10\",80,49152,0",
    );
    expect(&mut h, "AT+CIPCLOSE=3", "3,CLOSED\r\n\r\nOK\r\n");
    assert!(h.platform.net.engine_closed(peer));
}

#[test]
fn an_ssl_link_takes_keep_alive_and_local_ip_like_tcp() {
    let mut h = joined();
    expect(
        &mut h,
        "AT+CIPSTART=\"SSL\",\"192.168.4.10\",80,60,\"192.168.4.2\"",
        "CONNECT\r\n\r\nOK\r\n",
    );
    let peer = h.platform.net.accepted(addr(SERVER)).unwrap();
    let want = SimTcpOptions {
        keep_alive: Some(60),
        ..SimTcpOptions::default()
    };
    assert_eq!(h.platform.net.tcp_options(peer.socket()), Some(want));
    assert_eq!(tls(&h, peer).as_deref(), Some(DEFAULT_NOTE));
    expect(&mut h, "AT+CIPCLOSE", "CLOSED\r\n\r\nOK\r\n");
    // UDP's extra parameters are not SSL's.
    expect(
        &mut h,
        "AT+CIPSTART=\"SSL\",\"192.168.4.10\",80,0,\"\",1",
        count_err(5, 6),
    );
    expect(
        &mut h,
        "AT+CIPSTART=\"SSL\",\"192.168.4.10\",80,7201",
        invalid(3),
    );
    expect(&mut h, "AT+CIPSTATE?", "\r\nOK\r\n");
}

#[test]
fn each_ssl_link_uses_the_settings_of_its_id() {
    let mut h = joined_with_names();
    ok(&mut h, "AT+CIPMUX=1");
    ok(&mut h, "AT+CIPSSLCCONF=1,2,0,0");
    ok(&mut h, "AT+CIPSSLCCN=1,\"cn.example\"");
    ok(&mut h, "AT+CIPSSLCSNI=1,\"sni.example\"");
    ok(&mut h, "AT+CIPSSLCALPN=1,2,\"h2\",\"http/1.1\"");
    // A PSK is used only without certificates (auth mode 0).
    ok(&mut h, "AT+CIPSSLCPSK=1,\"0A0b\",\"id1\"");
    ok(&mut h, "AT+CIPSSLCPSK=3,\"00FF7e\",\"dev\"");
    ok(&mut h, "AT+CIPSSLCCONF=4,3,0,0");
    ok(&mut h, "AT+CIPSSLCPSK=4,\"abcd\",\"id4\"");

    expect(
        &mut h,
        "AT+CIPSTART=1,\"SSL\",\"secure.example\",80",
        "1,CONNECT\r\n\r\nOK\r\n",
    );
    let p1 = h.platform.net.accepted(addr(SERVER)).unwrap();
    assert_eq!(
        tls(&h, p1),
        Some(client_note(
            "2 pki=0 ca=0",
            "cn.example",
            "sni.example",
            "h2,http/1.1",
            "-"
        ))
    );
    // CN and SNI default to the host name.
    expect(
        &mut h,
        "AT+CIPSTART=3,\"SSL\",\"secure.example\",80",
        "3,CONNECT\r\n\r\nOK\r\n",
    );
    let p3 = h.platform.net.accepted(addr(SERVER)).unwrap();
    assert_eq!(
        tls(&h, p3),
        Some(client_note(
            "0 pki=0 ca=0",
            "secure.example",
            "secure.example",
            "-",
            "dev:00ff7e"
        ))
    );
    expect(
        &mut h,
        "AT+CIPSTART=4,\"SSL\",\"192.168.4.10\",80",
        "4,CONNECT\r\n\r\nOK\r\n",
    );
    let p4 = h.platform.net.accepted(addr(SERVER)).unwrap();
    assert_eq!(
        tls(&h, p4),
        Some(client_note("3 pki=0 ca=0", "192.168.4.10", "-", "-", "-"))
    );
    // An IP address: no SNI unless configured; the CN is the address.
    expect(
        &mut h,
        "AT+CIPSTART=0,\"SSL\",\"192.168.4.11\",81",
        "0,CONNECT\r\n\r\nOK\r\n",
    );
    let p0 = h.platform.net.accepted(addr(SERVER2)).unwrap();
    assert_eq!(
        tls(&h, p0),
        Some(client_note("0 pki=0 ca=0", "192.168.4.11", "-", "-", "-"))
    );
    ok(&mut h, "AT+CIPSSLCSNI=2,\"given.example\"");
    expect(
        &mut h,
        "AT+CIPSTART=2,\"SSL\",\"192.168.4.10\",80",
        "2,CONNECT\r\n\r\nOK\r\n",
    );
    let p2 = h.platform.net.accepted(addr(SERVER)).unwrap();
    assert_eq!(
        tls(&h, p2),
        Some(client_note(
            "0 pki=0 ca=0",
            "192.168.4.10",
            "given.example",
            "-",
            "-"
        ))
    );
    query(
        &mut h,
        "AT+CIPSTATE?",
        "+CIPSTATE:0,\"SSL\",\"192.168.4.11\",81,49155,0\r\n\
         +CIPSTATE:1,\"SSL\",\"192.168.4.10\",80,49152,0\r\n\
         +CIPSTATE:2,\"SSL\",\"192.168.4.10\",80,49156,0\r\n\
         +CIPSTATE:3,\"SSL\",\"192.168.4.10\",80,49153,0\r\n\
         +CIPSTATE:4,\"SSL\",\"192.168.4.10\",80,49154,0",
    );
    // Settings changed later apply to the next link, not to the open one.
    ok(&mut h, "AT+CIPSSLCCN=1,\"later\"");
    assert_eq!(
        tls(&h, p1),
        Some(client_note(
            "2 pki=0 ca=0",
            "cn.example",
            "sni.example",
            "h2,http/1.1",
            "-"
        ))
    );
}

#[test]
fn single_connection_links_use_the_settings_of_id_0() {
    let mut h = joined_with_names();
    ok(&mut h, "AT+CIPSSLCCONF=1");
    ok(&mut h, "AT+CIPSSLCCN=\"cn0\"");
    ok(&mut h, "AT+CIPSSLCSNI=\"sni0\"");
    ok(&mut h, "AT+CIPSSLCALPN=3,\"a\",\"b\",\"c\"");
    expect(
        &mut h,
        "AT+CIPSTART=\"SSL\",\"secure.example\",80",
        "CONNECT\r\n\r\nOK\r\n",
    );
    let peer = h.platform.net.accepted(addr(SERVER)).unwrap();
    assert_eq!(
        tls(&h, peer),
        Some(client_note("1 pki=0 ca=0", "cn0", "sni0", "a,b,c", "-"))
    );
}

#[test]
fn the_module_time_reaches_the_tls_configuration_once_sntp_has_set_it() {
    let mut h = joined();
    ok(&mut h, "AT+CIPSNTPCFG=1,0,\"192.168.4.50\"");
    h.poll();
    let mut buf = [0u8; 128];
    let (local, server, n) = h.platform.net.udp_take_sent(&mut buf).unwrap();
    assert_eq!(n, 48);
    let mut answer = [0u8; 48];
    answer[0] = 0x24;
    answer[1] = 1;
    let secs = (1_700_000_000u64 + 2_208_988_800) as u32;
    let ts = (u64::from(secs) << 32).to_be_bytes();
    answer[16..24].copy_from_slice(&ts);
    answer[24..32].copy_from_slice(&buf[40..48]);
    answer[32..40].copy_from_slice(&ts);
    answer[40..48].copy_from_slice(&ts);
    h.platform
        .net
        .udp_peer_inject(local, server, &answer)
        .unwrap();
    assert_eq!(h.poll(), b"\r\n+TIME_UPDATED\r\n");
    h.advance(2_000);
    let peer = ssl_single(&mut h);
    assert_eq!(
        tls(&h, peer).as_deref(),
        Some("client auth=0 pki=0 ca=0 name=192.168.4.10 sni=- alpn=- psk=- time=1700000002")
    );
}

#[test]
fn new_lines_get_busy_while_the_handshake_runs_and_other_links_keep_going() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    let tcp = connect_mux(&mut h, 0);
    h.platform.net.set_tls_delay(20);
    expect(&mut h, "AT+CIPSTART=1,\"SSL\",\"192.168.4.10\",80", "");
    assert!(h.engine.is_busy());
    let peer = h.platform.net.accepted(addr(SERVER)).unwrap();
    assert_eq!(tls(&h, peer), None, "the handshake is not done");
    expect(&mut h, "AT", busy());
    expect(&mut h, "AT+CIPSSLCCONF?", busy());
    h.platform.net.peer_send(tcp, b"ping");
    assert_eq!(h.poll(), b"\r\n+IPD,0,4:ping\r\n");
    // The SSL peer's data waits for the handshake, then follows the result.
    h.platform.net.peer_send(peer, b"early");
    let (out, polls) = poll_until_output(&mut h, 40);
    assert_eq!(out, t("1,CONNECT\r\n\r\nOK\r\n\r\n+IPD,1,5:early\r\n"));
    assert!(polls > 5, "connected after {polls} polls");
    assert!(!h.engine.is_busy());
    assert_eq!(tls(&h, peer).as_deref(), Some(DEFAULT_NOTE));
    ok(&mut h, "AT");
}

#[test]
fn a_failed_handshake_is_an_error_and_leaves_the_id_free() {
    let mut h = joined();
    h.platform.net.fail_next(SimOp::TlsHandshake);
    expect(
        &mut h,
        "AT+CIPSTART=\"SSL\",\"192.168.4.10\",80",
        exec_err(),
    );
    let peer = h.platform.net.accepted(addr(SERVER)).unwrap();
    assert!(
        h.platform.net.engine_closed(peer),
        "the TCP connection closed"
    );
    assert_eq!(h.platform.net.tcp_open_sockets(), 0);
    expect(&mut h, "AT+CIPSTATE?", "\r\nOK\r\n");
    query(&mut h, "AT+CIPSTATUS", "STATUS:2");
    let peer = ssl_single(&mut h);
    assert_eq!(tls(&h, peer).as_deref(), Some(DEFAULT_NOTE));
}

#[test]
fn a_handshake_failing_halfway_is_an_error_and_leaves_the_id_free() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    h.platform.net.set_tls_delay(10);
    expect(&mut h, "AT+CIPSTART=2,\"SSL\",\"192.168.4.10\",80", "");
    assert!(h.engine.is_busy());
    h.platform.net.fail_next(SimOp::TlsHandshake);
    let (out, _) = poll_until_output(&mut h, 5);
    assert_eq!(out, exec_err());
    assert!(!h.engine.is_busy());
    let peer = h.platform.net.accepted(addr(SERVER)).unwrap();
    assert!(h.platform.net.engine_closed(peer));
    assert_eq!(h.platform.net.tcp_open_sockets(), 0);
    h.platform.net.set_tls_delay(0);
    ssl_mux(&mut h, 2);
}

#[test]
fn a_certificate_missing_from_the_store_is_an_error() {
    let mut h = joined();
    // The simulated store holds PKI index 0 and CA index 0 only.
    for conf in ["1,1", "3,1,0", "2,0,1", "3,0,1"] {
        ok(&mut h, &format!("AT+CIPSSLCCONF={conf}"));
        expect(
            &mut h,
            "AT+CIPSTART=\"SSL\",\"192.168.4.10\",80",
            exec_err(),
        );
        let peer = h.platform.net.accepted(addr(SERVER)).unwrap();
        assert!(h.platform.net.engine_closed(peer), "{conf}");
        assert_eq!(h.platform.net.tcp_open_sockets(), 0, "{conf}");
        expect(&mut h, "AT+CIPSTATE?", "\r\nOK\r\n");
    }
    // Indexes a mode does not use do not matter.
    for (conf, note) in [
        ("1,0,1", "1 pki=0 ca=1"),
        ("2,1,0", "2 pki=1 ca=0"),
        ("0,5,5", "0 pki=5 ca=5"),
    ] {
        ok(&mut h, &format!("AT+CIPSSLCCONF={conf}"));
        let peer = ssl_single(&mut h);
        assert_eq!(
            tls(&h, peer),
            Some(client_note(note, "192.168.4.10", "-", "-", "-")),
            "{conf}"
        );
        expect(&mut h, "AT+CIPCLOSE", "CLOSED\r\n\r\nOK\r\n");
    }
}

#[test]
fn a_handshake_that_never_finishes_times_out_15_s_after_cipstart() {
    let mut h = joined();
    h.platform.net.set_tls_delay(255);
    expect(&mut h, "AT+CIPSTART=\"SSL\",\"192.168.4.10\",80", "");
    assert_eq!(h.advance(10_000), b"");
    assert_eq!(h.advance(4_999), b"", "14999 ms: still handshaking");
    assert!(h.engine.is_busy());
    assert_eq!(h.advance(1), exec_err(), "15000 ms: timeout");
    assert!(!h.engine.is_busy());
    let peer = h.platform.net.accepted(addr(SERVER)).unwrap();
    assert!(h.platform.net.engine_closed(peer));
    assert_eq!(h.platform.net.tcp_open_sockets(), 0);
    expect(&mut h, "AT+CIPSTATE?", "\r\nOK\r\n");
    h.platform.net.set_tls_delay(0);
    ssl_single(&mut h);
}

#[test]
fn an_sslv6_link_to_an_ipv6_server() {
    let mut p = world();
    p.net.listen(addr("[2001:db8::10]:443")).unwrap();
    let mut h = boot_on(p);
    join(&mut h);
    expect(
        &mut h,
        "AT+CIPSTART=\"SSLv6\",\"2001:db8::10\",443",
        "CONNECT\r\n\r\nOK\r\n",
    );
    let peer = h.platform.net.accepted(addr("[2001:db8::10]:443")).unwrap();
    assert_eq!(
        tls(&h, peer),
        Some(client_note("0 pki=0 ca=0", "2001:db8::10", "-", "-", "-"))
    );
    query(
        &mut h,
        "AT+CIPSTATE?",
        "+CIPSTATE:0,\"SSLv6\",\"2001:db8::10\",443,49152,0",
    );
    expect(&mut h, "AT+CIPCLOSE", "CLOSED\r\n\r\nOK\r\n");
    // The address family must match, and IPv6 must be on.
    expect(
        &mut h,
        "AT+CIPSTART=\"SSLv6\",\"192.168.4.10\",80",
        exec_err(),
    );
    expect(
        &mut h,
        "AT+CIPSTART=\"SSL\",\"2001:db8::10\",443",
        exec_err(),
    );
    ok(&mut h, "AT+CIPV6=0");
    expect(
        &mut h,
        "AT+CIPSTART=\"SSLv6\",\"2001:db8::10\",443",
        exec_err(),
    );
    expect(&mut h, "AT+CIPSTATE?", "\r\nOK\r\n");
}

#[test]
fn cipstartex_opens_an_ssl_link_on_the_lowest_free_id_with_its_settings() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    ok(&mut h, "AT+CIPSSLCCN=1,\"one\"");
    ok(&mut h, "AT+CIPSSLCALPN=1,1,\"x1\"");
    connect_mux(&mut h, 0);
    expect(
        &mut h,
        "AT+CIPSTARTEX=\"SSL\",\"192.168.4.10\",80",
        "1,CONNECT\r\n\r\nOK\r\n",
    );
    let peer = h.platform.net.accepted(addr(SERVER)).unwrap();
    assert_eq!(
        tls(&h, peer),
        Some(client_note("0 pki=0 ca=0", "one", "-", "x1", "-"))
    );
    query(
        &mut h,
        "AT+CIPSTATE?",
        "+CIPSTATE:0,\"TCP\",\"192.168.4.10\",80,49152,0\r\n\
         +CIPSTATE:1,\"SSL\",\"192.168.4.10\",80,49153,0",
    );
    // Single-connection mode: id 0.
    expect(
        &mut h,
        "AT+CIPCLOSE=5",
        "0,CLOSED\r\n1,CLOSED\r\n\r\nOK\r\n",
    );
    ok(&mut h, "AT+CIPMUX=0");
    expect(
        &mut h,
        "AT+CIPSTARTEX=\"SSL\",\"192.168.4.10\",80",
        "CONNECT\r\n\r\nOK\r\n",
    );
    let peer = h.platform.net.accepted(addr(SERVER)).unwrap();
    assert_eq!(tls(&h, peer).as_deref(), Some(DEFAULT_NOTE));
}

// ---------------------------------------------------------------------------------------
// Data over SSL links
// ---------------------------------------------------------------------------------------

#[test]
fn cipsend_and_active_ipd_over_an_ssl_link() {
    let mut h = joined();
    let peer = ssl_single(&mut h);
    expect(&mut h, "AT+CIPSEND=5", "\r\nOK\r\n\r\n>");
    assert_eq!(h.send(b"hello"), b"\r\nRecv 5 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(h.platform.net.peer_received(peer), b"hello");
    let data: Vec<u8> = (0..=255u8).collect();
    h.platform.net.peer_send(peer, &data);
    let mut want = b"\r\n+IPD,256:".to_vec();
    want.extend_from_slice(&data);
    want.extend_from_slice(b"\r\n");
    assert_eq!(h.poll(), t(want));
    expect(&mut h, "AT+CIPSENDEX=8", "\r\nOK\r\n\r\n>");
    assert_eq!(h.send(b"ab\\0"), b"\r\nRecv 4 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(h.platform.net.peer_received(peer), b"helloab");
    h.platform.net.peer_send(peer, b"bye");
    h.platform.net.peer_close(peer);
    assert_eq!(drain(&mut h, 5), b"\r\n+IPD,3:bye\r\n\r\nCLOSED\r\n");
    expect(&mut h, "AT+CIPSEND=1", exec_err());
}

#[test]
fn multi_connection_ipd_over_ssl_links_with_cipdinfo() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    ok(&mut h, "AT+CIPDINFO=1");
    let p2 = ssl_mux(&mut h, 2);
    let p4 = ssl_mux(&mut h, 4);
    h.platform.net.peer_send(p2, b"two");
    h.platform.net.peer_send(p4, b"four");
    assert_eq!(
        h.poll(),
        b"\r\n+IPD,2,3,\"192.168.4.10\",80:two\r\n\r\n+IPD,4,4,\"192.168.4.10\",80:four\r\n"
    );
    expect(&mut h, "AT+CIPSEND=4,3", "\r\nOK\r\n\r\n>");
    assert_eq!(h.send(b"abc"), b"\r\nRecv 3 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(h.platform.net.peer_received(p4), b"abc");
    assert_eq!(h.platform.net.peer_received(p2), b"");
    h.platform.net.peer_reset(p2);
    assert_eq!(h.poll(), b"\r\n2,CLOSED\r\n");
}

#[test]
fn passive_receive_over_an_ssl_link_counts_plaintext_bytes() {
    let mut h = joined();
    ok(&mut h, "AT+CIPRECVMODE=1");
    ok(&mut h, "AT+CIPMUX=1");
    let peer = ssl_mux(&mut h, 1);
    query(&mut h, "AT+CIPRECVLEN?", "+CIPRECVLEN:-1,0,-1,-1,-1");
    h.platform.net.peer_send(peer, b"hello world");
    assert_eq!(h.poll(), b"\r\n+IPD,1,11\r\n");
    h.platform.net.peer_send(peer, b"!!");
    assert_eq!(h.poll(), b"");
    query(&mut h, "AT+CIPRECVLEN?", "+CIPRECVLEN:-1,13,-1,-1,-1");
    expect(
        &mut h,
        "AT+CIPRECVDATA=1,5",
        "+CIPRECVDATA:5,hello\r\nOK\r\n\r\n+IPD,1,8\r\n",
    );
    expect(
        &mut h,
        "AT+CIPRECVDATA=1,100",
        "+CIPRECVDATA:8, world!!\r\nOK\r\n",
    );
    query(&mut h, "AT+CIPRECVLEN?", "+CIPRECVLEN:-1,0,-1,-1,-1");
    // CLOSED waits until the data has been read.
    h.platform.net.peer_send(peer, b"end");
    h.platform.net.peer_close(peer);
    assert_eq!(drain(&mut h, 5), b"\r\n+IPD,1,3\r\n");
    expect(
        &mut h,
        "AT+CIPRECVDATA=1,3",
        "+CIPRECVDATA:3,end\r\nOK\r\n\r\n1,CLOSED\r\n",
    );
    query(&mut h, "AT+CIPRECVLEN?", "+CIPRECVLEN:-1,-1,-1,-1,-1");
}

#[test]
fn passive_receive_over_an_ssl_link_in_single_connection_mode() {
    let mut h = joined();
    ok(&mut h, "AT+CIPRECVMODE=1");
    let peer = ssl_single(&mut h);
    h.platform.net.peer_send(peer, b"abc\r\ndef");
    assert_eq!(h.poll(), b"\r\n+IPD,8\r\n");
    query(&mut h, "AT+CIPRECVLEN?", "+CIPRECVLEN:8,-1,-1,-1,-1");
    expect(
        &mut h,
        "AT+CIPRECVDATA=8",
        "+CIPRECVDATA:8,abc\r\ndef\r\nOK\r\n",
    );
}

#[test]
fn transparent_transmission_over_an_ssl_link() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMODE=1");
    let peer = ssl_single(&mut h);
    expect(&mut h, "AT+CIPSEND", "\r\nOK\r\n\r\n>");
    assert!(h.engine.in_data_mode());
    let block: Vec<u8> = (0..512u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(h.send(&block), b"");
    assert_eq!(h.platform.net.peer_received(peer), block.as_slice());
    assert_eq!(h.send(b"tail"), b"");
    assert_eq!(h.advance(29), b"");
    assert_eq!(h.platform.net.peer_received(peer).len(), 512);
    assert_eq!(h.advance(1), b"");
    let mut want = block.clone();
    want.extend_from_slice(b"tail");
    assert_eq!(h.platform.net.peer_received(peer), want.as_slice());
    // Toward the host: raw bytes, no +IPD.
    h.platform.net.peer_send(peer, b"\r\n+IPD,raw\x00\xff");
    assert_eq!(h.poll(), b"\r\n+IPD,raw\x00\xff");
    // +++ leaves silently; the link stays.
    h.advance(100);
    assert_eq!(h.send(b"+++"), b"");
    assert_eq!(h.advance(30), b"");
    assert!(!h.engine.in_data_mode());
    ok(&mut h, "AT");
    query(
        &mut h,
        "AT+CIPSTATE?",
        "+CIPSTATE:0,\"SSL\",\"192.168.4.10\",80,49152,0",
    );
    expect(&mut h, "AT+CIPSEND", "\r\nOK\r\n\r\n>");
    h.send(b"again");
    h.advance(30);
    want.extend_from_slice(b"again");
    assert_eq!(h.platform.net.peer_received(peer), want.as_slice());
}

#[test]
fn transparent_mode_reconnects_a_dropped_ssl_link_with_tls() {
    let mut h = joined();
    ok(&mut h, "AT+CIPSSLCCN=\"again.example\"");
    ok(&mut h, "AT+CIPMODE=1");
    let peer = ssl_single(&mut h);
    expect(&mut h, "AT+CIPSEND", "\r\nOK\r\n\r\n>");
    h.platform.net.peer_close(peer);
    assert_eq!(h.poll(), b"", "nothing in the raw stream");
    h.platform.net.set_tls_delay(3);
    assert_eq!(h.advance(100), b"");
    let again = h
        .platform
        .net
        .accepted(addr(SERVER))
        .expect("reconnected after CIPRECONNINTV");
    assert_eq!(tls(&h, again), None, "handshaking");
    for _ in 0..5 {
        assert_eq!(h.poll(), b"");
    }
    assert_eq!(
        tls(&h, again),
        Some(client_note("0 pki=0 ca=0", "again.example", "-", "-", "-"))
    );
    h.send(b"data");
    h.advance(30);
    assert_eq!(h.platform.net.peer_received(again), b"data");
    h.platform.net.peer_send(again, b"back");
    assert_eq!(h.poll(), b"back");
}

#[test]
fn a_reconnection_whose_handshake_stalls_is_given_up_after_10_s_and_retried() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMODE=1");
    let peer = ssl_single(&mut h);
    expect(&mut h, "AT+CIPSEND", "\r\nOK\r\n\r\n>");
    h.platform.net.peer_close(peer);
    assert_eq!(h.poll(), b"");
    h.platform.net.set_tls_delay(255);
    assert_eq!(h.advance(100), b"");
    let stalled = h.platform.net.accepted(addr(SERVER)).unwrap();
    assert_eq!(h.advance(9_999), b"");
    assert!(
        !h.platform.net.engine_closed(stalled),
        "9999 ms: still handshaking"
    );
    assert_eq!(
        h.engine.poll_delay(h.now),
        Some(at_core::Duration::from_millis(1)),
        "the engine asks to be polled at the handshake timeout"
    );
    h.platform.net.set_tls_delay(0);
    assert_eq!(h.advance(1), b"");
    assert!(h.platform.net.engine_closed(stalled), "10 s: given up");
    assert_eq!(h.platform.net.tcp_open_sockets(), 0);
    assert_eq!(h.advance(99), b"");
    assert!(h.platform.net.accepted(addr(SERVER)).is_none());
    assert_eq!(h.advance(1), b"");
    let again = h
        .platform
        .net
        .accepted(addr(SERVER))
        .expect("retried after CIPRECONNINTV");
    assert_eq!(tls(&h, again).as_deref(), Some(DEFAULT_NOTE));
    assert!(h.engine.in_data_mode());
    h.send(b"data");
    h.advance(30);
    assert_eq!(h.platform.net.peer_received(again), b"data");
}

// ---------------------------------------------------------------------------------------
// The SSL server
// ---------------------------------------------------------------------------------------

const SSL_PORT: u16 = 443;

/// Joined, CIPMUX=1, then `setup` lines, then `AT+CIPSERVER=1,443,"SSL",<ca>`.
fn ssl_server(ca: u8, setup: &[&str]) -> H {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    for l in setup {
        ok(&mut h, l);
    }
    ok(&mut h, &format!("AT+CIPSERVER=1,{SSL_PORT},\"SSL\",{ca}"));
    h
}

/// A client at 192.168.4.`host`:40000 connects to the SSL server.
fn client(h: &mut H, host: u8) -> PeerId {
    let to = addr(&format!("{LOCAL_IP}:{SSL_PORT}"));
    let from = addr(&format!("192.168.4.{host}:40000"));
    h.platform.net.peer_connect(to, from).unwrap()
}

#[test]
fn cipserver_ssl_query_and_ca_enable() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    let q = "AT+CIPSERVER?";
    ok(&mut h, "AT+CIPSERVER=1,443,\"SSL\",1");
    query(&mut h, q, "+CIPSERVER:1,443,\"SSL\",1");
    expect(&mut h, "AT+CIPSERVER=1,444,\"SSL\",1", exec_err());
    query(&mut h, q, "+CIPSERVER:1,443,\"SSL\",1");
    ok(&mut h, "AT+CIPSERVER=0");
    ok(&mut h, "AT+CIPSERVER=1,443,\"SSL\"");
    query(&mut h, q, "+CIPSERVER:1,443,\"SSL\",0");
    ok(&mut h, "AT+CIPSERVER=0");
    let off = "+CIPSERVER:0";
    refused(&mut h, "AT+CIPSERVER=1,443,\"TCP\",1", &exec_err(), q, off);
    refused(
        &mut h,
        "AT+CIPSERVER=1,443,\"TCPv6\",1",
        &exec_err(),
        q,
        off,
    );
    refused(&mut h, "AT+CIPSERVER=1,443,\"SSL\",2", &invalid(3), q, off);
    refused(&mut h, "AT+CIPSERVER=1,443,\"SSL\",-1", &invalid(3), q, off);
    refused(
        &mut h,
        "AT+CIPSERVER=1,443,\"SSL\",\"1\"",
        &type_err(3),
        q,
        off,
    );
    refused(&mut h, "AT+CIPSERVER=1,443,\"TLS\"", &invalid(2), q, off);
    ok(&mut h, "AT+CIPSERVER=1,443,\"TCP\",0");
    query(&mut h, q, "+CIPSERVER:1,443,\"TCP\",0");
    ok(&mut h, "AT+CIPSERVER=0");
    // The server needs multi-connection mode.
    ok(&mut h, "AT+CIPMUX=0");
    refused(&mut h, "AT+CIPSERVER=1,443,\"SSL\",1", &exec_err(), q, off);
}

#[test]
fn an_ssl_client_is_announced_only_after_its_handshake() {
    let mut h = ssl_server(1, &[]);
    h.platform.net.set_tls_delay(3);
    let peer = client(&mut h, 50);
    assert_eq!(h.poll(), b"");
    assert_eq!(h.poll(), b"");
    assert_eq!(h.poll(), b"");
    assert_eq!(tls(&h, peer), None, "still handshaking");
    assert_eq!(h.poll(), b"\r\n0,CONNECT\r\n");
    assert_eq!(tls(&h, peer).as_deref(), Some("server verify=1 time=-"));
    assert!(!h.platform.net.engine_closed(peer));
    query(
        &mut h,
        "AT+CIPSTATE?",
        "+CIPSTATE:0,\"SSL\",\"192.168.4.50\",40000,443,1",
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
fn sysmsg_2_announces_an_ssl_client_with_link_conn_after_its_handshake() {
    let mut h = ssl_server(0, &["AT+SYSMSG=2"]);
    h.platform.net.set_tls_delay(1);
    let peer = client(&mut h, 50);
    assert_eq!(h.poll(), b"");
    assert_eq!(
        h.poll(),
        b"\r\n+LINK_CONN:0,0,\"SSL\",1,\"192.168.4.50\",40000,443\r\n"
    );
    assert_eq!(tls(&h, peer).as_deref(), Some("server verify=0 time=-"));
}

#[test]
fn the_ssl_server_takes_one_client_at_a_time() {
    let mut h = ssl_server(0, &[]);
    let a = client(&mut h, 50);
    assert_eq!(h.poll(), b"\r\n0,CONNECT\r\n");
    let b = client(&mut h, 51);
    assert_eq!(h.poll(), b"", "nothing about the second");
    assert!(h.platform.net.engine_closed(b), "the second is closed");
    assert!(!h.platform.net.engine_closed(a));
    assert_eq!(h.platform.net.peer_send(b, b"x"), 0);
    query(
        &mut h,
        "AT+CIPSTATE?",
        "+CIPSTATE:0,\"SSL\",\"192.168.4.50\",40000,443,1",
    );
    // The module's own links do not count.
    ssl_mux(&mut h, 3);
    h.platform.net.peer_close(a);
    assert_eq!(h.poll(), b"\r\n0,CLOSED\r\n");
    let c = client(&mut h, 52);
    assert_eq!(h.poll(), b"\r\n0,CONNECT\r\n");
    assert!(!h.platform.net.engine_closed(c));
}

#[test]
fn a_second_client_is_refused_while_the_first_is_still_handshaking() {
    let mut h = ssl_server(0, &[]);
    h.platform.net.set_tls_delay(5);
    let a = client(&mut h, 50);
    assert_eq!(h.poll(), b"");
    let b = client(&mut h, 51);
    assert_eq!(h.poll(), b"");
    assert!(h.platform.net.engine_closed(b));
    assert!(!h.platform.net.engine_closed(a));
    let (out, _) = poll_until_output(&mut h, 10);
    assert_eq!(out, t("\r\n0,CONNECT\r\n"));
}

#[test]
fn a_client_whose_handshake_fails_is_never_announced_and_its_id_stays_free() {
    let mut h = ssl_server(1, &[]);
    h.platform.net.fail_next(SimOp::TlsHandshake);
    let a = client(&mut h, 50);
    assert_eq!(drain(&mut h, 5), b"");
    assert!(h.platform.net.engine_closed(a));
    expect(&mut h, "AT+CIPSTATE?", "\r\nOK\r\n");
    // Failing halfway.
    h.platform.net.set_tls_delay(5);
    let b = client(&mut h, 51);
    assert_eq!(h.poll(), b"");
    h.platform.net.fail_next(SimOp::TlsHandshake);
    assert_eq!(drain(&mut h, 5), b"");
    assert!(h.platform.net.engine_closed(b));
    h.platform.net.set_tls_delay(0);
    let c = client(&mut h, 52);
    assert_eq!(h.poll(), b"\r\n0,CONNECT\r\n");
    assert_eq!(tls(&h, c).as_deref(), Some("server verify=1 time=-"));
}

#[test]
fn a_client_that_closes_during_its_handshake_is_never_announced() {
    let mut h = ssl_server(0, &[]);
    h.platform.net.set_tls_delay(3);
    let a = client(&mut h, 50);
    assert_eq!(h.poll(), b"");
    h.platform.net.peer_close(a);
    assert_eq!(drain(&mut h, 10), b"");
    assert!(h.platform.net.engine_closed(a));
    expect(&mut h, "AT+CIPSTATE?", "\r\nOK\r\n");
    let b = client(&mut h, 51);
    h.platform.net.peer_reset(b);
    assert_eq!(drain(&mut h, 10), b"");
    assert!(h.platform.net.engine_closed(b));
    h.platform.net.set_tls_delay(0);
    client(&mut h, 52);
    assert_eq!(h.poll(), b"\r\n0,CONNECT\r\n");
}

#[test]
fn a_client_whose_handshake_takes_10_s_is_dropped_silently() {
    let mut h = ssl_server(0, &[]);
    h.platform.net.set_tls_delay(255);
    let a = client(&mut h, 50);
    assert_eq!(h.poll(), b"");
    assert_eq!(h.advance(9_999), b"");
    assert!(!h.platform.net.engine_closed(a));
    assert_eq!(h.advance(1), b"", "dropped without a word");
    assert!(h.platform.net.engine_closed(a));
    h.platform.net.set_tls_delay(0);
    client(&mut h, 51);
    assert_eq!(h.poll(), b"\r\n0,CONNECT\r\n");
}

#[test]
fn the_engine_asks_to_be_polled_at_the_handshake_timeout() {
    let mut h = ssl_server(0, &["AT+CIPSTO=0"]);
    h.platform.net.set_tls_delay(255);
    client(&mut h, 50);
    h.poll();
    assert_eq!(
        h.engine.poll_delay(h.now),
        Some(at_core::Duration::from_secs(10))
    );
}

#[test]
fn cipsto_shorter_than_a_handshake_does_not_report_an_unannounced_client() {
    let mut h = ssl_server(0, &["AT+CIPSTO=1"]);
    h.platform.net.set_tls_delay(255);
    let a = client(&mut h, 50);
    assert_eq!(h.poll(), b"");
    assert_eq!(
        h.advance(1_000),
        b"",
        "no CLOSED for a client never announced"
    );
    assert_eq!(h.advance(9_000), b"");
    assert!(h.platform.net.engine_closed(a));
    // An announced client still times out with CLOSED.
    h.platform.net.set_tls_delay(0);
    client(&mut h, 51);
    assert_eq!(h.poll(), b"\r\n0,CONNECT\r\n");
    assert_eq!(h.advance(999), b"");
    assert_eq!(h.advance(1), b"\r\n0,CLOSED\r\n");
}

#[test]
fn a_client_still_handshaking_is_not_a_link_yet() {
    let mut h = ssl_server(0, &[]);
    ok(&mut h, "AT+CIPRECVMODE=1");
    h.platform.net.set_tls_delay(50);
    let a = client(&mut h, 50);
    assert_eq!(h.poll(), b"");
    expect(&mut h, "AT+CIPSTATE?", "\r\nOK\r\n");
    query(&mut h, "AT+CIPSTATUS", "STATUS:2");
    query(&mut h, "AT+CIPRECVLEN?", "+CIPRECVLEN:-1,-1,-1,-1,-1");
    expect(&mut h, "AT+CIPSEND=0,1", exec_err());
    expect(&mut h, "AT+CIPCLOSE=0", exec_err());
    expect(&mut h, "AT+CIPRECVDATA=0,1", exec_err());
    // Closing every link, or the server with its clients, closes it without a word.
    ok(&mut h, "AT+CIPCLOSE=5");
    assert!(h.platform.net.engine_closed(a));
    let b = client(&mut h, 51);
    assert_eq!(h.poll(), b"");
    ok(&mut h, "AT+CIPSERVER=0,1");
    assert!(h.platform.net.engine_closed(b));
    assert_eq!(drain(&mut h, 60), b"");
    // No link was ever announced.
    query(&mut h, "AT+CIPSTATUS", "STATUS:2");
}

#[test]
fn leaving_the_access_point_drops_a_handshaking_client_without_a_word() {
    let mut h = ssl_server(0, &[]);
    h.platform.net.set_tls_delay(50);
    let a = client(&mut h, 50);
    assert_eq!(h.poll(), b"");
    h.platform.net.set_tls_delay(0);
    let peer = ssl_mux(&mut h, 1);
    expect(
        &mut h,
        "AT+CWQAP",
        "\r\nOK\r\n\r\nWIFI DISCONNECT\r\n\r\n1,CLOSED\r\n",
    );
    assert!(h.platform.net.engine_closed(a));
    assert!(h.platform.net.engine_closed(peer));
}

#[test]
fn an_sslv6_server_accepts_ipv6_clients() {
    let mut h = joined();
    ok(&mut h, "AT+CIPMUX=1");
    ok(&mut h, "AT+CIPSERVER=1,443,\"SSLv6\",0");
    query(&mut h, "AT+CIPSERVER?", "+CIPSERVER:1,443,\"SSLv6\",0");
    let peer = h
        .platform
        .net
        .peer_connect(addr("[2001:db8::2]:443"), addr("[2001:db8::50]:40000"))
        .unwrap();
    assert_eq!(h.poll(), b"\r\n0,CONNECT\r\n");
    assert_eq!(tls(&h, peer).as_deref(), Some("server verify=0 time=-"));
    query(
        &mut h,
        "AT+CIPSTATE?",
        "+CIPSTATE:0,\"SSLv6\",\"2001:db8::50\",40000,443,1",
    );
    ok(&mut h, "AT+CIPSERVER=0");
    ok(&mut h, "AT+CIPSERVER=1,443,\"SSLv6\",1");
    query(&mut h, "AT+CIPSERVER?", "+CIPSERVER:1,443,\"SSLv6\",1");
    ok(&mut h, "AT+CIPSERVER=0");
    // The client stays, and keeps IPv6 on.
    expect(&mut h, "AT+CIPV6=0", exec_err());
    expect(&mut h, "AT+CIPCLOSE=0", "0,CLOSED\r\n\r\nOK\r\n");
    ok(&mut h, "AT+CIPV6=0");
    refused(
        &mut h,
        "AT+CIPSERVER=1,443,\"SSLv6\",0",
        &exec_err(),
        "AT+CIPSERVER?",
        "+CIPSERVER:0",
    );
}
