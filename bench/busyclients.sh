#!/usr/bin/env bash
# Many connected clients that each run a statement now and then (never idle long enough to
# park): how many backend connections each target makes the servers hold, and at what
# latency. sysbench runs THREADS clients at a total of RATE statements per second against
# each target in turn (interleaved, REPS times); meanwhile the application user's connections
# on every node are counted each second (information_schema.PROCESSLIST, root over the
# nodes' ports). Prints medians per target: QPS, p95 latency (ms), and the median over the
# run's second half of the app connections summed over all nodes.
# A measurement tool, not a test: it never asserts on timings.
#
# usage: bench/busyclients.sh [--reps N] [--time S] [--threads N] [--rate R]
#            [--monitor USER:PASSWORD] --nodes PORT,PORT,... NAME=HOST:PORT...
#   e.g. bench/busyclients.sh --threads 1000 --rate 2000 --nodes 46401,46402,46403,46404 \
#            statement=127.0.0.1:46033 idle_only=127.0.0.1:46133 haproxy=127.0.0.1:46034
# Needs sysbench tables prepared (user/password/db app/app/app, 2 tables of 10,000 rows) and an
# account with PROCESS on the nodes over TCP (--monitor USER:PASSWORD, default the sandbox's
# control account myquorum:myquorum).
set -euo pipefail
REPS=3
TIME=20
THREADS=1000
RATE=2000
NODES=""
MONITOR=myquorum:myquorum
DB_USER=app DB_PASS=app DB_NAME=app TABLES=2 TABLE_SIZE=10000
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) REPS="$2"; shift 2 ;;
        --time) TIME="$2"; shift 2 ;;
        --threads) THREADS="$2"; shift 2 ;;
        --rate) RATE="$2"; shift 2 ;;
        --nodes) NODES="$2"; shift 2 ;;
        --monitor) MONITOR="$2"; shift 2 ;;
        *=*) targets+=("$1"); shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
[ "${#targets[@]}" -gt 0 ] || { echo "name at least one NAME=HOST:PORT target" >&2; exit 2; }
[ -n "$NODES" ] || { echo "--nodes PORT,PORT,... is required" >&2; exit 2; }

# app_connections: the application user's connections summed over all nodes
app_connections() {
    local total=0 port n
    for port in ${NODES//,/ }; do
        n=$(mariadb -h127.0.0.1 -P"$port" -u"${MONITOR%%:*}" -p"${MONITOR#*:}" -N -e \
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '$DB_USER'" 2>/dev/null || echo 0)
        total=$((total + n))
    done
    echo "$total"
}

out=$(mktemp)
samples=$(mktemp)
trap 'rm -f "$out" "$samples"' EXIT
for rep in $(seq 1 "$REPS"); do
    n=${#targets[@]}
    for k in $(seq 0 $((n - 1))); do
        t=${targets[$(((k + rep) % n))]}
        name=${t%%=*} addr=${t#*=} host=${addr%:*} port=${addr##*:}
        : >"$samples"
        (
            sleep $((TIME / 2))
            for _ in $(seq 1 $((TIME / 2 - 1))); do
                app_connections >>"$samples"
                sleep 1
            done
        ) &
        sampler=$!
        result=$(sysbench oltp_point_select --db-driver=mysql --mysql-host="$host" \
            --mysql-port="$port" --mysql-user="$DB_USER" --mysql-password="$DB_PASS" \
            --mysql-db="$DB_NAME" --tables="$TABLES" --table-size="$TABLE_SIZE" \
            --threads="$THREADS" --rate="$RATE" --time="$TIME" --percentile=95 run |
            awk '/queries:/ {gsub(/[()]/, "", $3); q = $3} /95th percentile:/ {p = $3}
                 END {print q, p}')
        wait "$sampler" || true
        conns=$(sort -n "$samples" | awk '{c[NR] = $1} END {print (NR ? c[int((NR + 1) / 2)] : "na")}')
        read -r qps p95 <<<"$result"
        echo "$name $rep $qps $p95 $conns" | tee -a "$out" >&2
        # Let the previous target's connections close before the next one starts.
        sleep 3
    done
done
echo "# oltp_point_select, $THREADS clients at $RATE statements/s in all, $TIME s x $REPS reps (interleaved); medians"
echo "target qps p95_ms app_connections_all_nodes"
for t in "${targets[@]}"; do
    name=${t%%=*}
    line="$name"
    for col in 3 4 5; do
        line="$line $(awk -v n="$name" '$1 == n' "$out" | sort -k"$col" -n |
            awk -v c="$col" '{v[NR] = $c} END {print v[int((NR + 1) / 2)]}')"
    done
    echo "$line"
done
