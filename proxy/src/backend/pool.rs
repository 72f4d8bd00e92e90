//! The idle pool of backend connections, keyed by user, node, flags and collation.
//!
//! A client session takes a connection when it first needs one and gives it back when it
//! ends; the connection is reset (COM_RESET_CONNECTION) in the background before it becomes
//! available again, so no session ever sees another's variables, temporary tables, prepared
//! statements or open transaction.

use mysql_common::constants::Command;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::conn::{self, BackendConn, BackendKey};
use crate::config::{BackendNode, PoolConfig};
use crate::error::BackendError;

/// Counters the admin port and metrics read.
#[derive(Debug, Default)]
pub struct PoolStats {
    /// Connections opened to backends.
    pub opened: AtomicU64,
    /// Checkouts served from the idle pool.
    pub reused: AtomicU64,
    /// Connections discarded (failed reset, stale, over the idle limit).
    pub discarded: AtomicU64,
}

/// Idle backend connections, shared by every session of one proxy.
#[derive(Debug)]
pub struct Pool {
    idle: Mutex<HashMap<BackendKey, Vec<BackendConn>>>,
    config: PoolConfig,
    /// Counters.
    pub stats: PoolStats,
}

impl Pool {
    /// An empty pool.
    pub fn new(config: PoolConfig) -> Arc<Self> {
        Arc::new(Self {
            idle: Mutex::new(HashMap::new()),
            config,
            stats: PoolStats::default(),
        })
    }

    /// A connection for `key`: an idle one when a live one exists, else a new one.
    pub async fn get(
        &self,
        node: &BackendNode,
        key: BackendKey,
        password: &str,
        attrs: &HashMap<String, String>,
    ) -> Result<BackendConn, BackendError> {
        while let Some(conn) = self.take_idle(&key) {
            if conn.idle_since.elapsed() < self.config.idle_timeout() && !conn.io.is_stale() {
                self.stats.reused.fetch_add(1, Ordering::Relaxed);
                return Ok(conn);
            }
            self.stats.discarded.fetch_add(1, Ordering::Relaxed);
        }
        let conn = conn::connect(node, key, password, attrs, self.config.connect_timeout()).await?;
        self.stats.opened.fetch_add(1, Ordering::Relaxed);
        Ok(conn)
    }

    fn take_idle(&self, key: &BackendKey) -> Option<BackendConn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.get_mut(key).and_then(Vec::pop)
    }

    /// Returns a connection after its session ended: reset in the background, then idle.
    pub fn put_back(self: &Arc<Self>, mut conn: BackendConn) {
        let pool = Arc::clone(self);
        tokio::spawn(async move {
            match conn.reset().await {
                Ok(()) => pool.insert_idle(conn),
                Err(e) => {
                    tracing::debug!(error = %e, "backend connection failed its reset; closed");
                    pool.stats.discarded.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }

    fn insert_idle(&self, mut conn: BackendConn) {
        conn.idle_since = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.entry(conn.key.clone()).or_default();
        if list.len() < self.config.max_idle_per_key {
            list.push(conn);
        } else {
            self.stats.discarded.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Idle connection count per node id (admin port, status).
    pub fn idle_by_node(&self) -> HashMap<String, usize> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = HashMap::new();
        for (key, conns) in idle.iter() {
            *out.entry(key.node.clone()).or_insert(0) += conns.len();
        }
        out
    }

    /// Closes every idle connection (shutdown).
    pub async fn close_all(&self) {
        let drained: Vec<BackendConn> = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.drain().flat_map(|(_, v)| v).collect()
        };
        for mut conn in drained {
            let _ = conn.io.send_packet(0, &[Command::COM_QUIT as u8]).await;
            conn.io.shutdown().await;
        }
    }
}
