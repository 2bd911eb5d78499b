#!/usr/bin/python3
"""celery_bench.py SERVER N RT - Celery 5 on the server as broker and result
backend: one worker, `celery worker --pool prefork --concurrency 2` (two
worker processes), started and answering a ping before the clock. Then N
tiny tasks (celery_app.square) sent as one group and every result gathered
and checked (celery_tasks), then RT tasks one after another, each sent with
delay() and waited for with get() (celery_apply_rtt, us_per_op). The worker
is stopped at the end."""
import os
import subprocess
import sys
import time
from pathlib import Path

from anchor_common import die, report, url

HERE = Path(__file__).resolve().parent


def start_worker(env):
    cmd = [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool", "prefork",
           "--concurrency", "2", "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
           "--without-heartbeat", "--hostname", f"bench{os.getpid()}@%h"]
    # In this process's group: the driver's kill of the group reaches it.
    return subprocess.Popen(cmd, cwd=HERE, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL)


def stop_worker(worker):
    """A warm shutdown: the worker ends its pool's processes, then itself."""
    if worker.poll() is not None:
        return
    worker.terminate()
    try:
        worker.wait(30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def main():
    server, n, rt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.environ["MT_BENCH_CELERY_URL"] = url(server, "redis+socket")
    sys.path.insert(0, str(HERE))
    from celery import group
    from celery_app import app, square

    worker = start_worker(dict(os.environ))
    try:
        deadline = time.monotonic() + 120
        while not app.control.ping(timeout=0.5):
            if worker.poll() is not None or time.monotonic() > deadline:
                die("the Celery worker did not start")
        square.delay(1).get(timeout=60)  # the client's result connection, outside the clock

        t0 = time.monotonic()
        values = group(square.s(i) for i in range(n)).apply_async().get(timeout=3600)
        secs = time.monotonic() - t0
        if values != [i * i for i in range(n)]:
            die("wrong results")
        report("celery_tasks", n, secs)

        t0 = time.monotonic()
        for i in range(rt):
            if square.delay(i).get(timeout=60) != i * i:
                die("wrong result")
        report("celery_apply_rtt", rt, time.monotonic() - t0, per_op=True)
    finally:
        stop_worker(worker)


if __name__ == "__main__":
    main()
