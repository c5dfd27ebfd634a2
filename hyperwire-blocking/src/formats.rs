//! Statements run with chosen result formats (text, binary, HyperBinary).

use hyperwire_proto::statement_cache;
use hyperwire_proto::value::ToSql;
use hyperwire_proto::Format;

use crate::client::{encode_params, Client};
use crate::error::Result;
use crate::rows::RowIter;
use hyperwire_proto::result::Row;

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
}
