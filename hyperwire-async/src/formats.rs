//! Statements run with chosen result formats (text, binary, HyperBinary).

use hyperwire_proto::result::Row;
use hyperwire_proto::statement_cache;
use hyperwire_proto::value::ToSql;
use hyperwire_proto::{Format, RequestId};

use crate::connection::{encode, Connection};
use crate::error::Result;
use crate::rows::RowStream;
use crate::runtime::Runtime;

impl<R: Runtime> Connection<R> {
    /// Runs one statement with parameters and the chosen result formats: none or
    /// one format for every column, or one per column. [`Format::HyperBinary`]
    /// (format 2) works on hyperd only (refused before sending elsewhere). The
    /// rows know their formats, so `Row::get` decodes each.
    ///
    /// The statement is parsed unnamed each time (no statement cache).
    pub async fn query_with_formats(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        formats: &[Format],
    ) -> Result<Vec<Row>> {
        let id = self.send_with_formats(sql, params, formats).await?;
        // The query methods' reader: one COPY rule for every method.
        let mut results = self.collect(id).await?;
        Ok(results.pop().map(|r| r.rows).unwrap_or_default())
    }

    /// Like [`query_with_formats`](Self::query_with_formats), streaming (at most
    /// one receive buffer's worth of rows is held).
    pub async fn query_stream_with_formats(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        formats: &[Format],
    ) -> Result<RowStream<'_, R>> {
        let id = self.send_with_formats(sql, params, formats).await?;
        Ok(RowStream::new(self, id))
    }

    /// Settles what earlier calls left, then sends `sql` unnamed with the
    /// chosen result formats.
    pub(crate) async fn send_with_formats(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        formats: &[Format],
    ) -> Result<RequestId> {
        self.settle().await?;
        let encoded = encode(params, None)?;
        Ok(statement_cache::send_unnamed_with_formats(
            self.session.protocol_mut(),
            sql,
            &encoded,
            formats,
        )?)
    }
}
