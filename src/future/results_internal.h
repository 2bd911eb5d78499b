/*
 * results_internal.h - how a map producer makes an mt_results: embed
 * struct mt_results first in its own struct and give it the two operations
 * below. The public functions in results.c check their arguments and call
 * them. Not installed.
 */
#ifndef MT_RESULTS_INTERNAL_H
#define MT_RESULTS_INTERNAL_H

#include "multitask/future.h"
#include "multitask/results.h"

typedef struct mt__results_ops {
    /* Item i's return value and bytes; i < n is checked before the call and
     * out is never NULL. */
    int (*get)(const mt_results *r, size_t i, mt_iov *out);
    /* Release everything, the struct included. */
    void (*free)(mt_results *r);
    /* Optional shortcuts; NULL means item by item through get. */
    int (*first_error)(const mt_results *r);
    int (*copy)(const mt_results *r, void *dst, size_t item_size);
} mt__results_ops;

struct mt_results {
    const mt__results_ops *ops;
    size_t n;
};

/* The return value of the first failed item in item order, or 0: what a map
 * call returns. */
int mt__results_first_error(const mt_results *r);

/* Item by item: first error from items [from, to), and copy of them. */
int mt__results_first_error_in(const mt_results *r, size_t from, size_t to);
int mt__results_copy_range(const mt_results *r, void *dst, size_t item_size, size_t from,
                           size_t to);

/*
 * Results over one future per item (the thread pool's map, a pool's on a
 * server): item i is fs[i]'s outcome, or -ETIMEDOUT with no bytes when
 * fs[i] is NULL (an item given up unfinished). mt__future_results_new
 * makes one of n items whose fs (room for n, zeroed) the caller fills;
 * freeing it releases every non-NULL fs[i] and the array. NULL when out
 * of memory.
 */
typedef struct mt__future_results {
    mt_results base;
    mt_future **fs;
} mt__future_results;

mt__future_results *mt__future_results_new(size_t n);

#endif
