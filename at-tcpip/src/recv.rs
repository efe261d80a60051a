//! Receiving: data from the links to the host as `+IPD` messages (active mode), or raw
//! in transparent mode, with peer closes reported as `CLOSED`.
//!
//! A link is read only when the output queue has room for a whole message, so a host that
//! reads slowly holds the data in the stack's socket buffers and TCP flow control holds
//! the peer: nothing is lost and nothing grows.

use core::net::SocketAddr;

use at_core::link::{LinkState, Socket, UdpMode};
use at_core::net::{nb, NetPlatform, TcpClientStack, UdpClientStack};
use at_core::Context;

use crate::TcpIp;

/// Most payload bytes read from a link at once (the W800's `+IPD` limit).
pub const RX_CHUNK: usize = 2920;

/// Least output room worth reading a link for.
pub const MIN_READ: usize = 512;

/// Longest `+IPD` header: `\r\n+IPD,4,2920,"<ipv6>",65535:` plus the trailing `\r\n`.
const HEADER_MAX: usize = 2 + 5 + 2 + 5 + 2 + 41 + 1 + 6 + 1 + 2;

impl<P: NetPlatform> TcpIp<P> {
    /// Moves data from every connected link to the host while there is room.
    pub(crate) fn receive(&mut self, ctx: &mut Context<'_, P>) {
        // Stacks report readiness once per change (edge-triggered): after a read that
        // returned data, poll again at once until the socket says "would block".
        self.rx_more = false;
        for id in 0..at_core::link::MAX_LINKS {
            // One message per link per poll keeps links fair.
            let room = ctx.out.free().saturating_sub(HEADER_MAX);
            let limit = room
                .min(usize::from(ctx.system.profile.ipd_max))
                .min(RX_CHUNK);
            // Wait for room for a worthwhile message rather than trickle tiny frames
            // (the engine polls again once the host has taken its output).
            if limit < MIN_READ.min(usize::from(ctx.system.profile.ipd_max)) {
                return;
            }
            let Some(link) = self.links.get_mut(id) else {
                continue;
            };
            if link.state != LinkState::Connected {
                continue;
            }
            let net = ctx.platform.net();
            let buf = &mut self.rx[..limit];
            let got = match &mut link.socket {
                Socket::Tcp(s) => match TcpClientStack::receive(net, s, buf) {
                    Ok(0) => Err(true),
                    Ok(n) => Ok((n, link.remote)),
                    Err(nb::Error::WouldBlock) => Err(false),
                    Err(nb::Error::Other(e)) => {
                        diag!("link {} receive failed: {:?}", id, e);
                        Err(true)
                    }
                },
                Socket::Udp(s) => match UdpClientStack::receive(net, s, buf) {
                    Ok((n, from)) => {
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
                        Ok((n, from))
                    }
                    Err(nb::Error::WouldBlock) => Err(false),
                    Err(nb::Error::Other(e)) => {
                        diag!("link {} receive failed: {:?}", id, e);
                        Err(false)
                    }
                },
            };
            match got {
                Ok((n, from)) => {
                    link.last_activity = ctx.now;
                    self.rx_more = true;
                    self.deliver(id, n, from, ctx);
                }
                Err(true) => self.drop_link(id, ctx),
                Err(false) => {}
            }
        }
    }

    /// Writes `n` received bytes of link `id` to the host.
    fn deliver(&mut self, id: usize, n: usize, from: SocketAddr, ctx: &mut Context<'_, P>) {
        let data = &self.rx[..n];
        let pushed = if ctx.transparent {
            ctx.out.push(data)
        } else {
            let mut header: heapless::String<HEADER_MAX> = heapless::String::new();
            let written = match (self.mux, self.dinfo) {
                (false, false) => core::fmt::write(&mut header, format_args!("\r\n+IPD,{n}:")),
                (true, false) => core::fmt::write(&mut header, format_args!("\r\n+IPD,{id},{n}:")),
                (false, true) => core::fmt::write(
                    &mut header,
                    format_args!("\r\n+IPD,{n},\"{}\",{}:", from.ip(), from.port()),
                ),
                (true, true) => core::fmt::write(
                    &mut header,
                    format_args!("\r\n+IPD,{id},{n},\"{}\",{}:", from.ip(), from.port()),
                ),
            };
            if written.is_err() {
                return;
            }
            push_all(ctx, &[header.as_bytes(), data, b"\r\n"])
        };
        if pushed.is_err() {
            diag!("output queue full: {} bytes of link {} lost", n, id);
        }
    }
}

/// Appends pieces as one message through the context's sink.
fn push_all<P>(
    ctx: &mut Context<'_, P>,
    pieces: &[&[u8]],
) -> Result<(), at_core::response::QueueFull> {
    let total: usize = pieces.iter().map(|p| p.len()).sum();
    if total > ctx.out.free() {
        return Err(at_core::response::QueueFull);
    }
    for p in pieces {
        ctx.out.push(p)?;
    }
    Ok(())
}
