//! deadpool's [`Manager`](deadpool::managed::Manager) for [`Connection`] (feature
//! `deadpool`).
//!
//! Recycling costs no round trip when the connection is idle and healthy; a
//! connection returned inside a transaction is rolled back first (one round
//! trip), and one that failed or is desynchronized is discarded.

use std::marker::PhantomData;

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use hyperwire_proto::config::Config;
use hyperwire_proto::TransactionStatus;

use crate::connection::Connection;
use crate::error::Error;
use crate::runtime::Runtime;

/// Opens and recycles connections for a deadpool `Pool`.
pub struct Manager<R> {
    config: Config,
    runtime: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for Manager<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("config", &self.config)
            .finish()
    }
}

impl<R: Runtime> Manager<R> {
    /// A manager for connections made with `config` (complete: no environment
    /// is read).
    pub fn new(config: Config) -> Manager<R> {
        Manager {
            config,
            runtime: PhantomData,
        }
    }

    /// A manager from a conninfo string or URL, completed by the libpq
    /// environment variables now (the password file is read at each connect).
    pub fn from_conninfo(conninfo: &str) -> Result<Manager<R>, Error> {
        let mut config = Config::parse(conninfo).map_err(|e| Error::Config(e.to_string()))?;
        config
            .apply_env(&|k| std::env::var(k).ok())
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(Manager::new(config))
    }
}

impl<R: Runtime> managed::Manager for Manager<R> {
    type Type = Connection<R>;
    type Error = Error;

    async fn create(&self) -> Result<Connection<R>, Error> {
        Connection::connect_config(&self.config).await
    }

    async fn recycle(&self, conn: &mut Connection<R>, _: &Metrics) -> RecycleResult<Error> {
        // A request whose future was dropped is settled by the connection's policy.
        conn.settle().await.map_err(RecycleError::Backend)?;
        // Abandoned requests still answering: read their ends (no round trip of
        // our own), so the transaction status below is current.
        conn.finish_abandoned()
            .await
            .map_err(RecycleError::Backend)?;
        if !conn.is_healthy() {
            return Err(RecycleError::message("the connection is unusable"));
        }
        match conn.transaction_status() {
            TransactionStatus::Idle => Ok(()),
            _ => {
                conn.batch_execute("ROLLBACK")
                    .await
                    .map_err(RecycleError::Backend)?;
                Ok(())
            }
        }
    }
}
