#!/usr/bin/python3
"""run.py - build the benchmark programs, run each benchmark beside its anchor
(the same work done by Python or by a standard tool), and write the table.

    /usr/bin/python3 bench/run.py                 # every benchmark, 5 rounds
    /usr/bin/python3 bench/run.py --quick         # smoke run: 2 rounds, small sizes
    /usr/bin/python3 bench/run.py --only map_cs1,apply_rt --rounds 9
    /usr/bin/python3 bench/run.py --list

The machine is shared and noisy, so ours and the anchor run in the same
invocation, interleaved round after round (which of the two goes first
alternates between rounds), and the table gives medians, the min-max over the
rounds and the ratio of the medians. Each program prints one JSON line; the
table below (BENCHMARKS) says which field of it is the figure.

Standard library only; run with Debian's /usr/bin/python3.
"""

import argparse
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
ANCHOR_PY = "/usr/bin/python3"


@dataclass
class Figure:
    """One row of the table: one figure read from both JSON lines."""
    key: str                  # field in our program's JSON line
    unit: str
    higher_better: bool
    target: float | None      # ratio (times better) this stage must reach; None: report only
    anchor_key: str = ""      # field in the anchor's line, when not `key`
    label: str = ""           # row name, when not "<benchmark>"
    anchor_note: str = ""     # what the anchor's figure is, when not plain


@dataclass
class Bench:
    """One benchmark: our command and the anchor's, run alternately."""
    name: str
    group: str                # results go to bench/results/<group>.md
    what: str                 # one line: the work both sides do
    ours: list                # argv; {build} {bench} {py} {n} {p} are filled in
    anchor: list
    n: int                    # size of a full run (items, round trips, ...)
    quick_n: int              # size of a --quick run
    figures: list
    processes: int = 0        # workers on both sides; 0: the CPUs we may use
    timeout: float = 900.0    # seconds per command


def program_pair(program: str, sub: str):
    """The usual pair: bench/<program>.c's binary and bench/py/<program>.py,
    both run as `SUBCOMMAND -p P -n N`."""
    args = [sub, "-p", "{p}", "-n", "{n}"]
    return (["{build}/bench/" + program] + args,
            ["{py}", "{bench}/py/" + program + ".py"] + args)


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


# ---- running -----------------------------------------------------------------

def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_command(argv, timeout):
    """Run one benchmark command in its own process group. Returns its JSON
    line as a dict, or a short string saying why there is none."""
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
    except OSError as e:
        return f"cannot run: {e.strerror}"
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return f"timeout after {timeout:.0f} s"
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    if proc.returncode != 0:
        last = (err.strip().splitlines() or ["no message"])[-1]
        return f"exit {proc.returncode}: {last}"
    lines = [line for line in out.splitlines() if line.strip()]
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        return "no JSON line in its output"


def command_values(b, quick, build):
    """What fills a command's {placeholders}."""
    return {"build": build, "bench": BENCH, "py": ANCHOR_PY,
            "n": b.quick_n if quick else b.n, "p": b.processes or cpus()}


def relative(value):
    """A path inside the tree as a relative one, for the report."""
    if isinstance(value, Path) and value.is_relative_to(ROOT):
        return value.relative_to(ROOT)
    return value


def fill(argv, values):
    return [arg.format(**values) for arg in argv]


def run_rounds(benches, rounds, quick, build):
    """Run every benchmark `rounds` times, ours and the anchor back to back.
    Returns {name: {"ours": [...], "anchor": [...]}}, one entry per round."""
    runs = {b.name: {"ours": [], "anchor": []} for b in benches}
    for r in range(rounds):
        for b in benches:
            values = command_values(b, quick, build)
            sides = ["ours", "anchor"] if r % 2 == 0 else ["anchor", "ours"]
            for side in sides:
                res = run_command(fill(getattr(b, side), values), b.timeout)
                runs[b.name][side].append(res)
                keys = dict.fromkeys(f.key if side == "ours" else (f.anchor_key or f.key)
                                     for f in b.figures)
                shown = res if isinstance(res, str) else ", ".join(
                    f"{k}={show(res.get(k))}" for k in keys)
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

    def cells(self, quick=False):
        mid, rounds = self.ratio()
        if mid is None:
            ratio = "n/a"
        else:
            ratio = f"{mid:.3g}x"
            if len(rounds) > 1:
                ratio += f" ({min(rounds):.3g}-{max(rounds):.3g})"
        if self.fig.target is None:
            target, result = "report", "-"
        else:
            target = f">= {self.fig.target:g}x"
            result = "n/a" if mid is None else ("met" if mid >= self.fig.target else "missed")
            if quick and mid is not None:
                result += " (quick run)"
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
        ours, anchor = runs[b.name]["ours"], runs[b.name]["anchor"]
        for fig in b.figures:
            row = Row(fig, b, [value_of(x, fig, "ours") for x in ours],
                      [value_of(x, fig, "anchor") for x in anchor])
            for o, a in zip(ours, anchor):
                if isinstance(o, dict) and isinstance(a, dict):
                    for k in ("processes", "n"):
                        if o.get(k) != a.get(k):
                            row.notes.append(f"{k} differs: ours {o.get(k)}, anchor {a.get(k)}")
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
    lines += ["Ratio: the median of ours against the median of the anchor, as how many "
              "times better ours is (ours/anchor when higher is better, anchor/ours when "
              "lower is better); in brackets the range of the ratios of single rounds. "
              "Target: the ratio this stage must reach; \"report\" rows have none.", ""]
    lines += ["## What ran", ""]
    for b in benches:
        values = command_values(b, args.quick, Path(args.build_dir).resolve())
        shown = {k: relative(v) for k, v in values.items()}
        lines.append(f"- **{b.name}**: {b.what}. "
                     f"Ours `{' '.join(fill(b.ours, shown))}`, "
                     f"anchor `{' '.join(fill(b.anchor, shown))}`.")
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

def build(build_dir):
    opts = ["--buildtype=release", "-Dtests=false", "-Dexamples=false", "-Dbenchmarks=true"]
    if (build_dir / "build.ninja").exists():
        cmd = ["meson", "configure", str(build_dir)] + opts
    else:
        cmd = ["meson", "setup", str(build_dir), str(ROOT)] + opts
    for argv in (cmd, ["ninja", "-C", str(build_dir)]):
        log("$ " + " ".join(argv))
        if subprocess.run(argv, stdout=sys.stderr).returncode != 0:
            sys.exit(f"run.py: {argv[0]} failed")


def select(only):
    if not only:
        return BENCHMARKS
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    known = {b.name for b in BENCHMARKS} | {b.group for b in BENCHMARKS}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        print(f"run.py: no benchmark or group named {', '.join(unknown)} (see --list)",
              file=sys.stderr)
        sys.exit(2)
    return [b for b in BENCHMARKS if b.name in wanted or b.group in wanted]


def list_benchmarks():
    for b in BENCHMARKS:
        print(f"{b.name:<12} [{b.group}] {b.what}; n = {b.n:,} (--quick: {b.quick_n:,})")
        for f in b.figures:
            target = "report" if f.target is None else f">= {f.target:g}x the anchor"
            print(f"{'':14}{f.label or b.name}: {f.unit}, "
                  f"{'higher' if f.higher_better else 'lower'} is better, target {target}")


def main():
    ap = argparse.ArgumentParser(description="Run the benchmarks beside their anchors.")
    ap.add_argument("--rounds", type=int, help="rounds of each pair (default 5, --quick 2)")
    ap.add_argument("--quick", action="store_true", help="smoke run: small sizes, 2 rounds")
    ap.add_argument("--only", help="comma-separated benchmark or group names")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    ap.add_argument("--build-dir", default=str(ROOT / "build-bench"),
                    help="meson build directory (default build-bench)")
    ap.add_argument("--no-build", action="store_true", help="use the programs already built")
    ap.add_argument("--no-write", action="store_true",
                    help="print the tables only; leave bench/results/ alone")
    args = ap.parse_args()
    args.argv = sys.argv[1:]
    if args.list:
        list_benchmarks()
        return 0
    rounds = args.rounds or (2 if args.quick else 5)
    if rounds < 1:
        ap.error("--rounds must be at least 1")
    benches = select(args.only)
    build_dir = Path(args.build_dir).resolve()
    if not args.no_build:
        build(build_dir)

    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = loadavg()
    runs = run_rounds(benches, rounds, args.quick, build_dir)
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
