/*
 * common.h - the two things every example needs and the lecture's Python
 * gets for free: output that keeps its order when it goes to a pipe, and a
 * way to stop on an error (Python would raise an exception).
 */
#ifndef MT_EXAMPLES_COMMON_H
#define MT_EXAMPLES_COMMON_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "multitask.h"

/*
 * Python flushes each print on a terminal. To behave the same when stdout
 * is a pipe, make stdout line-buffered; children forked later inherit it.
 */
static inline void line_buffered_stdout(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
}

/* Stop the program with a message when a multitask call failed. */
static inline void check(int err, const char *what)
{
    if (err >= 0)
        return;
    fprintf(stderr, "%s: %s\n", what, mt_strerror(err));
    exit(1);
}

#endif
