//! `myquorum serve`'s start-up check against real servers it did not start: a correctly
//! set-up cluster passes; a replica left writable, gtid_strict_mode off and a control user
//! without PROCESS make the binary refuse to start, naming every problem at once;
//! `--skip-preflight` starts anyway.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use myquorum_sandbox::testing::root;
use myquorum_sandbox::Cluster;

/// A `serve` config in front of `cluster` on free ports.
fn config(cluster: &Cluster) -> String {
    let cfg = cluster.config();
    let nodes: Vec<String> = cluster
        .nodes()
        .iter()
        .map(|n| format!("{{ id = \"{}\", addr = \"{}\" }}", n.id, n.addr()))
        .collect();
    format!(
        "[listen]\nmysql = \"127.0.0.1:{}\"\nadmin = \"127.0.0.1:{}\"\n\
         [control_plane]\nlisten = \"127.0.0.1:{}\"\n\
         [proxy]\nprimary = \"{}\"\ncontrol_user = \"{}\"\ncontrol_password = \"{}\"\n\
         users = [{{ name = \"{}\", password = \"{}\" }}]\nnodes = [{}]\n",
        free_port(),
        free_port(),
        free_port(),
        cluster.primary().id,
        cfg.control_user,
        cfg.control_password,
        cfg.app_user,
        cfg.app_password,
        nodes.join(", ")
    )
}

/// A loopback port nobody listens on at the moment.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Starts `myquorum serve` with `toml` and `extra` arguments, stderr piped.
fn serve(dir: &std::path::Path, toml: &str, extra: &[&str]) -> Child {
    let file = dir.join("myquorum.toml");
    std::fs::write(&file, toml).expect("write config");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_myquorum"));
    cmd.arg("--config")
        .arg(&file)
        .arg("serve")
        .args(extra)
        .env("MYQUORUM_LOG", "info")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("MYQUORUM_") && key != "MYQUORUM_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.spawn().expect("run myquorum serve")
}

/// Reads the child's log (stderr) until a line contains `needle` (true) or it ends (false).
fn wait_for_line(child: &mut Child, needle: &str) -> bool {
    let out = child.stderr.take().expect("stderr");
    BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains(needle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_names_every_problem_of_the_servers_before_starting() {
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let toml = config(&cluster);

    // The sandbox is set up as the check wants it.
    let mut child = serve(dir.path(), &toml, &[]);
    assert!(
        wait_for_line(&mut child, "start-up check of the servers passed"),
        "a correct cluster passes the check"
    );
    let _ = child.kill();
    let _ = child.wait();

    let replica = cluster.replicas()[0].clone();
    root(&replica, "SET GLOBAL read_only = OFF").await;
    root(&replica, "SET GLOBAL gtid_strict_mode = OFF").await;
    let control = &cluster.config().control_user;
    // On the primary: replicated, so both nodes lose it.
    root(
        cluster.primary(),
        &format!("REVOKE PROCESS ON *.* FROM '{control}'@'%'"),
    )
    .await;
    cluster.wait_replicated().await.expect("replicated");

    let started = Instant::now();
    let out = serve(dir.path(), &toml, &[])
        .wait_with_output()
        .expect("serve exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refuses to start: {stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the check is bounded"
    );
    for needle in [
        &format!("{}: read_only is OFF on a replica", replica.id),
        &format!("{}: gtid_strict_mode is OFF", replica.id),
        &format!("{}: the control user lacks PROCESS", cluster.primary().id),
        &format!("{}: the control user lacks PROCESS", replica.id),
        &"--skip-preflight".to_owned(),
    ] {
        assert!(stderr.contains(needle.as_str()), "{needle:?} in {stderr}");
    }
    assert!(
        !stderr.contains(&format!("{}: read_only", cluster.primary().id)),
        "the primary's read_only is right: {stderr}"
    );

    // The operator's override.
    let mut child = serve(dir.path(), &toml, &["--skip-preflight"]);
    assert!(
        wait_for_line(&mut child, "listening"),
        "--skip-preflight starts anyway"
    );
    let _ = child.kill();
    let _ = child.wait();
    drop(cluster);
}
