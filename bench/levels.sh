#!/usr/bin/env bash
# What the default level costs: sysbench autocommit read-only and read-write workloads through
# three proxies on the same cluster: CAUSAL (the shipped default, `myquorum up` on 6033),
# CAUSAL without the replica wait (`causal_wait_ms = 0`, `myquorum serve` on 6233) and
# EVENTUAL (`myquorum serve` on 6133), interleaved and repeated; reports median QPS and the
# share of statements each proxy sent to replicas (from its /metrics/prometheus). A
# measurement tool, never a test.
#
# usage: bench/levels.sh [--bin PATH] [--reps N] [--time S] [--threads N] [--primary-port P]
#        [--proxy-port P] [--proxy-http P] [--own-port P] [--out FILE]
# Needs: a running `myquorum up` (by default with its defaults: primary 127.0.0.1:3401,
# replicas 3402-3404, proxy 6033, HTTP 127.0.0.1:9000; --primary-port/--proxy-port/--proxy-http
# name another one's), sysbench, python3, curl. Its own two proxies listen on 6133/6132/9100
# and 6233/6232/9200, or --own-port P .. P+5. --out keeps the per-run lines.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="$HERE/../target/release/myquorum"
REPS=3
TIME=15
THREADS=8
PRIMARY=3401
PROXY=6033
PROXY_HTTP=9000
EV=(6133 6132 9100)
NW=(6233 6232 9200)
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) BIN="$2"; shift 2 ;;
        --reps) REPS="$2"; shift 2 ;;
        --time) TIME="$2"; shift 2 ;;
        --threads) THREADS="$2"; shift 2 ;;
        --primary-port) PRIMARY="$2"; shift 2 ;;
        --proxy-port) PROXY="$2"; shift 2 ;;
        --proxy-http) PROXY_HTTP="$2"; shift 2 ;;
        --own-port) EV=("$2" $(($2 + 1)) $(($2 + 2))); NW=($(($2 + 3)) $(($2 + 4)) $(($2 + 5))); shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
WORK="$(mktemp -d)"
SB=(--db-driver=mysql --mysql-user=app --mysql-password=app --mysql-db=app --tables=4 --table-size=10000)
# serve_toml MYSQL ADMIN HTTP LEVEL-LINES: a `serve` config in front of the running sandbox.
serve_toml() {
    cat <<TOML
[listen]
mysql = "127.0.0.1:$1"
admin = "127.0.0.1:$2"
[proxy]
$4
primary = "instance-1"
users = [{ name = "app", password = "app" }]
nodes = [
  { id = "instance-1", addr = "127.0.0.1:$PRIMARY" },
  { id = "instance-2", addr = "127.0.0.1:$((PRIMARY + 1))" },
  { id = "instance-3", addr = "127.0.0.1:$((PRIMARY + 2))" },
  { id = "instance-4", addr = "127.0.0.1:$((PRIMARY + 3))" },
]
[control_plane]
listen = "127.0.0.1:$3"
TOML
}
serve_toml "${EV[@]}" 'default_consistency = "EVENTUAL"' >"$WORK/eventual.toml"
serve_toml "${NW[@]}" $'default_consistency = "CAUSAL"\ncausal_wait_ms = 0' >"$WORK/nowait.toml"
"$BIN" serve --config "$WORK/eventual.toml" >"$WORK/serve.log" 2>&1 &
SERVE=$!
"$BIN" serve --config "$WORK/nowait.toml" >"$WORK/nowait.log" 2>&1 &
NOWAIT=$!
trap 'kill -INT $SERVE $NOWAIT 2>/dev/null; wait $SERVE $NOWAIT 2>/dev/null; sysbench oltp_common "${SB[@]}" --mysql-host=127.0.0.1 --mysql-port=$PRIMARY cleanup >/dev/null 2>&1; rm -rf "$WORK"' EXIT
for log in serve nowait; do
    for _ in $(seq 1 60); do grep -q "control plane listening" "$WORK/$log.log" 2>/dev/null && break; sleep 1; done
done
sysbench oltp_common "${SB[@]}" --mysql-host=127.0.0.1 --mysql-port=$PRIMARY cleanup >/dev/null 2>&1 || true
sysbench oltp_common "${SB[@]}" --mysql-host=127.0.0.1 --mysql-port=$PRIMARY --threads=4 prepare >/dev/null
sleep 3

# routes PORT: "primary replica" statement counts of the proxy whose HTTP port is PORT
routes() {
    curl -s "127.0.0.1:$1/metrics/prometheus" | python3 -c '
import re, sys
p = r = 0
for line in sys.stdin:
    m = re.match(r"myquorum_queries_total\{route=\"(\w+)\"[^}]*\} (\d+)", line)
    if m:
        if m.group(1) == "primary": p += int(m.group(2))
        else: r += int(m.group(2))
print(p, r)'
}

echo "workload level rep qps primary_stmts replica_stmts" >"$WORK/runs.txt"
for rep in $(seq 1 "$REPS"); do
    for wl in oltp_read_only oltp_read_write; do
        order="CAUSAL CAUSAL-nowait EVENTUAL"
        [ $((rep % 3)) -eq 2 ] && order="CAUSAL-nowait EVENTUAL CAUSAL"
        [ $((rep % 3)) -eq 0 ] && order="EVENTUAL CAUSAL CAUSAL-nowait"
        for level in $order; do
            case "$level" in
                CAUSAL) port=$PROXY; http=$PROXY_HTTP ;;
                CAUSAL-nowait) port=${NW[0]}; http=${NW[2]} ;;
                *) port=${EV[0]}; http=${EV[2]} ;;
            esac
            read -r p0 r0 < <(routes $http)
            # Autocommit statements (--skip_trx) so reads may leave the primary; concurrent
            # DELETE+INSERT of one id collide without a transaction: those errors are counted
            # by sysbench and skipped, as in sysbench.sh's write_only_skip_trx.
            qps=$( (sysbench "$wl" "${SB[@]}" --skip_trx=on --mysql-ignore-errors=1062,1213,1020,1205 \
                --mysql-host=127.0.0.1 --mysql-port=$port --threads="$THREADS" --time="$TIME" \
                --report-interval=0 run 2>&1 || true) \
                | awk '/queries:/ {gsub(/[(]/,"",$3); print $3; exit}')
            read -r p1 r1 < <(routes $http)
            echo "$wl $level $rep ${qps:-0} $((p1 - p0)) $((r1 - r0))" | tee -a "$WORK/runs.txt"
        done
    done
done
[ -n "$OUT" ] && cp "$WORK/runs.txt" "$OUT"
python3 - "$WORK/runs.txt" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]).read().splitlines()[1:]]
print(f"\n{'workload':18} {'level':14} {'median qps':>11} {'to replicas':>12}")
for wl in ("oltp_read_only", "oltp_read_write"):
    for level in ("CAUSAL", "CAUSAL-nowait", "EVENTUAL"):
        rs = [r for r in rows if r[0] == wl and r[1] == level]
        qps = statistics.median(float(r[3]) for r in rs)
        p = sum(int(r[4]) for r in rs); r_ = sum(int(r[5]) for r in rs)
        share = r_ / (p + r_) if p + r_ else 0.0
        print(f"{wl:18} {level:14} {qps:11.0f} {share:12.1%}")
PY
