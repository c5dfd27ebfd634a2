//! [`Connection`]: one owner, `&mut self` methods, every future cancel-safe.

use std::future::poll_fn;
use std::time::Duration;

use hyperwire_proto::config::Config;
use hyperwire_proto::engine::policy::CLOSE_FLUSH_LIMIT;
use hyperwire_proto::engine::{
    execute_prepared, AbandonPolicy, PrepareReader, PreparedStatement, QueryReader, ReadStep,
    Reader,
};
use hyperwire_proto::inbox::{Inbox, Notification};
use hyperwire_proto::result::{Collector, QueryResult, Row};
use hyperwire_proto::statement_cache::{self, StatementCache, StatementPolicy};
use hyperwire_proto::value::{EncodedParams, ToSql};
use hyperwire_proto::{
    Event, Protocol, ProtocolVersion, RequestId, ServerError, TransactionStatus,
};

use crate::cancel::CancelToken;
use crate::connect::{self, Target};
use crate::error::{Error, Result};
use crate::io::{self, Io};
use crate::runtime::{self, Runtime, Socket};

/// What happens to a request whose future was dropped before it finished (the
/// core's one policy for abandoned requests).
pub type DropPolicy = AbandonPolicy;

/// A connection to PostgreSQL or Hyper over the runtime `R`.
///
/// Every method may be cancelled (its future dropped) at any await point: the
/// request it sent is handled by the [`DropPolicy`] when the connection is next
/// used, and the next request always gets its own answer.
pub struct Connection<R: Runtime> {
    pub(crate) io: Io<R::Socket>,
    pub(crate) proto: Protocol,
    cache: StatementCache,
    target: Target,
    pub(crate) inbox: Inbox,
    /// The requests of calls that have not finished (if their futures are
    /// dropped, the next call settles them).
    in_flight: Vec<RequestId>,
    /// A CancelThenDrain cancel not yet acknowledged (its wait was dropped): the
    /// next call sends it again before anything else goes out.
    cancel_pending: bool,
    /// A cancel request under way. Once started it is always finished (the
    /// server's close awaited) before anything new is sent, even if the call
    /// that started it was dropped: a cancel abandoned midway could still reach
    /// the server later and hit the next request. (A Mutex only to stay `Sync`;
    /// it is reached through `&mut self`.)
    cancel_running: std::sync::Mutex<Option<PendingCancel>>,
    /// A `copy_in` call is running: COPY FROM STDIN is expected. Any other call
    /// that meets one fails it at once instead of waiting for data forever.
    pub(crate) copy_in_allowed: bool,
    /// The statement the in-flight query is preparing for the cache (if its
    /// future is dropped, the cache must not wait for it forever).
    preparing: Option<(String, Vec<u32>)>,
    drop_policy: DropPolicy,
    /// TLS settings for the cancel connection, and whether TLS starts at once.
    cancel_tls: Option<(
        hyperwire_tls::TlsSetup,
        hyperwire_proto::engine::CancelTlsMode,
    )>,
}

impl<R: Runtime> std::fmt::Debug for Connection<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("target", &self.target)
            .field("protocol", &self.proto)
            .finish_non_exhaustive()
    }
}

/// A prepared statement (the core's).
pub type Statement = PreparedStatement;

/// A cancel request being sent (see `Connection::cancel_running`).
type PendingCancel = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ()>> + Send>>;

/// Encodes parameters (a plain function, so no future holds the `dyn` list).
pub(crate) fn encode(
    params: &[&(dyn ToSql + Sync)],
    declared: Option<&[u32]>,
) -> Result<EncodedParams> {
    let plain: Vec<&dyn ToSql> = params.iter().map(|p| *p as &dyn ToSql).collect();
    EncodedParams::new(&plain, declared).map_err(|(index, error)| Error::Value { index, error })
}

impl<R: Runtime> Connection<R> {
    pub(crate) fn new(io: Io<R::Socket>, proto: Protocol, target: Target) -> Connection<R> {
        Connection {
            io,
            proto,
            cache: StatementCache::new(StatementPolicy::default())
                .with_random_prefix(crate::connect::random_seed()),
            target,
            inbox: Inbox::default(),
            in_flight: Vec::new(),
            cancel_pending: false,
            cancel_running: std::sync::Mutex::new(None),
            copy_in_allowed: false,
            preparing: None,
            drop_policy: DropPolicy::default(),
            cancel_tls: None,
        }
    }

    /// Connects with a conninfo string or URL, completed by the libpq environment
    /// variables and the password file. TLS follows libpq's `sslmode` (through
    /// hyperwire-tls).
    pub async fn connect(conninfo: &str) -> Result<Connection<R>> {
        let mut config = Config::parse(conninfo).map_err(|e| Error::Config(e.to_string()))?;
        config
            .apply_env(&|k| std::env::var(k).ok())
            .map_err(|e| Error::Config(e.to_string()))?;
        Connection::connect_config(&config).await
    }

    /// Connects with settings already complete (no environment is read).
    pub async fn connect_config(config: &Config) -> Result<Connection<R>> {
        connect::connect(config).await
    }

    /// What happens to requests whose futures are dropped.
    pub fn set_drop_policy(&mut self, policy: DropPolicy) {
        self.drop_policy = policy;
    }

    /// How queries are sent (see [`StatementPolicy`]); clears the cache.
    pub fn set_statement_policy(&mut self, policy: StatementPolicy) {
        self.cache.set_policy(policy);
    }

    pub(crate) fn set_cancel_tls(
        &mut self,
        tls: Option<(
            hyperwire_tls::TlsSetup,
            hyperwire_proto::engine::CancelTlsMode,
        )>,
    ) {
        self.cancel_tls = tls;
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls_session().is_some()
    }

    /// The TLS version, cipher suite and ALPN protocol, when encrypted.
    pub fn tls_info(&self) -> Option<hyperwire_tls::TlsInfo> {
        self.tls_session().map(hyperwire_tls::TlsInfo::of)
    }

    fn tls_session(&self) -> Option<&rustls::ClientConnection> {
        self.io.get().and_then(|s| s.tls())
    }

    /// Whether SCRAM bound the session to the TLS channel (SCRAM-SHA-256-PLUS).
    pub fn is_channel_bound(&self) -> bool {
        self.proto.channel_bound()
    }

    /// Whether SCRAM reused the salted password of an earlier connection in this
    /// process to the same server and user (the slow PBKDF2 step was skipped).
    pub fn scram_key_reused(&self) -> bool {
        self.proto.scram_key_reused()
    }

    /// Moves bytes once (see [`io::poll_pump`]).
    async fn pump(&mut self) -> Result<()> {
        // A failed machine waits for nothing: its error again, never a spin on EOF.
        if let Some(e) = self.proto.error() {
            return Err(e.clone().into());
        }
        let (io, proto) = (&mut self.io, &mut self.proto);
        poll_fn(|cx| io::poll_pump(io, proto, cx))
            .await
            .map_err(Error::from)
    }

    /// Writes everything pending.
    pub(crate) async fn flush(&mut self) -> Result<()> {
        let (io, proto) = (&mut self.io, &mut self.proto);
        poll_fn(|cx| io::poll_flush(io, proto, cx))
            .await
            .map_err(Error::from)
    }

    /// Handles the asynchronous events; returns the others to `f` until it says
    /// stop. `Fatal` ends it with an error.
    pub(crate) async fn drive<T>(
        &mut self,
        mut f: impl FnMut(&Event<'_>) -> Option<T>,
    ) -> Result<T> {
        loop {
            if let Some(t) = self.take_events(&mut f)? {
                return Ok(t);
            }
            self.pump().await?;
        }
    }

    /// Processes the events already received.
    pub(crate) fn take_events<T>(
        &mut self,
        f: &mut impl FnMut(&Event<'_>) -> Option<T>,
    ) -> Result<Option<T>> {
        while let Some(ev) = self.proto.poll_event() {
            if self.inbox.take(&ev) {
                continue;
            }
            let unwanted_copy_in = !self.copy_in_allowed && matches!(ev, Event::CopyInStart { .. });
            let out = match ev {
                Event::Fatal(e) => return Err(e.into()),
                other => f(&other),
            };
            if unwanted_copy_in {
                // Nothing here will send the data: end the COPY so the request ends.
                self.proto
                    .copy_fail("COPY FROM STDIN can only run through copy_in")?;
            }
            if let Some(t) = out {
                return Ok(Some(t));
            }
        }
        Ok(None)
    }

    /// Queues a ROLLBACK whose answer nobody waits for (a transaction guard was
    /// dropped). If the core cannot take it, the connection is closed rather
    /// than left inside the transaction.
    pub(crate) fn queue_rollback(&mut self) {
        match self.proto.query("ROLLBACK") {
            Ok(id) => {
                self.proto.abandon(id);
            }
            Err(_) => self.proto.terminate(),
        }
    }

    /// Notes a request whose caller may drop its future.
    pub(crate) fn track(&mut self, id: RequestId) {
        if !self.in_flight.contains(&id) {
            self.in_flight.push(id);
        }
    }

    /// The request finished (its caller got the whole answer).
    pub(crate) fn untrack(&mut self, id: RequestId) {
        self.in_flight.retain(|r| *r != id);
    }

    /// Settles requests left behind by dropped futures, as the policy says.
    pub(crate) async fn settle(&mut self) -> Result<()> {
        self.copy_in_allowed = false;
        if let Some((sql, types)) = self.preparing.take() {
            self.cache.prepare_ended(&sql, &types);
        }
        if !self.in_flight.is_empty() {
            // Abandoned at once, before any await: whatever happens to this
            // future, their answers can only be discarded by the core (a COPY IN
            // is failed).
            for id in std::mem::take(&mut self.in_flight) {
                self.proto.abandon(id);
            }
            let policy = self.drop_policy;
            if policy.closes() {
                if policy.cancels() {
                    if let Ok(token) = self.cancel_token() {
                        let _ = token.cancel().await;
                    }
                }
                self.proto.terminate();
                // Best effort, bounded: a server that stopped reading must not
                // keep us here.
                let _ = runtime::timeout::<R, _>(CLOSE_FLUSH_LIMIT, self.flush()).await;
                return Err(Error::ConnectionLost(format!(
                    "a dropped request closed the connection ({policy:?})"
                )));
            }
            if policy.cancels() {
                self.cancel_pending = true;
            }
        }
        if self.cancel_pending {
            self.cancel_pending = false;
            // What already arrived may show the abandoned requests ended: then
            // there is nothing to cancel.
            self.take_events(&mut |_| None::<()>)?;
            if self.proto.pending_responses() > 0 && self.proto.is_healthy() {
                if let Ok(token) = self.cancel_token() {
                    let running = self
                        .cancel_running
                        .get_mut()
                        .unwrap_or_else(|p| p.into_inner());
                    running.get_or_insert_with(|| {
                        Box::pin(async move { token.cancel().await.map_err(|_| ()) })
                    });
                }
            }
        }
        // The cancel returns once the server acted on it, and nothing new is sent
        // before: it cannot reach a later request (PostgreSQL ignores a cancel
        // that arrives while the session is idle).
        let running = self
            .cancel_running
            .get_mut()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(cancel) = running {
            let _ = cancel.as_mut().await;
            *running = None;
        }
        Ok(())
    }

    /// Reads until every abandoned request has ended (the core discards their
    /// answers); nothing is sent.
    #[cfg(feature = "deadpool")]
    pub(crate) async fn finish_abandoned(&mut self) -> Result<()> {
        self.flush().await?;
        loop {
            self.take_events(&mut |_| None::<()>)?;
            if self.proto.pending_responses() == 0 {
                return Ok(());
            }
            self.pump().await?;
        }
    }

    /// Sends pending bytes and reads `id`'s events until its `Done`.
    pub(crate) async fn run(&mut self, id: RequestId, mut f: impl FnMut(&Event<'_>)) -> Result<()> {
        self.track(id);
        self.drive(|ev| {
            f(ev);
            (matches!(ev, Event::Done { request } if *request == id)).then_some(())
        })
        .await?;
        self.untrack(id);
        Ok(())
    }

    /// Collects the results of a request already sent.
    pub(crate) async fn collect(&mut self, id: RequestId) -> Result<Vec<QueryResult>> {
        self.read(QueryReader::for_request(id, Collector::default()))
            .await
    }

    /// Reads a request to its end through one of the core's readers (a query's
    /// statement cache retry and COPY rule, a COPY's start). Cancel-safe: the
    /// request stays tracked, and the statement it prepares noted, until it ends,
    /// so a dropped future is settled.
    pub(crate) async fn read<Rd: Reader>(&mut self, mut reader: Rd) -> Result<Rd::Output> {
        let mut tracked: Option<RequestId> = None;
        loop {
            let id = reader.request();
            if tracked != Some(id) {
                if let Some(old) = tracked.replace(id) {
                    self.untrack(old);
                }
                self.track(id);
            }
            let step = reader.poll(&mut self.proto, &mut self.cache, &mut self.inbox);
            if let ReadStep::Done(r) = step {
                self.untrack(id);
                self.preparing = None;
                return r.map_err(Error::from);
            }
            self.pump().await?;
        }
    }

    /// Reads a query (see [`Connection::read`]), noting the statement it prepares.
    async fn read_query(&mut self, reader: QueryReader) -> Result<Vec<QueryResult>> {
        self.preparing = reader
            .preparing()
            .map(|(sql, types)| (sql.into(), types.into()));
        self.read(reader).await
    }

    /// Runs statements with the simple protocol (values as text).
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<QueryResult>> {
        self.settle().await?;
        let reader = QueryReader::simple(&mut self.proto, sql)?;
        self.read_query(reader).await
    }

    /// Runs statements with the simple protocol, ignoring rows.
    pub async fn batch_execute(&mut self, sql: &str) -> Result<()> {
        self.simple_query(sql).await.map(drop)
    }

    /// Runs one statement with parameters and returns its rows.
    pub async fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        Ok(self.query_result(sql, params).await?.rows)
    }

    /// Exactly one row.
    pub async fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row> {
        let mut rows = self.query(sql, params).await?;
        match rows.len() {
            1 => rows.pop().ok_or(Error::RowCount { found: 0 }),
            n => Err(Error::RowCount { found: n.min(2) }),
        }
    }

    /// Runs one statement and returns the rows it affected.
    pub async fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        Ok(self
            .query_result(sql, params)
            .await?
            .rows_affected()
            .unwrap_or(0))
    }

    /// One statement's result, sent as the statement policy says (named statements
    /// cached by default; a stale one is evicted and retried once outside a
    /// transaction).
    pub async fn query_result(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<QueryResult> {
        self.settle().await?;
        let encoded = encode(params, None)?;
        let reader = QueryReader::send(&mut self.proto, &mut self.cache, sql, encoded)?;
        Ok(self.read_query(reader).await?.pop().unwrap_or_default())
    }

    pub(crate) fn send_unnamed(&mut self, sql: &str, encoded: &EncodedParams) -> Result<RequestId> {
        Ok(statement_cache::send_unnamed(
            &mut self.proto,
            sql,
            encoded,
        )?)
    }

    /// Prepares a named statement.
    pub async fn prepare(&mut self, sql: &str) -> Result<Statement> {
        self.settle().await?;
        let reader = PrepareReader::send(&mut self.proto, &mut self.cache, sql, None)?;
        self.read(reader).await
    }

    /// Runs a prepared statement (common types arrive in binary).
    pub async fn query_prepared(
        &mut self,
        stmt: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        self.settle().await?;
        let encoded = encode(params, Some(stmt.params()))?;
        let id = execute_prepared(&mut self.proto, stmt, &encoded)?;
        Ok(self
            .collect(id)
            .await?
            .pop()
            .map(|r| r.rows)
            .unwrap_or_default())
    }

    /// Several statements sent in one write, answered in order, an error per item.
    pub async fn pipeline(
        &mut self,
        items: &[(&str, &[&(dyn ToSql + Sync)])],
    ) -> Result<Vec<Result<QueryResult>>> {
        self.settle().await?;
        let mut ids = Vec::with_capacity(items.len());
        for (sql, params) in items {
            let id = encode(params, None).and_then(|e| self.send_unnamed(sql, &e));
            if let Ok(id) = id {
                // Every item is settled if this future is dropped midway.
                self.track(id);
            }
            ids.push(id);
        }
        self.flush().await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match id {
                Err(e) => out.push(Err(e)),
                Ok(id) => {
                    let r = self.collect(id).await;
                    match r {
                        Ok(mut results) => out.push(Ok(results.pop().unwrap_or_default())),
                        Err(e @ (Error::Server(_) | Error::UnexpectedResult(_))) => {
                            out.push(Err(e))
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(out)
    }

    /// Starts a transaction.
    pub async fn begin(&mut self) -> Result<()> {
        self.batch_execute("BEGIN").await
    }

    /// Commits the transaction.
    pub async fn commit(&mut self) -> Result<()> {
        self.batch_execute("COMMIT").await
    }

    /// Rolls the transaction back.
    pub async fn rollback(&mut self) -> Result<()> {
        self.batch_execute("ROLLBACK").await
    }

    /// A token that cancels this session's running request from any task.
    pub fn cancel_token(&self) -> Result<CancelToken<R>> {
        Ok(CancelToken::new(
            self.target.clone(),
            self.proto.cancel_request()?,
            self.cancel_tls.clone(),
        ))
    }

    /// Waits for a notification while idle; `Ok(None)` after `timeout`.
    pub async fn wait_for_notification(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<Notification>> {
        self.settle().await?;
        if let Some(n) = self.inbox.pop_notification() {
            return Ok(Some(n));
        }
        let wait = async {
            loop {
                self.take_events(&mut |_| None::<()>)?;
                if let Some(n) = self.inbox.pop_notification() {
                    return Ok(n);
                }
                self.pump().await?;
            }
        };
        match timeout {
            None => wait.await.map(Some),
            Some(t) => match runtime::timeout::<R, _>(t, wait).await {
                Some(r) => r.map(Some),
                None => Ok(None),
            },
        }
    }

    /// Notifications received so far.
    pub fn take_notifications(&mut self) -> Vec<Notification> {
        self.inbox.drain_notifications().collect()
    }

    /// Notices and warnings received so far.
    pub fn take_notices(&mut self) -> Vec<ServerError> {
        self.inbox.take_notices().collect()
    }

    /// The transaction status after the last request.
    pub fn transaction_status(&self) -> TransactionStatus {
        self.proto.transaction_status()
    }

    /// A server parameter.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.proto.parameter(name)
    }

    /// Whether the server is Hyper.
    pub fn is_hyper(&self) -> bool {
        self.proto.is_hyper()
    }

    /// The protocol version in use.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.proto.protocol_version()
    }

    /// Whether the connection can still be used.
    pub fn is_healthy(&self) -> bool {
        self.proto.is_healthy()
    }

    /// Sends Terminate and closes the socket.
    pub async fn close(mut self) -> Result<()> {
        self.proto.terminate();
        let (io, proto) = (&mut self.io, &mut self.proto);
        poll_fn(|cx| io::poll_close(io, proto, cx))
            .await
            .map_err(Error::from)
    }
}
