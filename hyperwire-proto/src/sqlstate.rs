//! [`SqlState`]: the five-character SQLSTATE of a server error, with names for
//! the codes this client acts on (and the common ones applications match).

use core::fmt;

/// A SQLSTATE code. Compare with the named constants, never with a message.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SqlState([u8; 5]);

macro_rules! states {
    ($($(#[$doc:meta])* $name:ident = $code:literal;)*) => {
        impl SqlState {
            $($(#[$doc])* pub const $name: SqlState = SqlState::from_bytes($code);)*
        }
    };
}

states! {
    /// `00000`.
    SUCCESSFUL_COMPLETION = b"00000";
    /// `08000`: Hyper reports a refused plaintext connection with it.
    CONNECTION_EXCEPTION = b"08000";
    /// `08006`.
    CONNECTION_FAILURE = b"08006";
    /// `08P01`.
    PROTOCOL_VIOLATION = b"08P01";
    /// `0A000`; also the plan cache's "cached plan must not change result type".
    FEATURE_NOT_SUPPORTED = b"0A000";
    /// `22012`.
    DIVISION_BY_ZERO = b"22012";
    /// `22P02`.
    INVALID_TEXT_REPRESENTATION = b"22P02";
    /// `22P04`.
    BAD_COPY_FILE_FORMAT = b"22P04";
    /// `23502`.
    NOT_NULL_VIOLATION = b"23502";
    /// `23505`.
    UNIQUE_VIOLATION = b"23505";
    /// `25006`: a write in a read-only transaction (or on a standby).
    READ_ONLY_SQL_TRANSACTION = b"25006";
    /// `25P02`.
    IN_FAILED_SQL_TRANSACTION = b"25P02";
    /// `26000`: the prepared statement does not exist (PgBouncer, `DISCARD`).
    INVALID_SQL_STATEMENT_NAME = b"26000";
    /// `28000`.
    INVALID_AUTHORIZATION_SPECIFICATION = b"28000";
    /// `28P01`.
    INVALID_PASSWORD = b"28P01";
    /// `40001`.
    SERIALIZATION_FAILURE = b"40001";
    /// `40P01`.
    DEADLOCK_DETECTED = b"40P01";
    /// `42501`: also Hyper's refused login.
    INSUFFICIENT_PRIVILEGE = b"42501";
    /// `42601`.
    SYNTAX_ERROR = b"42601";
    /// `42703`.
    UNDEFINED_COLUMN = b"42703";
    /// `42883`.
    UNDEFINED_FUNCTION = b"42883";
    /// `42P01`.
    UNDEFINED_TABLE = b"42P01";
    /// `42P05`.
    DUPLICATE_PREPARED_STATEMENT = b"42P05";
    /// `57014`: the query was canceled (a cancel request, a statement timeout,
    /// or the server's answer to CopyFail).
    QUERY_CANCELED = b"57014";
    /// `57P01`.
    ADMIN_SHUTDOWN = b"57P01";
}

impl SqlState {
    const fn from_bytes(code: &[u8; 5]) -> SqlState {
        SqlState(*code)
    }

    /// The code, if `code` is five ASCII digits or upper-case letters.
    pub fn from_code(code: &str) -> Option<SqlState> {
        let bytes: [u8; 5] = code.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            .then_some(SqlState(bytes))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or("?????")
    }

    /// The class: the first two characters (`"42"` for syntax errors and the like).
    pub fn class(&self) -> &str {
        self.as_str().get(..2).unwrap_or("")
    }
}

impl fmt::Display for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SqlState({})", self.as_str())
    }
}

impl PartialEq<&str> for SqlState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::SqlState;

    #[test]
    fn codes_parse_strictly() {
        assert_eq!(SqlState::from_code("57014"), Some(SqlState::QUERY_CANCELED));
        assert_eq!(SqlState::QUERY_CANCELED.as_str(), "57014");
        assert_eq!(SqlState::UNDEFINED_TABLE.class(), "42");
        assert_eq!(SqlState::from_code("5701"), None);
        assert_eq!(SqlState::from_code("5701x"), None);
        assert_eq!(SqlState::from_code("570145"), None);
    }
}
