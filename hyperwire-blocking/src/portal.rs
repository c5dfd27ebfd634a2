//! Portals: a bound statement read a few rows at a time, through the core's
//! [`Portal`] (its docs say how long a portal lives on each server).

use hyperwire_proto::engine::Portal;
use hyperwire_proto::result::Row;
use hyperwire_proto::value::ToSql;

use crate::client::{encode_params, Client, Statement};
use crate::error::Result;

impl Client {
    /// Binds `stmt` with `params` to a new named portal.
    pub fn bind_portal(&mut self, stmt: &Statement, params: &[&dyn ToSql]) -> Result<Portal> {
        let encoded = encode_params(params, Some(stmt.params()))?;
        let (proto, cache, _) = self.conn.session.parts();
        let (portal, reader) = Portal::bind(proto, cache, stmt, &encoded)?;
        self.read(reader)?;
        Ok(portal)
    }

    /// Reads at most `max_rows` more rows (0: all the rest); none once the
    /// portal is done.
    pub fn fetch(&mut self, portal: &mut Portal, max_rows: u32) -> Result<Vec<Row>> {
        let Some(fetch) = portal.fetch(self.proto(), max_rows)? else {
            return Ok(Vec::new());
        };
        let outcome = self.read(fetch)?;
        portal.fetched(&outcome);
        Ok(outcome.rows)
    }

    /// Closes a portal early.
    pub fn close_portal(&mut self, portal: Portal) -> Result<()> {
        let reader = portal.close(self.proto())?;
        self.read(reader).map(drop)
    }
}
