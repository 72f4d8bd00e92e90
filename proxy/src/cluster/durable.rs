//! What must survive a restart of the proxy itself (DESIGN.md section 7), kept in the
//! configured `state_dir`:
//!
//! - `acknowledged_gtid`: the highest STRONG-acknowledged GTID sequence number. A STRONG OK
//!   leaves only after it is on disk, so a failover after a proxy restart still refuses to
//!   promote a replica that misses an acknowledged write. Written in place (one fixed-width
//!   line, well under one disk sector) and `fdatasync`ed, with group commit: while one flush
//!   runs, every OK that arrives joins the next one, so a burst of N STRONG writes costs a few
//!   fsyncs, not N.
//! - `cluster.json`: the epoch, the primary and the fenced nodes, replaced atomically (temp
//!   file, fsync, rename) by every topology change, so a restarted proxy neither crowns the
//!   old primary again nor reuses an epoch.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// File name of the acknowledged position in the state directory.
const ACK_FILE: &str = "acknowledged_gtid";
/// File name of the persisted topology in the state directory.
const CLUSTER_FILE: &str = "cluster.json";

/// Why persisted state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file of the state directory could not be read, written or synced.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A file of the state directory holds something else than what the proxy writes.
    #[error("{path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn io_err(action: &'static str, path: &Path, source: std::io::Error) -> StateError {
    StateError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// The topology as persisted: enough to resume with the same primary and a higher epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistedTopology {
    /// Failover generation.
    pub epoch: u64,
    /// Id of the primary of that epoch.
    pub primary: String,
    /// Ids of fenced nodes (old primaries not rejoined yet): never routed to.
    #[serde(default)]
    pub fenced: Vec<String>,
}

impl PersistedTopology {
    /// Reads `cluster.json` of `dir`; None when there is none yet.
    pub fn load(dir: &Path) -> Result<Option<Self>, StateError> {
        let path = dir.join(CLUSTER_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("read", &path, e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                path,
                reason: e.to_string(),
            })
    }

    /// Replaces `cluster.json` of `dir` atomically and durably.
    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        let path = dir.join(CLUSTER_FILE);
        let tmp = dir.join("cluster.json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let mut file = File::create(&tmp).map_err(|e| io_err("create", &tmp, e))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| io_err("write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io_err("rename into", &path, e))?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// Group flush state of [`AckLog`].
#[derive(Debug, Default)]
struct Flush {
    /// Highest position asked to be persisted.
    wanted: u64,
    /// A flush task is writing and syncing now.
    running: bool,
}

/// What the flush task shares with the callers of [`AckLog::persist`].
#[derive(Debug)]
struct AckShared {
    /// The file and its path (None: no state directory; nothing is persisted).
    file: Option<(PathBuf, File)>,
    /// Group-commit state.
    flush: Mutex<Flush>,
    /// Highest position known to be on disk.
    durable: watch::Sender<u64>,
}

impl AckShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Flush> {
        self.flush.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes and syncs the highest wanted position until nothing new is wanted. Runs on the
    /// blocking pool, detached from any caller, so a caller that goes away cannot leave the
    /// flush half done.
    fn flush_all(&self) {
        let Some((path, file)) = &self.file else {
            return;
        };
        loop {
            let target = self.lock().wanted;
            let line = format!("{target:020}\n");
            let written = file
                .write_all_at(line.as_bytes(), 0)
                .and_then(|()| file.sync_data());
            if let Err(e) = written {
                tracing::error!(path = %path.display(), error = %e,
                    "could not persist the acknowledged GTID; it is kept in memory only");
            }
            self.durable.send_modify(|d| *d = (*d).max(target));
            let mut flush = self.lock();
            if flush.wanted <= target {
                flush.running = false;
                return;
            }
        }
    }
}

/// The durable highest STRONG-acknowledged position (see the module docs).
#[derive(Debug, Clone)]
pub struct AckLog {
    shared: Arc<AckShared>,
}

impl AckLog {
    /// Opens (creating if needed) the position file of `dir` and returns the log with the
    /// position read from it; without a directory, a log that persists nothing (position 0).
    pub fn open(dir: Option<&Path>) -> Result<(Self, u64), StateError> {
        let Some(dir) = dir else {
            return Ok((Self::memory_only(), 0));
        };
        std::fs::create_dir_all(dir).map_err(|e| io_err("create directory", dir, e))?;
        let path = dir.join(ACK_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io_err("read", &path, e)),
        };
        let seq = match text.trim() {
            "" => 0,
            t => t.parse::<u64>().map_err(|e| StateError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io_err("open", &path, e))?;
        let shared = AckShared {
            file: Some((path, file)),
            flush: Mutex::new(Flush {
                wanted: seq,
                running: false,
            }),
            durable: watch::Sender::new(seq),
        };
        Ok((
            Self {
                shared: Arc::new(shared),
            },
            seq,
        ))
    }

    /// A log that keeps nothing on disk.
    pub fn memory_only() -> Self {
        Self {
            shared: Arc::new(AckShared {
                file: None,
                flush: Mutex::new(Flush::default()),
                durable: watch::Sender::new(0),
            }),
        }
    }

    /// Whether positions survive a restart (a state directory is configured).
    pub fn is_durable(&self) -> bool {
        self.shared.file.is_some()
    }

    /// Returns once `seq` (or a higher position) is on disk. The first caller of a batch
    /// starts a flush task; every caller that arrives meanwhile is served by it or by the
    /// next round it runs. A write error is logged and the callers released: the position
    /// then lives in memory only until the next successful flush.
    pub async fn persist(&self, seq: u64) {
        if !self.is_durable() {
            return;
        }
        let mut durable = self.shared.durable.subscribe();
        if *durable.borrow_and_update() >= seq {
            return;
        }
        let lead = {
            let mut flush = self.shared.lock();
            flush.wanted = flush.wanted.max(seq);
            !std::mem::replace(&mut flush.running, true)
        };
        if lead {
            let shared = Arc::clone(&self.shared);
            tokio::task::spawn_blocking(move || shared.flush_all());
        }
        let _ = durable.wait_for(|d| *d >= seq).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn positions_survive_a_reopen_and_only_grow() {
        let dir = tempfile_dir();
        let (log, seq) = AckLog::open(Some(&dir)).expect("open");
        assert_eq!(seq, 0);
        let log = Arc::new(log);
        let mut tasks = Vec::new();
        for s in [5u64, 9, 7, 3] {
            let log = Arc::clone(&log);
            tasks.push(tokio::spawn(async move { log.persist(s).await }));
        }
        for t in tasks {
            t.await.expect("persisted");
        }
        drop(log);
        let (_, seq) = AckLog::open(Some(&dir)).expect("reopen");
        assert_eq!(seq, 9);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_topology_round_trips() {
        let dir = tempfile_dir();
        assert_eq!(PersistedTopology::load(&dir).expect("load"), None);
        let t = PersistedTopology {
            epoch: 3,
            primary: "instance-2".into(),
            fenced: vec!["instance-1".into()],
        };
        t.save(&dir).expect("save");
        assert_eq!(PersistedTopology::load(&dir).expect("load"), Some(t));
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "myquorum-durable-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }
}
