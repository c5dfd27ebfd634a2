//! Starting hyperd (Tableau Hyper) from the `tableauhyperapi` wheel.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::server::{Server, ServerKind, ServerOptions, StartError};
use crate::sys::{self, StopTarget, Watchdog, INSTALL_ALL};
use crate::wire::{self, StartupReply};
use crate::HYPER_USER;

fn hyperd_path() -> Result<PathBuf, StartError> {
    let missing = |why: String| {
        StartError::new(format!(
            "hyperd is not installed: {why}.\nInstall it with `{INSTALL_ALL}` (or \
             `python3 -m pip install 'tableauhyperapi==0.0.26963'`), or point HYPERWIRE_HYPERD \
             at a hyperd binary."
        ))
    };
    let exe = match std::env::var_os("HYPERWIRE_HYPERD") {
        Some(p) => PathBuf::from(p),
        None => sys::python_package_dir("tableauhyperapi")
            .map_err(missing)?
            .join("bin/hyper/hyperd"),
    };
    if sys::is_executable(&exe) {
        Ok(exe)
    } else {
        Err(missing(format!("{} is missing", exe.display())))
    }
}

pub(crate) fn start(opts: &ServerOptions) -> Result<Server, StartError> {
    let exe = hyperd_path()?;
    let dir = sys::fresh_dir(ServerKind::Hyper.name())?;
    let log_dir = dir.join("log");
    let out = dir.join("hyperd.out");
    let pid_file = dir.join("hyperd.pid");
    let watchdog = Watchdog::spawn(
        &dir,
        &[StopTarget {
            signal: "TERM",
            pid_file: pid_file.clone(),
        }],
    )?;
    let mut server = Server {
        kind: ServerKind::Hyper,
        port: 0,
        dir: dir.clone(),
        socket_dir: None,
        data_dir: None,
        log_path: log_dir.join("hyperd.log"),
        bin_dir: None,
        database: None,
        users: vec![(HYPER_USER.to_owned(), opts.hyper_password.clone())],
        startup_time: Duration::ZERO,
        child: None,
        watchdog: Some(watchdog),
    };
    // hyperd does not create its log directory.
    sys::mkdir(&log_dir, 0o755)?;
    for (name, contents) in &opts.data_files {
        sys::write_file(&dir.join(name), contents)?;
        sys::set_mode(&dir.join(name), 0o600)?;
    }
    let port = sys::free_port()?;
    server.port = port;

    let mut cmd = Command::new(&exe);
    cmd.args(["run", "--skip-license"])
        .arg(format!("--init-user={HYPER_USER}"))
        .arg(format!("--listen-connection=tab.tcp://127.0.0.1:{port}"))
        .arg(format!("--log-dir={}", log_dir.display()));
    match &opts.hyper_password {
        Some(pw) => {
            cmd.env("HYPER_INITIAL_USER_PASSWORD", pw);
        }
        None => {
            cmd.arg("--no-password")
                .env_remove("HYPER_INITIAL_USER_PASSWORD");
        }
    }
    cmd.args(&opts.args);
    let (stdout, stderr) = sys::log_stdio(&out)?;
    // Its own process group, so the watchdog can kill whatever it spawns; files relative to
    // the cwd (databases, …) land in the server's directory.
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

    // Ready when it answers a StartupMessage: AuthenticationOk … ReadyForQuery (trust), or
    // the SASL request (SCRAM).
    let ready =
        sys::wait_ready(
            "hyperd",
            child,
            Duration::from_secs(60),
            || match wire::startup_tcp_addr(crate::HOST, port, HYPER_USER, None) {
                Ok(StartupReply::Ready { .. }) | Ok(StartupReply::Auth(10)) => Ok(()),
                Ok(other) => Err(format!("{other:?}")),
                Err(e) => Err(e.to_string()),
            },
        );
    if let Err(e) = ready {
        let log = server.log_path.clone();
        return Err(sys::with_log(e, &dir, &[&out, &log]));
    }
    Ok(server)
}
