//! Reading HyperBinary (format 2) arrays, as hyperd sends them (measured; this
//! crate does not write them: hyperd takes array parameters in PostgreSQL binary
//! when their type is declared).
//!
//! An empty array is no bytes at all. Otherwise, for fixed-size elements: every
//! element's value (a NULL's slot is there, zeroed), then a NULL bitmap of
//! ⌈n/8⌉ bytes (bit i, least significant first, set for a NULL), so the count
//! follows from the length. For text and bytea: a u32 count, one u32 end offset
//! per element into the data, the bitmap, then the data. All little-endian.

use alloc::vec::Vec;

use super::{malformed, oid, ColumnType, FromSql, ValueError};
use crate::codec::Format;

const SQL: &str = "array";
const F: Format = Format::HyperBinary;

/// How an element is laid out: `Some(width)` for fixed-size, `None` for sized.
fn element_width(elem: ColumnType) -> Result<Option<usize>, ValueError> {
    Ok(Some(match elem.oid {
        oid::BOOL => 1,
        oid::INT2 => 2,
        oid::INT4 | oid::FLOAT4 | oid::DATE | oid::OID => 4,
        oid::INT8 | oid::FLOAT8 | oid::TIME | oid::TIMESTAMP | oid::TIMESTAMPTZ => 8,
        oid::INTERVAL | oid::UUID => 16,
        oid::NUMERIC => match elem.numeric_precision_scale() {
            Some((precision, _)) if precision <= 18 => 8,
            Some(_) => 16,
            // The array column's modifier is its elements'.
            None => return Err(ValueError::MissingTypeModifier { sql: "numeric" }),
        },
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::JSON | oid::BYTEA => {
            return Ok(None)
        }
        // "char" elements are 4 bytes in arrays but 1 in a column: not read here.
        _ => {
            return Err(ValueError::UnsupportedFormat {
                sql: SQL,
                format: F,
            })
        }
    }))
}

fn bitmap_len(n: usize) -> usize {
    n.div_ceil(8)
}

fn is_null(bitmap: &[u8], i: usize) -> bool {
    bitmap.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 == 1)
}

fn u32_at(raw: &[u8], at: usize) -> Result<usize, ValueError> {
    let bytes = raw
        .get(at..at.checked_add(4).ok_or(malformed(SQL, F))?)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .ok_or(malformed(SQL, F))?;
    usize::try_from(u32::from_le_bytes(bytes)).map_err(|_| malformed(SQL, F))
}

/// Decodes a HyperBinary array of `elem` elements.
pub(super) fn decode<T: for<'b> FromSql<'b>>(
    elem: ColumnType,
    raw: &[u8],
) -> Result<Vec<T>, ValueError> {
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    let bad = || malformed(SQL, F);
    let mut items = Vec::new();
    match element_width(elem)? {
        Some(width) => {
            // n·width + ⌈n/8⌉ = len grows with n, so at most one n fits.
            let per_eight = width
                .checked_mul(8)
                .and_then(|w| w.checked_add(1))
                .ok_or_else(bad)?;
            let guess = raw.len().checked_mul(8).ok_or_else(bad)? / per_eight;
            let n = [guess, guess + 1]
                .into_iter()
                .find(|n| n * width + bitmap_len(*n) == raw.len())
                .ok_or_else(bad)?;
            let (values, bitmap) = raw.split_at_checked(n * width).ok_or_else(bad)?;
            items.reserve(n);
            for (i, value) in values.chunks_exact(width).enumerate() {
                items.push(if is_null(bitmap, i) {
                    T::from_null(elem)?
                } else {
                    T::decode(elem, F, value)?
                });
            }
        }
        None => {
            let n = u32_at(raw, 0)?;
            // Each element takes at least its 4-byte offset: reject impossible
            // counts before allocating.
            if n > raw.len() / 4 {
                return Err(bad());
            }
            let data_at = 4 + 4 * n + bitmap_len(n);
            let bitmap = raw.get(4 + 4 * n..data_at).ok_or_else(bad)?;
            let data = raw.get(data_at..).ok_or_else(bad)?;
            items.reserve(n);
            let mut start = 0;
            for i in 0..n {
                let end = u32_at(raw, 4 + 4 * i)?;
                let value = data.get(start..end).ok_or_else(bad)?;
                items.push(if is_null(bitmap, i) {
                    T::from_null(elem)?
                } else {
                    T::decode(elem, F, value)?
                });
                start = end;
            }
            if start != data.len() {
                return Err(bad());
            }
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::value::{Numeric, Uuid};
    use alloc::string::{String, ToString};
    use alloc::vec;

    // Bytes as hyperd sent them.
    #[test]
    fn hyperd_arrays() {
        let ints = ColumnType::of(oid::INT4);
        assert_eq!(
            decode::<Option<i32>>(ints, &[1, 0, 0, 0, 0, 0, 0, 0, 2]).unwrap(),
            vec![Some(1), None]
        );
        let mut nine = Vec::new();
        for i in 1..=8i32 {
            nine.extend_from_slice(&i.to_le_bytes());
        }
        nine.extend_from_slice(&[0, 0, 0, 0, 0, 1]);
        let got = decode::<Option<i32>>(ints, &nine).unwrap();
        assert_eq!(got.len(), 9);
        assert_eq!((got[7], got[8]), (Some(8), None));
        assert_eq!(decode::<i32>(ints, &[]).unwrap(), vec![]);
        let text = [
            7, 0, 0, 0, 3, 0, 0, 0, 6, 0, 0, 0, 6, 0, 0, 0, 9, 0, 0, 0, 9, 0, 0, 0, 13, 0, 0, 0,
            16, 0, 0, 0, 4, b'a', b' ', b'b', b'c', b'"', b'd', b'x', b',', b'y', b'N', b'U', b'L',
            b'L', b'[', b'z', b']',
        ];
        let got = decode::<Option<String>>(ColumnType::of(oid::TEXT), &text).unwrap();
        let want = ["a b", "c\"d", "", "x,y", "", "NULL", "[z]"];
        assert_eq!(got.len(), 7);
        assert_eq!(got[2], None);
        for (i, w) in want.iter().enumerate().filter(|(i, _)| *i != 2) {
            assert_eq!(got[i].as_deref(), Some(*w));
        }
        let uuid = [
            0x11, 0x0a, 0x38, 0xbd, 0xb9, 0x6b, 0x6d, 0xbb, 0xf8, 0x4e, 0x0b, 0x9c, 0x99, 0xbc,
            0xee, 0xa0, 0,
        ];
        assert_eq!(
            decode::<Uuid>(ColumnType::of(oid::UUID), &uuid).unwrap()[0].to_string(),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        );
        assert!(matches!(
            decode::<Numeric>(ColumnType::of(oid::NUMERIC), &[0; 9]),
            Err(ValueError::MissingTypeModifier { .. })
        ));
    }

    #[test]
    fn hostile_arrays() {
        let ints = ColumnType::of(oid::INT4);
        // No count fits these lengths; NULL slots of NOT NULL types.
        assert!(decode::<i32>(ints, &[1, 0, 0, 0]).is_err());
        assert!(decode::<i32>(ints, &[0, 0, 0, 0, 1]).is_err());
        let text = ColumnType::of(oid::TEXT);
        for raw in [
            &[0xff, 0xff, 0xff, 0xff][..],
            &[1, 0, 0, 0, 9, 0, 0, 0, 0, b'a'],
            &[2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, b'a'],
            &[1, 0, 0, 0, 1, 0, 0, 0, 0, b'a', b'b'],
        ] {
            assert!(decode::<String>(text, raw).is_err(), "{raw:?}");
        }
    }
}
