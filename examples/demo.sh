#!/usr/bin/env bash
# demo.sh - run each of the lecture's programs in turn, each after a one-line
# header and the sentence that says what to look for. Run it after building:
#
#   examples/demo.sh [BUILD_DIR]      (default ./build)
set -euo pipefail

build=${1:-./build}
dir=$build/examples
if [[ ! -x $dir/single_process ]]; then
    echo "demo.sh: no examples in '$dir': build first (meson setup build && ninja -C build)" >&2
    exit 2
fi

# name, then what it shows
examples=(
    single_process "One process: run2 only starts after run1 has finished."
    process_start "run1 in a child process, run2 in the parent: their lines interleave."
    process_schedule "The parent starts two children and prints 耗时 at once, without waiting."
    process_join "The parent joins both children: 耗时 is about 7 s, not 7 + 5."
    globals_not_shared "The child changes its copy of num (11); the parent's is still 10."
    list_not_shared "The child appends to its copy of the list; the parent's stays []."
    pool_apply_async "Six tasks of 2-7 s in Pool(2): never more than two at a time."
    pool_get "get() right after each apply_async: the tasks run one after another."
    pool_map "pool.map fetches four URLs of a local web site; nothing listens at the last one."
    copy_single "Four 16 MiB files copied 1024 bytes at a time, one after another."
    copy_pool "The same copies with one apply_async per file in a process pool."
    terminate "A child that would sleep 100 s is terminated at once."
    daemon "A daemon child that would sleep 100 s dies with its parent."
    queue_put_get "Parent and child put a list each into one queue; the parent gets both."
    producer_consumer "A producer and a consumer process, 2 s apart; a stop message ends it."
    homework1_copy "A pool copies a folder of eight files, one task per file, with progress."
    manager_dict "A child sets three keys of a dict shared through LMDB; the parent sees them."
    manager_list "A child appends three items to a shared list; the parent sees them."
    homework2 "Coroutines in a chain: each item is produced, then consumed: about 6 s for 3."
    homework3 "A producer and a consumer task on an async queue: 5 items in about 6 s, not 10."
    producers_consumers "Several producers and consumers on one async queue."
    echo "An echo server on 127.0.0.1 and a client that checks every reply."
    image_scraper "The lecture's image scraper: a process per page, a queue, 20 download threads."
    image_scraper_coro "The same scraper as tasks of one event loop, with one HTTP client."
    homework3_crawl "Three coroutines crawl a local site through one queue, each page once."
)

# homework1_copy copies ./current: give it one, of eight 8 MiB files, in a
# temporary directory that goes when the demo ends.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/current"
for i in 1 2 3 4 5 6 7 8; do
    head -c 8M /dev/urandom >"$work/current/$i.mp4"
done

for ((i = 0; i < ${#examples[@]}; i += 2)); do
    name=${examples[i]}
    printf '\n=== %s ===\n%s\n\n' "$name" "${examples[i + 1]}"
    if [[ $name == homework1_copy ]]; then
        "$dir/$name" "$work/current" "$work/target"
    elif [[ $name == image_scraper* ]]; then
        # (the downloader waits 3 s for more addresses instead of the lecture's 20)
        "$dir/$name" "$work/img-$name" 3
    else
        "$dir/$name"
    fi
done

# The tool the homework grew into: mtcp copies the same folder, and a tree of
# a few thousand more files, with its live display (held to 40 MB/s so that
# the display has time to be seen; on a terminal it draws bars, elsewhere a
# line a second).
mtcp=$build/tools/mtcp
if [[ -x $mtcp ]]; then
    printf '\n=== mtcp ===\n%s\n\n' "mtcp copies the folder and 4,000 small files with 4 workers, cp -a style."
    for d in $(seq 1 40); do
        mkdir -p "$work/current/dir$d"
        for f in $(seq 1 100); do
            head -c $((RANDOM * 2)) /dev/urandom >"$work/current/dir$d/file$f"
        done
    done
    progress=bars
    [[ -t 2 ]] || progress=plain
    "$mtcp" -j 4 --bwlimit 40M --progress=$progress "$work/current" "$work/mtcp-copy"
    echo "exit status $?; copied $(find "$work/mtcp-copy" -type f | wc -l) files," \
        "$(du -sh "$work/mtcp-copy" | cut -f1)"
fi
