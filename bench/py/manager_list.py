#!/usr/bin/python3
"""manager_list.py - the anchor of bench_shared's list benchmarks:
multiprocessing.Manager().list() (fork start method) used by several
processes, the same work and checks as bench/bench_shared.c.

    manager_list.py list_appends [-p P] [-n N]         l.append(v)
    manager_list.py list_batched [-p P] [-n N] [-b B]  l.extend() of B items at a time

P processes (default 2) each do N operations on one list proxy made by the
parent; values are 16 bytes. Each child touches the list once (len) before
the clock starts; the clock runs from releasing all children at once until
the last has finished, and the list's final length is checked. Prints one
JSON line like bench_shared's.
"""

import manager_common

VALUE = b"0123456789abcdef"
DEFAULT_N = {"list_appends": 20_000, "list_batched": 1_000_000}


def appends(lst, me, n, batch):
    for _ in range(n):
        lst.append(VALUE)


def batched(lst, me, n, batch):
    # Distinct objects, as C copies each item: pickle would send one
    # repeated object only once.
    items = [bytes(bytearray(VALUE)) for _ in range(batch)]
    for done in range(0, n, batch):
        lst.extend(items[:min(batch, n - done)])


if __name__ == "__main__":
    manager_common.main("manager_list.py", lambda manager, bench: manager.list(),
                        {"list_appends": appends, "list_batched": batched},
                        DEFAULT_N, {"list_batched"},
                        check=lambda lst, ops: len(lst) == ops)
