//! Why a value could not be encoded or decoded.

use core::fmt;

use crate::codec::Format;

/// A value that does not fit, or bytes that are not a valid value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueError {
    /// The column's type cannot be read as the requested Rust type.
    WrongType {
        /// The Rust type asked for.
        rust: &'static str,
        /// The column's type OID.
        type_oid: u32,
    },
    /// The bytes are not a valid value of the type in this format.
    Malformed {
        /// The SQL type being decoded.
        sql: &'static str,
        /// The format.
        format: Format,
    },
    /// A NULL column read into a non-`Option` type.
    UnexpectedNull {
        /// The column's type OID.
        type_oid: u32,
    },
    /// The value cannot be sent in this format.
    UnsupportedFormat {
        /// The SQL type.
        sql: &'static str,
        /// The format.
        format: Format,
    },
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::WrongType { rust, type_oid } => {
                write!(f, "cannot read a column of type OID {type_oid} as {rust}")
            }
            ValueError::Malformed { sql, format } => {
                write!(f, "malformed {sql} value in {format:?} format")
            }
            ValueError::UnexpectedNull { type_oid } => write!(
                f,
                "NULL in a column of type OID {type_oid} read into a non-Option type"
            ),
            ValueError::UnsupportedFormat { sql, format } => {
                write!(f, "{sql} values cannot be sent in {format:?} format")
            }
        }
    }
}

impl core::error::Error for ValueError {}
