//! [`QueryReader`]: one query, read to its results, the same way in every adapter.
//!
//! The reader sends the statement (through the statement cache, or as a simple
//! Query), collects its results from the events of its request, and decides what
//! happens at the end: a statement the cache prepared joins the cache; a cached
//! statement the server lost (26000) or whose result type changed is evicted and
//! the query sent once more, outside transactions; a COPY is refused the same way
//! whichever method met it (COPY FROM STDIN is failed at once so the request can
//! end, COPY TO STDOUT is read to its end and dropped), with one error.
//!
//! Two ways to drive it:
//! - an owner of the whole session calls [`QueryReader::poll`] after every read;
//! - a driver that routes the events of many requests (the pipelining client)
//!   calls [`QueryReader::on_event`] with each event of the reader's request,
//!   carries out [`Feed::FailCopyIn`], and calls [`QueryReader::finish`] at
//!   [`Feed::End`].

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::inbox::Inbox;
use crate::machine::{Event, Protocol, RequestId};
use crate::result::{CollectError, Collector, QueryResult};
use crate::statement_cache::{CachedQuery, Recovery, StatementCache};
use crate::value::EncodedParams;
use crate::{Error, ServerError};

/// Why a request gave no results.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// The server refused the statement; the connection is still usable.
    Server(ServerError),
    /// The request's results cannot be delivered (skipped after an earlier
    /// error, rows that disagree with their columns).
    Collect(CollectError),
    /// The statement started a COPY, which a query method cannot serve (COPY IN
    /// was failed, COPY OUT read and dropped); the connection is still usable.
    CopyNotExpected,
    /// A COPY call met a COPY in the other direction (refused as above).
    CopyWrongDirection,
    /// A COPY call's statement started no COPY.
    NotCopy,
    /// The connection failed (desynchronized, closed, ...): it cannot be used.
    Protocol(Error),
    /// The request outlived its timeout and was abandoned (the session's
    /// policy deals with it before the next request).
    TimedOut,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Server(e) => write!(f, "{e}"),
            RequestError::Collect(e) => write!(f, "{e}"),
            RequestError::CopyNotExpected => f.write_str(COPY_NOT_EXPECTED),
            RequestError::CopyWrongDirection => f.write_str(COPY_WRONG_DIRECTION),
            RequestError::NotCopy => f.write_str(NOT_COPY),
            RequestError::Protocol(e) => write!(f, "{e}"),
            RequestError::TimedOut => f.write_str("the request timed out"),
        }
    }
}

impl core::error::Error for RequestError {}

impl From<Error> for RequestError {
    fn from(e: Error) -> Self {
        RequestError::Protocol(e)
    }
}

/// The message of [`RequestError::CopyNotExpected`] (and the CopyFail reason).
pub const COPY_NOT_EXPECTED: &str = "COPY needs copy_in or copy_out, not a query method";
/// The message of [`RequestError::CopyWrongDirection`].
pub const COPY_WRONG_DIRECTION: &str = "COPY in the other direction";
/// The message of [`RequestError::NotCopy`].
pub const NOT_COPY: &str = "the statement did not start a COPY";

/// What the reader needs after an event of its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Feed {
    /// Nothing: go on.
    More,
    /// COPY FROM STDIN started: call [`QueryReader::fail_copy_in`] (nothing here
    /// sends COPY data, and the request cannot end until it is failed).
    FailCopyIn,
    /// The request ended: call [`QueryReader::finish`].
    End,
}

/// What [`QueryReader::poll`] and [`QueryReader::finish`] return.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadStep<T> {
    /// Bytes must move before anything else can happen.
    NeedIo,
    /// The query was sent again (a stale cached statement) under a new request
    /// id ([`QueryReader::request`]): keep reading.
    Resent,
    /// The outcome.
    Done(Result<T, RequestError>),
}

/// How the query was sent.
#[derive(Debug)]
enum Sent {
    /// Through the statement cache, which may prepare it.
    Cached(CachedQuery),
    /// Sent by the caller (a simple Query, a prepared statement's Bind and
    /// Execute, a Close...): nothing to cache.
    Plain(RequestId),
}

/// One query read to its results (see the [module docs](self)).
#[derive(Debug)]
pub struct QueryReader {
    sql: String,
    params: EncodedParams,
    sent: Sent,
    collector: Collector,
    retried: bool,
    copy: bool,
    /// A portal's Execute stopped at its row limit (PortalSuspended).
    suspended: bool,
}

impl QueryReader {
    /// Sends `sql` with `params` as the cache's policy says.
    pub fn send(
        proto: &mut Protocol,
        cache: &mut StatementCache,
        sql: &str,
        params: EncodedParams,
    ) -> Result<QueryReader, Error> {
        let sent = cache.send(proto, sql, &params)?;
        Ok(QueryReader {
            sql: String::from(sql),
            collector: sent.collector(),
            params,
            sent: Sent::Cached(sent),
            retried: false,
            copy: false,
            suspended: false,
        })
    }

    /// Sends `sql` as a simple Query (one result per statement, values as text).
    pub fn simple(proto: &mut Protocol, sql: &str) -> Result<QueryReader, Error> {
        Ok(QueryReader::for_request(
            proto.query(sql)?,
            Collector::default(),
        ))
    }

    /// Reads a request the caller sent itself, collecting with `collector`.
    pub fn for_request(id: RequestId, collector: Collector) -> QueryReader {
        QueryReader {
            sql: String::new(),
            params: EncodedParams::default(),
            sent: Sent::Plain(id),
            collector,
            retried: false,
            copy: false,
            suspended: false,
        }
    }

    /// The request whose events this reader takes.
    pub fn request(&self) -> RequestId {
        match &self.sent {
            Sent::Cached(c) => c.request,
            Sent::Plain(id) => *id,
        }
    }

    /// Whether the cache is preparing a statement for this query (if the reader
    /// is dropped before the end, call [`QueryReader::abandon`]).
    pub fn is_preparing(&self) -> bool {
        matches!(&self.sent, Sent::Cached(c) if c.is_preparing())
    }

    /// Whether a portal's Execute stopped at its row limit (more rows to fetch).
    pub fn suspended(&self) -> bool {
        self.suspended
    }

    /// The statement the cache is preparing for this query (its SQL and declared
    /// types), if any.
    pub fn preparing(&self) -> Option<(&str, &[u32])> {
        self.is_preparing()
            .then_some((self.sql.as_str(), self.params.types.as_slice()))
    }

    /// One event of this reader's request.
    pub fn on_event(&mut self, ev: &Event<'_>) -> Feed {
        if let Event::PortalSuspended { .. } = ev {
            self.suspended = true;
        }
        if let Sent::Cached(c) = &mut self.sent {
            c.observe(ev);
        }
        if let Event::CopyInStart { .. } | Event::CopyOutStart { .. } = ev {
            self.copy = true;
        }
        let end = self.collector.on_event(ev);
        match ev {
            _ if end => Feed::End,
            Event::CopyInStart { .. } => Feed::FailCopyIn,
            _ => Feed::More,
        }
    }

    /// Fails the COPY FROM STDIN this query started (see [`Feed::FailCopyIn`]).
    pub fn fail_copy_in(&mut self, proto: &mut Protocol) -> Result<(), Error> {
        proto.copy_fail(COPY_NOT_EXPECTED)
    }

    /// The request ended (see [`Feed::End`]): the results, or the query sent once
    /// more after a stale cached statement.
    pub fn finish(
        &mut self,
        proto: &mut Protocol,
        cache: &mut StatementCache,
    ) -> ReadStep<Vec<QueryResult>> {
        let collector = core::mem::take(&mut self.collector);
        let outcome = collector.finish();
        if self.copy {
            self.abandon(cache);
            return ReadStep::Done(Err(RequestError::CopyNotExpected));
        }
        let sent = match &mut self.sent {
            Sent::Plain(_) => {
                return ReadStep::Done(outcome.map_err(collect_error));
            }
            Sent::Cached(sent) => sent,
        };
        match outcome {
            Ok(results) => {
                let sent = core::mem::replace(sent, CachedQuery::empty());
                sent.succeeded(cache, &self.sql, &self.params.types);
                ReadStep::Done(Ok(results))
            }
            Err(CollectError::Server(e)) => {
                let status = proto.transaction_status();
                let recovery =
                    cache.on_error(&self.sql, &self.params.types, &e, status, self.retried);
                if recovery != Recovery::Retry {
                    return ReadStep::Done(Err(RequestError::Server(e)));
                }
                self.retried = true;
                match cache.send(proto, &self.sql, &self.params) {
                    Ok(again) => {
                        self.collector = again.collector();
                        *sent = again;
                        ReadStep::Resent
                    }
                    Err(e) => ReadStep::Done(Err(RequestError::Protocol(e))),
                }
            }
            Err(other) => {
                self.abandon(cache);
                ReadStep::Done(Err(collect_error(other)))
            }
        }
    }

    /// The reader is given up before its end: a statement it was preparing is
    /// not being prepared any more.
    pub fn abandon(&self, cache: &mut StatementCache) {
        if self.is_preparing() {
            cache.prepare_ended(&self.sql, &self.params.types);
        }
    }

    /// Reads the events already received: notices and notifications go to
    /// `inbox`, the reader's own to [`QueryReader::on_event`]. For an owner of
    /// the whole session with no other request reading.
    pub fn poll(
        &mut self,
        proto: &mut Protocol,
        cache: &mut StatementCache,
        inbox: &mut Inbox,
    ) -> ReadStep<Vec<QueryResult>> {
        loop {
            let mut feed = None;
            while let Some(ev) = proto.poll_event() {
                if inbox.take(&ev) {
                    continue;
                }
                if let Event::Fatal(e) = ev {
                    self.abandon(cache);
                    return ReadStep::Done(Err(RequestError::Protocol(e)));
                }
                if ev.request() != Some(self.request()) {
                    continue;
                }
                match self.on_event(&ev) {
                    Feed::More => {}
                    other => {
                        feed = Some(other);
                        break;
                    }
                }
            }
            match feed {
                None => return ReadStep::NeedIo,
                Some(Feed::FailCopyIn) => {
                    if let Err(e) = self.fail_copy_in(proto) {
                        return ReadStep::Done(Err(RequestError::Protocol(e)));
                    }
                }
                Some(_) => match self.finish(proto, cache) {
                    ReadStep::Resent => {}
                    other => return other,
                },
            }
        }
    }
}

fn collect_error(e: CollectError) -> RequestError {
    match e {
        CollectError::Server(e) => RequestError::Server(e),
        other => RequestError::Collect(other),
    }
}
