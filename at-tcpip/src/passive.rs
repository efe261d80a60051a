//! Passive receive (`AT+CIPRECVMODE=1`): `+IPD,<id>,<total>` notifications,
//! `AT+CIPRECVDATA` and `AT+CIPRECVLEN?`.
//!
//! TCP data waits in the stack's socket buffers, not in the engine: the total comes from
//! [`TcpExt::tcp_available`], and a full socket buffer flow-controls the peer, so five
//! links cost no engine RAM. UDP datagrams are counted and read whole, so the ones the
//! host has been told about are kept in one shared window of [`UDP_WINDOW`] bytes; the
//! next ones wait in the stack's socket buffer until the window has room for them
//! ([`UdpExt::udp_next_len`]), and the stack drops what its buffer cannot take, as UDP
//! does. A datagram longer than the whole window (or any that does not fit, on a stack
//! that cannot tell the next datagram's length) is dropped whole.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use at_core::link::{LinkState, Socket, MAX_LINKS};
use at_core::net::{nb, NetPlatform, TcpClientStack, TcpExt, UdpClientStack, UdpExt};
use at_core::text::Text;
use at_core::{Args, Context, ErrCode, Outcome};
use at_ssl::TlsStack;

use crate::frame::{read_framed, HEADER_MAX};
use crate::recv::RX_CHUNK;
use crate::{arg, TcpIp};

/// Shared window for passive-mode UDP datagrams, in bytes: room for any datagram that
/// crosses a 1500-byte MTU unfragmented, and a few small ones.
pub const UDP_WINDOW: usize = 2048;

/// Record header: link id, port, family, address, length.
const RECORD_HEADER: usize = 1 + 2 + 1 + 16 + 2;

/// Most datagrams the window holds at once.
pub const UDP_WINDOW_DATAGRAMS: usize = 8;

/// Passive-mode UDP datagrams, whole, oldest first: at most [`UDP_WINDOW`] payload bytes
/// in at most [`UDP_WINDOW_DATAGRAMS`] datagrams (each record also stores its sender).
#[derive(Clone, Debug, Default)]
pub(crate) struct UdpWindow {
    bytes: heapless::Vec<u8, { UDP_WINDOW + UDP_WINDOW_DATAGRAMS * RECORD_HEADER }>,
    payload: usize,
    datagrams: usize,
}

impl UdpWindow {
    /// Keeps a datagram; false (dropped) when it does not fit.
    pub fn push(&mut self, id: usize, from: SocketAddr, data: &[u8]) -> bool {
        let mut header = [0u8; RECORD_HEADER];
        header[0] = id as u8;
        header[1..3].copy_from_slice(&from.port().to_le_bytes());
        match from.ip() {
            IpAddr::V4(ip) => {
                header[3] = 4;
                header[4..8].copy_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                header[3] = 6;
                header[4..20].copy_from_slice(&ip.octets());
            }
        }
        header[20..22].copy_from_slice(&(data.len() as u16).to_le_bytes());
        if !self.fits(data.len()) {
            return false;
        }
        if self.bytes.extend_from_slice(&header).is_err() {
            return false;
        }
        if self.bytes.extend_from_slice(data).is_err() {
            self.bytes.truncate(self.bytes.len() - RECORD_HEADER);
            return false;
        }
        self.payload += data.len();
        self.datagrams += 1;
        true
    }

    /// Forgets every datagram.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.payload = 0;
        self.datagrams = 0;
    }

    /// Whether a datagram of `len` bytes fits now.
    pub fn fits(&self, len: usize) -> bool {
        self.payload + len <= UDP_WINDOW && self.datagrams < UDP_WINDOW_DATAGRAMS
    }

    fn records(&self) -> impl Iterator<Item = (usize, usize, SocketAddr, &[u8])> + '_ {
        let mut at = 0;
        core::iter::from_fn(move || {
            let h = self.bytes.get(at..at + RECORD_HEADER)?;
            let len = usize::from(u16::from_le_bytes([h[20], h[21]]));
            let port = u16::from_le_bytes([h[1], h[2]]);
            let ip = if h[3] == 4 {
                IpAddr::V4(Ipv4Addr::new(h[4], h[5], h[6], h[7]))
            } else {
                let mut o = [0u8; 16];
                o.copy_from_slice(&h[4..20]);
                IpAddr::V6(Ipv6Addr::from(o))
            };
            let data = self
                .bytes
                .get(at + RECORD_HEADER..at + RECORD_HEADER + len)?;
            let start = at;
            at += RECORD_HEADER + len;
            Some((start, usize::from(h[0]), SocketAddr::new(ip, port), data))
        })
    }

    /// Bytes waiting for link `id`.
    pub fn total(&self, id: usize) -> usize {
        self.records()
            .filter(|r| r.1 == id)
            .map(|r| r.3.len())
            .sum()
    }

    /// Copies up to `out.len()` bytes of link `id`'s oldest datagram into `out` and removes
    /// what was copied; returns the count and the sender.
    pub fn take(&mut self, id: usize, out: &mut [u8]) -> Option<(usize, SocketAddr)> {
        let (start, _, from, data) = self.records().find(|r| r.1 == id)?;
        let n = data.len().min(out.len());
        out[..n].copy_from_slice(&data[..n]);
        let left = data.len() - n;
        let data_start = start + RECORD_HEADER;
        // Remove the copied bytes, then fix the record's length.
        self.bytes.copy_within(data_start + n.., data_start);
        self.bytes.truncate(self.bytes.len() - n);
        self.payload -= n;
        if left == 0 {
            self.bytes.copy_within(data_start.., start);
            self.bytes.truncate(self.bytes.len() - RECORD_HEADER);
            self.datagrams -= 1;
        } else {
            self.bytes[start + 20..start + 22].copy_from_slice(&(left as u16).to_le_bytes());
        }
        Some((n, from))
    }

    /// Forgets link `id`'s datagrams.
    pub fn forget(&mut self, id: usize) {
        let mut buf = [0u8; 64];
        while self.take(id, &mut buf).is_some() {}
    }
}

fn exec() -> Outcome {
    Outcome::Error(ErrCode::EXEC)
}

impl<P: NetPlatform<Net: TlsStack>> TcpIp<P> {
    pub(crate) fn set_recv_mode(&mut self, args: &Args<'_>) -> Outcome {
        arg!(args.count(1, 1));
        let passive = arg!(args.int(0, 0..=1)) == 1;
        if passive && self.transparent {
            diag!("passive receive does not work in transparent mode");
            return exec();
        }
        self.passive = passive;
        for (_, link) in self.links.iter_mut() {
            link.ipd_reported = false;
        }
        Outcome::Ok
    }

    /// Bytes waiting for the host on link `id`, `None` when it is not open.
    fn waiting(&mut self, id: usize, ctx: &mut Context<'_, P>) -> Option<usize> {
        let link = self.links.get_mut(id)?;
        Some(match &mut link.socket {
            Socket::Tcp(s) => {
                let avail = if matches!(link.state, LinkState::Connecting | LinkState::Handshaking)
                {
                    0
                } else {
                    TcpExt::tcp_available(ctx.platform.net(), s).unwrap_or(0)
                };
                avail + usize::from(link.stash.is_some())
            }
            Socket::Udp(_) => self.udp_window.total(id),
        })
    }

    pub(crate) fn recv_len(&mut self, ctx: &mut Context<'_, P>) -> Outcome {
        let counts: [Option<usize>; MAX_LINKS] = core::array::from_fn(|id| self.waiting(id, ctx));
        let mut text = ctx.out.compose();
        text.str("+CIPRECVLEN:");
        for (id, count) in counts.into_iter().enumerate() {
            if id > 0 {
                text.str(",");
            }
            match count {
                Some(n) => text.put(n),
                None => text.str("-1"),
            };
        }
        if text.line().is_err() {
            return exec();
        }
        Outcome::Ok
    }

    pub(crate) fn recv_data(&mut self, args: &Args<'_>, ctx: &mut Context<'_, P>) -> Outcome {
        let base = usize::from(self.mux);
        arg!(args.count(base + 1, base + 1));
        let id = if self.mux {
            arg!(args.int(0, 0..=MAX_LINKS as i32 - 1)) as usize
        } else {
            0
        };
        let want = arg!(args.int(base, 1..=0x7fff_ffff)) as usize;
        if !self.passive {
            diag!("AT+CIPRECVDATA needs AT+CIPRECVMODE=1");
            return exec();
        }
        // Header, data and the final OK must fit the output queue.
        let room = ctx.out.free().saturating_sub(HEADER_MAX + 8);
        let limit = want.min(room).min(RX_CHUNK);
        let dinfo = self.dinfo;
        let header = |n: usize, from: SocketAddr, h: &mut Text<'_>| {
            h.str("+CIPRECVDATA:").put(n);
            if dinfo {
                h.str(",\"").ip(from.ip()).str("\",").put(from.port());
            }
            h.str(",");
        };
        let Some(link) = self.links.get_mut(id) else {
            diag!("link is not valid");
            return exec();
        };
        link.ipd_reported = false;
        let remote = link.remote;
        let net = ctx.platform.net();
        let read = match &mut link.socket {
            Socket::Tcp(s) => {
                let stash = &mut link.stash;
                read_framed(ctx.out, limit, b"", header, true, |buf| {
                    let mut n = 0;
                    if let (Some(b), Some(first)) = (*stash, buf.first_mut()) {
                        *first = b;
                        *stash = None;
                        n = 1;
                    }
                    if n < buf.len() {
                        match TcpClientStack::receive(net, s, &mut buf[n..]) {
                            Ok(k) => n += k,
                            Err(nb::Error::WouldBlock) => {}
                            Err(nb::Error::Other(e)) => {
                                diag!("link {} receive failed: {:?}", id, e);
                            }
                        }
                    }
                    Ok::<_, ()>((n, remote))
                })
            }
            Socket::Udp(_) => {
                let window = &mut self.udp_window;
                read_framed(ctx.out, limit, b"", header, true, |buf| {
                    Ok::<_, ()>(window.take(id, buf).unwrap_or((0, remote)))
                })
            }
        };
        if read.is_err() {
            return exec();
        }
        if let Some(link) = self.links.get_mut(id) {
            link.last_activity = ctx.now;
        }
        Outcome::Ok
    }

    /// Passive mode: notifies waiting data once per read, keeps UDP datagrams, and
    /// notices peers that closed once their data has been read.
    // Out of line (code size): inlined into the main poll, it made the firmware larger.
    #[inline(never)]
    pub(crate) fn receive_passive(&mut self, ctx: &mut Context<'_, P>) {
        for id in 0..MAX_LINKS {
            if ctx.out.free() < 64 {
                self.passes_due = true;
                return;
            }
            let Some(link) = self.links.get_mut(id) else {
                continue;
            };
            if link.state != LinkState::Connected {
                continue;
            }
            let net = ctx.platform.net();
            let mut closed = false;
            match &mut link.socket {
                Socket::Tcp(s) => {
                    let avail = TcpExt::tcp_available(net, s).unwrap_or(0);
                    if avail == 0 && link.stash.is_none() {
                        // Nothing waiting: probe for the end of the stream.
                        let mut probe = [0u8; 1];
                        match TcpClientStack::receive(net, s, &mut probe) {
                            Ok(0) => closed = true,
                            Ok(_) => link.stash = Some(probe[0]),
                            Err(nb::Error::WouldBlock) => {}
                            Err(nb::Error::Other(e)) => {
                                diag!("link {} failed: {:?}", id, e);
                                closed = true;
                            }
                        }
                    }
                }
                Socket::Udp(s) => {
                    // The output queue's free tail serves as the landing area: the
                    // datagram is kept in the window, the queue is left as it was.
                    loop {
                        let Ok(buf) = ctx.out.tail(RX_CHUNK) else {
                            // No landing area now: try again once the host has read.
                            self.passes_due = true;
                            break;
                        };
                        // Leave the next datagram in the stack until it fits (unless it
                        // never will).
                        let next = UdpExt::udp_next_len(net, s);
                        if next.is_some_and(|n| n <= UDP_WINDOW && !self.udp_window.fits(n)) {
                            break;
                        }
                        let Ok((n, from)) = UdpClientStack::receive(net, s, buf) else {
                            break;
                        };
                        link.last_activity = ctx.now;
                        if !self.udp_window.push(id, from, &buf[..n.min(RX_CHUNK)]) {
                            diag!("passive UDP window full: datagram of {} bytes dropped", n);
                        }
                    }
                }
            }
            if closed {
                self.udp_window.forget(id);
                self.drop_link(id, ctx);
                continue;
            }
            let reported = self.links.get(id).is_some_and(|l| l.ipd_reported);
            if reported {
                continue;
            }
            let total = self.waiting(id, ctx).unwrap_or(0);
            if total == 0 {
                continue;
            }
            let mut ipd = ctx.out.compose();
            ipd.str("\r\n+IPD,");
            if self.mux {
                ipd.put(id).str(",");
            }
            let pushed = ipd.put(total).line();
            if pushed.is_ok() {
                if let Some(link) = self.links.get_mut(id) {
                    link.ipd_reported = true;
                    link.last_activity = ctx.now;
                }
            } else {
                self.passes_due = true;
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn udp_window_keeps_whole_datagrams() {
        let mut w = UdpWindow::default();
        let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "[::1]:6000".parse().unwrap();
        assert!(w.push(1, a, b"hello"));
        assert!(w.push(2, b, b"other"));
        assert!(w.push(1, b, b"world!"));
        assert_eq!((w.total(1), w.total(2), w.total(0)), (11, 5, 0));
        let mut out = [0u8; 3];
        assert_eq!(w.take(1, &mut out), Some((3, a)));
        assert_eq!(&out, b"hel");
        assert_eq!(w.total(1), 8);
        let mut out = [0u8; 16];
        assert_eq!(w.take(1, &mut out), Some((2, a)));
        assert_eq!(&out[..2], b"lo");
        assert_eq!(w.take(1, &mut out), Some((6, b)));
        assert_eq!(&out[..6], b"world!");
        assert_eq!(w.take(1, &mut out), None);
        assert_eq!(w.take(2, &mut out), Some((5, b)));
        // Full: a datagram that does not fit is dropped whole.
        let big = [7u8; UDP_WINDOW];
        assert!(w.push(0, a, &big));
        assert!(!w.push(0, a, b"x"));
        assert_eq!(w.total(0), big.len());
        w.forget(0);
        assert_eq!(w.total(0), 0);
    }
}
