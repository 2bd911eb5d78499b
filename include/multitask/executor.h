/*
 * multitask/executor.h - a pool of threads that run tasks
 * (concurrent.futures.ThreadPoolExecutor).
 *
 * The tasks have the one signature of task.h and the futures are the same
 * mt_future the process pool hands out, so a task moves between a thread, a
 * worker process and a coroutine unchanged, and mt_wait / mt_as_completed
 * (future.h) take futures of both kinds mixed.
 *
 * Usage:
 *   1. mt_executor_new(&ex, &(mt_executor_opts){.max_workers = 8}); no thread
 *      starts yet.
 *   2. Give it work:
 *        mt_executor_submit      one task, its argument copied; a future
 *        mt_executor_submit_ref  one task, its argument borrowed; a future
 *        mt_executor_map         many items, results in item order
 *      and wait with mt_future_result, mt_wait or mt_as_completed.
 *   3. mt_executor_shutdown(ex, MT_SHUTDOWN_WAIT) lets the queued work finish and
 *      joins the threads (cancel_futures drops the work not yet started).
 *   4. mt_executor_free(ex).
 *
 * Threads start lazily, as in Python: a submit starts a new thread when no
 * started thread is idle, until there are max_workers. They run until
 * shutdown; an idle thread spins a few microseconds, then sleeps. Worker
 * threads block every signal that can be blocked, so that handlers run in
 * the program's own threads; they are named "<prefix>_<n>" (n from 0).
 *
 * Done callbacks of an executor's futures run in the worker thread that
 * finished the task (or, for a cancelled future, in the thread that
 * cancelled it), and must not block.
 *
 * Thread safety: every function may be called from any thread at once,
 * except mt_executor_free, which must be the last call on the executor.
 * A task may submit more work to its own executor. Fork: a child process
 * must not use its parent's executor (its threads are not in the child).
 *
 * Global state: a counter that numbers executors for the default thread
 * names ("ThreadPool-<k>"); nothing else.
 */
#ifndef MULTITASK_EXECUTOR_H
#define MULTITASK_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "future.h"
#include "results.h"
#include "fn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_executor mt_executor;

typedef struct mt_executor_opts {
    /* The most threads it starts; 0 means min(32, mt_cpu_count() + 4), as
     * Python's default. At most 4096. */
    int max_workers;
    /* Run in each thread before its first task, with a copy of these
     * bytes. If it fails, the executor is broken: the work queued fails with
     * MT_EBROKEN (the message names the initializer's error and message), and
     * so does every later submit. */
    mt_fn *initializer;
    const void *initarg;
    size_t initarg_len;
    /* Thread names are "<prefix>_<n>", cut to the 15 bytes Linux keeps;
     * NULL means "ThreadPool-<k>", k numbering the executors. */
    const char *thread_name_prefix;
} mt_executor_opts;

/*
 * mt_executor_new - make a thread pool (no thread starts yet). opts may be
 * NULL for defaults; the options are copied, initarg's bytes too.
 * Returns 0; -EINVAL (out NULL, max_workers negative or above 4096,
 * initarg NULL with initarg_len > 0); -ENOMEM. Thread-safe.
 */
int mt_executor_new(mt_executor **out, const mt_executor_opts *opts);

/* mt_executor_max_workers - the most threads ex starts. */
int mt_executor_max_workers(const mt_executor *ex);

/*
 * mt_executor_submit - queue fn(arg, len) and return its future in *out
 * (the caller owns one reference). The argument's bytes are copied before
 * this returns, so the caller may reuse them at once; up to 256 bytes they
 * live in the future's own allocation, so a small task costs one malloc.
 * Tasks start in the order they were submitted.
 *
 * Returns 0; MT_EBROKEN when an initializer failed (checked first, as
 * Python does); MT_ECLOSED after mt_executor_shutdown (Python's RuntimeError);
 * -EINVAL (ex, fn or out NULL; arg NULL with len > 0); -ENOMEM; -EAGAIN when
 * the executor has no thread and cannot start one. On error nothing is
 * queued and *out is untouched. Thread-safe.
 */
int mt_executor_submit(mt_executor *ex, mt_fn *fn, const void *arg, size_t len,
                       mt_future **out);

/*
 * mt_executor_submit_ref - mt_executor_submit without the copy: the task
 * reads the caller's bytes in place, so they must stay valid and unchanged
 * until the future is done (mt_future_wait returned 0, or it was
 * cancelled). Same errors as mt_executor_submit.
 */
int mt_executor_submit_ref(mt_executor *ex, mt_fn *fn, const void *arg, size_t len,
                           mt_future **out);

/*
 * mt_executor_map - run fn on each of n items (an array of n items of
 * item_size bytes; each is copied as it is submitted) and wait for them in
 * order, as Python's map. `timeout` counts from this call for the whole map.
 *
 * On return *out holds every item's outcome in item order (free it with
 * mt_results_free), even when some failed. When the timeout passes first,
 * the items not started are cancelled (they report -ECANCELED), those still
 * running report -ETIMEDOUT (they finish in the pool and their results are
 * dropped), and the others their outcome.
 *
 * Returns 0 when every item succeeded; -ETIMEDOUT when the timeout passed;
 * else the error of the first failed item in item order. -EINVAL (ex, fn or
 * out NULL, items NULL with n > 0, item_size 0, a NaN timeout), MT_EBROKEN,
 * MT_ECLOSED, -ENOMEM and -EAGAIN (as submit: the items already submitted are
 * cancelled) leave *out NULL. Thread-safe.
 */
int mt_executor_map(mt_executor *ex, mt_fn *fn, const void *items, size_t n,
                    size_t item_size, double timeout, mt_results **out);

/* mt_executor_map_iov - mt_executor_map over n byte ranges of any sizes
 * (each copied as it is submitted). */
int mt_executor_map_iov(mt_executor *ex, mt_fn *fn, const mt_iov *items, size_t n,
                        double timeout, mt_results **out);

/* What mt_executor_shutdown does besides refusing new work; or them together.
 * Python's shutdown(wait=True, cancel_futures=False) is MT_SHUTDOWN_WAIT. */
enum mt_shutdown_flags {
    MT_SHUTDOWN_WAIT = 1 << 0,           /* return once every thread has exited */
    MT_SHUTDOWN_CANCEL_FUTURES = 1 << 1, /* cancel the work not yet started */
};

/*
 * mt_executor_shutdown - accept no more work: later submits fail with
 * MT_ECLOSED. With MT_SHUTDOWN_CANCEL_FUTURES, the calls not yet started are
 * cancelled (their futures report -ECANCELED and their done callbacks run);
 * otherwise the threads still run every queued call before they exit. With
 * MT_SHUTDOWN_WAIT, it returns once every thread has exited; without, at
 * once. Calling it again is harmless (a later call may still wait or
 * cancel).
 *
 * Returns 0; -EINVAL for a NULL ex or unknown flags; -EDEADLK when called
 * with MT_SHUTDOWN_WAIT from one of ex's own threads, in a call of fn or a
 * done callback (the shutdown happens, but that thread waits for no thread:
 * it cannot wait for itself, nor for one that may be waiting for it; it
 * exits after its call). Thread-safe.
 */
int mt_executor_shutdown(mt_executor *ex, unsigned flags);

/*
 * mt_executor_free - shut down as mt_executor_shutdown(ex, MT_SHUTDOWN_WAIT)
 * does when not done yet (so queued work still runs, as on leaving Python's
 * `with` block), join every thread and release the executor. Futures held
 * elsewhere stay valid. Must not be called from one of ex's tasks, nor while
 * another thread may still use ex. NULL is ignored.
 */
void mt_executor_free(mt_executor *ex);

#ifdef __cplusplus
}
#endif
#endif
