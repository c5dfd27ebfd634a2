//! # hyperwire-async-std
//!
//! An async PostgreSQL and Hyper [`Connection`] and a pipelining [`Client`] over
//! async-std's TCP and unix sockets, written against the futures-io traits. The
//! logic is hyperwire-async's, shared with hyperwire-tokio; this crate supplies
//! the sockets, TLS (futures-rustls) and timer.
//!
//! async-std is discontinued upstream in favour of smol: with the `smol` feature,
//! [`Smol`] runs the same types on smol's executor with async-net sockets
//! (`hyperwire_async::Connection<Smol>`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), hyperwire_async_std::Error> {
//! use hyperwire_async_std::Connection;
//!
//! let mut conn = Connection::connect("host=127.0.0.1 user=postgres").await?;
//! let row = conn.query_one("SELECT $1::int8 + 1", &[&41i64]).await?;
//! assert_eq!(row.get::<i64>(0)?, 42);
//!
//! let (client, driver) = hyperwire_async_std::Client::connect("host=127.0.0.1 user=postgres").await?;
//! async_std::task::spawn(driver);
//! let rows = client.query("SELECT $1::int8", &[&1i64]).await?;
//! # Ok(()) }
//! ```
//!
//! Every method is cancel-safe, as in hyperwire-tokio: a dropped future's request
//! is settled by the [`DropPolicy`] before the next request.

mod runtime;
mod socket;

pub use runtime::{AsyncStd, AsyncStdSocket, BoxedSleep};
#[cfg(feature = "smol")]
pub use runtime::{Smol, SmolSocket};
pub use socket::FuturesSocket;

/// A connection over async-std (see [`hyperwire_async::Connection`]).
pub type Connection = hyperwire_async::Connection<AsyncStd>;
/// A shared, pipelining handle to one connection (see [`hyperwire_async::Client`]).
pub type Client = hyperwire_async::Client<AsyncStd>;
/// The driver of a [`Client`]: spawn it with `async_std::task::spawn`.
pub type Driver = hyperwire_async::Driver<AsyncStd>;
/// Cancels a session's running request from any task.
pub type CancelToken = hyperwire_async::CancelToken<AsyncStd>;
/// The rows of one statement as a `Stream`.
pub type RowStream<'c> = hyperwire_async::RowStream<'c, AsyncStd>;
/// `COPY ... TO STDOUT` data as a `Stream` of chunks.
pub type CopyOutStream<'c> = hyperwire_async::CopyOutStream<'c, AsyncStd>;
/// `COPY ... FROM STDIN` data.
pub type CopyIn<'c> = hyperwire_async::CopyIn<'c, AsyncStd>;
/// An open transaction (dropped unfinished: rolled back).
pub type Transaction<'c> = hyperwire_async::Transaction<'c, AsyncStd>;

/// The record batches of ARROWSTREAM COPY OUT (feature `arrow`).
#[cfg(feature = "arrow")]
pub type ArrowBatchStream<'c> = hyperwire_async::ArrowBatchStream<'c, AsyncStd>;
/// ARROWSTREAM COPY IN fed with record batches (feature `arrow`).
#[cfg(feature = "arrow")]
pub type ArrowCopyIn<'c> = hyperwire_async::ArrowCopyIn<'c, AsyncStd>;
#[cfg(feature = "arrow")]
pub use hyperwire_async::ArrowCopyError;

/// deadpool's Manager for [`Connection`] (feature `deadpool`).
#[cfg(feature = "deadpool")]
pub type Manager = hyperwire_async::Manager<AsyncStd>;

pub use hyperwire_async::{
    Column, Config, DropPolicy, Error, Format, FromSql, Notification, Notifications, QueryResult,
    Result, Row, RowError, RowRef, ServerError, Statement, StatementPolicy, TlsInfo, ToSql,
    TransactionStatus, DEFAULT_MAX_IN_FLIGHT,
};
