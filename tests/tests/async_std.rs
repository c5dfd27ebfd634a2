//! The async-std adapter against real servers (PostgreSQL 15, 18, hyperd and
//! PgBouncer): the shared async suite on async-std's executor, and again on smol's
//! executor with async-net sockets (async-std is discontinued upstream in favour
//! of smol), plus COPY through the futures-io traits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

mod async_suite;

use std::future::poll_fn;
use std::pin::Pin;

use async_suite as suite;
use hyperwire_async_std::{AsyncStd, Smol};

fn on_async_std<F: std::future::Future>(f: F) -> F::Output {
    async_std::task::block_on(f)
}

fn on_smol<F: std::future::Future>(f: F) -> F::Output {
    smol::block_on(f)
}

#[test]
fn queries_prepared_statements_and_errors() {
    on_async_std(suite::queries_prepared_statements_and_errors::<AsyncStd>());
    on_smol(suite::queries_prepared_statements_and_errors::<Smol>());
}

#[test]
fn streams_copy_transactions_and_pipelines() {
    on_async_std(suite::streams_copy_transactions_and_pipelines::<AsyncStd>(
        "astd",
    ));
    on_smol(suite::streams_copy_transactions_and_pipelines::<Smol>(
        "smol",
    ));
}

#[test]
fn rows_read_in_place_and_copy_chunks() {
    on_async_std(suite::rows_read_in_place_and_copy_chunks::<AsyncStd>());
    on_smol(suite::rows_read_in_place_and_copy_chunks::<Smol>());
}

#[test]
fn copy_in_as_sink() {
    on_async_std(suite::copy_in_as_sink::<AsyncStd>());
    on_smol(suite::copy_in_as_sink::<Smol>());
}

#[test]
fn cancel_token() {
    on_async_std(suite::cancel_token::<AsyncStd>());
    on_smol(suite::cancel_token::<Smol>());
}

#[test]
fn notifications() {
    on_async_std(suite::notifications::<AsyncStd>());
    on_smol(suite::notifications::<Smol>());
}

#[test]
fn dropped_futures_never_confuse_the_next_query() {
    on_async_std(suite::dropped_futures_never_confuse_the_next_query::<
        AsyncStd,
    >(1000));
    on_smol(suite::dropped_futures_never_confuse_the_next_query::<Smol>(
        300,
    ));
}

#[test]
fn shared_client_pipelines_many_tasks() {
    on_async_std(suite::shared_client_pipelines_many_tasks::<AsyncStd>());
    on_smol(suite::shared_client_pipelines_many_tasks::<Smol>());
}

#[test]
fn statement_policies_through_pgbouncer() {
    on_async_std(suite::statement_policies_through_pgbouncer::<AsyncStd>());
    on_smol(suite::statement_policies_through_pgbouncer::<Smol>());
}

/// COPY through the futures-io AsyncWrite (close finishes it) and AsyncRead.
#[test]
fn copy_with_futures_io_traits() {
    use futures_io::{AsyncRead, AsyncWrite};
    on_async_std(async {
        for s in suite::servers() {
            let mut c = suite::connect::<AsyncStd>(s).await;
            c.batch_execute("CREATE TEMP TABLE fio (i int8, t text)")
                .await
                .unwrap();
            let mut w = c
                .copy_in("COPY fio FROM STDIN WITH (FORMAT text)")
                .await
                .unwrap();
            for i in 0..20_000 {
                let line = format!("{i}\tvalue {i}\n");
                let mut rest = line.as_bytes();
                while !rest.is_empty() {
                    let n = poll_fn(|cx| Pin::new(&mut w).poll_write(cx, rest))
                        .await
                        .unwrap();
                    rest = &rest[n..];
                }
            }
            poll_fn(|cx| Pin::new(&mut w).poll_close(cx)).await.unwrap();
            assert_eq!(w.rows(), Some(20_000));
            drop(w);
            let mut r = c
                .copy_out("COPY (SELECT i, t FROM fio ORDER BY i) TO STDOUT WITH (FORMAT text)")
                .await
                .unwrap();
            let mut bytes = Vec::new();
            let mut buf = [0u8; 1000];
            loop {
                let n = poll_fn(|cx| Pin::new(&mut r).poll_read(cx, &mut buf))
                    .await
                    .unwrap();
                if n == 0 {
                    break;
                }
                bytes.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8(bytes).unwrap();
            assert_eq!(text.lines().count(), 20_000);
            assert_eq!(text.lines().nth(19_999), Some("19999\tvalue 19999"));
        }
    });
}

#[test]
fn abandoned_prepare_is_forgotten() {
    on_async_std(suite::abandoned_prepare_is_forgotten::<AsyncStd>());
    on_smol(suite::abandoned_prepare_is_forgotten::<Smol>());
}

#[test]
fn transactions_roll_back_when_dropped() {
    on_async_std(suite::transactions_roll_back_when_dropped::<AsyncStd>());
    on_smol(suite::transactions_roll_back_when_dropped::<Smol>());
}

#[test]
fn scram_reconnect_reuses_the_key() {
    on_async_std(suite::scram_reconnect_reuses_the_key::<AsyncStd>());
}

#[test]
fn dropped_settles_pipelines_commits_and_stray_copies() {
    on_async_std(suite::dropped_settles_pipelines_commits_and_stray_copies::<
        AsyncStd,
    >());
    on_smol(suite::dropped_settles_pipelines_commits_and_stray_copies::<
        Smol,
    >());
}
