//! Typed errors. Every failure names what was wrong; none of them carries a secret.

use alloc::string::String;
use core::fmt;

use crate::auth::ScramError;
use crate::config::ConfigError;
use crate::server_error::ServerError;

/// Everything that can go wrong in the protocol core.
///
/// Once the machine has reported a fatal error it keeps returning a clone of that same
/// error from every request method (the connection is poisoned, never silently reused).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// An outgoing message would break the protocol's limits (nothing was queued).
    Encode(EncodeError),
    /// The server sent bytes that break the protocol.
    Protocol(ProtocolError),
    /// The server reported an error that ends the connection (during startup, or FATAL).
    Server(ServerError),
    /// Authentication could not proceed, or a security policy refused it.
    Auth(AuthError),
    /// A SCRAM exchange failed (malformed server message, wrong server signature...).
    Scram(ScramError),
    /// The connection settings are invalid.
    Config(ConfigError),
    /// Responses no longer match requests; the connection must be closed.
    Desynchronized(DesyncReason),
    /// The caller used the API in a state where that call makes no sense.
    Usage(UsageError),
    /// The peer closed the connection.
    Closed(ClosedReason),
    /// This client was asked to terminate the connection.
    Terminated,
    /// The server does not support TLS, and the settings require it.
    TlsRefused,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Encode(e) => write!(f, "cannot encode message: {e}"),
            Error::Protocol(e) => write!(f, "protocol violation by the server: {e}"),
            Error::Server(e) => write!(f, "server error: {e}"),
            Error::Auth(e) => write!(f, "authentication failed: {e}"),
            Error::Scram(e) => write!(f, "SCRAM authentication failed: {e}"),
            Error::Config(e) => write!(f, "invalid connection settings: {e}"),
            Error::Desynchronized(r) => write!(f, "connection desynchronized: {r}"),
            Error::Usage(e) => write!(f, "{e}"),
            Error::Closed(r) => write!(f, "connection closed: {r}"),
            Error::Terminated => f.write_str("connection terminated by the client"),
            Error::TlsRefused => f.write_str(
                "the server does not support TLS, but sslmode requires it (no downgrade to plaintext)",
            ),
        }
    }
}

impl core::error::Error for Error {}

impl Error {
    /// The SQLSTATE of a server error, if this is one.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Error::Server(e) => Some(e.code()),
            _ => None,
        }
    }
}

impl From<EncodeError> for Error {
    fn from(e: EncodeError) -> Self {
        Error::Encode(e)
    }
}
impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}
impl From<AuthError> for Error {
    fn from(e: AuthError) -> Self {
        Error::Auth(e)
    }
}
impl From<ScramError> for Error {
    fn from(e: ScramError) -> Self {
        Error::Scram(e)
    }
}
impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}
impl From<UsageError> for Error {
    fn from(e: UsageError) -> Self {
        Error::Usage(e)
    }
}

/// An outgoing message that cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The message would be longer than the protocol's 32-bit length allows.
    MessageTooLong {
        /// The message being encoded.
        message: &'static str,
    },
    /// More items than the protocol's 16-bit count allows (at most 65535).
    TooMany {
        /// The message being encoded.
        message: &'static str,
        /// What was counted (parameters, formats, result columns).
        what: &'static str,
        /// How many were given.
        count: usize,
    },
    /// A string that the protocol terminates with NUL contains a NUL byte, which
    /// would silently cut it short.
    NulInString {
        /// The message being encoded.
        message: &'static str,
        /// The field holding the NUL.
        field: &'static str,
    },
    /// A cancel key outside the protocol's 4 to 256 bytes.
    InvalidCancelKeyLength(usize),
    /// A number that does not fit its field (e.g. Execute's `max_rows` above 2^31-1).
    ValueOutOfRange {
        /// The message being encoded.
        message: &'static str,
        /// The field.
        field: &'static str,
    },
    /// An empty StartupMessage parameter name (it would end the parameter list).
    EmptyParameterName,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::MessageTooLong { message } => {
                write!(f, "{message} message longer than 2^31-1 bytes")
            }
            EncodeError::TooMany {
                message,
                what,
                count,
            } => write!(
                f,
                "{message} message has {count} {what}; at most 65535 allowed"
            ),
            EncodeError::NulInString { message, field } => {
                write!(f, "{message} {field} contains a NUL byte")
            }
            EncodeError::InvalidCancelKeyLength(n) => {
                write!(f, "cancel key of {n} bytes; 4 to 256 allowed")
            }
            EncodeError::ValueOutOfRange { message, field } => {
                write!(f, "{message} {field} is out of range")
            }
            EncodeError::EmptyParameterName => {
                f.write_str("StartupMessage parameter with an empty name")
            }
        }
    }
}

impl core::error::Error for EncodeError {}

/// A violation of the wire protocol by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A message header declared a length under 4 (the length counts itself).
    LengthTooShort {
        /// The message type byte.
        tag: u8,
        /// The declared length.
        len: i32,
    },
    /// A message is larger than the configured maximum; it was not buffered.
    MessageTooLarge {
        /// The message type byte.
        tag: u8,
        /// The declared length.
        len: u32,
        /// The configured maximum.
        max: u32,
    },
    /// A message's body does not match its type's layout.
    Malformed {
        /// The message type.
        message: &'static str,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A message type byte that no PostgreSQL or Hyper server sends.
    UnknownMessage(u8),
    /// A known message that makes no sense in the current state.
    Unexpected {
        /// The message type.
        message: &'static str,
        /// What the machine was doing.
        state: &'static str,
    },
    /// The answer to SSLRequest or GSSENCRequest was neither 'S'/'G' nor 'N'.
    BadEncryptionAnswer(u8),
    /// Bytes arrived right after the server accepted TLS, before the handshake
    /// (CVE-2021-23222: they could have been injected by a man in the middle).
    UnencryptedBytesAfterTlsAnswer,
    /// The server asked for protocol features we cannot accept.
    Negotiation(&'static str),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::LengthTooShort { tag, len } => write!(
                f,
                "message {} declares length {len}; a length is at least 4",
                TagName(*tag)
            ),
            ProtocolError::MessageTooLarge { tag, len, max } => write!(
                f,
                "message {} declares a length of {len} bytes, over the maximum message size of {max} bytes",
                TagName(*tag)
            ),
            ProtocolError::Malformed { message, reason } => {
                write!(f, "malformed {message} message: {reason}")
            }
            ProtocolError::UnknownMessage(tag) => {
                write!(f, "unknown message type {}", TagName(*tag))
            }
            ProtocolError::Unexpected { message, state } => {
                write!(f, "unexpected {message} message while {state}")
            }
            ProtocolError::BadEncryptionAnswer(b) => write!(
                f,
                "invalid answer {} to an encryption request (expected 'S' or 'N')",
                TagName(*b)
            ),
            ProtocolError::UnencryptedBytesAfterTlsAnswer => f.write_str(
                "received unencrypted data after the server accepted TLS (possible man-in-the-middle, CVE-2021-23222)",
            ),
            ProtocolError::Negotiation(s) => write!(f, "protocol negotiation failed: {s}"),
        }
    }
}

impl core::error::Error for ProtocolError {}

/// Shows a message type byte as a character when printable, else in hex.
pub(crate) struct TagName(pub(crate) u8);

impl fmt::Display for TagName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() {
            write!(f, "'{}'", self.0 as char)
        } else {
            write!(f, "0x{:02x}", self.0)
        }
    }
}

/// Why authentication could not proceed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// The server asked for a method that `require_auth` forbids; nothing secret was sent.
    MethodRefused {
        /// The method the server asked for.
        method: &'static str,
        /// The `require_auth` setting as written.
        require_auth: String,
    },
    /// The server accepted us without the authentication `require_auth` demands.
    NoAuthentication {
        /// The `require_auth` setting as written.
        require_auth: String,
    },
    /// `channel_binding=require`, but the exchange would not bind to the TLS channel.
    ChannelBindingRequired(&'static str),
    /// The server offered channel binding that we did not ask for or cannot do.
    ChannelBindingInvalid(&'static str),
    /// The server asked for a password and none was configured.
    PasswordMissing,
    /// A method this client does not implement (GSSAPI, SSPI, Kerberos, SCM).
    Unsupported(&'static str),
    /// No SASL mechanism offered by the server is one we support.
    NoSupportedMechanism(String),
    /// AuthenticationOk arrived before the SCRAM exchange finished: the server never
    /// proved it knows the password.
    PrematureOk,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::MethodRefused { method, require_auth } => write!(
                f,
                "server requested {method} authentication, but require_auth={require_auth} forbids it"
            ),
            AuthError::NoAuthentication { require_auth } => write!(
                f,
                "server did not complete authentication, but require_auth={require_auth} demands it"
            ),
            AuthError::ChannelBindingRequired(why) => {
                write!(f, "channel binding required, but {why}")
            }
            AuthError::ChannelBindingInvalid(why) => write!(f, "invalid channel binding: {why}"),
            AuthError::PasswordMissing => {
                f.write_str("the server requested a password, but none was supplied")
            }
            AuthError::Unsupported(m) => write!(f, "{m} authentication is not supported"),
            AuthError::NoSupportedMechanism(list) => write!(
                f,
                "none of the server's SASL mechanisms ({list}) is supported"
            ),
            AuthError::PrematureOk => f.write_str(
                "server sent AuthenticationOk before completing SCRAM (server not authenticated)",
            ),
        }
    }
}

impl core::error::Error for AuthError {}

/// Why the machine stopped trusting the response stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DesyncReason {
    /// A message arrived that no pending request can explain.
    UnexpectedMessage {
        /// The message type.
        message: &'static str,
        /// What the machine was waiting for.
        expected: &'static str,
    },
    /// An abandoned request produced more messages than the drain budget allows.
    DrainBudgetExhausted {
        /// The budget, in messages.
        budget: u64,
    },
    /// COPY FROM STDIN started while later requests were already sent; the server
    /// would read them as COPY data.
    CopyInPipelined,
}

impl fmt::Display for DesyncReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DesyncReason::UnexpectedMessage { message, expected } => write!(
                f,
                "received {message} while expecting {expected}; responses no longer match requests"
            ),
            DesyncReason::DrainBudgetExhausted { budget } => write!(
                f,
                "an abandoned request sent more than the drain budget of {budget} messages"
            ),
            DesyncReason::CopyInPipelined => {
                f.write_str("COPY FROM STDIN started while later requests were already in flight")
            }
        }
    }
}

/// How the connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClosedReason {
    /// The server closed the connection during startup.
    DuringStartup,
    /// The server closed the connection with requests still pending.
    WithPendingRequests,
    /// The server closed the connection in the middle of a message.
    MidMessage,
    /// The server closed an idle connection.
    Idle,
}

impl fmt::Display for ClosedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClosedReason::DuringStartup => "the server closed the connection during startup",
            ClosedReason::WithPendingRequests => {
                "the server closed the connection with requests pending"
            }
            ClosedReason::MidMessage => {
                "the server closed the connection in the middle of a message"
            }
            ClosedReason::Idle => "the server closed the connection",
        })
    }
}

/// A call that the current state does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsageError {
    /// A request before the startup finished.
    NotReady,
    /// `copy_data`, `copy_done` or `copy_fail` outside COPY FROM STDIN.
    NotInCopyIn,
    /// A request while a COPY FROM STDIN is in progress.
    CopyInProgress,
    /// `cancel_request` before the server sent BackendKeyData.
    NoBackendKey,
    /// `tls_established` without a TLS handshake pending.
    NoTlsHandshakePending,
    /// A request builder with no message in it.
    EmptyRequest,
    /// The request id is not pending.
    UnknownRequest,
    /// Parameters with the simple-protocol statement policy.
    ParametersWithSimpleProtocol,
    /// HyperBinary (format 2) results asked of a server that is not Hyper.
    HyperBinaryNeedsHyper,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UsageError::NotReady => "the connection has not finished its startup",
            UsageError::NotInCopyIn => "not in COPY FROM STDIN",
            UsageError::CopyInProgress => {
                "a COPY FROM STDIN is in progress: finish it with copy_done or copy_fail first"
            }
            UsageError::NoBackendKey => "the server sent no cancel key (BackendKeyData)",
            UsageError::NoTlsHandshakePending => "no TLS handshake is pending",
            UsageError::EmptyRequest => "a request must contain at least one message",
            UsageError::UnknownRequest => "no such pending request",
            UsageError::ParametersWithSimpleProtocol => {
                "the simple-protocol statement policy cannot send parameters"
            }
            UsageError::HyperBinaryNeedsHyper => {
                "HyperBinary (format 2) results need a Hyper server"
            }
        })
    }
}

impl core::error::Error for UsageError {}
