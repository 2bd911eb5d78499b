/*
 * test_future.c - the future's states, waits, callbacks and ownership,
 * driven through the internal producer API as a pool or executor would.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>

#include "../src/future/future_internal.h"
#include "helpers.h"

static mt_future *finished(int err, const char *bytes)
{
    mt_future *f = mt__future_new();
    cr_assert_not_null(f);
    mt_buf b = MT_BUF_INIT;
    mt_buf_append(&b, bytes, strlen(bytes));
    cr_assert_eq(mt__future_finish(f, err, &b), 0);
    cr_expect_eq(b.data, NULL, "finish takes the buffer's memory");
    return f;
}

LEAK_TEST(future, pending_future_times_out)
{
    mt_future *f = mt__future_new();
    cr_expect_not(mt_future_done(f));
    cr_expect_not(mt_future_running(f));
    cr_expect_eq(mt_future_wait(f, 0), -ETIMEDOUT);
    double t0 = mt_monotonic();
    cr_expect_eq(mt_future_result(f, 0.05, NULL), -ETIMEDOUT);
    cr_expect_geq(mt_monotonic() - t0, 0.05);
    cr_expect_str_eq(mt_future_error_message(f), "");
    mt_future_free(f);
}

LEAK_TEST(future, result_bytes_and_errors)
{
    mt_future *ok = finished(0, "forty-two");
    mt_iov r;
    cr_expect_eq(mt_future_result(ok, 0, &r), 0);
    cr_expect_eq(r.len, 9);
    cr_expect_eq(memcmp(r.data, "forty-two", 9), 0);
    cr_expect(mt_future_done(ok));
    mt_future_free(ok);

    mt_future *bad = finished(-ENOENT, "no such thing");
    cr_expect_eq(mt_future_result(bad, MT_FOREVER, &r), -ENOENT);
    cr_expect_eq(r.len, 0);
    cr_expect_str_eq(mt_future_error_message(bad), "no such thing");
    mt_future_free(bad);

    mt_future *positive = finished(7, "");
    cr_expect_eq(mt_future_result(positive, 0, NULL), MT_EFAILED);
    mt_future_free(positive);
}

LEAK_TEST(future, finish_twice_is_refused)
{
    mt_future *f = finished(0, "a");
    mt_buf b = MT_BUF_INIT;
    mt_buf_append(&b, "b", 1);
    cr_expect_eq(mt__future_finish(f, 0, &b), -EINVAL);
    cr_expect_eq(b.data, NULL, "a refused result is freed, not leaked");
    mt_iov r;
    mt_future_result(f, 0, &r);
    cr_expect_eq(((const char *)r.data)[0], 'a');
    mt_future_free(f);
}

LEAK_TEST(future, cancel_only_before_start)
{
    mt_future *f = mt__future_new();
    cr_expect_eq(mt_future_cancel(f), 0);
    cr_expect_eq(mt_future_cancel(f), 0, "cancelling twice is fine");
    cr_expect(mt_future_cancelled(f));
    cr_expect(mt_future_done(f));
    cr_expect_eq(mt_future_result(f, 0, NULL), -ECANCELED);
    cr_expect_eq(mt__future_start(f), -ECANCELED, "a cancelled task must not run");
    mt_buf b = MT_BUF_INIT;
    cr_expect_eq(mt__future_finish(f, 0, &b), -EINVAL);
    mt_future_free(f);

    mt_future *running = mt__future_new();
    cr_assert_eq(mt__future_start(running), 0);
    cr_expect(mt_future_running(running));
    cr_expect_eq(mt_future_cancel(running), -EBUSY);
    cr_expect_eq(mt__future_start(running), -EINVAL);
    mt__future_finish(running, 0, NULL);
    cr_expect_eq(mt_future_cancel(running), -EBUSY);
    mt_future_free(running);
}

static void record(mt_future *f, void *arg)
{
    mt_buf *log = arg;
    char c = mt_future_cancelled(f) ? 'c' : mt_future_done(f) ? 'd' : '?';
    mt_buf_append(log, &c, 1);
}

LEAK_TEST(future, callbacks_run_once_in_order)
{
    mt_buf log = MT_BUF_INIT;
    mt_future *f = mt__future_new();
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mt_future_add_done_callback(f, record, &log), 0);
    cr_expect_eq(log.len, 0);
    mt__future_finish(f, 0, NULL);
    cr_expect_eq(log.len, 3);
    cr_assert_eq(mt_future_add_done_callback(f, record, &log), 0);
    cr_expect_eq(log.len, 4, "a callback added after the end runs at once");
    cr_expect_eq(memcmp(log.data, "dddd", 4), 0);
    cr_expect_eq(mt_future_add_done_callback(f, NULL, NULL), -EINVAL);
    mt_future_free(f);

    mt_buf_reset(&log);
    mt_future *c = mt__future_new();
    mt_future_add_done_callback(c, record, &log);
    mt_future_cancel(c);
    cr_expect_eq(log.len, 1);
    cr_expect_eq(log.data[0], 'c');
    mt_future_free(c);
    mt_buf_free(&log);
}

LEAK_TEST(future, held_callbacks_wait_for_their_producer)
{
    mt_buf log = MT_BUF_INIT;
    mt_future *f = mt__future_new();
    mt_future_add_done_callback(f, record, &log);
    cr_assert_eq(mt__future_finish_held(f, 0, NULL), 0);
    cr_expect(mt_future_done(f), "done at once");
    cr_expect_eq(mt_future_result(f, 0, NULL), 0);
    cr_expect_eq(log.len, 0, "but no callback yet");
    mt_future_add_done_callback(f, record, &log);
    cr_expect_eq(log.len, 0, "a callback added meanwhile waits its turn");
    mt__future_run_callbacks(f);
    cr_expect_eq(log.len, 2);
    mt__future_run_callbacks(f); /* twice is harmless */
    cr_expect_eq(log.len, 2);
    mt_future_add_done_callback(f, record, &log);
    cr_expect_eq(log.len, 3, "now callbacks run at once again");
    mt_future_free(f);
    mt_buf_free(&log);
}

static void *finish_later(void *arg)
{
    mt_sleep(0.05);
    mt_buf b = MT_BUF_INIT;
    mt_buf_append(&b, "late", 4);
    mt__future_finish(arg, 0, &b);
    return NULL;
}

LEAK_TEST(future, waiters_in_other_threads_wake)
{
    mt_future *f = mt__future_new();
    pthread_t t;
    pthread_create(&t, NULL, finish_later, f);
    mt_iov r;
    cr_expect_eq(mt_future_result(f, 5.0, &r), 0);
    cr_expect_eq(r.len, 4);
    pthread_join(t, NULL);
    mt_future_free(f);
}

static void *wait_forever(void *arg)
{
    return (void *)(intptr_t)mt_future_wait(arg, MT_FOREVER);
}

LEAK_TEST(future, many_waiters_all_wake)
{
    mt_future *f = mt__future_new();
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, wait_forever, f);
    mt_sleep(0.02);
    mt__future_finish(f, -EIO, NULL);
    for (int i = 0; i < 8; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        cr_expect_eq((intptr_t)rc, 0);
    }
    cr_expect_eq(mt_future_result(f, 0, NULL), -EIO);
    mt_future_free(f);
}

LEAK_TEST(future, take_moves_without_copy)
{
    mt_future *f = mt__future_new();
    cr_expect_eq(mt_future_take(f, &(mt_buf)MT_BUF_INIT), -ETIMEDOUT);
    mt_buf b = MT_BUF_INIT;
    mt_buf_append(&b, "moved", 5);
    const char *where = b.data;
    mt__future_finish(f, 0, &b);
    mt_buf out = MT_BUF_INIT;
    cr_assert_eq(mt_future_take(f, &out), 0);
    cr_expect_eq(out.data, where, "the same memory, not a copy");
    cr_expect_eq(out.len, 5);
    mt_iov r;
    mt_future_result(f, 0, &r);
    cr_expect_eq(r.len, 0, "taken: the future is empty");
    mt_buf_free(&out);
    mt_future_free(f);
}

LEAK_TEST(future, mapped_results_are_unmapped)
{
    size_t len = 1 << 20;
    char *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(map, MAP_FAILED);
    memset(map, 'm', len);
    mt_future *f = mt__future_new();
    cr_assert_eq(mt__future_finish_mapped(f, map, len, map + 16, 100), 0);
    mt_iov r;
    cr_expect_eq(mt_future_result(f, 0, &r), 0);
    cr_expect_eq(r.data, map + 16);
    cr_expect_eq(r.len, 100);
    mt_buf out = MT_BUF_INIT;
    cr_expect_eq(mt_future_take(f, &out), 0);
    cr_expect_eq(out.len, 100);
    cr_expect_neq(out.data, map + 16, "a mapping is copied into malloc memory");
    mt_buf_free(&out);
    mt_future_free(f);
}

LEAK_TEST(future, references)
{
    mt_future *f = mt__future_new();
    cr_expect_eq(mt_future_ref(f), f);
    mt_future_free(f);
    cr_expect_not(mt_future_done(f), "still alive after one release");
    mt_future_free(f);
    mt_future_free(NULL);
}

static int drives;
static int driver(void *ctx, mt_future *f, int64_t deadline)
{
    (void)deadline;
    drives++;
    mt__future_finish(f, *(int *)ctx, NULL);
    return 0;
}

LEAK_TEST(future, a_driver_runs_when_someone_waits)
{
    int err = -EPERM;
    mt_future *f = mt__future_new();
    mt__future_set_driver(f, driver, &err);
    cr_expect_eq(mt_future_wait(f, 0), -ETIMEDOUT, "polling does not drive");
    cr_expect_eq(drives, 0);
    cr_expect_eq(mt_future_result(f, 1.0, NULL), -EPERM);
    cr_expect_eq(drives, 1);
    cr_expect_eq(mt_future_result(f, 1.0, NULL), -EPERM);
    cr_expect_eq(drives, 1, "a done future is not driven again");
    mt_future_free(f);
}
