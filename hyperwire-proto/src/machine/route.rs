//! Which request an incoming message belongs to, once the startup is over.
//!
//! This is the one place the rule is written. The general dispatch
//! (`State::on_ready_message`) and the DataRow and COPY OUT shortcuts
//! (`State::row_target`, `State::copy_out_target`) all ask [`State::route`]; they
//! differ only in what they then do with the answer. A streak of rows (`poll.rs`)
//! keeps the answer its first row got, and debug builds ask again for every row.

use crate::machine::event::RequestId;
use crate::machine::state::{CopyState, State};

/// The owner of an incoming message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    /// No request: ParameterStatus, NoticeResponse and NotificationResponse can
    /// arrive at any time.
    Async,
    /// The COPY TO STDOUT in progress (its CopyData and CopyDone).
    CopyOut(RequestId),
    /// The request of the step at the front of the pipeline.
    Front(RequestId),
    /// No request is pending.
    NothingPending,
    /// No pending request can explain the message: what was expected instead
    /// (the connection is desynchronized).
    Nobody(&'static str),
}

impl State {
    /// Which request a message with type byte `tag`, arriving now (at
    /// `frame_pos`), belongs to.
    ///
    /// During a COPY only the COPY's own messages (and an ErrorResponse, which ends
    /// any COPY) may come; otherwise everything answers the front step of the FIFO,
    /// unless it arrived before that step's request was sent.
    #[inline(always)]
    pub(super) fn route(&self, tag: u8) -> Route {
        if matches!(tag, b'S' | b'N' | b'A') {
            return Route::Async;
        }
        match self.copy {
            CopyState::None => {}
            CopyState::Out { request } => match tag {
                b'd' | b'c' => return Route::CopyOut(request),
                b'E' => {}
                _ => return Route::Nobody("CopyData or CopyDone"),
            },
            CopyState::In { .. } | CopyState::InFinished => match tag {
                b'E' => {}
                b'C' if self.copy == CopyState::InFinished => {}
                _ => return Route::Nobody("the end of COPY FROM STDIN"),
            },
        }
        let Some(step) = self.pipeline.front() else {
            return Route::NothingPending;
        };
        if self.frame_pos < step.fence {
            // Already received when the front request was made: left over from an
            // earlier exchange (a second ReadyForQuery...), never this one's answer.
            return Route::Nobody(
                "nothing (the message arrived before the pending request was sent)",
            );
        }
        Route::Front(step.request)
    }
}
