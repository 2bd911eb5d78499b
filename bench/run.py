#!/usr/bin/python3
"""run.py - build the benchmark programs, run each benchmark beside its anchor
(the same work done by Python or by a standard tool), and write the table.

    /usr/bin/python3 bench/run.py                 # every benchmark, 5 rounds
    /usr/bin/python3 bench/run.py --quick         # smoke run: 2 rounds, small sizes
    /usr/bin/python3 bench/run.py --only map_cs1,apply_rt --rounds 9
    /usr/bin/python3 bench/run.py --list

The machine is shared and noisy, so ours and the anchor (and a second
anchor, when a benchmark has one) run in the same invocation, interleaved
round after round (the order reverses every other round), and the table gives
medians, the min-max over the rounds and the ratio of the medians. Each
program prints one JSON line; the table below (BENCHMARKS) says which field
of it is the figure, which side it is compared with, and the target.

Standard library only; run with Debian's /usr/bin/python3.
"""

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tool_bench import build_benchmarks, run_json

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
ANCHOR_PY = "/usr/bin/python3"


@dataclass
class Figure:
    """One row of the table: one figure of ours beside the same figure of an
    anchor: by default the benchmark's own anchor, in the same round."""
    key: str                  # field in our program's JSON line
    unit: str
    higher_better: bool
    target: float | None      # ratio (times better) this stage must reach; None: report only
    anchor_key: str = ""      # field in the anchor's line, when not `key`
    label: str = ""           # row name, when not "<benchmark>"
    anchor_note: str = ""     # what the anchor's figure is, when not plain
    against: str = "anchor"   # the side compared with: "anchor" or a name in Bench.others
    against_bench: str = ""   # ... of this other benchmark (run too), when not this one
    absolute: float | None = None  # ours' median must also reach this, in `unit`


@dataclass
class Bench:
    """One benchmark: our command and the anchor's (and any others'), run
    alternately."""
    name: str
    group: str                # results go to bench/results/<group>.md
    what: str                 # one line: the work both sides do
    ours: list                # argv; {build} {bench} {py} {n} {p} are filled in
    anchor: list
    n: int                    # size of a full run (items, round trips, ...)
    quick_n: int              # size of a --quick run
    figures: list
    processes: int | Callable[[int], int] = 0  # workers on every side; 0: the CPUs
                              # we may use; a function: of that CPU count
    timeout: float = 900.0    # seconds per command
    others: dict = field(default_factory=dict)  # further anchors: side name -> argv
    server: bool = False      # needs the crawl site's nginx (bench/crawl/bench_site.py)

    def sides(self):
        return ["ours", "anchor"] + list(self.others)

    def command(self, side):
        return {"ours": self.ours, "anchor": self.anchor, **self.others}[side]


def program_pair(program: str, sub: str, anchor: str = ""):
    """The usual pair: bench/<program>.c's binary and bench/py/<anchor or
    program>.py, both run as `SUBCOMMAND -p P -n N`."""
    return (program_command(program, sub),
            ["{py}", "{bench}/py/" + (anchor or program) + ".py"] + bench_args(sub))


def program_command(program: str, sub: str):
    """bench/<program>.c's binary run as `SUBCOMMAND -p P -n N`."""
    return ["{build}/bench/" + program] + bench_args(sub)


def bench_args(sub):
    return [sub, "-p", "{p}", "-n", "{n}"]


def threadpool_workers(cpus):
    """ThreadPoolExecutor's default worker count, min(32, CPUs + 4)."""
    return min(32, cpus + 4)


def pool_bench(sub, what, n, quick_n, figures, **kw):
    ours, anchor = program_pair("bench_pool", sub)
    return Bench(sub, "pool", what, ours, anchor, n, quick_n, figures, **kw)


# The benchmarks. To add one: write the two programs (each prints one JSON
# line), then add an entry here.
BENCHMARKS = [
    pool_bench("map_cs1", "map of tiny tasks (square a long), chunksize 1; every square checked",
               100_000, 10_000, [Figure("tasks_per_s", "tasks/s", True, 50)]),
    pool_bench("map_default", "map of tiny tasks (square a long), each side's default chunksize",
               1_000_000, 100_000, [Figure("tasks_per_s", "tasks/s", True, 10)]),
    pool_bench("apply_rt", "apply_async + get, one round trip after another",
               20_000, 2_000,
               [Figure("median_us", "us", False, 10, label="apply_rt median"),
                Figure("mean_us", "us", False, None, label="apply_rt mean")]),
    pool_bench("process", "start + join of a process running an empty task (fork)",
               500, 50,
               [Figure("median_ms", "ms", False, 10, label="process median"),
                Figure("mean_ms", "ms", False, None, label="process mean")]),
    pool_bench("crash", "SIGKILL a one-worker pool's worker mid-task",
               20, 5,
               [Figure("failed_ms", "ms", False, None, label="crash: kill -> failed future",
                       anchor_note="ProcessPoolExecutor: BrokenProcessPool"),
                Figure("ready_ms", "ms", False, None, label="crash: kill -> replacement served",
                       anchor_note="ProcessPoolExecutor stays broken: a new executor served"),
                Figure("failed_ms", "ms", False, None, anchor_key="pool_failed",
                       label="crash: kill -> failed future (vs Pool)",
                       anchor_note="multiprocessing.Pool never reports the lost task"),
                Figure("ready_ms", "ms", False, None, anchor_key="pool_ready_ms",
                       label="crash: kill -> replacement served (vs Pool)",
                       anchor_note="multiprocessing.Pool's replacement worker served")],
               processes=1),
]


def queue_bench(sub, anchor, what, n, quick_n, figures):
    ours, anchor_cmd = program_pair("bench_queue", sub, anchor)
    return Bench(sub, "queue", what, ours, anchor_cmd, n, quick_n, figures, processes=2)


MP_QUEUE = "multiprocessing.Queue, same bound"
BENCHMARKS += [
    queue_bench("queue_16", "queue_mp",
                "16-byte messages, producer process -> consumer process; every one checked",
                1_000_000, 100_000,
                [Figure("msgs_per_s", "msgs/s", True, 100, absolute=14e6,
                        anchor_note=MP_QUEUE)]),
    queue_bench("queue_4k", "queue_mp",
                "4 KiB messages, producer process -> consumer process; every one checked",
                200_000, 20_000,
                [Figure("mb_per_s", "MB/s", True, 4, anchor_note=MP_QUEUE)]),
    queue_bench("queue_1m", "queue_mp",
                "1 MiB messages, producer process -> consumer process; every one checked",
                2_000, 200,
                [Figure("mb_per_s", "MB/s", True, 4, anchor_note=MP_QUEUE)]),
    queue_bench("queue_threads", "queue_threads",
                "16-byte messages, 2 producer threads -> 2 consumer threads; order checked",
                1_000_000, 100_000,
                [Figure("msgs_per_s", "msgs/s", True, None, anchor_note="queue.Queue")]),
]


def shared_bench(sub, anchor, what, n, quick_n, figures):
    ours, anchor_cmd = program_pair("bench_shared", sub, anchor)
    return Bench(sub, "shared", what, ours, anchor_cmd, n, quick_n, figures, processes=2)


def batched_figures(name, single, single_call, batch_call):
    """A batched benchmark's rows: against the Manager's single calls, as
    the target reads ("batched in one transaction at least 100x" the
    Manager), and against the Manager's own batched call (report)."""
    return [Figure("ops_per_s", "ops/s", True, 100, against_bench=single,
                   label=f"{name} vs single {single_call}",
                   anchor_note=f"Manager {single_call}, one call each: {single}'s anchor"),
            Figure("ops_per_s", "ops/s", True, None, label=f"{name} vs {batch_call}",
                   anchor_note=f"Manager {batch_call} of 1,000")]


BENCHMARKS += [
    shared_bench("dict_reads", "manager_dict",
                 "2 processes read N values each from one dict, one get at a time; every "
                 "value checked", 200_000, 20_000,
                 [Figure("ops_per_s", "ops/s", True, 100, anchor_note="Manager().dict()")]),
    shared_bench("dict_writes", "manager_dict",
                 "2 processes write N pairs each into one dict, one transaction (call) each",
                 100_000, 10_000,
                 [Figure("ops_per_s", "ops/s", True, 10, anchor_note="Manager().dict()")]),
    shared_bench("dict_batched", "manager_dict",
                 "2 processes write N pairs each into one dict, 1,000 per transaction "
                 "(update)", 1_000_000, 100_000, batched_figures("dict_batched", "dict_writes", "d[k] = v", "update()")),
    shared_bench("list_appends", "manager_list",
                 "2 processes append N items each to one list, one transaction (call) each; "
                 "final length checked", 100_000, 10_000,
                 [Figure("ops_per_s", "ops/s", True, 10, anchor_note="Manager().list()")]),
    shared_bench("list_batched", "manager_list",
                 "2 processes append N items each to one list, 1,000 per transaction "
                 "(extend); final length checked", 1_000_000, 100_000,
                 batched_figures("list_batched", "list_appends", "append()",
                                 "extend()")),
]


def executor_bench(sub, what, n, quick_n, figures):
    ours, anchor = program_pair("bench_executor", sub, "thread_pool")
    glib = program_command("bench_executor", "glib" if sub == "tasks" else "glib_" + sub)
    return Bench(sub, "executor", what, ours, anchor, n, quick_n, figures,
                 processes=threadpool_workers, others={"glib": glib})


TPE, GTP = "ThreadPoolExecutor", "GLib GThreadPool"
BENCHMARKS += [
    executor_bench("tasks", "N trivial tasks (square a long) submitted, then every future "
                   "waited and its result checked", 1_000_000, 100_000,
                   [Figure("tasks_per_s", "tasks/s", True, 50, anchor_note=TPE),
                    Figure("tasks_per_s", "tasks/s", True, 1, against="glib",
                           label="tasks vs GThreadPool", anchor_note=GTP)]),
    executor_bench("latency", "submit one task and wait for it, N times: submit to start",
                   20_000, 2_000,
                   [Figure("median_us", "us", False, None, label="latency median",
                           anchor_note=TPE),
                    Figure("mean_us", "us", False, None, label="latency mean", anchor_note=TPE),
                    Figure("median_us", "us", False, None, against="glib",
                           label="latency median vs GThreadPool", anchor_note=GTP),
                    Figure("mean_us", "us", False, None, against="glib",
                           label="latency mean vs GThreadPool", anchor_note=GTP)]),
]


def coro_pair(sub, anchor_sub=None, anchor_prog=None):
    """bench_coro SUBCOMMAND beside bench/py/bench_coro.py ANCHOR_SUB (asyncio;
    ANCHOR_SUB ending in _uvloop: uvloop), or beside a C anchor program of
    bench/anchors/ when anchor_prog is given."""
    ours = ["{build}/bench/bench_coro", sub, "-p", "{p}", "-n", "{n}"]
    if anchor_prog:
        anchor = ["{build}/bench/" + anchor_prog, anchor_sub or sub, "-p", "{p}", "-n", "{n}"]
    else:
        anchor = ["{py}", "{bench}/py/bench_coro.py", anchor_sub or sub, "-p", "{p}", "-n", "{n}",
                  "--client", "{build}/bench/bench_coro"]
    return ours, anchor


def coro_bench(name, sub, what, n, quick_n, figures, anchor_sub=None, anchor_prog=None, **kw):
    ours, anchor = coro_pair(sub, anchor_sub, anchor_prog)
    return Bench(name, "coro", what, ours, anchor, n, quick_n, figures, **kw)


def sleepers_figures(name, target):
    return [Figure("seconds", "s wall", False, target, label=name),
            Figure("bytes_per_task", "bytes resident per sleeping task", False, None,
                   label=name + " memory")]


# The coroutine benchmarks (bench_coro.c). Most of their targets are
# absolute (a switch in at most 11 ns, ...; bench/README.md lists them):
# those rows are reported only, and the "ours" column is what to hold
# against the target. Ratios are targets where the issue sets them against
# asyncio: the queue (50x) and the yield (19 ns against asyncio's 2,400 ns,
# 126x).
BENCHMARKS += [
    coro_bench("co_switch", "switch", "raw context switch, main <-> one coroutine",
               2_000_000, 200_000, [Figure("ns_per_switch", "ns", False, None)],
               anchor_prog="anchor_swapcontext", processes=1),
    coro_bench("co_switch_boost", "switch", "raw context switch against Boost.Context's fcontext",
               10_000_000, 1_000_000, [Figure("ns_per_switch", "ns", False, None)],
               anchor_prog="anchor_boost", processes=1),
    coro_bench("co_yield", "yield", "two tasks yielding in turn (asyncio.sleep(0))",
               1_000_000, 100_000, [Figure("ns_per_yield", "ns", False, 126)], processes=2),
    coro_bench("co_yield_uvloop", "yield", "two tasks yielding in turn, against uvloop",
               1_000_000, 100_000, [Figure("ns_per_yield", "ns", False, None)],
               anchor_sub="yield_uvloop", processes=2),
    coro_bench("co_yield_st", "yield", "two tasks yielding in turn, against State Threads",
               1_000_000, 100_000, [Figure("ns_per_yield", "ns", False, None)],
               anchor_prog="anchor_st", processes=2),
    coro_bench("co_create", "create", "create + run + destroy a task, awaited at once",
               200_000, 20_000, [Figure("ns_per_task", "ns", False, None)], processes=1),
    coro_bench("co_create_st", "create", "create + run + destroy, against State Threads",
               1_000_000, 100_000, [Figure("ns_per_task", "ns", False, None)],
               anchor_prog="anchor_st", processes=1),
    coro_bench("co_aqueue", "aqueue", "one producer, one consumer, a queue of maxsize 10",
               500_000, 50_000,
               [Figure("items_per_s", "items/s", True, 50),
                Figure("ns_per_item", "ns", False, None, label="co_aqueue per item")],
               processes=1),
    coro_bench("co_aqueue_uvloop", "aqueue", "the queue against asyncio.Queue on uvloop",
               500_000, 50_000, [Figure("items_per_s", "items/s", True, None)],
               anchor_sub="aqueue_uvloop", processes=1),
    coro_bench("co_sleepers", "sleepers", "100,000 tasks each sleeping 1 s, private stacks",
               100_000, 10_000, sleepers_figures("co_sleepers", None), processes=1),
    coro_bench("co_sleepers_shared", "sleepers_shared",
               "100,000 tasks each sleeping 1 s, on the shared stack",
               100_000, 10_000, sleepers_figures("co_sleepers_shared", None), anchor_sub="sleepers",
               processes=1),
    coro_bench("co_sleepers_1m", "sleepers", "1,000,000 tasks each sleeping 1 s at once",
               1_000_000, 100_000, sleepers_figures("co_sleepers_1m", None), processes=1),
    coro_bench("co_sleep_start", "sleep_start", "start a 10 s timer, against libuv's",
               1_000_000, 100_000, [Figure("ns_per_start", "ns", False, None)],
               anchor_prog="anchor_uv", processes=1),
    coro_bench("co_sleep_start_py", "sleep_start", "start a 10 s timer, against call_later",
               1_000_000, 100_000, [Figure("ns_per_start", "ns", False, None)], processes=1),
    coro_bench("co_echo", "echo", "echo server, 100 client connections, 64-byte round trips",
               200_000, 20_000, [Figure("requests_per_s", "requests/s", True, None)],
               processes=100),
    coro_bench("co_echo_uvloop", "echo", "the echo server against uvloop's",
               200_000, 20_000, [Figure("requests_per_s", "requests/s", True, None)],
               anchor_sub="echo_uvloop", processes=100),
]


def http_bench(name, sub, anchor_sub, what, n, quick_n, figures, others=None):
    """bench_http SUBCOMMAND beside bench/py/bench_http.py ANCHOR_SUB, 20
    workers on every side (the seed's ThreadPoolExecutor(20)), against the
    crawl benchmark's nginx on 127.0.0.1:8088."""
    ours = ["{build}/bench/bench_http", sub, "-p", "{p}", "-n", "{n}"]
    anchor = ["{py}", "{bench}/py/bench_http.py", anchor_sub, "-p", "{p}", "-n", "{n}"]
    return Bench(name, "http", what, ours, anchor, n, quick_n, figures, processes=20,
                 others=others or {}, server=True)


# The HTTP layer (bench_http.c): requests/s from one thread, and the design
# question of http.h (a loop per blocking thread, or one shared loop thread)
# measured with the seed's image downloader.
REQUESTS_GET = "requests.get in ThreadPoolExecutor(20), as the seed"
SHARED_LOOP = "bench_http images_shared: one loop thread serves all"
BENCHMARKS += [
    http_bench("http_get_1k", "get_1k", "get_1k",
               "GETs of one 1 KiB file from one thread: 20 coroutines, one client / aiohttp",
               100_000, 10_000,
               [Figure("requests_per_s", "requests/s", True, None, absolute=20_000,
                       anchor_note="aiohttp, one ClientSession")]),
    http_bench("http_images", "images_threads", "images",
               "N image downloads (the crawl site's images in turn: 10,000 are 2.99 GB) by 20 "
               "plain threads each making blocking GETs, "
               "bodies to memory and every length checked: mt_http_get_blocking (a loop and a "
               "client per thread)", 10_000, 1_000,
               [Figure("mb_per_s", "MB/s", True, None, label="http_images: loop per thread",
                       anchor_note=REQUESTS_GET),
                Figure("mb_per_s", "MB/s", True, None, against="session",
                       label="http_images: loop per thread vs Session",
                       anchor_note="a requests.Session per thread"),
                Figure("mb_per_s", "MB/s", True, None, against="shared",
                       label="http_images: loop per thread vs one shared loop thread",
                       anchor_note=SHARED_LOOP),
                Figure("cpu_s", "CPU s (process)", False, None, against="shared",
                       label="http_images CPU: loop per thread vs shared loop thread",
                       anchor_note=SHARED_LOOP),
                Figure("peak_rss_mib", "MiB peak RSS", False, None, against="shared",
                       label="http_images memory: loop per thread vs shared loop thread",
                       anchor_note=SHARED_LOOP),
                Figure("peak_rss_mib", "MiB peak RSS", False, None,
                       label="http_images memory: loop per thread vs requests",
                       anchor_note=REQUESTS_GET)],
               others={"shared": ["{build}/bench/bench_http", "images_shared", "-p", "{p}",
                                  "-n", "{n}"],
                       "session": ["{py}", "{bench}/py/bench_http.py", "images_session",
                                   "-p", "{p}", "-n", "{n}"]}),
]


# ---- running -----------------------------------------------------------------

def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_command(argv, timeout):
    """Run one benchmark command in its own process group. Returns its (last)
    JSON line as a dict, or a short string saying why there is none."""
    lines = run_json(argv, timeout)
    return lines if isinstance(lines, str) else lines[-1]


def command_values(b, quick, build):
    """What fills a command's {placeholders}."""
    p = b.processes(cpus()) if callable(b.processes) else b.processes or cpus()
    return {"build": build, "bench": BENCH, "py": ANCHOR_PY,
            "n": b.quick_n if quick else b.n, "p": p}


def relative(value):
    """A path inside the tree as a relative one, for the report."""
    if isinstance(value, Path) and value.is_relative_to(ROOT):
        return value.relative_to(ROOT)
    return value


def fill(argv, values):
    return [arg.format(**values) for arg in argv]


def side_keys(b, side):
    """The JSON fields the table reads from one side's line, for the log."""
    if side == "ours":
        return dict.fromkeys(f.key for f in b.figures)
    keys = dict.fromkeys(f.anchor_key or f.key for f in b.figures
                         if f.against == side and not f.against_bench)
    return keys or dict.fromkeys(f.anchor_key or f.key for f in b.figures)


def run_rounds(benches, rounds, quick, build):
    """Run every benchmark `rounds` times, ours and the anchors back to back.
    Returns {name: {side: [...]}}, one entry per round for each side ("ours",
    "anchor" and the names in Bench.others)."""
    runs = {b.name: {side: [] for side in b.sides()} for b in benches}
    for r in range(rounds):
        for b in benches:
            values = command_values(b, quick, build)
            sides = b.sides() if r % 2 == 0 else b.sides()[::-1]
            for side in sides:
                res = run_command(fill(b.command(side), values), b.timeout)
                runs[b.name][side].append(res)
                shown = res if isinstance(res, str) else ", ".join(
                    f"{k}={show(res.get(k))}" for k in side_keys(b, side))
                log(f"round {r + 1}/{rounds} {b.name} {side}: {shown}")
    return runs


# ---- figures -----------------------------------------------------------------

def cpus():
    return len(os.sched_getaffinity(0))


def value_of(line, fig, side):
    """The figure in one JSON line (a number or a word such as "hangs"), or
    the reason the run gave none."""
    if isinstance(line, str):
        return line
    key = fig.key if side == "ours" else (fig.anchor_key or fig.key)
    return line.get(key, f"no '{key}' field")


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def show(v):
    """A number to three significant figures, with thousands separators."""
    if not is_num(v):
        return str(v)
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


@dataclass
class Row:
    fig: Figure
    bench: Bench
    ours: list = field(default_factory=list)    # per round: number, word or failure
    anchor: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def summary(self, side):
        vals = getattr(self, side)
        nums = [v for v in vals if is_num(v)]
        if nums:
            text = show(statistics.median(nums))
            if len(nums) > 1:
                text += f" ({show(min(nums))}-{show(max(nums))})"
            if len(nums) < len(vals):
                text += f", {len(vals) - len(nums)} failed"
            return text
        words = sorted(set(str(v) for v in vals))
        return "; ".join(words) if words else "not run"

    def ratio(self):
        """Median ratio and per-round range, as 'times better' for ours."""
        ours = [v for v in self.ours if is_num(v)]
        anchor = [v for v in self.anchor if is_num(v)]
        if not ours or not anchor:
            return None, []

        def better(o, a):
            if o <= 0 or a <= 0:
                return None
            return o / a if self.fig.higher_better else a / o

        mid = better(statistics.median(ours), statistics.median(anchor))
        rounds = [better(o, a) for o, a in zip(self.ours, self.anchor)
                  if is_num(o) and is_num(a)]
        return mid, [x for x in rounds if x is not None]

    def absolute_met(self):
        """Whether ours' median reaches the absolute target; None without one."""
        ours = [v for v in self.ours if is_num(v)]
        if not ours:
            return None
        mid = statistics.median(ours)
        return mid >= self.fig.absolute if self.fig.higher_better else mid <= self.fig.absolute

    def target_result(self, mid, quick):
        """The target and result cells."""
        fig = self.fig
        targets, missed, unknown = [], [], False
        if fig.target is not None:
            targets.append(f">= {fig.target:g}x")
            unknown |= mid is None
            if mid is not None and mid < fig.target:
                missed.append("ratio")
        if fig.absolute is not None:
            targets.append(f"ours {'>=' if fig.higher_better else '<='} "
                           f"{show(fig.absolute)} {fig.unit}")
            met = self.absolute_met()
            unknown |= met is None
            if met is False:
                missed.append("absolute")
        if not targets:
            return "report", "-"
        if missed:
            result = "missed" + (f" ({', '.join(missed)})" if len(targets) > 1 else "")
        else:
            result = "n/a" if unknown else "met"
        if quick and result != "n/a":
            result += " (quick run)"
        return " and ".join(targets), result

    def cells(self, quick=False):
        mid, rounds = self.ratio()
        if mid is None:
            ratio = "n/a"
        else:
            ratio = f"{mid:.3g}x"
            if len(rounds) > 1:
                ratio += f" ({min(rounds):.3g}-{max(rounds):.3g})"
        target, result = self.target_result(mid, quick)
        unit = self.fig.unit + (", higher is better" if self.fig.higher_better
                                else ", lower is better")
        anchor = self.summary("anchor")
        if self.fig.anchor_note:
            anchor += f" [{self.fig.anchor_note}]"
        return [f"{self.fig.label or self.bench.name} ({unit})", self.summary("ours"), anchor,
                ratio, target, result]


def make_rows(benches, runs):
    rows = []
    for b in benches:
        ours = runs[b.name]["ours"]
        for fig in b.figures:
            other = runs.get(fig.against_bench or b.name, {})
            anchor = other.get(fig.against, [])
            row = Row(fig, b, [value_of(x, fig, "ours") for x in ours],
                      [value_of(x, fig, fig.against) for x in anchor])
            # Within one benchmark both sides do the same work; against
            # another benchmark's anchor, only the workers must match.
            fields = ("processes",) if fig.against_bench else ("processes", "n")
            for o, a in zip(ours, anchor):
                if isinstance(o, dict) and isinstance(a, dict):
                    for k in fields:
                        if o.get(k) != a.get(k):
                            row.notes.append(f"{k} differs: ours {o.get(k)}, "
                                             f"{fig.against} {a.get(k)}")
            rows.append(row)
    return rows


def markdown_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


TABLE_HEADER = ["benchmark", "ours: median (min-max)", "anchor: median (min-max)",
                "ratio (ours is x better)", "target", "result"]


# ---- the machine ---------------------------------------------------------------

def read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def first_line(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return (out.stdout.strip() or out.stderr.strip()).splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def machine():
    model = next((line.split(":", 1)[1].strip() for line in read("/proc/cpuinfo").splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown")
    mem_kb = next((int(line.split()[1]) for line in read("/proc/meminfo").splitlines()
                   if line.startswith("MemTotal:")), 0)
    commit = first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    status = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                             "--untracked-files=no"], capture_output=True, text=True)
    dirty = status.returncode == 0 and status.stdout.strip() != ""
    return [
        ("CPU", model),
        ("CPUs", f"{os.cpu_count()} (nproc: {cpus()})"),
        ("memory", f"{mem_kb / 1024 / 1024:.1f} GiB"),
        ("kernel", platform.release()),
        ("Debian", read("/etc/debian_version").strip() or "unknown"),
        ("anchor Python", f"{ANCHOR_PY}: {first_line([ANCHOR_PY, '--version'])}"),
        ("compiler", first_line(["cc", "--version"])),
        ("build", "meson --buildtype=release (-O3)"),
        ("commit", commit + (" with uncommitted changes" if dirty else "")),
    ]


# ---- the report ----------------------------------------------------------------

def report(group, benches, rows, args, rounds, started, load_before):
    kind = "QUICK RUN (smoke test)" if args.quick else "full run"
    lines = [f"# Benchmarks: {group}", ""]
    if args.quick:
        lines += ["**QUICK RUN: a smoke test with reduced sizes and few rounds, to show that "
                  "every benchmark runs end to end. These figures are not a measurement.**", ""]
    lines += [f"{kind}, {started:%Y-%m-%d %H:%M} UTC: `{' '.join(['bench/run.py'] + args.argv)}`, "
              f"{rounds} rounds; ours and the anchor run back to back in each round "
              "(which goes first alternates), on a shared machine: only the ratios "
              "mean much.", ""]
    lines += [markdown_table(TABLE_HEADER, [r.cells(args.quick) for r in rows]), ""]
    lines += ["Ratio: the median of ours against the median of the anchor named in "
              "brackets (the benchmark's own unless it says otherwise), as how many "
              "times better ours is (ours/anchor when higher is better, anchor/ours when "
              "lower is better); in brackets the range of the ratios of single rounds. "
              "Target: the ratio this stage must reach, and for some an absolute figure "
              "ours must reach too; \"report\" rows have none.", ""]
    lines += ["## What ran", ""]
    for b in benches:
        values = command_values(b, args.quick, Path(args.build_dir).resolve())
        shown = {k: relative(v) for k, v in values.items()}
        cmds = [f"{'Ours' if side == 'ours' else side} "
                f"`{' '.join(fill(b.command(side), shown))}`" for side in b.sides()]
        lines.append(f"- **{b.name}**: {b.what}. " + ", ".join(cmds) + ".")
    notes = sorted({f"{r.bench.name}: {n}" for r in rows for n in r.notes})
    if notes:
        lines += ["", "**Warnings:**", ""] + [f"- {n}" for n in notes]
    lines += ["", "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in machine()]
    lines.append(f"- load average before / after: {load_before} / {loadavg()}")
    lines += ["", "## Every round", ""]
    per_round = []
    for r in rows:
        for i, (o, a) in enumerate(zip(r.ours, r.anchor)):
            per_round.append([r.fig.label or r.bench.name, i + 1, show(o), show(a)])
    lines += [markdown_table(["benchmark", "round", "ours", "anchor"], per_round), ""]
    return "\n".join(lines)


def loadavg():
    return " ".join(read("/proc/loadavg").split()[:3]) or "unknown"


# ---- main ----------------------------------------------------------------------

def install():
    """Install the Debian packages that the programs and the anchors need, as
    ./test.sh does for the tests: scripts/deps.sh installs what is missing
    when run as root, and otherwise prints the apt-get line and fails."""
    log("$ need_packages build bench   # scripts/deps.sh")
    script = '. "$1/scripts/deps.sh" && need_packages build bench'
    if subprocess.run(["bash", "-c", script, "deps", str(ROOT)],
                      stdout=sys.stderr).returncode != 0:
        sys.exit("run.py: the packages above are missing (--no-install runs without them)")


def check_programs(benches, build_dir):
    """Every program the chosen benchmarks run exists: else say which and
    why, rather than a row of "cannot run" for each round."""
    missing = {}
    for b in benches:
        values = command_values(b, True, build_dir)
        for side in b.sides():
            prog = fill(b.command(side), values)[0]
            if "/" in prog and not os.access(prog, os.X_OK):
                missing.setdefault(prog, []).append(f"{b.name} ({side})")
    for prog, users in missing.items():
        print(f"run.py: {relative(Path(prog))} is missing, needed by {', '.join(users)}: "
              "its Debian package is not installed (scripts/deps.sh, MT_PACKAGES_bench) "
              "or it was not built", file=sys.stderr)
    if missing:
        sys.exit(1)


def start_server(quick):
    """The crawl benchmark's site and nginx (bench/crawl/bench_site.py; the
    --quick site is the small one), for the benchmarks marked `server`. The
    programs find it through MT_BENCH_SITE and MT_BENCH_URL."""
    sys.path.insert(0, str(BENCH / "crawl"))
    import bench_site
    site = bench_site.Site(os.environ.get("MT_BENCH_DATA", bench_site.DEFAULT_DATA), quick)
    site.generate(log)
    site.warm()
    site.start(log)
    os.environ["MT_BENCH_SITE"] = str(site.dir)
    os.environ["MT_BENCH_URL"] = site.base
    return site


def check_table():
    """Every row compares with a side that exists."""
    by_name = {b.name: b for b in BENCHMARKS}
    for b in BENCHMARKS:
        for f in b.figures:
            other = by_name.get(f.against_bench or b.name)
            if other is None or f.against not in other.sides():
                sys.exit(f"run.py: {b.name}: a row compares with "
                         f"{f.against_bench or b.name}'s {f.against}, which does not exist")


def select(only):
    """The benchmarks --only names, with those whose anchors their rows are
    compared with (Figure.against_bench)."""
    if not only:
        return BENCHMARKS
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    known = {b.name for b in BENCHMARKS} | {b.group for b in BENCHMARKS}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        print(f"run.py: no benchmark or group named {', '.join(unknown)} (see --list)",
              file=sys.stderr)
        sys.exit(2)
    chosen = {b.name for b in BENCHMARKS if b.name in wanted or b.group in wanted}
    needed = {f.against_bench for b in BENCHMARKS if b.name in chosen
              for f in b.figures if f.against_bench} - chosen
    if needed:
        log(f"run.py: also running {', '.join(sorted(needed))}, which other rows compare with")
    return [b for b in BENCHMARKS if b.name in chosen | needed]


def list_benchmarks():
    for b in BENCHMARKS:
        print(f"{b.name:<13} [{b.group}] {b.what}; n = {b.n:,} (--quick: {b.quick_n:,})")
        for f in b.figures:
            versus = f.against if not f.against_bench else f"{f.against_bench}'s {f.against}"
            targets = [] if f.target is None else [f">= {f.target:g}x"]
            if f.absolute is not None:
                targets.append(f"{'>=' if f.higher_better else '<='} {show(f.absolute)} {f.unit}")
            print(f"{'':15}{f.label or b.name}: {f.unit}, "
                  f"{'higher' if f.higher_better else 'lower'} is better, against {versus}, "
                  f"target {' and '.join(targets) or 'report'}")


def main():
    ap = argparse.ArgumentParser(description="Run the benchmarks beside their anchors.")
    ap.add_argument("--rounds", type=int, help="rounds of each pair (default 5, --quick 2)")
    ap.add_argument("--quick", action="store_true", help="smoke run: small sizes, 2 rounds")
    ap.add_argument("--only", help="comma-separated benchmark or group names")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    ap.add_argument("--build-dir", default=str(ROOT / "build-bench"),
                    help="meson build directory (default build-bench)")
    ap.add_argument("--no-build", action="store_true", help="use the programs already built")
    ap.add_argument("--no-install", action="store_true",
                    help="do not install the Debian packages the benchmarks need")
    ap.add_argument("--no-write", action="store_true",
                    help="print the tables only; leave bench/results/ alone")
    args = ap.parse_args()
    args.argv = sys.argv[1:]
    check_table()
    if args.list:
        list_benchmarks()
        return 0
    rounds = args.rounds or (2 if args.quick else 5)
    if rounds < 1:
        ap.error("--rounds must be at least 1")
    benches = select(args.only)
    build_dir = Path(args.build_dir).resolve()
    if not args.no_install:
        install()
    if not args.no_build:
        build_benchmarks(build_dir)
    check_programs(benches, build_dir)

    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = loadavg()
    site = start_server(args.quick) if any(b.server for b in benches) else None
    try:
        runs = run_rounds(benches, rounds, args.quick, build_dir)
    finally:
        if site:
            site.stop(log)
    rows = make_rows(benches, runs)

    for group in dict.fromkeys(b.group for b in benches):
        in_group = [b for b in benches if b.group == group]
        text = report(group, in_group, [r for r in rows if r.bench.group == group],
                      args, rounds, started, load_before)
        print(text)
        if not args.no_write:
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / f"{group}.md").write_text(text)
            log(f"wrote {RESULTS / (group + '.md')}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
