/*
 * pool_client.c - a pool handle on a server (mt_pool_opts.redis): sends
 * calls to NAME:tasks and finishes their futures from the answers that
 * workers write to NAME:res:CLIENT; the table libmultitask takes
 * (mt__remote_pool_ops_v1, remote_pool_ops.h).
 *
 * Two connections: one for sending, under send_lock (a map's calls go in
 * one script call per SUBMIT_BATCH entries: one round trip, not one per
 * call; a coroutine that sends waits for the server, and for its turn,
 * suspended: co.c), and one for the answer thread, which blocks in XREAD and never
 * waits on the sender. Each call has an id, unique within this client; the
 * table maps the ids still unanswered to their futures. An answer whose id
 * is not there (a call answered already, by a worker that came back after
 * its calls were failed or given to another, or one that was cancelled) is
 * dropped: a future is finished at most once.
 *
 * The answer thread also takes back, every REAP_PERIOD, the calls of
 * workers whose heartbeat expired (mt__rpool_reap): a client waiting for
 * them must not depend on another worker to notice.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/core_internal.h"
#include "../future/future_internal.h"
#include "remote_internal.h"

/* Entries per submit script: bounds the time the server spends in one. */
#define SUBMIT_BATCH 512
/* Arguments per entry, at most, besides the `chunk` limit. */
#define ENTRY_BYTES (256 * 1024)
/* How long the answer thread blocks in XREAD: how soon it sees a stop. */
#define READ_BLOCK_MS 100
#define REAP_PERIOD   0.5
/* Answers read before their stream is trimmed. */
#define TRIM_EVERY 256

typedef struct call {
    uint64_t id;
    mt_future *f;
    struct call *next;
} call;

struct mt__rpool {
    mt__rurl url;
    mt__rpool_keys keys;
    char res_key[MT__RNAME_MAX + 64];
    char cid[40];
    unsigned retries;

    pthread_mutex_t send_lock;
    mt__rconn send;

    pthread_mutex_t lock; /* the table and the counters below */
    pthread_cond_t idle;  /* broadcast when count falls to 0 */
    call **buckets;
    size_t nbuckets, count;
    uint64_t next_id;

    mt__rconn recv; /* the answer thread's */
    char last_id[64];
    unsigned since_trim;
    double next_reap;
    pthread_t thread;
    _Atomic bool stop;
};

/* ------------------------------------------------------------ the table */

static size_t bucket_of(const mt__rpool *rp, uint64_t id)
{
    return (size_t)(id * 0x9E3779B97F4A7C15ull >> 20) & (rp->nbuckets - 1);
}

/* Room for `more` calls (lock held): 0 or -ENOMEM. */
static int table_reserve(mt__rpool *rp, size_t more)
{
    if (rp->count + more <= rp->nbuckets)
        return 0;
    size_t n = rp->nbuckets ? rp->nbuckets : 1024;
    while (n < rp->count + more)
        n *= 2;
    call **b = calloc(n, sizeof *b);
    if (!b)
        return -ENOMEM;
    size_t old = rp->nbuckets;
    call **ob = rp->buckets;
    rp->buckets = b;
    rp->nbuckets = n;
    for (size_t i = 0; i < old; i++)
        for (call *c = ob[i], *next; c; c = next) {
            next = c->next;
            size_t k = bucket_of(rp, c->id);
            c->next = b[k];
            b[k] = c;
        }
    free(ob);
    return 0;
}

static void table_put(mt__rpool *rp, call *c)
{
    size_t k = bucket_of(rp, c->id);
    c->next = rp->buckets[k];
    rp->buckets[k] = c;
    rp->count++;
}

/* Remove and return the call with this id, or NULL (lock held). It still
 * counts as outstanding until settled: join must not return before its
 * future is finished. */
static call *table_take(mt__rpool *rp, uint64_t id)
{
    if (!rp->nbuckets)
        return NULL;
    for (call **pp = &rp->buckets[bucket_of(rp, id)]; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            call *c = *pp;
            *pp = c->next;
            return c;
        }
    return NULL;
}

/* n calls taken from the table are finished (lock taken here). */
static void settled(mt__rpool *rp, size_t n)
{
    pthread_mutex_lock(&rp->lock);
    rp->count -= n;
    if (rp->count == 0)
        pthread_cond_broadcast(&rp->idle);
    pthread_mutex_unlock(&rp->lock);
}

/* Finish a call's future with err and bytes, and free the call. */
static void finish(call *c, int err, const void *p, size_t len)
{
    mt_buf b = MT_BUF_INIT;
    /* the bytes end with a NUL, so that an error message is a string */
    if (mt_buf_reserve(&b, len + 1) == 0) {
        mt_buf_append(&b, p, len);
        b.data[b.len] = '\0';
    } else {
        err = -ENOMEM;
    }
    mt__future_finish(c->f, err, &b); /* a cancelled future refuses: fine */
    mt_buf_free(&b);
    mt_future_free(c->f);
    free(c);
}

/* ------------------------------------------------------------- answers */

/* Finish the calls answered in one record blob. */
static void take_answers(mt__rpool *rp, const char *p, size_t len)
{
    const char *pos = p, *end = p + len;
    uint64_t id;
    int err;
    mt_iov v;
    while (mt__rpool_next_answer(&pos, end, &id, &err, &v) > 0) {
        pthread_mutex_lock(&rp->lock);
        call *c = table_take(rp, id);
        pthread_mutex_unlock(&rp->lock);
        if (c) {
            finish(c, err, v.data, v.len);
            settled(rp, 1);
        }
    }
}

/* One XREAD: handle what came. 0, or the connection's error. */
static int read_answers(mt__rpool *rp)
{
    char block[16];
    snprintf(block, sizeof block, "%d", READ_BLOCK_MS);
    const char *argv[] = {"XREAD", "COUNT", "256", "BLOCK", block, "STREAMS", rp->res_key,
                          rp->last_id};
    redisReply *reply;
    int err = mt__rconn_call(&rp->recv, 1.0 + READ_BLOCK_MS / 1000.0, 8, argv, NULL, &reply);
    if (err < 0)
        return err;
    /* [[key, [[id, [field, value]], ...]]], or nil when nothing came */
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
        reply->element[0]->elements == 2) {
        redisReply *entries = reply->element[0]->element[1];
        for (size_t i = 0; i < entries->elements; i++) {
            redisReply *e = entries->element[i];
            if (e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
                continue;
            snprintf(rp->last_id, sizeof rp->last_id, "%s", e->element[0]->str);
            redisReply *fields = e->element[1];
            if (fields->elements == 2 && fields->element[1]->type == REDIS_REPLY_STRING)
                take_answers(rp, fields->element[1]->str, fields->element[1]->len);
            rp->since_trim++;
        }
    } else if (reply->type == REDIS_REPLY_ERROR) {
        err = mt__rerr(reply);
    }
    freeReplyObject(reply);
    return err;
}

/* Drop the answers already read (every one but the last read: XTRIM's
 * MINID keeps its own). */
static void trim(mt__rpool *rp)
{
    const char *argv[] = {"XTRIM", rp->res_key, "MINID", rp->last_id};
    redisReply *reply;
    if (mt__rconn_call(&rp->recv, 1.0, 4, argv, NULL, &reply) == 0)
        freeReplyObject(reply);
    rp->since_trim = 0;
}

static void *answer_thread(void *arg)
{
    mt__rpool *rp = arg;
    while (!atomic_load(&rp->stop)) {
        int err = read_answers(rp);
        if (err < 0 && !atomic_load(&rp->stop))
            mt_sleep(0.05); /* a server away: conn.c backs off within a call */
        if (rp->since_trim >= TRIM_EVERY)
            trim(rp);
        double now = mt_monotonic();
        if (now >= rp->next_reap) {
            mt__rpool_reap(&rp->recv, 1.0, rp->url.name, &rp->keys);
            rp->next_reap = now + REAP_PERIOD;
        }
    }
    return NULL;
}

/* --------------------------------------------------------------- calls */

static void rpool_release(mt__rpool *rp)
{
    mt__rconn_drop(&rp->send);
    mt__rconn_drop(&rp->recv);
    mt__rurl_free(&rp->url);
    free(rp->buckets);
    pthread_mutex_destroy(&rp->send_lock);
    pthread_mutex_destroy(&rp->lock);
    pthread_cond_destroy(&rp->idle);
    free(rp);
}

static int rpool_open(mt__rpool **out, const mt_pool_opts *opts)
{
    mt__rpool *rp = calloc(1, sizeof *rp);
    if (!rp)
        return -ENOMEM;
    pthread_mutex_init(&rp->send_lock, NULL);
    pthread_mutex_init(&rp->lock, NULL);
    mt__cond_init(&rp->idle);
    int err = mt__rurl_parse(&rp->url, opts->redis);
    if (err < 0) {
        free(rp);
        return err;
    }
    if ((err = mt__rpool_keys_of(&rp->keys, rp->url.name)) < 0)
        goto fail;
    snprintf(rp->cid, sizeof rp->cid, "%016llx", (unsigned long long)mt__rrandom64());
    snprintf(rp->res_key, sizeof rp->res_key, "%s:res:%s", rp->url.name, rp->cid);
    snprintf(rp->last_id, sizeof rp->last_id, "0");
    rp->retries = opts->retries;
    rp->next_id = 1;
    rp->send = (mt__rconn){.url = &rp->url, .timeout = MT__RTIMEOUT_DEFAULT};
    rp->recv = (mt__rconn){.url = &rp->url, .timeout = MT__RTIMEOUT_DEFAULT};
    if ((err = mt__rpool_open_keys(&rp->send, &rp->keys)) < 0)
        goto fail;
    if ((err = -pthread_create(&rp->thread, NULL, answer_thread, rp)) < 0)
        goto fail;
    *out = rp;
    return 0;
fail:
    rpool_release(rp);
    return err;
}

/* The script arguments for n calls from first_id on, in entries of at most
 * chunk calls (and ENTRY_BYTES of arguments). */
static void build_entries(mt__rpool *rp, mt__rargs *a, const char *name, const mt_iov *args,
                          size_t n, size_t chunk, uint64_t first_id, mt_buf *packed)
{
    mt__rargs_add(a, "", 0);
    mt__rargs_add(a, "", 0);
    mt__rargs_add(a, "2", 1);
    mt__rargs_add(a, rp->keys.tasks, strlen(rp->keys.tasks));
    mt__rargs_add(a, rp->keys.mark, strlen(rp->keys.mark));
    mt__rargs_add(a, MT__RPOOL_TAG, strlen(MT__RPOOL_TAG));
    mt__rargs_add(a, rp->cid, strlen(rp->cid));
    mt__rargs_fmt(a, "%u", rp->retries);
    for (size_t i = 0; i < n;) {
        size_t k = 0, bytes = 0;
        while (i + k < n && k < chunk && (k == 0 || bytes + args[i + k].len <= ENTRY_BYTES))
            bytes += args[i + k++].len;
        packed->len = 0;
        if (mt_pack(packed, args + i, k) < 0) {
            a->failed = true;
            return;
        }
        mt__rargs_fmt(a, "%llu", (unsigned long long)(first_id + i));
        mt__rargs_add(a, name, strlen(name));
        mt__rargs_fmt(a, "%zu", k);
        mt__rargs_copy(a, packed->data, packed->len);
        i += k;
    }
}

/* Forget calls [first, first + n) that were not sent (their futures are
 * the caller's again). */
static void forget(mt__rpool *rp, uint64_t first, size_t n)
{
    size_t k = 0;
    pthread_mutex_lock(&rp->lock);
    for (size_t i = 0; i < n; i++) {
        call *c = table_take(rp, first + i);
        if (c) {
            mt_future_free(c->f);
            free(c);
            k++;
        }
    }
    pthread_mutex_unlock(&rp->lock);
    settled(rp, k);
}

static int rpool_submit(mt__rpool *rp, const char *name, const mt_iov *args, size_t n,
                        size_t chunk, mt_future **fs)
{
    if (n == 0)
        return 0;
    if (chunk == 0)
        chunk = 1;
    call **calls = calloc(n, sizeof *calls);
    int err = calls ? 0 : -ENOMEM;
    for (size_t i = 0; i < n && err == 0; i++)
        if (!(calls[i] = malloc(sizeof **calls)))
            err = -ENOMEM;
    pthread_mutex_lock(&rp->lock);
    uint64_t first = rp->next_id;
    if (err == 0)
        err = table_reserve(rp, n);
    if (err == 0) {
        rp->next_id += n;
        for (size_t i = 0; i < n; i++) {
            *calls[i] = (call){.id = first + i, .f = mt_future_ref(fs[i])};
            table_put(rp, calls[i]);
        }
    }
    pthread_mutex_unlock(&rp->lock);
    if (err < 0) {
        for (size_t i = 0; calls && i < n; i++)
            free(calls[i]);
        free(calls);
        return err;
    }
    free(calls); /* the table has them */
    /* Sent in parts of SUBMIT_BATCH entries: one round trip each. */
    mt_buf packed = MT_BUF_INIT;
    size_t per = SUBMIT_BATCH * chunk, sent = 0;
    mt__rlock(&rp->send_lock); /* a coroutine waits for its turn suspended */
    while (sent < n && err == 0) {
        size_t k = n - sent < per ? n - sent : per;
        mt__rargs a = {0};
        build_entries(rp, &a, name, args + sent, k, chunk, first + sent, &packed);
        err = mt__rpool_script(&rp->send, rp->send.timeout, mt__rscript_pool_submit, &a, NULL);
        mt__rargs_free(&a);
        if (err == 0)
            sent += k;
    }
    mt__runlock(&rp->send_lock);
    mt_buf_free(&packed);
    if (err < 0)
        forget(rp, first, n);
    return err;
}

static size_t rpool_outstanding(mt__rpool *rp)
{
    pthread_mutex_lock(&rp->lock);
    size_t n = rp->count;
    pthread_mutex_unlock(&rp->lock);
    return n;
}

static int rpool_drain(mt__rpool *rp, double timeout)
{
    mt__deadline d;
    if (mt__deadline_set(&d, timeout) < 0)
        return -EINVAL;
    int err = 0;
    pthread_mutex_lock(&rp->lock);
    while (rp->count > 0 && err == 0)
        if (mt__cond_wait(&rp->idle, &rp->lock, d) < 0 && rp->count > 0)
            err = -ETIMEDOUT;
    pthread_mutex_unlock(&rp->lock);
    return err;
}

static void rpool_cancel_all(mt__rpool *rp, int err, const char *msg)
{
    pthread_mutex_lock(&rp->lock);
    call *all = NULL;
    for (size_t i = 0; i < rp->nbuckets; i++) {
        for (call *c = rp->buckets[i], *next; c; c = next) {
            next = c->next;
            c->next = all;
            all = c;
        }
        rp->buckets[i] = NULL;
    }
    pthread_mutex_unlock(&rp->lock);
    size_t k = 0;
    for (call *c = all, *next; c; c = next) {
        next = c->next;
        finish(c, err, msg, strlen(msg));
        k++;
    }
    settled(rp, k);
}

static void rpool_free(mt__rpool *rp)
{
    if (!rp)
        return;
    rpool_cancel_all(rp, -ECANCELED, "the pool was freed");
    atomic_store(&rp->stop, true);
    pthread_join(rp->thread, NULL);
    /* answers still on their way expire with the stream (MT__RPOOL_ANSWER_TTL_MS) */
    const char *argv[] = {"DEL", rp->res_key};
    redisReply *reply;
    if (mt__rconn_call(&rp->send, 0.5, 2, argv, NULL, &reply) == 0)
        freeReplyObject(reply);
    rpool_release(rp);
}

const mt__remote_pool_ops mt__remote_pool_ops_v1 = {
    .open = rpool_open,
    .submit = rpool_submit,
    .outstanding = rpool_outstanding,
    .drain = rpool_drain,
    .cancel_all = rpool_cancel_all,
    .free = rpool_free,
    .worker_main = mt__rpool_worker_main,
};
