//! Users, databases and GTID replication: the SQL the sandbox runs on the nodes.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row};
use tokio::task::JoinSet;

use crate::config::REPL_USER;
use crate::node::{root_conn, NodeInfo};
use crate::{SandboxConfig, SandboxError};

/// The bootstrap script (see mysql-config/README.md), with `${NAME}` placeholders.
const BOOTSTRAP_SQL: &str = include_str!("../../mysql-config/bootstrap.sql");
/// How long replicas may take to start their threads and to catch up.
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(90);

/// One server as the replication code sees it: a name for errors, the address its replicas
/// connect to, and how an administrative connection is opened. The sandbox's own nodes are
/// reached as root over their unix socket; servers it did not start (docker-compose,
/// `myquorum wire`) over TCP with an admin account. Both run the same wiring below.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    /// Node id (`instance-<k>`), used in errors and logs.
    pub(crate) id: String,
    /// Host replicas give to `CHANGE MASTER TO MASTER_HOST`.
    pub(crate) host: String,
    /// Its TCP port.
    pub(crate) port: u16,
    /// How to log in with administrative rights.
    pub(crate) admin: Admin,
}

/// How [`Server::connect`] logs in.
#[derive(Debug, Clone)]
pub(crate) enum Admin {
    /// A sandbox node: root over its unix socket ([`root_conn`]).
    Socket(NodeInfo),
    /// An account with every privilege, over TCP to `host:port`.
    Tcp {
        /// The account.
        user: String,
        /// Its password.
        password: String,
    },
}

impl From<&NodeInfo> for Server {
    fn from(node: &NodeInfo) -> Self {
        Server {
            id: node.id.clone(),
            host: node.host.clone(),
            port: node.port,
            admin: Admin::Socket(node.clone()),
        }
    }
}

impl Server {
    /// An administrative connection to this server.
    async fn connect(&self) -> Result<Conn, SandboxError> {
        match &self.admin {
            Admin::Socket(node) => root_conn(node).await,
            Admin::Tcp { user, password } => {
                let opts = OptsBuilder::default()
                    .ip_or_hostname(self.host.clone())
                    .tcp_port(self.port)
                    .user(Some(user.clone()))
                    .pass(Some(password.clone()))
                    .prefer_socket(false);
                Conn::new(opts).await.map_err(|source| SandboxError::Sql {
                    node: self.id.clone(),
                    statement: format!("connect as {user} over TCP {}:{}", self.host, self.port),
                    source,
                })
            }
        }
    }
}

/// Wires `primary` and `replicas` into one GTID-replicated cluster, as every sandbox start
/// does: per-node fix-ups, the primary detached and made writable, the bootstrap (users,
/// database, demo tables) on the primary when `bootstrap`, every replica attached, then waits
/// until each has caught up.
pub(crate) async fn wire(
    primary: &Server,
    replicas: &[Server],
    cfg: &SandboxConfig,
    bootstrap: bool,
) -> Result<(), SandboxError> {
    local_setup(primary).await?;
    for replica in replicas {
        local_setup(replica).await?;
    }
    detach(primary).await?;
    make_writable(primary).await?;
    if bootstrap {
        bootstrap_primary(primary, cfg).await?;
    }
    for replica in replicas {
        attach(replica, primary, cfg).await?;
    }
    wait_all_replicating(primary, replicas).await
}

/// Waits until every replica runs both threads and has applied the primary's binlog so far.
pub(crate) async fn wait_all_replicating(
    primary: &Server,
    replicas: &[Server],
) -> Result<(), SandboxError> {
    let pos = gtid_binlog_pos(primary).await?;
    let mut tasks = JoinSet::new();
    for replica in replicas {
        let replica = replica.clone();
        let pos = pos.clone();
        tasks.spawn(async move { wait_replicating(&replica, &pos).await });
    }
    while let Some(joined) = tasks.join_next().await {
        if let Ok(Err(e)) = joined {
            return Err(e);
        }
    }
    Ok(())
}

/// Makes `node` writable (`SET GLOBAL read_only=OFF`): the primary being crowned.
pub(crate) async fn make_writable(node: &Server) -> Result<(), SandboxError> {
    let mut conn = node.connect().await?;
    run(&mut conn, node, "SET GLOBAL read_only=OFF").await?;
    let _ = conn.disconnect().await;
    tracing::info!(node = %node.id, port = node.port, "primary made writable");
    Ok(())
}

/// Whether `node` has a replication source configured (`SHOW SLAVE STATUS` has a row).
pub(crate) async fn has_source(node: &Server) -> Result<bool, SandboxError> {
    let mut conn = node.connect().await?;
    let configured = slave_status(&mut conn, node).await?.is_some();
    let _ = conn.disconnect().await;
    Ok(configured)
}

/// Runs one statement on an open connection, naming server and statement on failure.
async fn run(conn: &mut Conn, node: &Server, sql: &str) -> Result<(), SandboxError> {
    conn.query_drop(sql)
        .await
        .map_err(|source| sql_err(node, sql, source))
}

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
    primary: &Server,
    cfg: &SandboxConfig,
) -> Result<(), SandboxError> {
    let mut conn = primary.connect().await?;
    for stmt in bootstrap_statements(cfg) {
        run(&mut conn, primary, &stmt).await?;
    }
    let _ = conn.disconnect().await;
    tracing::info!(node = %primary.id, database = %cfg.app_database, "users, database and demo tables created");
    Ok(())
}

/// Per-node local fix-ups, never binlogged (`sql_log_bin=0`): drops anonymous accounts should
/// a template still have them (they make `app@'%'` fail with 1045 over 127.0.0.1).
pub(crate) async fn local_setup(node: &Server) -> Result<(), SandboxError> {
    let mut conn = node.connect().await?;
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
pub(crate) async fn detach(node: &Server) -> Result<(), SandboxError> {
    let mut conn = node.connect().await?;
    if slave_status(&mut conn, node).await?.is_some() {
        run(&mut conn, node, "STOP SLAVE").await?;
        run(&mut conn, node, "RESET SLAVE ALL").await?;
    }
    let _ = conn.disconnect().await;
    Ok(())
}

/// Points `replica` at `primary` with GTID auto-positioning and starts its threads.
pub(crate) async fn attach(
    replica: &Server,
    primary: &Server,
    cfg: &SandboxConfig,
) -> Result<(), SandboxError> {
    let mut conn = replica.connect().await?;
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

async fn slave_status(conn: &mut Conn, node: &Server) -> Result<Option<Status>, SandboxError> {
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
pub(crate) async fn wait_replicating(replica: &Server, gtid_pos: &str) -> Result<(), SandboxError> {
    let start = Instant::now();
    let mut conn = replica.connect().await?;
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
pub(crate) async fn gtid_binlog_pos(node: &Server) -> Result<String, SandboxError> {
    let mut conn = node.connect().await?;
    let pos: Option<String> = conn
        .query_first("SELECT @@GLOBAL.gtid_binlog_pos")
        .await
        .map_err(|source| sql_err(node, "SELECT @@GLOBAL.gtid_binlog_pos", source))?;
    let _ = conn.disconnect().await;
    Ok(pos.unwrap_or_default())
}

fn sql_err(node: &Server, statement: &str, source: mysql_async::Error) -> SandboxError {
    SandboxError::Sql {
        node: node.id.clone(),
        statement: statement.to_string(),
        source,
    }
}

fn repl_err(node: &Server, reason: &str, s: Status) -> SandboxError {
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
