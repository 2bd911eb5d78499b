/*
 * test_remote_coro.c - dict calls on a Redis server made from coroutines:
 * a call waits suspended, so that the loop runs its other tasks while the
 * server is slow; coroutines of one loop share a handle; a cancelled
 * caller still finishes the call it sent, and it counts once.
 *
 * The server is made slow by stopping it (SIGSTOP), from a task of the
 * same loop that continues it later: a call that blocked the loop's
 * thread would keep that task from ever continuing it.
 */
#define _GNU_SOURCE
#include <signal.h>

#include "coro_helpers.h"
#include "redis_server.h"

static test_redis srv;

static void start(char *url, size_t size, const char *name)
{
    test_redis_start(&srv, NULL);
    snprintf(url, size, "redis+unix://%s/%s", srv.sock, name);
}

static int64_t counter(mt_dict *d)
{
    int64_t n = -1;
    cr_expect_eq(mt_dict_get_i64(d, "count", &n), 0);
    return n;
}

/* Stop the server for arg's seconds, from the loop. */
static int stall_server(void *arg)
{
    kill(srv.pid, SIGSTOP);
    int err = mt_co_sleep(*(double *)arg);
    kill(srv.pid, SIGCONT);
    return err;
}

/* Tick every 10 ms until *stop; the longest gap between ticks. */
typedef struct ticker {
    volatile bool stop;
    double longest;
} ticker;

static int tick(void *arg)
{
    ticker *t = arg;
    double last = mt_monotonic();
    while (!t->stop) {
        mt_co_sleep(0.01);
        double now = mt_monotonic();
        if (now - last > t->longest)
            t->longest = now - last;
        last = now;
    }
    return 0;
}

/* ---- a stalled server suspends only the caller ------------------------ */

typedef struct stall_run {
    mt_dict *d;
    int64_t result;
    double waited;
} stall_run;

static int stall_main(void *arg)
{
    stall_run *r = arg;
    ticker t = {0};
    double secs = 0.5;
    mt_task *ticks, *stall;
    cr_assert_eq(mt_task_create(&ticks, tick, &t, NULL), 0);
    cr_assert_eq(mt_task_create(&stall, stall_server, &secs, NULL), 0);
    mt_co_yield(); /* the server stops */
    double t0 = mt_monotonic();
    int err = mt_dict_incr(r->d, "count", 5, 1, &r->result);
    r->waited = mt_monotonic() - t0;
    t.stop = true;
    mt_task_await(ticks);
    mt_task_await(stall);
    mt_task_free(ticks);
    mt_task_free(stall);
    cr_expect_lt(t.longest, 0.25, "the loop stood still for %.3f s", t.longest);
    return err;
}

LEAK_TEST(remote_coro, a_stalled_server_suspends_only_the_caller, .timeout = 30)
{
    char url[256];
    start(url, sizeof url, "stall");
    stall_run r = {0};
    cr_assert_eq(mt_dict_open(&r.d, url, NULL), 0);
    cr_expect_eq(mt_dict_incr(r.d, "count", 5, 0, NULL), 0, "connected before the stall");
    cr_expect_eq(mt_run(stall_main, &r, NULL), 0);
    cr_expect_eq(r.result, 1);
    cr_expect_geq(r.waited, 0.4, "the call waited for the server (%.3f s)", r.waited);
    cr_expect_eq(counter(r.d), 1);
    mt_dict_free(r.d);
    test_redis_stop(&srv);
}

/* A handle opened in a coroutine connects there (on the loop's thread
 * pool), and serves the coroutine. */
static char first_url[256];

static int open_in_coroutine(void *arg)
{
    (void)arg;
    mt_dict *d;
    int err = mt_dict_open(&d, first_url, NULL);
    if (err)
        return err;
    err = mt_dict_incr(d, "count", 5, 1, NULL);
    mt_dict_free(d);
    return err;
}

LEAK_TEST(remote_coro, a_handle_opened_in_a_coroutine, .timeout = 30)
{
    start(first_url, sizeof first_url, "first");
    cr_expect_eq(mt_run(open_in_coroutine, NULL, NULL), 0);
    mt_dict *d;
    cr_assert_eq(mt_dict_open(&d, first_url, NULL), 0);
    cr_expect_eq(counter(d), 1);
    mt_dict_free(d);
    test_redis_stop(&srv);
}

/* ---- coroutines share a handle ---------------------------------------- */

enum { TASKS = 40, EACH = 25 };

static int incr_many(void *arg)
{
    for (int i = 0; i < EACH; i++) {
        int err = mt_dict_incr(arg, "count", 5, 1, NULL);
        if (err)
            return err;
    }
    return 0;
}

static int share_main(void *arg)
{
    mt_task *t[TASKS];
    double secs = 0.2;
    mt_task *stall;
    for (int i = 0; i < TASKS; i++)
        cr_assert_eq(mt_task_create(&t[i], incr_many, arg, NULL), 0);
    mt_co_yield();
    /* midway, the server stalls: every task is then waiting on the handle */
    cr_assert_eq(mt_task_create(&stall, stall_server, &secs, NULL), 0);
    int failed = 0;
    for (int i = 0; i < TASKS; i++) {
        failed += mt_task_await(t[i]) != 0;
        mt_task_free(t[i]);
    }
    mt_task_await(stall);
    mt_task_free(stall);
    return failed;
}

LEAK_TEST(remote_coro, coroutines_share_a_handle, .timeout = 60)
{
    char url[256];
    start(url, sizeof url, "share");
    mt_dict *d;
    cr_assert_eq(mt_dict_open(&d, url, NULL), 0);
    cr_expect_eq(mt_run(share_main, d, NULL), 0);
    cr_expect_eq(counter(d), TASKS * EACH);
    mt_dict_free(d);
    test_redis_stop(&srv);
}

/* ---- a cancelled caller finishes the call it sent -------------------- */

typedef struct cancel_run {
    mt_dict *d;
    int call;     /* what the call returned */
    int after;    /* what the next suspension returned */
    int64_t result;
} cancel_run;

static int incr_then_sleep(void *arg)
{
    cancel_run *r = arg;
    r->call = mt_dict_incr(r->d, "count", 5, 1, &r->result);
    r->after = mt_co_sleep(5);
    return r->after;
}

static int cancel_main(void *arg)
{
    cancel_run *r = arg;
    double secs = 0.4;
    mt_task *stall, *caller;
    cr_assert_eq(mt_task_create(&stall, stall_server, &secs, NULL), 0);
    mt_co_yield(); /* the server stops */
    cr_assert_eq(mt_task_create(&caller, incr_then_sleep, r, NULL), 0);
    mt_co_sleep(0.1); /* the call is out, waiting */
    mt_task_cancel(caller);
    int err = mt_task_await(caller);
    mt_task_free(caller);
    mt_task_await(stall);
    mt_task_free(stall);
    return err;
}

LEAK_TEST(remote_coro, a_cancelled_caller_finishes_its_call, .timeout = 30)
{
    char url[256];
    start(url, sizeof url, "cancel");
    cancel_run r = {.call = 1, .after = 1};
    cr_assert_eq(mt_dict_open(&r.d, url, NULL), 0);
    cr_expect_eq(mt_dict_incr(r.d, "count", 5, 0, NULL), 0);
    cr_expect_eq(mt_run(cancel_main, &r, NULL), -ECANCELED);
    cr_expect_eq(r.call, 0, "the call sent is seen to its answer");
    cr_expect_eq(r.result, 1);
    cr_expect_eq(r.after, -ECANCELED, "the cancellation comes at the next suspension");
    cr_expect_eq(counter(r.d), 1, "done once");
    mt_dict_free(r.d);
    test_redis_stop(&srv);
}
