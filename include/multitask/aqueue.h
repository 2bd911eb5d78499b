/*
 * multitask/aqueue.h - a queue between the coroutines of one loop
 * (asyncio.Queue, LifoQueue and PriorityQueue).
 *
 * Items are fixed-size byte values (item_size bytes, a pointer's worth by
 * default) copied in by put and out by get; a queue of pointers carries
 * anything, its owner deciding who frees what.
 *
 * Usage:
 *   1. mt_aqueue_new(&q, &(mt_aqueue_opts){.maxsize = 10,
 *                                          .item_size = sizeof(int)});
 *   2. In coroutines: mt_aqueue_put(q, &item) waits while the queue is
 *      full, mt_aqueue_get(q, &item) while it is empty; both return
 *      -ECANCELED / -ETIMEDOUT when the task is cancelled or times out
 *      meanwhile, and then nothing was put or taken. The _nowait variants
 *      never wait (-EAGAIN: Python's QueueFull / QueueEmpty).
 *   3. Consumers call mt_aqueue_task_done for each item they finished;
 *      mt_aqueue_join waits until every item put has been.
 *   4. mt_aqueue_shutdown (Python 3.13): puts fail with MT_ECLOSED from then
 *      on, gets once the queue is empty; with `immediate` the items left
 *      are dropped. Every waiter wakes and sees this.
 *   5. mt_aqueue_free once no coroutine uses the queue.
 *
 * Order: put and get serve waiting coroutines first come, first served.
 * MT_AQUEUE_LIFO hands out the newest item first; MT_AQUEUE_PRIORITY the
 * smallest by `compare`, equal ones in the order they were put.
 *
 * Threads: a queue belongs to one loop, and every call is made in that
 * loop's thread (the _nowait calls, qsize and the like also outside a
 * coroutine). For queues between threads or processes, see queue.h.
 */
#ifndef MULTITASK_AQUEUE_H
#define MULTITASK_AQUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_aqueue mt_aqueue;

typedef enum mt_aqueue_kind {
    MT_AQUEUE_FIFO = 0,     /* asyncio.Queue */
    MT_AQUEUE_LIFO = 1,     /* asyncio.LifoQueue */
    MT_AQUEUE_PRIORITY = 2, /* asyncio.PriorityQueue */
} mt_aqueue_kind;

/* Order of two items for MT_AQUEUE_PRIORITY: < 0 when a comes first. */
typedef int mt_aqueue_cmp(const void *a, const void *b);

typedef struct mt_aqueue_opts {
    size_t maxsize;          /* items it holds at most; 0 = no limit */
    size_t item_size;        /* bytes per item; 0 = sizeof(void *); <= 64 KiB */
    mt_aqueue_kind kind;
    mt_aqueue_cmp *compare;  /* MT_AQUEUE_PRIORITY: required */
} mt_aqueue_opts;

/*
 * mt_aqueue_new - make a queue; opts NULL means an unbounded FIFO of
 * pointers. Returns 0, -EINVAL (out NULL, item_size too big, unknown kind,
 * a priority queue without compare), -ENOMEM. Needs no loop.
 */
int mt_aqueue_new(mt_aqueue **out, const mt_aqueue_opts *opts);

/* mt_aqueue_free - free the queue and the items in it. No coroutine may
 * wait on it. NULL is ignored. */
void mt_aqueue_free(mt_aqueue *q);

/*
 * mt_aqueue_put - copy item_size bytes from item into the queue, waiting
 * while it is full. Returns 0; MT_ECLOSED after shutdown; -ECANCELED,
 * -ETIMEDOUT (nothing put); -EINVAL (NULL); MT_ENOTCORO outside a coroutine.
 */
int mt_aqueue_put(mt_aqueue *q, const void *item);

/*
 * mt_aqueue_get - take the next item into item (item_size bytes), waiting
 * while the queue is empty. Returns 0; MT_ECLOSED once shut down and empty;
 * -ECANCELED, -ETIMEDOUT (nothing taken); -EINVAL; MT_ENOTCORO.
 */
int mt_aqueue_get(mt_aqueue *q, void *item);

/* mt_aqueue_put_nowait - put without waiting: 0, -EAGAIN when full,
 * MT_ECLOSED after shutdown, -EINVAL, -ENOMEM (unbounded queue growing). */
int mt_aqueue_put_nowait(mt_aqueue *q, const void *item);

/* mt_aqueue_get_nowait - get without waiting: 0, -EAGAIN when empty,
 * MT_ECLOSED when shut down and empty, -EINVAL. */
int mt_aqueue_get_nowait(mt_aqueue *q, void *item);

/* mt_aqueue_qsize - items in the queue. */
size_t mt_aqueue_qsize(const mt_aqueue *q);

/* mt_aqueue_maxsize - the limit it was made with (0: none). */
size_t mt_aqueue_maxsize(const mt_aqueue *q);

/* mt_aqueue_empty / mt_aqueue_full - as Python's empty() and full(). */
bool mt_aqueue_empty(const mt_aqueue *q);
bool mt_aqueue_full(const mt_aqueue *q);

/*
 * mt_aqueue_task_done - one item taken earlier is finished. Returns 0, or
 * -EINVAL when called more times than items were put (ValueError).
 */
int mt_aqueue_task_done(mt_aqueue *q);

/*
 * mt_aqueue_join - wait until every item put has been marked done.
 * Returns 0, -ECANCELED, -ETIMEDOUT, -EINVAL, MT_ENOTCORO.
 */
int mt_aqueue_join(mt_aqueue *q);

/*
 * mt_aqueue_shutdown - shut the queue down (Python 3.13's shutdown): see
 * the overview. With immediate, the items in it are dropped and count as
 * done. Wakes every waiting put, get and (when nothing is left unfinished)
 * join. Calling it again is harmless. NULL is ignored.
 */
void mt_aqueue_shutdown(mt_aqueue *q, bool immediate);

#ifdef __cplusplus
}
#endif
#endif
