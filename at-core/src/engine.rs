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
use crate::line::{Assembled, LineAssembler};
use crate::params::Args;
use crate::parse::{parse_line, parse_params, Form};
use crate::platform::Platform;
use crate::profile::Profile;
use crate::response::{self, ErrCode, ErrSub, OutQueue};
use crate::system::System;
use crate::time::{Duration, Instant};

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
/// longest command line (with its `\r\n`), `OUT` the output queue's capacity in bytes.
///
/// All memory is inside this value; it never allocates.
pub struct Engine<C, const LINE: usize = 256, const OUT: usize = 4096> {
    system: System,
    commands: C,
    line: LineAssembler<LINE>,
    scratch: [u8; LINE],
    out: OutQueue<OUT>,
    state: State,
    deferred: Option<Deferred>,
    /// The command set's next timer, as of the last poll.
    next_timer: Option<Instant>,
}

impl<C, const LINE: usize, const OUT: usize> Engine<C, LINE, OUT> {
    const CAPACITY_CHECK: () = assert!(
        OUT >= LINE + 256 && LINE >= 16,
        "OUT must hold a whole echoed line plus a response"
    );

    /// Room that must be free before a line is taken in: its echo and an error response.
    const LINE_HEADROOM: usize = LINE + 48;

    /// A powered-off engine; the first [`poll`](Self::poll) boots it.
    pub fn new(profile: Profile, commands: C) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::CAPACITY_CHECK;
        Engine {
            system: System::factory(profile),
            commands,
            line: LineAssembler::new(),
            scratch: [0; LINE],
            out: OutQueue::new(),
            state: State::Boot,
            deferred: None,
            next_timer: None,
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
        matches!(self.state, State::Running(_))
    }

    /// Hands serial input to the engine; returns how many bytes it took.
    ///
    /// The engine stops after a whole command line, which runs on the next
    /// [`poll`](Self::poll); the caller keeps the rest and feeds it afterwards. It also
    /// takes nothing while its output queue lacks room for an echo and a response, so a
    /// host that does not read is not answered into the void.
    pub fn feed(&mut self, now: Instant, input: &[u8]) -> usize {
        let _ = now;
        let mut consumed = 0;
        while consumed < input.len() {
            match self.state {
                State::Idle | State::Running(_) => {}
                State::Boot | State::LineReady | State::Flushing => break,
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

    fn take_line(&mut self) {
        if self.line.line().is_empty() {
            return;
        }
        if self.system.echo {
            // Room was checked in `feed`.
            let _ = self.out.push_all(&[self.line.line(), b"\r\n"]);
        }
        if let State::Running(_) = self.state {
            self.line.clear();
            let busy = ErrCode::plain(ErrSub::Busy);
            let _ = if self.system.syslog {
                self.out.push_fmt(format_args!(
                    "ERR CODE:0x{:08x}\r\n\r\nbusy p...\r\n",
                    busy.value()
                ))
            } else {
                self.out.push(response::BUSY)
            };
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
            State::Idle | State::Running(Running::Set(_)) => false,
        };
        if ready_now {
            return Some(Duration::ZERO);
        }
        self.next_timer.map(|at| at - now)
    }

}

impl<C, const LINE: usize, const OUT: usize> Engine<C, LINE, OUT> {
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
        let mut ctx = Context {
            now,
            platform,
            system: &mut self.system,
            out: &mut self.out,
            deferred: &mut self.deferred,
        };
        self.commands.poll(&mut ctx);
        self.next_timer = self.commands.poll_at();
        result.and(self.drain(tx))
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
                let mut ctx = Context {
                    now,
                    platform,
                    system: &mut self.system,
                    out: &mut self.out,
                    deferred: &mut self.deferred,
                };
                let outcome = self.commands.poll_pending(index, &mut ctx);
                let done = outcome != Outcome::Pending;
                if done {
                    self.respond(outcome);
                }
                done
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
            _ => false,
        }
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
        let mut ctx = Context {
            now,
            platform,
            system: &mut self.system,
            out: &mut self.out,
            deferred: &mut self.deferred,
        };
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
        let outcome = {
            let mut args = Args::new();
            let target = parse_line(line.line())
                .map_err(ErrCode::from)
                .and_then(|cl| {
                    let target = match Basic::find_name(cl.name) {
                        Some(i) => Target::Basic(i),
                        None => Target::Set(
                            commands
                                .find(cl.name)
                                .ok_or(ErrCode::plain(ErrSub::UnknownCommand))?,
                        ),
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
            let outcome = match target {
                Err(code) => Outcome::Error(code),
                Ok((Target::Basic(i), _)) if i == basic::CMD => {
                    self.state = State::Running(Running::CommandList { next: 0 });
                    self.line.clear();
                    return;
                }
                Ok((target, form)) => {
                    let mut ctx = Context {
                        now,
                        platform,
                        system,
                        out,
                        deferred,
                    };
                    match target {
                        Target::Basic(i) => CommandSet::<P>::execute(&mut Basic, i, form, &args, &mut ctx),
                        Target::Set(i) => {
                            let outcome = commands.execute(i, form, &args, &mut ctx);
                            if outcome == Outcome::Pending {
                                self.state = State::Running(Running::Set(i));
                            }
                            outcome
                        }
                    }
                }
            };
            drop(args);
            outcome
        };
        self.line.clear();
        if outcome != Outcome::Pending {
            self.respond(outcome);
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
                let pushed = self.out.push_fmt(format_args!(
                    "+CMD:{},\"AT{}\",{},{},{},{}\r\n",
                    next,
                    c.name,
                    f(Form::Test),
                    f(Form::Query),
                    f(Form::Set),
                    f(Form::Execute)
                ));
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
            Outcome::Error(code) if self.system.syslog => self.out.push_fmt(format_args!(
                "ERR CODE:0x{:08x}\r\n{}",
                code.value(),
                "\r\nERROR\r\n"
            )),
            Outcome::Error(_) => self.out.push(response::ERROR),
            Outcome::Done | Outcome::Pending => Ok(()),
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
