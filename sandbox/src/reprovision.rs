//! [`Cluster::reprovision_node`]: replaces a diverged node's data with a consistent dump of
//! the primary, so it can rejoin as a replica. The way out when a node (typically an old
//! primary) holds transactions the cluster never received: replication refuses it (1236 under
//! `gtid_strict_mode`), and only discarding those transactions on that node brings it back;
//! the cluster's own commits are never touched.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use serde::Serialize;

use crate::node::{os_user, root_conn, run};
use crate::template::find_beside;
use crate::{Cluster, NodeInfo, SandboxError};

/// Databases that belong to the server, not to the application: never dumped nor dropped
/// (the accounts in `mysql.*` were replicated like everything else and stay).
const SYSTEM_DATABASES: [&str; 4] = ["mysql", "information_schema", "performance_schema", "sys"];

/// What [`Cluster::reprovision_node`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reprovisioned {
    /// The GTIDs (domain-server-seq, oldest first) the node had logged that the source does
    /// not hold: the transactions its old data carried and that are now gone.
    pub discarded: Vec<String>,
    /// The source's position the dump is consistent with: the node's `gtid_slave_pos` now.
    pub position: String,
    /// The application databases copied from the source.
    pub databases: Vec<String>,
}

impl Cluster {
    /// Re-provisions node `id` from node `from` (the current primary), both running: dumps
    /// every application database of `from` (`mariadb-dump --gtid --single-transaction
    /// --master-data=2`, root over its socket), stops replication on `id`, drops its
    /// application databases, loads the dump without binary logging, `RESET MASTER` and sets
    /// `gtid_slave_pos` to the dump's position. The node is then a copy of `from` at that
    /// position, ready to be pointed at it (the caller rejoins it). Nothing runs on `from`
    /// but the dump (which holds a global read lock for an instant to read its position).
    pub async fn reprovision_node(
        &self,
        id: &str,
        from: &str,
    ) -> Result<Reprovisioned, SandboxError> {
        if id == from {
            return Err(SandboxError::InvalidConfig {
                key: "reprovision",
                reason: format!("cannot re-provision {id} from itself"),
            });
        }
        let node = self.node(id)?;
        let source = self.node(from)?;
        let mut node_conn = root_conn(node).await?;
        let mut source_conn = root_conn(source).await?;
        let discarded = diverged(
            &binlog_gtids(&mut node_conn, node).await?,
            &binlog_gtids(&mut source_conn, source)
                .await?
                .into_iter()
                .collect(),
        );
        let databases = user_databases(&mut source_conn, source).await?;
        let _ = source_conn.disconnect().await;

        // Dump first: if it fails, the node is left exactly as it was.
        let dump = node
            .data_dir
            .parent()
            .unwrap_or(&node.data_dir)
            .join("reprovision.sql");
        let position = if databases.is_empty() {
            // Nothing to copy: the node only needs the source's position.
            let pos: Option<String> = source_query(source, "SELECT @@GLOBAL.gtid_binlog_pos")
                .await?
                .flatten();
            pos.unwrap_or_default()
        } else {
            let tool = find_beside(self.mariadbd(), "mariadb-dump")?;
            let mut args = vec![
                socket_arg(source),
                format!("--user={}", os_user()),
                "--gtid".to_owned(),
                "--single-transaction".to_owned(),
                "--master-data=2".to_owned(),
                "--routines".to_owned(),
                "--events".to_owned(),
                "--triggers".to_owned(),
                format!("--result-file={}", dump.display()),
                "--databases".to_owned(),
            ];
            args.extend(databases.iter().cloned());
            command(&tool, &args, None).await?;
            dump_position(&dump)?
        };

        run(&mut node_conn, node, "STOP SLAVE").await?;
        // Keeps the connection settings (a replica rejoins with the account it had).
        run(&mut node_conn, node, "RESET SLAVE").await?;
        run(&mut node_conn, node, "SET SESSION sql_log_bin = 0").await?;
        for db in user_databases(&mut node_conn, node).await? {
            let drop = format!("DROP DATABASE `{}`", db.replace('`', "``"));
            run(&mut node_conn, node, &drop).await?;
        }
        if !databases.is_empty() {
            let tool = find_beside(self.mariadbd(), "mariadb")?;
            let args = [
                socket_arg(node),
                format!("--user={}", os_user()),
                "--init-command=SET SESSION sql_log_bin = 0".to_owned(),
                "--binary-mode".to_owned(),
            ];
            command(&tool, &args, Some(&dump)).await?;
            let _ = std::fs::remove_file(&dump);
        }
        run(&mut node_conn, node, "RESET MASTER").await?;
        let set = format!(
            "SET GLOBAL gtid_slave_pos = '{}'",
            position.replace('\'', "''")
        );
        run(&mut node_conn, node, &set).await?;
        let _ = node_conn.disconnect().await;
        tracing::warn!(node = id, from, position = %position, discarded = ?discarded,
            databases = ?databases, "node re-provisioned from the primary");
        Ok(Reprovisioned {
            discarded,
            position,
            databases,
        })
    }
}

/// Every GTID in `node`'s binary logs, oldest first.
async fn binlog_gtids(conn: &mut Conn, node: &NodeInfo) -> Result<Vec<String>, SandboxError> {
    let files: Vec<Row> = conn
        .query("SHOW BINARY LOGS")
        .await
        .map_err(|source| sql_error(node, "SHOW BINARY LOGS", source))?;
    let mut gtids = Vec::new();
    for file in files {
        let Some(Ok(name)) = file.get_opt::<String, _>("Log_name") else {
            continue;
        };
        let show = format!("SHOW BINLOG EVENTS IN '{}'", name.replace('\'', "''"));
        let mut result = conn
            .query_iter(show.as_str())
            .await
            .map_err(|source| sql_error(node, &show, source))?;
        result
            .for_each(|row| {
                let text = |col: &str| {
                    row.get_opt::<String, _>(col)
                        .and_then(Result::ok)
                        .unwrap_or_default()
                };
                if text("Event_type") == "Gtid" {
                    if let Some(gtid) = gtid_of(&text("Info")) {
                        gtids.push(gtid);
                    }
                }
            })
            .await
            .map_err(|source| sql_error(node, &show, source))?;
    }
    Ok(gtids)
}

/// The GTID a `Gtid` event's Info names ("BEGIN GTID 0-1-5 cid=7", "GTID 0-1-6").
fn gtid_of(info: &str) -> Option<String> {
    let mut words = info.split_whitespace();
    words.find(|w| *w == "GTID")?;
    words.next().map(str::to_owned)
}

/// The node's transactions after the last one `source` also holds: histories share a prefix
/// and the node's diverged tail follows it (`gtid_strict_mode` keeps each log in order).
fn diverged(node: &[String], source: &HashSet<String>) -> Vec<String> {
    let common = node
        .iter()
        .rposition(|g| source.contains(g))
        .map_or(0, |i| i + 1);
    node[common..].to_vec()
}

/// The application databases of `node` (all but the server's own), sorted.
async fn user_databases(conn: &mut Conn, node: &NodeInfo) -> Result<Vec<String>, SandboxError> {
    let sql = format!(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT IN ({}) ORDER BY schema_name",
        SYSTEM_DATABASES.map(|d| format!("'{d}'")).join(", ")
    );
    conn.query(sql.as_str())
        .await
        .map_err(|source| sql_error(node, &sql, source))
}

/// One value from `node` as root, on a fresh connection.
async fn source_query(node: &NodeInfo, sql: &str) -> Result<Option<Option<String>>, SandboxError> {
    let mut conn = root_conn(node).await?;
    let value = conn
        .query_first(sql)
        .await
        .map_err(|source| sql_error(node, sql, source))?;
    let _ = conn.disconnect().await;
    Ok(value)
}

/// The `gtid_slave_pos` a `--gtid --master-data=2` dump names in its header (as a comment).
fn dump_position(dump: &Path) -> Result<String, SandboxError> {
    let file = std::fs::File::open(dump).map_err(|e| SandboxError::io("read", dump, e))?;
    for line in std::io::BufReader::new(file).lines().take(500) {
        let line = line.map_err(|e| SandboxError::io("read", dump, e))?;
        if let Some(pos) = position_in(&line) {
            return Ok(pos);
        }
    }
    Err(SandboxError::Command {
        command: format!("mariadb-dump ... --result-file={}", dump.display()),
        reason: "the dump names no gtid_slave_pos in its first 500 lines".to_owned(),
        output: String::new(),
    })
}

/// `-- SET GLOBAL gtid_slave_pos='0-2-17';` → `0-2-17`.
fn position_in(line: &str) -> Option<String> {
    let rest = &line[line.find("gtid_slave_pos")? + "gtid_slave_pos".len()..];
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    let rest = rest.strip_prefix('\'')?;
    Some(rest[..rest.find('\'')?].to_owned())
}

fn socket_arg(node: &NodeInfo) -> String {
    format!("--socket={}", node.socket.display())
}

/// Runs `tool args` (stdin from `input` when given) to completion; a failure carries the
/// command line and the tail of its output.
async fn command(
    tool: &PathBuf,
    args: &[String],
    input: Option<&Path>,
) -> Result<(), SandboxError> {
    let line = format!("{} {}", tool.display(), args.join(" "));
    let stdin = match input {
        Some(path) => {
            Stdio::from(std::fs::File::open(path).map_err(|e| SandboxError::io("read", path, e))?)
        }
        None => Stdio::null(),
    };
    let out = tokio::process::Command::new(tool)
        .args(args)
        .stdin(stdin)
        .output()
        .await
        .map_err(|e| SandboxError::Command {
            command: line.clone(),
            reason: e.to_string(),
            output: String::new(),
        })?;
    if out.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Err(SandboxError::Command {
        command: line,
        reason: out.status.to_string(),
        output: crate::node::tail(&text, 20),
    })
}

fn sql_error(node: &NodeInfo, statement: &str, source: mysql_async::Error) -> SandboxError {
    SandboxError::Sql {
        node: node.id.clone(),
        statement: statement.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_gtid_of_an_event() {
        assert_eq!(gtid_of("BEGIN GTID 0-1-5 cid=7").as_deref(), Some("0-1-5"));
        assert_eq!(gtid_of("GTID 0-2-6").as_deref(), Some("0-2-6"));
        assert_eq!(gtid_of("Binlog checkpoint"), None);
    }

    #[test]
    fn reads_the_dump_position() {
        assert_eq!(
            position_in("-- SET GLOBAL gtid_slave_pos='0-2-17';").as_deref(),
            Some("0-2-17")
        );
        assert_eq!(
            position_in("-- SET GLOBAL gtid_slave_pos = '0-2-17,1-3-4';").as_deref(),
            Some("0-2-17,1-3-4")
        );
        assert_eq!(position_in("-- CHANGE MASTER TO MASTER_LOG_POS=4;"), None);
    }

    #[test]
    fn the_diverged_tail_follows_the_last_common_transaction() {
        let node: Vec<String> = ["0-1-1", "0-1-2", "0-1-3", "0-1-4"]
            .map(String::from)
            .to_vec();
        let source: HashSet<String> = ["0-1-1", "0-1-2", "0-2-3", "0-2-4", "0-2-5"]
            .map(String::from)
            .into();
        assert_eq!(diverged(&node, &source), ["0-1-3", "0-1-4"]);
        let caught_up: HashSet<String> = node.iter().cloned().collect();
        assert!(diverged(&node, &caught_up).is_empty());
    }
}
