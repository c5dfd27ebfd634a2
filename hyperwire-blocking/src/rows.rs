//! Streaming rows: an `Iterator` over the core's [`RowReader`], which reads one
//! bounded batch at a time (notices and notifications still reach the inbox).

use std::collections::VecDeque;

use hyperwire_proto::engine::{AbandonPolicy, RowReader, RowsStep};

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
        let (reader, ready) = (&mut self.reader, &mut self.ready);
        let step = self.client.poll_until(reader.request(), |session| {
            let (proto, _, inbox) = session.parts();
            match reader.poll(proto, inbox, ready) {
                RowsStep::Rows => Some(Ok(None)),
                RowsStep::Done(r) => Some(r.map(Some).map_err(Error::from)),
                _ => None,
            }
        });
        match step {
            Ok(tag) => {
                if let Some(tag) = tag {
                    self.tag = tag;
                }
                Ok(())
            }
            Err(e) => {
                if matches!(e, Error::Timeout) {
                    // The policy cancelled and drained (or closed): the rows end here.
                    self.reader.settled();
                }
                Err(e)
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
        self.client
            .give_up(self.reader.request(), AbandonPolicy::CancelThenDrain);
    }
}
