#!/usr/bin/env bash
# Measures the cost of the proxy hop: sysbench against the MariaDB primary directly, through an
# L4 relay (haproxy, mode tcp, started here) and through myquorum, interleaved, repeated.
# A measurement tool, not a test: it never asserts on timings. See bench/README.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
    cat <<'EOF'
usage: bench/sysbench.sh [options]
  --direct HOST:PORT     MariaDB primary                        (default 127.0.0.1:3401)
  --proxy HOST:PORT      myquorum MySQL port                    (default 127.0.0.1:6033)
  --proxy-pid PID        myquorum pid (default: the process listening on --proxy's port,
                         else the only `pgrep -f 'myquorum (up|serve)'` match)
  --user U --password P --db D                                  (default app / app / app)
  --reps N               repetitions per workload x threads x target   (default 3)
  --time S               seconds per sysbench run                      (default 20)
  --threads-list "4 8"   sysbench thread counts                        (default "4 8")
  --workloads "..."      subset of: point_select read_only write_only read_write write_only_skip_trx
  --tables N --table-size N                                     (default 4 / 10000)
  --warmup S             seconds of untimed point_select per target before the runs (default 5)
  --idle-conns N         idle connections for the RSS measurement, 0 to skip (default 1000)
  --results-dir DIR      where sysbench-<date>.json goes          (default bench/results)
  --keep-logs            keep raw sysbench logs (next to the JSON)
EOF
}

DIRECT=127.0.0.1:3401
PROXY=127.0.0.1:6033
PROXY_PID=""
DB_USER=app
DB_PASS=app
DB_NAME=app
REPS=3
TIME=20
THREADS_LIST="4 8"
WORKLOADS="point_select read_only write_only write_only_skip_trx"
TABLES=4
TABLE_SIZE=10000
WARMUP=5
IDLE_CONNS=1000
RESULTS_DIR="$HERE/results"
KEEP_LOGS=0

while [ $# -gt 0 ]; do
    case "$1" in
        --direct) DIRECT="$2"; shift 2 ;;
        --proxy) PROXY="$2"; shift 2 ;;
        --proxy-pid) PROXY_PID="$2"; shift 2 ;;
        --user) DB_USER="$2"; shift 2 ;;
        --password) DB_PASS="$2"; shift 2 ;;
        --db) DB_NAME="$2"; shift 2 ;;
        --reps) REPS="$2"; shift 2 ;;
        --time) TIME="$2"; shift 2 ;;
        --threads-list) THREADS_LIST="$2"; shift 2 ;;
        --workloads) WORKLOADS="$2"; shift 2 ;;
        --tables) TABLES="$2"; shift 2 ;;
        --table-size) TABLE_SIZE="$2"; shift 2 ;;
        --warmup) WARMUP="$2"; shift 2 ;;
        --idle-conns) IDLE_CONNS="$2"; shift 2 ;;
        --results-dir) RESULTS_DIR="$2"; shift 2 ;;
        --keep-logs) KEEP_LOGS=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "sysbench.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
done

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for tool in sysbench haproxy python3 ss; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install -y sysbench haproxy; or scripts/setup.sh)"
done
case "$REPS$TIME$TABLES$TABLE_SIZE$WARMUP$IDLE_CONNS" in *[!0-9]*) die "numeric options must be integers" ;; esac
[ "$REPS" -ge 1 ] || die "--reps must be >= 1"

split_addr() { # split_addr HOST:PORT -> sets _host _port
    _host="${1%:*}"; _port="${1##*:}"
    [ -n "$_host" ] && [ -n "$_port" ] && [ "$_host" != "$1" ] || die "bad address '$1' (want HOST:PORT)"
}
split_addr "$DIRECT"; DIRECT_HOST=$_host; DIRECT_PORT=$_port
split_addr "$PROXY"; PROXY_HOST=$_host; PROXY_PORT=$_port

# Many idle connections below; raise our own fd limit (haproxy inherits it).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE_CONNS * 2 + 512)) ]; then
    ulimit -n $((IDLE_CONNS * 2 + 512)) 2>/dev/null || log "warning: ulimit -n is $(ulimit -n); idle-connection test may stop early"
fi

# --- myquorum pid --------------------------------------------------------------------------
listener_pid() { # pid of the process listening on 127.0.0.1/any :PORT, if visible
    ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2
}
if [ -z "$PROXY_PID" ]; then
    PROXY_PID="$(listener_pid "$PROXY_PORT" || true)"
fi
if [ -z "$PROXY_PID" ]; then
    mapfile -t cands < <(pgrep -f 'myquorum (up|serve)' || true)
    [ "${#cands[@]}" -eq 1 ] || die "cannot tell myquorum's pid (${#cands[@]} candidates: ${cands[*]:-none}); pass --proxy-pid"
    PROXY_PID="${cands[0]}"
fi
[ -r "/proc/$PROXY_PID/stat" ] || die "no process $PROXY_PID"
log "myquorum pid $PROXY_PID: $(tr '\0' ' ' < "/proc/$PROXY_PID/cmdline" | cut -c1-120)"
proxy_nofile="$(awk '/Max open files/ {print $4}' "/proc/$PROXY_PID/limits" 2>/dev/null || echo '?')"
if [ "$proxy_nofile" != unlimited ] && [ "$proxy_nofile" != '?' ] && [ "$proxy_nofile" -lt $((IDLE_CONNS + 100)) ]; then
    log "warning: myquorum's open-file limit is $proxy_nofile; it may refuse some of the $IDLE_CONNS idle connections"
fi

cpu_ticks() { # utime+stime of PID in clock ticks (fields 14, 15; skip "(comm)")
    local s
    s="$(cat "/proc/$1/stat" 2>/dev/null)" || { echo NA; return; }
    s="${s##*) }"
    awk '{print $12 + $13}' <<<"$s"
}

# --- temp dir, haproxy, cleanup ------------------------------------------------------------
WORK="$(mktemp -d /tmp/mq-sysbench.XXXXXX)"
HAPROXY_PID=""
PREPARED=0
SB_COMMON=()

cleanup() {
    local rc=$?
    set +e
    if [ -n "$HAPROXY_PID" ] && kill -0 "$HAPROXY_PID" 2>/dev/null; then
        kill "$HAPROXY_PID"; wait "$HAPROXY_PID" 2>/dev/null
    fi
    if [ "$PREPARED" -eq 1 ]; then
        log "cleanup: dropping sbtest tables on $DIRECT"
        sysbench oltp_common "${SB_COMMON[@]}" --mysql-host="$DIRECT_HOST" --mysql-port="$DIRECT_PORT" \
            cleanup >"$WORK/cleanup.log" 2>&1 || log "warning: sysbench cleanup failed: $(tail -n 3 "$WORK/cleanup.log")"
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

HAPROXY_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat >"$WORK/haproxy.cfg" <<EOF
global
    maxconn $((IDLE_CONNS * 2 + 1000))
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
EOF
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

target_addr() {
    case "$1" in
        direct) echo "$DIRECT" ;;
        haproxy) echo "$HAPROXY" ;;
        myquorum) echo "$PROXY" ;;
    esac
}

SB_COMMON=(--db-driver=mysql --mysql-user="$DB_USER" --mysql-password="$DB_PASS" --mysql-db="$DB_NAME"
           --tables="$TABLES" --table-size="$TABLE_SIZE")

workload_args() { # workload_args NAME -> sysbench test name + extra args, one per line
    case "$1" in
        point_select) echo oltp_point_select ;;
        read_only) echo oltp_read_only ;;
        write_only) echo oltp_write_only ;;
        read_write) echo oltp_read_write ;;
        # Without a transaction, two threads deleting then re-inserting the same id collide
        # (1062 duplicate key) -- even directly against MariaDB -- so 1062 is ignored (and
        # counted) here, next to sysbench's default list 1213,1020,1205.
        write_only_skip_trx) printf '%s\n' oltp_write_only --skip_trx=on --mysql-ignore-errors=1062,1213,1020,1205 ;;
        *) die "unknown workload '$1'" ;;
    esac
}

for wl in $WORKLOADS; do workload_args "$wl" >/dev/null; done

# --- prepare (directly on the primary) -----------------------------------------------------
log "prepare: $TABLES tables x $TABLE_SIZE rows on $DIRECT"
sysbench oltp_common "${SB_COMMON[@]}" --mysql-host="$DIRECT_HOST" --mysql-port="$DIRECT_PORT" \
    cleanup >"$WORK/precleanup.log" 2>&1 || true
PREPARED=1
sysbench oltp_common "${SB_COMMON[@]}" --mysql-host="$DIRECT_HOST" --mysql-port="$DIRECT_PORT" \
    --threads="$TABLES" prepare >"$WORK/prepare.log" 2>&1 \
    || die "sysbench prepare failed: $(tail -n 5 "$WORK/prepare.log")"

# Give replicas (if myquorum routes reads to them) a moment to apply the prepared tables.
sleep 2


# sb_run TARGET THREADS SECONDS LOG WORKLOAD
sb_run() {
    local addr host port args
    addr="$(target_addr "$1")"; host="${addr%:*}"; port="${addr##*:}"
    mapfile -t args < <(workload_args "$5")
    timeout -k 10 $(($3 + 120)) sysbench "${args[@]}" "${SB_COMMON[@]}" \
        --mysql-host="$host" --mysql-port="$port" --threads="$2" --time="$3" \
        --report-interval=0 --histogram=off --percentile=95 run >"$4" 2>&1
}

if [ "$WARMUP" -gt 0 ]; then
    for t in direct haproxy myquorum; do
        log "warm-up: point_select on $t for ${WARMUP}s"
        sb_run "$t" 4 "$WARMUP" "$WORK/warmup-$t.log" point_select \
            || log "warning: warm-up on $t failed: $(grep -m3 -iE 'fatal|error' "$WORK/warmup-$t.log" || tail -n 3 "$WORK/warmup-$t.log")"
    done
fi

# --- the interleaved runs -------------------------------------------------------------------
TARGETS=(direct haproxy myquorum)
nwl=$(wc -w <<<"$WORKLOADS"); nth=$(wc -w <<<"$THREADS_LIST")
total=$((nwl * nth * REPS * 3)); n=0
log "runs: $total x ${TIME}s (~$((total * (TIME + 2) / 60)) min)"
LOADAVG_START="$(cut -d' ' -f1-3 /proc/loadavg)"
: >"$WORK/manifest.tsv"
for wl in $WORKLOADS; do
    for th in $THREADS_LIST; do
        for ((rep = 0; rep < REPS; rep++)); do
            for ((slot = 0; slot < 3; slot++)); do
                t="${TARGETS[$(((rep + slot) % 3))]}"   # rotate the order each repetition
                n=$((n + 1))
                logf="run-$wl-$th-$rep-$t.log"
                mq0="$(cpu_ticks "$PROXY_PID")"; hp0="$(cpu_ticks "$HAPROXY_PID")"
                t0="$(date +%s.%N)"
                rc=0
                sb_run "$t" "$th" "$TIME" "$WORK/$logf" "$wl" || rc=$?
                t1="$(date +%s.%N)"
                mq1="$(cpu_ticks "$PROXY_PID")"; hp1="$(cpu_ticks "$HAPROXY_PID")"
                wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')"
                qps="$(sed -n 's/^ *queries: *[0-9]* *(\([0-9.]*\) per sec.)/\1/p' "$WORK/$logf")"
                if [ "$rc" -ne 0 ]; then
                    log "[$n/$total] $wl threads=$th rep=$rep $t: FAILED rc=$rc: $(grep -m2 -iE 'fatal|error' "$WORK/$logf" | tr '\n' ' ' || true)"
                else
                    log "[$n/$total] $wl threads=$th rep=$rep $t: ${qps:-?} qps"
                fi
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
                    "$wl" "$th" "$rep" "$slot" "$t" "$rc" "$logf" "$mq0" "$mq1" "$hp0" "$hp1" "$wall" \
                    >>"$WORK/manifest.tsv"
                if [ "$rc" -ne 0 ] && [ "$t" = myquorum ] && ! kill -0 "$PROXY_PID" 2>/dev/null; then
                    log "myquorum (pid $PROXY_PID) is gone; stopping the runs"
                    break 4
                fi
            done
        done
    done
done

# --- RSS per idle client connection --------------------------------------------------------
if [ "$IDLE_CONNS" -gt 0 ]; then
    for t in myquorum haproxy; do
        if [ "$t" = myquorum ]; then pid="$PROXY_PID"; else pid="$HAPROXY_PID"; fi
        kill -0 "$pid" 2>/dev/null || { log "skip RSS for $t: process gone"; continue; }
        log "RSS: $IDLE_CONNS idle connections to $t"
        python3 "$HERE/idleconns.py" --addr "$(target_addr "$t")" --pid "$pid" --count "$IDLE_CONNS" \
            --user "$DB_USER" --password "$DB_PASS" --db "$DB_NAME" --label "$t" \
            >"$WORK/rss-$t.json" 2>"$WORK/rss-$t.err" \
            || log "warning: idle-connection test on $t failed: $(tail -n 3 "$WORK/rss-$t.err")"
        sleep 1
    done
fi

# --- summary ---------------------------------------------------------------------------------
STAMP="$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/sysbench-$STAMP.json"
if [ "$KEEP_LOGS" -eq 1 ]; then
    mkdir -p "$RESULTS_DIR/sysbench-$STAMP-logs"
    cp "$WORK"/*.log "$WORK/manifest.tsv" "$WORK/haproxy.cfg" "$RESULTS_DIR/sysbench-$STAMP-logs/" 2>/dev/null || true
fi
python3 "$HERE/summarize.py" --rundir "$WORK" --out "$OUT" \
    --meta "date=$STAMP" --meta "direct=$DIRECT" --meta "haproxy=$HAPROXY" --meta "proxy=$PROXY" \
    --meta "proxy_pid=$PROXY_PID" --meta "haproxy_pid=$HAPROXY_PID" \
    --meta "reps=$REPS" --meta "time=$TIME" --meta "threads_list=$THREADS_LIST" \
    --meta "workloads=$WORKLOADS" --meta "tables=$TABLES" --meta "table_size=$TABLE_SIZE" \
    --meta "nproc=$(nproc)" --meta "loadavg_start=$LOADAVG_START" \
    --meta "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" \
    --meta "sysbench=$(sysbench --version)" --meta "haproxy_version=$(haproxy -v | head -n1)" \
    --meta "proxy_cmdline=$(tr '\0' ' ' < "/proc/$PROXY_PID/cmdline" 2>/dev/null || true)" \
    --meta "git_rev=$(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo unknown)"
