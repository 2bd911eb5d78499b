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
    pool_map "pool.map over four URLs of a local web; the last one does not exist."
    copy_single "Four 16 MiB files copied 1024 bytes at a time, one after another."
    copy_pool "The same copies with one apply_async per file in a process pool."
    terminate "A child that would sleep 100 s is terminated at once."
    daemon "A daemon child that would sleep 100 s dies with its parent."
)

for ((i = 0; i < ${#examples[@]}; i += 2)); do
    name=${examples[i]}
    printf '\n=== %s ===\n%s\n\n' "$name" "${examples[i + 1]}"
    "$dir/$name"
done
