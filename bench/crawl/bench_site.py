#!/usr/bin/python3
"""bench_site.py - the data and the server of the crawl and HTTP benchmarks.

    /usr/bin/python3 bench/crawl/bench_site.py gen  [--data DIR] [--quick]
    /usr/bin/python3 bench/crawl/bench_site.py start [--data DIR] [--quick]
    /usr/bin/python3 bench/crawl/bench_site.py stop  [--data DIR] [--quick]

gen: the crawl site of gen_site.py (200 list pages, 10,000 images, 2.99 GB;
--quick: 20 pages, 1,000 images), then what the benchmarks add to it:
  site/small/sNNNNNN.bin    100,000 files of 1 KiB (--quick: 10,000), each
                            one's bytes unique (small_body() says which)
  small-urls.txt, .curl     their URLs, as a list and as a curl config
  images.tsv                "URL<TAB>size" of every image (for bench_http)
start / stop: Debian's nginx on 127.0.0.1:8088 with nginx.conf (its paths
moved to DIR), by PID (DIR/nginx/nginx.pid), as start.sh / stop.sh of the
workload's original files do.

The data live under /var/tmp/mt-bench (the quick site under
/var/tmp/mt-bench/crawl-quick), never in the source tree. Importable: the
benchmark drivers use Site below.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = "/usr/bin/python3"
DEFAULT_DATA = "/var/tmp/mt-bench"
PORT = 8088
BASE = f"http://127.0.0.1:{PORT}"
SMALL_SIZE = 1024
_POOL = random.Random(11).randbytes(1 << 20)


def small_name(i):
    return f"s{i:06d}.bin"


def small_body(i):
    """The bytes of small file i: its name, then a slice of a seeded pool."""
    head = f"{small_name(i)}\n".encode()
    off = (i * 1031) % (len(_POOL) - SMALL_SIZE)
    return head + _POOL[off:off + SMALL_SIZE - len(head)]


class Site:
    """One generated site: its files and its nginx."""

    def __init__(self, data=DEFAULT_DATA, quick=False):
        self.quick = quick
        self.dir = Path(data) / ("crawl-quick" if quick else "crawl")
        self.pages = 20 if quick else 200
        self.small = 10_000 if quick else 100_000
        self.base = BASE
        self.nginx_dir = self.dir / "nginx"

    # ---- the files --------------------------------------------------------
    def path(self, name):
        return self.dir / name

    @property
    def manifest(self):
        return self.dir / "manifest.json"

    def generate(self, log=print):
        """Make what is missing (the site takes a few minutes the first time)."""
        if not self.manifest.exists():
            if (self.dir / "site").exists():
                sys.exit(f"{self.dir}/site exists without manifest.json: an interrupted "
                         "generation; remove that directory and run again")
            log(f"generating the crawl site in {self.dir} ({self.pages} pages)")
            self.dir.mkdir(parents=True, exist_ok=True)
            subprocess.run([PY, str(HERE / "gen_site.py"), str(self.dir), "--pages",
                            str(self.pages), "--base", self.base], check=True,
                           stdout=sys.stderr)
        if not (self.dir / "images.tsv").exists():
            man = json.loads(self.manifest.read_text())
            urls = (self.dir / "urls.txt").read_text().split()
            tmp = self.dir / "images.tsv.tmp"
            with open(tmp, "w") as f:
                for u in urls:
                    f.write(f"{u}\t{man[u.rsplit('/', 1)[1]][0]}\n")
            tmp.rename(self.dir / "images.tsv")
        done = self.dir / "site" / "small" / ".complete"
        if not done.exists():
            log(f"generating {self.small:,} files of 1 KiB in {self.dir}/site/small")
            small = self.dir / "site" / "small"
            small.mkdir(exist_ok=True)
            for i in range(self.small):
                with open(small / small_name(i), "wb") as f:
                    f.write(small_body(i))
            urls = [f"{self.base}/small/{small_name(i)}" for i in range(self.small)]
            (self.dir / "small-urls.txt").write_text("".join(u + "\n" for u in urls))
            (self.dir / "small-urls.curl").write_text("".join(f'url = "{u}"\n' for u in urls))
            done.write_text(f"{self.small}\n")

    def images_bytes(self):
        return sum(v[0] for v in json.loads(self.manifest.read_text()).values())

    def images_count(self):
        return len(json.loads(self.manifest.read_text()))

    def warm(self):
        """Read every file of the site once, so that the first run does not
        pay for a cold page cache (the server's disk is not measured)."""
        for d, _, files in os.walk(self.dir / "site"):
            for n in files:
                with open(os.path.join(d, n), "rb") as f:
                    while f.read(1 << 20):
                        pass

    # ---- nginx ------------------------------------------------------------
    @property
    def pid_file(self):
        return self.nginx_dir / "nginx.pid"

    def _pid(self):
        try:
            pid = int(self.pid_file.read_text().split()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError, IndexError):
            return None

    def start(self, log=print):
        """Start nginx for this site (stopping a leftover one of ours first)."""
        if self._pid():
            self.stop(log)
        (self.nginx_dir / "tmp").mkdir(parents=True, exist_ok=True)
        conf = (HERE / "nginx.conf").read_text().replace("/var/tmp/mt-bench/crawl",
                                                         str(self.dir))
        (self.nginx_dir / "nginx.conf").write_text(conf)
        args = ["nginx", "-c", str(self.nginx_dir / "nginx.conf"), "-p",
                str(self.nginx_dir) + "/"]
        subprocess.run(args[:1] + ["-t", "-q"] + args[1:], check=True)
        subprocess.run(args, check=True)
        for _ in range(50):
            if self._pid():
                break
            time.sleep(0.1)
        url = f"{self.base}/photo/list/?page=1"
        with urllib.request.urlopen(url, timeout=10) as r:
            if r.status != 200:
                raise RuntimeError(f"GET {url}: {r.status}")
        log(f"nginx master pid {self._pid()} serving {self.dir}/site on {self.base}")

    def stop(self, log=print):
        pid = self._pid()
        if not pid:
            return
        os.kill(pid, signal.SIGQUIT)
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGTERM)
        log(f"stopped nginx {pid}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=["gen", "start", "stop"])
    ap.add_argument("--data", default=os.environ.get("MT_BENCH_DATA", DEFAULT_DATA))
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    site = Site(a.data, a.quick)
    log = lambda m: print(m, file=sys.stderr, flush=True)
    if a.action == "gen":
        site.generate(log)
    elif a.action == "start":
        site.generate(log)
        site.start(log)
    else:
        site.stop(log)


if __name__ == "__main__":
    main()
