#!/usr/bin/env bash
# Build multitask (library, tools, examples, benchmarks) with warnings as
# errors, and run every test. Installs missing Debian packages when run as root.
set -euo pipefail
cd "$(dirname "$0")"
. scripts/deps.sh
need_packages build test
setup_build build -Dwerror=true
ninja -C build
meson test -C build --print-errorlogs "$@"
