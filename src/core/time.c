/*
 * time.c - clocks and sleeping, in seconds as Python counts them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <time.h>

#include "core_internal.h"

double mt_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t mt_monotonic_ns(void)
{
    return (uint64_t)mt__now_ns();
}

double mt_monotonic(void)
{
    return (double)mt_monotonic_ns() * 1e-9;
}

int mt_sleep(double seconds)
{
    if (!(seconds >= 0) || isinf(seconds))
        return -EINVAL;
    /* Sleep to an absolute deadline so that signal handlers do not stretch
     * or shorten the total. */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    double whole = floor(seconds);
    until.tv_sec += (time_t)whole;
    until.tv_nsec += (long)((seconds - whole) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
        ;
    return 0;
}
