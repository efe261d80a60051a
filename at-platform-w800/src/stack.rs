//! [`LwipStack`]: the engine's network boundary ([`at_core::net`]) over lwIP's socket
//! API, the one the W800 SDK offers. It owns a fixed table of sockets (no allocator) and
//! implements [`TcpClientStack`], [`TcpFullStack`], [`UdpClientStack`],
//! [`UdpFullStack`], [`Dns`], [`TcpExt`] and [`UdpExt`].
//!
//! # Conventions (those of [`at_core::net`])
//!
//! * Nothing blocks: every lwIP socket is put in non-blocking mode with
//!   `lwip_fcntl(F_SETFL, O_NONBLOCK)` when it is created (accepted ones too), and an
//!   operation that cannot finish now returns [`nb::Error::WouldBlock`].
//! * `socket()` creates no lwIP socket: the family is known only at `connect`, a bind,
//!   `send_to` or a multicast join. Options set before then are remembered and applied
//!   when the socket is made.
//! * A connect under way is checked with `lwip_poll(POLLOUT)` and `SO_ERROR`.
//! * TCP `receive` returning `Ok(0)` for a non-empty buffer is end of stream; a reset
//!   is a [`NetError::Socket`] whose [`TcpError::kind`] is [`TcpErrorKind::PipeClosed`].
//! * [`TcpExt::tcp_available`] is `FIONREAD` (lwIP needs `LWIP_SO_RCVBUF`, which both
//!   the W800 SDK and Debian enable).
//! * Every IPv6 socket is `IPV6_V6ONLY`; every socket that binds sets `SO_REUSEADDR`
//!   first (lwIP needs `SO_REUSE`, enabled in both).
//!
//! # Socket options ([`TcpOption`])
//!
//! | option | lwIP | needs |
//! |---|---|---|
//! | `Linger` | `SO_LINGER` | `LWIP_SO_LINGER` |
//! | `NoDelay` | `TCP_NODELAY` | always |
//! | `SendTimeout` | `SO_SNDTIMEO` (through the port shim's `struct timeval`) | `LWIP_SO_SNDTIMEO` |
//! | `KeepAlive` | `SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL` = 1, `TCP_KEEPCNT` = 3 | `LWIP_TCP_KEEPALIVE` |
//!
//! All four are compiled into both the W800 SDK's lwIP and Debian's; a build without one
//! answers `setsockopt` with `ENOPROTOOPT`, which [`TcpExt::tcp_set_option`] reports.
//! As with any non-blocking socket, `SO_SNDTIMEO` is stored and reads back but never
//! makes `send` wait. `SO_LINGER` with a time > 0 cannot make `close` wait either: lwIP
//! refuses to close a lingering non-blocking socket that still has unacknowledged data,
//! so the stack then closes it without linger and lwIP delivers the data in the
//! background (found by `stack_close_with_linger_does_not_block` on real lwIP). A linger
//! time of 0 resets the connection at close, as everywhere.
//!
//! # SSL links ([`at_ssl::TlsStack`])
//!
//! TLS runs in the TLS shim (`c/at_w800_tls.c`, [`crate::ffi::tls`]): mbedTLS sessions
//! the firmware compiles with the SDK's mbedTLS, in the shim's static pool, reading and
//! writing the slot's lwIP socket themselves (non-blocking: `MBEDTLS_ERR_SSL_WANT_*`).
//! A session is bound to its TCP slot: once its handshake completed, `send`, `receive`
//! and `tcp_available` of that socket carry plaintext; `close` sends close_notify if
//! the socket takes it at once, frees the session, then closes the socket.
//!
//! | setting | mbedTLS |
//! |---|---|
//! | auth mode 0 | `MBEDTLS_SSL_VERIFY_NONE`, no certificate |
//! | modes 2/3 | `VERIFY_REQUIRED` against CA index `<ca_number>` of the [`W800Pki`]; the name (`verify_name`) checked by the shim: dNSName SANs (a wildcard in the first label), else the CN; an IP address against iPAddress SANs |
//! | modes 1/3 | `mbedtls_ssl_conf_own_cert` with PKI index `<pki_number>` (key checked against the certificate) |
//! | SNI | `mbedtls_ssl_set_hostname` (the name check is the shim's, so SNI and the checked name may differ) |
//! | ALPN | `mbedtls_ssl_conf_alpn_protocols` |
//! | PSK | `mbedtls_ssl_conf_psk`, TLS 1.2, PSK cipher suites only |
//! | validity | at the engine's SNTP time (`unix_time`) when it has one, checked by the shim; else mbedTLS's own (`MBEDTLS_HAVE_TIME_DATE`) |
//!
//! The SSL server presents the store's server certificate; with `<CA enable>` it
//! requires a client certificate signed by the store's server CA. A failed certificate
//! check is [`TlsError::Verification`], any other failure [`TlsError::Handshake`].
//!
//! `tcp_available` reports the plaintext mbedTLS holds: when none is left it decrypts the
//! next record if that has arrived whole, so the read-ahead is at most one record
//! (16 KiB) and the rest stays in lwIP's window, which flow-controls the peer. A record
//! `send` encrypted but lwIP could not take whole counts as sent: mbedTLS keeps the rest
//! and every later `send`, `receive` or `tcp_available` pushes it on.
//!
//! # Names
//!
//! [`Dns`] parses numeric addresses only and reports every name as
//! [`NetError::HostNotFound`]: lwIP's own resolver (`lwip_getaddrinfo`) blocks the
//! caller until the answer comes, which the engine's loop must not, and Debian's lwIP has
//! no DNS compiled in. The engine resolves names itself over UDP (`AT+CIPDNS`, manual
//! servers) through this stack, so host names still work with manual DNS servers.

use core::ffi::c_int;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use at_core::net::{
    nb, AddrType, Dns, TcpClientStack, TcpError, TcpErrorKind, TcpExt, TcpFullStack, TcpOption,
    UdpClientStack, UdpExt, UdpFullStack,
};

use at_ssl::{ClientConfig, Pki, ServerConfig, TlsError};

use crate::ffi::tls::{Session, TlsCode};
use crate::ffi::{self, lwip::sys, ErrorKind, SockError};
use crate::pki::W800Pki;

/// Sockets a [`LwipStack`] holds at once by default (TCP and UDP together, accepted
/// connections included). The W800 SDK's lwIP has `MEMP_NUM_NETCONN 8`, so more would
/// only fail later, in lwIP.
pub const DEFAULT_SOCKETS: usize = 8;

/// Backlog of a listening TCP socket.
pub const LISTEN_BACKLOG: c_int = 5;

/// `TCP_KEEPINTVL` used with [`TcpOption::KeepAlive`], in seconds.
pub const KEEPALIVE_INTERVAL_SECS: c_int = 1;

/// `TCP_KEEPCNT` used with [`TcpOption::KeepAlive`].
pub const KEEPALIVE_COUNT: c_int = 3;

/// An error of the stack; the one error type of all its traits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetError {
    /// lwIP refused (connection refused, address in use, reset, ...).
    Socket(SockError),
    /// Every slot of the table is in use.
    NoFreeSlot,
    /// The handle does not name a socket of the right kind in this stack.
    BadHandle,
    /// The address's family differs from the socket's, fixed by an earlier call.
    AddressFamily,
    /// The socket is not in a state that allows the operation; the text says which.
    InvalidState(&'static str),
    /// The name did not resolve (names are not resolved here, see the module docs).
    HostNotFound,
    /// Not supported by this stack (reverse lookups).
    Unsupported,
    /// The TLS session of an SSL link failed (a fatal alert, a bad record, the shim's
    /// pool); the link must be closed.
    Tls(TlsCode),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::Socket(e) => write!(f, "lwIP error {} ({:?})", e.code, e.kind),
            NetError::NoFreeSlot => f.write_str("no free socket slot"),
            NetError::BadHandle => f.write_str("handle does not name a socket of this stack"),
            NetError::AddressFamily => f.write_str("address family differs from the socket's"),
            NetError::InvalidState(what) => f.write_str(what),
            NetError::HostNotFound => f.write_str("host not found"),
            NetError::Unsupported => f.write_str("operation not supported"),
            NetError::Tls(code) => write!(f, "TLS failure ({code:?})"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for NetError {}

impl From<SockError> for NetError {
    fn from(e: SockError) -> Self {
        NetError::Socket(e)
    }
}

impl TcpError for NetError {
    fn kind(&self) -> TcpErrorKind {
        match self {
            NetError::Socket(SockError {
                kind: ErrorKind::ConnectionLost,
                ..
            }) => TcpErrorKind::PipeClosed,
            _ => TcpErrorKind::Other,
        }
    }
}

/// A socket error as an `nb` error: "would block" becomes `WouldBlock`.
fn nb_sock(e: SockError) -> nb::Error<NetError> {
    match e.kind {
        ErrorKind::WouldBlock => nb::Error::WouldBlock,
        _ => nb::Error::Other(NetError::Socket(e)),
    }
}

/// A failure of a ready TLS session as the stack's error: a socket failure keeps its
/// `errno` (a reset is still [`TcpErrorKind::PipeClosed`]).
fn tls_net_error(session: Session, code: TlsCode) -> NetError {
    match code {
        TlsCode::Socket => NetError::Socket(SockError::from_code(session.socket_error())),
        TlsCode::Closed => NetError::Socket(SockError {
            code: 0,
            kind: ErrorKind::ConnectionLost,
        }),
        other => NetError::Tls(other),
    }
}

fn tls_nb(session: Session, code: TlsCode) -> nb::Error<NetError> {
    match code {
        TlsCode::WouldBlock => nb::Error::WouldBlock,
        other => nb::Error::Other(tls_net_error(session, other)),
    }
}

/// A shim code while TLS starts or handshakes, as the engine's [`TlsError`].
fn tls_error(code: TlsCode) -> TlsError {
    match code {
        TlsCode::Verify => TlsError::Verification,
        TlsCode::Certificate => TlsError::MissingCertificate,
        TlsCode::Unsupported => TlsError::Unsupported,
        TlsCode::Resources => TlsError::Resources,
        TlsCode::State => TlsError::InvalidState,
        TlsCode::WouldBlock | TlsCode::Closed | TlsCode::Handshake | TlsCode::Socket => {
            TlsError::Handshake
        }
    }
}

/// Sets a client session up as `config` says, with the certificates of `pki`.
fn configure_client(
    session: Session,
    config: &ClientConfig<'_>,
    pki: &W800Pki,
) -> Result<(), TlsError> {
    if config.auth.verifies_server() {
        let ca = pki
            .ca(config.ca_index)
            .ok_or(TlsError::MissingCertificate)?;
        session.trust(ca).map_err(tls_error)?;
        if !config.verify_name.is_empty() {
            session
                .expect_name(config.verify_name)
                .map_err(|_| TlsError::Verification)?;
        }
    }
    if let Some(t) = config.unix_time {
        session.set_time(t).map_err(tls_error)?;
    }
    if config.auth.presents_certificate() {
        let identity = pki
            .client_identity(config.pki_index)
            .ok_or(TlsError::MissingCertificate)?;
        session
            .present(identity.certificate, identity.key)
            .map_err(tls_error)?;
    }
    if let Some(sni) = config.sni {
        session.sni(sni).map_err(tls_error)?;
    }
    if !config.alpn.is_empty() {
        session.alpn(config.alpn).map_err(tls_error)?;
    }
    if let Some(psk) = config.psk {
        session
            .psk(psk.key, psk.identity.as_bytes())
            .map_err(tls_error)?;
    }
    Ok(())
}

/// Sets a server session up: the store's server certificate, and with `verify_clients`
/// its CA for client certificates.
fn configure_server(
    session: Session,
    config: &ServerConfig,
    pki: &W800Pki,
) -> Result<(), TlsError> {
    let identity = pki.server_identity().ok_or(TlsError::MissingCertificate)?;
    session
        .present(identity.certificate, identity.key)
        .map_err(tls_error)?;
    if config.verify_clients {
        let ca = pki.server_ca().ok_or(TlsError::MissingCertificate)?;
        session.trust(ca).map_err(tls_error)?;
    }
    if let Some(t) = config.unix_time {
        session.set_time(t).map_err(tls_error)?;
    }
    Ok(())
}

/// A TCP socket of a [`LwipStack`]: a client link, a listening server or an accepted
/// connection. Neither `Clone` nor `Copy`: closing it releases the slot for good.
#[derive(Debug, PartialEq, Eq)]
pub struct TcpHandle {
    slot: u8,
}

/// A UDP socket of a [`LwipStack`].
#[derive(Debug, PartialEq, Eq)]
pub struct UdpHandle {
    slot: u8,
}

impl TcpHandle {
    /// The slot in the stack's table.
    pub fn slot(&self) -> usize {
        usize::from(self.slot)
    }
}

impl UdpHandle {
    /// The slot in the stack's table.
    pub fn slot(&self) -> usize {
        usize::from(self.slot)
    }
}

/// TCP options as lwIP reports them ([`LwipStack::tcp_options`]), for tests and
/// diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpOptionsReadBack {
    /// `SO_LINGER`: `None` off, else seconds.
    pub linger: Option<u16>,
    /// `TCP_NODELAY`.
    pub nodelay: bool,
    /// `SO_SNDTIMEO` in milliseconds, 0 for none.
    pub send_timeout_ms: u32,
    /// `SO_KEEPALIVE`.
    pub keepalive: bool,
    /// `TCP_KEEPIDLE`, seconds.
    pub keepalive_idle: u32,
    /// `TCP_KEEPINTVL`, seconds.
    pub keepalive_interval: u32,
    /// `TCP_KEEPCNT`.
    pub keepalive_count: u32,
    /// `SO_REUSEADDR`.
    pub reuse_address: bool,
    /// `O_NONBLOCK` (`lwip_fcntl(F_GETFL)`).
    pub nonblocking: bool,
}

/// UDP options as lwIP reports them ([`LwipStack::udp_options`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpOptionsReadBack {
    /// `SO_BROADCAST`.
    pub broadcast: bool,
    /// `SO_REUSEADDR`.
    pub reuse_address: bool,
    /// `O_NONBLOCK`.
    pub nonblocking: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct TcpOptions {
    linger: Option<Option<u16>>,
    nodelay: Option<bool>,
    send_timeout: Option<u32>,
    keepalive: Option<Option<u16>>,
}

impl TcpOptions {
    fn remember(&mut self, option: TcpOption) {
        match option {
            TcpOption::Linger(v) => self.linger = Some(v),
            TcpOption::NoDelay(v) => self.nodelay = Some(v),
            TcpOption::SendTimeout(v) => self.send_timeout = Some(v),
            TcpOption::KeepAlive(v) => self.keepalive = Some(v),
        }
    }

    fn apply_all(&self, fd: c_int) -> Result<(), SockError> {
        let options = [
            self.linger.map(TcpOption::Linger),
            self.nodelay.map(TcpOption::NoDelay),
            self.send_timeout.map(TcpOption::SendTimeout),
            self.keepalive.map(TcpOption::KeepAlive),
        ];
        options
            .into_iter()
            .flatten()
            .try_for_each(|o| apply_tcp_option(fd, o))
    }
}

fn apply_tcp_option(fd: c_int, option: TcpOption) -> Result<(), SockError> {
    match option {
        TcpOption::Linger(secs) => ffi::set_linger(fd, secs),
        TcpOption::NoDelay(on) => {
            ffi::set_int_option(fd, sys::IPPROTO_TCP, sys::TCP_NODELAY, c_int::from(on))
        }
        TcpOption::SendTimeout(ms) => ffi::set_send_timeout(fd, ms),
        TcpOption::KeepAlive(None) => {
            ffi::set_int_option(fd, sys::SOL_SOCKET, sys::SO_KEEPALIVE, 0)
        }
        TcpOption::KeepAlive(Some(idle)) => {
            ffi::set_int_option(fd, sys::SOL_SOCKET, sys::SO_KEEPALIVE, 1)?;
            ffi::set_int_option(fd, sys::IPPROTO_TCP, sys::TCP_KEEPIDLE, c_int::from(idle))?;
            ffi::set_int_option(
                fd,
                sys::IPPROTO_TCP,
                sys::TCP_KEEPINTVL,
                KEEPALIVE_INTERVAL_SECS,
            )?;
            ffi::set_int_option(fd, sys::IPPROTO_TCP, sys::TCP_KEEPCNT, KEEPALIVE_COUNT)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TcpState {
    Idle,
    Bound,
    Connecting,
    Connected,
    Listening,
    Failed,
}

#[derive(Clone, Copy, Debug)]
struct TcpEntry {
    fd: Option<c_int>,
    ipv6: bool,
    state: TcpState,
    options: TcpOptions,
    /// The TLS session of an SSL link or an SSL server's connection.
    tls: Option<TlsLink>,
}

/// A TLS session bound to a TCP slot.
#[derive(Clone, Copy, Debug)]
struct TlsLink {
    session: Session,
    ready: bool,
}

#[derive(Clone, Copy, Debug)]
struct UdpEntry {
    fd: Option<c_int>,
    ipv6: bool,
    peer: Option<SocketAddr>,
    broadcast: Option<bool>,
}

#[derive(Clone, Copy, Debug)]
enum Slot {
    Free,
    Tcp(TcpEntry),
    Udp(UdpEntry),
}

/// lwIP's sockets as the engine's network: see the module documentation. `N` is the
/// number of sockets open at once (at most 255).
#[derive(Debug)]
pub struct LwipStack<const N: usize = DEFAULT_SOCKETS> {
    slots: [Slot; N],
    multicast_if_v4: Ipv4Addr,
    pki: W800Pki,
}

impl<const N: usize> Default for LwipStack<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// A new lwIP socket of `addr`'s family, non-blocking; IPv6 ones `IPV6_V6ONLY`.
fn new_socket(addr: &SocketAddr, ty: c_int) -> Result<c_int, SockError> {
    let fd = ffi::socket(ffi::family_of(addr), ty, 0)?;
    let setup = ffi::set_nonblocking(fd).and_then(|()| {
        if addr.is_ipv6() {
            ffi::set_int_option(fd, sys::IPPROTO_IPV6, sys::IPV6_V6ONLY, 1)
        } else {
            Ok(())
        }
    });
    if let Err(e) = setup {
        let _ = ffi::close(fd);
        return Err(e);
    }
    Ok(fd)
}

/// Closes an lwIP socket. lwIP refuses (`EWOULDBLOCK`) to close a non-blocking socket
/// with `SO_LINGER` on while data is unacknowledged, and keeps it open: then linger is
/// turned off and the socket closed again, which returns at once while lwIP still
/// delivers the data in the background (a linger time of 0, an abortive close, never
/// gets here: lwIP resets the connection at once).
fn close_without_blocking(fd: c_int) -> Result<(), SockError> {
    match ffi::close(fd) {
        Err(e) if e.kind == ErrorKind::WouldBlock => {
            ffi::set_linger(fd, None)?;
            ffi::close(fd)
        }
        other => other,
    }
}

impl<const N: usize> LwipStack<N> {
    const SLOTS_FIT_A_BYTE: () = assert!(N <= 255, "at most 255 sockets");

    /// An empty stack.
    pub const fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::SLOTS_FIT_A_BYTE;
        LwipStack {
            slots: [Slot::Free; N],
            multicast_if_v4: Ipv4Addr::UNSPECIFIED,
            pki: W800Pki::new(),
        }
    }

    /// The interface (by address) IPv4 multicast groups are joined on; `0.0.0.0`, the
    /// default, is lwIP's default netif.
    pub fn set_multicast_interface_v4(&mut self, interface: Ipv4Addr) {
        self.multicast_if_v4 = interface;
    }

    /// The certificate store of the SSL links and the SSL server.
    pub fn pki(&self) -> &W800Pki {
        &self.pki
    }

    /// The certificate store, to fill (the firmware does through the C API).
    pub fn pki_mut(&mut self) -> &mut W800Pki {
        &mut self.pki
    }

    /// Whether the engine's socket passes have anything to find: a socket with data, a
    /// connection to accept, end of stream or an error (one `lwip_poll` with a zero
    /// timeout over every lwIP socket), or a TLS session holding decrypted bytes that its
    /// socket no longer shows. A socket whose connect is under way counts too (its
    /// error is news), though its connect is checked on its own. When lwIP's `poll`
    /// fails, the answer is yes: the passes find out.
    ///
    /// This is what [`NetPlatform::take_network_activity`] reports on the W800: lwIP
    /// cannot wake the AT task, so it polls every [`AT_W800_NETWORK_POLL_MS`] while
    /// sockets are open, and a poll with nothing new now costs this one call instead of
    /// one `recv` per link and the passes around them.
    ///
    /// [`NetPlatform::take_network_activity`]: at_core::net::NetPlatform::take_network_activity
    /// [`AT_W800_NETWORK_POLL_MS`]: crate::capi::AT_W800_NETWORK_POLL_MS
    pub fn has_news(&mut self) -> bool {
        let mut fds = [ffi::lwip::pollfd::default(); N];
        let mut count = 0;
        for slot in &self.slots {
            let (fd, tls) = match slot {
                Slot::Tcp(e) => (e.fd, e.tls),
                Slot::Udp(e) => (e.fd, None),
                Slot::Free => continue,
            };
            if let Some(TlsLink {
                session,
                ready: true,
            }) = tls
            {
                if session.available().is_ok_and(|n| n > 0) {
                    return true;
                }
            }
            if let (Some(fd), Some(entry)) = (fd, fds.get_mut(count)) {
                *entry = ffi::lwip::pollfd {
                    fd,
                    events: sys::POLLIN,
                    revents: 0,
                };
                count += 1;
            }
        }
        count > 0 && ffi::poll_all_now(&mut fds[..count]).map_or(true, |ready| ready > 0)
    }

    /// Number of slots in use.
    pub fn open_sockets(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| !matches!(s, Slot::Free))
            .count()
    }

    /// The lwIP descriptor of a TCP socket, once it exists.
    pub fn tcp_fd(&self, socket: &TcpHandle) -> Option<c_int> {
        match self.slots.get(socket.slot()) {
            Some(Slot::Tcp(e)) => e.fd,
            _ => None,
        }
    }

    /// The lwIP descriptor of a UDP socket, once it exists.
    pub fn udp_fd(&self, socket: &UdpHandle) -> Option<c_int> {
        match self.slots.get(socket.slot()) {
            Some(Slot::Udp(e)) => e.fd,
            _ => None,
        }
    }

    /// Reads a TCP socket's options back from lwIP.
    pub fn tcp_options(&self, socket: &TcpHandle) -> Result<TcpOptionsReadBack, NetError> {
        self.tcp_options_at(socket.slot())
    }

    /// The slots of connected TCP sockets (clients and accepted connections), for
    /// diagnostics and tests that see the stack from outside the engine.
    pub fn connected_tcp_slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| match s {
            Slot::Tcp(TcpEntry {
                state: TcpState::Connected,
                ..
            }) => Some(i),
            _ => None,
        })
    }

    /// Reads the options of the TCP socket in `slot` back from lwIP.
    pub fn tcp_options_at(&self, slot: usize) -> Result<TcpOptionsReadBack, NetError> {
        let fd = match self.slots.get(slot) {
            Some(Slot::Tcp(TcpEntry { fd: Some(fd), .. })) => *fd,
            Some(Slot::Tcp(_)) => return Err(NetError::InvalidState("no lwIP socket yet")),
            _ => return Err(NetError::BadHandle),
        };
        let int = |level, name| ffi::int_option(fd, level, name);
        Ok(TcpOptionsReadBack {
            linger: ffi::linger(fd)?,
            nodelay: int(sys::IPPROTO_TCP, sys::TCP_NODELAY)? != 0,
            send_timeout_ms: ffi::send_timeout(fd)?,
            keepalive: int(sys::SOL_SOCKET, sys::SO_KEEPALIVE)? != 0,
            keepalive_idle: int(sys::IPPROTO_TCP, sys::TCP_KEEPIDLE)?.unsigned_abs(),
            keepalive_interval: int(sys::IPPROTO_TCP, sys::TCP_KEEPINTVL)?.unsigned_abs(),
            keepalive_count: int(sys::IPPROTO_TCP, sys::TCP_KEEPCNT)?.unsigned_abs(),
            reuse_address: int(sys::SOL_SOCKET, sys::SO_REUSEADDR)? != 0,
            nonblocking: ffi::is_nonblocking(fd)?,
        })
    }

    /// Reads a UDP socket's options back from lwIP.
    pub fn udp_options(&self, socket: &UdpHandle) -> Result<UdpOptionsReadBack, NetError> {
        let fd = self
            .udp_fd(socket)
            .ok_or(NetError::InvalidState("no lwIP socket yet"))?;
        Ok(UdpOptionsReadBack {
            broadcast: ffi::int_option(fd, sys::SOL_SOCKET, sys::SO_BROADCAST)? != 0,
            reuse_address: ffi::int_option(fd, sys::SOL_SOCKET, sys::SO_REUSEADDR)? != 0,
            nonblocking: ffi::is_nonblocking(fd)?,
        })
    }

    fn allocate(&mut self, entry: Slot) -> Result<u8, NetError> {
        let index = self
            .slots
            .iter()
            .position(|s| matches!(s, Slot::Free))
            .ok_or(NetError::NoFreeSlot)?;
        self.slots[index] = entry;
        // N <= 255 (checked at compile time).
        Ok(index as u8)
    }

    fn tcp_entry(&mut self, slot: u8) -> Result<&mut TcpEntry, NetError> {
        match self.slots.get_mut(usize::from(slot)) {
            Some(Slot::Tcp(e)) => Ok(e),
            _ => Err(NetError::BadHandle),
        }
    }

    fn udp_entry(&mut self, slot: u8) -> Result<&mut UdpEntry, NetError> {
        match self.slots.get_mut(usize::from(slot)) {
            Some(Slot::Udp(e)) => Ok(e),
            _ => Err(NetError::BadHandle),
        }
    }

    /// Creates the lwIP socket of a TCP slot for `addr`'s family if there is none yet
    /// (applying remembered options); checks the family if there is one.
    fn ensure_tcp_socket(&mut self, slot: u8, addr: &SocketAddr) -> Result<c_int, NetError> {
        let entry = self.tcp_entry(slot)?;
        if let Some(fd) = entry.fd {
            return if entry.ipv6 == addr.is_ipv6() {
                Ok(fd)
            } else {
                Err(NetError::AddressFamily)
            };
        }
        let fd = new_socket(addr, sys::SOCK_STREAM)?;
        if let Err(e) = entry.options.apply_all(fd) {
            let _ = ffi::close(fd);
            return Err(e.into());
        }
        entry.fd = Some(fd);
        entry.ipv6 = addr.is_ipv6();
        Ok(fd)
    }

    fn ensure_udp_socket(&mut self, slot: u8, addr: &SocketAddr) -> Result<c_int, NetError> {
        let entry = self.udp_entry(slot)?;
        if let Some(fd) = entry.fd {
            return if entry.ipv6 == addr.is_ipv6() {
                Ok(fd)
            } else {
                Err(NetError::AddressFamily)
            };
        }
        let fd = new_socket(addr, sys::SOCK_DGRAM)?;
        if let Some(on) = entry.broadcast {
            if let Err(e) =
                ffi::set_int_option(fd, sys::SOL_SOCKET, sys::SO_BROADCAST, c_int::from(on))
            {
                let _ = ffi::close(fd);
                return Err(e.into());
            }
        }
        entry.fd = Some(fd);
        entry.ipv6 = addr.is_ipv6();
        Ok(fd)
    }

    fn release(&mut self, slot: u8) -> Result<(), NetError> {
        let entry = match self.slots.get_mut(usize::from(slot)) {
            Some(s) => core::mem::replace(s, Slot::Free),
            None => return Err(NetError::BadHandle),
        };
        let fd = match entry {
            Slot::Tcp(TcpEntry { fd, tls, .. }) => {
                // close_notify (best effort) while the socket is still open.
                if let Some(tls) = tls {
                    tls.session.close();
                }
                fd
            }
            Slot::Udp(UdpEntry { fd, .. }) => fd,
            Slot::Free => None,
        };
        match fd {
            Some(fd) => close_without_blocking(fd).map_err(NetError::Socket),
            None => Ok(()),
        }
    }

    /// The TLS session of a connected slot, if it has one; an error while its handshake
    /// is not done.
    fn ready_tls(&mut self, slot: u8) -> nb::Result<Option<Session>, NetError> {
        match self.tcp_entry(slot)?.tls {
            None => Ok(None),
            Some(TlsLink {
                session,
                ready: true,
            }) => Ok(Some(session)),
            Some(_) => Err(nb::Error::Other(NetError::InvalidState(
                "the TLS handshake is not complete",
            ))),
        }
    }

    /// Starts a TLS session on a connected slot without one, configured by `setup`.
    fn start_tls(
        &mut self,
        slot: u8,
        server: bool,
        setup: impl FnOnce(Session, &W800Pki) -> Result<(), TlsError>,
    ) -> Result<(), TlsError> {
        let entry = self.tcp_entry(slot).map_err(|_| TlsError::InvalidState)?;
        let fd = match (entry.state, entry.fd, entry.tls) {
            (TcpState::Connected, Some(fd), None) => fd,
            _ => return Err(TlsError::InvalidState),
        };
        let session = Session::open(Some(fd), server).map_err(tls_error)?;
        let started = setup(session, &self.pki).and_then(|()| session.start().map_err(tls_error));
        if let Err(e) = started {
            session.close();
            return Err(e);
        }
        match self.tcp_entry(slot) {
            Ok(entry) => {
                entry.tls = Some(TlsLink {
                    session,
                    ready: false,
                });
                Ok(())
            }
            Err(_) => {
                session.close();
                Err(TlsError::InvalidState)
            }
        }
    }

    /// Checks a connect under way: `POLLOUT` without a pending error is connected.
    fn finish_connect(&mut self, slot: u8) -> nb::Result<(), NetError> {
        let entry = self.tcp_entry(slot)?;
        let fd = entry.fd.ok_or(NetError::InvalidState("no socket"))?;
        let ready = match ffi::poll_now(fd, sys::POLLOUT) {
            Ok(r) => r,
            Err(e) => {
                entry.state = TcpState::Failed;
                return Err(nb::Error::Other(e.into()));
            }
        };
        let failed = |entry: &mut TcpEntry, e: SockError| {
            entry.state = TcpState::Failed;
            nb::Error::Other(NetError::Socket(e))
        };
        match ffi::take_error(fd) {
            Ok(Some(e)) => return Err(failed(entry, e)),
            Err(e) => return Err(failed(entry, e)),
            Ok(None) => {}
        }
        if ready & (sys::POLLERR | sys::POLLHUP | sys::POLLNVAL) != 0 {
            let lost = SockError {
                code: 0,
                kind: ErrorKind::ConnectionLost,
            };
            return Err(failed(entry, lost));
        }
        if ready & sys::POLLOUT != 0 {
            entry.state = TcpState::Connected;
            Ok(())
        } else {
            Err(nb::Error::WouldBlock)
        }
    }

    fn connected_fd(&mut self, slot: u8) -> nb::Result<c_int, NetError> {
        if self.tcp_entry(slot)?.state == TcpState::Connecting {
            self.finish_connect(slot)?;
        }
        let entry = self.tcp_entry(slot)?;
        match (entry.state, entry.fd) {
            (TcpState::Connected, Some(fd)) => Ok(fd),
            _ => Err(nb::Error::Other(NetError::InvalidState(
                "socket is not connected",
            ))),
        }
    }
}

impl<const N: usize> Drop for LwipStack<N> {
    fn drop(&mut self) {
        for slot in 0..N {
            // Closed either way; nothing to report to.
            let _ = self.release(slot as u8);
        }
    }
}

impl<const N: usize> TcpClientStack for LwipStack<N> {
    type TcpSocket = TcpHandle;
    type Error = NetError;

    /// A new TCP socket; the lwIP socket is created at `connect` or bind time.
    fn socket(&mut self) -> Result<TcpHandle, NetError> {
        let slot = self.allocate(Slot::Tcp(TcpEntry {
            fd: None,
            ipv6: false,
            state: TcpState::Idle,
            options: TcpOptions::default(),
            tls: None,
        }))?;
        Ok(TcpHandle { slot })
    }

    /// The first call starts a non-blocking `lwip_connect` (`WouldBlock` while it is
    /// under way); later calls report its outcome once: `Ok` when connected, else the
    /// error. After a failure the socket must be closed.
    fn connect(&mut self, socket: &mut TcpHandle, remote: SocketAddr) -> nb::Result<(), NetError> {
        let slot = socket.slot;
        match self.tcp_entry(slot)?.state {
            TcpState::Connected => return Ok(()),
            TcpState::Connecting => return self.finish_connect(slot),
            TcpState::Listening => {
                return Err(nb::Error::Other(NetError::InvalidState(
                    "a listening socket cannot connect",
                )))
            }
            TcpState::Failed => {
                return Err(nb::Error::Other(NetError::InvalidState(
                    "connect failed; close the socket",
                )))
            }
            TcpState::Idle | TcpState::Bound => {}
        }
        let fd = self.ensure_tcp_socket(slot, &remote)?;
        let outcome = ffi::connect(fd, &remote);
        let entry = self.tcp_entry(slot)?;
        match outcome {
            Ok(()) => {
                entry.state = TcpState::Connected;
                Ok(())
            }
            Err(e) if matches!(e.kind, ErrorKind::InProgress | ErrorKind::WouldBlock) => {
                entry.state = TcpState::Connecting;
                Err(nb::Error::WouldBlock)
            }
            Err(e) => {
                entry.state = TcpState::Failed;
                Err(nb::Error::Other(e.into()))
            }
        }
    }

    /// Sends what lwIP's send buffer takes now; over an SSL link, encrypts what the
    /// session takes (at most one record).
    fn send(&mut self, socket: &mut TcpHandle, buffer: &[u8]) -> nb::Result<usize, NetError> {
        let fd = self.connected_fd(socket.slot)?;
        if let Some(session) = self.ready_tls(socket.slot)? {
            return session.write(buffer).map_err(|e| tls_nb(session, e));
        }
        if buffer.is_empty() {
            return Ok(0);
        }
        ffi::send(fd, buffer, sys::MSG_DONTWAIT).map_err(nb_sock)
    }

    /// Reads what has arrived; `Ok(0)` (for a non-empty buffer) at end of stream.
    fn receive(
        &mut self,
        socket: &mut TcpHandle,
        buffer: &mut [u8],
    ) -> nb::Result<usize, NetError> {
        let fd = self.connected_fd(socket.slot)?;
        if let Some(session) = self.ready_tls(socket.slot)? {
            return match session.read(buffer) {
                Err(TlsCode::Closed) => Ok(0),
                other => other.map_err(|e| tls_nb(session, e)),
            };
        }
        ffi::recv(fd, buffer, sys::MSG_DONTWAIT).map_err(nb_sock)
    }

    /// Closes the lwIP socket and frees the slot; an SSL link's session sends
    /// close_notify first if the socket takes it at once.
    fn close(&mut self, socket: TcpHandle) -> Result<(), NetError> {
        self.tcp_entry(socket.slot)?;
        self.release(socket.slot)
    }
}

impl<const N: usize> TcpFullStack for LwipStack<N> {
    /// Binds to `0.0.0.0:local_port` (use [`TcpExt::tcp_bind_to`] for IPv6).
    fn bind(&mut self, socket: &mut TcpHandle, local_port: u16) -> Result<(), NetError> {
        self.tcp_bind_to(
            socket,
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, local_port)),
        )
    }

    /// Listens (backlog [`LISTEN_BACKLOG`]) on a bound socket.
    fn listen(&mut self, socket: &mut TcpHandle) -> Result<(), NetError> {
        let entry = self.tcp_entry(socket.slot)?;
        match (entry.state, entry.fd) {
            (TcpState::Bound, Some(fd)) => {
                ffi::listen(fd, LISTEN_BACKLOG)?;
                entry.state = TcpState::Listening;
                Ok(())
            }
            (TcpState::Listening, _) => Ok(()),
            _ => Err(NetError::InvalidState("listen needs a bound socket")),
        }
    }

    /// Takes the next pending connection as a new non-blocking socket in a slot of its
    /// own. With every slot in use the connection is accepted and closed at once (the
    /// client sees it reset) and the error is [`NetError::NoFreeSlot`].
    fn accept(&mut self, socket: &mut TcpHandle) -> nb::Result<(TcpHandle, SocketAddr), NetError> {
        let entry = self.tcp_entry(socket.slot)?;
        let (TcpState::Listening, Some(listener)) = (entry.state, entry.fd) else {
            return Err(nb::Error::Other(NetError::InvalidState(
                "accept needs a listening socket",
            )));
        };
        let (fd, remote) = ffi::accept(listener).map_err(nb_sock)?;
        let remote = match remote {
            Some(r) => r,
            None => {
                let _ = ffi::close(fd);
                return Err(nb::Error::Other(NetError::InvalidState(
                    "accepted a connection without an IP address",
                )));
            }
        };
        if let Err(e) = ffi::set_nonblocking(fd) {
            let _ = ffi::close(fd);
            return Err(nb::Error::Other(e.into()));
        }
        match self.allocate(Slot::Tcp(TcpEntry {
            fd: Some(fd),
            ipv6: remote.is_ipv6(),
            state: TcpState::Connected,
            options: TcpOptions::default(),
            tls: None,
        })) {
            Ok(slot) => Ok((TcpHandle { slot }, remote)),
            Err(e) => {
                let _ = ffi::close(fd);
                Err(nb::Error::Other(e))
            }
        }
    }
}

/// SSL links and the SSL server: mbedTLS sessions of the TLS shim
/// ([`crate::ffi::tls`]) on the slots' lwIP sockets, with the certificates of the
/// stack's [`W800Pki`]. See the module documentation.
impl<const N: usize> at_ssl::TlsStack for LwipStack<N> {
    fn tls_connect(
        &mut self,
        socket: &mut TcpHandle,
        config: &ClientConfig<'_>,
    ) -> Result<(), TlsError> {
        self.start_tls(socket.slot, false, |session, pki| {
            configure_client(session, config, pki)
        })
    }

    fn tls_accept(
        &mut self,
        socket: &mut TcpHandle,
        config: &ServerConfig,
    ) -> Result<(), TlsError> {
        self.start_tls(socket.slot, true, |session, pki| {
            configure_server(session, config, pki)
        })
    }

    fn tls_handshake(&mut self, socket: &mut TcpHandle) -> nb::Result<(), TlsError> {
        let entry = self
            .tcp_entry(socket.slot)
            .map_err(|_| TlsError::InvalidState)?;
        let link = entry.tls.as_mut().ok_or(TlsError::InvalidState)?;
        if link.ready {
            return Ok(());
        }
        match link.session.handshake() {
            Ok(()) => {
                link.ready = true;
                Ok(())
            }
            Err(TlsCode::WouldBlock) => Err(nb::Error::WouldBlock),
            Err(code) => Err(nb::Error::Other(tls_error(code))),
        }
    }

    /// Parses the server's certificate, key (and CA) in a session that never starts.
    fn tls_server_ready(&mut self, verify_clients: bool) -> Result<(), TlsError> {
        let session = Session::open(None, true).map_err(tls_error)?;
        let config = ServerConfig {
            verify_clients,
            unix_time: None,
        };
        let checked = configure_server(session, &config, &self.pki);
        session.close();
        checked
    }
}

impl<const N: usize> TcpExt for LwipStack<N> {
    /// Creates the socket for `local`'s family, sets `SO_REUSEADDR` and binds. Allowed
    /// once, before `connect` or `listen`.
    fn tcp_bind_to(&mut self, socket: &mut TcpHandle, local: SocketAddr) -> Result<(), NetError> {
        let entry = self.tcp_entry(socket.slot)?;
        if entry.state != TcpState::Idle || entry.fd.is_some() {
            return Err(NetError::InvalidState("socket is already bound or in use"));
        }
        let fd = self.ensure_tcp_socket(socket.slot, &local)?;
        ffi::set_int_option(fd, sys::SOL_SOCKET, sys::SO_REUSEADDR, 1)?;
        ffi::bind(fd, &local)?;
        self.tcp_entry(socket.slot)?.state = TcpState::Bound;
        Ok(())
    }

    /// Applies the option now if the lwIP socket exists, and remembers it for when it is
    /// created otherwise (see the module documentation for what lwIP needs).
    fn tcp_set_option(
        &mut self,
        socket: &mut TcpHandle,
        option: TcpOption,
    ) -> Result<(), NetError> {
        let entry = self.tcp_entry(socket.slot)?;
        entry.options.remember(option);
        if let Some(fd) = entry.fd {
            apply_tcp_option(fd, option)?;
        }
        Ok(())
    }

    /// `lwip_getsockname`, or `None` while the socket has no port.
    fn tcp_local_addr(&mut self, socket: &TcpHandle) -> Option<SocketAddr> {
        let fd = self.tcp_entry(socket.slot).ok()?.fd?;
        let local = ffi::local_addr(fd).ok()??;
        (local.port() != 0).then_some(local)
    }

    /// `FIONREAD` of a connected socket; 0 in any other state. Over an SSL link: the
    /// plaintext mbedTLS holds, after decrypting the next record if it arrived whole.
    fn tcp_available(&mut self, socket: &mut TcpHandle) -> Result<usize, NetError> {
        match self.ready_tls(socket.slot) {
            Ok(Some(session)) => {
                return session.available().map_err(|e| tls_net_error(session, e));
            }
            Ok(None) => {}
            Err(_) => return Ok(0),
        }
        let entry = self.tcp_entry(socket.slot)?;
        match (entry.state, entry.fd) {
            (TcpState::Connected, Some(fd)) => Ok(ffi::available(fd)?),
            _ => Ok(0),
        }
    }
}

impl<const N: usize> UdpClientStack for LwipStack<N> {
    type UdpSocket = UdpHandle;
    type Error = NetError;

    /// A new UDP socket; the lwIP socket is created when its family is known.
    fn socket(&mut self) -> Result<UdpHandle, NetError> {
        let slot = self.allocate(Slot::Udp(UdpEntry {
            fd: None,
            ipv6: false,
            peer: None,
            broadcast: None,
        }))?;
        Ok(UdpHandle { slot })
    }

    /// Remembers `remote` as the destination of `send`. The socket is not
    /// `lwip_connect`ed: `receive` takes datagrams from any sender, as the module's UDP
    /// links do.
    fn connect(&mut self, socket: &mut UdpHandle, remote: SocketAddr) -> Result<(), NetError> {
        self.ensure_udp_socket(socket.slot, &remote)?;
        self.udp_entry(socket.slot)?.peer = Some(remote);
        Ok(())
    }

    /// Sends one datagram to the address given to `connect`.
    fn send(&mut self, socket: &mut UdpHandle, buffer: &[u8]) -> nb::Result<(), NetError> {
        let peer = self
            .udp_entry(socket.slot)?
            .peer
            .ok_or(NetError::InvalidState("no remote address; connect first"))?;
        self.send_to(socket, peer, buffer)
    }

    /// Takes one datagram (`WouldBlock` when none waits); a longer one is truncated.
    fn receive(
        &mut self,
        socket: &mut UdpHandle,
        buffer: &mut [u8],
    ) -> nb::Result<(usize, SocketAddr), NetError> {
        let Some(fd) = self.udp_entry(socket.slot)?.fd else {
            return Err(nb::Error::WouldBlock);
        };
        match ffi::recv_from(fd, buffer, sys::MSG_DONTWAIT).map_err(nb_sock)? {
            (n, Some(from)) => Ok((n, from)),
            (_, None) => Err(nb::Error::Other(NetError::InvalidState(
                "datagram without a sender address",
            ))),
        }
    }

    /// Closes the lwIP socket and frees the slot.
    fn close(&mut self, socket: UdpHandle) -> Result<(), NetError> {
        self.udp_entry(socket.slot)?;
        self.release(socket.slot)
    }
}

impl<const N: usize> UdpFullStack for LwipStack<N> {
    /// Binds to `0.0.0.0:local_port`, or `[::]:local_port` for an existing IPv6 socket.
    fn bind(&mut self, socket: &mut UdpHandle, local_port: u16) -> Result<(), NetError> {
        let entry = self.udp_entry(socket.slot)?;
        let ip = if entry.fd.is_some() && entry.ipv6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        self.udp_bind_to(socket, SocketAddr::new(ip, local_port))
    }

    /// Sends one datagram to `remote`.
    fn send_to(
        &mut self,
        socket: &mut UdpHandle,
        remote: SocketAddr,
        buffer: &[u8],
    ) -> nb::Result<(), NetError> {
        let fd = self.ensure_udp_socket(socket.slot, &remote)?;
        ffi::send_to(fd, buffer, &remote, sys::MSG_DONTWAIT)
            .map(drop)
            .map_err(nb_sock)
    }
}

impl<const N: usize> UdpExt for LwipStack<N> {
    /// Creates the socket for `local`'s family if needed, sets `SO_REUSEADDR` and binds.
    fn udp_bind_to(&mut self, socket: &mut UdpHandle, local: SocketAddr) -> Result<(), NetError> {
        let fd = self.ensure_udp_socket(socket.slot, &local)?;
        ffi::set_int_option(fd, sys::SOL_SOCKET, sys::SO_REUSEADDR, 1)?;
        ffi::bind(fd, &local)?;
        Ok(())
    }

    /// `IP_ADD_MEMBERSHIP` (on [`LwipStack::set_multicast_interface_v4`]'s interface)
    /// or `IPV6_JOIN_GROUP` (interface 0: lwIP's choice). Needs `LWIP_IGMP` /
    /// `LWIP_IPV6_MLD`.
    fn udp_join_multicast(
        &mut self,
        socket: &mut UdpHandle,
        group: IpAddr,
    ) -> Result<(), NetError> {
        let interface = self.multicast_if_v4;
        let fd = self.ensure_udp_socket(socket.slot, &SocketAddr::new(group, 0))?;
        match group {
            IpAddr::V4(g) => ffi::join_multicast_v4(fd, g, interface)?,
            IpAddr::V6(g) => ffi::join_multicast_v6(fd, g, 0)?,
        }
        Ok(())
    }

    /// `SO_BROADCAST`; remembered until the socket exists.
    fn udp_set_broadcast(&mut self, socket: &mut UdpHandle, on: bool) -> Result<(), NetError> {
        let entry = self.udp_entry(socket.slot)?;
        entry.broadcast = Some(on);
        if let Some(fd) = entry.fd {
            ffi::set_int_option(fd, sys::SOL_SOCKET, sys::SO_BROADCAST, c_int::from(on))?;
        }
        Ok(())
    }

    /// `lwip_getsockname`, or `None` while the socket has no port.
    fn udp_local_addr(&mut self, socket: &UdpHandle) -> Option<SocketAddr> {
        let fd = self.udp_entry(socket.slot).ok()?.fd?;
        let local = ffi::local_addr(fd).ok()??;
        (local.port() != 0).then_some(local)
    }
}

impl<const N: usize> Dns for LwipStack<N> {
    type Error = NetError;

    /// Numeric addresses only; every name is [`NetError::HostNotFound`] (see the module
    /// documentation).
    fn get_host_by_name(
        &mut self,
        hostname: &str,
        addr_type: AddrType,
    ) -> nb::Result<IpAddr, NetError> {
        let ip: IpAddr = hostname
            .parse()
            .map_err(|_| nb::Error::Other(NetError::HostNotFound))?;
        let wanted = match addr_type {
            AddrType::IPv4 => ip.is_ipv4(),
            AddrType::IPv6 => ip.is_ipv6(),
            AddrType::Either => true,
        };
        if wanted {
            Ok(ip)
        } else {
            Err(nb::Error::Other(NetError::HostNotFound))
        }
    }

    /// Not supported.
    fn get_host_by_address(
        &mut self,
        _addr: IpAddr,
        _result: &mut [u8],
    ) -> nb::Result<usize, NetError> {
        Err(nb::Error::Other(NetError::Unsupported))
    }
}
