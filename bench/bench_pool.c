/*
 * bench_pool.c - the process and process-pool benchmarks. Each subcommand
 * does the same work as its anchor in bench/py/bench_pool.py and prints one
 * JSON line (see bench/README.md):
 *
 *   map_cs1      mt_pool_map of tiny tasks (square a long), chunksize 1
 *   map_default  mt_pool_map of tiny tasks, the default chunksize
 *   apply_rt     apply_async + result, one after another: round-trip latency
 *   process      mt_process start + join of a task that does nothing
 *   crash        a worker SIGKILLed mid-task: time to the failed future and
 *                to a replacement worker serving a task
 *
 * Every task runs in a worker process and every result comes back to the
 * parent and is checked; the timed part is the call that hands out the work
 * and gathers the results, as in the anchor.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "multitask.h"

/* ---- tasks ------------------------------------------------------------ */

static int square(const void *arg, size_t len, mt_buf *out)
{
    long x;
    if (len != sizeof x)
        return mt_fail(out, -EINVAL, "want a long, got %zu bytes", len);
    memcpy(&x, arg, sizeof x);
    x *= x;
    return mt_buf_append(out, &x, sizeof x);
}

static int nothing(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len, (void)out;
    return 0;
}

static int whoami(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len;
    pid_t me = getpid();
    return mt_buf_append(out, &me, sizeof me);
}

/* The crash benchmark's write end of a pipe; workers inherit it (fork). */
static int crash_fd = -1;

/* Tell the parent which worker runs this task, then wait to be killed. */
static int report_and_hang(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len;
    pid_t me = getpid();
    if (write(crash_fd, &me, sizeof me) != (ssize_t)sizeof me)
        return mt_fail(out, -EIO, "cannot report the worker's pid");
    for (;;)
        pause();
}

/* ---- helpers ---------------------------------------------------------- */

/* Start a pool of a->processes workers and run a few tasks through it, so
 * that the timed part starts with every worker up and waiting. */
static mt_pool *pool_start(const bench_args *a)
{
    mt_pool *p;
    bench_check(mt_pool_new(&p, &(mt_pool_opts){.processes = a->processes}), "mt_pool_new");
    long warm[16];
    size_t nwarm = sizeof warm / sizeof warm[0];
    for (size_t i = 0; i < nwarm; i++)
        warm[i] = (long)i;
    mt_results *r;
    bench_check(mt_pool_map(p, square, warm, nwarm, sizeof warm[0], &(mt_map_opts){.chunksize = 1},
                            &r),
                "warm-up map");
    mt_results_free(r);
    return p;
}

static void pool_stop(mt_pool *p)
{
    bench_check(mt_pool_close(p), "mt_pool_close");
    bench_check(mt_pool_join(p, MT_FOREVER), "mt_pool_join");
    mt_pool_free(p);
}

/* Map square over 0..n-1 with the given chunksize (0: the pool's default),
 * check every square, print the rate. */
static void map_squares(const bench_args *a, size_t chunksize)
{
    size_t n = (size_t)a->n;
    long *items = bench_alloc(n * sizeof *items);
    long *squares = bench_alloc(n * sizeof *squares);
    for (size_t i = 0; i < n; i++)
        items[i] = (long)i;
    mt_pool *p = pool_start(a);

    mt_results *r;
    double t0 = bench_now();
    bench_check(mt_pool_map(p, square, items, n, sizeof *items,
                            &(mt_map_opts){.chunksize = chunksize}, &r),
                "mt_pool_map");
    bench_check(mt_results_copy(r, squares, sizeof *squares), "mt_results_copy");
    double secs = bench_now() - t0;

    for (size_t i = 0; i < n; i++)
        if (squares[i] != items[i] * items[i])
            bench_die("item %zu: got %ld, want %ld", i, squares[i], items[i] * items[i]);
    mt_results_free(r);
    pool_stop(p);
    free(squares);
    free(items);

    bench_json_begin(a);
    bench_json_int("chunksize", (long)chunksize);
    bench_json_num("seconds", secs);
    bench_json_num("tasks_per_s", (double)n / secs);
    bench_json_end();
}

/* ---- subcommands ------------------------------------------------------ */

static void run_map_cs1(const bench_args *a)
{
    map_squares(a, 1);
}

static void run_map_default(const bench_args *a)
{
    map_squares(a, 0);
}

static void run_apply_rt(const bench_args *a)
{
    size_t n = (size_t)a->n;
    double *lat = bench_alloc(n * sizeof *lat);
    mt_pool *p = pool_start(a);

    double start = bench_now();
    for (size_t i = 0; i < n; i++) {
        long x = (long)i, got;
        mt_future *f;
        mt_iov res;
        double t0 = bench_now();
        bench_check(mt_pool_apply_async(p, square, &x, sizeof x, &f), "mt_pool_apply_async");
        bench_check(mt_future_result(f, MT_FOREVER, &res), "mt_future_result");
        lat[i] = bench_now() - t0;
        if (res.len != sizeof got)
            bench_die("round trip %zu: %zu result bytes", i, res.len);
        memcpy(&got, res.data, sizeof got);
        if (got != x * x)
            bench_die("round trip %zu: got %ld, want %ld", i, got, x * x);
        mt_future_free(f);
    }
    double secs = bench_now() - start;
    pool_stop(p);

    double mean = bench_mean(lat, n);
    bench_json_begin(a);
    bench_json_num("seconds", secs);
    bench_json_num("median_us", bench_median(lat, n) * 1e6);
    bench_json_num("mean_us", mean * 1e6);
    bench_json_end();
    free(lat);
}

static void run_process(const bench_args *a)
{
    size_t n = (size_t)a->n;
    double *took = bench_alloc(n * sizeof *took);
    for (size_t i = 0; i < n; i++) {
        mt_process *proc;
        int code = -1;
        bench_check(mt_process_new(&proc, nothing, NULL, 0, NULL), "mt_process_new");
        double t0 = bench_now();
        bench_check(mt_process_start(proc), "mt_process_start");
        bench_check(mt_process_join(proc, MT_FOREVER), "mt_process_join");
        took[i] = bench_now() - t0;
        if (!mt_process_exitcode(proc, &code) || code != 0)
            bench_die("process %zu: exit code %d", i, code);
        mt_process_free(proc);
    }
    double mean = bench_mean(took, n);
    bench_json_begin(a);
    bench_json_num("median_ms", bench_median(took, n) * 1e3);
    bench_json_num("mean_ms", mean * 1e3);
    bench_json_end();
    free(took);
}

/*
 * One kill: queue a task that reports its worker's pid and hangs, SIGKILL
 * that worker, time the failed future, then time a task served by the
 * replacement (with one worker, only the replacement can run it).
 */
static void crash_once(mt_pool *p, int rfd, double *failed, double *ready)
{
    mt_future *f;
    pid_t victim, server;
    bench_check(mt_pool_apply_async(p, report_and_hang, NULL, 0, &f), "mt_pool_apply_async");
    if (read(rfd, &victim, sizeof victim) != (ssize_t)sizeof victim)
        bench_die("cannot read the worker's pid");

    double t0 = bench_now();
    if (kill(victim, SIGKILL) < 0)
        bench_die("kill %d: %s", (int)victim, strerror(errno));
    int err = mt_future_result(f, 30.0, NULL);
    *failed = bench_now() - t0;
    if (err != MT_EWORKER)
        bench_die("killed task: got %s, want MT_EWORKER", mt_err_name(err));
    mt_future_free(f);

    mt_buf out = MT_BUF_INIT;
    bench_check(mt_pool_apply(p, whoami, NULL, 0, &out), "mt_pool_apply");
    *ready = bench_now() - t0;
    if (out.len != sizeof server)
        bench_die("whoami: %zu result bytes", out.len);
    memcpy(&server, out.data, sizeof server);
    if (server == victim)
        bench_die("the killed worker %d served a task", (int)victim);
    mt_buf_free(&out);
}

static void run_crash(const bench_args *a)
{
    if (a->processes != 1)
        bench_die("crash needs one worker (-p 1): the task after the kill must run on "
                  "the replacement");
    size_t n = (size_t)a->n;
    double *failed = bench_alloc(n * sizeof *failed);
    double *ready = bench_alloc(n * sizeof *ready);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        bench_die("pipe: %s", strerror(errno));
    crash_fd = fds[1];
    mt_pool *p = pool_start(a);

    for (size_t i = 0; i < n; i++)
        crash_once(p, fds[0], &failed[i], &ready[i]);
    pool_stop(p);
    close(fds[0]);
    close(fds[1]);

    double failed_mean = bench_mean(failed, n), ready_mean = bench_mean(ready, n);
    bench_json_begin(a);
    bench_json_num("failed_ms", bench_median(failed, n) * 1e3);
    bench_json_num("failed_mean_ms", failed_mean * 1e3);
    bench_json_num("ready_ms", bench_median(ready, n) * 1e3);
    bench_json_num("ready_mean_ms", ready_mean * 1e3);
    bench_json_end();
    free(ready);
    free(failed);
}

static const bench_cmd cmds[] = {
    {"map_cs1", "mt_pool_map of tiny tasks, chunksize 1 -> tasks/s", 100000, 0, run_map_cs1},
    {"map_default", "mt_pool_map of tiny tasks, default chunksize -> tasks/s", 1000000, 0,
     run_map_default},
    {"apply_rt", "apply_async + result round trips -> latency in us", 20000, 0, run_apply_rt},
    {"process", "mt_process start + join of an empty task -> ms", 500, 0, run_process},
    {"crash", "kill a worker mid-task -> ms to the failed future and to a replacement", 20, 1,
     run_crash},
};

int main(int argc, char **argv)
{
    return bench_main(argc, argv, cmds, sizeof cmds / sizeof cmds[0]);
}
