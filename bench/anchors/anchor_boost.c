/*
 * anchor_boost.c - Boost.Context's fcontext (the assembly switch behind
 * Boost.Coroutine2 and Boost.Fiber), called through its C-linkage entry
 * points, as bench_coro's `switch` does it: main <-> one context, -n round
 * trips. Prints {"bench":"switch","impl":"boost-fcontext",...}.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdlib.h>

#include "../bench_util.h"

/* boost/context/detail/fcontext.hpp declares these extern "C". */
typedef void *fcontext_t;
typedef struct transfer_t {
    fcontext_t fctx;
    void *data;
} transfer_t;
transfer_t jump_fcontext(fcontext_t const to, void *vp);
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

static long count;

static void body(transfer_t t)
{
    for (;;) {
        count++;
        t = jump_fcontext(t.fctx, NULL);
    }
}

static void run_switch(const bench_args *a)
{
    size_t size = 64 * 1024;
    char *stack = bench_alloc(size);
    fcontext_t ctx = make_fcontext(stack + size, size, body);
    for (int i = 0; i < 1000; i++)
        ctx = jump_fcontext(ctx, NULL).fctx;
    count = 0;
    double t0 = bench_now();
    for (long i = 0; i < a->n; i++)
        ctx = jump_fcontext(ctx, NULL).fctx;
    bench_json_switches(a, bench_now() - t0, count);
}

int main(int argc, char **argv)
{
    bench_set_impl("boost-fcontext");
    static const bench_cmd cmds[] = {
        {"switch", "jump_fcontext main <-> one context", 10000000, 1, run_switch},
    };
    return bench_main(argc, argv, cmds, sizeof cmds / sizeof cmds[0]);
}
