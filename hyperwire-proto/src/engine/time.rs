//! Time as an input. The core reads no clock: the adapter passes a [`Timestamp`]
//! from its own monotonic clock, and the engine answers with the next deadline it
//! must be woken for.

use core::time::Duration;

/// A point on the adapter's monotonic clock, as the time since an origin the
/// adapter chose (for example the first monotonic instant it read). Only
/// differences between timestamps of the same clock mean anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(Duration);

impl Timestamp {
    /// The timestamp `since_origin` after the clock's origin.
    pub const fn from_since_origin(since_origin: Duration) -> Timestamp {
        Timestamp(since_origin)
    }

    /// The time since the clock's origin.
    pub const fn since_origin(self) -> Duration {
        self.0
    }

    /// `self + d`, saturating at the clock's end instead of overflowing.
    pub fn saturating_add(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(d))
    }

    /// How long after `earlier` this is (zero if it is not later).
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_since_origin(Duration::from_secs(5));
        assert_eq!(
            t.saturating_add(Duration::from_secs(2)).since_origin(),
            Duration::from_secs(7)
        );
        assert_eq!(
            Timestamp::from_since_origin(Duration::MAX).saturating_add(Duration::from_secs(1)),
            Timestamp::from_since_origin(Duration::MAX)
        );
        assert_eq!(
            Timestamp::default().saturating_duration_since(t),
            Duration::ZERO
        );
        assert_eq!(
            t.saturating_duration_since(Timestamp::default()),
            Duration::from_secs(5)
        );
    }
}
