#!/usr/bin/python3
"""queue_threads.py - the anchor of `bench_queue queue_threads`: queue.Queue
(bounded at 1024, as ours) between P producer threads and P consumer threads,
the same messages and checks as bench/bench_queue.c.

    queue_threads.py queue_threads [-p P] [-n N]

Each message is 16 bytes: the producer's number and its sequence number.
Consumers check that each producer's messages come in order and count them;
the producers' end is signalled by one None per consumer.
"""

import queue
import struct
import sys
import threading

import benchlib

PAIR = struct.Struct("<QQ")


def produce(q, me, count):
    for i in range(count):
        q.put(PAIR.pack(me, i))


def consume(q, producers, results):
    nxt = [0] * producers
    got = 0
    while True:
        msg = q.get()
        if msg is None:
            break
        who, seq = PAIR.unpack(msg)
        if who >= producers or seq < nxt[who]:
            results.append(-1)
            return
        nxt[who] = seq + 1
        got += 1
    results.append(got)


def run_threads(args):
    p = args.processes
    per = args.n // p
    q = queue.Queue(maxsize=1024)
    results = []
    t0 = benchlib.now()
    consumers = [threading.Thread(target=consume, args=(q, p, results)) for _ in range(p)]
    producers = [threading.Thread(target=produce, args=(q, i, per)) for i in range(p)]
    for t in consumers + producers:
        t.start()
    for t in producers:
        t.join()
    for _ in consumers:
        q.put(None)
    for t in consumers:
        t.join()
    secs = benchlib.now() - t0
    if -1 in results or sum(results) != per * p:
        benchlib.die("the consumers found a wrong or missing message")
    total = per * p
    benchlib.emit(args, size=16, seconds=secs, msgs_per_s=total / secs,
                  mb_per_s=total * 16 / secs / 1e6)


CMDS = {
    "queue_threads": benchlib.Cmd(run_threads,
                                  "16-byte messages, P producer threads -> P consumer threads",
                                  1_000_000, 2),
}

if __name__ == "__main__":
    sys.exit(benchlib.main(CMDS))
