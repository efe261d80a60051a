//! [`StdPinger`]: ICMP echo for `AT+PING` on Linux.
//!
//! It uses an unprivileged ICMP ("ping") socket where the system allows one
//! (`net.ipv4.ping_group_range` includes the process's group) and a raw ICMP socket
//! otherwise, which needs root or `CAP_NET_RAW`. Sockets are non-blocking and registered
//! with the serving loop's mio registry, so a reply wakes the loop.

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};

use at_core::net::{nb, Pinger};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::os::fd::AsRawFd;

/// Payload bytes sent with each echo request.
const PAYLOAD: usize = 32;

/// One family's socket.
struct IcmpSocket {
    socket: Socket,
    /// A raw socket: IPv4 replies arrive with their IP header, and the id is ours.
    raw: bool,
}

/// ICMP echo over std sockets.
pub struct StdPinger {
    registry: Registry,
    token: Token,
    v4: Option<IcmpSocket>,
    v6: Option<IcmpSocket>,
    /// The outstanding request: target, id and sequence number.
    outstanding: Option<(IpAddr, u16, u16)>,
    seq: u16,
}

impl std::fmt::Debug for StdPinger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdPinger")
            .field("outstanding", &self.outstanding)
            .finish()
    }
}

impl StdPinger {
    /// A pinger whose sockets wake `registry` under `token` (IPv4) and `token + 1` (IPv6).
    pub fn new(registry: Registry, token: Token) -> StdPinger {
        StdPinger {
            registry,
            token,
            v4: None,
            v6: None,
            outstanding: None,
            seq: 0,
        }
    }

    fn open(&self, v6: bool) -> io::Result<IcmpSocket> {
        let (domain, protocol) = if v6 {
            (Domain::IPV6, Protocol::ICMPV6)
        } else {
            (Domain::IPV4, Protocol::ICMPV4)
        };
        let (socket, raw) = match Socket::new(domain, Type::DGRAM, Some(protocol)) {
            Ok(s) => (s, false),
            Err(_) => (Socket::new(domain, Type::RAW, Some(protocol))?, true),
        };
        socket.set_nonblocking(true)?;
        let token = Token(self.token.0 + usize::from(v6));
        self.registry.register(
            &mut SourceFd(&socket.as_raw_fd()),
            token,
            Interest::READABLE,
        )?;
        Ok(IcmpSocket { socket, raw })
    }
}

/// The Internet checksum (RFC 1071).
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl Pinger for StdPinger {
    type Error = io::Error;

    fn ping_send(&mut self, addr: IpAddr) -> io::Result<()> {
        let v6 = addr.is_ipv6();
        let slot = if v6 { &self.v6 } else { &self.v4 };
        if slot.is_none() {
            let opened = self.open(v6)?;
            if v6 {
                self.v6 = Some(opened);
            } else {
                self.v4 = Some(opened);
            }
        }
        let icmp = if v6 {
            self.v6.as_ref()
        } else {
            self.v4.as_ref()
        };
        let Some(icmp) = icmp else {
            return Err(io::Error::other("no ICMP socket"));
        };
        self.seq = self.seq.wrapping_add(1);
        let id = (std::process::id() & 0xffff) as u16;
        let mut packet = [0u8; 8 + PAYLOAD];
        packet[0] = if v6 { 128 } else { 8 };
        packet[4..6].copy_from_slice(&id.to_be_bytes());
        packet[6..8].copy_from_slice(&self.seq.to_be_bytes());
        for (i, b) in packet[8..].iter_mut().enumerate() {
            *b = i as u8;
        }
        if !v6 {
            // The kernel fills in the ICMPv6 checksum itself; ICMPv4's is ours.
            let sum = checksum(&packet);
            packet[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        icmp.socket
            .send_to(&packet, &SockAddr::from(SocketAddr::new(addr, 0)))?;
        self.outstanding = Some((addr, id, self.seq));
        Ok(())
    }

    fn ping_poll(&mut self) -> nb::Result<(), io::Error> {
        let Some((target, id, seq)) = self.outstanding else {
            return Err(nb::Error::Other(io::Error::other("no request outstanding")));
        };
        let icmp = if target.is_ipv6() {
            self.v6.as_ref()
        } else {
            self.v4.as_ref()
        };
        let Some(icmp) = icmp else {
            return Err(nb::Error::Other(io::Error::other("no ICMP socket")));
        };
        let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
        loop {
            let (n, from) = match icmp.socket.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(nb::Error::WouldBlock)
                }
                Err(e) => return Err(nb::Error::Other(e)),
            };
            // SAFETY: `recv_from` initialised the first `n` bytes of `buf`.
            let bytes: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
            let header = if icmp.raw && !target.is_ipv6() {
                usize::from(bytes.first().map_or(0, |b| b & 0x0f)) * 4
            } else {
                0
            };
            let Some(reply) = bytes.get(header..header + 8) else {
                continue;
            };
            let echo_reply = if target.is_ipv6() { 129 } else { 0 };
            let same_source = from.as_socket().map(|a| a.ip()) == Some(target);
            let same_seq = u16::from_be_bytes([reply[6], reply[7]]) == seq;
            // A ping socket rewrites the id to its own; only a raw socket's id is ours.
            let same_id = !icmp.raw || u16::from_be_bytes([reply[4], reply[5]]) == id;
            if reply[0] == echo_reply && same_source && same_seq && same_id {
                self.outstanding = None;
                return Ok(());
            }
        }
    }

    fn ping_cancel(&mut self) {
        self.outstanding = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_a_known_echo_request() {
        // type 8, code 0, id 1, seq 1, no payload: checksum 0xf7fd.
        let packet = [8u8, 0, 0, 0, 0, 1, 0, 1];
        assert_eq!(checksum(&packet), 0xf7fd);
    }

    #[test]
    fn pings_loopback_v4_and_v6() {
        let poll = mio::Poll::new().unwrap();
        let mut events = mio::Events::with_capacity(8);
        let mut pinger = StdPinger::new(poll.registry().try_clone().unwrap(), Token(100));
        let mut poll = poll;
        for target in ["127.0.0.1", "::1"] {
            pinger.ping_send(target.parse().unwrap()).unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            loop {
                match pinger.ping_poll() {
                    Ok(()) => break,
                    Err(nb::Error::WouldBlock) => {
                        assert!(
                            std::time::Instant::now() < deadline,
                            "no reply from {target}"
                        );
                        poll.poll(&mut events, Some(std::time::Duration::from_millis(100)))
                            .unwrap();
                    }
                    Err(nb::Error::Other(e)) => panic!("{target}: {e}"),
                }
            }
        }
    }
}
