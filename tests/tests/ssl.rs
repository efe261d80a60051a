//! SSL links end to end: `at-modem` on a pty against real TLS peers on loopback, built
//! with OpenSSL in this process (servers and clients in threads), with certificates made
//! for each test run ([`at_platform_std::pki::issue`]): a CA, servers it signed (one
//! valid, one expired, one for another name), a server of an unknown issuer, and client
//! certificates. Every expectation on the AT port is the exact byte string; every peer
//! reports what it saw (SNI, ALPN, the client's certificate, the bytes).

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use at_e2e_tests::{port_writer, retry_interrupted, Host, Modem, PATIENCE};
use at_platform_std::pki::{issue, CertificateRequest, Issued};
use at_platform_std::tls;
use openssl::nid::Nid;
use openssl::ssl::{
    select_next_proto, AlpnError, NameType, Ssl, SslContext, SslContextBuilder, SslMethod,
    SslStream, SslVerifyMode, SslVersion,
};
use openssl::x509::X509;

const SSID: &str = "LabNet";
const PASSWORD: &str = "correct-horse";
const QUIET: Duration = Duration::from_millis(200);
const DAY: i64 = 86_400;
const KIB: usize = 1024;

// ---------------------------------------------------------------------------------------
// Certificates

/// The certificates of one test: what the modem's `--pki-dir` holds and what the peers
/// present.
struct Lab {
    dir: tempfile::TempDir,
    ca: Issued,
    /// Signed by `ca` for `localhost` and 127.0.0.1.
    server: Issued,
    /// Signed by `ca`, valid until yesterday.
    expired: Issued,
    /// Signed by `ca` for `other.example` only.
    other_name: Issued,
    /// Signed by a CA the modem does not know.
    foreign: Issued,
    /// A client certificate signed by `ca` (not the modem's own).
    client: Issued,
}

fn leaf_for_loopback(cn: &str) -> CertificateRequest {
    CertificateRequest::leaf(cn)
        .dns("localhost")
        .ip("127.0.0.1".parse().unwrap())
}

impl Lab {
    fn new() -> Lab {
        let ca = issue(&CertificateRequest::ca("Lab CA"), None).unwrap();
        let server = issue(&leaf_for_loopback("localhost"), Some(&ca)).unwrap();
        let expired = issue(
            &leaf_for_loopback("localhost").valid(-30 * DAY, -DAY),
            Some(&ca),
        )
        .unwrap();
        let other_name = issue(
            &CertificateRequest::leaf("other.example").dns("other.example"),
            Some(&ca),
        )
        .unwrap();
        let foreign_ca = issue(&CertificateRequest::ca("Foreign CA"), None).unwrap();
        let foreign = issue(&leaf_for_loopback("localhost"), Some(&foreign_ca)).unwrap();
        let client = issue(&CertificateRequest::leaf("lab-client"), Some(&ca)).unwrap();
        let module_client = issue(&CertificateRequest::leaf("module-client"), Some(&ca)).unwrap();
        let module_server = issue(&leaf_for_loopback("module-server"), Some(&ca)).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let put = |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).unwrap();
        put("ca.0.pem", &ca.pem.certificate);
        put("client.0.cert.pem", &module_client.pem.certificate);
        put("client.0.key.pem", &module_client.pem.key);
        put("server.cert.pem", &module_server.pem.certificate);
        put("server.key.pem", &module_server.pem.key);
        put("server-ca.pem", &ca.pem.certificate);
        Lab {
            dir,
            ca,
            server,
            expired,
            other_name,
            foreign,
            client,
        }
    }

    fn pki_dir(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }
}

fn server_ctx(cert: &Issued) -> SslContextBuilder {
    let mut ctx = SslContextBuilder::new(SslMethod::tls_server()).unwrap();
    tls::present(&mut ctx, cert.pem.identity()).unwrap();
    ctx
}

// ---------------------------------------------------------------------------------------
// TLS peers

/// What a TLS server thread saw.
#[derive(Debug)]
struct Seen {
    handshake: Result<(), String>,
    sni: Option<String>,
    alpn: Option<Vec<u8>>,
    client_cn: Option<String>,
    version: String,
}

fn common_name(cert: &X509) -> Option<String> {
    let entry = cert.subject_name().entries_by_nid(Nid::COMMONNAME).next()?;
    entry.data().to_string().ok()
}

/// A loopback listener and its port.
fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// Accepts one connection within [`PATIENCE`].
fn accept_within(l: &TcpListener) -> TcpStream {
    l.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(PATIENCE)).unwrap();
                s.set_write_timeout(Some(PATIENCE)).unwrap();
                return s;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("no connection from the modem: {e}"),
        }
    }
}

/// A TLS server for one connection: handshakes, reports what it saw, then runs `then`
/// on the session (if the handshake succeeded) and returns its result.
fn tls_server<T: Send + 'static>(
    ctx: SslContext,
    then: impl FnOnce(&mut SslStream<TcpStream>) -> T + Send + 'static,
) -> (u16, JoinHandle<(Seen, Option<T>)>) {
    let (l, port) = listener();
    let handle = thread::spawn(move || {
        let tcp = accept_within(&l);
        let mut stream = SslStream::new(Ssl::new(&ctx).unwrap(), tcp).unwrap();
        let handshake = stream.accept().map_err(|e| e.to_string());
        let ssl = stream.ssl();
        let seen = Seen {
            handshake,
            sni: ssl.servername(NameType::HOST_NAME).map(str::to_owned),
            alpn: ssl.selected_alpn_protocol().map(<[u8]>::to_vec),
            client_cn: ssl.peer_certificate().as_ref().and_then(common_name),
            version: ssl.version_str().to_owned(),
        };
        let result = seen.handshake.is_ok().then(|| then(&mut stream));
        (seen, result)
    });
    (port, handle)
}

/// Echoes what it reads until the end of the stream.
fn echo(s: &mut SslStream<TcpStream>) -> usize {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        match retry_interrupted(|| s.read(&mut buf)) {
            Ok(0) | Err(_) => return total,
            Ok(n) => {
                total += n;
                if s.write_all(&buf[..n]).is_err() {
                    return total;
                }
            }
        }
    }
}

fn finish<T>(h: JoinHandle<(Seen, Option<T>)>) -> (Seen, Option<T>) {
    h.join().expect("the TLS peer panicked")
}

// ---------------------------------------------------------------------------------------
// The modem

/// A modem with the lab's certificates, echo off, joined to the access point.
fn modem(lab: &Lab) -> (Modem, Host) {
    let ap = format!("{SSID}:{PASSWORD}");
    let (m, mut host) = Modem::on_pty(&["--ap", &ap, "--pki-dir", lab.pki_dir()]);
    host.expect(b"\r\nready\r\n");
    host.chat(b"ATE0\r\n", b"ATE0\r\n\r\nOK\r\n");
    host.chat(
        format!("AT+CWJAP=\"{SSID}\",\"{PASSWORD}\"\r\n").as_bytes(),
        b"WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n",
    );
    (m, host)
}

fn start_ssl(host: &mut Host, target: &str, port: u16, want: &[u8]) {
    host.chat(
        format!("AT+CIPSTART=\"SSL\",\"{target}\",{port}\r\n").as_bytes(),
        want,
    );
}

const CONNECTED: &[u8] = b"CONNECT\r\n\r\nOK\r\n";
const REFUSED: &[u8] = b"\r\nERROR\r\n";

/// CIPSEND of `payload`, its echo as `+IPD`, then the link closed by the host.
fn round_trip_and_close(host: &mut Host, payload: &[u8]) {
    host.chat(
        format!("AT+CIPSEND={}\r\n", payload.len()).as_bytes(),
        b"\r\nOK\r\n\r\n>",
    );
    host.send(payload);
    host.expect(format!("\r\nRecv {} bytes\r\n\r\nSEND OK\r\n", payload.len()).as_bytes());
    let mut ipd = format!("\r\n+IPD,{}:", payload.len()).into_bytes();
    ipd.extend_from_slice(payload);
    ipd.extend_from_slice(b"\r\n");
    host.expect(&ipd);
    host.chat(b"AT+CIPCLOSE\r\n", b"CLOSED\r\n\r\nOK\r\n");
}

// ---------------------------------------------------------------------------------------
// Client links

#[test]
fn auth_mode_0_connects_to_a_self_signed_server_and_carries_data() {
    let lab = Lab::new();
    let (_m, mut host) = modem(&lab);
    let self_signed = issue(&CertificateRequest::leaf("self-signed"), None).unwrap();
    let (port, peer) = tls_server(server_ctx(&self_signed).build(), echo);
    start_ssl(&mut host, "127.0.0.1", port, CONNECTED);
    host.send(b"AT+CIPSTATE?\r\n");
    let state = host.read_until(b"\r\n\r\nOK\r\n");
    let want = format!("+CIPSTATE:0,\"SSL\",\"127.0.0.1\",{port},");
    assert!(
        state.starts_with(want.as_bytes()),
        "{:?}",
        state.escape_ascii().to_string()
    );
    round_trip_and_close(&mut host, b"hello over TLS");
    let (seen, echoed) = finish(peer);
    assert_eq!(seen.handshake, Ok(()));
    assert_eq!(seen.sni, None, "no SNI for an IP address");
    assert_eq!(echoed, Some(14));
}

#[test]
fn auth_mode_2_verifies_issuer_validity_and_name() {
    let lab = Lab::new();
    let (_m, mut host) = modem(&lab);
    host.chat(b"AT+CIPSSLCCONF=2,0,0\r\n", b"\r\nOK\r\n");

    // Signed by the CA, for 127.0.0.1: accepted.
    let (port, peer) = tls_server(server_ctx(&lab.server).build(), echo);
    start_ssl(&mut host, "127.0.0.1", port, CONNECTED);
    round_trip_and_close(&mut host, b"verified");
    assert_eq!(finish(peer).0.handshake, Ok(()));

    // An unknown issuer, an expired certificate, a certificate for another name: refused,
    // and the link id stays free.
    for bad in [&lab.foreign, &lab.expired, &lab.other_name] {
        let (port, peer) = tls_server(server_ctx(bad).build(), |_| ());
        start_ssl(&mut host, "127.0.0.1", port, REFUSED);
        assert!(finish(peer).0.handshake.is_err());
        host.chat(b"AT+CIPSTATE?\r\n", b"\r\nOK\r\n");
    }

    // The name to check comes from AT+CIPSSLCCN when set.
    host.chat(b"AT+CIPSSLCCN=\"other.example\"\r\n", b"\r\nOK\r\n");
    let (port, peer) = tls_server(server_ctx(&lab.other_name).build(), echo);
    start_ssl(&mut host, "127.0.0.1", port, CONNECTED);
    round_trip_and_close(&mut host, b"named");
    assert_eq!(finish(peer).0.handshake, Ok(()));
    let (port, peer) = tls_server(server_ctx(&lab.server).build(), |_| ());
    start_ssl(&mut host, "127.0.0.1", port, REFUSED);
    assert!(finish(peer).0.handshake.is_err());
    host.chat(b"AT\r\n", b"\r\nOK\r\n");
}

/// A server that requires a client certificate signed by the lab's CA.
fn client_checking_server(lab: &Lab) -> SslContext {
    let mut ctx = server_ctx(&lab.server);
    tls::trust(&mut ctx, &lab.ca.pem.certificate).unwrap();
    ctx.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    ctx.build()
}

#[test]
fn auth_modes_1_and_3_present_the_client_certificate() {
    let lab = Lab::new();
    let (_m, mut host) = modem(&lab);
    for mode in [1, 3] {
        host.chat(
            format!("AT+CIPSSLCCONF={mode},0,0\r\n").as_bytes(),
            b"\r\nOK\r\n",
        );
        let (port, peer) = tls_server(client_checking_server(&lab), echo);
        start_ssl(&mut host, "127.0.0.1", port, CONNECTED);
        round_trip_and_close(&mut host, b"mutual");
        let (seen, _) = finish(peer);
        assert_eq!(seen.handshake, Ok(()), "mode {mode}");
        assert_eq!(
            seen.client_cn.as_deref(),
            Some("module-client"),
            "mode {mode}"
        );
    }
    // Without a client certificate the server refuses the handshake.
    host.chat(b"AT+CIPSSLCCONF=0\r\n", b"\r\nOK\r\n");
    let (port, peer) = tls_server(client_checking_server(&lab), |_| ());
    host.send(format!("AT+CIPSTART=\"SSL\",\"127.0.0.1\",{port}\r\n").as_bytes());
    let (seen, _) = finish(peer);
    assert!(seen.handshake.is_err(), "{seen:?}");
    assert_eq!(seen.client_cn, None);
    // TLS 1.3 finishes the client's side before the server checks: the module may say
    // CONNECT and then CLOSED, or ERROR at once; either way the link ends.
    let said = host.read_until(b"\r\n");
    if said.ends_with(b"CONNECT\r\n") {
        host.expect(b"\r\nOK\r\n");
        host.read_until(b"CLOSED\r\n");
    } else {
        host.read_until(b"ERROR\r\n");
    }
    host.chat(b"AT+CIPSTATE?\r\n", b"\r\nOK\r\n");
    // A PKI index the store lacks: ERROR before any connection.
    host.chat(b"AT+CIPSSLCCONF=1,7,0\r\n", b"\r\nOK\r\n");
    let (port, peer) = tls_server(client_checking_server(&lab), |_| ());
    start_ssl(&mut host, "127.0.0.1", port, REFUSED);
    drop(peer);
}

#[test]
fn sni_and_alpn_reach_the_server() {
    let lab = Lab::new();
    let (_m, mut host) = modem(&lab);
    let alpn_server = || {
        let mut ctx = server_ctx(&lab.server);
        ctx.set_alpn_select_callback(|_, offered| {
            select_next_proto(b"\x04mqtt", offered).ok_or(AlpnError::NOACK)
        });
        ctx.build()
    };
    // By name, with nothing configured: the host name is the SNI.
    let (port, peer) = tls_server(alpn_server(), echo);
    start_ssl(&mut host, "localhost", port, CONNECTED);
    round_trip_and_close(&mut host, b"sni");
    let (seen, _) = finish(peer);
    assert_eq!(seen.sni.as_deref(), Some("localhost"));
    assert_eq!(seen.alpn, None);

    host.chat(b"AT+CIPSSLCSNI=\"iot.example\"\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPSSLCALPN=2,\"h2\",\"mqtt\"\r\n", b"\r\nOK\r\n");
    host.chat(
        b"AT+CIPSSLCALPN?\r\n",
        b"+CIPSSLCALPN:0,\"h2\",\"mqtt\"\r\n\r\nOK\r\n",
    );
    let (port, peer) = tls_server(alpn_server(), echo);
    start_ssl(&mut host, "127.0.0.1", port, CONNECTED);
    round_trip_and_close(&mut host, b"alpn");
    let (seen, _) = finish(peer);
    assert_eq!(seen.sni.as_deref(), Some("iot.example"));
    assert_eq!(seen.alpn.as_deref(), Some(&b"mqtt"[..]));
}

/// A TLS 1.2 PSK server knowing `identity` with `key`.
fn psk_server(identity: &'static str, key: &'static [u8]) -> SslContext {
    let mut ctx = SslContextBuilder::new(SslMethod::tls_server()).unwrap();
    ctx.set_max_proto_version(Some(SslVersion::TLS1_2)).unwrap();
    ctx.set_cipher_list("PSK").unwrap();
    ctx.set_psk_server_callback(move |_, got, out| {
        if got != Some(identity.as_bytes()) {
            return Ok(0);
        }
        out[..key.len()].copy_from_slice(key);
        Ok(key.len())
    });
    ctx.build()
}

#[test]
fn psk_over_tls_1_2_works_and_a_wrong_key_fails() {
    let lab = Lab::new();
    let (_m, mut host) = modem(&lab);
    let key: &[u8] = &[0x1a, 0x2b, 0x3c, 0x4d, 0x5e, 0x6f, 0x70, 0x81];
    host.chat(
        b"AT+CIPSSLCPSK=\"1A2B3C4D5E6F7081\",\"module-7\"\r\n",
        b"\r\nOK\r\n",
    );
    let (port, peer) = tls_server(psk_server("module-7", key), echo);
    start_ssl(&mut host, "127.0.0.1", port, CONNECTED);
    round_trip_and_close(&mut host, b"pre-shared");
    let (seen, _) = finish(peer);
    assert_eq!(seen.handshake, Ok(()));
    assert_eq!(seen.version, "TLSv1.2");

    host.chat(
        b"AT+CIPSSLCPSK=\"1A2B3C4D5E6F7082\",\"module-7\"\r\n",
        b"\r\nOK\r\n",
    );
    let (port, peer) = tls_server(psk_server("module-7", key), |_| ());
    start_ssl(&mut host, "127.0.0.1", port, REFUSED);
    assert!(finish(peer).0.handshake.is_err());
    host.chat(b"AT\r\n", b"\r\nOK\r\n");
}

#[test]
fn a_peer_sending_garbage_instead_of_tls_gets_error_and_the_modem_carries_on() {
    let lab = Lab::new();
    let (_m, mut host) = modem(&lab);
    let (l, port) = listener();
    let peer = thread::spawn(move || {
        let mut s = accept_within(&l);
        let mut hello = [0u8; 512];
        let _ = s.read(&mut hello);
        let garbage: Vec<u8> = (0..64 * KIB).map(|i| (i * 7 + 3) as u8).collect();
        let _ = s.write_all(&garbage);
    });
    start_ssl(&mut host, "127.0.0.1", port, REFUSED);
    peer.join().unwrap();
    host.chat(b"AT+CIPSTATE?\r\n", b"\r\nOK\r\n");
    // The same id works right after, to a real server.
    let (port, peer) = tls_server(server_ctx(&lab.server).build(), echo);
    start_ssl(&mut host, "127.0.0.1", port, CONNECTED);
    round_trip_and_close(&mut host, b"after garbage");
    assert_eq!(finish(peer).0.handshake, Ok(()));
}

// ---------------------------------------------------------------------------------------
// The SSL server

/// A TLS client of the modem's server: verifies it with the lab's CA, presents
/// `certificate` if given, sends `hello` and reads it back.
fn connect_client(
    lab: &Lab,
    port: u16,
    certificate: Option<&Issued>,
) -> Result<SslStream<TcpStream>, String> {
    let mut ctx = SslContextBuilder::new(SslMethod::tls_client()).unwrap();
    tls::trust(&mut ctx, &lab.ca.pem.certificate).unwrap();
    ctx.set_verify(SslVerifyMode::PEER);
    if let Some(c) = certificate {
        tls::present(&mut ctx, c.pem.identity()).unwrap();
    }
    let mut ssl = Ssl::new(&ctx.build()).unwrap();
    ssl.param_mut()
        .set_ip("127.0.0.1".parse().unwrap())
        .unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut s = SslStream::new(ssl, tcp).unwrap();
    s.connect().map_err(|e| e.to_string())?;
    Ok(s)
}

fn free_port() -> u16 {
    listener().1
}

#[test]
fn ssl_server_with_ca_enable_takes_a_certified_client_and_refuses_others() {
    let lab = Lab::new();
    let (_m, mut host) = modem(&lab);
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    let port = free_port();
    host.chat(
        format!("AT+CIPSERVER=1,{port},\"SSL\",1\r\n").as_bytes(),
        b"\r\nOK\r\n",
    );
    host.chat(
        b"AT+CIPSERVER?\r\n",
        format!("+CIPSERVER:1,{port},\"SSL\",1\r\n\r\nOK\r\n").as_bytes(),
    );

    // Without a certificate: never announced. (With TLS 1.3 the client's handshake ends
    // before the server's verdict; the server's alert arrives on the first read.)
    if let Ok(mut s) = connect_client(&lab, port, None) {
        let mut b = [0u8; 1];
        assert!(
            !matches!(s.read(&mut b), Ok(1)),
            "data from a refused client"
        );
    }
    host.expect_silence(QUIET);
    host.chat(b"AT+CIPSTATE?\r\n", b"\r\nOK\r\n");

    // With one: `0,CONNECT`, then data both ways.
    let mut client = connect_client(&lab, port, Some(&lab.client)).expect("handshake");
    host.expect(b"\r\n0,CONNECT\r\n");
    client.write_all(b"from client").unwrap();
    host.expect(b"\r\n+IPD,0,11:from client\r\n");
    host.chat(b"AT+CIPSEND=0,4\r\n", b"\r\nOK\r\n\r\n>");
    host.send(b"pong");
    host.expect(b"\r\nRecv 4 bytes\r\n\r\nSEND OK\r\n");
    let mut got = [0u8; 4];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"pong");

    // An SSL server takes one client: a second one is closed without a word.
    if let Ok(mut second) = connect_client(&lab, port, Some(&lab.client)) {
        let mut b = [0u8; 1];
        assert!(!matches!(second.read(&mut b), Ok(1)));
    }
    host.expect_silence(QUIET);
    host.chat(b"AT+CIPCLOSE=0\r\n", b"0,CLOSED\r\n\r\nOK\r\n");
    host.chat(b"AT+CIPSERVER=0\r\n", b"\r\nOK\r\n");
}

#[test]
fn ssl_server_without_ca_enable_takes_any_client() {
    let lab = Lab::new();
    let (_m, mut host) = modem(&lab);
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    let port = free_port();
    host.chat(
        format!("AT+CIPSERVER=1,{port},\"SSL\"\r\n").as_bytes(),
        b"\r\nOK\r\n",
    );
    let mut client = connect_client(&lab, port, None).expect("handshake");
    host.expect(b"\r\n0,CONNECT\r\n");
    client.write_all(b"hi").unwrap();
    host.expect(b"\r\n+IPD,0,2:hi\r\n");
    drop(client);
    host.expect(b"\r\n0,CLOSED\r\n");
}

#[test]
fn ssl_server_needs_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ap = format!("{SSID}:{PASSWORD}");
    let (_m, mut host) = Modem::on_pty(&["--ap", &ap, "--pki-dir", dir.path().to_str().unwrap()]);
    host.expect(b"\r\nready\r\n");
    host.chat(b"ATE0\r\n", b"ATE0\r\n\r\nOK\r\n");
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPSERVER=1,4433,\"SSL\"\r\n", b"\r\nERROR\r\n");
    host.chat(b"AT+CIPSERVER=1,4433,\"TCP\",1\r\n", b"\r\nERROR\r\n");
    host.chat(b"AT+CIPSERVER?\r\n", b"+CIPSERVER:0\r\n\r\nOK\r\n");
    assert!(Path::new(dir.path()).read_dir().unwrap().next().is_none());
}

// ---------------------------------------------------------------------------------------
// Bulk data over SSL, hashed

const BULK: usize = 1024 * KIB;

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    let mut x = u32::from(seed) | 0x9e37_0000;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[test]
fn one_mib_each_way_in_transparent_mode() {
    let lab = Lab::new();
    let (m, mut host) = modem(&lab);
    let up = pattern(1, BULK);
    let down = pattern(2, BULK);
    let (want_up, want_down) = (fnv(&up), fnv(&down));
    let (port, peer) = tls_server(server_ctx(&lab.server).build(), move |s| {
        // Write everything while reading everything: a writer thread would need a
        // second handle to the session, so interleave with short read timeouts.
        s.get_ref()
            .set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
        let mut got = Vec::with_capacity(BULK);
        let mut sent = 0;
        let mut buf = vec![0u8; 64 * KIB];
        let deadline = Instant::now() + 10 * PATIENCE;
        while (got.len() < BULK || sent < BULK) && Instant::now() < deadline {
            if sent < BULK {
                let end = (sent + 16 * KIB).min(BULK);
                match s.ssl_write(&down[sent..end]) {
                    Ok(n) => sent += n,
                    Err(e) if e.io_error().is_some_and(is_timeout) => {}
                    Err(e) => panic!("peer write: {e}"),
                }
            }
            match s.ssl_read(&mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.io_error().is_some_and(is_timeout) => {}
                Err(e) => panic!("peer read after {} bytes: {e}", got.len()),
            }
        }
        got
    });
    host.chat(b"AT+CIPMODE=1\r\n", b"\r\nOK\r\n");
    start_ssl(&mut host, "127.0.0.1", port, CONNECTED);
    host.chat(b"AT+CIPSEND\r\n", b"\r\nOK\r\n\r\n>");
    let mut w = port_writer(&m);
    let writer = thread::spawn(move || w.write_all(&up).map_err(|e| e.to_string()));
    let mut got = Vec::with_capacity(BULK);
    let mut buf = vec![0u8; 64 * KIB];
    while got.len() < BULK {
        let room = (BULK - got.len()).min(buf.len());
        let n = host.read_some(&mut buf[..room], PATIENCE);
        assert!(
            n > 0,
            "the stream to the host stalled at {} bytes",
            got.len()
        );
        got.extend_from_slice(&buf[..n]);
    }
    writer.join().unwrap().unwrap();
    assert_eq!(fnv(&got), want_down, "peer -> host");
    let (seen, up_got) = finish(peer);
    assert_eq!(seen.handshake, Ok(()));
    let up_got = up_got.unwrap();
    assert_eq!(
        (up_got.len(), fnv(&up_got)),
        (BULK, want_up),
        "host -> peer"
    );
    host.expect_silence(Duration::from_secs(1));
    host.send(b"+++");
    host.expect_silence(Duration::from_secs(1));
    host.chat(b"AT\r\n", b"\r\nOK\r\n");
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// The first number after `prefix` in `text`.
fn number_after(text: &[u8], prefix: &str) -> usize {
    let text = String::from_utf8_lossy(text);
    let at = text
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix} in {text:?}"))
        + prefix.len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

#[test]
fn one_mib_each_way_in_passive_mode() {
    let lab = Lab::new();
    let (_m, mut host) = modem(&lab);
    let up = pattern(3, BULK);
    let down = pattern(4, BULK);
    let (want_up, want_down) = (fnv(&up), fnv(&down));
    let (port, peer) = tls_server(server_ctx(&lab.server).build(), move |s| {
        s.write_all(&down).unwrap();
        let mut got = vec![0u8; BULK];
        s.read_exact(&mut got)
            .map(|()| got)
            .map_err(|e| e.to_string())
    });
    host.chat(b"AT+CIPRECVMODE=1\r\n", b"\r\nOK\r\n");
    start_ssl(&mut host, "127.0.0.1", port, CONNECTED);

    // Down: CIPRECVLEN? reports plaintext bytes; CIPRECVDATA reads them.
    let mut got = Vec::with_capacity(BULK);
    let deadline = Instant::now() + 10 * PATIENCE;
    while got.len() < BULK {
        host.send(b"AT+CIPRECVLEN?\r\n");
        host.read_until(b"+CIPRECVLEN:");
        let lens = host.read_until(b"\r\n\r\nOK\r\n");
        let waiting = number_after(&lens, "");
        assert!(waiting <= BULK - got.len(), "CIPRECVLEN {waiting}");
        if waiting == 0 {
            // Nothing decrypted yet: ask again shortly (bounded by the deadline).
            assert!(
                Instant::now() < deadline,
                "no data after {} bytes",
                got.len()
            );
            thread::sleep(Duration::from_millis(2));
            continue;
        }
        host.send(b"AT+CIPRECVDATA=2920\r\n");
        host.read_until(b"+CIPRECVDATA:");
        let head = host.read_until(b",");
        let n = number_after(&head, "");
        assert!(n > 0 && n <= 2920 && n <= waiting, "{n} of {waiting}");
        got.extend_from_slice(&host.read_exact_bytes(n));
        host.expect(b"\r\nOK\r\n");
    }
    assert_eq!(fnv(&got), want_down, "peer -> host");

    // Up: CIPSEND in 5760-byte pieces.
    for chunk in up.chunks(5760) {
        host.chat(
            format!("AT+CIPSEND={}\r\n", chunk.len()).as_bytes(),
            b"\r\nOK\r\n\r\n>",
        );
        host.send(chunk);
        host.read_until(b"SEND OK\r\n");
    }
    let (seen, up_got) = finish(peer);
    assert_eq!(seen.handshake, Ok(()));
    let up_got = up_got.unwrap().expect("peer read");
    assert_eq!(fnv(&up_got), want_up, "host -> peer");
}
