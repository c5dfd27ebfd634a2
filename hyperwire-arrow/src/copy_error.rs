//! [`CopyError`]: how an ARROWSTREAM COPY through an adapter fails, shared by
//! every adapter (each fills in its own connection error).

use core::fmt;

use crate::Error;

/// An ARROWSTREAM COPY failed: in the connection or at the server (`E`, the
/// adapter's error), or in the Arrow stream.
#[derive(Debug)]
#[non_exhaustive]
pub enum CopyError<E> {
    /// The connection or the server failed (the COPY's own error).
    Client(E),
    /// The Arrow IPC stream was malformed, or a batch did not fit the schema.
    Arrow(Error),
}

impl<E: fmt::Display> fmt::Display for CopyError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyError::Client(e) => write!(f, "{e}"),
            CopyError::Arrow(e) => write!(f, "{e}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CopyError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CopyError::Client(e) => Some(e),
            CopyError::Arrow(e) => Some(e),
        }
    }
}

impl<E> From<Error> for CopyError<E> {
    fn from(e: Error) -> Self {
        CopyError::Arrow(e)
    }
}
