#!/usr/bin/python3
"""manager_list.py - the anchor of bench_shared's list benchmarks:
multiprocessing.Manager().list() (fork start method) used by several
processes, the same work and checks as bench/bench_shared.c.

    manager_list.py list_appends [-p P] [-n N]   l.append(v)
    manager_list.py list_batched [-p P] [-n N]   l.extend() of 1,000 items at a time

P processes (default 2) each do N operations on one list proxy made by the
parent; values are 16 bytes. Each child touches the list once (len) before
the clock starts; the clock runs from releasing all children at once until
the last has finished, and the list's final length is checked. Prints one
JSON line like bench_shared's.
"""

import sys

import benchlib
from manager_common import cmd

VALUE = b"0123456789abcdef"


def appends(lst, me, n, batch):
    for _ in range(n):
        lst.append(VALUE)


def batched(lst, me, n, batch):
    # Distinct objects, as C copies each item: pickle would send one
    # repeated object only once.
    items = [bytes(bytearray(VALUE)) for _ in range(batch)]
    for done in range(0, n, batch):
        lst.extend(items[:min(batch, n - done)])


def make(manager, bench):
    return manager.list()


def length_is(lst, ops):
    return len(lst) == ops


CMDS = {
    "list_appends": cmd(make, appends, "P processes append N items each, one call each",
                        100_000, check=length_is),
    "list_batched": cmd(make, batched, "P processes append N items each, 1,000 per extend",
                        1_000_000, batched=True, check=length_is),
}

if __name__ == "__main__":
    sys.exit(benchlib.main(CMDS))
