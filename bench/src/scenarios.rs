//! In-process scenarios on [`SimPlatform`]: each has a set-up (not measured), a `prep`
//! before every operation (not measured: the remote side of the world, draining the
//! simulated peer) and the operation itself, which is timed (`std::time`) by the benches
//! and counted (callgrind, `src/bin/scenario.rs`) by the report.
//!
//! An operation of a command scenario is one whole line: `Engine::feed` from its first
//! byte, then `Engine::poll` until the final response is queued and written to a sink
//! that discards it. Echo is off (`ATE0`), as host drivers set it.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use at_core::link::MAX_LINKS;
use at_core::net::{TcpClientStack, TcpExt, TcpOption};
use at_core::sim::{PeerId, SimNet, SimPlatform, SimTcp};
use at_core::testing::Harness;
use at_tcpip::TcpIp;

/// The command set of the W800 firmware.
pub type Commands = TcpIp<SimPlatform>;
/// The engine under measurement, with its simulated world.
pub type H = Harness<Commands, SimPlatform>;

/// Payload chunk of the data-path scenarios: one TCP MSS.
pub const CHUNK: usize = 1460;
/// The remote server of the command scenarios.
pub const SERVER: &str = "192.168.10.110:8080";

/// Discards what the engine writes, counting it (so the writes are not optimised away).
#[derive(Default)]
pub struct Sink {
    /// Bytes written.
    pub bytes: u64,
    /// The last bytes written (up to 64), for the set-up checks.
    pub last: Vec<u8>,
    /// Keep the last bytes (set-up only).
    pub keep: bool,
}

impl embedded_io::ErrorType for Sink {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.bytes += buf.len() as u64;
        if self.keep {
            self.last.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// What a scenario measures, per operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// One command line.
    Command,
    /// [`CHUNK`] payload bytes.
    Chunk,
    /// Platform work only: what the sim itself costs for the calls another scenario makes.
    Baseline,
    /// One `Engine::poll` with no input and nothing due.
    Poll,
}

/// What one operation of a scenario does; resolved once from the name so that the
/// measured region does not also count string comparisons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Scenario `at`.
    At,
    /// Scenario `cipmux_query`.
    CipmuxQuery,
    /// Scenario `cipstart`.
    Cipstart,
    /// Scenario `sim_connect`.
    SimConnect,
    /// Scenario `cipsend_cmd`.
    CipsendCmd,
    /// Scenario `cipsntpcfg`.
    Cipsntpcfg,
    /// Scenario `transparent_tx`.
    TransparentTx,
    /// Scenario `cipsend_tx`.
    CipsendTx,
    /// Scenario `sim_send`.
    SimSend,
    /// Scenario `active_rx`.
    ActiveRx,
    /// Scenario `passive_rx`.
    PassiveRx,
    /// Scenario `sim_recv`.
    SimRecv,
    /// Scenarios `idle_poll` and `idle_poll_passes`.
    IdlePoll,
}

/// A scenario's description.
#[derive(Clone, Copy, Debug)]
pub struct Info {
    /// Short name (`cipstart`, `transparent_tx`, ...).
    pub name: &'static str,
    /// What one operation is.
    pub what: &'static str,
    /// Unit of one operation.
    pub unit: Unit,
    /// The operation.
    pub op: Op,
}

/// Every scenario, in report order.
pub const SCENARIOS: &[Info] = &[
    Info {
        name: "at",
        what: "`AT`",
        unit: Unit::Command,
        op: Op::At,
    },
    Info {
        name: "cipmux_query",
        what: "`AT+CIPMUX?`",
        unit: Unit::Command,
        op: Op::CipmuxQuery,
    },
    Info {
        name: "cipstart",
        what: "`AT+CIPSTART=0,\"TCP\",\"192.168.10.110\",8080` (CIPMUX=1)",
        unit: Unit::Command,
        op: Op::Cipstart,
    },
    Info {
        name: "sim_connect",
        what: "sim only: socket + connect + local_addr + 4 options",
        unit: Unit::Baseline,
        op: Op::SimConnect,
    },
    Info {
        name: "cipsend_cmd",
        what: "`AT+CIPSEND=0,1460` up to the `>` prompt",
        unit: Unit::Command,
        op: Op::CipsendCmd,
    },
    Info {
        name: "cipsntpcfg",
        what: "`AT+CIPSNTPCFG=1,8,\"cn.ntp.org.cn\",\"ntp.sjtu.edu.cn\"`",
        unit: Unit::Command,
        op: Op::Cipsntpcfg,
    },
    Info {
        name: "transparent_tx",
        what: "transparent mode, 1460 bytes host -> network",
        unit: Unit::Chunk,
        op: Op::TransparentTx,
    },
    Info {
        name: "cipsend_tx",
        what: "`AT+CIPSEND=0,1460` + 1460 bytes + `SEND OK`",
        unit: Unit::Chunk,
        op: Op::CipsendTx,
    },
    Info {
        name: "sim_send",
        what: "sim only: TCP send of 1460 bytes (512+512+436)",
        unit: Unit::Baseline,
        op: Op::SimSend,
    },
    Info {
        name: "active_rx",
        what: "active receive: 1460 bytes network -> `+IPD,0,1460:` to the host",
        unit: Unit::Chunk,
        op: Op::ActiveRx,
    },
    Info {
        name: "passive_rx",
        what: "passive receive: `AT+CIPRECVDATA=0,1460` -> `+CIPRECVDATA:1460,...`",
        unit: Unit::Chunk,
        op: Op::PassiveRx,
    },
    Info {
        name: "sim_recv",
        what: "sim only: TCP receive of 1460 bytes",
        unit: Unit::Baseline,
        op: Op::SimRecv,
    },
    Info {
        name: "idle_poll",
        what: "5 TCP links open, no network activity reported (std: no readiness event)",
        unit: Unit::Poll,
        op: Op::IdlePoll,
    },
    Info {
        name: "idle_poll_passes",
        what: "5 TCP links open, activity reported on every poll (a platform without readiness; on the W800 and std: a socket with unread data)",
        unit: Unit::Poll,
        op: Op::IdlePoll,
    },
];

/// The scenario called `name`.
pub fn info(name: &str) -> Option<&'static Info> {
    SCENARIOS.iter().find(|i| i.name == name)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

fn payload() -> Vec<u8> {
    (0..CHUNK).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A scenario ready to run.
pub struct Scenario {
    info: &'static Info,
    h: Box<H>,
    sink: Sink,
    peer: Option<PeerId>,
    payload: Vec<u8>,
    /// The bare stack of the baseline scenarios, and its socket.
    net: Box<SimNet>,
    sock: Option<SimTcp>,
    buf: Vec<u8>,
    /// [`SERVER`], parsed once.
    server: SocketAddr,
}

impl Scenario {
    /// Sets up scenario `name`; panics if it does not behave as expected.
    pub fn new(name: &str) -> Scenario {
        let info = info(name).unwrap_or_else(|| panic!("unknown scenario {name}"));
        let mut world = SimPlatform::default();
        world.station.add_ap(b"lab", b"secret123").expect("ap");
        world.net.listen(addr(SERVER)).expect("listen");
        let h = Box::new(Harness::with_platform(TcpIp::new(), world));
        let mut s = Scenario {
            info,
            h,
            sink: Sink::default(),
            peer: None,
            payload: payload(),
            net: Box::new(SimNet::new()),
            sock: None,
            buf: vec![0; CHUNK],
            server: addr(SERVER),
        };
        s.setup();
        s
    }

    /// The scenario's description.
    pub fn info(&self) -> &'static Info {
        self.info
    }

    /// Sends a set-up line and checks the response ends as expected.
    fn expect(&mut self, line: &str, tail: &str) {
        let out = self.h.send(line.as_bytes());
        assert!(
            out.ends_with(tail.as_bytes()),
            "{}: {line:?} answered {:?}, expected ...{tail:?}",
            self.info.name,
            String::from_utf8_lossy(&out)
        );
    }

    fn setup(&mut self) {
        let name = self.info.name;
        if name.starts_with("sim_") {
            self.net.listen(addr(SERVER)).expect("listen");
            if name != "sim_connect" {
                let mut s = TcpClientStack::socket(&mut *self.net).expect("socket");
                TcpClientStack::connect(&mut *self.net, &mut s, addr(SERVER)).expect("connect");
                self.peer = self.net.accepted(addr(SERVER));
                self.sock = Some(s);
            }
            return;
        }
        assert_eq!(self.h.boot(), b"\r\nready\r\n");
        self.expect("ATE0\r\n", "OK\r\n");
        if name == "at" {
            return;
        }
        self.expect("AT+CWJAP=\"lab\",\"secret123\"\r\n", "OK\r\n");
        let single = matches!(name, "transparent_tx");
        if !single {
            self.expect("AT+CIPMUX=1\r\n", "OK\r\n");
        }
        match name {
            "cipmux_query" | "cipsntpcfg" => return,
            "transparent_tx" => self.expect("AT+CIPMODE=1\r\n", "OK\r\n"),
            "passive_rx" => self.expect("AT+CIPRECVMODE=1\r\n", "OK\r\n"),
            _ => {}
        }
        if name == "cipstart" {
            // The link is opened by the measured operation.
        } else if name.starts_with("idle_poll") {
            for id in 0..MAX_LINKS {
                self.expect(
                    &format!("AT+CIPSTART={id},\"TCP\",\"192.168.10.110\",8080\r\n"),
                    "OK\r\n",
                );
            }
        } else if single {
            self.expect("AT+CIPSTART=\"TCP\",\"192.168.10.110\",8080\r\n", "OK\r\n");
        } else {
            self.expect(
                "AT+CIPSTART=0,\"TCP\",\"192.168.10.110\",8080\r\n",
                "OK\r\n",
            );
        }
        self.peer = self.h.platform.net.accepted(addr(SERVER));
        assert!(
            self.peer.is_some() || name == "cipstart",
            "{name}: no connection"
        );
        if name == "transparent_tx" {
            self.expect("AT+CIPSEND\r\n", ">");
            assert!(self.h.engine.in_data_mode());
        }
        // Check one operation's output once.
        self.sink.keep = true;
        self.prep();
        self.op();
        let out = String::from_utf8_lossy(&self.sink.last).into_owned();
        let want = match name {
            "cipstart" => "CONNECT\r\n\r\nOK\r\n",
            "cipsend_cmd" => ">",
            "cipsend_tx" => "SEND OK\r\n",
            "active_rx" => "+IPD,0,1460:",
            "passive_rx" => "+CIPRECVDATA:1460,",
            _ => "",
        };
        assert!(out.contains(want), "{name}: output {out:?} lacks {want:?}");
        self.sink.keep = false;
        self.sink.last.clear();
    }

    fn feed_all(&mut self, mut input: &[u8]) {
        let now = self.h.now;
        let mut stalls = 0;
        while !input.is_empty() && stalls < 4 {
            let n = self.h.engine.feed(now, input);
            input = &input[n..];
            let _ = self
                .h
                .engine
                .poll(now, &mut self.h.platform, &mut self.sink);
            stalls = if n == 0 { stalls + 1 } else { 0 };
        }
    }

    /// Feeds `line` and polls until its response is complete: the command no longer
    /// runs and the sink has taken all output. (`tests/scenarios.rs` checks that every
    /// operation ends with its final response written.)
    fn line(&mut self, line: &[u8]) {
        self.feed_all(line);
        self.settle(false);
    }

    /// Polls until no command runs and the sink has taken all output; `at_least_once`:
    /// poll once even when idle (a receive).
    fn settle(&mut self, mut at_least_once: bool) {
        for _ in 0..8 {
            let idle = !self.h.engine.is_busy() && !self.h.engine.has_output();
            if idle && !std::mem::take(&mut at_least_once) {
                break;
            }
            self.poll_once();
        }
    }

    /// One `Engine::poll` at the harness's time, output to the sink.
    fn poll_once(&mut self) {
        let _ = self
            .h
            .engine
            .poll(self.h.now, &mut self.h.platform, &mut self.sink);
    }

    fn drain_peer(&mut self) {
        if let Some(peer) = self.peer {
            let net = if self.info.name.starts_with("sim_") {
                &mut *self.net
            } else {
                &mut self.h.platform.net
            };
            while net.peer_take(peer, &mut self.buf) > 0 {}
        }
    }

    /// Work before each operation, not measured.
    pub fn prep(&mut self) {
        match self.info.name {
            "cipstart" => {
                self.line(b"AT+CIPCLOSE=0\r\n");
                while self.h.platform.net.next_accepted().is_some() {}
            }
            "cipsend_cmd" => {
                if self.h.engine.in_data_mode() {
                    let payload = std::mem::take(&mut self.payload);
                    self.feed_all(&payload);
                    self.payload = payload;
                    self.line(b"");
                }
                self.drain_peer();
            }
            "transparent_tx" | "cipsend_tx" | "sim_send" => self.drain_peer(),
            "active_rx" | "passive_rx" => {
                let peer = self.peer.expect("peer");
                let n = self.h.platform.net.peer_send(peer, &self.payload);
                assert_eq!(n, CHUNK, "sim buffer full");
            }
            "sim_recv" => {
                let peer = self.peer.expect("peer");
                let n = self.net.peer_send(peer, &self.payload);
                assert_eq!(n, CHUNK, "sim buffer full");
            }
            // What lwIP cannot tell the W800 port: the poll must look at every socket.
            "idle_poll_passes" => self.h.platform.net.note_activity(),
            "sim_connect" => {
                if let Some(s) = self.sock.take() {
                    TcpClientStack::close(&mut *self.net, s).expect("close");
                }
                while self.net.next_accepted().is_some() {}
            }
            _ => {}
        }
    }

    /// The measured operation.
    pub fn op(&mut self) {
        match self.info.op {
            Op::At => self.line(b"AT\r\n"),
            Op::CipmuxQuery => self.line(b"AT+CIPMUX?\r\n"),
            Op::Cipstart => self.line(b"AT+CIPSTART=0,\"TCP\",\"192.168.10.110\",8080\r\n"),
            Op::CipsendCmd => self.line(b"AT+CIPSEND=0,1460\r\n"),
            Op::Cipsntpcfg => {
                self.line(b"AT+CIPSNTPCFG=1,8,\"cn.ntp.org.cn\",\"ntp.sjtu.edu.cn\"\r\n")
            }
            Op::TransparentTx => {
                let payload = std::mem::take(&mut self.payload);
                self.feed_all(&payload);
                self.payload = payload;
            }
            Op::CipsendTx => {
                self.line(b"AT+CIPSEND=0,1460\r\n");
                let payload = std::mem::take(&mut self.payload);
                self.feed_all(&payload);
                self.payload = payload;
                self.line(b"");
            }
            Op::ActiveRx => self.settle(true),
            Op::PassiveRx => self.line(b"AT+CIPRECVDATA=0,1460\r\n"),
            Op::SimConnect => {
                let net = &mut *self.net;
                let mut s = TcpClientStack::socket(net).expect("socket");
                for o in [
                    TcpOption::Linger(None),
                    TcpOption::NoDelay(false),
                    TcpOption::SendTimeout(0),
                    TcpOption::KeepAlive(None),
                ] {
                    let _ = net.tcp_set_option(&mut s, o);
                }
                // The address was parsed at set-up: the engine's share of CIPSTART includes
                // reading it from the command line, the stack's share must not.
                TcpClientStack::connect(net, &mut s, self.server).expect("connect");
                black_box(net.tcp_local_addr(&s));
                self.sock = Some(s);
            }
            Op::SimSend => {
                let net = &mut *self.net;
                let s = self.sock.as_mut().expect("socket");
                for piece in self.payload.chunks(512) {
                    let n = TcpClientStack::send(net, s, piece).expect("send");
                    black_box(n);
                }
            }
            Op::IdlePoll => {
                self.poll_once();
            }
            Op::SimRecv => {
                let net = &mut *self.net;
                let s = self.sock.as_mut().expect("socket");
                let n = TcpClientStack::receive(net, s, &mut self.buf).expect("receive");
                black_box(&self.buf[..n]);
            }
        }
    }

    /// Runs one operation (after its unmeasured preparation) and returns what it wrote
    /// to the host, and whether the engine was idle afterwards (no command running, no
    /// output left): the check that an operation measures a whole response.
    pub fn op_output(&mut self) -> (Vec<u8>, bool) {
        self.prep();
        self.sink.keep = true;
        self.sink.last.clear();
        self.op();
        self.sink.keep = false;
        let idle = !self.h.engine.is_busy() && !self.h.engine.has_output();
        (std::mem::take(&mut self.sink.last), idle)
    }

    /// How many times the engine has called the sim stack's TCP receive: whether a poll
    /// ran the socket passes.
    pub fn sim_receive_calls(&self) -> u32 {
        self.h.platform.net.tcp_receive_calls()
    }

    /// Runs `n` operations, each bracketed by the callgrind marker
    /// [`zz_callgrind_measured_region`].
    pub fn run_marked(&mut self, n: u64) {
        for _ in 0..n {
            self.prep();
            zz_callgrind_measured_region(&mut || self.op());
        }
    }

    /// Times `n` operations (after 10% warm-up); returns the total time of the
    /// operations alone (`prep` is excluded; each operation is bracketed by
    /// `Instant::now`, which costs ~20-40 ns).
    pub fn time(&mut self, n: u64) -> StdDuration {
        for _ in 0..n / 10 {
            self.prep();
            self.op();
        }
        let mut total = StdDuration::ZERO;
        for _ in 0..n {
            self.prep();
            let t = StdInstant::now();
            self.op();
            total += t.elapsed();
        }
        black_box(self.sink.bytes);
        total
    }
}

/// The callgrind marker: `valgrind --tool=callgrind --collect-atstart=no
/// --toggle-collect='*zz_callgrind_measured_region*'` counts exactly what runs inside.
#[inline(never)]
pub fn zz_callgrind_measured_region(f: &mut dyn FnMut()) {
    f();
    black_box(());
}

/// Timing of one scenario.
#[derive(Clone, Debug)]
pub struct Timing {
    /// Scenario name.
    pub name: &'static str,
    /// Operations timed.
    pub ops: u64,
    /// Nanoseconds per operation.
    pub ns_per_op: f64,
}

impl Timing {
    /// Operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        1e9 / self.ns_per_op
    }
    /// Payload bytes per second (chunk scenarios).
    pub fn bytes_per_sec(&self) -> f64 {
        CHUNK as f64 * self.ops_per_sec()
    }
}

/// Times scenario `name` over about `budget` of wall time.
pub fn time_scenario(name: &str, budget: StdDuration) -> Timing {
    let mut s = Scenario::new(name);
    // Calibrate on 200 operations.
    let probe = s.time(200).max(StdDuration::from_nanos(1));
    let per = probe.as_secs_f64() / 200.0;
    let ops = ((budget.as_secs_f64() / per) as u64).clamp(1_000, 2_000_000);
    let total = s.time(ops);
    Timing {
        name: s.info.name,
        ops,
        ns_per_op: total.as_nanos() as f64 / ops as f64,
    }
}
