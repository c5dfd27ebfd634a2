//! The tokio Connection against real servers (PostgreSQL 15, 18 and hyperd), and
//! its cancel safety: futures dropped at every point, thousands of times, and the
//! next query still gets its own answer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use hyperwire_tests::{self as harness, Server};
use hyperwire_tokio::{Connection, DropPolicy, StatementPolicy, TransactionStatus};

/// Polls `fut` at most `polls` times (waiting for a wake-up between polls), then
/// drops it: a deterministic way to abandon a request at a chosen point.
async fn poll_a_few<F: std::future::Future>(polls: usize, fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut n = 0;
    poll_fn(|cx| match fut.as_mut().poll(cx) {
        std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
        std::task::Poll::Pending => {
            n += 1;
            if n >= polls {
                std::task::Poll::Ready(None)
            } else {
                std::task::Poll::Pending
            }
        }
    })
    .await
}

/// `StreamExt::next` without another dependency.
async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

fn servers() -> [&'static Server; 3] {
    [harness::pg15(), harness::pg18(), harness::hyper()]
}

fn user(s: &Server) -> &'static str {
    if s.database().is_none() {
        harness::HYPER_USER
    } else {
        harness::SCRAM_USER
    }
}

async fn connect(s: &Server) -> Connection {
    Connection::connect(&s.conninfo(user(s)))
        .await
        .unwrap_or_else(|e| panic!("{:?}: {e}", s.kind()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_prepared_statements_and_errors() {
    for s in servers() {
        let mut c = connect(s).await;
        let row = c
            .query_one("SELECT $1::int4 + 1, $2::text", &[&41i32, &"hé"])
            .await
            .unwrap();
        assert_eq!(row.get::<i32>(0).unwrap(), 42);
        assert_eq!(row.get::<&str>(1).unwrap(), "hé");
        // The statement cache: the second run reuses it with binary results.
        for i in 0..3i64 {
            let r = c.query_result("SELECT $1::int8 * 2", &[&i]).await.unwrap();
            assert_eq!(r.rows[0].get::<i64>(0).unwrap(), i * 2);
        }
        let stmt = c.prepare("SELECT $1::int8 + 1").await.unwrap();
        assert_eq!(
            c.query_prepared(&stmt, &[&1i64]).await.unwrap()[0]
                .get::<i64>(0)
                .unwrap(),
            2
        );
        let err = c.query("SELECT 1/0", &[]).await.unwrap_err();
        assert_eq!(err.sqlstate(), Some("22012"), "{:?}", s.kind());
        assert!(c.is_healthy());
        c.set_statement_policy(StatementPolicy::Unnamed);
        assert_eq!(
            c.query_one("SELECT 5", &[])
                .await
                .unwrap()
                .get::<i32>(0)
                .unwrap(),
            5
        );
        c.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_copy_transactions_and_pipelines() {
    for s in servers() {
        let mut c = connect(s).await;
        let mut sum = 0i64;
        {
            let mut rows = c
                .query_stream("SELECT g::int8 FROM generate_series(1, 100000) g", &[])
                .await
                .unwrap();
            while let Some(row) = next(&mut rows).await {
                sum += row.unwrap().get::<i64>(0).unwrap();
            }
        }
        assert_eq!(sum, 100_000 * 100_001 / 2);

        let t = format!("tok_{:?}", s.kind()).to_lowercase();
        c.batch_execute(&format!("CREATE TEMP TABLE {t} (i int, t text)"))
            .await
            .unwrap();
        let mut w = c
            .copy_in(&format!("COPY {t} FROM STDIN WITH (FORMAT text)"))
            .await
            .unwrap();
        for i in 0..1000 {
            w.send(format!("{i}\trow {i}\n").as_bytes()).await.unwrap();
        }
        assert_eq!(w.finish().await.unwrap(), 1000);
        // An abandoned COPY IN loads nothing.
        {
            let mut w = c
                .copy_in(&format!("COPY {t} FROM STDIN WITH (FORMAT text)"))
                .await
                .unwrap();
            w.send(b"1\tlost\n").await.unwrap();
        }
        let mut out = Vec::new();
        {
            let mut chunks = c
                .copy_out(&format!(
                    "COPY (SELECT * FROM {t}) TO STDOUT WITH (FORMAT csv)"
                ))
                .await
                .unwrap();
            while let Some(chunk) = next(&mut chunks).await {
                out.extend_from_slice(&chunk.unwrap());
            }
        }
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 1000);

        c.begin().await.unwrap();
        assert_eq!(c.transaction_status(), TransactionStatus::InTransaction);
        c.execute(&format!("INSERT INTO {t} VALUES (5000, 'x')"), &[])
            .await
            .unwrap();
        c.rollback().await.unwrap();
        let n: i64 = c
            .query_one(&format!("SELECT count(*) FROM {t}"), &[])
            .await
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(n, 1000);

        let results = c
            .pipeline(&[
                ("SELECT $1::int4", &[&1i32]),
                ("SELECT 1/0", &[]),
                ("SELECT $1::int4", &[&3i32]),
            ])
            .await
            .unwrap();
        assert_eq!(
            results[0].as_ref().unwrap().rows[0].get::<i32>(0).unwrap(),
            1
        );
        assert_eq!(results[1].as_ref().unwrap_err().sqlstate(), Some("22012"));
        assert_eq!(
            results[2].as_ref().unwrap().rows[0].get::<i32>(0).unwrap(),
            3
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_token_and_notifications() {
    for s in servers() {
        let mut c = connect(s).await;
        let token = c.cancel_token().unwrap();
        let sql = if s.database().is_none() {
            "SELECT count(*) FROM generate_series(1, 10000000000)"
        } else {
            "SELECT pg_sleep(30)"
        };
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            token.cancel().await.unwrap();
        });
        let err = c.query(sql, &[]).await.unwrap_err();
        canceller.await.unwrap();
        assert_eq!(err.sqlstate(), Some("57014"), "{:?}: {err}", s.kind());
        assert_eq!(
            c.query_one("SELECT 7", &[])
                .await
                .unwrap()
                .get::<i32>(0)
                .unwrap(),
            7
        );
    }
    for s in [harness::pg15(), harness::pg18()] {
        let mut listener = connect(s).await;
        let mut notifier = connect(s).await;
        listener.batch_execute("LISTEN tok_chan").await.unwrap();
        notifier
            .execute("SELECT pg_notify('tok_chan', 'hi')", &[])
            .await
            .unwrap();
        let n = listener
            .wait_for_notification(Some(Duration::from_secs(10)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n.payload, "hi");
        assert!(listener
            .wait_for_notification(Some(Duration::from_millis(100)))
            .await
            .unwrap()
            .is_none());
    }
}

/// Drop query futures at arbitrary points (tiny timeouts), then check the next
/// query gets its own result: thousands of times, under each drop policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_futures_never_confuse_the_next_query() {
    let only = std::env::var("HW_ONLY_HYPER").is_ok();
    for s in servers() {
        if only && s.database().is_some() {
            continue;
        }
        let policies: &[DropPolicy] = if only {
            &[DropPolicy::Drain, DropPolicy::CancelThenDrain]
        } else {
            &[DropPolicy::CancelThenDrain, DropPolicy::Drain]
        };
        for &policy in policies {
            let mut c = connect(s).await;
            c.set_drop_policy(policy);
            let mut completed = 0;
            for i in 0..1000i64 {
                // Dropped after 1, 2, 3... polls: right after sending, after the first
                // bytes of the answer, and so on; every fifth runs to its end.
                let polls = (i % 5) as usize + 1;
                let r = poll_a_few(
                    if i % 5 == 4 { usize::MAX } else { polls },
                    c.query("SELECT $1::int8, g FROM generate_series(1, 20) g", &[&i]),
                )
                .await;
                if let Some(Ok(rows)) = r {
                    assert_eq!(rows.len(), 20);
                    assert_eq!(rows[0].get::<i64>(0).unwrap(), i, "a stale answer");
                    completed += 1;
                }
                if i % 50 == 0 {
                    // A stream dropped mid-way.
                    let mut rows = c
                        .query_stream("SELECT g FROM generate_series(1, 100000) g", &[])
                        .await
                        .unwrap();
                    let _ = next(&mut rows).await;
                }
                let check = 1_000_000 + i;
                let row = c
                    .query_one("SELECT $1::int8", &[&check])
                    .await
                    .unwrap_or_else(|e| panic!("{:?} {policy:?} #{i}: {e}", s.kind()));
                assert_eq!(
                    row.get::<i64>(0).unwrap(),
                    check,
                    "{:?} {policy:?} #{i}",
                    s.kind()
                );
            }
            assert!(c.is_healthy());
            eprintln!(
                "{:?} {policy:?}: {completed} of 1000 timed queries completed",
                s.kind()
            );
            assert!(
                completed < 900,
                "too few futures were dropped to test anything"
            );
        }
    }
}

/// Many tasks share one pipelined Client; some drop their futures midway. Every
/// completed query returns its own value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_client_pipelines_many_tasks() {
    use hyperwire_tokio::Client;
    for s in servers() {
        let (client, driver) = Client::connect(&s.conninfo(user(s))).await.unwrap();
        let driver = tokio::spawn(driver);
        let mut tasks = Vec::new();
        for t in 0..32i64 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let mut ok = 0;
                for i in 0..50i64 {
                    let v = t * 1000 + i;
                    if i % 7 == 3 {
                        // Dropped after one poll: its answer must not reach anyone.
                        let _ = poll_a_few(1, client.query("SELECT $1::int8", &[&v])).await;
                        continue;
                    }
                    let rows = client.query("SELECT $1::int8", &[&v]).await.unwrap();
                    assert_eq!(rows[0].get::<i64>(0).unwrap(), v);
                    ok += 1;
                }
                ok
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        assert_eq!(total, 32 * (50 - 7));
        let err = client.query("SELECT 1/0", &[]).await.unwrap_err();
        assert_eq!(err.sqlstate(), Some("22012"), "{:?}", s.kind());
        drop(client);
        driver.await.unwrap().unwrap();
    }
}

/// Connection futures are `Send`: they can run on a multi-threaded runtime's tasks.
#[test]
fn connection_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    async fn uses(c: &mut Connection) {
        let _ = c.query("SELECT $1::int8", &[&1i64]).await;
        let _ = c.query_result("SELECT 1", &[]).await;
        let _ = c.simple_query("SELECT 1").await;
    }
    let f = async {
        let mut c = Connection::connect("host=127.0.0.1 port=1").await.unwrap();
        uses(&mut c).await;
    };
    assert_send(&f);
}
