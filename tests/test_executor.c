/*
 * test_executor.c - the thread pool (mt_executor) and waiting on many
 * futures (mt_wait, mt_as_completed), including futures of a process pool
 * whose worker is killed.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

#include "helpers.h"


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

static int echo(const void *arg, size_t len, mt_buf *out)
{
    return mt_buf_append(out, arg, len);
}

static int fail_enoent(const void *arg, size_t len, mt_buf *out)
{
    return mt_fail(out, -ENOENT, "no such thing: %.*s", (int)len, (const char *)arg);
}

static int return_positive(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len, (void)out;
    return 7;
}

/* A gate that tasks wait at until the test opens it. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool open;
    int waiting;
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0};

/* Wait at the gate, then echo the argument. */
static int wait_gate(const void *arg, size_t len, mt_buf *out)
{
    pthread_mutex_lock(&gate.mu);
    gate.waiting++;
    pthread_cond_broadcast(&gate.cond);
    while (!gate.open)
        pthread_cond_wait(&gate.cond, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
    return mt_buf_append(out, arg, len);
}

static void gate_open(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.open = true;
    pthread_cond_broadcast(&gate.cond);
    pthread_mutex_unlock(&gate.mu);
}

/* Wait until n tasks wait at the gate. */
static void gate_wait_for(int n)
{
    pthread_mutex_lock(&gate.mu);
    while (gate.waiting < n)
        pthread_cond_wait(&gate.cond, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
}

/* Threads of ours: executor threads are named "ThreadPool-N_M". A sanitizer
 * may start threads of its own at any time; those are not counted. */
static int threads_now(void)
{
    DIR *d = opendir("/proc/self/task");
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[300], comm[32] = "";
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "re");
        if (f && fgets(comm, sizeof comm, f))
            n += strncmp(comm, "ThreadPool-", 11) == 0;
        if (f)
            fclose(f);
    }
    closedir(d);
    return n;
}

static long result_long(mt_future *f)
{
    mt_iov r;
    cr_assert_eq(mt_future_result(f, MT_FOREVER, &r), 0, "%s", mt_future_error_message(f));
    cr_assert_eq(r.len, sizeof(long));
    return read_long(r.data);
}

static mt_executor *executor(int max_workers)
{
    mt_executor *ex;
    cr_assert_eq(mt_executor_new(&ex, &(mt_executor_opts){.max_workers = max_workers}), 0);
    return ex;
}

/* ---- results and errors ----------------------------------------------- */

LEAK_TEST(executor, results_and_errors, .timeout = 20)
{
    mt_executor *ex = executor(2);
    long x = 12;
    mt_future *ok, *bad, *positive;
    cr_assert_eq(mt_executor_submit(ex, square, &x, sizeof x, &ok), 0);
    cr_assert_eq(mt_executor_submit(ex, fail_enoent, "thing", 5, &bad), 0);
    cr_assert_eq(mt_executor_submit(ex, return_positive, NULL, 0, &positive), 0);
    cr_expect_eq(result_long(ok), 144);
    cr_expect_eq(mt_future_result(bad, MT_FOREVER, NULL), -ENOENT);
    cr_expect_str_eq(mt_future_error_message(bad), "no such thing: thing");
    cr_expect_eq(mt_future_result(positive, MT_FOREVER, NULL), MT_EFAILED);
    cr_expect(mt_future_done(ok) && !mt_future_cancelled(ok) && !mt_future_running(ok));

    /* A small result is kept inside the future; take copies it out. */
    mt_buf b = MT_BUF_INIT;
    cr_expect_eq(mt_future_take(ok, &b), 0);
    cr_expect_eq(b.len, sizeof x);
    cr_expect_eq(read_long(b.data), 144);
    mt_buf_free(&b);
    mt_future_free(ok);
    mt_future_free(bad);
    mt_future_free(positive);
    mt_executor_free(ex);
}

LEAK_TEST(executor, arguments_small_large_and_borrowed, .timeout = 20)
{
    mt_executor *ex = executor(2);
    size_t sizes[] = {0, 1, 31, 32, 33, 256, 257, 5000, 300000};
    size_t n = sizeof sizes / sizeof sizes[0];
    mt_future *fs[sizeof sizes / sizeof sizes[0]];
    char *big = malloc(300000), *want = malloc(300000);
    cr_assert(big && want);
    for (size_t i = 0; i < 300000; i++)
        big[i] = want[i] = (char)(i * 7 + 3);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(mt_executor_submit(ex, echo, big, sizes[i], &fs[i]), 0);
    /* The arguments were copied: changing them now changes no result. */
    memset(big, 0, 300000);
    for (size_t i = 0; i < n; i++) {
        mt_iov r;
        cr_assert_eq(mt_future_result(fs[i], MT_FOREVER, &r), 0);
        cr_assert_eq(r.len, sizes[i]);
        cr_expect_eq(memcmp(r.data, want, r.len), 0, "size %zu", sizes[i]);
        mt_future_free(fs[i]);
    }
    free(want);
    /* A borrowed argument is read in place. */
    mt_future *f;
    memset(big, 'z', 1000);
    cr_assert_eq(mt_executor_submit_ref(ex, echo, big, 1000, &f), 0);
    mt_iov r;
    cr_assert_eq(mt_future_result(f, MT_FOREVER, &r), 0);
    cr_expect_eq(r.len, 1000);
    cr_expect_eq(memcmp(r.data, big, 1000), 0);
    mt_future_free(f);
    free(big);
    mt_executor_free(ex);
}

LEAK_TEST(executor, bad_arguments_change_nothing, .timeout = 20)
{
    int before = threads_now();
    mt_executor *ex = NULL;
    cr_expect_eq(mt_executor_new(NULL, NULL), -EINVAL);
    cr_expect_eq(mt_executor_new(&ex, &(mt_executor_opts){.max_workers = -1}), -EINVAL);
    cr_expect_eq(mt_executor_new(&ex, &(mt_executor_opts){.max_workers = 4097}), -EINVAL);
    cr_expect_eq(mt_executor_new(&ex, &(mt_executor_opts){.initarg_len = 3}), -EINVAL);
    cr_expect_eq(ex, NULL);

    cr_assert_eq(mt_executor_new(&ex, NULL), 0);
    int cpus = mt_cpu_count();
    cr_expect_eq(mt_executor_max_workers(ex), cpus + 4 < 32 ? cpus + 4 : 32);
    mt_future *f = NULL;
    long x = 1;
    cr_expect_eq(mt_executor_submit(NULL, square, &x, sizeof x, &f), -EINVAL);
    cr_expect_eq(mt_executor_submit(ex, NULL, &x, sizeof x, &f), -EINVAL);
    cr_expect_eq(mt_executor_submit(ex, square, NULL, 8, &f), -EINVAL);
    cr_expect_eq(mt_executor_submit(ex, square, &x, sizeof x, NULL), -EINVAL);
    cr_expect_eq(mt_executor_submit_ref(ex, square, NULL, 8, &f), -EINVAL);
    cr_expect_eq(f, NULL);
    mt_results *r = (mt_results *)1;
    cr_expect_eq(mt_executor_map(ex, square, NULL, 3, sizeof x, MT_FOREVER, &r), -EINVAL);
    cr_expect_eq(r, NULL);
    cr_expect_eq(mt_executor_map(ex, square, &x, 1, 0, MT_FOREVER, &r), -EINVAL);
    cr_expect_eq(mt_executor_map_iov(ex, square, NULL, 2, MT_FOREVER, &r), -EINVAL);
    cr_expect_eq(mt_executor_map(ex, NULL, &x, 1, sizeof x, MT_FOREVER, &r), -EINVAL);
    cr_expect_eq(mt_executor_map(ex, square, &x, 1, sizeof x, MT_FOREVER, NULL), -EINVAL);
    /* A NaN timeout is no timeout at all (it overflowed into a deadline). */
    r = (mt_results *)1;
    cr_expect_eq(mt_executor_map(ex, square, &x, 1, sizeof x, NAN, &r), -EINVAL);
    cr_expect_eq(r, NULL);
    mt_iov one = {&x, sizeof x};
    r = (mt_results *)1;
    cr_expect_eq(mt_executor_map_iov(ex, square, &one, 1, -NAN, &r), -EINVAL);
    cr_expect_eq(r, NULL);
    cr_expect_eq(mt_executor_shutdown(NULL, MT_SHUTDOWN_WAIT), -EINVAL);
    cr_expect_eq(mt_executor_shutdown(ex, 4), -EINVAL, "an unknown flag changes nothing");
    /* None of that started a thread or queued anything. */
    cr_expect_eq(threads_now(), before);
    mt_executor_free(ex);
    mt_executor_free(NULL);
}

/* ---- map -------------------------------------------------------------- */

/* Sleep a little, longer for early items, so they finish out of order. */
static int slow_square(const void *arg, size_t len, mt_buf *out)
{
    long x = read_long(arg);
    mt_sleep((double)(20 - x % 20) * 1e-4);
    return square(arg, len, out);
}

static int fail_odd(const void *arg, size_t len, mt_buf *out)
{
    long x = read_long(arg);
    if (x % 2)
        return mt_fail(out, -EDOM, "odd %ld", x);
    return square(arg, len, out);
}

LEAK_TEST(executor, map_keeps_item_order, .timeout = 30)
{
    mt_executor *ex = executor(4);
    long items[200], squares[200];
    for (long i = 0; i < 200; i++)
        items[i] = i;
    mt_results *r;
    cr_assert_eq(mt_executor_map(ex, slow_square, items, 200, sizeof(long), MT_FOREVER, &r), 0);
    cr_assert_eq(mt_results_len(r), 200);
    cr_assert_eq(mt_results_copy(r, squares, sizeof(long)), 0);
    for (long i = 0; i < 200; i++)
        cr_expect_eq(squares[i], i * i);
    cr_expect_eq(mt_results_get(r, 200, NULL), -ERANGE);
    mt_results_free(r);

    /* Failures: the first failed item's error, every outcome kept. */
    cr_assert_eq(mt_executor_map(ex, fail_odd, items + 2, 5, sizeof(long), MT_FOREVER, &r), -EDOM);
    mt_iov v;
    cr_expect_eq(mt_results_get(r, 0, &v), 0);
    cr_expect_eq(read_long(v.data), 4);
    cr_expect_eq(mt_results_get(r, 1, &v), -EDOM);
    cr_expect_eq(v.len, 5);
    cr_expect_eq(memcmp(v.data, "odd 3", 5), 0);
    cr_expect_eq(mt_results_copy(r, squares, sizeof(long)), -EDOM);
    mt_results_free(r);

    /* Byte ranges of any size. */
    mt_iov iov[3] = {{"a", 1}, {"", 0}, {"ccc", 3}};
    cr_assert_eq(mt_executor_map_iov(ex, echo, iov, 3, MT_FOREVER, &r), 0);
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(mt_results_get(r, (size_t)i, &v), 0);
        cr_expect_eq(v.len, iov[i].len);
        cr_expect_eq(memcmp(v.data, iov[i].data, v.len), 0);
    }
    cr_expect_eq(mt_results_copy(r, squares, sizeof(long)), -EMSGSIZE);
    mt_results_free(r);

    cr_assert_eq(mt_executor_map(ex, square, NULL, 0, sizeof(long), MT_FOREVER, &r), 0);
    cr_expect_eq(mt_results_len(r), 0);
    mt_results_free(r);
    mt_executor_free(ex);
}

LEAK_TEST(executor, map_timeout_cancels_what_has_not_started, .timeout = 20)
{
    mt_executor *ex = executor(1);
    char items[3] = {'a', 'b', 'c'};
    mt_results *r;
    /* One thread: item 0 waits at the gate (it starts well within the
     * timeout), 1 and 2 queue behind it. */
    cr_assert_eq(mt_executor_map(ex, wait_gate, items, 3, 1, 0.5, &r), -ETIMEDOUT);
    cr_assert_eq(mt_results_len(r), 3);
    cr_expect_eq(mt_results_get(r, 0, NULL), -ETIMEDOUT);
    cr_expect_eq(mt_results_get(r, 1, NULL), -ECANCELED);
    cr_expect_eq(mt_results_get(r, 2, NULL), -ECANCELED);
    gate_open();
    mt_results_free(r); /* item 0 still runs; its result is dropped */
    mt_executor_free(ex);
}

/* ---- cancel, callbacks, timeouts -------------------------------------- */

static void count_callback(mt_future *f, void *arg)
{
    (void)f;
    atomic_fetch_add((_Atomic int *)arg, 1);
}

LEAK_TEST(executor, cancel_before_start, .timeout = 20)
{
    mt_executor *ex = executor(1);
    mt_future *running, *queued;
    cr_assert_eq(mt_executor_submit(ex, wait_gate, "r", 1, &running), 0);
    cr_assert_eq(mt_executor_submit(ex, echo, "q", 1, &queued), 0);
    gate_wait_for(1);
    _Atomic int calls = 0;
    cr_assert_eq(mt_future_add_done_callback(queued, count_callback, &calls), 0);
    cr_expect(mt_future_running(running));
    cr_expect_eq(mt_future_cancel(running), -EBUSY);
    cr_expect_eq(mt_future_cancel(queued), 0);
    cr_expect_eq(calls, 1, "a cancelled future's callbacks run");
    cr_expect_eq(mt_future_cancel(queued), 0, "cancelling twice is harmless");
    cr_expect(mt_future_cancelled(queued) && mt_future_done(queued));
    cr_expect_eq(mt_future_result(queued, 0, NULL), -ECANCELED);
    /* result with a timeout on the task still running */
    cr_expect_eq(mt_future_result(running, 0.05, NULL), -ETIMEDOUT);
    cr_expect_eq(mt_future_wait(running, 0), -ETIMEDOUT);
    gate_open();
    cr_expect_eq(mt_future_result(running, MT_FOREVER, NULL), 0);
    cr_expect_eq(calls, 1);
    mt_future_free(running);
    mt_future_free(queued);
    mt_executor_free(ex);
}

static _Atomic pid_t callback_tid;
static char callback_thread[16];

static void note_thread(mt_future *f, void *arg)
{
    (void)f, (void)arg;
    pthread_getname_np(pthread_self(), callback_thread, sizeof callback_thread);
    atomic_store(&callback_tid, gettid());
}

LEAK_TEST(executor, done_callbacks_run_in_the_worker_thread, .timeout = 20)
{
    mt_executor *ex;
    cr_assert_eq(mt_executor_new(&ex, &(mt_executor_opts){.max_workers = 1,
                                                          .thread_name_prefix = "cbtest"}),
                 0);
    mt_future *f;
    cr_assert_eq(mt_executor_submit(ex, wait_gate, "x", 1, &f), 0);
    cr_assert_eq(mt_future_add_done_callback(f, note_thread, NULL), 0);
    gate_open();
    cr_assert_eq(mt_future_wait(f, MT_FOREVER), 0);
    mt_executor_shutdown(ex, MT_SHUTDOWN_WAIT); /* the callback has returned */
    cr_expect_neq(atomic_load(&callback_tid), 0);
    cr_expect_neq(atomic_load(&callback_tid), gettid());
    cr_expect_str_eq(callback_thread, "cbtest_0");
    /* Added after the end: runs at once, in this thread. */
    cr_assert_eq(mt_future_add_done_callback(f, note_thread, NULL), 0);
    cr_expect_eq(atomic_load(&callback_tid), gettid());
    mt_future_free(f);
    mt_executor_free(ex);
}

/* ---- shutdown --------------------------------------------------------- */

LEAK_TEST(executor, shutdown_wait_runs_the_queued_work, .timeout = 20)
{
    int before = threads_now();
    mt_executor *ex = executor(2);
    mt_future *fs[50];
    for (long i = 0; i < 50; i++)
        cr_assert_eq(mt_executor_submit(ex, slow_square, &i, sizeof i, &fs[i]), 0);
    cr_assert_eq(mt_executor_shutdown(ex, MT_SHUTDOWN_WAIT), 0);
    cr_expect_eq(threads_now(), before, "every thread has exited");
    for (long i = 0; i < 50; i++) {
        cr_expect(mt_future_done(fs[i]));
        cr_expect_eq(result_long(fs[i]), i * i);
        mt_future_free(fs[i]);
    }
    mt_future *f = NULL;
    cr_expect_eq(mt_executor_submit(ex, square, &before, sizeof before, &f), MT_ECLOSED);
    cr_expect_eq(f, NULL);
    mt_results *r;
    cr_expect_eq(mt_executor_map(ex, echo, "ab", 2, 1, MT_FOREVER, &r), MT_ECLOSED);
    cr_expect_eq(mt_executor_shutdown(ex, MT_SHUTDOWN_WAIT | MT_SHUTDOWN_CANCEL_FUTURES), 0, "again is harmless");
    mt_executor_free(ex);
}

LEAK_TEST(executor, shutdown_cancel_futures, .timeout = 20)
{
    mt_executor *ex = executor(1);
    mt_future *running, *queued[10];
    _Atomic int calls = 0;
    cr_assert_eq(mt_executor_submit(ex, wait_gate, "r", 1, &running), 0);
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(mt_executor_submit(ex, echo, "q", 1, &queued[i]), 0);
        cr_assert_eq(mt_future_add_done_callback(queued[i], count_callback, &calls), 0);
    }
    gate_wait_for(1);
    /* Without wait it returns while the running task still waits. */
    cr_assert_eq(mt_executor_shutdown(ex, MT_SHUTDOWN_CANCEL_FUTURES), 0);
    cr_expect_eq(calls, 10);
    for (int i = 0; i < 10; i++) {
        cr_expect_eq(mt_future_result(queued[i], 0, NULL), -ECANCELED);
        mt_future_free(queued[i]);
    }
    cr_expect(!mt_future_done(running));
    gate_open();
    cr_expect_eq(mt_future_result(running, MT_FOREVER, NULL), 0);
    mt_future_free(running);
    mt_executor_free(ex);
}

LEAK_TEST(executor, free_lets_queued_work_finish, .timeout = 20)
{
    mt_executor *ex = executor(1);
    mt_future *fs[5];
    for (long i = 0; i < 5; i++)
        cr_assert_eq(mt_executor_submit(ex, slow_square, &i, sizeof i, &fs[i]), 0);
    cr_assert_eq(mt_executor_shutdown(ex, 0), 0);
    mt_executor_free(ex);
    for (long i = 0; i < 5; i++) {
        cr_expect(mt_future_done(fs[i]));
        cr_expect_eq(result_long(fs[i]), i * i);
        mt_future_free(fs[i]);
    }
}

static mt_executor *self_ex;

/* Submit more work to our own executor, then shut it down from inside. */
static int nested(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len;
    mt_future *f;
    int err = mt_executor_submit(self_ex, square, &(long){9}, sizeof(long), &f);
    if (err < 0)
        return err;
    long v = 0;
    mt_iov r;
    if ((err = mt_future_result(f, MT_FOREVER, &r)) == 0)
        memcpy(&v, r.data, sizeof v);
    mt_future_free(f);
    err = mt_executor_shutdown(self_ex, MT_SHUTDOWN_WAIT);
    mt_buf_append(out, &v, sizeof v);
    return err == -EDEADLK ? 0 : mt_fail(out, -EPROTO, "shutdown said %d", err);
}

LEAK_TEST(executor, a_task_submits_and_shuts_down_its_own_executor, .timeout = 20)
{
    self_ex = executor(2);
    mt_future *f;
    cr_assert_eq(mt_executor_submit(self_ex, nested, NULL, 0, &f), 0);
    cr_expect_eq(result_long(f), 81);
    mt_future_free(f);
    mt_future *g = NULL;
    cr_expect_eq(mt_executor_submit(self_ex, square, &(long){1}, sizeof(long), &g), MT_ECLOSED);
    mt_executor_free(self_ex);
}

/* Two tasks that meet, then each shut the executor down with wait. */
static _Atomic int stoppers_arrived;
static int stop_with_wait(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len;
    stoppers_arrived++;
    while (atomic_load(&stoppers_arrived) < 2)
        usleep(100);
    int err = mt_executor_shutdown(self_ex, MT_SHUTDOWN_WAIT);
    return err == -EDEADLK ? 0 : mt_fail(out, -EPROTO, "shutdown said %d", err);
}

LEAK_TEST(executor, two_tasks_shut_down_with_wait_at_once, .timeout = 20)
{
    self_ex = executor(2);
    stoppers_arrived = 0;
    mt_future *fs[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(mt_executor_submit(self_ex, stop_with_wait, NULL, 0, &fs[i]), 0);
    for (int i = 0; i < 2; i++) {
        cr_expect_eq(mt_future_result(fs[i], 10, NULL), 0, "%s", mt_future_error_message(fs[i]));
        mt_future_free(fs[i]);
    }
    mt_executor_free(self_ex);
}

/* A task shuts down with wait while the main thread is in free. */
static int late_stop_with_wait(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len;
    usleep(50 * 1000);
    int err = mt_executor_shutdown(self_ex, MT_SHUTDOWN_WAIT);
    return err == -EDEADLK ? 0 : mt_fail(out, -EPROTO, "shutdown said %d", err);
}

LEAK_TEST(executor, a_task_shuts_down_with_wait_during_free, .timeout = 20)
{
    self_ex = executor(2);
    mt_future *f;
    cr_assert_eq(mt_executor_submit(self_ex, late_stop_with_wait, NULL, 0, &f), 0);
    mt_executor_free(self_ex); /* joins the thread that runs the task */
    cr_expect_eq(mt_future_result(f, 0, NULL), 0, "%s", mt_future_error_message(f));
    mt_future_free(f);
}

/* ---- initializer ------------------------------------------------------ */

static _Thread_local long thread_value;

static int init_value(const void *arg, size_t len, mt_buf *out)
{
    (void)out;
    cr_assert_eq(len, sizeof(long));
    thread_value = read_long(arg);
    return 0;
}

static int get_value(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len;
    return mt_buf_append(out, &thread_value, sizeof thread_value);
}

static int init_fails(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len;
    return mt_fail(out, -EIO, "cannot open the device");
}

LEAK_TEST(executor, initializer_runs_in_each_thread, .timeout = 20)
{
    long v = 42;
    mt_executor *ex;
    cr_assert_eq(mt_executor_new(&ex, &(mt_executor_opts){.max_workers = 3,
                                                          .initializer = init_value,
                                                          .initarg = &v,
                                                          .initarg_len = sizeof v}),
                 0);
    v = 0; /* the executor copied it */
    mt_future *fs[6];
    for (int i = 0; i < 6; i++)
        cr_assert_eq(mt_executor_submit(ex, get_value, NULL, 0, &fs[i]), 0);
    for (int i = 0; i < 6; i++) {
        cr_expect_eq(result_long(fs[i]), 42);
        mt_future_free(fs[i]);
    }
    mt_executor_free(ex);
}

LEAK_TEST(executor, initializer_failure_breaks_the_executor, .timeout = 20)
{
    mt_executor *ex;
    cr_assert_eq(mt_executor_new(&ex, &(mt_executor_opts){.max_workers = 1,
                                                          .initializer = init_fails}),
                 0);
    mt_future *f;
    cr_assert_eq(mt_executor_submit(ex, echo, "x", 1, &f), 0);
    cr_expect_eq(mt_future_result(f, MT_FOREVER, NULL), MT_EBROKEN);
    const char *msg = mt_future_error_message(f);
    cr_expect(strstr(msg, "initializer failed"), "%s", msg);
    cr_expect(strstr(msg, "EIO: cannot open the device"), "%s", msg);
    mt_future_free(f);
    mt_future *g = NULL;
    cr_expect_eq(mt_executor_submit(ex, echo, "x", 1, &g), MT_EBROKEN);
    cr_expect_eq(g, NULL);
    mt_executor_shutdown(ex, MT_SHUTDOWN_WAIT);
    cr_expect_eq(mt_executor_submit(ex, echo, "x", 1, &g), MT_EBROKEN, "broken comes first");
    mt_executor_free(ex);
}

/* ---- threads ---------------------------------------------------------- */

LEAK_TEST(executor, threads_start_lazily, .timeout = 20)
{
    int before = threads_now();
    mt_executor *ex = executor(4);
    cr_expect_eq(threads_now(), before, "no thread before the first submit");
    /* One task at a time: the one thread is idle at every submit. */
    for (long i = 0; i < 20; i++) {
        mt_future *f;
        cr_assert_eq(mt_executor_submit(ex, square, &i, sizeof i, &f), 0);
        cr_expect_eq(result_long(f), i * i);
        mt_future_free(f);
    }
    cr_expect_eq(threads_now(), before + 1);
    /* Busy threads: each submit starts one more, up to max_workers. */
    mt_future *fs[8];
    for (int i = 0; i < 8; i++)
        cr_assert_eq(mt_executor_submit(ex, wait_gate, "w", 1, &fs[i]), 0);
    gate_wait_for(4);
    cr_expect_eq(threads_now(), before + 4);
    gate_open();
    for (int i = 0; i < 8; i++) {
        cr_expect_eq(mt_future_result(fs[i], MT_FOREVER, NULL), 0);
        mt_future_free(fs[i]);
    }
    cr_expect_eq(threads_now(), before + 4);
    mt_executor_free(ex);
    cr_expect_eq(threads_now(), before);
}

LEAK_TEST(executor, default_thread_names, .timeout = 20)
{
    mt_executor *ex = executor(1);
    mt_future *f;
    cr_assert_eq(mt_executor_submit(ex, wait_gate, "x", 1, &f), 0);
    cr_assert_eq(mt_future_add_done_callback(f, note_thread, NULL), 0);
    gate_open();
    cr_assert_eq(mt_future_wait(f, MT_FOREVER), 0);
    mt_executor_shutdown(ex, MT_SHUTDOWN_WAIT);
    cr_expect_eq(strncmp(callback_thread, "ThreadPool-", 11), 0, "%s", callback_thread);
    cr_expect_eq(strcmp(callback_thread + strlen(callback_thread) - 2, "_0"), 0, "%s",
                 callback_thread);
    mt_future_free(f);
    mt_executor_free(ex);
}

/* Several producers at once, many small tasks: for the sanitizers. */
typedef struct producer_arg {
    mt_executor *ex;
    long base;
    int failures;
} producer_arg;

#define PER_PRODUCER 5000

static void *producer(void *arg)
{
    producer_arg *p = arg;
    mt_future **fs = calloc(PER_PRODUCER, sizeof *fs);
    for (long i = 0; i < PER_PRODUCER; i++) {
        long x = p->base + i;
        if (mt_executor_submit(p->ex, square, &x, sizeof x, &fs[i]) < 0)
            p->failures++;
    }
    for (long i = 0; i < PER_PRODUCER; i++) {
        mt_iov r;
        long x = p->base + i;
        if (!fs[i] || mt_future_result(fs[i], MT_FOREVER, &r) != 0 || read_long(r.data) != x * x)
            p->failures++;
        mt_future_free(fs[i]);
    }
    free(fs);
    return NULL;
}

LEAK_TEST(executor, many_producers, .timeout = 60)
{
    mt_executor *ex = executor(3);
    pthread_t th[4];
    producer_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (producer_arg){ex, i * 1000000L, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, producer, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(args[i].failures, 0);
    }
    mt_executor_free(ex);
}

/* ---- mt_wait and mt_as_completed -------------------------------------- */

LEAK_TEST(wait, bad_arguments, .timeout = 10)
{
    mt_future *none[2] = {NULL, NULL};
    size_t nd = 99;
    cr_expect_eq(mt_wait(NULL, 1, 0, MT_ALL_COMPLETED, NULL, &nd, NULL, NULL), -EINVAL);
    cr_expect_eq(mt_wait(none, 2, 0, MT_ALL_COMPLETED, NULL, &nd, NULL, NULL), -EINVAL);
    cr_expect_eq(nd, 99);
    cr_expect_eq(mt_wait(none, 0, 0, (mt_return_when)7, NULL, &nd, NULL, NULL), -EINVAL);
    cr_expect_eq(mt_wait(none, 0, MT_FOREVER, MT_FIRST_COMPLETED, NULL, &nd, NULL, NULL), 0);
    cr_expect_eq(nd, 0);
    mt_as_completed *it = NULL;
    cr_expect_eq(mt_as_completed_new(NULL, none, 0, 0), -EINVAL);
    cr_expect_eq(mt_as_completed_new(&it, none, 1, 0), -EINVAL);
    cr_expect_eq(it, NULL);
    cr_expect_eq(mt_as_completed_next(NULL, NULL, NULL), -EINVAL);
    cr_assert_eq(mt_as_completed_new(&it, none, 0, 0), 0);
    cr_expect_eq(mt_as_completed_next(it, NULL, NULL), MT_EOF);
    mt_as_completed_free(it);
    mt_as_completed_free(NULL);
}

LEAK_TEST(wait, first_completed_all_completed_and_timeouts, .timeout = 20)
{
    mt_executor *ex = executor(4);
    mt_future *fs[3], *done[3], *not_done[3];
    size_t nd, nn;
    cr_assert_eq(mt_executor_submit(ex, wait_gate, "a", 1, &fs[0]), 0);
    cr_assert_eq(mt_executor_submit(ex, wait_gate, "b", 1, &fs[1]), 0);
    cr_assert_eq(mt_executor_submit(ex, square, &(long){5}, sizeof(long), &fs[2]), 0);
    cr_expect_eq(mt_wait(fs, 3, MT_FOREVER, MT_FIRST_COMPLETED, done, &nd, not_done, &nn), 0);
    cr_expect_eq(nd, 1);
    cr_expect_eq(done[0], fs[2]);
    cr_expect_eq(nn, 2);
    cr_expect_eq(not_done[0], fs[0]);
    cr_expect_eq(not_done[1], fs[1]);
    /* Timeouts: the two sets come back all the same. */
    double t0 = mt_monotonic();
    cr_expect_eq(mt_wait(fs, 3, 0.1, MT_ALL_COMPLETED, done, &nd, not_done, &nn), -ETIMEDOUT);
    cr_expect_geq(mt_monotonic() - t0, 0.1);
    cr_expect_eq(nd, 1);
    cr_expect_eq(nn, 2);
    cr_expect_eq(mt_wait(fs, 3, 0, MT_FIRST_EXCEPTION, NULL, &nd, NULL, &nn), -ETIMEDOUT);
    cr_expect_eq(mt_wait(fs, 2, 0, MT_FIRST_COMPLETED, NULL, &nd, NULL, NULL), -ETIMEDOUT);
    cr_expect_eq(nd, 0);
    /* Many short waits on the same futures leave nothing behind on them. */
    for (int i = 0; i < 200; i++)
        cr_assert_eq(mt_wait(fs, 2, 0.0001, MT_FIRST_COMPLETED, NULL, NULL, NULL, NULL),
                     -ETIMEDOUT);
    gate_open();
    cr_expect_eq(mt_wait(fs, 3, MT_FOREVER, MT_ALL_COMPLETED, done, &nd, not_done, &nn), 0);
    cr_expect_eq(nd, 3);
    cr_expect_eq(nn, 0);
    for (int i = 0; i < 3; i++)
        mt_future_free(fs[i]);
    mt_executor_free(ex);
}

LEAK_TEST(wait, first_exception_among_thread_futures, .timeout = 20)
{
    mt_executor *ex = executor(2);
    mt_future *fs[2], *done[2];
    size_t nd, nn;
    cr_assert_eq(mt_executor_submit(ex, wait_gate, "a", 1, &fs[0]), 0);
    cr_assert_eq(mt_executor_submit(ex, fail_enoent, "b", 1, &fs[1]), 0);
    cr_expect_eq(mt_wait(fs, 2, MT_FOREVER, MT_FIRST_EXCEPTION, done, &nd, NULL, &nn), 0);
    cr_expect_eq(nd, 1);
    cr_expect_eq(done[0], fs[1]);
    gate_open();
    for (int i = 0; i < 2; i++)
        mt_future_free(fs[i]);
    mt_executor_free(ex);
}

/* The write end of a pipe: a pool worker reports its pid through it. */
static int report_fd = -1;

static int report_and_hang(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len;
    pid_t me = getpid();
    if (write(report_fd, &me, sizeof me) != (ssize_t)sizeof me)
        return mt_fail(out, -EIO, "cannot report");
    for (;;)
        pause();
}

LEAK_TEST(wait, mixed_futures_with_a_killed_pool_worker, .timeout = 60)
{
    int fds[2];
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    report_fd = fds[1];
    mt_pool *pool; /* before any thread of ours: its workers are forked */
    cr_assert_eq(mt_pool_new(&pool, &(mt_pool_opts){.processes = 1}), 0);
    mt_executor *ex = executor(2);
    mt_future *fs[3], *done[3], *not_done[3];
    size_t nd, nn;
    cr_assert_eq(mt_pool_apply_async(pool, report_and_hang, NULL, 0, &fs[0]), 0);
    cr_assert_eq(mt_executor_submit(ex, wait_gate, "g", 1, &fs[1]), 0);
    cr_assert_eq(mt_executor_submit(ex, square, &(long){3}, sizeof(long), &fs[2]), 0);
    pid_t pid;
    cr_assert_eq(read(fds[0], &pid, sizeof pid), (ssize_t)sizeof pid);

    cr_expect_eq(mt_wait(fs, 3, MT_FOREVER, MT_FIRST_COMPLETED, done, &nd, not_done, &nn), 0);
    cr_expect_eq(nd, 1);
    cr_expect_eq(done[0], fs[2]);
    cr_expect_eq(mt_wait(fs, 3, 0.1, MT_FIRST_EXCEPTION, done, &nd, not_done, &nn), -ETIMEDOUT);
    cr_expect_eq(nn, 2);

    cr_assert_eq(kill(pid, SIGKILL), 0);
    cr_expect_eq(mt_wait(fs, 3, 20, MT_FIRST_EXCEPTION, done, &nd, not_done, &nn), 0);
    cr_expect_eq(nd, 2);
    cr_expect_eq(done[0], fs[0]);
    cr_expect_eq(done[1], fs[2]);
    cr_expect_eq(nn, 1);
    cr_expect_eq(not_done[0], fs[1]);
    cr_expect_eq(mt_future_result(fs[0], 0, NULL), MT_EWORKER);

    /* as_completed: the two finished ones first, then the timeout, then
     * the last once it finishes. */
    mt_as_completed *it;
    cr_assert_eq(mt_as_completed_new(&it, fs, 3, 0.2), 0);
    size_t seen = 0, i;
    mt_future *f;
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(mt_as_completed_next(it, &i, &f), 0);
        cr_expect(i == 0 || i == 2);
        cr_expect_eq(f, fs[i]);
        seen |= (size_t)1 << i;
    }
    cr_expect_eq(seen, 5);
    cr_expect_eq(mt_as_completed_next(it, &i, &f), -ETIMEDOUT);
    gate_open();
    cr_assert_eq(mt_future_wait(fs[1], MT_FOREVER), 0);
    cr_expect_eq(mt_as_completed_next(it, &i, &f), 0, "finished after the timeout");
    cr_expect_eq(i, 1);
    cr_expect_eq(mt_as_completed_next(it, &i, &f), MT_EOF);
    mt_as_completed_free(it);

    for (int k = 0; k < 3; k++)
        mt_future_free(fs[k]);
    mt_executor_free(ex);
    mt_pool_free(pool);
    close(fds[0]);
    close(fds[1]);
}

LEAK_TEST(wait, as_completed_keeps_its_futures, .timeout = 20)
{
    mt_executor *ex = executor(3);
    mt_future *fs[20];
    for (long i = 0; i < 20; i++)
        cr_assert_eq(mt_executor_submit(ex, slow_square, &i, sizeof i, &fs[i]), 0);
    mt_as_completed *it;
    cr_assert_eq(mt_as_completed_new(&it, fs, 20, MT_FOREVER), 0);
    for (int i = 0; i < 20; i++)
        mt_future_free(fs[i]); /* the iterator holds its own references */
    bool seen[20] = {0};
    size_t i;
    mt_future *f;
    int n = 0;
    while (mt_as_completed_next(it, &i, &f) == 0) {
        cr_assert_lt(i, 20);
        cr_expect(!seen[i]);
        seen[i] = true;
        cr_expect_eq(result_long(f), (long)(i * i));
        n++;
    }
    cr_expect_eq(n, 20);
    mt_as_completed_free(it);
    mt_executor_free(ex);
}

LEAK_TEST(wait, as_completed_freed_early, .timeout = 20)
{
    mt_executor *ex = executor(2);
    mt_future *fs[2];
    cr_assert_eq(mt_executor_submit(ex, wait_gate, "a", 1, &fs[0]), 0);
    cr_assert_eq(mt_executor_submit(ex, wait_gate, "b", 1, &fs[1]), 0);
    mt_as_completed *it;
    cr_assert_eq(mt_as_completed_new(&it, fs, 2, MT_FOREVER), 0);
    mt_as_completed_free(it); /* its callbacks are taken off the futures */
    _Atomic int calls = 0;
    cr_assert_eq(mt_future_add_done_callback(fs[0], count_callback, &calls), 0);
    gate_open();
    for (int i = 0; i < 2; i++) {
        cr_expect_eq(mt_future_wait(fs[i], MT_FOREVER), 0);
        mt_future_free(fs[i]);
    }
    mt_executor_shutdown(ex, MT_SHUTDOWN_WAIT);
    cr_expect_eq(calls, 1);
    mt_executor_free(ex);
}
