/*
 * multitask/future.h - one future for every asynchronous result.
 *
 * An mt_future is what the process pool and the thread pool hand back for
 * work that finishes later, and what a coroutine awaits without blocking its
 * loop (mt_co_await_future): Python's concurrent.futures.Future,
 * asyncio.Future and multiprocessing's AsyncResult in one object. A future
 * moves through
 *
 *   PENDING -> RUNNING -> DONE         (the function returned, well or not)
 *   PENDING -> CANCELLED               (mt_future_cancel before it started)
 *
 * and never changes once DONE or CANCELLED.
 *
 * Usage:
 *   1. Get a future from a pool (mt_pool_apply_async) or an executor.
 *   2. Wait for it: mt_future_result(f, timeout, &res) returns the task's own
 *      0 or error, -ETIMEDOUT when it is not done in time, -ECANCELED when it
 *      was cancelled. mt_future_wait() waits without looking at the result.
 *   3. Release it with mt_future_free() when done with it.
 *
 * Many futures at once, from any producers mixed (concurrent.futures.wait
 * and as_completed):
 *   - mt_wait(fs, n, timeout, MT_FIRST_COMPLETED, ...) waits until one, the
 *     first failure, or all of them are done, and sorts them into done and
 *     not done.
 *   - mt_as_completed_new / _next / _free hand them back one at a time in
 *     the order they finish.
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
#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_future mt_future;

/* A done callback: runs once, in whichever thread completes the future (or
 * the caller's, if the future is already done), holding none of the
 * library's locks: it may submit more work to the pool or executor the
 * future came from. It must not block for long, and must not wait for
 * another future of that pool or executor: the thread it runs on (a pool's
 * supervisor, an executor's worker) may be the one that would finish it. */
typedef void mt_future_cb(mt_future *f, void *arg);

/*
 * mt_future_wait - wait until the future is done or cancelled.
 * Returns 0, -ETIMEDOUT when `timeout` seconds pass first, or -EINVAL for a
 * NaN timeout or a NULL future.
 */
int mt_future_wait(mt_future *f, double timeout);

/*
 * mt_future_result - wait, then report the outcome.
 * Returns the task's own return value (0, or its error code), -ETIMEDOUT if
 * it is not done within `timeout`, -ECANCELED if it was cancelled, or -EINVAL
 * for a NaN timeout (nothing is waited for). When the
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

/* mt_future_free - drop one reference; the last frees the future.
 * NULL is accepted and ignored. */
void mt_future_free(mt_future *f);

/* ---- many futures ------------------------------------------------------ */

/* When mt_wait returns (Python's return_when). */
typedef enum mt_return_when {
    MT_ALL_COMPLETED = 0,   /* every future is done or cancelled */
    MT_FIRST_COMPLETED = 1, /* any future is done or cancelled */
    MT_FIRST_EXCEPTION = 2, /* any future failed (done with an error, not
                             * cancelled); with no failure, all are done */
} mt_return_when;

/*
 * mt_wait - wait until `when` holds for the n futures fs[0..n), or until
 * `timeout` seconds pass. The futures may come from any producers (thread
 * pool, process pool, ...) mixed; the wait sleeps until one of them
 * finishes (done callbacks wake it), it never polls.
 *
 * On return, done[0..*ndone) holds the futures that are done or cancelled
 * and not_done[0..*nnot_done) the others, each in the order of fs; each of
 * the four may be NULL when not wanted, and each array needs room for n.
 * The futures are borrowed: no reference is taken or dropped. An entry given
 * twice is counted twice.
 *
 * Returns 0 when `when` holds (for n == 0 at once), -ETIMEDOUT when the
 * timeout passed first (the outputs are filled all the same: Python returns
 * the two sets then too), -EINVAL (fs NULL with n > 0, a NULL entry, an
 * unknown `when`, a NaN timeout; nothing is written), -ENOMEM.
 *
 * Thread-safe; several threads may wait on the same futures.
 */
int mt_wait(mt_future *const *fs, size_t n, double timeout, mt_return_when when,
            mt_future **done, size_t *ndone, mt_future **not_done, size_t *nnot_done);

/* An iterator over futures in the order they finish. */
typedef struct mt_as_completed mt_as_completed;

/*
 * mt_as_completed_new - start handing back fs[0..n) as they finish, those
 * already finished first. `timeout` bounds the whole iteration, as Python's
 * does: it counts from this call. The iterator takes a reference on each
 * future (so the caller may release its own) and gives them back in
 * mt_as_completed_free. Returns 0; -EINVAL (out NULL, fs NULL with n > 0, a
 * NULL entry, a NaN timeout); -ENOMEM. Thread-safe.
 */
int mt_as_completed_new(mt_as_completed **out, mt_future *const *fs, size_t n,
                        double timeout);

/*
 * mt_as_completed_next - wait for the next future to finish. Sets *index
 * (which entry of fs it was) and *f (borrowed from the iterator: valid until
 * mt_as_completed_free) when they are not NULL, and returns 0. Returns
 * MT_EOF once every entry has been handed back, -ETIMEDOUT when the
 * iteration's timeout passed with none finished (futures that finish later
 * are still handed back by later calls), -EINVAL for a NULL iterator. Use an
 * iterator from one thread at a time.
 */
int mt_as_completed_next(mt_as_completed *it, size_t *index, mt_future **f);

/*
 * mt_as_completed_free - stop iterating: no callback of the iterator is left
 * on any future once this returns, and the references it took are released.
 * It may wait for such a callback that another thread is running right now,
 * so it must not be called from a done callback. NULL is ignored.
 */
void mt_as_completed_free(mt_as_completed *it);

#ifdef __cplusplus
}
#endif
#endif
