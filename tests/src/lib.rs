//! Drives the real `at-modem` binary as a host driver would: over a pty, a TCP port or
//! stdio, with exact-byte expectations and bounded waits (a wait ends as soon as the
//! expected bytes are there; the timeout only bounds a failing test).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// How long a test waits for bytes that should come at once; only a failing test waits
/// this long.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Runs a blocking socket call again when a signal interrupted it. A socket with a read
/// timeout (`SO_RCVTIMEO`) is never restarted after a signal handler ran, whatever
/// `SA_RESTART` says (signal(7)), so `recv_from`, `accept` and `read` on such sockets
/// can fail with `Interrupted` in a test process that spawns children.
pub fn retry_interrupted<T>(mut call: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    loop {
        match call() {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

/// The `at-modem` binary, built (once per test process) by the same cargo that runs the
/// tests, so it is never stale.
pub fn modem_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
        let out = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "at-platform-std",
                "--bin",
                "at-modem",
                "--message-format=json",
                "--manifest-path",
                manifest,
            ])
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo build for at-modem");
        assert!(out.status.success(), "building at-modem failed");
        let text = String::from_utf8_lossy(&out.stdout);
        let exe = text
            .lines()
            .filter(|l| l.contains("\"compiler-artifact\"") && l.contains("at-modem"))
            .find_map(|l| {
                let start = l.find("\"executable\":\"")? + "\"executable\":\"".len();
                let end = start + l[start..].find('"')?;
                Some(PathBuf::from(&l[start..end]))
            })
            .expect("cargo reported no at-modem executable");
        assert!(exe.exists(), "{exe:?} missing");
        exe
    })
}

/// A running `at-modem` process; killed on drop.
pub struct Modem {
    /// The child process.
    pub child: Child,
    /// Lines it wrote to stderr so far (logs).
    stderr: BufReader<ChildStderr>,
    /// Its temporary directory (pty link, state, trace).
    pub dir: tempfile::TempDir,
}

impl Modem {
    /// Starts `at-modem` with `args`; `{dir}` in an argument is replaced by the modem's
    /// temporary directory.
    pub fn start(args: &[&str]) -> Modem {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_str().expect("utf-8 temp path").to_owned();
        let args: Vec<String> = args.iter().map(|a| a.replace("{dir}", &d)).collect();
        let mut child = Command::new(modem_binary())
            .args(&args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn at-modem");
        let stderr = BufReader::new(child.stderr.take().expect("stderr"));
        Modem { child, stderr, dir }
    }

    /// Reads stderr lines until one contains `needle`; returns it.
    pub fn wait_log(&mut self, needle: &str) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.stderr.read_line(&mut line).expect("read modem stderr");
            assert!(n > 0, "at-modem exited before logging {needle:?}");
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// Starts a modem on a pty in its temp dir (plus `extra` arguments), waits for its
    /// `AT port:` line and opens the port as a host.
    pub fn on_pty(extra: &[&str]) -> (Modem, Host) {
        let mut args = vec!["--pty", "{dir}/at0"];
        args.extend_from_slice(extra);
        let mut m = Modem::start(&args);
        let line = m.wait_log("AT port:");
        let link = m.dir.path().join("at0");
        assert!(line.contains(link.to_str().unwrap()), "{line}");
        let host = Host::open(&link);
        (m, host)
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit status code.
    pub fn terminate(mut self) -> Option<i32> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("kill");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "at-modem ignored SIGTERM");
            // Waiting for a child process to exit has no readiness fd here; a short,
            // bounded back-off keeps this loop from spinning.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Modem {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The host side of the AT port.
pub struct Host {
    port: Box<dyn Port>,
    /// Bytes received but not yet matched by an expectation.
    pending: Vec<u8>,
}

/// A bidirectional byte stream the host talks over.
pub trait Port: Read + Write + AsFdBox {}
impl<T: Read + Write + AsFdBox> Port for T {}

/// Access to the fd for poll(2).
pub trait AsFdBox {
    /// The fd to poll for readability.
    fn fd(&self) -> std::os::fd::BorrowedFd<'_>;
}
impl AsFdBox for File {
    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.as_fd()
    }
}
impl AsFdBox for std::net::TcpStream {
    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.as_fd()
    }
}

impl Host {
    /// Opens a pty slave (or any tty path) as the host.
    pub fn open(path: &Path) -> Host {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_NOCTTY.bits())
            .open(path)
            .unwrap_or_else(|e| panic!("open {path:?}: {e}"));
        Host::over(Box::new(file))
    }

    /// A host over any port.
    pub fn over(port: Box<dyn Port>) -> Host {
        Host {
            port,
            pending: Vec::new(),
        }
    }

    /// Writes bytes to the modem.
    pub fn send(&mut self, bytes: &[u8]) {
        self.port.write_all(bytes).expect("write to modem");
        self.port.flush().expect("flush");
    }

    /// Reads until at least `n` bytes are pending or `timeout` passes.
    fn fill(&mut self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        while self.pending.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32 + 1)
                .unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.port.fd(), PollFlags::POLLIN)];
            match poll(&mut fds, ms) {
                Ok(0) => return,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => panic!("poll: {e}"),
            }
            match self.port.read(&mut buf) {
                Ok(0) => return,
                Ok(k) => self.pending.extend_from_slice(&buf[..k]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => panic!("read from modem: {e}"),
            }
        }
    }

    /// Expects exactly `want` as the next bytes from the modem.
    pub fn expect(&mut self, want: &[u8]) {
        self.fill(want.len(), PATIENCE);
        let got: Vec<u8> = self
            .pending
            .drain(..want.len().min(self.pending.len()))
            .collect();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want),
            "modem output (raw {:?})",
            got
        );
    }

    /// Sends `line` and expects `want` back.
    pub fn chat(&mut self, line: &[u8], want: &[u8]) {
        self.send(line);
        self.expect(want);
    }

    /// Asserts that nothing more arrives within `quiet` (used after a final result code).
    pub fn expect_silence(&mut self, quiet: Duration) {
        self.fill(1, quiet);
        assert!(
            self.pending.is_empty(),
            "unexpected output: {:?}",
            String::from_utf8_lossy(&self.pending)
        );
    }

    /// Reads until `needle` appears; returns everything up to and including it.
    pub fn read_until(&mut self, needle: &[u8]) -> Vec<u8> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(pos) = self.pending.windows(needle.len()).position(|w| w == needle) {
                return self.pending.drain(..pos + needle.len()).collect();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{:?} never came; got {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&self.pending)
            );
            let want = self.pending.len() + 1;
            self.fill(want, left);
        }
    }
}

/// Lower-level access for data-path tests: peeking at and consuming pending bytes and
/// reading raw payload (transparent mode, `+IPD` data) with exact lengths.
impl Host {
    /// Waits until at least `n` bytes are pending or `timeout` passes; returns all pending
    /// bytes (fewer than `n` on timeout or end of stream).
    pub fn peek(&mut self, n: usize, timeout: Duration) -> &[u8] {
        self.fill(n, timeout);
        &self.pending
    }

    /// Removes and returns the first `n` pending bytes (at most what is pending).
    pub fn consume(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.pending.len());
        self.pending.drain(..n).collect()
    }

    /// Reads exactly `n` bytes; fails if no byte arrives for [`PATIENCE`].
    pub fn read_exact_bytes(&mut self, n: usize) -> Vec<u8> {
        while self.pending.len() < n {
            let before = self.pending.len();
            self.fill(n, PATIENCE);
            assert!(
                self.pending.len() > before,
                "only {} of {n} bytes came; the last ones: {:?}",
                self.pending.len(),
                String::from_utf8_lossy(&self.pending[self.pending.len().saturating_sub(64)..])
            );
        }
        self.pending.drain(..n).collect()
    }

    /// Reads what is there into `buf`, pending bytes first, waiting up to `timeout` for
    /// the first byte; 0 when nothing came in time.
    pub fn read_some(&mut self, buf: &mut [u8], timeout: Duration) -> usize {
        if !self.pending.is_empty() {
            let n = self.pending.len().min(buf.len());
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            return n;
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return 0;
            }
            let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32 + 1)
                .unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.port.fd(), PollFlags::POLLIN)];
            match poll(&mut fds, ms) {
                Ok(0) => return 0,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => panic!("poll: {e}"),
            }
            match self.port.read(buf) {
                Ok(k) => return k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => panic!("read from modem: {e}"),
            }
        }
    }
}

/// Waits (bounded) for the module to connect to `listener`; the accepted stream reads and
/// writes with a bound of [`PATIENCE`].
pub fn accept_peer(listener: &std::net::TcpListener) -> std::net::TcpStream {
    let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
    let ms = PollTimeout::try_from(PATIENCE.as_millis() as i32).unwrap_or(PollTimeout::MAX);
    let ready = loop {
        match poll(&mut fds, ms) {
            Err(nix::errno::Errno::EINTR) => {}
            result => break result.expect("poll listener"),
        }
    };
    assert!(ready > 0, "the module never connected");
    let (s, _) = listener.accept().expect("accept");
    s.set_read_timeout(Some(PATIENCE)).expect("read timeout");
    s.set_write_timeout(Some(PATIENCE)).expect("write timeout");
    s
}

/// A second handle on a pty modem's AT port, for a thread that writes while the test
/// reads.
pub fn port_writer(modem: &Modem) -> File {
    OpenOptions::new()
        .write(true)
        .custom_flags(nix::fcntl::OFlag::O_NOCTTY.bits())
        .open(modem.dir.path().join("at0"))
        .expect("open the AT port for writing")
}
