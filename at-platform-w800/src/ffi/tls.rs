//! The TLS shim (`include/at_w800_tls.h`, `c/at_w800_tls.c`): mbedTLS sessions over lwIP
//! sockets, implemented in C and compiled with the firmware's own mbedTLS (the WM IoT
//! SDK's) so that no mbedTLS structure, size or version difference reaches Rust. The
//! host build compiles the same file against Debian's `libmbedtls-dev` (2.28) and checks
//! these declarations against the header like those of [`super::lwip`].
//!
//! [`Session`] is a session number of the shim's static pool, with safe methods: every
//! slice is passed with its length, and the shim checks the number.

use core::ffi::c_int;
use core::net::IpAddr;

use super::lwip::size_t;

// Checked against include/at_w800_tls.h by build.rs (host-lwip).
#[allow(missing_docs)]
extern "C" {
    pub fn at_w800_tls_open(fd: c_int, server: c_int) -> c_int;
    pub fn at_w800_tls_set_time(session: c_int, unix_time: u64) -> c_int;
    pub fn at_w800_tls_trust(session: c_int, ca: *const u8, len: size_t) -> c_int;
    pub fn at_w800_tls_expect_name(session: c_int, name: *const u8, len: size_t) -> c_int;
    pub fn at_w800_tls_expect_ip(session: c_int, ip: *const u8, len: size_t) -> c_int;
    pub fn at_w800_tls_present(
        session: c_int,
        cert: *const u8,
        cert_len: size_t,
        key: *const u8,
        key_len: size_t,
    ) -> c_int;
    pub fn at_w800_tls_sni(session: c_int, name: *const u8, len: size_t) -> c_int;
    pub fn at_w800_tls_alpn(session: c_int, wire: *const u8, len: size_t) -> c_int;
    pub fn at_w800_tls_psk(
        session: c_int,
        key: *const u8,
        key_len: size_t,
        identity: *const u8,
        identity_len: size_t,
    ) -> c_int;
    pub fn at_w800_tls_start(session: c_int) -> c_int;
    pub fn at_w800_tls_handshake(session: c_int) -> c_int;
    pub fn at_w800_tls_write(session: c_int, data: *const u8, len: size_t) -> c_int;
    pub fn at_w800_tls_read(session: c_int, buf: *mut u8, len: size_t) -> c_int;
    pub fn at_w800_tls_available(session: c_int) -> c_int;
    pub fn at_w800_tls_socket_error(session: c_int) -> c_int;
    pub fn at_w800_tls_close(session: c_int) -> c_int;
    pub fn at_w800_tls_sessions_in_use() -> c_int;
    pub fn at_w800_tls_sessions_max() -> c_int;
}

/// What a shim call reported besides success (`AT_W800_TLS_E_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsCode {
    /// The socket cannot take or give more now.
    WouldBlock,
    /// The peer ended the session (close_notify or end of stream).
    Closed,
    /// The peer's certificate failed verification.
    Verify,
    /// The handshake (or a record) failed otherwise.
    Handshake,
    /// No free session, or mbedTLS ran out of memory.
    Resources,
    /// A certificate, key or CA does not parse (or the key does not match).
    Certificate,
    /// The firmware's mbedTLS lacks the feature (ALPN, SNI, PSK).
    Unsupported,
    /// The socket failed ([`Session::socket_error`] says how).
    Socket,
    /// No such session, or the call is out of order.
    State,
}

impl TlsCode {
    fn from_raw(r: c_int) -> TlsCode {
        match r {
            -1 => TlsCode::WouldBlock,
            -2 => TlsCode::Closed,
            -3 => TlsCode::Verify,
            -4 => TlsCode::Handshake,
            -5 => TlsCode::Resources,
            -6 => TlsCode::Certificate,
            -7 => TlsCode::Unsupported,
            -8 => TlsCode::Socket,
            _ => TlsCode::State,
        }
    }
}

/// A shim result: a count (or 0), or the code.
fn check(r: c_int) -> Result<usize, TlsCode> {
    usize::try_from(r).map_err(|_| TlsCode::from_raw(r))
}

fn unit(r: c_int) -> Result<(), TlsCode> {
    check(r).map(drop)
}

/// A session of the shim's pool (see the module documentation). Copying the number does
/// not copy the session: [`Session::close`] frees it for every copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session(c_int);

impl Session {
    /// A new client (or server) session over the connected lwIP socket `fd`; `None`
    /// for a session that only checks certificates and is never started.
    pub fn open(fd: Option<c_int>, server: bool) -> Result<Session, TlsCode> {
        // SAFETY: integers only.
        let r = unsafe { at_w800_tls_open(fd.unwrap_or(-1), c_int::from(server)) };
        check(r).map(|_| Session(r))
    }

    /// Checks certificate validity at `unix_time` (seconds since 1970).
    pub fn set_time(self, unix_time: u64) -> Result<(), TlsCode> {
        // SAFETY: integers only.
        unit(unsafe { at_w800_tls_set_time(self.0, unix_time) })
    }

    /// Requires the peer's certificate, verified against `ca` (PEM or DER).
    pub fn trust(self, ca: &[u8]) -> Result<(), TlsCode> {
        // SAFETY: `ca` is valid for its length during the call; the shim copies it.
        unit(unsafe { at_w800_tls_trust(self.0, ca.as_ptr(), ca.len()) })
    }

    /// The name (DNS name or IP address in text form) the server's certificate must
    /// carry.
    pub fn expect_name(self, name: &str) -> Result<(), TlsCode> {
        let r = match name.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => {
                let b = ip.octets();
                // SAFETY: 4 readable bytes for the call.
                unsafe { at_w800_tls_expect_ip(self.0, b.as_ptr(), b.len()) }
            }
            Ok(IpAddr::V6(ip)) => {
                let b = ip.octets();
                // SAFETY: 16 readable bytes for the call.
                unsafe { at_w800_tls_expect_ip(self.0, b.as_ptr(), b.len()) }
            }
            // SAFETY: `name` is valid for its length during the call; the shim copies it.
            Err(_) => unsafe { at_w800_tls_expect_name(self.0, name.as_ptr(), name.len()) },
        };
        unit(r)
    }

    /// Presents `cert` (with any intermediates) and its private `key` (PEM or DER).
    pub fn present(self, cert: &[u8], key: &[u8]) -> Result<(), TlsCode> {
        // SAFETY: both slices are valid for their lengths during the call; the shim
        // parses (copies) them.
        unit(unsafe {
            at_w800_tls_present(self.0, cert.as_ptr(), cert.len(), key.as_ptr(), key.len())
        })
    }

    /// Server Name Indication.
    pub fn sni(self, name: &str) -> Result<(), TlsCode> {
        // SAFETY: `name` is valid for its length during the call; the shim copies it.
        unit(unsafe { at_w800_tls_sni(self.0, name.as_ptr(), name.len()) })
    }

    /// ALPN protocols in wire format.
    pub fn alpn(self, wire: &[u8]) -> Result<(), TlsCode> {
        // SAFETY: `wire` is valid for its length during the call; the shim copies it.
        unit(unsafe { at_w800_tls_alpn(self.0, wire.as_ptr(), wire.len()) })
    }

    /// TLS-PSK with `key` and `identity`.
    pub fn psk(self, key: &[u8], identity: &[u8]) -> Result<(), TlsCode> {
        // SAFETY: both slices are valid for their lengths during the call; mbedTLS
        // copies them.
        unit(unsafe {
            at_w800_tls_psk(
                self.0,
                key.as_ptr(),
                key.len(),
                identity.as_ptr(),
                identity.len(),
            )
        })
    }

    /// Ends the configuration: sets the session up over its socket.
    pub fn start(self) -> Result<(), TlsCode> {
        // SAFETY: integers only.
        unit(unsafe { at_w800_tls_start(self.0) })
    }

    /// Advances the handshake: `Ok` once complete, [`TlsCode::WouldBlock`] while it
    /// waits.
    pub fn handshake(self) -> Result<(), TlsCode> {
        // SAFETY: integers only.
        unit(unsafe { at_w800_tls_handshake(self.0) })
    }

    /// Encrypts and sends part of `data`; how much was taken.
    pub fn write(self, data: &[u8]) -> Result<usize, TlsCode> {
        // SAFETY: `data` is valid for its length during the call; mbedTLS copies what
        // it takes into its record.
        check(unsafe { at_w800_tls_write(self.0, data.as_ptr(), data.len()) })
    }

    /// Reads plaintext into `buf`.
    pub fn read(self, buf: &mut [u8]) -> Result<usize, TlsCode> {
        // SAFETY: `buf` is valid for writes of its length during the call.
        check(unsafe { at_w800_tls_read(self.0, buf.as_mut_ptr(), buf.len()) })
    }

    /// Plaintext bytes a read returns without waiting (at most one record ahead).
    pub fn available(self) -> Result<usize, TlsCode> {
        // SAFETY: integers only.
        check(unsafe { at_w800_tls_available(self.0) })
    }

    /// The `errno` behind the last [`TlsCode::Socket`].
    pub fn socket_error(self) -> c_int {
        // SAFETY: integers only.
        unsafe { at_w800_tls_socket_error(self.0) }
    }

    /// Sends close_notify if the socket takes it now (never waits) and frees the
    /// session; the socket stays open.
    pub fn close(self) {
        // SAFETY: integers only. A session number that is already free is refused.
        let _ = unsafe { at_w800_tls_close(self.0) };
    }
}

/// Sessions of the shim's pool in use (every stack of the process together).
pub fn sessions_in_use() -> usize {
    // SAFETY: no arguments.
    check(unsafe { at_w800_tls_sessions_in_use() }).unwrap_or(0)
}

/// Size of the shim's pool (`AT_W800_TLS_SESSIONS`).
pub fn sessions_max() -> usize {
    // SAFETY: no arguments.
    check(unsafe { at_w800_tls_sessions_max() }).unwrap_or(0)
}
