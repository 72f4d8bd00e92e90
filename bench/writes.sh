#!/usr/bin/env bash
# Write latency and throughput: single-row autocommit INSERTs (sysbench + bench/lua/insert.lua)
# directly on the MariaDB primary, through an L4 relay (haproxy, mode tcp, started here), and
# through myquorum as EVENTUAL, STRONG with t = 1 and STRONG with t = majority; interleaved,
# repeated; plus the measured apply delay of the replicas (bench/applydelay.py) during the
# EVENTUAL runs. A measurement tool, not a test: it prints targets as PASS/MISS and never exits
# non-zero because of a timing. See bench/README.md ("Writes").
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PYTHONDONTWRITEBYTECODE=1

usage() {
    cat <<'EOF2'
usage: bench/writes.sh [options]
  --direct HOST:PORT          MariaDB primary                          (default 127.0.0.1:3401)
  --proxy-t1 HOST:PORT        myquorum with failure_threshold t = 1    (default 127.0.0.1:6033)
                              (serves the EVENTUAL and STRONG(t=1) targets)
  --proxy-majority HOST:PORT  myquorum with t = majority, same servers (default: none; the
                              strong_majority target is skipped without it)
  --replicas H:P,H:P,...      replicas for the apply-delay probe (default: the three ports after
                              --direct's on the same host, the `myquorum up` layout)
  --user U --password P --db D                    application user     (default app / app / app)
  --probe-user U --probe-password P               user on the replicas for MASTER_GTID_WAIT
                                                                       (default myquorum / myquorum)
  --reps N                    repetitions per threads x target         (default 3)
  --time S                    seconds per sysbench run                 (default 10)
  --threads-list "1 8 32"     sysbench thread counts                   (default "1 8 32")
  --targets "..."             subset of: direct haproxy eventual strong_t1 strong_majority
  --warmup S                  untimed 8-thread run per target first, 0 to skip   (default 3)
  --probe-interval S          seconds between apply-delay samples      (default 0.05)
  --catchup-timeout S         longest wait for the replicas to catch up after a run (default 600)
  --results-dir DIR           where writes-<date>.json goes            (default bench/results)
  --keep-logs                 keep raw sysbench and probe logs (next to the JSON)
EOF2
}

DIRECT=127.0.0.1:3401
PROXY_T1=127.0.0.1:6033
PROXY_MAJ=""
REPLICAS=""
DB_USER=app
DB_PASS=app
DB_NAME=app
PROBE_USER=myquorum
PROBE_PASS=myquorum
REPS=3
TIME=10
THREADS_LIST="1 8 32"
TARGETS_OPT="direct haproxy eventual strong_t1 strong_majority"
WARMUP=3
PROBE_INTERVAL=0.05
CATCHUP_TIMEOUT=600
RESULTS_DIR="$HERE/results"
KEEP_LOGS=0

while [ $# -gt 0 ]; do
    case "$1" in
        --direct) DIRECT="$2"; shift 2 ;;
        --proxy-t1|--proxy) PROXY_T1="$2"; shift 2 ;;
        --proxy-majority) PROXY_MAJ="$2"; shift 2 ;;
        --replicas) REPLICAS="$2"; shift 2 ;;
        --user) DB_USER="$2"; shift 2 ;;
        --password) DB_PASS="$2"; shift 2 ;;
        --db) DB_NAME="$2"; shift 2 ;;
        --probe-user) PROBE_USER="$2"; shift 2 ;;
        --probe-password) PROBE_PASS="$2"; shift 2 ;;
        --reps) REPS="$2"; shift 2 ;;
        --time) TIME="$2"; shift 2 ;;
        --threads-list) THREADS_LIST="$2"; shift 2 ;;
        --targets) TARGETS_OPT="$2"; shift 2 ;;
        --warmup) WARMUP="$2"; shift 2 ;;
        --probe-interval) PROBE_INTERVAL="$2"; shift 2 ;;
        --catchup-timeout) CATCHUP_TIMEOUT="$2"; shift 2 ;;
        --results-dir) RESULTS_DIR="$2"; shift 2 ;;
        --keep-logs) KEEP_LOGS=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "writes.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
done

log() { printf '[writes %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for tool in sysbench haproxy python3 ss timeout; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install -y sysbench haproxy; or scripts/setup.sh)"
done
case "$REPS$TIME$WARMUP" in *[!0-9]*) die "--reps, --time, --warmup must be integers" ;; esac
[ "$REPS" -ge 1 ] || die "--reps must be >= 1"
[ "$TIME" -ge 3 ] || die "--time must be >= 3"

split_addr() { # split_addr HOST:PORT -> sets _host _port
    _host="${1%:*}"; _port="${1##*:}"
    [ -n "$_host" ] && [ -n "$_port" ] && [ "$_host" != "$1" ] || die "bad address '$1' (want HOST:PORT)"
}
split_addr "$DIRECT"; DIRECT_HOST=$_host; DIRECT_PORT=$_port
split_addr "$PROXY_T1"
if [ -n "$PROXY_MAJ" ]; then split_addr "$PROXY_MAJ"; fi
if [ -z "$REPLICAS" ]; then
    REPLICAS="$DIRECT_HOST:$((DIRECT_PORT + 1)),$DIRECT_HOST:$((DIRECT_PORT + 2)),$DIRECT_HOST:$((DIRECT_PORT + 3))"
fi
IFS=, read -r -a _reps <<<"$REPLICAS"
for r in "${_reps[@]}"; do split_addr "$r"; done

TARGETS=()
for t in $TARGETS_OPT; do
    case "$t" in
        direct|haproxy|eventual|strong_t1) TARGETS+=("$t") ;;
        strong_majority)
            if [ -n "$PROXY_MAJ" ]; then TARGETS+=("$t")
            else log "warning: no --proxy-majority; skipping the strong_majority target"; fi ;;
        *) die "unknown target '$t'" ;;
    esac
done
NT=${#TARGETS[@]}
[ "$NT" -ge 1 ] || die "no targets"

listener_pid() {
    ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2
}

# --- temp dir, haproxy, cleanup ------------------------------------------------------------
WORK="$(mktemp -d /tmp/mq-writes.XXXXXX)"
HAPROXY_PID=""
PROBE_PID=""
PREPARED=0
SB_COMMON=(--db-driver=mysql --mysql-user="$DB_USER" --mysql-password="$DB_PASS" --mysql-db="$DB_NAME")
LUA="$HERE/lua/insert.lua"

cleanup() {
    local rc=$?
    set +e
    if [ -n "$PROBE_PID" ] && kill -0 "$PROBE_PID" 2>/dev/null; then
        kill "$PROBE_PID"; wait "$PROBE_PID" 2>/dev/null
    fi
    if [ -n "$HAPROXY_PID" ] && kill -0 "$HAPROXY_PID" 2>/dev/null; then
        kill "$HAPROXY_PID"; wait "$HAPROXY_PID" 2>/dev/null
    fi
    if [ "$PREPARED" -eq 1 ]; then
        log "cleanup: dropping bench_writes on $DIRECT"
        sysbench "$LUA" "${SB_COMMON[@]}" --mysql-host="$DIRECT_HOST" --mysql-port="$DIRECT_PORT" \
            cleanup >"$WORK/cleanup.log" 2>&1 || log "warning: cleanup failed: $(tail -n 3 "$WORK/cleanup.log")"
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

HAPROXY=""
if [[ " ${TARGETS[*]} " == *" haproxy "* ]]; then
    HAPROXY_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    cat >"$WORK/haproxy.cfg" <<EOF2
global
    maxconn 4000
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend mysql_in
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend mysql_primary
backend mysql_primary
    server primary $DIRECT_HOST:$DIRECT_PORT
EOF2
    haproxy -c -q -f "$WORK/haproxy.cfg" || die "haproxy rejected the generated config"
    haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
    HAPROXY_PID=$!
    for _ in $(seq 50); do
        [ -n "$(listener_pid "$HAPROXY_PORT")" ] && break
        kill -0 "$HAPROXY_PID" 2>/dev/null || die "haproxy exited: $(cat "$WORK/haproxy.log")"
        sleep 0.1
    done
    HAPROXY="127.0.0.1:$HAPROXY_PORT"
    log "haproxy pid $HAPROXY_PID on $HAPROXY -> $DIRECT ($(haproxy -v | head -n1 | cut -d' ' -f1-3))"
fi

target_addr() {
    case "$1" in
        direct) echo "$DIRECT" ;;
        haproxy) echo "$HAPROXY" ;;
        eventual|strong_t1) echo "$PROXY_T1" ;;
        strong_majority) echo "$PROXY_MAJ" ;;
    esac
}
target_consistency() {
    case "$1" in
        eventual) echo EVENTUAL ;;
        strong_t1|strong_majority) echo STRONG ;;
        *) echo "" ;;
    esac
}

# --- prepare (directly on the primary) -----------------------------------------------------
log "prepare: bench_writes on $DIRECT; replicas for the probe: $REPLICAS"
sysbench "$LUA" "${SB_COMMON[@]}" --mysql-host="$DIRECT_HOST" --mysql-port="$DIRECT_PORT" \
    cleanup >"$WORK/precleanup.log" 2>&1 || true
PREPARED=1
sysbench "$LUA" "${SB_COMMON[@]}" --mysql-host="$DIRECT_HOST" --mysql-port="$DIRECT_PORT" \
    prepare >"$WORK/prepare.log" 2>&1 || die "prepare failed: $(tail -n 5 "$WORK/prepare.log")"
sleep 1

# sb_run TARGET THREADS SECONDS LOG
# --percentile=50 makes sysbench print p50 itself; --histogram=on prints the whole latency
# histogram of the run, from which summarize_writes.py takes p95 (and cross-checks p50).
sb_run() {
    local addr host port cons extra=()
    addr="$(target_addr "$1")"; host="${addr%:*}"; port="${addr##*:}"
    cons="$(target_consistency "$1")"
    [ -n "$cons" ] && extra=(--consistency="$cons")
    timeout -k 10 $(($3 + 120)) sysbench "$LUA" "${SB_COMMON[@]}" "${extra[@]}" \
        --mysql-host="$host" --mysql-port="$port" --threads="$2" --time="$3" \
        --report-interval=0 --histogram=on --percentile=50 run >"$4" 2>&1
}

# catchup LABEL SINCE -> waits until every replica has applied the primary's whole binlog and
# prints the seconds from SINCE (epoch seconds: the end of the run) until the last replica had
# (floor: the probe's start-up, 0.1-0.4 s on a loaded machine), or "NA". For EVENTUAL runs this includes the time the
# apply-delay probe spent draining its last samples. Every timed run therefore starts from a
# caught-up cluster: a STRONG run never pays for the backlog of the run before it.
catchup() {
    local out
    out="$(python3 "$HERE/applydelay.py" --catchup --primary "$DIRECT" --replicas "$REPLICAS" \
        --user "$DB_USER" --password "$DB_PASS" --db "$DB_NAME" \
        --probe-user "$PROBE_USER" --probe-password "$PROBE_PASS" --catchup-timeout "$CATCHUP_TIMEOUT" \
        2>"$WORK/catchup.err")" || { log "warning: catch-up check failed ($1): $(tail -n 2 "$WORK/catchup.err")"; echo NA; return; }
    python3 -c 'import json,sys
d = json.loads(sys.argv[1]); at = d.get("caught_up_at")
print("NA" if at is None else "%.3f" % max(0.0, at - float(sys.argv[2])))' "$out" "$2"
}

if [ "$WARMUP" -gt 0 ]; then
    for t in "${TARGETS[@]}"; do
        log "warm-up: $t, 8 threads, ${WARMUP}s"
        sb_run "$t" 8 "$WARMUP" "$WORK/warmup-$t.log" \
            || log "warning: warm-up on $t failed: $(grep -m3 -iE 'fatal|error' "$WORK/warmup-$t.log" || tail -n 3 "$WORK/warmup-$t.log")"
    done
fi

# --- the interleaved runs -------------------------------------------------------------------
nth=$(wc -w <<<"$THREADS_LIST")
total=$((nth * REPS * NT)); n=0
log "runs: $total x ${TIME}s (~$((total * (TIME + 2) / 60)) min), targets: ${TARGETS[*]}"
LOADAVG_START="$(cut -d' ' -f1-3 /proc/loadavg)"
PROBE_DUR="$(awk -v t="$TIME" 'BEGIN {printf "%.1f", t - 1.5}')"
: >"$WORK/manifest.tsv"
log "replicas caught up after the warm-up in $(catchup warmup "$(date +%s.%N)") s"
for th in $THREADS_LIST; do
    for ((rep = 0; rep < REPS; rep++)); do
        for ((slot = 0; slot < NT; slot++)); do
            t="${TARGETS[$(((rep + slot) % NT))]}"   # rotate the order each repetition
            n=$((n + 1))
            logf="run-$th-$rep-$t.log"
            probef="-"
            if [ "$t" = eventual ]; then
                # the apply-delay probe runs alongside the EVENTUAL run (it starts 0.5 s in,
                # once sysbench's threads are connected, and ends 1 s before the run does)
                probef="probe-$th-$rep.json"
                ( sleep 0.5; exec python3 "$HERE/applydelay.py" --primary "$DIRECT" --replicas "$REPLICAS" \
                    --user "$DB_USER" --password "$DB_PASS" --db "$DB_NAME" \
                    --probe-user "$PROBE_USER" --probe-password "$PROBE_PASS" \
                    --duration "$PROBE_DUR" --interval "$PROBE_INTERVAL" --label "eventual-$th-$rep" \
                    >"$WORK/$probef" 2>"$WORK/$probef.err" ) &
                PROBE_PID=$!
            fi
            t0="$(date +%s.%N)"
            rc=0
            sb_run "$t" "$th" "$TIME" "$WORK/$logf" || rc=$?
            t1="$(date +%s.%N)"
            load1="$(cut -d' ' -f1 /proc/loadavg)"
            if [ -n "$PROBE_PID" ]; then
                wait "$PROBE_PID" || log "warning: apply-delay probe failed: $(tail -n 3 "$WORK/$probef.err")"
                PROBE_PID=""
            fi
            catch="$(catchup "$t-$th-$rep" "$t1")"
            wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')"
            tps="$(sed -n 's/^ *transactions: *[0-9]* *(\([0-9.]*\) per sec.)/\1/p' "$WORK/$logf")"
            p50="$(sed -n 's/^ *50th percentile: *\([0-9.]*\)/\1/p' "$WORK/$logf")"
            if [ "$rc" -ne 0 ]; then
                log "[$n/$total] threads=$th rep=$rep $t: FAILED rc=$rc: $(grep -m2 -iE 'fatal|error' "$WORK/$logf" | tr '\n' ' ' || true)"
            else
                log "[$n/$total] threads=$th rep=$rep $t: ${tps:-?} inserts/s, p50 ${p50:-?} ms (load $load1; replicas caught up ${catch}s after)"
            fi
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
                "$t" "$th" "$rep" "$slot" "$rc" "$logf" "$wall" "$load1" "$probef" "$catch" >>"$WORK/manifest.tsv"
        done
    done
done

# --- summary ---------------------------------------------------------------------------------
STAMP="$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/writes-$STAMP.json"
if [ "$KEEP_LOGS" -eq 1 ]; then
    mkdir -p "$RESULTS_DIR/writes-$STAMP-logs"
    cp "$WORK"/*.log "$WORK"/*.json "$WORK/manifest.tsv" "$RESULTS_DIR/writes-$STAMP-logs/" 2>/dev/null || true
    [ -f "$WORK/haproxy.cfg" ] && cp "$WORK/haproxy.cfg" "$RESULTS_DIR/writes-$STAMP-logs/"
fi
python3 "$HERE/summarize_writes.py" --rundir "$WORK" --out "$OUT" \
    --meta "date=$STAMP" --meta "direct=$DIRECT" --meta "haproxy=$HAPROXY" \
    --meta "proxy_t1=$PROXY_T1" --meta "proxy_majority=$PROXY_MAJ" --meta "replicas=$REPLICAS" \
    --meta "reps=$REPS" --meta "time=$TIME" --meta "threads_list=$THREADS_LIST" \
    --meta "targets=${TARGETS[*]}" --meta "probe_interval=$PROBE_INTERVAL" \
    --meta "nproc=$(nproc)" --meta "loadavg_start=$LOADAVG_START" \
    --meta "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" \
    --meta "sysbench=$(sysbench --version)" --meta "haproxy_version=$(haproxy -v | head -n1)" \
    --meta "proxy_t1_cmdline=$(p=$(listener_pid "${PROXY_T1##*:}"); [ -n "$p" ] && tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null || true)" \
    --meta "proxy_majority_cmdline=$(p=$([ -n "$PROXY_MAJ" ] && listener_pid "${PROXY_MAJ##*:}"); [ -n "$p" ] && tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null || true)" \
    --meta "git_rev=$(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo unknown)"
