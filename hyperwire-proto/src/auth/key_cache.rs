//! [`ScramKeyCache`]: salted SCRAM passwords kept between connections, so a
//! reconnect to the same server skips PBKDF2 (4096 rounds and more: the slow
//! part of connecting).
//!
//! An entry is only used when the server sends the same salt and iteration
//! count for the same password ([`SaltedPassword::matches`] is checked by the
//! SCRAM exchange), so a stale or colliding entry costs a derivation, never a
//! wrong proof. Entries are password equivalents: the cache lives in memory
//! only and is bounded.

use alloc::string::String;
use alloc::vec::Vec;

use super::SaltedPassword;

/// How many servers' keys a cache holds by default.
pub const DEFAULT_SCRAM_KEY_CACHE_CAPACITY: usize = 64;

/// A bounded cache of salted SCRAM passwords, keyed by the caller (typically
/// host, port and user), least recently used out first.
#[derive(Debug)]
pub struct ScramKeyCache {
    entries: Vec<(String, SaltedPassword, u64)>,
    capacity: usize,
    clock: u64,
}

impl Default for ScramKeyCache {
    fn default() -> Self {
        ScramKeyCache::new(DEFAULT_SCRAM_KEY_CACHE_CAPACITY)
    }
}

impl ScramKeyCache {
    /// An empty cache holding at most `capacity` entries (0 disables it).
    pub const fn new(capacity: usize) -> ScramKeyCache {
        ScramKeyCache {
            entries: Vec::new(),
            capacity,
            clock: 0,
        }
    }

    /// The entry for `key`, if any (for [`crate::Settings::scram_cache`]).
    pub fn get(&mut self, key: &str) -> Option<SaltedPassword> {
        self.clock += 1;
        let clock = self.clock;
        let entry = self.entries.iter_mut().find(|(k, _, _)| k == key)?;
        entry.2 = clock;
        Some(entry.1.clone())
    }

    /// Stores the key a connection derived or reused
    /// ([`crate::Protocol::scram_salted_password`]).
    pub fn put(&mut self, key: &str, salted: &SaltedPassword) {
        if self.capacity == 0 {
            return;
        }
        self.clock += 1;
        let clock = self.clock;
        if let Some(entry) = self.entries.iter_mut().find(|(k, _, _)| k == key) {
            entry.1 = salted.clone();
            entry.2 = clock;
            return;
        }
        if self.entries.len() >= self.capacity {
            if let Some(oldest) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, _, used))| *used)
                .map(|(i, _)| i)
            {
                self.entries.swap_remove(oldest);
            }
        }
        self.entries.push((key.into(), salted.clone(), clock));
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}
