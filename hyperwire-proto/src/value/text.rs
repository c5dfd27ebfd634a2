//! Text types: text, varchar, bpchar (`char(n)`), name, unknown, "char", and the
//! text of json/jsonb. Their binary forms are their UTF-8 bytes, except jsonb's
//! leading version byte.

use alloc::string::String;
use alloc::vec::Vec;

use super::{malformed, oid, utf8, wrong_type, ColumnType, FromSql, ToSql, ValueError};
use crate::codec::Format;

/// The version byte before jsonb's text in binary formats.
pub(crate) const JSONB_VERSION: u8 = 1;

/// Types whose binary form is their text (UTF-8 in a UTF-8 database).
fn is_textual(type_oid: u32) -> bool {
    matches!(
        type_oid,
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::UNKNOWN | oid::JSON | oid::CHAR
    )
}

/// The text of a column read as a string: any type in text format, a textual type
/// in any format, or jsonb in a binary format (after its version byte).
pub(crate) fn text_of<'a>(
    ty: ColumnType,
    format: Format,
    raw: &'a [u8],
    rust: &'static str,
) -> Result<&'a str, ValueError> {
    if format == Format::Text || is_textual(ty.oid) {
        // The type's name only for the error: looking it up costs more than
        // checking a short string.
        return core::str::from_utf8(raw)
            .map_err(|_| malformed(oid::name(ty.oid).unwrap_or("text"), format));
    }
    if ty.oid == oid::JSONB {
        return match raw.split_first() {
            Some((&JSONB_VERSION, body)) => utf8(body, "jsonb", format),
            _ => Err(malformed("jsonb", format)),
        };
    }
    Err(wrong_type(rust, ty))
}

impl ToSql for str {
    fn type_oid(&self) -> u32 {
        oid::TEXT
    }
    fn preferred_format(&self) -> Format {
        Format::Text
    }
    fn encode(&self, _format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
        out.extend_from_slice(self.as_bytes());
        Ok(true)
    }
}

impl ToSql for String {
    fn type_oid(&self) -> u32 {
        oid::TEXT
    }
    fn preferred_format(&self) -> Format {
        Format::Text
    }
    fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
        self.as_str().encode(format, out)
    }
}

impl<'a> FromSql<'a> for &'a str {
    /// Any column in text format (its text representation), a textual type
    /// (text, varchar, bpchar, name, "char", json) in any format, or jsonb.
    fn decode(ty: ColumnType, format: Format, raw: &'a [u8]) -> Result<Self, ValueError> {
        text_of(ty, format, raw, "&str")
    }
}

impl FromSql<'_> for String {
    /// Like `&str`; besides, a binary value of a type this crate decodes is
    /// rendered in its text form (as this crate writes it for a text parameter:
    /// timestamptz in UTC, interval in ISO 8601), so a column reads as `String`
    /// whichever format it arrived in.
    fn decode(ty: ColumnType, format: Format, raw: &[u8]) -> Result<Self, ValueError> {
        match text_of(ty, format, raw, "String") {
            Ok(s) => Ok(String::from(s)),
            Err(ValueError::WrongType { .. }) if format != Format::Text => render(ty, format, raw),
            Err(e) => Err(e),
        }
    }
}

/// The text form of a binary value.
fn render(ty: ColumnType, format: Format, raw: &[u8]) -> Result<String, ValueError> {
    use super::{Date, Interval, Numeric, Time, Timestamp, TimestampTz, Uuid};
    fn via<T: for<'a> FromSql<'a> + ToSql>(
        ty: ColumnType,
        format: Format,
        raw: &[u8],
    ) -> Result<String, ValueError> {
        let mut out = Vec::new();
        T::decode(ty, format, raw)?.encode(Format::Text, &mut out)?;
        String::from_utf8(out).map_err(|_| malformed("text", format))
    }
    match ty.oid {
        oid::BOOL => via::<bool>(ty, format, raw),
        oid::INT2 | oid::INT4 | oid::INT8 => via::<i64>(ty, format, raw),
        oid::OID => via::<u32>(ty, format, raw),
        oid::FLOAT4 => via::<f32>(ty, format, raw),
        oid::FLOAT8 => via::<f64>(ty, format, raw),
        oid::NUMERIC => via::<Numeric>(ty, format, raw),
        oid::DATE => via::<Date>(ty, format, raw),
        oid::TIME => via::<Time>(ty, format, raw),
        oid::TIMESTAMP => via::<Timestamp>(ty, format, raw),
        oid::TIMESTAMPTZ => via::<TimestampTz>(ty, format, raw),
        oid::INTERVAL => via::<Interval>(ty, format, raw),
        oid::UUID => via::<Uuid>(ty, format, raw),
        oid::BYTEA => via::<Vec<u8>>(ty, format, raw),
        _ => Err(wrong_type("String", ty)),
    }
}

// ---- "char" ----

/// `"char"` (OID 18), PostgreSQL's one-byte internal type, as `i8` (the byte).
impl ToSql for i8 {
    fn type_oid(&self) -> u32 {
        oid::CHAR
    }
    fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
        let byte = self.to_le_bytes()[0];
        match format {
            // charout: NUL is empty, bytes past ASCII are an octal escape.
            Format::Text if byte == 0 => {}
            Format::Text if byte >= 0x80 => out.extend_from_slice(&[
                b'\\',
                b'0' + (byte >> 6),
                b'0' + ((byte >> 3) & 7),
                b'0' + (byte & 7),
            ]),
            _ => out.push(byte),
        }
        Ok(true)
    }
}

impl FromSql<'_> for i8 {
    fn decode(ty: ColumnType, format: Format, raw: &[u8]) -> Result<Self, ValueError> {
        if ty.oid != oid::CHAR {
            return Err(wrong_type("i8", ty));
        }
        let byte = match (format, raw) {
            (Format::Text, []) => 0,
            (Format::Text, [b'\\', a, b, c]) => {
                let digit = |d: &u8| match d {
                    b'0'..=b'7' => Some(u32::from(d - b'0')),
                    _ => None,
                };
                match (digit(a), digit(b), digit(c)) {
                    (Some(a), Some(b), Some(c)) => u8::try_from(a * 64 + b * 8 + c)
                        .map_err(|_| malformed("\"char\"", format))?,
                    _ => return Err(malformed("\"char\"", format)),
                }
            }
            (_, [b]) => *b,
            _ => return Err(malformed("\"char\"", format)),
        };
        Ok(i8::from_le_bytes([byte]))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn text_types() {
        for t in [oid::TEXT, oid::VARCHAR, oid::BPCHAR, oid::NAME, oid::CHAR] {
            for f in [Format::Text, Format::Binary, Format::HyperBinary] {
                assert_eq!(
                    <&str>::decode(t.into(), f, "héllo".as_bytes()).unwrap(),
                    "héllo"
                );
            }
        }
        assert_eq!(
            <&str>::decode(oid::INT4.into(), Format::Text, b"12").unwrap(),
            "12"
        );
        assert!(<&str>::decode(oid::INT4.into(), Format::Binary, &[0; 4]).is_err());
        assert!(<&str>::decode(oid::TEXT.into(), Format::Binary, &[0xff]).is_err());
        assert_eq!(
            String::decode(oid::JSONB.into(), Format::Binary, b"\x01{}").unwrap(),
            "{}"
        );
        assert!(String::decode(oid::JSONB.into(), Format::Binary, b"\x02{}").is_err());
        // Binary values of other types render as text; unknown types stay errors.
        assert_eq!(
            String::decode(oid::INT4.into(), Format::Binary, &[0, 0, 0, 7]).unwrap(),
            "7"
        );
        assert_eq!(
            String::decode(oid::DATE.into(), Format::Binary, &[0, 0, 0x22, 0xe4]).unwrap(),
            "2024-06-15"
        );
        assert!(String::decode(600.into(), Format::Binary, &[0; 16]).is_err());
    }

    #[test]
    fn char_round_trips() {
        for v in [0i8, b'z' as i8, -1, i8::MIN, i8::MAX] {
            for f in [Format::Text, Format::Binary, Format::HyperBinary] {
                let mut out = Vec::new();
                v.encode(f, &mut out).unwrap();
                assert_eq!(
                    i8::decode(oid::CHAR.into(), f, &out).unwrap(),
                    v,
                    "{v} {f:?}"
                );
            }
        }
        let mut out = Vec::new();
        (-1i8).encode(Format::Text, &mut out).unwrap();
        assert_eq!(out, b"\\377");
    }
}
