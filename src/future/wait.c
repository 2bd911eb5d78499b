/*
 * wait.c - waiting on many futures at once: mt_wait and mt_as_completed.
 * Both put one done callback on each future and sleep on a waiter that the
 * callbacks update, so that futures from any producer (threads, processes,
 * later the loop) can be mixed and nothing polls. Futures cannot forget a
 * callback once it is running, so the waiter counts the callbacks it still
 * expects and is freed only when none can reach it any more.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "../core/core_internal.h"
#include "future_internal.h"

typedef struct waiter waiter;

/* One entry of fs: the argument of its done callback. */
typedef struct watch {
    waiter *w;
    size_t index;
    bool added;    /* the callback was added (it may have run since) */
    bool reported; /* counted as finished; under w->mu */
} watch;

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cond; /* broadcast by every callback */
    mt_future **fs;
    size_t n;
    bool refs;       /* fs holds references of ours (as_completed) */
    size_t ndone;    /* entries finished, in order[0..ndone) */
    size_t nfailed;  /* of which failed (not cancelled) */
    size_t nyielded; /* as_completed: entries handed back */
    size_t expected; /* callbacks added that have neither run nor been removed */
    size_t *order;
    watch *watches;
    mt__deadline deadline;
};

/* Whether a finished future failed: done with an error, not cancelled. */
static bool failed(mt_future *f)
{
    return !mt_future_cancelled(f) && mt_future_result(f, 0, NULL) != 0;
}

/* Count entry e as finished; w->mu held. */
static void report(waiter *w, watch *e, bool fail)
{
    if (e->reported)
        return;
    e->reported = true;
    w->order[w->ndone++] = e->index;
    w->nfailed += fail;
}

static void on_done(mt_future *f, void *arg)
{
    watch *e = arg;
    waiter *w = e->w;
    bool fail = failed(f);
    pthread_mutex_lock(&w->mu);
    report(w, e, fail);
    w->expected--;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu); /* the last touch of w */
}

static bool valid_futures(mt_future *const *fs, size_t n)
{
    if (n && !fs)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!fs[i])
            return false;
    return true;
}

/* Take every callback off again, wait for those already running, free. */
static void waiter_free(waiter *w)
{
    for (size_t i = 0; i < w->n; i++) {
        watch *e = &w->watches[i];
        if (!e->added || mt__future_remove_done_callback(w->fs[i], on_done, e) < 0)
            continue;
        pthread_mutex_lock(&w->mu);
        w->expected--;
        pthread_mutex_unlock(&w->mu);
    }
    pthread_mutex_lock(&w->mu);
    while (w->expected)
        pthread_cond_wait(&w->cond, &w->mu);
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; w->refs && i < w->n; i++)
        mt_future_free(w->fs[i]);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
    free(w->watches);
    free(w->order);
    free(w->fs);
    free(w);
}

/* Make a waiter and put its callback on every future (those already done
 * report at once). `refs`: take a reference on each future. */
static int waiter_new(waiter **out, mt_future *const *fs, size_t n, double timeout, bool refs)
{
    waiter *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    size_t cap = n ? n : 1;
    w->fs = malloc(cap * sizeof *w->fs);
    w->order = malloc(cap * sizeof *w->order);
    w->watches = calloc(cap, sizeof *w->watches);
    if (!w->fs || !w->order || !w->watches || pthread_mutex_init(&w->mu, NULL) != 0)
        goto fail_alloc;
    if (mt__cond_init(&w->cond) < 0)
        goto fail_mutex;
    w->n = n;
    w->refs = refs;
    w->deadline = mt__deadline_in(timeout); /* NaN was refused before */
    for (size_t i = 0; i < n; i++)
        w->fs[i] = refs ? mt_future_ref(fs[i]) : fs[i];
    for (size_t i = 0; i < n; i++) {
        w->watches[i] = (watch){w, i, false, false};
        pthread_mutex_lock(&w->mu);
        w->expected++;
        pthread_mutex_unlock(&w->mu);
        if (mt_future_add_done_callback(w->fs[i], on_done, &w->watches[i]) < 0) {
            pthread_mutex_lock(&w->mu);
            w->expected--;
            pthread_mutex_unlock(&w->mu);
            waiter_free(w);
            return -ENOMEM;
        }
        w->watches[i].added = true;
    }
    *out = w;
    return 0;

fail_mutex:
    pthread_mutex_destroy(&w->mu);
fail_alloc:
    free(w->watches);
    free(w->order);
    free(w->fs);
    free(w);
    return -ENOMEM;
}

static bool holds(mt_return_when when, size_t ndone, size_t nfailed, size_t n)
{
    return ndone == n || (when == MT_FIRST_COMPLETED && ndone) ||
           (when == MT_FIRST_EXCEPTION && nfailed);
}

int mt_wait(mt_future *const *fs, size_t n, double timeout, mt_return_when when,
            mt_future **done, size_t *ndone, mt_future **not_done, size_t *nnot_done)
{
    if (!valid_futures(fs, n) || timeout != timeout ||
        (when != MT_ALL_COMPLETED && when != MT_FIRST_COMPLETED && when != MT_FIRST_EXCEPTION))
        return -EINVAL;
    waiter *w;
    int err = waiter_new(&w, fs, n, timeout, false);
    if (err < 0)
        return err;
    pthread_mutex_lock(&w->mu);
    while (!holds(when, w->ndone, w->nfailed, n) &&
           mt__cond_wait(&w->cond, &w->mu, w->deadline) == 0)
        ;
    pthread_mutex_unlock(&w->mu);
    waiter_free(w);

    /* Sort by what the futures say now, and answer for that picture. */
    size_t nd = 0, nn = 0, nfailed = 0;
    for (size_t i = 0; i < n; i++) {
        if (mt_future_done(fs[i])) {
            nfailed += failed(fs[i]);
            if (done)
                done[nd] = fs[i];
            nd++;
        } else {
            if (not_done)
                not_done[nn] = fs[i];
            nn++;
        }
    }
    if (ndone)
        *ndone = nd;
    if (nnot_done)
        *nnot_done = nn;
    return holds(when, nd, nfailed, n) ? 0 : -ETIMEDOUT;
}

struct mt_as_completed {
    waiter *w;
};

int mt_as_completed_new(mt_as_completed **out, mt_future *const *fs, size_t n, double timeout)
{
    if (!out || !valid_futures(fs, n) || timeout != timeout)
        return -EINVAL;
    mt_as_completed *it = malloc(sizeof *it);
    if (!it)
        return -ENOMEM;
    int err = waiter_new(&it->w, fs, n, timeout, true);
    if (err < 0) {
        free(it);
        return err;
    }
    *out = it;
    return 0;
}

/* A future is done a moment before its callbacks run: before answering
 * "timed out", count those already done whose callback has not reported
 * yet. w->mu held. */
static void catch_up(waiter *w)
{
    for (size_t i = 0; i < w->n; i++)
        if (!w->watches[i].reported && mt_future_done(w->fs[i]))
            report(w, &w->watches[i], failed(w->fs[i]));
}

int mt_as_completed_next(mt_as_completed *it, size_t *index, mt_future **f)
{
    if (!it)
        return -EINVAL;
    waiter *w = it->w;
    int err = 0;
    pthread_mutex_lock(&w->mu);
    while (w->nyielded == w->ndone && w->nyielded < w->n && err == 0)
        err = mt__cond_wait(&w->cond, &w->mu, w->deadline);
    if (w->nyielded == w->ndone && w->nyielded < w->n)
        catch_up(w);
    if (w->nyielded < w->ndone) {
        size_t i = w->order[w->nyielded++];
        if (index)
            *index = i;
        if (f)
            *f = w->fs[i];
        err = 0;
    } else if (w->nyielded == w->n) {
        err = MT_EOF;
    }
    pthread_mutex_unlock(&w->mu);
    return err;
}

void mt_as_completed_free(mt_as_completed *it)
{
    if (!it)
        return;
    waiter_free(it->w);
    free(it);
}
