//! Process, user, port, directory and binary plumbing shared by the server starters.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::server::StartError;

/// The command that installs every server the harness knows.
pub(crate) const INSTALL_ALL: &str = "bash .ci/install-servers.sh";

/// The unprivileged OS user servers run as when the tests run as root.
const OS_USER: &str = "hyperwire";

/// Who server processes run as.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RunAs {
    /// `Some((uid, gid))` of the unprivileged user when we are root; `None` runs directly.
    ids: Option<(u32, u32)>,
}

impl RunAs {
    /// Detects root and, if so, creates the `hyperwire` user (once per process).
    pub(crate) fn get() -> Result<RunAs, StartError> {
        static RUN_AS: OnceLock<Result<RunAs, String>> = OnceLock::new();
        RUN_AS
            .get_or_init(|| {
                if effective_uid()? != 0 {
                    return Ok(RunAs { ids: None });
                }
                let ids = ensure_os_user()?;
                Ok(RunAs { ids: Some(ids) })
            })
            .clone()
            .map_err(StartError::new)
    }

    /// A `Command` for `program` that runs as the unprivileged user (or directly).
    pub(crate) fn command(&self, program: impl AsRef<OsStr>) -> Command {
        match self.ids {
            Some((uid, gid)) => {
                let mut cmd = Command::new("setpriv");
                cmd.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--clear-groups")
                    .arg("--")
                    .arg(program);
                cmd
            }
            None => Command::new(program),
        }
    }

    /// Gives `path` (recursively) to the unprivileged user, when there is one.
    pub(crate) fn chown_tree(&self, path: &Path) -> Result<(), StartError> {
        let Some((uid, gid)) = self.ids else {
            return Ok(());
        };
        chown_rec(path, uid, gid)
            .map_err(|e| StartError::new(format!("chown {} to {OS_USER}: {e}", path.display())))
    }

    /// Whether a file can be executed by the user servers run as (mode bits only).
    pub(crate) fn can_execute(&self, file: &Path) -> bool {
        if self.ids.is_none() {
            return is_executable(file);
        }
        // Not the owner and not in the group: every ancestor needs o+x, the file o+x.
        let Ok(real) = std::fs::canonicalize(file) else {
            return false;
        };
        let mut ok = std::fs::metadata(&real)
            .map(|m| m.permissions().mode() & 0o001 != 0)
            .unwrap_or(false);
        let mut dir = real.parent();
        while let (true, Some(d)) = (ok, dir) {
            ok = std::fs::metadata(d)
                .map(|m| m.permissions().mode() & 0o001 != 0)
                .unwrap_or(false);
            dir = d.parent();
        }
        ok
    }
}

fn chown_rec(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    if std::fs::symlink_metadata(path)?.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_rec(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// The effective uid, from `/proc/self/status` (no `unsafe`), else from `id -u`.
fn effective_uid() -> Result<u32, String> {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for line in status.lines() {
            if let Some(rest) = line.strip_prefix("Uid:") {
                // real, effective, saved, filesystem
                if let Some(euid) = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
                    return Ok(euid);
                }
            }
        }
    }
    let out = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("running `id -u`: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("parsing `id -u`: {e}"))
}

fn lookup_ids(user: &str) -> Option<(u32, u32)> {
    let get = |flag: &str| -> Option<u32> {
        let out = Command::new("id")
            .arg(flag)
            .arg(user)
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some((get("-u")?, get("-g")?))
}

/// Creates the unprivileged user if it is missing (idempotent, safe against a concurrent
/// test process doing the same).
fn ensure_os_user() -> Result<(u32, u32), String> {
    if let Some(ids) = lookup_ids(OS_USER) {
        return Ok(ids);
    }
    let out = Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            OS_USER,
        ])
        .output();
    // Another process may have won the race: look again before complaining.
    if let Some(ids) = lookup_ids(OS_USER) {
        return Ok(ids);
    }
    let detail = match out {
        Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
        Err(e) => e.to_string(),
    };
    Err(format!(
        "running as root, and could not create the unprivileged user `{OS_USER}` that \
         postgres/pgbouncer need (`useradd --system --no-create-home {OS_USER}`): {detail}"
    ))
}

pub(crate) fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A free TCP port on 127.0.0.1 (bound to port 0, then released).
pub(crate) fn free_port() -> Result<u16, StartError> {
    let l = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| StartError::new(format!("binding 127.0.0.1:0 to find a free port: {e}")))?;
    let port = l
        .local_addr()
        .map_err(|e| StartError::new(format!("local_addr: {e}")))?
        .port();
    Ok(port)
}

/// Creates `<tmp>/hyperwire-<tag>-<pid>-<n>` (fresh, mode 0755).
pub(crate) fn fresh_dir(tag: &str) -> Result<PathBuf, StartError> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let mut base = std::env::temp_dir();
    // Unix socket paths are limited to ~107 bytes: fall back to /tmp for long TMPDIRs.
    if base.as_os_str().len() > 60 {
        base = PathBuf::from("/tmp");
    }
    let pid = std::process::id();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("hyperwire-{tag}-{pid}-{n}"));
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                set_mode(&dir, 0o755)?;
                return Ok(dir);
            }
            // A leftover of an earlier process that had our pid: take the next number.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(StartError::new(format!("creating {}: {e}", dir.display())));
            }
        }
    }
}

pub(crate) fn mkdir(dir: &Path, mode: u32) -> Result<(), StartError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| StartError::new(format!("creating {}: {e}", dir.display())))?;
    set_mode(dir, mode)
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<(), StartError> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| StartError::new(format!("chmod {mode:o} {}: {e}", path.display())))
}

pub(crate) fn write_file(path: &Path, contents: impl AsRef<[u8]>) -> Result<(), StartError> {
    std::fs::write(path, contents)
        .map_err(|e| StartError::new(format!("writing {}: {e}", path.display())))
}

pub(crate) fn append_file(path: &Path, contents: &str) -> Result<(), StartError> {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| StartError::new(format!("opening {}: {e}", path.display())))?;
    f.write_all(contents.as_bytes())
        .map_err(|e| StartError::new(format!("writing {}: {e}", path.display())))
}

/// Runs a command to completion, no stdin, capturing output; an error names the command
/// and carries its output.
pub(crate) fn run(cmd: &mut Command, what: &str) -> Result<Output, StartError> {
    cmd.stdin(Stdio::null());
    let out = cmd
        .output()
        .map_err(|e| StartError::new(format!("{what}: could not run {:?}: {e}", cmd)))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(StartError::new(format!(
            "{what} failed ({}): {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            cmd,
            String::from_utf8_lossy(&out.stdout).trim_end(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        )))
    }
}

/// The last `n` lines of a text file (or a note that it cannot be read).
pub(crate) fn tail(path: &Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(n);
            lines.get(start..).unwrap_or_default().join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// Appends "log: PATH" and the log's tail to an error message. The log is first copied to
/// `<dir>.failed.log`, next to the server's directory, because the watchdog deletes the
/// directory when the server is stopped.
pub(crate) fn with_log(err: StartError, dir: &Path, logs: &[&Path]) -> StartError {
    let mut msg = err.to_string();
    for (i, log) in logs.iter().enumerate() {
        let kept = PathBuf::from(format!("{}.failed{}.log", dir.display(), i));
        let shown = match std::fs::copy(log, &kept) {
            Ok(_) => kept,
            Err(_) => log.to_path_buf(),
        };
        let _ = write!(
            msg,
            "\nlog: {} (copied from {})\n--- last 40 lines ---\n{}",
            shown.display(),
            log.display(),
            tail(log, 40)
        );
    }
    StartError::new(msg)
}

/// Runs `python3` to find an installed package's directory without importing it.
pub(crate) fn python_package_dir(module: &str) -> Result<PathBuf, String> {
    let python = std::env::var("HYPERWIRE_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let code = format!(
        "import importlib.util as u, sys\n\
         s = u.find_spec('{module}')\n\
         sys.exit(3) if s is None else print(list(s.submodule_search_locations)[0])"
    );
    let out = Command::new(&python)
        .arg("-c")
        .arg(code)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run `{python}`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{python}` cannot find the Python package `{module}`{}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default()
        ));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Makes a PostgreSQL install tree (`<tree>/bin`, `lib`, `share`) usable by the server's user.
/// A tree inside a directory that user cannot enter (e.g. pip's site-packages under `/root`)
/// is copied once to `<tmp>/hyperwire-bin-<tag>-<hash>/` and reused by later runs. The copy
/// keeps the wheel's layout: the package directory holding the tree and its sibling
/// `<package>.libs` (auditwheel's libraries, found through `RPATH=$ORIGIN/../../../…`).
pub(crate) fn usable_pg_tree(
    run_as: &RunAs,
    tree: &Path,
    tag: &str,
) -> Result<PathBuf, StartError> {
    let postgres = tree.join("bin").join("postgres");
    if run_as.can_execute(&postgres) {
        return Ok(tree.to_path_buf());
    }
    let (Some(package), Some(tree_name)) = (tree.parent(), tree.file_name()) else {
        return Err(StartError::new(format!(
            "{}: unexpected layout",
            tree.display()
        )));
    };
    let (Some(site), Some(package_name)) = (package.parent(), package.file_name()) else {
        return Err(StartError::new(format!(
            "{}: unexpected layout",
            package.display()
        )));
    };
    let mut libs_name = package_name.to_os_string();
    libs_name.push(".libs");
    let libs = site.join(&libs_name);

    let tmp = std::env::temp_dir();
    let cache = tmp.join(format!(
        "hyperwire-bin-{tag}-{:016x}",
        fnv1a(tree.as_os_str().as_encoded_bytes())
    ));
    let cached_tree = cache.join(package_name).join(tree_name);
    let stamp = |t: &Path| {
        std::fs::metadata(t.join("bin").join("postgres"))
            .map(|m| (m.len(), m.mtime()))
            .ok()
    };
    let want = stamp(tree);
    let usable = |t: &Path| {
        want.is_some() && stamp(t) == want && run_as.can_execute(&t.join("bin").join("postgres"))
    };
    if usable(&cached_tree) {
        return Ok(cached_tree);
    }
    static N: AtomicUsize = AtomicUsize::new(0);
    let unique = format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let staging = tmp.join(format!("hyperwire-bin-{tag}.staging-{unique}"));
    mkdir(&staging, 0o755)?;
    let copy = |from: &Path| {
        run(
            Command::new("cp").arg("-a").arg(from).arg(&staging),
            "copying the PostgreSQL binaries to a directory the unprivileged user can read",
        )
    };
    let copied = copy(package).and_then(|_| {
        if libs.is_dir() {
            copy(&libs).map(|_| ())
        } else {
            Ok(())
        }
    });
    if let Err(e) = copied {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    if cache.exists() {
        // Stale (or half-usable) copy: move it away first; a concurrent process may do
        // the same, so errors here are fine as long as the final rename works out.
        let old = tmp.join(format!("hyperwire-bin-{tag}.old-{unique}"));
        if std::fs::rename(&cache, &old).is_ok() {
            let _ = std::fs::remove_dir_all(&old);
        }
    }
    if std::fs::rename(&staging, &cache).is_err() {
        // Someone else installed the cache meanwhile.
        let _ = std::fs::remove_dir_all(&staging);
    }
    if usable(&cached_tree) {
        Ok(cached_tree)
    } else {
        Err(StartError::new(format!(
            "could not prepare a copy of {} that user {OS_USER} can run, in {}",
            tree.display(),
            cache.display()
        )))
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// How the watchdog stops one process it finds through a pid file.
pub(crate) struct StopTarget {
    /// Signal name for the polite stop (`QUIT` = PostgreSQL immediate shutdown, `TERM`).
    pub(crate) signal: &'static str,
    /// File whose first line is the pid (PostgreSQL's `postmaster.pid`, or ours).
    pub(crate) pid_file: PathBuf,
}

/// The `sh` script of the watchdog. Arguments: parent pid, directory, keep (0/1), then pairs
/// of signal and pid file. Its stdin is a pipe whose only writer is the test process: `read`
/// returns at EOF, i.e. as soon as the test process is gone (exit, panic, SIGKILL) or the
/// owning `Server` is dropped. Then each pid file's process gets its signal, then SIGKILL
/// (to its process group too) after 10 s; then the directory is removed.
const WATCHDOG_SH: &str = r#"
trap '' HUP INT PIPE
parent=$1; dir=$2; keep=$3; shift 3
read -r _ || true
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    # a zombie is dead for our purposes
    if [ -r "/proc/$1/stat" ]; then
        case "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null)" in Z*) return 1 ;; esac
    fi
    return 0
}
stop_pidfile() {
    sig=$1; file=$2
    [ -f "$file" ] || return 0
    pid=$(head -n 1 "$file" 2>/dev/null | tr -dc 0-9)
    [ -n "$pid" ] || return 0
    alive "$pid" || return 0
    kill -"$sig" "$pid" 2>/dev/null
    i=0
    while alive "$pid"; do
        i=$((i + 1))
        if [ "$i" -eq 100 ]; then kill -KILL -- "-$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null; fi
        [ "$i" -ge 200 ] && break
        sleep 0.1
    done
    # leftovers in its process group (e.g. postgres backends after a SIGKILL)
    kill -KILL -- "-$pid" 2>/dev/null
    return 0
}
stop_all() {
    while [ "$#" -ge 2 ]; do stop_pidfile "$1" "$2"; shift 2; done
}
stop_all "$@"
# A server that was still starting when the parent died may write its pid file late.
sleep 0.5
stop_all "$@"
if [ "$keep" != 1 ]; then rm -rf -- "$dir"; fi
exit 0
"#;

/// A running watchdog (see [`WATCHDOG_SH`]). Dropping `stdin` tells it to stop the server.
#[derive(Debug)]
pub(crate) struct Watchdog {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Watchdog {
    /// Starts the watchdog for `dir` before anything is started in it.
    pub(crate) fn spawn(dir: &Path, targets: &[StopTarget]) -> Result<Watchdog, StartError> {
        let keep = std::env::var_os("HYPERWIRE_KEEP_SERVERS").is_some_and(|v| v == "1");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(WATCHDOG_SH)
            .arg("hyperwire-watchdog")
            .arg(std::process::id().to_string())
            .arg(dir)
            .arg(if keep { "1" } else { "0" });
        for t in targets {
            cmd.arg(t.signal).arg(&t.pid_file);
        }
        // Its own process group: the test runner's Ctrl-C or group kill must not take the
        // watchdog with it. No inherited stdout/stderr: runners wait for those to close.
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir("/")
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| StartError::new(format!("starting the watchdog (sh): {e}")))?;
        let stdin = child.stdin.take();
        Ok(Watchdog { child, stdin })
    }

    /// Stops the server now and waits (bounded) until the watchdog is done, reaping
    /// `server` (a child of ours) as it exits so the watchdog does not wait on a zombie.
    pub(crate) fn stop_now(&mut self, mut server: Option<&mut Child>) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(s) = server.as_deref_mut() {
                let _ = s.try_wait();
            }
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => break,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        if let Some(s) = server {
            let _ = s.try_wait();
        }
    }
}

/// Writes `<pid>\n` to a pid file the watchdog reads.
pub(crate) fn write_pid(path: &Path, pid: u32) -> Result<(), StartError> {
    write_file(path, format!("{pid}\n"))
}

/// Opens (creates) a log file for a child's stdout/stderr.
pub(crate) fn log_stdio(path: &Path) -> Result<(Stdio, Stdio), StartError> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| StartError::new(format!("opening {}: {e}", path.display())))?;
    let g = f
        .try_clone()
        .map_err(|e| StartError::new(format!("dup {}: {e}", path.display())))?;
    Ok((Stdio::from(f), Stdio::from(g)))
}

/// Quotes a string for a PostgreSQL/PgBouncer config value or SQL literal: `'...'`.
pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Polls `probe` every 50 ms until it says ready, `child` exits, or `timeout` passes. The
/// probe returns `Ok(())` when ready, `Err(why)` when not (yet).
pub(crate) fn wait_ready(
    what: &str,
    child: &mut Child,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<(), String>,
) -> Result<(), StartError> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return Err(StartError::new(format!(
                    "{what} exited during startup ({status})"
                )));
            }
            Ok(None) => {}
            Err(e) => return Err(StartError::new(format!("{what}: waiting for it: {e}"))),
        }
        let why = match probe() {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if Instant::now() > deadline {
            return Err(StartError::new(format!(
                "{what} was not ready after {} s (last probe: {why})",
                timeout.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
