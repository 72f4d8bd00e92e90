//! The binary refuses bad settings before it binds a port or starts a server: these run
//! `myquorum serve` / `myquorum up` with a bad value and check that the process exits at once,
//! non-zero, naming the key. No MariaDB is needed (none is ever started).

use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Runs the binary with `args` and a config file holding `toml`, isolated from the caller's
/// `MYQUORUM_*` environment; fails if it runs longer than a refusal should take.
fn myquorum(toml: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("myquorum.toml");
    std::fs::write(&file, toml).expect("write config");
    let started = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_myquorum"));
    cmd.arg("--config")
        .arg(&file)
        .args(args)
        .current_dir(dir.path());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("MYQUORUM_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd.output().expect("run myquorum");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a refusal takes no time, this took {:?}",
        started.elapsed()
    );
    out
}

/// A loopback port nobody listens on at the moment.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// `serve` with the HTTP API beyond loopback and no token exits with the key's name instead of
/// serving MySQL without its API; the MySQL port was never bound.
#[test]
fn serve_refuses_an_api_beyond_loopback_without_token() {
    let mysql = free_port();
    let toml = format!(
        "[listen]\nmysql = \"127.0.0.1:{mysql}\"\nadmin = \"127.0.0.1:0\"\n\
         [control_plane]\nlisten = \"0.0.0.0:0\"\n\
         [proxy]\nusers = [{{ name = \"app\", password = \"app\" }}]\n\
         nodes = [{{ id = \"instance-1\", addr = \"127.0.0.1:1\" }}]\n"
    );
    let out = myquorum(&toml, &["serve"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused: {stderr}");
    assert!(stderr.contains("control_plane.token"), "{stderr}");
    assert!(
        !stderr.contains("listening"),
        "nothing was started: {stderr}"
    );
}

/// `up` refuses a bad sandbox section before it creates the data directory or starts a server.
#[test]
fn up_refuses_a_bad_sandbox_before_starting_servers() {
    let data = tempfile::tempdir().expect("temp dir");
    let work_dir = data.path().join("sandbox");
    let toml = format!(
        "[listen]\nmysql = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
         [control_plane]\nlisten = \"127.0.0.1:0\"\n\
         [sandbox]\nnodes = 12\nwork_dir = {:?}\n",
        work_dir.display().to_string()
    );
    let out = myquorum(&toml, &["up"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused: {stderr}");
    assert!(stderr.contains("sandbox.nodes"), "{stderr}");
    assert!(!work_dir.exists(), "no sandbox directory was created");
}
