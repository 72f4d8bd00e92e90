#!/usr/bin/env bash
# Quick start: install what is missing, build, and bring up 4 MariaDB servers + the proxy
# (MySQL protocol on 127.0.0.1:6033). Extra arguments go to `myquorum up` (see --help).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh
cargo build --release --bin myquorum
exec target/release/myquorum up "$@"
