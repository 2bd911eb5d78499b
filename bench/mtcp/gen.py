#!/usr/bin/python3
"""gen.py - make the datasets of the mtcp benchmark, always the same bytes
for the same arguments (every byte comes from random.Random(seed)).

    /usr/bin/python3 bench/mtcp/gen.py DIR            # A, B, C and D under DIR
    /usr/bin/python3 bench/mtcp/gen.py DIR --only A --scale 0.05

  A  100,000 files of 4 KiB in a 3-level tree (10 x 10 x 10 directories,
     100 files in each leaf)
  B  4 files of 1 GiB of random bytes
  C  10,000 files whose sizes are log-uniform from 1 KiB to 4 MiB (about
     5 GiB) spread over a 3-level tree
  D  the edge-case tree: a 1 GiB sparse file, hard links, symlinks (one
     dangling, a loop), modes, nanosecond times, xattrs, odd names (spaces,
     a newline, invalid UTF-8), empty directories, and 2,000 small files

--scale shrinks file counts and sizes (the --quick runs use it). A dataset
is made once: DIR/<X>/.complete marks it done, and the marker records the
scale, so a different scale makes it again.
"""

import argparse
import math
import os
import random
import shutil
import sys

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


def write(path, rng, size, chunk=16 * MIB):
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(chunk, left)
            f.write(rng.randbytes(n))
            left -= n


def gen_a(root, scale):
    rng = random.Random(1)
    per_leaf = max(1, int(100 * scale))
    for i in range(10):
        for j in range(10):
            for k in range(10):
                d = os.path.join(root, f"d{i}", f"d{j}", f"d{k}")
                os.makedirs(d)
                for n in range(per_leaf):
                    with open(os.path.join(d, f"f{n:03d}"), "wb") as f:
                        f.write(rng.randbytes(4 * KIB))


def gen_b(root, scale):
    rng = random.Random(2)
    size = max(MIB, int(GIB * scale))
    os.makedirs(root)
    for n in range(4):
        write(os.path.join(root, f"big{n}.bin"), rng, size)


def gen_c(root, scale):
    rng = random.Random(3)
    count = max(10, int(10000 * scale))
    lo, hi = math.log(KIB), math.log(4 * MIB)
    for n in range(count):
        d = os.path.join(root, f"p{rng.randrange(10)}", f"q{rng.randrange(10)}")
        os.makedirs(d, exist_ok=True)
        size = int(math.exp(rng.uniform(lo, hi)))
        write(os.path.join(d, f"file{n:05d}.dat"), rng, size)


def gen_d(root, scale):
    rng = random.Random(4)
    os.makedirs(os.path.join(root, "empty", "deeper", "deepest"))
    os.makedirs(os.path.join(root, "files"))
    for n in range(max(10, int(2000 * scale))):
        sub = os.path.join(root, "files", f"s{n % 20}")
        os.makedirs(sub, exist_ok=True)
        write(os.path.join(sub, f"f{n}"), rng, rng.randrange(1, 64 * KIB))
    sparse = os.path.join(root, "sparse.img")
    with open(sparse, "wb") as f:
        size = max(16 * MIB, int(GIB * scale))
        f.truncate(size)
        for at in (0, size // 3, size // 2, size - 4 * KIB):
            f.seek(at)
            f.write(rng.randbytes(4 * KIB))
    write(os.path.join(root, "linked"), rng, 100 * KIB)
    os.link(os.path.join(root, "linked"), os.path.join(root, "linked-too"))
    os.link(os.path.join(root, "linked"), os.path.join(root, "files", "linked-deep"))
    os.symlink("linked", os.path.join(root, "symlink"))
    os.symlink("/nonexistent/target", os.path.join(root, "dangling"))
    os.symlink("loop-b", os.path.join(root, "loop-a"))
    os.symlink("loop-a", os.path.join(root, "loop-b"))
    for name, mode in (("mode-0600", 0o600), ("mode-0755", 0o755), ("mode-4755", 0o4755),
                       ("mode-0444", 0o444)):
        p = os.path.join(root, name)
        write(p, rng, 100)
        os.chmod(p, mode)
    for name in (b"with space", b"new\nline", b"bad-\xff\xfe-utf8", b"-dash", b".hidden"):
        p = os.path.join(os.fsencode(root), name)
        with open(p, "wb") as f:
            f.write(rng.randbytes(10))
    p = os.path.join(root, "xattrs")
    write(p, rng, 1000)
    try:
        os.setxattr(p, "user.comment", b"kept by cp -a and mtcp")
    except OSError:
        pass
    for n, (dirpath, dirs, files) in enumerate(sorted(os.walk(root, topdown=False))):
        for f in files:
            fp = os.path.join(dirpath, f)
            if not os.path.islink(fp):
                os.utime(fp, ns=(1_600_000_000_123_456_789 + n, 1_500_000_000_987_654_321 + n))
        os.utime(dirpath, ns=(1_600_000_000_000_000_001, 1_500_000_000_000_000_003 + n))


GENERATORS = {"A": gen_a, "B": gen_b, "C": gen_c, "D": gen_d}


def make(data, name, scale):
    root = os.path.join(data, name)
    marker = os.path.join(root, ".complete")
    want = f"scale={scale}\n"
    if os.path.exists(marker) and open(marker).read() == want:
        return root, False
    if os.path.exists(root):
        shutil.rmtree(root)
    tree = os.path.join(root, "tree")
    os.makedirs(root)
    if name == "A" or name == "C":
        os.makedirs(tree)
    GENERATORS[name](tree, scale)
    os.sync()
    with open(marker, "w") as f:
        f.write(want)
    return root, True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", help="directory for the datasets")
    ap.add_argument("--only", default="A,B,C,D", help="datasets, e.g. A,C")
    ap.add_argument("--scale", type=float, default=1.0, help="shrink counts and sizes")
    args = ap.parse_args()
    for name in args.only.split(","):
        root, made = make(args.data, name, args.scale)
        print(f"{name}: {root}/tree {'made' if made else 'already there'}", file=sys.stderr)


if __name__ == "__main__":
    main()
