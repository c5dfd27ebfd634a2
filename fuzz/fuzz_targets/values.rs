//! The value decoders on arbitrary bytes: every SQL type the value layer knows,
//! in text, PostgreSQL binary and HyperBinary, read into every Rust type that
//! could be asked for. Nothing may panic; values that decode and re-encode must
//! decode to the same value.
#![no_main]

use hyperwire_proto::value::{
    decode_column, oid, ColumnType, Date, Interval, Json, Numeric, Time, Timestamp, TimestampTz,
    ToSql, Uuid,
};
use hyperwire_proto::Format;
use libfuzzer_sys::fuzz_target;

const TYPES: [u32; 45] = [
    oid::BOOL, oid::BYTEA, oid::CHAR, oid::NAME, oid::INT8, oid::INT2, oid::INT4, oid::TEXT,
    oid::OID, oid::JSON, oid::JSON_ARRAY, oid::FLOAT4, oid::FLOAT8, oid::UNKNOWN,
    oid::BOOL_ARRAY, oid::BYTEA_ARRAY, oid::CHAR_ARRAY, oid::NAME_ARRAY, oid::INT2_ARRAY,
    oid::INT4_ARRAY, oid::TEXT_ARRAY, oid::BPCHAR_ARRAY, oid::VARCHAR_ARRAY, oid::INT8_ARRAY,
    oid::FLOAT4_ARRAY, oid::FLOAT8_ARRAY, oid::OID_ARRAY, oid::BPCHAR, oid::VARCHAR, oid::DATE,
    oid::TIME, oid::TIMESTAMP, oid::TIMESTAMP_ARRAY, oid::DATE_ARRAY, oid::TIME_ARRAY,
    oid::TIMESTAMPTZ, oid::TIMESTAMPTZ_ARRAY, oid::INTERVAL, oid::INTERVAL_ARRAY,
    oid::NUMERIC_ARRAY, oid::NUMERIC, oid::UUID, oid::UUID_ARRAY, oid::JSONB, oid::JSONB_ARRAY,
];

/// Decodes `raw` as `T`; if it decodes, encodes it back in the same format and
/// checks the second decode gives the same value.
fn round_trip<T>(ty: ColumnType, format: Format, raw: &[u8])
where
    T: for<'a> hyperwire_proto::value::FromSql<'a> + ToSql + PartialEq + std::fmt::Debug,
{
    let Ok(v) = decode_column::<T>(ty, format, Some(raw)) else {
        return;
    };
    let mut out = Vec::new();
    if let Ok(true) = v.encode(format, &mut out) {
        if let Ok(again) = decode_column::<T>(ty, format, Some(&out)) {
            assert_eq!(v, again, "{ty:?} {format:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [t, f, m0, m1, raw @ ..] = data else {
        return;
    };
    let type_oid = TYPES[*t as usize % TYPES.len()];
    let format = match f % 3 {
        0 => Format::Text,
        1 => Format::Binary,
        _ => Format::HyperBinary,
    };
    // A type modifier (numeric precision and scale) from the input too.
    let ty = ColumnType::new(type_oid, i32::from(i16::from_le_bytes([*m0, *m1])));
    let raw = Some(raw);
    let _ = decode_column::<bool>(ty, format, raw);
    let _ = decode_column::<i16>(ty, format, raw);
    let _ = decode_column::<i32>(ty, format, raw);
    let _ = decode_column::<i64>(ty, format, raw);
    let _ = decode_column::<f32>(ty, format, raw);
    let _ = decode_column::<f64>(ty, format, raw);
    let _ = decode_column::<&str>(ty, format, raw);
    let _ = decode_column::<String>(ty, format, raw);
    let _ = decode_column::<&[u8]>(ty, format, raw);
    let _ = decode_column::<Vec<u8>>(ty, format, raw);
    let _ = decode_column::<Numeric>(ty, format, raw);
    let _ = decode_column::<Date>(ty, format, raw);
    let _ = decode_column::<Time>(ty, format, raw);
    let _ = decode_column::<Timestamp>(ty, format, raw);
    let _ = decode_column::<TimestampTz>(ty, format, raw);
    let _ = decode_column::<Interval>(ty, format, raw);
    let _ = decode_column::<Uuid>(ty, format, raw);
    let _ = decode_column::<Json<&str>>(ty, format, raw);
    let _ = decode_column::<Vec<Option<i64>>>(ty, format, raw);
    let _ = decode_column::<Vec<Option<String>>>(ty, format, raw);
    let _ = decode_column::<Vec<Option<Numeric>>>(ty, format, raw);
    let _ = decode_column::<Option<Vec<Option<Uuid>>>>(ty, format, raw);
    if let Some(raw) = raw {
        round_trip::<i64>(ty, format, raw);
        round_trip::<Date>(ty, format, raw);
        round_trip::<Timestamp>(ty, format, raw);
        round_trip::<Interval>(ty, format, raw);
        round_trip::<Uuid>(ty, format, raw);
    }
});
