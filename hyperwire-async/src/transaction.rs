//! Transactions: BEGIN, then COMMIT or ROLLBACK. A transaction dropped
//! unfinished (its future or its guard) queues a ROLLBACK in the core, sent with
//! the connection's next request; its answer is drained like any abandoned one.

use std::ops::{Deref, DerefMut};

use crate::connection::Connection;
use crate::error::Result;
use crate::runtime::Runtime;

/// An open transaction. Use the connection through it (`Deref`); finish it with
/// [`commit`](Self::commit), or drop it to roll back.
#[derive(Debug)]
pub struct Transaction<'c, R: Runtime> {
    conn: &'c mut Connection<R>,
    finished: bool,
}

impl<'c, R: Runtime> Transaction<'c, R> {
    /// Commits.
    pub async fn commit(mut self) -> Result<()> {
        self.finish("COMMIT").await
    }

    /// Rolls back.
    pub async fn rollback(mut self) -> Result<()> {
        self.finish("ROLLBACK").await
    }

    /// Sends COMMIT or ROLLBACK. The guard counts as finished only once the
    /// statement is queued: dropped before that, it still rolls back.
    async fn finish(&mut self, sql: &str) -> Result<()> {
        self.conn.settle().await?;
        let id = self.conn.session.protocol_mut().query(sql)?;
        self.finished = true;
        self.conn.collect(id).await.map(drop)
    }
}

impl<R: Runtime> Deref for Transaction<'_, R> {
    type Target = Connection<R>;
    fn deref(&self) -> &Connection<R> {
        self.conn
    }
}

impl<R: Runtime> DerefMut for Transaction<'_, R> {
    fn deref_mut(&mut self) -> &mut Connection<R> {
        self.conn
    }
}

impl<R: Runtime> Drop for Transaction<'_, R> {
    fn drop(&mut self) {
        if !self.finished {
            self.conn.queue_rollback();
        }
    }
}

impl<R: Runtime> Connection<R> {
    /// Starts a transaction.
    pub async fn transaction(&mut self) -> Result<Transaction<'_, R>> {
        // The guard exists before BEGIN is sent: if this future is dropped (or
        // BEGIN fails), its ROLLBACK follows the BEGIN.
        let tx = Transaction {
            conn: self,
            finished: false,
        };
        tx.conn.batch_execute("BEGIN").await?;
        Ok(tx)
    }
}
