//! Memory and pool bounds (issue 15), against a real 4-node cluster: a client that goes away
//! mid-result never leaves its unread rows to another session.

mod support;

use mysql_async::prelude::Queryable;
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::{raw_login, Proxy};

/// A big SELECT whose rows all start with a 0x00 byte (an empty string), the byte an OK
/// packet starts with: leftover rows could pass for the answer to a reset.
const BIG_SELECT: &str = "SELECT '', REPEAT('x', 2000) \
     FROM information_schema.COLUMNS a, information_schema.COLUMNS b LIMIT 20000";

/// A client starts a big SELECT through the proxy and disconnects mid-result; then many new
/// sessions run queries and each gets its own answer, and the pool counted the aborted
/// connection as discarded (it was closed, not reset and reused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gone_mid_result_leaves_nothing_behind() {
    let cluster = myquorum_sandbox::Cluster::start_for_tests(4)
        .await
        .expect("cluster starts");
    let proxy = Proxy::start(&cluster).await;
    let pool = proxy.handle.context().pool();

    for round in 0..3 {
        let discarded = pool.stats.discarded.load(Ordering::Relaxed);
        let mut raw = raw_login(proxy.addr).await;
        let mut command = vec![0x03];
        command.extend_from_slice(BIG_SELECT.as_bytes());
        raw.send_packet(0, &command).await.expect("send the query");
        for i in 0..10 {
            let packet = tokio::time::timeout(Duration::from_secs(60), raw.read_packet(1 << 20))
                .await
                .expect("the answer starts")
                .expect("the first packets");
            assert!(
                i > 0 || packet.payload.first() != Some(&0xFF),
                "the big SELECT runs: {:?}",
                myquorum_proxy::packet::parse_err(&packet.payload)
            );
        }
        drop(raw);
        // The session notices when a write to the gone client fails (bounded wait).
        let mut waited = 0;
        while pool.stats.discarded.load(Ordering::Relaxed) == discarded && waited < 300 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += 1;
        }
        assert!(
            pool.stats.discarded.load(Ordering::Relaxed) > discarded,
            "round {round}: the aborted connection was discarded"
        );
        let mut sessions = Vec::new();
        for i in 0..20u64 {
            let opts = proxy.opts();
            sessions.push(tokio::spawn(async move {
                let mut c = mysql_async::Conn::new(opts).await.expect("connect");
                for j in 0..5u64 {
                    let want = i * 100 + j;
                    let got: Option<u64> = c
                        .query_first(format!("SELECT {want}"))
                        .await
                        .expect("query");
                    assert_eq!(got, Some(want), "session {i} got its own answer");
                }
                c.disconnect().await.expect("disconnect");
            }));
        }
        for s in sessions {
            s.await.expect("session task");
        }
    }
    proxy.stop().await;
}
