//! The blocking [`Client`].

use std::time::{Duration, Instant};

use hyperwire_proto::config::Config;
use hyperwire_proto::engine::policy::{CLOSE_FLUSH_LIMIT, DRAIN_GRACE};
use hyperwire_proto::engine::{
    execute_prepared, AbandonPolicy, PrepareReader, PreparedStatement, QueryReader, ReadStep,
    Reader,
};
use hyperwire_proto::statement_cache::{self, StatementCache, StatementPolicy};
use hyperwire_proto::value::ToSql;
use hyperwire_proto::{Event, RequestId, ServerError, TransactionStatus};

use crate::cancel::CancelToken;
use crate::conn::Conn;
use crate::connect::{self, Target};
use crate::error::{Error, Result};
use crate::rows::RowIter;
use hyperwire_proto::inbox::{NoticeHandler, Notification};
use hyperwire_proto::result::{Collector, QueryResult, Row};
use hyperwire_proto::value::EncodedParams;

/// What to do when a request outlives [`Client::set_request_timeout`] (the
/// core's one policy for abandoned requests).
pub type TimeoutPolicy = AbandonPolicy;

/// A prepared statement (the core's).
pub type Statement = PreparedStatement;

/// A blocking connection to PostgreSQL or Hyper.
///
/// Every method sends its request and reads until the request's end. A server error
/// comes back as [`Error::Server`] and leaves the connection usable; anything that
/// makes the connection unusable comes back as [`Error::Protocol`] or
/// [`Error::Io`], and [`Client::is_healthy`] turns false.
pub struct Client {
    pub(crate) conn: Conn,
    cache: StatementCache,
    target: Target,
    tls: Option<(crate::tls::TlsSetup, hyperwire_proto::engine::CancelTlsMode)>,
    request_timeout: Option<Duration>,
    timeout_policy: TimeoutPolicy,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("target", &self.target)
            .field("protocol", &self.conn.proto)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects with a conninfo string (`host=... user=...`) or URL
    /// (`postgresql://...`), completed by the libpq environment variables (PGHOST,
    /// PGPORT, PGUSER, PGPASSWORD, ...) and the password file.
    pub fn connect(conninfo: &str) -> Result<Client> {
        let mut config = Config::parse(conninfo).map_err(|e| Error::Config(e.to_string()))?;
        connect::apply_env(&mut config)?;
        Client::connect_config(&config)
    }

    /// Connects with settings already complete (no environment is read).
    pub fn connect_config(config: &Config) -> Result<Client> {
        let session = connect::connect(config)?;
        Ok(Client {
            conn: session.conn,
            cache: new_cache(StatementPolicy::default()),
            target: session.target,
            tls: session.tls,
            request_timeout: None,
            timeout_policy: TimeoutPolicy::default(),
        })
    }

    /// A deadline for every later request, and what happens when it passes.
    pub fn set_request_timeout(&mut self, timeout: Option<Duration>, policy: TimeoutPolicy) {
        self.request_timeout = timeout;
        self.timeout_policy = policy;
    }

    /// Receives every notice and warning as it arrives (instead of queuing them for
    /// [`take_notices`](Self::take_notices)).
    pub fn set_notice_handler(&mut self, handler: Option<NoticeHandler>) {
        self.conn.inbox.set_notice_handler(handler);
    }

    /// The notices received so far (when no handler is set), oldest first.
    pub fn take_notices(&mut self) -> Vec<ServerError> {
        self.conn.inbox.take_notices().collect()
    }

    /// Sends pending bytes and reads one request's events until its `Done`,
    /// applying the request timeout and its policy.
    pub(crate) fn run(
        &mut self,
        id: RequestId,
        mut f: impl FnMut(&Event<'_>) -> Result<bool>,
    ) -> Result<()> {
        let deadline = self.request_timeout.map(|t| Instant::now() + t);
        let result = self.conn.drive(deadline, |ev| {
            let mine = ev.request() == Some(id);
            Ok(if f(&ev)? && mine { Some(()) } else { None })
        });
        match result {
            Err(Error::Timeout) => {
                self.on_timeout(id);
                Err(Error::Timeout)
            }
            other => other,
        }
    }

    /// Reads and drops the rest of `id`'s answers. If that fails or outlasts a grace
    /// period, the connection is closed: it can no longer be trusted.
    pub(crate) fn drain(&mut self, id: RequestId) {
        let grace = Some(Instant::now() + DRAIN_GRACE);
        let drained = self.conn.drive(grace, |ev| {
            Ok(matches!(ev, Event::Done { request } if request == id).then_some(()))
        });
        if drained.is_err() {
            self.conn.proto.terminate();
        }
    }

    /// Cancels the running request `id`, then drains it. The cancel returns once the
    /// server acted on it, and we wait for `id`'s end, so a late cancel cannot hit
    /// a later request.
    pub(crate) fn cancel_and_drain(&mut self, id: RequestId) {
        if let Ok(token) = self.cancel_token() {
            let _ = token.cancel();
        }
        self.drain(id);
    }

    /// Writes everything pending for request `id`, waiting at most the request
    /// timeout for the socket to take it; past it, the timeout policy applies (a COPY
    /// FROM STDIN in progress is failed first, so a drain can end).
    pub(crate) fn flush_request(&mut self, id: RequestId) -> Result<()> {
        let deadline = self.request_timeout.map(|t| Instant::now() + t);
        match self.conn.flush(deadline) {
            Err(Error::Timeout) => {
                if self.conn.proto.in_copy_in() {
                    let _ = self.conn.proto.copy_fail("the request timed out");
                }
                self.on_timeout(id);
                Err(Error::Timeout)
            }
            other => other,
        }
    }

    /// The deadline of a request sent now (or of one wait for its answers).
    pub(crate) fn request_deadline(&self) -> Option<Instant> {
        self.request_timeout.map(|t| Instant::now() + t)
    }

    /// `id` outlived its timeout: the policy acts (cancel, drain or close).
    pub(crate) fn on_timeout(&mut self, id: RequestId) {
        let policy = self.timeout_policy;
        if policy.cancels() {
            if let Ok(token) = self.cancel_token() {
                let _ = token.cancel();
            }
        }
        if policy.closes() {
            self.conn.proto.terminate();
            let _ = self.conn.flush(Some(Instant::now() + CLOSE_FLUSH_LIMIT));
        } else {
            self.drain(id);
        }
    }

    /// Collects the results of a request already sent.
    pub(crate) fn collect(&mut self, id: RequestId) -> Result<Vec<QueryResult>> {
        self.read(QueryReader::for_request(id, Collector::default()))
    }

    /// Reads a request to its end through one of the core's readers (the query's
    /// statement cache retry and COPY rule, a COPY's start), applying the request
    /// timeout and its policy.
    pub(crate) fn read<R: Reader>(&mut self, mut reader: R) -> Result<R::Output> {
        let deadline = self.request_timeout.map(|t| Instant::now() + t);
        loop {
            let (proto, inbox) = (&mut self.conn.proto, &mut self.conn.inbox);
            if let ReadStep::Done(r) = reader.poll(proto, &mut self.cache, inbox) {
                return r.map_err(Error::from);
            }
            if let Err(e) = self.conn.pump(deadline) {
                reader.abandon(&mut self.cache);
                if matches!(e, Error::Timeout) {
                    self.on_timeout(reader.request());
                }
                return Err(e);
            }
        }
    }

    /// Runs one or more statements with the simple protocol (no parameters; every
    /// value as text). One result per statement.
    pub fn simple_query(&mut self, sql: &str) -> Result<Vec<QueryResult>> {
        let reader = QueryReader::simple(&mut self.conn.proto, sql)?;
        self.read(reader)
    }

    /// Runs statements with the simple protocol, ignoring their rows.
    pub fn batch_execute(&mut self, sql: &str) -> Result<()> {
        self.simple_query(sql).map(drop)
    }

    /// Runs one statement with parameters (extended protocol, one round trip) and
    /// returns its rows. Values arrive as text; `Row::get` parses them.
    pub fn query(&mut self, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<Row>> {
        Ok(self.query_result(sql, params)?.rows)
    }

    /// Like [`query`](Self::query), with the columns and the command tag.
    ///
    /// The statement policy decides how it is sent: a named statement kept in the
    /// cache (the default; the first run parses and describes it in the same round
    /// trip, later runs only bind it and get common types in binary), the unnamed
    /// statement, or the simple protocol. A cached statement the server lost
    /// (26000) or whose result type changed is dropped and the query retried once,
    /// when not inside a transaction.
    pub fn query_result(&mut self, sql: &str, params: &[&dyn ToSql]) -> Result<QueryResult> {
        let encoded = encode_params(params, None)?;
        let reader = QueryReader::send(&mut self.conn.proto, &mut self.cache, sql, encoded)?;
        Ok(self.read(reader)?.pop().unwrap_or_default())
    }

    /// How queries are sent (see [`StatementPolicy`]); clears the cache.
    pub fn set_statement_policy(&mut self, policy: StatementPolicy) {
        self.cache.set_policy(policy);
    }

    /// The unnamed statement, parsed now (pipelines).
    pub(crate) fn send_query(&mut self, sql: &str, params: &[&dyn ToSql]) -> Result<RequestId> {
        let encoded = encode_params(params, None)?;
        Ok(statement_cache::send_unnamed(
            &mut self.conn.proto,
            sql,
            &encoded,
        )?)
    }

    /// Exactly one row, or [`Error::RowCount`].
    pub fn query_one(&mut self, sql: &str, params: &[&dyn ToSql]) -> Result<Row> {
        let mut rows = self.query(sql, params)?;
        match rows.len() {
            1 => rows.pop().ok_or(Error::RowCount { found: 0 }),
            0 => Err(Error::RowCount { found: 0 }),
            _ => Err(Error::RowCount { found: 2 }),
        }
    }

    /// At most one row.
    pub fn query_opt(&mut self, sql: &str, params: &[&dyn ToSql]) -> Result<Option<Row>> {
        let mut rows = self.query(sql, params)?;
        match rows.len() {
            0 | 1 => Ok(rows.pop()),
            _ => Err(Error::RowCount { found: 2 }),
        }
    }

    /// Runs one statement and returns the number of rows it affected (0 if its tag
    /// has no count).
    pub fn execute(&mut self, sql: &str, params: &[&dyn ToSql]) -> Result<u64> {
        Ok(self.query_result(sql, params)?.rows_affected().unwrap_or(0))
    }

    /// Prepares a named statement (parameter types are inferred by the server).
    pub fn prepare(&mut self, sql: &str) -> Result<Statement> {
        let reader = PrepareReader::send(&mut self.conn.proto, &mut self.cache, sql, None)?;
        self.read(reader)
    }

    /// Prepares a named statement with declared parameter types (0: inferred).
    pub fn prepare_typed(&mut self, sql: &str, types: &[u32]) -> Result<Statement> {
        let reader = PrepareReader::send(&mut self.conn.proto, &mut self.cache, sql, Some(types))?;
        self.read(reader)
    }

    /// Runs a prepared statement. Columns of common types arrive in binary.
    pub fn query_prepared(&mut self, stmt: &Statement, params: &[&dyn ToSql]) -> Result<Vec<Row>> {
        let id = self.send_prepared(stmt, params)?;
        let mut results = self.collect(id)?;
        Ok(results.pop().map(|r| r.rows).unwrap_or_default())
    }

    /// Runs a prepared statement and returns the rows affected.
    pub fn execute_prepared(&mut self, stmt: &Statement, params: &[&dyn ToSql]) -> Result<u64> {
        let id = self.send_prepared(stmt, params)?;
        let mut results = self.collect(id)?;
        Ok(results.pop().and_then(|r| r.rows_affected()).unwrap_or(0))
    }

    fn send_prepared(&mut self, stmt: &Statement, params: &[&dyn ToSql]) -> Result<RequestId> {
        let encoded = encode_params(params, Some(stmt.params()))?;
        Ok(execute_prepared(&mut self.conn.proto, stmt, &encoded)?)
    }

    /// Deallocates a prepared statement.
    pub fn close_statement(&mut self, stmt: Statement) -> Result<()> {
        let id = self
            .conn
            .proto
            .request()
            .close_statement(stmt.name())
            .sync()
            .finish()?;
        self.collect(id).map(drop)
    }

    /// Streams the rows of a statement: the iterator holds at most one receive
    /// buffer's worth of rows, never the whole result.
    pub fn query_iter(&mut self, sql: &str, params: &[&dyn ToSql]) -> Result<RowIter<'_>> {
        let id = self.send_query(sql, params)?;
        Ok(RowIter::new(self, id))
    }

    /// A token that cancels this session's running request from any thread.
    pub fn cancel_token(&self) -> Result<CancelToken> {
        let request = self.conn.proto.cancel_request()?;
        Ok(CancelToken::new(
            self.target.clone(),
            request,
            self.tls.clone(),
        ))
    }

    /// Notifications received so far, oldest first.
    pub fn notifications(&mut self) -> impl Iterator<Item = Notification> + '_ {
        self.conn.inbox.drain_notifications()
    }

    /// How many notifications were dropped because nobody read them.
    pub fn dropped_notifications(&self) -> u64 {
        self.conn.inbox.dropped_notifications()
    }

    /// Waits for a notification while idle. `Ok(None)` after `timeout`.
    pub fn wait_for_notification(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<Notification>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if let Some(n) = self.conn.inbox.pop_notification() {
                return Ok(Some(n));
            }
            // Any non-asynchronous event while idle is the machine's to judge (it
            // reports a desync as Fatal, which drive returns as an error).
            match self.conn.drive(deadline, |_| Ok(None::<()>)) {
                Err(Error::Timeout) => return Ok(self.conn.inbox.pop_notification()),
                Err(e) => return Err(e),
                Ok(()) => {}
            }
        }
    }

    /// The transaction status after the last request.
    pub fn transaction_status(&self) -> TransactionStatus {
        self.conn.proto.transaction_status()
    }

    /// A server parameter (`server_version`, `TimeZone`...).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.conn.proto.parameter(name)
    }

    /// The protocol version in use (3.2 only when asked for with
    /// `max_protocol_version` and granted by the server).
    pub fn protocol_version(&self) -> hyperwire_proto::ProtocolVersion {
        self.conn.proto.protocol_version()
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self.conn.stream, crate::stream::Stream::Tls(_))
    }

    /// The TLS version, cipher suite and ALPN protocol, when encrypted.
    pub fn tls_info(&self) -> Option<crate::tls::TlsInfo> {
        match &self.conn.stream {
            crate::stream::Stream::Tls(t) => Some(t.info()),
            _ => None,
        }
    }

    /// Whether SCRAM bound the session to the TLS channel (SCRAM-SHA-256-PLUS).
    pub fn is_channel_bound(&self) -> bool {
        self.conn.proto.channel_bound()
    }

    /// Whether SCRAM reused the salted password of an earlier connection in this
    /// process to the same server and user (the slow PBKDF2 step was skipped).
    pub fn scram_key_reused(&self) -> bool {
        self.conn.proto.scram_key_reused()
    }

    /// Whether the server is Hyper.
    pub fn is_hyper(&self) -> bool {
        self.conn.proto.is_hyper()
    }

    /// Whether the connection can still be used.
    pub fn is_healthy(&self) -> bool {
        self.conn.proto.is_healthy()
    }

    /// Sends Terminate and closes the connection.
    pub fn close(mut self) -> Result<()> {
        self.conn.proto.terminate();
        self.conn
            .flush(Some(Instant::now() + Duration::from_secs(5)))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if self.conn.proto.is_healthy() {
            self.conn.proto.terminate();
            let _ = self
                .conn
                .flush(Some(Instant::now() + Duration::from_millis(500)));
        }
    }
}

/// Encodes parameters, naming the one that failed.
pub(crate) fn encode_params(
    params: &[&dyn ToSql],
    declared: Option<&[u32]>,
) -> Result<EncodedParams> {
    EncodedParams::new(params, declared).map_err(|(index, error)| Error::Value { index, error })
}

/// A cache whose statement names are unique to this connection.
fn new_cache(policy: StatementPolicy) -> StatementCache {
    StatementCache::new(policy).with_random_prefix(connect::random_seed())
}
