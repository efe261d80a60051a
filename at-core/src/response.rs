//! The response side: result codes with their exact bytes, `ERR CODE` values, and the
//! bounded output queue every response and unsolicited message is composed in.
//!
//! Everything the engine says is appended to an [`OutQueue`] as whole lines (an append
//! either fits entirely or is refused), so an unsolicited message can never land inside
//! another response line. [`Engine::poll`](crate::Engine::poll) drains the queue into the
//! caller's writer as fast as the writer accepts.

use core::fmt;

use crate::text::Text;

/// `\r\nOK\r\n`.
pub const OK: &[u8] = b"\r\nOK\r\n";
/// `\r\nERROR\r\n`.
pub const ERROR: &[u8] = b"\r\nERROR\r\n";
/// `\r\nbusy p...\r\n`: a line arrived while a command was still executing.
pub const BUSY: &[u8] = b"\r\nbusy p...\r\n";
/// `\r\nready\r\n`: after boot, `AT+RST` and `AT+RESTORE`.
pub const READY: &[u8] = b"\r\nready\r\n";
/// `\r\nOK\r\n\r\n>`: the data prompt (no space after `>`).
pub const PROMPT: &[u8] = b"\r\nOK\r\n\r\n>";
/// `\r\nSEND OK\r\n`.
pub const SEND_OK: &[u8] = b"\r\nSEND OK\r\n";
/// `\r\nSEND FAIL\r\n`.
pub const SEND_FAIL: &[u8] = b"\r\nSEND FAIL\r\n";
/// `\r\nSEND CANCELLED\r\n`: `AT+CIPSENDL` ended by `+++`.
pub const SEND_CANCELLED: &[u8] = b"\r\nSEND CANCELLED\r\n";

/// The sub-code of an `ERR CODE` (bits 16..24), saying what went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ErrSub {
    /// The line had no terminator within the length limit.
    NoTerminator = 0x02,
    /// The line does not start with `AT`.
    NoAt = 0x03,
    /// A parameter is longer than allowed (ext: parameter index).
    ParamLength = 0x04,
    /// A parameter has the wrong type (ext: parameter index).
    ParamType = 0x05,
    /// Wrong number of parameters (ext: `needed << 8 | given`).
    ParamCount = 0x06,
    /// A parameter is out of range or otherwise invalid (ext: parameter index).
    ParamInvalid = 0x07,
    /// A parameter could not be parsed (ext: parameter index).
    ParseFailed = 0x08,
    /// No such command.
    UnknownCommand = 0x09,
    /// The command was understood but could not be carried out.
    ExecFailed = 0x0A,
    /// A previous command is still running.
    Busy = 0x0B,
    /// The command does not support this form (test, query, set, execute).
    WrongForm = 0x0C,
}

/// An `ERR CODE` value: `0x01 << 24 | sub << 16 | ext`, printed as
/// `ERR CODE:0x%08x\r\n` before `ERROR` when `AT+SYSLOG=1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ErrCode {
    /// What went wrong.
    pub sub: ErrSub,
    /// Detail: a parameter index, or `needed << 8 | given` for counts.
    pub ext: u16,
}

impl ErrCode {
    /// An error with detail `ext`.
    pub const fn new(sub: ErrSub, ext: u16) -> Self {
        ErrCode { sub, ext }
    }

    /// An error without detail.
    pub const fn plain(sub: ErrSub) -> Self {
        ErrCode { sub, ext: 0 }
    }

    /// "Execution failed", the code of every refusal by a command's own rules.
    pub const EXEC: ErrCode = ErrCode::plain(ErrSub::ExecFailed);

    /// The 32-bit value printed after `ERR CODE:`.
    pub const fn value(self) -> u32 {
        0x0100_0000 | (self.sub as u32) << 16 | self.ext as u32
    }
}

/// The output queue was too full for a whole message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueFull;

/// A bounded byte queue of `N` bytes holding output not yet taken by the host.
///
/// Appends are all-or-nothing. Space freed at the front is reclaimed by moving the
/// remaining bytes down when an append needs it, so [`pending`](Self::pending) is always
/// one contiguous slice.
// `repr(C)` with the indexes first (code size): see `Engine`'s layout note.
#[derive(Clone, Debug)]
#[repr(C)]
pub struct OutQueue<const N: usize> {
    start: usize,
    end: usize,
    buf: [u8; N],
}

impl<const N: usize> Default for OutQueue<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> OutQueue<N> {
    /// An empty queue.
    pub const fn new() -> Self {
        OutQueue {
            buf: [0; N],
            start: 0,
            end: 0,
        }
    }

    /// Bytes waiting for the host.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Bytes that can still be appended.
    pub fn free(&self) -> usize {
        N - self.len()
    }

    /// The bytes waiting for the host, oldest first.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Drops the first `n` pending bytes (the host took them).
    pub fn consume(&mut self, n: usize) {
        self.start += n.min(self.len());
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Forgets everything pending.
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Appends all of `bytes`, or nothing.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), QueueFull> {
        let tail = self.tail(bytes.len())?;
        tail.copy_from_slice(bytes);
        self.end += bytes.len();
        Ok(())
    }

    /// Appends several pieces as one message: all of them, or nothing.
    pub fn push_all(&mut self, pieces: &[&[u8]]) -> Result<(), QueueFull> {
        let total = pieces.iter().map(|p| p.len()).sum();
        self.tail(total)?;
        for p in pieces {
            self.buf[self.end..self.end + p.len()].copy_from_slice(p);
            self.end += p.len();
        }
        Ok(())
    }

    /// Appends formatted text, or nothing: `out.push_fmt(format_args!("+X:{}\r\n", v))`.
    pub fn push_fmt(&mut self, args: fmt::Arguments<'_>) -> Result<(), QueueFull> {
        self.compose().commit_fmt(args)
    }

    /// Starts a message in the free space after the pending bytes, composed without
    /// `core::fmt`: the [`Text`] is queued on [`Text::commit`] (or [`Text::line`]) if it
    /// fit, else nothing is.
    pub fn compose(&mut self) -> Text<'_> {
        self.make_room(0);
        let end = self.end;
        Text::queued(&mut self.buf[end..], &mut self.end)
    }

    /// Contiguous free space of at least `n` bytes at the tail, for composing in place;
    /// follow with [`commit`](Self::commit).
    pub fn tail(&mut self, n: usize) -> Result<&mut [u8], QueueFull> {
        if n > self.free() {
            return Err(QueueFull);
        }
        self.make_room(n);
        Ok(&mut self.buf[self.end..self.end + n])
    }

    /// Marks `n` bytes written into [`tail`](Self::tail) as pending.
    pub fn commit(&mut self, n: usize) {
        self.end = (self.end + n).min(N);
    }

    fn make_room(&mut self, n: usize) {
        if N - self.end < n || (self.start > 0 && n == 0) {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn err_code_values() {
        assert_eq!(ErrCode::plain(ErrSub::UnknownCommand).value(), 0x0109_0000);
        assert_eq!(
            ErrCode::new(ErrSub::ParamCount, 0x0102).value(),
            0x0106_0102
        );
    }

    #[test]
    fn appends_are_all_or_nothing() {
        let mut q = OutQueue::<8>::new();
        q.push(b"12345").unwrap();
        assert_eq!(q.push(b"6789"), Err(QueueFull));
        assert_eq!(q.pending(), b"12345");
        assert_eq!(q.push_fmt(format_args!("{}", 1234)), Err(QueueFull));
        assert_eq!(q.pending(), b"12345");
        q.consume(4);
        q.push_fmt(format_args!("{}", 1234567)).unwrap();
        assert_eq!(q.pending(), b"51234567");
        assert_eq!(q.free(), 0);
        q.consume(8);
        assert!(q.is_empty());
        q.push_all(&[b"ab", b"cd"]).unwrap();
        assert_eq!(q.push_all(&[b"efg", b"hij"]), Err(QueueFull));
        assert_eq!(q.pending(), b"abcd");
    }
}
