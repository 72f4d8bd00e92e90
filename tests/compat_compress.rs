//! The compressed protocol (CLIENT_COMPRESS) between client and proxy gives what it gives
//! directly (issue 14, item 4): the backend side stays uncompressed, so these tests prove the
//! proxy's compressed layer, with the `mariadb` client, mysql_async and mysql-connector-python.

mod common;

use common::{Mismatches, Output};
use mysql_async::prelude::Queryable;
use mysql_async::{Compression, Conn, OptsBuilder, Row, Value};

const TYPES_SQL: &str = include_str!("sql/compat_types.sql");

/// 20 MB: more than one 16 MB packet, so the value crosses compressed frames and packet
/// frames both ways.
const BIG: usize = 20 * 1024 * 1024;

/// `mariadb --compress` prints byte-identical output through the proxy and directly: every
/// column type with metadata, multi-statements with several result sets, warnings, an error
/// followed by a working statement, and a 17 MB value (a row over 16 MB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_cli_with_compress_is_identical() {
    let fx = common::shared().await;
    let db = fx.fresh_database("compat_compress_cli").await;
    let setup = fx
        .mariadb(&fx.direct, &db)
        .run(&[], Some(TYPES_SQL.as_bytes()));
    assert_eq!(setup.code, Some(0), "{}", setup.stderr_lossy());
    fx.sync_replicas().await.expect("replicas caught up");

    let direct = fx.mariadb(&fx.direct, &db);
    let proxied = fx.mariadb(&fx.proxied, &db);
    let big = "SELECT LENGTH(v), MD5(v), v FROM (SELECT REPEAT('abcdefgh', 17 * 131072) AS v) t;\n";
    let cases: Vec<(&str, Vec<&str>, &str, Vec<&str>)> = vec![
        (
            "every type with metadata",
            vec!["--table", "--column-type-info"],
            "SET time_zone='+00:00'; SELECT * FROM t_types ORDER BY id",
            vec!["18446744073709551615", "Type:       BLOB"],
        ),
        (
            "multi-statement, warnings, error then a working statement",
            vec!["--table", "--force", "--show-warnings", "-vvv"],
            "SELECT 1 AS a; SELECT 'x' AS b UNION SELECT 'y'; SELECT CAST('1x' AS INT);\n\
             SELECT * FROM no_such_table;\nSELECT 42 AS after_error;\n",
            vec!["after_error", "1146", "Truncated incorrect"],
        ),
        (
            "a 17 MB value (one row over 16 MB)",
            vec!["--batch", "--max-allowed-packet=64M"],
            big,
            vec!["17825792"],
        ),
    ];
    let mut mismatches = Mismatches::default();
    for (name, extra, sql, expect) in &cases {
        let mut args = vec!["--compress"];
        args.extend(extra.iter().copied());
        // Statements on stdin: with --force the client goes on after an error.
        let d = direct.run(&args, Some(sql.as_bytes()));
        let p = proxied.run(&args, Some(sql.as_bytes()));
        mismatches.compare(name, &d, &p, expect);
    }
    mismatches.finish();
    let compressed = |out: &Output| {
        out.stdout_lossy()
            .lines()
            .any(|l| l.starts_with("Protocol:") && l.contains("Compressed"))
    };
    let d = direct.execute(&["--compress"], "status");
    let p = proxied.execute(&["--compress"], "status");
    assert!(compressed(&d), "direct status: {}", d.stdout_lossy());
    assert!(
        compressed(&p),
        "the client did not negotiate compression with the proxy: {}{}",
        p.stdout_lossy(),
        p.stderr_lossy()
    );
}

async fn connect(host: &str, port: u16, user: &str, pass: &str, db: &str) -> Conn {
    let opts = OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(pass))
        .db_name(Some(db))
        .prefer_socket(false)
        .compression(Compression::default());
    Conn::new(opts)
        .await
        .unwrap_or_else(|e| panic!("connecting with compression to {host}:{port}: {e}"))
}

/// What one endpoint answered, in order, as comparable text.
async fn mysql_async_record(conn: &mut Conn) -> Vec<String> {
    let mut out = Vec::new();
    conn.query_drop("DROP TABLE IF EXISTS t_comp")
        .await
        .expect("drop");
    conn.query_drop("CREATE TABLE t_comp (id INT PRIMARY KEY, v LONGBLOB)")
        .await
        .expect("create");
    let big: Vec<u8> = (0..BIG).map(|i| (i * 31 % 251) as u8).collect();
    conn.exec_drop("INSERT INTO t_comp VALUES (1, ?)", (big.clone(),))
        .await
        .expect("20 MB insert (binary protocol)");
    let back: Option<Vec<u8>> = conn
        .query_first("SELECT v FROM t_comp WHERE id = 1")
        .await
        .expect("20 MB select (text protocol)");
    out.push(format!(
        "text round trip equal: {}",
        back.as_deref() == Some(&big[..])
    ));
    let back: Option<Vec<u8>> = conn
        .exec_first("SELECT v FROM t_comp WHERE id = ?", (1,))
        .await
        .expect("20 MB select (binary protocol)");
    out.push(format!(
        "binary round trip equal: {}",
        back.as_deref() == Some(&big[..])
    ));
    let repeat: Option<(u64, String)> = conn
        .query_first(format!(
            "SELECT LENGTH(x), MD5(x) FROM (SELECT REPEAT('q', {BIG}) AS x) t"
        ))
        .await
        .expect("server-built value");
    out.push(format!("server-built: {repeat:?}"));

    let mut result = conn
        .query_iter("SELECT 1 AS a, 'one' AS b; SELECT id, LENGTH(v) FROM t_comp; DO 1; SELECT @@version_comment LIKE '%' AS c")
        .await
        .expect("multi-result");
    let mut set = 0;
    while !result.is_empty() {
        let rows: Vec<Row> = result.collect().await.expect("a result set");
        let rows: Vec<Vec<Value>> = rows.into_iter().map(Row::unwrap).collect();
        out.push(format!("set {set}: {rows:?}"));
        set += 1;
    }
    drop(result);
    let small: Vec<(u32, String)> = conn
        .query("SELECT seq, REPEAT(CHAR(65 + seq % 26), seq) FROM seq_1_to_300")
        .await
        .unwrap_or_default();
    out.push(format!("300 rows of growing size: {}", small.len()));
    let err = conn.query_drop("SELECT * FROM no_such_table").await;
    out.push(format!("error: {:?}", err.err().map(|e| e.to_string())));
    let one: Option<u8> = conn.query_first("SELECT 1").await.expect("after error");
    out.push(format!("after error: {one:?}"));
    out
}

/// mysql_async with `compression(Compression::default())` gets the same answers through the
/// proxy as directly: a 20 MB value inserted with the binary protocol and read back with both
/// protocols, a 20 MB value built by the server, a multi-result, many rows, an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_async_with_compression_is_identical() {
    let fx = common::shared().await;
    let db = fx.fresh_database("compat_compress_async").await;
    let (user, pass) = (fx.app_user.as_str(), fx.app_password.as_str());
    let mut d = connect(&fx.direct.host, fx.direct.port, user, pass, &db).await;
    let direct = mysql_async_record(&mut d).await;
    let _ = d.disconnect().await;
    let mut p = connect(&fx.proxied.host, fx.proxied.port, user, pass, &db).await;
    let proxied = mysql_async_record(&mut p).await;
    let _ = p.disconnect().await;
    assert_eq!(direct, proxied);
    assert!(
        direct.iter().any(|l| l == "text round trip equal: true")
            && direct.iter().any(|l| l == "binary round trip equal: true"),
        "{direct:#?}"
    );
}

/// mysql-connector-python with `compress=True` gives the same results through the proxy as
/// directly: the connector probes of `compat_probe.py` (typed values and metadata, warnings,
/// every error with its SQLSTATE) all compressed, and `connector_compressed` (pure Python and
/// C extension: negotiation, a 20 MB round trip). PyMySQL has no compression, so its probes are
/// left to `compat_py`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connector_python_with_compress_is_identical() {
    let fx = common::shared().await;
    let db = fx.fresh_database("compat_compress_py").await;
    let args = [
        "--compress",
        "--probe",
        "connector_values",
        "--probe",
        "errors_connector",
        "--probe",
        "connector_compressed",
    ];
    common::run_python_probe_with(fx, "compat_probe.py", &db, "compat-compress-py", &args);
}
