#!/usr/bin/env bash
# Runs the whole test suite (unit tests + integration tests against real MariaDB clusters).
# Exits non-zero when any test fails. Extra arguments go to the test runner.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh

export MYQUORUM_PYTHON="$ROOT/.venv/bin/python"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
# Each integration-test binary starts its own 4-node cluster: on 2 cores, run at most
# two tests at once.
threads="${MYQUORUM_TEST_THREADS:-2}"

status=0
if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast --test-threads "$threads" "$@" || status=$?
else
    cargo test --workspace --no-fail-fast "$@" -- --test-threads "$threads" || status=$?
fi

# The Docker Compose deployment, built and run for real (README "Docker Compose"): needs root
# (it installs Docker and starts dockerd); it skips loudly by itself where dockerd cannot start.
# MYQUORUM_SKIP_DOCKER=1 leaves it out (e.g. when iterating on one test).
if [ "$#" -gt 0 ] || [ -n "${MYQUORUM_SKIP_DOCKER:-}" ]; then
    echo "test.sh: Docker Compose test not run (a test filter was given, or MYQUORUM_SKIP_DOCKER is set)" >&2
elif [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: SKIPPED the Docker Compose test: it needs root (run scripts/docker-test.sh as root)" >&2
else
    scripts/docker-test.sh || status=$?
fi
exit "$status"
