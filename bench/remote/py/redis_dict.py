#!/usr/bin/python3
"""redis_dict.py SERVER N - bench_rdict's work done with redis-py: N HINCRBY
(keys k0 ... k999 in turn, by 1), then N HGET in the same order, one call
and one round trip each (no pipelining), every value read checked. Prints
dict_incr and dict_get lines; the hash is removed at the end."""
import os
import sys
import time

from anchor_common import connect, die, report

KEYS = 1000


def main():
    server, n = sys.argv[1], int(sys.argv[2])
    r = connect(server)
    r.ping()  # connected before the clock, as bench_rdict's open
    name = f"bench-rdict-py-{os.getpid()}"
    keys = [f"k{i}" for i in range(KEYS)]
    t0 = time.monotonic()
    for i in range(n):
        r.hincrby(name, keys[i % KEYS], 1)
    report("dict_incr", n, time.monotonic() - t0)
    t0 = time.monotonic()
    for i in range(n):
        k = i % KEYS
        want = n // KEYS + (1 if k < n % KEYS else 0)
        got = r.hget(name, keys[k])
        if got is None or int(got) != want:
            die(f"{keys[k]} is {got!r}, not {want}")
    report("dict_get", n, time.monotonic() - t0)
    r.delete(name)


if __name__ == "__main__":
    main()
