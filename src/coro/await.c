/*
 * await.c - awaiting tasks: one (await, shield, wait_for), or many
 * (gather, wait). A waiter record on the awaiting coroutine's stack sits on
 * each awaited task's list and wakes the awaiter when that task ends.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coro_internal.h"

/* ---- one task --------------------------------------------------------- */

typedef struct one_waiter {
    mt__waiter w;
    mt_task *who;
} one_waiter;

static void one_notify(mt__waiter *w, mt_task *ended)
{
    (void)ended;
    mt__wake(((one_waiter *)w)->who, 0);
}

static int check_awaitable(mt_task *cur, mt_task *t)
{
    if (!cur)
        return MT_ENOTCORO;
    if (!t || t == cur || t->loop != cur->loop)
        return -EINVAL;
    return 0;
}

/* Await t; with pass_on, the caller's cancellation or timeout cancels t
 * and waits for its end; without (shield), returns at once. */
static int await_one(mt_task *t, bool pass_on)
{
    mt_task *cur = mt__current();
    int err = check_awaitable(cur, t);
    if (err)
        return err;
    if (t->state != MT__T_DONE) {
        one_waiter local, *rec = mt__rec(cur, &local, sizeof local);
        if (!rec)
            return -ENOMEM;
        *rec = (one_waiter){.w.notify = one_notify, .who = cur};
        mt__waiter_add(t, &rec->w);
        int r = 0;
        while (!r && t->state != MT__T_DONE)
            r = mt__suspend(cur, false);
        if (r && t->state != MT__T_DONE) {
            if (!pass_on) {
                mt__waiter_remove(t, &rec->w);
                mt__rec_free(rec, &local);
                return r;
            }
            mt__interrupt(t, MT__I_CANCEL);
            while (t->state != MT__T_DONE)
                mt__suspend(cur, true);
            mt__rec_free(rec, &local);
            t->flags |= MT__F_RETRIEVED;
            return r;
        }
        mt__waiter_remove(t, &rec->w);
        mt__rec_free(rec, &local);
    }
    t->flags |= MT__F_RETRIEVED;
    return t->result;
}

int mt_task_await(mt_task *t)
{
    return await_one(t, true);
}

int mt_co_shield(mt_task *t)
{
    return await_one(t, false);
}

int mt_co_wait_for(mt_task *t, double timeout)
{
    mt_task *cur = mt__current();
    int err = check_awaitable(cur, t);
    if (err)
        return err;
    mt_co_timeout scope;
    err = mt_co_timeout_begin(&scope, timeout);
    if (err)
        return err;
    int r = mt_task_await(t);
    int e = mt_co_timeout_end(&scope);
    if (e == -ETIMEDOUT && r == -ETIMEDOUT)
        return -ETIMEDOUT;
    return r;
}

/* ---- many tasks ------------------------------------------------------- */

typedef struct many {
    mt_task *who;
    size_t remaining; /* tasks not ended */
    int first_error;  /* gather: the first failure seen */
    bool stop_on_error;
    mt_return_when when;
    bool draining;    /* waiting for every task, whatever happens */
    bool satisfied;
} many;

typedef struct many_waiter {
    mt__waiter w;
    many *m;
} many_waiter;

static void many_notify(mt__waiter *w, mt_task *ended)
{
    many *m = ((many_waiter *)w)->m;
    m->remaining--;
    bool failed = ended->result < 0 && ended->result != -ECANCELED;
    if (m->stop_on_error && ended->result < 0 && !m->first_error)
        m->first_error = ended->result;
    if (m->remaining == 0 || (!m->draining && m->stop_on_error && m->first_error) ||
        (!m->draining && m->when == MT_FIRST_COMPLETED) ||
        (!m->draining && m->when == MT_FIRST_EXCEPTION && failed))
        m->satisfied = true;
    if (m->satisfied || m->remaining == 0)
        mt__wake(m->who, 0);
}

/* Records on the stack for a few tasks, on the heap for many. */
#define MANY_ON_STACK 16

/* What an awaiter of many tasks keeps while it waits (see mt__rec). */
typedef struct many_state {
    many m;
    mt__wake_timer wt;
    many_waiter local[MANY_ON_STACK];
} many_state;

static int many_begin(many *m, mt_task *const *ts, size_t n, many_waiter *local,
                      many_waiter **recs)
{
    *recs = n <= MANY_ON_STACK ? local : malloc(n * sizeof **recs);
    if (!*recs)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        (*recs)[i] = (many_waiter){.w.notify = many_notify, .m = m};
        if (ts[i]->state != MT__T_DONE) {
            m->remaining++;
            mt__waiter_add(ts[i], &(*recs)[i].w);
        }
    }
    return 0;
}

static void many_end(mt_task *const *ts, size_t n, many_waiter *local, many_waiter *recs)
{
    for (size_t i = 0; i < n; i++)
        mt__waiter_remove(ts[i], &recs[i].w);
    if (recs != local)
        free(recs);
}

static int check_many(mt_task *cur, mt_task *const *ts, size_t n)
{
    if (!cur)
        return MT_ENOTCORO;
    if (!ts && n)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        int err = check_awaitable(cur, ts[i]);
        if (err)
            return err;
    }
    return 0;
}

/* Cancel every task not ended and wait until all have. */
static void cancel_and_drain(many *m, mt_task *const *ts, size_t n)
{
    m->draining = true;
    for (size_t i = 0; i < n; i++)
        if (ts[i]->state != MT__T_DONE)
            mt__interrupt(ts[i], MT__I_CANCEL);
    while (m->remaining)
        mt__suspend(m->who, true);
}

int mt_co_gather(mt_task *const *ts, size_t n, int *results, const mt_gather_opts *opts)
{
    mt_task *cur = mt__current();
    int err = check_many(cur, ts, n);
    if (err)
        return err;
    bool ret_exc = opts && opts->return_exceptions;
    many_state stack_state, *st = mt__rec(cur, &stack_state, sizeof stack_state);
    if (!st)
        return -ENOMEM;
    many *m = &st->m;
    *m = (many){.who = cur, .stop_on_error = !ret_exc, .when = MT_ALL_COMPLETED};
    for (size_t i = 0; i < n && !ret_exc && !m->first_error; i++)
        if (ts[i]->state == MT__T_DONE && ts[i]->result < 0)
            m->first_error = ts[i]->result;
    many_waiter *recs;
    err = many_begin(m, ts, n, st->local, &recs);
    if (err) {
        mt__rec_free(st, &stack_state);
        return err;
    }
    int r = 0;
    while (m->remaining && !m->first_error) {
        r = mt__suspend(cur, false);
        if (r)
            break;
    }
    if (m->remaining)
        cancel_and_drain(m, ts, n);
    many_end(ts, n, st->local, recs);
    for (size_t i = 0; i < n; i++) {
        ts[i]->flags |= MT__F_RETRIEVED;
        if (results)
            results[i] = ts[i]->result;
    }
    err = ret_exc ? 0 : m->first_error;
    mt__rec_free(st, &stack_state);
    return r ? r : err;
}

static bool wait_holds(mt_task *const *ts, size_t n, mt_return_when when)
{
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
        if (ts[i]->state != MT__T_DONE)
            continue;
        done++;
        if (when == MT_FIRST_COMPLETED)
            return true;
        if (when == MT_FIRST_EXCEPTION && ts[i]->result < 0 && ts[i]->result != -ECANCELED)
            return true;
    }
    return done == n;
}

int mt_co_wait(mt_task *const *ts, size_t n, double timeout, mt_return_when when,
               mt_task **done, size_t *ndone, mt_task **not_done, size_t *nnot_done)
{
    mt_task *cur = mt__current();
    int err = check_many(cur, ts, n);
    if (err)
        return err;
    if (when != MT_ALL_COMPLETED && when != MT_FIRST_COMPLETED && when != MT_FIRST_EXCEPTION)
        return -EINVAL;
    int r = 0;
    if (n && !wait_holds(ts, n, when)) {
        many_state stack_state, *st = mt__rec(cur, &stack_state, sizeof stack_state);
        if (!st)
            return -ENOMEM;
        st->m = (many){.who = cur, .when = when};
        many_waiter *recs;
        err = many_begin(&st->m, ts, n, st->local, &recs);
        if (!err) {
            err = mt__wake_timer_start(&st->wt, cur, timeout);
            while (!err && !st->m.satisfied && st->m.remaining) {
                r = mt__suspend(cur, false);
                if (r)
                    break;
            }
            mt__wake_timer_stop(&st->wt);
            many_end(ts, n, st->local, recs);
        }
        mt__rec_free(st, &stack_state);
        if (err)
            return err;
    }
    size_t nd = 0, nn = 0;
    for (size_t i = 0; i < n; i++) {
        if (ts[i]->state == MT__T_DONE) {
            if (done)
                done[nd] = ts[i];
            nd++;
        } else {
            if (not_done)
                not_done[nn] = ts[i];
            nn++;
        }
    }
    if (ndone)
        *ndone = nd;
    if (nnot_done)
        *nnot_done = nn;
    return r;
}
