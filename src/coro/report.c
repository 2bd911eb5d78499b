/*
 * report.c - what the coroutine layer has to tell the program and cannot
 * return as an error (asyncio's exception handler): a task's error that
 * nobody retrieved, tasks still pending when the loop closed, slow tasks in
 * debug mode. Each is one line of text handed to the loop's report hook
 * (mt_run_opts.report, mt_loop_set_report); only the default hook prints.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "coro_internal.h"

/* The default hook: the line on stderr, as asyncio's default handler logs. */
static void report_to_stderr(const char *line, void *arg)
{
    (void)arg;
    fprintf(stderr, "%s\n", line);
}

int mt_loop_set_report(mt_loop *l, mt_co_report_fn *fn, void *arg)
{
    if (!l)
        return -EINVAL;
    l->report = fn ? fn : report_to_stderr;
    l->report_arg = fn ? arg : NULL;
    return 0;
}

void mt__report(mt_loop *l, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    l->report(line, l->report_arg); /* never NULL: mt_loop_new sets the default */
}

void mt__report_unretrieved(mt_task *t)
{
    if (t->state != MT__T_DONE || t->result >= 0 || t->result == -ECANCELED ||
        (t->flags & (MT__F_RETRIEVED | MT__F_REPORTED)))
        return;
    t->flags |= MT__F_REPORTED;
    mt__report(t->loop, "Task exception was never retrieved: task '%s' failed: %s (%s)",
               mt_task_name(t), mt_err_name(t->result), mt_strerror(t->result));
}
