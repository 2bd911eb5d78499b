#!/usr/bin/python3
"""homework.py - the homework's copy program (seeds: homework 1), made to
copy a whole tree, as the benchmark's Python anchor.

    homework.py SRC DST            serial, as the seed's copy_file loop
    homework.py --pool SRC DST     a multiprocessing.Pool, one task per file,
                                   progress through a Manager().Queue()

Like the seed it copies bytes only (1 MiB reads), prints a line per file,
and keeps no metadata; symlinks are followed as open() does.
"""

import os
import sys
from multiprocessing import Manager, Pool


def copy_file(source, target, queue=None):
    size = os.path.getsize(source) / 1024 / 1024
    with open(source, "rb") as fr, open(target, "wb") as fw:
        while True:
            content = fr.read(1024 * 1024)
            if not content:
                break
            fw.write(content)
    if queue is not None:
        queue.put(size)
    else:
        print("Size: %.2f M | %s" % (size, target))


def plan(src, dst):
    """Make the directories; return the (source, target) pairs of files."""
    pairs = []
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        os.makedirs(os.path.join(dst, rel), exist_ok=True)
        for name in filenames:
            pairs.append((os.path.join(dirpath, name), os.path.join(dst, rel, name)))
    return pairs


def main():
    args = sys.argv[1:]
    pool = args and args[0] == "--pool"
    if pool:
        args = args[1:]
    src, dst = args
    pairs = plan(src, dst)
    if not pool:
        for s, t in pairs:
            copy_file(s, t)
        return
    queue = Manager().Queue()
    with Pool() as p:
        for s, t in pairs:
            p.apply_async(copy_file, (s, t, queue), error_callback=lambda e: queue.put(-1))
        p.close()
        done = 0
        while done < len(pairs):
            queue.get()
            done += 1
            print("\rcopied %d/%d files (%.0f%%)" % (done, len(pairs), 100 * done / len(pairs)),
                  end="")
        p.join()
    print()


if __name__ == "__main__":
    main()
