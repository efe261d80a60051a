//! The serving loop of `at-modem`: one mio event loop that sleeps until the host sends
//! bytes, the port can take more output, a signal arrives, or the engine's
//! [`poll_delay`](at_core::Engine::poll_delay) expires. No busy polling, no fixed ticks.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use at_core::{Engine, Profile};
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::ping::StdPinger;
use crate::pki::PkiStore;
use crate::platform::{StdPlatform, Store};
use crate::port::{HostPort, PortEvent, PortSpec};
use crate::stack::StdStack;
use crate::station::{ApSpec, EmulatedStation};
use crate::store::FileStore;
use crate::trace::Trace;

/// The command sets the emulated module serves.
pub type Commands = at_tcpip::TcpIp<StdPlatform>;

/// The output queue of the emulated module: larger than a firmware's 4 KiB, so one poll
/// can move many `+IPD` messages and one write hands them all to the host (the bytes on
/// the wire are the same; only the system calls are fewer).
pub const OUTPUT_QUEUE: usize = 64 * 1024;

/// The data-mode buffer: larger than the W800's 5,760 bytes (the `AT+CIPSEND` limit is
/// the profile's either way), so transparent mode hands many 512-byte blocks to the
/// socket in one call.
pub const DATA_BUFFER: usize = 64 * 1024;

/// The engine `at-modem` runs.
pub type ModemEngine = Engine<Commands, 256, OUTPUT_QUEUE, DATA_BUFFER>;

/// Largest chunk of host input held while the engine has not taken it.
const INPUT_CAPACITY: usize = 64 * 1024;

const SIGNAL_TOKEN: Token = Token(0);
const PORT_TOKEN: Token = Token(1);
/// ICMP sockets (IPv4, IPv6); their events only wake the loop.
const PINGER_TOKEN: Token = Token(4);
/// Network sockets are registered from this token on; their events only wake the loop.
const FIRST_SOCKET_TOKEN: usize = 16;

/// What `at-modem` was asked to do.
#[derive(Clone, Debug)]
pub struct ModemConfig {
    /// The AT port.
    pub port: PortSpec,
    /// Directory of the persistent settings; `None` keeps them in memory.
    pub state_dir: Option<PathBuf>,
    /// Directory of certificates and keys ([`crate::pki`]); `None`: a factory set made
    /// at start.
    pub pki_dir: Option<PathBuf>,
    /// File receiving a timestamped trace of every byte in both directions.
    pub trace: Option<PathBuf>,
    /// Chip limits and defaults.
    pub profile: Profile,
    /// Chip name reported by `AT+GMR`.
    pub chip: String,
    /// Access points the emulated station can see (`--ap`).
    pub access_points: Vec<ApSpec>,
    /// Interface for IPv4 multicast (`--multicast-if`); the routing table's choice when
    /// unset.
    pub multicast_if: Option<std::net::Ipv4Addr>,
    /// Pace the port like a UART of this many baud (`--baud`), both ways.
    pub baud: Option<u32>,
}

/// Paces one direction of the AT port like a UART: `baud / 10` bytes per second (8N1),
/// with a burst of at most 10 ms worth.
#[derive(Debug)]
pub struct Pacer {
    bytes_per_sec: f64,
    burst: f64,
    credit: f64,
    last: std::time::Instant,
}

impl Pacer {
    /// A pacer for `baud`.
    pub fn new(baud: u32, now: std::time::Instant) -> Pacer {
        let bytes_per_sec = f64::from(baud.max(10)) / 10.0;
        let burst = (bytes_per_sec / 100.0).max(1.0);
        Pacer {
            bytes_per_sec,
            burst,
            credit: burst,
            last: now,
        }
    }

    /// How many of `want` bytes may move now; the caller moves at most that many and
    /// reports them with [`spend`](Self::spend).
    pub fn allowance(&mut self, now: std::time::Instant, want: usize) -> usize {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.credit = (self.credit + elapsed * self.bytes_per_sec).min(self.burst);
        (self.credit.floor() as usize).min(want)
    }

    /// Records `n` bytes moved.
    pub fn spend(&mut self, n: usize) {
        self.credit -= n as f64;
    }

    /// How long until at least one byte may move.
    pub fn wait(&self) -> Duration {
        if self.credit >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.credit) / self.bytes_per_sec)
        }
    }
}

/// The port as the engine's writer, tracing what it takes.
struct PortWriter<'a> {
    port: &'a mut HostPort,
    trace: Option<&'a mut Trace>,
    pacer: Option<&'a mut Pacer>,
    start: std::time::Instant,
}

impl embedded_io::ErrorType for PortWriter<'_> {
    type Error = io::Error;
}

impl embedded_io::Write for PortWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let buf = match self.pacer.as_deref_mut() {
            Some(p) => &buf[..p.allowance(std::time::Instant::now(), buf.len())],
            None => buf,
        };
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.port.write(buf)?;
        if let Some(p) = self.pacer.as_deref_mut() {
            p.spend(n);
        }
        if let Some(t) = self.trace.as_deref_mut() {
            if n > 0 {
                t.modem_to_host(self.start.elapsed(), &buf[..n]);
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs the modem until SIGINT or SIGTERM (or the end of stdin with `--stdio`).
pub fn run(config: ModemConfig) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(64);
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    poll.registry()
        .register(&mut signals, SIGNAL_TOKEN, Interest::READABLE)?;

    let store = match &config.state_dir {
        Some(dir) => Store::Files(FileStore::open(dir)?),
        None => Store::Memory(Box::default()),
    };
    let mut net = StdStack::new(poll.registry().try_clone()?, FIRST_SOCKET_TOKEN);
    if let Some(interface) = config.multicast_if {
        net.set_multicast_interface_v4(interface);
    }
    net.set_pki(match &config.pki_dir {
        Some(dir) => PkiStore::load(dir)?,
        None => PkiStore::factory().map_err(io::Error::other)?,
    });
    let station = EmulatedStation::new(config.access_points.clone());
    let pinger = StdPinger::new(poll.registry().try_clone()?, PINGER_TOKEN);
    let mut platform = StdPlatform::new(store, &config.chip, net, station, pinger);
    let mut trace = config.trace.as_deref().map(Trace::create).transpose()?;
    let mut port = HostPort::open(&config.port, poll.registry(), PORT_TOKEN)?;
    eprintln!("{}", port.describe());

    let mut engine: Box<ModemEngine> = Box::new(Engine::new(config.profile, Default::default()));
    let start = std::time::Instant::now();
    let mut rx_pacer = config.baud.map(|b| Pacer::new(b, start));
    let mut tx_pacer = config.baud.map(|b| Pacer::new(b, start));
    // Host input waiting for the engine: `input[..held]`.
    let mut input = vec![0u8; INPUT_CAPACITY];
    let mut held = 0;
    let stdio = matches!(config.port, PortSpec::Stdio);

    loop {
        let now = at_core::Instant::from_millis(start.elapsed().as_millis() as u64);

        // Host input, as much as we hold; the rest stays in the port (flow control).
        let mut port_may_have_more = false;
        while held < INPUT_CAPACITY {
            let mut room = INPUT_CAPACITY - held;
            if let Some(p) = rx_pacer.as_mut() {
                room = p.allowance(std::time::Instant::now(), room);
                if room == 0 {
                    port_may_have_more = true;
                    break;
                }
            }
            // Straight into the input buffer's free room: no intermediate copy.
            let n = port.read(&mut input[held..held + room])?;
            if let Some(p) = rx_pacer.as_mut() {
                p.spend(n);
            }
            if n == 0 {
                break;
            }
            if let Some(t) = trace.as_mut() {
                t.host_to_modem(start.elapsed(), &input[held..held + n]);
            }
            held += n;
            port_may_have_more = held == INPUT_CAPACITY;
        }

        // Feed and poll until the engine takes no more input: twice nothing taken, with a
        // poll between (which may have run a line or finished booting).
        let mut consumed = 0;
        let mut idle_rounds = 0;
        loop {
            let n = engine.feed(now, &input[consumed..held]);
            consumed += n;
            let mut tx = PortWriter {
                port: &mut port,
                trace: trace.as_mut(),
                pacer: tx_pacer.as_mut(),
                start,
            };
            if let Err(e) = engine.poll(now, &mut platform, &mut tx) {
                log::warn!("writing to the host failed: {e}");
            }
            if let Some(uart) = platform.take_uart_request() {
                if let Err(e) = port.apply_uart(&uart) {
                    log::warn!("applying {uart:?} to the AT port failed: {e}");
                }
            }
            idle_rounds = if n == 0 { idle_rounds + 1 } else { 0 };
            if idle_rounds == 2 || consumed == held {
                break;
            }
        }
        input.copy_within(consumed..held, 0);
        held -= consumed;

        if stdio && !port.host_attached() && !engine.has_output() && !engine.is_busy() && held == 0
        {
            log::info!("end of input: exiting");
            return Ok(());
        }

        let mut timeout = engine
            .poll_delay(now)
            .map(|d| Duration::from_millis(d.as_millis()));
        if port_may_have_more && held < INPUT_CAPACITY {
            let wait = rx_pacer.as_ref().map_or(Duration::ZERO, Pacer::wait);
            timeout = Some(timeout.map_or(wait, |t| t.min(wait)));
        }
        if engine.has_output() {
            if let Some(p) = tx_pacer.as_ref() {
                let wait = p.wait();
                timeout = Some(timeout.map_or(wait, |t| t.min(wait)));
            }
        }
        // A paced port without credit would report "writable" at once and spin the loop:
        // then the pacer's timeout wakes it instead.
        let can_write = tx_pacer.as_ref().is_none_or(|p| p.wait().is_zero());
        port.set_write_interest(poll.registry(), engine.has_output() && can_write)?;
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            if event.token() == SIGNAL_TOKEN {
                if let Some(sig) = signals.pending().next() {
                    log::info!("signal {sig}: exiting");
                    return Ok(());
                }
            } else if port.owns_token(event.token()) {
                match port.handle_event(poll.registry(), event)? {
                    PortEvent::HostAttached => log::info!("host attached"),
                    PortEvent::HostDetached => log::info!("host detached"),
                    _ => {}
                }
            } else {
                // A socket of the stack (or the pinger): the engine's socket passes run.
                platform.note_network_activity();
            }
        }
    }
}
