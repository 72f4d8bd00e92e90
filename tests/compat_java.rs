//! MariaDB Connector/J cannot tell the proxy from MariaDB (issue 14): `tests/java/CompatProbe.java`
//! is compiled with `javac` into a temporary directory and run against the primary directly
//! and through the proxy (default settings), and the lines it prints must be identical:
//! create-then-read in one connection and across connections, `getDatabaseProductVersion()`
//! equal to `SELECT VERSION()`, `useCompression=true` with 20 MB values, `CONNECTION_ID()`
//! then `KILL QUERY` / `KILL` from another connection (found through `SHOW FULL PROCESSLIST`),
//! and `Statement.cancel()`. Then verify-ca TLS against a proxy with TLS on (the sandbox CA):
//! queries work, and another CA is refused.
//!
//! Environment: `MYQUORUM_JAVA_HOME` (else `java` / `javac` from PATH), `MYQUORUM_MARIADB_JAVA`
//! (the Connector/J jar; default `/usr/share/java/mariadb-java-client.jar`, Debian's
//! `libmariadb-java`, which scripts/setup.sh installs). Without a JDK the test says so on
//! stderr and passes without running; a missing jar fails it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const PROBE: &str = include_str!("java/CompatProbe.java");

/// `java` and `javac`, or None when no JDK can be found.
fn jdk() -> Option<(PathBuf, PathBuf)> {
    if let Some(home) = std::env::var_os("MYQUORUM_JAVA_HOME") {
        let bin = PathBuf::from(home).join("bin");
        return Some((bin.join("java"), bin.join("javac")));
    }
    let find = |name: &str| {
        std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .chain(["/usr/bin", "/usr/local/bin"])
            .map(|dir| Path::new(dir).join(name))
            .find(|p| p.is_file())
    };
    Some((find("java")?, find("javac")?))
}

/// The Connector/J jar.
fn connector_jar() -> PathBuf {
    let jar = std::env::var_os("MYQUORUM_MARIADB_JAVA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/java/mariadb-java-client.jar"));
    assert!(
        jar.is_file(),
        "MariaDB Connector/J missing at {}: run scripts/setup.sh (apt-get install libmariadb-java) \
         or set MYQUORUM_MARIADB_JAVA",
        jar.display()
    );
    jar
}

/// Runs the compiled probe; returns stdout, panicking with everything it printed when it fails.
fn run_probe(java: &Path, classpath: &str, args: &[String]) -> String {
    let out = Command::new(java)
        .arg("-Xmx512m")
        .arg("-cp")
        .arg(classpath)
        .arg("CompatProbe")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", java.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "CompatProbe {args:?} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    eprintln!("CompatProbe {}: {}", args[0], stderr.trim());
    stdout
}

/// The probe's lines direct vs proxied are identical, and the direct ones say what the
/// checks expect (so a probe that fails the same way on both sides cannot pass).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connector_j_sees_the_proxy_as_the_server() {
    let Some((java, javac)) = jdk() else {
        eprintln!(
            "SKIPPED compat_java: no `java`/`javac` found (PATH or MYQUORUM_JAVA_HOME): \
             run scripts/setup.sh (default-jdk-headless)"
        );
        return;
    };
    let jar = connector_jar();
    let build = tempfile::tempdir().expect("temp dir");
    let source = build.path().join("CompatProbe.java");
    std::fs::write(&source, PROBE).expect("write the probe");
    let compiled = Command::new(&javac)
        .arg("-cp")
        .arg(&jar)
        .arg("-d")
        .arg(build.path())
        .arg(&source)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", javac.display()));
    assert!(
        compiled.status.success(),
        "javac failed:\n{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let classpath = format!("{}:{}", jar.display(), build.path().display());

    let fx = common::shared().await;
    let db = fx.fresh_database("compat_java").await;
    let args = |mode: &str, ep: &common::Endpoint| -> Vec<String> {
        vec![
            mode.to_owned(),
            ep.host.clone(),
            ep.port.to_string(),
            fx.app_user.clone(),
            fx.app_password.clone(),
            db.clone(),
        ]
    };
    let direct = {
        let (java, classpath, a) = (java.clone(), classpath.clone(), args("compat", &fx.direct));
        tokio::task::spawn_blocking(move || run_probe(&java, &classpath, &a))
            .await
            .expect("direct probe task")
    };
    let proxied = {
        let (java, classpath, a) = (java.clone(), classpath.clone(), args("compat", &fx.proxied));
        tokio::task::spawn_blocking(move || run_probe(&java, &classpath, &a))
            .await
            .expect("proxied probe task")
    };
    for expected in [
        "plain same connection, rows right after INSERT: id/INTEGER",
        "useCompression=true same connection, rows right after INSERT: id/INTEGER",
        "across connections, writes seen by the next connection: 30 of 30",
        "getDatabaseProductVersion() equals SELECT VERSION(): yes",
        "useCompression=true 20 MB read back equal: true",
        "plain 20 MB read back equal: true",
        "useCompression=true 17 MB server-built value: 17825792",
        "KILL QUERY: the CONNECTION_ID() is listed running: true",
        "KILL QUERY <CONNECTION_ID()>: interrupted",
        "after KILL <CONNECTION_ID()>: closed",
        "Statement.cancel(): interrupted",
    ] {
        assert!(
            direct.contains(expected),
            "the DIRECT run lacks {expected:?} (the probe itself is wrong):\n{direct}"
        );
    }
    if let Some(diff) = common::diff("direct", direct.as_bytes(), "proxied", proxied.as_bytes()) {
        panic!("Connector/J saw the proxy differently:\n{diff}");
    }
    eprintln!(
        "Connector/J: {} lines identical direct vs proxied",
        direct.lines().count()
    );

    // verify-ca against a proxy with TLS on.
    let tls_dir = build.path().join("tls");
    let (tls_proxy, files) = fx
        .start_tls_proxy(&tls_dir)
        .await
        .expect("a proxy with TLS");
    let other =
        myquorum_sandbox::TlsFiles::ensure(&build.path().join("other-ca")).expect("another CA");
    let mut a = args("tls", &tls_proxy);
    a.push(files.ca.display().to_string());
    a.push(other.ca.display().to_string());
    let tls = tokio::task::spawn_blocking(move || run_probe(&java, &classpath, &a))
        .await
        .expect("TLS probe task");
    for (key, value) in [
        ("verify-ca with the CA: ", "[42]"),
        ("verify-ca, create-then-read: ", "[1]"),
        ("verify-ca with compression: ", "[5000000]"),
        ("verify-ca with another CA: ", "refused"),
    ] {
        let line = tls.lines().find(|l| l.starts_with(key));
        assert!(
            line.is_some_and(|l| l.ends_with(value)),
            "TLS run: {key:?} should end with {value:?}:\n{tls}"
        );
    }
    eprintln!("Connector/J over TLS (verify-ca):\n{tls}");
}
