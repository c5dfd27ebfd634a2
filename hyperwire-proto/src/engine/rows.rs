//! [`RowReader`]: one statement's rows handed out as they arrive, a bounded batch
//! at a time, the same way in every adapter.
//!
//! Notices and notifications that arrive meanwhile go to the inbox (they are
//! never lost while iterating); a COPY met instead of rows is refused by the same
//! rule as every query method ([`RequestError::CopyNotExpected`]).

use alloc::borrow::ToOwned;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::engine::query::{RequestError, COPY_NOT_EXPECTED};
use crate::inbox::Inbox;
use crate::machine::{Event, Protocol, RequestId};
use crate::result::{columns_of, Column, Row, RowBatch};
use crate::ServerError;

/// Rows handed out per batch by default: memory stays bounded by one receive
/// buffer and this many rows.
pub const ROWS_PER_BATCH: usize = 1024;

/// What [`RowReader::poll`] did.
#[derive(Debug)]
#[non_exhaustive]
pub enum RowsStep {
    /// Rows were added to the caller's queue; more may follow.
    Rows,
    /// Bytes must move before anything else can happen.
    NeedIo,
    /// The statement ended: its command tag, or why it failed. Rows added
    /// before the end are in the queue.
    Done(Result<Option<String>, RequestError>),
}

/// One statement's rows as they arrive (see the [module docs](self)).
#[derive(Debug)]
pub struct RowReader {
    request: RequestId,
    columns: Arc<[Column]>,
    batch: RowBatch,
    tag: Option<String>,
    error: Option<ServerError>,
    copy: bool,
    done: bool,
    max_batch: usize,
    /// A RowDescription arrived: its formats are checked against the first row.
    describe_formats: bool,
}

impl RowReader {
    /// A reader of `request`'s rows.
    pub fn new(request: RequestId) -> Self {
        RowReader {
            request,
            columns: Arc::from(Vec::new()),
            batch: RowBatch::default(),
            tag: None,
            error: None,
            copy: false,
            done: false,
            max_batch: ROWS_PER_BATCH,
            describe_formats: false,
        }
    }

    /// The request.
    pub fn request(&self) -> RequestId {
        self.request
    }

    /// The columns (known once the description or the first row arrived).
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Whether the statement ended.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The caller settled the request another way (its timeout policy drained
    /// or closed it): nothing more is read.
    pub fn settled(&mut self) {
        self.done = true;
    }

    /// Reads the events already received, adding at most one batch of rows to
    /// `out`.
    pub fn poll(
        &mut self,
        proto: &mut Protocol,
        inbox: &mut Inbox,
        out: &mut VecDeque<Row>,
    ) -> RowsStep {
        if self.done {
            return RowsStep::Done(Ok(self.tag.clone()));
        }
        let mut batched = 0usize;
        let mut ended = false;
        let mut fail_copy_in = false;
        let me = self.request;
        while let Some(ev) = proto.poll_event() {
            // Each arm checks the request itself: a row is taken at once.
            match ev {
                Event::DataRow {
                    request,
                    row,
                    formats,
                } if request == me => {
                    if self.describe_formats {
                        // Columns described before the Bind chose the formats:
                        // fixed once, from the first row's formats.
                        self.describe_formats = false;
                        if self
                            .columns
                            .iter()
                            .enumerate()
                            .any(|(i, c)| c.format() != formats.get(i))
                        {
                            self.columns = self
                                .columns
                                .iter()
                                .enumerate()
                                .map(|(i, c)| c.with_format(formats.get(i)))
                                .collect();
                        }
                    }
                    self.batch.push(&row);
                    batched += 1;
                    if batched >= self.max_batch {
                        break;
                    }
                }
                Event::RowDescription {
                    request,
                    description,
                    formats,
                } if request == me => {
                    self.columns = columns_of(&description, formats);
                    self.describe_formats = true;
                }
                Event::CommandComplete { request, tag } if request == me => {
                    self.tag = Some(tag.to_owned());
                }
                Event::ServerError { request, error } if request == me => {
                    self.error
                        .get_or_insert_with(|| ServerError::from_fields(&error));
                }
                Event::CopyInStart { request, .. } if request == me => {
                    self.copy = true;
                    fail_copy_in = true;
                    break;
                }
                Event::CopyOutStart { request, .. } if request == me => self.copy = true,
                Event::Done { request } if request == me => {
                    ended = true;
                    break;
                }
                Event::Fatal(e) => {
                    self.done = true;
                    self.drain_batch(out);
                    return RowsStep::Done(Err(RequestError::Protocol(e)));
                }
                other => {
                    inbox.take(&other);
                }
            }
        }
        if fail_copy_in {
            if let Err(e) = proto.copy_fail(COPY_NOT_EXPECTED) {
                self.done = true;
                return RowsStep::Done(Err(RequestError::Protocol(e)));
            }
        }
        self.drain_batch(out);
        if ended {
            self.done = true;
            return RowsStep::Done(self.outcome());
        }
        if batched > 0 || fail_copy_in {
            RowsStep::Rows
        } else {
            RowsStep::NeedIo
        }
    }

    fn drain_batch(&mut self, out: &mut VecDeque<Row>) {
        if !self.batch.is_empty() {
            self.batch.drain_into(&self.columns, out);
        }
    }

    fn outcome(&mut self) -> Result<Option<String>, RequestError> {
        // A COPY's error is the answer to our CopyFail: the COPY is the news.
        if self.copy {
            return Err(RequestError::CopyNotExpected);
        }
        if let Some(e) = self.error.take() {
            return Err(RequestError::Server(e));
        }
        Ok(self.tag.clone())
    }
}
