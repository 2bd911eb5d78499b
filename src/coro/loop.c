/*
 * loop.c - the event loop around the scheduler: libuv waits for timers, fd
 * readiness, signals and wake-ups from other threads when no task is ready;
 * running until a task ends; closing (cancelling what is left, reporting
 * errors nobody read); mt_run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core_internal.h"
#include "../core/trace_internal.h"
#include "coro_internal.h"

#ifdef MT__ASAN
#define DEFAULT_STACK ((size_t)256 << 10)
#else
#define DEFAULT_STACK ((size_t)64 << 10)
#endif
#define DEFAULT_SHARED_STACK ((size_t)256 << 10)

/* Turns of the scheduler between two looks at the clock and at libuv
 * while tasks stay ready: polling costs a system call. */
#define POLL_EVERY 128

/* ---- wake-ups from other threads ---------------------------------------- */

void mt__remote_push(mt_loop *l, mt__remote *r)
{
    mt__remote *old = atomic_load_explicit(&l->remote, memory_order_relaxed);
    do {
        atomic_store_explicit(&r->next, old, memory_order_relaxed);
    } while (!atomic_compare_exchange_weak_explicit(&l->remote, &old, r, memory_order_release,
                                                    memory_order_relaxed));
    if (!old)
        uv_async_send(&l->uv_async);
}

static void on_async(uv_async_t *h)
{
    mt_loop *l = h->data;
    mt__remote *r = atomic_exchange_explicit(&l->remote, NULL, memory_order_acquire);
    mt__remote *rev = NULL;
    while (r) { /* pushed newest first: deliver oldest first */
        mt__remote *next = atomic_load_explicit(&r->next, memory_order_relaxed);
        atomic_store_explicit(&r->next, rev, memory_order_relaxed);
        rev = r;
        r = next;
    }
    while (rev) {
        mt__remote *next = atomic_load_explicit(&rev->next, memory_order_relaxed);
        rev->deliver(rev);
        rev = next;
    }
}

/* ---- the loop --------------------------------------------------------- */

/*
 * The loop sleeps in libuv only as long as the earliest of our timers
 * allows, and that bound is set at the last moment: in a prepare callback,
 * which libuv runs after its own due timers and just before it computes
 * the poll's timeout. A libuv timer armed any earlier can fall due and be
 * consumed by that timer phase (libuv's clock is in whole milliseconds and
 * can run ahead of the deadline it was armed from), and the poll then
 * waits without a timeout: timers of ours still pending, the loop asleep
 * for ever beside an idle fd. So uv_timer only bounds the one poll that
 * follows; what fires is decided by our own clock, after uv_run returns.
 */
static void on_uv_timer(uv_timer_t *h)
{
    (void)h; /* it only ends the poll */
}

static void on_prepare(uv_prepare_t *h)
{
    mt_loop *l = h->data;
    if (!l->polling)
        return; /* uv_run(UV_RUN_NOWAIT): its poll does not wait anyway */
    int64_t next = l->ready_head ? 0 : mt__timers_next(l);
    if (next == INT64_MAX) {
        uv_timer_stop(&l->uv_timer);
        return;
    }
    int64_t now = next ? mt__now_ns() : 0;
    uint64_t ms = next > now ? (uint64_t)(next - now + 999999) / 1000000 : 0;
    uv_update_time(&l->uv);
    uv_timer_start(&l->uv_timer, on_uv_timer, ms, 0);
}

/* Wait in libuv once: until an fd, signal or wake-up from another thread,
 * or our earliest timer. While timers are pending the prepare handle keeps
 * libuv's loop alive, so that uv_run goes as far as on_prepare. */
static void poll_once(mt_loop *l, bool timers_pending)
{
    if (timers_pending)
        uv_ref((uv_handle_t *)&l->uv_prepare);
    else
        uv_unref((uv_handle_t *)&l->uv_prepare);
    l->polling = true;
    uv_run(&l->uv, UV_RUN_ONCE);
    l->polling = false;
}

/* Run until done() holds. Returns 0, or -EDEADLK when nothing can happen
 * any more (no task ready, no timer, nothing for libuv to wait for). */
static int run_until(mt_loop *l, bool (*done)(mt_loop *l, void *arg), void *arg)
{
    unsigned batches = 0;
    while (!done(l, arg)) {
        if (l->ready_head) {
            mt__run_ready(l);
            if (++batches < POLL_EVERY && l->ready_head)
                continue;
        }
        batches = 0;
        mt__timers_run(l, mt__now_ns());
        if (l->ready_head) {
            uv_run(&l->uv, UV_RUN_NOWAIT);
            continue;
        }
        if (done(l, arg))
            break;
        bool timers_pending = mt__timers_next(l) != INT64_MAX;
        if (!timers_pending) {
            uv_timer_stop(&l->uv_timer);
            if (!uv_loop_alive(&l->uv))
                return -EDEADLK;
        }
        poll_once(l, timers_pending);
        mt__timers_run(l, mt__now_ns());
    }
    return 0;
}

static bool task_ended(mt_loop *l, void *arg)
{
    (void)l;
    return ((mt_task *)arg)->state == MT__T_DONE;
}

static bool all_ended(mt_loop *l, void *arg)
{
    (void)arg;
    return l->live == 0;
}

/* In a child process (mt_process_start from a coroutine): the loop this
 * thread ran is the parent's; the child may start its own. */
static void forget_loop(void)
{
    mt__loop_tls = NULL;
}

int mt_loop_new(mt_loop **out, const mt_run_opts *opts)
{
    mt_run_opts none = {0};
    if (!opts)
        opts = &none;
    if (!out || opts->slow_callback_duration < 0 || isnan(opts->slow_callback_duration) ||
        (opts->shared_stack_size && opts->shared_stack_size < ((size_t)16 << 10)))
        return -EINVAL;
    mt__child_reset_register(forget_loop);
    mt_loop *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    int err = uv_loop_init(&l->uv);
    if (err)
        goto fail_free;
    uv_timer_init(&l->uv, &l->uv_timer);
    l->uv_timer.data = l;
    uv_prepare_init(&l->uv, &l->uv_prepare);
    l->uv_prepare.data = l;
    uv_prepare_start(&l->uv_prepare, on_prepare);
    uv_unref((uv_handle_t *)&l->uv_prepare);
    err = uv_async_init(&l->uv, &l->uv_async, on_async);
    if (err)
        goto fail_uv;
    l->uv_async.data = l;
    uv_unref((uv_handle_t *)&l->uv_async);
    err = mt__stack_signals_init(&l->altstack);
    if (err)
        goto fail_uv;
    mt__fiber_init(&l->main, NULL, 0, true);
    l->default_stack = DEFAULT_STACK;
    size_t ps = 4096;
    l->shared_size = opts->shared_stack_size
                         ? (opts->shared_stack_size + ps - 1) & ~(ps - 1)
                         : DEFAULT_SHARED_STACK;
    mt_loop_set_report(l, opts->report, opts->report_arg);
    const char *dbg = getenv("MT_CO_DEBUG");
    l->debug = opts->debug || (dbg && *dbg && strcmp(dbg, "0") != 0);
    double slow = opts->slow_callback_duration ? opts->slow_callback_duration : 0.1;
    l->slow_ns = (int64_t)(slow * 1e9);
    *out = l;
    return 0;
fail_uv:
    uv_close((uv_handle_t *)&l->uv_timer, NULL);
    uv_close((uv_handle_t *)&l->uv_prepare, NULL);
    if (uv_is_active((uv_handle_t *)&l->uv_async) || l->uv_async.data)
        uv_close((uv_handle_t *)&l->uv_async, NULL);
    uv_run(&l->uv, UV_RUN_DEFAULT);
    uv_loop_close(&l->uv);
fail_free:
    free(l);
    return err < 0 ? err : -ENOMEM;
}

int mt_loop_run_until_complete(mt_loop *l, mt_task *t)
{
    if (!l || !t || t->loop != l)
        return -EINVAL;
    if (mt__loop_tls)
        return -EBUSY;
    mt__loop_tls = l;
    l->running++;
    int err = run_until(l, task_ended, t);
    l->running--;
    mt__loop_tls = NULL;
    if (err)
        return err;
    t->flags |= MT__F_RETRIEVED;
    return t->result;
}

mt_loop *mt_loop_current(void)
{
    return mt__loop_tls;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int mt_loop_free(mt_loop *l)
{
    if (!l)
        return 0;
    if (l->running)
        return -EBUSY;
    mt_loop *outer = mt__loop_tls;
    mt__loop_tls = l;
    l->closing = true;
    /* Cancel what is still pending and let it run to its end. */
    int pending = 0;
    for (mt_task *t = l->tasks; t; t = t->all_next) {
        if (t->state != MT__T_DONE) {
            mt__report(l, "Task '%s' was still pending when the loop closed: cancelled",
                       mt_task_name(t));
            t->flags |= MT__F_CLOSING;
            mt__interrupt(t, MT__I_CANCEL);
            pending++;
        }
    }
    if (pending)
        run_until(l, all_ended, NULL);
    for (mt_task *t = l->tasks; t; t = t->all_next)
        if (t->state != MT__T_DONE)
            mt__report(l, "Task '%s' would not end after it was cancelled: dropped",
                       mt_task_name(t));
    /* Free every task, held or not. */
    while (l->tasks) {
        mt_task *t = l->tasks;
        if (t->state != MT__T_DONE) {
            mt__fiber_destroy(&t->fiber, false);
            t->state = MT__T_DONE;
            t->flags |= MT__F_RETRIEVED;
        }
        t->refs = 1;
        mt__task_unref(t);
    }
    if (l->executor)
        mt_executor_free(l->executor);
    mt__fdw_free_all(l);
    uv_close((uv_handle_t *)&l->uv_timer, NULL);
    uv_close((uv_handle_t *)&l->uv_prepare, NULL);
    uv_close((uv_handle_t *)&l->uv_async, NULL);
    uv_run(&l->uv, UV_RUN_DEFAULT);
    if (uv_loop_close(&l->uv) == UV_EBUSY) {
        uv_walk(&l->uv, close_walk, NULL);
        uv_run(&l->uv, UV_RUN_DEFAULT);
        uv_loop_close(&l->uv);
    }
    mt__stacks_free_all(l);
    mt__stack_unmap(&l->shared);
    mt__timers_free(&l->timers);
    mt__call_later_free(l);
    mt__fiber_destroy(&l->main, true);
    mt__stack_signals_fini(l->altstack);
    free(l);
    mt__loop_tls = outer == l ? NULL : outer;
    return pending;
}

int mt_run(mt_co_fn *fn, void *arg, const mt_run_opts *opts)
{
    if (!fn)
        return -EINVAL;
    if (mt__loop_tls)
        return -EBUSY;
    mt_loop *l;
    int err = mt_loop_new(&l, opts);
    if (err)
        return err;
    mt_task *main_task;
    err = mt__task_new(l, &main_task, MT__NEW_HANDLE, fn, arg, &(mt_task_opts){.name = "main"});
    if (err) {
        mt_loop_free(l);
        return err;
    }
    int r = mt_loop_run_until_complete(l, main_task);
    mt_task_free(main_task);
    mt_loop_free(l);
    return r;
}
