"""thread_pool.py - the anchor of bench/bench_executor.c: the same work with
Python's concurrent.futures.ThreadPoolExecutor, printing the same JSON line.

    tasks    N trivial tasks (square an int) submitted, then every future's
             result taken and checked -> tasks/s
    latency  submit one task and wait for it, N times: the time from the
             submit call to the task's start -> median microseconds

Usage: /usr/bin/python3 thread_pool.py SUBCOMMAND [-w WORKERS] [-n COUNT]
Workers default to ThreadPoolExecutor's own default, min(32, CPUs + 4).
"""

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def square(x):
    return x * x


def started(t0):
    return time.monotonic_ns() - t0


def run_tasks(args):
    with ThreadPoolExecutor(max_workers=args.workers) as ex:
        t0 = time.monotonic()
        fs = [ex.submit(square, i) for i in range(args.n)]
        for i, f in enumerate(fs):
            if f.result() != i * i:
                sys.exit("thread_pool.py: wrong result")
        secs = time.monotonic() - t0
    return {"seconds": secs, "tasks_per_s": args.n / secs}


def run_latency(args):
    lat = []
    with ThreadPoolExecutor(max_workers=args.workers) as ex:
        for _ in range(args.n):
            lat.append(ex.submit(started, time.monotonic_ns()).result() / 1e3)
    return {"median_us": statistics.median(lat), "mean_us": statistics.fmean(lat)}


CMDS = {"tasks": (run_tasks, 1_000_000), "latency": (run_latency, 20_000)}


def positive(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"want a positive number, got {text}")
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", choices=sorted(CMDS))
    parser.add_argument("-w", "--workers", type=positive,
                        default=min(32, (os.cpu_count() or 1) + 4))
    parser.add_argument("-n", type=positive)
    args = parser.parse_args()
    run, default_n = CMDS[args.bench]
    args.n = args.n or default_n
    line = {"bench": args.bench, "impl": "python", "workers": args.workers, "n": args.n}
    line.update(run(args))
    print(json.dumps(line, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
