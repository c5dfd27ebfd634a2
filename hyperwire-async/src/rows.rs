//! Streaming rows as a `futures_core::Stream`.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use hyperwire_proto::result::{columns_of, Column, Row, RowBatch};
use hyperwire_proto::value::ToSql;
use hyperwire_proto::{Event, RequestId, ServerError};

use crate::connection::{encode, Connection};
use crate::error::{Error, Result};
use crate::io;
use crate::runtime::Runtime;

/// Rows handed out per batch.
const ROWS_PER_BATCH: usize = 1024;

/// The rows of one statement as they arrive (at most one receive buffer's worth
/// is held). Dropping it early leaves the rest to the connection's [`crate::DropPolicy`].
pub struct RowStream<'c, R: Runtime> {
    conn: &'c mut Connection<R>,
    request: RequestId,
    columns: Arc<[Column]>,
    ready: VecDeque<Row>,
    done: bool,
}

impl<R: Runtime> std::fmt::Debug for RowStream<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowStream")
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

impl<'c, R: Runtime> RowStream<'c, R> {
    /// The stream of `request`'s rows (already queued).
    pub(crate) fn new(conn: &'c mut Connection<R>, request: RequestId) -> Self {
        conn.track(request);
        RowStream {
            conn,
            request,
            columns: Arc::from(Vec::new()),
            ready: VecDeque::new(),
            done: false,
        }
    }

    /// The columns (known once the description arrived).
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }
}

impl<R: Runtime> Stream for RowStream<'_, R> {
    type Item = Result<Row>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(row) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(row)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            let request = this.request;
            let mut batch = RowBatch::default();
            let mut batched = 0usize;
            let mut error = None;
            let mut done = false;
            let columns = &mut this.columns;
            let taken = this.conn.take_events(&mut |ev| {
                match ev {
                    Event::RowDescription {
                        request: r,
                        description,
                        formats,
                    } if *r == request => {
                        *columns = columns_of(description, formats);
                    }
                    Event::DataRow {
                        request: r, row, ..
                    } if *r == request => {
                        batch.push(row);
                        batched += 1;
                    }
                    Event::ServerError {
                        request: r,
                        error: e,
                    } if *r == request => {
                        error.get_or_insert_with(|| ServerError::from_fields(e));
                    }
                    Event::Done { request: r } if *r == request => {
                        done = true;
                        return Some(());
                    }
                    _ => {}
                }
                // Stop after a batch so memory stays bounded.
                (batched >= ROWS_PER_BATCH).then_some(())
            });
            if let Err(e) = taken {
                this.done = true;
                return Poll::Ready(Some(Err(e)));
            }
            batch.drain_into(&this.columns, &mut this.ready);
            if done {
                this.done = true;
                this.conn.untrack(this.request);
            }
            if let Some(e) = error {
                return Poll::Ready(Some(Err(Error::Server(Box::new(e)))));
            }
            if !this.ready.is_empty() || this.done {
                continue;
            }
            match io::poll_pump(&mut this.conn.io, &mut this.conn.proto, cx) {
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<R: Runtime> Connection<R> {
    /// Streams the rows of one statement.
    pub async fn query_stream(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<RowStream<'_, R>> {
        self.settle().await?;
        let encoded = encode(params, None)?;
        let request = self.send_unnamed(sql, &encoded)?;
        self.track(request);
        Ok(RowStream {
            conn: self,
            request,
            columns: Arc::from(Vec::new()),
            ready: VecDeque::new(),
            done: false,
        })
    }
}
