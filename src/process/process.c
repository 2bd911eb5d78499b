/*
 * process.c - mt_process: one task in one child process, with Python's
 * start/join/terminate/kill/exitcode life cycle.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "multitask/process.h"
#include "process_internal.h"

enum { P_NEW, P_STARTED, P_REAPED };

struct mt_process {
    mt_fn *fn;
    char *arg;
    size_t len;
    char *name;
    bool daemon;
    int state;
    pid_t pid;
    int pidfd;
    int exitcode;
};

static atomic_uint process_counter;

int mt_process_new(mt_process **out, mt_fn *fn, const void *arg, size_t len,
                   const mt_process_opts *opts)
{
    static const mt_process_opts defaults;
    if (!out || !fn || (!arg && len))
        return -EINVAL;
    if (!opts)
        opts = &defaults;
    mt_process *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->fn = fn;
    p->daemon = opts->daemon;
    p->pidfd = -1;
    p->len = len;
    if (len && !(p->arg = malloc(len)))
        goto nomem;
    if (len)
        memcpy(p->arg, arg, len);
    if (opts->name)
        p->name = strdup(opts->name);
    else if (asprintf(&p->name, "Process-%u", atomic_fetch_add(&process_counter, 1) + 1) < 0)
        p->name = NULL;
    if (!p->name)
        goto nomem;
    *out = p;
    return 0;
nomem:
    free(p->arg);
    free(p);
    return -ENOMEM;
}

static _Noreturn void run_child(mt_process *p, pid_t parent)
{
    mt__child_reset();
    mt__set_current_name(p->name);
    if (p->daemon)
        mt__die_with_parent(parent);
    mt_buf out = MT_BUF_INIT;
    int rc = p->fn(p->arg, p->len, &out);
    mt__flush_std();
    _exit(rc == 0 ? 0 : 1);
}

int mt_process_start(mt_process *p)
{
    if (!p || p->state != P_NEW)
        return -EINVAL;
    pid_t parent = getpid();
    pid_t pid = mt__fork();
    if (pid < 0)
        return pid;
    if (pid == 0)
        run_child(p, parent);
    /* No pidfd yet: opening one costs about as much as a tenth of the fork,
     * and only a join with a time limit needs it. Signals go by pid, which
     * stays ours until we reap the child. */
    p->pid = pid;
    p->state = P_STARTED;
    return 0;
}

static void reaped(mt_process *p, int status)
{
    p->exitcode = mt__exitcode(status);
    p->state = P_REAPED;
    if (p->pidfd >= 0)
        close(p->pidfd);
    p->pidfd = -1;
}

int mt_process_join(mt_process *p, double timeout)
{
    if (!p || p->state == P_NEW || isnan(timeout))
        return -EINVAL;
    if (p->state == P_REAPED)
        return 0;
    int status;
    mt__deadline d = mt__deadline_in(timeout);
    if (d != MT__NEVER && timeout > 0 && p->pidfd < 0)
        p->pidfd = mt__pidfd_open(p->pid);
    int err = mt__wait_child(p->pid, p->pidfd, d, &status);
    if (err == 0)
        reaped(p, status);
    return err;
}

bool mt_process_is_alive(mt_process *p)
{
    return p && p->state == P_STARTED && mt_process_join(p, 0) == -ETIMEDOUT;
}

static int send_signal(mt_process *p, int sig)
{
    if (!p || p->state == P_NEW)
        return -EINVAL;
    if (p->state == P_REAPED)
        return 0;
    return mt__signal_child(p->pid, p->pidfd, sig);
}

int mt_process_terminate(mt_process *p)
{
    return send_signal(p, SIGTERM);
}

int mt_process_kill(mt_process *p)
{
    return send_signal(p, SIGKILL);
}

bool mt_process_exitcode(const mt_process *p, int *code)
{
    if (!p || p->state != P_REAPED)
        return false;
    if (code)
        *code = p->exitcode;
    return true;
}

pid_t mt_process_pid(const mt_process *p)
{
    return p && p->state != P_NEW ? p->pid : 0;
}

const char *mt_process_name(const mt_process *p)
{
    return p ? p->name : NULL;
}

bool mt_process_daemon(const mt_process *p)
{
    return p && p->daemon;
}

void mt_process_free(mt_process *p)
{
    if (!p)
        return;
    if (p->state == P_STARTED) {
        mt__signal_child(p->pid, p->pidfd, SIGKILL);
        int status;
        mt__wait_child(p->pid, p->pidfd, MT__NEVER, &status);
        reaped(p, status);
    }
    free(p->arg);
    free(p->name);
    free(p);
}
