//! The HYPERBINARY COPY decoder on arbitrary streams: a schema from the first
//! bytes, then the rest fed in chunks of input-chosen sizes. Nothing may panic,
//! and feeding the same bytes in one piece gives the same rows.
#![no_main]

use hyperwire_proto::hyper_copy::{CopyColumn, CopyDecoder, CopySchema};
use hyperwire_proto::value::{oid, ColumnType};
use libfuzzer_sys::fuzz_target;

const TYPES: [ColumnType; 14] = [
    ColumnType::new(oid::BOOL, -1),
    ColumnType::new(oid::INT2, -1),
    ColumnType::new(oid::INT4, -1),
    ColumnType::new(oid::INT8, -1),
    ColumnType::new(oid::FLOAT4, -1),
    ColumnType::new(oid::FLOAT8, -1),
    ColumnType::new(oid::TEXT, -1),
    ColumnType::new(oid::BYTEA, -1),
    ColumnType::new(oid::DATE, -1),
    ColumnType::new(oid::TIMESTAMP, -1),
    ColumnType::new(oid::INTERVAL, -1),
    ColumnType::new(oid::UUID, -1),
    ColumnType::new(oid::NUMERIC, ((10 << 16) | 2) + 4),
    ColumnType::new(oid::NUMERIC, ((38 << 16) | 4) + 4),
];

/// Every row's values, rendered, until the end or the first error.
fn decode(schema: &CopySchema, chunks: &[&[u8]]) -> (Vec<Vec<Option<String>>>, bool) {
    let mut d = CopyDecoder::new(schema.clone()).with_max_value_len(1 << 16);
    let mut rows = Vec::new();
    for chunk in chunks {
        if d.feed(chunk).is_err() {
            return (rows, false);
        }
        loop {
            match d.next_row() {
                Ok(Some(row)) => rows.push(
                    (0..row.len())
                        .map(|i| row.get::<Option<String>>(i).ok().flatten())
                        .collect(),
                ),
                Ok(None) => break,
                Err(_) => return (rows, false),
            }
        }
    }
    (rows, d.finish().is_ok())
}

fuzz_target!(|data: &[u8]| {
    let [n, rest @ ..] = data else {
        return;
    };
    let n = usize::from(n % 6) + 1;
    if rest.len() < n + 1 {
        return;
    }
    let (spec, rest) = rest.split_at(n);
    let columns = spec
        .iter()
        .map(|b| {
            let ty = TYPES[usize::from(b & 0x7f) % TYPES.len()];
            if b & 0x80 != 0 {
                CopyColumn::nullable(ty)
            } else {
                CopyColumn::not_null(ty)
            }
        })
        .collect();
    let Ok(schema) = CopySchema::new(columns) else {
        return;
    };
    let [step, stream @ ..] = rest else {
        return;
    };
    let step = usize::from(*step % 16) + 1;
    let chunked: Vec<&[u8]> = stream.chunks(step).collect();
    let whole = decode(&schema, &[stream]);
    let pieces = decode(&schema, &chunked);
    assert_eq!(whole, pieces, "chunking changed the rows");
});
