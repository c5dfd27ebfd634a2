//! What the machine reports. Events borrow from the receive buffer and stay valid
//! until the next call on the machine.

use alloc::vec::Vec;

use crate::codec::{
    BackendMessage, CopyResponse, DataRow, ErrorFields, Format, ParameterTypes, ProtocolVersion,
    RowDescription, StrList, TransactionStatus,
};
use crate::error::{Error, ProtocolError};

/// Identifies one request; responses carry the id of the request they answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub(crate) u64);

impl RequestId {
    /// The id as a number (ids increase in submission order).
    pub fn get(self) -> u64 {
        self.0
    }
}

/// The format of each result column, as the request asked for it. Hyper's
/// RowDescription always claims text, so this, not the server's claim, is the truth.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResultFormats {
    /// Every column in one format.
    All(Format),
    /// One format per column.
    PerColumn(Vec<Format>),
}

impl ResultFormats {
    /// The format of column `index`.
    pub fn get(&self, index: usize) -> Format {
        match self {
            ResultFormats::All(f) => *f,
            ResultFormats::PerColumn(v) => v.get(index).copied().unwrap_or_default(),
        }
    }

    /// From Bind's result-format list: none means the session default, one applies
    /// to all columns, more are per column.
    pub(crate) fn from_bind(formats: &[Format], session_default: Format) -> Self {
        match formats {
            [] => ResultFormats::All(session_default),
            [one] => ResultFormats::All(*one),
            many => ResultFormats::PerColumn(many.to_vec()),
        }
    }
}

/// Something the server said, or the machine decided.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The server answered the SSLRequest. If accepted, run the TLS handshake on the
    /// socket and then call [`crate::Protocol::tls_established`].
    TlsAnswer {
        /// `true` for 'S'.
        accepted: bool,
    },
    /// The server answered the GSSENCRequest (sent only when
    /// [`crate::Settings::gssenc_request`] asked for it). Refused: the startup goes on.
    GssEncAnswer {
        /// `true` for 'G' (which this client cannot use: a fatal error follows).
        accepted: bool,
    },
    /// The server accepted our authentication (AuthenticationOk, after every check).
    Authenticated,
    /// The server answered with NegotiateProtocolVersion; the connection continues with
    /// `version`.
    ProtocolNegotiated {
        /// The version now in use.
        version: ProtocolVersion,
        /// Startup options the server did not recognize.
        unrecognized: StrList<'a>,
    },
    /// A run-time parameter's value (at startup, or changed later; Hyper also sends
    /// `alive` in the middle of long results).
    ParameterStatus {
        /// The parameter.
        name: &'a str,
        /// Its value.
        value: &'a str,
    },
    /// The cancel key.
    BackendKeyData {
        /// Process id (Hyper: a connection slot).
        process_id: u32,
        /// The secret (4 bytes on protocol 3.0).
        secret_key: &'a [u8],
    },
    /// The startup finished: requests may be sent.
    StartupComplete {
        /// The transaction status.
        status: TransactionStatus,
    },
    /// A ReadyForQuery that answered this request's Sync (or simple Query).
    ReadyForQuery {
        /// The request.
        request: RequestId,
        /// The transaction status after it.
        status: TransactionStatus,
    },
    /// The shape of the rows that follow.
    RowDescription {
        /// The request.
        request: RequestId,
        /// The columns, as the server describes them.
        description: RowDescription<'a>,
        /// The format each column will arrive in (as requested).
        formats: &'a ResultFormats,
    },
    /// One row.
    DataRow {
        /// The request.
        request: RequestId,
        /// The columns.
        row: DataRow<'a>,
        /// The format of each column (as requested).
        formats: &'a ResultFormats,
    },
    /// A statement finished, with its tag (`SELECT 3`, `INSERT 0 1`...).
    CommandComplete {
        /// The request.
        request: RequestId,
        /// The command tag.
        tag: &'a str,
    },
    /// The query string was empty.
    EmptyQuery {
        /// The request.
        request: RequestId,
    },
    /// Parse succeeded.
    ParseComplete {
        /// The request.
        request: RequestId,
    },
    /// Bind succeeded.
    BindComplete {
        /// The request.
        request: RequestId,
    },
    /// Close succeeded.
    CloseComplete {
        /// The request.
        request: RequestId,
    },
    /// The described statement or portal returns no rows.
    NoData {
        /// The request.
        request: RequestId,
    },
    /// The described statement's parameter types.
    ParameterDescription {
        /// The request.
        request: RequestId,
        /// Their OIDs.
        types: ParameterTypes<'a>,
    },
    /// Execute reached its row limit; the portal can be resumed.
    PortalSuspended {
        /// The request.
        request: RequestId,
    },
    /// COPY FROM STDIN started: send data with `copy_data`, then `copy_done` or `copy_fail`.
    CopyInStart {
        /// The request.
        request: RequestId,
        /// Formats as the server states them (Hyper always says 0).
        response: CopyResponse<'a>,
    },
    /// COPY TO STDOUT started: CopyData events follow.
    CopyOutStart {
        /// The request.
        request: RequestId,
        /// Formats as the server states them (Hyper always says 0).
        response: CopyResponse<'a>,
    },
    /// A chunk of COPY TO STDOUT data.
    CopyData {
        /// The request.
        request: RequestId,
        /// The bytes.
        data: &'a [u8],
    },
    /// COPY TO STDOUT sent all its data.
    CopyDone {
        /// The request.
        request: RequestId,
    },
    /// The server reported an error for this request. The connection stays usable.
    ServerError {
        /// The request.
        request: RequestId,
        /// The error's fields (see [`crate::ServerError::from_fields`] to keep them).
        error: ErrorFields<'a>,
    },
    /// The server skipped this request because an earlier one in the same Sync group
    /// failed.
    Skipped {
        /// The request.
        request: RequestId,
    },
    /// The last event of a request: nothing more will come for it.
    Done {
        /// The request.
        request: RequestId,
    },
    /// A notice or warning (never tied to a request).
    Notice(ErrorFields<'a>),
    /// A LISTEN notification.
    Notification {
        /// The notifying backend's process id.
        process_id: u32,
        /// The channel.
        channel: &'a str,
        /// The payload.
        payload: &'a str,
    },
    /// The connection is unusable; this is the last event. Every later request
    /// returns this same error.
    Fatal(Error),
}

impl Event<'_> {
    /// The request this event answers; `None` for events outside any request
    /// (startup, parameters, notices, notifications, `Fatal`).
    pub fn request(&self) -> Option<RequestId> {
        match self {
            Event::ReadyForQuery { request, .. }
            | Event::RowDescription { request, .. }
            | Event::DataRow { request, .. }
            | Event::CommandComplete { request, .. }
            | Event::EmptyQuery { request }
            | Event::ParseComplete { request }
            | Event::BindComplete { request }
            | Event::CloseComplete { request }
            | Event::NoData { request }
            | Event::ParameterDescription { request, .. }
            | Event::PortalSuspended { request }
            | Event::CopyInStart { request, .. }
            | Event::CopyOutStart { request, .. }
            | Event::CopyData { request, .. }
            | Event::CopyDone { request }
            | Event::ServerError { request, .. }
            | Event::Skipped { request }
            | Event::Done { request } => Some(*request),
            _ => None,
        }
    }
}

impl<'a> Event<'a> {
    /// The event that reports `msg`, a message the dispatch rules chose to forward
    /// as it is (`Action::Forward`): `request` is the request it answers (`None` for
    /// messages outside any request), `formats` the current result's formats and
    /// `version` the protocol version in use.
    pub(super) fn from_message(
        msg: BackendMessage<'a>,
        request: Option<RequestId>,
        formats: &'a ResultFormats,
        version: ProtocolVersion,
    ) -> Event<'a> {
        use BackendMessage as M;
        let req = request.unwrap_or(RequestId(u64::MAX));
        match msg {
            M::DataRow(row) => Event::DataRow {
                request: req,
                row,
                formats,
            },
            M::ParameterStatus { name, value } => Event::ParameterStatus { name, value },
            M::BackendKeyData {
                process_id,
                secret_key,
            } => Event::BackendKeyData {
                process_id,
                secret_key,
            },
            M::NegotiateProtocolVersion { unrecognized, .. } => Event::ProtocolNegotiated {
                version,
                unrecognized,
            },
            M::NoticeResponse(fields) => Event::Notice(fields),
            M::NotificationResponse {
                process_id,
                channel,
                payload,
            } => Event::Notification {
                process_id,
                channel,
                payload,
            },
            M::RowDescription(description) => Event::RowDescription {
                request: req,
                description,
                formats,
            },
            M::CommandComplete(tag) => Event::CommandComplete { request: req, tag },
            M::ParameterDescription(types) => Event::ParameterDescription {
                request: req,
                types,
            },
            M::CopyInResponse(response) => Event::CopyInStart {
                request: req,
                response,
            },
            M::CopyOutResponse(response) => Event::CopyOutStart {
                request: req,
                response,
            },
            M::CopyData(data) => Event::CopyData { request: req, data },
            M::ErrorResponse(error) => Event::ServerError {
                request: req,
                error,
            },
            other => Event::Fatal(Error::Protocol(ProtocolError::Unexpected {
                message: other.name(),
                state: "forwarding an event",
            })),
        }
    }
}
