#!/usr/bin/python3
"""bench_http.py - the anchors of bench/bench_http.c, on the crawl benchmark's nginx:

    get_1k            N GETs of one 1 KiB file from one thread: asyncio + aiohttp, P
                      coroutines sharing one ClientSession (TCPConnector(limit=P)),
                      each body read and checked -> requests/s
    images            the seed's image downloader: ThreadPoolExecutor(P) whose threads
                      requests.get() each image URL (no Session, as the seed), body in
                      memory, length checked -> images/s, MB/s
    images_session    the same with a requests.Session per thread (connections reused)

MT_BENCH_SITE (default /var/tmp/mt-bench/crawl; its images.tsv) and MT_BENCH_URL
(default http://127.0.0.1:8088) as for the C program.
"""
import asyncio
import itertools
import os
import resource
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import benchlib

SITE = os.environ.get("MT_BENCH_SITE") or "/var/tmp/mt-bench/crawl"
BASE = os.environ.get("MT_BENCH_URL") or "http://127.0.0.1:8088"
SMALL = "s000000.bin"


def run_get_1k(args):
    import aiohttp

    url = f"{BASE}/small/{SMALL}"
    head = (SMALL + "\n").encode()

    async def main():
        conn = aiohttp.TCPConnector(limit=args.processes)
        async with aiohttp.ClientSession(connector=conn) as s:
            async with s.get(url) as r:  # the first connection, outside the clock
                await r.read()
            left = args.n

            async def worker():
                nonlocal left
                while left > 0:
                    left -= 1
                    async with s.get(url) as r:
                        body = await r.read()
                    if r.status != 200 or len(body) != 1024 or not body.startswith(head):
                        benchlib.die(f"GET {url}: status {r.status}, {len(body)} bytes")

            t0 = benchlib.now()
            await asyncio.gather(*(worker() for _ in range(args.processes)))
            return benchlib.now() - t0

    secs = asyncio.run(main())
    benchlib.emit(args, seconds=secs, requests_per_s=args.n / secs)


def load_images():
    with open(os.path.join(SITE, "images.tsv")) as f:
        return [(u, int(s)) for u, s in (line.split("\t") for line in f if "\t" in line)]


def images(args, session_per_thread):
    import requests

    imgs = load_images()
    todo = list(itertools.islice(itertools.cycle(imgs), args.n))
    local = threading.local()

    def get(item):
        url, size = item
        if session_per_thread:
            s = getattr(local, "s", None)
            if s is None:
                s = local.s = requests.Session()
            r = s.get(url)
        else:
            r = requests.get(url)
        body = r.content
        if r.status_code != 200 or len(body) != size:
            raise RuntimeError(f"GET {url}: status {r.status_code}, {len(body)} of {size} bytes")
        return len(body)

    t0 = benchlib.now()
    with ThreadPoolExecutor(max_workers=args.processes) as ex:
        total = sum(ex.map(get, todo))
    secs = benchlib.now() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    benchlib.emit(args, seconds=secs, images_per_s=args.n / secs, mb_per_s=total / 1e6 / secs,
                  cpu_s=ru.ru_utime + ru.ru_stime, peak_rss_mib=ru.ru_maxrss / 1024)


CMDS = {
    "get_1k": benchlib.Cmd(run_get_1k, "GETs of a 1 KiB file, aiohttp, one thread", 100_000, 20),
    "images": benchlib.Cmd(lambda a: images(a, False), "image downloads, requests.get in "
                           "ThreadPoolExecutor", 10_000, 20),
    "images_session": benchlib.Cmd(lambda a: images(a, True), "image downloads, a requests."
                                   "Session per thread", 10_000, 20),
}

if __name__ == "__main__":
    sys.exit(benchlib.main(CMDS))
