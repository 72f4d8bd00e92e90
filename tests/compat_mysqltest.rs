//! MariaDB's own test runner (`mariadb-test`, a.k.a. mysqltest, Debian package `mariadb-test`)
//! on a selection of main-suite tests, against the primary directly and through a proxy with
//! the default settings (issue 14): every test that passes directly must pass through the
//! proxy. The selection holds tests that need no server restart, no special server options,
//! no extra connections (`connect` goes to a local socket), and no process list, binary log
//! or global state. mysql-test-run's server defaults the results assume (latin1, MyISAM as
//! the default engine, ...) are set globally on every node first ([`MTR_GLOBALS`]).
//!
//! Each test runs against an already running server, as `mariadb-test --host --port --user
//! --password --database=test --test-file=<suite>/main/<t>.test
//! --result-file=<suite>/main/<t>.result --tmpdir --silent`, from the suite's directory (the
//! tests `--source include/...` relative to it). Exit code 0 is a pass, 62 a skip (the test
//! decided the server lacks something), anything else a failure with a diff on stderr.
//!
//! Environment: `MYQUORUM_MYSQLTEST` (the runner; default `mariadb-test` or `mysqltest` from
//! PATH), `MYQUORUM_MYSQL_TEST_DIR` (the suite; default `/usr/share/mysql/mysql-test`). Both
//! come with `mariadb-test`, which scripts/setup.sh installs: missing, the test fails.
//! `MYQUORUM_MYSQLTEST_TESTS=a,b,c` runs those main-suite tests instead of [`TESTS`] (to try
//! more of the suite).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The selection (main suite): SQL features of many kinds, each test self-contained.
const TESTS: &[&str] = &[
    "auto_increment",
    "bigint",
    "compare",
    "constraints",
    "create_drop_procedure",
    "except",
    "func_bit",
    "insert_returning_datatypes",
    "limit",
    "ps_innodb",
    "replace",
    "rollback",
    "select_found",
    "signal_demo1",
    "sp-expr",
    "sp-for-loop",
    "odbc",
    "temporal_literal",
    "union_innodb",
    "win_rank",
];

/// The server defaults mysql-test-run gives its servers (include/default_mysqld.cnf and the
/// runner's own options) that the selected tests' results depend on, set globally on every
/// node: a fresh connection (the runner's, the proxy's backend connections) starts with them.
const MTR_GLOBALS: &str = "SET GLOBAL character_set_server = latin1, \
     collation_server = latin1_swedish_ci, default_storage_engine = MyISAM, \
     log_bin_trust_function_creators = 1, max_heap_table_size = 1048576, \
     sort_buffer_size = 262144";

/// The account the runner logs in with (created with every privilege, as mysql-test-run's
/// root is).
const USER: &str = "mtr";
const PASSWORD: &str = "mtr-pw";

fn find_in_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    for name in names {
        for dir in path.split(':').chain(["/usr/bin", "/usr/local/bin"]) {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn runner() -> PathBuf {
    std::env::var_os("MYQUORUM_MYSQLTEST")
        .map(PathBuf::from)
        .or_else(|| find_in_path(&["mariadb-test", "mysqltest"]))
        .unwrap_or_else(|| {
            panic!("mariadb-test (mysqltest) missing: run scripts/setup.sh (apt-get install mariadb-test)")
        })
}

fn suite() -> PathBuf {
    let dir = std::env::var_os("MYQUORUM_MYSQL_TEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/mysql/mysql-test"));
    assert!(
        dir.join("main").is_dir(),
        "the MariaDB test suite is missing at {}: run scripts/setup.sh (apt-get install mariadb-test)",
        dir.display()
    );
    dir
}

/// How one run of one test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pass,
    Skip,
    Fail,
}

/// Runs `test` against `endpoint`; returns its outcome and what the runner printed.
/// With `ps`, mysqltest sends every statement it can as a prepared statement
/// (`--ps-protocol`: COM_STMT_PREPARE + EXECUTE through the proxy's binary-protocol path).
fn run(
    runner: &Path,
    suite: &Path,
    endpoint: &common::Endpoint,
    test: &str,
    ps: bool,
) -> (Outcome, String) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let main = suite.join("main");
    let out = Command::new(runner)
        .current_dir(suite)
        .env("MYSQLTEST_VARDIR", tmp.path())
        .env("MYSQL_TEST_DIR", suite)
        .env("MYSQL_TMP_DIR", tmp.path())
        .arg("--no-defaults")
        .arg("--protocol=tcp")
        .arg(format!("--host={}", endpoint.host))
        .arg(format!("--port={}", endpoint.port))
        .arg(format!("--user={USER}"))
        .arg(format!("--password={PASSWORD}"))
        .arg("--database=test")
        .arg(format!("--basedir={}", suite.display()))
        .arg(format!("--tmpdir={}", tmp.path().display()))
        .arg(format!("--logdir={}", tmp.path().display()))
        .arg("--silent")
        .args(ps.then_some("--ps-protocol"))
        .arg("--max-connect-retries=3")
        .arg(format!(
            "--test-file={}",
            main.join(format!("{test}.test")).display()
        ))
        .arg(format!(
            "--result-file={}",
            main.join(format!("{test}.result")).display()
        ))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", runner.display()));
    let outcome = match out.status.code() {
        Some(0) => Outcome::Pass,
        Some(62) => Outcome::Skip,
        _ => Outcome::Fail,
    };
    let text = format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (outcome, text)
}

/// Every selected test that passes against the primary directly passes through the proxy, and
/// most of the selection passes directly (so the comparison means something).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysqltest_selection_passes_through_the_proxy_as_directly() {
    let runner = runner();
    let suite = suite();
    let fx = common::shared().await;
    fx.root_exec_all(vec![MTR_GLOBALS.to_owned()])
        .await
        .expect("mysql-test-run's server defaults on every node");
    fx.restart_replication()
        .await
        .expect("replication threads with those defaults");
    fx.root_exec(vec![
        format!("DROP USER IF EXISTS '{USER}'@'%'"),
        format!("CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'"),
        format!("GRANT ALL ON *.* TO '{USER}'@'%' WITH GRANT OPTION"),
        "DROP DATABASE IF EXISTS test".to_owned(),
        "CREATE DATABASE test CHARACTER SET latin1".to_owned(),
    ])
    .await
    .expect("the runner's account and database");
    fx.sync_replicas().await.expect("replicas caught up");
    let proxy = fx
        .start_extra_proxy(|c| {
            c.users.push(myquorum_proxy::UserConfig {
                name: USER.into(),
                password: PASSWORD.into(),
                ..myquorum_proxy::UserConfig::default()
            })
        })
        .await
        .expect("a proxy that knows the runner's account");

    let chosen: Vec<String> = match std::env::var("MYQUORUM_MYSQLTEST_TESTS") {
        Ok(list) => list.split(',').map(|t| t.trim().to_owned()).collect(),
        Err(_) => TESTS.iter().map(|t| (*t).to_owned()).collect(),
    };
    let mut report = Vec::new();
    let mut failures = Vec::new();
    let mut passed_direct = 0;
    let runs = chosen
        .iter()
        .flat_map(|t| [(t.as_str(), false), (t.as_str(), true)]);
    for (test, ps) in runs {
        let label = if ps {
            format!("{test} --ps-protocol")
        } else {
            test.to_owned()
        };
        let (r, s, d) = (runner.clone(), suite.clone(), fx.direct.clone());
        let started = Instant::now();
        let name = test.to_owned();
        let (direct, direct_text) = tokio::task::spawn_blocking(move || run(&r, &s, &d, &name, ps))
            .await
            .expect("direct run");
        let direct_time = started.elapsed();
        let (r, s, p) = (runner.clone(), suite.clone(), proxy.clone());
        let started = Instant::now();
        let name = test.to_owned();
        let (proxied, proxied_text) =
            tokio::task::spawn_blocking(move || run(&r, &s, &p, &name, ps))
                .await
                .expect("proxied run");
        let proxied_time = started.elapsed();
        report.push(format!(
            "{label:<42} direct {direct:?} ({direct_time:.1?})  proxied {proxied:?} ({proxied_time:.1?})"
        ));
        if direct == Outcome::Pass {
            passed_direct += 1;
            if proxied != Outcome::Pass {
                failures.push(format!(
                    "{label}: passes directly, {proxied:?} through the proxy:\n{proxied_text}"
                ));
            }
        } else {
            eprintln!("{label}: {direct:?} directly (not compared):\n{direct_text}");
        }
    }
    eprintln!("mysqltest selection:\n{}", report.join("\n"));
    // Every replica still applies what the tests wrote (a broken replica would make every
    // CAUSAL read wait `causal_wait_ms` and fall back to the primary: correct, but slow).
    fx.sync_replicas()
        .await
        .expect("replicas applied everything the tests wrote");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        passed_direct * 4 >= chosen.len() * 2 * 3,
        "only {passed_direct} of {} selected runs pass directly: the selection or the \
         environment is wrong",
        chosen.len() * 2
    );
}
