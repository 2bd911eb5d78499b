/*
 * test_aqueue.c - the async queue: put/get and their _nowait forms, order
 * (FIFO, LIFO, priority), task_done/join, shutdown, and cancellation in the
 * middle of a wait losing or duplicating nothing.
 */
#define _GNU_SOURCE
#include "coro_helpers.h"

LEAK_TEST(aqueue, nowait_calls_and_sizes, .timeout = 20)
{
    mt_aqueue *q;
    cr_assert_eq(mt_aqueue_new(&q, &(mt_aqueue_opts){.maxsize = 2, .item_size = sizeof(int)}), 0);
    int v = 1, out = 0;
    cr_expect(mt_aqueue_empty(q));
    cr_expect_eq(mt_aqueue_get_nowait(q, &out), -EAGAIN);
    cr_expect_eq(mt_aqueue_put_nowait(q, &v), 0);
    v = 2;
    cr_expect_eq(mt_aqueue_put_nowait(q, &v), 0);
    cr_expect(mt_aqueue_full(q));
    cr_expect_eq(mt_aqueue_put_nowait(q, &v), -EAGAIN);
    cr_expect_eq(mt_aqueue_qsize(q), 2);
    cr_expect_eq(mt_aqueue_maxsize(q), 2);
    cr_expect_eq(mt_aqueue_get_nowait(q, &out), 0);
    cr_expect_eq(out, 1);
    cr_expect_eq(mt_aqueue_get_nowait(q, &out), 0);
    cr_expect_eq(out, 2);
    cr_expect_eq(mt_aqueue_task_done(q), 0);
    cr_expect_eq(mt_aqueue_task_done(q), 0);
    cr_expect_eq(mt_aqueue_task_done(q), -EINVAL);
    cr_expect_eq(mt_aqueue_put(q, &v), MT_ENOTCORO);
    cr_expect_eq(mt_aqueue_get(q, &out), MT_ENOTCORO);
    cr_expect_eq(mt_aqueue_join(q), MT_ENOTCORO);
    cr_expect_eq(mt_aqueue_put_nowait(NULL, &v), -EINVAL);
    cr_expect_eq(mt_aqueue_put_nowait(q, NULL), -EINVAL);
    mt_aqueue_shutdown(q, false);
    cr_expect_eq(mt_aqueue_put_nowait(q, &v), MT_ECLOSED);
    cr_expect_eq(mt_aqueue_get_nowait(q, &out), MT_ECLOSED);
    mt_aqueue_free(q);

    cr_expect_eq(mt_aqueue_new(NULL, NULL), -EINVAL);
    cr_expect_eq(mt_aqueue_new(&q, &(mt_aqueue_opts){.kind = MT_AQUEUE_PRIORITY}), -EINVAL);
    cr_expect_eq(mt_aqueue_new(&q, &(mt_aqueue_opts){.kind = 9}), -EINVAL);
    cr_expect_eq(mt_aqueue_new(&q, &(mt_aqueue_opts){.item_size = 1 << 20}), -EINVAL);

    /* Unbounded, of pointers: grows. */
    cr_assert_eq(mt_aqueue_new(&q, NULL), 0);
    for (long i = 0; i < 1000; i++) {
        void *p = (void *)i;
        cr_assert_eq(mt_aqueue_put_nowait(q, &p), 0);
    }
    for (long i = 0; i < 1000; i++) {
        void *p;
        cr_assert_eq(mt_aqueue_get_nowait(q, &p), 0);
        cr_assert_eq((long)p, i);
    }
    mt_aqueue_free(q);
}

static int cmp_int(const void *a, const void *b)
{
    int x, y;
    memcpy(&x, a, sizeof x);
    memcpy(&y, b, sizeof y);
    return (x > y) - (x < y);
}

typedef struct tagged {
    int key;
    int tag;
} tagged;

LEAK_TEST(aqueue, lifo_and_priority_order, .timeout = 20)
{
    mt_aqueue *q;
    cr_assert_eq(mt_aqueue_new(&q, &(mt_aqueue_opts){.item_size = sizeof(int),
                                                      .kind = MT_AQUEUE_LIFO}),
                 0);
    for (int i = 0; i < 5; i++)
        mt_aqueue_put_nowait(q, &i);
    for (int i = 4; i >= 0; i--) {
        int v;
        cr_assert_eq(mt_aqueue_get_nowait(q, &v), 0);
        cr_expect_eq(v, i);
    }
    mt_aqueue_free(q);

    cr_assert_eq(mt_aqueue_new(&q, &(mt_aqueue_opts){.item_size = sizeof(tagged),
                                                      .kind = MT_AQUEUE_PRIORITY,
                                                      .compare = cmp_int}),
                 0);
    int keys[10] = {5, 3, 9, 3, 1, 7, 3, 0, 9, 2};
    for (int i = 0; i < 10; i++)
        cr_assert_eq(mt_aqueue_put_nowait(q, &(tagged){keys[i], i}), 0);
    tagged prev = {-1, -1};
    for (int i = 0; i < 10; i++) {
        tagged t;
        cr_assert_eq(mt_aqueue_get_nowait(q, &t), 0);
        cr_expect(t.key > prev.key || (t.key == prev.key && t.tag > prev.tag),
                  "(%d,%d) after (%d,%d)", t.key, t.tag, prev.key, prev.tag);
        prev = t;
    }
    mt_aqueue_free(q);
}

/* ---- producers and consumers ------------------------------------------ */

typedef struct pc {
    mt_aqueue *q;
    int n;          /* items per producer */
    int got[4000];  /* times each item was received */
    int received;
    int joined;
} pc;

static int producer(void *arg)
{
    pc *s = arg;
    static int next;
    for (int i = 0; i < s->n; i++) {
        int item = next++;
        int r = mt_aqueue_put(s->q, &item);
        if (r)
            return r;
    }
    return 0;
}

static int consumer(void *arg)
{
    pc *s = arg;
    for (;;) {
        int item;
        int r = mt_aqueue_get(s->q, &item);
        if (r)
            return r == MT_ECLOSED ? 0 : r;
        s->got[item]++;
        s->received++;
        if (item % 7 == 0)
            mt_co_yield();
        mt_aqueue_task_done(s->q);
    }
}

static int pc_main(void *arg)
{
    pc *s = arg;
    mt_task *p[3], *c[2];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mt_task_create(&p[i], producer, s, NULL), 0);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(mt_task_create(&c[i], consumer, s, NULL), 0);
    cr_expect_eq(mt_co_gather(p, 3, NULL, NULL), 0);
    cr_expect_eq(mt_aqueue_join(s->q), 0);
    s->joined = s->received;
    mt_aqueue_shutdown(s->q, false);
    cr_expect_eq(mt_co_gather(c, 2, NULL, NULL), 0);
    for (int i = 0; i < 3; i++)
        mt_task_free(p[i]);
    for (int i = 0; i < 2; i++)
        mt_task_free(c[i]);
    return 0;
}

LEAK_TEST(aqueue, producers_and_consumers_with_join_and_shutdown, .timeout = 20)
{
    static pc s;
    s.n = 1000;
    cr_assert_eq(mt_aqueue_new(&s.q, &(mt_aqueue_opts){.maxsize = 3, .item_size = sizeof(int)}),
                 0);
    cr_assert_eq(co_run(pc_main, &s), 0);
    cr_expect_eq(s.joined, 3000);
    for (int i = 0; i < 3000; i++)
        cr_expect_eq(s.got[i], 1, "item %d received %d times", i, s.got[i]);
    mt_aqueue_free(s.q);
}

/* ---- cancellation mid-wait: nothing lost, nothing twice ---------------- */

static int cancel_main(void *arg)
{
    pc *s = arg;
    enum { NC = 6 };
    mt_task *c[NC];
    for (int i = 0; i < NC; i++)
        mt_task_create(&c[i], consumer, s, NULL);
    int cancelled = 0;
    for (int item = 0; item < 3000; item++) {
        cr_assert_eq(mt_aqueue_put(s->q, &item), 0);
        /* Cancel a consumer now and then: sometimes while it waits,
         * sometimes just after a put woke it. */
        if (item % 97 == 13 || item % 89 == 5) {
            int k = item % NC;
            mt_task_cancel(c[k]);
            if (item % 2)
                mt_co_yield();
            int r = mt_task_await(c[k]);
            cr_expect(r == -ECANCELED || r == 0, "consumer ended with %d", r);
            mt_task_free(c[k]);
            mt_task_create(&c[k], consumer, s, NULL);
            cancelled++;
        }
        if (item % 5 == 0)
            mt_co_yield();
    }
    cr_expect_gt(cancelled, 40);
    mt_aqueue_shutdown(s->q, false);
    cr_expect_eq(mt_co_gather(c, NC, NULL, NULL), 0);
    for (int i = 0; i < NC; i++)
        mt_task_free(c[i]);
    return 0;
}

LEAK_TEST(aqueue, cancel_in_the_middle_of_a_wait_loses_nothing, .timeout = 30)
{
    static pc s;
    cr_assert_eq(mt_aqueue_new(&s.q, &(mt_aqueue_opts){.maxsize = 4, .item_size = sizeof(int)}),
                 0);
    cr_assert_eq(co_run(cancel_main, &s), 0);
    int left;
    while (mt_aqueue_get_nowait(s.q, &left) == 0)
        s.got[left]++;
    for (int i = 0; i < 3000; i++)
        cr_expect_eq(s.got[i], 1, "item %d received %d times", i, s.got[i]);
    mt_aqueue_free(s.q);
}

/* A getter woken for an item and cancelled before it ran ends cancelled,
 * as in asyncio, and the item goes to the next getter; likewise a putter
 * woken for room. */
static int getter_of(void *arg)
{
    int v = -1;
    int r = mt_aqueue_get(arg, &v);
    return r ? r : v;
}

static int putter_of(void *arg)
{
    int v = 7;
    return mt_aqueue_put(arg, &v);
}

static int woken_then_cancelled_main(void *arg)
{
    mt_aqueue *q = arg;
    mt_task *g[2];
    mt_task_create(&g[0], getter_of, q, NULL);
    mt_task_create(&g[1], getter_of, q, NULL);
    mt_co_yield(); /* both wait */
    int item = 42;
    cr_assert_eq(mt_aqueue_put_nowait(q, &item), 0); /* wakes g[0] */
    cr_expect_eq(mt_task_cancel(g[0]), 0);
    cr_expect_eq(mt_task_await(g[0]), -ECANCELED, "the cancelled getter");
    cr_expect_eq(mt_task_await(g[1]), 42, "the next getter has the item");
    release_all(g, 2);

    cr_assert_eq(mt_aqueue_put_nowait(q, &item), 0); /* full (maxsize 1) */
    mt_task *p[2];
    mt_task_create(&p[0], putter_of, q, NULL);
    mt_task_create(&p[1], putter_of, q, NULL);
    mt_co_yield(); /* both wait */
    cr_assert_eq(mt_aqueue_get_nowait(q, &item), 0); /* wakes p[0] */
    cr_expect_eq(mt_task_cancel(p[0]), 0);
    cr_expect_eq(mt_task_await(p[0]), -ECANCELED, "the cancelled putter");
    cr_expect_eq(mt_task_await(p[1]), 0, "the next putter has the room");
    release_all(p, 2);
    cr_expect_eq(mt_aqueue_qsize(q), 1);
    return 0;
}

LEAK_TEST(aqueue, a_waiter_woken_then_cancelled_passes_its_turn_on, .timeout = 20)
{
    mt_aqueue *q;
    cr_assert_eq(mt_aqueue_new(&q, &(mt_aqueue_opts){.maxsize = 1, .item_size = sizeof(int)}), 0);
    cr_assert_eq(co_run(woken_then_cancelled_main, q), 0);
    mt_aqueue_free(q);
}

typedef struct put_probe {
    mt_aqueue *q;
    int result;
} put_probe;

static int blocked_putter(void *arg)
{
    put_probe *p = arg;
    int v = 99;
    p->result = mt_aqueue_put(p->q, &v);
    return p->result;
}

static int blocked_getter(void *arg)
{
    put_probe *p = arg;
    int v;
    p->result = mt_aqueue_get(p->q, &v);
    return 0;
}

static int put_cancel_main(void *arg)
{
    mt_aqueue *q = arg;
    int one = 1;
    mt_aqueue_put_nowait(q, &one); /* full now */
    put_probe p = {q, 1};
    mt_task *t;
    mt_task_create(&t, blocked_putter, &p, NULL);
    mt_co_sleep(0.01);
    mt_task_cancel(t);
    cr_expect_eq(mt_task_await(t), -ECANCELED);
    mt_task_free(t);
    cr_expect_eq(mt_aqueue_qsize(q), 1, "the cancelled put put nothing");

    /* Shutdown wakes a waiting put with MT_ECLOSED; getters drain first. */
    mt_task_create(&t, blocked_putter, &p, NULL);
    mt_co_sleep(0.01);
    mt_aqueue_shutdown(q, false);
    mt_task_await(t);
    cr_expect_eq(p.result, MT_ECLOSED);
    mt_task_free(t);
    int v;
    cr_expect_eq(mt_aqueue_get(q, &v), 0);
    cr_expect_eq(v, 1);
    cr_expect_eq(mt_aqueue_get(q, &v), MT_ECLOSED);
    return 0;
}

LEAK_TEST(aqueue, cancelled_or_shut_down_put_puts_nothing, .timeout = 20)
{
    mt_aqueue *q;
    cr_assert_eq(mt_aqueue_new(&q, &(mt_aqueue_opts){.maxsize = 1, .item_size = sizeof(int)}), 0);
    cr_assert_eq(co_run(put_cancel_main, q), 0);
    mt_aqueue_free(q);
}

static int join_waiter(void *arg)
{
    return mt_aqueue_join(arg);
}

static int immediate_main(void *arg)
{
    mt_aqueue *q = arg;
    for (int i = 0; i < 3; i++)
        mt_aqueue_put_nowait(q, &i);
    put_probe p = {q, 1};
    mt_task *j, *g;
    mt_task_create(&j, join_waiter, q, NULL);
    mt_co_sleep(0.01);
    cr_expect(!mt_task_done(j));
    mt_aqueue_shutdown(q, true);
    cr_expect_eq(mt_aqueue_qsize(q), 0);
    cr_expect_eq(mt_task_await(j), 0, "join ends: the dropped items count as done");
    mt_task_create(&g, blocked_getter, &p, NULL);
    mt_task_await(g);
    cr_expect_eq(p.result, MT_ECLOSED);
    mt_task_free(j);
    mt_task_free(g);
    return 0;
}

LEAK_TEST(aqueue, immediate_shutdown_drops_items_and_wakes_join, .timeout = 20)
{
    mt_aqueue *q;
    cr_assert_eq(mt_aqueue_new(&q, &(mt_aqueue_opts){.item_size = sizeof(int)}), 0);
    cr_assert_eq(co_run(immediate_main, q), 0);
    mt_aqueue_free(q);
}
