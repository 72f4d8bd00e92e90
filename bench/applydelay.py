#!/usr/bin/env python3
"""Measure how long after a write's commit each replica has applied it (bench/writes.sh).

    applydelay.py --primary 127.0.0.1:3481 --replicas 127.0.0.1:3482,127.0.0.1:3483 \
        --duration 10 --interval 0.05 [--user app --password app --db app] \
        [--probe-user myquorum --probe-password myquorum] [--table bench_writes] [--label X]
    applydelay.py --catchup --primary ... --replicas ...

Probe mode: every --interval seconds, for --duration seconds:
  1. on its own connection to the primary (directly, never through a proxy):
     INSERT INTO <table>(k, pad) VALUES (...)   -- autocommit; t0 = when the OK arrives
     SELECT @@last_gtid                          -- the GTID that INSERT produced
  2. queues the GTID to one waiter thread per replica, each holding its own connection to that
     replica, which runs SELECT MASTER_GTID_WAIT('<gtid>', <time left>); the replica's apply
     delay for this write = (time the call returned) - t0. The waits of one replica run in
     order, which is exact because a replica commits one domain's GTIDs in order: a wait that
     starts late (the previous one was still waiting) returns at once.
A replica that had already applied the write answers at once, so every delay is an upper bound
with a resolution of about two local round trips (the @@last_gtid query and the wait call).
Writes not applied --drain seconds after the probe's end are recorded as null (timeouts).

Catch-up mode (--catchup): reads the primary's @@gtid_binlog_pos and times how long until every
replica has applied it (MASTER_GTID_WAIT on each replica in parallel): the replication backlog.

Prints one JSON object on stdout. Standard library only (raw MySQL protocol, handshake from
idleconns.py). It is a probe, not a load generator: a few dozen writes per second.
"""
import argparse
import json
import os
import queue
import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idleconns import err_text, handshake, read_packet, write_packet  # noqa: E402


def lenenc_int(buf, pos):
    b = buf[pos]
    if b < 0xFB:
        return b, pos + 1
    if b == 0xFC:
        return struct.unpack_from("<H", buf, pos + 1)[0], pos + 3
    if b == 0xFD:
        return int.from_bytes(buf[pos + 1:pos + 4], "little"), pos + 4
    if b == 0xFE:
        return struct.unpack_from("<Q", buf, pos + 1)[0], pos + 9
    raise ValueError(f"bad length-encoded integer 0x{b:02x}")


class Conn:
    """A minimal text-protocol MySQL client: enough for OK packets and small result sets."""

    def __init__(self, addr, user, password, db):
        host, _, port = addr.rpartition(":")
        self.addr = addr
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        handshake(self.sock, user, password, db)

    def query(self, sql):
        """Returns None for an OK packet, else the rows (lists of str or None)."""
        write_packet(self.sock, 0, b"\x03" + sql.encode())
        _, pkt = read_packet(self.sock)
        if pkt[:1] == b"\x00":
            return None
        if pkt[:1] == b"\xff":
            raise RuntimeError(f"{self.addr}: {err_text(pkt)} [{sql[:80]}]")
        ncols, _ = lenenc_int(pkt, 0)
        for _ in range(ncols):  # column definitions
            read_packet(self.sock)
        _, pkt = read_packet(self.sock)  # EOF after the column definitions
        rows = []
        while True:
            _, pkt = read_packet(self.sock)
            if pkt[:1] == b"\xfe" and len(pkt) < 9:
                return rows
            if pkt[:1] == b"\xff":
                raise RuntimeError(f"{self.addr}: {err_text(pkt)} [{sql[:80]}]")
            row, pos = [], 0
            for _ in range(ncols):
                if pkt[pos] == 0xFB:
                    row.append(None)
                    pos += 1
                    continue
                n, pos = lenenc_int(pkt, pos)
                row.append(pkt[pos:pos + n].decode(errors="replace"))
                pos += n
            rows.append(row)

    def close(self):
        try:
            write_packet(self.sock, 0, b"\x01")  # COM_QUIT
        except OSError:
            pass
        self.sock.close()


def waiter(conn, jobs, samples, deadline_box):
    """Runs the waits of one replica in order. Replicas apply (and commit) a domain's
    transactions in GTID order, so waiting for each sampled GTID in turn on one connection
    times every write correctly even when a wait starts late (it then returns at once)."""
    while True:
        job = jobs.get()
        if job is None:
            return
        idx, ri, gtid, t0 = job
        left = deadline_box[0] - time.perf_counter()
        if left <= 0:
            continue  # stays None: not applied before the deadline
        try:
            rows = conn.query(f"SELECT MASTER_GTID_WAIT('{gtid}', {left:.3f})")
            t1 = time.perf_counter()
            if rows[0][0] == "0":
                samples[idx]["delays_ms"][ri] = round((t1 - t0) * 1000.0, 4)
        except Exception as e:  # report, keep the sample (as a timeout)
            samples[idx].setdefault("errors", []).append(str(e))


def catchup(a, replicas):
    """Time until every replica has applied the primary's whole binlog position."""
    primary = Conn(a.primary, a.user, a.password, a.db)
    pos = primary.query("SELECT @@gtid_binlog_pos")[0][0]
    primary.close()
    t0 = time.perf_counter()
    out = {"gtid_binlog_pos": pos, "seconds": {}}

    def one(r):
        try:
            c = Conn(r, a.probe_user, a.probe_password, "")
            rc = c.query(f"SELECT MASTER_GTID_WAIT('{pos}', {a.catchup_timeout})")[0][0]
            out["seconds"][r] = round(time.perf_counter() - t0, 3) if rc == "0" else None
            c.close()
        except Exception as e:
            out["seconds"][r] = None
            out.setdefault("errors", []).append(f"{r}: {e}")
    ths = [threading.Thread(target=one, args=(r,)) for r in replicas]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    done = [s for s in out["seconds"].values() if s is not None]
    out["max_seconds"] = max(done) if len(done) == len(replicas) else None
    # wall-clock time at which the last replica had caught up (the caller subtracts the end of
    # its run, so the backlog a probe drained before this check started still counts)
    out["caught_up_at"] = time.time() - (time.perf_counter() - t0 - out["max_seconds"]) \
        if out["max_seconds"] is not None else None
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


def add_login_options(ap):
    """The accounts the write benchmarks log in with: the application user (writes) and the
    control user (MASTER_GTID_WAIT and replication control on the replicas over TCP); the
    defaults are the sandbox's. Shared with bench/strong.py."""
    ap.add_argument("--user", default="app")
    ap.add_argument("--password", default="app")
    ap.add_argument("--db", default="app")
    ap.add_argument("--probe-user", default="myquorum")
    ap.add_argument("--probe-password", default="myquorum")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--primary", required=True)
    ap.add_argument("--replicas", required=True, help="host:port,host:port,...")
    add_login_options(ap)
    ap.add_argument("--table", default="bench_writes")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--drain", type=float, default=30.0,
                    help="seconds after --duration to wait for the last samples to be applied")
    ap.add_argument("--catchup", action="store_true",
                    help="only wait until every replica has applied the primary's @@gtid_binlog_pos "
                         "and print the seconds that took")
    ap.add_argument("--catchup-timeout", type=float, default=600.0)
    ap.add_argument("--label", default="")
    a = ap.parse_args()

    replicas = [r for r in a.replicas.split(",") if r]
    if a.catchup:
        catchup(a, replicas)
        return
    primary = Conn(a.primary, a.user, a.password, a.db)
    samples, errors = [], []
    end = time.perf_counter() + a.duration
    deadline_box = [end + a.drain]
    workers = []
    for ri, r in enumerate(replicas):
        c = Conn(r, a.probe_user, a.probe_password, "")
        jobs = queue.Queue()
        th = threading.Thread(target=waiter, args=(c, jobs, samples, deadline_box), daemon=True)
        th.start()
        workers.append((c, jobs, th))

    nxt = time.perf_counter()
    while time.perf_counter() < end:
        ts = time.perf_counter()
        primary.query(f"INSERT INTO {a.table}(k, pad) VALUES "
                      f"({random.randint(1, 1000000)}, 'applydelay-probe')")
        t0 = time.perf_counter()
        gtid = (primary.query("SELECT @@last_gtid") or [[None]])[0][0]
        if not gtid:
            errors.append("no @@last_gtid after INSERT (binary log off?)")
            break
        samples.append({"gtid": gtid, "at_s": round(ts - (end - a.duration), 4),
                        "insert_ms": round((t0 - ts) * 1000.0, 4),
                        "delays_ms": [None] * len(replicas)})
        for ri, (_, jobs, _) in enumerate(workers):
            jobs.put((len(samples) - 1, ri, gtid, t0))
        nxt += a.interval
        pause = nxt - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        else:
            nxt = time.perf_counter()

    for _, jobs, _ in workers:
        jobs.put(None)
    for c, _, th in workers:
        th.join(timeout=max(0.0, deadline_box[0] - time.perf_counter()) + 5)
        if not th.is_alive():
            c.close()
    primary.close()
    for s in samples:
        errors += s.pop("errors", [])
    json.dump({"label": a.label, "primary": a.primary, "replicas": replicas,
               "interval_s": a.interval, "drain_s": a.drain,
               "samples": samples, "errors": errors[:20]}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
