/*
 * bench_coro.c - the coroutine benchmarks. Each subcommand prints one JSON
 * line (see bench/README.md); bench/py/bench_coro.py does the same work with
 * asyncio (and uvloop), bench/anchors/ with other C coroutine libraries.
 *
 *   switch       raw context switch, main <-> one coroutine (ns per switch)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench_util.h"
#include "ctx.h"
#include "multitask.h"

/* ---- switch: the raw context switch, without the scheduler ------------- */

static mt__fiber sw_main, sw_co;
static long sw_count;

static void sw_body(void *arg)
{
    (void)arg;
    mt__fiber_started();
    for (;;) {
        sw_count++;
        mt__fiber_switch(&sw_co, &sw_main, false);
    }
}

static void run_switch(const bench_args *a)
{
    size_t size = 64 * 1024;
    void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED)
        bench_die("mmap failed");
    mt__fiber_init(&sw_main, NULL, 0, true);
    mt__fiber_init(&sw_co, stack, size, false);
    mt__ctx_make(&sw_co.ctx, stack, size, sw_body, NULL);
    for (int i = 0; i < 1000; i++) /* warm up */
        mt__fiber_switch(&sw_main, &sw_co, false);
    sw_count = 0;
    double t0 = bench_now();
    for (long i = 0; i < a->n; i++)
        mt__fiber_switch(&sw_main, &sw_co, false);
    double secs = bench_now() - t0;
    if (sw_count != a->n)
        bench_die("the coroutine ran %ld times, not %ld", sw_count, a->n);
    bench_json_begin(a);
#if defined(MT_CORO_UCONTEXT)
    bench_json_str("switch", "ucontext");
#else
    bench_json_str("switch", "asm");
#endif
    bench_json_num("seconds", secs);
    bench_json_num("ns_per_switch", secs * 1e9 / (2.0 * (double)a->n));
    bench_json_end();
    mt__fiber_destroy(&sw_co, false);
    munmap(stack, size);
}

int main(int argc, char **argv)
{
    static const bench_cmd cmds[] = {
        {"switch", "raw context switch main <-> coroutine", 10000000, 1, run_switch},
    };
    return bench_main(argc, argv, cmds, sizeof cmds / sizeof cmds[0]);
}
