//! Password authentication: the cryptographic side of PostgreSQL's
//! `AuthenticationMD5Password` and `AuthenticationSASL` requests.
//!
//! Everything here is sans-IO: functions take the bytes of a server message
//! and return the bytes to send; framing them into protocol messages
//! (`PasswordMessage`, `SASLInitialResponse`, `SASLResponse`) is the caller's
//! job, and so is drawing random bytes for the nonce.
//!
//! * [`md5_password`]: the legacy MD5 response.
//! * [`ScramClient`]: SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802,
//!   RFC 7677), including `tls-server-end-point` channel binding, verification
//!   of the server signature, a bound on the server-chosen iteration count
//!   ([`DEFAULT_MAX_ITERATIONS`]) and a cache of the PBKDF2 result
//!   ([`SaltedPassword`]).
//!
//! # Passwords
//!
//! Passwords are byte strings and need not be UTF-8. With the `saslprep`
//! feature (on by default), a password that is valid UTF-8 and accepted by
//! SASLprep (RFC 4013) is normalized by it; otherwise its raw bytes are used.
//! This is exactly what PostgreSQL's own client and server do, so passwords
//! set with any client encoding keep working. Without the feature the raw
//! bytes are always used.
//!
//! Passwords and derived keys never appear in errors or `Debug` output.
//!
//! # PostgreSQL specifics
//!
//! PostgreSQL ignores the SCRAM user name and takes the role from the startup
//! message, so [`ScramClient::new`] sends an empty `n=`, like libpq.
//! [`ScramClient::with_user`] exists for other servers and for the RFC test
//! vectors.

mod channel_binding;
mod error;
mod key_cache;
mod md5;
mod scram;

pub use self::channel_binding::{tls_server_end_point, EndPointError};
pub use self::error::ScramError;
pub use self::key_cache::{ScramKeyCache, DEFAULT_SCRAM_KEY_CACHE_CAPACITY};
pub use self::md5::md5_password;
pub use self::scram::{
    nonce_from_random, SaltedPassword, ScramBinding, ScramClient, DEFAULT_MAX_ITERATIONS,
    SCRAM_SHA_256, SCRAM_SHA_256_PLUS,
};
