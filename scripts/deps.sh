# deps.sh - make sure the Debian packages a command needs are installed.
# Sourced by demo.sh, test.sh and .ci/run: `need_packages build test`;
# bench/run.py runs `need_packages build bench` before it builds.
# As root it installs what is missing; otherwise it prints the exact
# apt-get line and fails.

# What each purpose needs, from Debian 12.
MT_PACKAGES_build="gcc libc6-dev pkg-config meson ninja-build liblmdb-dev libxxhash-dev libuv1-dev libxml2-dev libcurl4-openssl-dev libhiredis-dev"
# test: libssl-dev for the test server's HTTPS and the certificates the TLS
# tests make (libcurl4-openssl-dev pulls it in today; the tests use it directly);
# redis-server for the remote layer's tests, which start their own, and
# redis-tools for redis-check-aof, with which they repair an AOF a crash cut;
# iproute2 for ip and tc, with which the remote_netns suite makes machines of
# its own (network namespaces and veth links; root only, else skipped).
MT_PACKAGES_test="libcriterion-dev zlib1g-dev libssl-dev redis-server redis-tools iproute2"
# bench: the anchors of the copy benchmarks (rsync, rclone, GNU parallel,
# gnuplot for the chart, GNU time), of the thread pool's (GLib's
# GThreadPool, built into bench_executor) and of the coroutine benchmarks
# (uvloop, State Threads, Boost.Context), of the crawl and HTTP benchmarks
# (nginx as the server; curl, wget2, aria2c, aiohttp + lxml and requests as
# the anchors), of the Redis benchmarks (redis-server, started by
# bench/remote/run.py; redis-benchmark and redis-cli from redis-tools; Celery,
# RQ and redis-py as the anchors); trace: scripts/trace_to_png.py.
MT_PACKAGES_bench="python3 rsync rclone parallel gnuplot-nox time libglib2.0-dev python3-uvloop libst-dev libboost-context-dev nginx curl wget2 aria2 python3-aiohttp python3-lxml python3-requests redis-server redis-tools python3-celery python3-rq python3-redis"
MT_PACKAGES_trace="python3 python3-matplotlib"

need_packages() {
    local want=() missing=() purpose pkg list
    for purpose in "$@"; do
        list="MT_PACKAGES_${purpose}"
        for pkg in ${!list}; do want+=("$pkg"); done
    done
    for pkg in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "multitask needs these Debian packages; as root, run:" >&2
        echo "  apt-get install -y ${missing[*]}" >&2
        return 1
    fi
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

# Configure (or reconfigure) a meson build directory with the given options.
setup_build() {
    local dir=$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@" >/dev/null
    fi
}
