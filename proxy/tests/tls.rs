//! Cluster-tier tests of TLS on the MySQL and admin ports (issue 14, item 5): a 2-node sandbox,
//! a CA and a server certificate generated for the test (the same code as `myquorum up`), and
//! proxies with TLS optional, `require_tls`, and a `require_ssl` account, driven by
//! mysql_async with `SslOpts`, PyMySQL with `ssl`, and the `mariadb` CLI verifying the
//! server certificate.

mod support;
use support::Ports;

use myquorum_proxy::{ProxyConfig, TlsConfig};
use myquorum_sandbox::{Cluster, TlsFiles};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row, SslOpts};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Options for `user` at `addr`, over TLS verified against `ca` when given.
fn opts(addr: SocketAddr, user: &str, pass: &str, ca: Option<&Path>) -> Opts {
    let ssl = ca.map(|ca| SslOpts::default().with_root_certs(vec![ca.to_path_buf().into()]));
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(addr.port())
        .user(Some(user))
        .pass(Some(pass))
        .prefer_socket(false)
        .ssl_opts(ssl)
        .into()
}

fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

/// The `tls` column of `SHOW SESSIONS` for the session with `id`, read over a TLS connection
/// to the admin port.
async fn tls_column(ports: &Ports, ca: &Path, id: u32) -> String {
    let mut admin = Conn::new(opts(ports.admin, "admin", "admin", Some(ca)))
        .await
        .expect("admin connects with TLS");
    let rows: Vec<Row> = admin.query("SHOW SESSIONS").await.expect("SHOW SESSIONS");
    let _ = admin.disconnect().await;
    rows.iter()
        .find(|r| r.get::<u32, _>("id") == Some(id))
        .and_then(|r| r.get::<String, _>("tls"))
        .unwrap_or_else(|| panic!("session {id} listed with a tls column"))
}

/// The venv's Python: `MYQUORUM_PYTHON`, else `<repo>/.venv/bin/python`.
fn python() -> PathBuf {
    let p = std::env::var_os("MYQUORUM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"));
    assert!(
        p.exists(),
        "Python test venv missing at {}: run scripts/setup.sh (or set MYQUORUM_PYTHON)",
        p.display()
    );
    p
}

/// Runs a program off the runtime; returns (success, stdout + stderr).
async fn run(program: PathBuf, args: Vec<String>) -> (bool, String) {
    let shown = format!("{} {}", program.display(), args.join(" "));
    let out = tokio::task::spawn_blocking(move || Command::new(program).args(args).output())
        .await
        .expect("join")
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// PyMySQL through `port` with `ssl={"ca": ca}` (certificate and host name verified); prints
/// the TLS version of its socket and the answer of a query.
const PYMYSQL_TLS: &str = r#"
import sys, pymysql
port, ca = int(sys.argv[1]), sys.argv[2]
c = pymysql.connect(host="127.0.0.1", port=port, user="app", password="app", database="app",
                    ssl={"ca": ca, "check_hostname": True})
print("tls_version", c._sock.version())
cur = c.cursor()
cur.execute("SELECT 40 + 2")
print("answer", cur.fetchone()[0])
c.close()
"#;

/// Proves TLS end to end on a proxy where it is optional: mysql_async with `SslOpts` (CA
/// verified) runs queries and its session is listed `tls = yes` by the admin port (itself
/// reached over TLS); a plaintext mysql_async client still works and is listed `tls = no`;
/// PyMySQL with `ssl` (CA and host name verified) gets a TLS socket and an answer; the
/// `mariadb` CLI with `--ssl --ssl-verify-server-cert --ssl-ca` reports a cipher in use.
/// Then on a `require_tls` proxy a plaintext login is refused with 1045 (as the server
/// refuses a `REQUIRE SSL` account) while a TLS login works, and on a proxy where only the
/// account says `require_ssl` the same holds for that account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_logins_are_encrypted_and_required_when_configured() {
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    let files = TlsFiles::ensure(&cluster.config().work_dir.join("tls")).expect("certificates");
    let tls = TlsConfig {
        cert: Some(files.cert.clone()),
        key: Some(files.key.clone()),
        require_tls: false,
    };
    let base = ProxyConfig {
        tls: tls.clone(),
        ..support::proxy_config(&cluster)
    };
    let ca = files.ca.as_path();

    // TLS optional.
    let ports = Ports::start(base.clone()).await;
    let mut secure = Conn::new(opts(ports.mysql, "app", "app", Some(ca)))
        .await
        .expect("mysql_async connects with TLS");
    let answer: Option<i64> = secure.query_first("SELECT 40 + 2").await.expect("query");
    assert_eq!(answer, Some(42));
    secure
        .query_drop("CREATE TABLE IF NOT EXISTS app.tls_probe (id INT PRIMARY KEY)")
        .await
        .expect("DDL over TLS");
    secure
        .query_drop("INSERT INTO app.tls_probe VALUES (1)")
        .await
        .expect("write over TLS");
    let read: Option<i64> = secure
        .query_first("SELECT COUNT(*) FROM app.tls_probe")
        .await
        .expect("read over TLS");
    assert_eq!(read, Some(1));
    assert_eq!(tls_column(&ports, ca, secure.id()).await, "yes");

    let mut plain = Conn::new(opts(ports.mysql, "app", "app", None))
        .await
        .expect("a plaintext client still logs in when TLS is optional");
    let answer: Option<i64> = plain.query_first("SELECT 1").await.expect("query");
    assert_eq!(answer, Some(1));
    assert_eq!(tls_column(&ports, ca, plain.id()).await, "no");
    let _ = plain.disconnect().await;
    let _ = secure.disconnect().await;

    let (ok, out) = run(
        python(),
        vec![
            "-c".to_owned(),
            PYMYSQL_TLS.to_owned(),
            ports.mysql.port().to_string(),
            ca.display().to_string(),
        ],
    )
    .await;
    assert!(ok, "PyMySQL with ssl failed: {out}");
    assert!(out.contains("tls_version TLSv1."), "{out}");
    assert!(out.contains("answer 42"), "{out}");

    let cli = |port: u16, extra: &[&str]| {
        let mut args = vec![
            "-h127.0.0.1".to_owned(),
            format!("-P{port}"),
            "-uapp".to_owned(),
            "-papp".to_owned(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    };
    let ssl_ca = format!("--ssl-ca={}", ca.display());
    let (ok, out) = run(
        PathBuf::from("mariadb"),
        cli(
            ports.mysql.port(),
            &[
                "--ssl",
                "--ssl-verify-server-cert",
                &ssl_ca,
                "-e",
                "SELECT 40 + 2 AS answer; \\s",
            ],
        ),
    )
    .await;
    assert!(ok, "mariadb --ssl-verify-server-cert failed: {out}");
    assert!(out.contains("42"), "{out}");
    assert!(
        out.contains("Cipher in use is"),
        "the CLI reports TLS: {out}"
    );
    ports.stop().await;

    // require_tls: plaintext refused like a REQUIRE SSL account, TLS accepted.
    let strict = ProxyConfig {
        tls: TlsConfig {
            require_tls: true,
            ..tls.clone()
        },
        ..base.clone()
    };
    let ports = Ports::start(strict).await;
    let refused = Conn::new(opts(ports.mysql, "app", "app", None))
        .await
        .expect_err("plaintext refused under require_tls");
    assert_eq!(server_code(&refused), Some(1045), "{refused}");
    let (ok, out) = run(
        PathBuf::from("mariadb"),
        cli(ports.mysql.port(), &["--skip-ssl", "-e", "SELECT 1"]),
    )
    .await;
    assert!(
        !ok && out.contains("1045"),
        "CLI without TLS refused: {out}"
    );
    let refused = Conn::new(opts(ports.admin, "admin", "admin", None))
        .await
        .expect_err("the admin port requires TLS too");
    assert_eq!(server_code(&refused), Some(1045), "{refused}");
    let mut secure = Conn::new(opts(ports.mysql, "app", "app", Some(ca)))
        .await
        .expect("TLS accepted under require_tls");
    let answer: Option<i64> = secure.query_first("SELECT 7").await.expect("query");
    assert_eq!(answer, Some(7));
    let _ = secure.disconnect().await;
    ports.stop().await;

    // require_ssl on the account only.
    let mut per_user = base.clone();
    per_user.users[0].require_ssl = true;
    let ports = Ports::start(per_user).await;
    let refused = Conn::new(opts(ports.mysql, "app", "app", None))
        .await
        .expect_err("plaintext refused for a require_ssl account");
    assert_eq!(server_code(&refused), Some(1045), "{refused}");
    let mut admin = Conn::new(opts(ports.admin, "admin", "admin", None))
        .await
        .expect("an account without require_ssl logs in plaintext");
    let _: Vec<Row> = admin.query("SHOW SESSIONS").await.expect("SHOW SESSIONS");
    let _ = admin.disconnect().await;
    let mut secure = Conn::new(opts(ports.mysql, "app", "app", Some(ca)))
        .await
        .expect("TLS accepted for a require_ssl account");
    let _: Option<i64> = secure.query_first("SELECT 1").await.expect("query");
    let _ = secure.disconnect().await;
    ports.stop().await;
}
