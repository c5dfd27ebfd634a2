//! Values: encoding parameters and decoding columns in text (format 0), PostgreSQL
//! binary (format 1, big-endian) and HyperBinary (format 2, little-endian).
//!
//! The format of a column is always the one the request asked for (the machine
//! tracks it), never guessed from the bytes. A value that does not parse is a
//! [`ValueError`] naming the type and the format.

mod error;
mod params;
mod scalar;

pub use error::ValueError;
pub use params::EncodedParams;

use alloc::vec::Vec;

use crate::codec::Format;

/// Well-known type OIDs.
pub mod oid {
    /// bool
    pub const BOOL: u32 = 16;
    /// bytea
    pub const BYTEA: u32 = 17;
    /// "char"
    pub const CHAR: u32 = 18;
    /// name
    pub const NAME: u32 = 19;
    /// int8
    pub const INT8: u32 = 20;
    /// int2
    pub const INT2: u32 = 21;
    /// int4
    pub const INT4: u32 = 23;
    /// text
    pub const TEXT: u32 = 25;
    /// oid
    pub const OID: u32 = 26;
    /// json
    pub const JSON: u32 = 114;
    /// float4
    pub const FLOAT4: u32 = 700;
    /// float8
    pub const FLOAT8: u32 = 701;
    /// unknown (let the server infer)
    pub const UNKNOWN: u32 = 705;
    /// bpchar
    pub const BPCHAR: u32 = 1042;
    /// varchar
    pub const VARCHAR: u32 = 1043;
    /// numeric
    pub const NUMERIC: u32 = 1700;
}

/// A Rust value that can be sent as a parameter.
pub trait ToSql {
    /// The parameter type to declare in Parse (0 lets the server infer it).
    fn type_oid(&self) -> u32;
    /// The format this value prefers to be sent in.
    fn preferred_format(&self) -> Format {
        Format::Binary
    }
    /// Appends the encoded value; `Ok(false)` means SQL NULL (nothing appended).
    fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError>;
}

/// A column's type as the server described it: the OID and the type modifier
/// (numeric's precision and scale, varchar's length; -1 when there is none).
///
/// HyperBinary numeric needs the modifier: its scale is not in the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ColumnType {
    /// The type's OID.
    pub oid: u32,
    /// The type modifier (`atttypmod`), -1 for none.
    pub modifier: i32,
}

impl ColumnType {
    /// A type with a modifier.
    pub const fn new(oid: u32, modifier: i32) -> ColumnType {
        ColumnType { oid, modifier }
    }

    /// A type without a modifier (-1).
    pub const fn of(oid: u32) -> ColumnType {
        ColumnType { oid, modifier: -1 }
    }
}

impl From<u32> for ColumnType {
    fn from(oid: u32) -> ColumnType {
        ColumnType::of(oid)
    }
}

/// A Rust value that can be read from a column.
pub trait FromSql<'a>: Sized {
    /// Decodes a non-NULL value of a column of type `ty` in `format`.
    fn decode(ty: ColumnType, format: Format, raw: &'a [u8]) -> Result<Self, ValueError>;
    /// The value for SQL NULL (an error unless the type is an `Option`).
    fn from_null(ty: ColumnType) -> Result<Self, ValueError> {
        Err(ValueError::UnexpectedNull { type_oid: ty.oid })
    }
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn type_oid(&self) -> u32 {
        (**self).type_oid()
    }
    fn preferred_format(&self) -> Format {
        (**self).preferred_format()
    }
    fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
        (**self).encode(format, out)
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn type_oid(&self) -> u32 {
        match self {
            Some(v) => v.type_oid(),
            None => 0,
        }
    }
    fn preferred_format(&self) -> Format {
        match self {
            Some(v) => v.preferred_format(),
            None => Format::Text,
        }
    }
    fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
        match self {
            Some(v) => v.encode(format, out),
            None => Ok(false),
        }
    }
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Option<T> {
    fn decode(ty: ColumnType, format: Format, raw: &'a [u8]) -> Result<Self, ValueError> {
        T::decode(ty, format, raw).map(Some)
    }
    fn from_null(_: ColumnType) -> Result<Self, ValueError> {
        Ok(None)
    }
}

/// Decodes an optional column (`None` is NULL).
pub fn decode_column<'a, T: FromSql<'a>>(
    ty: ColumnType,
    format: Format,
    raw: Option<&'a [u8]>,
) -> Result<T, ValueError> {
    match raw {
        None => T::from_null(ty),
        Some(bytes) => T::decode(ty, format, bytes),
    }
}
