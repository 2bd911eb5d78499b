/*
 * process_internal.h - pieces of child-process handling that mt_process and
 * the pool share: forking, naming, dying with the parent, waiting, reaping.
 */
#ifndef MT_PROCESS_INTERNAL_H
#define MT_PROCESS_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "../core/core_internal.h"

/* Set the name mt_current_process_name() reports in this process. */
void mt__set_current_name(const char *name);

/* Flush stdio and fork; returns fork()'s value, or -errno on failure. */
pid_t mt__fork(void);

/* In a child that is about to _exit: flush stdout and stderr if they hold
 * anything (checking first spares the child copying the pages their locks
 * live on). */
void mt__flush_std(void);

/* In a fresh child: get SIGKILL when the parent (pid `parent`) dies; exits at
 * once if it already has. */
void mt__die_with_parent(pid_t parent);

/* A pidfd for a child, or -1 where the kernel has none. Close-on-exec. */
int mt__pidfd_open(pid_t pid);

/* Send sig to a child that has not been reaped, through its pidfd when there
 * is one (never hitting a recycled pid). Returns 0 or -errno. */
int mt__signal_child(pid_t pid, int pidfd, int sig);

/*
 * Wait until the child ends or d passes, and reap it. Returns 0 with the
 * waitpid() status in *status (a child already reaped by someone else, as
 * with SIGCHLD ignored, reads as exit status 255), or -ETIMEDOUT.
 */
int mt__wait_child(pid_t pid, int pidfd, mt__deadline d, int *status);

/* Python's exit code: the exit status, or minus the signal that killed it. */
int mt__exitcode(int status);

/* Describe how a child ended ("exited with status 3", "was killed by signal
 * 9 (Killed)") into buf of size n. */
void mt__describe_exit(int status, char *buf, size_t n);

#endif
