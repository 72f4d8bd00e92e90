//! The start-up check of `myquorum serve`: before the proxy fronts servers it did not start,
//! it logs in to each as the control user and names every missing privilege and every
//! setting its routing and failover depend on, all at once, instead of failing later (a
//! failover that cannot `STOP SLAVE`, a promoted replica without the binlog the others
//! need, a replica that takes writes).

use std::fmt;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use myquorum_proxy::{BackendNode, ProxyConfig};

use crate::failover::Control;

/// Privileges the control user needs on every node, with what each is for (10.11 names, as
/// `information_schema.USER_PRIVILEGES` spells them).
pub const REQUIRED_PRIVILEGES: [(&str, &str); 6] = [
    (
        "REPLICATION SLAVE ADMIN",
        "STOP/START SLAVE and CHANGE MASTER in a failover",
    ),
    ("SLAVE MONITOR", "SHOW SLAVE STATUS: lag and thread state"),
    (
        "BINLOG MONITOR",
        "SHOW MASTER STATUS: the primary's position",
    ),
    (
        "READ_ONLY ADMIN",
        "SET GLOBAL read_only: fencing and promotion",
    ),
    (
        "CONNECTION ADMIN",
        "KILL on a demoted primary; monitoring past max_connections",
    ),
    ("PROCESS", "SHOW PROCESSLIST"),
];

/// One thing wrong with one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The node.
    pub node: String,
    /// What is wrong and how to fix it.
    pub problem: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.node, self.problem)
    }
}

/// The server settings the check reads from one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// `@@version`.
    pub version: String,
    /// `@@log_bin`.
    pub log_bin: bool,
    /// `@@log_slave_updates`.
    pub log_slave_updates: bool,
    /// `@@gtid_strict_mode`.
    pub gtid_strict_mode: bool,
    /// `@@binlog_format`.
    pub binlog_format: String,
    /// `@@read_only`.
    pub read_only: bool,
    /// `@@gtid_domain_id`.
    pub gtid_domain_id: u32,
    /// Privileges of the control user on `*.*`.
    pub privileges: Vec<String>,
    /// `Using_Gtid` of SHOW SLAVE STATUS (None: no replication configured).
    pub using_gtid: Option<String>,
}

/// What is wrong with a node playing `primary` or a replica, from its facts.
pub fn judge(node: &str, is_primary: bool, domain: u32, facts: &NodeFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut bad = |problem: String| {
        out.push(Finding {
            node: node.to_owned(),
            problem,
        })
    };
    if !version_supported(&facts.version) {
        bad(format!(
            "server version {} is not MariaDB 10.6 or later (GTID failover needs MASTER_GTID_WAIT and gtid_strict_mode as 10.6 has them)",
            facts.version
        ));
    }
    let all = facts.privileges.iter().any(|p| p == "ALL PRIVILEGES");
    for (privilege, why) in REQUIRED_PRIVILEGES {
        if !all && !facts.privileges.iter().any(|p| p == privilege) {
            bad(format!(
                "the control user lacks {privilege} ON *.* ({why}): GRANT {privilege} ON *.* TO <control user>"
            ));
        }
    }
    if !facts.log_bin {
        bad("log_bin is OFF: a replica promoted by a failover must have a binary log (set log_bin in its config and restart)".to_owned());
    }
    if !facts.log_slave_updates {
        bad("log_slave_updates is OFF: a promoted replica's binlog would miss the transactions it replicated, and the other replicas could not follow it (set log_slave_updates=ON)".to_owned());
    }
    if !facts.gtid_strict_mode {
        bad("gtid_strict_mode is OFF: diverged GTID histories would go unnoticed (SET GLOBAL gtid_strict_mode=ON and in the config)".to_owned());
    }
    if facts.binlog_format.eq_ignore_ascii_case("STATEMENT") {
        bad("binlog_format is STATEMENT: replicas may diverge on non-deterministic statements (use ROW, or MIXED)".to_owned());
    }
    if facts.gtid_domain_id != domain {
        bad(format!(
            "gtid_domain_id is {}, the proxy is configured for domain {domain} (proxy.gtid_domain)",
            facts.gtid_domain_id
        ));
    }
    if is_primary {
        if facts.read_only {
            bad("read_only is ON on the configured primary: writes would fail (SET GLOBAL read_only=OFF)".to_owned());
        }
    } else {
        if !facts.read_only {
            bad("read_only is OFF on a replica: an application user could write to it directly (SET GLOBAL read_only=ON and in the config)".to_owned());
        }
        match facts.using_gtid.as_deref() {
            None => bad("no replication configured (SHOW SLAVE STATUS is empty): CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos".to_owned()),
            Some(mode) if mode.eq_ignore_ascii_case("No") => bad("replication does not use GTIDs (Using_Gtid = No): CHANGE MASTER TO MASTER_USE_GTID=slave_pos".to_owned()),
            Some(_) => {}
        }
    }
    out
}

/// MariaDB 10.6 or later.
fn version_supported(version: &str) -> bool {
    if !version.contains("MariaDB") {
        return false;
    }
    let mut parts = version.split(['.', '-']).map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (10, 6),
        _ => false,
    }
}

/// Reads a node's facts over a control connection.
async fn facts_of(conn: &mut Conn) -> Result<NodeFacts, mysql_async::Error> {
    type Vars = (String, u8, u8, u8, String, u8, u32);
    let vars: Option<Vars> = conn
        .query_first(
            "SELECT @@version, @@log_bin, @@log_slave_updates, @@gtid_strict_mode, \
             @@binlog_format, @@read_only, @@gtid_domain_id",
        )
        .await?;
    let (version, log_bin, log_slave_updates, strict, format, read_only, domain) =
        vars.unwrap_or_default();
    let privileges: Vec<String> = conn
        .query(
            "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES \
             WHERE GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', \
             SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')",
        )
        .await?;
    let using_gtid = match conn
        .query_first::<mysql_async::Row, _>("SHOW SLAVE STATUS")
        .await
    {
        Ok(row) => row.and_then(|r| r.get_opt::<String, _>("Using_Gtid").and_then(Result::ok)),
        // Without SLAVE MONITOR the statement is refused: the missing privilege is reported.
        Err(_) => Some(String::new()),
    };
    Ok(NodeFacts {
        version,
        log_bin: log_bin != 0,
        log_slave_updates: log_slave_updates != 0,
        gtid_strict_mode: strict != 0,
        binlog_format: format,
        read_only: read_only != 0,
        gtid_domain_id: domain,
        privileges,
        using_gtid,
    })
}

/// Checks every node of `config` (see the module docs). Empty: nothing wrong.
pub async fn check(config: &ProxyConfig, connect_timeout: Duration) -> Vec<Finding> {
    let control = Control {
        user: config.control_user.clone(),
        password: config.control_password.clone(),
        domain: config.gtid_domain,
        connect_timeout,
        // A bad `[proxy.backend_tls]` was refused by the settings' validation already.
        ssl: myquorum_proxy::backend::BackendTls::from_config(&config.backend_tls)
            .ok()
            .flatten()
            .map(|tls| tls.ssl_opts()),
    };
    let mut findings = Vec::new();
    for node in &config.nodes {
        findings.extend(check_node(config, &control, node).await);
    }
    findings
}

async fn check_node(config: &ProxyConfig, control: &Control, node: &BackendNode) -> Vec<Finding> {
    let finding = |problem: String| {
        vec![Finding {
            node: node.id.to_string(),
            problem,
        }]
    };
    let mut conn = match control.conn(node).await {
        Ok(c) => c,
        Err(e) => {
            return finding(format!(
                "cannot log in as the control user {} ({e}): create it with the grants in mysql-config/README.md",
                config.control_user
            ))
        }
    };
    let facts = facts_of(&mut conn).await;
    let _ = conn.disconnect().await;
    match facts {
        Ok(facts) => judge(
            &node.id,
            *node.id == *config.primary,
            config.gtid_domain,
            &facts,
        ),
        Err(e) => finding(format!("could not read its settings: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy(read_only: bool) -> NodeFacts {
        NodeFacts {
            version: "10.11.19-MariaDB-0+deb12u1-log".to_owned(),
            log_bin: true,
            log_slave_updates: true,
            gtid_strict_mode: true,
            binlog_format: "ROW".to_owned(),
            read_only,
            gtid_domain_id: 0,
            privileges: REQUIRED_PRIVILEGES
                .iter()
                .map(|(p, _)| (*p).to_owned())
                .collect(),
            using_gtid: (read_only).then(|| "Slave_Pos".to_owned()),
        }
    }

    #[test]
    fn a_sandbox_like_cluster_passes() {
        assert!(judge("instance-1", true, 0, &healthy(false)).is_empty());
        assert!(judge("instance-2", false, 0, &healthy(true)).is_empty());
    }

    #[test]
    fn every_problem_is_named() {
        let facts = NodeFacts {
            version: "10.4.30-MariaDB".to_owned(),
            log_bin: false,
            log_slave_updates: false,
            gtid_strict_mode: false,
            binlog_format: "STATEMENT".to_owned(),
            read_only: false,
            gtid_domain_id: 3,
            privileges: vec!["PROCESS".to_owned()],
            using_gtid: Some("No".to_owned()),
        };
        let found = judge("instance-2", false, 0, &facts);
        let text: Vec<String> = found.iter().map(ToString::to_string).collect();
        for needle in [
            "10.6",
            "REPLICATION SLAVE ADMIN",
            "SLAVE MONITOR",
            "BINLOG MONITOR",
            "READ_ONLY ADMIN",
            "CONNECTION ADMIN",
            "log_bin",
            "log_slave_updates",
            "gtid_strict_mode",
            "STATEMENT",
            "gtid_domain_id is 3",
            "read_only is OFF on a replica",
            "Using_Gtid = No",
        ] {
            assert!(
                text.iter().any(|t| t.contains(needle)),
                "{needle} not named in {text:#?}"
            );
        }
        assert!(
            !text.iter().any(|t| t.contains("lacks PROCESS")),
            "a privilege it has is not reported"
        );
        let primary = judge("instance-1", true, 0, &healthy(true));
        assert_eq!(primary.len(), 1);
        assert!(primary[0]
            .problem
            .contains("read_only is ON on the configured primary"));
    }

    #[test]
    fn versions() {
        assert!(version_supported("10.11.19-MariaDB-0+deb12u1-log"));
        assert!(version_supported("11.4.2-MariaDB"));
        assert!(version_supported("10.6.0-MariaDB"));
        assert!(!version_supported("10.5.9-MariaDB"));
        assert!(!version_supported("8.0.36"));
    }

    #[test]
    fn all_privileges_cover_the_list() {
        let mut facts = healthy(true);
        facts.privileges = vec!["ALL PRIVILEGES".to_owned()];
        assert!(judge("instance-2", false, 0, &facts).is_empty());
    }
}
