#!/usr/bin/env python3
"""Soak test of the camera loop under faults: runs `incept camera` for a long time on the
replay source with faults injected into the source (corrupt frames, camera unplugged and
back, timeouts, stalls) and a sink that blocks, samples its memory, open file descriptors
and latency, and checks that nothing grows and every frame is accounted for.

    python3 tools/soak.py --duration 3600 --out target/soak

Writes OUT/samples.csv (one row per sample), OUT/soak.png (RSS, fds and p50/p99 latency over
time), OUT/report.md (the figures) and OUT/summary.json (the loop's own final summary), and
prints the report. Exit status 1 if a check fails:
- RSS: no sample after the first minute exceeds the one-minute sample by more than 2 %;
- open file descriptors: the last sample equals the one-minute sample;
- every frame is accounted for: captured = results + dropped + errors, and the JSON-lines
  sink got one line per result, drop and error that reached it (the rest are counted as
  skipped because the blocking sink was behind);
- latency: the p99 of the last tenth of the run is within 1.5x of the second tenth's.
"""

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

LINE = re.compile(
    r"\[(?P<t>\d+) s\] (?P<fps>[\d.]+) fps, inference (?P<inf>[\d.]+) ms, preprocess [\d.]+ ms, "
    r"latency p50 (?P<p50>[\d.]+) / p99 (?P<p99>[\d.]+) ms; frames (?P<frames>\d+) = "
    r"(?P<results>\d+) results \+ (?P<dropped>\d+) dropped \+ (?P<errors>\d+) errors"
)


def proc_status(pid):
    """(RSS KiB, open fds, threads) of a running process."""
    rss = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd")), threads


def plot(rows, path):
    """RSS, fds and latency over time, drawn with pillow."""
    from PIL import Image, ImageDraw

    w, h, pad = 900, 660, 60
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    panels = [
        ("RSS (MiB)", [("rss", (30, 90, 200))], lambda r: r["rss_kib"] / 1024),
        ("open file descriptors", [("fds", (200, 90, 30))], lambda r: r["fds"]),
        ("latency p50 / p99 (ms)", [("p50", (30, 150, 60)), ("p99", (200, 30, 60))], None),
    ]
    ph = (h - pad) // 3
    t_max = max(r["t"] for r in rows) or 1
    for i, (title, series, getter) in enumerate(panels):
        top = 20 + i * ph
        box = (pad, top + 18, w - 20, top + ph - 22)
        d.rectangle(box, outline="black")
        d.text((pad, top), title, fill="black")
        values = {}
        for name, _ in series:
            values[name] = [
                (r["t"], getter(r) if getter else r[name])
                for r in rows if (getter or r.get(name) is not None)
                and (getter is not None or r[name] is not None)
            ]
        allv = [v for s in values.values() for _, v in s]
        if not allv:
            continue
        lo, hi = 0, max(allv) * 1.15 or 1
        d.text((4, box[1]), f"{hi:.0f}", fill="gray")
        d.text((4, box[3] - 10), f"{lo:.0f}", fill="gray")
        for name, color in series:
            pts = [
                (box[0] + (box[2] - box[0]) * t / t_max, box[3] - (box[3] - box[1]) * (v - lo) / (hi - lo))
                for t, v in values[name]
            ]
            if len(pts) > 1:
                d.line(pts, fill=color, width=2)
            d.text((box[2] - 60 - 40 * series.index((name, color)), top), name, fill=color)
    d.text((pad, h - 30), f"time (s), 0 .. {t_max:.0f}", fill="black")
    img.save(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=3600, help="seconds to run")
    ap.add_argument("--out", type=Path, default=Path("target/soak"))
    ap.add_argument("--incept", default="target/release/incept")
    ap.add_argument("--source", default="tests/data/photos")
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--fps", type=float, default=10)
    ap.add_argument("--faults", type=float, default=0.05, help="source fault rate per frame")
    ap.add_argument("--sink-block", default="0.002:10000",
                    help="RATE:MS of the blocking sink (default: 10 s on 0.2 %% of records, "
                    "longer than the 64-record sink queue lasts at 10 fps)")
    ap.add_argument("--every", type=float, default=10, help="seconds between samples")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    jsonl = args.out / "results.jsonl"
    cmd = [
        args.incept, "camera", "--source", args.source, "--model", args.model,
        "--fps", str(args.fps), "--faults", str(args.faults),
        "--sink", f"jsonl:{jsonl}", "--sink", f"block:{args.sink_block}",
        "--duration", str(args.duration), "--stats-every", str(args.every),
        "--summary", str(args.out / "summary.json"),
    ]
    print("$ " + " ".join(cmd), file=sys.stderr)
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    latest = {}
    log = open(args.out / "incept.log", "w")

    def read_stderr():
        for line in proc.stderr:
            log.write(line)
            log.flush()
            m = LINE.search(line)
            if m:
                latest.update({k: float(v) for k, v in m.groupdict().items()})

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    rows = []
    start = time.monotonic()
    while proc.poll() is None:
        time.sleep(args.every)
        try:
            rss, fds, threads = proc_status(proc.pid)
        except (FileNotFoundError, ProcessLookupError):
            break
        if rss == 0:  # exiting
            break
        rows.append({
            "t": round(time.monotonic() - start, 1), "rss_kib": rss, "fds": fds,
            "threads": threads, "p50": latest.get("p50"), "p99": latest.get("p99"),
            "frames": latest.get("frames"), "results": latest.get("results"),
            "dropped": latest.get("dropped"), "errors": latest.get("errors"),
        })
    proc.wait()
    reader.join(timeout=5)
    log.close()

    with open(args.out / "samples.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    plot(rows, args.out / "soak.png")
    summary = json.loads((args.out / "summary.json").read_text())
    stats = summary["stats"]
    lines = {"result": 0, "dropped": 0, "error": 0, "other": 0}
    with open(jsonl) as f:
        for line in f:
            kind = json.loads(line).get("record", "other")
            lines[kind if kind in lines else "other"] += 1

    checks = []
    ref = next((r for r in rows if r["t"] >= 60), rows[0])
    later = [r for r in rows if r["t"] >= ref["t"]]
    rss_max = max(r["rss_kib"] for r in later)
    checks.append(("RSS flat (max after 1 min <= 1.02 x the 1-min sample)",
                   rss_max <= ref["rss_kib"] * 1.02,
                   f"{ref['rss_kib']} KiB at {ref['t']:.0f} s, max {rss_max} KiB, "
                   f"last {rows[-1]['rss_kib']} KiB"))
    checks.append(("open fds flat", rows[-1]["fds"] == ref["fds"],
                   f"{ref['fds']} at {ref['t']:.0f} s, {rows[-1]['fds']} at the end, "
                   f"max {max(r['fds'] for r in later)}"))
    accounted = stats["captured"] == stats["results"] + stats["dropped"] + stats["errors"]
    checks.append(("every frame accounted for", accounted,
                   f"{stats['captured']} captured = {stats['results']} results + "
                   f"{stats['dropped']} dropped + {stats['errors']} errors"))
    sunk = lines["result"] + lines["dropped"] + lines["error"]
    records = stats["results"] + stats["dropped"] + stats["errors"]
    checks.append(("every record reached the sinks or was counted as skipped",
                   sunk + stats["sink_skipped"] == records and lines["other"] == 0,
                   f"{sunk} JSON lines + {stats['sink_skipped']} skipped = {records} records"))
    tenth = max(1, len(rows) // 10)
    p99s = [r["p99"] for r in rows if r["p99"] is not None]
    early = max(p99s[tenth:2 * tenth] or p99s[:1])
    late = max(p99s[-tenth:])
    checks.append(("p99 latency stable (last tenth <= 1.5 x second tenth)", late <= 1.5 * early,
                   f"{early:.1f} ms early, {late:.1f} ms late"))

    faults = stats["disconnects"] + stats["timeouts"] + stats["errors"]
    report = [
        f"# Soak: {summary['elapsed_s']:.0f} s of `incept camera` under faults",
        "",
        f"Command: `{' '.join(cmd)}`",
        "",
        "| figure | value |",
        "|---|---|",
        f"| duration | {summary['elapsed_s']:.0f} s |",
        f"| frames | {stats['captured']} captured: {stats['results']} results, "
        f"{stats['dropped']} dropped, {stats['errors']} errors |",
        f"| source faults seen by the loop | {stats['disconnects']} disconnect calls, "
        f"{stats['timeouts']} timeouts, {stats['errors']} frame errors ({faults} in all) |",
        f"| sink | {sunk} JSON lines, {stats['sink_skipped']} records skipped while the "
        f"blocking sink was behind, {stats['sink_errors']} sink errors |",
        f"| RSS start (first sample) / 1 min / end / max | {rows[0]['rss_kib']} / "
        f"{ref['rss_kib']} / {rows[-1]['rss_kib']} / {max(r['rss_kib'] for r in rows)} KiB |",
        f"| open fds start / end / max | {rows[0]['fds']} / {rows[-1]['fds']} / "
        f"{max(r['fds'] for r in rows)} |",
        f"| threads start / end | {rows[0]['threads']} / {rows[-1]['threads']} |",
        f"| latency p50 / p99 (whole run) | {summary['latency_p50_ms']:.1f} / "
        f"{summary['latency_p99_ms']:.1f} ms (last 1,024 records) |",
        f"| p99 early / late | {early:.1f} / {late:.1f} ms |",
        f"| fps | {summary['fps']:.2f} |",
        "",
        "| check | result | detail |",
        "|---|---|---|",
    ] + [f"| {name} | {'pass' if ok else 'FAIL'} | {detail} |" for name, ok, detail in checks]
    text = "\n".join(report) + "\n"
    (args.out / "report.md").write_text(text)
    print(text)
    return 0 if all(ok for _, ok, _ in checks) and proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
