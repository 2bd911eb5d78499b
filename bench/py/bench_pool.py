#!/usr/bin/python3
"""bench_pool.py - the Python anchors of bench/bench_pool.c: the same work with
multiprocessing (fork start method) and concurrent.futures, the same JSON line.

  map_cs1      Pool.map(square, range(n), chunksize=1)
  map_default  Pool.map(square, range(n)), the default chunksize
  apply_rt     Pool.apply_async(square, (i,)).get(), one after another
  process      Process(target=nothing).start() + join()
  crash        a worker SIGKILLed mid-task. ProcessPoolExecutor fails the
               future with BrokenProcessPool and is then broken for good, so
               its "ready" is a new executor serving a task; Pool replaces the
               worker but never reports the lost task ("hangs").

Run with Debian's /usr/bin/python3. Every result is checked.
"""

import multiprocessing as mp
import os
import signal
import struct
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import benchlib
from benchlib import Cmd, die, emit, mean, median, now

CTX = mp.get_context("fork")

# How long a task lost by Pool must stay without an outcome to count as hung.
HANG_WAIT = 1.0


def square(x):
    return x * x


def nothing():
    pass


def whoami():
    return os.getpid()


CRASH_FD = -1  # the crash benchmark's pipe; workers inherit it (fork)


def report_and_hang():
    os.write(CRASH_FD, struct.pack("i", os.getpid()))
    while True:
        signal.pause()


def pool_start(args):
    """A pool of args.processes workers that has already run a few tasks."""
    pool = CTX.Pool(args.processes)
    pool.map(square, range(16), chunksize=1)
    return pool


def pool_stop(pool):
    pool.close()
    pool.join()


def map_squares(args, chunksize):
    n = args.n
    pool = pool_start(args)
    t0 = now()
    if chunksize:
        squares = pool.map(square, range(n), chunksize=chunksize)
    else:
        squares = pool.map(square, range(n))
    secs = now() - t0
    for i, got in enumerate(squares):
        if got != i * i:
            die(f"item {i}: got {got}, want {i * i}")
    if len(squares) != n:
        die(f"{len(squares)} results for {n} items")
    pool_stop(pool)
    emit(args, chunksize=chunksize, seconds=secs, tasks_per_s=n / secs)


def run_map_cs1(args):
    map_squares(args, 1)


def run_map_default(args):
    map_squares(args, 0)


def run_apply_rt(args):
    pool = pool_start(args)
    lat = []
    start = now()
    for i in range(args.n):
        t0 = now()
        got = pool.apply_async(square, (i,)).get()
        lat.append(now() - t0)
        if got != i * i:
            die(f"round trip {i}: got {got}, want {i * i}")
    secs = now() - start
    pool_stop(pool)
    emit(args, seconds=secs, median_us=median(lat) * 1e6, mean_us=mean(lat) * 1e6)


def run_process(args):
    took = []
    for i in range(args.n):
        proc = CTX.Process(target=nothing)
        t0 = now()
        proc.start()
        proc.join()
        took.append(now() - t0)
        if proc.exitcode != 0:
            die(f"process {i}: exit code {proc.exitcode}")
        proc.close()
    emit(args, median_ms=median(took) * 1e3, mean_ms=mean(took) * 1e3)


def read_victim(rfd):
    data = os.read(rfd, 4)
    if len(data) != 4:
        die("cannot read the worker's pid")
    return struct.unpack("i", data)[0]


def crash_executor(args, rfd):
    """ProcessPoolExecutor: kill -> BrokenProcessPool, kill -> a new executor
    has served a task. Returns the two lists of seconds."""
    failed, ready = [], []
    ex = ProcessPoolExecutor(args.processes, mp_context=CTX)
    ex.submit(square, 2).result()
    for _ in range(args.n):
        fut = ex.submit(report_and_hang)
        victim = read_victim(rfd)
        t0 = now()
        os.kill(victim, signal.SIGKILL)
        try:
            fut.result(timeout=30)
            die("the killed task returned a result")
        except BrokenProcessPool:
            failed.append(now() - t0)
        fresh = ProcessPoolExecutor(args.processes, mp_context=CTX)
        server = fresh.submit(whoami).result()
        ready.append(now() - t0)
        if server == victim:
            die(f"the killed worker {victim} served a task")
        ex.shutdown(wait=True)
        ex = fresh
    ex.shutdown(wait=True)
    return failed, ready


def crash_pool(args, rfd):
    """multiprocessing.Pool: kill -> the replacement worker has served a task;
    whether the lost task ever gets an outcome. Returns (seconds, hung)."""
    ready, lost = [], []
    pool = pool_start(args)
    for _ in range(args.n):
        lost.append(pool.apply_async(report_and_hang))
        victim = read_victim(rfd)
        t0 = now()
        os.kill(victim, signal.SIGKILL)
        server = pool.apply(whoami)
        ready.append(now() - t0)
        if server == victim:
            die(f"the killed worker {victim} served a task")
    time.sleep(HANG_WAIT)
    hung = not any(res.ready() for res in lost)
    pool.terminate()
    pool.join()
    return ready, hung


def run_crash(args):
    global CRASH_FD
    if args.processes != 1:
        die("crash needs one worker (-p 1): the task after the kill must run on the replacement")
    rfd, CRASH_FD = os.pipe()
    failed, ready = crash_executor(args, rfd)
    pool_ready, hung = crash_pool(args, rfd)
    os.close(rfd)
    os.close(CRASH_FD)
    emit(args,
         failed_ms=median(failed) * 1e3, failed_mean_ms=mean(failed) * 1e3,
         ready_ms=median(ready) * 1e3, ready_mean_ms=mean(ready) * 1e3,
         pool_failed="hangs" if hung else "reported",
         pool_ready_ms=median(pool_ready) * 1e3, pool_ready_mean_ms=mean(pool_ready) * 1e3)


CMDS = {
    "map_cs1": Cmd(run_map_cs1, "Pool.map of tiny tasks, chunksize 1 -> tasks/s", 100_000),
    "map_default": Cmd(run_map_default, "Pool.map of tiny tasks, default chunksize -> tasks/s",
                       1_000_000),
    "apply_rt": Cmd(run_apply_rt, "apply_async(...).get() round trips -> latency in us", 20_000),
    "process": Cmd(run_process, "Process start + join (fork) of an empty target -> ms", 500),
    "crash": Cmd(run_crash, "kill a worker mid-task -> ms to the failed future and to a "
                 "replacement", 20, 1),
}

if __name__ == "__main__":
    sys.exit(benchlib.main(CMDS))
