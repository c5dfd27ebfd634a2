//! Errors from parsing and checking a connection configuration.

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;

use super::{ProtocolVersion, SslMode};

/// What was wrong with a connection string, an environment variable or a
/// combination of settings.
///
/// Messages follow libpq's wording where libpq has one. They never contain
/// a password: values of `password` and `sslpassword` are never validated,
/// and errors inside URIs or after an unquoted password name a position or
/// a component instead of quoting the text.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key that is not a supported connection option.
    UnknownOption {
        /// The key as written (percent-decoded in a URI).
        key: String,
    },
    /// A `key=value` string has a word not followed by `=`.
    MissingEquals {
        /// The word.
        key: String,
        /// Its byte offset in the string.
        position: usize,
    },
    /// A quoted value has no closing `'`.
    UnterminatedQuote {
        /// Byte offset of the opening quote.
        position: usize,
    },
    /// Text that is not a valid `key=value` pair follows an unquoted
    /// password. It is probably the rest of a password that contains a
    /// space, so it is not shown.
    TextAfterPassword {
        /// `password` or `sslpassword`.
        key: &'static str,
        /// Byte offset of the text.
        position: usize,
    },
    /// A value that the option does not accept.
    InvalidValue {
        /// The option.
        key: &'static str,
        /// The value (or, for lists, the offending entry).
        value: String,
        /// What the option accepts.
        expected: &'static str,
    },
    /// A port that is not a number from 1 to 65535.
    InvalidPort {
        /// The offending entry of the port list.
        value: String,
    },
    /// A `%` not followed by two hex digits, `%00`, or bytes that are not
    /// UTF-8 once decoded.
    InvalidPercentEncoding {
        /// The part of the URI, e.g. `user name` or `query parameter "host"`.
        component: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// A URI that cannot be split into its parts.
    InvalidUri {
        /// Byte offset of the problem in the whole string.
        position: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The port list has more than one entry but not one per host.
    HostPortCountMismatch {
        /// Number of hosts (from `host`, else `hostaddr`, else 1).
        hosts: usize,
        /// Number of ports.
        ports: usize,
    },
    /// `host` and `hostaddr` are both set with different lengths.
    HostAddrCountMismatch {
        /// Number of host names.
        hosts: usize,
        /// Number of addresses.
        hostaddrs: usize,
    },
    /// `require_auth` mixes negated and plain methods.
    RequireAuthMixed {
        /// The first method whose sign differs, as written (with any `!`).
        method: String,
    },
    /// `require_auth` lists a method twice.
    RequireAuthDuplicate {
        /// The repeated method, as written.
        method: String,
    },
    /// An `sslmode` too weak for another setting.
    WeakSslMode {
        /// The effective sslmode.
        sslmode: SslMode,
        /// The setting that needs more, e.g. `sslrootcert=system`.
        conflict: &'static str,
        /// The sslmodes allowed with it.
        allowed: &'static str,
    },
    /// `min_protocol_version` is above `max_protocol_version`.
    ProtocolVersionRange {
        /// The effective minimum.
        min: ProtocolVersion,
        /// The effective maximum.
        max: ProtocolVersion,
    },
    /// An environment variable has a value its option does not accept.
    InvalidEnv {
        /// The variable, e.g. `PGPORT`.
        var: &'static str,
        /// What was wrong with its value.
        error: Box<ConfigError>,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownOption { key } => {
                write!(f, "invalid connection option \"{key}\"")
            }
            ConfigError::MissingEquals { key, position } => write!(
                f,
                "missing \"=\" after \"{key}\" in connection info string (at byte {position})"
            ),
            ConfigError::UnterminatedQuote { position } => write!(
                f,
                "unterminated quoted string in connection info string (quote at byte {position})"
            ),
            ConfigError::TextAfterPassword { key, position } => write!(
                f,
                "unexpected text at byte {position} after the unquoted {key} value \
                 (not shown; quote values that contain spaces)"
            ),
            ConfigError::InvalidValue {
                key,
                value,
                expected,
            } => write!(f, "invalid {key} value: \"{value}\" (expected {expected})"),
            ConfigError::InvalidPort { value } => {
                write!(f, "invalid port number: \"{value}\" (expected 1 to 65535)")
            }
            ConfigError::InvalidPercentEncoding { component, reason } => {
                write!(f, "invalid percent-encoding in URI {component}: {reason}")
            }
            ConfigError::InvalidUri { position, reason } => {
                write!(f, "invalid connection URI at byte {position}: {reason}")
            }
            ConfigError::HostPortCountMismatch { hosts, ports } => {
                write!(f, "could not match {ports} port numbers to {hosts} hosts")
            }
            ConfigError::HostAddrCountMismatch { hosts, hostaddrs } => write!(
                f,
                "could not match {hosts} host names to {hostaddrs} hostaddr values"
            ),
            ConfigError::RequireAuthMixed { method } => {
                if method.starts_with('!') {
                    write!(
                        f,
                        "negative require_auth method \"{method}\" cannot be mixed \
                         with non-negative methods"
                    )
                } else {
                    write!(
                        f,
                        "require_auth method \"{method}\" cannot be mixed with negative methods"
                    )
                }
            }
            ConfigError::RequireAuthDuplicate { method } => write!(
                f,
                "require_auth method \"{method}\" is specified more than once"
            ),
            ConfigError::WeakSslMode {
                sslmode,
                conflict,
                allowed,
            } => write!(
                f,
                "weak sslmode \"{sslmode}\" may not be used with {conflict} (use {allowed})"
            ),
            ConfigError::ProtocolVersionRange { min, max } => write!(
                f,
                "min_protocol_version {min} is greater than max_protocol_version {max}"
            ),
            ConfigError::InvalidEnv { var, error } => {
                write!(f, "invalid environment variable {var}: {error}")
            }
        }
    }
}

// The inner error of `InvalidEnv` is part of its message, so `source` stays
// `None` to avoid printing it twice in error chains.
impl core::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn env_error_names_variable_and_cause() {
        let e = ConfigError::InvalidEnv {
            var: "PGPORT",
            error: Box::new(ConfigError::InvalidPort {
                value: "abc".into(),
            }),
        };
        assert_eq!(
            format!("{e}"),
            "invalid environment variable PGPORT: invalid port number: \"abc\" (expected 1 to 65535)"
        );
    }

    #[test]
    fn is_std_error() {
        fn takes(_: &dyn core::error::Error) {}
        takes(&ConfigError::UnterminatedQuote { position: 3 });
    }
}
