#!/usr/bin/python3
"""trace_to_png.py - draw a multitask trace (MT_TRACE=file.json, Chrome
trace-event JSON) as a PNG timeline: one row per task, thread or worker
process, time in seconds from the first event.

    MT_TRACE=hw3.json build/examples/homework3
    /usr/bin/python3 scripts/trace_to_png.py hw3.json docs/homework3.png \\
        --title "homework 3: producer and consumer on a queue"

Colours: a task running (dark blue, usually a thin line: running takes
microseconds), sleeping (light blue), waiting on a queue (orange), a task
of a thread pool or process pool (green). Needs python3-matplotlib.
"""

import argparse
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

STYLE = {  # category: (colour, label, bar height)
    "sleep": ("#9ecae1", "sleeping", 0.5),
    "queue": ("#fd8d3c", "waiting on a queue", 0.5),
    "run": ("#08306b", "running", 0.8),
    "executor": ("#31a354", "thread-pool task", 0.6),
    "pool": ("#31a354", "process-pool task", 0.6),
}


def load(path):
    """The events of a trace file; the closing bracket may be missing."""
    text = open(path).read().strip()
    if text.endswith(","):
        text = text[:-1]
    if not text.endswith("]"):
        text += "]"
    return json.loads(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace")
    ap.add_argument("png")
    ap.add_argument("--title", default="")
    ap.add_argument("--min-run", type=float, default=0.004,
                    help="draw run slices at least this share of the time span wide, "
                         "so that they show (default 0.004)")
    args = ap.parse_args()

    events = load(args.trace)
    names, slices = {}, []
    for e in events:
        key = (e.get("pid"), e.get("tid"))
        if e.get("ph") == "M" and e.get("name") == "thread_name":
            names[key] = e["args"]["name"]
        elif e.get("ph") == "X":
            slices.append((key, e["ts"] / 1e6, e["dur"] / 1e6, e.get("cat", ""), e["name"]))
    if not slices:
        sys.exit("trace_to_png.py: no slices in " + args.trace)
    t0 = min(s[1] for s in slices)
    # Rows in order of first appearance, the first one on top.
    rows = []
    for key, *_ in sorted(slices, key=lambda s: s[1]):
        if key not in rows:
            rows.append(key)
    row_of = {key: i for i, key in enumerate(rows)}

    span = max(s[1] + s[2] for s in slices) - t0
    fig, ax = plt.subplots(figsize=(12, 1.3 + 0.55 * max(len(rows), 2)))
    order = {"sleep": 0, "queue": 0, "executor": 1, "pool": 1, "run": 2}
    for key, ts, dur, cat, name in sorted(slices, key=lambda s: order.get(s[3], 1)):
        colour, _, height = STYLE.get(cat, ("#969696", cat, 0.5))
        if cat == "run":
            dur = max(dur, args.min_run * span)
        y = len(rows) - 1 - row_of[key]
        ax.broken_barh([(ts - t0, dur)], (y - height / 2, height), facecolors=colour,
                       edgecolors="white" if cat != "run" else colour, linewidth=1)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([names.get(k, "%s/%s" % k) for k in reversed(rows)])
    ax.set_xlabel("seconds")
    ax.set_xlim(left=0)
    ax.grid(axis="x", linestyle=":", linewidth=0.6)
    seen = {s[3] for s in slices}
    handles = [Patch(color=c, label=lbl) for cat, (c, lbl, _) in STYLE.items() if cat in seen]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if args.title:
        ax.set_title(args.title)
    fig.tight_layout()
    fig.savefig(args.png, dpi=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
