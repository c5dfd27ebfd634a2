//! The simple protocol with everything a script runner needs: each statement's
//! result or error in order, and COPY to and from caller-supplied streams. The
//! core's [`ScriptReader`] reads the script; this moves its steps to the handler.

use std::io::{ErrorKind, Read};

use hyperwire_proto::engine::copy::CHUNK;
use hyperwire_proto::engine::{CopyInStep, ScriptReader, ScriptStep};
use hyperwire_proto::result::QueryResult;
use hyperwire_proto::ServerError;

use crate::client::Client;
use crate::clock;
use crate::error::Result;

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
        let mut reader = ScriptReader::send(self.proto(), sql)?;
        let request = reader.request();
        self.conn.session.track(request);
        self.conn.session.start_wait(clock::now);
        loop {
            let (proto, _, inbox) = self.conn.session.parts();
            match reader.poll(proto, inbox)? {
                ScriptStep::Result(result) => handler.result(result),
                ScriptStep::Error(error) => handler.error(error),
                ScriptStep::CopyOutStart => handler.copy_out_start(),
                ScriptStep::CopyOutData(data) => handler.copy_out(data),
                ScriptStep::CopyIn => {
                    self.copy_in_from(&mut reader, handler)?;
                    self.conn.session.start_wait(clock::now);
                }
                ScriptStep::NeedIo => {
                    if let Err(e) = self.wait() {
                        // The policy dealt with the request (cancel, drain, close).
                        reader.settled();
                        return Err(e);
                    }
                }
                ScriptStep::Done => {
                    self.conn.session.untrack(request);
                    return Ok(());
                }
                _ => {}
            }
        }
    }

    /// Hands the handler's COPY FROM STDIN source to `reader` until it ends.
    fn copy_in_from(
        &mut self,
        reader: &mut ScriptReader,
        handler: &mut dyn SimpleHandler,
    ) -> Result<()> {
        let proto = self.proto();
        let Some(source) = handler.copy_in() else {
            return Ok(reader.copy_in_no_source(proto)?);
        };
        let mut buf = vec![0u8; CHUNK];
        loop {
            let proto = self.proto();
            let step = match source.read(&mut buf) {
                Ok(0) => return Ok(reader.copy_in_end(proto)?),
                Ok(n) => reader.copy_in_data(proto, buf.get(..n).unwrap_or_default())?,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Ok(reader.copy_in_failed(proto, &e)?),
            };
            match step {
                CopyInStep::More => {}
                CopyInStep::Flush => self.flush_request(reader.request())?,
                _ => return Ok(()),
            }
        }
    }
}
