//! [`Reader`]: what every request reader offers, so an adapter drives all of them
//! with one loop (poll, move bytes, poll again; abandon on timeout or drop).

use crate::engine::{CopyStart, QueryReader, ReadStep};
use crate::inbox::Inbox;
use crate::machine::{Protocol, RequestId};
use crate::statement_cache::StatementCache;

/// A request being read.
pub trait Reader {
    /// What it reads to.
    type Output;
    /// The request whose events it takes now (a retry may change it).
    fn request(&self) -> RequestId;
    /// Reads the events already received; `NeedIo` when bytes must move first.
    fn poll(
        &mut self,
        proto: &mut Protocol,
        cache: &mut StatementCache,
        inbox: &mut Inbox,
    ) -> ReadStep<Self::Output>;
    /// The reader is given up before its end (its request is abandoned by the
    /// caller): undo what it holds in the cache.
    fn abandon(&self, cache: &mut StatementCache);

    /// The statement it prepares for the cache (SQL and declared types), if any:
    /// the cache must be told if its request is given up.
    fn preparing(&self) -> Option<(&str, &[u32])> {
        None
    }
}

impl Reader for QueryReader {
    type Output = alloc::vec::Vec<crate::result::QueryResult>;
    fn request(&self) -> RequestId {
        QueryReader::request(self)
    }
    fn poll(
        &mut self,
        proto: &mut Protocol,
        cache: &mut StatementCache,
        inbox: &mut Inbox,
    ) -> ReadStep<Self::Output> {
        QueryReader::poll(self, proto, cache, inbox)
    }
    fn abandon(&self, cache: &mut StatementCache) {
        QueryReader::abandon(self, cache);
    }

    fn preparing(&self) -> Option<(&str, &[u32])> {
        QueryReader::preparing(self)
    }
}

impl Reader for CopyStart {
    type Output = ();
    fn request(&self) -> RequestId {
        CopyStart::request(self)
    }
    fn poll(
        &mut self,
        proto: &mut Protocol,
        _cache: &mut StatementCache,
        inbox: &mut Inbox,
    ) -> ReadStep<()> {
        CopyStart::poll(self, proto, inbox)
    }
    fn abandon(&self, _cache: &mut StatementCache) {}
}
