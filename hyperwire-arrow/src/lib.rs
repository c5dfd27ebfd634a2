//! # hyperwire-arrow
//!
//! Hyper's `ARROWSTREAM` COPY format with Arrow types, sans-IO like the core
//! (`hyperwire-proto` stays `no_std`, so Arrow lives here).
//!
//! `COPY ... TO STDOUT WITH (FORMAT ARROWSTREAM)` sends an Arrow IPC *stream*
//! (a schema message, record batches, an end-of-stream marker) as CopyData, and
//! `COPY t FROM STDIN WITH (FORMAT ARROWSTREAM)` reads one (docs/hyper.md §6).
//!
//! * [`ArrowStreamDecoder`] takes the CopyData chunks, split anywhere, and yields
//!   one [`RecordBatch`] at a time. It frames every IPC message itself first, so
//!   a message longer than [`DEFAULT_MAX_MESSAGE_LEN`] (or the chosen bound) is an
//!   error before anything is buffered for it, and it holds at most the
//!   messages of one chunk (copied once, into aligned buffers Arrow slices).
//! * [`ArrowStreamEncoder`] turns record batches into stream bytes: the schema
//!   message once, each batch as it is written, the end-of-stream marker at
//!   [`finish`](ArrowStreamEncoder::finish). The caller sends
//!   [`pending`](ArrowStreamEncoder::pending) as CopyData and clears it, so at most
//!   one encoded batch is held.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{Int32Array, RecordBatch};
//! use arrow_schema::{DataType, Field, Schema};
//! use hyperwire_arrow::{ArrowStreamDecoder, ArrowStreamEncoder};
//!
//! let schema = Arc::new(Schema::new(vec![Field::new("i", DataType::Int32, true)]));
//! let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int32Array::from(vec![Some(1), None]))])?;
//! let mut enc = ArrowStreamEncoder::new(&schema)?;
//! enc.write_batch(&batch)?;
//! enc.finish()?;
//! let bytes = enc.take_pending();
//!
//! let mut dec = ArrowStreamDecoder::new();
//! let mut got = Vec::new();
//! for chunk in bytes.chunks(7) {          // CopyData may split anywhere
//!     dec.feed(chunk)?;
//!     while let Some(b) = dec.next_batch()? {
//!         got.push(b);
//!     }
//! }
//! dec.finish()?;
//! assert_eq!(got, vec![batch]);
//! # Ok::<(), hyperwire_arrow::Error>(())
//! ```

mod copy_error;
mod decode;
mod encode;
mod error;

pub use arrow_array::RecordBatch;
pub use arrow_schema::{Schema, SchemaRef};
pub use copy_error::CopyError;
pub use decode::ArrowStreamDecoder;
pub use encode::ArrowStreamEncoder;
pub use error::Error;

/// The largest IPC message (metadata and body) the decoder accepts by default:
/// 1 GiB. hyperd sends one record batch per message, well under this.
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 1 << 30;
