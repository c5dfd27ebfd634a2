//! Opening a connection: the settings (conninfo, environment, password file), the
//! host list with `target_session_attrs`, and the startup loop.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Instant;

use hyperwire_proto::auth::{ScramKeyCache, DEFAULT_SCRAM_KEY_CACHE_CAPACITY};
use hyperwire_proto::config::plan::{self, Endpoint, EndpointTarget, SessionCheck};
use hyperwire_proto::config::{Config, TargetSessionAttrs};
use hyperwire_proto::{Event, Protocol, Settings, TlsPlan};

use crate::conn::Conn;
use crate::error::{Error, Result};
use crate::stream::Stream;
use crate::tls::{self, TlsSetup};

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

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp(a) => write!(f, "{a}"),
            Target::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Reads the libpq environment into `config` (only what it left unset).
pub(crate) fn apply_env(config: &mut Config) -> Result<()> {
    config
        .apply_env(&|k| std::env::var(k).ok())
        .map_err(|e| Error::Config(e.to_string()))
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

fn open_tcp(host: &str, port: u16, deadline: Option<Instant>) -> Result<(Stream, Target)> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    let mut last = None;
    for addr in addrs {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let result = match left {
            Some(t) if t.is_zero() => return Err(Error::Timeout),
            Some(t) => TcpStream::connect_timeout(&addr, t),
            None => TcpStream::connect(addr),
        };
        match result {
            Ok(s) => {
                s.set_nodelay(true)?;
                rustix::net::sockopt::set_socket_keepalive(&s, true)
                    .map_err(std::io::Error::from)?;
                return Ok((Stream::Tcp(s), Target::Tcp(addr)));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .map(Error::Io)
        .unwrap_or_else(|| Error::Config(format!("could not resolve host \"{host}\""))))
}

/// The connected session, ready for requests.
pub(crate) struct Session {
    pub(crate) conn: Conn,
    pub(crate) target: Target,
    /// How the cancel connection does TLS, when this one did.
    pub(crate) tls: Option<(TlsSetup, bool)>,
}

/// Connects to the first host that accepts and matches `target_session_attrs`.
pub(crate) fn connect(config: &Config) -> Result<Session> {
    let mut errors = Vec::new();
    let attrs = config.get_target_session_attrs();
    let mut standby_fallback = None;
    let default_dir = plan::DEFAULT_SOCKET_DIRS
        .into_iter()
        .find(|d| Path::new(&plan::default_socket_file(d, config)).exists());
    for ep in plan::endpoints(config, default_dir) {
        match connect_one(config, &ep) {
            Ok(mut session) => match check_attrs(&mut session, attrs) {
                Ok(true) => return Ok(session),
                Ok(false) if attrs == TargetSessionAttrs::PreferStandby => {
                    // A primary is fine if no standby turns up.
                    if standby_fallback.is_none() {
                        standby_fallback = Some(session);
                    }
                }
                Ok(false) => errors.push((
                    ep.label,
                    Error::Config(format!(
                        "server does not match target_session_attrs={attrs}"
                    )),
                )),
                Err(e) => errors.push((ep.label, e)),
            },
            Err(e) => errors.push((ep.label, e)),
        }
    }
    if let Some(s) = standby_fallback {
        return Ok(s);
    }
    match errors.len() {
        1 => Err(errors.pop().map_or(Error::Timeout, |(_, e)| e)),
        _ => Err(Error::Connect(errors)),
    }
}

fn connect_one(config: &Config, ep: &Endpoint) -> Result<Session> {
    let plans = plan::tls_plans(config, ep.is_unix());
    let mut last = None;
    for (i, plan) in plans.iter().enumerate() {
        match attempt(config, ep, *plan) {
            Ok(s) => return Ok(s),
            // sslmode=allow retries with TLS only after the server said no.
            Err(e @ Error::Protocol(hyperwire_proto::Error::Server(_))) if i + 1 < plans.len() => {
                last = Some(e)
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(Error::Timeout))
}

fn attempt(config: &Config, ep: &Endpoint, tls: TlsPlan) -> Result<Session> {
    let timeout = config.get_connect_timeout();
    let mut version_override = None;
    let tls_setup = match tls {
        TlsPlan::Disabled => None,
        _ => Some(tls::setup(config, &ep.host)?),
    };
    loop {
        let deadline = timeout.map(|t| Instant::now() + t);
        let (stream, target) = match &ep.target {
            EndpointTarget::Unix { path } => (
                Stream::Unix(UnixStream::connect(path)?),
                Target::Unix(PathBuf::from(path)),
            ),
            EndpointTarget::Tcp { address } => open_tcp(address, ep.port, deadline)?,
            _ => return Err(Error::Config(format!("unsupported host {}", ep.label))),
        };
        stream.set_nonblocking(true)?;
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
        let mut conn = Conn::new(stream, Protocol::new(settings));
        let started = (|| -> Result<()> {
            loop {
                if conn.proto.wants_tls_handshake() {
                    let setup = tls_setup
                        .as_ref()
                        .ok_or_else(|| Error::Tls("no TLS settings".into()))?;
                    // The SSLRequest must be out before the handshake starts.
                    conn.flush(deadline)?;
                    let end_point = conn.upgrade_tls(setup, deadline)?;
                    conn.proto.tls_established(end_point)?;
                }
                let step = conn.drive(deadline, |ev| {
                    Ok(match ev {
                        Event::StartupComplete { .. } => Some(true),
                        Event::TlsAnswer { accepted: true } => Some(false),
                        _ => None,
                    })
                })?;
                if step {
                    return Ok(());
                }
            }
        })();
        match started {
            Ok(()) => {
                remember_scram_key(&scram_key, &conn.proto);
                let tls = match (&conn.stream, tls_setup) {
                    (Stream::Tls(_), Some(setup)) => Some((setup, tls == TlsPlan::Direct)),
                    _ => None,
                };
                return Ok(Session { conn, target, tls });
            }
            Err(e) => {
                // hyperd answers a 3.2 startup by closing the socket: retry once with 3.0.
                if version_override.is_none() {
                    if let Some(v) = conn.proto.retry_with_protocol() {
                        version_override = Some(v);
                        continue;
                    }
                }
                return Err(e);
            }
        }
    }
}

/// Whether the session matches `target_session_attrs` (the core decides; we run
/// the query it asks for, if any).
fn check_attrs(session: &mut Session, attrs: TargetSessionAttrs) -> Result<bool> {
    let proto = &session.conn.proto;
    let check = SessionCheck::start(attrs, &|n| proto.parameter(n).map(|v| v == "on"));
    match check {
        SessionCheck::Accept => Ok(true),
        SessionCheck::Ask(sql) => Ok(SessionCheck::decide(attrs, simple_bool(session, sql)?)),
        _ => Ok(false),
    }
}

/// Runs a one-value simple query that answers on/off or t/f.
fn simple_bool(session: &mut Session, sql: &str) -> Result<bool> {
    session.conn.proto.query(sql)?;
    let mut value = None;
    let mut error = None;
    session.conn.drive(None, |ev| {
        match ev {
            Event::DataRow { row, .. } => {
                value = row.get(0).flatten().map(|v| v == b"on" || v == b"t");
            }
            Event::ServerError { error: e, .. } => {
                error = Some(hyperwire_proto::ServerError::from_fields(&e));
            }
            Event::Done { .. } => return Ok(Some(())),
            _ => {}
        }
        Ok(None)
    })?;
    if let Some(e) = error {
        return Err(Error::Server(Box::new(e)));
    }
    Ok(value.unwrap_or(false))
}
