//! [`LwipPinger`]: ICMP echo for `AT+PING` ([`at_core::net::Pinger`]) over an lwIP raw
//! socket (`SOCK_RAW`, `IPPROTO_ICMP`; lwIP needs `LWIP_RAW`, which the W800 SDK and
//! Debian enable). lwIP hands raw IPv4 sockets whole packets, IP header included, and
//! adds the IP header itself on sending, as BSD does.
//!
//! IPv4 only: an IPv6 target is [`PingError::Unsupported`] (ICMPv6 over lwIP's raw
//! sockets needs `IPV6_CHECKSUM` handling this crate does not do yet).

use core::ffi::c_int;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use at_core::net::{nb, Pinger};

use crate::ffi::{self, lwip::sys, ErrorKind, SockError};

/// Identifier of this module's echo requests.
pub const ECHO_ID: u16 = 0x5738;

/// Payload bytes of an echo request.
pub const ECHO_PAYLOAD: usize = 32;

/// Why a ping could not be sent or received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PingError {
    /// lwIP refused.
    Socket(SockError),
    /// IPv6 targets (see the module documentation).
    Unsupported,
}

impl From<SockError> for PingError {
    fn from(e: SockError) -> Self {
        PingError::Socket(e)
    }
}

/// ICMP echo over an lwIP raw socket, one request at a time.
#[derive(Debug, Default)]
pub struct LwipPinger {
    fd: Option<c_int>,
    target: Option<Ipv4Addr>,
    seq: u16,
}

/// The Internet checksum of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(u16::from_be_bytes([*last, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request with `seq`.
fn echo_request(seq: u16) -> [u8; 8 + ECHO_PAYLOAD] {
    let mut p = [0u8; 8 + ECHO_PAYLOAD];
    p[0] = 8; // echo request
    p[4..6].copy_from_slice(&ECHO_ID.to_be_bytes());
    p[6..8].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in p[8..].iter_mut().enumerate() {
        *b = b'a' + (i % 26) as u8;
    }
    let sum = checksum(&p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

/// Whether `packet` (IP header included) is the reply to our request `seq`.
fn is_reply(packet: &[u8], seq: u16) -> bool {
    let icmp = match packet.first() {
        Some(b) if b >> 4 == 4 => packet.get(usize::from(b & 0x0f) * 4..),
        _ => Some(packet),
    };
    matches!(icmp, Some([0, 0, _, _, i0, i1, s0, s1, ..])
        if u16::from_be_bytes([*i0, *i1]) == ECHO_ID && u16::from_be_bytes([*s0, *s1]) == seq)
}

impl LwipPinger {
    /// A pinger; its raw socket is made at the first request.
    pub const fn new() -> Self {
        LwipPinger {
            fd: None,
            target: None,
            seq: 0,
        }
    }

    /// Whether a request waits for its reply.
    pub fn is_waiting(&self) -> bool {
        self.target.is_some()
    }

    fn fd(&mut self) -> Result<c_int, PingError> {
        if let Some(fd) = self.fd {
            return Ok(fd);
        }
        let fd = ffi::socket(sys::AF_INET, sys::SOCK_RAW, sys::IPPROTO_ICMP)?;
        if let Err(e) = ffi::set_nonblocking(fd) {
            let _ = ffi::close(fd);
            return Err(e.into());
        }
        self.fd = Some(fd);
        Ok(fd)
    }
}

impl Drop for LwipPinger {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            let _ = ffi::close(fd);
        }
    }
}

impl Pinger for LwipPinger {
    type Error = PingError;

    fn ping_send(&mut self, addr: IpAddr) -> Result<(), PingError> {
        let IpAddr::V4(v4) = addr else {
            return Err(PingError::Unsupported);
        };
        let fd = self.fd()?;
        // Drop stale replies of an earlier, abandoned request.
        let mut scratch = [0u8; 128];
        while ffi::recv_from(fd, &mut scratch, sys::MSG_DONTWAIT).is_ok() {}
        self.seq = self.seq.wrapping_add(1);
        ffi::send_to(
            fd,
            &echo_request(self.seq),
            &SocketAddr::from((v4, 0)),
            sys::MSG_DONTWAIT,
        )?;
        self.target = Some(v4);
        Ok(())
    }

    fn ping_poll(&mut self) -> nb::Result<(), PingError> {
        let (Some(fd), Some(target)) = (self.fd, self.target) else {
            return Err(nb::Error::WouldBlock);
        };
        let mut buf = [0u8; 128];
        loop {
            match ffi::recv_from(fd, &mut buf, sys::MSG_DONTWAIT) {
                Ok((n, from)) => {
                    let from_target = from.is_none_or(|a| a.ip() == IpAddr::V4(target));
                    if from_target && is_reply(&buf[..n.min(buf.len())], self.seq) {
                        self.target = None;
                        return Ok(());
                    }
                }
                Err(e) if e.kind == ErrorKind::WouldBlock => return Err(nb::Error::WouldBlock),
                Err(e) => return Err(nb::Error::Other(e.into())),
            }
        }
    }

    fn ping_cancel(&mut self) {
        self.target = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_checksums_to_zero() {
        let p = echo_request(7);
        assert_eq!(checksum(&p), 0);
        assert_eq!(p[0], 8);
    }

    #[test]
    fn replies_are_recognised_with_and_without_ip_header() {
        let mut reply = echo_request(9);
        reply[0] = 0;
        assert!(is_reply(&reply, 9));
        assert!(!is_reply(&reply, 10));
        let mut with_ip = [0u8; 20 + 40];
        with_ip[0] = 0x45;
        with_ip[20..].copy_from_slice(&reply);
        assert!(is_reply(&with_ip, 9));
        assert!(!is_reply(&echo_request(9), 9));
    }
}
