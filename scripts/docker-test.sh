#!/usr/bin/env bash
# Builds and runs the docker-compose deployment for real, checks it through the proxy, and
# takes it down again (README "Docker Compose"). As root:
#   1. installs docker.io, docker-compose and debootstrap when missing (apt-get);
#   2. uses the running dockerd, or starts one (--bridge=none --iptables=false
#      --ip6tables=false: every service uses the host's network) and stops it at the end;
#   3. makes the base image debian:bookworm-slim with debootstrap when it is missing (these
#      machines cannot pull images; the image stays cached for the next run);
#   4. builds myquorum on the host (cargo; MQ_DOCKER_PROFILE=debug|release, default debug)
#      and copies it, stripped, to docker/bin/myquorum for the image;
#   5. docker-compose build, up (the four nodes first, then wire and myquorum), waits for
#      health; a STRONG write then a read through the proxy's MySQL port, the row on all four
#      nodes, GET /status with 4 nodes and a primary;
#   6. docker-compose down -v.
# Exits 0 with a SKIPPED message only when dockerd cannot start here; any other failure
# exits 1. Never touches the machine's MariaDB on 3306: every port is set below.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PROJECT=myquorum-dockertest
# Ports on 127.0.0.1 (host networking); override with the same variables.
export MQ_DOCKER_NODE1_PORT="${MQ_DOCKER_NODE1_PORT:-48001}"
export MQ_DOCKER_NODE2_PORT="${MQ_DOCKER_NODE2_PORT:-48002}"
export MQ_DOCKER_NODE3_PORT="${MQ_DOCKER_NODE3_PORT:-48003}"
export MQ_DOCKER_NODE4_PORT="${MQ_DOCKER_NODE4_PORT:-48004}"
export MQ_DOCKER_MYSQL_PORT="${MQ_DOCKER_MYSQL_PORT:-48033}"
export MQ_DOCKER_ADMIN_PORT="${MQ_DOCKER_ADMIN_PORT:-48032}"
export MQ_DOCKER_HTTP_PORT="${MQ_DOCKER_HTTP_PORT:-48090}"
export MQ_DOCKER_ADMIN_PASSWORD="${MQ_DOCKER_ADMIN_PASSWORD:-docker-test-$$}"
PROFILE="${MQ_DOCKER_PROFILE:-debug}"
HEALTH_TIMEOUT=180

T0=$SECONDS
log() { echo "docker-test [$((SECONDS - T0))s]: $*" >&2; }
die() { log "FAILED: $*"; exit 1; }
compose() { docker-compose -p "$PROJECT" "$@"; }

[ "$(id -u)" = 0 ] || die "run as root (installs packages and starts dockerd)"

# --- 1. packages ---------------------------------------------------------------------------
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null \
        || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null; } \
        || die "apt-get install ${missing[*]}"
fi

# --- 2. dockerd ----------------------------------------------------------------------------
DOCKERD_PID=""
WORK="$(mktemp -d /tmp/myquorum-docker-test.XXXXXX)"
# SIGTERM to the dockerd we started; SIGKILL if it has not exited after 30 s.
stop_dockerd() {
    kill "$DOCKERD_PID" 2>/dev/null || true
    for _ in $(seq 1 30); do
        case "$(ps -o stat= -p "$DOCKERD_PID" 2>/dev/null)" in "" | Z*) break ;; esac
        sleep 1
    done
    kill -KILL "$DOCKERD_PID" 2>/dev/null || true
    wait "$DOCKERD_PID" 2>/dev/null || true
    DOCKERD_PID=""
}
cleanup() {
    local rc=$?
    if [ $rc -ne 0 ] && docker info >/dev/null 2>&1; then
        log "state at failure:"
        compose ps >&2 || true
        compose logs --tail=40 >&2 || true
    fi
    if docker info >/dev/null 2>&1; then
        compose down -v --remove-orphans >/dev/null 2>&1 || log "docker-compose down -v failed"
    fi
    if [ -n "$DOCKERD_PID" ]; then
        log "stopping the dockerd this script started (pid $DOCKERD_PID)"
        stop_dockerd
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT

if docker info >/dev/null 2>&1; then
    log "using the running dockerd"
else
    log "starting dockerd --bridge=none --iptables=false --ip6tables=false"
    dockerd --bridge=none --iptables=false --ip6tables=false >"$WORK/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 1 30); do
        docker info >/dev/null 2>&1 && break
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        sleep 1
    done
    if ! docker info >/dev/null 2>&1; then
        echo "================================================================" >&2
        echo "SKIPPED: docker-test: dockerd cannot start on this machine." >&2
        echo "--- last lines of its log ---" >&2
        tail -n 15 "$WORK/dockerd.log" >&2 || true
        echo "================================================================" >&2
        stop_dockerd
        exit 0
    fi
fi

# --- 3. base image -------------------------------------------------------------------------
if docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
    log "base image debian:bookworm-slim cached"
else
    # The mirror apt already uses (deb822 or one-line sources), else Debian's default.
    mirror="$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list.d /etc/apt/sources.list 2>/dev/null \
        | head -n 1 | tr -d ' ' || true)"
    mirror="${mirror:-http://deb.debian.org/debian}"
    log "making debian:bookworm-slim with debootstrap from $mirror"
    debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap"; }
    tar -C "$WORK/rootfs" -c . | docker import - debian:bookworm-slim >/dev/null
    rm -rf "$WORK/rootfs"
fi
T_BASE=$SECONDS

# --- 4. the myquorum binary ----------------------------------------------------------------
target="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ "$PROFILE" = release ]; then
    log "cargo build --release --bin myquorum"
    cargo build --release --bin myquorum
else
    log "cargo build --bin myquorum (debug; MQ_DOCKER_PROFILE=release for a release binary)"
    cargo build --bin myquorum
    PROFILE=debug
fi
mkdir -p docker/bin
strip -o docker/bin/myquorum "$target/$PROFILE/myquorum" 2>/dev/null \
    || cp "$target/$PROFILE/myquorum" docker/bin/myquorum
T_CARGO=$SECONDS

# --- 5. build, up, health, checks ----------------------------------------------------------
for port in "$MQ_DOCKER_NODE1_PORT" "$MQ_DOCKER_NODE2_PORT" "$MQ_DOCKER_NODE3_PORT" \
    "$MQ_DOCKER_NODE4_PORT" "$MQ_DOCKER_MYSQL_PORT" "$MQ_DOCKER_ADMIN_PORT" "$MQ_DOCKER_HTTP_PORT"; do
    if ss -Hltn "sport = :$port" | grep -q .; then
        die "port $port on this machine is taken (set the MQ_DOCKER_*_PORT variables)"
    fi
done
compose down -v --remove-orphans >/dev/null 2>&1 || true # a previous run killed midway

log "docker-compose build"
compose build >"$WORK/build.log" 2>&1 || { tail -n 30 "$WORK/build.log" >&2; die "docker-compose build"; }
T_BUILD=$SECONDS

# Waits until every named service's container reports healthy.
wait_healthy() {
    local deadline=$((SECONDS + HEALTH_TIMEOUT)) service id state
    for service in "$@"; do
        while :; do
            id="$(compose ps -q "$service")"
            state="$(docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id" 2>/dev/null || echo missing)"
            [ "$state" = "running healthy" ] && break
            case "$state" in exited* | dead* | missing) die "$service is $state" ;; esac
            [ $SECONDS -lt $deadline ] || die "$service not healthy after ${HEALTH_TIMEOUT}s ($state)"
            sleep 1
        done
        log "$service healthy"
    done
}

# The nodes first, waited for here (a node that fails is named, with its logs); then `up -d`
# of the rest runs wire and, once it exited 0, myquorum (what a plain `up -d` does too).
log "docker-compose up -d (nodes)"
compose up -d instance-1 instance-2 instance-3 instance-4
wait_healthy instance-1 instance-2 instance-3 instance-4
log "docker-compose up -d (wire, myquorum)"
compose up -d
wire_id="$(compose ps -q wire)"
[ "$(docker inspect -f '{{.State.ExitCode}}' "$wire_id")" = 0 ] || die "wire exited non-zero"
compose logs --no-color wire | tail -n 1 >&2
wait_healthy myquorum
T_UP=$SECONDS

SQL=(mariadb --protocol=tcp -h127.0.0.1 -P"$MQ_DOCKER_MYSQL_PORT" -uapp -papp app -N -B)
email="docker-test-$$-$(date +%s%N)@example.invalid"
log "STRONG write then a read through the proxy (127.0.0.1:$MQ_DOCKER_MYSQL_PORT)"
"${SQL[@]}" -e "SET myquorum_consistency='STRONG'; INSERT INTO users(name, email) VALUES ('docker-test', '$email')" \
    || die "STRONG INSERT through the proxy"
got="$("${SQL[@]}" -e "SELECT name FROM users WHERE email='$email'")" || die "SELECT through the proxy"
[ "$got" = docker-test ] || die "read through the proxy returned '$got', expected 'docker-test'"
for k in 1 2 3 4; do
    n="$(compose exec -T "instance-$k" mariadb --socket=/run/mysqld/mysqld.sock -N -B \
        -e "SELECT COUNT(*) FROM app.users WHERE email='$email'")" || die "query instance-$k"
    # A STRONG write is on a quorum at once; the others get it within moments.
    for _ in $(seq 1 20); do
        [ "$n" = 1 ] && break
        sleep 0.5
        n="$(compose exec -T "instance-$k" mariadb --socket=/run/mysqld/mysqld.sock -N -B \
            -e "SELECT COUNT(*) FROM app.users WHERE email='$email'")"
    done
    [ "$n" = 1 ] || die "instance-$k has $n copies of the row, expected 1"
done
log "the row is on all four nodes"

status="$(curl -fsS "http://127.0.0.1:$MQ_DOCKER_HTTP_PORT/status")" || die "GET /status"
python3 - "$status" <<'PY' || die "/status does not show 4 nodes and a primary: $status"
import json, sys
s = json.loads(sys.argv[1])
primary = (s.get("current_master") or {}).get("id")
nodes = {primary} | {r["id"] for r in s.get("current_replicas", [])}
assert primary, "no primary"
assert len(nodes) == 4, nodes
print(f"docker-test: /status: primary {primary}, {len(nodes)} nodes, epoch {s.get('epoch')}", file=sys.stderr)
PY
T_CHECK=$SECONDS

log "docker-compose down -v"
compose down -v --remove-orphans >/dev/null 2>&1 || die "docker-compose down -v"
T_DOWN=$SECONDS
log "PASSED. seconds: base image $((T_BASE - T0)), cargo $((T_CARGO - T_BASE)), image build $((T_BUILD - T_CARGO)), up+healthy $((T_UP - T_BUILD)), checks $((T_CHECK - T_UP)), down $((T_DOWN - T_CHECK)), total $((T_DOWN - T0))"
