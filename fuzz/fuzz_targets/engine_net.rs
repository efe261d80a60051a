//! (c) The whole engine on SimPlatform: the fuzzer chooses serial chunks, commands,
//! CIPSEND data phases, socket events (peer data, close, reset, a zero send window,
//! injected failures), time and how many bytes the host reads per poll.
//!
//! Invariants: no panic; every byte written to the host belongs to a whole known item
//! (lines, the prompt, `+IPD` frames with their declared lengths); what the host received
//! on a link (`+IPD` data, `+CIPRECVDATA` answers) is a prefix of what its peer sent; what each peer received is exactly the
//! payload the host sent in CIPSEND data phases that ended in `SEND OK` (a prefix when one
//! ended in `SEND FAIL`); the sockets the engine holds (links, server, resolver) are exactly
//! the stack's open ones after every step; the engine takes input again and answers `AT` once the host
//! reads. Raw serial chunks have `S`/`s` masked so they cannot open data phases the
//! tracker does not know about, and `E`/`e` so they cannot turn echo on.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use arbitrary::Arbitrary;
use at_core::sim::{PeerId, SimOp};
use common::{
    addr, advance, feed, joined, parse_output, parse_output_at, poll, Item, Throttled, SERVER,
    SERVER2,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Step {
    Serial(Vec<u8>),
    Start { id: u8, second: bool, ssl: bool },
    Close { id: u8 },
    Send { id: u8, payload: Vec<u8> },
    PeerData { id: u8, bytes: Vec<u8> },
    PeerClose { id: u8 },
    PeerReset { id: u8 },
    Window { id: u8, n: u8 },
    Fail(SimOp),
    Advance(u16),
    Budget(u8),
    Passive(bool),
    RecvData { id: u8, len: u16 },
    Server(bool),
    Client { port_server: bool },
}

struct Link {
    peer: PeerId,
    /// Payload the host sent and the engine confirmed (SEND OK).
    sent: Vec<u8>,
    /// After a SEND FAIL: at most this many more bytes may have reached the peer.
    slack: Option<usize>,
    /// What the peer sent (accepted by the sim).
    peer_sent: Vec<u8>,
    /// Set once the peer reset or closed: `+IPD` may lose the tail.
    ended: bool,
    /// Output position when the link opened: a `<id>,CLOSED` after it means the engine
    /// closed the link on its own (an injected failure), and the id may be reused.
    since: usize,
}

struct World {
    h: common::H,
    w: Throttled,
    links: [Option<Link>; 5],
    /// `AT+CIPRECVDATA` lines sent: output offset of the line and the link id it reads,
    /// so each `+CIPRECVDATA` answer can be credited to its link.
    recv_requests: Vec<(usize, usize)>,
}

impl World {
    fn settle(&mut self, rounds: usize) {
        for _ in 0..rounds {
            advance(&mut self.h, &mut self.w, 1);
        }
    }

    /// Polls until `pred` holds for the output after `start` (bounded).
    fn wait_for(&mut self, start: usize, needles: &[&[u8]], max: usize) -> bool {
        // While a command's answer is awaited the host reads freely (a line runs only
        // once earlier output reached the host, and the harness must see the answer to
        // keep its link table right); backpressure is exercised between commands.
        let budget = std::mem::replace(&mut self.w.budget, usize::MAX);
        let mut found = false;
        for _ in 0..max {
            if self.seen(start, needles) {
                found = true;
                break;
            }
            advance(&mut self.h, &mut self.w, 10);
        }
        self.w.budget = budget;
        found
    }

    /// Whether any of `needles` appeared in the output since `start` (raw search: the
    /// output since `start` may begin inside an item).
    fn seen(&self, start: usize, needles: &[&[u8]]) -> bool {
        let out = &self.w.out[start.saturating_sub(2)..];
        needles
            .iter()
            .any(|n| out.windows(n.len()).any(|w| w == *n))
    }

    fn line(&mut self, line: &[u8]) -> usize {
        // Let earlier output reach the host first, so what follows `start` answers this
        // line (an earlier ERROR still queued would otherwise pass for its answer).
        let budget = std::mem::replace(&mut self.w.budget, usize::MAX);
        for _ in 0..100 {
            if !self.h.engine.has_output() {
                break;
            }
            advance(&mut self.h, &mut self.w, 1);
        }
        self.w.budget = budget;
        let start = self.w.out.len();
        feed(&mut self.h, &mut self.w, line);
        start
    }

    /// Marks links the engine reported closed as ended (after letting the host read what
    /// is queued, so a report still in the queue counts).
    fn note_closes(&mut self) {
        let budget = std::mem::replace(&mut self.w.budget, usize::MAX);
        for _ in 0..100 {
            if !self.h.engine.has_output() {
                break;
            }
            advance(&mut self.h, &mut self.w, 1);
        }
        self.w.budget = budget;
        for (id, l) in self.links.iter_mut().enumerate() {
            if let Some(l) = l.as_mut() {
                let needle = format!("{id},CLOSED\r\n");
                let out = &self.w.out[l.since.min(self.w.out.len())..];
                if out.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    l.ended = true;
                }
            }
        }
    }

    /// The sockets the command set says it holds (links, server, resolver, SNTP) are
    /// exactly the ones open in the stack: nothing leaks, nothing is used after close.
    fn check_sockets(&self) {
        let held = self.h.engine.commands().sockets_held();
        let net = &self.h.platform.net;
        let open = (net.tcp_open_sockets(), net.udp_open_sockets());
        assert_eq!(
            held, open,
            "(TCP, UDP) sockets: held by the engine vs open in the stack"
        );
    }

    /// What the host received on each tracked link (`+IPD` data in active mode,
    /// `+CIPRECVDATA` answers in passive mode, in output order, from the link's CIPSTART
    /// until its `<id>,CLOSED`) is a prefix of what the link's peer sent: nothing lost in
    /// the middle, duplicated, reordered or taken from another link. Also parses the whole
    /// output (every byte belongs to a known item).
    fn check_received(&self) {
        let (items, _) = parse_output_at(&self.w.out);
        for (id, l) in self.links.iter().enumerate() {
            let Some(l) = l.as_ref() else { continue };
            let closed = format!("{id},CLOSED");
            let mut got: Vec<u8> = Vec::new();
            for (at, item) in items.iter().filter(|(at, _)| *at >= l.since) {
                match item {
                    Item::Line(line) if line == closed.as_bytes() => break,
                    Item::Ipd(Some(i), data) if usize::from(*i) == id => {
                        got.extend_from_slice(data)
                    }
                    Item::RecvData(data) if self.recv_owner(*at) == Some(id) => {
                        got.extend_from_slice(data)
                    }
                    _ => {}
                }
            }
            assert!(
                l.peer_sent.starts_with(&got),
                "link {id}: the host received {} bytes that are not a prefix of the {} its \
                 peer sent: {:?} vs {:?}",
                got.len(),
                l.peer_sent.len(),
                got.escape_ascii().to_string(),
                l.peer_sent.escape_ascii().to_string()
            );
        }
    }

    /// The link whose `AT+CIPRECVDATA` an answer at output offset `at` belongs to.
    fn recv_owner(&self, at: usize) -> Option<usize> {
        self.recv_requests
            .iter()
            .rev()
            .find(|(start, _)| *start <= at)
            .map(|(_, id)| *id)
    }

    fn check_peers(&mut self) {
        self.note_closes();
        for (id, l) in self.links.iter().enumerate() {
            // A link whose peer closed or reset was checked while it lived; the simulated
            // connection may since have been recycled for another client.
            let Some(l) = l.as_ref().filter(|l| !l.ended) else {
                continue;
            };
            let got = self.h.platform.net.peer_received(l.peer);
            match l.slack {
                None => assert_eq!(
                    got,
                    l.sent.as_slice(),
                    "link {id}: peer received other bytes than the host sent"
                ),
                Some(extra) => {
                    assert!(
                        got.starts_with(&l.sent) && got.len() <= l.sent.len().saturating_add(extra),
                        "link {id}: peer received {} bytes, host sent {} (+{extra} failed)",
                        got.len(),
                        l.sent.len()
                    );
                }
            }
        }
    }
}

const FINAL: &[&[u8]] = &[
    b"\r\nOK\r\n",
    b"\r\nERROR\r\n",
    b"\r\nbusy p...\r\n",
    b"\r\nSEND OK\r\n",
    b"\r\nSEND FAIL\r\n",
];
const SENT: &[&[u8]] = &[b"\r\nSEND OK\r\n", b"\r\nSEND FAIL\r\n"];
const PROMPT: &[u8] = b"\r\nOK\r\n\r\n>";

fn id_of(id: u8) -> usize {
    usize::from(id % 5)
}

fuzz_target!(|input: (u8, Vec<Step>)| {
    let (budget, steps) = input;
    let mut world = World {
        h: joined(),
        w: Throttled::new(usize::MAX),
        links: Default::default(),
        recv_requests: Vec::new(),
    };
    let s = world.line(b"AT+CIPMUX=1\r\n");
    assert!(world.wait_for(s, &[b"\r\nOK\r\n"], 5));
    world.w.budget = usize::from(budget).max(1) * 8;
    for step in steps.into_iter().take(64) {
        match step {
            Step::Serial(mut b) => {
                for c in b.iter_mut() {
                    if matches!(*c, b'S' | b's' | b'E' | b'e') {
                        *c = b'#';
                    }
                }
                b.truncate(600);
                // A line ending now, so the masked garbage does not swallow our commands.
                b.extend_from_slice(b"\r\n");
                feed(&mut world.h, &mut world.w, &b);
            }
            Step::Start { id, second, ssl } => {
                let id = id_of(id);
                let (ip, port, a) = if second {
                    ("192.168.4.11", 81, SERVER2)
                } else {
                    ("192.168.4.10", 80, SERVER)
                };
                // SSL links run over the simulated handshake (which `Fail` can break):
                // the data path must treat them exactly like TCP links.
                let ty = if ssl { "SSL" } else { "TCP" };
                let line = format!("AT+CIPSTART={id},\"{ty}\",\"{ip}\",{port}\r\n");
                let s = world.line(line.as_bytes());
                let want = format!("{id},CONNECT\r\n\r\nOK\r\n");
                let ok = world.wait_for(s, FINAL, 200);
                if ok && world.seen(s, &[want.as_bytes()]) {
                    if let Some(peer) = world.h.platform.net.accepted(addr(a)) {
                        world.links[id] = Some(Link {
                            peer,
                            sent: Vec::new(),
                            slack: None,
                            peer_sent: Vec::new(),
                            ended: false,
                            // From the CIPSTART line on: the engine may already have
                            // closed the link while its answer was awaited.
                            since: s,
                        });
                    }
                }
                while world.h.platform.net.next_accepted().is_some() {}
            }
            Step::Close { id } => {
                let id = id_of(id);
                let s = world.line(format!("AT+CIPCLOSE={id}\r\n").as_bytes());
                world.wait_for(s, FINAL, 50);
                world.check_peers();
                if !world.h.engine.is_busy() {
                    if world.seen(s, &[b"\r\nOK\r\n"]) {
                        world.links[id] = None;
                    }
                }
            }
            Step::Send { id, mut payload } => {
                let id = id_of(id);
                payload.truncate(3000);
                // A link whose peer closed or reset is gone on the engine's side, and its id
                // may already belong to a client of the module's server: not ours to check.
                world.note_closes();
                if payload.is_empty() || world.links[id].as_ref().is_none_or(|l| l.ended) {
                    continue;
                }
                let s = world.line(format!("AT+CIPSEND={id},{}\r\n", payload.len()).as_bytes());
                world.wait_for(s, FINAL, 100);
                if !world.seen(s, &[PROMPT]) && !world.h.engine.in_data_mode() {
                    continue;
                }
                let taken = feed(&mut world.h, &mut world.w, &payload);
                if taken < payload.len() {
                    // The engine stalled on a blocked link: open the window and finish.
                    let peer = world.links[id].as_ref().unwrap().peer;
                    world.h.platform.net.set_send_window(peer, usize::MAX);
                    feed(&mut world.h, &mut world.w, &payload[taken..]);
                }
                let done = world.wait_for(s, SENT, 100);
                if !done {
                    let peer = world.links[id].as_ref().unwrap().peer;
                    world.h.platform.net.set_send_window(peer, usize::MAX);
                    world.wait_for(s, SENT, 100);
                }
                let ok = world.seen(s, &[b"\r\nSEND OK\r\n"]);
                let l = world.links[id].as_mut().unwrap();
                if ok {
                    match l.slack.as_mut() {
                        // After a failure the exact prefix is unknown: widen the bound.
                        Some(extra) => *extra = extra.saturating_add(payload.len()),
                        None => l.sent.extend_from_slice(&payload),
                    }
                } else {
                    let extra = l.slack.unwrap_or(0).saturating_add(payload.len());
                    l.slack = Some(extra);
                }
                world.check_peers();
            }
            Step::PeerData { id, bytes } => {
                if let Some(l) = world.links[id_of(id)].as_mut() {
                    let n = world.h.platform.net.peer_send(l.peer, &bytes);
                    l.peer_sent.extend_from_slice(&bytes[..n]);
                }
            }
            Step::PeerClose { id } => {
                if let Some(l) = world.links[id_of(id)].as_mut() {
                    world.h.platform.net.peer_close(l.peer);
                    l.ended = true;
                }
            }
            Step::PeerReset { id } => {
                if let Some(l) = world.links[id_of(id)].as_mut() {
                    world.h.platform.net.peer_reset(l.peer);
                    l.ended = true;
                    // A reset discards what was in flight: nothing left to compare.
                    l.sent.clear();
                    l.slack = Some(usize::MAX);
                }
            }
            Step::Window { id, n } => {
                if let Some(l) = world.links[id_of(id)].as_ref() {
                    world
                        .h
                        .platform
                        .net
                        .set_send_window(l.peer, usize::from(n) * 16);
                }
            }
            Step::Fail(op) => world.h.platform.net.fail_next(op),
            Step::Advance(ms) => advance(&mut world.h, &mut world.w, u64::from(ms)),
            Step::Budget(b) => world.w.budget = usize::from(b).max(1),
            Step::Passive(on) => {
                let s = world.line(if on {
                    b"AT+CIPRECVMODE=1\r\n"
                } else {
                    b"AT+CIPRECVMODE=0\r\n"
                });
                world.wait_for(s, FINAL, 50);
            }
            Step::RecvData { id, len } => {
                let id = id_of(id);
                let s = world.line(format!("AT+CIPRECVDATA={id},{len}\r\n").as_bytes());
                world.recv_requests.push((s, id));
                world.wait_for(s, FINAL, 50);
            }
            Step::Server(on) => {
                let s = world.line(if on {
                    b"AT+CIPSERVER=1,333\r\n"
                } else {
                    b"AT+CIPSERVER=0\r\n"
                });
                world.wait_for(s, FINAL, 50);
            }
            Step::Client { port_server } => {
                let port = if port_server { 333 } else { 334 };
                let to = format!("192.168.4.2:{port}");
                let _ = world
                    .h
                    .platform
                    .net
                    .peer_connect(addr(&to), addr("192.168.4.77:5000"));
                poll(&mut world.h, &mut world.w);
            }
        }
        world.check_received();
        world.check_sockets();
    }
    // The host reads everything: the engine drains, takes input and answers AT.
    world.w.budget = usize::MAX;
    world.settle(20);
    world.check_peers();
    world.check_received();
    let s = world.w.out.len();
    feed(&mut world.h, &mut world.w, b"\r\n");
    // Leave any data phase the raw chunks might have opened; wait out busy commands.
    world.wait_for(s, &[], 30);
    let s = world.line(b"AT\r\n");
    let ok = world.wait_for(s, &[b"\r\nOK\r\n"], 700);
    assert!(
        ok,
        "no OK to AT at the end: {:?}",
        world.w.out[s..].escape_ascii().to_string()
    );
    let (_, tail) = parse_output(&world.w.out);
    assert!(
        tail.is_empty(),
        "incomplete output at the end: {:?}",
        tail.escape_ascii().to_string()
    );
});
