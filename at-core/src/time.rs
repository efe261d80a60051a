//! Time as the engine sees it: instants and durations in milliseconds, always handed in
//! by the caller. The engine never reads a clock; the platform passes `now` to
//! [`Engine::feed`](crate::Engine::feed) and [`Engine::poll`](crate::Engine::poll) and asks
//! [`Engine::poll_delay`](crate::Engine::poll_delay) when to call again.

use core::ops::{Add, Sub};

/// A point in time, in milliseconds since an origin the platform chooses (usually boot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    millis: u64,
}

impl Instant {
    /// The platform's time origin.
    pub const ZERO: Instant = Instant { millis: 0 };

    /// An instant `millis` milliseconds after the origin.
    pub const fn from_millis(millis: u64) -> Self {
        Instant { millis }
    }

    /// Milliseconds since the origin.
    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    /// Time elapsed from `earlier` to `self`, zero when `earlier` is later.
    // Out of line (code size): 64-bit arithmetic, ten callers on the firmware image.
    #[inline(never)]
    pub const fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.millis.saturating_sub(earlier.millis))
    }
}

/// The earlier of two optional deadlines; `None` only when both are.
///
/// Deadlines combine with this in the `poll_at` of every command set, which runs after
/// each poll: a chain of these compiles to a few compares, unlike an iterator over an
/// array of options.
#[inline]
pub fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b < a { b } else { a }),
        (a, None) => a,
        (None, b) => b,
    }
}

/// A span of time in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    millis: u64,
}

impl Duration {
    /// No time at all: "poll again right away".
    pub const ZERO: Duration = Duration { millis: 0 };

    /// A duration of `millis` milliseconds.
    pub const fn from_millis(millis: u64) -> Self {
        Duration { millis }
    }

    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Duration {
            millis: secs.saturating_mul(1000),
        }
    }

    /// The duration in milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.millis
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    // Out of line (code size): a 64-bit saturating add at ~30 places, each a call now.
    #[inline(never)]
    fn add(self, rhs: Duration) -> Instant {
        Instant::from_millis(self.millis.saturating_add(rhs.millis))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: an `rhs` later than `self` gives zero.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_since(rhs)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_millis(100);
        assert_eq!((t + Duration::from_millis(30)).as_millis(), 130);
        assert_eq!(t - Instant::from_millis(130), Duration::ZERO);
        assert_eq!(Instant::from_millis(130) - t, Duration::from_millis(30));
        assert_eq!(Duration::from_secs(7).as_millis(), 7000);
        assert_eq!(
            (Instant::from_millis(u64::MAX) + Duration::from_millis(1)).as_millis(),
            u64::MAX
        );
    }
}
