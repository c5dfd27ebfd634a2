//! Reading one request's rows in place: what the adapters' `query_for_each`
//! methods share, so that each only moves bytes and maps the outcome to its
//! own error type.

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::machine::{Event, Protocol, RequestId};
use crate::result::row::{columns_of, Column};
use crate::result::RowRef;
use crate::server_error::ServerError;

/// Hands each row of one request to a callback as a [`RowRef`] borrowed from
/// the receive buffer, keeping the request's columns, and notes how the
/// request ended. Feed it the request's events ([`on_event`](Self::on_event))
/// until it says the reading is over, then ask [`finish`](Self::finish).
pub struct RowVisitor<F, E> {
    request: RequestId,
    columns: Arc<[Column]>,
    f: F,
    rows: u64,
    server_error: Option<ServerError>,
    copy: bool,
    /// COPY FROM STDIN started: true until it was failed.
    copy_in: bool,
    failed: Option<E>,
}

impl<F, E> core::fmt::Debug for RowVisitor<F, E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RowVisitor")
            .field("request", &self.request)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

/// Why a [`RowVisitor`]'s request gave no row count.
#[derive(Debug)]
#[non_exhaustive]
pub enum VisitEnd<E> {
    /// The callback failed (the request's remaining answers were not read).
    Callback(E),
    /// The server rejected the statement.
    Server(ServerError),
    /// The statement started a COPY, which a query method cannot carry.
    Copy,
}

impl<F: FnMut(RowRef<'_>) -> Result<(), E>, E> RowVisitor<F, E> {
    /// A visitor of `request`'s rows.
    pub fn new(request: RequestId, f: F) -> Self {
        RowVisitor {
            request,
            columns: Arc::from(Vec::new()),
            f,
            rows: 0,
            server_error: None,
            copy: false,
            copy_in: false,
            failed: None,
        }
    }

    /// Takes one event (events of other requests are ignored). `true` when the
    /// reading stops: the request is done, the callback failed, or a COPY FROM
    /// STDIN started (then call [`fail_copy_in`](Self::fail_copy_in) and read on:
    /// nothing here sends COPY data, and the request cannot end until it fails).
    #[inline]
    pub fn on_event(&mut self, ev: &Event<'_>) -> bool {
        // Each arm checks the request itself: a row is matched at once,
        // without first working out which request an event belongs to.
        let me = self.request;
        match ev {
            Event::DataRow {
                request,
                row,
                formats,
            } if *request == me => {
                self.rows += 1;
                if let Err(e) = (self.f)(RowRef::new(&self.columns, *row, formats)) {
                    self.failed = Some(e);
                    return true;
                }
            }
            Event::RowDescription {
                request,
                description,
                formats,
            } if *request == me => self.columns = columns_of(description, formats),
            Event::ServerError { request, error } if *request == me => {
                self.server_error
                    .get_or_insert_with(|| ServerError::from_fields(error));
            }
            Event::CopyInStart { request, .. } if *request == me => {
                self.copy = true;
                self.copy_in = true;
                return true;
            }
            Event::CopyOutStart { request, .. } if *request == me => self.copy = true,
            Event::Done { request } if *request == me => return true,
            _ => {}
        }
        false
    }

    /// Whether a COPY FROM STDIN started that was not failed yet.
    pub fn copy_in_started(&self) -> bool {
        self.copy_in
    }

    /// Fails the COPY FROM STDIN the statement started (unless something else
    /// already did), so the request ends with [`VisitEnd::Copy`].
    pub fn fail_copy_in(&mut self, proto: &mut Protocol) -> Result<(), crate::Error> {
        self.copy_in = false;
        if proto.in_copy_in() {
            proto.copy_fail(crate::engine::COPY_NOT_EXPECTED)?;
        }
        Ok(())
    }

    /// Whether the callback failed (the request was not read to its end).
    pub fn failed(&self) -> bool {
        self.failed.is_some()
    }

    /// The number of rows, or why there is none (the callback's error first).
    pub fn finish(self) -> Result<u64, VisitEnd<E>> {
        if let Some(e) = self.failed {
            return Err(VisitEnd::Callback(e));
        }
        // A COPY's error is the server's answer to our CopyFail: the COPY is the news.
        if self.copy {
            return Err(VisitEnd::Copy);
        }
        if let Some(e) = self.server_error {
            return Err(VisitEnd::Server(e));
        }
        Ok(self.rows)
    }
}
