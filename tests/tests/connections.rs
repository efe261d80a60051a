//! Connections end to end: `at-modem` on a pty, driven as a host driver drives a real
//! module, against real peers the tests start themselves on loopback (127.0.0.1, ::1 and
//! a 239.255.0.x group kept on `lo` with `--multicast-if 127.0.0.1`). Every expectation
//! is the exact byte string of `WIRE.md` and `w800-tcpip-at.rst`; every wait ends as soon
//! as the bytes are there (the harness's timeouts only bound a failing test).

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use at_e2e_tests::{accept_peer, retry_interrupted, Host, Modem, PATIENCE};

const QUIET: Duration = Duration::from_millis(100);

/// The access point the emulated station joins, and its password.
const SSID: &str = "LabNet";
const PASSWORD: &str = "correct-horse";

// ---------------------------------------------------------------------------------------
// The module
// ---------------------------------------------------------------------------------------

/// A booted modem with echo off (not joined). It sees `LabNet` (WPA2) and `OpenCafe`.
fn modem(extra: &[&str]) -> (Modem, Host) {
    let ap = format!("{SSID}:{PASSWORD}");
    let mut args = vec!["--ap", ap.as_str(), "--ap", "OpenCafe"];
    args.extend_from_slice(extra);
    let (m, mut host) = Modem::on_pty(&args);
    host.expect(b"\r\nready\r\n");
    host.chat(b"ATE0\r\n", b"ATE0\r\n\r\nOK\r\n");
    (m, host)
}

/// A modem whose station has joined `LabNet`.
fn joined(extra: &[&str]) -> (Modem, Host) {
    let (m, mut host) = modem(extra);
    join(&mut host);
    (m, host)
}

fn join(host: &mut Host) {
    host.chat(
        format!("AT+CWJAP=\"{SSID}\",\"{PASSWORD}\"\r\n").as_bytes(),
        b"WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n",
    );
}

/// `AT+CIPSEND=<args>`, the payload after the prompt, and the module's receipt.
fn cipsend(host: &mut Host, args: &str, payload: &[u8]) {
    host.chat(
        format!("AT+CIPSEND={args}\r\n").as_bytes(),
        b"\r\nOK\r\n\r\n>",
    );
    host.send(payload);
    host.expect(format!("\r\nRecv {} bytes\r\n\r\nSEND OK\r\n", payload.len()).as_bytes());
}

/// Sends `line` and expects `ERR CODE:<code>` and `ERROR` (needs `AT+SYSLOG=1`).
fn refused(host: &mut Host, line: &str, code: u32) {
    host.chat(
        format!("{line}\r\n").as_bytes(),
        format!("ERR CODE:0x{code:08x}\r\n\r\nERROR\r\n").as_bytes(),
    );
}

const EXEC_FAILED: u32 = 0x010a_0000;
const fn invalid(index: u32) -> u32 {
    0x0107_0000 | index
}
const fn type_mismatch(index: u32) -> u32 {
    0x0105_0000 | index
}
const fn too_long(index: u32) -> u32 {
    0x0104_0000 | index
}
const fn count(needed: u32, given: u32) -> u32 {
    0x0106_0000 | needed << 8 | given
}

// ---------------------------------------------------------------------------------------
// Peers (loopback only)
// ---------------------------------------------------------------------------------------

/// A TCP listener on 127.0.0.1 and its port.
fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1");
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// A TCP listener on ::1 and its port.
fn listener_v6() -> (TcpListener, u16) {
    let l = TcpListener::bind("[::1]:0").expect("bind ::1");
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// A port nothing listens on (bound and released at once).
fn free_tcp_port() -> u16 {
    listener().1
}

/// A UDP port nothing uses (bound and released at once).
fn free_udp_port() -> u16 {
    udp_peer().1
}

/// A UDP socket on 127.0.0.1 with bounded reads, and its port.
fn udp_peer() -> (UdpSocket, u16) {
    let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind udp 127.0.0.1");
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let port = s.local_addr().unwrap().port();
    (s, port)
}

/// A thread echoing everything a connection sends until it ends.
fn echo(mut s: TcpStream) -> std::thread::JoinHandle<()> {
    s.set_read_timeout(None).unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    })
}

/// A TCP echo server on 127.0.0.1 in a thread: accepts every connection and echoes.
/// Returns its port and a channel of the accepted connections' peer addresses (the
/// module's side of each link).
fn echo_server() -> (u16, std::sync::mpsc::Receiver<SocketAddr>) {
    let (l, port) = listener();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { return };
            let peer = s.peer_addr().unwrap();
            echo(s);
            if tx.send(peer).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

/// Reads exactly `n` bytes from a peer (bounded).
fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).expect("peer read");
    buf
}

/// Asserts the module closed the connection: end of stream or reset, within the bound.
fn expect_closed(s: &mut TcpStream) {
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0u8; 64];
    match retry_interrupted(|| s.read(&mut buf)) {
        Ok(0) => {}
        Ok(n) => panic!("data instead of a close: {:?}", &buf[..n]),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the module did not close the connection: {e}"),
    }
}

/// One datagram (bounded wait).
fn recv_datagram(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 2048];
    let (n, from) = retry_interrupted(|| s.recv_from(&mut buf)).expect("datagram from the module");
    (buf[..n].to_vec(), from)
}

/// Drops `s` with `SO_LINGER` 0: the peer sees a reset, not a close.
fn reset(s: TcpStream) {
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
}

/// Reads `+IPD` messages of `header_prefix` (e.g. `"\r\n+IPD,"`) until `want` bytes of
/// payload came, checking each message's framing and content.
fn expect_ipd_stream(host: &mut Host, header_prefix: &str, want: &[u8]) {
    let mut got = 0;
    while got < want.len() {
        host.expect(header_prefix.as_bytes());
        let len = host.read_until(b":");
        let len: usize = std::str::from_utf8(&len[..len.len() - 1])
            .unwrap()
            .parse()
            .expect("+IPD length");
        assert!(
            (1..=2920).contains(&len),
            "+IPD carries 1 to 2920 bytes, not {len}"
        );
        assert!(got + len <= want.len(), "more data than the peer sent");
        let mut framed = want[got..got + len].to_vec();
        framed.extend_from_slice(b"\r\n");
        host.expect(&framed);
        got += len;
    }
}

// ---------------------------------------------------------------------------------------
// 1. Joining
// ---------------------------------------------------------------------------------------

#[test]
fn cwjap_reports_wrong_password_and_unknown_ssid_then_joins() {
    let (_m, mut host) = modem(&[]);
    host.chat(
        format!("AT+CWJAP=\"{SSID}\",\"wrong-password\"\r\n").as_bytes(),
        b"+CWJAP:2\r\n\r\nERROR\r\n",
    );
    host.chat(
        b"AT+CWJAP=\"NoSuchNet\",\"whatever1\"\r\n",
        b"+CWJAP:3\r\n\r\nERROR\r\n",
    );
    host.chat(b"AT+CIPSTATUS\r\n", b"STATUS:5\r\n\r\nOK\r\n");
    join(&mut host);
    host.chat(b"AT+CIPSTATUS\r\n", b"STATUS:2\r\n\r\nOK\r\n");
    host.expect_silence(QUIET);
}

#[test]
fn open_access_point_takes_any_password() {
    let (_m, mut host) = modem(&[]);
    host.chat(
        b"AT+CWJAP=\"OpenCafe\",\"\"\r\n",
        b"WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n",
    );
}

#[test]
fn cipstart_needs_a_joined_station() {
    let (l, port) = listener();
    let (_m, mut host) = modem(&[]);
    host.chat(b"AT+SYSLOG=1\r\n", b"\r\nOK\r\n");
    refused(
        &mut host,
        &format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port}"),
        EXEC_FAILED,
    );
    refused(
        &mut host,
        &format!("AT+CIPSTART=\"UDP\",\"127.0.0.1\",{port}"),
        EXEC_FAILED,
    );
    host.chat(b"AT+CIPSTATE?\r\n", b"\r\nOK\r\n");
    // Nothing reached the peer.
    l.set_nonblocking(true).unwrap();
    assert_eq!(
        l.accept().map(|_| ()).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    // Joined, the same line connects.
    join(&mut host);
    host.chat(
        format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
}

#[test]
fn cwqap_says_ok_then_wifi_disconnect_and_links_need_a_new_join() {
    let (l, port) = listener();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+CWQAP\r\n", b"\r\nOK\r\n\r\nWIFI DISCONNECT\r\n");
    host.expect_silence(QUIET);
    host.chat(b"AT+CIPSTATUS\r\n", b"STATUS:5\r\n\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"\r\nERROR\r\n",
    );
    // Not joined any more: nothing to announce.
    host.chat(b"AT+CWQAP\r\n", b"\r\nOK\r\n");
    host.expect_silence(QUIET);
    drop(l);
}

#[test]
fn cwqap_closes_open_links() {
    let (l, port) = listener();
    let (_m, mut host) = joined(&[]);
    host.chat(
        format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let mut peer = accept_peer(&l);
    host.chat(
        b"AT+CWQAP\r\n",
        b"\r\nOK\r\n\r\nWIFI DISCONNECT\r\n\r\nCLOSED\r\n",
    );
    expect_closed(&mut peer);
    host.chat(b"AT+CIPSTATE?\r\n", b"\r\nOK\r\n");
}

// ---------------------------------------------------------------------------------------
// 2. TCP client, single connection
// ---------------------------------------------------------------------------------------

#[test]
fn tcp_client_single_mode_sends_receives_and_closes() {
    let (port, accepted) = echo_server();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+CIPMUX?\r\n", b"+CIPMUX:0\r\n\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let local = accepted
        .recv_timeout(PATIENCE)
        .expect("echo server accepted");
    assert_eq!(local.ip(), Ipv4Addr::LOCALHOST);

    cipsend(&mut host, "5", b"hello");
    host.expect(b"\r\n+IPD,5:hello\r\n");

    host.chat(
        b"AT+CIPSTATE?\r\n",
        format!(
            "+CIPSTATE:0,\"TCP\",\"127.0.0.1\",{port},{},0\r\n\r\nOK\r\n",
            local.port()
        )
        .as_bytes(),
    );
    host.chat(
        b"AT+CIPSTATUS\r\n",
        format!(
            "STATUS:3\r\n+CIPSTATUS:0,\"TCP\",\"127.0.0.1\",{port},{},0\r\n\r\nOK\r\n",
            local.port()
        )
        .as_bytes(),
    );

    // A second link in single mode: refused, the first one unharmed.
    host.chat(
        format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"\r\nERROR\r\n",
    );

    host.chat(b"AT+CIPDINFO?\r\n", b"+CIPDINFO:false\r\n\r\nOK\r\n");
    host.chat(b"AT+CIPDINFO=1\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPDINFO?\r\n", b"+CIPDINFO:true\r\n\r\nOK\r\n");
    cipsend(&mut host, "5", b"world");
    host.expect(format!("\r\n+IPD,5,\"127.0.0.1\",{port}:world\r\n").as_bytes());

    host.chat(b"AT+CIPCLOSE\r\n", b"CLOSED\r\n\r\nOK\r\n");
    host.chat(b"AT+CIPSTATE?\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPSTATUS\r\n", b"STATUS:4\r\n\r\nOK\r\n");
    host.chat(b"AT+CIPSEND=5\r\n", b"\r\nERROR\r\n");
    host.chat(b"AT+CIPCLOSE\r\n", b"\r\nERROR\r\n");
    host.expect_silence(QUIET);
    // The refused CIPSTART opened no second connection (none reached the server).
    assert!(accepted.try_recv().is_err());
}

#[test]
fn cipstart_takes_the_optional_keepalive_and_local_ip() {
    let (l, port) = listener();
    let (_m, mut host) = joined(&[]);
    host.chat(
        format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port},60,\"127.0.0.1\"\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let peer = accept_peer(&l);
    assert_eq!(peer.peer_addr().unwrap().ip(), Ipv4Addr::LOCALHOST);
    host.chat(b"AT+CIPCLOSE\r\n", b"CLOSED\r\n\r\nOK\r\n");
    // An omitted keep-alive keeps its position.
    host.chat(
        format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port},,\"127.0.0.1\"\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let _peer = accept_peer(&l);
}

#[test]
fn peer_close_is_reported_and_frees_the_link() {
    let (l, port) = listener();
    let (_m, mut host) = joined(&[]);
    host.chat(
        format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let peer = accept_peer(&l);
    drop(peer);
    host.expect(b"\r\nCLOSED\r\n");
    host.chat(b"AT+CIPSTATE?\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPSEND=1\r\n", b"\r\nERROR\r\n");
    // The id is free again.
    host.chat(
        format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let _peer = accept_peer(&l);
}

#[test]
fn data_then_close_in_one_burst_gives_ipd_then_closed() {
    let (l, port) = listener();
    let (_m, mut host) = joined(&[]);
    host.chat(
        format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let mut peer = accept_peer(&l);
    // Corked, the data leaves with the FIN in one segment: both are there at once.
    socket2::SockRef::from(&peer).set_tcp_cork(true).unwrap();
    peer.write_all(b"bye").unwrap();
    drop(peer);
    host.expect(b"\r\n+IPD,3:bye\r\n");
    host.expect(b"\r\nCLOSED\r\n");
    host.chat(b"AT+CIPSTATE?\r\n", b"\r\nOK\r\n");
}

#[test]
fn a_burst_larger_than_one_ipd_arrives_whole() {
    let (l, port) = listener();
    let (_m, mut host) = joined(&[]);
    host.chat(
        format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let mut peer = accept_peer(&l);
    let data: Vec<u8> = (0..3000u32).map(|i| b'a' + (i % 26) as u8).collect();
    peer.write_all(&data).unwrap();
    expect_ipd_stream(&mut host, "\r\n+IPD,", &data);
    host.chat(b"AT\r\n", b"\r\nOK\r\n");
    host.expect_silence(QUIET);
}

#[test]
fn cipsend_takes_the_maximum_5760_bytes() {
    let (l, port) = listener();
    let (_m, mut host) = joined(&[]);
    host.chat(
        format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let mut peer = accept_peer(&l);
    let data: Vec<u8> = (0..5760u32).map(|i| (i % 251) as u8).collect();
    cipsend(&mut host, "5760", &data);
    assert_eq!(read_n(&mut peer, 5760), data);
}

// ---------------------------------------------------------------------------------------
// 3. Multiple connections
// ---------------------------------------------------------------------------------------

#[test]
fn multi_mode_two_links_report_ids_state_and_close_all() {
    let (la, a) = listener();
    let (lb, b) = listener();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPMUX?\r\n", b"+CIPMUX:1\r\n\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSTART=0,\"TCP\",\"127.0.0.1\",{a}\r\n").as_bytes(),
        b"0,CONNECT\r\n\r\nOK\r\n",
    );
    let mut pa = accept_peer(&la);
    host.chat(
        format!("AT+CIPSTART=1,\"TCP\",\"127.0.0.1\",{b}\r\n").as_bytes(),
        b"1,CONNECT\r\n\r\nOK\r\n",
    );
    let mut pb = accept_peer(&lb);
    let (la_port, lb_port) = (
        pa.peer_addr().unwrap().port(),
        pb.peer_addr().unwrap().port(),
    );

    cipsend(&mut host, "1,3", b"abc");
    assert_eq!(read_n(&mut pb, 3), b"abc");
    cipsend(&mut host, "0,4", b"defg");
    assert_eq!(read_n(&mut pa, 4), b"defg");

    pa.write_all(b"xyz").unwrap();
    host.expect(b"\r\n+IPD,0,3:xyz\r\n");
    pb.write_all(b"12345").unwrap();
    host.expect(b"\r\n+IPD,1,5:12345\r\n");
    host.chat(b"AT+CIPDINFO=1\r\n", b"\r\nOK\r\n");
    pb.write_all(b"q").unwrap();
    host.expect(format!("\r\n+IPD,1,1,\"127.0.0.1\",{b}:q\r\n").as_bytes());

    let line = |kind: &str, id: u8, remote: u16, local: u16| {
        format!("+{kind}:{id},\"TCP\",\"127.0.0.1\",{remote},{local},0\r\n")
    };
    host.chat(
        b"AT+CIPSTATE?\r\n",
        format!(
            "{}{}\r\nOK\r\n",
            line("CIPSTATE", 0, a, la_port),
            line("CIPSTATE", 1, b, lb_port)
        )
        .as_bytes(),
    );
    host.chat(
        b"AT+CIPSTATUS\r\n",
        format!(
            "STATUS:3\r\n{}{}\r\nOK\r\n",
            line("CIPSTATUS", 0, a, la_port),
            line("CIPSTATUS", 1, b, lb_port)
        )
        .as_bytes(),
    );

    // The mode cannot change while links are open.
    host.chat(b"AT+CIPMUX=0\r\n", b"\r\nERROR\r\n");
    host.chat(b"AT+CIPMUX?\r\n", b"+CIPMUX:1\r\n\r\nOK\r\n");
    // The single-connection forms do not apply.
    host.chat(b"AT+CIPCLOSE\r\n", b"\r\nERROR\r\n");
    host.chat(b"AT+CIPCLOSE=3\r\n", b"\r\nERROR\r\n");

    host.chat(b"AT+CIPCLOSE=5\r\n", b"0,CLOSED\r\n1,CLOSED\r\n\r\nOK\r\n");
    expect_closed(&mut pa);
    expect_closed(&mut pb);
    host.chat(b"AT+CIPSTATE?\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPSTATUS\r\n", b"STATUS:4\r\n\r\nOK\r\n");
    host.chat(b"AT+CIPMUX=0\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPMUX?\r\n", b"+CIPMUX:0\r\n\r\nOK\r\n");
    host.expect_silence(QUIET);
}

#[test]
fn cipclose_one_id_leaves_the_others() {
    let (l, port) = listener();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    for id in 0..3 {
        host.chat(
            format!("AT+CIPSTART={id},\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
            format!("{id},CONNECT\r\n\r\nOK\r\n").as_bytes(),
        );
    }
    let mut peers: Vec<TcpStream> = (0..3).map(|_| accept_peer(&l)).collect();
    host.chat(b"AT+CIPCLOSE=1\r\n", b"1,CLOSED\r\n\r\nOK\r\n");
    // Link 1 is the accepted stream whose port is no longer listed.
    host.send(b"AT+CIPSTATE?\r\n");
    let state = String::from_utf8(host.read_until(b"\r\nOK\r\n")).unwrap();
    let listed: Vec<&str> = state.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(listed.len(), 3, "{state:?}");
    assert!(listed[0].starts_with("+CIPSTATE:0,\"TCP\""), "{state:?}");
    assert!(listed[1].starts_with("+CIPSTATE:2,\"TCP\""), "{state:?}");
    assert_eq!(listed[2], "OK");
    let live: Vec<u16> = listed[..2]
        .iter()
        .map(|l| l.rsplit(',').nth(1).unwrap().parse().unwrap())
        .collect();
    let ports: Vec<u16> = peers
        .iter()
        .map(|p| p.peer_addr().unwrap().port())
        .collect();
    let gone: Vec<usize> = (0..3).filter(|&i| !live.contains(&ports[i])).collect();
    assert_eq!(gone.len(), 1, "ports {ports:?}, listed {live:?}");
    expect_closed(&mut peers[gone[0]]);
    // The other two still carry data.
    for (i, p) in peers.iter_mut().enumerate() {
        if i != gone[0] {
            p.write_all(b"x").unwrap();
        }
    }
    let mut got = [host.read_until(b"x\r\n"), host.read_until(b"x\r\n")]
        .map(|m| String::from_utf8(m).unwrap());
    got.sort();
    assert_eq!(got, ["\r\n+IPD,0,1:x\r\n", "\r\n+IPD,2,1:x\r\n"]);
}

#[test]
fn cipstartex_takes_the_lowest_free_id() {
    let (l, port) = listener();
    let (_m, mut host) = joined(&[]);
    // Single mode: like CIPSTART.
    host.chat(
        format!("AT+CIPSTARTEX=\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let _p = accept_peer(&l);
    host.chat(b"AT+CIPCLOSE\r\n", b"CLOSED\r\n\r\nOK\r\n");

    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    let ex = format!("AT+CIPSTARTEX=\"TCP\",\"127.0.0.1\",{port}\r\n");
    let mut peers = Vec::new();
    for id in 0..3 {
        host.chat(
            ex.as_bytes(),
            format!("{id},CONNECT\r\n\r\nOK\r\n").as_bytes(),
        );
        peers.push(accept_peer(&l));
    }
    host.chat(b"AT+CIPCLOSE=1\r\n", b"1,CLOSED\r\n\r\nOK\r\n");
    host.chat(ex.as_bytes(), b"1,CONNECT\r\n\r\nOK\r\n");
    peers.push(accept_peer(&l));
    host.chat(
        format!("AT+CIPSTART=4,\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"4,CONNECT\r\n\r\nOK\r\n",
    );
    peers.push(accept_peer(&l));
    host.chat(ex.as_bytes(), b"3,CONNECT\r\n\r\nOK\r\n");
    peers.push(accept_peer(&l));
    // All five ids in use.
    host.chat(ex.as_bytes(), b"\r\nERROR\r\n");
    host.chat(
        b"AT+CIPCLOSE=5\r\n",
        b"0,CLOSED\r\n1,CLOSED\r\n2,CLOSED\r\n3,CLOSED\r\n4,CLOSED\r\n\r\nOK\r\n",
    );
}

#[test]
fn peer_close_and_peer_reset_are_reported_unsolicited() {
    let (l, port) = listener();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSTART=0,\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"0,CONNECT\r\n\r\nOK\r\n",
    );
    let p0 = accept_peer(&l);
    host.chat(
        format!("AT+CIPSTART=1,\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"1,CONNECT\r\n\r\nOK\r\n",
    );
    let p1 = accept_peer(&l);
    drop(p1);
    host.expect(b"\r\n1,CLOSED\r\n");
    reset(p0);
    host.expect(b"\r\n0,CLOSED\r\n");
    host.chat(b"AT+CIPSTATE?\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPSEND=0,1\r\n", b"\r\nERROR\r\n");
    host.expect_silence(QUIET);
}

// ---------------------------------------------------------------------------------------
// 4. Refusals: exact codes, no state change
// ---------------------------------------------------------------------------------------

#[test]
fn cipstart_refusals_have_exact_codes_and_change_nothing() {
    let (l, port) = listener();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+SYSLOG=1\r\n", b"\r\nOK\r\n");
    let p = port;
    // Single mode: type 0, host 1, port 2, keep-alive 3.
    refused(
        &mut host,
        &format!("AT+CIPSTART=\"TCPX\",\"127.0.0.1\",{p}"),
        invalid(0),
    );
    refused(
        &mut host,
        &format!("AT+CIPSTART=\"tcp\",\"127.0.0.1\",{p}"),
        invalid(0),
    );
    let name65 = "h".repeat(65);
    refused(
        &mut host,
        &format!("AT+CIPSTART=\"TCP\",\"{name65}\",{p}"),
        too_long(1),
    );
    refused(&mut host, "AT+CIPSTART=\"TCP\",\"127.0.0.1\",0", invalid(2));
    refused(
        &mut host,
        "AT+CIPSTART=\"TCP\",\"127.0.0.1\",65536",
        invalid(2),
    );
    refused(
        &mut host,
        &format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{p},7201"),
        invalid(3),
    );
    refused(
        &mut host,
        &format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{p},-1"),
        invalid(3),
    );
    refused(&mut host, "AT+CIPSTART=\"TCP\",\"127.0.0.1\"", count(3, 2));
    refused(
        &mut host,
        &format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",\"{p}\""),
        type_mismatch(2),
    );
    refused(
        &mut host,
        &format!("AT+CIPSTART=\"TCP\",127,{p}"),
        type_mismatch(1),
    );
    // Nothing was opened, nothing reached the listener.
    host.chat(b"AT+CIPSTATE?\r\n", b"\r\nOK\r\n");
    l.set_nonblocking(true).unwrap();
    assert_eq!(
        l.accept().map(|_| ()).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    l.set_nonblocking(false).unwrap();

    // The keep-alive range ends at 7200.
    host.chat(
        format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{p},7200\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let _peer = accept_peer(&l);
    // Busy: the only single-mode link is open.
    refused(
        &mut host,
        &format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{p}"),
        EXEC_FAILED,
    );
    host.chat(b"AT+CIPCLOSE\r\n", b"CLOSED\r\n\r\nOK\r\n");

    // Multi mode: the id comes first, everything moves one to the right.
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSTART=2,\"TCP\",\"127.0.0.1\",{p}\r\n").as_bytes(),
        b"2,CONNECT\r\n\r\nOK\r\n",
    );
    let mut peer2 = accept_peer(&l);
    let local2 = peer2.peer_addr().unwrap().port();
    refused(
        &mut host,
        &format!("AT+CIPSTART=2,\"TCP\",\"127.0.0.1\",{p}"),
        EXEC_FAILED,
    );
    refused(
        &mut host,
        &format!("AT+CIPSTART=5,\"TCP\",\"127.0.0.1\",{p}"),
        invalid(0),
    );
    refused(
        &mut host,
        &format!("AT+CIPSTART=1,\"TCPX\",\"127.0.0.1\",{p}"),
        invalid(1),
    );
    refused(
        &mut host,
        &format!("AT+CIPSTART=1,\"TCP\",\"{name65}\",{p}"),
        too_long(2),
    );
    refused(
        &mut host,
        "AT+CIPSTART=1,\"TCP\",\"127.0.0.1\",65536",
        invalid(3),
    );
    refused(
        &mut host,
        &format!("AT+CIPSTART=1,\"TCP\",\"127.0.0.1\",{p},7201"),
        invalid(4),
    );
    // The busy link is untouched and still carries data.
    host.chat(
        b"AT+CIPSTATE?\r\n",
        format!("+CIPSTATE:2,\"TCP\",\"127.0.0.1\",{p},{local2},0\r\n\r\nOK\r\n").as_bytes(),
    );
    peer2.write_all(b"ok").unwrap();
    host.expect(b"\r\n+IPD,2,2:ok\r\n");
    host.expect_silence(QUIET);
}

#[test]
fn a_64_byte_host_name_passes_the_length_check() {
    // 64 bytes is the limit: accepted as a parameter, then the lookup fails (a single
    // 64-byte label cannot be put in a DNS query, so nothing leaves the machine).
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+SYSLOG=1\r\n", b"\r\nOK\r\n");
    let name64 = "h".repeat(64);
    refused(
        &mut host,
        &format!("AT+CIPSTART=\"TCP\",\"{name64}\",80"),
        EXEC_FAILED,
    );
    refused(
        &mut host,
        &format!("AT+CIPSTART=\"TCP\",\"{name64}h\",80"),
        too_long(1),
    );
}

#[test]
fn refused_connection_is_error() {
    let port = free_tcp_port();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+SYSLOG=1\r\n", b"\r\nOK\r\n");
    refused(
        &mut host,
        &format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port}"),
        EXEC_FAILED,
    );
    host.chat(b"AT+CIPSTATE?\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPSTATUS\r\n", b"STATUS:2\r\n\r\nOK\r\n");
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    refused(
        &mut host,
        &format!("AT+CIPSTART=3,\"TCP\",\"127.0.0.1\",{port}"),
        EXEC_FAILED,
    );
    // The failed id is free: a good connection may take it.
    let (l, good) = listener();
    host.chat(
        format!("AT+CIPSTART=3,\"TCP\",\"127.0.0.1\",{good}\r\n").as_bytes(),
        b"3,CONNECT\r\n\r\nOK\r\n",
    );
    let _p = accept_peer(&l);
    host.expect_silence(QUIET);
}

#[test]
fn cipsend_refusals_have_exact_codes() {
    let (l, port) = listener();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+SYSLOG=1\r\n", b"\r\nOK\r\n");
    // No link.
    refused(&mut host, "AT+CIPSEND=5", EXEC_FAILED);
    host.chat(
        format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let mut peer = accept_peer(&l);
    refused(&mut host, "AT+CIPSEND=0", invalid(0));
    refused(&mut host, "AT+CIPSEND=5761", invalid(0));
    refused(&mut host, "AT+CIPSEND=\"5\"", type_mismatch(0));
    // The link still works, and nothing leaked to the peer.
    cipsend(&mut host, "2", b"ok");
    assert_eq!(read_n(&mut peer, 2), b"ok");
    host.chat(b"AT+CIPCLOSE\r\n", b"CLOSED\r\n\r\nOK\r\n");
    expect_closed(&mut peer);
    refused(&mut host, "AT+CIPSEND=2", EXEC_FAILED);

    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    refused(&mut host, "AT+CIPSEND=0,5", EXEC_FAILED);
    refused(&mut host, "AT+CIPSEND=5,5", invalid(0));
    host.chat(
        format!("AT+CIPSTART=0,\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"0,CONNECT\r\n\r\nOK\r\n",
    );
    let _peer = accept_peer(&l);
    refused(&mut host, "AT+CIPSEND=0,0", invalid(1));
    refused(&mut host, "AT+CIPSEND=0,5761", invalid(1));
    refused(&mut host, "AT+CIPSEND=1,5", EXEC_FAILED);
    host.expect_silence(QUIET);
}

#[test]
fn server_setting_refusals_have_exact_codes_and_change_nothing() {
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+SYSLOG=1\r\n", b"\r\nOK\r\n");
    host.chat(
        b"AT+CIPSERVERMAXCONN?\r\n",
        b"+CIPSERVERMAXCONN:5\r\n\r\nOK\r\n",
    );
    refused(&mut host, "AT+CIPSERVERMAXCONN=0", invalid(0));
    refused(&mut host, "AT+CIPSERVERMAXCONN=6", invalid(0));
    host.chat(
        b"AT+CIPSERVERMAXCONN?\r\n",
        b"+CIPSERVERMAXCONN:5\r\n\r\nOK\r\n",
    );
    host.chat(b"AT+CIPSERVERMAXCONN=1\r\n", b"\r\nOK\r\n");
    host.chat(
        b"AT+CIPSERVERMAXCONN?\r\n",
        b"+CIPSERVERMAXCONN:1\r\n\r\nOK\r\n",
    );

    host.chat(b"AT+CIPSTO?\r\n", b"+CIPSTO:180\r\n\r\nOK\r\n");
    refused(&mut host, "AT+CIPSTO=7201", invalid(0));
    refused(&mut host, "AT+CIPSTO=-1", invalid(0));
    refused(&mut host, "AT+CIPSTO=1,2", count(1, 2));
    host.chat(b"AT+CIPSTO?\r\n", b"+CIPSTO:180\r\n\r\nOK\r\n");
    host.chat(b"AT+CIPSTO=7200\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPSTO?\r\n", b"+CIPSTO:7200\r\n\r\nOK\r\n");
    host.chat(b"AT+CIPSTO=0\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPSTO?\r\n", b"+CIPSTO:0\r\n\r\nOK\r\n");

    // A server needs multi-connection mode.
    let port = free_tcp_port();
    refused(&mut host, &format!("AT+CIPSERVER=1,{port}"), EXEC_FAILED);
    host.chat(b"AT+CIPSERVER?\r\n", b"+CIPSERVER:0\r\n\r\nOK\r\n");
    assert_eq!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .map(|_| ())
            .unwrap_err()
            .kind(),
        ErrorKind::ConnectionRefused
    );
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    refused(&mut host, "AT+CIPSERVER=1,0", invalid(1));
    refused(&mut host, "AT+CIPSERVER=1,65536", invalid(1));
    refused(&mut host, "AT+CIPSERVER=2", invalid(0));
    refused(
        &mut host,
        &format!("AT+CIPSERVER=1,{port},\"UDP\""),
        invalid(2),
    );
    host.chat(b"AT+CIPSERVER?\r\n", b"+CIPSERVER:0\r\n\r\nOK\r\n");
    host.expect_silence(QUIET);
}

#[test]
fn cipmux_and_cipdinfo_ranges() {
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+SYSLOG=1\r\n", b"\r\nOK\r\n");
    refused(&mut host, "AT+CIPMUX=2", invalid(0));
    refused(&mut host, "AT+CIPDINFO=2", invalid(0));
    host.chat(b"AT+CIPMUX?\r\n", b"+CIPMUX:0\r\n\r\nOK\r\n");
    host.chat(b"AT+CIPDINFO?\r\n", b"+CIPDINFO:false\r\n\r\nOK\r\n");
    refused(&mut host, "AT+CIPV6=2", invalid(0));
    host.chat(b"AT+CIPV6?\r\n", b"+CIPV6:1\r\n\r\nOK\r\n");
}

// ---------------------------------------------------------------------------------------
// 5. UDP
// ---------------------------------------------------------------------------------------

#[test]
fn udp_link_sends_and_receives_datagrams() {
    let (peer, pport) = udp_peer();
    let local = free_udp_port();
    let (_m, mut host) = joined(&[]);
    host.chat(
        format!("AT+CIPSTART=\"UDP\",\"127.0.0.1\",{pport},{local},0\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    host.chat(
        b"AT+CIPSTATE?\r\n",
        format!("+CIPSTATE:0,\"UDP\",\"127.0.0.1\",{pport},{local},0\r\n\r\nOK\r\n").as_bytes(),
    );
    cipsend(&mut host, "4", b"ping");
    let (data, from) = recv_datagram(&peer);
    assert_eq!(data, b"ping");
    assert_eq!(from, SocketAddr::from((Ipv4Addr::LOCALHOST, local)));
    // Echo it back: one datagram, one +IPD.
    peer.send_to(b"pong!", from).unwrap();
    host.expect(b"\r\n+IPD,5:pong!\r\n");
    host.chat(b"AT+CIPDINFO=1\r\n", b"\r\nOK\r\n");
    peer.send_to(b"x", from).unwrap();
    host.expect(format!("\r\n+IPD,1,\"127.0.0.1\",{pport}:x\r\n").as_bytes());

    // Mode 0: a stranger's datagram is delivered, but the peer does not change.
    let (stranger, sport) = udp_peer();
    stranger.send_to(b"hi", from).unwrap();
    host.expect(format!("\r\n+IPD,2,\"127.0.0.1\",{sport}:hi\r\n").as_bytes());
    cipsend(&mut host, "3", b"abc");
    assert_eq!(recv_datagram(&peer).0, b"abc");
    host.chat(
        b"AT+CIPSTATE?\r\n",
        format!("+CIPSTATE:0,\"UDP\",\"127.0.0.1\",{pport},{local},0\r\n\r\nOK\r\n").as_bytes(),
    );
    host.chat(b"AT+CIPCLOSE\r\n", b"CLOSED\r\n\r\nOK\r\n");
    // The local port is released.
    UdpSocket::bind((Ipv4Addr::LOCALHOST, local)).expect("local port released");
}

#[test]
fn passive_udp_keeps_datagrams_in_the_socket_until_the_host_makes_room() {
    let (peer, pport) = udp_peer();
    let local = free_udp_port();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+CIPRECVMODE=1\r\n", b"\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSTART=\"UDP\",\"127.0.0.1\",{pport},{local},0\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    // Six datagrams of 1400 bytes: 8400 bytes, four times the module's 2048-byte window.
    let module = SocketAddr::from((Ipv4Addr::LOCALHOST, local));
    let datagrams: Vec<Vec<u8>> = (0..6u8).map(|i| vec![b'a' + i; 1400]).collect();
    for d in &datagrams {
        peer.send_to(d, module).unwrap();
    }
    // One at a time: each read makes room for the next, which waited in the socket.
    for d in &datagrams {
        host.expect(b"\r\n+IPD,1400\r\n");
        let mut want = b"+CIPRECVDATA:1400,".to_vec();
        want.extend_from_slice(d);
        want.extend_from_slice(b"\r\nOK\r\n");
        host.chat(b"AT+CIPRECVDATA=2000\r\n", &want);
    }
    host.chat(
        b"AT+CIPRECVLEN?\r\n",
        b"+CIPRECVLEN:0,-1,-1,-1,-1\r\n\r\nOK\r\n",
    );
    host.expect_silence(QUIET);
}

#[test]
fn udp_mode_2_follows_every_new_sender() {
    let (first, fport) = udp_peer();
    let local = free_udp_port();
    let (_m, mut host) = joined(&[]);
    host.chat(
        format!("AT+CIPSTART=\"UDP\",\"127.0.0.1\",{fport},{local},2\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let module = SocketAddr::from((Ipv4Addr::LOCALHOST, local));
    let (second, sport) = udp_peer();
    second.send_to(b"B", module).unwrap();
    host.expect(b"\r\n+IPD,1:B\r\n");
    cipsend(&mut host, "2", b"to");
    assert_eq!(recv_datagram(&second).0, b"to");
    host.chat(
        b"AT+CIPSTATE?\r\n",
        format!("+CIPSTATE:0,\"UDP\",\"127.0.0.1\",{sport},{local},0\r\n\r\nOK\r\n").as_bytes(),
    );
    let (third, tport) = udp_peer();
    third.send_to(b"C", module).unwrap();
    host.expect(b"\r\n+IPD,1:C\r\n");
    cipsend(&mut host, "3", b"now");
    assert_eq!(recv_datagram(&third).0, b"now");
    // And back to the first one when it speaks again.
    first.send_to(b"A", module).unwrap();
    host.expect(b"\r\n+IPD,1:A\r\n");
    cipsend(&mut host, "4", b"back");
    assert_eq!(recv_datagram(&first).0, b"back");
    assert_ne!(sport, tport);
}

#[test]
fn udp_mode_1_follows_only_the_first_change() {
    let (first, fport) = udp_peer();
    let local = free_udp_port();
    let (_m, mut host) = joined(&[]);
    host.chat(
        format!("AT+CIPSTART=\"UDP\",\"127.0.0.1\",{fport},{local},1\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let module = SocketAddr::from((Ipv4Addr::LOCALHOST, local));
    // The configured peer itself is no change.
    first.send_to(b"A", module).unwrap();
    host.expect(b"\r\n+IPD,1:A\r\n");
    cipsend(&mut host, "1", b"1");
    assert_eq!(recv_datagram(&first).0, b"1");
    let (second, sport) = udp_peer();
    second.send_to(b"B", module).unwrap();
    host.expect(b"\r\n+IPD,1:B\r\n");
    cipsend(&mut host, "1", b"2");
    assert_eq!(recv_datagram(&second).0, b"2");
    let (third, _) = udp_peer();
    third.send_to(b"C", module).unwrap();
    host.expect(b"\r\n+IPD,1:C\r\n");
    cipsend(&mut host, "1", b"3");
    assert_eq!(recv_datagram(&second).0, b"3", "the peer changed only once");
    host.chat(
        b"AT+CIPSTATE?\r\n",
        format!("+CIPSTATE:0,\"UDP\",\"127.0.0.1\",{sport},{local},0\r\n\r\nOK\r\n").as_bytes(),
    );
}

#[test]
fn cipsend_with_an_address_sends_to_that_udp_peer() {
    let (first, fport) = udp_peer();
    let (other, oport) = udp_peer();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSTART=3,\"UDP\",\"127.0.0.1\",{fport}\r\n").as_bytes(),
        b"3,CONNECT\r\n\r\nOK\r\n",
    );
    cipsend(&mut host, "3,2", b"hi");
    let (data, module) = recv_datagram(&first);
    assert_eq!(data, b"hi");
    cipsend(&mut host, &format!("3,5,\"127.0.0.1\",{oport}"), b"there");
    let (data, from) = recv_datagram(&other);
    assert_eq!((data.as_slice(), from), (&b"there"[..], module));
    other.send_to(b"back", module).unwrap();
    host.expect(b"\r\n+IPD,3,4:back\r\n");
    // On a TCP link the address is refused.
    let (l, tport) = listener();
    host.chat(
        format!("AT+CIPSTART=0,\"TCP\",\"127.0.0.1\",{tport}\r\n").as_bytes(),
        b"0,CONNECT\r\n\r\nOK\r\n",
    );
    let _p = accept_peer(&l);
    host.chat(
        format!("AT+CIPSEND=0,5,\"127.0.0.1\",{oport}\r\n").as_bytes(),
        b"\r\nERROR\r\n",
    );
}

// ---------------------------------------------------------------------------------------
// 6. IPv6
// ---------------------------------------------------------------------------------------

#[test]
fn tcpv6_and_udpv6_links_to_loopback() {
    let (l, port) = listener_v6();
    let udp = UdpSocket::bind("[::1]:0").unwrap();
    udp.set_read_timeout(Some(PATIENCE)).unwrap();
    let uport = udp.local_addr().unwrap().port();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+CIPV6?\r\n", b"+CIPV6:1\r\n\r\nOK\r\n");
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSTART=0,\"TCPv6\",\"::1\",{port}\r\n").as_bytes(),
        b"0,CONNECT\r\n\r\nOK\r\n",
    );
    let mut peer = accept_peer(&l);
    let lport = peer.peer_addr().unwrap().port();
    host.chat(
        format!("AT+CIPSTART=1,\"UDPv6\",\"::1\",{uport}\r\n").as_bytes(),
        b"1,CONNECT\r\n\r\nOK\r\n",
    );
    cipsend(&mut host, "0,3", b"six");
    assert_eq!(read_n(&mut peer, 3), b"six");
    peer.write_all(b"v6").unwrap();
    host.expect(b"\r\n+IPD,0,2:v6\r\n");
    cipsend(&mut host, "1,4", b"udp6");
    let (data, module) = recv_datagram(&udp);
    assert_eq!(data, b"udp6");
    host.chat(b"AT+CIPDINFO=1\r\n", b"\r\nOK\r\n");
    udp.send_to(b"r", module).unwrap();
    host.expect(format!("\r\n+IPD,1,1,\"::1\",{uport}:r\r\n").as_bytes());
    host.chat(
        b"AT+CIPSTATE?\r\n",
        format!(
            "+CIPSTATE:0,\"TCPv6\",\"::1\",{port},{lport},0\r\n\
             +CIPSTATE:1,\"UDPv6\",\"::1\",{uport},{},0\r\n\r\nOK\r\n",
            module.port()
        )
        .as_bytes(),
    );
    host.chat(b"AT+CIPCLOSE=5\r\n", b"0,CLOSED\r\n1,CLOSED\r\n\r\nOK\r\n");
}

#[test]
fn cipv6_0_refuses_ipv6_links() {
    let (l, port) = listener_v6();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+CIPV6=0\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPV6?\r\n", b"+CIPV6:0\r\n\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSTART=\"TCPv6\",\"::1\",{port}\r\n").as_bytes(),
        b"\r\nERROR\r\n",
    );
    host.chat(
        format!("AT+CIPSTART=\"UDPv6\",\"::1\",{port}\r\n").as_bytes(),
        b"\r\nERROR\r\n",
    );
    host.chat(b"AT+CIPSTATE?\r\n", b"\r\nOK\r\n");
    l.set_nonblocking(true).unwrap();
    assert_eq!(
        l.accept().map(|_| ()).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    l.set_nonblocking(false).unwrap();
    host.chat(b"AT+CIPV6=1\r\n", b"\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSTART=\"TCPv6\",\"::1\",{port}\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let _p = accept_peer(&l);
}

// ---------------------------------------------------------------------------------------
// 7. Server
// ---------------------------------------------------------------------------------------

/// A client of the module's server on 127.0.0.1 with bounded reads.
fn client(port: u16) -> TcpStream {
    let s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect to the server");
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s
}

#[test]
fn server_accepts_up_to_maxconn_clients_and_refuses_the_next() {
    let port = free_tcp_port();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPSERVERMAXCONN=2\r\n", b"\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSERVER=1,{port}\r\n").as_bytes(),
        b"\r\nOK\r\n",
    );
    host.chat(
        b"AT+CIPSERVER?\r\n",
        format!("+CIPSERVER:1,{port},\"TCP\",0\r\n\r\nOK\r\n").as_bytes(),
    );
    let mut c1 = client(port);
    host.expect(b"\r\n0,CONNECT\r\n");
    let mut c2 = client(port);
    host.expect(b"\r\n1,CONNECT\r\n");
    let mut c3 = client(port);
    expect_closed(&mut c3);
    // No 2,CONNECT came before (or with) this answer.
    host.chat(b"AT\r\n", b"\r\nOK\r\n");

    c1.write_all(b"hello").unwrap();
    host.expect(b"\r\n+IPD,0,5:hello\r\n");
    cipsend(&mut host, "1,2", b"hi");
    assert_eq!(read_n(&mut c2, 2), b"hi");
    let (p1, p2) = (
        c1.local_addr().unwrap().port(),
        c2.local_addr().unwrap().port(),
    );
    host.chat(
        b"AT+CIPSTATE?\r\n",
        format!(
            "+CIPSTATE:0,\"TCP\",\"127.0.0.1\",{p1},{port},1\r\n\
             +CIPSTATE:1,\"TCP\",\"127.0.0.1\",{p2},{port},1\r\n\r\nOK\r\n"
        )
        .as_bytes(),
    );
    host.chat(b"AT+CIPDINFO=1\r\n", b"\r\nOK\r\n");
    c2.write_all(b"yo").unwrap();
    host.expect(format!("\r\n+IPD,1,2,\"127.0.0.1\",{p2}:yo\r\n").as_bytes());

    // A client leaving frees its id for the next one.
    drop(c1);
    host.expect(b"\r\n0,CLOSED\r\n");
    let _c4 = client(port);
    host.expect(b"\r\n0,CONNECT\r\n");
    host.expect_silence(QUIET);
}

#[test]
fn server_clients_and_client_links_share_the_ids() {
    let port = free_tcp_port();
    let (l, lport) = listener();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSTART=0,\"TCP\",\"127.0.0.1\",{lport}\r\n").as_bytes(),
        b"0,CONNECT\r\n\r\nOK\r\n",
    );
    let _p = accept_peer(&l);
    host.chat(
        format!("AT+CIPSERVER=1,{port}\r\n").as_bytes(),
        b"\r\nOK\r\n",
    );
    let _c = client(port);
    host.expect(b"\r\n1,CONNECT\r\n");
    host.chat(
        format!("AT+CIPSTART=1,\"TCP\",\"127.0.0.1\",{lport}\r\n").as_bytes(),
        b"\r\nERROR\r\n",
    );
    host.chat(
        format!("AT+CIPSTARTEX=\"TCP\",\"127.0.0.1\",{lport}\r\n").as_bytes(),
        b"2,CONNECT\r\n\r\nOK\r\n",
    );
    let _p2 = accept_peer(&l);
}

#[test]
fn cipsto_closes_an_idle_server_client() {
    let port = free_tcp_port();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSERVER=1,{port}\r\n").as_bytes(),
        b"\r\nOK\r\n",
    );
    host.chat(b"AT+CIPSTO=1\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPSTO?\r\n", b"+CIPSTO:1\r\n\r\nOK\r\n");
    let mut c = client(port);
    host.expect(b"\r\n0,CONNECT\r\n");
    // A real one-second timer: the wait ends when the line comes.
    host.expect(b"\r\n0,CLOSED\r\n");
    expect_closed(&mut c);
    host.chat(b"AT+CIPSTATE?\r\n", b"\r\nOK\r\n");
    // The server still listens.
    let _c2 = client(port);
    host.expect(b"\r\n0,CONNECT\r\n");
}

#[test]
fn cipserver_0_1_closes_the_server_and_its_clients() {
    let port = free_tcp_port();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+SYSLOG=1\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSERVER=1,{port}\r\n").as_bytes(),
        b"\r\nOK\r\n",
    );
    // A running server keeps the module in multi-connection mode.
    refused(&mut host, "AT+CIPMUX=0", EXEC_FAILED);
    host.chat(b"AT+CIPMUX?\r\n", b"+CIPMUX:1\r\n\r\nOK\r\n");
    let mut c1 = client(port);
    host.expect(b"\r\n0,CONNECT\r\n");
    let mut c2 = client(port);
    host.expect(b"\r\n1,CONNECT\r\n");
    host.chat(
        b"AT+CIPSERVER=0,1\r\n",
        b"0,CLOSED\r\n1,CLOSED\r\n\r\nOK\r\n",
    );
    expect_closed(&mut c1);
    expect_closed(&mut c2);
    host.chat(b"AT+CIPSERVER?\r\n", b"+CIPSERVER:0\r\n\r\nOK\r\n");
    host.chat(b"AT+CIPSTATE?\r\n", b"\r\nOK\r\n");
    assert_eq!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .map(|_| ())
            .unwrap_err()
            .kind(),
        ErrorKind::ConnectionRefused
    );
    host.chat(b"AT+CIPMUX=0\r\n", b"\r\nOK\r\n");
    host.expect_silence(QUIET);
}

#[test]
fn cipserver_0_keeps_the_clients() {
    let port = free_tcp_port();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSERVER=1,{port}\r\n").as_bytes(),
        b"\r\nOK\r\n",
    );
    let mut c = client(port);
    host.expect(b"\r\n0,CONNECT\r\n");
    host.chat(b"AT+CIPSERVER=0\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPSERVER?\r\n", b"+CIPSERVER:0\r\n\r\nOK\r\n");
    assert_eq!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .map(|_| ())
            .unwrap_err()
            .kind(),
        ErrorKind::ConnectionRefused
    );
    c.write_all(b"still").unwrap();
    host.expect(b"\r\n+IPD,0,5:still\r\n");
    cipsend(&mut host, "0,4", b"here");
    assert_eq!(read_n(&mut c, 4), b"here");
}

#[test]
fn sysmsg_2_reports_link_conn_instead_of_connect() {
    let port = free_tcp_port();
    let (l, lport) = listener();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+SYSMSG=2\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSERVER=1,{port}\r\n").as_bytes(),
        b"\r\nOK\r\n",
    );
    let c = client(port);
    let cport = c.local_addr().unwrap().port();
    host.expect(
        format!("\r\n+LINK_CONN:0,0,\"TCP\",1,\"127.0.0.1\",{cport},{port}\r\n").as_bytes(),
    );
    host.send(format!("AT+CIPSTART=1,\"TCP\",\"127.0.0.1\",{lport}\r\n").as_bytes());
    let p = accept_peer(&l);
    let local = p.peer_addr().unwrap().port();
    host.expect(
        format!("+LINK_CONN:0,1,\"TCP\",0,\"127.0.0.1\",{lport},{local}\r\n\r\nOK\r\n").as_bytes(),
    );
}

// ---------------------------------------------------------------------------------------
// 8. Multicast
// ---------------------------------------------------------------------------------------

#[test]
fn udp_multicast_group_on_loopback() {
    let group = Ipv4Addr::new(239, 255, 0, 1 + (std::process::id() % 200) as u8);
    let local = free_udp_port();
    let gport = free_udp_port();
    // A member of the group on lo, where the module sends.
    let member = UdpSocket::bind((group, gport)).expect("bind the group");
    member
        .join_multicast_v4(&group, &Ipv4Addr::LOCALHOST)
        .unwrap();
    member.set_read_timeout(Some(PATIENCE)).unwrap();
    // A sender whose multicast leaves by lo.
    let sender = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    socket2::SockRef::from(&sender)
        .set_multicast_if_v4(&Ipv4Addr::LOCALHOST)
        .unwrap();
    let sport = sender.local_addr().unwrap().port();

    let (_m, mut host) = joined(&["--multicast-if", "127.0.0.1"]);
    host.chat(
        format!("AT+CIPSTART=\"UDP\",\"{group}\",{gport},{local},0\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    host.chat(b"AT+CIPDINFO=1\r\n", b"\r\nOK\r\n");
    sender.send_to(b"to-group", (group, local)).unwrap();
    host.expect(format!("\r\n+IPD,8,\"127.0.0.1\",{sport}:to-group\r\n").as_bytes());
    cipsend(&mut host, "4", b"mcst");
    let (data, from) = recv_datagram(&member);
    assert_eq!(data, b"mcst");
    assert_eq!(from.port(), local);
    host.chat(b"AT+CIPCLOSE\r\n", b"CLOSED\r\n\r\nOK\r\n");
}

// ---------------------------------------------------------------------------------------
// Further rules: unsolicited lines in a data phase, UDP ranges, CIFSR, CIPMODE, TCPv6 server
// ---------------------------------------------------------------------------------------

#[test]
fn unsolicited_ipd_may_come_between_the_prompt_and_the_payload() {
    let (l, port) = listener();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSTART=0,\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"0,CONNECT\r\n\r\nOK\r\n",
    );
    let mut p0 = accept_peer(&l);
    host.chat(
        format!("AT+CIPSTART=1,\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"1,CONNECT\r\n\r\nOK\r\n",
    );
    let mut p1 = accept_peer(&l);
    host.chat(b"AT+CIPSEND=0,4\r\n", b"\r\nOK\r\n\r\n>");
    p1.write_all(b"abc").unwrap();
    host.expect(b"\r\n+IPD,1,3:abc\r\n");
    // The payload is still expected, and only payload.
    host.send(b"AT\r\n");
    host.expect(b"\r\nRecv 4 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(read_n(&mut p0, 4), b"AT\r\n");
    host.chat(b"AT\r\n", b"\r\nOK\r\n");
}

#[test]
fn udp_cipstart_refusals_have_exact_codes() {
    let (_peer, pport) = udp_peer();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+SYSLOG=1\r\n", b"\r\nOK\r\n");
    // <mode> needs <local port>.
    refused(
        &mut host,
        &format!("AT+CIPSTART=\"UDP\",\"127.0.0.1\",{pport},,2"),
        invalid(3),
    );
    refused(
        &mut host,
        &format!("AT+CIPSTART=\"UDP\",\"127.0.0.1\",{pport},1000,3"),
        invalid(4),
    );
    refused(
        &mut host,
        &format!("AT+CIPSTART=\"UDP\",\"127.0.0.1\",{pport},65536,0"),
        invalid(3),
    );
    refused(&mut host, "AT+CIPSTART=\"UDP\",\"127.0.0.1\",0", invalid(2));
    host.chat(b"AT+CIPSTATE?\r\n", b"\r\nOK\r\n");
}

#[test]
fn cifsr_lists_the_station_addresses_once_joined() {
    let (_m, mut host) = joined(&[]);
    host.send(b"AT+CIFSR\r\n");
    let text = String::from_utf8(host.read_until(b"\r\nOK\r\n")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let ip = lines[0]
        .strip_prefix("+CIFSR:STAIP,\"")
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{text:?}"));
    let ip: Ipv4Addr = ip.parse().expect("STAIP is an IPv4 address");
    assert!(!ip.is_unspecified(), "{text:?}");
    let n = lines.len();
    assert_eq!(&lines[n - 2..], ["", "OK"], "{text:?}");
    let mac = lines[n - 3]
        .strip_prefix("+CIFSR:STAMAC,\"")
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{text:?}"));
    assert_eq!(mac.len(), 17, "{text:?}");
    assert!(mac.split(':').all(|b| b.len() == 2
        && b.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))));
    for l in &lines[1..n - 3] {
        assert!(
            l.starts_with("+CIFSR:STAIP6LL,\"") || l.starts_with("+CIFSR:STAIP6GL,\""),
            "{text:?}"
        );
    }
    // Without IPv6 there are no IPv6 lines.
    host.chat(b"AT+CIPV6=0\r\n", b"\r\nOK\r\n");
    host.chat(
        b"AT+CIFSR\r\n",
        format!("{}\r\n{}\r\n\r\nOK\r\n", lines[0], lines[n - 3]).as_bytes(),
    );
}

#[test]
fn transparent_mode_needs_a_single_link_and_moves_raw_bytes() {
    let (l, port) = listener();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+CIPMODE?\r\n", b"+CIPMODE:0\r\n\r\nOK\r\n");
    // Not in multi-connection mode, and not the other way round.
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPMODE=1\r\n", b"\r\nERROR\r\n");
    host.chat(b"AT+CIPMODE?\r\n", b"+CIPMODE:0\r\n\r\nOK\r\n");
    host.chat(b"AT+CIPMUX=0\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPMODE=1\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nERROR\r\n");
    // No link to send on yet.
    host.chat(b"AT+CIPSEND\r\n", b"\r\nERROR\r\n");
    host.chat(
        format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let mut peer = accept_peer(&l);
    // A length is for normal transmission only.
    host.chat(b"AT+CIPSEND=3\r\n", b"\r\nERROR\r\n");
    host.chat(b"AT+CIPSEND\r\n", b"\r\nOK\r\n\r\n>");
    host.send(b"raw bytes\r\nAT\r\n");
    assert_eq!(read_n(&mut peer, 15), b"raw bytes\r\nAT\r\n");
    peer.write_all(b"back, unframed").unwrap();
    host.expect(b"back, unframed");
    // "+++" alone, with silence before and after, leaves data mode and prints nothing.
    // The silence is the protocol (30 ms guard; the next command at least 1 s later),
    // not a wait for something to happen.
    std::thread::sleep(Duration::from_millis(100));
    host.send(b"+++");
    host.expect_silence(Duration::from_secs(1));
    host.chat(b"AT\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPMODE=0\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPCLOSE\r\n", b"CLOSED\r\n\r\nOK\r\n");
    expect_closed(&mut peer);
}

#[test]
fn tcpv6_server_accepts_loopback_clients() {
    let port = free_tcp_port();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSERVER=1,{port},\"TCPv6\"\r\n").as_bytes(),
        b"\r\nOK\r\n",
    );
    host.chat(
        b"AT+CIPSERVER?\r\n",
        format!("+CIPSERVER:1,{port},\"TCPv6\",0\r\n\r\nOK\r\n").as_bytes(),
    );
    let mut c = TcpStream::connect(format!("[::1]:{port}")).expect("connect to [::1]");
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    host.expect(b"\r\n0,CONNECT\r\n");
    let cport = c.local_addr().unwrap().port();
    host.chat(
        b"AT+CIPSTATE?\r\n",
        format!("+CIPSTATE:0,\"TCPv6\",\"::1\",{cport},{port},1\r\n\r\nOK\r\n").as_bytes(),
    );
    c.write_all(b"v6!").unwrap();
    host.expect(b"\r\n+IPD,0,3:v6!\r\n");
    host.chat(b"AT+CIPSERVER=0,1\r\n", b"0,CLOSED\r\n\r\nOK\r\n");
    expect_closed(&mut c);
}

// ---------------------------------------------------------------------------------------
// 9. CIPTCPOPT
// ---------------------------------------------------------------------------------------

const TCPOPT_DEFAULTS: &[u8] = b"+CIPTCPOPT:0,-1,0,0,0\r\n+CIPTCPOPT:1,-1,0,0,0\r\n\
+CIPTCPOPT:2,-1,0,0,0\r\n+CIPTCPOPT:3,-1,0,0,0\r\n+CIPTCPOPT:4,-1,0,0,0\r\n\r\nOK\r\n";

#[test]
fn ciptcpopt_query_defaults_and_set_on_an_open_link() {
    let (l, port) = listener();
    let (_m, mut host) = joined(&[]);
    host.chat(b"AT+CIPTCPOPT?\r\n", TCPOPT_DEFAULTS);
    host.chat(b"AT+SYSLOG=1\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    host.chat(
        format!("AT+CIPSTART=1,\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        b"1,CONNECT\r\n\r\nOK\r\n",
    );
    let mut peer = accept_peer(&l);
    host.chat(b"AT+CIPTCPOPT=1,0,1,5000,60\r\n", b"\r\nOK\r\n");
    // Omitted fields keep their values.
    host.chat(b"AT+CIPTCPOPT=1,,,,120\r\n", b"\r\nOK\r\n");
    refused(&mut host, "AT+CIPTCPOPT=1,-2,0,0", invalid(1));
    refused(&mut host, "AT+CIPTCPOPT=1,-1,2,0", invalid(2));
    refused(&mut host, "AT+CIPTCPOPT=1,-1,0,0,7201", invalid(4));
    refused(&mut host, "AT+CIPTCPOPT=6,-1,0,0", invalid(0));
    host.chat(
        b"AT+CIPTCPOPT?\r\n",
        b"+CIPTCPOPT:0,-1,0,0,0\r\n+CIPTCPOPT:1,0,1,5000,120\r\n\
+CIPTCPOPT:2,-1,0,0,0\r\n+CIPTCPOPT:3,-1,0,0,0\r\n+CIPTCPOPT:4,-1,0,0,0\r\n\r\nOK\r\n",
    );
    // The link still works.
    cipsend(&mut host, "1,3", b"opt");
    assert_eq!(read_n(&mut peer, 3), b"opt");
    // Id 5 sets every link id.
    host.chat(b"AT+CIPTCPOPT=5,-1,0,0,0\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPTCPOPT?\r\n", TCPOPT_DEFAULTS);
    // CIPSTART's keep-alive is CIPTCPOPT's: the last one set wins.
    host.chat(
        format!("AT+CIPSTART=2,\"TCP\",\"127.0.0.1\",{port},300\r\n").as_bytes(),
        b"2,CONNECT\r\n\r\nOK\r\n",
    );
    let _p2 = accept_peer(&l);
    host.chat(
        b"AT+CIPTCPOPT?\r\n",
        b"+CIPTCPOPT:0,-1,0,0,0\r\n+CIPTCPOPT:1,-1,0,0,0\r\n\
+CIPTCPOPT:2,-1,0,0,300\r\n+CIPTCPOPT:3,-1,0,0,0\r\n+CIPTCPOPT:4,-1,0,0,0\r\n\r\nOK\r\n",
    );
}

/// The engine in this process over the real std stack: the options `AT+CIPTCPOPT` sets
/// are read back from the link's operating-system socket.
mod in_process {
    use std::net::{Ipv4Addr, TcpListener};
    use std::time::{Duration, Instant};

    use at_core::link::Socket;
    use at_core::net::NetPlatform;
    use at_core::testing::{Capture, Harness};
    use at_platform_std::stack::{StdStack, TcpOptionsReadBack};
    use at_platform_std::station::{parse_ap, EmulatedStation, HostInterface};
    use at_platform_std::{StdPlatform, Store};
    use at_tcpip::TcpIp;
    use mio::{Events, Poll, Token};

    use super::{accept_peer, PATIENCE};

    type Modem = Harness<TcpIp<StdPlatform>, StdPlatform>;

    /// A booted, joined engine and the poll its sockets are registered in.
    fn engine() -> (Modem, Poll) {
        let poll = Poll::new().unwrap();
        let net = StdStack::new(poll.registry().try_clone().unwrap(), 16);
        let station =
            EmulatedStation::with_host(vec![parse_ap("Lab").unwrap()], HostInterface::loopback());
        let pinger =
            at_platform_std::ping::StdPinger::new(poll.registry().try_clone().unwrap(), Token(4));
        let platform =
            StdPlatform::new(Store::Memory(Box::default()), "W800", net, station, pinger);
        let mut h = Harness::with_platform(TcpIp::new(), platform);
        assert_eq!(h.boot(), b"\r\nready\r\n");
        assert_eq!(h.send(b"ATE0\r\n"), b"ATE0\r\n\r\nOK\r\n");
        assert_eq!(
            h.send(b"AT+CWJAP=\"Lab\",\"\"\r\n"),
            b"WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n"
        );
        (h, poll)
    }

    /// Sends `line`, then polls the engine on real socket readiness until the output
    /// ends with `OK` or `ERROR` (bounded by PATIENCE).
    fn run(h: &mut Modem, poll: &mut Poll, line: &[u8]) -> Vec<u8> {
        let start = Instant::now();
        let mut out = h.send(line).as_bytes().to_vec();
        let mut events = Events::with_capacity(16);
        while !(out.ends_with(b"\r\nOK\r\n") || out.ends_with(b"\r\nERROR\r\n")) {
            let left = PATIENCE.saturating_sub(start.elapsed());
            assert!(
                !left.is_zero(),
                "no final result; got {:?}",
                String::from_utf8_lossy(&out)
            );
            poll.poll(&mut events, Some(left.min(Duration::from_millis(500))))
                .unwrap();
            let p: Capture = h.poll();
            out.extend_from_slice(p.as_bytes());
        }
        out
    }

    fn options(h: &mut Modem, id: usize) -> TcpOptionsReadBack {
        let link = h.engine.commands().links().get(id).expect("link is open");
        let Socket::Tcp(handle) = &link.socket else {
            panic!("not a TCP link");
        };
        h.platform.net().tcp_options(handle).expect("read back")
    }

    #[test]
    fn ciptcpopt_sets_the_options_of_the_real_socket() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        let (mut h, mut poll) = engine();
        let out = run(
            &mut h,
            &mut poll,
            format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        );
        assert_eq!(String::from_utf8_lossy(&out), "CONNECT\r\n\r\nOK\r\n");
        let _peer = accept_peer(&l);

        let o = options(&mut h, 0);
        assert_eq!(o.linger, None, "SO_LINGER off by default");
        assert!(!o.nodelay, "TCP_NODELAY off by default");
        assert_eq!(o.send_timeout, None, "no SO_SNDTIMEO by default");
        assert!(!o.keepalive, "SO_KEEPALIVE off by default");

        let out = run(&mut h, &mut poll, b"AT+CIPTCPOPT=0,1,5000,60\r\n");
        assert_eq!(String::from_utf8_lossy(&out), "\r\nOK\r\n");
        let o = options(&mut h, 0);
        assert_eq!(o.linger, Some(Duration::ZERO));
        assert!(o.nodelay);
        assert_eq!(o.send_timeout, Some(Duration::from_millis(5000)));
        assert!(o.keepalive);
        assert_eq!(o.keepalive_idle, Duration::from_secs(60));
        assert_eq!(o.keepalive_interval, Duration::from_secs(1));
        assert_eq!(o.keepalive_count, 3);

        let out = run(&mut h, &mut poll, b"AT+CIPTCPOPT=7,0,0,0\r\n");
        assert_eq!(String::from_utf8_lossy(&out), "\r\nOK\r\n");
        let o = options(&mut h, 0);
        assert_eq!(o.linger, Some(Duration::from_secs(7)));
        assert!(!o.nodelay);
        assert_eq!(o.send_timeout, None);
        assert!(!o.keepalive);

        let out = run(&mut h, &mut poll, b"AT+CIPTCPOPT=-1,,,7200\r\n");
        assert_eq!(String::from_utf8_lossy(&out), "\r\nOK\r\n");
        let o = options(&mut h, 0);
        assert_eq!(o.linger, None);
        assert!(o.keepalive);
        assert_eq!(o.keepalive_idle, Duration::from_secs(7200));
    }

    #[test]
    fn options_set_before_cipstart_apply_to_the_new_socket() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        let (mut h, mut poll) = engine();
        let out = run(&mut h, &mut poll, b"AT+CIPMUX=1\r\n");
        assert_eq!(String::from_utf8_lossy(&out), "\r\nOK\r\n");
        let out = run(&mut h, &mut poll, b"AT+CIPTCPOPT=3,-1,1,0,30\r\n");
        assert_eq!(String::from_utf8_lossy(&out), "\r\nOK\r\n");
        let out = run(
            &mut h,
            &mut poll,
            format!("AT+CIPSTART=3,\"TCP\",\"127.0.0.1\",{port}\r\n").as_bytes(),
        );
        assert_eq!(String::from_utf8_lossy(&out), "3,CONNECT\r\n\r\nOK\r\n");
        let _peer = accept_peer(&l);
        let o = options(&mut h, 3);
        assert!(o.nodelay);
        assert!(o.keepalive);
        assert_eq!(o.keepalive_idle, Duration::from_secs(30));
        // CIPSTART's keep-alive overrides it for this id.
        let out = run(
            &mut h,
            &mut poll,
            format!("AT+CIPSTART=4,\"TCP\",\"127.0.0.1\",{port},90\r\n").as_bytes(),
        );
        assert_eq!(String::from_utf8_lossy(&out), "4,CONNECT\r\n\r\nOK\r\n");
        let _peer4 = accept_peer(&l);
        let o = options(&mut h, 4);
        assert!(o.keepalive);
        assert_eq!(o.keepalive_idle, Duration::from_secs(90));
        assert!(!o.nodelay);
    }
}
