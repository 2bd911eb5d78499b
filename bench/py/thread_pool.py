#!/usr/bin/python3
"""thread_pool.py - the anchor of bench/bench_executor.c: the same work with
Python's concurrent.futures.ThreadPoolExecutor, printing the same JSON line.

    tasks    N trivial tasks (square an int) submitted, then every future's
             result taken and checked -> tasks/s
    latency  submit one task and wait for it, N times: the time from the
             submit call to the task's start -> median microseconds

Usage: /usr/bin/python3 thread_pool.py SUBCOMMAND [-p WORKERS] [-n COUNT]
Workers are threads and default to ThreadPoolExecutor's own default,
min(32, CPUs + 4), as in bench_executor.
"""

import sys
import time
from concurrent.futures import ThreadPoolExecutor

import benchlib
from benchlib import Cmd, THREADPOOL_WORKERS, die, emit, mean, median


def square(x):
    return x * x


def started(t0):
    return time.monotonic_ns() - t0


def run_tasks(args):
    with ThreadPoolExecutor(max_workers=args.processes) as ex:
        t0 = benchlib.now()
        fs = [ex.submit(square, i) for i in range(args.n)]
        for i, f in enumerate(fs):
            if f.result() != i * i:
                die(f"task {i}: wrong square {f.result()}")
        secs = benchlib.now() - t0
    emit(args, seconds=secs, tasks_per_s=args.n / secs)


def run_latency(args):
    lat = []
    with ThreadPoolExecutor(max_workers=args.processes) as ex:
        for _ in range(args.n):
            lat.append(ex.submit(started, time.monotonic_ns()).result() / 1e3)
    emit(args, median_us=median(lat), mean_us=mean(lat))


CMDS = {
    "tasks": Cmd(run_tasks, "N trivial tasks through ThreadPoolExecutor, every future waited",
                 1_000_000, THREADPOOL_WORKERS),
    "latency": Cmd(run_latency, "submit-to-start delay of one task at a time", 20_000,
                   THREADPOOL_WORKERS),
}

if __name__ == "__main__":
    sys.exit(benchlib.main(CMDS))
