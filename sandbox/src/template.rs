//! Finding the MariaDB binaries and building the template datadir every node is copied from.
//!
//! `mariadb-install-db` takes seconds; copying its result takes milliseconds, so it runs once
//! per work dir (or once per machine for test clusters, see [`shared_template_root`]).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{node, SandboxError};

/// The option file every node shares (also mounted by docker-compose).
pub const NODE_CNF: &str = include_str!("../../mysql-config/node.cnf");
/// SQL run while the template is created: drops the anonymous accounts.
const TEMPLATE_EXTRA_SQL: &str = include_str!("../../mysql-config/template-extra.sql");
/// Written into a finished template; a template without it is never used.
const MARKER: &str = "myquorum-template.ok";

const SEARCH_DIRS: [&str; 4] = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"];

/// Finds `mariadbd`: the explicit path if given, else `PATH`, `/usr/sbin`, `/usr/bin`.
/// Exists so that a machine without MariaDB fails loudly with the install command, instead of
/// a test silently skipping or a spawn failing with a bare ENOENT.
pub fn find_mariadbd(explicit: Option<&Path>) -> Result<PathBuf, SandboxError> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(SandboxError::MariadbdNotFound {
                searched: path.display().to_string(),
            })
        };
    }
    find_program("mariadbd", &[]).map_err(|searched| SandboxError::MariadbdNotFound { searched })
}

/// Looks for `name` in `first`, then `PATH`, then the usual system directories.
/// On failure returns the comma-separated list of directories searched.
fn find_program(name: &str, first: &[PathBuf]) -> Result<PathBuf, String> {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let dirs: Vec<PathBuf> = first
        .iter()
        .cloned()
        .chain(path_dirs)
        .chain(SEARCH_DIRS.iter().map(PathBuf::from))
        .collect();
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
}

/// Finds `mariadb-install-db`, preferring the installation `mariadbd` belongs to.
pub(crate) fn find_install_db(mariadbd: &Path) -> Result<PathBuf, SandboxError> {
    find_beside(mariadbd, "mariadb-install-db")
}

/// Finds `program` (a tool shipped with MariaDB: `mariadb-install-db`, `mariadb-dump`,
/// `mariadb`), preferring the installation `mariadbd` belongs to, so the tools and the server
/// are of one version.
pub(crate) fn find_beside(mariadbd: &Path, program: &'static str) -> Result<PathBuf, SandboxError> {
    let first: Vec<PathBuf> = mariadbd
        .parent()
        .map(|sbin| {
            let mut v = vec![sbin.to_path_buf()];
            if let Some(base) = sbin.parent() {
                v.push(base.join("bin"));
                v.push(base.join("scripts"));
            }
            v
        })
        .unwrap_or_default();
    find_program(program, &first)
        .map_err(|searched| SandboxError::ProgramNotFound { program, searched })
}

/// `mariadbd --version`'s version token ("10.11.19-MariaDB-0+deb12u1"): templates made by one
/// server version are not reused by another.
pub(crate) async fn mariadbd_version(mariadbd: &Path) -> Result<String, SandboxError> {
    let out = run(tokio::process::Command::new(mariadbd).arg("--version")).await?;
    let version = out
        .split_whitespace()
        .skip_while(|w| *w != "Ver")
        .nth(1)
        .unwrap_or("unknown")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(version)
}

/// Where test clusters share their template: `$CARGO_TARGET_TMPDIR` if set, else the system
/// temp dir. Keyed by server version and by the option file, so a changed `node.cnf` or an
/// upgraded server never reuses a stale template.
pub(crate) async fn shared_template_root(mariadbd: &Path) -> Result<PathBuf, SandboxError> {
    let base = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let version = mariadbd_version(mariadbd).await?;
    let key = crate::config::fnv1a(format!("{NODE_CNF}{TEMPLATE_EXTRA_SQL}").as_bytes());
    Ok(base.join(format!("myquorum-template-{version}-{:08x}", key >> 32)))
}

/// Makes sure `root` holds a finished template and returns its datadir (`root/data`).
///
/// The template is built in a private staging directory and moved into place with one
/// `rename`, so concurrent builders (parallel test binaries) never see a half-built one:
/// the loser of the race throws its copy away and uses the winner's.
pub(crate) async fn ensure_template(root: &Path, mariadbd: &Path) -> Result<PathBuf, SandboxError> {
    let data = root.join("data");
    if root.join(MARKER).is_file() {
        return Ok(data);
    }
    let parent = root.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| SandboxError::io("create directory", parent, e))?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = root
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("template");
    let stage = parent.join(format!(".{name}.tmp-{}-{nanos}", std::process::id()));
    let result = build_template(&stage, mariadbd).await;
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&stage);
        return Err(e);
    }
    match std::fs::rename(&stage, root) {
        Ok(()) => tracing::info!(template = %root.display(), "template datadir created"),
        Err(e) if root.join(MARKER).is_file() => {
            tracing::debug!(error = %e, "another process built the template first");
            let _ = std::fs::remove_dir_all(&stage);
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&stage);
            return Err(SandboxError::io("move template into place at", root, e));
        }
    }
    Ok(data)
}

/// Runs `mariadb-install-db` into `stage/data` with our option file as its first argument.
async fn build_template(stage: &Path, mariadbd: &Path) -> Result<(), SandboxError> {
    let data = stage.join("data");
    std::fs::create_dir_all(&data).map_err(|e| SandboxError::io("create directory", &data, e))?;
    let cnf = stage.join("node.cnf");
    write(&cnf, NODE_CNF)?;
    let extra = stage.join("template-extra.sql");
    write(&extra, TEMPLATE_EXTRA_SQL)?;
    let install_db = find_install_db(mariadbd)?;
    // Its own tmpdir, for the reason process::spawn gives (other servers starting meanwhile
    // would delete the bootstrap's temporary tables in a shared /tmp).
    let tmp = stage.join("tmp");
    std::fs::create_dir_all(&tmp).map_err(|e| SandboxError::io("create directory", &tmp, e))?;
    let mut cmd = tokio::process::Command::new(&install_db);
    cmd.env("TMPDIR", &tmp);
    // --defaults-file must come first, or Debian's /etc/mysql/my.cnf is read too.
    cmd.arg(format!("--defaults-file={}", cnf.display()))
        .arg(format!("--datadir={}", data.display()))
        .arg("--auth-root-authentication-method=socket")
        .arg("--skip-test-db")
        .arg(format!("--extra-file={}", extra.display()));
    if let Some(base) = mariadbd.parent().and_then(Path::parent) {
        cmd.arg(format!("--basedir={}", base.display()));
    }
    if node::running_as_root() {
        cmd.arg("--user=root");
    }
    run(&mut cmd).await?;
    write(&stage.join(MARKER), "ok\n")
}

/// Copies the template datadir to a node's datadir (plain recursive copy).
pub(crate) fn copy_dir(from: &Path, to: &Path) -> Result<(), SandboxError> {
    std::fs::create_dir_all(to).map_err(|e| SandboxError::io("create directory", to, e))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| SandboxError::io("read directory", from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| SandboxError::io("read directory", from, e))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(|e| SandboxError::io("stat", &src, e))?;
        if kind.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(|e| SandboxError::io("copy", &src, e))?;
        }
    }
    Ok(())
}

/// Writes a whole file, mapping the error to one that names the path.
pub(crate) fn write(path: &Path, contents: &str) -> Result<(), SandboxError> {
    std::fs::write(path, contents).map_err(|e| SandboxError::io("write", path, e))
}

/// Runs a command to completion; on failure the error carries its command line and output.
async fn run(cmd: &mut tokio::process::Command) -> Result<String, SandboxError> {
    let line = format!("{:?}", cmd.as_std());
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| SandboxError::Command {
            command: line.clone(),
            reason: e.to_string(),
            output: String::new(),
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(SandboxError::Command {
            command: line,
            reason: out.status.to_string(),
            output: node::tail(&text, 20),
        })
    }
}
