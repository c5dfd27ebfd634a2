//! # hyperwire-async
//!
//! The async side of hyperwire, written once for every runtime: a cancel-safe
//! [`Connection`], row and COPY streams, a [`CancelToken`], and a pipelining
//! [`Client`] with its [`Driver`]. A runtime plugs in through [`Runtime`]
//! (sockets, TLS handshake, timer); users pick one through hyperwire-tokio or
//! hyperwire-async-std, which re-export these types with the runtime filled in.
//!
//! The protocol decisions are the core's ([`hyperwire_proto::engine`]: connecting,
//! cancelling, reading queries, rows, prepared statements and the start of a COPY,
//! the policy for abandoned requests): this crate moves bytes between a socket
//! and the core, waits, and turns the outcomes into futures and streams. (Still
//! here, to move: the COPY data phases and the order in which a dropped request's
//! cancel and drain are carried out.)

#[cfg(feature = "arrow")]
mod arrow;
mod cancel;
mod client;
mod connect;
mod connection;
mod copy;
mod error;
mod formats;
mod in_flight;
mod in_place;
mod io;
mod notifications;
#[cfg(feature = "deadpool")]
mod pool;
mod rows;
pub mod runtime;
mod transaction;

#[cfg(feature = "arrow")]
pub use arrow::{ArrowBatchStream, ArrowCopyError, ArrowCopyIn};
pub use cancel::CancelToken;
pub use client::{Client, Driver, DEFAULT_MAX_IN_FLIGHT};
pub use connection::{Connection, DropPolicy, Statement};
pub use copy::{CopyIn, CopyOutStream};
pub use error::{Error, Result};
pub use hyperwire_proto::engine::AbandonPolicy;
pub use notifications::{Notifications, DEFAULT_NOTIFICATION_CAPACITY};
#[cfg(feature = "deadpool")]
pub use pool::Manager;
pub use rows::RowStream;
pub use runtime::{Runtime, Socket};
pub use transaction::Transaction;

pub use hyperwire_proto::config::Config;
pub use hyperwire_proto::inbox::Notification;
pub use hyperwire_proto::result::{Column, QueryResult, Row, RowError, RowRef};
pub use hyperwire_proto::statement_cache::StatementPolicy;
pub use hyperwire_proto::value::{FromSql, ToSql};
pub use hyperwire_proto::{Format, ServerError, TransactionStatus};
pub use hyperwire_tls::TlsInfo;
