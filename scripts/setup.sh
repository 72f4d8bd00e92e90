#!/usr/bin/env bash
# Installs what myquorum needs and is missing, and nothing else. Idempotent.
#   - MariaDB server + client (mariadbd, mariadb, mariadb-install-db)   via apt-get
#   - haproxy and sysbench (used by bench/)                              via apt-get
#   - chromium and chromium-driver (the dashboard's browser tests)       via apt-get
#   - Connector/J (libmariadb-java) and a JDK, mariadb-test (compat tests) via apt-get
#   - a Python venv at .venv with tests/py/requirements.txt              via python3 -m venv + pip
#   - cargo-nextest, only when missing and a prebuilt one can be had; otherwise test.sh uses cargo test
# Works as root (CI, fresh Debian 12) and as a non-root developer with sudo.
# It never stops or reconfigures a system MariaDB service that apt may start.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

installed=()
log() { printf 'setup: %s\n' "$*" >&2; }

# --- privilege helper -------------------------------------------------------
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
        if [ ! -t 0 ] || [ -n "${CI:-}" ]; then SUDO=(sudo -n); fi
    else
        SUDO=(none)
    fi
fi

apt_updated=0
apt_install() {
    # apt_install PKG... : install Debian packages, running apt-get update once.
    if ! command -v apt-get >/dev/null 2>&1; then
        log "ERROR: apt-get not found; install these packages by hand: $*"
        exit 1
    fi
    if [ "${SUDO[0]:-}" = none ]; then
        log "ERROR: need root or sudo to install: $*"
        log "       run as root, or: sudo apt-get install -y $*"
        exit 1
    fi
    if [ "$apt_updated" -eq 0 ]; then
        log "apt-get update"
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        apt_updated=1
    fi
    log "apt-get install -y $*"
    # policy-rc.d is not touched: if apt starts the system MariaDB service, it may run.
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
    installed+=("$@")
}

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ]; }

# --- MariaDB ----------------------------------------------------------------
need=()
have mariadbd || need+=(mariadb-server)
{ have mariadb && have mariadb-install-db && have mariadb-dump; } || need+=(mariadb-client mariadb-server)  # mariadb-dump: re-provisioning
# haproxy and sysbench: used by bench/
have haproxy || need+=(haproxy)
have sysbench || need+=(sysbench)
if [ "${#need[@]}" -gt 0 ]; then
    # de-duplicate
    mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
    apt_install "${need[@]}"
fi
if ! have mariadbd; then
    log "ERROR: mariadbd still not found (looked in PATH and /usr/sbin)."
    log "       On Debian/Ubuntu: apt-get install -y mariadb-server mariadb-client"
    exit 1
fi

# --- Chromium (the dashboard's browser tests) --------------------------------
# Debian's chromium and its driver; without them those tests skip loudly.
if ! have chromium || ! have chromedriver; then
    if [ "${SUDO[0]:-}" = none ]; then
        log "WARNING: chromium/chromium-driver missing and no root or sudo: the dashboard's browser tests will skip"
    else
        apt_install chromium chromium-driver
    fi
fi

# --- Client compatibility tests: Connector/J + JDK, MariaDB's test runner ------
# tests/compat_java.rs compiles a probe with javac against Debian's Connector/J jar;
# tests/compat_mysqltest.rs runs main-suite tests with mariadb-test.
need=()
[ -f /usr/share/java/mariadb-java-client.jar ] || need+=(libmariadb-java)
if ! have javac || ! have java; then need+=(default-jdk-headless); fi
if ! { have mariadb-test || have mysqltest; } || [ ! -d /usr/share/mysql/mysql-test/main ]; then
    need+=(mariadb-test)
fi
if [ "${#need[@]}" -gt 0 ]; then
    apt_install "${need[@]}"
fi

# --- Python venv ------------------------------------------------------------
VENV="$ROOT/.venv"
REQ="$ROOT/tests/py/requirements.txt"
PY="${PYTHON:-python3}"
if ! command -v "$PY" >/dev/null 2>&1; then
    apt_install python3 python3-venv
fi
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        # Debian splits venv/ensurepip into python3-venv (python3.X-venv).
        ver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
        apt_install python3-venv "python${ver}-venv"
    fi
    log "creating venv $VENV"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    installed+=(".venv")
fi
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    log "pip install -r tests/py/requirements.txt"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ" >&2
    echo "$want" >"$stamp"
    installed+=("python: $(tr '\n' ' ' <"$REQ")")
fi

# --- cargo-nextest (optional) ------------------------------------------------
if ! command -v cargo-nextest >/dev/null 2>&1; then
    # Building nextest from source takes minutes on 2 cores; test.sh falls back to `cargo test`.
    if [ -z "${CI:-}" ] && [ "${MYQUORUM_INSTALL_NEXTEST:-0}" = 1 ] && command -v cargo >/dev/null 2>&1; then
        log "cargo install --locked cargo-nextest"
        cargo install --locked cargo-nextest >&2 && installed+=(cargo-nextest)
    else
        log "cargo-nextest not found: tests will run with cargo test (set MYQUORUM_INSTALL_NEXTEST=1 to build it)"
    fi
fi

if [ "${#installed[@]}" -eq 0 ]; then
    log "nothing to install: everything is present"
else
    log "installed: ${installed[*]}"
fi
