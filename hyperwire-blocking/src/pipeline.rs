//! Pipelines: many statements in one write, results in order, an error per item.

use hyperwire_proto::value::ToSql;
use hyperwire_proto::RequestId;

use crate::client::Client;
use crate::error::{Error, Result};
use hyperwire_proto::result::QueryResult;

/// Statements queued to be sent together; see [`Client::pipeline`].
pub struct Pipeline<'c> {
    client: &'c mut Client,
    requests: Vec<Result<RequestId>>,
}

impl<'c> Pipeline<'c> {
    /// Queues a statement with parameters. Each statement gets its own Sync, so an
    /// error fails only its own item (outside an explicit transaction).
    pub fn query(&mut self, sql: &str, params: &[&dyn ToSql]) -> &mut Self {
        let r = self.client.send_query(sql, params);
        self.requests.push(r);
        self
    }

    /// Sends everything in one write and reads the results in order.
    pub fn run(self) -> Result<Vec<Result<QueryResult>>> {
        let mut out = Vec::with_capacity(self.requests.len());
        // One flush for all (reading meanwhile, so a long pipeline cannot deadlock),
        // within the request timeout: its policy applies to the last request (the
        // earlier ones end before it).
        match self.requests.iter().rev().find_map(|r| r.as_ref().ok()) {
            Some(&last) => self.client.flush_request(last)?,
            None => self.client.conn.flush(None)?,
        }
        for r in self.requests {
            let id = match r {
                Ok(id) => id,
                Err(e) => {
                    out.push(Err(e));
                    continue;
                }
            };
            // The query methods' reader: a server error (or a COPY) fails only
            // this item; a broken connection ends the pipeline.
            match self.client.collect(id) {
                Ok(mut results) => out.push(Ok(results.pop().unwrap_or_default())),
                Err(e @ (Error::Server(_) | Error::UnexpectedResult(_))) => out.push(Err(e)),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

impl Client {
    /// A pipeline: queue statements, then [`Pipeline::run`] sends them in one write.
    pub fn pipeline(&mut self) -> Pipeline<'_> {
        Pipeline {
            client: self,
            requests: Vec::new(),
        }
    }
}
