//! Every live client session, for the admin port (`SHOW SESSIONS`, `SHOW BACKENDS`) and for
//! `KILL <proxy connection id>`.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};
use tokio::sync::Notify;

/// What the proxy shows of one client session.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The proxy's connection id (what the client saw in the greeting).
    pub id: u32,
    /// Authenticated user.
    pub user: String,
    /// Client address.
    pub peer: SocketAddr,
    /// When the client connected.
    pub connected_at: SystemTime,
    /// Backend connection held on the primary (or the first one opened): node id and that
    /// server's thread id (what `SHOW SESSIONS` shows).
    pub backend: Option<(Arc<str>, u32)>,
    /// Every backend connection held, one per node: node id and thread id.
    pub held: Vec<(Arc<str>, u32)>,
    /// The backend connection running the session's current statement, if one is running
    /// (filled in by [`Registry::get`] and [`Registry::snapshot`]).
    pub running: Option<(String, u32)>,
    /// Why the session is pinned to its connection, when it is (routing issue).
    pub pin: Option<&'static str>,
    /// The client connection runs over TLS (`SHOW SESSIONS`' `tls` column).
    pub tls: bool,
    /// The session's default database (`SHOW PROCESSLIST`'s `db`), lossy UTF-8.
    pub db: Option<String>,
    /// When the session's current state began: its running statement started, or its last
    /// statement ended (`SHOW PROCESSLIST`'s `Time`; filled in like `running`).
    pub since: Option<Instant>,
}

/// The highest id handed out: ids stay within a signed 32-bit integer because some drivers
/// (Connector/NET's `ServerThread`, for one) keep the greeting's id in an `int`; after it the
/// counter wraps to 1, skipping every id still in use.
pub const MAX_CONNECTION_ID: u32 = i32::MAX as u32;

/// The backend connection a session is running a statement on, shared between the session
/// (which writes it around each statement, without the registry's lock) and the registry
/// (which reads it for `KILL QUERY`).
#[derive(Debug, Default)]
struct Running {
    /// Node id of the connection, kept allocated between statements.
    node: String,
    /// That server's thread id; 0 when the session is not running anything.
    thread: u32,
    /// When the statement started, or the last one ended.
    since: Option<Instant>,
}

#[derive(Debug)]
struct Entry {
    info: SessionInfo,
    kill: Arc<Notify>,
    running: Arc<Mutex<Running>>,
}

/// Sessions by id, and the ids handed out to connections that have not logged in yet.
#[derive(Debug)]
struct Table {
    sessions: HashMap<u32, Entry, crate::FastHash>,
    /// Ids of connections still in their handshake (not yet in `sessions`).
    reserved: HashSet<u32, crate::FastHash>,
    /// The next id to try.
    next: u32,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            sessions: HashMap::default(),
            reserved: HashSet::default(),
            next: 1,
        }
    }
}

impl Table {
    /// The next id that no live session, no connection in its handshake and no backend
    /// connection a session holds (its thread id, which a client can read from the server's
    /// process list) is using: the counter runs 1..=[`MAX_CONNECTION_ID`] and wraps.
    fn allocate(&mut self) -> u32 {
        let held: HashSet<u32> = self
            .sessions
            .values()
            .flat_map(|e| e.info.held.iter().map(|(_, thread)| *thread))
            .collect();
        loop {
            let id = self.next;
            self.next = if id >= MAX_CONNECTION_ID { 1 } else { id + 1 };
            if id != 0
                && !self.sessions.contains_key(&id)
                && !self.reserved.contains(&id)
                && !held.contains(&id)
            {
                return id;
            }
        }
    }
}

/// The table of live sessions.
#[derive(Debug, Default)]
pub struct Registry {
    table: Mutex<Table>,
    /// How many times sessions were pinned, by reason (never reset).
    pins: Mutex<HashMap<&'static str, u64>>,
}

/// A connection id handed out to a connection in its handshake: no other connection gets it
/// while this lives (dropped unregistered, it is free again).
#[derive(Debug)]
pub struct ConnectionId {
    registry: Arc<Registry>,
    id: u32,
}

impl ConnectionId {
    /// The id (what the greeting carries).
    pub fn get(&self) -> u32 {
        self.id
    }
}

impl Drop for ConnectionId {
    fn drop(&mut self) {
        self.registry.lock().reserved.remove(&self.id);
    }
}

/// Removes its session from the registry when dropped.
#[derive(Debug)]
pub struct Registration {
    registry: Arc<Registry>,
    id: u32,
    /// Notified when another client runs `KILL <id>`.
    pub killed: Arc<Notify>,
    running: Arc<Mutex<Running>>,
}

impl Registration {
    /// Records that the session now runs a statement on `node`'s connection `thread` (what
    /// `KILL QUERY` from another session interrupts). Costs one uncontended lock and, after
    /// the first statement, no allocation.
    pub fn running(&self, node: &str, thread: u32) {
        let now = Instant::now();
        let mut r = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if r.node != node {
            r.node.clear();
            r.node.push_str(node);
        }
        r.thread = thread;
        r.since = Some(now);
    }

    /// Records that the session's statement is over.
    pub fn finished(&self) {
        let now = Instant::now();
        let mut r = self.running.lock().unwrap_or_else(|p| p.into_inner());
        r.thread = 0;
        r.since = Some(now);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.lock().sessions.remove(&self.id);
    }
}

impl Entry {
    /// A copy of the session's row with its running statement's connection.
    fn row(&self) -> SessionInfo {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let mut info = self.info.clone();
        info.running = (running.thread != 0).then(|| (running.node.clone(), running.thread));
        info.since = running.since;
        info
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new connection id, held for a connection until it registers (or drops the id).
    pub fn reserve_id(self: &Arc<Self>) -> ConnectionId {
        let mut table = self.lock();
        let id = table.allocate();
        table.reserved.insert(id);
        ConnectionId {
            registry: Arc::clone(self),
            id,
        }
    }

    /// A connection id for a connection that never registers (the admin port): unique among
    /// live sessions when handed out, not held afterwards.
    pub fn allocate_id(&self) -> u32 {
        self.lock().allocate()
    }

    /// Adds a session that has just logged in, under the id its greeting carried.
    pub fn register(
        self: &Arc<Self>,
        id: ConnectionId,
        user: &str,
        peer: SocketAddr,
    ) -> Registration {
        let kill = Arc::new(Notify::new());
        let running = Arc::new(Mutex::new(Running {
            since: Some(Instant::now()),
            ..Running::default()
        }));
        // The row is in place before the reservation goes (when `id` drops at the end): the
        // id is never free in between.
        self.lock().sessions.insert(
            id.id,
            Entry {
                info: SessionInfo {
                    id: id.id,
                    user: user.to_owned(),
                    peer,
                    connected_at: SystemTime::now(),
                    backend: None,
                    held: Vec::new(),
                    running: None,
                    pin: None,
                    tls: false,
                    db: None,
                    since: None,
                },
                kill: Arc::clone(&kill),
                running: Arc::clone(&running),
            },
        );
        Registration {
            registry: Arc::clone(self),
            id: id.id,
            killed: kill,
            running,
        }
    }

    /// Records a backend connection a session now holds (node id, that server's thread id);
    /// `as_backend`: it is also the connection SHOW PROCESSLIST names as the session's own
    /// (its primary connection, or its first). One lock for both: a multiplexing session
    /// attaches a connection for every statement.
    pub fn attach(&self, id: u32, node: &Arc<str>, thread: u32, as_backend: bool) {
        if let Some(e) = self.lock().sessions.get_mut(&id) {
            e.info.held.retain(|(n, _)| n != node);
            e.info.held.push((Arc::clone(node), thread));
            if as_backend {
                e.info.backend = Some((Arc::clone(node), thread));
            }
        }
    }

    /// Records that a session no longer holds its connection to `node`, nor names it as its
    /// backend.
    pub fn detach(&self, id: u32, node: &str) {
        if let Some(e) = self.lock().sessions.get_mut(&id) {
            e.info.held.retain(|(n, _)| **n != *node);
            if e.info.backend.as_ref().is_some_and(|(n, _)| **n == *node) {
                e.info.backend = None;
            }
        }
    }

    /// Records that a session holds no backend connection at all (it gave them back).
    pub fn detach_all(&self, id: u32) {
        if let Some(e) = self.lock().sessions.get_mut(&id) {
            e.info.held.clear();
            e.info.backend = None;
        }
    }

    /// Records whether the session's client connection runs over TLS.
    pub fn set_tls(&self, id: u32, tls: bool) {
        if let Some(e) = self.lock().sessions.get_mut(&id) {
            e.info.tls = tls;
        }
    }

    /// Records the backend connection a session now holds (None: it holds none).
    pub fn set_backend(&self, id: u32, backend: Option<(Arc<str>, u32)>) {
        if let Some(e) = self.lock().sessions.get_mut(&id) {
            e.info.backend = backend;
        }
    }

    /// Counts one pin taken by a session, by reason (also logged at debug level).
    pub fn count_pin(&self, reason: &'static str) {
        tracing::debug!(reason, "session pinned to the primary");
        *self
            .pins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(reason)
            .or_insert(0) += 1;
    }

    /// Pins taken so far, by reason.
    pub fn pin_counts(&self) -> Vec<(&'static str, u64)> {
        let mut counts: Vec<_> = self
            .pins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect();
        counts.sort();
        counts
    }

    /// Records why the session is pinned (None: not pinned).
    pub fn set_pin(&self, id: u32, pin: Option<&'static str>) {
        if let Some(e) = self.lock().sessions.get_mut(&id) {
            e.info.pin = pin;
        }
    }

    /// Records the session's default database (None: no database selected).
    pub fn set_db(&self, id: u32, db: Option<&[u8]>) {
        if let Some(e) = self.lock().sessions.get_mut(&id) {
            e.info.db = db.map(|d| String::from_utf8_lossy(d).into_owned());
        }
    }

    /// Records the user after COM_CHANGE_USER.
    pub fn set_user(&self, id: u32, user: &str) {
        if let Some(e) = self.lock().sessions.get_mut(&id) {
            e.info.user = user.to_owned();
        }
    }

    /// A copy of one session's row.
    pub fn get(&self, id: u32) -> Option<SessionInfo> {
        self.lock().sessions.get(&id).map(Entry::row)
    }

    /// A copy of every row, by id.
    pub fn snapshot(&self) -> Vec<SessionInfo> {
        let mut rows: Vec<SessionInfo> = self.lock().sessions.values().map(Entry::row).collect();
        rows.sort_by_key(|s| s.id);
        rows
    }

    /// Asks session `id` to close (KILL CONNECTION); false when no such session exists.
    pub fn kill(&self, id: u32) -> bool {
        match self.lock().sessions.get(&id) {
            Some(e) => {
                e.kill.notify_one();
                true
            }
            None => false,
        }
    }

    /// Busy (held by a session) backend connections per node id.
    pub fn busy_by_node(&self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for e in self.lock().sessions.values() {
            if let Some((node, _)) = &e.info.backend {
                *out.entry(node.to_string()).or_insert(0) += 1;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 40000))
    }

    #[test]
    fn ids_start_at_one_and_are_not_reused_while_reserved_or_live() {
        let registry = Arc::new(Registry::default());
        let a = registry.reserve_id();
        let b = registry.reserve_id();
        assert_eq!((a.get(), b.get()), (1, 2));
        let _session = registry.register(a, "app", peer());
        registry.lock().next = 1;
        let c = registry.reserve_id();
        assert_eq!(
            c.get(),
            3,
            "1 is a live session, 2 a connection in its handshake"
        );
        drop(b);
        registry.lock().next = 1;
        assert_eq!(
            registry.reserve_id().get(),
            2,
            "a dropped reservation frees its id"
        );
    }

    #[test]
    fn the_counter_wraps_below_i32_max_and_skips_live_sessions() {
        let registry = Arc::new(Registry::default());
        let first = registry.reserve_id();
        let _one = registry.register(first, "app", peer());
        registry.lock().next = MAX_CONNECTION_ID;
        let last = registry.reserve_id();
        assert_eq!(last.get(), MAX_CONNECTION_ID);
        let wrapped = registry.reserve_id();
        assert_eq!(
            wrapped.get(),
            2,
            "0 is never handed out and 1 is still live"
        );
        assert!(registry.allocate_id() <= MAX_CONNECTION_ID);
    }

    #[test]
    fn ids_skip_thread_ids_of_backend_connections_sessions_hold() {
        let registry = Arc::new(Registry::default());
        let first = registry.reserve_id();
        let one = registry.register(first, "app", peer());
        registry.attach(one.id, &"node2".into(), 2, true);
        registry.attach(one.id, &"node3".into(), 3, false);
        assert_eq!(registry.reserve_id().get(), 4);
        registry.detach(one.id, "node3");
        registry.lock().next = 2;
        assert_eq!(registry.allocate_id(), 3);
        // The connection the session is shown on goes with its node; then all of them.
        let backend = |r: &Registry| r.get(one.id).and_then(|s| s.backend);
        assert_eq!(backend(&registry), Some(("node2".into(), 2)));
        registry.detach(one.id, "node2");
        assert_eq!(backend(&registry), None);
        registry.attach(one.id, &"node2".into(), 5, true);
        registry.detach_all(one.id);
        assert_eq!(backend(&registry), None);
    }

    #[test]
    fn database_and_state_changes_show_in_the_row() {
        let registry = Arc::new(Registry::default());
        let id = registry.reserve_id();
        let session = registry.register(id, "app", peer());
        let connected = registry.get(1).and_then(|s| s.since).expect("since login");
        registry.set_db(1, Some(b"shop"));
        assert_eq!(registry.get(1).and_then(|s| s.db).as_deref(), Some("shop"));
        session.running("node1", 7);
        let started = registry.get(1).and_then(|s| s.since).expect("since start");
        assert!(started >= connected);
        session.finished();
        let ended = registry.get(1).and_then(|s| s.since).expect("since end");
        assert!(ended >= started);
        registry.set_db(1, None);
        assert_eq!(registry.get(1).and_then(|s| s.db), None);
    }

    #[test]
    fn the_running_connection_is_visible_to_kill() {
        let registry = Arc::new(Registry::default());
        let id = registry.reserve_id();
        let session = registry.register(id, "app", peer());
        assert_eq!(registry.get(1).and_then(|s| s.running), None);
        session.running("node3", 42);
        assert_eq!(
            registry.get(1).and_then(|s| s.running),
            Some(("node3".to_owned(), 42))
        );
        session.finished();
        assert_eq!(registry.get(1).and_then(|s| s.running), None);
        drop(session);
        assert!(registry.get(1).is_none());
        assert!(!registry.kill(1));
    }
}
