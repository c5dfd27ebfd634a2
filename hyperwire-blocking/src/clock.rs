//! The core reads no clock: this one turns `Instant`s into its timestamps and back.

use std::sync::OnceLock;
use std::time::Instant;

use hyperwire_proto::engine::Timestamp;

static ORIGIN: OnceLock<Instant> = OnceLock::new();

fn origin() -> Instant {
    *ORIGIN.get_or_init(Instant::now)
}

/// Now, for the core.
pub(crate) fn now() -> Timestamp {
    Timestamp::from_since_origin(origin().elapsed())
}

/// A deadline of the core, as an `Instant` to wait for.
pub(crate) fn instant(t: Timestamp) -> Instant {
    origin() + t.since_origin()
}
