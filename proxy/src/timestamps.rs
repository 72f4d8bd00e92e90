//! Per-table timestamps (DESIGN.md section 3): for each table a write touched, a bounded ring
//! of its recent write timestamps (GTID sequence numbers). A replica's table timestamp is the
//! newest of those it has applied.
//!
//! Bounded three ways: ring length per table, number of tables, and bytes (names and rings
//! together); a name longer than any real `db.table` is not tracked at all. Past a bound the
//! least recently written table is forgotten, in O(1) (an LRU list: before, a scan of every
//! table under the global lock found it). What is forgotten only leaves the per-table
//! reports (`/timestamps`, table lag): routing and the consistency levels do not read them.

use lru::LruCache;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Recent write timestamps kept per table.
pub const RING_LEN: usize = 64;
/// Tables tracked; past this the least recently written table is forgotten.
pub const MAX_TABLES: usize = 10_000;
/// Bytes of names and rings tracked (see [`entry_cost`]); past this the least recently
/// written tables are forgotten.
pub const MAX_BYTES: usize = 8 << 20;
/// Longest `db.table` name tracked: two identifiers of 64 characters of up to 4 bytes and
/// the dot. A longer name is no real table, and is not tracked.
pub const MAX_NAME_LEN: usize = 2 * 64 * 4 + 1;

/// Per-entry bookkeeping of the map and list, counted on top of the name and the ring.
const ENTRY_OVERHEAD: usize = 64;

/// What one table costs against [`MAX_BYTES`] (its ring counted full: an upper bound).
fn entry_cost(name: &str) -> usize {
    name.len() + RING_LEN * std::mem::size_of::<u64>() + ENTRY_OVERHEAD
}

#[derive(Debug)]
struct Inner {
    /// Rings by table, least recently written first to go.
    rings: LruCache<Box<str>, VecDeque<u64>>,
    /// Sum of [`entry_cost`] over the tables tracked.
    bytes: usize,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            rings: LruCache::unbounded(),
            bytes: 0,
        }
    }
}

/// The per-table write timestamps of the whole proxy.
#[derive(Debug, Default)]
pub struct TableTimestamps {
    inner: Mutex<Inner>,
}

impl TableTimestamps {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that a write with timestamp `seq` touched `table` (`db.table`).
    pub fn record(&self, table: &str, seq: u64) {
        let mut inner = self.lock();
        // The table is usually known: look it up (and mark it recent) before allocating.
        if let Some(ring) = inner.rings.get_mut(table) {
            push(ring, seq);
            return;
        }
        if table.len() > MAX_NAME_LEN {
            tracing::debug!(len = table.len(), "table name too long to track");
            return;
        }
        let cost = entry_cost(table);
        while inner.rings.len() >= MAX_TABLES || inner.bytes + cost > MAX_BYTES {
            match inner.rings.pop_lru() {
                Some((name, _)) => inner.bytes -= entry_cost(&name),
                None => break,
            }
        }
        let mut ring = VecDeque::new();
        ring.push_back(seq);
        inner.rings.put(table.into(), ring);
        inner.bytes += cost;
    }

    /// Each table's newest write timestamp.
    pub fn newest(&self) -> HashMap<String, u64> {
        self.lock()
            .rings
            .iter()
            .filter_map(|(t, r)| r.back().map(|s| (t.to_string(), *s)))
            .collect()
    }

    /// Each table's newest write timestamp at or below `applied` (what a replica that has
    /// applied up to `applied` holds). A table whose whole ring is newer reports None: its
    /// replica timestamp is older than anything remembered.
    pub fn as_of(&self, applied: u64) -> HashMap<String, Option<u64>> {
        self.lock()
            .rings
            .iter()
            .map(|(t, r)| {
                (
                    t.to_string(),
                    r.iter().rev().find(|s| **s <= applied).copied(),
                )
            })
            .collect()
    }
}

/// Appends `seq` to a table's ring (newer timestamps only), dropping the oldest at the bound.
fn push(ring: &mut VecDeque<u64>, seq: u64) {
    if ring.back().is_none_or(|last| *last < seq) {
        if ring.len() == RING_LEN {
            ring.pop_front();
        }
        ring.push_back(seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_and_as_of() {
        let ts = TableTimestamps::default();
        ts.record("app.users", 5);
        ts.record("app.users", 9);
        ts.record("app.products", 7);
        assert_eq!(ts.newest().get("app.users"), Some(&9));
        let at8 = ts.as_of(8);
        assert_eq!(at8.get("app.users"), Some(&Some(5)));
        assert_eq!(at8.get("app.products"), Some(&Some(7)));
        assert_eq!(ts.as_of(4).get("app.users"), Some(&None));
    }

    #[test]
    fn rings_and_tables_are_bounded() {
        let ts = TableTimestamps::default();
        for s in 0..(RING_LEN as u64 * 2) {
            ts.record("t", s + 1);
        }
        assert_eq!(ts.lock().rings.peek("t").map(VecDeque::len), Some(RING_LEN));
        for i in 0..MAX_TABLES + 10 {
            ts.record(&format!("t{i}"), 1_000 + i as u64);
        }
        assert!(ts.lock().rings.len() <= MAX_TABLES);
    }

    /// Long names hit the byte bound before the table count: memory stays under
    /// [`MAX_BYTES`] (before: 10,000 names of any length), the most recent tables stay, and
    /// a name longer than any real table is not tracked.
    #[test]
    fn names_are_bounded_in_bytes() {
        let ts = TableTimestamps::default();
        let long = |i: usize| format!("{i:0>width$}", width = MAX_NAME_LEN);
        for i in 0..MAX_TABLES {
            ts.record(&long(i), i as u64 + 1);
        }
        let inner = ts.lock();
        assert!(inner.bytes <= MAX_BYTES);
        let held: usize = inner.rings.iter().map(|(t, _)| entry_cost(t)).sum();
        assert_eq!(held, inner.bytes, "the byte count is exact");
        assert!(
            inner.rings.len() < MAX_TABLES,
            "the byte bound was reached first"
        );
        assert!(
            inner.rings.contains(long(MAX_TABLES - 1).as_str()),
            "newest kept"
        );
        assert!(!inner.rings.contains(long(0).as_str()), "oldest forgotten");
        drop(inner);
        ts.record(&"x".repeat(MAX_NAME_LEN + 1), 1);
        assert!(!ts.newest().contains_key(&"x".repeat(MAX_NAME_LEN + 1)));
    }

    /// Eviction follows writes: a table written again is kept over one written once long ago.
    #[test]
    fn the_least_recently_written_table_goes_first() {
        let ts = TableTimestamps::default();
        for i in 0..MAX_TABLES {
            ts.record(&format!("t{i}"), i as u64 + 1);
        }
        ts.record("t0", 1_000_000);
        ts.record("new", 1_000_001);
        let newest = ts.newest();
        assert!(newest.contains_key("t0"));
        assert!(!newest.contains_key("t1"));
        assert_eq!(newest.len(), MAX_TABLES);
    }
}
