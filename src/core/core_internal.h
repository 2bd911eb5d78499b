/*
 * core_internal.h - helpers every layer uses inside the library: deadlines,
 * futex waits (within a process or across processes through shared memory)
 * and a tiny spinlock. Not installed; names use the mt__ prefix.
 */
#ifndef MT_CORE_INTERNAL_H
#define MT_CORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "multitask/core.h"

/* An absolute time on CLOCK_MONOTONIC in nanoseconds; MT__NEVER for none. */
typedef int64_t mt__deadline;
#define MT__NEVER INT64_MAX

/* The deadline `timeout` seconds from now (negative: MT__NEVER; NaN: now,
 * but public calls refuse NaN with mt__deadline_set first). */
mt__deadline mt__deadline_in(double timeout);

/* *d = the deadline `timeout` seconds from now; -EINVAL (and *d untouched)
 * for a NaN timeout, which every public call refuses. */
int mt__deadline_set(mt__deadline *d, double timeout);

/* Write all len bytes of data to fd, resuming after EINTR and short writes.
 * Returns 0 or -errno of the write that failed (write_all.c). */
int mt__write_all(int fd, const void *data, size_t len);

/* Seconds left until d (0 when past; -1.0 for MT__NEVER). */
double mt__deadline_left(mt__deadline d);

/* Whether d has passed. */
bool mt__deadline_passed(mt__deadline d);

/* Milliseconds left until d for poll(): -1 for MT__NEVER, rounded up. */
int mt__deadline_poll_ms(mt__deadline d);

/*
 * mt__futex_wait - sleep while *addr == expected, until woken or d passes.
 * `shared` selects a futex that works across processes (the word lives in
 * shared memory). Returns 0 when woken or when *addr != expected, -ETIMEDOUT,
 * or -EINTR. Spurious returns are possible: callers re-check their condition.
 */
int mt__futex_wait(_Atomic uint32_t *addr, uint32_t expected, mt__deadline d, bool shared);

/* mt__futex_wake - wake up to n waiters (INT32_MAX for all). */
void mt__futex_wake(_Atomic uint32_t *addr, int n, bool shared);

/* mt__cond_init - a condition variable whose timed waits use
 * CLOCK_MONOTONIC, as deadlines do. Returns 0 or -ENOMEM. */
int mt__cond_init(pthread_cond_t *c);

/* mt__cond_wait - pthread_cond_wait until d (MT__NEVER: no limit). Returns
 * 0 when woken (perhaps spuriously) or -ETIMEDOUT. */
int mt__cond_wait(pthread_cond_t *c, pthread_mutex_t *mu, mt__deadline d);

/* A one-word spinlock for short critical sections; yields when contended. */
typedef _Atomic uint32_t mt__spinlock;
void mt__spin_lock(mt__spinlock *l);
static inline void mt__spin_unlock(mt__spinlock *l)
{
    atomic_store_explicit(l, 0, memory_order_release);
}

/* Pause inside a spin loop. */
static inline void mt__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* The monotonic clock in nanoseconds: mt_monotonic_ns, inline for the
 * library's hot paths (the coroutine timers read it at every sleep). */
static inline int64_t mt__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * ceil(x) for |x| < 2^63, without libm: the library links no libm so that
 * every fork has one library fewer to copy (a measurable part of a process
 * start).
 */
static inline int64_t mt__ceil_i64(double x)
{
    int64_t t = (int64_t)x; /* rounds toward zero: ceil for x <= 0 */
    return t + (x > (double)t);
}

/* What a child process forgets before it runs its own code (child_reset.c):
 * layers above register a function (idempotent; at most 4 in all), and the
 * process layer calls mt__child_reset in the child. */
typedef void mt__child_reset_fn(void);
void mt__child_reset_register(mt__child_reset_fn *fn);
void mt__child_reset(void);

#endif
