/*
 * queue.c - the queue's public calls: argument checks, copying messages out,
 * waiting with timeouts, close, and the joinable count.
 *
 * Waiting. A call that cannot proceed spins for up to some 25 microseconds
 * (an adaptive budget, see spin()), peeking between pauses long enough for
 * the other side to get several messages ahead, so that a busy producer and
 * consumer stream through the slots instead of trading one cache line back
 * and forth. Then it sleeps on a futex in the shared memory: it raises a
 * "waiting" flag, tries once more, and sleeps on a sequence word that the
 * other side bumps when it sees the flag. A flag rather than a count of sleepers, so that a process killed in
 * its sleep cannot leave a count wrong for ever. Sleepers also wake every
 * WAKE_PERIOD_NS by themselves: a wake-up lost with a killed waker costs
 * that long at most, and each wake is a chance to sweep for dead processes.
 *
 * Joinable count. "Every message put has been done" must survive crashes
 * too, and no pair of counters updated one after the other can: a process
 * killed between the two updates leaves them disagreeing. So the number of
 * messages ever put is derived from what the slots say instead: positions
 * claimed (the frontier), minus positions given up (`skipped`, bumped by
 * whoever repaired a dead writer's slot), minus puts under way.
 * `puts` is only a cheap hint of it, used to avoid that count on the hot
 * path. Only a process killed within the few instructions between a repair
 * and its `skipped` increment (a second crash during recovery from a
 * first) can leave join waiting for a message that will never exist.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "queue_internal.h"

enum {
    SPIN_ROUNDS = 64,                   /* the most peeks before sleeping */
    SPIN_PAUSES = 16,                   /* pauses between peeks (~0.4 us) */
    WAKE_PERIOD_NS = 100 * 1000 * 1000, /* sleepers wake this often anyway */
    OPEN_OR_NEW_TURNS = 16,             /* mt_queue_open_or_new's tries */
    DONE_TRIES = 1 << 20,               /* task_done's CAS attempts (count_done) */
};

typedef int attempt_fn(mt_queue *q, void *arg);
typedef bool ready_fn(const mt_queue *q);

/*
 * Spin until ready() says to try, for at most *budget peeks. The budget
 * adapts as glibc's adaptive mutexes do: doubled after a spin that paid off,
 * halved after one that did not. Two processes that the scheduler put on one
 * CPU cannot make progress while the other spins, so they soon stop spinning
 * and hand the CPU over at once; on two CPUs the spins pay and stay.
 */
static void spin(const mt_queue *q, ready_fn *ready, _Atomic uint32_t *budget)
{
    uint32_t max = atomic_load_explicit(budget, memory_order_relaxed), i = 0;
    for (; i < max && !ready(q); i++)
        for (int k = 0; k < SPIN_PAUSES; k++)
            mt__cpu_relax();
    if (i < max)
        max = max * 2 < SPIN_ROUNDS ? max * 2 : SPIN_ROUNDS;
    else
        max = max / 2 > 1 ? max / 2 : 1;
    atomic_store_explicit(budget, max, memory_order_relaxed);
}

/*
 * Retry attempt() until it returns anything but -EAGAIN or the deadline
 * passes: spin first, then sleep on seq (see the comment at the top).
 */
static int wait_for(mt_queue *q, attempt_fn *attempt, ready_fn *ready, void *arg,
                    _Atomic uint32_t *flag, _Atomic uint32_t *seq, _Atomic uint32_t *budget,
                    double timeout)
{
    mt__deadline until = mt__deadline_in(timeout);
    for (;;) {
        spin(q, ready, budget);
        int r = attempt(q, arg);
        if (r != -EAGAIN)
            return r;
        uint32_t seen = atomic_load_explicit(seq, memory_order_seq_cst);
        atomic_store_explicit(flag, 1, memory_order_seq_cst);
        if ((r = attempt(q, arg)) != -EAGAIN)
            return r;
        if (mt__ring_sweep(q, false) > 0 && !mt__deadline_passed(until))
            continue;
        if ((r = mt__ring_damaged(q)) < 0)
            return r;
        if (mt__deadline_passed(until))
            return -ETIMEDOUT;
        mt__deadline wake = (mt__deadline)mt_monotonic_ns() + WAKE_PERIOD_NS;
        mt__futex_wait(seq, seen, wake < until ? wake : until, true);
    }
}

/* ---- life cycle -------------------------------------------------------- */

/* The options with defaults filled in; -EINVAL when out of range. */
static int resolve_opts(mt_queue_opts *o, const mt_queue_opts *opts)
{
    *o = opts ? *opts : (mt_queue_opts){0};
    if (!o->maxsize)
        o->maxsize = MT_QUEUE_DEFAULT_MAXSIZE;
    if (!o->max_message)
        o->max_message = MT_QUEUE_DEFAULT_MAX_MESSAGE;
    if (o->maxsize > MT_QUEUE_MAX_MAXSIZE || o->max_message > MT_QUEUE_MAX_MESSAGE ||
        (uint64_t)o->maxsize * o->max_message > MT_QUEUE_MAX_BYTES)
        return -EINVAL;
    if (o->name && !mt__remote_name(o->name) && !mt__queue_name_ok(o->name))
        return -EINVAL;
    return 0;
}

int mt_queue_new(mt_queue **out, const mt_queue_opts *opts)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    mt_queue_opts o;
    if (resolve_opts(&o, opts) < 0)
        return -EINVAL;
    if (mt__remote_name(o.name))
        return mt__queue_remote_open(out, o.name, &o, MT__RQ_NEW);
    mt_queue *q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    int err = mt__queue_create(q, &o);
    if (err < 0) {
        free(q);
        return err;
    }
    *out = q;
    return 0;
}

int mt_queue_open(mt_queue **out, const char *name)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (mt__remote_name(name))
        return mt__queue_remote_open(out, name, NULL, MT__RQ_OPEN);
    if (!mt__queue_name_ok(name))
        return -EINVAL;
    mt_queue *q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    int err = mt__queue_map_named(q, name);
    if (err < 0) {
        free(q);
        return err;
    }
    *out = q;
    return 0;
}

int mt_queue_open_or_new(mt_queue **out, const mt_queue_opts *opts)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    mt_queue_opts o;
    if (!opts || !opts->name || resolve_opts(&o, opts) < 0)
        return -EINVAL;
    if (mt__remote_name(o.name))
        return mt__queue_remote_open(out, o.name, &o, MT__RQ_EITHER);
    /* Each failed turn saw the name appear or vanish under it: another
     * process made or removed it meanwhile. */
    for (int turn = 0; turn < OPEN_OR_NEW_TURNS; turn++) {
        int err = mt_queue_open(out, o.name);
        if (err == 0) {
            mt_queue *q = *out;
            if (q->nslots == o.maxsize && q->max_message == o.max_message &&
                q->joinable == o.joinable)
                return 0;
            mt_queue_free(q);
            *out = NULL;
            return -EEXIST;
        }
        if (err != -ENOENT)
            return err;
        if ((err = mt_queue_new(out, &o)) != -EEXIST)
            return err;
    }
    return -EAGAIN;
}

void mt_queue_free(mt_queue *q)
{
    if (!q)
        return;
    if (q->remote)
        q->rops->close(q->remote);
    else
        mt__queue_unmap(q);
    free(q);
}

int mt_queue_close(mt_queue *q)
{
    if (!q)
        return -EINVAL;
    if (q->remote)
        return q->rops->queue_close(q->remote);
    qhdr *h = q->h;
    atomic_store_explicit(&h->closed, 1, memory_order_seq_cst);
    _Atomic uint32_t *seqs[] = {&h->put_seq, &h->get_seq};
    for (int i = 0; i < 2; i++) {
        atomic_fetch_add_explicit(seqs[i], 1, memory_order_seq_cst);
        mt__futex_wake(seqs[i], INT32_MAX, true);
    }
    return 0;
}

bool mt_queue_closed(const mt_queue *q)
{
    if (q && q->remote)
        return q->rops->queue_closed(q->remote) > 0;
    return q && atomic_load_explicit(&q->h->closed, memory_order_acquire);
}

/* ---- put and get --------------------------------------------------------- */

typedef struct put_arg {
    const void *data;
    size_t len;
} put_arg;

static int put_attempt(mt_queue *q, void *arg)
{
    put_arg *a = arg;
    return mt__ring_put(q, a->data, a->len);
}

int mt_queue_put(mt_queue *q, const void *data, size_t len, double timeout)
{
    if (!q || (!data && len) || isnan(timeout))
        return -EINVAL;
    if (len > q->max_message)
        return -EMSGSIZE;
    if (q->remote)
        return q->rops->queue_put(q->remote, data, len, timeout);
    mt__queue_attach(q);
    int r = mt__ring_put(q, data, len);
    if (r != -EAGAIN)
        return r;
    if (timeout == 0) {
        if (mt__ring_sweep(q, false) > 0)
            return mt__ring_put(q, data, len);
        return mt__ring_damaged(q) ?: -EAGAIN;
    }
    put_arg a = {data, len};
    return wait_for(q, put_attempt, mt__ring_put_ready, &a, &q->h->putters_waiting,
                    &q->h->get_seq, &q->spin_put, timeout);
}

int mt_queue_put_nowait(mt_queue *q, const void *data, size_t len)
{
    return mt_queue_put(q, data, len, 0);
}

/* Where a get puts the message: an mt_buf, or the caller's bytes (the
 * remote layer's type: a queue on a server fills the same). */
typedef mt__rsink sink;

static int get_attempt(mt_queue *q, void *arg)
{
    sink *k = arg;
    mt__claim c;
    int r = mt__ring_claim(q, &c);
    if (r < 0)
        return r;
    if (k->buf) {
        k->buf->len = 0;
        if (mt_buf_reserve(k->buf, c.len + 1) < 0) {
            mt__ring_unclaim(q, &c);
            return -ENOMEM;
        }
        memcpy(k->buf->data, c.bytes, c.len);
        k->buf->data[c.len] = '\0';
        k->buf->len = c.len;
    } else {
        if (c.len > k->cap) {
            mt__ring_unclaim(q, &c);
            return -EMSGSIZE;
        }
        if (c.len)
            memcpy(k->dst, c.bytes, c.len);
    }
    k->len = c.len;
    if (k->receipt)
        *k->receipt = (mt_queue_receipt){c.pos, mt__ring_claim_word(q, &c)};
    else
        mt__ring_release(q, &c);
    return 0;
}

static int get_common(mt_queue *q, sink *k, double timeout)
{
    if (!q || isnan(timeout))
        return -EINVAL;
    if (q->remote)
        return q->rops->queue_get(q->remote, k, timeout);
    mt__queue_attach(q);
    int r = get_attempt(q, k);
    if (r != -EAGAIN)
        return r;
    if (timeout == 0) {
        if (mt__ring_sweep(q, false) > 0)
            return get_attempt(q, k);
        return mt__ring_damaged(q) ?: -EAGAIN;
    }
    return wait_for(q, get_attempt, mt__ring_get_ready, k, &q->h->getters_waiting,
                    &q->h->put_seq, &q->spin_get, timeout);
}

int mt_queue_get(mt_queue *q, mt_buf *out, double timeout)
{
    if (!out)
        return -EINVAL;
    sink k = {.buf = out};
    return get_common(q, &k, timeout);
}

int mt_queue_get_nowait(mt_queue *q, mt_buf *out)
{
    return mt_queue_get(q, out, 0);
}

ssize_t mt_queue_get_into(mt_queue *q, void *buf, size_t cap, double timeout)
{
    if (!buf && cap)
        return -EINVAL;
    sink k = {.dst = buf, .cap = cap};
    int r = get_common(q, &k, timeout);
    return r < 0 ? r : (ssize_t)k.len;
}

ssize_t mt_queue_get_into_nowait(mt_queue *q, void *buf, size_t cap)
{
    return mt_queue_get_into(q, buf, cap, 0);
}

/* ---- acknowledged gets ------------------------------------------------------ */

static int count_done(mt_queue *q);

int mt_queue_claim(mt_queue *q, mt_buf *out, mt_queue_receipt *receipt, double timeout)
{
    if (!out || !receipt)
        return -EINVAL;
    sink k = {.buf = out, .receipt = receipt};
    return get_common(q, &k, timeout);
}

int mt_queue_ack(mt_queue *q, const mt_queue_receipt *receipt)
{
    if (!q || !receipt)
        return -EINVAL;
    if (q->remote)
        return q->rops->queue_settle(q->remote, receipt, true);
    mt__queue_attach(q);
    int r = mt__ring_settle(q, receipt->pos, receipt->word, true);
    if (r == 0 && q->joinable)
        r = count_done(q); /* the ack stands; a failed count is still said */
    return r;
}

int mt_queue_nack(mt_queue *q, const mt_queue_receipt *receipt)
{
    if (!q || !receipt)
        return -EINVAL;
    if (q->remote)
        return q->rops->queue_settle(q->remote, receipt, false);
    mt__queue_attach(q);
    return mt__ring_settle(q, receipt->pos, receipt->word, false);
}

/* ---- sizes --------------------------------------------------------------- */

size_t mt_queue_qsize(const mt_queue *q)
{
    if (!q)
        return 0;
    if (q->remote) {
        ssize_t n = q->rops->queue_qsize(q->remote);
        return n < 0 ? 0 : (size_t)n;
    }
    uint64_t head = atomic_load_explicit(&q->h->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&q->h->tail, memory_order_acquire);
    if (tail <= head)
        return 0;
    return tail - head < q->nslots ? (size_t)(tail - head) : (size_t)q->nslots;
}

bool mt_queue_empty(const mt_queue *q)
{
    return mt_queue_qsize(q) == 0;
}

bool mt_queue_full(const mt_queue *q)
{
    return q && mt_queue_qsize(q) >= q->nslots;
}

size_t mt_queue_maxsize(const mt_queue *q)
{
    return q ? (size_t)q->nslots : 0;
}

size_t mt_queue_max_message(const mt_queue *q)
{
    return q ? (size_t)q->max_message : 0;
}

/* ---- joinable ------------------------------------------------------------ */

/* Messages ever put, counted from the slots (see the top of this file).
 * Never less than the true count at the call: reads that race with puts
 * and repairs only make it larger. */
static uint64_t published(mt_queue *q)
{
    qhdr *h = q->h;
    uint64_t skipped = atomic_load_explicit(&h->skipped, memory_order_seq_cst);
    uint64_t frontier = mt__ring_frontier(q);
    uint64_t writing = mt__ring_writing(q, frontier);
    uint64_t later = mt__ring_frontier(q);
    frontier = later > frontier ? later : frontier;
    return frontier >= skipped + writing ? frontier - skipped - writing : 0;
}

/* Count one message done. Every failed CAS is another's task_done: so many
 * in a row only come from a process scribbling on the word. */
static int count_done(mt_queue *q)
{
    qhdr *h = q->h;
    uint64_t done = atomic_load_explicit(&h->dones, memory_order_seq_cst);
    for (unsigned tries = 0;; tries++) {
        if (tries == DONE_TRIES)
            return -EPROTO;
        uint64_t puts = atomic_load_explicit(&h->puts, memory_order_seq_cst);
        if (done >= puts && done >= published(q))
            return -EINVAL;
        if (atomic_compare_exchange_strong(&h->dones, &done, done + 1))
            break;
    }
    /* Perhaps the last one: let joiners count exactly. */
    if (done + 1 >= atomic_load_explicit(&h->puts, memory_order_seq_cst) &&
        atomic_load_explicit(&h->joiners_waiting, memory_order_seq_cst))
        mt__queue_wake(&h->joiners_waiting, &h->join_seq);
    return 0;
}

int mt_queue_task_done(mt_queue *q)
{
    if (!q || !q->joinable)
        return -EINVAL;
    if (q->remote)
        return q->rops->queue_task_done(q->remote);
    mt__queue_attach(q);
    return count_done(q);
}

static int join_attempt(mt_queue *q, void *arg)
{
    (void)arg;
    uint64_t all = published(q);
    return atomic_load_explicit(&q->h->dones, memory_order_seq_cst) >= all ? 0 : -EAGAIN;
}

static bool join_ready(const mt_queue *q)
{
    return atomic_load_explicit(&q->h->dones, memory_order_relaxed) >=
           atomic_load_explicit(&q->h->puts, memory_order_relaxed);
}

int mt_queue_join(mt_queue *q, double timeout)
{
    if (!q || !q->joinable || isnan(timeout))
        return -EINVAL;
    if (q->remote)
        return q->rops->queue_join(q->remote, timeout);
    mt__queue_attach(q);
    int r = join_attempt(q, NULL);
    if (r != -EAGAIN || timeout == 0)
        return r;
    _Atomic uint32_t budget = 1; /* joins are rare: hardly spin */
    return wait_for(q, join_attempt, join_ready, NULL, &q->h->joiners_waiting, &q->h->join_seq,
                    &budget, timeout);
}
