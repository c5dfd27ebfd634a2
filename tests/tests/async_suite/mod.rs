//! The async adapters' tests, written once for every runtime (tokio, async-std,
//! smol) against real servers: PostgreSQL 15, 18 and hyperd (PgBouncer for the
//! statement policies). Each runtime's test file calls these with its runtime.
#![allow(dead_code, unreachable_pub, missing_docs)]

use hyperwire_proto::engine::COPY_NOT_EXPECTED;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use futures_core::Stream;
use hyperwire_async::runtime::Runtime;
use hyperwire_async::{Client, Connection, DropPolicy, Error, StatementPolicy, TransactionStatus};
use hyperwire_tests::{self as harness, Server};

/// What the tests need beyond [`Runtime`]: spawning a task.
pub trait TestRuntime: Runtime {
    /// Spawns `f`; the returned future is its output.
    fn spawn<T: Send + 'static>(
        f: impl Future<Output = T> + Send + 'static,
    ) -> Pin<Box<dyn Future<Output = T> + Send>>;
}

impl TestRuntime for hyperwire_tokio::Tokio {
    fn spawn<T: Send + 'static>(
        f: impl Future<Output = T> + Send + 'static,
    ) -> Pin<Box<dyn Future<Output = T> + Send>> {
        let handle = tokio::spawn(f);
        Box::pin(async move { handle.await.expect("the task panicked") })
    }
}

impl TestRuntime for hyperwire_async_std::AsyncStd {
    fn spawn<T: Send + 'static>(
        f: impl Future<Output = T> + Send + 'static,
    ) -> Pin<Box<dyn Future<Output = T> + Send>> {
        Box::pin(async_std::task::spawn(f))
    }
}

impl TestRuntime for hyperwire_async_std::Smol {
    fn spawn<T: Send + 'static>(
        f: impl Future<Output = T> + Send + 'static,
    ) -> Pin<Box<dyn Future<Output = T> + Send>> {
        Box::pin(smol::spawn(f))
    }
}

/// Polls `fut` at most `polls` times (waiting for a wake-up between polls), then
/// drops it: a deterministic way to abandon a request at a chosen point.
pub async fn poll_a_few<F: Future>(polls: usize, fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut n = 0;
    poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(v) => Poll::Ready(Some(v)),
        Poll::Pending => {
            n += 1;
            if n >= polls {
                Poll::Ready(None)
            } else {
                Poll::Pending
            }
        }
    })
    .await
}

/// `StreamExt::next` without another dependency.
pub async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

/// `next` with a deadline (`None` when it passed).
pub async fn next_within<R: Runtime, S: Stream + Unpin>(
    s: &mut S,
    limit: Duration,
) -> Option<Option<S::Item>> {
    let mut sleep = std::pin::pin!(R::sleep(limit));
    poll_fn(|cx| {
        if let Poll::Ready(v) = Pin::new(&mut *s).poll_next(cx) {
            return Poll::Ready(Some(v));
        }
        sleep.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// Runs `fut` until `limit` passes (`None`: dropped unfinished).
pub async fn within<R: Runtime, F: Future>(limit: Duration, fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut sleep = std::pin::pin!(R::sleep(limit));
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        sleep.as_mut().poll(cx).map(|()| None)
    })
    .await
}

pub fn servers() -> [&'static Server; 3] {
    [harness::pg15(), harness::pg18(), harness::hyper()]
}

pub fn user(s: &Server) -> &'static str {
    if s.database().is_none() {
        harness::HYPER_USER
    } else {
        harness::SCRAM_USER
    }
}

pub async fn connect<R: Runtime>(s: &Server) -> Connection<R> {
    Connection::connect(&s.conninfo(user(s)))
        .await
        .unwrap_or_else(|e| panic!("{:?}: {e}", s.kind()))
}

pub async fn queries_prepared_statements_and_errors<R: Runtime>() {
    for s in servers() {
        let mut c = connect::<R>(s).await;
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

pub async fn streams_copy_transactions_and_pipelines<R: Runtime>(tag: &str) {
    for s in servers() {
        let mut c = connect::<R>(s).await;
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

        let t = format!("{tag}_{:?}", s.kind()).to_lowercase();
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
        // A COPY IN the server rejects: the error, and the connection stays usable.
        let mut w = c
            .copy_in(&format!("COPY {t} FROM STDIN WITH (FORMAT text)"))
            .await
            .unwrap();
        w.send(b"not a number\tx\n").await.unwrap();
        assert_eq!(w.finish().await.unwrap_err().sqlstate(), Some("22P02"));
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
            assert_eq!(chunks.tag(), Some("COPY 1000"));
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

        // Sync groups: the failed group's other statements are skipped, and its
        // implicit transaction rolled back; the next group runs.
        let results = c
            .pipeline_groups(&[
                &[("SELECT $1::int4", &[&1i32]), ("SELECT 2", &[])],
                &[
                    ("SELECT 3", &[]),
                    ("SELECT 1/0", &[]),
                    ("SELECT $1::int4", &[&5i32]),
                ],
                &[("SELECT 6", &[])],
            ])
            .await
            .unwrap();
        assert_eq!(results.len(), 6);
        let value = |i: usize| results[i].as_ref().unwrap().rows[0].get::<i32>(0).unwrap();
        assert_eq!([value(0), value(1), value(2), value(5)], [1, 2, 3, 6]);
        assert_eq!(results[3].as_ref().unwrap_err().sqlstate(), Some("22012"));
        assert!(
            matches!(&results[4], Err(Error::UnexpectedResult(m)) if m.contains("skipped")),
            "{:?}",
            results[4]
        );

        // execute_many: chunks of Bind/Execute, all or nothing.
        if s.kind().is_postgres() {
            let m = format!("{t}_many");
            c.batch_execute(&format!("CREATE TEMP TABLE {m} (i int8 PRIMARY KEY)"))
                .await
                .unwrap();
            let keys: Vec<i64> = (0..6000).collect();
            let rows: Vec<[&(dyn hyperwire_async::ToSql + Sync); 1]> =
                keys.iter().map(|k| [k as _]).collect();
            let mut rows: Vec<&[&(dyn hyperwire_async::ToSql + Sync)]> =
                rows.iter().map(|r| &r[..]).collect();
            let sql = format!("INSERT INTO {m} VALUES ($1)");
            assert_eq!(
                c.execute_many(&sql, &rows[..3000], 256).await.unwrap(),
                3000
            );
            // New keys but for a duplicate in the last chunk.
            rows[5999] = rows[3000];
            let err = c.execute_many(&sql, &rows[3000..], 256).await.unwrap_err();
            assert_eq!(err.sqlstate(), Some("23505"));
            let n: i64 = c
                .query_one(&format!("SELECT count(*) FROM {m}"), &[])
                .await
                .unwrap()
                .get(0)
                .unwrap();
            assert_eq!(n, 3000, "the failed batch left nothing");
        }
    }
}

/// COPY through a `Sink`: every chunk arrives, close finishes the COPY.
pub async fn copy_in_as_sink<R: Runtime>() {
    use futures_sink::Sink;
    for s in servers() {
        let mut c = connect::<R>(s).await;
        c.batch_execute("CREATE TEMP TABLE sink_t (i int8)")
            .await
            .unwrap();
        let mut copy = c
            .copy_in("COPY sink_t FROM STDIN WITH (FORMAT text)")
            .await
            .unwrap();
        let mut w = Pin::new(&mut copy);
        for i in 0..5000 {
            poll_fn(|cx| w.as_mut().poll_ready(cx)).await.unwrap();
            w.as_mut()
                .start_send(bytes::Bytes::from(format!("{i}\n")))
                .unwrap();
        }
        poll_fn(|cx| w.as_mut().poll_close(cx)).await.unwrap();
        assert_eq!(w.rows(), Some(5000));
        drop(copy);
        let sum: i64 = c
            .query_one("SELECT sum(i)::int8 FROM sink_t", &[])
            .await
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(sum, 4999 * 5000 / 2);
    }
}

pub async fn cancel_token<R: TestRuntime>() {
    for s in servers() {
        let mut c = connect::<R>(s).await;
        let token = c.cancel_token().unwrap();
        let sql = if s.database().is_none() {
            "SELECT count(*) FROM generate_series(1, 10000000000)"
        } else {
            "SELECT pg_sleep(30)"
        };
        let canceller = R::spawn(async move {
            R::sleep(Duration::from_millis(300)).await;
            token.cancel().await.unwrap();
        });
        let err = c.query(sql, &[]).await.unwrap_err();
        canceller.await;
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
}

/// Connection::wait_for_notification, and the Client's notification streams:
/// received while idle, bounded with a dropped count, ended when the connection
/// is lost. hyperd has no LISTEN: its error is checked.
pub async fn notifications<R: TestRuntime>() {
    for s in [harness::pg15(), harness::pg18()] {
        let mut listener = connect::<R>(s).await;
        let mut notifier = connect::<R>(s).await;
        listener.batch_execute("LISTEN conn_chan").await.unwrap();
        notifier
            .execute("SELECT pg_notify('conn_chan', 'hi')", &[])
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

        let (client, driver) = Client::<R>::connect(&s.conninfo(user(s))).await.unwrap();
        let driver = R::spawn(driver);
        let mut all = client.notifications();
        let mut small = client.notifications_with_capacity(2);
        client.batch_execute("LISTEN client_chan").await.unwrap();
        let pid: i32 = client.query("SELECT pg_backend_pid()", &[]).await.unwrap()[0]
            .get(0)
            .unwrap();
        let notifier_pid: i32 = notifier
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0)
            .unwrap();
        // Sent while the client is idle: the driver keeps reading.
        notifier
            .execute(
                "SELECT pg_notify('client_chan', 'n' || g) FROM generate_series(1, 5) g",
                &[],
            )
            .await
            .unwrap();
        for g in 1..=5 {
            let n = next_within::<R, _>(&mut all, Duration::from_secs(10))
                .await
                .expect("a notification within 10 s")
                .unwrap()
                .unwrap();
            assert_eq!(n.channel, "client_chan");
            assert_eq!(n.payload, format!("n{g}"));
            assert_eq!(i64::from(n.process_id), i64::from(notifier_pid));
        }
        // The driver hands each notification to the streams one after the
        // other: `all` may have the fifth before `small` counted it as dropped.
        for _ in 0..1000 {
            if small.dropped() >= 3 {
                break;
            }
            R::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(small.dropped(), 3);
        assert_eq!(small.try_next().unwrap().payload, "n1");
        assert_eq!(small.try_next().unwrap().payload, "n2");
        assert!(small.try_next().is_none());
        // The connection is lost: the stream says so, then ends.
        notifier
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .unwrap();
        let end = next_within::<R, _>(&mut all, Duration::from_secs(10))
            .await
            .expect("the end within 10 s");
        assert!(
            matches!(end, Some(Err(Error::ConnectionLost(_)))),
            "{end:?}"
        );
        assert!(next(&mut all).await.is_none());
        assert!(driver.await.is_err());
    }
    let mut c = connect::<R>(harness::hyper()).await;
    let err = c.batch_execute("LISTEN chan").await.unwrap_err();
    assert_eq!(err.sqlstate(), Some("42601"));
    assert!(c.is_healthy());
}

/// Drop query futures at arbitrary points, then check the next query gets its
/// own result: `rounds` times per server and drop policy.
pub async fn dropped_futures_never_confuse_the_next_query<R: Runtime>(rounds: i64) {
    for s in servers() {
        for policy in [DropPolicy::CancelThenDrain, DropPolicy::Drain] {
            let mut c = connect::<R>(s).await;
            c.set_drop_policy(policy);
            let mut completed = 0;
            for i in 0..rounds {
                // Dropped after 1, 2, 3... polls: right after sending, after the first
                // bytes of the answer, and so on; every fifth runs to its end.
                // Every fifth is dropped at a point in time instead (a tiny deadline).
                let polls = (i % 5) as usize + 1;
                // Every fifth reads 50 000 rows: no socket holds that, so one poll
                // cannot finish it and it is dropped mid-result for sure.
                let n: i64 = if i % 5 == 0 { 50_000 } else { 20 };
                let params: [&(dyn hyperwire_async::ToSql + Sync); 2] = [&i, &n];
                let query = c.query(
                    "SELECT $1::int8, g FROM generate_series(1, $2::int8) g",
                    &params,
                );
                let r = match i % 5 {
                    4 => Some(query.await),
                    3 => within::<R, _>(Duration::from_micros(20 * (i as u64 % 30)), query).await,
                    _ => poll_a_few(polls, query).await,
                };
                if let Some(Ok(rows)) = r {
                    assert_eq!(rows.len() as i64, n);
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
                if i % 97 == 0 {
                    // A COPY OUT dropped mid-way.
                    let mut chunks = c
                        .copy_out("COPY (SELECT g FROM generate_series(1, 200000) g) TO STDOUT WITH (FORMAT text)")
                        .await
                        .unwrap();
                    let _ = next(&mut chunks).await;
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
                "{:?} {policy:?}: {completed} of {rounds} timed queries completed",
                s.kind()
            );
            assert!(
                completed <= rounds * 95 / 100,
                "too few futures were dropped to test anything"
            );
        }
    }
}

/// Many tasks share one pipelined Client; some drop their futures midway. Every
/// completed query returns its own value.
pub async fn shared_client_pipelines_many_tasks<R: TestRuntime>() {
    for s in servers() {
        let (client, driver) = Client::<R>::connect(&s.conninfo(user(s))).await.unwrap();
        let driver = R::spawn(driver);
        let mut tasks = Vec::new();
        for t in 0..32i64 {
            let client = client.clone();
            tasks.push(R::spawn(async move {
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
            total += t.await;
        }
        assert_eq!(total, 32 * (50 - 7));
        let err = client.query("SELECT 1/0", &[]).await.unwrap_err();
        assert_eq!(err.sqlstate(), Some("22012"), "{:?}", s.kind());
        drop(client);
        driver.await.unwrap();
    }
}

/// The three statement policies through PgBouncer in transaction mode, on the
/// Connection and on the shared Client. All three work: unnamed and simple by
/// design; named because a statement missing on another server connection
/// (26000) is evicted and prepared again, once, outside transactions.
pub async fn statement_policies_through_pgbouncer<R: TestRuntime>() {
    let s = harness::pgbouncer();
    for policy in [
        StatementPolicy::Unnamed,
        StatementPolicy::Simple,
        StatementPolicy::default(),
    ] {
        let mut conns = Vec::new();
        for _ in 0..3 {
            let mut c = connect::<R>(s).await;
            c.set_statement_policy(policy);
            conns.push(c);
        }
        for i in 0..30i64 {
            let c = &mut conns[(i % 3) as usize];
            // No parameters: the simple protocol cannot send them.
            let sql = format!("SELECT {}::int8 + 1", i % 4);
            let row = c
                .query_one(&sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{policy:?} #{i}: {e}"));
            assert_eq!(row.get::<i64>(0).unwrap(), i % 4 + 1, "{policy:?}");
        }
        let mut drivers = Vec::new();
        let mut clients = Vec::new();
        for _ in 0..3 {
            let conn = connect::<R>(s).await;
            let (client, driver) =
                Client::with_options(conn, hyperwire_async::DEFAULT_MAX_IN_FLIGHT, policy);
            drivers.push(R::spawn(driver));
            clients.push(client);
        }
        for i in 0..30i64 {
            let c = &clients[(i % 3) as usize];
            let sql = format!("SELECT {}::int8 + 1", i % 4);
            let rows = c
                .query(&sql, &[])
                .await
                .unwrap_or_else(|e| panic!("Client {policy:?} #{i}: {e}"));
            assert_eq!(rows[0].get::<i64>(0).unwrap(), i % 4 + 1);
        }
        drop(clients);
        for d in drivers {
            d.await.unwrap();
        }
    }
}

/// A query dropped while it prepared a statement for the cache does not keep
/// that statement "being prepared" forever: the next run prepares and caches it.
pub async fn abandoned_prepare_is_forgotten<R: Runtime>() {
    let mut c = connect::<R>(harness::pg15()).await;
    c.set_drop_policy(DropPolicy::Drain);
    // The sleep keeps the first poll from seeing the answer.
    let sql = "SELECT $1::int8 + 40 FROM pg_sleep(0.05)";
    let params: [&(dyn hyperwire_async::ToSql + Sync); 1] = [&2i64];
    assert!(poll_a_few(1, c.query(sql, &params)).await.is_none());
    for _ in 0..2 {
        let row = c.query_one(sql, &params).await.unwrap();
        assert_eq!(row.get::<i64>(0).unwrap(), 42);
    }
    // The abandoned Parse ran (Drain) and the later run prepared its own.
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1",
            &[&sql],
        )
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 2, "the statement was not cached after the abandoned run");
}

async fn count<R: Runtime>(c: &mut Connection<R>) -> i64 {
    c.query_one("SELECT count(*) FROM txg", &[])
        .await
        .unwrap()
        .get::<i64>(0)
        .unwrap()
}

/// Transaction guards: committed, rolled back, dropped (with and without a COPY
/// left open inside), and a `transaction()` future dropped while BEGIN runs: the
/// connection always ends up outside any transaction.
pub async fn transactions_roll_back_when_dropped<R: Runtime>() {
    for s in servers() {
        let mut c = connect::<R>(s).await;
        c.batch_execute("CREATE TEMP TABLE txg (i int)")
            .await
            .unwrap();
        let mut tx = c.transaction().await.unwrap();
        tx.execute("INSERT INTO txg VALUES (1)", &[]).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(count(&mut c).await, 1);

        let mut tx = c.transaction().await.unwrap();
        tx.execute("INSERT INTO txg VALUES (2)", &[]).await.unwrap();
        drop(tx);
        assert_eq!(count(&mut c).await, 1, "{:?}", s.kind());
        assert_eq!(c.transaction_status(), TransactionStatus::Idle);

        let mut tx = c.transaction().await.unwrap();
        tx.execute("INSERT INTO txg VALUES (3)", &[]).await.unwrap();
        let mut copy = tx
            .copy_in("COPY txg FROM STDIN WITH (FORMAT text)")
            .await
            .unwrap();
        copy.send(b"4\n").await.unwrap();
        drop(copy);
        drop(tx);
        assert_eq!(count(&mut c).await, 1, "{:?}", s.kind());
        assert_eq!(c.transaction_status(), TransactionStatus::Idle);
        assert!(c.is_healthy());

        // Dropped during BEGIN, during the INSERT, or finished with the guard
        // dropped at the end of the block.
        for polls in 1..6 {
            let _ = poll_a_few(polls, async {
                let mut tx = c.transaction().await.unwrap();
                tx.execute("INSERT INTO txg VALUES (5)", &[]).await.unwrap();
            })
            .await;
            assert_eq!(count(&mut c).await, 1, "{:?} polls={polls}", s.kind());
            assert_eq!(c.transaction_status(), TransactionStatus::Idle);
        }
    }
}

/// A SCRAM reconnect reuses the salted password of the previous connection.
pub async fn scram_reconnect_reuses_the_key<R: Runtime>() {
    let s = harness::pg15();
    let conninfo = s.conninfo(harness::SCRAM_USER);
    drop(Connection::<R>::connect(&conninfo).await.unwrap());
    let c = Connection::<R>::connect(&conninfo).await.unwrap();
    assert!(c.scram_key_reused());
}

/// The review's cases: a settle (its cancel) dropped midway, a pipeline dropped
/// midway, a commit dropped while it settles, and COPY FROM STDIN through a
/// query method: the next request still gets its own answer, nothing stays in a
/// transaction, nothing hangs.
pub async fn dropped_settles_pipelines_commits_and_stray_copies<R: TestRuntime>() {
    for s in servers() {
        let slow = if s.database().is_none() {
            "SELECT count(*) FROM generate_series(1, 3000000000)"
        } else {
            "SELECT pg_sleep(5)"
        };
        let mut c = connect::<R>(s).await;
        for round in 0..3i64 {
            // A slow query dropped; the next call dropped while its settle
            // cancels; then a query that must get its own answer.
            let r = poll_a_few(1, c.query(slow, &[])).await;
            assert!(r.is_none(), "{:?} round {round}: {r:?}", s.kind());
            let _ = within::<R, _>(Duration::from_millis(2), c.query("SELECT 1", &[])).await;
            let row = c.query_one("SELECT $1::int8", &[&round]).await.unwrap();
            assert_eq!(row.get::<i64>(0).unwrap(), round, "{:?}", s.kind());
        }
        // A pipeline dropped after its first answers.
        for polls in 1..5 {
            let items: [(&str, &[&(dyn hyperwire_async::ToSql + Sync)]); 3] = [
                ("SELECT $1::int4", &[&1i32]),
                ("SELECT $1::int4", &[&2i32]),
                ("SELECT $1::int4", &[&3i32]),
            ];
            let _ = poll_a_few(polls, c.pipeline(&items)).await;
            let row = c.query_one("SELECT $1::int4", &[&40i32]).await.unwrap();
            assert_eq!(
                row.get::<i32>(0).unwrap(),
                40,
                "{:?} polls={polls}",
                s.kind()
            );
        }
        // A commit dropped while it settles: the transaction is rolled back. Its
        // one poll stops in `settle`, waiting for the cancel of the dropped slow
        // query (a separate connection the server must open and close), so COMMIT
        // is never queued and the dropped guard queues ROLLBACK. (Were the cancel
        // somehow done within that poll, it cancelled the slow query, which aborts
        // the transaction: COMMIT would roll back too.)
        c.batch_execute("CREATE TEMP TABLE dc (i int)")
            .await
            .unwrap();
        let mut tx = c.transaction().await.unwrap();
        tx.execute("INSERT INTO dc VALUES (1)", &[]).await.unwrap();
        assert!(poll_a_few(1, tx.query(slow, &[])).await.is_none());
        let _ = poll_a_few(1, tx.commit()).await;
        let n: i64 = c
            .query_one("SELECT count(*) FROM dc", &[])
            .await
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(c.transaction_status(), TransactionStatus::Idle);
        assert_eq!(
            n,
            0,
            "{:?}: the dropped commit's transaction was kept",
            s.kind()
        );
        // COPY FROM STDIN through a query method ends with a clear error.
        let err = within::<R, _>(
            Duration::from_secs(10),
            c.execute("COPY dc FROM STDIN WITH (FORMAT text)", &[]),
        )
        .await
        .expect("no hang")
        .unwrap_err();
        assert!(
            matches!(err, Error::UnexpectedResult(m) if m == COPY_NOT_EXPECTED),
            "{err}"
        );
        let err = within::<R, _>(
            Duration::from_secs(10),
            c.simple_query("COPY dc FROM STDIN WITH (FORMAT text)"),
        )
        .await
        .expect("no hang")
        .unwrap_err();
        assert!(
            matches!(err, Error::UnexpectedResult(m) if m == COPY_NOT_EXPECTED),
            "{err}"
        );
        assert_eq!(
            c.query_one("SELECT 9", &[])
                .await
                .unwrap()
                .get::<i32>(0)
                .unwrap(),
            9
        );
        let (client, driver) = Client::<R>::connect(&s.conninfo(user(s))).await.unwrap();
        let driver = R::spawn(driver);
        client
            .batch_execute("CREATE TEMP TABLE dc2 (i int)")
            .await
            .unwrap();
        let err = within::<R, _>(
            Duration::from_secs(10),
            client.query("COPY dc2 FROM STDIN WITH (FORMAT text)", &[]),
        )
        .await
        .expect("no hang")
        .unwrap_err();
        assert!(
            matches!(err, Error::UnexpectedResult(m) if m == COPY_NOT_EXPECTED),
            "{err}"
        );
        assert_eq!(
            client.query("SELECT 10", &[]).await.unwrap()[0]
                .get::<i32>(0)
                .unwrap(),
            10
        );
        drop(client);
        driver.await.unwrap();
    }
}

/// `query_for_each`: rows read in place in every format, errors (the server's,
/// the callback's, a COPY) leave the connection usable; COPY OUT chunks gather
/// the messages that arrived together.
pub async fn rows_read_in_place_and_copy_chunks<R: Runtime>() {
    use hyperwire_async::Format;
    for s in servers() {
        let mut c = connect::<R>(s).await;
        let binary = if c.is_hyper() {
            Format::HyperBinary
        } else {
            Format::Binary
        };
        let sql =
            "SELECT g::int8, 'row ' || g, CASE WHEN g % 10 = 0 THEN NULL ELSE g * 0.5 END::float8 \
                   FROM generate_series(1, 100000) g";
        for formats in [&[][..], &[Format::Text], &[binary]] {
            let (mut n, mut sum, mut nulls) = (0i64, 0i64, 0);
            let rows = c
                .query_for_each_with_formats(sql, &[], formats, |row| {
                    n += 1;
                    let g: i64 = row.get(0)?;
                    assert_eq!(g, n, "{:?} {formats:?}", s.kind());
                    assert_eq!(row.get::<&str>(1)?, format!("row {g}"));
                    match row.get::<Option<f64>>(2)? {
                        Some(f) => assert_eq!(f, g as f64 * 0.5),
                        None => nulls += 1,
                    }
                    sum += g;
                    Ok(())
                })
                .await
                .unwrap_or_else(|e| panic!("{:?} {formats:?}: {e}", s.kind()));
            assert_eq!(
                (rows, n, sum, nulls),
                (100_000, 100_000, 5_000_050_000, 10_000)
            );
        }
        // Parameters, and a wrong type is the row's typed error.
        let got = c
            .query_for_each("SELECT $1::int4 + 1", &[&41i32], |row| {
                assert_eq!(row.get::<i32>(0)?, 42);
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(got, 1);
        let err = c
            .query_for_each("SELECT 'x'::text", &[], |row| {
                row.get::<i64>(0).map(drop).map_err(Into::into)
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Row(_)), "{:?}: {err}", s.kind());
        // The server's error.
        let err = c
            .query_for_each("SELECT 1/0", &[], |_| Ok(()))
            .await
            .unwrap_err();
        assert_eq!(err.sqlstate(), Some("22012"), "{:?}", s.kind());
        // The callback stops a long result early: its error comes back, and the
        // rest is settled before the next statement.
        let mut seen = 0;
        let err = c
            .query_for_each("SELECT g FROM generate_series(1, 1000000) g", &[], |_| {
                seen += 1;
                if seen == 10 {
                    Err(Error::UnexpectedResult("enough"))
                } else {
                    Ok(())
                }
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::UnexpectedResult("enough")), "{err}");
        assert_eq!(seen, 10);
        let v: i32 = c.query_one("SELECT 7", &[]).await.unwrap().get(0).unwrap();
        assert_eq!(v, 7, "{:?}", s.kind());
        // COPY is not a query.
        let copy = if c.is_hyper() {
            "COPY (SELECT 1) TO STDOUT WITH (FORMAT text)"
        } else {
            "COPY (SELECT 1) TO STDOUT"
        };
        let err = c.query_for_each(copy, &[], |_| Ok(())).await.unwrap_err();
        assert!(
            matches!(err, Error::UnexpectedResult(m) if m == COPY_NOT_EXPECTED),
            "{err}"
        );
        let v: i32 = c.query_one("SELECT 8", &[]).await.unwrap().get(0).unwrap();
        assert_eq!(v, 8, "{:?}", s.kind());

        // COPY OUT: one chunk per read, not per message (PostgreSQL sends a
        // message per row), with every byte in order.
        let (mut chunks, mut out) = (0, Vec::new());
        {
            let mut stream = c
                .copy_out("COPY (SELECT g FROM generate_series(1, 100000) g) TO STDOUT WITH (FORMAT text)")
                .await
                .unwrap();
            while let Some(chunk) = next(&mut stream).await {
                let chunk = chunk.unwrap();
                assert!(!chunk.is_empty() && chunk.len() <= 1024 * 1024);
                out.extend_from_slice(&chunk);
                chunks += 1;
            }
            assert_eq!(stream.tag(), Some("COPY 100000"));
        }
        let expected: String = (1..=100_000).map(|g| format!("{g}\n")).collect();
        assert!(
            out == expected.as_bytes(),
            "{:?}: COPY data differs",
            s.kind()
        );
        assert!(chunks * 10 < 100_000, "{:?}: {chunks} chunks", s.kind());

        // COPY OUT in place: the same bytes, the tag's count; a failing callback
        // and a failing COPY leave the connection usable.
        let sql = "COPY (SELECT g FROM generate_series(1, 100000) g) TO STDOUT WITH (FORMAT text)";
        let mut out = Vec::new();
        let n = c
            .copy_out_for_each(sql, |data| {
                out.extend_from_slice(data);
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(n, 100_000);
        assert!(
            out == expected.as_bytes(),
            "{:?}: COPY data differs",
            s.kind()
        );
        let mut calls = 0;
        let err = c
            .copy_out_for_each(sql, |_| {
                calls += 1;
                Err(Error::UnexpectedResult("stop"))
            })
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::UnexpectedResult("stop")) && calls == 1,
            "{err}"
        );
        let v: i32 = c.query_one("SELECT 9", &[]).await.unwrap().get(0).unwrap();
        assert_eq!(v, 9, "{:?}", s.kind());
        let err = c
            .copy_out_for_each(
                "COPY (SELECT 1/(g - 50) FROM generate_series(1, 100) g) TO STDOUT WITH (FORMAT text)",
                |_| Ok(()),
            )
            .await
            .unwrap_err();
        assert_eq!(err.sqlstate(), Some("22012"), "{:?}: {err}", s.kind());
        let v: i32 = c.query_one("SELECT 10", &[]).await.unwrap().get(0).unwrap();
        assert_eq!(v, 10, "{:?}", s.kind());
    }
}
