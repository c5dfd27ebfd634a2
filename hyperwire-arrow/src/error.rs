//! The errors of ARROWSTREAM decoding and encoding.

use std::fmt;

use arrow_schema::ArrowError;

/// What went wrong reading or writing an Arrow IPC stream.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Arrow rejected the bytes (a malformed message or batch) or the batch.
    Arrow(ArrowError),
    /// A message's framing is broken (a negative length, metadata that is not an
    /// Arrow message, a message type a stream cannot hold).
    Malformed(&'static str),
    /// A message is longer than the decoder's bound.
    MessageTooLarge {
        /// The length the message declared (metadata and body).
        len: u64,
        /// The bound.
        max: usize,
    },
    /// Bytes arrived after the end-of-stream marker.
    TrailingData,
    /// The stream ended inside a message.
    Truncated,
    /// A batch written to the encoder does not have the stream's schema.
    SchemaMismatch,
    /// The encoder was used after [`finish`](crate::ArrowStreamEncoder::finish), or
    /// the decoder after an error.
    Finished,
    /// Arrow panicked on the server's bytes (caught; the decoder is unusable now).
    Panicked,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Arrow(e) => write!(f, "Arrow: {e}"),
            Error::Malformed(what) => write!(f, "malformed Arrow IPC stream: {what}"),
            Error::MessageTooLarge { len, max } => {
                write!(
                    f,
                    "Arrow IPC message of {len} bytes exceeds the bound of {max}"
                )
            }
            Error::TrailingData => f.write_str("data after the Arrow end-of-stream marker"),
            Error::Truncated => f.write_str("the Arrow IPC stream ended inside a message"),
            Error::SchemaMismatch => {
                f.write_str("the record batch's schema differs from the stream's")
            }
            Error::Finished => f.write_str("the Arrow stream is finished or failed"),
            Error::Panicked => f.write_str("Arrow failed on a malformed record batch"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Arrow(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ArrowError> for Error {
    fn from(e: ArrowError) -> Self {
        Error::Arrow(e)
    }
}
