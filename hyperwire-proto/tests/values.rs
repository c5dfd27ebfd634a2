//! The value layer and the HYPERBINARY COPY codec: round trips of random values in
//! every format, golden bytes measured on hyperd (docs/hyper.md §5 and §6), chunking
//! invariance of the COPY decoder, and hostile bytes that must not panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::fmt::Debug;

use hyperwire_proto::hyper_copy::{
    CopyColumn, CopyDecoder, CopyEncoder, CopyError, CopySchema, HEADER,
};
use hyperwire_proto::value::{
    oid, ColumnType, Date, FromSql, Interval, Numeric, Time, Timestamp, TimestampTz, ToSql, Uuid,
};
use hyperwire_proto::Format;
use proptest::prelude::*;

const ALL: [Format; 3] = [Format::Text, Format::Binary, Format::HyperBinary];
const PG: [Format; 2] = [Format::Text, Format::Binary];

fn round_trip<T>(v: &T, ty: ColumnType, formats: &[Format])
where
    T: ToSql + for<'a> FromSql<'a> + PartialEq + Debug,
{
    for f in formats {
        let mut out = Vec::new();
        assert!(v.encode(*f, &mut out).unwrap());
        let back = T::decode(ty, *f, &out).unwrap_or_else(|e| panic!("{v:?} in {f:?}: {e}"));
        assert_eq!(&back, v, "{f:?}");
    }
}

fn numeric() -> impl Strategy<Value = Numeric> {
    prop_oneof![
        8 => (any::<i128>(), 0u16..60).prop_map(|(u, s)| Numeric::new(u, s)),
        2 => (any::<i64>(), 0u16..8).prop_map(|(u, s)| Numeric::new(i128::from(u), s)),
        1 => Just(Numeric::NaN),
        1 => Just(Numeric::Infinity),
        1 => Just(Numeric::NegInfinity),
    ]
}

proptest! {
    #[test]
    fn integers_and_floats(a in any::<i16>(), b in any::<i32>(), c in any::<i64>(), o in any::<u32>(), x in any::<f32>(), y in any::<f64>()) {
        round_trip(&a, oid::INT2.into(), &ALL);
        round_trip(&b, oid::INT4.into(), &ALL);
        round_trip(&c, oid::INT8.into(), &ALL);
        round_trip(&o, oid::OID.into(), &ALL);
        for f in ALL {
            let mut out = Vec::new();
            x.encode(f, &mut out).unwrap();
            let back = f32::decode(oid::FLOAT4.into(), f, &out).unwrap();
            prop_assert!(back == x || (back.is_nan() && x.is_nan()));
            out.clear();
            y.encode(f, &mut out).unwrap();
            let back = f64::decode(oid::FLOAT8.into(), f, &out).unwrap();
            prop_assert!(back == y || (back.is_nan() && y.is_nan()));
        }
    }

    #[test]
    fn numerics(n in numeric()) {
        round_trip(&n, oid::NUMERIC.into(), &PG);
        // Through its text form too.
        prop_assert_eq!(n.to_string().parse::<Numeric>().unwrap(), n);
    }

    #[test]
    fn numerics_in_hyper_binary(u in any::<i64>(), scale in 0u16..18) {
        let digits = u.unsigned_abs().checked_ilog10().map_or(1, |d| d + 1);
        let n = Numeric::new(i128::from(u), scale);
        for precision in [18u16, 38] {
            let mut out = Vec::new();
            let fits = digits <= u32::from(precision);
            prop_assert_eq!(n.encode_hyper(precision, scale, &mut out).is_ok(), fits);
            if fits {
                let ty = ColumnType::numeric(precision, scale);
                prop_assert_eq!(Numeric::decode(ty, Format::HyperBinary, &out).unwrap(), n);
            }
        }
    }

    #[test]
    fn dates_and_times(d in (i32::MIN + 1)..i32::MAX, t in 0i64..=86_400_000_000, ts in (i64::MIN + 1)..i64::MAX) {
        let hyper_ok = |days: i64| (-2_451_545..=i64::from(u32::MAX) - 2_451_545).contains(&days);
        round_trip(&Date(d), oid::DATE.into(), if hyper_ok(i64::from(d)) { &ALL } else { &PG });
        round_trip(&Time(t), oid::TIME.into(), &ALL);
        round_trip(&Timestamp(ts), oid::TIMESTAMP.into(), &PG);
        round_trip(&TimestampTz(ts), oid::TIMESTAMPTZ.into(), &PG);
        if ts.checked_add(2_451_545 * 86_400_000_000).is_some() {
            round_trip(&Timestamp(ts), oid::TIMESTAMP.into(), &[Format::HyperBinary]);
        }
    }

    #[test]
    fn intervals(months in any::<i32>(), days in any::<i32>(), micros in any::<i64>()) {
        round_trip(&Interval::new(months, days, micros), oid::INTERVAL.into(), &ALL);
    }

    #[test]
    fn uuids_and_text(bytes in any::<[u8; 16]>(), s in ".*", b in proptest::collection::vec(any::<u8>(), 0..40)) {
        round_trip(&Uuid(bytes), oid::UUID.into(), &ALL);
        round_trip(&s, oid::TEXT.into(), &ALL);
        round_trip(&b, oid::BYTEA.into(), &ALL);
    }

    #[test]
    fn arrays(ints in proptest::collection::vec(proptest::option::of(any::<i32>()), 0..20),
              strings in proptest::collection::vec("\\PC*", 0..8),
              numerics in proptest::collection::vec(numeric(), 0..8),
              dates in proptest::collection::vec((i32::MIN + 1)..i32::MAX, 0..8)) {
        round_trip(&ints, oid::INT4_ARRAY.into(), &PG);
        round_trip(&strings, oid::TEXT_ARRAY.into(), &PG);
        round_trip(&numerics, oid::NUMERIC_ARRAY.into(), &PG);
        let dates: Vec<Date> = dates.into_iter().map(Date).collect();
        round_trip(&dates, oid::DATE_ARRAY.into(), &PG);
    }

    /// No decoder panics on arbitrary bytes, in any format, for any type.
    #[test]
    fn decoders_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..64), modifier in any::<i32>()) {
        for f in ALL {
            for t in [oid::NUMERIC, oid::DATE, oid::TIME, oid::TIMESTAMP, oid::TIMESTAMPTZ, oid::INTERVAL,
                      oid::UUID, oid::JSONB, oid::TEXT, oid::INT4_ARRAY, oid::TEXT_ARRAY, oid::NUMERIC_ARRAY] {
                let ty = ColumnType::new(t, modifier);
                let _ = Numeric::decode(ty, f, &raw);
                let _ = Date::decode(ty, f, &raw);
                let _ = Time::decode(ty, f, &raw);
                let _ = Timestamp::decode(ty, f, &raw);
                let _ = TimestampTz::decode(ty, f, &raw);
                let _ = Interval::decode(ty, f, &raw);
                let _ = Uuid::decode(ty, f, &raw);
                let _ = String::decode(ty, f, &raw);
                let _ = Vec::<Option<i32>>::decode(ty, f, &raw);
                let _ = Vec::<Option<String>>::decode(ty, f, &raw);
                let _ = Vec::<Numeric>::decode(ty, f, &raw);
            }
        }
    }
}

// ---- HYPERBINARY COPY ----

/// `ct(i int, t text, d date, n numeric(10,2), b bool, bi bigint NOT NULL)` from
/// docs/hyper.md §6.
fn ct_schema() -> CopySchema {
    CopySchema::new(vec![
        CopyColumn::nullable(oid::INT4),
        CopyColumn::nullable(oid::TEXT),
        CopyColumn::nullable(oid::DATE),
        CopyColumn::nullable(ColumnType::numeric(10, 2)),
        CopyColumn::nullable(oid::BOOL),
        CopyColumn::not_null(oid::INT8),
    ])
    .unwrap()
}

fn ct_stream() -> Vec<u8> {
    let mut s = HEADER.to_vec();
    s.extend_from_slice(&[0, 2, 0, 0, 0]);
    s.extend_from_slice(&[0, 3, 0, 0, 0, b'a', b',', b'b']);
    s.extend_from_slice(&[0, 0x97, 0x8a, 0x25, 0]);
    s.extend_from_slice(&[0, 0x7d, 0, 0, 0, 0, 0, 0, 0]);
    s.extend_from_slice(&[0, 0]);
    s.extend_from_slice(&[0x14, 0, 0, 0, 0, 0, 0, 0]);
    s.extend_from_slice(&[1, 1, 1, 1, 1]);
    s.extend_from_slice(&[0x15, 0, 0, 0, 0, 0, 0, 0]);
    s
}

#[test]
fn copy_encoder_matches_hyperd_bytes() {
    assert_eq!(&HEADER[..11], b"HPRCPY\0\0\0\0\0");
    let mut enc = CopyEncoder::new(ct_schema());
    let n: Numeric = "1.25".parse().unwrap();
    enc.push_row(&[
        &2i32,
        &"a,b",
        &Date::from_ymd(2024, 1, 1).unwrap(),
        &n,
        &false,
        &20i64,
    ])
    .unwrap();
    enc.push_null().unwrap();
    enc.push(&None::<String>).unwrap();
    enc.push(&None::<Date>).unwrap();
    enc.push(&None::<Numeric>).unwrap();
    enc.push(&None::<bool>).unwrap();
    // An int4 widens into the bigint column.
    enc.push(&21i32).unwrap();
    assert_eq!(enc.rows(), 2);
    assert_eq!(enc.finish().unwrap(), &ct_stream()[..]);
}

#[test]
fn copy_decoder_reads_hyperd_bytes() {
    let mut dec = CopyDecoder::new(ct_schema());
    dec.feed(&ct_stream()).unwrap();
    let row = dec.next_row().unwrap().unwrap();
    assert_eq!(row.get::<Option<i32>>(0).unwrap(), Some(2));
    assert_eq!(row.get::<&str>(1).unwrap(), "a,b");
    assert_eq!(
        row.get::<Date>(2).unwrap(),
        Date::from_ymd(2024, 1, 1).unwrap()
    );
    assert_eq!(row.get::<Numeric>(3).unwrap().to_string(), "1.25");
    assert!(!row.get::<bool>(4).unwrap());
    assert_eq!(row.get::<i64>(5).unwrap(), 20);
    let row = dec.next_row().unwrap().unwrap();
    assert_eq!(row.values().filter(Option::is_none).count(), 5);
    assert!(matches!(
        row.get::<i32>(0),
        Err(CopyError::Value { column: 0, .. })
    ));
    assert_eq!(row.get::<i64>(5).unwrap(), 21);
    assert!(dec.next_row().unwrap().is_none());
    assert_eq!(dec.finish().unwrap(), 2);
}

#[test]
fn copy_encoder_refuses_bad_rows() {
    let mut enc = CopyEncoder::new(ct_schema());
    // Wrong count, NULL in NOT NULL, a string for an int column, too many digits.
    assert!(matches!(
        enc.push_row(&[&1i32]),
        Err(CopyError::ColumnCount { .. })
    ));
    let none: Option<i64> = None;
    let n: Numeric = "123456789.5".parse().unwrap();
    let d = Date(0);
    assert!(matches!(
        enc.push_row(&[&1i32, &"x", &d, &Numeric::new(1, 0), &true, &none]),
        Err(CopyError::NullInNotNull { column: 5 })
    ));
    assert!(matches!(
        enc.push_row(&[&"1", &"x", &d, &Numeric::new(1, 0), &true, &1i64]),
        Err(CopyError::TypeMismatch { column: 0, .. })
    ));
    assert!(matches!(
        enc.push_row(&[&1i32, &"x", &d, &n, &true, &1i64]),
        Err(CopyError::Value { column: 3, .. })
    ));
    // Nothing of the refused rows was written; an unfinished row cannot finish.
    assert_eq!(enc.pending(), &HEADER[..]);
    enc.push(&1i32).unwrap();
    assert!(enc.finish().is_err());
    assert!(CopySchema::new(vec![CopyColumn::nullable(oid::NUMERIC)]).is_err());
    assert!(CopySchema::new(vec![CopyColumn::nullable(oid::INT4_ARRAY)]).is_err());
}

#[test]
fn copy_encoder_hands_out_bounded_chunks() {
    let schema = CopySchema::new(vec![CopyColumn::not_null(oid::INT8)]).unwrap();
    let mut enc = CopyEncoder::new(schema.clone()).with_chunk_size(100);
    let mut sent = Vec::new();
    for i in 0..1000i64 {
        enc.push_row(&[&i]).unwrap();
        while let Some(chunk) = enc.next_chunk() {
            assert_eq!(chunk.len(), 100);
            sent.extend_from_slice(chunk);
            let n = chunk.len();
            enc.consume(n);
        }
    }
    sent.extend_from_slice(enc.finish().unwrap());
    assert_eq!(sent.len(), 19 + 8000);
    let mut dec = CopyDecoder::new(schema);
    dec.feed(&sent).unwrap();
    let mut i = 0;
    while let Some(row) = dec.next_row().unwrap() {
        assert_eq!(row.get::<i64>(0).unwrap(), i);
        i += 1;
    }
    assert_eq!(dec.finish().unwrap(), 1000);
}

#[test]
fn copy_decoder_refuses_hostile_streams() {
    let schema = || CopySchema::new(vec![CopyColumn::nullable(oid::TEXT)]).unwrap();
    let run = |bytes: &[u8]| -> Result<u64, CopyError> {
        let mut dec = CopyDecoder::new(schema()).with_max_value_len(1 << 20);
        dec.feed(bytes)?;
        while dec.next_row()?.is_some() {}
        dec.finish()
    };
    assert_eq!(run(b"PGCOPY\n\xff\r\n\0"), Err(CopyError::BadSignature));
    assert_eq!(run(b""), Err(CopyError::Truncated));
    assert_eq!(run(&HEADER[..18]), Err(CopyError::Truncated));
    assert_eq!(run(&HEADER), Ok(0));
    let mut oids = HEADER;
    oids[12] = 1;
    assert_eq!(run(&oids), Err(CopyError::UnsupportedFlags(0x1_0000)));
    // Non-critical flags and a header extension are skipped.
    let mut ext = HEADER.to_vec();
    ext[14] = 1;
    ext[18] = 3;
    ext.extend_from_slice(&[9, 9, 9, 1]);
    assert_eq!(run(&ext), Ok(1));
    let mut huge = HEADER.to_vec();
    huge.extend_from_slice(&[0, 0xff, 0xff, 0xff, 0xff]);
    assert!(matches!(run(&huge), Err(CopyError::ValueTooLong { .. })));
    let mut bad_null = HEADER.to_vec();
    bad_null.push(2);
    assert!(matches!(
        run(&bad_null),
        Err(CopyError::BadNullIndicator { byte: 2, .. })
    ));
    let mut truncated = HEADER.to_vec();
    truncated.extend_from_slice(&[0, 5, 0, 0, 0, b'a']);
    assert_eq!(run(&truncated), Err(CopyError::Truncated));
    // Invalid UTF-8 is the value's error, not the stream's.
    let mut dec = CopyDecoder::new(schema());
    let mut bad_text = HEADER.to_vec();
    bad_text.extend_from_slice(&[0, 1, 0, 0, 0, 0xff]);
    dec.feed(&bad_text).unwrap();
    let row = dec.next_row().unwrap().unwrap();
    assert!(matches!(row.get::<&str>(0), Err(CopyError::Value { .. })));
    assert_eq!(row.raw(0), Some(Some(&[0xff][..])));
}

#[derive(Debug, Clone, PartialEq)]
struct MixedRow(
    Option<i32>,
    String,
    Option<Numeric>,
    i64,
    Option<Date>,
    Option<Vec<u8>>,
);

fn mixed_schema() -> CopySchema {
    CopySchema::new(vec![
        CopyColumn::nullable(oid::INT4),
        CopyColumn::not_null(oid::VARCHAR),
        CopyColumn::nullable(ColumnType::numeric(30, 3)),
        CopyColumn::not_null(oid::INT8),
        CopyColumn::nullable(oid::DATE),
        CopyColumn::nullable(oid::BYTEA),
    ])
    .unwrap()
}

fn mixed_row() -> impl Strategy<Value = MixedRow> {
    (
        proptest::option::of(any::<i32>()),
        "\\PC{0,20}",
        proptest::option::of(
            (-(10i128.pow(27)) + 1..10i128.pow(27)).prop_map(|u| Numeric::new(u, 3)),
        ),
        any::<i64>(),
        proptest::option::of((-2_451_545i32..1_000_000).prop_map(Date)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..10)),
    )
        .prop_map(|(a, b, c, d, e, f)| MixedRow(a, b, c, d, e, f))
}

fn decode_all(stream: &[u8], cuts: &[usize]) -> Vec<MixedRow> {
    let mut dec = CopyDecoder::new(mixed_schema());
    let mut rows = Vec::new();
    let mut at = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    bounds.sort_unstable();
    bounds.push(stream.len());
    for end in bounds {
        dec.feed(&stream[at..end]).unwrap();
        at = end;
        while let Some(r) = dec.next_row().unwrap() {
            rows.push(MixedRow(
                r.get(0).unwrap(),
                r.get(1).unwrap(),
                r.get(2).unwrap(),
                r.get(3).unwrap(),
                r.get(4).unwrap(),
                r.get(5).unwrap(),
            ));
        }
    }
    assert_eq!(dec.finish().unwrap(), rows.len() as u64);
    rows
}

proptest! {
    /// Encoded rows decode to the same values, however the stream is cut.
    #[test]
    fn copy_round_trip_is_chunking_invariant(
        rows in proptest::collection::vec(mixed_row(), 0..30),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
    ) {
        let mut enc = CopyEncoder::new(mixed_schema()).with_chunk_size(7);
        let mut stream = Vec::new();
        for r in &rows {
            enc.push_row(&[&r.0, &r.1, &r.2, &r.3, &r.4, &r.5]).unwrap();
            while let Some(c) = enc.next_chunk() {
                prop_assert!(c.len() == 7);
                stream.extend_from_slice(c);
                let n = c.len();
                enc.consume(n);
            }
        }
        stream.extend_from_slice(enc.finish().unwrap());
        prop_assert_eq!(&decode_all(&stream, &cuts), &rows);
        // One byte at a time.
        let single: Vec<usize> = (0..stream.len()).collect();
        prop_assert_eq!(&decode_all(&stream, &single), &rows);
    }

    /// Arbitrary bytes after a valid header never panic and never yield more than
    /// they could hold.
    #[test]
    fn copy_decoder_survives_garbage(body in proptest::collection::vec(any::<u8>(), 0..200), split in 1usize..16) {
        let mut stream = HEADER.to_vec();
        stream.extend_from_slice(&body);
        let mut dec = CopyDecoder::new(mixed_schema()).with_max_value_len(64);
        let mut rows = 0usize;
        'feed: for chunk in stream.chunks(split) {
            if dec.feed(chunk).is_err() {
                break;
            }
            loop {
                match dec.next_row() {
                    Ok(Some(r)) => {
                        rows += 1;
                        for i in 0..r.len() {
                            let _ = r.get::<Option<String>>(i);
                            let _ = r.get::<Option<Numeric>>(i);
                        }
                    }
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
        }
        let _ = dec.finish();
        // Every row takes at least 1 + 4 + 1 + 8 + 1 + 1 bytes.
        prop_assert!(rows * 16 <= body.len());
    }
}
