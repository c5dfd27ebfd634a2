//! Errors of the SCRAM client exchange.

use alloc::string::String;
use core::fmt;

/// Why a SCRAM-SHA-256 exchange failed.
///
/// Every variant describes one specific fault so that it can be reported to a
/// user or logged as is. No variant ever carries the password, the salted
/// password or any key derived from them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScramError {
    /// The server-first-message is malformed: the named attribute (`"r"`,
    /// `"s"`, `"i"`, or `"extension"` for a trailing attribute) is missing, out
    /// of order, or not of the form `<letter>=<value>`.
    MalformedServerFirst {
        /// The attribute that was expected or found malformed.
        attribute: &'static str,
    },
    /// The server-first-message carries the reserved mandatory extension
    /// `m=`, which this client does not understand (RFC 5802 §5.1 requires
    /// the exchange to fail).
    MandatoryExtension,
    /// The server nonce contains a byte outside printable ASCII
    /// (`0x21..=0x7e` except `,`).
    InvalidNonce,
    /// The server nonce does not start with the nonce this client sent.
    NonceMismatch,
    /// The server nonce is exactly the client nonce: the server added no
    /// nonce of its own.
    NonceNotExtended,
    /// The client nonce given to [`ScramClient::new`](super::ScramClient::new)
    /// is empty or contains a byte outside printable ASCII (`0x21..=0x7e`
    /// except `,`); this is a bug in the caller, not in the server.
    InvalidClientNonce,
    /// The salt (`s=`) is not valid (padded, standard alphabet) base64.
    InvalidSalt,
    /// The salt (`s=`) decodes to zero bytes.
    EmptySalt,
    /// The iteration count (`i=`) is zero.
    IterationCountZero,
    /// The iteration count (`i=`) is empty or contains something other than
    /// ASCII digits.
    IterationCountNotANumber,
    /// The iteration count (`i=`) exceeds the configured maximum
    /// (see [`ScramClient::set_max_iterations`](super::ScramClient::set_max_iterations)),
    /// so the client refuses to spend that much CPU on key derivation.
    IterationCountTooLarge {
        /// The maximum in force.
        max: u32,
    },
    /// The server-final-message reports an error (`e=`).
    ServerError {
        /// The server's error text (e.g. `invalid-proof`), decoded lossily as
        /// UTF-8.
        message: String,
    },
    /// The server signature (`v=`) does not match the one computed from the
    /// password: the server does not know the password (or the messages
    /// were tampered with).
    ServerSignatureMismatch,
    /// The server-final-message is neither `v=<base64>` nor `e=<text>`.
    MalformedServerFinal,
    /// A server message arrived in a state where it is not expected, e.g. a
    /// second server-first-message, or a server-final-message before the
    /// server-first-message.
    UnexpectedMessage {
        /// The message that was received.
        received: &'static str,
        /// The state the exchange was in.
        state: &'static str,
    },
}

impl fmt::Display for ScramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScramError::MalformedServerFirst { attribute } => write!(
                f,
                "malformed SCRAM server-first-message: missing or invalid attribute `{attribute}`"
            ),
            ScramError::MandatoryExtension => f.write_str(
                "SCRAM server-first-message requires an unsupported mandatory extension (`m=`)",
            ),
            ScramError::InvalidNonce => f.write_str(
                "SCRAM server nonce contains characters other than printable ASCII without ','",
            ),
            ScramError::NonceMismatch => {
                f.write_str("SCRAM server nonce does not start with the client nonce")
            }
            ScramError::NonceNotExtended => {
                f.write_str("SCRAM server nonce does not extend the client nonce")
            }
            ScramError::InvalidClientNonce => f.write_str(
                "SCRAM client nonce is empty or contains characters other than printable ASCII without ','",
            ),
            ScramError::InvalidSalt => f.write_str("SCRAM salt is not valid base64"),
            ScramError::EmptySalt => f.write_str("SCRAM salt is empty"),
            ScramError::IterationCountZero => f.write_str("SCRAM iteration count is zero"),
            ScramError::IterationCountNotANumber => {
                f.write_str("SCRAM iteration count is not a decimal number")
            }
            ScramError::IterationCountTooLarge { max } => write!(
                f,
                "SCRAM iteration count exceeds the configured maximum of {max}"
            ),
            ScramError::ServerError { message } => {
                // Escape control characters: the text comes from the server.
                write!(f, "SCRAM authentication failed on the server: {}", message.escape_debug())
            }
            ScramError::ServerSignatureMismatch => {
                f.write_str("SCRAM server signature does not match: the server could not prove it knows the password")
            }
            ScramError::MalformedServerFinal => f.write_str(
                "malformed SCRAM server-final-message: expected `v=<base64>` or `e=<error>`",
            ),
            ScramError::UnexpectedMessage { received, state } => {
                write!(f, "unexpected SCRAM {received} while {state}")
            }
        }
    }
}

impl core::error::Error for ScramError {}
