//! The AT port of `at-modem`: owns the host-side byte channel that the emulated
//! module serves and its registration in the binary's [`mio::Poll`].
//!
//! A [`HostPort`] is opened from a [`PortSpec`]:
//!
//! * [`PortSpec::Pty`]: a pseudo-terminal in raw mode. `link` becomes a symlink to
//!   the slave device (`/dev/pts/N`) that host software opens like a serial port.
//!   The port keeps a slave descriptor of its own open for its whole lifetime, so
//!   a host can close and reopen the device at will and the modem keeps serving
//!   (without it the master reads `EIO` once the last slave closes). Bytes written
//!   while no host has the device open wait in the pty buffer; once that is full,
//!   [`HostPort::write`] accepts nothing (returns 0) until a host reads.
//! * [`PortSpec::Tcp`]: a listening socket. One client at a time is the host, like
//!   a serial cable: a second client is accepted and closed at once. When the
//!   client hangs up (closes, or half-closes its sending side) the port goes back
//!   to waiting for the next one. `TCP_NODELAY` is set on the client.
//! * [`PortSpec::Stdio`]: stdin (host to modem) and stdout (modem to host), both
//!   made non-blocking; their flags are restored when the port is dropped. End of
//!   stdin means the host went away for good. A stdin that epoll cannot watch (a
//!   regular file, `/dev/null`) is read by a small relay thread instead.
//! * [`PortSpec::Serial`]: a real serial device in raw mode at the given baud rate,
//!   8N1, no flow control.
//!
//! # Tokens
//!
//! [`HostPort::open`] takes a `base` token and reserves two: `base` and
//! `Token(base.0 + 1)`. `base` always names the data channel (pty master, serial
//! device, stdin, or the connected TCP client); `base + 1` names the TCP listener
//! ([`PortSpec::Tcp`]) or stdout ([`PortSpec::Stdio`], registered only while write
//! interest is on). The other kinds do not use `base + 1`, but callers should keep
//! it free anyway. [`HostPort::owns_token`] tells whether an event is the port's.
//!
//! # Driving the port
//!
//! mio is edge-triggered: readiness is reported once per change, not while it
//! lasts. After every poll that delivered an event for the port, pass each such
//! event to [`HostPort::handle_event`], then call [`HostPort::read`] until it
//! returns 0, and retry any output that a previous [`HostPort::write`] did not
//! accept. Stopping a read loop early loses the wake-up for the bytes left behind.
//! An event can carry several conditions; `handle_event` names the most important
//! one (`HostAttached`/`HostDetached`, then `Readable`, then `Writable`), so do not
//! skip reading or writing because of the value it returned.
//!
//! A host that goes away is handled inside the port: `read` returns 0, `write`
//! discards, [`HostPort::host_attached`] turns false, and `handle_event` reports
//! [`PortEvent::HostDetached`] for the event that carries the hang-up. For stdin,
//! end of input is usually discovered by `read` (it returns 0 and
//! `host_attached()` turns false at once); the port then asks epoll to report the
//! hang-up once more so that `HostDetached` follows on a later poll where the
//! kernel signals one (pipes, sockets). A terminal's end of input (Ctrl-D) raises
//! no such event, so a caller that wants to exit at end of input should check
//! `host_attached()` after draining `read`.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::sys::stat::Mode;
use nix::sys::termios::{self, ControlFlags, SetArg, SpecialCharacterIndices, Termios};

/// Where the AT port is and what kind it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    /// A pseudo-terminal; `link` is made a symlink to its slave device.
    Pty {
        /// Path of the symlink to create (an existing symlink is replaced, any
        /// other file is refused); removed again when the port is dropped.
        link: PathBuf,
    },
    /// A TCP server socket; one client at a time is the host.
    Tcp {
        /// Address to listen on; port 0 picks a free port (see [`HostPort::tcp_local_addr`]).
        addr: SocketAddr,
    },
    /// The process's stdin and stdout.
    Stdio,
    /// A real serial device.
    Serial {
        /// The device, e.g. `/dev/ttyUSB0`.
        device: PathBuf,
        /// Initial baud rate (8 data bits, no parity, 1 stop bit, no flow control).
        baud: u32,
    },
}

/// What [`HostPort::handle_event`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortEvent {
    /// Host bytes may be available: drain [`HostPort::read`].
    Readable,
    /// The port can take more output: retry pending writes.
    Writable,
    /// A host connected (TCP).
    HostAttached,
    /// The host went away (TCP client hung up, end of stdin, serial device gone).
    HostDetached,
    /// Nothing for the caller to do.
    Nothing,
}

/// A UART configuration, as set by `AT+UART_CUR` / `AT+UART_DEF`: the engine's own type.
pub use at_core::platform::UartConfig as UartSettings;
use at_core::platform::{FlowControl, Parity, StopBits};

/// The factory configuration of the port: 115200 baud, 8N1, no flow control.
pub const DEFAULT_UART: UartSettings = UartSettings::new(115_200);

/// Checks what the engine does not: a non-zero baud rate and 5 to 8 data bits.
fn validate(settings: &UartSettings) -> io::Result<()> {
    if settings.baud == 0 {
        return Err(invalid_input("baud rate 0"));
    }
    if !(5..=8).contains(&settings.data_bits) {
        return Err(invalid_input(format!(
            "{} data bits (expected 5 to 8)",
            settings.data_bits
        )));
    }
    Ok(())
}

/// The AT port the modem serves: see the [module documentation](self).
#[derive(Debug)]
pub struct HostPort {
    kind: Kind,
    /// Token of the data channel.
    data_token: Token,
    /// Token of the TCP listener or of stdout.
    aux_token: Token,
    uart: UartSettings,
    write_interest: bool,
}

#[derive(Debug)]
enum Kind {
    Pty(PtyPort),
    Tcp(TcpPort),
    Stdio(StdioPort),
    Serial(SerialPort),
}

impl HostPort {
    /// Opens the port and registers it with `registry`.
    ///
    /// Reserves the tokens `base` and `Token(base.0 + 1)` (see the module
    /// documentation): `base` for the data channel, `base + 1` for the TCP listener
    /// or stdout. The data channel starts with READABLE interest only.
    pub fn open(spec: &PortSpec, registry: &Registry, base: Token) -> io::Result<Self> {
        let aux_token = base
            .0
            .checked_add(1)
            .map(Token)
            .ok_or_else(|| invalid_input("the base token leaves no room for base + 1"))?;
        let mut uart = DEFAULT_UART;
        let kind = match spec {
            PortSpec::Pty { link } => Kind::Pty(PtyPort::open(link, registry, base)?),
            PortSpec::Tcp { addr } => Kind::Tcp(TcpPort::open(*addr, registry, aux_token)?),
            PortSpec::Stdio => Kind::Stdio(StdioPort::open_std(registry, base, aux_token)?),
            PortSpec::Serial { device, baud } => {
                uart.baud = *baud;
                Kind::Serial(SerialPort::open(device, &uart, registry, base)?)
            }
        };
        Ok(HostPort {
            kind,
            data_token: base,
            aux_token,
            uart,
            write_interest: false,
        })
    }

    /// Human-readable description, e.g. `"AT port: /tmp/x (/dev/pts/3)"`.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Pty(pty) => format!(
                "AT port: {} ({})",
                pty.link.display(),
                pty.slave_path.display()
            ),
            Kind::Tcp(tcp) => match &tcp.client {
                Some(client) if !client.gone => {
                    format!("AT port: tcp {} (host {})", tcp.local, client.peer)
                }
                _ => format!("AT port: tcp {} (waiting for a host)", tcp.local),
            },
            Kind::Stdio(_) => "AT port: stdin/stdout".to_string(),
            Kind::Serial(serial) => format!(
                "AT port: {} at {} baud",
                serial.device.display(),
                self.uart.baud
            ),
        }
    }

    /// Whether `token` is one of the two tokens this port reserved.
    pub fn owns_token(&self, token: Token) -> bool {
        token == self.data_token || token == self.aux_token
    }

    /// The address the TCP listener is bound to (useful with port 0); `None` for
    /// the other kinds.
    pub fn tcp_local_addr(&self) -> Option<SocketAddr> {
        match &self.kind {
            Kind::Tcp(tcp) => Some(tcp.local),
            _ => None,
        }
    }

    /// The UART configuration last applied (or the initial one).
    pub fn uart(&self) -> &UartSettings {
        &self.uart
    }

    /// Non-blocking read of host bytes into `buf`.
    ///
    /// `Ok(0)` means nothing is available right now; it never means end of file. A
    /// host that went away is handled inside the port (see the module
    /// documentation). mio is edge-triggered: after an event, call this until it
    /// returns 0.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match &mut self.kind {
            Kind::Pty(pty) => read_tty(pty.master.as_fd(), buf).map(|r| r.unwrap_or(0)),
            Kind::Serial(serial) => serial.read(buf),
            Kind::Tcp(tcp) => tcp.read(buf),
            Kind::Stdio(stdio) => stdio.read(buf),
        }
    }

    /// Non-blocking write of `buf` to the host; returns how many bytes were taken.
    ///
    /// 0 means the port is full: keep the rest, turn on
    /// [write interest](HostPort::set_write_interest) and retry on
    /// [`PortEvent::Writable`]. Bytes for an absent host (no TCP client, stdout or
    /// serial device gone) are discarded and reported as written.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match &mut self.kind {
            Kind::Pty(pty) => write_fd(pty.master.as_fd(), buf).map(|r| r.unwrap_or(0)),
            Kind::Serial(serial) => serial.write(buf),
            Kind::Tcp(tcp) => tcp.write(buf),
            Kind::Stdio(stdio) => stdio.write(buf),
        }
    }

    /// True when a host is attached: always for pty and serial (until the serial
    /// device disappears), for TCP while a client is connected, for stdio until end
    /// of stdin (or stdout is closed by its reader).
    pub fn host_attached(&self) -> bool {
        match &self.kind {
            Kind::Pty(_) => true,
            Kind::Serial(serial) => !serial.gone,
            Kind::Tcp(tcp) => tcp.client.as_ref().is_some_and(|c| !c.gone),
            Kind::Stdio(stdio) => !stdio.eof && !stdio.output_broken,
        }
    }

    /// Handles a mio event for one of this port's tokens (others yield
    /// [`PortEvent::Nothing`]): accepts a TCP client (refusing a second one while
    /// one is attached), notices hang-ups, re-registers as needed.
    pub fn handle_event(&mut self, registry: &Registry, event: &Event) -> io::Result<PortEvent> {
        let token = event.token();
        if !self.owns_token(token) {
            return Ok(PortEvent::Nothing);
        }
        let is_data = token == self.data_token;
        let interest = data_interest(self.write_interest);
        match &mut self.kind {
            Kind::Pty(_) if is_data => Ok(readiness(event)),
            Kind::Pty(_) => Ok(PortEvent::Nothing),
            Kind::Serial(serial) if is_data => Ok(serial.handle_event(event)),
            Kind::Serial(_) => Ok(PortEvent::Nothing),
            Kind::Tcp(tcp) if is_data => Ok(tcp.handle_client_event(registry, event)),
            Kind::Tcp(tcp) => tcp.accept(registry, self.data_token, interest),
            Kind::Stdio(stdio) if is_data => Ok(stdio.handle_input_event(event)),
            Kind::Stdio(stdio) => Ok(stdio.handle_output_event(event)),
        }
    }

    /// Whether WRITABLE interest is on (see [`HostPort::set_write_interest`]).
    pub fn write_interest(&self) -> bool {
        self.write_interest
    }

    /// Turns WRITABLE interest on or off. Turn it on after [`HostPort::write`]
    /// accepted less than offered, and off once the backlog is written; while on,
    /// the port reports [`PortEvent::Writable`] when it can take more. For TCP the
    /// setting also applies to clients that connect later.
    pub fn set_write_interest(&mut self, registry: &Registry, on: bool) -> io::Result<()> {
        let interest = data_interest(on);
        match &mut self.kind {
            Kind::Pty(pty) => {
                reregister_fd(registry, pty.master.as_fd(), self.data_token, interest)?
            }
            Kind::Serial(serial) => {
                if !serial.gone {
                    reregister_fd(registry, serial.fd.as_fd(), self.data_token, interest)?;
                }
            }
            Kind::Tcp(tcp) => {
                if let Some(client) = &mut tcp.client {
                    registry.reregister(&mut client.stream, self.data_token, interest)?;
                }
            }
            Kind::Stdio(stdio) => stdio.set_output_interest(on)?,
        }
        self.write_interest = on;
        Ok(())
    }

    /// Applies a UART configuration.
    ///
    /// On a serial device this programs the UART through termios (which on Linux
    /// accepts the standard rates from 50 to 4000000 baud only, and has a single
    /// RTS/CTS flow-control switch); on the other kinds it is only recorded (a pty
    /// forces 8 bits without parity anyway). Invalid settings are an
    /// [`io::ErrorKind::InvalidInput`] error and change nothing.
    pub fn apply_uart(&mut self, settings: &UartSettings) -> io::Result<()> {
        validate(settings)?;
        match &mut self.kind {
            Kind::Serial(serial) => serial.apply(settings)?,
            // A pty has no line speed of its own, but its termios is what a host reads
            // back (tcgetattr): show the configuration there when termios can express it.
            Kind::Pty(pty) if baud_rate(settings.baud).is_ok() => {
                let mut t = termios::tcgetattr(pty.slave.as_fd())?;
                program_termios(&mut t, settings)?;
                termios::tcsetattr(pty.slave.as_fd(), SetArg::TCSANOW, &t)?;
            }
            _ => {}
        }
        self.uart = *settings;
        Ok(())
    }
}

fn invalid_input(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

/// Prefixes an error with the path it concerns, keeping its kind.
fn with_path(err: impl Into<io::Error>, what: &str, path: &Path) -> io::Error {
    let err = err.into();
    io::Error::new(err.kind(), format!("{what} {}: {err}", path.display()))
}

fn data_interest(write: bool) -> Interest {
    if write {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::READABLE
    }
}

/// Maps an event on a plain data descriptor to what the caller should do.
fn readiness(event: &Event) -> PortEvent {
    if event.is_readable() || event.is_read_closed() || event.is_error() {
        PortEvent::Readable
    } else if event.is_writable() {
        PortEvent::Writable
    } else {
        PortEvent::Nothing
    }
}

fn register_fd(
    registry: &Registry,
    fd: BorrowedFd<'_>,
    token: Token,
    interest: Interest,
) -> io::Result<()> {
    registry.register(&mut SourceFd(&fd.as_raw_fd()), token, interest)
}

fn reregister_fd(
    registry: &Registry,
    fd: BorrowedFd<'_>,
    token: Token,
    interest: Interest,
) -> io::Result<()> {
    registry.reregister(&mut SourceFd(&fd.as_raw_fd()), token, interest)
}

fn deregister_fd(registry: &Registry, fd: BorrowedFd<'_>) -> io::Result<()> {
    registry.deregister(&mut SourceFd(&fd.as_raw_fd()))
}

/// Sets or clears `O_NONBLOCK`; returns whether it was set before.
fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> io::Result<bool> {
    let flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    let was = flags.contains(OFlag::O_NONBLOCK);
    if was != on {
        let mut new = flags;
        new.set(OFlag::O_NONBLOCK, on);
        fcntl(fd, FcntlArg::F_SETFL(new))?;
    }
    Ok(was)
}

fn set_cloexec(fd: BorrowedFd<'_>) -> io::Result<()> {
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    Ok(())
}

/// Raw mode: no echo, no line editing, no signals, no CR/NL or any other
/// translation, 8 bits, reads return as soon as one byte is there.
fn make_raw(t: &mut Termios) {
    termios::cfmakeraw(t);
    t.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
    t.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
}

/// Reads a terminal-like descriptor: `Ok(Some(n))` for `n` bytes of data,
/// `Ok(Some(0))` when nothing is there now (`EAGAIN`), `Ok(None)` at end of file
/// or on `EIO` (a hung-up terminal).
fn read_tty(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        return match nix::unistd::read(fd, buf) {
            Ok(0) => Ok(None),
            Ok(n) => Ok(Some(n)),
            Err(Errno::EAGAIN) => Ok(Some(0)),
            Err(Errno::EINTR) => continue,
            Err(Errno::EIO) => Ok(None),
            Err(err) => Err(err.into()),
        };
    }
}

/// Writes to a descriptor: `Ok(Some(n))` for bytes taken (0 when full),
/// `Ok(None)` when the reader is gone (`EPIPE`, `EIO`).
fn write_fd(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<Option<usize>> {
    loop {
        return match nix::unistd::write(fd, buf) {
            Ok(n) => Ok(Some(n)),
            Err(Errno::EAGAIN) => Ok(Some(0)),
            Err(Errno::EINTR) => continue,
            Err(Errno::EPIPE | Errno::EIO | Errno::ECONNRESET) => Ok(None),
            Err(err) => Err(err.into()),
        };
    }
}

// ---------------------------------------------------------------------------
// Pseudo-terminal

#[derive(Debug)]
struct PtyPort {
    /// Non-blocking master, registered with mio.
    master: OwnedFd,
    /// Our own slave descriptor, open for the port's lifetime so that the master
    /// never sees the last slave close (it would read EIO and hang up), and so the
    /// raw mode set on it stays in force for hosts that open the device later.
    /// Never read: every byte the master writes goes to the host. Its termios
    /// carries the UART configuration the engine asked for.
    slave: OwnedFd,
    slave_path: PathBuf,
    link: PathBuf,
    link_installed: bool,
}

impl PtyPort {
    fn open(link: &Path, registry: &Registry, token: Token) -> io::Result<Self> {
        let pty = nix::pty::openpty(None::<&nix::pty::Winsize>, None::<&Termios>)?;
        set_cloexec(pty.master.as_fd())?;
        set_cloexec(pty.slave.as_fd())?;
        let slave_path = nix::unistd::ttyname(pty.slave.as_fd())?;
        let mut t = termios::tcgetattr(pty.slave.as_fd())?;
        make_raw(&mut t);
        termios::tcsetattr(pty.slave.as_fd(), SetArg::TCSANOW, &t)?;
        set_nonblocking(pty.master.as_fd(), true)?;
        let mut port = PtyPort {
            master: pty.master,
            slave: pty.slave,
            slave_path,
            link: link.to_path_buf(),
            link_installed: false,
        };
        register_fd(registry, port.master.as_fd(), token, Interest::READABLE)?;
        install_link(link, &port.slave_path)
            .map_err(|e| with_path(e, "cannot create symlink", link))?;
        port.link_installed = true;
        Ok(port)
    }
}

impl Drop for PtyPort {
    fn drop(&mut self) {
        // Remove the link only if it is still ours.
        if self.link_installed && fs::read_link(&self.link).is_ok_and(|t| t == self.slave_path) {
            if let Err(err) = fs::remove_file(&self.link) {
                log::warn!("cannot remove {}: {err}", self.link.display());
            }
        }
    }
}

/// Points the symlink `link` at `target`, replacing an existing symlink but no
/// other kind of file. The new link is made under a temporary name and renamed
/// into place, so `link` never dangles in between.
fn install_link(link: &Path, target: &Path) -> io::Result<()> {
    match fs::symlink_metadata(link) {
        Ok(meta) if meta.file_type().is_symlink() => {}
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "it exists and is not a symlink; refusing to replace it",
            ))
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let name = link
        .file_name()
        .ok_or_else(|| invalid_input("the link path has no file name"))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = link.with_file_name(temp_name);
    let _ = fs::remove_file(&temp);
    std::os::unix::fs::symlink(target, &temp)?;
    fs::rename(&temp, link).inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })
}

// ---------------------------------------------------------------------------
// Serial device

#[derive(Debug)]
struct SerialPort {
    fd: OwnedFd,
    device: PathBuf,
    /// The device hung up (e.g. a USB adapter was unplugged).
    gone: bool,
    /// `HostDetached` was reported.
    detach_reported: bool,
}

impl SerialPort {
    fn open(
        device: &Path,
        settings: &UartSettings,
        registry: &Registry,
        token: Token,
    ) -> io::Result<Self> {
        validate(settings)?;
        let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::open(device, flags, Mode::empty())
            .map_err(|e| with_path(e, "cannot open", device))?;
        let mut t = termios::tcgetattr(fd.as_fd())
            .map_err(|e| with_path(e, "cannot configure serial device", device))?;
        make_raw(&mut t);
        t.control_flags
            .insert(ControlFlags::CLOCAL | ControlFlags::CREAD);
        program_termios(&mut t, settings)?;
        termios::tcsetattr(fd.as_fd(), SetArg::TCSANOW, &t)?;
        termios::tcflush(fd.as_fd(), termios::FlushArg::TCIOFLUSH)?;
        register_fd(registry, fd.as_fd(), token, Interest::READABLE)?;
        Ok(SerialPort {
            fd,
            device: device.to_path_buf(),
            gone: false,
            detach_reported: false,
        })
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.gone {
            return Ok(0);
        }
        match read_tty(self.fd.as_fd(), buf) {
            Ok(Some(n)) => Ok(n),
            Ok(None) => {
                // EOF/EIO on a tty in CLOCAL mode: the device hung up. The hang-up
                // event reports HostDetached.
                self.gone = true;
                log::warn!("serial device {} hung up", self.device.display());
                Ok(0)
            }
            Err(err) => Err(err),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.gone {
            return Ok(buf.len());
        }
        match write_fd(self.fd.as_fd(), buf)? {
            Some(n) => Ok(n),
            None => {
                self.gone = true;
                Ok(buf.len())
            }
        }
    }

    fn handle_event(&mut self, event: &Event) -> PortEvent {
        if event.is_error() || (event.is_read_closed() && event.is_write_closed()) {
            // EPOLLHUP/EPOLLERR on a tty: the device is gone. Whatever input is
            // left can no longer be trusted; report the loss once.
            if !self.gone {
                self.gone = true;
                log::warn!("serial device {} hung up", self.device.display());
            }
            if self.detach_reported {
                return PortEvent::Nothing;
            }
            self.detach_reported = true;
            return PortEvent::HostDetached;
        }
        readiness(event)
    }

    fn apply(&mut self, settings: &UartSettings) -> io::Result<()> {
        let fd = self.fd.as_fd();
        let mut t = termios::tcgetattr(fd)?;
        let flow_before = t.control_flags.contains(ControlFlags::CRTSCTS);
        program_termios(&mut t, settings)?;
        // Let the bytes already queued (e.g. the OK answering AT+UART_CUR) leave at
        // the old rate. Draining can wait forever when the peer holds CTS, so only
        // drain without flow control.
        let when = if flow_before || settings.flow != FlowControl::None {
            SetArg::TCSANOW
        } else {
            SetArg::TCSADRAIN
        };
        termios::tcsetattr(fd, when, &t)?;
        // tcsetattr succeeds if any change was made; report what did not stick.
        let now = termios::tcgetattr(fd)?;
        let mask = ControlFlags::CSIZE
            | ControlFlags::CSTOPB
            | ControlFlags::PARENB
            | ControlFlags::PARODD
            | ControlFlags::CRTSCTS;
        if now.control_flags & mask != t.control_flags & mask
            || termios::cfgetospeed(&now) != termios::cfgetospeed(&t)
        {
            log::warn!(
                "serial device {} did not accept all of {settings:?}",
                self.device.display()
            );
        }
        Ok(())
    }
}

/// Sets speed, character size, stop bits, parity and flow control in `t`.
fn program_termios(t: &mut Termios, settings: &UartSettings) -> io::Result<()> {
    termios::cfsetspeed(t, baud_rate(settings.baud)?)?;
    let flags = &mut t.control_flags;
    flags.remove(ControlFlags::CSIZE);
    flags.insert(match settings.data_bits {
        5 => ControlFlags::CS5,
        6 => ControlFlags::CS6,
        7 => ControlFlags::CS7,
        _ => ControlFlags::CS8,
    });
    flags.set(ControlFlags::CSTOPB, settings.stop_bits != StopBits::One);
    flags.set(ControlFlags::PARENB, settings.parity != Parity::None);
    flags.set(ControlFlags::PARODD, settings.parity == Parity::Odd);
    flags.set(ControlFlags::CRTSCTS, settings.flow != FlowControl::None);
    Ok(())
}

/// The termios speed for `baud`; only the rates Linux defines constants for.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn baud_rate(baud: u32) -> io::Result<termios::BaudRate> {
    use termios::BaudRate as B;
    Ok(match baud {
        50 => B::B50,
        75 => B::B75,
        110 => B::B110,
        134 => B::B134,
        150 => B::B150,
        200 => B::B200,
        300 => B::B300,
        600 => B::B600,
        1200 => B::B1200,
        1800 => B::B1800,
        2400 => B::B2400,
        4800 => B::B4800,
        9600 => B::B9600,
        19_200 => B::B19200,
        38_400 => B::B38400,
        57_600 => B::B57600,
        115_200 => B::B115200,
        230_400 => B::B230400,
        460_800 => B::B460800,
        500_000 => B::B500000,
        576_000 => B::B576000,
        921_600 => B::B921600,
        1_000_000 => B::B1000000,
        1_152_000 => B::B1152000,
        1_500_000 => B::B1500000,
        2_000_000 => B::B2000000,
        2_500_000 => B::B2500000,
        3_000_000 => B::B3000000,
        3_500_000 => B::B3500000,
        4_000_000 => B::B4000000,
        _ => {
            return Err(invalid_input(format!(
                "baud rate {baud} is not a standard termios rate"
            )))
        }
    })
}

/// Real serial devices are supported on Linux only.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn baud_rate(baud: u32) -> io::Result<termios::BaudRate> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("setting {baud} baud is implemented for Linux only"),
    ))
}

// ---------------------------------------------------------------------------
// TCP

/// Most bytes kept from a client that hung up, waiting to be read.
const MAX_LEFTOVER: usize = 1 << 20;

#[derive(Debug)]
struct TcpPort {
    listener: TcpListener,
    local: SocketAddr,
    client: Option<TcpClient>,
    /// Bytes received from a client that has since hung up, not yet read.
    leftover: Vec<u8>,
}

#[derive(Debug)]
struct TcpClient {
    stream: TcpStream,
    peer: SocketAddr,
    /// Read end of file or a connection error: the client is going away and its
    /// hang-up event will close it. A new client replaces it rather than being
    /// refused.
    gone: bool,
}

impl TcpPort {
    fn open(addr: SocketAddr, registry: &Registry, token: Token) -> io::Result<Self> {
        let mut listener = TcpListener::bind(addr)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
        let local = listener.local_addr()?;
        registry.register(&mut listener, token, Interest::READABLE)?;
        Ok(TcpPort {
            listener,
            local,
            client: None,
            leftover: Vec::new(),
        })
    }

    /// Accepts every pending connection: the first one becomes the host if none is
    /// attached, the others are closed at once.
    fn accept(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<PortEvent> {
        let mut result = PortEvent::Nothing;
        loop {
            let (mut stream, peer) = match self.listener.accept() {
                Ok(conn) => conn,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) =>
                {
                    continue
                }
                Err(err) => {
                    // E.g. out of descriptors: the connection stays queued and is
                    // retried on the next listener event. Not worth stopping the
                    // modem for.
                    log::warn!("accepting a TCP host on {} failed: {err}", self.local);
                    break;
                }
            };
            if self.client.as_ref().is_some_and(|c| !c.gone) {
                log::info!("refusing TCP host {peer}: another host is attached");
                let _ = stream.shutdown(std::net::Shutdown::Both);
                continue;
            }
            if self.client.is_some() {
                // The previous host is leaving (its end of stream was read) but its
                // hang-up event has not been handled yet: let the new one in.
                self.drain_client();
                self.close_client(registry);
            }
            if let Err(err) = stream.set_nodelay(true) {
                log::warn!("cannot set TCP_NODELAY for {peer}: {err}");
            }
            registry.register(&mut stream, token, interest)?;
            log::info!("TCP host {peer} attached");
            self.client = Some(TcpClient {
                stream,
                peer,
                gone: false,
            });
            result = PortEvent::HostAttached;
        }
        Ok(result)
    }

    fn handle_client_event(&mut self, registry: &Registry, event: &Event) -> PortEvent {
        if self.client.is_none() {
            return PortEvent::Nothing;
        }
        if !(event.is_error() || event.is_read_closed() || event.is_write_closed()) {
            return readiness(event);
        }
        // A hang-up, unless the event is stale (meant for a previous client that a
        // new one has replaced under the same token): read what is left and close
        // only if the socket itself says it has ended.
        if self.drain_client() {
            self.close_client(registry);
            PortEvent::HostDetached
        } else {
            PortEvent::Readable
        }
    }

    /// Moves what the client has sent into `leftover`; returns whether its stream
    /// has ended (end of file or a connection error).
    fn drain_client(&mut self) -> bool {
        let Some(client) = &mut self.client else {
            return true;
        };
        let mut buf = [0u8; 4096];
        while self.leftover.len() < MAX_LEFTOVER {
            match client.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => self.leftover.extend_from_slice(&buf[..n]),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return client.gone,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
        client.gone
    }

    fn close_client(&mut self, registry: &Registry) {
        if let Some(mut client) = self.client.take() {
            let _ = registry.deregister(&mut client.stream);
            log::info!("TCP host {} detached", client.peer);
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.leftover.is_empty() {
            let n = buf.len().min(self.leftover.len());
            buf[..n].copy_from_slice(&self.leftover[..n]);
            self.leftover.drain(..n);
            return Ok(n);
        }
        let Some(client) = self.client.as_mut().filter(|c| !c.gone) else {
            return Ok(0);
        };
        loop {
            return match client.stream.read(buf) {
                Ok(0) => {
                    client.gone = true;
                    Ok(0)
                }
                Ok(n) => Ok(n),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(0),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    log::info!("TCP host {}: {err}", client.peer);
                    client.gone = true;
                    Ok(0)
                }
            };
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(client) = self.client.as_mut().filter(|c| !c.gone) else {
            return Ok(buf.len());
        };
        loop {
            return match client.stream.write(buf) {
                Ok(n) => Ok(n),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(0),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    log::info!("TCP host {}: {err}", client.peer);
                    client.gone = true;
                    Ok(buf.len())
                }
            };
        }
    }
}

// ---------------------------------------------------------------------------
// stdin/stdout

#[derive(Debug)]
struct StdioPort {
    /// A duplicate of stdin, or our end of the relay socket.
    input: OwnedFd,
    /// A duplicate of stdout; `None` when stdout is closed.
    output: Option<OwnedFd>,
    /// Whether `O_NONBLOCK` was set on stdin before we set it (`None`: untouched).
    input_was_nonblocking: Option<bool>,
    /// Same for stdout.
    output_was_nonblocking: Option<bool>,
    /// Our own handle on the registry, to re-arm and deregister outside events.
    registry: Registry,
    in_token: Token,
    out_token: Token,
    input_registered: bool,
    output_registered: bool,
    /// End of stdin was read.
    eof: bool,
    /// The reader of stdout went away.
    output_broken: bool,
    /// `HostDetached` was reported.
    detach_reported: bool,
}

impl StdioPort {
    fn open_std(registry: &Registry, in_token: Token, out_token: Token) -> io::Result<Self> {
        let input = match io::stdin().as_fd().try_clone_to_owned() {
            Ok(fd) => fd,
            Err(err) => {
                // stdin closed: a host that has already gone.
                log::warn!("stdin is unusable ({err}); treating it as empty");
                let (ours, _theirs) = UnixStream::pair()?;
                OwnedFd::from(ours)
            }
        };
        let output = match io::stdout().as_fd().try_clone_to_owned() {
            Ok(fd) => Some(fd),
            Err(err) => {
                log::warn!("stdout is unusable ({err}); output is discarded");
                None
            }
        };
        StdioPort::new(input, output, registry, in_token, out_token)
    }

    /// Serves `input` and `output` (stdin and stdout, or stand-ins in tests).
    fn new(
        input: OwnedFd,
        output: Option<OwnedFd>,
        registry: &Registry,
        in_token: Token,
        out_token: Token,
    ) -> io::Result<Self> {
        let mut port = StdioPort {
            input,
            output,
            input_was_nonblocking: None,
            output_was_nonblocking: None,
            registry: registry.try_clone()?,
            in_token,
            out_token,
            input_registered: false,
            output_registered: false,
            eof: false,
            output_broken: false,
            detach_reported: false,
        };
        // From here on Drop restores whatever was changed.
        if let Some(output) = &port.output {
            port.output_was_nonblocking = Some(set_nonblocking(output.as_fd(), true)?);
        }
        let was = set_nonblocking(port.input.as_fd(), true)?;
        port.input_was_nonblocking = Some(was);
        match register_fd(registry, port.input.as_fd(), in_token, Interest::READABLE) {
            Ok(()) => port.input_registered = true,
            Err(err) => {
                // epoll refuses regular files and some devices (EPERM): read them
                // on a thread that forwards to a socket epoll can watch.
                log::debug!("stdin cannot be polled ({err}); reading it on a relay thread");
                set_nonblocking(port.input.as_fd(), was)?;
                port.input_was_nonblocking = None;
                let socket = spawn_relay(port.input.try_clone()?)?;
                port.input = OwnedFd::from(socket);
                register_fd(registry, port.input.as_fd(), in_token, Interest::READABLE)?;
                port.input_registered = true;
            }
        }
        Ok(port)
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        match read_tty(self.input.as_fd(), buf) {
            Ok(Some(n)) => Ok(n),
            Ok(None) => {
                self.end_of_input();
                Ok(0)
            }
            Err(err) if err.raw_os_error() == Some(Errno::ECONNRESET as i32) => {
                self.end_of_input();
                Ok(0)
            }
            Err(err) => Err(err),
        }
    }

    fn end_of_input(&mut self) {
        log::info!("end of stdin: the host is gone");
        self.eof = true;
        // Re-arm so that a lasting hang-up (pipe or socket closed) is reported
        // again, and `handle_input_event` can turn it into HostDetached.
        if self.input_registered {
            let _ = reregister_fd(
                &self.registry,
                self.input.as_fd(),
                self.in_token,
                Interest::READABLE,
            );
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(output) = self.output.as_ref().filter(|_| !self.output_broken) else {
            return Ok(buf.len());
        };
        match write_fd(output.as_fd(), buf)? {
            Some(n) => Ok(n),
            None => {
                log::info!("stdout was closed by its reader: the host is gone");
                self.output_broken = true;
                Ok(buf.len())
            }
        }
    }

    fn handle_input_event(&mut self, event: &Event) -> PortEvent {
        if self.eof {
            return self.report_detach();
        }
        readiness(event)
    }

    fn handle_output_event(&mut self, event: &Event) -> PortEvent {
        if event.is_error() || event.is_write_closed() {
            self.output_broken = true;
            return self.report_detach();
        }
        if event.is_writable() {
            PortEvent::Writable
        } else {
            PortEvent::Nothing
        }
    }

    /// `HostDetached` the first time, `Nothing` afterwards; stops watching stdin.
    fn report_detach(&mut self) -> PortEvent {
        if self.detach_reported {
            return PortEvent::Nothing;
        }
        self.detach_reported = true;
        if self.input_registered {
            let _ = deregister_fd(&self.registry, self.input.as_fd());
            self.input_registered = false;
        }
        PortEvent::HostDetached
    }

    fn set_output_interest(&mut self, on: bool) -> io::Result<()> {
        let Some(output) = &self.output else {
            return Ok(());
        };
        if on && !self.output_registered {
            match register_fd(
                &self.registry,
                output.as_fd(),
                self.out_token,
                Interest::WRITABLE,
            ) {
                Ok(()) => self.output_registered = true,
                // A regular file cannot be polled, and never makes a write wait.
                Err(err) if err.raw_os_error() == Some(Errno::EPERM as i32) => {}
                Err(err) => return Err(err),
            }
        } else if !on && self.output_registered {
            deregister_fd(&self.registry, output.as_fd())?;
            self.output_registered = false;
        }
        Ok(())
    }
}

impl Drop for StdioPort {
    fn drop(&mut self) {
        // The descriptors are duplicates: closing them would not take stdin and
        // stdout out of epoll, so deregister explicitly.
        if self.input_registered {
            let _ = deregister_fd(&self.registry, self.input.as_fd());
        }
        if let Some(output) = &self.output {
            if self.output_registered {
                let _ = deregister_fd(&self.registry, output.as_fd());
            }
            if let Some(was) = self.output_was_nonblocking {
                let _ = set_nonblocking(output.as_fd(), was);
            }
        }
        if let Some(was) = self.input_was_nonblocking {
            let _ = set_nonblocking(self.input.as_fd(), was);
        }
    }
}

/// Starts a thread copying `source` (blocking reads) into a socket pair and
/// returns the non-blocking end to poll. The thread ends at end of input, on a
/// read error (treated as end of input) or when our end is closed.
fn spawn_relay(source: OwnedFd) -> io::Result<UnixStream> {
    let (ours, mut theirs) = UnixStream::pair()?;
    ours.set_nonblocking(true)?;
    let mut source = File::from(source);
    std::thread::Builder::new()
        .name("at-stdin-relay".into())
        .spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match source.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if theirs.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => {
                        log::warn!("reading stdin failed: {err}; treating it as end of input");
                        break;
                    }
                }
            }
        })?;
    Ok(ours)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};
    use std::fs::OpenOptions;
    use std::os::unix::fs::OpenOptionsExt;
    use std::time::{Duration, Instant};

    /// Generous upper bound for anything to happen; tests never sleep.
    const TIMEOUT: Duration = Duration::from_secs(10);
    const BASE: Token = Token(7);

    /// A port with its own poll, driven the way the binary drives it: after every
    /// poll, feed the events to `handle_event`, then drain `read` until it returns 0.
    struct Rig {
        poll: Poll,
        events: Events,
        port: HostPort,
        /// Port events seen by `pump`, oldest first.
        seen: Vec<PortEvent>,
        /// Host bytes read by `pump`, not yet taken by the test.
        input: Vec<u8>,
    }

    impl Rig {
        fn open(spec: &PortSpec) -> Rig {
            let poll = Poll::new().unwrap();
            let port = HostPort::open(spec, poll.registry(), BASE).unwrap();
            Rig::with(poll, port)
        }

        fn with(poll: Poll, port: HostPort) -> Rig {
            Rig {
                poll,
                events: Events::with_capacity(16),
                port,
                seen: Vec::new(),
                input: Vec::new(),
            }
        }

        /// One poll (panics if nothing happens within TIMEOUT): feeds the events to
        /// the port, records what it reported, then drains `read`.
        fn pump(&mut self) {
            self.poll.poll(&mut self.events, Some(TIMEOUT)).unwrap();
            assert!(!self.events.is_empty(), "timed out waiting for the port");
            for event in self.events.iter() {
                assert!(self.port.owns_token(event.token()));
                let what = self.port.handle_event(self.poll.registry(), event).unwrap();
                self.seen.push(what);
            }
            self.collect();
        }

        /// Calls `read` until it returns 0, keeping the bytes in `input`.
        fn collect(&mut self) {
            let mut buf = [0u8; 1000];
            loop {
                let n = self.port.read(&mut buf).unwrap();
                if n == 0 {
                    return;
                }
                self.input.extend_from_slice(&buf[..n]);
            }
        }

        /// Pumps until the port reported `want` (consuming it).
        fn wait_for(&mut self, want: PortEvent) {
            let deadline = Instant::now() + TIMEOUT;
            loop {
                if let Some(i) = self.seen.iter().position(|&e| e == want) {
                    self.seen.drain(..=i);
                    return;
                }
                assert!(Instant::now() < deadline, "no {want:?}");
                self.pump();
            }
        }

        /// Every host byte read so far plus whatever `read` has right now.
        fn drain(&mut self) -> Vec<u8> {
            self.collect();
            std::mem::take(&mut self.input)
        }

        /// Exactly `n` host bytes, pumping as needed.
        fn read_n(&mut self, n: usize) -> Vec<u8> {
            self.collect();
            while self.input.len() < n {
                self.pump();
            }
            let out = std::mem::take(&mut self.input);
            assert_eq!(out.len(), n, "more bytes than expected: {out:?}");
            out
        }

        /// Writes all of `bytes`, waiting for Writable when the port is full.
        fn write_all(&mut self, mut bytes: &[u8]) {
            while !bytes.is_empty() {
                let n = self.port.write(bytes).unwrap();
                if n == 0 {
                    self.port
                        .set_write_interest(self.poll.registry(), true)
                        .unwrap();
                    self.wait_for(PortEvent::Writable);
                    self.port
                        .set_write_interest(self.poll.registry(), false)
                        .unwrap();
                }
                bytes = &bytes[n..];
            }
        }
    }

    /// The host side of a pty or serial line: a non-blocking descriptor with its
    /// own poll.
    struct Host {
        file: File,
        poll: Poll,
        events: Events,
    }

    impl Host {
        fn open(path: &Path) -> Host {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags((OFlag::O_NOCTTY | OFlag::O_NONBLOCK).bits())
                .open(path)
                .unwrap();
            Host::with(file)
        }

        fn with(file: File) -> Host {
            let poll = Poll::new().unwrap();
            poll.registry()
                .register(
                    &mut SourceFd(&file.as_raw_fd()),
                    Token(0),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .unwrap();
            Host {
                file,
                poll,
                events: Events::with_capacity(4),
            }
        }

        fn wait(&mut self) {
            self.poll.poll(&mut self.events, Some(TIMEOUT)).unwrap();
            assert!(!self.events.is_empty(), "timed out on the host side");
        }

        fn read_n(&mut self, n: usize) -> Vec<u8> {
            let mut out = Vec::new();
            let mut buf = [0u8; 1000];
            while out.len() < n {
                match self.file.read(&mut buf) {
                    Ok(0) => panic!("host side: end of file"),
                    Ok(k) => out.extend_from_slice(&buf[..k]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(),
                    Err(e) => panic!("host side: {e}"),
                }
            }
            assert_eq!(out.len(), n, "more bytes than expected: {out:?}");
            out
        }

        /// Everything readable right now.
        fn drain(&mut self) -> Vec<u8> {
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match self.file.read(&mut buf) {
                    Ok(0) => return out,
                    Ok(k) => out.extend_from_slice(&buf[..k]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return out,
                    Err(e) => panic!("host side: {e}"),
                }
            }
        }

        fn write_all(&mut self, mut bytes: &[u8]) {
            while !bytes.is_empty() {
                match self.file.write(bytes) {
                    Ok(k) => bytes = &bytes[k..],
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(),
                    Err(e) => panic!("host side: {e}"),
                }
            }
        }
    }

    fn all_bytes() -> Vec<u8> {
        // Every value, twice, the second time reversed.
        (0..=255u8).chain((0..=255u8).rev()).collect()
    }

    // --- pty ---------------------------------------------------------------

    #[test]
    fn pty_exchanges_bytes_unmangled_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("modem");
        let mut rig = Rig::open(&PortSpec::Pty { link: link.clone() });
        let Kind::Pty(pty) = &rig.port.kind else {
            unreachable!()
        };
        let slave_path = pty.slave_path.clone();
        assert!(slave_path.starts_with("/dev/pts"), "{slave_path:?}");
        assert_eq!(fs::read_link(&link).unwrap(), slave_path);
        assert_eq!(
            rig.port.describe(),
            format!("AT port: {} ({})", link.display(), slave_path.display())
        );
        assert!(rig.port.host_attached());
        assert_eq!(rig.port.tcp_local_addr(), None);

        let mut host = Host::open(&link);
        // A host opening the device sees raw mode.
        let t = termios::tcgetattr(host.file.as_fd()).unwrap();
        use termios::{InputFlags, LocalFlags, OutputFlags};
        assert!(!t
            .local_flags
            .intersects(LocalFlags::ECHO | LocalFlags::ICANON | LocalFlags::ISIG));
        assert!(!t.output_flags.contains(OutputFlags::OPOST));
        assert!(!t
            .input_flags
            .intersects(InputFlags::ICRNL | InputFlags::IXON | InputFlags::ISTRIP));

        host.write_all(b"AT\r\n");
        assert_eq!(rig.read_n(4), b"AT\r\n");
        rig.write_all(b"\r\nOK\r\n");
        assert_eq!(host.read_n(6), b"\r\nOK\r\n");

        // All byte values, both ways, untouched by any line discipline.
        let all = all_bytes();
        host.write_all(&all);
        assert_eq!(rig.read_n(all.len()), all);
        rig.write_all(&all);
        assert_eq!(host.read_n(all.len()), all);
        // Nothing echoed back to the host or looped back to the modem.
        assert!(host.drain().is_empty());
        assert!(rig.drain().is_empty());

        // The host closes the device; output meanwhile waits in the pty.
        drop(host);
        rig.write_all(b"\r\nready\r\n");
        assert!(rig.drain().is_empty());
        let mut host = Host::open(&link);
        assert_eq!(host.read_n(9), b"\r\nready\r\n");
        host.write_all(b"AT+GMR\r\n");
        assert_eq!(rig.read_n(8), b"AT+GMR\r\n");
        rig.write_all(b"OK\r\n");
        assert_eq!(host.read_n(4), b"OK\r\n");
        // Open and close several times without the modem noticing.
        for _ in 0..3 {
            drop(Host::open(&link));
        }
        host.write_all(&all);
        assert_eq!(rig.read_n(all.len()), all);
        assert!(rig.port.host_attached());

        drop(host);
        drop(rig);
        assert!(fs::symlink_metadata(&link).is_err(), "symlink left behind");
    }

    #[test]
    fn pty_master_never_hangs_up() {
        // Without a slave descriptor of our own the master would report a hang-up
        // (and read EIO) whenever no host has the device open.
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("modem");
        let mut rig = Rig::open(&PortSpec::Pty { link: link.clone() });
        let quiet = Duration::from_millis(50);
        rig.poll.poll(&mut rig.events, Some(quiet)).unwrap();
        assert!(rig.events.is_empty(), "event without a host");
        drop(Host::open(&link));
        rig.poll.poll(&mut rig.events, Some(quiet)).unwrap();
        assert!(rig.events.is_empty(), "event after a host closed");
        let Kind::Pty(pty) = &rig.port.kind else {
            unreachable!()
        };
        let mut buf = [0u8; 8];
        assert_eq!(
            nix::unistd::read(pty.master.as_fd(), &mut buf),
            Err(Errno::EAGAIN)
        );
    }

    #[test]
    fn pty_write_interest_reports_writable() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("modem");
        let mut rig = Rig::open(&PortSpec::Pty { link: link.clone() });
        let mut host = Host::open(&link);
        // Fill the pty until it takes nothing more.
        let chunk = [b'x'; 1024];
        let mut written = 0usize;
        loop {
            let n = rig.port.write(&chunk).unwrap();
            if n == 0 {
                break;
            }
            written += n;
            assert!(written < 64 << 20, "pty never filled up");
        }
        rig.port
            .set_write_interest(rig.poll.registry(), true)
            .unwrap();
        assert!(rig.port.write_interest());
        // The host reads everything; the port becomes writable again.
        let got = host.read_n(written);
        assert!(got.iter().all(|&b| b == b'x'));
        rig.wait_for(PortEvent::Writable);
        assert!(rig.port.write(b"more").unwrap() > 0);
        rig.port
            .set_write_interest(rig.poll.registry(), false)
            .unwrap();
        assert!(!rig.port.write_interest());
    }

    #[test]
    fn pty_link_replaces_symlinks_but_not_files() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("modem");
        std::os::unix::fs::symlink("/nonexistent", &link).unwrap();
        let rig = Rig::open(&PortSpec::Pty { link: link.clone() });
        assert!(fs::read_link(&link).unwrap().starts_with("/dev/pts"));
        drop(rig);
        assert!(fs::symlink_metadata(&link).is_err());

        fs::write(&link, b"precious").unwrap();
        let poll = Poll::new().unwrap();
        let err = HostPort::open(&PortSpec::Pty { link: link.clone() }, poll.registry(), BASE)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&link).unwrap(), b"precious");
        // No temporary link left behind either.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn pty_leaves_a_foreign_link_alone() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("modem");
        let rig = Rig::open(&PortSpec::Pty { link: link.clone() });
        // Someone else took the name over.
        fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink("/elsewhere", &link).unwrap();
        drop(rig);
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("/elsewhere"));
    }

    #[test]
    fn uart_settings_are_validated_and_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut rig = Rig::open(&PortSpec::Pty {
            link: dir.path().join("p"),
        });
        assert_eq!(*rig.port.uart(), DEFAULT_UART);
        let odd = UartSettings {
            baud: 74_880, // not a termios rate: fine on a pty, recorded only
            data_bits: 5,
            stop_bits: StopBits::OneAndHalf,
            parity: Parity::Odd,
            flow: FlowControl::Cts,
        };
        rig.port.apply_uart(&odd).unwrap();
        assert_eq!(*rig.port.uart(), odd);
        for bad in [
            UartSettings {
                data_bits: 9,
                ..odd
            },
            UartSettings {
                data_bits: 4,
                ..odd
            },
            UartSettings { baud: 0, ..odd },
        ] {
            let err = rig.port.apply_uart(&bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        }
        assert_eq!(*rig.port.uart(), odd);
        // The pty itself stays raw 8-bit whatever was recorded.
        let all = all_bytes();
        let mut host = Host::open(&dir.path().join("p"));
        host.write_all(&all);
        assert_eq!(rig.read_n(all.len()), all);
    }

    // --- serial (a pty slave stands in for the device) ---------------------

    fn fake_serial_line() -> (Host, PathBuf, OwnedFd) {
        let pty = nix::pty::openpty(None::<&nix::pty::Winsize>, None::<&Termios>).unwrap();
        set_nonblocking(pty.master.as_fd(), true).unwrap();
        let path = nix::unistd::ttyname(pty.slave.as_fd()).unwrap();
        // The test keeps the slave open (as the pty port does) so the line stays up.
        (Host::with(File::from(pty.master)), path, pty.slave)
    }

    #[test]
    fn serial_device_is_raw_and_takes_uart_settings() {
        let (mut line, device, _keep) = fake_serial_line();
        let mut rig = Rig::open(&PortSpec::Serial {
            device: device.clone(),
            baud: 115_200,
        });
        assert_eq!(
            rig.port.describe(),
            format!("AT port: {} at 115200 baud", device.display())
        );
        assert_eq!(rig.port.uart().baud, 115_200);
        let Kind::Serial(serial) = &rig.port.kind else {
            unreachable!()
        };
        let t = termios::tcgetattr(serial.fd.as_fd()).unwrap();
        assert_eq!(termios::cfgetospeed(&t), termios::BaudRate::B115200);
        assert!(!t.local_flags.contains(termios::LocalFlags::ECHO));

        line.write_all(b"AT\r\n");
        assert_eq!(rig.read_n(4), b"AT\r\n");
        rig.write_all(b"\r\nOK\r\n");
        assert_eq!(line.read_n(6), b"\r\nOK\r\n");
        let all = all_bytes();
        line.write_all(&all);
        assert_eq!(rig.read_n(all.len()), all);
        rig.write_all(&all);
        assert_eq!(line.read_n(all.len()), all);

        let slow = UartSettings {
            baud: 9600,
            data_bits: 7,
            stop_bits: StopBits::Two,
            parity: Parity::Even,
            flow: FlowControl::None,
        };
        rig.port.apply_uart(&slow).unwrap();
        assert_eq!(*rig.port.uart(), slow);
        assert_eq!(
            rig.port.describe(),
            format!("AT port: {} at 9600 baud", device.display())
        );
        let Kind::Serial(serial) = &rig.port.kind else {
            unreachable!()
        };
        let t = termios::tcgetattr(serial.fd.as_fd()).unwrap();
        assert_eq!(termios::cfgetospeed(&t), termios::BaudRate::B9600);
        assert!(t.control_flags.contains(ControlFlags::CSTOPB));

        // A rate termios has no constant for is refused on a real device.
        let err = rig.port.apply_uart(&UartSettings::new(74_880)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(*rig.port.uart(), slow);
    }

    #[test]
    fn serial_hangup_detaches() {
        let (line, device, keep) = fake_serial_line();
        let mut rig = Rig::open(&PortSpec::Serial { device, baud: 9600 });
        assert!(rig.port.host_attached());
        // Closing the master hangs the line up.
        drop(line);
        drop(keep);
        rig.wait_for(PortEvent::HostDetached);
        assert!(!rig.port.host_attached());
        assert_eq!(rig.drain(), b"");
        assert_eq!(rig.port.write(b"lost").unwrap(), 4);
    }

    #[test]
    fn serial_open_errors() {
        let dir = tempfile::tempdir().unwrap();
        let poll = Poll::new().unwrap();
        let missing = dir.path().join("ttyNONE");
        let err = HostPort::open(
            &PortSpec::Serial {
                device: missing,
                baud: 115_200,
            },
            poll.registry(),
            BASE,
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let file = dir.path().join("plain");
        fs::write(&file, b"").unwrap();
        assert!(HostPort::open(
            &PortSpec::Serial {
                device: file,
                baud: 115_200
            },
            poll.registry(),
            BASE
        )
        .is_err());
    }

    // --- TCP ------------------------------------------------------------------

    fn connect(addr: SocketAddr) -> std::net::TcpStream {
        let stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream
    }

    fn tcp_rig() -> (Rig, SocketAddr) {
        let rig = Rig::open(&PortSpec::Tcp {
            addr: "127.0.0.1:0".parse().unwrap(),
        });
        let addr = rig.port.tcp_local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        (rig, addr)
    }

    #[test]
    fn tcp_one_host_at_a_time_with_reconnect() {
        let (mut rig, addr) = tcp_rig();
        assert!(!rig.port.host_attached());
        assert_eq!(
            rig.port.describe(),
            format!("AT port: tcp {addr} (waiting for a host)")
        );
        // Output without a host is discarded.
        assert_eq!(rig.port.write(b"lost").unwrap(), 4);
        assert_eq!(rig.drain(), b"");

        let mut first = connect(addr);
        rig.wait_for(PortEvent::HostAttached);
        assert!(rig.port.host_attached());
        let peer = first.local_addr().unwrap();
        assert_eq!(
            rig.port.describe(),
            format!("AT port: tcp {addr} (host {peer})")
        );
        let Kind::Tcp(tcp) = &rig.port.kind else {
            unreachable!()
        };
        assert!(tcp.client.as_ref().unwrap().stream.nodelay().unwrap());

        first.write_all(b"AT\r\n").unwrap();
        assert_eq!(rig.read_n(4), b"AT\r\n");
        rig.write_all(b"\r\nOK\r\n");
        let mut buf = [0u8; 6];
        first.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"\r\nOK\r\n");

        // A second host is refused while the first is attached.
        let mut second = connect(addr);
        rig.pump();
        let mut one = [0u8; 1];
        match second.read(&mut one) {
            Ok(0) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            other => panic!("second host not refused: {other:?}"),
        }
        assert!(rig.port.host_attached());
        let all = all_bytes();
        first.write_all(&all).unwrap();
        assert_eq!(rig.read_n(all.len()), all);
        rig.write_all(&all);
        let mut back = vec![0u8; all.len()];
        first.read_exact(&mut back).unwrap();
        assert_eq!(back, all);

        // The first host leaves; the port waits for the next one.
        drop(first);
        rig.wait_for(PortEvent::HostDetached);
        assert!(!rig.port.host_attached());
        assert_eq!(rig.drain(), b"");
        assert_eq!(rig.port.write(b"lost").unwrap(), 4);

        let mut third = connect(addr);
        rig.wait_for(PortEvent::HostAttached);
        third.write_all(b"AT+RST\r\n").unwrap();
        assert_eq!(rig.read_n(8), b"AT+RST\r\n");
        rig.write_all(b"OK\r\n");
        let mut buf = [0u8; 4];
        third.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"OK\r\n");
    }

    #[test]
    fn tcp_bytes_sent_before_hangup_are_kept() {
        let (mut rig, addr) = tcp_rig();
        let mut host = connect(addr);
        host.write_all(b"AT+CWMODE=1\r\n").unwrap();
        drop(host);
        rig.wait_for(PortEvent::HostAttached);
        rig.wait_for(PortEvent::HostDetached);
        assert_eq!(rig.drain(), b"AT+CWMODE=1\r\n");
        assert!(!rig.port.host_attached());
    }

    #[test]
    fn tcp_quick_reconnect_survives_a_stale_hangup_event() {
        let (mut rig, addr) = tcp_rig();
        let first = connect(addr);
        rig.wait_for(PortEvent::HostAttached);
        // The first host leaves; its hang-up event is harvested but not handled
        // yet, while `read` already sees the end of the stream.
        drop(first);
        let mut stale = Events::with_capacity(4);
        rig.poll.poll(&mut stale, Some(TIMEOUT)).unwrap();
        assert!(stale
            .iter()
            .any(|e| e.token() == BASE && e.is_read_closed()));
        assert_eq!(rig.drain(), b"");
        assert!(!rig.port.host_attached());
        // A new host connects before the old event is handled: it is let in...
        let mut second = connect(addr);
        rig.wait_for(PortEvent::HostAttached);
        assert!(rig.port.host_attached());
        // ...and the stale event, now under the new host's token, does not close it.
        for event in stale.iter() {
            let what = rig.port.handle_event(rig.poll.registry(), event).unwrap();
            assert_ne!(what, PortEvent::HostDetached);
        }
        assert!(rig.port.host_attached());
        second.write_all(b"AT\r\n").unwrap();
        assert_eq!(rig.read_n(4), b"AT\r\n");
        rig.write_all(b"OK\r\n");
        let mut buf = [0u8; 4];
        second.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"OK\r\n");
    }

    #[test]
    fn tcp_write_interest_reports_writable() {
        let (mut rig, addr) = tcp_rig();
        let mut host = connect(addr);
        rig.wait_for(PortEvent::HostAttached);
        let chunk = vec![b'y'; 65536];
        let mut written = 0usize;
        loop {
            let n = rig.port.write(&chunk).unwrap();
            if n == 0 {
                break;
            }
            written += n;
            assert!(written < 1 << 30, "socket never filled up");
        }
        rig.port
            .set_write_interest(rig.poll.registry(), true)
            .unwrap();
        let mut buf = vec![0u8; written];
        host.read_exact(&mut buf).unwrap();
        rig.wait_for(PortEvent::Writable);
        assert!(rig.port.write(b"z").unwrap() == 1);
    }

    #[test]
    fn tcp_bind_error_names_the_address() {
        let (_rig, addr) = tcp_rig();
        let poll = Poll::new().unwrap();
        let err = HostPort::open(&PortSpec::Tcp { addr }, poll.registry(), BASE).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }

    // --- stdio (pipes and files stand in for stdin/stdout) --------------------

    fn stdio_rig(input: OwnedFd, output: OwnedFd) -> Rig {
        let poll = Poll::new().unwrap();
        let stdio = StdioPort::new(
            input,
            Some(output),
            poll.registry(),
            BASE,
            Token(BASE.0 + 1),
        )
        .unwrap();
        let port = HostPort {
            kind: Kind::Stdio(stdio),
            data_token: BASE,
            aux_token: Token(BASE.0 + 1),
            uart: DEFAULT_UART,
            write_interest: false,
        };
        Rig::with(poll, port)
    }

    fn is_nonblocking(fd: BorrowedFd<'_>) -> bool {
        OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL).unwrap()).contains(OFlag::O_NONBLOCK)
    }

    #[test]
    fn stdio_pipes_until_end_of_input() {
        let (in_r, in_w) = nix::unistd::pipe().unwrap();
        let (out_r, out_w) = nix::unistd::pipe().unwrap();
        let in_probe = in_r.try_clone().unwrap();
        let out_probe = out_w.try_clone().unwrap();
        let mut stdin = File::from(in_w);
        let mut stdout = Host::with(File::from(out_r));
        set_nonblocking(stdout.file.as_fd(), true).unwrap();

        let mut rig = stdio_rig(in_r, out_w);
        assert_eq!(rig.port.describe(), "AT port: stdin/stdout");
        assert!(rig.port.host_attached());
        assert!(is_nonblocking(in_probe.as_fd()));
        assert!(is_nonblocking(out_probe.as_fd()));

        stdin.write_all(b"AT\r\n").unwrap();
        assert_eq!(rig.read_n(4), b"AT\r\n");
        rig.write_all(b"\r\nOK\r\n");
        assert_eq!(stdout.read_n(6), b"\r\nOK\r\n");
        let all = all_bytes();
        stdin.write_all(&all).unwrap();
        assert_eq!(rig.read_n(all.len()), all);

        // Fill stdout, then let the reader catch up: Writable.
        let mut written = 0;
        loop {
            let n = rig.port.write(&[b'z'; 4096]).unwrap();
            if n == 0 {
                break;
            }
            written += n;
        }
        rig.port
            .set_write_interest(rig.poll.registry(), true)
            .unwrap();
        assert_eq!(stdout.read_n(written).len(), written);
        rig.wait_for(PortEvent::Writable);
        rig.port
            .set_write_interest(rig.poll.registry(), false)
            .unwrap();

        // The last bytes before end of input still arrive, then the host is gone.
        stdin.write_all(b"AT+GMR\r\n").unwrap();
        drop(stdin);
        assert_eq!(rig.read_n(8), b"AT+GMR\r\n");
        assert!(!rig.port.host_attached());
        rig.wait_for(PortEvent::HostDetached);
        assert!(!rig.port.host_attached());
        assert_eq!(rig.drain(), b"");

        // Dropping the port restores blocking mode.
        drop(rig);
        assert!(!is_nonblocking(in_probe.as_fd()));
        assert!(!is_nonblocking(out_probe.as_fd()));
    }

    #[test]
    fn stdio_regular_file_input_is_relayed() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("script");
        fs::write(&script, b"AT\r\nAT+GMR\r\n").unwrap();
        let input = OwnedFd::from(File::open(&script).unwrap());
        let output = OwnedFd::from(File::create(dir.path().join("out")).unwrap());
        let mut rig = stdio_rig(input, output);
        assert_eq!(rig.read_n(12), b"AT\r\nAT+GMR\r\n");
        // A regular file never makes a write wait, and interest on it is harmless.
        rig.port
            .set_write_interest(rig.poll.registry(), true)
            .unwrap();
        rig.write_all(b"\r\nOK\r\n");
        rig.port
            .set_write_interest(rig.poll.registry(), false)
            .unwrap();
        rig.wait_for(PortEvent::HostDetached);
        assert!(!rig.port.host_attached());
        drop(rig);
        assert_eq!(fs::read(dir.path().join("out")).unwrap(), b"\r\nOK\r\n");
    }

    #[test]
    fn stdio_empty_input_detaches() {
        let (in_r, in_w) = nix::unistd::pipe().unwrap();
        let (_out_r, out_w) = nix::unistd::pipe().unwrap();
        drop(in_w);
        let mut rig = stdio_rig(in_r, out_w);
        rig.wait_for(PortEvent::HostDetached);
        assert!(rig.drain().is_empty());
        assert!(!rig.port.host_attached());
    }

    #[test]
    fn stdio_closed_stdout_detaches() {
        let (in_r, _in_w) = nix::unistd::pipe().unwrap();
        let (out_r, out_w) = nix::unistd::pipe().unwrap();
        drop(out_r);
        let mut rig = stdio_rig(in_r, out_w);
        assert_eq!(rig.port.write(b"OK").unwrap(), 2);
        assert!(!rig.port.host_attached());
    }

    #[test]
    fn tokens_are_base_and_base_plus_one() {
        let poll = Poll::new().unwrap();
        let port = HostPort::open(
            &PortSpec::Tcp {
                addr: "127.0.0.1:0".parse().unwrap(),
            },
            poll.registry(),
            Token(100),
        )
        .unwrap();
        assert!(port.owns_token(Token(100)));
        assert!(port.owns_token(Token(101)));
        assert!(!port.owns_token(Token(99)));
        assert!(!port.owns_token(Token(102)));
        let err = HostPort::open(&PortSpec::Stdio, poll.registry(), Token(usize::MAX)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
