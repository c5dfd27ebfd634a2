//! # hyperwire-blocking
//!
//! A blocking PostgreSQL and Hyper client over `std` sockets, driven by the
//! [`hyperwire_proto`] state machine. There is no async runtime inside: one socket,
//! non-blocking, waited on with `poll(2)` for reads and writes together, so a large
//! COPY or pipeline never deadlocks against a server that is writing too.
//!
//! ```no_run
//! use hyperwire_blocking::Client;
//!
//! let mut client = Client::connect("host=127.0.0.1 user=postgres dbname=postgres")?;
//! let row = client.query_one("SELECT $1::int8 + 1", &[&41i64])?;
//! assert_eq!(row.get::<i64>(0)?, 42);
//! # Ok::<(), hyperwire_blocking::Error>(())
//! ```

#[cfg(feature = "arrow")]
mod arrow;
mod cancel;
mod client;
mod clock;
mod conn;
mod connect;
mod copy;
mod error;
mod formats;
mod pipeline;
mod portal;
mod rows;
mod simple;
mod stream;
#[cfg(feature = "tls")]
mod tls;
#[cfg(not(feature = "tls"))]
#[path = "tls_disabled.rs"]
mod tls;
mod transaction;

#[cfg(feature = "arrow")]
pub use arrow::{ArrowBatches, ArrowCopyError, ArrowCopyIn};
pub use cancel::CancelToken;
pub use client::{Client, Statement, TimeoutPolicy};
pub use copy::{CopyIn, CopyOut};
pub use error::{Error, Result};
pub use hyperwire_proto::engine::AbandonPolicy;
pub use hyperwire_proto::engine::Portal;
pub use hyperwire_proto::inbox::{NoticeHandler, Notification};
pub use hyperwire_proto::result::{Column, ColumnIndex, QueryResult, Row, RowError, RowRef};
pub use pipeline::{Pipeline, PipelineResults, SyncMode};
pub use rows::RowIter;
pub use simple::SimpleHandler;
pub use tls::TlsInfo;
pub use transaction::Transaction;

pub use hyperwire_proto::config::Config;
pub use hyperwire_proto::statement_cache::StatementPolicy;
pub use hyperwire_proto::value::{FromSql, ToSql};
pub use hyperwire_proto::{Format, ServerError, TransactionStatus};
