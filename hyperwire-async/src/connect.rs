//! Opening a connection: the core's [`Connector`] decides every step; this file
//! opens sockets, runs TLS handshakes and moves bytes until it says "ready".

use std::future::poll_fn;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hyperwire_proto::auth::{ScramKeyCache, DEFAULT_SCRAM_KEY_CACHE_CAPACITY};
use hyperwire_proto::config::plan::{Endpoint, EndpointTarget};
use hyperwire_proto::config::Config;
use hyperwire_proto::engine::{
    AttemptError, CancelTlsMode, ConnectAction, ConnectError, Connector, Environment,
    ScramKeyStore, Timestamp,
};

use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::io::{self, Io};
use crate::runtime::{self, Runtime, Socket};

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

static ORIGIN: OnceLock<Instant> = OnceLock::new();

/// Now, for the core (which reads no clock).
pub(crate) fn now() -> Timestamp {
    Timestamp::from_since_origin(ORIGIN.get_or_init(Instant::now).elapsed())
}

/// How long until the core's deadline `t`.
pub(crate) fn until(t: Timestamp) -> Duration {
    t.saturating_duration_since(now())
}

/// Where the cancel request for a session goes.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// A random number from the standard library's per-process hasher keys.
pub(crate) fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// Carries out the connector's actions until the session is ready.
pub(crate) async fn connect<R: Runtime>(config: &Config) -> Result<Connection<R>> {
    let mut c = Connector::<Error>::new(config);
    let warning = c.read_environment(&Environment {
        var: &|k| std::env::var(k).ok(),
        read_file: &|path| {
            let mode = std::fs::metadata(path).ok()?.permissions().mode();
            Some((mode, std::fs::read_to_string(path).ok()?))
        },
        exists: &|path| Path::new(path).exists(),
        random: random_seed(),
    });
    if let Some(warning) = warning {
        eprintln!("{warning}");
    }
    c.set_scram_keys(&SCRAM_KEYS);

    let mut socket: Option<(Io<R::Socket>, Target)> = None;
    let mut tls = None;
    loop {
        match c.poll_action() {
            ConnectAction::Open(ep) => {
                let opened = match c.connect_timeout() {
                    Some(t) => runtime::timeout::<R, _>(t, open::<R>(&ep))
                        .await
                        .unwrap_or_else(|| Err(timed_out())),
                    None => open::<R>(&ep).await,
                };
                match opened {
                    Ok((s, target)) => {
                        socket = Some((Io::new(s), target));
                        c.opened(now());
                    }
                    Err(e) => c.open_failed(e, now()),
                }
            }
            ConnectAction::StartTls { host, direct } => {
                let limit = c.poll_timeout().map(until);
                let started = start_tls::<R>(config, &host, socket.as_mut(), limit).await;
                match started {
                    Ok((setup, end_point)) => {
                        let mode = if direct {
                            CancelTlsMode::Direct
                        } else {
                            CancelTlsMode::SslRequest
                        };
                        tls = Some((setup.for_cancel(), mode));
                        c.tls_established(end_point, now());
                    }
                    Err(e) => c.tls_failed(e, now()),
                }
            }
            ConnectAction::Io => {
                let Some((sock, _)) = socket.as_mut() else {
                    c.io_failed(not_open(), now());
                    continue;
                };
                let limit = c.poll_timeout().map(until);
                let pump = poll_fn(|cx| io::poll_pump(sock, &mut c, cx));
                let moved = match limit {
                    Some(limit) => runtime::timeout::<R, _>(limit, pump).await,
                    None => Some(pump.await),
                };
                match moved {
                    Some(Ok(())) => {}
                    Some(Err(e)) => c.io_failed(e.into(), now()),
                    None => c.handle_timeout(now()),
                }
            }
            ConnectAction::Close => {
                socket = None;
                tls = None;
            }
            ConnectAction::Ready(connected) => {
                let (sock, target) = socket.ok_or_else(not_open)?;
                let mut conn = Connection::new(sock, connected.protocol, target);
                conn.set_cancel_tls(tls.filter(|_| connected.tls.is_some()));
                return Ok(conn);
            }
            ConnectAction::Failed(e) => return Err(connect_error(e)),
            _ => return Err(Error::Config("unsupported connection step".into())),
        }
    }
}

fn timed_out() -> Error {
    Error::Io(std::io::ErrorKind::TimedOut.into())
}

fn not_open() -> Error {
    Error::Io(std::io::ErrorKind::NotConnected.into())
}

async fn open<R: Runtime>(ep: &Endpoint) -> Result<(R::Socket, Target)> {
    match &ep.target {
        EndpointTarget::Unix { path } => Ok((
            R::connect_unix(Path::new(path)).await?,
            Target::Unix(path.into()),
        )),
        EndpointTarget::Tcp { address } => {
            let (s, peer) = R::connect_tcp(address, ep.port).await?;
            Ok((s, Target::Tcp(peer)))
        }
        _ => Err(Error::Config(format!("unsupported host {}", ep.label))),
    }
}

/// Runs the handshake on the open socket; the setup (for the cancel connection)
/// and the channel-binding data.
async fn start_tls<R: Runtime>(
    config: &Config,
    host: &str,
    socket: Option<&mut (Io<R::Socket>, Target)>,
    limit: Option<Duration>,
) -> Result<(hyperwire_tls::TlsSetup, Option<Vec<u8>>)> {
    let setup = hyperwire_tls::setup(config, host).map_err(|e| Error::Tls(e.0))?;
    let (io, _) = socket.ok_or_else(not_open)?;
    let tcp = io.take().filter(|s| s.is_tcp()).ok_or_else(not_open)?;
    let handshake = R::start_tls(tcp, &setup);
    let tls = match limit {
        Some(t) => runtime::timeout::<R, _>(t, handshake)
            .await
            .ok_or_else(timed_out)?,
        None => handshake.await,
    }
    .map_err(Error::Tls)?;
    let end_point = tls.tls().and_then(hyperwire_tls::server_end_point);
    io.put(tls);
    Ok((setup, end_point))
}

/// One attempt's failure as this crate's error.
fn attempt_error(e: AttemptError<Error>) -> Error {
    match e {
        AttemptError::Io(e) => e,
        AttemptError::Protocol(e) => Error::Protocol(e),
        AttemptError::TimedOut => timed_out(),
        AttemptError::Check(e) => Error::Server(Box::new(e)),
        other => Error::Config(other.to_string()),
    }
}

/// The connector's failure: one attempt's error as it is, several as a list.
fn connect_error(e: ConnectError<Error>) -> Error {
    e.report(attempt_error).unwrap_or_else(Error::Connect)
}
