//! A write sent as `SET STATEMENT session_track_system_variables=... FOR <write>` replaces the
//! tracked variables for that statement, so the server's OK does not carry the `last_gtid`
//! the proxy learns its writes' positions from (issue 14). The proxy reads the position
//! itself before the OK leaves: a default (CAUSAL) read on another connection right after the
//! OK still sees the write. Likewise for a failed write that kept rows (an ERR has no GTID). Against a real 2-node cluster whose replica stops applying, so a
//! read that went to it would be stale for certain.

mod support;

use myquorum_sandbox::Cluster;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use support::{root, Proxy};

async fn count(conn: &mut Conn, sql: &str) -> i64 {
    conn.query_first::<i64, _>(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or(0)
}

/// With the replica's SQL thread stopped: an EVENTUAL read (the control) is stale, while the
/// default read on another connection after each hidden-GTID write (INSERT, UPDATE, a
/// multi-row DELETE, with and without other variables in the list) sees it, and so does the
/// session's next read after a failed INSERT that kept some rows (MyISAM).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_hides_its_gtid_is_still_seen_by_the_next_read() {
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    let proxy = Proxy::start(&cluster).await;
    let mut writer = proxy.conn().await;
    writer
        .query_drop("CREATE TABLE hidden (id INT PRIMARY KEY, v INT)")
        .await
        .expect("create");
    writer
        .query_drop("INSERT INTO hidden VALUES (1, 0)")
        .await
        .expect("insert");
    writer
        .query_drop("CREATE TABLE partial (id INT PRIMARY KEY) ENGINE=MyISAM")
        .await
        .expect("create a MyISAM table");
    cluster.wait_replicated().await.expect("replicated");
    for replica in cluster.replicas() {
        root(replica, "STOP SLAVE SQL_THREAD").await;
    }

    // A multi-row INSERT into MyISAM that fails on its third row keeps the first two; its
    // ERR has no GTID, but the session's next default read sees them.
    let failed = writer
        .query_drop("INSERT INTO partial VALUES (1), (2), (1), (3)")
        .await;
    assert!(
        matches!(&failed, Err(mysql_async::Error::Server(e)) if e.code == 1062),
        "{failed:?}"
    );
    let sql = "SELECT COUNT(*) FROM partial";
    assert_eq!(
        count(&mut writer, sql).await,
        2,
        "rows kept by the failed INSERT"
    );
    let control = format!("/* myquorum:consistency=EVENTUAL */ {sql}");
    assert_eq!(
        count(&mut writer, &control).await,
        0,
        "the control: a stale replica"
    );

    let cases = [
        (
            "SET STATEMENT session_track_system_variables='' FOR INSERT INTO hidden VALUES (2, 0)",
            "SELECT COUNT(*) FROM hidden WHERE id = 2",
            1,
        ),
        (
            "SET STATEMENT max_statement_time=100, session_track_system_variables='autocommit' \
             FOR UPDATE hidden SET v = 7 WHERE id = 1",
            "SELECT COUNT(*) FROM hidden WHERE id = 1 AND v = 7",
            1,
        ),
        (
            "SET STATEMENT SESSION_TRACK_SYSTEM_VARIABLES = DEFAULT FOR DELETE FROM hidden",
            "SELECT COUNT(*) FROM hidden",
            0,
        ),
    ];
    for (write, read, expected) in cases {
        writer.query_drop(write).await.expect(write);
        let mut reader = proxy.conn().await;
        assert_eq!(count(&mut reader, read).await, expected, "after {write}");
        let control = format!("/* myquorum:consistency=EVENTUAL */ {read}");
        assert_ne!(
            count(&mut reader, &control).await,
            expected,
            "the control: the stopped replica does not have `{write}`"
        );
        reader.disconnect().await.expect("disconnect");
    }

    for replica in cluster.replicas() {
        root(replica, "START SLAVE SQL_THREAD").await;
    }
    writer.disconnect().await.expect("disconnect");
    proxy.stop().await;
    cluster.stop().await.expect("cluster stops");
}
