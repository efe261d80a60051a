//! A platform for tests, examples and benchmarks: settings in RAM, a UART that records
//! what it was told, fixed firmware strings. Not a mock of any network: the network
//! boundary is not part of it.

use crate::platform::{FirmwareInfo, MemoryUsage, Platform, UartConfig, UartError};
use crate::store::MemoryStore;

/// Firmware strings the fake platform reports.
pub const FAKE_FIRMWARE: FirmwareInfo<'static> = FirmwareInfo {
    at_version: "3.2.0.0",
    build: "test",
    chip: "W800",
    date: "Nov 28 2026",
    time: "00:00:00",
    sdk_version: "test-sdk",
    source_hash: "0000000",
    bin_version: "test",
};

/// A platform without hardware.
#[derive(Clone, Debug, Default)]
pub struct FakePlatform {
    /// The settings store.
    pub store: MemoryStore,
    /// Every UART configuration applied, oldest first (the last 8).
    pub uart_applied: heapless::Deque<UartConfig, 8>,
    /// How many times the platform was restarted.
    pub restarts: u32,
    /// Reject every UART configuration.
    pub refuse_uart: bool,
}

impl Platform for FakePlatform {
    type Store = MemoryStore;

    fn store(&mut self) -> &mut MemoryStore {
        &mut self.store
    }

    fn firmware(&self) -> FirmwareInfo<'_> {
        FAKE_FIRMWARE
    }

    fn apply_uart(&mut self, config: &UartConfig) -> Result<(), UartError> {
        if self.refuse_uart {
            return Err(UartError::Unsupported);
        }
        if self.uart_applied.is_full() {
            self.uart_applied.pop_front();
        }
        let _ = self.uart_applied.push_back(*config);
        Ok(())
    }

    fn restart(&mut self) {
        self.restarts += 1;
    }

    fn memory(&self) -> MemoryUsage {
        MemoryUsage {
            free: 120_000,
            min_free: 100_000,
        }
    }
}

use core::fmt;

use crate::command::CommandSet;
use crate::engine::Engine;
use crate::time::{Duration, Instant};

/// Capacity of a [`Capture`].
pub const CAPTURE_LEN: usize = 16 * 1024;

/// Bytes the engine wrote to the host during one [`Harness`] call. Compares with byte
/// strings; prints escaped, so a failing assertion shows `\r\n` where it matters.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Capture {
    bytes: heapless::Vec<u8, CAPTURE_LEN>,
}

impl Capture {
    /// The captured bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl core::ops::Deref for Capture {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl PartialEq<[u8]> for Capture {
    fn eq(&self, other: &[u8]) -> bool {
        self.bytes.as_slice() == other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Capture {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.bytes.as_slice() == other.as_slice()
    }
}

impl PartialEq<&[u8]> for Capture {
    fn eq(&self, other: &&[u8]) -> bool {
        self.bytes.as_slice() == *other
    }
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("b\"")?;
        for &b in self.bytes.iter() {
            for c in core::ascii::escape_default(b) {
                fmt::Write::write_char(f, char::from(c))?;
            }
        }
        f.write_str("\"")
    }
}

/// The capture is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptureFull;

impl fmt::Display for CaptureFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("capture full")
    }
}

impl core::error::Error for CaptureFull {}

impl embedded_io::Error for CaptureFull {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::OutOfMemory
    }
}

impl embedded_io::ErrorType for Capture {
    type Error = CaptureFull;
}

impl embedded_io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> Result<usize, CaptureFull> {
        let n = buf.len().min(CAPTURE_LEN - self.bytes.len());
        if n == 0 && !buf.is_empty() {
            return Err(CaptureFull);
        }
        self.bytes
            .extend_from_slice(&buf[..n])
            .map_err(|_| CaptureFull)?;
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), CaptureFull> {
        Ok(())
    }
}

/// An engine on a platform with a clock under the test's control: the small DSL engine
/// tests are written in.
///
/// ```
/// use at_core::testing::Harness;
/// let mut h = Harness::new(());
/// assert_eq!(h.boot(), b"\r\nready\r\n");
/// assert_eq!(h.send(b"AT\r\n"), b"AT\r\n\r\nOK\r\n");
/// ```
pub struct Harness<C, P = FakePlatform> {
    /// The engine under test.
    pub engine: Engine<C>,
    /// Its platform.
    pub platform: P,
    /// The current time; [`advance`](Self::advance) moves it.
    pub now: Instant,
}

impl<C: CommandSet<FakePlatform>> Harness<C, FakePlatform> {
    /// A W800 engine with `commands`, not yet booted.
    pub fn new(commands: C) -> Self {
        Harness::with_platform(commands, FakePlatform::default())
    }
}

impl<P: Platform, C: CommandSet<P>> Harness<C, P> {
    /// A W800 engine with `commands` on `platform`, not yet booted.
    pub fn with_platform(commands: C, platform: P) -> Self {
        Harness {
            engine: Engine::new(crate::Profile::W800, commands),
            platform,
            now: Instant::ZERO,
        }
    }

    /// Boots the engine; returns what it printed (`\r\nready\r\n`).
    pub fn boot(&mut self) -> Capture {
        self.poll()
    }

    /// Polls once and returns the output.
    pub fn poll(&mut self) -> Capture {
        let mut out = Capture::default();
        let _ = self.engine.poll(self.now, &mut self.platform, &mut out);
        out
    }

    /// Feeds `input` as one chunk (polling between lines, as a platform loop does) and
    /// returns everything written meanwhile. Input the engine will not take (a pending
    /// command waiting on something that does not happen in this call) is dropped after a
    /// bounded number of attempts.
    pub fn send(&mut self, input: &[u8]) -> Capture {
        self.send_chunks(&[input])
    }

    /// Feeds each chunk in turn, polling after each, and returns all output.
    pub fn send_chunks(&mut self, chunks: &[&[u8]]) -> Capture {
        let mut out = Capture::default();
        for chunk in chunks {
            let mut rest = *chunk;
            let mut stalls = 0;
            while !rest.is_empty() && stalls < 4 {
                let n = self.engine.feed(self.now, rest);
                rest = &rest[n..];
                let _ = self.engine.poll(self.now, &mut self.platform, &mut out);
                stalls = if n == 0 { stalls + 1 } else { 0 };
            }
            let _ = self.engine.poll(self.now, &mut self.platform, &mut out);
        }
        out
    }

    /// Lets `ms` milliseconds pass and polls.
    pub fn advance(&mut self, ms: u64) -> Capture {
        self.now = self.now + Duration::from_millis(ms);
        self.poll()
    }
}
