//! Values: encoding parameters and decoding columns in text (format 0), PostgreSQL
//! binary (format 1, big-endian) and HyperBinary (format 2, little-endian).
//!
//! The format of a column is always the one the request asked for (the machine
//! tracks it), never guessed from the bytes. A value that does not parse is a
//! [`ValueError`] naming the type and the format. Decoding a fixed-size type never
//! allocates, `&str` and `&[u8]` borrow from the row, and nothing a server sends
//! can make a decoder panic.
//!
//! | SQL type | Rust types |
//! |---|---|
//! | bool | `bool` |
//! | int2, int4, int8, oid | `i16`, `i32`, `i64`, `u32` |
//! | float4, float8 | `f32`, `f64` |
//! | numeric | [`Numeric`] (exact), `rust_decimal::Decimal` with the `rust_decimal` feature |
//! | text, varchar, bpchar, name, "char", unknown | `&str`, `String` (`i8` for "char") |
//! | bytea | `&[u8]`, `Vec<u8>` |
//! | date, time, timestamp, timestamptz, interval | [`Date`], [`Time`], [`Timestamp`], [`TimestampTz`], [`Interval`] |
//! | uuid | [`Uuid`] |
//! | json, jsonb | [`Json`], [`Jsonb`], `&str`, `String` |
//! | one-dimensional arrays of these (written in formats 0 and 1, read in all three) | `Vec<T>`, `Vec<Option<T>>` |

mod array;
mod bytes;
mod datetime;
mod error;
mod hyper_array;
mod interval;
mod json;
mod numeric;
mod params;
#[cfg(feature = "rust_decimal")]
mod rust_decimal;
mod scalar;
mod text;
mod uuid;

pub use array::ArrayElement;
pub use datetime::{Date, ParseDateTimeError, Time, Timestamp, TimestampTz};
pub use error::ValueError;
pub use interval::Interval;
pub use json::{Json, Jsonb};
pub use numeric::{Numeric, ParseNumericError};
pub use params::EncodedParams;
pub use uuid::{ParseUuidError, Uuid};

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
    /// json[]
    pub const JSON_ARRAY: u32 = 199;
    /// float4
    pub const FLOAT4: u32 = 700;
    /// float8
    pub const FLOAT8: u32 = 701;
    /// unknown (let the server infer)
    pub const UNKNOWN: u32 = 705;
    /// bool[]
    pub const BOOL_ARRAY: u32 = 1000;
    /// bytea[]
    pub const BYTEA_ARRAY: u32 = 1001;
    /// "char"[]
    pub const CHAR_ARRAY: u32 = 1002;
    /// name[]
    pub const NAME_ARRAY: u32 = 1003;
    /// int2[]
    pub const INT2_ARRAY: u32 = 1005;
    /// int4[]
    pub const INT4_ARRAY: u32 = 1007;
    /// text[]
    pub const TEXT_ARRAY: u32 = 1009;
    /// bpchar[]
    pub const BPCHAR_ARRAY: u32 = 1014;
    /// varchar[]
    pub const VARCHAR_ARRAY: u32 = 1015;
    /// int8[]
    pub const INT8_ARRAY: u32 = 1016;
    /// float4[]
    pub const FLOAT4_ARRAY: u32 = 1021;
    /// float8[]
    pub const FLOAT8_ARRAY: u32 = 1022;
    /// oid[]
    pub const OID_ARRAY: u32 = 1028;
    /// bpchar (`char(n)`)
    pub const BPCHAR: u32 = 1042;
    /// varchar
    pub const VARCHAR: u32 = 1043;
    /// date
    pub const DATE: u32 = 1082;
    /// time
    pub const TIME: u32 = 1083;
    /// timestamp
    pub const TIMESTAMP: u32 = 1114;
    /// timestamp[]
    pub const TIMESTAMP_ARRAY: u32 = 1115;
    /// date[]
    pub const DATE_ARRAY: u32 = 1182;
    /// time[]
    pub const TIME_ARRAY: u32 = 1183;
    /// timestamptz
    pub const TIMESTAMPTZ: u32 = 1184;
    /// timestamptz[]
    pub const TIMESTAMPTZ_ARRAY: u32 = 1185;
    /// interval
    pub const INTERVAL: u32 = 1186;
    /// interval[]
    pub const INTERVAL_ARRAY: u32 = 1187;
    /// numeric[]
    pub const NUMERIC_ARRAY: u32 = 1231;
    /// numeric
    pub const NUMERIC: u32 = 1700;
    /// uuid
    pub const UUID: u32 = 2950;
    /// uuid[]
    pub const UUID_ARRAY: u32 = 2951;
    /// jsonb
    pub const JSONB: u32 = 3802;
    /// jsonb[]
    pub const JSONB_ARRAY: u32 = 3807;

    /// (element, array) pairs of the types above.
    const ARRAYS: [(u32, u32); 21] = [
        (BOOL, BOOL_ARRAY),
        (BYTEA, BYTEA_ARRAY),
        (CHAR, CHAR_ARRAY),
        (NAME, NAME_ARRAY),
        (INT2, INT2_ARRAY),
        (INT4, INT4_ARRAY),
        (TEXT, TEXT_ARRAY),
        (BPCHAR, BPCHAR_ARRAY),
        (VARCHAR, VARCHAR_ARRAY),
        (INT8, INT8_ARRAY),
        (FLOAT4, FLOAT4_ARRAY),
        (FLOAT8, FLOAT8_ARRAY),
        (OID, OID_ARRAY),
        (DATE, DATE_ARRAY),
        (TIME, TIME_ARRAY),
        (TIMESTAMP, TIMESTAMP_ARRAY),
        (TIMESTAMPTZ, TIMESTAMPTZ_ARRAY),
        (INTERVAL, INTERVAL_ARRAY),
        (NUMERIC, NUMERIC_ARRAY),
        (UUID, UUID_ARRAY),
        (JSONB, JSONB_ARRAY),
    ];

    /// The element type of a known array type.
    pub fn element_of(array: u32) -> Option<u32> {
        if array == JSON_ARRAY {
            return Some(JSON);
        }
        ARRAYS.iter().find(|(_, a)| *a == array).map(|(e, _)| *e)
    }

    /// The array type of a known element type.
    pub fn array_of(element: u32) -> Option<u32> {
        if element == JSON {
            return Some(JSON_ARRAY);
        }
        ARRAYS.iter().find(|(e, _)| *e == element).map(|(_, a)| *a)
    }

    /// The SQL name of a known type.
    pub fn name(oid: u32) -> Option<&'static str> {
        Some(match oid {
            BOOL => "bool",
            BYTEA => "bytea",
            CHAR => "\"char\"",
            NAME => "name",
            INT8 => "int8",
            INT2 => "int2",
            INT4 => "int4",
            TEXT => "text",
            OID => "oid",
            JSON => "json",
            FLOAT4 => "float4",
            FLOAT8 => "float8",
            UNKNOWN => "unknown",
            BPCHAR => "bpchar",
            VARCHAR => "varchar",
            DATE => "date",
            TIME => "time",
            TIMESTAMP => "timestamp",
            TIMESTAMPTZ => "timestamptz",
            INTERVAL => "interval",
            NUMERIC => "numeric",
            UUID => "uuid",
            JSONB => "jsonb",
            JSON_ARRAY => "json[]",
            BOOL_ARRAY => "bool[]",
            BYTEA_ARRAY => "bytea[]",
            CHAR_ARRAY => "\"char\"[]",
            NAME_ARRAY => "name[]",
            INT2_ARRAY => "int2[]",
            INT4_ARRAY => "int4[]",
            TEXT_ARRAY => "text[]",
            BPCHAR_ARRAY => "bpchar[]",
            VARCHAR_ARRAY => "varchar[]",
            INT8_ARRAY => "int8[]",
            FLOAT4_ARRAY => "float4[]",
            FLOAT8_ARRAY => "float8[]",
            OID_ARRAY => "oid[]",
            TIMESTAMP_ARRAY => "timestamp[]",
            DATE_ARRAY => "date[]",
            TIME_ARRAY => "time[]",
            TIMESTAMPTZ_ARRAY => "timestamptz[]",
            INTERVAL_ARRAY => "interval[]",
            NUMERIC_ARRAY => "numeric[]",
            UUID_ARRAY => "uuid[]",
            JSONB_ARRAY => "jsonb[]",
            _ => return None,
        })
    }
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

    /// `numeric(precision, scale)`: the modifier is `((precision << 16) | scale) + 4`.
    pub const fn numeric(precision: u16, scale: u16) -> ColumnType {
        let packed = ((precision as u32) << 16) | scale as u32;
        ColumnType {
            oid: oid::NUMERIC,
            modifier: packed.wrapping_add(4) as i32,
        }
    }

    /// The precision and scale of a numeric modifier, if it has one.
    pub fn numeric_precision_scale(self) -> Option<(u16, u16)> {
        let packed = u32::try_from(self.modifier.checked_sub(4)?).ok()?;
        let precision = u16::try_from(packed >> 16).ok()?;
        let scale = u16::try_from(packed & 0xffff).ok()?;
        Some((precision, scale))
    }
}

impl From<u32> for ColumnType {
    fn from(oid: u32) -> ColumnType {
        ColumnType::of(oid)
    }
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
#[inline]
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

// ---- helpers shared by the codecs ----

fn malformed(sql: &'static str, format: Format) -> ValueError {
    ValueError::Malformed { sql, format }
}

fn out_of_range(sql: &'static str, format: Format) -> ValueError {
    ValueError::OutOfRange { sql, format }
}

fn wrong_type(rust: &'static str, ty: ColumnType) -> ValueError {
    ValueError::WrongType {
        rust,
        type_oid: ty.oid,
    }
}

/// The bytes as UTF-8 text.
fn utf8<'a>(raw: &'a [u8], sql: &'static str, format: Format) -> Result<&'a str, ValueError> {
    core::str::from_utf8(raw).map_err(|_| malformed(sql, format))
}

/// Exactly `N` bytes.
fn fixed<const N: usize>(
    raw: &[u8],
    sql: &'static str,
    format: Format,
) -> Result<[u8; N], ValueError> {
    <[u8; N]>::try_from(raw).map_err(|_| malformed(sql, format))
}

/// Appends formatted text to a byte vector (no intermediate `String`).
struct VecWriter<'a>(&'a mut Vec<u8>);

impl core::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Appends `value`'s `Display` form.
fn write_display(out: &mut Vec<u8>, value: &dyn core::fmt::Display) {
    use core::fmt::Write as _;
    // VecWriter never fails.
    let _ = write!(VecWriter(out), "{value}");
}
