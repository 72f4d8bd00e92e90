//! The statements prepared on one backend connection, by text.
//!
//! With statement multiplexing a connection serves many sessions in turn (see
//! [`crate::frontend`]): a session that takes a connection where its statement's text is
//! already prepared executes it there at once instead of preparing it again. The cache is
//! bounded ([`MAX_PREPARED_PER_CONNECTION`]); what it drops, and a statement prepared again
//! under the same text, is closed on the server (COM_STMT_CLOSE, which has no answer) unless
//! the session holding the connection still uses that id.

use std::collections::HashMap;

/// Most statements kept prepared on one backend connection. MariaDB's
/// `max_prepared_stmt_count` (16,382 by default) bounds all connections of a server
/// together.
pub const MAX_PREPARED_PER_CONNECTION: usize = 256;

/// One statement prepared on the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachedStatement {
    /// Its id on the connection.
    pub id: u32,
    /// Number of parameters.
    pub params: u16,
    /// Insertion order (eviction drops the oldest).
    age: u64,
}

/// The statements prepared on one connection, keyed by their text.
#[derive(Debug, Default)]
pub struct PreparedCache {
    by_sql: HashMap<Box<[u8]>, CachedStatement>,
    inserted: u64,
}

impl PreparedCache {
    /// The statement prepared for `sql`, if the connection holds one.
    pub fn get(&self, sql: &[u8]) -> Option<CachedStatement> {
        self.by_sql.get(sql).copied()
    }

    /// Records that `sql` is prepared as `id` with `params` parameters. Returns the ids the
    /// caller must close on the server: the one `sql` was prepared as before and, when the
    /// cache is full, the oldest entry; `in_use` ids (still mapped by the session holding
    /// the connection) are kept open and simply forgotten or spared.
    pub fn insert(
        &mut self,
        sql: &[u8],
        id: u32,
        params: u16,
        in_use: impl Fn(u32) -> bool,
    ) -> Vec<u32> {
        let mut close = Vec::new();
        self.inserted += 1;
        let entry = CachedStatement {
            id,
            params,
            age: self.inserted,
        };
        if let Some(old) = self.by_sql.insert(sql.into(), entry) {
            if old.id != id && !in_use(old.id) {
                close.push(old.id);
            }
            return close;
        }
        if self.by_sql.len() > MAX_PREPARED_PER_CONNECTION {
            let oldest = self
                .by_sql
                .iter()
                .filter(|(_, s)| s.id != id && !in_use(s.id))
                .min_by_key(|(_, s)| s.age)
                .map(|(sql, _)| sql.clone());
            if let Some(evicted) = oldest.and_then(|sql| self.by_sql.remove(&sql)) {
                close.push(evicted.id);
            }
        }
        close
    }

    /// Forgets the statement with `id` (it is being closed); false when it held none.
    pub fn remove_id(&mut self, id: u32) -> bool {
        let before = self.by_sql.len();
        self.by_sql.retain(|_, s| s.id != id);
        self.by_sql.len() != before
    }

    /// Forgets everything (the connection was reset: the server dropped its statements).
    pub fn clear(&mut self) {
        self.by_sql.clear();
    }

    /// Statements held.
    pub fn len(&self) -> usize {
        self.by_sql.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.by_sql.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_again_closes_the_old_id_unless_in_use() {
        let mut cache = PreparedCache::default();
        assert!(cache.insert(b"SELECT 1", 1, 0, |_| false).is_empty());
        assert_eq!(cache.insert(b"SELECT 1", 2, 0, |_| false), vec![1]);
        assert_eq!(cache.get(b"SELECT 1").map(|s| s.id), Some(2));
        assert!(cache.insert(b"SELECT 1", 3, 0, |id| id == 2).is_empty());
        assert_eq!(cache.get(b"SELECT 1").map(|s| s.id), Some(3));
    }

    #[test]
    fn a_full_cache_closes_its_oldest_statement_not_one_in_use() {
        let mut cache = PreparedCache::default();
        for id in 0..MAX_PREPARED_PER_CONNECTION as u32 {
            let sql = format!("SELECT {id}");
            assert!(cache.insert(sql.as_bytes(), id, 0, |_| false).is_empty());
        }
        // Statement 0 is the oldest but still in use: statement 1 goes.
        let closed = cache.insert(b"SELECT new", 9999, 0, |id| id == 0);
        assert_eq!(closed, vec![1]);
        assert_eq!(cache.len(), MAX_PREPARED_PER_CONNECTION);
        assert!(cache.get(b"SELECT 0").is_some());
        assert!(cache.get(b"SELECT 1").is_none());
        assert!(cache.remove_id(0));
        assert!(!cache.remove_id(0));
        assert!(cache.get(b"SELECT 0").is_none());
        cache.clear();
        assert!(cache.is_empty());
    }
}
