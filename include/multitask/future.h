/*
 * multitask/future.h - one future for every asynchronous result.
 *
 * An mt_future is what the process pool, the thread pool and (later) the
 * coroutine loop hand back for work that finishes later: Python's
 * concurrent.futures.Future, asyncio.Future and multiprocessing's AsyncResult
 * in one object. A future moves through
 *
 *   PENDING -> RUNNING -> DONE         (the task returned, successfully or not)
 *   PENDING -> CANCELLED               (mt_future_cancel before it started)
 *
 * and never changes once DONE or CANCELLED.
 *
 * Usage:
 *   1. Get a future from a pool (mt_pool_apply_async) or an executor.
 *   2. Wait for it: mt_future_result(f, timeout, &res) returns the task's own
 *      0 or error, -ETIMEDOUT when it is not done in time, -ECANCELED when it
 *      was cancelled. mt_future_wait() waits without looking at the result.
 *   3. Release it with mt_future_release() when done with it.
 *
 * Ownership: a future is reference-counted. Whoever receives one from a
 * multitask call owns one reference and must release it; the result bytes
 * belong to the future and stay valid until the last reference is released
 * (or until mt_future_take moves them out).
 *
 * Thread safety: every function here is thread-safe. A future belongs to the
 * process that created it; after fork() the child must not use its parent's
 * futures.
 */
#ifndef MULTITASK_FUTURE_H
#define MULTITASK_FUTURE_H

#include <stdbool.h>

#include "buf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_future mt_future;

/* A done callback: runs once, in whichever thread completes the future (or
 * the caller's, if the future is already done); it must not block. */
typedef void mt_future_cb(mt_future *f, void *arg);

/*
 * mt_future_wait - wait until the future is done or cancelled.
 * Returns 0, or -ETIMEDOUT when `timeout` seconds pass first.
 */
int mt_future_wait(mt_future *f, double timeout);

/*
 * mt_future_result - wait, then report the outcome.
 * Returns the task's own return value (0, or its error code), -ETIMEDOUT if
 * it is not done within `timeout`, or -ECANCELED if it was cancelled. When the
 * task succeeded and `result` is not NULL, *result points at the result bytes
 * (owned by the future). A task can itself fail with -ETIMEDOUT; tell the two
 * apart with mt_future_done().
 */
int mt_future_result(mt_future *f, double timeout, mt_iov *result);

/*
 * mt_future_error_message - the message a failed task left (see task.h), as
 * a NUL-terminated string owned by the future; "" when there is none or the
 * future is not done.
 */
const char *mt_future_error_message(mt_future *f);

/*
 * mt_future_take - move the result bytes into *out (its old memory is freed)
 * without copying. Returns the task's return value like mt_future_result with
 * a zero timeout (-ETIMEDOUT if not done yet); after a successful take the
 * future's result is empty.
 */
int mt_future_take(mt_future *f, mt_buf *out);

/* mt_future_done - true when done or cancelled (Python's done()/ready()). */
bool mt_future_done(const mt_future *f);

/* mt_future_running - true while a worker runs the task. */
bool mt_future_running(const mt_future *f);

/* mt_future_cancelled - true when cancelled. */
bool mt_future_cancelled(const mt_future *f);

/*
 * mt_future_cancel - cancel a task that has not started.
 * Returns 0 (cancelled now, or already), or -EBUSY when the task is running
 * or done. Done callbacks of a cancelled future run.
 */
int mt_future_cancel(mt_future *f);

/*
 * mt_future_add_done_callback - run cb(f, arg) once the future is done or
 * cancelled; at once, in this thread, if it already is. Callbacks run in the
 * order they were added. Returns 0 or -ENOMEM (cb will not be called).
 */
int mt_future_add_done_callback(mt_future *f, mt_future_cb *cb, void *arg);

/* mt_future_ref - take one more reference; returns f. */
mt_future *mt_future_ref(mt_future *f);

/* mt_future_release - drop one reference; the last frees the future.
 * NULL is accepted and ignored. */
void mt_future_release(mt_future *f);

#ifdef __cplusplus
}
#endif
#endif
