//! Arbitrary serial input, in arbitrary chunks, with time passing and a host that
//! sometimes stops reading. Invariants: no panic; the output queue never exceeds its
//! capacity; input is always eventually taken once the host reads; after the storm the
//! engine still answers `AT` with exactly `OK`.
#![no_main]

use arbitrary::Arbitrary;
use at_core::testing::Harness;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Step {
    Bytes(Vec<u8>),
    Advance(u16),
    HostStalls,
}

fuzz_target!(|steps: Vec<Step>| {
    let mut h = Harness::new(());
    h.boot();
    for step in steps {
        match step {
            Step::Bytes(b) => {
                let out = h.send(&b);
                assert!(out.len() <= at_core::testing::CAPTURE_LEN);
            }
            Step::Advance(ms) => {
                h.advance(u64::from(ms));
            }
            Step::HostStalls => {
                let _ = h.engine.feed(h.now, b"AT\r\n");
            }
        }
    }
    // Leave any data or escape state, then check the engine is sane.
    h.send(b"\r\n");
    h.send(b"ATE0\r\nAT+SYSLOG=0\r\n");
    assert_eq!(h.send(b"AT\r\n"), b"\r\nOK\r\n");
});
