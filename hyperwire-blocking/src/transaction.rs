//! Transactions: BEGIN, then COMMIT or ROLLBACK; dropped unfinished, ROLLBACK.

use std::ops::{Deref, DerefMut};

use crate::client::Client;
use crate::error::Result;

/// An open transaction. Use the client through it (`Deref`); finish it with
/// [`commit`](Self::commit), or drop it to roll back.
pub struct Transaction<'c> {
    client: &'c mut Client,
    finished: bool,
}

impl<'c> Transaction<'c> {
    pub(crate) fn begin(client: &'c mut Client) -> Result<Self> {
        client.batch_execute("BEGIN")?;
        Ok(Transaction {
            client,
            finished: false,
        })
    }

    /// Commits.
    pub fn commit(mut self) -> Result<()> {
        self.finished = true;
        self.client.batch_execute("COMMIT")
    }

    /// Rolls back.
    pub fn rollback(mut self) -> Result<()> {
        self.finished = true;
        self.client.batch_execute("ROLLBACK")
    }
}

impl Deref for Transaction<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client
    }
}

impl DerefMut for Transaction<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.finished && self.client.is_healthy() {
            let _ = self.client.batch_execute("ROLLBACK");
        }
    }
}

impl Client {
    /// Starts a transaction.
    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        Transaction::begin(self)
    }
}
