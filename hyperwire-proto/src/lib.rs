//! # hyperwire-proto
//!
//! A sans-IO PostgreSQL frontend/backend protocol machine (protocol 3.0 and 3.2) that
//! also speaks the dialect of the Hyper database. Bytes go in, events and bytes come
//! out; there are no sockets, no clocks, no threads and no runtime here. Adapters for
//! blocking sockets, tokio and async-std move the bytes.
//!
//! * [`Protocol`]: the state machine (see its docs for the run loop).
//! * [`codec`]: encoders for every client message and a zero-copy decoder for every
//!   server message.
//! * [`auth`]: SCRAM-SHA-256(-PLUS) and MD5.
//! * [`config`]: libpq connection strings, environment variables and password files.
//! * [`engine`]: what every runtime needs above the message level, sans-IO: the
//!   [`engine::Connector`], the [`engine::CancelExchange`], time as an input.
//! * [`value`]: parameters and columns in text, PostgreSQL binary and HyperBinary.
//! * [`hyper_copy`]: Hyper's HYPERBINARY COPY stream, written and read.
//!
//! Every byte from the server is untrusted: lengths are checked before buffering, a
//! malformed message is a [`Error::Protocol`], never a panic, and once the response
//! stream cannot be matched to requests the machine is desynchronized for good.
#![no_std]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

extern crate alloc;

pub mod auth;
pub mod codec;
pub mod config;
pub mod engine;
mod error;
pub mod hyper_copy;
pub mod inbox;
mod machine;
pub mod result;
mod server_error;
pub mod sql;
mod sqlstate;
pub mod statement_cache;
#[cfg(feature = "testing")]
pub mod testing;
pub mod value;

pub use codec::{Format, ProtocolVersion, TransactionStatus};
pub use error::{
    AuthError, ClosedReason, DesyncReason, EncodeError, Error, ProtocolError, UsageError,
};
pub use machine::{
    BackendKey, CancelRequest, Event, Execute, NonceSource, Protocol, RequestBuilder, RequestId,
    ResultFormats, Settings, TlsPlan, DEFAULT_DRAIN_BUDGET, DEFAULT_MAX_MESSAGE_SIZE,
};
pub use server_error::ServerError;
pub use sqlstate::SqlState;
