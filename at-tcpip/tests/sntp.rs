//! SNTP on the simulated platform: `AT+CIPSNTPCFG` (every form, range and error, both
//! time-zone formats and the `015` quirk), `AT+CIPSNTPINTV`, `AT+CIPSNTPTIME?` (asctime
//! layout, leap years, day padding, zones), and the client: requests taken from the
//! simulated network, answers hand-built as 48-byte NTP packets, retries, the next
//! server, backoff after a failed round, the periodic interval, names resolved through
//! the simulated DNS, and sockets closed after every round.

mod common;

use std::net::{IpAddr, SocketAddr};

use at_core::Duration;
use common::*;

/// Seconds from 1900 (NTP) to 1970 (Unix).
const NTP_UNIX_DELTA: u64 = 2_208_988_800;
/// 2021-10-19 09:47:56 UTC: the specification's example, "Tue Oct 19 17:47:56 2021" in
/// UTC+8 and "Tue Oct 19 15:17:56 2021" in UTC+5:30.
const SPEC_EXAMPLE: u64 = 1_634_636_876;
const NTP1: &str = "192.168.4.50";
const NTP2: &str = "192.168.4.51";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
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

/// Sends `line`, expects `want`, then expects `AT+CIPSNTPCFG?` to still answer `state`.
fn refused(h: &mut H, line: &str, want: &Text, state: &str) {
    let got = h.send(format!("{line}\r\n").as_bytes());
    assert_eq!(got, *want, "response to {line}");
    query(h, "AT+CIPSNTPCFG?", state);
}

fn time_is(h: &mut H, asctime: &str) {
    query(h, "AT+CIPSNTPTIME?", &format!("+CIPSNTPTIME:{asctime}"));
}

/// An NTP timestamp (32.32 fixed point from 1900, wrapping at each era).
fn ntp_timestamp(unix: u64, fraction: u32) -> [u8; 8] {
    let secs = (unix + NTP_UNIX_DELTA) as u32;
    ((u64::from(secs) << 32) | u64::from(fraction)).to_be_bytes()
}

/// A request the engine sent.
struct Request {
    local: SocketAddr,
    server: SocketAddr,
    bytes: [u8; 48],
}

impl Request {
    fn transmit(&self) -> [u8; 8] {
        self.bytes[40..48].try_into().unwrap()
    }
}

/// Takes the next datagram the engine sent and checks it is an SNTP request.
fn take_request(h: &mut H) -> Request {
    let mut buf = [0u8; 128];
    let (local, server, n) = h
        .platform
        .net
        .udp_take_sent(&mut buf)
        .expect("the engine sent an SNTP request");
    assert_eq!(n, 48, "an SNTP request is 48 bytes");
    assert_eq!(server.port(), 123);
    assert_eq!(buf[0], 0x23, "LI 0, version 4, mode 3 (client)");
    assert_ne!(&buf[40..48], &[0u8; 8], "a transmit timestamp");
    Request {
        local,
        server,
        bytes: buf[..48].try_into().unwrap(),
    }
}

fn request_to(h: &mut H, server: &str) -> Request {
    let r = take_request(h);
    assert_eq!(r.server, SocketAddr::new(ip(server), 123));
    r
}

fn no_request(h: &H) {
    if let Some((_, to, data)) = h.platform.net.udp_sent() {
        panic!("unexpected datagram to {to}: {data:?}");
    }
}

/// A server's answer to `r`: stratum 1, transmit (and receive) time `unix`.`fraction`.
fn answer_packet(r: &Request, unix: u64, fraction: u32) -> [u8; 48] {
    let mut p = [0u8; 48];
    p[0] = 0x24; // LI 0, version 4, mode 4 (server)
    p[1] = 1; // stratum 1
    p[2] = r.bytes[2]; // poll
    p[3] = 0xec; // precision 2^-20
    p[12..16].copy_from_slice(b"LOCL");
    let ts = ntp_timestamp(unix, fraction);
    p[16..24].copy_from_slice(&ts); // reference
    p[24..32].copy_from_slice(&r.transmit()); // originate = the request's transmit
    p[32..40].copy_from_slice(&ts); // receive
    p[40..48].copy_from_slice(&ts); // transmit
    p
}

fn inject(h: &mut H, r: &Request, from: SocketAddr, packet: &[u8]) {
    h.platform
        .net
        .udp_peer_inject(r.local, from, packet)
        .expect("the engine's SNTP socket takes the datagram");
}

/// The server answers `r` at once with `unix` seconds.
fn answer(h: &mut H, r: &Request, unix: u64) {
    let p = answer_packet(r, unix, 0);
    inject(h, r, r.server, &p);
}

const TIME_UPDATED: &[u8] = b"\r\n+TIME_UPDATED\r\n";

/// Answers the request in flight with `unix` and expects `+TIME_UPDATED`.
fn sync_to(h: &mut H, unix: u64) {
    let r = take_request(h);
    answer(h, &r, unix);
    assert_eq!(h.poll(), TIME_UPDATED);
    assert_eq!(h.platform.net.udp_open_sockets(), 0, "socket closed");
}

// ---------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------

#[test]
fn power_on_state() {
    let mut h = booted();
    query(&mut h, "AT+CIPSNTPCFG?", "+CIPSNTPCFG:0");
    query(&mut h, "AT+CIPSNTPINTV?", "+CIPSNTPINTV:3600");
    time_is(&mut h, "Thu Jan  1 00:00:00 1970");
    // Nothing is sent while SNTP is off, however long it stays off.
    assert_eq!(h.advance(10_000_000), b"");
    no_request(&h);
    time_is(&mut h, "Thu Jan  1 00:00:00 1970");
}

#[test]
fn unsupported_forms() {
    let mut h = booted();
    for line in [
        "AT+CIPSNTPCFG",
        "AT+CIPSNTPCFG=?",
        "AT+CIPSNTPTIME",
        "AT+CIPSNTPTIME=?",
        "AT+CIPSNTPTIME=1",
        "AT+CIPSNTPINTV",
        "AT+CIPSNTPINTV=?",
    ] {
        assert_eq!(
            h.send(format!("{line}\r\n").as_bytes()),
            form_err(),
            "{line}"
        );
    }
}

/// Both `<timezone>` formats: what the query shows and how `AT+CIPSNTPTIME?` renders the
/// epoch (not synchronised: not joined).
#[test]
fn time_zone_table() {
    let mut h = booted();
    let table: &[(&str, i32, &str)] = &[
        ("8", 8, "Thu Jan  1 08:00:00 1970"),
        ("800", 8, "Thu Jan  1 08:00:00 1970"),
        ("-5", -5, "Wed Dec 31 19:00:00 1969"),
        ("-500", -5, "Wed Dec 31 19:00:00 1969"),
        ("1245", 12, "Thu Jan  1 12:45:00 1970"),
        // "设置 AT+CIPSNTPCFG=1,015 ... 也就是 UTC+00:15，也就是查询出来的是 0 时区"
        ("015", 0, "Thu Jan  1 00:15:00 1970"),
        ("15", 0, "Thu Jan  1 00:15:00 1970"),
        ("530", 5, "Thu Jan  1 05:30:00 1970"),
        ("+530", 5, "Thu Jan  1 05:30:00 1970"),
        ("-30", 0, "Wed Dec 31 23:30:00 1969"),
        ("-13", 0, "Wed Dec 31 23:47:00 1969"),
        ("14", 14, "Thu Jan  1 14:00:00 1970"),
        ("-12", -12, "Wed Dec 31 12:00:00 1969"),
        ("1459", 14, "Thu Jan  1 14:59:00 1970"),
        ("-1259", -12, "Wed Dec 31 11:01:00 1969"),
        ("0", 0, "Thu Jan  1 00:00:00 1970"),
        ("-0", 0, "Thu Jan  1 00:00:00 1970"),
    ];
    for &(tz, shown, epoch) in table {
        ok(&mut h, &format!("AT+CIPSNTPCFG=1,{tz},\"{NTP1}\""));
        query(
            &mut h,
            "AT+CIPSNTPCFG?",
            &format!("+CIPSNTPCFG:1,{shown},\"{NTP1}\""),
        );
        time_is(&mut h, epoch);
    }
    no_request(&h);
}

#[test]
fn time_zone_out_of_range() {
    let mut h = booted();
    ok(&mut h, "AT+CIPSNTPCFG=1,8,\"a\"");
    let state = "+CIPSNTPCFG:1,8,\"a\"";
    for tz in [
        "60",
        "99",
        "-60",
        "-99",
        "160",
        "1260",
        "1460",
        "1500",
        "-1300",
        "-1260",
        "2400",
        "100000",
        "-100000",
        "99999999999",
    ] {
        refused(
            &mut h,
            &format!("AT+CIPSNTPCFG=1,{tz},\"b\""),
            &invalid(1),
            state,
        );
        refused(&mut h, &format!("AT+CIPSNTPCFG=0,{tz}"), &invalid(1), state);
    }
    time_is(&mut h, "Thu Jan  1 08:00:00 1970");
}

#[test]
fn cfg_errors_change_nothing() {
    let mut h = booted();
    let off = "+CIPSNTPCFG:0";
    let long = "n".repeat(65);
    let max = "m".repeat(64);
    refused(&mut h, "AT+CIPSNTPCFG=2,8", &invalid(0), off);
    refused(&mut h, "AT+CIPSNTPCFG=-1,8", &invalid(0), off);
    refused(&mut h, "AT+CIPSNTPCFG=\"1\",8", &type_err(0), off);
    refused(&mut h, "AT+CIPSNTPCFG=,8", &invalid(0), off);
    refused(&mut h, "AT+CIPSNTPCFG=1", &count_err(2, 1), off);
    refused(&mut h, "AT+CIPSNTPCFG=1,", &invalid(1), off);
    refused(&mut h, "AT+CIPSNTPCFG=1,\"8\"", &type_err(1), off);
    refused(&mut h, "AT+CIPSNTPCFG=1,8,1", &type_err(2), off);
    refused(&mut h, "AT+CIPSNTPCFG=1,8,\"a\",\"b\",2", &type_err(4), off);
    refused(
        &mut h,
        "AT+CIPSNTPCFG=1,8,\"a\",\"b\",\"c\",\"d\"",
        &count_err(5, 6),
        off,
    );
    refused(
        &mut h,
        &format!("AT+CIPSNTPCFG=1,8,\"{long}\""),
        &length_err(2),
        off,
    );
    refused(
        &mut h,
        &format!("AT+CIPSNTPCFG=1,8,\"a\",\"b\",\"{long}\""),
        &length_err(4),
        off,
    );
    refused(
        &mut h,
        &format!("AT+CIPSNTPCFG=0,8,\"{long}\""),
        &length_err(2),
        off,
    );
    // 64 bytes is the longest name.
    ok(&mut h, &format!("AT+CIPSNTPCFG=1,-5,\"{max}\""));
    query(
        &mut h,
        "AT+CIPSNTPCFG?",
        &format!("+CIPSNTPCFG:1,-5,\"{max}\""),
    );
    let on = format!("+CIPSNTPCFG:1,-5,\"{max}\"");
    refused(&mut h, "AT+CIPSNTPCFG=1,8,\"x\",1", &type_err(3), &on);
    refused(&mut h, "AT+CIPSNTPCFG=3,8,\"x\"", &invalid(0), &on);
    time_is(&mut h, "Wed Dec 31 19:00:00 1969");
}

#[test]
fn servers_as_given_or_the_defaults() {
    let mut h = booted();
    ok(&mut h, "AT+CIPSNTPCFG=1,8");
    query(
        &mut h,
        "AT+CIPSNTPCFG?",
        "+CIPSNTPCFG:1,8,\"cn.ntp.org.cn\",\"ntp.sjtu.edu.cn\",\"us.pool.ntp.org\"",
    );
    ok(&mut h, "AT+CIPSNTPCFG=1,8,\"\"");
    query(
        &mut h,
        "AT+CIPSNTPCFG?",
        "+CIPSNTPCFG:1,8,\"cn.ntp.org.cn\",\"ntp.sjtu.edu.cn\",\"us.pool.ntp.org\"",
    );
    ok(
        &mut h,
        "AT+CIPSNTPCFG=1,800,\"cn.ntp.org.cn\",\"ntp.sjtu.edu.cn\"",
    );
    query(
        &mut h,
        "AT+CIPSNTPCFG?",
        "+CIPSNTPCFG:1,8,\"cn.ntp.org.cn\",\"ntp.sjtu.edu.cn\"",
    );
    ok(
        &mut h,
        "AT+CIPSNTPCFG=1,-500,\"0.pool.ntp.org\",\"time.google.com\"",
    );
    query(
        &mut h,
        "AT+CIPSNTPCFG?",
        "+CIPSNTPCFG:1,-5,\"0.pool.ntp.org\",\"time.google.com\"",
    );
    ok(&mut h, "AT+CIPSNTPCFG=1,1245,\"a\",\"b\",\"c\"");
    query(
        &mut h,
        "AT+CIPSNTPCFG?",
        "+CIPSNTPCFG:1,12,\"a\",\"b\",\"c\"",
    );
    // Left-out servers close up.
    ok(&mut h, "AT+CIPSNTPCFG=1,1,,\"b\"");
    query(&mut h, "AT+CIPSNTPCFG?", "+CIPSNTPCFG:1,1,\"b\"");
    ok(&mut h, "AT+CIPSNTPCFG=1,1,\"a\",,\"c\"");
    query(&mut h, "AT+CIPSNTPCFG?", "+CIPSNTPCFG:1,1,\"a\",\"c\"");
    // Disabled: only <enable>; the zone given still applies to the time.
    ok(&mut h, "AT+CIPSNTPCFG=0,-5");
    query(&mut h, "AT+CIPSNTPCFG?", "+CIPSNTPCFG:0");
    time_is(&mut h, "Wed Dec 31 19:00:00 1969");
    ok(&mut h, "AT+CIPSNTPCFG=0");
    query(&mut h, "AT+CIPSNTPCFG?", "+CIPSNTPCFG:0");
    time_is(&mut h, "Wed Dec 31 19:00:00 1969");
    ok(&mut h, "AT+CIPSNTPCFG=0,3,\"ignored\"");
    query(&mut h, "AT+CIPSNTPCFG?", "+CIPSNTPCFG:0");
    time_is(&mut h, "Thu Jan  1 03:00:00 1970");
}

#[test]
fn interval_range() {
    let mut h = booted();
    let q = "AT+CIPSNTPINTV?";
    let refuse = |h: &mut H, line: &str, want: &Text, state: &str| {
        assert_eq!(h.send(format!("{line}\r\n").as_bytes()), *want, "{line}");
        query(h, q, state);
    };
    ok(&mut h, "AT+CIPSNTPINTV=15");
    query(&mut h, q, "+CIPSNTPINTV:15");
    ok(&mut h, "AT+CIPSNTPINTV=4294967");
    query(&mut h, q, "+CIPSNTPINTV:4294967");
    ok(&mut h, "AT+CIPSNTPINTV=3600");
    let state = "+CIPSNTPINTV:3600";
    refuse(&mut h, "AT+CIPSNTPINTV=14", &invalid(0), state);
    refuse(&mut h, "AT+CIPSNTPINTV=0", &invalid(0), state);
    refuse(&mut h, "AT+CIPSNTPINTV=-15", &invalid(0), state);
    refuse(&mut h, "AT+CIPSNTPINTV=4294968", &invalid(0), state);
    refuse(&mut h, "AT+CIPSNTPINTV=\"60\"", &type_err(0), state);
    refuse(&mut h, "AT+CIPSNTPINTV=", &count_err(1, 0), state);
    refuse(&mut h, "AT+CIPSNTPINTV=60,1", &count_err(1, 2), state);
}

#[test]
fn nothing_is_stored() {
    let mut h = booted();
    ok(&mut h, "AT+SYSSTORE=1");
    ok(&mut h, "AT+CIPSNTPCFG=1,5,\"a\"");
    ok(&mut h, "AT+CIPSNTPINTV=60");
    assert_eq!(h.send(b"AT+RST\r\n"), b"\r\nOK\r\n\r\nready\r\n");
    assert_eq!(h.send(b"ATE0\r\n"), b"ATE0\r\n\r\nOK\r\n");
    query(&mut h, "AT+CIPSNTPCFG?", "+CIPSNTPCFG:0");
    query(&mut h, "AT+CIPSNTPINTV?", "+CIPSNTPINTV:3600");
    time_is(&mut h, "Thu Jan  1 00:00:00 1970");
}

// ---------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------

#[test]
fn full_sync_then_time_in_two_zones() {
    let mut h = joined();
    ok(&mut h, &format!("AT+CIPSNTPCFG=1,8,\"{NTP1}\""));
    // The request went out at once, from the station's address.
    let r = request_to(&mut h, NTP1);
    assert_eq!(r.local.ip(), ip(LOCAL_IP));
    assert_eq!(h.platform.net.udp_open_sockets(), 1);
    time_is(&mut h, "Thu Jan  1 08:00:00 1970");
    answer(&mut h, &r, SPEC_EXAMPLE);
    assert_eq!(h.poll(), TIME_UPDATED);
    assert_eq!(h.platform.net.udp_open_sockets(), 0);
    time_is(&mut h, "Tue Oct 19 17:47:56 2021");
    // The kept time runs with the engine's clock.
    assert_eq!(h.advance(999), b"");
    time_is(&mut h, "Tue Oct 19 17:47:56 2021");
    assert_eq!(h.advance(1), b"");
    time_is(&mut h, "Tue Oct 19 17:47:57 2021");
    assert_eq!(h.advance(89_500), b"");
    time_is(&mut h, "Tue Oct 19 17:49:26 2021");
    // Another zone: the new configuration starts a round; the time kept stays.
    ok(&mut h, &format!("AT+CIPSNTPCFG=1,530,\"{NTP1}\""));
    let _ = request_to(&mut h, NTP1);
    time_is(&mut h, "Tue Oct 19 15:19:26 2021");
    ok(&mut h, &format!("AT+CIPSNTPCFG=1,-5,\"{NTP1}\""));
    let r = request_to(&mut h, NTP1);
    time_is(&mut h, "Tue Oct 19 04:49:26 2021");
    // The spec's second example: the same instant in UTC+5:30.
    answer(&mut h, &r, SPEC_EXAMPLE);
    assert_eq!(h.poll(), TIME_UPDATED);
    time_is(&mut h, "Tue Oct 19 04:47:56 2021");
    ok(&mut h, "AT+CIPSNTPCFG=0,530");
    time_is(&mut h, "Tue Oct 19 15:17:56 2021");
    assert_eq!(h.platform.net.udp_open_sockets(), 0);
}

#[test]
fn request_transmit_times_carry_unpredictable_low_bits() {
    // RFC 5905 section 9.1: the transmit time a genuine answer must echo gains random
    // low-order bits from the platform (up to 999 us below the clock, under its
    // millisecond resolution), so two modules booted alike send different ones.
    let transmit_of = |seed: u32| {
        let mut h = joined_with_random_seed(seed);
        ok(&mut h, &format!("AT+CIPSNTPCFG=1,8,\"{NTP1}\""));
        u64::from_be_bytes(request_to(&mut h, NTP1).transmit())
    };
    let (a, b) = (transmit_of(1), transmit_of(0xdead_beef));
    assert_ne!(a, b, "the same instant, different platform entropy");
    // Both within a millisecond of each other (2^32 units per second).
    let ms = (1u64 << 32) / 1000 + 1;
    assert!(a.abs_diff(b) <= ms, "{a:#x} vs {b:#x}");
}

#[test]
fn the_round_trip_is_split_in_half() {
    let mut h = joined();
    ok(&mut h, &format!("AT+CIPSNTPCFG=1,0,\"{NTP1}\""));
    let r = take_request(&mut h);
    // The answer arrives 400 ms after the request left, stamped 12:00:00.000 by the
    // server: NTP puts the local time at 12:00:00.200 on arrival.
    assert_eq!(h.advance(400), b"");
    answer(&mut h, &r, 1_709_208_000);
    assert_eq!(h.poll(), TIME_UPDATED);
    time_is(&mut h, "Thu Feb 29 12:00:00 2024");
    assert_eq!(h.advance(799), b"");
    time_is(&mut h, "Thu Feb 29 12:00:00 2024");
    assert_eq!(h.advance(1), b"");
    time_is(&mut h, "Thu Feb 29 12:00:01 2024");
}

#[test]
fn a_fraction_of_a_second_counts() {
    let mut h = joined();
    ok(&mut h, &format!("AT+CIPSNTPCFG=1,0,\"{NTP1}\""));
    let r = take_request(&mut h);
    // 23:59:59.750
    let p = answer_packet(&r, 946_684_799, 3 << 30);
    inject(&mut h, &r, r.server, &p);
    assert_eq!(h.poll(), TIME_UPDATED);
    time_is(&mut h, "Fri Dec 31 23:59:59 1999");
    assert_eq!(h.advance(249), b"");
    time_is(&mut h, "Fri Dec 31 23:59:59 1999");
    assert_eq!(h.advance(1), b"");
    time_is(&mut h, "Sat Jan  1 00:00:00 2000");
}

/// Known instants: leap days, century rules, day padding, the 2036 NTP era rollover.
#[test]
fn asctime_of_known_instants() {
    let cases: &[(u64, &str, &str)] = &[
        (SPEC_EXAMPLE, "8", "Tue Oct 19 17:47:56 2021"),
        (SPEC_EXAMPLE, "530", "Tue Oct 19 15:17:56 2021"),
        (SPEC_EXAMPLE, "0", "Tue Oct 19 09:47:56 2021"),
        (SPEC_EXAMPLE, "-1259", "Mon Oct 18 20:48:56 2021"),
        (951_782_400, "0", "Tue Feb 29 00:00:00 2000"),
        (951_868_799, "0", "Tue Feb 29 23:59:59 2000"),
        (951_868_800, "0", "Wed Mar  1 00:00:00 2000"),
        (1_709_208_000, "0", "Thu Feb 29 12:00:00 2024"),
        (1_709_208_000, "14", "Fri Mar  1 02:00:00 2024"),
        (1_709_208_000, "-12", "Thu Feb 29 00:00:00 2024"),
        (1_677_628_799, "0", "Tue Feb 28 23:59:59 2023"),
        (1_677_628_800, "0", "Wed Mar  1 00:00:00 2023"),
        (946_684_800, "0", "Sat Jan  1 00:00:00 2000"),
        (946_684_800, "-1", "Fri Dec 31 23:00:00 1999"),
        (1_633_737_600, "0", "Sat Oct  9 00:00:00 2021"),
        (1_767_225_599, "0", "Wed Dec 31 23:59:59 2025"),
        (1_767_225_600, "0", "Thu Jan  1 00:00:00 2026"),
        // NTP era 1 starts 2036-02-07 06:28:16 UTC (its very first second, stamped
        // with fraction 0, is the all-zero timestamp NTP reserves for "unknown").
        (2_085_978_495, "0", "Thu Feb  7 06:28:15 2036"),
        (2_085_978_497, "0", "Thu Feb  7 06:28:17 2036"),
        (2_085_978_500, "0", "Thu Feb  7 06:28:20 2036"),
        (2_147_483_648, "0", "Tue Jan 19 03:14:08 2038"),
    ];
    for &(unix, tz, want) in cases {
        let mut h = joined();
        ok(&mut h, &format!("AT+CIPSNTPCFG=1,{tz},\"{NTP1}\""));
        let r = take_request(&mut h);
        answer(&mut h, &r, unix);
        assert_eq!(h.poll(), TIME_UPDATED, "synchronising to {unix}");
        time_is(&mut h, want);
    }
}

/// 2100 is not a leap year; it is 75 years from the clock's start, so the module gets
/// there in two synchronisations, as a device running for decades would.
#[test]
fn year_2100_in_two_steps() {
    let mut h = joined();
    ok(&mut h, &format!("AT+CIPSNTPCFG=1,0,\"{NTP1}\""));
    sync_to(&mut h, 3_155_760_000); // 2070-01-01
    time_is(&mut h, "Wed Jan  1 00:00:00 2070");
    ok(&mut h, &format!("AT+CIPSNTPCFG=1,0,\"{NTP1}\""));
    sync_to(&mut h, 4_107_542_370); // 2100-02-28 23:59:30
    time_is(&mut h, "Sun Feb 28 23:59:30 2100");
    assert_eq!(h.advance(30_000), b"");
    time_is(&mut h, "Mon Mar  1 00:00:00 2100");
}

#[test]
fn no_answer_retry_then_next_server() {
    let mut h = joined();
    ok(&mut h, &format!("AT+CIPSNTPCFG=1,0,\"{NTP1}\",\"{NTP2}\""));
    let first = request_to(&mut h, NTP1);
    assert_eq!(h.advance(2_999), b"");
    no_request(&h);
    // 3 s without an answer: the same server once more, from the same socket.
    assert_eq!(h.advance(1), b"");
    let retry = request_to(&mut h, NTP1);
    assert_eq!(retry.local, first.local);
    assert_ne!(retry.transmit(), first.transmit());
    assert_eq!(h.advance(2_999), b"");
    no_request(&h);
    // Then the next server, from a new socket; the first one is closed.
    assert_eq!(h.advance(1), b"");
    let r = request_to(&mut h, NTP2);
    assert_eq!(h.platform.net.udp_open_sockets(), 1);
    assert!(h
        .platform
        .net
        .udp_peer_inject(first.local, first.server, &answer_packet(&first, 1, 0))
        .is_err());
    answer(&mut h, &r, SPEC_EXAMPLE);
    assert_eq!(h.poll(), TIME_UPDATED);
    assert_eq!(h.platform.net.udp_open_sockets(), 0);
    time_is(&mut h, "Tue Oct 19 09:47:56 2021");
}

#[test]
fn a_late_answer_to_the_first_request_is_ignored_after_the_retry() {
    let mut h = joined();
    ok(&mut h, &format!("AT+CIPSNTPCFG=1,0,\"{NTP1}\""));
    let first = request_to(&mut h, NTP1);
    assert_eq!(h.advance(3_000), b"");
    let retry = request_to(&mut h, NTP1);
    // A late answer to the first request does not match the retry's timestamp.
    answer(&mut h, &first, SPEC_EXAMPLE);
    assert_eq!(h.advance(10), b"");
    time_is(&mut h, "Thu Jan  1 00:00:00 1970");
    answer(&mut h, &retry, SPEC_EXAMPLE);
    assert_eq!(h.poll(), TIME_UPDATED);
    time_is(&mut h, "Tue Oct 19 09:47:56 2021");
}

#[test]
fn every_server_silent_then_backoff() {
    let mut h = joined();
    ok(&mut h, &format!("AT+CIPSNTPCFG=1,8,\"{NTP1}\",\"{NTP2}\""));
    let silent_round = |h: &mut H| {
        let _ = request_to(h, NTP1);
        assert_eq!(h.advance(3_000), b"");
        let _ = request_to(h, NTP1);
        assert_eq!(h.advance(3_000), b"");
        let _ = request_to(h, NTP2);
        assert_eq!(h.advance(3_000), b"");
        let _ = request_to(h, NTP2);
        assert_eq!(h.advance(3_000), b"");
        no_request(h);
        assert_eq!(h.platform.net.udp_open_sockets(), 0);
    };
    silent_round(&mut h);
    // Not synchronised: still the epoch, no +TIME_UPDATED.
    time_is(&mut h, "Thu Jan  1 08:00:00 1970");
    // Retried after 15 s, then 30 s, 60 s...
    for wait in [15_000, 30_000, 60_000] {
        assert_eq!(h.advance(wait - 1), b"");
        no_request(&h);
        assert_eq!(h.advance(1), b"");
        silent_round(&mut h);
    }
    assert_eq!(h.advance(120_000), b"");
    sync_to(&mut h, SPEC_EXAMPLE);
    time_is(&mut h, "Tue Oct 19 17:47:56 2021");
    // Success resets the backoff: the next round comes after the interval.
    assert_eq!(h.advance(3_599_999), b"");
    no_request(&h);
    assert_eq!(h.advance(1), b"");
    let _ = request_to(&mut h, NTP1);
}

#[test]
fn unusable_answers() {
    let mut h = joined();
    ok(&mut h, &format!("AT+CIPSNTPCFG=1,0,\"{NTP1}\",\"{NTP2}\""));
    let r = request_to(&mut h, NTP1);
    // From another address, or another port: not the server's answer.
    let good = answer_packet(&r, SPEC_EXAMPLE, 0);
    inject(&mut h, &r, SocketAddr::new(ip("192.168.4.66"), 123), &good);
    inject(&mut h, &r, SocketAddr::new(ip(NTP1), 5123), &good);
    // A wrong originate timestamp, or a short datagram.
    let mut stale = good;
    stale[31] ^= 1;
    inject(&mut h, &r, r.server, &stale);
    inject(&mut h, &r, r.server, &good[..47]);
    assert_eq!(h.advance(10), b"");
    no_request(&h);
    time_is(&mut h, "Thu Jan  1 00:00:00 1970");
    // Kiss-o'-death (stratum 0, "RATE"): this server is done for the round.
    let mut kod = good;
    kod[1] = 0;
    kod[12..16].copy_from_slice(b"RATE");
    inject(&mut h, &r, r.server, &kod);
    assert_eq!(h.advance(10), b"");
    let r2 = request_to(&mut h, NTP2);
    assert_eq!(h.platform.net.udp_open_sockets(), 1);
    // An unsynchronised server (LI 3): the next server, and with none left, a failed
    // round.
    let mut unsynced = answer_packet(&r2, SPEC_EXAMPLE, 0);
    unsynced[0] = 0xe4;
    inject(&mut h, &r2, r2.server, &unsynced);
    assert_eq!(h.advance(10), b"");
    no_request(&h);
    assert_eq!(h.platform.net.udp_open_sockets(), 0);
    time_is(&mut h, "Thu Jan  1 00:00:00 1970");
    // A wrong mode (3, a client) from the next round's server: the next server.
    assert_eq!(h.advance(15_000), b"");
    let r = request_to(&mut h, NTP1);
    let mut client = answer_packet(&r, SPEC_EXAMPLE, 0);
    client[0] = 0x23;
    inject(&mut h, &r, r.server, &client);
    assert_eq!(h.advance(10), b"");
    let r2 = request_to(&mut h, NTP2);
    answer(&mut h, &r2, SPEC_EXAMPLE);
    assert_eq!(h.poll(), TIME_UPDATED);
}

#[test]
fn a_flood_is_read_over_several_polls() {
    let mut h = joined();
    ok(&mut h, &format!("AT+CIPSNTPCFG=1,0,\"{NTP1}\""));
    let r = request_to(&mut h, NTP1);
    let mut stale = answer_packet(&r, SPEC_EXAMPLE, 0);
    stale[31] ^= 1;
    for _ in 0..8 {
        inject(&mut h, &r, r.server, &stale);
    }
    // One poll reads at most 8 datagrams, and asks to be polled again at once.
    assert_eq!(h.poll(), b"");
    assert_eq!(h.engine.poll_delay(h.now), Some(Duration::ZERO));
    assert_eq!(h.poll(), b"");
    assert_eq!(
        h.engine.poll_delay(h.now),
        Some(Duration::from_millis(3_000))
    );
    answer(&mut h, &r, SPEC_EXAMPLE);
    assert_eq!(h.poll(), TIME_UPDATED);
    time_is(&mut h, "Tue Oct 19 09:47:56 2021");
}

#[test]
fn periodic_synchronisation() {
    let mut h = joined();
    ok(&mut h, &format!("AT+CIPSNTPCFG=1,8,\"{NTP1}\""));
    sync_to(&mut h, SPEC_EXAMPLE);
    // Default interval: an hour.
    assert_eq!(h.advance(3_599_999), b"");
    no_request(&h);
    assert_eq!(h.advance(1), b"");
    let r = request_to(&mut h, NTP1);
    // The server's clock moved 3600 s, but reports 10 s more: the module follows it.
    answer(&mut h, &r, SPEC_EXAMPLE + 3_610);
    assert_eq!(h.poll(), TIME_UPDATED);
    time_is(&mut h, "Tue Oct 19 18:48:06 2021");
    // A shorter interval counts from the last synchronisation.
    assert_eq!(h.advance(5_000), b"");
    ok(&mut h, "AT+CIPSNTPINTV=15");
    assert_eq!(h.advance(9_999), b"");
    no_request(&h);
    assert_eq!(h.advance(1), b"");
    let r = request_to(&mut h, NTP1);
    answer(&mut h, &r, SPEC_EXAMPLE + 3_625);
    assert_eq!(h.poll(), TIME_UPDATED);
    assert_eq!(h.advance(14_999), b"");
    no_request(&h);
    assert_eq!(h.advance(1), b"");
    let _ = request_to(&mut h, NTP1);
    // An interval already over when it is set: the round starts at once.
    assert_eq!(h.advance(3_000), b"");
    let r = request_to(&mut h, NTP1);
    answer(&mut h, &r, SPEC_EXAMPLE + 3_650);
    assert_eq!(h.poll(), TIME_UPDATED);
    ok(&mut h, "AT+CIPSNTPINTV=3600");
    assert_eq!(h.advance(100_000), b"");
    ok(&mut h, "AT+CIPSNTPINTV=60");
    let _ = request_to(&mut h, NTP1);
}

#[test]
fn disabling_stops_rounds_and_keeps_the_time() {
    let mut h = joined();
    ok(&mut h, &format!("AT+CIPSNTPCFG=1,8,\"{NTP1}\""));
    sync_to(&mut h, SPEC_EXAMPLE);
    ok(&mut h, &format!("AT+CIPSNTPCFG=1,8,\"{NTP1}\""));
    let _ = request_to(&mut h, NTP1);
    assert_eq!(h.platform.net.udp_open_sockets(), 1);
    // Disabling ends the round in flight and closes its socket.
    ok(&mut h, "AT+CIPSNTPCFG=0");
    assert_eq!(h.platform.net.udp_open_sockets(), 0);
    query(&mut h, "AT+CIPSNTPCFG?", "+CIPSNTPCFG:0");
    assert_eq!(h.advance(10_000_000), b"");
    no_request(&h);
    // 10 000 s later, in the zone kept.
    time_is(&mut h, "Tue Oct 19 20:34:36 2021");
}

#[test]
fn reconfiguring_restarts_the_round() {
    let mut h = joined();
    ok(&mut h, &format!("AT+CIPSNTPCFG=1,8,\"{NTP1}\""));
    let old = request_to(&mut h, NTP1);
    ok(&mut h, &format!("AT+CIPSNTPCFG=1,8,\"{NTP2}\""));
    let r = request_to(&mut h, NTP2);
    assert_eq!(h.platform.net.udp_open_sockets(), 1);
    assert!(h
        .platform
        .net
        .udp_peer_inject(old.local, old.server, &answer_packet(&old, 1, 0))
        .is_err());
    answer(&mut h, &r, SPEC_EXAMPLE);
    assert_eq!(h.poll(), TIME_UPDATED);
}

#[test]
fn waits_for_the_station_address() {
    let mut h = booted();
    ok(&mut h, &format!("AT+CIPSNTPCFG=1,8,\"{NTP1}\""));
    assert_eq!(h.advance(60_000), b"");
    no_request(&h);
    // Joining: the round starts as soon as the station has its address.
    join(&mut h);
    let r = request_to(&mut h, NTP1);
    answer(&mut h, &r, SPEC_EXAMPLE);
    assert_eq!(h.poll(), TIME_UPDATED);
    time_is(&mut h, "Tue Oct 19 17:47:56 2021");
}

#[test]
fn names_resolve_through_dns() {
    let mut h = joined();
    h.platform
        .net
        .add_host("ntp.lab", ip("192.168.4.60"))
        .unwrap();
    h.platform.net.set_dns_delay(3);
    ok(&mut h, "AT+CIPSNTPCFG=1,8,\"ntp.lab\"");
    no_request(&h);
    let mut r = None;
    for _ in 0..10 {
        assert_eq!(h.advance(50), b"");
        if h.platform.net.udp_sent().is_some() {
            r = Some(take_request(&mut h));
            break;
        }
    }
    let r = r.expect("a request once ntp.lab resolved");
    assert_eq!(r.server, SocketAddr::new(ip("192.168.4.60"), 123));
    answer(&mut h, &r, SPEC_EXAMPLE);
    assert_eq!(h.poll(), TIME_UPDATED);
    time_is(&mut h, "Tue Oct 19 17:47:56 2021");
}

#[test]
fn default_servers_and_names_that_do_not_resolve() {
    let mut h = joined();
    // Only the second default server has an address in this world.
    h.platform
        .net
        .add_host("ntp.sjtu.edu.cn", ip("192.168.4.61"))
        .unwrap();
    h.platform
        .net
        .add_host("us.pool.ntp.org", ip("192.168.4.62"))
        .unwrap();
    ok(&mut h, "AT+CIPSNTPCFG=1,8");
    let r = request_to(&mut h, "192.168.4.61");
    assert_eq!(h.advance(6_000), b"");
    let r2 = request_to(&mut h, "192.168.4.61");
    assert_eq!(h.advance(3_000), b"");
    let r3 = request_to(&mut h, "192.168.4.62");
    let _ = (r, r2);
    answer(&mut h, &r3, SPEC_EXAMPLE);
    assert_eq!(h.poll(), TIME_UPDATED);
    // No name resolves: the round fails at once, nothing is sent.
    let mut h = joined();
    ok(
        &mut h,
        "AT+CIPSNTPCFG=1,8,\"nowhere.example\",\"nothing.example\"",
    );
    no_request(&h);
    assert_eq!(h.platform.net.udp_open_sockets(), 0);
    time_is(&mut h, "Thu Jan  1 08:00:00 1970");
}

#[test]
fn ipv6_servers() {
    let mut h = joined();
    ok(&mut h, "AT+CIPSNTPCFG=1,0,\"2001:db8::123\"");
    let r = request_to(&mut h, "2001:db8::123");
    assert!(r.local.is_ipv6());
    answer(&mut h, &r, SPEC_EXAMPLE);
    assert_eq!(h.poll(), TIME_UPDATED);
    time_is(&mut h, "Tue Oct 19 09:47:56 2021");
}

/// Found by the `commands` fuzz target: server names with control characters were kept
/// and printed back raw by the query. Names are printable ASCII without `"` now, for
/// every command that prints them back.
#[test]
fn names_with_control_characters_or_quotes_are_refused() {
    let mut h = joined();
    ok(&mut h, "AT+CIPSNTPCFG=1,8,\"ntp.example\"");
    let state = "+CIPSNTPCFG:1,8,\"ntp.example\"";
    refused(
        &mut h,
        "AT+CIPSNTPCFG=1,-1,\"\u{0}\u{0}\u{0}\",\"+C%\"",
        &invalid(2),
        state,
    );
    refused(&mut h, "AT+CIPSNTPCFG=1,8,\"a\\\"b\"", &invalid(2), state);
    refused(
        &mut h,
        "AT+CIPSNTPCFG=1,8,\"ok\",\"t\tab\"",
        &invalid(3),
        state,
    );
    // The same rule for every host name.
    for line in [
        "AT+CIPSTART=\"TCP\",\"bad\u{1}host\",80",
        "AT+CIPDOMAIN=\"bad\u{7f}host\"",
        "AT+PING=\"bad\u{1b}host\"",
    ] {
        let index = u32::from(line.starts_with("AT+CIPSTART"));
        assert_eq!(
            h.send(format!("{line}\r\n").as_bytes()),
            invalid(index),
            "{line}"
        );
    }
}
