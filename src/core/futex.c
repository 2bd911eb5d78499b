/*
 * futex.c - deadlines, and waits on futexes and condition variables. Waits
 * take absolute deadlines so that a retry after a spurious wake-up never
 * extends the caller's timeout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core_internal.h"

mt__deadline mt__deadline_in(double timeout)
{
    if (timeout != timeout) /* NaN: converting it would be undefined */
        return (mt__deadline)mt_monotonic_ns();
    if (timeout < 0 || timeout > 1e9)
        return MT__NEVER;
    return (mt__deadline)mt_monotonic_ns() + (mt__deadline)(timeout * 1e9);
}

int mt__deadline_set(mt__deadline *d, double timeout)
{
    if (timeout != timeout)
        return -EINVAL;
    *d = mt__deadline_in(timeout);
    return 0;
}

double mt__deadline_left(mt__deadline d)
{
    if (d == MT__NEVER)
        return -1.0;
    int64_t left = d - (int64_t)mt_monotonic_ns();
    return left > 0 ? (double)left * 1e-9 : 0.0;
}

bool mt__deadline_passed(mt__deadline d)
{
    return d != MT__NEVER && (int64_t)mt_monotonic_ns() >= d;
}

int mt__deadline_poll_ms(mt__deadline d)
{
    if (d == MT__NEVER)
        return -1;
    int64_t left = d - (int64_t)mt_monotonic_ns();
    if (left <= 0)
        return 0;
    int64_t ms = (left + 999999) / 1000000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

int mt__futex_wait(_Atomic uint32_t *addr, uint32_t expected, mt__deadline d, bool shared)
{
    struct timespec ts, *tsp = NULL;
    if (d != MT__NEVER) {
        if (mt__deadline_passed(d))
            return -ETIMEDOUT;
        ts.tv_sec = (time_t)(d / 1000000000);
        ts.tv_nsec = (long)(d % 1000000000);
        tsp = &ts;
    }
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout. */
    int op = FUTEX_WAIT_BITSET | (shared ? 0 : FUTEX_PRIVATE_FLAG);
    long r = syscall(SYS_futex, addr, op, expected, tsp, NULL, FUTEX_BITSET_MATCH_ANY);
    if (r == 0 || errno == EAGAIN)
        return 0;
    return errno == ETIMEDOUT ? -ETIMEDOUT : -EINTR;
}

void mt__futex_wake(_Atomic uint32_t *addr, int n, bool shared)
{
    int op = FUTEX_WAKE | (shared ? 0 : FUTEX_PRIVATE_FLAG);
    syscall(SYS_futex, addr, op, n, NULL, NULL, 0);
}

int mt__cond_init(pthread_cond_t *c)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -ENOMEM;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(c, &ca);
    pthread_condattr_destroy(&ca);
    return rc ? -ENOMEM : 0;
}

int mt__cond_wait(pthread_cond_t *c, pthread_mutex_t *mu, mt__deadline d)
{
    if (d == MT__NEVER) {
        pthread_cond_wait(c, mu);
        return 0;
    }
    struct timespec ts = {(time_t)(d / 1000000000), (long)(d % 1000000000)};
    return pthread_cond_timedwait(c, mu, &ts) == ETIMEDOUT ? -ETIMEDOUT : 0;
}

void mt__spin_lock(mt__spinlock *l)
{
    for (unsigned spins = 0;; spins++) {
        uint32_t free = 0;
        if (atomic_compare_exchange_weak_explicit(l, &free, 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
        if (spins < 64)
            mt__cpu_relax();
        else
            sched_yield();
    }
}
