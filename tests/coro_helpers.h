/*
 * coro_helpers.h - what the coroutine test files share: running a test body
 * as the main coroutine of a fresh loop, and collecting the loop's reports.
 */
#ifndef MT_TEST_CORO_HELPERS_H
#define MT_TEST_CORO_HELPERS_H

#include "helpers.h"

/* libuv opens a pipe for its signal handling with the first loop of the
 * process and keeps it: make it before any test counts file descriptors. */
static int co_nothing(void *arg)
{
    (void)arg;
    return 0;
}

__attribute__((constructor)) static void co_first_loop(void)
{
    mt_run(co_nothing, NULL, NULL);
}

/* Reports the loop made, one line each, for the test to look at. */
static char co_reports[4096];

static inline void co_collect(const char *line, void *arg)
{
    (void)arg;
    size_t used = strlen(co_reports);
    snprintf(co_reports + used, sizeof co_reports - used, "%s\n", line);
}

/* Release n task handles. */
static inline void release_all(mt_task **ts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mt_task_free(ts[i]);
}

/* Run fn(arg) as the main task of a loop whose reports go to co_reports;
 * returns mt_run's result. */
static inline int co_run(mt_co_fn *fn, void *arg)
{
    co_reports[0] = '\0';
    return mt_run(fn, arg, &(mt_run_opts){.report = co_collect});
}

#endif
