//! Receiving: data from the links to the host as `+IPD` messages (active mode), or raw
//! in transparent mode, with peer closes reported as `CLOSED`.
//!
//! A link is read only when the output queue has room for a whole message, and straight
//! into it (see `frame`), so a host that reads slowly holds the data in the stack's socket
//! buffers and TCP flow control holds the peer: nothing is lost, nothing grows, nothing
//! is copied twice.

use core::net::SocketAddr;

use at_core::link::{LinkState, Socket, UdpMode};
use at_core::net::{nb, NetPlatform, TcpClientStack, UdpClientStack};
use at_core::text::Text;
use at_core::Context;
use at_ssl::TlsStack;

use crate::frame::{read_framed, Framing, HEADER_MAX};
use crate::TcpIp;

/// Most payload bytes read from a link at once (the W800's `+IPD` limit).
pub const RX_CHUNK: usize = 2920;

/// Least output room worth reading a link for.
pub const MIN_READ: usize = 512;

impl<P: NetPlatform<Net: TlsStack>> TcpIp<P> {
    /// Moves data from every connected link to the host while there is room.
    // Out of line (code size): inlined into the main poll, it made the firmware larger.
    #[inline(never)]
    pub(crate) fn receive(&mut self, ctx: &mut Context<'_, P>) {
        // Stacks report readiness once per change (edge-triggered): after a read that
        // returned data, poll again at once until the socket says "would block".
        self.rx_more = false;
        let full = usize::from(ctx.system.profile.ipd_max).min(RX_CHUNK);
        // Rounds of one message per link keep links fair. Another round runs only while
        // the output queue still has room for a full-size message from every link, so a
        // large queue (a host-side emulator's) is filled in one poll, and a firmware's
        // small queue sees exactly one message per link per poll.
        loop {
            let more = self.receive_round(ctx);
            // Data read: more may wait (edge-triggered stacks report it once); a round
            // that found nothing drained every socket.
            self.rx_more = more;
            let room = ctx.out.free().saturating_sub(HEADER_MAX + 2);
            if !more || room < full * at_core::link::MAX_LINKS {
                return;
            }
        }
    }

    /// One message from each connected link; true when any read returned data.
    fn receive_round(&mut self, ctx: &mut Context<'_, P>) -> bool {
        let mut any = false;
        let (mux, dinfo, transparent) = (self.mux, self.dinfo, ctx.transparent);
        for id in 0..at_core::link::MAX_LINKS {
            let room = ctx.out.free().saturating_sub(HEADER_MAX + 2);
            let limit = room
                .min(usize::from(ctx.system.profile.ipd_max))
                .min(RX_CHUNK);
            // Wait for room for a worthwhile message rather than trickle tiny frames
            // (the engine polls again once the host has taken its output).
            if limit < MIN_READ.min(usize::from(ctx.system.profile.ipd_max)) {
                self.passes_due = true;
                return false;
            }
            let Some(link) = self.links.get_mut(id) else {
                continue;
            };
            if link.state != LinkState::Connected {
                continue;
            }
            let net = ctx.platform.net();
            let remote = link.remote;
            let ipd = |n: usize, from: SocketAddr, h: &mut Text<'_>| {
                if transparent {
                    return;
                }
                h.str("\r\n+IPD,");
                if mux {
                    h.put(id).str(",");
                }
                h.put(n);
                if dinfo {
                    h.str(",\"").ip(from.ip()).str("\",").put(from.port());
                }
                h.str(":");
            };
            let trailer: &[u8] = if transparent { b"" } else { b"\r\n" };
            let got = match &mut link.socket {
                Socket::Tcp(s) => read_framed(ctx.out, limit, trailer, ipd, false, |buf| {
                    match TcpClientStack::receive(net, s, buf) {
                        Ok(0) => Err(true),
                        Ok(n) => Ok((n, remote)),
                        Err(nb::Error::WouldBlock) => Err(false),
                        Err(nb::Error::Other(e)) => {
                            diag!("link {} receive failed: {:?}", id, e);
                            Err(true)
                        }
                    }
                }),
                Socket::Udp(s) => {
                    let got = read_framed(ctx.out, limit, trailer, ipd, false, |buf| {
                        match UdpClientStack::receive(net, s, buf) {
                            Ok(r) => Ok(r),
                            Err(nb::Error::WouldBlock) => Err(false),
                            Err(nb::Error::Other(e)) => {
                                diag!("link {} receive failed: {:?}", id, e);
                                Err(false)
                            }
                        }
                    });
                    if let Ok((_, from)) = got {
                        match link.udp_mode {
                            UdpMode::Fixed => {}
                            UdpMode::FollowOnce => {
                                if from != link.remote {
                                    link.remote = from;
                                    link.udp_mode = UdpMode::Fixed;
                                }
                            }
                            UdpMode::FollowAlways => link.remote = from,
                        }
                    }
                    got
                }
            };
            match got {
                Ok((n, _)) => {
                    link.last_activity = ctx.now;
                    any |= n > 0;
                }
                Err(Framing::Read(true)) => self.drop_link(id, ctx),
                Err(Framing::Read(false)) => {}
                Err(Framing::Full) => {
                    self.passes_due = true;
                    return false;
                }
            }
        }
        any
    }
}
