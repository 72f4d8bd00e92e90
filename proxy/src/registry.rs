//! Every live client session, for the admin port (`SHOW SESSIONS`, `SHOW BACKENDS`) and for
//! `KILL <proxy connection id>`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
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
    /// Backend connection held: node id and that server's thread id.
    pub backend: Option<(String, u32)>,
    /// Why the session is pinned to its connection, when it is (routing issue).
    pub pin: Option<&'static str>,
    /// The client connection runs over TLS (`SHOW SESSIONS`' `tls` column).
    pub tls: bool,
}

#[derive(Debug)]
struct Entry {
    info: SessionInfo,
    kill: Arc<Notify>,
}

/// The table of live sessions.
#[derive(Debug, Default)]
pub struct Registry {
    sessions: Mutex<HashMap<u32, Entry>>,
    /// How many times sessions were pinned, by reason (never reset).
    pins: Mutex<HashMap<&'static str, u64>>,
}

/// Removes its session from the registry when dropped.
#[derive(Debug)]
pub struct Registration {
    registry: Arc<Registry>,
    id: u32,
    /// Notified when another client runs `KILL <id>`.
    pub killed: Arc<Notify>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Entry>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a session that has just logged in.
    pub fn register(self: &Arc<Self>, id: u32, user: &str, peer: SocketAddr) -> Registration {
        let kill = Arc::new(Notify::new());
        self.lock().insert(
            id,
            Entry {
                info: SessionInfo {
                    id,
                    user: user.to_owned(),
                    peer,
                    connected_at: SystemTime::now(),
                    backend: None,
                    pin: None,
                    tls: false,
                },
                kill: Arc::clone(&kill),
            },
        );
        Registration {
            registry: Arc::clone(self),
            id,
            killed: kill,
        }
    }

    /// Records whether the session's client connection runs over TLS.
    pub fn set_tls(&self, id: u32, tls: bool) {
        if let Some(e) = self.lock().get_mut(&id) {
            e.info.tls = tls;
        }
    }

    /// Records the backend connection a session now holds (None: it holds none).
    pub fn set_backend(&self, id: u32, backend: Option<(String, u32)>) {
        if let Some(e) = self.lock().get_mut(&id) {
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
        if let Some(e) = self.lock().get_mut(&id) {
            e.info.pin = pin;
        }
    }

    /// Records the user after COM_CHANGE_USER.
    pub fn set_user(&self, id: u32, user: &str) {
        if let Some(e) = self.lock().get_mut(&id) {
            e.info.user = user.to_owned();
        }
    }

    /// A copy of one session's row.
    pub fn get(&self, id: u32) -> Option<SessionInfo> {
        self.lock().get(&id).map(|e| e.info.clone())
    }

    /// A copy of every row, by id.
    pub fn snapshot(&self) -> Vec<SessionInfo> {
        let mut rows: Vec<SessionInfo> = self.lock().values().map(|e| e.info.clone()).collect();
        rows.sort_by_key(|s| s.id);
        rows
    }

    /// Asks session `id` to close (KILL CONNECTION); false when no such session exists.
    pub fn kill(&self, id: u32) -> bool {
        match self.lock().get(&id) {
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
        for e in self.lock().values() {
            if let Some((node, _)) = &e.info.backend {
                *out.entry(node.clone()).or_insert(0) += 1;
            }
        }
        out
    }
}
