/*
 * pool_remote.c - the pool's public calls on a pool whose workers are on
 * other machines (mt_pool_opts.redis): every call becomes a future that
 * the remote layer (libmultitask-remote, remote_pool_ops.h) finishes when
 * a worker answers. map keeps the futures as its results; imap hands them
 * back in order or as they finish. The life cycle is the local pool's:
 * close refuses new work, join waits for the calls sent, terminate and
 * free cancel those not answered.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../future/results_internal.h"
#include "pool_internal.h"

/* Calls per stream entry for a map when the caller does not say: enough to
 * make one entry's overhead small, few enough that a map of n items still
 * spreads over many workers. */
#define MAP_CHUNK_MAX 256
#define MAP_ENTRIES   64

int mt__rpool_new(mt_pool **out, const mt_pool_opts *opts)
{
    const mt__remote_pool_ops *ops;
    int err = mt__remote_pool_load(&ops);
    if (err < 0)
        return err;
    mt_pool *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->opts = *opts;
    p->rops = ops;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return -ENOMEM;
    }
    if ((err = ops->open(&p->remote, opts)) < 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return err;
    }
    p->opts.redis = NULL; /* the caller's string: not kept */
    *out = p;
    return 0;
}

/* 0 when new work may be sent, else MT_ECLOSED. */
static int open_for_work(mt_pool *p)
{
    pthread_mutex_lock(&p->mu);
    int err = p->state == POOL_RUN ? 0 : MT_ECLOSED;
    pthread_mutex_unlock(&p->mu);
    return err;
}

/* The name fn is sent under, or NULL (-EINVAL for the caller). */
static const char *name_of(mt_fn *fn)
{
    return fn ? mt_fn_name(fn) : NULL;
}

/* Send n calls of fn, each to finish in fs[i] (new futures, the caller's). */
static int send_calls(mt_pool *p, mt_fn *fn, const mt_iov *args, size_t n, size_t chunk,
                      mt_future **fs)
{
    const char *name = name_of(fn);
    if (!name)
        return -EINVAL;
    int err = open_for_work(p);
    for (size_t i = 0; i < n && err == 0; i++)
        if (!(fs[i] = mt__future_new()))
            err = -ENOMEM;
    if (err == 0)
        err = p->rops->submit(p->remote, name, args, n, chunk, fs);
    if (err < 0)
        for (size_t i = 0; i < n; i++) {
            mt_future_free(fs[i]);
            fs[i] = NULL;
        }
    return err;
}

int mt__rpool_apply_async(mt_pool *p, mt_fn *fn, const void *arg, size_t len, mt_future **out)
{
    mt_iov a = {arg ? arg : "", len};
    mt_future *f = NULL;
    int err = send_calls(p, fn, &a, 1, 1, &f);
    if (err == 0)
        *out = f;
    return err;
}

/* The items as ranges: iov itself, or made over the fixed-size array. */
static int items_iov(const void *items, const mt_iov *iov, size_t n, size_t item_size,
                     mt_iov **out)
{
    if (iov) {
        for (size_t i = 0; i < n; i++)
            if (!iov[i].data && iov[i].len)
                return -EINVAL;
        *out = (mt_iov *)iov;
        return 0;
    }
    if (!item_size)
        return -EINVAL;
    mt_iov *v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = (mt_iov){(const char *)items + i * item_size, item_size};
    *out = v;
    return 0;
}

static size_t chunk_for(size_t n, const mt_map_opts *opts, bool whole)
{
    if (opts && opts->chunksize)
        return opts->chunksize;
    if (!whole) /* imap: one call per entry, as the local pool's default */
        return 1;
    size_t c = (n + MAP_ENTRIES - 1) / MAP_ENTRIES;
    return c == 0 ? 1 : c > MAP_CHUNK_MAX ? MAP_CHUNK_MAX : c;
}

/* Send a map's calls: their futures in a new results object. */
static int start_map(mt_pool *p, mt_fn *fn, const void *items, const mt_iov *iov, size_t n,
                     size_t item_size, const mt_map_opts *opts, bool whole,
                     mt__future_results **out)
{
    mt_iov *v;
    int err = items_iov(items, iov, n, item_size, &v);
    if (err < 0)
        return err;
    mt__future_results *r = mt__future_results_new(n);
    if (!r)
        err = -ENOMEM;
    else if ((err = send_calls(p, fn, v, n, chunk_for(n, opts, whole), r->fs)) < 0)
        mt_results_free(&r->base);
    if (v != iov)
        free(v);
    if (err == 0)
        *out = r;
    return err;
}

int mt__rpool_map(mt_pool *p, mt_fn *fn, const void *items, const mt_iov *iov, size_t n,
                  size_t item_size, const mt_map_opts *opts, mt_results **out)
{
    mt__future_results *r;
    int err = start_map(p, fn, items, iov, n, item_size, opts, true, &r);
    if (err < 0)
        return err;
    for (size_t i = 0; i < n; i++)
        mt_future_wait(r->fs[i], MT_FOREVER);
    *out = &r->base;
    return mt__results_first_error(&r->base);
}

/* ---- imap ---------------------------------------------------------- */

/* imap_unordered's order: item indexes as their futures finish, pushed by
 * done callbacks. Shared by the imap and the callbacks not yet run: the
 * last of them frees it, so freeing the imap never waits on a callback. */
typedef struct done_queue {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    size_t *order, head, tail;
    _Atomic size_t refs;
    struct done_arg {
        struct done_queue *q;
        size_t i;
    } *args;
} done_queue;

static void queue_unref(done_queue *q)
{
    if (atomic_fetch_sub(&q->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cond);
    free(q->order);
    free(q->args);
    free(q);
}

static void on_item_done(mt_future *f, void *arg)
{
    (void)f;
    struct done_arg *a = arg;
    done_queue *q = a->q;
    pthread_mutex_lock(&q->mu);
    q->order[q->tail++] = a->i;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->mu);
    queue_unref(q);
}

static done_queue *queue_new(mt_future **fs, size_t n)
{
    done_queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->order = calloc(n ? n : 1, sizeof *q->order);
    q->args = calloc(n ? n : 1, sizeof *q->args);
    if (!q->order || !q->args || pthread_mutex_init(&q->mu, NULL) != 0 ||
        mt__cond_init(&q->cond) < 0) {
        free(q->order);
        free(q->args);
        free(q);
        return NULL;
    }
    atomic_init(&q->refs, 1 + n);
    for (size_t i = 0; i < n; i++) {
        q->args[i] = (struct done_arg){q, i};
        if (mt_future_add_done_callback(fs[i], on_item_done, &q->args[i]) < 0)
            on_item_done(fs[i], &q->args[i]); /* out of memory: at once, in order */
    }
    return q;
}

struct mt__rimap {
    mt__future_results *r;
    done_queue *q; /* unordered */
    size_t next;   /* items handed back */
};

int mt__rpool_imap(mt_pool *p, mt_fn *fn, const void *items, const mt_iov *iov, size_t n,
                   size_t item_size, const mt_map_opts *opts, mt__rimap **out)
{
    mt__rimap *it = calloc(1, sizeof *it);
    if (!it)
        return -ENOMEM;
    int err = start_map(p, fn, items, iov, n, item_size, opts, false, &it->r);
    if (err == 0 && opts && opts->unordered && !(it->q = queue_new(it->r->fs, n)))
        err = -ENOMEM;
    if (err < 0) {
        if (it->r) {
            p->rops->cancel_all(p->remote, -ECANCELED, "the imap could not start");
            mt_results_free(&it->r->base);
        }
        free(it);
        return err;
    }
    *out = it;
    return 0;
}

int mt__rimap_next(mt__rimap *it, double timeout, size_t *index, mt_iov *out)
{
    if (it->next >= it->r->base.n)
        return MT_EOF;
    mt__deadline d = mt__deadline_in(timeout);
    size_t i = it->next;
    if (it->q) {
        done_queue *q = it->q;
        pthread_mutex_lock(&q->mu);
        while (q->head == q->tail)
            if (mt__cond_wait(&q->cond, &q->mu, d) < 0 && q->head == q->tail) {
                pthread_mutex_unlock(&q->mu);
                return -ETIMEDOUT;
            }
        i = q->order[q->head++];
        pthread_mutex_unlock(&q->mu);
    } else {
        int err = mt_future_wait(it->r->fs[i], mt__deadline_left(d));
        if (err < 0)
            return err;
    }
    it->next++;
    if (index)
        *index = i;
    return mt_results_get(&it->r->base, i, out);
}

void mt__rimap_free(mt__rimap *it)
{
    /* calls not answered yet: their answers are dropped when they come */
    for (size_t i = 0; i < it->r->base.n; i++)
        mt_future_cancel(it->r->fs[i]);
    if (it->q)
        queue_unref(it->q);
    mt_results_free(&it->r->base);
    free(it);
}

/* ---- life cycle ---------------------------------------------------- */

int mt__rpool_close(mt_pool *p)
{
    pthread_mutex_lock(&p->mu);
    if (p->state == POOL_RUN)
        p->state = POOL_CLOSED;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int mt__rpool_terminate(mt_pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->state = POOL_TERMINATED;
    pthread_mutex_unlock(&p->mu);
    p->rops->cancel_all(p->remote, -ECANCELED, "the pool was terminated");
    return 0;
}

int mt__rpool_join(mt_pool *p, double timeout)
{
    pthread_mutex_lock(&p->mu);
    bool open = p->state == POOL_RUN;
    pthread_mutex_unlock(&p->mu);
    return open ? -EINVAL : p->rops->drain(p->remote, timeout);
}

void mt__rpool_free(mt_pool *p)
{
    p->rops->free(p->remote);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
