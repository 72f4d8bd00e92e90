//! Layered settings: built-in defaults, then the TOML file, then `MYQUORUM_*` environment
//! variables (`MYQUORUM_PROXY__PRIMARY=instance-2`: double underscore between levels), then
//! command-line flags. Loaded once and validated; errors name the key.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use myquorum_control_plane::{ControlPlaneConfig, ControlPlaneError};
use myquorum_proxy::error::ConfigError;
use myquorum_proxy::{BackendNode, ProxyConfig, UserConfig};
use myquorum_sandbox::{SandboxConfig, SandboxError};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::Path;

/// Where the proxy listens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ListenConfig {
    /// MySQL protocol port for clients.
    pub mysql: String,
    /// Admin SQL port (`SHOW BACKENDS`, `SHOW SESSIONS`, `SHOW CONFIG`, ...).
    pub admin: String,
}

impl Default for ListenConfig {
    fn default() -> Self {
        Self {
            mysql: "127.0.0.1:6033".to_owned(),
            admin: "127.0.0.1:6032".to_owned(),
        }
    }
}

/// The whole configuration of the binary.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Listening addresses.
    pub listen: ListenConfig,
    /// The proxy (users, backend nodes, pool). In `up` mode users and nodes come from the
    /// sandbox.
    pub proxy: ProxyConfig,
    /// The local sandbox of `myquorum up`.
    pub sandbox: SandboxConfig,
    /// The HTTP control plane (`listen` is its address; `myquorum up` turns the legacy ports
    /// on).
    pub control_plane: ControlPlaneConfig,
}

/// A settings file or value that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Parsing or merging failed (figment names the key and the source).
    #[error("configuration error: {0}")]
    Load(#[from] Box<figment::Error>),
    /// A value failed validation.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

/// Which command the settings are checked for: `serve` needs a complete `[proxy]` section;
/// `up` fills the proxy's nodes and application user from `[sandbox]`, which must be valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `myquorum serve`: the proxy in front of the servers the config lists.
    Serve,
    /// `myquorum up`: the proxy in front of the local sandbox.
    Up,
}

impl Settings {
    /// Loads defaults, then `file` (if given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        // Only section-qualified variables (MYQUORUM_PROXY__PRIMARY) are settings; plain
        // MYQUORUM_* names (MYQUORUM_CONFIG, MYQUORUM_LOG, the test harness's variables) are not.
        figment = figment.merge(
            Env::prefixed("MYQUORUM_")
                .filter(|key| key.as_str().contains("__"))
                .split("__"),
        );
        figment
            .extract()
            .map_err(|e| SettingsError::Load(Box::new(e)))
    }

    /// Checks every section for `mode` before anything binds or starts, so a bad value is
    /// refused with its key instead of surfacing after the MySQL port (or four MariaDB
    /// servers) are already up: listen addresses, the control plane (a token when the API is
    /// reachable beyond loopback), the proxy (for `up`, as it will be wired to the sandbox),
    /// the sandbox and its paths, and ports that two listeners would both claim.
    pub fn validate(&self, mode: Mode) -> Result<(), SettingsError> {
        self.validate_listen()?;
        self.control_plane.validate().map_err(control_plane_key)?;
        match mode {
            Mode::Serve => self.proxy.validate()?,
            Mode::Up => {
                self.sandbox.validate().map_err(sandbox_key)?;
                self.check_sandbox_paths()?;
                let mut preview = self.clone();
                preview.wire_to_sandbox(self.sandbox_nodes(), "instance-1".to_owned());
                preview.proxy.validate()?;
            }
        }
        self.check_port_clashes(mode)?;
        self.check_default_credentials(mode)?;
        Ok(())
    }

    /// Refuses the built-in accounts where others can reach them, as the HTTP token rule
    /// does: `admin`/`admin` on an admin port bound beyond loopback, and the control user
    /// `myquorum`/`myquorum` on servers beyond loopback (`serve`; `up`'s sandbox servers
    /// listen on 127.0.0.1 only).
    fn check_default_credentials(&self, mode: Mode) -> Result<(), ConfigError> {
        let admin = parse_addr("listen.admin", &self.listen.admin)?;
        let default_admin = self
            .proxy
            .admin_users
            .iter()
            .position(|u| *u.name == *DEFAULT_ADMIN.0 && *u.password == *DEFAULT_ADMIN.1);
        if let (false, Some(i)) = (admin.ip().is_loopback(), default_admin) {
            return Err(ConfigError::invalid(
                format!("proxy.admin_users[{i}].password"),
                format!(
                    "the admin port listens on {admin}, beyond loopback: replace the default admin/admin account"
                ),
            ));
        }
        let default_control = self.proxy.control_user == DEFAULT_CONTROL.0
            && self.proxy.control_password == DEFAULT_CONTROL.1;
        if mode == Mode::Serve && default_control {
            if let Some(node) = self.proxy.nodes.iter().find(|n| !is_loopback_addr(&n.addr)) {
                return Err(ConfigError::invalid(
                    "proxy.control_password",
                    format!(
                        "node {} ({}) is beyond loopback: the default myquorum/myquorum control account must not be used there",
                        node.id, node.addr
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks the listen addresses.
    pub fn validate_listen(&self) -> Result<(), SettingsError> {
        for (key, value) in [
            ("listen.mysql", &self.listen.mysql),
            ("listen.admin", &self.listen.admin),
        ] {
            parse_addr(key, value)?;
        }
        Ok(())
    }

    /// Points the proxy at the sandbox's `nodes` and `primary`, its control user, database
    /// and application user (added unless `[proxy].users` already has it): what `up` runs.
    pub fn wire_to_sandbox(&mut self, nodes: Vec<BackendNode>, primary: String) {
        let sandbox = &self.sandbox;
        let proxy = &mut self.proxy;
        proxy.nodes = nodes;
        proxy.primary = primary;
        proxy.control_user = sandbox.control_user.clone();
        proxy.control_password = sandbox.control_password.clone();
        proxy.engine_database = Some(sandbox.app_database.clone());
        if !proxy.users.iter().any(|u| *u.name == *sandbox.app_user) {
            proxy.users.push(UserConfig {
                name: sandbox.app_user.as_str().into(),
                password: sandbox.app_password.as_str().into(),
                require_ssl: false,
            });
        }
    }

    /// The nodes the sandbox will run, as the proxy will see them.
    fn sandbox_nodes(&self) -> Vec<BackendNode> {
        (1..=self.sandbox.nodes)
            .map(|k| BackendNode {
                id: format!("instance-{k}").into(),
                addr: format!("127.0.0.1:{}", self.sandbox.port_of(k)),
            })
            .collect()
    }

    /// A `work_dir` that exists must be a directory; an explicit `mariadbd` must be a file.
    fn check_sandbox_paths(&self) -> Result<(), ConfigError> {
        let dir = &self.sandbox.work_dir;
        if dir.exists() && !dir.is_dir() {
            return Err(ConfigError::invalid(
                "sandbox.work_dir",
                format!("{} exists and is not a directory", dir.display()),
            ));
        }
        if let Some(bin) = &self.sandbox.mariadbd {
            if !bin.is_file() {
                return Err(ConfigError::invalid(
                    "sandbox.mariadbd",
                    format!("{} is not a file", bin.display()),
                ));
            }
        }
        Ok(())
    }

    /// Refuses two listeners (or, for `up`, a listener and a sandbox server) on one port of
    /// one address: the second bind would fail only after the first service started.
    fn check_port_clashes(&self, mode: Mode) -> Result<(), ConfigError> {
        let mut taken: Vec<(String, SocketAddr)> = Vec::new();
        if mode == Mode::Up {
            for node in self.sandbox_nodes() {
                let addr = parse_addr("sandbox.base_port", &node.addr)?;
                taken.push((format!("sandbox.base_port ({})", node.id), addr));
            }
        }
        let mut listeners = vec![
            ("listen.mysql".to_owned(), self.listen.mysql.as_str()),
            ("listen.admin".to_owned(), self.listen.admin.as_str()),
            (
                "control_plane.listen".to_owned(),
                self.control_plane.listen.as_str(),
            ),
        ];
        if self.control_plane.legacy_ports {
            for (service, addr) in self.control_plane.legacy.entries() {
                listeners.push((format!("control_plane.legacy.{service}"), addr));
            }
        }
        for (key, value) in listeners {
            let addr = parse_addr(&key, value)?;
            if let Some((other, _)) = taken.iter().find(|(_, a)| clash(a, &addr)) {
                return Err(ConfigError::invalid(
                    key,
                    format!("port {} is already taken by {other}", addr.port()),
                ));
            }
            taken.push((key, addr));
        }
        Ok(())
    }

    /// The effective settings as TOML, secrets included (`myquorum config --show-secrets`).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render settings: {e}\n"))
    }

    /// The effective settings as TOML with every password and token replaced by `"***"`
    /// (an empty one stays empty): what `myquorum config` prints, so its output can be pasted
    /// into a bug report or a terminal share without leaking credentials.
    pub fn to_toml_redacted(&self) -> String {
        let mut value = match toml::Value::try_from(self) {
            Ok(v) => v,
            Err(e) => return format!("# cannot render settings: {e}\n"),
        };
        redact(&mut value);
        toml::to_string_pretty(&value)
            .unwrap_or_else(|e| format!("# cannot render settings: {e}\n"))
    }
}

/// Whether a key holds a secret: `password`, `*_password`, `token`, `*_token`.
fn is_secret(key: &str) -> bool {
    ["password", "token"]
        .iter()
        .any(|s| key == *s || key.ends_with(&format!("_{s}")))
}

/// Replaces every non-empty secret string under `value` with `"***"`.
fn redact(value: &mut toml::Value) {
    match value {
        toml::Value::Table(table) => {
            for (key, v) in table.iter_mut() {
                match v {
                    toml::Value::String(s) if is_secret(key) && !s.is_empty() => {
                        *s = "***".to_owned();
                    }
                    other => redact(other),
                }
            }
        }
        toml::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// The admin port's built-in account (user, password).
const DEFAULT_ADMIN: (&str, &str) = ("admin", "admin");

/// The built-in control account (user, password).
const DEFAULT_CONTROL: (&str, &str) = ("myquorum", "myquorum");

/// Whether a node's `host:port` names this machine (a loopback IP or `localhost`); any other
/// host, names included, counts as beyond loopback.
fn is_loopback_addr(addr: &str) -> bool {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Parses an `ip:port` value, naming `key` when it is not one.
fn parse_addr(key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value
        .parse()
        .map_err(|_| ConfigError::invalid(key, format!("{value:?} is not an ip:port address")))
}

/// Two addresses one bind would take both of: the same non-zero port on the same IP, or on
/// any IP when one of them is the wildcard.
fn clash(a: &SocketAddr, b: &SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// A control-plane validation error as a settings error (its key is already dotted).
fn control_plane_key(e: ControlPlaneError) -> ConfigError {
    match e {
        ControlPlaneError::Config { key, reason } => ConfigError::invalid(key, reason),
        other => ConfigError::invalid("control_plane", other.to_string()),
    }
}

/// A sandbox validation error with its key under `sandbox.`.
fn sandbox_key(e: SandboxError) -> ConfigError {
    match e {
        SandboxError::InvalidConfig { key, reason } => {
            ConfigError::invalid(format!("sandbox.{key}"), reason)
        }
        other => ConfigError::invalid("sandbox", other.to_string()),
    }
}

#[cfg(test)]
// figment::Jail's closures must return figment's own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    // Every test that loads settings runs inside a figment Jail: it serialises them and
    // restores the environment, so one test's variables never leak into another.

    #[test]
    fn file_values_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "myquorum.toml",
                "[listen]\nmysql = \"127.0.0.1:7000\"\n[proxy]\nprimary = \"instance-2\"\n",
            )?;
            let s = Settings::load(Some(Path::new("myquorum.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(s.listen.mysql, "127.0.0.1:7000");
            assert_eq!(s.proxy.primary, "instance-2");
            assert_eq!(s.proxy.pool.max_idle_per_key, 64);
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_and_unrelated_variables_are_ignored() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("MYQUORUM_PROXY__PRIMARY", "instance-3");
            jail.set_env("MYQUORUM_PYTHON", "/usr/bin/python3");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.proxy.primary, "instance-3");
            Ok(())
        });
    }

    /// `myquorum config` shows `***` for every password and token (application users,
    /// control and sandbox users, the API token); `--show-secrets` shows them as they are.
    #[test]
    fn printed_config_redacts_secrets() {
        let mut s = Settings::default();
        s.proxy.users.push(UserConfig {
            name: "app".into(),
            password: "app-pw-1".into(),
            ..UserConfig::default()
        });
        s.proxy.control_password = "ctl-pw-2".to_owned();
        s.sandbox.app_password = "sbx-pw-3".to_owned();
        s.control_plane.token = Some("tok-4".to_owned());
        let shown = s.to_toml_redacted();
        for secret in ["app-pw-1", "ctl-pw-2", "sbx-pw-3", "tok-4"] {
            assert!(!shown.contains(secret), "{secret} in\n{shown}");
            assert!(s.to_toml().contains(secret), "{secret} with --show-secrets");
        }
        assert!(shown.contains("token = \"***\""), "{shown}");
        assert!(shown.contains("name = \"app\""), "{shown}");
        let back: Settings = toml::from_str(&shown).expect("still valid TOML settings");
        assert_eq!(back.proxy.control_password, "***");
    }

    #[test]
    fn unknown_key_is_named() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[proxy]\nprimry = \"x\"\n")?;
            let err = Settings::load(Some(Path::new("bad.toml")))
                .expect_err("rejects")
                .to_string();
            assert!(err.contains("primry"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn unknown_sandbox_key_is_named() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[sandbox]\nnodse = 3\n")?;
            let err = Settings::load(Some(Path::new("bad.toml")))
                .expect_err("rejects")
                .to_string();
            assert!(err.contains("nodse"), "{err}");
            Ok(())
        });
    }

    /// Settings `serve` accepts: a complete proxy section, everything else default.
    fn serve_settings() -> Settings {
        let mut s = Settings::default();
        s.proxy.users.push(UserConfig {
            name: "app".into(),
            password: "app".into(),
            require_ssl: false,
        });
        s.proxy.nodes = (1..=4)
            .map(|k| BackendNode {
                id: format!("instance-{k}").into(),
                addr: format!("10.0.0.{k}:3306"),
            })
            .collect();
        s.proxy.control_password = "control-s3cret".to_owned();
        s
    }

    fn refused(s: &Settings, mode: Mode) -> String {
        s.validate(mode).expect_err("refused").to_string()
    }

    #[test]
    fn defaults_validate_for_both_commands() {
        serve_settings().validate(Mode::Serve).expect("serve");
        let mut up = Settings::default();
        up.control_plane.legacy_ports = true;
        up.validate(Mode::Up).expect("up");
    }

    #[test]
    fn bad_listen_address_is_named() {
        let mut s = serve_settings();
        s.listen.mysql = "nowhere".to_owned();
        assert!(refused(&s, Mode::Serve).contains("`listen.mysql`"));
    }

    /// The API beyond loopback without a token is refused before any port is bound.
    #[test]
    fn api_beyond_loopback_without_token_is_refused() {
        let mut s = serve_settings();
        s.control_plane.listen = "0.0.0.0:9000".to_owned();
        assert!(refused(&s, Mode::Serve).contains("`control_plane.token`"));
        assert!(refused(&s, Mode::Up).contains("`control_plane.token`"));
        s.control_plane.token = Some("s3cret".to_owned());
        assert!(refused(&s, Mode::Serve).contains("`control_plane.tls`"));
        s.control_plane.tls.allow_plaintext = true;
        s.validate(Mode::Serve)
            .expect("with a token and plain HTTP explicitly allowed");
    }

    /// `serve` needs the proxy section; `up` fills users and nodes from the sandbox.
    #[test]
    fn serve_needs_a_complete_proxy_section() {
        let s = Settings::default();
        assert!(refused(&s, Mode::Serve).contains("`proxy.users`"));
        s.validate(Mode::Up)
            .expect("up wires users and nodes itself");
    }

    #[test]
    fn up_refuses_a_bad_sandbox_before_starting_it() {
        let mut s = Settings::default();
        s.sandbox.nodes = 12;
        assert!(refused(&s, Mode::Up).contains("`sandbox.nodes`"));
        // Serve ignores the sandbox.
        let mut s = serve_settings();
        s.sandbox.nodes = 12;
        s.validate(Mode::Serve).expect("serve");
    }

    /// The proxy as `up` will wire it: a threshold the sandbox's node count cannot meet.
    #[test]
    fn up_checks_the_proxy_it_will_run() {
        let mut s = Settings::default();
        s.sandbox.nodes = 3;
        s.proxy.quorum.failure_threshold = myquorum_proxy::quorum::FailureThreshold::Count(2);
        assert!(refused(&s, Mode::Up).contains("`proxy.quorum.failure_threshold`"));
    }

    #[test]
    fn up_checks_its_paths() {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let mut s = Settings::default();
        s.sandbox.work_dir = file.path().to_path_buf();
        assert!(refused(&s, Mode::Up).contains("`sandbox.work_dir`"));
        let mut s = Settings::default();
        s.sandbox.mariadbd = Some(file.path().join("mariadbd"));
        assert!(refused(&s, Mode::Up).contains("`sandbox.mariadbd`"));
    }

    /// The built-in accounts are refused where others can reach them: admin/admin on an
    /// admin port beyond loopback, myquorum/myquorum on servers beyond loopback.
    #[test]
    fn default_credentials_are_refused_beyond_loopback() {
        let mut s = serve_settings();
        s.listen.admin = "0.0.0.0:6032".to_owned();
        assert!(refused(&s, Mode::Serve).contains("`proxy.admin_users[0].password`"));
        assert!(refused(&s, Mode::Up).contains("`proxy.admin_users[0].password`"));
        s.proxy.admin_users[0].password = "admin-s3cret".into();
        s.validate(Mode::Serve).expect("a chosen admin password");

        let mut s = serve_settings();
        s.proxy.control_password = "myquorum".to_owned();
        assert!(refused(&s, Mode::Serve).contains("`proxy.control_password`"));
        for local in ["127.0.0.1", "localhost", "[::1]"] {
            for (k, n) in s.proxy.nodes.iter_mut().enumerate() {
                n.addr = format!("{local}:{}", 3401 + k);
            }
            s.validate(Mode::Serve).expect("servers on loopback");
        }
        // `up`'s sandbox servers listen on 127.0.0.1 only.
        Settings::default()
            .validate(Mode::Up)
            .expect("up with default accounts");
    }

    /// Two services on one port are refused, naming both keys.
    #[test]
    fn port_clashes_are_refused() {
        let mut s = serve_settings();
        s.listen.admin = "0.0.0.0:6033".to_owned();
        let err = refused(&s, Mode::Serve);
        assert!(
            err.contains("`listen.admin`") && err.contains("listen.mysql"),
            "{err}"
        );

        let mut s = Settings::default();
        s.listen.mysql = "127.0.0.1:3402".to_owned();
        let err = refused(&s, Mode::Up);
        assert!(
            err.contains("`listen.mysql`") && err.contains("instance-2"),
            "{err}"
        );
        s.validate(Mode::Serve).expect_err("serve: no proxy users");

        let mut s = serve_settings();
        s.control_plane.legacy_ports = true;
        s.control_plane.legacy.metrics = "127.0.0.1:9000".to_owned();
        let err = refused(&s, Mode::Serve);
        assert!(err.contains("`control_plane.legacy.metrics`"), "{err}");
        // Port 0 (a free port each) never clashes.
        let mut s = serve_settings();
        s.listen.mysql = "127.0.0.1:0".to_owned();
        s.listen.admin = "127.0.0.1:0".to_owned();
        s.validate(Mode::Serve).expect("port 0");
    }
}
