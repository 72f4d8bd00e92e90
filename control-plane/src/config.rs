//! The control plane's configuration: serde structs with defaults and a `validate()` that
//! names the offending key (STYLE.md habit 7).

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

use crate::error::ControlPlaneError;

/// Where the old system's services answer when [`ControlPlaneConfig::legacy_ports`] is on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LegacyListen {
    /// First timestamp service (old port 9001).
    pub timestamp_1: String,
    /// Second timestamp service (old port 9002).
    pub timestamp_2: String,
    /// Metrics collector (old port 9003).
    pub metrics: String,
    /// Cabinet quorum service (old port 9004).
    pub cabinet: String,
    /// SEER leader-election service (old port 9005).
    pub seer: String,
}

impl Default for LegacyListen {
    fn default() -> Self {
        Self {
            timestamp_1: "127.0.0.1:9001".to_owned(),
            timestamp_2: "127.0.0.1:9002".to_owned(),
            metrics: "127.0.0.1:9003".to_owned(),
            cabinet: "127.0.0.1:9004".to_owned(),
            seer: "127.0.0.1:9005".to_owned(),
        }
    }
}

impl LegacyListen {
    /// Each legacy service with its configuration key and address.
    pub fn entries(&self) -> [(&'static str, &str); 5] {
        [
            ("timestamp_1", self.timestamp_1.as_str()),
            ("timestamp_2", self.timestamp_2.as_str()),
            ("metrics", self.metrics.as_str()),
            ("cabinet", self.cabinet.as_str()),
            ("seer", self.seer.as_str()),
        ]
    }
}

/// Failover (DESIGN.md section 7): detection, bounds and cool-down.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct FailoverSettings {
    /// Fail over automatically when the primary is declared dead (default true).
    pub automatic: bool,
    /// Time between checks of the primary (milliseconds).
    pub check_interval_ms: u64,
    /// Bound on one check; a check that times out is a slow primary, not a dead one.
    pub check_timeout_ms: u64,
    /// Consecutive hard failures (connection refused, reset, closed) that declare the
    /// primary dead: 3 checks 100 ms apart by default, well under a second.
    pub failed_checks: u32,
    /// A primary that answers nothing at all for this long is dead too (milliseconds).
    pub unresponsive_ms: u64,
    /// Minimum time between two automatic failovers (no flapping; milliseconds).
    pub cooldown_ms: u64,
    /// Bound on waiting for a replica's relay log to be applied (milliseconds).
    pub drain_timeout_ms: u64,
    /// Bound on a control connection and statement during failover (milliseconds).
    pub control_timeout_ms: u64,
}

impl Default for FailoverSettings {
    fn default() -> Self {
        Self {
            automatic: true,
            check_interval_ms: 100,
            check_timeout_ms: 1_000,
            failed_checks: 3,
            unresponsive_ms: 10_000,
            cooldown_ms: 30_000,
            drain_timeout_ms: 5_000,
            control_timeout_ms: 1_000,
        }
    }
}

/// Everything [`crate::serve`] needs beyond the proxy itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ControlPlaneConfig {
    /// Address of the coordinator API (every path of API.md). The binary binds it and hands
    /// the listener to [`crate::serve`], so tests can bind port 0 instead.
    pub listen: String,
    /// Also answer as the old system's five services, each with its own shapes.
    pub legacy_ports: bool,
    /// Addresses of the legacy services.
    pub legacy: LegacyListen,
    /// Bearer token required on `/admin/*` and `/query` whenever it is set, loopback
    /// included (a web page the operator opens can reach loopback). Unset, those paths are
    /// open, which is allowed on loopback only: listening beyond loopback without one is
    /// refused.
    pub token: Option<String>,
    /// Host names (with or without `:port`) accepted in the `Host` header besides loopback
    /// names and IPs and the IP the connection arrived on. Any other `Host` is refused (421),
    /// so a DNS-rebinding page cannot talk to the API under its own name.
    pub allowed_hosts: Vec<String>,
    /// Most rows a `/query` answer carries; more are read from the server and dropped, and
    /// the answer says `truncated: true`.
    pub query_max_rows: usize,
    /// Most bytes of values (plus column names per row) a `/query` answer carries; past it
    /// the answer is truncated the same way.
    pub query_max_bytes: usize,
    /// `/query` requests running at once; one more answers 503 with `Retry-After`.
    pub query_concurrency: usize,
    /// Longest a statement run by `/query` or the stress endpoints may run on its server
    /// (milliseconds). Past it the proxy sends `KILL QUERY` and answers 504; the client's
    /// SQL is never rewritten.
    pub query_timeout_ms: u64,
    /// Time a client has to send a request's headers (milliseconds); a slow or silent
    /// client is disconnected.
    pub header_read_timeout_ms: u64,
    /// Longest a request may take, body and handler included (milliseconds); past it the
    /// answer is 504. Stress runs longer than this are cut.
    pub request_timeout_ms: u64,
    /// How long shutdown waits for requests in flight (milliseconds) before dropping their
    /// connections.
    pub shutdown_grace_ms: u64,
    /// Consistency of a `/query` (and stress) request that names none: STRONG, the old
    /// system's default.
    pub query_consistency: myquorum_proxy::classify::Consistency,
    /// How often the collector probes each node (milliseconds).
    pub collector_interval_ms: u64,
    /// Bound on one probe: connect plus queries (milliseconds). A node that does not answer
    /// within it is reported unhealthy for that round.
    pub probe_timeout_ms: u64,
    /// Failover detection and bounds.
    pub failover: FailoverSettings,
    /// HTTPS on the coordinator API; required beyond loopback unless explicitly waived.
    pub tls: crate::https::HttpTlsConfig,
}

impl Default for ControlPlaneConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9000".to_owned(),
            legacy_ports: false,
            legacy: LegacyListen::default(),
            token: None,
            allowed_hosts: Vec::new(),
            query_max_rows: 10_000,
            query_max_bytes: 16 * 1024 * 1024,
            query_concurrency: 16,
            query_timeout_ms: 30_000,
            header_read_timeout_ms: 10_000,
            request_timeout_ms: 120_000,
            shutdown_grace_ms: 5_000,
            query_consistency: myquorum_proxy::classify::Consistency::Strong,
            collector_interval_ms: 500,
            probe_timeout_ms: 2_000,
            failover: FailoverSettings::default(),
            tls: crate::https::HttpTlsConfig::default(),
        }
    }
}

impl ControlPlaneConfig {
    /// Checks every value; errors name the key at fault.
    pub fn validate(&self) -> Result<(), ControlPlaneError> {
        let listen: SocketAddr = parse_addr("control_plane.listen", &self.listen)?;
        if self.legacy_ports {
            for (service, addr) in self.legacy.entries() {
                parse_addr(legacy_key(service), addr)?;
            }
        }
        if let Some(token) = &self.token {
            if token.trim().is_empty() {
                return Err(invalid("control_plane.token", "must not be empty when set"));
            }
        }
        check_token(self.token.as_deref(), &listen)
            .map_err(|reason| invalid("control_plane.token", reason))?;
        self.tls.acceptor()?;
        crate::https::check_tls(&self.tls, &listen)
            .map_err(|reason| invalid("control_plane.tls", reason))?;
        for (key, value) in [
            ("control_plane.query_max_rows", self.query_max_rows as u64),
            ("control_plane.query_max_bytes", self.query_max_bytes as u64),
            (
                "control_plane.query_concurrency",
                self.query_concurrency as u64,
            ),
            ("control_plane.query_timeout_ms", self.query_timeout_ms),
            (
                "control_plane.header_read_timeout_ms",
                self.header_read_timeout_ms,
            ),
            ("control_plane.request_timeout_ms", self.request_timeout_ms),
            ("control_plane.shutdown_grace_ms", self.shutdown_grace_ms),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be positive"));
            }
        }
        if let Some(host) = self.allowed_hosts.iter().find(|h| h.trim().is_empty()) {
            return Err(invalid(
                "control_plane.allowed_hosts",
                format!("{host:?} is not a host name"),
            ));
        }
        if self.collector_interval_ms == 0 {
            return Err(invalid(
                "control_plane.collector_interval_ms",
                "must be positive",
            ));
        }
        let f = &self.failover;
        for (key, value) in [
            (
                "control_plane.failover.check_interval_ms",
                f.check_interval_ms,
            ),
            (
                "control_plane.failover.check_timeout_ms",
                f.check_timeout_ms,
            ),
            ("control_plane.failover.unresponsive_ms", f.unresponsive_ms),
            (
                "control_plane.failover.drain_timeout_ms",
                f.drain_timeout_ms,
            ),
            (
                "control_plane.failover.control_timeout_ms",
                f.control_timeout_ms,
            ),
            (
                "control_plane.failover.failed_checks",
                u64::from(f.failed_checks),
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be positive"));
            }
        }
        if self.probe_timeout_ms == 0 {
            return Err(invalid(
                "control_plane.probe_timeout_ms",
                "must be positive",
            ));
        }
        Ok(())
    }

    /// The probe period as a [`Duration`].
    pub fn collector_interval(&self) -> Duration {
        Duration::from_millis(self.collector_interval_ms)
    }

    /// The statement timeout as a [`Duration`].
    pub fn query_timeout(&self) -> Duration {
        Duration::from_millis(self.query_timeout_ms)
    }

    /// The header read timeout as a [`Duration`].
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    /// The request timeout as a [`Duration`].
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// The shutdown grace as a [`Duration`].
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }

    /// The probe bound as a [`Duration`].
    pub fn probe_timeout(&self) -> Duration {
        Duration::from_millis(self.probe_timeout_ms)
    }
}

/// Refuses an API reachable beyond loopback without a token (the admin paths would be open
/// to the network). Returns the reason on refusal.
pub fn check_token(token: Option<&str>, listen: &SocketAddr) -> Result<(), String> {
    if token.is_none() && !listen.ip().is_loopback() {
        return Err(format!(
            "the API listens on {listen}, beyond loopback: set a bearer token"
        ));
    }
    Ok(())
}

/// The dotted configuration key of a legacy service, so an error names the full key.
fn legacy_key(service: &str) -> &'static str {
    match service {
        "timestamp_1" => "control_plane.legacy.timestamp_1",
        "timestamp_2" => "control_plane.legacy.timestamp_2",
        "metrics" => "control_plane.legacy.metrics",
        "cabinet" => "control_plane.legacy.cabinet",
        "seer" => "control_plane.legacy.seer",
        _ => "control_plane.legacy",
    }
}

fn parse_addr(key: &'static str, addr: &str) -> Result<SocketAddr, ControlPlaneError> {
    addr.parse()
        .map_err(|_| invalid(key, format!("{addr:?} is not ip:port")))
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ControlPlaneError {
    ControlPlaneError::Config {
        key,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        ControlPlaneConfig::default()
            .validate()
            .expect("defaults are valid");
    }

    #[test]
    fn beyond_loopback_needs_a_token() {
        let mut config = ControlPlaneConfig {
            listen: "0.0.0.0:9000".to_owned(),
            ..ControlPlaneConfig::default()
        };
        let err = config.validate().expect_err("no token");
        assert!(err.to_string().contains("control_plane.token"), "{err}");
        config.token = Some("s3cret".to_owned());
        let err = config.validate().expect_err("no TLS");
        assert!(err.to_string().contains("control_plane.tls"), "{err}");
        config.tls.allow_plaintext = true;
        config
            .validate()
            .expect("token set, plain HTTP explicitly allowed");
    }

    #[test]
    fn bad_values_name_their_key() {
        let config = ControlPlaneConfig {
            collector_interval_ms: 0,
            ..ControlPlaneConfig::default()
        };
        let err = config.validate().expect_err("zero interval");
        assert!(err.to_string().contains("collector_interval_ms"), "{err}");
        let config = ControlPlaneConfig {
            query_timeout_ms: 0,
            ..ControlPlaneConfig::default()
        };
        let err = config.validate().expect_err("zero timeout");
        assert!(err.to_string().contains("query_timeout_ms"), "{err}");
        let config = ControlPlaneConfig {
            legacy_ports: true,
            legacy: LegacyListen {
                seer: "nowhere".to_owned(),
                ..LegacyListen::default()
            },
            ..ControlPlaneConfig::default()
        };
        let err = config.validate().expect_err("bad address");
        assert!(
            err.to_string().contains("control_plane.legacy.seer"),
            "{err}"
        );
    }
}
