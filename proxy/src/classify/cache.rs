//! [`Classifier`]: [`classify`](super::classify) behind a bounded cache keyed by statement text,
//! shared by every session.
//!
//! Only answers that needed sqlparser are stored: the fast path classifies a point select in
//! about the time a cache insert takes, and statements whose literals vary (sysbench's, most
//! ORMs' without server-side prepares) would only churn the cache. Every call still probes it.
//!
//! Hand-written rather than the `lru` crate, for three reasons: a lookup must take `&[u8]`
//! without allocating a key; the cache is sharded so sessions rarely meet on one mutex, and
//! each lock is held for one hash-map probe (classification itself runs outside the lock);
//! and eviction is the simple two-generation scheme below, which needs no linked list:
//! - each shard keeps a `hot` and a `cold` map; a hit in `cold` moves the entry to `hot`;
//! - when `hot` holds half the shard's share, `cold` is dropped and `hot` becomes `cold`.
//!
//! So an entry survives while it is used at least once per generation (an LRU approximation),
//! and a shard never holds more than its share (`hot` stays under half of it, `cold` at most
//! half): at most `capacity` entries in all, each at
//! most `max_len` bytes of text. Statements longer than `max_len` (100 KB INSERTs) are never
//! cached. The map key is the statement's SipHash under a per-cache random key (statement text
//! is client-controlled, so a fixed hash would invite collisions by design); the stored text
//! is compared on every hit, and two texts with one hash simply replace each other.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::{Arc, Mutex};

use super::types::{Classified, Kind};

/// Longest statement text cached by default, in bytes.
pub const DEFAULT_MAX_CACHED_LEN: usize = 4096;

/// Number of shards (a power of two).
const SHARDS: usize = 16;

/// The map's hasher: the key already is a keyed SipHash, so pass it through.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Map = HashMap<u64, Entry, BuildHasherDefault<PassThrough>>;

struct Entry {
    text: Box<[u8]>,
    value: Arc<Classified>,
}

#[derive(Default)]
struct Shard {
    hot: Map,
    cold: Map,
}

/// The statement classifier with its cache. Thread-safe; share one per proxy.
pub struct Classifier {
    shards: Box<[Mutex<Shard>]>,
    /// Entries per generation per shard.
    generation: usize,
    max_len: usize,
    hasher: RandomState,
    /// The answer for a plain read with nothing else to note (most point selects), shared:
    /// handing it out is a reference count, not an allocation per statement.
    plain_read: Arc<Classified>,
}

impl Classifier {
    /// A classifier caching at most `capacity` statements of up to
    /// [`DEFAULT_MAX_CACHED_LEN`] bytes. `capacity` 0 disables the cache.
    pub fn new(capacity: usize) -> Self {
        Classifier::with_limits(capacity, DEFAULT_MAX_CACHED_LEN)
    }

    /// A classifier caching at most `capacity` statements of up to `max_len` bytes each.
    pub fn with_limits(capacity: usize, max_len: usize) -> Self {
        Classifier {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            generation: capacity / SHARDS / 2,
            max_len,
            hasher: RandomState::new(),
            plain_read: Arc::new(Classified::of(Kind::Read)),
        }
    }

    /// Classifies `sql`, from the cache when the same text needed sqlparser recently.
    pub fn classify(&self, sql: &[u8]) -> Arc<Classified> {
        if self.generation == 0 || sql.len() > self.max_len {
            return self.shared(super::classify(sql));
        }
        let hash = self.hasher.hash_one(sql);
        let shard = &self.shards[(hash >> 60) as usize % SHARDS];
        let (hit, evicted) = self.lookup(shard, hash, sql);
        drop(evicted);
        if let Some(hit) = hit {
            return hit;
        }
        let value = super::classify(sql);
        if value.fast_path {
            return self.shared(value);
        }
        let value = Arc::new(value);
        let entry = Entry {
            text: sql.into(),
            value: Arc::clone(&value),
        };
        let evicted = {
            let mut guard = shard.lock().unwrap_or_else(|e| e.into_inner());
            Self::insert(&mut guard, hash, entry, self.generation)
        };
        drop(evicted);
        value
    }

    /// `value` behind an `Arc`: the shared plain read when it is one.
    fn shared(&self, value: Classified) -> Arc<Classified> {
        if value == *self.plain_read {
            Arc::clone(&self.plain_read)
        } else {
            Arc::new(value)
        }
    }

    /// Number of cached statements (for metrics and tests).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(|e| e.into_inner());
                s.hot.len() + s.cold.len()
            })
            .sum()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A cached answer for `sql`; a hit in `cold` is promoted to `hot`. Also returns any
    /// generation the promotion rotated out, for the caller to free outside the lock.
    fn lookup(
        &self,
        shard: &Mutex<Shard>,
        hash: u64,
        sql: &[u8],
    ) -> (Option<Arc<Classified>>, Option<Map>) {
        let mut s = shard.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = s.hot.get(&hash) {
            return ((*e.text == *sql).then(|| Arc::clone(&e.value)), None);
        }
        match s.cold.remove(&hash) {
            Some(e) if *e.text == *sql => {
                let value = Arc::clone(&e.value);
                (Some(value), Self::insert(&mut s, hash, e, self.generation))
            }
            _ => (None, None),
        }
    }

    /// Inserts into `hot`, rotating generations when it is full; returns the dropped
    /// generation so the caller frees it outside the lock.
    fn insert(s: &mut Shard, hash: u64, entry: Entry, generation: usize) -> Option<Map> {
        s.hot.insert(hash, entry);
        if s.hot.len() < generation {
            return None;
        }
        let hot = std::mem::take(&mut s.hot);
        Some(std::mem::replace(&mut s.cold, hot))
    }
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("capacity", &(self.generation * SHARDS * 2))
            .field("max_len", &self.max_len)
            .finish()
    }
}
