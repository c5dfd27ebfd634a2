//! COPY rules every adapter's COPY types follow, and [`CopyReader`], a COPY's
//! data phase and end.

use alloc::borrow::ToOwned;
use alloc::string::String;

use crate::engine::RequestError;
use crate::inbox::Inbox;
use crate::machine::{Event, Protocol, RequestId};
use crate::result::rows_affected;
use crate::{ServerError, SqlState};

/// The reason sent with CopyFail when a COPY IN is dropped unfinished.
pub const ABANDONED: &str = "COPY abandoned by the client";

/// After CopyFail the server ends the COPY with `57014` (query canceled): that
/// error acknowledges the abort the client asked for; any other is a failure.
pub fn abort_acknowledged(error: &ServerError) -> bool {
    error.sql_state() == Some(SqlState::QUERY_CANCELED)
}

/// COPY data is sent in CopyData messages of about this size.
pub const CHUNK: usize = 64 * 1024;

/// What [`CopyReader::poll`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CopyStep {
    /// Data was handed out (the callback asked to stop, or what had arrived is
    /// used up); more may follow.
    Data,
    /// Bytes must move before anything else can happen.
    NeedIo,
    /// The COPY ended: see [`CopyReader::outcome`]. Data handed out in the same
    /// call came before the end.
    Done,
}

/// A COPY's data phase and its end, the same way in every adapter: COPY OUT
/// data is handed to a callback where it lies in the receive buffer; the end
/// gives the rows of the command tag or the server's error (an abort's `57014`
/// counts as its acknowledgement). Notices and notifications go to the inbox.
#[derive(Debug)]
pub struct CopyReader {
    request: RequestId,
    tag: Option<String>,
    error: Option<ServerError>,
    done: bool,
    aborted: bool,
}

impl CopyReader {
    /// The reader of `request`'s COPY (after [`super::CopyStart`]).
    pub fn new(request: RequestId) -> Self {
        CopyReader {
            request,
            tag: None,
            error: None,
            done: false,
            aborted: false,
        }
    }

    /// The request.
    pub fn request(&self) -> RequestId {
        self.request
    }

    /// Whether the COPY ended.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The command tag (`COPY n`), once ended.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The caller sent CopyFail: the error that ends the COPY acknowledges it.
    pub fn aborted(&mut self) {
        self.aborted = true;
    }

    /// The caller settled the request another way (its timeout policy drained
    /// or closed it): nothing more is read.
    pub fn settled(&mut self) {
        self.done = true;
    }

    /// Reads the events already received, handing COPY OUT data to `data`
    /// (which returns `true` to stop after that message).
    pub fn poll(
        &mut self,
        proto: &mut Protocol,
        inbox: &mut Inbox,
        mut data: impl FnMut(&[u8]) -> bool,
    ) -> Result<CopyStep, RequestError> {
        if self.done {
            return Ok(CopyStep::Done);
        }
        let me = self.request;
        let mut took = false;
        while let Some(ev) = proto.poll_event() {
            match ev {
                // The hot path first: data of this COPY.
                Event::CopyData { request, data: d } if request == me => {
                    took = true;
                    if data(d) {
                        return Ok(CopyStep::Data);
                    }
                }
                Event::CommandComplete { request, tag } if request == me => {
                    self.tag = Some(tag.to_owned());
                }
                Event::ServerError { request, error } if request == me => {
                    self.error
                        .get_or_insert_with(|| ServerError::from_fields(&error));
                }
                Event::Done { request } if request == me => {
                    self.done = true;
                    return Ok(CopyStep::Done);
                }
                Event::Fatal(e) => {
                    self.done = true;
                    return Err(RequestError::Protocol(e));
                }
                other => {
                    inbox.take(&other);
                }
            }
        }
        Ok(if took {
            CopyStep::Data
        } else {
            CopyStep::NeedIo
        })
    }

    /// How the COPY ended: the rows its tag reports, or the server's error
    /// (after an abort, `57014` is the acknowledgement: `Ok(0)`). Call once.
    pub fn outcome(&mut self) -> Result<u64, RequestError> {
        match self.error.take() {
            Some(e) if self.aborted && abort_acknowledged(&e) => Ok(0),
            Some(e) => Err(RequestError::Server(e)),
            None => Ok(self.tag.as_deref().and_then(rows_affected).unwrap_or(0)),
        }
    }
}
