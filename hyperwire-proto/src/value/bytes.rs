//! bytea: raw in binary formats, `\x` hex in text.

use alloc::vec::Vec;

use super::{malformed, oid, wrong_type, ColumnType, FromSql, ToSql, ValueError};
use crate::codec::Format;

const HEX: &[u8; 16] = b"0123456789abcdef";

impl ToSql for [u8] {
    fn type_oid(&self) -> u32 {
        oid::BYTEA
    }
    fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
        match format {
            Format::Text => {
                out.reserve(2 + 2 * self.len());
                out.extend_from_slice(b"\\x");
                for b in self {
                    for nibble in [b >> 4, b & 15] {
                        out.extend(HEX.get(usize::from(nibble)));
                    }
                }
            }
            _ => out.extend_from_slice(self),
        }
        Ok(true)
    }
}

impl ToSql for Vec<u8> {
    fn type_oid(&self) -> u32 {
        oid::BYTEA
    }
    fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
        self.as_slice().encode(format, out)
    }
}

impl<'a> FromSql<'a> for &'a [u8] {
    /// The raw bytes of a bytea in a binary format (text-format bytea is hex: read it
    /// as `Vec<u8>`).
    fn decode(ty: ColumnType, format: Format, raw: &'a [u8]) -> Result<Self, ValueError> {
        if ty.oid != oid::BYTEA || format == Format::Text {
            return Err(wrong_type("&[u8]", ty));
        }
        Ok(raw)
    }
}

impl FromSql<'_> for Vec<u8> {
    fn decode(ty: ColumnType, format: Format, raw: &[u8]) -> Result<Self, ValueError> {
        if ty.oid != oid::BYTEA {
            return Err(wrong_type("Vec<u8>", ty));
        }
        if format != Format::Text {
            return Ok(raw.to_vec());
        }
        // Only the hex form: the escape form is bytea_output=escape, not the default.
        let hex = raw.strip_prefix(b"\\x").ok_or(malformed("bytea", format))?;
        if hex.len() % 2 != 0 {
            return Err(malformed("bytea", format));
        }
        let digit = |c: u8| (c as char).to_digit(16);
        hex.chunks_exact(2)
            .map(|pair| match pair {
                [h, l] => match (digit(*h), digit(*l)) {
                    (Some(h), Some(l)) => {
                        u8::try_from(h * 16 + l).map_err(|_| malformed("bytea", format))
                    }
                    _ => Err(malformed("bytea", format)),
                },
                _ => Err(malformed("bytea", format)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use alloc::vec;

    #[test]
    fn bytea() {
        for f in [Format::Text, Format::Binary, Format::HyperBinary] {
            let v = vec![0u8, 0xde, 0xad, 0xff];
            let mut out = Vec::new();
            v.encode(f, &mut out).unwrap();
            assert_eq!(Vec::<u8>::decode(oid::BYTEA.into(), f, &out).unwrap(), v);
        }
        let mut out = Vec::new();
        [0xdeu8, 0xad][..].encode(Format::Text, &mut out).unwrap();
        assert_eq!(out, b"\\xdead");
        assert!(Vec::<u8>::decode(oid::BYTEA.into(), Format::Text, b"\\xzz").is_err());
        assert!(Vec::<u8>::decode(oid::BYTEA.into(), Format::Text, b"\\x0").is_err());
    }
}
