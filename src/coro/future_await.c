/*
 * future_await.c - awaiting an mt_future (from the thread pool, the
 * process pool, anything) without blocking the loop: a done callback, run
 * in whichever thread finishes the future, pushes a record on the loop's
 * lock-free list and wakes libuv through its async handle; the loop then
 * wakes the coroutine. run_in_executor and to_thread build on it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "../future/future_internal.h"
#include "coro_internal.h"

typedef struct fut_wait {
    mt__remote r;
    mt_task *task;
    bool delivered;
    mt__wake_timer ft;
} fut_wait;

static void deliver(mt__remote *r)
{
    fut_wait *w = (fut_wait *)r;
    w->delivered = true;
    mt__wake(w->task, 0);
}

static void on_done(mt_future *f, void *arg)
{
    (void)f;
    fut_wait *w = arg;
    mt__remote_push(w->task->loop, &w->r);
}

static void remote_ref(mt_loop *l, int delta)
{
    if (delta > 0 && l->remote_waits++ == 0)
        uv_ref((uv_handle_t *)&l->uv_async);
    if (delta < 0 && --l->remote_waits == 0)
        uv_unref((uv_handle_t *)&l->uv_async);
}

int mt_co_await_future(mt_future *f, double timeout, mt_iov *result)
{
    mt_task *t = mt__current();
    if (!t)
        return MT_ENOTCORO;
    if (!f)
        return -EINVAL;
    if (!mt_future_done(f)) {
        int code = mt__interrupt_code(t);
        if (code)
            return code;
        mt_loop *l = t->loop;
        fut_wait local, *w = mt__rec(t, &local, sizeof local);
        if (!w)
            return -ENOMEM;
        *w = (fut_wait){.r.deliver = deliver, .task = t};
        remote_ref(l, +1);
        int err = mt_future_add_done_callback(f, on_done, w);
        if (err) {
            remote_ref(l, -1);
            mt__rec_free(w, &local);
            return err;
        }
        err = mt__wake_timer_start(&w->ft, t, timeout);
        int r = 0;
        while (!err && !w->delivered && !r)
            r = mt__suspend(t, false);
        mt__wake_timer_stop(&w->ft);
        if (!w->delivered) {
            /* Given up (cancelled, timed out): take the callback back, or,
             * when it is already running, wait for its record. */
            if (r == -ECANCELED || r == -ETIMEDOUT)
                mt_future_cancel(f);
            if (mt__future_remove_done_callback(f, on_done, w) != 0)
                while (!w->delivered)
                    mt__suspend(t, true);
        }
        remote_ref(l, -1);
        mt__rec_free(w, &local);
        if (err)
            return err;
        if (r)
            return r;
    }
    return mt_future_result(f, 0, result);
}

int mt__loop_executor(mt_loop *l, mt_executor **out)
{
    if (!l->executor) {
        int err = mt_executor_new(&l->executor,
                                  &(mt_executor_opts){.thread_name_prefix = "asyncio"});
        if (err)
            return err;
    }
    *out = l->executor;
    return 0;
}

int mt_co_run_in_executor(mt_executor *ex, mt_fn *fn, const void *arg, size_t len,
                          mt_buf *out)
{
    mt_task *t = mt__current();
    if (!t)
        return MT_ENOTCORO;
    if (!fn || (!arg && len))
        return -EINVAL;
    if (!ex) {
        int err = mt__loop_executor(t->loop, &ex);
        if (err)
            return err;
    }
    mt_future *f;
    int err = mt_executor_submit(ex, fn, arg, len, &f);
    if (err)
        return err;
    int r = mt_co_await_future(f, MT_FOREVER, NULL);
    if (out && mt_future_done(f) && !mt_future_cancelled(f)) {
        if (r >= 0) {
            mt_future_take(f, out);
        } else {
            const char *msg = mt_future_error_message(f);
            mt_buf_reset(out);
            mt_buf_append(out, msg, strlen(msg));
        }
    }
    mt_future_free(f);
    return r;
}

int mt_co_to_thread(mt_fn *fn, const void *arg, size_t len, mt_buf *out)
{
    return mt_co_run_in_executor(NULL, fn, arg, len, out);
}
