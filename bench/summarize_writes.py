#!/usr/bin/env python3
"""Summarize a bench/writes.sh run: parse sysbench outputs and apply-delay probes, print the
tables, the ratios and the targets (PASS/MISS), write JSON.

    summarize_writes.py --rundir DIR --out results/writes-DATE.json [--meta key=value ...]

DIR holds manifest.tsv (one line per sysbench run, written by writes.sh), the sysbench logs
it names and the probe-*.json files of bench/applydelay.py. Standard library only.
A measurement tool: it prints PASS/MISS against the issue's targets but never fails on them.
"""
import argparse
import json
import math
import os
import re
import statistics
import sys

TARGETS = ("direct", "haproxy", "eventual", "strong_t1", "strong_majority")
MANIFEST_COLS = ("target", "threads", "rep", "slot", "rc", "log", "wall_seconds", "load1", "probe", "catchup_s")

RE = {
    "transactions": re.compile(r"^\s*transactions:\s+(\d+)\s+\(([\d.]+) per sec\.\)", re.M),
    "ignored_errors": re.compile(r"^\s*ignored errors:\s+(\d+)", re.M),
    "reconnects": re.compile(r"^\s*reconnects:\s+(\d+)", re.M),
    "p50_ms_sysbench": re.compile(r"^\s*50th percentile:\s+([\d.]+)", re.M),
    "avg_ms": re.compile(r"^\s*avg:\s+([\d.]+)", re.M),
    "max_ms": re.compile(r"^\s*max:\s+([\d.]+)", re.M),
    "total_time": re.compile(r"^\s*total time:\s+([\d.]+)s", re.M),
}
HIST_LINE = re.compile(r"^\s*([\d.]+)\s+\|\**\s+(\d+)\s*$")


def parse_histogram(text):
    """sysbench --histogram=on: lines '       0.219 |****      123' (value ms, count)."""
    buckets = []
    inside = False
    for ln in text.splitlines():
        if ln.startswith("Latency histogram"):
            inside = True
            continue
        if inside:
            m = HIST_LINE.match(ln)
            if m:
                buckets.append((float(m.group(1)), int(m.group(2))))
            elif buckets and not ln.strip():
                break
    return buckets


def hist_percentile(buckets, pct):
    """Same rule as sysbench's own percentile: the first bucket whose cumulative count reaches
    pct% of all events (bucket values are sysbench's ~1.8%-wide logarithmic buckets)."""
    total = sum(c for _, c in buckets)
    if not total:
        return None
    need = math.ceil(total * pct / 100.0)
    cum = 0
    for v, c in buckets:
        cum += c
        if cum >= need:
            return v
    return buckets[-1][0]


def parse_sysbench(text):
    r = {}
    m = RE["transactions"].search(text)
    if m:
        r["inserts"] = int(m.group(1))
        r["tps"] = float(m.group(2))
    for key in ("ignored_errors", "reconnects"):
        m = RE[key].search(text)
        if m:
            r[key] = int(m.group(1))
    for key in ("p50_ms_sysbench", "avg_ms", "max_ms", "total_time"):
        m = RE[key].search(text)
        if m:
            r[key] = float(m.group(1))
    b = parse_histogram(text)
    if b:
        r["p50_ms"] = hist_percentile(b, 50)
        r["p95_ms"] = hist_percentile(b, 95)
        r["p99_ms"] = hist_percentile(b, 99)
    elif "p50_ms_sysbench" in r:
        r["p50_ms"] = r["p50_ms_sysbench"]
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
    return "-" if x is None else f"{x:.{digits}f}"


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def spread(xs):
    return {"median": med(xs), "min": min(xs) if xs else None, "max": max(xs) if xs else None,
            "values": xs}


def load_runs(rundir):
    runs = []
    with open(os.path.join(rundir, "manifest.tsv")) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            row = dict(zip(MANIFEST_COLS, line.split("\t")))
            run = {"target": row["target"], "threads": int(row["threads"]), "rep": int(row["rep"]),
                   "slot": int(row["slot"]), "rc": int(row["rc"]),
                   "wall_seconds": float(row["wall_seconds"])}
            for key in ("load1", "catchup_s"):
                try:
                    run[key] = float(row[key])
                except (ValueError, KeyError):
                    run[key] = None
            text = ""
            try:
                with open(os.path.join(rundir, row["log"]), errors="replace") as lf:
                    text = lf.read()
            except OSError:
                pass
            run.update(parse_sysbench(text))
            run["ok"] = run["rc"] == 0 and "tps" in run
            if not run["ok"] or run.get("reconnects") or run.get("ignored_errors"):
                run["error_excerpt"] = error_lines(text)
            if row.get("probe", "-") != "-":
                run["probe"] = load_probe(rundir, row["probe"])
            runs.append(run)
    return runs


def load_probe(rundir, name):
    p = {"file": name}
    try:
        with open(os.path.join(rundir, name)) as f:
            doc = json.loads(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError) as e:
        p["error"] = f"unreadable probe output: {e}"
        try:
            with open(os.path.join(rundir, name + ".err")) as f:
                p["stderr"] = f.read()[-2000:]
        except OSError:
            pass
        return p
    p.update(doc)
    return p


def rank_delays(sample):
    """Per sample: replica delays sorted ascending; a timeout (None) sorts last as +inf."""
    return sorted(math.inf if d is None else d for d in sample["delays_ms"])


def summarize_probes(runs, threads):
    """Apply delay of the k-th fastest replica per sampled write, pooled over the EVENTUAL
    runs at this thread count; also the per-repetition medians for the spread."""
    probes = [r["probe"] for r in runs
              if r["target"] == "eventual" and r["threads"] == threads and "probe" in r]
    pooled = {}
    per_rep = {}
    timeouts = 0
    nsamples = 0
    nrep = 0
    errors = []
    for p in probes:
        samples = p.get("samples") or []
        errors += p.get("errors", [])[:3] + ([p["error"]] if "error" in p else [])
        if not samples:
            continue
        nrep += 1
        nsamples += len(samples)
        ranked = [rank_delays(s) for s in samples]
        timeouts += sum(1 for s in samples for d in s["delays_ms"] if d is None)
        for k in range(len(ranked[0])):
            col = [rk[k] for rk in ranked]
            pooled.setdefault(k, []).extend(col)
            per_rep.setdefault(k, []).append(statistics.median(col))
    out = {"threads": threads, "samples": nsamples, "probe_runs": nrep, "timeouts": timeouts,
           "errors": errors[:10], "rank": []}
    for k in sorted(pooled):
        xs = pooled[k]
        finite = sorted(x for x in xs if x != math.inf)
        p95 = None
        if xs:
            srt = sorted(xs)
            p95 = srt[min(len(srt) - 1, math.ceil(len(srt) * 0.95) - 1)]
        out["rank"].append({
            "k": k + 1,
            "median_ms": _fin(statistics.median(xs)) if xs else None,
            "p95_ms": _fin(p95),
            "rep_medians_ms": [_fin(x) for x in per_rep[k]],
            "rep_median_min_ms": _fin(min(per_rep[k])),
            "rep_median_max_ms": _fin(max(per_rep[k])),
            "n_finite": len(finite),
        })
    return out


def _fin(x):
    return None if x is None or x == math.inf else x


def summarize(runs):
    threads_order = []
    for r in runs:
        if r["threads"] not in threads_order:
            threads_order.append(r["threads"])
    targets = [t for t in TARGETS if any(r["target"] == t for r in runs)]
    cells = []
    for th in threads_order:
        per = {}
        for t in targets:
            rs = [r for r in runs if r["threads"] == th and r["target"] == t]
            ok = [r for r in rs if r["ok"]]
            per[t] = {
                "runs": len(rs), "failed": len(rs) - len(ok),
                "p50_ms": spread([r["p50_ms"] for r in ok if r.get("p50_ms") is not None]),
                "p95_ms": spread([r["p95_ms"] for r in ok if r.get("p95_ms") is not None]),
                "p50_ms_sysbench": spread([r["p50_ms_sysbench"] for r in ok if "p50_ms_sysbench" in r]),
                "avg_ms": spread([r["avg_ms"] for r in ok if "avg_ms" in r]),
                "tps": spread([r["tps"] for r in ok]),
                "catchup_s": spread([r["catchup_s"] for r in rs if r.get("catchup_s") is not None]),
                "reconnects": sum(r.get("reconnects", 0) for r in rs),
                "ignored_errors": sum(r.get("ignored_errors", 0) for r in rs),
            }
        g = lambda t, m: per.get(t, {}).get(m, {}).get("median")  # noqa: E731
        cells.append({
            "threads": th,
            "targets": per,
            "apply_delay": summarize_probes(runs, th),
            "ratio_p50_strong_t1_eventual": ratio(g("strong_t1", "p50_ms"), g("eventual", "p50_ms")),
            "ratio_p50_strong_majority_eventual": ratio(g("strong_majority", "p50_ms"), g("eventual", "p50_ms")),
            "ratio_p50_eventual_haproxy": ratio(g("eventual", "p50_ms"), g("haproxy", "p50_ms")),
            "ratio_p50_haproxy_direct": ratio(g("haproxy", "p50_ms"), g("direct", "p50_ms")),
            "ratio_tps_strong_t1_eventual": ratio(g("strong_t1", "tps"), g("eventual", "tps")),
            "ratio_tps_strong_majority_eventual": ratio(g("strong_majority", "tps"), g("eventual", "tps")),
            "ratio_tps_eventual_haproxy": ratio(g("eventual", "tps"), g("haproxy", "tps")),
        })
    return targets, cells


def delay_of(cell, k):
    ranks = cell["apply_delay"]["rank"]
    return ranks[k - 1]["median_ms"] if len(ranks) >= k else None


def checks(cells):
    out = []
    for c in cells:
        th = c["threads"]
        tg = c["targets"]
        ev = tg.get("eventual", {}).get("p50_ms", {})
        hp = tg.get("haproxy", {}).get("p50_ms", {})
        if ev.get("median") is not None and hp.get("median") is not None:
            overlap = ev["min"] <= hp["max"] and hp["min"] <= ev["max"]
            out.append({"check": "eventual_p50_le_haproxy_p50", "threads": th,
                        "text": f"EVENTUAL p50 {ev['median']:.3f} ms [{ev['min']:.3f}-{ev['max']:.3f}]"
                                f" <= haproxy p50 {hp['median']:.3f} ms [{hp['min']:.3f}-{hp['max']:.3f}]"
                                + ("  (spreads overlap)" if overlap else ""),
                        "pass": ev["median"] <= hp["median"], "spreads_overlap": overlap})
        for t, k, name in (("strong_t1", 1, "fastest"), ("strong_majority", 2, "2nd-fastest")):
            st = tg.get(t, {}).get("p50_ms", {})
            d = delay_of(c, k)
            if st.get("median") is None or ev.get("median") is None or d is None:
                continue
            bound = ev["median"] + d
            out.append({"check": f"{t}_p50_le_eventual_p50_plus_delay", "threads": th,
                        "text": f"{t} p50 {st['median']:.3f} ms <= EVENTUAL p50 {ev['median']:.3f}"
                                f" + {name} replica apply delay {d:.3f} = {bound:.3f} ms",
                        "pass": st["median"] <= bound, "bound_ms": bound})
    if cells:
        top = max(cells, key=lambda c: c["threads"])
        ev = top["targets"].get("eventual", {}).get("tps", {}).get("median")
        for t in ("strong_t1", "strong_majority"):
            st = top["targets"].get(t, {}).get("tps", {}).get("median")
            if st is None or not ev:
                continue
            out.append({"check": f"{t}_tps_ge_0.8_eventual", "threads": top["threads"],
                        "text": f"{t} throughput {st:.0f}/s >= 0.8 x EVENTUAL {ev:.0f}/s"
                                f" = {0.8 * ev:.0f}/s  (ratio {st / ev:.3f})",
                        "pass": st >= 0.8 * ev, "ratio": st / ev})
    return out


def print_tables(targets, cells, chk, runs, meta, failures, outpath):
    w = sys.stdout.write
    loads = [r["load1"] for r in runs if r.get("load1") is not None]
    w("\n")
    w(f"write benchmark (single-row autocommit INSERT)  reps={meta.get('reps')} "
      f"time={meta.get('time')}s  nproc={meta.get('nproc')}\n")
    w(f"load average: start {meta.get('loadavg_start')}, end {meta.get('loadavg_end')}; "
      f"1-min load after each run: median {fmt(med(loads), 2)} "
      f"[{fmt(min(loads) if loads else None, 2)}-{fmt(max(loads) if loads else None, 2)}]\n")
    w(f"direct={meta.get('direct')}  haproxy={meta.get('haproxy')}  "
      f"myquorum t=1: {meta.get('proxy_t1')}  t=majority: {meta.get('proxy_majority') or '-'}\n\n")
    w("Latency (ms, from sysbench's histogram) and throughput (inserts/s): median [min-max] over repetitions;\n"
      "catch-up s: median time after the run until every replica had applied the primary's binlog\n")
    hdr = (f"{'thr':>3}  {'target':<16} {'p50 ms':>7} {'[min-max]':>15}  {'p95 ms':>7} {'[min-max]':>15}"
           f"  {'inserts/s':>9} {'[min-max]':>13}  {'catch-up s':>10}  {'fail':>4}\n")
    w(hdr)
    w("-" * (len(hdr) - 1) + "\n")
    for c in cells:
        for t in targets:
            d = c["targets"][t]
            p50, p95, tps = d["p50_ms"], d["p95_ms"], d["tps"]
            r50 = f"[{fmt(p50['min'], 3)}-{fmt(p50['max'], 3)}]" if p50["values"] else "-"
            r95 = f"[{fmt(p95['min'], 3)}-{fmt(p95['max'], 3)}]" if p95["values"] else "-"
            rtp = f"[{fmt(tps['min'])}-{fmt(tps['max'])}]" if tps["values"] else "-"
            extra = ""
            if d["reconnects"] or d["ignored_errors"]:
                extra = f"  (ignored errors {d['ignored_errors']}, reconnects {d['reconnects']})"
            w(f"{c['threads']:>3}  {t:<16} {fmt(p50['median'], 3):>7} {r50:>15}  "
              f"{fmt(p95['median'], 3):>7} {r95:>15}  {fmt(tps['median']):>9} {rtp:>13}  "
              f"{fmt(d['catchup_s']['median'], 1):>10}  {d['failed']:>4}{extra}\n")
        w("\n")

    w("Ratios of medians\n")
    hdr = (f"{'thr':>3}  {'p50 STRONG1/EV':>14} {'p50 STRONGmaj/EV':>16} {'p50 EV/haproxy':>14} "
           f"{'p50 hap/direct':>14}  {'tps STRONG1/EV':>14} {'tps STRONGmaj/EV':>16} {'tps EV/hap':>10}\n")
    w(hdr)
    w("-" * (len(hdr) - 1) + "\n")
    for c in cells:
        w(f"{c['threads']:>3}  {fmt(c['ratio_p50_strong_t1_eventual'], 3):>14} "
          f"{fmt(c['ratio_p50_strong_majority_eventual'], 3):>16} "
          f"{fmt(c['ratio_p50_eventual_haproxy'], 3):>14} {fmt(c['ratio_p50_haproxy_direct'], 3):>14}  "
          f"{fmt(c['ratio_tps_strong_t1_eventual'], 3):>14} "
          f"{fmt(c['ratio_tps_strong_majority_eventual'], 3):>16} "
          f"{fmt(c['ratio_tps_eventual_haproxy'], 3):>10}\n")
    w("\n")

    w("Replica apply delay during the EVENTUAL runs (ms from the write's OK on the primary until\n"
      "the k-th fastest replica had applied it; median over sampled writes [min-max of per-rep medians])\n")
    hdr = (f"{'thr':>3}  {'samples':>7}  {'fastest':>8} {'[min-max]':>15}  {'2nd':>8} {'[min-max]':>15}"
           f"  {'3rd':>8}  {'p95 fastest':>11} {'p95 2nd':>8}  {'timeouts':>8}\n")
    w(hdr)
    w("-" * (len(hdr) - 1) + "\n")
    for c in cells:
        a = c["apply_delay"]
        rk = a["rank"]

        def col(k, key="median_ms", digits=3):
            return fmt(rk[k][key], digits) if len(rk) > k else "-"

        def rng(k):
            if len(rk) <= k:
                return "-"
            return f"[{fmt(rk[k]['rep_median_min_ms'], 3)}-{fmt(rk[k]['rep_median_max_ms'], 3)}]"
        w(f"{c['threads']:>3}  {a['samples']:>7}  {col(0):>8} {rng(0):>15}  {col(1):>8} {rng(1):>15}"
          f"  {col(2):>8}  {col(0, 'p95_ms'):>11} {col(1, 'p95_ms'):>8}  {a['timeouts']:>8}\n")
        for e in a["errors"][:3]:
            w(f"      probe error: {e}\n")
    w("\n")

    w("Targets (issue 5, part 7) -- measured values; timings never fail the script\n")
    for ck in chk:
        w(f"  [{'PASS' if ck['pass'] else 'MISS'}] thr={ck['threads']:>2}  {ck['text']}\n")
    if failures:
        w("\nFAILED runs (sysbench exit status != 0 or unparsable output, reconnects, ignored errors):\n")
        for f in failures:
            w(f"  threads={f['threads']} rep={f['rep']} target={f['target']} rc={f['rc']} "
              f"reconnects={f.get('reconnects', '-')} ignored_errors={f.get('ignored_errors', '-')}\n")
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
    runs = load_runs(a.rundir)
    targets, cells = summarize(runs)
    chk = checks(cells)
    failures = [r for r in runs if not r["ok"] or r.get("reconnects") or r.get("ignored_errors")]
    doc = {"meta": meta, "summary": cells, "checks": chk, "runs": runs}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1, default=lambda x: None)
        f.write("\n")
    print_tables(targets, cells, chk, runs, meta, failures, a.out)


if __name__ == "__main__":
    main()
