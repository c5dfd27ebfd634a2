//! Streaming rows: an `Iterator` that reads one receive buffer at a time.

use std::collections::VecDeque;
use std::sync::Arc;

use hyperwire_proto::{Event, RequestId, ServerError};

use crate::client::Client;
use crate::error::{Error, Result};
use hyperwire_proto::result::{columns_of, Column, Row, RowBatch};

/// The rows of one statement, read as they arrive. Dropping it before the end
/// cancels the statement and reads its remaining answers, so the connection stays
/// usable.
pub struct RowIter<'c> {
    client: &'c mut Client,
    request: RequestId,
    columns: Arc<[Column]>,
    ready: VecDeque<Row>,
    tag: Option<String>,
    done: bool,
}

impl<'c> RowIter<'c> {
    pub(crate) fn new(client: &'c mut Client, request: RequestId) -> Self {
        RowIter {
            client,
            request,
            columns: Arc::from(Vec::new()),
            ready: VecDeque::new(),
            tag: None,
            done: false,
        }
    }

    /// The columns (known once the first row or the description arrived).
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The command tag, once the iterator is exhausted.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// Reads the rows in the receive buffer (reading the socket once if it is empty).
    fn fill(&mut self) -> Result<()> {
        let mut batch = RowBatch::default();
        let mut error = None;
        let request = self.request;
        let columns = &mut self.columns;
        let tag = &mut self.tag;
        let mut done = false;
        let conn = &mut self.client.conn;
        loop {
            while let Some(ev) = conn.proto.poll_event() {
                if ev.request() != Some(request) {
                    if let Event::Fatal(e) = ev {
                        return Err(e.into());
                    }
                    continue;
                }
                match ev {
                    Event::RowDescription {
                        description,
                        formats,
                        ..
                    } => *columns = columns_of(&description, formats),
                    Event::DataRow { row, formats, .. } => {
                        if columns
                            .iter()
                            .enumerate()
                            .any(|(i, c)| c.format() != formats.get(i))
                        {
                            *columns = columns
                                .iter()
                                .enumerate()
                                .map(|(i, c)| c.with_format(formats.get(i)))
                                .collect();
                        }
                        batch.push(&row);
                    }
                    Event::CommandComplete { tag: t, .. } => *tag = Some(t.to_owned()),
                    Event::ServerError { error: e, .. } => {
                        error.get_or_insert_with(|| ServerError::from_fields(&e));
                    }
                    Event::Done { .. } => {
                        done = true;
                        break;
                    }
                    _ => {}
                }
            }
            if done || !batch.is_empty() {
                break;
            }
            conn.pump(None)?;
        }
        batch.drain_into(columns, &mut self.ready);
        self.done = done;
        match error {
            Some(e) => Err(Error::Server(Box::new(e))),
            None => Ok(()),
        }
    }
}

impl Iterator for RowIter<'_> {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        loop {
            if let Some(row) = self.ready.pop_front() {
                return Some(Ok(row));
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.fill() {
                return Some(Err(e));
            }
        }
    }
}

impl Drop for RowIter<'_> {
    fn drop(&mut self) {
        if self.done || !self.client.is_healthy() {
            return;
        }
        self.client.cancel_and_drain(self.request);
    }
}
