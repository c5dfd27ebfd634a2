//! The ARROWSTREAM encoder: record batches in, IPC stream bytes out.

use arrow_array::RecordBatch;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{Schema, SchemaRef};
use std::sync::Arc;

use crate::error::Error;

/// Encodes record batches as the Arrow IPC stream `COPY t FROM STDIN WITH (FORMAT
/// ARROWSTREAM)` reads: the schema message (queued by [`new`](Self::new)), one
/// message per [`write_batch`](Self::write_batch), and the end-of-stream marker
/// at [`finish`](Self::finish).
///
/// Call order: after `new` and after each `write_batch`, send
/// [`pending`](Self::pending) as CopyData and [`clear_pending`](Self::clear_pending)
/// (or [`take_pending`](Self::take_pending)); so only one encoded batch is held.
/// hyperd matches columns by name, and a field's nullability must match its
/// column's (docs/hyper.md §6).
pub struct ArrowStreamEncoder {
    writer: StreamWriter<Vec<u8>>,
    schema: SchemaRef,
    finished: bool,
    batches: u64,
    rows: u64,
}

impl std::fmt::Debug for ArrowStreamEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrowStreamEncoder")
            .field("schema", &self.schema)
            .field("pending", &self.pending().len())
            .field("batches", &self.batches)
            .field("rows", &self.rows)
            .field("finished", &self.finished)
            .finish()
    }
}

impl ArrowStreamEncoder {
    /// Starts a stream of `schema`; its schema message is pending.
    pub fn new(schema: &Schema) -> Result<ArrowStreamEncoder, Error> {
        let writer = StreamWriter::try_new(Vec::new(), schema)?;
        Ok(ArrowStreamEncoder {
            writer,
            schema: Arc::new(schema.clone()),
            finished: false,
            batches: 0,
            rows: 0,
        })
    }

    /// The stream's schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The batches written so far.
    pub fn batches(&self) -> u64 {
        self.batches
    }

    /// The rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Appends `batch` to the pending bytes. Its fields (names, types and
    /// nullability) must be the stream's.
    pub fn write_batch(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        if self.finished {
            return Err(Error::Finished);
        }
        if batch.schema_ref().fields() != self.schema.fields() {
            return Err(Error::SchemaMismatch);
        }
        self.writer.write(batch)?;
        self.batches += 1;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Appends the end-of-stream marker; nothing may be written after it.
    pub fn finish(&mut self) -> Result<(), Error> {
        if self.finished {
            return Err(Error::Finished);
        }
        self.writer.finish()?;
        self.finished = true;
        Ok(())
    }

    /// Whether [`finish`](Self::finish) was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The encoded bytes not yet taken: send them as CopyData.
    pub fn pending(&self) -> &[u8] {
        self.writer.get_ref()
    }

    /// Drops the pending bytes (they were sent), keeping the buffer's capacity.
    pub fn clear_pending(&mut self) {
        self.writer.get_mut().clear();
    }

    /// Takes the pending bytes.
    pub fn take_pending(&mut self) -> Vec<u8> {
        std::mem::take(self.writer.get_mut())
    }
}
