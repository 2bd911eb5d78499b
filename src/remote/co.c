/*
 * co.c - the remote layer inside a coroutine: a call made from a coroutine
 * suspends that coroutine while it waits for the server (or for another
 * caller's turn on the handle), and the loop runs its other tasks
 * meanwhile. Outside a coroutine the same calls block the thread.
 *
 * A handle's lock is a plain mutex, taken by trying: a coroutine that finds
 * it held (by another coroutine of its loop, suspended in the middle of its
 * own call, or by another thread) pauses and tries again, since blocking
 * the loop's thread on it could wait for a coroutine that only this thread
 * can resume.
 *
 * Between lock and unlock the coroutine is shielded from cancellation and
 * timeouts: a call sent to the server is seen to its answer (its own time
 * limit still applies), so a cancelled coroutine never leaves a call whose
 * effect nobody knows, nor a connection in the middle of a reply.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>

#include "multitask/coro.h"
#include "remote_internal.h"

/* The pause between tries for a held lock: from 0.1 ms, doubling to 5 ms. */
#define LOCK_PAUSE_FIRST 0.0001
#define LOCK_PAUSE_MAX 0.005

bool mt__rco(void)
{
    return mt_task_current() != NULL;
}

void mt__rlock(pthread_mutex_t *lock)
{
    if (!mt__rco()) {
        pthread_mutex_lock(lock);
        return;
    }
    mt_co_shield_begin();
    for (double pause = LOCK_PAUSE_FIRST; pthread_mutex_trylock(lock) == EBUSY;) {
        mt_co_sleep(pause);
        pause = pause * 2 < LOCK_PAUSE_MAX ? pause * 2 : LOCK_PAUSE_MAX;
    }
}

void mt__runlock(pthread_mutex_t *lock)
{
    pthread_mutex_unlock(lock);
    if (mt__rco())
        mt_co_shield_end();
}

void mt__rpause(double seconds)
{
    if (mt__rco())
        mt_co_sleep(seconds);
    else
        mt_sleep(seconds);
}

int mt__rwait_fd(int fd, int events, double deadline)
{
    double left = isinf(deadline) ? MT_FOREVER : deadline - mt_monotonic();
    if (!isinf(deadline) && left <= 0)
        return -ETIMEDOUT;
    return mt_co_wait_fd(fd, events, left);
}
