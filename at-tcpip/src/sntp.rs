//! SNTP: `AT+CIPSNTPCFG`, `AT+CIPSNTPTIME?`, `AT+CIPSNTPINTV`, the periodic
//! synchronisation and the time it keeps.
//!
//! The client is non-blocking and runs over the UDP boundary like everything else: a
//! round asks the configured servers in order (names through the shared resolver), each
//! with [`ATTEMPTS_PER_SERVER`] requests of [`REPLY_TIMEOUT_MS`], and ends at the first
//! valid answer or after the last server. The packet format, the answer's validation
//! (origin timestamp, mode, version, stratum, kiss-o'-death, root distance) and the
//! clock offset come from the `sntpc` crate, whose `async` functions are driven by a
//! poll-once adapter over socket wrappers that never wait: `send_to` hands the request
//! to the stack at once, `recv_from` returns a datagram already received here. A round
//! starts right after `AT+CIPSNTPCFG=1,...` and every `AT+CIPSNTPINTV` seconds after a
//! successful one; a failed round is retried after 15 s, doubling up to 150 s (never
//! later than the interval), as lwIP's SNTP client does. A successful round prints
//! `+TIME_UPDATED`.
//!
//! None of these settings is stored (the specification marks none "saved in NVS").

use core::cell::RefCell;
use core::future::{ready, Future};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::task::{Context as TaskContext, Poll, Waker};

use at_core::net::{nb, NetPlatform, Station, UdpClientStack, UdpExt, UdpFullStack};
use at_core::text::{Piece, Text};
use at_core::time::earliest;
use at_core::{ArgError, Args, Context, Duration, ErrCode, Instant, Outcome};
use at_ssl::TlsStack;
use sntpc::{NtpContext, NtpResult, NtpTimestampGenerator, NtpUdpSocket, SendRequestResult};

use crate::dns::Pref;
use crate::{arg, line, TcpIp, UdpOf, HOST_MAX};

/// The NTP port every request goes to.
pub const NTP_PORT: u16 = 123;
/// How long one request waits for its answer.
pub const REPLY_TIMEOUT_MS: u64 = 3_000;
/// Requests per server (the first and one retry) before the next server is asked.
pub const ATTEMPTS_PER_SERVER: u8 = 2;
/// `AT+CIPSNTPINTV` at power-on, in seconds (ESP-AT's and lwIP's default: one hour).
pub const DEFAULT_INTERVAL_S: u32 = 3_600;
/// Shortest `AT+CIPSNTPINTV`, in seconds.
pub const MIN_INTERVAL_S: u32 = 15;
/// Longest `AT+CIPSNTPINTV`, in seconds (2^32 ms).
pub const MAX_INTERVAL_S: u32 = 4_294_967;
/// The servers `AT+CIPSNTPCFG=1,<timezone>` uses when it names none.
pub const DEFAULT_SERVERS: [&str; 3] = ["cn.ntp.org.cn", "ntp.sjtu.edu.cn", "us.pool.ntp.org"];
/// Most servers `AT+CIPSNTPCFG` takes.
pub const MAX_SERVERS: usize = 3;

/// First retry delay after a failed round.
const RETRY_MIN_MS: u64 = 15_000;
/// Longest retry delay after failed rounds.
const RETRY_MAX_MS: u64 = 150_000;
/// How long one server's name may take to resolve before the next server is asked.
const RESOLVE_LIMIT_MS: u64 = 30_000;
/// How often a name still resolving is polled again.
const RESOLVE_REPOLL_MS: u64 = 50;
/// Longest datagram read; an NTP answer is 48 bytes (more with extensions, ignored).
const DATAGRAM_MAX: usize = 128;
/// Datagrams read per poll at most (a flood does not starve the engine; the rest are
/// read on the next poll, which is asked for at once).
const DATAGRAMS_PER_POLL: usize = 8;
/// How soon `+TIME_UPDATED` is tried again when the output queue had no room.
const ANNOUNCE_RETRY_MS: u64 = 20;
/// The clock's reading before the first synchronisation, in Unix seconds
/// (2025-01-01T00:00:00Z), plus the time since boot. It only serves the request's
/// transmit timestamp and the offset computation: NTP's 32-bit seconds and the offset
/// arithmetic are unambiguous within ±68 years of the client's clock, so starting from
/// a recent date (rather than 1970) keeps the first synchronisation right until 2093,
/// not only until 2038. What `AT+CIPSNTPTIME?` shows before a synchronisation is the
/// epoch, as ESP-AT does.
const UNSYNCED_BASE_SECS: u64 = 1_735_689_600;

const MICROS_PER_SEC: i64 = 1_000_000;
const MICROS_PER_MS: i64 = 1_000;

/// A `<timezone>` of `AT+CIPSNTPCFG`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TimeZone {
    /// Offset from UTC in minutes (east positive).
    minutes: i16,
}

impl TimeZone {
    const UTC: TimeZone = TimeZone { minutes: 0 };

    /// Parses `<timezone>`: whole hours in [-12,14] (the first format), else `[+|-]hhmm`
    /// with hh in [-12,14] and mm in [0,59] (the second). Leading zeros are already gone
    /// (`015` arrives as 15: not an hour count in range, so it is `UTC+00:15`).
    fn parse(value: i64) -> Option<TimeZone> {
        if (-12..=14).contains(&value) {
            return i16::try_from(value * 60)
                .ok()
                .map(|minutes| TimeZone { minutes });
        }
        let magnitude = value.unsigned_abs();
        let (hours, minutes) = (magnitude / 100, magnitude % 100);
        let max_hours = if value < 0 { 12 } else { 14 };
        if hours > max_hours || minutes > 59 {
            return None;
        }
        let total = i16::try_from(hours * 60 + minutes).ok()?;
        Some(TimeZone {
            minutes: if value < 0 { -total } else { total },
        })
    }

    /// What the query shows: the whole hours of the offset (`800` shows 8, `1245` 12,
    /// `015` 0: "查询出来的是 0 时区").
    fn shown(self) -> i16 {
        self.minutes / 60
    }

    fn seconds(self) -> i64 {
        i64::from(self.minutes) * 60
    }
}

/// The clock reading handed to `sntpc`: the engine's estimate of Unix time.
#[derive(Clone, Copy, Debug)]
struct Clock {
    micros: u64,
}

impl Clock {
    /// The reading moved back by `random % 1000` microseconds, for a request: the
    /// transmit time, which a genuine answer echoes as its originate time, gains about
    /// ten bits a blind spoofer cannot predict (RFC 5905 section 9.1 suggests random
    /// low-order bits), while the offset moves by at most half a millisecond, below the
    /// engine's millisecond clock.
    fn jittered(self, random: u32) -> Clock {
        Clock {
            micros: self.micros.saturating_sub(u64::from(random % 1000)),
        }
    }
}

impl NtpTimestampGenerator for Clock {
    /// The reading is taken when the clock is made (one per poll): nothing to do.
    fn init(&mut self) {}

    fn timestamp_sec(&self) -> u64 {
        self.micros / 1_000_000
    }

    fn timestamp_subsec_micros(&self) -> u32 {
        // Below 1_000_000: always fits.
        u32::try_from(self.micros % 1_000_000).unwrap_or(0)
    }

    /// The engine's clock counts milliseconds: 2^-10 s.
    fn precision(&self) -> i8 {
        -10
    }
}

/// Sends `sntpc`'s request through the stack at once (no waiting: a datagram the stack
/// cannot take now is lost, as on the air, and the reply timeout covers it).
struct Sender<'a, N: UdpFullStack> {
    net: RefCell<&'a mut N>,
    socket: RefCell<&'a mut N::UdpSocket>,
}

impl<N: UdpFullStack> NtpUdpSocket for Sender<'_, N> {
    fn send_to(&self, buf: &[u8], addr: SocketAddr) -> impl Future<Output = sntpc::Result<usize>> {
        let sent = match (self.net.try_borrow_mut(), self.socket.try_borrow_mut()) {
            (Ok(mut net), Ok(mut socket)) => {
                match UdpFullStack::send_to(&mut **net, &mut **socket, addr, buf) {
                    Ok(()) => Ok(buf.len()),
                    Err(nb::Error::WouldBlock) => {
                        diag!("SNTP request to {}: the stack would block", addr);
                        Err(sntpc::Error::Network)
                    }
                    Err(nb::Error::Other(e)) => {
                        diag!("SNTP request to {} failed: {:?}", addr, e);
                        Err(sntpc::Error::Network)
                    }
                }
            }
            _ => Err(sntpc::Error::Network),
        };
        ready(sent)
    }

    fn recv_from(
        &self,
        _buf: &mut [u8],
    ) -> impl Future<Output = sntpc::Result<(usize, SocketAddr)>> {
        ready(Err(sntpc::Error::Network))
    }
}

/// Hands `sntpc` a datagram that was already received.
struct Received<'a> {
    datagram: &'a [u8],
    from: SocketAddr,
}

impl NtpUdpSocket for Received<'_> {
    fn send_to(
        &self,
        _buf: &[u8],
        _addr: SocketAddr,
    ) -> impl Future<Output = sntpc::Result<usize>> {
        ready(Err(sntpc::Error::Network))
    }

    fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl Future<Output = sntpc::Result<(usize, SocketAddr)>> {
        let n = self.datagram.len().min(buf.len());
        let copied = match (buf.get_mut(..n), self.datagram.get(..n)) {
            (Some(dst), Some(src)) => {
                dst.copy_from_slice(src);
                Ok((n, self.from))
            }
            _ => Err(sntpc::Error::Network),
        };
        ready(copied)
    }
}

/// Polls `future` once. The sockets above never wait, so every `sntpc` future is ready
/// at its first poll; `None` would mean one was not.
fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = core::pin::pin!(future);
    let mut cx = TaskContext::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// Where a round stands.
enum Step<S> {
    /// The current server's name is resolving.
    Resolving {
        /// When this server's turn began.
        since: Instant,
        /// When to ask the resolver again.
        recheck: Instant,
    },
    /// A request is out; waiting for its answer.
    Waiting {
        socket: S,
        remote: SocketAddr,
        request: SendRequestResult,
        deadline: Instant,
    },
}

/// A synchronisation round in progress.
struct Round<S> {
    /// Index into the configured servers.
    server: usize,
    /// Requests already sent to this server, the current one included.
    attempt: u8,
    step: Step<S>,
}

impl<S> Sntp<S> {
    /// Whether a request is out (its socket open).
    pub(crate) fn holds_socket(&self) -> bool {
        matches!(
            self.round,
            Some(Round {
                step: Step::Waiting { .. },
                ..
            })
        )
    }
}

/// What an answer means for the round.
enum Verdict {
    Synced(NtpResult),
    /// Not an answer to the request in flight (stale, foreign, truncated): keep waiting.
    Ignore,
    /// The server refused or answered nonsense: ask the next one.
    NextServer,
}

/// `AT+CIPSNTPCFG`, `AT+CIPSNTPINTV`, the round in progress and the time kept; `S` is
/// the platform's UDP socket.
pub(crate) struct Sntp<S> {
    /// `<enable>`.
    enabled: bool,
    zone: TimeZone,
    servers: heapless::Vec<heapless::String<HOST_MAX>, MAX_SERVERS>,
    /// `AT+CIPSNTPINTV`, seconds.
    interval_s: u32,
    /// The last synchronisation: when, and the Unix time then in microseconds.
    synced: Option<(Instant, i64)>,
    /// When the next round starts (enabled, no round in progress).
    next_round: Option<Instant>,
    /// The next round waits for the station's address.
    awaiting_ip: bool,
    /// Failed rounds in a row (the retry delay doubles with each).
    failures: u8,
    round: Option<Round<S>>,
    /// The round's socket may hold more datagrams than one poll reads.
    rx_more: bool,
    /// `+TIME_UPDATED` is due, from this instant on (later when the output queue had
    /// no room).
    announce: Option<Instant>,
}

impl<S> Default for Sntp<S> {
    fn default() -> Self {
        Sntp {
            enabled: false,
            zone: TimeZone::UTC,
            servers: heapless::Vec::new(),
            interval_s: DEFAULT_INTERVAL_S,
            synced: None,
            next_round: None,
            awaiting_ip: false,
            failures: 0,
            round: None,
            rx_more: false,
            announce: None,
        }
    }
}

impl<S> Sntp<S> {
    /// Power-on: nothing of SNTP is stored, so there is nothing to load.
    pub(crate) fn load<P: NetPlatform>(&mut self, ctx: &mut Context<'_, P>) {
        let _ = ctx;
    }

    /// When [`TcpIp::poll_sntp`] has timed work: the next round, the reply timeout, the
    /// next look at a name still resolving, datagrams left to read, or `+TIME_UPDATED`
    /// still to print.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let round = match &self.round {
            Some(Round {
                step: Step::Resolving { recheck, .. },
                ..
            }) => Some(*recheck),
            Some(Round {
                step: Step::Waiting { .. },
                ..
            }) if self.rx_more => Some(Instant::ZERO),
            Some(Round {
                step: Step::Waiting { deadline, .. },
                ..
            }) => Some(*deadline),
            None if self.enabled => self.next_round,
            None => None,
        };
        earliest(round, self.announce)
    }

    /// The Unix time at `now` in microseconds, once a synchronisation succeeded (for
    /// checking certificate validity); `None` before.
    pub(crate) fn unix_time_micros(&self, now: Instant) -> Option<i64> {
        let (at, micros) = self.synced?;
        Some(micros.saturating_add(elapsed_micros(now, at)))
    }

    /// The clock `sntpc` reads: the synchronised time, or [`UNSYNCED_BASE_SECS`] plus
    /// the time since boot.
    // Out of line (code size): four callers.
    #[inline(never)]
    fn clock(&self, now: Instant) -> Clock {
        let micros = self.unix_time_micros(now).unwrap_or_else(|| {
            (UNSYNCED_BASE_SECS as i64 * MICROS_PER_SEC)
                .saturating_add(elapsed_micros(now, Instant::ZERO))
        });
        Clock {
            micros: u64::try_from(micros).unwrap_or(0),
        }
    }

    /// How long to wait after a failed round.
    fn retry_delay(&self) -> Duration {
        let doubled = RETRY_MIN_MS
            .checked_shl(u32::from(self.failures.saturating_sub(1)))
            .unwrap_or(RETRY_MAX_MS)
            .min(RETRY_MAX_MS);
        let interval = u64::from(self.interval_s) * 1000;
        Duration::from_millis(doubled.min(interval))
    }
}

// Out of line (code size): 64-bit arithmetic, four callers.
#[inline(never)]
fn elapsed_micros(now: Instant, since: Instant) -> i64 {
    let ms = (now - since).as_millis();
    i64::try_from(ms)
        .unwrap_or(i64::MAX)
        .saturating_mul(MICROS_PER_MS)
}

/// Rounds to the millisecond, the engine clock's resolution (the offset arithmetic
/// leaves a microsecond or two of truncation behind).
fn round_to_ms(micros: i64) -> i64 {
    micros
        .saturating_add(MICROS_PER_MS / 2)
        .div_euclid(MICROS_PER_MS)
        .saturating_mul(MICROS_PER_MS)
}

/// Lists servers as `,"<s1>","<s2>"...`.
struct ServerList<'a>(&'a [heapless::String<HOST_MAX>]);

impl Piece for ServerList<'_> {
    fn put_into(self, text: &mut Text<'_>) {
        for server in self.0 {
            text.str(",").quoted(server);
        }
    }
}

impl<P: NetPlatform<Net: TlsStack>> TcpIp<P> {
    /// `AT+CIPSNTPCFG?`: `+CIPSNTPCFG:<enable>[,<timezone>,"<s1>"][,"<s2>"][,"<s3>"]`.
    ///
    /// The W800 document brackets `<timezone>` with the first server, so they come only
    /// with `<enable>` 1: disabled, the answer is `+CIPSNTPCFG:0` (ESP-AT v3.2 prints
    /// them always; the W800 syntax is the binding one here). `<timezone>` shows whole
    /// hours of the offset (`800` shows 8, `015` shows 0, as the specification's note
    /// says).
    pub(crate) fn sntp_cfg_query(&mut self, ctx: &mut Context<'_, P>) -> Outcome {
        if self.sntp.enabled {
            line!(
                ctx,
                "+CIPSNTPCFG:1,",
                self.sntp.zone.shown(),
                ServerList(&self.sntp.servers)
            );
        } else {
            line!(ctx, "+CIPSNTPCFG:0");
        }
        Outcome::Ok
    }

    /// `AT+CIPSNTPCFG=<enable>,<timezone>[,"<s1>"][,"<s2>"][,"<s3>"]`.
    ///
    /// `<enable>` 1 takes the zone and up to three servers of at most 64 bytes (none
    /// given, or only empty ones: the three defaults), and starts a round at once; 0
    /// stops synchronising (the time kept goes on running) and may leave out
    /// `<timezone>`, as older ESP-AT firmware allowed; a zone given with 0 still applies
    /// to `AT+CIPSNTPTIME?`, servers given with 0 are checked but not kept. A bad
    /// `<timezone>` is an invalid parameter 1.
    pub(crate) fn sntp_cfg_set(&mut self, args: &Args<'_>, ctx: &mut Context<'_, P>) -> Outcome {
        arg!(args.count(1, 2 + MAX_SERVERS));
        let enable = arg!(args.int(0, 0..=1)) == 1;
        if enable {
            arg!(args.count(2, 2 + MAX_SERVERS));
        }
        let zone = match arg!(args.opt_int(1, i32::MIN..=i32::MAX)) {
            Some(v) => match TimeZone::parse(v) {
                Some(zone) => Some(zone),
                None => return ArgError::Invalid(1).into(),
            },
            None if enable => return ArgError::Missing(1).into(),
            None => None,
        };
        let mut servers: heapless::Vec<heapless::String<HOST_MAX>, MAX_SERVERS> =
            heapless::Vec::new();
        for i in 2..args.len() {
            let Some(name) = arg!(args.opt_name(i, HOST_MAX)) else {
                continue;
            };
            if name.is_empty() {
                continue;
            }
            let Ok(name) = heapless::String::try_from(name) else {
                return ArgError::Length(i as u8).into();
            };
            if servers.push(name).is_err() {
                return ArgError::Invalid(i as u8).into();
            }
        }
        if servers.is_empty() {
            for name in DEFAULT_SERVERS {
                if let Ok(name) = heapless::String::try_from(name) {
                    let _ = servers.push(name);
                }
            }
        }
        self.sntp_stop(ctx);
        if let Some(zone) = zone {
            self.sntp.zone = zone;
        }
        self.sntp.enabled = enable;
        self.sntp.failures = 0;
        self.sntp.awaiting_ip = false;
        if enable {
            self.sntp.servers = servers;
            self.sntp.next_round = Some(ctx.now);
        } else {
            self.sntp.next_round = None;
        }
        Outcome::Ok
    }

    /// `AT+CIPSNTPTIME?`: `+CIPSNTPTIME:<asctime>` in the configured zone; the epoch
    /// (shifted by the zone) before any synchronisation.
    pub(crate) fn sntp_time_query(&mut self, ctx: &mut Context<'_, P>) -> Outcome {
        let micros = self.sntp.unix_time_micros(ctx.now).unwrap_or(0);
        let local = micros
            .div_euclid(MICROS_PER_SEC)
            .saturating_add(self.sntp.zone.seconds());
        line!(ctx, "+CIPSNTPTIME:", Asctime(local));
        Outcome::Ok
    }

    /// `AT+CIPSNTPINTV?`.
    pub(crate) fn sntp_intv_query(&mut self, ctx: &mut Context<'_, P>) -> Outcome {
        line!(ctx, "+CIPSNTPINTV:", self.sntp.interval_s);
        Outcome::Ok
    }

    /// `AT+CIPSNTPINTV=<seconds>`, [15,4294967]. After a successful round the next one
    /// moves to the last synchronisation plus the new interval (at once if that has
    /// passed).
    pub(crate) fn sntp_intv_set(&mut self, args: &Args<'_>, ctx: &mut Context<'_, P>) -> Outcome {
        arg!(args.count(1, 1));
        let v = arg!(args.int(0, MIN_INTERVAL_S as i32..=MAX_INTERVAL_S as i32));
        self.sntp.interval_s = u32::try_from(v).unwrap_or(DEFAULT_INTERVAL_S);
        let sntp = &mut self.sntp;
        if sntp.enabled && sntp.round.is_none() && sntp.failures == 0 {
            if let Some((at, _)) = sntp.synced {
                let next = at + Duration::from_secs(u64::from(sntp.interval_s));
                sntp.next_round = Some(next.max(ctx.now));
            }
        }
        Outcome::Ok
    }

    /// Ends the round in progress, if any, and closes its socket.
    pub(crate) fn sntp_stop(&mut self, ctx: &mut Context<'_, P>) {
        self.sntp.rx_more = false;
        if let Some(round) = self.sntp.round.take() {
            match round.step {
                Step::Waiting { socket, .. } => {
                    let _ = UdpClientStack::close(ctx.platform.net(), socket);
                }
                Step::Resolving { .. } => {
                    // Leave the resolver free for other commands.
                    if let Some(name) = self.sntp.servers.get(round.server).cloned() {
                        self.cancel_lookup_for(ctx, &name);
                    }
                }
            }
        }
    }

    /// Background work: starts due rounds, drives the one in progress, and prints
    /// `+TIME_UPDATED`.
    // Out of line (code size): inlined into the main poll, it made the firmware 1 KB larger.
    #[inline(never)]
    pub(crate) fn poll_sntp(&mut self, ctx: &mut Context<'_, P>) {
        self.announce_time_updated(ctx);
        if self.sntp.round.is_none() {
            if !self.sntp.enabled {
                return;
            }
            let has_ip = ctx.platform.station().ipv4().is_some();
            let due = self.sntp.next_round.is_some_and(|at| ctx.now >= at)
                || (self.sntp.awaiting_ip && has_ip);
            if !due {
                return;
            }
            if !has_ip {
                // Nothing to ask without an address: look again later, or as soon as
                // the station has one.
                self.sntp.awaiting_ip = true;
                self.sntp.next_round = Some(ctx.now + Duration::from_millis(RETRY_MIN_MS));
                return;
            }
            self.sntp.awaiting_ip = false;
            self.sntp.next_round = None;
            self.sntp.round = Some(Round {
                server: 0,
                attempt: 0,
                step: Step::Resolving {
                    since: ctx.now,
                    recheck: ctx.now,
                },
            });
        }
        self.drive_round(ctx);
        self.announce_time_updated(ctx);
    }

    fn announce_time_updated(&mut self, ctx: &mut Context<'_, P>) {
        if self.sntp.announce.is_none_or(|at| ctx.now < at) {
            return;
        }
        if ctx.transparent {
            // The raw transparent stream carries no messages.
            self.sntp.announce = None;
        } else if ctx.out.free() >= 128 && ctx.out.push(b"\r\n+TIME_UPDATED\r\n").is_ok() {
            self.sntp.announce = None;
        } else {
            self.sntp.announce = Some(ctx.now + Duration::from_millis(ANNOUNCE_RETRY_MS));
        }
    }

    /// Moves the round on as far as it goes now.
    fn drive_round(&mut self, ctx: &mut Context<'_, P>) {
        // Each pass either waits (returns) or moves to another server: bounded.
        // An exclusive range: `RangeInclusive`'s iterator is larger code.
        for _ in 0..2 * MAX_SERVERS + 1 {
            let Some(mut round) = self.sntp.round.take() else {
                return;
            };
            match round.step {
                Step::Resolving { since, recheck } => {
                    if ctx.now < recheck {
                        self.sntp.round = Some(round);
                        return;
                    }
                    let Some(name) = self.sntp.servers.get(round.server).cloned() else {
                        self.round_failed(ctx);
                        return;
                    };
                    let ip = match at_core::addr::ip_literal(name.as_bytes()) {
                        Some(ip) => Ok(ip),
                        None => self.resolve(ctx, &name, Pref::PreferV4),
                    };
                    match ip {
                        Ok(ip) => {
                            let remote = SocketAddr::new(ip, NTP_PORT);
                            match self.open_and_send(ctx, remote) {
                                Some((socket, request)) => {
                                    round.attempt = 1;
                                    round.step = Step::Waiting {
                                        socket,
                                        remote,
                                        request,
                                        deadline: ctx.now + Duration::from_millis(REPLY_TIMEOUT_MS),
                                    };
                                    self.sntp.round = Some(round);
                                    return;
                                }
                                None => self.next_server(round, ctx),
                            }
                        }
                        Err(nb::Error::WouldBlock)
                            if ctx.now - since < Duration::from_millis(RESOLVE_LIMIT_MS) =>
                        {
                            round.step = Step::Resolving {
                                since,
                                recheck: ctx.now + Duration::from_millis(RESOLVE_REPOLL_MS),
                            };
                            self.sntp.round = Some(round);
                            return;
                        }
                        Err(_) => {
                            diag!("SNTP server {} did not resolve", name.as_str());
                            self.next_server(round, ctx);
                        }
                    }
                }
                Step::Waiting {
                    mut socket,
                    remote,
                    request,
                    deadline,
                } => match self.read_answer(ctx, &mut socket, remote, request) {
                    Verdict::Synced(result) => {
                        let _ = UdpClientStack::close(ctx.platform.net(), socket);
                        self.synced(ctx, result);
                        return;
                    }
                    Verdict::NextServer => {
                        round.step = Step::Waiting {
                            socket,
                            remote,
                            request,
                            deadline,
                        };
                        self.next_server(round, ctx);
                    }
                    Verdict::Ignore if ctx.now < deadline => {
                        round.step = Step::Waiting {
                            socket,
                            remote,
                            request,
                            deadline,
                        };
                        self.sntp.round = Some(round);
                        return;
                    }
                    Verdict::Ignore if round.attempt < ATTEMPTS_PER_SERVER => {
                        diag!("SNTP: no answer from {}: asking again", remote);
                        round.attempt += 1;
                        let clock = self.request_clock(ctx);
                        let request = send_request(ctx.platform.net(), &mut socket, remote, clock)
                            .unwrap_or(request);
                        round.step = Step::Waiting {
                            socket,
                            remote,
                            request,
                            deadline: ctx.now + Duration::from_millis(REPLY_TIMEOUT_MS),
                        };
                        self.sntp.round = Some(round);
                        return;
                    }
                    Verdict::Ignore => {
                        diag!("SNTP: no answer from {}", remote);
                        round.step = Step::Waiting {
                            socket,
                            remote,
                            request,
                            deadline,
                        };
                        self.next_server(round, ctx);
                    }
                },
            }
        }
    }

    /// The clock a request carries: [`Clock::jittered`] by the platform's entropy.
    fn request_clock(&self, ctx: &mut Context<'_, P>) -> Clock {
        self.sntp.clock(ctx.now).jittered(ctx.platform.random_u32())
    }

    /// Opens a socket for `remote`'s family and sends the first request.
    fn open_and_send(
        &mut self,
        ctx: &mut Context<'_, P>,
        remote: SocketAddr,
    ) -> Option<(UdpOf<P>, SendRequestResult)> {
        let clock = self.request_clock(ctx);
        let net = ctx.platform.net();
        let mut socket = match UdpClientStack::socket(net) {
            Ok(socket) => socket,
            Err(e) => {
                diag!("SNTP: no socket: {:?}", e);
                return None;
            }
        };
        let any = if remote.is_ipv6() {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        if let Err(e) = UdpExt::udp_bind_to(net, &mut socket, SocketAddr::new(any, 0)) {
            diag!("SNTP: bind failed: {:?}", e);
            let _ = UdpClientStack::close(net, socket);
            return None;
        }
        match send_request(net, &mut socket, remote, clock) {
            Some(request) => Some((socket, request)),
            None => {
                let _ = UdpClientStack::close(net, socket);
                None
            }
        }
    }

    /// Reads what arrived on the round's socket and judges it.
    fn read_answer(
        &mut self,
        ctx: &mut Context<'_, P>,
        socket: &mut UdpOf<P>,
        remote: SocketAddr,
        request: SendRequestResult,
    ) -> Verdict {
        let mut buf = [0u8; DATAGRAM_MAX];
        self.sntp.rx_more = false;
        for _ in 0..DATAGRAMS_PER_POLL {
            let (n, from) = match UdpClientStack::receive(ctx.platform.net(), socket, &mut buf) {
                Ok(got) => got,
                Err(nb::Error::WouldBlock) => return Verdict::Ignore,
                Err(nb::Error::Other(e)) => {
                    diag!("SNTP: receive failed: {:?}", e);
                    return Verdict::Ignore;
                }
            };
            let Some(datagram) = buf.get(..n) else {
                continue;
            };
            let clock = self.sntp.clock(ctx.now);
            let answer = Received { datagram, from };
            let result = poll_once(sntpc::sntp_process_response(
                remote,
                &answer,
                NtpContext::new(clock),
                request,
            ));
            match result {
                Some(Ok(result)) => return Verdict::Synced(result),
                Some(Err(
                    sntpc::Error::ResponseAddressMismatch
                    | sntpc::Error::IncorrectOriginTimestamp
                    | sntpc::Error::IncorrectPayload,
                ))
                | None => {
                    diag!("SNTP: ignoring a datagram from {}", from);
                }
                Some(Err(e)) => {
                    diag!("SNTP: {} answered unusably: {:?}", remote, e);
                    return Verdict::NextServer;
                }
            }
        }
        self.sntp.rx_more = true;
        Verdict::Ignore
    }

    /// Gives up on the round's server (closing its socket) and turns to the next one.
    fn next_server(&mut self, mut round: Round<UdpOf<P>>, ctx: &mut Context<'_, P>) {
        self.sntp.rx_more = false;
        if let Step::Waiting { socket, .. } = round.step {
            let _ = UdpClientStack::close(ctx.platform.net(), socket);
        }
        round.server += 1;
        round.attempt = 0;
        round.step = Step::Resolving {
            since: ctx.now,
            recheck: ctx.now,
        };
        if round.server >= self.sntp.servers.len() {
            self.round_failed(ctx);
        } else {
            self.sntp.round = Some(round);
        }
    }

    /// No server answered: try again later.
    // Out of line (code size): every failed round ends here; a call is smaller than copies.
    #[inline(never)]
    fn round_failed(&mut self, ctx: &mut Context<'_, P>) {
        self.sntp.round = None;
        self.sntp.failures = self.sntp.failures.saturating_add(1);
        let delay = self.sntp.retry_delay();
        diag!(
            "SNTP: no server answered; next round in {} ms",
            delay.as_millis()
        );
        self.sntp.next_round = Some(ctx.now + delay);
    }

    /// A valid answer: set the clock, schedule the next round, announce.
    fn synced(&mut self, ctx: &mut Context<'_, P>, result: NtpResult) {
        self.sntp.round = None;
        self.sntp.rx_more = false;
        let estimate = i64::try_from(self.sntp.clock(ctx.now).micros).unwrap_or(0);
        let micros = round_to_ms(estimate.saturating_add(result.offset));
        if micros < 0 {
            diag!("SNTP: answer before 1970 ignored");
            self.round_failed(ctx);
            return;
        }
        self.sntp.synced = Some((ctx.now, micros));
        self.sntp.failures = 0;
        self.sntp.next_round = Some(ctx.now + Duration::from_secs(u64::from(self.sntp.interval_s)));
        self.sntp.announce = Some(ctx.now);
    }
}

/// Builds and sends one request; its originate timestamp, or `None` if it did not go.
fn send_request<N: UdpFullStack>(
    net: &mut N,
    socket: &mut N::UdpSocket,
    remote: SocketAddr,
    clock: Clock,
) -> Option<SendRequestResult> {
    let sender = Sender {
        net: RefCell::new(net),
        socket: RefCell::new(socket),
    };
    match poll_once(sntpc::sntp_send_request(
        remote,
        &sender,
        NtpContext::new(clock),
    )) {
        Some(Ok(request)) => Some(request),
        Some(Err(_)) | None => None,
    }
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31) in the proleptic
/// Gregorian calendar (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    // The day of the era fits 32 bits: the rest takes no 64-bit division.
    let doe = z.rem_euclid(146_097) as u32; // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March first
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = i64::from(yoe) + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Seconds since the epoch (already in the local zone) as C's `asctime` prints them,
/// without its newline: `"%.3s %.3s%3d %.2d:%.2d:%.2d %d"`, e.g. `Thu Jan  1 00:00:00
/// 1970`.
struct Asctime(i64);

impl Piece for Asctime {
    fn put_into(self, text: &mut Text<'_>) {
        let days = self.0.div_euclid(86_400);
        // [0, 86399]: the time of day takes 32-bit arithmetic.
        let secs = self.0.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        // 1970-01-01 was a Thursday.
        let weekday = WEEKDAYS
            .get((days + 4).rem_euclid(7) as usize)
            .copied()
            .unwrap_or("???");
        let month = MONTHS
            .get(month.saturating_sub(1) as usize)
            .copied()
            .unwrap_or("???");
        // `{day:3}`: right-aligned in three columns.
        let pad = match day {
            0..=9 => "  ",
            10..=99 => " ",
            _ => "",
        };
        text.str(weekday).str(" ").str(month).str(pad).u32(day);
        text.str(" ").put(TwoDigits(secs / 3_600));
        text.str(":").put(TwoDigits(secs % 3_600 / 60));
        text.str(":").put(TwoDigits(secs % 60));
        text.str(" ").i64(year);
    }
}

/// A number below 100 as `{:02}` prints it: `07`.
struct TwoDigits(u32);

impl Piece for TwoDigits {
    fn put_into(self, text: &mut Text<'_>) {
        if self.0 < 10 {
            text.str("0");
        }
        text.u32(self.0);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn asctime(secs: i64) -> String {
        let mut buf = [0u8; 64];
        let mut text = Text::new(&mut buf);
        text.put(Asctime(secs));
        assert!(!text.overflowed());
        String::from_utf8(text.as_bytes().to_vec()).unwrap()
    }

    /// What `Asctime` printed with `core::fmt`: the reference for the text it composes.
    fn asctime_by_format(secs: i64) -> String {
        let days = secs.div_euclid(86_400);
        let secs = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let weekday = WEEKDAYS[(days + 4).rem_euclid(7) as usize];
        let month = MONTHS[month as usize - 1];
        format!(
            "{weekday} {month}{day:3} {:02}:{:02}:{:02} {year}",
            secs / 3_600,
            secs % 3_600 / 60,
            secs % 60
        )
    }

    proptest::proptest! {
        #[test]
        fn asctime_prints_as_the_format_did(secs in -(1i64 << 45)..(1i64 << 45)) {
            proptest::prop_assert_eq!(asctime(secs), asctime_by_format(secs));
        }
    }

    #[test]
    fn zones_of_both_formats() {
        let minutes = |v| TimeZone::parse(v).map(|z| z.minutes);
        assert_eq!(minutes(8), Some(480));
        assert_eq!(minutes(800), Some(480));
        assert_eq!(minutes(-5), Some(-300));
        assert_eq!(minutes(-500), Some(-300));
        assert_eq!(minutes(1245), Some(765));
        assert_eq!(minutes(15), Some(15)); // `015`
        assert_eq!(minutes(-13), Some(-13));
        assert_eq!(minutes(14), Some(840));
        assert_eq!(minutes(-12), Some(-720));
        assert_eq!(minutes(1459), Some(899));
        assert_eq!(minutes(-1259), Some(-779));
        assert_eq!(minutes(0), Some(0));
        for bad in [
            60,
            99,
            -60,
            1460,
            1500,
            -1300,
            2400,
            100_000,
            i64::MIN,
            i64::MAX,
        ] {
            assert_eq!(minutes(bad), None, "{bad}");
        }
        let shown = |v| TimeZone::parse(v).map(TimeZone::shown);
        assert_eq!(shown(15), Some(0));
        assert_eq!(shown(800), Some(8));
        assert_eq!(shown(-500), Some(-5));
        assert_eq!(shown(1245), Some(12));
        assert_eq!(shown(-30), Some(0));
        assert_eq!(shown(-1259), Some(-12));
    }

    /// Days from the epoch, counted the slow way.
    fn days_naive(year: i64, month: u32, day: u32) -> i64 {
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let month_len = |y, m| match m {
            2 if leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let mut days = 0i64;
        if year >= 1970 {
            for y in 1970..year {
                days += if leap(y) { 366 } else { 365 };
            }
        } else {
            for y in year..1970 {
                days -= if leap(y) { 366 } else { 365 };
            }
        }
        for m in 1..month {
            days += month_len(year, m);
        }
        days + i64::from(day) - 1
    }

    #[test]
    fn civil_dates_match_a_naive_count() {
        let mut days = days_naive(1890, 1, 1);
        let (mut y, mut m, mut d) = (1890i64, 1u32, 1u32);
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        // Every day from 1890 to 2410 (both century rules, both sides of the epoch).
        while y < 2410 {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            assert_eq!(days_naive(y, m, d), days);
            days += 1;
            let len = match m {
                2 if leap(y) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn asctime_layout() {
        assert_eq!(asctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(asctime(-1), "Wed Dec 31 23:59:59 1969");
        assert_eq!(asctime(-5 * 3600), "Wed Dec 31 19:00:00 1969");
        // The specification's example: 2021-10-19 09:47:56 UTC in UTC+8 and UTC+5:30.
        assert_eq!(
            asctime(1_634_636_876 + 8 * 3600),
            "Tue Oct 19 17:47:56 2021"
        );
        assert_eq!(
            asctime(1_634_636_876 + 330 * 60),
            "Tue Oct 19 15:17:56 2021"
        );
        assert_eq!(asctime(951_782_400), "Tue Feb 29 00:00:00 2000");
        assert_eq!(asctime(1_709_208_000), "Thu Feb 29 12:00:00 2024");
        assert_eq!(asctime(946_684_799), "Fri Dec 31 23:59:59 1999");
        assert_eq!(asctime(946_684_800), "Sat Jan  1 00:00:00 2000");
        assert_eq!(asctime(4_107_542_400), "Mon Mar  1 00:00:00 2100");
        assert_eq!(asctime(4_107_542_399), "Sun Feb 28 23:59:59 2100");
        assert_eq!(asctime(2_147_483_648), "Tue Jan 19 03:14:08 2038");
        assert_eq!(asctime(2_085_978_496), "Thu Feb  7 06:28:16 2036");
        assert_eq!(asctime(253_402_300_799), "Fri Dec 31 23:59:59 9999");
        assert_eq!(asctime(253_402_300_800), "Sat Jan  1 00:00:00 10000");
    }

    #[test]
    fn kept_time_runs_with_the_engine_clock() {
        let mut s: Sntp<()> = Sntp::default();
        let t0 = Instant::from_millis(5_000);
        assert_eq!(s.unix_time_micros(t0), None);
        assert_eq!(
            s.clock(t0).micros,
            UNSYNCED_BASE_SECS * 1_000_000 + 5_000_000
        );
        s.synced = Some((t0, 1_634_636_876_000_000));
        let later = Instant::from_millis(7_250);
        assert_eq!(s.unix_time_micros(later), Some(1_634_636_878_250_000));
        assert_eq!(s.clock(later).micros, 1_634_636_878_250_000);
        assert_eq!(
            s.unix_time_micros(Instant::ZERO),
            Some(1_634_636_876_000_000)
        );
    }

    #[test]
    fn retry_delay_doubles_up_to_its_cap_and_the_interval() {
        let mut s: Sntp<()> = Sntp::default();
        let delays: Vec<u64> = (1..=6)
            .map(|f| {
                s.failures = f;
                s.retry_delay().as_millis()
            })
            .collect();
        assert_eq!(delays, [15_000, 30_000, 60_000, 120_000, 150_000, 150_000]);
        s.failures = 200;
        assert_eq!(s.retry_delay().as_millis(), 150_000);
        s.interval_s = 20;
        assert_eq!(s.retry_delay().as_millis(), 20_000);
    }

    #[test]
    fn rounding_to_the_millisecond() {
        assert_eq!(round_to_ms(1_999_999), 2_000_000);
        assert_eq!(round_to_ms(2_000_499), 2_000_000);
        assert_eq!(round_to_ms(-1), 0);
        assert_eq!(round_to_ms(-501), -1_000);
    }
}
