"""tool_bench.py - what the benchmark drivers (bench/run.py, bench/mtcp/run.py,
bench/crawl/run.py, bench/remote/run.py) share: the machine line of their
tables, the release builds, the Debian packages, running a program that
prints JSON lines, and ending cleanly on a signal. Standard library only."""
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def machine(load=False):
    """CPU, CPUs, memory, kernel, commit and date (and the 1-minute load)."""
    def first(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
        except Exception:
            return "?"
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(open("/proc/meminfo").readline().split()[1]) // 1024 // 1024
    commit = first(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    text = (f"{cpu}, {os.cpu_count()} CPUs, {mem} GiB, Linux {platform.release()}, "
            f"commit {commit}, {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}")
    return text + (f", load {os.getloadavg()[0]:.2f}" if load else "")


def build_tool(build_dir, target):
    """Build ninja target `target` (a path under the build directory) in a
    release build of this tree; its path."""
    if not (Path(build_dir) / "build.ninja").exists():
        subprocess.run(["meson", "setup", build_dir, "--buildtype=release", "-Dtests=false",
                        "-Dexamples=false", "-Dbenchmarks=false"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    subprocess.run(["ninja", "-C", build_dir, target], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return str(Path(ROOT, build_dir, target))


def install():
    """Install the Debian packages of the benchmarks and their anchors, as
    ./test.sh does for the tests: scripts/deps.sh installs what is missing
    when run as root, and otherwise prints the apt-get line and fails."""
    script = '. "$1/scripts/deps.sh" && need_packages build bench'
    if subprocess.run(["bash", "-c", script, "deps", str(ROOT)],
                      stdout=sys.stderr).returncode != 0:
        sys.exit("run.py: the packages above are missing (--no-install runs without them)")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def build_benchmarks(build_dir):
    """A release build of the tree with the benchmark programs, in build_dir
    (a Path); exits when meson or ninja fails."""
    opts = ["--buildtype=release", "-Dtests=false", "-Dexamples=false", "-Dbenchmarks=true"]
    if (build_dir / "build.ninja").exists():
        # --reconfigure looks for the optional dependencies again (GLib,
        # Boost.Context, State Threads), which may have been installed since,
        # and for the sources a meson.build builds only when they exist.
        cmd = ["meson", "setup", "--reconfigure", str(build_dir), str(ROOT)] + opts
    else:
        cmd = ["meson", "setup", str(build_dir), str(ROOT)] + opts
    for argv in (cmd, ["ninja", "-C", str(build_dir)]):
        log("$ " + " ".join(argv))
        if subprocess.run(argv, stdout=sys.stderr).returncode != 0:
            sys.exit(f"run.py: {argv[0]} failed")


def run_json(argv, timeout, cwd=None):
    """Run one benchmark command in its own process group (killed whole at
    the end, and on a timeout or an interruption). Returns the JSON lines it
    printed, as dicts, or a short string saying why there are none."""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True,
                                cwd=cwd)
    except OSError as e:
        return f"cannot run: {e.strerror}"
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return f"timeout after {timeout:.0f} s"
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    try:  # whatever the command left running in its group goes now
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if proc.returncode != 0:
        last = (err.strip().splitlines() or ["no message"])[-1]
        return f"exit {proc.returncode}: {last}"
    lines = []
    for text in out.splitlines():
        try:
            lines.append(json.loads(text))
        except json.JSONDecodeError:
            pass
    return lines or "no JSON line in its output"


def end_on_signals():
    """SIGINT and SIGTERM raise KeyboardInterrupt, so that a driver ends
    cleanly (its command's group killed, its server stopped, its outputs
    removed), also when started in the background, where SIGINT arrives
    ignored."""
    def interrupted(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
