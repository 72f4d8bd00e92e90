//! Per-table timestamps (DESIGN.md section 3): for each table a write touched, a bounded ring
//! of its recent write timestamps (GTID sequence numbers). A replica's table timestamp is the
//! newest of those it has applied. Bounded twice: ring length per table and number of tables.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Recent write timestamps kept per table.
pub const RING_LEN: usize = 64;
/// Tables tracked; past this the least recently written table is forgotten.
pub const MAX_TABLES: usize = 10_000;

#[derive(Debug, Default)]
struct Inner {
    rings: HashMap<String, VecDeque<u64>>,
    /// Last write per table, for eviction.
    last_write: HashMap<String, u64>,
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
        if !inner.rings.contains_key(table) && inner.rings.len() >= MAX_TABLES {
            if let Some(oldest) = inner
                .last_write
                .iter()
                .min_by_key(|(_, s)| **s)
                .map(|(t, _)| t.clone())
            {
                inner.rings.remove(&oldest);
                inner.last_write.remove(&oldest);
            }
        }
        // The table is usually known: look it up before allocating its name.
        if !inner.rings.contains_key(table) {
            inner.rings.insert(table.to_owned(), Default::default());
        }
        if let Some(ring) = inner.rings.get_mut(table) {
            if ring.back().is_none_or(|last| *last < seq) {
                if ring.len() == RING_LEN {
                    ring.pop_front();
                }
                ring.push_back(seq);
            }
        }
        match inner.last_write.get_mut(table) {
            Some(last) => *last = seq,
            None => {
                inner.last_write.insert(table.to_owned(), seq);
            }
        }
    }

    /// Each table's newest write timestamp.
    pub fn newest(&self) -> HashMap<String, u64> {
        self.lock()
            .rings
            .iter()
            .filter_map(|(t, r)| r.back().map(|s| (t.clone(), *s)))
            .collect()
    }

    /// Each table's newest write timestamp at or below `applied` (what a replica that has
    /// applied up to `applied` holds). A table whose whole ring is newer reports None: its
    /// replica timestamp is older than anything remembered.
    pub fn as_of(&self, applied: u64) -> HashMap<String, Option<u64>> {
        self.lock()
            .rings
            .iter()
            .map(|(t, r)| (t.clone(), r.iter().rev().find(|s| **s <= applied).copied()))
            .collect()
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
        assert_eq!(ts.lock().rings["t"].len(), RING_LEN);
        for i in 0..MAX_TABLES + 10 {
            ts.record(&format!("t{i}"), 1_000 + i as u64);
        }
        assert!(ts.lock().rings.len() <= MAX_TABLES);
    }
}
