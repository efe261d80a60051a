use at_core::sim::SimPlatform;
use at_core::testing::Harness;
use at_tcpip::TcpIp;

#[test]
fn smoke() {
    let mut p = SimPlatform::default();
    p.station.add_ap(b"lab", b"secret123").unwrap();
    let addr = "192.168.4.10:80".parse().unwrap();
    p.net.listen(addr).unwrap();
    let mut h = Harness::with_platform(TcpIp::<SimPlatform>::new(), p);
    h.boot();
    h.send(b"ATE0\r\n");
    assert_eq!(
        h.send(b"AT+CWJAP=\"lab\",\"secret123\"\r\n"),
        b"WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n"
    );
    assert_eq!(
        h.send(b"AT+CIPSTART=\"TCP\",\"192.168.4.10\",80\r\n"),
        b"CONNECT\r\n\r\nOK\r\n"
    );
    let peer = h.platform.net.accepted(addr).unwrap();
    assert_eq!(h.send(b"AT+CIPSEND=5\r\n"), b"\r\nOK\r\n\r\n>");
    assert_eq!(h.send(b"hello"), b"\r\nRecv 5 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(h.platform.net.peer_received(peer), b"hello");
    h.platform.net.peer_send(peer, b"world");
    assert_eq!(h.poll(), b"\r\n+IPD,5:world\r\n");
}
