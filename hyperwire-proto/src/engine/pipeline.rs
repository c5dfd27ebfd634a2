//! [`Pipeline`]: many statements sent back to back, with a Sync after each one
//! or only where the application marks one, and their outcomes read back one
//! by one, in order.
//!
//! The semantics are the server's, as libpq's pipeline mode documents them:
//! - A Sync ends a *group*. Without an explicit `BEGIN`, the statements of one
//!   group run as one implicit transaction: an error rolls back the earlier
//!   statements of its group, and the server skips the rest of the group
//!   (each reported as [`RequestError::Collect`]`(`[`CollectError::Skipped`]`)`).
//!   The next group runs normally.
//! - Inside an explicit transaction an error aborts the transaction as usual;
//!   later groups fail until it is rolled back.
//! - With [`SyncMode::EachStatement`] every statement is its own group: an
//!   error fails only its own statement (outside an explicit transaction).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::engine::{execute_prepared_unsynced, QueryReader, ReadStep, RequestError};
use crate::error::Error;
use crate::inbox::Inbox;
use crate::machine::{Protocol, RequestId};
use crate::result::{CollectError, Collector, QueryResult};
use crate::statement_cache::{self, StatementCache};
use crate::value::EncodedParams;

use super::PreparedStatement;

/// Where a pipeline's Syncs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SyncMode {
    /// A Sync after every statement: each is its own group.
    #[default]
    EachStatement,
    /// Syncs only where [`Pipeline::sync`] is called (and one at the end, if
    /// statements follow the last).
    Explicit,
}

/// A statement's place in the pipeline, or a Sync of its own.
#[derive(Debug)]
struct Entry {
    reader: QueryReader,
    /// A statement whose outcome the caller gets (not a bare Sync).
    statement: bool,
}

/// What [`Pipeline::poll`] gives.
#[derive(Debug)]
#[non_exhaustive]
pub enum PipelineStep {
    /// The outcome of the next statement, in the order they were added: its
    /// result, the server's error, or `Collect(Skipped)` (an earlier statement
    /// of its group failed, so it never ran).
    Item(Result<QueryResult, RequestError>),
    /// Bytes must move before anything else can happen.
    NeedIo,
    /// Every statement's outcome was given.
    Done,
}

/// A pipeline: statements sent back to back, outcomes read in order.
#[derive(Debug, Default)]
pub struct Pipeline {
    mode: SyncMode,
    entries: VecDeque<Entry>,
    /// Statements added since the last Sync (Explicit mode).
    open_group: bool,
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new(mode: SyncMode) -> Pipeline {
        Pipeline {
            mode,
            entries: VecDeque::new(),
            open_group: false,
        }
    }

    /// Where its Syncs go.
    pub fn mode(&self) -> SyncMode {
        self.mode
    }

    /// Adds a statement with parameters (parsed unnamed, so any pooler can take
    /// it; its rows arrive as text).
    pub fn query(
        &mut self,
        proto: &mut Protocol,
        sql: &str,
        params: &EncodedParams,
    ) -> Result<RequestId, Error> {
        let sync = self.mode == SyncMode::EachStatement;
        let id = statement_cache::send_unnamed_synced(proto, sql, params, sync)?;
        Ok(self.push(id))
    }

    /// Adds a run of a prepared statement (common types arrive in binary).
    pub fn execute(
        &mut self,
        proto: &mut Protocol,
        statement: &PreparedStatement,
        params: &EncodedParams,
    ) -> Result<RequestId, Error> {
        let sync = self.mode == SyncMode::EachStatement;
        let id = execute_prepared_unsynced(proto, statement, params, sync)?;
        Ok(self.push(id))
    }

    /// Ends the current group (Explicit mode; in EachStatement mode every
    /// statement already ends its own, and this does nothing).
    pub fn sync(&mut self, proto: &mut Protocol) -> Result<(), Error> {
        if self.mode == SyncMode::EachStatement || !self.open_group {
            return Ok(());
        }
        let id = proto.request().sync().finish()?;
        self.entries.push_back(Entry {
            reader: QueryReader::for_request(id, Collector::default()),
            statement: false,
        });
        self.open_group = false;
        Ok(())
    }

    /// Ends the last group if statements follow the last Sync: the server runs
    /// nothing of a group before its Sync (or a Flush) arrives.
    pub fn finish(&mut self, proto: &mut Protocol) -> Result<(), Error> {
        self.sync(proto)
    }

    fn push(&mut self, id: RequestId) -> RequestId {
        self.entries.push_back(Entry {
            reader: QueryReader::for_request(id, Collector::default()),
            statement: true,
        });
        self.open_group = self.mode == SyncMode::Explicit;
        id
    }

    /// The requests still to be read (statements and Syncs), oldest first: what a
    /// caller that gives up must abandon.
    pub fn requests(&self) -> impl Iterator<Item = RequestId> + '_ {
        self.entries.iter().map(|e| e.reader.request())
    }

    /// How many statements' outcomes are still to come.
    pub fn remaining(&self) -> usize {
        self.entries.iter().filter(|e| e.statement).count()
    }

    /// Reads the outcome of the next statement, as far as the received bytes go.
    /// A COPY met by a statement is refused as for any query
    /// ([`RequestError::CopyNotExpected`]); a broken connection ends the
    /// pipeline with `Item(Err(Protocol))`, and every later poll says `Done`.
    pub fn poll(
        &mut self,
        proto: &mut Protocol,
        cache: &mut StatementCache,
        inbox: &mut Inbox,
    ) -> PipelineStep {
        loop {
            let Some(entry) = self.entries.front_mut() else {
                return PipelineStep::Done;
            };
            let outcome = match entry.reader.poll(proto, cache, inbox) {
                ReadStep::Done(r) => r,
                ReadStep::NeedIo => return PipelineStep::NeedIo,
                // A plain request is never sent again.
                _ => continue,
            };
            let statement = entry.statement;
            self.entries.pop_front();
            if let Err(RequestError::Protocol(e)) = outcome {
                self.entries.clear();
                return PipelineStep::Item(Err(RequestError::Protocol(e)));
            }
            if statement {
                let mut results: Vec<QueryResult> = match outcome {
                    Ok(results) => results,
                    Err(e) => return PipelineStep::Item(Err(e)),
                };
                return PipelineStep::Item(Ok(results.pop().unwrap_or_default()));
            }
        }
    }
}

/// Whether an item's error leaves the rest of the pipeline (and the connection)
/// going: a server error, a skipped statement, a refused COPY.
pub fn item_error_is_contained(e: &RequestError) -> bool {
    matches!(
        e,
        RequestError::Server(_)
            | RequestError::Collect(CollectError::Skipped | CollectError::Server(_))
            | RequestError::CopyNotExpected
    )
}

/// `execute_many`: one statement run once per row of parameters, parsed once
/// (as the unnamed statement), with a Sync after every chunk of rows; the
/// answer is the total of rows affected, or the first error.
///
/// It is all or nothing: outside a transaction it runs inside one of its own
/// (BEGIN first, COMMIT last; after an error the COMMIT rolls back, so no
/// chunk stays), and inside the caller's transaction an error aborts that
/// transaction as any statement would.
#[derive(Debug)]
pub struct ExecuteMany {
    /// The requests still to be read: BEGIN, each chunk, COMMIT.
    readers: VecDeque<QueryReader>,
    total: u64,
    error: Option<RequestError>,
}

impl ExecuteMany {
    /// Sends everything: `rows` in chunks of `chunk` rows (at least 1). Every
    /// row must bind to the types of the first (its types are the Parse's).
    pub fn send(
        proto: &mut Protocol,
        sql: &str,
        rows: &[EncodedParams],
        chunk: usize,
    ) -> Result<ExecuteMany, Error> {
        let mut readers = VecDeque::new();
        let Some(first) = rows.first() else {
            return Ok(ExecuteMany {
                readers,
                total: 0,
                error: None,
            });
        };
        let own_transaction = proto.transaction_status() == crate::TransactionStatus::Idle;
        let mut push = |id| readers.push_back(QueryReader::for_request(id, Collector::default()));
        if own_transaction {
            push(proto.query("BEGIN")?);
        }
        let mut parse = true;
        for rows in rows.chunks(chunk.max(1)) {
            let mut request = proto.request();
            if parse {
                request = request.parse("", sql, &first.types);
                parse = false;
            }
            for row in rows {
                let values = row.values();
                request = request
                    .bind("", "", &row.formats, &values, &[crate::Format::Text])
                    .execute("", 0);
            }
            push(request.sync().finish()?);
        }
        if own_transaction {
            push(proto.query("COMMIT")?);
        }
        Ok(ExecuteMany {
            readers,
            total: 0,
            error: None,
        })
    }

    /// The first and the last of its requests (to track them all).
    pub fn requests(&self) -> Option<(RequestId, RequestId)> {
        let first = self.readers.front()?.request();
        let last = self.readers.back()?.request();
        Some((first, last))
    }
}

impl crate::engine::Reader for ExecuteMany {
    type Output = u64;

    fn request(&self) -> RequestId {
        self.readers
            .front()
            .map(QueryReader::request)
            .unwrap_or(RequestId(0))
    }

    fn poll(
        &mut self,
        proto: &mut Protocol,
        cache: &mut StatementCache,
        inbox: &mut Inbox,
    ) -> ReadStep<u64> {
        while let Some(reader) = self.readers.front_mut() {
            let outcome = match reader.poll(proto, cache, inbox) {
                ReadStep::Done(outcome) => outcome,
                _ => return ReadStep::NeedIo,
            };
            self.readers.pop_front();
            match outcome {
                Ok(results) => {
                    // BEGIN and COMMIT count nothing (a COMMIT after an error
                    // answers ROLLBACK: the error is already kept).
                    self.total += results
                        .iter()
                        .filter(|r| !matches!(r.tag.as_str(), "BEGIN" | "COMMIT" | "ROLLBACK"))
                        .filter_map(QueryResult::rows_affected)
                        .sum::<u64>();
                }
                Err(e @ RequestError::Protocol(_)) => {
                    self.readers.clear();
                    return ReadStep::Done(Err(e));
                }
                // Later chunks of a failed transaction: the first error says why.
                Err(RequestError::Collect(CollectError::Skipped)) => {}
                Err(e) => {
                    self.error.get_or_insert(e);
                }
            }
        }
        match self.error.take() {
            Some(e) => ReadStep::Done(Err(e)),
            None => ReadStep::Done(Ok(self.total)),
        }
    }

    fn abandon(&self, _cache: &mut StatementCache) {}
}
