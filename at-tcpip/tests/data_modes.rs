//! Sending with a length: `AT+CIPSEND`, `AT+CIPSENDEX` and `AT+CIPSENDL` — the prompt,
//! what counts as payload, the result lines, and failures.

mod common;

use common::*;

fn joined_single() -> (H, at_core::sim::PeerId) {
    let mut h = joined();
    let peer = connect_single(&mut h);
    (h, peer)
}

#[test]
fn cipsend_prompts_takes_exactly_len_bytes_and_reports() {
    let (mut h, peer) = joined_single();
    assert_eq!(h.send(b"AT+CIPSEND=5\r\n"), b"\r\nOK\r\n\r\n>");
    assert!(h.engine.in_data_mode());
    assert_eq!(h.send(b"hel"), b"");
    assert_eq!(
        h.platform.net.peer_received(peer),
        b"",
        "nothing before len bytes"
    );
    assert_eq!(h.send(b"lo"), b"\r\nRecv 5 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(h.platform.net.peer_received(peer), b"hello");
    assert_eq!(h.send(b"AT\r\n"), b"\r\nOK\r\n");
}

#[test]
fn cipsend_data_is_never_echoed() {
    let (mut h, peer) = joined_single();
    assert_eq!(h.send(b"ATE1\r\n"), b"\r\nOK\r\n");
    assert_eq!(
        h.send(b"AT+CIPSEND=4\r\n"),
        b"AT+CIPSEND=4\r\n\r\nOK\r\n\r\n>"
    );
    assert_eq!(h.send(b"AT\r\n"), b"\r\nRecv 4 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(h.platform.net.peer_received(peer), b"AT\r\n");
}

#[test]
fn payload_in_the_same_chunk_as_the_command_line_is_payload() {
    let (mut h, peer) = joined_single();
    assert_eq!(
        h.send(b"AT+CIPSEND=9\r\nAT\r\nhello"),
        b"\r\nOK\r\n\r\n>\r\nRecv 9 bytes\r\n\r\nSEND OK\r\n"
    );
    assert_eq!(h.platform.net.peer_received(peer), b"AT\r\nhello");
}

#[test]
fn a_late_lf_after_a_bare_cr_is_swallowed_not_sent() {
    let (mut h, peer) = joined_single();
    assert_eq!(
        h.send_chunks(&[b"AT+CIPSEND=5\r", b"\nhello"]),
        b"\r\nOK\r\n\r\n>\r\nRecv 5 bytes\r\n\r\nSEND OK\r\n"
    );
    assert_eq!(h.platform.net.peer_received(peer), b"hello");
    assert_eq!(
        h.send_chunks(&[b"AT+CIPSEND=3\r", b"\n", b"abc"]),
        b"\r\nOK\r\n\r\n>\r\nRecv 3 bytes\r\n\r\nSEND OK\r\n"
    );
    assert_eq!(h.platform.net.peer_received(peer), b"helloabc");
}

#[test]
fn a_bare_cr_followed_by_payload_in_the_same_chunk_ends_the_line() {
    let (mut h, peer) = joined_single();
    assert_eq!(
        h.send(b"AT+CIPSEND=3\rxyz"),
        b"\r\nOK\r\n\r\n>\r\nRecv 3 bytes\r\n\r\nSEND OK\r\n"
    );
    assert_eq!(h.platform.net.peer_received(peer), b"xyz");
}

#[test]
fn an_lf_after_a_complete_crlf_is_the_first_payload_byte() {
    let (mut h, peer) = joined_single();
    assert_eq!(h.send(b"AT+CIPSEND=2\r\n"), b"\r\nOK\r\n\r\n>");
    assert_eq!(h.send(b"\nx"), b"\r\nRecv 2 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(h.platform.net.peer_received(peer), b"\nx");
}

#[test]
fn binary_payload_with_every_byte_value_reaches_the_peer_unchanged() {
    let (mut h, peer) = joined_single();
    let payload: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    assert_eq!(h.send(b"AT+CIPSEND=512\r\n"), b"\r\nOK\r\n\r\n>");
    assert_eq!(h.send(&payload), b"\r\nRecv 512 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(h.platform.net.peer_received(peer), &payload[..]);
}

#[test]
fn cipsend_in_multi_connection_mode_goes_to_the_named_link() {
    let mut h = joined();
    assert_eq!(h.send(b"AT+CIPMUX=1\r\n"), b"\r\nOK\r\n");
    let p0 = connect_mux(&mut h, 0);
    let p3 = connect_mux(&mut h, 3);
    assert_eq!(h.send(b"AT+CIPSEND=3,4\r\n"), b"\r\nOK\r\n\r\n>");
    assert_eq!(h.send(b"to 3"), b"\r\nRecv 4 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(h.platform.net.peer_received(p3), b"to 3");
    assert_eq!(h.platform.net.peer_received(p0), b"");
}

#[test]
fn a_line_arriving_while_the_payload_is_sent_gets_busy() {
    let (mut h, peer) = joined_single();
    assert_eq!(h.send(b"AT+SYSLOG=0\r\n"), b"\r\nOK\r\n");
    h.platform.net.set_send_window(peer, 0);
    assert_eq!(h.send(b"AT+CIPSEND=5\r\n"), b"\r\nOK\r\n\r\n>");
    assert_eq!(
        h.send(b"helloAT+CIPMUX=1\r\n"),
        b"\r\nRecv 5 bytes\r\n\r\nbusy p...\r\n"
    );
    assert!(h.engine.is_busy());
    h.platform.net.set_send_window(peer, usize::MAX);
    assert_eq!(h.poll(), b"\r\nSEND OK\r\n");
    assert_eq!(h.platform.net.peer_received(peer), b"hello");
    assert_eq!(
        h.send(b"AT+CIPMUX?\r\n"),
        b"+CIPMUX:0\r\n\r\nOK\r\n",
        "busy line not run"
    );
}

#[test]
fn surplus_bytes_while_sending_get_busy_and_do_not_spoil_the_next_command() {
    let (mut h, peer) = joined_single();
    assert_eq!(h.send(b"AT+SYSLOG=0\r\n"), b"\r\nOK\r\n");
    h.platform.net.set_send_window(peer, 0);
    assert_eq!(h.send(b"AT+CIPSEND=5\r\n"), b"\r\nOK\r\n\r\n>");
    assert_eq!(
        h.send(b"helloXY"),
        b"\r\nRecv 5 bytes\r\n\r\nbusy p...\r\n",
        "WIRE.md: bytes beyond <len> that arrive while sending -> busy p..."
    );
    h.platform.net.set_send_window(peer, usize::MAX);
    assert_eq!(h.poll(), b"\r\nSEND OK\r\n");
    assert_eq!(h.send(b"AT\r\n"), b"\r\nOK\r\n");
}

#[test]
fn a_peer_reset_before_the_payload_is_sent_gives_send_fail() {
    let (mut h, peer) = joined_single();
    assert_eq!(h.send(b"AT+CIPSEND=5\r\n"), b"\r\nOK\r\n\r\n>");
    h.platform.net.peer_reset(peer);
    let out = h.send(b"hello");
    assert_eq!(out, b"\r\nRecv 5 bytes\r\n\r\nSEND FAIL\r\n\r\nCLOSED\r\n");
    assert_eq!(h.platform.net.peer_received(peer), b"");
    assert_eq!(h.send(b"AT+CIPSTATE?\r\n"), b"\r\nOK\r\n");
}

#[test]
fn a_link_closed_while_collecting_gives_send_fail() {
    let (mut h, peer) = joined_single();
    assert_eq!(h.send(b"AT+CIPSEND=5\r\n"), b"\r\nOK\r\n\r\n>");
    h.platform.net.peer_close(peer);
    assert_eq!(h.poll(), b"\r\nCLOSED\r\n");
    assert!(h.engine.in_data_mode(), "the payload is still taken");
    assert_eq!(h.send(b"hello"), b"\r\nRecv 5 bytes\r\n\r\nSEND FAIL\r\n");
}

#[test]
fn so_sndtimeo_ends_a_blocked_send_with_send_fail() {
    let (mut h, peer) = joined_single();
    assert_eq!(h.send(b"AT+CIPTCPOPT=-1,0,1000\r\n"), b"\r\nOK\r\n");
    h.platform.net.set_send_window(peer, 0);
    assert_eq!(h.send(b"AT+CIPSEND=5\r\n"), b"\r\nOK\r\n\r\n>");
    assert_eq!(h.send(b"hello"), b"\r\nRecv 5 bytes\r\n");
    assert_eq!(h.advance(999), b"");
    assert_eq!(h.advance(1), b"\r\nSEND FAIL\r\n");
    assert_eq!(h.send(b"AT\r\n"), b"\r\nOK\r\n");
}

#[test]
fn a_send_window_that_opens_slowly_still_sends_everything_in_order() {
    let (mut h, peer) = joined_single();
    h.platform.net.set_send_window(peer, 3);
    assert_eq!(h.send(b"AT+CIPSEND=10\r\n"), b"\r\nOK\r\n\r\n>");
    assert_eq!(h.send(b"0123456789"), b"\r\nRecv 10 bytes\r\n");
    assert_eq!(h.platform.net.peer_received(peer), b"012");
    h.platform.net.set_send_window(peer, 4);
    assert_eq!(h.poll(), b"");
    h.platform.net.set_send_window(peer, 100);
    assert_eq!(h.poll(), b"\r\nSEND OK\r\n");
    assert_eq!(h.platform.net.peer_received(peer), b"0123456789");
}

#[test]
fn cipsendex_backslash_zero_ends_the_data_early() {
    let (mut h, peer) = joined_single();
    assert_eq!(h.send(b"AT+CIPSENDEX=10\r\n"), b"\r\nOK\r\n\r\n>");
    assert_eq!(h.send(b"ab\\0"), b"\r\nRecv 4 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(h.platform.net.peer_received(peer), b"ab");
    assert_eq!(h.send(b"AT\r\n"), b"\r\nOK\r\n");
}

#[test]
fn cipsendex_double_backslash_zero_sends_a_literal_backslash_zero() {
    let (mut h, peer) = joined_single();
    assert_eq!(h.send(b"AT+CIPSENDEX=3\r\n"), b"\r\nOK\r\n\r\n>");
    assert_eq!(h.send(b"\\\\0"), b"\r\nRecv 3 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(h.platform.net.peer_received(peer), b"\\0");
}

#[test]
fn cipsendex_backslash_any_sends_any() {
    let (mut h, peer) = joined_single();
    assert_eq!(h.send(b"AT+CIPSENDEX=7\r\n"), b"\r\nOK\r\n\r\n>");
    assert_eq!(h.send(b"\\a\\\"x\\"), b"");
    assert_eq!(h.send(b"n"), b"\r\nRecv 7 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(h.platform.net.peer_received(peer), b"a\"xn");
}

#[test]
fn cipsendex_without_escapes_sends_the_full_length() {
    let (mut h, peer) = joined_single();
    assert_eq!(h.send(b"AT+CIPSENDEX=4\r\n"), b"\r\nOK\r\n\r\n>");
    assert_eq!(h.send(b"a0\x00b"), b"\r\nRecv 4 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(h.platform.net.peer_received(peer), b"a0\x00b");
}

#[test]
fn cipsendl_reports_progress_every_report_size_then_send_ok() {
    let (mut h, peer) = joined_single();
    assert_eq!(h.send(b"AT+CIPSENDLCFG=100,100\r\n"), b"\r\nOK\r\n");
    assert_eq!(h.send(b"AT+CIPSENDL=300\r\n"), b"\r\nOK\r\n\r\n>");
    let data: Vec<u8> = (0..300u32).map(|i| b'a' + (i % 26) as u8).collect();
    assert_eq!(h.send(&data[..100]), b"+CIPSENDL:100,100\r\n");
    assert_eq!(h.send(&data[100..150]), b"");
    assert_eq!(
        h.platform.net.peer_received(peer),
        &data[..150],
        "streamed as it arrives"
    );
    assert_eq!(h.send(&data[150..200]), b"+CIPSENDL:200,200\r\n");
    assert_eq!(
        h.send(&data[200..]),
        b"+CIPSENDL:300,300\r\n\r\nSEND OK\r\n"
    );
    assert_eq!(h.platform.net.peer_received(peer), &data[..]);
    assert_eq!(h.send(b"AT\r\n"), b"\r\nOK\r\n");
}

#[test]
fn cipsendl_is_cancelled_by_a_guarded_plus_plus_plus() {
    let (mut h, peer) = joined_single();
    assert_eq!(h.send(b"AT+CIPSENDL=1000\r\n"), b"\r\nOK\r\n\r\n>");
    assert_eq!(h.send(&[b'x'; 100]), b"");
    h.advance(30);
    assert_eq!(h.send(b"+++"), b"");
    assert_eq!(h.advance(29), b"");
    assert_eq!(h.advance(1), b"\r\nSEND CANCELLED\r\n");
    assert_eq!(h.platform.net.peer_received(peer), &[b'x'; 100][..]);
    assert!(!h.engine.in_data_mode());
    assert_eq!(h.send(b"AT\r\n"), b"\r\nOK\r\n");
}

#[test]
fn cipsendl_plus_plus_plus_right_after_the_command_line_is_data() {
    let (mut h, peer) = joined_single();
    assert_eq!(
        h.send(b"AT+CIPSENDL=3\r\n+++"),
        b"\r\nOK\r\n\r\n>\r\nSEND OK\r\n"
    );
    assert_eq!(h.platform.net.peer_received(peer), b"+++");
    let (mut h, peer) = joined_single();
    assert_eq!(h.send(b"AT+CIPSENDL=10\r\n+++"), b"\r\nOK\r\n\r\n>");
    assert_eq!(
        h.advance(30),
        b"",
        "the guard before the pluses was not kept"
    );
    assert!(h.engine.in_data_mode());
    assert_eq!(h.send(b"1234567"), b"\r\nSEND OK\r\n");
    assert_eq!(h.platform.net.peer_received(peer), b"+++1234567");
}

#[test]
fn cipsendl_plus_plus_plus_inside_data_is_data() {
    let (mut h, peer) = joined_single();
    assert_eq!(h.send(b"AT+CIPSENDL=8\r\n"), b"\r\nOK\r\n\r\n>");
    assert_eq!(h.send(b"ab+++"), b"");
    assert_eq!(h.advance(100), b"");
    h.advance(30);
    assert_eq!(h.send(b"cde"), b"\r\nSEND OK\r\n");
    assert_eq!(h.platform.net.peer_received(peer), b"ab+++cde");
}

#[test]
fn cipsendl_after_a_reset_consumes_the_rest_and_fails() {
    let (mut h, peer) = joined_single();
    assert_eq!(h.send(b"AT+CIPSENDL=300\r\n"), b"\r\nOK\r\n\r\n>");
    assert_eq!(h.send(&[b'a'; 100]), b"");
    assert_eq!(h.platform.net.peer_received(peer).len(), 100);
    h.platform.net.peer_reset(peer);
    assert_eq!(h.poll(), b"\r\nCLOSED\r\n");
    assert!(h.engine.in_data_mode());
    for _ in 0..3 {
        assert_eq!(
            h.engine.feed(h.now, &[b'b'; 50]),
            50,
            "input still consumed"
        );
        h.poll();
    }
    assert!(h.engine.in_data_mode());
    assert_eq!(
        h.engine.feed(h.now, &[b'b'; 60]),
        50,
        "not beyond the length"
    );
    assert_eq!(h.poll(), b"\r\nSEND FAIL\r\n");
    assert!(!h.engine.in_data_mode());
    assert_eq!(h.send(b"AT\r\n"), b"\r\nOK\r\n");
}
