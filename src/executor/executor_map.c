/*
 * executor_map.c - many items through the thread pool (Executor.map): one
 * future per item, submitted at once and waited for in item order. The
 * results keep the futures, so their bytes are never copied again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../future/results_internal.h"
#include "executor_internal.h"

typedef mt__future_results exec_results;

/* After a timeout: cancel what has not started, forget what still runs. */
static void abandon_unfinished(exec_results *r)
{
    for (size_t i = 0; i < r->base.n; i++) {
        mt_future *f = r->fs[i];
        if (mt_future_done(f))
            continue;
        mt_future_cancel(f);
        if (!mt_future_done(f)) {
            mt_future_free(f);
            r->fs[i] = NULL;
        }
    }
}

static int map_run(mt_executor *ex, mt_fn *fn, const char *items, const mt_iov *iov,
                   size_t n, size_t item_size, double timeout, mt_results **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!ex || !fn || (n && !items && !iov) || (!iov && !item_size) || isnan(timeout))
        return -EINVAL;
    mt__deadline d = mt__deadline_in(timeout);
    exec_results *r = mt__future_results_new(n);
    if (!r)
        return -ENOMEM;
    r->base.n = 0; /* counts the items submitted */
    int err = 0;
    for (size_t i = 0; i < n && err == 0; i++) {
        mt_iov arg = iov ? iov[i] : (mt_iov){items + i * item_size, item_size};
        err = mt__executor_submit(ex, fn, arg.data, arg.len, true, &r->fs[i]);
        r->base.n += err == 0;
    }
    if (err < 0) {
        for (size_t i = 0; i < r->base.n; i++)
            mt_future_cancel(r->fs[i]);
        mt_results_free(&r->base);
        return err;
    }
    bool timed_out = false;
    for (size_t i = 0; i < n && !timed_out; i++)
        timed_out = mt_future_wait(r->fs[i], mt__deadline_left(d)) < 0;
    if (timed_out)
        abandon_unfinished(r);
    *out = &r->base;
    return timed_out ? -ETIMEDOUT : mt__results_first_error(&r->base);
}

int mt_executor_map(mt_executor *ex, mt_fn *fn, const void *items, size_t n,
                    size_t item_size, double timeout, mt_results **out)
{
    return map_run(ex, fn, items, NULL, n, item_size, timeout, out);
}

int mt_executor_map_iov(mt_executor *ex, mt_fn *fn, const mt_iov *items, size_t n,
                        double timeout, mt_results **out)
{
    static const mt_iov none;
    if (!items && n) {
        if (out)
            *out = NULL;
        return -EINVAL;
    }
    return map_run(ex, fn, NULL, items ? items : &none, n, 0, timeout, out);
}
