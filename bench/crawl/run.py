#!/usr/bin/python3
"""run.py - the crawl benchmark: mtget against curl --parallel, wget2,
aria2c, an aiohttp + lxml crawler and the seed's multiprocessing design, in
one invocation, interleaved, and the table (bench/results/crawl.md) and its
chart (bench/results/crawl.png).

    /usr/bin/python3 bench/crawl/run.py                  # the full measurement, 3 rounds
    /usr/bin/python3 bench/crawl/run.py --quick          # a smoke run: 20 pages, 2 rounds
    /usr/bin/python3 bench/crawl/run.py --modes crawl --tools mtget,curl --rounds 5
    /usr/bin/python3 bench/crawl/run.py --mtget build/tools/mtget/mtget

Three modes, each against the same nginx on 127.0.0.1:8088 (bench_site.py):
  crawl   fetch the 200 list pages, extract the image URLs (XPath, or grep/sed
          for the tools without one), download the 10,000 images (2.99 GB)
  dl      download-only: the tool is handed the 10,000 image URLs
  small   100,000 URLs of 1 KiB files: requests per second
The anchors' command lines are in crawl_anchors.txt; mtget's are below.
Every tool uses 20 transfers at once.

Each run writes into a fresh directory on tmpfs (/dev/shm); measured: wall
time, CPU time (user + system of the command and its waited children) and
peak resident memory (GNU time's %M: the largest single process of the
command, not their sum: for a pipeline or the seed's processes, the biggest
one). Then the output is verified outside the clock (verify_crawl.py:
every image with its size and sha256; small files: every byte) and removed;
a run that fails verification counts as failed, not as a time. Medians and
min-max over the rounds; the tools' order is reversed every other round.
"""

import argparse
import datetime
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RESULTS = ROOT / "bench" / "results"
PY = "/usr/bin/python3"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import bench_site as crawl_site  # noqa: E402  (bench/crawl/bench_site.py)
from tool_bench import build_tool, end_on_signals, install, machine  # noqa: E402

XPATH = '//li[@class="list-group-item"]/img/@data-original'
CONC = 20

# Ours: mode -> [(label, command)]; {mtget} is the built tool.
MTGET_COMMON = "{mtget} -P {out} -j 20 --per-host 20"
OURS = {
    "crawl": [
        ("mtget", MTGET_COMMON + " -q --pages {pages} --xpath '" + XPATH + "'"),
        ("mtget --progress=none",
         MTGET_COMMON + " --progress=none --pages {pages} --xpath '" + XPATH + "'"),
        ("mtget --progress=plain",
         MTGET_COMMON + " --progress=plain --pages {pages} --xpath '" + XPATH + "'"),
    ],
    "dl": [("mtget", MTGET_COMMON + " -q -i {urls}")],
    "small": [("mtget", MTGET_COMMON + " -q -i {smallurls}")],
}

MODES = {
    "crawl": "crawl: 200 list pages -> XPath -> 10,000 images (2.99 GB)",
    "dl": "download-only: the 10,000 image URLs as a list (2.99 GB)",
    "small": "small files: 100,000 URLs of 1 KiB files",
}
QUICK_MODES = {
    "crawl": "crawl: 20 list pages -> XPath -> 1,000 images (0.30 GB)",
    "dl": "download-only: the 1,000 image URLs as a list (0.30 GB)",
    "small": "small files: 10,000 URLs of 1 KiB files",
}

# The workload's figures, measured on this kind of machine (median of 3).
SCALE_NOTE = ("curl --parallel + grep/sed 2.89 s (RSS 14 MiB), wget2 2.93 s, aria2c 7.13 s, "
              "aiohttp + lxml 9.70 s, the seed design 24.56 s")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def anchors():
    """crawl_anchors.txt: {mode: [(tool, command)]}."""
    out = {}
    for line in (HERE / "crawl_anchors.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, cmd = line.split("|", 1)
        tool, mode = label.rsplit(" ", 1)
        out.setdefault(mode, []).append((tool, cmd))
    return out


def run_one(cmd, cwd, timeout, errfile):
    """Run cmd in a shell under GNU time: wall, cpu, peak KiB, status.
    GNU time starts the shell: a child forked by this Python process would
    inherit its resident size as a starting peak, and time's is small."""
    peak_file = Path(f"/dev/shm/crawl-bench-peak-{os.getpid()}")
    with open(errfile, "wb") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", str(peak_file),
                              "/bin/sh", "-c", cmd], cwd=cwd, start_new_session=True,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        deadline = t0 + timeout
        try:
            while True:
                pid, status, ru = os.wait4(p.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    os.killpg(p.pid, 9)
                    os.wait4(p.pid, 0)
                    return None
                time.sleep(0.002)
        except BaseException:  # interrupted: the command's group goes too
            os.killpg(p.pid, 9)
            os.wait4(p.pid, 0)
            raise
        wall = time.monotonic() - t0
    # Whatever the command left running in its group goes now.
    try:
        os.killpg(p.pid, 9)
    except ProcessLookupError:
        pass
    p.returncode = os.waitstatus_to_exitcode(status)
    try:
        peak = int(peak_file.read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        peak = ru.ru_maxrss
    peak_file.unlink(missing_ok=True)
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss": peak,
            "status": p.returncode}


def verify_images(site, out):
    r = subprocess.run([PY, str(HERE / "verify_crawl.py"), str(site.manifest), str(out)],
                       capture_output=True, text=True)
    msg = r.stdout.strip()
    return None if r.returncode == 0 else (msg or r.stderr.strip()[-200:] or "verify failed")


def verify_small(site, out):
    """Every small file present once (by name, anywhere under out) with its bytes."""
    found = {}
    for d, _, files in os.walk(out):
        for n in files:
            found.setdefault(n, os.path.join(d, n))
    missing = bad = 0
    example = ""
    for i in range(site.small):
        name = crawl_site.small_name(i)
        p = found.get(name)
        if p is None:
            missing += 1
            example = example or f"missing {name}"
            continue
        with open(p, "rb") as f:
            if f.read() != crawl_site.small_body(i):
                bad += 1
                example = example or f"wrong bytes in {name}"
    if missing or bad:
        return f"FAIL {missing} missing, {bad} corrupt of {site.small}, e.g. {example}"
    return None


def median(xs):
    return statistics.median(xs) if xs else None


def fmt(x):
    if x is None:
        return "-"
    return f"{x:.2f}" if x < 100 else f"{x:,.0f}"


def versions():
    def v(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except Exception:
            return "not found"
    return [v(["nginx", "-v"]), v(["curl", "--version"]).split(" (")[0], v(["wget2", "--version"]),
            v(["aria2c", "--version"]), v([PY, "--version"]),
            "aiohttp " + v([PY, "-c", "import aiohttp; print(aiohttp.__version__)"]),
            "lxml " + v([PY, "-c", "import lxml; print(lxml.__version__)"]),
            "requests " + v([PY, "-c", "import requests; print(requests.__version__)"])]


def mtget_version(mtget):
    try:
        r = subprocess.run([mtget, "--version"], capture_output=True, text=True, timeout=10)
        return (r.stdout or r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown version"


def build(build_dir):
    """Build mtget in build_dir (release); None when this tree has no mtget yet."""
    if not (Path(ROOT) / "tools" / "mtget" / "main.c").exists():
        log("this tree has no tools/mtget/main.c yet: the anchors run alone "
            "(--mtget PATH runs a tool built elsewhere)")
        return None
    return build_tool(build_dir, "tools/mtget/mtget")


def chart(rows, modes, png):
    """Median wall time by mode, one bar per tool (log scale), as mtcp.png."""
    if not shutil.which("gnuplot"):
        log("gnuplot not found (Debian: gnuplot-nox): no chart")
        return False
    tools = list(dict.fromkeys(r["tool"] for r in rows if r["wall"]))
    if not tools:
        return False
    dat = png.with_suffix(".dat")
    names = {"crawl": "crawl", "dl": "download-only", "small": "100k x 1 KiB"}
    with open(dat, "w") as f:
        f.write("mode " + " ".join('"' + t + '"' for t in tools) + "\n")
        for m in modes:
            vals = []
            for t in tools:
                r = next((r for r in rows if r["tool"] == t and r["mode"] == m), None)
                vals.append(f"{r['wall']:.3f}" if r and r["wall"] else "NaN")
            f.write(f'"{names[m]}" ' + " ".join(vals) + "\n")
    script = f"""
set terminal pngcairo size 1100,560 font ",10" noenhanced
set output "{png}"
set title "Crawl benchmark: median wall seconds by mode (log scale; lower is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set logscale y
set grid ytics
set ylabel "seconds"
set key outside right top vertical
set xtics nomirror
colors = "#d62728 #ff9896 #e377c2 #1f77b4 #aec7e8 #2ca02c #9467bd #8c564b #7f7f7f #bcbd22"
plot for [i=2:{len(tools) + 1}] "{dat}" using i:xtic(1) title columnheader(i) lc rgb word(colors, i - 1)
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        log(f"gnuplot failed: {e}")
        return False
    finally:
        dat.unlink(missing_ok=True)
    return True


def main():
    # SIGINT and SIGTERM end the run cleanly (the running command's group
    # killed, nginx stopped, the outputs removed).
    end_on_signals()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("MT_BENCH_DATA", crawl_site.DEFAULT_DATA),
                    help="where the site lives (default /var/tmp/mt-bench)")
    ap.add_argument("--out", default="/dev/shm", help="tmpfs for the outputs")
    ap.add_argument("--modes", default="crawl,dl,small")
    ap.add_argument("--tools", default="", help="comma-separated tool names (default: all)")
    ap.add_argument("--rounds", type=int, default=None, help="default 3 (--quick: 2)")
    ap.add_argument("--quick", action="store_true", help="smoke run: the 20-page site, 2 rounds")
    ap.add_argument("--mtget", default=None, help="the mtget to run (default: build it)")
    ap.add_argument("--mtget-from", default="",
                    help="with --mtget: what it was built from, for the table")
    ap.add_argument("--build-dir", default="build-bench")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--no-install", action="store_true",
                    help="do not install missing Debian packages first")
    args = ap.parse_args()
    if not args.no_install:
        install()
    rounds = args.rounds or (2 if args.quick else 3)
    modes = [m for m in args.modes.split(",") if m]
    for m in modes:
        if m not in MODES:
            sys.exit(f"unknown mode: {m}")
    mtget = args.mtget or build(args.build_dir)
    if mtget and not os.access(mtget, os.X_OK):
        sys.exit(f"run.py: {mtget} is not an executable")
    anchor_cmds = anchors()
    table = {m: ([(t, c, "ours") for t, c in OURS[m]] if mtget else [])
             + [(t, c, "anchor") for t, c in anchor_cmds.get(m, [])] for m in modes}
    if args.tools:
        wanted = set(args.tools.split(","))
        table = {m: [x for x in v if x[0] in wanted or x[0].split(" ")[0] in wanted]
                 for m, v in table.items()}

    site = crawl_site.Site(args.data, args.quick)
    site.generate(log)
    log("reading the site once (warm page cache)")
    site.warm()
    site.start(log)
    work = Path(args.out) / f"crawl-bench-{os.getpid()}"
    work.mkdir(parents=True)
    values = {"base": site.base, "urls": site.path("urls.txt"),
              "urlscurl": site.path("urls.curl"), "pages": site.path("pages.txt"),
              "pagescurl": site.path("pages.curl"), "pagesaria2": site.path("pages.aria2"),
              "bench": HERE, "npages": site.pages, "smallurls": site.path("small-urls.txt"),
              "smallcurl": site.path("small-urls.curl"), "mtget": mtget}
    started = datetime.datetime.now()
    load_before = os.getloadavg()
    runs = {(m, t): [] for m in modes for t, _, _ in table[m]}
    failures = {(m, t): [] for m in modes for t, _, _ in table[m]}
    n = 0
    try:
        for rnd in range(rounds):
            for m in modes:
                order = table[m] if rnd % 2 == 0 else table[m][::-1]
                for tool, cmd, _ in order:
                    n += 1
                    out = work / f"out-{n}"
                    out.mkdir()
                    errfile = work / f"stderr-{n}"
                    res = run_one(cmd.format(out=out, **values), out, args.timeout, errfile)
                    err = errfile.read_text(errors="replace").strip().splitlines()
                    errfile.unlink()
                    if res is None:
                        bad = f"timeout after {args.timeout:.0f} s"
                    elif res["status"] != 0:
                        bad = f"exit {res['status']}: {(err or [''])[-1][:120]}"
                    else:
                        bad = verify_small(site, out) if m == "small" else verify_images(site, out)
                    shutil.rmtree(out)
                    if bad:
                        failures[(m, tool)].append(bad)
                        log(f"round {rnd + 1}/{rounds} {m} {tool}: FAILED: {bad}")
                        continue
                    runs[(m, tool)].append(res)
                    log(f"round {rnd + 1}/{rounds} {m} {tool}: {res['wall']:.2f} s, "
                        f"cpu {res['cpu']:.2f} s, {res['rss'] / 1024:.1f} MiB, verified")
    finally:
        site.stop(log)
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    for m in modes:
        for tool, cmd, side in table[m]:
            rs = runs[(m, tool)]
            walls = [r["wall"] for r in rs]
            fails = failures[(m, tool)]
            rows.append({
                "mode": m, "tool": tool, "side": side, "cmd": cmd, "n": len(rs),
                "wall": median(walls), "min": min(walls) if walls else None,
                "max": max(walls) if walls else None, "walls": walls,
                "cpu": median([r["cpu"] for r in rs]), "rss": median([r["rss"] for r in rs]),
                "rss_max": max([r["rss"] for r in rs]) if rs else None,
                "verified": (f"{len(rs)}/{len(rs) + len(fails)}"
                             + (f"; failed: {fails[0]}" if fails else "")),
            })
    report(rows, modes, site, args, rounds, started, load_before, mtget)


def requests_of(site, mode):
    return {"crawl": site.pages + site.images_count(), "dl": site.images_count(),
            "small": site.small}[mode]


def fastest_anchor(rows, mode):
    xs = [(r["wall"], r["tool"]) for r in rows
          if r["mode"] == mode and r["side"] == "anchor" and r["wall"]]
    return min(xs) if xs else (None, None)


def row(rows, mode, tool):
    return next((r for r in rows if r["mode"] == mode and r["tool"] == tool), None)


def targets(rows, mtget):
    out = ["## Targets (issue 10)", "", "| target | figure | met |", "|---|---|---|"]
    if not mtget:
        return out + ["| all | mtget was not built in this tree | not measured |", ""]
    mine = row(rows, "crawl", "mtget")
    if mine and mine["wall"]:
        best, name = fastest_anchor(rows, "crawl")
        if best:
            out.append(f"| crawl: at least as fast as the fastest anchor | mtget {mine['wall']:.2f} s, "
                       f"{name} {best:.2f} s: {best / mine['wall']:.2f}x | "
                       f"{'yes' if mine['wall'] <= best else 'no'} |")
        seed = row(rows, "crawl", "seed-mp")
        if seed and seed["wall"]:
            x = seed["wall"] / mine["wall"]
            out.append(f"| crawl: at least 8x the seed's design | {x:.1f}x | "
                       f"{'yes' if x >= 8 else 'no'} |")
        out.append(f"| crawl: peak RSS under 16 MiB | {mine['rss'] / 1024:.1f} MiB median, "
                   f"{mine['rss_max'] / 1024:.1f} MiB max | "
                   f"{'yes' if mine['rss_max'] < 16384 else 'no'} |")
    mine = row(rows, "dl", "mtget")
    if mine and mine["wall"]:
        best, name = fastest_anchor(rows, "dl")
        if best:
            out.append(f"| download-only: fastest anchor (reported) | mtget {mine['wall']:.2f} s, "
                       f"{name} {best:.2f} s: {best / mine['wall']:.2f}x | "
                       f"{'yes' if mine['wall'] <= best else 'no'} |")
    mine = row(rows, "small", "mtget")
    if mine and mine["wall"]:
        rate = mine["requests"] / mine["wall"]
        out.append(f"| small files: 20,000 requests/s or more | {rate:,.0f} req/s | "
                   f"{'yes' if rate >= 20000 else 'no'} |")
    a, b = row(rows, "crawl", "mtget --progress=none"), row(rows, "crawl", "mtget --progress=plain")
    if a and b and a["wall"] and b["wall"]:
        cost = (b["wall"] - a["wall"]) / a["wall"] * 100
        pairs = [(y - x) / x * 100 for x, y in zip(a["walls"], b["walls"])]
        rng = f" (single rounds {min(pairs):+.1f}% to {max(pairs):+.1f}%)" if len(pairs) > 1 else ""
        verdict = "yes" if cost < 2 else "no"
        if pairs and max(pairs) - min(pairs) > 4:
            verdict += ", but not decided: single rounds differ by more than the target"
        out.append(f"| crawl: `--progress=plain` costs under 2% (against `--progress=none`) | "
                   f"{cost:+.1f}%{rng} | {verdict} |")
    return out + [""]


def report(rows, modes, site, args, rounds, started, load_before, mtget):
    for r in rows:
        r["requests"] = requests_of(site, r["mode"])
    gb = site.images_bytes() / 1e9
    lines = ["# mtget against curl, wget2, aria2c, aiohttp + lxml and the seed's design", ""]
    if args.quick:
        lines += [f"**Smoke run** (the {site.pages}-page site, {rounds} rounds): it shows that "
                  "everything runs and verifies, not how fast. Run "
                  "`/usr/bin/python3 bench/crawl/run.py` for the measurement.", ""]
    if not mtget:
        lines += ["**mtget is not in this tree yet: the anchors ran alone.**", ""]
    load_after = os.getloadavg()
    lines += [f"Machine: {machine()}.",
              f"Load average (1, 5, 15 min) before: {' '.join(f'{x:.2f}' for x in load_before)}; "
              f"after: {' '.join(f'{x:.2f}' for x in load_after)} "
              "(2 CPUs shared with other work: figures of one run are comparable with each other "
              "only).",
              f"Server: Debian's nginx on 127.0.0.1:8088 (bench/crawl/nginx.conf: one worker, "
              f"sendfile, keep-alive), the site read into the page cache first (warm).",
              f"Rounds: {rounds}, tools interleaved (order reversed every other round); "
              "medians, min-max over the rounds. Every tool runs 20 transfers at once.",
              "Versions: " + "; ".join(versions()) + ".",
              (f"mtget: `{mtget_version(mtget)}`" + ("" if Path(mtget).is_relative_to(ROOT)
               else f", built outside this tree ({args.mtget_from or mtget})") + "."
               if mtget else ""), "",
              "Columns: wall seconds (min-max); throughput (MB/s of image bytes, or requests/s); "
              "CPU seconds (user + system of the command and its children); peak resident "
              "memory in MiB (GNU time's %M: the largest single process of the command, not the "
              "sum; for the pipelines and the seed's processes, the biggest one); `vs fastest`: "
              "the fastest anchor's median wall time over the tool's (above 1: faster than it); "
              "`vs seed`: the seed design's over the tool's; verified: runs whose output passed "
              "(every image's size and sha256, every small file's bytes) of runs made.", ""]
    names = QUICK_MODES if args.quick else MODES
    for m in modes:
        lines += [f"## {names[m]}", ""]
        if m == "crawl" and not args.quick:
            lines += [f"For scale, the workload's figures on this kind of machine: {SCALE_NOTE}.", ""]
        best, _ = fastest_anchor(rows, m)
        seed = row(rows, m, "seed-mp")
        lines += ["| tool | wall s | min-max | throughput | CPU s | peak MiB | vs fastest | "
                  "vs seed | verified |", "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in (r for r in rows if r["mode"] == m):
            w = r["wall"]
            thr = "-"
            if w:
                thr = (f"{r['requests'] / w:,.0f} req/s" if m == "small"
                       else f"{gb * 1000 / w:,.0f} MB/s")
            vf = f"{best / w:.2f}x" if best and w else "-"
            vs = f"{seed['wall'] / w:.2f}x" if seed and seed["wall"] and w else "-"
            mm = f"{fmt(r['min'])}-{fmt(r['max'])}" if r["min"] is not None else "-"
            rss = f"{r['rss'] / 1024:.1f}" if r["rss"] else "-"
            lines.append(f"| {r['tool']} | {fmt(w)} | {mm} | {thr} | {fmt(r['cpu'])} | {rss} | "
                         f"{vf} | {vs} | {r['verified'].replace('|', '/')} |")
        lines.append("")
    lines += targets(rows, mtget)
    lines += ["## Commands", "",
              f"`{shlex.join(['/usr/bin/python3', 'bench/crawl/run.py'] + sys.argv[1:])}`; "
              f"each command ran in a fresh directory on tmpfs (`{{out}}`, also its working "
              "directory). `{base}` is http://127.0.0.1:8088; `{pages}`, `{urls}`, "
              "`{smallurls}` (and `{pagescurl}`, `{pagesaria2}`, `{urlscurl}`, `{smallcurl}`, the "
              "same as curl configs and aria2 input) are the lists bench_site.py writes beside "
              "the site; `{npages}` is the number of list pages.", ""]
    for m in modes:
        for r in (r for r in rows if r["mode"] == m):
            cmd = r["cmd"].replace("{bench}", "bench/crawl").replace("{mtget}", "mtget")
            lines.append(f"- {m}, {r['tool']}: `{cmd}`")
    lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.no_write:
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    png = RESULTS / "crawl.png"
    if chart(rows, modes, png):
        text += "\n![median wall time by mode](crawl.png)\n"
    (RESULTS / "crawl.md").write_text(text + "\n")
    log(f"wrote {RESULTS / 'crawl.md'}")


if __name__ == "__main__":
    main()
