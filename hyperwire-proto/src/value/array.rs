//! One-dimensional arrays in text (`{1,NULL,"a b"}`, or Hyper's `[1,NULL,"a b"]`)
//! and PostgreSQL binary: `Vec<T>` and `Vec<Option<T>>` of the element types.
//! HyperBinary arrays are read (see `hyper_array`), never written.
//!
//! Binary layout: ndim (i32, 0 for an empty array, else 1), has-NULL flag (i32),
//! element OID, then per dimension its length and lower bound (i32 each), then each
//! element as an i32 length (-1 for NULL) and its bytes, all big-endian.

use alloc::string::String;
use alloc::vec::Vec;

use super::{
    malformed, oid, utf8, wrong_type, ColumnType, Date, FromSql, Interval, Json, Jsonb, Numeric,
    Time, Timestamp, TimestampTz, ToSql, Uuid, ValueError,
};
use crate::codec::Format;

const SQL: &str = "array";

/// A type that can be an element of an array parameter or column.
pub trait ArrayElement {
    /// The element type's OID.
    const ELEMENT_OID: u32;
    /// The OID of the array of it.
    const ARRAY_OID: u32;
}

macro_rules! element {
    ($($t:ty => $elem:expr, $array:expr;)+) => {$(
        impl ArrayElement for $t {
            const ELEMENT_OID: u32 = $elem;
            const ARRAY_OID: u32 = $array;
        }
    )+};
}

element! {
    bool => oid::BOOL, oid::BOOL_ARRAY;
    i8 => oid::CHAR, oid::CHAR_ARRAY;
    i16 => oid::INT2, oid::INT2_ARRAY;
    i32 => oid::INT4, oid::INT4_ARRAY;
    i64 => oid::INT8, oid::INT8_ARRAY;
    u32 => oid::OID, oid::OID_ARRAY;
    f32 => oid::FLOAT4, oid::FLOAT4_ARRAY;
    f64 => oid::FLOAT8, oid::FLOAT8_ARRAY;
    str => oid::TEXT, oid::TEXT_ARRAY;
    String => oid::TEXT, oid::TEXT_ARRAY;
    [u8] => oid::BYTEA, oid::BYTEA_ARRAY;
    Vec<u8> => oid::BYTEA, oid::BYTEA_ARRAY;
    Numeric => oid::NUMERIC, oid::NUMERIC_ARRAY;
    Date => oid::DATE, oid::DATE_ARRAY;
    Time => oid::TIME, oid::TIME_ARRAY;
    Timestamp => oid::TIMESTAMP, oid::TIMESTAMP_ARRAY;
    TimestampTz => oid::TIMESTAMPTZ, oid::TIMESTAMPTZ_ARRAY;
    Interval => oid::INTERVAL, oid::INTERVAL_ARRAY;
    Uuid => oid::UUID, oid::UUID_ARRAY;
}

impl<T> ArrayElement for Json<T> {
    const ELEMENT_OID: u32 = oid::JSON;
    const ARRAY_OID: u32 = oid::JSON_ARRAY;
}

impl<T> ArrayElement for Jsonb<T> {
    const ELEMENT_OID: u32 = oid::JSONB;
    const ARRAY_OID: u32 = oid::JSONB_ARRAY;
}

impl<T: ArrayElement + ?Sized> ArrayElement for &T {
    const ELEMENT_OID: u32 = T::ELEMENT_OID;
    const ARRAY_OID: u32 = T::ARRAY_OID;
}

impl<T: ArrayElement> ArrayElement for Option<T> {
    const ELEMENT_OID: u32 = T::ELEMENT_OID;
    const ARRAY_OID: u32 = T::ARRAY_OID;
}

// ---- encoding ----

/// Whether an element's text must be quoted inside `{...}`.
fn needs_quotes(text: &[u8]) -> bool {
    text.is_empty()
        || text.eq_ignore_ascii_case(b"NULL")
        || text
            .iter()
            .any(|b| matches!(b, b'{' | b'}' | b',' | b'"' | b'\\') || b.is_ascii_whitespace())
}

fn encode_text<T: ToSql>(items: &[T], out: &mut Vec<u8>) -> Result<(), ValueError> {
    out.push(b'{');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let start = out.len();
        if !item.encode(Format::Text, out)? {
            out.extend_from_slice(b"NULL");
            continue;
        }
        if out.get(start..).is_some_and(needs_quotes) {
            let text = out.split_off(start);
            out.push(b'"');
            for b in text {
                if b == b'"' || b == b'\\' {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out.push(b'"');
        }
    }
    out.push(b'}');
    Ok(())
}

fn too_long() -> ValueError {
    ValueError::OutOfRange {
        sql: SQL,
        format: Format::Binary,
    }
}

fn encode_binary<T: ToSql + ArrayElement>(
    items: &[T],
    out: &mut Vec<u8>,
) -> Result<(), ValueError> {
    let count = i32::try_from(items.len()).map_err(|_| too_long())?;
    let ndim: i32 = if items.is_empty() { 0 } else { 1 };
    out.extend_from_slice(&ndim.to_be_bytes());
    let flag_at = out.len();
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&T::ELEMENT_OID.to_be_bytes());
    if ndim == 1 {
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(&1i32.to_be_bytes());
    }
    let mut has_null = false;
    for item in items {
        let len_at = out.len();
        out.extend_from_slice(&(-1i32).to_be_bytes());
        if item.encode(Format::Binary, out)? {
            let len = i32::try_from(out.len() - len_at - 4).map_err(|_| too_long())?;
            if let Some(slot) = out.get_mut(len_at..len_at + 4) {
                slot.copy_from_slice(&len.to_be_bytes());
            }
        } else {
            has_null = true;
        }
    }
    if has_null {
        if let Some(slot) = out.get_mut(flag_at..flag_at + 4) {
            slot.copy_from_slice(&1i32.to_be_bytes());
        }
    }
    Ok(())
}

impl<T: ToSql + ArrayElement> ToSql for [T] {
    fn type_oid(&self) -> u32 {
        T::ARRAY_OID
    }
    fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
        match format {
            Format::Text => encode_text(self, out)?,
            Format::Binary => encode_binary(self, out)?,
            Format::HyperBinary => return Err(ValueError::UnsupportedFormat { sql: SQL, format }),
        }
        Ok(true)
    }
}

impl<T: ToSql + ArrayElement> ToSql for Vec<T> {
    fn type_oid(&self) -> u32 {
        T::ARRAY_OID
    }
    fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
        self.as_slice().encode(format, out)
    }
}

// ---- decoding ----

/// Reads big-endian i32s off the front of a slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn i32(&mut self) -> Result<i32, ValueError> {
        let (head, rest) = self
            .0
            .split_at_checked(4)
            .ok_or(malformed(SQL, Format::Binary))?;
        self.0 = rest;
        let bytes = <[u8; 4]>::try_from(head).map_err(|_| malformed(SQL, Format::Binary))?;
        Ok(i32::from_be_bytes(bytes))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ValueError> {
        let (head, rest) = self
            .0
            .split_at_checked(n)
            .ok_or(malformed(SQL, Format::Binary))?;
        self.0 = rest;
        Ok(head)
    }
}

fn decode_binary<T: for<'b> FromSql<'b>>(
    elem: ColumnType,
    raw: &[u8],
) -> Result<Vec<T>, ValueError> {
    let bad = || malformed(SQL, Format::Binary);
    let mut r = Reader(raw);
    let ndim = r.i32()?;
    let flags = r.i32()?;
    let elem_oid = u32::from_be_bytes(r.i32()?.to_be_bytes());
    if !(0..=1).contains(&flags) || elem_oid != elem.oid {
        return Err(bad());
    }
    let count = match ndim {
        0 => 0,
        1 => {
            let count = usize::try_from(r.i32()?).map_err(|_| bad())?;
            let _lower_bound = r.i32()?;
            count
        }
        // Multidimensional arrays do not fit a Vec.
        _ => return Err(bad()),
    };
    // Every element takes at least its 4-byte length: a count the bytes cannot
    // hold is rejected before anything is allocated.
    if count > r.0.len() / 4 {
        return Err(bad());
    }
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        let len = r.i32()?;
        let item = if len == -1 {
            T::from_null(elem)?
        } else {
            let len = usize::try_from(len).map_err(|_| bad())?;
            T::decode(elem, Format::Binary, r.take(len)?)?
        };
        items.push(item);
    }
    if !r.0.is_empty() {
        return Err(bad());
    }
    Ok(items)
}

/// What follows a `[lower:upper]=` prefix (PostgreSQL's bounds other than 1).
fn strip_bounds(s: &str) -> Option<&str> {
    let (bounds, rest) = s.strip_prefix('[')?.split_once("]=")?;
    let bounds_ok = !bounds.is_empty()
        && bounds
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b':' || b == b'-');
    bounds_ok.then_some(rest)
}

fn decode_text<T: for<'b> FromSql<'b>>(elem: ColumnType, raw: &[u8]) -> Result<Vec<T>, ValueError> {
    let bad = || malformed(SQL, Format::Text);
    let s = utf8(raw, SQL, Format::Text)?.trim_matches(|c: char| c.is_ascii_whitespace());
    let s = strip_bounds(s).unwrap_or(s);
    // PostgreSQL writes `{...}`; Hyper writes `[...]` with the same quoting.
    let inner = s
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .or_else(|| s.strip_prefix('[').and_then(|s| s.strip_suffix(']')))
        .ok_or_else(bad)?;
    let mut items = Vec::new();
    if inner
        .trim_matches(|c: char| c.is_ascii_whitespace())
        .is_empty()
    {
        return Ok(items);
    }
    let mut scratch = String::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
        scratch.clear();
        let quoted = chars.next_if_eq(&'"').is_some();
        let mut escaped_any = false;
        loop {
            match chars.peek().copied() {
                None if quoted => return Err(bad()),
                None => break,
                Some('"') if quoted => {
                    chars.next();
                    break;
                }
                Some(',') if !quoted => break,
                Some('{' | '}' | '"') if !quoted => return Err(bad()),
                Some('\\') => {
                    chars.next();
                    scratch.push(chars.next().ok_or_else(bad)?);
                    escaped_any = true;
                }
                Some(c) => {
                    chars.next();
                    scratch.push(c);
                }
            }
        }
        if !quoted {
            let trimmed = scratch
                .trim_end_matches(|c: char| c.is_ascii_whitespace())
                .len();
            scratch.truncate(trimmed);
        }
        while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
        let item = if !quoted && !escaped_any && scratch.eq_ignore_ascii_case("NULL") {
            T::from_null(elem)?
        } else if !quoted && scratch.is_empty() {
            return Err(bad());
        } else {
            T::decode(elem, Format::Text, scratch.as_bytes())?
        };
        items.push(item);
        match chars.next() {
            None => break,
            Some(',') => {}
            Some(_) => return Err(bad()),
        }
    }
    Ok(items)
}

impl<'a, T: ArrayElement + for<'b> FromSql<'b>> FromSql<'a> for Vec<T> {
    /// A one-dimensional array (or an empty one) of a known element type, in any
    /// format. Elements are decoded as `T` from the array's element type.
    fn decode(ty: ColumnType, format: Format, raw: &'a [u8]) -> Result<Self, ValueError> {
        let elem = oid::element_of(ty.oid).ok_or(wrong_type("Vec<T>", ty))?;
        // An array column's modifier is its elements' (numeric(10,2)[]).
        let elem = ColumnType::new(elem, ty.modifier);
        match format {
            Format::Text => decode_text(elem, raw),
            Format::Binary => decode_binary(elem, raw),
            Format::HyperBinary => super::hyper_array::decode(elem, raw),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn round<T>(v: Vec<T>)
    where
        T: ToSql + ArrayElement + for<'b> FromSql<'b> + PartialEq + core::fmt::Debug,
    {
        for f in [Format::Text, Format::Binary] {
            let mut out = Vec::new();
            v.encode(f, &mut out).unwrap();
            assert_eq!(
                Vec::<T>::decode(v.type_oid().into(), f, &out).unwrap(),
                v,
                "{f:?}"
            );
        }
    }

    #[test]
    fn arrays_round_trip() {
        round(vec![1i32, -2, i32::MAX]);
        round(Vec::<i64>::new());
        round(vec![Some(1.5f64), None, Some(f64::INFINITY)]);
        round(vec![
            "plain".to_string(),
            String::new(),
            "NULL".to_string(),
            "a b,\"c\"\\{}".to_string(),
            "héllo".to_string(),
        ]);
        round(vec![Some("x".to_string()), None]);
        round(vec![Numeric::new(-15, 1), Numeric::NaN]);
        round(vec![Date(0), Date::INFINITY]);
        round(vec![vec![0u8, 1], vec![]]);
        round(vec![Uuid([7; 16])]);
    }

    #[test]
    fn text_layouts() {
        let mut out = Vec::new();
        vec![Some("a b"), None, Some("")]
            .encode(Format::Text, &mut out)
            .unwrap();
        assert_eq!(out, br#"{"a b",NULL,""}"#);
        let ty = oid::INT4_ARRAY.into();
        assert_eq!(
            Vec::<i32>::decode(ty, Format::Text, b"[0:1]={1,2}").unwrap(),
            vec![1, 2]
        );
        // Hyper's text form.
        assert_eq!(
            Vec::<Option<String>>::decode(
                oid::TEXT_ARRAY.into(),
                Format::Text,
                br#"["a b","c\"d",NULL,"NULL","[z]",""]"#
            )
            .unwrap(),
            vec![
                Some("a b".to_string()),
                Some("c\"d".to_string()),
                None,
                Some("NULL".to_string()),
                Some("[z]".to_string()),
                Some(String::new())
            ]
        );
        assert_eq!(Vec::<i32>::decode(ty, Format::Text, b"[]").unwrap(), vec![]);
        assert_eq!(
            Vec::<i32>::decode(ty, Format::Text, b"{ 1 , 2 }").unwrap(),
            vec![1, 2]
        );
        assert_eq!(
            Vec::<Option<i32>>::decode(ty, Format::Text, b"{null,3}").unwrap(),
            vec![None, Some(3)]
        );
        assert!(Vec::<i32>::decode(ty, Format::Text, b"{NULL}").is_err());
        for bad in [
            &b"{1,2"[..],
            b"{{1},{2}}",
            b"{1,,2}",
            b"{\"1}",
            b"1,2",
            b"{1\"}",
        ] {
            assert!(
                Vec::<i32>::decode(ty, Format::Text, bad).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn binary_layout_and_hostile_input() {
        let mut out = Vec::new();
        vec![Some(1i32), None]
            .encode(Format::Binary, &mut out)
            .unwrap();
        assert_eq!(
            out,
            [
                0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 23, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0,
                1, 0xff, 0xff, 0xff, 0xff
            ]
        );
        let ty = oid::INT4_ARRAY.into();
        // A huge count, a wrong element type, trailing bytes, two dimensions.
        let huge = [
            0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1,
        ];
        assert!(Vec::<i32>::decode(ty, Format::Binary, &huge).is_err());
        let mut wrong = out.clone();
        wrong[11] = 20;
        assert!(Vec::<Option<i32>>::decode(ty, Format::Binary, &wrong).is_err());
        let mut trailing = out.clone();
        trailing.push(0);
        assert!(Vec::<Option<i32>>::decode(ty, Format::Binary, &trailing).is_err());
        let mut two = out.clone();
        two[3] = 2;
        assert!(Vec::<Option<i32>>::decode(ty, Format::Binary, &two).is_err());
        assert!(Vec::<i32>::decode(oid::INT4.into(), Format::Binary, &out).is_err());
    }
}
