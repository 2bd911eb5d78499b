/*
 * timer.c - the loop's timers, ordered by (deadline, sequence) so that
 * timers due together fire in the order they were started, as asyncio's
 * do; sleeping; call_later; timeout scopes.
 *
 * Most timers arrive in deadline order (every sleep of the same length
 * does): those are appended to a FIFO in O(1); a timer that would jump the
 * queue goes to a binary heap instead. The earliest of the two heads fires
 * first. The loop bounds its wait in libuv by the earliest deadline (loop.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core_internal.h"
#include "../core/trace_internal.h"
#include "coro_internal.h"

#define SLOT_FIFO (1ULL << 63)
#define SLOT_HEAP (1ULL << 62)
#define SLOT_MASK (SLOT_HEAP - 1)

/* now + seconds, for seconds >= 0; beyond 30 years it is "never", just
 * short of INT64_MAX. */
static int64_t after(int64_t now, double seconds)
{
    if (seconds > 1e9)
        return INT64_MAX - 1;
    return now + mt__ceil_i64(seconds * 1e9);
}

int64_t mt__deadline_ns(double seconds)
{
    if (seconds < 0)
        return INT64_MAX;
    return after(mt__now_ns(), seconds);
}

double mt_loop_time(void)
{
    return (double)mt__now_ns() * 1e-9;
}

static bool before(int64_t d1, uint64_t s1, int64_t d2, uint64_t s2)
{
    return d1 < d2 || (d1 == d2 && s1 < s2);
}

/* ---- the FIFO ------------------------------------------------------- */

static void fifo_push(mt__timers *ts, mt__timer *tm)
{
    tm->next = NULL;
    tm->prev = ts->fifo_tail;
    if (ts->fifo_tail)
        ts->fifo_tail->next = tm;
    else
        ts->fifo_head = tm;
    ts->fifo_tail = tm;
    tm->slot = SLOT_FIFO;
}

static void fifo_remove(mt__timers *ts, mt__timer *tm)
{
    if (tm->prev)
        tm->prev->next = tm->next;
    else
        ts->fifo_head = tm->next;
    if (tm->next)
        tm->next->prev = tm->prev;
    else
        ts->fifo_tail = tm->prev;
}

/* ---- the heap --------------------------------------------------------- */

static void heap_set(mt__timers *ts, size_t i, mt__tentry e)
{
    ts->heap[i] = e;
    e.tm->slot = SLOT_HEAP | i;
}

static void heap_up(mt__timers *ts, size_t i)
{
    mt__tentry e = ts->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        mt__tentry *p = &ts->heap[parent];
        if (!before(e.deadline, e.seq, p->deadline, p->seq))
            break;
        heap_set(ts, i, *p);
        i = parent;
    }
    heap_set(ts, i, e);
}

static void heap_down(mt__timers *ts, size_t i)
{
    mt__tentry e = ts->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= ts->heap_len)
            break;
        if (c + 1 < ts->heap_len &&
            before(ts->heap[c + 1].deadline, ts->heap[c + 1].seq, ts->heap[c].deadline,
                   ts->heap[c].seq))
            c++;
        if (!before(ts->heap[c].deadline, ts->heap[c].seq, e.deadline, e.seq))
            break;
        heap_set(ts, i, ts->heap[c]);
        i = c;
    }
    heap_set(ts, i, e);
}

static int heap_push(mt__timers *ts, mt__timer *tm)
{
    if (ts->heap_len == ts->heap_cap) {
        size_t cap = ts->heap_cap ? ts->heap_cap * 2 : 64;
        mt__tentry *p = realloc(ts->heap, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        ts->heap = p;
        ts->heap_cap = cap;
    }
    ts->heap[ts->heap_len] = (mt__tentry){tm->deadline, tm->seq, tm};
    heap_up(ts, ts->heap_len++);
    return 0;
}

static void heap_remove(mt__timers *ts, size_t i)
{
    ts->heap_len--;
    if (i == ts->heap_len)
        return;
    ts->heap[i] = ts->heap[ts->heap_len];
    mt__timer *moved = ts->heap[i].tm;
    heap_up(ts, i);
    heap_down(ts, moved->slot & SLOT_MASK);
}

/* ---- timers ----------------------------------------------------------- */

int mt__timer_start(mt_loop *l, mt__timer *tm, int64_t deadline)
{
    mt__timers *ts = &l->timers;
    tm->deadline = deadline;
    tm->seq = ts->seq++;
    if (!ts->fifo_tail || deadline >= ts->fifo_tail->deadline) {
        fifo_push(ts, tm);
    } else {
        int err = heap_push(ts, tm);
        if (err)
            return err;
    }
    ts->live++;
    return 0;
}

void mt__timer_stop(mt_loop *l, mt__timer *tm)
{
    mt__timers *ts = &l->timers;
    if (!tm->slot)
        return;
    if (tm->slot & SLOT_FIFO)
        fifo_remove(ts, tm);
    else
        heap_remove(ts, tm->slot & SLOT_MASK);
    tm->slot = 0;
    ts->live--;
}

/* The next timer to fire, or NULL. */
static mt__timer *timers_first(mt__timers *ts)
{
    mt__timer *f = ts->fifo_head;
    mt__tentry *h = ts->heap_len ? &ts->heap[0] : NULL;
    if (f && (!h || before(f->deadline, f->seq, h->deadline, h->seq)))
        return f;
    return h ? h->tm : NULL;
}

int64_t mt__timers_next(mt_loop *l)
{
    mt__timer *tm = timers_first(&l->timers);
    return tm ? tm->deadline : INT64_MAX;
}

void mt__timers_run(mt_loop *l, int64_t now)
{
    mt__timer *tm;
    while ((tm = timers_first(&l->timers)) && tm->deadline <= now) {
        mt__timer_stop(l, tm);
        if (__builtin_expect(!l->debug, 1)) {
            tm->fire(tm);
            continue;
        }
        int64_t t0 = mt__now_ns(); /* debug mode: callbacks that block the loop */
        tm->fire(tm);
        int64_t dt = mt__now_ns() - t0;
        if (dt > l->slow_ns)
            mt__report(l, "Executing a timer callback took %.3f seconds", (double)dt * 1e-9);
    }
}

void mt__timers_free(mt__timers *ts)
{
    free(ts->heap);
    memset(ts, 0, sizeof *ts);
}

/* ---- sleeping --------------------------------------------------------- */

static void sleep_fire(mt__timer *tm)
{
    mt__wake((mt_task *)((char *)tm - offsetof(mt_task, timer)), 0);
}

/* The wait of a sleep whose timer is armed. Out of line and called last,
 * so that a sleeping task's deepest frame is this small one (a shared-stack
 * task's frames are copied out at each switch). */
static __attribute__((noinline, cold)) int sleep_interrupted(mt_task *t, int r)
{
    mt__timer_stop(t->loop, &t->timer);
    return r;
}

static __attribute__((noinline)) int sleep_wait(mt_task *t)
{
    int r = mt__suspend(t, false);
    if (__builtin_expect(r, 0))
        return sleep_interrupted(t, r); /* a tail call, like the one below */
    return 0;
}

/* What the usual sleep leaves out: a bad or zero length, tracing. */
static __attribute__((noinline, cold)) int sleep_slow(mt_task *t, double seconds)
{
    if (!(seconds >= 0) || isinf(seconds))
        return -EINVAL;
    if (seconds == 0)
        return mt_co_yield();
    int code = mt__interrupt_code(t);
    if (code)
        return code;
    int64_t t0 = mt__now_ns();
    t->timer.fire = sleep_fire;
    int err = mt__timer_start(t->loop, &t->timer, after(t0, seconds));
    if (err)
        return err;
    int r = sleep_wait(t);
    if (mt__trace_on)
        mt_trace_slice("sleep", "sleep", t->id, (uint64_t)t0, (uint64_t)mt__now_ns());
    return r;
}

int mt_co_sleep(double seconds)
{
    mt_task *t = mt__current();
    if (!t)
        return MT_ENOTCORO;
    if (__builtin_expect(!(seconds > 0) || isinf(seconds) || mt__trace_on, 0))
        return sleep_slow(t, seconds);
    int code = mt__interrupt_code(t);
    if (code)
        return code;
    t->timer.fire = sleep_fire;
    int err = mt__timer_start(t->loop, &t->timer, after(mt__now_ns(), seconds));
    if (err)
        return err;
    return sleep_wait(t); /* a tail call: this frame is gone while it sleeps */
}

static void wake_timer_fire(mt__timer *tm)
{
    mt__wake(((mt__wake_timer *)tm)->who, -ETIMEDOUT);
}

int mt__wake_timer_start(mt__wake_timer *wt, mt_task *t, double timeout)
{
    *wt = (mt__wake_timer){.tm.fire = wake_timer_fire, .who = t};
    if (isnan(timeout)) /* no deadline at all: converting it is undefined */
        return -EINVAL;
    if (timeout < 0)
        return 0;
    return mt__timer_start(t->loop, &wt->tm, mt__deadline_ns(timeout));
}

void mt__wake_timer_stop(mt__wake_timer *wt)
{
    if (wt->who)
        mt__timer_stop(wt->who->loop, &wt->tm);
}

/* ---- call_later ------------------------------------------------------- */

struct mt_co_timer {
    mt__timer tm;
    mt_loop *loop;
    mt_co_timer_fn *cb;
    void *arg;
    struct mt_co_timer *next_free;
};

static void call_later_fire(mt__timer *tm)
{
    mt_co_timer *ct = (mt_co_timer *)tm;
    mt_loop *l = ct->loop;
    mt_co_timer_fn *cb = ct->cb;
    void *arg = ct->arg;
    ct->next_free = l->free_timers;
    l->free_timers = ct;
    cb(arg);
}

int mt_co_call_later(mt_co_timer **out, double seconds, mt_co_timer_fn *cb, void *arg)
{
    mt_loop *l = mt__loop_tls;
    if (!l)
        return MT_ENOTCORO;
    if (!cb || !(seconds >= 0) || isinf(seconds))
        return -EINVAL;
    mt_co_timer *ct = l->free_timers;
    if (ct)
        l->free_timers = ct->next_free;
    else if (!(ct = malloc(sizeof *ct)))
        return -ENOMEM;
    memset(ct, 0, sizeof *ct);
    ct->loop = l;
    ct->cb = cb;
    ct->arg = arg;
    ct->tm.fire = call_later_fire;
    int err = mt__timer_start(l, &ct->tm, after(mt__now_ns(), seconds));
    if (err) {
        free(ct);
        return err;
    }
    if (out)
        *out = ct;
    return 0;
}

int mt_co_timer_cancel(mt_co_timer *ct)
{
    if (!ct)
        return -EINVAL;
    if (!ct->tm.slot)
        return 0;
    mt_loop *l = ct->loop;
    mt__timer_stop(l, &ct->tm);
    ct->next_free = l->free_timers;
    l->free_timers = ct;
    return 0;
}

void mt__call_later_free(mt_loop *l)
{
    while (l->free_timers) {
        mt_co_timer *next = l->free_timers->next_free;
        free(l->free_timers);
        l->free_timers = next;
    }
}

/* ---- timeout scopes --------------------------------------------------- */

struct mt__scope {
    mt__timer tm;
    mt__scope *outer;
    mt_task *task;
    bool expired;
    bool heap;
};

/* A scope lives in the caller's mt_co_timeout, except for a shared-stack
 * task (see mt__rec): there it is on the heap, and the last word of the
 * mt_co_timeout points to it. */
#define HEAP_WORD 11
_Static_assert(sizeof(mt__scope) <= HEAP_WORD * sizeof(void *), "mt_co_timeout too small");
_Static_assert(HEAP_WORD < sizeof(mt_co_timeout) / sizeof(void *), "mt_co_timeout too small");

static mt__scope *scope_of(mt_co_timeout *scope)
{
    return scope->priv[HEAP_WORD] ? scope->priv[HEAP_WORD] : (mt__scope *)(void *)scope;
}

static void scope_fire(mt__timer *tm)
{
    mt__scope *s = (mt__scope *)tm;
    s->expired = true;
    mt__interrupt(s->task, MT__I_TIMEOUT);
}

int mt_co_timeout_begin(mt_co_timeout *scope, double seconds)
{
    mt_task *t = mt__current();
    if (!t)
        return MT_ENOTCORO;
    if (!scope || isnan(seconds))
        return -EINVAL;
    mt__task_extra *x = mt__task_extra_of(t);
    mt__scope *s = x ? mt__rec(t, scope, sizeof *s) : NULL;
    if (!s)
        return -ENOMEM;
    memset(s, 0, sizeof *s);
    s->heap = s != (mt__scope *)(void *)scope;
    scope->priv[HEAP_WORD] = s->heap ? s : NULL;
    s->task = t;
    s->tm.fire = scope_fire;
    if (seconds >= 0) {
        int err = mt__timer_start(t->loop, &s->tm, mt__deadline_ns(seconds));
        if (err) {
            scope->priv[HEAP_WORD] = NULL;
            mt__rec_free(s, scope);
            return err;
        }
    }
    s->outer = x->scopes;
    x->scopes = s;
    return 0;
}

int mt_co_timeout_end(mt_co_timeout *scope)
{
    mt_task *t = mt__current();
    mt__scope *s = scope ? scope_of(scope) : NULL;
    if (!t || !s || !t->extra || t->extra->scopes != s)
        return -EINVAL;
    mt__timer_stop(t->loop, &s->tm);
    t->extra->scopes = s->outer;
    bool expired = s->expired;
    scope->priv[HEAP_WORD] = NULL;
    mt__rec_free(s, scope);
    if (!expired)
        return 0;
    bool outer_expired = false;
    for (mt__scope *o = t->extra->scopes; o; o = o->outer)
        outer_expired |= o->expired;
    if (!outer_expired)
        t->interrupt &= (uint8_t)~MT__I_TIMEOUT;
    return -ETIMEDOUT;
}

void mt__scopes_abandon(mt_task *t)
{
    for (mt__scope *s = t->extra->scopes, *outer; s; s = outer) {
        outer = s->outer;
        mt__timer_stop(t->loop, &s->tm);
        if (s->heap)
            free(s);
    }
    t->extra->scopes = NULL;
}
