/*
 * pool_apply.c - one task at a time: apply_async (a future) and apply.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "pool_internal.h"

static bool future_done(void *f)
{
    return mt_future_done(f);
}

/* The pool drives a future someone waits for (see mt__pool_wait). */
static int drive_future(void *pool, mt_future *f, int64_t deadline)
{
    return mt__pool_wait(pool, future_done, f, deadline);
}

int mt_pool_apply_async(mt_pool *p, mt_fn *fn, const void *arg, size_t len,
                        mt_future **out)
{
    if (!p || !fn || !out || (!arg && len))
        return -EINVAL;
    if (p->remote)
        return mt__rpool_apply_async(p, fn, arg, len, out);
    mt_future *f = mt__future_new();
    mt__source *s = calloc(1, sizeof *s);
    if (!f || !s || mt_buf_append(&s->arg, arg, len) < 0) {
        mt_future_free(f);
        free(s);
        return -ENOMEM;
    }
    mt__future_set_driver(f, drive_future, p);
    s->future = mt_future_ref(f); /* the pool's reference */
    s->fn = fn;
    pthread_mutex_lock(&p->mu);
    int err = mt__pool_open_for_work(p);
    if (err == 0)
        err = mt__pool_own_future(p);
    if (err == 0)
        mt__pool_enqueue(p, s);
    mt__pool_unlock(p);
    if (err < 0) {
        mt_buf_free(&s->arg);
        free(s);
        mt_future_free(f);
        mt_future_free(f);
        return err;
    }
    *out = f;
    return 0;
}

int mt_pool_apply(mt_pool *p, mt_fn *fn, const void *arg, size_t len, mt_buf *out)
{
    mt_future *f;
    int err = mt_pool_apply_async(p, fn, arg, len, &f);
    if (err < 0)
        return err;
    mt_iov res;
    err = mt_future_result(f, MT_FOREVER, &res);
    if (out && err == 0)
        mt_buf_append(out, res.data, res.len);
    else if (out)
        mt_buf_printf(out, "%s", mt_future_error_message(f));
    mt_future_free(f);
    return err;
}
