//! Building requests: each call appends one message to the send buffer and one
//! expected answer to the pipeline; `finish` seals them as one request, and an error
//! or a dropped builder rolls both back.

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::codec::{frontend, Format, Target};
use crate::error::{Error, UsageError};
use crate::machine::event::{RequestId, ResultFormats};
use crate::machine::pipeline::StepKind;
use crate::machine::Protocol;

/// What [`Protocol::execute`] sends: Bind, optionally Describe portal, Execute, Sync.
#[derive(Debug, Clone, Copy, Default)]
pub struct Execute<'a> {
    /// The prepared statement (`""` for the unnamed one).
    pub statement: &'a str,
    /// The portal to create (`""` for the unnamed one).
    pub portal: &'a str,
    /// Parameter values; `None` is NULL.
    pub params: &'a [Option<&'a [u8]>],
    /// Parameter formats: none (all text), one (for all), or one per parameter.
    pub param_formats: &'a [Format],
    /// Result formats: none (the session default), one (for all), or one per column.
    pub result_formats: &'a [Format],
    /// At most this many rows, then PortalSuspended (0: all).
    pub max_rows: u32,
    /// Also describe the portal (a RowDescription before the rows).
    pub describe: bool,
}

/// A request under construction; see [`Protocol::request`].
///
/// Calls chain; the first error is kept and returned by [`finish`](Self::finish),
/// which queues nothing in that case.
#[must_use = "a request is only queued by finish()"]
pub struct RequestBuilder<'p> {
    p: &'p mut Protocol,
    send_mark: usize,
    step_mark: usize,
    /// Portals bound in this request, applied to the machine at `finish`.
    bound: Vec<(String, Arc<ResultFormats>)>,
    error: Option<Error>,
    finished: bool,
}

impl<'p> RequestBuilder<'p> {
    pub(super) fn new(p: &'p mut Protocol) -> Self {
        let error = p.state.check_can_send().err();
        // Whatever has been received so far cannot answer this request.
        p.state.pipeline.fence = p.recv.cursor.received();
        RequestBuilder {
            send_mark: p.state.send.len(),
            step_mark: p.state.pipeline.mark(),
            p,
            bound: Vec::new(),
            error,
            finished: false,
        }
    }

    fn add(
        mut self,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), crate::error::EncodeError>,
        step: Option<StepKind>,
    ) -> Self {
        if self.error.is_none() {
            match encode(&mut self.p.state.send) {
                Ok(()) => {
                    if let Some(kind) = step {
                        self.p.state.pipeline.push(kind);
                    }
                }
                Err(e) => self.error = Some(e.into()),
            }
        }
        self
    }

    pub(super) fn simple_query(self, sql: &str) -> Self {
        let formats = Arc::new(ResultFormats::All(self.p.state.session_format));
        self.add(
            |b| frontend::query(b, sql),
            Some(StepKind::SimpleQuery { formats }),
        )
    }

    /// Parse: prepares `sql` as statement `name` (`""`: the unnamed statement).
    pub fn parse(self, name: &str, sql: &str, param_types: &[u32]) -> Self {
        self.add(
            |b| frontend::parse(b, name, sql, param_types),
            Some(StepKind::Parse),
        )
    }

    /// Bind: creates `portal` from `statement` with parameter values.
    pub fn bind(
        mut self,
        portal: &str,
        statement: &str,
        param_formats: &[Format],
        params: &[Option<&[u8]>],
        result_formats: &[Format],
    ) -> Self {
        let formats = Arc::new(ResultFormats::from_bind(
            result_formats,
            self.p.state.session_format,
        ));
        self.bound.push((portal.to_string(), formats));
        self.add(
            |b| frontend::bind(b, portal, statement, param_formats, params, result_formats),
            Some(StepKind::Bind),
        )
    }

    fn portal_formats(&self, portal: &str) -> Arc<ResultFormats> {
        self.bound
            .iter()
            .rev()
            .find(|(p, _)| p == portal)
            .map(|(_, f)| Arc::clone(f))
            .or_else(|| self.p.state.portal_formats.get(portal).cloned())
            .unwrap_or_else(|| Arc::new(ResultFormats::All(self.p.state.session_format)))
    }

    /// Describe statement: its parameter types, then its columns (or NoData).
    pub fn describe_statement(self, name: &str) -> Self {
        self.add(
            |b| frontend::describe(b, Target::Statement, name),
            Some(StepKind::DescribeStatement),
        )
    }

    /// Describe portal: its columns (or NoData).
    pub fn describe_portal(self, name: &str) -> Self {
        let formats = self.portal_formats(name);
        self.add(
            |b| frontend::describe(b, Target::Portal, name),
            Some(StepKind::DescribePortal { formats }),
        )
    }

    /// Execute: runs `portal`, returning at most `max_rows` rows (0: all).
    ///
    /// On Hyper, 0 is sent as `i32::MAX`: resuming a suspended portal with 0 crashes
    /// hyperd (docs/hyper.md §4), and the two mean the same.
    pub fn execute(self, portal: &str, max_rows: u32) -> Self {
        let formats = self.portal_formats(portal);
        let max_rows = if max_rows == 0 && self.p.state.is_hyper {
            i32::MAX.unsigned_abs()
        } else {
            max_rows
        };
        self.add(
            |b| frontend::execute(b, portal, max_rows),
            Some(StepKind::Execute { formats }),
        )
    }

    /// Close a prepared statement.
    pub fn close_statement(self, name: &str) -> Self {
        self.add(
            |b| frontend::close(b, Target::Statement, name),
            Some(StepKind::Close),
        )
    }

    /// Close a portal.
    pub fn close_portal(mut self, name: &str) -> Self {
        self.bound.retain(|(p, _)| p != name);
        self.add(
            |b| frontend::close(b, Target::Portal, name),
            Some(StepKind::Close),
        )
    }

    /// Flush: the server sends what it has (no answer of its own).
    pub fn flush(self) -> Self {
        self.add(
            |b| {
                frontend::flush(b);
                Ok(())
            },
            None,
        )
    }

    /// Sync: ends the batch; answered by one ReadyForQuery.
    pub fn sync(self) -> Self {
        self.add(
            |b| {
                frontend::sync(b);
                Ok(())
            },
            Some(StepKind::Sync),
        )
    }

    /// Sync if `sync` (a request that is sometimes the end of its group).
    pub fn sync_if(self, sync: bool) -> Self {
        if sync {
            self.sync()
        } else {
            self
        }
    }

    /// Queues the request.
    pub fn finish(mut self) -> Result<RequestId, Error> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let id = self
            .p
            .state
            .pipeline
            .commit(self.step_mark)
            .ok_or(Error::Usage(UsageError::EmptyRequest))?;
        for (portal, formats) in self.bound.drain(..) {
            self.p.state.portal_formats.insert(portal, formats);
        }
        self.finished = true;
        Ok(id)
    }
}

impl Drop for RequestBuilder<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.p
                .state
                .send
                .truncate(self.send_mark.max(self.p.state.sent));
            self.p.state.pipeline.rollback(self.step_mark);
        }
    }
}
