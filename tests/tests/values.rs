//! Every value type against real servers through the blocking client: PostgreSQL
//! 15 and 18 take each as a parameter and send it back in text (format 0) and
//! binary (format 1); hyperd sends each in formats 0, 1 and 2; and a HYPERBINARY
//! COPY IN of 100 000 rows comes back equal through COPY OUT.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::fmt::Debug;
use std::io::{Read, Write};

use hyperwire_blocking::{Client, Format, FromSql, StatementPolicy, ToSql};
use hyperwire_proto::hyper_copy::{CopyColumn, CopyDecoder, CopyEncoder, CopySchema};
use hyperwire_proto::value::{
    oid, ColumnType, Date, Interval, Json, Jsonb, Numeric, Time, Timestamp, TimestampTz, Uuid,
};
use hyperwire_tests::{self as harness, Server};

fn pg_servers() -> [&'static Server; 2] {
    [harness::pg15(), harness::pg18()]
}

/// Two sessions on one server: one reads results in text, one in binary.
struct Pair {
    /// The unnamed statement: parameters bound, results in text.
    text: Client,
    /// Prepared statements: results of every type this crate decodes in binary.
    binary: Client,
}

impl Pair {
    fn new(s: &Server) -> Pair {
        let mut text = Client::connect(&s.conninfo(harness::TRUST_USER)).unwrap();
        text.set_statement_policy(StatementPolicy::Unnamed);
        // Text results in a zone with a half-hour offset, and intervals in
        // PostgreSQL's default style: both must be read back exactly.
        text.batch_execute("SET TimeZone = 'Asia/Kolkata'").unwrap();
        let binary = Client::connect(&s.conninfo(harness::TRUST_USER)).unwrap();
        Pair { text, binary }
    }

    /// `SELECT $1::sql_type` with `v`, read back in both formats as `T`.
    fn check<T>(&mut self, sql_type: &str, v: T)
    where
        T: ToSql + for<'a> FromSql<'a> + PartialEq + Debug,
    {
        let got = self.both::<T>(sql_type, &v);
        assert_eq!(got[0], v, "{sql_type} in text");
        assert_eq!(got[1], v, "{sql_type} in binary");
        // NULL of the same type.
        let null: Option<T> = None;
        let got = self.both::<Option<T>>(sql_type, &null);
        assert_eq!(got, [None, None], "NULL {sql_type}");
    }

    fn both<T: for<'a> FromSql<'a> + Debug>(&mut self, sql_type: &str, v: &dyn ToSql) -> [T; 2] {
        let sql = format!("SELECT $1::{sql_type} AS v");
        let r = self.text.query_result(&sql, &[v]).unwrap();
        assert_eq!(r.columns[0].format(), Format::Text);
        let text = r.rows[0]
            .get::<T>(0)
            .unwrap_or_else(|e| panic!("{sql_type} text {:?}: {e}", r.rows[0]));
        let stmt = self.binary.prepare(&sql).unwrap();
        let rows = self.binary.query_prepared(&stmt, &[v]).unwrap();
        let binary = rows[0]
            .get::<T>("v")
            .unwrap_or_else(|e| panic!("{sql_type} binary {:?}: {e}", rows[0]));
        assert_eq!(rows[0].columns()[0].format(), Format::Binary, "{sql_type}");
        self.binary.close_statement(stmt).unwrap();
        [text, binary]
    }
}

fn n(s: &str) -> Numeric {
    s.parse().unwrap()
}

fn date(y: i32, m: u32, d: u32) -> Date {
    Date::from_ymd(y, m, d).unwrap()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn tstz(s: &str) -> TimestampTz {
    s.parse().unwrap()
}

const MAX_NUMERIC_38: &str = "99999999999999999999999999999999999999";

#[test]
fn pg_scalars_round_trip_in_text_and_binary() {
    for s in pg_servers() {
        let mut p = Pair::new(s);
        p.check("bool", true);
        p.check("bool", false);
        for v in [i16::MIN, -1, 0, i16::MAX] {
            p.check("int2", v);
        }
        for v in [i32::MIN, i32::MAX] {
            p.check("int4", v);
        }
        for v in [i64::MIN, i64::MAX] {
            p.check("int8", v);
        }
        p.check("oid", u32::MAX);
        for v in [
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.1,
            -1e300,
            f64::MIN_POSITIVE,
            f64::MAX,
        ] {
            p.check("float8", v);
        }
        for v in [
            f32::INFINITY,
            f32::NEG_INFINITY,
            1.5,
            f32::MAX,
            f32::MIN_POSITIVE,
        ] {
            p.check("float4", v);
        }
        let nan = p.both::<f64>("float8", &f64::NAN);
        assert!(nan[0].is_nan() && nan[1].is_nan());
        let nan = p.both::<f32>("float4", &f32::NAN);
        assert!(nan[0].is_nan() && nan[1].is_nan());
        // "char": ASCII and a byte past it (an octal escape in text).
        p.check("\"char\"", b'z' as i8);
        p.check("\"char\"", -2i8);
    }
}

#[test]
fn pg_numeric_round_trips_exactly() {
    for s in pg_servers() {
        let mut p = Pair::new(s);
        for v in [
            "0",
            "0.00",
            "-1.5000",
            "12345.67",
            "-0.00000000000000000001",
            "100000000",
            MAX_NUMERIC_38,
            "-170141183460469231731687303715884105728",
            "1234567890123456789.0123456789012345678",
        ] {
            p.check("numeric", n(v));
        }
        p.check("numeric", Numeric::NaN);
        p.check("numeric", Numeric::Infinity);
        p.check("numeric", Numeric::NegInfinity);
        // A typed column rounds to its scale; values of that scale come back as sent.
        p.check("numeric(38,4)", n("-1.5000"));
        p.check(
            "numeric(38,10)",
            n("9999999999999999999999999999.9999999999"),
        );
        // Integers read as numeric.
        let got = p.both::<Numeric>("int8", &i64::MIN);
        assert_eq!(got, [Numeric::from(i64::MIN); 2]);
        // More digits than an i128: an error naming the type and the column.
        let sql = "SELECT 1e40::numeric AS big";
        let row = p.text.query_one(sql, &[]).unwrap();
        let err = row.get::<Numeric>(0).unwrap_err().to_string();
        assert!(err.contains("numeric") && err.contains("big"), "{err}");
    }
}

#[test]
fn pg_text_types_round_trip() {
    for s in pg_servers() {
        let mut p = Pair::new(s);
        for v in [
            "",
            "héllo wörld ✓ 日本語 🦀",
            "quote ' and \\ backslash",
            "NULL",
        ] {
            p.check("text", v.to_string());
            p.check("varchar", v.to_string());
        }
        p.check("name", "a_name".to_string());
        // bpchar pads to its length.
        let got = p.both::<String>("char(6)", &"ab");
        assert_eq!(got, ["ab    ", "ab    "]);
        // Borrowed &str from each format.
        let sql = "SELECT 'é'::text AS v";
        let row = p.text.query_one(sql, &[]).unwrap();
        assert_eq!(row.get::<&str>("v").unwrap(), "é");
        p.check("bytea", vec![0u8, 1, 0x7f, 0x80, 0xff]);
        p.check("bytea", Vec::<u8>::new());
        p.check(
            "uuid",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
                .parse::<Uuid>()
                .unwrap(),
        );
        p.check(
            "json",
            Json(r#"{"b": [1, 2.5, "x"], "a": null}"#.to_string()),
        );
        // jsonb normalizes; this text is already in its normal form.
        p.check("jsonb", Jsonb(r#"{"a": [1, 2], "é": "ü"}"#.to_string()));
        let got = p.both::<String>("jsonb", &Jsonb(r#"{"k":1}"#));
        assert_eq!(got, [r#"{"k": 1}"#, r#"{"k": 1}"#]);
    }
}

#[test]
fn pg_dates_and_times_round_trip() {
    for s in pg_servers() {
        let mut p = Pair::new(s);
        for d in [
            date(2024, 6, 15),
            date(2000, 1, 1),
            date(1999, 12, 31),
            date(1900, 2, 28),
            date(-43, 3, 15),        // 0044-03-15 BC
            date(-4712, 1, 1),       // PostgreSQL's first date, 4713 BC
            date(5_874_897, 12, 31), // and its last
            Date::INFINITY,
            Date::NEG_INFINITY,
        ] {
            p.check("date", d);
        }
        for t in [
            "00:00:00",
            "13:14:15.123456",
            "23:59:59.999999",
            "24:00:00",
            "00:00:00.5",
        ] {
            p.check("time", t.parse::<Time>().unwrap());
        }
        for v in [
            "2024-06-15 13:14:15.123456",
            "2000-01-01 00:00:00",
            "1850-03-01 12:00:00",
            "0044-03-15 12:34:56.7 BC",
            "294276-12-31 23:59:59.999999",
            "4713-01-01 00:00:00 BC",
        ] {
            p.check("timestamp", ts(v));
            // In text these come back in Asia/Kolkata, LMT offsets in seconds for
            // the old ones.
            let utc = match v.strip_suffix(" BC") {
                Some(v) => format!("{v}+00 BC"),
                None => format!("{v}+00"),
            };
            p.check("timestamptz", tstz(&utc));
        }
        p.check("timestamp", Timestamp::INFINITY);
        p.check("timestamp", Timestamp::NEG_INFINITY);
        p.check("timestamptz", TimestampTz::INFINITY);
        p.check("timestamptz", TimestampTz::NEG_INFINITY);
        for i in [
            Interval::new(14, 3, 14_706_789_000),
            Interval::new(-14, 3, -14_706_789_000),
            Interval::new(0, 0, 0),
            Interval::new(0, 0, -500_000),
            Interval::new(1200, -40, 100 * 3_600_000_000),
            Interval::new(i32::MAX - 11, i32::MIN, i64::MAX),
        ] {
            p.check("interval", i);
        }
        // The ISO 8601 style reads back the same.
        p.text
            .batch_execute("SET IntervalStyle = iso_8601")
            .unwrap();
        p.check("interval", Interval::new(-14, 3, -14_706_789_000));
        // An offset given in the text is honoured.
        let got = p.both::<TimestampTz>("timestamptz", &"2024-06-15 13:14:15.123456+02");
        assert_eq!(got, [tstz("2024-06-15 11:14:15.123456+00"); 2]);
    }
}

#[test]
fn pg_interval_infinity_on_18() {
    let mut p = Pair::new(harness::pg18());
    p.check("interval", Interval::INFINITY);
    p.check("interval", Interval::NEG_INFINITY);
}

#[test]
fn pg_arrays_round_trip() {
    for s in pg_servers() {
        let mut p = Pair::new(s);
        p.check("int4[]", vec![1i32, -2, i32::MAX]);
        p.check("int4[]", Vec::<i32>::new());
        p.check("int8[]", vec![Some(i64::MIN), None, Some(7)]);
        p.check("int2[]", vec![i16::MIN]);
        p.check("bool[]", vec![true, false]);
        p.check("float8[]", vec![f64::INFINITY, -0.5]);
        p.check("oid[]", vec![0u32, u32::MAX]);
        p.check(
            "text[]",
            vec![
                Some("plain".to_string()),
                None,
                Some(String::new()),
                Some("NULL".to_string()),
                Some("a b,\"c\"\\{x}".to_string()),
                Some(" lead and trail ".to_string()),
                Some("日本".to_string()),
            ],
        );
        p.check("varchar[]", vec!["x".to_string()]);
        p.check("bytea[]", vec![vec![0u8, 0xff], vec![]]);
        p.check(
            "numeric[]",
            vec![n("1.50"), Numeric::NaN, n(MAX_NUMERIC_38)],
        );
        p.check(
            "date[]",
            vec![Some(date(2024, 2, 29)), None, Some(Date::INFINITY)],
        );
        p.check(
            "timestamp[]",
            vec![ts("2024-06-15 13:14:15.5"), ts("0001-01-01 00:00:00 BC")],
        );
        p.check("timestamptz[]", vec![tstz("2024-06-15 13:14:15.5+00")]);
        p.check("time[]", vec!["01:02:03".parse::<Time>().unwrap()]);
        p.check("interval[]", vec![Interval::new(1, 2, 3)]);
        p.check("uuid[]", vec![Some(Uuid([0xab; 16])), None]);
        p.check("jsonb[]", vec![Jsonb(r#"{"a": 1}"#.to_string())]);
        p.check("json[]", vec![Json("[1,2]".to_string())]);
        p.check("\"char\"[]", vec![b'a' as i8]);
        // Lower bounds other than 1 read as a plain list.
        let row = p
            .text
            .query_one("SELECT '[0:1]={5,6}'::int4[]", &[])
            .unwrap();
        assert_eq!(row.get::<Vec<i32>>(0).unwrap(), [5, 6]);
        // A multidimensional array is an error, not a misread.
        let row = p
            .text
            .query_one("SELECT '{{1},{2}}'::int4[] AS m", &[])
            .unwrap();
        let err = row.get::<Vec<i32>>(0).unwrap_err().to_string();
        assert!(err.contains("array") && err.contains("\"m\""), "{err}");
    }
}

#[test]
fn wrong_types_name_the_type_format_and_column() {
    let mut c = Client::connect(&harness::pg15().conninfo(harness::TRUST_USER)).unwrap();
    let stmt = c.prepare("SELECT 1::int4 AS one, 'x'::text AS t").unwrap();
    let rows = c.query_prepared(&stmt, &[]).unwrap();
    let err = rows[0].get::<Date>("one").unwrap_err().to_string();
    assert!(
        err.contains("int4") && err.contains("one") && err.contains("Date"),
        "{err}"
    );
    let err = rows[0].get::<Uuid>(1).unwrap_err().to_string();
    assert!(err.contains("text") && err.contains("\"t\""), "{err}");
}

// ---- hyperd ----

fn hyper_conninfo(hyper_binary: bool) -> String {
    let base = harness::hyper().conninfo(harness::HYPER_USER);
    if hyper_binary {
        format!("{base} options='-c result_format_code=HyperBinary'")
    } else {
        base
    }
}

/// One expression read from hyperd in formats 0 (simple query), 1 (a prepared
/// statement bound with binary results) and 2 (a HyperBinary session).
struct Hyper {
    text: Client,
    binary: Client,
    hyper: Client,
}

impl Hyper {
    fn new() -> Hyper {
        Hyper {
            text: Client::connect(&hyper_conninfo(false)).unwrap(),
            binary: Client::connect(&hyper_conninfo(false)).unwrap(),
            hyper: Client::connect(&hyper_conninfo(true)).unwrap(),
        }
    }

    fn read<T: for<'a> FromSql<'a> + Debug>(&mut self, expr: &str) -> [T; 3] {
        let sql = format!("SELECT {expr} AS v");
        let r = self.text.simple_query(&sql).unwrap();
        let text = r[0].rows[0]
            .get::<T>(0)
            .unwrap_or_else(|e| panic!("{expr} in text {:?}: {e}", r[0].rows[0]));
        let stmt = self.binary.prepare(&sql).unwrap();
        let rows = self.binary.query_prepared(&stmt, &[]).unwrap();
        assert_eq!(rows[0].columns()[0].format(), Format::Binary, "{expr}");
        let binary = rows[0]
            .get::<T>(0)
            .unwrap_or_else(|e| panic!("{expr} in binary {:?}: {e}", rows[0]));
        self.binary.close_statement(stmt).unwrap();
        let r = self.hyper.simple_query(&sql).unwrap();
        assert_eq!(r[0].columns[0].format(), Format::HyperBinary);
        let hyper = r[0].rows[0]
            .get::<T>(0)
            .unwrap_or_else(|e| panic!("{expr} in HyperBinary {:?}: {e}", r[0].rows[0]));
        [text, binary, hyper]
    }

    fn check<T: for<'a> FromSql<'a> + Debug + PartialEq>(&mut self, expr: &str, expected: T) {
        let got = self.read::<T>(expr);
        for (f, v) in ["text", "binary", "HyperBinary"].iter().zip(&got) {
            assert_eq!(v, &expected, "{expr} in {f}");
        }
    }

    /// Numerics compare by value (hyperd's text may show another scale).
    fn check_numeric(&mut self, expr: &str, expected: &str) {
        let expected = n(expected);
        for (f, v) in ["text", "binary", "HyperBinary"]
            .iter()
            .zip(self.read::<Numeric>(expr))
        {
            let scale = v.scale().unwrap().max(expected.scale().unwrap());
            assert_eq!(
                v.rescale(scale),
                expected.rescale(scale),
                "{expr} in {f}: {v}"
            );
        }
    }
}

#[test]
fn hyperd_reads_every_type_in_every_format() {
    let mut h = Hyper::new();
    h.check("true", true);
    h.check("false", false);
    h.check("(-32768)::smallint", i16::MIN);
    h.check("32767::smallint", i16::MAX);
    h.check("(-2147483648)::int", i32::MIN);
    h.check("9223372036854775807::bigint", i64::MAX);
    h.check("(-9223372036854775808)::bigint", i64::MIN);
    h.check("42::oid", 42u32);
    h.check("1.5::real", 1.5f32);
    h.check("3.25::double precision", 3.25f64);
    h.check("'Infinity'::double precision", f64::INFINITY);
    h.check("'-Infinity'::double precision", f64::NEG_INFINITY);
    assert!(h
        .read::<f64>("'NaN'::double precision")
        .iter()
        .all(|v| v.is_nan()));
    h.check_numeric("12345.67::numeric(10,2)", "12345.67");
    h.check_numeric("(-1.5)::numeric(38,4)", "-1.5");
    h.check_numeric("2::numeric", "2");
    h.check_numeric(
        "'-999999999999999999'::numeric(18,0)",
        "-999999999999999999",
    );
    h.check_numeric(
        &format!("'{MAX_NUMERIC_38}'::numeric(38,0)"),
        MAX_NUMERIC_38,
    );
    h.check_numeric(
        "'-9999999999999999999999999999.9999999999'::numeric(38,10)",
        "-9999999999999999999999999999.9999999999",
    );
    h.check_numeric("'0.000001'::numeric(38,6)", "0.000001");
    h.check(
        "'héllo wörld ✓ 日本語'::text",
        "héllo wörld ✓ 日本語".to_string(),
    );
    h.check("''::text", String::new());
    h.check("'ab'::varchar(10)", "ab".to_string());
    h.check("'ab'::char(4)", "ab  ".to_string());
    h.check("'\\xdeadbeef'::bytea", vec![0xdeu8, 0xad, 0xbe, 0xef]);
    h.check(
        "'{\"a\": [1, 2]}'::json",
        Json(r#"{"a": [1, 2]}"#.to_string()),
    );
    h.check("date '2024-06-15'", date(2024, 6, 15));
    h.check("date '1900-01-01'", date(1900, 1, 1));
    h.check("date '1600-02-29'", date(1600, 2, 29));
    h.check("date '9999-12-31'", date(9999, 12, 31));
    h.check(
        "time '13:14:15.123456'",
        "13:14:15.123456".parse::<Time>().unwrap(),
    );
    h.check("time '00:00:00'", Time(0));
    h.check(
        "timestamp '2024-06-15 13:14:15.123456'",
        ts("2024-06-15 13:14:15.123456"),
    );
    h.check("timestamp '1850-01-01 00:00:00'", ts("1850-01-01 00:00:00"));
    h.check(
        "timestamp '9999-12-31 23:59:59.999999'",
        ts("9999-12-31 23:59:59.999999"),
    );
    h.check(
        "timestamptz '2024-06-15 13:14:15.123456+02'",
        tstz("2024-06-15 11:14:15.123456+00"),
    );
    h.check(
        "interval '1 year 2 months 3 days 04:05:06.789'",
        Interval::new(14, 3, 14_706_789_000),
    );
    h.check(
        "interval '-1 year -2 months 3 days -04:05:06.789'",
        Interval::new(-14, 3, -14_706_789_000),
    );
    // uuid: format 2 is a little-endian 128-bit integer.
    h.check(
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
            .parse::<Uuid>()
            .unwrap(),
    );
    // hyperd types char(1) as "char" (OID 18).
    h.check("'z'::char(1)", "z".to_string());
    h.check("'z'::char(1)", b'z' as i8);
    // NULLs in each format.
    for t in [
        "uuid",
        "int",
        "numeric(10,2)",
        "text",
        "date",
        "timestamp",
        "interval",
    ] {
        let got = h.read::<Option<String>>(&format!("NULL::{t}"));
        assert_eq!(got, [None, None, None], "{t}");
    }
    let got = h.read::<Option<Numeric>>("NULL::numeric(38,2)");
    assert_eq!(got, [None, None, None]);
}

#[test]
fn hyperd_arrays_in_every_format() {
    // Hyper writes arrays as `[...]` in text, and has its own HyperBinary layout.
    let mut h = Hyper::new();
    let expected: Vec<Option<String>> = ["a b", "c\"d", "x,y", "", "NULL", "[z]", "é"]
        .iter()
        .map(|s| Some(s.to_string()))
        .chain([None])
        .collect();
    let got =
        h.read::<Vec<Option<String>>>("ARRAY['a b', 'c\"d', 'x,y', '', 'NULL', '[z]', 'é', NULL]");
    assert_eq!(got, [expected.clone(), expected.clone(), expected]);
    h.check("ARRAY[]::array(text)", Vec::<String>::new());
    h.check("ARRAY[]::array(int)", Vec::<i32>::new());
    h.check(
        "ARRAY[1, 2, 3, 4, 5, 6, 7, 8, NULL, -2147483648]",
        vec![
            Some(1),
            Some(2),
            Some(3),
            Some(4),
            Some(5),
            Some(6),
            Some(7),
            Some(8),
            None,
            Some(i32::MIN),
        ],
    );
    h.check("ARRAY[(-9223372036854775808)::bigint]", vec![i64::MIN]);
    h.check(
        "ARRAY[date '2024-01-01', NULL]",
        vec![Some(date(2024, 1, 1)), None],
    );
    h.check("ARRAY[true, false]", vec![true, false]);
    h.check("ARRAY[1.5::double precision]", vec![1.5f64]);
    h.check(
        "ARRAY[timestamp '2024-06-15 13:14:15.5']",
        vec![ts("2024-06-15 13:14:15.5")],
    );
    h.check("ARRAY[interval '1 day']", vec![Interval::new(0, 1, 0)]);
    h.check(
        "ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid]",
        vec!["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
            .parse::<Uuid>()
            .unwrap()],
    );
    h.check(
        "ARRAY['\\x01ff'::bytea, NULL]",
        vec![Some(vec![1u8, 0xff]), None],
    );
    // Numeric elements: the array column's modifier gives their scale.
    h.check(
        "ARRAY[1.5::numeric(10,2), NULL]",
        vec![Some(n("1.50")), None],
    );
    h.check("ARRAY['-1.5'::numeric(38,4)]", vec![n("-1.5000")]);
    // Array parameters go in PostgreSQL binary when their type is declared.
    let stmt = h
        .binary
        .prepare_typed("SELECT $1::array(int) AS v", &[oid::INT4_ARRAY])
        .unwrap();
    let v = vec![Some(1i32), None, Some(i32::MAX)];
    let rows = h.binary.query_prepared(&stmt, &[&v]).unwrap();
    assert_eq!(rows[0].get::<Vec<Option<i32>>>(0).unwrap(), v);
}

#[test]
fn hyperd_takes_parameters_in_binary() {
    let mut c = Client::connect(&hyper_conninfo(false)).unwrap();
    let v = n("-12345.6789");
    let stmt = c.prepare("SELECT $1::numeric(38,4) AS v").unwrap();
    let rows = c.query_prepared(&stmt, &[&v]).unwrap();
    assert_eq!(rows[0].get::<Numeric>(0).unwrap(), v);
    let d = date(1969, 7, 20);
    let stmt = c.prepare("SELECT $1::date AS v").unwrap();
    assert_eq!(
        c.query_prepared(&stmt, &[&d]).unwrap()[0]
            .get::<Date>(0)
            .unwrap(),
        d
    );
    let t = ts("1999-12-31 23:59:59.999999");
    let stmt = c.prepare("SELECT $1::timestamp AS v").unwrap();
    assert_eq!(
        c.query_prepared(&stmt, &[&t]).unwrap()[0]
            .get::<Timestamp>(0)
            .unwrap(),
        t
    );
    // A whole numeric in HyperBinary is an 8-byte integer, which hyperd reads at
    // scale 0 and then casts.
    struct Hyper2(Numeric);
    impl ToSql for Hyper2 {
        fn type_oid(&self) -> u32 {
            oid::NUMERIC
        }
        fn preferred_format(&self) -> Format {
            Format::HyperBinary
        }
        fn encode(
            &self,
            f: Format,
            out: &mut Vec<u8>,
        ) -> Result<bool, hyperwire_proto::value::ValueError> {
            self.0.encode(f, out)
        }
    }
    let stmt = c
        .prepare_typed("SELECT $1::numeric(38,4) AS v", &[oid::NUMERIC])
        .unwrap();
    let rows = c.query_prepared(&stmt, &[&Hyper2(n("-1500"))]).unwrap();
    assert_eq!(rows[0].get::<Numeric>(0).unwrap(), n("-1500.0000"));
    let u = Uuid([0x5a; 16]);
    let stmt = c.prepare("SELECT $1::uuid AS v").unwrap();
    assert_eq!(
        c.query_prepared(&stmt, &[&u]).unwrap()[0]
            .get::<Uuid>(0)
            .unwrap(),
        u
    );
    let i = Interval::new(13, -2, 1);
    let stmt = c.prepare("SELECT $1::interval AS v").unwrap();
    assert_eq!(
        c.query_prepared(&stmt, &[&i]).unwrap()[0]
            .get::<Interval>(0)
            .unwrap(),
        i
    );
}

// ---- HYPERBINARY COPY ----

const COPY_ROWS: i64 = 100_000;

#[derive(Debug, Clone, PartialEq)]
struct CopyRowValues {
    i: Option<i32>,
    t: Option<String>,
    d: Option<Date>,
    n: Option<Numeric>,
    b: Option<bool>,
    bi: i64,
    ts: Option<Timestamp>,
    f: Option<f64>,
    iv: Option<Interval>,
    by: Option<Vec<u8>>,
    big: Option<Numeric>,
    s: i16,
    u: Option<Uuid>,
    c: Option<i8>,
}

fn copy_row(k: i64) -> CopyRowValues {
    let null = k % 7 == 3;
    let k32 = i32::try_from(k).unwrap();
    CopyRowValues {
        i: (!null).then_some(if k == 0 { i32::MIN } else { k32 - 50_000 }),
        t: (!null).then(|| {
            format!(
                "row {k} héllo, \"{}\"",
                "✓".repeat(usize::try_from(k % 5).unwrap())
            )
        }),
        d: (!null).then(|| Date(k32 - 50_000)),
        n: (!null).then(|| Numeric::new(i128::from(k) * 12_345 - 99_999_999, 2)),
        b: (!null).then_some(k % 2 == 0),
        bi: if k == 1 { i64::MAX } else { k * 1_000_000_007 },
        ts: (!null).then(|| Timestamp((k - 50_000) * 86_400_123_457)),
        f: (!null).then_some(k as f64 / 3.0),
        iv: (!null).then(|| Interval::new(k32 % 25, -(k32 % 40), k * 1_000_001)),
        by: (!null).then(|| k.to_le_bytes()[..usize::try_from(k % 9).unwrap()].to_vec()),
        big: (!null).then(|| Numeric::new(i128::from(k) * 10i128.pow(30) + 123_456, 6)),
        s: i16::try_from(k % 30_000).unwrap(),
        u: (!null).then(|| {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&k.to_be_bytes());
            b[15] = 0xa5;
            Uuid(b)
        }),
        c: (!null).then(|| b"abcxyz"[usize::try_from(k % 6).unwrap()] as i8),
    }
}

fn copy_schema() -> CopySchema {
    CopySchema::new(vec![
        CopyColumn::nullable(oid::INT4),
        CopyColumn::nullable(oid::TEXT),
        CopyColumn::nullable(oid::DATE),
        CopyColumn::nullable(ColumnType::numeric(10, 2)),
        CopyColumn::nullable(oid::BOOL),
        CopyColumn::not_null(oid::INT8),
        CopyColumn::nullable(oid::TIMESTAMP),
        CopyColumn::nullable(oid::FLOAT8),
        CopyColumn::nullable(oid::INTERVAL),
        CopyColumn::nullable(oid::BYTEA),
        CopyColumn::nullable(ColumnType::numeric(38, 6)),
        CopyColumn::not_null(oid::INT2),
        CopyColumn::nullable(oid::UUID),
        // hyperd types char(1) as "char".
        CopyColumn::nullable(oid::CHAR),
    ])
    .unwrap()
}

#[test]
fn hyperd_hyperbinary_copy_in_then_out() {
    let mut c = Client::connect(&hyper_conninfo(false)).unwrap();
    c.batch_execute(
        "CREATE TEMP TABLE copy_values (i int, t text, d date, n numeric(10,2), b bool, \
         bi bigint NOT NULL, ts timestamp, f double precision, iv interval, by bytea, \
         big numeric(38,6), s smallint NOT NULL, u uuid, c char(1))",
    )
    .unwrap();

    // COPY IN: the encoder's chunks go out as they fill.
    let mut enc = CopyEncoder::new(copy_schema()).with_chunk_size(32 * 1024);
    let mut w = c
        .copy_in("COPY copy_values FROM STDIN WITH (FORMAT HYPERBINARY)")
        .unwrap();
    for k in 0..COPY_ROWS {
        let r = copy_row(k);
        enc.push_row(&[
            &r.i, &r.t, &r.d, &r.n, &r.b, &r.bi, &r.ts, &r.f, &r.iv, &r.by, &r.big, &r.s, &r.u,
            &r.c,
        ])
        .unwrap();
        while let Some(chunk) = enc.next_chunk() {
            w.write_all(chunk).unwrap();
            let len = chunk.len();
            enc.consume(len);
        }
    }
    w.write_all(enc.finish().unwrap()).unwrap();
    assert_eq!(w.finish().unwrap(), u64::try_from(COPY_ROWS).unwrap());

    // The server saw the values we meant, not just the row count.
    let row = c
        .query_one(
            "SELECT count(*)::bigint, count(i)::bigint, sum(n), min(i), max(bi) FROM copy_values",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<i64>(0).unwrap(), COPY_ROWS);
    assert_eq!(
        row.get::<i64>(1).unwrap(),
        (0..COPY_ROWS).filter(|k| k % 7 != 3).count() as i64
    );
    let sum: i128 = (0..COPY_ROWS)
        .filter_map(|k| copy_row(k).n.and_then(|n| n.unscaled()))
        .sum();
    let total = row.get::<Numeric>(2).unwrap();
    let scale = total.scale().unwrap();
    assert_eq!(
        total.rescale(2).unwrap(),
        Numeric::new(sum, 2),
        "scale {scale}"
    );
    assert_eq!(row.get::<i32>(3).unwrap(), i32::MIN);
    assert_eq!(row.get::<i64>(4).unwrap(), i64::MAX);

    // The schema for reading comes from the table's description (with the
    // modifiers), plus the nullability hyperd does not describe.
    let stmt = c.prepare("SELECT * FROM copy_values").unwrap();
    let described = CopySchema::from_columns(stmt.columns(), |i| i != 5 && i != 11).unwrap();
    let oids = |s: &CopySchema| -> Vec<(u32, bool)> {
        s.columns().iter().map(|c| (c.ty.oid, c.nullable)).collect()
    };
    assert_eq!(oids(&described), oids(&copy_schema()));
    c.close_statement(stmt).unwrap();

    // COPY OUT, read in small pieces so values straddle the reads.
    let mut r = c
        .copy_out(
            "COPY (SELECT * FROM copy_values ORDER BY s, bi) TO STDOUT WITH (FORMAT HYPERBINARY)",
        )
        .unwrap();
    let mut dec = CopyDecoder::new(described);
    let mut got = Vec::with_capacity(usize::try_from(COPY_ROWS).unwrap());
    let mut buf = [0u8; 1021];
    loop {
        let len = r.read(&mut buf).unwrap();
        if len == 0 {
            break;
        }
        dec.feed(&buf[..len]).unwrap();
        while let Some(row) = dec.next_row().unwrap() {
            got.push(CopyRowValues {
                i: row.get(0).unwrap(),
                t: row.get(1).unwrap(),
                d: row.get(2).unwrap(),
                n: row.get(3).unwrap(),
                b: row.get(4).unwrap(),
                bi: row.get(5).unwrap(),
                ts: row.get(6).unwrap(),
                f: row.get(7).unwrap(),
                iv: row.get(8).unwrap(),
                by: row.get(9).unwrap(),
                big: row.get(10).unwrap(),
                s: row.get(11).unwrap(),
                u: row.get(12).unwrap(),
                c: row.get(13).unwrap(),
            });
        }
    }
    assert_eq!(dec.finish().unwrap(), u64::try_from(COPY_ROWS).unwrap());
    drop(r);
    let mut expected: Vec<CopyRowValues> = (0..COPY_ROWS).map(copy_row).collect();
    expected.sort_by_key(|r| (r.s, r.bi));
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g, e);
    }
}
