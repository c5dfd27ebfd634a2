//! Opening a connection: the core's [`Connector`] decides every step; this file
//! opens sockets, runs TLS handshakes and moves bytes until it says "ready".

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyperwire_proto::auth::{ScramKeyCache, DEFAULT_SCRAM_KEY_CACHE_CAPACITY};
use hyperwire_proto::config::plan::{Endpoint, EndpointTarget};
use hyperwire_proto::config::Config;
use hyperwire_proto::engine::{
    AttemptError, CancelTlsMode, ConnectAction, ConnectError, Connector, Environment, ScramKeyStore,
};

use crate::clock;
use crate::conn::{self, Conn};
use crate::error::{Error, Result};
use crate::stream::Stream;
use crate::tls::{self, TlsSetup};

/// Salted SCRAM passwords of earlier connections in this process: password
/// equivalents, in memory only, bounded.
struct ProcessKeys(std::sync::Mutex<ScramKeyCache>);

impl ScramKeyStore for ProcessKeys {
    fn with(&self, f: &mut dyn FnMut(&mut ScramKeyCache)) {
        if let Ok(mut cache) = self.0.lock() {
            f(&mut cache);
        }
    }
}

static SCRAM_KEYS: ProcessKeys = ProcessKeys(std::sync::Mutex::new(ScramKeyCache::new(
    DEFAULT_SCRAM_KEY_CACHE_CAPACITY,
)));

/// Where the cancel request for a session goes.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// Reads the libpq environment into `config` (only what it left unset).
pub(crate) fn apply_env(config: &mut Config) -> Result<()> {
    config
        .apply_env(&|k| std::env::var(k).ok())
        .map_err(|e| Error::Config(e.to_string()))
}

/// The connected session, ready for requests.
pub(crate) struct Session {
    pub(crate) conn: Conn,
    pub(crate) target: Target,
    /// How the cancel connection does TLS, when this one did.
    pub(crate) tls: Option<(TlsSetup, CancelTlsMode)>,
}

/// What the connector reads from this machine: `HOME`, the password file, the
/// default socket directories, randomness; and the process's SCRAM keys.
pub(crate) fn prepare<E>(c: &mut Connector<E>) {
    let env = Environment {
        var: &|k| std::env::var(k).ok(),
        read_file: &|path| {
            let mode = std::fs::metadata(path).ok()?.permissions().mode();
            Some((mode, std::fs::read_to_string(path).ok()?))
        },
        exists: &|path| Path::new(path).exists(),
        random: random_seed(),
    };
    if let Some(warning) = c.read_environment(&env) {
        eprintln!("{warning}");
    }
    c.set_scram_keys(&SCRAM_KEYS);
}

/// A random number from the standard library's per-process hasher keys.
pub(crate) fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// Carries out the connector's actions until the session is ready.
pub(crate) fn connect(config: &Config) -> Result<Session> {
    let mut c = Connector::<Error>::new(config);
    prepare(&mut c);
    let mut socket: Option<(Stream, Target)> = None;
    let mut tls = None;
    loop {
        match c.poll_action() {
            ConnectAction::Open(ep) => match open(&ep, c.connect_timeout()) {
                Ok(s) => {
                    socket = Some(s);
                    c.opened(clock::now());
                }
                Err(e) => c.open_failed(e, clock::now()),
            },
            ConnectAction::StartTls { host, direct } => {
                let deadline = c.poll_timeout().map(clock::instant);
                let started = tls::setup(config, &host).and_then(|setup| {
                    let (stream, target) = socket.take().ok_or_else(not_open)?;
                    let (stream, end_point) = tls::start(stream, &setup, deadline)?;
                    socket = Some((stream, target));
                    let mode = if direct {
                        CancelTlsMode::Direct
                    } else {
                        CancelTlsMode::SslRequest
                    };
                    tls = Some((setup.for_cancel(), mode));
                    Ok(end_point)
                });
                match started {
                    Ok(end_point) => c.tls_established(end_point, clock::now()),
                    Err(e) => c.tls_failed(e, clock::now()),
                }
            }
            ConnectAction::Io => {
                let deadline = c.poll_timeout().map(clock::instant);
                let moved = match socket.as_mut() {
                    Some((stream, _)) => conn::pump(stream, &mut c, deadline),
                    None => Err(not_open()),
                };
                match moved {
                    Ok(()) => {}
                    Err(Error::Timeout) => c.handle_timeout(clock::now()),
                    Err(e) => c.io_failed(e, clock::now()),
                }
            }
            ConnectAction::Close => {
                socket = None;
                tls = None;
            }
            ConnectAction::Ready(connected) => {
                let (stream, target) = socket.ok_or_else(not_open)?;
                return Ok(Session {
                    conn: Conn {
                        stream,
                        session: hyperwire_proto::engine::Session::new(
                            connected.protocol,
                            random_seed(),
                        ),
                    },
                    target,
                    tls: tls.filter(|_| connected.tls.is_some()),
                });
            }
            ConnectAction::Failed(e) => return Err(connect_error(e)),
            _ => return Err(Error::Config("unsupported connection step".into())),
        }
    }
}

fn not_open() -> Error {
    Error::Io(std::io::ErrorKind::NotConnected.into())
}

/// One attempt's failure as this crate's error.
fn attempt_error(e: AttemptError<Error>) -> Error {
    match e {
        AttemptError::Io(e) => e,
        AttemptError::Protocol(e) => Error::Protocol(e),
        AttemptError::TimedOut => Error::Timeout,
        AttemptError::Check(e) => Error::Server(Box::new(e)),
        other => Error::Config(other.to_string()),
    }
}

/// The connector's failure: one attempt's error as it is, several as a list.
fn connect_error(e: ConnectError<Error>) -> Error {
    e.report(attempt_error).unwrap_or_else(Error::Connect)
}

/// Opens a non-blocking socket to `ep`, each TCP address within `timeout`.
fn open(ep: &Endpoint, timeout: Option<Duration>) -> Result<(Stream, Target)> {
    let (stream, target) = match &ep.target {
        EndpointTarget::Unix { path } => (
            Stream::Unix(UnixStream::connect(path)?),
            Target::Unix(PathBuf::from(path)),
        ),
        EndpointTarget::Tcp { address } => {
            let deadline = timeout.map(|t| Instant::now() + t);
            let addrs: Vec<SocketAddr> = (address.as_str(), ep.port).to_socket_addrs()?.collect();
            open_tcp(&addrs, deadline)
                .map(|(s, a)| (Stream::Tcp(s), Target::Tcp(a)))
                .map_err(|e| {
                    e.unwrap_or_else(|| {
                        Error::Config(format!("could not resolve host \"{address}\""))
                    })
                })?
        }
        _ => return Err(Error::Config(format!("unsupported host {}", ep.label))),
    };
    stream.set_nonblocking(true)?;
    Ok((stream, target))
}

/// The first address that accepts; `Err(None)` when there was none to try.
pub(crate) fn open_tcp(
    addrs: &[SocketAddr],
    deadline: Option<Instant>,
) -> std::result::Result<(TcpStream, SocketAddr), Option<Error>> {
    let mut last = None;
    for addr in addrs {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let result = match left {
            Some(t) if t.is_zero() => return Err(Some(Error::Timeout)),
            Some(t) => TcpStream::connect_timeout(addr, t),
            None => TcpStream::connect(addr),
        };
        match result {
            Ok(s) => {
                s.set_nodelay(true).map_err(|e| Some(e.into()))?;
                rustix::net::sockopt::set_socket_keepalive(&s, true)
                    .map_err(|e| Some(std::io::Error::from(e).into()))?;
                return Ok((s, *addr));
            }
            Err(e) => last = Some(Error::Io(e)),
        }
    }
    Err(last)
}
