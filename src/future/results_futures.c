/*
 * results_futures.c - a map's results that keep one future per item, so
 * that the bytes are never copied again (the thread pool's map, a pool's
 * on a server).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "results_internal.h"

static int future_results_get(const mt_results *base, size_t i, mt_iov *out)
{
    mt_future *f = ((const mt__future_results *)base)->fs[i];
    if (!f) {
        *out = (mt_iov){"", 0};
        return -ETIMEDOUT;
    }
    int err = mt_future_result(f, 0, out);
    if (err) {
        const char *msg = mt_future_error_message(f);
        *out = (mt_iov){msg, strlen(msg)};
    }
    return err;
}

static void future_results_free(mt_results *base)
{
    mt__future_results *r = (mt__future_results *)base;
    for (size_t i = 0; i < r->base.n; i++)
        mt_future_free(r->fs[i]);
    free(r->fs);
    free(r);
}

static const mt__results_ops future_results_ops = {.get = future_results_get,
                                                   .free = future_results_free};

mt__future_results *mt__future_results_new(size_t n)
{
    mt__future_results *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->fs = calloc(n ? n : 1, sizeof *r->fs);
    if (!r->fs) {
        free(r);
        return NULL;
    }
    r->base = (mt_results){&future_results_ops, n};
    return r;
}
