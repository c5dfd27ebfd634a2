//! numeric, exactly: an `i128` unscaled value and a decimal scale, never a float.
//!
//! * text: `-12.50`, `NaN`, `Infinity`, `-Infinity`;
//! * PostgreSQL binary: base-10000 digits with a weight, a sign word and the display
//!   scale;
//! * HyperBinary: the unscaled value as i64 (precision ≤ 18) or i128 little-endian,
//!   at the scale of the column's type modifier.

use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use super::{
    fixed, malformed, oid, out_of_range, utf8, write_display, ColumnType, FromSql, ToSql,
    ValueError,
};
use crate::codec::Format;

const SQL: &str = "numeric";

/// PostgreSQL's sign words.
const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;
const NAN: u16 = 0xC000;
const PINF: u16 = 0xD000;
const NINF: u16 = 0xF000;

/// The 38 digits of Hyper's largest numeric, and the most an `i128` always holds.
const MAX_PRECISION: u16 = 38;

/// An exact decimal: `unscaled × 10^-scale`, or one of PostgreSQL's special values.
///
/// Equality is by representation: `1.0` (10, scale 1) and `1.00` (100, scale 2) are
/// different values here, as their text differs; compare after
/// [`rescale`](Numeric::rescale) to compare numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Numeric {
    /// A finite number.
    Finite {
        /// The digits as an integer.
        unscaled: i128,
        /// How many of them are after the decimal point (at most [`Numeric::MAX_SCALE`]).
        scale: u16,
    },
    /// Not a number (PostgreSQL only).
    NaN,
    /// +∞ (PostgreSQL 14 and later).
    Infinity,
    /// −∞ (PostgreSQL 14 and later).
    NegInfinity,
}

impl Numeric {
    /// The largest scale PostgreSQL's binary format carries (14 bits).
    pub const MAX_SCALE: u16 = 0x3FFF;

    /// `unscaled × 10^-scale`.
    pub const fn new(unscaled: i128, scale: u16) -> Numeric {
        Numeric::Finite { unscaled, scale }
    }

    /// The unscaled digits of a finite value.
    pub fn unscaled(&self) -> Option<i128> {
        match self {
            Numeric::Finite { unscaled, .. } => Some(*unscaled),
            _ => None,
        }
    }

    /// The scale of a finite value.
    pub fn scale(&self) -> Option<u16> {
        match self {
            Numeric::Finite { scale, .. } => Some(*scale),
            _ => None,
        }
    }

    /// Whether the value is a finite number.
    pub fn is_finite(&self) -> bool {
        matches!(self, Numeric::Finite { .. })
    }

    /// The same number with `scale` digits after the point, if that is exact
    /// (more digits that fit in an `i128`, or dropping only zeros). Special values
    /// stay as they are.
    pub fn rescale(self, scale: u16) -> Option<Numeric> {
        let Numeric::Finite {
            unscaled,
            scale: from,
        } = self
        else {
            return Some(self);
        };
        let unscaled = if scale >= from {
            unscaled.checked_mul(pow10(scale - from)?)?
        } else {
            let div = pow10(from - scale)?;
            if unscaled % div != 0 {
                return None;
            }
            unscaled / div
        };
        Some(Numeric::new(unscaled, scale))
    }

    /// The number of significant digits of a finite value (at least 1).
    fn digits(unscaled: i128) -> u32 {
        unscaled
            .unsigned_abs()
            .checked_ilog10()
            .map_or(1, |d| d + 1)
    }

    /// Encodes a finite value for a HyperBinary column `numeric(precision, scale)`
    /// (HYPERBINARY COPY, whose schema gives the scale): the value is rescaled
    /// exactly, then written as i64 (precision ≤ 18) or i128, little-endian.
    pub fn encode_hyper(
        self,
        precision: u16,
        scale: u16,
        out: &mut Vec<u8>,
    ) -> Result<(), ValueError> {
        let range = out_of_range(SQL, Format::HyperBinary);
        let unscaled = self
            .rescale(scale)
            .and_then(|n| n.unscaled())
            .ok_or(range.clone())?;
        if precision > MAX_PRECISION || Numeric::digits(unscaled) > u32::from(precision.max(1)) {
            return Err(range);
        }
        if precision <= 18 {
            let v = i64::try_from(unscaled).map_err(|_| range)?;
            out.extend_from_slice(&v.to_le_bytes());
        } else {
            out.extend_from_slice(&unscaled.to_le_bytes());
        }
        Ok(())
    }

    /// Decodes a HyperBinary value of a column `numeric(precision, scale)`.
    pub fn decode_hyper(precision: u16, scale: u16, raw: &[u8]) -> Result<Numeric, ValueError> {
        let f = Format::HyperBinary;
        let unscaled = if precision <= 18 {
            i128::from(i64::from_le_bytes(fixed::<8>(raw, SQL, f)?))
        } else {
            i128::from_le_bytes(fixed::<16>(raw, SQL, f)?)
        };
        Ok(Numeric::new(unscaled, scale))
    }

    /// Appends PostgreSQL's binary form.
    fn encode_pg(self, out: &mut Vec<u8>) -> Result<(), ValueError> {
        let (unscaled, scale) = match self {
            Numeric::Finite { unscaled, scale } => (unscaled, scale),
            special => {
                let sign = match special {
                    Numeric::NaN => NAN,
                    Numeric::Infinity => PINF,
                    _ => NINF,
                };
                for word in [0u16, 0, sign, 0] {
                    out.extend_from_slice(&word.to_be_bytes());
                }
                return Ok(());
            }
        };
        if scale > Numeric::MAX_SCALE {
            return Err(out_of_range(SQL, Format::Binary));
        }
        // Base-10000 groups aligned on the decimal point: decimal digit k of the
        // unscaled value sits at 10^(k - scale), in group floor((k - scale) / 4).
        let scale = i32::from(scale);
        let lowest = (-scale).div_euclid(4);
        let mut groups = [0u16; 12];
        let mut magnitude = unscaled.unsigned_abs();
        let mut k = 0i32;
        while magnitude > 0 {
            let digit = u16::try_from(magnitude % 10).unwrap_or(0);
            let at = k - scale;
            let index = usize::try_from(at.div_euclid(4) - lowest).unwrap_or(usize::MAX);
            if let Some(g) = groups.get_mut(index) {
                *g += digit * 10u16.pow(at.rem_euclid(4).unsigned_abs());
            }
            magnitude /= 10;
            k += 1;
        }
        let first = groups.iter().position(|g| *g != 0);
        let last = groups.iter().rposition(|g| *g != 0);
        let (ndigits, weight, digits) = match (first, last) {
            (Some(lo), Some(hi)) => (
                hi - lo + 1,
                lowest + i32::try_from(hi).unwrap_or(0),
                groups.get(lo..=hi).unwrap_or(&[]),
            ),
            _ => (0, 0, &[][..]),
        };
        let sign = if unscaled < 0 { NEGATIVE } else { POSITIVE };
        let header = [
            u16::try_from(ndigits).unwrap_or(0),
            // The weight is within a few groups of -scale/4: it fits an i16.
            u16::from_be_bytes(i16::try_from(weight).unwrap_or(0).to_be_bytes()),
            sign,
            u16::try_from(scale).unwrap_or(0),
        ];
        for word in header {
            out.extend_from_slice(&word.to_be_bytes());
        }
        for g in digits.iter().rev() {
            out.extend_from_slice(&g.to_be_bytes());
        }
        Ok(())
    }

    /// Decodes PostgreSQL's binary form.
    fn decode_pg(raw: &[u8]) -> Result<Numeric, ValueError> {
        let f = Format::Binary;
        let bad = || malformed(SQL, f);
        let (header, body) = raw.split_at_checked(8).ok_or_else(bad)?;
        let word = |i: usize| -> Result<u16, ValueError> {
            let b = header.get(i * 2..i * 2 + 2).ok_or_else(bad)?;
            Ok(u16::from_be_bytes(fixed::<2>(b, SQL, f)?))
        };
        let ndigits = usize::from(word(0)?);
        let weight = i64::from(i16::from_be_bytes(word(1)?.to_be_bytes()));
        let sign = word(2)?;
        let dscale = word(3)?;
        let special = match sign {
            NAN => Numeric::NaN,
            PINF => Numeric::Infinity,
            NINF => Numeric::NegInfinity,
            POSITIVE | NEGATIVE => Numeric::new(0, 0),
            _ => return Err(bad()),
        };
        if !special.is_finite() {
            // Special values have no digits.
            return if body.is_empty() && ndigits == 0 {
                Ok(special)
            } else {
                Err(bad())
            };
        }
        if dscale > Numeric::MAX_SCALE || body.len() != ndigits * 2 {
            return Err(bad());
        }
        let mut magnitude: u128 = 0;
        for (i, pair) in body.chunks_exact(2).enumerate() {
            let digit = u16::from_be_bytes(fixed::<2>(pair, SQL, f)?);
            if digit >= 10_000 {
                return Err(bad());
            }
            if digit == 0 {
                continue;
            }
            let i = i64::try_from(i).map_err(|_| bad())?;
            // This group's power of ten in the unscaled value.
            let power = 4 * (weight - i) + i64::from(dscale);
            let term = if power >= 0 {
                let p = u32::try_from(power).map_err(|_| out_of_range(SQL, f))?;
                10u128
                    .checked_pow(p)
                    .and_then(|m| m.checked_mul(u128::from(digit)))
                    .ok_or(out_of_range(SQL, f))?
            } else {
                // Digits past the display scale: only trailing zeros are valid.
                let div = match -power {
                    1 => 10,
                    2 => 100,
                    3 => 1000,
                    _ => return Err(bad()),
                };
                if digit % div != 0 {
                    return Err(bad());
                }
                u128::from(digit / div)
            };
            magnitude = magnitude.checked_add(term).ok_or(out_of_range(SQL, f))?;
        }
        let unscaled = if sign == NEGATIVE {
            0i128.checked_sub_unsigned(magnitude)
        } else {
            i128::try_from(magnitude).ok()
        }
        .ok_or(out_of_range(SQL, f))?;
        Ok(Numeric::new(unscaled, dscale))
    }
}

/// 10^n as an `i128`, if it fits.
fn pow10(n: u16) -> Option<i128> {
    10i128.checked_pow(u32::from(n))
}

impl From<i64> for Numeric {
    fn from(v: i64) -> Numeric {
        Numeric::new(i128::from(v), 0)
    }
}

impl From<i32> for Numeric {
    fn from(v: i32) -> Numeric {
        Numeric::new(i128::from(v), 0)
    }
}

impl fmt::Display for Numeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (unscaled, scale) = match self {
            Numeric::Finite { unscaled, scale } => (*unscaled, usize::from(*scale)),
            Numeric::NaN => return f.write_str("NaN"),
            Numeric::Infinity => return f.write_str("Infinity"),
            Numeric::NegInfinity => return f.write_str("-Infinity"),
        };
        if unscaled < 0 {
            f.write_str("-")?;
        }
        let magnitude = unscaled.unsigned_abs();
        if scale == 0 {
            return write!(f, "{magnitude}");
        }
        match u32::try_from(scale)
            .ok()
            .and_then(|s| 10u128.checked_pow(s))
        {
            Some(div) => write!(f, "{}.{:0scale$}", magnitude / div, magnitude % div),
            // 10^scale is past u128, so the whole value is a fraction.
            None => write!(f, "0.{magnitude:0scale$}"),
        }
    }
}

/// Text that is not a numeric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseNumericError {
    /// Not a number's syntax.
    Invalid,
    /// More digits than an `i128` holds, or a scale past [`Numeric::MAX_SCALE`].
    OutOfRange,
}

impl fmt::Display for ParseNumericError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseNumericError::Invalid => "invalid numeric syntax",
            ParseNumericError::OutOfRange => "numeric out of range",
        })
    }
}

impl core::error::Error for ParseNumericError {}

impl FromStr for Numeric {
    type Err = ParseNumericError;

    /// PostgreSQL's input syntax: `[+-]digits[.digits][e[+-]digits]`, `NaN`,
    /// `Infinity`, `-Infinity` (`inf` too; case-insensitive), blanks around.
    fn from_str(s: &str) -> Result<Numeric, ParseNumericError> {
        use ParseNumericError::{Invalid, OutOfRange};
        let s = s.trim_matches(|c: char| c.is_ascii_whitespace());
        let (negative, body) = match s.as_bytes().first() {
            Some(b'-') => (true, s.get(1..).unwrap_or("")),
            Some(b'+') => (false, s.get(1..).unwrap_or("")),
            _ => (false, s),
        };
        if body.eq_ignore_ascii_case("nan") && body.len() == s.len() {
            return Ok(Numeric::NaN);
        }
        if body.eq_ignore_ascii_case("infinity") || body.eq_ignore_ascii_case("inf") {
            return Ok(if negative {
                Numeric::NegInfinity
            } else {
                Numeric::Infinity
            });
        }
        let (mantissa, exponent) = match body.find(['e', 'E']) {
            Some(at) => {
                let exp = body.get(at + 1..).ok_or(Invalid)?;
                let exp: i64 = exp.parse().map_err(|_| Invalid)?;
                (body.get(..at).ok_or(Invalid)?, exp)
            }
            None => (body, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.is_empty() && frac.is_empty() {
            return Err(Invalid);
        }
        let mut unscaled: i128 = 0;
        for c in int.bytes().chain(frac.bytes()) {
            if !c.is_ascii_digit() {
                return Err(Invalid);
            }
            let digit = i128::from(c - b'0');
            unscaled = unscaled
                .checked_mul(10)
                .and_then(|u| {
                    if negative {
                        u.checked_sub(digit)
                    } else {
                        u.checked_add(digit)
                    }
                })
                .ok_or(OutOfRange)?;
        }
        let frac_digits = i64::try_from(frac.len()).map_err(|_| OutOfRange)?;
        let scale = frac_digits.checked_sub(exponent).ok_or(OutOfRange)?;
        if scale < 0 {
            let up = u32::try_from(-scale).map_err(|_| OutOfRange)?;
            let unscaled = 10i128
                .checked_pow(up)
                .and_then(|m| unscaled.checked_mul(m))
                .ok_or(OutOfRange)?;
            return Ok(Numeric::new(unscaled, 0));
        }
        let scale = u16::try_from(scale).map_err(|_| OutOfRange)?;
        if scale > Numeric::MAX_SCALE {
            return Err(OutOfRange);
        }
        Ok(Numeric::new(unscaled, scale))
    }
}

impl ToSql for Numeric {
    fn type_oid(&self) -> u32 {
        oid::NUMERIC
    }
    /// Text and PostgreSQL binary (the preferred format, which hyperd takes too).
    /// HyperBinary only for whole numbers: hyperd reads a format-2 numeric
    /// parameter as an 8-byte integer at scale 0 (16 bytes are refused with
    /// 22P03), so a fraction has no HyperBinary parameter form and is
    /// [`ValueError::UnsupportedFormat`]. HYPERBINARY COPY uses
    /// [`Numeric::encode_hyper`] with the column's scale instead.
    fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
        match format {
            Format::Text => write_display(out, self),
            Format::Binary => self.encode_pg(out)?,
            Format::HyperBinary => {
                let whole = self
                    .rescale(0)
                    .and_then(|n| n.unscaled())
                    .ok_or(ValueError::UnsupportedFormat { sql: SQL, format })?;
                let whole = i64::try_from(whole).map_err(|_| out_of_range(SQL, format))?;
                out.extend_from_slice(&whole.to_le_bytes());
            }
        }
        Ok(true)
    }
}

impl FromSql<'_> for Numeric {
    /// numeric in any format (HyperBinary needs the column's type modifier), and
    /// int2/int4/int8 columns as whole numbers.
    fn decode(ty: ColumnType, format: Format, raw: &[u8]) -> Result<Self, ValueError> {
        match ty.oid {
            oid::NUMERIC => {}
            oid::INT2 | oid::INT4 | oid::INT8 => {
                return i64::decode(ty, format, raw).map(Numeric::from)
            }
            _ => return Err(super::wrong_type("Numeric", ty)),
        }
        match format {
            Format::Text => utf8(raw, SQL, format)?.parse().map_err(|e| match e {
                ParseNumericError::OutOfRange => out_of_range(SQL, format),
                _ => malformed(SQL, format),
            }),
            Format::Binary => Numeric::decode_pg(raw),
            Format::HyperBinary => {
                let (precision, scale) = ty
                    .numeric_precision_scale()
                    .ok_or(ValueError::MissingTypeModifier { sql: SQL })?;
                Numeric::decode_hyper(precision, scale, raw)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use alloc::string::ToString;

    fn n(s: &str) -> Numeric {
        s.parse().unwrap()
    }

    #[test]
    fn text_forms() {
        for s in [
            "0",
            "1.5",
            "-1.5000",
            "12345.67",
            "0.0001",
            "-0.000000000001",
            "NaN",
            "Infinity",
            "-Infinity",
        ] {
            assert_eq!(n(s).to_string(), s);
        }
        assert_eq!(n("1e3").to_string(), "1000");
        assert_eq!(n("1.5E-3").to_string(), "0.0015");
        assert_eq!(n(" +7 ").to_string(), "7");
        assert_eq!(n(".5").to_string(), "0.5");
        assert_eq!(n("-inf"), Numeric::NegInfinity);
        assert_eq!(
            Numeric::new(5, 60).to_string(),
            alloc::format!("0.{}5", "0".repeat(59))
        );
        assert_eq!(
            Numeric::new(i128::MIN, 0).to_string(),
            "-170141183460469231731687303715884105728"
        );
        for bad in ["", "-", ".", "1.2.3", "abc", "1e", "--1", "1 2"] {
            assert_eq!(
                bad.parse::<Numeric>(),
                Err(ParseNumericError::Invalid),
                "{bad}"
            );
        }
        assert_eq!(
            "1e40".parse::<Numeric>(),
            Err(ParseNumericError::OutOfRange)
        );
    }

    #[test]
    fn pg_binary_golden() {
        // 12345.67: ndigits 3, weight 1, dscale 2: 0001 2345 6700.
        let mut out = Vec::new();
        n("12345.67").encode(Format::Binary, &mut out).unwrap();
        assert_eq!(out, [0, 3, 0, 1, 0, 0, 0, 2, 0, 1, 0x09, 0x29, 0x1a, 0x2c]);
        out.clear();
        n("-0.0015").encode(Format::Binary, &mut out).unwrap();
        // ndigits 1, weight -1, negative, dscale 4: 0015.
        assert_eq!(out, [0, 1, 0xff, 0xff, 0x40, 0, 0, 4, 0, 15]);
        out.clear();
        n("0.00").encode(Format::Binary, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 0, 0, 0, 0, 2]);
        out.clear();
        Numeric::NaN.encode(Format::Binary, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 0, 0xc0, 0, 0, 0]);
    }

    #[test]
    fn pg_binary_round_trips() {
        for s in [
            "0",
            "1",
            "-1",
            "10000",
            "100000000",
            "0.1",
            "123.456",
            "-99999999999999999999.999999",
            "170141183460469231731687303715884105727",
            "-170141183460469231731687303715884105728",
            "0.00000000000000000000000000000000000001",
            "NaN",
            "Infinity",
            "-Infinity",
            "1.000",
        ] {
            let v = n(s);
            let mut out = Vec::new();
            v.encode(Format::Binary, &mut out).unwrap();
            assert_eq!(
                Numeric::decode(oid::NUMERIC.into(), Format::Binary, &out).unwrap(),
                v,
                "{s}"
            );
        }
    }

    #[test]
    fn pg_binary_hostile() {
        let ty = oid::NUMERIC.into();
        // A digit ≥ 10000, a bad sign, a short body, a huge weight.
        for raw in [
            &[0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10][..],
            &[0, 0, 0, 0, 0x12, 0x34, 0, 0],
            &[0, 2, 0, 0, 0, 0, 0, 0, 0, 1],
            &[0, 1, 0x7f, 0xff, 0, 0, 0, 0, 0, 1],
            &[0, 0, 0],
            // NaN with digits.
            &[0, 1, 0, 0, 0xc0, 0, 0, 0, 0, 1],
        ] {
            assert!(Numeric::decode(ty, Format::Binary, raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn hyper_binary_golden() {
        // docs/hyper.md §5: 12345.67::numeric(10,2) and (-1.5)::numeric(38,4).
        let t = ColumnType::new(oid::NUMERIC, 655366);
        assert_eq!(t.numeric_precision_scale(), Some((10, 2)));
        let raw = [0x87, 0xd6, 0x12, 0, 0, 0, 0, 0];
        assert_eq!(
            Numeric::decode(t, Format::HyperBinary, &raw).unwrap(),
            n("12345.67")
        );
        let t = ColumnType::new(oid::NUMERIC, 2490376);
        let mut raw = [0xffu8; 16];
        raw[0] = 0x68;
        raw[1] = 0xc5;
        assert_eq!(
            Numeric::decode(t, Format::HyperBinary, &raw).unwrap(),
            n("-1.5000")
        );
        let mut out = Vec::new();
        n("-1.5").encode_hyper(38, 4, &mut out).unwrap();
        assert_eq!(out, raw);
        assert!(matches!(
            Numeric::decode(oid::NUMERIC.into(), Format::HyperBinary, &raw),
            Err(ValueError::MissingTypeModifier { .. })
        ));
        // Too many digits for numeric(3,1); a scale that would lose digits.
        assert!(n("123.4").encode_hyper(3, 1, &mut out).is_err());
        assert!(n("1.25").encode_hyper(10, 1, &mut out).is_err());
        // As a parameter: whole numbers only, as an 8-byte integer.
        out.clear();
        n("-7.00").encode(Format::HyperBinary, &mut out).unwrap();
        assert_eq!(out, (-7i64).to_le_bytes());
        assert!(n("1.5").encode(Format::HyperBinary, &mut out).is_err());
        assert!(Numeric::NaN.encode(Format::HyperBinary, &mut out).is_err());
    }
}
