/*
 * anchor_uv.c - libuv's timers, as bench_coro's `sleep_start` uses ours:
 * start n timers of 10 s (uv_timer_start on handles made beforehand), then
 * stop them untimed. Prints {"bench":"sleep_start","impl":"libuv",...}.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <uv.h>

#include "../bench_util.h"

static void never(uv_timer_t *h)
{
    (void)h;
    bench_die("a 10 s timer fired");
}

static void run_sleep_start(const bench_args *a)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_t *ts = bench_alloc((size_t)a->n * sizeof *ts);
    for (long i = 0; i < a->n; i++)
        uv_timer_init(&loop, &ts[i]);
    for (long i = 0; i < a->n; i++) /* warm, as ours is */
        uv_timer_start(&ts[i], never, 10000, 0);
    for (long i = 0; i < a->n; i++)
        uv_timer_stop(&ts[i]);
    double t0 = bench_now();
    for (long i = 0; i < a->n; i++)
        uv_timer_start(&ts[i], never, 10000, 0);
    double secs = bench_now() - t0;
    for (long i = 0; i < a->n; i++)
        uv_close((uv_handle_t *)&ts[i], NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(ts);
    bench_json_begin(a);
    bench_json_num("seconds", secs);
    bench_json_num("ns_per_start", secs * 1e9 / (double)a->n);
    bench_json_end();
}

int main(int argc, char **argv)
{
    bench_set_impl("libuv");
    static const bench_cmd cmds[] = {
        {"sleep_start", "uv_timer_start of n timers of 10 s", 1000000, 1, run_sleep_start},
    };
    return bench_main(argc, argv, cmds, sizeof cmds / sizeof cmds[0]);
}
