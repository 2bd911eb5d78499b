"""benchlib - what every Python anchor shares with its C program (bench/bench_util.c):
the command line `prog SUBCOMMAND [-p PROCESSES] [-n COUNT]`, medians, and the one
JSON line a run prints for bench/run.py to read.

Usage:
    CMDS = {"map_cs1": Cmd(run_map_cs1, "Pool.map, chunksize 1", 100_000)}
    if __name__ == "__main__":
        sys.exit(benchlib.main(CMDS))

and in each run function, after checking every result:
    benchlib.emit(args, tasks_per_s=n / secs)
"""

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable

now = time.perf_counter


# A Cmd's default_processes meaning ThreadPoolExecutor's default worker
# count, min(32, CPUs + 4) (bench_util.h: BENCH_THREADPOOL_WORKERS).
THREADPOOL_WORKERS = -1


@dataclass
class Cmd:
    run: Callable[[argparse.Namespace], None]
    help: str
    default_n: int
    default_processes: int = 0  # 0: the CPUs this process may use; or THREADPOOL_WORKERS


def die(msg: str) -> None:
    """Print "prog: msg" to stderr and exit with status 1."""
    print(f"{os.path.basename(sys.argv[0])}: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def median(values):
    return statistics.median(values) if values else 0.0


def mean(values):
    return statistics.fmean(values) if values else 0.0


def emit(args: argparse.Namespace, **figures) -> None:
    """Print the run's JSON line: bench, impl, processes, n, then the figures."""
    line = {"bench": args.bench, "impl": "python", "processes": args.processes, "n": args.n}
    line.update(figures)
    print(json.dumps(line, separators=(",", ":")), flush=True)


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"want a positive number, got {text}")
    return value


def main(cmds: dict) -> int:
    if len(sys.argv) >= 2 and sys.argv[1] in ("--list", "--help"):
        for name, cmd in cmds.items():
            print(f"  {name:<12} {cmd.help} (default -n {cmd.default_n})")
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("bench", choices=list(cmds))
    parser.add_argument("-p", "--processes", type=_positive, default=0)
    parser.add_argument("-n", "--count", dest="n", type=_positive, default=0)
    args = parser.parse_args()
    cmd = cmds[args.bench]
    if not args.processes:
        cpus = len(os.sched_getaffinity(0))
        if cmd.default_processes == THREADPOOL_WORKERS:
            args.processes = min(32, cpus + 4)
        else:
            args.processes = cmd.default_processes or cpus
    if not args.n:
        args.n = cmd.default_n
    cmd.run(args)
    return 0
