/*
 * object.c - a dict's, list's or queue's handle on a server: open (which
 * makes a dict or list when the name is free), free, unlink, batches, and
 * running the operations script; the table libmultitask takes
 * (mt__remote_ops_v2).
 *
 * Global state: the list of live handles and a fork handler. A fork waits
 * until no call is in progress on any handle (each handle's lock is taken
 * around it), so a child never inherits a lock held by a thread it does
 * not have; the child then drops the connections it inherited (the
 * parent's sockets: they stay open in the parent) and makes new operation
 * ids (and so new queue consumer names), so that its calls and its
 * parent's can never be taken for each other's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "remote_internal.h"

/* How long a handle's free waits for the server to delete its last record. */
#define FORGET_WINDOW 0.2

static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static mt__remote *handles;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

uint64_t mt__rrandom64(void)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r) r = mt_monotonic_ns() ^ ((uint64_t)getpid() << 32);
    return r;
}

/*
 * Around fork, every handle is locked, so that no other thread is in the
 * middle of a call on it. A handle this thread holds already (a coroutine
 * of its loop is suspended in a call on it, and another one forks) is left
 * as it is (its error-checking lock says EDEADLK): the child drops its
 * connection, and its lock is made anew there in any case.
 */
static void fork_prepare(void)
{
    pthread_mutex_lock(&handles_lock);
    for (mt__remote *r = handles; r; r = r->next) {
        r->held_at_fork = pthread_mutex_lock(&r->lock) == EDEADLK;
        pthread_mutex_lock(&r->wait_lock); /* never held across a wait */
    }
}

static void fork_parent(void)
{
    for (mt__remote *r = handles; r; r = r->next) {
        pthread_mutex_unlock(&r->wait_lock);
        if (!r->held_at_fork)
            pthread_mutex_unlock(&r->lock);
    }
    pthread_mutex_unlock(&handles_lock);
}

static void lock_init(pthread_mutex_t *lock)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(lock, &a);
    pthread_mutexattr_destroy(&a);
}

static void fork_child(void)
{
    for (mt__remote *r = handles; r; r = r->next) {
        if (r->held_at_fork && r->conn.ctx) {
            /* its call may be running on a thread of the loop's pool, not
             * copied here, with the context half changed: its socket is
             * closed, its memory left alone */
            close(r->conn.ctx->fd);
            r->conn.ctx = NULL;
        }
        mt__rconn_drop(&r->conn);
        for (int i = 0; i < MT__RWAITERS; i++) {
            mt__rconn_drop(&r->waiters[i]);
            r->waiter_busy[i] = false;
        }
        r->forget[0] = '\0';
        r->op_rand = mt__rrandom64();
        r->op_count = 0;
        r->held = 0; /* the parent's gets are the parent's to task_done */
        pthread_mutex_unlock(&r->wait_lock);
        /* this thread owns the lock (fork_prepare took it, or a coroutine
         * of its loop holds it): released, so that ThreadSanitizer sees it
         * free too, and made anew (a holder's call does not go on here) */
        pthread_mutex_unlock(&r->lock);
        lock_init(&r->lock);
    }
    pthread_mutex_unlock(&handles_lock);
}

static void register_atfork(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* ------------------------------------------------------------ running */

/* The window of a call: its timeout, at most MT__RRESEND_MAX for one that
 * must not run twice (its record outlives that); the record's life in ms. */
static double window_of(const mt__remote *r, int how, long long *ttl_ms)
{
    double t = r->conn.timeout;
    if ((how & MT__RUN_ONCE) && (t < 0 || t > MT__RRESEND_MAX)) t = MT__RRESEND_MAX;
    *ttl_ms = (long long)((t < 0 ? MT__RRESEND_MAX : t) * 1000) + 60000;
    return t;
}

bool mt__rbatch_mine(mt__remote *r)
{
    return pthread_equal(atomic_load(&r->batch_owner), pthread_self()) &&
           atomic_load(&r->batch_owner) != (pthread_t)0;
}

/* Queue ops into this thread's batch. */
static int queue_ops(mt__remote *r, const mt__rargs *ops, int how)
{
    if (how & MT__RUN_ANSWER) return -EINPROGRESS;
    /* copies: the caller's bytes are its own again when the call returns */
    for (int i = 0; i < ops->argc; i++)
        mt__rargs_copy(&r->batch, ops->argv[i], ops->lens[i]);
    r->batch.nops += ops->nops;
    return r->batch.failed ? -ENOMEM : 0;
}

/* Run `ops` (already holding its operations) as one script call. */
static int run_now(mt__remote *r, const mt__rargs *ops, int how, redisReply **reply)
{
    long long ttl;
    double window = window_of(r, how, &ttl);
    char rec[sizeof r->forget], id[40], ttls[24];
    id[0] = '\0';
    mt__rlock(&r->lock);
    if (how & MT__RUN_ONCE)
        snprintf(id, sizeof id, "%016llx%016llx", (unsigned long long)r->op_rand,
                 (unsigned long long)++r->op_count);
    snprintf(rec, sizeof rec, "%s%s", r->op_prefix, id);
    snprintf(ttls, sizeof ttls, "%lld", ttl);
    /* a read must write nothing: the record waits for the next write */
    bool nowrite = how & MT__RUN_NOWRITE;
    const char *forget = r->forget[0] && !nowrite ? r->forget : r->mark_key;
    const char *script = r->ops[nowrite ? 1 : how & MT__RUN_SHRINK ? 2 : 0];
    int nhead = 10 + r->nextra, argc = nhead + ops->argc;
    const char **argv = malloc((size_t)argc * sizeof *argv);
    size_t *lens = malloc((size_t)argc * sizeof *lens);
    int err = -ENOMEM;
    if (argv && lens) {
        char nkeys[16];
        snprintf(nkeys, sizeof nkeys, "%d", 4 + r->nextra);
        const char *head[12] = {"EVALSHA", "", nkeys, r->data_key, r->mark_key, rec, forget};
        for (int i = 0; i < r->nextra; i++)
            head[7 + i] = r->extra_keys[i];
        head[7 + r->nextra] = r->tag;
        head[8 + r->nextra] = id;
        head[9 + r->nextra] = ttls;
        for (int i = 0; i < nhead; i++) {
            argv[i] = head[i];
            lens[i] = strlen(head[i]);
        }
        memcpy(argv + nhead, ops->argv, (size_t)ops->argc * sizeof *argv);
        memcpy(lens + nhead, ops->lens, (size_t)ops->argc * sizeof *lens);
        err = mt__rconn_script(&r->conn, window, script, argc, argv, lens, reply);
    }
    if (err == 0) {
        /* answered: its record (if any) can go with the next call */
        if (id[0])
            snprintf(r->forget, sizeof r->forget, "%s", rec);
        else if (!nowrite)
            r->forget[0] = '\0';
    }
    mt__runlock(&r->lock);
    free(argv);
    free(lens);
    if (err < 0) return err;
    redisReply *rp = *reply;
    if (rp->type == REDIS_REPLY_ERROR)
        err = mt__rerr(rp);
    else if (rp->type != REDIS_REPLY_ARRAY || rp->elements < 1 ||
             rp->element[0]->type != REDIS_REPLY_INTEGER)
        err = MT_EREMOTE;
    else if (rp->element[0]->integer != 0)
        err = mt__rcode(rp->element[0]->integer);
    else if (rp->elements != (size_t)ops->nops + 1)
        err = MT_EREMOTE;
    if (err < 0) {
        freeReplyObject(rp);
        *reply = NULL;
    }
    return err;
}

int mt__robj_run(mt__remote *r, mt__rargs *ops, int how, redisReply **reply)
{
    *reply = NULL;
    if (ops->failed) return -ENOMEM;
    if (mt__rbatch_mine(r)) return queue_ops(r, ops, how);
    return run_now(r, ops, how, reply);
}

int mt__robj_result(const redisReply *reply, const redisReply **res)
{
    const redisReply *e = reply->element[1];
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 ||
        e->element[0]->type != REDIS_REPLY_INTEGER)
        return MT_EREMOTE;
    *res = e;
    return mt__rcode(e->element[0]->integer);
}

int mt__robj_one(mt__remote *r, mt__rargs *a, int how, mt_buf *out, long long *num)
{
    redisReply *reply;
    const redisReply *res;
    mt_buf v = MT_BUF_INIT; /* out stays as it was on failure */
    int err = mt__robj_run(r, a, how, &reply);
    if (err == 0 && reply && (err = mt__robj_result(reply, &res)) == 0 && res->elements > 1) {
        const redisReply *e = res->element[1];
        if (e->type == REDIS_REPLY_STRING && out)
            err = mt_buf_append(&v, e->str, e->len);
        else if (e->type == REDIS_REPLY_INTEGER && num)
            *num = e->integer;
        else if (out || num)
            err = MT_EREMOTE;
        if (err == 0 && out) {
            mt_buf_reset(out);
            err = mt_buf_append(out, v.data, v.len);
        }
    }
    mt_buf_free(&v);
    if (reply) freeReplyObject(reply);
    mt__rargs_free(a);
    return err;
}

/* ------------------------------------------------------- life cycle */

void mt__robj_free(mt__remote *r)
{
    mt__rconn_drop(&r->conn);
    for (int i = 0; i < MT__RWAITERS; i++)
        mt__rconn_drop(&r->waiters[i]);
    mt__rurl_free(&r->url);
    mt__rargs_free(&r->batch);
    free(r->data_key);
    free(r->mark_key);
    free(r->op_prefix);
    for (int i = 0; i < 2; i++)
        free(r->extra_keys[i]);
    pthread_mutex_destroy(&r->wait_lock);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* One of the small scripts on r's two keys, with up to one argument:
 * its integer answer, or an error. */
static int run_small(mt__remote *r, const char *script, const char *arg, long long *answer)
{
    const char *argv[6] = {"EVALSHA", "", "2", r->data_key, r->mark_key, arg};
    redisReply *reply;
    mt__rlock(&r->lock);
    int err = mt__rconn_script(&r->conn, r->conn.timeout, script, arg ? 6 : 5, argv, NULL, &reply);
    mt__runlock(&r->lock);
    if (err < 0) return err;
    if (reply->type == REDIS_REPLY_INTEGER)
        *answer = reply->integer;
    else
        err = reply->type == REDIS_REPLY_ERROR ? mt__rerr(reply) : MT_EREMOTE;
    freeReplyObject(reply);
    return err;
}

static const char *const dict_list_ops[3] = {mt__rscript_ops, mt__rscript_ops_read,
                                             mt__rscript_ops_shrink};

int mt__robj_new(mt__remote **out, const char *tag, const char *url, const mt_shared_opts *opts)
{
    double timeout = opts ? opts->timeout : 0;
    if (isnan(timeout)) return -EINVAL;
    mt__remote *r = calloc(1, sizeof *r);
    if (!r) return -ENOMEM;
    lock_init(&r->lock);
    pthread_mutex_init(&r->wait_lock, NULL);
    int err = mt__rurl_parse(&r->url, url);
    if (err < 0) {
        pthread_mutex_destroy(&r->wait_lock);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return err;
    }
    r->tag = tag;
    r->ops = dict_list_ops;
    r->conn.url = &r->url;
    for (int i = 0; i < MT__RWAITERS; i++)
        r->waiters[i].url = &r->url;
    r->conn.timeout = timeout == 0 ? MT__RTIMEOUT_DEFAULT : timeout < 0 ? -1 : timeout;
    r->data_len = strlen(r->url.name);
    if (asprintf(&r->mark_key, "%s:multitask", r->url.name) < 0) r->mark_key = NULL;
    if (asprintf(&r->op_prefix, "%s:multitask:op:", r->url.name) < 0) r->op_prefix = NULL;
    r->data_key = strdup(r->url.name);
    if (!r->mark_key || !r->op_prefix || !r->data_key) {
        mt__robj_free(r);
        return -ENOMEM;
    }
    r->mark_len = strlen(r->mark_key);
    r->op_rand = mt__rrandom64();
    *out = r;
    return 0;
}

void mt__robj_consumer(mt__remote *r, char kind, char out[40])
{
    mt__rlock(&r->lock);
    snprintf(out, 40, "%c:%016llx", kind, (unsigned long long)r->op_rand);
    mt__runlock(&r->lock);
}

static int remote_open(mt__remote **out, bool list, const char *url, const mt_shared_opts *opts)
{
    mt__remote *r;
    const char *tag = list ? "multitask:list:1" : "multitask:dict:1";
    int err = mt__robj_new(&r, tag, url, opts);
    if (err < 0) return err;
    long long answer = 0;
    err = run_small(r, mt__rscript_open, tag, &answer);
    if (err == 0 && answer < 0) err = mt__rcode(answer);
    if (err < 0) {
        mt__robj_free(r);
        return err;
    }
    mt__robj_register(r);
    *out = r;
    return 0;
}

void mt__robj_register(mt__remote *r)
{
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&handles_lock);
    r->next = handles;
    if (handles) handles->prev = r;
    handles = r;
    pthread_mutex_unlock(&handles_lock);
}

static void remote_close(mt__remote *r)
{
    if (!r) return;
    pthread_mutex_lock(&handles_lock);
    if (r->prev)
        r->prev->next = r->next;
    else
        handles = r->next;
    if (r->next) r->next->prev = r->prev;
    pthread_mutex_unlock(&handles_lock);
    if (r->ops == mt__rscript_queue && r->conn.ctx) mt__rqueue_bye(r);
    /* The record of the last call goes now rather than when it expires,
     * if the connection is up: one try, briefly. */
    if (r->conn.ctx && r->forget[0]) {
        const char *argv[2] = {"DEL", r->forget};
        redisReply *reply;
        if (mt__rconn_call(&r->conn, FORGET_WINDOW, 2, argv, NULL, &reply) == 0)
            freeReplyObject(reply);
    }
    mt__robj_free(r);
}

static int remote_unlink(const char *url)
{
    mt__remote *r;
    int err = mt__robj_new(&r, "multitask:dict:1", url, NULL);
    if (err < 0) return err;
    long long answer = 0;
    err = run_small(r, mt__rscript_unlink, NULL, &answer);
    mt__robj_free(r);
    return err < 0 ? err : mt__rcode(answer);
}

/* ------------------------------------------------------------ batches */

static int batch_begin(mt__remote *r)
{
    pthread_t none = (pthread_t)0;
    if (!atomic_compare_exchange_strong(&r->batch_owner, &none, pthread_self())) return -EBUSY;
    mt__rargs_free(&r->batch);
    return 0;
}

static int batch_end(mt__remote *r, bool commit)
{
    if (!mt__rbatch_mine(r)) return -EINVAL;
    mt__rargs ops = r->batch;
    memset(&r->batch, 0, sizeof r->batch);
    atomic_store(&r->batch_owner, (pthread_t)0);
    int err = ops.failed ? -ENOMEM : 0;
    if (commit && err == 0 && ops.nops > 0) {
        redisReply *reply = NULL;
        err = run_now(r, &ops, MT__RUN_ONCE, &reply);
        if (reply) freeReplyObject(reply);
    }
    mt__rargs_free(&ops);
    return err;
}

/* ------------------------------------------------------------- table */

const mt__remote_ops mt__remote_ops_v2 = {
    .open = remote_open,
    .close = remote_close,
    .unlink = remote_unlink,
    .batch_begin = batch_begin,
    .batch_end = batch_end,
    .dict_set = mt__rdict_set,
    .dict_get = mt__rdict_get,
    .dict_delete = mt__rdict_delete,
    .dict_pop = mt__rdict_pop,
    .dict_contains = mt__rdict_contains,
    .dict_len = mt__rdict_len,
    .dict_clear = mt__rdict_clear,
    .dict_items = mt__rdict_items,
    .dict_incr = mt__rdict_incr,
    .dict_cas = mt__rdict_cas,
    .dict_modify = mt__rdict_modify,
    .dict_update = mt__rdict_update,
    .list_append = mt__rlist_append,
    .list_insert = mt__rlist_insert,
    .list_get = mt__rlist_get,
    .list_set = mt__rlist_set,
    .list_pop = mt__rlist_pop,
    .list_len = mt__rlist_len,
    .list_clear = mt__rlist_clear,
    .list_items = mt__rlist_items,
    .queue_open = mt__rqueue_open,
    .queue_unlink = mt__rqueue_unlink,
    .queue_put = mt__rqueue_put,
    .queue_get = mt__rqueue_get,
    .queue_settle = mt__rqueue_settle,
    .queue_task_done = mt__rqueue_task_done,
    .queue_join = mt__rqueue_join,
    .queue_close = mt__rqueue_close,
    .queue_qsize = mt__rqueue_qsize,
    .queue_closed = mt__rqueue_closed,
};
