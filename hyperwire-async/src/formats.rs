//! Statements run with chosen result formats (text, binary, HyperBinary).

use hyperwire_proto::result::{Collector, Row};
use hyperwire_proto::statement_cache;
use hyperwire_proto::value::ToSql;
use hyperwire_proto::{Event, Format};

use crate::connection::{encode, Connection};
use crate::error::{Error, Result};
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
        self.settle().await?;
        let encoded = encode(params, None)?;
        let id = statement_cache::send_unnamed_with_formats(
            self.session.protocol_mut(),
            sql,
            &encoded,
            formats,
        )?;
        let mut c = Collector::default();
        let mut copy_in = false;
        self.run(id, |ev| {
            copy_in |= matches!(ev, Event::CopyInStart { .. });
            c.on_event(ev);
        })
        .await?;
        if copy_in || c.saw_copy() {
            return Err(Error::UnexpectedResult(
                "COPY needs copy_in or copy_out, not a query method",
            ));
        }
        Ok(c.finish()?.pop().map(|r| r.rows).unwrap_or_default())
    }

    /// Like [`query_with_formats`](Self::query_with_formats), streaming (at most
    /// one receive buffer's worth of rows is held).
    pub async fn query_stream_with_formats(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        formats: &[Format],
    ) -> Result<RowStream<'_, R>> {
        self.settle().await?;
        let encoded = encode(params, None)?;
        let id = statement_cache::send_unnamed_with_formats(
            self.session.protocol_mut(),
            sql,
            &encoded,
            formats,
        )?;
        Ok(RowStream::new(self, id))
    }
}
