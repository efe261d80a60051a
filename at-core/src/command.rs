//! Commands: what a command declares ([`CommandInfo`]), how it runs ([`CommandSet`]),
//! what it may touch while running ([`Context`]) and how it ends ([`Outcome`]).
//!
//! The engine always serves the basic commands itself; everything else comes from a
//! [`CommandSet`] the firmware hands to [`Engine::new`](crate::Engine::new). Sets compose
//! as tuples, `(at_tcpip::TcpIp, MyVendorCommands)`, so a vendor adds its own commands
//! next to ours without touching either crate. See `examples/custom_command.rs`.

use core::fmt;
use core::ops::BitOr;

use crate::params::{ArgError, Args};
use crate::parse::Form;
use crate::platform::{Platform, UartConfig};
use crate::response::{ErrCode, QueueFull};
use crate::store::SettingsStore;
use crate::system::System;
use crate::text::Text;
use crate::time::Instant;

/// The set of forms a command supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Forms(u8);

impl Forms {
    /// `AT+X=?`
    pub const TEST: Forms = Forms(1);
    /// `AT+X?`
    pub const QUERY: Forms = Forms(2);
    /// `AT+X=...`
    pub const SET: Forms = Forms(4);
    /// `AT+X`
    pub const EXECUTE: Forms = Forms(8);

    /// `self` plus `other`, usable in constants.
    pub const fn with(self, other: Forms) -> Forms {
        Forms(self.0 | other.0)
    }

    /// Whether `form` is supported.
    pub const fn supports(self, form: Form) -> bool {
        let bit = match form {
            Form::Test => 1,
            Form::Query => 2,
            Form::Set => 4,
            Form::Execute => 8,
        };
        self.0 & bit != 0
    }
}

impl BitOr for Forms {
    type Output = Forms;
    fn bitor(self, rhs: Forms) -> Forms {
        Forms(self.0 | rhs.0)
    }
}

/// The index of the entry called `name` in `table`: the lookup of
/// [`CommandSet::find`] for a command set with a static table: a linear scan with slice
/// equality (length first, then the bytes). Checking the last byte before the bytes
/// saved 18 instructions on `AT+CIPSTART` but cost 68 bytes of firmware, so it is not
/// done.
pub fn find_in(table: &[CommandInfo], name: &[u8]) -> Option<usize> {
    table.iter().position(|c| c.name.as_bytes() == name)
}

/// A command's name and supported forms, listed by `AT+CMD?`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandInfo {
    /// The name after `AT`, e.g. `"+CIPMUX"`; well formed (see [`CommandInfo::new`]).
    pub name: &'static str,
    /// The forms it supports; any other form is answered `ERROR`.
    pub forms: Forms,
}

impl CommandInfo {
    /// Declares a command.
    ///
    /// # Panics
    ///
    /// When `name` is not well formed ([`is_valid_name`](crate::parse::is_valid_name)):
    /// the engine reads a line's name up to its `=` or `?` and leaves checking the bytes
    /// to the lookup, so a table may hold well-formed names only. In a `const` or
    /// `static` table this is a compile-time error.
    pub const fn new(name: &'static str, forms: Forms) -> Self {
        assert!(
            crate::parse::is_valid_name(name.as_bytes()),
            "a command name is `+` and letters, digits or `_`"
        );
        CommandInfo { name, forms }
    }
}

/// How a command ended (or that it has not yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Success: the engine appends `\r\nOK\r\n`.
    Ok,
    /// The command wrote its own final result code.
    Done,
    /// Failure: the engine appends the `ERR CODE` line (with `AT+SYSLOG=1`) and `ERROR`.
    Error(ErrCode),
    /// Still running: the engine calls [`CommandSet::poll_pending`] on every poll and
    /// answers new lines with `busy p...` until it ends.
    Pending,
    /// Success, and a data phase follows: the engine prints `\r\nOK\r\n\r\n>` and hands
    /// the payload to [`CommandSet::send_data`].
    Data(crate::data::DataRequest),
}

impl From<ArgError> for Outcome {
    fn from(e: ArgError) -> Self {
        Outcome::Error(e.into())
    }
}

impl From<ErrCode> for Outcome {
    fn from(e: ErrCode) -> Self {
        Outcome::Error(e)
    }
}

impl From<QueueFull> for Outcome {
    fn from(_: QueueFull) -> Self {
        Outcome::Error(ErrCode::EXEC)
    }
}

/// Where responses go: the engine's output queue. Every append is a whole message or
/// nothing.
pub trait Sink {
    /// Bytes that can still be appended.
    fn free(&self) -> usize;
    /// Appends `bytes`, or nothing.
    fn push(&mut self, bytes: &[u8]) -> Result<(), QueueFull>;
    /// Starts a message in the free space: pieces are appended to the [`Text`], which
    /// queues all of them on [`Text::commit`] or [`Text::line`], or nothing when they did
    /// not fit.
    fn compose(&mut self) -> Text<'_>;
    /// Contiguous free space of `n` bytes at the end, to compose a message in place (for
    /// example to receive socket data straight into it); nothing is queued until
    /// [`commit`](Self::commit).
    fn tail(&mut self, n: usize) -> Result<&mut [u8], QueueFull>;
    /// Queues the first `n` bytes of the last [`tail`](Self::tail).
    fn commit(&mut self, n: usize);
}

impl<const N: usize> Sink for crate::response::OutQueue<N> {
    fn free(&self) -> usize {
        crate::response::OutQueue::free(self)
    }
    fn push(&mut self, bytes: &[u8]) -> Result<(), QueueFull> {
        crate::response::OutQueue::push(self, bytes)
    }
    fn compose(&mut self) -> Text<'_> {
        crate::response::OutQueue::compose(self)
    }
    fn tail(&mut self, n: usize) -> Result<&mut [u8], QueueFull> {
        crate::response::OutQueue::tail(self, n)
    }
    fn commit(&mut self, n: usize) {
        crate::response::OutQueue::commit(self, n)
    }
}

impl dyn Sink + '_ {
    /// Appends formatted text, or nothing. This links `core::fmt`, which
    /// [`compose`](Sink::compose) does not; it is not part of the trait, so a firmware
    /// that never calls it carries none of the formatting machinery.
    pub fn push_fmt(&mut self, args: fmt::Arguments<'_>) -> Result<(), QueueFull> {
        self.compose().commit_fmt(args)
    }
}

/// Something to do once everything queued so far has reached the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deferred {
    /// Switch the AT port to a new configuration (after the `OK` went out at the old one).
    ApplyUart(UartConfig),
    /// Restart: volatile state back to power-on, stored settings reloaded, `ready`.
    Restart,
    /// Erase the settings store, then restart.
    FactoryRestore,
}

/// What a running command may use: the time, the platform, the engine's system settings
/// and the output queue.
pub struct Context<'a, P> {
    /// The time of this call.
    pub now: Instant,
    /// The platform.
    pub platform: &'a mut P,
    /// System-wide settings (echo, `SYSSTORE`, `SYSMSG`, UART, the chip profile).
    pub system: &'a mut System,
    /// The output queue.
    pub out: &'a mut dyn Sink,
    pub(crate) deferred: &'a mut Option<Deferred>,
    /// Transparent transmission is on: received data goes to the host raw, unframed.
    pub transparent: bool,
}

impl<P: Platform> Context<'_, P> {
    /// Writes one information line: `args` followed by `\r\n`. This links `core::fmt`;
    /// `ctx.out.compose().str("+X:").u32(1).line()` composes such a line without it (see
    /// [`Sink::compose`]).
    pub fn line(&mut self, args: fmt::Arguments<'_>) -> Result<(), QueueFull> {
        self.out.push_fmt(format_args!("{args}\r\n"))
    }

    /// Asks the engine to do `action` once all output so far has reached the host.
    pub fn defer(&mut self, action: Deferred) {
        *self.deferred = Some(action);
    }

    /// Saves a setting marked "saved in NVS" by the specification: written only when
    /// `AT+SYSSTORE` is 1.
    pub fn save(&mut self, key: &str, value: &[u8]) -> Result<(), ErrCode> {
        if self.system.sysstore {
            self.save_always(key, value)
        } else {
            Ok(())
        }
    }

    /// Saves a setting whatever `AT+SYSSTORE` says (`AT+UART_DEF`).
    // Out of line (code size): many commands save; a call is smaller than a copy in each.
    #[inline(never)]
    pub fn save_always(&mut self, key: &str, value: &[u8]) -> Result<(), ErrCode> {
        self.platform.store().write(key, value).map_err(|e| {
            warn_log!("settings store: writing {} failed: {:?}", key, e);
            ErrCode::EXEC
        })
    }

    /// Reads a stored setting into `buf`; `None` when absent or unreadable.
    // Out of line (code size): several loaders; a call is smaller than a copy in each.
    #[inline(never)]
    pub fn load<'b>(&mut self, key: &str, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        match self.platform.store().read(key, buf) {
            Ok(Some(n)) => buf.get(..n),
            Ok(None) => None,
            Err(e) => {
                warn_log!("settings store: reading {} failed: {:?}", key, e);
                None
            }
        }
    }
}

/// A table of commands and their implementation.
///
/// Indices are local to the set: `info(i)` describes the command `execute(i, ..)` runs.
pub trait CommandSet<P: Platform> {
    /// How many commands the set has.
    fn len(&self) -> usize;

    /// True when the set has no commands.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Command `index`, for dispatch and `AT+CMD?`.
    fn info(&self, index: usize) -> Option<&'static CommandInfo>;

    /// The index of the command called `name` (e.g. `b"+CIPMUX"`).
    fn find(&self, name: &[u8]) -> Option<usize> {
        (0..self.len()).find(|&i| self.info(i).is_some_and(|c| c.name.as_bytes() == name))
    }

    /// Runs command `index` in `form` (already checked against its [`Forms`]).
    fn execute(
        &mut self,
        index: usize,
        form: Form,
        args: &Args<'_>,
        ctx: &mut Context<'_, P>,
    ) -> Outcome;

    /// Continues command `index` after it returned [`Outcome::Pending`].
    fn poll_pending(&mut self, index: usize, ctx: &mut Context<'_, P>) -> Outcome {
        let _ = (index, ctx);
        Outcome::Error(ErrCode::EXEC)
    }

    /// Payload of the data phase command `index` opened with [`Outcome::Data`]: returns
    /// how many leading bytes of `data` the network took now (0: try again later). An
    /// error ends the phase with `SEND FAIL` (transparent mode: the data stays).
    fn send_data(
        &mut self,
        index: usize,
        data: &[u8],
        ctx: &mut Context<'_, P>,
    ) -> Result<usize, ErrCode> {
        let _ = (index, data, ctx);
        Err(ErrCode::EXEC)
    }

    /// Transparent transmission opened by command `index` ended with `+++`.
    fn leave_transparent(&mut self, index: usize, ctx: &mut Context<'_, P>) {
        let _ = (index, ctx);
    }

    /// Background work on every poll (timers, unsolicited messages).
    fn poll(&mut self, ctx: &mut Context<'_, P>) {
        let _ = ctx;
    }

    /// The next instant [`poll`](Self::poll) or [`poll_pending`](Self::poll_pending) has
    /// timed work to do, if any.
    fn poll_at(&self) -> Option<Instant> {
        None
    }

    /// Power-on: forget volatile state and load persisted settings. Called at boot,
    /// `AT+RST` and `AT+RESTORE` (after the store was erased).
    fn restart(&mut self, ctx: &mut Context<'_, P>) {
        let _ = ctx;
    }
}

/// No commands beyond the basic ones.
impl<P: Platform> CommandSet<P> for () {
    fn len(&self) -> usize {
        0
    }
    fn info(&self, _: usize) -> Option<&'static CommandInfo> {
        None
    }
    fn execute(&mut self, _: usize, _: Form, _: &Args<'_>, _: &mut Context<'_, P>) -> Outcome {
        Outcome::Error(ErrCode::EXEC)
    }
}

/// Two sets as one: `A`'s commands first, then `B`'s. The first match of a name wins.
impl<P: Platform, A: CommandSet<P>, B: CommandSet<P>> CommandSet<P> for (A, B) {
    fn len(&self) -> usize {
        self.0.len() + self.1.len()
    }
    fn info(&self, index: usize) -> Option<&'static CommandInfo> {
        match index.checked_sub(self.0.len()) {
            None => self.0.info(index),
            Some(i) => self.1.info(i),
        }
    }
    fn find(&self, name: &[u8]) -> Option<usize> {
        self.0
            .find(name)
            .or_else(|| self.1.find(name).map(|i| i + self.0.len()))
    }
    fn execute(
        &mut self,
        index: usize,
        form: Form,
        args: &Args<'_>,
        ctx: &mut Context<'_, P>,
    ) -> Outcome {
        match index.checked_sub(self.0.len()) {
            None => self.0.execute(index, form, args, ctx),
            Some(i) => self.1.execute(i, form, args, ctx),
        }
    }
    fn poll_pending(&mut self, index: usize, ctx: &mut Context<'_, P>) -> Outcome {
        match index.checked_sub(self.0.len()) {
            None => self.0.poll_pending(index, ctx),
            Some(i) => self.1.poll_pending(i, ctx),
        }
    }
    fn send_data(
        &mut self,
        index: usize,
        data: &[u8],
        ctx: &mut Context<'_, P>,
    ) -> Result<usize, ErrCode> {
        match index.checked_sub(self.0.len()) {
            None => self.0.send_data(index, data, ctx),
            Some(i) => self.1.send_data(i, data, ctx),
        }
    }
    fn leave_transparent(&mut self, index: usize, ctx: &mut Context<'_, P>) {
        match index.checked_sub(self.0.len()) {
            None => self.0.leave_transparent(index, ctx),
            Some(i) => self.1.leave_transparent(i, ctx),
        }
    }
    fn poll(&mut self, ctx: &mut Context<'_, P>) {
        self.0.poll(ctx);
        self.1.poll(ctx);
    }
    fn poll_at(&self) -> Option<Instant> {
        match (self.0.poll_at(), self.1.poll_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
    fn restart(&mut self, ctx: &mut Context<'_, P>) {
        self.0.restart(ctx);
        self.1.restart(ctx);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn table_names_are_well_formed() {
        assert_eq!(CommandInfo::new("+UART_CUR", Forms::SET).name, "+UART_CUR");
        assert_eq!(CommandInfo::new("", Forms::EXECUTE).name, "");
    }

    #[test]
    #[should_panic(expected = "a command name")]
    fn a_name_the_line_splitter_cannot_reach_is_refused() {
        // `AT+MY-CMD` splits to the name `+MY-CMD`, which would then be found without
        // ever being checked: such a table entry is refused up front.
        let _ = CommandInfo::new(core::hint::black_box("+MY-CMD"), Forms::EXECUTE);
    }
}
