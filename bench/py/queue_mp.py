#!/usr/bin/python3
"""queue_mp.py - the anchor of bench_queue's process benchmarks:
multiprocessing.Queue (fork start method) from a producer process to a
consumer process, the same messages and checks as bench/bench_queue.c.

    queue_mp.py queue_16 [-n N]     N messages of 16 bytes
    queue_mp.py queue_4k [-n N]     ... of 4 KiB
    queue_mp.py queue_1m [-n N]     ... of 1 MiB

Each message is bytes: its sequence number (8 bytes, little-endian), filler,
and the number's low byte last. The consumer checks every one. The clock runs
from before the consumer starts until it has checked the last message. The
queue holds at most as many messages as bench_queue's (maxsize 1024, 256
and 16), so that neither producer can run further ahead.
"""

import multiprocessing as mp
import sys

import benchlib


def consume(q, size, n):
    for i in range(n):
        msg = q.get()
        if len(msg) != size or int.from_bytes(msg[:8], "little") != i or msg[-1] != i & 0xFF:
            sys.exit(1)


def between_processes(args, size, slots):
    ctx = mp.get_context("fork")
    q = ctx.Queue(maxsize=slots)
    filler = b"m" * (size - 9)
    t0 = benchlib.now()
    consumer = ctx.Process(target=consume, args=(q, size, args.n))
    consumer.start()
    for i in range(args.n):
        q.put(i.to_bytes(8, "little") + filler + bytes((i & 0xFF,)))
    consumer.join()
    secs = benchlib.now() - t0
    if consumer.exitcode != 0:
        benchlib.die("the consumer found a wrong message")
    benchlib.emit(args, size=size, seconds=secs, msgs_per_s=args.n / secs,
                  mb_per_s=args.n * size / secs / 1e6)


CMDS = {
    "queue_16": benchlib.Cmd(lambda a: between_processes(a, 16, 1024),
                             "16-byte messages, producer process -> consumer process", 1_000_000, 2),
    "queue_4k": benchlib.Cmd(lambda a: between_processes(a, 4096, 256),
                             "4 KiB messages, producer process -> consumer process", 200_000, 2),
    "queue_1m": benchlib.Cmd(lambda a: between_processes(a, 1 << 20, 16),
                             "1 MiB messages, producer process -> consumer process", 2_000, 2),
}

if __name__ == "__main__":
    sys.exit(benchlib.main(CMDS))
