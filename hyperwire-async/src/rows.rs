//! Streaming rows as a `futures_core::Stream`.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use hyperwire_proto::engine::{RowReader, RowsStep};
use hyperwire_proto::result::{Column, Row};
use hyperwire_proto::value::ToSql;
use hyperwire_proto::RequestId;

use crate::connection::{encode, Connection};
use crate::error::Result;
use crate::io;
use crate::runtime::Runtime;

/// The rows of one statement as they arrive (at most one receive buffer's worth
/// is held). Dropping it early leaves the rest to the connection's [`crate::DropPolicy`].
pub struct RowStream<'c, R: Runtime> {
    conn: &'c mut Connection<R>,
    reader: RowReader,
    ready: VecDeque<Row>,
}

impl<R: Runtime> std::fmt::Debug for RowStream<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowStream")
            .field("request", &self.reader.request())
            .finish_non_exhaustive()
    }
}

impl<'c, R: Runtime> RowStream<'c, R> {
    /// The stream of `request`'s rows (already queued).
    pub(crate) fn new(conn: &'c mut Connection<R>, request: RequestId) -> Self {
        conn.session.track(request);
        RowStream {
            conn,
            reader: RowReader::new(request),
            ready: VecDeque::new(),
        }
    }

    /// The columns (known once the description arrived).
    pub fn columns(&self) -> &[Column] {
        self.reader.columns()
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
            if this.reader.is_done() {
                return Poll::Ready(None);
            }
            let conn = &mut *this.conn;
            let (proto, _, inbox) = conn.session.parts();
            match this.reader.poll(proto, inbox, &mut this.ready) {
                RowsStep::Rows => continue,
                RowsStep::Done(r) => {
                    conn.session.untrack(this.reader.request());
                    match r {
                        Ok(_) => continue,
                        Err(e) => return Poll::Ready(Some(Err(e.into()))),
                    }
                }
                _ => {}
            }
            match io::poll_pump(&mut conn.io, conn.session.protocol_mut(), cx) {
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
        Ok(RowStream::new(self, request))
    }
}
