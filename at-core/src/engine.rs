//! The engine: modes, the poll loop, and dispatch of command lines.
//!
//! The caller owns all I/O and the clock. It hands serial input to [`Engine::feed`],
//! which consumes what the engine can take now (a whole command line stops it until the
//! line has run, like a UART FIFO holding the next one), calls [`Engine::poll`] to run
//! commands and drain output into its writer, and sleeps until input arrives, the writer
//! can take more ([`Engine::has_output`]) or [`Engine::poll_delay`] expires.
//!
//! ```
//! use at_core::{Engine, Instant, Profile};
//! # use at_core::testing::{Capture, FakePlatform};
//! let mut platform = FakePlatform::default();
//! let mut engine: Engine<()> = Engine::new(Profile::W800, ());
//! let mut host = Capture::default(); // any embedded_io::Write
//! engine.poll(Instant::ZERO, &mut platform, &mut host).unwrap(); // boots: "\r\nready\r\n"
//! let mut input: &[u8] = b"ATE0\r\nAT\r\n";
//! while !input.is_empty() {
//!     let n = engine.feed(Instant::ZERO, input);
//!     input = &input[n..];
//!     engine.poll(Instant::ZERO, &mut platform, &mut host).unwrap();
//! }
//! assert_eq!(host, b"\r\nready\r\nATE0\r\n\r\nOK\r\n\r\nOK\r\n");
//! ```

use embedded_io::Write;

use crate::basic::{self, Basic};
use crate::command::{CommandSet, Context, Deferred, Outcome};
use crate::data::{DataRequest, EscapeDetector, EscapeStep};
use crate::line::{Assembled, LineAssembler};
use crate::params::Args;
use crate::parse::{is_valid_name, parse_params, split_line, Form, ParseError};
use crate::platform::Platform;
use crate::profile::Profile;
use crate::response::{self, ErrCode, ErrSub, OutQueue};
use crate::system::System;
use crate::time::{Duration, Instant};

/// The context a command set runs in: the engine's parts other than the command set
/// itself, borrowed field by field.
macro_rules! context {
    ($engine:expr, $now:expr, $platform:expr, $transparent:expr) => {
        Context {
            now: $now,
            platform: &mut *$platform,
            system: &mut $engine.system,
            out: &mut $engine.out,
            deferred: &mut $engine.deferred,
            transparent: $transparent,
        }
    };
}

/// Where the engine is between calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not yet booted: the first poll loads settings and says `ready`.
    Boot,
    /// Waiting for a command line.
    Idle,
    /// A whole line is assembled and runs once earlier output has reached the host.
    LineReady,
    /// A command returned [`Outcome::Pending`]; new lines get `busy p...`.
    Running(Running),
    /// A [`Deferred`] action waits for the output queue to drain.
    Flushing,
    /// Collecting the payload of `AT+CIPSEND`/`AT+CIPSENDEX` after the prompt.
    Collect(Collect),
    /// Handing a collected payload to the network; new lines get `busy p...`.
    Sending(Sending),
    /// Transparent transmission: raw bytes both ways until `+++`.
    Transparent(Transparent),
    /// `AT+CIPSENDL`: payload streamed to the network while it arrives.
    Stream(Stream),
}

/// An `AT+CIPSENDL` stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stream {
    index: usize,
    len: usize,
    received: usize,
    sent: usize,
    report: usize,
    next_report: usize,
    block: usize,
    escape: EscapeDetector,
    /// The network refused: the rest of the input is taken and dropped.
    failed: bool,
    /// `+++` ended it.
    cancelled: bool,
}

/// A payload being collected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Collect {
    /// The command that asked for it.
    index: usize,
    /// Raw bytes still expected.
    remaining: usize,
    /// Raw bytes received.
    received: usize,
    /// `AT+CIPSENDEX` rules: a backslash and `0` end the data, a backslash and any
    /// other byte stand for that byte.
    escaped: bool,
    /// The previous byte was an unconsumed backslash.
    backslash: bool,
    /// All of it is here.
    complete: bool,
}

/// A payload being sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sending {
    index: usize,
    sent: usize,
}

/// Transparent transmission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Transparent {
    index: usize,
    /// Several ready blocks may go out in one call (see [`DataRequest::Transparent`]).
    stream: bool,
    escape: EscapeDetector,
    last_input: Instant,
    /// `+++` was recognised: leave once the buffered data is out.
    leaving: bool,
    /// The network took nothing on the last try: wait for it (or new input) instead of
    /// retrying on the idle timer.
    blocked: bool,
}

/// Which command is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Running {
    /// Command `index` of the firmware's command set.
    Set(usize),
    /// `AT+CMD?`, listing from entry `next` on.
    CommandList { next: usize },
}

/// The AT engine: `C` is the firmware's command set beyond the basic commands, `LINE` the
/// longest command line (with its `\r\n`), `OUT` the output queue's capacity and `DATA`
/// the data-mode buffer (the largest `AT+CIPSEND` payload), in bytes.
///
/// All memory is inside this value; it never allocates.
// Layout (code size): `repr(C)` keeps the small fields, read on every poll, in front of
// the buffers. Left to itself the compiler puts them behind the data buffer, where the
// short load and store forms of 32-bit cores cannot reach them (the CK804's 32-bit
// forms reach 4 KiB only).
#[repr(C)]
pub struct Engine<C, const LINE: usize = 256, const OUT: usize = 4096, const DATA: usize = 5760> {
    state: State,
    deferred: Option<Deferred>,
    /// The command set's next timer, as of the last poll.
    next_timer: Option<Instant>,
    /// When serial input last arrived: the silence before a `+++` counts from here.
    last_input: Instant,
    data_len: usize,
    system: System,
    line: LineAssembler<LINE>,
    commands: C,
    out: OutQueue<OUT>,
    scratch: [u8; LINE],
    data: [u8; DATA],
}

impl<C, const LINE: usize, const OUT: usize, const DATA: usize> Engine<C, LINE, OUT, DATA> {
    const CAPACITY_CHECK: () = assert!(
        OUT >= LINE + 256 && LINE >= 16 && DATA >= 16,
        "OUT must hold a whole echoed line plus a response"
    );

    /// Room that must be free before a line is taken in: its echo and an error response.
    const LINE_HEADROOM: usize = LINE + 48;

    /// A powered-off engine; the first [`poll`](Self::poll) boots it.
    pub fn new(profile: Profile, commands: C) -> Self {
        Self::with_commands(profile, || commands)
    }

    /// [`new`](Self::new) with the command set made by `make` inside the constructor,
    /// which is always inlined: the compiler can then write a large command set straight
    /// into the engine's place, where an argument by value is first built in a temporary
    /// on the caller's stack and then copied (a firmware that initialises the engine from
    /// a task with a small stack cares: see `at_w800_init`).
    #[inline(always)]
    pub fn with_commands(profile: Profile, make: impl FnOnce() -> C) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::CAPACITY_CHECK;
        Engine {
            system: System::factory(profile),
            commands: make(),
            line: LineAssembler::new(),
            scratch: [0; LINE],
            out: OutQueue::new(),
            data: [0; DATA],
            data_len: 0,
            state: State::Boot,
            deferred: None,
            next_timer: None,
            last_input: Instant::ZERO,
        }
    }

    /// The system settings.
    pub fn system(&self) -> &System {
        &self.system
    }

    /// The firmware's command set.
    pub fn commands(&self) -> &C {
        &self.commands
    }

    /// The firmware's command set, mutably.
    pub fn commands_mut(&mut self) -> &mut C {
        &mut self.commands
    }

    /// True while output waits for the host: the caller should poll again when its writer
    /// can take more.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// True when a command is running (new lines are answered `busy p...`).
    pub fn is_busy(&self) -> bool {
        matches!(self.state, State::Running(_) | State::Sending(_))
    }

    /// True in a data phase: payload collection or transparent transmission.
    pub fn in_data_mode(&self) -> bool {
        matches!(
            self.state,
            State::Collect(_) | State::Transparent(_) | State::Stream(_)
        )
    }

    /// Hands serial input to the engine; returns how many bytes it took.
    ///
    /// The engine stops after a whole command line, which runs on the next
    /// [`poll`](Self::poll); the caller keeps the rest and feeds it afterwards. It also
    /// takes nothing while its output queue lacks room for an echo and a response, so a
    /// host that does not read is not answered into the void.
    pub fn feed(&mut self, now: Instant, input: &[u8]) -> usize {
        if !input.is_empty() {
            self.last_input = now;
        }
        match self.state {
            State::Collect(c) => return self.collect(c, input),
            State::Transparent(t) => return self.transparent_input(t, now, input),
            State::Stream(st) => return self.stream_input(st, now, input),
            State::Sending(_) if !input.is_empty() => return self.surplus(input),
            _ => {}
        }
        let mut consumed = 0;
        while consumed < input.len() {
            match self.state {
                State::Idle | State::Running(_) | State::Sending(_) => {}
                _ => break,
            }
            if self.out.free() < Self::LINE_HEADROOM {
                break;
            }
            let (n, event) = self.line.push(&input[consumed..]);
            consumed += n;
            match event {
                None => {}
                Some(Assembled::Overflow) => {
                    diag!("line longer than {} bytes dropped", LINE);
                    self.line.clear();
                    self.respond(Outcome::Error(ErrCode::plain(ErrSub::NoTerminator)));
                }
                Some(Assembled::Line) => self.take_line(),
            }
        }
        consumed
    }

    /// Takes payload bytes for `AT+CIPSEND`/`AT+CIPSENDEX`.
    fn collect(&mut self, mut c: Collect, input: &[u8]) -> usize {
        if c.complete {
            return 0;
        }
        let skip = if c.received == 0 {
            self.line.swallow_late_lf(input)
        } else {
            0
        };
        let input = &input[skip..];
        let take = input.len().min(c.remaining);
        if c.escaped {
            let mut taken = 0;
            for &b in &input[..take] {
                taken += 1;
                c.remaining -= 1;
                if c.backslash {
                    c.backslash = false;
                    if b == b'0' {
                        c.complete = true;
                        break;
                    }
                } else if b == b'\\' {
                    c.backslash = true;
                    continue;
                }
                if let Some(slot) = self.data.get_mut(self.data_len) {
                    *slot = b;
                    self.data_len += 1;
                }
            }
            c.received += taken;
            c.complete |= c.remaining == 0;
            self.state = State::Collect(c);
            skip + taken
        } else {
            let end = (self.data_len + take).min(DATA);
            let n = end - self.data_len;
            self.data[self.data_len..end].copy_from_slice(&input[..n]);
            self.data_len = end;
            c.remaining -= n;
            c.received += n;
            c.complete = c.remaining == 0;
            self.state = State::Collect(c);
            skip + n
        }
    }

    /// Takes transparent-mode bytes, holding back a possible `+++`.
    fn transparent_input(&mut self, mut t: Transparent, now: Instant, input: &[u8]) -> usize {
        if t.leaving {
            return 0;
        }
        if self.settle_escape(&mut t.escape, now).0 {
            t.leaving = true;
            self.state = State::Transparent(t);
            return 0;
        }
        let (consumed, _) = self.take_data(&mut t.escape, now, input, usize::MAX);
        if consumed > 0 {
            t.last_input = now;
        }
        self.state = State::Transparent(t);
        consumed
    }

    /// Moves input into the data buffer, holding back what may be a `+++`: at most `limit`
    /// data bytes, and never more than fits with room for three released `+`. Returns the
    /// input bytes consumed and the data bytes produced.
    fn take_data(
        &mut self,
        escape: &mut EscapeDetector,
        now: Instant,
        input: &[u8],
        limit: usize,
    ) -> (usize, usize) {
        let room = DATA.saturating_sub(self.data_len + 3);
        // Fast path: without a `+` in sight every byte is data, copied as one block.
        let n = input.len().min(room).min(limit);
        if escape.held() == 0 && memchr::memchr(b'+', &input[..n]).is_none() {
            self.data[self.data_len..self.data_len + n].copy_from_slice(&input[..n]);
            self.data_len += n;
            if n > 0 {
                escape.end_chunk(now);
            }
            return (n, n);
        }
        let mut consumed = 0;
        let mut produced = 0;
        for (i, &b) in input.iter().enumerate() {
            let held = usize::from(escape.held());
            if DATA - self.data_len < 4 || produced + held >= limit {
                break;
            }
            consumed += 1;
            match escape.byte(now, i, b) {
                EscapeStep::Held => {}
                EscapeStep::Data { release } => {
                    self.push_pluses(release);
                    self.data[self.data_len] = b;
                    self.data_len += 1;
                    produced += usize::from(release) + 1;
                }
            }
        }
        if consumed > 0 {
            escape.end_chunk(now);
        }
        (consumed, produced)
    }

    /// Takes `AT+CIPSENDL` bytes, holding back a possible `+++`.
    fn stream_input(&mut self, mut st: Stream, now: Instant, input: &[u8]) -> usize {
        if st.cancelled || st.received >= st.len {
            return 0;
        }
        let skip = if st.received == 0 {
            self.line.swallow_late_lf(input)
        } else {
            0
        };
        let (escaped, released) = self.settle_escape(&mut st.escape, now);
        st.received += released;
        if escaped {
            st.cancelled = true;
            self.state = State::Stream(st);
            return skip;
        }
        let (taken, produced) =
            self.take_data(&mut st.escape, now, &input[skip..], st.len - st.received);
        st.received += produced;
        let consumed = skip + taken;
        // A `+` that would complete the length is data, not a possible escape.
        if st.received + usize::from(st.escape.held()) >= st.len && st.escape.held() > 0 {
            let n = st.escape.release();
            self.push_pluses(n);
            st.received += usize::from(n);
        }
        if st.failed {
            self.data_len = 0;
        }
        self.state = State::Stream(st);
        consumed
    }

    /// Bytes that arrive while a payload is being sent are refused with `busy p...`.
    fn surplus(&mut self, input: &[u8]) -> usize {
        if self.out.free() < Self::LINE_HEADROOM {
            return 0;
        }
        self.line.clear();
        self.push_busy();
        input.len()
    }

    fn push_busy(&mut self) {
        let busy = ErrCode::plain(ErrSub::Busy);
        let _ = if self.system.syslog {
            err_code_then(&mut self.out, busy, response::BUSY)
        } else {
            self.out.push(response::BUSY)
        };
    }

    /// Lets the escape detector decide at `now`: whether `+++` is complete (leave), and how
    /// many held `+` turned out to be data (now in the data buffer).
    fn settle_escape(&mut self, escape: &mut EscapeDetector, now: Instant) -> (bool, usize) {
        match escape.poll(now) {
            Some(true) => (true, 0),
            Some(false) => {
                let n = escape.release();
                self.push_pluses(n);
                (false, usize::from(n))
            }
            None => (false, 0),
        }
    }

    fn push_pluses(&mut self, n: u8) {
        for _ in 0..n {
            if let Some(slot) = self.data.get_mut(self.data_len) {
                *slot = b'+';
                self.data_len += 1;
            }
        }
    }

    fn take_line(&mut self) {
        if self.line.line().is_empty() {
            return;
        }
        if self.system.echo {
            // Room was checked in `feed`.
            let _ = self.out.push_all(&[self.line.line(), b"\r\n"]);
        }
        if let State::Running(_) | State::Sending(_) = self.state {
            self.line.clear();
            self.push_busy();
        } else {
            self.state = State::LineReady;
        }
    }

    /// How long the caller may wait before polling again when no input arrives and the
    /// writer has not become ready; `None`: until then, nothing is due.
    pub fn poll_delay(&self, now: Instant) -> Option<Duration> {
        let ready_now = match self.state {
            State::Boot => true,
            State::LineReady | State::Flushing => self.out.is_empty(),
            State::Running(Running::CommandList { .. }) => self.out.free() > OUT / 2,
            State::Collect(c) => c.complete,
            State::Idle | State::Running(Running::Set(_)) | State::Sending(_) => false,
            State::Transparent(t) => t.leaving && self.data_len == 0,
            State::Stream(st) => st.cancelled || (st.received >= st.len && self.data_len == 0),
        };
        if ready_now {
            return Some(Duration::ZERO);
        }
        let mut next = self.next_timer;
        if let State::Stream(st) = self.state {
            if let Some(at) = st.escape.deadline() {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        if let State::Transparent(t) = self.state {
            let idle = self.system.profile.transparent_idle;
            let flush = (self.data_len > 0 && !t.blocked).then(|| t.last_input + idle);
            for at in [t.escape.deadline(), flush].into_iter().flatten() {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        next.map(|at| at - now)
    }
}

impl<C, const LINE: usize, const OUT: usize, const DATA: usize> Engine<C, LINE, OUT, DATA> {
    /// Runs whatever is due: boot, the assembled line, the running command, deferred
    /// actions and the command set's background work; then writes queued output to `tx`
    /// until `tx` takes no more.
    ///
    /// `tx.write` returning `Ok(0)` or an error means "no more now": the bytes stay queued.
    /// An error is returned after the engine's work is done.
    pub fn poll<P: Platform, W: Write>(
        &mut self,
        now: Instant,
        platform: &mut P,
        tx: &mut W,
    ) -> Result<(), W::Error>
    where
        C: CommandSet<P>,
    {
        let mut result = self.drain(tx);
        for _ in 0..8 {
            if !self.step(now, platform) {
                break;
            }
            result = result.and(self.drain(tx));
        }
        // Background work (receiving, accepting, timers) may stop for lack of output room;
        // when the host then takes the output, give it another turn at once: the stack
        // reports readiness only once per change, so nothing else would wake it.
        for _ in 0..4 {
            let mut ctx = context!(
                self,
                now,
                platform,
                matches!(self.state, State::Transparent(_))
            );
            self.commands.poll(&mut ctx);
            let queued = self.out.len();
            result = result.and(self.drain(tx));
            // Another turn only when the queue was too full for background work and the
            // host has since taken enough of it.
            if queued <= OUT / 2 || self.out.len() > OUT / 2 {
                break;
            }
        }
        self.next_timer = self.commands.poll_at();
        result
    }

    /// One unit of work; returns whether anything happened.
    fn step<P: Platform>(&mut self, now: Instant, platform: &mut P) -> bool
    where
        C: CommandSet<P>,
    {
        match self.state {
            State::Boot => {
                self.power_on(now, platform, PowerOn::Boot);
                true
            }
            State::LineReady if self.out.is_empty() => {
                self.run_line(now, platform);
                true
            }
            State::Running(Running::Set(index)) => {
                let mut ctx = context!(self, now, platform, false);
                let outcome = self.commands.poll_pending(index, &mut ctx);
                match outcome {
                    Outcome::Pending => false,
                    Outcome::Data(request) => {
                        self.enter_data(index, request, now);
                        true
                    }
                    _ => {
                        self.respond(outcome);
                        true
                    }
                }
            }
            State::Running(Running::CommandList { next }) => self.list_commands::<P>(next),
            State::Flushing if self.out.is_empty() => {
                match self.deferred.take() {
                    Some(Deferred::ApplyUart(config)) => {
                        let applied = platform.apply_uart(&config);
                        if applied.is_err() {
                            warn_log!("platform refused UART configuration {:?}", config);
                        }
                    }
                    Some(Deferred::Restart) => self.power_on(now, platform, PowerOn::Restart),
                    Some(Deferred::FactoryRestore) => {
                        self.power_on(now, platform, PowerOn::FactoryRestore)
                    }
                    None => {}
                }
                if self.state == State::Flushing {
                    self.state = State::Idle;
                }
                true
            }
            State::Collect(c) if c.complete => {
                let recv = self
                    .out
                    .compose()
                    .str("\r\nRecv ")
                    .put(c.received)
                    .str(" bytes\r\n")
                    .commit();
                if recv.is_err() {
                    return false;
                }
                self.state = State::Sending(Sending {
                    index: c.index,
                    sent: 0,
                });
                true
            }
            State::Sending(sending) => self.sending_step(now, platform, sending),
            State::Transparent(t) => self.transparent_step(now, platform, t),
            State::Stream(st) => self.stream_step(now, platform, st),
            _ => false,
        }
    }

    /// Streams `AT+CIPSENDL` data to the network, reports progress, and ends it.
    // Out of line (code size): inlined into `step`, it made the firmware larger.
    #[inline(never)]
    fn stream_step<P: Platform>(&mut self, now: Instant, platform: &mut P, mut st: Stream) -> bool
    where
        C: CommandSet<P>,
    {
        let mut progressed = false;
        let (escaped, released) = self.settle_escape(&mut st.escape, now);
        st.received += released;
        st.cancelled |= escaped;
        let mut ctx = context!(self, now, platform, false);
        while !st.failed && !st.cancelled && self.data_len > 0 {
            // Room for a progress report after this block.
            if ctx.out.free() < 64 {
                break;
            }
            let n = self.data_len.min(st.block);
            match self.commands.send_data(st.index, &self.data[..n], &mut ctx) {
                Ok(0) => break,
                Ok(k) => {
                    let k = k.min(n);
                    self.data.copy_within(k..self.data_len, 0);
                    self.data_len -= k;
                    st.sent += k;
                    progressed = true;
                    if st.report > 0 && st.sent >= st.next_report {
                        let _ = ctx
                            .out
                            .compose()
                            .str("+CIPSENDL:")
                            .put(st.sent)
                            .str(",")
                            .put(st.received)
                            .line();
                        st.next_report = (st.sent / st.report + 1) * st.report;
                    }
                }
                Err(code) => {
                    diag!("stream send failed: {:?}", code);
                    st.failed = true;
                    self.data_len = 0;
                }
            }
        }
        let finished = if st.cancelled {
            Some(response::SEND_CANCELLED)
        } else if st.received >= st.len && (self.data_len == 0 || st.failed) {
            Some(if st.failed || st.sent < st.len {
                response::SEND_FAIL
            } else {
                response::SEND_OK
            })
        } else {
            None
        };
        match finished {
            Some(result) => {
                self.data_len = 0;
                let _ = self.out.push(result);
                self.state = State::Idle;
                true
            }
            None => {
                self.state = State::Stream(st);
                progressed
            }
        }
    }

    /// Hands a collected payload to the network: `SEND OK` once it took all of it.
    fn sending_step<P: Platform>(
        &mut self,
        now: Instant,
        platform: &mut P,
        mut sending: Sending,
    ) -> bool
    where
        C: CommandSet<P>,
    {
        let mut ctx = context!(self, now, platform, false);
        let data = &self.data[sending.sent.min(self.data_len)..self.data_len];
        match self.commands.send_data(sending.index, data, &mut ctx) {
            Ok(0) if !data.is_empty() => false,
            Ok(n) => {
                sending.sent += n.min(data.len());
                if sending.sent >= self.data_len {
                    self.data_len = 0;
                    let _ = self.out.push(response::SEND_OK);
                    self.state = State::Idle;
                } else {
                    self.state = State::Sending(sending);
                }
                true
            }
            Err(code) => {
                diag!("send failed: {:?}", code);
                self.data_len = 0;
                let _ = self.out.push(response::SEND_FAIL);
                self.state = State::Idle;
                true
            }
        }
    }

    /// Packs transparent-mode data into blocks for the network and leaves on `+++`.
    fn transparent_step<P: Platform>(
        &mut self,
        now: Instant,
        platform: &mut P,
        mut t: Transparent,
    ) -> bool
    where
        C: CommandSet<P>,
    {
        let mut progressed = false;
        t.leaving |= self.settle_escape(&mut t.escape, now).0;
        let profile = self.system.profile;
        let block = usize::from(profile.transparent_block).clamp(1, DATA);
        let idle = now.saturating_since(t.last_input) >= profile.transparent_idle;
        let mut ctx = context!(self, now, platform, true);
        t.blocked = false;
        while self.data_len >= block || (self.data_len > 0 && (idle || t.leaving)) {
            let n = match (t.stream, self.data_len >= block) {
                // Every whole block that is ready, in one call.
                (true, true) => self.data_len - self.data_len % block,
                _ => self.data_len.min(block),
            };
            match self.commands.send_data(t.index, &self.data[..n], &mut ctx) {
                Ok(0) => {
                    t.blocked = true;
                    break;
                }
                Ok(k) => {
                    let k = k.min(n);
                    self.data.copy_within(k..self.data_len, 0);
                    self.data_len -= k;
                    progressed = true;
                }
                Err(code) => {
                    diag!("transparent send failed: {:?}", code);
                    if t.leaving {
                        // No link to take the data (it dropped and is not back): the
                        // escape still hands the port back; the data is lost with it.
                        diag!("{} bytes dropped on leaving", self.data_len);
                        self.data_len = 0;
                    }
                    t.blocked = true;
                    break;
                }
            }
        }
        if t.leaving && self.data_len == 0 {
            self.commands.leave_transparent(t.index, &mut ctx);
            self.state = State::Idle;
            return true;
        }
        self.state = State::Transparent(t);
        progressed
    }

    fn power_on<P: Platform>(&mut self, now: Instant, platform: &mut P, kind: PowerOn)
    where
        C: CommandSet<P>,
    {
        if kind == PowerOn::FactoryRestore {
            if let Err(e) = crate::store::SettingsStore::clear(platform.store()) {
                warn_log!("settings store: clear failed: {:?}", e);
            }
        }
        if kind != PowerOn::Boot {
            platform.restart();
        }
        self.system = System::factory(self.system.profile);
        self.line.reset();
        self.deferred = None;
        let mut ctx = context!(self, now, platform, false);
        basic::load_settings(&mut ctx);
        self.commands.restart(&mut ctx);
        let uart = self.system.uart_cur;
        if platform.apply_uart(&uart).is_err() {
            warn_log!("platform refused UART configuration {:?}", uart);
        }
        self.deferred = None;
        let _ = self.out.push(response::READY);
        self.state = State::Idle;
    }

    fn run_line<P: Platform>(&mut self, now: Instant, platform: &mut P)
    where
        C: CommandSet<P>,
    {
        let Engine {
            system,
            commands,
            line,
            scratch,
            out,
            deferred,
            ..
        } = self;
        let mut args = Args::new();
        let target = split_line(line.line())
            .map_err(ErrCode::from)
            .and_then(|cl| {
                let target = match Basic::find_name(cl.name) {
                    Some(i) => Target::Basic(i),
                    None => match commands.find(cl.name) {
                        Some(i) => Target::Set(i),
                        // Only a name the tables lack needs its bytes checked.
                        None if is_valid_name(cl.name) => {
                            return Err(ErrCode::plain(ErrSub::UnknownCommand))
                        }
                        None => return Err(ParseError::BadForm.into()),
                    },
                };
                let info = match target {
                    Target::Basic(i) => Basic::entry(i),
                    Target::Set(i) => commands.info(i),
                };
                if !info.is_some_and(|c| c.forms.supports(cl.form)) {
                    return Err(ErrCode::plain(ErrSub::WrongForm));
                }
                if cl.form == Form::Set {
                    parse_params(cl.params, scratch, &mut args)?;
                }
                Ok((target, cl.form))
            });
        let mut ctx = Context {
            now,
            platform,
            system,
            out,
            deferred,
            transparent: false,
        };
        let (index, outcome) = match target {
            Err(code) => (None, Outcome::Error(code)),
            Ok((Target::Basic(i), _)) if i == basic::CMD => {
                drop(args);
                self.line.clear();
                self.state = State::Running(Running::CommandList { next: 0 });
                return;
            }
            Ok((Target::Basic(i), form)) => (
                None,
                CommandSet::<P>::execute(&mut Basic, i, form, &args, &mut ctx),
            ),
            Ok((Target::Set(i), form)) => (Some(i), commands.execute(i, form, &args, &mut ctx)),
        };
        drop(args);
        self.line.clear();
        match (index, outcome) {
            (Some(i), Outcome::Pending) => self.state = State::Running(Running::Set(i)),
            (Some(i), Outcome::Data(request)) => self.enter_data(i, request, now),
            (_, outcome) => self.respond(outcome),
        }
    }

    /// Writes `AT+CMD?` entries from `next` on while there is room; true when progressed.
    fn list_commands<P: Platform>(&mut self, mut next: usize) -> bool
    where
        C: CommandSet<P>,
    {
        let basic = Basic::COUNT;
        let total = basic + self.commands.len();
        let start = next;
        while next < total && self.out.free() > 64 {
            let info = if next < basic {
                Basic::entry(next)
            } else {
                self.commands.info(next - basic)
            };
            if let Some(c) = info {
                let f = |form| u8::from(c.forms.supports(form));
                let pushed = self
                    .out
                    .compose()
                    .str("+CMD:")
                    .put(next)
                    .str(",\"AT")
                    .str(c.name)
                    .str("\",")
                    .put(f(Form::Test))
                    .str(",")
                    .put(f(Form::Query))
                    .str(",")
                    .put(f(Form::Set))
                    .str(",")
                    .put(f(Form::Execute))
                    .line();
                if pushed.is_err() {
                    break;
                }
            }
            next += 1;
        }
        if next >= total {
            self.respond(Outcome::Ok);
        } else {
            self.state = State::Running(Running::CommandList { next });
        }
        next != start || next >= total
    }

    /// Ends the current command with `outcome`'s result code.
    fn respond(&mut self, outcome: Outcome) {
        let pushed = match outcome {
            Outcome::Ok => self.out.push(response::OK),
            Outcome::Error(code) if self.system.syslog => {
                err_code_then(&mut self.out, code, response::ERROR)
            }
            Outcome::Error(_) => self.out.push(response::ERROR),
            Outcome::Done | Outcome::Pending | Outcome::Data(_) => Ok(()),
        };
        if pushed.is_err() {
            warn_log!("output queue full: result code {:?} lost", outcome);
        }
        self.state = if self.deferred.is_some() {
            State::Flushing
        } else {
            State::Idle
        };
    }

    /// Opens the data phase command `index` asked for.
    fn enter_data(&mut self, index: usize, request: DataRequest, now: Instant) {
        self.data_len = 0;
        let _ = self.out.push(response::PROMPT);
        self.state = match request {
            DataRequest::Exact(len) | DataRequest::Escaped(len) => State::Collect(Collect {
                index,
                remaining: len.min(DATA),
                received: 0,
                escaped: matches!(request, DataRequest::Escaped(_)),
                backslash: false,
                complete: len == 0,
            }),
            DataRequest::Stream { len, report, block } => State::Stream(Stream {
                index,
                len,
                received: 0,
                sent: 0,
                report: report as usize,
                next_report: report as usize,
                block: usize::from(block).clamp(1, DATA),
                escape: EscapeDetector::after_input(
                    self.system.profile.escape_guard,
                    self.last_input,
                ),
                failed: false,
                cancelled: false,
            }),
            DataRequest::Transparent { stream } => State::Transparent(Transparent {
                index,
                stream,
                escape: EscapeDetector::after_input(
                    self.system.profile.escape_guard,
                    self.last_input,
                ),
                last_input: now,
                leaving: false,
                blocked: false,
            }),
        };
    }

    fn drain<W: Write>(&mut self, tx: &mut W) -> Result<(), W::Error> {
        while !self.out.is_empty() {
            match tx.write(self.out.pending()) {
                Ok(0) => break,
                Ok(n) => self.out.consume(n),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Queues `ERR CODE:0x<code, 8 hex digits>\r\n` followed by `then`, as one message.
fn err_code_then<const N: usize>(
    out: &mut OutQueue<N>,
    code: ErrCode,
    then: &[u8],
) -> Result<(), response::QueueFull> {
    out.compose()
        .str("ERR CODE:0x")
        .hex(code.value(), 8)
        .str("\r\n")
        .bytes(then)
        .commit()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PowerOn {
    Boot,
    Restart,
    FactoryRestore,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Basic(usize),
    Set(usize),
}
