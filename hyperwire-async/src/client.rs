//! [`Client`]: a `Clone + Send + Sync` handle that many tasks share, pipelined over
//! one connection by a [`Driver`] future the caller spawns.
//!
//! Requests from all tasks go out in the order they arrive, as many at a time as
//! the in-flight bound allows, written together; answers are routed back by the
//! core's request FIFO. A task that drops its future leaves no answer behind:
//! the driver abandons the request in the core, which discards its answers. It
//! is not cancelled (other tasks' requests share the session and would be hit):
//! a long query keeps the requests behind it waiting until it ends, so for those
//! use [`Client::cancel_token`] or a [`Connection`] with its `DropPolicy`.
//! An abandoned request's rows count against the core's drain budget; beyond it
//! the connection is desynchronized and every task gets the error.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_channel::{mpsc, oneshot};
use futures_core::Stream;
use hyperwire_proto::engine::{Feed, QueryReader, ReadStep};
use hyperwire_proto::result::QueryResult;
use hyperwire_proto::statement_cache::StatementPolicy;
use hyperwire_proto::value::{EncodedParams, ToSql};
use hyperwire_proto::Event;

use crate::connection::{encode, Connection};
use crate::error::{Error, Result};
use crate::in_flight::InFlight;
use crate::io;
use crate::notifications::{Notifications, Subscribers, DEFAULT_NOTIFICATION_CAPACITY};
use crate::runtime::Runtime;

/// How many requests the driver keeps in flight at most, abandoned ones
/// included. Callers beyond that wait in the channel (one queued command per
/// waiting caller, so memory follows the number of callers, not the load).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// Where a request's answer goes.
type Reply = oneshot::Sender<Result<QueryResult>>;

struct Command {
    sql: String,
    params: EncodedParams,
    reply: Reply,
    /// Sent with the simple protocol (statements without parameters, no cache).
    simple: bool,
}

/// A shared handle to one connection. Clone it into every task.
pub struct Client<R> {
    tx: mpsc::Sender<Command>,
    /// How many callers dropped their request before its answer: the driver
    /// looks for them only when this moved.
    dropped: Arc<AtomicU64>,
    cancel: Option<crate::CancelToken<R>>,
    subscribers: Subscribers,
    runtime: PhantomData<fn() -> R>,
}

impl<R> Clone for Client<R> {
    fn clone(&self) -> Self {
        Client {
            tx: self.tx.clone(),
            dropped: Arc::clone(&self.dropped),
            cancel: self.cancel.clone(),
            subscribers: self.subscribers.clone(),
            runtime: PhantomData,
        }
    }
}

impl<R> std::fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("closed", &self.tx.is_closed())
            .finish_non_exhaustive()
    }
}

/// Drives the connection behind a [`Client`]: spawn it on the runtime
/// (`tokio::spawn(driver)`, `async_std::task::spawn(driver)`).
/// It ends, with the connection's error if any, when every `Client` is dropped
/// and every request answered, or when the connection fails.
#[must_use = "the driver must be spawned for the client to make progress"]
pub struct Driver<R: Runtime> {
    conn: Connection<R>,
    rx: mpsc::Receiver<Command>,
    /// Requests in flight.
    pending: InFlight<Pending>,
    /// The callers' count of dropped requests, and the value last acted on.
    dropped: Arc<AtomicU64>,
    dropped_seen: u64,
    max_in_flight: usize,
    closed: bool,
    subscribers: Subscribers,
}

/// One request in flight.
struct Pending {
    /// The core's reader: results, the statement cache's retry, the COPY rule.
    reader: QueryReader,
    reply: Reply,
}

impl<R: Runtime> std::fmt::Debug for Driver<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("in_flight", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Client<R> {
    /// A client over `conn`, with its driver.
    pub fn new(conn: Connection<R>) -> (Client<R>, Driver<R>) {
        Client::with_max_in_flight(conn, DEFAULT_MAX_IN_FLIGHT)
    }

    /// The same, with another in-flight bound.
    pub fn with_max_in_flight(conn: Connection<R>, max_in_flight: usize) -> (Client<R>, Driver<R>) {
        Client::with_options(conn, max_in_flight, StatementPolicy::default())
    }

    /// The same, with another in-flight bound and statement policy (PgBouncer in
    /// transaction mode: [`StatementPolicy::Unnamed`]).
    pub fn with_options(
        mut conn: Connection<R>,
        max_in_flight: usize,
        policy: StatementPolicy,
    ) -> (Client<R>, Driver<R>) {
        conn.set_statement_policy(policy);
        let max = max_in_flight.max(1);
        let (tx, rx) = mpsc::channel(max);
        let dropped = Arc::new(AtomicU64::new(0));
        let cancel = conn.cancel_token().ok();
        let subscribers = Subscribers::default();
        (
            Client {
                tx,
                dropped: Arc::clone(&dropped),
                cancel,
                subscribers: subscribers.clone(),
                runtime: PhantomData,
            },
            Driver {
                conn,
                rx,
                pending: InFlight::default(),
                dropped,
                dropped_seen: 0,
                max_in_flight: max,
                closed: false,
                subscribers,
            },
        )
    }

    /// Connects and returns the client and its driver.
    pub async fn connect(conninfo: &str) -> Result<(Client<R>, Driver<R>)> {
        Ok(Client::new(Connection::<R>::connect(conninfo).await?))
    }

    /// Runs one statement with parameters, pipelined with the other tasks'
    /// requests, through the driver's statement cache (named statements: after the
    /// first run only Bind, Execute and Sync go out).
    pub async fn query_result(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<QueryResult> {
        let params = encode(params, None)?;
        self.submit(sql, params, false).await
    }

    /// Runs statements with the simple protocol (no parameters, no statement
    /// cache), ignoring rows: `LISTEN`, `SET`, several statements at once.
    pub async fn batch_execute(&self, sql: &str) -> Result<()> {
        self.submit(sql, EncodedParams::default(), true)
            .await
            .map(drop)
    }

    async fn submit(&self, sql: &str, params: EncodedParams, simple: bool) -> Result<QueryResult> {
        let (reply, answer) = oneshot::channel();
        let stopped = || Error::UnexpectedResult("the connection's driver has stopped");
        // A sender of our own: waiting for room needs `&mut` (a bounded
        // channel, so that callers who time out while the driver is full do
        // not pile up commands).
        let mut tx = self.tx.clone();
        std::future::poll_fn(|cx| tx.poll_ready(cx))
            .await
            .map_err(|_| stopped())?;
        tx.start_send(Command {
            sql: sql.to_owned(),
            params,
            reply,
            simple,
        })
        .map_err(|_| stopped())?;
        let mut answer = Answer {
            answer: Some(answer),
            dropped: &self.dropped,
        };
        let got = std::future::poll_fn(|cx| answer.poll(cx)).await;
        got.map_err(|_| stopped())?
    }

    /// The rows of one statement.
    pub async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<hyperwire_proto::result::Row>> {
        Ok(self.query_result(sql, params).await?.rows)
    }

    /// A stream of the notifications (`LISTEN`) the connection receives from now
    /// on, idle or busy; it holds [`DEFAULT_NOTIFICATION_CAPACITY`] before it
    /// drops (and counts) new ones.
    pub fn notifications(&self) -> Notifications {
        self.subscribers.subscribe(DEFAULT_NOTIFICATION_CAPACITY)
    }

    /// The same, holding at most `capacity` notifications.
    pub fn notifications_with_capacity(&self, capacity: usize) -> Notifications {
        self.subscribers.subscribe(capacity)
    }

    /// A token that cancels the request the server is running now (whichever
    /// task sent it); `None` if the server gave no cancel key.
    pub fn cancel_token(&self) -> Option<crate::CancelToken<R>> {
        self.cancel.clone()
    }

    /// Whether the driver is still running.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// A caller's wait for its answer. Dropped before the answer came, it counts
/// itself in `dropped` (after letting go of the receiver, so the driver that
/// sees the count also sees the request cancelled).
struct Answer<'a> {
    answer: Option<oneshot::Receiver<Result<QueryResult>>>,
    dropped: &'a AtomicU64,
}

impl Answer<'_> {
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<std::result::Result<Result<QueryResult>, oneshot::Canceled>> {
        let Some(answer) = self.answer.as_mut() else {
            return Poll::Ready(Err(oneshot::Canceled));
        };
        let got = std::task::ready!(Pin::new(answer).poll(cx));
        self.answer = None;
        Poll::Ready(got)
    }
}

impl Drop for Answer<'_> {
    fn drop(&mut self) {
        if let Some(answer) = self.answer.take() {
            drop(answer);
            self.dropped.fetch_add(1, Ordering::Release);
        }
    }
}

impl<R: Runtime> Driver<R> {
    /// Sends a command through the statement cache (or as a simple Query).
    fn send(&mut self, command: Command) -> Result<()> {
        let Command {
            sql,
            params,
            reply,
            simple,
        } = command;
        let (proto, cache, _) = self.conn.session.parts();
        let sent = if simple {
            QueryReader::simple(proto, &sql)
        } else {
            QueryReader::send(proto, cache, &sql, params)
        };
        match sent {
            Ok(reader) => {
                self.pending
                    .insert(reader.request(), Pending { reader, reply });
                Ok(())
            }
            Err(e) => {
                let fatal = !self.conn.session.protocol_mut().is_healthy();
                let _ = reply.send(Err(e.clone().into()));
                if fatal {
                    return Err(e.into());
                }
                Ok(())
            }
        }
    }

    /// Takes new commands while there is room in flight. Returns with the
    /// channel polled to `Pending` (this task's waker registered there), closed,
    /// or the bound reached (no waker in the channel: routing answers must be
    /// followed by another call, see `poll`).
    fn accept(&mut self, cx: &mut Context<'_>) -> Result<()> {
        // Abandoned requests still answering count too: the core holds them.
        while !self.closed
            && self.conn.session.protocol_mut().pending_responses() < self.max_in_flight
        {
            match Pin::new(&mut self.rx).poll_next(cx) {
                Poll::Ready(Some(cmd)) => {
                    if !cmd.reply.is_canceled() {
                        self.send(cmd)?;
                    }
                }
                Poll::Ready(None) => self.closed = true,
                Poll::Pending => break,
            }
        }
        Ok(())
    }

    /// Routes the events received so far to their readers.
    fn route(&mut self) -> Result<()> {
        loop {
            let pending = &mut self.pending;
            // Events outside any request, or of a dropped caller's, concern no one.
            let ended = self.conn.take_events(&mut |ev: &Event<'_>| {
                let id = ev.request()?;
                // A COPY IN is failed by the connection (no call here feeds one).
                (pending.get_mut(id)?.reader.on_event(ev) == Feed::End).then_some(id)
            })?;
            let Some(id) = ended else {
                return Ok(());
            };
            let Some(mut p) = self.pending.remove(id) else {
                continue;
            };
            let (proto, cache, _) = self.conn.session.parts();
            match p.reader.finish(proto, cache) {
                ReadStep::Done(r) => {
                    let result = r.map(|mut results| results.pop().unwrap_or_default());
                    let _ = p.reply.send(result.map_err(Error::from));
                }
                _ => {
                    // Sent again (a stale cached statement): under its new id.
                    self.pending.insert(p.reader.request(), p);
                }
            }
        }
    }

    /// Abandons requests whose callers went away: the core discards their answers.
    fn forget_dropped(&mut self) {
        // Only when a caller dropped a request since the last look.
        let dropped = self.dropped.load(Ordering::Acquire);
        if dropped == self.dropped_seen {
            return;
        }
        self.dropped_seen = dropped;
        // Abandoned requests end without a Done event: forget them now.
        let (proto, cache, _) = self.conn.session.parts();
        self.pending.retain(|id, p| {
            if p.reply.is_canceled() {
                proto.abandon(id);
                p.reader.abandon(cache);
                false
            } else {
                true
            }
        });
    }

    /// Hands the notifications received so far to the streams.
    fn deliver_notifications(&mut self) {
        for n in self.conn.take_notifications() {
            self.subscribers.deliver(n);
        }
    }

    fn fail_all(&mut self, e: &Error) {
        self.subscribers.end(Some(e.to_string()));
        for (_, p) in self.pending.drain() {
            let _ = p.reply.send(Err(Error::ConnectionLost(e.to_string())));
        }
    }
}

impl<R: Runtime> Drop for Driver<R> {
    fn drop(&mut self) {
        // Streams whose driver stopped without finishing (its task was dropped).
        self.subscribers
            .end(Some("the connection's driver was dropped".to_owned()));
    }
}

impl<R: Runtime> Future for Driver<R> {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        loop {
            let step = (|| -> Result<bool> {
                this.forget_dropped();
                this.route()?;
                this.deliver_notifications();
                // Accept after routing: the answers just routed may have
                // freed room in flight. At the bound `accept` does not poll
                // the channel, so no waker is left there; run before routing,
                // it would miss the room freed by the last answers, and
                // `poll_pump` would then wait for a server that owes nothing
                // while callers wait in the channel (the lost wake-up). Now,
                // when we return `Pending` below, `accept` has either polled
                // the channel to `Pending` (a new command wakes us) or met the
                // bound (requests in flight: their answers wake us through
                // the socket).
                this.accept(cx)?;
                if this.closed && this.pending.is_empty() {
                    return Ok(true);
                }
                Ok(false)
            })();
            match step {
                Ok(true) => {
                    this.subscribers.end(None);
                    this.conn.session.protocol_mut().terminate();
                    let (io, proto) = (&mut this.conn.io, this.conn.session.protocol_mut());
                    return io::poll_close(io, proto, cx).map(|r| r.map_err(Error::from));
                }
                Ok(false) => {}
                Err(e) => {
                    this.fail_all(&e);
                    return Poll::Ready(Err(e));
                }
            }
            // Wait for the server (or, with room in flight, for a command:
            // accept registered that).
            match io::poll_pump(&mut this.conn.io, this.conn.session.protocol_mut(), cx) {
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(e)) => {
                    let e = Error::from(e);
                    this.fail_all(&e);
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// A model of the driver's wake-ups, without sockets: an in-memory server and
/// an executor that polls a task only after its waker was called, as a real
/// one does. Many more callers than the in-flight bound; if nothing is woken
/// while callers still wait, a wake-up was lost (the process would park).
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use std::collections::VecDeque;
    use std::io;
    use std::net::SocketAddr;
    use std::path::Path;
    use std::sync::atomic::AtomicBool;
    use std::sync::{Mutex, PoisonError};
    use std::task::{Wake, Waker};
    use std::time::Duration;

    use hyperwire_proto::{Protocol, Settings};

    use super::*;
    use crate::connect::Target;
    use crate::io::Io;
    use crate::runtime::Socket;

    /// The answer to each Query: CommandComplete "SET", ReadyForQuery idle.
    const ANSWER: &[u8] = b"C\0\0\0\x08SET\0Z\0\0\0\x05I";

    /// The server's side of the wire.
    #[derive(Default)]
    struct Wire {
        /// Bytes the driver wrote, not yet read by the server.
        written: Vec<u8>,
        /// Answers the server owes but has not sent yet.
        owed: VecDeque<&'static [u8]>,
        /// Answers sent, for the driver to read.
        readable: Vec<u8>,
        /// The driver's read waker.
        reader: Option<Waker>,
        queries: usize,
    }

    impl Wire {
        /// Reads the complete messages written; owes an answer to each Query.
        fn take_messages(&mut self) {
            while self.written.len() >= 5 {
                let len = u32::from_be_bytes(self.written[1..5].try_into().unwrap()) as usize;
                if self.written.len() < 1 + len {
                    break;
                }
                let message: Vec<u8> = self.written.drain(..1 + len).collect();
                if message[0] == b'Q' {
                    self.queries += 1;
                    self.owed.push_back(ANSWER);
                }
            }
        }

        /// Sends up to `n` owed answers at once, waking the reader.
        fn answer(&mut self, n: usize) {
            self.take_messages();
            let mut sent = 0;
            while sent < n {
                let Some(answer) = self.owed.pop_front() else {
                    break;
                };
                self.readable.extend_from_slice(answer);
                sent += 1;
            }
            if sent > 0 {
                if let Some(w) = self.reader.take() {
                    w.wake();
                }
            }
        }

        /// Answers owed or sent but not read yet.
        fn unanswered(&self) -> usize {
            self.owed.len() + self.readable.len() / ANSWER.len()
        }
    }

    struct ModelSocket(Arc<Mutex<Wire>>);

    impl ModelSocket {
        fn wire(&self) -> std::sync::MutexGuard<'_, Wire> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    impl Socket for ModelSocket {
        fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
            let mut wire = self.wire();
            if wire.readable.is_empty() {
                wire.reader = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let n = buf.len().min(wire.readable.len());
            buf[..n].copy_from_slice(&wire.readable[..n]);
            wire.readable.drain(..n);
            Poll::Ready(Ok(n))
        }
        fn poll_write(&mut self, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            self.wire().written.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn tls(&self) -> Option<&rustls::ClientConnection> {
            None
        }
        fn is_tcp(&self) -> bool {
            false
        }
    }

    struct Model;

    impl Runtime for Model {
        type Socket = ModelSocket;
        type Sleep = std::future::Pending<()>;
        async fn connect_tcp(_: &str, _: u16) -> io::Result<(ModelSocket, SocketAddr)> {
            Err(io::ErrorKind::Unsupported.into())
        }
        async fn connect_addr(_: SocketAddr) -> io::Result<ModelSocket> {
            Err(io::ErrorKind::Unsupported.into())
        }
        async fn connect_unix(_: &Path) -> io::Result<ModelSocket> {
            Err(io::ErrorKind::Unsupported.into())
        }
        async fn start_tls(
            _: ModelSocket,
            _: &hyperwire_tls::TlsSetup,
        ) -> std::result::Result<ModelSocket, String> {
            Err("no TLS in the model".into())
        }
        fn sleep(_: Duration) -> Self::Sleep {
            std::future::pending()
        }
    }

    /// A waker that notes it was called.
    #[derive(Default)]
    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    impl Flag {
        fn take(&self) -> bool {
            self.0.swap(false, Ordering::SeqCst)
        }
    }

    /// A connection past its startup, over the model wire.
    fn connection(wire: &Arc<Mutex<Wire>>) -> Connection<Model> {
        let mut proto = Protocol::new(Settings::new("u"));
        let startup = proto.pending_send().len();
        proto.advance_send(startup);
        // AuthenticationOk, ReadyForQuery idle.
        proto.receive(b"R\0\0\0\x08\0\0\0\0Z\0\0\0\x05I");
        while proto.poll_event().is_some() {}
        let socket = ModelSocket(Arc::clone(wire));
        Connection::new(Io::new(socket), proto, Target::Unix("/model".into()))
    }

    /// `callers` commands through a driver bounded at `max` in flight, the
    /// server sending at most `per_round` answers between two executor rounds.
    fn run(callers: usize, max: usize, per_round: usize) {
        let wire = Arc::new(Mutex::new(Wire::default()));
        let (client, mut driver) = Client::with_max_in_flight(connection(&wire), max);
        let driver_flag = Arc::new(Flag::default());
        let driver_waker = Waker::from(Arc::clone(&driver_flag));
        let mut tasks: Vec<_> = (0..callers)
            .map(|_| {
                let flag = Arc::new(Flag::default());
                let fut: Pin<Box<dyn Future<Output = Result<()>> + '_>> =
                    Box::pin(client.batch_execute("SET a = 1"));
                (Some(fut), Waker::from(Arc::clone(&flag)), flag)
            })
            .collect();
        // Everything is polled once first, then only what was woken.
        for (_, _, flag) in &tasks {
            flag.wake_by_ref();
        }
        driver_flag.wake_by_ref();
        let mut done = 0;
        while done < callers {
            // An executor parks when no task was woken: for good, here.
            let woken = driver_flag.0.load(Ordering::SeqCst)
                || tasks
                    .iter()
                    .any(|(_, _, flag)| flag.0.load(Ordering::SeqCst));
            if !woken {
                let w = wire.lock().unwrap();
                panic!(
                    "lost wake-up: nothing woken, {} of {callers} callers waiting, \
                     the server got {} queries and owes {} answers",
                    callers - done,
                    w.queries,
                    w.unanswered()
                );
            }
            for (fut, waker, flag) in &mut tasks {
                if flag.take() {
                    let f = fut.as_mut().expect("a finished caller was woken");
                    if let Poll::Ready(r) = f.as_mut().poll(&mut Context::from_waker(waker)) {
                        r.unwrap();
                        *fut = None;
                        done += 1;
                    }
                }
            }
            if driver_flag.take() {
                let got = Pin::new(&mut driver).poll(&mut Context::from_waker(&driver_waker));
                assert!(got.is_pending(), "the driver ended early: {got:?}");
            }
            wire.lock().unwrap().answer(per_round);
        }
        assert_eq!(wire.lock().unwrap().queries, callers);
        assert!(driver.pending.is_empty());
        // The last client gone, the driver (woken by the channel) ends.
        drop(tasks);
        drop(client);
        assert!(
            driver_flag.take(),
            "the closed channel did not wake the driver"
        );
        let got = Pin::new(&mut driver).poll(&mut Context::from_waker(&driver_waker));
        assert!(matches!(got, Poll::Ready(Ok(()))), "{got:?}");
    }

    #[test]
    fn every_caller_beyond_the_bound_is_served_when_answers_come_at_once() {
        // The server answers all that is in flight together: the driver routes
        // them and must then take the waiting commands itself (no socket or
        // channel wake-up is coming).
        for max in [1, 2, 4] {
            run(10 * max + 3, max, usize::MAX);
        }
    }

    #[test]
    fn every_caller_beyond_the_bound_is_served_when_answers_trickle() {
        for (max, per_round) in [(1, 1), (4, 1), (4, 3)] {
            run(10 * max + 3, max, per_round);
        }
    }
}
