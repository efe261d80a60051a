//! Connections: `AT+CIPSTART`/`AT+CIPSTARTEX`, `AT+CIPCLOSE`, `AT+CIPSTATE?`,
//! `AT+CIPSTATUS`, `AT+CIPMUX`, `AT+CIPMODE`, `AT+CIPV6`, `AT+CIPTCPOPT`, and sending
//! with `AT+CIPSEND`/`AT+CIPSENDEX` (including entering transparent mode).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use at_core::data::DataRequest;
use at_core::link::{Link, LinkState, LinkType, Socket, Transport, UdpMode, MAX_LINKS};
use at_core::net::{
    nb, NetPlatform, Station, TcpClientStack, TcpExt, TcpOption, UdpClientStack, UdpExt,
    UdpFullStack,
};
use at_core::system::SYSMSG_LINK_CONN;
use at_core::{ArgError, Args, Context, Duration, ErrCode, Form, Instant, Outcome};
use at_ssl::TlsStack;

use crate::dns::Pref;
use crate::{
    arg, keys, line, Pending, TcpIp, TcpOpts, CONNECT_TIMEOUT_MS, HANDSHAKE_TIMEOUT_MS, HOST_MAX,
};

/// What `prepare_send` found: link id, length, and a UDP peer name still to resolve.
type Prepared = (usize, usize, Option<(heapless::String<HOST_MAX>, u16)>);

/// A send to a UDP peer given by name, waiting for the name to resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SendTo {
    pub id: usize,
    pub host: heapless::String<HOST_MAX>,
    pub port: u16,
    pub request: DataRequest,
    pub deadline: Instant,
}

/// An `AT+CIPSTART` in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Start {
    pub id: usize,
    pub ty: LinkType,
    /// The remote host as given: an address literal, or a name checked by `Args::name`
    /// (printable ASCII, so always UTF-8).
    pub host: heapless::Vec<u8, HOST_MAX>,
    pub port: u16,
    pub keepalive: Option<u16>,
    pub local_ip: Option<IpAddr>,
    pub udp_local_port: Option<u16>,
    pub udp_mode: UdpMode,
    /// Resolved remote address, once known.
    pub remote: Option<SocketAddr>,
    pub deadline: Instant,
}

fn exec() -> Outcome {
    Outcome::Error(ErrCode::EXEC)
}

/// Encodes the `AT+CIPTCPOPT` table for the store: 11 bytes per link.
fn encode_tcpopts(opts: &[TcpOpts; MAX_LINKS]) -> [u8; 11 * MAX_LINKS] {
    let mut out = [0u8; 11 * MAX_LINKS];
    for (chunk, o) in out.chunks_exact_mut(11).zip(opts) {
        chunk[..4].copy_from_slice(&o.linger.to_le_bytes());
        chunk[4] = u8::from(o.nodelay);
        chunk[5..9].copy_from_slice(&o.send_timeout.to_le_bytes());
        chunk[9..11].copy_from_slice(&o.keepalive.to_le_bytes());
    }
    out
}

/// Reads the stored `AT+CIPTCPOPT` table; malformed entries are ignored.
pub(crate) fn decode_tcpopts(bytes: &[u8], opts: &mut [TcpOpts; MAX_LINKS]) {
    if bytes.len() != 11 * MAX_LINKS {
        return;
    }
    for (chunk, o) in bytes.chunks_exact(11).zip(opts.iter_mut()) {
        let linger = i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let send_timeout = u32::from_le_bytes([chunk[5], chunk[6], chunk[7], chunk[8]]);
        let keepalive = u16::from_le_bytes([chunk[9], chunk[10]]);
        if linger >= -1 && chunk[4] <= 1 && keepalive <= 7200 {
            *o = TcpOpts {
                linger,
                nodelay: chunk[4] == 1,
                send_timeout,
                keepalive,
            };
        }
    }
}

impl<P: NetPlatform<Net: TlsStack>> TcpIp<P> {
    pub(crate) fn set_ipv6(&mut self, args: &Args<'_>, ctx: &mut Context<'_, P>) -> Outcome {
        arg!(args.count(1, 1));
        let on = arg!(args.int(0, 0..=1)) == 1;
        if !on && self.links.iter().any(|(_, l)| l.ty.ipv6) {
            diag!("IPv6 links are open");
            return exec();
        }
        if let Err(e) = ctx.save(keys::IPV6, &[u8::from(on)]) {
            return e.into();
        }
        self.ipv6 = on;
        Outcome::Ok
    }

    pub(crate) fn set_mux(&mut self, args: &Args<'_>) -> Outcome {
        arg!(args.count(1, 1));
        let mux = arg!(args.int(0, 0..=1)) == 1;
        if mux == self.mux {
            return Outcome::Ok;
        }
        if !self.links.is_empty() {
            diag!("link is builded");
            return exec();
        }
        if mux && self.transparent {
            diag!("transparent mode needs single connection");
            return exec();
        }
        if !mux && self.server.is_some() {
            diag!("server is running");
            return exec();
        }
        self.mux = mux;
        Outcome::Ok
    }

    pub(crate) fn set_mode(&mut self, args: &Args<'_>) -> Outcome {
        arg!(args.count(1, 1));
        let transparent = arg!(args.int(0, 0..=1)) == 1;
        if transparent && (self.mux || self.server.is_some() || self.passive) {
            diag!("transparent mode needs single connection");
            return exec();
        }
        self.transparent = transparent;
        Outcome::Ok
    }

    /// `+CIPSTATE:`/`+CIPSTATUS:` lines for every link.
    pub(crate) fn list_links(&mut self, ctx: &mut Context<'_, P>, prefix: &str) -> Outcome {
        for (id, link) in self.links.iter() {
            line!(
                ctx,
                prefix,
                ":",
                id,
                ",\"",
                link.ty.as_str(),
                "\",\"",
                link.remote.ip(),
                "\",",
                link.remote.port(),
                ",",
                link.local_port,
                ",",
                u8::from(link.server_side)
            );
        }
        Outcome::Ok
    }

    pub(crate) fn cipstatus(&mut self, ctx: &mut Context<'_, P>) -> Outcome {
        let joined = ctx.platform.station().ipv4().is_some();
        let stat = match (joined, self.links.is_empty(), self.had_links) {
            (false, _, _) => 5,
            (true, false, _) => 3,
            (true, true, true) => 4,
            (true, true, false) => 2,
        };
        line!(ctx, "STATUS:", stat);
        self.list_links(ctx, "+CIPSTATUS")
    }

    pub(crate) fn cipstart(
        &mut self,
        args: &Args<'_>,
        ctx: &mut Context<'_, P>,
        ex: bool,
    ) -> Outcome {
        // The id comes first in multi-connection mode, except for CIPSTARTEX.
        let with_id = self.mux && !ex;
        let base = usize::from(with_id);
        arg!(args.count(base + 3, base + 6));
        let id = if with_id {
            arg!(args.int(0, 0..=MAX_LINKS as i32 - 1)) as usize
        } else if self.mux {
            match self.links.free_id() {
                Some(id) => id,
                None => {
                    diag!("no free link id");
                    return exec();
                }
            }
        } else {
            0
        };
        let ty = match LinkType::parse(arg!(args.bytes(base, 6))) {
            Some(ty) => ty,
            None => return ArgError::Invalid(base as u8).into(),
        };
        let host = arg!(args.bytes(base + 1, HOST_MAX));
        // An address literal needs no lookup; anything else must be a valid name.
        let literal = at_core::addr::ip_literal(host);
        if literal.is_none() {
            arg!(args.name(base + 1, HOST_MAX));
        }
        if host.is_empty() {
            return ArgError::Invalid(base as u8 + 1).into();
        }
        let port = arg!(args.int(base + 2, 1..=65_535)) as u16;
        let mut start = Start {
            id,
            ty,
            host: heapless::Vec::new(),
            port,
            keepalive: None,
            local_ip: None,
            udp_local_port: None,
            udp_mode: UdpMode::Fixed,
            // A literal of the other family goes the lookup's way, to the same error.
            remote: literal
                .filter(|ip| ip.is_ipv6() == ty.ipv6)
                .map(|ip| SocketAddr::new(ip, port)),
            deadline: ctx.now
                + Duration::from_millis(match ty.transport {
                    Transport::Ssl => CONNECT_TIMEOUT_MS + HANDSHAKE_TIMEOUT_MS,
                    _ => CONNECT_TIMEOUT_MS,
                }),
        };
        // At most HOST_MAX bytes: checked above.
        let _ = start.host.extend_from_slice(host);
        let local_ip_index;
        match ty.transport {
            Transport::Tcp | Transport::Ssl => {
                arg!(args.count(base + 3, base + 5));
                start.keepalive = arg!(args.opt_int(base + 3, 0..=7200)).map(|v| v as u16);
                local_ip_index = base + 4;
            }
            Transport::Udp => {
                start.udp_local_port = arg!(args.opt_int(base + 3, 0..=65_535)).map(|v| v as u16);
                let mode = arg!(args.opt_int(base + 4, 0..=2));
                if mode.is_some() && start.udp_local_port.is_none() {
                    diag!("UDP mode needs a local port");
                    return ArgError::Missing(base as u8 + 3).into();
                }
                start.udp_mode = match mode {
                    Some(1) => UdpMode::FollowOnce,
                    Some(2) => UdpMode::FollowAlways,
                    _ => UdpMode::Fixed,
                };
                local_ip_index = base + 5;
            }
        }
        if let Some(ip) = arg!(args.opt_bytes(local_ip_index, 46)) {
            if !ip.is_empty() {
                match at_core::addr::ip_literal(ip) {
                    Some(ip) => start.local_ip = Some(ip),
                    None => return ArgError::Invalid(local_ip_index as u8).into(),
                }
            }
        }
        if ty.ipv6 && !self.ipv6 {
            diag!("IPv6 is disabled (AT+CIPV6=0)");
            return exec();
        }
        if self.links.is_open(id) {
            diag!("ALREADY CONNECTED");
            return exec();
        }
        if ctx.platform.station().ipv4().is_none() {
            diag!("no ip");
            return exec();
        }
        if start.keepalive.is_some_and(|k| k > 0) || start.keepalive == Some(0) {
            // The last setting wins: CIPSTART's keep-alive is CIPTCPOPT's too.
            if let Some(k) = start.keepalive {
                self.tcp_opts[id].keepalive = k;
            }
        }
        self.continue_start(start, ctx)
    }

    /// Resolves, opens and connects; `Pending` while the network is busy.
    pub(crate) fn continue_start(&mut self, mut start: Start, ctx: &mut Context<'_, P>) -> Outcome {
        if ctx.now >= start.deadline {
            diag!("connect timeout");
            if let Some(link) = self.links.remove(start.id) {
                self.release(link, ctx);
            }
            return exec();
        }
        if start.remote.is_none() {
            let pref = if start.ty.ipv6 {
                Pref::V6Only
            } else {
                Pref::V4Only
            };
            let host = start.host.clone();
            let Ok(host) = core::str::from_utf8(&host) else {
                return exec();
            };
            let ip = match self.resolve(ctx, host, pref) {
                Ok(ip) => ip,
                Err(nb::Error::WouldBlock) => {
                    self.pending = Pending::Start(start);
                    return Outcome::Pending;
                }
                Err(nb::Error::Other(())) => {
                    diag!("DNS lookup of {} failed", host);
                    self.cancel_lookup_for(ctx, host);
                    return exec();
                }
            };
            if ip.is_ipv6() != start.ty.ipv6 {
                diag!("address family does not match the link type");
                return exec();
            }
            start.remote = Some(SocketAddr::new(ip, start.port));
        }
        let Some(remote) = start.remote else {
            return exec();
        };
        if !self.links.is_open(start.id) {
            if let Err(outcome) = self.open_socket(&start, remote, ctx) {
                return outcome;
            }
        }
        match self.advance_link(start.id, remote, &start.host, ctx) {
            Ok(()) => {}
            Err(nb::Error::WouldBlock) => {
                self.pending = Pending::Start(start);
                return Outcome::Pending;
            }
            Err(nb::Error::Other(())) => {
                if let Some(link) = self.links.remove(start.id) {
                    self.release(link, ctx);
                }
                return exec();
            }
        }
        self.had_links = true;
        if !self.mux && start.id == 0 {
            self.last_start = Some(start.clone());
        }
        if self.announce_connect(start.id, ctx).is_err() {
            return exec();
        }
        Outcome::Ok
    }

    /// Transparent mode: brings link 0 back every `AT+CIPRECONNINTV` after it dropped,
    /// until it is back or the host leaves with `+++`.
    pub(crate) fn reconnect(&mut self, ctx: &mut Context<'_, P>) {
        if !ctx.transparent {
            self.reconnect_at = None;
            return;
        }
        let Some(remote) = self.last_start.as_ref().and_then(|s| s.remote) else {
            return;
        };
        // The usual case, the link up: nothing to do, and no copy of the start.
        if self
            .links
            .get(0)
            .is_some_and(|l| l.state == LinkState::Connected)
        {
            return;
        }
        let Some(start) = self.last_start.clone() else {
            return;
        };
        let interval = Duration::from_millis(u64::from(self.reconnect_interval) * 100);
        if !self.links.is_open(0) {
            match self.reconnect_at {
                None => {
                    self.reconnect_at = Some(ctx.now + interval);
                    return;
                }
                Some(at) if ctx.now < at => return,
                Some(_) => {}
            }
            self.reconnect_at = None;
            diag!("transparent link down: reconnecting to {}", remote);
            if self.open_socket(&start, remote, ctx).is_err() {
                self.reconnect_at = Some(ctx.now + interval);
                return;
            }
        }
        if self
            .links
            .get(0)
            .is_none_or(|l| l.state == LinkState::Connected)
        {
            return;
        }
        // A TLS handshake that stalls is given up as AT+CIPSTART's would be, and retried.
        let stalled = self.links.get(0).is_some_and(|l| {
            l.state == LinkState::Handshaking
                && ctx.now >= l.last_activity + Duration::from_millis(HANDSHAKE_TIMEOUT_MS)
        });
        if stalled {
            diag!("reconnecting: TLS handshake timeout");
            if let Some(link) = self.links.remove(0) {
                self.release(link, ctx);
            }
            self.reconnect_at = Some(ctx.now + interval);
            return;
        }
        match self.advance_link(0, remote, &start.host, ctx) {
            Ok(()) => {
                self.passes_due = true;
                if ctx.system.sysmsg & at_core::system::SYSMSG_LINK_STATE != 0 {
                    let _ = ctx.out.push(b"CONNECT\r\n");
                }
            }
            Err(nb::Error::WouldBlock) => {}
            Err(nb::Error::Other(())) => {
                diag!("reconnecting failed");
                if let Some(link) = self.links.remove(0) {
                    self.release(link, ctx);
                }
                self.reconnect_at = Some(ctx.now + interval);
            }
        }
    }

    /// Moves client link `id` toward `Connected`: the TCP connection to `remote`, then,
    /// for an SSL link, TLS with the id's settings (`host` is what `AT+CIPSTART` named)
    /// and its handshake. `WouldBlock` while the network is busy; an error leaves the
    /// link for the caller to release.
    fn advance_link(
        &mut self,
        id: usize,
        remote: SocketAddr,
        host: &[u8],
        ctx: &mut Context<'_, P>,
    ) -> nb::Result<(), ()> {
        let unix_time = self.unix_time(ctx.now);
        let Some(link) = self.links.get_mut(id) else {
            return Err(nb::Error::Other(()));
        };
        let Socket::Tcp(socket) = &mut link.socket else {
            return Ok(());
        };
        let net = ctx.platform.net();
        if link.state == LinkState::Connecting {
            if let Err(e) = TcpClientStack::connect(net, socket, remote) {
                if let nb::Error::Other(e) = &e {
                    diag!("connect to {} failed: {:?}", remote, e);
                }
                return Err(e.map(|_| ()));
            }
            link.local_port = TcpExt::tcp_local_addr(net, socket).map_or(0, |a| a.port());
            link.last_activity = ctx.now;
            if link.ty.transport != Transport::Ssl {
                link.state = LinkState::Connected;
                return Ok(());
            }
            let mut key = [0u8; at_ssl::settings::PSK_KEY_MAX];
            let Ok(host) = core::str::from_utf8(host) else {
                return Err(nb::Error::Other(()));
            };
            let Some(config) = self.ssl.client_config(id, host, &mut key, unix_time) else {
                return Err(nb::Error::Other(()));
            };
            if let Err(e) = TlsStack::tls_connect(net, socket, &config) {
                diag!("TLS to {} cannot start: {:?}", remote, e);
                return Err(nb::Error::Other(()));
            }
            link.state = LinkState::Handshaking;
        }
        if link.state == LinkState::Handshaking {
            if let Err(e) = TlsStack::tls_handshake(net, socket) {
                if let nb::Error::Other(e) = &e {
                    diag!("TLS handshake with {} failed: {:?}", remote, e);
                }
                return Err(e.map(|_| ()));
            }
            link.state = LinkState::Connected;
            link.last_activity = ctx.now;
        }
        Ok(())
    }

    /// Creates and binds the socket of a new link and puts it in the table.
    fn open_socket(
        &mut self,
        start: &Start,
        remote: SocketAddr,
        ctx: &mut Context<'_, P>,
    ) -> Result<(), Outcome> {
        let unspecified = if start.ty.ipv6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        let net = ctx.platform.net();
        let (socket, state, local_port) = match start.ty.transport {
            Transport::Tcp | Transport::Ssl => {
                let mut socket = TcpClientStack::socket(net).map_err(|e| {
                    diag!("no socket: {:?}", e);
                    exec()
                })?;
                let bound = match start.local_ip {
                    Some(ip) => TcpExt::tcp_bind_to(net, &mut socket, SocketAddr::new(ip, 0)),
                    None => Ok(()),
                };
                let configured =
                    bound.and_then(|()| apply_tcp_opts(net, &mut socket, &self.tcp_opts[start.id]));
                if let Err(e) = configured {
                    diag!("socket setup failed: {:?}", e);
                    let _ = TcpClientStack::close(net, socket);
                    return Err(exec());
                }
                (Socket::Tcp(socket), LinkState::Connecting, 0)
            }
            Transport::Udp => {
                let mut socket = UdpClientStack::socket(net).map_err(|e| {
                    diag!("no socket: {:?}", e);
                    exec()
                })?;
                let local = SocketAddr::new(
                    start.local_ip.unwrap_or(unspecified),
                    start.udp_local_port.unwrap_or(0),
                );
                let mut setup = UdpExt::udp_bind_to(net, &mut socket, local);
                if setup.is_ok() && remote.ip().is_multicast() {
                    setup = UdpExt::udp_join_multicast(net, &mut socket, remote.ip());
                }
                if setup.is_ok() && remote.ip() == IpAddr::V4(Ipv4Addr::BROADCAST) {
                    setup = UdpExt::udp_set_broadcast(net, &mut socket, true);
                }
                if let Err(e) = setup {
                    diag!("UDP socket setup failed: {:?}", e);
                    let _ = UdpClientStack::close(net, socket);
                    return Err(exec());
                }
                let port = UdpExt::udp_local_addr(net, &socket).map_or(0, |a| a.port());
                (Socket::Udp(socket), LinkState::Connected, port)
            }
        };
        let link = Link {
            ty: start.ty,
            socket,
            state,
            remote,
            local_port,
            server_side: false,
            udp_mode: start.udp_mode,
            last_activity: ctx.now,
            ipd_reported: false,
            stash: None,
        };
        self.links.insert(start.id, link).map_err(|_| exec())
    }

    /// `CONNECT`, `<id>,CONNECT` or `+LINK_CONN:...` for a new link.
    pub(crate) fn announce_connect(
        &mut self,
        id: usize,
        ctx: &mut Context<'_, P>,
    ) -> Result<(), ()> {
        let Some(link) = self.links.get(id) else {
            return Err(());
        };
        let pushed = if ctx.system.sysmsg & SYSMSG_LINK_CONN != 0 {
            ctx.out
                .compose()
                .str("+LINK_CONN:0,")
                .put(id)
                .str(",\"")
                .str(link.ty.as_str())
                .str("\",")
                .put(u8::from(link.server_side))
                .str(",\"")
                .ip(link.remote.ip())
                .str("\",")
                .put(link.remote.port())
                .str(",")
                .put(link.local_port)
                .line()
        } else if self.mux {
            // Ids are one digit: no formatting machinery for the common message.
            const _: () = assert!(MAX_LINKS <= 10);
            let mut line = *b"0,CONNECT\r\n";
            line[0] = b'0' + id as u8;
            ctx.out.push(&line)
        } else {
            ctx.out.push(b"CONNECT\r\n")
        };
        pushed.map_err(|_| ())
    }

    pub(crate) fn cipclose(
        &mut self,
        form: Form,
        args: &Args<'_>,
        ctx: &mut Context<'_, P>,
    ) -> Outcome {
        let ids = match form {
            Form::Execute if !self.mux => 0..1,
            Form::Set if self.mux => {
                arg!(args.count(1, 1));
                match arg!(args.int(0, 0..=MAX_LINKS as i32)) as usize {
                    MAX_LINKS => 0..MAX_LINKS,
                    id => id..id + 1,
                }
            }
            _ => {
                diag!("CIPCLOSE form does not match CIPMUX");
                return exec();
            }
        };
        let all = ids.len() > 1;
        if !all && !self.links.is_open(ids.start) {
            diag!("link is not valid");
            return exec();
        }
        if all {
            self.drop_handshaking_client(ctx);
        }
        for id in ids {
            self.udp_window.forget(id);
            if let Some(link) = self.links.remove(id) {
                self.release(link, ctx);
                let _ = if self.mux {
                    ctx.out.compose().put(id).str(",CLOSED").line()
                } else {
                    ctx.out.push(b"CLOSED\r\n")
                };
            }
        }
        Outcome::Ok
    }

    /// Closes a link's socket.
    // Out of line (code size): called from many places; a call is smaller than a copy.
    #[inline(never)]
    pub(crate) fn release(
        &mut self,
        link: Link<crate::TcpOf<P>, crate::UdpOf<P>>,
        ctx: &mut Context<'_, P>,
    ) {
        let net = ctx.platform.net();
        let closed = match link.socket {
            Socket::Tcp(s) => TcpClientStack::close(net, s).map_err(|_| ()),
            Socket::Udp(s) => UdpClientStack::close(net, s).map_err(|_| ()),
        };
        if closed.is_err() {
            diag!("closing a socket failed");
        }
    }

    /// Closes link `id` because the peer went away (or it timed out) and says so.
    pub(crate) fn drop_link(&mut self, id: usize, ctx: &mut Context<'_, P>) {
        self.udp_window.forget(id);
        if let Some(link) = self.links.remove(id) {
            self.release(link, ctx);
            if ctx.transparent {
                // The raw stream carries no messages, unless SYSMSG bit 2 asks for them.
                if ctx.system.sysmsg & at_core::system::SYSMSG_LINK_STATE != 0 {
                    let _ = ctx.out.push(b"CLOSED\r\n");
                }
                return;
            }
            let _ = if self.mux {
                ctx.out.compose().str("\r\n").put(id).str(",CLOSED").line()
            } else {
                ctx.out.push(b"\r\nCLOSED\r\n")
            };
        }
    }

    /// Closes every link and the server (restart, leaving the AP).
    pub(crate) fn close_everything(&mut self, ctx: &mut Context<'_, P>, announce: bool) {
        for id in 0..MAX_LINKS {
            if announce {
                self.drop_link(id, ctx);
            } else if let Some(link) = self.links.remove(id) {
                self.release(link, ctx);
            }
        }
        if let Some(server) = self.server.take() {
            self.close_server(server, ctx);
        }
        self.pending = Pending::None;
    }

    /// The common part of `AT+CIPSEND`, `AT+CIPSENDEX` and `AT+CIPSENDL`:
    /// `[<id>,]<len>[,"<host>",<port>]` on a connected link; returns the id and length.
    fn prepare_send(
        &mut self,
        args: &Args<'_>,
        ctx: &mut Context<'_, P>,
        max_len: i32,
    ) -> Result<Prepared, Outcome> {
        let base = usize::from(self.mux);
        args.count(base + 1, base + 3)?;
        let id = if self.mux {
            args.int(0, 0..=MAX_LINKS as i32 - 1)? as usize
        } else {
            0
        };
        let len = args.int(base, 1..=max_len)? as usize;
        let host = args.opt_name(base + 1, HOST_MAX)?;
        let port = args.opt_int(base + 2, 1..=65_535)?;
        if self.transparent {
            diag!("sending with a length in transparent mode");
            return Err(exec());
        }
        let Some(link) = self.links.get_mut(id) else {
            diag!("link is not valid");
            return Err(exec());
        };
        if link.state != LinkState::Connected {
            return Err(exec());
        }
        match (host, port, link.ty.transport) {
            (None, None, _) => {}
            (Some(host), Some(port), Transport::Udp) => {
                match at_core::addr::ip_literal(host.as_bytes()) {
                    Some(ip) => link.remote = SocketAddr::new(ip, port as u16),
                    None if host.is_empty() => return Err(ArgError::Invalid(base as u8 + 1).into()),
                    None => {
                        let name = heapless::String::try_from(host).unwrap_or_default();
                        self.send_link = id;
                        self.send_blocked_since = None;
                        return Ok((id, len, Some((name, port as u16))));
                    }
                }
            }
            _ => {
                diag!("a remote host and port go with UDP links only, both or neither");
                return Err(exec());
            }
        }
        let _ = ctx;
        self.send_link = id;
        self.send_blocked_since = None;
        Ok((id, len, None))
    }

    /// Starts the data phase `request`, first resolving the UDP peer's name if one was
    /// given.
    fn start_send(
        &mut self,
        prepared: Prepared,
        request: DataRequest,
        ctx: &mut Context<'_, P>,
    ) -> Outcome {
        match prepared {
            (_, _, None) => Outcome::Data(request),
            (id, _, Some((host, port))) => self.continue_send_to(
                SendTo {
                    id,
                    host,
                    port,
                    request,
                    deadline: ctx.now + Duration::from_millis(CONNECT_TIMEOUT_MS),
                },
                ctx,
            ),
        }
    }

    /// Resolves a UDP peer's name, then opens the data phase.
    pub(crate) fn continue_send_to(&mut self, send: SendTo, ctx: &mut Context<'_, P>) -> Outcome {
        let Some(link) = self.links.get(send.id) else {
            return exec();
        };
        let pref = if link.ty.ipv6 {
            Pref::V6Only
        } else {
            Pref::V4Only
        };
        let host = send.host.clone();
        match self.resolve(ctx, &host, pref) {
            Ok(ip) => {
                if let Some(link) = self.links.get_mut(send.id) {
                    link.remote = SocketAddr::new(ip, send.port);
                }
                Outcome::Data(send.request)
            }
            Err(nb::Error::WouldBlock) if ctx.now < send.deadline => {
                self.pending = Pending::SendTo(send);
                Outcome::Pending
            }
            Err(_) => {
                diag!("resolving {} failed", send.host.as_str());
                self.cancel_lookup_for(ctx, &host);
                exec()
            }
        }
    }

    pub(crate) fn cipsend(
        &mut self,
        args: &Args<'_>,
        ctx: &mut Context<'_, P>,
        escaped: bool,
    ) -> Outcome {
        let max = i32::from(ctx.system.profile.cipsend_max);
        match self.prepare_send(args, ctx, max) {
            Ok(prepared) => {
                let len = prepared.1;
                let request = if escaped {
                    DataRequest::Escaped(len)
                } else {
                    DataRequest::Exact(len)
                };
                self.start_send(prepared, request, ctx)
            }
            Err(outcome) => outcome,
        }
    }

    pub(crate) fn cipsendl(&mut self, args: &Args<'_>, ctx: &mut Context<'_, P>) -> Outcome {
        match self.prepare_send(args, ctx, i32::MAX) {
            Ok(prepared) => {
                let request = DataRequest::Stream {
                    len: prepared.1,
                    report: self.sendl_report,
                    block: self.sendl_block,
                };
                self.start_send(prepared, request, ctx)
            }
            Err(outcome) => outcome,
        }
    }

    pub(crate) fn enter_transparent(&mut self, ctx: &mut Context<'_, P>) -> Outcome {
        let _ = ctx;
        if !self.transparent || self.mux {
            diag!("AT+CIPSEND without a length needs AT+CIPMODE=1");
            return exec();
        }
        match self.links.get(0) {
            Some(link)
                if link.state == LinkState::Connected
                    && (link.ty.transport != at_core::link::Transport::Udp
                        || link.udp_mode == UdpMode::Fixed) => {}
            _ => {
                diag!("no link for transparent transmission");
                return exec();
            }
        }
        self.send_link = 0;
        let stream = self
            .links
            .get(0)
            .is_some_and(|l| l.ty.transport != Transport::Udp);
        Outcome::Data(DataRequest::Transparent { stream })
    }

    /// Hands payload to the link being sent on; 0 when the socket is full.
    pub(crate) fn send_payload(
        &mut self,
        data: &[u8],
        ctx: &mut Context<'_, P>,
    ) -> Result<usize, ErrCode> {
        let id = self.send_link;
        let timeout = self.tcp_opts[id].send_timeout;
        let Some(link) = self.links.get_mut(id) else {
            return Err(ErrCode::EXEC);
        };
        let net = ctx.platform.net();
        let sent = match &mut link.socket {
            Socket::Tcp(s) => TcpClientStack::send(net, s, data).map_err(|e| e.map(|_| ())),
            Socket::Udp(s) => UdpFullStack::send_to(net, s, link.remote, data)
                .map(|()| data.len())
                .map_err(|e| e.map(|_| ())),
        };
        match sent {
            Ok(n) => {
                link.last_activity = ctx.now;
                self.send_blocked_since = None;
                Ok(n)
            }
            Err(nb::Error::WouldBlock) => {
                let since = *self.send_blocked_since.get_or_insert(ctx.now);
                if timeout > 0
                    && ctx.now.saturating_since(since) >= Duration::from_millis(u64::from(timeout))
                {
                    diag!("send timeout");
                    self.send_blocked_since = None;
                    return Err(ErrCode::EXEC);
                }
                Ok(0)
            }
            Err(nb::Error::Other(())) => {
                diag!("send failed");
                Err(ErrCode::EXEC)
            }
        }
    }

    pub(crate) fn tcpopt_query(&mut self, ctx: &mut Context<'_, P>) -> Outcome {
        for (id, o) in self.tcp_opts.iter().enumerate() {
            line!(
                ctx,
                "+CIPTCPOPT:",
                id,
                ",",
                o.linger,
                ",",
                u8::from(o.nodelay),
                ",",
                o.send_timeout,
                ",",
                o.keepalive
            );
        }
        Outcome::Ok
    }

    pub(crate) fn tcpopt_set(&mut self, args: &Args<'_>, ctx: &mut Context<'_, P>) -> Outcome {
        let base = usize::from(self.mux);
        arg!(args.count(base + 3, base + 4));
        let ids = if self.mux {
            match arg!(args.int(0, 0..=MAX_LINKS as i32)) as usize {
                MAX_LINKS => 0..MAX_LINKS,
                id => id..id + 1,
            }
        } else {
            0..1
        };
        let linger = arg!(args.opt_int(base, -1..=i32::MAX)).map(|v| v as i32);
        let nodelay = arg!(args.opt_int(base + 1, 0..=1)).map(|v| v == 1);
        let send_timeout = arg!(args.opt_int(base + 2, 0..=i32::MAX)).map(|v| v as u32);
        let keepalive = arg!(args.opt_int(base + 3, 0..=7200)).map(|v| v as u16);
        let mut table = self.tcp_opts;
        for id in ids.clone() {
            let o = &mut table[id];
            o.linger = linger.unwrap_or(o.linger);
            o.nodelay = nodelay.unwrap_or(o.nodelay);
            o.send_timeout = send_timeout.unwrap_or(o.send_timeout);
            o.keepalive = keepalive.unwrap_or(o.keepalive);
        }
        if let Err(e) = ctx.save(keys::TCPOPT, &encode_tcpopts(&table)) {
            return e.into();
        }
        self.tcp_opts = table;
        for id in ids {
            let opts = self.tcp_opts[id];
            if let Some(Link {
                socket: Socket::Tcp(s),
                ..
            }) = self.links.get_mut(id)
            {
                if let Err(e) = apply_tcp_opts(ctx.platform.net(), s, &opts) {
                    diag!("setting socket options failed: {:?}", e);
                    return exec();
                }
            }
        }
        Outcome::Ok
    }
}

/// Applies a link id's `AT+CIPTCPOPT` settings to a TCP socket.
pub(crate) fn apply_tcp_opts<N: TcpExt>(
    net: &mut N,
    socket: &mut N::TcpSocket,
    o: &TcpOpts,
) -> Result<(), N::Error> {
    let linger = u16::try_from(o.linger).ok();
    net.tcp_set_option(socket, TcpOption::Linger(linger))?;
    net.tcp_set_option(socket, TcpOption::NoDelay(o.nodelay))?;
    net.tcp_set_option(socket, TcpOption::SendTimeout(o.send_timeout))?;
    net.tcp_set_option(
        socket,
        TcpOption::KeepAlive((o.keepalive > 0).then_some(o.keepalive)),
    )
}
