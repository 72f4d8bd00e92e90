//! Harness of the operator-command tests: a real `myquorum up` (4 MariaDB servers and the
//! proxy) started as a child process on free ports in a temporary directory, and helpers that
//! run the binary's operator commands against it. The child is stopped with SIGTERM (it stops
//! its servers) when the handle drops, also when a test fails.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long `up` may take to answer on a loaded 2-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// A running `myquorum up`.
pub struct Up {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// The config file every command is run with.
    pub config: PathBuf,
    /// `127.0.0.1:port` of the proxy's MySQL port.
    pub mysql: String,
    /// `127.0.0.1:port` of the control plane.
    pub http: String,
}

/// A loopback port nobody listens on at the moment.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// The first of `n` consecutive free loopback ports.
fn free_range(n: u16) -> u16 {
    for _ in 0..200 {
        let base = free_port();
        if base > 65535 - n {
            continue;
        }
        let held: Vec<_> = (base..base + n)
            .map_while(|p| TcpListener::bind(("127.0.0.1", p)).ok())
            .collect();
        if held.len() == n as usize {
            return base;
        }
    }
    panic!("no {n} consecutive free ports");
}

/// The binary under test, isolated from the caller's `MYQUORUM_*` environment.
pub fn myquorum() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_myquorum"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("MYQUORUM_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("MYQUORUM_LOG", "warn");
    cmd
}

impl Up {
    /// Starts `myquorum up` with `extra_toml` appended to the generated config (e.g. a
    /// `[control_plane] token`); returns once `/status` answers and every node is healthy.
    pub fn start(extra_control_plane: &str) -> Up {
        let dir = tempfile::Builder::new()
            .prefix("myquorum-operator-")
            .tempdir()
            .expect("temp dir");
        let mysql = format!("127.0.0.1:{}", free_port());
        let admin = format!("127.0.0.1:{}", free_port());
        let http = format!("127.0.0.1:{}", free_port());
        let base = free_range(4);
        let toml = format!(
            "[listen]\nmysql = \"{mysql}\"\nadmin = \"{admin}\"\n\
             [control_plane]\nlisten = \"{http}\"\n{extra_control_plane}\n\
             [sandbox]\nbase_port = {base}\nwork_dir = {:?}\n",
            dir.path().join("sandbox").display().to_string()
        );
        let config = dir.path().join("myquorum.toml");
        std::fs::write(&config, toml).expect("write config");
        let log = std::fs::File::create(dir.path().join("up.log")).expect("log file");
        let child = myquorum()
            .arg("--config")
            .arg(&config)
            .args(["up", "--legacy-ports", "false"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn myquorum up");
        let mut up = Up {
            child: Some(child),
            dir,
            config,
            mysql,
            http,
        };
        up.wait_healthy();
        up
    }

    /// The temp dir (the sandbox and `up.log` are in it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn wait_healthy(&mut self) {
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("myquorum up exited ({status}):\n{}", self.log());
                }
            }
            let out = self.run(&["status", "--json"]);
            if out.status.success() {
                let v: serde_json::Value =
                    serde_json::from_slice(&out.stdout).expect("status --json is JSON");
                if v["health"]["status"] == "healthy" {
                    eprintln!("myquorum up answered after {:?}", started.elapsed());
                    return;
                }
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "myquorum up not healthy after {START_TIMEOUT:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// What `up` logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("up.log")).unwrap_or_default()
    }

    /// Runs `myquorum --config <ours> args...` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    /// Like [`Up::run`] with extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = myquorum();
        cmd.arg("--config").arg(&self.config).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).output().expect("run myquorum")
    }

    /// Runs a command that must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "myquorum {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a `--json` command that must succeed; its JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}):\n{out}"))
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SIGTERM: `up` stops its servers, then exits.
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
