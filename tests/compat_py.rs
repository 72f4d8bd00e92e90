//! Python drivers cannot tell the proxy from MariaDB (issue 3, part 5).
//!
//! Runs `tests/py/compat_probe.py` (PyMySQL and mysql-connector-python) against the primary
//! directly and through the proxy; the script prints a unified diff of the two JSON documents
//! when they differ. The documents are also written to `target/compat-py/<db>/` for inspection.

mod common;

/// Typed values of every common column type, column metadata, `server_status` flags after
/// BEGIN / COMMIT / autocommit=0, warning counts and SHOW WARNINGS, info strings ("Records: 3
/// Duplicates: 0  Warnings: 0", "Rows matched: ..."), affected rows and last insert ids,
/// FOUND_ROWS with and without the client flag, errors 1064 / 1062 / 1146 / 4025 / 1969 (and
/// more) with code, SQLSTATE and message followed by a working statement, multi-statements
/// with several result sets, LOAD DATA LOCAL INFILE, a 32 MB LONGBLOB round trip (packets split
/// at 16 MB both ways), non-UTF-8 query bytes, COM_PING / COM_INIT_DB / COM_STATISTICS, and the
/// connection errors 1045 (28000), 1049 and 1044: all identical direct vs proxied, as PyMySQL
/// and mysql-connector-python report them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_driver_probes_are_identical() {
    let fx = common::shared().await;
    let db = fx.fresh_database("compat_py").await;
    common::run_python_probe(fx, "compat_probe.py", &db, "compat-py");
}
