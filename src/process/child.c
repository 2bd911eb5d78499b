/*
 * child.c - forking, waiting for and reaping one child, shared by
 * mt_process and the pool's supervisor.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "multitask/process.h"
#include "process_internal.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* The process-global name; plain storage so that it survives fork as is. */
static char current_name[128] = "MainProcess";

void mt__set_current_name(const char *name)
{
    snprintf(current_name, sizeof current_name, "%s", name);
}

const char *mt_current_process_name(void)
{
    return current_name;
}

pid_t mt_current_process_pid(void)
{
    return getpid();
}

pid_t mt_parent_process_pid(void)
{
    return getppid();
}

pid_t mt__fork(void)
{
    /* Buffered output would otherwise be written by both processes. */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    return pid < 0 ? -errno : pid;
}

void mt__flush_std(void)
{
    if (__fpending(stdout))
        fflush(stdout);
    if (__fpending(stderr))
        fflush(stderr);
}

void mt__die_with_parent(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* The parent may have died before prctl took effect. */
    if (getppid() != parent)
        _exit(1);
}

int mt__pidfd_open(pid_t pid)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -1 : fd; /* pidfds are always close-on-exec */
}

int mt__signal_child(pid_t pid, int pidfd, int sig)
{
    int r = pidfd >= 0 ? (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) : kill(pid, sig);
    if (r == 0 || errno == ESRCH) /* already dead but not reaped: fine */
        return 0;
    return -errno;
}

static int reap_now(pid_t pid, int *status)
{
    pid_t r;
    do
        r = waitpid(pid, status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == pid)
        return 1;
    if (r < 0) { /* ECHILD: reaped behind our back (SIGCHLD ignored) */
        *status = 255 << 8;
        return 1;
    }
    return 0;
}

int mt__wait_child(pid_t pid, int pidfd, mt__deadline d, int *status)
{
    if (d == MT__NEVER) { /* no time limit: the kernel's own wait is cheapest */
        pid_t r;
        do
            r = waitpid(pid, status, 0);
        while (r < 0 && errno == EINTR);
        if (r < 0)
            *status = 255 << 8; /* reaped behind our back (SIGCHLD ignored) */
        return 0;
    }
    if (pidfd >= 0) {
        for (;;) {
            struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
            int n = poll(&pfd, 1, mt__deadline_poll_ms(d));
            if (n < 0 && errno == EINTR)
                continue;
            if (n > 0 && reap_now(pid, status))
                return 0;
            if (n == 0 && reap_now(pid, status))
                return 0;
            if (mt__deadline_passed(d))
                return -ETIMEDOUT;
        }
    }
    /* No pidfd: poll waitpid with a backoff from 50 us to 10 ms. */
    for (long ns = 50000;; ns = ns < 10000000 ? ns * 2 : ns) {
        if (reap_now(pid, status))
            return 0;
        if (mt__deadline_passed(d))
            return -ETIMEDOUT;
        struct timespec ts = {0, ns};
        nanosleep(&ts, NULL);
    }
}

int mt__exitcode(int status)
{
    if (WIFSIGNALED(status))
        return -WTERMSIG(status);
    return WEXITSTATUS(status);
}

void mt__describe_exit(int status, char *buf, size_t n)
{
    if (WIFSIGNALED(status))
        snprintf(buf, n, "was killed by signal %d (%s)", WTERMSIG(status),
                 sigdescr_np(WTERMSIG(status)) ? sigdescr_np(WTERMSIG(status)) : "unknown");
    else
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
}
