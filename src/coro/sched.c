/*
 * sched.c - the scheduler: making tasks, the ready queue, resuming a task
 * and suspending it, waking it, delivering cancellation, and a task's end.
 * The loop around it (libuv, closing) is in loop.c, reports in report.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coro_internal.h"
#include "../core/trace_internal.h"

#ifdef MT__ASAN
#include <sanitizer/asan_interface.h>
#endif

_Thread_local mt_loop *mt__loop_tls __attribute__((tls_model("initial-exec")));

#define STACK_MIN ((size_t)16 << 10)
#define STACK_MAX ((size_t)1 << 30)
/* Switches from task to task before the scheduler gets a turn. */
#define DIRECT_BUDGET 64

/* The room at the top of a private stack for the task record. */
#define RECORD_ROOM ((sizeof(mt_task) + 63) & ~(size_t)63)

static size_t page_size(void)
{
    static size_t ps;
    if (!ps)
        ps = (size_t)sysconf(_SC_PAGESIZE);
    return ps;
}

/* ---- interrupts ------------------------------------------------------- */

void mt__interrupt(mt_task *t, int why)
{
    t->interrupt |= (uint8_t)why;
    if (t->state == MT__T_SUSPENDED && !(t->flags & MT__F_HARD)) {
        int code = mt__interrupt_code(t);
        if (code)
            mt__wake(t, code);
    }
}

/* ---- suspending and waking -------------------------------------------- */

void mt__check_canary(const mt_task *t)
{
    if (!mt__canary_intact(&t->map))
        mt__stack_overflow(t);
}

void mt__reap(mt_loop *l)
{
    mt_task *t = l->dead;
    l->dead = NULL;
    mt__fiber_destroy(&t->fiber, false);
    if (t->flags & MT__F_SHARED) {
        if (l->shared_owner == t)
            l->shared_owner = NULL;
        free(t->saved);
        t->saved = NULL;
        t->saved_len = 0;
    }
    mt__task_unref(t); /* its life's reference */
}

/* Leave task t, which has ended, for good: like mt__switch_out, and whoever
 * runs next frees its stack. */
static _Noreturn void leave_for_good(mt_task *t)
{
    mt_loop *l = t->loop;
    if (t->guard == MT__GUARD_CANARY)
        mt__check_canary(t);
    l->dead = t;
    mt_task *next = l->ready_head;
    if (next && l->budget && !((t->flags | next->flags) & MT__F_SHARED) && !l->slow_path) {
        l->budget--;
        mt__ready_pop(l);
        next->state = MT__T_RUNNING;
        l->current = next;
        mt__fiber_switch(&t->fiber, &next->fiber, true);
    } else {
        mt__fiber_switch(&t->fiber, &l->main, true);
    }
    abort(); /* never resumed */
}

int mt_co_yield(void)
{
    mt_task *t = mt__current();
    if (!t)
        return MT_ENOTCORO;
    int code = mt__interrupt_code(t);
    if (code)
        return code;
    mt__ready_push(t->loop, t);
    mt__switch_out(t);
    return 0;
}

/* ---- waiters for a task's end ------------------------------------------ */

static void notify_waiters(mt_task *t)
{
    /* Oldest first: the list is newest first, so reverse it. */
    mt__waiter *w = t->waiters, *rev = NULL;
    t->waiters = NULL;
    if (w && !w->next) { /* one waiter, the usual await */
        w->prev = NULL;
        w->notify(w, t);
        return;
    }
    while (w) {
        mt__waiter *next = w->next;
        w->next = rev;
        rev = w;
        w = next;
    }
    while (rev) {
        mt__waiter *next = rev->next;
        rev->prev = rev->next = NULL;
        rev->notify(rev, t);
        rev = next;
    }
}

/* ---- a task's life ---------------------------------------------------- */

/* After the task's function: wake those who wait for it, then leave. */
static __attribute__((noinline)) _Noreturn void task_ended(mt_task *t)
{
    mt__task_extra *x = t->extra;
    if (x && x->scopes) /* timeout scopes it left open */
        mt__scopes_abandon(t);
    t->state = MT__T_DONE;
    t->loop->live--;
    notify_waiters(t);
    if (x && x->group)
        mt__group_child_ended(t);
    leave_for_good(t);
}

/* A task's first frame, kept small: it stays under every frame of the
 * task's function, and a shared-stack task's frames are copied on each
 * switch. */
static void task_entry(void *arg)
{
    mt_task *t = arg;
    mt__fiber_started();
    if (t->loop->dead)
        mt__reap(t->loop);
    t->flags |= MT__F_STARTED;
    if (t->interrupt & (MT__I_CANCEL | MT__I_GROUP)) {
        t->result = -ECANCELED; /* cancelled before it ran: it never runs */
    } else {
        mt_co_fn *fn = t->fn; /* read both before the timer's room is used */
        void *arg = t->arg;
        t->result = fn(arg);
    }
    task_ended(t);
}

static void stack_copy(char *dst, const char *src, size_t n)
#ifdef MT__ASAN
    __attribute__((no_sanitize_address))
#endif
    ;

/* Copies a stack's bytes, redzones and all, without ASan looking. */
static void stack_copy(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i];
}

/* Put t's frames on the shared stack, saving those of its owner first. */
static void shared_switch_in(mt_loop *l, mt_task *t)
{
    mt_task *o = l->shared_owner;
    if (o == t)
        return;
    if (o && o->state != MT__T_DONE) {
        char *sp = mt__ctx_sp(&o->fiber.ctx);
        size_t len = (size_t)(mt__stack_hi(o) - sp);
        if (!o->saved || len > malloc_usable_size(o->saved)) {
            char *p = realloc(o->saved, len);
            if (!p) {
                static const char msg[] = "multitask: out of memory saving a shared stack\n";
                ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
                (void)w;
                abort();
            }
            o->saved = p;
        }
        stack_copy(o->saved, sp, len);
        o->saved_len = (uint32_t)len;
    }
    l->shared_owner = t;
#ifdef MT__ASAN
    /* The shadow of the shared stack still describes the frames of the
     * tasks that used it before (redzones of frames that never returned):
     * clear it all, or t's calls trip over them. */
    __asan_unpoison_memory_region(mt__stack_lo(t), (size_t)(mt__stack_hi(t) - mt__stack_lo(t)));
#endif
    if (!(t->flags & MT__F_STARTED))
        mt__ctx_make(&t->fiber.ctx, mt__stack_lo(t), (size_t)(mt__stack_hi(t) - mt__stack_lo(t)),
                     task_entry, t);
    else if (t->saved_len)
        memcpy(mt__stack_hi(t) - t->saved_len, t->saved, t->saved_len);
}

/* Back in the scheduler after `t` switched to it: account for its slice
 * and free what an ended task leaves. */
static void came_back(mt_loop *l, mt_task *t)
{
    if (__builtin_expect(l->slow_path, 0)) {
        int64_t t1 = mt__now_ns();
        if (mt__trace_on)
            mt_trace_slice(mt_task_name(t), "run", t->id, (uint64_t)l->slice_start, (uint64_t)t1);
        if (l->debug && t1 - l->slice_start > l->slow_ns)
            mt__report(l, "Executing task '%s' took %.3f seconds", mt_task_name(t),
                       (double)(t1 - l->slice_start) * 1e-9);
    }
    if (t->guard == MT__GUARD_CANARY && t->state != MT__T_DONE)
        mt__check_canary(t);
    if (l->dead)
        mt__reap(l);
}

void mt__run_ready(mt_loop *l)
{
    mt_task *t = mt__ready_pop(l);
    if (!t)
        return;
    if (t->flags & MT__F_SHARED)
        shared_switch_in(l, t);
    l->slow_path = l->debug || mt__trace_on;
    if (__builtin_expect(l->slow_path, 0))
        l->slice_start = mt__now_ns();
    l->budget = DIRECT_BUDGET;
    l->current = t;
    t->state = MT__T_RUNNING;
    mt__fiber_switch(&l->main, &t->fiber, false);
    t = l->current;
    l->current = NULL;
    came_back(l, t);
}

/* ---- making and freeing ----------------------------------------------- */

/* Zero a task record up to its stack mapping (which a reused record
 * keeps) with plain stores: memset's "rep stos" costs more than the rest of
 * making a task. */
static void record_clear(mt_task *t)
{
    typedef uint64_t v2 __attribute__((vector_size(16), aligned(16)));
    v2 *p = (v2 *)(void *)t;
    for (size_t i = 0; i < MT__SHARED_RECORD / 16; i++) {
        p[i] = (v2){0, 0};
        __asm__("" : : "r"(p) : "memory"); /* keep GCC from making it a memset */
    }
    uint64_t *tail = (uint64_t *)(void *)t;
    for (size_t i = MT__SHARED_RECORD / 16 * 2; i < MT__SHARED_RECORD / 8; i++)
        tail[i] = 0;
}

_Static_assert(MT__SHARED_RECORD % 8 == 0, "the record clears in words");

mt__task_extra *mt__task_extra_of(mt_task *t)
{
    if (!t->extra)
        t->extra = calloc(1, sizeof *t->extra);
    return t->extra;
}

/* The first of the loop's freed records (it has one), cleared, its stack
 * kept. */
static mt_task *reuse_record(mt_loop *l)
{
    mt_task *t = l->free_records;
    l->free_records = t->next;
    record_clear(t); /* its map stays */
    t->guard = t->map.guard;
    return t;
}

/* A record at the top of a private stack of `size` usable bytes: a freed
 * one from the loop's list when the size is the default, else a new one. */
static mt_task *private_record(mt_loop *l, size_t size, int *err)
{
    if (l->free_records && size == l->default_stack)
        return reuse_record(l);
    mt__stack s;
    *err = mt__stack_get(l, size + MT__GUARD_SIZE, &s);
    if (*err)
        return NULL;
    mt_task *t = (mt_task *)(s.map + s.len - RECORD_ROOM);
    record_clear(t);
    t->map = s;
    t->guard = s.guard;
    return t;
}

/* The rest of making task t of loop l (its record and stack are ready):
 * what it runs, its place in the loop's lists, its context; queue it. */
static inline int task_start(mt_loop *l, mt_task *t, mt_task **out, unsigned how, mt_co_fn *fn,
                             void *arg, mt__task_extra *x)
{
    t->loop = l;
    char *lo = mt__stack_lo(t), *hi = mt__stack_hi(t);
#ifdef MT__ASAN
    if (!(t->flags & MT__F_SHARED))
        __asan_unpoison_memory_region(lo, (size_t)(hi - lo));
#endif
    t->fn = fn;
    t->arg = arg;
    t->extra = x;
    t->id = ++l->next_id;
    t->refs = (uint16_t)(1 + (how & MT__NEW_HANDLE));
    t->all_next = l->tasks;
    if (l->tasks)
        l->tasks->all_prev = t;
    l->tasks = t;
    l->live++;
    mt__fiber_init(&t->fiber, lo, (size_t)(hi - lo), false);
    if (!(t->flags & MT__F_SHARED))
        mt__ctx_make(&t->fiber.ctx, lo, (size_t)(hi - lo), task_entry, t);
    if (__builtin_expect(mt__trace_on, 0))
        mt_trace_track_name(t->id, mt_task_name(t));
    mt__ready_push(l, t);
    if (out)
        *out = t;
    return 0;
}

int mt__task_new(mt_loop *l, mt_task **out, unsigned how, mt_co_fn *fn, void *arg,
                 const mt_task_opts *o)
{
    /* The usual task: no options, and a freed record to reuse. */
    if (!o && fn && !l->closing && l->free_records && !(how & MT__NEW_EXTRA))
        return task_start(l, reuse_record(l), out, how, fn, arg, NULL);
    static const mt_task_opts none;
    if (!o)
        o = &none;
    if (!fn || (o->stack != MT_STACK_PRIVATE && o->stack != MT_STACK_SHARED) ||
        (o->stack_size && (o->stack_size < STACK_MIN || o->stack_size > STACK_MAX)))
        return -EINVAL;
    if (l->closing)
        return MT_ECLOSED;
    mt__task_extra *x = NULL;
    if (__builtin_expect(o->name || (how & MT__NEW_EXTRA), 0)) {
        x = calloc(1, sizeof *x);
        if (!x)
            return -ENOMEM;
        x->name = o->name;
    }
    mt_task *t;
    int err = 0;
    if (o->stack == MT_STACK_SHARED) {
        if (!l->shared.map)
            err = mt__stack_map_shared(&l->shared, l->shared_size + MT__GUARD_SIZE);
        t = err ? NULL : calloc(1, MT__SHARED_RECORD);
        if (!t) {
            free(x);
            return err ? err : -ENOMEM;
        }
        /* Only the fields before `map` are ever touched: hide the short
         * allocation from GCC's bounds warnings. */
        __asm__("" : "+r"(t));
        t->flags = MT__F_SHARED;
        t->guard = MT__GUARD_NONE;
    } else {
        size_t size = l->default_stack;
        if (o->stack_size)
            size = (o->stack_size + page_size() - 1) & ~(page_size() - 1);
        t = private_record(l, size, &err);
        if (!t) {
            free(x);
            return err;
        }
    }
    return task_start(l, t, out, how, fn, arg, x);
}

void mt__task_unref(mt_task *t)
{
    if (--t->refs)
        return;
    mt_loop *l = t->loop;
    if (t->result < 0)
        mt__report_unretrieved(t);
    if (t->extra) {
        if (t->extra->bytes)
            mt__task_bytes_free(t);
        free(t->extra);
    }
    if (t->all_prev)
        t->all_prev->all_next = t->all_next;
    else
        l->tasks = t->all_next;
    if (t->all_next)
        t->all_next->all_prev = t->all_prev;
    if (t->flags & MT__F_SHARED) {
        free(t->saved);
        free(t);
    } else if (t->map.in_slab) {
        t->next = l->free_records; /* its stack stays with it, for reuse */
        l->free_records = t;
    } else {
        mt__stack s = t->map;
        mt__stack_put(l, &s);
    }
}

/* ---- the public task calls -------------------------------------------- */

int mt_task_create(mt_task **out, mt_co_fn *fn, void *arg, const mt_task_opts *opts)
{
    mt_loop *l = mt__loop_tls;
    if (!l)
        return MT_ENOTCORO;
    return mt__task_new(l, out, out ? MT__NEW_HANDLE : 0, fn, arg, opts);
}

int mt_loop_create_task(mt_loop *loop, mt_co_fn *fn, void *arg,
                        const mt_task_opts *opts, mt_task **out)
{
    if (!loop)
        return -EINVAL;
    return mt__task_new(loop, out, out ? MT__NEW_HANDLE : 0, fn, arg, opts);
}

int mt_task_cancel(mt_task *t)
{
    if (!t)
        return -EINVAL;
    if (t->state == MT__T_DONE)
        return -EBUSY;
    mt__interrupt(t, MT__I_CANCEL);
    return 0;
}

bool mt_task_done(const mt_task *t)
{
    return t && t->state == MT__T_DONE;
}

bool mt_task_cancelled(const mt_task *t)
{
    return t && t->state == MT__T_DONE && t->result == -ECANCELED;
}

int mt_task_result(mt_task *t)
{
    if (!t)
        return -EINVAL;
    if (t->state != MT__T_DONE)
        return -EAGAIN;
    t->flags |= MT__F_RETRIEVED;
    return t->result;
}

const char *mt_task_name(const mt_task *t)
{
    static _Thread_local char buf[32];
    if (!t)
        return "";
    if (t->extra && t->extra->name)
        return t->extra->name;
    snprintf(buf, sizeof buf, "Task-%u", t->id);
    return buf;
}

mt_task *mt_task_current(void)
{
    return mt__current();
}

void mt_task_free(mt_task *t)
{
    if (t)
        mt__task_unref(t);
}

void mt_co_shield_begin(void)
{
    mt_task *t = mt__current();
    if (t)
        t->shield++;
}

void mt_co_shield_end(void)
{
    mt_task *t = mt__current();
    if (t && t->shield)
        t->shield--;
}

bool mt_co_cancelling(void)
{
    mt_task *t = mt__current();
    return t && (t->interrupt & (MT__I_CANCEL | MT__I_GROUP));
}
