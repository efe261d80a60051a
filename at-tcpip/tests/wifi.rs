//! The Wi-Fi station: joining (`+CWJAP:<code>` failures, pending joins, the join
//! timeout), leaving, link loss, and rejoining the stored access point after a restart.

mod common;

use at_core::net::JoinError;
use common::*;

fn expect(h: &mut H, line: &str, want: impl AsRef<[u8]>) {
    let got = h.send(format!("{line}\r\n").as_bytes());
    assert_eq!(got, t(want), "{line}");
}

const JOINED: &str = "WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n";

fn failed(code: u8) -> Text {
    t([format!("+CWJAP:{code}\r\n").into_bytes(), exec_err().0].concat())
}

#[test]
fn a_wrong_password_is_cwjap_2() {
    let mut h = booted();
    expect(&mut h, "AT+CWJAP=\"lab\",\"wrong\"", failed(2));
    expect(&mut h, "AT+CWSTATE?", "+CWSTATE:0,\"lab\"\r\n\r\nOK\r\n");
    expect(&mut h, "AT+CIPSTATUS", "STATUS:5\r\n\r\nOK\r\n");
    expect(&mut h, "AT+CWJAP?", "\r\nOK\r\n");
}

#[test]
fn a_missing_access_point_is_cwjap_3() {
    let mut h = booted();
    expect(&mut h, "AT+CWJAP=\"nowhere\",\"secret123\"", failed(3));
    expect(
        &mut h,
        "AT+CWJAP=\"lab\",\"secret123\",\"0a:00:00:00:00:09\"",
        failed(3),
    );
    expect(&mut h, "AT+CIPSTATUS", "STATUS:5\r\n\r\nOK\r\n");
}

#[test]
fn a_failed_join_is_cwjap_4() {
    let mut h = booted();
    h.platform.station.fail_next_join(JoinError::Failed);
    expect(&mut h, "AT+CWJAP=\"lab\",\"secret123\"", failed(4));
    expect(&mut h, "AT+CWJAP=\"lab\",\"secret123\"", JOINED);
}

#[test]
fn joining_with_the_bssid_of_the_access_point() {
    let mut h = booted();
    expect(
        &mut h,
        "AT+CWJAP=\"lab\",\"secret123\",\"0a:00:00:00:00:01\"",
        JOINED,
    );
}

#[test]
fn a_slow_join_is_pending_then_ok() {
    let mut h = booted();
    expect(&mut h, "AT+SYSLOG=0", "\r\nOK\r\n");
    h.platform.station.set_join_delay(20);
    expect(&mut h, "AT+CWJAP=\"lab\",\"secret123\"", "");
    assert!(h.engine.is_busy());
    expect(&mut h, "AT+CWSTATE?", "\r\nbusy p...\r\n");
    let mut out = Vec::new();
    for _ in 0..40 {
        out.extend_from_slice(&h.poll());
        if !out.is_empty() {
            break;
        }
    }
    assert_eq!(t(out), t(JOINED));
    expect(&mut h, "AT+CWSTATE?", "+CWSTATE:2,\"lab\"\r\n\r\nOK\r\n");
}

#[test]
fn a_join_that_does_not_finish_times_out_with_cwjap_1_after_jap_timeout() {
    let mut h = booted();
    h.platform.station.set_join_delay(255);
    expect(&mut h, "AT+CWJAP=\"lab\",\"secret123\",,,,,,3", "");
    assert_eq!(h.advance(2_999), b"");
    assert!(h.engine.is_busy());
    assert_eq!(h.advance(1), failed(1));
    assert!(!h.engine.is_busy());
    h.platform.station.set_join_delay(0);
    expect(&mut h, "AT+CWJAP=\"lab\",\"secret123\"", JOINED);
}

#[test]
fn the_default_join_timeout_is_15_s() {
    let mut h = booted();
    h.platform.station.set_join_delay(255);
    expect(&mut h, "AT+CWJAP=\"lab\",\"secret123\"", "");
    assert_eq!(h.advance(14_999), b"");
    assert_eq!(h.advance(1), failed(1));
}

#[test]
fn cwjap_execute_rejoins_the_last_access_point() {
    let mut h = joined();
    expect(&mut h, "AT+CWQAP", "\r\nOK\r\n\r\nWIFI DISCONNECT\r\n");
    expect(&mut h, "AT+CWJAP", JOINED);
}

#[test]
fn cwjap_execute_without_a_configured_access_point_fails() {
    let mut h = booted();
    expect(&mut h, "AT+CWJAP", exec_err());
}

#[test]
fn cwqap_says_ok_then_wifi_disconnect_and_closes_the_links() {
    let mut h = joined();
    let peer = connect_single(&mut h);
    expect(
        &mut h,
        "AT+CWQAP",
        "\r\nOK\r\n\r\nWIFI DISCONNECT\r\n\r\nCLOSED\r\n",
    );
    assert!(h.platform.net.engine_closed(peer));
    expect(&mut h, "AT+CIPSTATUS", "STATUS:5\r\n\r\nOK\r\n");
    expect(&mut h, "AT+CWSTATE?", "+CWSTATE:4,\"lab\"\r\n\r\nOK\r\n");
    expect(&mut h, "AT+CWJAP?", "\r\nOK\r\n");
    // Not connected: no second DISCONNECT.
    expect(&mut h, "AT+CWQAP", "\r\nOK\r\n");
    assert_eq!(h.advance(1000), b"");
}

#[test]
fn cwqap_keeps_the_server_listening() {
    let mut h = joined();
    expect(&mut h, "AT+CIPMUX=1", "\r\nOK\r\n");
    expect(&mut h, "AT+CIPSERVER=1", "\r\nOK\r\n");
    connect_mux(&mut h, 1);
    expect(
        &mut h,
        "AT+CWQAP",
        "\r\nOK\r\n\r\nWIFI DISCONNECT\r\n\r\n1,CLOSED\r\n",
    );
    expect(
        &mut h,
        "AT+CIPSERVER?",
        "+CIPSERVER:1,333,\"TCP\",0\r\n\r\nOK\r\n",
    );
}

#[test]
fn losing_the_link_says_wifi_disconnect_and_closes_the_links() {
    let mut h = joined();
    expect(&mut h, "AT+CIPMUX=1", "\r\nOK\r\n");
    let p0 = connect_mux(&mut h, 0);
    let p2 = connect_mux(&mut h, 2);
    h.platform.station.drop_link();
    assert_eq!(
        h.poll(),
        b"\r\nWIFI DISCONNECT\r\n\r\n0,CLOSED\r\n\r\n2,CLOSED\r\n"
    );
    assert!(h.platform.net.engine_closed(p0) && h.platform.net.engine_closed(p2));
    expect(
        &mut h,
        "AT+CIPSTART=0,\"TCP\",\"192.168.4.10\",80",
        exec_err(),
    );
}

#[test]
fn joining_again_while_joined_disconnects_first() {
    let mut h = joined();
    let peer = connect_single(&mut h);
    expect(
        &mut h,
        "AT+CWJAP=\"lab\",\"secret123\"",
        "WIFI DISCONNECT\r\n\r\nCLOSED\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n",
    );
    assert!(h.platform.net.engine_closed(peer));
}

#[test]
fn cwmode_0_leaves_the_access_point_and_refuses_joining() {
    let mut h = joined();
    expect(&mut h, "AT+CWMODE=0", "\r\nOK\r\n\r\nWIFI DISCONNECT\r\n");
    expect(&mut h, "AT+CWJAP=\"lab\",\"secret123\"", exec_err());
    expect(&mut h, "AT+CWQAP", exec_err());
    expect(&mut h, "AT+CWLAP", exec_err());
    expect(&mut h, "AT+CIFSR", "\r\nOK\r\n");
}

#[test]
fn the_joined_access_point_is_stored_and_rejoined_after_a_restart() {
    let mut h = joined();
    assert_eq!(
        h.send(b"AT+RST\r\n"),
        b"\r\nOK\r\n\r\nready\r\n\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n"
    );
    assert_eq!(h.platform.restarts, 1);
    h.send(b"ATE0\r\n");
    expect(&mut h, "AT+CWSTATE?", "+CWSTATE:2,\"lab\"\r\n\r\nOK\r\n");
    expect(&mut h, "AT+CIPSTATUS", "STATUS:2\r\n\r\nOK\r\n");
    connect_single(&mut h);
}

#[test]
fn a_slow_rejoin_after_a_restart_reports_when_done() {
    let mut h = joined();
    h.platform.station.set_join_delay(30);
    assert_eq!(h.send(b"AT+RST\r\n"), b"\r\nOK\r\n\r\nready\r\n");
    h.send(b"ATE0\r\n");
    expect(&mut h, "AT+CWSTATE?", "+CWSTATE:3,\"lab\"\r\n\r\nOK\r\n");
    let mut out = Vec::new();
    for _ in 0..40 {
        out.extend_from_slice(&h.poll());
    }
    assert_eq!(t(out), t("\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n"));
}

#[test]
fn the_access_point_is_not_stored_with_sysstore_0() {
    let mut h = booted();
    expect(&mut h, "AT+SYSSTORE=0", "\r\nOK\r\n");
    join(&mut h);
    assert_eq!(h.send(b"AT+RST\r\n"), b"\r\nOK\r\n\r\nready\r\n");
    assert_eq!(h.advance(20_000), b"", "no rejoin");
    h.send(b"ATE0\r\n");
    expect(&mut h, "AT+CWSTATE?", "+CWSTATE:0,\"\"\r\n\r\nOK\r\n");
    expect(&mut h, "AT+CIPSTATUS", "STATUS:5\r\n\r\nOK\r\n");
}

#[test]
fn a_failed_join_is_not_stored() {
    let mut h = booted();
    expect(&mut h, "AT+CWJAP=\"lab\",\"wrong\"", failed(2));
    assert_eq!(h.send(b"AT+RST\r\n"), b"\r\nOK\r\n\r\nready\r\n");
    assert_eq!(h.advance(20_000), b"");
}

#[test]
fn restore_forgets_the_access_point() {
    let mut h = joined();
    assert_eq!(h.send(b"AT+RESTORE\r\n"), b"\r\nOK\r\n\r\nready\r\n");
    assert_eq!(h.advance(20_000), b"");
    h.send(b"ATE0\r\n");
    expect(&mut h, "AT+CWSTATE?", "+CWSTATE:0,\"\"\r\n\r\nOK\r\n");
}
