//! A reference model of the link table and modes (CIPMUX, open ids, CIPMODE, server on
//! or off), in plain Rust, checked against the engine over random command sequences
//! (CIPMUX, CIPSTART to the sim's listeners, CIPCLOSE, CIPSERVER, CIPMODE, peer closes):
//! after every step the engine's answer (OK or ERROR) and the ids `AT+CIPSTATE?` lists
//! must be the model's.

mod common;

use std::collections::BTreeMap;

use at_core::sim::PeerId;
use common::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Mux(bool),
    Start(usize),
    Close(usize),
    CloseAll,
    Server(bool),
    Mode(bool),
    PeerClose(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => any::<bool>().prop_map(Op::Mux),
        3 => (0usize..5).prop_map(Op::Start),
        2 => (0usize..5).prop_map(Op::Close),
        1 => Just(Op::CloseAll),
        1 => any::<bool>().prop_map(Op::Server),
        1 => any::<bool>().prop_map(Op::Mode),
        1 => (0usize..5).prop_map(Op::PeerClose),
    ]
}

#[derive(Default, Debug)]
struct Model {
    mux: bool,
    mode: bool,
    server: bool,
    /// Open ids and the sim peer behind each.
    open: BTreeMap<usize, PeerId>,
}

/// What the engine printed for a line: its final code and the rest.
fn run(h: &mut H, line: &str) -> (bool, String) {
    let out = h.send(format!("{line}\r\n").as_bytes());
    let text = String::from_utf8_lossy(&out).into_owned();
    let ok = text.ends_with("\r\nOK\r\n");
    assert!(
        ok || text.ends_with("\r\nERROR\r\n"),
        "{line}: no final result code in {text:?}"
    );
    (ok, text)
}

fn state_ids(h: &mut H) -> Vec<usize> {
    let (ok, text) = run(h, "AT+CIPSTATE?");
    assert!(ok, "AT+CIPSTATE? -> {text:?}");
    text.lines()
        .filter_map(|l| l.strip_prefix("+CIPSTATE:"))
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect()
}

fn step(h: &mut H, m: &mut Model, op: &Op) {
    match *op {
        Op::Mux(on) => {
            let want = on == m.mux || (m.open.is_empty() && !(on && m.mode) && (on || !m.server));
            let (ok, text) = run(h, &format!("AT+CIPMUX={}", u8::from(on)));
            assert_eq!(ok, want, "{op:?} in {m:?}: {text:?}");
            if ok {
                m.mux = on;
            }
        }
        Op::Start(id) => {
            let (line, id) = if m.mux {
                (format!("AT+CIPSTART={id},\"TCP\",\"192.168.4.10\",80"), id)
            } else {
                ("AT+CIPSTART=\"TCP\",\"192.168.4.10\",80".to_string(), 0)
            };
            let want = !m.open.contains_key(&id);
            let (ok, text) = run(h, &line);
            assert_eq!(ok, want, "{op:?} in {m:?}: {text:?}");
            if ok {
                let peer = h.platform.net.accepted(addr(SERVER)).expect("peer");
                m.open.insert(id, peer);
            }
        }
        Op::Close(id) => {
            let (line, id) = if m.mux {
                (format!("AT+CIPCLOSE={id}"), id)
            } else {
                ("AT+CIPCLOSE".to_string(), 0)
            };
            let want = m.open.contains_key(&id);
            let (ok, text) = run(h, &line);
            assert_eq!(ok, want, "{op:?} in {m:?}: {text:?}");
            if ok {
                m.open.remove(&id);
            }
        }
        Op::CloseAll => {
            if m.mux {
                let (ok, text) = run(h, "AT+CIPCLOSE=5");
                assert!(ok, "{op:?} in {m:?}: {text:?}");
                m.open.clear();
            }
        }
        Op::Server(on) => {
            if on == m.server {
                return; // repeating a server command is not modelled
            }
            let want = !on || m.mux;
            let line = if on {
                "AT+CIPSERVER=1,333"
            } else {
                "AT+CIPSERVER=0"
            };
            let (ok, text) = run(h, line);
            assert_eq!(ok, want, "{op:?} in {m:?}: {text:?}");
            if ok {
                m.server = on;
            }
        }
        Op::Mode(on) => {
            let want = !on || (!m.mux && !m.server);
            let (ok, text) = run(h, &format!("AT+CIPMODE={}", u8::from(on)));
            assert_eq!(ok, want, "{op:?} in {m:?}: {text:?}");
            if ok {
                m.mode = on;
            }
        }
        Op::PeerClose(id) => {
            if m.mode {
                return; // transparent links reconnect; not modelled
            }
            if let Some(peer) = m.open.remove(&id) {
                h.platform.net.peer_close(peer);
                let out = drain(h, 20);
                let want = if m.mux {
                    format!("{id},CLOSED\r\n")
                } else {
                    "CLOSED\r\n".to_string()
                };
                // The unsolicited message comes as a line of its own (`\r\n` before it).
                let got = String::from_utf8_lossy(&out);
                assert_eq!(got.trim_start_matches("\r\n"), want, "{op:?} in {m:?}");
            }
        }
    }
    let mut want: Vec<usize> = m.open.keys().copied().collect();
    want.sort_unstable();
    assert_eq!(state_ids(h), want, "AT+CIPSTATE? after {op:?} in {m:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn link_table_and_modes_follow_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let mut h = joined();
        let mut m = Model::default();
        for op in &ops {
            step(&mut h, &mut m, op);
        }
    }
}
