//! Everything the machine remembers between two calls, in one struct.
//!
//! [`Protocol`](super::Protocol) is this [`State`] plus the receive buffer
//! (`recv.rs`), kept apart so that an event can borrow received bytes while the
//! state changes. Every rule in `dispatch.rs`, `route.rs` and `startup.rs` reads and
//! writes these fields and nothing else.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::auth::{SaltedPassword, ScramClient};
use crate::codec::{frontend, Format, ProtocolVersion, TransactionStatus};
use crate::config::AuthMethod;
use crate::error::{Error, ProtocolError, UsageError};
use crate::machine::event::{Event, RequestId, ResultFormats};
use crate::machine::pipeline::{Pipeline, Step};
use crate::machine::route::Route;
use crate::machine::{BackendKey, NonceSource, Settings, TlsPlan};

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// GSSENCRequest sent; one byte answers it.
    AwaitGssAnswer,
    /// SSLRequest sent; one byte answers it.
    AwaitTlsAnswer,
    /// The adapter is running the TLS handshake.
    TlsHandshake,
    /// StartupMessage sent, before AuthenticationOk.
    Authenticating,
    /// AuthenticationOk received; ParameterStatus and BackendKeyData until ReadyForQuery.
    AwaitReady,
    /// Requests may be sent.
    Ready,
    /// Terminate sent.
    Terminated,
}

/// The COPY sub-state (only while [`Phase::Ready`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CopyState {
    /// No COPY is running.
    None,
    /// COPY FROM STDIN: the caller sends data.
    In {
        /// The request that started it.
        request: RequestId,
        /// Started by an Execute (extended protocol), not a simple Query.
        extended: bool,
    },
    /// CopyDone or CopyFail sent; waiting for the server's verdict.
    InFinished,
    /// COPY TO STDOUT: the server sends data.
    Out {
        /// The request that started it.
        request: RequestId,
    },
}

/// A run of messages of one kind for one request (see `Protocol::poll_event`).
#[derive(Debug, Clone, Copy)]
pub(super) enum Streak {
    /// DataRows for the front step of this request.
    Rows(RequestId),
    /// CopyData of this request's COPY TO STDOUT.
    CopyOut(RequestId),
}

impl Streak {
    /// The message type of the run.
    #[inline(always)]
    pub(super) fn tag(self) -> u8 {
        match self {
            Streak::Rows(_) => b'D',
            Streak::CopyOut(_) => b'd',
        }
    }

    /// What [`State::route`] answered for the run's messages when it began.
    pub(super) fn route(self) -> Route {
        match self {
            Streak::Rows(request) => Route::Front(request),
            Streak::CopyOut(request) => Route::CopyOut(request),
        }
    }
}

/// The state of one connection's protocol machine: every field its behaviour
/// depends on, apart from the received bytes.
pub(super) struct State {
    // ---- configuration and the session ------------------------------------------
    /// What the caller asked for: startup parameters, limits, auth and TLS policy.
    pub(super) settings: Settings,
    /// Where the connection is in its life: what the next server message may be.
    pub(super) phase: Phase,
    /// The protocol version in use (negotiation can lower `settings.max_protocol`).
    pub(super) version: ProtocolVersion,
    /// Run-time parameters the server reported, for `Protocol::parameter`.
    pub(super) params: BTreeMap<String, String>,
    /// The cancel key from BackendKeyData, for `Protocol::cancel_request`.
    pub(super) backend_key: Option<BackendKey>,
    /// The transaction status of the latest ReadyForQuery.
    pub(super) txn: TransactionStatus,
    /// The server reported `hyper_version`: Hyper's dialect rules apply.
    pub(super) is_hyper: bool,

    // ---- output -----------------------------------------------------------------
    /// Bytes queued for the socket.
    pub(super) send: Vec<u8>,
    /// How many bytes of `send` the adapter already wrote.
    pub(super) sent: usize,

    // ---- startup and authentication ---------------------------------------------
    /// Source of SCRAM nonce bytes (none without the `rand` feature until injected).
    pub(super) nonce: Option<NonceSource>,
    /// The TLS handshake finished: the channel is encrypted.
    pub(super) tls_active: bool,
    /// The `tls-server-end-point` hash, when the adapter supplied one (SCRAM-PLUS).
    pub(super) tls_binding: Option<Vec<u8>>,
    /// The SCRAM exchange in progress (its server signature is checked at AuthenticationOk).
    pub(super) scram: Option<ScramClient>,
    /// The authentication method the server asked for (checked against `require_auth`).
    pub(super) auth_method: Option<AuthMethod>,
    /// SCRAM used channel binding (checked for `channel_binding=require`).
    pub(super) scram_plus: bool,
    /// The salted SCRAM password, for the caller to cache for the next connection.
    pub(super) salted: Option<SaltedPassword>,
    /// SCRAM reused the cached salted password (PBKDF2 was skipped).
    pub(super) scram_key_reused: bool,
    /// Any message arrived (tells a silent close from a refusal).
    pub(super) received_any: bool,
    /// Set when hyperd-style silence answered a 3.2 startup: retry with this version.
    pub(super) retry_protocol: Option<ProtocolVersion>,

    // ---- requests and their answers ---------------------------------------------
    /// The steps the server still owes an answer, FIFO, grouped into requests.
    pub(super) pipeline: Pipeline,
    /// The COPY sub-state: which messages may come, and which calls are allowed.
    pub(super) copy: CopyState,
    /// The Sync the server swallowed during COPY FROM STDIN; sent again after it.
    pub(super) owed_sync: Option<Step>,
    /// After an ErrorResponse in an extended batch the server ignores everything up
    /// to the next Sync: the steps before it are reported as skipped.
    pub(super) discarding: bool,
    /// The request whose error started the current discard (it gets no `Skipped`).
    pub(super) failed_request: Option<RequestId>,
    /// The request last reported as skipped (one `Skipped` per request).
    pub(super) skipped_request: Option<RequestId>,
    /// Inside the front step: a RowDescription was seen (simple query), or the
    /// ParameterDescription (describe statement).
    pub(super) step_progress: bool,
    /// Inside a simple query: a statement was answered (CommandComplete,
    /// EmptyQueryResponse or ErrorResponse); a ReadyForQuery before one is a desync.
    pub(super) statement_answered: bool,
    /// The receive-stream position of the message being handled (compared with a
    /// step's fence: an answer cannot arrive before its request was sent).
    pub(super) frame_pos: u64,

    // ---- results ----------------------------------------------------------------
    /// The result formats each bound portal asked for (used by its Describe/Execute).
    pub(super) portal_formats: BTreeMap<String, Arc<ResultFormats>>,
    /// The format of results that did not ask for one (Hyper's `result_format_code`).
    pub(super) session_format: Format,
    /// The formats of the step whose rows are being reported (events borrow it).
    pub(super) current_formats: Arc<ResultFormats>,
    /// How many columns the rows arriving now must have, when this request's
    /// RowDescription told (a row that disagrees is malformed, never delivered).
    pub(super) row_columns: Option<usize>,

    // ---- reporting --------------------------------------------------------------
    /// Events decided but not yet returned by `poll_event` (they own their data).
    pub(super) queued: VecDeque<Event<'static>>,
    /// The first fatal error: sticky, every later call returns it.
    pub(super) fatal: Option<Error>,
    /// `fatal` was returned once as `Event::Fatal` (it is reported only once).
    pub(super) fatal_reported: bool,
    /// The request the last DataRow (or COPY OUT CopyData) went to, while nothing has
    /// happened since that could send the next one elsewhere: more of the same then
    /// takes the short path.
    pub(super) streak: Option<Streak>,
}

impl State {
    /// The state of a new connection, with its first bytes queued: an SSLRequest,
    /// a GSSENCRequest, or the StartupMessage (nothing with [`TlsPlan::Direct`]).
    pub(super) fn new(settings: Settings) -> State {
        let mut state = State {
            version: settings.max_protocol,
            session_format: startup_result_format(&settings),
            settings,
            phase: Phase::Authenticating,
            params: BTreeMap::new(),
            backend_key: None,
            txn: TransactionStatus::Idle,
            is_hyper: false,
            send: Vec::new(),
            sent: 0,
            nonce: default_nonce_source(),
            tls_active: false,
            tls_binding: None,
            scram: None,
            auth_method: None,
            scram_plus: false,
            salted: None,
            scram_key_reused: false,
            received_any: false,
            retry_protocol: None,
            pipeline: Pipeline::default(),
            copy: CopyState::None,
            owed_sync: None,
            discarding: false,
            failed_request: None,
            skipped_request: None,
            step_progress: false,
            statement_answered: false,
            frame_pos: 0,
            portal_formats: BTreeMap::new(),
            current_formats: Arc::new(ResultFormats::All(Format::Text)),
            row_columns: None,
            queued: VecDeque::new(),
            fatal: None,
            fatal_reported: false,
            streak: None,
        };
        if state.settings.min_protocol > state.settings.max_protocol {
            state.fail(Error::Protocol(ProtocolError::Negotiation(
                "min_protocol_version is above max_protocol_version",
            )));
        }
        if state.settings.gssenc_probe && state.settings.tls != TlsPlan::Direct {
            frontend::gssenc_request(&mut state.send);
            state.phase = Phase::AwaitGssAnswer;
        } else {
            state.begin_tls_or_startup();
        }
        state
    }

    /// Records the first fatal error; it is reported once and returned forever after.
    pub(super) fn fail(&mut self, e: Error) {
        if self.fatal.is_none() {
            self.fatal = Some(e);
        }
    }

    pub(super) fn check_fatal(&self) -> Result<(), Error> {
        match &self.fatal {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Whether a new request may be queued now.
    pub(super) fn check_can_send(&self) -> Result<(), Error> {
        self.check_fatal()?;
        match self.phase {
            Phase::Ready => {}
            Phase::Terminated => return Err(Error::Terminated),
            _ => return Err(UsageError::NotReady.into()),
        }
        if matches!(self.copy, CopyState::In { .. }) {
            return Err(UsageError::CopyInProgress.into());
        }
        Ok(())
    }

    /// Pops the front step, telling whether its request was abandoned (popping the
    /// last step forgets that). The next step starts with no progress.
    pub(super) fn pop_step(&mut self) -> Option<(Step, bool)> {
        let abandoned = self.pipeline.is_abandoned(self.pipeline.front()?.request);
        self.step_progress = false;
        self.statement_answered = false;
        self.pipeline.pop().map(|s| (s, abandoned))
    }
}

/// Hyper switches results to HyperBinary with `-c result_format_code=HyperBinary`.
fn startup_result_format(settings: &Settings) -> Format {
    let hyper_binary = settings.params.iter().any(|(n, v)| {
        n == "options"
            && v.split_whitespace()
                .filter_map(|o| o.strip_prefix("result_format_code="))
                .any(|f| f.eq_ignore_ascii_case("hyperbinary"))
    });
    if hyper_binary {
        Format::HyperBinary
    } else {
        Format::Text
    }
}

#[cfg(feature = "rand")]
fn default_nonce_source() -> Option<NonceSource> {
    Some(alloc::boxed::Box::new(|buf: &mut [u8]| {
        use rand::RngCore;
        rand::rngs::OsRng.fill_bytes(buf)
    }))
}

#[cfg(not(feature = "rand"))]
fn default_nonce_source() -> Option<NonceSource> {
    None
}
