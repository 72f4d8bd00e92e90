//! The idle pool of backend connections, keyed by user, node, flags and collation.
//!
//! A client session takes a connection when it first needs one and gives it back when it
//! ends; the connection is reset (COM_RESET_CONNECTION) in the background before it becomes
//! available again, so no session ever sees another's variables, temporary tables, prepared
//! statements or open transaction.
//!
//! The reset tasks run on whichever runtime gave the connection back (a session thread, see
//! [`crate::workers`], or the main runtime for HTTP `/query`), so they are tracked with a
//! [`TaskTracker`], which works across runtimes: [`Pool::close_all`] waits for the resets in
//! flight before it closes the idle connections, instead of guessing how long they take.

use mysql_common::constants::Command;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::task::TaskTracker;

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
    /// Reset tasks of connections given back and not yet idle (or discarded).
    resets: TaskTracker,
    /// Counters.
    pub stats: PoolStats,
}

impl Pool {
    /// An empty pool.
    pub fn new(config: PoolConfig) -> Arc<Self> {
        Arc::new(Self {
            idle: Mutex::new(HashMap::new()),
            config,
            resets: TaskTracker::new(),
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
        // On the caller's runtime: the socket is registered with that runtime's reactor.
        tokio::spawn(self.resets.track_future(async move {
            match conn.reset().await {
                Ok(()) => pool.insert_idle(conn),
                Err(e) => {
                    tracing::debug!(error = %e, "backend connection failed its reset; closed");
                    pool.stats.discarded.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
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

    /// Resets still in flight (connections given back and not yet idle).
    pub fn resets_in_flight(&self) -> usize {
        self.resets.len()
    }

    /// Closes every idle connection (shutdown), after waiting up to `wait` for the resets in
    /// flight so the connections they return are closed too (a reset still running after
    /// `wait` is left to end with its runtime).
    pub async fn close_all(&self, wait: Duration) {
        self.resets.close();
        if tokio::time::timeout(wait, self.resets.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = self.resets.len(),
                "backend connection resets still running at shutdown"
            );
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::PacketIo;
    use tokio::net::{TcpListener, TcpStream};

    const OK: [u8; 7] = [0x00, 0, 0, 0x02, 0x00, 0, 0];

    /// A backend that answers the two statements of a reset slowly (`delay` each) and then
    /// reports the first byte of the next command it receives (0x01: COM_QUIT).
    async fn slow_backend(delay: Duration) -> (String, tokio::task::JoinHandle<Option<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let mut io = PacketIo::new(stream);
            for _ in 0..2 {
                let command = io.read_packet(1024).await.expect("reset command");
                tokio::time::sleep(delay).await;
                io.send_packet(command.next_seq(), &OK).await.expect("OK");
            }
            let next = io.read_packet(1024).await.ok()?;
            next.payload.first().copied()
        });
        (addr, server)
    }

    fn conn(stream: TcpStream) -> BackendConn {
        BackendConn {
            io: PacketIo::new(stream),
            thread_id: 1,
            key: BackendKey {
                user: "app".to_owned(),
                node: "instance-2".to_owned(),
                capabilities: 0,
                mariadb_capabilities: 0,
                collation: 45,
                worker: crate::workers::MAIN,
            },
            idle_since: Instant::now(),
        }
    }

    /// A connection given back just before shutdown is reset, pooled and then closed with
    /// COM_QUIT: `close_all` waited for its reset instead of missing it.
    #[tokio::test]
    async fn close_all_waits_for_resets_in_flight() {
        let (addr, backend) = slow_backend(Duration::from_millis(100)).await;
        let pool = Pool::new(PoolConfig::default());
        let stream = TcpStream::connect(&addr).await.expect("connect");
        pool.put_back(conn(stream));
        assert_eq!(pool.resets_in_flight(), 1);
        pool.close_all(Duration::from_secs(5)).await;
        assert_eq!(pool.resets_in_flight(), 0);
        assert_eq!(backend.await.expect("backend task"), Some(0x01));
        assert_eq!(pool.stats.discarded.load(Ordering::Relaxed), 0);
    }

    /// A reset that outlives the bound does not hold shutdown up.
    #[tokio::test]
    async fn close_all_is_bounded() {
        let (addr, _backend) = slow_backend(Duration::from_secs(30)).await;
        let pool = Pool::new(PoolConfig::default());
        let stream = TcpStream::connect(&addr).await.expect("connect");
        pool.put_back(conn(stream));
        let started = Instant::now();
        pool.close_all(Duration::from_millis(100)).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(pool.resets_in_flight(), 1, "still running, abandoned");
    }
}
