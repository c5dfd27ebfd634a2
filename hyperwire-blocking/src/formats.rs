//! Statements run with chosen result formats (text, binary, HyperBinary).

use hyperwire_proto::result::{Row, RowRef, RowVisitor, VisitEnd};
use hyperwire_proto::statement_cache;
use hyperwire_proto::value::ToSql;
use hyperwire_proto::Format;

use crate::client::{encode_params, Client};
use crate::error::{Error, Result};
use crate::rows::RowIter;

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
        let id = statement_cache::send_unnamed_with_formats(self.proto(), sql, &encoded, formats)?;
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
        let id = statement_cache::send_unnamed_with_formats(self.proto(), sql, &encoded, formats)?;
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
        f: impl FnMut(RowRef<'_>) -> Result<()>,
    ) -> Result<u64> {
        let encoded = encode_params(params, None)?;
        let id = statement_cache::send_unnamed_with_formats(self.proto(), sql, &encoded, formats)?;
        let mut visitor = RowVisitor::new(id, f);
        loop {
            self.run(id, |ev| Ok(visitor.on_event(ev)))?;
            if !visitor.copy_in_started() {
                break;
            }
            visitor.fail_copy_in(self.proto())?;
        }
        if visitor.failed() {
            self.give_up(id, hyperwire_proto::engine::AbandonPolicy::CancelThenDrain);
        }
        visitor.finish().map_err(|end| match end {
            VisitEnd::Server(e) => Error::Server(Box::new(e)),
            VisitEnd::Callback(e) => e,
            _ => Error::UnexpectedResult(hyperwire_proto::engine::COPY_NOT_EXPECTED),
        })
    }
}
