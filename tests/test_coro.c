/*
 * test_coro.c - coroutines and the loop: running, sleeping in order,
 * tasks, cancellation, gather / wait / wait_for, timeouts, shields, task
 * groups, closing with tasks pending, reports, stacks and their overflow.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <math.h>

#include "coro_helpers.h"

/* ---- running ---------------------------------------------------------- */

static int return_arg(void *arg)
{
    return (int)(long)arg;
}

static int nested_run(void *arg)
{
    (void)arg;
    cr_expect_eq(mt_loop_free(mt_loop_current()), -EBUSY);
    return mt_run(return_arg, NULL, NULL);
}

LEAK_TEST(coro, run_returns_the_main_result, .timeout = 20)
{
    cr_expect_eq(co_run(return_arg, (void *)42L), 42);
    cr_expect_eq(co_run(return_arg, (void *)(long)-ENOENT), -ENOENT);
    cr_expect_eq(mt_run(NULL, NULL, NULL), -EINVAL);
    cr_expect_eq(mt_run(return_arg, NULL, &(mt_run_opts){.slow_callback_duration = -1}), -EINVAL);
    cr_expect_eq(co_run(nested_run, NULL), -EBUSY);
    cr_expect_eq(mt_loop_current(), NULL);
}

LEAK_TEST(coro, calls_outside_a_coroutine_fail, .timeout = 20)
{
    cr_expect_eq(mt_co_sleep(0.1), MT_ENOTCORO);
    cr_expect_eq(mt_co_yield(), MT_ENOTCORO);
    cr_expect_eq(mt_task_create(NULL, return_arg, NULL, NULL), MT_ENOTCORO);
    cr_expect_eq(mt_task_current(), NULL);
    cr_expect_eq(mt_task_await(NULL), MT_ENOTCORO);
    cr_expect_eq(mt_co_gather(NULL, 0, NULL, NULL), MT_ENOTCORO);
}

static int sleeps_a_while(void *arg)
{
    (void)arg;
    return mt_co_sleep(5);
}

/* Every coroutine wait refuses a NaN timeout at once, as the other layers
 * do (it reached an undefined conversion into a deadline). */
static int nan_timeouts(void *arg)
{
    (void)arg;
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    cr_expect_eq(mt_co_wait_fd(fds[0], MT_READABLE, NAN), -EINVAL);
    cr_expect_eq(mt_co_wait_signal(SIGUSR2, NAN), -EINVAL);
    mt_task *t;
    cr_assert_eq(mt_task_create(&t, sleeps_a_while, NULL, NULL), 0);
    mt_task *done[1], *pending[1];
    size_t nd = 9, np = 9;
    cr_expect_eq(mt_co_wait(&t, 1, NAN, MT_ALL_COMPLETED, done, &nd, pending, &np), -EINVAL);
    cr_expect_eq(mt_co_wait_for(t, NAN), -EINVAL);
    mt_task_cancel(t);
    mt_task_await(t);
    mt_task_free(t);
    mt_co_forget_fd(fds[0]);
    close(fds[0]);
    close(fds[1]);
    return 0;
}

LEAK_TEST(coro, nan_timeouts_are_refused, .timeout = 20)
{
    cr_expect_eq(mt_run(nan_timeouts, NULL, NULL), 0);
}

static int loop_api_task(void *arg)
{
    int *ran = arg;
    mt_co_sleep(0.01);
    (*ran)++;
    return 5;
}

LEAK_TEST(coro, loop_new_run_until_complete_close, .timeout = 20)
{
    mt_loop *l;
    cr_assert_eq(mt_loop_new(&l, NULL), 0);
    int ran = 0;
    mt_task *a, *b;
    cr_assert_eq(mt_loop_create_task(l, loop_api_task, &ran, NULL, &a), 0);
    cr_assert_eq(mt_loop_create_task(l, loop_api_task, &ran, NULL, &b), 0);
    cr_expect_eq(mt_loop_create_task(l, NULL, NULL, NULL, NULL), -EINVAL);
    cr_expect_eq(mt_loop_run_until_complete(l, a), 5);
    cr_expect_geq(ran, 1);
    cr_expect_eq(mt_loop_run_until_complete(l, b), 5);
    cr_expect_eq(ran, 2);
    cr_expect(mt_task_done(b));
    cr_expect_eq(mt_task_result(b), 5);
    cr_expect_eq(mt_loop_run_until_complete(l, NULL), -EINVAL);
    mt_task_free(a);
    mt_task_free(b);
    cr_expect_eq(mt_loop_free(l), 0);
    cr_expect_eq(mt_loop_new(NULL, NULL), -EINVAL);
}

/* ---- sleeping and yielding -------------------------------------------- */

typedef struct order_log {
    int seen[32];
    int n;
} order_log;

typedef struct sleeper_arg {
    order_log *log;
    int id;
    double secs;
} sleeper_arg;

static int sleeper(void *arg)
{
    sleeper_arg *a = arg;
    int r = mt_co_sleep(a->secs);
    if (r)
        return r;
    a->log->seen[a->log->n++] = a->id;
    return a->id;
}

static int sleep_order_main(void *arg)
{
    order_log *log = arg;
    sleeper_arg args[6];
    mt_task *ts[6];
    double secs[6] = {0.10, 0.10, 0.02, 0.10, 0.05, 0.10};
    for (int i = 0; i < 6; i++) {
        args[i] = (sleeper_arg){log, i, secs[i]};
        cr_assert_eq(mt_task_create(&ts[i], sleeper, &args[i], NULL), 0);
    }
    int res[6];
    cr_assert_eq(mt_co_gather(ts, 6, res, NULL), 0);
    for (int i = 0; i < 6; i++) {
        cr_expect_eq(res[i], i);
        mt_task_free(ts[i]);
    }
    return 0;
}

LEAK_TEST(coro, timers_fire_by_deadline_then_in_start_order, .timeout = 20)
{
    order_log log = {0};
    double t0 = mt_monotonic();
    cr_assert_eq(co_run(sleep_order_main, &log), 0);
    double dt = mt_monotonic() - t0;
    cr_expect_geq(dt, 0.10);
    cr_expect_lt(dt, 1.0);
    int want[6] = {2, 4, 0, 1, 3, 5};
    cr_assert_eq(log.n, 6);
    for (int i = 0; i < 6; i++)
        cr_expect_eq(log.seen[i], want[i], "position %d: %d, not %d", i, log.seen[i], want[i]);
}

static int yielder(void *arg)
{
    sleeper_arg *a = arg;
    for (int i = 0; i < 3; i++) {
        a->log->seen[a->log->n++] = a->id;
        cr_expect_eq(mt_co_yield(), 0);
    }
    return 0;
}

static int yield_main(void *arg)
{
    order_log *log = arg;
    sleeper_arg args[3];
    mt_task *ts[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (sleeper_arg){log, i, 0};
        mt_task_create(&ts[i], yielder, &args[i], NULL);
    }
    cr_expect_eq(mt_co_gather(ts, 3, NULL, NULL), 0);
    for (int i = 0; i < 3; i++)
        mt_task_free(ts[i]);
    cr_expect_eq(mt_co_sleep(-1), -EINVAL);
    cr_expect_eq(mt_co_sleep(NAN), -EINVAL);
    cr_expect_eq(mt_co_sleep(INFINITY), -EINVAL);
    cr_expect_eq(mt_co_sleep(0), 0);
    mt_co_timeout sc; /* a sleep of 1e300 s is merely long */
    mt_co_timeout_begin(&sc, 0.01);
    cr_expect_eq(mt_co_sleep(1e300), -ETIMEDOUT);
    mt_co_timeout_end(&sc);
    return 0;
}

LEAK_TEST(coro, yield_takes_turns_in_order, .timeout = 20)
{
    order_log log = {0};
    cr_assert_eq(co_run(yield_main, &log), 0);
    cr_assert_eq(log.n, 9);
    for (int i = 0; i < 9; i++)
        cr_expect_eq(log.seen[i], i % 3);
}

typedef struct later_log {
    int order[4];
    int n;
} later_log;

static later_log later;

static void later_record(void *arg)
{
    later.order[later.n++] = (int)(long)arg;
}

static int call_later_main(void *arg)
{
    (void)arg;
    mt_co_timer *t2;
    cr_assert_eq(mt_co_call_later(NULL, 0.03, later_record, (void *)1L), 0);
    cr_assert_eq(mt_co_call_later(NULL, 0.01, later_record, (void *)2L), 0);
    cr_assert_eq(mt_co_call_later(&t2, 0.02, later_record, (void *)3L), 0);
    cr_expect_eq(mt_co_call_later(NULL, -1, later_record, NULL), -EINVAL);
    cr_expect_eq(mt_co_call_later(NULL, 0, NULL, NULL), -EINVAL);
    cr_assert_eq(mt_co_timer_cancel(t2), 0);
    return mt_co_sleep(0.06);
}

LEAK_TEST(coro, call_later_fires_in_order_and_cancels, .timeout = 20)
{
    later.n = 0;
    cr_assert_eq(co_run(call_later_main, NULL), 0);
    cr_assert_eq(later.n, 2);
    cr_expect_eq(later.order[0], 2);
    cr_expect_eq(later.order[1], 1);
}

/* ---- tasks and cancellation ------------------------------------------- */

typedef struct probe {
    int started, finished, cleanup;
    int sleep_result, second_result;
    double secs;
} probe;

static int probed_sleeper(void *arg)
{
    probe *p = arg;
    p->started++;
    p->sleep_result = mt_co_sleep(p->secs);
    p->second_result = mt_co_sleep(0.001); /* cancellation stays */
    if (p->sleep_result == -ECANCELED) {
        mt_co_shield_begin();
        cr_expect_eq(mt_co_sleep(0.001), 0); /* cleanup may await */
        mt_co_shield_end();
        p->cleanup++;
        return -ECANCELED;
    }
    p->finished++;
    return 0;
}

static int cancel_main(void *arg)
{
    (void)arg;
    probe p = {.secs = 10};
    mt_task *t;
    cr_assert_eq(mt_task_create(&t, probed_sleeper, &p, &(mt_task_opts){.name = "sleepy"}), 0);
    cr_expect_str_eq(mt_task_name(t), "sleepy");
    cr_expect_eq(mt_co_sleep(0.01), 0);
    cr_expect_eq(p.started, 1);
    cr_expect_eq(mt_task_result(t), -EAGAIN);
    cr_expect_eq(mt_task_cancel(t), 0);
    cr_expect_eq(mt_task_cancel(t), 0); /* twice is harmless */
    cr_expect_eq(mt_task_await(t), -ECANCELED);
    cr_expect(mt_task_cancelled(t));
    cr_expect_eq(p.sleep_result, -ECANCELED);
    cr_expect_eq(p.second_result, -ECANCELED);
    cr_expect_eq(p.cleanup, 1);
    cr_expect_eq(mt_task_cancel(t), -EBUSY);
    mt_task_free(t);

    /* Cancelled before it first ran: it never runs. */
    probe q = {.secs = 0};
    cr_assert_eq(mt_task_create(&t, probed_sleeper, &q, NULL), 0);
    cr_expect_eq(mt_task_cancel(t), 0);
    cr_expect_eq(mt_task_await(t), -ECANCELED);
    cr_expect_eq(q.started, 0);
    mt_task_free(t);

    cr_expect_eq(mt_task_await(mt_task_current()), -EINVAL);
    cr_expect_eq(mt_task_cancel(NULL), -EINVAL);
    cr_expect_eq(mt_task_create(&t, NULL, NULL, NULL), -EINVAL);
    cr_expect_eq(mt_task_create(&t, return_arg, NULL, &(mt_task_opts){.stack_size = 100}), -EINVAL);
    cr_expect_eq(mt_task_create(&t, return_arg, NULL, &(mt_task_opts){.stack = 7}), -EINVAL);
    return 0;
}

LEAK_TEST(coro, cancel_is_delivered_at_suspension_and_stays, .timeout = 20)
{
    cr_assert_eq(co_run(cancel_main, NULL), 0);
    cr_expect_eq(co_reports[0], '\0', "unexpected report: %s", co_reports);
}

static int await_inner(void *arg)
{
    probe *p = arg;
    return probed_sleeper(p);
}

static int awaiter(void *arg)
{
    mt_task *inner;
    cr_assert_eq(mt_task_create(&inner, await_inner, arg, NULL), 0);
    int r = mt_task_await(inner);
    cr_expect(mt_task_done(inner));
    mt_task_free(inner);
    return r;
}

static int shield_awaiter(void *arg)
{
    mt_task **inner = arg;
    return mt_co_shield(*inner);
}

static int pass_on_main(void *arg)
{
    (void)arg;
    /* Cancelling an awaiter cancels what it awaits. */
    probe p = {.secs = 10};
    mt_task *outer;
    mt_task_create(&outer, awaiter, &p, NULL);
    mt_co_sleep(0.01);
    mt_task_cancel(outer);
    cr_expect_eq(mt_task_await(outer), -ECANCELED);
    cr_expect_eq(p.cleanup, 1);
    mt_task_free(outer);

    /* A shield keeps it running. */
    probe q = {.secs = 0.05};
    mt_task *inner;
    mt_task_create(&inner, probed_sleeper, &q, NULL);
    mt_task_create(&outer, shield_awaiter, &inner, NULL);
    mt_co_sleep(0.01);
    mt_task_cancel(outer);
    cr_expect_eq(mt_task_await(outer), -ECANCELED);
    cr_expect(!mt_task_done(inner));
    cr_expect_eq(mt_task_await(inner), 0);
    cr_expect_eq(q.finished, 1);
    mt_task_free(outer);
    mt_task_free(inner);
    return 0;
}

LEAK_TEST(coro, awaiting_passes_cancellation_on_unless_shielded, .timeout = 20)
{
    cr_assert_eq(co_run(pass_on_main, NULL), 0);
}

/* ---- gather, wait, wait_for, timeouts --------------------------------- */

typedef struct job {
    double secs;
    int result;
    int cancelled;
} job;

static int job_fn(void *arg)
{
    job *j = arg;
    int r = mt_co_sleep(j->secs);
    if (r) {
        j->cancelled++;
        return r;
    }
    return j->result;
}

static void spawn_jobs(mt_task **ts, job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(mt_task_create(&ts[i], job_fn, &jobs[i], NULL), 0);
}

static int gather_main(void *arg)
{
    (void)arg;
    mt_task *ts[3];
    int res[3];
    job ok[3] = {{0.03, 1, 0}, {0.01, 2, 0}, {0.02, 3, 0}};
    spawn_jobs(ts, ok, 3);
    cr_expect_eq(mt_co_gather(ts, 3, res, NULL), 0);
    cr_expect_eq(res[0], 1);
    cr_expect_eq(res[1], 2);
    cr_expect_eq(res[2], 3);
    release_all(ts, 3);

    job bad[3] = {{5, 1, 0}, {0.01, -ENOENT, 0}, {5, 3, 0}};
    spawn_jobs(ts, bad, 3);
    double t0 = mt_loop_time();
    cr_expect_eq(mt_co_gather(ts, 3, res, NULL), -ENOENT);
    cr_expect_lt(mt_loop_time() - t0, 2.0);
    cr_expect_eq(res[0], -ECANCELED);
    cr_expect_eq(res[1], -ENOENT);
    cr_expect_eq(res[2], -ECANCELED);
    cr_expect_eq(bad[0].cancelled + bad[2].cancelled, 2);
    release_all(ts, 3);

    job mixed[2] = {{0.02, -EIO, 0}, {0.03, 9, 0}};
    spawn_jobs(ts, mixed, 2);
    cr_expect_eq(mt_co_gather(ts, 2, res, &(mt_gather_opts){.return_exceptions = true}), 0);
    cr_expect_eq(res[0], -EIO);
    cr_expect_eq(res[1], 9);
    release_all(ts, 2);

    cr_expect_eq(mt_co_gather(NULL, 1, NULL, NULL), -EINVAL);
    mt_task *nul[1] = {NULL};
    cr_expect_eq(mt_co_gather(nul, 1, NULL, NULL), -EINVAL);
    cr_expect_eq(mt_co_gather(NULL, 0, NULL, NULL), 0);
    return 0;
}

LEAK_TEST(coro, gather_keeps_order_and_cancels_on_first_error, .timeout = 20)
{
    cr_assert_eq(co_run(gather_main, NULL), 0);
    cr_expect_eq(co_reports[0], '\0', "unexpected report: %s", co_reports);
}

static int wait_main(void *arg)
{
    (void)arg;
    mt_task *ts[3], *done[3], *pending[3];
    size_t nd, np;
    job jobs[3] = {{0.3, 1, 0}, {0.01, 2, 0}, {2.0, 3, 0}};
    spawn_jobs(ts, jobs, 3);
    cr_expect_eq(mt_co_wait(ts, 3, MT_FOREVER, MT_FIRST_COMPLETED, done, &nd, pending, &np), 0);
    cr_expect_eq(nd, 1);
    cr_expect_eq(done[0], ts[1]);
    cr_expect_eq(np, 2);
    cr_expect_eq(mt_co_wait(ts, 3, 0.6, MT_ALL_COMPLETED, done, &nd, pending, &np), -ETIMEDOUT);
    cr_expect_eq(nd, 2);
    cr_expect_eq(np, 1);
    cr_expect_eq(pending[0], ts[2]);
    cr_expect(!mt_task_done(ts[2])); /* wait cancels nothing */
    cr_expect_eq(mt_co_wait(ts, 3, MT_FOREVER, MT_ALL_COMPLETED, NULL, &nd, NULL, &np), 0);
    cr_expect_eq(nd, 3);
    cr_expect_eq(mt_co_wait(ts, 3, MT_FOREVER, 99, NULL, NULL, NULL, NULL), -EINVAL);
    for (int i = 0; i < 3; i++)
        mt_task_result(ts[i]);
    release_all(ts, 3);

    job fail[2] = {{0.01, -EPIPE, 0}, {5, 1, 0}};
    spawn_jobs(ts, fail, 2);
    cr_expect_eq(mt_co_wait(ts, 2, 2.0, MT_FIRST_EXCEPTION, done, &nd, NULL, &np), 0);
    cr_expect_eq(nd, 1);
    cr_expect_eq(done[0], ts[0]);
    mt_task_result(ts[0]);
    mt_task_cancel(ts[1]);
    cr_expect_eq(mt_task_await(ts[1]), -ECANCELED);
    release_all(ts, 2);
    return 0;
}

LEAK_TEST(coro, wait_first_completed_all_completed_timeout, .timeout = 20)
{
    cr_assert_eq(co_run(wait_main, NULL), 0);
    cr_expect_eq(co_reports[0], '\0', "unexpected report: %s", co_reports);
}

static int wait_for_main(void *arg)
{
    (void)arg;
    mt_task *t;
    job slow = {5, 1, 0};
    spawn_jobs(&t, &slow, 1);
    double t0 = mt_loop_time();
    cr_expect_eq(mt_co_wait_for(t, 0.05), -ETIMEDOUT);
    cr_expect_lt(mt_loop_time() - t0, 1.0);
    cr_expect(mt_task_cancelled(t));
    cr_expect_eq(slow.cancelled, 1);
    mt_task_free(t);

    job quick = {0.01, 7, 0};
    spawn_jobs(&t, &quick, 1);
    cr_expect_eq(mt_co_wait_for(t, 1.0), 7);
    mt_task_free(t);

    /* A timeout scope: every suspension in it fails once time is up. */
    mt_co_timeout sc, inner;
    cr_assert_eq(mt_co_timeout_begin(&sc, 0.03), 0);
    cr_assert_eq(mt_co_timeout_begin(&inner, MT_FOREVER), 0);
    cr_expect_eq(mt_co_sleep(5), -ETIMEDOUT);
    cr_expect_eq(mt_co_yield(), -ETIMEDOUT);
    cr_expect_eq(mt_co_timeout_end(&inner), 0);
    cr_expect_eq(mt_co_timeout_end(&sc), -ETIMEDOUT);
    cr_expect_eq(mt_co_sleep(0.001), 0); /* over once the scope ends */
    cr_assert_eq(mt_co_timeout_begin(&sc, 1.0), 0);
    cr_expect_eq(mt_co_sleep(0.001), 0);
    cr_expect_eq(mt_co_timeout_end(&sc), 0);
    cr_expect_eq(mt_co_timeout_end(&sc), -EINVAL);
    cr_expect_eq(mt_co_timeout_begin(&sc, NAN), -EINVAL);
    return 0;
}

LEAK_TEST(coro, wait_for_and_timeout_scopes, .timeout = 20)
{
    cr_assert_eq(co_run(wait_for_main, NULL), 0);
}

/* ---- task groups ------------------------------------------------------ */

static int group_main(void *arg)
{
    (void)arg;
    mt_task_group g;
    job ok[3] = {{0.01, 1, 0}, {0.02, 2, 0}, {0.03, 3, 0}};
    cr_assert_eq(mt_task_group_init(&g), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mt_task_group_create_task(&g, job_fn, &ok[i], NULL, NULL), 0);
    cr_expect_eq(mt_task_group_wait(&g), 0);
    cr_expect_eq(mt_task_group_create_task(&g, job_fn, &ok[0], NULL, NULL), MT_ECLOSED);

    /* A failing child cancels its siblings and the owner's own wait. */
    job bad[3] = {{5, 1, 0}, {0.02, -EIO, 0}, {5, 3, 0}};
    cr_assert_eq(mt_task_group_init(&g), 0);
    mt_task *first;
    cr_assert_eq(mt_task_group_create_task(&g, job_fn, &bad[0], NULL, &first), 0);
    for (int i = 1; i < 3; i++)
        cr_assert_eq(mt_task_group_create_task(&g, job_fn, &bad[i], NULL, NULL), 0);
    double t0 = mt_loop_time();
    cr_expect_eq(mt_co_sleep(5), -ECANCELED);
    cr_expect_lt(mt_loop_time() - t0, 2.0);
    cr_expect_eq(mt_task_group_wait(&g), -EIO);
    cr_expect_eq(bad[0].cancelled + bad[2].cancelled, 2);
    cr_expect(mt_task_cancelled(first));
    mt_task_free(first);
    cr_expect_eq(mt_co_sleep(0.001), 0); /* the group's cancel is withdrawn */
    return 0;
}

LEAK_TEST(coro, task_group_cancels_siblings_and_owner_on_failure, .timeout = 20)
{
    cr_assert_eq(co_run(group_main, NULL), 0);
    cr_expect_eq(co_reports[0], '\0', "unexpected report: %s", co_reports);
}

static int group_owner(void *arg)
{
    job *jobs = arg;
    mt_task_group g;
    mt_task_group_init(&g);
    for (int i = 0; i < 2; i++)
        mt_task_group_create_task(&g, job_fn, &jobs[i], NULL, NULL);
    return mt_task_group_wait(&g);
}

static int group_cancel_main(void *arg)
{
    (void)arg;
    job jobs[2] = {{5, 1, 0}, {5, 2, 0}};
    mt_task *owner;
    mt_task_create(&owner, group_owner, jobs, NULL);
    mt_co_sleep(0.01);
    mt_task_cancel(owner);
    cr_expect_eq(mt_task_await(owner), -ECANCELED);
    cr_expect_eq(jobs[0].cancelled + jobs[1].cancelled, 2);
    mt_task_free(owner);
    return 0;
}

LEAK_TEST(coro, cancelling_a_group_owner_cancels_the_children, .timeout = 20)
{
    cr_assert_eq(co_run(group_cancel_main, NULL), 0);
}

/* ---- closing, reports, deadlock ---------------------------------------- */

static int close_main(void *arg)
{
    probe *p = arg;
    cr_assert_eq(mt_task_create(NULL, probed_sleeper, p, &(mt_task_opts){.name = "forgotten"}), 0);
    job *failing = (job *)(p + 1);
    cr_assert_eq(mt_task_create(NULL, job_fn, failing, &(mt_task_opts){.name = "failing"}), 0);
    mt_co_sleep(0.05);
    return 3;
}

LEAK_TEST(coro, closing_cancels_and_reports_pending_tasks, .timeout = 20)
{
    struct {
        probe p;
        job failing;
    } s = {.p = {.secs = 100}, .failing = {0.001, -ENOENT, 0}};
    cr_assert_eq(co_run(close_main, &s), 3);
    cr_expect_eq(s.p.cleanup, 1, "the pending task ran its cleanup");
    cr_expect(strstr(co_reports, "Task 'forgotten' was still pending when the loop closed"),
              "reports: %s", co_reports);
    cr_expect(strstr(co_reports, "Task exception was never retrieved: task 'failing' failed: ENOENT"),
              "reports: %s", co_reports);
}

static int await_other(void *arg)
{
    mt_task **other = arg;
    return mt_task_await(*other);
}

static int deadlock_main(void *arg)
{
    (void)arg;
    static mt_task *a, *b;
    mt_task_create(&a, await_other, &b, NULL);
    mt_task_create(&b, await_other, &a, NULL);
    int r = mt_task_await(a);
    mt_task_free(a);
    mt_task_free(b);
    return r;
}

LEAK_TEST(coro, deadlock_is_detected, .timeout = 20)
{
    cr_expect_eq(co_run(deadlock_main, NULL), -EDEADLK);
    cr_expect(strstr(co_reports, "still pending"), "reports: %s", co_reports);
}

static void busy_callback(void *arg)
{
    (void)arg;
    double t0 = mt_monotonic();
    while (mt_monotonic() - t0 < 0.06)
        ;
}

static int busy_main(void *arg)
{
    (void)arg;
    busy_callback(NULL);
    mt_co_call_later(NULL, 0, busy_callback, NULL);
    return mt_co_sleep(0.01);
}

LEAK_TEST(coro, debug_mode_reports_slow_tasks, .timeout = 20)
{
    co_reports[0] = '\0';
    cr_assert_eq(mt_run(busy_main, NULL,
                        &(mt_run_opts){.debug = true, .slow_callback_duration = 0.03,
                                       .report = co_collect}),
                 0);
    cr_expect(strstr(co_reports, "Executing task 'main' took"), "reports: %s", co_reports);
    cr_expect(strstr(co_reports, "Executing a timer callback took"), "reports: %s", co_reports);
}

/* ---- stacks ------------------------------------------------------------ */

typedef struct shared_arg {
    int id;
    int ok;
} shared_arg;

static int shared_worker(void *arg)
{
    shared_arg *a = arg;
    volatile char local[300];
    for (size_t i = 0; i < sizeof local; i++)
        local[i] = (char)(a->id + (int)i);
    for (int round = 0; round < 3; round++) {
        if (round == 1)
            mt_co_sleep(0.01);
        else
            mt_co_yield();
        for (size_t i = 0; i < sizeof local; i++)
            if (local[i] != (char)(a->id + (int)i))
                return -EILSEQ;
    }
    a->ok = 1;
    return 0;
}

enum { NSHARED = 500 };

static int shared_main(void *arg)
{
    shared_arg *args = arg;
    static mt_task *ts[NSHARED];
    for (int i = 0; i < NSHARED; i++) {
        args[i].id = i;
        mt_task_opts o = {.stack = i % 3 ? MT_STACK_SHARED : MT_STACK_PRIVATE};
        cr_assert_eq(mt_task_create(&ts[i], shared_worker, &args[i], &o), 0);
    }
    int r = mt_co_gather(ts, NSHARED, NULL, NULL);
    release_all(ts, NSHARED);
    return r;
}

LEAK_TEST(coro, shared_stack_tasks_keep_their_frames, .timeout = 30)
{
    static shared_arg args[NSHARED];
    cr_assert_eq(co_run(shared_main, args), 0);
    for (int i = 0; i < NSHARED; i++)
        cr_expect_eq(args[i].ok, 1, "task %d", i);
}

/* ThreadSanitizer counts each coroutine as a thread, and stops at 8128. */
#ifdef __SANITIZE_THREAD__
enum { NMANY = 4000 };
#else
enum { NMANY = 20000 };
#endif

static int many_main(void *arg)
{
    int *count = arg;
    enum { N = NMANY };
    for (int i = 0; i < N; i++)
        cr_assert_eq(mt_task_create(NULL, loop_api_task, count, NULL), 0);
    while (*count < N)
        mt_co_sleep(0.01);
    return 0;
}

LEAK_TEST(coro, thousands_of_sleepers, .timeout = 60)
{
    int count = 0;
    cr_assert_eq(co_run(many_main, &count), 0);
    cr_expect_eq(count, NMANY);
}

/* Resident memory of this process, in bytes. */
static long resident_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    long rss = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            rss = atol(line + 6) * 1024;
    if (f)
        fclose(f);
    return rss;
}

/* ThreadSanitizer makes each coroutine dear (a fiber of its own). */
#ifdef __SANITIZE_THREAD__
enum { NSLEEPERS = 2000 };
#else
enum { NSLEEPERS = 20000 };
#endif

static int one_shared_sleeper(void *arg)
{
    int *count = arg;
    int r = mt_co_sleep(0.3);
    ++*count;
    return r;
}

static int shared_sleepers_main(void *arg)
{
    long *per_task = arg;
    int count = 0;
    mt_task_opts o = {.stack = MT_STACK_SHARED};
    /* One first, so that the shared stack and the allocator's arena are
     * there before the count starts. */
    cr_assert_eq(mt_task_create(NULL, one_shared_sleeper, &count, &o), 0);
    mt_co_yield();
    long before = resident_bytes();
    for (int i = 1; i < NSLEEPERS; i++)
        cr_assert_eq(mt_task_create(NULL, one_shared_sleeper, &count, &o), 0);
    mt_co_sleep(0.1); /* every one has started its sleep */
    long after = resident_bytes();
    *per_task = (after - before) / (NSLEEPERS - 1);
    while (count < NSLEEPERS)
        mt_co_sleep(0.01);
    return 0;
}

/* What a sleeping shared-stack coroutine costs: its record and its saved
 * frames, 288 bytes with glibc's allocator on x86-64 (448 before the record
 * was slimmed and the sleep's frame shrunk). The sanitizers add their own
 * redzones and shadow, and the ucontext switch a ucontext_t to each record
 * (about 1.2 KB), so the bound is checked without them. */
LEAK_TEST(coro, a_sleeping_shared_stack_task_costs_under_320_bytes, .timeout = 60)
{
    long per_task = 0;
    cr_assert_eq(co_run(shared_sleepers_main, &per_task), 0);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) && defined(__x86_64__) && \
    !defined(MT_CORO_UCONTEXT)
    cr_expect_leq(per_task, 320, "%ld bytes a sleeping shared-stack task", per_task);
#endif
    cr_expect_gt(per_task, 0);
}

/* ---- a freed task's record is reused clean ------------------------------ */

static int leaves_things_behind(void *arg)
{
    (void)arg;
    mt_buf *b;
    cr_assert_eq(mt_task_result_buf(&b), 0);
    cr_assert_eq(mt_buf_append(b, "old", 3), 0);
    static mt_co_timeout scope; /* left open: abandoned when the task ends */
    cr_assert_eq(mt_co_timeout_begin(&scope, 0.01), 0);
    return 7;
}

static int sleeps_a_little(void *arg)
{
    (void)arg;
    return mt_co_sleep(0.05); /* 0, not the old task's -ETIMEDOUT */
}

static int reuse_main(void *arg)
{
    (void)arg;
    for (int round = 0; round < 3; round++) {
        mt_task *old, *t;
        cr_assert_eq(mt_task_create(&old, leaves_things_behind, NULL,
                                    &(mt_task_opts){.name = "old-one"}),
                     0);
        cr_assert_eq(mt_task_await(old), 7);
        mt_iov iov;
        cr_assert_eq(mt_task_result_bytes(old, &iov), 7);
        cr_assert_eq(iov.len, 3);
        mt_task_free(old);
        /* The next task of the default stack takes the record just freed. */
        cr_assert_eq(mt_task_create(&t, sleeps_a_little, NULL, NULL), 0);
        cr_expect_neq(strcmp(mt_task_name(t), "old-one"), 0);
        cr_expect_eq(strncmp(mt_task_name(t), "Task-", 5), 0, "%s", mt_task_name(t));
        cr_expect_eq(mt_task_await(t), 0);
        cr_assert_eq(mt_task_result_bytes(t, &iov), 0);
        cr_expect_eq(iov.len, 0);
        mt_task_free(t);
    }
    return 0;
}

LEAK_TEST(coro, a_reused_task_record_starts_clean, .timeout = 20)
{
    cr_assert_eq(co_run(reuse_main, NULL), 0);
}

/* Recursion that uses ~1 KiB a level until `depth` levels. */
static int recurse(int depth)
{
    volatile char frame[1024];
    for (size_t i = 0; i < sizeof frame; i++)
        frame[i] = (char)depth;
    if (depth <= 0)
        return frame[0];
    return recurse(depth - 1) + frame[sizeof frame - 1];
}

static int deep(void *arg)
{
    int depth = (int)(long)arg;
    recurse(depth);
    return mt_co_yield();
}

/* Run fn(arg) in a child process with MT_CO_GUARD=guard (NULL: unset);
 * returns its wait status (the child exits with fn's result), its stderr
 * in err. */
static int in_child(int (*fn)(void *arg), void *arg, const char *guard, char *err, size_t cap)
{
    int fds[2];
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        if (guard)
            setenv("MT_CO_GUARD", guard, 1);
        _exit(fn(arg));
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = read(fds[0], err + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    err[len] = '\0';
    close(fds[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}

typedef struct deep_run {
    int depth;
    mt_stack_mode mode;
} deep_run;

static int run_deep(void *arg)
{
    deep_run *d = arg;
    mt_loop *l;
    mt_task *t;
    if (mt_loop_new(&l, &(mt_run_opts){.shared_stack_size = 64 << 10}) != 0)
        return 90;
    mt_loop_create_task(l, deep, (void *)(long)d->depth, &(mt_task_opts){.name = "deep-one", .stack_size = 64 << 10,
                                        .stack = d->mode}, &t);
    mt_loop_run_until_complete(l, t);
    return 0;
}

/* Run a coroutine that recurses `depth` KiB deep on a 64 KiB stack in a
 * child process; returns its wait status, stderr in err. */
static int overflow_child(const char *guard, int depth, mt_stack_mode mode, char *err, size_t cap)
{
    return in_child(run_deep, &(deep_run){depth, mode}, guard, err, cap);
}

LEAK_TEST(coro, stack_overflow_names_the_coroutine, .timeout = 60)
{
    char err[4096];
    const char *guards[] = {NULL, "mprotect"};
    for (int i = 0; i < 2; i++) {
        int status = overflow_child(guards[i], 1000, MT_STACK_PRIVATE, err, sizeof err);
        cr_expect(strstr(err, "multitask: coroutine 'deep-one' overflowed its stack of 65536 bytes"),
                  "guard %s: stderr: %s", guards[i] ? guards[i] : "default", err);
        cr_expect(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0),
                  "status %#x", status);
        cr_expect(!WIFEXITED(status) || WEXITSTATUS(status) != 0);
    }
    /* The shared stack has its guard too. */
    int status = overflow_child(NULL, 1000, MT_STACK_SHARED, err, sizeof err);
    cr_expect(strstr(err, "coroutine 'deep-one' overflowed its stack"), "stderr: %s", err);
    cr_expect(!WIFEXITED(status) || WEXITSTATUS(status) != 0);
#ifndef __SANITIZE_ADDRESS__
    /* The canary: found when the coroutine next suspends. A depth just
     * past the stack stays within the mapping's unused guard room. */
    status = overflow_child("canary", 66, MT_STACK_PRIVATE, err, sizeof err);
    cr_expect(strstr(err, "coroutine 'deep-one' overflowed its stack of 65536 bytes"),
              "stderr: %s", err);
    cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %#x", status);
#endif
    /* A stack that is deep enough is fine. */
    status = overflow_child(NULL, 40, MT_STACK_PRIVATE, err, sizeof err);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x: %s", status, err);
}

/* The shared stack's guard faults whatever MT_CO_GUARD says: a canary below
 * it was never checked (its tasks' frames are copied in and out), so with
 * MT_CO_GUARD=canary an overflow there went on unnoticed. */
LEAK_TEST(coro, shared_stack_keeps_its_guard_with_canaries, .timeout = 60)
{
    char err[4096];
    int status = overflow_child("canary", 1000, MT_STACK_SHARED, err, sizeof err);
    cr_expect(strstr(err, "multitask: coroutine 'deep-one' overflowed its stack of 65536 bytes"),
              "stderr: %s", err);
    cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "status %#x", status);
}

/* A frame larger than the stack and its guard together. */
#ifdef __SANITIZE_ADDRESS__
#define BIG_FRAME ((size_t)(256 + 32) << 10)
#else
#define BIG_FRAME ((size_t)(64 + 32) << 10)
#endif
#define NEIGHBOUR_BYTES ((size_t)48 << 10)

/* Fills its locals, sleeps while the big frame runs, then says whether
 * they are intact. */
static int neighbour(void *arg)
{
    (void)arg;
    volatile unsigned char mine[NEIGHBOUR_BYTES];
    for (size_t i = 0; i < sizeof mine; i++)
        mine[i] = 0x5a;
    mt_co_sleep(0.05);
    for (size_t i = 0; i < sizeof mine; i++)
        if (mine[i] != 0x5a)
            return 3;
    return 0;
}

/* One big local array, of which only the lowest bytes are written: that
 * write lands below the guard, in the neighbouring stack, unless the frame
 * is probed page by page on its way down (-fstack-clash-protection). */
static int big_frame(void *arg)
{
    (void)arg;
    volatile unsigned char big[BIG_FRAME];
    big[0] = 1;
    big[1] = 2;
    return big[0] + big[1] + mt_co_yield();
}

static int run_big_frame(void *arg)
{
    (void)arg;
    mt_loop *l;
    mt_task *n, *b;
    if (mt_loop_new(&l, NULL) != 0)
        return 90;
    mt_loop_create_task(l, neighbour, NULL, &(mt_task_opts){.name = "neighbour"}, &n);
    mt_loop_create_task(l, big_frame, NULL, &(mt_task_opts){.name = "big-frame"}, &b);
    mt_loop_run_until_complete(l, b);
    return mt_loop_run_until_complete(l, n);
}

/* Before (built without stack-clash protection), the big frame's write
 * went into the neighbour's locals and the program went on. */
LEAK_TEST(coro, a_frame_larger_than_the_guard_faults_in_it, .timeout = 60)
{
    char err[4096];
    int status = in_child(run_big_frame, NULL, NULL, err, sizeof err);
    cr_expect(strstr(err, "multitask: coroutine 'big-frame' overflowed its stack"), "stderr: %s",
              err);
    cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "status %#x", status);
}
