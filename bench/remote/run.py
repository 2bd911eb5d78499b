#!/usr/bin/python3
"""run.py - the Redis benchmark: the dict, the queue and the pool on a Redis
server against redis-py, Celery, RQ and redis-benchmark, all in one
invocation on one redis-server of its own, interleaved, and the table
(bench/results/remote.md).

    /usr/bin/python3 bench/remote/run.py                    # 100,000 ops and tasks, 3 rounds
    /usr/bin/python3 bench/remote/run.py --quick            # 20,000 of each, 1 round
    /usr/bin/python3 bench/remote/run.py --n 20000 --tasks 20000 --rounds 1
    /usr/bin/python3 bench/remote/run.py --family list --persistence none

The server: Debian's redis-server, started by this script in a fresh
directory under /var/tmp (on the disk: the AOF is written there), listening
on a Unix socket and on a free port of 127.0.0.1, stopped by its pid at the
end. Persistence (--persistence) is the same for everyone: AOF with
appendfsync everysec by default (Redis's advice for an AOF: at most a second
of writes lost), `always`, or `none` (no AOF, no RDB). Every command reaches
it through the Unix socket (--tcp: the loopback port). Before each command
the data is flushed (FLUSHALL) and the AOF rewritten, outside the clock, so
that no run inherits another's data or a rewrite.

What runs, each --rounds times, the order reversed every other round:
  ours      build/bench/remote/bench_rdict URL N      N mt_dict_incr, then N mt_dict_get
            bench_rqueue URL N                        N 16 B messages, producer -> consumer process
            bench_rpool URL TASKS                     TASKS tiny tasks on 2 workers, then
                                                      1000 apply round trips, one after another
  redis-py  py/redis_dict.py, py/redis_queue.py       the same work, one command per op
  Celery    py/celery_bench.py                        one worker of --concurrency 2 (prefork)
  RQ        py/rq_bench.py                            two workers: SimpleWorker, and RQ's default
                                                      Worker (a fork per job) on fewer jobs
  redis-benchmark                                     the server's own limits: the queue's commands
                                                      and HINCRBY/HGET pipelined (-P 16, 50
                                                      clients), PING unpipelined (-P 1 -c 1)
  bench_rping SOCKET 1000                             1000 sequential PINGs through hiredis
URL names the program's object on the server: redis+unix:///path/redis.sock/NAME
(--tcp: redis://127.0.0.1:PORT/NAME), NAME bench-rdict, bench-rqueue or
bench-rpool; the anchors get the socket's path (or HOST:PORT). Each program
prints one JSON line per measurement, {"name":..,"ops":..,"seconds":..,"rate":..},
plus "us_per_op" for a round trip. A program of ours that is not built yet
shows as "not built" in the table. After each command but redis-benchmark's
and bench_rping's, the server's INFO commandstats gives the commands it sent
per operation (below the table).

The queue's command family (--family; stream by default, as mt_queue on a
server is a stream with a consumer group) is the one redis-py's queue and
the queue's target use: list (LPUSH / BRPOP; redis-benchmark LPUSH and RPOP) or
stream (XADD / XREADGROUP ... NOACK; redis-benchmark the same two);
redis-benchmark runs both families every round. Its queue rate is one push
plus one pop per message, pipelined: 1 / (1/push rate + 1/pop rate).
"""

import argparse
import csv
import io
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RESULTS = ROOT / "bench" / "results"
PY = "/usr/bin/python3"
sys.path.insert(0, str(HERE.parent))
from tool_bench import (build_benchmarks, end_on_signals, install, log,  # noqa: E402
                        machine, run_json)

PIPELINE = 16
PING_N = 20000  # redis-benchmark's unpipelined PINGs
RB_MIN = 200_000  # redis-benchmark's pipelined requests, at least


# ---- the server ----------------------------------------------------------------

PERSISTENCE = {
    "everysec": ["--appendonly", "yes", "--appendfsync", "everysec"],
    "always": ["--appendonly", "yes", "--appendfsync", "always"],
    "none": ["--appendonly", "no"],
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One redis-server in a fresh directory, stopped by its pid."""

    def __init__(self, persistence):
        self.dir = Path(tempfile.mkdtemp(prefix="mt-bench-redis-", dir="/var/tmp"))
        self.sock = str(self.dir / "redis.sock")
        self.port = free_port()
        self.persistence = persistence
        self.proc = None

    def start(self):
        cmd = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
               "--unixsocket", self.sock, "--unixsocketperm", "700", "--dir", str(self.dir),
               "--save", "", "--logfile", str(self.dir / "redis.log"),
               "--daemonize", "no"] + PERSISTENCE[self.persistence]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + 20
        while self.cli("PING") != "PONG":
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("run.py: redis-server did not start: "
                                 + (self.dir / "redis.log").read_text()[-500:])
            time.sleep(0.05)
        log(f"redis-server {self.version()} pid {self.proc.pid}: {self.sock} and "
            f"127.0.0.1:{self.port}, persistence {self.persistence}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-s", self.sock] + list(args), capture_output=True,
                           text=True)
        return r.stdout.strip()

    def info(self, section):
        out = {}
        for line in self.cli("INFO", section).splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                out[k] = v.strip()
        return out

    def reset(self):
        """Empty, with a fresh AOF and zeroed statistics: outside the clock."""
        self.cli("FLUSHALL")
        if self.persistence != "none":
            self.cli("BGREWRITEAOF")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                p = self.info("persistence")
                if p.get("aof_rewrite_in_progress") == "0" and \
                        p.get("aof_rewrite_scheduled") == "0":
                    break
                time.sleep(0.05)
        self.cli("CONFIG", "RESETSTAT")

    def commandstats(self):
        """{command: calls} since the last reset."""
        out = {}
        for k, v in self.info("commandstats").items():
            fields = dict(f.split("=", 1) for f in v.split(","))
            out[k.removeprefix("cmdstat_")] = int(fields["calls"])
        return out

    def version(self):
        r = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
        return next((w.removeprefix("v=") for w in r.stdout.split() if w.startswith("v=")), "?")


# ---- what runs -----------------------------------------------------------------

@dataclass
class Item:
    """One command of a round: its argv (filled from the run's values) or a
    function, and its operations (0: its commands are not counted)."""
    key: str
    who: str
    argv: list
    ops: int = 0            # operations, to count the commands sent per operation
    builtin: object = None  # a function(server, values) -> [lines], instead of argv


def rb(server, values, *args):
    """redis-benchmark's CSV: {test: requests per second}."""
    cmd = ["redis-benchmark"] + server.endpoint_args() + ["--csv"] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=values["timeout"])
    if r.returncode != 0:
        raise RuntimeError(f"redis-benchmark: {r.stderr.strip()[-200:]}")
    rows = list(csv.reader(io.StringIO(r.stdout)))
    return {row[0]: float(row[1]) for row in rows[1:] if len(row) > 1}


def line(name, ops, rate, rtt=False):
    out = {"name": name, "ops": ops, "seconds": ops / rate, "rate": rate}
    if rtt:
        out["us_per_op"] = 1e6 / rate
    return out


def harmonic(push, pop):
    """Messages per second when each costs one push and one pop."""
    return 1 / (1 / push + 1 / pop)


def rb_queue(server, v):
    """Both families' push and pop rates, and "queue": the chosen family's
    messages per second."""
    n, payload = v["rb_n"], "m" * 16
    rates = rb(server, v, "-P", str(PIPELINE), "-n", str(n), "-d", "16", "-t", "lpush,rpop")
    lpush, rpop = rates["LPUSH"], rates["RPOP"]
    xadd = next(iter(rb(server, v, "-P", str(PIPELINE), "-n", str(n), "XADD", "rbstream", "*",
                        "m", payload).values()))
    server.cli("XGROUP", "CREATE", "rbstream", "g", "0")
    xread = next(iter(rb(server, v, "-P", str(PIPELINE), "-n", str(n), "XREADGROUP", "GROUP",
                         "g", "c", "COUNT", "1", "NOACK", "STREAMS", "rbstream", ">").values()))
    lines = [line("lpush", n, lpush), line("rpop", n, rpop),
             line("list_queue", n, harmonic(lpush, rpop)), line("xadd", n, xadd),
             line("xreadgroup", n, xread), line("stream_queue", n, harmonic(xadd, xread))]
    chosen = harmonic(lpush, rpop) if v["family"] == "list" else harmonic(xadd, xread)
    return lines + [line("queue", n, chosen)]


def rb_dict(server, v):
    n = v["rb_n"]
    incr = next(iter(rb(server, v, "-P", str(PIPELINE), "-n", str(n), "HINCRBY", "rbhash",
                        "k", "1").values()))
    get = next(iter(rb(server, v, "-P", str(PIPELINE), "-n", str(n), "HGET", "rbhash",
                       "k").values()))
    return [line("dict_incr", n, incr), line("dict_get", n, get)]


def rb_ping(server, v):
    rates = rb(server, v, "-P", "1", "-c", "1", "-n", str(PING_N), "-t", "ping_mbulk")
    return [line("ping_rtt", PING_N, rates["PING_MBULK"], rtt=True)]


def items(build, args):
    b = f"{build}/bench/remote"
    py = str(HERE / "py")

    def ours(prog):
        """bench/remote/'s program, or one bench/meson.build builds."""
        for path in (Path(b, prog), Path(build, "bench", prog)):
            if path.exists():
                return str(path)
        return f"{b}/{prog}"
    return [
        Item("rdict", "ours", [ours("bench_rdict"), "{url}/bench-rdict", "{n}"], 2 * args.n),
        Item("rqueue", "ours", [ours("bench_rqueue"), "{url}/bench-rqueue", "{n}"], args.n),
        Item("rpool", "ours", [ours("bench_rpool"), "{url}/bench-rpool", "{tasks}"],
             args.tasks),
        Item("py_dict", "redis-py", [PY, f"{py}/redis_dict.py", "{server}", "{n}"], 2 * args.n),
        Item("py_queue", "redis-py", [PY, f"{py}/redis_queue.py", "{server}", "{n}", "{family}"],
             args.n),
        Item("celery", "Celery", [PY, f"{py}/celery_bench.py", "{server}", "{tasks}", "{rt}"],
             args.tasks),
        Item("rq_simple", "RQ SimpleWorker",
             [PY, f"{py}/rq_bench.py", "{server}", "{tasks}", "simple"], args.tasks),
        Item("rq_fork", "RQ Worker", [PY, f"{py}/rq_bench.py", "{server}", "{rq_fork_tasks}",
                                      "fork"], args.rq_fork_tasks),
        Item("rb_queue", "redis-benchmark", [], builtin=rb_queue),
        Item("rb_dict", "redis-benchmark", [], builtin=rb_dict),
        Item("rb_ping", "redis-benchmark", [], builtin=rb_ping),
        Item("c_ping", "hiredis", [f"{b}/bench_rping", "{target}", "{rt}"]),
    ]


def pool_names(lines):
    """bench_rpool's two lines: the tasks', and the round trip's (the one
    with us_per_op), whatever their names."""
    out = {}
    for ln in lines:
        out["rtt" if "us_per_op" in ln else "tasks"] = ln
    return out


def run_item(item, server, values, timeout):
    """{name: line}, or a string saying why there is none."""
    if item.builtin:
        try:
            lines = item.builtin(server, values)
        except (RuntimeError, subprocess.TimeoutExpired, StopIteration, KeyError) as e:
            return f"failed: {e}"
        return {ln["name"]: ln for ln in lines}
    argv = [a.format(**values) for a in item.argv]
    if not os.access(argv[0], os.X_OK):
        return "not built"
    lines = run_json(argv, timeout, cwd=HERE / "py")
    if isinstance(lines, str):
        return lines
    if item.key == "rpool":
        return pool_names(lines)
    if item.key == "rqueue":
        return {"queue": lines[0]}
    return {ln.get("name", "?"): ln for ln in lines}


# ---- the table -----------------------------------------------------------------

@dataclass
class Row:
    label: str
    ours: tuple           # (item, name)
    other: tuple          # (item, name)
    field: str            # "rate" or "us_per_op"
    unit: str
    target: tuple = None  # (">=" or "<=", value) on ours/other; None: report only


def rows_of(family):
    fam = "LPUSH/BRPOP" if family == "list" else "XADD/XREADGROUP"
    rb_cmds = "LPUSH+RPOP" if family == "list" else "XADD+XREADGROUP"
    return [
        Row("pool tasks/s vs Celery", ("rpool", "tasks"), ("celery", "celery_tasks"), "rate",
            "tasks/s", (">=", 20)),
        Row("pool tasks/s vs RQ SimpleWorker", ("rpool", "tasks"),
            ("rq_simple", "rq_tasks_simple"), "rate", "tasks/s", (">=", 10)),
        Row("pool tasks/s vs RQ Worker (fork per job)", ("rpool", "tasks"),
            ("rq_fork", "rq_tasks_fork"), "rate", "tasks/s", (">=", 10)),
        Row("apply round trip vs PING (hiredis)", ("rpool", "rtt"), ("c_ping", "ping_rtt"),
            "us_per_op", "us", ("<=", 2)),
        Row("apply round trip vs PING (redis-benchmark -P 1 -c 1)", ("rpool", "rtt"),
            ("rb_ping", "ping_rtt"), "us_per_op", "us"),
        Row("apply round trip vs Celery delay().get()", ("rpool", "rtt"),
            ("celery", "celery_apply_rtt"), "us_per_op", "us"),
        Row(f"queue 16 B msgs/s vs redis-benchmark -P {PIPELINE} {rb_cmds}",
            ("rqueue", "queue"), ("rb_queue", "queue"), "rate", "msgs/s", (">=", 0.5)),
        Row(f"queue 16 B msgs/s vs redis-py {fam}", ("rqueue", "queue"), ("py_queue", "queue"),
            "rate", "msgs/s"),
        Row("dict incr/s vs redis-py HINCRBY", ("rdict", "dict_incr"), ("py_dict", "dict_incr"),
            "rate", "ops/s"),
        Row("dict get/s vs redis-py HGET", ("rdict", "dict_get"), ("py_dict", "dict_get"),
            "rate", "ops/s"),
        Row(f"dict incr/s vs redis-benchmark -P {PIPELINE} HINCRBY", ("rdict", "dict_incr"),
            ("rb_dict", "dict_incr"), "rate", "ops/s"),
        Row(f"dict get/s vs redis-benchmark -P {PIPELINE} HGET", ("rdict", "dict_get"),
            ("rb_dict", "dict_get"), "rate", "ops/s"),
    ]


def values_of(runs, where, field):
    """Per round: the figure, or why there is none."""
    item, name = where
    out = []
    for res in runs.get(item, ["not run"]):
        if isinstance(res, str):
            out.append(res)
        elif name not in res:
            out.append(f"no '{name}' line")
        elif field not in res[name]:
            out.append(f"no '{field}' field")
        else:
            out.append(float(res[name][field]))
    return out


def nums(xs):
    return [x for x in xs if isinstance(x, float)]


def show(v):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def figure(xs):
    """median (min-max), or the reason the runs gave no figure."""
    ns = nums(xs)
    if not ns:
        return (xs[0] if xs else "not run"), None
    text = show(statistics.median(ns))
    if len(ns) > 1:
        text += f" ({show(min(ns))}-{show(max(ns))})"
    if len(ns) < len(xs):
        text += f"; {len(xs) - len(ns)} failed: {next(x for x in xs if isinstance(x, str))}"
    return text, statistics.median(ns)


def table(runs, family):
    head = ["figure", "ours", "anchor", "ours / anchor (single rounds)", "target", "result"]
    out = ["| " + " | ".join(head) + " |", "|---|---:|---:|---:|---|---|"]
    for r in rows_of(family):
        a, b = values_of(runs, r.ours, r.field), values_of(runs, r.other, r.field)
        ta, ma = figure(a)
        tb, mb = figure(b)
        ratio, rng = "-", ""
        if ma and mb:
            ratio = f"{ma / mb:.3g}"
            pairs = [x / y for x, y in zip(a, b) if isinstance(x, float) and isinstance(y, float)]
            if len(pairs) > 1:
                rng = f" ({min(pairs):.3g}-{max(pairs):.3g})"
        target, result = "report", ""
        if r.target:
            op, t = r.target
            target = f"ours / anchor {op} {t:g}"
            if ma and mb:
                ok = ma / mb >= t if op == ">=" else ma / mb <= t
                result = "met" if ok else "missed"
            else:
                result = "not measured"
        ua, ub = (f" {r.unit}" if m else "" for m in (ma, mb))
        out.append(f"| {r.label} | {ta}{ua} | {tb}{ub} | {ratio}{rng} | {target} | {result} |")
    return out


def per_op(stats, ops):
    """The commands a run sent per operation, as text."""
    if not stats or not ops:
        return "-"
    parts = [f"{cmd} {calls / ops:.2f}" for cmd, calls in
             sorted(stats.items(), key=lambda kv: -kv[1]) if calls / ops >= 0.01]
    return ", ".join(parts) or "-"


def versions(server):
    def v(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "not found"
    mods = "import celery, rq, redis, kombu; print(celery.__version__, rq.__version__, " \
           "redis.__version__, kombu.__version__)"
    celery_v, rq_v, redis_v, kombu_v = (v([PY, "-c", mods]).split() + ["?"] * 4)[:4]
    return [f"redis-server {server.version()}", v(["redis-benchmark", "--version"]),
            v([PY, "--version"]), f"Celery {celery_v} (kombu {kombu_v})", f"RQ {rq_v}",
            f"redis-py {redis_v}", "hiredis " + v(["dpkg-query", "-W", "-f=${Version}",
                                                     "libhiredis0.14"])]


def report(runs, stats, args, rounds, load_before, server):
    load_after = os.getloadavg()
    lines = ["# The dict, the queue and the pool on Redis, against redis-py, Celery, RQ "
             "and redis-benchmark", ""]
    if args.note:
        lines += [f"**{args.note}**", ""]
    lines += [f"Machine: {machine()}.",
              f"Load average (1, 5, 15 min) before: {' '.join(f'{x:.2f}' for x in load_before)}; "
              f"after: {' '.join(f'{x:.2f}' for x in load_after)} (CPUs shared with other work: "
              "the figures of one run are comparable with each other only).",
              "Server: one redis-server for everything, started by the benchmark in a fresh "
              "directory under /var/tmp; persistence: "
              + {"everysec": "AOF, appendfsync everysec (no RDB)",
                 "always": "AOF, appendfsync always (no RDB)",
                 "none": "none (no AOF, no RDB)"}[args.persistence]
              + f"; every client on its {'loopback TCP port' if args.tcp else 'Unix socket'}; "
              "flushed, its AOF rewritten and its statistics reset before each command.",
              f"Sizes: dict and queue {args.n:,} operations; pool and Celery {args.tasks:,} "
              f"tasks, RQ SimpleWorker {args.tasks:,} jobs, RQ Worker {args.rq_fork_tasks:,} jobs "
              f"(it forks per job: its rate on fewer jobs); round trips {args.rt:,} "
              f"(redis-benchmark's PING {PING_N:,}); redis-benchmark pipelined "
              f"{max(args.n, RB_MIN):,} requests of each command.",
              f"Rounds: {rounds}, every command once a round, the order reversed every other "
              "round; medians (min-max over the rounds). Ratios: ours / anchor of the medians; "
              "in brackets those of single rounds.",
              "Versions: " + "; ".join(versions(server)) + ".", ""]
    lines += table(runs, args.family) + [""]
    lines += ["## Commands sent per operation", "",
              "From the server's INFO commandstats over the first successful round of each "
              "command (commands a script runs count too; an operation is an increment or a "
              "get, a message, or a task with its share of the round trips after them; the "
              "workers' waits and polls count too).", ""]
    for key, (st, ops) in stats.items():
        lines.append(f"- {key}: {per_op(st, ops)}")
    lines += ["", "## What ran", "",
              f"`{shlex.join(['/usr/bin/python3', 'bench/remote/run.py'] + sys.argv[1:])}`. "
              "URL names the object of ours on the server (`redis+unix://SOCKET/NAME`); the "
              "others get the socket's path (or HOST:PORT).", "",
              "- Ours: `bench_rdict URL N` (mt_dict_incr N times over 1000 keys, then "
              "mt_dict_get N times, each value checked); `bench_rqueue URL N` (16 B messages, "
              "one producer process, one consumer process); `bench_rpool URL TASKS` (tiny "
              "tasks on 2 workers, all results gathered, then apply round trips one after "
              "another).",
              "- redis-py: `py/redis_dict.py` (HINCRBY then HGET, one command per operation, no "
              f"pipelining), `py/redis_queue.py` ({args.family}: "
              + ("LPUSH / BRPOP" if args.family == "list" else
                 "XADD / XREADGROUP COUNT 1 BLOCK 0 NOACK")
              + ", a producer and a consumer process, each message checked).",
              "- Celery: `py/celery_bench.py` with `py/celery_app.py`: the server as broker and "
              "result backend (redis+socket://), one worker `celery worker --pool prefork "
              "--concurrency 2` (two worker processes), Celery's defaults (JSON, prefetch 4); "
              "the tasks sent as one group, every result gathered with the group's get(); "
              "then delay().get() one after another.",
              "- RQ: `py/rq_bench.py` with `py/rq_tasks.py`: two `rq worker` processes "
              "(SimpleWorker, or the default Worker that forks a work horse per job), jobs "
              "enqueued one by one, the finished registry polled every 10 ms, every result "
              "fetched and checked.",
              f"- redis-benchmark: pipelined `-P {PIPELINE}` with its default 50 clients: "
              "`-d 16 -t lpush,rpop`, and `XADD rbstream * m <16 B>` then `XREADGROUP GROUP g "
              "c COUNT 1 NOACK STREAMS rbstream >` (a family's queue rate: one push plus one "
              "pop per message, 1 / (1/push + 1/pop); the table's is --family's, "
              f"{args.family}); "
              "`HINCRBY rbhash k 1`, `HGET rbhash k`; unpipelined PING: `-P 1 -c 1 -t "
              "ping_mbulk`.",
              f"- `bench_rping SOCKET {args.rt}`: PING through hiredis's blocking API, one after "
              "another (bench/remote/bench_rping.c).", "",
              "## Every round", "",
              "| command | " + " | ".join(f"round {i + 1}" for i in range(rounds)) + " |",
              "|---|" + "---|" * rounds]
    for key in runs:
        cells = []
        for res in runs[key]:
            if isinstance(res, str):
                cells.append(res.replace("|", "/"))
            else:
                cells.append(", ".join(
                    f"{n} {show(ln.get('us_per_op', ln.get('rate')))}"
                    + (" us" if "us_per_op" in ln else "/s") for n, ln in res.items()))
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines.append("")
    return "\n".join(lines)


# ---- main ----------------------------------------------------------------------

def main():
    end_on_signals()  # SIGINT, SIGTERM: the command's group killed, the server stopped
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, help="dict and queue operations (default 100,000)")
    ap.add_argument("--tasks", type=int, help="pool, Celery and RQ tasks (default 100,000)")
    ap.add_argument("--rq-fork-tasks", type=int,
                    help="jobs for RQ's forking Worker (default 2,000)")
    ap.add_argument("--rt", type=int, default=1000, help="sequential round trips (1000)")
    ap.add_argument("--rounds", type=int, help="default 3 (--quick: 1)")
    ap.add_argument("--quick", action="store_true",
                    help="20,000 operations and tasks, 500 RQ Worker jobs, 1 round")
    ap.add_argument("--family", choices=("list", "stream"), default="stream",
                    help="the anchors' queue commands: LPUSH/BRPOP or XADD/XREADGROUP")
    ap.add_argument("--persistence", choices=tuple(PERSISTENCE), default="everysec")
    ap.add_argument("--tcp", action="store_true", help="clients on 127.0.0.1, not the socket")
    ap.add_argument("--only", default="", help="comma-separated commands (see the table's "
                    "'Every round': rdict, rqueue, rpool, py_dict, celery, ...)")
    ap.add_argument("--note", default="", help="a line in bold at the top of the results")
    ap.add_argument("--build-dir", default=str(ROOT / "build-bench"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per command")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--no-install", action="store_true",
                    help="do not install missing Debian packages first")
    args = ap.parse_args()
    args.n = args.n or (20_000 if args.quick else 100_000)
    args.tasks = args.tasks or (20_000 if args.quick else 100_000)
    args.rq_fork_tasks = args.rq_fork_tasks or (500 if args.quick else 2_000)
    rounds = args.rounds or (1 if args.quick else 3)
    if not args.no_install:
        install()
    build_dir = Path(args.build_dir).resolve()
    if not args.no_build:
        build_benchmarks(build_dir)
    todo = items(build_dir, args)
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {i.key for i in todo}
        if unknown:
            sys.exit(f"run.py: unknown commands {', '.join(sorted(unknown))}")
        todo = [i for i in todo if i.key in wanted]

    server = Server(args.persistence)
    server.endpoint_args = (lambda: ["-h", "127.0.0.1", "-p", str(server.port)]) if args.tcp \
        else (lambda: ["-s", server.sock])
    values = {"n": args.n, "tasks": args.tasks, "rt": args.rt, "family": args.family,
              "rq_fork_tasks": args.rq_fork_tasks, "timeout": args.timeout,
              "rb_n": max(args.n, RB_MIN),
              "url": (f"redis://127.0.0.1:{server.port}" if args.tcp
                      else f"redis+unix://{server.sock}"),
              "server": f"127.0.0.1:{server.port}" if args.tcp else server.sock}
    values["target"] = values["server"]
    runs = {i.key: [] for i in todo}
    stats = {}
    load_before = os.getloadavg()
    try:
        server.start()
        for rnd in range(rounds):
            for item in (todo if rnd % 2 == 0 else todo[::-1]):
                server.reset()
                t0 = time.monotonic()
                res = run_item(item, server, values, args.timeout)
                runs[item.key].append(res)
                if item.ops and not isinstance(res, str) and item.key not in stats:
                    stats[item.key] = (server.commandstats(), item.ops)
                shown = res if isinstance(res, str) else ", ".join(
                    f"{n} {show(ln.get('us_per_op', ln.get('rate')))}"
                    + (" us" if "us_per_op" in ln else "/s") for n, ln in res.items())
                log(f"round {rnd + 1}/{rounds} {item.key} ({item.who}): {shown} "
                    f"[{time.monotonic() - t0:.1f} s]")
    finally:
        server.stop()
    text = report(runs, stats, args, rounds, load_before, server)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "remote.md").write_text(text)
        log(f"wrote {RESULTS / 'remote.md'}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("run.py: interrupted")
