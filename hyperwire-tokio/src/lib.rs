//! # hyperwire-tokio
//!
//! An async PostgreSQL and Hyper [`Connection`] over tokio's TCP and unix sockets,
//! driven by the [`hyperwire_proto`] state machine. Every method is cancel-safe:
//! drop its future at any await point and the connection handles the abandoned
//! request by its [`DropPolicy`] (cancel then drain, by default) before the next
//! request, which always gets its own answer.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hyperwire_tokio::Error> {
//! use hyperwire_tokio::Connection;
//!
//! let mut conn = Connection::connect("host=127.0.0.1 user=postgres").await?;
//! let row = conn.query_one("SELECT $1::int8 + 1", &[&41i64]).await?;
//! assert_eq!(row.get::<i64>(0)?, 42);
//! # Ok(()) }
//! ```
//!
//! TLS follows libpq's `sslmode` (through hyperwire-tls and tokio-rustls). Not yet:
//! the shared pipelining `Client` and its driver.

mod cancel;
mod client;
mod connect;
mod connection;
mod error;
mod io;
mod rows;

pub use cancel::CancelToken;
pub use client::{Client, Driver, DEFAULT_MAX_IN_FLIGHT};
pub use connection::{Connection, DropPolicy, Statement};
pub use error::{Error, Result};
pub use hyperwire_proto::inbox::Notification;
pub use rows::{CopyIn, CopyOutStream, RowStream};

pub use hyperwire_proto::config::Config;
pub use hyperwire_proto::result::{Column, QueryResult, Row, RowError};
pub use hyperwire_proto::statement_cache::StatementPolicy;
pub use hyperwire_proto::value::{FromSql, ToSql};
pub use hyperwire_proto::{Format, ServerError, TransactionStatus};
pub use hyperwire_tls::TlsInfo;
