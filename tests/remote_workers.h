/*
 * remote_workers.h - worker processes that call a Redis-backed dict or list
 * and record what became of each call, in memory shared with the test; and
 * the check of each call's result against shared.h's promises.
 *
 *   board *b = board_new();
 *   worker w = {.url = ..., .id = 0, .n = 100, .per_call = true, .b = b};
 *   fork: worker_main(&w) in a child (or test_machine_run)
 *   b->outcome[id][i]: ACKED, LOST (MT_ECONNLOST), NOCONN (MT_ECONNECT), OTHER
 *   mt_dict_items(d, collect, seen); check_calls(b, seen, workers)
 */
#ifndef MT_TEST_REMOTE_WORKERS_H
#define MT_TEST_REMOTE_WORKERS_H

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "multitask.h"

#define WORKERS 16
#define CALLS   32768

/* What became of one call. */
enum { NOT_MADE, ACKED, LOST, NOCONN, OTHER };

/* The workers' results, in memory shared with the test. */
typedef struct tally {
    int64_t calls[OTHER + 1]; /* by outcome */
    double longest;           /* the longest call, in seconds */
    int64_t first_err;        /* the first other error, for the message */
    double open_took;         /* how long the open took */
    int64_t open_err;         /* the open's error, or 0 */
} tally;

typedef struct board {
    int stop; /* the test says: no more calls */
    int ready, go; /* workers that wait: how many opened; the test's start */
    tally t[WORKERS];
    int8_t outcome[WORKERS][CALLS];
} board;

static inline board *board_new(void)
{
    board *b =
        mmap(NULL, sizeof(board), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(b != MAP_FAILED);
    return b;
}

static inline void board_free(board *b)
{
    munmap(b, sizeof *b);
}

static inline int64_t board_sum(const board *b, int from, int to, int outcome)
{
    int64_t n = 0;
    for (int i = from; i < to; i++)
        n += __atomic_load_n(&b->t[i].calls[outcome], __ATOMIC_RELAXED);
    return n;
}

/* One worker: `n` calls (or until the board says stop) on the object at
 * url, each incr on "count" or (per_call) on a key of its own "c<id>:<i>",
 * or an append of "<id>:<i>" (list). */
typedef struct worker {
    char url[256];
    int id, n;
    double timeout;
    bool list, per_call;
    bool wait_go; /* open, then wait for the board's go */
    double pace;  /* seconds between calls */
    board *b;
} worker;

static inline int outcome_of(int err)
{
    return err == 0 ? ACKED : err == MT_ECONNLOST ? LOST : err == MT_ECONNECT ? NOCONN : OTHER;
}

static inline int worker_main(void *arg)
{
    worker *w = arg;
    mt_shared_opts o = {.timeout = w->timeout};
    mt_dict *d = NULL;
    mt_list *l = NULL;
    tally *t = &w->b->t[w->id];
    double t0 = mt_monotonic();
    int err = w->list ? mt_list_open(&l, w->url, &o) : mt_dict_open(&d, w->url, &o);
    t->open_took = mt_monotonic() - t0;
    if (err < 0) {
        t->open_err = err;
        return 1;
    }
    if (w->wait_go) {
        __atomic_fetch_add(&w->b->ready, 1, __ATOMIC_RELAXED);
        while (!__atomic_load_n(&w->b->go, __ATOMIC_RELAXED))
            mt_sleep(0.005);
    }
    for (int i = 0; i < w->n && i < CALLS && !__atomic_load_n(&w->b->stop, __ATOMIC_RELAXED);
         i++) {
        char key[32];
        int len = w->per_call || w->list ? snprintf(key, sizeof key, "%s%d:%d",
                                                    w->list ? "" : "c", w->id, i)
                                         : snprintf(key, sizeof key, "count");
        t0 = mt_monotonic();
        err = w->list ? mt_list_append(l, key, (size_t)len)
                      : mt_dict_incr(d, key, (size_t)len, 1, NULL);
        double took = mt_monotonic() - t0;
        int what = outcome_of(err);
        w->b->outcome[w->id][i] = (int8_t)what;
        if (took > t->longest) t->longest = took;
        if (what == OTHER && !t->first_err) t->first_err = err;
        __atomic_fetch_add(&t->calls[what], 1, __ATOMIC_RELAXED);
        if (w->pace > 0) mt_sleep(w->pace);
    }
    if (l) mt_list_free(l);
    if (d) mt_dict_free(d);
    return 0;
}

/* The keys of the per-call dict: seen[id][i] is the value of c<id>:<i>. */
typedef struct seen {
    int64_t value[WORKERS][CALLS];
    int strays; /* keys that no call made */
} seen;

static inline int collect(const void *key, size_t klen, const void *value, size_t vlen, void *ctx)
{
    seen *sn = ctx;
    char k[40] = "", v[24] = "";
    memcpy(k, key, klen < 39 ? klen : 39);
    memcpy(v, value, vlen < 23 ? vlen : 23);
    int id, i;
    if (sscanf(k, "c%d:%d", &id, &i) != 2 || id < 0 || id >= WORKERS || i < 0 || i >= CALLS) {
        sn->strays++;
        return 0;
    }
    sn->value[id][i] = atoll(v);
    return 0;
}

/*
 * Check each call against shared.h's promises, word for word: "a call that
 * returns 0 was done once" (its key is 1); "MT_ECONNECT (no connection
 * within the timeout: nothing was done)" (no key); "MT_ECONNLOST (sent, and
 * no answer within the timeout: done once or not at all)" (no key, or 1).
 * Returns how many calls broke them.
 */
static inline int check_calls(const board *bd, const seen *sn, int workers)
{
    int broken = 0;
    for (int id = 0; id < workers; id++)
        for (int i = 0; i < CALLS; i++) {
            int64_t v = sn->value[id][i];
            int what = bd->outcome[id][i];
            bool ok = what == ACKED    ? v == 1
                      : what == NOCONN ? v == 0
                      : what == LOST   ? v == 0 || v == 1
                                       : v == 0 && what == NOT_MADE;
            if (!ok && broken++ < 5)
                cr_expect_fail("call %d of worker %d: outcome %d, value %" PRId64, i, id, what, v);
        }
    return broken;
}

#endif
