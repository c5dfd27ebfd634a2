//! Output of events: the frame loop of [`Protocol::poll_event`] and its short path
//! for runs of DataRow (or COPY OUT CopyData).
//!
//! Each frame is decoded once. The decoded message borrows only the receive bytes
//! (`RecvBuffer::bytes`), never the cursor or the [`State`](super::state::State),
//! so the rules can update both and the same message then becomes the event.

use crate::codec::{self, DataRow};
use crate::error::{ClosedReason, Error, ProtocolError};
use crate::machine::dispatch::Action;
use crate::machine::recv::Frame;
use crate::machine::state::{Phase, Streak};
use crate::machine::{Event, Protocol};

impl Protocol {
    /// The next event. Call until it returns `None` after every input; an event
    /// borrows the receive buffer until the next call.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        if let Some(streak) = self.state.streak.take() {
            if self.streak_continues(streak) {
                self.state.streak = Some(streak);
                let body = self.recv.current_body();
                return Some(match streak {
                    Streak::Rows(request) => Event::DataRow {
                        request,
                        row: DataRow::validated(body),
                        formats: &self.state.current_formats,
                    },
                    Streak::CopyOut(request) => Event::CopyData {
                        request,
                        data: body,
                    },
                });
            }
        }
        loop {
            self.recv.cursor.consume_pending();
            self.state.skip_discarded();
            if let Some(ev) = self.state.queued.pop_front() {
                return Some(ev);
            }
            if let Some(err) = &self.state.fatal {
                if self.state.fatal_reported {
                    return None;
                }
                self.state.fatal_reported = true;
                return Some(Event::Fatal(err.clone()));
            }
            if matches!(
                self.state.phase,
                Phase::AwaitTlsAnswer | Phase::AwaitGssAnswer
            ) {
                let Some(&answer) = self.recv.unread().first() else {
                    if self.recv.cursor.eof {
                        self.state.fail(Error::Closed(ClosedReason::DuringStartup));
                        continue;
                    }
                    return None;
                };
                let extra = self.recv.unread().len() > 1;
                self.recv.cursor.skip(1);
                if self.state.phase == Phase::AwaitGssAnswer {
                    self.state.on_gss_answer(answer, extra);
                } else {
                    self.state.on_tls_answer(answer, extra);
                }
                continue;
            }
            self.state.frame_pos = self.recv.cursor.position();
            let frame = match self
                .recv
                .cursor
                .next_frame(&self.recv.bytes, self.state.settings.max_message_size)
            {
                Ok(Some(frame)) => frame,
                Ok(None) => {
                    if self.recv.cursor.eof {
                        self.state.on_eof(self.recv.cursor.has_partial());
                        continue;
                    }
                    return None;
                }
                Err(e) => {
                    self.state.fail(e.into());
                    continue;
                }
            };
            // Borrows only the bytes: the cursor and the state may change while it
            // lives, so the message is decoded once whether it is reported or not.
            let body = frame.body(&self.recv.bytes);
            if frame.tag == b'D' {
                if let Some(request) = self.state.row_target() {
                    // The hot path: a row for the request at the front, validated once.
                    match DataRow::parse(body)
                        .and_then(|row| self.state.check_row_columns(row.len()).map(|()| row))
                    {
                        Ok(row) => {
                            self.state.streak = Some(Streak::Rows(request));
                            return Some(Event::DataRow {
                                request,
                                row,
                                formats: &self.state.current_formats,
                            });
                        }
                        Err(reason) => {
                            self.state.fail(
                                ProtocolError::Malformed {
                                    message: "DataRow",
                                    reason,
                                }
                                .into(),
                            );
                            continue;
                        }
                    }
                }
            }
            if frame.tag == b'd' {
                if let Some(request) = self.state.copy_out_target() {
                    // COPY OUT data, as the general path would forward it.
                    self.state.streak = Some(Streak::CopyOut(request));
                    return Some(Event::CopyData {
                        request,
                        data: body,
                    });
                }
            }
            // The general path: decode, let the rules decide (a verdict that borrows
            // nothing), and report the decoded message itself if they say so.
            let msg = match codec::decode(frame.tag, body) {
                Ok(msg) => msg,
                Err(e) => {
                    self.state.fail(e.into());
                    continue;
                }
            };
            match self.state.on_message(frame.tag, &msg) {
                Action::Absorb => continue,
                Action::Forward(request) => {
                    return Some(Event::from_message(
                        msg,
                        request,
                        &self.state.current_formats,
                        self.state.version,
                    ))
                }
            }
        }
    }

    /// Whether `frame` is a well-formed DataRow of the current result's width.
    #[inline(always)]
    fn check_row(&self, frame: Frame) -> Result<(), &'static str> {
        DataRow::parse(self.recv.body(frame))
            .and_then(|row| self.state.check_row_columns(row.len()))
    }

    /// The short path for a run of rows or of COPY OUT data: whether the next
    /// frame is one more of `streak` (a valid DataRow for the same request, or
    /// CopyData of the same COPY OUT). It holds while only those arrive: any
    /// other message, an abandoned request, a queued event, a fatal error or
    /// Terminate ends the streak (the general path then reads the frame again).
    #[inline]
    fn streak_continues(&mut self, streak: Streak) -> bool {
        self.recv.cursor.consume_pending();
        if !self.state.queued.is_empty()
            || self.state.fatal.is_some()
            || self.state.pipeline.any_abandoned()
            || self.state.phase != Phase::Ready
        {
            return false;
        }
        // Where a message of this kind goes was settled by `State::route` when the
        // run began (`row_target`, `copy_out_target`), and nothing that could change
        // the answer has happened since: the streak only lives from one short-path
        // frame to the next (`poll_event` takes it first), any message on the
        // general path ends it, and `abandon` and `terminate` are caught just above.
        // So the rule is not worked out again per row; debug builds check it is kept.
        let tag = streak.tag();
        debug_assert_eq!(self.state.route(tag), streak.route());
        let position = self.recv.cursor.position();
        let Ok(Some(frame)) = self
            .recv
            .cursor
            .next_frame(&self.recv.bytes, self.state.settings.max_message_size)
        else {
            self.recv.cursor.unread_frame();
            return false;
        };
        let valid = frame.tag == tag && (tag == b'd' || self.check_row(frame).is_ok());
        if valid {
            self.state.frame_pos = position;
        } else {
            self.recv.cursor.unread_frame();
        }
        valid
    }
}
