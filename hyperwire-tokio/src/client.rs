//! [`Client`]: a `Clone + Send + Sync` handle that many tasks share, pipelined over
//! one connection by a [`Driver`] future the caller spawns.
//!
//! Requests from all tasks go out in the order they arrive, as many at a time as
//! the in-flight bound allows, written together; answers are routed back by the
//! core's request FIFO. A task that drops its future leaves nothing behind: the
//! driver abandons the request in the core, which discards its answers.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyperwire_proto::result::{Collector, QueryResult};
use hyperwire_proto::statement_cache::send_unnamed;
use hyperwire_proto::value::{EncodedParams, ToSql};
use hyperwire_proto::{Event, RequestId};
use tokio::sync::{mpsc, oneshot};

use crate::connection::{encode, Connection};
use crate::error::{Error, Result};
use crate::io;

/// How many requests the driver keeps in flight at most (the queue of waiting
/// requests is bounded too: callers wait for room).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// Where a request's answer goes (`None` once its caller went away).
type Reply = oneshot::Sender<Result<QueryResult>>;

struct Command {
    sql: String,
    params: EncodedParams,
    reply: Reply,
}

/// A shared handle to one connection. Clone it into every task.
#[derive(Clone, Debug)]
pub struct Client {
    tx: mpsc::Sender<Command>,
}

/// Drives the connection behind a [`Client`]: spawn it (`tokio::spawn(driver)`).
/// It ends, with the connection's error if any, when every `Client` is dropped
/// and every request answered, or when the connection fails.
#[must_use = "the driver must be spawned for the client to make progress"]
pub struct Driver {
    conn: Connection,
    rx: mpsc::Receiver<Command>,
    /// Requests in flight: their collector and where the answer goes.
    pending: HashMap<RequestId, (Collector, Option<Reply>)>,
    max_in_flight: usize,
    closed: bool,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("in_flight", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client over `conn`, with its driver.
    pub fn new(conn: Connection) -> (Client, Driver) {
        Client::with_max_in_flight(conn, DEFAULT_MAX_IN_FLIGHT)
    }

    /// The same, with another in-flight bound.
    pub fn with_max_in_flight(conn: Connection, max_in_flight: usize) -> (Client, Driver) {
        let max = max_in_flight.max(1);
        let (tx, rx) = mpsc::channel(max);
        (
            Client { tx },
            Driver {
                conn,
                rx,
                pending: HashMap::new(),
                max_in_flight: max,
                closed: false,
            },
        )
    }

    /// Connects and returns the client and its driver.
    pub async fn connect(conninfo: &str) -> Result<(Client, Driver)> {
        Ok(Client::new(Connection::connect(conninfo).await?))
    }

    /// Runs one statement with parameters (the unnamed statement, pipelined with
    /// the other tasks' requests) and returns its result.
    pub async fn query_result(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<QueryResult> {
        let params = encode(params, None)?;
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command {
                sql: sql.to_owned(),
                params,
                reply,
            })
            .await
            .map_err(|_| Error::UnexpectedResult("the connection's driver has stopped"))?;
        answer
            .await
            .map_err(|_| Error::UnexpectedResult("the connection's driver has stopped"))?
    }

    /// The rows of one statement.
    pub async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<hyperwire_proto::result::Row>> {
        Ok(self.query_result(sql, params).await?.rows)
    }

    /// Whether the driver is still running.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl Driver {
    /// Takes new commands while there is room in flight.
    fn accept(&mut self, cx: &mut Context<'_>) -> Result<()> {
        while !self.closed && self.pending.len() < self.max_in_flight {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(cmd)) => {
                    if cmd.reply.is_closed() {
                        continue;
                    }
                    match send_unnamed(&mut self.conn.proto, &cmd.sql, &cmd.params) {
                        Ok(id) => {
                            self.pending
                                .insert(id, (Collector::default(), Some(cmd.reply)));
                        }
                        Err(e) => {
                            let fatal = !self.conn.proto.is_healthy();
                            let _ = cmd.reply.send(Err(e.clone().into()));
                            if fatal {
                                return Err(e.into());
                            }
                        }
                    }
                }
                Poll::Ready(None) => self.closed = true,
                Poll::Pending => break,
            }
        }
        Ok(())
    }

    /// Routes the events received so far.
    fn route(&mut self) -> Result<()> {
        let pending = &mut self.pending;
        let mut finished = Vec::new();
        self.conn.take_events(&mut |ev: &Event<'_>| {
            let id = match ev {
                Event::Done { request } => {
                    finished.push(*request);
                    *request
                }
                Event::RowDescription { request, .. }
                | Event::DataRow { request, .. }
                | Event::CommandComplete { request, .. }
                | Event::EmptyQuery { request }
                | Event::ServerError { request, .. }
                | Event::Skipped { request }
                | Event::CopyInStart { request, .. }
                | Event::CopyOutStart { request, .. } => *request,
                _ => return None::<()>,
            };
            if let Some((collector, _)) = pending.get_mut(&id) {
                collector.on_event(ev);
            }
            None
        })?;
        for id in finished {
            if let Some((collector, Some(reply))) = self.pending.remove(&id) {
                let result = if collector.saw_copy() {
                    Err(Error::UnexpectedResult(
                        "COPY needs a Connection, not a Client",
                    ))
                } else {
                    collector
                        .finish()
                        .map(|mut r| r.pop().unwrap_or_default())
                        .map_err(Error::from)
                };
                let _ = reply.send(result);
            }
        }
        Ok(())
    }

    /// Abandons requests whose callers went away: the core discards their answers.
    fn forget_dropped(&mut self) {
        for (id, (_, reply)) in self.pending.iter_mut() {
            if reply.as_ref().is_some_and(|r| r.is_closed()) {
                *reply = None;
                self.conn.proto.abandon(*id);
            }
        }
        // Abandoned requests end without a Done event: forget them now.
        self.pending.retain(|_, (_, reply)| reply.is_some());
    }

    fn fail_all(&mut self, e: &Error) {
        for (_, (_, reply)) in self.pending.drain() {
            if let Some(r) = reply {
                let _ = r.send(Err(Error::UnexpectedResult(if matches!(e, Error::Io(_)) {
                    "the connection failed"
                } else {
                    "the connection is unusable"
                })));
            }
        }
    }
}

impl Future for Driver {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        loop {
            let step = (|| -> Result<bool> {
                this.accept(cx)?;
                this.forget_dropped();
                this.route()?;
                if this.closed && this.pending.is_empty() {
                    return Ok(true);
                }
                Ok(false)
            })();
            match step {
                Ok(true) => {
                    this.conn.proto.terminate();
                    let (io, proto) = (&mut this.conn.io, &mut this.conn.proto);
                    return io::poll_close(io, proto, cx).map(|r| r.map_err(Error::from));
                }
                Ok(false) => {}
                Err(e) => {
                    this.fail_all(&e);
                    return Poll::Ready(Err(e));
                }
            }
            // Wait for the server (or, idle, for a command: accept registered that).
            match io::poll_pump(&mut this.conn.io, &mut this.conn.proto, cx) {
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
