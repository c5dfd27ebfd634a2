//! Writing a HYPERBINARY COPY stream.

use alloc::vec::Vec;

use super::schema::{CopyColumn, Layout};
use super::{CopyError, CopySchema, DEFAULT_CHUNK_SIZE, HEADER};
use crate::codec::Format;
use crate::value::{oid, ColumnType, FromSql, Numeric, ToSql};

/// Writes rows of a HYPERBINARY COPY stream into a buffer; the caller sends the
/// buffer as CopyData messages, at most [`chunk size`](Self::with_chunk_size)
/// bytes each:
///
/// ```
/// # use hyperwire_proto::hyper_copy::{CopyColumn, CopyEncoder, CopySchema};
/// # use hyperwire_proto::value::oid;
/// let schema = CopySchema::new(vec![
///     CopyColumn::nullable(oid::INT4),
///     CopyColumn::not_null(oid::TEXT),
/// ])?;
/// let mut enc = CopyEncoder::new(schema);
/// let mut sent = Vec::new();
/// for i in 0..1000 {
///     enc.push_row(&[&Some(i), &"row"])?;
///     while let Some(chunk) = enc.next_chunk() {
///         sent.extend_from_slice(chunk); // copy_data(chunk)
///         let n = chunk.len();
///         enc.consume(n);
///     }
/// }
/// sent.extend_from_slice(enc.finish()?); // then copy_done()
/// assert_eq!(sent.len(), 19 + 1000 * (1 + 4 + 4 + 3));
/// # Ok::<(), hyperwire_proto::hyper_copy::CopyError>(())
/// ```
#[derive(Debug)]
pub struct CopyEncoder {
    schema: CopySchema,
    buf: Vec<u8>,
    /// Bytes before this were handed out.
    start: usize,
    /// Where the row being written starts.
    row_start: usize,
    /// The next column of that row.
    column: usize,
    chunk_size: usize,
    rows: u64,
    scratch: Vec<u8>,
}

impl CopyEncoder {
    /// An encoder for `schema`; the header is already in the buffer.
    pub fn new(schema: CopySchema) -> CopyEncoder {
        CopyEncoder {
            schema,
            buf: HEADER.to_vec(),
            start: 0,
            row_start: HEADER.len(),
            column: 0,
            chunk_size: DEFAULT_CHUNK_SIZE,
            rows: 0,
            scratch: Vec::new(),
        }
    }

    /// Hands out chunks of at most `size` bytes (at least 1).
    pub fn with_chunk_size(mut self, size: usize) -> CopyEncoder {
        self.chunk_size = size.max(1);
        self
    }

    /// The schema.
    pub fn schema(&self) -> &CopySchema {
        &self.schema
    }

    /// The complete rows written.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes one row. On error nothing of the row stays in the buffer.
    pub fn push_row(&mut self, values: &[&dyn ToSql]) -> Result<(), CopyError> {
        if self.column != 0 || values.len() != self.schema.len() {
            return Err(CopyError::ColumnCount {
                expected: self.schema.len(),
                got: self.column + values.len(),
            });
        }
        for v in values {
            if let Err(e) = self.push(*v) {
                self.buf.truncate(self.row_start);
                self.column = 0;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Writes the next column's value (`None` of an `Option` is NULL). On error
    /// the value is not written. Generic, so a typed value (`&5i64`) is encoded
    /// without dynamic dispatch (the fast path for bulk loads); `&dyn ToSql`
    /// works too.
    #[inline]
    pub fn push<T: ToSql + ?Sized>(&mut self, value: &T) -> Result<(), CopyError> {
        let i = self.column;
        let (column, layout) = self.schema.column(i).ok_or(CopyError::ColumnCount {
            expected: self.schema.len(),
            got: i + 1,
        })?;
        let mark = self.buf.len();
        if let Err(e) = encode_value(&mut self.buf, &mut self.scratch, i, column, layout, value) {
            self.buf.truncate(mark);
            return Err(e);
        }
        self.column += 1;
        if self.column == self.schema.len() {
            self.column = 0;
            self.rows += 1;
            self.row_start = self.buf.len();
        }
        Ok(())
    }

    /// Writes NULL for the next column.
    pub fn push_null(&mut self) -> Result<(), CopyError> {
        self.push(&None::<i32>)
    }

    /// A full chunk waiting to be sent, if there is one.
    pub fn next_chunk(&self) -> Option<&[u8]> {
        let pending = self.buf.get(self.start..)?;
        pending.get(..self.chunk_size)
    }

    /// Everything waiting to be sent (complete rows and maybe part of a row).
    pub fn pending(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or(&[])
    }

    /// `n` bytes of [`next_chunk`](Self::next_chunk) or [`pending`](Self::pending)
    /// were sent.
    pub fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.buf.len());
        // Compact once the sent part dominates, so the buffer stays about one chunk.
        if self.start >= self.chunk_size && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.row_start -= self.start.min(self.row_start);
            self.start = 0;
        }
    }

    /// The rest of the stream to send before CopyDone; an error if a row is
    /// incomplete.
    pub fn finish(&mut self) -> Result<&[u8], CopyError> {
        if self.column != 0 {
            return Err(CopyError::ColumnCount {
                expected: self.schema.len(),
                got: self.column,
            });
        }
        Ok(self.pending())
    }
}

fn is_int(t: u32) -> bool {
    matches!(t, oid::INT2 | oid::INT4 | oid::INT8)
}

fn is_text(t: u32) -> bool {
    matches!(
        t,
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::CHAR | oid::NAME | oid::UNKNOWN | oid::JSON
    )
}

/// Whether a value of type `value` may go in a column of type `column`.
fn compatible(column: u32, value: u32) -> bool {
    column == value || (is_int(column) && is_int(value)) || (is_text(column) && is_text(value))
}

/// Appends one value (with its indicator when the column is nullable).
#[inline]
fn encode_value<T: ToSql + ?Sized>(
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    i: usize,
    column: CopyColumn,
    layout: Layout,
    value: &T,
) -> Result<(), CopyError> {
    let value_error = |error| CopyError::Value { column: i, error };
    let mismatch = |value_type| CopyError::TypeMismatch {
        column: i,
        column_type: column.ty.oid,
        value_type,
    };
    if column.nullable {
        out.push(0);
    }
    let at = out.len();
    let present = match layout {
        Layout::Sized => {
            out.extend_from_slice(&[0; 4]);
            let present = value
                .encode(Format::HyperBinary, out)
                .map_err(value_error)?;
            if present {
                if !compatible(column.ty.oid, value.type_oid()) {
                    return Err(mismatch(value.type_oid()));
                }
                let len =
                    u32::try_from(out.len() - at - 4).map_err(|_| CopyError::ValueTooLong {
                        column: i,
                        len: u64::MAX,
                    })?;
                if let Some(slot) = out.get_mut(at..at + 4) {
                    slot.copy_from_slice(&len.to_le_bytes());
                }
            }
            present
        }
        Layout::Fixed(_) if column.ty.oid == oid::NUMERIC => {
            // The value's own encoding carries no column scale: read it back
            // exactly, then rescale to the column's.
            scratch.clear();
            let present = value.encode(Format::Binary, scratch).map_err(value_error)?;
            if present {
                let t = value.type_oid();
                if t != oid::NUMERIC && !is_int(t) {
                    return Err(mismatch(t));
                }
                let n = Numeric::decode(ColumnType::of(t), Format::Binary, scratch)
                    .map_err(value_error)?;
                let (precision, scale) = column.ty.numeric_precision_scale().unwrap_or((38, 0));
                n.encode_hyper(precision, scale, out).map_err(value_error)?;
            }
            present
        }
        Layout::Fixed(size) => {
            let present = value
                .encode(Format::HyperBinary, out)
                .map_err(value_error)?;
            if present {
                let t = value.type_oid();
                let written = out.len() - at;
                if !compatible(column.ty.oid, t) || written > size {
                    return Err(mismatch(t));
                }
                if written < size {
                    // A narrower integer: sign-extend its little-endian bytes.
                    let negative = out.last().is_some_and(|b| b & 0x80 != 0);
                    out.resize(at + size, if negative { 0xff } else { 0 });
                }
            }
            present
        }
    };
    if !present {
        out.truncate(at);
        if !column.nullable {
            return Err(CopyError::NullInNotNull { column: i });
        }
        if let Some(indicator) = out.last_mut() {
            *indicator = 1;
        }
    }
    Ok(())
}
