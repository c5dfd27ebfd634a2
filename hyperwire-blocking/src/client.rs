//! The blocking [`Client`].

use std::time::{Duration, Instant};

use hyperwire_proto::config::Config;
use hyperwire_proto::engine::{
    execute_prepared, AbandonPolicy, PrepareReader, PreparedStatement, QueryReader, ReadStep,
    Reader, RequestError, Session, SettleStep,
};
use hyperwire_proto::statement_cache::{self, StatementPolicy};
use hyperwire_proto::value::ToSql;
use hyperwire_proto::{Event, Protocol, RequestId, ServerError, TransactionStatus};

use crate::cancel::CancelToken;
use crate::clock;
use crate::conn::Conn;
use crate::connect::{self, Target};
use crate::error::{Error, Result};
use crate::rows::RowIter;
use hyperwire_proto::engine::policy::CLOSE_FLUSH_LIMIT;
use hyperwire_proto::inbox::{NoticeHandler, Notification};
use hyperwire_proto::result::{at_most_one_row, one_row, Collector, QueryResult, Row};
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
    target: Target,
    tls: Option<(crate::tls::TlsSetup, hyperwire_proto::engine::CancelTlsMode)>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("target", &self.target)
            .field("protocol", self.conn.session.protocol())
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
        let connected = connect::connect(config)?;
        Ok(Client {
            conn: connected.conn,
            target: connected.target,
            tls: connected.tls,
        })
    }

    /// A deadline for every later wait for the server, and what happens to the
    /// request when it passes.
    pub fn set_request_timeout(&mut self, timeout: Option<Duration>, policy: TimeoutPolicy) {
        self.conn.session.set_request_timeout(timeout);
        self.conn.session.set_abandon_policy(policy);
    }

    /// Receives every notice and warning as it arrives (instead of queuing them for
    /// [`take_notices`](Self::take_notices)).
    pub fn set_notice_handler(&mut self, handler: Option<NoticeHandler>) {
        self.conn.session.inbox_mut().set_notice_handler(handler);
    }

    /// The notices received so far (when no handler is set), oldest first.
    pub fn take_notices(&mut self) -> Vec<ServerError> {
        self.conn.session.inbox_mut().take_notices().collect()
    }

    /// The machine, to send a request.
    pub(crate) fn proto(&mut self) -> &mut Protocol {
        self.conn.session.protocol_mut()
    }

    /// Sends pending bytes and reads one request's events until its `Done`,
    /// applying the request timeout and its policy.
    pub(crate) fn run(
        &mut self,
        id: RequestId,
        mut f: impl FnMut(&Event<'_>) -> Result<bool>,
    ) -> Result<()> {
        self.poll_until(id, |session| {
            session
                .drive(|ev| match f(ev) {
                    Ok(stop) => (stop && ev.request() == Some(id)).then_some(Ok(())),
                    Err(e) => Some(Err(e)),
                })
                .map_err(Error::from)
                .and_then(|r| r.transpose())
                .transpose()
        })
    }

    /// Polls `id`'s reading with `poll` until it answers, moving bytes in
    /// between. The request timeout bounds each wait; past it the policy deals
    /// with the request and `Err(Timeout)` is returned.
    pub(crate) fn poll_until<T>(
        &mut self,
        id: RequestId,
        mut poll: impl FnMut(&mut Session) -> Option<Result<T>>,
    ) -> Result<T> {
        self.conn.session.track(id);
        self.conn.session.start_wait(clock::now);
        loop {
            if let Some(r) = poll(&mut self.conn.session) {
                self.conn.session.untrack(id);
                return r;
            }
            self.wait()?;
        }
    }

    /// Moves bytes until something arrived or the session's deadline passed;
    /// then the requests in flight are abandoned and settled as the policy says,
    /// and `Err(Timeout)` returned.
    pub(crate) fn wait(&mut self) -> Result<()> {
        let deadline = self.conn.session.poll_timeout().map(clock::instant);
        match self.conn.pump(deadline) {
            Err(Error::Timeout) => {
                self.conn.session.abandon();
                self.settle();
                Err(Error::Timeout)
            }
            other => other,
        }
    }

    /// Gives up on the requests in flight, with `policy`, and settles them now.
    pub(crate) fn give_up(&mut self, id: RequestId, policy: TimeoutPolicy) {
        self.conn.session.track(id);
        self.conn.session.abandon_with(policy);
        self.settle();
    }

    /// Deals with abandoned requests as the core asks (cancel, drain, close).
    /// Whatever happens the connection's state is known after: usable, or not
    /// healthy.
    fn settle(&mut self) {
        loop {
            let step = self.conn.session.settle(clock::now());
            let deadline = self.conn.session.poll_timeout().map(clock::instant);
            let moved = match step {
                SettleStep::Io => self.conn.pump(deadline),
                SettleStep::Flush => self.conn.flush(deadline),
                SettleStep::Cancel => {
                    let _ = self.cancel_token().and_then(|t| t.cancel());
                    self.conn.session.cancel_finished();
                    Ok(())
                }
                _ => return,
            };
            match moved {
                Ok(()) | Err(Error::Timeout) => {}
                Err(_) => return self.conn.session.settle_failed(),
            }
        }
    }

    /// Writes everything pending for request `id`, waiting at most the request
    /// timeout for the socket to take it; past it, the timeout policy applies.
    pub(crate) fn flush_request(&mut self, id: RequestId) -> Result<()> {
        self.conn.session.start_wait(clock::now);
        let deadline = self.conn.session.poll_timeout().map(clock::instant);
        match self.conn.flush(deadline) {
            Err(Error::Timeout) => {
                self.give_up(id, self.conn.session.abandon_policy());
                Err(Error::Timeout)
            }
            other => other,
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
        self.conn.session.start_wait(clock::now);
        loop {
            if let ReadStep::Done(r) = self.conn.session.read(&mut reader, clock::now) {
                if matches!(r, Err(RequestError::TimedOut)) {
                    self.settle();
                }
                return r.map_err(Error::from);
            }
            self.wait()?;
        }
    }

    /// Runs one or more statements with the simple protocol (no parameters; every
    /// value as text). One result per statement.
    pub fn simple_query(&mut self, sql: &str) -> Result<Vec<QueryResult>> {
        let reader = QueryReader::simple(self.proto(), sql)?;
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
        let (proto, cache, _) = self.conn.session.parts();
        let reader = QueryReader::send(proto, cache, sql, encoded)?;
        Ok(self.read(reader)?.pop().unwrap_or_default())
    }

    /// How queries are sent (see [`StatementPolicy`]); clears the cache.
    pub fn set_statement_policy(&mut self, policy: StatementPolicy) {
        self.conn.session.set_statement_policy(policy);
    }

    /// The unnamed statement, parsed now (pipelines).
    pub(crate) fn send_query(&mut self, sql: &str, params: &[&dyn ToSql]) -> Result<RequestId> {
        let encoded = encode_params(params, None)?;
        Ok(statement_cache::send_unnamed(self.proto(), sql, &encoded)?)
    }

    /// Exactly one row, or [`Error::RowCount`].
    pub fn query_one(&mut self, sql: &str, params: &[&dyn ToSql]) -> Result<Row> {
        one_row(self.query(sql, params)?).map_err(|found| Error::RowCount { found })
    }

    /// At most one row.
    pub fn query_opt(&mut self, sql: &str, params: &[&dyn ToSql]) -> Result<Option<Row>> {
        at_most_one_row(self.query(sql, params)?).map_err(|found| Error::RowCount { found })
    }

    /// Runs one statement and returns the number of rows it affected (0 if its tag
    /// has no count).
    pub fn execute(&mut self, sql: &str, params: &[&dyn ToSql]) -> Result<u64> {
        Ok(self.query_result(sql, params)?.rows_affected().unwrap_or(0))
    }

    /// Prepares a named statement (parameter types are inferred by the server).
    pub fn prepare(&mut self, sql: &str) -> Result<Statement> {
        let (proto, cache, _) = self.conn.session.parts();
        let reader = PrepareReader::send(proto, cache, sql, None)?;
        self.read(reader)
    }

    /// Prepares a named statement with declared parameter types (0: inferred).
    pub fn prepare_typed(&mut self, sql: &str, types: &[u32]) -> Result<Statement> {
        let (proto, cache, _) = self.conn.session.parts();
        let reader = PrepareReader::send(proto, cache, sql, Some(types))?;
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
        Ok(execute_prepared(self.proto(), stmt, &encoded)?)
    }

    /// Deallocates a prepared statement.
    pub fn close_statement(&mut self, stmt: Statement) -> Result<()> {
        let id = self
            .proto()
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
        let request = self.conn.session.protocol().cancel_request()?;
        Ok(CancelToken::new(
            self.target.clone(),
            request,
            self.tls.clone(),
        ))
    }

    /// Notifications received so far, oldest first.
    pub fn notifications(&mut self) -> impl Iterator<Item = Notification> + '_ {
        self.conn.session.inbox_mut().drain_notifications()
    }

    /// How many notifications were dropped because nobody read them.
    pub fn dropped_notifications(&self) -> u64 {
        self.conn.session.inbox().dropped_notifications()
    }

    /// Waits for a notification while idle. `Ok(None)` after `timeout`.
    pub fn wait_for_notification(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<Notification>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if let Some(n) = self.conn.session.inbox_mut().pop_notification() {
                return Ok(Some(n));
            }
            // Any non-asynchronous event while idle is the machine's to judge (it
            // reports a desync as Fatal, which drive returns as an error).
            match self.conn.drive(deadline, |_| Ok(None::<()>)) {
                Err(Error::Timeout) => return Ok(self.conn.session.inbox_mut().pop_notification()),
                Err(e) => return Err(e),
                Ok(()) => {}
            }
        }
    }

    /// The transaction status after the last request.
    pub fn transaction_status(&self) -> TransactionStatus {
        self.conn.session.protocol().transaction_status()
    }

    /// A server parameter (`server_version`, `TimeZone`...).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.conn.session.protocol().parameter(name)
    }

    /// The protocol version in use (3.2 only when asked for with
    /// `max_protocol_version` and granted by the server).
    pub fn protocol_version(&self) -> hyperwire_proto::ProtocolVersion {
        self.conn.session.protocol().protocol_version()
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
        self.conn.session.protocol().channel_bound()
    }

    /// Whether SCRAM reused the salted password of an earlier connection in this
    /// process to the same server and user (the slow PBKDF2 step was skipped).
    pub fn scram_key_reused(&self) -> bool {
        self.conn.session.protocol().scram_key_reused()
    }

    /// Whether the server is Hyper.
    pub fn is_hyper(&self) -> bool {
        self.conn.session.protocol().is_hyper()
    }

    /// Whether the connection can still be used.
    pub fn is_healthy(&self) -> bool {
        self.conn.session.protocol().is_healthy()
    }

    /// Sends Terminate and closes the connection.
    pub fn close(mut self) -> Result<()> {
        self.proto().terminate();
        self.conn.flush(Some(Instant::now() + CLOSE_FLUSH_LIMIT))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if self.conn.session.protocol().is_healthy() {
            self.proto().terminate();
            let _ = self.conn.flush(Some(Instant::now() + CLOSE_FLUSH_LIMIT));
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
