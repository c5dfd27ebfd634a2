//! The shared `Client` under far more callers than its in-flight bound, against
//! PostgreSQL 15: one task polls 20,000 queries at once (`buffered`), so most
//! callers wait in the command channel while the driver keeps
//! `DEFAULT_MAX_IN_FLIGHT` requests in flight. A lost wake-up between the
//! callers, the channel and the driver shows as a hang: each repetition runs
//! under a timeout that turns it into a failure. On both tokio flavours.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use hyperwire_tokio::{Client, DEFAULT_MAX_IN_FLIGHT};

/// Callers polled together: many times the in-flight bound.
const CALLERS: usize = 20_000;
const _: () = assert!(CALLERS >= 10 * DEFAULT_MAX_IN_FLIGHT);
/// The warm-up round before them (it prepares the statement), of the same shape.
const WARM_UP: usize = 1_000;
/// Repetitions per runtime flavour (`HYPERWIRE_STRESS_REPS` overrides it).
const REPETITIONS: usize = 8;
/// A repetition that takes longer has hung.
const LIMIT: Duration = Duration::from_secs(60);

fn repetitions() -> usize {
    std::env::var("HYPERWIRE_STRESS_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(REPETITIONS)
}

/// `n` queries polled together; every answer must be its own parameter.
async fn round(client: &Client, n: usize) {
    let answers: Vec<(i64, i64)> = stream::iter(0..n as i64)
        .map(|i| async move {
            let rows = client.query("SELECT $1::int8", &[&i]).await.unwrap();
            assert_eq!(rows.len(), 1, "#{i}");
            (i, rows[0].get::<i64>(0).unwrap())
        })
        .buffered(n)
        .collect()
        .await;
    assert_eq!(answers.len(), n);
    for (i, got) in answers {
        assert_eq!(got, i, "the answer to #{i}");
    }
}

/// Connects, spawns the driver, runs the warm-up and the big round under
/// [`LIMIT`], then checks the driver ends cleanly; `repetitions()` times.
fn stress(runtime: &tokio::runtime::Runtime, flavour: &str) {
    let conninfo = hyperwire_tests::pg15().conninfo(hyperwire_tests::SCRAM_USER);
    for rep in 0..repetitions() {
        let started = Instant::now();
        runtime.block_on(async {
            let (client, driver) = Client::connect(&conninfo).await.unwrap();
            let driver = tokio::spawn(driver);
            let work = async {
                round(&client, WARM_UP).await;
                round(&client, CALLERS).await;
            };
            if tokio::time::timeout(LIMIT, work).await.is_err() {
                panic!("{flavour} #{rep}: callers still waiting after {LIMIT:?} (a lost wake-up)");
            }
            drop(client);
            match tokio::time::timeout(LIMIT, driver).await {
                Ok(ended) => ended.unwrap().unwrap(),
                Err(_) => panic!("{flavour} #{rep}: the driver did not end after its client"),
            }
        });
        eprintln!("{flavour} #{rep}: {:?}", started.elapsed());
    }
}

#[test]
fn many_more_callers_than_in_flight_current_thread() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    stress(&runtime, "current-thread");
}

#[test]
fn many_more_callers_than_in_flight_multi_thread() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    stress(&runtime, "multi-thread");
}
