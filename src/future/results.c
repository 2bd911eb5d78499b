/*
 * results.c - the outcomes of a map, whoever produced them: the process
 * pool keeps its result records as they came back, the thread pool keeps
 * its futures, and both answer these calls through their operations.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "results_internal.h"

size_t mt_results_len(const mt_results *r)
{
    return r ? r->n : 0;
}

int mt_results_get(const mt_results *r, size_t i, mt_iov *out)
{
    mt_iov ignored;
    if (!out)
        out = &ignored;
    if (!r || i >= r->n)
        return -ERANGE;
    return r->ops->get(r, i, out);
}

int mt__results_copy_range(const mt_results *r, void *dst, size_t item_size, size_t from,
                           size_t to)
{
    for (size_t i = from; i < to; i++) {
        mt_iov v;
        int err = r->ops->get(r, i, &v);
        if (err)
            return err;
        if (v.len != item_size)
            return -EMSGSIZE;
        memcpy((char *)dst + i * item_size, v.data, item_size);
    }
    return 0;
}

int mt_results_copy(const mt_results *r, void *dst, size_t item_size)
{
    if (!r || (!dst && r->n))
        return -EINVAL;
    if (r->ops->copy)
        return r->ops->copy(r, dst, item_size);
    return mt__results_copy_range(r, dst, item_size, 0, r->n);
}

int mt__results_first_error_in(const mt_results *r, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        mt_iov ignored;
        int err = r->ops->get(r, i, &ignored);
        if (err)
            return err;
    }
    return 0;
}

int mt__results_first_error(const mt_results *r)
{
    if (r->ops->first_error)
        return r->ops->first_error(r);
    return mt__results_first_error_in(r, 0, r->n);
}

void mt_results_free(mt_results *r)
{
    if (r)
        r->ops->free(r);
}
