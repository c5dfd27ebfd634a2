//! Decoding fixed-size values, and `&str`/`&[u8]`, allocates nothing.
#![allow(clippy::unwrap_used, missing_docs)]

use hyperwire_proto::value::{
    oid, ColumnType, Date, FromSql, Interval, Numeric, Time, Timestamp, TimestampTz, ToSql, Uuid,
};
use hyperwire_proto::Format;

/// Encodes `v` in each format, then counts the allocations of decoding it.
fn decodes_without_allocating<T>(v: T, ty: ColumnType, formats: &[Format])
where
    T: ToSql + for<'a> FromSql<'a> + PartialEq + std::fmt::Debug,
{
    for f in formats {
        let mut raw = Vec::new();
        v.encode(*f, &mut raw).unwrap();
        let mut back = None;
        let info = allocation_counter::measure(|| back = Some(T::decode(ty, *f, &raw)));
        assert_eq!(back.unwrap().unwrap(), v);
        assert_eq!(info.count_total, 0, "{v:?} in {f:?} allocated");
    }
}

#[test]
fn decoding_values_does_not_allocate() {
    let all = [Format::Text, Format::Binary, Format::HyperBinary];
    decodes_without_allocating(true, oid::BOOL.into(), &all);
    decodes_without_allocating(i64::MIN, oid::INT8.into(), &all);
    decodes_without_allocating(-1.5f64, oid::FLOAT8.into(), &all);
    let n: Numeric = "-12345678901234567890.123".parse().unwrap();
    let ty = ColumnType::numeric(38, 3);
    decodes_without_allocating(n, ty, &all[..2]);
    let mut raw = Vec::new();
    n.encode_hyper(38, 3, &mut raw).unwrap();
    let info = allocation_counter::measure(|| {
        assert_eq!(Numeric::decode(ty, Format::HyperBinary, &raw), Ok(n));
    });
    assert_eq!(info.count_total, 0);
    decodes_without_allocating(Date::from_ymd(-43, 3, 15).unwrap(), oid::DATE.into(), &all);
    decodes_without_allocating(Time(45_296_000_001), oid::TIME.into(), &all);
    let ts: Timestamp = "2024-06-15 13:14:15.123456".parse().unwrap();
    decodes_without_allocating(ts, oid::TIMESTAMP.into(), &all);
    decodes_without_allocating(TimestampTz(ts.0), oid::TIMESTAMPTZ.into(), &all);
    decodes_without_allocating(Interval::new(-14, 3, -1), oid::INTERVAL.into(), &all);
    decodes_without_allocating(Uuid([0xa5; 16]), oid::UUID.into(), &all);

    // Borrowed text and bytes, and errors, allocate nothing either.
    let raw = "héllo".as_bytes();
    let info = allocation_counter::measure(|| {
        let s = <&str>::decode(oid::TEXT.into(), Format::Binary, raw).unwrap();
        let b = <&[u8]>::decode(oid::BYTEA.into(), Format::HyperBinary, raw).unwrap();
        let j = <&str>::decode(oid::JSONB.into(), Format::Binary, b"\x01{}").unwrap();
        assert_eq!((s, b, j), ("héllo", raw, "{}"));
        assert!(Numeric::decode(oid::NUMERIC.into(), Format::Binary, &[0; 3]).is_err());
        assert!(Date::decode(oid::INT4.into(), Format::Binary, &[0; 4]).is_err());
    });
    assert_eq!(info.count_total, 0);
    // The counter counts: an owned String does allocate.
    let info = allocation_counter::measure(|| {
        assert_eq!(
            String::decode(oid::TEXT.into(), Format::Text, raw).unwrap(),
            "héllo"
        );
    });
    assert!(info.count_total > 0);
}
