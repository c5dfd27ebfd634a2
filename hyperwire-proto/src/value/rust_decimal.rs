//! `rust_decimal::Decimal` as numeric, converted exactly through [`Numeric`]
//! (feature `rust_decimal`). A Decimal holds 96 bits and a scale up to 28: numeric
//! values past that, NaN and infinities are [`ValueError::OutOfRange`].

use alloc::vec::Vec;

use rust_decimal::Decimal;

use super::{oid, ColumnType, FromSql, Numeric, ToSql, ValueError};
use crate::codec::Format;

impl From<Decimal> for Numeric {
    fn from(d: Decimal) -> Numeric {
        // A Decimal's scale is at most 28.
        Numeric::new(d.mantissa(), u16::try_from(d.scale()).unwrap_or(u16::MAX))
    }
}

impl TryFrom<Numeric> for Decimal {
    type Error = ValueError;
    fn try_from(n: Numeric) -> Result<Decimal, ValueError> {
        let range = ValueError::OutOfRange {
            sql: "numeric",
            format: Format::Binary,
        };
        match n {
            Numeric::Finite { unscaled, scale } => {
                Decimal::try_from_i128_with_scale(unscaled, u32::from(scale)).map_err(|_| range)
            }
            _ => Err(range),
        }
    }
}

impl ToSql for Decimal {
    fn type_oid(&self) -> u32 {
        oid::NUMERIC
    }
    fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
        Numeric::from(*self).encode(format, out)
    }
}

impl FromSql<'_> for Decimal {
    fn decode(ty: ColumnType, format: Format, raw: &[u8]) -> Result<Self, ValueError> {
        let n = Numeric::decode(ty, format, raw)?;
        Decimal::try_from(n).map_err(|_| ValueError::OutOfRange {
            sql: "numeric",
            format,
        })
    }
}

impl super::ArrayElement for Decimal {
    const ELEMENT_OID: u32 = oid::NUMERIC;
    const ARRAY_OID: u32 = oid::NUMERIC_ARRAY;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use core::str::FromStr;

    #[test]
    fn decimal_round_trips() {
        for s in [
            "0",
            "-1.50",
            "79228162514264337593543950335",
            "0.0000000000000000000000000001",
        ] {
            let d = Decimal::from_str(s).unwrap();
            for f in [Format::Text, Format::Binary] {
                let mut out = Vec::new();
                d.encode(f, &mut out).unwrap();
                let back = Decimal::decode(oid::NUMERIC.into(), f, &out).unwrap();
                assert_eq!((back, back.scale()), (d, d.scale()), "{s} {f:?}");
            }
        }
        assert!(Decimal::try_from(Numeric::NaN).is_err());
        assert!(Decimal::try_from(Numeric::new(i128::MAX, 0)).is_err());
    }
}
