//! Data mode: the payload phases that follow `>` (`AT+CIPSEND`, `AT+CIPSENDEX`) and
//! transparent transmission with its `+++` escape.
//!
//! A command opens a phase by returning [`Outcome::Data`](crate::Outcome::Data); the
//! engine prints the prompt, collects payload bytes into its data buffer (never echoed,
//! never parsed as commands) and hands them to the command set's
//! [`send_data`](crate::CommandSet::send_data) as the network takes them.

use crate::time::{Duration, Instant};

/// What kind of payload a command asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataRequest {
    /// Exactly this many raw bytes (`AT+CIPSEND=<len>`).
    Exact(usize),
    /// Up to this many bytes, ended early by `\0`; `\<any>` stands for `<any>`
    /// (`AT+CIPSENDEX`).
    Escaped(usize),
    /// Raw bytes both ways until a lone `+++` (`AT+CIPSEND` in transparent mode),
    /// handed to the network in blocks of the profile's size.
    Transparent {
        /// The link is a byte stream (TCP, SSL): blocks that are ready together go to
        /// the network in one call, since the peer sees the same bytes either way. For
        /// datagrams (UDP) every block is one datagram.
        stream: bool,
    },
    /// `len` bytes streamed to the network while they arrive (`AT+CIPSENDL`), handed
    /// over in blocks of up to `block` bytes, with `+CIPSENDL:<sent>,<received>` after
    /// every `report` bytes sent; `+++` cancels.
    Stream {
        /// Bytes to stream (at most 2^31 - 1, the specification's limit).
        len: usize,
        /// Progress report interval in bytes sent.
        report: u32,
        /// Largest block handed to the network at once.
        block: u16,
    },
}

/// Detects `+++` with guard times: at least `guard` of silence before the first `+`, at
/// most `guard` between the `+`s, and at least `guard` of silence after the third.
/// Bytes arriving together in one chunk have no silence between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EscapeDetector {
    guard: Duration,
    /// `+`s held back while they may still be the escape.
    held: u8,
    last_plus: Instant,
    last_input: Option<Instant>,
}

/// What the detector decided about one input byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EscapeStep {
    /// Held back: it may be part of `+++`.
    Held,
    /// Data: first `release` held `+`s, then this byte.
    Data {
        /// How many held `+`s precede the byte as data.
        release: u8,
    },
}

impl EscapeDetector {
    /// A detector with the given guard time; the time before the first input counts as
    /// silence.
    pub const fn new(guard: Duration) -> Self {
        EscapeDetector {
            guard,
            held: 0,
            last_plus: Instant::ZERO,
            last_input: None,
        }
    }

    /// A detector for which the last input arrived at `at` (the line that opened the
    /// data phase): the silence before a `+++` counts from there.
    pub const fn after_input(guard: Duration, at: Instant) -> Self {
        EscapeDetector {
            guard,
            held: 0,
            last_plus: Instant::ZERO,
            last_input: Some(at),
        }
    }

    /// How many `+`s are held back.
    pub fn held(&self) -> u8 {
        self.held
    }

    /// Classifies byte `b`, the `index`th of a chunk that arrived at `now`. Call
    /// [`end_chunk`](Self::end_chunk) after the chunk.
    pub fn byte(&mut self, now: Instant, index: usize, b: u8) -> EscapeStep {
        let silent_before = index == 0
            && self
                .last_input
                .is_none_or(|t| now.saturating_since(t) >= self.guard);
        if b == b'+' {
            if self.held == 0 && silent_before {
                self.held = 1;
                self.last_plus = now;
                return EscapeStep::Held;
            }
            if (1..3).contains(&self.held) && now.saturating_since(self.last_plus) <= self.guard {
                self.held += 1;
                self.last_plus = now;
                return EscapeStep::Held;
            }
        }
        let release = core::mem::replace(&mut self.held, 0);
        EscapeStep::Data { release }
    }

    /// Records that a chunk ended at `now`.
    pub fn end_chunk(&mut self, now: Instant) {
        self.last_input = Some(now);
    }

    /// Checks the timers at `now`: `Some(true)` when `+++` is complete (the guard after it
    /// has passed), `Some(false)` when held `+`s turned out to be data (the caller takes
    /// them with [`release`](Self::release)), `None` when nothing changed.
    pub fn poll(&mut self, now: Instant) -> Option<bool> {
        if self.held == 0 || now.saturating_since(self.last_plus) < self.guard {
            return None;
        }
        if self.held == 3 {
            self.held = 0;
            Some(true)
        } else if now.saturating_since(self.last_plus) > self.guard {
            Some(false)
        } else {
            None
        }
    }

    /// Takes the held `+`s as data.
    pub fn release(&mut self) -> u8 {
        core::mem::replace(&mut self.held, 0)
    }

    /// When [`poll`](Self::poll) next has something to decide.
    pub fn deadline(&self) -> Option<Instant> {
        match self.held {
            0 => None,
            3 => Some(self.last_plus + self.guard),
            _ => Some(self.last_plus + self.guard + Duration::from_millis(1)),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// Feeds `+++` as three chunks at the given times after data at 0 ms, then polls at
    /// `poll_at`; returns whether the escape was recognised.
    fn escape_at(gap_before: u64, gaps: [u64; 2], poll_after: u64) -> bool {
        let mut d = EscapeDetector::new(Duration::from_millis(30));
        assert_eq!(d.byte(t(0), 0, b'x'), EscapeStep::Data { release: 0 });
        d.end_chunk(t(0));
        let mut now = gap_before;
        for i in 0..3 {
            if i > 0 {
                now += gaps[i - 1];
            }
            if d.byte(t(now), 0, b'+') != EscapeStep::Held {
                return false;
            }
            d.end_chunk(t(now));
        }
        d.poll(t(now + poll_after)) == Some(true)
    }

    #[test]
    fn guard_boundaries() {
        assert!(escape_at(30, [0, 0], 30));
        assert!(!escape_at(29, [0, 0], 30), "29 ms before is too short");
        assert!(escape_at(31, [30, 30], 31));
        assert!(
            !escape_at(30, [31, 0], 30),
            "31 ms between pluses is too long"
        );
        let mut d = EscapeDetector::new(Duration::from_millis(30));
        for i in 0..3 {
            assert_eq!(d.byte(t(100), i, b'+'), EscapeStep::Held);
        }
        d.end_chunk(t(100));
        assert_eq!(d.poll(t(129)), None, "29 ms after: not yet");
        assert_eq!(d.poll(t(130)), Some(true), "30 ms after: escape");
    }

    #[test]
    fn plus_inside_data_is_data() {
        let mut d = EscapeDetector::new(Duration::from_millis(30));
        let chunk = b"a+++";
        let steps: heapless::Vec<EscapeStep, 4> = chunk
            .iter()
            .enumerate()
            .map(|(i, &b)| d.byte(t(100), i, b))
            .collect();
        assert!(steps.iter().all(|s| *s == EscapeStep::Data { release: 0 }));
        assert_eq!(d.poll(t(1000)), None);
    }

    #[test]
    fn held_pluses_become_data_when_followed_by_more() {
        let mut d = EscapeDetector::new(Duration::from_millis(30));
        assert_eq!(d.byte(t(100), 0, b'+'), EscapeStep::Held);
        assert_eq!(d.byte(t(100), 1, b'+'), EscapeStep::Held);
        assert_eq!(d.byte(t(100), 2, b'+'), EscapeStep::Held);
        assert_eq!(d.byte(t(100), 3, b'x'), EscapeStep::Data { release: 3 });
        // Two pluses and then silence: data after the guard.
        assert_eq!(d.byte(t(200), 0, b'+'), EscapeStep::Held);
        assert_eq!(d.byte(t(200), 1, b'+'), EscapeStep::Held);
        d.end_chunk(t(200));
        assert_eq!(d.poll(t(230)), None);
        assert_eq!(d.poll(t(231)), Some(false));
        assert_eq!(d.release(), 2);
        // A fourth plus spoils the escape.
        for i in 0..3 {
            assert_eq!(d.byte(t(300), i, b'+'), EscapeStep::Held);
        }
        assert_eq!(d.byte(t(300), 3, b'+'), EscapeStep::Data { release: 3 });
    }
}
