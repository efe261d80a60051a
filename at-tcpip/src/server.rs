//! The module's server: `AT+CIPSERVER`, `AT+CIPSERVERMAXCONN`, `AT+CIPSTO`, accepting
//! clients into free link ids and closing idle ones.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use at_core::link::{Link, LinkState, LinkType, Socket, Transport, UdpMode, MAX_LINKS};
use at_core::net::{nb, NetPlatform, TcpClientStack, TcpExt, TcpFullStack};
use at_core::time::earliest;
use at_core::{ArgError, Args, Context, Duration, ErrCode, Instant, Outcome};
use at_ssl::ServerConfig;
use at_ssl::TlsStack;

use crate::conn::apply_tcp_opts;
use crate::{arg, line, Server, TcpIp, TcpOf, HANDSHAKE_TIMEOUT_MS};

fn exec() -> Outcome {
    Outcome::Error(ErrCode::EXEC)
}

impl<P: NetPlatform<Net: TlsStack>> TcpIp<P> {
    pub(crate) fn server_query(&mut self, ctx: &mut Context<'_, P>) -> Outcome {
        match &self.server {
            Some(s) => line!(
                ctx,
                "+CIPSERVER:1,",
                s.port,
                ",\"",
                LinkType {
                    transport: if s.ssl {
                        Transport::Ssl
                    } else {
                        Transport::Tcp
                    },
                    ipv6: s.ipv6
                }
                .as_str(),
                "\",",
                u8::from(s.verify_clients)
            ),
            None => line!(ctx, "+CIPSERVER:0"),
        }
        Outcome::Ok
    }

    pub(crate) fn set_server_max(&mut self, args: &Args<'_>) -> Outcome {
        arg!(args.count(1, 1));
        let max = arg!(args.int(0, 1..=MAX_LINKS as i32)) as u8;
        if self.server.is_some() {
            diag!("set CIPSERVERMAXCONN before starting the server");
            return exec();
        }
        self.server_max = max;
        Outcome::Ok
    }

    pub(crate) fn cipserver(&mut self, args: &Args<'_>, ctx: &mut Context<'_, P>) -> Outcome {
        arg!(args.count(1, 4));
        let mode = arg!(args.int(0, 0..=1));
        if mode == 0 {
            arg!(args.count(1, 2));
            let close_clients = arg!(args.opt_int(1, 0..=1)) == Some(1);
            if let Some(server) = self.server.take() {
                self.close_server(server, ctx);
            }
            if close_clients {
                let server_links: heapless::Vec<usize, MAX_LINKS> = self
                    .links
                    .iter()
                    .filter(|(_, l)| l.server_side)
                    .map(|(id, _)| id)
                    .collect();
                for id in server_links {
                    if let Some(link) = self.links.remove(id) {
                        self.release(link, ctx);
                        let _ = ctx.out.compose().put(id).str(",CLOSED").line();
                    }
                }
            }
            return Outcome::Ok;
        }
        let port = arg!(args.opt_int(1, 1..=65_535)).unwrap_or(333) as u16;
        let ty = match arg!(args.opt_bytes(2, 6)) {
            None => LinkType::parse(b"TCP"),
            Some(name) => LinkType::parse(name),
        };
        let Some(ty) = ty.filter(|t| t.transport != Transport::Udp) else {
            return ArgError::Invalid(2).into();
        };
        let ca = arg!(args.opt_int(3, 0..=1));
        if !self.mux {
            diag!("the server needs AT+CIPMUX=1");
            return exec();
        }
        if self.server.is_some() {
            diag!("a server is already running");
            return exec();
        }
        let ssl = ty.transport == Transport::Ssl;
        let verify_clients = ca == Some(1);
        if verify_clients && !ssl {
            diag!("<CA enable> goes with SSL servers");
            return exec();
        }
        if ssl {
            if let Err(e) = TlsStack::tls_server_ready(ctx.platform.net(), verify_clients) {
                diag!("no SSL server: {:?}", e);
                return exec();
            }
        }
        if ty.ipv6 && !self.ipv6 {
            diag!("IPv6 is disabled (AT+CIPV6=0)");
            return exec();
        }
        let any = if ty.ipv6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        let net = ctx.platform.net();
        let Ok(mut socket) = TcpClientStack::socket(net) else {
            return exec();
        };
        let listening = TcpExt::tcp_bind_to(net, &mut socket, SocketAddr::new(any, port))
            .and_then(|()| TcpFullStack::listen(net, &mut socket));
        if let Err(e) = listening {
            diag!("listening on port {} failed: {:?}", port, e);
            let _ = TcpClientStack::close(net, socket);
            return exec();
        }
        self.server = Some(Server {
            socket,
            handshaking: None,
            port,
            ipv6: ty.ipv6,
            ssl,
            verify_clients,
        });
        Outcome::Ok
    }

    /// Accepts waiting clients into free link ids, refusing those beyond
    /// `AT+CIPSERVERMAXCONN`.
    pub(crate) fn accept_clients(&mut self, ctx: &mut Context<'_, P>) {
        // Until the listener would block: readiness is reported once per change.
        loop {
            // Room for the `<id>,CONNECT` line.
            if ctx.out.free() < 64 {
                self.passes_due = true;
                return;
            }
            let Some(server) = self.server.as_mut() else {
                return;
            };
            let (ipv6, ssl, verify_clients) = (server.ipv6, server.ssl, server.verify_clients);
            // The specification allows an SSL server one client.
            let max = if ssl { 1 } else { usize::from(self.server_max) };
            let net = ctx.platform.net();
            let (mut socket, remote) = match TcpFullStack::accept(net, &mut server.socket) {
                Ok(accepted) => accepted,
                Err(nb::Error::WouldBlock) => return,
                Err(nb::Error::Other(e)) => {
                    diag!("accept failed: {:?}", e);
                    return;
                }
            };
            let handshaking = usize::from(server.handshaking.is_some());
            let clients = self.links.iter().filter(|(_, l)| l.server_side).count();
            let id = match self.links.free_id() {
                Some(id) if clients + handshaking < max => id,
                _ => {
                    diag!("Have {} Connections", clients + handshaking);
                    let _ = TcpClientStack::close(net, socket);
                    continue;
                }
            };
            if ssl {
                // The client takes an id once its handshake is done.
                let config = ServerConfig {
                    verify_clients,
                    unix_time: self.unix_time(ctx.now),
                };
                let net = ctx.platform.net();
                if let Err(e) = TlsStack::tls_accept(net, &mut socket, &config) {
                    diag!("TLS for a client cannot start: {:?}", e);
                    let _ = TcpClientStack::close(net, socket);
                    continue;
                }
                if let Some(server) = self.server.as_mut() {
                    server.handshaking = Some((socket, remote, ctx.now));
                }
                continue;
            }
            self.admit_client(id, socket, remote, ipv6, false, ctx);
        }
    }

    /// Gives an accepted (and, for SSL, handshaken) client link id `id` and announces it.
    fn admit_client(
        &mut self,
        id: usize,
        mut socket: TcpOf<P>,
        remote: SocketAddr,
        ipv6: bool,
        ssl: bool,
        ctx: &mut Context<'_, P>,
    ) {
        let net = ctx.platform.net();
        if let Err(e) = apply_tcp_opts(net, &mut socket, &self.tcp_opts[id]) {
            diag!("client socket options: {:?}", e);
        }
        let local_port = TcpExt::tcp_local_addr(net, &socket).map_or(0, |a| a.port());
        let link = Link {
            ty: LinkType {
                transport: if ssl { Transport::Ssl } else { Transport::Tcp },
                ipv6,
            },
            socket: Socket::Tcp(socket),
            state: LinkState::Connected,
            remote,
            local_port,
            server_side: true,
            udp_mode: UdpMode::Fixed,
            last_activity: ctx.now,
            ipd_reported: false,
            stash: None,
        };
        if self.links.insert(id, link).is_err() {
            return;
        }
        self.had_links = true;
        // A TLS library may already hold the client's first data.
        self.passes_due = true;
        let _ = ctx.out.push(b"\r\n");
        let _ = self.announce_connect(id, ctx);
    }

    /// Closes the SSL server's client whose handshake is under way, if any (it was never
    /// announced, so nothing is said).
    pub(crate) fn drop_handshaking_client(&mut self, ctx: &mut Context<'_, P>) {
        let client = self.server.as_mut().and_then(|s| s.handshaking.take());
        if let Some((socket, _, _)) = client {
            let _ = TcpClientStack::close(ctx.platform.net(), socket);
        }
    }

    /// Closes the server's listening socket and a client still handshaking.
    pub(crate) fn close_server(&mut self, server: Server<P>, ctx: &mut Context<'_, P>) {
        let net = ctx.platform.net();
        let _ = TcpClientStack::close(net, server.socket);
        if let Some((socket, _, _)) = server.handshaking {
            let _ = TcpClientStack::close(net, socket);
        }
    }

    /// Advances the TLS handshake of the SSL server's new client: once done, the client
    /// takes a link id and is announced (`<id>,CONNECT`); a handshake that fails or takes
    /// longer than [`HANDSHAKE_TIMEOUT_MS`] is dropped without a word.
    pub(crate) fn advance_server_handshakes(&mut self, ctx: &mut Context<'_, P>) {
        // Room for the `<id>,CONNECT` line.
        if ctx.out.free() < 64 {
            return;
        }
        let Some(server) = self.server.as_mut() else {
            return;
        };
        let ipv6 = server.ipv6;
        let Some((socket, _, since)) = server.handshaking.as_mut() else {
            return;
        };
        let give_up = *since + Duration::from_millis(HANDSHAKE_TIMEOUT_MS);
        let done = match TlsStack::tls_handshake(ctx.platform.net(), socket) {
            Ok(()) => true,
            Err(nb::Error::WouldBlock) if ctx.now < give_up => return,
            Err(e) => {
                diag!("TLS handshake of a client failed: {:?}", e);
                false
            }
        };
        let Some((socket, remote, _)) = server.handshaking.take() else {
            return;
        };
        match self.links.free_id() {
            Some(id) if done => self.admit_client(id, socket, remote, ipv6, true, ctx),
            _ => {
                let _ = TcpClientStack::close(ctx.platform.net(), socket);
            }
        }
    }

    /// When the next server-side deadline falls, in one pass over the links: a
    /// handshake timing out (the server's new client's, or link 0's when transparent
    /// mode reconnects it) or a server client idle for longer than `AT+CIPSTO`.
    pub(crate) fn link_deadline(&self) -> Option<Instant> {
        let handshake = Duration::from_millis(HANDSHAKE_TIMEOUT_MS);
        let idle =
            (self.server_timeout != 0).then(|| Duration::from_secs(u64::from(self.server_timeout)));
        let mut next = self
            .server
            .as_ref()
            .and_then(|s| s.handshaking.as_ref())
            .map(|(_, _, since)| *since + handshake);
        for (_, link) in self.links.iter() {
            if link.state == LinkState::Handshaking {
                next = earliest(next, Some(link.last_activity + handshake));
            }
            if let Some(idle) = idle.filter(|_| link.server_side) {
                next = earliest(next, Some(link.last_activity + idle));
            }
        }
        next
    }

    /// Seconds since 1970 from the SNTP clock, once it is set.
    pub(crate) fn unix_time(&self, now: Instant) -> Option<u64> {
        let micros = self.sntp.unix_time_micros(now)?;
        u64::try_from(micros / 1_000_000).ok()
    }

    /// Closes server clients idle for longer than `AT+CIPSTO`.
    pub(crate) fn expire_idle_clients(&mut self, ctx: &mut Context<'_, P>) {
        if self.server_timeout == 0 {
            return;
        }
        let timeout = Duration::from_secs(u64::from(self.server_timeout));
        for id in 0..MAX_LINKS {
            let expired = self.links.get(id).is_some_and(|l| {
                l.server_side && ctx.now.saturating_since(l.last_activity) >= timeout
            });
            if expired {
                diag!("link {} idle for {} s: closing", id, self.server_timeout);
                self.drop_link(id, ctx);
            }
        }
    }
}
