//! The ARROWSTREAM decoder: CopyData chunks in, record batches out.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};

use arrow_array::RecordBatch;
use arrow_buffer::{Buffer, MutableBuffer};
use arrow_ipc::reader::StreamDecoder;
use arrow_schema::SchemaRef;

use crate::error::Error;
use crate::DEFAULT_MAX_MESSAGE_LEN;

/// The IPC continuation marker that starts every message of a current stream.
const CONTINUATION: [u8; 4] = [0xff; 4];

/// Where the decoder is inside the current IPC message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading the 4-byte continuation marker and the 4-byte metadata length.
    Prefix,
    /// Reading the metadata flatbuffer, bytes `start..end` of the message.
    Metadata { start: usize, end: usize },
    /// Reading the body, which ends at byte `end` of the message.
    Body { end: usize },
    /// The end-of-stream marker was read.
    Ended,
    /// An error was returned; nothing more is decoded.
    Failed,
}

/// Decodes the Arrow IPC stream of `COPY ... TO STDOUT WITH (FORMAT ARROWSTREAM)`.
///
/// Call order: [`feed`](Self::feed) a CopyData chunk (split at any byte), then
/// [`next_batch`](Self::next_batch) until it returns `Ok(None)`; repeat; at the
/// end of the COPY, [`finish`](Self::finish). Every IPC message is framed here
/// before Arrow sees it, so a declared length beyond the bound is refused before
/// any memory is reserved for it; the complete messages of one chunk and one
/// partial message are held at most. An error is sticky.
#[derive(Debug)]
pub struct ArrowStreamDecoder {
    inner: StreamDecoder,
    /// Complete messages of the fed chunks, not yet decoded.
    ready: VecDeque<Buffer>,
    /// The message being framed.
    message: MutableBuffer,
    phase: Phase,
    max_message_len: usize,
    batches: u64,
    rows: u64,
}

impl Default for ArrowStreamDecoder {
    fn default() -> Self {
        ArrowStreamDecoder::new()
    }
}

impl ArrowStreamDecoder {
    /// A decoder accepting messages up to [`DEFAULT_MAX_MESSAGE_LEN`].
    pub fn new() -> ArrowStreamDecoder {
        ArrowStreamDecoder {
            inner: StreamDecoder::new(),
            ready: VecDeque::new(),
            message: MutableBuffer::new(0),
            phase: Phase::Prefix,
            max_message_len: DEFAULT_MAX_MESSAGE_LEN,
            batches: 0,
            rows: 0,
        }
    }

    /// Sets the largest IPC message (metadata and body, in bytes) accepted.
    pub fn with_max_message_len(mut self, len: usize) -> ArrowStreamDecoder {
        self.max_message_len = len;
        self
    }

    /// The stream's schema, once its first message was decoded.
    pub fn schema(&self) -> Option<SchemaRef> {
        self.inner.schema()
    }

    /// The record batches decoded so far.
    pub fn batches(&self) -> u64 {
        self.batches
    }

    /// The rows of the record batches decoded so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Whether the end-of-stream marker was read.
    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// Takes the next CopyData chunk: its bytes are framed into IPC messages at
    /// once (the only copy, into an aligned buffer Arrow slices without
    /// copying). Call [`next_batch`](Self::next_batch) until it returns
    /// `Ok(None)` before feeding the next one, so that no more than one chunk's
    /// messages wait here.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), Error> {
        if self.phase == Phase::Failed {
            return Err(Error::Finished);
        }
        while !chunk.is_empty() {
            match self.phase {
                Phase::Failed => return Err(Error::Finished),
                Phase::Ended => return self.fail(Error::TrailingData),
                Phase::Prefix => {
                    if !self.fill(4, &mut chunk) {
                        return Ok(());
                    }
                    let continued = self.message.as_slice().get(..4) == Some(&CONTINUATION[..]);
                    let prefix = if continued { 8 } else { 4 };
                    if !self.fill(prefix, &mut chunk) {
                        return Ok(());
                    }
                    self.framed_prefix(prefix)?;
                }
                Phase::Metadata { start, end } => {
                    if !self.fill(end, &mut chunk) {
                        return Ok(());
                    }
                    self.framed_metadata(start, end)?;
                }
                Phase::Body { end } => {
                    if !self.fill(end, &mut chunk) {
                        return Ok(());
                    }
                    self.phase = Phase::Prefix;
                    let message = std::mem::replace(&mut self.message, MutableBuffer::new(0));
                    self.ready.push_back(Buffer::from(message));
                }
            }
        }
        // A prefix or metadata completed by the chunk's last byte moves on now.
        match self.phase {
            Phase::Prefix if self.message.len() >= 4 => {
                let continued = self.message.as_slice().get(..4) == Some(&CONTINUATION[..]);
                let prefix = if continued { 8 } else { 4 };
                if self.message.len() >= prefix {
                    self.framed_prefix(prefix)?;
                }
            }
            Phase::Metadata { start, end } if self.message.len() >= end => {
                self.framed_metadata(start, end)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The message holds its `prefix` (continuation marker and length).
    fn framed_prefix(&mut self, prefix: usize) -> Result<(), Error> {
        let len = match self.message.as_slice().get(prefix - 4..prefix) {
            Some(&[a, b, c, d]) => i32::from_le_bytes([a, b, c, d]),
            _ => return self.fail(Error::Malformed("short message prefix")),
        };
        let Ok(len) = usize::try_from(len) else {
            return self.fail(Error::Malformed("negative metadata length"));
        };
        if len == 0 {
            self.message.clear();
            self.phase = Phase::Ended;
            return Ok(());
        }
        let end = prefix.saturating_add(len);
        if end > self.max_message_len {
            return self.too_large(end as u64);
        }
        self.phase = Phase::Metadata { start: prefix, end };
        Ok(())
    }

    /// The message holds its metadata (bytes `start..end`): learn the body's
    /// length and reserve for it.
    fn framed_metadata(&mut self, start: usize, end: usize) -> Result<(), Error> {
        let meta = self.message.as_slice().get(start..end).unwrap_or(&[]);
        let body = match arrow_ipc::root_as_message(meta) {
            Ok(m) => m.bodyLength(),
            Err(_) => {
                return self.fail(Error::Malformed(
                    "message metadata is not an Arrow IPC message",
                ))
            }
        };
        let Ok(body) = u64::try_from(body) else {
            return self.fail(Error::Malformed("negative body length"));
        };
        let total = (end as u64).saturating_add(body);
        let end = match usize::try_from(total) {
            Ok(t) if t <= self.max_message_len => t,
            _ => return self.too_large(total),
        };
        self.message.reserve(end - self.message.len());
        self.phase = Phase::Body { end };
        if body == 0 {
            // A message without a body (a schema) is complete already.
            self.phase = Phase::Prefix;
            let message = std::mem::replace(&mut self.message, MutableBuffer::new(0));
            self.ready.push_back(Buffer::from(message));
        }
        Ok(())
    }

    /// The next record batch from the chunks fed so far, or `Ok(None)` when they
    /// hold no complete one (feed more).
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>, Error> {
        if self.phase == Phase::Failed {
            return Err(Error::Finished);
        }
        while let Some(message) = self.ready.pop_front() {
            if let Some(batch) = self.decode(message)? {
                self.batches += 1;
                self.rows += batch.num_rows() as u64;
                return Ok(Some(batch));
            }
        }
        Ok(None)
    }

    /// Checks that the stream ended where it may: at its end-of-stream marker, or
    /// between two messages (hyperd writes no end-of-stream marker: the COPY's end
    /// ends the stream), with nothing unread. Returns the number of rows decoded.
    pub fn finish(&self) -> Result<u64, Error> {
        if !self.ready.is_empty() {
            return Err(Error::Malformed(
                "finish() before every batch was read with next_batch()",
            ));
        }
        match self.phase {
            Phase::Ended => Ok(self.rows),
            Phase::Prefix if self.message.is_empty() => Ok(self.rows),
            Phase::Failed => Err(Error::Finished),
            _ => Err(Error::Truncated),
        }
    }

    /// Hands one complete message to Arrow.
    fn decode(&mut self, mut buffer: Buffer) -> Result<Option<RecordBatch>, Error> {
        let inner = &mut self.inner;
        let result = catch_unwind(AssertUnwindSafe(|| inner.decode(&mut buffer)));
        match result {
            Ok(Ok(batch)) if buffer.is_empty() => Ok(batch),
            Ok(Ok(_)) => self.fail(Error::Malformed("a message longer than it declared")),
            Ok(Err(e)) => self.fail(Error::Arrow(e)),
            Err(_) => self.fail(Error::Panicked),
        }
    }

    /// Moves bytes of `chunk` into the message until it holds `len` bytes;
    /// whether it does.
    fn fill(&mut self, len: usize, chunk: &mut &[u8]) -> bool {
        let have = self.message.len();
        if have >= len {
            return true;
        }
        let take = chunk.len().min(len - have);
        let (head, tail) = chunk.split_at(take);
        self.message.extend_from_slice(head);
        *chunk = tail;
        self.message.len() >= len
    }

    fn too_large<T>(&mut self, len: u64) -> Result<T, Error> {
        let max = self.max_message_len;
        self.fail(Error::MessageTooLarge { len, max })
    }

    fn fail<T>(&mut self, e: Error) -> Result<T, Error> {
        self.phase = Phase::Failed;
        self.ready.clear();
        self.message = MutableBuffer::new(0);
        Err(e)
    }
}
