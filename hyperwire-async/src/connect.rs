//! Opening a connection: the core plans (hosts, sslmode, target_session_attrs);
//! this file only connects sockets and runs the startup.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyperwire_proto::auth::{ScramKeyCache, DEFAULT_SCRAM_KEY_CACHE_CAPACITY};
use hyperwire_proto::config::plan::{self, EndpointTarget, SessionCheck};
use hyperwire_proto::config::{self, Config};
use hyperwire_proto::{Event, Protocol, Settings, TlsPlan};

use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::io::Io;
use crate::runtime::{self, Runtime};

/// Salted SCRAM passwords of earlier connections in this process (see
/// [`ScramKeyCache`]): password equivalents, in memory only, bounded.
static SCRAM_KEYS: std::sync::Mutex<ScramKeyCache> =
    std::sync::Mutex::new(ScramKeyCache::new(DEFAULT_SCRAM_KEY_CACHE_CAPACITY));

/// Remembers the key a connection used, for the next connect.
fn remember_scram_key(key: &str, proto: &Protocol) {
    if let (Some(salted), Ok(mut cache)) = (proto.scram_salted_password(), SCRAM_KEYS.lock()) {
        cache.put(key, salted);
    }
}

/// Where the cancel request for a session goes.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// The password from the password file (the rules are the core's; this reads the file).
fn pgpass_password(config: &Config, ep: &plan::Endpoint) -> Option<String> {
    let home = std::env::var("HOME").ok();
    let path = plan::passfile_path(config, home.as_deref())?;
    let mode = std::fs::metadata(&path).ok()?.permissions().mode();
    let contents = std::fs::read_to_string(&path).ok()?;
    match plan::password_from_file(config, ep, &path, mode, &contents) {
        Ok(found) => found,
        Err(warning) => {
            eprintln!("{warning}");
            None
        }
    }
}

async fn with_deadline<R: Runtime, T>(
    deadline: Option<Instant>,
    f: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match deadline {
        None => f.await,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            runtime::timeout::<R, _>(left, f)
                .await
                .ok_or_else(|| Error::Io(std::io::ErrorKind::TimedOut.into()))?
        }
    }
}

/// Connects to the first host that accepts and matches `target_session_attrs`.
pub(crate) async fn connect<R: Runtime>(config: &Config) -> Result<Connection<R>> {
    let default_dir = plan::DEFAULT_SOCKET_DIRS
        .into_iter()
        .find(|d| Path::new(&plan::default_socket_file(d, config)).exists());
    let attrs = config.get_target_session_attrs();
    let mut errors = Vec::new();
    let mut fallback = None;
    for ep in plan::endpoints(config, default_dir) {
        let deadline = config.get_connect_timeout().map(|t| Instant::now() + t);
        let attempt = with_deadline::<R, _>(deadline, connect_one(config, &ep)).await;
        let mut conn = match attempt {
            Ok(c) => c,
            Err(e) => {
                errors.push((ep.label, e));
                continue;
            }
        };
        let check = SessionCheck::start(attrs, &|n| conn.parameter(n).map(|v| v == "on"));
        let ok = match check {
            SessionCheck::Accept => true,
            SessionCheck::Ask(sql) => {
                let answer = conn
                    .simple_query(sql)
                    .await?
                    .first()
                    .and_then(|r| r.rows.first().cloned())
                    .and_then(|row| row.get::<String>(0).ok())
                    .is_some_and(|v| v == "on" || v == "t");
                SessionCheck::decide(attrs, answer)
            }
            _ => false,
        };
        if ok {
            return Ok(conn);
        }
        if attrs == config::TargetSessionAttrs::PreferStandby && fallback.is_none() {
            fallback = Some(conn);
        } else {
            errors.push((
                ep.label,
                Error::Config(format!(
                    "server does not match target_session_attrs={attrs}"
                )),
            ));
        }
    }
    if let Some(c) = fallback {
        return Ok(c);
    }
    match errors.len() {
        1 => Err(errors
            .pop()
            .map_or(Error::Config("no host".into()), |(_, e)| e)),
        _ => Err(Error::Connect(errors)),
    }
}

async fn connect_one<R: Runtime>(config: &Config, ep: &plan::Endpoint) -> Result<Connection<R>> {
    let plans = plan::tls_plans(config, ep.is_unix());
    let mut last = None;
    for (i, tls) in plans.iter().enumerate() {
        match attempt(config, ep, *tls).await {
            Ok(c) => return Ok(c),
            // sslmode=allow retries with TLS only after the server said no.
            Err(e @ Error::Protocol(hyperwire_proto::Error::Server(_))) if i + 1 < plans.len() => {
                last = Some(e)
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(Error::Config("no connection attempt".into())))
}

async fn attempt<R: Runtime>(
    config: &Config,
    ep: &plan::Endpoint,
    tls: TlsPlan,
) -> Result<Connection<R>> {
    let setup = match tls {
        TlsPlan::Disabled => None,
        _ => Some(hyperwire_tls::setup(config, &ep.host).map_err(|e| Error::Tls(e.0))?),
    };
    let mut version_override = None;
    loop {
        let (io, target) = match &ep.target {
            EndpointTarget::Unix { path } => (
                Io::new(R::connect_unix(Path::new(path)).await?),
                Target::Unix(path.into()),
            ),
            EndpointTarget::Tcp { address } => {
                let (s, peer) = R::connect_tcp(address, ep.port).await?;
                (Io::new(s), Target::Tcp(peer))
            }
            _ => return Err(Error::Config(format!("unsupported host {}", ep.label))),
        };
        let mut config = config.clone();
        if config.get_password().is_none() {
            if let Some(pw) = pgpass_password(&config, ep) {
                config.password(pw);
            }
        }
        let mut settings = Settings::from_config(&config, tls)?;
        // A reconnect skips PBKDF2 when the server sends the same salt.
        let scram_key = plan::scram_cache_key(&config, ep);
        if let Some(salted) = SCRAM_KEYS.lock().ok().and_then(|mut c| c.get(&scram_key)) {
            settings.scram_cache(salted);
        }
        if let Some(v) = version_override {
            settings.protocol_versions(v, v);
        }
        // Abandoned requests are cancelled first, so their rest is bounded in time.
        settings.drain_budget(1_000_000);
        let mut conn = Connection::new(io, Protocol::new(settings), target);
        let started = async {
            loop {
                if conn.proto.wants_tls_handshake() {
                    let setup = setup
                        .as_ref()
                        .ok_or_else(|| Error::Tls("no TLS settings".into()))?;
                    // The SSLRequest must be out before the handshake starts.
                    conn.flush().await?;
                    conn.upgrade_tls(setup).await?;
                }
                let done = conn
                    .drive(|ev| match ev {
                        Event::StartupComplete { .. } => Some(true),
                        Event::TlsAnswer { accepted: true } => Some(false),
                        _ => None,
                    })
                    .await?;
                if done {
                    return Ok::<(), Error>(());
                }
            }
        }
        .await;
        match started {
            Ok(()) => {
                remember_scram_key(&scram_key, &conn.proto);
                if conn.is_tls() {
                    conn.set_cancel_tls(setup.clone(), tls == TlsPlan::Direct);
                }
                return Ok(conn);
            }
            Err(e) => {
                // hyperd answers a 3.2 startup by closing the socket: retry once with 3.0.
                if version_override.is_none() {
                    if let Some(v) = conn.retry_with_protocol() {
                        version_override = Some(v);
                        continue;
                    }
                }
                return Err(e);
            }
        }
    }
}

/// How long a cancel may take.
pub(crate) const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);
