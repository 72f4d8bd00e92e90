//! `<work_dir>/topology.json`: which node is primary, and the epoch, surviving restarts.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::SandboxError;

/// The persisted cluster shape. A re-run crowns `primary`, not instance-1, so a failover
/// done by the proxy survives `myquorum up` being restarted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    /// Node id of the primary ("instance-1" after the first start).
    pub primary: String,
    /// Incremented by every failover; fences writes from an old primary.
    pub epoch: u64,
    /// The nodes' TCP ports, instance-1 first.
    pub nodes: Vec<u16>,
}

impl Topology {
    /// The topology file of a work dir.
    pub fn path(work_dir: &Path) -> PathBuf {
        work_dir.join("topology.json")
    }

    /// Reads the topology of `work_dir`; `Ok(None)` if none was written yet.
    pub fn load(work_dir: &Path) -> Result<Option<Topology>, SandboxError> {
        let path = Self::path(work_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SandboxError::io("read", path, e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| SandboxError::Topology {
                path,
                reason: e.to_string(),
            })
    }

    /// Writes the topology atomically (temp file + rename): a crash mid-write must not leave
    /// a half file that makes the next start fail.
    pub fn save(&self, work_dir: &Path) -> Result<(), SandboxError> {
        let path = Self::path(work_dir);
        let tmp = work_dir.join("topology.json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(|e| SandboxError::Topology {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        crate::template::write(&tmp, &format!("{text}\n"))?;
        std::fs::rename(&tmp, &path).map_err(|e| SandboxError::io("rename into", path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_matches_the_documented_shape() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(Topology::load(dir.path()).expect("load"), None);
        let t = Topology {
            primary: "instance-2".into(),
            epoch: 3,
            nodes: vec![3401, 3402],
        };
        t.save(dir.path()).expect("save");
        assert_eq!(Topology::load(dir.path()).expect("load"), Some(t));
        let raw: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(Topology::path(dir.path())).expect("read"),
        )
        .expect("json");
        assert_eq!(raw["primary"], "instance-2");
        assert_eq!(raw["epoch"], 3);
    }
}
