//! Multiplexing against a real 4-node cluster: idle sessions give their backend connections
//! back (`pool.multiplex_idle_ms`) and the pool shrinks to its warm connections
//! (`pool.min_idle_per_key`, `pool.surplus_idle_timeout_secs`), so 2,000 connected clients
//! hold a bounded number of backend connections per node; each client's database and
//! settings come back on the pooled connection it takes next, and nothing leaks between
//! clients. Sessions whose connections hold state (user variables, temporary tables, a
//! transaction, a generated LAST_INSERT_ID, unread warnings) keep them.

mod support;

use std::time::Duration;

use myquorum_sandbox::{root_conn, Cluster, NodeInfo};
use mysql_async::prelude::Queryable;
use support::{proxy_config, root, Proxy};

/// Clients connected at once.
const CLIENTS: usize = 2_000;
/// Clients logging in at the same time.
const LOGIN_BATCH: usize = 100;
/// Idle pooled connections kept warm per (user, node, flags, collation, session thread).
const IDLE_PER_KEY: usize = 4;
/// How long the pool keeps idle connections beyond the warm ones.
const SURPLUS_IDLE: Duration = Duration::from_secs(1);
/// Session threads of the proxy.
const IO_THREADS: usize = 2;
/// How long an idle session keeps its connections.
const PARK_AFTER: Duration = Duration::from_millis(200);

/// The application user's connections on `node`, counted by the server itself.
async fn app_connections(node: &NodeInfo) -> usize {
    let mut conn = root_conn(node).await.expect("root");
    let n: Option<usize> = conn
        .query_first("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'app'")
        .await
        .expect("processlist");
    conn.disconnect().await.expect("disconnect");
    n.unwrap_or(0)
}

/// What client `k` sets up: its database, character set and sql_mode.
fn setup_of(k: usize) -> (&'static str, &'static str, &'static str) {
    let db = ["app", "mux_b", "mux_c"][k % 3];
    let charset = ["latin1", "utf8mb4"][k % 2];
    let mode = [
        "ANSI_QUOTES",
        "NO_ZERO_DATE",
        "PIPES_AS_CONCAT",
        "STRICT_TRANS_TABLES",
    ][k % 4];
    (db, charset, mode)
}

/// A 4-node cluster with the clients' extra databases, and the proxy configuration both
/// tests start from (session threads and pool shrinking as the constants say).
async fn cluster_and_config() -> (Cluster, myquorum_proxy::ProxyConfig) {
    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    for db in ["mux_b", "mux_c"] {
        root(cluster.primary(), &format!("CREATE DATABASE {db}")).await;
        root(
            cluster.primary(),
            &format!("GRANT ALL PRIVILEGES ON {db}.* TO 'app'@'%'"),
        )
        .await;
    }
    let mut config = proxy_config(&cluster);
    config.io_threads = IO_THREADS;
    config.pool.min_idle_per_key = IDLE_PER_KEY;
    config.pool.surplus_idle_timeout_secs = SURPLUS_IDLE.as_secs();
    (cluster, config)
}

/// Client `k` sets up its state ([`setup_of`]); returns it.
async fn set_up(
    conn: &mut mysql_async::Conn,
    k: usize,
) -> (&'static str, &'static str, &'static str) {
    let (db, charset, mode) = setup_of(k);
    conn.query_drop(format!("USE {db}")).await.expect("use");
    conn.query_drop(format!("SET NAMES {charset}"))
        .await
        .expect("set names");
    conn.query_drop(format!("SET SESSION sql_mode = '{mode}'"))
        .await
        .expect("sql_mode");
    (db, charset, mode)
}

/// The state a session sees: (database, character_set_client, sql_mode).
async fn state(conn: &mut mysql_async::Conn) -> (String, String, String) {
    conn.query_first("SELECT DATABASE(), @@character_set_client, @@sql_mode")
        .await
        .expect("state query")
        .expect("one row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_sessions_share_backend_connections_without_leaking_state() {
    let (cluster, mut config) = cluster_and_config().await;
    config.pool.multiplex_idle_ms = PARK_AFTER.as_millis() as u64;
    let proxy = Proxy::start_with(config).await;
    // The grants reach the replicas before the clients read there.
    let mut setup = proxy.conn().await;
    setup
        .query_drop("CREATE TABLE app.ai (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
        .await
        .expect("create table");

    // Every client sets its own state and runs a statement; all stay connected.
    let mut clients = Vec::with_capacity(CLIENTS);
    for batch in (0..CLIENTS).collect::<Vec<_>>().chunks(LOGIN_BATCH) {
        let mut logins = tokio::task::JoinSet::new();
        for &k in batch {
            let opts = proxy.opts();
            logins.spawn(async move {
                let mut conn = mysql_async::Conn::new(opts).await.expect("login");
                let (db, charset, mode) = set_up(&mut conn, k).await;
                assert_eq!(
                    state(&mut conn).await,
                    (db.to_owned(), charset.to_owned(), mode.to_owned())
                );
                (k, conn)
            });
        }
        while let Some(login) = logins.join_next().await {
            clients.push(login.expect("client task"));
        }
    }
    clients.sort_by_key(|(k, _)| *k);
    let mut clients: Vec<mysql_async::Conn> = clients.into_iter().map(|(_, c)| c).collect();

    // Sessions whose connections hold state keep them through any idle time.
    let mut user_var = proxy.conn().await;
    user_var
        .query_drop("SET @mine = 42")
        .await
        .expect("set @mine");
    let mut temp = proxy.conn().await;
    temp.query_drop("CREATE TEMPORARY TABLE scratch (a INT)")
        .await
        .expect("temporary table");
    temp.query_drop("INSERT INTO scratch VALUES (7)")
        .await
        .expect("insert into it");
    let mut in_txn = proxy.conn().await;
    in_txn.query_drop("BEGIN").await.expect("begin");
    in_txn
        .query_drop("INSERT INTO app.ai (v) VALUES (1)")
        .await
        .expect("insert in transaction");
    let mut inserted = proxy.conn().await;
    inserted
        .query_drop("INSERT INTO app.ai (v) VALUES (2)")
        .await
        .expect("insert");
    let insert_id = inserted.last_insert_id().expect("an insert id");
    let mut warned = proxy.conn().await;
    warned
        .query_drop("SELECT CAST('12abc' AS SIGNED)")
        .await
        .expect("a statement with a warning");
    let mut prepared = proxy.conn().await;
    let one: Option<i64> = prepared
        .exec_first("SELECT ? + 1", (1,))
        .await
        .expect("prepared statement");
    assert_eq!(one, Some(2));

    // Idle: the backend connections go back to the pool, which closes the surplus (its
    // reaper runs every second); the server sees a bounded number.
    tokio::time::sleep(PARK_AFTER * 5 + SURPLUS_IDLE + Duration::from_secs(2)).await;
    let bound = IDLE_PER_KEY * IO_THREADS + 16;
    let mut held = Vec::new();
    for node in cluster.nodes() {
        held.push((node.id.clone(), app_connections(node).await));
    }
    for (node, n) in &held {
        assert!(
            *n <= bound,
            "{CLIENTS} idle clients hold {n} connections on {node} (bound {bound}): {held:?}"
        );
    }
    eprintln!("{CLIENTS} idle clients: app connections per node {held:?}");

    // Every client finds its own state again, on whatever connection it gets.
    for (k, conn) in clients.iter_mut().enumerate() {
        let (db, charset, mode) = setup_of(k);
        assert_eq!(
            state(conn).await,
            (db.to_owned(), charset.to_owned(), mode.to_owned()),
            "client {k}"
        );
    }
    let mine: Option<i64> = user_var
        .query_first("SELECT @mine")
        .await
        .expect("select @mine");
    assert_eq!(mine, Some(42), "a user variable pins its connection");
    let rows: Option<i64> = temp
        .query_first("SELECT COUNT(*) FROM scratch")
        .await
        .expect("the temporary table is still there");
    assert_eq!(rows, Some(1));
    in_txn.query_drop("COMMIT").await.expect("commit");
    let last: Option<u64> = inserted
        .query_first("SELECT LAST_INSERT_ID()")
        .await
        .expect("last insert id");
    assert_eq!(last, Some(insert_id));
    let warnings: Vec<mysql_async::Row> =
        warned.query("SHOW WARNINGS").await.expect("show warnings");
    assert_eq!(warnings.len(), 1, "the warning is still there to read");
    let two: Option<i64> = prepared
        .exec_first("SELECT ? + 1", (1,))
        .await
        .expect("prepared again on the connection it gets now");
    assert_eq!(two, Some(2));
    let committed: Option<i64> = setup
        .query_first("SELECT COUNT(*) FROM app.ai")
        .await
        .expect("count");
    assert_eq!(
        committed,
        Some(2),
        "the transaction's row and the other insert"
    );

    for conn in clients {
        conn.disconnect().await.expect("disconnect");
    }
    for conn in [setup, user_var, temp, in_txn, inserted, warned, prepared] {
        conn.disconnect().await.expect("disconnect");
    }
    proxy.stop().await;
    drop(cluster);
}

/// Clients that keep running statements (statement multiplexing).
const BUSY_CLIENTS: usize = 300;
/// Rounds of statements each busy client runs.
const ROUNDS: usize = 6;
/// A busy client's pause between rounds (idle parking is off in this test: whatever the
/// clients share, they share between statements). Long enough that the statements asked for,
/// about 1,000 a second, stay within what a debug build on a loaded machine serves: the
/// connections counted are then those of the statements running at once, not a backlog.
const THINK: Duration = Duration::from_millis(1_000);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn busy_sessions_share_backend_connections_between_statements() {
    let (cluster, mut config) = cluster_and_config().await;
    // No idle parking: whatever the clients give back, they give back between statements.
    config.pool.multiplex_idle_ms = 0;
    assert!(config.pool.multiplex_statements, "on by default");
    let proxy = Proxy::start_with(config).await;
    let mut setup = proxy.conn().await;
    setup
        .query_drop("CREATE TABLE app.counters (k INT PRIMARY KEY, v INT)")
        .await
        .expect("create table");
    let rows: Vec<String> = (0..BUSY_CLIENTS).map(|k| format!("({k}, 0)")).collect();
    setup
        .query_drop(format!(
            "INSERT INTO app.counters VALUES {}",
            rows.join(",")
        ))
        .await
        .expect("insert");

    let mut clients = tokio::task::JoinSet::new();
    for k in 0..BUSY_CLIENTS {
        let opts = proxy.opts();
        clients.spawn(async move {
            // Logins spread over 1.5 s (a login storm opens a connection per login).
            tokio::time::sleep(Duration::from_millis((k / 20) as u64 * 100)).await;
            let mut conn = mysql_async::Conn::new(opts).await.expect("login");
            let (db, charset, mode) = set_up(&mut conn, k).await;
            let expected = (db.to_owned(), charset.to_owned(), mode.to_owned());
            for round in 0..ROUNDS {
                // Its own state, on whichever connection it gets for this statement.
                assert_eq!(state(&mut conn).await, expected, "client {k} round {round}");
                // One text prepared by every client, found prepared on the connection.
                let sum: Option<i64> = conn
                    .exec_first("SELECT ? + ?", (k as i64, round as i64))
                    .await
                    .expect("prepared statement");
                assert_eq!(sum, Some((k + round) as i64), "client {k} round {round}");
                if round % 5 == 0 {
                    // After a write the session keeps its connection: ROW_COUNT() is its own.
                    conn.query_drop(format!("UPDATE app.counters SET v = v + 1 WHERE k = {k}"))
                        .await
                        .expect("update");
                    let count: Option<i64> = conn
                        .query_first("SELECT ROW_COUNT()")
                        .await
                        .expect("row count");
                    assert_eq!(count, Some(1), "client {k} round {round}");
                }
                tokio::time::sleep(THINK).await;
            }
            conn
        });
    }
    // The primary's app connections, sampled while the clients run: what runs at once plus
    // the pool's recently used ones (one per client without statement multiplexing, each
    // holds its login's connection).
    let mut samples = Vec::new();
    let primary = cluster.primary().clone();
    let mut done = Vec::with_capacity(BUSY_CLIENTS);
    loop {
        tokio::select! {
            finished = clients.join_next() => match finished {
                Some(conn) => done.push(conn.expect("client task")),
                None => break,
            },
            () = tokio::time::sleep(Duration::from_millis(250)) => {
                samples.push(app_connections(&primary).await);
            }
        }
    }
    samples.sort_unstable();
    let median = samples[samples.len() / 2];
    let peak = samples[samples.len() - 1];
    eprintln!(
        "{BUSY_CLIENTS} busy clients: app connections on the primary median {median}, peak {peak} ({} samples)", samples.len()
    );
    assert!(
        median < BUSY_CLIENTS / 2,
        "{BUSY_CLIENTS} busy clients held a median of {median} connections on the primary \
         (samples {samples:?})"
    );

    // Still connected and never parked (parking is off): the connections they gave back
    // between statements shrink to the warm ones.
    tokio::time::sleep(SURPLUS_IDLE + Duration::from_secs(3)).await;
    let bound = IDLE_PER_KEY * IO_THREADS + 8;
    for node in cluster.nodes() {
        let n = app_connections(node).await;
        assert!(
            n <= bound,
            "{BUSY_CLIENTS} connected clients hold {n} connections on {} (bound {bound})",
            node.id
        );
    }
    let total: Option<i64> = setup
        .query_first("SELECT SUM(v) FROM app.counters")
        .await
        .expect("counter");
    assert_eq!(total, Some((BUSY_CLIENTS * ROUNDS.div_ceil(5)) as i64));
    for mut conn in done {
        let one: Option<i64> = conn.query_first("SELECT 1").await.expect("select 1");
        assert_eq!(one, Some(1));
        conn.disconnect().await.expect("disconnect");
    }
    setup.disconnect().await.expect("disconnect");
    proxy.stop().await;
    drop(cluster);
}

/// A connection that ran something that may leave unrecorded session state (here a
/// multi-statement SET, which is not replayed) is never handed unreset to another session:
/// its session keeps it (and its setting), and a session in the same recorded state taking
/// connections between statements never sees that setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unrecorded_state_never_reaches_another_session() {
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    let mut config = proxy_config(&cluster);
    // One session thread: both clients draw from the same pool.
    config.io_threads = 1;
    let proxy = Proxy::start_with(config).await;
    const ON_PRIMARY: &str = "/* myquorum:consistency=STRONG */ SELECT @@SESSION.sql_mode";
    let mut other = proxy.conn().await;
    let mode: Option<String> = other.query_first(ON_PRIMARY).await.expect("read");
    assert_ne!(mode.as_deref(), Some("ANSI_QUOTES"));

    let mut setter = proxy.conn().await;
    setter
        .query_drop("SET SESSION sql_mode = 'ANSI_QUOTES'; DO 1")
        .await
        .expect("multi-statement");
    for _ in 0..5 {
        let mine: Option<String> = setter.query_first(ON_PRIMARY).await.expect("read");
        assert_eq!(
            mine.as_deref(),
            Some("ANSI_QUOTES"),
            "the setter keeps its setting"
        );
        let theirs: Option<String> = other.query_first(ON_PRIMARY).await.expect("read");
        assert_ne!(
            theirs.as_deref(),
            Some("ANSI_QUOTES"),
            "another session got the setter's connection"
        );
    }
    for conn in [other, setter] {
        conn.disconnect().await.expect("disconnect");
    }
    proxy.stop().await;
    drop(cluster);
}

/// The server's count of clients that went away without COM_QUIT.
async fn aborted_clients(node: &NodeInfo) -> u64 {
    let mut conn = root_conn(node).await.expect("root");
    let row: Option<(String, u64)> = conn
        .query_first("SHOW GLOBAL STATUS LIKE 'Aborted_clients'")
        .await
        .expect("status");
    conn.disconnect().await.expect("disconnect");
    row.map_or(0, |(_, n)| n)
}

/// The connections the pool trims after a burst end with COM_QUIT: the server counts no
/// aborted client for them (and logs no "Aborted connection ... Got an error reading
/// communication packets", what operators watch for network trouble).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trimmed_backend_connections_end_with_com_quit() {
    const BURST: usize = 12;
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    let mut config = proxy_config(&cluster);
    config.io_threads = IO_THREADS;
    config.pool.min_idle_per_key = 1;
    config.pool.surplus_idle_timeout_secs = 1;
    let proxy = Proxy::start_with(config).await;
    let primary = cluster.primary();
    let before = aborted_clients(primary).await;

    // BURST sessions each hold a primary connection at once (a transaction keeps it), then
    // leave: the pool keeps their connections until the surplus timeout, then trims them.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(BURST));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..BURST {
        let mut conn = proxy.conn().await;
        let barrier = std::sync::Arc::clone(&barrier);
        clients.spawn(async move {
            conn.query_drop("BEGIN").await.expect("begin");
            conn.query_drop("SELECT 1").await.expect("select");
            barrier.wait().await;
            conn.query_drop("COMMIT").await.expect("commit");
            conn.disconnect().await.expect("disconnect");
        });
    }
    while let Some(done) = clients.join_next().await {
        done.expect("client");
    }
    let mut left = usize::MAX;
    for _ in 0..60 {
        left = app_connections(primary).await;
        if left <= IO_THREADS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        left <= IO_THREADS,
        "the pool trimmed the burst: {left} left"
    );
    let after = aborted_clients(primary).await;
    assert_eq!(after, before, "every trimmed connection said COM_QUIT");
    proxy.stop().await;
    drop(cluster);
}
