//! The network boundary: embedded-nal's stack traits plus the extensions an AT module
//! needs and embedded-nal lacks. A port to a new chip implements exactly these.
//!
//! | trait | from | why |
//! |---|---|---|
//! | [`TcpFullStack`] | embedded-nal | client links (`AT+CIPSTART="TCP"`) and the server (`AT+CIPSERVER`) |
//! | [`UdpFullStack`] | embedded-nal | UDP links, `send_to` for `AT+CIPSEND=..,"host",port` |
//! | [`Dns`] | embedded-nal | host names in `AT+CIPSTART`, `AT+CIPDOMAIN`, `AT+PING` |
//! | [`TcpExt`] | ours | binding to a local address (`<"local IP">`, `TCPv6` servers: embedded-nal binds a port only), the socket options of `AT+CIPTCPOPT` and `<keep_alive>`, the local port for `AT+CIPSTATE`, and bytes available without reading them (passive receive reports the total while the data stays in the stack's buffers) |
//! | [`UdpExt`] | ours | local address binding, multicast groups, broadcast, the local port, and the size of the next datagram (passive receive leaves datagrams in the stack until it has room) |
//! | [`Station`] | ours | the Wi-Fi station: join, leave, scan, addresses, MAC, events (`AT+CWJAP`, `AT+CIFSR`, `WIFI GOT IP`) |
//! | [`Pinger`] | ours | ICMP echo for `AT+PING`: embedded-nal has no raw sockets |
//!
//! Conventions the engine relies on, beyond embedded-nal's text:
//! - every call is non-blocking: anything that cannot finish now returns
//!   [`nb::Error::WouldBlock`] and is called again on a later poll;
//! - `TcpClientStack::receive` returning `Ok(0)` for a non-empty buffer means the peer
//!   closed the connection (end of stream);
//! - `TcpClientStack::socket` and `UdpClientStack::socket` may create the operating
//!   system's socket lazily: the address family is known only at `connect`, `tcp_bind_to`
//!   or `udp_bind_to`, and options set before then are applied at that point.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub use embedded_nal::{
    nb, AddrType, Dns, TcpClientStack, TcpError, TcpErrorKind, TcpFullStack, UdpClientStack,
    UdpFullStack,
};

/// A TCP socket option, as `AT+CIPTCPOPT` and `AT+CIPSTART`'s `<keep_alive>` set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpOption {
    /// `SO_LINGER`: `None` off, `Some(secs)` on with that linger time.
    Linger(Option<u16>),
    /// `TCP_NODELAY`.
    NoDelay(bool),
    /// `SO_SNDTIMEO` in milliseconds; 0 means none.
    SendTimeout(u32),
    /// `SO_KEEPALIVE`: `None` off; `Some(idle)` on with `TCP_KEEPIDLE` = idle seconds,
    /// `TCP_KEEPINTVL` = 1 and `TCP_KEEPCNT` = 3.
    KeepAlive(Option<u16>),
}

/// TCP extensions.
pub trait TcpExt: TcpFullStack {
    /// Binds `socket` to a local address and port (port 0: any) before `connect` or
    /// `listen`; the address's family decides the socket's.
    fn tcp_bind_to(
        &mut self,
        socket: &mut Self::TcpSocket,
        local: SocketAddr,
    ) -> Result<(), Self::Error>;

    /// Sets one option.
    fn tcp_set_option(
        &mut self,
        socket: &mut Self::TcpSocket,
        option: TcpOption,
    ) -> Result<(), Self::Error>;

    /// The local address of a bound or connected socket.
    fn tcp_local_addr(&mut self, socket: &Self::TcpSocket) -> Option<SocketAddr>;

    /// Bytes that `receive` would return now without blocking (`FIONREAD`).
    fn tcp_available(&mut self, socket: &mut Self::TcpSocket) -> Result<usize, Self::Error>;
}

/// UDP extensions.
pub trait UdpExt: UdpFullStack {
    /// Binds `socket` to a local address and port (port 0: any).
    fn udp_bind_to(
        &mut self,
        socket: &mut Self::UdpSocket,
        local: SocketAddr,
    ) -> Result<(), Self::Error>;

    /// Joins a multicast group (IPv4 or IPv6) on the station interface.
    fn udp_join_multicast(
        &mut self,
        socket: &mut Self::UdpSocket,
        group: IpAddr,
    ) -> Result<(), Self::Error>;

    /// Allows sending to and receiving from broadcast addresses.
    fn udp_set_broadcast(
        &mut self,
        socket: &mut Self::UdpSocket,
        on: bool,
    ) -> Result<(), Self::Error>;

    /// The local address of a bound socket.
    fn udp_local_addr(&mut self, socket: &Self::UdpSocket) -> Option<SocketAddr>;

    /// The length of the next datagram waiting in `socket` (`FIONREAD` on a UDP
    /// socket), 0 when none waits; `None` when the stack cannot tell, which is the
    /// default. Passive receive uses it to leave a datagram in the stack until the
    /// engine has room for it, instead of reading and dropping it.
    fn udp_next_len(&mut self, socket: &mut Self::UdpSocket) -> Option<usize> {
        let _ = socket;
        None
    }
}

/// Everything the TCP/IP command set needs from the network.
pub trait Network: TcpExt + UdpExt + Dns {}

impl<T: TcpExt + UdpExt + Dns> Network for T {}

/// Longest SSID, in bytes.
pub const SSID_MAX: usize = 32;

/// An access point as a scan or the join state reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessPoint {
    /// Its SSID (up to 32 bytes, not necessarily UTF-8).
    pub ssid: heapless::Vec<u8, SSID_MAX>,
    /// Its BSSID (MAC address).
    pub bssid: [u8; 6],
    /// Radio channel.
    pub channel: u8,
    /// Signal strength in dBm.
    pub rssi: i8,
    /// Encryption: 0 open, 1 WEP, 2 WPA_PSK, 3 WPA2_PSK, 4 WPA_WPA2_PSK, ...
    pub encryption: u8,
}

/// Why joining failed; the number is `+CWJAP:<code>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JoinError {
    /// No answer in time (1).
    Timeout = 1,
    /// Wrong password (2).
    WrongPassword = 2,
    /// No access point with that SSID (3).
    NoAccessPoint = 3,
    /// Anything else (4).
    Failed = 4,
}

/// IPv4 settings of the station.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Config {
    /// Address.
    pub ip: Ipv4Addr,
    /// Default gateway.
    pub gateway: Ipv4Addr,
    /// Netmask.
    pub netmask: Ipv4Addr,
}

/// Something that happened to the station on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StationEvent {
    /// The link to the access point was lost.
    Disconnected,
}

/// The Wi-Fi station interface.
pub trait Station {
    /// Starts or continues joining `ssid`; `WouldBlock` while in progress. Joining
    /// includes getting an IPv4 address.
    fn join(
        &mut self,
        ssid: &[u8],
        password: &[u8],
        bssid: Option<[u8; 6]>,
    ) -> nb::Result<(), JoinError>;

    /// Leaves the access point (nothing when not joined).
    fn leave(&mut self);

    /// The `index`th access point of a fresh scan, strongest first; `None` past the end.
    fn scan(&mut self, index: usize) -> Option<AccessPoint>;

    /// The access point joined, if any.
    fn joined(&self) -> Option<AccessPoint>;

    /// IPv4 settings, when the station has an address.
    fn ipv4(&self) -> Option<Ipv4Config>;

    /// IPv6 link-local address, if any.
    fn ipv6_link_local(&self) -> Option<Ipv6Addr>;

    /// IPv6 global address, if any.
    fn ipv6_global(&self) -> Option<Ipv6Addr>;

    /// The station's MAC address.
    fn mac(&self) -> [u8; 6];

    /// The next event, if one happened since the last call.
    fn poll_event(&mut self) -> Option<StationEvent>;
}

/// ICMP echo (`AT+PING`): one request at a time. The engine measures the round trip
/// with the time it is given, so a platform only sends and notices the reply.
pub trait Pinger {
    /// The platform's error.
    type Error: core::fmt::Debug;

    /// Sends one echo request to `addr` (IPv4 or IPv6), replacing any earlier one.
    fn ping_send(&mut self, addr: IpAddr) -> Result<(), Self::Error>;

    /// `Ok` once the reply to the request arrived; `WouldBlock` until then.
    fn ping_poll(&mut self) -> nb::Result<(), Self::Error>;

    /// Abandons the request (the engine's timeout passed).
    fn ping_cancel(&mut self);
}

/// A platform with a network: what the TCP/IP command set runs on.
pub trait NetPlatform: crate::platform::Platform {
    /// The TCP/IP stack.
    type Net: Network;
    /// The Wi-Fi station.
    type Station: Station;
    /// ICMP echo.
    type Pinger: Pinger;

    /// ICMP echo.
    fn pinger(&mut self) -> &mut Self::Pinger;

    /// The TCP/IP stack.
    fn net(&mut self) -> &mut Self::Net;

    /// The Wi-Fi station.
    fn station(&mut self) -> &mut Self::Station;

    /// 32 unpredictable bits for what an off-path spoofer would have to guess (the DNS
    /// client's query IDs, RFC 5452; the low bits of SNTP request times, RFC 5905), from
    /// the platform's entropy source: a hardware RNG, the operating system's, or what the
    /// firmware's lwIP uses for its own (`LWIP_RAND`). Not a fixed sequence: a
    /// predictable ID lets anyone on the network answer a lookup first.
    fn random_u32(&mut self) -> u32;

    /// Whether the stack may have news for the engine since the last call: data, a
    /// close or a reset on a socket, a connection to accept, a datagram. The TCP/IP
    /// command set skips its receive and accept passes while there is none (and its own
    /// state asks for none: data left behind by a full output queue, a command that ran),
    /// which is most polls. A platform that cannot tell keeps this default, `true`, and
    /// every poll runs the passes. Readiness events (epoll) or a readiness check with no
    /// wait (lwIP's `poll` with a zero timeout, on the W800) are what a platform answers
    /// it from.
    fn take_network_activity(&mut self) -> bool {
        true
    }
}
