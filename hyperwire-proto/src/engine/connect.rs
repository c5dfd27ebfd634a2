//! [`Connector`]: from a [`Config`] to a ready [`Protocol`], without I/O.
//!
//! The connector owns every decision of libpq's connection loop: the order of
//! hosts (and `load_balance_hosts=random`), the encryption attempts of each host
//! (`sslmode`, direct SSL), hyperd's retry with protocol 3.0, the password file,
//! `target_session_attrs` (with the queries libpq uses), and `connect_timeout` as
//! a deadline per attempt. The adapter carries out its [`ConnectAction`]s:
//!
//! ```text
//! let mut c = Connector::new(&config, now);
//! loop {
//!     match c.poll_action() {
//!         Open(endpoint)      => open a socket (by c.poll_timeout()); c.opened(now) or c.open_failed(e, now)
//!         StartTls { .. }     => handshake on that socket; c.tls_established(end_point, now) or c.tls_failed(e, now)
//!         Io                  => write c.pending_send(), read into c.recv_buf(), or c.handle_timeout(now)
//!         Close               => drop the socket
//!         Ready(connected)    => the session is ready: done
//!         Failed(error)       => every attempt failed: done
//!     }
//! }
//! ```
//!
//! `E` is the adapter's own error for what failed on its side (a socket that did
//! not open, a handshake that failed); the connector keeps it in the attempt it
//! ended and hands every attempt back in [`ConnectError`].

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use super::time::Timestamp;
use crate::auth::ScramKeyCache;
use crate::config::plan::{self, Endpoint, SessionCheck};
use crate::config::{Config, LoadBalanceHosts, TargetSessionAttrs};
use crate::machine::{Event, Protocol, RequestId, Settings, TlsPlan};
use crate::{Error, ProtocolVersion, ServerError};

/// Salted SCRAM passwords shared by the connections of a process, so a reconnect
/// to the same server skips PBKDF2: a [`ScramKeyCache`] behind the adapter's lock.
/// Entries are password equivalents and stay in memory only.
pub trait ScramKeyStore: Sync {
    /// Runs `f` on the cache, under the lock (a poisoned lock may skip it).
    fn with(&self, f: &mut dyn FnMut(&mut ScramKeyCache));
}

/// What the connector reads from the machine it runs on, as functions: the core
/// does no I/O, and decides what to read.
pub struct Environment<'a> {
    /// An environment variable (`HOME`).
    pub var: &'a dyn Fn(&str) -> Option<String>,
    /// A file's permission bits and contents (the password file).
    pub read_file: &'a dyn Fn(&str) -> Option<(u32, String)>,
    /// Whether a path exists (the default unix-socket directories).
    pub exists: &'a dyn Fn(&str) -> bool,
    /// Randomness, for `load_balance_hosts=random`.
    pub random: u64,
}

/// What the adapter must do next (see the [module docs](self)).
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectAction<E> {
    /// Open a connection to this endpoint (TCP: resolve and try each address;
    /// unix: the socket file). Report [`Connector::opened`] or
    /// [`Connector::open_failed`].
    Open(Endpoint),
    /// Run a TLS handshake on the open socket, verifying `host` as sslmode says
    /// (`direct`: TLS from the first byte, with ALPN `postgresql`). Report
    /// [`Connector::tls_established`] or [`Connector::tls_failed`].
    StartTls {
        /// The host name to verify and to send as SNI.
        host: String,
        /// Direct SSL (`sslnegotiation=direct`).
        direct: bool,
    },
    /// Move bytes: write [`Connector::pending_send`], read into
    /// [`Connector::recv_buf`], until something arrives or
    /// [`Connector::poll_timeout`] passes (then [`Connector::handle_timeout`]).
    Io,
    /// Close the socket: the next action opens another one (or ends).
    Close,
    /// The session is ready for requests.
    Ready(Box<Connected>),
    /// Every attempt failed.
    Failed(ConnectError<E>),
}

/// A session the connector brought up.
#[derive(Debug)]
#[non_exhaustive]
pub struct Connected {
    /// The machine, ready for requests.
    pub protocol: Protocol,
    /// The endpoint it is connected to.
    pub endpoint: Endpoint,
    /// Whether the session is encrypted, and whether TLS started at once
    /// (direct SSL): a cancel request must go the same way.
    pub tls: Option<CancelTlsMode>,
}

/// How a cancel request reaches a server whose session is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelTlsMode {
    /// SSLRequest first, then TLS.
    SslRequest,
    /// TLS from the first byte.
    Direct,
}

/// Why one attempt failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum AttemptError<E> {
    /// The adapter's side failed: the socket did not open, the TLS handshake
    /// failed, a read or write failed.
    Io(E),
    /// The protocol machine failed (the server's startup error, a refused
    /// authentication, a protocol violation, the server closed the connection).
    Protocol(Error),
    /// `connect_timeout` passed.
    TimedOut,
    /// The server does not match `target_session_attrs`.
    SessionAttrs(TargetSessionAttrs),
    /// The query that checks `target_session_attrs` failed.
    Check(ServerError),
}

impl<E: fmt::Display> fmt::Display for AttemptError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptError::Io(e) => write!(f, "{e}"),
            AttemptError::Protocol(e) => write!(f, "{e}"),
            AttemptError::TimedOut => f.write_str("connect_timeout expired"),
            AttemptError::SessionAttrs(a) => {
                write!(f, "server does not match target_session_attrs={a}")
            }
            AttemptError::Check(e) => write!(f, "checking target_session_attrs: {e}"),
        }
    }
}

/// One failed attempt: where, and why.
#[derive(Debug)]
#[non_exhaustive]
pub struct AttemptFailure<E> {
    /// The endpoint, as `host:port`.
    pub endpoint: String,
    /// Why it failed.
    pub error: AttemptError<E>,
}

/// Every attempt failed: each one, in order.
#[derive(Debug)]
#[non_exhaustive]
pub struct ConnectError<E> {
    /// The attempts, in the order they were made (at least one; none only when
    /// the connector is polled again after it ended).
    pub attempts: Vec<AttemptFailure<E>>,
}

impl<E: fmt::Display> fmt::Display for ConnectError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("could not connect")?;
        for a in &self.attempts {
            write!(f, "\n  {}: {}", a.endpoint, a.error)?;
        }
        Ok(())
    }
}

/// The drain budget of connected sessions: adapters cancel an abandoned request
/// before draining it, so its rest is bounded in time, not in messages (a
/// dropped stream of a large result must not desynchronize the connection).
pub const CANCEL_THEN_DRAIN_BUDGET: u64 = 1_000_000;

impl<E> ConnectError<E> {
    /// How to report the failure, each attempt's error mapped by `f`: `Ok` with
    /// the only attempt's own error (libpq reports a single host's error as it
    /// is), or `Err` with every attempt labelled by its endpoint.
    pub fn report<T>(self, mut f: impl FnMut(AttemptError<E>) -> T) -> Result<T, Vec<(String, T)>> {
        let mut attempts: Vec<(String, T)> = self
            .attempts
            .into_iter()
            .map(|a| (a.endpoint, f(a.error)))
            .collect();
        match attempts.len() {
            1 => attempts.pop().map(|(_, e)| e).ok_or(attempts),
            _ => Err(attempts),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for ConnectError<E> {}

/// The password file as the adapter read it.
struct PasswordFile {
    contents: String,
}

/// Where the connector stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Choose the next attempt (or end).
    Next,
    /// `Open` was asked for.
    Opening,
    /// The machine talks to the server (startup, TLS answer, authentication).
    Startup,
    /// `StartTls` was asked for.
    Handshaking,
    /// The `target_session_attrs` query runs.
    Checking(RequestId),
    /// `Close` is owed before the next attempt.
    Closing,
    /// Ready or Failed was returned.
    Done,
}

/// One endpoint's attempts: its encryption plans, in order, and the protocol
/// version override hyperd's retry asked for.
#[derive(Debug, Clone, Copy, Default)]
struct Attempt {
    endpoint: usize,
    plan: usize,
    version: Option<ProtocolVersion>,
}

/// The sans-IO connection loop (see the [module docs](self)).
pub struct Connector<E> {
    config: Config,
    endpoints: Vec<Endpoint>,
    /// The endpoint to try after the current one.
    next_endpoint: usize,
    attempt: Option<Attempt>,
    plans: Vec<TlsPlan>,
    /// `target_session_attrs` for this pass: prefer-standby makes a second
    /// pass accepting any server when no standby turned up (as libpq does).
    attrs: TargetSessionAttrs,
    second_pass: bool,
    stage: Stage,
    proto: Option<Protocol>,
    deadline: Option<Timestamp>,
    /// The check query's answer so far.
    answer: Option<bool>,
    check_error: Option<ServerError>,
    failures: Vec<AttemptFailure<E>>,
    password_file: Option<PasswordFile>,
    scram_keys: Option<&'static dyn ScramKeyStore>,
    drain_budget: Option<u64>,
    default_socket_dir: Option<String>,
    seed: u64,
    started: bool,
}

impl<E> fmt::Debug for Connector<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("endpoints", &self.endpoints)
            .field("attempt", &self.attempt)
            .field("stage", &self.stage)
            .field("attempts_failed", &self.failures.len())
            .finish_non_exhaustive()
    }
}

impl<E> Connector<E> {
    /// A connector for `config` (environment variables already merged). `now` is
    /// not used yet; deadlines start when each attempt opens.
    pub fn new(config: &Config) -> Connector<E> {
        Connector {
            config: config.clone(),
            endpoints: Vec::new(),
            next_endpoint: 0,
            attempt: None,
            plans: Vec::new(),
            attrs: config.get_target_session_attrs(),
            second_pass: false,
            stage: Stage::Next,
            proto: None,
            deadline: None,
            answer: None,
            check_error: None,
            failures: Vec::new(),
            password_file: None,
            scram_keys: None,
            drain_budget: Some(CANCEL_THEN_DRAIN_BUDGET),
            default_socket_dir: None,
            seed: 0,
            started: false,
        }
    }

    // ---- setup, before the first poll --------------------------------------------

    /// Reads what the connection needs from the machine: the default unix-socket
    /// directory (the first of [`plan::DEFAULT_SOCKET_DIRS`] holding the socket
    /// file), the password file (unless the settings have a password), the
    /// randomness. A password file that group or others can read is ignored, as
    /// libpq does: `Some` holds the warning to show.
    pub fn read_environment(&mut self, env: &Environment<'_>) -> Option<String> {
        self.default_socket_dir = plan::DEFAULT_SOCKET_DIRS
            .into_iter()
            .find(|d| (env.exists)(&plan::default_socket_file(d, &self.config)))
            .map(String::from);
        self.seed = env.random;
        if self.config.get_password().is_some() {
            return None;
        }
        let path = plan::passfile_path(&self.config, (env.var)("HOME").as_deref())?;
        let (mode, contents) = (env.read_file)(&path)?;
        self.set_password_file(&path, mode, contents).err()
    }

    /// The password file's permission bits and contents (see
    /// [`Connector::read_environment`]).
    pub fn set_password_file(
        &mut self,
        path: &str,
        mode: u32,
        contents: String,
    ) -> Result<(), String> {
        if !crate::config::pgpass_permissions_ok(mode) {
            return Err(alloc::format!(
                "WARNING: password file \"{path}\" has group or world access; permissions should be u=rw (0600) or less"
            ));
        }
        self.password_file = Some(PasswordFile { contents });
        Ok(())
    }

    /// Where salted SCRAM passwords are shared between connections.
    pub fn set_scram_keys(&mut self, store: &'static dyn ScramKeyStore) {
        self.scram_keys = Some(store);
    }

    /// How many messages an abandoned request may still produce (see
    /// [`Settings::drain_budget`]; [`CANCEL_THEN_DRAIN_BUDGET`] by default).
    pub fn set_drain_budget(&mut self, messages: u64) {
        self.drain_budget = Some(messages);
    }

    // ---- the loop ------------------------------------------------------------------

    /// What the adapter must do next.
    #[must_use]
    pub fn poll_action(&mut self) -> ConnectAction<E> {
        if !self.started {
            self.started = true;
            self.endpoints = plan::endpoints(&self.config, self.default_socket_dir.as_deref());
            if self.config.get_load_balance_hosts() == LoadBalanceHosts::Random {
                shuffle(&mut self.endpoints, self.seed);
            }
        }
        loop {
            match self.stage {
                Stage::Next => {
                    if let Some(action) = self.next_attempt() {
                        return action;
                    }
                }
                Stage::Opening | Stage::Handshaking => return ConnectAction::Io,
                Stage::Closing => {
                    self.stage = Stage::Next;
                    return ConnectAction::Close;
                }
                Stage::Startup => {
                    if let Some(action) = self.poll_startup() {
                        return action;
                    }
                }
                Stage::Checking(id) => {
                    if let Some(action) = self.poll_check(id) {
                        return action;
                    }
                }
                Stage::Done => {
                    return ConnectAction::Failed(ConnectError {
                        attempts: Vec::new(),
                    })
                }
            }
        }
    }

    /// The socket of [`ConnectAction::Open`] is open.
    pub fn opened(&mut self, now: Timestamp) {
        if self.stage != Stage::Opening {
            return;
        }
        self.deadline = self
            .config
            .get_connect_timeout()
            .map(|t| now.saturating_add(t));
        self.stage = Stage::Startup;
    }

    /// The socket of [`ConnectAction::Open`] did not open (this endpoint fails).
    pub fn open_failed(&mut self, error: E, _now: Timestamp) {
        if self.stage == Stage::Opening {
            self.proto = None;
            self.fail_endpoint(AttemptError::Io(error));
            // Nothing is open: no Close is owed.
            self.stage = Stage::Next;
        }
    }

    /// The TLS handshake of [`ConnectAction::StartTls`] finished; `server_end_point`
    /// is the channel-binding data (see [`Protocol::tls_established`]).
    pub fn tls_established(&mut self, server_end_point: Option<Vec<u8>>, _now: Timestamp) {
        if self.stage != Stage::Handshaking {
            return;
        }
        self.stage = Stage::Startup;
        if let Some(p) = self.proto.as_mut() {
            // A refusal is reported by the machine as its Fatal event.
            let _ = p.tls_established(server_end_point);
        }
    }

    /// The TLS handshake failed (a certificate that does not verify, ...).
    pub fn tls_failed(&mut self, error: E, _now: Timestamp) {
        if self.stage == Stage::Handshaking {
            self.fail_endpoint(AttemptError::Io(error));
        }
    }

    /// A read or write on the socket failed (other than the peer closing it:
    /// that is [`Connector::recv_eof`]).
    pub fn io_failed(&mut self, error: E, _now: Timestamp) {
        if matches!(self.stage, Stage::Startup | Stage::Checking(_)) {
            if self.retry_with_older_protocol() {
                return;
            }
            self.fail_endpoint(AttemptError::Io(error));
        }
    }

    /// The deadline the adapter must wake up for, if any.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match self.stage {
            Stage::Opening | Stage::Startup | Stage::Handshaking | Stage::Checking(_) => {
                self.deadline
            }
            _ => None,
        }
    }

    /// The time is `now`: an attempt past its deadline fails (libpq moves on to
    /// the next host).
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.poll_timeout().is_some_and(|d| now >= d) {
            self.proto = None;
            self.fail_endpoint(AttemptError::TimedOut);
        }
    }

    /// The time an attempt may take before it fails, when `connect_timeout` set
    /// one (for an adapter whose connect call takes a timeout).
    pub fn connect_timeout(&self) -> Option<Duration> {
        self.config.get_connect_timeout()
    }

    // ---- bytes, for ConnectAction::Io ---------------------------------------------

    /// Bytes to write.
    pub fn pending_send(&self) -> &[u8] {
        self.proto.as_ref().map_or(&[], |p| p.pending_send())
    }

    /// `n` bytes of [`Connector::pending_send`] were written.
    pub fn advance_send(&mut self, n: usize) {
        if let Some(p) = self.proto.as_mut() {
            p.advance_send(n);
        }
    }

    /// Space to read into.
    pub fn recv_buf(&mut self, min_len: usize) -> &mut [u8] {
        match self.proto.as_mut() {
            Some(p) => p.recv_buf(min_len),
            None => &mut [],
        }
    }

    /// `n` bytes were read into [`Connector::recv_buf`].
    pub fn recv_commit(&mut self, n: usize) {
        if let Some(p) = self.proto.as_mut() {
            p.recv_commit(n);
        }
    }

    /// The server closed the connection.
    pub fn recv_eof(&mut self) {
        if let Some(p) = self.proto.as_mut() {
            p.recv_eof();
        }
    }

    // ---- the decisions -------------------------------------------------------------

    /// Starts the next attempt: the current endpoint's next encryption plan, or
    /// the next endpoint, or the end.
    fn next_attempt(&mut self) -> Option<ConnectAction<E>> {
        let attempt = match self.attempt {
            Some(a) => a,
            None => {
                let Some(index) = self.next_endpoint_index() else {
                    self.stage = Stage::Done;
                    return Some(self.finish_failed());
                };
                let ep = self.endpoints.get(index)?;
                self.plans = plan::tls_plans(&self.config, ep.is_unix());
                let a = Attempt {
                    endpoint: index,
                    plan: 0,
                    version: None,
                };
                self.attempt = Some(a);
                a
            }
        };
        let endpoint = self.endpoints.get(attempt.endpoint)?.clone();
        let tls = *self.plans.get(attempt.plan)?;
        match self.settings_for(&endpoint, tls, attempt.version) {
            Ok(settings) => {
                self.proto = Some(Protocol::new(settings));
                self.answer = None;
                self.check_error = None;
                self.deadline = None;
                self.stage = Stage::Opening;
                Some(ConnectAction::Open(endpoint))
            }
            Err(e) => {
                // Settings that cannot work fail every endpoint alike.
                self.failures.push(AttemptFailure {
                    endpoint: endpoint.label,
                    error: AttemptError::Protocol(e),
                });
                self.stage = Stage::Done;
                Some(self.finish_failed())
            }
        }
    }

    /// The next endpoint of this pass, starting prefer-standby's second pass when
    /// the first ran out.
    fn next_endpoint_index(&mut self) -> Option<usize> {
        if self.next_endpoint >= self.endpoints.len() {
            let rejected_for_role = self
                .failures
                .iter()
                .any(|f| matches!(f.error, AttemptError::SessionAttrs(_)));
            if self.attrs == TargetSessionAttrs::PreferStandby
                && !self.second_pass
                && rejected_for_role
            {
                self.second_pass = true;
                self.attrs = TargetSessionAttrs::Any;
                self.next_endpoint = 0;
            } else {
                return None;
            }
        }
        let i = self.next_endpoint;
        self.next_endpoint += 1;
        Some(i)
    }

    fn settings_for(
        &self,
        endpoint: &Endpoint,
        tls: TlsPlan,
        version: Option<ProtocolVersion>,
    ) -> Result<Settings, Error> {
        let mut settings = Settings::from_config(&self.config, tls)?;
        if self.config.get_password().is_none() {
            if let Some(pw) = self.password_from_file(endpoint) {
                settings.password(pw);
            }
        }
        if let Some(store) = self.scram_keys {
            let key = self.scram_key(endpoint);
            let mut salted = None;
            store.with(&mut |cache| salted = cache.get(&key));
            if let Some(salted) = salted {
                settings.scram_cache(salted);
            }
        }
        if let Some(v) = version {
            settings.protocol_versions(v, v);
        }
        if let Some(n) = self.drain_budget {
            settings.drain_budget(n);
        }
        Ok(settings)
    }

    fn password_from_file(&self, endpoint: &Endpoint) -> Option<String> {
        let file = self.password_file.as_ref()?;
        let user = self.config.get_user()?;
        let database = self.config.get_dbname().unwrap_or(user);
        crate::config::lookup_password(
            &file.contents,
            &endpoint.host,
            endpoint.port,
            database,
            user,
        )
    }

    fn scram_key(&self, endpoint: &Endpoint) -> String {
        plan::scram_cache_key(&self.config, endpoint)
    }

    /// Startup: wait for the machine to finish, start TLS when it asks.
    fn poll_startup(&mut self) -> Option<ConnectAction<E>> {
        let proto = self.proto.as_mut()?;
        let mut outcome = None;
        while let Some(ev) = proto.poll_event() {
            match ev {
                Event::StartupComplete { .. } => {
                    outcome = Some(Ok(()));
                    break;
                }
                Event::Fatal(e) => {
                    outcome = Some(Err(e));
                    break;
                }
                _ => {}
            }
        }
        match outcome {
            None if proto.wants_tls_handshake() => {
                let ep = self.endpoints.get(self.attempt?.endpoint)?;
                self.stage = Stage::Handshaking;
                Some(ConnectAction::StartTls {
                    host: ep.host.clone(),
                    direct: proto.settings_tls() == TlsPlan::Direct,
                })
            }
            None => Some(ConnectAction::Io),
            Some(Ok(())) => self.check_session(),
            Some(Err(e)) => {
                if self.retry_with_older_protocol() {
                    return None;
                }
                // sslmode=allow tries TLS only after the server refused plaintext.
                let refused = matches!(e, Error::Server(_));
                let attempt = self.attempt?;
                if refused && attempt.plan + 1 < self.plans.len() {
                    self.record(AttemptError::Protocol(e));
                    self.attempt = Some(Attempt {
                        plan: attempt.plan + 1,
                        version: None,
                        ..attempt
                    });
                    self.proto = None;
                    self.stage = Stage::Closing;
                    return None;
                }
                self.fail_endpoint(AttemptError::Protocol(e));
                None
            }
        }
    }

    /// hyperd answers a 3.2 startup by closing the socket: retry once with 3.0.
    fn retry_with_older_protocol(&mut self) -> bool {
        let Some(attempt) = self.attempt else {
            return false;
        };
        if attempt.version.is_some() {
            return false;
        }
        let Some(v) = self.proto.as_ref().and_then(|p| p.retry_with_protocol()) else {
            return false;
        };
        self.attempt = Some(Attempt {
            version: Some(v),
            ..attempt
        });
        self.proto = None;
        self.stage = Stage::Closing;
        true
    }

    /// The session is up: does it match `target_session_attrs`?
    fn check_session(&mut self) -> Option<ConnectAction<E>> {
        let proto = self.proto.as_mut()?;
        let check = SessionCheck::start(self.attrs, &|n| proto.parameter(n).map(|v| v == "on"));
        match check {
            SessionCheck::Accept => self.ready(),
            SessionCheck::Ask(sql) => match proto.query(sql) {
                Ok(id) => {
                    self.stage = Stage::Checking(id);
                    None
                }
                Err(e) => {
                    self.fail_endpoint(AttemptError::Protocol(e));
                    None
                }
            },
            _ => {
                self.fail_endpoint(AttemptError::SessionAttrs(self.attrs));
                None
            }
        }
    }

    /// The check query's events.
    fn poll_check(&mut self, id: RequestId) -> Option<ConnectAction<E>> {
        let proto = self.proto.as_mut()?;
        let mut finished = false;
        let mut fatal = None;
        while let Some(ev) = proto.poll_event() {
            match ev {
                Event::DataRow { request, row, .. } if request == id => {
                    self.answer = Some(matches!(row.get(0), Some(Some(b"on" | b"t"))));
                }
                Event::ServerError { request, error } if request == id => {
                    self.check_error = Some(ServerError::from_fields(&error));
                }
                Event::Done { request, .. } if request == id => {
                    finished = true;
                    break;
                }
                Event::Fatal(e) => {
                    fatal = Some(e);
                    break;
                }
                _ => {}
            }
        }
        if let Some(e) = fatal {
            self.fail_endpoint(AttemptError::Protocol(e));
            return None;
        }
        if !finished {
            return Some(ConnectAction::Io);
        }
        if let Some(e) = self.check_error.take() {
            self.fail_endpoint(AttemptError::Check(e));
            return None;
        }
        let answer = self.answer.unwrap_or(false);
        if SessionCheck::decide(self.attrs, answer) {
            self.ready()
        } else {
            self.fail_endpoint(AttemptError::SessionAttrs(self.attrs));
            None
        }
    }

    fn ready(&mut self) -> Option<ConnectAction<E>> {
        let attempt = self.attempt?;
        let endpoint = self.endpoints.get(attempt.endpoint)?.clone();
        let protocol = self.proto.take()?;
        if let (Some(store), Some(salted)) = (self.scram_keys, protocol.scram_salted_password()) {
            let key = self.scram_key(&endpoint);
            store.with(&mut |cache| cache.put(&key, salted));
        }
        let tls = match (protocol.is_encrypted(), protocol.settings_tls()) {
            (false, _) => None,
            (true, TlsPlan::Direct) => Some(CancelTlsMode::Direct),
            (true, _) => Some(CancelTlsMode::SslRequest),
        };
        self.stage = Stage::Done;
        Some(ConnectAction::Ready(Box::new(Connected {
            protocol,
            endpoint,
            tls,
        })))
    }

    /// Records why an attempt failed.
    fn record(&mut self, error: AttemptError<E>) {
        let endpoint = self
            .attempt
            .and_then(|a| self.endpoints.get(a.endpoint))
            .map(|e| e.label.clone())
            .unwrap_or_default();
        self.failures.push(AttemptFailure { endpoint, error });
    }

    /// This endpoint is done with: record why, close, move on.
    fn fail_endpoint(&mut self, error: AttemptError<E>) {
        self.record(error);
        self.attempt = None;
        self.proto = None;
        self.deadline = None;
        self.stage = Stage::Closing;
    }

    fn finish_failed(&mut self) -> ConnectAction<E> {
        ConnectAction::Failed(ConnectError {
            attempts: core::mem::take(&mut self.failures),
        })
    }
}

/// Fisher–Yates with splitmix64: the order `load_balance_hosts=random` tries.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}
