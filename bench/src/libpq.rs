//! libpq's own tools as the C reference: pgbench for `roundtrip`, `pipeline`
//! and `connect`, psql for `copy_in` and `copy_out`. Each runs as a child of the
//! parent; CPU and peak RSS come from wait4 (the whole process: start-up and
//! connecting included, a few ms), wall time from pgbench's own tps (without
//! the initial connection) or, for psql, the process's wall time.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::clients::{self, CONNECTS, IN_FLIGHT, PIPELINED, ROUNDTRIPS, ROWS};
use crate::{wait4, Env, Measured, Workload};

pub const CLIENTS: [&str; 3] = ["pgbench (simple)", "pgbench (prepared)", "psql"];

pub struct Libpq {
    pgbench: PathBuf,
    psql: PathBuf,
    dir: PathBuf,
    copy_file: PathBuf,
}

impl Libpq {
    pub fn new(pg: &hyperwire_tests::Server) -> Libpq {
        let psql = pg.psql();
        let pgbench = psql.with_file_name("pgbench");
        let dir = std::env::temp_dir().join(format!("hyperwire-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("bench temp dir");
        let w = |name: &str, body: &str| std::fs::write(dir.join(name), body).expect("script");
        w("select1.sql", "SELECT 1;\n");
        let mut pipe = String::from("\\set v random(1, 1000000)\n\\startpipeline\n");
        for _ in 0..IN_FLIGHT {
            pipe.push_str("SELECT :v::int8;\n");
        }
        pipe.push_str("\\endpipeline\n");
        w("pipeline.sql", &pipe);
        let copy_file = dir.join("copy_in.txt");
        // Written as it is generated: the parent stays small, and a child's
        // ru_maxrss (wait4) starts from the parent's high-water mark.
        std::fs::File::create(&copy_file)
            .map(std::io::BufWriter::new)
            .and_then(|mut f| {
                clients::write_copy_in_data(&mut f)?;
                f.flush()
            })
            .expect("copy data");
        Libpq {
            pgbench,
            psql,
            dir,
            copy_file,
        }
    }

    pub fn run(&self, client: &str, w: Workload, env: &Env) -> Result<Measured, String> {
        match (client, w) {
            ("pgbench (simple)", Workload::Roundtrip) => {
                self.pgbench(env, "simple", "select1.sql", ROUNDTRIPS, 1, false)
            }
            ("pgbench (prepared)", Workload::Roundtrip) => {
                self.pgbench(env, "prepared", "select1.sql", ROUNDTRIPS, 1, false)
            }
            ("pgbench (prepared)", Workload::Pipeline) => self.pgbench(
                env,
                "prepared",
                "pipeline.sql",
                PIPELINED / IN_FLIGHT,
                IN_FLIGHT,
                false,
            ),
            ("pgbench (simple)", Workload::Connect) => {
                self.pgbench(env, "simple", "select1.sql", CONNECTS, 1, true)
            }
            ("psql", Workload::CopyOut) => self.psql(env, &[&clients::copy_out_sql()], None),
            ("psql", Workload::CopyIn) => self.psql(
                env,
                &[clients::COPY_TABLE, clients::COPY_IN_SQL],
                Some(&self.copy_file),
            ),
            _ => Err("n/a".into()),
        }
    }

    fn base(&self, program: &PathBuf, env: &Env) -> Command {
        let mut cmd = Command::new(program);
        for var in [
            "PGPASSWORD",
            "PGSERVICE",
            "PGSSLMODE",
            "PGOPTIONS",
            "PGDATABASE",
            "PGUSER",
        ] {
            cmd.env_remove(var);
        }
        if let Some(pw) = &env.password {
            cmd.env("PGPASSWORD", pw);
        }
        cmd.env("PGSSLMODE", "disable")
            .env("PGPASSFILE", self.dir.join("no-pgpass"));
        cmd.args([
            "-h",
            &env.host,
            "-p",
            &env.port.to_string(),
            "-U",
            &env.user,
        ]);
        cmd.current_dir(&self.dir);
        cmd
    }

    /// `pgbench -n -f SCRIPT -t N -c 1 -M MODE [-C]`; wall = transactions / tps
    /// (pgbench leaves the initial connection out; with -C every connection is in).
    fn pgbench(
        &self,
        env: &Env,
        mode: &str,
        script: &str,
        tx: u64,
        per_tx: u64,
        reconnect: bool,
    ) -> Result<Measured, String> {
        let mut cmd = self.base(&self.pgbench, env);
        cmd.args([
            "-n",
            "-f",
            script,
            "-c",
            "1",
            "-M",
            mode,
            "-t",
            &tx.to_string(),
        ]);
        if reconnect {
            cmd.arg("-C");
        }
        // Without a database pgbench would ask for one named after the OS user;
        // libpq leaves out a database named like the user (hyperd has none).
        cmd.arg(env.database.as_ref().unwrap_or(&env.user));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("pgbench: {e}"))?;
        let (out, err) = read_both(&mut child);
        let waited = wait4(child);
        if !waited.success {
            return Err(format!(
                "pgbench failed: {} {}",
                err.trim().replace('\n', " "),
                last_line(&out).unwrap_or_default()
            ));
        }
        let tps: f64 = out
            .lines()
            .find_map(|l| l.strip_prefix("tps = "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no tps in pgbench output: {out}"))?;
        let failed = out
            .lines()
            .find_map(|l| l.strip_prefix("number of failed transactions: "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if failed > 0 {
            return Err(format!("pgbench: {failed} failed transactions"));
        }
        Ok(Measured {
            ops: tx * per_tx,
            wall: Duration::from_secs_f64(tx as f64 / tps),
            user: waited.user,
            sys: waited.sys,
            peak_rss_kb: waited.maxrss_kb,
        })
    }

    /// `psql -c … [-c …] [< file] > /dev/null`; wall = the whole process.
    fn psql(
        &self,
        env: &Env,
        commands: &[&str],
        stdin: Option<&PathBuf>,
    ) -> Result<Measured, String> {
        let mut cmd = self.base(&self.psql, env);
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1"]);
        for c in commands {
            cmd.args(["-c", c]);
        }
        if let Some(db) = &env.database {
            cmd.args(["-d", db]);
        }
        match stdin {
            Some(path) => cmd.stdin(std::fs::File::open(path).map_err(|e| format!("open: {e}"))?),
            None => cmd.stdin(Stdio::null()),
        };
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let t = Instant::now();
        let mut child = cmd.spawn().map_err(|e| format!("psql: {e}"))?;
        let (_, err) = read_both(&mut child);
        let waited = wait4(child);
        let wall = t.elapsed();
        if !waited.success {
            return Err(format!(
                "psql failed: {}",
                last_line(&err).unwrap_or_default()
            ));
        }
        Ok(Measured {
            ops: ROWS,
            wall,
            user: waited.user,
            sys: waited.sys,
            peak_rss_kb: waited.maxrss_kb,
        })
    }
}

fn last_line(s: &str) -> Option<String> {
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::to_owned)
}

fn read_both(child: &mut std::process::Child) -> (String, String) {
    use std::io::Read;
    let mut err_pipe = child.stderr.take();
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(p) = err_pipe.as_mut() {
            let _ = p.read_to_string(&mut s);
        }
        s
    });
    let mut out = String::new();
    if let Some(mut p) = child.stdout.take() {
        let _ = p.read_to_string(&mut out);
    }
    (out, errs.join().unwrap_or_default())
}
