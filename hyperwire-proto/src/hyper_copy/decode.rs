//! Reading a HYPERBINARY COPY stream from CopyData chunks split at any byte.

use alloc::vec::Vec;

use super::schema::Layout;
use super::{CopyError, CopySchema, DEFAULT_MAX_VALUE_LEN, SIGNATURE};
use crate::codec::Format;
use crate::value::{decode_column, FromSql};

/// Where the decoder is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the 19-byte header.
    Header,
    /// Skipping this many bytes of header extension.
    Extension(u32),
    /// Reading rows.
    Rows,
}

/// Reads a HYPERBINARY COPY stream: [`feed`](Self::feed) it CopyData payloads as
/// they arrive, then take rows with [`next_row`](Self::next_row) until it returns
/// `None`, and call [`finish`](Self::finish) after CopyDone.
///
/// ```
/// # use hyperwire_proto::hyper_copy::{CopyColumn, CopyDecoder, CopyEncoder, CopySchema};
/// # use hyperwire_proto::value::oid;
/// let schema = CopySchema::new(vec![CopyColumn::nullable(oid::TEXT)])?;
/// let mut enc = CopyEncoder::new(schema.clone());
/// enc.push_row(&[&"héllo"])?;
/// enc.push_row(&[&None::<&str>])?;
/// let stream = enc.finish()?.to_vec();
///
/// let mut dec = CopyDecoder::new(schema);
/// let mut seen = Vec::new();
/// for byte in stream.chunks(1) {
///     dec.feed(byte)?;
///     while let Some(row) = dec.next_row()? {
///         seen.push(row.get::<Option<String>>(0)?);
///     }
/// }
/// assert_eq!(dec.finish()?, 2);
/// assert_eq!(seen, [Some("héllo".to_string()), None]);
/// # Ok::<(), hyperwire_proto::hyper_copy::CopyError>(())
/// ```
///
/// Errors stick: after one, every call returns it again.
#[derive(Debug)]
pub struct CopyDecoder {
    schema: CopySchema,
    buf: Vec<u8>,
    /// The first byte not yet consumed.
    start: usize,
    state: State,
    max_value_len: usize,
    /// The value ranges in `buf` of the row last returned.
    values: Vec<Option<(usize, usize)>>,
    rows: u64,
    failed: Option<CopyError>,
}

impl CopyDecoder {
    /// A decoder for a stream of `schema`'s columns.
    pub fn new(schema: CopySchema) -> CopyDecoder {
        CopyDecoder {
            values: Vec::with_capacity(schema.len()),
            schema,
            buf: Vec::new(),
            start: 0,
            state: State::Header,
            max_value_len: DEFAULT_MAX_VALUE_LEN,
            rows: 0,
            failed: None,
        }
    }

    /// Refuses values longer than `len` bytes (default [`DEFAULT_MAX_VALUE_LEN`]),
    /// which bounds the memory one row can take.
    pub fn with_max_value_len(mut self, len: usize) -> CopyDecoder {
        self.max_value_len = len;
        self
    }

    /// The schema.
    pub fn schema(&self) -> &CopySchema {
        &self.schema
    }

    /// The rows returned so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn fail(&mut self, e: CopyError) -> CopyError {
        self.failed = Some(e.clone());
        e
    }

    fn check(&self) -> Result<(), CopyError> {
        match &self.failed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Drops consumed bytes once they are most of the buffer.
    fn compact(&mut self) {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start >= 4096 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }

    /// Adds the payload of one CopyData message (any split is fine). Take the rows
    /// out with [`next_row`](Self::next_row) before feeding more to keep memory
    /// at about one chunk.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), CopyError> {
        self.check()?;
        self.compact();
        let mut chunk = chunk;
        // A header extension is skipped as it streams by, never buffered.
        if let State::Extension(left) = self.state {
            if self.start == self.buf.len() {
                let skip = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                chunk = chunk.get(skip..).unwrap_or(&[]);
                let left = left - u32::try_from(skip).unwrap_or(left);
                self.state = if left == 0 {
                    State::Rows
                } else {
                    State::Extension(left)
                };
            }
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// The next complete row, or `None` until more data is fed.
    pub fn next_row(&mut self) -> Result<Option<CopyRow<'_>>, CopyError> {
        self.check()?;
        self.compact();
        match self.advance() {
            Ok(true) => Ok(Some(CopyRow {
                buf: &self.buf,
                values: &self.values,
                schema: &self.schema,
            })),
            Ok(false) => Ok(None),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Reads the header, an extension, or one row; `Ok(true)` when a row is ready.
    fn advance(&mut self) -> Result<bool, CopyError> {
        loop {
            let data = self.buf.get(self.start..).unwrap_or(&[]);
            match self.state {
                State::Header => {
                    let seen = data.len().min(SIGNATURE.len());
                    if data.get(..seen) != SIGNATURE.get(..seen) {
                        return Err(CopyError::BadSignature);
                    }
                    let Some(header) = data.get(..19) else {
                        return Ok(false);
                    };
                    let word = |at: usize| {
                        header
                            .get(at..at + 4)
                            .and_then(|b| <[u8; 4]>::try_from(b).ok())
                            .map_or(0, u32::from_be_bytes)
                    };
                    let flags = word(11);
                    // Bit 16 asks for OIDs; bits 17 to 31 are critical (docs/hyper.md §6).
                    if flags & 0xffff_0000 != 0 {
                        return Err(CopyError::UnsupportedFlags(flags));
                    }
                    let extension = word(15);
                    self.start += 19;
                    self.state = if extension == 0 {
                        State::Rows
                    } else {
                        State::Extension(extension)
                    };
                }
                State::Extension(left) => {
                    let skip = data.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    self.start += skip;
                    let left = left - u32::try_from(skip).unwrap_or(left);
                    if left > 0 {
                        self.state = State::Extension(left);
                        return Ok(false);
                    }
                    self.state = State::Rows;
                }
                State::Rows => return self.row(),
            }
        }
    }

    /// Parses one row at `start` if all of it is there.
    fn row(&mut self) -> Result<bool, CopyError> {
        if self.schema.is_empty() || self.start >= self.buf.len() {
            return Ok(false);
        }
        self.values.clear();
        let mut pos = self.start;
        for i in 0..self.schema.len() {
            let Some((column, layout)) = self.schema.column(i) else {
                return Ok(false);
            };
            if column.nullable {
                match self.buf.get(pos) {
                    None => return Ok(false),
                    Some(0) => pos += 1,
                    Some(1) => {
                        pos += 1;
                        self.values.push(None);
                        continue;
                    }
                    Some(&byte) => return Err(CopyError::BadNullIndicator { column: i, byte }),
                }
            }
            let len = match layout {
                Layout::Fixed(n) => n,
                Layout::Sized => {
                    let Some(prefix) = self.buf.get(pos..pos + 4) else {
                        return Ok(false);
                    };
                    let len = <[u8; 4]>::try_from(prefix).map_or(0, u32::from_le_bytes);
                    let len = usize::try_from(len).unwrap_or(usize::MAX);
                    if len > self.max_value_len {
                        return Err(CopyError::ValueTooLong {
                            column: i,
                            len: u64::try_from(len).unwrap_or(u64::MAX),
                        });
                    }
                    pos += 4;
                    len
                }
            };
            let end = pos.checked_add(len).ok_or(CopyError::Truncated)?;
            if end > self.buf.len() {
                return Ok(false);
            }
            self.values.push(Some((pos, end)));
            pos = end;
        }
        self.start = pos;
        self.rows += 1;
        Ok(true)
    }

    /// Checks that the stream ended cleanly (call after CopyDone): the header was
    /// read and no partial row is left. Returns the number of rows.
    pub fn finish(&self) -> Result<u64, CopyError> {
        self.check()?;
        if self.state == State::Header || matches!(self.state, State::Extension(_)) {
            return Err(CopyError::Truncated);
        }
        if self.start < self.buf.len() {
            return Err(CopyError::Truncated);
        }
        Ok(self.rows)
    }
}

/// One row of a HYPERBINARY COPY stream; its values borrow from the decoder.
#[derive(Debug, Clone, Copy)]
pub struct CopyRow<'a> {
    buf: &'a [u8],
    values: &'a [Option<(usize, usize)>],
    schema: &'a CopySchema,
}

impl<'a> CopyRow<'a> {
    /// The number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the row has no values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The HyperBinary bytes of value `i` (without a length prefix); `Some(None)` is
    /// NULL, `None` a column that does not exist.
    pub fn raw(&self, i: usize) -> Option<Option<&'a [u8]>> {
        let range = *self.values.get(i)?;
        Some(range.and_then(|(s, e)| self.buf.get(s..e)))
    }

    /// The values in order.
    pub fn values(&self) -> impl Iterator<Item = Option<&'a [u8]>> + '_ {
        (0..self.len()).map(|i| self.raw(i).flatten())
    }

    /// Value `i` as `T` (use `Option<T>` for nullable columns).
    pub fn get<T: FromSql<'a>>(&self, i: usize) -> Result<T, CopyError> {
        let (raw, column) =
            self.raw(i)
                .zip(self.schema.columns().get(i))
                .ok_or(CopyError::ColumnCount {
                    expected: self.len(),
                    got: i + 1,
                })?;
        decode_column(column.ty, Format::HyperBinary, raw)
            .map_err(|error| CopyError::Value { column: i, error })
    }
}
