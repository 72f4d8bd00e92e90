//! The idle pool of backend connections, keyed by user, node, flags and collation.
//!
//! A client session takes a connection when it first needs one and gives it back when it
//! ends or parks; the connection is reset (COM_RESET_CONNECTION) in the background before it
//! becomes available again, so no session ever sees another's variables, temporary tables,
//! prepared statements or open transaction. Between two statements a session holding nothing
//! but its recorded database and settings gives its connections back unreset
//! ([`Pool::put_between_statements`], statement multiplexing), marked with a fingerprint of
//! that state: only a session with the same fingerprint takes such a connection as it is;
//! any other gets it reset first ([`Pool::get`]).
//!
//! The reset tasks run on whichever runtime gave the connection back (a session thread, see
//! [`crate::workers`], or the main runtime for HTTP `/query`), so they are tracked with a
//! [`TaskTracker`], which works across runtimes: [`Pool::close_all`] waits for the resets in
//! flight before it closes the idle connections, instead of guessing how long they take.
//!
//! Bounded three ways (issue 15):
//! - **Caps.** Every connection holds two [`Permits`], one of the global cap
//!   (`pool.max_connections`) and one of its node's (`pool.max_connections_per_node`), from
//!   its opening to its closing (dropping it gives them back). At a cap, an idle connection of
//!   another key is closed to make room; when none is idle the session waits up to
//!   `pool.checkout_timeout_ms` and then gets 1040 Too many connections, instead of the proxy
//!   exhausting the server's `max_connections` (which would lock out the quorum watchers and
//!   the control plane).
//! - **Reaper.** A task closes idle connections older than `pool.idle_timeout_secs` (before,
//!   they were only dropped when a session happened to ask for their key), and, of each key's
//!   idle connections beyond `pool.min_idle_per_key`, those older than
//!   `pool.surplus_idle_timeout_secs`: after a burst, or once thousands of clients have
//!   parked ([`crate::frontend`] multiplexing), a node keeps a few warm connections per key.
//! - **Buffers.** A connection going idle gives back buffer memory a large answer made grow
//!   ([`crate::packet::PacketIo::shrink_buffers`]).
//!
//! A connection whose answer was not read to its end (the client went away mid-result) is
//! never reused: it is closed, and counted as discarded.

use mysql_common::constants::Command;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
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
    /// Connections discarded (failed reset, stale, over the idle limit, aborted mid-answer,
    /// closed by the reaper or to make room under a cap).
    pub discarded: AtomicU64,
    /// Checkouts refused with 1040 because a cap stayed reached for the whole wait.
    pub refused: AtomicU64,
}

/// A connection's places under the global and the per-node cap: held from its opening to
/// its closing, released when dropped (with the connection).
#[derive(Debug)]
pub struct Permits {
    _global: OwnedSemaphorePermit,
    _node: OwnedSemaphorePermit,
}

/// Idle backend connections, shared by every session of one proxy.
#[derive(Debug)]
pub struct Pool {
    idle: Mutex<HashMap<BackendKey, Vec<BackendConn>, crate::FastHash>>,
    config: PoolConfig,
    /// Reset tasks of connections given back and not yet idle (or discarded).
    resets: TaskTracker,
    /// The global cap on open connections.
    global: Arc<Semaphore>,
    /// The per-node caps, created at a node's first connection.
    nodes: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Counters.
    pub stats: PoolStats,
    /// TLS to the backends (`[proxy.backend_tls]`); None: plaintext.
    tls: Option<super::BackendTls>,
}

impl Pool {
    /// An empty pool. Inside a tokio runtime it also starts its reaper, which ends when the
    /// pool is dropped.
    pub fn new(config: PoolConfig) -> Arc<Self> {
        Self::with_tls(config, None)
    }

    /// [`Self::new`], opening every connection over TLS when `tls` is given.
    pub fn with_tls(config: PoolConfig, tls: Option<super::BackendTls>) -> Arc<Self> {
        let pool = Arc::new(Self {
            tls,
            idle: Mutex::new(HashMap::default()),
            global: Arc::new(Semaphore::new(config.max_connections)),
            nodes: Mutex::new(HashMap::new()),
            config,
            resets: TaskTracker::new(),
            stats: PoolStats::default(),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(reaper(Arc::downgrade(&pool)));
        }
        pool
    }

    /// TLS to the backends, when `[proxy.backend_tls]` is on.
    pub fn tls(&self) -> Option<&super::BackendTls> {
        self.tls.as_ref()
    }

    /// A connection for `key`: an idle one when a live one exists, else a new one (within
    /// the caps: see the module header). Of the idle ones it prefers, newest first, one that
    /// holds session state `state` (given back between statements by a session in the same
    /// state: nothing to replay), then a reset one, then one in another state, which it
    /// resets first. The connection returned holds `state` or none ([`BackendConn::state`]
    /// is None: the caller replays its session's database and settings); None asks for a
    /// reset one.
    pub async fn get(
        &self,
        node: &BackendNode,
        key: BackendKey,
        password: &str,
        attrs: &HashMap<String, String>,
        state: Option<u64>,
    ) -> Result<BackendConn, BackendError> {
        while let Some(mut conn) = self.take_idle(&key, state) {
            // A connection the server closed meanwhile (KILL, wait_timeout, a restart) is
            // found here, before a statement is sent on it.
            if conn.idle_since.elapsed() >= self.config.idle_timeout() || conn.io.is_stale() {
                self.stats.discarded.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if conn.state.is_some() && conn.state != state {
                if let Err(e) = conn.reset().await {
                    tracing::debug!(error = %e, "backend connection failed its reset; closed");
                    self.stats.discarded.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
            self.stats.reused.fetch_add(1, Ordering::Relaxed);
            return Ok(conn);
        }
        let permits = self.permits(&key.node).await?;
        let timeout = self.config.connect_timeout();
        let mut conn = conn::connect(node, key, password, attrs, timeout, self.tls.as_ref())
            .await
            .inspect_err(|e| {
                if matches!(e, BackendError::Tls { .. }) {
                    tracing::error!(node = %node.id, error = %e, "backend connection refused: TLS failed");
                }
            })?;
        conn.permits = Some(permits);
        self.stats.opened.fetch_add(1, Ordering::Relaxed);
        Ok(conn)
    }

    /// Places under both caps for a new connection to `node`: at once when free, else by
    /// closing an idle connection (of any key) that holds one, else by waiting up to the
    /// checkout timeout; then 1040.
    async fn permits(&self, node: &str) -> Result<Permits, BackendError> {
        let per_node = self.node_cap(node);
        let deadline = tokio::time::Instant::now() + self.config.checkout_timeout();
        let global = self
            .acquire(
                &self.global,
                None,
                deadline,
                node,
                self.config.max_connections,
            )
            .await?;
        let node_permit = self
            .acquire(
                &per_node,
                Some(node),
                deadline,
                node,
                self.config.max_connections_per_node,
            )
            .await?;
        Ok(Permits {
            _global: global,
            _node: node_permit,
        })
    }

    /// One permit of `cap`, making room by closing an idle connection (of `node`, or of any
    /// node for the global cap) when the cap is reached, else waiting until `deadline`.
    async fn acquire(
        &self,
        cap: &Arc<Semaphore>,
        evict_from: Option<&str>,
        deadline: tokio::time::Instant,
        node: &str,
        limit: usize,
    ) -> Result<OwnedSemaphorePermit, BackendError> {
        if let Ok(p) = Arc::clone(cap).try_acquire_owned() {
            return Ok(p);
        }
        // Dropping an idle connection gives its permits back at once.
        if self.evict_one_idle(evict_from) {
            if let Ok(p) = Arc::clone(cap).try_acquire_owned() {
                return Ok(p);
            }
        }
        match tokio::time::timeout_at(deadline, Arc::clone(cap).acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            // Timed out (or the semaphore was closed, which the pool never does).
            _ => {
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                Err(BackendError::TooManyConnections {
                    node: node.to_owned(),
                    cap: limit,
                })
            }
        }
    }

    /// The cap of `node`, created at its first use.
    fn node_cap(&self, node: &str) -> Arc<Semaphore> {
        let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cap) = nodes.get(node) {
            return Arc::clone(cap);
        }
        let cap = Arc::new(Semaphore::new(self.config.max_connections_per_node));
        nodes.insert(node.to_owned(), Arc::clone(&cap));
        cap
    }

    /// Closes the longest-idle connection of `node` (any node when None); false when none is
    /// idle. Dropping it sends COM_QUIT (`BackendConn`'s `Drop`).
    fn evict_one_idle(&self, node: Option<&str>) -> bool {
        let evicted = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let oldest = idle
                .iter()
                .filter(|(key, conns)| node.is_none_or(|n| *key.node == *n) && !conns.is_empty())
                .min_by_key(|(_, conns)| conns.first().map(|c| c.idle_since))
                .map(|(key, _)| key.clone());
            oldest.and_then(|key| {
                let conns = idle.get_mut(&key)?;
                // The oldest of a key is first: connections are pushed as they go idle.
                let conn = (!conns.is_empty()).then(|| conns.remove(0));
                if conns.is_empty() {
                    idle.remove(&key);
                }
                conn
            })
        };
        match evicted {
            Some(conn) => {
                drop(conn);
                self.stats.discarded.fetch_add(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Closes the idle connections that have idled past the idle timeout at `now`, and of
    /// each key's connections beyond `min_idle_per_key` those idle past the surplus timeout;
    /// returns how many. Run by the reaper; `now` is a parameter so tests need not wait.
    pub fn reap(&self, now: Instant) -> usize {
        let expired: Vec<BackendConn> = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let mut out = Vec::new();
            for conns in idle.values_mut() {
                let close = self.expired_prefix(conns, now);
                out.extend(conns.drain(..close));
            }
            idle.retain(|_, conns| !conns.is_empty());
            out
        };
        let n = expired.len();
        self.stats.discarded.fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    /// How many of one key's idle connections (oldest first: they are pushed as they go idle
    /// and taken from the end) the reaper closes at `now`.
    fn expired_prefix(&self, conns: &[BackendConn], now: Instant) -> usize {
        let idle_for = |c: &BackendConn| now.saturating_duration_since(c.idle_since);
        let past_timeout = conns
            .iter()
            .position(|c| idle_for(c) < self.config.idle_timeout())
            .unwrap_or(conns.len());
        let surplus = conns.len().saturating_sub(self.config.min_idle_per_key);
        let past_surplus_timeout = conns
            .iter()
            .take(surplus)
            .position(|c| idle_for(c) < self.config.surplus_idle_timeout())
            .unwrap_or(surplus);
        past_timeout.max(past_surplus_timeout)
    }

    fn take_idle(&self, key: &BackendKey, state: Option<u64>) -> Option<BackendConn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let conns = idle.get_mut(key)?;
        let pick = state
            .and_then(|state| conns.iter().rposition(|c| c.state == Some(state)))
            .or_else(|| conns.iter().rposition(|c| c.state.is_none()))
            .or_else(|| conns.len().checked_sub(1))?;
        Some(conns.remove(pick))
    }

    /// Closes statement `backend_id` on the idle connection of `key` with server thread
    /// `thread_id`, if it is idle and still holds it (the client closed a statement its
    /// session left there between statements). The COM_STMT_CLOSE goes out with the next
    /// command sent on the connection (it has no answer).
    pub fn close_statement_if_idle(&self, key: &BackendKey, thread_id: u32, backend_id: u32) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let Some(conn) = idle
            .get_mut(key)
            .and_then(|conns| conns.iter_mut().find(|c| c.thread_id == thread_id))
        else {
            return;
        };
        conn.forget_prepared(backend_id);
    }

    /// Takes back a connection between two statements of a session (statement
    /// multiplexing): idle at once, not reset, marked with the session's `state` so a
    /// session in the same state takes it as it is and any other resets it first. Not
    /// bounded by `max_idle_per_key` (it is in use a moment later; the reaper trims what
    /// stays idle). A connection whose answer was not read to its end is closed instead.
    pub fn put_between_statements(&self, mut conn: BackendConn, state: u64) {
        if conn.answer_pending || !conn.io.rbuf.is_empty() {
            tracing::debug!(node = %conn.key.node, "backend connection aborted mid-answer; closed");
            self.stats.discarded.fetch_add(1, Ordering::Relaxed);
            return;
        }
        conn.state = Some(state);
        conn.idle_since = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        // No copy of the key per statement: its list is there after the first return.
        match idle.get_mut(&conn.key) {
            Some(conns) => conns.push(conn),
            None => {
                idle.insert(conn.key.clone(), vec![conn]);
            }
        }
    }

    /// Returns a connection after its session ended: reset in the background, then idle.
    /// A connection whose last answer was not read to its end is closed instead: its unread
    /// packets must never reach another session.
    pub fn put_back(self: &Arc<Self>, mut conn: BackendConn) {
        if conn.answer_pending || !conn.io.rbuf.is_empty() {
            tracing::debug!(node = %conn.key.node, "backend connection aborted mid-answer; closed");
            self.stats.discarded.fetch_add(1, Ordering::Relaxed);
            return;
        }
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
        conn.io.shrink_buffers();
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
            *out.entry(key.node.to_string()).or_insert(0) += conns.len();
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

/// Closes expired idle connections every quarter of the shorter of the two idle timeouts
/// (at least every second, at most every 30 s) until the pool is dropped.
async fn reaper(pool: Weak<Pool>) {
    let every = match pool.upgrade() {
        Some(p) => (p.config.idle_timeout().min(p.config.surplus_idle_timeout()) / 4)
            .clamp(Duration::from_secs(1), Duration::from_secs(30)),
        None => return,
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        let closed = pool.reap(Instant::now());
        if closed > 0 {
            tracing::debug!(closed, "reaped idle backend connections");
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
            io: PacketIo::over(crate::backend::BackendStream::plain(stream)),
            thread_id: 1,
            key: BackendKey {
                user: "app".into(),
                node: "instance-2".into(),
                capabilities: 0,
                mariadb_capabilities: 0,
                collation: 45,
                worker: crate::workers::MAIN,
            },
            idle_since: Instant::now(),
            answer_pending: false,
            permits: None,
            state: None,
            prepared: Default::default(),
            tainted: false,
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

    /// A connected socket pair: the proxy's end, and the backend's end (kept open).
    async fn socket() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        (client, server)
    }

    #[tokio::test]
    async fn a_session_takes_its_own_state_first_then_a_reset_connection() {
        let pool = Pool::new(PoolConfig::default());
        let key = conn(socket().await.0).key.clone();
        for (thread, state) in [(1, Some(7)), (2, None), (3, Some(9)), (4, Some(7))] {
            let mut c = conn(socket().await.0);
            c.thread_id = thread;
            c.state = state;
            pool.insert_idle(c);
        }
        let taken = || pool.take_idle(&key, Some(7)).map(|c| c.thread_id);
        // Its own state, newest first; then the reset one; then another state.
        assert_eq!(taken(), Some(4));
        assert_eq!(taken(), Some(1));
        assert_eq!(taken(), Some(2));
        assert_eq!(taken(), Some(3));
        assert_eq!(taken(), None);
    }

    fn capped(per_node: usize, global: usize) -> Arc<Pool> {
        Pool::new(PoolConfig {
            max_connections_per_node: per_node,
            max_connections: global,
            checkout_timeout_ms: 50,
            ..PoolConfig::default()
        })
    }

    /// At the per-node cap a checkout waits (bounded) and then is refused with 1040; the
    /// other nodes are not affected; a connection closed gives its place back.
    #[tokio::test]
    async fn per_node_cap_refuses_with_1040() {
        let pool = capped(2, 100);
        let a = pool.permits("instance-1").await.expect("first");
        let _b = pool.permits("instance-1").await.expect("second");
        let refused = pool.permits("instance-1").await;
        match refused {
            Err(e @ BackendError::TooManyConnections { .. }) => {
                assert_eq!(crate::error::MysqlError::from(&e).code, 1040);
            }
            other => panic!("expected 1040, got {other:?}"),
        }
        assert_eq!(pool.stats.refused.load(Ordering::Relaxed), 1);
        pool.permits("instance-2").await.expect("another node");
        drop(a);
        pool.permits("instance-1")
            .await
            .expect("a place was given back");
    }

    /// The global cap counts every node's connections together.
    #[tokio::test]
    async fn global_cap_counts_all_nodes() {
        let pool = capped(10, 2);
        let _a = pool.permits("instance-1").await.expect("first");
        let _b = pool.permits("instance-2").await.expect("second");
        assert!(matches!(
            pool.permits("instance-3").await,
            Err(BackendError::TooManyConnections { cap: 2, .. })
        ));
    }

    /// At a cap, an idle connection (of another key) is closed to make room rather than the
    /// session being refused while nothing is in use.
    #[tokio::test]
    async fn an_idle_connection_makes_room() {
        let pool = capped(1, 100);
        let (stream, _server) = socket().await;
        let mut idle = conn(stream);
        idle.permits = Some(pool.permits("instance-2").await.expect("place"));
        pool.insert_idle(idle);
        pool.permits("instance-2")
            .await
            .expect("the idle connection was closed for it");
        assert_eq!(pool.stats.discarded.load(Ordering::Relaxed), 1);
        assert!(pool.idle_by_node().is_empty());
    }

    /// The reaper closes connections idle past the idle timeout (and only those).
    #[tokio::test]
    async fn reaper_closes_expired_idle_connections() {
        let pool = Pool::new(PoolConfig::default());
        let (stream, _server) = socket().await;
        pool.insert_idle(conn(stream));
        assert_eq!(pool.reap(Instant::now()), 0, "fresh: kept");
        let later = Instant::now() + PoolConfig::default().idle_timeout() + Duration::from_secs(1);
        assert_eq!(pool.reap(later), 1);
        assert!(pool.idle_by_node().is_empty());
        assert_eq!(pool.stats.discarded.load(Ordering::Relaxed), 1);
    }

    /// Beyond `min_idle_per_key`, the oldest idle connections of a key close after the
    /// surplus timeout; the warm ones stay until the idle timeout.
    #[tokio::test]
    async fn reaper_shrinks_a_key_to_its_warm_connections() {
        let config = PoolConfig {
            min_idle_per_key: 2,
            ..PoolConfig::default()
        };
        let pool = Pool::new(config.clone());
        for _ in 0..5 {
            let (stream, _server) = socket().await;
            pool.insert_idle(conn(stream));
        }
        assert_eq!(pool.reap(Instant::now()), 0, "fresh: kept");
        let after_surplus = Instant::now() + config.surplus_idle_timeout() + Duration::from_secs(1);
        assert_eq!(pool.reap(after_surplus), 3, "the surplus closes");
        assert_eq!(pool.idle_by_node().values().sum::<usize>(), 2);
        assert_eq!(pool.reap(after_surplus), 0, "the warm ones stay");
        let after_timeout = Instant::now() + config.idle_timeout() + Duration::from_secs(1);
        assert_eq!(pool.reap(after_timeout), 2);
        assert!(pool.idle_by_node().is_empty());
    }

    /// A connection whose answer was not read to its end is closed, never reset and reused:
    /// the backend sees the socket close, not a COM_RESET_CONNECTION.
    #[tokio::test]
    async fn aborted_connection_is_closed_not_pooled() {
        let pool = Pool::new(PoolConfig::default());
        let (stream, server) = socket().await;
        let mut aborted = conn(stream);
        aborted.answer_pending = true;
        pool.put_back(aborted);
        assert_eq!(pool.resets_in_flight(), 0);
        assert_eq!(pool.stats.discarded.load(Ordering::Relaxed), 1);
        let mut io = PacketIo::new(server);
        assert!(
            io.read_packet(1024).await.is_err(),
            "closed without a command"
        );
        assert!(pool.idle_by_node().is_empty());
    }

    /// A connection going idle gives back the buffer memory a 16 MB answer made grow.
    #[tokio::test]
    async fn idle_connections_shrink_their_buffers() {
        let pool = Pool::new(PoolConfig::default());
        let (stream, _server) = socket().await;
        let mut grown = conn(stream);
        grown.io.wbuf.reserve(16 << 20);
        grown.io.rbuf.reserve(16 << 20);
        pool.insert_idle(grown);
        let key = conn(socket().await.0).key.clone();
        let idle = pool.take_idle(&key, None).expect("pooled");
        assert!(idle.io.rbuf.capacity() <= crate::packet::SHRINK_ABOVE);
        assert!(idle.io.wbuf.capacity() <= crate::packet::SHRINK_ABOVE);
    }
}
