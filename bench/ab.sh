#!/usr/bin/env bash
# A/B of running servers: sysbench against each target in turn (interleaved, rotating the
# order every repetition), medians of QPS and of the target process's CPU per 1,000 queries,
# all of it and user space alone (the part the proxy's own code decides; the rest is the
# kernel's socket work and wake-ups).
# For before/after numbers of one change: start the old and the new binary with `myquorum
# serve` on the same cluster and name both, plus haproxy and the primary for reference.
# A measurement tool, not a test: it never asserts on timings.
#
# usage: bench/ab.sh [--reps N] [--time S] [--threads N] [--workload W] NAME=HOST:PORT...
#        [--sysbench-args "--skip_trx=on ..."]   (passed to every sysbench run)
#   e.g. bench/ab.sh --workload oltp_point_select before=127.0.0.1:46233 after=127.0.0.1:46333 \
#            haproxy=127.0.0.1:46034 direct=127.0.0.1:46401
# Needs sysbench tables prepared in the target database (default user/password/db app/app/app,
# 2 tables of 10,000 rows: `sysbench oltp_common ... --tables=2 prepare`).
set -euo pipefail
REPS=5
TIME=10
THREADS=4
WORKLOAD=oltp_point_select
DB_USER=app DB_PASS=app DB_NAME=app TABLES=2 TABLE_SIZE=10000
targets=()
EXTRA=()
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) REPS="$2"; shift 2 ;;
        --time) TIME="$2"; shift 2 ;;
        --threads) THREADS="$2"; shift 2 ;;
        --workload) WORKLOAD="$2"; shift 2 ;;
        --tables) TABLES="$2"; shift 2 ;;
        --sysbench-args) read -r -a EXTRA <<<"$2"; shift 2 ;;
        *=*) targets+=("$1"); shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
[ "${#targets[@]}" -gt 0 ] || { echo "name at least one NAME=HOST:PORT target" >&2; exit 2; }

# pid_of PORT: the process listening on 127.0.0.1:PORT
pid_of() { ss -Hltnp "sport = :$1" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1; }
# cpu_ticks PID: "utime+stime utime" of the whole process (all threads), in clock ticks
cpu_ticks() { awk '{print $14 + $15, $14}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
# per_k TICKS QUERIES: CPU milliseconds per 1,000 queries
per_k() { awk -v d="$1" -v hz="$HZ" -v q="$2" 'BEGIN { printf "%.1f", d * 1000 / hz / (q / 1000) }'; }

# With the kernel's autogroup scheduling on (Debian's default), CPU time is shared fairly
# between sessions first, then between the processes of one session: a proxy that shares its
# session with the MariaDB servers (the one `myquorum up` runs) is scheduled unlike one
# started on its own (`myquorum serve`, haproxy), and measured a third more CPU per point
# select in the second case with the same binary (bench/README.md). Compare targets started
# the same way; the check below says when they were not.
if [ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo 0)" = 1 ]; then
    for t in "${targets[@]}"; do
        port=${t##*:} pid=$(pid_of "$port")
        [ -n "$pid" ] || continue
        peers=$(ps -o comm= -s "$(ps -o sid= -p "$pid" | tr -d ' ')" | grep -c -v -e '^myquorum' -e '^haproxy' || true)
        if [ "$peers" -gt 0 ]; then
            echo "warning: ${t%%=*} shares its session (autogroup) with $peers other processes" \
                "(servers?): its CPU figures are not comparable with the other targets'" >&2
        fi
    done
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for rep in $(seq 1 "$REPS"); do
    n=${#targets[@]}
    for k in $(seq 0 $((n - 1))); do
        t=${targets[$(((k + rep) % n))]}
        name=${t%%=*} addr=${t#*=} host=${addr%:*} port=${addr##*:}
        pid=$(pid_of "$port")
        read -r before before_user < <(cpu_ticks "$pid")
        qps_and_total=$(sysbench "$WORKLOAD" --db-driver=mysql --mysql-host="$host" \
            --mysql-port="$port" --mysql-user="$DB_USER" --mysql-password="$DB_PASS" \
            --mysql-db="$DB_NAME" --tables="$TABLES" --table-size="$TABLE_SIZE" \
            --threads="$THREADS" --time="$TIME" "${EXTRA[@]}" run |
            awk '/queries:/ {gsub(/[()]/, "", $3); print $3, $2}')
        read -r after after_user < <(cpu_ticks "$pid")
        read -r qps total <<<"$qps_and_total"
        cpu_ms_per_k=$(per_k $((after - before)) "$total")
        user_ms_per_k=$(per_k $((after_user - before_user)) "$total")
        echo "$name $rep $qps $cpu_ms_per_k $user_ms_per_k" | tee -a "$out" >&2
    done
done
echo "# $WORKLOAD, $THREADS threads, $TIME s x $REPS reps (interleaved); medians"
echo "target qps cpu_ms_per_1000_queries user_ms_per_1000_queries"
# median NAME COLUMN: the median of one column of a target's runs
median() { awk -v n="$1" '$1 == n' "$out" | sort -k"$2" -n | awk -v c="$2" '{v[NR] = $c} END {printf "%s", v[int((NR + 1) / 2)]}'; }
for t in "${targets[@]}"; do
    name=${t%%=*}
    echo "$name $(median "$name" 3) $(median "$name" 4) $(median "$name" 5)"
done
