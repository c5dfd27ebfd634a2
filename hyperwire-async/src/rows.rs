//! Streaming rows and COPY OUT data as `futures_core::Stream`s.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
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

impl<R: Runtime> RowStream<'_, R> {
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
                this.conn.in_flight = None;
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

/// The data of `COPY ... TO STDOUT`, chunk by chunk.
pub struct CopyOutStream<'c, R: Runtime> {
    conn: &'c mut Connection<R>,
    request: RequestId,
    done: bool,
    tag: Option<String>,
}

impl<R: Runtime> std::fmt::Debug for CopyOutStream<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyOutStream")
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> CopyOutStream<'_, R> {
    /// The command tag (`COPY n`), once the stream ended.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
}

impl<R: Runtime> Stream for CopyOutStream<'_, R> {
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            let request = this.request;
            let mut chunk = None;
            let mut error = None;
            let mut done = false;
            let tag = &mut this.tag;
            let taken = this.conn.take_events(&mut |ev| {
                match ev {
                    Event::CopyData { request: r, data } if *r == request => {
                        chunk = Some(Bytes::copy_from_slice(data));
                        return Some(());
                    }
                    Event::CommandComplete { request: r, tag: t } if *r == request => {
                        *tag = Some((*t).to_owned())
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
                None
            });
            if let Err(e) = taken {
                this.done = true;
                return Poll::Ready(Some(Err(e)));
            }
            if done {
                this.done = true;
                this.conn.in_flight = None;
            }
            if let Some(e) = error {
                return Poll::Ready(Some(Err(Error::Server(Box::new(e)))));
            }
            if let Some(c) = chunk {
                return Poll::Ready(Some(Ok(c)));
            }
            if this.done {
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

/// Data for `COPY ... FROM STDIN`. Call [`finish`](Self::finish); dropping it
/// unfinished queues a CopyFail, and the connection stays usable.
#[derive(Debug)]
pub struct CopyIn<'c, R: Runtime> {
    conn: &'c mut Connection<R>,
    request: RequestId,
    finished: bool,
}

impl<R: Runtime> CopyIn<'_, R> {
    /// Sends a chunk of data (queued; written when enough has gathered).
    pub async fn send(&mut self, data: &[u8]) -> Result<()> {
        if !self.conn.proto.in_copy_in() {
            return Err(Error::UnexpectedResult(
                "COPY FROM STDIN ended by the server",
            ));
        }
        self.conn.proto.copy_data(data)?;
        if self.conn.proto.pending_send().len() > 1024 * 1024 {
            self.conn.flush().await?;
        }
        Ok(())
    }

    /// Ends the COPY; returns the number of rows loaded.
    pub async fn finish(mut self) -> Result<u64> {
        self.finished = true;
        self.conn.proto.copy_done()?;
        self.end().await
    }

    /// Aborts the COPY; nothing is loaded.
    pub async fn abort(mut self, reason: &str) -> Result<()> {
        self.finished = true;
        self.conn.proto.copy_fail(reason)?;
        match self.end().await {
            Err(Error::Server(e)) if e.code() == "57014" => Ok(()),
            other => other.map(drop),
        }
    }

    async fn end(&mut self) -> Result<u64> {
        let mut tag = None;
        let mut error = None;
        self.conn
            .run(self.request, |ev| match ev {
                Event::CommandComplete { tag: t, .. } => tag = Some((*t).to_owned()),
                Event::ServerError { error: e, .. } => error = Some(ServerError::from_fields(e)),
                _ => {}
            })
            .await?;
        match error {
            Some(e) => Err(Error::Server(Box::new(e))),
            None => Ok(tag
                .and_then(|t| hyperwire_proto::result::rows_affected(&t))
                .unwrap_or(0)),
        }
    }
}

impl<R: Runtime> Drop for CopyIn<'_, R> {
    fn drop(&mut self) {
        if !self.finished && self.conn.proto.in_copy_in() {
            // Sent with the next request; that request's settle drains the answer.
            let _ = self.conn.proto.copy_fail("COPY abandoned by the client");
        }
    }
}

/// Starts a request and reads until COPY starts (or the request ends with an error).
async fn start_copy<R: Runtime>(
    conn: &mut Connection<R>,
    sql: &str,
    want_in: bool,
) -> Result<RequestId> {
    conn.settle().await?;
    let id = conn.proto.query(sql)?;
    conn.in_flight = Some(id);
    let mut error = None;
    let started = conn
        .drive(|ev| match ev {
            Event::CopyInStart { .. } if want_in => Some(true),
            Event::CopyOutStart { .. } if !want_in => Some(true),
            Event::ServerError { error: e, .. } => {
                error = Some(ServerError::from_fields(e));
                None
            }
            Event::Done { request } if *request == id => Some(false),
            _ => None,
        })
        .await?;
    if started {
        return Ok(id);
    }
    conn.in_flight = None;
    Err(match error {
        Some(e) => Error::Server(Box::new(e)),
        None => Error::UnexpectedResult("the statement did not start a COPY"),
    })
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
        self.in_flight = Some(request);
        Ok(RowStream {
            conn: self,
            request,
            columns: Arc::from(Vec::new()),
            ready: VecDeque::new(),
            done: false,
        })
    }

    /// Starts `COPY ... FROM STDIN`.
    pub async fn copy_in(&mut self, sql: &str) -> Result<CopyIn<'_, R>> {
        let request = start_copy(self, sql, true).await?;
        Ok(CopyIn {
            conn: self,
            request,
            finished: false,
        })
    }

    /// Starts `COPY ... TO STDOUT`.
    pub async fn copy_out(&mut self, sql: &str) -> Result<CopyOutStream<'_, R>> {
        let request = start_copy(self, sql, false).await?;
        Ok(CopyOutStream {
            conn: self,
            request,
            done: false,
            tag: None,
        })
    }
}
