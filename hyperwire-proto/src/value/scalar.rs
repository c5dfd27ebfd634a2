//! The fixed-size scalar types: bool, integers and floats.

use alloc::vec::Vec;

use super::{fixed, malformed, oid, utf8, write_display, ColumnType, FromSql, ToSql, ValueError};
use crate::codec::Format;

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
        if ty.oid != oid::BOOL {
            return Err(super::wrong_type("bool", ty));
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

// ---- integers and floats ----

macro_rules! number {
    ($t:ty, $oid:expr, $sql:literal, $text:expr, $parse:expr, $($accept:expr => $wire:ty),+) => {
        impl ToSql for $t {
            fn type_oid(&self) -> u32 {
                $oid
            }
            fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
                match format {
                    Format::Text => $text(*self, out),
                    Format::Binary => out.extend_from_slice(&self.to_be_bytes()),
                    Format::HyperBinary => out.extend_from_slice(&self.to_le_bytes()),
                }
                Ok(true)
            }
        }

        impl FromSql<'_> for $t {
            #[inline]
            fn decode(ty: ColumnType, format: Format, raw: &[u8]) -> Result<Self, ValueError> {
                $(
                    if ty.oid == $accept {
                        const N: usize = core::mem::size_of::<$wire>();
                        return match format {
                            Format::Text => $parse(utf8(raw, $sql, format)?)
                                .ok_or(malformed($sql, format)),
                            Format::Binary => fixed::<N>(raw, $sql, format)
                                .map(|b| <$t>::from(<$wire>::from_be_bytes(b))),
                            Format::HyperBinary => fixed::<N>(raw, $sql, format)
                                .map(|b| <$t>::from(<$wire>::from_le_bytes(b))),
                        };
                    }
                )+
                Err(super::wrong_type(stringify!($t), ty))
            }
        }
    };
}

fn int_text(v: impl core::fmt::Display, out: &mut Vec<u8>) {
    write_display(out, &v);
}

fn float_text<F: core::fmt::Debug + Into<f64> + Copy>(v: F, out: &mut Vec<u8>) {
    let wide: f64 = v.into();
    // PostgreSQL's spellings of the special values.
    if wide.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if wide.is_infinite() {
        out.extend_from_slice(if wide > 0.0 {
            b"Infinity"
        } else {
            b"-Infinity"
        });
    } else {
        // Debug prints the shortest form that reads back exactly.
        use core::fmt::Write as _;
        let _ = write!(super::VecWriter(out), "{v:?}");
    }
}

fn parse_int<T: core::str::FromStr>(s: &str) -> Option<T> {
    s.parse().ok()
}

fn parse_float<T: core::str::FromStr + From<f32>>(s: &str) -> Option<T> {
    match s {
        "NaN" => Some(T::from(f32::NAN)),
        "Infinity" => Some(T::from(f32::INFINITY)),
        "-Infinity" => Some(T::from(f32::NEG_INFINITY)),
        s => s.parse().ok(),
    }
}

number!(i16, oid::INT2, "int2", int_text, parse_int::<i16>, oid::INT2 => i16);
number!(i32, oid::INT4, "int4", int_text, parse_int::<i32>, oid::INT4 => i32, oid::INT2 => i16);
number!(i64, oid::INT8, "int8", int_text, parse_int::<i64>,
    oid::INT8 => i64, oid::INT4 => i32, oid::INT2 => i16);
number!(u32, oid::OID, "oid", int_text, parse_int::<u32>, oid::OID => u32);
number!(f32, oid::FLOAT4, "float4", float_text, parse_float::<f32>, oid::FLOAT4 => f32);
number!(f64, oid::FLOAT8, "float8", float_text, parse_float::<f64>,
    oid::FLOAT8 => f64, oid::FLOAT4 => f32);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::value::decode_column;

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
        round(f32::NEG_INFINITY);
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
        // docs/hyper.md §5: 1.5::real, 3.25::double precision.
        assert_eq!(
            f32::decode(oid::FLOAT4.into(), Format::HyperBinary, &[0, 0, 0xc0, 0x3f]).unwrap(),
            1.5
        );
        assert_eq!(
            f64::decode(
                oid::FLOAT8.into(),
                Format::HyperBinary,
                &[0, 0, 0, 0, 0, 0, 0x0a, 0x40]
            )
            .unwrap(),
            3.25
        );
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
            decode_column::<Option<i32>>(oid::INT4.into(), Format::Text, None).unwrap(),
            None
        );
        assert!(matches!(
            decode_column::<i32>(oid::INT4.into(), Format::Text, None),
            Err(ValueError::UnexpectedNull { type_oid: 23 })
        ));
    }
}
