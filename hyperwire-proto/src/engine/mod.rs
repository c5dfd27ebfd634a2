//! The engine: what every runtime needs above the message level, sans-IO.
//!
//! [`Protocol`](crate::Protocol) knows one session's messages. The engine knows
//! what surrounds them: which hosts to try and how ([`Connector`]), how a cancel
//! request travels ([`CancelExchange`]), and time, which comes in from outside as
//! a [`Timestamp`] (each object answers `poll_timeout()` with its next deadline
//! and acts on `handle_timeout(now)`). An adapter carries out the actions these
//! objects ask for; it makes no protocol decision of its own.

pub mod cancel;
pub mod connect;
pub mod copy;
pub mod copy_in;
pub mod copy_start;
pub mod pipeline;
pub mod policy;
pub mod portal;
pub mod prepare;
pub mod query;
pub mod reader;
pub mod rows;
pub mod script;
pub mod session;
pub mod time;
pub mod wire;

pub use cancel::{CancelAction, CancelError, CancelExchange, CANCEL_TIMEOUT};
pub use connect::{
    AttemptError, AttemptFailure, CancelTlsMode, ConnectAction, ConnectError, Connected, Connector,
    Environment, ScramKeyStore,
};
pub use copy::{CopyReader, CopyStep};
pub use copy_in::{CopyWriteError, CopyWriter, WriteStep};
pub use copy_start::{CopyDirection, CopyStart};
pub use pipeline::{item_error_is_contained, ExecuteMany, Pipeline, PipelineStep, SyncMode};
pub use policy::AbandonPolicy;
pub use portal::{Fetch, FetchOutcome, Portal};
pub use prepare::{execute_prepared, execute_prepared_unsynced, PrepareReader, PreparedStatement};
pub use query::{
    Feed, QueryReader, ReadStep, RequestError, COPY_NOT_EXPECTED, COPY_WRONG_DIRECTION, NOT_COPY,
};
pub use reader::Reader;
pub use rows::{RowReader, RowsStep};
pub use script::{CopyInStep, ScriptReader, ScriptStep};
pub use session::{Closed, Session, SettleStep};
pub use time::Timestamp;
pub use wire::Wire;
