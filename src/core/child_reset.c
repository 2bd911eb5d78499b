/*
 * child_reset.c - what a child process forgets before it runs its own
 * code. A process started from a coroutine (mt_process_start inside
 * mt_run) is a copy of a thread that runs an event loop; that loop is the
 * parent's, and the child must be able to start its own with mt_run, as a
 * child of asyncio code can call asyncio.run. Layers above register what to
 * forget; the process layer calls mt__child_reset in the child.
 */
#include <stdatomic.h>
#include <stddef.h>

#include "core_internal.h"

#define MAX_RESETS 4

static _Atomic(mt__child_reset_fn *) resets[MAX_RESETS];

void mt__child_reset_register(mt__child_reset_fn *fn)
{
    for (size_t i = 0; i < MAX_RESETS; i++) {
        mt__child_reset_fn *seen = NULL;
        if (atomic_compare_exchange_strong(&resets[i], &seen, fn) || seen == fn)
            return;
    }
}

void mt__child_reset(void)
{
    for (size_t i = 0; i < MAX_RESETS; i++) {
        mt__child_reset_fn *fn = atomic_load(&resets[i]);
        if (fn)
            fn();
    }
}
