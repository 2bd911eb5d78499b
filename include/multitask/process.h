/*
 * multitask/process.h - run a task in a child process (multiprocessing.Process).
 *
 * Usage:
 *   1. mt_process_new(&p, fn, arg, len, &(mt_process_opts){.name = "worker"})
 *      copies the argument and names the process; nothing runs yet.
 *   2. mt_process_start(p) forks a child that runs fn(arg, len, out) and then
 *      exits: status 0 when fn returned 0, 1 when it returned an error.
 *   3. mt_process_join(p, timeout) waits for it and reaps it;
 *      mt_process_exitcode() then gives the status, or minus the signal number
 *      that killed it (-9 after mt_process_kill), as Python does.
 *   4. mt_process_free(p).
 *
 * The child starts as a copy of the parent (fork): globals it changes are its
 * own; pass results back through a queue, a shared dict or a pool instead.
 * Standard streams are flushed before the fork so that buffered output is not
 * printed twice, and the child flushes stdout and stderr before it exits with
 * _exit(), as Python's does: other FILE streams a task opens it must close
 * (or flush) itself, and the parent's atexit handlers do not run again.
 *
 * Started from a coroutine (inside mt_run), the child forgets the parent's
 * event loop and may run its own with mt_run; its task runs on the
 * coroutine's stack, so a task that needs a deep stack should be started
 * from a coroutine with a large one (mt_task_opts.stack_size).
 *
 * Fork safety: between fork and the task's return the child runs arbitrary
 * code. If the parent has other threads, a lock one of them held at the fork
 * (inside your code or a library's) stays locked forever in the child. Start
 * processes before starting threads, or use a pool with MT_START_SPAWN.
 *
 * Thread safety: one mt_process may be used by one thread at a time; distinct
 * objects are independent. Never waits for children it did not start: it
 * reaps only its own pid. A SIGCHLD disposition of SIG_IGN (auto-reaping)
 * loses exit codes; mt_process_exitcode then reports 255.
 */
#ifndef MULTITASK_PROCESS_H
#define MULTITASK_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "fn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_process mt_process;

typedef struct mt_process_opts {
    /* The child's name, as mt_current_process_name() reports it there.
     * NULL means "Process-N", N counting the processes this one created. */
    const char *name;
    /*
     * A daemon child is killed (SIGKILL) when its parent dies, however the
     * parent dies, even by SIGKILL. Linux ties this to the parent *thread*
     * that started the child: start daemons from a thread that lives as long
     * as they should.
     */
    bool daemon;
} mt_process_opts;

/*
 * mt_process_new - make a process object for fn(arg, len); copies arg.
 * opts may be NULL for defaults. Returns 0, -EINVAL (fn or out NULL, or arg
 * NULL with len > 0) or -ENOMEM.
 */
int mt_process_new(mt_process **out, mt_fn *fn, const void *arg, size_t len,
                   const mt_process_opts *opts);

/*
 * mt_process_start - fork the child. Returns 0, -EINVAL if already started,
 * or the fork's error (-EAGAIN, -ENOMEM).
 */
int mt_process_start(mt_process *p);

/*
 * mt_process_join - wait for the child to end and reap it. Returns 0 once it
 * has ended (also when already joined), -ETIMEDOUT, or -EINVAL if it was
 * never started or the timeout is NaN. Without a time limit it blocks in waitpid(); with one it
 * polls a pidfd where the kernel has them, else waitpid() with a backoff.
 */
int mt_process_join(mt_process *p, double timeout);

/* mt_process_is_alive - started and not yet ended (reaps it if it has). */
bool mt_process_is_alive(mt_process *p);

/*
 * mt_process_terminate / mt_process_kill - send SIGTERM / SIGKILL.
 * Return 0 (also when the child already ended: nothing is sent), or -EINVAL if
 * never started. Join afterwards to reap it.
 */
int mt_process_terminate(mt_process *p);
int mt_process_kill(mt_process *p);

/*
 * mt_process_exitcode - the child's exit status (0-255), or -N when signal N
 * ended it. Returns false while it has not been reaped (Python's None).
 */
bool mt_process_exitcode(const mt_process *p, int *code);

/* mt_process_pid - the child's pid, or 0 before start. */
pid_t mt_process_pid(const mt_process *p);

/* mt_process_name - the name given or made at creation; owned by p. */
const char *mt_process_name(const mt_process *p);

/* mt_process_daemon - whether p was made a daemon. */
bool mt_process_daemon(const mt_process *p);

/*
 * mt_process_free - release p. A child still running is killed (SIGKILL) and
 * reaped first, so no zombie or orphan is left: join before freeing to let it
 * finish. NULL is ignored.
 */
void mt_process_free(mt_process *p);

/*
 * mt_current_process_name - "MainProcess" in a program's first process, the
 * child's name inside an mt_process, "ForkPoolWorker-N" / "SpawnPoolWorker-N"
 * inside pool workers. Points to a process-global string that stays valid
 * until the next fork.
 */
const char *mt_current_process_name(void);

/* mt_current_process_pid / mt_parent_process_pid - os.getpid / os.getppid. */
pid_t mt_current_process_pid(void);
pid_t mt_parent_process_pid(void);

/*
 * mt_cpu_count - CPUs this process may really use: the CPUs in its affinity
 * mask, lowered to a cgroup CPU quota (cgroup v2 cpu.max or v1
 * cfs_quota_us/cfs_period_us) rounded up. Always at least 1.
 */
int mt_cpu_count(void);

#ifdef __cplusplus
}
#endif
#endif
