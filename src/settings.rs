//! Layered settings: built-in defaults, then the TOML file, then `MYQUORUM_*` environment
//! variables (`MYQUORUM_PROXY__PRIMARY=instance-2`: double underscore between levels), then
//! command-line flags. Loaded once and validated; errors name the key.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use myquorum_control_plane::ControlPlaneConfig;
use myquorum_proxy::ProxyConfig;
use myquorum_sandbox::SandboxConfig;
use serde::{Deserialize, Serialize};
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
    Invalid(#[from] myquorum_proxy::error::ConfigError),
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

    /// Checks the listen address (the proxy validates its own section when it starts).
    pub fn validate_listen(&self) -> Result<(), SettingsError> {
        for (key, value) in [
            ("listen.mysql", &self.listen.mysql),
            ("listen.admin", &self.listen.admin),
        ] {
            if value.parse::<std::net::SocketAddr>().is_err() {
                return Err(myquorum_proxy::error::ConfigError::invalid(
                    key,
                    format!("{value:?} is not an ip:port address"),
                )
                .into());
            }
        }
        Ok(())
    }

    /// The effective settings as TOML (for `myquorum config`).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render settings: {e}\n"))
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
    fn bad_listen_address_is_named() {
        let mut s = Settings::default();
        s.listen.mysql = "nowhere".to_owned();
        let err = s.validate_listen().expect_err("rejects").to_string();
        assert!(err.contains("listen.mysql"), "{err}");
    }
}
