//! [`Connection`]: one owner, `&mut self` methods, every future cancel-safe.

use std::future::poll_fn;
use std::time::{Duration, Instant};

use hyperwire_proto::config::Config;
use hyperwire_proto::engine::{
    execute_prepared, item_error_is_contained, AbandonPolicy, ExecuteMany, Pipeline, PipelineStep,
    PrepareReader, PreparedStatement, QueryReader, ReadStep, Reader, Session, SettleStep, SyncMode,
    Timestamp,
};
use hyperwire_proto::inbox::Notification;
use hyperwire_proto::result::{one_row, Collector, QueryResult, Row};
use hyperwire_proto::statement_cache::{self, StatementPolicy};
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
    /// The machine, its statement cache and inbox, the requests in flight
    /// (if their futures are dropped, the next call settles them) and the
    /// drop policy.
    pub(crate) session: Session,
    target: Target,
    /// The origin of the session's clock.
    origin: Instant,
    /// A cancel request under way. Once started it is always finished (the
    /// server's close awaited) before anything new is sent, even if the call
    /// that started it was dropped: a cancel abandoned midway could still reach
    /// the server later and hit the next request. (A Mutex only to stay `Sync`;
    /// it is reached through `&mut self`.)
    cancel_running: std::sync::Mutex<Option<PendingCancel>>,
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
            .field("protocol", self.session.protocol())
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
            session: Session::new(proto, crate::connect::random_seed()),
            target,
            origin: Instant::now(),
            cancel_running: std::sync::Mutex::new(None),
            cancel_tls: None,
        }
    }

    /// Now, on the session's clock.
    fn now(&self) -> Timestamp {
        Timestamp::from_since_origin(self.origin.elapsed())
    }

    /// The machine, to send a request.
    pub(crate) fn proto(&mut self) -> &mut Protocol {
        self.session.protocol_mut()
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
        self.session.set_abandon_policy(policy);
    }

    /// How queries are sent (see [`StatementPolicy`]); clears the cache.
    pub fn set_statement_policy(&mut self, policy: StatementPolicy) {
        self.session.set_statement_policy(policy);
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
        self.session.protocol().channel_bound()
    }

    /// Whether SCRAM reused the salted password of an earlier connection in this
    /// process to the same server and user (the slow PBKDF2 step was skipped).
    pub fn scram_key_reused(&self) -> bool {
        self.session.protocol().scram_key_reused()
    }

    /// Moves bytes once (see [`io::poll_pump`]).
    pub(crate) async fn pump(&mut self) -> Result<()> {
        // A failed machine waits for nothing: its error again, never a spin on EOF.
        if let Some(e) = self.session.protocol().error() {
            return Err(e.clone().into());
        }
        let (io, proto) = (&mut self.io, self.session.protocol_mut());
        poll_fn(|cx| io::poll_pump(io, proto, cx))
            .await
            .map_err(Error::from)
    }

    /// Writes everything pending.
    pub(crate) async fn flush(&mut self) -> Result<()> {
        let (io, proto) = (&mut self.io, self.session.protocol_mut());
        poll_fn(|cx| io::poll_flush(io, proto, cx))
            .await
            .map_err(Error::from)
    }

    /// Hands the events that are not the inbox's to `f` until it says stop,
    /// reading as needed. `Fatal` ends it with an error.
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

    /// Processes the events already received (see [`Session::drive`]).
    pub(crate) fn take_events<T>(
        &mut self,
        f: &mut impl FnMut(&Event<'_>) -> Option<T>,
    ) -> Result<Option<T>> {
        self.session.drive(f).map_err(Error::from)
    }

    /// Queues a ROLLBACK whose answer nobody waits for (a transaction guard was
    /// dropped). If the core cannot take it, the connection is closed rather
    /// than left inside the transaction.
    pub(crate) fn queue_rollback(&mut self) {
        let proto = self.proto();
        match proto.query("ROLLBACK") {
            Ok(id) => {
                proto.abandon(id);
            }
            Err(_) => proto.terminate(),
        }
    }

    /// Settles requests left behind by dropped futures, as the drop policy
    /// says: the core decides (cancel, drain, close); this carries it out.
    pub(crate) async fn settle(&mut self) -> Result<()> {
        self.session.expect_copy_in(false);
        self.finish_cancel().await;
        self.session.abandon();
        loop {
            let now = self.now();
            let step = self.session.settle(now);
            let left = self
                .session
                .poll_timeout()
                .map(|t| t.saturating_duration_since(now));
            let moved = match step {
                SettleStep::Ready => return Ok(()),
                SettleStep::Io => at_most::<R, _>(left, self.pump()).await,
                SettleStep::Flush => at_most::<R, _>(left, self.flush()).await,
                SettleStep::Cancel => {
                    if let Ok(token) = self.cancel_token() {
                        let running = self
                            .cancel_running
                            .get_mut()
                            .unwrap_or_else(|p| p.into_inner());
                        running.get_or_insert_with(|| {
                            Box::pin(async move { token.cancel().await.map_err(|_| ()) })
                        });
                    }
                    self.finish_cancel().await;
                    self.session.cancel_finished();
                    Ok(())
                }
                SettleStep::Closed(why) => return Err(Error::ConnectionLost(why.to_string())),
                SettleStep::Failed(e) => return Err(e.into()),
                _ => return Err(Error::ConnectionLost("unknown settle step".into())),
            };
            if let Err(e) = moved {
                self.session.settle_failed();
                return Err(e);
            }
        }
    }

    /// Waits for a cancel already under way (see `cancel_running`).
    async fn finish_cancel(&mut self) {
        let running = self
            .cancel_running
            .get_mut()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(cancel) = running {
            let _ = cancel.as_mut().await;
            *running = None;
        }
    }

    /// Reads until every abandoned request has ended (the core discards their
    /// answers); nothing is sent.
    #[cfg(feature = "deadpool")]
    pub(crate) async fn finish_abandoned(&mut self) -> Result<()> {
        self.flush().await?;
        loop {
            self.take_events(&mut |_| None::<()>)?;
            if self.session.protocol().pending_responses() == 0 {
                return Ok(());
            }
            self.pump().await?;
        }
    }

    /// Collects the results of a request already sent.
    pub(crate) async fn collect(&mut self, id: RequestId) -> Result<Vec<QueryResult>> {
        self.read(QueryReader::for_request(id, Collector::default()))
            .await
    }

    /// Reads a request to its end through one of the core's readers (a query's
    /// statement cache retry and COPY rule, a COPY's start). Cancel-safe: the
    /// session keeps the request tracked, and the statement it prepares noted,
    /// until it ends, so a dropped future is settled.
    pub(crate) async fn read<Rd: Reader>(&mut self, mut reader: Rd) -> Result<Rd::Output> {
        loop {
            let origin = self.origin;
            let now = move || Timestamp::from_since_origin(origin.elapsed());
            if let ReadStep::Done(r) = self.session.read(&mut reader, now) {
                return r.map_err(Error::from);
            }
            self.pump().await?;
        }
    }

    /// Runs statements with the simple protocol (values as text).
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<QueryResult>> {
        self.settle().await?;
        let reader = QueryReader::simple(self.proto(), sql)?;
        self.read(reader).await
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
        one_row(self.query(sql, params).await?).map_err(|found| Error::RowCount { found })
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
        let (proto, cache, _) = self.session.parts();
        let reader = QueryReader::send(proto, cache, sql, encoded)?;
        Ok(self.read(reader).await?.pop().unwrap_or_default())
    }

    pub(crate) fn send_unnamed(&mut self, sql: &str, encoded: &EncodedParams) -> Result<RequestId> {
        Ok(statement_cache::send_unnamed(self.proto(), sql, encoded)?)
    }

    /// Prepares a named statement.
    pub async fn prepare(&mut self, sql: &str) -> Result<Statement> {
        self.settle().await?;
        let (proto, cache, _) = self.session.parts();
        let reader = PrepareReader::send(proto, cache, sql, None)?;
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
        let id = execute_prepared(self.proto(), stmt, &encoded)?;
        Ok(self
            .collect(id)
            .await?
            .pop()
            .map(|r| r.rows)
            .unwrap_or_default())
    }

    /// Several statements sent in one write, answered in order, an error per
    /// item: each statement is its own Sync group (see
    /// [`pipeline_groups`](Self::pipeline_groups)).
    pub async fn pipeline(
        &mut self,
        items: &[(&str, &[&(dyn ToSql + Sync)])],
    ) -> Result<Vec<Result<QueryResult>>> {
        self.run_pipeline(&[items], SyncMode::EachStatement).await
    }

    /// Statements in Sync groups, all sent in one write, answered in order with
    /// one outcome per statement. Without an explicit `BEGIN` the statements of
    /// one group run as one implicit transaction: an error rolls back the
    /// earlier statements of its group, the rest of the group is skipped (each
    /// [`Error::UnexpectedResult`] naming it), and the next group runs. A
    /// dropped future leaves the pipeline to the [`DropPolicy`].
    pub async fn pipeline_groups(
        &mut self,
        groups: &[&[(&str, &[&(dyn ToSql + Sync)])]],
    ) -> Result<Vec<Result<QueryResult>>> {
        self.run_pipeline(groups, SyncMode::Explicit).await
    }

    async fn run_pipeline(
        &mut self,
        groups: &[&[(&str, &[&(dyn ToSql + Sync)])]],
        mode: SyncMode,
    ) -> Result<Vec<Result<QueryResult>>> {
        self.settle().await?;
        let mut pipeline = Pipeline::new(mode);
        // Per statement: the error that kept it from being sent, if any.
        let mut unsent = Vec::new();
        for group in groups {
            for (sql, params) in group.iter() {
                let sent = encode(params, None)
                    .and_then(|encoded| Ok(pipeline.query(self.proto(), sql, &encoded)?));
                unsent.push(sent.err());
            }
            pipeline.sync(self.proto())?;
        }
        pipeline.finish(self.proto())?;
        // Dropped, every request of the pipeline is abandoned when settled.
        let range = pipeline.requests().next().zip(pipeline.requests().last());
        if let Some((first, last)) = range {
            self.session.track_range(first, last);
        }
        self.flush().await?;
        let mut out = Vec::with_capacity(unsent.len());
        for pre in unsent {
            if let Some(e) = pre {
                out.push(Err(e));
                continue;
            }
            let item = loop {
                let (proto, cache, inbox) = self.session.parts();
                match pipeline.poll(proto, cache, inbox) {
                    PipelineStep::NeedIo => self.pump().await?,
                    PipelineStep::Item(item) => break item,
                    _ => return Err(Error::ConnectionLost("the pipeline ended early".into())),
                }
            };
            match item {
                Err(e) if !item_error_is_contained(&e) => return Err(e.into()),
                item => out.push(item.map_err(Error::from)),
            }
        }
        if let Some((first, last)) = range {
            self.session.untrack_range(first, last);
        }
        Ok(out)
    }

    /// Runs `sql` once per row of `rows`, parsed once and sent in one stream of
    /// Bind/Execute, with a Sync after every `chunk` rows (at least 1); returns
    /// the rows affected in all. All or nothing: outside a transaction it runs
    /// in one of its own; inside yours, an error aborts yours. The first error
    /// is returned. Every row binds to the parameter types of the first.
    pub async fn execute_many(
        &mut self,
        sql: &str,
        rows: &[&[&(dyn ToSql + Sync)]],
        chunk: usize,
    ) -> Result<u64> {
        self.settle().await?;
        let encoded = rows
            .iter()
            .map(|row| encode(row, None))
            .collect::<Result<Vec<_>>>()?;
        let many = ExecuteMany::send(self.proto(), sql, &encoded, chunk)?;
        // Dropped, every request of it is abandoned when settled.
        let range = many.requests();
        if let Some((first, last)) = range {
            self.session.track_range(first, last);
        }
        let rows = self.read(many).await;
        if let Some((first, last)) = range {
            self.session.untrack_range(first, last);
        }
        rows
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
            self.session.protocol().cancel_request()?,
            self.cancel_tls.clone(),
        ))
    }

    /// Waits for a notification while idle; `Ok(None)` after `timeout`.
    pub async fn wait_for_notification(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<Notification>> {
        self.settle().await?;
        if let Some(n) = self.session.inbox_mut().pop_notification() {
            return Ok(Some(n));
        }
        let wait = async {
            loop {
                self.take_events(&mut |_| None::<()>)?;
                if let Some(n) = self.session.inbox_mut().pop_notification() {
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
        self.session.inbox_mut().drain_notifications().collect()
    }

    /// Notices and warnings received so far.
    pub fn take_notices(&mut self) -> Vec<ServerError> {
        self.session.inbox_mut().take_notices().collect()
    }

    /// The transaction status after the last request.
    pub fn transaction_status(&self) -> TransactionStatus {
        self.session.protocol().transaction_status()
    }

    /// A server parameter.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.session.protocol().parameter(name)
    }

    /// Whether the server is Hyper.
    pub fn is_hyper(&self) -> bool {
        self.session.protocol().is_hyper()
    }

    /// The protocol version in use.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.session.protocol().protocol_version()
    }

    /// Whether the connection can still be used.
    pub fn is_healthy(&self) -> bool {
        self.session.protocol().is_healthy()
    }

    /// Sends Terminate and closes the socket.
    pub async fn close(mut self) -> Result<()> {
        self.proto().terminate();
        let (io, proto) = (&mut self.io, self.session.protocol_mut());
        poll_fn(|cx| io::poll_close(io, proto, cx))
            .await
            .map_err(Error::from)
    }
}

/// Runs `step` for at most `left` (a timeout is not an error: the session
/// judges its deadlines on the next `settle`).
async fn at_most<R: Runtime, F: std::future::Future<Output = Result<()>>>(
    left: Option<Duration>,
    step: F,
) -> Result<()> {
    match left {
        None => step.await,
        Some(left) => runtime::timeout::<R, _>(left, step).await.unwrap_or(Ok(())),
    }
}
