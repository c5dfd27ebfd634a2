//! Rows read in place: each row is handed to a callback while it still lies in
//! the receive buffer, so streaming costs no copy and no allocation per row.

use std::sync::Arc;

use hyperwire_proto::result::{columns_of, Column, RowRef};
use hyperwire_proto::statement_cache;
use hyperwire_proto::value::ToSql;
use hyperwire_proto::{Event, Format, RequestId, ServerError};

use crate::connection::{encode, Connection};
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
        self.settle().await?;
        let encoded = encode(params, None)?;
        let id =
            statement_cache::send_unnamed_with_formats(&mut self.proto, sql, &encoded, formats)?;
        self.track(id);
        let mut reader = InPlace::new(id, f);
        self.drive(|ev| reader.on_event(ev)).await?;
        if reader.stopped.is_none() {
            // Every answer was read; a callback that failed stopped early, and
            // the drop policy deals with the rest at the next call.
            self.untrack(id);
        }
        reader.finish()
    }
}

/// The state of one in-place read: the request's columns and what ended it.
struct InPlace<F> {
    request: RequestId,
    columns: Arc<[Column]>,
    f: F,
    rows: u64,
    server_error: Option<ServerError>,
    copy: bool,
    stopped: Option<Error>,
}

impl<F: FnMut(RowRef<'_>) -> Result<()>> InPlace<F> {
    fn new(request: RequestId, f: F) -> Self {
        InPlace {
            request,
            columns: Arc::from(Vec::new()),
            f,
            rows: 0,
            server_error: None,
            copy: false,
            stopped: None,
        }
    }

    /// `Some` when the read is over: the request is done or the callback failed.
    #[inline]
    fn on_event(&mut self, ev: &Event<'_>) -> Option<()> {
        match ev {
            Event::DataRow {
                request,
                row,
                formats,
            } if *request == self.request => {
                self.rows += 1;
                if let Err(e) = (self.f)(RowRef::new(&self.columns, *row, formats)) {
                    self.stopped = Some(e);
                    return Some(());
                }
            }
            Event::RowDescription {
                request,
                description,
                formats,
            } if *request == self.request => {
                self.columns = columns_of(description, formats);
            }
            Event::ServerError { request, error } if *request == self.request => {
                self.server_error
                    .get_or_insert_with(|| ServerError::from_fields(error));
            }
            Event::CopyInStart { request, .. } | Event::CopyOutStart { request, .. }
                if *request == self.request =>
            {
                self.copy = true;
            }
            Event::Done { request } if *request == self.request => return Some(()),
            _ => {}
        }
        None
    }

    /// The row count, or what went wrong (the callback's error first).
    fn finish(self) -> Result<u64> {
        if let Some(e) = self.stopped {
            return Err(e);
        }
        if let Some(e) = self.server_error {
            return Err(Error::Server(Box::new(e)));
        }
        if self.copy {
            return Err(Error::UnexpectedResult(
                "COPY needs copy_in or copy_out, not a query method",
            ));
        }
        Ok(self.rows)
    }
}
