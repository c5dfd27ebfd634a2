//! Side-by-side benchmarks (issue #8): the same workloads through hyperwire and
//! its peers against the same throwaway PostgreSQL 15 and hyperd, in one run.
//!
//! Run: `cargo run --release --manifest-path bench/Cargo.toml` (see BENCHMARKS.md).
//!
//! The parent process starts the servers (hyperwire-tests), then re-executes
//! this binary once per client × workload × server × repetition
//! (`hyperwire-bench child CLIENT WORKLOAD`, the server passed in `BENCH_*`
//! variables), interleaved, so that every client runs alone in its own
//! process: the child measures wall time and its own CPU (getrusage
//! RUSAGE_SELF, user + sys, over the measured section only; the server is
//! another process), and the parent reads the child's peak RSS from wait4.
//! libpq's tools (pgbench, psql) run the same way as children of the parent.
//!
//! Environment: `BENCH_REPS` (default 3; the median is reported),
//! `BENCH_ONLY=select_stream,copy_in,…` and `BENCH_CLIENTS=hyperwire,sqlx,…`
//! to run a subset, `BENCH_OUT` (default `bench/results`).

mod clients;
mod libpq;
mod report;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Server {
    Pg15,
    Hyperd,
}

impl Server {
    pub fn name(self) -> &'static str {
        match self {
            Server::Pg15 => "pg15",
            Server::Hyperd => "hyperd",
        }
    }
    fn parse(s: &str) -> Option<Server> {
        [Server::Pg15, Server::Hyperd]
            .into_iter()
            .find(|k| k.name() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Workload {
    SelectStream,
    CopyIn,
    CopyOut,
    Roundtrip,
    Pipeline,
    Connect,
    /// Peak RSS while streaming 10M rows (hyperwire only).
    SelectStream10M,
}

impl Workload {
    pub const ALL: [Workload; 6] = [
        Workload::SelectStream,
        Workload::CopyIn,
        Workload::CopyOut,
        Workload::Roundtrip,
        Workload::Pipeline,
        Workload::Connect,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Workload::SelectStream => "select_stream",
            Workload::CopyIn => "copy_in",
            Workload::CopyOut => "copy_out",
            Workload::Roundtrip => "roundtrip",
            Workload::Pipeline => "pipeline",
            Workload::Connect => "connect",
            Workload::SelectStream10M => "select_stream_10m",
        }
    }
    /// What one "op" is.
    pub fn unit(self) -> &'static str {
        match self {
            Workload::SelectStream
            | Workload::SelectStream10M
            | Workload::CopyIn
            | Workload::CopyOut => "row",
            Workload::Roundtrip | Workload::Pipeline => "query",
            Workload::Connect => "connect",
        }
    }
    fn parse(s: &str) -> Option<Workload> {
        Workload::ALL
            .into_iter()
            .chain([Workload::SelectStream10M])
            .find(|w| w.name() == s)
    }
}

/// Where a child connects.
#[derive(Clone, Debug)]
pub struct Env {
    pub server: Server,
    pub conninfo: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub database: Option<String>,
}

impl Env {
    fn of(server: Server, s: &hyperwire_tests::Server, user: &str) -> Env {
        Env {
            server,
            conninfo: s.conninfo(user),
            host: s.host().to_owned(),
            port: s.port(),
            user: user.to_owned(),
            password: s.password(user).map(str::to_owned),
            database: s.database().map(str::to_owned),
        }
    }

    fn to_vars(&self, cmd: &mut Command) {
        cmd.env("BENCH_SERVER", self.server.name())
            .env("BENCH_CONNINFO", &self.conninfo)
            .env("BENCH_HOST", &self.host)
            .env("BENCH_PORT", self.port.to_string())
            .env("BENCH_USER", &self.user)
            .env_remove("BENCH_PASSWORD")
            .env_remove("BENCH_DATABASE");
        if let Some(p) = &self.password {
            cmd.env("BENCH_PASSWORD", p);
        }
        if let Some(d) = &self.database {
            cmd.env("BENCH_DATABASE", d);
        }
    }

    fn from_vars() -> Env {
        let var = |n: &str| std::env::var(n).unwrap_or_else(|_| panic!("{n} not set"));
        Env {
            server: Server::parse(&var("BENCH_SERVER")).expect("BENCH_SERVER"),
            conninfo: var("BENCH_CONNINFO"),
            host: var("BENCH_HOST"),
            port: var("BENCH_PORT").parse().expect("BENCH_PORT"),
            user: var("BENCH_USER"),
            password: std::env::var("BENCH_PASSWORD").ok(),
            database: std::env::var("BENCH_DATABASE").ok(),
        }
    }
}

/// One measured run.
#[derive(Clone, Debug)]
pub struct Measured {
    pub ops: u64,
    pub wall: Duration,
    pub user: Duration,
    pub sys: Duration,
    pub peak_rss_kb: u64,
}

impl Measured {
    fn encode(&self) -> String {
        format!(
            "RESULT {} {} {} {} {}",
            self.ops,
            self.wall.as_nanos(),
            self.user.as_nanos(),
            self.sys.as_nanos(),
            self.peak_rss_kb
        )
    }
    fn decode(line: &str) -> Option<Measured> {
        let mut it = line
            .strip_prefix("RESULT ")?
            .split(' ')
            .map(|v| v.parse::<u128>().ok());
        let mut next = || it.next().flatten();
        Some(Measured {
            ops: next()? as u64,
            wall: Duration::from_nanos(next()? as u64),
            user: Duration::from_nanos(next()? as u64),
            sys: Duration::from_nanos(next()? as u64),
            peak_rss_kb: next()? as u64,
        })
    }
}

pub const CLIENTS: [&str; 9] = [
    "hyperwire",
    "hyperwire (binary)",
    "hyperwire (in place)",
    "hyperwire (blocking)",
    "tokio-postgres",
    "sqlx",
    "pg-wired",
    "pg_stream",
    "hyperdb-api-core",
];

/// Runs one client's workload in this (child) process.
fn child(client: &str, workload: &str) -> ! {
    let w = Workload::parse(workload).expect("workload");
    let env = Env::from_vars();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let result = rt.block_on(async {
        match client {
            "hyperwire" => clients::hyperwire::run(w, &env).await,
            "hyperwire (binary)" => clients::hyperwire::run_binary(w, &env).await,
            "hyperwire (in place)" => clients::hyperwire::run_in_place(w, &env).await,
            "hyperwire (blocking)" => clients::hyperwire_blocking_client::run(w, &env),
            "tokio-postgres" => clients::tokio_pg::run(w, &env).await,
            "sqlx" => clients::sqlx_pg::run(w, &env).await,
            "pg-wired" => clients::pg_wired::run(w, &env).await,
            "pg_stream" => clients::pg_stream::run(w, &env).await,
            "hyperdb-api-core" => clients::hyperdb::run(w, &env).await,
            other => Err(format!("unknown client {other}")),
        }
    });
    match result {
        Ok(mut m) => {
            m.peak_rss_kb = clients::vm_hwm_kb();
            println!("{}", m.encode());
            std::process::exit(0)
        }
        Err(e) => {
            println!("ERROR {}", e.replace('\n', " "));
            std::process::exit(1)
        }
    }
}

/// A child's exit status and rusage (wait4).
pub struct Waited {
    pub success: bool,
    pub user: Duration,
    pub sys: Duration,
    pub maxrss_kb: u64,
}

#[allow(unsafe_code)]
pub fn wait4(child: std::process::Child) -> Waited {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain old data; zero is valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers; `pid` is our own unreaped child.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(rc, pid, "wait4");
    // The child is reaped: `Child` must not wait for it again (dropping does not).
    drop(child);
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Waited {
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        user: tv(ru.ru_utime),
        sys: tv(ru.ru_stime),
        maxrss_kb: ru.ru_maxrss as u64,
    }
}

fn run_child(client: &str, w: Workload, env: &Env) -> Result<Measured, String> {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args(["child", client, w.name()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    env.to_vars(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
    let mut out = String::new();
    {
        use std::io::Read;
        let mut stdout = child.stdout.take().expect("stdout");
        stdout
            .read_to_string(&mut out)
            .map_err(|e| format!("read: {e}"))?;
    }
    let waited = wait4(child);
    let line = out.lines().last().unwrap_or("").to_owned();
    if let Some(m) = Measured::decode(&line) {
        // VmHWM from the child itself; wait4's ru_maxrss as a fallback.
        let _ = waited.maxrss_kb;
        return Ok(m);
    }
    Err(line.strip_prefix("ERROR ").unwrap_or(&line).to_owned())
}

/// The key of one cell of the results.
pub type Key = (Workload, Server, String);

pub enum Cell {
    Runs(Vec<Measured>),
    Failed(String),
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        child(&args[2], &args[3]);
    }
    let reps: usize = std::env::var("BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let only: Option<Vec<String>> = std::env::var("BENCH_ONLY")
        .ok()
        .map(|v| v.split(',').map(str::to_owned).collect());
    let only_clients: Option<Vec<String>> = std::env::var("BENCH_CLIENTS")
        .ok()
        .map(|v| v.split(',').map(str::to_owned).collect());
    let out_dir = std::env::var("BENCH_OUT")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/results").to_owned());

    eprintln!("starting servers…");
    let pg = hyperwire_tests::pg15();
    let hy = hyperwire_tests::hyper();
    let hy_scram = hyperwire_tests::hyper_scram();
    let env_for = |w: Workload, s: Server| match (w, s) {
        (Workload::Connect, Server::Pg15) => Env::of(s, pg, hyperwire_tests::SCRAM_USER),
        (Workload::Connect, Server::Hyperd) => Env::of(s, hy_scram, hyperwire_tests::HYPER_USER),
        (_, Server::Pg15) => Env::of(s, pg, hyperwire_tests::TRUST_USER),
        (_, Server::Hyperd) => Env::of(s, hy, hyperwire_tests::HYPER_USER),
    };
    let lib = libpq::Libpq::new(pg);

    let workloads: Vec<Workload> = Workload::ALL
        .into_iter()
        .filter(|w| {
            only.as_ref()
                .is_none_or(|o| o.iter().any(|n| n == w.name()))
        })
        .collect();
    let mut runners: Vec<String> = CLIENTS.iter().map(|s| s.to_string()).collect();
    runners.extend(libpq::CLIENTS.iter().map(|s| s.to_string()));
    runners.retain(|c| {
        only_clients
            .as_ref()
            .is_none_or(|o| o.iter().any(|n| n == c))
    });

    let load_before = report::loadavg();
    let started = Instant::now();
    let mut results: BTreeMap<Key, Cell> = BTreeMap::new();
    for rep in 0..reps {
        for &w in &workloads {
            for s in [Server::Pg15, Server::Hyperd] {
                let env = env_for(w, s);
                // Rotate the order each repetition so no client always runs first.
                let n = runners.len();
                for k in 0..n {
                    let client = &runners[(k + rep) % n];
                    let key = (w, s, client.clone());
                    if matches!(results.get(&key), Some(Cell::Failed(_))) {
                        continue;
                    }
                    let got = if libpq::CLIENTS.contains(&client.as_str()) {
                        lib.run(client, w, &env)
                    } else {
                        run_child(client, w, &env)
                    };
                    match got {
                        Ok(m) => {
                            eprintln!(
                                "[{}/{reps}] {:<13} {:<6} {:<18} {:>9.1} ms  cpu {:>8.1} ms (user {:.1}, sys {:.1})  rss {:>7} KiB",
                                rep + 1,
                                w.name(),
                                s.name(),
                                client,
                                m.wall.as_secs_f64() * 1e3,
                                (m.user + m.sys).as_secs_f64() * 1e3,
                                m.user.as_secs_f64() * 1e3,
                                m.sys.as_secs_f64() * 1e3,
                                m.peak_rss_kb
                            );
                            match results.entry(key).or_insert_with(|| Cell::Runs(Vec::new())) {
                                Cell::Runs(v) => v.push(m),
                                Cell::Failed(_) => {}
                            }
                        }
                        Err(e) if e.starts_with("n/a") => {
                            // Not applicable (e.g. hyperdb-api-core on PostgreSQL): no cell.
                            let _ = e;
                        }
                        Err(e) => {
                            eprintln!(
                                "[{}/{reps}] {:<13} {:<6} {:<18} FAILED: {e}",
                                rep + 1,
                                w.name(),
                                s.name(),
                                client
                            );
                            results.insert(key, Cell::Failed(e));
                        }
                    }
                }
            }
        }
    }
    // Peak RSS while streaming 10M rows: hyperwire only, once per server.
    let mut rss10m = Vec::new();
    if only
        .as_ref()
        .is_none_or(|o| o.iter().any(|n| n == Workload::SelectStream10M.name()))
    {
        for s in [Server::Pg15, Server::Hyperd] {
            let env = env_for(Workload::SelectStream10M, s);
            match run_child("hyperwire", Workload::SelectStream10M, &env) {
                Ok(m) => {
                    eprintln!(
                        "select_stream_10m {} hyperwire: {:.2} s, peak RSS {} KiB",
                        s.name(),
                        m.wall.as_secs_f64(),
                        m.peak_rss_kb
                    );
                    rss10m.push((s, Ok(m)));
                }
                Err(e) => rss10m.push((s, Err(e))),
            }
        }
    }
    let load_after = report::loadavg();
    report::write(
        &out_dir,
        &results,
        &rss10m,
        reps,
        &load_before,
        &load_after,
        started.elapsed(),
    );
}
