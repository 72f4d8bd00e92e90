#!/usr/bin/env python3
"""STRONG writes against their physical bound (issue 17, part 4).

A STRONG write is answered once the primary and a Cabinet quorum of replicas have applied
it, so STRONG throughput cannot exceed the apply rate of the t-th fastest replica (t = the
failure threshold: 1 by default). This script measures that bound and compares with it:

1. **Apply capacity** of each replica: its SQL thread is stopped, `--backlog-time` seconds of
   single-row INSERTs (bench/lua/insert.lua, `--threads` clients) go to the primary directly,
   then the SQL thread is started and timed until the replica has applied the primary's whole
   `@@gtid_binlog_pos`: capacity = INSERTs / apply seconds (the parallel applier of
   mysql-config/node.cnf included). The t-th highest capacity is the bound.
2. **STRONG throughput** at `--threads` clients through the proxy (`--reps` runs, median),
   as a fraction of that bound (target >= 0.9), with EVENTUAL through the proxy beside it.
3. **STRONG p50 at half the bound**: sysbench `--rate` = bound / 2 (or half of EVENTUAL's
   throughput when that is lower: see below), at EVENTUAL (while
   bench/applydelay.py samples the replicas' apply delay) and at STRONG; target: STRONG p50
   <= EVENTUAL p50 + the t-th fastest replica's median apply delay.

Every timed run starts from a caught-up cluster. A measurement tool, never a test: it prints
the targets with MET / MISSED and exits 0 whatever the timings.

    bench/strong.py --direct 127.0.0.1:46401 --proxy 127.0.0.1:46033 \\
        --replicas 127.0.0.1:46402,127.0.0.1:46403,127.0.0.1:46404

Needs sysbench and the control user (default myquorum/myquorum, the sandbox's), which may
STOP/START SLAVE and run MASTER_GTID_WAIT over TCP.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from applydelay import Conn, add_login_options  # noqa: E402  (the same client and accounts)

LUA = os.path.join(HERE, "lua", "insert.lua")


def log(msg):
    print(f"[strong {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sysbench(a, addr, command, threads=1, seconds=0, consistency=None, rate=None):
    host, _, port = addr.rpartition(":")
    cmd = ["sysbench", LUA, "--db-driver=mysql", f"--mysql-host={host}", f"--mysql-port={port}",
           f"--mysql-user={a.user}", f"--mysql-password={a.password}", f"--mysql-db={a.db}",
           f"--threads={threads}", "--percentile=50", "--report-interval=0"]
    if seconds:
        cmd.append(f"--time={seconds}")
    if consistency:
        cmd.append(f"--consistency={consistency}")
    if rate:
        cmd.append(f"--rate={rate}")
    cmd.append(command)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 300)
    if out.returncode != 0:
        raise RuntimeError(f"sysbench {command} on {addr} failed: {out.stderr[-500:]}{out.stdout[-500:]}")
    if command != "run":
        return None
    events = re.search(r"transactions:\s+(\d+)\s+\(([\d.]+) per sec", out.stdout)
    p50 = re.search(r"50th percentile:\s+([\d.]+)", out.stdout)
    return {"events": int(events.group(1)), "tps": float(events.group(2)),
            "p50_ms": float(p50.group(1)) if p50 else None}


def binlog_pos(a):
    c = Conn(a.direct, a.user, a.password, a.db)
    pos = c.query("SELECT @@gtid_binlog_pos")[0][0]
    c.close()
    return pos


def wait_applied(a, replica, pos, timeout=900):
    c = Conn(replica, a.probe_user, a.probe_password, "")
    c.sock.settimeout(timeout + 30)
    rc = c.query(f"SELECT MASTER_GTID_WAIT('{pos}', {timeout})")[0][0]
    c.close()
    if rc != "0":
        raise RuntimeError(f"{replica} did not apply {pos} within {timeout} s")


def catch_up(a):
    pos = binlog_pos(a)
    for r in a.replica_list:
        wait_applied(a, r, pos)


def apply_capacity(a, replica):
    c = Conn(replica, a.probe_user, a.probe_password, "")
    c.query("STOP SLAVE SQL_THREAD")
    try:
        backlog = sysbench(a, a.direct, "run", threads=a.threads, seconds=a.backlog_time)
        pos = binlog_pos(a)
        time.sleep(2)  # the IO thread receives the backlog (a copy; the apply is what is timed)
        t0 = time.perf_counter()
        c.query("START SLAVE SQL_THREAD")
        wait_applied(a, replica, pos)
        seconds = time.perf_counter() - t0
    finally:
        c.query("START SLAVE SQL_THREAD")
        c.close()
    return {"replica": replica, "writes": backlog["events"], "apply_s": round(seconds, 3),
            "capacity_wps": round(backlog["events"] / seconds, 1),
            "primary_wps_while_stopped": backlog["tps"]}


def apply_delays(a, seconds):
    """Starts bench/applydelay.py for `seconds` in the background; returns the process."""
    return subprocess.Popen(
        [sys.executable, os.path.join(HERE, "applydelay.py"), "--primary", a.direct,
         "--replicas", a.replicas, "--user", a.user, "--password", a.password, "--db", a.db,
         "--probe-user", a.probe_user, "--probe-password", a.probe_password,
         "--duration", str(seconds), "--interval", "0.05", "--drain", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def tth_fastest_delay(samples, t):
    """Median over samples of the t-th fastest replica's apply delay (ms)."""
    ranked = []
    for s in samples:
        delays = sorted(d for d in s.get("delays_ms", []) if d is not None)
        if len(delays) >= t:
            ranked.append(delays[t - 1])
    return statistics.median(ranked) if ranked else None


def rated_runs(a, rate):
    """STRONG and EVENTUAL at a fixed `rate` (EVENTUAL with the apply-delay probe beside it):
    the runs, the median p50 of each level and the t-th fastest replica's apply delay."""
    rated = {"EVENTUAL": [], "STRONG": []}
    delays = []
    for rep in range(a.reps):
        for level in ("EVENTUAL", "STRONG"):
            catch_up(a)
            probe = apply_delays(a, a.time) if level == "EVENTUAL" else None
            res = sysbench(a, a.proxy, "run", threads=a.threads, seconds=a.time,
                           consistency=level, rate=rate)
            if probe is not None:
                out, _ = probe.communicate(timeout=a.time + 120)
                delays += json.loads(out).get("samples", [])
            log(f"rate {rate}/s rep {rep} {level}: p50 {res['p50_ms']} ms ({res['tps']:.1f} writes/s)")
            rated[level].append(res)
    strong_p50 = statistics.median(r["p50_ms"] for r in rated["STRONG"])
    eventual_p50 = statistics.median(r["p50_ms"] for r in rated["EVENTUAL"])
    return rated, strong_p50, eventual_p50, tth_fastest_delay(delays, a.threshold)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--direct", default="127.0.0.1:3401", help="the primary")
    ap.add_argument("--proxy", default="127.0.0.1:6033", help="myquorum's MySQL port")
    ap.add_argument("--replicas", default=None, help="host:port,...; default: the three ports after --direct's")
    add_login_options(ap)
    ap.add_argument("--threshold", type=int, default=1, help="t: the proxy's failure_threshold")
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--time", type=int, default=10, help="seconds per timed run")
    ap.add_argument("--backlog-time", type=int, default=8, help="seconds of writes per capacity probe")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rates", default="",
                    help="extra fixed rates (writes/s, space-separated) for the p50 comparison, "
                         "e.g. \"100 400\": where the excess over EVENTUAL + apply delay comes from")
    ap.add_argument("--results-dir", default=os.path.join(HERE, "results"))
    a = ap.parse_args()
    host, _, port = a.direct.rpartition(":")
    if a.replicas is None:
        a.replicas = ",".join(f"{host}:{int(port) + k}" for k in (1, 2, 3))
    a.replica_list = a.replicas.split(",")

    sysbench(a, a.direct, "cleanup")
    sysbench(a, a.direct, "prepare")
    try:
        catch_up(a)
        caps = []
        for r in a.replica_list:
            log(f"apply capacity of {r}: {a.backlog_time} s of backlog at {a.threads} threads")
            caps.append(apply_capacity(a, r))
            log(f"  {caps[-1]['writes']} writes applied in {caps[-1]['apply_s']} s: {caps[-1]['capacity_wps']} writes/s")
            catch_up(a)
        ranked = sorted(caps, key=lambda c: -c["capacity_wps"])
        bound = ranked[a.threshold - 1]["capacity_wps"]

        runs = {"EVENTUAL": [], "STRONG": []}
        for rep in range(a.reps):
            for level in (["EVENTUAL", "STRONG"] if rep % 2 == 0 else ["STRONG", "EVENTUAL"]):
                catch_up(a)
                res = sysbench(a, a.proxy, "run", threads=a.threads, seconds=a.time, consistency=level)
                log(f"rep {rep} {level}: {res['tps']:.1f} writes/s, p50 {res['p50_ms']} ms")
                runs[level].append(res)
        strong_tps = statistics.median(r["tps"] for r in runs["STRONG"])
        eventual_tps = statistics.median(r["tps"] for r in runs["EVENTUAL"])

        # Half the bound; when the primary and the proxy cannot even reach the bound (on a
        # small machine the replicas apply a backlog faster than the primary commits), half
        # of what EVENTUAL reached instead: above that the runs measure a queue, not a write.
        rate = max(1, int(min(bound, eventual_tps) / 2))
        rated, strong_p50, eventual_p50, delay = rated_runs(a, rate)
        fixed = {}
        for extra in (int(r) for r in a.rates.split()):
            runs_at, s_p50, e_p50, d = rated_runs(a, extra)
            fixed[extra] = {"strong_p50_ms": s_p50, "eventual_p50_ms": e_p50,
                            "tth_apply_delay_ms": d, "runs": runs_at}
    finally:
        sysbench(a, a.direct, "cleanup")

    fraction = strong_tps / bound
    p50_limit = eventual_p50 + delay if delay is not None else None
    summary = {
        "threshold": a.threshold, "threads": a.threads, "capacities": caps, "bound_wps": bound,
        "strong_tps": strong_tps, "eventual_tps": eventual_tps, "strong_fraction_of_bound": round(fraction, 3),
        "rate": rate, "rate_basis": "bound" if bound <= eventual_tps else "eventual_tps", "eventual_p50_ms": eventual_p50, "strong_p50_ms": strong_p50,
        "tth_apply_delay_ms": delay, "runs": runs, "rated": rated, "fixed_rates": fixed,
    }
    os.makedirs(a.results_dir, exist_ok=True)
    path = os.path.join(a.results_dir, f"strong-{time.strftime('%Y%m%d-%H%M%S')}.json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=1)
    print(f"apply capacity (writes/s): " + ", ".join(f"{c['replica']} {c['capacity_wps']}" for c in caps))
    print(f"bound (t = {a.threshold}: {a.threshold}-th fastest replica): {bound} writes/s")
    print(f"STRONG at {a.threads} clients: {strong_tps:.1f} writes/s = {fraction:.2f} of the bound "
          f"(target >= 0.9: {'MET' if fraction >= 0.9 else 'MISSED'}); EVENTUAL {eventual_tps:.1f}")
    if bound > eventual_tps:
        print(f"the bound is above what EVENTUAL reached ({eventual_tps:.1f}): the primary and the proxy "
              f"limit STRONG here, not the replicas; the rated runs use half of EVENTUAL's throughput")
    if p50_limit is not None:
        print(f"at {rate} writes/s: STRONG p50 {strong_p50} ms, EVENTUAL p50 {eventual_p50} ms + apply delay "
              f"{delay:.2f} ms = {p50_limit:.2f} ms (target STRONG <= that: "
              f"{'MET' if strong_p50 <= p50_limit else 'MISSED'})")
    for extra, f in fixed.items():
        d = f["tth_apply_delay_ms"]
        limit = f"{f['eventual_p50_ms'] + d:.2f}" if d is not None else "?"
        print(f"at {extra} writes/s: STRONG p50 {f['strong_p50_ms']} ms, EVENTUAL p50 "
              f"{f['eventual_p50_ms']} ms + apply delay {d} ms = {limit} ms")
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
