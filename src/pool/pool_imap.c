/*
 * pool_imap.c - streaming maps: imap and imap_unordered over an array
 * (mt_pool_imap, mt_pool_imap_iov) or over items made on demand
 * (mt_pool_imap_fn), with their results taken one at a time.
 *
 * A fed imap calls the caller's producer only from the caller's own calls
 * (mt_pool_imap_fn, mt_imap_next), never from the pool's thread, and keeps at
 * most `window` items between the producer and the caller: taken but not yet
 * handed back. That is the backpressure: a tree walk of a million files holds
 * a window's worth of paths and results, not a million.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "pool_internal.h"

/* Items a fed imap keeps between its producer and its caller, at most. */
#define MAX_WINDOW ((size_t)1 << 24)

struct mt_imap {
    mt_pool *pool;
    mt__batch *b;
    bool unordered;
    size_t next;     /* ordered: the next item; unordered: items returned */
    size_t cur;      /* unordered: position in done_order */
    size_t cur_item; /* unordered: next item within that chunk */
    size_t held;     /* the chunk whose bytes the caller may still hold, +1 */
    /* fed (mt_pool_imap_fn) */
    mt_next_item_fn *next_item;
    void *ctx;
    size_t window; /* items taken from next_item and not yet handed back */
    size_t low;    /* chunks below it were handed back: their places are free */
    int feed_err;  /* what ended the feed early, returned after its items */
    mt__rimap *remote; /* a pool on a server: all of it */
};

static mt_imap *imap_new(mt_pool *p, const mt_map_opts *opts)
{
    mt_imap *it = calloc(1, sizeof *it);
    if (it) {
        it->pool = p;
        it->unordered = opts && opts->unordered;
    }
    return it;
}

static int imap_start(mt_pool *p, mt_fn *fn, const void *items, const mt_iov *iov,
                      size_t n, size_t item_size, const mt_map_opts *opts, mt_imap **out)
{
    if (!out)
        return -EINVAL;
    mt_imap *it = imap_new(p, opts);
    if (!it)
        return -ENOMEM;
    if (p && p->remote) {
        int err = mt__rpool_imap(p, fn, items, iov, n, item_size, opts, &it->remote);
        if (err < 0)
            free(it);
        else
            *out = it;
        return err;
    }
    int err = mt__batch_start(p, fn, items, iov, n, item_size, opts, false, &it->b);
    if (err < 0) {
        free(it);
        return err;
    }
    *out = it;
    return 0;
}

int mt_pool_imap(mt_pool *p, mt_fn *fn, const void *items, size_t n, size_t item_size,
                 const mt_map_opts *opts, mt_imap **out)
{
    if (!items && n)
        return -EINVAL;
    return imap_start(p, fn, items ? items : "", NULL, n, item_size, opts, out);
}

int mt_pool_imap_iov(mt_pool *p, mt_fn *fn, const mt_iov *items, size_t n,
                     const mt_map_opts *opts, mt_imap **out)
{
    static const mt_iov none;
    if (!items && n)
        return -EINVAL;
    return imap_start(p, fn, NULL, items ? items : &none, n, 0, opts, out);
}

/* ---- feeding -------------------------------------------------------- */

/* Whether one more item may be taken (mu held): the window has room, and
 * the chunk it opens has a free place. */
static bool feed_room(const mt_imap *it)
{
    const mt__batch *b = it->b;
    return b->feeding && b->n - it->next < it->window && b->n / b->chunksize < it->low + b->ring;
}

/* Queue what can go out now (mu held). */
static int queue_ready(mt_imap *it)
{
    mt_pool *p = it->pool;
    mt__batch *b = it->b;
    if (b->abandoned || mt__batch_ready_items(b) == 0)
        return 0;
    if (b->queued) { /* on the pending list: the new chunk goes out with it */
        mt__pool_pump(p);
        return 0;
    }
    mt__source *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->batch = b;
    b->refs++; /* the pending list's */
    mt__pool_enqueue(p, s);
    return 0;
}

/* Add one item the producer made (mu held); the batch takes its bytes. */
static void add_item(mt__batch *b, mt_buf *item)
{
    size_t i = b->n;
    if (i % b->chunksize == 0) { /* opens a chunk, in a place feed_room freed */
        *mt__batch_chunk(b, i / b->chunksize) = (mt__chunk_result){.done = false};
        b->nchunks++;
    }
    b->fed[i % b->fed_ring] = (mt_iov){item->data, item->len};
    *item = (mt_buf)MT_BUF_INIT;
    b->n++;
}

/* The producer stopped (MT_EOF or an error) or cannot go on (mu held). */
static void end_feed(mt_imap *it, int err)
{
    if (err != MT_EOF && !it->feed_err)
        it->feed_err = err;
    mt__batch_stop_feeding(it->pool, it->b);
    if (queue_ready(it) < 0)
        mt__batch_fail_rest(it->pool, it->b, -ENOMEM, "cannot queue the last chunk");
    mt__pool_pump(it->pool); /* a closed pool may let its workers go now */
}

/*
 * Take items from the producer while the window has room, queuing each
 * chunk as it fills. The producer runs without mu: it is the caller's code
 * and may take its time. A pool terminated or broken meanwhile ends the feed.
 */
static void feed(mt_imap *it)
{
    mt_pool *p = it->pool;
    mt__batch *b = it->b;
    mt_buf item = MT_BUF_INIT;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        if (b->feeding && (p->state == POOL_TERMINATED || p->broken))
            mt__batch_fail_rest(p, b, p->broken ? MT_EBROKEN : -ECANCELED,
                                p->broken ? p->broken_msg.data : "the pool was terminated");
        bool room = feed_room(it);
        mt__pool_unlock(p);
        if (!room)
            break;
        mt_buf_reset(&item);
        int rc = it->next_item(it->ctx, &item);
        if (rc > 0)
            rc = -EINVAL; /* not a promise the producer may make */
        pthread_mutex_lock(&p->mu);
        if (rc == 0 && b->feeding) {
            add_item(b, &item);
            if (queue_ready(it) < 0)
                end_feed(it, -ENOMEM);
        } else if (rc != 0 && b->feeding) {
            end_feed(it, rc);
        }
        mt__pool_unlock(p);
        if (rc != 0)
            break;
    }
    mt_buf_free(&item);
}

int mt_pool_imap_fn(mt_pool *p, mt_fn *fn, mt_next_item_fn *next_item, void *ctx,
                    const mt_map_opts *opts, mt_imap **out)
{
    static const mt_map_opts defaults;
    if (!opts)
        opts = &defaults;
    if (!out || !p || !fn || !next_item)
        return -EINVAL;
    if (p->remote)
        return -EOPNOTSUPP;
    size_t chunksize = mt__batch_pick_chunksize(p, 0, 1, opts->chunksize ? opts->chunksize : 1);
    if (chunksize > MAX_WINDOW / 2) /* the window holds two chunks, and at most MAX_WINDOW */
        chunksize = MAX_WINDOW / 2;
    size_t window = opts->max_inflight ? opts->max_inflight : 4 * (size_t)p->nworkers * chunksize;
    if (window < 2 * chunksize) /* a chunk fills while the one before runs */
        window = 2 * chunksize;
    if (window > MAX_WINDOW)
        window = MAX_WINDOW;
    /* Chunks between the oldest not handed back and the newest: the window's,
     * one held by the caller, one part-filled. */
    size_t ring = window / chunksize + 3;
    mt_imap *it = imap_new(p, opts);
    mt__batch *b = it ? mt__batch_new(fn, NULL, NULL, 0, 0, chunksize, ring, window + chunksize,
                                  opts->unordered)
                  : NULL;
    if (!b) {
        free(it);
        return -ENOMEM;
    }
    it->b = b;
    it->next_item = next_item;
    it->ctx = ctx;
    it->window = window;
    pthread_mutex_lock(&p->mu);
    int err = mt__pool_open_for_work(p);
    if (err == 0)
        p->batches_fed++;
    else
        b->feeding = false;
    mt__pool_unlock(p);
    if (err < 0) {
        mt__batch_unref(b);
        free(it);
        return err;
    }
    feed(it);
    *out = it;
    return 0;
}

/* ---- taking results ------------------------------------------------- */

/* Whether the next result is there, or the end (mu held). */
static bool imap_ready(void *arg)
{
    mt_imap *it = arg;
    mt__batch *b = it->b;
    if (it->next >= b->n)
        return !b->feeding;
    if (it->unordered)
        return it->cur < b->ndone_order;
    return mt__batch_chunk(b, it->next / b->chunksize)->done;
}

/* The caller is done with chunk c's bytes (mu held): free them, and its
 * place once every chunk before it is free too. */
static void hand_back(mt_imap *it, size_t c)
{
    mt__batch *b = it->b;
    mt__chunk_result *r = mt__batch_chunk(b, c);
    mt__chunk_free(r);
    r->consumed = true;
    while (it->low < b->nchunks && mt__batch_chunk(b, it->low)->consumed)
        it->low++;
}

/* A new call: the caller is done with the bytes the last one gave. Hand
 * their chunk back if every item of it was returned (mu held), so that a
 * fed imap may reuse its place. */
static void release_held(mt_imap *it)
{
    const mt__batch *b = it->b;
    if (!it->held)
        return;
    size_t c = it->held - 1, end = (c + 1) * b->chunksize;
    bool all = it->unordered ? it->cur_item == 0 : it->next >= (end < b->n ? end : b->n);
    if (all) {
        hand_back(it, c);
        it->held = 0;
    }
}

int mt_imap_next(mt_imap *it, double timeout, size_t *index, mt_iov *out)
{
    mt_iov ignored;
    mt__deadline d;
    if (!it || mt__deadline_set(&d, timeout) < 0)
        return -EINVAL;
    if (!out)
        out = &ignored;
    if (it->remote)
        return mt__rimap_next(it->remote, timeout, index, out);
    mt__batch *b = it->b;
    pthread_mutex_lock(&it->pool->mu);
    release_held(it);
    mt__pool_unlock(it->pool);
    if (it->next_item)
        feed(it);
    else if (it->next >= b->n)
        return MT_EOF;
    int err = mt__pool_wait(it->pool, imap_ready, it, d);
    if (err < 0)
        return err;
    pthread_mutex_lock(&it->pool->mu);
    if (it->next >= b->n) { /* every item was handed back */
        err = it->feed_err ? it->feed_err : MT_EOF;
        it->feed_err = 0;
        mt__pool_unlock(it->pool);
        return err;
    }
    size_t chunk, item;
    if (it->unordered) {
        chunk = b->done_order[it->cur % b->ring];
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
        hand_back(it, it->held - 1);
    it->held = chunk + 1;
    it->next++;
    err = mt__chunk_item(mt__batch_chunk(b, chunk), item - chunk * b->chunksize, out);
    mt__pool_unlock(it->pool);
    if (index)
        *index = item;
    return err;
}

void mt_imap_free(mt_imap *it)
{
    if (!it)
        return;
    if (it->remote) {
        mt__rimap_free(it->remote);
        free(it);
        return;
    }
    pthread_mutex_lock(&it->pool->mu);
    mt__batch *b = it->b;
    b->abandoned = true;
    mt__batch_stop_feeding(it->pool, b);
    mt__pool_pump(it->pool); /* a closed pool may let its workers go now */
    for (size_t i = 0; i < b->ring; i++)
        if (b->chunks[i].done)
            mt__chunk_free(&b->chunks[i]);
    mt__batch_unref(b);
    mt__pool_unlock(it->pool);
    free(it);
}
