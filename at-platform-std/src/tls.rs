//! TLS for [`StdStack`](crate::stack::StdStack)'s TCP sockets with OpenSSL: the client
//! and server sessions behind SSL links, built from the engine's
//! [`ClientConfig`]/[`ServerConfig`] and the certificates of a [`PkiStore`].
//!
//! A session wraps a duplicate descriptor of the link's non-blocking socket (the
//! original stays registered in the event loop), so the handshake, reads and writes
//! answer `WouldBlock` exactly like the plain socket. What the client does:
//!
//! | setting | OpenSSL |
//! |---|---|
//! | auth mode 0 | `SSL_VERIFY_NONE`, no certificate |
//! | modes 2/3 (verify the server) | `SSL_VERIFY_PEER` against CA index `<ca_number>`, the name checked with `X509_VERIFY_PARAM_set1_host` (or `_ip` for an address), validity at the module's SNTP time when it has one, else the host's clock |
//! | modes 1/3 (client certificate) | certificate chain and key of PKI index `<pki_number>` |
//! | SNI | `SSL_set_tlsext_host_name` |
//! | ALPN | `SSL_set_alpn_protos` |
//! | PSK (mode 0 only) | TLS 1.2 at most, `PSK` cipher suites, the hint as the identity |
//!
//! The server presents the store's server certificate; with `<CA enable>` it requires a
//! client certificate signed by the store's server CA.
//!
//! For passive receive, [`TlsSession::available`] decrypts ahead into a bounded
//! plaintext buffer ([`PLAINTEXT_AHEAD`]) so `AT+CIPRECVLEN?` reports plaintext bytes;
//! the rest stays in the kernel's socket buffer, which flow-controls the peer.

use std::io;
use std::net::IpAddr;
use std::str::FromStr;

use at_core::net::nb;
use at_ssl::{ClientConfig, Pki, ServerConfig, TlsError};
use openssl::error::ErrorStack;
use openssl::pkey::PKey;
use openssl::ssl::{
    ErrorCode, Ssl, SslContext, SslContextBuilder, SslMethod, SslMode, SslOptions, SslStream,
    SslVerifyMode, SslVersion,
};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509VerifyResult, X509};
use socket2::Socket;

use crate::pki::PkiStore;

/// Most plaintext decrypted ahead of the host's reads (passive receive), per session.
pub const PLAINTEXT_AHEAD: usize = 64 * 1024;

/// Where a session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Handshaking,
    Ready,
    Failed(TlsError),
}

/// One TLS session on a TCP socket.
pub struct TlsSession {
    stream: SslStream<Socket>,
    phase: Phase,
    /// Plaintext decrypted by [`TlsSession::available`] and not yet received.
    ahead: Vec<u8>,
    /// The peer ended the session (close_notify or end of stream) after `ahead`.
    ended: bool,
}

impl std::fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSession")
            .field("phase", &self.phase)
            .field("ahead", &self.ahead.len())
            .field("ended", &self.ended)
            .finish()
    }
}

fn resources(e: ErrorStack) -> TlsError {
    log::debug!("OpenSSL: {e}");
    TlsError::Resources
}

fn bad_certificate(e: ErrorStack) -> TlsError {
    log::warn!("certificate or key not usable: {e}");
    TlsError::MissingCertificate
}

/// A context with the options every session shares: non-blocking-friendly write modes,
/// an unexpected end of stream treated as the end of the session.
fn base_context(method: SslMethod) -> Result<SslContextBuilder, TlsError> {
    let mut ctx = SslContextBuilder::new(method).map_err(resources)?;
    ctx.set_mode(SslMode::ACCEPT_MOVING_WRITE_BUFFER | SslMode::ENABLE_PARTIAL_WRITE);
    ctx.set_options(SslOptions::IGNORE_UNEXPECTED_EOF | SslOptions::NO_RENEGOTIATION);
    Ok(ctx)
}

/// Adds the PEM certificates in `pem` to the context's trust store (the one place this
/// is done: the module's sessions, and the TLS peers of the tests).
pub fn trust(ctx: &mut SslContextBuilder, pem: &[u8]) -> Result<(), TlsError> {
    let certs = X509::stack_from_pem(pem).map_err(bad_certificate)?;
    if certs.is_empty() {
        return Err(TlsError::MissingCertificate);
    }
    let mut store = X509StoreBuilder::new().map_err(resources)?;
    for cert in certs {
        store.add_cert(cert).map_err(resources)?;
    }
    ctx.set_verify_cert_store(store.build())
        .map_err(resources)?;
    Ok(())
}

/// Presents the certificate chain and key in `identity` (PEM).
pub fn present(
    ctx: &mut SslContextBuilder,
    identity: at_ssl::Identity<'_>,
) -> Result<(), TlsError> {
    let mut chain = X509::stack_from_pem(identity.certificate)
        .map_err(bad_certificate)?
        .into_iter();
    let leaf = chain.next().ok_or(TlsError::MissingCertificate)?;
    ctx.set_certificate(&leaf).map_err(bad_certificate)?;
    for extra in chain {
        ctx.add_extra_chain_cert(extra).map_err(bad_certificate)?;
    }
    let key = PKey::private_key_from_pem(identity.key).map_err(bad_certificate)?;
    ctx.set_private_key(&key).map_err(bad_certificate)?;
    ctx.check_private_key().map_err(bad_certificate)
}

fn client_context(config: &ClientConfig<'_>, pki: &PkiStore) -> Result<SslContext, TlsError> {
    let mut ctx = base_context(SslMethod::tls_client())?;
    if config.auth.verifies_server() {
        let ca = pki
            .ca(config.ca_index)
            .ok_or(TlsError::MissingCertificate)?;
        trust(&mut ctx, ca)?;
        ctx.set_verify(SslVerifyMode::PEER);
    } else {
        ctx.set_verify(SslVerifyMode::NONE);
    }
    if config.auth.presents_certificate() {
        let identity = pki
            .client_identity(config.pki_index)
            .ok_or(TlsError::MissingCertificate)?;
        present(&mut ctx, identity)?;
    }
    if let Some(psk) = config.psk {
        let key = psk.key.to_vec();
        let identity = psk.identity.as_bytes().to_vec();
        ctx.set_max_proto_version(Some(SslVersion::TLS1_2))
            .map_err(resources)?;
        ctx.set_cipher_list("PSK")
            .map_err(|_| TlsError::Unsupported)?;
        ctx.set_psk_client_callback(move |_ssl, _hint, identity_out, key_out| {
            // The identity is a C string: it needs room for the terminating NUL.
            if identity.len() >= identity_out.len() || key.len() > key_out.len() {
                return Ok(0);
            }
            identity_out[..identity.len()].copy_from_slice(&identity);
            identity_out[identity.len()] = 0;
            key_out[..key.len()].copy_from_slice(&key);
            Ok(key.len())
        });
    }
    Ok(ctx.build())
}

fn server_context(config: &ServerConfig, pki: &PkiStore) -> Result<SslContext, TlsError> {
    let mut ctx = base_context(SslMethod::tls_server())?;
    let identity = pki.server_identity().ok_or(TlsError::MissingCertificate)?;
    present(&mut ctx, identity)?;
    if config.verify_clients {
        let ca = pki.server_ca().ok_or(TlsError::MissingCertificate)?;
        trust(&mut ctx, ca)?;
        ctx.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    } else {
        ctx.set_verify(SslVerifyMode::NONE);
    }
    Ok(ctx.build())
}

/// Whether `pki` can run an SSL server (see [`at_ssl::TlsStack::tls_server_ready`]).
pub fn server_ready(pki: &PkiStore, verify_clients: bool) -> Result<(), TlsError> {
    let config = ServerConfig {
        verify_clients,
        unix_time: None,
    };
    server_context(&config, pki).map(drop)
}

fn set_time(ssl: &mut Ssl, unix_time: Option<u64>) {
    if let Some(t) = unix_time.and_then(|t| libc_time(t).ok()) {
        ssl.param_mut().set_time(t);
    }
}

fn libc_time(t: u64) -> Result<nix::libc::time_t, std::num::TryFromIntError> {
    nix::libc::time_t::try_from(t)
}

impl TlsSession {
    /// A client session over `socket` (a duplicate of the link's connected socket).
    pub fn connect(
        socket: Socket,
        config: &ClientConfig<'_>,
        pki: &PkiStore,
    ) -> Result<TlsSession, TlsError> {
        let ctx = client_context(config, pki)?;
        let mut ssl = Ssl::new(&ctx).map_err(resources)?;
        if let Some(sni) = config.sni {
            ssl.set_hostname(sni).map_err(|_| TlsError::Unsupported)?;
        }
        if !config.alpn.is_empty() {
            ssl.set_alpn_protos(config.alpn)
                .map_err(|_| TlsError::Unsupported)?;
        }
        if config.auth.verifies_server() {
            let checked = match IpAddr::from_str(config.verify_name) {
                Ok(ip) => ssl.param_mut().set_ip(ip),
                Err(_) => ssl.param_mut().set_host(config.verify_name),
            };
            checked.map_err(|_| TlsError::Verification)?;
            set_time(&mut ssl, config.unix_time);
        }
        ssl.set_connect_state();
        Self::over(ssl, socket)
    }

    /// A server session over `socket` (a duplicate of an accepted socket).
    pub fn accept(
        socket: Socket,
        config: &ServerConfig,
        pki: &PkiStore,
    ) -> Result<TlsSession, TlsError> {
        let ctx = server_context(config, pki)?;
        let mut ssl = Ssl::new(&ctx).map_err(resources)?;
        if config.verify_clients {
            set_time(&mut ssl, config.unix_time);
        }
        ssl.set_accept_state();
        Self::over(ssl, socket)
    }

    fn over(ssl: Ssl, socket: Socket) -> Result<TlsSession, TlsError> {
        Ok(TlsSession {
            stream: SslStream::new(ssl, socket).map_err(resources)?,
            phase: Phase::Handshaking,
            ahead: Vec::new(),
            ended: false,
        })
    }

    /// Advances the handshake (see [`at_ssl::TlsStack::tls_handshake`]).
    pub fn handshake(&mut self) -> nb::Result<(), TlsError> {
        match self.phase {
            Phase::Ready => return Ok(()),
            Phase::Failed(e) => return Err(nb::Error::Other(e)),
            Phase::Handshaking => {}
        }
        match self.stream.do_handshake() {
            Ok(()) => {
                self.phase = Phase::Ready;
                Ok(())
            }
            Err(e) if matches!(e.code(), ErrorCode::WANT_READ | ErrorCode::WANT_WRITE) => {
                Err(nb::Error::WouldBlock)
            }
            Err(e) => {
                let verify = self.stream.ssl().verify_result();
                let failure = if verify != X509VerifyResult::OK {
                    log::info!("TLS: peer certificate refused: {}", verify.error_string());
                    TlsError::Verification
                } else {
                    log::info!("TLS handshake failed: {e}");
                    TlsError::Handshake
                };
                self.phase = Phase::Failed(failure);
                Err(nb::Error::Other(failure))
            }
        }
    }

    /// Whether the handshake completed.
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// The negotiated ALPN protocol.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.stream.ssl().selected_alpn_protocol()
    }

    /// Encrypts and sends what the socket takes now.
    pub fn send(&mut self, data: &[u8]) -> nb::Result<usize, io::Error> {
        if data.is_empty() {
            return Ok(0);
        }
        match self.stream.ssl_write(data) {
            Ok(n) => Ok(n),
            Err(e) => Err(Self::io_error(e)),
        }
    }

    /// Reads plaintext; `Ok(0)` once the peer ended the session.
    pub fn receive(&mut self, buf: &mut [u8]) -> nb::Result<usize, io::Error> {
        if !self.ahead.is_empty() {
            let n = buf.len().min(self.ahead.len());
            buf[..n].copy_from_slice(&self.ahead[..n]);
            self.ahead.drain(..n);
            return Ok(n);
        }
        if self.ended || buf.is_empty() {
            return Ok(0);
        }
        match self.stream.ssl_read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.code() == ErrorCode::ZERO_RETURN => {
                self.ended = true;
                Ok(0)
            }
            Err(e) => Err(Self::io_error(e)),
        }
    }

    /// Plaintext bytes that [`TlsSession::receive`] returns without waiting: decrypts
    /// what has arrived, up to [`PLAINTEXT_AHEAD`] bytes.
    pub fn available(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        while !self.ended && self.ahead.len() < PLAINTEXT_AHEAD {
            let room = (PLAINTEXT_AHEAD - self.ahead.len()).min(chunk.len());
            match self.stream.ssl_read(&mut chunk[..room]) {
                Ok(n) => self.ahead.extend_from_slice(&chunk[..n]),
                Err(e) if e.code() == ErrorCode::ZERO_RETURN => self.ended = true,
                Err(e) => match Self::io_error(e) {
                    nb::Error::WouldBlock => break,
                    nb::Error::Other(e) => return Err(e),
                },
            }
        }
        Ok(self.ahead.len())
    }

    /// Sends close_notify if the socket takes it now (best effort, never waits).
    pub fn close_notify(&mut self) {
        if self.phase == Phase::Ready {
            let _ = self.stream.shutdown();
        }
    }

    fn io_error(e: openssl::ssl::Error) -> nb::Error<io::Error> {
        match e.code() {
            ErrorCode::WANT_READ | ErrorCode::WANT_WRITE => nb::Error::WouldBlock,
            ErrorCode::ZERO_RETURN => nb::Error::Other(io::Error::from(io::ErrorKind::BrokenPipe)),
            _ => match e.into_io_error() {
                Ok(io) if io.kind() == io::ErrorKind::WouldBlock => nb::Error::WouldBlock,
                Ok(io) => nb::Error::Other(io),
                Err(e) => nb::Error::Other(io::Error::new(io::ErrorKind::InvalidData, e)),
            },
        }
    }
}
