/*
 * stress_executor.c - the thread pool's races, run as a plain program so
 * that ThreadSanitizer can watch it (Criterion's runner cannot start under
 * TSan: it maps its arena at addresses TSan reserves). Several threads
 * submit, cancel, wait and shut down at once; every outcome is checked, and
 * a wait that takes seconds counts as a lost wake-up. Exits 1 on any
 * failure (TSan adds its own exit status for a race).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multitask.h"

#define LONG_WAIT 20.0 /* seconds: beyond this a wait counts as lost */

static _Atomic int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            atomic_fetch_add(&failures, 1);                                                        \
        }                                                                                          \
    } while (0)

static long read_long(const void *p)
{
    long v;
    memcpy(&v, p, sizeof v);
    return v;
}

static int read_int(const void *p)
{
    int v;
    memcpy(&v, p, sizeof v);
    return v;
}

static int square(const void *arg, size_t len, mt_buf *out)
{
    if (len != sizeof(long))
        return -EINVAL;
    long x = read_long(arg);
    x *= x;
    return mt_buf_append(out, &x, sizeof x);
}

/* square after a few microseconds' sleep */
static int slow_square(const void *arg, size_t len, mt_buf *out)
{
    mt_sleep((double)(read_long(arg) % 7) * 1e-5);
    return square(arg, len, out);
}

/* A finished future's outcome: its square, or -ECANCELED. */
static void check_square(mt_future *f, long x, bool may_cancel)
{
    mt_iov r;
    int err = mt_future_result(f, LONG_WAIT, &r);
    if (err == -ECANCELED && may_cancel)
        return;
    CHECK(err == 0, "item %ld: %s", x, mt_strerror(err));
    if (err == 0)
        CHECK(r.len == sizeof x && read_long(r.data) == x * x, "item %ld: wrong result", x);
}

static mt_executor *executor(int workers)
{
    mt_executor *ex;
    if (mt_executor_new(&ex, &(mt_executor_opts){.max_workers = workers}) < 0) {
        fprintf(stderr, "mt_executor_new failed\n");
        exit(1);
    }
    return ex;
}

static void count_call(mt_future *f, void *arg)
{
    (void)f;
    atomic_fetch_add((_Atomic int *)arg, 1);
}

/* ---- producers and cancellers at once ---------------------------------- */

#define PER_THREAD 3000

typedef struct shared {
    mt_executor *ex;
    mt_future *fs[4][PER_THREAD];
    _Atomic int submitted[4];
    _Atomic int calls;
    _Atomic bool stop;
} shared;

typedef struct role {
    shared *s;
    int id;
} role;

static void *produce(void *arg)
{
    role *r = arg;
    for (long i = 0; i < PER_THREAD; i++) {
        long x = r->id * 100000L + i;
        mt_future *f;
        int err = mt_executor_submit(r->s->ex, i % 3 ? square : slow_square, &x, sizeof x, &f);
        if (err == MT_ECLOSED)
            break;
        CHECK(err == 0, "submit: %s", mt_strerror(err));
        if (err < 0)
            break;
        CHECK(mt_future_add_done_callback(f, count_call, &r->s->calls) == 0, "callback");
        r->s->fs[r->id][i] = f;
        atomic_store(&r->s->submitted[r->id], (int)i + 1);
    }
    return NULL;
}

/* Cancel every fifth future of producer 0 as it appears. */
static void *cancel_some(void *arg)
{
    shared *s = arg;
    int done = 0;
    while (done < PER_THREAD && !atomic_load(&s->stop)) {
        int n = atomic_load(&s->submitted[0]);
        for (; done < n; done++) {
            if (done % 5 == 0) {
                int err = mt_future_cancel(s->fs[0][done]);
                CHECK(err == 0 || err == -EBUSY, "cancel: %s", mt_strerror(err));
            }
        }
    }
    return NULL;
}

static void producers_and_cancels(bool shut_down_midway)
{
    shared *s = calloc(1, sizeof *s);
    s->ex = executor(3);
    pthread_t th[5];
    role roles[4];
    for (int i = 0; i < 4; i++) {
        roles[i] = (role){s, i};
        pthread_create(&th[i], NULL, produce, &roles[i]);
    }
    pthread_create(&th[4], NULL, cancel_some, s);
    if (shut_down_midway) {
        mt_sleep(0.002);
        CHECK(mt_executor_shutdown(s->ex, MT_SHUTDOWN_WAIT | MT_SHUTDOWN_CANCEL_FUTURES) == 0, "shutdown");
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    atomic_store(&s->stop, true);
    pthread_join(th[4], NULL);
    int total = 0;
    for (int t = 0; t < 4; t++) {
        int n = atomic_load(&s->submitted[t]);
        total += n;
        CHECK(shut_down_midway || n == PER_THREAD, "producer %d submitted %d", t, n);
        for (int i = 0; i < n; i++) {
            check_square(s->fs[t][i], t * 100000L + i, t == 0 || shut_down_midway);
            mt_future_free(s->fs[t][i]);
        }
    }
    mt_executor_free(s->ex);
    CHECK(atomic_load(&s->calls) == total, "%d callbacks for %d futures", s->calls, total);
    free(s);
}

/* ---- bursts with pauses: workers sleep and wake ------------------------ */

static void bursts(void)
{
    mt_executor *ex = executor(4);
    mt_future *fs[16];
    for (int round = 0; round < 300; round++) {
        int k = 1 + round % 16;
        for (long i = 0; i < k; i++)
            CHECK(mt_executor_submit(ex, square, &i, sizeof i, &fs[i]) == 0, "submit");
        for (long i = 0; i < k; i++) {
            CHECK(mt_future_wait(fs[i], LONG_WAIT) == 0, "round %d: lost wake-up", round);
            check_square(fs[i], i, false);
            mt_future_free(fs[i]);
        }
        mt_sleep(round % 3 ? 5e-5 : 2e-4); /* past the spin: the workers sleep */
    }
    mt_executor_free(ex);
}

/* ---- waiting on many while they finish ---------------------------------- */

#define NWAIT 300

static void waits_while_finishing(void)
{
    mt_executor *ex = executor(3);
    mt_future *fs[NWAIT], *not_done[NWAIT];
    for (long i = 0; i < NWAIT; i++)
        CHECK(mt_executor_submit(ex, slow_square, &i, sizeof i, &fs[i]) == 0, "submit");

    /* Python's loop: wait(not_done, FIRST_COMPLETED) until none is left. */
    mt_future *pending[NWAIT];
    memcpy(pending, fs, sizeof fs);
    size_t npending = NWAIT, rounds = 0;
    while (npending && rounds++ < 10 * NWAIT) {
        size_t nd, nn;
        int err = mt_wait(pending, npending, LONG_WAIT, MT_FIRST_COMPLETED, NULL, &nd, not_done,
                          &nn);
        CHECK(err == 0 && nd >= 1 && nd + nn == npending, "wait: %s", mt_strerror(err));
        memcpy(pending, not_done, nn * sizeof *not_done);
        npending = nn;
    }
    CHECK(npending == 0, "%zu futures never finished", npending);

    /* as_completed freed while its futures are still finishing. */
    for (long i = 0; i < NWAIT; i++) {
        mt_future_free(fs[i]);
        CHECK(mt_executor_submit(ex, slow_square, &i, sizeof i, &fs[i]) == 0, "submit");
    }
    mt_as_completed *it;
    CHECK(mt_as_completed_new(&it, fs, NWAIT, LONG_WAIT) == 0, "as_completed");
    for (int k = 0; k < NWAIT / 3; k++) {
        size_t i;
        mt_future *f;
        CHECK(mt_as_completed_next(it, &i, &f) == 0, "next");
        CHECK(i < NWAIT && f == fs[i], "next gave a wrong entry");
    }
    mt_as_completed_free(it);
    CHECK(mt_wait(fs, NWAIT, LONG_WAIT, MT_ALL_COMPLETED, NULL, NULL, NULL, NULL) == 0, "all");
    for (long i = 0; i < NWAIT; i++) {
        check_square(fs[i], i, false);
        mt_future_free(fs[i]);
    }
    mt_executor_free(ex);
}

/* ---- a failing initializer while others submit --------------------------- */

static int init_fails(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len;
    mt_sleep(1e-4);
    return mt_fail(out, -EIO, "no");
}

typedef struct broken_role {
    mt_executor *ex;
    _Atomic int outcomes;
} broken_role;

static void *submit_to_broken(void *arg)
{
    broken_role *b = arg;
    for (long i = 0; i < 500; i++) {
        mt_future *f;
        int err = mt_executor_submit(b->ex, square, &i, sizeof i, &f);
        if (err == MT_EBROKEN) {
            atomic_fetch_add(&b->outcomes, 1);
            continue;
        }
        CHECK(err == 0, "submit: %s", mt_strerror(err));
        err = mt_future_result(f, LONG_WAIT, NULL);
        CHECK(err == MT_EBROKEN, "queued task: %s", mt_strerror(err));
        atomic_fetch_add(&b->outcomes, 1);
        mt_future_free(f);
    }
    return NULL;
}

static void broken_while_submitting(void)
{
    broken_role b = {.outcomes = 0};
    mt_executor_new(&b.ex, &(mt_executor_opts){.max_workers = 2, .initializer = init_fails});
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, submit_to_broken, &b);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    CHECK(b.outcomes == 1500, "%d outcomes", b.outcomes);
    mt_executor_free(b.ex);
}

/* ---- map timing out while its items run ---------------------------------- */

static void map_timeouts(void)
{
    mt_executor *ex = executor(2);
    long items[400];
    for (long i = 0; i < 400; i++)
        items[i] = i;
    for (int round = 0; round < 5; round++) {
        mt_results *r;
        int err = mt_executor_map(ex, slow_square, items, 400, sizeof(long), 1e-3, &r);
        CHECK(err == 0 || err == -ETIMEDOUT, "map: %s", mt_strerror(err));
        for (size_t i = 0; r && i < 400; i++) {
            mt_iov v;
            int e = mt_results_get(r, i, &v);
            CHECK(e == 0 || e == -ETIMEDOUT || e == -ECANCELED, "item %zu: %d", i, e);
            if (e == 0)
                CHECK(read_long(v.data) == (long)(i * i), "item %zu: wrong result", i);
        }
        mt_results_free(r);
    }
    mt_executor_free(ex);
}

/* ---- shutting down from inside, or without waiting ----------------------- */

static mt_executor *self_ex;

/* Submit to our own executor, wait for it, then shut the executor down. */
static int shut_down_from_inside(const void *arg, size_t len, mt_buf *out)
{
    (void)len;
    mt_future *f;
    long x = read_long(arg);
    int err = mt_executor_submit(self_ex, square, &x, sizeof x, &f);
    if (err < 0)
        return err;
    check_square(f, x, false);
    mt_future_free(f);
    err = mt_executor_shutdown(self_ex, MT_SHUTDOWN_WAIT);
    return mt_buf_append(out, &err, sizeof err);
}

static void shutdowns(void)
{
    for (long round = 0; round < 20; round++) {
        /* The last task shuts the executor down: the others still run. */
        self_ex = executor(3);
        mt_future *fs[8];
        for (long i = 0; i < 8; i++) {
            int err = mt_executor_submit(self_ex, i < 7 ? slow_square : shut_down_from_inside,
                                         &i, sizeof i, &fs[i]);
            CHECK(err == 0, "submit %ld: %s", i, mt_strerror(err));
            if (err < 0)
                exit(1);
        }
        for (long i = 0; i < 7; i++) {
            check_square(fs[i], i, false);
            mt_future_free(fs[i]);
        }
        mt_iov r;
        int err = mt_future_result(fs[7], LONG_WAIT, &r);
        CHECK(err == 0 && r.len == sizeof err, "shutdown task: %s", mt_strerror(err));
        if (err == 0)
            CHECK(read_int(r.data) == -EDEADLK, "shutdown from inside: %d", read_int(r.data));
        mt_future_free(fs[7]);
        mt_executor_free(self_ex);

        mt_executor *ex = executor(2);
        for (long i = 0; i < 8; i++) {
            int err2 = mt_executor_submit(ex, slow_square, &i, sizeof i, &fs[i]);
            CHECK(err2 == 0, "submit %ld: %s", i, mt_strerror(err2));
            if (err2 < 0)
                exit(1);
        }
        CHECK(mt_executor_shutdown(ex, (round % 2 ? MT_SHUTDOWN_CANCEL_FUTURES : 0)) == 0, "shutdown without wait");
        mt_executor_free(ex);
        for (long i = 0; i < 8; i++) {
            CHECK(mt_future_done(fs[i]), "free returned before item %ld ended", i);
            check_square(fs[i], i, round % 2);
            mt_future_free(fs[i]);
        }
    }
}

/* ---- process pool and thread pool futures mixed --------------------------- */

static void mixed_with_a_process_pool(void)
{
    mt_pool *pool; /* first: its workers are forked before our threads exist */
    if (mt_pool_new(&pool, &(mt_pool_opts){.processes = 2}) < 0) {
        fprintf(stderr, "mt_pool_new failed\n");
        exit(1);
    }
    mt_executor *ex = executor(2);
    mt_future *fs[2 * NWAIT / 3];
    size_t n = sizeof fs / sizeof fs[0];
    for (long i = 0; i < (long)n; i++) {
        int err = i % 2 ? mt_executor_submit(ex, slow_square, &i, sizeof i, &fs[i])
                        : mt_pool_apply_async(pool, square, &i, sizeof i, &fs[i]);
        CHECK(err == 0, "submit %ld: %s", i, mt_strerror(err));
    }
    mt_as_completed *it;
    CHECK(mt_as_completed_new(&it, fs, n, LONG_WAIT) == 0, "as_completed");
    size_t seen = 0, i;
    mt_future *f;
    while (mt_as_completed_next(it, &i, &f) == 0) {
        check_square(f, (long)i, false);
        seen++;
    }
    CHECK(seen == n, "as_completed gave %zu of %zu", seen, n);
    mt_as_completed_free(it);
    for (i = 0; i < n; i++)
        mt_future_free(fs[i]);
    mt_executor_free(ex);
    mt_pool_free(pool);
}

int main(void)
{
    mixed_with_a_process_pool();
    for (int i = 0; i < 3; i++) {
        producers_and_cancels(false);
        producers_and_cancels(true);
    }
    bursts();
    shutdowns();
    waits_while_finishing();
    broken_while_submitting();
    map_timeouts();
    int n = atomic_load(&failures);
    if (n)
        fprintf(stderr, "stress_executor: %d failures\n", n);
    return n ? 1 : 0;
}
