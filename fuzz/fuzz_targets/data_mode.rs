//! (d) Transparent mode and the `+++` escape, with timing. A single link in
//! transparent mode (`AT+CIPMODE=1`, `AT+CIPSEND`); the fuzzer sends byte bursts, lets
//! time pass, has the peer send, close or reset, and limits host reads. A model decides
//! which bursts are the escape: exactly `+++` with more than 30 ms of silence before and
//! after (bursts within 5 ms of the guard make the model give up on the data check).
//!
//! Invariants: no panic; while in transparent mode the peer receives exactly the burst
//! bytes (escape excluded), in order; an escape the model is sure of leaves the mode,
//! whatever happened to the link; after the escape the engine answers `AT` with OK;
//! what the host reads is the peer's bytes, unframed, in order.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use arbitrary::Arbitrary;
use common::{addr, advance, feed, joined, poll, Throttled, SERVER};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Step {
    Burst(Vec<u8>),
    Plus,
    Wait(u8),
    PeerSend(Vec<u8>),
    PeerClose,
    PeerReset,
    Budget(u8),
}

const GUARD: u64 = 30;

fuzz_target!(|steps: Vec<Step>| {
    let mut h = joined();
    let mut w = Throttled::new(usize::MAX);
    feed(&mut h, &mut w, b"AT+CIPMODE=1\r\n");
    feed(
        &mut h,
        &mut w,
        b"AT+CIPSTART=\"TCP\",\"192.168.4.10\",80\r\n",
    );
    let peer = h.platform.net.accepted(addr(SERVER)).expect("connected");
    feed(&mut h, &mut w, b"AT+CIPSEND\r\n");
    assert!(
        w.out.ends_with(b"\r\nOK\r\n\r\n>"),
        "{:?}",
        w.out.escape_ascii().to_string()
    );
    let mode_start = w.out.len();

    let mut expected: Vec<u8> = Vec::new();
    let mut peer_sent: Vec<u8> = Vec::new();
    let mut checking = true;
    let mut ended = false;
    // Silence before the current burst (ms) and the burst being built.
    let mut silence: u64 = 0;
    let mut burst: Vec<u8> = Vec::new();
    let mut burst_silence_before: u64 = 0;
    let mut escaped = false;

    for step in steps.into_iter().take(48) {
        match step {
            Step::Burst(b) | Step::PeerSend(b) if b.is_empty() => {}
            Step::Burst(b) => {
                if burst.is_empty() {
                    burst_silence_before = silence;
                }
                let b = &b[..b.len().min(700)];
                let n = feed(&mut h, &mut w, b);
                if n < b.len() {
                    checking = false; // stalled: timing no longer under our control
                }
                burst.extend_from_slice(&b[..n]);
                silence = 0;
            }
            Step::Plus => {
                if burst.is_empty() {
                    burst_silence_before = silence;
                }
                feed(&mut h, &mut w, b"+++");
                burst.extend_from_slice(b"+++");
                silence = 0;
            }
            Step::Wait(ms) => {
                let ms = u64::from(ms);
                for _ in 0..ms / 10 {
                    advance(&mut h, &mut w, 10);
                }
                advance(&mut h, &mut w, ms % 10);
                silence += ms;
                if !burst.is_empty() && silence > 0 {
                    // The burst is over once silence follows it; decide what it was.
                    let near = |s: u64| s.abs_diff(GUARD) <= 5;
                    if burst == b"+++" && (near(burst_silence_before) || near(silence)) {
                        checking = false;
                    }
                    // A silence this close to the guard may or may not separate what
                    // follows (a `+++` after it may be the escape): too close to tell.
                    if near(silence) {
                        checking = false;
                    }
                    if burst == b"+++" && burst_silence_before > GUARD + 5 && silence > GUARD + 5 {
                        escaped = true;
                        burst.clear();
                        break;
                    }
                    if silence > GUARD + 5 || burst.len() > 3 {
                        expected.extend_from_slice(&burst);
                        burst.clear();
                    }
                }
            }
            Step::PeerSend(b) => {
                if !ended {
                    let n = h.platform.net.peer_send(peer, &b);
                    peer_sent.extend_from_slice(&b[..n]);
                    poll(&mut h, &mut w);
                }
            }
            Step::PeerClose => {
                h.platform.net.peer_close(peer);
                ended = true;
                checking = false;
            }
            Step::PeerReset => {
                h.platform.net.peer_reset(peer);
                ended = true;
                checking = false;
            }
            Step::Budget(b) => w.budget = usize::from(b).max(1),
        }
        if checking && !ended {
            let got = h.platform.net.peer_received(peer);
            let mut all = expected.clone();
            all.extend_from_slice(&burst);
            assert!(
                all.starts_with(got),
                "peer received {:?}, host sent {:?}",
                got.escape_ascii().to_string(),
                all.escape_ascii().to_string()
            );
        }
    }
    w.budget = usize::MAX;
    if burst == b"+++" {
        // A trailing `+++` followed by the silence below is the escape (or too close to
        // the guard to tell).
        if burst_silence_before > GUARD + 5 {
            escaped = true;
        } else if burst_silence_before.abs_diff(GUARD) <= 5 {
            checking = false;
        }
        if escaped {
            burst.clear();
        }
    }
    if !escaped {
        for _ in 0..10 {
            advance(&mut h, &mut w, 20);
        }
        if checking && !ended {
            expected.extend_from_slice(&burst);
            assert_eq!(
                h.platform.net.peer_received(peer),
                expected.as_slice(),
                "after 200 ms the peer must have every byte"
            );
        }
        // Leave with a clean escape, unless a `+++` too close to the guard to judge
        // already was one.
        if h.engine.in_data_mode() {
            advance(&mut h, &mut w, 100);
            feed(&mut h, &mut w, b"+++");
            advance(&mut h, &mut w, 100);
        }
    }
    for _ in 0..5 {
        advance(&mut h, &mut w, 20);
    }
    if escaped && h.engine.in_data_mode() {
        // The model took a burst for the escape; only a burst it could not judge for
        // sure (pluses or silences too close to the guard time) may have been data.
        assert!(
            !checking,
            "a clear escape must leave transparent mode: peer received {:?}",
            h.platform
                .net
                .peer_received(peer)
                .escape_ascii()
                .to_string()
        );
        advance(&mut h, &mut w, 100);
        feed(&mut h, &mut w, b"+++");
        advance(&mut h, &mut w, 100);
    }
    if checking && !ended {
        // Host side: only the peer's bytes came out in transparent mode.
        let out = &w.out[mode_start..];
        assert!(
            peer_sent.starts_with(out),
            "host got {:?}, peer sent {:?}",
            out.escape_ascii().to_string(),
            peer_sent.escape_ascii().to_string()
        );
    }
    // Bytes sent after an escape the model could not judge are a partial command line:
    // end it first (its answer, if any, is not ours to check).
    feed(&mut h, &mut w, b"\r\n");
    for _ in 0..5 {
        advance(&mut h, &mut w, 20);
    }
    let s = w.out.len();
    feed(&mut h, &mut w, b"AT\r\n");
    for _ in 0..5 {
        advance(&mut h, &mut w, 20);
    }
    let tail = &w.out[s..];
    assert!(
        tail.windows(6).any(|x| x == b"\r\nOK\r\n"),
        "no OK to AT after leaving transparent mode: {:?}",
        tail.escape_ascii().to_string()
    );
});
