//! The [`Protocol`] state machine: bytes in, events and bytes out.

mod dispatch;
pub(crate) mod event;
mod pipeline;
mod poll;
mod recv;
mod request;
mod route;
pub(crate) mod settings;
mod startup;
mod state;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use crate::auth::SaltedPassword;
use crate::codec::{frontend, ProtocolVersion, TransactionStatus};
use crate::config::AuthMethod;
use crate::error::{Error, ProtocolError, UsageError};
use crate::machine::recv::RecvBuffer;
use crate::machine::state::{CopyState, Phase, State};

pub use event::{Event, RequestId, ResultFormats};
pub use request::{Execute, RequestBuilder};
pub use settings::{Settings, TlsPlan, DEFAULT_DRAIN_BUDGET, DEFAULT_MAX_MESSAGE_SIZE};

/// A source of random bytes for SCRAM nonces.
pub type NonceSource = Box<dyn FnMut(&mut [u8]) + Send>;

/// The server's cancel key, from BackendKeyData.
#[derive(Clone, PartialEq, Eq)]
pub struct BackendKey {
    /// Process id (Hyper: a connection slot).
    pub process_id: u32,
    secret: Vec<u8>,
}

impl BackendKey {
    /// The secret (4 bytes on protocol 3.0, up to 256 on 3.2).
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }
}

impl core::fmt::Debug for BackendKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BackendKey")
            .field("process_id", &self.process_id)
            .field("secret", &"***")
            .finish()
    }
}

/// The bytes of a CancelRequest, to send alone on a *new* connection to the same
/// server (with TLS if the main connection used it). The server closes that
/// connection without answering.
#[derive(Clone, PartialEq, Eq)]
pub struct CancelRequest {
    bytes: Vec<u8>,
}

impl CancelRequest {
    /// The message to write.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl core::fmt::Debug for CancelRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CancelRequest(***)")
    }
}

/// The sans-IO protocol machine for one connection.
///
/// # The run loop
///
/// The machine never touches a socket or a clock. The adapter moves bytes and the
/// machine decides everything else:
///
/// ```
/// use hyperwire_proto::{Event, Protocol, Settings};
///
/// let mut p = Protocol::new(Settings::new("postgres"));
/// // 1. Write what the machine wants sent (here: the StartupMessage).
/// let out = p.pending_send().to_vec();
/// p.advance_send(out.len());
/// // 2. Read from the socket straight into the machine's buffer.
/// let server = b"R\0\0\0\x08\0\0\0\0Z\0\0\0\x05I";
/// let buf = p.recv_buf(server.len());
/// buf[..server.len()].copy_from_slice(server);
/// p.recv_commit(server.len());
/// // 3. Drain the events (each borrows the buffer until the next call).
/// let mut ready = false;
/// while let Some(ev) = p.poll_event() {
///     if let Event::StartupComplete { .. } = ev {
///         ready = true;
///     }
/// }
/// assert!(ready);
/// // 4. Queue requests; their bytes appear in pending_send, their answers as events
/// //    tagged with the returned id, ending with `Event::Done`.
/// let id = p.query("SELECT 1").unwrap();
/// assert!(!p.pending_send().is_empty());
/// # let _ = id;
/// ```
///
/// Inputs are [`recv_buf`](Self::recv_buf)/[`recv_commit`](Self::recv_commit) (or
/// [`receive`](Self::receive)), [`recv_eof`](Self::recv_eof) and the request methods;
/// outputs are [`pending_send`](Self::pending_send)/[`advance_send`](Self::advance_send)
/// and [`poll_event`](Self::poll_event). Call `poll_event` until it returns `None`
/// after every input.
// What the machine remembers is one struct, `State` (state.rs); the received bytes
// sit beside it so that events can borrow them while the state changes.
pub struct Protocol {
    /// The received bytes and how far they were read.
    recv: RecvBuffer,
    /// Everything else the machine's behaviour depends on.
    state: State,
}

impl core::fmt::Debug for Protocol {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Protocol")
            .field("settings", &self.state.settings)
            .field("phase", &self.state.phase)
            .field("pending_steps", &self.state.pipeline.len())
            .field("transaction_status", &self.state.txn)
            .field("fatal", &self.state.fatal)
            .finish_non_exhaustive()
    }
}

impl Protocol {
    /// A machine for a new connection. It queues the first bytes at once: an
    /// SSLRequest, or the StartupMessage (nothing with [`TlsPlan::Direct`]: the adapter
    /// starts with the TLS handshake).
    pub fn new(settings: Settings) -> Protocol {
        Protocol {
            recv: RecvBuffer::default(),
            state: State::new(settings),
        }
    }

    /// Replaces the source of SCRAM nonce bytes (for deterministic tests, or a
    /// platform without the `rand` feature).
    pub fn set_nonce_source(&mut self, source: NonceSource) {
        self.state.nonce = Some(source);
    }

    // ---- input -------------------------------------------------------------------

    /// Spare space of at least `min_len` bytes to read socket data into; then call
    /// [`recv_commit`](Self::recv_commit) with the count read.
    pub fn recv_buf(&mut self, min_len: usize) -> &mut [u8] {
        self.recv.spare(min_len)
    }

    /// `n` bytes were written into the space [`recv_buf`](Self::recv_buf) returned.
    pub fn recv_commit(&mut self, n: usize) {
        self.recv.commit(n);
    }

    /// Copies received bytes in (convenience for [`recv_buf`](Self::recv_buf)).
    pub fn receive(&mut self, bytes: &[u8]) {
        self.recv.extend(bytes);
    }

    /// The server closed the connection (read returned 0).
    pub fn recv_eof(&mut self) {
        self.recv.cursor.eof = true;
    }

    /// The adapter finished the TLS handshake after [`Event::TlsAnswer`] (or at once
    /// with [`TlsPlan::Direct`]). `server_end_point` is the `tls-server-end-point`
    /// channel-binding data (RFC 5929: the hash of the server certificate), if the
    /// adapter can compute it; without it SCRAM-SHA-256-PLUS is not possible.
    pub fn tls_established(&mut self, server_end_point: Option<Vec<u8>>) -> Result<(), Error> {
        self.state.check_fatal()?;
        if self.state.phase != Phase::TlsHandshake {
            return Err(UsageError::NoTlsHandshakePending.into());
        }
        if !self.recv.unread().is_empty() {
            // Bytes that arrived before the handshake were not encrypted.
            let e = Error::Protocol(ProtocolError::UnencryptedBytesAfterTlsAnswer);
            self.state.fail(e.clone());
            return Err(e);
        }
        self.state.tls_active = true;
        self.state.tls_binding = server_end_point;
        self.state.send_startup();
        Ok(())
    }

    /// Whether the session runs over TLS (the handshake finished).
    pub fn is_encrypted(&self) -> bool {
        self.state.tls_active
    }

    /// The encryption plan this machine was started with.
    pub(crate) fn settings_tls(&self) -> TlsPlan {
        self.state.settings.tls
    }

    /// Whether the adapter must run a TLS handshake now.
    pub fn wants_tls_handshake(&self) -> bool {
        self.state.phase == Phase::TlsHandshake && self.state.fatal.is_none()
    }

    // ---- output (and poll_event, in poll.rs) -------------------------------------

    /// Bytes to write to the socket. Partial writes are fine: report them with
    /// [`advance_send`](Self::advance_send).
    pub fn pending_send(&self) -> &[u8] {
        self.state.send.get(self.state.sent..).unwrap_or_default()
    }

    /// `n` bytes of [`pending_send`](Self::pending_send) were written.
    pub fn advance_send(&mut self, n: usize) {
        self.state.sent = (self.state.sent + n).min(self.state.send.len());
        if self.state.sent == self.state.send.len() {
            self.state.send.clear();
            self.state.sent = 0;
        }
    }

    // ---- requests ----------------------------------------------------------------

    /// A simple-protocol Query (one or more statements; Hyper allows one). Its results,
    /// its ReadyForQuery and `Done` carry the returned id.
    pub fn query(&mut self, sql: &str) -> Result<RequestId, Error> {
        self.request().simple_query(sql).finish()
    }

    /// Prepares a named (or, with `""`, the unnamed) statement: Parse, Describe
    /// statement, Sync. `param_types` may hold 0 for "let the server decide"; Hyper
    /// needs one entry per `$n`.
    pub fn prepare(
        &mut self,
        name: &str,
        sql: &str,
        param_types: &[u32],
    ) -> Result<RequestId, Error> {
        self.request()
            .parse(name, sql, param_types)
            .describe_statement(name)
            .sync()
            .finish()
    }

    /// Binds and executes a prepared statement: Bind, optionally Describe portal,
    /// Execute, Sync.
    pub fn execute(&mut self, spec: &Execute<'_>) -> Result<RequestId, Error> {
        let mut b = self.request().bind(
            spec.portal,
            spec.statement,
            spec.param_formats,
            spec.params,
            spec.result_formats,
        );
        if spec.describe {
            b = b.describe_portal(spec.portal);
        }
        b.execute(spec.portal, spec.max_rows).sync().finish()
    }

    /// Sync alone: ends the current extended batch. Its ReadyForQuery carries this id.
    pub fn sync(&mut self) -> Result<RequestId, Error> {
        self.request().sync().finish()
    }

    /// Flush: asks the server to send what it has so far (no response of its own).
    pub fn flush(&mut self) -> Result<(), Error> {
        self.state.check_can_send()?;
        frontend::flush(&mut self.state.send);
        Ok(())
    }

    /// Builds a request from any sequence of extended-protocol messages (with or
    /// without a Sync). After an error the server skips everything up to the next
    /// Sync: those requests are reported as [`Event::Skipped`].
    pub fn request(&mut self) -> RequestBuilder<'_> {
        RequestBuilder::new(self)
    }

    /// Sends data during COPY FROM STDIN.
    pub fn copy_data(&mut self, data: &[u8]) -> Result<(), Error> {
        self.state.check_fatal()?;
        if !matches!(self.state.copy, CopyState::In { .. }) {
            return Err(UsageError::NotInCopyIn.into());
        }
        frontend::copy_data(&mut self.state.send, data)?;
        Ok(())
    }

    /// Ends COPY FROM STDIN successfully.
    pub fn copy_done(&mut self) -> Result<(), Error> {
        self.state.end_copy_in(None)
    }

    /// Aborts COPY FROM STDIN; the server answers with an error quoting `reason`.
    pub fn copy_fail(&mut self, reason: &str) -> Result<(), Error> {
        self.state.end_copy_in(Some(reason))
    }

    /// The caller lost interest in a request: its remaining responses are discarded
    /// (a COPY FROM STDIN in progress is failed). If it produces more than the drain
    /// budget, the machine gives up and becomes desynchronized. Returns whether the
    /// request was pending.
    pub fn abandon(&mut self, id: RequestId) -> bool {
        if !self.state.pipeline.abandon(id) {
            return false;
        }
        self.state.queued.retain(|ev| ev.request() != Some(id));
        if matches!(self.state.copy, CopyState::In { request, .. } if request == id) {
            let _ = self.state.end_copy_in(Some("abandoned by the client"));
        }
        true
    }

    /// The bytes of a CancelRequest for this session.
    pub fn cancel_request(&self) -> Result<CancelRequest, Error> {
        let key = self
            .state
            .backend_key
            .as_ref()
            .ok_or(Error::Usage(UsageError::NoBackendKey))?;
        let mut bytes = Vec::new();
        frontend::cancel_request(&mut bytes, key.process_id, &key.secret)?;
        Ok(CancelRequest { bytes })
    }

    /// Queues Terminate; no request is accepted afterwards.
    pub fn terminate(&mut self) {
        if self.state.phase != Phase::Terminated {
            frontend::terminate(&mut self.state.send);
            self.state.phase = Phase::Terminated;
        }
    }

    // ---- getters -----------------------------------------------------------------

    /// Whether the connection can still be used (no fatal error, not terminated, and
    /// the server has not closed it: after [`recv_eof`](Self::recv_eof) the events
    /// already received can still be polled, but nothing new can be answered).
    pub fn is_healthy(&self) -> bool {
        self.state.fatal.is_none() && self.state.phase != Phase::Terminated && !self.recv.cursor.eof
    }

    /// Whether the startup finished.
    pub fn is_ready(&self) -> bool {
        self.state.phase == Phase::Ready && self.state.fatal.is_none()
    }

    /// Whether no request is pending.
    pub fn is_idle(&self) -> bool {
        self.is_ready() && self.state.pipeline.is_empty() && self.state.copy == CopyState::None
    }

    /// Whether a COPY FROM STDIN is waiting for data.
    pub fn in_copy_in(&self) -> bool {
        matches!(self.state.copy, CopyState::In { .. })
    }

    /// The fatal error, once there is one.
    pub fn error(&self) -> Option<&Error> {
        self.state.fatal.as_ref()
    }

    /// The transaction status from the latest ReadyForQuery.
    pub fn transaction_status(&self) -> TransactionStatus {
        self.state.txn
    }

    /// A run-time parameter the server reported (`server_version`, `TimeZone`...).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.state.params.get(name).map(String::as_str)
    }

    /// Every parameter the server reported.
    pub fn parameters(&self) -> impl Iterator<Item = (&str, &str)> {
        self.state
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The cancel key.
    pub fn backend_key(&self) -> Option<&BackendKey> {
        self.state.backend_key.as_ref()
    }

    /// The protocol version in use.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.state.version
    }

    /// Whether the server is Hyper (it reported `hyper_version`).
    pub fn is_hyper(&self) -> bool {
        self.state.is_hyper
    }

    /// The authentication method the server asked for, once it did.
    pub fn auth_method(&self) -> Option<AuthMethod> {
        self.state.auth_method
    }

    /// Whether SCRAM used channel binding (SCRAM-SHA-256-PLUS).
    pub fn channel_bound(&self) -> bool {
        self.state.scram_plus
    }

    /// The salted SCRAM password of this connection, to pass to
    /// [`Settings::scram_cache`] when reconnecting (skips PBKDF2).
    pub fn scram_salted_password(&self) -> Option<&SaltedPassword> {
        self.state.salted.as_ref()
    }

    /// Whether SCRAM reused the salted password given to
    /// [`Settings::scram_cache`] (PBKDF2 was skipped).
    pub fn scram_key_reused(&self) -> bool {
        self.state.scram_key_reused
    }

    /// After a silent close during startup with protocol 3.2 requested (hyperd's
    /// answer to any version but 3.0): the version to retry with on a new connection.
    pub fn retry_with_protocol(&self) -> Option<ProtocolVersion> {
        self.state.retry_protocol
    }

    /// How many responses (steps) are still pending.
    pub fn pending_responses(&self) -> usize {
        self.state.pipeline.len()
    }
}
