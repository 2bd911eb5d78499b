"""manager_common.py - what manager_dict.py and manager_list.py share: start
P processes on one Manager proxy, let each touch it once, release them all
at once, time them to the last, and print one JSON line shaped like
bench_shared's (benchlib: "processes" P, "n" N per process, then "ops",
"batch", "seconds", "ops_per_s").
"""

import multiprocessing as mp

import benchlib

BATCH = 1000  # pairs or items per call in the batched benches, as bench_shared


def _child(proxy, fn, me, n, ready, go):
    len(proxy)  # connect to the manager before the clock starts
    ready.release()
    go.wait()
    fn(proxy, me, n, BATCH)


def run(args, make, fn, batched, check=None):
    """Run fn(proxy, me, n, batch) in args.processes processes on the proxy
    that make(manager, bench) returns; check(proxy, ops) -> bool after it."""
    n, procs = args.n, args.processes
    ctx = mp.get_context("fork")
    with ctx.Manager() as manager:
        proxy = make(manager, args.bench)
        ready, go = ctx.Semaphore(0), ctx.Event()
        children = [ctx.Process(target=_child, args=(proxy, fn, i, n, ready, go))
                    for i in range(procs)]
        for p in children:
            p.start()
        for _ in children:
            ready.acquire()
        t0 = benchlib.now()
        go.set()
        for p in children:
            p.join()
        secs = benchlib.now() - t0
        if any(p.exitcode != 0 for p in children):
            benchlib.die(f"{args.bench}: a child failed")
        if check and not check(proxy, n * procs):
            benchlib.die(f"{args.bench}: the result is wrong")
    ops = n * procs
    benchlib.emit(args, ops=ops, batch=BATCH if batched else 1, seconds=secs,
                  ops_per_s=ops / secs)


def cmd(make, fn, help_text, default_n, batched=False, check=None):
    """A benchlib.Cmd running fn through run(), 2 processes by default."""
    return benchlib.Cmd(lambda args: run(args, make, fn, batched, check), help_text,
                        default_n, 2)
