//! [`ScriptReader`]: a script run through the simple protocol, read statement by
//! statement, the same way in every adapter (what `psql` does with a file).
//!
//! The reader sends one simple Query and turns its events into a short typed
//! sequence of [`ScriptStep`]s: each statement's result (its rows collected, as
//! a query method would) or its error, COPY TO STDOUT data passed through as it
//! arrives (never accumulated), and COPY FROM STDIN, whose data the caller reads
//! from its own source and hands over piece by piece. What is sent when that
//! source ends, fails or is missing is decided here, not by the adapter.
//! Notices and notifications go to the inbox.
//!
//! The call order:
//!
//! ```text
//! let mut r = ScriptReader::send(&mut proto, sql)?;
//! loop {
//!     match r.poll(&mut proto, &mut inbox)? {
//!         ScriptStep::Result(result)    => /* a statement ended */,
//!         ScriptStep::Error(error)      => /* a statement failed; the server skips the rest */,
//!         ScriptStep::CopyOutData(data) => /* write it out; it borrows the receive buffer */,
//!         ScriptStep::CopyIn            => loop {                 // the caller's source:
//!             match source.read(&mut buf) {
//!                 Ok(0)  => { r.copy_in_end(&mut proto)?; break }
//!                 Ok(n)  => match r.copy_in_data(&mut proto, &buf[..n])? {
//!                     CopyInStep::More     => {}
//!                     CopyInStep::Flush    => /* write the pending bytes */,
//!                     CopyInStep::Finished => break,
//!                 },
//!                 Err(e) => { r.copy_in_failed(&mut proto, &e)?; break }
//!             }
//!         },
//!         ScriptStep::NeedIo            => /* move bytes */,
//!         ScriptStep::Done              => break,
//!         _                             => {}                     // poll again
//!     }
//! }
//! ```
//!
//! COPY OUT data is handed out where it lies in the receive buffer: while a
//! COPY OUT runs, each `poll` reads at most one event (a borrow handed out cannot
//! be followed by another read in the same call), so a notice in the middle of
//! the data gives [`ScriptStep::Continue`].

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use crate::engine::copy_in::CopyWriter;
use crate::engine::RequestError;
use crate::inbox::Inbox;
use crate::machine::{Event, Protocol, RequestId};
use crate::result::{columns_of, Column, QueryResult, RowBatch};
use crate::{Error, ServerError};

/// The CopyFail reason when the caller has no source for COPY FROM STDIN.
pub const NO_COPY_SOURCE: &str = "no COPY data source";

/// Queued bytes beyond which [`ScriptReader::copy_in_data`] asks for them to be
/// written before more data is read (the same bound as every COPY writer's).
pub use crate::engine::copy_in::COPY_IN_HIGH_WATER;

/// What [`ScriptReader::poll`] read.
#[derive(Debug)]
#[non_exhaustive]
pub enum ScriptStep<'a> {
    /// A statement finished: its rows (if it returns any) and its command tag.
    Result(QueryResult),
    /// A statement failed; the server skips the rest of the script.
    Error(ServerError),
    /// A statement was empty (only whitespace or comments).
    Empty,
    /// COPY TO STDOUT started: its data follows.
    CopyOutStart,
    /// COPY TO STDOUT data, in order, where it lies in the receive buffer (valid
    /// until the next call on the machine).
    CopyOutData(&'a [u8]),
    /// COPY TO STDOUT sent all its data (its result follows).
    CopyOutEnd,
    /// COPY FROM STDIN started: hand over the data with
    /// [`ScriptReader::copy_in_data`] and end it with
    /// [`ScriptReader::copy_in_end`] (or [`ScriptReader::copy_in_failed`],
    /// [`ScriptReader::copy_in_no_source`]); until then the script cannot end.
    CopyIn,
    /// Something was read that needs nothing from the caller (a notice went to
    /// the inbox while COPY OUT data was arriving): poll again.
    Continue,
    /// Bytes must move before anything else can happen.
    NeedIo,
    /// The script ended: every statement was reported (or skipped after an error).
    Done,
}

/// What [`ScriptReader::copy_in_data`] wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CopyInStep {
    /// Read on from the source.
    More,
    /// Write the queued bytes first (they passed [`COPY_IN_HIGH_WATER`]), then
    /// read on.
    Flush,
    /// The data phase is over (the source's `\.` line ended it, or the server
    /// did): read no more; poll the reader.
    Finished,
}

/// Where the reader is in its request.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Statements' results and errors.
    Statements,
    /// COPY TO STDOUT data.
    CopyOut,
    /// COPY FROM STDIN: the caller hands over data.
    CopyIn {
        /// The last data handed over ended a line (or none was yet).
        line_start: bool,
    },
    /// The request ended.
    Done,
    /// The connection failed (the error is kept for every later call).
    Failed(Error),
}

/// What one event means to the caller.
enum Seen<'e> {
    /// Nothing.
    Nothing,
    /// A step that borrows nothing.
    Step(ScriptStep<'static>),
    /// COPY OUT data.
    Data(&'e [u8]),
}

/// A script read through the simple protocol (see the [module docs](self)).
#[derive(Debug)]
pub struct ScriptReader {
    request: RequestId,
    phase: Phase,
    /// The statement being read: its columns and rows so far.
    columns: Arc<[Column]>,
    current: Option<QueryResult>,
    batch: RowBatch,
}

impl ScriptReader {
    /// Sends `sql` (one or more statements) as a simple Query.
    pub fn send(proto: &mut Protocol, sql: &str) -> Result<Self, Error> {
        Ok(ScriptReader::for_request(proto.query(sql)?))
    }

    /// Reads a simple Query the caller sent itself.
    pub fn for_request(request: RequestId) -> Self {
        ScriptReader {
            request,
            phase: Phase::Statements,
            columns: Arc::from(Vec::new()),
            current: None,
            batch: RowBatch::default(),
        }
    }

    /// The request.
    pub fn request(&self) -> RequestId {
        self.request
    }

    /// Whether the script ended.
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done | Phase::Failed(_))
    }

    /// Whether COPY FROM STDIN is waiting for the caller's data.
    pub fn in_copy_in(&self) -> bool {
        matches!(self.phase, Phase::CopyIn { .. })
    }

    /// The caller settled the request another way (its timeout policy drained
    /// or closed it): nothing more is read.
    pub fn settled(&mut self) {
        self.phase = Phase::Done;
    }

    /// Reads the events already received, up to the next thing the caller must
    /// see (see [`ScriptStep`]). A broken connection ends it with
    /// [`RequestError::Protocol`], also for every later call.
    pub fn poll<'p>(
        &mut self,
        proto: &'p mut Protocol,
        inbox: &mut Inbox,
    ) -> Result<ScriptStep<'p>, RequestError> {
        if matches!(self.phase, Phase::CopyOut) {
            // One event: COPY OUT data is returned where it lies.
            let Some(ev) = proto.poll_event() else {
                return Ok(ScriptStep::NeedIo);
            };
            return Ok(match self.on_event(ev, inbox)? {
                Seen::Nothing => ScriptStep::Continue,
                Seen::Step(step) => step,
                Seen::Data(data) => ScriptStep::CopyOutData(data),
            });
        }
        match &self.phase {
            Phase::Done => return Ok(ScriptStep::Done),
            Phase::Failed(e) => return Err(RequestError::Protocol(e.clone())),
            _ => {}
        }
        while let Some(ev) = proto.poll_event() {
            // Data comes only in the COPY OUT phase, which a step starts.
            if let Seen::Step(step) = self.on_event(ev, inbox)? {
                return Ok(step);
            }
        }
        Ok(ScriptStep::NeedIo)
    }

    /// One event read from the machine.
    fn on_event<'e>(&mut self, ev: Event<'e>, inbox: &mut Inbox) -> Result<Seen<'e>, RequestError> {
        if inbox.take(&ev) {
            return Ok(Seen::Nothing);
        }
        if let Event::Fatal(e) = ev {
            self.phase = Phase::Failed(e.clone());
            return Err(RequestError::Protocol(e));
        }
        if ev.request() != Some(self.request) {
            return Ok(Seen::Nothing);
        }
        let step = match ev {
            // The hot paths first: rows, then COPY OUT data.
            Event::DataRow { row, .. } => {
                self.batch.push(&row);
                return Ok(Seen::Nothing);
            }
            Event::CopyData { data, .. } if matches!(self.phase, Phase::CopyOut) => {
                return Ok(Seen::Data(data));
            }
            Event::RowDescription {
                description,
                formats,
                ..
            } => {
                self.columns = columns_of(&description, formats);
                self.current = Some(QueryResult {
                    columns: Arc::clone(&self.columns),
                    returns_rows: true,
                    ..QueryResult::default()
                });
                return Ok(Seen::Nothing);
            }
            Event::CommandComplete { tag, .. } => {
                let mut result = self.current.take().unwrap_or_default();
                if !self.batch.is_empty() {
                    self.batch.drain_into(&self.columns, &mut result.rows);
                }
                result.tag = tag.to_owned();
                self.phase = Phase::Statements;
                ScriptStep::Result(result)
            }
            Event::EmptyQuery { .. } => ScriptStep::Empty,
            Event::ServerError { error, .. } => {
                // What the statement read so far is dropped with it.
                self.current = None;
                self.batch = RowBatch::default();
                self.phase = Phase::Statements;
                ScriptStep::Error(ServerError::from_fields(&error))
            }
            Event::CopyOutStart { .. } => {
                self.phase = Phase::CopyOut;
                ScriptStep::CopyOutStart
            }
            Event::CopyDone { .. } => {
                self.phase = Phase::Statements;
                ScriptStep::CopyOutEnd
            }
            Event::CopyInStart { .. } => {
                self.phase = Phase::CopyIn { line_start: true };
                ScriptStep::CopyIn
            }
            Event::Done { .. } => {
                self.phase = Phase::Done;
                ScriptStep::Done
            }
            // ReadyForQuery (Done follows), and nothing else the machine lets
            // through for a simple Query.
            _ => return Ok(Seen::Nothing),
        };
        Ok(Seen::Step(step))
    }

    /// COPY FROM STDIN data read from the caller's source. As psql does, a line
    /// holding only `\.` ends the data: what precedes it is sent, then CopyDone
    /// (a `\.` split across two calls is not recognized).
    pub fn copy_in_data(&mut self, proto: &mut Protocol, data: &[u8]) -> Result<CopyInStep, Error> {
        let Phase::CopyIn { line_start } = &self.phase else {
            return Ok(CopyInStep::Finished);
        };
        if !proto.in_copy_in() {
            // The server ended the COPY (its error is on the way).
            self.phase = Phase::Statements;
            return Ok(CopyInStep::Finished);
        }
        if let Some(end) = end_marker(data, *line_start) {
            if let Some(before) = data.get(..end).filter(|d| !d.is_empty()) {
                proto.copy_data(before)?;
            }
            self.phase = Phase::Statements;
            proto.copy_done()?;
            return Ok(CopyInStep::Finished);
        }
        if !data.is_empty() {
            self.phase = Phase::CopyIn {
                line_start: data.last() == Some(&b'\n'),
            };
            proto.copy_data(data)?;
        }
        Ok(if CopyWriter::needs_flush(proto) {
            CopyInStep::Flush
        } else {
            CopyInStep::More
        })
    }

    /// The caller's source ended: CopyDone (unless the server already ended the
    /// COPY).
    pub fn copy_in_end(&mut self, proto: &mut Protocol) -> Result<(), Error> {
        self.end_copy_in(proto, None)
    }

    /// The caller's source failed with `error`: CopyFail, quoting it (the
    /// server's error that follows reports the statement failed).
    pub fn copy_in_failed(
        &mut self,
        proto: &mut Protocol,
        error: &dyn fmt::Display,
    ) -> Result<(), Error> {
        let reason = format!("error reading COPY data: {error}");
        self.end_copy_in(proto, Some(&reason))
    }

    /// The caller has no source for the data: CopyFail ([`NO_COPY_SOURCE`]).
    pub fn copy_in_no_source(&mut self, proto: &mut Protocol) -> Result<(), Error> {
        self.end_copy_in(proto, Some(NO_COPY_SOURCE))
    }

    fn end_copy_in(&mut self, proto: &mut Protocol, fail: Option<&str>) -> Result<(), Error> {
        if !self.in_copy_in() {
            return Ok(());
        }
        self.phase = Phase::Statements;
        if !proto.in_copy_in() {
            return Ok(());
        }
        match fail {
            None => proto.copy_done(),
            Some(reason) => proto.copy_fail(reason),
        }
    }
}

/// Where a line holding only `\.` starts in `chunk` (`line_start`: the chunk
/// begins a line).
fn end_marker(chunk: &[u8], line_start: bool) -> Option<usize> {
    let is_marker =
        |rest: &[u8]| rest == b"\\." || rest.starts_with(b"\\.\n") || rest.starts_with(b"\\.\r\n");
    if line_start && is_marker(chunk) {
        return Some(0);
    }
    memchr::memchr_iter(b'\n', chunk)
        .map(|newline| newline + 1)
        .find(|&start| chunk.get(start..).is_some_and(is_marker))
}

#[cfg(test)]
mod tests {
    use super::end_marker;

    #[test]
    fn copy_end_marker() {
        assert_eq!(end_marker(b"1\n2\n\\.\n3\n", true), Some(4));
        assert_eq!(end_marker(b"\\.\n", true), Some(0));
        assert_eq!(end_marker(b"\\.", true), Some(0));
        assert_eq!(end_marker(b"1\n\\.", true), Some(2));
        assert_eq!(end_marker(b"1\n\\.\r\n", false), Some(2));
        assert_eq!(end_marker(b"\\.\n", false), None);
        assert_eq!(end_marker(b"a\\.\n", true), None);
        assert_eq!(end_marker(b"1\n\\.x\n", true), None);
        assert_eq!(end_marker(b"1\n2\n", true), None);
    }
}
