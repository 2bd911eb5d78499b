/*
 * anchor_st.c - State Threads (libst), a C coroutine library with its own
 * scheduler, doing bench_coro's `yield` (st_usleep(0): ST's way to let the
 * other threads run) and `create` (st_thread_create + st_thread_join).
 * Prints {"bench":...,"impl":"st",...}.
 */
#define _GNU_SOURCE
#include <st.h>
#include <stdlib.h>

#include "../bench_util.h"

static long yield_each;

static void *yielder(void *arg)
{
    (void)arg;
    for (long i = 0; i < yield_each; i++)
        st_usleep(0);
    return NULL;
}

static void run_yield(const bench_args *a)
{
    if (st_init() != 0)
        bench_die("st_init failed");
    int p = a->processes;
    st_thread_t *ts = bench_alloc((size_t)p * sizeof *ts);
    yield_each = a->n / p;
    double t0 = bench_now();
    for (int i = 0; i < p; i++)
        ts[i] = st_thread_create(yielder, NULL, 1, 64 * 1024);
    for (int i = 0; i < p; i++)
        st_thread_join(ts[i], NULL);
    double secs = bench_now() - t0;
    bench_json_begin(a);
    bench_json_int("tasks", p);
    bench_json_num("seconds", secs);
    bench_json_num("ns_per_yield", secs * 1e9 / (double)(yield_each * p));
    bench_json_end();
    free(ts);
}

static void *nothing(void *arg)
{
    return arg;
}

static void run_create(const bench_args *a)
{
    if (st_init() != 0)
        bench_die("st_init failed");
    double t0 = bench_now();
    for (long i = 0; i < a->n; i++) {
        void *ret;
        st_thread_t t = st_thread_create(nothing, (void *)(i & 0xff), 1, 64 * 1024);
        if (!t || st_thread_join(t, &ret) != 0 || ret != (void *)(i & 0xff))
            bench_die("create/join failed");
    }
    double secs = bench_now() - t0;
    bench_json_begin(a);
    bench_json_num("seconds", secs);
    bench_json_num("ns_per_task", secs * 1e9 / (double)a->n);
    bench_json_end();
}

int main(int argc, char **argv)
{
    bench_set_impl("st");
    static const bench_cmd cmds[] = {
        {"yield", "-p threads calling st_usleep(0), n in all", 1000000, 2, run_yield},
        {"create", "st_thread_create + st_thread_join", 1000000, 1, run_create},
    };
    return bench_main(argc, argv, cmds, sizeof cmds / sizeof cmds[0]);
}
