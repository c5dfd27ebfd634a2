//! ARROWSTREAM COPY with Arrow record batches (feature `arrow`), on top of
//! [`Client::copy_out`] and [`Client::copy_in`] and the sans-IO codec of
//! [`hyperwire_arrow`].

use std::fmt;
use std::io::Write;

use hyperwire_arrow::{ArrowStreamDecoder, ArrowStreamEncoder, RecordBatch, Schema, SchemaRef};

use crate::client::Client;
use crate::copy::{CopyIn, CopyOut};
use crate::error::Error;

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
/// time. Dropping it early cancels the COPY and drains it; the connection stays
/// usable. After an Arrow error the COPY is cancelled too.
pub struct ArrowBatches<'c> {
    out: Option<CopyOut<'c>>,
    decoder: ArrowStreamDecoder,
}

impl fmt::Debug for ArrowBatches<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrowBatches")
            .field("decoder", &self.decoder)
            .finish_non_exhaustive()
    }
}

impl ArrowBatches<'_> {
    /// The stream's schema, once its first message arrived.
    pub fn schema(&self) -> Option<SchemaRef> {
        self.decoder.schema()
    }

    /// The rows read so far.
    pub fn rows(&self) -> u64 {
        self.decoder.rows()
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if let Some(batch) = self.decoder.next_batch()? {
                return Ok(Some(batch));
            }
            let Some(out) = self.out.as_mut() else {
                return Ok(None);
            };
            // Each CopyData message goes to the decoder from the receive buffer.
            let decoder = &mut self.decoder;
            let mut fed = Ok(());
            if out.next_with(|chunk| fed = decoder.feed(chunk))? {
                fed?;
            } else {
                self.out = None;
                self.decoder.finish()?;
                return Ok(None);
            }
        }
    }
}

impl Iterator for ArrowBatches<'_> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_batch() {
            Ok(b) => b.map(Ok),
            Err(e) => {
                // Dropping the COPY cancels and drains it.
                self.out = None;
                Some(Err(e))
            }
        }
    }
}

/// `COPY t FROM STDIN WITH (FORMAT ARROWSTREAM)` fed with record batches. Call
/// [`finish`](Self::finish) to commit; dropping it unfinished sends CopyFail.
pub struct ArrowCopyIn<'c> {
    copy: CopyIn<'c>,
    encoder: ArrowStreamEncoder,
}

impl fmt::Debug for ArrowCopyIn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrowCopyIn")
            .field("encoder", &self.encoder)
            .finish_non_exhaustive()
    }
}

impl ArrowCopyIn<'_> {
    /// Encodes `batch` and sends it (it must have the schema given at the start;
    /// hyperd matches columns by name and checks nullability).
    pub fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.encoder.write_batch(batch)?;
        self.send_pending()
    }

    fn send_pending(&mut self) -> Result<()> {
        self.copy
            .write_all(self.encoder.pending())
            .map_err(|e| hyperwire_arrow::CopyError::Client(Error::Io(e)))?;
        self.encoder.clear_pending();
        Ok(())
    }

    /// Ends the stream and the COPY; returns the number of rows the server loaded.
    pub fn finish(mut self) -> Result<u64> {
        self.encoder.finish()?;
        self.send_pending()?;
        Ok(self.copy.finish()?)
    }

    /// Aborts the COPY; nothing is loaded.
    pub fn abort(self, reason: &str) -> Result<()> {
        Ok(self.copy.abort(reason)?)
    }
}

impl Client {
    /// Runs `COPY ... TO STDOUT WITH (FORMAT ARROWSTREAM)` and yields its record
    /// batches one at a time.
    pub fn copy_out_arrow(&mut self, sql: &str) -> Result<ArrowBatches<'_>> {
        let out = self.copy_out(sql)?;
        Ok(ArrowBatches {
            out: Some(out),
            decoder: ArrowStreamDecoder::new(),
        })
    }

    /// Starts `COPY t FROM STDIN WITH (FORMAT ARROWSTREAM)` for batches of
    /// `schema`; the schema message is sent at once.
    pub fn copy_in_arrow(&mut self, sql: &str, schema: &Schema) -> Result<ArrowCopyIn<'_>> {
        let encoder = ArrowStreamEncoder::new(schema)?;
        let copy = self.copy_in(sql)?;
        let mut w = ArrowCopyIn { copy, encoder };
        w.send_pending()?;
        Ok(w)
    }
}
