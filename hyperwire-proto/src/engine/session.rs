//! [`Session`]: one connection above the message level — the machine, its
//! statement cache and inbox, the requests whose callers may still give up on
//! them, the request timeout and the [`AbandonPolicy`] — so that waiting,
//! timing out and giving up are decided here once and every adapter only moves
//! bytes, reads its clock and sends the cancels it is asked to send.
//!
//! A request's life in an adapter:
//! 1. [`Session::settle`] until [`SettleStep::Ready`]: requests abandoned
//!    earlier (a dropped future, a timeout) are dealt with first, as the policy
//!    says, so the next request always gets its own answers;
//! 2. send it through a reader, then [`Session::read`] until `Done`, moving
//!    bytes on `NeedIo` and waiting at most until [`Session::poll_timeout`];
//! 3. past the deadline `read` gives [`RequestError::TimedOut`] and the request
//!    is abandoned: step 1 runs again.

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use crate::engine::policy::{AbandonPolicy, CLOSE_FLUSH_LIMIT, DRAIN_GRACE};
use crate::engine::{ReadStep, Reader, RequestError, Timestamp, COPY_NOT_EXPECTED};
use crate::error::{ClosedReason, Error};
use crate::inbox::Inbox;
use crate::machine::{Event, Protocol, RequestId};
use crate::statement_cache::{StatementCache, StatementPolicy};

/// One connection's session state above the machine.
#[derive(Debug)]
pub struct Session {
    proto: Protocol,
    cache: StatementCache,
    inbox: Inbox,
    policy: AbandonPolicy,
    request_timeout: Option<Duration>,
    /// When the current wait for the server ends (request timeout armed by
    /// [`Session::start_wait`]).
    deadline: Option<Timestamp>,
    /// Requests whose callers have not had their whole answer yet, as ranges
    /// of ids (a pipeline's requests are consecutive): if those callers give
    /// up, these are what [`Session::abandon`] abandons.
    in_flight: Vec<(RequestId, RequestId)>,
    /// The statement a request in flight prepares for the cache (SQL and
    /// declared types): the cache must not wait for it forever if its caller
    /// gives up.
    preparing: Option<(String, Vec<u32>)>,
    /// The request the reader in [`Session::read`] reads.
    reading: Option<RequestId>,
    /// A COPY FROM STDIN is expected: its caller sends the data.
    copy_in_expected: bool,
    /// Dealing with abandoned requests.
    settle: Settle,
}

/// Where dealing with abandoned requests stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settle {
    /// Nothing abandoned (or all of it dealt with).
    Idle,
    /// A CancelRequest must go out; then the connection is drained or closed.
    Cancel { then_close: bool },
    /// Reading the abandoned answers to their end (the machine discards them),
    /// until the deadline; past it the connection is closed.
    Drain { until: Option<Timestamp> },
    /// Terminate queued; writing it until the deadline.
    Close {
        until: Option<Timestamp>,
        why: Closed,
    },
}

/// What [`Session::settle`] asks the adapter to do.
#[derive(Debug)]
#[non_exhaustive]
pub enum SettleStep {
    /// Nothing (more) to settle: a new request may be sent.
    Ready,
    /// Write what is pending and read what arrives, waiting at most until
    /// [`Session::poll_timeout`]; then call `settle` again.
    Io,
    /// Write what is pending (Terminate), waiting at most until
    /// [`Session::poll_timeout`], without waiting for anything to read; then
    /// call `settle` again.
    Flush,
    /// Send a CancelRequest for this session ([`Protocol::cancel_request`]) and
    /// wait until the server closed the cancel connection (it acted on it), then
    /// call [`Session::cancel_finished`]. Nothing new may be sent meanwhile: a
    /// cancel that arrives late would hit the next request.
    Cancel,
    /// The connection was closed; it cannot be used any more.
    Closed(Closed),
    /// The connection failed while its abandoned answers were read.
    Failed(Error),
}

/// Why settling closed the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Closed {
    /// The policy closes the connection of an abandoned request.
    Policy(AbandonPolicy),
    /// The abandoned answers did not end within [`DRAIN_GRACE`].
    DrainTimedOut,
}

impl core::fmt::Display for Closed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Closed::Policy(p) => write!(f, "an abandoned request closed the connection ({p:?})"),
            Closed::DrainTimedOut => write!(
                f,
                "an abandoned request did not end within {}s: the connection was closed",
                DRAIN_GRACE.as_secs()
            ),
        }
    }
}

impl Session {
    /// A session over a ready machine. `name_seed` (random) prefixes the names
    /// of its prepared statements, so they are unique to this connection (a
    /// pooler may hand the server session to others).
    pub fn new(proto: Protocol, name_seed: u64) -> Session {
        Session {
            proto,
            cache: StatementCache::new(StatementPolicy::default()).with_random_prefix(name_seed),
            inbox: Inbox::default(),
            policy: AbandonPolicy::default(),
            request_timeout: None,
            deadline: None,
            in_flight: Vec::new(),
            preparing: None,
            reading: None,
            copy_in_expected: false,
            settle: Settle::Idle,
        }
    }

    /// The machine.
    pub fn protocol(&self) -> &Protocol {
        &self.proto
    }

    /// The machine, to send requests and move bytes.
    pub fn protocol_mut(&mut self) -> &mut Protocol {
        &mut self.proto
    }

    /// The statement cache.
    pub fn cache_mut(&mut self) -> &mut StatementCache {
        &mut self.cache
    }

    /// The machine, the statement cache and the inbox together (to send
    /// through the cache, or poll a reader that needs several).
    pub fn parts(&mut self) -> (&mut Protocol, &mut StatementCache, &mut Inbox) {
        (&mut self.proto, &mut self.cache, &mut self.inbox)
    }

    /// Notices, notifications and parameter changes received.
    pub fn inbox(&self) -> &Inbox {
        &self.inbox
    }

    /// The inbox, to take from it or set its handler.
    pub fn inbox_mut(&mut self) -> &mut Inbox {
        &mut self.inbox
    }

    /// How queries are sent; clears the cache.
    pub fn set_statement_policy(&mut self, policy: StatementPolicy) {
        self.cache.set_policy(policy);
    }

    /// What happens to requests whose callers give up on them.
    pub fn set_abandon_policy(&mut self, policy: AbandonPolicy) {
        self.policy = policy;
    }

    /// What happens to requests whose callers give up on them.
    pub fn abandon_policy(&self) -> AbandonPolicy {
        self.policy
    }

    /// How long one wait for the server may last (`None`: no limit).
    pub fn set_request_timeout(&mut self, timeout: Option<Duration>) {
        self.request_timeout = timeout;
    }

    // ---- time --------------------------------------------------------------

    /// A wait for the server starts now: the request timeout counts from here.
    /// `now` is called only if there is a timeout (a clock read is not free).
    pub fn start_wait(&mut self, now: impl FnOnce() -> Timestamp) {
        self.deadline = self.request_timeout.map(|t| now().saturating_add(t));
    }

    /// When the adapter must call back at the latest: the end of a settle step,
    /// or of the current wait.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match self.settle {
            Settle::Drain { until } | Settle::Close { until, .. } => until,
            Settle::Idle | Settle::Cancel { .. } => self.deadline,
        }
    }

    // ---- reading -------------------------------------------------------------

    /// Notes a request whose caller may give up on it.
    pub fn track(&mut self, id: RequestId) {
        self.track_range(id, id);
    }

    /// Notes the requests `first..=last` (a pipeline's) whose caller may give
    /// up on them: given up, every one of them is abandoned (hyperd answers a
    /// cancelled statement with a bare ReadyForQuery, which only an abandoned
    /// request may get).
    pub fn track_range(&mut self, first: RequestId, last: RequestId) {
        if !self.in_flight.contains(&(first, last)) {
            self.in_flight.push((first, last));
        }
    }

    /// How many requests (or ranges of a pipeline's requests) callers may
    /// still give up on.
    pub fn tracked(&self) -> usize {
        self.in_flight.len()
    }

    /// The request's caller has its whole answer.
    pub fn untrack(&mut self, id: RequestId) {
        self.untrack_range(id, id);
    }

    /// The caller of the requests `first..=last` (as tracked) has every answer.
    pub fn untrack_range(&mut self, first: RequestId, last: RequestId) {
        self.in_flight.retain(|range| *range != (first, last));
    }

    /// Reads `reader`'s request as far as the received bytes go. Past the
    /// deadline of [`start_wait`](Self::start_wait) the request is abandoned
    /// (see [`abandon`](Self::abandon)) and `Done(Err(TimedOut))` returned.
    ///
    /// `now` is called only while a deadline is armed.
    pub fn read<R: Reader>(
        &mut self,
        reader: &mut R,
        now: impl FnOnce() -> Timestamp,
    ) -> ReadStep<R::Output> {
        let id = reader.request();
        if self.reading != Some(id) {
            // A new request, or a retry under a new id.
            if let Some(old) = self.reading.replace(id) {
                self.untrack(old);
            }
            self.track(id);
            self.preparing = reader
                .preparing()
                .map(|(sql, types)| (sql.into(), types.into()));
        }
        match reader.poll(&mut self.proto, &mut self.cache, &mut self.inbox) {
            ReadStep::Done(r) => {
                // The id tracked, not the reader's now: a finished cached query
                // no longer names its request.
                if let Some(id) = self.reading.take() {
                    self.untrack(id);
                }
                self.preparing = None;
                ReadStep::Done(r)
            }
            _ if self.deadline.is_some_and(|d| now() >= d) => {
                self.abandon();
                ReadStep::Done(Err(RequestError::TimedOut))
            }
            step => step,
        }
    }

    /// Whether the current wait's deadline has passed (for waits that are not a
    /// reader's: a flush, a row batch).
    pub fn timed_out(&self, now: Timestamp) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }

    /// Hands every event already received to `f` until it returns `Some`;
    /// notices, notifications and parameter changes go to the inbox, a fatal
    /// error ends it with `Err`. A COPY FROM STDIN nobody expects (see
    /// [`expect_copy_in`](Self::expect_copy_in)) is failed at once, so the
    /// request ends instead of waiting for data forever.
    pub fn drive<T>(
        &mut self,
        mut f: impl FnMut(&Event<'_>) -> Option<T>,
    ) -> Result<Option<T>, Error> {
        let Session {
            proto,
            inbox,
            copy_in_expected,
            ..
        } = self;
        while let Some(ev) = proto.poll_event() {
            if inbox.take(&ev) {
                continue;
            }
            if let Event::Fatal(e) = ev {
                return Err(e);
            }
            let unexpected_copy_in = !*copy_in_expected && matches!(ev, Event::CopyInStart { .. });
            let out = f(&ev);
            if unexpected_copy_in {
                proto.copy_fail(COPY_NOT_EXPECTED)?;
            }
            if out.is_some() {
                return Ok(out);
            }
        }
        Ok(None)
    }

    /// Whether a COPY FROM STDIN met by [`drive`](Self::drive) is expected
    /// (its caller will send the data).
    pub fn expect_copy_in(&mut self, expected: bool) {
        self.copy_in_expected = expected;
    }

    // ---- giving up -----------------------------------------------------------

    /// Every request in flight is given up on, with the session's policy.
    pub fn abandon(&mut self) {
        self.abandon_with(self.policy);
    }

    /// Every request in flight is given up on, with `policy`: their answers
    /// are discarded by the machine (a COPY FROM STDIN is failed), and
    /// [`settle`](Self::settle) cancels, drains or closes as `policy` says.
    /// If none of them is still pending there is nothing to do.
    pub fn abandon_with(&mut self, policy: AbandonPolicy) {
        if let Some((sql, types)) = self.preparing.take() {
            self.cache.prepare_ended(&sql, &types);
        }
        self.reading = None;
        self.copy_in_expected = false;
        let mut pending = false;
        for (first, last) in core::mem::take(&mut self.in_flight) {
            for n in first.get()..=last.get() {
                pending |= self.proto.abandon(RequestId(n));
            }
        }
        if !pending {
            // Everything given up on had already ended: nothing to settle.
            return;
        }
        self.deadline = None;
        let next = match (policy.cancels(), policy.closes()) {
            (true, then_close) => Settle::Cancel { then_close },
            (false, true) => Settle::Close {
                until: None,
                why: Closed::Policy(policy),
            },
            (false, false) => Settle::Drain { until: None },
        };
        // A close already under way stays; a drain is upgraded by a later close.
        if !matches!(self.settle, Settle::Close { .. }) {
            self.settle = next;
        }
    }

    /// Deals with abandoned requests; see [`SettleStep`].
    pub fn settle(&mut self, now: Timestamp) -> SettleStep {
        loop {
            match self.settle {
                Settle::Idle => return SettleStep::Ready,
                Settle::Cancel { then_close } => {
                    if !then_close {
                        // What arrived may show the abandoned requests ended.
                        if let Err(e) = self.discard_events() {
                            return self.failed(e);
                        }
                        if self.proto.pending_responses() == 0 {
                            self.settle = Settle::Idle;
                            continue;
                        }
                    }
                    if !self.proto.is_healthy() || self.proto.backend_key().is_none() {
                        self.cancel_finished();
                        continue;
                    }
                    return SettleStep::Cancel;
                }
                Settle::Drain { until } => {
                    let until = until.unwrap_or_else(|| now.saturating_add(DRAIN_GRACE));
                    self.settle = Settle::Drain { until: Some(until) };
                    if let Err(e) = self.discard_events() {
                        return self.failed(e);
                    }
                    if self.proto.pending_responses() == 0 {
                        self.settle = Settle::Idle;
                        continue;
                    }
                    if !self.proto.is_healthy() {
                        return self.failed(
                            self.proto
                                .error()
                                .cloned()
                                .unwrap_or(Error::Closed(ClosedReason::WithPendingRequests)),
                        );
                    }
                    if now >= until {
                        self.settle = Settle::Close {
                            until: None,
                            why: Closed::DrainTimedOut,
                        };
                        continue;
                    }
                    return SettleStep::Io;
                }
                Settle::Close { until, why } => {
                    self.proto.terminate();
                    let until = until.unwrap_or_else(|| now.saturating_add(CLOSE_FLUSH_LIMIT));
                    self.settle = Settle::Close {
                        until: Some(until),
                        why,
                    };
                    if self.proto.pending_send().is_empty() || now >= until {
                        return SettleStep::Closed(why);
                    }
                    return SettleStep::Flush;
                }
            }
        }
    }

    /// The cancel asked for by [`SettleStep::Cancel`] is over (sent and
    /// acknowledged, or failed: either way, settling goes on).
    pub fn cancel_finished(&mut self) {
        if let Settle::Cancel { then_close } = self.settle {
            self.settle = if then_close {
                Settle::Close {
                    until: None,
                    why: Closed::Policy(AbandonPolicy::CancelThenClose),
                }
            } else {
                Settle::Drain { until: None }
            };
        }
    }

    /// Moving bytes failed while settling: the connection is gone, there is
    /// nothing left to settle.
    pub fn settle_failed(&mut self) {
        self.settle = Settle::Idle;
        self.proto.recv_eof();
    }

    /// Whether abandoned requests are still being dealt with.
    pub fn is_settling(&self) -> bool {
        self.settle != Settle::Idle
    }

    fn failed(&mut self, e: Error) -> SettleStep {
        self.settle = Settle::Idle;
        SettleStep::Failed(e)
    }

    /// Reads and drops what arrived (the inbox still gets its share).
    fn discard_events(&mut self) -> Result<(), Error> {
        self.drive(|_| None::<()>).map(drop)
    }
}
