//! Round-trip latency and pipelined throughput: hyperwire-tokio against
//! tokio-postgres, in one process, on the same throwaway PostgreSQL 15.
//!
//! Run: `cargo run --release --manifest-path bench/Cargo.toml`
//! (wall time per workload; both clients run the same statements).

use std::time::{Duration, Instant};

use futures_util::future::join_all;

const ROUNDTRIPS: usize = 20_000;
const PIPELINED: usize = 20_000;
const TASKS: usize = 64;

fn report(name: &str, client: &str, n: usize, took: Duration) {
    println!(
        "{name:<10} {client:<15} {n:>6} queries {:>8.1} ms  {:>9.0} q/s  {:>7.1} µs/q",
        took.as_secs_f64() * 1e3,
        n as f64 / took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / n as f64
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = hyperwire_tests::pg15();
    let conninfo = server.conninfo(hyperwire_tests::TRUST_USER);

    // --- roundtrip: sequential SELECT 1
    let mut hw = hyperwire_tokio::Connection::connect(&conninfo).await.expect("hyperwire");
    let (tp, tp_conn) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls).await.expect("tokio-postgres");
    tokio::spawn(tp_conn);
    for round in 0..2 {
        let t = Instant::now();
        for _ in 0..ROUNDTRIPS {
            hw.query("SELECT 1", &[]).await.expect("query");
        }
        let hw_took = t.elapsed();
        let t = Instant::now();
        for _ in 0..ROUNDTRIPS {
            tp.query("SELECT 1", &[]).await.expect("query");
        }
        let tp_took = t.elapsed();
        // tokio-postgres's query(&str) prepares every time; with a statement it
        // prepared once, it does one round trip, as hyperwire's cache does.
        let one = tp.prepare("SELECT 1").await.expect("prepare");
        let t = Instant::now();
        for _ in 0..ROUNDTRIPS {
            tp.query(&one, &[]).await.expect("query");
        }
        let tp_prepared = t.elapsed();
        if round == 1 {
            report("roundtrip", "hyperwire", ROUNDTRIPS, hw_took);
            report("roundtrip", "tokio-postgres", ROUNDTRIPS, tp_took);
            report("roundtrip", "tokio-pg (prep)", ROUNDTRIPS, tp_prepared);
        }
    }

    // --- pipeline: many tasks over one shared client
    let (client, driver) = hyperwire_tokio::Client::connect(&conninfo).await.expect("hyperwire client");
    tokio::spawn(driver);
    for round in 0..2 {
        let per = PIPELINED / TASKS;
        let t = Instant::now();
        join_all((0..TASKS).map(|k| {
            let c = client.clone();
            async move {
                for i in 0..per {
                    let v = (k * per + i) as i64;
                    let rows = c.query("SELECT $1::int8", &[&v]).await.expect("query");
                    assert_eq!(rows[0].get::<i64>(0).expect("value"), v);
                }
            }
        }))
        .await;
        let hw_took = t.elapsed();
        let t = Instant::now();
        let stmt = tp.prepare("SELECT $1::int8").await.expect("prepare");
        join_all((0..TASKS).map(|k| {
            let tp = &tp;
            let stmt = &stmt;
            async move {
                for i in 0..per {
                    let v = (k * per + i) as i64;
                    let rows = tp.query(stmt, &[&v]).await.expect("query");
                    assert_eq!(rows[0].get::<_, i64>(0), v);
                }
            }
        }))
        .await;
        let tp_took = t.elapsed();
        if round == 1 {
            report("pipeline", "hyperwire", per * TASKS, hw_took);
            report("pipeline", "tokio-postgres", per * TASKS, tp_took);
        }
    }
}
