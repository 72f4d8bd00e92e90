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

if command -v cargo-nextest >/dev/null 2>&1; then
    exec cargo nextest run --workspace --no-fail-fast --test-threads "$threads" "$@"
else
    exec cargo test --workspace --no-fail-fast "$@" -- --test-threads "$threads"
fi
