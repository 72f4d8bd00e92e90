"""Drives bench/failover.sh: writers through the proxy's MySQL port while the current
primary's mariadbd is SIGKILLed again and again; per kill, the time from the kill to the first
successful write sent after it, the client-visible errors, and the acknowledged rows lost or
duplicated on the final primary. A measurement tool, never a test: it asserts nothing.

usage: failover.py --mysql HOST:PORT --http HOST:PORT --data-dir DIR --level LEVEL
                   [--kills N] [--writers N] [--settle S] [--out FILE.json]
Needs PyMySQL and the `mariadb` / `mariadb-dump` clients (re-provisioning a diverged node).
"""

import argparse
import getpass
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pymysql

TABLE = "bench_failover"


def http(base, path, body=None, timeout=60):
    """GET (or POST `body` as JSON) `path`: (status, parsed JSON or None)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{base}{path}", data=data, method="POST" if data else "GET")
    if data:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"null")
        except ValueError:
            return e.code, None


class Writers:
    """N writer threads inserting (writer, n) at one level, each on its own connection."""

    def __init__(self, host, port, level, count):
        self.host, self.port, self.level = host, port, level
        self.stop = threading.Event()
        self.lock = threading.Lock()
        # (writer, n, sent, answered, quorum_ok)
        self.acked = []
        # (when, message)
        self.errors = []
        self.threads = [threading.Thread(target=self.run, args=(w,), daemon=True) for w in range(count)]

    def connect(self):
        conn = pymysql.connect(host=self.host, port=self.port, user="app", password="app",
                               database="app", autocommit=True, connect_timeout=30,
                               read_timeout=60, write_timeout=60)
        with conn.cursor() as cur:
            cur.execute(f"SET myquorum_consistency = '{self.level}'")
        return conn

    def run(self, writer):
        conn = None
        n = 0
        while not self.stop.is_set():
            if conn is None:
                try:
                    conn = self.connect()
                except pymysql.MySQLError as e:
                    with self.lock:
                        self.errors.append((time.monotonic(), f"connect: {e}"))
                    time.sleep(0.05)
                    continue
            n += 1
            sent = time.monotonic()
            try:
                with conn.cursor() as cur:
                    cur.execute(f"INSERT INTO {TABLE} (writer, n) VALUES (%s, %s)", (writer, n))
                    warnings = getattr(getattr(conn, "_result", None), "warning_count", 0)
                # A STRONG write is acknowledged as such only when its quorum was reached
                # (no proxy warning); every OK counts as acknowledged for lost/duplicates.
                quorum = self.level == "STRONG" and warnings == 0
                with self.lock:
                    self.acked.append((writer, n, sent, time.monotonic(), quorum))
            except pymysql.MySQLError as e:
                with self.lock:
                    self.errors.append((time.monotonic(), f"writer {writer} n={n}: {e}"))
                try:
                    conn.close()
                except Exception:  # noqa: BLE001 - the connection is gone either way
                    pass
                conn = None

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=90)


def root_sql(socket, sql):
    """Runs `sql` as root (unix socket authentication, the sandbox's way) on one node."""
    subprocess.run(["mariadb", f"--socket={socket}", "-u", getpass.getuser(),
                    "-e", sql], check=True, capture_output=True, text=True)


def socket_of(data_dir, node):
    """The unix socket of a running sandbox node, from its mariadbd command line."""
    pid = open(os.path.join(data_dir, node, "mariadbd.pid")).read().strip()
    args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    for a in args:
        if a.startswith(b"--socket="):
            return a[len(b"--socket="):].decode()
    raise RuntimeError(f"no --socket in {node}'s command line")


def reprovision(sockets, node, primary):
    """Replaces `node`'s application data with a consistent dump of `primary` (mariadb-dump
    --gtid) and sets its GTID position to the dump's: what the README calls re-provisioning a
    node that holds transactions the cluster never received. Returns the seconds it took."""
    started = time.monotonic()
    dump = subprocess.run(["mariadb-dump", f"--socket={sockets[primary]}",
                           "-u", getpass.getuser(), "--single-transaction",
                           "--gtid", "--master-data=2", "app"],
                          check=True, capture_output=True, text=True).stdout
    pos = re.search(r"gtid_slave_pos\s*=\s*'([^']*)'", dump)
    if pos is None:
        raise RuntimeError("the dump names no GTID position")
    root_sql(sockets[node], "STOP SLAVE; RESET SLAVE ALL")
    subprocess.run(["mariadb", f"--socket={sockets[node]}", "-u", getpass.getuser(),
                    "--init-command=SET sql_log_bin = 0", "app"],
                   input=dump, check=True, capture_output=True, text=True)
    root_sql(sockets[node], f"RESET MASTER; SET GLOBAL gtid_slave_pos = '{pos.group(1)}'")
    return time.monotonic() - started


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mysql", required=True)
    ap.add_argument("--http", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--level", required=True)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--settle", type=float, default=2.0,
                    help="seconds of writing between a rejoin and the next kill (>= cool-down)")
    ap.add_argument("--out")
    args = ap.parse_args()
    host, port = args.mysql.rsplit(":", 1)
    port = int(port)

    setup = pymysql.connect(host=host, port=port, user="app", password="app", database="app",
                            autocommit=True)
    with setup.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cur.execute(f"CREATE TABLE {TABLE} (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                    "writer INT NOT NULL, n BIGINT NOT NULL)")
    setup.close()
    _, status = http(args.http, "/status")
    nodes = [status["current_master"]["id"]] + [r["id"] for r in status["current_replicas"]]
    sockets = {n: socket_of(args.data_dir, n) for n in nodes}

    writers = Writers(host, port, args.level, args.writers)
    writers.start()
    time.sleep(args.settle)
    kills = []
    for k in range(1, args.kills + 1):
        _, status = http(args.http, "/status")
        primary, epoch = status["current_master"]["id"], status["epoch"]
        pid = int(open(os.path.join(args.data_dir, primary, "mariadbd.pid")).read().strip())
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        deadline = killed + 60
        new = None
        while time.monotonic() < deadline:
            _, s = http(args.http, "/status")
            # The epoch moves a moment before the failover's report is stored.
            if s and s["epoch"] > epoch and (s.get("last_failover") or {}).get("epoch") == s["epoch"]:
                new = s
                break
            time.sleep(0.02)
        failed_over = time.monotonic()
        if new is None:
            print(f"kill {k}: no failover within 60 s; /status: {s}", file=sys.stderr)
            kills.append({"kill": k, "old": primary, "killed": killed, "new": None})
            break
        # Let the writers meet the new primary before the old one comes back.
        time.sleep(0.5)
        code, answer = http(args.http, "/admin/restart-old-master", {})
        rejoin = "rejoined"
        if code != 200:
            message = (answer or {}).get("message", "")
            took = reprovision(sockets, primary, new["current_master"]["id"])
            code, answer = http(args.http, "/admin/start-instance", {"instance_id": primary})
            rejoin = f"re-provisioned ({took:.1f} s)" if code == 200 else f"refused: {answer}"
            print(f"kill {k}: {primary} refused to rejoin ({message[:120]}); {rejoin}", file=sys.stderr)
        kills.append({"kill": k, "old": primary, "new": new["current_master"]["id"],
                      "epoch": new["epoch"], "killed": killed, "failed_over": failed_over,
                      "failover_ms": (new.get("last_failover") or {}).get("duration_ms"),
                      "rejoin": rejoin})
        time.sleep(args.settle)
    writers.finish()

    final = pymysql.connect(host=host, port=port, user="app", password="app", database="app",
                            autocommit=True)
    with final.cursor() as cur:
        cur.execute("SET myquorum_consistency = 'STRONG'")
        cur.execute(f"SELECT writer, n FROM {TABLE}")
        rows = cur.fetchall()
    final.close()
    counts = {}
    for r in rows:
        counts[r] = counts.get(r, 0) + 1

    # Per kill: the window from this kill to the next one.
    bounds = [k["killed"] for k in kills] + [float("inf")]
    acked = writers.acked
    report = []
    for i, k in enumerate(kills):
        lo, hi = bounds[i], bounds[i + 1]
        after = [a for a in acked if a[2] >= lo]
        resume = min((a[3] for a in after), default=None)
        prev = bounds[i - 1] if i > 0 else float("-inf")
        # Rows sent since the previous kill and before this one, then acknowledged: the ones
        # the primary this kill took answered (a write sent after a kill waits for the new
        # primary), so what this kill could lose.
        window = [a for a in acked if prev <= a[2] < lo]
        strong = [a for a in window if a[4]]
        lost = [a for a in window if (a[0], a[1]) not in counts]
        lost_strong = [a for a in strong if (a[0], a[1]) not in counts]
        dups = [a for a in window if counts.get((a[0], a[1]), 0) > 1]
        errors = [e for e in writers.errors if lo <= e[0] < hi]
        report.append({
            "kill": k["kill"], "old": k["old"], "new": k.get("new"),
            "resume_ms": None if resume is None else round((resume - lo) * 1000, 1),
            "failover_ms": k.get("failover_ms"),
            "errors": len(errors), "acked_before": len(window), "lost": len(lost),
            "lost_strong": len(lost_strong), "duplicates": len(dups),
            "rejoin": k.get("rejoin"),
            "error_samples": [e[1][:160] for e in errors[:3]],
        })
    tail = [a for a in acked if a[2] >= bounds[-2]] if kills else acked
    summary = {
        "level": args.level, "writers": args.writers, "kills": len(kills),
        "acked_total": len(acked),
        "acked_quorum": sum(1 for a in acked if a[4]),
        "lost_total": sum(1 for a in acked if (a[0], a[1]) not in counts),
        "lost_strong_total": sum(1 for a in acked if a[4] and (a[0], a[1]) not in counts),
        "duplicates_total": sum(c - 1 for c in counts.values() if c > 1),
        "errors_total": len(writers.errors),
        "acked_after_last_kill": len(tail),
        "lost_after_last_kill": sum(1 for a in tail if (a[0], a[1]) not in counts),
    }
    resumes = [r["resume_ms"] for r in report if r["resume_ms"] is not None]
    if resumes:
        summary["resume_ms_median"] = statistics.median(resumes)
        summary["resume_ms_max"] = max(resumes)
    print(f"\n{args.level}, {args.writers} writers")
    print(f"{'kill':>4} {'old':>11} {'new':>11} {'resume ms':>9} {'failover ms':>11} "
          f"{'errors':>6} {'lost':>5} {'lost STRONG':>11} {'dups':>4}  rejoin")
    for r in report:
        print(f"{r['kill']:>4} {r['old']:>11} {str(r['new']):>11} {str(r['resume_ms']):>9} "
              f"{str(r['failover_ms']):>11} {r['errors']:>6} {r['lost']:>5} {r['lost_strong']:>11} "
              f"{r['duplicates']:>4}  {r['rejoin']}")
    print(json.dumps(summary))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"summary": summary, "kills": report}, f, indent=1)


if __name__ == "__main__":
    main()
