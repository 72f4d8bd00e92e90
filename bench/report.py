#!/usr/bin/env python3
"""Writes the one benchmark report of bench/run.sh: Markdown with the ratios, and an SVG chart
of latency percentiles per consistency level and target (a small hand-written SVG: no plotting
library, no fonts needed to write it). Standard library only.

usage: report.py --prefix DIR/run-STAMP --stamp STAMP --out DIR [--quick 0|1] [--reps N] [--time S]
Reads PREFIX-sysbench.json, PREFIX-levels.txt, PREFIX-stress.json, PREFIX-failover.{json,txt}
and PREFIX-steps.tsv, whichever exist; writes OUT/report-STAMP.md, OUT/latency-STAMP.svg and
OUT/REPORT.md (the same report, the latest run)."""

import argparse
import json
import math
import os
import statistics
import subprocess

LEVELS = ("EVENTUAL", "CAUSAL", "STRONG")
COLOURS = {"p50": "#4C78A8", "p95": "#F58518", "p99": "#E45756"}


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def sysbench_section(data):
    out = ["## Proxy hop: sysbench direct / haproxy / myquorum", ""]
    if not data:
        return out + ["No sysbench results (step skipped or failed; see Steps).", ""]
    meta = data.get("meta", {})
    out += [
        f"{meta.get('sysbench', 'sysbench ?')}, {meta.get('reps', '?')} reps x {meta.get('time', '?')} s, "
        f"{meta.get('nproc', '?')} CPUs, load {meta.get('loadavg_start', '?')} -> {meta.get('loadavg_end', '?')}. "
        "Median QPS per target; ratios of medians (goal: myquorum/haproxy >= 1.0).",
        "",
        "| workload | threads | direct QPS | haproxy QPS | myquorum QPS | myquorum/direct | myquorum/haproxy | p95 ms direct / haproxy / myquorum |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in data.get("summary", []):
        t = row.get("targets", {})
        q = {k: t.get(k, {}).get("qps_median") for k in ("direct", "haproxy", "myquorum")}
        p = {k: t.get(k, {}).get("p95_median") for k in ("direct", "haproxy", "myquorum")}
        fmt = lambda v: f"{v:.0f}" if v else "-"
        out.append(
            f"| {row.get('workload')} | {row.get('threads')} | {fmt(q['direct'])} | {fmt(q['haproxy'])} | "
            f"{fmt(q['myquorum'])} | {ratio(q['myquorum'], q['direct'])} | {ratio(q['myquorum'], q['haproxy'])} | "
            f"{p['direct']} / {p['haproxy']} / {p['myquorum']} |"
        )
    return out + [""]


def levels_section(text):
    out = ["## Default level: sysbench through CAUSAL, CAUSAL without replica wait, EVENTUAL", ""]
    if not text:
        return out + ["No level comparison (step skipped or failed; see Steps).", ""]
    rows = [l.split() for l in text.splitlines()[1:] if l.strip()]
    out += [
        "Median QPS of autocommit sysbench workloads (bench/levels.sh); the ratio is to EVENTUAL "
        "on the same workload; 'to replicas' is the share of statements the proxy sent to replicas.",
        "",
        "| workload | level | median QPS | / EVENTUAL | to replicas |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for wl in sorted({r[0] for r in rows}):
        med = {}
        share = {}
        for level in ("CAUSAL", "CAUSAL-nowait", "EVENTUAL"):
            rs = [r for r in rows if r[0] == wl and r[1] == level]
            if not rs:
                continue
            med[level] = statistics.median(float(r[3]) for r in rs)
            p = sum(int(r[4]) for r in rs)
            rr = sum(int(r[5]) for r in rs)
            share[level] = rr / (p + rr) if p + rr else 0.0
        for level, q in med.items():
            out.append(
                f"| {wl} | {level} | {q:.0f} | {ratio(q, med.get('EVENTUAL'))} | {share[level]:.1%} |"
            )
    return out + [""]


def stress_rows(data):
    if not data:
        return []
    for s in data.get("scenarios", []):
        if s.get("scenario") == "performance":
            return s.get("results", [])
    return []


def stress_section(rows, svg_name):
    out = ["## Consistency levels over the MySQL port and HTTP (`myquorum stress performance`)", ""]
    if not rows:
        return out + ["No stress results (step skipped or failed; see Steps).", ""]
    out += [
        "30% `INSERT INTO users`, 70% `SELECT * FROM users ORDER BY id DESC LIMIT 10`, 8 sessions; "
        "latencies in ms; the throughput ratio is to EVENTUAL on the same target, and HTTP/MySQL "
        "compares the targets at the same level.",
        "",
        f"![latency percentiles per level and target]({svg_name})",
        "",
        "| target | level | ops/s | / EVENTUAL | HTTP/MySQL | write p50 | p95 | p99 | read p50 | p95 | p99 | failed |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    tput = {(r["target"], r["level"]): r.get("throughput_ops_per_sec", 0) for r in rows}
    for r in rows:
        w, rd = r.get("write", {}), r.get("read", {})
        t, lv = r["target"], r["level"]
        http_mysql = ratio(tput.get(("http", lv)), tput.get(("mysql", lv))) if t == "http" else ""
        out.append(
            f"| {t} | {lv} | {tput[(t, lv)]:.0f} | {ratio(tput[(t, lv)], tput.get((t, 'EVENTUAL')))} | {http_mysql} | "
            f"{w.get('p50_ms', 0):.2f} | {w.get('p95_ms', 0):.2f} | {w.get('p99_ms', 0):.2f} | "
            f"{rd.get('p50_ms', 0):.2f} | {rd.get('p95_ms', 0):.2f} | {rd.get('p99_ms', 0):.2f} | {r.get('failed', 0)} |"
        )
    return out + [""]


def failover_section(data, text):
    out = ["## Failover", ""]
    if text is not None:
        return out + ["Output of bench/failover.sh:", "", "```", text.strip(), "```", ""]
    if not data:
        return out + ["No failover measurement (step skipped or failed; see Steps).", ""]
    f = next((s for s in data.get("scenarios", []) if s.get("scenario") == "failover"), {})
    fmt = lambda v, unit="": "-" if v is None else (f"{v:.0f}{unit}" if isinstance(v, float) else f"{v}{unit}")
    out += [
        "`myquorum stress failover` (bench/failover.sh was absent): STRONG writes through the MySQL "
        "port, `POST /admin/stop-master` a third of the way in.",
        "",
        "| measure | value |",
        "| --- | ---: |",
        f"| primary stopped -> new primary | {f.get('old_primary')} -> {f.get('new_primary')} |",
        f"| failover (control plane's report) | {fmt(f.get('failover_ms'), ' ms')} |",
        f"| stop-master call answered in | {fmt(f.get('stop_master_call_ms'), ' ms')} |",
        f"| first successful write sent after the stop | {fmt(f.get('time_to_first_write_ms'), ' ms')} after it |",
        f"| longest stretch without an acknowledged write | {fmt(f.get('write_outage_ms'), ' ms')} |",
        f"| writes acknowledged / failed | {f.get('acknowledged')} / {f.get('failed')} |",
        f"| acknowledged rows lost | {fmt(f.get('rows_lost'))} |",
        f"| old primary back as a replica | {'yes' if f.get('old_primary_restored') else 'no'} |",
        "",
    ]
    if f.get("errors"):
        out += ["Errors the writers saw: " + ", ".join(f"{n} x `{k}`" for k, n in f["errors"].items()), ""]
    for failure in f.get("failures", []):
        out.append(f"- check failed: {failure}")
    return out + [""]


def svg_chart(rows):
    """Grouped bars: one panel per kind (write, read), one group per (target, level), three
    bars (p50, p95, p99) per group; linear scale from 0 to the panel's largest p99."""
    groups = [(t, lv) for t in ("mysql", "http") for lv in LEVELS]
    by = {(r["target"], r["level"]): r for r in rows}
    groups = [g for g in groups if g in by]
    panel_w, panel_h, left, top, gap = 640, 260, 60, 40, 70
    width = left + panel_w + 30
    height = top + 2 * (panel_h + gap) + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15">'
        "Latency percentiles per consistency level and target (ms)</text>",
    ]
    for i, kind in enumerate(("write", "read")):
        y0 = top + i * (panel_h + gap) + 20
        vmax = max([by[g].get(kind, {}).get("p99_ms", 0) for g in groups] + [0.001])
        step = nice_step(vmax)
        ymax = step * (int(vmax / step) + 1)
        scale = panel_h / ymax
        parts.append(f'<text x="{left}" y="{y0 - 8}" font-size="13">{kind}s</text>')
        tick = 0.0
        while tick <= ymax + 1e-9:
            y = y0 + panel_h - tick * scale
            parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + panel_w}" y2="{y:.1f}" stroke="#ddd"/>')
            parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
            tick += step
        gw = panel_w / max(len(groups), 1)
        bw = gw / 4.5
        for j, g in enumerate(groups):
            lat = by[g].get(kind, {})
            for k, p in enumerate(("p50", "p95", "p99")):
                v = lat.get(f"{p}_ms", 0)
                h = v * scale
                x = left + j * gw + gw * 0.12 + k * bw
                parts.append(
                    f'<rect x="{x:.1f}" y="{y0 + panel_h - h:.1f}" width="{bw * 0.9:.1f}" height="{h:.1f}" '
                    f'fill="{COLOURS[p]}"><title>{g[0]} {g[1]} {kind} {p}: {v:.2f} ms</title></rect>'
                )
            cx = left + j * gw + gw / 2
            parts.append(f'<text x="{cx:.1f}" y="{y0 + panel_h + 16}" text-anchor="middle">{g[1]}</text>')
            parts.append(f'<text x="{cx:.1f}" y="{y0 + panel_h + 30}" text-anchor="middle" fill="#555">{g[0]}</text>')
        parts.append(
            f'<line x1="{left}" y1="{y0 + panel_h}" x2="{left + panel_w}" y2="{y0 + panel_h}" stroke="black"/>'
        )
    lx = left + panel_w - 170
    for k, p in enumerate(("p50", "p95", "p99")):
        parts.append(f'<rect x="{lx + k * 58}" y="30" width="12" height="12" fill="{COLOURS[p]}"/>')
        parts.append(f'<text x="{lx + k * 58 + 16}" y="40">{p}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def nice_step(vmax):
    """A round grid step giving about five lines up to vmax."""
    raw = vmax / 5
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--stamp", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", default="0")
    ap.add_argument("--reps", default="?")
    ap.add_argument("--time", default="?")
    ap.add_argument("--bin", default="?")
    a = ap.parse_args()
    rows = stress_rows(load_json(a.prefix + "-stress.json"))
    svg_name = f"latency-{a.stamp}.svg"
    if rows:
        with open(os.path.join(a.out, svg_name), "w") as f:
            f.write(svg_chart(rows))
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    except OSError:
        rev = "?"
    lines = [
        f"# myquorum benchmark report {a.stamp}",
        "",
        f"git {rev or '?'}, {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
        f"at the end; {a.reps} reps x {a.time} s per run; binary `{a.bin}`. Written by `bench/run.sh`.",
        "",
    ]
    if a.quick == "1":
        lines += [
            "**Smoke run (`--quick`):** one short repetition per measurement on a shared machine; "
            "it shows the report works, the numbers are not worth comparing.",
            "",
        ]
    lines += sysbench_section(load_json(a.prefix + "-sysbench.json"))
    lines += levels_section(read_text(a.prefix + "-levels.txt"))
    lines += stress_section(rows, svg_name)
    lines += failover_section(load_json(a.prefix + "-failover.json"), read_text(a.prefix + "-failover.txt"))
    steps = read_text(a.prefix + "-steps.tsv") or ""
    lines += ["## Steps", "", "| step | outcome | command |", "| --- | --- | --- |"]
    for l in steps.splitlines():
        parts = l.split("\t")
        if len(parts) == 3:
            lines.append(f"| {parts[0]} | {parts[1]} | `{parts[2]}` |")
    lines.append("")
    text = "\n".join(lines)
    for name in (f"report-{a.stamp}.md", "REPORT.md"):
        with open(os.path.join(a.out, name), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
