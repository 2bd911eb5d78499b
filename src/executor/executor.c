/*
 * executor.c - the thread pool's life cycle: its worker threads (started
 * lazily, as Python's ThreadPoolExecutor starts them), submit, shutdown and
 * free. The queue and the idle threads' waiting are in run_queue.c.
 *
 * Submit and shutdown meet at the gate, one atomic word: a submit counts
 * itself in before it queues and out after; shutdown (or a failed
 * initializer) sets its bit and waits until no submit is in flight, so that
 * after it nothing more is queued, without a lock on the submit path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/trace_internal.h"
#include "executor_internal.h"
#include "multitask/process.h"

#define MAX_WORKERS 4096
/* Arguments up to this size live in the future's allocation. */
#define INLINE_ARG_MAX 256
/* Room after the task record in every future: results shorter than the
 * record plus this are kept there too (see mt__future_finish). A task with
 * a long for argument and result then takes 160 bytes in all. */
#define SPACE_MIN 8

/* ---- tasks ------------------------------------------------------------ */

/* A future carrying fn and its argument, with a reference for the queue. */
static mt_future *task_new(mt_fn *fn, const void *arg, size_t len, bool copy)
{
    bool inline_arg = copy && len <= INLINE_ARG_MAX;
    size_t room = inline_arg && len > SPACE_MIN ? len : SPACE_MIN;
    mt_future *f = mt__future_new_ext(sizeof(task) + room);
    if (!f)
        return NULL;
    task *t = mt__future_ext(f);
    atomic_init(&t->next, NULL);
    t->fn = fn;
    t->arg = arg;
    t->len = len;
    t->owned = NULL;
    if (inline_arg) {
        if (len)
            memcpy(t + 1, arg, len);
        t->arg = t + 1;
    } else if (copy) {
        t->owned = malloc(len);
        if (!t->owned) {
            mt_future_free(f);
            return NULL;
        }
        memcpy(t->owned, arg, len);
        t->arg = t->owned;
    }
    return mt_future_ref(f);
}

/* Forget a task that will not run (the future is cancelled or failed). */
static void task_drop(task *t)
{
    mt_future *f = mt__future_of_ext(t);
    free(t->owned);
    mt_future_free(f);
}

static void run_task(mt_executor *ex, task *t, mt_buf *out)
{
    mt_future *f = mt__future_of_ext(t);
    if (mt__future_start(f) < 0) { /* cancelled while queued */
        task_drop(t);
        return;
    }
    uint64_t t0 = mt__trace_on ? mt_monotonic_ns() : 0;
    int err = t->fn(t->arg, t->len, out);
    if (mt__trace_on)
        mt_trace_slice("task", "executor", (uint64_t)gettid(), t0, mt_monotonic_ns());
    free(t->owned);
    /* Idle from here on (Python releases its idle semaphore after the
     * task): count it before the future wakes anyone, so that a caller that
     * waits and submits again finds this thread instead of starting one. */
    if (atomic_load_explicit(&ex->nthreads, memory_order_relaxed) < ex->max_workers)
        atomic_fetch_add(&ex->idle, 1);
    mt__future_finish(f, err, out); /* t is gone from here on */
    mt_future_free(f);
}

/* ---- the gate --------------------------------------------------------- */

/* Set a closed bit and wait until no submit is between its checks and its
 * push: afterwards nothing more gets queued. */
static void close_gate(mt_executor *ex, uint32_t bit)
{
    atomic_fetch_or(&ex->gate, bit);
    while (atomic_load(&ex->gate) >= GATE_ONE)
        sched_yield();
}

/* ---- worker threads --------------------------------------------------- */

/* The executor whose worker the calling thread is, or NULL. */
static _Thread_local mt_executor *current_executor;

/* Fail every queued task with the initializer's error. */
static void fail_queued(mt_executor *ex)
{
    task *t;
    while ((t = mt__rq_pop(&ex->q))) {
        mt_future *f = mt__future_of_ext(t);
        free(t->owned); /* the message may land where t is */
        mt_buf msg = MT_BUF_INIT;
        pthread_mutex_lock(&ex->mu);
        mt_buf_append(&msg, ex->broken_msg.data, ex->broken_msg.len);
        pthread_mutex_unlock(&ex->mu);
        mt__future_finish(f, MT_EBROKEN, &msg);
        mt_buf_free(&msg);
        mt_future_free(f);
    }
}

/* Run the initializer; on failure break the executor (Python's
 * _initializer_failed) and return its error. */
static int run_initializer(mt_executor *ex)
{
    mt_buf msg = MT_BUF_INIT;
    const char *arg = ex->initarg.data ? ex->initarg.data : "";
    int err = ex->initializer(arg, ex->initarg.len, &msg);
    if (err == 0) {
        mt_buf_free(&msg);
        return 0;
    }
    if (err > 0)
        err = MT_EFAILED;
    pthread_mutex_lock(&ex->mu);
    if (!ex->broken) {
        ex->broken = err;
        mt_buf_printf(&ex->broken_msg,
                      "a thread initializer failed, the thread pool is not usable anymore: "
                      "%s: %.*s",
                      mt_err_name(err), (int)msg.len, msg.data ? msg.data : "");
    }
    pthread_mutex_unlock(&ex->mu);
    mt_buf_free(&msg);
    close_gate(ex, GATE_BROKEN);
    fail_queued(ex);
    return err;
}

static void *worker_main(void *arg)
{
    mt_executor *ex = arg;
    current_executor = ex;
    if (mt__trace_on) {
        char name[16] = "";
        pthread_getname_np(pthread_self(), name, sizeof name);
        mt_trace_track_name((uint64_t)gettid(), name);
    }
    if (ex->initializer && run_initializer(ex) < 0)
        return NULL;
    mt_buf out = MT_BUF_INIT; /* reused: small results are copied out of it */
    task *t;
    while ((t = mt__rq_next(&ex->q)))
        run_task(ex, t, &out);
    mt_buf_free(&out);
    return NULL;
}

/* Start one more thread, unless there are max_workers. Returns 0, or an
 * error only when there is no thread at all to run the work. */
static int start_thread(mt_executor *ex)
{
    int err = 0;
    pthread_mutex_lock(&ex->mu);
    int n = atomic_load(&ex->nthreads);
    if (n < ex->max_workers) {
        /* The new thread inherits a mask that blocks every signal. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int rc = pthread_create(&ex->threads[n], NULL, worker_main, ex);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc == 0) {
            char name[64];
            snprintf(name, sizeof name, "%s_%d", ex->prefix, n);
            name[15] = '\0'; /* what Linux keeps */
            pthread_setname_np(ex->threads[n], name);
            atomic_store(&ex->nthreads, n + 1);
        } else if (n == 0) {
            err = -rc;
        }
    }
    pthread_mutex_unlock(&ex->mu);
    return err;
}

/* Python's _adjust_thread_count: use an idle thread, else start one. */
static int ensure_thread(mt_executor *ex)
{
    if (atomic_load_explicit(&ex->nthreads, memory_order_relaxed) >= ex->max_workers)
        return 0;
    uint32_t idle = atomic_load(&ex->idle);
    while (idle)
        if (atomic_compare_exchange_weak(&ex->idle, &idle, idle - 1))
            return 0;
    return start_thread(ex);
}

/* Join every thread not joined yet. One of ex's own threads (in a task or a
 * done callback) joins none: it cannot join itself, and another joiner may
 * be joining it (it would wait on join_mu for ever), or a thread it joined
 * may wait for work that only it would run. */
static int join_threads(mt_executor *ex)
{
    if (current_executor == ex)
        return -EDEADLK;
    pthread_mutex_lock(&ex->join_mu);
    int n = atomic_load(&ex->nthreads); /* final: threads start only inside the gate */
    for (int i = 0; i < n; i++) {
        if (!ex->joined[i]) {
            pthread_join(ex->threads[i], NULL);
            ex->joined[i] = true;
        }
    }
    pthread_mutex_unlock(&ex->join_mu);
    return 0;
}

/* ---- public ----------------------------------------------------------- */

static int default_workers(void)
{
    int n = mt_cpu_count() + 4;
    return n < 32 ? n : 32;
}

int mt_executor_new(mt_executor **out, const mt_executor_opts *opts)
{
    static const mt_executor_opts defaults;
    static _Atomic unsigned serial;
    if (!out)
        return -EINVAL;
    if (!opts)
        opts = &defaults;
    if (opts->max_workers < 0 || opts->max_workers > MAX_WORKERS ||
        (!opts->initarg && opts->initarg_len))
        return -EINVAL;
    size_t size = (sizeof(mt_executor) + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
    mt_executor *ex = aligned_alloc(CACHE_LINE, size);
    if (!ex)
        return -ENOMEM;
    memset(ex, 0, sizeof *ex);
    mt__rq_init(&ex->q);
    ex->max_workers = opts->max_workers ? opts->max_workers : default_workers();
    ex->initializer = opts->initializer;
    ex->threads = calloc((size_t)ex->max_workers, sizeof *ex->threads);
    ex->joined = calloc((size_t)ex->max_workers, sizeof *ex->joined);
    if (!ex->threads || !ex->joined ||
        mt_buf_append(&ex->initarg, opts->initarg, opts->initarg_len) < 0)
        goto fail_alloc;
    if (pthread_mutex_init(&ex->mu, NULL) != 0)
        goto fail_alloc;
    if (pthread_mutex_init(&ex->join_mu, NULL) != 0)
        goto fail_mu;
    if (opts->thread_name_prefix)
        snprintf(ex->prefix, sizeof ex->prefix, "%s", opts->thread_name_prefix);
    else
        snprintf(ex->prefix, sizeof ex->prefix, "ThreadPool-%u", atomic_fetch_add(&serial, 1));
    *out = ex;
    return 0;

fail_mu:
    pthread_mutex_destroy(&ex->mu);
fail_alloc:
    mt_buf_free(&ex->initarg);
    free(ex->joined);
    free(ex->threads);
    free(ex);
    return -ENOMEM;
}

int mt_executor_max_workers(const mt_executor *ex)
{
    return ex ? ex->max_workers : 0;
}

int mt__executor_submit(mt_executor *ex, mt_fn *fn, const void *arg, size_t len, bool copy,
                        mt_future **out)
{
    if (!ex || !fn || !out || (!arg && len))
        return -EINVAL;
    uint32_t gate = atomic_fetch_add(&ex->gate, GATE_ONE);
    int err = gate & GATE_BROKEN ? MT_EBROKEN : gate & GATE_SHUTDOWN ? MT_ECLOSED : 0;
    mt_future *f = NULL;
    if (err == 0 && !(f = task_new(fn, arg ? arg : "", len, copy)))
        err = -ENOMEM;
    if (err == 0)
        err = ensure_thread(ex);
    if (err == 0)
        mt__rq_push(&ex->q, mt__future_ext(f));
    atomic_fetch_sub(&ex->gate, GATE_ONE);
    if (err < 0) {
        if (f)
            task_drop(mt__future_ext(f));
        mt_future_free(f);
        return err;
    }
    *out = f;
    return 0;
}

int mt_executor_submit(mt_executor *ex, mt_fn *fn, const void *arg, size_t len,
                       mt_future **out)
{
    return mt__executor_submit(ex, fn, arg, len, true, out);
}

int mt_executor_submit_ref(mt_executor *ex, mt_fn *fn, const void *arg, size_t len,
                           mt_future **out)
{
    return mt__executor_submit(ex, fn, arg, len, false, out);
}

int mt_executor_shutdown(mt_executor *ex, unsigned flags)
{
    if (!ex || (flags & ~(unsigned)(MT_SHUTDOWN_WAIT | MT_SHUTDOWN_CANCEL_FUTURES)))
        return -EINVAL;
    close_gate(ex, GATE_SHUTDOWN);
    if (flags & MT_SHUTDOWN_CANCEL_FUTURES) {
        task *t;
        while ((t = mt__rq_pop(&ex->q))) {
            mt_future_cancel(mt__future_of_ext(t));
            task_drop(t);
        }
    }
    mt__rq_stop(&ex->q);
    return flags & MT_SHUTDOWN_WAIT ? join_threads(ex) : 0;
}

void mt_executor_free(mt_executor *ex)
{
    if (!ex)
        return;
    mt_executor_shutdown(ex, MT_SHUTDOWN_WAIT);
    /* Left only if no thread could run them (all failed to start). */
    task *t;
    while ((t = mt__rq_pop(&ex->q))) {
        mt_future_cancel(mt__future_of_ext(t));
        task_drop(t);
    }
    pthread_mutex_destroy(&ex->join_mu);
    pthread_mutex_destroy(&ex->mu);
    mt_buf_free(&ex->broken_msg);
    mt_buf_free(&ex->initarg);
    free(ex->joined);
    free(ex->threads);
    free(ex);
}
