//! ARROWSTREAM COPY with Arrow record batches (feature `arrow`), on top of
//! [`Connection::copy_out`] and [`Connection::copy_in`] and the sans-IO codec of
//! [`hyperwire_arrow`].

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use hyperwire_arrow::{ArrowStreamDecoder, ArrowStreamEncoder, RecordBatch, Schema, SchemaRef};

use crate::connection::Connection;
use crate::copy::{CopyIn, CopyOutStream};
use crate::error::Error;
use crate::runtime::Runtime;

/// An ARROWSTREAM COPY failed: in the connection or at the server, or in the
/// Arrow stream.
pub type ArrowCopyError = hyperwire_arrow::CopyError<Error>;

impl From<Error> for ArrowCopyError {
    fn from(e: Error) -> Self {
        hyperwire_arrow::CopyError::Client(e)
    }
}

type Result<T> = std::result::Result<T, ArrowCopyError>;

/// The record batches of `COPY ... TO STDOUT WITH (FORMAT ARROWSTREAM)`, one at a
/// time, as a `Stream` (or with [`next_batch`](Self::next_batch)). Dropping it
/// early leaves the rest of the COPY to the connection's
/// [`DropPolicy`](crate::DropPolicy); so does an Arrow error.
pub struct ArrowBatchStream<'c, R: Runtime> {
    out: Option<CopyOutStream<'c, R>>,
    decoder: ArrowStreamDecoder,
}

impl<R: Runtime> fmt::Debug for ArrowBatchStream<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrowBatchStream")
            .field("decoder", &self.decoder)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> ArrowBatchStream<'_, R> {
    /// The stream's schema, once its first message arrived.
    pub fn schema(&self) -> Option<SchemaRef> {
        self.decoder.schema()
    }

    /// The rows read so far.
    pub fn rows(&self) -> u64 {
        self.decoder.rows()
    }

    /// The next record batch; `None` at the end.
    pub async fn next_batch(&mut self) -> Option<Result<RecordBatch>> {
        std::future::poll_fn(|cx| self.poll_batch(cx)).await
    }

    fn poll_batch(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<RecordBatch>>> {
        let r = self.step(cx);
        if let Poll::Ready(Some(Err(_))) = r {
            // The COPY is settled by the connection's drop policy.
            self.out = None;
        }
        r
    }

    fn step(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<RecordBatch>>> {
        loop {
            match self.decoder.next_batch() {
                Ok(Some(batch)) => return Poll::Ready(Some(Ok(batch))),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Some(Err(e.into()))),
            }
            let Some(out) = self.out.as_mut() else {
                return Poll::Ready(None);
            };
            match Pin::new(out).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Err(e) = self.decoder.feed(&chunk) {
                        return Poll::Ready(Some(Err(e.into())));
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(None) => {
                    self.out = None;
                    if let Err(e) = self.decoder.finish() {
                        return Poll::Ready(Some(Err(e.into())));
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }
}

impl<R: Runtime> Stream for ArrowBatchStream<'_, R> {
    type Item = Result<RecordBatch>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_batch(cx)
    }
}

/// `COPY t FROM STDIN WITH (FORMAT ARROWSTREAM)` fed with record batches. Call
/// [`finish`](Self::finish) to commit; dropping it unfinished sends CopyFail.
pub struct ArrowCopyIn<'c, R: Runtime> {
    copy: CopyIn<'c, R>,
    encoder: ArrowStreamEncoder,
}

impl<R: Runtime> fmt::Debug for ArrowCopyIn<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrowCopyIn")
            .field("encoder", &self.encoder)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> ArrowCopyIn<'_, R> {
    /// Encodes `batch` and sends it (it must have the schema given at the start;
    /// hyperd matches columns by name and checks nullability).
    pub async fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.encoder.write_batch(batch)?;
        self.send_pending().await
    }

    async fn send_pending(&mut self) -> Result<()> {
        self.copy.send(self.encoder.pending()).await?;
        self.encoder.clear_pending();
        Ok(())
    }

    /// Ends the stream and the COPY; returns the number of rows the server loaded.
    pub async fn finish(mut self) -> Result<u64> {
        self.encoder.finish()?;
        self.send_pending().await?;
        Ok(self.copy.finish().await?)
    }

    /// Aborts the COPY; nothing is loaded.
    pub async fn abort(self, reason: &str) -> Result<()> {
        Ok(self.copy.abort(reason).await?)
    }
}

impl<R: Runtime> Connection<R> {
    /// Runs `COPY ... TO STDOUT WITH (FORMAT ARROWSTREAM)`; its record batches
    /// arrive one at a time.
    pub async fn copy_out_arrow(&mut self, sql: &str) -> Result<ArrowBatchStream<'_, R>> {
        let out = self.copy_out(sql).await?;
        Ok(ArrowBatchStream {
            out: Some(out),
            decoder: ArrowStreamDecoder::new(),
        })
    }

    /// Starts `COPY t FROM STDIN WITH (FORMAT ARROWSTREAM)` for batches of
    /// `schema`; the schema message is queued at once.
    pub async fn copy_in_arrow(
        &mut self,
        sql: &str,
        schema: &Schema,
    ) -> Result<ArrowCopyIn<'_, R>> {
        let encoder = ArrowStreamEncoder::new(schema)?;
        let copy = self.copy_in(sql).await?;
        let mut w = ArrowCopyIn { copy, encoder };
        w.send_pending().await?;
        Ok(w)
    }
}
