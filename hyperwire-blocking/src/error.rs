//! The blocking client's error: the core's, the socket's, or the server's.

use std::fmt;
use std::io;

use hyperwire_proto::value::ValueError;
use hyperwire_proto::ServerError;

/// Everything a blocking call can fail with.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server rejected the statement; the connection is still usable.
    Server(Box<ServerError>),
    /// The protocol core reports the connection unusable (desynchronized, closed,
    /// authentication refused, malformed data...).
    Protocol(hyperwire_proto::Error),
    /// The socket failed.
    Io(io::Error),
    /// A parameter could not be encoded.
    Value {
        /// The parameter's index (0-based: `$1` is 0).
        index: usize,
        /// What was wrong.
        error: ValueError,
    },
    /// Reading a row failed: a missing column, or a value that does not convert
    /// (naming the column, its type and format).
    Row(hyperwire_proto::result::RowError),
    /// The request did not finish before its deadline.
    Timeout,
    /// TLS could not be set up or failed (certificate files, verification, handshake).
    Tls(String),
    /// Invalid settings (with the key or the reason).
    Config(String),
    /// Every host failed; the error of each attempt, in order.
    Connect(Vec<(String, Error)>),
    /// `query_one` found no row, or more than one.
    RowCount {
        /// How many rows there were (2 means "more than one").
        found: usize,
    },
    /// The statement produced a kind of result this call cannot handle (e.g. COPY
    /// from `query`).
    UnexpectedResult(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Server(e) => write!(f, "{e}"),
            Error::Protocol(e) => write!(f, "{e}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Value { index, error } => write!(f, "parameter ${}: {error}", index + 1),
            Error::Row(e) => write!(f, "{e}"),
            Error::Timeout => f.write_str("the request timed out"),
            Error::Tls(s) => write!(f, "TLS: {s}"),
            Error::Config(s) => write!(f, "invalid connection settings: {s}"),
            Error::Connect(attempts) => {
                f.write_str("could not connect")?;
                for (host, e) in attempts {
                    write!(f, "\n  {host}: {e}")?;
                }
                Ok(())
            }
            Error::RowCount { found: 0 } => f.write_str("the query returned no rows"),
            Error::RowCount { .. } => f.write_str("the query returned more than one row"),
            Error::UnexpectedResult(what) => write!(f, "unexpected result: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Server(e) => Some(&**e),
            Error::Protocol(e) => Some(e),
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl Error {
    /// The SQLSTATE, for server errors.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Error::Server(e) => Some(e.code()),
            Error::Protocol(e) => e.sqlstate(),
            _ => None,
        }
    }

    /// The server's error, if this is one.
    pub fn as_server_error(&self) -> Option<&ServerError> {
        match self {
            Error::Server(e) => Some(e),
            Error::Protocol(hyperwire_proto::Error::Server(e)) => Some(e),
            _ => None,
        }
    }
}

impl From<hyperwire_proto::result::RowError> for Error {
    fn from(e: hyperwire_proto::result::RowError) -> Self {
        Error::Row(e)
    }
}

impl From<hyperwire_proto::result::CollectError> for Error {
    fn from(e: hyperwire_proto::result::CollectError) -> Self {
        use hyperwire_proto::result::CollectError;
        match e {
            CollectError::Server(e) => Error::Server(Box::new(e)),
            CollectError::Skipped => {
                Error::UnexpectedResult("skipped after an earlier error in the same pipeline")
            }
            _ => Error::UnexpectedResult(
                "a row's column count differs from the statement's columns (rows dropped)",
            ),
        }
    }
}

impl From<hyperwire_proto::engine::RequestError> for Error {
    fn from(e: hyperwire_proto::engine::RequestError) -> Self {
        use hyperwire_proto::engine::{
            RequestError, COPY_NOT_EXPECTED, COPY_WRONG_DIRECTION, NOT_COPY,
        };
        match e {
            RequestError::Server(e) => Error::Server(Box::new(e)),
            RequestError::Collect(e) => e.into(),
            RequestError::CopyNotExpected => Error::UnexpectedResult(COPY_NOT_EXPECTED),
            RequestError::CopyWrongDirection => Error::UnexpectedResult(COPY_WRONG_DIRECTION),
            RequestError::NotCopy => Error::UnexpectedResult(NOT_COPY),
            RequestError::Protocol(e) => Error::Protocol(e),
            RequestError::TimedOut => Error::Timeout,
            _ => Error::UnexpectedResult("the request failed"),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<hyperwire_proto::Error> for Error {
    fn from(e: hyperwire_proto::Error) -> Self {
        Error::Protocol(e)
    }
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;
