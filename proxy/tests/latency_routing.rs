//! Latency-aware EVENTUAL reads through the proxy against a real 4-node sandbox (one primary,
//! three replicas; DESIGN.md section 5: "EVENTUAL -> a healthy replica, lag-aware and
//! latency-aware").
//!
//! What it proves: a replica whose server is frozen for half a second (SIGSTOP, then SIGCONT:
//! the reads it holds really stall) is then avoided by EVENTUAL reads, clearly below its fair
//! third, with none reaching the primary; it is read again once its latency estimate has
//! decayed (not starved); and every read's in-flight count is given back.
//!
//! Which server answered a read is told by `SELECT @@server_id` (instance-k has server_id k).
//! No assertion compares wall-clock durations: the stall is checked through the proxy's own
//! latency estimate, the avoidance through the distribution of reads, and the return only has
//! a generous liveness bound.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use myquorum_sandbox::{Cluster, NodeInfo};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use support::Proxy;

/// How long the slow replica's server is frozen per attempt.
const FREEZE: Duration = Duration::from_millis(500);
/// Readers running while it is frozen.
const READERS: usize = 3;

/// The proxy's current latency estimate of replica `id`.
fn estimate(proxy: &Proxy, id: &str) -> Option<Duration> {
    proxy
        .handle
        .context()
        .cluster()
        .replica_latencies()
        .into_iter()
        .find(|(node, _)| node == id)
        .and_then(|(_, estimate)| estimate)
}

/// A node's mariadbd, stopped with SIGSTOP until this guard is dropped (SIGCONT), so a failed
/// assertion never leaves a frozen server behind.
struct Frozen {
    pid: String,
}

impl Frozen {
    fn new(node: &NodeInfo) -> Frozen {
        let pid = std::fs::read_to_string(&node.pid_file)
            .expect("pid file")
            .trim()
            .to_owned();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("the server runs");
        let data_dir = node.data_dir.display().to_string();
        assert!(
            String::from_utf8_lossy(&cmdline).contains(&data_dir),
            "pid {pid} is {}'s mariadbd",
            node.id
        );
        signal("-STOP", &pid);
        Frozen { pid }
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal("-CONT", &self.pid);
    }
}

fn signal(sig: &str, pid: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, pid])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {sig} {pid}");
}

/// The server that ran `SELECT @@server_id` for this session.
async fn server_id(conn: &mut Conn) -> u32 {
    let id: Option<u32> = conn
        .query_first("SELECT @@server_id")
        .await
        .expect("SELECT @@server_id");
    id.expect("a row")
}

/// Reads until `stop` is set; returns the connection and how many reads each server ran.
async fn read_until(mut conn: Conn, stop: Arc<AtomicBool>) -> (Conn, BTreeMap<u32, usize>) {
    let mut seen = BTreeMap::new();
    while !stop.load(Ordering::Relaxed) {
        *seen.entry(server_id(&mut conn).await).or_default() += 1;
    }
    (conn, seen)
}

/// One replica frozen for a moment is avoided afterwards, then read again once its estimate
/// decayed; the primary never takes an EVENTUAL read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eventual_reads_avoid_a_replica_that_stalled() {
    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    let primary_id = cluster.primary().server_id;
    let replicas = cluster.replicas();
    let proxy = Proxy::start(&cluster).await;

    // Warm up: each reader settles on its home replica.
    let mut conns = Vec::new();
    for _ in 0..READERS {
        let mut c = proxy.conn().await;
        for _ in 0..30 {
            assert_ne!(
                server_id(&mut c).await,
                primary_id,
                "EVENTUAL on the primary"
            );
        }
        conns.push(c);
    }
    // The replica to freeze: the first reader's home (a session's reads stay on the replica
    // of its last one), so reads do go there while it is frozen.
    let home = server_id(&mut conns[0]).await;
    let slow = *replicas
        .iter()
        .find(|r| r.server_id == home)
        .expect("the first reader reads on a replica");
    assert!(estimate(&proxy, &slow.id).is_some(), "{} was read", slow.id);

    // Freeze the slow replica while the readers run: reads routed to it wait until SIGCONT.
    // Several attempts, in case none of the readers' reads went there while it was frozen.
    let mut stalled = None;
    for attempt in 1..=3 {
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = conns
            .drain(..)
            .map(|c| tokio::spawn(read_until(c, Arc::clone(&stop))))
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let frozen = Frozen::new(slow);
        tokio::time::sleep(FREEZE).await;
        drop(frozen);
        stop.store(true, Ordering::Relaxed);
        for reader in readers {
            let (c, seen) = reader.await.expect("reader");
            assert!(!seen.contains_key(&primary_id), "EVENTUAL on the primary");
            conns.push(c);
        }
        let estimate = estimate(&proxy, &slow.id).expect("an estimate");
        println!("attempt {attempt}: {} estimated at {estimate:?}", slow.id);
        if estimate >= FREEZE / 5 {
            stalled = Some(estimate);
            break;
        }
    }
    let stalled = stalled.expect("a read stalled on the frozen replica");

    // Right after: 30 sequential reads; the stalled replica gets clearly fewer than its third
    // (10) while its estimate stays far above the others'.
    let mut reads = BTreeMap::<u32, usize>::new();
    // The first reader, whose home was the stalled replica.
    let mut c = conns.swap_remove(0);
    for _ in 0..30 {
        *reads.entry(server_id(&mut c).await).or_default() += 1;
    }
    println!(
        "after the stall ({stalled:?}): reads by server_id {reads:?}, estimates {:?}",
        proxy.handle.context().cluster().replica_latencies()
    );
    assert!(!reads.contains_key(&primary_id), "EVENTUAL on the primary");
    let on_slow = reads.get(&slow.server_id).copied().unwrap_or(0);
    assert!(
        on_slow <= 3,
        "the stalled replica took {on_slow} of 30 reads: {reads:?}"
    );

    // Not starved: with reads going on, its estimate decays and it is read again (seconds).
    let started = Instant::now();
    let mut count = 0;
    loop {
        count += 1;
        let id = server_id(&mut c).await;
        assert_ne!(id, primary_id, "EVENTUAL on the primary");
        if id == slow.server_id {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{} never read again in {count} reads",
            slow.id
        );
    }
    println!(
        "{} read again after {count} reads, {:?}",
        slow.id,
        started.elapsed()
    );

    conns.push(c);
    for c in conns {
        c.disconnect().await.expect("disconnect");
    }
    // A client has its answer a moment before the proxy's session drops the read's guard:
    // wait (bounded) for the sessions to settle.
    let settled = Instant::now();
    loop {
        let in_flight = proxy.handle.context().cluster().replica_reads_in_flight();
        if in_flight.iter().all(|(_, n)| *n == 0) {
            break;
        }
        assert!(
            settled.elapsed() < Duration::from_secs(30),
            "every read gave its in-flight count back: {in_flight:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.stop().await;
    cluster.stop().await.expect("cluster stops");
}
