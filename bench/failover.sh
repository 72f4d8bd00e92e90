#!/usr/bin/env bash
# Repeated failovers under write load: for each level (EVENTUAL, STRONG) a fresh `myquorum up`
# sandbox (4 nodes) in a temp dir, 8 writers on the MySQL port, and N consecutive SIGKILLs of
# the current primary's mariadbd, the old primary rejoining (re-provisioned from the new
# primary with mariadb-dump when it holds writes the cluster never received) between kills.
# Per kill: time from the kill to the first successful write sent after it, client-visible
# errors, acknowledged rows lost and duplicated (checked on the final primary); a summary
# per level (median/max resume time, STRONG-acknowledged rows lost). A measurement tool, never
# a test: it prints and records numbers, it asserts nothing (bench/failover.py does the work).
#
# usage: bench/failover.sh [--bin PATH] [--kills N] [--writers N] [--levels "EVENTUAL STRONG"]
#                          [--base-port P] [--results-dir DIR]
# Ports used: P..P+3 (MariaDB, default 3401), P+10 (MySQL port), P+11 (admin), P+12 (HTTP).
# Needs: mariadbd, the mariadb and mariadb-dump clients, python3 with PyMySQL
# ($MYQUORUM_PYTHON, else python3).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="$HERE/../target/release/myquorum"
KILLS=20
WRITERS=8
LEVELS="EVENTUAL STRONG"
BASE=3401
RESULTS="$HERE/results"
PY="${MYQUORUM_PYTHON:-python3}"
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) BIN="$2"; shift 2 ;;
        --kills) KILLS="$2"; shift 2 ;;
        --writers) WRITERS="$2"; shift 2 ;;
        --levels) LEVELS="$2"; shift 2 ;;
        --base-port) BASE="$2"; shift 2 ;;
        --results-dir) RESULTS="$2"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
MYSQL=$((BASE + 10)); ADMIN=$((BASE + 11)); HTTP=$((BASE + 12))
mkdir -p "$RESULTS"
WORK="$(mktemp -d)"
UP=""
cleanup() {
    if [ -n "$UP" ]; then kill -INT "$UP" 2>/dev/null || true; wait "$UP" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
# Defaults everywhere but the cool-down between automatic failovers (30 s), which would
# otherwise refuse every kill that follows the previous one within 30 s.
cat >"$WORK/bench.toml" <<TOML
[control_plane.failover]
cooldown_ms = 1000
TOML
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
for level in $LEVELS; do
    "$BIN" up --fresh -c "$WORK/bench.toml" --data-dir "$WORK/sandbox-$level" --base-port "$BASE" \
        --listen "127.0.0.1:$MYSQL" --admin-listen "127.0.0.1:$ADMIN" \
        --http-listen "127.0.0.1:$HTTP" --legacy-ports false >"$WORK/up-$level.log" 2>&1 &
    UP=$!
    for _ in $(seq 1 120); do
        grep -q "control plane listening" "$WORK/up-$level.log" 2>/dev/null && break
        kill -0 "$UP" 2>/dev/null || { cat "$WORK/up-$level.log" >&2; exit 1; }
        sleep 1
    done
    "$PY" "$HERE/failover.py" --mysql "127.0.0.1:$MYSQL" --http "127.0.0.1:$HTTP" \
        --data-dir "$WORK/sandbox-$level" --level "$level" --kills "$KILLS" --writers "$WRITERS" \
        --out "$RESULTS/failover-$level-$stamp.json" || echo "failover.py failed for $level" >&2
    kill -INT "$UP"; wait "$UP" || true
    UP=""
done
echo "results: $RESULTS/failover-*-$stamp.json"
