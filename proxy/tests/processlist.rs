//! `SHOW [FULL] PROCESSLIST` through the proxy lists the proxy's sessions by the proxy's
//! connection ids (issue 14 item 2): every id it shows is one `KILL [QUERY]` through the proxy
//! accepts and applies to the right session; a user sees only its own sessions unless it holds
//! PROCESS, as on the server. Against a real 2-node cluster.

mod support;

use std::time::{Duration, Instant};

use myquorum_proxy::UserConfig;
use myquorum_sandbox::{app_opts, Cluster};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row};
use support::{proxy_config, root, Proxy};

/// One SHOW PROCESSLIST row, by column name (the columns MariaDB has).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Process {
    id: u64,
    user: String,
    db: Option<String>,
    command: String,
    state: Option<String>,
    info: Option<String>,
    progress: String,
}

async fn processlist(conn: &mut Conn, sql: &str) -> Vec<Process> {
    let mut result = conn.query_iter(sql).await.expect(sql);
    let names: Vec<String> = result
        .columns()
        .expect("a result set")
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    assert_eq!(
        names,
        ["Id", "User", "Host", "db", "Command", "Time", "State", "Info", "Progress"],
        "{sql}: MariaDB's columns"
    );
    let rows: Vec<Row> = result.collect().await.expect("rows");
    let text = |r: &Row, c: &str| -> Option<String> {
        r.get_opt::<Option<String>, _>(c)
            .and_then(Result::ok)
            .flatten()
    };
    rows.iter()
        .map(|r| Process {
            id: text(r, "Id").and_then(|v| v.parse().ok()).expect("Id"),
            user: text(r, "User").expect("User"),
            db: text(r, "db"),
            command: text(r, "Command").expect("Command"),
            state: text(r, "State"),
            info: text(r, "Info"),
            progress: text(r, "Progress").expect("Progress"),
        })
        .collect()
}

fn code<T: std::fmt::Debug>(result: Result<T, mysql_async::Error>) -> u16 {
    match result {
        Err(mysql_async::Error::Server(e)) => e.code,
        other => panic!("expected a server error, got {other:?}"),
    }
}

fn as_user(proxy: &Proxy, user: &str, password: &str) -> Opts {
    OptsBuilder::from_opts(proxy.opts())
        .user(Some(user))
        .pass(Some(password))
        .into()
}

/// Waits until `conn`'s listing shows session `id` running `needle`.
async fn wait_running(conn: &mut Conn, id: u64, needle: &str) -> Process {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = processlist(conn, "SHOW FULL PROCESSLIST").await;
        if let Some(p) = rows.into_iter().find(|p| p.id == id) {
            if p.info.as_deref().is_some_and(|i| i.contains(needle)) {
                return p;
            }
        }
        assert!(Instant::now() < deadline, "session {id} never ran {needle}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A session listed by SHOW PROCESSLIST is found by that id with KILL QUERY (its running
/// SLEEP ends, the session stays) and KILL (it ends; a third session does not); its own row
/// looks like the server's own row; a long statement is cut to 100 characters without FULL;
/// another user sees none of these sessions, a user with PROCESS sees them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processlist_ids_are_the_ones_kill_takes() {
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    for sql in [
        "CREATE USER 'other'@'%' IDENTIFIED BY 'other-pw'",
        "GRANT ALL ON app.* TO 'other'@'%'",
        "CREATE USER 'ops'@'%' IDENTIFIED BY 'ops-pw'",
        "GRANT PROCESS ON *.* TO 'ops'@'%'",
        "GRANT ALL ON app.* TO 'ops'@'%'",
    ] {
        root(cluster.primary(), sql).await;
    }
    cluster.wait_replicated().await.expect("users replicated");
    let mut config = proxy_config(&cluster);
    for (name, password) in [("other", "other-pw"), ("ops", "ops-pw")] {
        config.users.push(UserConfig {
            name: name.into(),
            password: password.into(),
            ..UserConfig::default()
        });
    }
    let proxy = Proxy::start_with(config).await;

    // The asking session's own row, compared with the server's own row.
    let mut a = proxy.conn().await;
    let mut direct = Conn::new(app_opts(cluster.primary(), cluster.config()))
        .await
        .expect("direct connection");
    let own = |rows: Vec<Process>, id: u64| {
        let mut p = rows
            .into_iter()
            .find(|p| p.id == id)
            .unwrap_or_else(|| panic!("own session {id} listed"));
        p.id = 0;
        p
    };
    for sql in ["SHOW PROCESSLIST", " show full processlist ;"] {
        let proxied = own(processlist(&mut a, sql).await, u64::from(a.id()));
        let server = own(processlist(&mut direct, sql).await, u64::from(direct.id()));
        assert_eq!(proxied, server, "{sql}: the own row as the server shows it");
    }
    direct.disconnect().await.expect("disconnect");

    // A long statement running in B, a bystander C.
    let mut b = proxy.conn().await;
    let b_id = u64::from(b.id());
    let mut c = proxy.conn().await;
    let c_id = u64::from(c.id());
    let long = format!("SELECT SLEEP(30) AS /* {} */ slept", "x".repeat(150));
    let sleeper = {
        let long = long.clone();
        tokio::spawn(async move {
            let result: Result<Option<i64>, _> = b.query_first(long.as_str()).await;
            (b, result)
        })
    };
    let running = wait_running(&mut a, b_id, "SLEEP(30)").await;
    assert_eq!(
        running.info.as_deref(),
        Some(long.as_str()),
        "FULL: all of it"
    );
    assert_eq!(running.command, "Query");
    assert_eq!(running.user, "app");
    let cut = processlist(&mut a, "SHOW PROCESSLIST").await;
    let cut = cut.iter().find(|p| p.id == b_id).expect("B listed");
    assert_eq!(
        cut.info.as_deref().map(|i| i.chars().count()),
        Some(100),
        "without FULL, Info is cut to 100 characters: {cut:?}"
    );
    let idle = processlist(&mut a, "SHOW PROCESSLIST").await;
    let idle = idle.iter().find(|p| p.id == c_id).expect("C listed");
    assert_eq!(
        (
            idle.command.as_str(),
            idle.info.as_deref(),
            idle.db.as_deref()
        ),
        ("Sleep", None, Some("app"))
    );

    // Another user sees only its own session; a user with PROCESS sees everyone's.
    let mut other = Conn::new(as_user(&proxy, "other", "other-pw"))
        .await
        .expect("other connects");
    let seen = processlist(&mut other, "SHOW PROCESSLIST").await;
    assert_eq!(
        seen.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![u64::from(other.id())],
        "another user sees only its own session: {seen:?}"
    );
    assert_eq!(
        code(other.query_drop(format!("KILL QUERY {b_id}")).await),
        1095
    );
    let mut ops = Conn::new(as_user(&proxy, "ops", "ops-pw"))
        .await
        .expect("ops connects");
    let all: Vec<u64> = processlist(&mut ops, "SHOW PROCESSLIST")
        .await
        .iter()
        .map(|p| p.id)
        .collect();
    for id in [u64::from(a.id()), b_id, c_id, u64::from(other.id())] {
        assert!(all.contains(&id), "PROCESS sees session {id}: {all:?}");
    }

    // KILL QUERY with the listed id ends B's SLEEP and keeps B.
    a.query_drop(format!("KILL QUERY {}", running.id))
        .await
        .expect("KILL QUERY by a listed id");
    let (mut b, result) = sleeper.await.expect("sleeper task");
    match result {
        Ok(v) => assert_eq!(v, Some(1), "an interrupted SLEEP returns 1"),
        Err(e) => assert_eq!(code::<()>(Err(e)), 1317, "query interrupted"),
    }
    let alive: Option<i64> = b.query_first("SELECT 1").await.expect("B still there");
    assert_eq!(alive, Some(1));

    // KILL with the listed id ends B, not C.
    a.query_drop(format!("KILL {b_id}"))
        .await
        .expect("KILL by a listed id");
    assert!(b.query_drop("SELECT 1").await.is_err(), "B is gone");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ids: Vec<u64> = processlist(&mut a, "SHOW PROCESSLIST")
            .await
            .iter()
            .map(|p| p.id)
            .collect();
        if !ids.contains(&b_id) {
            assert!(ids.contains(&c_id), "C is still listed: {ids:?}");
            break;
        }
        assert!(Instant::now() < deadline, "B stays listed: {ids:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let alive: Option<i64> = c.query_first("SELECT 1").await.expect("C still there");
    assert_eq!(alive, Some(1));

    for conn in [a, c, other, ops] {
        conn.disconnect().await.expect("disconnect");
    }
    proxy.stop().await;
    cluster.stop().await.expect("cluster stops");
}
