//! Bulk formats on hyperd: ARROWSTREAM COPY with Arrow types (every type hyperd
//! converts to Arrow round-trips with NULLs and extremes), HYPERBINARY COPY, and
//! HyperBinary DataRows read with per-query result formats; each bulk path moves
//! 10 million rows and compares checksums computed by hyperd and by the client.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use hyperwire_blocking::{Client, Format};
use hyperwire_proto::hyper_copy::{CopyColumn, CopyDecoder, CopyEncoder, CopySchema};
use hyperwire_proto::value::oid;
use hyperwire_tests as harness;

/// Rows of each bulk path (about 25 s for all three in a debug build).
const TEN_MILLION: u64 = 10_000_000;

fn hyper() -> Client {
    Client::connect(&harness::hyper().conninfo(harness::HYPER_USER)).unwrap()
}

// ---- every type through ARROWSTREAM ---------------------------------------------

/// Every type hyperd converts to Arrow (uuid and arrays it refuses: 0A000), with
/// the Arrow type it sends, and the rows: minimum, maximum, NULL, ordinary.
const TYPES: &[(&str, &str, [&str; 3])] = &[
    ("b", "bool", ["false", "true", "true"]),
    ("i2", "smallint", ["-32768", "32767", "7"]),
    ("i4", "int", ["-2147483648", "2147483647", "-7"]),
    (
        "i8",
        "bigint",
        ["-9223372036854775808", "9223372036854775807", "42"],
    ),
    ("f4", "real", ["'-Infinity'", "'3.4028235e38'", "1.5"]),
    (
        "f8",
        "double precision",
        ["-1.7976931348623157e308", "'Infinity'", "3.25"],
    ),
    (
        "n1",
        "numeric(10,2)",
        ["-99999999.99", "99999999.99", "12345.67"],
    ),
    (
        "n2",
        "numeric(38,6)",
        [
            "'-99999999999999999999999999999999.999999'",
            "'99999999999999999999999999999999.999999'",
            "-0.000001",
        ],
    ),
    ("t", "text", ["''", "'héllo wörld ✓ 日本語'", "'a,b\"c\\d'"]),
    ("vc", "varchar(10)", ["''", "'abcdefghij'", "'ab'"]),
    ("c4", "char(4)", ["'a'", "'abcd'", "'ab'"]),
    ("c1", "char(1)", ["'a'", "'z'", "'é'"]),
    (
        "d",
        "date",
        ["'1600-02-29'", "'9999-12-31'", "'2024-06-15'"],
    ),
    (
        "tm",
        "time",
        ["'00:00:00'", "'23:59:59.999999'", "'13:14:15.123456'"],
    ),
    (
        "ts",
        "timestamp",
        [
            "'1850-01-01 00:00:00'",
            "'9999-12-31 23:59:59.999999'",
            "'2024-06-15 13:14:15.123456'",
        ],
    ),
    (
        "tz",
        "timestamptz",
        [
            "'1850-01-01 00:00:00+00'",
            "'9999-12-31 23:59:59.999999+00'",
            "'2024-06-15 13:14:15.123456+02'",
        ],
    ),
    (
        "iv",
        "interval",
        [
            "'-1000 years -11 months -30 days -23:59:59.999999'",
            "'1000 years 11 months 30 days 23:59:59.999999'",
            "'1 year 2 months 3 days 04:05:06.789'",
        ],
    ),
    ("by", "bytea", ["''", "'\\x00ff7f80'", "'\\xdeadbeef'"]),
    ("js", "json", ["'{}'", "'{\"a\": [1, 2, \"é\"]}'", "'[]'"]),
    ("o", "oid", ["'0'", "'4294967295'", "'42'"]),
];

fn create_all_types(c: &mut Client, table: &str) {
    let cols: Vec<String> = TYPES.iter().map(|(n, t, _)| format!("{n} {t}")).collect();
    c.batch_execute(&format!(
        "CREATE TEMP TABLE {table} (id bigint NOT NULL, {})",
        cols.join(", ")
    ))
    .unwrap();
}

/// The equal rows of `a` and `b` (joined on id, NULL equal to NULL).
fn equal_rows(c: &mut Client, a: &str, b: &str) -> i64 {
    let same: Vec<String> = TYPES
        .iter()
        .map(|(n, t, _)| {
            // json has no equality: compare its text.
            let (x, y) = if *t == "json" {
                (format!("a.{n}::text"), format!("b.{n}::text"))
            } else {
                (format!("a.{n}"), format!("b.{n}"))
            };
            format!("(({x} IS NULL AND {y} IS NULL) OR {x} = {y})")
        })
        .collect();
    let sql = format!(
        "SELECT count(*)::bigint FROM {a} a JOIN {b} b ON a.id = b.id WHERE {}",
        same.join(" AND ")
    );
    c.query_one(&sql, &[]).unwrap().get(0).unwrap()
}

fn copy_out_batches(c: &mut Client, sql: &str) -> (Arc<Schema>, Vec<RecordBatch>) {
    let mut out = c.copy_out_arrow(sql).unwrap();
    let batches: Vec<RecordBatch> = out.by_ref().map(|b| b.unwrap()).collect();
    let schema = out.schema().expect("a schema");
    (schema, batches)
}

#[test]
fn every_type_round_trips_through_arrowstream_copy() {
    let mut c = hyper();
    create_all_types(&mut c, "arrow_src");
    create_all_types(&mut c, "arrow_dst");
    for row in 0..3 {
        let values: Vec<String> = TYPES
            .iter()
            .map(|(_, t, v)| format!("CAST({} AS {t})", v[row]))
            .collect();
        c.batch_execute(&format!(
            "INSERT INTO arrow_src VALUES ({row}, {})",
            values.join(", ")
        ))
        .unwrap();
    }
    let nulls = vec!["NULL"; TYPES.len()].join(", ");
    c.batch_execute(&format!("INSERT INTO arrow_src VALUES (3, {nulls})"))
        .unwrap();

    let (schema, batches) = copy_out_batches(
        &mut c,
        "COPY (SELECT * FROM arrow_src ORDER BY id) TO STDOUT WITH (FORMAT ARROWSTREAM)",
    );
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 4);
    // The Arrow types hyperd sends (docs/hyper.md §6), as the README's table says.
    let types: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect();
    assert_eq!(
        types,
        [
            "id Int64",
            "b Boolean",
            "i2 Int16",
            "i4 Int32",
            "i8 Int64",
            "f4 Float32",
            "f8 Float64",
            "n1 Decimal128(10, 2)",
            "n2 Decimal128(38, 6)",
            "t Utf8",
            "vc Utf8",
            "c4 Utf8",
            "c1 Utf8",
            "d Date64",
            "tm Time64(µs)",
            "ts Timestamp(µs)",
            "tz Timestamp(µs, \"Utc\")",
            "iv Interval(MonthDayNano)",
            "by Binary",
            "js Utf8",
            "o UInt32",
        ]
    );
    assert!(!schema.field(0).is_nullable());
    assert!(schema.fields().iter().skip(1).all(|f| f.is_nullable()));
    // Spot checks on the client: extremes and NULLs arrive exact.
    let all = arrow_select_concat(&schema, &batches);
    let i8s = all.column(4).as_primitive::<Int64Type>();
    assert_eq!(i8s.value(0), i64::MIN);
    assert_eq!(i8s.value(1), i64::MAX);
    assert!(i8s.is_null(3));
    let n2 = all.column(8).as_primitive::<Decimal128Type>();
    assert_eq!(n2.value(1), 10i128.pow(38) - 1);
    assert_eq!(n2.value(2), -1);
    let f8 = all.column(6).as_primitive::<Float64Type>();
    assert_eq!(f8.value(0), -f64::MAX);
    assert_eq!(f8.value(1), f64::INFINITY);
    assert_eq!(
        all.column(9).as_string::<i32>().value(1),
        "héllo wörld ✓ 日本語"
    );
    for col in all.columns().iter().skip(1) {
        assert_eq!(col.null_count(), 1, "{:?}", col.data_type());
        assert!(col.is_null(3));
    }

    // Back in through ARROWSTREAM COPY IN, batch by batch.
    let mut w = c
        .copy_in_arrow(
            "COPY arrow_dst FROM STDIN WITH (FORMAT ARROWSTREAM)",
            &schema,
        )
        .unwrap();
    for b in &batches {
        w.write_batch(b).unwrap();
    }
    assert_eq!(w.finish().unwrap(), 4);
    assert_eq!(equal_rows(&mut c, "arrow_src", "arrow_dst"), 4);
    // And out again: the same Arrow values.
    let (_, again) = copy_out_batches(
        &mut c,
        "COPY (SELECT * FROM arrow_dst ORDER BY id) TO STDOUT WITH (FORMAT ARROWSTREAM)",
    );
    assert_eq!(arrow_select_concat(&schema, &again), all);
}

/// The batches as one.
fn arrow_select_concat(schema: &Arc<Schema>, batches: &[RecordBatch]) -> RecordBatch {
    arrow_select::concat::concat_batches(schema, batches).unwrap()
}

#[test]
fn arrowstream_errors_are_typed_and_leave_the_connection_usable() {
    let mut c = hyper();
    c.batch_execute("CREATE TEMP TABLE arrow_nn (i bigint NOT NULL)")
        .unwrap();
    // Nullability must match (docs/hyper.md §6): a server error, not a panic.
    let schema = Arc::new(Schema::new(vec![Field::new("i", DataType::Int64, true)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(Int64Array::from(vec![Some(1), None])) as ArrayRef],
    )
    .unwrap();
    let r = (|| {
        let mut w = c.copy_in_arrow(
            "COPY arrow_nn FROM STDIN WITH (FORMAT ARROWSTREAM)",
            &schema,
        )?;
        w.write_batch(&batch)?;
        w.finish()
    })();
    match r {
        Err(hyperwire_blocking::ArrowCopyError::Client(e)) => {
            assert_eq!(e.sqlstate(), Some("42804"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // uuid has no Arrow conversion on hyperd.
    let r = c
        .copy_out_arrow("COPY (SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid) TO STDOUT WITH (FORMAT ARROWSTREAM)")
        .map(|b| b.count());
    assert!(r.is_err());
    // Dropped after the first batch: cancelled and drained.
    {
        let mut out = c
            .copy_out_arrow("COPY (SELECT g FROM generate_series(1, 3000000) g) TO STDOUT WITH (FORMAT ARROWSTREAM)")
            .unwrap();
        assert!(out.next().unwrap().unwrap().num_rows() > 0);
    }
    let one: i32 = c.query_one("SELECT 1", &[]).unwrap().get(0).unwrap();
    assert_eq!(one, 1);
}

#[test]
fn arrays_round_trip_through_arrowstream_as_lists() {
    let mut c = hyper();
    c.batch_execute("CREATE TEMP TABLE arr_src (id int NOT NULL, a array(int), t array(text))")
        .unwrap();
    c.batch_execute("CREATE TEMP TABLE arr_dst (id int NOT NULL, a array(int), t array(text))")
        .unwrap();
    c.batch_execute(
        "INSERT INTO arr_src VALUES (1, ARRAY[1, NULL, -2147483648], ARRAY['a', NULL, 'é']), \
         (2, ARRAY[]::array(int), ARRAY[]::array(text)), (3, NULL, NULL)",
    )
    .unwrap();
    let (schema, batches) = copy_out_batches(
        &mut c,
        "COPY (SELECT * FROM arr_src ORDER BY id) TO STDOUT WITH (FORMAT ARROWSTREAM)",
    );
    assert_eq!(
        schema.field(1).data_type(),
        &DataType::List(Arc::new(Field::new("element", DataType::Int32, true)))
    );
    let mut w = c
        .copy_in_arrow("COPY arr_dst FROM STDIN WITH (FORMAT ARROWSTREAM)", &schema)
        .unwrap();
    for b in &batches {
        w.write_batch(b).unwrap();
    }
    assert_eq!(w.finish().unwrap(), 3);
    let same: i64 = c
        .query_one(
            "SELECT count(*)::bigint FROM arr_src s JOIN arr_dst d ON s.id = d.id \
             WHERE coalesce(s.a::text, 'N') = coalesce(d.a::text, 'N') \
             AND coalesce(s.t::text, 'N') = coalesce(d.t::text, 'N')",
            &[],
        )
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(same, 3);
}

#[test]
fn arrowstream_raw_bytes_out_and_in() {
    use std::io::Write;
    let mut c = hyper();
    let sql = "COPY (SELECT g::bigint AS id, g::text AS t FROM generate_series(1, 100000) g) \
               TO STDOUT WITH (FORMAT ARROWSTREAM)";
    let mut raw = Vec::new();
    let n = c.copy_out_to(sql, &mut raw).unwrap();
    assert_eq!(n, raw.len() as u64);
    // The bytes are an Arrow IPC stream any reader takes.
    let mut dec = hyperwire_arrow::ArrowStreamDecoder::new();
    dec.feed(&raw).unwrap();
    let mut rows = 0;
    while let Some(b) = dec.next_batch().unwrap() {
        rows += b.num_rows();
    }
    assert_eq!(dec.finish().unwrap(), 100_000);
    assert_eq!(rows, 100_000);
    // And back in as they are.
    c.batch_execute("CREATE TEMP TABLE raw_in (id bigint NOT NULL, t text NOT NULL)")
        .unwrap();
    let mut copy = c
        .copy_in("COPY raw_in FROM STDIN WITH (FORMAT ARROWSTREAM)")
        .unwrap();
    for chunk in raw.chunks(7919) {
        copy.write_all(chunk).unwrap();
    }
    assert_eq!(copy.finish().unwrap(), 100_000);
    // A writer that fails: the COPY is cancelled, the connection stays usable.
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    assert!(c.copy_out_to(sql, &mut Full).is_err());
    let one: i32 = c.query_one("SELECT 1", &[]).unwrap().get(0).unwrap();
    assert_eq!(one, 1);
}

// ---- HyperBinary DataRows with per-query formats ---------------------------------

#[test]
fn query_with_formats_reads_hyperbinary_with_parameters() {
    let mut c = hyper();
    let rows = c
        .query_with_formats(
            "SELECT $1::bigint + 1 AS a, $2::text AS t, 12345.67::numeric(10,2) AS n",
            &[&41i64, &"hé"],
            &[Format::HyperBinary],
        )
        .unwrap();
    assert_eq!(rows[0].columns()[0].format(), Format::HyperBinary);
    assert_eq!(rows[0].get::<i64>(0).unwrap(), 42);
    assert_eq!(rows[0].get::<String>(1).unwrap(), "hé");
    assert_eq!(rows[0].get::<String>(2).unwrap(), "12345.67");
    // One format per column.
    let rows = c
        .query_with_formats(
            "SELECT $1::int AS a, $1::int AS b, $1::int AS c",
            &[&7i32],
            &[Format::Text, Format::Binary, Format::HyperBinary],
        )
        .unwrap();
    let formats: Vec<Format> = rows[0].columns().iter().map(|c| c.format()).collect();
    assert_eq!(formats, [Format::Text, Format::Binary, Format::HyperBinary]);
    for i in 0..3 {
        assert_eq!(rows[0].get::<i32>(i).unwrap(), 7);
    }
    // Errors are the server's.
    let e = c
        .query_with_formats("SELECT 1/$1::int", &[&0i32], &[Format::HyperBinary])
        .unwrap_err();
    assert_eq!(e.sqlstate(), Some("22012"));
}

#[test]
fn hyperbinary_results_are_refused_off_hyper() {
    let mut c = Client::connect(&harness::pg15().conninfo(harness::TRUST_USER)).unwrap();
    let e = c
        .query_with_formats("SELECT 1", &[], &[Format::HyperBinary])
        .unwrap_err();
    assert!(e.to_string().contains("HyperBinary"), "{e}");
    let rows = c
        .query_with_formats("SELECT $1::int8", &[&5i64], &[Format::Binary])
        .unwrap();
    assert_eq!(rows[0].get::<i64>(0).unwrap(), 5);
}

// ---- the bulk paths, n rows each -------------------------------------------------

/// The value of column `v` in row `k` (NULL every 7th row).
fn v_of(k: u64) -> Option<i32> {
    (k % 7 != 0).then(|| (k % 1000) as i32 - 500)
}

/// The client-side checksums of rows 1..=n: (count, sum(id), count(v), sum(v)).
fn expected(n: u64) -> (i64, i64, i64, i64) {
    let (mut count_v, mut sum_v) = (0i64, 0i64);
    for k in 1..=n {
        if let Some(v) = v_of(k) {
            count_v += 1;
            sum_v += i64::from(v);
        }
    }
    (n as i64, (n * (n + 1) / 2) as i64, count_v, sum_v)
}

/// The same checksums computed by hyperd.
fn sql_sums(c: &mut Client, table: &str) -> (i64, i64, i64, i64) {
    let r = c
        .query_one(
            &format!(
                "SELECT count(*)::bigint, sum(id)::bigint, count(v)::bigint, sum(v)::bigint FROM {table}"
            ),
            &[],
        )
        .unwrap();
    (
        r.get(0).unwrap(),
        r.get(1).unwrap(),
        r.get(2).unwrap(),
        r.get::<Option<i64>>(3).unwrap().unwrap_or(0),
    )
}

/// (id, v, f): a NOT NULL bigint, a nullable int, a NOT NULL double.
fn hb_schema() -> CopySchema {
    CopySchema::new(vec![
        CopyColumn::not_null(oid::INT8),
        CopyColumn::nullable(oid::INT4),
        CopyColumn::not_null(oid::FLOAT8),
    ])
    .unwrap()
}

fn timed<T>(what: &str, n: u64, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    let s = t.elapsed().as_secs_f64();
    eprintln!(
        "{what}: {n} rows in {s:.2} s ({:.1} M rows/s)",
        n as f64 / s / 1e6
    );
    r
}

/// HYPERBINARY encoder → COPY IN, then COPY OUT → HYPERBINARY decoder.
fn hyperbinary_copy(n: u64) {
    let mut c = hyper();
    c.batch_execute(
        "CREATE TEMP TABLE hb (id bigint NOT NULL, v int, f double precision NOT NULL)",
    )
    .unwrap();
    let loaded = timed("HYPERBINARY COPY IN", n, || {
        let mut enc = CopyEncoder::new(hb_schema());
        let mut copy = c
            .copy_in("COPY hb FROM STDIN WITH (FORMAT HYPERBINARY)")
            .unwrap();
        for k in 1..=n {
            enc.push_row(&[&(k as i64), &v_of(k), &(k as f64 * 0.5)])
                .unwrap();
            while let Some(chunk) = enc.next_chunk() {
                let len = chunk.len();
                std::io::Write::write_all(&mut copy, chunk).unwrap();
                enc.consume(len);
            }
        }
        std::io::Write::write_all(&mut copy, enc.finish().unwrap()).unwrap();
        copy.finish().unwrap()
    });
    assert_eq!(loaded, n);
    let want = expected(n);
    assert_eq!(sql_sums(&mut c, "hb"), want);

    let got = timed("HYPERBINARY COPY OUT", n, || {
        let mut dec = CopyDecoder::new(hb_schema());
        let mut out = c
            .copy_out("COPY hb TO STDOUT WITH (FORMAT HYPERBINARY)")
            .unwrap();
        let (mut rows, mut sum_id, mut count_v, mut sum_v, mut sum_f) =
            (0i64, 0i64, 0i64, 0i64, 0f64);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let len = std::io::Read::read(&mut out, &mut buf).unwrap();
            if len == 0 {
                break;
            }
            dec.feed(&buf[..len]).unwrap();
            while let Some(row) = dec.next_row().unwrap() {
                rows += 1;
                sum_id += row.get::<i64>(0).unwrap();
                if let Some(v) = row.get::<Option<i32>>(1).unwrap() {
                    count_v += 1;
                    sum_v += i64::from(v);
                }
                sum_f += row.get::<f64>(2).unwrap();
            }
        }
        assert_eq!(dec.finish().unwrap(), n);
        assert_eq!(sum_f, (n * (n + 1)) as f64 / 4.0);
        (rows, sum_id, count_v, sum_v)
    });
    assert_eq!(got, want);
}

fn arrow_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("v", DataType::Int32, true),
        Field::new("f", DataType::Float64, false),
    ]))
}

/// ARROWSTREAM COPY IN of Arrow batches, then COPY OUT to Arrow batches.
fn arrowstream_copy(n: u64) {
    const BATCH: u64 = 65_536;
    let mut c = hyper();
    c.batch_execute(
        "CREATE TEMP TABLE ar (id bigint NOT NULL, v int, f double precision NOT NULL)",
    )
    .unwrap();
    let schema = arrow_schema();
    let loaded = timed("ARROWSTREAM COPY IN", n, || {
        let mut w = c
            .copy_in_arrow("COPY ar FROM STDIN WITH (FORMAT ARROWSTREAM)", &schema)
            .unwrap();
        let mut start = 1;
        while start <= n {
            let end = (start + BATCH - 1).min(n);
            let id: ArrayRef = Arc::new(Int64Array::from_iter_values(start as i64..=end as i64));
            let v: ArrayRef = Arc::new(Int32Array::from_iter((start..=end).map(v_of)));
            let f: ArrayRef = Arc::new(Float64Array::from_iter_values(
                (start..=end).map(|k| k as f64 * 0.5),
            ));
            w.write_batch(&RecordBatch::try_new(schema.clone(), vec![id, v, f]).unwrap())
                .unwrap();
            start = end + 1;
        }
        w.finish().unwrap()
    });
    assert_eq!(loaded, n);
    let want = expected(n);
    assert_eq!(sql_sums(&mut c, "ar"), want);

    let got = timed("ARROWSTREAM COPY OUT", n, || {
        let mut out = c
            .copy_out_arrow("COPY ar TO STDOUT WITH (FORMAT ARROWSTREAM)")
            .unwrap();
        let (mut rows, mut sum_id, mut count_v, mut sum_v, mut sum_f) =
            (0i64, 0i64, 0i64, 0i64, 0f64);
        for batch in out.by_ref() {
            let batch = batch.unwrap();
            rows += batch.num_rows() as i64;
            sum_id += batch
                .column(0)
                .as_primitive::<Int64Type>()
                .values()
                .iter()
                .sum::<i64>();
            let v = batch.column(1).as_primitive::<Int32Type>();
            count_v += (v.len() - v.null_count()) as i64;
            sum_v += v.iter().flatten().map(i64::from).sum::<i64>();
            sum_f += batch
                .column(2)
                .as_primitive::<Float64Type>()
                .values()
                .iter()
                .sum::<f64>();
        }
        assert_eq!(out.schema().unwrap().fields(), schema.fields());
        assert_eq!(sum_f, (n * (n + 1)) as f64 / 4.0);
        (rows, sum_id, count_v, sum_v)
    });
    assert_eq!(got, want);
}

const DATAROWS_SQL: &str =
    "SELECT g::bigint AS id, CASE WHEN g % 7 = 0 THEN NULL ELSE (g % 1000)::int - 500 END AS v \
     FROM generate_series(1, $1::bigint) g";

/// `n` rows as HyperBinary DataRows through the row iterator, with a parameter.
fn hyperbinary_datarows_iter(n: u64) {
    let mut c = hyper();
    let got = timed("HyperBinary DataRows (query_iter_with_formats)", n, || {
        let rows = c
            .query_iter_with_formats(DATAROWS_SQL, &[&(n as i64)], &[Format::HyperBinary])
            .unwrap();
        let (mut count, mut sum_id, mut count_v, mut sum_v) = (0i64, 0i64, 0i64, 0i64);
        for row in rows {
            let row = row.unwrap();
            count += 1;
            sum_id += row.get::<i64>(0).unwrap();
            if let Some(v) = row.get::<Option<i32>>(1).unwrap() {
                count_v += 1;
                sum_v += i64::from(v);
            }
        }
        (count, sum_id, count_v, sum_v)
    });
    assert_eq!(got, expected(n));
}

/// `n` rows as HyperBinary DataRows read in place (query_for_each_with_formats).
fn hyperbinary_datarows_for_each(n: u64) {
    let mut c = hyper();
    let got = timed(
        "HyperBinary DataRows (query_for_each_with_formats)",
        n,
        || {
            let (mut sum_id, mut count_v, mut sum_v) = (0i64, 0i64, 0i64);
            let count = c
                .query_for_each_with_formats(
                    DATAROWS_SQL,
                    &[&(n as i64)],
                    &[Format::HyperBinary],
                    |row| {
                        sum_id += row.get::<i64>(0)?;
                        if let Some(v) = row.get::<Option<i32>>(1)? {
                            count_v += 1;
                            sum_v += i64::from(v);
                        }
                        Ok(())
                    },
                )
                .unwrap();
            (count as i64, sum_id, count_v, sum_v)
        },
    );
    assert_eq!(got, expected(n));
}

#[test]
fn query_for_each_stops_on_the_callbacks_error_and_stays_usable() {
    let mut c = hyper();
    let mut seen = 0;
    let e = c
        .query_for_each_with_formats(
            DATAROWS_SQL,
            &[&5_000_000i64],
            &[Format::HyperBinary],
            |row| {
                seen += 1;
                row.get::<i64>(0)?;
                Err(hyperwire_blocking::Error::UnexpectedResult("enough"))
            },
        )
        .unwrap_err();
    assert_eq!(seen, 1, "{e}");
    let one: i32 = c.query_one("SELECT 1", &[]).unwrap().get(0).unwrap();
    assert_eq!(one, 1);
    // A server error mid-stream, and a COPY refused.
    let e = c
        .query_for_each_with_formats(
            "SELECT 1/(g-3) FROM generate_series(1, 5) g",
            &[],
            &[],
            |_| Ok(()),
        )
        .unwrap_err();
    assert_eq!(e.sqlstate(), Some("22012"));
    c.batch_execute("CREATE TEMP TABLE fe (i int)").unwrap();
    assert!(c
        .query_for_each_with_formats(
            "COPY fe FROM STDIN WITH (FORMAT TEXT)",
            &[],
            &[],
            |_| Ok(())
        )
        .is_err());
    let one: i32 = c.query_one("SELECT 1", &[]).unwrap().get(0).unwrap();
    assert_eq!(one, 1);
}

#[test]
fn hyperbinary_copy_in_and_out_10m() {
    hyperbinary_copy(TEN_MILLION);
}

#[test]
fn arrowstream_copy_in_and_out_10m() {
    arrowstream_copy(TEN_MILLION);
}

#[test]
fn hyperbinary_datarows_read_in_place_10m() {
    hyperbinary_datarows_for_each(TEN_MILLION);
}

#[test]
fn hyperbinary_datarows_streamed_1m() {
    // The row iterator keeps each row (about 1 µs per row in a debug build).
    hyperbinary_datarows_iter(TEN_MILLION / 10);
}

// ---- the same through the async Connection (tokio) -------------------------------

#[tokio::test]
async fn async_connection_formats_and_arrowstream() {
    use futures_core::Stream;
    use std::pin::Pin;

    let mut c =
        hyperwire_tokio::Connection::connect(&harness::hyper().conninfo(harness::HYPER_USER))
            .await
            .unwrap();
    let rows = c
        .query_with_formats(
            "SELECT $1::bigint * 2 AS a",
            &[&21i64],
            &[Format::HyperBinary],
        )
        .await
        .unwrap();
    assert_eq!(rows[0].columns()[0].format(), Format::HyperBinary);
    assert_eq!(rows[0].get::<i64>(0).unwrap(), 42);

    let n = 300_000u64;
    let mut stream = c
        .query_stream_with_formats(
            "SELECT g::bigint FROM generate_series(1, $1::bigint) g",
            &[&(n as i64)],
            &[Format::HyperBinary],
        )
        .await
        .unwrap();
    let mut sum = 0i64;
    while let Some(row) = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
        sum += row.unwrap().get::<i64>(0).unwrap();
    }
    drop(stream);
    assert_eq!(sum, (n * (n + 1) / 2) as i64);

    c.batch_execute(
        "CREATE TEMP TABLE ar_async (id bigint NOT NULL, v int, f double precision NOT NULL)",
    )
    .await
    .unwrap();
    let schema = arrow_schema();
    let mut w = c
        .copy_in_arrow(
            "COPY ar_async FROM STDIN WITH (FORMAT ARROWSTREAM)",
            &schema,
        )
        .await
        .unwrap();
    for start in (1..=n).step_by(50_000) {
        let end = (start + 49_999).min(n);
        let id: ArrayRef = Arc::new(Int64Array::from_iter_values(start as i64..=end as i64));
        let v: ArrayRef = Arc::new(Int32Array::from_iter((start..=end).map(v_of)));
        let f: ArrayRef = Arc::new(Float64Array::from_iter_values(
            (start..=end).map(|k| k as f64 * 0.5),
        ));
        w.write_batch(&RecordBatch::try_new(schema.clone(), vec![id, v, f]).unwrap())
            .await
            .unwrap();
    }
    assert_eq!(w.finish().await.unwrap(), n);

    let mut out = c
        .copy_out_arrow("COPY ar_async TO STDOUT WITH (FORMAT ARROWSTREAM)")
        .await
        .unwrap();
    let (mut rows, mut sum_id, mut count_v, mut sum_v) = (0i64, 0i64, 0i64, 0i64);
    while let Some(batch) = out.next_batch().await {
        let batch = batch.unwrap();
        rows += batch.num_rows() as i64;
        sum_id += batch
            .column(0)
            .as_primitive::<Int64Type>()
            .values()
            .iter()
            .sum::<i64>();
        let v = batch.column(1).as_primitive::<Int32Type>();
        count_v += (v.len() - v.null_count()) as i64;
        sum_v += v.iter().flatten().map(i64::from).sum::<i64>();
    }
    drop(out);
    let (r0, r1, r2, r3) = expected(n);
    assert_eq!((rows, sum_id, count_v, sum_v), (r0, r1, r2, r3));
    let one = c.query_one("SELECT 1", &[]).await.unwrap();
    assert_eq!(one.get::<i32>(0).unwrap(), 1);
}
