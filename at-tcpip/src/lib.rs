//! # at-tcpip
//!
//! The TCP/IP command set of the W800 "TCP/IP AT" specification as an
//! [`at_core::CommandSet`]: connections (`AT+CIPSTART`, `AT+CIPCLOSE`, ...), the server
//! (`AT+CIPSERVER`, ...), sending (`AT+CIPSEND`, `AT+CIPSENDEX`, `AT+CIPSENDL`,
//! transparent mode),
//! active and passive receive (`+IPD`, `AT+CIPRECVDATA`, `AT+CIPRECVLEN?`), socket options (`AT+CIPTCPOPT`) and the Wi-Fi station subset
//! host drivers need (`AT+CWMODE`, `AT+CWJAP`, `AT+CWQAP`, `AT+CWLAP`, `AT+CWSTATE`,
//! `AT+CIPSTA?`, `AT+CWDHCP?`, `AT+CIFSR`).
//!
//! It runs on any [`NetPlatform`]: the network is reached only through embedded-nal's
//! traits and the extensions in [`at_core::net`].
//!
//! SSL links and the SSL server run over the platform's [`at_ssl::TlsStack`]; the SSL
//! client settings (`AT+CIPSSLCCONF`, `AT+CIPSSLCCN`, `AT+CIPSSLCSNI`, `AT+CIPSSLCALPN`,
//! `AT+CIPSSLCPSK`) are listed in this set's table, because they share `AT+CIPMUX` and
//! the link ids, and run by `at-ssl`. A platform without TLS implements `TlsStack` with
//! no methods, and its SSL links answer `ERROR`.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![deny(unsafe_code)]

#[macro_use]
mod fmt;

mod conn;
mod dns;
mod frame;
mod passive;
mod ping;
mod recv;
mod server;
mod sntp;
mod wifi;

use at_core::command::find_in;
use at_core::link::{LinkTable, MAX_LINKS};
use at_core::net::{NetPlatform, TcpClientStack, UdpClientStack};
use at_core::time::earliest;
use at_core::{Args, CommandInfo, CommandSet, Context, ErrCode, Form, Forms, Instant, Outcome};
use at_ssl::{SslCommand, SslSettings, TlsStack, SSL_COMMANDS};

/// The TCP socket type of a platform's stack.
pub type TcpOf<P> = <<P as NetPlatform>::Net as TcpClientStack>::TcpSocket;
/// The UDP socket type of a platform's stack.
pub type UdpOf<P> = <<P as NetPlatform>::Net as UdpClientStack>::UdpSocket;

/// How long `AT+CIPSTART` waits for a TCP connection.
pub const CONNECT_TIMEOUT_MS: u64 = 5_000;
/// How long a TLS handshake may take beyond the TCP connection (`AT+CIPSTART` of an SSL
/// link, or a client of the SSL server).
pub const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// Longest host name `AT+CIPSTART` accepts.
pub const HOST_MAX: usize = 64;

/// `AT+CIPTCPOPT` settings of one link id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcpOpts {
    /// `SO_LINGER` seconds; -1 off.
    pub linger: i32,
    /// `TCP_NODELAY`.
    pub nodelay: bool,
    /// `SO_SNDTIMEO` in milliseconds; 0 none.
    pub send_timeout: u32,
    /// `SO_KEEPALIVE` idle seconds; 0 off.
    pub keepalive: u16,
}

impl TcpOpts {
    /// The specification's defaults: `-1,0,0,0`.
    pub const DEFAULT: TcpOpts = TcpOpts {
        linger: -1,
        nodelay: false,
        send_timeout: 0,
        keepalive: 0,
    };
}

/// The server started by `AT+CIPSERVER=1`.
pub struct Server<P: NetPlatform> {
    socket: TcpOf<P>,
    /// An SSL server's client whose handshake is under way: it takes a link id (and is
    /// announced) only once the handshake is done.
    handshaking: Option<(TcpOf<P>, core::net::SocketAddr, Instant)>,
    port: u16,
    ipv6: bool,
    /// An SSL server (one client at a time).
    ssl: bool,
    /// `<CA enable>`: clients must present a certificate.
    verify_clients: bool,
}

/// The TCP/IP command set and its state: link table, server, modes and settings.
// Layout (code size): `repr(C)` with the flags and counters first, the larger state after
// them and the SSL settings and the UDP window (4 KB together) last, so that the fields
// read on every poll stay within the short load and store forms' reach.
#[repr(C)]
pub struct TcpIp<P: NetPlatform> {
    /// `AT+CIPMUX`.
    mux: bool,
    /// `AT+CIPMODE`: transparent transmission selected.
    transparent: bool,
    /// `AT+CIPDINFO`.
    dinfo: bool,
    /// `AT+CIPRECVMODE=1`.
    passive: bool,
    /// `AT+CIPV6`.
    ipv6: bool,
    /// The last receive pass read data: more may be waiting, poll again at once.
    rx_more: bool,
    /// The receive and accept passes must run on the next poll even without network
    /// activity: one stopped early (the output queue was full), or a command ran.
    passes_due: bool,
    /// Links have existed since the station got its address (`STATUS:4`).
    had_links: bool,
    /// `AT+CIPSERVERMAXCONN`.
    server_max: u8,
    /// `AT+CIPSTO` seconds.
    server_timeout: u16,
    /// `AT+CIPRECONNINTV`, in 100 ms.
    reconnect_interval: u16,
    /// `AT+CIPSENDLCFG` transmit size.
    sendl_block: u16,
    /// `AT+CIPSENDLCFG` report size.
    sendl_report: u32,
    /// The link `AT+CIPSEND`'s payload goes to.
    send_link: usize,
    /// When the current send started waiting on the network (`SO_SNDTIMEO`).
    send_blocked_since: Option<Instant>,
    /// When the next reconnection attempt is due.
    reconnect_at: Option<Instant>,
    links: LinkTable<TcpOf<P>, UdpOf<P>>,
    /// The command waiting for the network, if any.
    pending: Pending,
    server: Option<Server<P>>,
    /// `AT+CIPTCPOPT` per link id.
    tcp_opts: [TcpOpts; MAX_LINKS],
    wifi: wifi::Wifi,
    /// `AT+CIPDNS` and the resolver.
    dns: dns::Resolver<UdpOf<P>>,
    /// `AT+CIPSNTPCFG`, `AT+CIPSNTPINTV` and the time kept.
    sntp: sntp::Sntp<UdpOf<P>>,
    /// The last single-connection `AT+CIPSTART`, redone when the link drops in
    /// transparent mode.
    last_start: Option<conn::Start>,
    /// `AT+CIPSSLCCONF`, `AT+CIPSSLCCN`, `AT+CIPSSLCSNI`, `AT+CIPSSLCALPN`,
    /// `AT+CIPSSLCPSK` per link id.
    ssl: SslSettings,
    udp_window: passive::UdpWindow,
}

/// A command waiting for the network.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Pending {
    None,
    Start(conn::Start),
    SendTo(conn::SendTo),
    Join(wifi::Join),
    Domain(dns::Domain),
    Ping(ping::Ping),
}

impl<P: NetPlatform<Net: TlsStack>> Default for TcpIp<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: NetPlatform<Net: TlsStack>> TcpIp<P> {
    /// The command set in its power-on state. Always inlined, so that inside
    /// [`Engine::with_commands`](at_core::Engine::with_commands) its fields are written
    /// straight into the engine's place: `at_w800_init`'s stack frame is 2.0 KiB that way,
    /// 6.7 KiB when the set (5 KiB) was built by its own call and then moved into the
    /// engine, 11.6 KiB inlined into a by-value argument of `Engine::new`.
    #[inline(always)]
    pub fn new() -> Self {
        TcpIp {
            links: LinkTable::new(),
            mux: false,
            transparent: false,
            dinfo: false,
            passive: false,
            udp_window: passive::UdpWindow::default(),
            ipv6: true,
            server_timeout: 180,
            server_max: MAX_LINKS as u8,
            reconnect_interval: 1,
            tcp_opts: [TcpOpts::DEFAULT; MAX_LINKS],
            server: None,
            wifi: wifi::Wifi::default(),
            pending: Pending::None,
            sendl_report: 1024,
            sendl_block: 2920,
            send_link: 0,
            send_blocked_since: None,
            last_start: None,
            reconnect_at: None,
            dns: dns::Resolver::default(),
            sntp: sntp::Sntp::default(),
            rx_more: false,
            passes_due: true,
            had_links: false,
            ssl: SslSettings::new(),
        }
    }

    /// Back to the power-on state of [`TcpIp::new`], in place: `*self = TcpIp::new()`
    /// would first build the whole set (kilobytes) on the stack, too much for a firmware
    /// task. The links and the server must be closed already.
    fn reset(&mut self) {
        // Every field, so that a new one cannot be forgotten here.
        let TcpIp {
            links,
            mux,
            transparent,
            dinfo,
            passive,
            udp_window,
            ipv6,
            server_timeout,
            server_max,
            reconnect_interval,
            tcp_opts,
            server,
            wifi,
            pending,
            sendl_report,
            sendl_block,
            send_link,
            send_blocked_since,
            last_start,
            reconnect_at,
            dns,
            sntp,
            rx_more,
            passes_due,
            had_links,
            ssl,
        } = self;
        for id in 0..MAX_LINKS {
            // Closed by the caller; whatever is left is forgotten.
            let _ = links.remove(id);
        }
        (*mux, *transparent, *dinfo, *passive) = (false, false, false, false);
        udp_window.clear();
        *ipv6 = true;
        (*server_timeout, *server_max, *reconnect_interval) = (180, MAX_LINKS as u8, 1);
        *tcp_opts = [TcpOpts::DEFAULT; MAX_LINKS];
        *server = None;
        *wifi = wifi::Wifi::default();
        *pending = Pending::None;
        (*sendl_report, *sendl_block, *send_link) = (1024, 2920, 0);
        *send_blocked_since = None;
        *last_start = None;
        *reconnect_at = None;
        *dns = dns::Resolver::default();
        *sntp = sntp::Sntp::default();
        (*rx_more, *passes_due, *had_links) = (false, true, false);
        ssl.reset();
    }

    /// The link table.
    pub fn links(&self) -> &LinkTable<TcpOf<P>, UdpOf<P>> {
        &self.links
    }

    /// Multi-connection mode (`AT+CIPMUX=1`).
    pub fn mux(&self) -> bool {
        self.mux
    }

    /// How many TCP and UDP sockets of the stack the set holds: links, the server's
    /// listener and a client still in its TLS handshake, the resolver's and SNTP's UDP
    /// sockets. Every socket the set opens is counted here until it closes it, so a
    /// platform (or a fuzzer) can check that nothing leaks.
    pub fn sockets_held(&self) -> (usize, usize) {
        let tcp_links = (self.links.iter())
            .filter(|(_, l)| matches!(l.socket, at_core::link::Socket::Tcp(_)))
            .count();
        let udp_links = self.links.len() - tcp_links;
        let server = self
            .server
            .as_ref()
            .map_or(0, |s| 1 + usize::from(s.handshaking.is_some()));
        let udp_services =
            usize::from(self.dns.holds_socket()) + usize::from(self.sntp.holds_socket());
        (tcp_links + server, udp_links + udp_services)
    }

    /// The local port of the running server.
    pub fn server_port(&self) -> Option<u16> {
        self.server.as_ref().map(|s| s.port)
    }
}

const Q: Forms = Forms::QUERY;
const S: Forms = Forms::SET;
const E: Forms = Forms::EXECUTE;
const QS: Forms = Forms::QUERY.with(Forms::SET);

/// The commands, in `AT+CMD?` order; indices are the `Cmd` discriminants.
static TABLE: [CommandInfo; 35] = [
    CommandInfo::new("+CIPV6", QS),
    CommandInfo::new("+CIPSTATE", Q),
    CommandInfo::new("+CIPSTART", S),
    CommandInfo::new("+CIPSTARTEX", S),
    CommandInfo::new("+CIPSEND", S.with(E)),
    CommandInfo::new("+CIPSENDEX", S),
    CommandInfo::new("+CIPSENDL", S),
    CommandInfo::new("+CIPSENDLCFG", QS),
    CommandInfo::new("+CIPCLOSE", S.with(E)),
    CommandInfo::new("+CIFSR", E),
    CommandInfo::new("+CIPMUX", QS),
    CommandInfo::new("+CIPSERVER", QS),
    CommandInfo::new("+CIPSERVERMAXCONN", QS),
    CommandInfo::new("+CIPMODE", QS),
    CommandInfo::new("+CIPSTO", QS),
    CommandInfo::new("+CIPDINFO", QS),
    CommandInfo::new("+CIPRECONNINTV", QS),
    CommandInfo::new("+CIPTCPOPT", QS),
    CommandInfo::new("+CIPRECVMODE", QS),
    CommandInfo::new("+CIPRECVDATA", S),
    CommandInfo::new("+CIPRECVLEN", Q),
    CommandInfo::new("+CIPSTATUS", E),
    CommandInfo::new("+CWMODE", QS),
    CommandInfo::new("+CWJAP", QS.with(E)),
    CommandInfo::new("+CWQAP", E),
    CommandInfo::new("+CWLAP", E),
    CommandInfo::new("+CWSTATE", Q),
    CommandInfo::new("+CIPSTA", Q),
    CommandInfo::new("+CWDHCP", Q),
    CommandInfo::new("+CIPDOMAIN", S),
    CommandInfo::new("+CIPDNS", QS),
    CommandInfo::new("+PING", S),
    CommandInfo::new("+CIPSNTPCFG", QS),
    CommandInfo::new("+CIPSNTPTIME", Q),
    CommandInfo::new("+CIPSNTPINTV", QS),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    CipV6,
    CipState,
    CipStart,
    CipStartEx,
    CipSend,
    CipSendEx,
    CipSendL,
    CipSendLCfg,
    CipClose,
    Cifsr,
    CipMux,
    CipServer,
    CipServerMaxConn,
    CipMode,
    CipSto,
    CipDinfo,
    CipReconnIntv,
    CipTcpOpt,
    CipRecvMode,
    CipRecvData,
    CipRecvLen,
    CipStatus,
    CwMode,
    CwJap,
    CwQap,
    CwLap,
    CwState,
    CipSta,
    CwDhcp,
    CipDomain,
    CipDns,
    Ping,
    CipSntpCfg,
    CipSntpTime,
    CipSntpIntv,
}

const CMDS: [Cmd; 35] = [
    Cmd::CipV6,
    Cmd::CipState,
    Cmd::CipStart,
    Cmd::CipStartEx,
    Cmd::CipSend,
    Cmd::CipSendEx,
    Cmd::CipSendL,
    Cmd::CipSendLCfg,
    Cmd::CipClose,
    Cmd::Cifsr,
    Cmd::CipMux,
    Cmd::CipServer,
    Cmd::CipServerMaxConn,
    Cmd::CipMode,
    Cmd::CipSto,
    Cmd::CipDinfo,
    Cmd::CipReconnIntv,
    Cmd::CipTcpOpt,
    Cmd::CipRecvMode,
    Cmd::CipRecvData,
    Cmd::CipRecvLen,
    Cmd::CipStatus,
    Cmd::CwMode,
    Cmd::CwJap,
    Cmd::CwQap,
    Cmd::CwLap,
    Cmd::CwState,
    Cmd::CipSta,
    Cmd::CwDhcp,
    Cmd::CipDomain,
    Cmd::CipDns,
    Cmd::Ping,
    Cmd::CipSntpCfg,
    Cmd::CipSntpTime,
    Cmd::CipSntpIntv,
];

/// Store keys of the settings marked "saved in NVS".
pub(crate) mod keys {
    pub const IPV6: &str = "ip.v6";
    pub const RECONNECT: &str = "ip.reconn";
    pub const TCPOPT: &str = "ip.tcpopt";
    pub const WIFI_MODE: &str = "wifi.mode";
    pub const WIFI_AP: &str = "wifi.ap";
}

/// Writes one response line made of `pieces` (each as its `Display` prints it, see
/// [`Text::put`](at_core::text::Text::put)) and `\r\n`; a full queue becomes `ERROR`.
macro_rules! line {
    ($ctx:expr, $($piece:expr),+ $(,)?) => {
        if $ctx.out.compose()$(.put($piece))+.line().is_err() {
            return Outcome::Error(ErrCode::EXEC);
        }
    };
}
pub(crate) use line;

/// `?` for argument errors inside functions returning `Outcome`.
macro_rules! arg {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Outcome::from(e),
        }
    };
}
pub(crate) use arg;

impl<P: NetPlatform<Net: TlsStack>> CommandSet<P> for TcpIp<P> {
    fn len(&self) -> usize {
        TABLE.len() + SSL_COMMANDS.len()
    }

    fn find(&self, name: &[u8]) -> Option<usize> {
        find_in(&TABLE, name).or_else(|| Some(TABLE.len() + find_in(&SSL_COMMANDS, name)?))
    }

    fn info(&self, index: usize) -> Option<&'static CommandInfo> {
        TABLE
            .get(index)
            .or_else(|| SSL_COMMANDS.get(index.checked_sub(TABLE.len())?))
    }

    fn execute(
        &mut self,
        index: usize,
        form: Form,
        args: &Args<'_>,
        ctx: &mut Context<'_, P>,
    ) -> Outcome {
        let Some(&cmd) = CMDS.get(index) else {
            let ssl = index.checked_sub(TABLE.len());
            return match ssl.and_then(|i| SslCommand::ALL.get(i)) {
                Some(&command) => self.ssl.execute(command, form, args, self.mux, ctx),
                None => Outcome::Error(ErrCode::EXEC),
            };
        };
        // These leave work for the receive pass that no socket event will announce:
        // data left behind by a read, a switch of the receive mode.
        if matches!(cmd, Cmd::CipRecvData | Cmd::CipRecvMode | Cmd::CipMode) {
            self.passes_due = true;
        }
        match (cmd, form) {
            (Cmd::CipV6, Form::Query) => flag(ctx, "CIPV6", self.ipv6),
            (Cmd::CipV6, _) => self.set_ipv6(args, ctx),
            (Cmd::CipState, _) => self.list_links(ctx, "+CIPSTATE"),
            (Cmd::CipStatus, _) => self.cipstatus(ctx),
            (Cmd::CipStart, _) => self.cipstart(args, ctx, false),
            (Cmd::CipStartEx, _) => self.cipstart(args, ctx, true),
            (Cmd::CipSend, Form::Execute) => self.enter_transparent(ctx),
            (Cmd::CipSend, _) => self.cipsend(args, ctx, false),
            (Cmd::CipSendEx, _) => self.cipsend(args, ctx, true),
            (Cmd::CipSendL, _) => self.cipsendl(args, ctx),
            (Cmd::CipSendLCfg, Form::Query) => {
                line!(
                    ctx,
                    "+CIPSENDLCFG:",
                    self.sendl_report,
                    ",",
                    self.sendl_block
                );
                Outcome::Ok
            }
            (Cmd::CipSendLCfg, _) => {
                arg!(args.count(1, 2));
                let report = arg!(args.opt_int(0, 100..=1 << 20));
                let block = arg!(args.opt_int(1, 100..=2920));
                self.sendl_report = report.map_or(self.sendl_report, |v| v as u32);
                self.sendl_block = block.map_or(self.sendl_block, |v| v as u16);
                Outcome::Ok
            }
            (Cmd::CipClose, _) => self.cipclose(form, args, ctx),
            (Cmd::Cifsr, _) => self.cifsr(ctx),
            (Cmd::CipMux, Form::Query) => {
                line!(ctx, "+CIPMUX:", u8::from(self.mux));
                Outcome::Ok
            }
            (Cmd::CipMux, _) => self.set_mux(args),
            (Cmd::CipServer, Form::Query) => self.server_query(ctx),
            (Cmd::CipServer, _) => self.cipserver(args, ctx),
            (Cmd::CipServerMaxConn, Form::Query) => {
                line!(ctx, "+CIPSERVERMAXCONN:", self.server_max);
                Outcome::Ok
            }
            (Cmd::CipServerMaxConn, _) => self.set_server_max(args),
            (Cmd::CipMode, Form::Query) => {
                line!(ctx, "+CIPMODE:", u8::from(self.transparent));
                Outcome::Ok
            }
            (Cmd::CipMode, _) => self.set_mode(args),
            (Cmd::CipSto, Form::Query) => {
                line!(ctx, "+CIPSTO:", self.server_timeout);
                Outcome::Ok
            }
            (Cmd::CipSto, _) => {
                arg!(args.count(1, 1));
                self.server_timeout = arg!(args.int(0, 0..=7200)) as u16;
                Outcome::Ok
            }
            (Cmd::CipDinfo, Form::Query) => {
                line!(ctx, "+CIPDINFO:", if self.dinfo { "true" } else { "false" });
                Outcome::Ok
            }
            (Cmd::CipDinfo, _) => {
                arg!(args.count(1, 1));
                self.dinfo = arg!(args.int(0, 0..=1)) == 1;
                Outcome::Ok
            }
            (Cmd::CipReconnIntv, Form::Query) => {
                line!(ctx, "+CIPRECONNINTV:", self.reconnect_interval);
                Outcome::Ok
            }
            (Cmd::CipReconnIntv, _) => {
                arg!(args.count(1, 1));
                let v = arg!(args.int(0, 1..=36_000)) as u16;
                if let Err(e) = ctx.save(keys::RECONNECT, &v.to_le_bytes()) {
                    return e.into();
                }
                self.reconnect_interval = v;
                Outcome::Ok
            }
            (Cmd::CipRecvMode, Form::Query) => {
                line!(ctx, "+CIPRECVMODE:", u8::from(self.passive));
                Outcome::Ok
            }
            (Cmd::CipRecvMode, _) => self.set_recv_mode(args),
            (Cmd::CipRecvData, _) => self.recv_data(args, ctx),
            (Cmd::CipRecvLen, _) => self.recv_len(ctx),
            (Cmd::CipTcpOpt, Form::Query) => self.tcpopt_query(ctx),
            (Cmd::CipTcpOpt, _) => self.tcpopt_set(args, ctx),
            (Cmd::CwMode, Form::Query) => self.wifi_mode_query(ctx),
            (Cmd::CwMode, _) => self.cwmode(args, ctx),
            (Cmd::CwJap, Form::Query) => self.cwjap_query(ctx),
            (Cmd::CwJap, _) => self.cwjap(form, args, ctx),
            (Cmd::CwQap, _) => self.cwqap(ctx),
            (Cmd::CwLap, _) => self.cwlap(ctx),
            (Cmd::CwState, _) => self.cwstate(ctx),
            (Cmd::CipSta, _) => self.cipsta(ctx),
            (Cmd::CipDomain, _) => self.cipdomain(args, ctx),
            (Cmd::CipDns, Form::Query) => self.cipdns_query(ctx),
            (Cmd::CipDns, _) => self.cipdns_set(args, ctx),
            (Cmd::Ping, _) => self.ping(args, ctx),
            (Cmd::CipSntpCfg, Form::Query) => self.sntp_cfg_query(ctx),
            (Cmd::CipSntpCfg, _) => self.sntp_cfg_set(args, ctx),
            (Cmd::CipSntpTime, _) => self.sntp_time_query(ctx),
            (Cmd::CipSntpIntv, Form::Query) => self.sntp_intv_query(ctx),
            (Cmd::CipSntpIntv, _) => self.sntp_intv_set(args, ctx),
            (Cmd::CwDhcp, _) => {
                line!(ctx, "+CWDHCP:", u8::from(self.wifi.dhcp));
                Outcome::Ok
            }
        }
    }

    fn poll_pending(&mut self, _index: usize, ctx: &mut Context<'_, P>) -> Outcome {
        // A connect or handshake that completes here may have consumed the socket's
        // event while its link was not yet readable (a TLS library may hold data).
        self.passes_due = true;
        match core::mem::replace(&mut self.pending, Pending::None) {
            Pending::None => Outcome::Error(ErrCode::EXEC),
            Pending::Start(start) => self.continue_start(start, ctx),
            Pending::SendTo(send) => self.continue_send_to(send, ctx),
            Pending::Domain(d) => self.continue_domain(d, ctx),
            Pending::Ping(p) => self.continue_ping(p, ctx),
            Pending::Join(join) => self.continue_join(join, ctx),
        }
    }

    fn send_data(
        &mut self,
        index: usize,
        data: &[u8],
        ctx: &mut Context<'_, P>,
    ) -> Result<usize, ErrCode> {
        let _ = index;
        self.send_payload(data, ctx)
    }

    fn leave_transparent(&mut self, _index: usize, ctx: &mut Context<'_, P>) {
        self.passes_due = true;
        // A reconnection still in progress ends with the mode.
        self.reconnect_at = None;
        if self.links.get(0).is_some_and(|l| {
            use at_core::link::LinkState::{Connecting, Handshaking};
            matches!(l.state, Connecting | Handshaking)
        }) {
            if let Some(link) = self.links.remove(0) {
                self.release(link, ctx);
            }
        }
        if ctx.system.sysmsg & at_core::system::SYSMSG_QUITT != 0 {
            let _ = ctx.out.push(b"+QUITT\r\n");
        }
    }

    fn poll(&mut self, ctx: &mut Context<'_, P>) {
        self.poll_station(ctx);
        // The socket passes run only when the network may have news, or something of
        // ours asks for them; a pass that stops early sets `passes_due` again.
        let activity = ctx.platform.take_network_activity();
        if activity || self.passes_due || self.rx_more {
            self.passes_due = false;
            self.accept_clients(ctx);
            if self.passive && !ctx.transparent {
                self.receive_passive(ctx);
            } else {
                self.receive(ctx);
            }
        }
        self.advance_server_handshakes(ctx);
        self.expire_idle_clients(ctx);
        self.reconnect(ctx);
        self.poll_sntp(ctx);
    }

    fn poll_at(&self) -> Option<Instant> {
        let pending = match &self.pending {
            Pending::Start(s) => Some(s.deadline),
            Pending::SendTo(s) => Some(s.deadline),
            Pending::Domain(d) => Some(d.deadline),
            Pending::Ping(p) => Some(p.deadline),
            Pending::Join(j) => Some(j.deadline),
            Pending::None => None,
        };
        if self.rx_more {
            return Some(Instant::ZERO);
        }
        let mut next = earliest(pending, self.reconnect_at);
        next = earliest(next, self.dns.deadline());
        next = earliest(next, self.sntp.deadline());
        earliest(next, self.link_deadline())
    }

    fn restart(&mut self, ctx: &mut Context<'_, P>) {
        self.sntp_stop(ctx);
        self.cancel_lookup(ctx);
        self.close_everything(ctx, false);
        self.reset();
        self.ipv6 = ctx.system.profile.ipv6_default;
        let mut buf = [0u8; 64];
        if let Some([v]) = ctx.load(keys::IPV6, &mut buf) {
            self.ipv6 = *v == 1;
        }
        if let Some([a, b]) = ctx.load(keys::RECONNECT, &mut buf) {
            let v = u16::from_le_bytes([*a, *b]);
            if (1..=36_000).contains(&v) {
                self.reconnect_interval = v;
            }
        }
        if let Some(stored) = ctx.load(keys::TCPOPT, &mut buf) {
            conn::decode_tcpopts(stored, &mut self.tcp_opts);
        }
        self.wifi.load(ctx);
        self.dns.load(ctx);
        self.sntp.load(ctx);
        self.ssl.restart(ctx);
    }
}

fn flag<P: NetPlatform>(ctx: &mut Context<'_, P>, name: &str, on: bool) -> Outcome {
    line!(ctx, "+", name, ":", u8::from(on));
    Outcome::Ok
}
