//! [`CancelExchange`]: a CancelRequest on its own connection, without I/O.
//!
//! The exchange is short — open, (SSLRequest, one answer byte, TLS,) the request,
//! then wait for the server to close — but its answer byte is parsed with the same
//! strictness as at startup: anything but 'S' or 'N' is an error, and a byte that
//! arrives after 'S' before the handshake is refused (CVE-2021-23222). The server
//! closing the connection is the acknowledgement: it has acted on the request.
//!
//! ```text
//! let mut x = CancelExchange::new(request, tls, now);
//! loop {
//!     match x.poll_action() {
//!         Open                => connect to the session's address; x.opened()
//!         StartTls { direct } => handshake; x.tls_established()
//!         Io                  => write x.pending_send(), read into x.recv_buf(), EOF: x.recv_eof();
//!                                by x.poll_timeout(), else x.handle_timeout(now)
//!         Done                => the server acknowledged
//!         Failed(e)           => refused, malformed or timed out
//!     }
//! }
//! ```

use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use super::connect::CancelTlsMode;
use super::time::Timestamp;
use crate::codec::frontend;
use crate::error::{Error, ProtocolError};
use crate::machine::CancelRequest;

/// How long a cancel may take, from opening its connection to the server's close.
pub const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);

/// What the adapter must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelAction {
    /// Open a connection to the session's server address.
    Open,
    /// Run the TLS handshake on it, as the session did (`direct`: TLS from the
    /// first byte).
    StartTls {
        /// Direct SSL.
        direct: bool,
    },
    /// Write [`CancelExchange::pending_send`] and read into
    /// [`CancelExchange::recv_buf`] (by [`CancelExchange::poll_timeout`]).
    Io,
    /// The server closed the connection: the request was acted on.
    Done,
    /// The exchange failed.
    Failed(CancelError),
}

/// Why a cancel exchange failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelError {
    /// The server refused TLS for the cancel connection, or answered the
    /// SSLRequest with something that is not an answer.
    Protocol(Error),
    /// The server did not close the connection in time.
    TimedOut,
}

impl fmt::Display for CancelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CancelError::Protocol(e) => write!(f, "cancel request: {e}"),
            CancelError::TimedOut => {
                f.write_str("cancel request: the server did not answer in time")
            }
        }
    }
}

impl core::error::Error for CancelError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Open,
    /// SSLRequest sent: exactly one byte answers it.
    AwaitAnswer,
    Handshake,
    /// The request is (being) sent; the server's close ends it.
    AwaitClose,
    Done,
    Failed,
}

/// One cancel request's exchange (see the [module docs](self)).
pub struct CancelExchange {
    request: CancelRequest,
    tls: Option<CancelTlsMode>,
    stage: Stage,
    send: Vec<u8>,
    sent: usize,
    recv: [u8; 64],
    /// Bytes read in the answer stage (one is the answer; more is an attack).
    answer: Vec<u8>,
    eof: bool,
    deadline: Timestamp,
    error: Option<CancelError>,
}

impl fmt::Debug for CancelExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelExchange")
            .field("tls", &self.tls)
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

impl CancelExchange {
    /// An exchange for `request`, encrypted as the session was (`tls`), that must
    /// finish within [`CANCEL_TIMEOUT`] of `now`.
    pub fn new(request: CancelRequest, tls: Option<CancelTlsMode>, now: Timestamp) -> Self {
        CancelExchange {
            request,
            tls,
            stage: Stage::Open,
            send: Vec::new(),
            sent: 0,
            recv: [0; 64],
            answer: Vec::new(),
            eof: false,
            deadline: now.saturating_add(CANCEL_TIMEOUT),
            error: None,
        }
    }

    /// What the adapter must do next.
    #[must_use]
    pub fn poll_action(&mut self) -> CancelAction {
        match self.stage {
            Stage::Open => CancelAction::Open,
            Stage::AwaitAnswer => self.check_answer(),
            Stage::Handshake => CancelAction::StartTls {
                direct: self.tls == Some(CancelTlsMode::Direct),
            },
            // The close acknowledges the request only once it was written; a
            // close before that means the server never got it.
            Stage::AwaitClose if self.eof && self.pending_send().is_empty() => {
                self.stage = Stage::Done;
                CancelAction::Done
            }
            Stage::AwaitClose if self.eof => {
                self.fail(CancelError::Protocol(Error::Closed(
                    crate::ClosedReason::WithPendingRequests,
                )));
                self.poll_action()
            }
            Stage::AwaitClose => CancelAction::Io,
            Stage::Done => CancelAction::Done,
            Stage::Failed => {
                CancelAction::Failed(self.error.clone().unwrap_or(CancelError::TimedOut))
            }
        }
    }

    /// The connection is open.
    pub fn opened(&mut self) {
        if self.stage != Stage::Open {
            return;
        }
        match self.tls {
            None => self.send_request(),
            Some(CancelTlsMode::Direct) => self.stage = Stage::Handshake,
            Some(CancelTlsMode::SslRequest) => {
                frontend::ssl_request(&mut self.send);
                self.stage = Stage::AwaitAnswer;
            }
        }
    }

    /// The TLS handshake finished.
    pub fn tls_established(&mut self) {
        if self.stage == Stage::Handshake {
            self.send_request();
        }
    }

    /// Bytes to write.
    pub fn pending_send(&self) -> &[u8] {
        self.send.get(self.sent..).unwrap_or_default()
    }

    /// `n` bytes of [`CancelExchange::pending_send`] were written.
    pub fn advance_send(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.send.len());
        if self.sent == self.send.len() {
            self.send.clear();
            self.sent = 0;
        }
    }

    /// Space to read into: one byte while the SSLRequest's answer is awaited (so
    /// nothing after it is read as plaintext), else scratch space.
    pub fn recv_buf(&mut self) -> &mut [u8] {
        match self.stage {
            Stage::AwaitAnswer => self.recv.get_mut(..1).unwrap_or_default(),
            _ => &mut self.recv,
        }
    }

    /// `n` bytes were read into [`CancelExchange::recv_buf`]. The server sends
    /// nothing after the request; what it does send is ignored.
    pub fn recv_commit(&mut self, n: usize) {
        if self.stage == Stage::AwaitAnswer {
            self.answer
                .extend_from_slice(self.recv.get(..n.min(self.recv.len())).unwrap_or_default());
        }
    }

    /// The server closed the connection (an abrupt close counts).
    pub fn recv_eof(&mut self) {
        self.eof = true;
        if self.stage == Stage::AwaitAnswer && self.answer.is_empty() {
            self.fail(CancelError::Protocol(Error::Closed(
                crate::ClosedReason::DuringStartup,
            )));
        }
    }

    /// The deadline the adapter must wake up for.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match self.stage {
            Stage::Done | Stage::Failed => None,
            _ => Some(self.deadline),
        }
    }

    /// The time is `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.poll_timeout().is_some_and(|d| now >= d) {
            self.fail(CancelError::TimedOut);
        }
    }

    fn send_request(&mut self) {
        self.send.extend_from_slice(self.request.as_bytes());
        self.stage = Stage::AwaitClose;
    }

    fn fail(&mut self, e: CancelError) {
        self.error = Some(e);
        self.stage = Stage::Failed;
    }

    /// The one-byte answer to the SSLRequest, parsed as at startup.
    fn check_answer(&mut self) -> CancelAction {
        match self.answer.as_slice() {
            [] => CancelAction::Io,
            [b'S'] => {
                self.stage = Stage::Handshake;
                self.poll_action()
            }
            [b'S', ..] => {
                self.fail(CancelError::Protocol(
                    ProtocolError::UnencryptedBytesAfterTlsAnswer.into(),
                ));
                self.poll_action()
            }
            [b'N', ..] => {
                self.fail(CancelError::Protocol(Error::TlsRefused));
                self.poll_action()
            }
            [other, ..] => {
                let e = ProtocolError::BadEncryptionAnswer(*other).into();
                self.fail(CancelError::Protocol(e));
                self.poll_action()
            }
        }
    }
}
