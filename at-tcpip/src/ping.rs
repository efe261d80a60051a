//! `AT+PING`: one ICMP echo to a host (address or name), its round trip measured with
//! the engine's clock. `+PING:<ms>` then `OK`, or `+PING:TIMEOUT` then `ERROR` when the
//! name does not resolve or no reply comes in time.

use core::net::IpAddr;

use at_core::net::{nb, NetPlatform, Pinger, Station};
use at_core::{ArgError, Args, Context, Duration, ErrCode, Instant, Outcome};
use at_ssl::TlsStack;

use crate::dns::Pref;
use crate::{arg, line, Pending, TcpIp};

/// How long `AT+PING` waits for a reply (and for the name to resolve).
pub const PING_TIMEOUT_MS: u64 = 3_000;
/// Longest host name `AT+PING` takes.
pub const HOST_MAX: usize = 64;

/// An `AT+PING` in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ping {
    host: heapless::String<HOST_MAX>,
    /// Where the request went and when; `None` while the name resolves.
    sent: Option<(IpAddr, Instant)>,
    pub deadline: Instant,
}

impl<P: NetPlatform<Net: TlsStack>> TcpIp<P> {
    pub(crate) fn ping(&mut self, args: &Args<'_>, ctx: &mut Context<'_, P>) -> Outcome {
        arg!(args.count(1, 1));
        let host = arg!(args.name(0, HOST_MAX));
        if host.is_empty() {
            return ArgError::Invalid(0).into();
        }
        if ctx.platform.station().ipv4().is_none() {
            diag!("no ip");
            return Outcome::Error(ErrCode::EXEC);
        }
        let ping = Ping {
            host: heapless::String::try_from(host).unwrap_or_default(),
            sent: None,
            deadline: ctx.now + Duration::from_millis(PING_TIMEOUT_MS),
        };
        self.continue_ping(ping, ctx)
    }

    pub(crate) fn continue_ping(&mut self, mut ping: Ping, ctx: &mut Context<'_, P>) -> Outcome {
        if ping.sent.is_none() {
            match self.resolve(ctx, &ping.host, Pref::PreferV4) {
                Ok(ip) if ip.is_ipv6() && !self.ipv6 => {
                    diag!("IPv6 is disabled (AT+CIPV6=0)");
                    return Outcome::Error(ErrCode::EXEC);
                }
                Ok(ip) => {
                    if let Err(e) = ctx.platform.pinger().ping_send(ip) {
                        diag!("ping to {} could not be sent: {:?}", ip, e);
                        return self.ping_timeout(ctx);
                    }
                    ping.sent = Some((ip, ctx.now));
                    ping.deadline = ctx.now + Duration::from_millis(PING_TIMEOUT_MS);
                }
                Err(nb::Error::WouldBlock) if ctx.now < ping.deadline => {
                    self.pending = Pending::Ping(ping);
                    return Outcome::Pending;
                }
                Err(_) => {
                    let host = ping.host.clone();
                    self.cancel_lookup_for(ctx, &host);
                    return self.ping_timeout(ctx);
                }
            }
        }
        let Some((_, sent_at)) = ping.sent else {
            return self.ping_timeout(ctx);
        };
        match ctx.platform.pinger().ping_poll() {
            Ok(()) => {
                let millis = ctx.now.saturating_since(sent_at).as_millis();
                line!(ctx, "+PING:", millis);
                Outcome::Ok
            }
            Err(nb::Error::WouldBlock) if ctx.now < ping.deadline => {
                self.pending = Pending::Ping(ping);
                Outcome::Pending
            }
            Err(e) => {
                if let nb::Error::Other(e) = e {
                    diag!("ping failed: {:?}", e);
                }
                ctx.platform.pinger().ping_cancel();
                self.ping_timeout(ctx)
            }
        }
    }

    fn ping_timeout(&mut self, ctx: &mut Context<'_, P>) -> Outcome {
        line!(ctx, "+PING:TIMEOUT");
        Outcome::Error(ErrCode::EXEC)
    }
}
