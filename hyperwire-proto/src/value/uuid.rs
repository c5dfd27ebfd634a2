//! uuid: `8-4-4-4-12` lowercase hex in text; its 16 bytes in PostgreSQL binary;
//! in HyperBinary a little-endian 128-bit integer, so the same bytes reversed
//! (measured on hyperd).

use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use super::{
    fixed, malformed, oid, utf8, write_display, wrong_type, ColumnType, FromSql, ToSql, ValueError,
};
use crate::codec::Format;

/// A UUID, as its 16 bytes (big-endian, RFC 9562 order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Uuid(pub [u8; 16]);

/// Text that is not a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseUuidError;

impl fmt::Display for ParseUuidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid uuid syntax")
    }
}

impl core::error::Error for ParseUuidError {}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl FromStr for Uuid {
    type Err = ParseUuidError;
    /// 32 hex digits, upper or lower case, with or without the hyphens of the
    /// standard form, optionally in braces (as PostgreSQL accepts).
    fn from_str(s: &str) -> Result<Uuid, ParseUuidError> {
        let s = s
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or(s);
        let mut bytes = [0u8; 16];
        let mut digits = s.bytes().filter(|b| *b != b'-');
        for byte in &mut bytes {
            let mut next = || {
                digits
                    .next()
                    .and_then(|d| (d as char).to_digit(16))
                    .ok_or(ParseUuidError)
            };
            let (hi, lo) = (next()?, next()?);
            *byte = u8::try_from(hi * 16 + lo).map_err(|_| ParseUuidError)?;
        }
        let hyphens = s.bytes().filter(|b| *b == b'-').count();
        let standard = s.len() == 36
            && s.as_bytes().get(8) == Some(&b'-')
            && s.as_bytes().get(13) == Some(&b'-')
            && s.as_bytes().get(18) == Some(&b'-')
            && s.as_bytes().get(23) == Some(&b'-');
        if digits.next().is_some() || !(hyphens == 0 || (hyphens == 4 && standard)) {
            return Err(ParseUuidError);
        }
        Ok(Uuid(bytes))
    }
}

impl ToSql for Uuid {
    fn type_oid(&self) -> u32 {
        oid::UUID
    }
    fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
        match format {
            Format::Text => write_display(out, self),
            Format::Binary => out.extend_from_slice(&self.0),
            Format::HyperBinary => out.extend(self.0.iter().rev()),
        }
        Ok(true)
    }
}

impl FromSql<'_> for Uuid {
    fn decode(ty: ColumnType, format: Format, raw: &[u8]) -> Result<Self, ValueError> {
        if ty.oid != oid::UUID {
            return Err(wrong_type("Uuid", ty));
        }
        match format {
            Format::Text => utf8(raw, "uuid", format)?
                .parse()
                .map_err(|_| malformed("uuid", format)),
            Format::Binary => fixed(raw, "uuid", format).map(Uuid),
            Format::HyperBinary => {
                let mut bytes: [u8; 16] = fixed(raw, "uuid", format)?;
                bytes.reverse();
                Ok(Uuid(bytes))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn uuid_forms() {
        let text = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
        let u: Uuid = text.parse().unwrap();
        assert_eq!(u.to_string(), text);
        assert_eq!(
            "A0EEBC999C0B4EF8BB6D6BB9BD380A11".parse::<Uuid>().unwrap(),
            u
        );
        assert_eq!(
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}"
                .parse::<Uuid>()
                .unwrap(),
            u
        );
        for bad in [
            "",
            "a0eebc99",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111",
            "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "a0ee-bc99-9c0b-4ef8-bb6d6bb9bd380a11",
        ] {
            assert!(bad.parse::<Uuid>().is_err(), "{bad}");
        }
        for f in [Format::Text, Format::Binary, Format::HyperBinary] {
            let mut out = Vec::new();
            u.encode(f, &mut out).unwrap();
            assert_eq!(Uuid::decode(oid::UUID.into(), f, &out).unwrap(), u);
        }
        assert!(Uuid::decode(oid::UUID.into(), Format::Binary, &[0; 15]).is_err());
        // As hyperd sends it in format 2.
        let hyper = [
            0x11, 0x0a, 0x38, 0xbd, 0xb9, 0x6b, 0x6d, 0xbb, 0xf8, 0x4e, 0x0b, 0x9c, 0x99, 0xbc,
            0xee, 0xa0,
        ];
        assert_eq!(
            Uuid::decode(oid::UUID.into(), Format::HyperBinary, &hyper).unwrap(),
            u
        );
    }
}
