//! Rows read in place: each row is handed to a callback while it still lies in
//! the receive buffer, so streaming costs no copy and no allocation per row.

use hyperwire_proto::result::{RowRef, RowVisitor, VisitEnd};
use hyperwire_proto::value::ToSql;
use hyperwire_proto::Format;

use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::runtime::Runtime;

impl<R: Runtime> Connection<R> {
    /// Runs one statement and calls `f` with each row as it arrives, borrowed
    /// from the receive buffer (text results; see
    /// [`query_for_each_with_formats`](Self::query_for_each_with_formats)).
    /// Returns the number of rows.
    ///
    /// If `f` fails, its error is returned at once and the rest of the answer
    /// is left to the connection's [`crate::DropPolicy`], as for a dropped
    /// [`crate::RowStream`]; the next call settles it first.
    pub async fn query_for_each(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        f: impl FnMut(RowRef<'_>) -> Result<()>,
    ) -> Result<u64> {
        self.query_for_each_with_formats(sql, params, &[], f).await
    }

    /// Like [`query_for_each`](Self::query_for_each) with the chosen result
    /// formats (none or one for every column, or one per column);
    /// [`Format::HyperBinary`] works on hyperd only (refused before sending
    /// elsewhere). The fastest way to read a large result: no row is copied.
    pub async fn query_for_each_with_formats(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        formats: &[Format],
        f: impl FnMut(RowRef<'_>) -> Result<()>,
    ) -> Result<u64> {
        let id = self.send_with_formats(sql, params, formats).await?;
        self.session.track(id);
        let mut visitor = RowVisitor::new(id, f);
        loop {
            self.drive(|ev| visitor.on_event(ev).then_some(())).await?;
            if !visitor.copy_in_started() {
                break;
            }
            visitor.fail_copy_in(self.session.protocol_mut())?;
        }
        if !visitor.failed() {
            // Every answer was read; a callback that failed stopped early, and
            // the drop policy deals with the rest at the next call.
            self.session.untrack(id);
        }
        visitor.finish().map_err(|end| match end {
            VisitEnd::Server(e) => Error::Server(Box::new(e)),
            VisitEnd::Callback(e) => e,
            _ => Error::UnexpectedResult(hyperwire_proto::engine::COPY_NOT_EXPECTED),
        })
    }
}
