//! Users, databases and GTID replication: the SQL the sandbox runs on the nodes.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use crate::config::REPL_USER;
use crate::node::{root_conn, run, NodeInfo};
use crate::{SandboxConfig, SandboxError};

/// The bootstrap script (see mysql-config/README.md), with `${NAME}` placeholders.
const BOOTSTRAP_SQL: &str = include_str!("../../mysql-config/bootstrap.sql");
/// How long replicas may take to start their threads and to catch up.
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(90);

/// Quotes `s` for use inside a single-quoted SQL string literal.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "''")
}

/// The bootstrap statements for `cfg`, placeholders filled in, one string per statement.
pub(crate) fn bootstrap_statements(cfg: &SandboxConfig) -> Vec<String> {
    let values = [
        ("${APP_DATABASE}", cfg.app_database.clone()),
        ("${APP_USER}", escape(&cfg.app_user)),
        ("${APP_PASSWORD}", escape(&cfg.app_password)),
        ("${CONTROL_USER}", escape(&cfg.control_user)),
        ("${CONTROL_PASSWORD}", escape(&cfg.control_password)),
        ("${REPL_USER}", REPL_USER.to_string()),
        ("${REPL_PASSWORD}", escape(&cfg.control_password)),
    ];
    let mut statements = Vec::new();
    let mut current = String::new();
    // Split the template before substituting, so a password containing ";" cannot split it.
    for line in BOOTSTRAP_SQL
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
    {
        current.push_str(line);
        current.push('\n');
        if line.trim_end().ends_with(';') {
            let mut stmt = current.trim().trim_end_matches(';').to_string();
            for (key, value) in &values {
                stmt = stmt.replace(key, value);
            }
            statements.push(stmt);
            current.clear();
        }
    }
    statements
}

/// Runs the bootstrap on the primary only: every statement gets a primary GTID and reaches the
/// replicas through replication. Idempotent (`IF NOT EXISTS`).
pub(crate) async fn bootstrap_primary(
    primary: &NodeInfo,
    cfg: &SandboxConfig,
) -> Result<(), SandboxError> {
    let mut conn = root_conn(primary).await?;
    for stmt in bootstrap_statements(cfg) {
        run(&mut conn, primary, &stmt).await?;
    }
    let _ = conn.disconnect().await;
    tracing::info!(node = %primary.id, database = %cfg.app_database, "users, database and demo tables created");
    Ok(())
}

/// Per-node local fix-ups, never binlogged (`sql_log_bin=0`): drops anonymous accounts should
/// a template still have them (they make `app@'%'` fail with 1045 over 127.0.0.1).
pub(crate) async fn local_setup(node: &NodeInfo) -> Result<(), SandboxError> {
    let mut conn = root_conn(node).await?;
    run(&mut conn, node, "SET SESSION sql_log_bin=0").await?;
    let anonymous: Vec<String> = conn
        .query("SELECT Host FROM mysql.user WHERE User=''")
        .await
        .map_err(|source| sql_err(node, "SELECT anonymous users", source))?;
    for host in anonymous {
        run(
            &mut conn,
            node,
            &format!("DROP USER ''@'{}'", escape(&host)),
        )
        .await?;
    }
    let _ = conn.disconnect().await;
    Ok(())
}

/// Makes `node` stand alone: forgets any master it replicated from (it is the primary now).
pub(crate) async fn detach(node: &NodeInfo) -> Result<(), SandboxError> {
    let mut conn = root_conn(node).await?;
    if slave_status(&mut conn, node).await?.is_some() {
        run(&mut conn, node, "STOP SLAVE").await?;
        run(&mut conn, node, "RESET SLAVE ALL").await?;
    }
    let _ = conn.disconnect().await;
    Ok(())
}

/// Points `replica` at `primary` with GTID auto-positioning and starts its threads.
pub(crate) async fn attach(
    replica: &NodeInfo,
    primary: &NodeInfo,
    cfg: &SandboxConfig,
) -> Result<(), SandboxError> {
    let mut conn = root_conn(replica).await?;
    if slave_status(&mut conn, replica).await?.is_some() {
        run(&mut conn, replica, "STOP SLAVE").await?;
    }
    // A former primary's own transactions are in gtid_binlog_pos, not gtid_slave_pos: without
    // this it would ask the new primary for them again. For an ordinary replica the two agree.
    run(
        &mut conn,
        replica,
        "SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_current_pos",
    )
    .await?;
    let change = format!(
        "CHANGE MASTER TO MASTER_HOST='{}', MASTER_PORT={}, MASTER_USER='{REPL_USER}', \
         MASTER_PASSWORD='{}', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
        primary.host,
        primary.port,
        escape(&cfg.control_password)
    );
    conn.query_drop(&change)
        .await
        .map_err(|source| sql_err(replica, "CHANGE MASTER TO ... (password elided)", source))?;
    run(&mut conn, replica, "START SLAVE").await?;
    let _ = conn.disconnect().await;
    tracing::info!(node = %replica.id, primary = %primary.id, "replica attached");
    Ok(())
}

use crate::ReplicaStatus as Status;

async fn slave_status(conn: &mut Conn, node: &NodeInfo) -> Result<Option<Status>, SandboxError> {
    let row: Option<Row> = conn
        .query_first("SHOW SLAVE STATUS")
        .await
        .map_err(|source| sql_err(node, "SHOW SLAVE STATUS", source))?;
    let col = |row: &Row, name: &str| {
        row.get_opt::<Option<String>, _>(name)
            .and_then(Result::ok)
            .flatten()
            .unwrap_or_default()
    };
    Ok(row.map(|r| Status {
        io_running: col(&r, "Slave_IO_Running"),
        sql_running: col(&r, "Slave_SQL_Running"),
        last_io_error: col(&r, "Last_IO_Error"),
        last_sql_error: col(&r, "Last_SQL_Error"),
    }))
}

/// Waits until `replica`'s IO and SQL threads both run, then until it has applied everything
/// the primary had logged at `gtid_pos`. Fails early on an SQL-thread error (those never heal).
pub(crate) async fn wait_replicating(
    replica: &NodeInfo,
    gtid_pos: &str,
) -> Result<(), SandboxError> {
    let start = Instant::now();
    let mut conn = root_conn(replica).await?;
    let mut status = Status::default();
    loop {
        if let Some(s) = slave_status(&mut conn, replica).await? {
            status = s;
        }
        let running = status.io_running == "Yes" && status.sql_running == "Yes";
        let sql_failed = status.sql_running == "No" && !status.last_sql_error.is_empty();
        if running {
            break;
        }
        if sql_failed || start.elapsed() > REPLICATION_TIMEOUT {
            return Err(repl_err(
                replica,
                "IO and SQL threads not both running",
                status,
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let waited: Option<i64> = conn
        .exec_first(
            "SELECT MASTER_GTID_WAIT(?, ?)",
            (gtid_pos, REPLICATION_TIMEOUT.as_secs()),
        )
        .await
        .map_err(|source| sql_err(replica, "SELECT MASTER_GTID_WAIT(...)", source))?;
    if waited != Some(0) {
        let status = slave_status(&mut conn, replica).await?.unwrap_or_default();
        return Err(repl_err(
            replica,
            &format!("did not reach primary GTID {gtid_pos}"),
            status,
        ));
    }
    let _ = conn.disconnect().await;
    Ok(())
}

/// The primary's `@@gtid_binlog_pos`: what a replica must have applied to be caught up.
pub(crate) async fn gtid_binlog_pos(node: &NodeInfo) -> Result<String, SandboxError> {
    let mut conn = root_conn(node).await?;
    let pos: Option<String> = conn
        .query_first("SELECT @@GLOBAL.gtid_binlog_pos")
        .await
        .map_err(|source| sql_err(node, "SELECT @@GLOBAL.gtid_binlog_pos", source))?;
    let _ = conn.disconnect().await;
    Ok(pos.unwrap_or_default())
}

fn sql_err(node: &NodeInfo, statement: &str, source: mysql_async::Error) -> SandboxError {
    SandboxError::Sql {
        node: node.id.clone(),
        statement: statement.to_string(),
        source,
    }
}

fn repl_err(node: &NodeInfo, reason: &str, s: Status) -> SandboxError {
    SandboxError::Replication {
        node: node.id.clone(),
        reason: reason.to_string(),
        status: Box::new(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_fills_every_placeholder_and_escapes_passwords() {
        let cfg = SandboxConfig {
            app_password: "it's;\\".into(),
            ..Default::default()
        };
        let stmts = bootstrap_statements(&cfg);
        assert!(stmts.len() >= 9, "{stmts:#?}");
        assert!(stmts.iter().all(|s| !s.contains("${") && !s.ends_with(';')));
        assert!(stmts.iter().any(|s| s.contains("PASSWORD('it''s;\\\\')")));
        assert!(stmts
            .iter()
            .any(|s| s.contains("GRANT ALL PRIVILEGES ON `app`.* TO 'app'@'%'")));
        assert!(!stmts.iter().any(|s| s.contains("ON *.* TO 'app'")));
    }
}
