#!/usr/bin/env bash
# One benchmark report: the sysbench comparison (direct / haproxy / myquorum, bench/sysbench.sh),
# the level comparison (bench/levels.sh), `myquorum stress performance` (throughput and
# p50/p95/p99 per consistency level over the MySQL port and HTTP) and a failover measurement
# (bench/failover.sh when it exists, else `myquorum stress failover`), then bench/report.py
# writes bench/results/report-<date>.md, its SVG chart latency-<date>.svg, and REPORT.md (a
# copy of the latest). A measurement tool, never a test: it asserts nothing.
#
# usage: bench/run.sh [--quick] [--bin PATH] [--reps N] [--time S] [--direct H:P] [--proxy H:P]
#                     [--http H:P] [--own-port P] [--skip STEP]... [--results-dir DIR]
#   --quick        a smoke run (1 rep, 3 s runs, fewer workloads, no idle-connection test):
#                  shows the report works, its numbers are not worth comparing
#   --skip STEP    sysbench | levels | stress | failover (repeatable)
# Needs: a running `myquorum up` (primary on --direct, default 127.0.0.1:3401, instance-1 the
# primary; proxy on --proxy, default 127.0.0.1:6033; HTTP on --http, default 127.0.0.1:9000),
# sysbench, haproxy, python3, curl. The failover step stops the primary: it runs last, and
# the old primary comes back as a replica (so instance-1 is no longer the primary afterwards).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="$HERE/../target/release/myquorum"
REPS=3
TIME=15
QUICK=0
DIRECT=127.0.0.1:3401
PROXY=127.0.0.1:6033
HTTP=127.0.0.1:9000
OWN_PORT=""
SKIP=" "
RESULTS="$HERE/results"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1; REPS=1; TIME=3; shift ;;
        --bin) BIN="$2"; shift 2 ;;
        --reps) REPS="$2"; shift 2 ;;
        --time) TIME="$2"; shift 2 ;;
        --direct) DIRECT="$2"; shift 2 ;;
        --proxy) PROXY="$2"; shift 2 ;;
        --http) HTTP="$2"; shift 2 ;;
        --own-port) OWN_PORT="$2"; shift 2 ;;
        --skip) SKIP="$SKIP$2 "; shift 2 ;;
        --results-dir) RESULTS="$2"; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -x "$BIN" ] || { echo "run.sh: no myquorum binary at $BIN (cargo build --release, or --bin)" >&2; exit 2; }
STAMP="$(date -u +%Y%m%d-%H%M%S)"
WORK="$(mktemp -d /tmp/mq-bench-run.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$RESULTS"
PREFIX="$RESULTS/run-$STAMP"
log() { printf '[run %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
skipped() { case "$SKIP" in *" $1 "*) return 0 ;; esac; return 1; }
STEPS="$WORK/steps.tsv"
: >"$STEPS"
step() { # step NAME LOGFILE COMMAND...: runs it, records ok/failed with the log's tail
    local name="$1" logf="$2"; shift 2
    log "$name: $*"
    if "$@" >"$logf" 2>"$WORK/$name.err"; then
        printf '%s\tok\t%s\n' "$name" "$*" >>"$STEPS"
    else
        printf '%s\tfailed (exit %s): %s\t%s\n' "$name" "$?" "$(tail -n 3 "$WORK/$name.err" | tr '\t\n' '  ')" "$*" >>"$STEPS"
        log "$name failed; see the report"
    fi
}

if ! skipped sysbench; then
    SB_ARGS=(--direct "$DIRECT" --proxy "$PROXY" --reps "$REPS" --time "$TIME" --results-dir "$WORK/sb")
    [ "$QUICK" -eq 1 ] && SB_ARGS+=(--threads-list 4 --workloads "point_select write_only" --idle-conns 0 --warmup 1)
    step sysbench "$WORK/sysbench.out" "$HERE/sysbench.sh" "${SB_ARGS[@]}"
    found="$(ls "$WORK"/sb/sysbench-*.json 2>/dev/null | head -n1 || true)"
    [ -n "$found" ] && cp "$found" "$PREFIX-sysbench.json"
fi
if ! skipped levels; then
    LV_ARGS=(--bin "$BIN" --reps "$REPS" --time "$TIME" --primary-port "${DIRECT##*:}"
        --proxy-port "${PROXY##*:}" --proxy-http "${HTTP##*:}" --out "$PREFIX-levels.txt")
    [ -n "$OWN_PORT" ] && LV_ARGS+=(--own-port "$OWN_PORT")
    step levels "$WORK/levels.out" "$HERE/levels.sh" "${LV_ARGS[@]}"
fi
if ! skipped stress; then
    ST_ARGS=(stress performance --mysql "$PROXY" --api "$HTTP" --level all --target both --json)
    if [ "$QUICK" -eq 1 ]; then ST_ARGS+=(--count 300); else ST_ARGS+=(--duration "$TIME"); fi
    step stress "$PREFIX-stress.json" "$BIN" "${ST_ARGS[@]}"
fi
if ! skipped failover; then
    if [ -x "$HERE/failover.sh" ]; then
        step failover "$PREFIX-failover.txt" "$HERE/failover.sh"
    else
        FO_ARGS=(stress failover --mysql "$PROXY" --api "$HTTP" --json --duration $((TIME < 6 ? 6 : TIME)))
        step failover "$PREFIX-failover.json" "$BIN" "${FO_ARGS[@]}"
    fi
fi
cp "$STEPS" "$PREFIX-steps.tsv"
python3 "$HERE/report.py" --prefix "$PREFIX" --stamp "$STAMP" --quick "$QUICK" \
    --reps "$REPS" --time "$TIME" --bin "$BIN" --out "$RESULTS"
log "report: $RESULTS/report-$STAMP.md (also $RESULTS/REPORT.md)"
