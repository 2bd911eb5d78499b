#!/usr/bin/python3
"""manager_dict.py - the anchor of bench_shared's dict benchmarks:
multiprocessing.Manager().dict() (fork start method) used by several
processes, the same work and checks as bench/bench_shared.c.

    manager_dict.py dict_reads   [-p P] [-n N]   d[k] for 1,000 keys in turn
    manager_dict.py dict_writes  [-p P] [-n N]   d[k] = v
    manager_dict.py dict_batched [-p P] [-n N]   d.update() of 1,000 pairs at a time

P processes (default 2) each do N operations on one dict proxy made by the
parent; keys are "key-<i mod 1000>" (a writer's own "p<proc>-<i mod 1000>"),
values 16 bytes. Each child touches the dict once (len) before the clock
starts; the clock runs from releasing all children at once until the last
has finished, and every value read is checked. Prints one JSON line like
bench_shared's.
"""

import sys

import benchlib
from manager_common import cmd

KEYS = 1000
VALUE = b"0123456789abcdef"


def reads(d, me, n, batch):
    for i in range(n):
        if d["key-%d" % (i % KEYS)] != VALUE:
            sys.exit(1)


def writes(d, me, n, batch):
    for i in range(n):
        d["p%d-%d" % (me, i % KEYS)] = VALUE


def batched(d, me, n, batch):
    # Distinct value objects, as C copies each value: pickle would send one
    # repeated object only once.
    values = [bytes(bytearray(VALUE)) for _ in range(batch)]
    for done in range(0, n, batch):
        m = min(batch, n - done)
        d.update({"p%d-%d" % (me, (done + j) % KEYS): values[j] for j in range(m)})


def make(manager, bench):
    d = manager.dict()
    if bench == "dict_reads":
        d.update({"key-%d" % i: VALUE for i in range(KEYS)})
    return d


CMDS = {
    "dict_reads": cmd(make, reads, "P processes read N values each, one get at a time",
                      200_000),
    "dict_writes": cmd(make, writes, "P processes write N pairs each, one call each", 100_000),
    "dict_batched": cmd(make, batched, "P processes write N pairs each, 1,000 per update",
                        1_000_000, batched=True),
}

if __name__ == "__main__":
    sys.exit(benchlib.main(CMDS))
