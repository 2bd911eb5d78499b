/*
 * anchor_swapcontext.c - glibc's swapcontext, the portable context switch,
 * as bench_coro's `switch` does it: main <-> one context, -n round trips.
 * Prints {"bench":"switch","impl":"swapcontext",...,"ns_per_switch":...}.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <ucontext.h>

#include "../bench_util.h"

static ucontext_t main_uc, co_uc;
static long count;

static void body(void)
{
    for (;;) {
        count++;
        swapcontext(&co_uc, &main_uc);
    }
}

static void run_switch(const bench_args *a)
{
    size_t size = 64 * 1024;
    getcontext(&co_uc);
    co_uc.uc_stack.ss_sp = bench_alloc(size);
    co_uc.uc_stack.ss_size = size;
    co_uc.uc_link = NULL;
    makecontext(&co_uc, body, 0);
    for (int i = 0; i < 1000; i++)
        swapcontext(&main_uc, &co_uc);
    count = 0;
    double t0 = bench_now();
    for (long i = 0; i < a->n; i++)
        swapcontext(&main_uc, &co_uc);
    bench_json_switches(a, bench_now() - t0, count);
}

int main(int argc, char **argv)
{
    bench_set_impl("swapcontext");
    static const bench_cmd cmds[] = {
        {"switch", "swapcontext main <-> one context", 1000000, 1, run_switch},
    };
    return bench_main(argc, argv, cmds, sizeof cmds / sizeof cmds[0]);
}
