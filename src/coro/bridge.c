/*
 * bridge.c - the scheduler calls that layers built as libraries of their
 * own need (see the end of coro_internal.h): exported wrappers of inline
 * calls that reach hidden functions.
 */
#define _GNU_SOURCE
#include "coro_internal.h"

int mt__suspend_exported(mt_task *t)
{
    return mt__suspend(t, false);
}
