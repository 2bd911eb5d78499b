/*
 * future_internal.h - how producers (pools, executors, the loop) drive an
 * mt_future. Not installed.
 */
#ifndef MT_FUTURE_INTERNAL_H
#define MT_FUTURE_INTERNAL_H

#include <stdint.h>

#include "multitask/future.h"

/* A new PENDING future holding one reference, or NULL when out of memory. */
mt_future *mt__future_new(void);

/* PENDING -> RUNNING. Returns 0, or -ECANCELED when the future was cancelled
 * (the producer then drops the task), -EINVAL in any other state. */
int mt__future_start(mt_future *f);

/*
 * Finish a PENDING or RUNNING future: store err and take result's memory
 * (result is left empty; NULL means no bytes), wake waiters, run callbacks.
 * Returns 0, or -EINVAL if the future was already finished or cancelled (the
 * result is then freed).
 */
int mt__future_finish(mt_future *f, int err, mt_buf *result);

/* Like mt__future_finish for a successful result of len bytes at data,
 * inside a mapping of map_len bytes at map from mmap(); the future munmaps it
 * when freed. */
int mt__future_finish_mapped(mt_future *f, void *map, size_t map_len, const void *data,
                             size_t len);

/*
 * Let waiters drive progress: mt_future_wait calls drive(ctx, f, deadline)
 * before sleeping, and the driver returns once f is done or it stops trying
 * (it must not outlive the future's producer). Set before the future is
 * shared.
 */
typedef int mt__future_driver(void *ctx, mt_future *f, int64_t deadline);
void mt__future_set_driver(mt_future *f, mt__future_driver *drive, void *ctx);

#endif
