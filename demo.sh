#!/usr/bin/env bash
# Build multitask and run the demo: the programs of the lecture on
# multiprocessing, written in C, one after another with a word on each.
# Installs missing Debian packages when run as root.
set -euo pipefail
cd "$(dirname "$0")"
. scripts/deps.sh
need_packages build
setup_build build -Dtests=false
ninja -C build >/dev/null
exec examples/demo.sh build
