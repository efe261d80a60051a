//! SSL links on real lwIP and real mbedTLS: the engine (in-process, as in `lwip.rs`) runs
//! on Debian's lwIP with the crate's TLS shim compiled against Debian's mbedTLS 2.28,
//! against OpenSSL peers (threads of this process) on the Linux side of the namespace.
//! Certificates are made for each test with `at_platform_std::pki::issue`. Needs the
//! `host-lwip` feature, root and `/dev/net/tun`: `scripts/w800.sh test`.
#![cfg(feature = "host-lwip")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant as StdInstant, SystemTime, UNIX_EPOCH};

use at_core::net::{nb, TcpClientStack};
use at_platform_std::pki::{issue, CertificateRequest, Issued, PemPair};
use at_platform_std::tls;
use at_platform_w800::host::{self, LINUX_IP, LWIP_IP};
use at_platform_w800::LwipStack;
use at_ssl::{AuthMode, ClientConfig, Identity, TlsError, TlsStack};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::ssl::{
    select_next_proto, AlpnError, NameType, ShutdownState, Ssl, SslConnector, SslContext,
    SslContextBuilder, SslMethod, SslStream, SslVerifyMode, SslVersion,
};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::X509;

mod common;

use common::*;

const DAY: i64 = 86_400;
const CONNECTED: &[u8] = b"CONNECT\r\n\r\nOK\r\n";

// ---------------------------------------------------------------------------------------
// Certificates

/// The certificates of one test.
struct Lab {
    ca: Issued,
    /// Signed by `ca` for the Linux side's address and `linux.lab`.
    server: Issued,
    /// Signed by `ca`, valid until yesterday.
    expired: Issued,
    /// Signed by a CA the module does not know.
    foreign: Issued,
    /// Self-signed.
    self_signed: Issued,
    /// The module's client certificate (PKI index 0), signed by `ca`.
    module_client: Issued,
    /// The module's server certificate, signed by `ca`.
    module_server: Issued,
    /// A Linux client's certificate, signed by `ca`.
    client: Issued,
}

fn leaf_for_linux(cn: &str) -> CertificateRequest {
    CertificateRequest::leaf(cn)
        .dns("linux.lab")
        .ip(LINUX_IP.into())
}

impl Lab {
    fn new() -> Lab {
        let ca = issue(&CertificateRequest::ca("Lab CA"), None).unwrap();
        let foreign_ca = issue(&CertificateRequest::ca("Foreign CA"), None).unwrap();
        Lab {
            server: issue(&leaf_for_linux("linux.lab"), Some(&ca)).unwrap(),
            expired: issue(
                &leaf_for_linux("linux.lab").valid(-30 * DAY, -DAY),
                Some(&ca),
            )
            .unwrap(),
            foreign: issue(&leaf_for_linux("linux.lab"), Some(&foreign_ca)).unwrap(),
            self_signed: issue(&leaf_for_linux("self.lab"), None).unwrap(),
            module_client: issue(&CertificateRequest::leaf("module-client"), Some(&ca)).unwrap(),
            module_server: issue(
                &CertificateRequest::leaf("module-server").ip(LWIP_IP.into()),
                Some(&ca),
            )
            .unwrap(),
            client: issue(&CertificateRequest::leaf("lab-client"), Some(&ca)).unwrap(),
            ca,
        }
    }

    /// Fills the module's store the way the firmware does: `'static` data (flash).
    fn install(&self, h: &mut Host) {
        let pki = h.platform.pki_mut();
        pki.set_ca(0, Some(leak(&self.ca.pem.certificate))).unwrap();
        pki.set_client_identity(0, Some(identity(&self.module_client.pem)))
            .unwrap();
        pki.set_server_identity(Some(identity(&self.module_server.pem)));
        pki.set_server_ca(Some(leak(&self.ca.pem.certificate)));
    }
}

fn leak(data: &[u8]) -> &'static [u8] {
    Box::leak(data.to_vec().into_boxed_slice())
}

fn identity(pair: &PemPair) -> Identity<'static> {
    Identity {
        certificate: leak(&pair.certificate),
        key: leak(&pair.key),
    }
}

fn server_ctx(cert: &Issued) -> SslContextBuilder {
    let mut ctx = SslContextBuilder::new(SslMethod::tls_server()).unwrap();
    tls::present(&mut ctx, cert.pem.identity()).unwrap();
    ctx
}

// ---------------------------------------------------------------------------------------
// Linux-side TLS servers

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

/// A TLS server in the namespace for one connection: handshakes, reports what it saw,
/// then runs `then` on the session.
fn tls_server<T: Send + 'static>(
    ctx: SslContext,
    then: impl FnOnce(&mut SslStream<TcpStream>) -> T + Send + 'static,
) -> (u16, JoinHandle<(Seen, Option<T>)>) {
    let (l, port) = listener();
    let handle = thread::spawn(move || {
        let tcp = accept(&l);
        tcp.set_write_timeout(Some(TIMEOUT)).unwrap();
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

/// Echoes until the end of the session; the bytes echoed and whether the module sent
/// close_notify.
fn echo(s: &mut SslStream<TcpStream>) -> (usize, bool) {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n;
                if s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let notified = s.get_shutdown().contains(ShutdownState::RECEIVED);
    (total, notified)
}

fn finish<T>(h: JoinHandle<(Seen, Option<T>)>) -> (Seen, Option<T>) {
    h.join().expect("the TLS peer panicked")
}

fn start_ssl(h: &mut Host, port: u16, want: &[u8]) -> String {
    h.chat(&format!("AT+CIPSTART=\"SSL\",\"{LINUX_IP}\",{port}"), want)
}

/// CIPSEND of `data`, its echo as `+IPD`, the link closed by the module.
fn round_trip_and_close(h: &mut Host, data: &[u8]) {
    h.cipsend(&data.len().to_string(), data);
    assert_eq!(h.ipd_payload(data.len()), data);
    h.chat("AT+CIPCLOSE", b"CLOSED\r\n\r\nOK\r\n");
}

fn host_with(lab: &Lab) -> Host {
    let mut h = Host::joined();
    lab.install(&mut h);
    h
}

// ---------------------------------------------------------------------------------------
// Client links

#[test]
fn ssl_auth_mode_0_self_signed_server_data_both_ways_and_close_notify() {
    let lab = Lab::new();
    let mut h = host_with(&lab);
    let (port, peer) = tls_server(server_ctx(&lab.self_signed).build(), echo);
    start_ssl(&mut h, port, CONNECTED);
    h.cipsend("12", b"hello, peer!");
    assert_eq!(h.ipd_payload(12), b"hello, peer!");
    // Passive receive: AT+CIPRECVLEN? counts plaintext.
    h.chat("AT+CIPRECVMODE=1", b"OK\r\n");
    h.cipsend("7", b"passive");
    h.expect(b"+IPD,");
    let len = h.chat("AT+CIPRECVLEN?", b"OK\r\n");
    assert!(len.contains("+CIPRECVLEN:7"), "{len}");
    let data = h.chat("AT+CIPRECVDATA=100", b"OK\r\n");
    assert!(data.contains("+CIPRECVDATA:7,passive"), "{data}");
    h.chat("AT+CIPCLOSE", b"CLOSED\r\n\r\nOK\r\n");
    let (seen, echoed) = finish(peer);
    assert_eq!(seen.handshake, Ok(()));
    assert_eq!(echoed, Some((19, true)), "echoed bytes, close_notify");
    assert_eq!(h.platform.stack().open_sockets(), 0);
}

#[test]
fn ssl_auth_mode_2_accepts_the_ca_signed_server_and_refuses_others() {
    let lab = Lab::new();
    let mut h = host_with(&lab);
    h.chat("AT+CIPSSLCCONF=2,0,0", b"OK\r\n");

    // Signed by the CA, for the address AT+CIPSTART names (an iPAddress SAN).
    let (port, peer) = tls_server(server_ctx(&lab.server).build(), echo);
    start_ssl(&mut h, port, CONNECTED);
    round_trip_and_close(&mut h, b"verified");
    assert_eq!(finish(peer).0.handshake, Ok(()));

    // An unknown issuer, an expired certificate, a self-signed one: refused.
    for cert in [&lab.foreign, &lab.expired, &lab.self_signed] {
        let (port, peer) = tls_server(server_ctx(cert).build(), |_| ());
        start_ssl(&mut h, port, b"ERROR\r\n");
        assert!(finish(peer).0.handshake.is_err());
    }

    // The name to check: AT+CIPSSLCCN's when set (a dNSName SAN), else the host.
    h.chat("AT+CIPSSLCCN=\"other.example\"", b"OK\r\n");
    let (port, peer) = tls_server(server_ctx(&lab.server).build(), |_| ());
    start_ssl(&mut h, port, b"ERROR\r\n");
    assert!(finish(peer).0.handshake.is_err());
    h.chat("AT+CIPSSLCCN=\"LINUX.lab\"", b"OK\r\n");
    let (port, peer) = tls_server(server_ctx(&lab.server).build(), echo);
    start_ssl(&mut h, port, CONNECTED);
    round_trip_and_close(&mut h, b"by name");
    assert_eq!(finish(peer).0.handshake, Ok(()));
    assert_eq!(h.platform.stack().open_sockets(), 0);
}

#[test]
fn ssl_sni_and_alpn_reach_the_server() {
    let lab = Lab::new();
    let mut h = host_with(&lab);
    let mut ctx = server_ctx(&lab.server);
    ctx.set_alpn_select_callback(|_, offered| {
        select_next_proto(b"\x04mqtt", offered).ok_or(AlpnError::NOACK)
    });
    h.chat("AT+CIPSSLCSNI=\"iot.example\"", b"OK\r\n");
    h.chat("AT+CIPSSLCALPN=2,\"h2\",\"mqtt\"", b"OK\r\n");
    let (port, peer) = tls_server(ctx.build(), echo);
    start_ssl(&mut h, port, CONNECTED);
    round_trip_and_close(&mut h, b"alpn");
    let (seen, _) = finish(peer);
    assert_eq!(seen.sni.as_deref(), Some("iot.example"));
    assert_eq!(seen.alpn.as_deref(), Some(&b"mqtt"[..]));
}

#[test]
fn ssl_auth_mode_1_presents_the_client_certificate() {
    let lab = Lab::new();
    let mut h = host_with(&lab);
    let requiring = || {
        let mut ctx = server_ctx(&lab.server);
        tls::trust(&mut ctx, &lab.ca.pem.certificate).unwrap();
        ctx.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
        ctx.build()
    };
    // Mode 0 presents nothing: the server refuses.
    let (port, peer) = tls_server(requiring(), |_| ());
    start_ssl(&mut h, port, b"ERROR\r\n");
    assert!(finish(peer).0.handshake.is_err());

    h.chat("AT+CIPSSLCCONF=1,0,0", b"OK\r\n");
    let (port, peer) = tls_server(requiring(), echo);
    start_ssl(&mut h, port, CONNECTED);
    round_trip_and_close(&mut h, b"certified");
    let (seen, _) = finish(peer);
    assert_eq!(seen.handshake, Ok(()));
    assert_eq!(seen.client_cn.as_deref(), Some("module-client"));

    // A PKI index the store does not hold.
    h.chat("AT+CIPSSLCCONF=1,7,0", b"OK\r\n");
    h.chat(
        &format!("AT+CIPSTART=\"SSL\",\"{LINUX_IP}\",{port}"),
        b"ERROR\r\n",
    );
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
fn ssl_psk_over_tls_1_2_works_and_a_wrong_key_fails() {
    let lab = Lab::new();
    let mut h = host_with(&lab);
    let key: &[u8] = &[0x1a, 0x2b, 0x3c, 0x4d, 0x5e, 0x6f, 0x70, 0x81];
    h.chat("AT+CIPSSLCPSK=\"1A2B3C4D5E6F7081\",\"module-7\"", b"OK\r\n");
    let (port, peer) = tls_server(psk_server("module-7", key), echo);
    start_ssl(&mut h, port, CONNECTED);
    round_trip_and_close(&mut h, b"pre-shared");
    let (seen, _) = finish(peer);
    assert_eq!(seen.handshake, Ok(()));
    assert_eq!(seen.version, "TLSv1.2");

    h.chat("AT+CIPSSLCPSK=\"1A2B3C4D5E6F7082\",\"module-7\"", b"OK\r\n");
    let (port, peer) = tls_server(psk_server("module-7", key), |_| ());
    start_ssl(&mut h, port, b"ERROR\r\n");
    assert!(finish(peer).0.handshake.is_err());
    h.chat("AT", b"OK\r\n");
}

#[test]
fn ssl_large_hashed_transfer_both_ways() {
    const LEN: usize = 384 * 1024;
    let lab = Lab::new();
    let mut h = host_with(&lab);
    let down = payload(LEN, 11);
    let down_hash = hash(&down);
    // Network -> host in active mode.
    let (port, peer) = tls_server(server_ctx(&lab.server).build(), move |s| {
        s.write_all(&down).unwrap();
        echo(s)
    });
    start_ssl(&mut h, port, CONNECTED);
    let got = h.ipd_payload(LEN);
    assert_eq!(hash(&got), down_hash, "network -> host changed the data");

    // Host -> network in transparent mode: whole 512-byte blocks per send.
    h.chat("AT+CIPCLOSE", b"CLOSED\r\n\r\nOK\r\n");
    assert_eq!(finish(peer).1, Some((0, true)));
    let up = payload(LEN, 13);
    let up_hash = hash(&up);
    let (port2, peer2) = tls_server(server_ctx(&lab.server).build(), move |s| {
        let mut got = vec![0u8; LEN];
        s.read_exact(&mut got).unwrap();
        hash(&got)
    });
    h.chat("AT+CIPMODE=1", b"OK\r\n");
    start_ssl(&mut h, port2, CONNECTED);
    h.chat("AT+CIPSEND", b">");
    for chunk in up.chunks(1460) {
        h.feed(chunk);
    }
    h.skip(100); // the last partial block goes out after 30 ms of silence
    let deadline = StdInstant::now() + TIMEOUT * 3;
    while !peer2.is_finished() {
        assert!(
            StdInstant::now() < deadline,
            "the peer never got everything"
        );
        h.poll();
        thread::sleep(Duration::from_micros(200));
    }
    let (_, got_hash) = finish(peer2);
    assert_eq!(got_hash, Some(up_hash), "host -> network changed the data");
    h.skip(1000);
    h.feed(b"+++");
    h.skip(1000);
    h.chat("AT", b"OK\r\n");
}

// ---------------------------------------------------------------------------------------
// The SSL server

/// A Linux TLS client of the module's SSL server on port `port`, in a thread: sends
/// `hello`, reads `reply_len` bytes back.
fn tls_client(
    ctx: SslConnector,
    port: u16,
    hello: &'static [u8],
    reply_len: usize,
) -> JoinHandle<Result<Vec<u8>, String>> {
    thread::spawn(move || {
        host::enter()?;
        let tcp = TcpStream::connect((LWIP_IP, port)).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
        let config = ctx.configure().map_err(|e| e.to_string())?;
        let mut s = config
            .verify_hostname(false)
            .connect("module", tcp)
            .map_err(|e| e.to_string())?;
        s.write_all(hello).map_err(|e| e.to_string())?;
        let mut reply = vec![0u8; reply_len];
        s.read_exact(&mut reply).map_err(|e| e.to_string())?;
        let _ = s.shutdown();
        Ok(reply)
    })
}

/// Joins a peer thread while the engine keeps running (its handshakes need polls).
fn join_polling<T>(h: &mut Host, peer: JoinHandle<T>) -> T {
    let deadline = StdInstant::now() + TIMEOUT;
    while !peer.is_finished() {
        assert!(StdInstant::now() < deadline, "the peer did not finish");
        h.poll();
        thread::sleep(Duration::from_micros(200));
    }
    peer.join().expect("the peer panicked")
}

fn connector(lab: &Lab, certificate: Option<&Issued>) -> SslConnector {
    let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
    let mut store = X509StoreBuilder::new().unwrap();
    store
        .add_cert(X509::from_pem(&lab.ca.pem.certificate).unwrap())
        .unwrap();
    b.set_verify_cert_store(store.build()).unwrap();
    b.set_verify(SslVerifyMode::PEER);
    if let Some(c) = certificate {
        b.set_certificate(&X509::from_pem(&c.pem.certificate).unwrap())
            .unwrap();
        b.set_private_key(&PKey::private_key_from_pem(&c.pem.key).unwrap())
            .unwrap();
    }
    b.build()
}

#[test]
fn ssl_server_on_the_module_takes_linux_clients() {
    let lab = Lab::new();
    let mut h = host_with(&lab);
    h.chat("AT+CIPMUX=1", b"OK\r\n");
    h.chat("AT+CIPSERVER=1,443,\"SSL\"", b"OK\r\n");
    let client = tls_client(connector(&lab, None), 443, b"client hello", 6);
    h.expect(b"0,CONNECT\r\n");
    h.expect(b"+IPD,0,12:client hello\r\n");
    h.cipsend("0,6", b"module");
    assert_eq!(join_polling(&mut h, client).as_deref(), Ok(&b"module"[..]));
    h.expect(b"0,CLOSED\r\n");
    h.chat("AT+CIPSERVER=0,1", b"OK\r\n");

    // With <CA enable>: a client with a certificate of the CA is taken, one without is
    // dropped after its failed handshake.
    h.chat("AT+CIPSERVER=1,443,\"SSL\",1", b"OK\r\n");
    let refused = tls_client(connector(&lab, None), 443, b"nobody", 1);
    assert!(join_polling(&mut h, refused).is_err());
    let client = tls_client(connector(&lab, Some(&lab.client)), 443, b"certified", 2);
    h.expect(b",CONNECT\r\n");
    h.expect(b",9:certified\r\n");
    let id = h.chat("AT+CIPSTATE?", b"OK\r\n");
    let link = id
        .lines()
        .find(|l| l.starts_with("+CIPSTATE:"))
        .and_then(|l| l[10..].split(',').next())
        .unwrap()
        .to_owned();
    h.cipsend(&format!("{link},2"), b"ok");
    assert_eq!(join_polling(&mut h, client).as_deref(), Ok(&b"ok"[..]));
    h.chat("AT+CIPSERVER=0,1", b"OK\r\n");
}

// ---------------------------------------------------------------------------------------
// The stack directly

/// Connects a stack's socket to `port` and runs its TLS client to the end.
fn stack_handshake(
    stack: &mut LwipStack,
    port: u16,
    config: &ClientConfig<'_>,
) -> Result<(), TlsError> {
    let mut s = stack.socket().unwrap();
    let deadline = StdInstant::now() + TIMEOUT;
    loop {
        match stack.connect(&mut s, (LINUX_IP, port).into()) {
            Ok(()) => break,
            Err(nb::Error::WouldBlock) => assert!(StdInstant::now() < deadline),
            Err(nb::Error::Other(e)) => panic!("connect: {e}"),
        }
        thread::sleep(Duration::from_micros(200));
    }
    let result = stack.tls_connect(&mut s, config).and_then(|()| loop {
        match stack.tls_handshake(&mut s) {
            Ok(()) => break Ok(()),
            Err(nb::Error::WouldBlock) => assert!(StdInstant::now() < deadline),
            Err(nb::Error::Other(e)) => break Err(e),
        }
        thread::sleep(Duration::from_micros(200));
    });
    stack.close(s).unwrap();
    result
}

#[test]
fn stack_certificate_validity_follows_the_engine_time() {
    // A CA from 60 days ago, a server certificate valid from 30 days ago to yesterday
    // and one valid from yesterday for a year.
    let ca = issue(
        &CertificateRequest::ca("Old CA").valid(-60 * DAY, 3650 * DAY),
        None,
    )
    .unwrap();
    let expired = issue(&leaf_for_linux("old").valid(-30 * DAY, -DAY), Some(&ca)).unwrap();
    let current = issue(&leaf_for_linux("current"), Some(&ca)).unwrap();
    host::start().unwrap();
    let mut stack: LwipStack = LwipStack::new();
    stack
        .pki_mut()
        .set_ca(0, Some(leak(&ca.pem.certificate)))
        .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let config = |unix_time| ClientConfig {
        auth: AuthMode::VerifyServer,
        pki_index: 0,
        ca_index: 0,
        verify_name: "192.168.77.1",
        sni: None,
        alpn: b"",
        psk: None,
        unix_time,
    };
    // 40 days ago the expired certificate was not valid yet...
    let (port, peer) = tls_server(server_ctx(&expired).build(), |_| ());
    let forty_days_ago = now - 40 * 86_400;
    assert_eq!(
        stack_handshake(&mut stack, port, &config(Some(forty_days_ago))),
        Err(TlsError::Verification)
    );
    assert!(finish(peer).0.handshake.is_err());
    // ... 10 days ago it was.
    let (port, peer) = tls_server(server_ctx(&expired).build(), |_| ());
    let ten_days_ago = now - 10 * 86_400;
    assert_eq!(
        stack_handshake(&mut stack, port, &config(Some(ten_days_ago))),
        Ok(())
    );
    assert_eq!(finish(peer).0.handshake, Ok(()));
    // The valid one is refused a year from now.
    let (port, peer) = tls_server(server_ctx(&current).build(), |_| ());
    assert_eq!(
        stack_handshake(&mut stack, port, &config(Some(now + 400 * 86_400))),
        Err(TlsError::Verification)
    );
    assert!(finish(peer).0.handshake.is_err());
    // A missing CA index.
    let mut missing = config(None);
    missing.ca_index = 9;
    let (port, _peer) = tls_server(server_ctx(&current).build(), |_| ());
    assert_eq!(
        stack_handshake(&mut stack, port, &missing),
        Err(TlsError::MissingCertificate)
    );
    assert_eq!(stack.open_sockets(), 0);
}

#[test]
fn stack_server_ready_needs_a_parsable_identity() {
    let lab = Lab::new();
    let mut stack: LwipStack = LwipStack::new();
    assert_eq!(
        stack.tls_server_ready(false),
        Err(TlsError::MissingCertificate)
    );
    stack.pki_mut().set_server_identity(Some(Identity {
        certificate: leak(&lab.module_server.pem.certificate),
        key: leak(&lab.client.pem.key),
    }));
    assert_eq!(
        stack.tls_server_ready(false),
        Err(TlsError::MissingCertificate),
        "a key of another certificate"
    );
    stack
        .pki_mut()
        .set_server_identity(Some(identity(&lab.module_server.pem)));
    assert_eq!(stack.tls_server_ready(false), Ok(()));
    assert_eq!(
        stack.tls_server_ready(true),
        Err(TlsError::MissingCertificate)
    );
    stack
        .pki_mut()
        .set_server_ca(Some(leak(&lab.ca.pem.certificate)));
    assert_eq!(stack.tls_server_ready(true), Ok(()));
}
