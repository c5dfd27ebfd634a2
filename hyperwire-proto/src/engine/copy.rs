//! COPY rules every adapter's COPY types follow.

use crate::{ServerError, SqlState};

/// The reason sent with CopyFail when a COPY IN is dropped unfinished.
pub const ABANDONED: &str = "COPY abandoned by the client";

/// After CopyFail the server ends the COPY with `57014` (query canceled): that
/// error acknowledges the abort the client asked for; any other is a failure.
pub fn abort_acknowledged(error: &ServerError) -> bool {
    error.sql_state() == Some(SqlState::QUERY_CANCELED)
}
