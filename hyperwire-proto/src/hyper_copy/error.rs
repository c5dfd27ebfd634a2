//! Why a HYPERBINARY COPY stream could not be written or read.

use core::fmt;

use crate::value::ValueError;

/// A HYPERBINARY COPY stream that cannot be written or read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CopyError {
    /// The stream does not start with `HPRCPY` and five NULs.
    BadSignature,
    /// Header flags Hyper would refuse (bit 16: OIDs; bits 17 to 31: unknown
    /// critical flags).
    UnsupportedFlags(u32),
    /// The stream ended inside the header or a row.
    Truncated,
    /// A nullable column's indicator byte is neither 0 nor 1.
    BadNullIndicator {
        /// The column index.
        column: usize,
        /// The byte.
        byte: u8,
    },
    /// A value longer than the decoder's limit.
    ValueTooLong {
        /// The column index.
        column: usize,
        /// The length the stream claims.
        len: u64,
    },
    /// NULL for a column the schema says is NOT NULL.
    NullInNotNull {
        /// The column index.
        column: usize,
    },
    /// A column type this codec has no HyperBinary layout for.
    UnsupportedType {
        /// The column index.
        column: usize,
        /// Its type OID.
        type_oid: u32,
    },
    /// A row with another number of values than the schema has columns, or a
    /// stream finished in the middle of a row.
    ColumnCount {
        /// The schema's column count.
        expected: usize,
        /// The values given.
        got: usize,
    },
    /// A value of another type than its column (integers widen; nothing else
    /// converts).
    TypeMismatch {
        /// The column index.
        column: usize,
        /// The column's type OID.
        column_type: u32,
        /// The value's type OID.
        value_type: u32,
    },
    /// A value that could not be encoded for, or decoded from, its column.
    Value {
        /// The column index.
        column: usize,
        /// What was wrong.
        error: ValueError,
    },
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyError::BadSignature => f.write_str("not a HYPERBINARY COPY stream (bad signature)"),
            CopyError::UnsupportedFlags(flags) => {
                write!(f, "unsupported HYPERBINARY header flags {flags:#010x}")
            }
            CopyError::Truncated => f.write_str("HYPERBINARY COPY stream truncated"),
            CopyError::BadNullIndicator { column, byte } => {
                write!(f, "column {column}: bad NULL indicator {byte:#04x}")
            }
            CopyError::ValueTooLong { column, len } => {
                write!(f, "column {column}: value of {len} bytes is over the limit")
            }
            CopyError::NullInNotNull { column } => {
                write!(f, "column {column}: NULL in a NOT NULL column")
            }
            CopyError::UnsupportedType { column, type_oid } => write!(
                f,
                "column {column}: type OID {type_oid} has no HYPERBINARY COPY layout here"
            ),
            CopyError::ColumnCount { expected, got } => {
                write!(f, "a row of {got} values for {expected} columns")
            }
            CopyError::TypeMismatch {
                column,
                column_type,
                value_type,
            } => write!(
                f,
                "column {column}: a value of type OID {value_type} for a column of type OID {column_type}"
            ),
            CopyError::Value { column, error } => write!(f, "column {column}: {error}"),
        }
    }
}

impl core::error::Error for CopyError {}
