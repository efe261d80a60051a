//! A deterministic simulated network for engine tests and fuzzing.
//!
//! [`SimNet`] is a TCP/IP stack (every trait of [`crate::net`] but [`Station`]) together
//! with the world behind it: remote TCP servers and clients, UDP peers, a DNS table.
//! [`SimStation`] is a Wi-Fi station with a list of access points. [`SimPlatform`] bundles
//! both with a [`MemoryStore`] into a [`NetPlatform`].
//!
//! Nothing happens on its own: the test or fuzzer drives the world through inherent
//! methods (`listen`, `peer_send`, `peer_connect`, `udp_peer_inject`, `add_host`,
//! `add_ap`, ...), the engine drives its sockets through the traits. Delays count calls,
//! not time: a delay of `n` answers [`nb::Error::WouldBlock`] `n` times before the
//! operation completes. No allocator, no `unsafe`, no panics: input the test controls is
//! refused with a [`SimError`]. Local addresses are [`SIM_IPV4`], [`SIM_IPV6_LINK_LOCAL`]
//! (toward `fe80::/10`) and [`SIM_IPV6_GLOBAL`]; ports for sockets bound to port 0 count
//! up from [`EPHEMERAL_PORT_FIRST`].
//!
//! | capacity | const | value |
//! |---|---|---|
//! | engine TCP sockets (connections, listeners, pending accepts) | [`TCP_SOCKETS`] | 8 |
//! | bytes buffered per TCP connection and direction | [`TCP_BUFFER`] | 8 KiB |
//! | connections pending `accept` per listening socket | [`TCP_BACKLOG`] | 4 |
//! | remote TCP servers | [`REMOTE_LISTENERS`] | 8 |
//! | connections waiting for [`SimNet::accepted`] | [`ESTABLISHED_LOG`] | 8 |
//! | engine UDP sockets | [`UDP_SOCKETS`] | 8 |
//! | datagrams / bytes queued per UDP socket | [`UDP_QUEUE_DATAGRAMS`] / [`UDP_QUEUE_BYTES`] | 8 / 8 KiB |
//! | largest datagram | [`UDP_DATAGRAM_MAX`] | 4096 |
//! | sent datagram log | [`UDP_SENT_LOG`] | 8 |
//! | multicast groups per UDP socket | [`UDP_GROUPS`] | 4 |
//! | DNS entries / name length | [`DNS_HOSTS`] / [`DNS_NAME_MAX`] | 8 / 64 |
//! | access points / password length | [`STATION_APS`] / [`PASSWORD_MAX`] | 8 / 64 |
//!
//! Handles ([`SimTcp`], [`SimUdp`], [`PeerId`]) carry their slot's generation: a closed
//! socket's handle is refused with [`SimError::BadHandle`] even once the slot serves a
//! new socket. A connection's slot keeps what the engine sent after the engine closed it,
//! for the test to read, until the slot is needed again (free slots go first, then the
//! longest-closed connection).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::str::FromStr;

use heapless::{Deque, String, Vec};

use crate::net::{
    nb, AccessPoint, AddrType, Dns, Ipv4Config, JoinError, NetPlatform, Station, StationEvent,
    TcpClientStack, TcpError, TcpErrorKind, TcpExt, TcpFullStack, TcpOption, UdpClientStack,
    UdpExt, UdpFullStack, SSID_MAX,
};
use crate::platform::{FirmwareInfo, MemoryUsage, Platform, UartConfig, UartError};
use crate::store::MemoryStore;

/// Engine TCP socket slots (connections, listeners, connections pending accept).
pub const TCP_SOCKETS: usize = 8;
/// Bytes buffered per connection in each direction.
pub const TCP_BUFFER: usize = 8 * 1024;
/// Connections pending `accept` per listening socket.
pub const TCP_BACKLOG: usize = 4;
/// Remote TCP servers ([`SimNet::listen`]).
pub const REMOTE_LISTENERS: usize = 8;
/// Established connections remembered for [`SimNet::accepted`] (oldest forgotten first).
pub const ESTABLISHED_LOG: usize = 8;
/// Engine UDP socket slots.
pub const UDP_SOCKETS: usize = 8;
/// Datagrams queued toward one UDP socket.
pub const UDP_QUEUE_DATAGRAMS: usize = 8;
/// Bytes queued toward one UDP socket.
pub const UDP_QUEUE_BYTES: usize = 8 * 1024;
/// Largest datagram, either way.
pub const UDP_DATAGRAM_MAX: usize = 4096;
/// Datagrams kept in the sent log (oldest dropped first).
pub const UDP_SENT_LOG: usize = 8;
/// Multicast groups one UDP socket can join.
pub const UDP_GROUPS: usize = 4;
/// Entries in the DNS table.
pub const DNS_HOSTS: usize = 8;
/// Longest host name in the DNS table, in bytes.
pub const DNS_NAME_MAX: usize = 64;
/// Longest TLS description ([`SimNet::tls_begin`]) kept per connection, in bytes.
pub const TLS_NOTE_MAX: usize = 192;
/// Access points a [`SimStation`] knows.
pub const STATION_APS: usize = 8;
/// Longest access point password, in bytes.
pub const PASSWORD_MAX: usize = 64;
/// First port for sockets bound to port 0 (up to 65535, then wrapping).
pub const EPHEMERAL_PORT_FIRST: u16 = 49152;
/// IPv4 address of the station.
pub const SIM_IPV4: Ipv4Addr = Ipv4Addr::new(192, 168, 4, 2);
/// IPv4 gateway of the station.
pub const SIM_GATEWAY: Ipv4Addr = Ipv4Addr::new(192, 168, 4, 1);
/// IPv4 netmask of the station.
pub const SIM_NETMASK: Ipv4Addr = Ipv4Addr::new(255, 255, 255, 0);
/// IPv6 link-local address of the station.
pub const SIM_IPV6_LINK_LOCAL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
/// IPv6 global address of the station.
pub const SIM_IPV6_GLOBAL: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
/// MAC address of the station.
pub const SIM_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

const PORT_RANGE: u16 = u16::MAX - EPHEMERAL_PORT_FIRST + 1;

/// Why a simulated operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimError {
    /// No remote server listens at the address (`ECONNREFUSED`).
    Refused,
    /// The peer reset the connection: the only error of kind [`TcpErrorKind::PipeClosed`].
    Reset,
    /// A handle that was closed or never issued.
    BadHandle,
    /// Every socket slot is in use.
    NoSockets,
    /// Send or receive on an unconnected socket.
    NotConnected,
    /// Not in this state: listen before bind, bind twice, accept without listening,
    /// connect elsewhere while connected.
    InvalidState,
    /// Another socket is bound to that port.
    AddrInUse,
    /// Port 0 or unspecified remote, wrong family, an address the station lacks, a
    /// unicast "group".
    InvalidAddress,
    /// A datagram longer than [`UDP_DATAGRAM_MAX`].
    TooLarge,
    /// A queue or table is full (a datagram was dropped, the backlog is full, ...).
    Full,
    /// Nothing of the engine listens or is bound at that address.
    NoListener,
    /// A connected UDP socket takes datagrams from its remote only.
    Filtered,
    /// A name, SSID or password too long for its table.
    TooLong,
    /// No DNS entry.
    NotFound,
    /// The caller's buffer is too small.
    BufferTooSmall,
    /// Planted by [`SimNet::fail_next`].
    Injected,
}

impl TcpError for SimError {
    fn kind(&self) -> TcpErrorKind {
        match self {
            SimError::Reset => TcpErrorKind::PipeClosed,
            _ => TcpErrorKind::Other,
        }
    }
}

impl core::fmt::Display for SimError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self, f)
    }
}

impl core::error::Error for SimError {}

/// An operation [`SimNet::fail_next`] makes fail once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum SimOp {
    /// `TcpClientStack::socket`.
    TcpSocket,
    /// `TcpClientStack::connect`.
    TcpConnect,
    /// `TcpClientStack::send`.
    TcpSend,
    /// `TcpClientStack::receive`.
    TcpReceive,
    /// `TcpFullStack::accept`.
    TcpAccept,
    /// `UdpClientStack::socket`.
    UdpSocket,
    /// `UdpClientStack::connect`.
    UdpConnect,
    /// `UdpClientStack::send` and `UdpFullStack::send_to`.
    UdpSend,
    /// `UdpClientStack::receive`.
    UdpReceive,
    /// Both `Dns` lookups.
    Dns,
    /// A TLS handshake ([`SimNet::tls_progress`]): it fails on its next step.
    TlsHandshake,
}

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name {
            index: u8,
            gen: u8,
        }

        impl $name {
            /// The slot index.
            pub fn index(self) -> usize {
                usize::from(self.index)
            }

            fn at(index: usize, gen: u8) -> Self {
                $name { index: index as u8, gen }
            }
        }
    };
}

handle!(
    /// An engine TCP socket: slot index and generation.
    SimTcp
);
handle!(
    /// An engine UDP socket: slot index and generation.
    SimUdp
);
handle!(
    /// The remote end of a TCP connection, as the test sees it.
    PeerId
);

impl PeerId {
    /// The engine's socket at the other end (for [`SimNet::tcp_options`]).
    pub fn socket(self) -> SimTcp {
        SimTcp::at(self.index(), self.gen)
    }
}

/// The TCP options the engine set on a socket ([`SimNet::tcp_options`]); all off at first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SimTcpOptions {
    /// `SO_LINGER` seconds, `None` off.
    pub linger: Option<u16>,
    /// `TCP_NODELAY`.
    pub no_delay: bool,
    /// `SO_SNDTIMEO` in milliseconds, 0 none.
    pub send_timeout: u32,
    /// `SO_KEEPALIVE` idle seconds, `None` off.
    pub keep_alive: Option<u16>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum TcpState {
    #[default]
    Free,
    /// Created by the engine, maybe bound.
    Open,
    Listening,
    Connecting(u8),
    /// A remote client connected to the listener in slot `listener`; not yet accepted.
    Pending {
        listener: usize,
        seq: u32,
    },
    Connected,
    /// Closed by the engine; kept for the peer until the slot is reused.
    Closed(u32),
}

impl TcpState {
    fn engine_owned(self) -> bool {
        use TcpState::*;
        matches!(self, Open | Listening | Connecting(_) | Connected)
    }

    fn has_peer(self) -> bool {
        use TcpState::*;
        matches!(self, Pending { .. } | Connected | Closed(_))
    }
}

#[derive(Clone, Debug, Default)]
struct TcpSlot {
    gen: u8,
    state: TcpState,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    options: SimTcpOptions,
    to_engine: Vec<u8, TCP_BUFFER>,
    from_engine: Vec<u8, TCP_BUFFER>,
    window: usize,
    peer_fin: bool,
    reset: bool,
    tls: SimTls,
    tls_note: String<TLS_NOTE_MAX>,
}

/// The simulated TLS layer of one connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum SimTls {
    #[default]
    Off,
    /// Handshaking; that many more steps answer `WouldBlock`.
    Handshaking(u8),
    Up,
    Failed,
}

#[derive(Clone, Debug, Default)]
struct UdpSlot {
    gen: u8,
    open: bool,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    broadcast: bool,
    groups: Vec<IpAddr, UDP_GROUPS>,
    queue: Deque<(SocketAddr, u16), UDP_QUEUE_DATAGRAMS>,
    bytes: Vec<u8, UDP_QUEUE_BYTES>,
}

impl SimTls {
    /// Plaintext may flow: no TLS, or TLS with its handshake done.
    fn carries_data(self) -> bool {
        matches!(self, SimTls::Off | SimTls::Up)
    }
}

/// `bound` (a socket's address) takes traffic for `ip`: same family, unspecified or equal.
fn covers(bound: IpAddr, ip: IpAddr) -> bool {
    bound.is_ipv4() == ip.is_ipv4() && (bound.is_unspecified() || bound == ip)
}

fn bad_remote(remote: SocketAddr, local: Option<SocketAddr>) -> bool {
    remote.port() == 0
        || remote.ip().is_unspecified()
        || local.is_some_and(|l| l.is_ipv4() != remote.is_ipv4())
}

fn local_ip_for(remote: IpAddr) -> IpAddr {
    match remote {
        IpAddr::V4(_) => IpAddr::V4(SIM_IPV4),
        IpAddr::V6(a) if a.is_unicast_link_local() => IpAddr::V6(SIM_IPV6_LINK_LOCAL),
        IpAddr::V6(_) => IpAddr::V6(SIM_IPV6_GLOBAL),
    }
}

/// Moves the first `min(out.len(), len)` bytes of `v` to `out`, drops `len` bytes.
fn take_front<const N: usize>(v: &mut Vec<u8, N>, out: &mut [u8], len: usize) -> usize {
    let len = len.min(v.len());
    let n = out.len().min(len);
    if let (Some(dst), Some(src)) = (out.get_mut(..n), v.get(..n)) {
        dst.copy_from_slice(src);
    }
    v.drain(..len);
    n
}

/// The simulated TCP/IP stack and the world behind it. See the [module](self) docs.
#[derive(Clone, Debug, Default)]
pub struct SimNet {
    tcp: [TcpSlot; TCP_SOCKETS],
    udp: [UdpSlot; UDP_SOCKETS],
    remote_listeners: Vec<SocketAddr, REMOTE_LISTENERS>,
    established: Deque<(SocketAddr, PeerId), ESTABLISHED_LOG>,
    sent: Deque<(SocketAddr, SocketAddr, Vec<u8, UDP_DATAGRAM_MAX>), UDP_SENT_LOG>,
    sent_dropped: usize,
    hosts: Vec<(String<DNS_NAME_MAX>, IpAddr), DNS_HOSTS>,
    dns_delay: u8,
    dns_left: Option<u8>,
    connect_delay: u8,
    tls_delay: u8,
    faults: u16,
    /// Something happened on the remote side since [`SimNet::take_activity`].
    activity: bool,
    /// `TcpClientStack::receive` calls so far ([`SimNet::tcp_receive_calls`]).
    receive_calls: u32,
    seq: u32,
    port_offset: u16,
}

impl SimNet {
    /// An empty world: no servers, no hosts, no delays.
    pub fn new() -> Self {
        SimNet::default()
    }

    /// Every TCP connect from now on answers `WouldBlock` `polls` times before it
    /// succeeds or is refused (default 0).
    pub fn set_connect_delay(&mut self, polls: u8) {
        self.connect_delay = polls;
    }

    /// Every DNS lookup of a name from now on answers `WouldBlock` `polls` times before
    /// it resolves (default 0; numeric addresses resolve at once).
    pub fn set_dns_delay(&mut self, polls: u8) {
        self.dns_delay = polls;
    }

    /// Every TLS handshake from now on answers `WouldBlock` `polls` times before it
    /// completes (default 0).
    pub fn set_tls_delay(&mut self, polls: u8) {
        self.tls_delay = polls;
    }

    /// Starts the simulated TLS layer on a connected socket. The simulation carries
    /// plaintext; `note` is whatever the TLS adapter wants a test to see of its
    /// configuration ([`SimNet::peer_tls`]), cut to [`TLS_NOTE_MAX`] bytes. This is the
    /// hook a TLS boundary over the simulation is built on.
    pub fn tls_begin(&mut self, socket: SimTcp, note: &str) -> Result<(), SimError> {
        let delay = self.tls_delay;
        let slot = self.tcp_slot(socket)?;
        if slot.state != TcpState::Connected || slot.tls != SimTls::Off {
            return Err(SimError::InvalidState);
        }
        slot.tls = SimTls::Handshaking(delay);
        slot.tls_note.clear();
        for c in note.chars() {
            if slot.tls_note.push(c).is_err() {
                break;
            }
        }
        Ok(())
    }

    /// One step of a handshake started by [`SimNet::tls_begin`]: `WouldBlock` for the
    /// configured delay, then `Ok` (also on later calls); a planted
    /// [`SimOp::TlsHandshake`] fault, a reset, or the peer closing before the handshake
    /// is done fails it for good.
    pub fn tls_progress(&mut self, socket: SimTcp) -> nb::Result<(), SimError> {
        self.tcp_slot(socket)?;
        let fault = self.take_fault(SimOp::TlsHandshake);
        let slot = self.tcp_slot(socket)?;
        // A peer that resets, or closes before the handshake is done, fails it.
        let closed = slot.peer_fin && matches!(slot.tls, SimTls::Handshaking(_));
        if slot.reset || closed {
            slot.tls = SimTls::Failed;
            return Err(SimError::Reset.into());
        }
        match slot.tls {
            SimTls::Up => Ok(()),
            SimTls::Handshaking(_) if fault.is_err() => {
                slot.tls = SimTls::Failed;
                Err(SimError::Injected.into())
            }
            SimTls::Handshaking(left @ 1..) => {
                slot.tls = SimTls::Handshaking(left - 1);
                Err(nb::Error::WouldBlock)
            }
            SimTls::Handshaking(0) => {
                slot.tls = SimTls::Up;
                Ok(())
            }
            SimTls::Off | SimTls::Failed => Err(SimError::InvalidState.into()),
        }
    }

    /// The TLS description of a connection whose handshake completed.
    pub fn peer_tls(&self, peer: PeerId) -> Option<&str> {
        let slot = self.peer_slot(peer)?;
        (slot.tls == SimTls::Up).then_some(slot.tls_note.as_str())
    }

    /// How many times the engine called `TcpClientStack::receive` (to check that it
    /// leaves quiet sockets alone).
    pub fn tcp_receive_calls(&self) -> u32 {
        self.receive_calls
    }

    /// Whether the remote side did anything (peer data, closes, resets, connections,
    /// datagrams, window changes) since the last call; the platform's
    /// [`NetPlatform::take_network_activity`].
    pub fn take_activity(&mut self) -> bool {
        core::mem::replace(&mut self.activity, false)
    }

    /// Reports activity at the next [`SimNet::take_activity`] without any: what a
    /// platform that cannot tell does on every poll (the default of
    /// [`NetPlatform::take_network_activity`]), and what a readiness check reports while a
    /// socket holds unread data.
    pub fn note_activity(&mut self) {
        self.activity = true;
    }

    /// The next call of `op` fails with [`SimError::Injected`] (planting twice before it
    /// fires still fails one call).
    pub fn fail_next(&mut self, op: SimOp) {
        self.faults |= 1 << op as u16;
    }

    /// Forgets the engine's sockets and DNS lookup, as a chip reset does: connections
    /// become closed by the engine (peers keep what was sent), pending ones are reset.
    /// The world (servers, hosts, delays, planted faults, sent log) stays.
    pub fn restart(&mut self) {
        for i in 0..TCP_SOCKETS {
            match self.tcp.get(i).map(|s| s.state) {
                Some(TcpState::Connected) => self.tcp_mark_closed(i, false),
                Some(TcpState::Pending { .. }) => self.tcp_mark_closed(i, true),
                Some(s) if s.engine_owned() => self.tcp_free(i),
                _ => {}
            }
        }
        self.udp.iter_mut().for_each(|s| s.open = false);
        self.dns_left = None;
    }

    /// A remote TCP server listens at `addr` from now on: connects there succeed.
    pub fn listen(&mut self, addr: SocketAddr) -> Result<(), SimError> {
        if self.remote_listeners.contains(&addr) {
            return Ok(());
        }
        self.remote_listeners.push(addr).map_err(|_| SimError::Full)
    }

    /// The remote server at `addr` stops listening: later connects are refused.
    pub fn unlisten(&mut self, addr: SocketAddr) {
        self.remote_listeners.retain(|a| *a != addr);
    }

    /// The oldest connection the engine established to the server at `addr` and the
    /// test has not taken yet.
    pub fn accepted(&mut self, addr: SocketAddr) -> Option<PeerId> {
        let found = self.established.iter().find(|(a, _)| *a == addr)?.1;
        self.established.retain(|(_, p)| *p != found);
        Some(found)
    }

    /// The oldest connection to any server the test has not taken yet.
    pub fn next_accepted(&mut self) -> Option<(SocketAddr, PeerId)> {
        self.established.pop_front()
    }

    /// The engine's local address and the peer's address of a connection.
    pub fn peer_addrs(&self, peer: PeerId) -> Option<(SocketAddr, SocketAddr)> {
        let slot = self.peer_slot(peer)?;
        Some((slot.local?, slot.remote?))
    }

    /// The peer sends `bytes`; returns how many fit the connection's [`TCP_BUFFER`].
    /// Nothing is taken after the peer closed or reset, or the engine closed.
    pub fn peer_send(&mut self, peer: PeerId, bytes: &[u8]) -> usize {
        self.activity = true;
        let Some(slot) = self.peer_slot_mut(peer) else {
            return 0;
        };
        if slot.peer_fin || slot.reset || matches!(slot.state, TcpState::Closed(_)) {
            return 0;
        }
        let n = bytes.len().min(TCP_BUFFER - slot.to_engine.len());
        let chunk = bytes.get(..n).unwrap_or_default();
        slot.to_engine.extend_from_slice(chunk).map_or(0, |_| n)
    }

    /// What the engine sent on the connection that the peer has not taken yet.
    pub fn peer_received(&self, peer: PeerId) -> &[u8] {
        self.peer_slot(peer).map_or(&[], |s| &s.from_engine)
    }

    /// Takes up to `buf.len()` bytes of what the engine sent; returns how many.
    pub fn peer_take(&mut self, peer: PeerId, buf: &mut [u8]) -> usize {
        let Some(slot) = self.peer_slot_mut(peer) else {
            return 0;
        };
        take_front(&mut slot.from_engine, buf, buf.len())
    }

    /// The peer closes (FIN): the engine receives what is queued, then `Ok(0)`.
    pub fn peer_close(&mut self, peer: PeerId) {
        self.activity = true;
        if let Some(slot) = self.peer_slot_mut(peer) {
            slot.peer_fin = true;
        }
    }

    /// The peer resets the connection: queued data is lost; the engine's receive, send
    /// and `tcp_available` fail with [`SimError::Reset`] (kind `PipeClosed`).
    pub fn peer_reset(&mut self, peer: PeerId) {
        self.activity = true;
        if let Some(slot) = self.peer_slot_mut(peer) {
            slot.reset = true;
            slot.to_engine.clear();
        }
    }

    /// The engine's sends may push `n` more bytes, then answer `WouldBlock` (default
    /// `usize::MAX`: no limit but [`TCP_BUFFER`] bytes not taken by the peer).
    pub fn set_send_window(&mut self, peer: PeerId, n: usize) {
        self.activity = true;
        if let Some(slot) = self.peer_slot_mut(peer) {
            slot.window = n;
        }
    }

    /// True once the engine closed its end of the connection (or the id is stale).
    pub fn engine_closed(&self, peer: PeerId) -> bool {
        self.peer_slot(peer)
            .is_none_or(|s| matches!(s.state, TcpState::Closed(_)))
    }

    /// A remote client at `from` connects to the engine's listening socket covering `to`
    /// (same port and family, bound address unspecified or equal). The engine's `accept`
    /// returns it; the peer may send before that.
    pub fn peer_connect(&mut self, to: SocketAddr, from: SocketAddr) -> Result<PeerId, SimError> {
        self.activity = true;
        let listener = self
            .tcp
            .iter()
            .position(|s| {
                s.state == TcpState::Listening
                    && s.local
                        .is_some_and(|l| l.port() == to.port() && covers(l.ip(), to.ip()))
            })
            .ok_or(SimError::NoListener)?;
        let is_pending =
            |s: &TcpSlot| matches!(s.state, TcpState::Pending { listener: l, .. } if l == listener);
        if self.tcp.iter().filter(|s| is_pending(s)).count() >= TCP_BACKLOG {
            return Err(SimError::Full);
        }
        let options = self
            .tcp
            .get(listener)
            .map(|s| s.options)
            .unwrap_or_default();
        let seq = self.next_seq();
        let i = self.tcp_alloc()?;
        let slot = self.tcp.get_mut(i).ok_or(SimError::NoSockets)?;
        slot.state = TcpState::Pending { listener, seq };
        (slot.local, slot.remote, slot.options) = (Some(to), Some(from), options);
        Ok(PeerId::at(i, slot.gen))
    }

    /// The options the engine set on `socket` (readable after the engine closed a
    /// connection, until the slot is reused).
    pub fn tcp_options(&self, socket: SimTcp) -> Option<SimTcpOptions> {
        let slot = self.tcp.get(socket.index())?;
        (slot.gen == socket.gen && slot.state != TcpState::Free).then_some(slot.options)
    }

    /// The engine's listening socket on `port`, if any.
    pub fn tcp_listener_at(&self, port: u16) -> Option<SimTcp> {
        let (i, s) = self.tcp.iter().enumerate().find(|(_, s)| {
            s.state == TcpState::Listening && s.local.is_some_and(|l| l.port() == port)
        })?;
        Some(SimTcp::at(i, s.gen))
    }

    /// How many TCP sockets the engine holds open (for leak checks).
    pub fn tcp_open_sockets(&self) -> usize {
        self.tcp.iter().filter(|s| s.state.engine_owned()).count()
    }

    /// How many UDP sockets the engine holds open (for leak checks).
    pub fn udp_open_sockets(&self) -> usize {
        self.udp.iter().filter(|s| s.open).count()
    }

    /// The engine's open UDP socket bound to local `port`, if any.
    pub fn udp_socket_at(&self, port: u16) -> Option<SimUdp> {
        let (i, s) = (self.udp.iter().enumerate())
            .find(|(_, s)| s.open && s.local.is_some_and(|l| l.port() == port))?;
        Some(SimUdp::at(i, s.gen))
    }

    /// The multicast groups `socket` joined (empty for a stale handle).
    pub fn udp_joined(&self, socket: SimUdp) -> &[IpAddr] {
        self.udp_get(socket).map_or(&[], |s| &s.groups)
    }

    /// Whether the engine allowed broadcast on `socket`.
    pub fn udp_broadcast(&self, socket: SimUdp) -> bool {
        self.udp_get(socket).is_some_and(|s| s.broadcast)
    }

    /// A datagram from `from` arrives for the engine socket bound to cover `to_local`
    /// (same port and family, bound address unspecified or equal; a multicast
    /// destination needs its group joined). It is dropped whole, with an error, when
    /// the socket's queue is full or a connected socket expects another source.
    pub fn udp_peer_inject(
        &mut self,
        to_local: SocketAddr,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), SimError> {
        self.activity = true;
        let len = u16::try_from(datagram.len())
            .ok()
            .filter(|&l| usize::from(l) <= UDP_DATAGRAM_MAX)
            .ok_or(SimError::TooLarge)?;
        let to = to_local.ip();
        let slot = (self.udp.iter_mut())
            .find(|s| {
                s.open
                    && (!to.is_multicast() || s.groups.contains(&to))
                    && s.local
                        .is_some_and(|l| l.port() == to_local.port() && covers(l.ip(), to))
            })
            .ok_or(SimError::NoListener)?;
        if slot.remote.is_some_and(|r| r != from) {
            return Err(SimError::Filtered);
        }
        if slot.queue.is_full() || slot.bytes.extend_from_slice(datagram).is_err() {
            return Err(SimError::Full);
        }
        slot.queue
            .push_back((from, len))
            .map_err(|_| SimError::Full)
    }

    /// The oldest datagram the engine sent: (local address, remote address, payload).
    pub fn udp_sent(&self) -> Option<(SocketAddr, SocketAddr, &[u8])> {
        let (local, remote, data) = self.sent.front()?;
        Some((*local, *remote, data))
    }

    /// Removes the oldest sent datagram, copying what fits into `buf`: (local, remote,
    /// bytes copied).
    pub fn udp_take_sent(&mut self, buf: &mut [u8]) -> Option<(SocketAddr, SocketAddr, usize)> {
        let (local, remote, mut data) = self.sent.pop_front()?;
        Some((local, remote, take_front(&mut data, buf, UDP_DATAGRAM_MAX)))
    }

    /// How many sent datagrams were dropped from the full log.
    pub fn udp_sent_dropped(&self) -> usize {
        self.sent_dropped
    }

    /// Adds a DNS entry. Lookups take the first entry of the family asked for; names
    /// match ASCII case-insensitively.
    pub fn add_host(&mut self, name: &str, addr: IpAddr) -> Result<(), SimError> {
        let name = String::try_from(name).map_err(|_| SimError::TooLong)?;
        self.hosts.push((name, addr)).map_err(|_| SimError::Full)
    }

    fn take_fault(&mut self, op: SimOp) -> Result<(), SimError> {
        let bit = 1 << op as u16;
        let planted = self.faults & bit != 0;
        self.faults &= !bit;
        (!planted).then_some(()).ok_or(SimError::Injected)
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn ephemeral_port(&mut self, tcp: bool) -> Result<u16, SimError> {
        for _ in 0..PORT_RANGE {
            let port = EPHEMERAL_PORT_FIRST + self.port_offset % PORT_RANGE;
            self.port_offset = (self.port_offset + 1) % PORT_RANGE;
            let has = |l: Option<SocketAddr>| l.is_some_and(|l| l.port() == port);
            let used = if tcp {
                self.tcp
                    .iter()
                    .any(|s| s.state.engine_owned() && has(s.local))
            } else {
                self.udp.iter().any(|s| s.open && has(s.local))
            };
            if !used {
                return Ok(port);
            }
        }
        Err(SimError::AddrInUse)
    }

    /// Checks a requested local address and resolves port 0; `clash` tells whether a
    /// bound address conflicts.
    fn bind_addr(
        &mut self,
        tcp: bool,
        local: SocketAddr,
        clash: bool,
    ) -> Result<SocketAddr, SimError> {
        let ip = local.ip();
        let ours = [
            IpAddr::V4(SIM_IPV4),
            IpAddr::V6(SIM_IPV6_LINK_LOCAL),
            IpAddr::V6(SIM_IPV6_GLOBAL),
        ];
        if !(ip.is_unspecified() || ours.contains(&ip) || (!tcp && ip.is_multicast())) {
            return Err(SimError::InvalidAddress);
        }
        match local.port() {
            0 => Ok(SocketAddr::new(ip, self.ephemeral_port(tcp)?)),
            _ if clash => Err(SimError::AddrInUse),
            _ => Ok(local),
        }
    }

    fn peer_slot(&self, peer: PeerId) -> Option<&TcpSlot> {
        (self.tcp.get(peer.index())).filter(|s| s.gen == peer.gen && s.state.has_peer())
    }

    fn peer_slot_mut(&mut self, peer: PeerId) -> Option<&mut TcpSlot> {
        (self.tcp.get_mut(peer.index())).filter(|s| s.gen == peer.gen && s.state.has_peer())
    }

    fn tcp_slot(&mut self, socket: SimTcp) -> Result<&mut TcpSlot, SimError> {
        (self.tcp.get_mut(socket.index()))
            .filter(|s| s.gen == socket.gen && s.state.engine_owned())
            .ok_or(SimError::BadHandle)
    }

    /// A fresh slot: a free one, else the longest-closed connection.
    fn tcp_alloc(&mut self) -> Result<usize, SimError> {
        let closed = |(i, s): (usize, &TcpSlot)| match s.state {
            TcpState::Closed(seq) => Some((seq, i)),
            _ => None,
        };
        let i = match self.tcp.iter().position(|s| s.state == TcpState::Free) {
            Some(i) => i,
            None => {
                self.tcp
                    .iter()
                    .enumerate()
                    .filter_map(closed)
                    .min()
                    .ok_or(SimError::NoSockets)?
                    .1
            }
        };
        let slot = self.tcp.get_mut(i).ok_or(SimError::NoSockets)?;
        *slot = TcpSlot {
            gen: slot.gen.wrapping_add(1),
            state: TcpState::Open,
            window: usize::MAX,
            ..TcpSlot::default()
        };
        Ok(i)
    }

    fn tcp_free(&mut self, i: usize) {
        if let Some(slot) = self.tcp.get_mut(i) {
            slot.state = TcpState::Free;
        }
    }

    fn tcp_mark_closed(&mut self, i: usize, reset: bool) {
        let seq = self.next_seq();
        if let Some(slot) = self.tcp.get_mut(i) {
            slot.state = TcpState::Closed(seq);
            slot.to_engine.clear();
            slot.reset |= reset;
        }
    }

    fn udp_get(&self, socket: SimUdp) -> Option<&UdpSlot> {
        (self.udp.get(socket.index())).filter(|s| s.gen == socket.gen && s.open)
    }

    fn udp_slot(&mut self, socket: SimUdp) -> Result<&mut UdpSlot, SimError> {
        (self.udp.get_mut(socket.index()))
            .filter(|s| s.gen == socket.gen && s.open)
            .ok_or(SimError::BadHandle)
    }

    /// Binds an unbound UDP socket to `ip` and a free port; returns its local address.
    fn udp_autobind(&mut self, socket: SimUdp, ip: IpAddr) -> Result<SocketAddr, SimError> {
        if let Some(local) = self.udp_slot(socket)?.local {
            return Ok(local);
        }
        let local = SocketAddr::new(ip, self.ephemeral_port(false)?);
        self.udp_slot(socket)?.local = Some(local);
        Ok(local)
    }

    fn udp_send_to(
        &mut self,
        socket: SimUdp,
        remote: SocketAddr,
        data: &[u8],
    ) -> Result<(), SimError> {
        let data = Vec::from_slice(data).map_err(|_| SimError::TooLarge)?;
        if bad_remote(remote, self.udp_slot(socket)?.local) {
            return Err(SimError::InvalidAddress);
        }
        let mut local = self.udp_autobind(socket, local_ip_for(remote.ip()))?;
        if local.ip().is_unspecified() {
            local.set_ip(local_ip_for(remote.ip()));
        }
        if self.sent.is_full() {
            self.sent.pop_front();
            self.sent_dropped = self.sent_dropped.saturating_add(1);
        }
        self.sent
            .push_back((local, remote, data))
            .map_err(|_| SimError::Full)
    }
}

impl TcpClientStack for SimNet {
    type TcpSocket = SimTcp;
    type Error = SimError;

    fn socket(&mut self) -> Result<SimTcp, SimError> {
        self.take_fault(SimOp::TcpSocket)?;
        let i = self.tcp_alloc()?;
        Ok(SimTcp::at(i, self.tcp.get(i).map_or(0, |s| s.gen)))
    }

    fn connect(&mut self, socket: &mut SimTcp, remote: SocketAddr) -> nb::Result<(), SimError> {
        let delay = self.connect_delay;
        let slot = self.tcp_slot(*socket)?;
        match slot.state {
            TcpState::Connected if slot.remote == Some(remote) => return Ok(()),
            TcpState::Open if bad_remote(remote, slot.local) => {
                return Err(SimError::InvalidAddress.into())
            }
            TcpState::Open => {
                (slot.remote, slot.state) = (Some(remote), TcpState::Connecting(delay))
            }
            TcpState::Connecting(_) => {}
            _ => return Err(SimError::InvalidState.into()),
        }
        let fault = self.take_fault(SimOp::TcpConnect);
        let remote = self.tcp_slot(*socket)?.remote.unwrap_or(remote);
        let listening = self.remote_listeners.contains(&remote);
        let slot = self.tcp_slot(*socket)?;
        if let TcpState::Connecting(left @ 1..) = &mut slot.state {
            if fault.is_ok() {
                *left -= 1;
                return Err(nb::Error::WouldBlock);
            }
        }
        let refused = if listening {
            Ok(())
        } else {
            Err(SimError::Refused)
        };
        if let Err(e) = fault.and(refused) {
            (slot.remote, slot.state) = (None, TcpState::Open);
            return Err(e.into());
        }
        let local = match slot.local {
            Some(l) if !l.ip().is_unspecified() => l,
            Some(l) => SocketAddr::new(local_ip_for(remote.ip()), l.port()),
            None => SocketAddr::new(local_ip_for(remote.ip()), self.ephemeral_port(true)?),
        };
        let slot = self.tcp_slot(*socket)?;
        (slot.local, slot.state) = (Some(local), TcpState::Connected);
        if self.established.is_full() {
            self.established.pop_front();
        }
        let _ = self
            .established
            .push_back((remote, PeerId::at(socket.index(), socket.gen)));
        Ok(())
    }

    fn send(&mut self, socket: &mut SimTcp, buffer: &[u8]) -> nb::Result<usize, SimError> {
        self.tcp_slot(*socket)?;
        self.take_fault(SimOp::TcpSend)?;
        let slot = self.tcp_slot(*socket)?;
        if slot.state != TcpState::Connected || !slot.tls.carries_data() {
            return Err(SimError::NotConnected.into());
        }
        if slot.reset {
            return Err(SimError::Reset.into());
        }
        let room = (TCP_BUFFER - slot.from_engine.len()).min(slot.window);
        let n = buffer.len().min(room);
        if n == 0 && !buffer.is_empty() {
            return Err(nb::Error::WouldBlock);
        }
        let chunk = buffer.get(..n).unwrap_or_default();
        slot.from_engine
            .extend_from_slice(chunk)
            .map_err(|_| nb::Error::WouldBlock)?;
        if slot.window != usize::MAX {
            slot.window -= n;
        }
        Ok(n)
    }

    fn receive(&mut self, socket: &mut SimTcp, buffer: &mut [u8]) -> nb::Result<usize, SimError> {
        self.receive_calls = self.receive_calls.wrapping_add(1);
        self.tcp_slot(*socket)?;
        self.take_fault(SimOp::TcpReceive)?;
        let slot = self.tcp_slot(*socket)?;
        if slot.state != TcpState::Connected || !slot.tls.carries_data() {
            return Err(SimError::NotConnected.into());
        }
        if slot.reset {
            return Err(SimError::Reset.into());
        }
        if buffer.is_empty() || !slot.to_engine.is_empty() || slot.peer_fin {
            return Ok(take_front(&mut slot.to_engine, buffer, buffer.len()));
        }
        Err(nb::Error::WouldBlock)
    }

    fn close(&mut self, socket: SimTcp) -> Result<(), SimError> {
        let i = socket.index();
        match self.tcp_slot(socket)?.state {
            TcpState::Connected => self.tcp_mark_closed(i, false),
            TcpState::Listening => {
                for j in 0..TCP_SOCKETS {
                    let state = self.tcp.get(j).map(|s| s.state);
                    if matches!(state, Some(TcpState::Pending { listener, .. }) if listener == i) {
                        self.tcp_mark_closed(j, true);
                    }
                }
                self.tcp_free(i);
            }
            _ => self.tcp_free(i),
        }
        Ok(())
    }
}

impl TcpFullStack for SimNet {
    fn bind(&mut self, socket: &mut SimTcp, local_port: u16) -> Result<(), SimError> {
        let local = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), local_port);
        self.tcp_bind_to(socket, local)
    }

    fn listen(&mut self, socket: &mut SimTcp) -> Result<(), SimError> {
        let slot = self.tcp_slot(*socket)?;
        if slot.state != TcpState::Open || slot.local.is_none() {
            return Err(SimError::InvalidState);
        }
        slot.state = TcpState::Listening;
        Ok(())
    }

    fn accept(&mut self, socket: &mut SimTcp) -> nb::Result<(SimTcp, SocketAddr), SimError> {
        if self.tcp_slot(*socket)?.state != TcpState::Listening {
            return Err(SimError::InvalidState.into());
        }
        self.take_fault(SimOp::TcpAccept)?;
        let pending = |(i, s): (usize, &TcpSlot)| match s.state {
            TcpState::Pending { listener, seq } if listener == socket.index() => Some((seq, i)),
            _ => None,
        };
        let next = self.tcp.iter().enumerate().filter_map(pending).min();
        let (_, i) = next.ok_or(nb::Error::WouldBlock)?;
        let slot = self.tcp.get_mut(i).ok_or(nb::Error::WouldBlock)?;
        let remote = slot.remote.ok_or(SimError::InvalidState)?;
        slot.state = TcpState::Connected;
        Ok((SimTcp::at(i, slot.gen), remote))
    }
}

impl TcpExt for SimNet {
    fn tcp_bind_to(&mut self, socket: &mut SimTcp, local: SocketAddr) -> Result<(), SimError> {
        let slot = self.tcp_slot(*socket)?;
        if slot.state != TcpState::Open || slot.local.is_some() {
            return Err(SimError::InvalidState);
        }
        let clash = self.tcp.iter().any(|s| {
            matches!(
                s.state,
                TcpState::Open | TcpState::Listening | TcpState::Connecting(_)
            ) && s.local.is_some_and(|l| {
                l.port() == local.port()
                    && (covers(l.ip(), local.ip()) || covers(local.ip(), l.ip()))
            })
        });
        let local = self.bind_addr(true, local, clash)?;
        self.tcp_slot(*socket)?.local = Some(local);
        Ok(())
    }

    fn tcp_set_option(&mut self, socket: &mut SimTcp, option: TcpOption) -> Result<(), SimError> {
        let o = &mut self.tcp_slot(*socket)?.options;
        match option {
            TcpOption::Linger(v) => o.linger = v,
            TcpOption::NoDelay(v) => o.no_delay = v,
            TcpOption::SendTimeout(v) => o.send_timeout = v,
            TcpOption::KeepAlive(v) => o.keep_alive = v,
        }
        Ok(())
    }

    fn tcp_local_addr(&mut self, socket: &SimTcp) -> Option<SocketAddr> {
        self.tcp_slot(*socket).ok()?.local
    }

    fn tcp_available(&mut self, socket: &mut SimTcp) -> Result<usize, SimError> {
        let slot = self.tcp_slot(*socket)?;
        match slot.reset {
            true => Err(SimError::Reset),
            false => Ok(slot.to_engine.len()),
        }
    }
}

impl UdpClientStack for SimNet {
    type UdpSocket = SimUdp;
    type Error = SimError;

    fn socket(&mut self) -> Result<SimUdp, SimError> {
        self.take_fault(SimOp::UdpSocket)?;
        let (i, slot) = (self.udp.iter_mut().enumerate())
            .find(|(_, s)| !s.open)
            .ok_or(SimError::NoSockets)?;
        let gen = slot.gen.wrapping_add(1);
        *slot = UdpSlot {
            gen,
            open: true,
            ..UdpSlot::default()
        };
        Ok(SimUdp::at(i, gen))
    }

    fn connect(&mut self, socket: &mut SimUdp, remote: SocketAddr) -> Result<(), SimError> {
        self.udp_slot(*socket)?;
        self.take_fault(SimOp::UdpConnect)?;
        if bad_remote(remote, self.udp_slot(*socket)?.local) {
            return Err(SimError::InvalidAddress);
        }
        self.udp_autobind(*socket, local_ip_for(remote.ip()))?;
        self.udp_slot(*socket)?.remote = Some(remote);
        Ok(())
    }

    fn send(&mut self, socket: &mut SimUdp, buffer: &[u8]) -> nb::Result<(), SimError> {
        self.udp_slot(*socket)?;
        self.take_fault(SimOp::UdpSend)?;
        let remote = self
            .udp_slot(*socket)?
            .remote
            .ok_or(SimError::NotConnected)?;
        Ok(self.udp_send_to(*socket, remote, buffer)?)
    }

    fn receive(
        &mut self,
        socket: &mut SimUdp,
        buffer: &mut [u8],
    ) -> nb::Result<(usize, SocketAddr), SimError> {
        self.udp_slot(*socket)?;
        self.take_fault(SimOp::UdpReceive)?;
        let slot = self.udp_slot(*socket)?;
        let (from, len) = slot.queue.pop_front().ok_or(nb::Error::WouldBlock)?;
        Ok((take_front(&mut slot.bytes, buffer, len.into()), from))
    }

    fn close(&mut self, socket: SimUdp) -> Result<(), SimError> {
        self.udp_slot(socket)?.open = false;
        Ok(())
    }
}

impl UdpFullStack for SimNet {
    fn bind(&mut self, socket: &mut SimUdp, local_port: u16) -> Result<(), SimError> {
        let local = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), local_port);
        self.udp_bind_to(socket, local)
    }

    fn send_to(
        &mut self,
        socket: &mut SimUdp,
        remote: SocketAddr,
        buffer: &[u8],
    ) -> nb::Result<(), SimError> {
        self.udp_slot(*socket)?;
        self.take_fault(SimOp::UdpSend)?;
        Ok(self.udp_send_to(*socket, remote, buffer)?)
    }
}

impl UdpExt for SimNet {
    fn udp_bind_to(&mut self, socket: &mut SimUdp, local: SocketAddr) -> Result<(), SimError> {
        if self.udp_slot(*socket)?.local.is_some() {
            return Err(SimError::InvalidState);
        }
        let clash = self.udp.iter().any(|s| {
            s.open
                && s.local.is_some_and(|l| {
                    l.port() == local.port()
                        && (covers(l.ip(), local.ip()) || covers(local.ip(), l.ip()))
                })
        });
        let local = self.bind_addr(false, local, clash)?;
        self.udp_slot(*socket)?.local = Some(local);
        Ok(())
    }

    fn udp_join_multicast(&mut self, socket: &mut SimUdp, group: IpAddr) -> Result<(), SimError> {
        let slot = self.udp_slot(*socket)?;
        if !group.is_multicast() {
            return Err(SimError::InvalidAddress);
        }
        if slot.groups.contains(&group) {
            return Ok(());
        }
        slot.groups.push(group).map_err(|_| SimError::Full)
    }

    fn udp_set_broadcast(&mut self, socket: &mut SimUdp, on: bool) -> Result<(), SimError> {
        self.udp_slot(*socket)?.broadcast = on;
        Ok(())
    }

    fn udp_local_addr(&mut self, socket: &SimUdp) -> Option<SocketAddr> {
        self.udp_slot(*socket).ok()?.local
    }

    fn udp_next_len(&mut self, socket: &mut SimUdp) -> Option<usize> {
        let slot = self.udp_slot(*socket).ok()?;
        Some(slot.queue.front().map_or(0, |(_, len)| usize::from(*len)))
    }
}

impl Dns for SimNet {
    type Error = SimError;

    /// Numeric addresses parse at once (a family `addr_type` excludes is `NotFound`);
    /// names wait [`SimNet::set_dns_delay`] polls, then answer from the table: `IPv4`
    /// only A, `IPv6` only AAAA, `Either` A if there is one, else AAAA.
    fn get_host_by_name(
        &mut self,
        name: &str,
        addr_type: AddrType,
    ) -> nb::Result<IpAddr, SimError> {
        if let Err(e) = self.take_fault(SimOp::Dns) {
            self.dns_left = None;
            return Err(e.into());
        }
        let fits = |ip: &IpAddr| match addr_type {
            AddrType::IPv4 => ip.is_ipv4(),
            AddrType::IPv6 => ip.is_ipv6(),
            AddrType::Either => true,
        };
        if let Ok(ip) = IpAddr::from_str(name) {
            return Some(ip).filter(fits).ok_or(SimError::NotFound.into());
        }
        let left = self.dns_left.get_or_insert(self.dns_delay);
        if let Some(l) = left.checked_sub(1) {
            *left = l;
            return Err(nb::Error::WouldBlock);
        }
        self.dns_left = None;
        let mut found = (self.hosts.iter())
            .filter(|(n, ip)| n.eq_ignore_ascii_case(name) && fits(ip))
            .map(|(_, ip)| *ip);
        let first = found.next();
        let v4 = first
            .filter(IpAddr::is_ipv4)
            .or_else(|| found.find(IpAddr::is_ipv4));
        v4.or(first).ok_or(SimError::NotFound.into())
    }

    /// The first name with an entry for `addr`.
    fn get_host_by_address(
        &mut self,
        addr: IpAddr,
        result: &mut [u8],
    ) -> nb::Result<usize, SimError> {
        self.take_fault(SimOp::Dns)?;
        let (name, _) = self
            .hosts
            .iter()
            .find(|(_, ip)| *ip == addr)
            .ok_or(SimError::NotFound)?;
        let dst = result
            .get_mut(..name.len())
            .ok_or(SimError::BufferTooSmall)?;
        dst.copy_from_slice(name.as_bytes());
        Ok(name.len())
    }
}

/// A simulated Wi-Fi station. Access point `i` (in the order added) has BSSID
/// `0a:00:00:00:00:<i+1>`, channel `1 + 5i mod 13` and RSSI `-40 - 5i` dBm (scans list
/// them in order); it is open (encryption 0, any password joins) without a password,
/// else WPA2_PSK (3).
#[derive(Clone, Debug, Default)]
pub struct SimStation {
    aps: Vec<(Vec<u8, SSID_MAX>, Vec<u8, PASSWORD_MAX>), STATION_APS>,
    joined: Option<usize>,
    join_delay: u8,
    join_left: Option<u8>,
    join_fail: Option<JoinError>,
    disconnected: bool,
}

impl SimStation {
    /// An access point becomes visible.
    pub fn add_ap(&mut self, ssid: &[u8], password: &[u8]) -> Result<(), SimError> {
        let ssid = Vec::from_slice(ssid).map_err(|_| SimError::TooLong)?;
        let password = Vec::from_slice(password).map_err(|_| SimError::TooLong)?;
        self.aps.push((ssid, password)).map_err(|_| SimError::Full)
    }

    /// Every join from now on answers `WouldBlock` `polls` times before its outcome
    /// (default 0).
    pub fn set_join_delay(&mut self, polls: u8) {
        self.join_delay = polls;
    }

    /// The next join that would succeed fails with `error` instead (once).
    pub fn fail_next_join(&mut self, error: JoinError) {
        self.join_fail = Some(error);
    }

    /// The link drops: the station leaves its access point and the next `poll_event`
    /// returns [`StationEvent::Disconnected`] (once).
    pub fn drop_link(&mut self) {
        self.leave();
        self.disconnected = true;
    }

    /// Back to power-on: not joined, no join in progress, no event pending. Access points
    /// and settings stay.
    pub fn restart(&mut self) {
        self.leave();
        self.disconnected = false;
    }

    /// The BSSID of access point `index`.
    pub fn bssid(index: usize) -> [u8; 6] {
        [0x0a, 0, 0, 0, 0, (index as u8).wrapping_add(1)]
    }

    fn ap_info(&self, index: usize) -> Option<AccessPoint> {
        let (ssid, password) = self.aps.get(index)?;
        let i = index as u8;
        Some(AccessPoint {
            ssid: ssid.clone(),
            bssid: Self::bssid(index),
            channel: 1 + i.wrapping_mul(5) % 13,
            rssi: (-40i8).saturating_sub((i as i8).saturating_mul(5)),
            encryption: if password.is_empty() { 0 } else { 3 },
        })
    }
}

impl Station for SimStation {
    fn join(
        &mut self,
        ssid: &[u8],
        password: &[u8],
        bssid: Option<[u8; 6]>,
    ) -> nb::Result<(), JoinError> {
        if self.join_left.is_none() {
            self.joined = None;
        }
        let left = self.join_left.get_or_insert(self.join_delay);
        if let Some(l) = left.checked_sub(1) {
            *left = l;
            return Err(nb::Error::WouldBlock);
        }
        self.join_left = None;
        let (index, (_, pass)) = (self.aps.iter().enumerate())
            .find(|(i, (s, _))| s == ssid && bssid.is_none_or(|b| b == Self::bssid(*i)))
            .ok_or(JoinError::NoAccessPoint)?;
        if !pass.is_empty() && pass != password {
            return Err(JoinError::WrongPassword.into());
        }
        if let Some(e) = self.join_fail.take() {
            return Err(e.into());
        }
        self.joined = Some(index);
        Ok(())
    }

    fn leave(&mut self) {
        self.joined = None;
        self.join_left = None;
    }

    fn scan(&mut self, index: usize) -> Option<AccessPoint> {
        self.ap_info(index)
    }

    fn joined(&self) -> Option<AccessPoint> {
        self.ap_info(self.joined?)
    }

    fn ipv4(&self) -> Option<Ipv4Config> {
        let (ip, gateway, netmask) = (SIM_IPV4, SIM_GATEWAY, SIM_NETMASK);
        self.joined.map(|_| Ipv4Config {
            ip,
            gateway,
            netmask,
        })
    }

    fn ipv6_link_local(&self) -> Option<Ipv6Addr> {
        self.joined.map(|_| SIM_IPV6_LINK_LOCAL)
    }

    fn ipv6_global(&self) -> Option<Ipv6Addr> {
        self.joined.map(|_| SIM_IPV6_GLOBAL)
    }

    fn mac(&self) -> [u8; 6] {
        SIM_MAC
    }

    fn poll_event(&mut self) -> Option<StationEvent> {
        core::mem::take(&mut self.disconnected).then_some(StationEvent::Disconnected)
    }
}

/// [`crate::testing::FakePlatform`] with a simulated network and station: a
/// [`NetPlatform`] for engine tests of the TCP/IP commands.
#[derive(Clone, Debug, Default)]
pub struct SimPlatform {
    /// The settings store.
    pub store: MemoryStore,
    /// The simulated TCP/IP stack and its world.
    pub net: SimNet,
    /// The simulated Wi-Fi station.
    pub station: SimStation,
    /// The simulated ICMP echo.
    pub pinger: SimPinger,
    /// Every UART configuration applied, oldest first (the last 8).
    pub uart_applied: Deque<UartConfig, 8>,
    /// How many times the platform was restarted.
    pub restarts: u32,
    /// Reject every UART configuration.
    pub refuse_uart: bool,
    /// The state of [`NetPlatform::random_u32`]'s generator (xorshift32; 0 is taken as
    /// its default seed): deterministic, so that tests can replay a run.
    pub random_state: u32,
}

impl Platform for SimPlatform {
    type Store = MemoryStore;

    fn store(&mut self) -> &mut MemoryStore {
        &mut self.store
    }

    fn firmware(&self) -> FirmwareInfo<'_> {
        crate::testing::FAKE_FIRMWARE
    }

    fn apply_uart(&mut self, config: &UartConfig) -> Result<(), UartError> {
        if self.refuse_uart {
            return Err(UartError::Unsupported);
        }
        if self.uart_applied.is_full() {
            self.uart_applied.pop_front();
        }
        let _ = self.uart_applied.push_back(*config);
        Ok(())
    }

    /// Counts the restart, and restarts the network ([`SimNet::restart`]) and the station
    /// ([`SimStation::restart`]): a chip's sockets and link do not survive a reset.
    fn restart(&mut self) {
        self.restarts = self.restarts.saturating_add(1);
        self.net.restart();
        self.station.restart();
    }

    fn memory(&self) -> MemoryUsage {
        MemoryUsage {
            free: 120_000,
            min_free: 100_000,
        }
    }
}

/// Simulated ICMP echo: hosts added with [`reachable`](Self::reachable) answer after a
/// number of polls; every other address never answers.
#[derive(Clone, Debug, Default)]
pub struct SimPinger {
    hosts: heapless::Vec<(IpAddr, u8), 8>,
    /// Polls left before the reply to the outstanding request; `None`: no reply coming.
    outstanding: Option<Option<u8>>,
    /// Every address pinged, oldest first (the last 8).
    pub sent: heapless::Deque<IpAddr, 8>,
}

impl SimPinger {
    /// Makes `addr` answer after `polls` polls (0: at the first poll).
    pub fn reachable(&mut self, addr: IpAddr, polls: u8) -> Result<(), SimError> {
        self.hosts.push((addr, polls)).map_err(|_| SimError::Full)
    }
}

impl crate::net::Pinger for SimPinger {
    type Error = SimError;

    fn ping_send(&mut self, addr: IpAddr) -> Result<(), SimError> {
        if self.sent.is_full() {
            self.sent.pop_front();
        }
        let _ = self.sent.push_back(addr);
        self.outstanding = Some(self.hosts.iter().find(|(a, _)| *a == addr).map(|(_, d)| *d));
        Ok(())
    }

    fn ping_poll(&mut self) -> nb::Result<(), SimError> {
        match &mut self.outstanding {
            Some(Some(0)) => {
                self.outstanding = None;
                Ok(())
            }
            Some(Some(left)) => {
                *left -= 1;
                Err(nb::Error::WouldBlock)
            }
            Some(None) => Err(nb::Error::WouldBlock),
            None => Err(nb::Error::Other(SimError::InvalidState)),
        }
    }

    fn ping_cancel(&mut self) {
        self.outstanding = None;
    }
}

impl NetPlatform for SimPlatform {
    type Net = SimNet;
    type Station = SimStation;
    type Pinger = SimPinger;

    fn pinger(&mut self) -> &mut SimPinger {
        &mut self.pinger
    }

    fn net(&mut self) -> &mut SimNet {
        &mut self.net
    }

    fn take_network_activity(&mut self) -> bool {
        self.net.take_activity()
    }

    fn random_u32(&mut self) -> u32 {
        // xorshift32 (Marsaglia): a full-period generator of the nonzero 32-bit values.
        let mut x = if self.random_state == 0 {
            0x2545_f491
        } else {
            self.random_state
        };
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.random_state = x;
        x
    }

    fn station(&mut self) -> &mut SimStation {
        &mut self.station
    }
}

#[cfg(test)]
mod test {
    use super::SimError::*;
    use super::*;
    use nb::Error::{Other, WouldBlock};
    use TcpClientStack as Tcp;
    use UdpClientStack as Udp;

    fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
        SocketAddr::new(Ipv4Addr::new(a, b, c, d).into(), port)
    }

    const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 80);

    /// A connected client socket and its peer.
    fn connected(net: &mut SimNet) -> (SimTcp, PeerId) {
        net.listen(SERVER).unwrap();
        let mut s = Tcp::socket(net).unwrap();
        Tcp::connect(net, &mut s, SERVER).unwrap();
        (s, net.accepted(SERVER).unwrap())
    }

    #[test]
    fn connect_refused_and_delay() {
        let mut net = SimNet::new();
        let mut s = Tcp::socket(&mut net).unwrap();
        assert_eq!(Tcp::connect(&mut net, &mut s, SERVER), Err(Other(Refused)));
        assert_eq!(Refused.kind(), TcpErrorKind::Other);
        net.listen(SERVER).unwrap();
        net.set_connect_delay(2);
        assert_eq!(Tcp::connect(&mut net, &mut s, SERVER), Err(WouldBlock));
        assert_eq!(Tcp::connect(&mut net, &mut s, SERVER), Err(WouldBlock));
        assert_eq!(Tcp::connect(&mut net, &mut s, SERVER), Ok(()));
        assert_eq!(Tcp::connect(&mut net, &mut s, SERVER), Ok(()));
        let peer = net.accepted(SERVER).unwrap();
        assert_eq!(net.accepted(SERVER), None);
        let local = v4(192, 168, 4, 2, EPHEMERAL_PORT_FIRST);
        assert_eq!(net.tcp_local_addr(&s), Some(local));
        assert_eq!(net.peer_addrs(peer), Some((local, SERVER)));

        let v6 = SocketAddr::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).into(), 443);
        net.listen(v6).unwrap();
        net.set_connect_delay(0);
        let mut s6 = Tcp::socket(&mut net).unwrap();
        Tcp::connect(&mut net, &mut s6, v6).unwrap();
        let want = SocketAddr::new(SIM_IPV6_GLOBAL.into(), EPHEMERAL_PORT_FIRST + 1);
        assert_eq!(net.tcp_local_addr(&s6), Some(want));
        assert_eq!(net.next_accepted().map(|(a, _)| a), Some(v6));
        assert_eq!(
            Tcp::connect(&mut net, &mut s6, SERVER),
            Err(Other(InvalidState))
        );
        assert_eq!(net.tcp_open_sockets(), 2);
    }

    #[test]
    fn data_both_ways_with_window() {
        let mut net = SimNet::new();
        let (mut s, peer) = connected(&mut net);
        let mut buf = [0u8; 16];
        assert_eq!(Tcp::receive(&mut net, &mut s, &mut buf), Err(WouldBlock));
        assert_eq!(net.peer_send(peer, b"hello"), 5);
        assert_eq!(net.tcp_available(&mut s), Ok(5));
        assert_eq!(Tcp::receive(&mut net, &mut s, &mut buf[..3]), Ok(3));
        assert_eq!(Tcp::receive(&mut net, &mut s, &mut buf), Ok(2));
        assert_eq!(&buf[..2], b"lo");

        assert_eq!(Tcp::send(&mut net, &mut s, b"abc"), Ok(3));
        assert_eq!(net.peer_received(peer), b"abc");
        net.set_send_window(peer, 4);
        assert_eq!(Tcp::send(&mut net, &mut s, b"defgh"), Ok(4));
        assert_eq!(Tcp::send(&mut net, &mut s, b"h"), Err(WouldBlock));
        let mut out = [0u8; 4];
        assert_eq!(net.peer_take(peer, &mut out), 4);
        assert_eq!((&out, net.peer_received(peer)), (b"abcd", &b"efg"[..]));
        net.set_send_window(peer, usize::MAX);

        let big = [7u8; TCP_BUFFER + 10];
        assert_eq!(net.peer_send(peer, &big), TCP_BUFFER);
        assert_eq!(net.peer_send(peer, b"x"), 0);
        assert_eq!(Tcp::send(&mut net, &mut s, &big), Ok(TCP_BUFFER - 3));
        assert_eq!(Tcp::send(&mut net, &mut s, b"x"), Err(WouldBlock));
    }

    #[test]
    fn peer_close_then_zero_and_engine_close() {
        let mut net = SimNet::new();
        let (mut s, peer) = connected(&mut net);
        net.peer_send(peer, b"bye");
        net.peer_close(peer);
        assert_eq!(net.peer_send(peer, b"more"), 0);
        let mut buf = [0u8; 8];
        assert_eq!(Tcp::receive(&mut net, &mut s, &mut buf), Ok(3));
        assert_eq!(Tcp::receive(&mut net, &mut s, &mut buf), Ok(0));
        assert_eq!(Tcp::receive(&mut net, &mut s, &mut buf), Ok(0));
        Tcp::send(&mut net, &mut s, b"last").unwrap();
        assert!(!net.engine_closed(peer));
        Tcp::close(&mut net, s).unwrap();
        assert!(net.engine_closed(peer));
        assert_eq!(net.peer_received(peer), b"last");
        assert_eq!(net.tcp_open_sockets(), 0);
    }

    #[test]
    fn peer_reset_is_pipe_closed() {
        let mut net = SimNet::new();
        let (mut s, peer) = connected(&mut net);
        net.peer_send(peer, b"lost");
        net.peer_reset(peer);
        assert_eq!(
            Tcp::receive(&mut net, &mut s, &mut [0; 8]),
            Err(Other(Reset))
        );
        assert_eq!(Reset.kind(), TcpErrorKind::PipeClosed);
        assert_eq!(Tcp::send(&mut net, &mut s, b"x"), Err(Other(Reset)));
        assert_eq!(net.tcp_available(&mut s), Err(Reset));
        assert_eq!(Tcp::close(&mut net, s), Ok(()));
    }

    #[test]
    fn stale_handles_and_exhaustion() {
        let mut net = SimNet::new();
        let (mut s, peer) = connected(&mut net);
        let stale = s;
        Tcp::close(&mut net, s).unwrap();
        let mut fresh = Tcp::socket(&mut net).unwrap();
        assert_eq!(Tcp::send(&mut net, &mut s, b"x"), Err(Other(BadHandle)));
        assert_eq!(
            Tcp::receive(&mut net, &mut s, &mut [0; 4]),
            Err(Other(BadHandle))
        );
        assert_eq!(Tcp::close(&mut net, stale), Err(BadHandle));
        assert_eq!(net.tcp_local_addr(&stale), None);
        TcpFullStack::bind(&mut net, &mut fresh, 0).unwrap();
        // Fill every slot: the closed connection's slot is reused last.
        let mut all = std::vec![fresh];
        while let Ok(h) = Tcp::socket(&mut net) {
            all.push(h);
        }
        assert_eq!(all.len(), TCP_SOCKETS);
        assert_eq!(Tcp::socket(&mut net), Err(NoSockets));
        assert_eq!(all.last().map(|h| h.index()), Some(stale.index()));
        assert_eq!(Tcp::close(&mut net, stale), Err(BadHandle));
        assert_eq!(
            (net.peer_received(peer), net.engine_closed(peer)),
            (&b""[..], true)
        );
        all.into_iter()
            .for_each(|h| Tcp::close(&mut net, h).unwrap());

        let u = Udp::socket(&mut net).unwrap();
        Udp::close(&mut net, u).unwrap();
        let u2 = Udp::socket(&mut net).unwrap();
        assert_eq!(u2.index(), u.index());
        assert_eq!(
            Udp::send(&mut net, &mut u.clone(), b"x"),
            Err(Other(BadHandle))
        );
        assert_eq!(Udp::close(&mut net, u), Err(BadHandle));
    }

    #[test]
    fn accept_via_peer_connect() {
        let mut net = SimNet::new();
        let mut l = Tcp::socket(&mut net).unwrap();
        assert_eq!(TcpFullStack::listen(&mut net, &mut l), Err(InvalidState));
        TcpFullStack::bind(&mut net, &mut l, 333).unwrap();
        TcpFullStack::listen(&mut net, &mut l).unwrap();
        assert_eq!(net.tcp_listener_at(333), Some(l));
        let mut other = Tcp::socket(&mut net).unwrap();
        assert_eq!(
            TcpFullStack::bind(&mut net, &mut other, 333),
            Err(AddrInUse)
        );
        Tcp::close(&mut net, other).unwrap();

        assert_eq!(TcpFullStack::accept(&mut net, &mut l), Err(WouldBlock));
        let to = v4(192, 168, 4, 2, 333);
        let from = v4(192, 168, 4, 7, 5000);
        let v6 = SocketAddr::new(SIM_IPV6_GLOBAL.into(), 333);
        assert_eq!(net.peer_connect(v6, from), Err(NoListener));
        assert_eq!(
            net.peer_connect(v4(192, 168, 4, 2, 334), from),
            Err(NoListener)
        );
        let p1 = net.peer_connect(to, from).unwrap();
        net.peer_send(p1, b"early");
        let p2 = net.peer_connect(to, v4(192, 168, 4, 8, 5001)).unwrap();
        let (mut a1, r1) = TcpFullStack::accept(&mut net, &mut l).unwrap();
        assert_eq!((r1, net.tcp_local_addr(&a1)), (from, Some(to)));
        assert_eq!(Tcp::receive(&mut net, &mut a1, &mut [0; 8]), Ok(5));
        Tcp::send(&mut net, &mut a1, b"hi").unwrap();
        assert_eq!(net.peer_received(p1), b"hi");

        // The backlog holds p2 and three more.
        for i in 0..TCP_BACKLOG as u16 - 1 {
            net.peer_connect(to, v4(10, 0, 0, 9, 6000 + i)).unwrap();
        }
        assert_eq!(net.peer_connect(to, v4(10, 0, 0, 9, 7000)), Err(Full));
        // Closing the listener resets what it never accepted.
        Tcp::close(&mut net, l).unwrap();
        assert!(net.engine_closed(p2) && !net.engine_closed(p1));
        assert_eq!(net.peer_send(p2, b"x"), 0);
        assert_eq!(net.tcp_open_sockets(), 1);
    }

    #[test]
    fn udp_inject_send_and_drop() {
        let mut net = SimNet::new();
        let mut u = Udp::socket(&mut net).unwrap();
        UdpFullStack::bind(&mut net, &mut u, 5000).unwrap();
        assert_eq!(net.udp_socket_at(5000), Some(u));
        let mut buf = [0u8; 16];
        assert_eq!(Udp::receive(&mut net, &mut u, &mut buf), Err(WouldBlock));
        let (to, from) = (v4(192, 168, 4, 2, 5000), v4(192, 168, 4, 9, 7));
        let elsewhere = v4(192, 168, 4, 2, 5001);
        assert_eq!(net.udp_peer_inject(elsewhere, from, b"x"), Err(NoListener));
        for i in 0..UDP_QUEUE_DATAGRAMS as u8 {
            net.udp_peer_inject(to, from, &[i; 3]).unwrap();
        }
        assert_eq!(net.udp_peer_inject(to, from, b"over"), Err(Full));
        assert_eq!(Udp::receive(&mut net, &mut u, &mut buf[..2]), Ok((2, from)));
        assert_eq!(Udp::receive(&mut net, &mut u, &mut buf), Ok((3, from)));
        assert_eq!(&buf[..3], &[1, 1, 1]);
        let big = [0u8; UDP_DATAGRAM_MAX + 1];
        assert_eq!(net.udp_peer_inject(to, from, &big), Err(TooLarge));
        assert_eq!(
            net.udp_peer_inject(to, from, &big[..UDP_DATAGRAM_MAX]),
            Ok(())
        );

        let dest = v4(192, 168, 4, 9, 9);
        UdpFullStack::send_to(&mut net, &mut u, dest, b"ping").unwrap();
        assert_eq!(net.udp_sent(), Some((to, dest, &b"ping"[..])));
        assert_eq!(net.udp_take_sent(&mut [0; 8]), Some((to, dest, 4)));
        assert_eq!(net.udp_sent(), None);
        assert_eq!(Udp::send(&mut net, &mut u, b"x"), Err(Other(NotConnected)));
        let r = UdpFullStack::send_to(&mut net, &mut u, dest, &big);
        assert_eq!(r, Err(Other(TooLarge)));
        for _ in 0..UDP_SENT_LOG + 2 {
            UdpFullStack::send_to(&mut net, &mut u, dest, b"n").unwrap();
        }
        assert_eq!(net.udp_sent_dropped(), 2);

        // A connected socket gets an ephemeral port and filters other sources.
        let mut c = Udp::socket(&mut net).unwrap();
        Udp::connect(&mut net, &mut c, dest).unwrap();
        let local = net.udp_local_addr(&c).unwrap();
        assert_eq!(local, v4(192, 168, 4, 2, EPHEMERAL_PORT_FIRST));
        assert_eq!(net.udp_peer_inject(local, from, b"x"), Err(Filtered));
        net.udp_peer_inject(local, dest, b"pong").unwrap();
        assert_eq!(Udp::receive(&mut net, &mut c, &mut buf), Ok((4, dest)));
        Udp::send(&mut net, &mut c, b"q").unwrap();
        assert_eq!(net.udp_open_sockets(), 2);
    }

    #[test]
    fn udp_multicast_and_broadcast() {
        let mut net = SimNet::new();
        let mut u = Udp::socket(&mut net).unwrap();
        UdpFullStack::bind(&mut net, &mut u, 5353).unwrap();
        let group = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 251));
        let (to, from) = (SocketAddr::new(group, 5353), v4(192, 168, 4, 3, 5353));
        assert_eq!(net.udp_peer_inject(to, from, b"m"), Err(NoListener));
        let unicast = IpAddr::V4(SIM_IPV4);
        assert_eq!(net.udp_join_multicast(&mut u, unicast), Err(InvalidAddress));
        net.udp_join_multicast(&mut u, group).unwrap();
        net.udp_join_multicast(&mut u, group).unwrap();
        assert_eq!(net.udp_joined(u), &[group]);
        net.udp_peer_inject(to, from, b"m").unwrap();
        assert!(!net.udp_broadcast(u));
        net.udp_set_broadcast(&mut u, true).unwrap();
        assert!(net.udp_broadcast(u));
        let mut other = Udp::socket(&mut net).unwrap();
        let here = SocketAddr::new(unicast, 5353);
        assert_eq!(net.udp_bind_to(&mut other, here), Err(AddrInUse));
        let foreign = v4(10, 1, 1, 1, 1);
        assert_eq!(net.udp_bind_to(&mut other, foreign), Err(InvalidAddress));
        Udp::close(&mut net, u).unwrap();
        assert!(net.udp_joined(u).is_empty() && !net.udp_broadcast(u));
    }

    #[test]
    fn dns() {
        let mut net = SimNet::new();
        let a = IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34));
        let aaaa = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x34));
        net.add_host("dual.example", aaaa).unwrap();
        net.add_host("dual.example", a).unwrap();
        net.add_host("six.example", aaaa).unwrap();
        assert_eq!(net.add_host(&"x".repeat(DNS_NAME_MAX + 1), a), Err(TooLong));
        let mut q = |name: &str, t: AddrType| net.get_host_by_name(name, t);
        assert_eq!(q("DUAL.example", AddrType::Either), Ok(a));
        assert_eq!(q("dual.example", AddrType::IPv6), Ok(aaaa));
        assert_eq!(q("six.example", AddrType::Either), Ok(aaaa));
        assert_eq!(q("six.example", AddrType::IPv4), Err(Other(NotFound)));
        assert_eq!(q("nowhere", AddrType::Either), Err(Other(NotFound)));
        assert_eq!(
            q("10.0.0.1", AddrType::Either),
            Ok("10.0.0.1".parse().unwrap())
        );
        assert_eq!(q("::1", AddrType::IPv4), Err(Other(NotFound)));
        net.set_dns_delay(1);
        for _ in 0..2 {
            let r = net.get_host_by_name("dual.example", AddrType::IPv4);
            assert_eq!(r, Err(WouldBlock));
            assert_eq!(net.get_host_by_name("dual.example", AddrType::IPv4), Ok(a));
        }
        let mut name = [0u8; 64];
        assert_eq!(net.get_host_by_address(a, &mut name), Ok(12));
        assert_eq!(&name[..12], b"dual.example");
        let r = net.get_host_by_address(a, &mut name[..3]);
        assert_eq!(r, Err(Other(BufferTooSmall)));
    }

    #[test]
    fn fault_injection_and_restart() {
        let mut net = SimNet::new();
        net.fail_next(SimOp::TcpSocket);
        assert_eq!(Tcp::socket(&mut net), Err(Injected));
        let (mut s, peer) = connected(&mut net);
        net.fail_next(SimOp::TcpSend);
        net.fail_next(SimOp::TcpReceive);
        assert_eq!(Tcp::send(&mut net, &mut s, b"x"), Err(Other(Injected)));
        net.peer_send(peer, b"y");
        assert_eq!(
            Tcp::receive(&mut net, &mut s, &mut [0; 2]),
            Err(Other(Injected))
        );
        assert_eq!(Tcp::receive(&mut net, &mut s, &mut [0; 2]), Ok(1));
        net.fail_next(SimOp::TcpConnect);
        let mut s2 = Tcp::socket(&mut net).unwrap();
        assert_eq!(
            Tcp::connect(&mut net, &mut s2, SERVER),
            Err(Other(Injected))
        );
        assert_eq!(Tcp::connect(&mut net, &mut s2, SERVER), Ok(()));
        net.fail_next(SimOp::Dns);
        let r = net.get_host_by_name("1.2.3.4", AddrType::Either);
        assert_eq!(r, Err(Other(Injected)));
        net.fail_next(SimOp::UdpSocket);
        assert_eq!(Udp::socket(&mut net), Err(Injected));
        let _ = Udp::socket(&mut net).unwrap();
        net.restart();
        assert_eq!((net.tcp_open_sockets(), net.udp_open_sockets()), (0, 0));
        assert!(net.engine_closed(peer));
    }

    #[test]
    fn options_read_back() {
        let mut net = SimNet::new();
        let mut s = Tcp::socket(&mut net).unwrap();
        assert_eq!(net.tcp_options(s), Some(SimTcpOptions::default()));
        net.tcp_set_option(&mut s, TcpOption::NoDelay(true))
            .unwrap();
        net.tcp_set_option(&mut s, TcpOption::KeepAlive(Some(7)))
            .unwrap();
        net.tcp_set_option(&mut s, TcpOption::Linger(Some(3)))
            .unwrap();
        net.tcp_set_option(&mut s, TcpOption::SendTimeout(500))
            .unwrap();
        let want = SimTcpOptions {
            linger: Some(3),
            no_delay: true,
            send_timeout: 500,
            keep_alive: Some(7),
        };
        assert_eq!(net.tcp_options(s), Some(want));
        net.listen(SERVER).unwrap();
        Tcp::connect(&mut net, &mut s, SERVER).unwrap();
        let peer = net.accepted(SERVER).unwrap();
        Tcp::close(&mut net, s).unwrap();
        assert_eq!(net.tcp_options(peer.socket()), Some(want));
        let r = net.tcp_set_option(&mut s, TcpOption::NoDelay(false));
        assert_eq!(r, Err(BadHandle));
    }

    #[test]
    fn station_join() {
        let mut st = SimStation::default();
        st.add_ap(b"home", b"secret").unwrap();
        st.add_ap(b"open", b"").unwrap();
        assert_eq!(st.add_ap(&[b'x'; 33], b""), Err(TooLong));
        assert_eq!(
            st.join(b"nope", b"", None),
            Err(Other(JoinError::NoAccessPoint))
        );
        assert_eq!(
            st.join(b"home", b"bad", None),
            Err(Other(JoinError::WrongPassword))
        );
        let other = Some(SimStation::bssid(1));
        assert_eq!(
            st.join(b"home", b"secret", other),
            Err(Other(JoinError::NoAccessPoint))
        );
        assert_eq!(st.ipv4(), None);
        st.set_join_delay(1);
        assert_eq!(st.join(b"home", b"secret", None), Err(WouldBlock));
        assert_eq!(st.join(b"home", b"secret", None), Ok(()));
        let ap = st.joined().unwrap();
        assert_eq!(ap.ssid.as_slice(), b"home");
        assert_eq!(
            (ap.bssid, ap.channel, ap.rssi, ap.encryption),
            ([10, 0, 0, 0, 0, 1], 1, -40, 3)
        );
        let ip = st.ipv4().unwrap();
        assert_eq!(
            (ip.ip, ip.gateway, ip.netmask),
            (SIM_IPV4, SIM_GATEWAY, SIM_NETMASK)
        );
        assert_eq!(st.ipv6_link_local(), Some(SIM_IPV6_LINK_LOCAL));
        assert_eq!(
            (st.ipv6_global(), st.mac()),
            (Some(SIM_IPV6_GLOBAL), SIM_MAC)
        );
        let scan = st.scan(1).map(|a| (a.channel, a.rssi, a.encryption));
        assert_eq!((scan, st.scan(2)), (Some((6, -45, 0)), None));
        assert_eq!(st.poll_event(), None);
        st.drop_link();
        assert_eq!(st.poll_event(), Some(StationEvent::Disconnected));
        assert_eq!((st.poll_event(), st.joined()), (None, None));
        st.set_join_delay(0);
        st.fail_next_join(JoinError::Timeout);
        assert_eq!(
            st.join(b"open", b"any", None),
            Err(Other(JoinError::Timeout))
        );
        assert_eq!(st.join(b"open", b"any", None), Ok(()));
        st.leave();
        assert_eq!(st.joined(), None);
    }

    #[test]
    fn platform_in_harness() {
        fn scan_count<P: NetPlatform>(p: &mut P) -> usize {
            (0..).take_while(|&i| p.station().scan(i).is_some()).count()
        }
        let mut h = crate::testing::Harness::with_platform((), SimPlatform::default());
        assert_eq!(h.boot(), b"\r\nready\r\n");
        assert_eq!(h.send(b"AT\r\n"), b"AT\r\n\r\nOK\r\n");
        h.platform.station.add_ap(b"a", b"").unwrap();
        assert_eq!(scan_count(&mut h.platform), 1);
        Tcp::socket(&mut h.platform.net).unwrap();
        h.platform.restart();
        assert_eq!(
            (h.platform.restarts, h.platform.net.tcp_open_sockets()),
            (1, 0)
        );
    }
}
