/*
 * trace_internal.h - the one-branch test every layer makes before it
 * records an event (see multitask/trace.h). Not installed.
 */
#ifndef MT_TRACE_INTERNAL_H
#define MT_TRACE_INTERNAL_H

#include <stdatomic.h>

#include "multitask/trace.h"

/* Nonzero while a trace is written. */
extern atomic_int mt__trace_fd_on;

#define mt__trace_on                                                                               \
    __builtin_expect(atomic_load_explicit(&mt__trace_fd_on, memory_order_relaxed), 0)

#endif
