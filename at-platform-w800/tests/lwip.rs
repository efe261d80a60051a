//! The engine on real lwIP: Debian's `liblwip` (2.1.3, the W800's version) runs the very
//! FFI code of this crate, on a TAP device in a network namespace made for the test
//! process, with Linux sockets as the peers on the other side (see
//! `at_platform_w800::host`). Needs the `host-lwip` feature, root and `/dev/net/tun`:
//! `scripts/w800.sh test`.
//!
//! The engine is driven in-process: AT lines are fed, `poll` runs with an injected
//! clock (real elapsed time plus jumps for guard times), and every wait is a bounded
//! loop on a condition.
#![cfg(feature = "host-lwip")]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant as StdInstant};

use at_core::net::{
    nb, TcpClientStack, TcpExt, TcpFullStack, TcpOption, UdpClientStack, UdpExt, UdpFullStack,
};
use at_platform_w800::host::{self, LINUX_IP, LWIP_IP};
use at_platform_w800::LwipStack;

mod common;

use common::*;

#[test]
fn stack_tcp_exchange_options_and_available_on_real_lwip() {
    let (l, port) = listener();
    let mut stack: LwipStack = LwipStack::new();
    let mut s = TcpClientStack::socket(&mut stack).unwrap();
    // Options set before the socket exists are applied when it is made.
    stack
        .tcp_set_option(&mut s, TcpOption::NoDelay(true))
        .unwrap();
    let remote = SocketAddr::from((LINUX_IP, port));
    let deadline = StdInstant::now() + TIMEOUT;
    loop {
        match TcpClientStack::connect(&mut stack, &mut s, remote) {
            Ok(()) => break,
            Err(nb::Error::WouldBlock) => assert!(StdInstant::now() < deadline),
            Err(e) => panic!("connect: {e:?}"),
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut peer = accept(&l);
    let local = stack.tcp_local_addr(&s).unwrap();
    assert_eq!(local.ip(), LWIP_IP);
    assert_eq!(peer.peer_addr().unwrap(), local);

    for option in [
        TcpOption::Linger(Some(5)),
        TcpOption::SendTimeout(1500),
        TcpOption::KeepAlive(Some(30)),
    ] {
        stack.tcp_set_option(&mut s, option).unwrap();
    }
    let got = stack.tcp_options(&s).unwrap();
    assert_eq!(got.linger, Some(5));
    assert!(got.nodelay);
    assert_eq!(got.send_timeout_ms, 1500);
    assert!(got.keepalive);
    assert_eq!(
        (
            got.keepalive_idle,
            got.keepalive_interval,
            got.keepalive_count
        ),
        (30, 1, 3)
    );
    assert!(got.nonblocking);
    for option in [
        TcpOption::Linger(None),
        TcpOption::NoDelay(false),
        TcpOption::SendTimeout(0),
        TcpOption::KeepAlive(None),
    ] {
        stack.tcp_set_option(&mut s, option).unwrap();
    }
    let got = stack.tcp_options(&s).unwrap();
    assert_eq!(
        (got.linger, got.nodelay, got.send_timeout_ms, got.keepalive),
        (None, false, 0, false)
    );

    // Nothing waits: receive would block, FIONREAD says 0.
    let mut buf = [0u8; 64];
    assert!(matches!(
        TcpClientStack::receive(&mut stack, &mut s, &mut buf),
        Err(nb::Error::WouldBlock)
    ));
    assert_eq!(stack.tcp_available(&mut s).unwrap(), 0);
    peer.write_all(b"0123456789").unwrap();
    let deadline = StdInstant::now() + TIMEOUT;
    while stack.tcp_available(&mut s).unwrap() < 10 {
        assert!(StdInstant::now() < deadline, "FIONREAD never reached 10");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        TcpClientStack::receive(&mut stack, &mut s, &mut buf[..4]).unwrap(),
        4
    );
    assert_eq!(stack.tcp_available(&mut s).unwrap(), 6);
    assert_eq!(
        TcpClientStack::send(&mut stack, &mut s, b"pong").unwrap(),
        4
    );
    assert_eq!(read_n(&mut peer, 4), b"pong");

    // The peer closes: the rest, then end of stream.
    drop(peer);
    let mut rest = Vec::new();
    let deadline = StdInstant::now() + TIMEOUT;
    loop {
        match TcpClientStack::receive(&mut stack, &mut s, &mut buf) {
            Ok(0) => break,
            Ok(n) => rest.extend_from_slice(&buf[..n]),
            Err(nb::Error::WouldBlock) => assert!(StdInstant::now() < deadline),
            Err(e) => panic!("receive: {e:?}"),
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(rest, b"456789");
    TcpClientStack::close(&mut stack, s).unwrap();
    assert_eq!(stack.open_sockets(), 0);
}

/// Waits (bounded) until `stack.has_news()` is `want`, and checks it stays so.
fn news_becomes(stack: &mut LwipStack, want: bool, what: &str) {
    let deadline = StdInstant::now() + TIMEOUT;
    while stack.has_news() != want {
        assert!(
            StdInstant::now() < deadline,
            "has_news never became {want}: {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(stack.has_news(), want, "{what}");
}

#[test]
fn stack_has_news_only_when_a_socket_has_something() {
    host::start().unwrap();
    let mut stack: LwipStack = LwipStack::new();
    assert!(!stack.has_news(), "no sockets");

    // A listening socket: news while a connection waits to be accepted.
    let mut server = TcpClientStack::socket(&mut stack).unwrap();
    TcpFullStack::bind(&mut stack, &mut server, 0).unwrap();
    TcpFullStack::listen(&mut stack, &mut server).unwrap();
    let port = stack.tcp_local_addr(&server).unwrap().port();
    news_becomes(&mut stack, false, "listening, nobody connecting");
    let mut peer = TcpStream::connect((LWIP_IP, port)).unwrap();
    news_becomes(&mut stack, true, "a connection to accept");
    let (mut conn, _) = nb_retry(|| TcpFullStack::accept(&mut stack, &mut server));
    news_becomes(&mut stack, false, "accepted, no data");

    // A connected socket: news while data or an end of stream is unread.
    peer.write_all(b"abc").unwrap();
    news_becomes(&mut stack, true, "3 bytes unread");
    let mut buf = [0u8; 8];
    let n = nb_retry(|| TcpClientStack::receive(&mut stack, &mut conn, &mut buf));
    assert_eq!(&buf[..n], b"abc");
    news_becomes(&mut stack, false, "all read");
    drop(peer);
    news_becomes(&mut stack, true, "end of stream unread");
    assert_eq!(
        nb_retry(|| TcpClientStack::receive(&mut stack, &mut conn, &mut buf)),
        0
    );
    TcpClientStack::close(&mut stack, conn).unwrap();
    news_becomes(&mut stack, false, "closed");

    // A UDP socket: news while a datagram waits.
    let mut udp = UdpClientStack::socket(&mut stack).unwrap();
    UdpFullStack::bind(&mut stack, &mut udp, 0).unwrap();
    let udp_port = stack.udp_local_addr(&udp).unwrap().port();
    news_becomes(&mut stack, false, "UDP socket idle");
    let linux = UdpSocket::bind((LINUX_IP, 0)).unwrap();
    linux.send_to(b"datagram", (LWIP_IP, udp_port)).unwrap();
    news_becomes(&mut stack, true, "a datagram waits");
    let (data, _) = udp_receive(&mut stack, &mut udp);
    assert_eq!(data, b"datagram");
    news_becomes(&mut stack, false, "datagram read");
    UdpClientStack::close(&mut stack, udp).unwrap();
    TcpClientStack::close(&mut stack, server).unwrap();
    assert_eq!(stack.open_sockets(), 0);
}

/// Retries a non-blocking call until it completes (bounded).
fn nb_retry<T, E: std::fmt::Debug>(mut f: impl FnMut() -> nb::Result<T, E>) -> T {
    let deadline = StdInstant::now() + TIMEOUT;
    loop {
        match f() {
            Ok(v) => return v,
            Err(nb::Error::WouldBlock) => assert!(StdInstant::now() < deadline, "timed out"),
            Err(nb::Error::Other(e)) => panic!("{e:?}"),
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn stack_refused_connect_is_reported() {
    host::start().unwrap();
    // Nothing listens on this port: Linux answers with a reset.
    let closed = TcpListener::bind((LINUX_IP, 0)).unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut stack: LwipStack = LwipStack::new();
    let mut s = TcpClientStack::socket(&mut stack).unwrap();
    let deadline = StdInstant::now() + TIMEOUT;
    let err = loop {
        match TcpClientStack::connect(&mut stack, &mut s, SocketAddr::from((LINUX_IP, port))) {
            Ok(()) => panic!("connected to a closed port"),
            Err(nb::Error::WouldBlock) => assert!(StdInstant::now() < deadline),
            Err(nb::Error::Other(e)) => break e,
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    eprintln!("refused connect reported as {err:?}");
    TcpClientStack::close(&mut stack, s).unwrap();
}

#[test]
fn stack_udp_server_broadcast_and_multicast_on_real_lwip() {
    host::start().unwrap();
    let mut stack: LwipStack = LwipStack::new();
    let mut s = UdpClientStack::socket(&mut stack).unwrap();
    stack.udp_set_broadcast(&mut s, true).unwrap();
    UdpFullStack::bind(&mut stack, &mut s, 0).unwrap();
    let local = stack.udp_local_addr(&s).unwrap();
    let opts = stack.udp_options(&s).unwrap();
    assert!(opts.broadcast && opts.reuse_address && opts.nonblocking);
    stack.udp_set_broadcast(&mut s, false).unwrap();
    assert!(!stack.udp_options(&s).unwrap().broadcast);
    stack
        .udp_join_multicast(&mut s, Ipv4Addr::new(239, 255, 77, 1).into())
        .unwrap();

    let peer = UdpSocket::bind((LINUX_IP, 0)).unwrap();
    peer.set_read_timeout(Some(TIMEOUT)).unwrap();
    peer.send_to(b"to lwip", (LWIP_IP, local.port())).unwrap();
    let mut buf = [0u8; 64];
    let deadline = StdInstant::now() + TIMEOUT;
    let (n, from) = loop {
        match UdpClientStack::receive(&mut stack, &mut s, &mut buf) {
            Ok(r) => break r,
            Err(nb::Error::WouldBlock) => assert!(StdInstant::now() < deadline),
            Err(e) => panic!("{e:?}"),
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(
        (&buf[..n], from),
        (&b"to lwip"[..], peer.local_addr().unwrap())
    );
    stack
        .send_to(&mut s, peer.local_addr().unwrap(), b"to linux")
        .unwrap();
    let (n, from) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"to linux");
    assert_eq!(from, SocketAddr::from((LWIP_IP, local.port())));
}

/// Receives one datagram on `s` within the timeout.
fn udp_receive(
    stack: &mut LwipStack,
    s: &mut at_platform_w800::stack::UdpHandle,
) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 256];
    let (n, from) = nb_retry(|| UdpClientStack::receive(stack, s, &mut buf));
    (buf[..n].to_vec(), from)
}

#[test]
fn stack_multicast_and_broadcast_arrive_from_linux() {
    host::start().unwrap();
    let group = Ipv4Addr::new(239, 255, 77, 7);
    let mut stack: LwipStack = LwipStack::new();
    let mut s = UdpClientStack::socket(&mut stack).unwrap();
    UdpFullStack::bind(&mut stack, &mut s, 4477).unwrap();
    stack.udp_join_multicast(&mut s, group.into()).unwrap();
    let linux = UdpSocket::bind((LINUX_IP, 0)).unwrap();
    linux.send_to(b"to the group", (group, 4477)).unwrap();
    let (data, from) = udp_receive(&mut stack, &mut s);
    assert_eq!(
        (&data[..], from),
        (&b"to the group"[..], linux.local_addr().unwrap())
    );
    linux.set_broadcast(true).unwrap();
    linux
        .send_to(b"to everyone", (Ipv4Addr::new(192, 168, 77, 255), 4477))
        .unwrap();
    let (data, _) = udp_receive(&mut stack, &mut s);
    assert_eq!(data, b"to everyone");
    // lwIP sends broadcasts with SO_BROADCAST on.
    stack.udp_set_broadcast(&mut s, true).unwrap();
    let port = linux.local_addr().unwrap().port();
    let all = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port + 1)).unwrap();
    all.set_read_timeout(Some(TIMEOUT)).unwrap();
    stack
        .send_to(
            &mut s,
            SocketAddr::from((Ipv4Addr::new(192, 168, 77, 255), port + 1)),
            b"from lwip to everyone",
        )
        .unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = all.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"from lwip to everyone");
    assert_eq!(from.ip(), LWIP_IP);
}

#[test]
fn stack_close_with_linger_does_not_block() {
    let (l, port) = listener();
    let mut stack: LwipStack = LwipStack::new();
    let mut s = TcpClientStack::socket(&mut stack).unwrap();
    stack
        .tcp_set_option(&mut s, TcpOption::Linger(Some(5)))
        .unwrap();
    let deadline = StdInstant::now() + TIMEOUT;
    while let Err(e) =
        TcpClientStack::connect(&mut stack, &mut s, SocketAddr::from((LINUX_IP, port)))
    {
        assert!(matches!(e, nb::Error::WouldBlock) && StdInstant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut peer = accept(&l);
    assert_eq!(stack.tcp_options(&s).unwrap().linger, Some(5));
    assert_eq!(TcpClientStack::send(&mut stack, &mut s, b"bye").unwrap(), 3);
    let t = StdInstant::now();
    TcpClientStack::close(&mut stack, s).unwrap();
    let took = t.elapsed();
    eprintln!("close with SO_LINGER 5 s took {took:?}");
    assert!(took < Duration::from_secs(1), "close blocked for {took:?}");
    let mut got = Vec::new();
    peer.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"bye");
}

#[test]
fn engine_tcp_client_link_cipsend_and_receive() {
    let (l, port) = listener();
    let mut h = Host::joined();
    h.chat(
        &format!("AT+CIPSTART=\"TCP\",\"{LINUX_IP}\",{port}"),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let mut peer = accept(&l);
    h.cipsend("5", b"hello");
    assert_eq!(read_n(&mut peer, 5), b"hello");
    peer.write_all(b"world").unwrap();
    h.expect(b"+IPD,5:world\r\n");
    let state = h.chat("AT+CIPSTATE?", b"OK\r\n");
    assert!(
        state.contains(&format!("+CIPSTATE:0,\"TCP\",\"{LINUX_IP}\",{port},")),
        "{state}"
    );
    h.chat("AT+CIPCLOSE", b"CLOSED\r\n\r\nOK\r\n");
    let mut buf = [0u8; 1];
    assert_eq!(peer.read(&mut buf).unwrap(), 0, "the peer sees the close");
    assert_eq!(h.platform.stack().open_sockets(), 0);
}

#[test]
fn engine_refused_cipstart_answers_error_and_frees_the_socket() {
    host::start().unwrap();
    let closed = TcpListener::bind((LINUX_IP, 0)).unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut h = Host::joined();
    let out = h.chat(
        &format!("AT+CIPSTART=\"TCP\",\"{LINUX_IP}\",{port}"),
        b"ERROR\r\n",
    );
    assert!(!out.contains("CONNECT\r\n"), "{out}");
    h.chat("AT", b"OK\r\n");
    assert_eq!(h.platform.stack().open_sockets(), 0);
}

#[test]
fn engine_peer_close_is_reported() {
    let (l, port) = listener();
    let mut h = Host::joined();
    h.chat(
        &format!("AT+CIPSTART=\"TCP\",\"{LINUX_IP}\",{port}"),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let peer = accept(&l);
    drop(peer);
    h.expect(b"CLOSED\r\n");
    h.chat("AT+CIPSTATUS", b"OK\r\n");
}

#[test]
fn engine_udp_link() {
    host::start().unwrap();
    let peer = UdpSocket::bind((LINUX_IP, 0)).unwrap();
    peer.set_read_timeout(Some(TIMEOUT)).unwrap();
    let port = peer.local_addr().unwrap().port();
    let mut h = Host::joined();
    h.chat(
        &format!("AT+CIPSTART=\"UDP\",\"{LINUX_IP}\",{port},4321,0"),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    h.cipsend("4", b"ping");
    let mut buf = [0u8; 64];
    let (n, from) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
    assert_eq!(from, SocketAddr::from((LWIP_IP, 4321)));
    peer.send_to(b"pong", from).unwrap();
    h.expect(b"+IPD,4:pong\r\n");
}

#[test]
fn engine_server_accepts_clients() {
    host::start().unwrap();
    let mut h = Host::joined();
    h.chat("AT+CIPMUX=1", b"OK\r\n");
    h.chat("AT+CIPSERVER=1,3333", b"OK\r\n");
    let mut a = TcpStream::connect((LWIP_IP, 3333)).unwrap();
    h.expect(b"0,CONNECT\r\n");
    let mut b = TcpStream::connect((LWIP_IP, 3333)).unwrap();
    h.expect(b"1,CONNECT\r\n");
    for s in [&a, &b] {
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
    }
    b.write_all(b"from b").unwrap();
    h.expect(b"+IPD,1,6:from b\r\n");
    a.write_all(b"from a").unwrap();
    h.expect(b"+IPD,0,6:from a\r\n");
    h.cipsend("1,4", b"to b");
    assert_eq!(read_n(&mut b, 4), b"to b");
    h.cipsend("0,4", b"to a");
    assert_eq!(read_n(&mut a, 4), b"to a");
    let state = h.chat("AT+CIPSTATE?", b"OK\r\n");
    assert!(state.contains(",3333,1\r\n"), "{state}");
    h.chat("AT+CIPCLOSE=0", b"0,CLOSED\r\n\r\nOK\r\n");
    let mut buf = [0u8; 1];
    assert_eq!(a.read(&mut buf).unwrap(), 0);
    h.chat("AT+CIPSERVER=0,1", b"OK\r\n");
}

#[test]
fn engine_active_receive_large_hashed_transfer() {
    const LEN: usize = 1 << 20;
    let (l, port) = listener();
    let mut h = Host::joined();
    h.chat(
        &format!("AT+CIPSTART=\"TCP\",\"{LINUX_IP}\",{port}"),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let mut peer = accept(&l);
    let data = payload(LEN, 7);
    let sent = hash(&data);
    let writer = std::thread::spawn(move || peer.write_all(&data).map(|()| peer));
    let got = h.ipd_payload(LEN);
    let _peer = writer.join().unwrap().unwrap();
    assert_eq!(got.len(), LEN);
    assert_eq!(hash(&got), sent, "the payload arrived changed");
}

#[test]
fn engine_passive_receive_large_hashed_transfer() {
    const LEN: usize = 256 * 1024;
    let (l, port) = listener();
    let mut h = Host::joined();
    h.chat("AT+CIPRECVMODE=1", b"OK\r\n");
    h.chat(
        &format!("AT+CIPSTART=\"TCP\",\"{LINUX_IP}\",{port}"),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let mut peer = accept(&l);
    let data = payload(LEN, 11);
    let sent = hash(&data);
    let writer = std::thread::spawn(move || peer.write_all(&data).map(|()| peer));
    h.expect(b"+IPD,");
    // The data waits in lwIP: AT+CIPRECVLEN? reports what FIONREAD sees.
    let len = h.chat("AT+CIPRECVLEN?", b"OK\r\n");
    assert!(len.contains("+CIPRECVLEN:"), "{len}");
    let mut got = Vec::with_capacity(LEN);
    let deadline = StdInstant::now() + TIMEOUT * 3;
    while got.len() < LEN {
        assert!(StdInstant::now() < deadline, "only {} of {LEN}", got.len());
        h.feed(b"AT+CIPRECVDATA=2048\r\n");
        let head = h.expect(b"+CIPRECVDATA:");
        assert!(!head.ends_with(b"ERROR\r\n"));
        let comma = loop {
            h.poll();
            if let Some(c) = h.out.0[h.seen..].iter().position(|&b| b == b',') {
                break c;
            }
        };
        let n: usize = std::str::from_utf8(&h.out.0[h.seen..h.seen + comma])
            .unwrap()
            .parse()
            .unwrap();
        h.seen += comma + 1;
        while h.out.0.len() < h.seen + n {
            h.poll();
        }
        got.extend_from_slice(&h.out.0[h.seen..h.seen + n]);
        h.seen += n;
        h.expect(b"OK\r\n");
    }
    let _peer = writer.join().unwrap().unwrap();
    assert_eq!(hash(&got), sent, "the payload arrived changed");
}

#[test]
fn engine_transparent_mode_both_ways_large_hashed() {
    const LEN: usize = 512 * 1024;
    let (l, port) = listener();
    let mut h = Host::joined();
    h.chat("AT+CIPMODE=1", b"OK\r\n");
    h.chat(
        &format!("AT+CIPSTART=\"TCP\",\"{LINUX_IP}\",{port}"),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let mut peer = accept(&l);
    h.chat("AT+CIPSEND", b">");

    // Host -> network.
    let up = payload(LEN, 3);
    let up_hash = hash(&up);
    let mut reader = peer.try_clone().unwrap();
    let reading = std::thread::spawn(move || read_n(&mut reader, LEN));
    for chunk in up.chunks(1460) {
        h.feed(chunk);
    }
    h.skip(100); // the last partial block goes out after 30 ms of silence
    let deadline = StdInstant::now() + TIMEOUT;
    while !reading.is_finished() {
        assert!(
            StdInstant::now() < deadline,
            "the peer never got everything"
        );
        h.poll();
        std::thread::sleep(Duration::from_micros(200));
    }
    let got = reading.join().unwrap();
    assert_eq!(hash(&got), up_hash, "host -> network changed the data");

    // Network -> host: raw bytes, no +IPD.
    let down = payload(LEN, 5);
    let down_hash = hash(&down);
    let writer = std::thread::spawn(move || peer.write_all(&down).map(|()| peer));
    let deadline = StdInstant::now() + TIMEOUT * 3;
    while h.out.0.len() - h.seen < LEN {
        assert!(StdInstant::now() < deadline);
        h.poll();
    }
    let _peer = writer.join().unwrap().unwrap();
    assert_eq!(hash(&h.out.0[h.seen..h.seen + LEN]), down_hash);
    h.seen += LEN;

    // +++ alone, guarded by silence, leaves transparent mode.
    h.skip(1000);
    h.feed(b"+++");
    h.skip(1000);
    h.chat("AT", b"OK\r\n");
}

#[test]
fn engine_socket_options_read_back_from_lwip() {
    let (l, port) = listener();
    let mut h = Host::joined();
    h.chat("AT+CIPMUX=1", b"OK\r\n");
    h.chat(
        &format!("AT+CIPSTART=1,\"TCP\",\"{LINUX_IP}\",{port}"),
        b"1,CONNECT\r\n\r\nOK\r\n",
    );
    let mut peer = accept(&l);
    h.chat("AT+CIPTCPOPT=1,3,1,5000,60", b"OK\r\n");
    let stack = h.platform.stack();
    let slot = stack
        .connected_tcp_slots()
        .next()
        .expect("a connected socket");
    let got = stack.tcp_options_at(slot).unwrap();
    assert_eq!(got.linger, Some(3));
    assert!(got.nodelay);
    assert_eq!(got.send_timeout_ms, 5000);
    assert!(got.keepalive);
    assert_eq!(
        (
            got.keepalive_idle,
            got.keepalive_interval,
            got.keepalive_count
        ),
        (60, 1, 3)
    );
    h.chat("AT+CIPTCPOPT=1,-1,0,0,0", b"OK\r\n");
    let got = h.platform.stack().tcp_options_at(slot).unwrap();
    assert_eq!(
        (got.linger, got.nodelay, got.send_timeout_ms, got.keepalive),
        (None, false, 0, false)
    );
    // Closing a lingering link neither blocks nor loses the data just sent.
    h.chat("AT+CIPTCPOPT=1,3,0,0,0", b"OK\r\n");
    h.cipsend("1,4", b"last");
    h.chat("AT+CIPCLOSE=1", b"1,CLOSED\r\n\r\nOK\r\n");
    assert_eq!(h.platform.stack().open_sockets(), 0);
    let mut got = Vec::new();
    peer.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"last");
}

#[test]
fn engine_ping_over_lwip_raw_socket() {
    host::start().unwrap();
    let mut h = Host::joined();
    let out = h.chat(&format!("AT+PING=\"{LINUX_IP}\""), b"OK\r\n");
    assert!(out.contains("+PING:"), "{out}");
    assert!(!out.contains("TIMEOUT"), "{out}");
}

#[test]
fn engine_cifsr_reports_lwip_addresses() {
    host::start().unwrap();
    let mut h = Host::joined();
    let out = h.chat("AT+CIFSR", b"OK\r\n");
    assert!(
        out.contains(&format!("+CIFSR:STAIP,\"{LWIP_IP}\"")),
        "{out}"
    );
}

mod capi {
    use super::*;
    use at_platform_w800::capi::{self, AtW800, AT_W800_MEMORY_ALIGN};
    use std::ffi::c_void;
    use std::sync::Mutex;

    static OUTPUT: Mutex<Vec<u8>> = Mutex::new(Vec::new());

    extern "C" fn uart_write(ctx: *mut c_void, data: *const u8, len: usize) -> usize {
        assert_eq!(ctx as usize, 0x5738);
        // SAFETY (test): the engine passes a valid buffer of `len` bytes.
        let bytes = unsafe { std::slice::from_raw_parts(data, len) };
        // Take at most 7 bytes a call: the engine keeps the rest.
        let n = len.min(7);
        OUTPUT.lock().unwrap().extend_from_slice(&bytes[..n]);
        n
    }

    fn output_contains(s: &str) -> bool {
        find(&OUTPUT.lock().unwrap(), s.as_bytes()).is_some()
    }

    #[test]
    #[allow(unsafe_code)]
    fn capi_engine_in_caller_memory_answers_over_the_uart_callback() {
        host::start().unwrap();
        let size = capi::at_w800_memory_size();
        assert!(capi::at_w800_memory_align() <= AT_W800_MEMORY_ALIGN);
        eprintln!(
            "engine in caller memory: {} bytes, align {} (x86_64 host)",
            capi::at_w800_memory_size(),
            capi::at_w800_memory_align()
        );
        // u64 words: 8-byte aligned.
        let mut memory = vec![0u64; size.div_ceil(8)];
        let base = memory.as_mut_ptr().cast::<c_void>();
        // SAFETY (test): the memory is live and large enough; too small or misaligned
        // memory is refused.
        unsafe {
            assert!(capi::at_w800_init(base, 100, std::ptr::null()).is_null());
            assert!(
                capi::at_w800_init(base.cast::<u8>().add(1).cast(), size, std::ptr::null())
                    .is_null()
            );
        }
        // SAFETY (test): as above.
        let at: *mut AtW800 =
            unsafe { capi::at_w800_init(base, memory.len() * 8, std::ptr::null()) };
        assert!(!at.is_null());
        // SAFETY (test): `at` is live until at_w800_deinit below; one thread uses it.
        unsafe {
            capi::at_w800_set_uart_write(at, Some(uart_write), 0x5738 as *mut c_void);
            // A tick near the wrap: the engine's clock keeps counting across it.
            let mut tick = u32::MAX - 50;
            let deadline = StdInstant::now() + TIMEOUT;
            while !output_contains("ready\r\n") {
                assert!(StdInstant::now() < deadline);
                capi::at_w800_poll(at, tick);
            }
            let mut line: &[u8] = b"AT+GMR\r\n";
            while !line.is_empty() {
                let n = capi::at_w800_feed(at, tick, line.as_ptr(), line.len());
                line = &line[n..];
                capi::at_w800_poll(at, tick);
                tick = tick.wrapping_add(1);
                assert!(StdInstant::now() < deadline);
            }
            while !output_contains("OK\r\n") {
                assert!(StdInstant::now() < deadline);
                capi::at_w800_poll(at, tick);
            }
            assert!(
                output_contains("W800"),
                "{:?}",
                String::from_utf8_lossy(&OUTPUT.lock().unwrap())
            );
            assert_eq!(capi::at_w800_poll(at, tick), 0, "all output written");
            assert_eq!(
                capi::at_w800_next_deadline(at, tick),
                capi::AT_W800_NO_DEADLINE
            );
            capi::at_w800_deinit(at);
            // Null engines are ignored.
            assert_eq!(capi::at_w800_poll(std::ptr::null_mut(), 0), -1);
        }
    }
}

/// A DNS server on the Linux side that answers every A query for `name` with `ip` and
/// every other query with no answer; counts the queries it saw.
fn dns_server(
    name: &'static str,
    ip: Ipv4Addr,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    host::start().unwrap();
    let sock = UdpSocket::bind((LINUX_IP, 53)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let queries = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (q, s) = (queries.clone(), stop.clone());
    let mut wire_name = Vec::new();
    for label in name.split('.') {
        wire_name.push(label.len() as u8);
        wire_name.extend_from_slice(label.as_bytes());
    }
    wire_name.push(0);
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while !s.load(Ordering::Relaxed) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            q.fetch_add(1, Ordering::Relaxed);
            let query = &buf[..n];
            let qend = 12 + wire_name.len() + 4;
            if n < qend {
                continue;
            }
            let qtype = u16::from_be_bytes([query[qend - 4], query[qend - 3]]);
            let matches = query[12..12 + wire_name.len()].eq_ignore_ascii_case(&wire_name);
            let answer = matches && qtype == 1;
            let mut r = Vec::new();
            r.extend_from_slice(&query[..2]); // id
            r.extend_from_slice(&[0x81, 0x80]); // response, recursion available
            r.extend_from_slice(&[0, 1, 0, u8::from(answer), 0, 0, 0, 0]);
            r.extend_from_slice(&query[12..qend]); // the question
            if answer {
                r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                r.extend_from_slice(&ip.octets());
            }
            let _ = sock.send_to(&r, from);
        }
    });
    (queries, stop)
}

#[test]
fn engine_resolves_names_with_a_manual_dns_server_over_lwip_udp() {
    use std::sync::atomic::Ordering;
    let (queries, stop) = dns_server("peer.lab", LINUX_IP);
    let (l, port) = listener();
    let mut h = Host::joined();
    h.chat(&format!("AT+CIPDNS=1,\"{LINUX_IP}\""), b"OK\r\n");
    let out = h.chat("AT+CIPDOMAIN=\"peer.lab\"", b"OK\r\n");
    assert!(out.contains(&format!("+CIPDOMAIN:\"{LINUX_IP}\"")), "{out}");
    h.chat(
        &format!("AT+CIPSTART=\"TCP\",\"peer.lab\",{port}"),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let _peer = accept(&l);
    assert!(queries.load(Ordering::Relaxed) >= 2);
    stop.store(true, Ordering::Relaxed);
}
