//! The simple protocol with everything a script runner needs: each statement's
//! result or error in order, and COPY to and from caller-supplied streams.

use std::io::Read;
use std::sync::Arc;

use hyperwire_proto::{Event, ServerError};

use crate::client::Client;
use crate::error::Result;
use hyperwire_proto::result::QueryResult;
use hyperwire_proto::result::{columns_of, Column, RowBatch};

/// What a simple query produced, item by item.
pub trait SimpleHandler {
    /// A statement finished (rows, if any, and its tag).
    fn result(&mut self, result: QueryResult);
    /// A statement failed (the rest of the query string is skipped by the server).
    fn error(&mut self, error: ServerError);
    /// A COPY TO STDOUT started (its data follows through `copy_out`).
    fn copy_out_start(&mut self) {}
    /// COPY TO STDOUT data, in order.
    fn copy_out(&mut self, data: &[u8]);
    /// COPY FROM STDIN wants data: return the source to read it from (`None`
    /// fails the COPY).
    fn copy_in(&mut self) -> Option<&mut dyn Read>;
}

impl Client {
    /// Runs `sql` with the simple protocol, reporting each statement's outcome to
    /// `handler` in order. `Err` only when the connection failed.
    pub fn simple_query_with(&mut self, sql: &str, handler: &mut dyn SimpleHandler) -> Result<()> {
        // The handler feeds COPY FROM STDIN.
        self.conn.session.expect_copy_in(true);
        let r = self.simple_query_inner(sql, handler);
        self.conn.session.expect_copy_in(false);
        r
    }

    fn simple_query_inner(&mut self, sql: &str, handler: &mut dyn SimpleHandler) -> Result<()> {
        let id = self.proto().query(sql)?;
        let mut columns: Arc<[Column]> = Arc::from(Vec::new());
        let mut current: Option<QueryResult> = None;
        let mut batch = RowBatch::default();
        loop {
            let mut copy_in = false;
            self.run(id, |ev| {
                match ev {
                    Event::RowDescription {
                        description,
                        formats,
                        ..
                    } => {
                        columns = columns_of(description, formats);
                        current = Some(QueryResult {
                            columns: Arc::clone(&columns),
                            returns_rows: true,
                            ..QueryResult::default()
                        });
                    }
                    Event::DataRow { row, .. } => batch.push(row),
                    Event::CommandComplete { tag, .. } => {
                        let mut r = current.take().unwrap_or_default();
                        batch.drain_into(&columns, &mut r.rows);
                        r.tag = (*tag).to_owned();
                        handler.result(r);
                    }
                    Event::EmptyQuery { .. } => {}
                    Event::ServerError { error, .. } => {
                        current = None;
                        batch = RowBatch::default();
                        handler.error(ServerError::from_fields(error));
                    }
                    Event::CopyOutStart { .. } => handler.copy_out_start(),
                    Event::CopyData { data, .. } => handler.copy_out(data),
                    Event::CopyInStart { .. } => {
                        copy_in = true;
                        return Ok(true);
                    }
                    Event::Done { .. } => return Ok(true),
                    _ => {}
                }
                Ok(false)
            })?;
            if !copy_in {
                return Ok(());
            }
            self.feed_copy_in(handler)?;
        }
    }

    fn feed_copy_in(&mut self, handler: &mut dyn SimpleHandler) -> Result<()> {
        let Some(source) = handler.copy_in() else {
            self.proto().copy_fail("no COPY data source")?;
            return Ok(());
        };
        let mut buf = vec![0u8; 64 * 1024];
        let mut line_start = true;
        loop {
            let n = match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.proto()
                        .copy_fail(&format!("error reading COPY data: {e}"))?;
                    return Ok(());
                }
            };
            let chunk = buf.get(..n).unwrap_or_default();
            // psql ends COPY data at a line holding only "\.".
            if let Some(end) = end_marker(chunk, line_start) {
                self.proto()
                    .copy_data(chunk.get(..end).unwrap_or_default())?;
                break;
            }
            line_start = chunk.last() == Some(&b'\n');
            if !self.proto().in_copy_in() {
                // The server gave up (an error is on its way).
                return Ok(());
            }
            self.proto().copy_data(chunk)?;
            if self.proto().pending_send().len() > 1024 * 1024 {
                self.conn.flush(None)?;
            }
        }
        if self.proto().in_copy_in() {
            self.proto().copy_done()?;
        }
        Ok(())
    }
}

/// Where a `\.` line starts in `chunk`, if one does (a marker split across reads is
/// not detected; psql reads line by line, which we do not).
fn end_marker(chunk: &[u8], line_start: bool) -> Option<usize> {
    let mut start = if line_start { Some(0) } else { None };
    let mut i = 0;
    while i <= chunk.len() {
        if let Some(s) = start {
            let rest = chunk.get(s..).unwrap_or_default();
            if rest.starts_with(b"\\.\n") || rest == b"\\." || rest.starts_with(b"\\.\r\n") {
                return Some(s);
            }
        }
        match memchr_newline(chunk.get(i..).unwrap_or_default()) {
            Some(p) => {
                i += p + 1;
                start = Some(i);
            }
            None => break,
        }
    }
    None
}

fn memchr_newline(s: &[u8]) -> Option<usize> {
    s.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::end_marker;

    #[test]
    fn copy_end_marker() {
        assert_eq!(end_marker(b"1\n2\n\\.\n3\n", true), Some(4));
        assert_eq!(end_marker(b"\\.\n", true), Some(0));
        assert_eq!(end_marker(b"\\.\n", false), None);
        assert_eq!(end_marker(b"a\\.\n", true), None);
        assert_eq!(end_marker(b"1\n2\n", true), None);
    }
}
