//! [`StdStack`]: the engine's network boundary ([`at_core::net`]) on Linux. It owns
//! every operating-system socket behind the emulated module's links (TCP clients, the
//! TCP server and the connections it accepts, UDP links), all non-blocking `socket2`
//! sockets, and their registration in the binary's [`mio::Poll`].
//!
//! # Handles, slots and tokens
//!
//! Sockets live in a fixed table of slots inside the stack; a [`TcpHandle`] or
//! [`UdpHandle`] names one slot and is neither `Clone` nor `Copy`, so closing it (which
//! the embedded-nal traits do by value) releases the slot and the OS socket for good.
//! A handle dropped without `close` keeps its slot and socket until the stack itself is
//! dropped.
//!
//! [`StdStack::new`] takes a [`Registry`] (a `registry.try_clone()` of the binary's
//! poll) and the first of a range of tokens: the socket in slot `n` is registered under
//! `Token(first_token + n)`, for [`READABLE`](Interest::READABLE) and
//! [`WRITABLE`](Interest::WRITABLE), edge-triggered (mio's only mode), from the moment
//! the OS socket exists until it is closed. [`StdStack::tokens`] is the whole range.
//! The engine retries every pending operation on each wake-up, so events need not be
//! mapped back to sockets; [`StdStack::owns_token`] is there for callers that want to.
//!
//! # Conventions (those of [`at_core::net`])
//!
//! * Nothing blocks: an operation that cannot finish now returns
//!   [`nb::Error::WouldBlock`]. The only exceptions are noted below.
//! * `socket()` creates no OS socket: the address family is known only at `connect`,
//!   `bind`, [`TcpExt::tcp_bind_to`], [`UdpExt::udp_bind_to`], `send_to` or a multicast
//!   join. Options set before then are remembered and applied when the socket is made.
//! * TCP `receive` returning `Ok(0)` for a non-empty buffer is end of stream. A reset
//!   (`ECONNRESET`, `EPIPE`, `ECONNABORTED`) is a [`NetError::Io`] whose
//!   [`TcpError::kind`] is [`TcpErrorKind::PipeClosed`].
//! * Every IPv6 socket is `IPV6_V6ONLY`; every socket that binds sets `SO_REUSEADDR`
//!   first; a listening socket's backlog is [`LISTEN_BACKLOG`].
//!
//! # Blocking exceptions
//!
//! * [`Dns::get_host_by_name`] resolves names with the C library's `getaddrinfo`
//!   (through [`ToSocketAddrs`]), which blocks for as long as the lookup takes. Numeric
//!   addresses are parsed without a lookup. A resolver thread can replace this later
//!   without changing the interface: the trait already allows `WouldBlock`.
//! * `close(2)` of a TCP socket with `SO_LINGER` on and a non-zero time blocks on
//!   Linux (even for a non-blocking socket) until the connection's data is
//!   acknowledged or the time runs out, so such sockets are handed to a short-lived
//!   thread to be closed; the others are closed in place.

use std::fmt;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::time::Duration;

use at_core::net::{
    nb, AddrType, Dns, TcpClientStack, TcpError, TcpErrorKind, TcpExt, TcpFullStack, TcpOption,
    UdpClientStack, UdpExt, UdpFullStack,
};
use at_ssl::{ClientConfig, ServerConfig, TlsError, TlsStack};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, TcpKeepalive, Type};

use crate::pki::PkiStore;
use crate::tls::TlsSession;

/// Number of slots (sockets open at once) of a stack made by [`StdStack::new`].
pub const DEFAULT_MAX_SOCKETS: usize = 32;

/// Backlog of a listening TCP socket.
pub const LISTEN_BACKLOG: i32 = 5;

/// `TCP_KEEPINTVL` used with [`TcpOption::KeepAlive`], in seconds.
const KEEPALIVE_INTERVAL_SECS: u64 = 1;

/// `TCP_KEEPCNT` used with [`TcpOption::KeepAlive`].
const KEEPALIVE_COUNT: u32 = 3;

/// An error of the stack; the one error type of all its traits.
#[derive(Debug)]
#[non_exhaustive]
pub enum NetError {
    /// The operating system refused (connection refused, address in use, reset, ...).
    Io(io::Error),
    /// Every slot is in use (see [`StdStack::with_max_sockets`]).
    NoFreeSlot,
    /// The handle does not name a socket of the right kind in this stack.
    BadHandle,
    /// The address's family (IPv4 or IPv6) differs from that of the socket, which was
    /// fixed by an earlier bind, connect or send.
    AddressFamily,
    /// The socket is not in a state that allows the operation; the text says which.
    InvalidState(&'static str),
    /// The name did not resolve, or has no address of the requested type.
    HostNotFound,
    /// The operation is not supported (reverse lookups).
    Unsupported,
}

impl NetError {
    /// The operating system's error, if this is one.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            NetError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::Io(e) => write!(f, "{e}"),
            NetError::NoFreeSlot => f.write_str("no free socket slot"),
            NetError::BadHandle => f.write_str("handle does not name a socket of this stack"),
            NetError::AddressFamily => f.write_str("address family differs from the socket's"),
            NetError::InvalidState(what) => f.write_str(what),
            NetError::HostNotFound => f.write_str("host not found"),
            NetError::Unsupported => f.write_str("operation not supported"),
        }
    }
}

impl std::error::Error for NetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NetError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for NetError {
    fn from(e: io::Error) -> Self {
        NetError::Io(e)
    }
}

impl TcpError for NetError {
    fn kind(&self) -> TcpErrorKind {
        match self {
            NetError::Io(e) if is_pipe_closed(e) => TcpErrorKind::PipeClosed,
            _ => TcpErrorKind::Other,
        }
    }
}

/// Whether an OS error means the connection is gone.
fn is_pipe_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

/// An OS error as an `nb` error: "try again" becomes `WouldBlock`.
fn nb_io(e: io::Error) -> nb::Error<NetError> {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => nb::Error::WouldBlock,
        _ => nb::Error::Other(NetError::Io(e)),
    }
}

/// A TCP socket of a [`StdStack`]: a client link, a listening server or a connection
/// the server accepted. Close it with `TcpClientStack::close`.
#[derive(Debug, PartialEq, Eq)]
pub struct TcpHandle {
    slot: usize,
}

impl TcpHandle {
    /// The slot in the stack's table (its token is the stack's first token plus this).
    pub fn slot(&self) -> usize {
        self.slot
    }
}

/// A UDP socket of a [`StdStack`]. Close it with `UdpClientStack::close`.
#[derive(Debug, PartialEq, Eq)]
pub struct UdpHandle {
    slot: usize,
}

impl UdpHandle {
    /// The slot in the stack's table (its token is the stack's first token plus this).
    pub fn slot(&self) -> usize {
        self.slot
    }
}

/// TCP socket options as the operating system reports them
/// ([`StdStack::tcp_options`]), for tests and diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpOptionsReadBack {
    /// `SO_LINGER`: `None` off, else the linger time.
    pub linger: Option<Duration>,
    /// `TCP_NODELAY`.
    pub nodelay: bool,
    /// `SO_SNDTIMEO`: `None` for no timeout.
    pub send_timeout: Option<Duration>,
    /// `SO_KEEPALIVE`.
    pub keepalive: bool,
    /// `TCP_KEEPIDLE`.
    pub keepalive_idle: Duration,
    /// `TCP_KEEPINTVL`.
    pub keepalive_interval: Duration,
    /// `TCP_KEEPCNT`.
    pub keepalive_count: u32,
    /// `SO_REUSEADDR`.
    pub reuse_address: bool,
    /// `IPV6_V6ONLY` of an IPv6 socket; `None` for IPv4.
    pub only_v6: Option<bool>,
}

/// UDP socket options as the operating system reports them
/// ([`StdStack::udp_options`]), for tests and diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpOptionsReadBack {
    /// `SO_BROADCAST`.
    pub broadcast: bool,
    /// `SO_REUSEADDR`.
    pub reuse_address: bool,
    /// `IP_MULTICAST_LOOP` (IPv4) or `IPV6_MULTICAST_LOOP` (IPv6).
    pub multicast_loop: bool,
    /// `IPV6_V6ONLY` of an IPv6 socket; `None` for IPv4.
    pub only_v6: Option<bool>,
}

/// TCP options set through [`TcpExt::tcp_set_option`], kept to be applied when the
/// OS socket is created.
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

    fn apply_all(&self, socket: &Socket) -> io::Result<()> {
        let options = [
            self.linger.map(TcpOption::Linger),
            self.nodelay.map(TcpOption::NoDelay),
            self.send_timeout.map(TcpOption::SendTimeout),
            self.keepalive.map(TcpOption::KeepAlive),
        ];
        options
            .into_iter()
            .flatten()
            .try_for_each(|option| apply_tcp_option(socket, option))
    }
}

/// Sets one TCP option on an OS socket.
fn apply_tcp_option(socket: &Socket, option: TcpOption) -> io::Result<()> {
    match option {
        TcpOption::Linger(secs) => {
            socket.set_linger(secs.map(|s| Duration::from_secs(u64::from(s))))
        }
        TcpOption::NoDelay(on) => socket.set_tcp_nodelay(on),
        TcpOption::SendTimeout(ms) => {
            socket.set_write_timeout((ms != 0).then(|| Duration::from_millis(u64::from(ms))))
        }
        TcpOption::KeepAlive(None) => socket.set_keepalive(false),
        TcpOption::KeepAlive(Some(idle)) => socket.set_tcp_keepalive(
            &TcpKeepalive::new()
                .with_time(Duration::from_secs(u64::from(idle)))
                .with_interval(Duration::from_secs(KEEPALIVE_INTERVAL_SECS))
                .with_retries(KEEPALIVE_COUNT),
        ),
    }
}

/// Where a TCP socket is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TcpState {
    /// No local address yet (the OS socket may or may not exist).
    Idle,
    /// Bound to a local address, neither connecting nor listening.
    Bound,
    /// A non-blocking connect is under way.
    Connecting,
    /// Connected (a client whose connect completed, or an accepted connection).
    Connected,
    /// Listening for connections.
    Listening,
    /// The connect failed; the error was reported once.
    Failed,
}

#[derive(Debug)]
struct TcpEntry {
    socket: Option<Socket>,
    ipv6: bool,
    state: TcpState,
    options: TcpOptions,
    /// The TLS session of an SSL link, once started.
    tls: Option<Box<TlsSession>>,
}

#[derive(Debug)]
struct UdpEntry {
    socket: Option<UdpSocket>,
    ipv6: bool,
    peer: Option<SocketAddr>,
    broadcast: Option<bool>,
}

#[derive(Debug)]
enum Slot {
    Free,
    Tcp(TcpEntry),
    Udp(UdpEntry),
}

/// The Linux network stack of the emulated module: implements
/// [`TcpClientStack`], [`TcpFullStack`], [`UdpClientStack`], [`UdpFullStack`],
/// [`Dns`], [`TcpExt`] and [`UdpExt`] (hence [`at_core::net::Network`]) with
/// non-blocking OS sockets registered in a [`mio::Poll`]. See the module
/// documentation for the conventions.
#[derive(Debug)]
pub struct StdStack {
    registry: Registry,
    first_token: usize,
    slots: Vec<Slot>,
    multicast_if_v4: Ipv4Addr,
    multicast_if_v6: u32,
    pki: PkiStore,
}

impl StdStack {
    /// A stack with [`DEFAULT_MAX_SOCKETS`] slots, registering its sockets in
    /// `registry` (a `try_clone()` of the event loop's registry) under the tokens
    /// `first_token .. first_token + DEFAULT_MAX_SOCKETS`.
    pub fn new(registry: Registry, first_token: usize) -> Self {
        Self::with_max_sockets(registry, first_token, DEFAULT_MAX_SOCKETS)
    }

    /// A stack with `max_sockets` slots (TCP and UDP together, accepted connections
    /// included), using the tokens `first_token .. first_token + max_sockets` (fewer
    /// if that would pass `usize::MAX`).
    pub fn with_max_sockets(registry: Registry, first_token: usize, max_sockets: usize) -> Self {
        let max_sockets = max_sockets.min(usize::MAX - first_token);
        let mut slots = Vec::with_capacity(max_sockets);
        slots.resize_with(max_sockets, || Slot::Free);
        StdStack {
            registry,
            first_token,
            slots,
            multicast_if_v4: Ipv4Addr::UNSPECIFIED,
            multicast_if_v6: 0,
            pki: PkiStore::new(),
        }
    }

    /// The certificates and keys SSL links and the SSL server use (empty at first).
    pub fn set_pki(&mut self, pki: PkiStore) {
        self.pki = pki;
    }

    /// The negotiated ALPN protocol of an SSL socket whose handshake completed.
    pub fn tls_alpn(&mut self, socket: &TcpHandle) -> Option<Vec<u8>> {
        let tls = self.tcp_entry(socket.slot).ok()?.tls.as_ref()?;
        tls.alpn().map(<[u8]>::to_vec)
    }

    /// The range of token values this stack registers sockets under.
    pub fn tokens(&self) -> Range<usize> {
        self.first_token..self.first_token + self.slots.len()
    }

    /// Whether `token` is one of this stack's.
    pub fn owns_token(&self, token: Token) -> bool {
        self.tokens().contains(&token.0)
    }

    /// The token of a TCP socket (registered once its OS socket exists).
    pub fn tcp_token(&self, socket: &TcpHandle) -> Token {
        self.token(socket.slot)
    }

    /// The token of a UDP socket (registered once its OS socket exists).
    pub fn udp_token(&self, socket: &UdpHandle) -> Token {
        self.token(socket.slot)
    }

    /// Number of slots in use (open handles).
    pub fn open_sockets(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| !matches!(s, Slot::Free))
            .count()
    }

    /// The interface IPv4 multicast groups are joined on, by its address
    /// (`IP_ADD_MEMBERSHIP`'s `imr_interface`). The default, `0.0.0.0`, lets the
    /// kernel choose by route. Any other value is also set as the joining socket's
    /// `IP_MULTICAST_IF`, so that its multicast sends leave by the same interface.
    pub fn set_multicast_interface_v4(&mut self, interface: Ipv4Addr) {
        self.multicast_if_v4 = interface;
    }

    /// The interface IPv6 multicast groups are joined on, by index. The default, 0,
    /// lets the kernel choose. Any other value is also set as the joining socket's
    /// `IPV6_MULTICAST_IF`.
    pub fn set_multicast_interface_v6(&mut self, interface_index: u32) {
        self.multicast_if_v6 = interface_index;
    }

    /// Reads a TCP socket's options back from the operating system.
    ///
    /// Fails with [`io::ErrorKind::NotConnected`] while the OS socket does not exist
    /// (see the module documentation), and with [`io::ErrorKind::InvalidInput`] for a
    /// handle of another stack.
    pub fn tcp_options(&self, socket: &TcpHandle) -> io::Result<TcpOptionsReadBack> {
        let Some(Slot::Tcp(entry)) = self.slots.get(socket.slot) else {
            return Err(io::ErrorKind::InvalidInput.into());
        };
        let sock = entry.socket.as_ref().ok_or(io::ErrorKind::NotConnected)?;
        Ok(TcpOptionsReadBack {
            linger: sock.linger()?,
            nodelay: sock.tcp_nodelay()?,
            send_timeout: sock.write_timeout()?,
            keepalive: sock.keepalive()?,
            keepalive_idle: sock.tcp_keepalive_time()?,
            keepalive_interval: sock.tcp_keepalive_interval()?,
            keepalive_count: sock.tcp_keepalive_retries()?,
            reuse_address: sock.reuse_address()?,
            only_v6: if entry.ipv6 {
                Some(sock.only_v6()?)
            } else {
                None
            },
        })
    }

    /// Reads a UDP socket's options back from the operating system; errors as for
    /// [`StdStack::tcp_options`].
    pub fn udp_options(&self, socket: &UdpHandle) -> io::Result<UdpOptionsReadBack> {
        let Some(Slot::Udp(entry)) = self.slots.get(socket.slot) else {
            return Err(io::ErrorKind::InvalidInput.into());
        };
        let sock = SockRef::from(entry.socket.as_ref().ok_or(io::ErrorKind::NotConnected)?);
        Ok(UdpOptionsReadBack {
            broadcast: sock.broadcast()?,
            reuse_address: sock.reuse_address()?,
            multicast_loop: if entry.ipv6 {
                sock.multicast_loop_v6()?
            } else {
                sock.multicast_loop_v4()?
            },
            only_v6: if entry.ipv6 {
                Some(sock.only_v6()?)
            } else {
                None
            },
        })
    }

    fn token(&self, slot: usize) -> Token {
        Token(self.first_token + slot)
    }

    /// Puts `entry` in a free slot and returns the slot's index.
    fn allocate(&mut self, entry: Slot) -> Result<usize, NetError> {
        let index = self
            .slots
            .iter()
            .position(|s| matches!(s, Slot::Free))
            .ok_or(NetError::NoFreeSlot)?;
        self.slots[index] = entry;
        Ok(index)
    }

    fn tcp_entry(&mut self, slot: usize) -> Result<&mut TcpEntry, NetError> {
        match self.slots.get_mut(slot) {
            Some(Slot::Tcp(entry)) => Ok(entry),
            _ => Err(NetError::BadHandle),
        }
    }

    fn udp_entry(&mut self, slot: usize) -> Result<&mut UdpEntry, NetError> {
        match self.slots.get_mut(slot) {
            Some(Slot::Udp(entry)) => Ok(entry),
            _ => Err(NetError::BadHandle),
        }
    }

    /// Creates the OS socket of a TCP slot for `addr`'s family if there is none yet
    /// (applying the remembered options and registering it); checks the family if
    /// there is one.
    fn ensure_tcp_socket(&mut self, slot: usize, addr: &SocketAddr) -> Result<(), NetError> {
        let token = self.token(slot);
        let Self {
            registry, slots, ..
        } = self;
        let Some(Slot::Tcp(entry)) = slots.get_mut(slot) else {
            return Err(NetError::BadHandle);
        };
        if entry.socket.is_some() {
            return if entry.ipv6 == addr.is_ipv6() {
                Ok(())
            } else {
                Err(NetError::AddressFamily)
            };
        }
        let socket = new_socket(addr, Type::STREAM, Protocol::TCP)?;
        entry.options.apply_all(&socket)?;
        register(registry, &socket, token)?;
        entry.ipv6 = addr.is_ipv6();
        entry.socket = Some(socket);
        Ok(())
    }

    /// As [`StdStack::ensure_tcp_socket`], for UDP.
    fn ensure_udp_socket(&mut self, slot: usize, addr: &SocketAddr) -> Result<(), NetError> {
        let token = self.token(slot);
        let Self {
            registry, slots, ..
        } = self;
        let Some(Slot::Udp(entry)) = slots.get_mut(slot) else {
            return Err(NetError::BadHandle);
        };
        if entry.socket.is_some() {
            return if entry.ipv6 == addr.is_ipv6() {
                Ok(())
            } else {
                Err(NetError::AddressFamily)
            };
        }
        let socket = new_socket(addr, Type::DGRAM, Protocol::UDP)?;
        if let Some(on) = entry.broadcast {
            socket.set_broadcast(on)?;
        }
        register(registry, &socket, token)?;
        entry.ipv6 = addr.is_ipv6();
        entry.socket = Some(socket.into());
        Ok(())
    }

    /// Empties a slot: deregisters and closes its OS socket.
    fn release_slot(&mut self, slot: usize) -> Result<(), NetError> {
        let entry = match self.slots.get_mut(slot) {
            Some(s) => std::mem::replace(s, Slot::Free),
            None => return Err(NetError::BadHandle),
        };
        let deregistered = match entry {
            Slot::Free => Ok(()),
            Slot::Tcp(TcpEntry { socket: None, .. }) | Slot::Udp(UdpEntry { socket: None, .. }) => {
                Ok(())
            }
            Slot::Tcp(TcpEntry {
                socket: Some(socket),
                tls,
                ..
            }) => {
                let r = deregister(&self.registry, &socket);
                if let Some(mut tls) = tls {
                    tls.close_notify();
                }
                close_tcp(socket);
                r
            }
            Slot::Udp(UdpEntry {
                socket: Some(socket),
                ..
            }) => deregister(&self.registry, &socket),
        };
        deregistered.map_err(NetError::Io)
    }

    /// Checks on a connect under way; moves to `Connected` or `Failed`.
    fn finish_connect(&mut self, slot: usize) -> nb::Result<(), NetError> {
        let entry = self.tcp_entry(slot)?;
        let socket = entry
            .socket
            .as_ref()
            .ok_or(NetError::InvalidState("no socket"))?;
        match socket.take_error() {
            Ok(None) => {}
            Ok(Some(e)) | Err(e) => {
                entry.state = TcpState::Failed;
                return Err(nb::Error::Other(NetError::Io(e)));
            }
        }
        match socket.peer_addr() {
            Ok(_) => {
                entry.state = TcpState::Connected;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Err(nb::Error::WouldBlock),
            Err(e) => {
                entry.state = TcpState::Failed;
                Err(nb::Error::Other(NetError::Io(e)))
            }
        }
    }

    /// The socket of a TCP slot that is connected, finishing a connect under way first.
    fn connected_socket(&mut self, slot: usize) -> nb::Result<&Socket, NetError> {
        if self.tcp_entry(slot)?.state == TcpState::Connecting {
            self.finish_connect(slot)?;
        }
        let entry = self.tcp_entry(slot)?;
        match (entry.state, entry.socket.as_ref()) {
            (TcpState::Connected, Some(socket)) => Ok(socket),
            _ => Err(nb::Error::Other(NetError::InvalidState(
                "socket is not connected",
            ))),
        }
    }
}

impl StdStack {
    /// The TLS session of a connected slot, if it has one; an error while its handshake
    /// is not done.
    fn ready_tls(&mut self, slot: usize) -> nb::Result<Option<&mut TlsSession>, NetError> {
        let entry = self.tcp_entry(slot)?;
        match entry.tls.as_deref_mut() {
            None => Ok(None),
            Some(tls) if tls.is_ready() => Ok(Some(tls)),
            Some(_) => Err(nb::Error::Other(NetError::InvalidState(
                "the TLS handshake is not complete",
            ))),
        }
    }

    /// A duplicate descriptor of a connected slot's socket, for a TLS session, and
    /// checks that none runs on it yet.
    fn tls_socket(&mut self, slot: usize) -> Result<Socket, TlsError> {
        let entry = self.tcp_entry(slot).map_err(|_| TlsError::InvalidState)?;
        match (entry.state, entry.socket.as_ref(), entry.tls.is_some()) {
            (TcpState::Connected, Some(socket), false) => {
                socket.try_clone().map_err(|_| TlsError::Resources)
            }
            _ => Err(TlsError::InvalidState),
        }
    }
}

/// SSL links: OpenSSL sessions on the stack's sockets ([`crate::tls`]), with the
/// certificates of [`StdStack::set_pki`].
impl TlsStack for StdStack {
    fn tls_connect(
        &mut self,
        socket: &mut TcpHandle,
        config: &ClientConfig<'_>,
    ) -> Result<(), TlsError> {
        let dup = self.tls_socket(socket.slot)?;
        let session = TlsSession::connect(dup, config, &self.pki)?;
        let entry = self
            .tcp_entry(socket.slot)
            .map_err(|_| TlsError::InvalidState)?;
        entry.tls = Some(Box::new(session));
        Ok(())
    }

    fn tls_accept(
        &mut self,
        socket: &mut TcpHandle,
        config: &ServerConfig,
    ) -> Result<(), TlsError> {
        let dup = self.tls_socket(socket.slot)?;
        let session = TlsSession::accept(dup, config, &self.pki)?;
        let entry = self
            .tcp_entry(socket.slot)
            .map_err(|_| TlsError::InvalidState)?;
        entry.tls = Some(Box::new(session));
        Ok(())
    }

    fn tls_handshake(&mut self, socket: &mut TcpHandle) -> nb::Result<(), TlsError> {
        let entry = self
            .tcp_entry(socket.slot)
            .map_err(|_| TlsError::InvalidState)?;
        match entry.tls.as_deref_mut() {
            Some(tls) => tls.handshake(),
            None => Err(nb::Error::Other(TlsError::InvalidState)),
        }
    }

    fn tls_server_ready(&mut self, verify_clients: bool) -> Result<(), TlsError> {
        crate::tls::server_ready(&self.pki, verify_clients)
    }
}

impl Drop for StdStack {
    fn drop(&mut self) {
        for slot in 0..self.slots.len() {
            // Nothing to report to: the sockets are closed either way.
            let _ = self.release_slot(slot);
        }
    }
}

/// A new non-blocking socket of `addr`'s family; IPv6 sockets are `IPV6_V6ONLY`.
fn new_socket(addr: &SocketAddr, ty: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(*addr), ty, Some(protocol))?;
    socket.set_nonblocking(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    Ok(socket)
}

fn register(registry: &Registry, socket: &impl AsRawFd, token: Token) -> io::Result<()> {
    registry.register(
        &mut SourceFd(&socket.as_raw_fd()),
        token,
        Interest::READABLE | Interest::WRITABLE,
    )
}

fn deregister(registry: &Registry, socket: &impl AsRawFd) -> io::Result<()> {
    registry.deregister(&mut SourceFd(&socket.as_raw_fd()))
}

/// Closes a TCP socket without blocking the caller (see the module documentation).
fn close_tcp(socket: Socket) {
    let lingers = matches!(socket.linger(), Ok(Some(t)) if !t.is_zero());
    if lingers {
        // If the thread cannot be started, the closure (and with it the socket) is
        // dropped here, which closes it in place: slower, but still closed.
        let _ = std::thread::Builder::new()
            .name("at-linger-close".into())
            .spawn(move || drop(socket));
    }
}

/// The `ioctl` wrapper, kept in a private module: the macro makes a `pub` function.
#[allow(unsafe_code)]
mod ioctl {
    nix::ioctl_read_bad!(
        /// `ioctl(fd, FIONREAD, &mut c_int)`: bytes waiting to be read.
        fionread,
        nix::libc::FIONREAD,
        nix::libc::c_int
    );
}

/// Bytes waiting in a socket's receive queue (`FIONREAD`).
#[allow(unsafe_code)]
fn bytes_available(socket: &Socket) -> io::Result<usize> {
    let mut count: nix::libc::c_int = 0;
    // SAFETY: FIONREAD stores one `c_int` through its argument; `count` is a live,
    // aligned `c_int` for the whole call, and the descriptor belongs to `socket`,
    // which is borrowed (so open) for the whole call.
    unsafe { ioctl::fionread(socket.as_raw_fd(), &raw mut count) }.map_err(io::Error::from)?;
    Ok(usize::try_from(count).unwrap_or(0))
}

impl TcpClientStack for StdStack {
    type TcpSocket = TcpHandle;
    type Error = NetError;

    /// A new TCP socket; the OS socket is created at `connect` or bind time.
    fn socket(&mut self) -> Result<TcpHandle, NetError> {
        let slot = self.allocate(Slot::Tcp(TcpEntry {
            socket: None,
            ipv6: false,
            state: TcpState::Idle,
            options: TcpOptions::default(),
            tls: None,
        }))?;
        Ok(TcpHandle { slot })
    }

    /// The first call creates the socket if needed and starts a non-blocking connect
    /// (`WouldBlock` while it is under way); later calls report its outcome (`SO_ERROR`,
    /// then `getpeername`): `Ok` once connected, or the error (connection refused, ...)
    /// once. After a failure the socket must be closed.
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
        self.ensure_tcp_socket(slot, &remote)?;
        let entry = self.tcp_entry(slot)?;
        let outcome = match entry.socket.as_ref() {
            Some(s) => s.connect(&SockAddr::from(remote)),
            None => return Err(nb::Error::Other(NetError::InvalidState("no socket"))),
        };
        match outcome {
            Ok(()) => {
                entry.state = TcpState::Connected;
                Ok(())
            }
            Err(e)
                if e.raw_os_error() == Some(nix::libc::EINPROGRESS)
                    || e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                entry.state = TcpState::Connecting;
                Err(nb::Error::WouldBlock)
            }
            Err(e) => {
                entry.state = TcpState::Failed;
                Err(nb::Error::Other(NetError::Io(e)))
            }
        }
    }

    /// Sends what the socket buffer takes now (`MSG_NOSIGNAL`: a closed peer is an
    /// error, never a signal).
    fn send(&mut self, socket: &mut TcpHandle, buffer: &[u8]) -> nb::Result<usize, NetError> {
        if let Some(tls) = self.ready_tls(socket.slot)? {
            return tls.send(buffer).map_err(|e| e.map(NetError::Io));
        }
        let sock = self.connected_socket(socket.slot)?;
        if buffer.is_empty() {
            return Ok(0);
        }
        sock.send_with_flags(buffer, nix::libc::MSG_NOSIGNAL)
            .map_err(nb_io)
    }

    /// Reads what has arrived; `Ok(0)` (for a non-empty buffer) at end of stream.
    fn receive(
        &mut self,
        socket: &mut TcpHandle,
        buffer: &mut [u8],
    ) -> nb::Result<usize, NetError> {
        if let Some(tls) = self.ready_tls(socket.slot)? {
            return tls.receive(buffer).map_err(|e| e.map(NetError::Io));
        }
        let mut sock = self.connected_socket(socket.slot)?;
        sock.read(buffer).map_err(nb_io)
    }

    /// Deregisters and closes the OS socket and frees the slot.
    fn close(&mut self, socket: TcpHandle) -> Result<(), NetError> {
        self.tcp_entry(socket.slot)?;
        self.release_slot(socket.slot)
    }
}

impl TcpFullStack for StdStack {
    /// Binds to `0.0.0.0:local_port` (use [`TcpExt::tcp_bind_to`] for IPv6 or a
    /// specific address).
    fn bind(&mut self, socket: &mut TcpHandle, local_port: u16) -> Result<(), NetError> {
        self.tcp_bind_to(
            socket,
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, local_port)),
        )
    }

    /// Listens (backlog [`LISTEN_BACKLOG`]) on a bound socket.
    fn listen(&mut self, socket: &mut TcpHandle) -> Result<(), NetError> {
        let entry = self.tcp_entry(socket.slot)?;
        match (entry.state, entry.socket.as_ref()) {
            (TcpState::Bound, Some(sock)) => {
                sock.listen(LISTEN_BACKLOG)?;
                entry.state = TcpState::Listening;
                Ok(())
            }
            (TcpState::Listening, _) => Ok(()),
            _ => Err(NetError::InvalidState("listen needs a bound socket")),
        }
    }

    /// Takes the next pending connection as a new non-blocking socket in a slot of
    /// its own. With every slot in use the connection is accepted and closed at once
    /// (the client sees it reset) and the error is [`NetError::NoFreeSlot`].
    fn accept(&mut self, socket: &mut TcpHandle) -> nb::Result<(TcpHandle, SocketAddr), NetError> {
        let entry = self.tcp_entry(socket.slot)?;
        let (TcpState::Listening, Some(listener)) = (entry.state, entry.socket.as_ref()) else {
            return Err(nb::Error::Other(NetError::InvalidState(
                "accept needs a listening socket",
            )));
        };
        let (conn, remote) = loop {
            match listener.accept() {
                Ok(pair) => break pair,
                // The client gave up before we got to it: try the next one.
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(e) => return Err(nb_io(e)),
            }
        };
        conn.set_nonblocking(true).map_err(NetError::Io)?;
        let remote = remote.as_socket().ok_or(NetError::InvalidState(
            "accepted a connection without an IP address",
        ))?;
        let slot = self.allocate(Slot::Tcp(TcpEntry {
            socket: None,
            ipv6: remote.is_ipv6(),
            state: TcpState::Connected,
            options: TcpOptions::default(),
            tls: None,
        }))?;
        if let Err(e) = register(&self.registry, &conn, self.token(slot)) {
            self.slots[slot] = Slot::Free;
            return Err(nb::Error::Other(NetError::Io(e)));
        }
        if let Slot::Tcp(entry) = &mut self.slots[slot] {
            entry.socket = Some(conn);
        }
        Ok((TcpHandle { slot }, remote))
    }
}

impl TcpExt for StdStack {
    /// Creates the socket for `local`'s family (IPv6: `IPV6_V6ONLY`), sets
    /// `SO_REUSEADDR` and binds. Allowed once, before `connect` or `listen`.
    fn tcp_bind_to(&mut self, socket: &mut TcpHandle, local: SocketAddr) -> Result<(), NetError> {
        let entry = self.tcp_entry(socket.slot)?;
        if entry.state != TcpState::Idle || entry.socket.is_some() {
            return Err(NetError::InvalidState("socket is already bound or in use"));
        }
        self.ensure_tcp_socket(socket.slot, &local)?;
        let entry = self.tcp_entry(socket.slot)?;
        let sock = entry
            .socket
            .as_ref()
            .ok_or(NetError::InvalidState("no socket"))?;
        sock.set_reuse_address(true)?;
        sock.bind(&SockAddr::from(local))?;
        entry.state = TcpState::Bound;
        Ok(())
    }

    /// Applies the option now if the OS socket exists, and remembers it for when it
    /// is created otherwise. Two kernel facts show through: `SO_SNDTIMEO`
    /// ([`TcpOption::SendTimeout`]) is set and reads back, but a non-blocking send never
    /// waits, so it has no effect on `send`; and `TCP_KEEPIDLE` must be 1 to 32767
    /// seconds, so `KeepAlive(Some(0))` fails with `EINVAL`.
    fn tcp_set_option(
        &mut self,
        socket: &mut TcpHandle,
        option: TcpOption,
    ) -> Result<(), NetError> {
        let entry = self.tcp_entry(socket.slot)?;
        entry.options.remember(option);
        if let Some(sock) = entry.socket.as_ref() {
            apply_tcp_option(sock, option)?;
        }
        Ok(())
    }

    /// `getsockname`, or `None` while the socket has no port.
    fn tcp_local_addr(&mut self, socket: &TcpHandle) -> Option<SocketAddr> {
        let entry = self.tcp_entry(socket.slot).ok()?;
        let local = entry.socket.as_ref()?.local_addr().ok()?.as_socket()?;
        (local.port() != 0).then_some(local)
    }

    /// `FIONREAD` of a connected socket; 0 in any other state. For an SSL socket: the
    /// plaintext decrypted so far (see [`crate::tls::TlsSession::available`]).
    fn tcp_available(&mut self, socket: &mut TcpHandle) -> Result<usize, NetError> {
        match self.ready_tls(socket.slot) {
            Ok(Some(tls)) => return Ok(tls.available()?),
            Ok(None) => {}
            Err(_) => return Ok(0),
        }
        let entry = self.tcp_entry(socket.slot)?;
        match (entry.state, entry.socket.as_ref()) {
            (TcpState::Connected, Some(sock)) => Ok(bytes_available(sock)?),
            _ => Ok(0),
        }
    }
}

impl UdpClientStack for StdStack {
    type UdpSocket = UdpHandle;
    type Error = NetError;

    /// A new UDP socket; the OS socket is created when its family is known.
    fn socket(&mut self) -> Result<UdpHandle, NetError> {
        let slot = self.allocate(Slot::Udp(UdpEntry {
            socket: None,
            ipv6: false,
            peer: None,
            broadcast: None,
        }))?;
        Ok(UdpHandle { slot })
    }

    /// Remembers `remote` as the destination of `send` (creating the socket for its
    /// family if needed). The socket is not `connect(2)`ed: `receive` still takes
    /// datagrams from any sender, as the module's UDP links do.
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

    /// Takes one datagram (`WouldBlock` when none is waiting). A datagram longer
    /// than `buffer` is truncated to it.
    fn receive(
        &mut self,
        socket: &mut UdpHandle,
        buffer: &mut [u8],
    ) -> nb::Result<(usize, SocketAddr), NetError> {
        match self.udp_entry(socket.slot)?.socket.as_ref() {
            Some(sock) => sock.recv_from(buffer).map_err(nb_io),
            None => Err(nb::Error::WouldBlock),
        }
    }

    /// Deregisters and closes the OS socket and frees the slot.
    fn close(&mut self, socket: UdpHandle) -> Result<(), NetError> {
        self.udp_entry(socket.slot)?;
        self.release_slot(socket.slot)
    }
}

impl UdpFullStack for StdStack {
    /// Binds to `0.0.0.0:local_port`, or `[::]:local_port` when the socket already
    /// exists as an IPv6 one.
    fn bind(&mut self, socket: &mut UdpHandle, local_port: u16) -> Result<(), NetError> {
        let entry = self.udp_entry(socket.slot)?;
        let ip = if entry.socket.is_some() && entry.ipv6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        self.udp_bind_to(socket, SocketAddr::new(ip, local_port))
    }

    /// Sends one datagram to `remote` (creating the socket for its family if needed).
    fn send_to(
        &mut self,
        socket: &mut UdpHandle,
        remote: SocketAddr,
        buffer: &[u8],
    ) -> nb::Result<(), NetError> {
        self.ensure_udp_socket(socket.slot, &remote)?;
        match self.udp_entry(socket.slot)?.socket.as_ref() {
            Some(sock) => sock.send_to(buffer, remote).map(|_| ()).map_err(nb_io),
            None => Err(nb::Error::Other(NetError::InvalidState("no socket"))),
        }
    }
}

impl UdpExt for StdStack {
    /// Creates the socket for `local`'s family if needed, sets `SO_REUSEADDR` and
    /// binds.
    fn udp_bind_to(&mut self, socket: &mut UdpHandle, local: SocketAddr) -> Result<(), NetError> {
        self.ensure_udp_socket(socket.slot, &local)?;
        let sock = self
            .udp_entry(socket.slot)?
            .socket
            .as_ref()
            .ok_or(NetError::InvalidState("no socket"))?;
        let sock = SockRef::from(sock);
        sock.set_reuse_address(true)?;
        sock.bind(&SockAddr::from(local))?;
        Ok(())
    }

    /// IPv4: `IP_ADD_MEMBERSHIP` on the interface set with
    /// [`StdStack::set_multicast_interface_v4`] (default `INADDR_ANY`) and
    /// `IP_MULTICAST_LOOP` on. IPv6: `IPV6_ADD_MEMBERSHIP` on the interface set with
    /// [`StdStack::set_multicast_interface_v6`] (default 0) and
    /// `IPV6_MULTICAST_LOOP` on. Creates the socket for the group's family if needed.
    fn udp_join_multicast(
        &mut self,
        socket: &mut UdpHandle,
        group: IpAddr,
    ) -> Result<(), NetError> {
        let (if_v4, if_v6) = (self.multicast_if_v4, self.multicast_if_v6);
        self.ensure_udp_socket(socket.slot, &SocketAddr::new(group, 0))?;
        let sock = self
            .udp_entry(socket.slot)?
            .socket
            .as_ref()
            .ok_or(NetError::InvalidState("no socket"))?;
        let sock = SockRef::from(sock);
        match group {
            IpAddr::V4(group) => {
                sock.join_multicast_v4(&group, &if_v4)?;
                sock.set_multicast_loop_v4(true)?;
                if !if_v4.is_unspecified() {
                    sock.set_multicast_if_v4(&if_v4)?;
                }
            }
            IpAddr::V6(group) => {
                sock.join_multicast_v6(&group, if_v6)?;
                sock.set_multicast_loop_v6(true)?;
                if if_v6 != 0 {
                    sock.set_multicast_if_v6(if_v6)?;
                }
            }
        }
        Ok(())
    }

    /// `SO_BROADCAST`; remembered until the socket exists.
    fn udp_set_broadcast(&mut self, socket: &mut UdpHandle, on: bool) -> Result<(), NetError> {
        let entry = self.udp_entry(socket.slot)?;
        entry.broadcast = Some(on);
        if let Some(sock) = entry.socket.as_ref() {
            sock.set_broadcast(on)?;
        }
        Ok(())
    }

    /// `getsockname`, or `None` while the socket has no port.
    fn udp_local_addr(&mut self, socket: &UdpHandle) -> Option<SocketAddr> {
        let entry = self.udp_entry(socket.slot).ok()?;
        let local = entry.socket.as_ref()?.local_addr().ok()?;
        (local.port() != 0).then_some(local)
    }

    /// `FIONREAD` on the UDP socket: Linux reports the next datagram's length (udp(7)).
    fn udp_next_len(&mut self, socket: &mut UdpHandle) -> Option<usize> {
        let entry = self.udp_entry(socket.slot).ok()?;
        match entry.socket.as_ref() {
            Some(sock) => bytes_available(&SockRef::from(sock)).ok(),
            None => Some(0),
        }
    }
}

impl Dns for StdStack {
    type Error = NetError;

    /// Numeric addresses are parsed; names are resolved with `getaddrinfo`, which
    /// blocks (see the module documentation). `Either` prefers an IPv4 address. The
    /// error is [`NetError::HostNotFound`] for a failed lookup or no address of the
    /// requested type.
    fn get_host_by_name(
        &mut self,
        hostname: &str,
        addr_type: AddrType,
    ) -> nb::Result<IpAddr, NetError> {
        resolve(hostname, &addr_type).map_err(nb::Error::Other)
    }

    /// Reverse lookups are not supported: always [`NetError::Unsupported`].
    fn get_host_by_address(
        &mut self,
        _addr: IpAddr,
        _result: &mut [u8],
    ) -> nb::Result<usize, NetError> {
        Err(nb::Error::Other(NetError::Unsupported))
    }
}

/// Whether `ip` is of the requested type.
fn wanted(ip: &IpAddr, addr_type: &AddrType) -> bool {
    match addr_type {
        AddrType::IPv4 => ip.is_ipv4(),
        AddrType::IPv6 => ip.is_ipv6(),
        AddrType::Either => true,
    }
}

fn resolve(hostname: &str, addr_type: &AddrType) -> Result<IpAddr, NetError> {
    if let Ok(ip) = hostname.parse::<IpAddr>() {
        return if wanted(&ip, addr_type) {
            Ok(ip)
        } else {
            Err(NetError::HostNotFound)
        };
    }
    if hostname.is_empty() {
        return Err(NetError::HostNotFound);
    }
    let addrs: Vec<IpAddr> = (hostname, 0u16)
        .to_socket_addrs()
        .map_err(|_| NetError::HostNotFound)?
        .map(|a| a.ip())
        .collect();
    let pick = match addr_type {
        AddrType::Either => addrs
            .iter()
            .find(|ip| ip.is_ipv4())
            .or_else(|| addrs.first()),
        _ => addrs.iter().find(|ip| wanted(ip, addr_type)),
    };
    pick.copied().ok_or(NetError::HostNotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::time::Instant;

    /// Generous: these are loopback operations that normally take microseconds.
    const TIMEOUT: Duration = Duration::from_secs(10);
    /// Tokens of the stack under test; test-side sockets use [`PEER_TOKEN`].
    const FIRST_TOKEN: usize = 100;
    const PEER_TOKEN: Token = Token(7);

    const LOCAL_V4: Ipv4Addr = Ipv4Addr::LOCALHOST;
    const LOCAL_V6: Ipv6Addr = Ipv6Addr::LOCALHOST;

    fn setup() -> (Poll, StdStack) {
        let poll = Poll::new().unwrap();
        let stack = StdStack::new(poll.registry().try_clone().unwrap(), FIRST_TOKEN);
        (poll, stack)
    }

    /// Calls `f` until it stops returning `WouldBlock`, sleeping in `poll` in between.
    /// Every socket whose readiness matters is registered with `poll`, and `f` runs
    /// after every wake-up, so no edge is missed.
    fn wait<T, E>(poll: &mut Poll, mut f: impl FnMut() -> nb::Result<T, E>) -> Result<T, E> {
        let deadline = Instant::now() + TIMEOUT;
        let mut events = Events::with_capacity(64);
        loop {
            match f() {
                Ok(v) => return Ok(v),
                Err(nb::Error::Other(e)) => return Err(e),
                Err(nb::Error::WouldBlock) => {}
            }
            let now = Instant::now();
            assert!(now < deadline, "timed out waiting for readiness");
            poll.poll(&mut events, Some(deadline - now)).unwrap();
        }
    }

    /// An `io::Result` of a non-blocking std socket as an `nb::Result`.
    fn nbio<T>(r: io::Result<T>) -> nb::Result<T, io::Error> {
        r.map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock => nb::Error::WouldBlock,
            _ => nb::Error::Other(e),
        })
    }

    /// A non-blocking std listener registered with `poll` (so accepting can be
    /// awaited).
    fn listener(poll: &Poll, ip: IpAddr) -> TcpListener {
        let l = TcpListener::bind((ip, 0)).unwrap();
        l.set_nonblocking(true).unwrap();
        register(poll.registry(), &l, PEER_TOKEN).unwrap();
        l
    }

    /// Accepts on a listener made by [`listener`]; the stream is blocking, with
    /// timeouts so that a bug fails the test instead of hanging it.
    fn accept_peer(poll: &mut Poll, l: &TcpListener) -> (TcpStream, SocketAddr) {
        let (s, a) = wait(poll, || nbio(l.accept())).unwrap();
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s.set_write_timeout(Some(TIMEOUT)).unwrap();
        (s, a)
    }

    /// A blocking std UDP peer with a receive timeout.
    fn udp_peer(ip: IpAddr) -> UdpSocket {
        let s = UdpSocket::bind((ip, 0)).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s
    }

    /// Connects a new stack socket to `remote`, waiting for completion.
    fn connect(poll: &mut Poll, stack: &mut StdStack, remote: SocketAddr) -> TcpHandle {
        let mut s = TcpClientStack::socket(stack).unwrap();
        wait(poll, || TcpClientStack::connect(stack, &mut s, remote)).unwrap();
        s
    }

    fn recv_exact(poll: &mut Poll, stack: &mut StdStack, s: &mut TcpHandle, n: usize) -> Vec<u8> {
        let mut got = Vec::new();
        while got.len() < n {
            let mut buf = [0u8; 256];
            let k = wait(poll, || TcpClientStack::receive(stack, s, &mut buf)).unwrap();
            assert_ne!(k, 0, "unexpected end of stream after {got:?}");
            got.extend_from_slice(&buf[..k]);
        }
        got
    }

    fn send_all(poll: &mut Poll, stack: &mut StdStack, s: &mut TcpHandle, data: &[u8]) {
        let mut sent = 0;
        while sent < data.len() {
            sent += wait(poll, || TcpClientStack::send(stack, s, &data[sent..])).unwrap();
        }
    }

    /// A connected pair: (stack socket, std peer).
    fn connected_pair(poll: &mut Poll, stack: &mut StdStack, ip: IpAddr) -> (TcpHandle, TcpStream) {
        let l = listener(poll, ip);
        let s = connect(poll, stack, l.local_addr().unwrap());
        let (peer, _) = accept_peer(poll, &l);
        (s, peer)
    }

    fn exchange(poll: &mut Poll, stack: &mut StdStack, s: &mut TcpHandle, peer: &mut TcpStream) {
        send_all(poll, stack, s, b"hello from the stack");
        let mut buf = [0u8; 20];
        peer.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello from the stack");
        peer.write_all(b"hello from the peer").unwrap();
        assert_eq!(recv_exact(poll, stack, s, 19), b"hello from the peer");
    }

    fn ipv6_available() -> bool {
        match TcpListener::bind((LOCAL_V6, 0)) {
            Ok(_) => true,
            Err(e) => {
                eprintln!("SKIPPED: no IPv6 loopback (::1): {e}");
                false
            }
        }
    }

    #[test]
    fn tcp_client_exchanges_bytes_both_ways() {
        let (mut poll, mut stack) = setup();
        let l = listener(&poll, LOCAL_V4.into());
        let mut s = TcpClientStack::socket(&mut stack).unwrap();
        assert_eq!(
            stack.tcp_local_addr(&s),
            None,
            "no OS socket before connect"
        );
        wait(&mut poll, || {
            TcpClientStack::connect(&mut stack, &mut s, l.local_addr().unwrap())
        })
        .unwrap();
        // Connecting again once connected is a no-op.
        assert!(TcpClientStack::connect(&mut stack, &mut s, l.local_addr().unwrap()).is_ok());
        let (mut peer, from) = accept_peer(&mut poll, &l);
        assert_eq!(stack.tcp_local_addr(&s), Some(from));
        exchange(&mut poll, &mut stack, &mut s, &mut peer);
        let mut buf = [0u8; 8];
        assert!(matches!(
            TcpClientStack::receive(&mut stack, &mut s, &mut buf),
            Err(nb::Error::WouldBlock)
        ));
        TcpClientStack::close(&mut stack, s).unwrap();
        assert_eq!(stack.open_sockets(), 0);
        // Closing released the OS socket: the peer sees end of stream.
        assert_eq!(peer.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn tcp_connect_from_a_bound_address() {
        let (mut poll, mut stack) = setup();
        let l = listener(&poll, LOCAL_V4.into());
        let mut s = TcpClientStack::socket(&mut stack).unwrap();
        stack
            .tcp_bind_to(&mut s, SocketAddr::from((LOCAL_V4, 0)))
            .unwrap();
        let local = stack.tcp_local_addr(&s).unwrap();
        assert_eq!(local.ip(), IpAddr::V4(LOCAL_V4));
        wait(&mut poll, || {
            TcpClientStack::connect(&mut stack, &mut s, l.local_addr().unwrap())
        })
        .unwrap();
        let (_peer, from) = accept_peer(&mut poll, &l);
        assert_eq!(from, local);
        // A bound IPv4 socket cannot connect to an IPv6 address.
        let mut t = TcpClientStack::socket(&mut stack).unwrap();
        stack
            .tcp_bind_to(&mut t, SocketAddr::from((LOCAL_V4, 0)))
            .unwrap();
        assert!(matches!(
            TcpClientStack::connect(&mut stack, &mut t, SocketAddr::from((LOCAL_V6, 1))),
            Err(nb::Error::Other(NetError::AddressFamily))
        ));
    }

    #[test]
    fn tcp_connection_refused_is_an_error() {
        let (mut poll, mut stack) = setup();
        // A bound but not listening socket: the kernel answers SYNs with a reset, and
        // nothing else can take the port while we hold it.
        let closed = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        closed
            .bind(&SocketAddr::from((LOCAL_V4, 0)).into())
            .unwrap();
        let target = closed.local_addr().unwrap().as_socket().unwrap();
        let mut s = TcpClientStack::socket(&mut stack).unwrap();
        let err = wait(&mut poll, || {
            TcpClientStack::connect(&mut stack, &mut s, target)
        })
        .unwrap_err();
        assert_eq!(
            err.io_error().map(io::Error::kind),
            Some(io::ErrorKind::ConnectionRefused),
            "{err:?}"
        );
        // The failure is final.
        assert!(matches!(
            TcpClientStack::connect(&mut stack, &mut s, target),
            Err(nb::Error::Other(NetError::InvalidState(_)))
        ));
        assert!(TcpClientStack::send(&mut stack, &mut s, b"x").is_err());
        TcpClientStack::close(&mut stack, s).unwrap();
    }

    #[test]
    fn tcp_peer_close_gives_data_then_end_of_stream() {
        let (mut poll, mut stack) = setup();
        let (mut s, mut peer) = connected_pair(&mut poll, &mut stack, LOCAL_V4.into());
        peer.write_all(b"bye").unwrap();
        drop(peer);
        assert_eq!(recv_exact(&mut poll, &mut stack, &mut s, 3), b"bye");
        let mut buf = [0u8; 16];
        let n = wait(&mut poll, || {
            TcpClientStack::receive(&mut stack, &mut s, &mut buf)
        });
        assert_eq!(n.unwrap(), 0);
        // End of stream stays end of stream.
        assert_eq!(
            TcpClientStack::receive(&mut stack, &mut s, &mut buf).unwrap(),
            0
        );
    }

    #[test]
    fn tcp_reset_is_pipe_closed() {
        let (mut poll, mut stack) = setup();
        let (mut s, peer) = connected_pair(&mut poll, &mut stack, LOCAL_V4.into());
        // SO_LINGER with time 0: closing sends a reset.
        SockRef::from(&peer)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(peer);
        let mut buf = [0u8; 16];
        let err = wait(&mut poll, || {
            TcpClientStack::receive(&mut stack, &mut s, &mut buf)
        })
        .unwrap_err();
        assert_eq!(err.kind(), TcpErrorKind::PipeClosed, "{err:?}");
        // Sending on the reset connection: EPIPE, also PipeClosed (and no SIGPIPE).
        let err = wait(&mut poll, || TcpClientStack::send(&mut stack, &mut s, b"x")).unwrap_err();
        assert_eq!(err.kind(), TcpErrorKind::PipeClosed, "{err:?}");
    }

    #[test]
    fn tcp_server_accepts_two_clients() {
        let (mut poll, mut stack) = setup();
        let mut server = TcpClientStack::socket(&mut stack).unwrap();
        stack
            .tcp_bind_to(&mut server, SocketAddr::from((LOCAL_V4, 0)))
            .unwrap();
        stack.listen(&mut server).unwrap();
        let addr = stack.tcp_local_addr(&server).unwrap();
        assert!(matches!(
            stack.accept(&mut server),
            Err(nb::Error::WouldBlock)
        ));
        let mut clients: Vec<TcpStream> = (0..2)
            .map(|_| {
                let c = TcpStream::connect(addr).unwrap();
                c.set_read_timeout(Some(TIMEOUT)).unwrap();
                c
            })
            .collect();
        for (i, client) in clients.iter_mut().enumerate() {
            let (mut conn, remote) = wait(&mut poll, || stack.accept(&mut server)).unwrap();
            assert_eq!(remote, client.local_addr().unwrap());
            assert_ne!(conn.slot(), server.slot());
            // Accepted sockets are non-blocking.
            let mut buf = [0u8; 4];
            assert!(matches!(
                TcpClientStack::receive(&mut stack, &mut conn, &mut buf),
                Err(nb::Error::WouldBlock)
            ));
            let msg = [b"ab"[i]; 3];
            client.write_all(&msg).unwrap();
            assert_eq!(recv_exact(&mut poll, &mut stack, &mut conn, 3), msg);
            send_all(&mut poll, &mut stack, &mut conn, b"ok");
            let mut back = [0u8; 2];
            client.read_exact(&mut back).unwrap();
            assert_eq!(&back, b"ok");
        }
        assert_eq!(stack.open_sockets(), 3);
        assert!(stack.tcp_options(&server).unwrap().reuse_address);
    }

    #[test]
    fn tcp_bind_port_is_the_ipv4_wildcard() {
        let (mut poll, mut stack) = setup();
        let mut server = TcpClientStack::socket(&mut stack).unwrap();
        assert!(stack.listen(&mut server).is_err(), "listen before bind");
        TcpFullStack::bind(&mut stack, &mut server, 0).unwrap();
        let local = stack.tcp_local_addr(&server).unwrap();
        assert_eq!(local.ip(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_ne!(local.port(), 0);
        stack.listen(&mut server).unwrap();
        let _client = TcpStream::connect((LOCAL_V4, local.port())).unwrap();
        let (_conn, remote) = wait(&mut poll, || stack.accept(&mut server)).unwrap();
        assert_eq!(remote.ip(), IpAddr::V4(LOCAL_V4));
    }

    #[test]
    fn tcp_close_releases_the_port_and_the_slot() {
        let (_poll, mut stack) = setup();
        let mut server = TcpClientStack::socket(&mut stack).unwrap();
        stack
            .tcp_bind_to(&mut server, SocketAddr::from((LOCAL_V4, 0)))
            .unwrap();
        stack.listen(&mut server).unwrap();
        let addr = stack.tcp_local_addr(&server).unwrap();
        let slot = server.slot();
        assert!(stack.owns_token(stack.tcp_token(&server)));
        TcpClientStack::close(&mut stack, server).unwrap();
        TcpListener::bind(addr).expect("port released by close");
        let again = TcpClientStack::socket(&mut stack).unwrap();
        assert_eq!(again.slot(), slot, "slot reused");
    }

    #[test]
    fn slots_run_out() {
        let poll = Poll::new().unwrap();
        let mut stack = StdStack::with_max_sockets(poll.registry().try_clone().unwrap(), 5, 2);
        assert_eq!(stack.tokens(), 5..7);
        let _a = TcpClientStack::socket(&mut stack).unwrap();
        let b = UdpClientStack::socket(&mut stack).unwrap();
        assert!(matches!(
            TcpClientStack::socket(&mut stack),
            Err(NetError::NoFreeSlot)
        ));
        UdpClientStack::close(&mut stack, b).unwrap();
        assert!(TcpClientStack::socket(&mut stack).is_ok());
    }

    #[test]
    fn tcp_options_before_and_after_the_socket_exists() {
        let (mut poll, mut stack) = setup();
        let l = listener(&poll, LOCAL_V4.into());
        let mut s = TcpClientStack::socket(&mut stack).unwrap();
        assert_eq!(
            stack.tcp_options(&s).unwrap_err().kind(),
            io::ErrorKind::NotConnected
        );
        for option in [
            TcpOption::Linger(Some(5)),
            TcpOption::NoDelay(true),
            TcpOption::SendTimeout(1500),
            TcpOption::KeepAlive(Some(30)),
        ] {
            stack.tcp_set_option(&mut s, option).unwrap();
        }
        wait(&mut poll, || {
            TcpClientStack::connect(&mut stack, &mut s, l.local_addr().unwrap())
        })
        .unwrap();
        let (_peer, _) = accept_peer(&mut poll, &l);
        let got = stack.tcp_options(&s).unwrap();
        assert_eq!(got.linger, Some(Duration::from_secs(5)));
        assert!(got.nodelay);
        assert_eq!(got.send_timeout, Some(Duration::from_millis(1500)));
        assert!(got.keepalive);
        assert_eq!(got.keepalive_idle, Duration::from_secs(30));
        assert_eq!(got.keepalive_interval, Duration::from_secs(1));
        assert_eq!(got.keepalive_count, 3);
        assert_eq!(got.only_v6, None);

        for option in [
            TcpOption::Linger(None),
            TcpOption::NoDelay(false),
            TcpOption::SendTimeout(0),
            TcpOption::KeepAlive(None),
        ] {
            stack.tcp_set_option(&mut s, option).unwrap();
        }
        let got = stack.tcp_options(&s).unwrap();
        assert_eq!(got.linger, None);
        assert!(!got.nodelay);
        assert_eq!(got.send_timeout, None);
        assert!(!got.keepalive);

        stack
            .tcp_set_option(&mut s, TcpOption::Linger(Some(0)))
            .unwrap();
        assert_eq!(stack.tcp_options(&s).unwrap().linger, Some(Duration::ZERO));
        stack
            .tcp_set_option(&mut s, TcpOption::Linger(Some(2)))
            .unwrap();
        // A lingering socket is closed off the caller's thread; close still succeeds.
        TcpClientStack::close(&mut stack, s).unwrap();
        assert_eq!(stack.open_sockets(), 0);
    }

    #[test]
    fn tcp_available_counts_waiting_bytes() {
        let (mut poll, mut stack) = setup();
        let (mut s, mut peer) = connected_pair(&mut poll, &mut stack, LOCAL_V4.into());
        assert_eq!(stack.tcp_available(&mut s).unwrap(), 0);
        peer.write_all(b"0123456789").unwrap();
        let n = wait(&mut poll, || match stack.tcp_available(&mut s) {
            Ok(n) if n >= 10 => Ok(n),
            Ok(_) => Err(nb::Error::WouldBlock),
            Err(e) => Err(nb::Error::Other(e)),
        })
        .unwrap();
        assert_eq!(n, 10);
        let mut buf = [0u8; 4];
        assert_eq!(
            TcpClientStack::receive(&mut stack, &mut s, &mut buf).unwrap(),
            4
        );
        assert_eq!(stack.tcp_available(&mut s).unwrap(), 6);
    }

    #[test]
    fn tcp_over_ipv6_loopback() {
        if !ipv6_available() {
            return;
        }
        let (mut poll, mut stack) = setup();
        let (mut s, mut peer) = connected_pair(&mut poll, &mut stack, LOCAL_V6.into());
        assert_eq!(stack.tcp_options(&s).unwrap().only_v6, Some(true));
        exchange(&mut poll, &mut stack, &mut s, &mut peer);

        // An IPv6 server on [::]: reachable on ::1, IPV6_V6ONLY so not over IPv4.
        let mut server = TcpClientStack::socket(&mut stack).unwrap();
        stack
            .tcp_bind_to(&mut server, SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)))
            .unwrap();
        stack.listen(&mut server).unwrap();
        let port = stack.tcp_local_addr(&server).unwrap().port();
        assert_eq!(stack.tcp_options(&server).unwrap().only_v6, Some(true));
        let _client = TcpStream::connect((LOCAL_V6, port)).unwrap();
        let (mut conn, remote) = wait(&mut poll, || stack.accept(&mut server)).unwrap();
        assert_eq!(remote.ip(), IpAddr::V6(LOCAL_V6));
        let mut buf = [0u8; 1];
        assert!(matches!(
            TcpClientStack::receive(&mut stack, &mut conn, &mut buf),
            Err(nb::Error::WouldBlock)
        ));
        let v4 = TcpStream::connect((LOCAL_V4, port));
        assert_eq!(
            v4.map(|_| ()).unwrap_err().kind(),
            io::ErrorKind::ConnectionRefused
        );
    }

    #[test]
    fn udp_send_receive_and_send_to() {
        let (mut poll, mut stack) = setup();
        let peer = udp_peer(LOCAL_V4.into());
        let other = udp_peer(LOCAL_V4.into());
        let mut s = UdpClientStack::socket(&mut stack).unwrap();
        let mut buf = [0u8; 64];
        assert!(matches!(
            UdpClientStack::receive(&mut stack, &mut s, &mut buf),
            Err(nb::Error::WouldBlock)
        ));
        assert!(matches!(
            UdpClientStack::send(&mut stack, &mut s, b"x"),
            Err(nb::Error::Other(NetError::InvalidState(_)))
        ));
        stack
            .udp_bind_to(&mut s, SocketAddr::from((LOCAL_V4, 0)))
            .unwrap();
        let local = stack.udp_local_addr(&s).unwrap();
        UdpClientStack::connect(&mut stack, &mut s, peer.local_addr().unwrap()).unwrap();

        wait(&mut poll, || {
            UdpClientStack::send(&mut stack, &mut s, b"ping")
        })
        .unwrap();
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"ping"[..], local));

        peer.send_to(b"pong", local).unwrap();
        let (n, from) = wait(&mut poll, || {
            UdpClientStack::receive(&mut stack, &mut s, &mut buf)
        })
        .unwrap();
        assert_eq!(
            (&buf[..n], from),
            (&b"pong"[..], peer.local_addr().unwrap())
        );

        // send_to another address; datagrams from anyone are received.
        let other_addr = other.local_addr().unwrap();
        wait(&mut poll, || stack.send_to(&mut s, other_addr, b"hi other")).unwrap();
        let (n, from) = other.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"hi other"[..], local));
        other.send_to(b"from other", local).unwrap();
        let (n, from) = wait(&mut poll, || {
            UdpClientStack::receive(&mut stack, &mut s, &mut buf)
        })
        .unwrap();
        assert_eq!((&buf[..n], from), (&b"from other"[..], other_addr));

        let opts = stack.udp_options(&s).unwrap();
        assert!(opts.reuse_address);
        assert!(!opts.broadcast);
        stack.udp_set_broadcast(&mut s, true).unwrap();
        assert!(stack.udp_options(&s).unwrap().broadcast);
        UdpClientStack::close(&mut stack, s).unwrap();
        UdpSocket::bind(local).expect("port released by close");
    }

    #[test]
    fn udp_send_to_creates_the_socket_and_remembers_broadcast() {
        let (mut poll, mut stack) = setup();
        let peer = udp_peer(LOCAL_V4.into());
        let mut s = UdpClientStack::socket(&mut stack).unwrap();
        stack.udp_set_broadcast(&mut s, true).unwrap();
        assert_eq!(stack.udp_local_addr(&s), None);
        let to = peer.local_addr().unwrap();
        wait(&mut poll, || stack.send_to(&mut s, to, b"first")).unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"first");
        assert_eq!(
            stack.udp_local_addr(&s).map(|a| a.port()),
            Some(from.port())
        );
        assert!(stack.udp_options(&s).unwrap().broadcast);
    }

    #[test]
    fn udp_bind_port() {
        let (mut poll, mut stack) = setup();
        let mut s = UdpClientStack::socket(&mut stack).unwrap();
        UdpFullStack::bind(&mut stack, &mut s, 0).unwrap();
        let local = stack.udp_local_addr(&s).unwrap();
        assert_eq!(local.ip(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_ne!(local.port(), 0);
        let peer = udp_peer(LOCAL_V4.into());
        peer.send_to(b"to the port", (LOCAL_V4, local.port()))
            .unwrap();
        let mut buf = [0u8; 32];
        let (n, from) = wait(&mut poll, || {
            UdpClientStack::receive(&mut stack, &mut s, &mut buf)
        })
        .unwrap();
        assert_eq!(
            (&buf[..n], from),
            (&b"to the port"[..], peer.local_addr().unwrap())
        );
        // A second bind of the same socket fails.
        assert!(UdpFullStack::bind(&mut stack, &mut s, 0).is_err());
    }

    #[test]
    fn udp_over_ipv6_loopback() {
        if !ipv6_available() {
            return;
        }
        let (mut poll, mut stack) = setup();
        let peer = udp_peer(LOCAL_V6.into());
        let mut s = UdpClientStack::socket(&mut stack).unwrap();
        stack
            .udp_bind_to(&mut s, SocketAddr::from((LOCAL_V6, 0)))
            .unwrap();
        let local = stack.udp_local_addr(&s).unwrap();
        assert_eq!(stack.udp_options(&s).unwrap().only_v6, Some(true));
        UdpClientStack::connect(&mut stack, &mut s, peer.local_addr().unwrap()).unwrap();
        wait(&mut poll, || {
            UdpClientStack::send(&mut stack, &mut s, b"v6 ping")
        })
        .unwrap();
        let mut buf = [0u8; 32];
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"v6 ping"[..], local));
        peer.send_to(b"v6 pong", local).unwrap();
        let (n, from) = wait(&mut poll, || {
            UdpClientStack::receive(&mut stack, &mut s, &mut buf)
        })
        .unwrap();
        assert_eq!(
            (&buf[..n], from),
            (&b"v6 pong"[..], peer.local_addr().unwrap())
        );
        // The socket is IPv6: an IPv4 destination is refused before reaching the OS.
        assert!(matches!(
            stack.send_to(&mut s, SocketAddr::from((LOCAL_V4, 9)), b"x"),
            Err(nb::Error::Other(NetError::AddressFamily))
        ));
    }

    #[test]
    fn udp_ipv4_multicast_on_loopback() {
        let (mut poll, mut stack) = setup();
        let group = Ipv4Addr::new(239, 255, 77, 77);
        let mut s = UdpClientStack::socket(&mut stack).unwrap();
        // Bound to the group address itself: only the group's datagrams arrive.
        stack
            .udp_bind_to(&mut s, SocketAddr::from((group, 0)))
            .unwrap();
        let port = stack.udp_local_addr(&s).unwrap().port();
        stack.set_multicast_interface_v4(LOCAL_V4);
        if let Err(e) = stack.udp_join_multicast(&mut s, group.into()) {
            eprintln!("SKIPPED udp_ipv4_multicast_on_loopback: cannot join {group} on lo: {e}");
            return;
        }
        assert!(stack.udp_options(&s).unwrap().multicast_loop);
        let sender = udp_peer(LOCAL_V4.into());
        SockRef::from(&sender)
            .set_multicast_if_v4(&LOCAL_V4)
            .unwrap();
        if let Err(e) = sender.send_to(b"to the group", (group, port)) {
            eprintln!("SKIPPED udp_ipv4_multicast_on_loopback: no multicast route over lo: {e}");
            return;
        }
        let mut buf = [0u8; 32];
        let (n, from) = wait(&mut poll, || {
            UdpClientStack::receive(&mut stack, &mut s, &mut buf)
        })
        .unwrap();
        assert_eq!(
            (&buf[..n], from),
            (&b"to the group"[..], sender.local_addr().unwrap())
        );
        // The stack's own datagrams to the group come back (IP_MULTICAST_LOOP, and
        // IP_MULTICAST_IF = the join interface).
        wait(&mut poll, || {
            stack.send_to(&mut s, SocketAddr::from((group, port)), b"loop")
        })
        .unwrap();
        let (n, _) = wait(&mut poll, || {
            UdpClientStack::receive(&mut stack, &mut s, &mut buf)
        })
        .unwrap();
        assert_eq!(&buf[..n], b"loop");
    }

    #[test]
    fn udp_ipv6_multicast_join_on_loopback() {
        if !ipv6_available() {
            return;
        }
        let (_poll, mut stack) = setup();
        let lo = nix::net::if_::if_nametoindex("lo").unwrap();
        stack.set_multicast_interface_v6(lo);
        let mut s = UdpClientStack::socket(&mut stack).unwrap();
        stack
            .udp_bind_to(&mut s, SocketAddr::from((LOCAL_V6, 0)))
            .unwrap();
        let group: Ipv6Addr = "ff15::7777".parse().unwrap();
        stack.udp_join_multicast(&mut s, group.into()).unwrap();
        assert!(stack.udp_options(&s).unwrap().multicast_loop);
    }

    #[test]
    fn dns_numeric_and_localhost() {
        let (_poll, mut stack) = setup();
        assert_eq!(
            stack
                .get_host_by_name("127.0.0.1", AddrType::Either)
                .unwrap(),
            IpAddr::V4(LOCAL_V4)
        );
        assert_eq!(
            stack.get_host_by_name("::1", AddrType::IPv6).unwrap(),
            IpAddr::V6(LOCAL_V6)
        );
        assert!(matches!(
            stack.get_host_by_name("::1", AddrType::IPv4),
            Err(nb::Error::Other(NetError::HostNotFound))
        ));
        assert!(matches!(
            stack.get_host_by_name("", AddrType::Either),
            Err(nb::Error::Other(NetError::HostNotFound))
        ));
        // "localhost" comes from /etc/hosts (or the resolver's built-in rule).
        assert_eq!(
            stack.get_host_by_name("localhost", AddrType::IPv4).unwrap(),
            IpAddr::V4(LOCAL_V4)
        );
        assert_eq!(
            stack
                .get_host_by_name("localhost", AddrType::Either)
                .unwrap(),
            IpAddr::V4(LOCAL_V4)
        );
        let mut buf = [0u8; 64];
        assert!(matches!(
            stack.get_host_by_address(IpAddr::V4(LOCAL_V4), &mut buf),
            Err(nb::Error::Other(NetError::Unsupported))
        ));
    }

    #[test]
    fn sockets_are_registered_under_their_tokens() {
        let (mut poll, mut stack) = setup();
        let (s, _peer) = connected_pair(&mut poll, &mut stack, LOCAL_V4.into());
        let token = stack.tcp_token(&s);
        assert_eq!(token, Token(FIRST_TOKEN + s.slot()));
        // A connected socket is writable: its token shows up.
        let mut events = Events::with_capacity(16);
        let deadline = Instant::now() + TIMEOUT;
        let mut seen = false;
        // Registration is edge-triggered and the edges may already have been
        // consumed; re-register to get a fresh report of the current readiness.
        stack
            .registry
            .reregister(
                &mut SourceFd(&stack.slots_socket_fd(&s)),
                token,
                Interest::READABLE | Interest::WRITABLE,
            )
            .unwrap();
        while !seen {
            let now = Instant::now();
            assert!(now < deadline, "no event for the socket's token");
            poll.poll(&mut events, Some(deadline - now)).unwrap();
            seen = events.iter().any(|e| e.token() == token && e.is_writable());
        }
    }

    impl StdStack {
        /// The raw descriptor of a TCP socket (tests only).
        fn slots_socket_fd(&self, socket: &TcpHandle) -> std::os::fd::RawFd {
            match &self.slots[socket.slot] {
                Slot::Tcp(TcpEntry {
                    socket: Some(s), ..
                }) => s.as_raw_fd(),
                _ => panic!("no OS socket"),
            }
        }
    }
}
