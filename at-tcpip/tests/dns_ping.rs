//! Names and reachability: `AT+CIPDNS`, `AT+CIPDOMAIN` and `AT+PING` on the simulated
//! platform, with the clock under the test's control and exact bytes
//! (`w800-tcpip-at.rst` sections AT+CIPDNS, AT+CIPDOMAIN, AT+PING; `WIRE.md`).
//!
//! With automatic DNS the names come from the simulation's host table (`add_host`). With
//! manual servers the test plays the DNS server: it takes the query datagram the engine
//! sent, decodes it by hand (header, question) and injects a hand-built response, or
//! lets the query time out (2 s per query, 2 queries per server, then the next server).

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use at_core::net::NetPlatform;

use common::*;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

const DEFAULTS: &str = "+CIPDNS:0,\"208.67.222.222\",\"8.8.8.8\"";
/// The two manual DNS servers of the resolver tests (in the station's subnet).
const DNS1: &str = "192.168.4.53";
const DNS2: &str = "192.168.4.54";
/// A busy refusal as printed with `AT+SYSLOG=1`.
const BUSY: &str = "ERR CODE:0x010b0000\r\n\r\nbusy p...\r\n";

const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_NS: u16 = 2;
const TYPE_SOA: u16 = 6;
const TYPE_AAAA: u16 = 28;
const RCODE_SERVFAIL: u8 = 2;
const RCODE_NXDOMAIN: u8 = 3;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Sends `line` (without terminator) and expects `want`.
fn expect(h: &mut H, line: &str, want: impl AsRef<[u8]>) {
    let got = h.send(format!("{line}\r\n").as_bytes());
    assert_eq!(got, t(want), "response to {line}");
}

fn ok(h: &mut H, line: &str) {
    expect(h, line, "\r\nOK\r\n");
}

fn cipdns_is(h: &mut H, state: &str) {
    expect(h, "AT+CIPDNS?", format!("{state}\r\n\r\nOK\r\n"));
}

fn domain_ok(addr: &str) -> Text {
    t(format!("+CIPDOMAIN:\"{addr}\"\r\n\r\nOK\r\n"))
}

/// `+PING:TIMEOUT` then `ERROR` (with `AT+SYSLOG=1`: the ERR CODE in between).
fn ping_timeout() -> Text {
    t("+PING:TIMEOUT\r\nERR CODE:0x010a0000\r\n\r\nERROR\r\n")
}

/// A world whose host table has names of every kind.
fn hosts_world() -> at_core::sim::SimPlatform {
    let mut p = world();
    let net = &mut p.net;
    net.add_host("www.example.com", ip("93.184.216.34"))
        .unwrap();
    net.add_host("www.example.com", ip("2606:2800:220:1:248:1893:25c8:1946"))
        .unwrap();
    net.add_host("v6only.example", ip("2001:db8:6::6")).unwrap();
    net.add_host("v4only.example", ip("198.51.100.4")).unwrap();
    net.add_host("gw.example", ip("192.168.4.1")).unwrap();
    net.add_host("ipv6.example", ip("2001:db8::10")).unwrap();
    p
}

/// Joined, automatic DNS, the [`hosts_world`] names.
fn joined_hosts() -> H {
    let mut h = boot_on(hosts_world());
    join(&mut h);
    h
}

/// Joined, manual servers [`DNS1`] then [`DNS2`].
fn joined_manual() -> H {
    let mut h = joined();
    ok(&mut h, &format!("AT+CIPDNS=1,\"{DNS1}\",\"{DNS2}\""));
    cipdns_is(&mut h, &format!("+CIPDNS:1,\"{DNS1}\",\"{DNS2}\""));
    h
}

/// A DNS query as the engine sent it.
#[derive(Clone, Debug)]
struct Query {
    /// The engine's local address and the server's address.
    local: SocketAddr,
    server: SocketAddr,
    id: u16,
    name: String,
    qtype: u16,
    /// The question section exactly as sent (echoed in responses).
    question: Vec<u8>,
}

/// Decodes a standard query with one question by hand (RFC 1035 section 4.1) and checks
/// it is well formed: QR=0, OPCODE=0, RD=1, RCODE=0, one question, no answers or
/// authorities, labels of 1..=63 bytes without compression, class IN, nothing after the
/// question unless ARCOUNT announces it.
fn decode_query(local: SocketAddr, server: SocketAddr, b: &[u8]) -> Query {
    assert!(b.len() >= 12 + 1 + 4, "DNS query too short: {b:02x?}");
    let be = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    let (id, flags) = (be(0), be(2));
    assert_eq!(flags & 0x8000, 0, "QR must be 0 (query): {flags:#06x}");
    assert_eq!((flags >> 11) & 0xf, 0, "OPCODE must be QUERY: {flags:#06x}");
    assert_ne!(
        flags & 0x0100,
        0,
        "RD must be set by a stub resolver: {flags:#06x}"
    );
    assert_eq!(
        flags & 0x000f,
        0,
        "RCODE must be 0 in a query: {flags:#06x}"
    );
    assert_eq!(be(4), 1, "QDCOUNT");
    assert_eq!(be(6), 0, "ANCOUNT");
    assert_eq!(be(8), 0, "NSCOUNT");
    let arcount = be(10);
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(b[pos]);
        pos += 1;
        if len == 0 {
            break;
        }
        assert!(len <= 63, "label length {len} (no compression in a query)");
        let label = std::str::from_utf8(&b[pos..pos + len]).expect("ASCII label");
        labels.push(label.to_owned());
        pos += len;
    }
    let qtype = be(pos);
    assert_eq!(be(pos + 2), 1, "QCLASS IN");
    pos += 4;
    if arcount == 0 {
        assert_eq!(pos, b.len(), "bytes after the question");
    }
    Query {
        local,
        server,
        id,
        name: labels.join("."),
        qtype,
        question: b[12..pos].to_vec(),
    }
}

/// Takes the oldest datagram the engine sent and decodes it as a DNS query.
fn take_query(h: &mut H) -> Query {
    let mut buf = [0u8; 1024];
    let (local, server, n) = h
        .platform
        .net
        .udp_take_sent(&mut buf)
        .expect("the engine sent a DNS query");
    decode_query(local, server, &buf[..n])
}

/// Takes the next query and checks where it went and what it asks.
fn expect_query(h: &mut H, server: &str, name: &str, qtype: u16) -> Query {
    let q = take_query(h);
    assert_eq!(q.server, SocketAddr::new(ip(server), 53), "query sent to");
    assert_eq!(q.name, name, "question name");
    assert_eq!(q.qtype, qtype, "question type");
    assert_eq!(
        q.local.ip(),
        if q.server.is_ipv4() {
            ip(LOCAL_IP)
        } else {
            ip("2001:db8::2")
        },
        "sent from the station's address"
    );
    q
}

fn no_more_datagrams(h: &H) {
    if let Some((local, remote, data)) = h.platform.net.udp_sent() {
        panic!("unexpected datagram {local} -> {remote}: {data:02x?}");
    }
}

/// Encodes a domain name as labels.
fn name_bytes(name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        v.push(label.len() as u8);
        v.extend_from_slice(label.as_bytes());
    }
    v.push(0);
    v
}

/// An SOA record for the authority section of negative answers.
fn soa_rdata() -> Vec<u8> {
    let mut v = name_bytes("ns.test");
    v.extend(name_bytes("hostmaster.test"));
    for n in [1u32, 3600, 600, 86400, 60] {
        v.extend_from_slice(&n.to_be_bytes());
    }
    v
}

/// A response to `q` as a recursive server writes it: the question echoed, answers
/// owned by the question name (compression pointer to offset 12), and an SOA in the
/// authority section of negative answers.
fn response(q: &Query, rcode: u8, answers: &[(u16, Vec<u8>)]) -> Vec<u8> {
    response_with_id(q.id, q, rcode, answers)
}

fn response_with_id(id: u16, q: &Query, rcode: u8, answers: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let negative = answers.is_empty();
    let mut v = Vec::new();
    v.extend_from_slice(&id.to_be_bytes());
    let flags: u16 = 0x8000 | 0x0100 | 0x0080 | u16::from(rcode);
    v.extend_from_slice(&flags.to_be_bytes());
    for count in [1, answers.len() as u16, u16::from(negative), 0] {
        v.extend_from_slice(&count.to_be_bytes());
    }
    v.extend_from_slice(&q.question);
    for (ty, rdata) in answers {
        v.extend_from_slice(&[0xc0, 0x0c]);
        v.extend_from_slice(&ty.to_be_bytes());
        v.extend_from_slice(&1u16.to_be_bytes());
        v.extend_from_slice(&300u32.to_be_bytes());
        v.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        v.extend_from_slice(rdata);
    }
    if negative {
        let soa = soa_rdata();
        v.extend(name_bytes("test"));
        v.extend_from_slice(&TYPE_SOA.to_be_bytes());
        v.extend_from_slice(&1u16.to_be_bytes());
        v.extend_from_slice(&60u32.to_be_bytes());
        v.extend_from_slice(&(soa.len() as u16).to_be_bytes());
        v.extend(soa);
    }
    v
}

fn a(addr: &str) -> (u16, Vec<u8>) {
    let a: Ipv4Addr = addr.parse().unwrap();
    (TYPE_A, a.octets().to_vec())
}

fn aaaa(addr: &str) -> (u16, Vec<u8>) {
    let a: Ipv6Addr = addr.parse().unwrap();
    (TYPE_AAAA, a.octets().to_vec())
}

/// The server of `q` answers with `datagram`.
fn answer(h: &mut H, q: &Query, datagram: &[u8]) {
    h.platform
        .net
        .udp_peer_inject(q.local, q.server, datagram)
        .expect("the engine's DNS socket takes the response");
}

// ---------------------------------------------------------------------------------------
// AT+CIPDNS
// ---------------------------------------------------------------------------------------

#[test]
fn cipdns_query_shows_automatic_mode_and_the_default_servers() {
    let mut h = booted();
    cipdns_is(&mut h, DEFAULTS);
    let mut h = joined();
    cipdns_is(&mut h, DEFAULTS);
}

#[test]
fn cipdns_sets_one_or_two_manual_servers_ipv4_and_ipv6() {
    let mut h = booted();
    ok(&mut h, "AT+CIPDNS=1,\"192.168.4.53\"");
    cipdns_is(&mut h, "+CIPDNS:1,\"192.168.4.53\"");
    ok(&mut h, "AT+CIPDNS=1,\"1.1.1.1\",\"9.9.9.9\"");
    cipdns_is(&mut h, "+CIPDNS:1,\"1.1.1.1\",\"9.9.9.9\"");
    // The spec's IPv6 example.
    ok(
        &mut h,
        "AT+CIPDNS=1,\"240c::6666\",\"2001:4860:4860::8888\"",
    );
    cipdns_is(&mut h, "+CIPDNS:1,\"240c::6666\",\"2001:4860:4860::8888\"");
    ok(&mut h, "AT+CIPDNS=1,\"2001:4860:4860::8844\"");
    cipdns_is(&mut h, "+CIPDNS:1,\"2001:4860:4860::8844\"");
    ok(&mut h, "AT+CIPDNS=1,\"8.8.4.4\",\"2001:4860:4860::8888\"");
    cipdns_is(&mut h, "+CIPDNS:1,\"8.8.4.4\",\"2001:4860:4860::8888\"");
    // The spec's first example: the defaults given explicitly.
    ok(&mut h, "AT+CIPDNS=1,\"208.67.222.222\",\"8.8.8.8\"");
    cipdns_is(&mut h, "+CIPDNS:1,\"208.67.222.222\",\"8.8.8.8\"");
}

#[test]
fn cipdns_1_without_addresses_uses_the_default_servers() {
    let mut h = booted();
    ok(&mut h, "AT+CIPDNS=1,\"1.1.1.1\"");
    ok(&mut h, "AT+CIPDNS=1");
    cipdns_is(&mut h, "+CIPDNS:1,\"208.67.222.222\",\"8.8.8.8\"");
}

#[test]
fn cipdns_0_restores_automatic_mode_and_the_default_servers() {
    let mut h = booted();
    ok(&mut h, "AT+CIPDNS=1,\"1.1.1.1\",\"2001:4860:4860::8888\"");
    ok(&mut h, "AT+CIPDNS=0");
    cipdns_is(&mut h, DEFAULTS);
}

#[test]
fn three_servers_are_refused_on_the_w800_profile() {
    let mut h = booted();
    ok(&mut h, "AT+CIPDNS=1,\"1.1.1.1\",\"9.9.9.9\"");
    expect(
        &mut h,
        "AT+CIPDNS=1,\"1.1.1.1\",\"8.8.8.8\",\"9.9.9.9\"",
        count_err(3, 4),
    );
    cipdns_is(&mut h, "+CIPDNS:1,\"1.1.1.1\",\"9.9.9.9\"");
}

#[test]
fn the_same_server_twice_is_refused() {
    let mut h = booted();
    ok(&mut h, "AT+CIPDNS=1,\"1.1.1.1\"");
    expect(&mut h, "AT+CIPDNS=1,\"8.8.8.8\",\"8.8.8.8\"", invalid(2));
    // The same IPv6 address written two ways is still the same server.
    expect(
        &mut h,
        "AT+CIPDNS=1,\"2001:db8::53\",\"2001:DB8:0:0::53\"",
        invalid(2),
    );
    cipdns_is(&mut h, "+CIPDNS:1,\"1.1.1.1\"");
}

#[test]
fn bad_cipdns_lines_are_refused_and_change_nothing() {
    let mut h = booted();
    ok(&mut h, "AT+CIPDNS=1,\"1.1.1.1\"");
    let cases: [(&str, Text); 10] = [
        ("AT+CIPDNS=1,\"8.8.8.256\"", invalid(1)),
        ("AT+CIPDNS=1,\"dns.google\"", invalid(1)),
        ("AT+CIPDNS=1,\"1.1.1.1\",\"2001:db8::g\"", invalid(2)),
        ("AT+CIPDNS=1,\"8.8.8.8:53\"", invalid(1)),
        ("AT+CIPDNS=1,8", type_err(1)),
        ("AT+CIPDNS=2", invalid(0)),
        ("AT+CIPDNS=-1", invalid(0)),
        ("AT+CIPDNS=\"1\"", type_err(0)),
        ("AT+CIPDNS=", count_err(1, 0)),
        ("AT+CIPDNS", form_err()),
    ];
    for (line, want) in cases {
        expect(&mut h, line, want);
        cipdns_is(&mut h, "+CIPDNS:1,\"1.1.1.1\"");
    }
}

#[test]
fn manual_servers_persist_across_a_restart_with_sysstore_1() {
    let mut h = booted();
    cipdns_is(&mut h, DEFAULTS);
    expect(&mut h, "AT+SYSSTORE?", "+SYSSTORE:1\r\n\r\nOK\r\n");
    ok(&mut h, "AT+CIPDNS=1,\"192.168.4.53\",\"2001:db8::53\"");
    expect(&mut h, "AT+RST", "\r\nOK\r\n\r\nready\r\n");
    expect(&mut h, "ATE0", "ATE0\r\n\r\nOK\r\n");
    cipdns_is(&mut h, "+CIPDNS:1,\"192.168.4.53\",\"2001:db8::53\"");
    // Back to automatic: that is stored too.
    ok(&mut h, "AT+CIPDNS=0");
    expect(&mut h, "AT+RST", "\r\nOK\r\n\r\nready\r\n");
    expect(&mut h, "ATE0", "ATE0\r\n\r\nOK\r\n");
    cipdns_is(&mut h, DEFAULTS);
}

#[test]
fn manual_servers_are_not_stored_with_sysstore_0() {
    let mut h = booted();
    ok(&mut h, "AT+SYSSTORE=0");
    ok(&mut h, "AT+CIPDNS=1,\"192.168.4.53\"");
    cipdns_is(&mut h, "+CIPDNS:1,\"192.168.4.53\"");
    expect(&mut h, "AT+RST", "\r\nOK\r\n\r\nready\r\n");
    expect(&mut h, "ATE0", "ATE0\r\n\r\nOK\r\n");
    cipdns_is(&mut h, DEFAULTS);
}

// ---------------------------------------------------------------------------------------
// AT+CIPDOMAIN, automatic DNS (the platform's resolver)
// ---------------------------------------------------------------------------------------

#[test]
fn cipdomain_resolves_with_each_ip_network_preference() {
    let mut h = joined_hosts();
    let v4 = "93.184.216.34";
    let v6 = "2606:2800:220:1:248:1893:25c8:1946";
    expect(&mut h, "AT+CIPDOMAIN=\"www.example.com\"", domain_ok(v4));
    expect(&mut h, "AT+CIPDOMAIN=\"www.example.com\",1", domain_ok(v4));
    expect(&mut h, "AT+CIPDOMAIN=\"www.example.com\",2", domain_ok(v4));
    expect(&mut h, "AT+CIPDOMAIN=\"www.example.com\",3", domain_ok(v6));
    // Preference 1 takes IPv6 when there is no IPv4 address.
    expect(
        &mut h,
        "AT+CIPDOMAIN=\"v6only.example\"",
        domain_ok("2001:db8:6::6"),
    );
    expect(
        &mut h,
        "AT+CIPDOMAIN=\"v6only.example\",1",
        domain_ok("2001:db8:6::6"),
    );
    expect(
        &mut h,
        "AT+CIPDOMAIN=\"v6only.example\",3",
        domain_ok("2001:db8:6::6"),
    );
    expect(&mut h, "AT+CIPDOMAIN=\"v6only.example\",2", exec_err());
    expect(
        &mut h,
        "AT+CIPDOMAIN=\"v4only.example\",2",
        domain_ok("198.51.100.4"),
    );
    expect(&mut h, "AT+CIPDOMAIN=\"v4only.example\",3", exec_err());
    expect(
        &mut h,
        "AT+CIPDOMAIN=\"v4only.example\",1",
        domain_ok("198.51.100.4"),
    );
}

#[test]
fn cipdomain_of_an_unknown_name_is_an_error() {
    let mut h = joined_hosts();
    expect(&mut h, "AT+CIPDOMAIN=\"nowhere.example\"", exec_err());
    expect(&mut h, "AT+CIPDOMAIN=\"nowhere.example\",3", exec_err());
    ok(&mut h, "AT");
}

#[test]
fn cipdomain_waits_for_a_slow_platform_resolver() {
    let mut p = hosts_world();
    p.net.set_dns_delay(5);
    let mut h = boot_on(p);
    join(&mut h);
    expect(&mut h, "AT+CIPDOMAIN=\"www.example.com\"", "");
    assert!(h.engine.is_busy());
    expect(&mut h, "AT", BUSY);
    let out = drain(&mut h, 20);
    assert_eq!(t(out), domain_ok("93.184.216.34"));
    ok(&mut h, "AT");
}

#[test]
fn cipdomain_takes_names_of_up_to_64_bytes() {
    let name64 = format!("{}.example", "a".repeat(56));
    assert_eq!(name64.len(), 64);
    let mut p = world();
    p.net.add_host(&name64, ip("203.0.113.64")).unwrap();
    let mut h = boot_on(p);
    join(&mut h);
    expect(
        &mut h,
        &format!("AT+CIPDOMAIN=\"{name64}\""),
        domain_ok("203.0.113.64"),
    );
    let name65 = format!("{}.example", "a".repeat(57));
    assert_eq!(name65.len(), 65);
    expect(&mut h, &format!("AT+CIPDOMAIN=\"{name65}\""), length_err(0));
}

#[test]
fn cipdomain_before_joining_is_an_error() {
    let mut h = boot_on(hosts_world());
    expect(&mut h, "AT+CIPDOMAIN=\"www.example.com\"", exec_err());
}

#[test]
fn cipdomain_of_an_address_literal_is_that_address() {
    let mut h = joined_hosts();
    expect(
        &mut h,
        "AT+CIPDOMAIN=\"192.168.4.10\"",
        domain_ok("192.168.4.10"),
    );
    expect(
        &mut h,
        "AT+CIPDOMAIN=\"2001:db8::10\",3",
        domain_ok("2001:db8::10"),
    );
}

#[test]
fn bad_cipdomain_lines_are_refused() {
    let mut h = joined_hosts();
    let cases: [(&str, Text); 8] = [
        ("AT+CIPDOMAIN=\"www.example.com\",0", invalid(1)),
        ("AT+CIPDOMAIN=\"www.example.com\",4", invalid(1)),
        ("AT+CIPDOMAIN=\"www.example.com\",\"1\"", type_err(1)),
        ("AT+CIPDOMAIN=\"www.example.com\",1,1", count_err(2, 3)),
        ("AT+CIPDOMAIN=1", type_err(0)),
        ("AT+CIPDOMAIN=", count_err(1, 0)),
        ("AT+CIPDOMAIN", form_err()),
        ("AT+CIPDOMAIN?", form_err()),
    ];
    for (line, want) in cases {
        expect(&mut h, line, want);
    }
    ok(&mut h, "AT");
}

// ---------------------------------------------------------------------------------------
// AT+CIPDOMAIN, manual servers (the engine's own DNS client)
// ---------------------------------------------------------------------------------------

#[test]
fn cipdomain_asks_the_first_manual_server_on_port_53_and_prints_its_answer() {
    let mut h = joined_manual();
    expect(&mut h, "AT+CIPDOMAIN=\"host.test\"", "");
    assert!(h.engine.is_busy());
    let q = expect_query(&mut h, DNS1, "host.test", TYPE_A);
    no_more_datagrams(&h);
    answer(&mut h, &q, &response(&q, 0, &[a("10.9.8.7")]));
    assert_eq!(h.poll(), domain_ok("10.9.8.7"));
    assert!(!h.engine.is_busy());
    assert_eq!(h.platform.net.udp_open_sockets(), 0, "query socket closed");
    ok(&mut h, "AT");
}

#[test]
fn cipdomain_with_manual_servers_for_each_preference() {
    let mut h = joined_manual();
    // 2: IPv4 only.
    expect(&mut h, "AT+CIPDOMAIN=\"host.test\",2", "");
    let q = expect_query(&mut h, DNS1, "host.test", TYPE_A);
    answer(&mut h, &q, &response(&q, 0, &[a("10.9.8.7")]));
    assert_eq!(h.poll(), domain_ok("10.9.8.7"));
    // 3: IPv6 only, an AAAA question.
    expect(&mut h, "AT+CIPDOMAIN=\"host.test\",3", "");
    let q = expect_query(&mut h, DNS1, "host.test", TYPE_AAAA);
    answer(&mut h, &q, &response(&q, 0, &[aaaa("fd00:9:8::7")]));
    assert_eq!(h.poll(), domain_ok("fd00:9:8::7"));
    // 1 (explicit): an A question first.
    expect(&mut h, "AT+CIPDOMAIN=\"host.test\",1", "");
    let q = expect_query(&mut h, DNS1, "host.test", TYPE_A);
    answer(&mut h, &q, &response(&q, 0, &[a("10.9.8.7")]));
    assert_eq!(h.poll(), domain_ok("10.9.8.7"));
    no_more_datagrams(&h);
}

#[test]
fn query_ids_come_from_the_platform_entropy_not_a_fixed_sequence() {
    // The same platform seed gives the same first ID, and another seed another one:
    // the ID is drawn from the platform (RFC 5452), not from a sequence every boot
    // repeats.
    let first_id = |seed: u32| {
        let mut h = joined_with_random_seed(seed);
        ok(&mut h, &format!("AT+CIPDNS=1,\"{DNS1}\""));
        expect(&mut h, "AT+CIPDOMAIN=\"host.test\"", "");
        let q = expect_query(&mut h, DNS1, "host.test", TYPE_A);
        let mut expected = at_core::sim::SimPlatform {
            random_state: seed,
            ..Default::default()
        };
        (q.id, NetPlatform::random_u32(&mut expected) as u16)
    };
    let (id1, from_seed1) = first_id(1);
    let (id2, from_seed2) = first_id(0xdead_beef);
    assert_eq!(
        id1, from_seed1,
        "the first ID is the platform's first random number"
    );
    assert_eq!(id2, from_seed2);
    assert_ne!(id1, id2);
    // Successive lookups draw fresh numbers.
    let mut h = joined_manual();
    let mut ids = Vec::new();
    for _ in 0..4 {
        expect(&mut h, "AT+CIPDOMAIN=\"host.test\"", "");
        let q = expect_query(&mut h, DNS1, "host.test", TYPE_A);
        answer(&mut h, &q, &response(&q, 0, &[a("10.9.8.7")]));
        assert_eq!(h.poll(), domain_ok("10.9.8.7"));
        ids.push(q.id);
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4, "four lookups, four IDs");
}

#[test]
fn an_ipv6_manual_server_is_asked_over_ipv6() {
    let mut h = joined();
    ok(&mut h, "AT+CIPDNS=1,\"2001:db8::53\"");
    expect(&mut h, "AT+CIPDOMAIN=\"host.test\"", "");
    let q = expect_query(&mut h, "2001:db8::53", "host.test", TYPE_A);
    answer(&mut h, &q, &response(&q, 0, &[a("10.9.8.7")]));
    assert_eq!(h.poll(), domain_ok("10.9.8.7"));
}

#[test]
fn an_answer_behind_a_cname_is_found() {
    let mut h = joined_manual();
    expect(&mut h, "AT+CIPDOMAIN=\"www.host.test\"", "");
    let q = expect_query(&mut h, DNS1, "www.host.test", TYPE_A);
    let cname = (TYPE_CNAME, name_bytes("host.test"));
    answer(&mut h, &q, &response(&q, 0, &[cname, a("10.9.8.8")]));
    assert_eq!(h.poll(), domain_ok("10.9.8.8"));
}

/// `response` with `ns` name-server records in the authority section and as many glue
/// addresses in the additional section, as authoritative servers and some recursive
/// ones write them.
fn response_with_referral(q: &Query, answers: &[(u16, Vec<u8>)], ns: u16) -> Vec<u8> {
    let mut v = response(q, 0, answers);
    v[8..10].copy_from_slice(&ns.to_be_bytes());
    v[10..12].copy_from_slice(&ns.to_be_bytes());
    for i in 0..ns {
        v.extend(name_bytes("test"));
        v.extend_from_slice(&TYPE_NS.to_be_bytes());
        v.extend_from_slice(&1u16.to_be_bytes());
        v.extend_from_slice(&3600u32.to_be_bytes());
        let host = name_bytes(&format!("ns{i}.test"));
        v.extend_from_slice(&(host.len() as u16).to_be_bytes());
        v.extend(host);
    }
    for i in 0..ns {
        v.extend(name_bytes(&format!("ns{i}.test")));
        v.extend_from_slice(&TYPE_A.to_be_bytes());
        v.extend_from_slice(&1u16.to_be_bytes());
        v.extend_from_slice(&3600u32.to_be_bytes());
        v.extend_from_slice(&4u16.to_be_bytes());
        v.extend_from_slice(&[192, 0, 2, i as u8]);
    }
    v
}

#[test]
fn an_answer_is_found_whatever_the_authority_and_additional_sections_hold() {
    let mut h = joined_manual();
    for ns in [0, 1, 9] {
        expect(&mut h, "AT+CIPDOMAIN=\"host.test\"", "");
        let q = expect_query(&mut h, DNS1, "host.test", TYPE_A);
        let datagram = response_with_referral(&q, &[a("10.9.8.7")], ns);
        assert!(
            datagram.len() <= 512,
            "{ns} records: {} bytes",
            datagram.len()
        );
        answer(&mut h, &q, &datagram);
        assert_eq!(h.poll(), domain_ok("10.9.8.7"), "{ns} name servers");
    }
}

#[test]
fn the_first_address_of_a_long_answer_is_taken() {
    // Round-robin names can carry more addresses than the engine reads; the first one
    // is the answer.
    let mut h = joined_manual();
    expect(&mut h, "AT+CIPDOMAIN=\"pool.test\"", "");
    let q = expect_query(&mut h, DNS1, "pool.test", TYPE_A);
    let many: Vec<_> = (1..=30).map(|i| a(&format!("10.0.0.{i}"))).collect();
    answer(&mut h, &q, &response(&q, 0, &many));
    assert_eq!(h.poll(), domain_ok("10.0.0.1"));
}

#[test]
fn responses_with_another_id_or_from_another_address_are_ignored() {
    let mut h = joined_manual();
    expect(&mut h, "AT+CIPDOMAIN=\"host.test\"", "");
    let q = expect_query(&mut h, DNS1, "host.test", TYPE_A);
    let wrong_id = response_with_id(q.id.wrapping_add(1), &q, 0, &[a("6.6.6.6")]);
    answer(&mut h, &q, &wrong_id);
    assert_eq!(h.advance(10), b"");
    let spoofed = response(&q, 0, &[a("6.6.6.7")]);
    h.platform
        .net
        .udp_peer_inject(q.local, SocketAddr::new(ip("192.168.4.66"), 53), &spoofed)
        .unwrap();
    assert_eq!(h.advance(10), b"");
    h.platform
        .net
        .udp_peer_inject(q.local, SocketAddr::new(ip(DNS1), 5353), &spoofed)
        .unwrap();
    assert_eq!(h.advance(10), b"");
    assert!(h.engine.is_busy());
    answer(&mut h, &q, &response(&q, 0, &[a("10.9.8.7")]));
    assert_eq!(h.poll(), domain_ok("10.9.8.7"));
}

#[test]
fn nxdomain_is_an_error_at_once() {
    let mut h = joined_manual();
    expect(&mut h, "AT+CIPDOMAIN=\"missing.test\"", "");
    let q = expect_query(&mut h, DNS1, "missing.test", TYPE_A);
    answer(&mut h, &q, &response(&q, RCODE_NXDOMAIN, &[]));
    assert_eq!(h.poll(), exec_err());
    assert!(!h.engine.is_busy());
    no_more_datagrams(&h);
    assert_eq!(h.platform.net.udp_open_sockets(), 0);
    ok(&mut h, "AT");
}

#[test]
fn preference_1_falls_back_to_aaaa_when_a_has_no_answer() {
    let mut h = joined_manual();
    expect(&mut h, "AT+CIPDOMAIN=\"v6.test\"", "");
    let q = expect_query(&mut h, DNS1, "v6.test", TYPE_A);
    answer(&mut h, &q, &response(&q, 0, &[]));
    assert_eq!(h.advance(5), b"");
    let q6 = expect_query(&mut h, DNS1, "v6.test", TYPE_AAAA);
    answer(&mut h, &q6, &response(&q6, 0, &[aaaa("2001:db8:9::7")]));
    assert_eq!(h.poll(), domain_ok("2001:db8:9::7"));
}

#[test]
fn preference_2_does_not_fall_back_to_aaaa() {
    let mut h = joined_manual();
    expect(&mut h, "AT+CIPDOMAIN=\"v6.test\",2", "");
    let q = expect_query(&mut h, DNS1, "v6.test", TYPE_A);
    answer(&mut h, &q, &response(&q, 0, &[]));
    assert_eq!(h.poll(), exec_err());
    no_more_datagrams(&h);
}

#[test]
fn preference_3_with_no_aaaa_is_an_error() {
    let mut h = joined_manual();
    expect(&mut h, "AT+CIPDOMAIN=\"v4.test\",3", "");
    let q = expect_query(&mut h, DNS1, "v4.test", TYPE_AAAA);
    answer(&mut h, &q, &response(&q, 0, &[]));
    assert_eq!(h.poll(), exec_err());
    no_more_datagrams(&h);
}

#[test]
fn a_silent_server_is_asked_twice_2_s_apart_then_the_next_then_error() {
    let mut h = joined_manual();
    expect(&mut h, "AT+CIPDOMAIN=\"slow.test\"", "");
    let first = expect_query(&mut h, DNS1, "slow.test", TYPE_A);
    no_more_datagrams(&h);

    assert_eq!(h.advance(1999), b"");
    no_more_datagrams(&h);
    expect(&mut h, "AT", BUSY);
    assert_eq!(h.advance(1), b"", "2000 ms: retry, no result yet");
    let retry = expect_query(&mut h, DNS1, "slow.test", TYPE_A);
    no_more_datagrams(&h);

    assert_eq!(h.advance(1999), b"");
    no_more_datagrams(&h);
    assert_eq!(h.advance(1), b"", "4000 ms: the second server");
    let second = expect_query(&mut h, DNS2, "slow.test", TYPE_A);
    no_more_datagrams(&h);
    expect(&mut h, "AT+CIPDNS?", BUSY);

    assert_eq!(h.advance(1999), b"");
    assert_eq!(h.advance(1), b"", "6000 ms: the second server again");
    let second_retry = expect_query(&mut h, DNS2, "slow.test", TYPE_A);
    no_more_datagrams(&h);

    assert_eq!(h.advance(1999), b"", "7999 ms: still waiting");
    assert!(h.engine.is_busy());
    assert_eq!(
        h.advance(1),
        exec_err(),
        "8000 ms: every server tried twice"
    );
    assert!(!h.engine.is_busy());
    no_more_datagrams(&h);
    assert_eq!(h.platform.net.udp_open_sockets(), 0, "query socket closed");
    for q in [&retry, &second, &second_retry] {
        assert_eq!(q.question, first.question);
    }
    ok(&mut h, "AT");
}

#[test]
fn the_second_server_answers_when_the_first_is_silent() {
    let mut h = joined_manual();
    expect(&mut h, "AT+CIPDOMAIN=\"host.test\"", "");
    expect_query(&mut h, DNS1, "host.test", TYPE_A);
    assert_eq!(h.advance(2000), b"");
    expect_query(&mut h, DNS1, "host.test", TYPE_A);
    assert_eq!(h.advance(2000), b"");
    let q = expect_query(&mut h, DNS2, "host.test", TYPE_A);
    assert_eq!(h.advance(300), b"");
    answer(&mut h, &q, &response(&q, 0, &[a("10.9.8.7")]));
    assert_eq!(h.poll(), domain_ok("10.9.8.7"));
    ok(&mut h, "AT");
}

#[test]
fn an_answer_to_the_retry_is_taken() {
    let mut h = joined_manual();
    expect(&mut h, "AT+CIPDOMAIN=\"host.test\"", "");
    expect_query(&mut h, DNS1, "host.test", TYPE_A);
    assert_eq!(h.advance(2000), b"");
    let retry = expect_query(&mut h, DNS1, "host.test", TYPE_A);
    assert_eq!(h.advance(1500), b"");
    answer(&mut h, &retry, &response(&retry, 0, &[a("10.9.8.7")]));
    assert_eq!(h.poll(), domain_ok("10.9.8.7"));
}

#[test]
fn servfail_moves_on_to_the_next_server() {
    let mut h = joined_manual();
    expect(&mut h, "AT+CIPDOMAIN=\"host.test\"", "");
    let q = expect_query(&mut h, DNS1, "host.test", TYPE_A);
    answer(&mut h, &q, &response(&q, RCODE_SERVFAIL, &[]));
    assert_eq!(h.advance(1), b"");
    let q2 = expect_query(&mut h, DNS2, "host.test", TYPE_A);
    answer(&mut h, &q2, &response(&q2, 0, &[a("10.9.8.7")]));
    assert_eq!(h.poll(), domain_ok("10.9.8.7"));
}

#[test]
fn every_other_response_code_moves_on_to_the_next_server() {
    // 1 FORMERR, 4 NOTIMP, 5 REFUSED, 6-10 (update codes) and 11-15 (unassigned): the
    // next server is asked. (The DNS library panics on codes it does not know if asked
    // for them by name; found by the dns_response fuzz target.)
    for rcode in [1, 4, 5, 6, 10, 11, 15] {
        let mut h = joined_manual();
        expect(&mut h, "AT+CIPDOMAIN=\"host.test\"", "");
        let q = expect_query(&mut h, DNS1, "host.test", TYPE_A);
        answer(&mut h, &q, &response(&q, rcode, &[a("6.6.6.6")]));
        assert_eq!(h.advance(1), b"", "RCODE {rcode}");
        let q2 = expect_query(&mut h, DNS2, "host.test", TYPE_A);
        answer(&mut h, &q2, &response(&q2, 0, &[a("10.9.8.7")]));
        assert_eq!(h.poll(), domain_ok("10.9.8.7"), "RCODE {rcode}");
    }
}

#[test]
fn manual_servers_do_not_use_the_platform_resolver() {
    let mut p = world();
    p.net.add_host("host.test", ip("192.0.2.99")).unwrap();
    let mut h = boot_on(p);
    join(&mut h);
    ok(&mut h, &format!("AT+CIPDNS=1,\"{DNS1}\""));
    expect(&mut h, "AT+CIPDOMAIN=\"host.test\"", "");
    let q = expect_query(&mut h, DNS1, "host.test", TYPE_A);
    answer(&mut h, &q, &response(&q, 0, &[a("10.9.8.7")]));
    assert_eq!(h.poll(), domain_ok("10.9.8.7"));
    // Back to automatic: the platform's answer.
    ok(&mut h, "AT+CIPDNS=0");
    expect(
        &mut h,
        "AT+CIPDOMAIN=\"host.test\"",
        domain_ok("192.0.2.99"),
    );
    no_more_datagrams(&h);
}

#[test]
fn cipstart_resolves_a_host_name_through_the_manual_servers() {
    let mut h = joined();
    ok(&mut h, &format!("AT+CIPDNS=1,\"{DNS1}\""));
    expect(&mut h, "AT+CIPSTART=\"TCP\",\"server.test\",80", "");
    let q = expect_query(&mut h, DNS1, "server.test", TYPE_A);
    answer(&mut h, &q, &response(&q, 0, &[a("192.168.4.10")]));
    let out = drain(&mut h, 10);
    assert_eq!(t(out), t("CONNECT\r\n\r\nOK\r\n"));
    assert!(h.platform.net.accepted(addr(SERVER)).is_some());
}

// ---------------------------------------------------------------------------------------
// AT+PING
// ---------------------------------------------------------------------------------------

/// Sends `AT+PING=<host>`, expects nothing yet, then advances the clock by `steps`
/// until the result comes; returns the result and the time advanced.
fn ping_stepping(h: &mut H, host: &str, steps: &[u64]) -> (Text, u64) {
    expect(h, &format!("AT+PING=\"{host}\""), "");
    assert!(h.engine.is_busy());
    let mut elapsed = 0;
    for &ms in steps {
        elapsed += ms;
        let out = h.advance(ms);
        if !out.is_empty() {
            return (t(out.as_bytes()), elapsed);
        }
    }
    panic!("no ping result after {elapsed} ms");
}

#[test]
fn ping_to_a_reachable_host_reports_the_round_trip_in_engine_time() {
    let mut h = joined();
    h.platform.pinger.reachable(ip("192.168.4.10"), 6).unwrap();
    let (out, elapsed) = ping_stepping(&mut h, "192.168.4.10", &[7, 11, 13, 17, 19, 23, 29, 31]);
    assert_eq!(out, t(format!("+PING:{elapsed}\r\n\r\nOK\r\n")));
    assert!(elapsed > 0);
    assert_eq!(
        h.platform.pinger.sent.iter().copied().collect::<Vec<_>>(),
        [ip("192.168.4.10")]
    );
    ok(&mut h, "AT");
}

#[test]
fn ping_reply_at_the_first_poll_is_0_ms() {
    let mut h = joined();
    h.platform.pinger.reachable(ip("192.168.4.1"), 0).unwrap();
    expect(&mut h, "AT+PING=\"192.168.4.1\"", "+PING:0\r\n\r\nOK\r\n");
}

#[test]
fn ping_by_name_pings_the_resolved_address() {
    let mut h = joined_hosts();
    h.platform.pinger.reachable(ip("192.168.4.1"), 6).unwrap();
    let (out, elapsed) = ping_stepping(&mut h, "gw.example", &[40; 8]);
    assert_eq!(out, t(format!("+PING:{elapsed}\r\n\r\nOK\r\n")));
    assert_eq!(h.platform.pinger.sent.back(), Some(&ip("192.168.4.1")));
}

#[test]
fn ping_by_name_through_the_manual_servers() {
    let mut h = joined_manual();
    h.platform.pinger.reachable(ip("192.168.4.10"), 1).unwrap();
    expect(&mut h, "AT+PING=\"server.test\"", "");
    let q = expect_query(&mut h, DNS1, "server.test", TYPE_A);
    assert_eq!(
        h.advance(100),
        b"",
        "the lookup's time is not the round trip"
    );
    answer(&mut h, &q, &response(&q, 0, &[a("192.168.4.10")]));
    let mut out = h.poll().to_vec();
    let mut elapsed = 0;
    while out.is_empty() && elapsed < 1000 {
        elapsed += 25;
        out = h.advance(25).to_vec();
    }
    assert_eq!(t(out), t(format!("+PING:{elapsed}\r\n\r\nOK\r\n")));
    assert_eq!(h.platform.pinger.sent.back(), Some(&ip("192.168.4.10")));
}

#[test]
fn ping_to_an_unreachable_host_times_out_after_exactly_3_s() {
    let mut h = joined();
    expect(&mut h, "AT+SYSLOG=0", "\r\nOK\r\n");
    expect(&mut h, "AT+PING=\"192.168.4.99\"", "");
    assert_eq!(h.advance(1000), b"");
    expect(&mut h, "AT", "\r\nbusy p...\r\n");
    assert_eq!(h.advance(1999), b"", "2999 ms");
    assert!(h.engine.is_busy());
    assert_eq!(h.advance(1), b"+PING:TIMEOUT\r\n\r\nERROR\r\n", "3000 ms");
    assert!(!h.engine.is_busy());
    ok(&mut h, "AT");
    // The next ping works.
    h.platform.pinger.reachable(ip("192.168.4.10"), 0).unwrap();
    expect(&mut h, "AT+PING=\"192.168.4.10\"", "+PING:0\r\n\r\nOK\r\n");
}

#[test]
fn ping_timeout_with_syslog_prints_the_err_code_before_error() {
    let mut h = joined();
    expect(&mut h, "AT+PING=\"192.168.4.99\"", "");
    assert_eq!(h.advance(2999), b"");
    assert_eq!(h.advance(1), ping_timeout());
}

#[test]
fn ping_to_an_unresolvable_name_is_a_timeout() {
    let mut h = joined_hosts();
    expect(&mut h, "AT+SYSLOG=0", "\r\nOK\r\n");
    expect(
        &mut h,
        "AT+PING=\"nowhere.example\"",
        "+PING:TIMEOUT\r\n\r\nERROR\r\n",
    );
    assert!(h.platform.pinger.sent.is_empty(), "nothing pinged");
}

#[test]
fn ping_to_a_name_the_manual_server_does_not_know_is_a_timeout() {
    let mut h = joined_manual();
    expect(&mut h, "AT+PING=\"missing.test\"", "");
    let q = expect_query(&mut h, DNS1, "missing.test", TYPE_A);
    answer(&mut h, &q, &response(&q, RCODE_NXDOMAIN, &[]));
    assert_eq!(h.poll(), ping_timeout());
    assert!(h.platform.pinger.sent.is_empty(), "nothing pinged");
}

#[test]
fn ping_gives_up_on_silent_manual_servers_after_3_s_and_the_next_lookup_starts_afresh() {
    let mut h = joined_manual();
    expect(&mut h, "AT+PING=\"slow.test\"", "");
    expect_query(&mut h, DNS1, "slow.test", TYPE_A);
    assert_eq!(h.advance(2000), b"");
    expect_query(&mut h, DNS1, "slow.test", TYPE_A);
    assert_eq!(h.advance(999), b"", "2999 ms");
    assert_eq!(h.advance(1), ping_timeout(), "3000 ms");
    no_more_datagrams(&h);
    assert_eq!(h.platform.net.udp_open_sockets(), 0, "lookup abandoned");
    assert!(h.platform.pinger.sent.is_empty(), "nothing pinged");
    // The next lookup of the same name asks the first server again.
    expect(&mut h, "AT+CIPDOMAIN=\"slow.test\"", "");
    let q = expect_query(&mut h, DNS1, "slow.test", TYPE_A);
    answer(&mut h, &q, &response(&q, 0, &[a("10.9.8.7")]));
    assert_eq!(h.poll(), domain_ok("10.9.8.7"));
}

#[test]
fn ping_ipv6_needs_cipv6_1() {
    let mut h = joined_hosts();
    expect(&mut h, "AT+CIPV6?", "+CIPV6:1\r\n\r\nOK\r\n");
    h.platform.pinger.reachable(ip("2001:db8::10"), 6).unwrap();
    let (out, elapsed) = ping_stepping(&mut h, "2001:db8::10", &[5; 8]);
    assert_eq!(out, t(format!("+PING:{elapsed}\r\n\r\nOK\r\n")));
    ok(&mut h, "AT+CIPV6=0");
    let before = h.platform.pinger.sent.len();
    expect(&mut h, "AT+PING=\"2001:db8::10\"", exec_err());
    // A name with only an IPv6 address likewise.
    expect(&mut h, "AT+PING=\"ipv6.example\"", exec_err());
    assert_eq!(h.platform.pinger.sent.len(), before, "nothing pinged");
    // IPv4 still works.
    h.platform.pinger.reachable(ip("192.168.4.1"), 0).unwrap();
    expect(&mut h, "AT+PING=\"192.168.4.1\"", "+PING:0\r\n\r\nOK\r\n");
}

#[test]
fn bad_ping_lines_are_refused() {
    let mut h = joined();
    let long = format!("AT+PING=\"{}.example\"", "a".repeat(57));
    let cases: [(&str, Text); 6] = [
        ("AT+PING", form_err()),
        ("AT+PING?", form_err()),
        ("AT+PING=", count_err(1, 0)),
        ("AT+PING=\"192.168.4.10\",\"192.168.4.11\"", count_err(1, 2)),
        ("AT+PING=\"192.168.4.10\",1", count_err(1, 2)),
        ("AT+PING=19216841", type_err(0)),
    ];
    for (line, want) in cases {
        expect(&mut h, line, want);
    }
    expect(&mut h, &long, length_err(0));
    assert!(h.platform.pinger.sent.is_empty(), "nothing pinged");
    ok(&mut h, "AT");
}

#[test]
fn ping_before_joining_is_an_error() {
    let mut h = booted();
    let out = h.send(b"AT+PING=\"192.168.4.1\"\r\n");
    assert!(out.as_bytes().ends_with(b"\r\nERROR\r\n"), "{out:?}");
    assert!(h.platform.pinger.sent.is_empty());
}
