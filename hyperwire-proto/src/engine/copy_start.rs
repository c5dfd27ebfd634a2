//! [`CopyStart`]: a `COPY` statement read until its data phase begins, the same
//! way in every adapter.
//!
//! The caller says which direction it can serve. A COPY in the other direction is
//! refused without breaking the connection (COPY FROM STDIN is failed at once,
//! COPY TO STDOUT read to its end and dropped); a statement that starts no COPY
//! ends with the server's error or [`RequestError::NotCopy`].

use crate::engine::query::{ReadStep, RequestError};
use crate::inbox::Inbox;
use crate::machine::{Event, Protocol, RequestId};
use crate::{Error, ServerError};

/// The direction of a COPY's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CopyDirection {
    /// `COPY ... FROM STDIN`: the client sends data.
    In,
    /// `COPY ... TO STDOUT`: the server sends data.
    Out,
}

/// The reason sent with CopyFail when a COPY FROM STDIN meets a caller that
/// wanted COPY TO STDOUT.
pub const WRONG_DIRECTION: &str = "COPY in the other direction than the call expected";

/// A COPY statement until its data phase (see the [module docs](self)).
#[derive(Debug)]
pub struct CopyStart {
    request: RequestId,
    direction: CopyDirection,
    error: Option<ServerError>,
    /// A COPY in the other direction started (refused; read to its end).
    wrong: bool,
}

impl CopyStart {
    /// Sends `sql` as a simple Query.
    pub fn send(proto: &mut Protocol, sql: &str, direction: CopyDirection) -> Result<Self, Error> {
        Ok(CopyStart::for_request(proto.query(sql)?, direction))
    }

    /// Reads a request the caller sent itself (an extended-protocol COPY).
    pub fn for_request(request: RequestId, direction: CopyDirection) -> Self {
        CopyStart {
            request,
            direction,
            error: None,
            wrong: false,
        }
    }

    /// The request.
    pub fn request(&self) -> RequestId {
        self.request
    }

    /// Reads the events already received: `Done(Ok(()))` once the COPY's data
    /// phase began in the wanted direction; an error once the request ended
    /// without one.
    pub fn poll(&mut self, proto: &mut Protocol, inbox: &mut Inbox) -> ReadStep<()> {
        loop {
            let mut fail_copy_in = false;
            let mut outcome = None;
            while let Some(ev) = proto.poll_event() {
                if inbox.take(&ev) {
                    continue;
                }
                if let Event::Fatal(e) = ev {
                    return ReadStep::Done(Err(RequestError::Protocol(e)));
                }
                if ev.request() != Some(self.request) {
                    continue;
                }
                match (&ev, self.direction) {
                    (Event::CopyInStart { .. }, CopyDirection::In)
                    | (Event::CopyOutStart { .. }, CopyDirection::Out)
                        if !self.wrong =>
                    {
                        return ReadStep::Done(Ok(()));
                    }
                    (Event::CopyInStart { .. }, _) => {
                        self.wrong = true;
                        fail_copy_in = true;
                        break;
                    }
                    (Event::CopyOutStart { .. }, _) => self.wrong = true,
                    (Event::ServerError { error, .. }, _) => {
                        self.error
                            .get_or_insert_with(|| ServerError::from_fields(error));
                    }
                    (Event::Done { .. }, _) => {
                        outcome = Some(self.outcome());
                        break;
                    }
                    _ => {}
                }
            }
            if let Some(outcome) = outcome {
                return ReadStep::Done(outcome);
            }
            if !fail_copy_in {
                return ReadStep::NeedIo;
            }
            if let Err(e) = proto.copy_fail(WRONG_DIRECTION) {
                return ReadStep::Done(Err(RequestError::Protocol(e)));
            }
        }
    }

    /// The request ended without a COPY in the wanted direction.
    fn outcome(&mut self) -> Result<(), RequestError> {
        if self.wrong {
            return Err(RequestError::CopyWrongDirection);
        }
        Err(match self.error.take() {
            Some(e) => RequestError::Server(e),
            None => RequestError::NotCopy,
        })
    }
}
