//! The receive buffer the machine owns: the adapter reads straight into its spare
//! space, and events borrow from it until the next call.
//!
//! It is two fields on purpose: the bytes, and a [`Cursor`] saying which of them are
//! unread. An event borrows only `bytes`, so `Protocol::poll_event` can keep a
//! decoded message across the loop that moves the cursor (with one whole-buffer
//! borrow, returning a borrowed event from that loop would not compile, and the
//! message had to be decoded a second time).

use alloc::vec::Vec;

use crate::codec::{Header, HEADER_LEN};
use crate::error::ProtocolError;

/// Where a complete frame sits in the buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    pub(crate) tag: u8,
    body_start: usize,
    body_end: usize,
}

impl Frame {
    /// The frame's body in `bytes` (the [`RecvBuffer::bytes`] it was found in).
    #[inline(always)]
    pub(crate) fn body(self, bytes: &[u8]) -> &[u8] {
        bytes
            .get(self.body_start..self.body_end)
            .unwrap_or_default()
    }
}

#[derive(Debug, Default)]
pub(crate) struct RecvBuffer {
    /// Always fully initialized; `cursor.start..cursor.end` holds unread bytes.
    /// Only the spare-space methods below write to it.
    pub(super) bytes: Vec<u8>,
    /// Which bytes are unread, and the stream positions.
    pub(super) cursor: Cursor,
}

/// The read state of a [`RecvBuffer`]: everything but the bytes themselves.
#[derive(Debug, Default)]
pub(crate) struct Cursor {
    start: usize,
    end: usize,
    /// Bytes of the frame last handed out, dropped at the next poll.
    pending_consume: usize,
    pub(crate) eof: bool,
    /// Bytes ever committed, and ever consumed: absolute stream positions.
    received: u64,
    consumed: u64,
}

/// A buffer never shrinks below this, and grows at least by this much.
const MIN_CAPACITY: usize = 8 * 1024;

impl RecvBuffer {
    /// Spare space of at least `min_len` bytes (and at least 1) to read into.
    pub(crate) fn spare(&mut self, min_len: usize) -> &mut [u8] {
        let c = &mut self.cursor;
        c.consume_pending();
        let want = min_len.max(1);
        if self.bytes.len() - c.end < want {
            if c.start > 0 {
                // Move the unread tail to the front before growing.
                self.bytes.copy_within(c.start..c.end, 0);
                c.end -= c.start;
                c.start = 0;
            }
            if self.bytes.len() - c.end < want {
                let new_len = (c.end + want)
                    .max(self.bytes.len().saturating_mul(2))
                    .max(MIN_CAPACITY);
                self.bytes.resize(new_len, 0);
            }
        }
        self.bytes.get_mut(c.end..).unwrap_or_default()
    }

    /// `n` bytes were written into the spare space.
    pub(crate) fn commit(&mut self, n: usize) {
        let c = &mut self.cursor;
        let end = (c.end + n).min(self.bytes.len());
        c.received += (end - c.end) as u64;
        c.end = end;
    }

    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        let spare = self.spare(bytes.len());
        if let Some(dst) = spare.get_mut(..bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.commit(bytes.len());
    }

    /// The unread bytes.
    pub(crate) fn unread(&self) -> &[u8] {
        self.bytes
            .get(self.cursor.start..self.cursor.end)
            .unwrap_or_default()
    }

    /// The body of the frame `next_frame` handed out last.
    pub(crate) fn current_body(&self) -> &[u8] {
        let c = &self.cursor;
        self.bytes
            .get(c.start + HEADER_LEN..c.start + c.pending_consume)
            .unwrap_or_default()
    }

    /// The body of `frame`.
    pub(crate) fn body(&self, frame: Frame) -> &[u8] {
        frame.body(&self.bytes)
    }
}

impl Cursor {
    pub(crate) fn consume_pending(&mut self) {
        let n = core::mem::take(&mut self.pending_consume);
        self.consumed += n as u64;
        self.start += n;
        if self.start >= self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// The stream position of the first unread byte (of the frame being handled,
    /// while one is).
    pub(crate) fn position(&self) -> u64 {
        self.consumed
    }

    /// The stream position just past the last byte received.
    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    /// Drops `n` unread bytes now (for the one-byte TLS answer).
    pub(crate) fn skip(&mut self, n: usize) {
        self.pending_consume = n.min(self.end - self.start);
        self.consume_pending();
    }

    /// The next complete frame in `bytes` (this cursor's buffer), if one has fully
    /// arrived. Its bytes are released at the next `consume_pending`. The header is
    /// checked against `max_body` as soon as its five bytes are here, before any of
    /// the body is buffered.
    pub(crate) fn next_frame(
        &mut self,
        bytes: &[u8],
        max_body: u32,
    ) -> Result<Option<Frame>, ProtocolError> {
        let unread = bytes.get(self.start..self.end).unwrap_or_default();
        let Some(header) = unread.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let mut h = [0; HEADER_LEN];
        h.copy_from_slice(header);
        let header = Header::parse(h, max_body)?;
        let total = HEADER_LEN + header.body_len;
        if unread.len() < total {
            return Ok(None);
        }
        self.pending_consume = total;
        Ok(Some(Frame {
            tag: header.tag,
            body_start: self.start + HEADER_LEN,
            body_end: self.start + total,
        }))
    }

    /// Puts back the frame `next_frame` just handed out (it is read again).
    pub(crate) fn unread_frame(&mut self) {
        self.pending_consume = 0;
    }

    pub(crate) fn has_partial(&self) -> bool {
        self.start + self.pending_consume < self.end
    }
}
