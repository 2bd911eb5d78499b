/*
 * pool_map.c - many items through the pool, waiting for all: map,
 * map_iov, starmap, and the results they give back, which keep the chunks'
 * records as they came (see pool_batch.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../future/results_internal.h"
#include "pool_internal.h"

/* A map's results: the chunk records as they came back. */
typedef struct pool_results {
    mt_results base;
    size_t chunksize, nchunks;
    mt__chunk_result *chunks;
    mt__arena arena; /* where the chunks' bodies live */
} pool_results;

int mt__batch_start(mt_pool *p, mt_fn *fn, const void *items, const mt_iov *iov, size_t n,
                    size_t item_size, const mt_map_opts *opts, bool whole, mt__batch **out)
{
    static const mt_map_opts defaults;
    if (!opts)
        opts = &defaults;
    if (!p || !fn || !out || (n && !items && !iov) || (!iov && !item_size))
        return -EINVAL;
    size_t avg = item_size;
    if (iov) {
        size_t total = 0;
        for (size_t i = 0; i < n; i++) {
            if (!iov[i].data && iov[i].len)
                return -EINVAL;
            total += iov[i].len + sizeof(uint64_t);
        }
        avg = n ? total / n : 1;
    }
    /* imap hands results out as they come: one item a chunk unless asked,
     * as Python's imap does, so that the first result is not held back. */
    size_t chunksize = whole ? mt__batch_pick_chunksize(p, n, avg, opts->chunksize)
                             : mt__batch_pick_chunksize(p, n, avg, opts->chunksize ? opts->chunksize : 1);
    mt__batch *b = mt__batch_new(fn, items, iov, n, item_size, chunksize, 0, 0, opts->unordered);
    mt__source *s = calloc(1, sizeof *s);
    if (!b || !s) {
        free(s);
        if (b)
            mt__batch_unref(b);
        return -ENOMEM;
    }
    b->use_arena = whole;
    s->batch = b;
    pthread_mutex_lock(&p->mu);
    int err = mt__pool_open_for_work(p);
    if (err == 0 && n) {
        b->refs++; /* the pending list's */
        mt__pool_enqueue(p, s);
        s = NULL;
    }
    mt__pool_unlock(p);
    free(s);
    if (err < 0) {
        mt__batch_unref(b);
        return err;
    }
    *out = b;
    return 0;
}

static bool batch_done(void *arg)
{
    mt__batch *b = arg;
    return b->chunks_done == b->nchunks;
}

static int pool_results_get(const mt_results *base, size_t i, mt_iov *out)
{
    const pool_results *r = (const pool_results *)base;
    return mt__chunk_item(&r->chunks[i / r->chunksize], i % r->chunksize, out);
}

static void pool_results_free(mt_results *base)
{
    pool_results *r = (pool_results *)base;
    for (size_t i = 0; i < r->nchunks; i++)
        mt__chunk_free(&r->chunks[i]);
    free(r->chunks);
    mt__arena_free(&r->arena);
    free(r);
}

/* Items [c * chunksize, ...) of chunk c. */
static size_t chunk_end(const pool_results *r, size_t c)
{
    size_t end = (c + 1) * r->chunksize;
    return end < r->base.n ? end : r->base.n;
}

/* Records count their failed items: only those chunks need a look. */
static int pool_results_first_error(const mt_results *base)
{
    const pool_results *r = (const pool_results *)base;
    for (size_t c = 0; c < r->nchunks; c++) {
        if (!r->chunks[c].err && !r->chunks[c].nfailed)
            continue;
        int err = mt__results_first_error_in(base, c * r->chunksize, chunk_end(r, c));
        if (err)
            return err;
    }
    return 0;
}

/* Chunks whose items all succeeded with item_size bytes are copied whole. */
static int pool_results_copy(const mt_results *base, void *dst, size_t item_size)
{
    const pool_results *r = (const pool_results *)base;
    for (size_t c = 0; c < r->nchunks; c++) {
        const mt__chunk_result *ch = &r->chunks[c];
        size_t from = c * r->chunksize;
        int err = 0;
        if (!ch->err && ch->uniform && ch->item_len == item_size)
            memcpy((char *)dst + from * item_size, ch->body, (size_t)ch->nitems * item_size);
        else
            err = mt__results_copy_range(base, dst, item_size, from, chunk_end(r, c));
        if (err)
            return err;
    }
    return 0;
}

static const mt__results_ops pool_results_ops = {.get = pool_results_get,
                                                 .free = pool_results_free,
                                                 .first_error = pool_results_first_error,
                                                 .copy = pool_results_copy};

static int map_run(mt_pool *p, mt_fn *fn, const void *items, const mt_iov *iov, size_t n,
                   size_t item_size, const mt_map_opts *opts, mt_results **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (p && p->remote)
        return mt__rpool_map(p, fn, items, iov, n, item_size, opts, out);
    pool_results *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    mt__batch *b;
    int err = mt__batch_start(p, fn, items, iov, n, item_size, opts, true, &b);
    if (err < 0) {
        free(r);
        return err;
    }
    mt__pool_wait(p, batch_done, b, MT__NEVER);
    pthread_mutex_lock(&p->mu);
    r->base = (mt_results){&pool_results_ops, b->n};
    r->chunksize = b->chunksize;
    r->nchunks = b->nchunks;
    r->chunks = b->chunks; /* the results keep the records as they came */
    b->chunks = NULL;
    r->arena = b->arena;
    b->arena = (mt__arena){NULL};
    mt__batch_unref(b);
    mt__pool_unlock(p);
    *out = &r->base;
    return mt__results_first_error(&r->base);
}

int mt_pool_map(mt_pool *p, mt_fn *fn, const void *items, size_t n, size_t item_size,
                const mt_map_opts *opts, mt_results **out)
{
    if (!items && n)
        return -EINVAL;
    return map_run(p, fn, items ? items : "", NULL, n, item_size, opts, out);
}

int mt_pool_map_iov(mt_pool *p, mt_fn *fn, const mt_iov *items, size_t n,
                    const mt_map_opts *opts, mt_results **out)
{
    static const mt_iov none;
    if (!items && n)
        return -EINVAL;
    return map_run(p, fn, NULL, items ? items : &none, n, 0, opts, out);
}

int mt_pool_starmap(mt_pool *p, mt_fn *fn, const mt_iov *args, size_t n, size_t nargs,
                    const mt_map_opts *opts, mt_results **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if ((!args && n && nargs) || (nargs && n > SIZE_MAX / nargs))
        return -EINVAL;
    for (size_t i = 0; i < n * nargs; i++)
        if (!args[i].data && args[i].len)
            return -EINVAL;
    mt_buf packed = MT_BUF_INIT;
    size_t *ends = calloc(n ? n : 1, sizeof *ends);
    mt_iov *items = calloc(n ? n : 1, sizeof *items);
    int err = ends && items ? 0 : -ENOMEM;
    for (size_t i = 0; i < n && err == 0; i++) {
        err = mt_pack(&packed, args + i * nargs, nargs);
        ends[i] = packed.len;
    }
    for (size_t i = 0; i < n && err == 0; i++) {
        size_t start = i ? ends[i - 1] : 0;
        items[i] = (mt_iov){packed.data + start, ends[i] - start};
    }
    if (err == 0)
        err = mt_pool_map_iov(p, fn, items, n, opts, out);
    mt_buf_free(&packed);
    free(ends);
    free(items);
    return err;
}

