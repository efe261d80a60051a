//! (c) The whole engine on SimPlatform: the fuzzer chooses serial chunks, commands,
//! TCP, SSL and UDP links, CIPSEND and CIPSENDL data phases, socket events (peer data, datagrams,
//! close, reset, a zero send window, injected failures), receive modes, time and how
//! many bytes the host reads per poll.
//!
//! Invariants: no panic; every byte written to the host belongs to a whole known item
//! (lines, the prompt, `+IPD` frames with their declared lengths); what the host received
//! on a TCP or SSL link (`+IPD` data, `+CIPRECVDATA` answers) is a prefix of what its
//! peer sent; what each peer received is exactly the payload the host sent in data
//! phases that ended in `SEND OK` (a prefix when one ended otherwise); on a UDP
//! link each `+IPD` is one whole datagram that arrived, in order (drops allowed), and the
//! remote receives exactly the confirmed payloads as datagrams; the sockets the engine
//! holds (links, server, resolver) are exactly the stack's open ones after every step;
//! the engine takes input again and answers `AT` once the host reads. Raw serial chunks
//! have `S`/`s` masked so they cannot open data phases the tracker does not know about,
//! and `E`/`e` so they cannot turn echo on.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use arbitrary::Arbitrary;
use std::net::SocketAddr;

use at_core::sim::{PeerId, SimOp, SIM_IPV4, UDP_DATAGRAM_MAX};
use common::{
    addr, advance, feed, joined, parse_output, parse_output_at, poll, Item, Throttled, SERVER,
    SERVER2,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Step {
    Serial(Vec<u8>),
    Start {
        id: u8,
        second: bool,
        ssl: bool,
    },
    StartUdp {
        id: u8,
        mode: u8,
    },
    Datagram {
        id: u8,
        bytes: Vec<u8>,
    },
    Close {
        id: u8,
    },
    /// `AT+CIPSEND`, or with `long` `AT+CIPSENDL` (streamed, with progress reports).
    Send {
        id: u8,
        long: bool,
        payload: Vec<u8>,
    },
    PeerData {
        id: u8,
        bytes: Vec<u8>,
    },
    PeerClose {
        id: u8,
    },
    PeerReset {
        id: u8,
    },
    Window {
        id: u8,
        n: u8,
    },
    Fail(SimOp),
    Advance(u16),
    Budget(u8),
    Passive(bool),
    RecvData {
        id: u8,
        len: u16,
    },
    Server(bool),
    Client {
        port_server: bool,
    },
}

/// A UDP link's side of the harness.
struct Udp {
    /// The engine's local port and the fixed remote address.
    local: u16,
    remote: SocketAddr,
    /// Datagrams the remote sent that the stack accepted, in order.
    arrived: Vec<Vec<u8>>,
    /// Datagrams the remote received from the engine, in order.
    received: Vec<Vec<u8>>,
    /// Payloads of the host's CIPSEND data phases on the link: (bytes, SEND OK).
    attempts: Vec<(Vec<u8>, bool)>,
}

struct Link {
    /// The TCP peer; `None` for a UDP link.
    peer: Option<PeerId>,
    udp: Option<Udp>,
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
            if let Some(udp) = l.udp.as_ref() {
                // Each +IPD is one whole datagram that arrived, in order (the module may
                // drop datagrams, never split, merge or reorder them).
                let mut next = 0;
                for (_, item) in items.iter().filter(|(at, _)| *at >= l.since) {
                    match item {
                        Item::Line(line) if line == closed.as_bytes() => break,
                        Item::Ipd(Some(i), data) if usize::from(*i) == id => {
                            let found = udp.arrived[next..].iter().position(|d| d == data);
                            let Some(k) = found else {
                                panic!(
                                    "UDP link {id}: +IPD of {} bytes is no datagram that \
                                     arrived (in order): {:?}",
                                    data.len(),
                                    data.escape_ascii().to_string()
                                )
                            };
                            next += k + 1;
                        }
                        _ => {}
                    }
                }
                continue;
            }
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

    /// Moves the datagrams the engine sent from the stack's log to the UDP links they were
    /// sent from (other senders, such as a resolver, are not ours to check).
    fn collect_datagrams(&mut self) {
        let mut buf = vec![0u8; UDP_DATAGRAM_MAX];
        while let Some((local, remote, n)) = self.h.platform.net.udp_take_sent(&mut buf) {
            let link = self.links.iter_mut().flatten().find(|l| {
                l.udp
                    .as_ref()
                    .is_some_and(|u| u.local == local.port() && u.remote == remote)
            });
            if let Some(udp) = link.and_then(|l| l.udp.as_mut()) {
                udp.received.push(buf[..n].to_vec());
            }
        }
        assert_eq!(
            self.h.platform.net.udp_sent_dropped(),
            0,
            "the harness let the stack's log of sent datagrams overflow"
        );
    }

    fn check_peers(&mut self) {
        self.note_closes();
        self.collect_datagrams();
        for (id, l) in self.links.iter().enumerate() {
            // A link whose peer closed or reset was checked while it lived; the simulated
            // connection may since have been recycled for another client.
            let Some(l) = l.as_ref().filter(|l| !l.ended) else {
                continue;
            };
            let Some(peer) = l.peer else {
                let udp = l.udp.as_ref().expect("a link is TCP or UDP");
                if udp.attempts.iter().all(|(_, ok)| *ok) {
                    // Every send confirmed: exactly those datagrams, in order.
                    let sent: Vec<&Vec<u8>> = udp.attempts.iter().map(|(p, _)| p).collect();
                    let got: Vec<&Vec<u8>> = udp.received.iter().collect();
                    assert_eq!(got, sent, "UDP link {id}: datagrams the remote received");
                } else {
                    // After a SEND FAIL: still only whole payloads the host sent.
                    for d in &udp.received {
                        assert!(
                            udp.attempts.iter().any(|(p, _)| p == d),
                            "UDP link {id}: the remote received a datagram the host never sent"
                        );
                    }
                }
                continue;
            };
            let got = self.h.platform.net.peer_received(peer);
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

/// The remote end of UDP links.
const UDP_REMOTE: &str = "192.168.4.20:7000";

const FINAL: &[&[u8]] = &[
    b"\r\nOK\r\n",
    b"\r\nERROR\r\n",
    b"\r\nbusy p...\r\n",
    b"\r\nSEND OK\r\n",
    b"\r\nSEND FAIL\r\n",
];
/// How a data phase ends (`SEND CANCELLED`: a `+++` inside `AT+CIPSENDL` data).
const SENT: &[&[u8]] = &[
    b"\r\nSEND OK\r\n",
    b"\r\nSEND FAIL\r\n",
    b"\r\nSEND CANCELLED\r\n",
];
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
                            peer: Some(peer),
                            udp: None,
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
            Step::StartUdp { id, mode } => {
                let id = id_of(id);
                let local = 5000 + id as u16;
                let remote = addr(UDP_REMOTE);
                let line = format!(
                    "AT+CIPSTART={id},\"UDP\",\"{}\",{},{local},{}\r\n",
                    remote.ip(),
                    remote.port(),
                    mode % 3
                );
                // Datagrams still logged from an earlier link on this port are its own.
                world.collect_datagrams();
                let s = world.line(line.as_bytes());
                let want = format!("{id},CONNECT\r\n\r\nOK\r\n");
                if world.wait_for(s, FINAL, 200) && world.seen(s, &[want.as_bytes()]) {
                    world.links[id] = Some(Link {
                        peer: None,
                        udp: Some(Udp {
                            local,
                            remote,
                            arrived: Vec::new(),
                            received: Vec::new(),
                            attempts: Vec::new(),
                        }),
                        sent: Vec::new(),
                        slack: None,
                        peer_sent: Vec::new(),
                        ended: false,
                        since: s,
                    });
                }
            }
            Step::Datagram { id, mut bytes } => {
                bytes.truncate(3000);
                let Some(udp) = world.links[id_of(id)].as_mut().and_then(|l| l.udp.as_mut()) else {
                    continue;
                };
                let to = SocketAddr::new(SIM_IPV4.into(), udp.local);
                if world
                    .h
                    .platform
                    .net
                    .udp_peer_inject(to, udp.remote, &bytes)
                    .is_ok()
                {
                    udp.arrived.push(bytes);
                }
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
            Step::Send {
                id,
                long,
                mut payload,
            } => {
                let id = id_of(id);
                payload.truncate(3000);
                // A link whose peer closed or reset is gone on the engine's side, and its id
                // may already belong to a client of the module's server: not ours to check.
                world.note_closes();
                if payload.is_empty() || world.links[id].as_ref().is_none_or(|l| l.ended) {
                    continue;
                }
                // CIPSENDL on UDP sends a datagram per block as the data arrives: its
                // datagram boundaries are not the host's to predict.
                if long && world.links[id].as_ref().is_some_and(|l| l.udp.is_some()) {
                    continue;
                }
                let command = if long { "CIPSENDL" } else { "CIPSEND" };
                let line = format!("AT+{command}={id},{}\r\n", payload.len());
                let s = world.line(line.as_bytes());
                world.wait_for(s, FINAL, 100);
                if !world.seen(s, &[PROMPT]) && !world.h.engine.in_data_mode() {
                    continue;
                }
                let peer = world.links[id].as_ref().and_then(|l| l.peer);
                let taken = feed(&mut world.h, &mut world.w, &payload);
                if taken < payload.len() {
                    // The engine stalled on a blocked link: open the window and finish.
                    if let Some(peer) = peer {
                        world.h.platform.net.set_send_window(peer, usize::MAX);
                    }
                    feed(&mut world.h, &mut world.w, &payload[taken..]);
                }
                let done = world.wait_for(s, SENT, 100);
                if !done {
                    if let Some(peer) = peer {
                        world.h.platform.net.set_send_window(peer, usize::MAX);
                    }
                    world.wait_for(s, SENT, 100);
                }
                let ok = world.seen(s, &[b"\r\nSEND OK\r\n"]);
                let l = world.links[id].as_mut().unwrap();
                if let Some(udp) = l.udp.as_mut() {
                    udp.attempts.push((payload, ok));
                } else if ok {
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
                    if let Some(peer) = l.peer {
                        let n = world.h.platform.net.peer_send(peer, &bytes);
                        l.peer_sent.extend_from_slice(&bytes[..n]);
                    }
                }
            }
            Step::PeerClose { id } => {
                if let Some(l) = world.links[id_of(id)].as_mut() {
                    if let Some(peer) = l.peer {
                        world.h.platform.net.peer_close(peer);
                        l.ended = true;
                    }
                }
            }
            Step::PeerReset { id } => {
                if let Some((l, peer)) = world.links[id_of(id)]
                    .as_mut()
                    .and_then(|l| l.peer.map(|p| (l, p)))
                {
                    world.h.platform.net.peer_reset(peer);
                    l.ended = true;
                    // A reset discards what was in flight: nothing left to compare.
                    l.sent.clear();
                    l.slack = Some(usize::MAX);
                }
            }
            Step::Window { id, n } => {
                if let Some(peer) = world.links[id_of(id)].as_ref().and_then(|l| l.peer) {
                    world
                        .h
                        .platform
                        .net
                        .set_send_window(peer, usize::from(n) * 16);
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
        world.collect_datagrams();
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
