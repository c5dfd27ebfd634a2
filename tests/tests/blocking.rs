//! The blocking client against real servers: PostgreSQL 15, PostgreSQL 18 and hyperd
//! (each started once for this test binary by the harness).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use hyperwire_blocking::{Client, Error, TimeoutPolicy, TransactionStatus};
use hyperwire_tests::{self as harness, Server};

fn pg_servers() -> [&'static Server; 3] {
    [harness::pg15(), harness::pg17(), harness::pg18()]
}

fn all_servers() -> [&'static Server; 4] {
    [
        harness::pg15(),
        harness::pg17(),
        harness::pg18(),
        harness::hyper(),
    ]
}

fn user(s: &Server) -> &'static str {
    if s.database().is_none() {
        harness::HYPER_USER
    } else {
        harness::TRUST_USER
    }
}

fn connect(s: &Server) -> Client {
    Client::connect(&s.conninfo(user(s))).unwrap_or_else(|e| panic!("{:?}: {e}", s.kind()))
}

/// A temp table name unique to this test and server.
fn table(s: &Server, name: &str) -> String {
    format!("tmp_{}_{name}", format!("{:?}", s.kind()).to_lowercase())
}

#[test]
fn every_password_method_logs_in_on_postgres() {
    for s in pg_servers() {
        for u in [
            harness::TRUST_USER,
            harness::PASSWORD_USER,
            harness::MD5_USER,
            harness::SCRAM_USER,
        ] {
            let mut c = Client::connect(&s.conninfo(u)).unwrap_or_else(|e| panic!("{u}: {e}"));
            let row = c.query_one("SELECT current_user::text", &[]).unwrap();
            assert_eq!(row.get::<&str>(0).unwrap(), u);
        }
        // A wrong password is the server's error, with its SQLSTATE.
        let bad = s.conninfo(harness::SCRAM_USER).replace("pw-scram", "wrong");
        let err = Client::connect(&bad).unwrap_err();
        assert_eq!(err.sqlstate(), Some("28P01"), "{err}");
        // require_auth refuses md5 before the password leaves.
        let err = Client::connect(&format!(
            "{} require_auth=scram-sha-256",
            s.conninfo(harness::MD5_USER)
        ))
        .unwrap_err();
        assert!(err.to_string().contains("require_auth"), "{err}");
    }
}

#[test]
fn hyper_trust_and_scram() {
    let mut c = connect(harness::hyper());
    assert!(c.is_hyper());
    let s = harness::hyper_scram();
    let mut c2 = Client::connect(&s.conninfo(harness::HYPER_USER)).unwrap();
    for c in [&mut c, &mut c2] {
        assert_eq!(
            c.query_one("SELECT 1 + 1", &[])
                .unwrap()
                .get::<i32>(0)
                .unwrap(),
            2
        );
    }
    let bad = s.conninfo(harness::HYPER_USER).replace("pw-hyper", "nope");
    let err = Client::connect(&bad).unwrap_err();
    // Hyper refuses with 42501, not 28P01 (docs/hyper.md §2).
    assert_eq!(err.sqlstate(), Some("42501"), "{err}");
}

#[test]
fn unix_socket_and_multiple_hosts() {
    let s = harness::pg15();
    let dir = s.socket_dir().unwrap();
    let mut c = Client::connect(&format!(
        "host={} port={} user={} dbname=hyperwire",
        dir.display(),
        s.port(),
        harness::TRUST_USER
    ))
    .unwrap();
    assert_eq!(
        c.query_one("SELECT 7", &[]).unwrap().get::<i32>(0).unwrap(),
        7
    );

    // The first host refuses; the second works.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = Client::connect(&format!(
        "host=127.0.0.1,127.0.0.1 port={closed},{} user={} dbname=hyperwire connect_timeout=5",
        s.port(),
        harness::TRUST_USER
    ))
    .unwrap();
    assert!(c.is_healthy());
    c.batch_execute("SELECT 1").unwrap();

    // target_session_attrs: a primary is read-write, never a standby.
    let base = s.conninfo(harness::TRUST_USER);
    Client::connect(&format!("{base} target_session_attrs=read-write")).unwrap();
    Client::connect(&format!("{base} target_session_attrs=primary")).unwrap();
    Client::connect(&format!("{base} target_session_attrs=prefer-standby")).unwrap();
    let err = Client::connect(&format!("{base} target_session_attrs=standby")).unwrap_err();
    assert!(err.to_string().contains("target_session_attrs"), "{err}");
}

#[test]
fn password_file_is_used_and_its_permissions_checked() {
    use std::os::unix::fs::PermissionsExt;
    let s = harness::pg15();
    let dir = std::env::temp_dir().join(format!("hw-pgpass-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pgpass");
    std::fs::write(
        &file,
        format!(
            "127.0.0.1:{}:*:{}:pw-scram\n",
            s.port(),
            harness::SCRAM_USER
        ),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let base = format!(
        "host=127.0.0.1 port={} user={} dbname=hyperwire passfile={}",
        s.port(),
        harness::SCRAM_USER,
        file.display()
    );
    Client::connect(&base).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Client::connect(&base).unwrap_err();
    assert!(
        err.to_string().contains("password"),
        "a world-readable file is ignored: {err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn parameters_round_trip_in_text_and_binary() {
    for s in all_servers() {
        let mut c = connect(s);
        let bytes: Vec<u8> = vec![0, 1, 0xde, 0xad];
        let row = c
            .query_one(
                "SELECT $1::int4 + 1, $2::int8, $3::float8, $4::text, $5::bool, $6::bytea, $7::text IS NULL",
                &[&41i32, &i64::MIN, &0.25f64, &"héllo", &true, &bytes, &None::<&str>],
            )
            .unwrap_or_else(|e| panic!("{:?}: {e}", s.kind()));
        assert_eq!(row.get::<i32>(0).unwrap(), 42);
        assert_eq!(row.get::<i64>(1).unwrap(), i64::MIN);
        assert_eq!(row.get::<f64>(2).unwrap(), 0.25);
        assert_eq!(row.get::<&str>(3).unwrap(), "héllo");
        assert!(row.get::<bool>(4).unwrap());
        assert_eq!(row.get::<Vec<u8>>(5).unwrap(), bytes);
        assert!(row.get::<bool>(6).unwrap());
        // NULL and malformed are different things.
        let row = c.query_one("SELECT NULL::int4", &[]).unwrap();
        assert_eq!(row.get::<Option<i32>>(0).unwrap(), None);
        assert!(matches!(
            row.get::<i32>(0),
            Err(hyperwire_blocking::RowError::Value { .. })
        ));
    }
}

#[test]
fn prepared_statements_use_binary_results() {
    for s in all_servers() {
        let mut c = connect(s);
        let stmt = c.prepare("SELECT $1::int8 * 2, 'x' || $2::text").unwrap();
        for i in 0..5i64 {
            let rows = c.query_prepared(&stmt, &[&i, &"y"]).unwrap();
            assert_eq!(
                rows[0].columns()[0].format(),
                hyperwire_blocking::Format::Binary
            );
            assert_eq!(rows[0].get::<i64>(0).unwrap(), i * 2);
            assert_eq!(rows[0].get::<&str>(1).unwrap(), "xy");
        }
        c.close_statement(stmt).unwrap();
    }
}

#[test]
fn server_errors_leave_the_connection_usable() {
    for s in all_servers() {
        let mut c = connect(s);
        let err = c.query("SELECT * FROM no_such_table", &[]).unwrap_err();
        assert_eq!(err.sqlstate(), Some("42P01"), "{:?}: {err}", s.kind());
        let err = c.query("SELECT 1/0", &[]).unwrap_err();
        assert_eq!(err.sqlstate(), Some("22012"));
        assert!(c.is_healthy());
        assert_eq!(
            c.query_one("SELECT 3", &[]).unwrap().get::<i32>(0).unwrap(),
            3
        );
        assert!(matches!(
            c.query_one("SELECT 1 WHERE false", &[]),
            Err(Error::RowCount { found: 0 })
        ));
        let two = "SELECT * FROM (VALUES (1), (2)) v";
        assert!(matches!(
            c.query_one(two, &[]),
            Err(Error::RowCount { found: 2 })
        ));
        assert!(matches!(
            c.query_opt(two, &[]),
            Err(Error::RowCount { found: 2 })
        ));
        assert!(c.query_opt("SELECT 1 WHERE false", &[]).unwrap().is_none());
        assert!(c.query_opt("SELECT 1", &[]).unwrap().is_some());
    }
}

#[test]
fn simple_query_multiple_statements_and_hyper_refusal() {
    for s in pg_servers() {
        let mut c = connect(s);
        let r = c
            .simple_query("SELECT 1 AS a; SELECT 'b' AS b, NULL AS c; ")
            .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].columns[0].name(), "b");
        assert_eq!(r[1].rows[0].get::<Option<&str>>(1).unwrap(), None);
        assert_eq!(r[0].tag, "SELECT 1");
    }
    let mut c = connect(harness::hyper());
    let err = c.simple_query("SELECT 1; SELECT 2").unwrap_err();
    assert_eq!(
        err.sqlstate(),
        Some("0A000"),
        "hyperd allows one statement per Query"
    );
    assert_eq!(c.simple_query("SELECT 1;").unwrap().len(), 1);
}

#[test]
fn row_streaming_and_dropping_a_stream_midway() {
    for s in all_servers() {
        let mut c = connect(s);
        let mut n = 0i64;
        let mut sum = 0i64;
        {
            let it = c
                .query_iter("SELECT g::int8 FROM generate_series(1, 200000) g", &[])
                .unwrap();
            for row in it {
                sum += row.unwrap().get::<i64>(0).unwrap();
                n += 1;
            }
        }
        assert_eq!(n, 200_000);
        assert_eq!(sum, 200_000 * 200_001 / 2);
        // Drop after a few rows of a huge result: cancel, drain, and the next query
        // gets its own answer.
        for _ in 0..3 {
            let mut it = c
                // (A cross join streams at once; one big generate_series is
                // materialized by PostgreSQL before its first row.)
                .query_iter(
                    "SELECT x FROM generate_series(1, 10000) AS a(x), generate_series(1, 10000) AS b(y)",
                    &[],
                )
                .unwrap();
            it.next().unwrap().unwrap();
            drop(it);
            assert!(c.is_healthy());
            assert_eq!(
                c.query_one("SELECT 11", &[])
                    .unwrap()
                    .get::<i32>(0)
                    .unwrap(),
                11
            );
        }
    }
}

#[test]
fn copy_in_and_out_round_trip() {
    for s in all_servers() {
        let mut c = connect(s);
        let t = table(s, "copy");
        c.batch_execute(&format!("CREATE TEMP TABLE {t} (i int, t text)"))
            .unwrap();
        let mut w = c
            .copy_in(&format!("COPY {t} FROM STDIN WITH (FORMAT text)"))
            .unwrap();
        for i in 0..10_000 {
            writeln!(w, "{i}\trow {i}").unwrap();
        }
        assert_eq!(w.finish().unwrap(), 10_000);
        let mut out = String::new();
        let mut r = c
            .copy_out(&format!(
                "COPY (SELECT * FROM {t} ORDER BY i) TO STDOUT WITH (FORMAT csv)"
            ))
            .unwrap();
        r.read_to_string(&mut out).unwrap();
        drop(r);
        assert_eq!(out.lines().count(), 10_000);
        assert_eq!(out.lines().nth(9_999), Some("9999,row 9999"));

        // An abandoned COPY IN loads nothing and leaves the connection usable.
        let mut w = c
            .copy_in(&format!("COPY {t} FROM STDIN WITH (FORMAT text)"))
            .unwrap();
        writeln!(w, "1\tlost").unwrap();
        drop(w);
        assert!(c.is_healthy());
        let n: i64 = c
            .query_one(&format!("SELECT count(*) FROM {t}"), &[])
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(n, 10_000);

        // A data error ends the COPY with the server's error.
        let mut w = c
            .copy_in(&format!("COPY {t} FROM STDIN WITH (FORMAT text)"))
            .unwrap();
        writeln!(w, "not-a-number\tx").unwrap();
        let err = w.finish().unwrap_err();
        assert_eq!(err.sqlstate(), Some("22P02"), "{:?}: {err}", s.kind());
        assert!(c.is_healthy());
    }
}

#[test]
fn large_copy_in_does_not_deadlock() {
    let s = harness::pg15();
    let mut c = connect(s);
    c.batch_execute("CREATE TEMP TABLE big (t text)").unwrap();
    let mut w = c.copy_in("COPY big FROM STDIN").unwrap();
    let line = "x".repeat(1000) + "\n";
    for _ in 0..50_000 {
        w.write_all(line.as_bytes()).unwrap();
    }
    assert_eq!(w.finish().unwrap(), 50_000);
}

#[test]
fn cancel_from_another_thread() {
    for s in all_servers() {
        let mut c = connect(s);
        let token = c.cancel_token().unwrap();
        let sql = if s.database().is_none() {
            "SELECT count(*) FROM generate_series(1, 10000000000)"
        } else {
            "SELECT pg_sleep(30)"
        };
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            token.cancel().unwrap();
        });
        let started = Instant::now();
        let err = c.query(sql, &[]).unwrap_err();
        t.join().unwrap();
        assert_eq!(err.sqlstate(), Some("57014"), "{:?}: {err}", s.kind());
        assert!(started.elapsed() < Duration::from_secs(20));
        assert_eq!(
            c.query_one("SELECT 5", &[]).unwrap().get::<i32>(0).unwrap(),
            5
        );
    }
}

#[test]
fn request_timeout_cancels_then_drains() {
    for s in pg_servers() {
        let mut c = connect(s);
        c.set_request_timeout(
            Some(Duration::from_millis(300)),
            TimeoutPolicy::CancelThenDrain,
        );
        let err = c.query("SELECT pg_sleep(20)", &[]).unwrap_err();
        assert!(matches!(err, Error::Timeout), "{err}");
        assert!(c.is_healthy());
        assert_eq!(
            c.query_one("SELECT 8", &[]).unwrap().get::<i32>(0).unwrap(),
            8
        );

        c.set_request_timeout(
            Some(Duration::from_millis(300)),
            TimeoutPolicy::CancelThenClose,
        );
        assert!(matches!(
            c.query("SELECT pg_sleep(20)", &[]),
            Err(Error::Timeout)
        ));
        assert!(!c.is_healthy());
        assert!(c.query("SELECT 1", &[]).is_err());
    }
}

#[test]
fn notifications_between_sessions() {
    for s in pg_servers() {
        let mut listener = connect(s);
        let mut notifier = connect(s);
        listener.batch_execute("LISTEN hw_chan").unwrap();
        notifier
            .execute("SELECT pg_notify('hw_chan', $1)", &[&"hello"])
            .unwrap();
        let n = listener
            .wait_for_notification(Some(Duration::from_secs(10)))
            .unwrap()
            .unwrap();
        assert_eq!(
            (n.channel.as_str(), n.payload.as_str()),
            ("hw_chan", "hello")
        );
        assert!(listener
            .wait_for_notification(Some(Duration::from_millis(100)))
            .unwrap()
            .is_none());
    }
    let mut c = connect(harness::hyper());
    let err = c.batch_execute("LISTEN foo").unwrap_err();
    assert_eq!(err.sqlstate(), Some("42601"), "hyperd has no LISTEN: {err}");
}

#[test]
fn transactions_commit_and_roll_back() {
    for s in all_servers() {
        let mut c = connect(s);
        let t = table(s, "tx");
        c.batch_execute(&format!("CREATE TEMP TABLE {t} (i int)"))
            .unwrap();
        {
            let mut tx = c.transaction().unwrap();
            assert_eq!(tx.transaction_status(), TransactionStatus::InTransaction);
            tx.execute(&format!("INSERT INTO {t} VALUES (1)"), &[])
                .unwrap();
            tx.commit().unwrap();
        }
        {
            let mut tx = c.transaction().unwrap();
            tx.execute(&format!("INSERT INTO {t} VALUES (2)"), &[])
                .unwrap();
            // dropped: rolled back
        }
        {
            let mut tx = c.transaction().unwrap();
            let _ = tx.query("SELECT 1/0", &[]).unwrap_err();
            assert_eq!(tx.transaction_status(), TransactionStatus::Failed);
            tx.rollback().unwrap();
        }
        assert_eq!(c.transaction_status(), TransactionStatus::Idle);
        let n: i64 = c
            .query_one(&format!("SELECT count(*) FROM {t}"), &[])
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(n, 1, "{:?}", s.kind());
    }
}

#[test]
fn pipeline_reports_an_error_per_item() {
    for s in all_servers() {
        let mut c = connect(s);
        let mut p = c.pipeline();
        p.query("SELECT $1::int4", &[&1i32]);
        p.query("SELECT 1/0", &[]);
        p.query("SELECT $1::int4", &[&3i32]);
        let results = p.run().unwrap();
        assert_eq!(
            results[0].as_ref().unwrap().rows[0].get::<i32>(0).unwrap(),
            1
        );
        assert_eq!(results[1].as_ref().unwrap_err().sqlstate(), Some("22012"));
        assert_eq!(
            results[2].as_ref().unwrap().rows[0].get::<i32>(0).unwrap(),
            3
        );

        // A long pipeline in one write.
        let mut p = c.pipeline();
        for i in 0..5_000i64 {
            p.query("SELECT $1::int8", &[&i]);
        }
        let results = p.run().unwrap();
        assert_eq!(results.len(), 5_000);
        assert_eq!(
            results[4_999].as_ref().unwrap().rows[0]
                .get::<i64>(0)
                .unwrap(),
            4_999
        );
    }
}

/// The skipped-statement error, as the adapter names it.
fn skipped(r: &Result<hyperwire_blocking::QueryResult, Error>) -> bool {
    matches!(r, Err(Error::UnexpectedResult(m)) if m.contains("skipped"))
}

#[test]
fn pipeline_sync_groups_roll_back_and_skip_the_rest_of_a_failed_group() {
    use hyperwire_blocking::SyncMode;
    for s in pg_servers() {
        let mut c = connect(s);
        c.batch_execute("CREATE TEMP TABLE groups_t (v int)")
            .unwrap();
        let mut p = c.pipeline_with(SyncMode::Explicit);
        p.query("INSERT INTO groups_t VALUES (1)", &[]);
        p.query("INSERT INTO groups_t VALUES ($1)", &[&2i32]);
        p.sync();
        p.query("INSERT INTO groups_t VALUES (3)", &[]);
        p.query("SELECT 1/0", &[]);
        p.query("INSERT INTO groups_t VALUES (4)", &[]);
        p.sync();
        // The last group has no sync of its own: run() ends it.
        p.query(
            "SELECT count(*)::int8, coalesce(sum(v), 0)::int8 FROM groups_t",
            &[],
        );
        let r = p.run().unwrap();
        assert_eq!(r.len(), 6);
        assert_eq!(r[0].as_ref().unwrap().rows_affected(), Some(1));
        assert_eq!(r[1].as_ref().unwrap().rows_affected(), Some(1));
        // It ran, then its group's implicit transaction was rolled back.
        assert_eq!(r[2].as_ref().unwrap().rows_affected(), Some(1));
        assert_eq!(r[3].as_ref().unwrap_err().sqlstate(), Some("22012"));
        assert!(skipped(&r[4]), "{:?}", r[4]);
        let row = &r[5].as_ref().unwrap().rows[0];
        assert_eq!(
            (row.get::<i64>(0).unwrap(), row.get::<i64>(1).unwrap()),
            (2, 3)
        );
        assert_eq!(c.transaction_status(), TransactionStatus::Idle);

        // Inside an explicit transaction an error aborts it across groups.
        let mut p = c.pipeline_with(SyncMode::Explicit);
        p.query("BEGIN", &[]);
        p.query("INSERT INTO groups_t VALUES (5)", &[]);
        p.sync();
        p.query("SELECT 1/0", &[]);
        p.sync();
        p.query("SELECT 1", &[]);
        p.sync();
        let r = p.run().unwrap();
        assert_eq!(r[2].as_ref().unwrap_err().sqlstate(), Some("22012"));
        assert_eq!(r[3].as_ref().unwrap_err().sqlstate(), Some("25P02"));
        assert_eq!(c.transaction_status(), TransactionStatus::Failed);
        c.batch_execute("ROLLBACK").unwrap();
        let n: i64 = c
            .query_one("SELECT count(*)::int8 FROM groups_t", &[])
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(n, 2);
    }
}

#[test]
fn pipeline_groups_on_hyperd_and_prepared_statements_in_a_group() {
    use hyperwire_blocking::SyncMode;
    for s in all_servers() {
        let mut c = connect(s);
        let stmt = c.prepare_typed("SELECT $1::int8 * 2", &[20]).unwrap();
        let mut p = c.pipeline_with(SyncMode::Explicit);
        p.execute(&stmt, &[&21i64]);
        p.query("SELECT $1::int8", &[&1i64]);
        p.sync();
        p.query("SELECT 1/0", &[]);
        p.execute(&stmt, &[&1i64]);
        p.sync();
        p.execute(&stmt, &[&5i64]);
        let r = p.run().unwrap();
        assert_eq!(r.len(), 5, "{:?}", s.kind());
        assert_eq!(r[0].as_ref().unwrap().rows[0].get::<i64>(0).unwrap(), 42);
        assert_eq!(r[1].as_ref().unwrap().rows[0].get::<i64>(0).unwrap(), 1);
        assert_eq!(r[2].as_ref().unwrap_err().sqlstate(), Some("22012"));
        assert!(skipped(&r[3]), "{:?}: {:?}", s.kind(), r[3]);
        assert_eq!(r[4].as_ref().unwrap().rows[0].get::<i64>(0).unwrap(), 10);
    }
}

#[test]
fn execute_many_inserts_in_chunks_all_or_nothing() {
    for s in pg_servers() {
        let mut c = connect(s);
        c.batch_execute("CREATE TEMP TABLE many_t (i int8 PRIMARY KEY, t text, f float8)")
            .unwrap();
        let values: Vec<(i64, String, f64)> = (0..10_000i64)
            .map(|i| (i, format!("row {i}"), i as f64 / 2.0))
            .collect();
        let rows: Vec<[&dyn hyperwire_blocking::ToSql; 3]> = values
            .iter()
            .map(|(i, t, f)| [i as _, t as _, f as _])
            .collect();
        let rows: Vec<&[&dyn hyperwire_blocking::ToSql]> = rows.iter().map(|r| &r[..]).collect();
        let sql = "INSERT INTO many_t VALUES ($1, $2, $3)";
        assert_eq!(c.execute_many(sql, &rows, 1000).unwrap(), 10_000);
        let count = |c: &mut Client| -> i64 {
            c.query_one("SELECT count(*) FROM many_t", &[])
                .unwrap()
                .get(0)
                .unwrap()
        };
        assert_eq!(count(&mut c), 10_000);
        let row = c
            .query_one("SELECT t, f FROM many_t WHERE i = 9999", &[])
            .unwrap();
        assert_eq!(row.get::<String>(0).unwrap(), "row 9999");
        assert_eq!(row.get::<f64>(1).unwrap(), 4999.5);

        // A duplicate key in the third chunk: nothing of any chunk stays.
        c.batch_execute("DELETE FROM many_t").unwrap();
        let mut rows = rows.clone();
        rows[2_500] = rows[0];
        let err = c.execute_many(sql, &rows, 1000).unwrap_err();
        assert_eq!(err.sqlstate(), Some("23505"), "{err}");
        assert_eq!(count(&mut c), 0);
        assert_eq!(c.transaction_status(), TransactionStatus::Idle);

        // Inside the caller's transaction: it aborts that transaction.
        c.batch_execute("BEGIN").unwrap();
        let err = c.execute_many(sql, &rows, 700).unwrap_err();
        assert_eq!(err.sqlstate(), Some("23505"));
        assert_eq!(c.transaction_status(), TransactionStatus::Failed);
        c.batch_execute("ROLLBACK").unwrap();
        assert_eq!(c.execute_many(sql, &rows[..10], 3).unwrap(), 10);
        assert_eq!(c.execute_many(sql, &[], 3).unwrap(), 0);
        assert_eq!(count(&mut c), 10);
    }
}

#[test]
fn pipeline_results_stream_and_dropping_them_midway_leaves_the_client_usable() {
    for s in pg_servers() {
        let mut c = connect(s);
        let mut p = c.pipeline();
        for i in 0..20_000i64 {
            p.query("SELECT $1::int8", &[&i]);
        }
        let mut results = p.results().unwrap();
        for i in 0..10i64 {
            let r = results.next().unwrap().unwrap();
            assert_eq!(r.rows[0].get::<i64>(0).unwrap(), i);
        }
        drop(results);
        assert!(c.is_healthy());
        assert_eq!(
            c.query_one("SELECT 7", &[]).unwrap().get::<i32>(0).unwrap(),
            7
        );

        // Read to the end, one by one: every outcome, in order.
        let mut p = c.pipeline();
        for i in 0..2_000i64 {
            p.query("SELECT $1::int8", &[&i]);
        }
        let mut n = 0i64;
        for r in p.results().unwrap() {
            assert_eq!(r.unwrap().rows[0].get::<i64>(0).unwrap(), n);
            n += 1;
        }
        assert_eq!(n, 2_000);
        assert_eq!(
            c.query_one("SELECT 8", &[]).unwrap().get::<i32>(0).unwrap(),
            8
        );
    }
}

#[test]
fn notices_are_collected() {
    for s in all_servers() {
        let mut c = connect(s);
        c.batch_execute("BEGIN").unwrap();
        c.batch_execute("BEGIN").unwrap();
        let notices = c.take_notices();
        assert_eq!(notices.len(), 1, "{:?}", s.kind());
        assert_eq!(notices[0].code(), "25001");
        c.batch_execute("ROLLBACK").unwrap();
    }
}

#[test]
fn close_sends_terminate() {
    for s in all_servers() {
        let c = connect(s);
        c.close().unwrap();
    }
}

#[test]
fn protocol_3_2_where_granted_and_the_hyper_fallback() {
    use hyperwire_proto::ProtocolVersion;
    // PostgreSQL 18 grants 3.2 and sends a long cancel key; cancel still works.
    let s = harness::pg18();
    let mut c = Client::connect(&format!(
        "{} max_protocol_version=3.2",
        s.conninfo(harness::TRUST_USER)
    ))
    .unwrap();
    assert_eq!(c.protocol_version(), ProtocolVersion::V3_2);
    let token = c.cancel_token().unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        token.cancel().unwrap();
    });
    let err = c.query("SELECT pg_sleep(30)", &[]).unwrap_err();
    t.join().unwrap();
    assert_eq!(err.sqlstate(), Some("57014"), "{err}");

    // PostgreSQL 15 answers 3.2 with NegotiateProtocolVersion: 3.0 it is.
    let s = harness::pg15();
    let c = Client::connect(&format!(
        "{} max_protocol_version=3.2",
        s.conninfo(harness::TRUST_USER)
    ))
    .unwrap();
    assert_eq!(c.protocol_version(), ProtocolVersion::V3_0);

    // hyperd closes the socket on a 3.2 startup: the client retries once with 3.0.
    let s = harness::hyper();
    let mut c = Client::connect(&format!(
        "{} max_protocol_version=3.2",
        s.conninfo(harness::HYPER_USER)
    ))
    .unwrap();
    assert_eq!(c.protocol_version(), ProtocolVersion::V3_0);
    assert_eq!(
        c.query_one("SELECT 4", &[]).unwrap().get::<i32>(0).unwrap(),
        4
    );
    // With min_protocol_version=3.2 there is nothing to fall back to.
    assert!(Client::connect(&format!(
        "{} min_protocol_version=3.2 max_protocol_version=3.2",
        s.conninfo(harness::HYPER_USER)
    ))
    .is_err());
}

#[test]
fn portals_fetch_a_few_rows_at_a_time() {
    for s in pg_servers() {
        let mut c = connect(s);
        let stmt = c
            .prepare("SELECT g::int8 FROM generate_series(1, 5) g")
            .unwrap();
        // On PostgreSQL a portal lives until the end of the transaction.
        let mut tx = c.transaction().unwrap();
        let mut portal = tx.bind_portal(&stmt, &[]).unwrap();
        let sizes: Vec<usize> = (0..3)
            .map(|_| tx.fetch(&mut portal, 2).unwrap().len())
            .collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert!(portal.is_done());
        // Two portals of one statement at once, read in turns.
        let mut a = tx.bind_portal(&stmt, &[]).unwrap();
        let mut b = tx.bind_portal(&stmt, &[]).unwrap();
        let first = |rows: Vec<hyperwire_blocking::Row>| rows[0].get::<i64>(0).unwrap();
        assert_eq!(first(tx.fetch(&mut a, 3).unwrap()), 1);
        assert_eq!(first(tx.fetch(&mut b, 1).unwrap()), 1);
        assert_eq!(first(tx.fetch(&mut a, 3).unwrap()), 4);
        assert_eq!(first(tx.fetch(&mut b, 1).unwrap()), 2);
        tx.close_portal(b).unwrap();
        assert!(tx.fetch(&mut a, 1).unwrap().is_empty() && a.is_done());
        tx.commit().unwrap();
    }
}

#[test]
fn hyperd_survives_the_portal_pattern_that_crashes_it() {
    // docs/hyper.md §4: resuming a portal with Execute(0) after two suspensions kills
    // hyperd. The core never sends 0 to hyperd. A server of our own, just in case.
    let s = Server::start(harness::ServerKind::Hyper, harness::ServerOptions::new()).unwrap();
    let mut c = connect(&s);
    let stmt = c.prepare("SELECT g FROM generate_series(1, 5) g").unwrap();
    let mut portal = c.bind_portal(&stmt, &[]).unwrap();
    let a = c.fetch(&mut portal, 2).unwrap();
    let b = c.fetch(&mut portal, 2).unwrap();
    let rest = c.fetch(&mut portal, 0).unwrap();
    assert_eq!((a.len(), b.len(), rest.len()), (2, 2, 1));
    assert_eq!(rest[0].get::<i64>(0).unwrap(), 5);
    assert!(portal.is_done());
    // The server is alive: a new session works.
    let mut d = connect(&s);
    assert_eq!(
        d.query_one("SELECT 1", &[]).unwrap().get::<i32>(0).unwrap(),
        1
    );
}

#[test]
fn hyper_binary_results_decode() {
    let s = harness::hyper();
    let conninfo = format!(
        "{} options='-c result_format_code=HyperBinary'",
        s.conninfo(harness::HYPER_USER)
    );
    let mut c = Client::connect(&conninfo).unwrap();
    let r = c
        .simple_query("SELECT 123456::int AS i, (-5000000000)::bigint AS b, 3.25::double precision AS f, 'héllo'::text AS t")
        .unwrap();
    let row = &r[0].rows[0];
    assert_eq!(
        r[0].columns[0].format(),
        hyperwire_blocking::Format::HyperBinary
    );
    assert_eq!(row.get::<i32>(0).unwrap(), 123_456);
    assert_eq!(row.get::<i64>(1).unwrap(), -5_000_000_000);
    assert_eq!(row.get::<f64>(2).unwrap(), 3.25);
    assert_eq!(row.get::<&str>(3).unwrap(), "héllo");
    // The raw bytes are little-endian, as docs/hyper.md §5 records.
    assert_eq!(row.raw(0).unwrap(), Some(&[0x40, 0xe2, 0x01, 0x00][..]));
}

#[test]
fn statement_cache_recovers_from_stale_statements() {
    use hyperwire_blocking::StatementPolicy;
    for s in pg_servers() {
        let mut c = connect(s);
        let t = table(s, "cache");
        c.batch_execute(&format!("CREATE TEMP TABLE {t} (a int)"))
            .unwrap();
        c.execute(&format!("INSERT INTO {t} VALUES ($1)"), &[&1i32])
            .unwrap();
        let q = format!("SELECT * FROM {t}");
        assert_eq!(c.query_result(&q, &[]).unwrap().columns.len(), 1);
        // The second run reuses the cached statement and gets int4 in binary.
        let r = c.query_result(&q, &[]).unwrap();
        assert_eq!(r.columns[0].format(), hyperwire_blocking::Format::Binary);
        // The result type changes under the cached plan: 0A000, evicted, retried.
        c.batch_execute(&format!("ALTER TABLE {t} ADD COLUMN b int"))
            .unwrap();
        assert_eq!(
            c.query_result(&q, &[]).unwrap().columns.len(),
            2,
            "{:?}",
            s.kind()
        );
        // The server forgets every statement: 26000, evicted, retried.
        c.batch_execute("DEALLOCATE ALL").unwrap();
        assert_eq!(c.query(&q, &[]).unwrap().len(), 1);
        // Inside a transaction there is no retry: the error is the caller's.
        c.batch_execute("DEALLOCATE ALL").unwrap();
        let mut tx = c.transaction().unwrap();
        let err = tx.query(&q, &[]).unwrap_err();
        assert_eq!(err.sqlstate(), Some("26000"), "{err}");
        tx.rollback().unwrap();
        assert_eq!(
            c.query(&q, &[]).unwrap().len(),
            1,
            "evicted, so prepared again"
        );

        // The other policies.
        c.set_statement_policy(StatementPolicy::Unnamed);
        assert_eq!(
            c.query_one("SELECT $1::int8", &[&5i64])
                .unwrap()
                .get::<i64>(0)
                .unwrap(),
            5
        );
        c.set_statement_policy(StatementPolicy::Simple);
        assert_eq!(
            c.query_one("SELECT 6", &[]).unwrap().get::<i32>(0).unwrap(),
            6
        );
        assert!(
            c.query("SELECT $1::int8", &[&5i64]).is_err(),
            "no parameters with the simple protocol"
        );
    }
}

#[test]
fn pipeline_groups_and_execute_many_through_pgbouncer_in_transaction_mode() {
    use hyperwire_blocking::SyncMode;
    let s = harness::pgbouncer();
    // Several clients share the pool's few server connections, in turns.
    let mut clients: Vec<Client> = (0..4)
        .map(|_| Client::connect(&s.conninfo(harness::SCRAM_USER)).unwrap())
        .collect();
    let table = format!("bouncer_many_{}", std::process::id());
    clients[0]
        .batch_execute(&format!("CREATE TABLE {table} (i int8 PRIMARY KEY)"))
        .unwrap();
    for (n, c) in clients.iter_mut().enumerate() {
        let n = n as i64;
        let mut p = c.pipeline_with(SyncMode::Explicit);
        p.query("SELECT $1::int8", &[&n]);
        p.query("SELECT 1/0", &[]);
        p.query("SELECT 2", &[]);
        p.sync();
        p.query("SELECT $1::int8 + 10", &[&n]);
        let r = p.run().unwrap();
        assert_eq!(r[0].as_ref().unwrap().rows[0].get::<i64>(0).unwrap(), n);
        assert_eq!(r[1].as_ref().unwrap_err().sqlstate(), Some("22012"));
        assert!(skipped(&r[2]), "{:?}", r[2]);
        assert_eq!(
            r[3].as_ref().unwrap().rows[0].get::<i64>(0).unwrap(),
            n + 10
        );

        // execute_many runs in a transaction of its own: one server connection.
        let keys: Vec<i64> = (n * 1000..n * 1000 + 1000).collect();
        let rows: Vec<[&dyn hyperwire_blocking::ToSql; 1]> =
            keys.iter().map(|k| [k as _]).collect();
        let rows: Vec<&[&dyn hyperwire_blocking::ToSql]> = rows.iter().map(|r| &r[..]).collect();
        let sql = format!("INSERT INTO {table} VALUES ($1)");
        assert_eq!(c.execute_many(&sql, &rows, 100).unwrap(), 1000);
    }
    let n: i64 = clients[1]
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .unwrap()
        .get(0)
        .unwrap();
    clients[2]
        .batch_execute(&format!("DROP TABLE {table}"))
        .unwrap();
    assert_eq!(n, 4000);
}

#[test]
fn statement_policies_through_pgbouncer_in_transaction_mode() {
    use hyperwire_blocking::StatementPolicy;
    let s = harness::pgbouncer();
    let run = |policy: StatementPolicy| -> Vec<String> {
        // Several clients share the pool's few server connections.
        let mut clients: Vec<Client> = (0..4)
            .map(|_| {
                let mut c = Client::connect(&s.conninfo(harness::SCRAM_USER)).unwrap();
                c.set_statement_policy(policy);
                c
            })
            .collect();
        let mut errors = Vec::new();
        for i in 0..40i64 {
            let c = &mut clients[(i % 4) as usize];
            let sql = format!("SELECT {}::int8 + 0", i % 3);
            match c.query_one(&sql, &[]) {
                Ok(row) => assert_eq!(row.get::<i64>(0).unwrap(), i % 3),
                Err(e) => errors.push(e.sqlstate().unwrap_or("?").to_owned()),
            }
        }
        errors
    };
    // The unnamed statement and the simple protocol work in transaction pooling.
    assert!(run(StatementPolicy::Unnamed).is_empty());
    assert!(run(StatementPolicy::Simple).is_empty());
    // Named statements live on one server connection. A Bind that lands on
    // another one fails with 26000; the cache evicts and prepares again in the
    // same round trip: outside transactions every query succeeds (at the cost of a
    // retry and of statements left behind on the server connections). Names are
    // unique per client connection, so they never collide (42P05).
    let named = run(StatementPolicy::default());
    assert!(named.is_empty(), "{named:?}");
}

/// Reconnecting with SCRAM reuses the salted password (PBKDF2 skipped); a wrong
/// password still fails, and a cached key never replaces the password check.
#[test]
fn scram_reconnects_reuse_the_salted_password() {
    for (s, user) in [
        (harness::pg15(), harness::SCRAM_USER),
        (harness::hyper_scram(), harness::HYPER_USER),
    ] {
        let first = Client::connect(&s.conninfo(user)).unwrap();
        drop(first);
        let mut again = Client::connect(&s.conninfo(user)).unwrap();
        assert!(again.scram_key_reused(), "{:?}", s.kind());
        assert_eq!(
            again
                .query_one("SELECT 1", &[])
                .unwrap()
                .get::<i32>(0)
                .unwrap(),
            1
        );
        let wrong = s.conninfo(user).replace("password=", "password=wrong-");
        assert!(Client::connect(&wrong).is_err(), "{:?}", s.kind());
        let third = Client::connect(&s.conninfo(user)).unwrap();
        assert!(third.scram_key_reused(), "{:?}", s.kind());
    }
}

/// A row iterator reads through the core's event path: notices raised while
/// iterating reach the client, the request timeout bounds every wait, and a
/// statement that turns out to be COPY FROM STDIN ends with the query methods'
/// COPY error instead of hanging.
#[test]
fn row_iterator_keeps_notices_applies_the_timeout_and_refuses_copy() {
    for s in pg_servers() {
        let mut c = connect(s);
        c.batch_execute(
            "CREATE FUNCTION pg_temp.noisy(i int) RETURNS int AS $$ \
             BEGIN RAISE NOTICE 'row %', i; RETURN i; END $$ LANGUAGE plpgsql",
        )
        .unwrap();
        let rows: Vec<i32> = c
            .query_iter("SELECT pg_temp.noisy(g) FROM generate_series(1, 3) g", &[])
            .unwrap()
            .map(|r| r.unwrap().get::<i32>(0).unwrap())
            .collect();
        assert_eq!(rows, [1, 2, 3]);
        let notices: Vec<String> = c
            .take_notices()
            .iter()
            .map(|n| n.message().to_owned())
            .collect();
        assert_eq!(notices, ["row 1", "row 2", "row 3"], "{:?}", s.kind());

        c.batch_execute("CREATE TEMP TABLE it_copy (i int)")
            .unwrap();
        let start = Instant::now();
        let err = c
            .query_iter("COPY it_copy FROM STDIN", &[])
            .unwrap()
            .next()
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(err, Error::UnexpectedResult(m) if m == hyperwire_proto::engine::COPY_NOT_EXPECTED),
            "{err}"
        );
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(
            c.query_one("SELECT 5", &[]).unwrap().get::<i32>(0).unwrap(),
            5
        );

        // The timeout applies while iterating: a row that takes too long to come.
        c.set_request_timeout(
            Some(Duration::from_millis(300)),
            TimeoutPolicy::CancelThenDrain,
        );
        let start = Instant::now();
        let mut it = c.query_iter("SELECT pg_sleep(30)", &[]).unwrap();
        assert!(matches!(it.next(), Some(Err(Error::Timeout))));
        // The policy settled the request: the rows end, and dropping waits for nothing.
        assert!(it.next().is_none());
        drop(it);
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
        c.set_request_timeout(None, TimeoutPolicy::CancelThenDrain);
        assert_eq!(
            c.query_one("SELECT 6", &[]).unwrap().get::<i32>(0).unwrap(),
            6
        );
    }
}
