#!/usr/bin/python3
"""redis_queue.py SERVER N FAMILY - N messages of 16 bytes from a producer
process to a consumer process through redis-py, one command per message on
each side (no pipelining):
    list    LPUSH / BRPOP
    stream  XADD (one field "m") / XREADGROUP GROUP g c COUNT 1 BLOCK 0 NOACK
Every message carries its number (16 decimal digits) and the consumer checks
that they arrive whole and in order. The clock runs from when both processes
are connected until the consumer has checked the last message. Prints one
queue line; the key is removed at the end."""
import os
import sys
import time

from anchor_common import connect, die, report


def message(i):
    return b"%016d" % i


def consume(server, key, n, family, ready_fd):
    r = connect(server)
    r.ping()
    os.write(ready_fd, b"r")
    for i in range(n):
        if family == "list":
            _, msg = r.brpop(key, 0)
        else:
            [[_, [(_, fields)]]] = r.xreadgroup("g", "c", {key: ">"}, count=1, block=0,
                                                noack=True)
            msg = fields[b"m"]
        if msg != message(i):
            os.write(2, f"redis_queue.py: message {i} is {msg!r}\n".encode())
            os._exit(1)
    os._exit(0)


def main():
    server, n, family = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if family not in ("list", "stream"):
        die(f"unknown family {family} (list or stream)")
    key = f"bench-rqueue-py-{os.getpid()}"
    r = connect(server)
    r.ping()
    if family == "stream":
        r.xgroup_create(key, "g", id="$", mkstream=True)
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        consume(server, key, n, family, wfd)
    os.close(wfd)
    if os.read(rfd, 1) != b"r":
        die("the consumer did not start")
    t0 = time.monotonic()
    for i in range(n):
        if family == "list":
            r.lpush(key, message(i))
        else:
            r.xadd(key, {"m": message(i)})
    _, status = os.waitpid(pid, 0)
    secs = time.monotonic() - t0
    if status != 0:
        die("the consumer failed")
    report("queue", n, secs)
    r.delete(key)


if __name__ == "__main__":
    main()
