#!/usr/bin/env python3
"""Summarize a bench/sysbench.sh run: parse sysbench outputs, print tables, write JSON.

    summarize.py --rundir DIR --out results/sysbench-DATE.json [--meta key=value ...]

DIR holds manifest.tsv (one line per sysbench run, written by sysbench.sh), the sysbench
logs it names, and rss-<target>.json from idleconns.py. Standard library only.
A measurement tool: it never judges the numbers, it only reports them.
"""
import argparse
import json
import os
import re
import statistics
import sys

TARGETS = ("direct", "haproxy", "myquorum")
MANIFEST_COLS = ("workload", "threads", "rep", "slot", "target", "rc", "log",
                 "mq_ticks_before", "mq_ticks_after", "hap_ticks_before", "hap_ticks_after",
                 "wall_seconds")

RE = {
    "queries_total": re.compile(r"^\s*queries:\s+(\d+)\s+\(([\d.]+) per sec\.\)", re.M),
    "transactions": re.compile(r"^\s*transactions:\s+(\d+)\s+\(([\d.]+) per sec\.\)", re.M),
    "ignored_errors": re.compile(r"^\s*ignored errors:\s+(\d+)", re.M),
    "reconnects": re.compile(r"^\s*reconnects:\s+(\d+)", re.M),
    "p95_ms": re.compile(r"^\s*95th percentile:\s+([\d.]+)", re.M),
    "avg_ms": re.compile(r"^\s*avg:\s+([\d.]+)", re.M),
    "total_time": re.compile(r"^\s*total time:\s+([\d.]+)s", re.M),
}


def parse_sysbench(text):
    r = {}
    m = RE["queries_total"].search(text)
    if m:
        r["queries"] = int(m.group(1))
        r["qps"] = float(m.group(2))
    m = RE["transactions"].search(text)
    if m:
        r["transactions"] = int(m.group(1))
        r["tps"] = float(m.group(2))
    for key in ("ignored_errors", "reconnects"):
        m = RE[key].search(text)
        if m:
            r[key] = int(m.group(1))
    for key in ("p95_ms", "avg_ms", "total_time"):
        m = RE[key].search(text)
        if m:
            r[key] = float(m.group(1))
    return r


def error_lines(text, limit=12):
    keep = [ln for ln in text.splitlines()
            if re.search(r"FATAL|ERROR|error|Error|Killed|timeout|Timeout", ln)]
    if not keep:
        keep = text.splitlines()[-limit:]
    return keep[:limit]


def med(xs):
    return statistics.median(xs) if xs else None


def fmt(x, digits=0):
    if x is None:
        return "-"
    return f"{x:.{digits}f}"


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def load_runs(rundir, clk_tck):
    runs = []
    with open(os.path.join(rundir, "manifest.tsv")) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            row = dict(zip(MANIFEST_COLS, line.split("\t")))
            run = {
                "workload": row["workload"],
                "threads": int(row["threads"]),
                "rep": int(row["rep"]),
                "slot": int(row["slot"]),
                "target": row["target"],
                "rc": int(row["rc"]),
                "wall_seconds": float(row["wall_seconds"]),
            }
            for who, b, a in (("myquorum", "mq_ticks_before", "mq_ticks_after"),
                              ("haproxy", "hap_ticks_before", "hap_ticks_after")):
                try:
                    run[f"cpu_s_{who}"] = (int(row[a]) - int(row[b])) / clk_tck
                except (ValueError, KeyError):
                    run[f"cpu_s_{who}"] = None
            text = ""
            try:
                with open(os.path.join(rundir, row["log"]), errors="replace") as lf:
                    text = lf.read()
            except OSError:
                pass
            run.update(parse_sysbench(text))
            run["ok"] = run["rc"] == 0 and "qps" in run
            if not run["ok"] or run.get("reconnects"):
                run["error_excerpt"] = error_lines(text)
            runs.append(run)
    return runs


def summarize(runs):
    cells = {}
    order = []
    for r in runs:
        key = (r["workload"], r["threads"])
        if key not in cells:
            cells[key] = {t: [] for t in TARGETS}
            order.append(key)
        cells[key].setdefault(r["target"], []).append(r)
    out = []
    for key in order:
        per = {}
        for t in TARGETS:
            rs = cells[key].get(t, [])
            ok = [r for r in rs if r["ok"]]
            qps = [r["qps"] for r in ok]
            p95 = [r["p95_ms"] for r in ok if "p95_ms" in r]
            d = {
                "runs": len(rs),
                "failed": len(rs) - len(ok),
                "qps": qps,
                "p95_ms": p95,
                "qps_median": med(qps),
                "qps_min": min(qps) if qps else None,
                "qps_max": max(qps) if qps else None,
                "p95_median": med(p95),
                "p95_min": min(p95) if p95 else None,
                "p95_max": max(p95) if p95 else None,
                "ignored_errors": sum(r.get("ignored_errors", 0) for r in rs),
                "reconnects": sum(r.get("reconnects", 0) for r in rs),
            }
            # CPU of the relay that carried this target's traffic, per 1,000 queries
            who = {"myquorum": "myquorum", "haproxy": "haproxy"}.get(t)
            if who:
                per_k = [r[f"cpu_s_{who}"] * 1000.0 / r["queries"]
                         for r in ok if r.get(f"cpu_s_{who}") is not None and r.get("queries")]
                d["cpu_s_per_1k_queries"] = per_k
                d["cpu_s_per_1k_median"] = med(per_k)
            # background CPU of myquorum while it carried no traffic (direct runs)
            if t == "direct":
                idle = [r["cpu_s_myquorum"] / r["wall_seconds"] for r in rs
                        if r.get("cpu_s_myquorum") is not None and r["wall_seconds"] > 0]
                d["myquorum_background_cpu_frac_median"] = med(idle)
            per[t] = d
        dq = per["direct"]["qps_median"]
        hq = per["haproxy"]["qps_median"]
        mq = per["myquorum"]["qps_median"]
        cpu_mq = per["myquorum"].get("cpu_s_per_1k_median")
        cpu_hp = per["haproxy"].get("cpu_s_per_1k_median")
        out.append({
            "workload": key[0],
            "threads": key[1],
            "targets": per,
            "ratio_qps_myquorum_direct": ratio(mq, dq),
            "ratio_qps_myquorum_haproxy": ratio(mq, hq),
            "ratio_p95_myquorum_haproxy": ratio(per["myquorum"]["p95_median"],
                                                per["haproxy"]["p95_median"]),
            "cpu_s_per_1k_myquorum": cpu_mq,
            "cpu_s_per_1k_haproxy": cpu_hp,
            "ratio_cpu_myquorum_haproxy": ratio(cpu_mq, cpu_hp),
        })
    return out


def print_tables(cells, rss, meta, failures, outpath):
    w = sys.stdout.write
    w("\n")
    w(f"sysbench proxy-hop benchmark  reps={meta.get('reps')} time={meta.get('time')}s "
      f"tables={meta.get('tables')}x{meta.get('table_size')}  nproc={meta.get('nproc')} "
      f"loadavg(start)={meta.get('loadavg_start')}\n")
    w(f"direct={meta.get('direct')}  haproxy={meta.get('haproxy')}  "
      f"myquorum={meta.get('proxy')} (pid {meta.get('proxy_pid')})\n\n")
    w("QPS and p95 latency: median [min-max] over repetitions\n")
    hdr = f"{'workload':<26} {'thr':>3}  {'target':<8} {'QPS median':>11} {'[min-max]':>19}" \
          f"  {'p95 ms':>7} {'[min-max]':>15}  {'fail':>4}\n"
    w(hdr)
    w("-" * (len(hdr) - 1) + "\n")
    for c in cells:
        for t in TARGETS:
            d = c["targets"][t]
            rng = f"[{fmt(d['qps_min'])}-{fmt(d['qps_max'])}]" if d["qps"] else "-"
            prng = f"[{fmt(d['p95_min'], 2)}-{fmt(d['p95_max'], 2)}]" if d["p95_ms"] else "-"
            fail = d["failed"]
            extra = ""
            if d["ignored_errors"] or d["reconnects"]:
                extra = f"  (ignored errors {d['ignored_errors']}, reconnects {d['reconnects']})"
            w(f"{c['workload']:<26} {c['threads']:>3}  {t:<8} {fmt(d['qps_median']):>11} {rng:>19}"
              f"  {fmt(d['p95_median'], 2):>7} {prng:>15}  {fail:>4}{extra}\n")
        w("\n")

    w("Ratios of median QPS, and relay CPU seconds per 1,000 queries (median)\n")
    hdr = f"{'workload':<26} {'thr':>3}  {'mq/direct':>9} {'mq/haproxy':>10}  " \
          f"{'p95 mq/hap':>10}  {'cpu mq':>8} {'cpu hap':>8} {'mq/hap':>7}\n"
    w(hdr)
    w("-" * (len(hdr) - 1) + "\n")
    for c in cells:
        w(f"{c['workload']:<26} {c['threads']:>3}  {fmt(c['ratio_qps_myquorum_direct'], 3):>9} "
          f"{fmt(c['ratio_qps_myquorum_haproxy'], 3):>10}  "
          f"{fmt(c['ratio_p95_myquorum_haproxy'], 3):>10}  "
          f"{fmt(c['cpu_s_per_1k_myquorum'], 4):>8} {fmt(c['cpu_s_per_1k_haproxy'], 4):>8} "
          f"{fmt(c['ratio_cpu_myquorum_haproxy'], 2):>7}\n")
    w("\n")

    w("RSS per idle client connection (VmRSS delta / connections held)\n")
    for t in ("myquorum", "haproxy"):
        r = rss.get(t)
        if not r:
            w(f"  {t:<8}: not measured\n")
            continue
        per = r.get("rss_per_conn_kb")
        line = (f"  {t:<8}: {fmt(per, 2) if per is not None else '-'} KB/conn  "
                f"({r['held']}/{r['requested']} connections held, "
                f"RSS {r['rss_before_kb']} -> {r['rss_after_kb']} KB")
        if r.get("alive_after_settle") is not None and r["alive_after_settle"] != r["held"]:
            line += f", only {r['alive_after_settle']} still open after settling"
        line += ")"
        if r.get("first_error"):
            line += f"\n            stopped early: {r['first_error']}"
        w(line + "\n")
    if failures:
        w("\nFAILED runs (sysbench exit status != 0, unparsable output, or reconnects):\n")
        for f in failures:
            w(f"  {f['workload']} threads={f['threads']} rep={f['rep']} target={f['target']} "
              f"rc={f['rc']} ignored_errors={f.get('ignored_errors', '-')} "
              f"reconnects={f.get('reconnects', '-')}\n")
            for ln in f.get("error_excerpt", []):
                w(f"      | {ln}\n")
    w(f"\nraw numbers: {outpath}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rundir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--meta", action="append", default=[])
    a = ap.parse_args()
    meta = {}
    for kv in a.meta:
        k, _, v = kv.partition("=")
        meta[k] = v
    clk_tck = os.sysconf("SC_CLK_TCK")
    runs = load_runs(a.rundir, clk_tck)
    cells = summarize(runs)
    rss = {}
    for t in ("myquorum", "haproxy"):
        p = os.path.join(a.rundir, f"rss-{t}.json")
        try:
            with open(p) as f:
                rss[t] = json.loads(f.read().strip().splitlines()[-1])
        except (OSError, ValueError, IndexError):
            pass
    failures = [r for r in runs if not r["ok"] or r.get("reconnects")]
    doc = {"meta": meta, "clk_tck": clk_tck, "summary": cells, "rss_per_idle_connection": rss,
           "runs": runs}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print_tables(cells, rss, meta, failures, a.out)


if __name__ == "__main__":
    main()
