//! Names: `AT+CIPDOMAIN`, `AT+CIPDNS`, and the resolver every command uses for host names
//! (`AT+CIPSTART`, `AT+CIPSEND` to a UDP peer, `AT+PING`, SNTP servers).
//!
//! With automatic DNS (`AT+CIPDNS=0`, the default) names go to the platform's resolver
//! ([`embedded_nal::Dns`]). With manual servers (`AT+CIPDNS=1,...`) the engine asks
//! exactly those servers itself, in order, over the UDP boundary: one query per attempt,
//! a timeout and a retry per server. Messages are built and parsed with the
//! allocation-free `dns-protocol` crate.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use at_core::net::{nb, AddrType, Dns, NetPlatform, Station, UdpClientStack, UdpExt, UdpFullStack};
use at_core::{ArgError, Args, Context, Duration, ErrCode, Instant, Outcome};
use at_ssl::TlsStack;
use dns_protocol::{Flags, Message, Question, ResourceRecord, ResourceType};

use crate::{arg, line, Pending, TcpIp};

/// How long one query waits for its answer.
pub const QUERY_TIMEOUT_MS: u64 = 2_000;
/// Queries per server before the next one is asked.
pub const ATTEMPTS_PER_SERVER: u8 = 2;
/// Longest name `AT+CIPDOMAIN` takes.
pub const NAME_MAX: usize = 64;
/// The factory servers, used by `AT+CIPDNS=1` without addresses and shown in automatic
/// mode.
pub const DEFAULT_SERVERS: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(208, 67, 222, 222)),
    IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
];
const KEY: &str = "dns.cfg";
const MAX_SERVERS: usize = 3;

/// Which addresses a lookup wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Pref {
    /// IPv4 if the name has one, else IPv6.
    PreferV4,
    /// IPv4 only.
    V4Only,
    /// IPv6 only.
    V6Only,
}

/// A manual-server lookup in flight.
struct Lookup<S> {
    name: heapless::String<NAME_MAX>,
    pref: Pref,
    /// Asking for AAAA (after A found nothing, or for `V6Only`).
    aaaa: bool,
    server: usize,
    attempt: u8,
    id: u16,
    deadline: Instant,
    socket: Option<S>,
}

/// `AT+CIPDNS` settings and the manual-server lookup.
pub(crate) struct Resolver<S> {
    manual: bool,
    servers: heapless::Vec<IpAddr, MAX_SERVERS>,
    lookup: Option<Lookup<S>>,
}

impl<S> Resolver<S> {
    /// Whether a manual lookup holds its UDP socket.
    pub(crate) fn holds_socket(&self) -> bool {
        self.lookup.as_ref().is_some_and(|l| l.socket.is_some())
    }
}

impl<S> Default for Resolver<S> {
    fn default() -> Self {
        Resolver {
            manual: false,
            servers: heapless::Vec::from_slice(&DEFAULT_SERVERS).unwrap_or_default(),
            lookup: None,
        }
    }
}

impl<S> Resolver<S> {
    /// Loads the stored `AT+CIPDNS` settings.
    pub(crate) fn load<P: NetPlatform>(&mut self, ctx: &mut Context<'_, P>) {
        let mut buf = [0u8; 2 + MAX_SERVERS * 17];
        let Some(stored) = ctx.load(KEY, &mut buf) else {
            return;
        };
        let Some((&manual, rest)) = stored.split_first() else {
            return;
        };
        let mut servers = heapless::Vec::new();
        for entry in rest.chunks_exact(17) {
            let ip = if entry[0] == 4 {
                IpAddr::V4(Ipv4Addr::new(entry[1], entry[2], entry[3], entry[4]))
            } else {
                let mut o = [0u8; 16];
                o.copy_from_slice(&entry[1..17]);
                IpAddr::V6(Ipv6Addr::from(o))
            };
            let _ = servers.push(ip);
        }
        if !servers.is_empty() {
            self.manual = manual == 1;
            self.servers = servers;
        }
    }

    fn encode(&self) -> heapless::Vec<u8, { 1 + MAX_SERVERS * 17 }> {
        let mut v = heapless::Vec::new();
        let _ = v.push(u8::from(self.manual));
        for ip in &self.servers {
            let mut entry = [0u8; 17];
            match ip {
                IpAddr::V4(a) => {
                    entry[0] = 4;
                    entry[1..5].copy_from_slice(&a.octets());
                }
                IpAddr::V6(a) => {
                    entry[0] = 6;
                    entry[1..17].copy_from_slice(&a.octets());
                }
            }
            let _ = v.extend_from_slice(&entry);
        }
        v
    }

    /// When the lookup in flight times out.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.lookup.as_ref().map(|l| l.deadline)
    }
}

/// An `AT+CIPDOMAIN` in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Domain {
    pub name: heapless::String<NAME_MAX>,
    pub pref: Pref,
    pub deadline: Instant,
}

fn exec() -> Outcome {
    Outcome::Error(ErrCode::EXEC)
}

impl<P: NetPlatform<Net: TlsStack>> TcpIp<P> {
    pub(crate) fn cipdns_query(&mut self, ctx: &mut Context<'_, P>) -> Outcome {
        let mut text = ctx.out.compose();
        text.str("+CIPDNS:").put(u8::from(self.dns.manual));
        for &ip in &self.dns.servers {
            text.str(",\"").ip(ip).str("\"");
        }
        if text.line().is_err() {
            return exec();
        }
        Outcome::Ok
    }

    pub(crate) fn cipdns_set(&mut self, args: &Args<'_>, ctx: &mut Context<'_, P>) -> Outcome {
        let max = usize::from(ctx.system.profile.dns_servers).min(MAX_SERVERS);
        arg!(args.count(1, 1 + max));
        let manual = arg!(args.int(0, 0..=1)) == 1;
        let mut servers: heapless::Vec<IpAddr, MAX_SERVERS> = heapless::Vec::new();
        if manual {
            for i in 1..args.len() {
                let Some(text) = arg!(args.opt_text(i, 46)) else {
                    continue;
                };
                let Some(ip) = at_core::addr::ip_literal(text.as_bytes()) else {
                    return ArgError::Invalid(i as u8).into();
                };
                if servers.contains(&ip) {
                    diag!("DNS servers may not repeat");
                    return ArgError::Invalid(i as u8).into();
                }
                let _ = servers.push(ip);
            }
        } else if args.len() > 1 {
            return ArgError::Count {
                needed: 1,
                given: args.len() as u8,
            }
            .into();
        }
        if servers.is_empty() {
            servers = heapless::Vec::from_slice(&DEFAULT_SERVERS).unwrap_or_default();
        }
        let previous = (self.dns.manual, self.dns.servers.clone());
        self.dns.manual = manual;
        self.dns.servers = servers;
        if let Err(e) = ctx.save(KEY, &self.dns.encode()) {
            (self.dns.manual, self.dns.servers) = previous;
            return e.into();
        }
        Outcome::Ok
    }

    pub(crate) fn cipdomain(&mut self, args: &Args<'_>, ctx: &mut Context<'_, P>) -> Outcome {
        arg!(args.count(1, 2));
        let name = arg!(args.name(0, NAME_MAX));
        if name.is_empty() {
            return ArgError::Invalid(0).into();
        }
        let pref = match arg!(args.opt_int(1, 1..=3)) {
            None | Some(1) => Pref::PreferV4,
            Some(2) => Pref::V4Only,
            _ => Pref::V6Only,
        };
        if ctx.platform.station().ipv4().is_none() {
            diag!("no ip");
            return exec();
        }
        let domain = Domain {
            name: heapless::String::try_from(name).unwrap_or_default(),
            pref,
            deadline: ctx.now
                + Duration::from_millis(
                    QUERY_TIMEOUT_MS * u64::from(ATTEMPTS_PER_SERVER) * MAX_SERVERS as u64 + 1000,
                ),
        };
        self.continue_domain(domain, ctx)
    }

    pub(crate) fn continue_domain(&mut self, domain: Domain, ctx: &mut Context<'_, P>) -> Outcome {
        match self.resolve(ctx, &domain.name, domain.pref) {
            Ok(ip) => {
                line!(ctx, "+CIPDOMAIN:\"", ip, "\"");
                Outcome::Ok
            }
            Err(nb::Error::WouldBlock) if ctx.now < domain.deadline => {
                self.pending = Pending::Domain(domain);
                Outcome::Pending
            }
            Err(_) => {
                self.cancel_lookup_for(ctx, &domain.name);
                exec()
            }
        }
    }

    /// Resolves `name` (an address literal resolves to itself); `WouldBlock` while the
    /// lookup runs, including while another name's lookup is in flight.
    pub(crate) fn resolve(
        &mut self,
        ctx: &mut Context<'_, P>,
        name: &str,
        pref: Pref,
    ) -> nb::Result<IpAddr, ()> {
        if let Some(ip) = at_core::addr::ip_literal(name.as_bytes()) {
            return match (pref, ip) {
                (Pref::V4Only, IpAddr::V6(_)) | (Pref::V6Only, IpAddr::V4(_)) => {
                    Err(nb::Error::Other(()))
                }
                _ => Ok(ip),
            };
        }
        if !self.dns.manual {
            let want = match pref {
                Pref::PreferV4 => AddrType::Either,
                Pref::V4Only => AddrType::IPv4,
                Pref::V6Only => AddrType::IPv6,
            };
            return Dns::get_host_by_name(ctx.platform.net(), name, want).map_err(|e| {
                e.map(|e| {
                    diag!("resolving {} failed: {:?}", name, e);
                })
            });
        }
        match &self.dns.lookup {
            Some(l) if l.name.as_str() == name && l.pref == pref => self.poll_lookup(ctx),
            Some(_) => Err(nb::Error::WouldBlock),
            None => {
                // An unpredictable ID (RFC 5452): the platform's entropy, not a sequence.
                let id = ctx.platform.random_u32() as u16;
                self.dns.lookup = Some(Lookup {
                    name: heapless::String::try_from(name).map_err(|_| nb::Error::Other(()))?,
                    pref,
                    aaaa: pref == Pref::V6Only,
                    server: 0,
                    attempt: 0,
                    id,
                    deadline: ctx.now,
                    socket: None,
                });
                self.send_query(ctx)?;
                Err(nb::Error::WouldBlock)
            }
        }
    }

    /// Sends the current query of the lookup to its current server.
    fn send_query(&mut self, ctx: &mut Context<'_, P>) -> nb::Result<(), ()> {
        loop {
            let servers = self.dns.servers.clone();
            let Some(l) = self.dns.lookup.as_mut() else {
                return Err(nb::Error::Other(()));
            };
            let Some(&server) = servers.get(l.server) else {
                self.cancel_lookup(ctx);
                return Err(nb::Error::Other(()));
            };
            let net = ctx.platform.net();
            if let Some(old) = l.socket.take() {
                let _ = UdpClientStack::close(net, old);
            }
            let mut buf = [0u8; 320];
            let ty = if l.aaaa {
                ResourceType::AAAA
            } else {
                ResourceType::A
            };
            let mut questions = [Question::new(l.name.as_str(), ty, 1)];
            let mut flags = Flags::default();
            flags.set_recursive(true);
            let message = Message::new(l.id, flags, &mut questions, &mut [], &mut [], &mut []);
            let Ok(n) = message.write(&mut buf) else {
                self.cancel_lookup(ctx);
                return Err(nb::Error::Other(()));
            };
            l.deadline = ctx.now + Duration::from_millis(QUERY_TIMEOUT_MS);
            let any = if server.is_ipv6() {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            };
            let sent = UdpClientStack::socket(net)
                .map_err(|_| ())
                .and_then(|mut socket| {
                    let result = UdpExt::udp_bind_to(net, &mut socket, SocketAddr::new(any, 0))
                        .map_err(|_| ())
                        .and_then(|()| {
                            match UdpFullStack::send_to(
                                net,
                                &mut socket,
                                SocketAddr::new(server, 53),
                                &buf[..n],
                            ) {
                                Ok(()) | Err(nb::Error::WouldBlock) => Ok(()),
                                Err(nb::Error::Other(_)) => Err(()),
                            }
                        });
                    match result {
                        Ok(()) => Ok(socket),
                        Err(()) => {
                            let _ = UdpClientStack::close(net, socket);
                            Err(())
                        }
                    }
                });
            match sent {
                Ok(socket) => {
                    l.socket = Some(socket);
                    return Ok(());
                }
                Err(()) => {
                    diag!("DNS query to {} could not be sent", server);
                    l.server += 1;
                    l.attempt = 0;
                }
            }
        }
    }

    /// Checks for the answer; retries or moves to the next server on timeout.
    fn poll_lookup(&mut self, ctx: &mut Context<'_, P>) -> nb::Result<IpAddr, ()> {
        let server = {
            let Some(l) = self.dns.lookup.as_ref() else {
                return Err(nb::Error::Other(()));
            };
            self.dns.servers.get(l.server).copied()
        };
        let Some(l) = self.dns.lookup.as_mut() else {
            return Err(nb::Error::Other(()));
        };
        let mut buf = [0u8; 512];
        if let Some(socket) = l.socket.as_mut() {
            while let Ok((n, from)) = UdpClientStack::receive(ctx.platform.net(), socket, &mut buf)
            {
                if Some(from) != server.map(|s| SocketAddr::new(s, 53)) {
                    continue;
                }
                match answer(&mut buf[..n], l.id, l.aaaa) {
                    Answer::Found(ip) => {
                        self.cancel_lookup(ctx);
                        return Ok(ip);
                    }
                    Answer::Unrelated => continue,
                    Answer::NoSuchName => {
                        self.cancel_lookup(ctx);
                        return Err(nb::Error::Other(()));
                    }
                    Answer::NoAddress if l.pref == Pref::PreferV4 && !l.aaaa => {
                        l.aaaa = true;
                        l.attempt = 0;
                        self.send_query(ctx)?;
                        return Err(nb::Error::WouldBlock);
                    }
                    Answer::NoAddress => {
                        self.cancel_lookup(ctx);
                        return Err(nb::Error::Other(()));
                    }
                    Answer::ServerFailed => {
                        l.server += 1;
                        l.attempt = 0;
                        self.send_query(ctx)?;
                        return Err(nb::Error::WouldBlock);
                    }
                }
            }
        }
        if ctx.now >= l.deadline {
            l.attempt += 1;
            if l.attempt >= ATTEMPTS_PER_SERVER {
                l.server += 1;
                l.attempt = 0;
            }
            diag!("DNS query timed out: retrying");
            self.send_query(ctx)?;
        }
        Err(nb::Error::WouldBlock)
    }

    /// Ends the lookup of `name` if it is the one in flight (a caller that gives up must
    /// not cancel another caller's lookup).
    pub(crate) fn cancel_lookup_for(&mut self, ctx: &mut Context<'_, P>, name: &str) {
        if self
            .dns
            .lookup
            .as_ref()
            .is_some_and(|l| l.name.as_str() == name)
        {
            self.cancel_lookup(ctx);
        }
    }

    /// Ends the lookup in flight and closes its socket.
    // Out of line (code size): called from many places; a call is smaller than a copy.
    #[inline(never)]
    pub(crate) fn cancel_lookup(&mut self, ctx: &mut Context<'_, P>) {
        if let Some(l) = self.dns.lookup.take() {
            if let Some(socket) = l.socket {
                let _ = UdpClientStack::close(ctx.platform.net(), socket);
            }
        }
    }
}

/// What a DNS response said about our question.
enum Answer {
    Found(IpAddr),
    /// Not a response to our query.
    Unrelated,
    NoSuchName,
    NoAddress,
    ServerFailed,
}

/// Answer records read from one response; the first address among them is the answer.
const ANSWERS_READ: u16 = 16;

/// The RCODE field of the flags, and the two codes that mean something here
/// (RFC 1035 section 4.1.1).
const RCODE_MASK: u16 = 0x000f;
const RCODE_NO_ERROR: u16 = 0;
const RCODE_NAME_ERROR: u16 = 3;

/// What `bytes`, a response, says about query `id`. Only the question and answer
/// sections matter, and dns-protocol refuses a message whose sections hold more records
/// than the arrays it is given; so the header's counts are cut first (the header is
/// 12 bytes: the ID, the flags, then the question, answer, authority and additional
/// counts): the authority and additional sections (name servers, glue) are not read,
/// and a long answer is read up to its first [`ANSWERS_READ`] records. (The record
/// arrays are also what this function's stack frame is made of.)
///
/// The question section is not compared with ours (RFC 5452 9.1 asks for it): one query
/// is in flight, on a socket of its own, with a random ID, from one server's address
/// and port; a response to another question could only be a forgery, and a forger who
/// guessed the ID would echo our question as well. The check was written and measured:
/// about 200 bytes of firmware, more than the code-size target has to spare.
fn answer(bytes: &mut [u8], id: u16, aaaa: bool) -> Answer {
    if let Some(counts) = bytes.get_mut(6..12) {
        let read = u16::from_be_bytes([counts[0], counts[1]]).min(ANSWERS_READ);
        let [hi, lo] = read.to_be_bytes();
        counts.copy_from_slice(&[hi, lo, 0, 0, 0, 0]);
    }
    let mut questions = [Question::default(); 4];
    let mut answers = [ResourceRecord::default(); ANSWERS_READ as usize];
    let Ok(message) = Message::read(bytes, &mut questions, &mut answers, &mut [], &mut []) else {
        return Answer::Unrelated;
    };
    if message.id() != id {
        return Answer::Unrelated;
    }
    // The RCODE by value: dns-protocol's `response_code()` panics on the codes it has no
    // name for (6 to 15), and a response is untrusted input.
    match message.flags().raw() & RCODE_MASK {
        RCODE_NO_ERROR => {}
        RCODE_NAME_ERROR => return Answer::NoSuchName,
        _ => return Answer::ServerFailed,
    }
    for rr in message.answers() {
        match (rr.ty(), rr.data(), aaaa) {
            (ResourceType::A, &[a, b, c, d], false) => {
                return Answer::Found(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
            }
            (ResourceType::AAAA, data, true) if data.len() == 16 => {
                let mut o = [0u8; 16];
                o.copy_from_slice(data);
                return Answer::Found(IpAddr::V6(Ipv6Addr::from(o)));
            }
            _ => {}
        }
    }
    Answer::NoAddress
}
