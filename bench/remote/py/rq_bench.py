#!/usr/bin/python3
"""rq_bench.py SERVER N CLASS - RQ on the server: two workers (`rq worker`
processes) of class CLASS, started and registered before the clock:
    fork    rq.worker.Worker, RQ's default: forks a work horse per job
    simple  rq.worker.SimpleWorker: runs each job in the worker itself
Then N tiny jobs (rq_tasks.square) enqueued one by one, and, once the
finished registry holds all N (polled every 10 ms), every result fetched and
checked (rq_tasks_fork or rq_tasks_simple). The workers are stopped at the
end."""
import os
import subprocess
import sys
import time
from pathlib import Path

from anchor_common import connect, die, report, url

HERE = Path(__file__).resolve().parent
CLASSES = {"fork": "rq.worker.Worker", "simple": "rq.worker.SimpleWorker"}


def main():
    server, n, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if kind not in CLASSES:
        die(f"unknown worker class {kind} (fork or simple)")
    sys.path.insert(0, str(HERE))
    from rq import Queue, Worker
    from rq.job import Job
    import rq_tasks

    conn = connect(server)
    qname = f"bench-rq-{os.getpid()}"
    q = Queue(qname, connection=conn)
    cmd = ["/usr/bin/rq", "worker", "--url", url(server), "--worker-class", CLASSES[kind],
           "--logging_level", "WARNING", "--quiet", qname]
    # In this process's group: the driver's kill of the group reaches them.
    workers = [subprocess.Popen(cmd, cwd=HERE, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL) for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while Worker.count(connection=conn, queue=q) < 2:
            if any(w.poll() is not None for w in workers) or time.monotonic() > deadline:
                die("the RQ workers did not start")
            time.sleep(0.05)

        t0 = time.monotonic()
        ids = [q.enqueue(rq_tasks.square, i).id for i in range(n)]
        finished, failed = q.finished_job_registry, q.failed_job_registry
        while finished.count < n:
            if failed.count:
                die(f"{failed.count} jobs failed")
            time.sleep(0.01)
        for start in range(0, n, 1000):
            for i, job in enumerate(Job.fetch_many(ids[start:start + 1000], connection=conn),
                                    start):
                if job is None or job.result != i * i:
                    die(f"job {i}: wrong result")
        report(f"rq_tasks_{kind}", n, time.monotonic() - t0)
    finally:
        for w in workers:  # a warm shutdown
            if w.poll() is None:
                w.terminate()
        for w in workers:
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()


if __name__ == "__main__":
    main()
