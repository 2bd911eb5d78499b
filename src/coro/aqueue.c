/*
 * aqueue.c - the queue between coroutines of one loop (asyncio.Queue and
 * its LIFO and priority variants). Items are copied in and out; waiting
 * coroutines queue up on intrusive lists and are woken in order, then try
 * again (so a woken one that is cancelled takes nothing and loses nothing).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/trace_internal.h"
#include "coro_internal.h"
#include "multitask/aqueue.h"

typedef struct waiter {
    struct waiter *prev, *next;
    mt_task *task;
} waiter;

typedef struct wlist {
    waiter *head, *tail;
} wlist;

struct mt_aqueue {
    size_t maxsize;
    size_t item_size;
    size_t slot;      /* bytes per slot: item, plus a sequence (priority) */
    mt_aqueue_kind kind;
    mt_aqueue_cmp *compare;
    char *buf;
    size_t cap;       /* slots */
    size_t head;      /* FIFO: first slot */
    size_t count;
    size_t unfinished;
    uint64_t seq;     /* priority: order of putting */
    bool shutdown;
    wlist getters, putters, joiners;
};

#define MAX_ITEM ((size_t)64 << 10)

/* ---- waiting ---------------------------------------------------------- */

static void wl_append(wlist *l, waiter *w)
{
    w->next = NULL;
    w->prev = l->tail;
    if (l->tail)
        l->tail->next = w;
    else
        l->head = w;
    l->tail = w;
}

static void wl_remove(wlist *l, waiter *w)
{
    if (!w->task)
        return; /* already taken off by the one that woke it */
    if (w->prev)
        w->prev->next = w->next;
    else
        l->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        l->tail = w->prev;
    w->task = NULL;
}

/* Wake the first waiter of l, if any. */
static void wl_wake_one(wlist *l)
{
    waiter *w = l->head;
    if (!w)
        return;
    mt_task *t = w->task;
    wl_remove(l, w);
    mt__wake(t, 0);
}

static void wl_wake_all(wlist *l)
{
    while (l->head)
        wl_wake_one(l);
}

/* Wait on l until woken; returns 0 or the interrupt. */
static int wait_on(wlist *l, mt_task *t, const char *what)
{
    waiter local, *w = mt__rec(t, &local, sizeof local);
    if (!w)
        return -ENOMEM;
    *w = (waiter){.task = t};
    wl_append(l, w);
    int64_t t0 = mt__trace_on ? mt__now_ns() : 0;
    int r = mt__suspend(t, false);
    wl_remove(l, w);
    mt__rec_free(w, &local);
    int code = r ? 0 : mt__interrupt_code(t);
    if (code) {
        /* Woken, then cancelled (or timed out) before it ran: as in asyncio
         * the cancellation wins, and the wake-up goes to the next waiter so
         * that the item or the room it was woken for is not left idle. */
        wl_wake_one(l);
        r = code;
    }
    if (mt__trace_on)
        mt_trace_slice(what, "queue", t->id, (uint64_t)t0, (uint64_t)mt__now_ns());
    return r;
}

/* ---- storage ---------------------------------------------------------- */

static char *slot_at(mt_aqueue *q, size_t i)
{
    return q->buf + i * q->slot;
}

static void copy_item(char *dst, const void *src, size_t n)
{
    if (n == sizeof(void *))
        memcpy(dst, src, sizeof(void *));
    else
        memcpy(dst, src, n);
}

static int grow(mt_aqueue *q)
{
    size_t cap = q->cap ? q->cap * 2 : 16;
    if (q->maxsize && cap > q->maxsize)
        cap = q->maxsize;
    char *p = malloc(cap * q->slot);
    if (!p)
        return -ENOMEM;
    if (q->kind == MT_AQUEUE_FIFO) {
        for (size_t i = 0; i < q->count; i++)
            memcpy(p + i * q->slot, slot_at(q, (q->head + i) % q->cap), q->slot);
        q->head = 0;
    } else if (q->count) {
        memcpy(p, q->buf, q->count * q->slot);
    }
    free(q->buf);
    q->buf = p;
    q->cap = cap;
    return 0;
}

/* Priority order of slots a and b: the compare function, then sequence. */
static bool prio_before(mt_aqueue *q, const char *a, const char *b)
{
    int c = q->compare(a, b);
    if (c)
        return c < 0;
    uint64_t sa, sb;
    memcpy(&sa, a + q->item_size, sizeof sa);
    memcpy(&sb, b + q->item_size, sizeof sb);
    return sa < sb;
}

static void slot_swap(mt_aqueue *q, size_t i, size_t j)
{
    char tmp[64], *a = slot_at(q, i), *b = slot_at(q, j);
    for (size_t off = 0; off < q->slot; off += sizeof tmp) {
        size_t n = q->slot - off < sizeof tmp ? q->slot - off : sizeof tmp;
        memcpy(tmp, a + off, n);
        memcpy(a + off, b + off, n);
        memcpy(b + off, tmp, n);
    }
}

static void store(mt_aqueue *q, const void *item)
{
    switch (q->kind) {
    case MT_AQUEUE_FIFO:
        copy_item(slot_at(q, (q->head + q->count) % q->cap), item, q->item_size);
        break;
    case MT_AQUEUE_LIFO:
        copy_item(slot_at(q, q->count), item, q->item_size);
        break;
    case MT_AQUEUE_PRIORITY: {
        size_t i = q->count;
        memcpy(slot_at(q, i), item, q->item_size);
        memcpy(slot_at(q, i) + q->item_size, &q->seq, sizeof q->seq);
        q->seq++;
        while (i > 0 && prio_before(q, slot_at(q, i), slot_at(q, (i - 1) / 2))) {
            slot_swap(q, i, (i - 1) / 2);
            i = (i - 1) / 2;
        }
        break;
    }
    }
    q->count++;
}

static void take(mt_aqueue *q, void *item)
{
    switch (q->kind) {
    case MT_AQUEUE_FIFO:
        copy_item(item, slot_at(q, q->head), q->item_size);
        q->head = q->head + 1 == q->cap ? 0 : q->head + 1;
        q->count--;
        break;
    case MT_AQUEUE_LIFO:
        q->count--;
        copy_item(item, slot_at(q, q->count), q->item_size);
        break;
    case MT_AQUEUE_PRIORITY: {
        memcpy(item, slot_at(q, 0), q->item_size);
        q->count--;
        memcpy(slot_at(q, 0), slot_at(q, q->count), q->slot);
        size_t i = 0;
        for (;;) {
            size_t c = 2 * i + 1;
            if (c >= q->count)
                break;
            if (c + 1 < q->count && prio_before(q, slot_at(q, c + 1), slot_at(q, c)))
                c++;
            if (!prio_before(q, slot_at(q, c), slot_at(q, i)))
                break;
            slot_swap(q, i, c);
            i = c;
        }
        break;
    }
    }
}

/* ---- the calls -------------------------------------------------------- */

int mt_aqueue_new(mt_aqueue **out, const mt_aqueue_opts *opts)
{
    mt_aqueue_opts none = {0};
    if (!opts)
        opts = &none;
    size_t item = opts->item_size ? opts->item_size : sizeof(void *);
    if (!out || item > MAX_ITEM ||
        (opts->kind != MT_AQUEUE_FIFO && opts->kind != MT_AQUEUE_LIFO &&
         opts->kind != MT_AQUEUE_PRIORITY) ||
        (opts->kind == MT_AQUEUE_PRIORITY && !opts->compare))
        return -EINVAL;
    mt_aqueue *q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    q->maxsize = opts->maxsize;
    q->item_size = item;
    q->kind = opts->kind;
    q->compare = opts->compare;
    q->slot = item;
    if (q->kind == MT_AQUEUE_PRIORITY) /* the item, then its sequence */
        q->slot = item + sizeof(uint64_t);
    *out = q;
    return 0;
}

void mt_aqueue_free(mt_aqueue *q)
{
    if (!q)
        return;
    free(q->buf);
    free(q);
}

static bool is_full(const mt_aqueue *q)
{
    return q->maxsize && q->count >= q->maxsize;
}

int mt_aqueue_put_nowait(mt_aqueue *q, const void *item)
{
    if (!q || !item)
        return -EINVAL;
    if (q->shutdown)
        return MT_ECLOSED;
    if (is_full(q))
        return -EAGAIN;
    if (q->count == q->cap) {
        int err = grow(q);
        if (err)
            return err;
    }
    store(q, item);
    q->unfinished++;
    wl_wake_one(&q->getters);
    return 0;
}

int mt_aqueue_get_nowait(mt_aqueue *q, void *item)
{
    if (!q || !item)
        return -EINVAL;
    if (!q->count)
        return q->shutdown ? MT_ECLOSED : -EAGAIN;
    take(q, item);
    wl_wake_one(&q->putters);
    return 0;
}

int mt_aqueue_put(mt_aqueue *q, const void *item)
{
    mt_task *t = mt__current();
    if (!t)
        return MT_ENOTCORO;
    for (;;) {
        int r = mt_aqueue_put_nowait(q, item);
        if (r != -EAGAIN)
            return r;
        r = wait_on(&q->putters, t, "put wait");
        if (r)
            return r;
    }
}

int mt_aqueue_get(mt_aqueue *q, void *item)
{
    mt_task *t = mt__current();
    if (!t)
        return MT_ENOTCORO;
    for (;;) {
        int r = mt_aqueue_get_nowait(q, item);
        if (r != -EAGAIN)
            return r;
        r = wait_on(&q->getters, t, "get wait");
        if (r)
            return r;
    }
}

size_t mt_aqueue_qsize(const mt_aqueue *q)
{
    return q ? q->count : 0;
}

size_t mt_aqueue_maxsize(const mt_aqueue *q)
{
    return q ? q->maxsize : 0;
}

bool mt_aqueue_empty(const mt_aqueue *q)
{
    return !q || q->count == 0;
}

bool mt_aqueue_full(const mt_aqueue *q)
{
    return q && is_full(q);
}

int mt_aqueue_task_done(mt_aqueue *q)
{
    if (!q || q->unfinished == 0)
        return -EINVAL;
    if (--q->unfinished == 0)
        wl_wake_all(&q->joiners);
    return 0;
}

int mt_aqueue_join(mt_aqueue *q)
{
    mt_task *t = mt__current();
    if (!t)
        return MT_ENOTCORO;
    if (!q)
        return -EINVAL;
    while (q->unfinished) {
        int r = wait_on(&q->joiners, t, "join wait");
        if (r)
            return r;
    }
    return 0;
}

void mt_aqueue_shutdown(mt_aqueue *q, bool immediate)
{
    if (!q)
        return;
    q->shutdown = true;
    if (immediate) {
        size_t dropped = q->count;
        q->count = 0;
        q->head = 0;
        q->unfinished = q->unfinished > dropped ? q->unfinished - dropped : 0;
        if (!q->unfinished)
            wl_wake_all(&q->joiners);
    }
    wl_wake_all(&q->getters);
    wl_wake_all(&q->putters);
}
