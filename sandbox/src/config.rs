//! What a sandbox cluster looks like: [`SandboxConfig`] and the paths derived from it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::SandboxError;

/// Everything [`crate::Cluster::start`] needs. `Default` gives the `myquorum up` defaults, so
/// the command line only has to override what the user changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// Where data dirs, logs, pid files and `topology.json` live. Relative paths are taken
    /// from the current directory. Default `.myquorum/sandbox`.
    pub work_dir: PathBuf,
    /// How many MariaDB servers: instance-1 is the first primary, the rest replicate from it.
    /// Default 4; must be 2..=9.
    pub nodes: usize,
    /// instance-k listens on `base_port + k - 1`. Default 3401.
    pub base_port: u16,
    /// Wipe `work_dir` first instead of re-using its data and topology. Default false.
    pub fresh: bool,
    /// The application user, granted `ALL` on `app_database` only. Default "app".
    pub app_user: String,
    /// The application user's password. Default "app".
    pub app_password: String,
    /// The application database, holding the demo tables. Default "app".
    pub app_database: String,
    /// The user the proxy's monitor and failover log in as. Default "myquorum".
    pub control_user: String,
    /// The control user's password (also the replication user's). Default "myquorum".
    pub control_password: String,
    /// Path to `mariadbd`; `None` searches `PATH`, `/usr/sbin` and `/usr/bin`.
    pub mariadbd: Option<PathBuf>,
    /// Start every server with TLS (`ssl_cert`, `ssl_key`, `ssl_ca`) from the CA and server
    /// certificate in `work_dir/tls` (generated on first use, the same files `myquorum up`
    /// gives the proxy's ports). Default false.
    pub tls: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            work_dir: PathBuf::from(".myquorum/sandbox"),
            nodes: 4,
            base_port: 3401,
            fresh: false,
            app_user: "app".into(),
            app_password: "app".into(),
            app_database: "app".into(),
            control_user: "myquorum".into(),
            control_password: "myquorum".into(),
            mariadbd: None,
            tls: false,
        }
    }
}

/// The replication user every replica's IO thread logs in as (password: `control_password`).
pub const REPL_USER: &str = "myquorum_repl";

impl SandboxConfig {
    /// Checks every value before anything is started; errors name the offending key.
    pub fn validate(&self) -> Result<(), SandboxError> {
        let bad = |key, reason: &str| SandboxError::InvalidConfig {
            key,
            reason: reason.to_string(),
        };
        if !(2..=9).contains(&self.nodes) {
            return Err(bad("nodes", &format!("{} is not in 2..=9", self.nodes)));
        }
        let last = u32::from(self.base_port) + self.nodes as u32 - 1;
        if self.base_port < 1024 || last > u32::from(u16::MAX) {
            return Err(bad(
                "base_port",
                &format!("ports {}..={last} must lie in 1024..=65535", self.base_port),
            ));
        }
        if self.work_dir.as_os_str().is_empty() {
            return Err(bad("work_dir", "must not be empty"));
        }
        for (key, value, max) in [
            ("app_user", &self.app_user, 80),
            ("control_user", &self.control_user, 80),
            ("app_database", &self.app_database, 64),
        ] {
            let ok = !value.is_empty()
                && value.len() <= max
                && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(bad(
                    key,
                    &format!("{value:?} must be 1..={max} of [A-Za-z0-9_]"),
                ));
            }
        }
        if self.app_user == REPL_USER || self.control_user == REPL_USER {
            return Err(bad(
                "app_user",
                &format!("{REPL_USER:?} is reserved for replication"),
            ));
        }
        if self.app_user == self.control_user {
            return Err(bad("control_user", "must differ from app_user"));
        }
        Ok(())
    }

    /// `work_dir` made absolute: the data dir path is matched against `/proc/<pid>/cmdline`
    /// when stale servers are reaped, so it must not depend on the current directory.
    pub fn absolute_work_dir(&self) -> Result<PathBuf, SandboxError> {
        if self.work_dir.is_absolute() {
            return Ok(self.work_dir.clone());
        }
        let cwd = std::env::current_dir().map_err(|e| SandboxError::io("read", ".", e))?;
        Ok(cwd.join(&self.work_dir))
    }

    /// The TCP port of node `k` (1-based).
    pub fn port_of(&self, k: usize) -> u16 {
        // validate() guarantees base_port + nodes - 1 <= 65535.
        self.base_port.saturating_add(k.saturating_sub(1) as u16)
    }
}

/// The short directory holding the nodes' unix sockets: a socket path may be at most 107
/// bytes, which a deep `work_dir` (e.g. a test's temp dir) easily exceeds.
pub fn socket_dir(work_dir: &Path) -> PathBuf {
    // Not temp_dir(): $TMPDIR may itself be long.
    Path::new("/tmp").join(format!(
        "mq-{:012x}",
        fnv1a(work_dir.as_os_str().as_encoded_bytes()) >> 16
    ))
}

/// FNV-1a: a tiny hash that, unlike `DefaultHasher`, is stable across Rust releases.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_myquorum_up() {
        let c = SandboxConfig::default();
        c.validate().expect("defaults valid");
        assert_eq!((c.nodes, c.base_port, c.port_of(4)), (4, 3401, 3404));
    }

    #[test]
    fn validation_names_the_key() {
        let mut c = SandboxConfig {
            nodes: 10,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("`nodes`"));
        c.nodes = 3;
        c.app_database = "a-b".into();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("`app_database`"));
        c.app_database = "app".into();
        c.base_port = 65534;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("`base_port`"));
    }

    #[test]
    fn socket_paths_stay_short() {
        let deep = Path::new("/a").join("x".repeat(200));
        let sock = socket_dir(&deep).join("n9.sock");
        assert!(sock.as_os_str().len() < 107, "{}", sock.display());
        assert_ne!(socket_dir(&deep), socket_dir(Path::new("/b")));
    }
}
