//! Portals: a prepared statement bound once and read a few rows at a time
//! (Execute with a row limit, answered by PortalSuspended until the end).
//!
//! On PostgreSQL a portal lives until the end of its transaction, so bind it
//! inside one; hyperd keeps a suspended portal across Syncs. hyperd crashes if
//! a suspended portal is resumed with a limit of 0: the machine sends the
//! largest limit instead (docs/hyper.md).

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::engine::{PreparedStatement, QueryReader, ReadStep, Reader};
use crate::error::Error;
use crate::inbox::Inbox;
use crate::machine::{Protocol, RequestId};
use crate::result::{Collector, Column, Row};
use crate::statement_cache::StatementCache;
use crate::value::EncodedParams;

/// A named portal.
#[derive(Debug, Clone)]
pub struct Portal {
    name: String,
    columns: Arc<[Column]>,
    done: bool,
}

impl Portal {
    /// Binds `statement` with `params` to a new portal; read the returned
    /// request (through a [`QueryReader`]) to its end before fetching. The
    /// portal's name is unique on the connection (it carries the request id).
    pub fn bind(
        proto: &mut Protocol,
        cache: &mut StatementCache,
        statement: &PreparedStatement,
        params: &EncodedParams,
    ) -> Result<(Portal, QueryReader), Error> {
        let values = params.values();
        let name = cache.name_portal();
        let id = proto
            .request()
            .bind(
                &name,
                statement.name(),
                &params.formats,
                &values,
                statement.result_formats(),
            )
            .sync()
            .finish()?;
        let portal = Portal {
            name,
            columns: statement.bound_columns(),
            done: false,
        };
        Ok((portal, QueryReader::for_request(id, Collector::default())))
    }

    /// The portal's name on the server.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether every row was read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Sends an Execute for at most `max_rows` more rows (0: all the rest) and
    /// returns the reader of its answer; `None` if every row was read already.
    pub fn fetch(&self, proto: &mut Protocol, max_rows: u32) -> Result<Option<Fetch>, Error> {
        if self.done {
            return Ok(None);
        }
        let id = proto
            .request()
            .execute(&self.name, max_rows)
            .sync()
            .finish()?;
        Ok(Some(Fetch {
            reader: QueryReader::for_request(id, Collector::default()),
            columns: Arc::clone(&self.columns),
        }))
    }

    /// Notes what a fetch found: more rows (suspended) or the end.
    pub fn fetched(&mut self, outcome: &FetchOutcome) {
        self.done = !outcome.suspended;
    }

    /// Closes the portal early; read the returned request to its end.
    pub fn close(self, proto: &mut Protocol) -> Result<QueryReader, Error> {
        let id = proto.request().close_portal(&self.name).sync().finish()?;
        Ok(QueryReader::for_request(id, Collector::default()))
    }
}

/// Reads one Execute of a portal.
#[derive(Debug)]
pub struct Fetch {
    reader: QueryReader,
    columns: Arc<[Column]>,
}

/// What one fetch read.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct FetchOutcome {
    /// The rows, with the statement's columns.
    pub rows: Vec<Row>,
    /// The portal has more rows (PortalSuspended), to be fetched again.
    pub suspended: bool,
}

impl Reader for Fetch {
    type Output = FetchOutcome;

    fn request(&self) -> RequestId {
        self.reader.request()
    }

    fn poll(
        &mut self,
        proto: &mut Protocol,
        cache: &mut StatementCache,
        inbox: &mut Inbox,
    ) -> ReadStep<FetchOutcome> {
        match self.reader.poll(proto, cache, inbox) {
            ReadStep::Done(Ok(mut results)) => {
                let mut rows = results.pop().map(|r| r.rows).unwrap_or_default();
                // The rows came without a description: the statement's columns.
                for row in &mut rows {
                    row.set_columns(Arc::clone(&self.columns));
                }
                ReadStep::Done(Ok(FetchOutcome {
                    rows,
                    suspended: self.reader.suspended(),
                }))
            }
            ReadStep::Done(Err(e)) => ReadStep::Done(Err(e)),
            // A plain request is never sent again.
            _ => ReadStep::NeedIo,
        }
    }

    fn abandon(&self, _cache: &mut StatementCache) {}
}
