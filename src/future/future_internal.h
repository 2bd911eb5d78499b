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

/*
 * mt__future_new_ext - a new future with `extra` bytes (at most 64 KiB;
 * NULL beyond) of space for its producer in the same allocation, 8-byte
 * aligned and not zeroed; mt__future_ext() finds it. The space is the
 * producer's until it finishes the future: from then on it holds the result
 * when the result fits (see mt__future_finish), so the producer must read
 * what it needs from it before finishing.
 */
mt_future *mt__future_new_ext(size_t extra);

/* The producer's space of a future from mt__future_new_ext; NULL if none. */
void *mt__future_ext(mt_future *f);

/* The future whose producer space starts at ext. */
mt_future *mt__future_of_ext(void *ext);

/* PENDING -> RUNNING. Returns 0, or -ECANCELED when the future was cancelled
 * (the producer then drops the task), -EINVAL in any other state. */
int mt__future_start(mt_future *f);

/*
 * Finish a PENDING or RUNNING future: store err and the result bytes, wake
 * waiters, run callbacks. result is left empty (NULL means no bytes): when
 * its bytes and a NUL fit the producer's space (mt__future_new_ext) they are
 * copied there and result keeps its memory for the caller to reuse or free;
 * otherwise the future takes the memory. Returns 0, or -EINVAL if the future
 * was already finished or cancelled (the result is then freed).
 */
int mt__future_finish(mt_future *f, int err, mt_buf *result);

/* Like mt__future_finish for a successful result of len bytes at data,
 * inside a mapping of map_len bytes at map from mmap(); the future munmaps it
 * when freed. */
int mt__future_finish_mapped(mt_future *f, void *map, size_t map_len, const void *data,
                             size_t len);

/*
 * The same, but the done callbacks wait for mt__future_run_callbacks: for a
 * producer that finishes futures under a lock of its own, which a callback
 * may need (to submit more work, say). The future reads as done at once and
 * its waiters wake; callbacks added meanwhile join the held ones, in order.
 */
int mt__future_finish_held(mt_future *f, int err, mt_buf *result);
int mt__future_finish_mapped_held(mt_future *f, void *map, size_t map_len, const void *data,
                                  size_t len);
/* Run the callbacks a held finish left; no-op otherwise. Call without the
 * producer's locks. */
void mt__future_run_callbacks(mt_future *f);

/*
 * Let waiters drive progress: mt_future_wait calls drive(ctx, f, deadline)
 * before sleeping, and the driver returns once f is done or it stops trying
 * (it must not outlive the future's producer). Set before the future is
 * shared.
 */
typedef int mt__future_driver(void *ctx, mt_future *f, int64_t deadline);
void mt__future_set_driver(mt_future *f, mt__future_driver *drive, void *ctx);

/*
 * Remove the first done callback registered as (cb, arg) so that it will not
 * run. Returns 0, or -ENOENT when there is none: it never was added, or it
 * has run, or another thread is running it right now (the caller must then
 * wait for it to finish before freeing what arg points to).
 */
int mt__future_remove_done_callback(mt_future *f, mt_future_cb *cb, void *arg);

#endif
