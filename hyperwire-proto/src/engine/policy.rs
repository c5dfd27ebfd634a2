//! What happens to a request its caller gave up on — its request timeout
//! passed, or the future waiting for it was dropped: one policy, defined once,
//! that every adapter carries out the same way.

use core::time::Duration;

/// What to do with a request nobody waits for any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AbandonPolicy {
    /// Discard its remaining answers as they arrive (within the drain budget and
    /// [`DRAIN_GRACE`]); the connection stays usable.
    Drain,
    /// Send a CancelRequest, wait until the server acted on it, then discard
    /// what is left: a long query stops at once, and since nothing new is sent
    /// before the cancel is acknowledged it can never hit a later request.
    #[default]
    CancelThenDrain,
    /// Send a CancelRequest, then close the connection.
    CancelThenClose,
    /// Close the connection at once.
    Close,
}

impl AbandonPolicy {
    /// Whether a CancelRequest goes out first.
    pub fn cancels(self) -> bool {
        matches!(
            self,
            AbandonPolicy::CancelThenDrain | AbandonPolicy::CancelThenClose
        )
    }

    /// Whether the connection is closed (otherwise the request is drained).
    pub fn closes(self) -> bool {
        matches!(self, AbandonPolicy::CancelThenClose | AbandonPolicy::Close)
    }
}

/// How long draining an abandoned request may take before the connection is
/// closed instead: it can no longer be trusted to end.
pub const DRAIN_GRACE: Duration = Duration::from_secs(30);

/// How long closing may wait for Terminate to be written (a server that
/// stopped reading must not hold the caller).
pub const CLOSE_FLUSH_LIMIT: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::AbandonPolicy::*;

    #[test]
    fn each_policy_cancels_and_closes_as_named() {
        assert_eq!(
            [Drain, CancelThenDrain, CancelThenClose, Close].map(|p| (p.cancels(), p.closes())),
            [(false, false), (true, false), (true, true), (false, true)]
        );
    }
}
