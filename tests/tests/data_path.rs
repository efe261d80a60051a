//! The data paths end to end: bulk transfers through the real `at-modem` on a pty to peers
//! this test starts on loopback, every transfer checked by exact length and FNV-1a hash.
//!
//! Transparent mode both ways at once, active `+IPD` to a host paced like a fast UART,
//! passive receive with the peer flow-controlled, every byte value through
//! `AT+CIPSEND`/`AT+CIPSENDEX`/`AT+CIPSENDL` and `+IPD`, three links at once, a peer that
//! closes while its data is still on the way, and transparent-mode reconnection.
//!
//! Waits end as soon as the bytes are there. The only deliberate pauses are protocol
//! timings: the silence around `+++`, a server that stays down while the module retries,
//! and the 300 ms a passive-mode peer must stay blocked to count as flow-controlled.
//!
//! `DATA_PATH_TRACE_DIR=<dir>` makes every modem write a `--trace` file named after its
//! test into `<dir>` (large for the bulk tests; tracing also slows the modem down).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use at_e2e_tests::{port_writer, Host, Modem, PATIENCE};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

const MIB: usize = 1024 * 1024;
/// The bulk transfer size.
const BIG: usize = 10 * MIB;
/// Most payload bytes in one `+IPD` message.
const IPD_MAX: usize = 2920;
/// Largest `AT+CIPSEND` payload on the W800.
const CIPSEND_MAX: usize = 5760;
const QUIET: Duration = Duration::from_millis(100);
/// Silence before and after `+++`: the guard is 30 ms; the W800 document asks for 1 s
/// before the next command.
const ESCAPE_SILENCE: Duration = Duration::from_secs(1);
const PROMPT: &[u8] = b"\r\nOK\r\n\r\n>";
const IPD: &[u8] = b"\r\n+IPD,";

// ---------------------------------------------------------------------------------------
// Checking bytes

/// Length and 64-bit FNV-1a hash of a byte stream.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Digest {
    len: u64,
    hash: u64,
}

impl Digest {
    const fn new() -> Digest {
        Digest {
            len: 0,
            hash: 0xcbf2_9ce4_8422_2325,
        }
    }

    fn update(&mut self, data: &[u8]) {
        let mut h = self.hash;
        for &b in data {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.hash = h;
        self.len += data.len() as u64;
    }

    fn of(data: &[u8]) -> Digest {
        let mut d = Digest::new();
        d.update(data);
        d
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes, fnv1a {:016x}", self.len, self.hash)
    }
}

/// `len` pseudo-random bytes (xorshift64); long ones contain all 256 values.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    if len >= 4096 {
        let mut seen = [false; 256];
        for &b in &out {
            seen[usize::from(b)] = true;
        }
        assert!(seen.iter().all(|&s| s), "pattern lacks a byte value");
    }
    out
}

fn all_bytes() -> Vec<u8> {
    (0..=255).collect()
}

fn mib_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / MIB as f64 / d.as_secs_f64()
}

// ---------------------------------------------------------------------------------------
// The module and the peers

/// A modem that joined the lab AP, echo off.
fn join(extra: &[&str]) -> (Modem, Host) {
    let mut args = vec!["--ap", "lab:secret123"];
    let trace = std::env::var("DATA_PATH_TRACE_DIR").ok().map(|d| {
        format!(
            "{d}/{}.trace",
            std::thread::current().name().unwrap_or("test")
        )
    });
    if let Some(t) = &trace {
        args.extend(["--trace", t.as_str()]);
    }
    args.extend_from_slice(extra);
    let (modem, mut host) = Modem::on_pty(&args);
    host.expect(b"\r\nready\r\n");
    host.chat(b"ATE0\r\n", b"ATE0\r\n\r\nOK\r\n");
    host.chat(
        b"AT+CWJAP=\"lab\",\"secret123\"\r\n",
        b"WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n",
    );
    (modem, host)
}

fn listen() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind a loopback server")
}

fn port_of(listener: &TcpListener) -> u16 {
    listener.local_addr().unwrap().port()
}

/// Waits up to `timeout` for the modem to connect; `None` if it did not.
fn try_accept(listener: &TcpListener, timeout: Duration) -> Option<TcpStream> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32 + 1).unwrap();
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(0) => return None,
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => panic!("poll: {e}"),
        }
    }
    let (stream, _) = listener.accept().expect("accept");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.set_write_timeout(Some(PATIENCE)).unwrap();
    Some(stream)
}

fn accept(listener: &TcpListener) -> TcpStream {
    try_accept(listener, PATIENCE).expect("the modem never connected to the server")
}

/// Reads exactly `n` bytes from a peer socket.
fn peer_read(peer: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    peer.read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("peer: reading {n} bytes: {e}"));
    buf
}

/// Asserts that the modem closes the peer's socket with nothing more sent.
fn peer_sees_end(peer: &mut TcpStream) {
    let mut extra = Vec::new();
    match peer.read_to_end(&mut extra) {
        Ok(_) => assert!(extra.is_empty(), "extra bytes reached the peer: {extra:?}"),
        Err(e) => panic!("peer: waiting for the end of the stream: {e}"),
    }
}

/// A peer thread draining a socket to its end.
struct Drain {
    progress: Arc<AtomicU64>,
    mark: mpsc::Receiver<Instant>,
    handle: JoinHandle<Result<Digest, String>>,
}

impl Drain {
    /// Reads `s` until the end of the stream, hashing; reports when `mark` bytes were in.
    fn spawn(mut s: TcpStream, mark: u64) -> Drain {
        let progress = Arc::new(AtomicU64::new(0));
        let (tx, rx) = mpsc::channel();
        let p = progress.clone();
        let handle = thread::spawn(move || {
            let mut d = Digest::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => return Ok(d),
                    Ok(n) => {
                        let before = d.len;
                        d.update(&buf[..n]);
                        p.store(d.len, Ordering::Relaxed);
                        if before < mark && d.len >= mark {
                            let _ = tx.send(Instant::now());
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("peer read failed after {:?}: {e}", d)),
                }
            }
        });
        Drain {
            progress,
            mark: rx,
            handle,
        }
    }

    /// Waits for the mark; fails when the stream stalls for [`PATIENCE`].
    fn wait_mark(&self) -> Instant {
        let mut last = self.progress.load(Ordering::Relaxed);
        loop {
            match self.mark.recv_timeout(PATIENCE) {
                Ok(at) => return at,
                Err(_) => {
                    let now = self.progress.load(Ordering::Relaxed);
                    assert!(now > last, "the peer's stream stalled at {now} bytes");
                    last = now;
                }
            }
        }
    }

    fn finish(self) -> Digest {
        self.handle
            .join()
            .expect("peer thread panicked")
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Writes `data` from a thread; returns when it was all written.
fn spawn_write<W: Write + Send + 'static>(
    mut w: W,
    data: Vec<u8>,
) -> JoinHandle<Result<Instant, String>> {
    thread::spawn(move || {
        w.write_all(&data)
            .and_then(|()| w.flush())
            .map_err(|e| format!("writing {} bytes: {e}", data.len()))?;
        Ok(Instant::now())
    })
}

fn joined<T>(h: JoinHandle<Result<T, String>>) -> T {
    h.join()
        .expect("writer thread panicked")
        .unwrap_or_else(|e| panic!("{e}"))
}

fn cipstart(id: Option<usize>, ty: &str, ip: &str, port: u16) -> Vec<u8> {
    match id {
        Some(id) => format!("AT+CIPSTART={id},\"{ty}\",\"{ip}\",{port}\r\n"),
        None => format!("AT+CIPSTART=\"{ty}\",\"{ip}\",{port}\r\n"),
    }
    .into_bytes()
}

// ---------------------------------------------------------------------------------------
// Parsing what the modem says between and around responses

/// What came next from the modem.
#[derive(Debug, PartialEq, Eq)]
enum Msg {
    /// An active-mode `+IPD` frame of link `.0` with `.1` payload bytes (given to the
    /// link's sink).
    Data(usize, usize),
    /// A passive-mode `+IPD,<id>,<total>` notification.
    Waiting(usize, usize),
    /// `CLOSED` (single connection: link 0).
    Closed(usize),
    /// The bytes the caller expected.
    Want,
}

/// Received payload of one link.
#[derive(Default)]
struct Sink {
    digest: Option<Digest>,
    frames: usize,
    largest: usize,
    /// Bytes on the wire for this link's frames, headers included.
    wire: usize,
    /// The payload itself, when asked to keep it.
    kept: Option<Vec<u8>>,
    /// `"<ip>",<port>` of the last frame, with `AT+CIPDINFO=1`.
    remote: Option<String>,
}

impl Sink {
    fn len(&self) -> usize {
        self.digest.map_or(0, |d| d.len as usize)
    }

    fn digest(&self) -> Digest {
        self.digest.unwrap_or(Digest::new())
    }
}

/// The receive side as the host configured it.
struct Rx {
    mux: bool,
    passive: bool,
    dinfo: bool,
    links: [Sink; 5],
}

impl Rx {
    fn new(mux: bool) -> Rx {
        Rx {
            mux,
            passive: false,
            dinfo: false,
            links: Default::default(),
        }
    }

    fn keep(mut self, id: usize) -> Rx {
        self.links[id].kept = Some(Vec::new());
        self
    }

    /// Takes the link's kept payload so far.
    fn take_kept(&mut self, id: usize) -> Vec<u8> {
        std::mem::take(self.links[id].kept.as_mut().expect("payload not kept"))
    }

    /// Reads the next message: `want`, or an unsolicited `+IPD` or `CLOSED` (whole, never
    /// inside another message). Anything else fails.
    fn next(&mut self, host: &mut Host, want: &[u8]) -> Msg {
        let closed: Vec<Vec<u8>> = if self.mux {
            (0..5)
                .map(|id| format!("\r\n{id},CLOSED\r\n").into_bytes())
                .collect()
        } else {
            vec![b"\r\nCLOSED\r\n".to_vec()]
        };
        let mut need = 1;
        loop {
            let p = host.peek(need, PATIENCE).to_vec();
            assert!(
                p.len() >= need,
                "waiting for {:?} or +IPD/CLOSED, the modem went quiet after {:?} ({})",
                String::from_utf8_lossy(want),
                String::from_utf8_lossy(&p),
                self.progress()
            );
            if p.starts_with(IPD) {
                host.consume(IPD.len());
                return self.frame(host);
            }
            if let Some(id) = closed.iter().position(|c| p.starts_with(c)) {
                host.consume(closed[id].len());
                return Msg::Closed(id);
            }
            if !want.is_empty() && p.starts_with(want) {
                host.consume(want.len());
                return Msg::Want;
            }
            let could_be = |c: &[u8]| p.len() < c.len() && c.starts_with(&p);
            assert!(
                could_be(IPD) || closed.iter().any(|c| could_be(c)) || could_be(want),
                "expected {:?} or +IPD/CLOSED, got {:?}",
                String::from_utf8_lossy(want),
                String::from_utf8_lossy(&p[..p.len().min(200)])
            );
            need = p.len() + 1;
        }
    }

    /// Payload received so far, per link that got any.
    fn progress(&self) -> String {
        let got: Vec<String> = (0..5)
            .filter(|&id| self.links[id].frames > 0)
            .map(|id| {
                format!(
                    "link {id}: {} B in {} frames",
                    self.links[id].len(),
                    self.links[id].frames
                )
            })
            .collect();
        if got.is_empty() {
            "no +IPD data so far".into()
        } else {
            got.join(", ")
        }
    }

    /// Parses an `+IPD` message after its `\r\n+IPD,`.
    fn frame(&mut self, host: &mut Host) -> Msg {
        let header = if self.passive {
            let mut h = host.read_until(b"\r\n");
            h.truncate(h.len() - 2);
            h
        } else {
            // Up to the ':' that is not inside a quoted (IPv6) address.
            let mut need = 1;
            loop {
                let p = host.peek(need, PATIENCE);
                let mut quoted = false;
                let end = p.iter().position(|&b| {
                    quoted ^= b == b'"';
                    b == b':' && !quoted
                });
                if let Some(end) = end {
                    let mut h = host.consume(end + 1);
                    h.pop();
                    break h;
                }
                assert!(
                    p.len() >= need && p.len() < 80,
                    "bad +IPD header {:?}",
                    String::from_utf8_lossy(p)
                );
                need = p.len() + 1;
            }
        };
        let text = String::from_utf8(header).expect("+IPD header is text");
        let fields: Vec<&str> = text.split(',').collect();
        let base = usize::from(self.mux);
        let extra = if self.dinfo && !self.passive { 2 } else { 0 };
        assert_eq!(fields.len(), base + 1 + extra, "+IPD header {text:?}");
        let id = if self.mux { number(fields[0]) } else { 0 };
        assert!(id < 5, "+IPD header {text:?}");
        let len = number(fields[base]);
        if self.passive {
            return Msg::Waiting(id, len);
        }
        assert!(
            (1..=IPD_MAX).contains(&len),
            "+IPD of {len} bytes (most {IPD_MAX})"
        );
        let data = host.read_exact_bytes(len);
        host.expect(b"\r\n");
        let sink = &mut self.links[id];
        if extra > 0 {
            let ip = fields[base + 1];
            assert!(
                ip.len() > 2 && ip.starts_with('"') && ip.ends_with('"'),
                "{text:?}"
            );
            let port = number(fields[base + 2]);
            sink.remote = Some(format!("{ip},{port}"));
        }
        sink.digest.get_or_insert(Digest::new()).update(&data);
        sink.frames += 1;
        sink.largest = sink.largest.max(len);
        sink.wire += IPD.len() + text.len() + 1 + len + 2;
        if let Some(kept) = &mut sink.kept {
            kept.extend_from_slice(&data);
        }
        Msg::Data(id, len)
    }
}

/// A decimal number as the modem writes it (no sign, no leading zeros).
fn number(s: &str) -> usize {
    let n: usize = s.parse().unwrap_or_else(|_| panic!("not a number: {s:?}"));
    assert_eq!(n.to_string(), s, "not in canonical form");
    n
}

/// Leaves transparent mode the way the protocol says: silence, a lone `+++`, silence
/// (the module prints nothing); then the command mode answers.
fn leave_transparent(host: &mut Host) {
    host.expect_silence(ESCAPE_SILENCE);
    host.send(b"+++");
    host.expect_silence(ESCAPE_SILENCE);
    host.chat(b"AT\r\n", b"\r\nOK\r\n");
}

// ---------------------------------------------------------------------------------------
// 1. Transparent mode

/// A transparent link to a fresh local server, in data mode: the modem, the host and the
/// server's end.
fn transparent_link() -> (Modem, Host, TcpStream) {
    let (modem, mut host) = join(&[]);
    let listener = listen();
    host.chat(b"AT+CIPMODE=1\r\n", b"\r\nOK\r\n");
    host.chat(
        &cipstart(None, "TCP", "127.0.0.1", port_of(&listener)),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let peer = accept(&listener);
    host.chat(b"AT+CIPSEND\r\n", PROMPT);
    (modem, host, peer)
}

/// Leaves data mode with `+++`, closes the link and checks that the peer got exactly
/// `want` (so `+++` was not sent as data).
fn leave_and_close(mut host: Host, drain: Drain, want: Digest) {
    leave_transparent(&mut host);
    host.chat(b"AT+CIPMODE?\r\n", b"+CIPMODE:1\r\n\r\nOK\r\n");
    host.chat(b"AT+CIPCLOSE\r\n", b"CLOSED\r\n\r\nOK\r\n");
    assert_eq!(
        drain.finish(),
        want,
        "host -> peer, to the end of the stream"
    );
    host.expect_silence(QUIET);
}

#[test]
fn transparent_mode_carries_10_mib_up_and_leaves_with_plus_plus_plus() {
    let (modem, host, peer) = transparent_link();
    let up = pattern(1, BIG);
    let want = Digest::of(&up);
    let start = Instant::now();
    let drain = Drain::spawn(peer.try_clone().unwrap(), BIG as u64);
    let host_writer = spawn_write(port_writer(&modem), up);
    let up_time = drain.wait_mark() - start;
    let host_wrote = joined(host_writer) - start;
    println!(
        "transparent, host->peer only: {BIG} B in {up_time:.2?} ({:.1} MiB/s; host writes \
         done after {host_wrote:.2?})",
        mib_per_s(BIG, up_time),
    );
    leave_and_close(host, drain, want);
}

#[test]
fn transparent_mode_carries_10_mib_each_way_at_once() {
    let (modem, mut host, peer) = transparent_link();
    let up = pattern(1, BIG);
    let down = pattern(2, BIG);
    let (want_up, want_down) = (Digest::of(&up), Digest::of(&down));
    let start = Instant::now();
    let drain = Drain::spawn(peer.try_clone().unwrap(), BIG as u64);
    let peer_writer = spawn_write(peer.try_clone().unwrap(), down);
    let host_writer = spawn_write(port_writer(&modem), up);

    // The host reads the raw stream while its writer thread writes.
    let mut got = Digest::new();
    let mut buf = vec![0u8; 64 * 1024];
    while got.len < BIG as u64 {
        let room = (BIG - got.len as usize).min(buf.len());
        let n = host.read_some(&mut buf[..room], PATIENCE);
        assert!(n > 0, "the stream to the host stalled after {got:?}");
        got.update(&buf[..n]);
    }
    let down_time = start.elapsed();
    assert_eq!(got, want_down, "peer -> host");
    let up_time = drain.wait_mark() - start;
    let host_wrote = joined(host_writer) - start;
    joined(peer_writer);
    println!(
        "transparent, both ways at once: host->peer {BIG} B in {up_time:.2?} ({:.1} MiB/s; \
         host writes done after {host_wrote:.2?}), peer->host {BIG} B in {down_time:.2?} \
         ({:.1} MiB/s)",
        mib_per_s(BIG, up_time),
        mib_per_s(BIG, down_time)
    );
    // Nothing more arrives; `+++` leaves data mode and is not data.
    leave_and_close(host, drain, want_up);
}

// ---------------------------------------------------------------------------------------
// 2. Active receive to a host paced like a 4 Mbaud UART

#[test]
fn active_receive_of_10_mib_to_a_paced_host_loses_nothing() {
    const BAUD: usize = 4_000_000;
    let (_modem, mut host) = join(&["--baud", "4000000"]);
    let listener = listen();
    host.chat(
        &cipstart(None, "TCP", "127.0.0.1", port_of(&listener)),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let peer = accept(&listener);
    let down = pattern(3, BIG);
    let want = Digest::of(&down);
    let start = Instant::now();
    // The peer writes everything and closes: CLOSED must follow the last byte.
    let writer = spawn_write(peer, down);
    let mut rx = Rx::new(false);
    while rx.links[0].len() < BIG {
        match rx.next(&mut host, b"") {
            Msg::Data(0, _) => {}
            other => panic!("{other:?} after {} bytes", rx.links[0].len()),
        }
    }
    let took = start.elapsed();
    assert_eq!(rx.links[0].digest(), want);
    assert!(rx.links[0].largest <= IPD_MAX);
    assert_eq!(rx.next(&mut host, b""), Msg::Closed(0));
    let sink = &rx.links[0];
    joined(writer);
    host.expect_silence(QUIET);
    println!(
        "active +IPD at {BAUD} baud: {BIG} B in {took:.2?} = {:.0} kB/s payload in {} frames \
         (largest {}), {:.1}% of the line's {} kB/s",
        BIG as f64 / took.as_secs_f64() / 1000.0,
        sink.frames,
        sink.largest,
        sink.wire as f64 / took.as_secs_f64() / (BAUD as f64 / 10.0) * 100.0,
        BAUD / 10 / 1000,
    );
}

// ---------------------------------------------------------------------------------------
// 3. Passive receive

/// What the flow-controlled peer saw.
struct FlowReport {
    /// Bytes it had sent when its socket stopped taking more while the host read nothing.
    stalled_at: mpsc::Receiver<usize>,
    handle: JoinHandle<Result<u64, String>>,
}

/// Sends `data` with a small send buffer and closes; reports the first time its socket
/// stays full for `stall` (the host is not reading yet, so only flow control can hold
/// it); the thread returns how much the host had read when the last byte was written.
fn spawn_flow_peer(
    stream: TcpStream,
    data: Vec<u8>,
    host_read: Arc<AtomicU64>,
    stall: Duration,
) -> FlowReport {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let mut stream = stream;
        socket2::SockRef::from(&stream)
            .set_send_buffer_size(64 * 1024)
            .map_err(|e| e.to_string())?;
        stream.set_nonblocking(true).map_err(|e| e.to_string())?;
        let mut tx = Some(tx);
        let mut sent = 0;
        while sent < data.len() {
            match stream.write(&data[sent..(sent + 64 * 1024).min(data.len())]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    let wait = if tx.is_some() { stall } else { PATIENCE };
                    let ms = PollTimeout::try_from(wait.as_millis() as i32).unwrap();
                    let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLOUT)];
                    match poll(&mut fds, ms) {
                        Ok(0) => match tx.take() {
                            Some(tx) => {
                                let _ = tx.send(sent);
                            }
                            None => return Err(format!("peer blocked for good at {sent} bytes")),
                        },
                        Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                        Err(e) => return Err(format!("poll: {e}")),
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("peer write failed at {sent}: {e}")),
            }
        }
        let read = host_read.load(Ordering::Relaxed);
        drop(stream);
        Ok(read)
    });
    FlowReport {
        stalled_at: rx,
        handle,
    }
}

#[test]
fn passive_receive_of_10_mib_flow_controls_the_peer() {
    let (_modem, mut host) = join(&[]);
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPRECVMODE=1\r\n", b"\r\nOK\r\n");
    let listener = listen();
    host.chat(
        &cipstart(Some(0), "TCP", "127.0.0.1", port_of(&listener)),
        b"0,CONNECT\r\n\r\nOK\r\n",
    );
    let peer = accept(&listener);
    let down = pattern(4, BIG);
    let want = Digest::of(&down);
    let host_read = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let flow = spawn_flow_peer(peer, down, host_read.clone(), Duration::from_millis(300));
    let mut rx = Rx::new(true);
    rx.passive = true;

    // The first notification; none follows until the host reads.
    match rx.next(&mut host, b"") {
        Msg::Waiting(0, total) => assert!((1..=BIG).contains(&total), "+IPD,0,{total}"),
        other => panic!("{other:?}"),
    }
    // With nobody reading, the peer cannot push 10 MiB: its socket fills and stays full.
    let stalled_at = flow
        .stalled_at
        .recv_timeout(3 * PATIENCE)
        .expect("the peer was never held up while the host read nothing: no flow control");
    assert!(stalled_at < BIG);
    host.send(b"AT+CIPRECVLEN?\r\n");
    assert_eq!(rx.next(&mut host, b"+CIPRECVLEN:"), Msg::Want);
    let lens = String::from_utf8(host.read_until(b"\r\n\r\nOK\r\n")).unwrap();
    let lens: Vec<&str> = lens.trim_end_matches("\r\n\r\nOK\r\n").split(',').collect();
    assert_eq!(lens.len(), 5, "{lens:?}");
    assert_eq!(&lens[1..], ["-1", "-1", "-1", "-1"]);
    let buffered = number(lens[0]);
    assert!(
        buffered > 0 && buffered <= stalled_at,
        "CIPRECVLEN {buffered} with {stalled_at} sent"
    );

    // Read it all: wait for +IPD when nothing is known to wait, else read 2920 at a time.
    let mut got = Digest::new();
    let (mut reads, mut notes) = (0usize, 0usize);
    // Data is known to wait (announced by +IPD, or the last read was full).
    let mut announced = true;
    while (got.len as usize) < BIG {
        if !announced {
            match rx.next(&mut host, b"") {
                Msg::Waiting(0, total) => {
                    assert!(
                        (1..=BIG - got.len as usize).contains(&total),
                        "+IPD,0,{total}"
                    );
                    notes += 1;
                    announced = true;
                }
                Msg::Closed(0) => panic!("0,CLOSED with {} of {BIG} bytes read", got.len),
                other => panic!("{other:?}"),
            }
            continue;
        }
        host.send(b"AT+CIPRECVDATA=0,2920\r\n");
        loop {
            match rx.next(&mut host, b"+CIPRECVDATA:") {
                Msg::Want => break,
                Msg::Waiting(0, total) => {
                    assert!(
                        (1..=BIG - got.len as usize).contains(&total),
                        "+IPD,0,{total}"
                    );
                    notes += 1;
                }
                Msg::Closed(0) => panic!("0,CLOSED with {} of {BIG} bytes read", got.len),
                other => panic!("{other:?}"),
            }
        }
        let head = host.read_until(b",");
        let n = number(std::str::from_utf8(&head[..head.len() - 1]).unwrap());
        assert!(n <= IPD_MAX, "+CIPRECVDATA:{n} for 2920 asked");
        let data = host.read_exact_bytes(n);
        host.expect(b"\r\nOK\r\n");
        got.update(&data);
        host_read.store(got.len, Ordering::Relaxed);
        reads += 1;
        // A short read emptied the buffer: the next +IPD announces more.
        announced = n == IPD_MAX;
    }
    let took = start.elapsed();
    assert_eq!(got, want);
    // The peer closed right after its last byte: CLOSED only now, after all was read.
    assert_eq!(rx.next(&mut host, b""), Msg::Closed(0));
    host.chat(
        b"AT+CIPRECVLEN?\r\n",
        b"+CIPRECVLEN:-1,-1,-1,-1,-1\r\n\r\nOK\r\n",
    );
    let read_when_peer_done = joined(flow.handle);
    host.expect_silence(QUIET);
    println!(
        "passive: {BIG} B in {took:.2?} ({:.1} MiB/s) with {reads} AT+CIPRECVDATA and {notes} \
         +IPD notices; the peer stalled after {stalled_at} B with {buffered} B buffered in the \
         module; the peer's last write went out when the host had read {read_when_peer_done} B \
         ({} B before the end)",
        mib_per_s(BIG, took),
        BIG as u64 - read_when_peer_done,
    );
}

// ---------------------------------------------------------------------------------------
// 4. Every byte value through the length-framed commands

#[test]
fn every_byte_value_through_cipsend_cipsendex_cipsendl_and_ipd() {
    let (modem, mut host) = join(&[]);
    let listener = listen();
    let server_port = port_of(&listener);
    host.chat(
        &cipstart(None, "TCP", "127.0.0.1", server_port),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let mut peer = accept(&listener);
    let all = all_bytes();

    // AT+CIPSEND=<len>: 256 values, then the largest payload.
    let mut largest = all.clone();
    largest.extend_from_slice(&pattern(5, CIPSEND_MAX - 256));
    for payload in [&all, &largest] {
        host.chat(
            format!("AT+CIPSEND={}\r\n", payload.len()).as_bytes(),
            PROMPT,
        );
        host.send(payload);
        host.expect(format!("\r\nRecv {} bytes\r\n\r\nSEND OK\r\n", payload.len()).as_bytes());
        let got = peer_read(&mut peer, payload.len());
        assert_eq!(Digest::of(&got), Digest::of(payload));
        assert!(got == *payload);
    }
    host.chat(
        format!("AT+CIPSEND={}\r\n", CIPSEND_MAX + 1).as_bytes(),
        b"\r\nERROR\r\n",
    );

    // +IPD: the same both sizes down, plus the sender with AT+CIPDINFO=1.
    let mut rx = Rx::new(false).keep(0);
    for payload in [&all, &largest] {
        peer.write_all(payload).unwrap();
        while rx.links[0].kept.as_ref().unwrap().len() < payload.len() {
            match rx.next(&mut host, b"") {
                Msg::Data(0, _) => {}
                other => panic!("{other:?}"),
            }
        }
        let got = rx.take_kept(0);
        assert_eq!(Digest::of(&got), Digest::of(payload));
        assert!(got == *payload);
    }
    host.chat(b"AT+CIPDINFO=1\r\n", b"\r\nOK\r\n");
    rx.dinfo = true;
    peer.write_all(&all).unwrap();
    while rx.links[0].kept.as_ref().unwrap().len() < all.len() {
        match rx.next(&mut host, b"") {
            Msg::Data(0, _) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(rx.take_kept(0) == all);
    assert_eq!(
        rx.links[0].remote.as_deref(),
        Some(format!("\"127.0.0.1\",{server_port}").as_str())
    );
    host.chat(b"AT+CIPDINFO=0\r\n", b"\r\nOK\r\n");
    rx.dinfo = false;
    assert!(rx.links[0].largest <= IPD_MAX);

    // AT+CIPSENDEX: all values with `\` doubled, ended early by `\0`.
    let mut escaped = Vec::new();
    for &b in &all {
        if b == b'\\' {
            escaped.push(b'\\');
        }
        escaped.push(b);
    }
    escaped.extend_from_slice(b"\\0");
    host.chat(b"AT+CIPSENDEX=5760\r\n", PROMPT);
    host.send(&escaped);
    let answer = String::from_utf8(host.read_until(b"\r\nSEND OK\r\n")).unwrap();
    let n = answer
        .strip_prefix("\r\nRecv ")
        .and_then(|r| r.strip_suffix(" bytes\r\n\r\nSEND OK\r\n"))
        .map(number)
        .unwrap_or_else(|| panic!("{answer:?}"));
    // The document does not say whether the count is of payload or of input bytes.
    assert!(n == all.len() || n == escaped.len(), "{answer:?}");
    println!(
        "CIPSENDEX: {} input bytes for {} payload bytes: \"Recv {n} bytes\"",
        escaped.len(),
        all.len()
    );
    assert!(peer_read(&mut peer, 256) == all);
    // `\\0` is a backslash and a zero; `\0` ends; a length reached ends too.
    host.chat(b"AT+CIPSENDEX=64\r\n", PROMPT);
    host.send(b"a\\\\0b\\0");
    host.read_until(b"\r\nSEND OK\r\n");
    assert_eq!(peer_read(&mut peer, 4), b"a\\0b");
    host.chat(b"AT+CIPSENDEX=4\r\n", PROMPT);
    host.send(b"wxyz");
    host.expect(b"\r\nRecv 4 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(peer_read(&mut peer, 4), b"wxyz");

    // AT+CIPSENDL: 100 000 bytes streamed, progress every 1024 bytes sent (default
    // report size), handed over in blocks of at most 2920 (default transmit size).
    const LONG: usize = 100_000;
    const REPORT: usize = 1024;
    const BLOCK: usize = 2920;
    let long = pattern(6, LONG);
    let want = Digest::of(&long);
    host.chat(format!("AT+CIPSENDL={LONG}\r\n").as_bytes(), PROMPT);
    let writer = spawn_write(port_writer(&modem), long);
    let mut reader = peer.try_clone().unwrap();
    let peer_reader = thread::spawn(move || Digest::of(&peer_read(&mut reader, LONG)));
    let mut reports: Vec<(usize, usize)> = Vec::new();
    while host.peek(1, PATIENCE).first() == Some(&b'+') {
        let line = String::from_utf8(host.read_until(b"\r\n")).unwrap();
        let (sent, received) = line
            .strip_prefix("+CIPSENDL:")
            .and_then(|r| r.strip_suffix("\r\n"))
            .and_then(|r| r.split_once(','))
            .unwrap_or_else(|| panic!("{line:?}"));
        reports.push((number(sent), number(received)));
    }
    host.expect(b"\r\nSEND OK\r\n");
    joined(writer);
    assert_eq!(peer_reader.join().unwrap(), want);
    let mut last = 0;
    for &(sent, received) in &reports {
        assert!(
            sent <= received && received <= LONG,
            "+CIPSENDL:{sent},{received}"
        );
        assert!(sent / REPORT > last / REPORT, "reports {reports:?}");
        assert!(sent - last < REPORT + BLOCK, "reports {reports:?}");
        last = sent;
    }
    assert!(LONG - last < REPORT + BLOCK, "reports {reports:?}");
    println!(
        "CIPSENDL: {} progress reports, first {:?}, last {:?}",
        reports.len(),
        reports.first(),
        reports.last()
    );

    host.chat(b"AT+CIPCLOSE\r\n", b"CLOSED\r\n\r\nOK\r\n");
    peer_sees_end(&mut peer);
    host.expect_silence(QUIET);
}

// ---------------------------------------------------------------------------------------
// 5. Several links at once

#[test]
fn three_links_at_once_keep_their_data_apart() {
    const ROUNDS: usize = 12;
    const DOWN: usize = 256 * 1024;
    let (_modem, mut host) = join(&[]);
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    // Two IPv4 servers and, where the host has it, one on ::1.
    let mut servers = vec![listen(), listen()];
    let v6 = TcpListener::bind("[::1]:0");
    let (ty3, ip3) = if v6.is_ok() {
        ("TCPv6", "::1")
    } else {
        println!("no ::1 here: the third link uses IPv4 too");
        ("TCP", "127.0.0.1")
    };
    servers.push(v6.unwrap_or_else(|_| listen()));
    let mut peers = Vec::new();
    for (id, server) in servers.iter().enumerate() {
        let (ty, ip) = if id == 2 {
            (ty3, ip3)
        } else {
            ("TCP", "127.0.0.1")
        };
        host.chat(
            &cipstart(Some(id), ty, ip, port_of(server)),
            format!("{id},CONNECT\r\n\r\nOK\r\n").as_bytes(),
        );
        peers.push(accept(server));
    }
    let size = |round: usize, id: usize| 1 + (round * 1237 + id * 4099) % CIPSEND_MAX;
    let mut ups = Vec::new();
    let mut downs = Vec::new();
    let mut drains = Vec::new();
    let mut writers = Vec::new();
    for (id, peer) in peers.iter().enumerate() {
        let total: usize = (0..ROUNDS).map(|r| size(r, id)).sum();
        ups.push(pattern(10 + id as u64, total));
        let down = pattern(20 + id as u64, DOWN);
        downs.push(Digest::of(&down));
        drains.push(Drain::spawn(peer.try_clone().unwrap(), total as u64));
        writers.push(spawn_write(peer.try_clone().unwrap(), down));
    }

    // The host sends on each link in turn while all three peers stream to it.
    let mut rx = Rx::new(true);
    let mut offsets = [0usize; 3];
    for round in 0..ROUNDS {
        for id in 0..3 {
            let len = size(round, id);
            host.send(format!("AT+CIPSEND={id},{len}\r\n").as_bytes());
            while rx.next(&mut host, PROMPT) != Msg::Want {}
            host.send(&ups[id][offsets[id]..offsets[id] + len]);
            offsets[id] += len;
            let recv = format!("\r\nRecv {len} bytes\r\n");
            while rx.next(&mut host, recv.as_bytes()) != Msg::Want {}
            while rx.next(&mut host, b"\r\nSEND OK\r\n") != Msg::Want {}
        }
    }
    while rx.links[..3].iter().any(|l| l.len() < DOWN) {
        match rx.next(&mut host, b"") {
            Msg::Data(id, _) if id < 3 => {}
            other => panic!("{other:?}"),
        }
    }
    for (id, want) in downs.iter().enumerate() {
        assert_eq!(rx.links[id].digest(), *want, "link {id}, peer -> host");
        assert!(rx.links[id].largest <= IPD_MAX);
    }
    for w in writers {
        joined(w);
    }
    for id in 0..3 {
        host.send(format!("AT+CIPCLOSE={id}\r\n").as_bytes());
        let closed = format!("{id},CLOSED\r\n\r\nOK\r\n");
        assert_eq!(rx.next(&mut host, closed.as_bytes()), Msg::Want);
    }
    for (id, drain) in drains.into_iter().enumerate() {
        assert_eq!(
            drain.finish(),
            Digest::of(&ups[id]),
            "link {id}, host -> peer"
        );
    }
    host.expect_silence(QUIET);
    println!(
        "three links: up {:?} B, down {DOWN} B each, frames {:?}",
        offsets,
        rx.links[..3].iter().map(|l| l.frames).collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------------------
// 6. A peer closing with data still buffered

#[test]
fn peer_closing_with_data_buffered_gets_closed_after_all_ipd() {
    const LEN: usize = 64 * 1024;
    const BAUD: usize = 1_000_000;
    // A 1 Mbaud port (100 kB/s) keeps the data in the module's buffers when the peer
    // closes.
    let (_modem, mut host) = join(&["--baud", "1000000"]);
    host.chat(b"AT+CIPMUX=1\r\n", b"\r\nOK\r\n");
    let listener = listen();
    host.chat(
        &cipstart(Some(3), "TCP", "127.0.0.1", port_of(&listener)),
        b"3,CONNECT\r\n\r\nOK\r\n",
    );
    let peer = accept(&listener);
    let data = pattern(7, LEN);
    let want = Digest::of(&data);
    let closed = Arc::new(AtomicBool::new(false));
    let peer_closed = closed.clone();
    let start = Instant::now();
    let peer = thread::spawn(move || {
        let mut peer = peer;
        peer.write_all(&data).unwrap();
        drop(peer);
        peer_closed.store(true, Ordering::SeqCst);
    });
    let mut rx = Rx::new(true);
    let mut read_at_close = None;
    loop {
        let before = rx.links[3].len();
        if read_at_close.is_none() && closed.load(Ordering::SeqCst) {
            read_at_close = Some(before);
        }
        match rx.next(&mut host, b"") {
            Msg::Data(3, _) => {}
            Msg::Closed(3) => {
                assert_eq!(before, LEN, "3,CLOSED before all data");
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let took = start.elapsed();
    peer.join().unwrap();
    let sink = &rx.links[3];
    assert_eq!(sink.digest(), want);
    let read_at_close = read_at_close.expect("the peer had not closed by the end");
    assert!(
        read_at_close < LEN,
        "the peer closed only after the host had everything: nothing was buffered"
    );
    host.expect_silence(QUIET);
    println!(
        "peer closed when the host had {read_at_close} of {LEN} B; all of it in {took:.2?} \
         ({:.0} kB/s payload, {} frames of {:.0} B on average, line {:.0}% busy)",
        LEN as f64 / took.as_secs_f64() / 1000.0,
        sink.frames,
        LEN as f64 / sink.frames as f64,
        sink.wire as f64 / took.as_secs_f64() / (BAUD as f64 / 10.0) * 100.0,
    );
}

// ---------------------------------------------------------------------------------------
// 7. Transparent mode reconnects

#[test]
fn transparent_mode_reconnects_after_the_server_restarts() {
    const INTERVAL: Duration = Duration::from_millis(200);
    let (modem, mut host) = join(&[]);
    host.chat(b"AT+CIPRECONNINTV=2\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+CIPMODE=1\r\n", b"\r\nOK\r\n");
    let listener = listen();
    let port = port_of(&listener);
    let addr: SocketAddr = listener.local_addr().unwrap();
    host.chat(
        &cipstart(None, "TCP", "127.0.0.1", port),
        b"CONNECT\r\n\r\nOK\r\n",
    );
    let mut first = accept(&listener);
    host.chat(b"AT+CIPSEND\r\n", PROMPT);
    host.send(b"first connection");
    assert_eq!(peer_read(&mut first, 16), b"first connection");
    first.write_all(b"hello host").unwrap();
    assert_eq!(host.read_exact_bytes(10), b"hello host");

    // The server drops the connection but keeps listening.
    drop(first);
    let dropped = Instant::now();
    let mut second = accept(&listener);
    let after_drop = dropped.elapsed();
    // The first attempt comes one interval after the module saw the link drop (its clock
    // counts whole milliseconds).
    assert!(
        after_drop >= INTERVAL - Duration::from_millis(5)
            && after_drop < 5 * INTERVAL + Duration::from_secs(1),
        "reconnected {after_drop:?} after the drop, interval {INTERVAL:?}"
    );
    host.send(b"second connection");
    assert_eq!(peer_read(&mut second, 17), b"second connection");
    second.write_all(b"hello again").unwrap();
    assert_eq!(host.read_exact_bytes(11), b"hello again");

    // The server goes away for a while (connections are refused), then listens again
    // on the same port.
    drop(second);
    drop(listener);
    let down = Instant::now();
    thread::sleep(3 * INTERVAL);
    let listener = TcpListener::bind(addr).expect("listen again on the same port");
    let mut third = accept(&listener);
    let after_restart = down.elapsed();
    let up = pattern(8, 256 * 1024);
    let back = pattern(9, 2000);
    let want_up = Digest::of(&up);
    let want_back = Digest::of(&back);
    let drain = Drain::spawn(third.try_clone().unwrap(), up.len() as u64);
    let writer = spawn_write(port_writer(&modem), up);
    third.write_all(&back).unwrap();
    let got = host.read_exact_bytes(back.len());
    assert_eq!(Digest::of(&got), want_back, "new peer -> host");
    drain.wait_mark();
    joined(writer);
    println!(
        "reconnect interval {INTERVAL:?}: back {after_drop:.2?} after the server dropped the \
         link, {after_restart:.2?} after it went down for {:?}",
        3 * INTERVAL
    );
    leave_and_close(host, drain, want_up);
}
