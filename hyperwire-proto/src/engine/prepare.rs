//! [`PrepareReader`]: a named statement prepared and described, and
//! [`execute_prepared`]: one run of it, the same way in every adapter.
//!
//! Names come from the statement cache (unique on the connection, with its
//! random prefix). hyperd needs every `$n` declared in Parse, so on hyperd
//! undeclared placeholders are declared with OID 0 (the server infers them).

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use crate::engine::query::{ReadStep, RequestError};
use crate::engine::Reader;
use crate::inbox::Inbox;
use crate::machine::{Event, Protocol, RequestId};
use crate::result::{binary_formats, columns_of, Column};
use crate::statement_cache::StatementCache;
use crate::value::EncodedParams;
use crate::{Error, Format, ServerError};

/// A prepared statement: its name on the server, its parameter types and its
/// result columns.
#[derive(Debug, Clone)]
pub struct PreparedStatement {
    name: String,
    params: Vec<u32>,
    columns: Arc<[Column]>,
    formats: Vec<Format>,
    /// The columns as rows arrive (with `formats`).
    bound: Arc<[Column]>,
}

impl PreparedStatement {
    fn new(name: String, params: Vec<u32>, columns: Arc<[Column]>) -> Self {
        let formats = binary_formats(&columns);
        let bound = columns
            .iter()
            .enumerate()
            .map(|(i, c)| c.with_format(formats.get(i).copied().unwrap_or_default()))
            .collect();
        PreparedStatement {
            name,
            params,
            columns,
            formats,
            bound,
        }
    }

    /// The statement's name on the server.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The parameter types the server inferred (or that were declared).
    pub fn params(&self) -> &[u32] {
        &self.params
    }
    /// The result columns (as described; execution asks common types in binary).
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }
    /// The result formats execution asks for (binary for the types this client
    /// decodes, text for the rest).
    pub fn result_formats(&self) -> &[Format] {
        &self.formats
    }
    /// The columns as an execution's rows arrive (in [`Self::result_formats`]).
    pub fn bound_columns(&self) -> Arc<[Column]> {
        Arc::clone(&self.bound)
    }
}

/// The parameter types Parse declares for `sql`: `declared` as given; none
/// given on hyperd, one 0 per placeholder (hyperd refuses undeclared ones).
pub fn declared_types(proto: &Protocol, sql: &str, declared: Option<&[u32]>) -> Vec<u32> {
    match declared {
        Some(types) => types.to_vec(),
        None if proto.is_hyper() => vec![0; crate::sql::count_placeholders(sql)],
        None => Vec::new(),
    }
}

/// Prepares and describes one named statement (see the [module docs](self)).
#[derive(Debug)]
pub struct PrepareReader {
    request: RequestId,
    name: String,
    params: Vec<u32>,
    columns: Arc<[Column]>,
    error: Option<ServerError>,
}

impl PrepareReader {
    /// Sends Parse, Describe and Sync for `sql` (`types`: declared parameter
    /// types, `None` to let the server infer them).
    pub fn send(
        proto: &mut Protocol,
        cache: &mut StatementCache,
        sql: &str,
        types: Option<&[u32]>,
    ) -> Result<Self, Error> {
        let name = cache.name_prepared();
        let types = declared_types(proto, sql, types);
        let request = proto.prepare(&name, sql, &types)?;
        Ok(PrepareReader {
            request,
            name,
            params: Vec::new(),
            columns: Arc::from(Vec::new()),
            error: None,
        })
    }
}

impl Reader for PrepareReader {
    type Output = PreparedStatement;

    fn request(&self) -> RequestId {
        self.request
    }

    fn poll(
        &mut self,
        proto: &mut Protocol,
        _cache: &mut StatementCache,
        inbox: &mut Inbox,
    ) -> ReadStep<PreparedStatement> {
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
            match ev {
                Event::ParameterDescription { types, .. } => self.params = types.iter().collect(),
                Event::RowDescription {
                    description,
                    formats,
                    ..
                } => self.columns = columns_of(&description, formats),
                Event::ServerError { error, .. } => {
                    self.error
                        .get_or_insert_with(|| ServerError::from_fields(&error));
                }
                Event::Done { .. } => {
                    if let Some(e) = self.error.take() {
                        return ReadStep::Done(Err(RequestError::Server(e)));
                    }
                    return ReadStep::Done(Ok(PreparedStatement::new(
                        core::mem::take(&mut self.name),
                        core::mem::take(&mut self.params),
                        core::mem::replace(&mut self.columns, Arc::from(Vec::new())),
                    )));
                }
                _ => {}
            }
        }
        ReadStep::NeedIo
    }

    fn abandon(&self, _cache: &mut StatementCache) {}
}

/// Sends one run of `stmt` with `params` (Bind, Describe, Execute, Sync; common
/// result types in binary), to be read with [`crate::engine::QueryReader::for_request`].
pub fn execute_prepared(
    proto: &mut Protocol,
    stmt: &PreparedStatement,
    params: &EncodedParams,
) -> Result<RequestId, Error> {
    execute_prepared_unsynced(proto, stmt, params, true)
}

/// [`execute_prepared`], with a Sync at its end only if `sync` (a pipeline that
/// groups statements sends its own).
pub fn execute_prepared_unsynced(
    proto: &mut Protocol,
    stmt: &PreparedStatement,
    params: &EncodedParams,
    sync: bool,
) -> Result<RequestId, Error> {
    let values = params.values();
    proto
        .request()
        .bind("", &stmt.name, &params.formats, &values, &stmt.formats)
        .describe_portal("")
        .execute("", 0)
        .sync_if(sync)
        .finish()
}
