//! hyperd bulk throughput (issue #6): 10 million rows read as HyperBinary
//! DataRows, read through ARROWSTREAM COPY (raw bytes, and decoded to Arrow
//! record batches), and written with the HYPERBINARY COPY encoder, through
//! hyperwire's blocking client and through hyperdb-api-core 1.0.0-rc.5's
//! synchronous client, on the same throwaway hyperd.
//!
//! Run: `cargo run --release --manifest-path bench/Cargo.toml --bin hyper-bulk`
//! (`BULK_ROWS`, default 10 000 000; `BULK_REPS`, default 3, the median is
//! reported; `BULK_ONLY=datarows,arrow,write` for a subset; `BULK_ONLY=for_each`
//! or `write_hyperwire` runs hyperwire alone, for a profiler).
//!
//! Each workload runs on one thread of this process while hyperd is another
//! process; the client's CPU is this process's user + system time
//! (getrusage(RUSAGE_SELF)) over the measured section, divided by the rows.
//! Clients alternate run by run so that neither gets a warmer server.

use std::io::Write;
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use bytes::BytesMut;
use hyperwire_blocking::{Client, Format};
use hyperwire_proto::hyper_copy::{CopyColumn, CopyEncoder, CopySchema};
use hyperwire_proto::value::oid;

type R<T> = Result<T, Box<dyn std::error::Error>>;

/// What one run measured.
#[derive(Clone, Copy, Debug)]
struct Measured {
    rows: u64,
    wall: Duration,
    cpu: Duration,
}

/// This process's user + system CPU time.
fn cpu_now() -> Duration {
    // SAFETY: rusage is plain old data (all-zero is valid) and getrusage only
    // fills the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

struct Meter {
    wall: Instant,
    cpu: Duration,
}

impl Meter {
    fn start() -> Meter {
        Meter {
            wall: Instant::now(),
            cpu: cpu_now(),
        }
    }
    fn stop(self, rows: u64) -> Measured {
        Measured {
            rows,
            wall: self.wall.elapsed(),
            cpu: cpu_now() - self.cpu,
        }
    }
}

/// Row k of every workload: id = k, v = NULL every 7th row else k % 1000 - 500,
/// f = k / 2.
fn v_of(k: u64) -> Option<i32> {
    (!k.is_multiple_of(7)).then(|| (k % 1000) as i32 - 500)
}

fn select_sql(rows: u64) -> String {
    format!(
        "SELECT g::bigint AS id, CASE WHEN g % 7 = 0 THEN NULL ELSE (g % 1000)::int - 500 END AS v, \
         g * 0.5::double precision AS f FROM generate_series(1, {rows}) g"
    )
}

fn copy_out_sql(rows: u64) -> String {
    format!(
        "COPY ({}) TO STDOUT WITH (FORMAT ARROWSTREAM)",
        select_sql(rows)
    )
}

const CREATE: &str =
    "CREATE TEMP TABLE bulk_in (id bigint NOT NULL, v int, f double precision NOT NULL)";

/// The checksum every reader computes.
#[derive(Debug, Default, PartialEq)]
struct Sums {
    rows: u64,
    id: i64,
    v: i64,
    f: f64,
}

fn expected(rows: u64) -> Sums {
    let mut s = Sums {
        rows,
        id: (rows * (rows + 1) / 2) as i64,
        v: 0,
        f: (rows * (rows + 1)) as f64 / 4.0,
    };
    for k in 1..=rows {
        s.v += v_of(k).map_or(0, i64::from);
    }
    s
}

fn check(got: &Sums, want: &Sums) -> R<()> {
    if got.rows != want.rows || got.id != want.id || got.v != want.v || got.f != want.f {
        return Err(format!("checksum mismatch: got {got:?}, want {want:?}").into());
    }
    Ok(())
}

fn sum_batch(s: &mut Sums, b: &RecordBatch) {
    s.rows += b.num_rows() as u64;
    s.id += b
        .column(0)
        .as_primitive::<Int64Type>()
        .values()
        .iter()
        .sum::<i64>();
    let v = b.column(1).as_primitive::<Int32Type>();
    if v.null_count() == 0 {
        s.v += v.values().iter().map(|&x| i64::from(x)).sum::<i64>();
    } else {
        s.v += v.iter().flatten().map(i64::from).sum::<i64>();
    }
    s.f += b
        .column(2)
        .as_primitive::<Float64Type>()
        .values()
        .iter()
        .sum::<f64>();
}

/// A writer that counts the bytes (the raw COPY OUT workloads' sink).
struct Count(u64);

impl Write for Count {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// ---- hyperwire -------------------------------------------------------------------

mod hw {
    use super::*;

    pub fn read_datarows(c: &mut Client, rows: u64) -> R<(Measured, Sums)> {
        let sql = select_sql(rows);
        let m = Meter::start();
        let mut s = Sums::default();
        for row in c.query_iter_with_formats(&sql, &[], &[Format::HyperBinary])? {
            let row = row?;
            s.rows += 1;
            s.id += row.get::<i64>(0)?;
            s.v += row.get::<Option<i32>>(1)?.map_or(0, i64::from);
            s.f += row.get::<f64>(2)?;
        }
        Ok((m.stop(s.rows), s))
    }

    pub fn read_datarows_for_each(c: &mut Client, rows: u64) -> R<(Measured, Sums)> {
        let sql = select_sql(rows);
        let m = Meter::start();
        let mut s = Sums::default();
        c.query_for_each_with_formats(&sql, &[], &[Format::HyperBinary], |row| {
            s.rows += 1;
            s.id += row.get::<i64>(0)?;
            s.v += row.get::<Option<i32>>(1)?.map_or(0, i64::from);
            s.f += row.get::<f64>(2)?;
            Ok(())
        })?;
        Ok((m.stop(s.rows), s))
    }

    pub fn read_arrow_raw(c: &mut Client, rows: u64) -> R<(Measured, u64)> {
        let sql = copy_out_sql(rows);
        let m = Meter::start();
        let mut sink = Count(0);
        let bytes = c.copy_out_to(&sql, &mut sink)?;
        Ok((m.stop(rows), bytes))
    }

    pub fn read_arrow(c: &mut Client, rows: u64) -> R<(Measured, Sums)> {
        let sql = copy_out_sql(rows);
        let m = Meter::start();
        let mut s = Sums::default();
        for b in c.copy_out_arrow(&sql)? {
            sum_batch(&mut s, &b?);
        }
        Ok((m.stop(s.rows), s))
    }

    pub fn write_hyperbinary(c: &mut Client, rows: u64) -> R<Measured> {
        c.batch_execute("DROP TABLE IF EXISTS bulk_in")?;
        c.batch_execute(CREATE)?;
        let schema = CopySchema::new(vec![
            CopyColumn::not_null(oid::INT8),
            CopyColumn::nullable(oid::INT4),
            CopyColumn::not_null(oid::FLOAT8),
        ])?;
        let m = Meter::start();
        let mut enc = CopyEncoder::new(schema);
        let mut copy = c.copy_in("COPY bulk_in FROM STDIN WITH (FORMAT HYPERBINARY)")?;
        for k in 1..=rows {
            enc.push(&(k as i64))?;
            enc.push(&v_of(k))?;
            enc.push(&(k as f64 * 0.5))?;
            while let Some(chunk) = enc.next_chunk() {
                let len = chunk.len();
                copy.write_all(chunk)?;
                enc.consume(len);
            }
        }
        copy.write_all(enc.finish()?)?;
        let loaded = copy.finish()?;
        let measured = m.stop(loaded);
        if loaded != rows {
            return Err(format!("loaded {loaded} of {rows}").into());
        }
        Ok(measured)
    }
}

// ---- hyperdb-api-core --------------------------------------------------------------

mod peer {
    use super::*;
    use hyperdb_api_core::client::{Client, Config};
    use hyperdb_api_core::protocol::copy as hcopy;

    pub fn connect(port: u16, user: &str) -> R<Client> {
        let cfg = Config::new()
            .with_host("127.0.0.1")
            .with_port(port)
            .with_user(user);
        Ok(Client::connect(&cfg)?)
    }

    pub fn read_datarows(c: &Client, rows: u64) -> R<(Measured, Sums)> {
        let sql = select_sql(rows);
        let m = Meter::start();
        let mut s = Sums::default();
        let mut stream = c.query_streaming(&sql, 1024)?;
        while let Some(chunk) = stream.next_chunk()? {
            for row in chunk {
                s.rows += 1;
                s.id += row.get_i64(0).ok_or("id")?;
                s.v += row.get_i32(1).map_or(0, i64::from);
                s.f += row.get_f64(2).ok_or("f")?;
            }
        }
        drop(stream);
        Ok((m.stop(s.rows), s))
    }

    pub fn read_arrow_raw(c: &Client, rows: u64) -> R<(Measured, u64)> {
        let sql = copy_out_sql(rows);
        let m = Meter::start();
        let mut w = Count(0);
        c.copy_out_to_writer(&sql, &mut w)?;
        Ok((m.stop(rows), w.0))
    }

    /// Its streaming COPY OUT into arrow-ipc's StreamDecoder: the same decoding
    /// work hyperwire-arrow does.
    struct Decode {
        dec: arrow_ipc::reader::StreamDecoder,
        sums: Sums,
        error: Option<String>,
    }
    impl Write for Decode {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let mut buf = arrow_buffer::Buffer::from(b);
            while !buf.is_empty() {
                match self.dec.decode(&mut buf) {
                    Ok(Some(batch)) => sum_batch(&mut self.sums, &batch),
                    Ok(None) => {}
                    Err(e) => {
                        self.error = Some(e.to_string());
                        return Err(std::io::Error::other(e));
                    }
                }
            }
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    pub fn read_arrow(c: &Client, rows: u64) -> R<(Measured, Sums)> {
        let sql = copy_out_sql(rows);
        let m = Meter::start();
        let mut w = Decode {
            dec: arrow_ipc::reader::StreamDecoder::new(),
            sums: Sums::default(),
            error: None,
        };
        c.copy_out_to_writer(&sql, &mut w)?;
        if let Some(e) = w.error {
            return Err(e.into());
        }
        Ok((m.stop(w.sums.rows), w.sums))
    }

    pub fn write_hyperbinary(c: &Client, rows: u64) -> R<Measured> {
        c.exec("DROP TABLE IF EXISTS bulk_in")?;
        c.exec(CREATE)?;
        let m = Meter::start();
        let mut w = c.copy_in("bulk_in", &["id", "v", "f"])?;
        let mut buf = BytesMut::with_capacity(1 << 20);
        hcopy::write_header(&mut buf);
        for k in 1..=rows {
            hcopy::write_i64_not_null(&mut buf, k as i64);
            match v_of(k) {
                Some(v) => hcopy::write_i32(&mut buf, v),
                None => hcopy::write_null(&mut buf),
            }
            hcopy::write_f64_not_null(&mut buf, k as f64 * 0.5);
            if buf.len() >= 1 << 20 {
                w.send(&buf)?;
                buf.clear();
            }
        }
        if !buf.is_empty() {
            w.send(&buf)?;
        }
        let loaded = w.finish()?;
        let measured = m.stop(loaded);
        if loaded != rows {
            return Err(format!("loaded {loaded} of {rows}").into());
        }
        Ok(measured)
    }
}

// ---- the run -----------------------------------------------------------------------

fn median(mut v: Vec<Measured>) -> Measured {
    v.sort_by_key(|m| m.wall);
    v[v.len() / 2]
}

fn line(workload: &str, hw: Measured, peer: Measured) {
    let rps = |m: Measured| m.rows as f64 / m.wall.as_secs_f64();
    let cpr = |m: Measured| m.cpu.as_nanos() as f64 / m.rows as f64;
    println!(
        "| {workload} | {:.2} M rows/s, {:.1} ns CPU/row | {:.2} M rows/s, {:.1} ns CPU/row | {:.2}x | {:.2}x |",
        rps(hw) / 1e6,
        cpr(hw),
        rps(peer) / 1e6,
        cpr(peer),
        rps(hw) / rps(peer),
        cpr(hw) / cpr(peer),
    );
}

fn main() -> R<()> {
    let rows: u64 = std::env::var("BULK_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let reps: usize = std::env::var("BULK_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let server = hyperwire_tests::hyper();
    let user = hyperwire_tests::HYPER_USER;
    let mut hwc = Client::connect(&server.conninfo(user))?;
    let peer = peer::connect(server.port(), user)?;
    let want = expected(rows);
    eprintln!(
        "hyperd on port {}; {rows} rows, {reps} runs each",
        server.port()
    );

    let mut results: Vec<(&str, Vec<Measured>, Vec<Measured>)> = Vec::new();
    let mut push = |name, h: Measured, p: Measured| {
        if let Some(e) = results.iter_mut().find(|e| e.0 == name) {
            e.1.push(h);
            e.2.push(p);
        } else {
            results.push((name, vec![h], vec![p]));
        }
    };
    let only = std::env::var("BULK_ONLY").unwrap_or_default();
    let run = |w: &str| only.is_empty() || only.split(',').any(|o| o == w);
    for rep in 0..reps {
        eprintln!("run {}", rep + 1);
        if run("datarows") {
            let (h, s) = hw::read_datarows(&mut hwc, rows)?;
            check(&s, &want)?;
            let (p, s) = peer::read_datarows(&peer, rows)?;
            check(&s, &want)?;
            push("read: HyperBinary DataRows, RowIter (3 columns)", h, p);
        }
        if run("datarows") || run("for_each") {
            let (h, s) = hw::read_datarows_for_each(&mut hwc, rows)?;
            check(&s, &want)?;
            if only == "for_each" {
                continue; // profiling hyperwire alone
            }
            let (p, s) = peer::read_datarows(&peer, rows)?;
            check(&s, &want)?;
            push("read: HyperBinary DataRows, for_each (3 columns)", h, p);
        }
        if run("arrow") {
            let (h, hb) = hw::read_arrow_raw(&mut hwc, rows)?;
            let (p, pb) = peer::read_arrow_raw(&peer, rows)?;
            // hyperd's batch boundaries vary run to run (parallel scans), so the
            // byte counts differ by a few message headers; the decoded sums below
            // are checked exactly.
            if hb.abs_diff(pb) > hb / 100 {
                return Err(format!("ARROWSTREAM bytes differ: {hb} vs {pb}").into());
            }
            push("read: ARROWSTREAM COPY OUT, raw bytes", h, p);

            let (h, s) = hw::read_arrow(&mut hwc, rows)?;
            check(&s, &want)?;
            let (p, s) = peer::read_arrow(&peer, rows)?;
            check(&s, &want)?;
            push("read: ARROWSTREAM COPY OUT to RecordBatches", h, p);
        }
        if run("write") || only == "write_hyperwire" {
            let h = hw::write_hyperbinary(&mut hwc, rows)?;
            if only == "write_hyperwire" {
                continue; // profiling hyperwire alone
            }
            let p = peer::write_hyperbinary(&peer, rows)?;
            push("write: HYPERBINARY COPY IN (encoder)", h, p);
        }
    }
    println!();
    println!("{rows} rows, median of {reps} runs; CPU = client user+sys (getrusage) per row.");
    println!();
    println!(
        "| workload | hyperwire | hyperdb-api-core 1.0.0-rc.5 | rows/s ratio | CPU/row ratio |"
    );
    println!("|---|---|---|---|---|");
    for (name, h, p) in results {
        line(name, median(h), median(p));
    }
    Ok(())
}
