//! Matching server messages to pending requests once the startup is over.
//!
//! The rules: asynchronous messages (ParameterStatus, NoticeResponse,
//! NotificationResponse) never touch a request; every other message must fit the
//! step at the front of the pipeline, or the connection is desynchronized. Which
//! request a message belongs to is decided in `route.rs`; here, what it does.

use alloc::sync::Arc;

use crate::codec::{frontend, BackendMessage, ErrorFields, ProtocolVersion};
use crate::error::{ClosedReason, DesyncReason, Error, ProtocolError, UsageError};
use crate::machine::event::{Event, RequestId, ResultFormats};
use crate::machine::pipeline::StepKind;
use crate::machine::route::Route;
use crate::machine::state::{CopyState, Phase, State};
use crate::server_error::ServerError;

/// What the rules decided about one message. It borrows nothing, so
/// `Protocol::poll_event` can decide first and then build the event from the
/// message it decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    /// Nothing to report (or only events already queued).
    Absorb,
    /// Report the message itself as an event, for this request (`None`: for none).
    Forward(Option<RequestId>),
}

// The handlers are named `on_<message or input>`: each takes one server message
// (or the end of the stream) and applies its rule to the `State`.
impl State {
    /// Any server message after framing (the TLS/GSS answer bytes aside): the
    /// startup rules before ReadyForQuery, the request rules after.
    pub(super) fn on_message(&mut self, tag: u8, msg: &BackendMessage<'_>) -> Action {
        self.received_any = true;
        let result = match self.phase {
            Phase::Ready => self.on_ready_message(tag, msg),
            // After Terminate nothing matters any more.
            Phase::Terminated => Ok(Action::Absorb),
            _ => self.on_startup_message(msg),
        };
        result.unwrap_or_else(|e| {
            self.fail(e);
            Action::Absorb
        })
    }

    pub(super) fn on_eof(&mut self, partial: bool) {
        if self.phase == Phase::Terminated {
            self.fail(Error::Terminated);
            self.fatal_reported = true;
            return;
        }
        if partial {
            self.fail(Error::Closed(ClosedReason::MidMessage));
        } else if self.phase != Phase::Ready {
            // hyperd closes the socket without a word on a 3.2 StartupMessage.
            if self.phase == Phase::Authenticating
                && !self.received_any
                && self.version > ProtocolVersion::V3_0
                && self.settings.min_protocol <= ProtocolVersion::V3_0
            {
                self.retry_protocol = Some(ProtocolVersion::V3_0);
            }
            self.on_eof_startup();
        } else if !self.pipeline.is_empty() || self.copy != CopyState::None {
            self.fail(Error::Closed(ClosedReason::WithPendingRequests));
        } else {
            self.fail(Error::Closed(ClosedReason::Idle));
        }
    }

    fn desync(&self, msg: &BackendMessage<'_>, expected: &'static str) -> Error {
        Error::Desynchronized(DesyncReason::UnexpectedMessage {
            message: msg.name(),
            expected,
        })
    }

    /// Queues an event unless its request was abandoned.
    fn emit(&mut self, ev: Event<'static>, request: RequestId) {
        if !self.pipeline.is_abandoned(request) {
            self.queued.push_back(ev);
        }
    }

    /// Reports the current message for `request`, or drains it if abandoned.
    #[inline]
    fn report(&mut self, request: RequestId) -> Result<Action, Error> {
        if !self.pipeline.is_abandoned(request) {
            return Ok(Action::Forward(Some(request)));
        }
        self.pipeline.drained += 1;
        if self.pipeline.drained > self.settings.drain_budget {
            return Err(Error::Desynchronized(DesyncReason::DrainBudgetExhausted {
                budget: self.settings.drain_budget,
            }));
        }
        Ok(Action::Absorb)
    }

    /// Pops the front step; `Done` follows if it was its request's last.
    fn finish_step(&mut self) {
        if let Some((step, abandoned)) = self.pop_step() {
            if step.last && !abandoned {
                self.queued.push_back(Event::Done {
                    request: step.request,
                });
            }
        }
    }

    fn complete(&mut self, ev: Event<'static>, request: RequestId) -> Result<Action, Error> {
        self.emit(ev, request);
        self.finish_step();
        Ok(Action::Absorb)
    }

    fn use_formats(&mut self, formats: &Arc<ResultFormats>) {
        if !Arc::ptr_eq(&self.current_formats, formats) {
            self.current_formats = Arc::clone(formats);
        }
    }

    /// After an error in an extended batch the server ignores everything up to the
    /// Sync: report those requests as skipped, without waiting for anything.
    pub(super) fn skip_discarded(&mut self) {
        while self.discarding {
            match self.pipeline.front() {
                Some(step) if step.kind != StepKind::Sync => {}
                _ => return,
            }
            let Some((step, abandoned)) = self.pop_step() else {
                return;
            };
            let request = step.request;
            if self.failed_request != Some(request) && self.skipped_request != Some(request) {
                self.skipped_request = Some(request);
                if !abandoned {
                    self.queued.push_back(Event::Skipped { request });
                }
            }
            if step.last && !abandoned {
                self.queued.push_back(Event::Done { request });
            }
        }
    }

    /// A row of `columns` columns fits the RowDescription of the current result (when
    /// the machine saw one: a simple query, or an Execute after Describe portal).
    #[inline]
    pub(super) fn check_row_columns(&self, columns: usize) -> Result<(), &'static str> {
        match self.row_columns {
            Some(n) if n != columns => Err("its column count differs from the RowDescription's"),
            _ => Ok(()),
        }
    }

    /// The COPY OUT a CopyData belongs to right now, if its data goes to the
    /// caller (ready, in COPY OUT, not abandoned).
    #[inline]
    pub(super) fn copy_out_target(&mut self) -> Option<RequestId> {
        match self.route(b'd') {
            Route::CopyOut(request)
                if self.phase == Phase::Ready && !self.pipeline.is_abandoned(request) =>
            {
                self.received_any = true;
                Some(request)
            }
            _ => None,
        }
    }

    /// The request a DataRow would belong to right now, when that is certain without
    /// the general dispatch: ready, not discarding, nothing abandoned, the DataRow
    /// routes to the front step (so no COPY runs), and that step takes rows with its
    /// formats already current.
    #[inline]
    pub(super) fn row_target(&mut self) -> Option<RequestId> {
        if self.phase != Phase::Ready || self.discarding || self.pipeline.any_abandoned() {
            return None;
        }
        let Route::Front(request) = self.route(b'D') else {
            return None;
        };
        let step = self.pipeline.front()?;
        let formats = match &step.kind {
            StepKind::Execute { formats } => formats,
            StepKind::SimpleQuery { formats } if self.step_progress => formats,
            _ => return None,
        };
        if !Arc::ptr_eq(&self.current_formats, formats) {
            self.current_formats = Arc::clone(formats);
        }
        self.received_any = true;
        Some(request)
    }

    /// A message that belongs to no request.
    fn on_async_message(&mut self, msg: &BackendMessage<'_>) -> Result<Action, Error> {
        if let BackendMessage::ParameterStatus { name, value } = msg {
            self.set_parameter(name, value);
        }
        Ok(Action::Forward(None))
    }

    /// CopyData or CopyDone of the COPY TO STDOUT in progress.
    fn on_copy_out_message(
        &mut self,
        msg: &BackendMessage<'_>,
        request: RequestId,
    ) -> Result<Action, Error> {
        match msg {
            BackendMessage::CopyData(_) => self.report(request),
            BackendMessage::CopyDone => {
                self.copy = CopyState::None;
                self.emit(Event::CopyDone { request }, request);
                Ok(Action::Absorb)
            }
            _ => Err(self.desync(msg, "CopyData or CopyDone")),
        }
    }

    /// The way out of a COPY the server takes: an ErrorResponse ends any COPY (and
    /// the Sync owed after a COPY FROM STDIN is sent), a CommandComplete ends a
    /// COPY FROM STDIN whose end was sent. Any other message changes nothing here.
    fn leave_copy(&mut self, tag: u8) {
        match (self.copy, tag) {
            (CopyState::Out { .. }, b'E') => self.copy = CopyState::None,
            (CopyState::In { .. } | CopyState::InFinished, b'E') => {
                self.copy = CopyState::None;
                self.pay_owed_sync();
            }
            (CopyState::InFinished, b'C') => self.copy = CopyState::None,
            _ => {}
        }
    }

    /// hyperd quirk (measured): a CancelRequest that lands after the last row of an
    /// Execute makes hyperd skip that Execute's CommandComplete and answer only the
    /// Sync. For a request we abandoned (and cancelled) that loses nothing, so the
    /// steps it left unanswered before its Sync are dropped silently; for any other
    /// request the strict rule stands and the stream is desynchronized.
    fn skip_unanswered_abandoned_steps(&mut self) {
        while let Some(step) = self.pipeline.front() {
            if step.kind == StepKind::Sync || matches!(step.kind, StepKind::SimpleQuery { .. }) {
                return;
            }
            if !self.pipeline.is_abandoned(step.request) {
                return;
            }
            let _ = self.pop_step();
        }
    }

    /// A message after the startup: routed to its request (`route.rs`), then
    /// checked against what that request's front step waits for.
    fn on_ready_message(&mut self, tag: u8, msg: &BackendMessage<'_>) -> Result<Action, Error> {
        if tag == b'Z' && self.copy == CopyState::None {
            self.skip_unanswered_abandoned_steps();
        }
        let route = self.route(tag);
        self.leave_copy(tag);
        let request = match route {
            Route::Front(request) => request,
            Route::Async => return self.on_async_message(msg),
            Route::CopyOut(request) => return self.on_copy_out_message(msg, request),
            Route::NothingPending => {
                return match msg {
                    BackendMessage::ErrorResponse(fields) => {
                        Err(Error::Server(ServerError::from_fields(fields)))
                    }
                    _ => Err(self.desync(msg, "nothing (no request is pending)")),
                };
            }
            Route::Nobody(expected) => return Err(self.desync(msg, expected)),
        };
        let Some(step) = self.pipeline.front() else {
            return Err(self.desync(msg, "nothing (no request is pending)"));
        };
        let progress = self.step_progress;
        match msg {
            BackendMessage::DataRow(row) => {
                self.check_row_columns(row.len())
                    .map_err(|reason| ProtocolError::Malformed {
                        message: "DataRow",
                        reason,
                    })?;
            }
            BackendMessage::RowDescription(_) => {}
            // Any other message ends the rows the last RowDescription described.
            _ => self.row_columns = None,
        }
        match (&step.kind, msg) {
            (_, BackendMessage::ErrorResponse(fields)) => {
                let is_extended =
                    !matches!(step.kind, StepKind::SimpleQuery { .. } | StepKind::Sync);
                self.on_server_error(fields, request, is_extended)
            }
            (_, BackendMessage::CopyBothResponse(_)) => Err(ProtocolError::Unexpected {
                message: "CopyBothResponse",
                state: "running a query (replication is not supported)",
            }
            .into()),
            (StepKind::SimpleQuery { formats }, BackendMessage::RowDescription(d)) => {
                self.row_columns = Some(d.len());
                let formats = Arc::clone(formats);
                self.use_formats(&formats);
                self.step_progress = true;
                self.report(request)
            }
            (StepKind::SimpleQuery { .. }, BackendMessage::DataRow(_)) if progress => {
                self.report(request)
            }
            (StepKind::SimpleQuery { .. }, BackendMessage::CommandComplete(_)) => {
                self.step_progress = false;
                self.statement_answered = true;
                self.report(request)
            }
            (StepKind::SimpleQuery { .. }, BackendMessage::EmptyQueryResponse) => {
                self.statement_answered = true;
                self.emit(Event::EmptyQuery { request }, request);
                Ok(Action::Absorb)
            }
            (StepKind::SimpleQuery { .. }, BackendMessage::CopyInResponse(_)) => {
                self.on_copy_in_response(request, false)
            }
            (
                StepKind::SimpleQuery { .. } | StepKind::Execute { .. },
                BackendMessage::CopyOutResponse(_),
            ) => {
                self.copy = CopyState::Out { request };
                self.report(request)
            }
            (StepKind::SimpleQuery { .. }, BackendMessage::ReadyForQuery(_))
                if !self.statement_answered && !self.pipeline.is_abandoned(request) =>
            {
                // Every Query gets an answer before ReadyForQuery (an empty one gets
                // EmptyQueryResponse): without one, what answered it is unknown.
                Err(self.desync(
                    msg,
                    "CommandComplete, EmptyQueryResponse or ErrorResponse before ReadyForQuery",
                ))
            }
            (
                StepKind::SimpleQuery { .. } | StepKind::Sync,
                BackendMessage::ReadyForQuery(status),
            ) => {
                self.txn = *status;
                self.discarding = false;
                self.failed_request = None;
                self.skipped_request = None;
                self.emit(
                    Event::ReadyForQuery {
                        request,
                        status: *status,
                    },
                    request,
                );
                self.finish_step();
                Ok(Action::Absorb)
            }
            (StepKind::Parse, BackendMessage::ParseComplete) => {
                self.complete(Event::ParseComplete { request }, request)
            }
            (StepKind::Bind, BackendMessage::BindComplete) => {
                self.complete(Event::BindComplete { request }, request)
            }
            (StepKind::Close, BackendMessage::CloseComplete) => {
                self.complete(Event::CloseComplete { request }, request)
            }
            (StepKind::DescribeStatement, BackendMessage::ParameterDescription(_)) if !progress => {
                self.step_progress = true;
                self.report(request)
            }
            (StepKind::DescribeStatement, BackendMessage::RowDescription(_)) if progress => {
                // A statement has no result formats yet; they are chosen at Bind.
                let formats = Arc::new(ResultFormats::All(self.session_format));
                self.use_formats(&formats);
                let action = self.report(request);
                self.finish_step();
                action
            }
            (StepKind::DescribeStatement, BackendMessage::NoData) if progress => {
                self.complete(Event::NoData { request }, request)
            }
            (StepKind::DescribePortal { formats }, BackendMessage::RowDescription(d)) => {
                // The rows of the Execute that follows have these columns.
                self.row_columns = Some(d.len());
                let formats = Arc::clone(formats);
                self.use_formats(&formats);
                let action = self.report(request);
                self.finish_step();
                action
            }
            (StepKind::DescribePortal { .. }, BackendMessage::NoData) => {
                self.complete(Event::NoData { request }, request)
            }
            (StepKind::Execute { formats }, BackendMessage::DataRow(_)) => {
                if !Arc::ptr_eq(&self.current_formats, formats) {
                    self.current_formats = Arc::clone(formats);
                }
                self.report(request)
            }
            (StepKind::Execute { .. }, BackendMessage::CommandComplete(_)) => {
                let action = self.report(request);
                self.finish_step();
                action
            }
            (StepKind::Execute { .. }, BackendMessage::EmptyQueryResponse) => {
                self.complete(Event::EmptyQuery { request }, request)
            }
            (StepKind::Execute { .. }, BackendMessage::PortalSuspended) => {
                self.complete(Event::PortalSuspended { request }, request)
            }
            (StepKind::Execute { .. }, BackendMessage::CopyInResponse(_)) => {
                self.on_copy_in_response(request, true)
            }
            (kind, _) => Err(self.desync(msg, kind.expecting())),
        }
    }

    fn on_server_error(
        &mut self,
        fields: &ErrorFields<'_>,
        request: RequestId,
        extended: bool,
    ) -> Result<Action, Error> {
        self.step_progress = false;
        self.statement_answered = true;
        if fields.is_fatal() {
            // The server closes the connection after a FATAL error.
            self.fail(Error::Server(ServerError::from_fields(fields)));
            return self.report(request);
        }
        let action = self.report(request)?;
        if extended {
            self.failed_request = Some(request);
            self.discarding = true;
            self.finish_step();
        }
        Ok(action)
    }

    fn on_copy_in_response(&mut self, request: RequestId, extended: bool) -> Result<Action, Error> {
        if extended {
            // The server ignores a Sync sent during COPY FROM STDIN; we send it again
            // after CopyDone/CopyFail. Any other message behind the COPY would be
            // read as garbage, so nothing else may be in flight.
            self.owed_sync = self
                .pipeline
                .take_trailing_sync()
                .map_err(|()| Error::Desynchronized(DesyncReason::CopyInPipelined))?;
        } else if self.pipeline.len() > 1 {
            return Err(Error::Desynchronized(DesyncReason::CopyInPipelined));
        }
        self.copy = CopyState::In { request, extended };
        if self.pipeline.is_abandoned(request) {
            self.end_copy_in(Some("abandoned by the client"))?;
            return Ok(Action::Absorb);
        }
        self.report(request)
    }

    pub(super) fn end_copy_in(&mut self, fail_reason: Option<&str>) -> Result<(), Error> {
        self.check_fatal()?;
        if !matches!(self.copy, CopyState::In { .. }) {
            return Err(UsageError::NotInCopyIn.into());
        }
        match fail_reason {
            None => frontend::copy_done(&mut self.send),
            Some(reason) => {
                if frontend::copy_fail(&mut self.send, reason).is_err() {
                    // A reason with a NUL: fail the COPY with a fixed text instead.
                    frontend::copy_fail(&mut self.send, "COPY aborted by the client")?;
                }
            }
        }
        self.copy = CopyState::InFinished;
        self.pay_owed_sync();
        Ok(())
    }

    fn pay_owed_sync(&mut self) {
        if let Some(step) = self.owed_sync.take() {
            frontend::sync(&mut self.send);
            self.pipeline.push_back_step(step);
        }
    }
}
