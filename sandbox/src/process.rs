//! Server processes: spawning mariadbd, waiting until it answers, stopping it, reaping servers
//! a killed run left behind, and the watchdog that cleans up after a test binary.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command};

use crate::node::{root_conn, running_as_root, NodeInfo};
use crate::{SandboxError, TlsFiles};

/// How long a node may take to accept connections: 2 cores run 4 servers plus tests.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a graceful shutdown may take before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts mariadbd for `node` with `cnf` as its option file (and TLS from `tls` when given),
/// and records its pid.
pub(crate) fn spawn(
    node: &NodeInfo,
    mariadbd: &Path,
    cnf: &Path,
    tls: Option<&TlsFiles>,
) -> Result<Child, SandboxError> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&node.error_log)
        .map_err(|e| SandboxError::io("open error log", &node.error_log, e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| SandboxError::io("open error log", &node.error_log, e))?;
    // A private tmpdir per node: a starting mariadbd deletes every `#sql*` file in its
    // tmpdir, so nodes (and other clusters) sharing /tmp break each other's temporary tables.
    let tmp = node.data_dir.with_file_name("tmp");
    std::fs::create_dir_all(&tmp).map_err(|e| SandboxError::io("create directory", &tmp, e))?;
    let mut cmd = Command::new(mariadbd);
    // --defaults-file must be the FIRST argument, or /etc/mysql/my.cnf leaks in.
    cmd.arg(format!("--defaults-file={}", cnf.display()));
    if running_as_root() {
        cmd.arg("--user=root");
    }
    cmd.arg(format!("--datadir={}", node.data_dir.display()))
        .arg(format!("--port={}", node.port))
        .arg(format!("--socket={}", node.socket.display()))
        .arg(format!("--pid-file={}", node.pid_file.display()))
        .arg(format!("--log-error={}", node.error_log.display()))
        .arg(format!("--server-id={}", node.server_id))
        .arg(format!("--report-host={}", node.host))
        .arg(format!("--report-port={}", node.port))
        .arg(format!("--tmpdir={}", tmp.display()));
    if let Some(tls) = tls {
        cmd.arg(format!("--ssl-cert={}", tls.cert.display()))
            .arg(format!("--ssl-key={}", tls.key.display()))
            .arg(format!("--ssl-ca={}", tls.ca.display()));
    }
    cmd.env("TMPDIR", &tmp)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        // Own process group: a Ctrl-C meant for the test runner or `myquorum up` must not hit
        // the servers directly; they are stopped in order by stop() or the watchdog.
        .process_group(0);
    let child = cmd.spawn().map_err(|e| SandboxError::Command {
        command: format!("{cmd:?}"),
        reason: e.to_string(),
        output: String::new(),
    })?;
    // mariadbd rewrites the same file once it is up; writing it now covers the window in
    // which a killed parent would otherwise leave an unrecorded server.
    crate::template::write(&node.pid_file, &format!("{}\n", child.id()))?;
    tracing::debug!(node = %node.id, pid = child.id(), "mariadbd spawned");
    Ok(child)
}

/// Polls `node`'s socket until root can log in, failing early (with the log tail) if the
/// process exits, and with [`SandboxError::AddressInUse`] if its port was taken.
pub(crate) async fn wait_ready(node: &NodeInfo, child: &mut Child) -> Result<(), SandboxError> {
    let start = Instant::now();
    let mut last_error = String::from("none yet");
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = node.log_for_error();
            if log.tail.contains("Address already in use")
                || log.tail.contains("Bind on TCP/IP port")
            {
                return Err(SandboxError::AddressInUse {
                    node: node.id.clone(),
                    port: node.port,
                    log,
                });
            }
            return Err(SandboxError::NodeExited {
                node: node.id.clone(),
                status: status.to_string(),
                log,
            });
        }
        if node.socket.exists() {
            match root_conn(node).await {
                Ok(conn) => {
                    let _ = conn.disconnect().await;
                    tracing::info!(node = %node.id, port = node.port, pid = child.id(),
                        secs = start.elapsed().as_secs_f32(), "node started");
                    return Ok(());
                }
                Err(e) => last_error = e.to_string(),
            }
        }
        if start.elapsed() > READY_TIMEOUT {
            return Err(SandboxError::NotReady {
                node: node.id.clone(),
                socket: node.socket.clone(),
                waited_secs: start.elapsed().as_secs(),
                last_error,
                log: node.log_for_error(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Graceful stop: SIGTERM (mariadbd's normal shutdown), wait, SIGKILL after a deadline.
pub(crate) async fn stop_child(node: &NodeInfo, child: &mut Child) -> Result<(), SandboxError> {
    if reaped_within(child, Duration::ZERO).await {
        return Ok(());
    }
    signal(node, child.id() as i32, Signal::SIGTERM)?;
    if reaped_within(child, STOP_TIMEOUT).await {
        tracing::info!(node = %node.id, port = node.port, "node stopped");
        return Ok(());
    }
    tracing::warn!(node = %node.id, pid = child.id(), "mariadbd ignored SIGTERM for {STOP_TIMEOUT:?}; sending SIGKILL");
    kill_child(node, child).await
}

/// Immediate stop: SIGKILL and reap.
pub(crate) async fn kill_child(node: &NodeInfo, child: &mut Child) -> Result<(), SandboxError> {
    if reaped_within(child, Duration::ZERO).await {
        return Ok(());
    }
    signal(node, child.id() as i32, Signal::SIGKILL)?;
    if reaped_within(child, Duration::from_secs(10)).await {
        Ok(())
    } else {
        Err(SandboxError::StuckProcess {
            node: node.id.clone(),
            pid: child.id() as i32,
        })
    }
}

/// Polls `try_wait` (not tokio's `wait`, which is tied to the runtime that spawned the child:
/// a Cluster kept in a static outlives the runtime of the test that started it).
async fn reaped_within(child: &mut Child, limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        if !matches!(child.try_wait(), Ok(None)) {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reaps a server a previous (killed) run left on `node`: its pid file names a live process
/// whose command line mentions our datadir. Anything else, even on our port, is left alone.
pub(crate) async fn reap_stale(node: &NodeInfo) -> Result<(), SandboxError> {
    let Ok(text) = std::fs::read_to_string(&node.pid_file) else {
        return Ok(());
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        return Ok(());
    };
    if !is_ours(pid, &node.data_dir) {
        return Ok(());
    }
    tracing::warn!(node = %node.id, pid, "reaping a mariadbd left behind by an earlier run");
    for (sig, wait) in [
        (Signal::SIGTERM, STOP_TIMEOUT),
        (Signal::SIGKILL, Duration::from_secs(10)),
    ] {
        signal(node, pid, sig)?;
        let start = Instant::now();
        while start.elapsed() < wait {
            if !alive(pid) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Err(SandboxError::StuckProcess {
        node: node.id.clone(),
        pid,
    })
}

/// True if `pid` is a live process whose command line contains `--datadir=<data_dir>`.
pub(crate) fn is_ours(pid: i32, data_dir: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let needle = format!("--datadir={}", data_dir.display());
    alive(pid)
        && cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == needle.as_bytes())
}

/// True if `pid` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Sends `sig` to `pid`; a process that is already gone is not an error.
pub(crate) fn signal(node: &NodeInfo, pid: i32, sig: Signal) -> Result<(), SandboxError> {
    match kill(Pid::from_raw(pid), sig) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(source) => Err(SandboxError::Signal {
            node: node.id.clone(),
            pid,
            signal: sig.as_str(),
            source,
        }),
    }
}

/// Shell script of the watchdog: blocks on stdin; when the pipe closes (the owning process
/// exited, however it died, or dropped the Cluster) it stops every server whose pid file is in
/// the work dir and whose command line names its datadir, then deletes the work and socket dirs.
const WATCHDOG: &str = r#"
trap '' INT TERM HUP PIPE
work="$1"; sockets="$2"
cat >/dev/null 2>&1
ours() { tr '\0' '\n' < "/proc/$1/cmdline" 2>/dev/null | grep -qxF -- "--datadir=$2"; }
live() { [ -r "/proc/$1/stat" ] && ! sed 's/.*)//' "/proc/$1/stat" 2>/dev/null | grep -q '^ Z'; }
pids=""
for dir in "$work"/instance-*; do
  pid=$(cat "$dir/mariadbd.pid" 2>/dev/null) || continue
  if ours "$pid" "$dir/data"; then kill -TERM "$pid" 2>/dev/null; pids="$pids $pid"; fi
done
i=0
while [ $i -lt 300 ]; do
  left=""
  for pid in $pids; do live "$pid" && left="$left $pid"; done
  [ -z "$left" ] && break
  sleep 0.1; i=$((i+1))
done
for pid in $left; do kill -KILL "$pid" 2>/dev/null; done
sleep 0.2
rm -rf "$work" "$sockets"
"#;

/// Keeps the watchdog alive: dropping it (or the process exiting) closes the pipe and
/// triggers the cleanup.
#[derive(Debug)]
pub(crate) struct Watchdog {
    stdin: Option<ChildStdin>,
    child: Option<Child>,
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.stdin.take()); // EOF: the watchdog starts cleaning up
        if let Some(mut child) = self.child.take() {
            // Reap it when it is done, so it does not linger as a zombie.
            std::thread::spawn(move || child.wait());
        }
    }
}

/// Starts the watchdog for a test cluster living in `work_dir` with sockets in `socket_dir`.
pub(crate) fn spawn_watchdog(work_dir: &Path, socket_dir: &Path) -> Result<Watchdog, SandboxError> {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(WATCHDOG)
        .arg("myquorum-watchdog")
        .arg(work_dir)
        .arg(socket_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = cmd.spawn().map_err(|e| SandboxError::Command {
        command: "/bin/sh -c <watchdog>".into(),
        reason: e.to_string(),
        output: String::new(),
    })?;
    let stdin = child.stdin.take().ok_or_else(|| SandboxError::Command {
        command: "/bin/sh -c <watchdog>".into(),
        reason: "no stdin pipe".into(),
        output: String::new(),
    })?;
    Ok(Watchdog {
        stdin: Some(stdin),
        child: Some(child),
    })
}
