//! COPY: [`CopyIn`] sends data (`send`/`finish`, a `Sink<Bytes>`, and
//! `AsyncWrite` with the `tokio` or `futures-io` feature); [`CopyOutStream`]
//! receives it (a `Stream` of chunks, and `AsyncRead` with those features).

use hyperwire_proto::engine::copy_in::COPY_ENDED;
use hyperwire_proto::engine::{
    CopyDirection, CopyReader, CopyStart, CopyStep, CopyWriteError, CopyWriter,
};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use hyperwire_proto::RequestId;

use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::io;
use crate::runtime::Runtime;

/// The first allocation of a COPY OUT chunk (grown when a read brought more).
const GATHER_CAPACITY: usize = 64 * 1024;
/// A COPY OUT chunk stops gathering messages at this size.
const MAX_CHUNK: usize = 1024 * 1024;

/// Reads `reader` until it hands out data or the COPY ends (see
/// [`CopyReader::poll`]); the request is untracked at its end.
fn poll_copy<R: Runtime>(
    conn: &mut Connection<R>,
    reader: &mut CopyReader,
    cx: &mut Context<'_>,
    mut data: impl FnMut(&[u8]) -> bool,
) -> Poll<Result<CopyStep>> {
    loop {
        let (proto, _, inbox) = conn.session.parts();
        match reader.poll(proto, inbox, &mut data)? {
            CopyStep::NeedIo => {}
            CopyStep::Done => {
                conn.session.untrack(reader.request());
                return Poll::Ready(Ok(CopyStep::Done));
            }
            step => return Poll::Ready(Ok(step)),
        }
        ready!(io::poll_pump(&mut conn.io, conn.session.protocol_mut(), cx))?;
    }
}

/// The data of `COPY ... TO STDOUT`, chunk by chunk (a `Stream` of [`Bytes`]: each
/// chunk holds every CopyData message that had arrived, up to 1 MiB), or
/// as bytes with `AsyncRead`. Dropping it early leaves the rest to the
/// connection's [`crate::DropPolicy`].
pub struct CopyOutStream<'c, R: Runtime> {
    conn: &'c mut Connection<R>,
    reader: CopyReader,
    done: bool,
    /// The unread part of a chunk (`AsyncRead` reads chunks piecewise).
    rest: Bytes,
    /// An error that came after data: reported after that data.
    failed: Option<Error>,
}

impl<R: Runtime> std::fmt::Debug for CopyOutStream<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyOutStream")
            .field("request", &self.reader.request())
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> CopyOutStream<'_, R> {
    /// The command tag (`COPY n`), once the stream ended.
    pub fn tag(&self) -> Option<&str> {
        self.reader.tag()
    }

    /// The next chunk; `None` at the end (the error, if any, comes first).
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes>>> {
        if !self.rest.is_empty() {
            return Poll::Ready(Some(Ok(std::mem::take(&mut self.rest))));
        }
        loop {
            if self.done {
                // The end: the error that ended the COPY (once), then nothing.
                if let Some(e) = self.failed.take() {
                    return Poll::Ready(Some(Err(e)));
                }
                return Poll::Ready(self.reader.outcome().err().map(|e| Err(e.into())));
            }
            // Every CopyData message already received goes into one chunk: one
            // allocation per read rather than per message (PostgreSQL sends a
            // message per row; the boundaries carry no meaning in COPY data).
            let mut gathered: Vec<u8> = Vec::new();
            let polled = poll_copy(self.conn, &mut self.reader, cx, |data| {
                if gathered.is_empty() {
                    gathered.reserve(data.len().max(GATHER_CAPACITY));
                }
                gathered.extend_from_slice(data);
                gathered.len() >= MAX_CHUNK
            });
            let got = (!gathered.is_empty()).then(|| Bytes::from(gathered));
            match ready!(polled) {
                Err(e) => {
                    self.done = true;
                    match got {
                        // The data that arrived before the failure comes first.
                        Some(chunk) => {
                            self.failed = Some(e);
                            return Poll::Ready(Some(Ok(chunk)));
                        }
                        None => return Poll::Ready(Some(Err(e))),
                    }
                }
                Ok(step) => {
                    self.done = step == CopyStep::Done;
                    if let Some(chunk) = got {
                        return Poll::Ready(Some(Ok(chunk)));
                    }
                    // Only empty messages, or the end: look again.
                }
            }
        }
    }

    /// Copies from the current chunk into `buf`; `Ok(0)` at the end.
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    fn poll_read_bytes(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        while self.rest.is_empty() {
            match ready!(self.poll_chunk(cx)) {
                None => return Poll::Ready(Ok(0)),
                Some(Err(e)) => return Poll::Ready(Err(e)),
                Some(Ok(chunk)) => self.rest = chunk,
            }
        }
        let n = buf.len().min(self.rest.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), self.rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        bytes::Buf::advance(&mut self.rest, n);
        Poll::Ready(Ok(n))
    }
}

impl<R: Runtime> Stream for CopyOutStream<'_, R> {
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_chunk(cx)
    }
}

#[cfg(any(feature = "tokio", feature = "futures-io"))]
fn to_io(e: Error) -> std::io::Error {
    match e {
        Error::Io(e) => e,
        other => std::io::Error::other(other),
    }
}

#[cfg(feature = "futures-io")]
impl<R: Runtime> futures_io::AsyncRead for CopyOutStream<'_, R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().poll_read_bytes(cx, buf).map_err(to_io)
    }
}

#[cfg(feature = "tokio")]
impl<R: Runtime> tokio::io::AsyncRead for CopyOutStream<'_, R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = ready!(self
            .get_mut()
            .poll_read_bytes(cx, buf.initialize_unfilled())
            .map_err(to_io))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// Data for `COPY ... FROM STDIN`: [`send`](Self::send) chunks, then
/// [`finish`](Self::finish). Also a `Sink<Bytes>`, and `AsyncWrite` (whose close
/// finishes the COPY; [`rows`](Self::rows) then has the count). Dropping it
/// unfinished queues a CopyFail, and the connection stays usable.
#[derive(Debug)]
pub struct CopyIn<'c, R: Runtime> {
    conn: &'c mut Connection<R>,
    /// The core's rules for the data (chunks, backpressure, the end).
    writer: CopyWriter,
    /// Reads the server's answer to the end, once the data ended.
    reader: Option<CopyReader>,
    rows: Option<u64>,
}

impl<R: Runtime> CopyIn<'_, R> {
    /// Sends a chunk of data (queued; written when enough has gathered).
    pub async fn send(&mut self, data: &[u8]) -> Result<()> {
        std::future::poll_fn(|cx| self.poll_ready(cx)).await?;
        self.queue(data)
    }

    /// Ends the COPY; returns the number of rows loaded.
    pub async fn finish(mut self) -> Result<u64> {
        std::future::poll_fn(|cx| self.poll_finish(cx)).await
    }

    /// Aborts the COPY; nothing is loaded.
    pub async fn abort(mut self, reason: &str) -> Result<()> {
        self.reader = Some(self.writer.abort(self.conn.proto(), reason)?);
        std::future::poll_fn(|cx| self.poll_finish(cx))
            .await
            .map(drop)
    }

    /// The rows loaded, once the COPY finished (through `AsyncWrite`'s close).
    pub fn rows(&self) -> Option<u64> {
        self.rows
    }

    /// Ready when little enough is queued to take more data.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if CopyWriter::needs_flush(self.conn.session.protocol()) {
            ready!(io::poll_flush(
                &mut self.conn.io,
                self.conn.session.protocol_mut(),
                cx
            ))?;
        }
        Poll::Ready(Ok(()))
    }

    fn queue(&mut self, data: &[u8]) -> Result<()> {
        match self.writer.write(self.conn.proto(), data) {
            Ok(_) => Ok(()),
            Err(CopyWriteError::Protocol(e)) => Err(e.into()),
            Err(_) => Err(Error::UnexpectedResult(COPY_ENDED)),
        }
    }

    /// Queues CopyDone (once) and reads until the server's answer.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<u64>> {
        if let Some(rows) = self.rows {
            return Poll::Ready(Ok(rows));
        }
        let reader = match &mut self.reader {
            Some(reader) => reader,
            None => self.reader.insert(self.writer.finish(self.conn.proto())?),
        };
        while ready!(poll_copy(self.conn, reader, cx, |_| false))? != CopyStep::Done {}
        let rows = reader.outcome()?;
        self.rows = Some(rows);
        Poll::Ready(Ok(rows))
    }

    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    fn poll_write_bytes(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<Result<usize>> {
        ready!(self.poll_ready(cx))?;
        self.queue(buf)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush_bytes(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.writer.queue_gathered(self.conn.proto())?;
        io::poll_flush(&mut self.conn.io, self.conn.session.protocol_mut(), cx).map_err(Error::from)
    }
}

impl<R: Runtime> futures_sink::Sink<Bytes> for CopyIn<'_, R> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Bytes) -> Result<()> {
        self.get_mut().queue(&item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_flush_bytes(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_finish(cx).map(|r| r.map(drop))
    }
}

#[cfg(feature = "futures-io")]
impl<R: Runtime> futures_io::AsyncWrite for CopyIn<'_, R> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().poll_write_bytes(cx, buf).map_err(to_io)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().poll_flush_bytes(cx).map_err(to_io)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut()
            .poll_finish(cx)
            .map(|r| r.map(drop).map_err(to_io))
    }
}

#[cfg(feature = "tokio")]
impl<R: Runtime> tokio::io::AsyncWrite for CopyIn<'_, R> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().poll_write_bytes(cx, buf).map_err(to_io)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().poll_flush_bytes(cx).map_err(to_io)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut()
            .poll_finish(cx)
            .map(|r| r.map(drop).map_err(to_io))
    }
}

impl<R: Runtime> Drop for CopyIn<'_, R> {
    fn drop(&mut self) {
        // Sent with the next request; that request's settle drains the answer.
        self.writer.abandon(self.conn.proto());
    }
}

/// Sends `sql` and reads until its COPY starts in the wanted direction (the
/// core's rule refuses the other one and a statement without COPY).
async fn start_copy<R: Runtime>(
    conn: &mut Connection<R>,
    sql: &str,
    direction: CopyDirection,
) -> Result<RequestId> {
    conn.settle().await?;
    let reader = CopyStart::send(conn.session.protocol_mut(), sql, direction)?;
    let id = reader.request();
    conn.session.expect_copy_in(direction == CopyDirection::In);
    conn.read(reader).await?;
    // Tracked again: the COPY's data phase may still be dropped.
    conn.session.track(id);
    Ok(id)
}

impl<R: Runtime> Connection<R> {
    /// Starts `COPY ... FROM STDIN`.
    pub async fn copy_in(&mut self, sql: &str) -> Result<CopyIn<'_, R>> {
        let request = start_copy(self, sql, CopyDirection::In).await?;
        Ok(CopyIn {
            conn: self,
            writer: CopyWriter::new(request),
            reader: None,
            rows: None,
        })
    }

    /// Runs `COPY ... TO STDOUT` and calls `f` with the data of each CopyData
    /// message where it lies in the receive buffer (no copy, no allocation).
    /// Returns the row count of the command tag.
    ///
    /// If `f` fails, its error is returned at once and the rest of the COPY is
    /// left to the connection's [`crate::DropPolicy`], as for a dropped
    /// [`CopyOutStream`]; the next call settles it first.
    pub async fn copy_out_for_each(
        &mut self,
        sql: &str,
        mut f: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<u64> {
        let request = start_copy(self, sql, CopyDirection::Out).await?;
        let mut reader = CopyReader::new(request);
        let mut failed = None;
        loop {
            let step = std::future::poll_fn(|cx| {
                poll_copy(self, &mut reader, cx, |data| {
                    f(data).map_err(|e| failed = Some(e)).is_err()
                })
            })
            .await?;
            if let Some(e) = failed {
                return Err(e);
            }
            if step == CopyStep::Done {
                return Ok(reader.outcome()?);
            }
        }
    }

    /// Starts `COPY ... TO STDOUT`.
    pub async fn copy_out(&mut self, sql: &str) -> Result<CopyOutStream<'_, R>> {
        let request = start_copy(self, sql, CopyDirection::Out).await?;
        Ok(CopyOutStream {
            conn: self,
            reader: CopyReader::new(request),
            done: false,
            rest: Bytes::new(),
            failed: None,
        })
    }
}
