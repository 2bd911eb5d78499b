#!/usr/bin/python3
"""bench_coro.py - the anchors of bench/bench_coro.c: the same work with
asyncio, and with uvloop (Debian's python3-uvloop) for the subcommands
ending in _uvloop. One JSON line per run, the same fields as the C program.

    bench_coro.py yield -p 2 -n 1000000
    bench_coro.py echo_uvloop -p 100 -n 200000 --client build/bench/bench_coro

echo needs --client: the C load generator (bench_coro echo_client) that
drives both servers, so that only the server differs.
"""

import asyncio
import json
import os
import subprocess
import sys

import benchlib

CLIENT = None  # path of bench_coro, for echo


def read_memory():
    """Resident and page-table bytes of this process."""
    rss = pte = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("VmPTE:"):
                pte = int(line.split()[1]) * 1024
    return rss, pte


async def yield_main(args):
    each = args.n // args.processes

    async def yielder():
        for _ in range(each):
            await asyncio.sleep(0)

    t0 = benchlib.now()
    await asyncio.gather(*(yielder() for _ in range(args.processes)))
    secs = benchlib.now() - t0
    return dict(tasks=args.processes, seconds=secs, ns_per_yield=secs * 1e9 / (each * args.processes))


async def create_main(args):
    async def nothing(i):
        return i

    for i in range(1000):
        await asyncio.create_task(nothing(i))
    t0 = benchlib.now()
    for i in range(args.n):
        if await asyncio.create_task(nothing(i & 0xff)) != i & 0xff:
            benchlib.die("wrong result")
    secs = benchlib.now() - t0
    return dict(seconds=secs, ns_per_task=secs * 1e9 / args.n)


async def aqueue_main(args):
    q = asyncio.Queue(maxsize=10)
    total = 0

    async def producer():
        for i in range(args.n):
            await q.put(i)

    async def consumer():
        nonlocal total
        for _ in range(args.n):
            total += await q.get()

    t0 = benchlib.now()
    await asyncio.gather(producer(), consumer())
    secs = benchlib.now() - t0
    if total != args.n * (args.n - 1) // 2:
        benchlib.die("the consumer got the wrong items")
    return dict(seconds=secs, items_per_s=args.n / secs, ns_per_item=secs * 1e9 / args.n)


async def sleepers_main(args):
    done = 0

    async def sleeper():
        nonlocal done
        await asyncio.sleep(1.0)
        done += 1

    rss0, pte0 = read_memory()
    t0 = benchlib.now()
    tasks = [asyncio.create_task(sleeper()) for _ in range(args.n)]
    t_created = benchlib.now()
    await asyncio.sleep(0.5)
    rss1, pte1 = read_memory()
    await asyncio.gather(*tasks)
    secs = benchlib.now() - t0
    if done != args.n:
        benchlib.die("not every sleeper woke")
    return dict(stack="python", seconds=secs, create_seconds=t_created - t0,
                bytes_per_task=(rss1 - rss0) / args.n,
                page_table_bytes_per_task=(pte1 - pte0) / args.n)


async def sleep_start_main(args):
    loop = asyncio.get_running_loop()

    def never():
        benchlib.die("a 10 s timer fired")

    handles = [loop.call_later(10.0, never) for _ in range(args.n)]
    for h in handles:
        h.cancel()
    t0 = benchlib.now()
    handles = [loop.call_later(10.0, never) for _ in range(args.n)]
    secs = benchlib.now() - t0
    for h in handles:
        h.cancel()
    return dict(seconds=secs, ns_per_start=secs * 1e9 / args.n)


class Echo(asyncio.Protocol):
    """asyncio's fastest echo: a Protocol, as uvloop's own benchmarks use."""

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def echo_main(args):
    if not CLIENT:
        benchlib.die("echo needs --client PATH (bench_coro)")
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    env = dict(os.environ, MT_ECHO_PORT=str(port))
    proc = await asyncio.create_subprocess_exec(
        CLIENT, "echo_client", "-p", str(args.processes), "-n", str(args.n),
        stdout=subprocess.PIPE, env=env)
    out, _ = await proc.communicate()
    server.close()
    await server.wait_closed()
    if proc.returncode != 0:
        benchlib.die("the client failed")
    line = json.loads(out.decode().strip().splitlines()[-1])
    return dict(clients=args.processes, requests_per_s=line["requests_per_s"])


def runner(coro_fn, use_uvloop):
    def run(args):
        if use_uvloop:
            import uvloop
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        figures = asyncio.run(coro_fn(args))
        benchlib.emit(args, loop="uvloop" if use_uvloop else "asyncio", **figures)
    return run


BENCHES = {
    "yield": (yield_main, "-p tasks awaiting asyncio.sleep(0) in turn", 1_000_000, 2),
    "create": (create_main, "create_task + await of a coroutine that returns", 200_000, 1),
    "aqueue": (aqueue_main, "producer and consumer on asyncio.Queue(maxsize=10)", 500_000, 1),
    "sleepers": (sleepers_main, "n tasks each sleeping 1 s", 100_000, 1),
    "sleep_start": (sleep_start_main, "loop.call_later(10, cb) n times", 1_000_000, 1),
    "echo": (echo_main, "echo server (Protocol), bench_coro echo_client as load", 200_000, 100),
}

CMDS = {}
for name, (fn, help_text, n, p) in BENCHES.items():
    CMDS[name] = benchlib.Cmd(runner(fn, False), help_text + " (asyncio)", n, p)
    CMDS[name + "_uvloop"] = benchlib.Cmd(runner(fn, True), help_text + " (uvloop)", n, p)

if __name__ == "__main__":
    if "--client" in sys.argv:
        i = sys.argv.index("--client")
        CLIENT = sys.argv[i + 1]
        del sys.argv[i:i + 2]
    sys.exit(benchlib.main(CMDS))
