"""tool_bench.py - what the whole-tool benchmark drivers (bench/mtcp/run.py,
bench/crawl/run.py) share: the machine line of their tables, the release
build of the tool, and the Debian packages. Standard library only."""
import datetime
import os
import platform
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
