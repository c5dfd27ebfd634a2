//! # hyperwire-tokio
//!
//! An async PostgreSQL and Hyper [`Connection`] and a pipelining [`Client`] over
//! tokio's TCP and unix sockets, driven by the [`hyperwire_proto`] state machine.
//! The logic is hyperwire-async's, shared with hyperwire-async-std; this crate
//! supplies tokio's sockets, TLS (tokio-rustls) and timer ([`Tokio`]) and names
//! the types with that runtime filled in.
//!
//! Every method is cancel-safe: drop its future at any await point and the
//! connection handles the abandoned request by its [`DropPolicy`] (cancel then
//! drain, by default) before the next request, which always gets its own answer.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hyperwire_tokio::Error> {
//! use hyperwire_tokio::Connection;
//!
//! let mut conn = Connection::connect("host=127.0.0.1 user=postgres").await?;
//! let row = conn.query_one("SELECT $1::int8 + 1", &[&41i64]).await?;
//! assert_eq!(row.get::<i64>(0)?, 42);
//!
//! // Many tasks, one connection, requests pipelined by the driver:
//! let (client, driver) = hyperwire_tokio::Client::connect("host=127.0.0.1 user=postgres").await?;
//! tokio::spawn(driver);
//! let rows = client.query("SELECT $1::int8", &[&1i64]).await?;
//! # Ok(()) }
//! ```
//!
//! TLS follows libpq's `sslmode` (through hyperwire-tls and tokio-rustls).

mod runtime;

pub use runtime::{Tokio, TokioSocket};

/// A connection over tokio (see [`hyperwire_async::Connection`]).
pub type Connection = hyperwire_async::Connection<Tokio>;
/// A shared, pipelining handle to one connection (see [`hyperwire_async::Client`]).
pub type Client = hyperwire_async::Client<Tokio>;
/// The driver of a [`Client`]: spawn it with `tokio::spawn`.
pub type Driver = hyperwire_async::Driver<Tokio>;
/// Cancels a session's running request from any task.
pub type CancelToken = hyperwire_async::CancelToken<Tokio>;
/// The rows of one statement as a `Stream`.
pub type RowStream<'c> = hyperwire_async::RowStream<'c, Tokio>;
/// `COPY ... TO STDOUT` data as a `Stream` of chunks.
pub type CopyOutStream<'c> = hyperwire_async::CopyOutStream<'c, Tokio>;
/// `COPY ... FROM STDIN` data.
pub type CopyIn<'c> = hyperwire_async::CopyIn<'c, Tokio>;
/// An open transaction (dropped unfinished: rolled back).
pub type Transaction<'c> = hyperwire_async::Transaction<'c, Tokio>;

/// The record batches of ARROWSTREAM COPY OUT (feature `arrow`).
#[cfg(feature = "arrow")]
pub type ArrowBatchStream<'c> = hyperwire_async::ArrowBatchStream<'c, Tokio>;
/// ARROWSTREAM COPY IN fed with record batches (feature `arrow`).
#[cfg(feature = "arrow")]
pub type ArrowCopyIn<'c> = hyperwire_async::ArrowCopyIn<'c, Tokio>;
#[cfg(feature = "arrow")]
pub use hyperwire_async::ArrowCopyError;

/// deadpool's Manager for [`Connection`] (feature `deadpool`).
#[cfg(feature = "deadpool")]
pub type Manager = hyperwire_async::Manager<Tokio>;

pub use hyperwire_async::{
    Column, Config, DropPolicy, Error, Format, FromSql, Notification, Notifications, QueryResult,
    Result, Row, RowError, RowRef, ServerError, Statement, StatementPolicy, TlsInfo, ToSql,
    TransactionStatus, DEFAULT_MAX_IN_FLIGHT,
};
