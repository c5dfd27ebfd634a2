//! The async error: the core's, the socket's, or the server's.

use std::fmt;
use std::io;

use hyperwire_proto::result::{CollectError, RowError};
use hyperwire_proto::value::ValueError;
use hyperwire_proto::ServerError;

/// Everything a call can fail with.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server rejected the statement; the connection is still usable.
    Server(Box<ServerError>),
    /// The protocol core reports the connection unusable.
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
    /// Reading a row failed.
    Row(RowError),
    /// Invalid settings, or a feature this adapter does not have yet.
    Config(String),
    /// TLS could not be set up or failed.
    Tls(String),
    /// Every host failed; the error of each attempt, in order.
    Connect(Vec<(String, Error)>),
    /// `query_one` found no row, or more than one.
    RowCount {
        /// How many rows there were (2 means "more than one").
        found: usize,
    },
    /// The statement produced a kind of result this call cannot handle.
    UnexpectedResult(&'static str),
    /// The connection was lost (the reason); it cannot be used any more.
    ConnectionLost(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Server(e) => write!(f, "{e}"),
            Error::Protocol(e) => write!(f, "{e}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Value { index, error } => write!(f, "parameter ${}: {error}", index + 1),
            Error::Row(e) => write!(f, "{e}"),
            Error::Config(s) => write!(f, "invalid connection settings: {s}"),
            Error::Tls(s) => write!(f, "TLS: {s}"),
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
            Error::ConnectionLost(why) => write!(f, "the connection was lost: {why}"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The SQLSTATE, for server errors.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Error::Server(e) => Some(e.code()),
            Error::Protocol(e) => e.sqlstate(),
            _ => None,
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

impl From<RowError> for Error {
    fn from(e: RowError) -> Self {
        Error::Row(e)
    }
}

impl From<CollectError> for Error {
    fn from(e: CollectError) -> Self {
        match e {
            CollectError::Server(e) => Error::Server(Box::new(e)),
            CollectError::Skipped => {
                Error::UnexpectedResult("skipped after an earlier error in the same batch")
            }
            _ => Error::UnexpectedResult(
                "a row's column count differs from the statement's columns (rows dropped)",
            ),
        }
    }
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;
