//! The statement cache every adapter shares: which statement to use for a query,
//! when to prepare, what to evict, and when a failure earns one retry.
//!
//! Pure bookkeeping: the engine's [`crate::engine::QueryReader`] sends what the
//! cache decides and reports back.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::codec::{Format, TransactionStatus};
use crate::error::{Error, UsageError};
use crate::machine::{Event, Protocol, RequestId};
use crate::result::{binary_formats, columns_of, Column};
use crate::server_error::ServerError;
use crate::value::EncodedParams;
use crate::SqlState;

/// How queries with parameters are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatementPolicy {
    /// Named statements kept in an LRU of this many (the default, 256): each query
    /// is parsed once per connection. On hyperd, a query without parameters goes
    /// as a simple Query instead (hyperd answers that faster).
    Named {
        /// How many statements to keep.
        capacity: usize,
    },
    /// The unnamed statement, parsed every time: works behind PgBouncer in
    /// transaction pooling, where a named statement may live on another backend.
    Unnamed,
    /// The simple protocol only: no Parse at all (parameters are refused).
    Simple,
}

impl Default for StatementPolicy {
    fn default() -> Self {
        StatementPolicy::Named { capacity: 256 }
    }
}

/// A statement the server has prepared.
#[derive(Debug, Clone)]
pub struct CachedStatement {
    /// Its name on the server.
    pub name: String,
    /// The parameter types the server reported.
    pub param_types: Vec<u32>,
    /// Its result columns.
    pub columns: Arc<[Column]>,
}

/// What to send for a query.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Plan {
    /// Bind the cached statement with this name.
    Reuse(String),
    /// Parse under this name (and Describe it), then Bind; report the description
    /// with [`StatementCache::insert`]. Close `evict` first if set.
    Prepare {
        /// The new statement's name.
        name: String,
        /// A statement to Close to make room.
        evict: Option<String>,
    },
    /// Parse the unnamed statement.
    Unnamed,
    /// Use a simple Query.
    Simple,
}

/// A query sent through the cache. Show it the request's events
/// ([`observe`](Self::observe)); when the request succeeded, [`succeeded`](Self::succeeded)
/// records a statement it prepared.
#[derive(Debug)]
pub struct CachedQuery {
    /// The request to read the answers of.
    pub request: RequestId,
    prepared: Option<String>,
    /// The columns of a reused statement (it is executed without Describe).
    known_columns: Option<Arc<[Column]>>,
    param_types: Vec<u32>,
    columns: Option<Arc<[Column]>>,
}

impl CachedQuery {
    fn new(
        request: RequestId,
        prepared: Option<String>,
        known_columns: Option<Arc<[Column]>>,
    ) -> CachedQuery {
        CachedQuery {
            request,
            prepared,
            known_columns,
            param_types: Vec::new(),
            columns: None,
        }
    }

    /// A query that prepares nothing (what is left once one has been settled).
    pub(crate) fn empty() -> CachedQuery {
        CachedQuery::new(RequestId(0), None, None)
    }

    /// The collector for this request's answers (with the columns of a reused
    /// statement, whose rows come without a description).
    pub fn collector(&self) -> crate::result::Collector {
        match &self.known_columns {
            Some(columns) => crate::result::Collector::with_columns(Arc::clone(columns)),
            None => crate::result::Collector::default(),
        }
    }

    /// Whether this query prepares a statement for the cache (an adapter that
    /// abandons it calls [`StatementCache::prepare_ended`]).
    pub fn is_preparing(&self) -> bool {
        self.prepared.is_some()
    }

    /// Notes the description of a statement being prepared.
    pub fn observe(&mut self, ev: &Event<'_>) {
        if self.prepared.is_none() {
            return;
        }
        match ev {
            Event::ParameterDescription { request, types } if *request == self.request => {
                self.param_types = types.iter().collect();
            }
            Event::RowDescription {
                request,
                description,
                formats,
            } if *request == self.request && self.columns.is_none() => {
                self.columns = Some(columns_of(description, formats));
            }
            _ => {}
        }
    }

    /// The query succeeded: a statement it prepared joins the cache.
    pub fn succeeded(self, cache: &mut StatementCache, sql: &str, types: &[u32]) {
        if let Some(name) = self.prepared {
            let statement = CachedStatement {
                name,
                param_types: self.param_types,
                columns: self.columns.unwrap_or_else(|| Arc::from(Vec::new())),
            };
            cache.insert(sql, types, statement);
        }
    }
}

/// What to do after a query failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recovery {
    /// Report the error.
    Fail,
    /// The cached statement was stale (evicted now): run the query once more.
    Retry,
}

#[derive(Debug, Clone)]
struct Entry {
    /// The declared parameter types (with the SQL, the key).
    types: Vec<u32>,
    statement: CachedStatement,
    used: u64,
    /// The result formats each execution asks for, and the columns as the rows
    /// then arrive: worked out once, when the statement joins the cache.
    formats: Vec<Format>,
    bound_columns: Arc<[Column]>,
}

impl Entry {
    fn new(types: &[u32], statement: CachedStatement, used: u64) -> Entry {
        let formats = binary_formats(&statement.columns);
        let bound_columns = statement
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| c.with_format(formats.get(i).copied().unwrap_or_default()))
            .collect();
        Entry {
            types: types.to_vec(),
            statement,
            used,
            formats,
            bound_columns,
        }
    }
}

/// The cache for one connection.
#[derive(Debug, Clone, Default)]
pub struct StatementCache {
    policy: StatementPolicy,
    prefix: String,
    /// By SQL, then by declared types (a lookup allocates nothing).
    entries: BTreeMap<String, Vec<Entry>>,
    /// How many entries there are.
    count: usize,
    /// Statements being prepared: meanwhile the same query goes unnamed, so
    /// concurrent first runs do not prepare it several times.
    preparing: alloc::collections::BTreeSet<(String, Vec<u32>)>,
    clock: u64,
    counter: u64,
    /// Statements the application prepared by name (`hw_<prefix>_t<n>`).
    prepared: u64,
}

impl StatementCache {
    /// A cache with `policy`.
    pub fn new(policy: StatementPolicy) -> Self {
        StatementCache {
            policy,
            ..StatementCache::default()
        }
    }

    /// Names statements `hw_<prefix>_<n>`. Behind a transaction pooler several
    /// clients share a server connection; a prefix unique to this connection (the
    /// adapter picks one at random) keeps their names from colliding (42P05).
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// [`with_prefix`](Self::with_prefix) with a prefix made of `random` (the
    /// core has no randomness of its own: the adapter supplies it).
    pub fn with_random_prefix(self, random: u64) -> Self {
        self.with_prefix(&format!("{:x}", random & 0xffff_ffff))
    }

    /// A new policy: the cache is emptied. The prefix and the name counters are
    /// kept: statements prepared earlier still exist on the server, and a new
    /// one under an old name would fail (42P05).
    pub fn set_policy(&mut self, policy: StatementPolicy) {
        *self = StatementCache {
            policy,
            prefix: core::mem::take(&mut self.prefix),
            counter: self.counter,
            prepared: self.prepared,
            ..StatementCache::default()
        };
    }

    /// A name for a statement the application prepares itself, unique on this
    /// connection and, with the prefix, among clients sharing a server
    /// connection through a pooler.
    pub fn name_prepared(&mut self) -> String {
        self.prepared += 1;
        format!("hw_{}_t{}", self.prefix, self.prepared)
    }

    /// A name for a portal, unique on this connection (see
    /// [`name_prepared`](Self::name_prepared)).
    pub fn name_portal(&mut self) -> String {
        self.prepared += 1;
        format!("hw_{}_p{}", self.prefix, self.prepared)
    }

    /// The policy.
    pub fn policy(&self) -> StatementPolicy {
        self.policy
    }

    /// How many statements are cached.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The cached statement for `sql` with these declared types, if any (marks it
    /// as recently used).
    pub fn get(&mut self, sql: &str, types: &[u32]) -> Option<&CachedStatement> {
        self.entry(sql, types).map(|e| &e.statement)
    }

    /// The entry for `sql` with `types`, marked as recently used.
    fn entry(&mut self, sql: &str, types: &[u32]) -> Option<&Entry> {
        self.clock += 1;
        let clock = self.clock;
        let entry = self
            .entries
            .get_mut(sql)?
            .iter_mut()
            .find(|e| e.types == types)?;
        entry.used = clock;
        Some(entry)
    }

    /// Removes the entry for `sql` with `types`.
    fn remove(&mut self, sql: &str, types: &[u32]) -> Option<Entry> {
        let variants = self.entries.get_mut(sql)?;
        let i = variants.iter().position(|e| e.types == types)?;
        let entry = variants.swap_remove(i);
        if variants.is_empty() {
            self.entries.remove(sql);
        }
        self.count -= 1;
        Some(entry)
    }

    /// Decides how to send `sql` with `types`.
    pub fn plan(&mut self, sql: &str, types: &[u32]) -> Plan {
        match self.policy {
            StatementPolicy::Simple => Plan::Simple,
            StatementPolicy::Unnamed => Plan::Unnamed,
            StatementPolicy::Named { capacity } => {
                if let Some(s) = self.get(sql, types) {
                    return Plan::Reuse(s.name.clone());
                }
                if capacity == 0 || !self.preparing.insert((sql.into(), types.to_vec())) {
                    return Plan::Unnamed;
                }
                self.counter += 1;
                let evict = if self.count >= capacity {
                    self.evict_oldest()
                } else {
                    None
                };
                Plan::Prepare {
                    name: if self.prefix.is_empty() {
                        format!("hw_{}", self.counter)
                    } else {
                        format!("hw_{}_{}", self.prefix, self.counter)
                    },
                    evict,
                }
            }
        }
    }

    fn evict_oldest(&mut self) -> Option<String> {
        let (sql, types) = self
            .entries
            .iter()
            .flat_map(|(sql, variants)| variants.iter().map(move |e| (sql, e)))
            .min_by_key(|(_, e)| e.used)
            .map(|(sql, e)| (sql.clone(), e.types.clone()))?;
        self.remove(&sql, &types).map(|e| e.statement.name)
    }

    /// Records a statement prepared after [`Plan::Prepare`].
    pub fn insert(&mut self, sql: &str, types: &[u32], statement: CachedStatement) {
        self.preparing.remove(&(sql.into(), types.to_vec()));
        self.remove(sql, types);
        self.clock += 1;
        let entry = Entry::new(types, statement, self.clock);
        self.entries.entry(sql.into()).or_default().push(entry);
        self.count += 1;
    }

    /// Sends `sql` with `params` as the policy says, in one round trip: a cached
    /// statement is bound (common types come back in binary); a new one is parsed,
    /// described and bound together (text results the first time); the unnamed
    /// statement is parsed each time; or a simple Query (no parameters allowed).
    /// On hyperd a statement without parameters always goes as a simple Query
    /// (unless the policy is `Unnamed`): hyperd answers it faster.
    pub fn send(
        &mut self,
        proto: &mut Protocol,
        sql: &str,
        params: &EncodedParams,
    ) -> Result<CachedQuery, Error> {
        let values = params.values();
        // hyperd answers a simple Query in about two thirds of the time it takes
        // to Bind and Execute a prepared statement (SELECT 1 on loopback: ~195 µs
        // against ~280 µs), and a statement without parameters needs nothing else.
        let simple_on_hyper =
            values.is_empty() && proto.is_hyper() && self.policy != StatementPolicy::Unnamed;
        if !simple_on_hyper && matches!(self.policy, StatementPolicy::Named { .. }) {
            // The common case first: a cached statement, bound without Describe
            // (its columns are known) and without allocating for the lookup.
            if let Some(entry) = self.entry(sql, &params.types) {
                let request = proto
                    .request()
                    .bind(
                        "",
                        &entry.statement.name,
                        &params.formats,
                        &values,
                        &entry.formats,
                    )
                    .execute("", 0)
                    .sync()
                    .finish()?;
                let known_columns = Some(Arc::clone(&entry.bound_columns));
                return Ok(CachedQuery::new(request, None, known_columns));
            }
        }
        let plan = if simple_on_hyper {
            Plan::Simple
        } else {
            self.plan(sql, &params.types)
        };
        let (request, prepared) = match plan {
            Plan::Simple => {
                if !values.is_empty() {
                    return Err(UsageError::ParametersWithSimpleProtocol.into());
                }
                (proto.query(sql)?, None)
            }
            // The cached statement was looked up above: `plan` finds none now.
            Plan::Reuse(_) | Plan::Unnamed => (send_unnamed(proto, sql, params)?, None),
            Plan::Prepare { name, evict } => {
                let mut b = proto.request();
                if let Some(old) = &evict {
                    b = b.close_statement(old);
                }
                let request = b
                    .parse(&name, sql, &params.types)
                    .describe_statement(&name)
                    .bind("", &name, &params.formats, &values, &[Format::Text])
                    .execute("", 0)
                    .sync()
                    .finish()?;
                (request, Some(name))
            }
        };
        Ok(CachedQuery::new(request, prepared, None))
    }

    /// Forgets `sql` (after an error that may have left it half-prepared).
    pub fn forget(&mut self, sql: &str, types: &[u32]) {
        self.preparing.remove(&(sql.into(), types.to_vec()));
        self.remove(sql, types);
    }

    /// A query's request ended without success (or was abandoned): a statement it
    /// was preparing is not being prepared any more.
    pub fn prepare_ended(&mut self, sql: &str, types: &[u32]) {
        self.preparing.remove(&(sql.into(), types.to_vec()));
    }

    /// Forgets everything (e.g. after `DISCARD ALL` or a reconnect).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.count = 0;
    }

    /// Judges a failed query. A statement the server no longer knows (SQLSTATE
    /// 26000), or a cached plan whose result type changed (0A000 raised by the
    /// plan cache's revalidation, told apart by its routine, never by the message)
    /// is evicted; the query is retried once if the connection is idle outside a
    /// transaction, where a retry cannot change what an open transaction saw.
    pub fn on_error(
        &mut self,
        sql: &str,
        types: &[u32],
        error: &ServerError,
        status: TransactionStatus,
        already_retried: bool,
    ) -> Recovery {
        self.prepare_ended(sql, types);
        let stale = match error.sql_state() {
            Some(SqlState::INVALID_SQL_STATEMENT_NAME) => true,
            Some(SqlState::FEATURE_NOT_SUPPORTED) => {
                error.routine() == Some("RevalidateCachedQuery")
            }
            _ => false,
        };
        if !stale {
            return Recovery::Fail;
        }
        self.forget(sql, types);
        if already_retried || status != TransactionStatus::Idle {
            Recovery::Fail
        } else {
            Recovery::Retry
        }
    }
}

/// Parses `sql` as the unnamed statement and runs it once (text results).
pub fn send_unnamed(
    proto: &mut Protocol,
    sql: &str,
    params: &EncodedParams,
) -> Result<RequestId, Error> {
    send_unnamed_synced(proto, sql, params, true)
}

/// [`send_unnamed`], with a Sync at its end only if `sync` (a pipeline that
/// groups statements sends its own).
pub fn send_unnamed_synced(
    proto: &mut Protocol,
    sql: &str,
    params: &EncodedParams,
    sync: bool,
) -> Result<RequestId, Error> {
    let values = params.values();
    proto
        .request()
        .parse("", sql, &params.types)
        .describe_statement("")
        .bind("", "", &params.formats, &values, &[Format::Text])
        .execute("", 0)
        .sync_if(sync)
        .finish()
}

/// Parses `sql` as the unnamed statement and runs it once with the chosen result
/// formats: none or one for every column, or one per column (Bind's rule). The
/// portal is described after Bind, so the RowDescription event already carries
/// the formats (hyperd's RowDescription always says text: docs/hyper.md §4), and so
/// does every DataRow.
/// [`Format::HyperBinary`] is refused before anything is sent unless the server is
/// Hyper ([`UsageError::HyperBinaryNeedsHyper`]).
pub fn send_unnamed_with_formats(
    proto: &mut Protocol,
    sql: &str,
    params: &EncodedParams,
    formats: &[Format],
) -> Result<RequestId, Error> {
    if !proto.is_hyper() && formats.contains(&Format::HyperBinary) {
        return Err(UsageError::HyperBinaryNeedsHyper.into());
    }
    let values = params.values();
    proto
        .request()
        .parse("", sql, &params.types)
        .bind("", "", &params.formats, &values, formats)
        .describe_portal("")
        .execute("", 0)
        .sync()
        .finish()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::codec::ErrorFields;

    fn stmt(name: &str) -> CachedStatement {
        CachedStatement {
            name: name.into(),
            param_types: Vec::new(),
            columns: Arc::from(Vec::new()),
        }
    }

    fn error(fields: &[(u8, &str)]) -> ServerError {
        let mut body = Vec::new();
        for (c, v) in fields {
            body.push(*c);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
        body.push(0);
        ServerError::from_fields(&ErrorFields::parse(&body, "ErrorResponse").unwrap())
    }

    #[test]
    fn named_policy_prepares_once_then_reuses() {
        let mut c = StatementCache::default();
        let Plan::Prepare { name, evict: None } = c.plan("SELECT $1", &[23]) else {
            panic!()
        };
        c.insert("SELECT $1", &[23], stmt(&name));
        assert_eq!(c.plan("SELECT $1", &[23]), Plan::Reuse(name.clone()));
        // Other declared types are another statement.
        assert!(matches!(c.plan("SELECT $1", &[20]), Plan::Prepare { .. }));
    }

    #[test]
    fn every_statement_name_carries_the_connection_prefix() {
        let mut a = StatementCache::new(StatementPolicy::default()).with_random_prefix(0xabc);
        let mut b = StatementCache::new(StatementPolicy::default()).with_random_prefix(0xdef);
        assert_eq!(a.name_prepared(), "hw_abc_t1");
        assert_eq!(a.name_prepared(), "hw_abc_t2");
        assert_eq!(b.name_prepared(), "hw_def_t1");
        match a.plan("SELECT 1", &[]) {
            Plan::Prepare { name, .. } => assert_eq!(name, "hw_abc_1"),
            other => panic!("{other:?}"),
        }
        // A new policy empties the cache; names never repeat on the connection.
        a.set_policy(StatementPolicy::default());
        assert_eq!(a.name_prepared(), "hw_abc_t3");
        match a.plan("SELECT 1", &[]) {
            Plan::Prepare { name, .. } => assert_eq!(name, "hw_abc_2"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lru_evicts_the_least_recently_used() {
        let mut c = StatementCache::new(StatementPolicy::Named { capacity: 2 });
        for sql in ["a", "b"] {
            let Plan::Prepare { name, .. } = c.plan(sql, &[]) else {
                panic!()
            };
            c.insert(sql, &[], stmt(&name));
        }
        assert!(matches!(c.plan("a", &[]), Plan::Reuse(_)));
        let Plan::Prepare { evict, .. } = c.plan("c", &[]) else {
            panic!()
        };
        assert_eq!(evict.as_deref(), Some("hw_2"), "b was used least recently");
    }

    #[test]
    fn a_query_being_prepared_goes_unnamed_meanwhile() {
        let mut c = StatementCache::default();
        let Plan::Prepare { name, .. } = c.plan("q", &[]) else {
            panic!()
        };
        assert_eq!(
            c.plan("q", &[]),
            Plan::Unnamed,
            "no second Parse of the same query"
        );
        c.insert("q", &[], stmt(&name));
        assert_eq!(c.plan("q", &[]), Plan::Reuse(name));
        let Plan::Prepare { .. } = c.plan("r", &[]) else {
            panic!()
        };
        c.prepare_ended("r", &[]);
        assert!(matches!(c.plan("r", &[]), Plan::Prepare { .. }));
    }

    #[test]
    fn other_policies() {
        assert_eq!(
            StatementCache::new(StatementPolicy::Unnamed).plan("x", &[]),
            Plan::Unnamed
        );
        assert_eq!(
            StatementCache::new(StatementPolicy::Simple).plan("x", &[]),
            Plan::Simple
        );
        assert_eq!(
            StatementCache::new(StatementPolicy::Named { capacity: 0 }).plan("x", &[]),
            Plan::Unnamed
        );
    }

    #[test]
    fn stale_statements_are_evicted_and_retried_once_when_idle() {
        let mut c = StatementCache::default();
        let Plan::Prepare { name, .. } = c.plan("q", &[]) else {
            panic!()
        };
        c.insert("q", &[], stmt(&name));
        let gone = error(&[
            (b'C', "26000"),
            (b'M', "prepared statement \"hw_1\" does not exist"),
        ]);
        assert_eq!(
            c.on_error("q", &[], &gone, TransactionStatus::Idle, false),
            Recovery::Retry
        );
        assert!(c.is_empty());
        assert_eq!(
            c.on_error("q", &[], &gone, TransactionStatus::Idle, true),
            Recovery::Fail
        );

        c.insert("q", &[], stmt("hw_9"));
        let changed = error(&[
            (b'C', "0A000"),
            (b'M', "cached plan must not change result type"),
            (b'R', "RevalidateCachedQuery"),
        ]);
        assert_eq!(
            c.on_error("q", &[], &changed, TransactionStatus::InTransaction, false),
            Recovery::Fail,
            "no retry inside a transaction"
        );
        assert!(c.is_empty(), "but the entry is gone");

        // Same SQLSTATE from elsewhere is not a stale plan; nor is any message text.
        c.insert("q", &[], stmt("hw_10"));
        let other = error(&[
            (b'C', "0A000"),
            (b'M', "cached plan must not change result type"),
        ]);
        assert_eq!(
            c.on_error("q", &[], &other, TransactionStatus::Idle, false),
            Recovery::Fail
        );
        assert_eq!(c.len(), 1);
    }
}
