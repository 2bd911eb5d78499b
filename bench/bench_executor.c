/*
 * bench_executor.c - the thread pool against its anchors. Each subcommand
 * prints one JSON line; bench/py/thread_pool.py does the same work with
 * Python's ThreadPoolExecutor:
 *
 *   tasks         N trivial tasks (square a long) submitted to mt_executor,
 *                 then every future waited and its result checked -> tasks/s
 *   latency       submit one task, wait for it, N times: the time from the
 *                 submit call to the task's start -> median microseconds
 *   glib          the tasks benchmark through GLib's GThreadPool, each task
 *                 a heap record like a future, every result checked
 *   glib_latency  the latency benchmark through GThreadPool
 *
 * Usage: bench_executor SUBCOMMAND [-w WORKERS] [-n COUNT]. Workers default
 * to Python's min(32, CPUs + 4) on every side, so that all three run the
 * same number of threads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "multitask.h"

typedef struct args {
    const char *name;
    int workers;
    long n;
} args;

static _Noreturn void die(const char *what, int err)
{
    fprintf(stderr, "bench_executor: %s: %s\n", what, err ? mt_strerror(err) : "wrong result");
    exit(1);
}

static void *xmalloc(size_t size)
{
    void *p = malloc(size);
    if (!p)
        die("malloc", -ENOMEM);
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0;
}

static void json(const args *a, const char *impl, const char *k1, double v1, const char *k2,
                 double v2)
{
    printf("{\"bench\":\"%s\",\"impl\":\"%s\",\"workers\":%d,\"n\":%ld,\"%s\":%.6g,\"%s\":%.6g}\n",
           a->name, impl, a->workers, a->n, k1, v1, k2, v2);
    fflush(stdout);
}

/* Print the median and mean of a->n latencies in microseconds; frees lat. */
static void json_latency(const args *a, const char *impl, double *lat)
{
    double sum = 0;
    for (long i = 0; i < a->n; i++)
        sum += lat[i];
    json(a, impl, "median_us", median(lat, (size_t)a->n), "mean_us", sum / (double)a->n);
    free(lat);
}

/* ---- multitask -------------------------------------------------------- */

static int square(const void *arg, size_t len, mt_buf *out)
{
    long x;
    if (len != sizeof x)
        return mt_task_fail(out, -EINVAL, "want a long, got %zu bytes", len);
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

static mt_executor *executor_start(const args *a)
{
    mt_executor *ex;
    int err = mt_executor_new(&ex, &(mt_executor_opts){.max_workers = a->workers});
    if (err < 0)
        die("mt_executor_new", err);
    return ex;
}

static void run_tasks(const args *a)
{
    mt_executor *ex = executor_start(a);
    mt_future **fs = xmalloc((size_t)a->n * sizeof *fs);
    double t0 = mt_monotonic();
    for (long i = 0; i < a->n; i++) {
        int err = mt_executor_submit(ex, square, &i, sizeof i, &fs[i]);
        if (err < 0)
            die("mt_executor_submit", err);
    }
    for (long i = 0; i < a->n; i++) {
        mt_iov r;
        int err = mt_future_result(fs[i], MT_FOREVER, &r);
        if (err < 0)
            die("mt_future_result", err);
        long v;
        memcpy(&v, r.data, sizeof v);
        if (r.len != sizeof v || v != i * i)
            die("square", 0);
        mt_future_release(fs[i]);
    }
    double secs = mt_monotonic() - t0;
    mt_executor_free(ex);
    free(fs);
    json(a, "multitask", "seconds", secs, "tasks_per_s", (double)a->n / secs);
}

static void run_latency(const args *a)
{
    mt_executor *ex = executor_start(a);
    double *lat = xmalloc((size_t)a->n * sizeof *lat);
    for (long i = 0; i < a->n; i++) {
        uint64_t t0 = mt_monotonic_ns(), dt;
        mt_future *f;
        int err = mt_executor_submit(ex, started, &t0, sizeof t0, &f);
        if (err < 0)
            die("mt_executor_submit", err);
        mt_iov r;
        if ((err = mt_future_result(f, MT_FOREVER, &r)) < 0)
            die("mt_future_result", err);
        memcpy(&dt, r.data, sizeof dt);
        lat[i] = (double)dt * 1e-3;
        mt_future_release(f);
    }
    mt_executor_free(ex);
    json_latency(a, "multitask", lat);
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

static void run_glib(const args *a)
{
    glib_done d = {.remaining = a->n};
    g_mutex_init(&d.mu);
    g_cond_init(&d.cond);
    GThreadPool *pool = g_thread_pool_new(glib_square, &d, a->workers, FALSE, NULL);
    glib_item **items = xmalloc((size_t)a->n * sizeof *items);
    double t0 = mt_monotonic();
    for (long i = 0; i < a->n; i++) {
        items[i] = g_new(glib_item, 1);
        items[i]->x = i;
        g_thread_pool_push(pool, items[i], NULL);
    }
    glib_wait(&d);
    for (long i = 0; i < a->n; i++) {
        if (items[i]->result != i * i)
            die("square", 0);
        g_free(items[i]);
    }
    double secs = mt_monotonic() - t0;
    g_thread_pool_free(pool, FALSE, TRUE);
    free(items);
    json(a, "glib", "seconds", secs, "tasks_per_s", (double)a->n / secs);
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

static void run_glib_latency(const args *a)
{
    glib_done d = {0};
    g_mutex_init(&d.mu);
    g_cond_init(&d.cond);
    GThreadPool *pool = g_thread_pool_new(glib_started, &d, a->workers, FALSE, NULL);
    double *lat = xmalloc((size_t)a->n * sizeof *lat);
    for (long i = 0; i < a->n; i++) {
        uint64_t t0;
        d.remaining = 1;
        t0 = mt_monotonic_ns();
        g_thread_pool_push(pool, &t0, NULL);
        glib_wait(&d);
        lat[i] = (double)d.dt * 1e-3;
    }
    g_thread_pool_free(pool, FALSE, TRUE);
    json_latency(a, "glib", lat);
}

/* ---- main ------------------------------------------------------------- */

static const struct {
    const char *name;
    long default_n;
    void (*run)(const args *);
} cmds[] = {
    {"tasks", 1000000, run_tasks},
    {"latency", 20000, run_latency},
    {"glib", 1000000, run_glib},
    {"glib_latency", 20000, run_glib_latency},
};

static int usage(void)
{
    fprintf(stderr, "usage: bench_executor SUBCOMMAND [-w WORKERS] [-n COUNT]\nsubcommands:");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(stderr, " %s", cmds[i].name);
    fprintf(stderr, "\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    size_t c = 0;
    while (c < sizeof cmds / sizeof cmds[0] && strcmp(cmds[c].name, argv[1]) != 0)
        c++;
    if (c == sizeof cmds / sizeof cmds[0])
        return usage();
    int cpus = mt_cpu_count();
    args a = {cmds[c].name, cpus + 4 < 32 ? cpus + 4 : 32, cmds[c].default_n};
    int opt;
    optind = 2;
    while ((opt = getopt(argc, argv, "w:n:")) != -1) {
        if (opt == 'w')
            a.workers = atoi(optarg);
        else if (opt == 'n')
            a.n = atol(optarg);
        else
            return usage();
    }
    if (a.workers <= 0 || a.n <= 0 || optind != argc)
        return usage();
    cmds[c].run(&a);
    return 0;
}
