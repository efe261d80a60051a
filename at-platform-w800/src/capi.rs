//! The C API the W800 firmware calls (`include/at_w800.h`, generated from this file by
//! cbindgen; the test `header_is_up_to_date` fails when the two differ).
//!
//! The firmware gives the engine its memory ([`AT_W800_MEMORY_SIZE`] bytes aligned to
//! [`AT_W800_MEMORY_ALIGN`], usually a `static` array), registers the UART write
//! callback, and runs one task loop:
//!
//! ```c
//! static uint8_t at_memory[AT_W800_MEMORY_SIZE] __attribute__((aligned(AT_W800_MEMORY_ALIGN)));
//! AtW800 *at = at_w800_init(at_memory, sizeof at_memory, &hooks);
//! at_w800_set_uart_write(at, uart_write, NULL);
//! for (;;) {
//!     uint32_t now = tick_ms();
//!     size_t n = at_w800_feed(at, now, rx, rx_len);   /* keep what was not taken */
//!     at_w800_poll(at, now);
//!     wait_for_uart_rx_or(at_w800_next_deadline(at, now));   /* <= 10 ms with links */
//! }
//! ```
//!
//! (`examples/firmware_loop.c` is the whole example, compiled by the tests.)
//!
//! Time is the firmware's millisecond tick as a `uint32_t`; it may wrap (every 49.7
//! days): the engine counts the difference between calls. Every function must be called
//! from the one task that owns the engine; none blocks.
//!
//! # Safety
//!
//! The functions taking an `AtW800 *` need a pointer returned by [`at_w800_init`] and
//! not yet passed to [`at_w800_deinit`], used by one thread at a time; buffers must be
//! valid for the lengths given. Nothing else is required: lengths are never trusted
//! beyond that, and a null engine pointer is ignored.

#![allow(unsafe_code)]

use core::ffi::{c_int, c_void};

use at_core::{Instant, Profile};

use crate::platform::{AtW800Hooks, FirmwareEngine, FirmwarePlatform};

/// Bytes of memory [`at_w800_init`] needs at most on the W800 (checked when the
/// staticlib is built; the exact figure is [`at_w800_memory_size`]). A host build needs
/// more (its settings live in a RAM store): there, ask [`at_w800_memory_size`].
pub const AT_W800_MEMORY_SIZE: usize = 20 * 1024;

/// Alignment the memory given to [`at_w800_init`] needs at most.
pub const AT_W800_MEMORY_ALIGN: usize = 8;

/// [`at_w800_next_deadline`]: nothing is due until input arrives.
pub const AT_W800_NO_DEADLINE: u32 = u32::MAX;

/// Longest [`at_w800_next_deadline`] while sockets are open or a ping waits: lwIP does
/// not wake the AT task when data arrives, so the engine asks to be polled this often.
/// A poll that finds no socket with news (one `lwip_poll` with a zero timeout:
/// `LwipStack::has_news`) skips the socket passes.
pub const AT_W800_NETWORK_POLL_MS: u32 = 10;

/// Writes bytes to the AT UART without blocking; returns how many it took (0: none now,
/// the engine keeps them and offers them again at the next poll).
pub type AtW800UartWrite =
    Option<extern "C" fn(ctx: *mut c_void, data: *const u8, len: usize) -> usize>;

/// The engine and everything it runs on, in the firmware's memory. Opaque to C.
pub struct AtW800 {
    engine: FirmwareEngine,
    platform: FirmwarePlatform,
    uart: UartWriter,
    clock: Clock,
}

#[cfg(target_os = "none")]
const _: () = assert!(
    core::mem::size_of::<AtW800>() <= AT_W800_MEMORY_SIZE,
    "AT_W800_MEMORY_SIZE is too small for the engine"
);
const _: () = assert!(core::mem::align_of::<AtW800>() <= AT_W800_MEMORY_ALIGN);

/// `[size, align]` of the engine on this target, as a symbol size reports can read from
/// an object file without running it (`scripts/w800.sh` does). C code calls
/// [`at_w800_memory_size`] instead.
#[no_mangle]
#[used]
#[allow(non_upper_case_globals)]
pub static at_w800_engine_layout: [u32; 2] = [
    core::mem::size_of::<AtW800>() as u32,
    core::mem::align_of::<AtW800>() as u32,
];

/// The UART write callback as an [`embedded_io::Write`].
#[derive(Clone, Copy)]
struct UartWriter {
    write: AtW800UartWrite,
    ctx: *mut c_void,
}

impl embedded_io::ErrorType for UartWriter {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for UartWriter {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        Ok(match self.write {
            Some(write) if !buf.is_empty() => {
                write(self.ctx, buf.as_ptr(), buf.len()).min(buf.len())
            }
            _ => 0,
        })
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// A 64-bit millisecond clock from a wrapping 32-bit tick.
#[derive(Clone, Copy, Debug, Default)]
struct Clock {
    last: Option<u32>,
    now: u64,
}

impl Clock {
    fn at(&mut self, tick: u32) -> Instant {
        if let Some(last) = self.last {
            self.now += u64::from(tick.wrapping_sub(last));
        }
        self.last = Some(tick);
        Instant::from_millis(self.now)
    }
}

#[cfg(target_os = "none")]
fn new_platform(hooks: AtW800Hooks) -> FirmwarePlatform {
    FirmwarePlatform::new(
        crate::store::NvsStore::new(),
        crate::station::SdkStation::new(),
        hooks,
    )
}

#[cfg(not(target_os = "none"))]
fn new_platform(hooks: AtW800Hooks) -> FirmwarePlatform {
    FirmwarePlatform::new(
        at_core::store::MemoryStore::new(),
        crate::station::EmulatedStation::default(),
        hooks,
    )
}

impl AtW800 {
    /// A new engine with the W800 profile.
    pub fn new(hooks: AtW800Hooks) -> Self {
        AtW800 {
            engine: FirmwareEngine::with_commands(Profile::W800, Default::default),
            platform: new_platform(hooks),
            uart: UartWriter {
                write: None,
                ctx: core::ptr::null_mut(),
            },
            clock: Clock::default(),
        }
    }

    /// The platform (host tests configure the emulated station through it).
    pub fn platform_mut(&mut self) -> &mut FirmwarePlatform {
        &mut self.platform
    }

    fn feed(&mut self, tick: u32, input: &[u8]) -> usize {
        let now = self.clock.at(tick);
        self.engine.feed(now, input)
    }

    fn poll(&mut self, tick: u32) -> bool {
        let now = self.clock.at(tick);
        // The writer cannot fail (Infallible).
        let _ = self.engine.poll(now, &mut self.platform, &mut self.uart);
        self.engine.has_output()
    }

    fn next_deadline(&mut self, tick: u32) -> u32 {
        let now = self.clock.at(tick);
        let engine = match self.engine.poll_delay(now) {
            Some(d) => u32::try_from(d.as_millis()).map_or(AT_W800_NO_DEADLINE - 1, |ms| {
                ms.min(AT_W800_NO_DEADLINE - 1)
            }),
            None => AT_W800_NO_DEADLINE,
        };
        if self.platform.network_busy() {
            engine.min(AT_W800_NETWORK_POLL_MS)
        } else {
            engine
        }
    }
}

/// Exact bytes [`at_w800_init`] needs on this target (at most [`AT_W800_MEMORY_SIZE`]).
#[no_mangle]
pub extern "C" fn at_w800_memory_size() -> usize {
    core::mem::size_of::<AtW800>()
}

/// Exact alignment [`at_w800_init`] needs on this target (at most
/// [`AT_W800_MEMORY_ALIGN`]).
#[no_mangle]
pub extern "C" fn at_w800_memory_align() -> usize {
    core::mem::align_of::<AtW800>()
}

/// Creates the engine in `memory` (`size` bytes, see [`at_w800_memory_size`] and
/// [`at_w800_memory_align`]) with the firmware's `hooks` (may be null: none). Returns the
/// engine, or null if the memory is null, too small or misaligned. The engine boots
/// (prints `ready`) at the first [`at_w800_poll`].
///
/// # Safety
///
/// `memory` must be valid for writes of `size` bytes and used for nothing else until
/// [`at_w800_deinit`]; `hooks`, if not null, must point to an `AtW800Hooks` (copied).
#[no_mangle]
pub unsafe extern "C" fn at_w800_init(
    memory: *mut c_void,
    size: usize,
    hooks: *const AtW800Hooks,
) -> *mut AtW800 {
    let at = memory.cast::<AtW800>();
    if at.is_null() || size < at_w800_memory_size() || !at.is_aligned() {
        return core::ptr::null_mut();
    }
    // SAFETY: `hooks` is null or points to an AtW800Hooks (the caller's contract).
    let hooks = unsafe { hooks.as_ref() }.copied().unwrap_or_default();
    // SAFETY: `at` is non-null, aligned and valid for size_of::<AtW800>() bytes (checked
    // above and the caller's contract), and nothing else uses that memory now; a
    // `MaybeUninit` may hold any bytes.
    let slot = unsafe { &mut *at.cast::<core::mem::MaybeUninit<AtW800>>() };
    // Through a reference the compiler knows is valid for the whole engine, it builds
    // the engine in place instead of on the (small) stack of the calling task.
    slot.write(AtW800::new(hooks));
    at
}

/// Drops the engine: closes its sockets. The memory may be reused afterwards.
///
/// # Safety
///
/// `at` is null or an engine from [`at_w800_init`], not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn at_w800_deinit(at: *mut AtW800) {
    if !at.is_null() {
        // SAFETY: a live engine (the caller's contract), dropped once.
        unsafe { at.drop_in_place() };
    }
}

/// Registers the UART write callback and its context (replacing any earlier one).
///
/// # Safety
///
/// `at` is null or a live engine.
#[no_mangle]
pub unsafe extern "C" fn at_w800_set_uart_write(
    at: *mut AtW800,
    write: AtW800UartWrite,
    ctx: *mut c_void,
) {
    // SAFETY: null or a live engine used by this thread only (the caller's contract).
    if let Some(at) = unsafe { at.as_mut() } {
        at.uart = UartWriter { write, ctx };
    }
}

/// Offers bytes received on the AT UART; returns how many the engine took. Keep the
/// rest and offer it again after the next [`at_w800_poll`] (the engine takes at most one
/// command line per call, and nothing while its output queue is full).
///
/// # Safety
///
/// `at` is null or a live engine; `data` is valid for `len` bytes (or `len` is 0).
#[no_mangle]
pub unsafe extern "C" fn at_w800_feed(
    at: *mut AtW800,
    now_ms: u32,
    data: *const u8,
    len: usize,
) -> usize {
    // SAFETY: null or a live engine (the caller's contract).
    let Some(at) = (unsafe { at.as_mut() }) else {
        return 0;
    };
    let input = if data.is_null() || len == 0 {
        &[][..]
    } else {
        // SAFETY: `data` is valid for `len` bytes (the caller's contract).
        unsafe { core::slice::from_raw_parts(data, len) }
    };
    at.feed(now_ms, input)
}

/// Runs what is due and writes output through the UART callback. Returns 1 while
/// output waits for the UART (call again when it can take more), else 0; -1 for a null
/// engine.
///
/// # Safety
///
/// `at` is null or a live engine.
#[no_mangle]
pub unsafe extern "C" fn at_w800_poll(at: *mut AtW800, now_ms: u32) -> c_int {
    // SAFETY: null or a live engine (the caller's contract).
    match unsafe { at.as_mut() } {
        Some(at) => c_int::from(at.poll(now_ms)),
        None => -1,
    }
}

/// Milliseconds after `now_ms` by which [`at_w800_poll`] must run again if no UART input
/// arrives first; [`AT_W800_NO_DEADLINE`] when nothing is due; 0: at once. While sockets
/// are open or a ping waits it is at most [`AT_W800_NETWORK_POLL_MS`]: lwIP does not
/// wake the AT task when data arrives.
///
/// # Safety
///
/// `at` is null or a live engine.
#[no_mangle]
pub unsafe extern "C" fn at_w800_next_deadline(at: *mut AtW800, now_ms: u32) -> u32 {
    // SAFETY: null or a live engine (the caller's contract).
    match unsafe { at.as_mut() } {
        Some(at) => at.next_deadline(now_ms),
        None => AT_W800_NO_DEADLINE,
    }
}

/// Certificate data the firmware keeps for the engine's lifetime (flash or static RAM),
/// as a `'static` slice; `None` for null or empty.
///
/// # Safety
///
/// `data` is null or valid for reads of `len` bytes, unchanged, until the engine is
/// dropped or the entry is replaced.
unsafe fn pki_data(data: *const u8, len: usize) -> Option<&'static [u8]> {
    if data.is_null() || len == 0 {
        return None;
    }
    // SAFETY: valid and unchanged for as long as the store may use it (the caller's
    // contract).
    Some(unsafe { core::slice::from_raw_parts(data, len) })
}

/// Stores the CA certificate(s) of `index` (0 to 15, `AT+CIPSSLCCONF`'s `<ca_number>`)
/// that SSL links verify servers against: PEM (with or without a terminating NUL) or
/// DER; null or `len` 0 removes them. The engine keeps the pointer, not a copy: the
/// data must stay valid and unchanged (flash, or static memory) until the engine is
/// dropped or the entry replaced. Returns 0, or -1 for a bad index or a null engine.
///
/// # Safety
///
/// `at` is null or a live engine; `data` is null or as described above.
#[no_mangle]
pub unsafe extern "C" fn at_w800_pki_set_ca(
    at: *mut AtW800,
    index: u8,
    data: *const u8,
    len: usize,
) -> c_int {
    // SAFETY: null or a live engine (the caller's contract).
    let Some(at) = (unsafe { at.as_mut() }) else {
        return -1;
    };
    // SAFETY: the caller's contract.
    let pem = unsafe { pki_data(data, len) };
    match at.platform.pki_mut().set_ca(index, pem) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

/// An identity from C pointers; `None` unless both parts are given.
///
/// # Safety
///
/// As [`pki_data`] for both.
unsafe fn pki_identity(
    cert: *const u8,
    cert_len: usize,
    key: *const u8,
    key_len: usize,
) -> Option<at_ssl::Identity<'static>> {
    // SAFETY: the caller's contract, for each part.
    let (certificate, key) = unsafe { (pki_data(cert, cert_len)?, pki_data(key, key_len)?) };
    Some(at_ssl::Identity { certificate, key })
}

/// Stores the client certificate (followed by any intermediates) and private key of
/// `index` (0 to 15, `AT+CIPSSLCCONF`'s `<pki_number>`), presented in auth modes 1 and 3;
/// a null certificate or key removes them. Kept by pointer like
/// [`at_w800_pki_set_ca`]. Returns 0, or -1 for a bad index or a null engine.
///
/// # Safety
///
/// `at` is null or a live engine; `cert` and `key` as `data` of [`at_w800_pki_set_ca`].
#[no_mangle]
pub unsafe extern "C" fn at_w800_pki_set_client(
    at: *mut AtW800,
    index: u8,
    cert: *const u8,
    cert_len: usize,
    key: *const u8,
    key_len: usize,
) -> c_int {
    // SAFETY: null or a live engine (the caller's contract).
    let Some(at) = (unsafe { at.as_mut() }) else {
        return -1;
    };
    // SAFETY: the caller's contract.
    let identity = unsafe { pki_identity(cert, cert_len, key, key_len) };
    match at.platform.pki_mut().set_client_identity(index, identity) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

/// Stores the certificate and private key the SSL server (`AT+CIPSERVER=1,<port>,"SSL"`)
/// presents; null removes them (the SSL server then answers `ERROR`). Kept by pointer
/// like [`at_w800_pki_set_ca`]. Returns 0, or -1 for a null engine.
///
/// # Safety
///
/// `at` is null or a live engine; `cert` and `key` as `data` of [`at_w800_pki_set_ca`].
#[no_mangle]
pub unsafe extern "C" fn at_w800_pki_set_server(
    at: *mut AtW800,
    cert: *const u8,
    cert_len: usize,
    key: *const u8,
    key_len: usize,
) -> c_int {
    // SAFETY: null or a live engine (the caller's contract).
    let Some(at) = (unsafe { at.as_mut() }) else {
        return -1;
    };
    // SAFETY: the caller's contract.
    let identity = unsafe { pki_identity(cert, cert_len, key, key_len) };
    at.platform.pki_mut().set_server_identity(identity);
    0
}

/// Stores the CA the SSL server verifies client certificates against (`<CA enable>` 1);
/// null removes it. Kept by pointer like [`at_w800_pki_set_ca`]. Returns 0, or -1 for a
/// null engine.
///
/// # Safety
///
/// `at` is null or a live engine; `data` as in [`at_w800_pki_set_ca`].
#[no_mangle]
pub unsafe extern "C" fn at_w800_pki_set_server_ca(
    at: *mut AtW800,
    data: *const u8,
    len: usize,
) -> c_int {
    // SAFETY: null or a live engine (the caller's contract).
    let Some(at) = (unsafe { at.as_mut() }) else {
        return -1;
    };
    // SAFETY: the caller's contract.
    let pem = unsafe { pki_data(data, len) };
    at.platform.pki_mut().set_server_ca(pem);
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_survives_the_tick_wrapping() {
        let mut c = Clock::default();
        assert_eq!(c.at(u32::MAX - 5).as_millis(), 0);
        assert_eq!(c.at(4).as_millis(), 10);
        assert_eq!(c.at(104).as_millis(), 110);
    }
}
