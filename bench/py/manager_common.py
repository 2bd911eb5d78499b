"""manager_common.py - what manager_dict.py and manager_list.py share: start
P processes on one Manager proxy, let each touch it once, release them all
at once, time them to the last, and print one JSON line shaped like
bench_shared's.
"""

import argparse
import json
import multiprocessing as mp
import sys
import time


def _child(proxy, fn, me, n, batch, ready, go):
    len(proxy)  # connect to the manager before the clock starts
    ready.release()
    go.wait()
    fn(proxy, me, n, batch)


def main(prog, make, run, default_n, batched, check=None):
    """make(manager, bench) -> proxy; run: bench name -> fn(proxy, me, n,
    batch); check(proxy, ops) -> bool after the run."""
    ap = argparse.ArgumentParser(prog=prog)
    ap.add_argument("bench", choices=sorted(run))
    ap.add_argument("-p", type=int, default=2)
    ap.add_argument("-n", type=int)
    ap.add_argument("-b", type=int, default=1000)
    a = ap.parse_args()
    n = a.n or default_n[a.bench]
    ctx = mp.get_context("fork")
    with ctx.Manager() as manager:
        proxy = make(manager, a.bench)
        ready, go = ctx.Semaphore(0), ctx.Event()
        procs = [ctx.Process(target=_child, args=(proxy, run[a.bench], i, n, a.b, ready, go))
                 for i in range(a.p)]
        for p in procs:
            p.start()
        for _ in procs:
            ready.acquire()
        t0 = time.monotonic()
        go.set()
        for p in procs:
            p.join()
        secs = time.monotonic() - t0
        if any(p.exitcode != 0 for p in procs) or (check and not check(proxy, n * a.p)):
            sys.exit(prog + ": a child failed or the result is wrong")
    ops = n * a.p
    print(json.dumps({"bench": a.bench, "impl": "python-manager", "procs": a.p, "ops": ops,
                      "batch": a.b if a.bench in batched else 1,
                      "seconds": round(secs, 6), "ops_per_s": round(ops / secs, 1)}))
