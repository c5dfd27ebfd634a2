//! One function per client and workload. Each runs inside its own child process
//! (see `main.rs`): it connects and prepares outside the timed section, then
//! wraps exactly the measured work in [`Meter`].

use std::hint::black_box;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use futures_util::{SinkExt, StreamExt, TryStreamExt};

use crate::{Env, Measured, Server, Workload};

/// Rows in `select_stream`, `copy_in` and `copy_out`.
pub const ROWS: u64 = 1_000_000;
/// Rows in the RSS-only `select_stream_10m`.
pub const ROWS_10M: u64 = 10_000_000;
/// Sequential `SELECT 1`s.
pub const ROUNDTRIPS: u64 = 20_000;
/// `SELECT $1::int8`s in `pipeline`.
pub const PIPELINED: u64 = 20_000;
/// Tasks (or the window) for the clients that pipeline.
pub const IN_FLIGHT: u64 = 64;
/// Connect + authenticate + close cycles.
pub const CONNECTS: u64 = 200;
/// COPY IN chunk size for the clients that stream COPY IN.
const COPY_CHUNK: usize = 64 * 1024;

pub type R<T> = Result<T, String>;

fn e<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> String {
    move |err| format!("{what}: {err}")
}

pub fn select_sql(rows: u64) -> String {
    format!("SELECT i::int8, ('row'||i)::text, (i*0.5)::float8 FROM generate_series(1, {rows}) i")
}

pub fn copy_out_sql() -> String {
    format!("COPY ({}) TO STDOUT WITH (FORMAT TEXT)", select_sql(ROWS))
}

pub const COPY_TABLE: &str = "CREATE TEMP TABLE bench_copy (i int8, t text, f float8)";
pub const COPY_IN_SQL: &str = "COPY bench_copy FROM STDIN WITH (FORMAT TEXT)";

/// The COPY IN payload, built before the timer starts (the same bytes for every
/// client; it is ~25 MB and counts in every client's peak RSS for `copy_in`).
pub fn copy_in_data() -> Vec<u8> {
    let mut out = Vec::with_capacity(26 * 1024 * 1024);
    write_copy_in_data(&mut out).expect("vec write");
    out
}

/// Writes the COPY IN payload (the parent writes it to a file for psql).
pub fn write_copy_in_data(out: &mut impl std::io::Write) -> std::io::Result<()> {
    for i in 1..=ROWS {
        let half = i / 2;
        if i % 2 == 0 {
            writeln!(out, "{i}\trow{i}\t{half}")?;
        } else {
            writeln!(out, "{i}\trow{i}\t{half}.5")?;
        }
    }
    Ok(())
}

/// Wall clock and the process's own CPU (user + sys, every thread) over the
/// measured section.
pub struct Meter {
    wall: Instant,
    cpu: (Duration, Duration),
}

pub fn rusage_self() -> (Duration, Duration) {
    // SAFETY-free: libc::getrusage only writes the struct we own.
    let mut ru: libc::rusage = unsafe_free_zeroed();
    let rc = getrusage_self(&mut ru);
    assert_eq!(rc, 0, "getrusage");
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

fn tv(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

#[allow(unsafe_code)]
fn unsafe_free_zeroed() -> libc::rusage {
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

#[allow(unsafe_code)]
fn getrusage_self(ru: &mut libc::rusage) -> i32 {
    // SAFETY: `ru` is a valid, exclusive pointer for the duration of the call.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, ru) }
}

impl Meter {
    pub fn start() -> Meter {
        Meter {
            cpu: rusage_self(),
            wall: Instant::now(),
        }
    }

    pub fn stop(self, ops: u64) -> Measured {
        let wall = self.wall.elapsed();
        let (u1, s1) = rusage_self();
        Measured {
            ops,
            wall,
            user: u1 - self.cpu.0,
            sys: s1 - self.cpu.1,
            peak_rss_kb: 0,
        }
    }
}

/// This process's peak RSS (VmHWM, KiB): per address space, so unlike
/// wait4's ru_maxrss it does not start from the parent's high-water mark.
pub fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Checks the decoded values of row `n` (1-based) of `select_sql`.
#[inline]
fn check_row(n: u64, i: i64, t: &str, f: f64) -> u64 {
    debug_assert_eq!(i as u64, n);
    debug_assert_eq!(f, n as f64 * 0.5);
    black_box(i as u64)
        .wrapping_add(t.len() as u64)
        .wrapping_add(f as u64)
}

fn expect_rows(got: u64, want: u64) -> R<()> {
    if got == want {
        Ok(())
    } else {
        Err(format!("expected {want} rows, got {got}"))
    }
}

// ---------------------------------------------------------------------------
// hyperwire (hyperwire-tokio)

pub mod hyperwire {
    use super::*;
    use hyperwire_tokio::{Client, Connection, Format};

    /// A connection, the `select_stream` SQL, its row count and the binary format
    /// of the server (PG binary on PostgreSQL, HyperBinary on hyperd).
    async fn binary_select(w: Workload, env: &Env) -> R<(Connection, String, u64, Format)> {
        let rows = if w == Workload::SelectStream {
            ROWS
        } else {
            ROWS_10M
        };
        let format = match env.server {
            Server::Pg15 => Format::Binary,
            Server::Hyperd => Format::HyperBinary,
        };
        let conn = Connection::connect(&env.conninfo)
            .await
            .map_err(e("connect"))?;
        Ok((conn, select_sql(rows), rows, format))
    }

    /// `select_stream` with binary results (`query_stream_with_formats`: PG binary
    /// on PostgreSQL, HyperBinary on hyperd); `query_stream` asks for text.
    pub async fn run_binary(w: Workload, env: &Env) -> R<Measured> {
        if !matches!(w, Workload::SelectStream | Workload::SelectStream10M) {
            return Err("n/a: only select_stream has a format choice".into());
        }
        let (mut conn, sql, rows, format) = binary_select(w, env).await?;
        let m = Meter::start();
        let mut stream = conn
            .query_stream_with_formats(&sql, &[], &[format])
            .await
            .map_err(e("query"))?;
        let mut n = 0u64;
        let mut acc = 0u64;
        while let Some(row) = stream.next().await {
            let row = row.map_err(e("row"))?;
            n += 1;
            let i: i64 = row.get(0).map_err(e("i"))?;
            let t: &str = row.get(1).map_err(e("t"))?;
            let f: f64 = row.get(2).map_err(e("f"))?;
            acc = acc.wrapping_add(check_row(n, i, t, f));
        }
        black_box(acc);
        expect_rows(n, rows)?;
        Ok(m.stop(n))
    }

    /// `select_stream` read in place (`query_for_each_with_formats`: each row is
    /// decoded where it lies in the receive buffer), binary results as above;
    /// `copy_out` through `copy_out_for_each` (each CopyData message where it
    /// lies).
    pub async fn run_in_place(w: Workload, env: &Env) -> R<Measured> {
        if w == Workload::CopyOut {
            let mut conn = Connection::connect(&env.conninfo)
                .await
                .map_err(e("connect"))?;
            let sql = copy_out_sql();
            let m = Meter::start();
            let mut bytes = 0usize;
            let n = conn
                .copy_out_for_each(&sql, |data| {
                    bytes += data.len();
                    Ok(())
                })
                .await
                .map_err(e("copy out"))?;
            black_box(bytes);
            expect_rows(n, ROWS)?;
            return Ok(m.stop(ROWS));
        }
        if !matches!(w, Workload::SelectStream | Workload::SelectStream10M) {
            return Err("n/a: only select_stream and copy_out have in-place readers".into());
        }
        let (mut conn, sql, rows, format) = binary_select(w, env).await?;
        let m = Meter::start();
        let mut n = 0u64;
        let mut acc = 0u64;
        let got = conn
            .query_for_each_with_formats(&sql, &[], &[format], |row| {
                n += 1;
                let i: i64 = row.get(0)?;
                let t: &str = row.get(1)?;
                let f: f64 = row.get(2)?;
                acc = acc.wrapping_add(check_row(n, i, t, f));
                Ok(())
            })
            .await
            .map_err(e("query"))?;
        black_box(acc);
        expect_rows(got, rows)?;
        expect_rows(n, rows)?;
        Ok(m.stop(n))
    }

    pub async fn run(w: Workload, env: &Env) -> R<Measured> {
        if w == Workload::Connect {
            let m = Meter::start();
            let mut reused = 0;
            for _ in 0..CONNECTS {
                let c = Connection::connect(&env.conninfo)
                    .await
                    .map_err(e("connect"))?;
                reused += u64::from(c.scram_key_reused());
                c.close().await.map_err(e("close"))?;
            }
            let m = m.stop(CONNECTS);
            // The process-wide SCRAM key cache: only the first connect derives.
            if reused != CONNECTS - 1 {
                return Err(format!(
                    "SCRAM key reused on {reused} of {CONNECTS} connects"
                ));
            }
            return Ok(m);
        }
        let mut conn = Connection::connect(&env.conninfo)
            .await
            .map_err(e("connect"))?;
        match w {
            Workload::SelectStream | Workload::SelectStream10M => {
                let rows = if w == Workload::SelectStream {
                    ROWS
                } else {
                    ROWS_10M
                };
                let sql = select_sql(rows);
                let m = Meter::start();
                let mut stream = conn.query_stream(&sql, &[]).await.map_err(e("query"))?;
                let mut n = 0u64;
                let mut acc = 0u64;
                while let Some(row) = stream.next().await {
                    let row = row.map_err(e("row"))?;
                    n += 1;
                    let i: i64 = row.get(0).map_err(e("i"))?;
                    let t: &str = row.get(1).map_err(e("t"))?;
                    let f: f64 = row.get(2).map_err(e("f"))?;
                    acc = acc.wrapping_add(check_row(n, i, t, f));
                }
                black_box(acc);
                expect_rows(n, rows)?;
                Ok(m.stop(n))
            }
            Workload::CopyIn => {
                conn.batch_execute(COPY_TABLE).await.map_err(e("create"))?;
                let data = copy_in_data();
                let m = Meter::start();
                let mut copy = conn.copy_in(COPY_IN_SQL).await.map_err(e("copy in"))?;
                for chunk in data.chunks(COPY_CHUNK) {
                    copy.send(chunk).await.map_err(e("copy send"))?;
                }
                let n = copy.finish().await.map_err(e("copy finish"))?;
                expect_rows(n, ROWS)?;
                Ok(m.stop(n))
            }
            Workload::CopyOut => {
                let sql = copy_out_sql();
                let m = Meter::start();
                let mut out = conn.copy_out(&sql).await.map_err(e("copy out"))?;
                let mut bytes = 0usize;
                while let Some(chunk) = out.next().await {
                    bytes += chunk.map_err(e("copy chunk"))?.len();
                }
                black_box(bytes);
                Ok(m.stop(ROWS))
            }
            Workload::Roundtrip => {
                let m = Meter::start();
                for _ in 0..ROUNDTRIPS {
                    let rows = conn.query("SELECT 1", &[]).await.map_err(e("query"))?;
                    let v: i32 = rows.first().ok_or("no row")?.get(0).map_err(e("get"))?;
                    black_box(v);
                }
                Ok(m.stop(ROUNDTRIPS))
            }
            Workload::Pipeline => {
                let (client, driver) = Client::new(conn);
                tokio::spawn(driver);
                let per = PIPELINED / IN_FLIGHT;
                // Warm the statement cache outside the timer, like the peers' prepare.
                client
                    .query("SELECT $1::int8", &[&0i64])
                    .await
                    .map_err(e("warm"))?;
                let m = Meter::start();
                let done = join_all((0..IN_FLIGHT).map(|k| {
                    let c = client.clone();
                    async move {
                        for i in 0..per {
                            let v = (k * per + i) as i64;
                            let rows = c
                                .query("SELECT $1::int8", &[&v])
                                .await
                                .map_err(e("query"))?;
                            let got: i64 = rows[0].get(0).map_err(e("get"))?;
                            if got != v {
                                return Err(format!("{got} != {v}"));
                            }
                        }
                        Ok::<(), String>(())
                    }
                }))
                .await;
                done.into_iter().collect::<R<Vec<()>>>()?;
                Ok(m.stop(per * IN_FLIGHT))
            }
            Workload::Connect => unreachable!(),
        }
    }
}

// ---------------------------------------------------------------------------
// hyperwire's blocking adapter (std sockets, poll(2)): `roundtrip`, where the
// comparison is with pgbench, a blocking C client.

pub mod hyperwire_blocking_client {
    use super::*;
    use hyperwire_blocking::Client;

    pub fn run(w: Workload, env: &Env) -> R<Measured> {
        if w != Workload::Roundtrip {
            return Err("n/a: the blocking adapter is measured on roundtrip only".into());
        }
        let mut client = Client::connect(&env.conninfo).map_err(e("connect"))?;
        let m = Meter::start();
        for _ in 0..ROUNDTRIPS {
            let rows = client.query("SELECT 1", &[]).map_err(e("query"))?;
            let v: i32 = rows.first().ok_or("no row")?.get(0).map_err(e("get"))?;
            black_box(v);
        }
        Ok(m.stop(ROUNDTRIPS))
    }
}

// ---------------------------------------------------------------------------
// tokio-postgres 0.7

pub mod tokio_pg {
    use super::*;
    use tokio_postgres::types::Type;
    use tokio_postgres::NoTls;

    async fn connect(env: &Env) -> R<(tokio_postgres::Client, tokio::task::JoinHandle<()>)> {
        let (client, conn) = tokio_postgres::connect(&env.conninfo, NoTls)
            .await
            .map_err(e("connect"))?;
        let h = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok((client, h))
    }

    pub async fn run(w: Workload, env: &Env) -> R<Measured> {
        if w == Workload::Connect {
            let m = Meter::start();
            for _ in 0..CONNECTS {
                let (client, h) = connect(env).await?;
                drop(client); // sends Terminate
                h.await.map_err(e("join"))?;
            }
            return Ok(m.stop(CONNECTS));
        }
        let (client, _h) = connect(env).await?;
        match w {
            Workload::SelectStream | Workload::SelectStream10M => {
                let rows = if w == Workload::SelectStream {
                    ROWS
                } else {
                    ROWS_10M
                };
                let sql = select_sql(rows);
                let m = Meter::start();
                let stream = client
                    .query_raw(sql.as_str(), std::iter::empty::<i64>())
                    .await
                    .map_err(e("query"))?;
                futures_util::pin_mut!(stream);
                let mut n = 0u64;
                let mut acc = 0u64;
                while let Some(row) = stream.next().await {
                    let row = row.map_err(e("row"))?;
                    n += 1;
                    let i: i64 = row.try_get(0).map_err(e("i"))?;
                    let t: &str = row.try_get(1).map_err(e("t"))?;
                    let f: f64 = row.try_get(2).map_err(e("f"))?;
                    acc = acc.wrapping_add(check_row(n, i, t, f));
                }
                black_box(acc);
                expect_rows(n, rows)?;
                Ok(m.stop(n))
            }
            Workload::CopyIn => {
                client
                    .batch_execute(COPY_TABLE)
                    .await
                    .map_err(e("create"))?;
                let data = copy_in_data();
                let m = Meter::start();
                let sink = client
                    .copy_in::<_, bytes::Bytes>(COPY_IN_SQL)
                    .await
                    .map_err(e("copy in"))?;
                futures_util::pin_mut!(sink);
                for chunk in data.chunks(COPY_CHUNK) {
                    sink.send(bytes::Bytes::copy_from_slice(chunk))
                        .await
                        .map_err(e("copy send"))?;
                }
                let n = sink.finish().await.map_err(e("copy finish"))?;
                expect_rows(n, ROWS)?;
                Ok(m.stop(n))
            }
            Workload::CopyOut => {
                let sql = copy_out_sql();
                let m = Meter::start();
                let stream = client.copy_out(sql.as_str()).await.map_err(e("copy out"))?;
                futures_util::pin_mut!(stream);
                let mut bytes = 0usize;
                while let Some(chunk) = stream.next().await {
                    bytes += chunk.map_err(e("copy chunk"))?.len();
                }
                black_box(bytes);
                Ok(m.stop(ROWS))
            }
            Workload::Roundtrip => {
                // A statement prepared once (tokio-postgres's query(&str) would
                // prepare on every call: two round trips).
                let stmt = client.prepare("SELECT 1").await.map_err(e("prepare"))?;
                let m = Meter::start();
                for _ in 0..ROUNDTRIPS {
                    let rows = client.query(&stmt, &[]).await.map_err(e("query"))?;
                    let v: i32 = rows.first().ok_or("no row")?.try_get(0).map_err(e("get"))?;
                    black_box(v);
                }
                Ok(m.stop(ROUNDTRIPS))
            }
            Workload::Pipeline => {
                let stmt = client
                    .prepare_typed("SELECT $1::int8", &[Type::INT8])
                    .await
                    .map_err(e("prepare"))?;
                let per = PIPELINED / IN_FLIGHT;
                let m = Meter::start();
                let done = join_all((0..IN_FLIGHT).map(|k| {
                    let (client, stmt) = (&client, &stmt);
                    async move {
                        for i in 0..per {
                            let v = (k * per + i) as i64;
                            let rows = client.query(stmt, &[&v]).await.map_err(e("query"))?;
                            let got: i64 = rows[0].try_get(0).map_err(e("get"))?;
                            if got != v {
                                return Err(format!("{got} != {v}"));
                            }
                        }
                        Ok::<(), String>(())
                    }
                }))
                .await;
                done.into_iter().collect::<R<Vec<()>>>()?;
                Ok(m.stop(per * IN_FLIGHT))
            }
            Workload::Connect => unreachable!(),
        }
    }
}

// ---------------------------------------------------------------------------
// sqlx 0.8 (postgres)

pub mod sqlx_pg {
    use super::*;
    use sqlx::postgres::{PgConnectOptions, PgConnection};
    use sqlx::{Connection, Row};

    fn options(env: &Env) -> PgConnectOptions {
        let mut o = PgConnectOptions::new()
            .host(&env.host)
            .port(env.port)
            .username(&env.user)
            .ssl_mode(sqlx::postgres::PgSslMode::Disable);
        if let Some(p) = &env.password {
            o = o.password(p);
        }
        if let Some(d) = &env.database {
            o = o.database(d);
        }
        o
    }

    pub async fn run(w: Workload, env: &Env) -> R<Measured> {
        let opts = options(env);
        if w == Workload::Connect {
            let m = Meter::start();
            for _ in 0..CONNECTS {
                let c = PgConnection::connect_with(&opts)
                    .await
                    .map_err(e("connect"))?;
                c.close().await.map_err(e("close"))?;
            }
            return Ok(m.stop(CONNECTS));
        }
        let mut conn = PgConnection::connect_with(&opts)
            .await
            .map_err(e("connect"))?;
        match w {
            Workload::SelectStream | Workload::SelectStream10M => {
                let rows = if w == Workload::SelectStream {
                    ROWS
                } else {
                    ROWS_10M
                };
                let sql = select_sql(rows);
                let m = Meter::start();
                let mut stream = sqlx::query(&sql).fetch(&mut conn);
                let mut n = 0u64;
                let mut acc = 0u64;
                while let Some(row) = stream.try_next().await.map_err(e("row"))? {
                    n += 1;
                    let i: i64 = row.try_get(0).map_err(e("i"))?;
                    let t: &str = row.try_get(1).map_err(e("t"))?;
                    let f: f64 = row.try_get(2).map_err(e("f"))?;
                    acc = acc.wrapping_add(check_row(n, i, t, f));
                }
                black_box(acc);
                expect_rows(n, rows)?;
                Ok(m.stop(n))
            }
            Workload::CopyIn => {
                sqlx::raw_sql(COPY_TABLE)
                    .execute(&mut conn)
                    .await
                    .map_err(e("create"))?;
                let data = copy_in_data();
                let m = Meter::start();
                let mut copy = conn.copy_in_raw(COPY_IN_SQL).await.map_err(e("copy in"))?;
                for chunk in data.chunks(COPY_CHUNK) {
                    copy.send(chunk).await.map_err(e("copy send"))?;
                }
                let n = copy.finish().await.map_err(e("copy finish"))?;
                expect_rows(n, ROWS)?;
                Ok(m.stop(n))
            }
            Workload::CopyOut => {
                let sql = copy_out_sql();
                let m = Meter::start();
                let mut stream = conn.copy_out_raw(&sql).await.map_err(e("copy out"))?;
                let mut bytes = 0usize;
                while let Some(chunk) = stream.next().await {
                    bytes += chunk.map_err(e("copy chunk"))?.len();
                }
                black_box(bytes);
                drop(stream);
                Ok(m.stop(ROWS))
            }
            Workload::Roundtrip => {
                let m = Meter::start();
                for _ in 0..ROUNDTRIPS {
                    // sqlx caches the prepared statement per connection.
                    let row = sqlx::query("SELECT 1")
                        .fetch_one(&mut conn)
                        .await
                        .map_err(e("query"))?;
                    let v: i32 = row.try_get(0).map_err(e("get"))?;
                    black_box(v);
                }
                Ok(m.stop(ROUNDTRIPS))
            }
            Workload::Pipeline => {
                // One statement in flight per connection: sqlx does not pipeline.
                let m = Meter::start();
                for v in 0..PIPELINED as i64 {
                    let row = sqlx::query("SELECT $1::int8")
                        .bind(v)
                        .fetch_one(&mut conn)
                        .await
                        .map_err(e("query"))?;
                    let got: i64 = row.try_get(0).map_err(e("get"))?;
                    if got != v {
                        return Err(format!("{got} != {v}"));
                    }
                }
                Ok(m.stop(PIPELINED))
            }
            Workload::Connect => unreachable!(),
        }
    }
}

// ---------------------------------------------------------------------------
// Raw binary decoding for the clients without a type system (pg-wired, pg_stream).

fn be_i64(b: Option<&[u8]>) -> R<i64> {
    let b: [u8; 8] = b
        .ok_or("NULL")?
        .try_into()
        .map_err(|_| "int8 length".to_string())?;
    Ok(i64::from_be_bytes(b))
}

fn be_f64(b: Option<&[u8]>) -> R<f64> {
    let b: [u8; 8] = b
        .ok_or("NULL")?
        .try_into()
        .map_err(|_| "float8 length".to_string())?;
    Ok(f64::from_be_bytes(b))
}

fn utf8(b: Option<&[u8]>) -> R<&str> {
    std::str::from_utf8(b.ok_or("NULL")?).map_err(e("utf8"))
}

// ---------------------------------------------------------------------------
// pg-wired 0.4

pub mod pg_wired {
    use super::*;
    use ::pg_wired::protocol::frontend::encode_message;
    use ::pg_wired::protocol::types::FrontendMsg;
    use ::pg_wired::{AsyncConn, FormatCode, WireConn};
    use bytes::BytesMut;

    async fn wire(env: &Env) -> R<WireConn> {
        WireConn::connect(
            &format!("{}:{}", env.host, env.port),
            &env.user,
            env.password.as_deref().unwrap_or(""),
            env.database.as_deref().unwrap_or(""),
        )
        .await
        .map_err(e("connect"))
    }

    pub async fn run(w: Workload, env: &Env) -> R<Measured> {
        if w == Workload::Connect {
            let m = Meter::start();
            for _ in 0..CONNECTS {
                let c = AsyncConn::new(wire(env).await?);
                c.close().await.map_err(e("close"))?;
            }
            return Ok(m.stop(CONNECTS));
        }
        let conn = AsyncConn::new(wire(env).await?);
        match w {
            Workload::SelectStream | Workload::SelectStream10M => {
                let rows = if w == Workload::SelectStream {
                    ROWS
                } else {
                    ROWS_10M
                };
                let sql = select_sql(rows);
                let m = Meter::start();
                // Its streaming path takes encoded messages: Parse, Bind (binary
                // results), Execute, Sync.
                let mut buf = BytesMut::new();
                encode_message(
                    &FrontendMsg::Parse {
                        name: b"",
                        sql: sql.as_bytes(),
                        param_oids: &[],
                    },
                    &mut buf,
                );
                encode_message(
                    &FrontendMsg::Bind {
                        portal: b"",
                        statement: b"",
                        param_formats: &[],
                        params: &[],
                        result_formats: &[FormatCode::Binary],
                    },
                    &mut buf,
                );
                encode_message(
                    &FrontendMsg::Describe {
                        kind: b'P',
                        name: b"",
                    },
                    &mut buf,
                );
                encode_message(
                    &FrontendMsg::Execute {
                        portal: b"",
                        max_rows: 0,
                    },
                    &mut buf,
                );
                encode_message(&FrontendMsg::Sync, &mut buf);
                let (_header, mut rx) = conn.submit_stream(buf, 1024).await.map_err(e("stream"))?;
                let mut n = 0u64;
                let mut acc = 0u64;
                while let Some(row) = rx.recv().await {
                    let row = row.map_err(e("row"))?;
                    n += 1;
                    let i = be_i64(row.cell(0))?;
                    let t = utf8(row.cell(1))?;
                    let f = be_f64(row.cell(2))?;
                    acc = acc.wrapping_add(check_row(n, i, t, f));
                }
                black_box(acc);
                expect_rows(n, rows)?;
                Ok(m.stop(n))
            }
            Workload::CopyIn => {
                conn.exec_query(COPY_TABLE, &[], &[])
                    .await
                    .map_err(e("create"))?;
                let data = copy_in_data();
                let m = Meter::start();
                // Its COPY IN takes the whole payload (it frames it in 1 MB CopyData).
                let n = conn
                    .copy_in(COPY_IN_SQL, &data)
                    .await
                    .map_err(e("copy in"))?;
                expect_rows(n, ROWS)?;
                Ok(m.stop(n))
            }
            Workload::CopyOut => {
                let sql = copy_out_sql();
                let m = Meter::start();
                // Its COPY OUT collects everything into one Vec.
                let data = conn.copy_out(&sql).await.map_err(e("copy out"))?;
                black_box(data.len());
                drop(data);
                Ok(m.stop(ROWS))
            }
            Workload::Roundtrip => {
                let m = Meter::start();
                for _ in 0..ROUNDTRIPS {
                    let rows = conn
                        .exec_query("SELECT 1", &[], &[])
                        .await
                        .map_err(e("query"))?;
                    let v = utf8(rows.first().ok_or("no row")?.cell(0))?;
                    black_box(v.len());
                }
                Ok(m.stop(ROUNDTRIPS))
            }
            Workload::Pipeline => {
                // AsyncConn multiplexes callers over one socket (pipelining).
                conn.exec_query("SELECT $1::int8", &[Some(b"0")], &[20])
                    .await
                    .map_err(e("warm"))?;
                let per = PIPELINED / IN_FLIGHT;
                let m = Meter::start();
                let done = join_all((0..IN_FLIGHT).map(|k| {
                    let conn = &conn;
                    async move {
                        for i in 0..per {
                            let v = (k * per + i) as i64;
                            let text = v.to_string();
                            let rows = conn
                                .exec_query("SELECT $1::int8", &[Some(text.as_bytes())], &[20])
                                .await
                                .map_err(e("query"))?;
                            let got: i64 = utf8(rows[0].cell(0))?.parse().map_err(e("parse"))?;
                            if got != v {
                                return Err(format!("{got} != {v}"));
                            }
                        }
                        Ok::<(), String>(())
                    }
                }))
                .await;
                done.into_iter().collect::<R<Vec<()>>>()?;
                Ok(m.stop(per * IN_FLIGHT))
            }
            Workload::Connect => unreachable!(),
        }
    }
}

// ---------------------------------------------------------------------------
// pg_stream 0.2 (a message codec over a stream: the caller drives the protocol)

pub mod pg_stream {
    use super::*;
    use ::pg_stream::message::FormatCode;
    use ::pg_stream::startup::{AuthenticationMode, ConnectionBuilder};
    use ::pg_stream::{PgConnection, PgMessage, PgProtocol};
    use tokio::io::BufStream;
    use tokio::net::TcpStream;

    type Conn = PgConnection<BufStream<TcpStream>>;

    async fn connect(env: &Env) -> R<Conn> {
        let tcp = TcpStream::connect((env.host.as_str(), env.port))
            .await
            .map_err(e("tcp"))?;
        tcp.set_nodelay(true).map_err(e("nodelay"))?;
        // pg_stream reads each message with two read_exact calls on the stream it is
        // given: a buffered stream saves two syscalls per message.
        let mut b = ConnectionBuilder::new(env.user.clone());
        if let Some(d) = &env.database {
            b = b.database(d.clone());
        }
        b = b.auth(match &env.password {
            Some(p) => AuthenticationMode::Password(p.clone()),
            None => AuthenticationMode::Trust,
        });
        let (conn, _startup) = b.connect(BufStream::new(tcp)).await.map_err(e("connect"))?;
        Ok(conn)
    }

    /// Reads until ReadyForQuery; returns the number of DataRows, failing on errors.
    async fn drain(conn: &mut Conn) -> R<u64> {
        let mut n = 0;
        let mut err = None;
        loop {
            match conn.recv().await.map_err(e("recv"))? {
                PgMessage::ReadyForQuery(_) => break,
                PgMessage::DataRow(_) => n += 1,
                PgMessage::ErrorResponse(er) => {
                    err = Some(format!("{}: {}", er.code(), er.message()))
                }
                _ => {}
            }
        }
        match err {
            Some(er) => Err(er),
            None => Ok(n),
        }
    }

    pub async fn run(w: Workload, env: &Env) -> R<Measured> {
        if w == Workload::Connect {
            let m = Meter::start();
            for _ in 0..CONNECTS {
                let mut c = connect(env).await?;
                c.terminate();
                c.flush().await.map_err(e("terminate"))?;
            }
            return Ok(m.stop(CONNECTS));
        }
        let mut conn = connect(env).await?;
        match w {
            Workload::SelectStream | Workload::SelectStream10M => {
                let rows = if w == Workload::SelectStream {
                    ROWS
                } else {
                    ROWS_10M
                };
                let sql = select_sql(rows);
                let m = Meter::start();
                conn.parse(None).query(&sql).finish();
                conn.bind(None)
                    .result_format(FormatCode::Binary)
                    .finish(&[])
                    .execute(None, 0)
                    .sync();
                conn.flush().await.map_err(e("flush"))?;
                let mut n = 0u64;
                let mut acc = 0u64;
                loop {
                    match conn.recv().await.map_err(e("recv"))? {
                        PgMessage::DataRow(row) => {
                            n += 1;
                            let i = be_i64(row.column(0))?;
                            let t = utf8(row.column(1))?;
                            let f = be_f64(row.column(2))?;
                            acc = acc.wrapping_add(check_row(n, i, t, f));
                        }
                        PgMessage::ErrorResponse(er) => {
                            return Err(format!("{}: {}", er.code(), er.message()))
                        }
                        PgMessage::ReadyForQuery(_) => break,
                        _ => {}
                    }
                }
                black_box(acc);
                expect_rows(n, rows)?;
                Ok(m.stop(n))
            }
            Workload::CopyIn => {
                conn.query(COPY_TABLE);
                conn.flush().await.map_err(e("flush"))?;
                drain(&mut conn).await?;
                let data = copy_in_data();
                let m = Meter::start();
                conn.query(COPY_IN_SQL);
                conn.flush().await.map_err(e("flush"))?;
                loop {
                    match conn.recv().await.map_err(e("recv"))? {
                        PgMessage::CopyInResponse(_) => break,
                        PgMessage::ErrorResponse(er) => {
                            return Err(format!("{}: {}", er.code(), er.message()))
                        }
                        _ => {}
                    }
                }
                for chunk in data.chunks(COPY_CHUNK) {
                    conn.copy_data(chunk);
                    conn.flush().await.map_err(e("flush"))?;
                }
                conn.copy_done();
                conn.flush().await.map_err(e("flush"))?;
                let mut n = None;
                loop {
                    match conn.recv().await.map_err(e("recv"))? {
                        PgMessage::CommandComplete(c) => n = c.rows_affected(),
                        PgMessage::ErrorResponse(er) => {
                            return Err(format!("{}: {}", er.code(), er.message()))
                        }
                        PgMessage::ReadyForQuery(_) => break,
                        _ => {}
                    }
                }
                let n = n.ok_or("no COPY tag")?;
                expect_rows(n, ROWS)?;
                Ok(m.stop(n))
            }
            Workload::CopyOut => {
                let sql = copy_out_sql();
                let m = Meter::start();
                conn.query(&sql);
                conn.flush().await.map_err(e("flush"))?;
                let mut bytes = 0usize;
                loop {
                    match conn.recv().await.map_err(e("recv"))? {
                        PgMessage::CopyData(d) => bytes += d.len(),
                        PgMessage::ErrorResponse(er) => {
                            return Err(format!("{}: {}", er.code(), er.message()))
                        }
                        PgMessage::ReadyForQuery(_) => break,
                        _ => {}
                    }
                }
                black_box(bytes);
                Ok(m.stop(ROWS))
            }
            Workload::Roundtrip => {
                conn.parse(Some("one")).query("SELECT 1").finish();
                conn.sync();
                conn.flush().await.map_err(e("flush"))?;
                drain(&mut conn).await?;
                let m = Meter::start();
                for _ in 0..ROUNDTRIPS {
                    conn.bind(None)
                        .statement("one")
                        .finish(&[])
                        .execute(None, 0)
                        .sync();
                    conn.flush().await.map_err(e("flush"))?;
                    let n = drain(&mut conn).await?;
                    black_box(n);
                }
                Ok(m.stop(ROUNDTRIPS))
            }
            Workload::Pipeline => {
                // The caller drives pipelining: a window of IN_FLIGHT Bind/Execute/Sync
                // groups is written at once, then their answers are read.
                conn.parse(Some("p"))
                    .query("SELECT $1::int8")
                    .param_types(&[20])
                    .finish();
                conn.sync();
                conn.flush().await.map_err(e("flush"))?;
                drain(&mut conn).await?;
                let m = Meter::start();
                let mut v = 0i64;
                while (v as u64) < PIPELINED {
                    let first = v;
                    let end = (v + IN_FLIGHT as i64).min(PIPELINED as i64);
                    while v < end {
                        conn.bind(None)
                            .statement("p")
                            .result_format(FormatCode::Binary)
                            .finish(&[&v])
                            .execute(None, 0)
                            .sync();
                        v += 1;
                    }
                    conn.flush().await.map_err(e("flush"))?;
                    let mut want = first;
                    while want < end {
                        match conn.recv().await.map_err(e("recv"))? {
                            PgMessage::DataRow(row) => {
                                let got = be_i64(row.column(0))?;
                                if got != want {
                                    return Err(format!("{got} != {want}"));
                                }
                            }
                            PgMessage::ErrorResponse(er) => {
                                return Err(format!("{}: {}", er.code(), er.message()))
                            }
                            PgMessage::ReadyForQuery(_) => want += 1,
                            _ => {}
                        }
                    }
                }
                Ok(m.stop(PIPELINED))
            }
            Workload::Connect => unreachable!(),
        }
    }
}

// ---------------------------------------------------------------------------
// hyperdb-api-core 1.0.0-rc.5 (hyperd only)

pub mod hyperdb {
    use super::*;
    use hyperdb_api_core::client::{AsyncClient, Config};
    use hyperdb_api_core::types::Oid;

    fn config(env: &Env) -> Config {
        let mut c = Config::new()
            .with_host(env.host.clone())
            .with_port(env.port)
            .with_user(env.user.clone());
        if let Some(p) = &env.password {
            c = c.with_password(p.clone());
        }
        if let Some(d) = &env.database {
            c = c.with_database(d.clone());
        }
        c
    }

    pub async fn run(w: Workload, env: &Env) -> R<Measured> {
        if env.server != Server::Hyperd {
            return Err("n/a: hyperdb-api-core speaks to hyperd only".into());
        }
        let cfg = config(env);
        if w == Workload::Connect {
            let m = Meter::start();
            for _ in 0..CONNECTS {
                let c = AsyncClient::connect(&cfg).await.map_err(e("connect"))?;
                c.close().await.map_err(e("close"))?;
            }
            return Ok(m.stop(CONNECTS));
        }
        let client = AsyncClient::connect(&cfg).await.map_err(e("connect"))?;
        match w {
            Workload::SelectStream | Workload::SelectStream10M => {
                let rows = if w == Workload::SelectStream {
                    ROWS
                } else {
                    ROWS_10M
                };
                let sql = select_sql(rows);
                let m = Meter::start();
                let mut stream = client
                    .query_streaming(&sql, 1024)
                    .await
                    .map_err(e("query"))?;
                let mut n = 0u64;
                let mut acc = 0u64;
                while let Some(chunk) = stream.next_chunk().await.map_err(e("chunk"))? {
                    for row in chunk {
                        n += 1;
                        let i = row.get_i64(0).ok_or("i")?;
                        let t =
                            std::str::from_utf8(row.get_bytes(1).ok_or("t")?).map_err(e("utf8"))?;
                        let f = row.get_f64(2).ok_or("f")?;
                        acc = acc.wrapping_add(check_row(n, i, t, f));
                    }
                }
                black_box(acc);
                expect_rows(n, rows)?;
                Ok(m.stop(n))
            }
            Workload::CopyIn => {
                client.exec(COPY_TABLE).await.map_err(e("create"))?;
                let data = copy_in_data();
                let m = Meter::start();
                let mut copy = client
                    .copy_in_with_format("bench_copy", &[], "TEXT")
                    .await
                    .map_err(e("copy in"))?;
                for chunk in data.chunks(COPY_CHUNK) {
                    copy.send(chunk).await.map_err(e("copy send"))?;
                }
                let n = copy.finish().await.map_err(e("copy finish"))?;
                expect_rows(n, ROWS)?;
                Ok(m.stop(n))
            }
            Workload::CopyOut => {
                let sql = copy_out_sql();
                let m = Meter::start();
                // Its COPY OUT collects everything into one Vec.
                let data = client.copy_out(&sql).await.map_err(e("copy out"))?;
                black_box(data.len());
                drop(data);
                Ok(m.stop(ROWS))
            }
            Workload::Roundtrip => {
                // execute_prepared sends no Describe and so drops every row (it
                // keeps DataRows only after a RowDescription); the streaming
                // variant returns them (HyperBinary).
                let stmt = client.prepare("SELECT 1").await.map_err(e("prepare"))?;
                let m = Meter::start();
                for _ in 0..ROUNDTRIPS {
                    let mut s = client
                        .execute_prepared_streaming(&stmt, Vec::<Option<Vec<u8>>>::new(), 16)
                        .await
                        .map_err(e("query"))?;
                    let mut got = None;
                    while let Some(chunk) = s.next_chunk().await.map_err(e("chunk"))? {
                        got = chunk.first().and_then(|r| r.get_i32(0));
                    }
                    black_box(got.ok_or("no row")?);
                }
                Ok(m.stop(ROUNDTRIPS))
            }
            Workload::Pipeline => {
                // One request at a time: the client holds a mutex over the connection.
                let stmt = client
                    .prepare_typed("SELECT $1::int8", &[Oid(20)])
                    .await
                    .map_err(e("prepare"))?;
                let m = Meter::start();
                for v in 0..PIPELINED as i64 {
                    let mut s = client
                        .execute_prepared_streaming(&stmt, vec![Some(v.to_be_bytes().to_vec())], 16)
                        .await
                        .map_err(e("query"))?;
                    let mut got = None;
                    while let Some(chunk) = s.next_chunk().await.map_err(e("chunk"))? {
                        got = chunk.first().and_then(|r| r.get_i64(0));
                    }
                    let got = got.ok_or("no row")?;
                    if got != v {
                        return Err(format!("{got} != {v}"));
                    }
                }
                Ok(m.stop(PIPELINED))
            }
            Workload::Connect => unreachable!(),
        }
    }
}
