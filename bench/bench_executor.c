/*
 * bench_executor.c - the thread pool against its anchors. Each subcommand
 * prints one JSON line (see bench/README.md); bench/py/thread_pool.py does
 * the same work with Python's ThreadPoolExecutor:
 *
 *   tasks         N trivial tasks (square a long) submitted to mt_executor,
 *                 then every future waited and its result checked -> tasks/s
 *   latency       submit one task, wait for it, N times: the time from the
 *                 submit call to the task's start -> median microseconds
 *   glib          the tasks benchmark through GLib's GThreadPool, each task
 *                 a heap record like a future, every result checked
 *   glib_latency  the latency benchmark through GThreadPool
 *
 * Usage: bench_executor SUBCOMMAND [-p WORKERS] [-n COUNT]. Workers are
 * threads and default to ThreadPoolExecutor's min(32, CPUs + 4) on every
 * side, so that all three run the same number of threads. GLib is a
 * dependency of this program alone (bench/meson.build skips it without).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "multitask.h"

/* impl: "multitask" or "glib", for the JSON line. */
static void report_rate(const bench_args *a, const char *impl, double secs)
{
    bench_json_begin_impl(a, impl);
    bench_json_num("seconds", secs);
    bench_json_num("tasks_per_s", (double)a->n / secs);
    bench_json_end();
}

/* Print the median and mean of a->n latencies in microseconds; frees lat. */
static void report_latency(const bench_args *a, const char *impl, double *lat)
{
    double mean = bench_mean(lat, (size_t)a->n);
    bench_json_begin_impl(a, impl);
    bench_json_num("median_us", bench_median(lat, (size_t)a->n));
    bench_json_num("mean_us", mean);
    bench_json_end();
    free(lat);
}

/* ---- multitask -------------------------------------------------------- */

static int square(const void *arg, size_t len, mt_buf *out)
{
    long x;
    if (len != sizeof x)
        return mt_fail(out, -EINVAL, "want a long, got %zu bytes", len);
    memcpy(&x, arg, sizeof x);
    x *= x;
    return mt_buf_append(out, &x, sizeof x);
}

/* Reports how long after the submit (its argument) it started, in ns. */
static int started(const void *arg, size_t len, mt_buf *out)
{
    uint64_t now = mt_monotonic_ns(), t0;
    if (len != sizeof t0)
        return -EINVAL;
    memcpy(&t0, arg, sizeof t0);
    uint64_t dt = now - t0;
    return mt_buf_append(out, &dt, sizeof dt);
}

static mt_executor *executor_start(const bench_args *a)
{
    mt_executor *ex;
    bench_check(mt_executor_new(&ex, &(mt_executor_opts){.max_workers = a->processes}),
                "mt_executor_new");
    return ex;
}

static void run_tasks(const bench_args *a)
{
    mt_executor *ex = executor_start(a);
    mt_future **fs = bench_alloc((size_t)a->n * sizeof *fs);
    double t0 = mt_monotonic();
    for (long i = 0; i < a->n; i++)
        bench_check(mt_executor_submit(ex, square, &i, sizeof i, &fs[i]), "mt_executor_submit");
    for (long i = 0; i < a->n; i++) {
        mt_iov r;
        bench_check(mt_future_result(fs[i], MT_FOREVER, &r), "mt_future_result");
        long v;
        if (r.len != sizeof v)
            bench_die("task %ld: a result of %zu bytes", i, r.len);
        memcpy(&v, r.data, sizeof v);
        if (v != i * i)
            bench_die("task %ld: wrong square %ld", i, v);
        mt_future_free(fs[i]);
    }
    double secs = mt_monotonic() - t0;
    mt_executor_free(ex);
    free(fs);
    report_rate(a, "multitask", secs);
}

static void run_latency(const bench_args *a)
{
    mt_executor *ex = executor_start(a);
    double *lat = bench_alloc((size_t)a->n * sizeof *lat);
    for (long i = 0; i < a->n; i++) {
        uint64_t t0 = mt_monotonic_ns(), dt;
        mt_future *f;
        bench_check(mt_executor_submit(ex, started, &t0, sizeof t0, &f), "mt_executor_submit");
        mt_iov r;
        bench_check(mt_future_result(f, MT_FOREVER, &r), "mt_future_result");
        if (r.len != sizeof dt)
            bench_die("latency: a result of %zu bytes", r.len);
        memcpy(&dt, r.data, sizeof dt);
        lat[i] = (double)dt * 1e-3;
        mt_future_free(f);
    }
    mt_executor_free(ex);
    report_latency(a, "multitask", lat);
}

/* ---- GLib ------------------------------------------------------------- */

typedef struct glib_item {
    long x, result;
} glib_item;

typedef struct glib_done {
    GMutex mu;
    GCond cond;
    long remaining;
    uint64_t dt; /* latency: the last task's start delay */
} glib_done;

static void glib_square(gpointer data, gpointer user)
{
    glib_item *it = data;
    glib_done *d = user;
    it->result = it->x * it->x;
    g_mutex_lock(&d->mu);
    if (--d->remaining == 0)
        g_cond_signal(&d->cond);
    g_mutex_unlock(&d->mu);
}

static void glib_wait(glib_done *d)
{
    g_mutex_lock(&d->mu);
    while (d->remaining)
        g_cond_wait(&d->cond, &d->mu);
    g_mutex_unlock(&d->mu);
}

static void run_glib(const bench_args *a)
{
    glib_done d = {.remaining = a->n};
    g_mutex_init(&d.mu);
    g_cond_init(&d.cond);
    GThreadPool *pool = g_thread_pool_new(glib_square, &d, a->processes, FALSE, NULL);
    glib_item **items = bench_alloc((size_t)a->n * sizeof *items);
    double t0 = mt_monotonic();
    for (long i = 0; i < a->n; i++) {
        items[i] = g_new(glib_item, 1);
        items[i]->x = i;
        g_thread_pool_push(pool, items[i], NULL);
    }
    glib_wait(&d);
    for (long i = 0; i < a->n; i++) {
        if (items[i]->result != i * i)
            bench_die("task %ld: wrong square %ld", i, items[i]->result);
        g_free(items[i]);
    }
    double secs = mt_monotonic() - t0;
    g_thread_pool_free(pool, FALSE, TRUE);
    free(items);
    report_rate(a, "glib", secs);
}

static void glib_started(gpointer data, gpointer user)
{
    uint64_t now = mt_monotonic_ns();
    glib_done *d = user;
    g_mutex_lock(&d->mu);
    d->dt = now - *(uint64_t *)data;
    d->remaining = 0;
    g_cond_signal(&d->cond);
    g_mutex_unlock(&d->mu);
}

static void run_glib_latency(const bench_args *a)
{
    glib_done d = {0};
    g_mutex_init(&d.mu);
    g_cond_init(&d.cond);
    GThreadPool *pool = g_thread_pool_new(glib_started, &d, a->processes, FALSE, NULL);
    double *lat = bench_alloc((size_t)a->n * sizeof *lat);
    for (long i = 0; i < a->n; i++) {
        uint64_t t0;
        d.remaining = 1;
        t0 = mt_monotonic_ns();
        g_thread_pool_push(pool, &t0, NULL);
        glib_wait(&d);
        lat[i] = (double)d.dt * 1e-3;
    }
    g_thread_pool_free(pool, FALSE, TRUE);
    report_latency(a, "glib", lat);
}

/* ---- main ------------------------------------------------------------- */

int main(int argc, char **argv)
{
    static const bench_cmd cmds[] = {
        {"tasks", "N trivial tasks through mt_executor, every future waited", 1000000,
         BENCH_THREADPOOL_WORKERS, run_tasks},
        {"latency", "submit-to-start delay of one task at a time, mt_executor", 20000,
         BENCH_THREADPOOL_WORKERS, run_latency},
        {"glib", "the tasks benchmark through GLib's GThreadPool", 1000000,
         BENCH_THREADPOOL_WORKERS, run_glib},
        {"glib_latency", "the latency benchmark through GLib's GThreadPool", 20000,
         BENCH_THREADPOOL_WORKERS, run_glib_latency},
    };
    return bench_main(argc, argv, cmds, sizeof cmds / sizeof cmds[0]);
}
