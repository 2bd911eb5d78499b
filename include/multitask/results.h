/*
 * multitask/results.h - the outcomes of many tasks, one per item, in item
 * order: what a map hands back, whether the tasks ran in worker processes
 * (mt_pool_map) or in threads (mt_executor_map).
 *
 * Usage:
 *   1. Get one from a map call; the caller owns it.
 *   2. mt_results_len() items; mt_results_get(r, i, &bytes) gives item i's
 *      return value and its result bytes (or its error message);
 *      mt_results_copy() copies fixed-size results into an array.
 *   3. mt_results_free(r).
 *
 * Thread safety: reading one results object from several threads at once is
 * safe; freeing it is not, while others read.
 */
#ifndef MULTITASK_RESULTS_H
#define MULTITASK_RESULTS_H

#include <stddef.h>

#include "buf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The results of a map: one per item, in item order. */
typedef struct mt_results mt_results;

/* mt_results_len - how many items; 0 for NULL. */
size_t mt_results_len(const mt_results *r);

/*
 * mt_results_get - item i's outcome: returns its return value (0 or an
 * error) and sets *out (when not NULL) to its result bytes, or to its error
 * message when it failed. The bytes belong to r. -ERANGE when i is out of
 * range or r is NULL.
 */
int mt_results_get(const mt_results *r, size_t i, mt_iov *out);

/*
 * mt_results_copy - copy every result into dst, an array of n * item_size
 * bytes. Returns 0, the first item error, -EINVAL for a NULL r or dst, or
 * -EMSGSIZE when a result is not exactly item_size bytes (dst is then partly
 * written).
 */
int mt_results_copy(const mt_results *r, void *dst, size_t item_size);

/* mt_results_free - release r and every result's bytes; NULL is ignored. */
void mt_results_free(mt_results *r);

#ifdef __cplusplus
}
#endif
#endif
