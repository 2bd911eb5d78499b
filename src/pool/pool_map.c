/*
 * pool_map.c - many items through the pool: map, imap(_unordered),
 * starmap, and the results they give back. A batch is cut into chunks; each
 * chunk travels as one dispatch unit and comes back as one record (the items'
 * bytes, then an {err, end} entry per item), which the results keep as is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../future/results_internal.h"
#include "pool_internal.h"

#define CHUNK_ARG_BYTES (64 * 1024)

/* A map's results: the chunk records as they came back. */
typedef struct pool_results {
    mt_results base;
    size_t chunksize, nchunks;
    chunk_result *chunks;
    mt__arena arena; /* where the chunks' bodies live */
} pool_results;

struct mt_imap {
    mt_pool *pool;
    batch *b;
    bool unordered;
    size_t next;     /* ordered: the next item; unordered: items returned */
    size_t cur;      /* unordered: position in done_order */
    size_t cur_item; /* unordered: next item within that chunk */
    size_t held;     /* the chunk whose bytes the caller may still hold, +1 */
};

static void chunk_free(chunk_result *c)
{
    if (c->map)
        munmap(c->map, c->map_len);
    else if (!c->in_arena)
        free((void *)c->body);
    free(c->msg);
    free(c->crash_msg);
    *c = (chunk_result){.done = c->done};
}

void mt__batch_unref(batch *b)
{
    if (--b->refs > 0)
        return;
    for (size_t i = 0; b->chunks && i < b->nchunks; i++)
        chunk_free(&b->chunks[i]);
    free(b->chunks);
    free(b->done_order);
    mt__arena_free(&b->arena);
    free(b);
}

void mt__batch_chunk_done(mt_pool *p, batch *b, size_t chunk, chunk_result *res)
{
    (void)p;
    res->done = true;
    b->chunks[chunk] = *res;
    if (b->abandoned)
        chunk_free(&b->chunks[chunk]);
    if (b->done_order)
        b->done_order[b->ndone_order++] = chunk;
    b->chunks_done++;
    b->inflight--;
    mt__batch_unref(b);
}

static size_t pick_chunksize(const mt_pool *p, size_t n, size_t avg_bytes, size_t asked)
{
    if (asked)
        return asked < UINT32_MAX ? asked : UINT32_MAX;
    /* Python's rule (about four chunks per worker), capped so that a chunk's
     * arguments fit a slot's inline space. */
    size_t per = 4 * (size_t)p->nworkers;
    size_t size = n / per + (n % per != 0);
    size_t cap = CHUNK_ARG_BYTES / (avg_bytes ? avg_bytes : 1);
    if (size > cap)
        size = cap;
    return size ? size : 1;
}

/* Make a batch and queue it; `whole` when its results are kept until all
 * are done (map), so that they can share an arena. mu is taken here. */
static int batch_start(mt_pool *p, mt_task_fn *fn, const void *items, const mt_iov *iov,
                       size_t n, size_t item_size, const mt_map_opts *opts, bool whole,
                       batch **out)
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
    batch *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->fn = fn;
    b->items = items;
    b->iov = iov;
    b->n = n;
    b->item_size = item_size;
    b->chunksize = pick_chunksize(p, n, avg, opts->chunksize);
    b->nchunks = n / b->chunksize + (n % b->chunksize != 0);
    b->refs = 1;
    b->use_arena = whole;
    b->chunks = calloc(b->nchunks ? b->nchunks : 1, sizeof *b->chunks);
    if (opts->unordered)
        b->done_order = calloc(b->nchunks ? b->nchunks : 1, sizeof *b->done_order);
    source *s = calloc(1, sizeof *s);
    if (!b->chunks || (opts->unordered && !b->done_order) || !s) {
        free(s);
        mt__batch_unref(b);
        return -ENOMEM;
    }
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
    batch *b = arg;
    return b->chunks_done == b->nchunks;
}

chunk_result mt__chunk_view(const rec_hdr *hdr, const char *body)
{
    return (chunk_result){.done = true, .body = body, .body_len = hdr->body,
                          .nitems = hdr->nitems, .nfailed = hdr->nfailed,
                          .uniform = hdr->uniform != 0, .item_len = hdr->item_len,
                          .err = hdr->err};
}

int mt__chunk_item(const chunk_result *c, size_t j, mt_iov *out)
{
    if (c->err || j >= c->nitems) {
        *out = (mt_iov){c->msg ? c->msg : "", c->msg ? strlen(c->msg) : 0};
        return c->err ? c->err : -EPROTO;
    }
    if (c->crashed == j + 1) {
        const char *m = c->crash_msg ? c->crash_msg : "";
        *out = (mt_iov){m, strlen(m)};
        return MT_EWORKER;
    }
    if (c->uniform) {
        *out = (mt_iov){c->body + j * c->item_len, c->item_len};
        return 0;
    }
    /* Entries follow data of any length: copy them out, they may be unaligned. */
    const char *entries = c->body + c->body_len - (uint64_t)c->nitems * sizeof(rec_entry);
    rec_entry e, prev = {0};
    memcpy(&e, entries + j * sizeof e, sizeof e);
    if (j)
        memcpy(&prev, entries + (j - 1) * sizeof e, sizeof e);
    *out = (mt_iov){c->body + prev.end, e.end - prev.end};
    return e.err;
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
        chunk_free(&r->chunks[i]);
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
        const chunk_result *ch = &r->chunks[c];
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

static int map_run(mt_pool *p, mt_task_fn *fn, const void *items, const mt_iov *iov, size_t n,
                   size_t item_size, const mt_map_opts *opts, mt_results **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    pool_results *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    batch *b;
    int err = batch_start(p, fn, items, iov, n, item_size, opts, true, &b);
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

int mt_pool_map(mt_pool *p, mt_task_fn *fn, const void *items, size_t n, size_t item_size,
                const mt_map_opts *opts, mt_results **out)
{
    if (!items && n)
        return -EINVAL;
    return map_run(p, fn, items ? items : "", NULL, n, item_size, opts, out);
}

int mt_pool_map_iov(mt_pool *p, mt_task_fn *fn, const mt_iov *items, size_t n,
                    const mt_map_opts *opts, mt_results **out)
{
    static const mt_iov none;
    if (!items && n)
        return -EINVAL;
    return map_run(p, fn, NULL, items ? items : &none, n, 0, opts, out);
}

int mt_pool_starmap(mt_pool *p, mt_task_fn *fn, const mt_iov *args, size_t n, size_t nargs,
                    const mt_map_opts *opts, mt_results **out)
{
    if ((!args && n && nargs) || !out)
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

/* ---- imap ----------------------------------------------------------- */

static int imap_start(mt_pool *p, mt_task_fn *fn, const void *items, const mt_iov *iov,
                      size_t n, size_t item_size, const mt_map_opts *opts, mt_imap **out)
{
    if (!out)
        return -EINVAL;
    mt_imap *it = calloc(1, sizeof *it);
    if (!it)
        return -ENOMEM;
    int err = batch_start(p, fn, items, iov, n, item_size, opts, false, &it->b);
    if (err < 0) {
        free(it);
        return err;
    }
    it->pool = p;
    it->unordered = opts && opts->unordered;
    *out = it;
    return 0;
}

int mt_pool_imap(mt_pool *p, mt_task_fn *fn, const void *items, size_t n, size_t item_size,
                 const mt_map_opts *opts, mt_imap **out)
{
    if (!items && n)
        return -EINVAL;
    return imap_start(p, fn, items ? items : "", NULL, n, item_size, opts, out);
}

int mt_pool_imap_iov(mt_pool *p, mt_task_fn *fn, const mt_iov *items, size_t n,
                     const mt_map_opts *opts, mt_imap **out)
{
    static const mt_iov none;
    if (!items && n)
        return -EINVAL;
    return imap_start(p, fn, NULL, items ? items : &none, n, 0, opts, out);
}

/* Whether the next result is there (mu held). */
static bool imap_ready(void *arg)
{
    mt_imap *it = arg;
    batch *b = it->b;
    if (it->next >= b->n)
        return true;
    if (it->unordered)
        return it->cur < b->ndone_order;
    return b->chunks[it->next / b->chunksize].done;
}

int mt_imap_next(mt_imap *it, double timeout, size_t *index, mt_iov *out)
{
    mt_iov ignored;
    mt__deadline d;
    if (!it || mt__deadline_set(&d, timeout) < 0)
        return -EINVAL;
    if (!out)
        out = &ignored;
    batch *b = it->b;
    if (it->next >= b->n)
        return MT_EOF;
    int err = mt__pool_wait(it->pool, imap_ready, it, d);
    if (err < 0)
        return err;
    pthread_mutex_lock(&it->pool->mu);
    size_t chunk, item;
    if (it->unordered) {
        chunk = b->done_order[it->cur];
        item = chunk * b->chunksize + it->cur_item;
        size_t end = (chunk + 1) * b->chunksize < b->n ? (chunk + 1) * b->chunksize : b->n;
        if (item + 1 >= end) {
            it->cur++;
            it->cur_item = 0;
        } else {
            it->cur_item++;
        }
    } else {
        item = it->next;
        chunk = item / b->chunksize;
    }
    /* The caller is done with the bytes of the chunk before this one. */
    if (it->held && it->held - 1 != chunk)
        chunk_free(&b->chunks[it->held - 1]);
    it->held = chunk + 1;
    it->next++;
    err = mt__chunk_item(&b->chunks[chunk], item - chunk * b->chunksize, out);
    mt__pool_unlock(it->pool);
    if (index)
        *index = item;
    return err;
}

void mt_imap_free(mt_imap *it)
{
    if (!it)
        return;
    pthread_mutex_lock(&it->pool->mu);
    batch *b = it->b;
    b->abandoned = true;
    for (size_t i = 0; i < b->nchunks; i++)
        if (b->chunks[i].done)
            chunk_free(&b->chunks[i]);
    mt__batch_unref(b);
    mt__pool_unlock(it->pool);
    free(it);
}
