//! The tokio adapter against real servers (PostgreSQL 15, 18, hyperd and
//! PgBouncer): the shared async suite run on tokio's multi-threaded runtime, plus
//! what only tokio has (its AsyncRead/AsyncWrite for COPY, deadpool).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

mod async_suite;

use async_suite as suite;
use hyperwire_tokio::{Connection, Tokio};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_prepared_statements_and_errors() {
    suite::queries_prepared_statements_and_errors::<Tokio>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_copy_transactions_and_pipelines() {
    suite::streams_copy_transactions_and_pipelines::<Tokio>("tok").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_read_in_place_and_copy_chunks() {
    suite::rows_read_in_place_and_copy_chunks::<Tokio>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_in_as_sink() {
    suite::copy_in_as_sink::<Tokio>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_token() {
    suite::cancel_token::<Tokio>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications() {
    suite::notifications::<Tokio>().await;
}

/// Drop query futures at arbitrary points, then check the next query gets its
/// own result: a thousand times per server and drop policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_futures_never_confuse_the_next_query() {
    suite::dropped_futures_never_confuse_the_next_query::<Tokio>(1000).await;
}

/// Dropped at real time points too: `tokio::time::timeout` with tiny deadlines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_never_confuse_the_next_query() {
    for s in suite::servers() {
        let mut c = suite::connect::<Tokio>(s).await;
        for i in 0..300i64 {
            let limit = std::time::Duration::from_micros(50 * (i as u64 % 20));
            let _ = tokio::time::timeout(
                limit,
                c.query("SELECT $1::int8, g FROM generate_series(1, 50) g", &[&i]),
            )
            .await;
            let row = c.query_one("SELECT $1::int8", &[&-i]).await.unwrap();
            assert_eq!(row.get::<i64>(0).unwrap(), -i, "{:?} #{i}", s.kind());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_client_pipelines_many_tasks() {
    suite::shared_client_pipelines_many_tasks::<Tokio>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_policies_through_pgbouncer() {
    suite::statement_policies_through_pgbouncer::<Tokio>().await;
}

/// COPY through tokio's AsyncWrite (shutdown finishes it) and AsyncRead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_with_tokio_io_traits() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for s in suite::servers() {
        let mut c = suite::connect::<Tokio>(s).await;
        c.batch_execute("CREATE TEMP TABLE tio (i int8, t text)")
            .await
            .unwrap();
        let mut w = c
            .copy_in("COPY tio FROM STDIN WITH (FORMAT text)")
            .await
            .unwrap();
        for i in 0..20_000 {
            w.write_all(format!("{i}\tvalue {i}\n").as_bytes())
                .await
                .unwrap();
        }
        w.shutdown().await.unwrap();
        assert_eq!(w.rows(), Some(20_000));
        drop(w);
        let mut text = String::new();
        c.copy_out("COPY (SELECT i, t FROM tio ORDER BY i) TO STDOUT WITH (FORMAT text)")
            .await
            .unwrap()
            .read_to_string(&mut text)
            .await
            .unwrap();
        assert_eq!(text.lines().count(), 20_000);
        assert_eq!(text.lines().nth(19_999), Some("19999\tvalue 19999"));
    }
}

/// deadpool's Manager: connections are reused without a round trip, rolled back
/// when returned inside a transaction, discarded when broken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadpool_manager_recycles() {
    use deadpool::managed::Pool;
    use hyperwire_tokio::Manager;
    let s = hyperwire_tests::pg15();
    let manager = Manager::from_conninfo(&s.conninfo(suite::user(s))).unwrap();
    let pool: Pool<Manager> = Pool::builder(manager).max_size(2).build().unwrap();
    let pid = {
        let mut c = pool.get().await.unwrap();
        c.begin().await.unwrap();
        c.batch_execute("CREATE TEMP TABLE pooled (i int)")
            .await
            .unwrap();
        c.query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get::<i32>(0)
            .unwrap()
        // Returned inside the transaction.
    };
    let mut c = pool.get().await.unwrap();
    assert_eq!(
        c.query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get::<i32>(0)
            .unwrap(),
        pid,
        "the same connection, reused"
    );
    assert_eq!(
        c.transaction_status(),
        hyperwire_tokio::TransactionStatus::Idle
    );
    // The transaction was rolled back: the table is gone.
    let err = c.query("SELECT * FROM pooled", &[]).await.unwrap_err();
    assert_eq!(err.sqlstate(), Some("42P01"));
    // A request dropped midway is settled when the connection comes back.
    let _ = suite::poll_a_few(2, c.query("SELECT pg_sleep(5)", &[])).await;
    drop(c);
    let started = std::time::Instant::now();
    let mut c = pool.get().await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    assert_eq!(
        c.query_one("SELECT 3", &[])
            .await
            .unwrap()
            .get::<i32>(0)
            .unwrap(),
        3
    );
    // A broken connection is discarded.
    let victim: i32 = c
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    let mut other = pool.get().await.unwrap();
    other
        .execute("SELECT pg_terminate_backend($1)", &[&victim])
        .await
        .unwrap();
    assert!(c.query("SELECT 1", &[]).await.is_err());
    assert!(!c.is_healthy());
    drop(c);
    drop(other);
    for _ in 0..2 {
        let mut c = pool.get().await.unwrap();
        assert!(c.query_one("SELECT 1", &[]).await.is_ok());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_prepare_is_forgotten() {
    suite::abandoned_prepare_is_forgotten::<Tokio>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_roll_back_when_dropped() {
    suite::transactions_roll_back_when_dropped::<Tokio>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_reconnect_reuses_the_key() {
    suite::scram_reconnect_reuses_the_key::<Tokio>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_settles_pipelines_commits_and_stray_copies() {
    suite::dropped_settles_pipelines_commits_and_stray_copies::<Tokio>().await;
}
