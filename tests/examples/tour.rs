//! A short tour of the blocking client on throwaway servers: SCRAM login, a
//! parameterized query, COPY in and out, and cancelling a long query, on
//! PostgreSQL 15 and on hyperd. The servers stop when the tour ends.
//!
//! Run: `bash .ci/demo.sh` (installs what is missing), or
//! `cargo run -p hyperwire-tests --example tour`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use hyperwire_blocking::Client;
use hyperwire_tests as harness;

fn tour(name: &str, conninfo: &str, long_query: &str) -> Result<(), hyperwire_blocking::Error> {
    println!("== {name}");
    let mut c = Client::connect(conninfo)?;
    println!(
        "connected with SCRAM-SHA-256; server_version {}",
        c.parameter("server_version").unwrap_or("?")
    );

    let row = c.query_one(
        "SELECT $1::int8 * 2 AS doubled, upper($2::text) AS shout",
        &[&21i64, &"hello"],
    )?;
    println!(
        "parameterized: doubled = {}, shout = {}",
        row.get::<i64>(0)?,
        row.get::<&str>(1)?
    );

    c.batch_execute("CREATE TEMP TABLE tour (id int, name text)")?;
    let mut copy = c.copy_in("COPY tour FROM STDIN WITH (FORMAT csv)")?;
    for i in 1..=1000 {
        writeln!(copy, "{i},name {i}").map_err(hyperwire_blocking::Error::Io)?;
    }
    println!("COPY in: {} rows", copy.finish()?);
    let mut out = String::new();
    c.copy_out("COPY (SELECT * FROM tour WHERE id <= 3 ORDER BY id) TO STDOUT WITH (FORMAT csv)")?
        .read_to_string(&mut out)
        .map_err(hyperwire_blocking::Error::Io)?;
    print!("COPY out:\n{out}");

    let token = c.cancel_token()?;
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        token.cancel()
    });
    let started = Instant::now();
    let err = c
        .query(long_query, &[])
        .expect_err("the long query is cancelled");
    canceller.join().expect("canceller thread")?;
    println!("cancelled after {:.1?}: {err}", started.elapsed());
    let n: i64 = c.query_one("SELECT count(*) FROM tour", &[])?.get(0)?;
    println!("the connection is still usable: {n} rows in tour");
    c.close()
}

fn main() {
    let pg = harness::pg15();
    let hyper = harness::hyper_scram();
    let result = tour(
        "PostgreSQL 15",
        &pg.conninfo(harness::SCRAM_USER),
        "SELECT pg_sleep(60)",
    )
    .and_then(|()| {
        tour(
            "hyperd",
            &hyper.conninfo(harness::HYPER_USER),
            "SELECT count(*) FROM generate_series(1, 10000000000)",
        )
    });
    match result {
        Ok(()) => println!("== done; the servers stop now"),
        Err(e) => {
            eprintln!("tour failed: {e}");
            std::process::exit(1);
        }
    }
}
