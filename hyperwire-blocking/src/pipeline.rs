//! Pipelines: many statements in one write, outcomes in order, through the
//! core's [`engine::Pipeline`](hyperwire_proto::engine::Pipeline) (its docs
//! give the semantics of Sync groups).

use std::collections::VecDeque;

use hyperwire_proto::engine::{self, item_error_is_contained, AbandonPolicy, PipelineStep};
use hyperwire_proto::value::ToSql;
use hyperwire_proto::RequestId;

pub use hyperwire_proto::engine::SyncMode;

use crate::client::{encode_params, Client, Statement};
use crate::clock;
use crate::error::{Error, Result};
use hyperwire_proto::result::QueryResult;

/// Statements queued to be sent together; see [`Client::pipeline`] and
/// [`Client::pipeline_with`].
///
/// With [`SyncMode::EachStatement`] (the default) every statement is its own
/// group: an error fails only its own item. With [`SyncMode::Explicit`] the
/// statements up to each [`sync`](Self::sync) form one group: without an explicit
/// `BEGIN` they run as one implicit transaction, so an error rolls back the
/// earlier statements of its group and the rest of the group comes back as
/// skipped ([`Error::UnexpectedResult`] naming it); the next group runs.
pub struct Pipeline<'c> {
    client: &'c mut Client,
    core: engine::Pipeline,
    /// Per statement, in order: the error that kept it from being sent, if any.
    unsent: VecDeque<Option<Error>>,
    /// A failure of the connection while queueing: reported by `run`.
    broken: Option<Error>,
}

impl<'c> Pipeline<'c> {
    /// Queues a statement with parameters (parsed unnamed; rows as text).
    pub fn query(&mut self, sql: &str, params: &[&dyn ToSql]) -> &mut Self {
        let sent = encode_params(params, None)
            .and_then(|encoded| Ok(self.core.query(self.client.proto(), sql, &encoded)?));
        self.unsent.push_back(sent.err());
        self
    }

    /// Queues a run of a prepared statement (common types in binary).
    pub fn execute(&mut self, statement: &Statement, params: &[&dyn ToSql]) -> &mut Self {
        let sent = encode_params(params, Some(statement.params())).and_then(|encoded| {
            Ok(self
                .core
                .execute(self.client.proto(), statement, &encoded)?)
        });
        self.unsent.push_back(sent.err());
        self
    }

    /// Ends the current group ([`SyncMode::Explicit`]; nothing otherwise).
    pub fn sync(&mut self) -> &mut Self {
        if let Err(e) = self.core.sync(self.client.proto()) {
            self.broken.get_or_insert(e.into());
        }
        self
    }

    /// Sends everything and reads every outcome, in order. A server error (or a
    /// skipped statement) fails its own item; a broken connection fails the call.
    pub fn run(self) -> Result<Vec<Result<QueryResult>>> {
        let mut results = self.results()?;
        let mut out = Vec::with_capacity(results.unsent.len());
        while let Some(item) = results.next() {
            match item {
                Err(e) if results.broken => return Err(e),
                item => out.push(item),
            }
        }
        Ok(out)
    }

    /// Sends everything; the outcomes are then read one by one as the iterator
    /// is advanced, so a long pipeline never holds them all. Dropping it early
    /// cancels what is left and reads it away; the connection stays usable.
    pub fn results(mut self) -> Result<PipelineResults<'c>> {
        if let Some(e) = self.broken.take() {
            return Err(e);
        }
        self.core.finish(self.client.proto())?;
        // Given up, every request of the pipeline is abandoned.
        let range = self.core.requests().next().zip(self.core.requests().last());
        if let Some((first, last)) = range {
            self.client.conn.session.track_range(first, last);
            // One flush for all (reading meanwhile, so a long pipeline cannot
            // deadlock), within the request timeout.
            self.client.flush_request(last)?;
        }
        Ok(PipelineResults {
            client: self.client,
            core: self.core,
            unsent: self.unsent,
            range,
            broken: false,
        })
    }
}

/// The outcomes of a pipeline, in order; see [`Pipeline::results`].
pub struct PipelineResults<'c> {
    client: &'c mut Client,
    core: engine::Pipeline,
    unsent: VecDeque<Option<Error>>,
    /// The pipeline's requests (tracked until the end).
    range: Option<(RequestId, RequestId)>,
    /// The connection failed: no more outcomes.
    broken: bool,
}

impl Iterator for PipelineResults<'_> {
    type Item = Result<QueryResult>;

    fn next(&mut self) -> Option<Result<QueryResult>> {
        if self.broken {
            return None;
        }
        let Some(unsent) = self.unsent.pop_front() else {
            if let Some((first, last)) = self.range.take() {
                self.client.conn.session.untrack_range(first, last);
            }
            return None;
        };
        if let Some(e) = unsent {
            return Some(Err(e));
        }
        self.client.conn.session.start_wait(clock::now);
        loop {
            let (proto, cache, inbox) = self.client.conn.session.parts();
            match self.core.poll(proto, cache, inbox) {
                PipelineStep::Item(Ok(result)) => return Some(Ok(result)),
                PipelineStep::Item(Err(e)) => {
                    self.broken = !item_error_is_contained(&e);
                    return Some(Err(e.into()));
                }
                PipelineStep::NeedIo => {
                    if let Err(e) = self.client.wait() {
                        self.broken = true;
                        return Some(Err(e));
                    }
                }
                _ => return None,
            }
        }
    }
}

impl Drop for PipelineResults<'_> {
    fn drop(&mut self) {
        let Some((first, last)) = self.range else {
            return;
        };
        if self.core.remaining() == 0 || self.broken || !self.client.is_healthy() {
            self.client.conn.session.untrack_range(first, last);
            return;
        }
        self.client.give_up(first, AbandonPolicy::CancelThenDrain);
    }
}

impl Client {
    /// Runs `sql` once per row of `rows`, parsed once and sent in one stream of
    /// Bind/Execute, with a Sync after every `chunk` rows (at least 1); returns
    /// the rows affected in all. The natural way to insert many rows without COPY.
    ///
    /// All or nothing: outside a transaction it runs in one of its own, so an
    /// error leaves no row; inside yours, an error aborts yours as any
    /// statement would. The first error is returned. Every row binds to the
    /// parameter types of the first.
    pub fn execute_many(&mut self, sql: &str, rows: &[&[&dyn ToSql]], chunk: usize) -> Result<u64> {
        let encoded = rows
            .iter()
            .map(|row| encode_params(row, None))
            .collect::<Result<Vec<_>>>()?;
        let many = engine::ExecuteMany::send(self.proto(), sql, &encoded, chunk)?;
        let range = many.requests();
        if let Some((first, last)) = range {
            self.conn.session.track_range(first, last);
        }
        let rows = self.read(many);
        if let Some((first, last)) = range {
            self.conn.session.untrack_range(first, last);
        }
        rows
    }

    /// A pipeline in which every statement is its own Sync group: queue
    /// statements, then [`Pipeline::run`] sends them in one write.
    pub fn pipeline(&mut self) -> Pipeline<'_> {
        self.pipeline_with(SyncMode::EachStatement)
    }

    /// A pipeline whose Syncs go where `mode` says (see [`Pipeline`]).
    pub fn pipeline_with(&mut self, mode: SyncMode) -> Pipeline<'_> {
        Pipeline {
            client: self,
            core: engine::Pipeline::new(mode),
            unsent: VecDeque::new(),
            broken: None,
        }
    }
}
