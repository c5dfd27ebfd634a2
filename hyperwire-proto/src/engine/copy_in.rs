//! [`CopyWriter`]: the sending half of `COPY ... FROM STDIN`, the same in every
//! adapter — small writes gathered into CopyData messages of [`CHUNK`] bytes,
//! backpressure past [`COPY_IN_HIGH_WATER`] queued bytes, no data after the COPY
//! ended, and the CopyDone, CopyFail or abandon that ends it.

use alloc::vec::Vec;
use core::fmt;

use crate::engine::copy::{ABANDONED, CHUNK};
use crate::engine::CopyReader;
use crate::error::Error;
use crate::machine::{Protocol, RequestId};

/// What a write after the COPY's end is told.
pub const COPY_ENDED: &str =
    "COPY FROM STDIN already ended (finished, aborted, or ended by the server)";

/// Queued bytes beyond which a writer waits for the socket before taking more.
pub const COPY_IN_HIGH_WATER: usize = 1024 * 1024;

/// What the caller must do after a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteStep {
    /// Nothing: take more data.
    Taken,
    /// Write the queued bytes out first (reading meanwhile): too much is queued.
    Flush,
}

/// Why data was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CopyWriteError {
    /// The COPY already ended (finished, aborted, or ended by the server, whose
    /// error the end of the COPY reports).
    Ended,
    /// The connection failed.
    Protocol(Error),
}

impl fmt::Display for CopyWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyWriteError::Ended => f.write_str(COPY_ENDED),
            CopyWriteError::Protocol(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for CopyWriteError {}

impl From<Error> for CopyWriteError {
    fn from(e: Error) -> Self {
        CopyWriteError::Protocol(e)
    }
}

/// The data phase of one COPY FROM STDIN, from the client's side.
#[derive(Debug)]
pub struct CopyWriter {
    request: RequestId,
    /// Small writes gathered into one CopyData message.
    gathered: Vec<u8>,
    /// CopyDone or CopyFail was queued.
    ended: bool,
}

impl CopyWriter {
    /// The writer of `request`'s COPY (after [`super::CopyStart`]).
    pub fn new(request: RequestId) -> CopyWriter {
        CopyWriter {
            request,
            gathered: Vec::new(),
            ended: false,
        }
    }

    /// The COPY's request.
    pub fn request(&self) -> RequestId {
        self.request
    }

    /// Whether CopyDone or CopyFail was queued.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Takes `data`: pieces smaller than a chunk are gathered, larger ones are
    /// queued as they are.
    pub fn write(
        &mut self,
        proto: &mut Protocol,
        data: &[u8],
    ) -> Result<WriteStep, CopyWriteError> {
        if self.ended || !proto.in_copy_in() {
            return Err(CopyWriteError::Ended);
        }
        if self.gathered.len() + data.len() > CHUNK {
            self.queue_gathered(proto)?;
        }
        if data.len() >= CHUNK {
            proto.copy_data(data)?;
        } else {
            if self.gathered.capacity() == 0 {
                self.gathered.reserve(CHUNK);
            }
            self.gathered.extend_from_slice(data);
        }
        Ok(self.step(proto))
    }

    /// Queues what was gathered (before the caller flushes).
    pub fn queue_gathered(&mut self, proto: &mut Protocol) -> Result<WriteStep, Error> {
        if !self.gathered.is_empty() {
            if !self.ended && proto.in_copy_in() {
                proto.copy_data(&self.gathered)?;
            }
            self.gathered.clear();
        }
        Ok(self.step(proto))
    }

    /// Whether too much is queued to take more before writing some out.
    pub fn needs_flush(proto: &Protocol) -> bool {
        proto.pending_send().len() > COPY_IN_HIGH_WATER
    }

    fn step(&self, proto: &Protocol) -> WriteStep {
        if Self::needs_flush(proto) {
            WriteStep::Flush
        } else {
            WriteStep::Taken
        }
    }

    /// Ends the data (CopyDone); read the returned reader to the rows loaded.
    pub fn finish(&mut self, proto: &mut Protocol) -> Result<CopyReader, Error> {
        self.queue_gathered(proto)?;
        if !self.ended && proto.in_copy_in() {
            proto.copy_done()?;
        }
        self.ended = true;
        Ok(CopyReader::new(self.request))
    }

    /// Aborts the COPY with `reason` (the server's error quotes it); nothing is
    /// loaded. Read the returned reader to the server's acknowledgement.
    pub fn abort(&mut self, proto: &mut Protocol, reason: &str) -> Result<CopyReader, Error> {
        self.gathered.clear();
        if !self.ended && proto.in_copy_in() {
            proto.copy_fail(reason)?;
        }
        self.ended = true;
        let mut reader = CopyReader::new(self.request);
        reader.aborted();
        Ok(reader)
    }

    /// The writer is dropped unfinished: the COPY is failed (nothing is loaded)
    /// and its answer is left to whoever reads next. Returns whether anything
    /// was queued.
    pub fn abandon(&mut self, proto: &mut Protocol) -> bool {
        self.gathered.clear();
        let fail = !self.ended && proto.in_copy_in() && proto.is_healthy();
        self.ended = true;
        fail && proto.copy_fail(ABANDONED).is_ok()
    }
}
