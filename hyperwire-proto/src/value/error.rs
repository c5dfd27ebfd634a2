//! Why a value could not be encoded or decoded.

use core::fmt;

use crate::codec::Format;
use crate::value::oid;

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
    /// The type has no form in this format (arrays in HyperBinary, numeric
    /// parameters in HyperBinary).
    UnsupportedFormat {
        /// The SQL type.
        sql: &'static str,
        /// The format.
        format: Format,
    },
    /// A valid value that the Rust type (or the target format) cannot hold: a
    /// numeric with more than 38 digits, a date past HyperBinary's range...
    OutOfRange {
        /// The SQL type.
        sql: &'static str,
        /// The format.
        format: Format,
    },
    /// The value cannot be read without the column's type modifier (HyperBinary
    /// numeric keeps its scale there), and the column has none.
    MissingTypeModifier {
        /// The SQL type.
        sql: &'static str,
    },
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::WrongType { rust, type_oid } => write!(
                f,
                "cannot read a column of type {} as {rust}",
                TypeName(*type_oid)
            ),
            ValueError::Malformed { sql, format } => {
                write!(f, "malformed {sql} value in {format:?} format")
            }
            ValueError::UnexpectedNull { type_oid } => write!(
                f,
                "NULL in a column of type {} read into a non-Option type",
                TypeName(*type_oid)
            ),
            ValueError::UnsupportedFormat { sql, format } => {
                write!(f, "{sql} values have no {format:?} form here")
            }
            ValueError::OutOfRange { sql, format } => {
                write!(f, "{sql} value out of range in {format:?} format")
            }
            ValueError::MissingTypeModifier { sql } => {
                write!(f, "{sql} column without a type modifier (scale)")
            }
        }
    }
}

impl core::error::Error for ValueError {}

/// A type's SQL name when known, else its OID.
struct TypeName(u32);

impl fmt::Display for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match oid::name(self.0) {
            Some(name) => write!(f, "{name} (OID {})", self.0),
            None => write!(f, "OID {}", self.0),
        }
    }
}
