//! Opening a connection: the settings (conninfo, environment, password file), the
//! host list with `target_session_attrs`, and the startup loop.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Instant;

use hyperwire_proto::config::{self, Config, Host, SslMode, SslNegotiation, TargetSessionAttrs};
use hyperwire_proto::{Event, Protocol, Settings, TlsPlan};

use crate::conn::Conn;
use crate::error::{Error, Result};
use crate::stream::Stream;
use crate::tls::{self, TlsSetup};

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

/// The password file's path: `passfile`, else `PGPASSFILE` (already merged), else
/// `~/.pgpass`.
fn passfile(config: &Config) -> Option<PathBuf> {
    config
        .get_passfile()
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpass")))
}

/// The password from the password file, following libpq: a file readable by group
/// or others is ignored (with a warning on stderr, as libpq prints).
fn pgpass_password(config: &Config, host: &str, port: u16) -> Option<String> {
    let path = passfile(config)?;
    let meta = std::fs::metadata(&path).ok()?;
    if !config::pgpass_permissions_ok(meta.permissions().mode()) {
        eprintln!(
            "WARNING: password file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
            path.display()
        );
        return None;
    }
    let contents = std::fs::read_to_string(&path).ok()?;
    let user = config.get_user()?;
    let database = config.get_dbname().unwrap_or(user);
    config::lookup_password(&contents, host, port, database, user)
}

/// One candidate endpoint.
struct Endpoint {
    label: String,
    /// The host as the password file sees it.
    host: String,
    port: u16,
    target: EndpointKind,
}

enum EndpointKind {
    Tcp(String),
    Unix(PathBuf),
}

fn endpoints(config: &Config) -> Result<Vec<Endpoint>> {
    let ports = config.get_ports();
    let port_for = |i: usize| -> u16 {
        ports
            .get(i)
            .or_else(|| ports.first())
            .copied()
            .unwrap_or(config::DEFAULT_PORT)
    };
    let hosts: Vec<Host> = if config.get_hosts().is_empty() {
        // libpq's default: the unix socket directory, which on Debian is this one.
        let dir = ["/var/run/postgresql", "/tmp"].into_iter().find(|d| {
            Path::new(d)
                .join(format!(".s.PGSQL.{}", port_for(0)))
                .exists()
        });
        vec![match dir {
            Some(d) => Host::Unix(d.to_owned()),
            None => Host::Tcp("localhost".to_owned()),
        }]
    } else {
        config.get_hosts().to_vec()
    };
    let addrs = config.get_hostaddrs();
    Ok(hosts
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            let port = port_for(i);
            match h {
                Host::Unix(dir) => Endpoint {
                    label: format!("{dir}:{port}"),
                    host: dir.clone(),
                    port,
                    target: EndpointKind::Unix(Path::new(&dir).join(format!(".s.PGSQL.{port}"))),
                },
                Host::Tcp(name) => {
                    let addr = addrs
                        .get(i)
                        .map(|a| a.to_string())
                        .unwrap_or_else(|| name.clone());
                    Endpoint {
                        label: format!("{name}:{port}"),
                        host: name,
                        port,
                        target: EndpointKind::Tcp(addr),
                    }
                }
                _ => Endpoint {
                    label: "unsupported host".to_owned(),
                    host: String::new(),
                    port,
                    target: EndpointKind::Tcp(String::new()),
                },
            }
        })
        .collect())
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

/// The encryption attempts for one host, in order (libpq's sslmode).
fn tls_plans(config: &Config, unix: bool) -> Vec<TlsPlan> {
    let direct = config.get_sslnegotiation() == SslNegotiation::Direct;
    match (unix, config.get_sslmode()) {
        (true, _) | (_, SslMode::Disable) => vec![TlsPlan::Disabled],
        // allow: plaintext first; TLS only if the server refused that.
        (_, SslMode::Allow) => vec![TlsPlan::Disabled, TlsPlan::Require],
        (_, SslMode::Prefer) => vec![TlsPlan::Prefer],
        _ if direct => vec![TlsPlan::Direct],
        _ => vec![TlsPlan::Require],
    }
}

/// Connects to the first host that accepts and matches `target_session_attrs`.
pub(crate) fn connect(config: &Config) -> Result<Session> {
    let mut errors = Vec::new();
    let attrs = config.get_target_session_attrs();
    let mut standby_fallback = None;
    for ep in endpoints(config)? {
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
    let plans = tls_plans(config, matches!(ep.target, EndpointKind::Unix(_)));
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
            EndpointKind::Unix(path) => (
                Stream::Unix(UnixStream::connect(path)?),
                Target::Unix(path.clone()),
            ),
            EndpointKind::Tcp(addr) => open_tcp(addr, ep.port, deadline)?,
        };
        stream.set_nonblocking(true)?;
        let mut config = config.clone();
        if config.get_password().is_none() {
            if let Some(pw) = pgpass_password(&config, &ep.host, ep.port) {
                config.password(pw);
            }
        }
        let mut settings = Settings::from_config(&config, tls)?;
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

/// Whether the session matches `target_session_attrs`.
fn check_attrs(session: &mut Session, attrs: TargetSessionAttrs) -> Result<bool> {
    let proto = &session.conn.proto;
    let param = |n: &str| proto.parameter(n).map(|v| v == "on");
    let (hot_standby, default_ro) = (
        param("in_hot_standby"),
        param("default_transaction_read_only"),
    );
    let want_standby = |session: &mut Session| -> Result<bool> {
        match hot_standby {
            Some(v) => Ok(v),
            None => Ok(simple_bool(
                session,
                "SELECT pg_catalog.pg_is_in_recovery()",
            )?),
        }
    };
    Ok(match attrs {
        TargetSessionAttrs::Any => true,
        TargetSessionAttrs::ReadWrite | TargetSessionAttrs::ReadOnly => {
            let ro = match (hot_standby, default_ro) {
                (Some(h), Some(d)) => h || d,
                _ => simple_bool(session, "SHOW transaction_read_only")?,
            };
            (attrs == TargetSessionAttrs::ReadOnly) == ro
        }
        TargetSessionAttrs::Primary => !want_standby(session)?,
        TargetSessionAttrs::Standby | TargetSessionAttrs::PreferStandby => want_standby(session)?,
        _ => true,
    })
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
