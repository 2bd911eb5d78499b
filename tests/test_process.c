/*
 * test_process.c - mt_process: life cycle, exit codes, signals, names,
 * daemons, bad arguments, and mt_cpu_count.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdlib.h>

#include "helpers.h"

static int succeed(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len, (void)out;
    return 0;
}

static int fail(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len;
    return mt_fail(out, -EIO, "failing on purpose");
}

static int exit_with(const void *arg, size_t len, mt_buf *out)
{
    (void)len, (void)out;
    exit(*(const int *)arg);
}

static int sleep_for(const void *arg, size_t len, mt_buf *out)
{
    (void)len, (void)out;
    double s;
    memcpy(&s, arg, sizeof s);
    mt_sleep(s);
    return 0;
}

/* Write "name pid ppid" to the pipe whose write end is the argument. */
static int report_identity(const void *arg, size_t len, mt_buf *out)
{
    (void)len, (void)out;
    int fd = *(const int *)arg;
    dprintf(fd, "%s %d %d", mt_current_process_name(), (int)mt_current_process_pid(),
            (int)mt_parent_process_pid());
    return 0;
}

static int bump_global(const void *arg, size_t len, mt_buf *out);
static int global_num = 10;
static int bump_global(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len, (void)out;
    global_num += 1;
    return global_num == 11 ? 0 : -EINVAL;
}

static int run(mt_fn *fn, const void *arg, size_t len, const mt_process_opts *o)
{
    mt_process *p;
    cr_assert_eq(mt_process_new(&p, fn, arg, len, o), 0);
    cr_assert_eq(mt_process_start(p), 0);
    cr_assert_eq(mt_process_join(p, 10), 0);
    int code = 12345;
    cr_assert(mt_process_exitcode(p, &code));
    mt_process_free(p);
    return code;
}

LEAK_TEST(process, exit_codes, .timeout = 30)
{
    cr_expect_eq(run(succeed, NULL, 0, NULL), 0);
    cr_expect_eq(run(fail, NULL, 0, NULL), 1, "a failed task exits with 1, like an exception");
    int seven = 7;
    cr_expect_eq(run(exit_with, &seven, sizeof seven, NULL), 7);
}

LEAK_TEST(process, globals_are_copies, .timeout = 30)
{
    cr_expect_eq(run(bump_global, NULL, 0, NULL), 0, "the child sees 10 and makes it 11");
    cr_expect_eq(global_num, 10, "the parent's copy is untouched");
}

LEAK_TEST(process, join_timeout_then_kill, .timeout = 30)
{
    double s = 30;
    mt_process *p;
    cr_assert_eq(mt_process_new(&p, sleep_for, &s, sizeof s, NULL), 0);
    int code;
    cr_expect_not(mt_process_exitcode(p, &code));
    cr_expect_eq(mt_process_join(p, 0), -EINVAL, "not started");
    cr_expect_eq(mt_process_pid(p), 0);
    cr_assert_eq(mt_process_start(p), 0);
    cr_expect_eq(mt_process_start(p), -EINVAL, "started twice");
    cr_expect_gt(mt_process_pid(p), 0);
    cr_expect(mt_process_is_alive(p));
    double t0 = mt_monotonic();
    cr_expect_eq(mt_process_join(p, NAN), -EINVAL, "a NaN timeout");
    cr_expect_eq(mt_process_join(p, 0.1), -ETIMEDOUT);
    cr_expect_geq(mt_monotonic() - t0, 0.1);
    cr_expect_not(mt_process_exitcode(p, &code), "no exit code while running");
    cr_expect_eq(mt_process_kill(p), 0);
    cr_expect_eq(mt_process_join(p, 10), 0);
    cr_expect_not(mt_process_is_alive(p));
    cr_assert(mt_process_exitcode(p, &code));
    cr_expect_eq(code, -SIGKILL);
    cr_expect_eq(mt_process_join(p, 0), 0, "joining again is fine");
    cr_expect_eq(mt_process_kill(p), 0, "signalling a reaped child sends nothing");
    mt_process_free(p);
}

LEAK_TEST(process, terminate_gives_minus_sigterm, .timeout = 30)
{
    double s = 30;
    mt_process *p;
    mt_process_new(&p, sleep_for, &s, sizeof s, NULL);
    mt_process_start(p);
    cr_expect_eq(mt_process_terminate(p), 0);
    cr_expect_eq(mt_process_join(p, 10), 0);
    int code;
    mt_process_exitcode(p, &code);
    cr_expect_eq(code, -SIGTERM);
    mt_process_free(p);
}

LEAK_TEST(process, names_and_identity, .timeout = 30)
{
    cr_expect_str_eq(mt_current_process_name(), "MainProcess");
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    mt_process *p;
    cr_assert_eq(mt_process_new(&p, report_identity, &fds[1], sizeof fds[1],
                                &(mt_process_opts){.name = "reporter"}),
                 0);
    cr_expect_str_eq(mt_process_name(p), "reporter");
    cr_expect_not(mt_process_daemon(p));
    mt_process_start(p);
    mt_process_join(p, 10);
    close(fds[1]);
    char buf[256] = {0};
    cr_assert_gt(read(fds[0], buf, sizeof buf - 1), 0);
    close(fds[0]);
    char name[64];
    int pid, ppid;
    cr_assert_eq(sscanf(buf, "%63s %d %d", name, &pid, &ppid), 3);
    cr_expect_str_eq(name, "reporter");
    cr_expect_eq(pid, mt_process_pid(p));
    cr_expect_eq(ppid, getpid());
    mt_process_free(p);

    mt_process *a, *b;
    mt_process_new(&a, succeed, NULL, 0, NULL);
    mt_process_new(&b, succeed, NULL, 0, NULL);
    int na, nb;
    cr_assert_eq(sscanf(mt_process_name(a), "Process-%d", &na), 1);
    cr_assert_eq(sscanf(mt_process_name(b), "Process-%d", &nb), 1);
    cr_expect_eq(nb, na + 1);
    mt_process_free(a);
    mt_process_free(b);
}

LEAK_TEST(process, argument_bytes_are_copied, .timeout = 30)
{
    int code = 3;
    mt_process *p;
    cr_assert_eq(mt_process_new(&p, exit_with, &code, sizeof code, NULL), 0);
    code = 99; /* changing the caller's bytes after new must not matter */
    mt_process_start(p);
    mt_process_join(p, 10);
    mt_process_exitcode(p, &code);
    cr_expect_eq(code, 3);
    mt_process_free(p);
}

LEAK_TEST(process, free_kills_and_reaps_a_running_child, .timeout = 30)
{
    double s = 30;
    mt_process *p;
    mt_process_new(&p, sleep_for, &s, sizeof s, NULL);
    mt_process_start(p);
    pid_t pid = mt_process_pid(p);
    mt_process_free(p);
    cr_expect_not(pid_alive(pid));
}

LEAK_TEST(process, bad_arguments)
{
    mt_process *p = NULL;
    cr_expect_eq(mt_process_new(NULL, succeed, NULL, 0, NULL), -EINVAL);
    cr_expect_eq(mt_process_new(&p, NULL, NULL, 0, NULL), -EINVAL);
    cr_expect_eq(mt_process_new(&p, succeed, NULL, 5, NULL), -EINVAL);
    cr_expect_null(p);
    cr_expect_eq(mt_process_start(NULL), -EINVAL);
    cr_expect_eq(mt_process_join(NULL, 0), -EINVAL);
    cr_expect_eq(mt_process_terminate(NULL), -EINVAL);
    cr_expect_not(mt_process_is_alive(NULL));
    mt_process_free(NULL);
}

/* In an intermediate process: start a daemon that sleeps, report its pid on
 * the pipe, then wait to be killed. */
static int start_daemon_then_wait(const void *arg, size_t len, mt_buf *out)
{
    (void)len, (void)out;
    int fd = *(const int *)arg;
    double s = 60;
    mt_process *d;
    mt_process_new(&d, sleep_for, &s, sizeof s, &(mt_process_opts){.daemon = true});
    mt_process_start(d);
    pid_t pid = mt_process_pid(d);
    if (write(fd, &pid, sizeof pid) != sizeof pid) return -EIO;
    mt_sleep(60);
    return 0;
}

LEAK_TEST(process, daemons_die_with_a_killed_parent, .timeout = 30)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    mt_process *parent;
    mt_process_new(&parent, start_daemon_then_wait, &fds[1], sizeof fds[1], NULL);
    mt_process_start(parent);
    close(fds[1]);
    pid_t daemon_pid = 0;
    cr_assert_eq(read(fds[0], &daemon_pid, sizeof daemon_pid), (ssize_t)sizeof daemon_pid);
    close(fds[0]);
    cr_assert(pid_alive(daemon_pid));
    mt_process_kill(parent);
    mt_process_join(parent, 10);
    double t0 = mt_monotonic();
    while (pid_alive(daemon_pid) && mt_monotonic() - t0 < 1.0)
        mt_sleep(0.01);
    cr_expect_not(pid_alive(daemon_pid), "the daemon outlived its SIGKILLed parent");
    mt_process_free(parent);
}

LEAK_TEST(process, cpu_count_respects_affinity)
{
    int n = mt_cpu_count();
    cr_expect_geq(n, 1);
    cr_expect_leq(n, sysconf(_SC_NPROCESSORS_ONLN));
    cpu_set_t old, one;
    sched_getaffinity(0, sizeof old, &old);
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &old)) {
            CPU_SET(c, &one);
            break;
        }
    cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);
    cr_expect_eq(mt_cpu_count(), 1);
    sched_setaffinity(0, sizeof old, &old);
}

LEAK_TEST(process, sigchld_ignored_still_joins, .timeout = 30)
{
    signal(SIGCHLD, SIG_IGN);
    mt_process *p;
    mt_process_new(&p, succeed, NULL, 0, NULL);
    mt_process_start(p);
    cr_expect_eq(mt_process_join(p, 10), 0);
    int code;
    cr_expect(mt_process_exitcode(p, &code));
    cr_expect_eq(code, 255, "the kernel reaped it: the status is unknown");
    mt_process_free(p);
    signal(SIGCHLD, SIG_DFL);
}
