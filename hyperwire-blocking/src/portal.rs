//! Portals: a bound statement read a few rows at a time (Execute with a row limit).

use hyperwire_proto::value::ToSql;
use hyperwire_proto::Event;

use crate::client::{encode_params, Client, Statement};
use crate::error::{Error, Result};
use hyperwire_proto::result::Collector;
use hyperwire_proto::result::Row;

/// A named portal. On PostgreSQL it lives until the end of the transaction, so bind
/// it inside one; Hyper keeps a suspended portal across Syncs.
#[derive(Debug)]
pub struct Portal {
    name: String,
    statement: Statement,
    done: bool,
}

impl Portal {
    /// Whether every row was read.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

impl Client {
    /// Binds `stmt` with `params` to a new named portal.
    pub fn bind_portal(&mut self, stmt: &Statement, params: &[&dyn ToSql]) -> Result<Portal> {
        let encoded = encode_params(params, Some(stmt.params()))?;
        let values = encoded.values();
        let name = format!("{}_p", stmt.name());
        let formats = stmt.result_formats();
        let id = self
            .proto()
            .request()
            .bind(&name, stmt.name(), &encoded.formats, &values, formats)
            .sync()
            .finish()?;
        self.collect(id)?;
        Ok(Portal {
            name,
            statement: stmt.clone(),
            done: false,
        })
    }

    /// Reads at most `max_rows` more rows (0: all the rest). On hyperd a resumed
    /// portal is never sent a limit of 0, which would crash the server (the core
    /// sends the largest limit instead).
    pub fn fetch(&mut self, portal: &mut Portal, max_rows: u32) -> Result<Vec<Row>> {
        if portal.done {
            return Ok(Vec::new());
        }
        let id = self
            .proto()
            .request()
            .execute(&portal.name, max_rows)
            .sync()
            .finish()?;
        let mut c = Collector::default();
        let mut suspended = false;
        self.run(id, |ev| {
            if matches!(ev, Event::PortalSuspended { .. }) {
                suspended = true;
            }
            Ok(c.on_event(ev))
        })?;
        portal.done = !suspended;
        let mut results = c.finish().map_err(Error::from)?;
        let mut rows = results.pop().map(|r| r.rows).unwrap_or_default();
        // The rows came without a description: give them the statement's columns.
        let columns = portal.statement.bound_columns();
        for row in &mut rows {
            row.set_columns(std::sync::Arc::clone(&columns));
        }
        Ok(rows)
    }

    /// Closes a portal early.
    pub fn close_portal(&mut self, portal: Portal) -> Result<()> {
        let id = self
            .proto()
            .request()
            .close_portal(&portal.name)
            .sync()
            .finish()?;
        self.collect(id).map(drop)
    }
}
