/*
 * test_remote_queue.c - mt_queue on a Redis server (redis:// names),
 * against a redis-server each test starts (redis_server.h): the same
 * behaviour as a local queue (FIFO, timeouts, nowait, maxsize, close,
 * join), every message delivered once to processes racing for them, a
 * claim whose consumer was killed handed to another after the idle time,
 * the server killed and restarted mid-run, connections killed mid-run,
 * keys that are not ours, a wrong password. Every test counts messages.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "coro_helpers.h"
#include "remote_helpers.h"

/* ------------------------------------------------------------- helpers */

/* A 16-byte message for number i, and back (-1: not one of ours). */
static void msg_of(char out[17], int64_t i)
{
    snprintf(out, 17, "msg-%012" PRId64, i);
}

static int64_t num_of(const mt_buf *b)
{
    if (b->len != 16 || memcmp(b->data, "msg-", 4)) return -1;
    return strtoll(b->data + 4, NULL, 10);
}

/* ---------------------------------------------------- same as local */

/* FIFO from one producer, sizes, nowait, timeouts, get_into, message
 * sizes, and the names: new, open, open_or_new, unlink. */
LEAK_TEST(remote_queue, basics, .timeout = 30)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256], other[256];
    url_of(url, sizeof url, &s, "basics");
    url_of(other, sizeof other, &s, "absent");
    mt_queue *q, *q2;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = url, .maxsize = 300, .max_message = 64}),
                 0);
    cr_expect_eq(mt_queue_maxsize(q), 300);
    cr_expect_eq(mt_queue_max_message(q), 64);
    cr_expect(mt_queue_empty(q));
    cr_expect_eq(mt_queue_new(&q2, &(mt_queue_opts){.name = url}), -EEXIST);
    /* absurd idle times are refused before anything is made */
    cr_expect_eq(mt_queue_new(&q2, &(mt_queue_opts){.name = other, .redeliver_after = NAN}),
                 -EINVAL);
    cr_expect_eq(mt_queue_new(&q2, &(mt_queue_opts){.name = other, .redeliver_after = -1}),
                 -EINVAL);
    cr_expect_eq(mt_queue_new(&q2, &(mt_queue_opts){.name = other, .redeliver_after = 2e9}),
                 -EINVAL);
    cr_expect_eq(mt_queue_open(&q2, other), -ENOENT);
    cr_expect_eq(mt_queue_open_or_new(&q2, &(mt_queue_opts){.name = url, .maxsize = 5}), -EEXIST);
    cr_assert_eq(mt_queue_open(&q2, url), 0);
    cr_expect_eq(mt_queue_maxsize(q2), 300);
    char m[17];
    for (int i = 0; i < 200; i++) {
        msg_of(m, i);
        cr_assert_eq(mt_queue_put(q, m, 16, 5), 0);
    }
    cr_expect_eq(mt_queue_qsize(q2), 200);
    char big[65] = {0};
    cr_expect_eq(mt_queue_put(q, big, 65, 0), -EMSGSIZE);
    mt_buf b = MT_BUF_INIT;
    char small[8];
    cr_expect_eq(mt_queue_get_into_nowait(q2, small, sizeof small), -EMSGSIZE);
    for (int i = 0; i < 200; i++) {
        int err = i % 2 ? mt_queue_get(q2, &b, 5) : mt_queue_get_nowait(q2, &b);
        cr_assert_eq(err, 0, "%d: %s", i, mt_err_name(err));
        cr_assert_eq(num_of(&b), i, "FIFO: message %d came as %" PRId64, i, num_of(&b));
    }
    cr_expect(mt_queue_empty(q));
    cr_expect_eq(mt_queue_get_nowait(q2, &b), -EAGAIN);
    double t0 = mt_monotonic();
    cr_expect_eq(mt_queue_get(q2, &b, 0.3), -ETIMEDOUT);
    double took = mt_monotonic() - t0;
    cr_expect(took >= 0.3 && took < 2, "waited %.3f s", took);
    char into[64];
    cr_assert_eq(mt_queue_put(q, "", 0, 1), 0);
    cr_expect_eq(mt_queue_get_into(q2, into, sizeof into, 1), 0, "an empty message");
    cr_expect_eq(mt_queue_put(q, NULL, 0, NAN), -EINVAL);
    cr_expect_eq(mt_queue_task_done(q), -EINVAL, "not joinable");
    cr_expect_eq(mt_queue_join(q, 0), -EINVAL);
    mt_queue_free(q2);
    mt_queue_free(q);
    cr_expect_eq(mt_queue_unlink(url), 0);
    cr_expect_eq(mt_queue_unlink(url), -ENOENT);
    cr_expect_eq(mt_queue_open(&q, url), -ENOENT);
    /* open_or_new makes it, then opens it */
    mt_queue_opts o = {.name = url, .maxsize = 7, .joinable = true};
    cr_assert_eq(mt_queue_open_or_new(&q, &o), 0);
    cr_assert_eq(mt_queue_open_or_new(&q2, &o), 0);
    cr_expect_eq(mt_queue_maxsize(q2), 7);
    mt_queue_free(q2);
    mt_queue_free(q);
    cr_expect_eq(mt_queue_unlink(url), 0);
    char reply[64];
    cr_expect_eq(test_redis_cmd(&s, reply, sizeof reply, "DBSIZE", NULL), ':');
    cr_expect_str_eq(reply, "0", "unlink left keys behind");
    mt_buf_free(&b);
    test_redis_stop(&s);
}

typedef struct later {
    const char *url;
    double delay;
    int n;
} later;

/* Take n messages after a delay. */
static int get_later(void *arg)
{
    later *l = arg;
    mt_queue *q;
    if (mt_queue_open(&q, l->url) < 0) return 1;
    mt_sleep(l->delay);
    mt_buf b = MT_BUF_INIT;
    int bad = 0;
    for (int i = 0; i < l->n; i++)
        bad += mt_queue_get(q, &b, 5) != 0;
    mt_buf_free(&b);
    mt_queue_free(q);
    return bad ? 2 : 0;
}

/* maxsize: a full queue refuses nowait puts, times out a waiting one, and
 * a put blocked on it proceeds when another process makes room. */
LEAK_TEST(remote_queue, maxsize, .timeout = 30)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256];
    url_of(url, sizeof url, &s, "small");
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = url, .maxsize = 4}), 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(mt_queue_put_nowait(q, "abcd", 4), 0);
    cr_expect(mt_queue_full(q));
    cr_expect_eq(mt_queue_put_nowait(q, "abcd", 4), -EAGAIN);
    double t0 = mt_monotonic();
    cr_expect_eq(mt_queue_put(q, "abcd", 4, 0.3), -ETIMEDOUT);
    cr_expect_geq(mt_monotonic() - t0, 0.3);
    later l = {url, 0.4, 2};
    pid_t pid = spawn(get_later, &l);
    t0 = mt_monotonic();
    cr_expect_eq(mt_queue_put(q, "efgh", 4, 10), 0);
    double took = mt_monotonic() - t0;
    cr_expect(took >= 0.3 && took < 3, "the blocked put waited %.3f s", took);
    cr_expect_eq(reap(pid), 0);
    cr_expect_eq(mt_queue_qsize(q), 3);
    mt_queue_free(q);
    cr_expect_eq(mt_queue_unlink(url), 0);
    test_redis_stop(&s);
}

typedef struct waiter {
    const char *url;
    int64_t *out; /* [0] result, [1] messages got */
    bool done;    /* task_done after each */
} waiter;

/* Get until an error (after each message, task_done if w->done); say
 * which and how many were got. */
static int get_until_error(void *arg)
{
    waiter *w = arg;
    mt_queue *q;
    if (mt_queue_open(&q, w->url) < 0) return 1;
    mt_buf b = MT_BUF_INIT;
    int err;
    while ((err = mt_queue_get(q, &b, 20)) == 0) {
        if (w->done && (err = mt_queue_task_done(q)) != 0) break;
        w->out[1]++;
    }
    w->out[0] = err;
    mt_buf_free(&b);
    mt_queue_free(q);
    return 0;
}

/* close: puts refused, gets drain what is left and then MT_ECLOSED, a get
 * blocked in another process wakes with MT_ECLOSED. */
LEAK_TEST(remote_queue, close, .timeout = 30)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256];
    url_of(url, sizeof url, &s, "closing");
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = url}), 0);
    int64_t *out = shared_counts(2);
    waiter w = {url, out, false};
    pid_t pid = spawn(get_until_error, &w);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mt_queue_put(q, "xyz", 3, 1), 0);
    mt_sleep(0.5); /* the child got the three and waits */
    cr_expect(!mt_queue_closed(q));
    double t0 = mt_monotonic();
    cr_assert_eq(mt_queue_close(q), 0);
    cr_expect_eq(reap(pid), 0);
    cr_expect_lt(mt_monotonic() - t0, 2.0, "the blocked get woke at the close");
    cr_expect_eq(out[0], MT_ECLOSED, "%s", mt_err_name((int)out[0]));
    cr_expect_eq(out[1], 3);
    cr_expect(mt_queue_closed(q));
    cr_expect_eq(mt_queue_put(q, "late", 4, 1), MT_ECLOSED);
    /* a second run: what was queued before the close is still delivered */
    cr_assert_eq(mt_queue_unlink(url), 0);
    mt_queue_free(q);
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = url}), 0);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(mt_queue_put(q, "xyz", 3, 1), 0);
    cr_assert_eq(mt_queue_close(q), 0);
    cr_assert_eq(mt_queue_close(q), 0, "twice is harmless");
    mt_buf b = MT_BUF_INIT;
    for (int i = 0; i < 5; i++)
        cr_expect_eq(mt_queue_get(q, &b, 1), 0);
    cr_expect_eq(mt_queue_get(q, &b, 1), MT_ECLOSED);
    cr_expect_eq(mt_queue_get_nowait(q, &b), MT_ECLOSED);
    mt_buf_free(&b);
    mt_queue_free(q);
    cr_expect_eq(mt_queue_unlink(url), 0);
    munmap(out, 2 * sizeof(int64_t));
    test_redis_stop(&s);
}

/* join/task_done: join waits until every message put was done, by
 * consumers in two other processes. */
LEAK_TEST(remote_queue, join, .timeout = 30)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256];
    url_of(url, sizeof url, &s, "joining");
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = url, .joinable = true}), 0);
    cr_expect_eq(mt_queue_join(q, 0), 0, "nothing put: done");
    for (int i = 0; i < 100; i++)
        cr_assert_eq(mt_queue_put(q, "job", 3, 1), 0);
    cr_expect_eq(mt_queue_join(q, 0), -EAGAIN);
    cr_expect_eq(mt_queue_join(q, 0.2), -ETIMEDOUT);
    cr_expect_eq(mt_queue_task_done(q), -EINVAL, "no message got by this handle");
    int64_t *out = shared_counts(4);
    waiter w[2] = {{url, out, true}, {url, out + 2, true}};
    pid_t pids[2];
    for (int i = 0; i < 2; i++)
        pids[i] = spawn(get_until_error, &w[i]);
    cr_expect_eq(mt_queue_join(q, 15), 0);
    cr_expect_eq(out[1] + out[3], 100, "all done when join returned");
    cr_expect_eq(mt_queue_qsize(q), 0);
    cr_assert_eq(mt_queue_close(q), 0);
    for (int i = 0; i < 2; i++) {
        cr_expect_eq(reap(pids[i]), 0);
        cr_expect_eq(out[2 * i], MT_ECLOSED, "%s", mt_err_name((int)out[2 * i]));
    }
    cr_expect_eq(out[1] + out[3], 100);
    mt_queue_free(q);
    cr_expect_eq(mt_queue_unlink(url), 0);
    munmap(out, 4 * sizeof(int64_t));
    test_redis_stop(&s);
}

/* ------------------------------------------------ delivered exactly once */

enum { SEEN_BASE = 8 }; /* counts: [0..7] per-child tallies, then one per message */

typedef struct crowd {
    const char *url;
    int64_t *counts;
    int first, n;   /* a producer's messages */
    int child;      /* which tally */
    int64_t total;  /* messages in all */
    bool claims;    /* a consumer: claim and ack instead of plain gets */
} crowd;

/* Put messages first..first+n-1; tally acknowledged puts and MT_ECONNLOST
 * ones (counts[child]: acked, [child+4]: cut off). */
static int producer(void *arg)
{
    crowd *c = arg;
    mt_queue *q;
    if (mt_queue_open(&q, c->url) < 0) return 1;
    char m[17];
    int bad = 0;
    for (int i = c->first; i < c->first + c->n; i++) {
        msg_of(m, i);
        int err = mt_queue_put(q, m, 16, 20);
        if (err == 0)
            c->counts[SEEN_BASE + c->total + i]++; /* acknowledged */
        else if (err == MT_ECONNLOST)
            c->counts[c->child + 4]++;
        else
            bad++;
    }
    mt_queue_free(q);
    return bad ? 2 : 0;
}

/* Get (or claim and ack) until closed; count each message delivered
 * (counts[SEEN_BASE + i]; a claim once acknowledged) and calls cut off
 * (counts[child + 4]). */
static int consumer(void *arg)
{
    crowd *c = arg;
    mt_queue *q;
    if (mt_queue_open(&q, c->url) < 0) return 1;
    mt_buf b = MT_BUF_INIT;
    mt_queue_receipt rc;
    int err, bad = 0;
    while ((err = c->claims ? mt_queue_claim(q, &b, &rc, 20) : mt_queue_get(q, &b, 20)) !=
           MT_ECLOSED) {
        if (err == 0 && c->claims) err = mt_queue_ack(q, &rc);
        if (err == MT_ECONNLOST) {
            c->counts[c->child + 4]++;
            continue;
        }
        int64_t i = num_of(&b);
        if (err != 0 || i < 0 || i >= c->total) {
            bad++;
            break;
        }
        c->counts[SEEN_BASE + i]++;
        c->counts[c->child]++;
    }
    mt_buf_free(&b);
    mt_queue_free(q);
    return bad ? 2 : 0;
}

typedef struct run {
    test_redis *s;
    char url[256];
    int64_t *counts;
    int64_t total;
    crowd c[8];
    pid_t pids[8];
    int producers, consumers;
} run;

/* producers put total messages between them, consumers take them. */
static void run_start(run *r, test_redis *s, const char *name, int producers, int consumers,
                      int64_t total)
{
    r->s = s;
    url_of(r->url, sizeof r->url, s, name);
    r->total = total;
    r->producers = producers;
    r->consumers = consumers;
    r->counts = shared_counts(SEEN_BASE + 2 * (size_t)total);
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = r->url, .maxsize = 256}), 0);
    mt_queue_free(q);
    for (int i = 0; i < consumers; i++) {
        /* the last of several consumers claims and acknowledges */
        r->c[i] = (crowd){r->url, r->counts, 0, 0, i, total, i > 0 && i == consumers - 1};
        r->pids[i] = spawn(consumer, &r->c[i]);
    }
    for (int i = 0; i < producers; i++) {
        int per = (int)(total / producers);
        r->c[consumers + i] = (crowd){r->url, r->counts, i * per, per, consumers + i, total, false};
        r->pids[consumers + i] = spawn(producer, &r->c[consumers + i]);
    }
}

/* Wait for the producers, close, wait for the consumers, and check: every
 * acknowledged put delivered exactly once, nothing delivered that was not
 * put, nothing delivered twice; `cut`: calls cut off (MT_ECONNLOST). */
static void run_check(run *r, int64_t *cut)
{
    for (int i = r->consumers; i < r->consumers + r->producers; i++)
        cr_expect_eq(reap(r->pids[i]), 0, "producer %d", i);
    mt_queue *q;
    cr_assert_eq(mt_queue_open(&q, r->url), 0);
    cr_assert_eq(mt_queue_close(q), 0);
    mt_queue_free(q);
    for (int i = 0; i < r->consumers; i++)
        cr_expect_eq(reap(r->pids[i]), 0, "consumer %d", i);
    int64_t *acked = r->counts + SEEN_BASE + r->total, *seen = r->counts + SEEN_BASE;
    int64_t n_acked = 0, n_seen = 0, twice = 0, missing = 0, unput = 0;
    for (int64_t i = 0; i < r->total; i++) {
        n_acked += acked[i];
        n_seen += seen[i];
        twice += seen[i] > 1;
        missing += acked[i] && !seen[i];
        unput += seen[i] && !acked[i];
    }
    *cut = 0;
    for (int i = 4; i < 8; i++)
        *cut += r->counts[i];
    int64_t per_child = 0;
    for (int i = 0; i < r->consumers; i++)
        per_child += r->counts[i];
    cr_log_info("acked %" PRId64 ", delivered %" PRId64 ", cut off %" PRId64, n_acked, n_seen,
                *cut);
    cr_expect_eq(twice, 0, "messages delivered twice");
    cr_expect_eq(per_child, n_seen);
    /* a put cut off may have been done; a get cut off may have lost one */
    cr_expect_leq(unput, *cut, "delivered without an acknowledged put: %" PRId64, unput);
    cr_expect_leq(missing, *cut, "acknowledged and never delivered: %" PRId64, missing);
    cr_expect_eq(n_acked + *cut >= r->total, true);
    munmap(r->counts, (SEEN_BASE + 2 * (size_t)r->total) * sizeof(int64_t));
}

/* Two producers and four consumers race: every message once. */
LEAK_TEST(remote_queue, exactly_once, .timeout = 60)
{
    test_redis s;
    test_redis_start(&s, NULL);
    run r;
    run_start(&r, &s, "crowd", 2, 4, 3000);
    int64_t cut;
    run_check(&r, &cut);
    cr_expect_eq(cut, 0);
    cr_expect_eq(mt_queue_unlink(r.url), 0);
    test_redis_stop(&s);
}

/* ------------------------------------------------------------ claims */

typedef struct claimer {
    const char *url;
    int64_t *out;
} claimer;

/* Claim one message, say so, and wait to be killed. */
static int claim_and_hang(void *arg)
{
    claimer *c = arg;
    mt_queue *q;
    if (mt_queue_open(&q, c->url) < 0) return 1;
    mt_buf b = MT_BUF_INIT;
    mt_queue_receipt rc;
    if (mt_queue_claim(q, &b, &rc, 5) != 0) return 2;
    c->out[0] = num_of(&b) + 1;
    c->out[1] = (int64_t)rc.pos;
    c->out[2] = (int64_t)rc.word;
    for (;;)
        pause();
}

/* A consumer SIGKILLed holding a claim: its message is handed to another
 * consumer once it has been idle for redeliver_after, not before; the
 * dead consumer's receipt is stale. nack gives a message back at once. */
LEAK_TEST(remote_queue, claim_redelivered, .timeout = 30)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256];
    url_of(url, sizeof url, &s, "claims");
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = url, .redeliver_after = 1.0}), 0);
    char m[17];
    for (int i = 0; i < 2; i++) {
        msg_of(m, i);
        cr_assert_eq(mt_queue_put(q, m, 16, 1), 0);
    }
    int64_t *out = shared_counts(3);
    claimer c = {url, out};
    pid_t pid = spawn(claim_and_hang, &c);
    while (!out[0])
        mt_sleep(0.01);
    double t_claimed = mt_monotonic();
    kill(pid, SIGKILL);
    cr_expect_eq(reap(pid), 128 + SIGKILL);
    cr_expect_eq(out[0], 1, "the child claimed message 0");
    mt_buf b = MT_BUF_INIT;
    mt_queue_receipt rc;
    cr_assert_eq(mt_queue_claim(q, &b, &rc, 1), 0);
    cr_expect_eq(num_of(&b), 1, "message 1 first: 0 is not idle long enough yet");
    cr_expect_eq(mt_queue_qsize(q), 2, "claims count until acknowledged");
    cr_expect_eq(mt_queue_ack(q, &rc), 0);
    cr_expect_eq(mt_queue_ack(q, &rc), -ESTALE, "acknowledged already");
    cr_assert_eq(mt_queue_claim(q, &b, &rc, 5), 0);
    double took = mt_monotonic() - t_claimed;
    cr_expect_eq(num_of(&b), 0, "the dead consumer's message");
    cr_expect(took >= 1.0 && took < 3.5, "redelivered after %.3f s", took);
    mt_queue_receipt dead = {(uint64_t)out[1], (uint64_t)out[2]};
    cr_expect_eq(mt_queue_ack(q, &dead), -ESTALE, "the dead consumer's receipt");
    cr_expect_eq(mt_queue_nack(q, &rc), 0);
    cr_expect_eq(mt_queue_ack(q, &rc), -ESTALE, "given back");
    cr_assert_eq(mt_queue_claim(q, &b, &rc, 0), 0, "given back: at once");
    cr_expect_eq(num_of(&b), 0);
    cr_expect_eq(mt_queue_ack(q, &rc), 0);
    cr_expect_eq(mt_queue_qsize(q), 0);
    cr_expect_eq(mt_queue_claim(q, &b, &rc, 0), -EAGAIN);
    /* a handle freed holding a claim gives it back at once */
    mt_queue *q2;
    cr_assert_eq(mt_queue_open(&q2, url), 0);
    cr_assert_eq(mt_queue_put(q2, "msg-000000000005", 16, 1), 0);
    cr_assert_eq(mt_queue_claim(q2, &b, &rc, 1), 0);
    mt_queue_free(q2);
    cr_assert_eq(mt_queue_claim(q, &b, &rc, 0), 0, "given back by the free");
    cr_expect_eq(num_of(&b), 5);
    cr_expect_eq(mt_queue_ack(q, &rc), 0);
    cr_expect_eq(mt_queue_qsize(q), 0);
    mt_buf_free(&b);
    mt_queue_free(q);
    cr_expect_eq(mt_queue_unlink(url), 0);
    munmap(out, 3 * sizeof(int64_t));
    test_redis_stop(&s);
}

/* Get from a joinable queue and hang without task_done. */
static int get_and_hang(void *arg)
{
    claimer *c = arg;
    mt_queue *q;
    if (mt_queue_open(&q, c->url) < 0) return 1;
    mt_buf b = MT_BUF_INIT;
    if (mt_queue_get(q, &b, 5) != 0) return 2;
    c->out[0] = num_of(&b) + 1;
    for (;;)
        pause();
}

/* A joinable queue: a consumer killed between get and task_done; its
 * message goes to another consumer after the idle time, and join returns
 * once that one is done. */
LEAK_TEST(remote_queue, joinable_redelivered, .timeout = 30)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256];
    url_of(url, sizeof url, &s, "jobs");
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = url, .joinable = true,
                                                   .redeliver_after = 0.5}),
                 0);
    cr_assert_eq(mt_queue_put(q, "msg-000000000007", 16, 1), 0);
    int64_t *out = shared_counts(3);
    claimer c = {url, out};
    pid_t pid = spawn(get_and_hang, &c);
    while (!out[0])
        mt_sleep(0.01);
    kill(pid, SIGKILL);
    reap(pid);
    cr_expect_eq(out[0], 8);
    cr_expect_eq(mt_queue_join(q, 0.1), -ETIMEDOUT);
    mt_buf b = MT_BUF_INIT;
    cr_assert_eq(mt_queue_get(q, &b, 5), 0);
    cr_expect_eq(num_of(&b), 7);
    cr_expect_eq(mt_queue_join(q, 0), -EAGAIN);
    cr_expect_eq(mt_queue_task_done(q), 0);
    cr_expect_eq(mt_queue_task_done(q), -EINVAL);
    cr_expect_eq(mt_queue_join(q, 1), 0);
    mt_buf_free(&b);
    mt_queue_free(q);
    cr_expect_eq(mt_queue_unlink(url), 0);
    munmap(out, 3 * sizeof(int64_t));
    test_redis_stop(&s);
}

/* ------------------------------------------------------------ faults */

/* The server SIGKILLed twice mid-run (appendfsync always) and restarted
 * on its AOF: no acknowledged put lost, nothing delivered twice. */
LEAK_TEST(remote_queue, server_restarted, .timeout = 60)
{
    test_redis s;
    test_redis_start(&s, NULL);
    run r;
    run_start(&r, &s, "survivor", 1, 2, 1500);
    for (int round = 0; round < 2; round++) {
        mt_sleep(0.4);
        int64_t acked = 0;
        for (int64_t i = 0; i < r.total; i++)
            acked += r.counts[SEEN_BASE + r.total + i];
        cr_expect_lt(acked, r.total, "killed mid-run (%" PRId64 " puts done)", acked);
        test_redis_kill(&s);
        mt_sleep(0.3);
        test_redis_restart(&s);
    }
    int64_t cut;
    run_check(&r, &cut);
    cr_expect_eq(cut, 0, "every call outlives a short outage");
    cr_expect_eq(mt_queue_unlink(r.url), 0);
    test_redis_stop(&s);
}

/* Connections killed by the server (CLIENT KILL) all along: every message
 * once. */
LEAK_TEST(remote_queue, connections_killed, .timeout = 60)
{
    test_redis s;
    test_redis_start(&s, NULL);
    killer k = {.s = &s};
    pthread_t t;
    run r;
    run_start(&r, &s, "killed", 2, 2, 1500);
    pthread_create(&t, NULL, kill_clients, &k);
    for (int i = r.consumers; i < r.consumers + r.producers; i++)
        cr_expect_eq(reap(r.pids[i]), 0);
    r.producers = 0; /* reaped */
    atomic_store(&k.stop, true);
    pthread_join(t, NULL);
    int64_t cut;
    run_check(&r, &cut);
    cr_log_info("connections killed: %d", k.kills);
    cr_expect_gt(k.kills, 0);
    cr_expect_eq(cut, 0);
    cr_expect_eq(mt_queue_unlink(r.url), 0);
    test_redis_stop(&s);
}

/* Keys that are not ours under the name: -EPROTO, and left as they were. */
LEAK_TEST(remote_queue, foreign_key, .timeout = 30)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256], reply[64];
    url_of(url, sizeof url, &s, "theirs");
    cr_assert_eq(test_redis_cmd(&s, reply, sizeof reply, "SET", "theirs", "precious", NULL), '+');
    mt_queue *q;
    cr_expect_eq(mt_queue_new(&q, &(mt_queue_opts){.name = url}), -EPROTO);
    cr_expect_eq(mt_queue_open(&q, url), -EPROTO);
    cr_expect_eq(mt_queue_open_or_new(&q, &(mt_queue_opts){.name = url}), -EPROTO);
    cr_expect_eq(mt_queue_unlink(url), -EPROTO);
    cr_expect_eq(test_redis_cmd(&s, reply, sizeof reply, "GET", "theirs", NULL), '$');
    cr_expect_str_eq(reply, "precious");
    cr_expect_eq(test_redis_cmd(&s, reply, sizeof reply, "DBSIZE", NULL), ':');
    cr_expect_str_eq(reply, "1", "nothing added beside it");
    /* a stranger replaces the stream of a queue in use */
    url_of(url, sizeof url, &s, "ours");
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = url}), 0);
    cr_assert_eq(mt_queue_put(q, "a", 1, 1), 0);
    cr_assert_eq(test_redis_cmd(&s, reply, sizeof reply, "DEL", "ours", NULL), ':');
    cr_assert_eq(test_redis_cmd(&s, reply, sizeof reply, "SET", "ours", "x", NULL), '+');
    mt_buf b = MT_BUF_INIT;
    cr_expect_eq(mt_queue_put(q, "b", 1, 1), -EPROTO);
    cr_expect_eq(mt_queue_get(q, &b, 1), -EPROTO);
    cr_expect_eq(mt_queue_unlink(url), -EPROTO);
    cr_expect_eq(test_redis_cmd(&s, reply, sizeof reply, "GET", "ours", NULL), '$');
    cr_expect_str_eq(reply, "x");
    /* a dict's name is no queue's */
    mt_dict *d;
    char durl[256];
    url_of(durl, sizeof durl, &s, "adict");
    cr_assert_eq(mt_dict_open(&d, durl, NULL), 0);
    mt_queue *q2;
    cr_expect_eq(mt_queue_open(&q2, durl), -ENOENT);
    cr_expect_eq(mt_queue_new(&q2, &(mt_queue_opts){.name = durl}), -EEXIST);
    mt_dict_free(d);
    mt_buf_free(&b);
    mt_queue_free(q);
    test_redis_stop(&s);
}

/* A wrong password: MT_EAUTH; the right one works. */
LEAK_TEST(remote_queue, wrong_password, .timeout = 30)
{
    test_redis s;
    const char *extra[] = {"--requirepass", "right-secret", NULL};
    test_redis_start(&s, extra);
    s.password = "right-secret";
    char url[256];
    snprintf(url, sizeof url, "redis+unix://:wrong@%s/q", s.sock);
    mt_queue *q;
    cr_expect_eq(mt_queue_new(&q, &(mt_queue_opts){.name = url}), MT_EAUTH);
    cr_expect_eq(mt_queue_open(&q, url), MT_EAUTH);
    cr_expect_eq(mt_queue_unlink(url), MT_EAUTH);
    snprintf(url, sizeof url, "redis+unix://:right-secret@%s/q", s.sock);
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = url}), 0);
    cr_expect_eq(mt_queue_put(q, "x", 1, 1), 0);
    cr_expect_eq(mt_queue_qsize(q), 1);
    mt_queue_free(q);
    cr_expect_eq(mt_queue_unlink(url), 0);
    test_redis_stop(&s);
}

/* A server out of memory (maxmemory, noeviction): puts are refused with
 * -ENOSPC, and gets, claims, acks and close still run, so it can be
 * drained. */
LEAK_TEST(remote_queue, full_server, .timeout = 30)
{
    test_redis s;
    const char *extra[] = {"--maxmemory", "3mb", "--maxmemory-policy", "noeviction", NULL};
    test_redis_start(&s, extra);
    char url[256];
    url_of(url, sizeof url, &s, "full");
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = url, .maxsize = 1u << 20,
                                                   .max_message = 4096}),
                 0);
    static char blob[4096];
    int64_t put = 0;
    int err;
    while ((err = mt_queue_put(q, blob, sizeof blob, 1)) == 0)
        put++;
    cr_expect_eq(err, -ENOSPC, "%s after %" PRId64 " puts", mt_err_name(err), put);
    cr_expect_gt(put, 10);
    mt_buf b = MT_BUF_INIT;
    mt_queue_receipt rc;
    cr_expect_eq(mt_queue_claim(q, &b, &rc, 1), 0);
    cr_expect_eq(mt_queue_ack(q, &rc), 0);
    cr_expect_eq(mt_queue_close(q), 0);
    int64_t got = 1;
    while ((err = mt_queue_get(q, &b, 1)) == 0)
        got++;
    cr_expect_eq(err, MT_ECLOSED, "%s", mt_err_name(err));
    cr_expect_eq(got, put, "every message put was got");
    mt_buf_free(&b);
    mt_queue_free(q);
    cr_expect_eq(mt_queue_unlink(url), 0);
    test_redis_stop(&s);
}

typedef struct getter {
    mt_queue *q;
    int err;
    double done; /* mt_monotonic() when the get returned */
} getter;

static void *get_in_thread(void *arg)
{
    getter *g = arg;
    mt_buf b = MT_BUF_INIT;
    g->err = mt_queue_get(g->q, &b, 10);
    g->done = mt_monotonic();
    if (g->err == 0 && (b.len != 4 || memcmp(b.data, "late", 4))) g->err = -1;
    mt_buf_free(&b);
    return NULL;
}

/* Threads sharing one handle: a get waiting in one thread does not hold
 * up a put in another, which wakes it. */
LEAK_TEST(remote_queue, threads_share_handle, .timeout = 30)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256];
    url_of(url, sizeof url, &s, "shared-handle");
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = url}), 0);
    getter g[2] = {{q, 1, 0}, {q, 1, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, get_in_thread, &g[i]);
    mt_sleep(0.3);
    double t0 = mt_monotonic();
    for (int i = 0; i < 2; i++)
        cr_expect_eq(mt_queue_put(q, "late", 4, 1), 0);
    /* a get waiting on the handle's own connection would hold the puts
     * up to the end of its 1 s wait; one not woken by the put would see it
     * at that end too, 0.7 s after the put */
    cr_expect_lt(mt_monotonic() - t0, 0.5, "the puts did not wait for the gets");
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        cr_expect_eq(g[i].err, 0, "%s", mt_err_name(g[i].err));
        cr_expect_lt(g[i].done - t0, 0.5, "woken by the put, after %.3f s", g[i].done - t0);
    }
    cr_expect_eq(mt_queue_qsize(q), 0);
    mt_queue_free(q);
    cr_expect_eq(mt_queue_unlink(url), 0);
    test_redis_stop(&s);
}

/* ------------------------------------------------------------ coroutines */

typedef struct co_state {
    mt_queue *q;
    volatile bool stop;
    double longest; /* the longest gap between the ticker's ticks */
    int got, cancelled;
    double cancel_took;
} co_state;

/* Tick every 10 ms until stop, noting the longest gap. */
static int co_tick(void *arg)
{
    co_state *c = arg;
    double last = mt_monotonic();
    while (!c->stop) {
        mt_co_sleep(0.01);
        double now = mt_monotonic();
        if (now - last > c->longest) c->longest = now - last;
        last = now;
    }
    return 0;
}

static int co_put_later(void *arg)
{
    co_state *c = arg;
    mt_co_sleep(0.3);
    return mt_queue_put(c->q, "late", 4, 1);
}

static int co_get(void *arg)
{
    co_state *c = arg;
    mt_buf b = MT_BUF_INIT;
    int err = mt_queue_get(c->q, &b, 10);
    mt_buf_free(&b);
    return err;
}

static int co_main(void *arg)
{
    co_state *c = arg;
    mt_task *ticks, *put, *get;
    cr_assert_eq(mt_task_create(&ticks, co_tick, c, NULL), 0);
    cr_assert_eq(mt_task_create(&put, co_put_later, c, NULL), 0);
    /* a get waiting for the put of another task of the same loop */
    c->got = co_get(c);
    cr_expect_eq(mt_task_await(put), 0);
    /* a waiting get cancelled */
    cr_assert_eq(mt_task_create(&get, co_get, c, NULL), 0);
    mt_co_sleep(0.3);
    double t0 = mt_monotonic();
    mt_task_cancel(get);
    c->cancelled = mt_task_await(get);
    c->cancel_took = mt_monotonic() - t0;
    c->stop = true;
    mt_task_await(ticks);
    mt_task_free(ticks);
    mt_task_free(put);
    mt_task_free(get);
    return 0;
}

/* From a coroutine a call suspends only that coroutine: a get waits while
 * another task of the loop puts, and a waiting get is cancelled. */
LEAK_TEST(remote_queue, coroutines, .timeout = 30)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256];
    url_of(url, sizeof url, &s, "co");
    co_state c = {0};
    cr_assert_eq(mt_queue_new(&c.q, &(mt_queue_opts){.name = url}), 0);
    cr_expect_eq(mt_run(co_main, &c, NULL), 0);
    cr_expect_eq(c.got, 0, "%s", mt_err_name(c.got));
    cr_expect_eq(c.cancelled, -ECANCELED, "%s", mt_err_name(c.cancelled));
    cr_expect_lt(c.cancel_took, 0.5, "cancelled after %.3f s", c.cancel_took);
    cr_expect_lt(c.longest, 0.25, "the loop stood still for %.3f s", c.longest);
    cr_expect_eq(mt_queue_qsize(c.q), 0);
    mt_queue_free(c.q);
    cr_expect_eq(mt_queue_unlink(url), 0);
    test_redis_stop(&s);
}
