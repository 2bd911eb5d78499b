/*
 * queue.c - mt_queue on a server: a Redis stream read through a consumer
 * group (the keys and the consumer names are described in
 * queue_script.c). Each call is one script; one that takes or gives a
 * message carries an operation id, so that a reply lost with the
 * connection is resent and never taken twice (remote_internal.h).
 *
 * Streams rather than lists: the consumer group's pending list keeps, for
 * each message handed out and not yet done, who holds it, since when and
 * how often it was delivered, which is what a claim's redelivery after an
 * idle time needs (XAUTOCLAIM); on lists that bookkeeping would be a
 * second structure kept in step by every script, and a redelivery that
 * Redis does not do for us. Measured (bench/remote/rqueue_kinds: the put
 * and get scripts of both kinds, with the marker, settings and record
 * steps of ours; one producer process, one consumer process, 16-byte
 * messages, Redis 7.0.15 on a Unix socket, 2 cores shared with other
 * work, so the figures move with the load; two runs each):
 *                          lists          streams        the queue itself
 *   appendonly no          6,386  5,180   5,022  4,978   5,107  5,216 msg/s
 *   appendfsync always       203  3,031     244  2,914   2,600  2,339 msg/s
 * ("the queue itself": bench/remote/bench_rqueue, blocking puts and gets,
 * measured in the same minutes; 20,000 messages without AOF, 3,000 with;
 * the first fsynced pair ran while the disk was busy). Lists cost 1.0 to
 * 1.3 times less in the scripts alone; with every write fsynced (what "a
 * put that returned is durable" asks) the fsync decides and the kinds are
 * even. Streams were chosen: the guarantee comes from Redis rather than
 * from more script.
 *
 * Waiting. A call that cannot proceed (nothing to get, no room, work not
 * done for join) gets from its script the ids to wait after, and blocks in
 * XREAD on the stream (getters) and on the wake stream (everyone), on one
 * of the handle's spare connections so that the handle's other threads go
 * on meanwhile, for at most WAIT_SLICE: then it tries again, which is
 * also when messages whose consumer went silent are taken back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multitask/coro.h"
#include "remote_internal.h"

/* The longest single wait in XREAD before a call tries again; in a
 * coroutine, which sees a cancellation or a timeout between waits. */
#define WAIT_SLICE 1.0
#define WAIT_SLICE_CO 0.1

/* The default time a claimed message may stay unacknowledged. */
#define IDLE_DEFAULT 30.0

/* Redis's largest string (proto-max-bulk-len's default). */
#define MESSAGE_MAX (512u << 20)

/* Stream ids in receipts: the sequence in the low 40 bits of word, the
 * delivery count above it. */
#define SEQ_BITS 40

static const char TAG[] = "multitask:queue:1";

/* ---------------------------------------------------------- waiting */

/* Block in XREAD until an entry after the given ids arrives, or `seconds`
 * pass. keys/ids: 1 or 2 streams. Returns 0 or a connection error. In a
 * coroutine the wait suspends it, shielded (a connection is never left in
 * the middle of a reply) and at most WAIT_SLICE_CO: then a cancellation
 * or timeout that came meanwhile is returned (-ECANCELED, -ETIMEDOUT). */
static int wait_on(mt__remote *r, int n, const char *const *keys, const char *const *ids,
                   double seconds)
{
    bool co = mt__rco();
    if (co) {
        if (seconds > WAIT_SLICE_CO) seconds = WAIT_SLICE_CO;
        mt_co_shield_begin();
    }
    mt__rconn spare = {.url = &r->url}, *c = &spare;
    int slot = -1;
    pthread_mutex_lock(&r->wait_lock);
    for (int i = 0; i < MT__RWAITERS && slot < 0; i++)
        if (!r->waiter_busy[i]) slot = i;
    if (slot >= 0) {
        r->waiter_busy[slot] = true;
        c = &r->waiters[slot];
    }
    pthread_mutex_unlock(&r->wait_lock);
    long long ms = (long long)(seconds * 1000);
    char block[24];
    snprintf(block, sizeof block, "%lld", ms < 1 ? 1 : ms);
    const char *argv[10] = {"XREAD", "COUNT", "1", "BLOCK", block, "STREAMS"};
    int argc = 6;
    for (int i = 0; i < n; i++)
        argv[argc++] = keys[i];
    for (int i = 0; i < n; i++)
        argv[argc++] = ids[i];
    redisReply *reply;
    int err = mt__rconn_call(c, seconds + MT__RTIMEOUT_DEFAULT, argc, argv, NULL, &reply);
    if (err == 0) {
        if (reply->type == REDIS_REPLY_ERROR) err = mt__rerr(reply);
        freeReplyObject(reply);
    }
    if (slot >= 0) {
        pthread_mutex_lock(&r->wait_lock);
        r->waiter_busy[slot] = false;
        pthread_mutex_unlock(&r->wait_lock);
    } else {
        mt__rconn_drop(&spare);
    }
    if (co) {
        mt_co_shield_end();
        int stop = mt_co_sleep(0); /* a request held back by the shield */
        if (err == 0 && stop < 0) err = stop;
    }
    return err;
}

/* A string element of a reply, or NULL. */
static const char *str_at(const redisReply *res, size_t i)
{
    if (i >= res->elements) return NULL;
    const redisReply *e = res->element[i];
    return e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS ? e->str : NULL;
}

/* After an answer "wait" (res: {code, id...}): -EAGAIN for timeout 0,
 * -ETIMEDOUT past the deadline, else wait on the wake stream (and on the
 * stream when `stream`: after the id res gives) and return 0 to try again. */
static int wait_after(mt__remote *r, const redisReply *res, bool stream, double timeout,
                      double deadline)
{
    if (timeout == 0) return -EAGAIN;
    double left = deadline - mt_monotonic();
    if (left <= 0) return -ETIMEDOUT;
    const char *keys[2], *ids[2];
    int n = 0;
    if (stream) {
        keys[n] = r->data_key;
        ids[n++] = str_at(res, 1);
    }
    keys[n] = r->extra_keys[1];
    ids[n++] = str_at(res, stream ? 2 : 1);
    for (int i = 0; i < n; i++)
        if (!ids[i]) return MT_EREMOTE;
    return wait_on(r, n, keys, ids, left < WAIT_SLICE ? left : WAIT_SLICE);
}

static double deadline_of(double timeout)
{
    return timeout < 0 ? INFINITY : mt_monotonic() + timeout;
}

/* Run one queue operation (freeing ops): its result array in *res (valid
 * until *reply is freed), and its code as an error. On a failure to run,
 * *reply is NULL. */
static int run_op(mt__remote *r, mt__rargs *ops, int how, redisReply **reply,
                  const redisReply **res)
{
    int err = mt__robj_run(r, ops, how, reply);
    mt__rargs_free(ops);
    if (err < 0) return err;
    return mt__robj_result(*reply, res);
}

/* --------------------------------------------------------- life cycle */

int mt__rqueue_open(mt__remote **out, const char *url, const mt_queue_opts *opts, int mode,
                    mt_queue_opts *actual)
{
    double idle = opts ? opts->redeliver_after : 0;
    if (isnan(idle) || idle < 0 || idle > 1e9) return -EINVAL;
    if (opts && opts->max_message > MESSAGE_MAX) return -EINVAL;
    if (idle == 0) idle = IDLE_DEFAULT;
    mt__remote *r;
    int err = mt__robj_new(&r, TAG, url, NULL);
    if (err < 0) return err;
    r->ops = mt__rscript_queue;
    r->nextra = 2;
    if (asprintf(&r->extra_keys[0], "%s:multitask:queue", r->url.name) < 0) r->extra_keys[0] = NULL;
    if (asprintf(&r->extra_keys[1], "%s:multitask:wake", r->url.name) < 0) r->extra_keys[1] = NULL;
    if (!r->extra_keys[0] || !r->extra_keys[1]) {
        mt__robj_free(r);
        return -ENOMEM;
    }
    char smode[4], smax[24], smsg[24], sidle[24];
    snprintf(smode, sizeof smode, "%d", mode);
    snprintf(smax, sizeof smax, "%zu", opts ? opts->maxsize : 0);
    snprintf(smsg, sizeof smsg, "%zu", opts ? opts->max_message : 0);
    snprintf(sidle, sizeof sidle, "%lld", (long long)(idle * 1000));
    const char *argv[13] = {"EVALSHA", "",   "4",  r->data_key, r->mark_key,
                            r->extra_keys[0], r->extra_keys[1], TAG, smode, smax, smsg,
                            opts && opts->joinable ? "1" : "0", sidle};
    redisReply *reply;
    mt__rlock(&r->lock);
    err = mt__rconn_script(&r->conn, r->conn.timeout, mt__rscript_queue_open, 13, argv, NULL,
                           &reply);
    mt__runlock(&r->lock);
    if (err == 0) {
        if (reply->type == REDIS_REPLY_ERROR)
            err = mt__rerr(reply);
        else if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
                 reply->element[0]->type != REDIS_REPLY_INTEGER)
            err = MT_EREMOTE;
        else if (reply->element[0]->integer < 0)
            err = mt__rcode(reply->element[0]->integer);
        else if (reply->elements != 5 || !str_at(reply, 1) || !str_at(reply, 2) ||
                 !str_at(reply, 3) || !str_at(reply, 4))
            err = MT_EREMOTE;
        if (err == 0) {
            r->maxsize = strtoull(str_at(reply, 1), NULL, 10);
            r->max_message = strtoull(str_at(reply, 2), NULL, 10);
            r->joinable = !strcmp(str_at(reply, 3), "1");
            r->idle_ms = strtoll(str_at(reply, 4), NULL, 10);
            if (r->maxsize == 0 || r->max_message > MESSAGE_MAX || r->idle_ms <= 0) err = -EPROTO;
        }
        freeReplyObject(reply);
    }
    if (err < 0) {
        mt__robj_free(r);
        return err;
    }
    if (actual) {
        *actual = (mt_queue_opts){.maxsize = r->maxsize,
                                  .max_message = r->max_message,
                                  .joinable = r->joinable,
                                  .redeliver_after = (double)r->idle_ms / 1000};
    }
    mt__robj_register(r);
    *out = r;
    return 0;
}

int mt__rqueue_unlink(const char *url)
{
    mt__remote *r;
    int err = mt__robj_new(&r, TAG, url, NULL);
    if (err < 0) return err;
    char *meta = NULL, *wake = NULL;
    if (asprintf(&meta, "%s:multitask:queue", r->url.name) < 0) meta = NULL;
    if (asprintf(&wake, "%s:multitask:wake", r->url.name) < 0) wake = NULL;
    err = -ENOMEM;
    if (meta && wake) {
        const char *argv[8] = {"EVALSHA", "", "4", r->data_key, r->mark_key, meta, wake, TAG};
        redisReply *reply;
        err = mt__rconn_script(&r->conn, r->conn.timeout, mt__rscript_queue_unlink, 8, argv, NULL,
                               &reply);
        if (err == 0) {
            err = reply->type == REDIS_REPLY_INTEGER ? mt__rcode(reply->integer)
                  : reply->type == REDIS_REPLY_ERROR ? mt__rerr(reply)
                                                     : MT_EREMOTE;
            freeReplyObject(reply);
        }
    }
    free(meta);
    free(wake);
    mt__robj_free(r);
    return err;
}

/* ----------------------------------------------------------- put, get */

/* Run the operation op (with the one argument arg[0..len) when arg is not
 * NULL) until it is not told to wait on the wake stream, or the timeout
 * passes: put (for room) and join (for the work to be done). */
static int run_waiting(mt__remote *r, const char *op, const void *arg, size_t len, int how,
                       double timeout)
{
    double deadline = deadline_of(timeout);
    for (;;) {
        mt__rargs a = {0};
        mt__rargs_op(&a, op);
        if (arg) mt__rargs_add(&a, arg, len);
        redisReply *reply;
        const redisReply *res;
        int err = run_op(r, &a, how, &reply, &res);
        if (err == -EAGAIN) err = wait_after(r, res, false, timeout, deadline);
        else if (err == 0) err = 1;
        if (reply) freeReplyObject(reply);
        if (err != 0) return err < 0 ? err : 0;
    }
}

int mt__rqueue_put(mt__remote *r, const void *data, size_t len, double timeout)
{
    return run_waiting(r, "put", data ? data : "", len, MT__RUN_ONCE, timeout);
}

/* Copy a message taken into the sink. */
static int deliver(mt__rsink *k, const redisReply *msg)
{
    if (k->buf) {
        k->buf->len = 0;
        if (mt_buf_reserve(k->buf, msg->len + 1) < 0) return -ENOMEM;
        memcpy(k->buf->data, msg->str, msg->len);
        k->buf->data[msg->len] = '\0';
        k->buf->len = msg->len;
    } else if (msg->len) {
        memcpy(k->dst, msg->str, msg->len);
    }
    k->len = msg->len;
    return 0;
}

/* A receipt from a stream id "ms-seq" and its delivery count. */
static int receipt_of(mt_queue_receipt *rc, const char *id, long long times)
{
    unsigned long long ms, seq;
    if (sscanf(id, "%llu-%llu", &ms, &seq) != 2 || seq >> SEQ_BITS || times < 1 ||
        times >= 1ll << (64 - SEQ_BITS))
        return MT_EREMOTE;
    *rc = (mt_queue_receipt){ms, seq | (unsigned long long)times << SEQ_BITS};
    return 0;
}

int mt__rqueue_get(mt__remote *r, mt__rsink *k, double timeout)
{
    double deadline = deadline_of(timeout);
    char mode = k->receipt ? 'c' : r->joinable ? 'j' : 'n';
    char me[40];
    mt__robj_consumer(r, mode, me);
    size_t cap = k->buf ? SIZE_MAX : k->cap;
    for (;;) {
        mt__rargs a = {0};
        mt__rargs_op(&a, "get");
        mt__rargs_add(&a, &mode, 1);
        mt__rargs_add(&a, me, strlen(me));
        mt__rargs_fmt(&a, "%zu", cap);
        redisReply *reply;
        const redisReply *res;
        int err = run_op(r, &a, MT__RUN_ONCE | MT__RUN_SHRINK, &reply, &res);
        if (err == -EAGAIN) {
            err = wait_after(r, res, true, timeout, deadline);
        } else if (err == 0) {
            const redisReply *msg = res->elements > 1 ? res->element[1] : NULL;
            if (!msg || msg->type != REDIS_REPLY_STRING ||
                (mode != 'n' && (!str_at(res, 2) || res->elements < 4 ||
                                 res->element[3]->type != REDIS_REPLY_INTEGER)))
                err = MT_EREMOTE;
            else if (mode == 'c')
                err = receipt_of(k->receipt, str_at(res, 2), res->element[3]->integer);
            if (err == 0) err = deliver(k, msg);
            if (err == 0 && mode == 'j') {
                mt__rlock(&r->lock);
                r->held++;
                mt__runlock(&r->lock);
            }
            if (err == 0) err = 1;
        }
        if (reply) freeReplyObject(reply);
        if (err != 0) return err < 0 ? err : 0;
    }
}

int mt__rqueue_settle(mt__remote *r, const mt_queue_receipt *rc, bool ack)
{
    mt__rargs a = {0};
    mt__rargs_op(&a, "settle");
    mt__rargs_fmt(&a, "%llu-%llu", (unsigned long long)rc->pos,
                  (unsigned long long)(rc->word & ((1ull << SEQ_BITS) - 1)));
    mt__rargs_fmt(&a, "%llu", (unsigned long long)(rc->word >> SEQ_BITS));
    mt__rargs_add(&a, ack ? "1" : "0", 1);
    return mt__robj_one(r, &a, MT__RUN_ONCE | MT__RUN_SHRINK, NULL, NULL);
}

int mt__rqueue_task_done(mt__remote *r)
{
    if (!r->joinable) return -EINVAL;
    mt__rlock(&r->lock);
    bool none = r->held == 0;
    mt__runlock(&r->lock);
    if (none) return -EINVAL;
    char me[40];
    mt__robj_consumer(r, 'j', me);
    mt__rargs a = {0};
    mt__rargs_op(&a, "done");
    mt__rargs_add(&a, me, strlen(me));
    int err = mt__robj_one(r, &a, MT__RUN_ONCE | MT__RUN_SHRINK, NULL, NULL);
    if (err == 0 || err == -ESTALE) {
        mt__rlock(&r->lock);
        if (r->held > 0) r->held--;
        mt__runlock(&r->lock);
    }
    return err;
}

int mt__rqueue_join(mt__remote *r, double timeout)
{
    if (!r->joinable) return -EINVAL;
    return run_waiting(r, "unfinished", NULL, 0, MT__RUN_READ, timeout);
}

int mt__rqueue_close(mt__remote *r)
{
    mt__rargs a = {0};
    mt__rargs_op(&a, "close");
    return mt__robj_one(r, &a, MT__RUN_SHRINK, NULL, NULL);
}

ssize_t mt__rqueue_qsize(mt__remote *r)
{
    mt__rargs a = {0};
    long long n = 0;
    mt__rargs_op(&a, "len");
    int err = mt__robj_one(r, &a, MT__RUN_READ, NULL, &n);
    return err < 0 ? err : (ssize_t)n;
}

int mt__rqueue_closed(mt__remote *r)
{
    mt__rargs a = {0};
    long long n = 0;
    mt__rargs_op(&a, "closed");
    int err = mt__robj_one(r, &a, MT__RUN_READ, NULL, &n);
    return err < 0 ? err : n != 0;
}

/* Before a queue handle goes: give back the messages it claimed and did
 * not acknowledge, and forget its consumers that hold nothing (so that the
 * group does not keep one per handle ever opened). One try, briefly: what
 * it misses, the idle time does. */
void mt__rqueue_bye(mt__remote *r)
{
    char n[40], j[40], c[40];
    mt__robj_consumer(r, 'n', n);
    mt__robj_consumer(r, 'j', j);
    mt__robj_consumer(r, 'c', c);
    mt__rargs a = {0};
    mt__rargs_op(&a, "bye");
    mt__rargs_add(&a, n, strlen(n));
    mt__rargs_add(&a, j, strlen(j));
    mt__rargs_add(&a, c, strlen(c));
    double keep = r->conn.timeout;
    r->conn.timeout = 0.2;
    mt__robj_one(r, &a, MT__RUN_SHRINK, NULL, NULL);
    r->conn.timeout = keep;
}
