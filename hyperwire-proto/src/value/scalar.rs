//! The scalar types: bool, integers, floats, text and bytea.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use super::{oid, ColumnType, FromSql, ToSql, ValueError};
use crate::codec::Format;

fn malformed(sql: &'static str, format: Format) -> ValueError {
    ValueError::Malformed { sql, format }
}

fn text<'a>(raw: &'a [u8], sql: &'static str) -> Result<&'a str, ValueError> {
    core::str::from_utf8(raw).map_err(|_| malformed(sql, Format::Text))
}

/// Writes `v` in decimal without allocating.
struct VecWriter<'a>(&'a mut Vec<u8>);
impl core::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

// ---- bool ----

impl ToSql for bool {
    fn type_oid(&self) -> u32 {
        oid::BOOL
    }
    fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
        match format {
            Format::Text => out.push(if *self { b't' } else { b'f' }),
            _ => out.push(u8::from(*self)),
        }
        Ok(true)
    }
}

impl FromSql<'_> for bool {
    fn decode(ty: ColumnType, format: Format, raw: &[u8]) -> Result<Self, ValueError> {
        let type_oid = ty.oid;
        if type_oid != oid::BOOL {
            return Err(ValueError::WrongType {
                rust: "bool",
                type_oid,
            });
        }
        match (format, raw) {
            (Format::Text, b"t" | b"true") => Ok(true),
            (Format::Text, b"f" | b"false") => Ok(false),
            // Hyper accepts any non-zero byte as true on input; read it the same way.
            (Format::Binary | Format::HyperBinary, [b]) => Ok(*b != 0),
            _ => Err(malformed("bool", format)),
        }
    }
}

// ---- integers ----

macro_rules! integer {
    ($t:ty, $oid:expr, $sql:literal, $($accept:expr => $wire:ty),+) => {
        impl ToSql for $t {
            fn type_oid(&self) -> u32 {
                $oid
            }
            fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
                match format {
                    Format::Text => {
                        let _ = write!(VecWriter(out), "{}", self);
                    }
                    Format::Binary => out.extend_from_slice(&self.to_be_bytes()),
                    Format::HyperBinary => out.extend_from_slice(&self.to_le_bytes()),
                }
                Ok(true)
            }
        }

        impl FromSql<'_> for $t {
            fn decode(ty: ColumnType, format: Format, raw: &[u8]) -> Result<Self, ValueError> {
        let type_oid = ty.oid;
                $(
                    if type_oid == $accept {
                        return match format {
                            Format::Text => text(raw, $sql)?
                                .parse::<$t>()
                                .map_err(|_| malformed($sql, format)),
                            Format::Binary => <[u8; core::mem::size_of::<$wire>()]>::try_from(raw)
                                .map(|b| <$t>::from(<$wire>::from_be_bytes(b)))
                                .map_err(|_| malformed($sql, format)),
                            Format::HyperBinary => <[u8; core::mem::size_of::<$wire>()]>::try_from(raw)
                                .map(|b| <$t>::from(<$wire>::from_le_bytes(b)))
                                .map_err(|_| malformed($sql, format)),
                        };
                    }
                )+
                Err(ValueError::WrongType { rust: stringify!($t), type_oid })
            }
        }
    };
}

integer!(i16, oid::INT2, "int2", oid::INT2 => i16);
integer!(i32, oid::INT4, "int4", oid::INT4 => i32, oid::INT2 => i16);
integer!(i64, oid::INT8, "int8", oid::INT8 => i64, oid::INT4 => i32, oid::INT2 => i16);
integer!(u32, oid::OID, "oid", oid::OID => u32);

// ---- floats ----

macro_rules! float {
    ($t:ty, $oid:expr, $sql:literal, $($accept:expr => $wire:ty),+) => {
        impl ToSql for $t {
            fn type_oid(&self) -> u32 {
                $oid
            }
            fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
                match format {
                    Format::Text => {
                        // PostgreSQL's spellings of the special values.
                        if self.is_nan() {
                            out.extend_from_slice(b"NaN");
                        } else if self.is_infinite() {
                            out.extend_from_slice(if *self > 0.0 { b"Infinity" } else { b"-Infinity" });
                        } else {
                            let _ = write!(VecWriter(out), "{:?}", self);
                        }
                    }
                    Format::Binary => out.extend_from_slice(&self.to_be_bytes()),
                    Format::HyperBinary => out.extend_from_slice(&self.to_le_bytes()),
                }
                Ok(true)
            }
        }

        impl FromSql<'_> for $t {
            fn decode(ty: ColumnType, format: Format, raw: &[u8]) -> Result<Self, ValueError> {
        let type_oid = ty.oid;
                $(
                    if type_oid == $accept {
                        return match format {
                            Format::Text => match text(raw, $sql)? {
                                "NaN" => Ok(<$t>::NAN),
                                "Infinity" => Ok(<$t>::INFINITY),
                                "-Infinity" => Ok(<$t>::NEG_INFINITY),
                                s => s.parse::<$t>().map_err(|_| malformed($sql, format)),
                            },
                            Format::Binary => <[u8; core::mem::size_of::<$wire>()]>::try_from(raw)
                                .map(|b| <$t>::from(<$wire>::from_be_bytes(b)))
                                .map_err(|_| malformed($sql, format)),
                            Format::HyperBinary => <[u8; core::mem::size_of::<$wire>()]>::try_from(raw)
                                .map(|b| <$t>::from(<$wire>::from_le_bytes(b)))
                                .map_err(|_| malformed($sql, format)),
                        };
                    }
                )+
                Err(ValueError::WrongType { rust: stringify!($t), type_oid })
            }
        }
    };
}

float!(f32, oid::FLOAT4, "float4", oid::FLOAT4 => f32);
float!(f64, oid::FLOAT8, "float8", oid::FLOAT8 => f64, oid::FLOAT4 => f32);

// ---- text ----

/// Types whose binary form is their text (UTF-8 in a UTF-8 database).
fn is_textual(type_oid: u32) -> bool {
    matches!(
        type_oid,
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::UNKNOWN | oid::JSON | oid::CHAR
    )
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
    /// Any column in text format (its text representation), or a textual type in any
    /// format.
    fn decode(ty: ColumnType, format: Format, raw: &'a [u8]) -> Result<Self, ValueError> {
        let type_oid = ty.oid;
        if format != Format::Text && !is_textual(type_oid) {
            return Err(ValueError::WrongType {
                rust: "&str",
                type_oid,
            });
        }
        core::str::from_utf8(raw).map_err(|_| malformed("text", format))
    }
}

impl FromSql<'_> for String {
    fn decode(ty: ColumnType, format: Format, raw: &[u8]) -> Result<Self, ValueError> {
        <&str>::decode(ty, format, raw).map(String::from)
    }
}

// ---- bytea ----

impl ToSql for [u8] {
    fn type_oid(&self) -> u32 {
        oid::BYTEA
    }
    fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
        match format {
            Format::Text => {
                out.extend_from_slice(b"\\x");
                for b in self {
                    let _ = write!(VecWriter(out), "{b:02x}");
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
        let type_oid = ty.oid;
        if type_oid != oid::BYTEA || format == Format::Text {
            return Err(ValueError::WrongType {
                rust: "&[u8]",
                type_oid,
            });
        }
        Ok(raw)
    }
}

impl FromSql<'_> for Vec<u8> {
    fn decode(ty: ColumnType, format: Format, raw: &[u8]) -> Result<Self, ValueError> {
        let type_oid = ty.oid;
        if type_oid != oid::BYTEA {
            return Err(ValueError::WrongType {
                rust: "Vec<u8>",
                type_oid,
            });
        }
        if format != Format::Text {
            return Ok(raw.to_vec());
        }
        let hex = raw.strip_prefix(b"\\x").ok_or(malformed("bytea", format))?;
        if hex.len() % 2 != 0 {
            return Err(malformed("bytea", format));
        }
        hex.chunks_exact(2)
            .map(|pair| {
                let digit = |c: u8| (c as char).to_digit(16);
                match pair {
                    [h, l] => match (digit(*h), digit(*l)) {
                        (Some(h), Some(l)) => Ok((h * 16 + l) as u8),
                        _ => Err(malformed("bytea", format)),
                    },
                    _ => Err(malformed("bytea", format)),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alloc::vec;

    fn round<T: ToSql + for<'a> FromSql<'a> + PartialEq + core::fmt::Debug>(v: T) {
        for f in [Format::Text, Format::Binary, Format::HyperBinary] {
            let mut out = Vec::new();
            assert!(v.encode(f, &mut out).unwrap());
            assert_eq!(T::decode(v.type_oid().into(), f, &out).unwrap(), v, "{f:?}");
        }
    }

    #[test]
    fn scalars_round_trip_in_every_format() {
        round(true);
        round(false);
        round(i16::MIN);
        round(i32::MAX);
        round(i64::MIN);
        round(4_294_967_295u32);
        round(1.5f32);
        round(-0.1f64);
        round(f64::INFINITY);
        round(String::from("héllo"));
        round(vec![0u8, 0xde, 0xad]);
    }

    #[test]
    fn wire_layouts() {
        let mut out = Vec::new();
        99i32.encode(Format::Binary, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 0x63]);
        out.clear();
        99i32.encode(Format::HyperBinary, &mut out).unwrap();
        assert_eq!(out, [0x63, 0, 0, 0]);
        out.clear();
        (-5_000_000_000i64)
            .encode(Format::HyperBinary, &mut out)
            .unwrap();
        assert_eq!(out, [0x00, 0x0e, 0xfa, 0xd5, 0xfe, 0xff, 0xff, 0xff]);
        out.clear();
        f64::NAN.encode(Format::Text, &mut out).unwrap();
        assert_eq!(out, b"NaN");
        assert!(f64::decode(oid::FLOAT8.into(), Format::Text, b"NaN")
            .unwrap()
            .is_nan());
        out.clear();
        [0xdeu8, 0xad][..].encode(Format::Text, &mut out).unwrap();
        assert_eq!(out, b"\\xdead");
    }

    #[test]
    fn widening_and_errors() {
        assert_eq!(
            i64::decode(oid::INT2.into(), Format::Binary, &[0xff, 0xfe]).unwrap(),
            -2
        );
        assert_eq!(
            i64::decode(oid::INT4.into(), Format::Text, b"7").unwrap(),
            7
        );
        assert!(matches!(
            i32::decode(oid::INT8.into(), Format::Binary, &[0; 8]),
            Err(ValueError::WrongType { .. })
        ));
        assert!(matches!(
            i32::decode(oid::INT4.into(), Format::Binary, &[0; 3]),
            Err(ValueError::Malformed { .. })
        ));
        assert!(matches!(
            i32::decode(oid::INT4.into(), Format::Text, b"x1"),
            Err(ValueError::Malformed { .. })
        ));
        assert_eq!(
            <&str>::decode(oid::INT4.into(), Format::Text, b"12").unwrap(),
            "12"
        );
        assert!(<&str>::decode(oid::INT4.into(), Format::Binary, &[0; 4]).is_err());
        assert_eq!(
            super::super::decode_column::<Option<i32>>(oid::INT4.into(), Format::Text, None)
                .unwrap(),
            None
        );
        assert!(matches!(
            super::super::decode_column::<i32>(oid::INT4.into(), Format::Text, None),
            Err(ValueError::UnexpectedNull { type_oid: 23 })
        ));
        assert!(Vec::<u8>::decode(oid::BYTEA.into(), Format::Text, b"\\xzz").is_err());
    }
}
