//! Statements run with chosen result formats (text, binary, HyperBinary).

use std::sync::Arc;

use hyperwire_proto::result::{columns_of, Column, Row, RowRef};
use hyperwire_proto::statement_cache;
use hyperwire_proto::value::ToSql;
use hyperwire_proto::{Event, Format, ServerError};

use crate::client::{encode_params, Client};
use crate::error::{Error, Result};
use crate::rows::RowIter;

/// What stopped [`Client::query_for_each_with_formats`] early.
enum Stop {
    Callback(Error),
    CopyIn,
}

impl Client {
    /// Runs one statement with parameters and the chosen result formats: none or
    /// one format for every column, or one per column. [`Format::HyperBinary`]
    /// (format 2) works on hyperd only (refused before sending elsewhere). The
    /// rows know their formats, so `Row::get` decodes each.
    ///
    /// The statement is parsed unnamed each time (no statement cache).
    pub fn query_with_formats(
        &mut self,
        sql: &str,
        params: &[&dyn ToSql],
        formats: &[Format],
    ) -> Result<Vec<Row>> {
        let encoded = encode_params(params, None)?;
        let id = statement_cache::send_unnamed_with_formats(
            &mut self.conn.proto,
            sql,
            &encoded,
            formats,
        )?;
        let mut results = self.collect(id)?;
        Ok(results.pop().map(|r| r.rows).unwrap_or_default())
    }

    /// Like [`query_with_formats`](Self::query_with_formats), streaming: the
    /// iterator holds at most one receive buffer's worth of rows.
    pub fn query_iter_with_formats(
        &mut self,
        sql: &str,
        params: &[&dyn ToSql],
        formats: &[Format],
    ) -> Result<RowIter<'_>> {
        let encoded = encode_params(params, None)?;
        let id = statement_cache::send_unnamed_with_formats(
            &mut self.conn.proto,
            sql,
            &encoded,
            formats,
        )?;
        Ok(RowIter::new(self, id))
    }

    /// Like [`query_iter_with_formats`](Self::query_iter_with_formats), the
    /// fastest way to read many rows: `f` sees each row where it arrived, in the
    /// receive buffer ([`RowRef`]), so nothing is copied or allocated per row.
    /// Returns the number of rows. If `f` fails, the statement is cancelled, its
    /// remaining answers are drained (the connection stays usable), and `f`'s
    /// error is returned.
    pub fn query_for_each_with_formats(
        &mut self,
        sql: &str,
        params: &[&dyn ToSql],
        formats: &[Format],
        mut f: impl FnMut(RowRef<'_>) -> Result<()>,
    ) -> Result<u64> {
        let encoded = encode_params(params, None)?;
        let id = statement_cache::send_unnamed_with_formats(
            &mut self.conn.proto,
            sql,
            &encoded,
            formats,
        )?;
        let mut columns: Arc<[Column]> = Arc::from(Vec::new());
        let mut rows = 0u64;
        let mut server_error = None;
        let mut copy_out = false;
        let mut stop = None;
        let result = self.run(id, |ev| {
            if ev.request() != Some(id) {
                return Ok(false);
            }
            match ev {
                Event::DataRow { row, formats, .. } => {
                    rows += 1;
                    if let Err(e) = f(RowRef::new(&columns, *row, formats)) {
                        stop = Some(Stop::Callback(e));
                        return Ok(true);
                    }
                }
                Event::RowDescription {
                    description,
                    formats,
                    ..
                } => columns = columns_of(description, formats),
                Event::ServerError { error, .. } => {
                    server_error.get_or_insert_with(|| ServerError::from_fields(error));
                }
                Event::CopyInStart { .. } => {
                    stop = Some(Stop::CopyIn);
                    return Ok(true);
                }
                Event::CopyOutStart { .. } => copy_out = true,
                Event::Done { .. } => return Ok(true),
                _ => {}
            }
            Ok(false)
        });
        result?;
        const COPY: &str = "COPY needs copy_in or copy_out, not a query method";
        match stop {
            Some(Stop::Callback(e)) => {
                self.cancel_and_drain(id);
                return Err(e);
            }
            Some(Stop::CopyIn) => {
                let _ = self.conn.proto.copy_fail(COPY);
                self.drain(id);
                return Err(Error::UnexpectedResult(COPY));
            }
            None => {}
        }
        if let Some(e) = server_error {
            return Err(Error::Server(Box::new(e)));
        }
        if copy_out {
            return Err(Error::UnexpectedResult(COPY));
        }
        Ok(rows)
    }
}
