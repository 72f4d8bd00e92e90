//! The proxy's configuration: plain serde structs with defaults and a `validate()` that names
//! the offending key. The binary layers file, environment and flags on top of these.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::classify::Consistency;
use crate::error::ConfigError;
use crate::quorum::FailureThreshold;

/// The STRONG wait (DESIGN.md section 4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct QuorumConfig {
    /// Cabinet failure threshold: `1` (default: the primary plus the fastest replica on 4
    /// nodes; survives one failure) or `"majority"` (primary plus 2 of 3 replicas, as the old
    /// system waited for; slower, survives more).
    pub failure_threshold: FailureThreshold,
    /// Bound on a STRONG write's wait; past it the write stays committed and the client gets
    /// OK with a warning (milliseconds).
    pub timeout_ms: u64,
    /// Shortest time between two queries a replica's watcher sends only to follow the newest
    /// commit (for CAUSAL reads' view of who is caught up) while no STRONG write waits
    /// (milliseconds; 0: one round trip per batch of commits, as soon as the last returns).
    /// A STRONG write never waits for it.
    pub follow_interval_ms: u64,
}

impl Default for QuorumConfig {
    fn default() -> Self {
        Self {
            failure_threshold: FailureThreshold::default(),
            timeout_ms: 5_000,
            follow_interval_ms: 0,
        }
    }
}

/// One application user the proxy accepts. The proxy checks the client's password itself and
/// then opens backend connections as the same user with the same password, so the user must
/// exist on every MariaDB node with this password.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Account name, as the client sends it in the handshake. Shared by the account's
    /// sessions and their pool keys (a clone allocates nothing).
    pub name: Arc<str>,
    /// Clear-text password (mysql_native_password is computed from it).
    pub password: Arc<str>,
    /// Refuse this account's logins that did not switch to TLS, as the server refuses an
    /// account created `REQUIRE SSL` (1045). Needs `[proxy.tls]`.
    #[serde(default)]
    pub require_ssl: bool,
}

/// TLS on the client side of the MySQL and admin ports (`[proxy.tls]`). Off unless `cert`
/// and `key` are set; clients then choose TLS or not, unless `require_tls`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the server certificate, then any intermediates.
    pub cert: Option<PathBuf>,
    /// PEM file with the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// Refuse every plaintext login with 1045, as the server refuses `REQUIRE SSL` accounts.
    pub require_tls: bool,
}

/// TLS from the proxy to its backends (`[proxy.backend_tls]`). Off unless `ca` is set; then
/// every connection of the data path and the HTTP engine, and every control connection
/// (quorum watchers, start-up check, the control plane's probes and failover), switches to TLS
/// before logging in
/// and verifies the server's certificate against `ca`. There is no plaintext fallback: a server
/// that does not offer TLS or whose certificate does not verify is refused.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct BackendTlsConfig {
    /// PEM file with the CA certificate(s) the servers' certificates must chain to.
    pub ca: Option<PathBuf>,
    /// Also check that the certificate names the host of the node's `addr` (DNS name or IP
    /// address in its subjectAltName). Default true; false checks the chain only.
    pub verify_identity: bool,
    /// PEM file with a client certificate to present (accounts created `REQUIRE X509`).
    pub cert: Option<PathBuf>,
    /// Its private key.
    pub key: Option<PathBuf>,
}

impl Default for BackendTlsConfig {
    fn default() -> Self {
        Self {
            ca: None,
            verify_identity: true,
            cert: None,
            key: None,
        }
    }
}

/// A MariaDB server the proxy may route to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BackendNode {
    /// Stable node id, `instance-1` .. `instance-N`, used in logs, pool keys and the API.
    /// Shared, not copied: every statement names its node (pool key, registry, prepared
    /// statements), and a clone of an `Arc<str>` allocates nothing.
    pub id: Arc<str>,
    /// `host:port` of the server's MySQL port.
    pub addr: String,
}

/// Idle backend-connection pool settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    /// Idle connections kept per (user, node, flags, collation); more are closed on return.
    pub max_idle_per_key: usize,
    /// Idle connections older than this are closed instead of reused (seconds).
    pub idle_timeout_secs: u64,
    /// Idle connections per key kept warm until `idle_timeout_secs`; the ones beyond them
    /// (a burst's surplus) close after `surplus_idle_timeout_secs`.
    pub min_idle_per_key: usize,
    /// How long idle connections beyond `min_idle_per_key` stay open (seconds): after a burst,
    /// or once thousands of clients have parked, the pool shrinks back to a few connections
    /// per node instead of holding `max_idle_per_key` for the whole idle timeout.
    pub surplus_idle_timeout_secs: u64,
    /// Bound on opening a backend connection (TCP connect + handshake), in milliseconds.
    pub connect_timeout_ms: u64,
    /// Backend connections open at once to one node (in use, idle or being reset). Below the
    /// servers' `max_connections` (2000 in `mysql-config/node.cnf`), leaving room for the
    /// quorum watchers, the control plane, replication and an operator's own session.
    pub max_connections_per_node: usize,
    /// Backend connections open at once to all nodes together (file descriptors, memory).
    pub max_connections: usize,
    /// How long a session waits for a connection when a cap is reached before it gets 1040
    /// Too many connections, in milliseconds.
    pub checkout_timeout_ms: u64,
    /// A session idle this long with nothing that ties it to its backend connections (no
    /// transaction, pin, prepared long data, unread warnings or insert id) gives them back to
    /// the pool and takes pooled ones, its database and settings replayed, at its next
    /// statement (milliseconds; 0 = sessions keep their connections until they close).
    pub multiplex_idle_ms: u64,
    /// Statement multiplexing: after each read (or replayable setting) a session without
    /// state that ties it to its connections gives them back to its thread's pool at once,
    /// unreset, and its next statement takes whichever is free (one in the same database and
    /// settings first; another is reset and replayed). Writes keep their connection until the
    /// session parks (`ROW_COUNT()` reads it).
    pub multiplex_statements: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_idle_per_key: 64,
            idle_timeout_secs: 300,
            min_idle_per_key: 4,
            surplus_idle_timeout_secs: 10,
            connect_timeout_ms: 5_000,
            max_connections_per_node: 1_800,
            max_connections: 6_000,
            checkout_timeout_ms: 2_000,
            multiplex_idle_ms: 1_000,
            multiplex_statements: true,
        }
    }
}

impl PoolConfig {
    /// The idle timeout as a [`Duration`].
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// How long idle connections beyond `min_idle_per_key` stay open, as a [`Duration`].
    pub fn surplus_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.surplus_idle_timeout_secs)
    }

    /// How long a session stays idle before it parks (see `multiplex_idle_ms`); None when
    /// sessions never give their connections back while open.
    pub fn multiplex_idle(&self) -> Option<Duration> {
        (self.multiplex_idle_ms > 0).then(|| Duration::from_millis(self.multiplex_idle_ms))
    }

    /// The connect timeout as a [`Duration`].
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// The checkout wait as a [`Duration`].
    pub fn checkout_timeout(&self) -> Duration {
        Duration::from_millis(self.checkout_timeout_ms)
    }
}

/// Whose writes a CAUSAL read must see.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum CausalScope {
    /// Every write this proxy acknowledged before the read arrived, from any session: what a
    /// client that writes on one connection and reads on another (pools, CLIs) expects.
    #[default]
    Proxy,
    /// Only the session's own writes (cheaper under write-heavy load: a read waits only for
    /// its session's last write).
    Session,
}

/// Everything [`crate::serve`] needs to run the MySQL front door.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyConfig {
    /// Accepted application users.
    pub users: Vec<UserConfig>,
    /// Backend servers.
    pub nodes: Vec<BackendNode>,
    /// Accounts of the admin SQL port (checked by the proxy only; they need not exist on
    /// the servers).
    pub admin_users: Vec<UserConfig>,
    /// Id of the node that takes writes at start-up (the topology may change it later).
    pub primary: String,
    /// Suffix appended to the backend's version string in the greeting (empty by default: the
    /// greeting carries the server's version unchanged, as version-parsing drivers expect).
    pub version_suffix: String,
    /// Largest client packet accepted (bytes). 0 (the default): the primary's
    /// `max_allowed_packet`, read at start-up, so the proxy never buffers more than the server
    /// would accept.
    pub max_packet_size: usize,
    /// Backend pool settings.
    pub pool: PoolConfig,
    /// Consistency of a MySQL-port session that chose none (`SET myquorum_consistency`
    /// changes it per session). CAUSAL by default: every client sees its own and everyone's
    /// acknowledged writes, as on the server.
    pub default_consistency: Consistency,
    /// Whose writes CAUSAL reads wait for: every write the proxy acknowledged (`proxy`, the
    /// default) or the session's own (`session`).
    pub causal_scope: CausalScope,
    /// Control account for replica position watchers (needs only to log in).
    pub control_user: String,
    /// Its password.
    pub control_password: String,
    /// The STRONG wait.
    pub quorum: QuorumConfig,
    /// How long a CAUSAL read waits on a replica for the write it must see before it runs on
    /// the primary instead (milliseconds; 0: never wait, a read no replica is known to have
    /// caught up for runs on the primary at once).
    pub causal_wait_ms: u64,
    /// EVENTUAL reads skip replicas known to be more than this many writes behind.
    pub max_replica_lag: u64,
    /// Database that statements run by the engine (HTTP `/query`) start in; None: none.
    pub engine_database: Option<String>,
    /// The one GTID replication domain (`gtid_domain_id`); a primary whose binlog shows
    /// another or more than one is refused at start.
    pub gtid_domain: u32,
    /// How long shutdown waits for in-flight sessions before closing them (milliseconds).
    pub shutdown_grace_ms: u64,
    /// Threads that run client sessions, each an event loop of its own (0: one per CPU).
    pub io_threads: usize,
    /// TLS on the MySQL and admin ports.
    pub tls: TlsConfig,
    /// TLS from the proxy to the backends (off by default).
    pub backend_tls: BackendTlsConfig,
    /// Caps and timeouts of the client side (`[proxy.limits]`).
    pub limits: LimitsConfig,
    /// Directory where the proxy keeps what must survive its own restart: the highest
    /// STRONG-acknowledged GTID (fsynced before a STRONG OK leaves) and the topology with its
    /// epoch. None: kept in memory only, and a failover after a proxy restart then requires
    /// every replica to be reachable (see the README, "Failover").
    pub state_dir: Option<std::path::PathBuf>,
    /// How long a statement for the primary waits while a failover runs, or after it found
    /// the primary unreachable, before it fails (milliseconds).
    pub failover_wait_ms: u64,
    /// Retry once on another node an autocommit read outside any transaction whose backend
    /// connection failed before any byte of its answer reached the client (MaxScale's
    /// `retry_failed_reads`; see [`crate::pipeline::retry_allowed`]).
    pub retry_failed_reads: bool,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            users: Vec::new(),
            nodes: Vec::new(),
            admin_users: vec![UserConfig {
                name: "admin".into(),
                password: "admin".into(),
                require_ssl: false,
            }],
            primary: "instance-1".to_owned(),
            version_suffix: String::new(),
            max_packet_size: 0,
            pool: PoolConfig::default(),
            default_consistency: Consistency::Causal,
            causal_scope: CausalScope::Proxy,
            control_user: "myquorum".to_owned(),
            control_password: "myquorum".to_owned(),
            quorum: QuorumConfig::default(),
            causal_wait_ms: 1_000,
            max_replica_lag: 1_000,
            gtid_domain: 0,
            engine_database: None,
            shutdown_grace_ms: 10_000,
            io_threads: 0,
            tls: TlsConfig::default(),
            backend_tls: BackendTlsConfig::default(),
            limits: LimitsConfig::default(),
            state_dir: None,
            failover_wait_ms: 10_000,
            retry_failed_reads: true,
        }
    }
}

impl ProxyConfig {
    /// Checks the configuration; errors name the key at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.users.is_empty() {
            return Err(ConfigError::invalid(
                "proxy.users",
                "at least one user is required",
            ));
        }
        for (i, u) in self.users.iter().enumerate() {
            if u.name.is_empty() {
                return Err(ConfigError::invalid(
                    format!("proxy.users[{i}].name"),
                    "must not be empty",
                ));
            }
        }
        if self.nodes.is_empty() {
            return Err(ConfigError::invalid(
                "proxy.nodes",
                "at least one backend node is required",
            ));
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if n.id.is_empty() {
                return Err(ConfigError::invalid(
                    format!("proxy.nodes[{i}].id"),
                    "must not be empty",
                ));
            }
            if self.nodes[..i].iter().any(|m| m.id == n.id) {
                return Err(ConfigError::invalid(
                    format!("proxy.nodes[{i}].id"),
                    format!("{:?} names two nodes", n.id),
                ));
            }
            let port = n.addr.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
            if !matches!(port, Some(Ok(p)) if p > 0) {
                return Err(ConfigError::invalid(
                    format!("proxy.nodes[{i}].addr"),
                    format!("{:?} is not host:port", n.addr),
                ));
            }
        }
        if self.node(&self.primary).is_none() {
            return Err(ConfigError::invalid(
                "proxy.primary",
                format!("no node has id {:?}", self.primary),
            ));
        }
        if let Err(e) = self.quorum.failure_threshold.resolve(self.nodes.len()) {
            return Err(ConfigError::invalid(
                "proxy.quorum.failure_threshold",
                e.to_string(),
            ));
        }
        if self.quorum.timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "proxy.quorum.timeout_ms",
                "must be positive",
            ));
        }
        if self.pool.connect_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "proxy.pool.connect_timeout_ms",
                "must be positive",
            ));
        }
        self.limits.validate()?;
        if self.pool.max_connections_per_node == 0 {
            return Err(ConfigError::invalid(
                "proxy.pool.max_connections_per_node",
                "must be positive",
            ));
        }
        if self.pool.max_connections == 0 {
            return Err(ConfigError::invalid(
                "proxy.pool.max_connections",
                "must be positive",
            ));
        }
        if self.max_packet_size != 0 && self.max_packet_size < 1024 {
            return Err(ConfigError::invalid(
                "proxy.max_packet_size",
                "must be 0 (the primary's max_allowed_packet) or at least 1024",
            ));
        }
        self.validate_tls()
    }

    /// TLS: the certificate and key must load; `require_tls` and `require_ssl` accounts need
    /// them.
    fn validate_tls(&self) -> Result<(), ConfigError> {
        crate::backend::tls::BackendTls::from_config(&self.backend_tls)?;
        let on = crate::tls::ServerTls::from_config(&self.tls)?.is_some();
        if on {
            return Ok(());
        }
        if self.tls.require_tls {
            return Err(ConfigError::invalid(
                "proxy.tls.require_tls",
                "needs proxy.tls.cert and proxy.tls.key",
            ));
        }
        for (list, users) in [("users", &self.users), ("admin_users", &self.admin_users)] {
            if let Some(i) = users.iter().position(|u| u.require_ssl) {
                return Err(ConfigError::invalid(
                    format!("proxy.{list}[{i}].require_ssl"),
                    "needs proxy.tls.cert and proxy.tls.key",
                ));
            }
        }
        Ok(())
    }

    /// Every node but the primary, in configuration order.
    pub fn replicas(&self) -> Vec<BackendNode> {
        self.nodes
            .iter()
            .filter(|n| *n.id != *self.primary)
            .cloned()
            .collect()
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&BackendNode> {
        self.nodes.iter().find(|n| *n.id == *id)
    }

    /// The user with this name.
    pub fn user(&self, name: &[u8]) -> Option<&UserConfig> {
        self.users.iter().find(|u| u.name.as_bytes() == name)
    }
}

/// The front door's caps and timeouts (issue 15): without them an idle or hostile client can
/// hold a socket, a task and (once logged in) a primary connection forever, and enough of them
/// exhaust the server's `max_connections` and lock out the quorum watchers. Defaults mirror
/// MariaDB's own (`connect_timeout`, `wait_timeout`, `net_write_timeout`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Open client connections on the MySQL port, logged in or not; the next one gets 1040
    /// (08004) "Too many connections" in place of the greeting, as from the server.
    pub max_client_connections: usize,
    /// Logged-in sessions per user (0: unlimited, MariaDB's default); the next login gets
    /// 1203 (42000), `ER_TOO_MANY_USER_CONNECTIONS`.
    pub max_user_connections: usize,
    /// Bound on the whole login conversation, greeting to OK (milliseconds; MariaDB's
    /// `connect_timeout` is 10 s): a client that never answers is closed.
    pub handshake_timeout_ms: u64,
    /// A logged-in client that sends no command for this long is closed without a word, as
    /// the server does at `wait_timeout` (seconds).
    pub client_idle_timeout_secs: u64,
    /// A write to a client that does not read for this long ends its session, and the backend
    /// connection in the middle of that answer is closed, not pooled (milliseconds; MariaDB's
    /// `net_write_timeout` is 60 s).
    pub client_write_timeout_ms: u64,
    /// TCP keepalive idle time on client and backend sockets, so peers that vanished without
    /// a FIN or RST are found (seconds; 0: off).
    pub tcp_keepalive_secs: u64,
    /// Failed logins a client IP may make in a burst before it is refused with 1129 (0:
    /// no throttling). Counts both ports.
    pub login_failures_burst: u32,
    /// How fast a throttled IP earns back failed-login attempts (per minute).
    pub login_failures_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_client_connections: 10_000,
            max_user_connections: 0,
            handshake_timeout_ms: 10_000,
            client_idle_timeout_secs: 28_800,
            client_write_timeout_ms: 60_000,
            tcp_keepalive_secs: 60,
            login_failures_burst: 10,
            login_failures_per_minute: 6,
        }
    }
}

impl LimitsConfig {
    /// Checks the limits; errors name the key at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            (
                "proxy.limits.max_client_connections",
                self.max_client_connections as u64,
            ),
            (
                "proxy.limits.handshake_timeout_ms",
                self.handshake_timeout_ms,
            ),
            (
                "proxy.limits.client_idle_timeout_secs",
                self.client_idle_timeout_secs,
            ),
            (
                "proxy.limits.client_write_timeout_ms",
                self.client_write_timeout_ms,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be positive"));
            }
        }
        if self.login_failures_burst > 0 && self.login_failures_per_minute == 0 {
            return Err(ConfigError::invalid(
                "proxy.limits.login_failures_per_minute",
                "must be positive when login_failures_burst is set",
            ));
        }
        Ok(())
    }

    /// The handshake deadline as a [`Duration`].
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }

    /// The idle timeout as a [`Duration`].
    pub fn client_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.client_idle_timeout_secs)
    }

    /// The client write timeout as a [`Duration`].
    pub fn client_write_timeout(&self) -> Duration {
        Duration::from_millis(self.client_write_timeout_ms)
    }

    /// The keepalive idle time, None when keepalive is off.
    pub fn tcp_keepalive(&self) -> Option<Duration> {
        (self.tcp_keepalive_secs > 0).then(|| Duration::from_secs(self.tcp_keepalive_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> ProxyConfig {
        ProxyConfig {
            users: vec![UserConfig {
                name: "app".into(),
                password: "app".into(),
                require_ssl: false,
            }],
            nodes: (1..=4)
                .map(|k| BackendNode {
                    id: format!("instance-{k}").into(),
                    addr: format!("10.0.0.{k}:3306"),
                })
                .collect(),
            ..ProxyConfig::default()
        }
    }

    fn refused(config: &ProxyConfig) -> String {
        config.validate().expect_err("refused").to_string()
    }

    /// 0 means "the primary's max_allowed_packet" (read at start-up); a tiny limit is refused.
    #[test]
    fn max_packet_size_defaults_to_the_servers() {
        assert_eq!(ProxyConfig::default().max_packet_size, 0);
        assert!(valid().validate().is_ok());
        let mut c = valid();
        c.max_packet_size = 100;
        assert!(refused(&c).contains("`proxy.max_packet_size`"));
    }

    #[test]
    fn a_complete_config_validates() {
        valid().validate().expect("valid");
    }

    /// Each refusal names the key at fault.
    #[test]
    fn refusals_name_their_key() {
        let mut c = valid();
        c.users.clear();
        assert!(refused(&c).contains("`proxy.users`"));
        let mut c = valid();
        c.nodes[2].addr = "10.0.0.3".to_owned();
        assert!(refused(&c).contains("`proxy.nodes[2].addr`"));
        c.nodes[2].addr = "10.0.0.3:http".to_owned();
        assert!(refused(&c).contains("`proxy.nodes[2].addr`"));
        let mut c = valid();
        c.nodes[3].id = "instance-1".into();
        assert!(refused(&c).contains("`proxy.nodes[3].id`"));
        let mut c = valid();
        c.primary = "instance-9".to_owned();
        assert!(refused(&c).contains("`proxy.primary`"));
        let mut c = valid();
        c.quorum.failure_threshold = FailureThreshold::Count(3);
        assert!(refused(&c).contains("`proxy.quorum.failure_threshold`"));
        let mut c = valid();
        c.pool.connect_timeout_ms = 0;
        assert!(refused(&c).contains("`proxy.pool.connect_timeout_ms`"));
        let mut c = valid();
        c.tls.require_tls = true;
        assert!(refused(&c).contains("`proxy.tls.require_tls`"));
        let mut c = valid();
        c.admin_users[0].require_ssl = true;
        assert!(refused(&c).contains("`proxy.admin_users[0].require_ssl`"));
        let mut c = valid();
        c.tls.cert = Some(PathBuf::from("/nonexistent/cert.pem"));
        c.tls.key = Some(PathBuf::from("/nonexistent/key.pem"));
        assert!(refused(&c).contains("`proxy.tls.cert`"));
        let mut c = valid();
        c.limits.handshake_timeout_ms = 0;
        assert!(refused(&c).contains("`proxy.limits.handshake_timeout_ms`"));
        let mut c = valid();
        c.limits.login_failures_per_minute = 0;
        assert!(refused(&c).contains("`proxy.limits.login_failures_per_minute`"));
    }
}
