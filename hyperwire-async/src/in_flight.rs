//! The requests a Client driver has in flight, in the order they were sent.
//!
//! Request ids grow with each request and answers come back in that order, so
//! the request an event belongs to is nearly always the first one: a look at the
//! front instead of hashing the id for every event.

use std::collections::VecDeque;

use hyperwire_proto::RequestId;

/// Requests in flight, ordered by id.
#[derive(Debug)]
pub(crate) struct InFlight<T> {
    items: VecDeque<(RequestId, T)>,
}

impl<T> Default for InFlight<T> {
    fn default() -> Self {
        InFlight {
            items: VecDeque::new(),
        }
    }
}

impl<T> InFlight<T> {
    /// Adds a request (ids come in increasing order; an older one is placed
    /// where it belongs).
    pub(crate) fn insert(&mut self, id: RequestId, item: T) {
        match self.items.back() {
            Some((last, _)) if *last > id => {
                let at = self.items.partition_point(|(k, _)| *k < id);
                self.items.insert(at, (id, item));
            }
            _ => self.items.push_back((id, item)),
        }
    }

    fn position(&self, id: RequestId) -> Option<usize> {
        match self.items.front() {
            Some((first, _)) if *first == id => Some(0),
            _ => self.items.binary_search_by(|(k, _)| k.cmp(&id)).ok(),
        }
    }

    /// The request `id`, if it is in flight.
    #[inline]
    pub(crate) fn get_mut(&mut self, id: RequestId) -> Option<&mut T> {
        let at = self.position(id)?;
        self.items.get_mut(at).map(|(_, item)| item)
    }

    /// Takes the request `id` out.
    pub(crate) fn remove(&mut self, id: RequestId) -> Option<T> {
        let at = self.position(id)?;
        self.items.remove(at).map(|(_, item)| item)
    }

    /// Keeps the requests for which `keep` says true.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(RequestId, &mut T) -> bool) {
        self.items.retain_mut(|(id, item)| keep(*id, item));
    }

    /// Takes every request out.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (RequestId, T)> + '_ {
        self.items.drain(..)
    }

    /// How many requests are in flight.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether none is.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use hyperwire_proto::testing;

    fn ids() -> Vec<RequestId> {
        // RequestIds come from a machine: make a few real ones.
        let mut p = hyperwire_proto::Protocol::new(hyperwire_proto::Settings::new("u"));
        let n = p.pending_send().len();
        p.advance_send(n);
        p.receive(&testing::cat(&[testing::auth_ok(), testing::ready(b'I')]));
        while p.poll_event().is_some() {}
        (0..6)
            .map(|i| p.query(&format!("SELECT {i}")).unwrap())
            .collect()
    }

    #[test]
    fn finds_takes_and_orders_requests() {
        let ids = ids();
        let mut f = InFlight::default();
        // Out of order on purpose: a retried request may be older.
        for i in [0, 1, 3, 4, 2] {
            f.insert(ids[i], i);
        }
        assert_eq!(f.len(), 5);
        let order: Vec<usize> = f.drain().map(|(_, v)| v).collect();
        assert_eq!(order, [0, 1, 2, 3, 4]);
        for (i, id) in ids.iter().enumerate().take(5) {
            f.insert(*id, i);
        }
        assert_eq!(f.get_mut(ids[0]).copied(), Some(0));
        assert_eq!(f.get_mut(ids[3]).copied(), Some(3));
        assert_eq!(f.get_mut(ids[5]), None);
        assert_eq!(f.remove(ids[2]), Some(2));
        assert_eq!(f.remove(ids[2]), None);
        f.retain(|_, v| *v != 0);
        assert_eq!(f.remove(ids[0]), None);
        assert_eq!(f.remove(ids[1]), Some(1));
        assert_eq!(f.remove(ids[4]), Some(4));
        assert_eq!(f.remove(ids[3]), Some(3));
        assert!(f.is_empty());
    }
}
