//! Streaming rows: an `Iterator` over the core's [`RowReader`], which reads one
//! bounded batch at a time (notices and notifications still reach the inbox).

use std::collections::VecDeque;

use hyperwire_proto::engine::{RowReader, RowsStep};

use crate::client::Client;
use crate::error::{Error, Result};
use hyperwire_proto::result::{Column, Row};

/// The rows of one statement, read as they arrive. Dropping it before the end
/// cancels the statement and reads its remaining answers, so the connection stays
/// usable. The request timeout bounds each wait for the server.
pub struct RowIter<'c> {
    client: &'c mut Client,
    reader: RowReader,
    ready: VecDeque<Row>,
    tag: Option<String>,
}

impl<'c> RowIter<'c> {
    pub(crate) fn new(client: &'c mut Client, request: hyperwire_proto::RequestId) -> Self {
        RowIter {
            client,
            reader: RowReader::new(request),
            ready: VecDeque::new(),
            tag: None,
        }
    }

    /// The columns (known once the first row or the description arrived).
    pub fn columns(&self) -> &[Column] {
        self.reader.columns()
    }

    /// The command tag, once the iterator is exhausted.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// Reads the next batch (reading the socket as needed).
    fn fill(&mut self) -> Result<()> {
        let deadline = self.client.request_deadline();
        loop {
            let conn = &mut self.client.conn;
            match self
                .reader
                .poll(&mut conn.proto, &mut conn.inbox, &mut self.ready)
            {
                RowsStep::Rows => return Ok(()),
                RowsStep::Done(r) => {
                    self.tag = r?;
                    return Ok(());
                }
                _ => {}
            }
            if let Err(e) = conn.pump(deadline) {
                if matches!(e, Error::Timeout) {
                    // The policy cancels and drains (or closes): the rows end here.
                    self.client.on_timeout(self.reader.request());
                    self.reader.settled();
                }
                return Err(e);
            }
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
            if self.reader.is_done() {
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
        if self.reader.is_done() || !self.client.is_healthy() {
            return;
        }
        self.client.cancel_and_drain(self.reader.request());
    }
}
