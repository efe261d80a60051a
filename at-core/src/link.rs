//! The link table: up to [`MAX_LINKS`] connections (ids `0..MAX_LINKS`), each a TCP, UDP
//! or SSL link over IPv4 or IPv6, opened by the module (client) or accepted by its server.
//!
//! The table is generic over the socket handles of the platform's stack, so the same code
//! runs over std sockets, lwIP or a simulation. It owns bookkeeping only: ids, state,
//! addresses, per-link settings. The commands that fill it live in `at-tcpip`.

use core::net::SocketAddr;

use crate::time::Instant;

/// Capacity of the link table; id `MAX_LINKS` means "all links" where the specification
/// says so.
pub const MAX_LINKS: usize = 5;

/// Transport of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// TLS over TCP.
    Ssl,
}

/// Transport and IP version, as the `<"type">` strings name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType {
    /// TCP, UDP or SSL.
    pub transport: Transport,
    /// IPv6 (`TCPv6`, `UDPv6`, `SSLv6`).
    pub ipv6: bool,
}

impl LinkType {
    /// Parses `"TCP"`, `"TCPv6"`, `"UDP"`, `"UDPv6"`, `"SSL"` or `"SSLv6"`.
    pub fn parse(name: &[u8]) -> Option<LinkType> {
        let (transport, ipv6) = match name {
            b"TCP" => (Transport::Tcp, false),
            b"TCPv6" => (Transport::Tcp, true),
            b"UDP" => (Transport::Udp, false),
            b"UDPv6" => (Transport::Udp, true),
            b"SSL" => (Transport::Ssl, false),
            b"SSLv6" => (Transport::Ssl, true),
            _ => return None,
        };
        Some(LinkType { transport, ipv6 })
    }

    /// The `<"type">` string.
    // Out of line (code size): printed by many queries; measured -100 B on thumbv7em.
    #[inline(never)]
    pub fn as_str(self) -> &'static str {
        match (self.transport, self.ipv6) {
            (Transport::Tcp, false) => "TCP",
            (Transport::Tcp, true) => "TCPv6",
            (Transport::Udp, false) => "UDP",
            (Transport::Udp, true) => "UDPv6",
            (Transport::Ssl, false) => "SSL",
            (Transport::Ssl, true) => "SSLv6",
        }
    }
}

/// The socket behind a link.
#[derive(Debug)]
pub enum Socket<T, U> {
    /// A TCP (or TLS-carrying) socket.
    Tcp(T),
    /// A UDP socket.
    Udp(U),
}

/// Where a link is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkState {
    /// `AT+CIPSTART` is resolving or connecting.
    Connecting,
    /// TCP is connected; the TLS handshake of an SSL link is under way (an SSL server's
    /// client is announced only after it).
    Handshaking,
    /// Usable.
    Connected,
    /// The peer closed; data still buffered for the host may be read (passive mode)
    /// before `CLOSED` is reported.
    PeerClosed,
}

/// How a UDP link follows its peer (`AT+CIPSTART`'s `<mode>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UdpMode {
    /// 0: the peer never changes.
    Fixed,
    /// 1: the peer changes once, to the first sender that differs.
    FollowOnce,
    /// 2: the peer changes to every sender.
    FollowAlways,
}

/// One link.
#[derive(Debug)]
pub struct Link<T, U> {
    /// Its type.
    pub ty: LinkType,
    /// Its socket.
    pub socket: Socket<T, U>,
    /// Its state.
    pub state: LinkState,
    /// The remote address (for UDP: where data is sent).
    pub remote: SocketAddr,
    /// The local port.
    pub local_port: u16,
    /// Accepted by the module's server (`<tetype>` 1) rather than opened by it (0).
    pub server_side: bool,
    /// UDP peer-following mode.
    pub udp_mode: UdpMode,
    /// Last time data moved either way (`AT+CIPSTO` closes idle server links).
    pub last_activity: Instant,
    /// Passive receive: `+IPD,<id>,<total>` was reported and the host has not read since.
    pub ipd_reported: bool,
    /// A byte read while probing a passive-mode TCP link for end of stream; it comes
    /// before the socket's data.
    pub stash: Option<u8>,
}

/// Adding a link failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// The id is outside the table.
    BadId,
    /// The id is in use.
    InUse,
    /// All ids are in use.
    Full,
}

/// The link table.
#[derive(Debug)]
pub struct LinkTable<T, U> {
    links: [Option<Link<T, U>>; MAX_LINKS],
}

impl<T, U> Default for LinkTable<T, U> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, U> LinkTable<T, U> {
    /// An empty table.
    pub const fn new() -> Self {
        LinkTable {
            links: [None, None, None, None, None],
        }
    }

    /// Link `id`, if open.
    pub fn get(&self, id: usize) -> Option<&Link<T, U>> {
        self.links.get(id)?.as_ref()
    }

    /// Link `id`, if open.
    pub fn get_mut(&mut self, id: usize) -> Option<&mut Link<T, U>> {
        self.links.get_mut(id)?.as_mut()
    }

    /// Whether `id` is in use.
    pub fn is_open(&self, id: usize) -> bool {
        self.get(id).is_some()
    }

    /// The lowest free id.
    pub fn free_id(&self) -> Option<usize> {
        self.links.iter().position(Option::is_none)
    }

    /// Puts `link` at `id`.
    pub fn insert(&mut self, id: usize, link: Link<T, U>) -> Result<(), LinkError> {
        let slot = self.links.get_mut(id).ok_or(LinkError::BadId)?;
        if slot.is_some() {
            return Err(LinkError::InUse);
        }
        *slot = Some(link);
        Ok(())
    }

    /// Takes link `id` out of the table.
    pub fn remove(&mut self, id: usize) -> Option<Link<T, U>> {
        self.links.get_mut(id)?.take()
    }

    /// Number of open links.
    pub fn len(&self) -> usize {
        self.links.iter().filter(|l| l.is_some()).count()
    }

    /// True when no link is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Open links with their ids, lowest first.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Link<T, U>)> {
        self.links
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.as_ref().map(|l| (i, l)))
    }

    /// Open links with their ids, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut Link<T, U>)> {
        self.links
            .iter_mut()
            .enumerate()
            .filter_map(|(i, l)| l.as_mut().map(|l| (i, l)))
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn link() -> Link<u8, u8> {
        Link {
            ty: LinkType::parse(b"TCP").unwrap(),
            socket: Socket::Tcp(0),
            state: LinkState::Connected,
            remote: "127.0.0.1:80".parse().unwrap(),
            local_port: 1000,
            server_side: false,
            udp_mode: UdpMode::Fixed,
            last_activity: Instant::ZERO,
            ipd_reported: false,
            stash: None,
        }
    }

    #[test]
    fn ids_and_capacity() {
        let mut t = LinkTable::<u8, u8>::new();
        assert_eq!(t.free_id(), Some(0));
        t.insert(2, link()).unwrap();
        assert_eq!(t.insert(2, link()), Err(LinkError::InUse));
        assert_eq!(t.insert(5, link()), Err(LinkError::BadId));
        for id in [0, 1, 3, 4] {
            t.insert(id, link()).unwrap();
        }
        assert_eq!(t.free_id(), None);
        assert_eq!(t.len(), 5);
        assert!(t.remove(3).is_some());
        assert_eq!(t.free_id(), Some(3));
        assert_eq!(
            t.iter().map(|(i, _)| i).collect::<heapless::Vec<_, 5>>(),
            [0, 1, 2, 4]
        );
    }

    #[test]
    fn type_names_round_trip() {
        for name in ["TCP", "TCPv6", "UDP", "UDPv6", "SSL", "SSLv6"] {
            assert_eq!(LinkType::parse(name.as_bytes()).unwrap().as_str(), name);
        }
        assert_eq!(LinkType::parse(b"tcp"), None);
        assert_eq!(LinkType::parse(b""), None);
    }
}
