//! Shared harness of the integration tests: one sandbox cluster + one proxy per test binary,
//! a database per test, and helpers that run the same client program against the MariaDB
//! primary (`direct`) and against the proxy (`proxied`) and compare what the client saw.
//!
//! Each `#[tokio::test]` has its own runtime, which dies with the test. The cluster and the proxy
//! must outlive every test of the binary, so they run on a dedicated runtime in a background
//! thread that lives until the process exits (the sandbox's watchdog stops the servers then).
//!
//! Under `cargo nextest` every test is its own process, so "per binary" becomes "per test":
//! keep the number of tests per binary small (each test can check many cases).
//!
//! Environment:
//! - `MYQUORUM_TEST_DIRECT=host:port` — do not start a cluster: use an existing server as the
//!   primary (with `MYQUORUM_TEST_ROOT_URL`, default `mysql://root@<direct>`, for root work) and
//!   `MYQUORUM_TEST_PROXIED=host:port` (default: the same as direct, which validates the probes
//!   direct-vs-direct) as the proxy. Used to validate probes before the proxy existed and to
//!   point the tests at a running `myquorum up`.
//! - `MYQUORUM_PYTHON` — the venv's python (default `<repo>/.venv/bin/python`).
//! - `MYQUORUM_MARIADB_CLIENT` — the `mariadb` command-line client (default: from `PATH`).
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mysql_async::prelude::Queryable;

/// How long the cluster + proxy may take to come up on a loaded 2-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// A MySQL-protocol address a client connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    pub fn parse(s: &str) -> Endpoint {
        let (host, port) = s
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("not host:port: {s:?}"));
        Endpoint {
            host: host.to_string(),
            port: port.parse().unwrap_or_else(|_| panic!("bad port in {s:?}")),
        }
    }

    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// How the fixture runs SQL as root on the primary.
enum Admin {
    /// A sandbox cluster owned by the fixture's background runtime.
    Cluster {
        rt: tokio::runtime::Handle,
        cluster: Arc<myquorum_sandbox::Cluster>,
    },
    /// An existing server (`MYQUORUM_TEST_DIRECT`), reached with a root URL.
    External { root_url: String },
}

/// The cluster and the proxy shared by every test of one test binary.
pub struct Fixture {
    /// The MariaDB primary, as a client would reach it without the proxy.
    pub direct: Endpoint,
    /// The proxy in front of the same cluster.
    pub proxied: Endpoint,
    pub app_user: String,
    pub app_password: String,
    admin: Admin,
}

static FIXTURE: OnceLock<Result<Fixture, String>> = OnceLock::new();

/// The fixture of this test binary, started on first use. Panics (in every test that asks)
/// with the reason if it could not be started: a missing `mariadbd` fails loudly here.
pub async fn shared() -> &'static Fixture {
    let res = FIXTURE.get_or_init(|| {
        if let Ok(direct) = std::env::var("MYQUORUM_TEST_DIRECT") {
            Ok(external_fixture(&direct))
        } else {
            start_cluster_fixture()
        }
    });
    match res {
        Ok(f) => f,
        Err(e) => panic!("test fixture could not start: {e}"),
    }
}

fn external_fixture(direct: &str) -> Fixture {
    let proxied = std::env::var("MYQUORUM_TEST_PROXIED").unwrap_or_else(|_| direct.to_string());
    let root_url = std::env::var("MYQUORUM_TEST_ROOT_URL")
        .unwrap_or_else(|_| format!("mysql://root@{direct}"));
    Fixture {
        direct: Endpoint::parse(direct),
        proxied: Endpoint::parse(&proxied),
        app_user: "app".into(),
        app_password: "app".into(),
        admin: Admin::External { root_url },
    }
}

/// Starts a 4-node sandbox cluster and the proxy on a runtime of their own, in a thread that
/// lives as long as the test binary.
fn start_cluster_fixture() -> Result<Fixture, String> {
    type Started = (
        Arc<myquorum_sandbox::Cluster>,
        std::net::SocketAddr,
        tokio::runtime::Handle,
    );
    let (tx, rx) = std::sync::mpsc::channel::<Result<Started, String>>();
    std::thread::Builder::new()
        .name("myquorum-fixture".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("myquorum-fixture-rt")
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(format!("building the fixture runtime: {e}")));
                    return;
                }
            };
            let handle = rt.handle().clone();
            rt.block_on(async move {
                let started = async {
                    let cluster = myquorum_sandbox::Cluster::start_for_tests(4)
                        .await
                        .map_err(|e| format!("starting the sandbox cluster: {e}"))?;
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .map_err(|e| format!("binding the proxy's port: {e}"))?;
                    let addr = listener.local_addr().map_err(|e| e.to_string())?;
                    let config = myquorum_proxy::ProxyConfig {
                        // The probes write and read back in one session: CAUSAL reads run on
                        // replicas that have applied the session's writes, so the answers
                        // must equal the primary's while exercising read routing.
                        default_consistency: myquorum_proxy::classify::Consistency::Causal,
                        ..myquorum_sandbox::testing::proxy_config(&cluster)
                    };
                    tokio::spawn(async move {
                        if let Err(e) =
                            myquorum_proxy::serve(listener, config, std::future::pending()).await
                        {
                            eprintln!("myquorum test fixture: the proxy stopped: {e}");
                        }
                    });
                    Ok::<_, String>((Arc::new(cluster), addr))
                }
                .await;
                let _ = tx.send(started.map(|(c, a)| (c, a, handle)));
                // Keep the runtime (and so the proxy) alive until the process exits.
                std::future::pending::<()>().await;
            });
        })
        .map_err(|e| format!("spawning the fixture thread: {e}"))?;

    let (cluster, proxy_addr, rt) = rx
        .recv_timeout(START_TIMEOUT)
        .map_err(|e| format!("cluster + proxy did not start within {START_TIMEOUT:?}: {e}"))??;
    let cfg = cluster.config();
    Ok(Fixture {
        direct: Endpoint {
            host: cluster.primary().host.clone(),
            port: cluster.primary().port,
        },
        proxied: Endpoint {
            host: proxy_addr.ip().to_string(),
            port: proxy_addr.port(),
        },
        app_user: cfg.app_user.clone(),
        app_password: cfg.app_password.clone(),
        admin: Admin::Cluster { rt, cluster },
    })
}

impl Fixture {
    /// Runs `statements` as root on the primary, in order, on one connection.
    pub async fn root_exec(&self, statements: Vec<String>) -> Result<(), String> {
        match &self.admin {
            Admin::Cluster { rt, cluster } => {
                let cluster = cluster.clone();
                rt.spawn(async move {
                    let mut conn = myquorum_sandbox::root_conn(cluster.primary())
                        .await
                        .map_err(|e| format!("root connection to the primary: {e}"))?;
                    for s in &statements {
                        conn.query_drop(s).await.map_err(|e| format!("{s}: {e}"))?;
                    }
                    conn.disconnect().await.map_err(|e| e.to_string())
                })
                .await
                .map_err(|e| format!("fixture runtime: {e}"))?
            }
            Admin::External { root_url } => {
                let opts = mysql_async::Opts::from_url(root_url).map_err(|e| e.to_string())?;
                let mut conn = mysql_async::Conn::new(opts)
                    .await
                    .map_err(|e| format!("{root_url}: {e}"))?;
                for s in &statements {
                    conn.query_drop(s).await.map_err(|e| format!("{s}: {e}"))?;
                }
                conn.disconnect().await.map_err(|e| e.to_string())
            }
        }
    }

    /// A second proxy in front of the fixture's cluster, with TLS on its MySQL port (optional,
    /// as `myquorum up` configures it) from a CA and server certificate generated under `dir`
    /// (the same code as `myquorum up`). Returns its endpoint and the certificate files.
    pub async fn start_tls_proxy(
        &self,
        dir: &Path,
    ) -> Result<(Endpoint, myquorum_sandbox::TlsFiles), String> {
        let files = myquorum_sandbox::TlsFiles::ensure(dir).map_err(|e| e.to_string())?;
        let tls = myquorum_proxy::TlsConfig {
            cert: Some(files.cert.clone()),
            key: Some(files.key.clone()),
            require_tls: false,
        };
        let endpoint = self.start_extra_proxy(move |c| c.tls = tls).await?;
        Ok((endpoint, files))
    }

    /// Another proxy in front of the fixture's cluster, with the fixture's default
    /// configuration changed by `adjust` (more users, TLS...), serving on a free port until
    /// the test binary exits. Needs the sandbox cluster (not `MYQUORUM_TEST_DIRECT`).
    pub async fn start_extra_proxy(
        &self,
        adjust: impl FnOnce(&mut myquorum_proxy::ProxyConfig) + Send + 'static,
    ) -> Result<Endpoint, String> {
        let Admin::Cluster { rt, cluster } = &self.admin else {
            return Err(
                "another proxy needs the sandbox cluster (MYQUORUM_TEST_DIRECT is set)".into(),
            );
        };
        let mut config = myquorum_sandbox::testing::proxy_config(cluster);
        adjust(&mut config);
        let addr = rt
            .spawn(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| format!("binding another proxy's port: {e}"))?;
                let addr = listener.local_addr().map_err(|e| e.to_string())?;
                tokio::spawn(async move {
                    if let Err(e) =
                        myquorum_proxy::serve(listener, config, std::future::pending()).await
                    {
                        eprintln!("myquorum test fixture: another proxy stopped: {e}");
                    }
                });
                Ok::<_, String>(addr)
            })
            .await
            .map_err(|e| format!("fixture runtime: {e}"))??;
        Ok(Endpoint {
            host: addr.ip().to_string(),
            port: addr.port(),
        })
    }

    /// Runs `statements` as root on every node of the sandbox cluster, in order, one
    /// connection per node (for what does not replicate, such as `SET GLOBAL`). Needs the
    /// sandbox cluster (not `MYQUORUM_TEST_DIRECT`).
    pub async fn root_exec_all(&self, statements: Vec<String>) -> Result<(), String> {
        let Admin::Cluster { rt, cluster } = &self.admin else {
            return Err("running on every node needs the sandbox cluster".into());
        };
        let cluster = cluster.clone();
        rt.spawn(async move {
            for node in cluster.nodes() {
                let mut conn = myquorum_sandbox::root_conn(node)
                    .await
                    .map_err(|e| format!("root connection to {}: {e}", node.id))?;
                for s in &statements {
                    conn.query_drop(s)
                        .await
                        .map_err(|e| format!("{} on {}: {e}", s, node.id))?;
                }
                conn.disconnect().await.map_err(|e| e.to_string())?;
            }
            Ok(())
        })
        .await
        .map_err(|e| format!("fixture runtime: {e}"))?
    }

    /// Restarts replication on every replica (STOP SLAVE, START SLAVE), so that the
    /// replication threads pick up global settings changed since they started (a replicated
    /// `CREATE TABLE` without ENGINE uses the applying thread's `default_storage_engine`).
    pub async fn restart_replication(&self) -> Result<(), String> {
        let Admin::Cluster { rt, cluster } = &self.admin else {
            return Err("restarting replication needs the sandbox cluster".into());
        };
        let cluster = cluster.clone();
        rt.spawn(async move {
            for node in cluster.replicas() {
                let mut conn = myquorum_sandbox::root_conn(node)
                    .await
                    .map_err(|e| format!("root connection to {}: {e}", node.id))?;
                for s in ["STOP SLAVE", "START SLAVE"] {
                    conn.query_drop(s)
                        .await
                        .map_err(|e| format!("{s} on {}: {e}", node.id))?;
                }
                conn.disconnect().await.map_err(|e| e.to_string())?;
            }
            Ok(())
        })
        .await
        .map_err(|e| format!("fixture runtime: {e}"))?
    }

    /// Waits until every replica has applied everything the primary has written so far
    /// (no-op without a sandbox cluster). Keeps tests correct once reads go to replicas.
    pub async fn sync_replicas(&self) -> Result<(), String> {
        let Admin::Cluster { rt, cluster } = &self.admin else {
            return Ok(());
        };
        let cluster = cluster.clone();
        rt.spawn(async move { cluster.wait_replicated().await.map_err(|e| e.to_string()) })
            .await
            .map_err(|e| format!("fixture runtime: {e}"))?
    }

    /// Creates (or re-creates) database `name` for one test and grants the app user ALL on it.
    /// Also grants ALL on `<name>_absent`, which is never created, so that tests can provoke
    /// "1049 Unknown database" (without a grant MariaDB answers 1044 Access denied instead).
    pub async fn fresh_database(&self, name: &str) -> String {
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "database names are plain identifiers: {name:?}"
        );
        let user = &self.app_user;
        self.root_exec(vec![
            format!("DROP DATABASE IF EXISTS `{name}`"),
            format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"),
            format!("GRANT ALL ON `{name}`.* TO '{user}'@'%'"),
            format!("GRANT ALL ON `{name}_absent`.* TO '{user}'@'%'"),
        ])
        .await
        .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
        self.sync_replicas().await.unwrap_or_else(|e| panic!("{e}"));
        name.to_string()
    }

    /// The `mariadb` client's invocation for `endpoint`, as the app user, in `database`.
    pub fn mariadb(&self, endpoint: &Endpoint, database: &str) -> MariadbCli {
        MariadbCli {
            endpoint: endpoint.clone(),
            user: self.app_user.clone(),
            password: self.app_password.clone(),
            database: database.to_string(),
        }
    }
}

/// What a client program printed and how it exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stdout_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// One byte string with exit code, stdout and stderr, for byte-exact comparison.
    pub fn transcript(&self) -> Vec<u8> {
        let mut t = format!("exit code: {:?}\n--- stdout ---\n", self.code).into_bytes();
        t.extend_from_slice(&self.stdout);
        t.extend_from_slice(b"\n--- stderr ---\n");
        t.extend_from_slice(&self.stderr);
        t
    }
}

/// The `mariadb` command-line client.
pub fn mariadb_client() -> PathBuf {
    if let Ok(p) = std::env::var("MYQUORUM_MARIADB_CLIENT") {
        return PathBuf::from(p);
    }
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/bin", "/usr/local/bin"])
    {
        let p = Path::new(dir).join("mariadb");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "the `mariadb` client is missing: run scripts/setup.sh (apt-get install mariadb-client)"
    );
}

/// One `mariadb` invocation target: endpoint, user, database.
#[derive(Debug, Clone)]
pub struct MariadbCli {
    pub endpoint: Endpoint,
    pub user: String,
    pub password: String,
    pub database: String,
}

impl MariadbCli {
    /// Runs `mariadb --no-defaults --default-character-set=utf8mb4 --protocol=TCP -h.. -P.. -u.. -p..
    /// <extra args> <database>` with `stdin` (empty when `None`). `--no-defaults` keeps the
    /// system's /etc/mysql option files out; the explicit character set keeps the client from
    /// picking latin1 from the locale (which turns emoji into '?').
    pub fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut cmd = Command::new(mariadb_client());
        cmd.arg("--no-defaults")
            .arg("--default-character-set=utf8mb4")
            .arg("--protocol=TCP")
            .arg(format!("--host={}", self.endpoint.host))
            .arg(format!("--port={}", self.endpoint.port))
            .arg(format!("--user={}", self.user))
            .arg(format!("--password={}", self.password))
            .arg("--connect-timeout=30")
            .args(args)
            .arg(&self.database)
            .env("LC_ALL", "C.UTF-8")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
        let input = stdin.unwrap_or_default().to_vec();
        let mut pipe = child.stdin.take().expect("stdin pipe");
        let writer = std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("waiting for mariadb: {e}"));
        let _ = writer.join();
        Output {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        }
    }

    /// `run` with `-e <sql>`.
    pub fn execute(&self, extra: &[&str], sql: &str) -> Output {
        let mut args: Vec<&str> = extra.to_vec();
        args.push("-e");
        args.push(sql);
        self.run(&args, None)
    }
}

/// The one place where the `mariadb` client's output may legitimately differ between a direct
/// connection and the proxy:
/// - `-v`/`-vvv` print the elapsed time ("(0.001 sec)"): replaced by "(<time>)";
/// - "Access denied for user 'app'@'HOST'": MariaDB names the client host as it resolved it,
///   the proxy authenticates clients itself: the host becomes `<host>`.
///
/// Everything else (column metadata, values, info strings, warnings, errors) must be identical.
pub fn normalise_cli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // "(N.NNN sec)" -> "(<time>)"
        if bytes[i] == b'(' {
            if let Some(len) = elapsed_len(&bytes[i..]) {
                out.extend_from_slice(b"(<time>)");
                i += len;
                continue;
            }
        }
        const DENIED: &[u8] = b"Access denied for user '";
        if bytes[i..].starts_with(DENIED) {
            // Access denied for user 'USER'@'HOST'
            let start = i + DENIED.len();
            if let Some(q) = bytes[start..].iter().position(|&b| b == b'\'') {
                let after_user = start + q + 1;
                if bytes[after_user..].starts_with(b"@'") {
                    if let Some(q2) = bytes[after_user + 2..].iter().position(|&b| b == b'\'') {
                        out.extend_from_slice(&bytes[i..after_user + 2]);
                        out.extend_from_slice(b"<host>'");
                        i = after_user + 2 + q2 + 1;
                        continue;
                    }
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Length of a leading "(<digits>.<digits> sec)" or "(<digits> min <digits>.<digits> sec)".
fn elapsed_len(b: &[u8]) -> Option<usize> {
    let end = b.iter().take(40).position(|&c| c == b')')?;
    let inner = std::str::from_utf8(&b[1..end]).ok()?;
    let inner = inner.strip_suffix(" sec")?;
    if inner
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c == ' ' || c.is_ascii_alphabetic())
    {
        Some(end + 1)
    } else {
        None
    }
}

/// A readable unified diff of two byte strings (through `diff -u --text`), or `None` if equal.
pub fn diff(label_a: &str, a: &[u8], label_b: &str, b: &[u8]) -> Option<String> {
    if a == b {
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pa = dir.path().join("a");
    let pb = dir.path().join("b");
    std::fs::write(&pa, a).expect("write");
    std::fs::write(&pb, b).expect("write");
    let out = Command::new("diff")
        .arg("-u")
        .arg("--text")
        .arg(format!("--label={label_a}"))
        .arg(format!("--label={label_b}"))
        .arg(&pa)
        .arg(&pb)
        .output();
    Some(match out {
        Ok(o) if !o.stdout.is_empty() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => format!(
            "--- {label_a}\n{}\n+++ {label_b}\n{}",
            String::from_utf8_lossy(a),
            String::from_utf8_lossy(b)
        ),
    })
}

/// Collects the mismatches of many cases, so one test run reports all of them.
#[derive(Default)]
pub struct Mismatches {
    pub failures: Vec<String>,
    pub checked: usize,
}

impl Mismatches {
    /// Compares the normalised transcripts of one case run direct and proxied; `expect` are
    /// strings the DIRECT transcript must contain (so a case that fails identically on both
    /// sides, e.g. a typo in the SQL, cannot pass).
    pub fn compare(&mut self, case: &str, direct: &Output, proxied: &Output, expect: &[&str]) {
        self.checked += 1;
        let d = normalise_cli(&direct.transcript());
        let p = normalise_cli(&proxied.transcript());
        let dtext = String::from_utf8_lossy(&d);
        for e in expect {
            if !dtext.contains(e) {
                self.failures.push(format!(
                    "case `{case}`: the DIRECT output lacks {e:?} (the probe itself is wrong):\n{dtext}"
                ));
            }
        }
        if let Some(diff) = diff(
            &format!("direct ({case})"),
            &d,
            &format!("proxied ({case})"),
            &p,
        ) {
            self.failures
                .push(format!("case `{case}`: direct and proxied differ:\n{diff}"));
        }
    }

    /// Panics with every collected mismatch.
    pub fn finish(self) {
        if !self.failures.is_empty() {
            panic!(
                "{} of {} cases differ:\n\n{}",
                self.failures.len(),
                self.checked,
                self.failures.join("\n\n")
            );
        }
        eprintln!("all {} cases identical direct vs proxied", self.checked);
    }
}

/// The repository root (the root package's manifest directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python of the test venv: `MYQUORUM_PYTHON`, else `<repo>/.venv/bin/python`. Panics with
/// instructions when it is missing.
pub fn python() -> PathBuf {
    let p = std::env::var_os("MYQUORUM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    assert!(
        p.exists(),
        "Python test venv missing at {}: run scripts/setup.sh (or set MYQUORUM_PYTHON)",
        p.display()
    );
    p
}

/// Runs a Python probe script (`tests/py/<script>`) against the fixture's direct and proxied
/// endpoints in database `db`; the script compares what both return and exits non-zero on a
/// difference. Panics with the script's output when it fails; JSON documents go to
/// `target/<out_subdir>/<db>`.
pub fn run_python_probe(fx: &Fixture, script: &str, db: &str, out_subdir: &str) {
    run_python_probe_with(fx, script, db, out_subdir, &[]);
}

/// [`run_python_probe`] with extra arguments for the script (such as `--compress`).
pub fn run_python_probe_with(
    fx: &Fixture,
    script: &str,
    db: &str,
    out_subdir: &str,
    extra: &[&str],
) {
    let out_dir = repo_root().join("target").join(out_subdir).join(db);
    let path = repo_root().join("tests/py").join(script);
    let output = Command::new(python())
        .arg(&path)
        .arg("--direct")
        .arg(fx.direct.addr())
        .arg("--proxy")
        .arg(fx.proxied.addr())
        .arg("--user")
        .arg(&fx.app_user)
        .arg("--password")
        .arg(&fx.app_password)
        .arg("--database")
        .arg(db)
        .arg("--out-dir")
        .arg(&out_dir)
        .args(extra)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONIOENCODING", "utf-8")
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed ({}); JSON documents in {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status,
        out_dir.display()
    );
    eprintln!("{stdout}");
}
