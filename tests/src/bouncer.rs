//! Starting PgBouncer (transaction pooling) in front of a PostgreSQL server.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::server::{Server, ServerKind, ServerOptions, StartError};
use crate::sys::{self, RunAs, StopTarget, Watchdog, INSTALL_ALL};
use crate::wire::{self, StartupReply};
use crate::{
    DATABASE, MD5_USER, MD5_USER_PASSWORD, PASSWORD_USER, PASSWORD_USER_PASSWORD, SCRAM_USER,
    SCRAM_USER_PASSWORD, SUPERUSER, TRUST_USER,
};

/// The users PgBouncer knows: `(user, client auth method, password)`. PgBouncer keeps the
/// plain passwords (auth_file) and uses them to log in to the backend with whatever method
/// the backend asks for.
const USERS: [(&str, &str, Option<&str>); 5] = [
    (TRUST_USER, "trust", None),
    (PASSWORD_USER, "password", Some(PASSWORD_USER_PASSWORD)),
    (MD5_USER, "md5", Some(MD5_USER_PASSWORD)),
    (SCRAM_USER, "scram-sha-256", Some(SCRAM_USER_PASSWORD)),
    (SUPERUSER, "trust", None),
];

fn pgbouncer_path() -> Result<PathBuf, StartError> {
    let exe = match std::env::var_os("HYPERWIRE_PGBOUNCER") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from("/usr/sbin/pgbouncer"),
    };
    if sys::is_executable(&exe) {
        Ok(exe)
    } else {
        Err(StartError::new(format!(
            "pgbouncer is not installed ({} is missing).\nInstall it with `{INSTALL_ALL}` (or \
             `apt-get install -y --no-install-recommends pgbouncer`), or point \
             HYPERWIRE_PGBOUNCER at a pgbouncer binary.",
            exe.display()
        )))
    }
}

pub(crate) fn start(opts: &ServerOptions) -> Result<Server, StartError> {
    let exe = pgbouncer_path()?;
    let (backend_host, backend_port, bin_dir) = match &opts.backend {
        Some((h, p)) => (h.clone(), *p, None),
        None => {
            let pg = crate::try_pg15()?;
            (
                pg.host().to_owned(),
                pg.port(),
                pg.bin_dir().map(|b| b.to_path_buf()),
            )
        }
    };
    let run_as = RunAs::get()?;
    let dir = sys::fresh_dir(ServerKind::PgBouncer.name())?;
    let sock = dir.join("sock");
    let log = dir.join("pgbouncer.log");
    let pid_file = dir.join("pgbouncer.pid");
    let watchdog = Watchdog::spawn(
        &dir,
        &[StopTarget {
            signal: "TERM",
            pid_file: pid_file.clone(),
        }],
    )?;
    let mut server = Server {
        kind: ServerKind::PgBouncer,
        port: 0,
        dir: dir.clone(),
        socket_dir: Some(sock.clone()),
        data_dir: None,
        log_path: log.clone(),
        bin_dir,
        database: Some(DATABASE.to_owned()),
        users: USERS
            .iter()
            .map(|(u, _, p)| ((*u).to_owned(), p.map(str::to_owned)))
            .collect(),
        startup_time: Duration::ZERO,
        child: None,
        watchdog: Some(watchdog),
    };
    sys::mkdir(&sock, 0o755)?;

    let mut userlist = String::new();
    let mut hba = String::new();
    for (user, method, pw) in USERS {
        let _ = writeln!(userlist, "\"{user}\" \"{}\"", pw.unwrap_or_default());
        let _ = writeln!(hba, "local  all  {user}  {method}");
        let _ = writeln!(hba, "host   all  {user}  127.0.0.1/32  {method}");
    }
    for line in &opts.hba {
        hba.push_str(line);
        hba.push('\n');
    }
    hba.push_str("local  all  all  reject\nhost   all  all  0.0.0.0/0  reject\n");
    let userlist_path = dir.join("userlist.txt");
    let hba_path = dir.join("pgbouncer_hba.conf");
    sys::write_file(&userlist_path, userlist)?;
    sys::set_mode(&userlist_path, 0o600)?;
    sys::write_file(&hba_path, hba)?;
    for (name, contents) in &opts.data_files {
        sys::write_file(&dir.join(name), contents)?;
        sys::set_mode(&dir.join(name), 0o600)?;
    }

    let port = sys::free_port()?;
    server.port = port;
    let mut ini = format!(
        "[databases]\n\
         {DATABASE} = host={backend_host} port={backend_port} dbname={DATABASE}\n\
         \n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir = {sock}\n\
         auth_type = hba\n\
         auth_hba_file = {hba}\n\
         auth_file = {users}\n\
         admin_users = {SUPERUSER}\n\
         pool_mode = transaction\n\
         max_client_conn = 100\n\
         default_pool_size = 5\n\
         ignore_startup_parameters = extra_float_digits,options,application_name\n\
         server_tls_sslmode = disable\n",
        sock = sock.display(),
        hba = hba_path.display(),
        users = userlist_path.display(),
    );
    for (name, value) in &opts.conf {
        let _ = writeln!(ini, "{name} = {value}");
    }
    let ini_path = dir.join("pgbouncer.ini");
    sys::write_file(&ini_path, ini)?;
    run_as.chown_tree(&dir)?;

    // Foreground (no -d), as a child; stderr is its log.
    let mut cmd = run_as.command(&exe);
    cmd.arg(&ini_path);
    let (stdout, stderr) = sys::log_stdio(&log)?;
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    let child = cmd
        .spawn()
        .map_err(|e| StartError::new(format!("starting {}: {e}", exe.display())))?;
    sys::write_pid(&pid_file, child.id())?;
    let child = server.child.insert(child);

    // Ready when a trust login goes all the way through to the backend.
    let ready =
        sys::wait_ready(
            "pgbouncer",
            child,
            Duration::from_secs(30),
            || match wire::startup_tcp_addr(crate::HOST, port, TRUST_USER, Some(DATABASE)) {
                Ok(StartupReply::Ready { .. }) => Ok(()),
                Ok(other) => Err(format!("{other:?}")),
                Err(e) => Err(e.to_string()),
            },
        );
    if let Err(e) = ready {
        return Err(sys::with_log(e, &dir, &[&log]));
    }
    Ok(server)
}
