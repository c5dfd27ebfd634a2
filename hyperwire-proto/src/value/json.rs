//! json and jsonb, as their text (this crate parses no JSON). jsonb's binary form
//! is a version byte (1) and the text.

use alloc::string::String;
use alloc::vec::Vec;

use super::text::{text_of, JSONB_VERSION};
use super::{oid, wrong_type, ColumnType, FromSql, ToSql, ValueError};
use crate::codec::Format;

/// A json value given or read as its text: `Json<&str>` borrows, `Json<String>`
/// owns. Sent as `json`; reads json and jsonb columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Json<T>(pub T);

/// A jsonb value given or read as its text. Sent as `jsonb`; reads json and jsonb
/// columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Jsonb<T>(pub T);

impl<T: AsRef<str>> ToSql for Json<T> {
    fn type_oid(&self) -> u32 {
        oid::JSON
    }
    fn encode(&self, _format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
        out.extend_from_slice(self.0.as_ref().as_bytes());
        Ok(true)
    }
}

impl<T: AsRef<str>> ToSql for Jsonb<T> {
    fn type_oid(&self) -> u32 {
        oid::JSONB
    }
    fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
        if format != Format::Text {
            out.push(JSONB_VERSION);
        }
        out.extend_from_slice(self.0.as_ref().as_bytes());
        Ok(true)
    }
}

fn json_text<'a>(
    ty: ColumnType,
    format: Format,
    raw: &'a [u8],
    rust: &'static str,
) -> Result<&'a str, ValueError> {
    if ty.oid != oid::JSON && ty.oid != oid::JSONB {
        return Err(wrong_type(rust, ty));
    }
    text_of(ty, format, raw, rust)
}

impl<'a> FromSql<'a> for Json<&'a str> {
    fn decode(ty: ColumnType, format: Format, raw: &'a [u8]) -> Result<Self, ValueError> {
        json_text(ty, format, raw, "Json<&str>").map(Json)
    }
}

impl FromSql<'_> for Json<String> {
    fn decode(ty: ColumnType, format: Format, raw: &[u8]) -> Result<Self, ValueError> {
        json_text(ty, format, raw, "Json<String>").map(|s| Json(String::from(s)))
    }
}

impl<'a> FromSql<'a> for Jsonb<&'a str> {
    fn decode(ty: ColumnType, format: Format, raw: &'a [u8]) -> Result<Self, ValueError> {
        json_text(ty, format, raw, "Jsonb<&str>").map(Jsonb)
    }
}

impl FromSql<'_> for Jsonb<String> {
    fn decode(ty: ColumnType, format: Format, raw: &[u8]) -> Result<Self, ValueError> {
        json_text(ty, format, raw, "Jsonb<String>").map(|s| Jsonb(String::from(s)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn json_forms() {
        let mut out = Vec::new();
        Jsonb(r#"{"a":1}"#)
            .encode(Format::Binary, &mut out)
            .unwrap();
        assert_eq!(out, b"\x01{\"a\":1}");
        assert_eq!(
            Jsonb::<&str>::decode(oid::JSONB.into(), Format::Binary, &out).unwrap(),
            Jsonb(r#"{"a":1}"#)
        );
        assert_eq!(
            Json::<String>::decode(oid::JSON.into(), Format::Binary, b"[1]").unwrap(),
            Json(String::from("[1]"))
        );
        assert!(Json::<&str>::decode(oid::TEXT.into(), Format::Text, b"[1]").is_err());
        assert!(Jsonb::<&str>::decode(oid::JSONB.into(), Format::Binary, b"").is_err());
    }
}
