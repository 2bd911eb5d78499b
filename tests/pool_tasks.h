/*
 * pool_tasks.h - task functions the pool suites share. They live in the test
 * executable, so they also run in workers started with MT_START_SPAWN.
 */
#ifndef MT_TEST_POOL_TASKS_H
#define MT_TEST_POOL_TASKS_H

#include <signal.h>
#include <stdlib.h>

#include "helpers.h"

static inline int square(const void *arg, size_t len, mt_buf *out)
{
    long x;
    if (len != sizeof x)
        return mt_fail(out, -EINVAL, "want %zu bytes, got %zu", sizeof x, len);
    memcpy(&x, arg, sizeof x);
    x *= x;
    return mt_buf_append(out, &x, sizeof x);
}

/* Echo the argument back, reversed, so that a wrong or shared buffer shows. */
static inline int reverse(const void *arg, size_t len, mt_buf *out)
{
    int err = mt_buf_reserve(out, len);
    if (err)
        return err;
    for (size_t i = 0; i < len; i++)
        out->data[i] = ((const char *)arg)[len - 1 - i];
    out->len = len;
    return 0;
}

/* Fail when the argument (a long) is odd. */
static inline int fail_odd(const void *arg, size_t len, mt_buf *out)
{
    (void)len;
    long x = read_long(arg);
    if (x % 2)
        return mt_fail(out, -EDOM, "%ld is odd", x);
    return mt_buf_append(out, &x, sizeof x);
}

/* Sleep for the given number of seconds (a double), then return our pid. */
static inline int nap(const void *arg, size_t len, mt_buf *out)
{
    double s = 0;
    if (len == sizeof s)
        memcpy(&s, arg, sizeof s);
    mt_sleep(s);
    pid_t pid = getpid();
    return mt_buf_append(out, &pid, sizeof pid);
}

static inline int my_pid(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len;
    pid_t pid = getpid();
    return mt_buf_append(out, &pid, sizeof pid);
}

static inline int my_name(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len;
    return mt_buf_printf(out, "%s", mt_current_process_name());
}

static inline int kill_myself(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len, (void)out;
    raise(SIGKILL);
    return 0;
}

static inline int segfault(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len, (void)out;
    raise(SIGSEGV);
    return 0;
}

static inline int exit_three(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len, (void)out;
    exit(3);
}

/* Kill the worker when the argument (a long) is 13. */
static inline int die_on_13(const void *arg, size_t len, mt_buf *out)
{
    if (read_long(arg) == 13)
        raise(SIGKILL);
    return square(arg, len, out);
}

/* Sum the packed arguments' bytes (starmap). */
static inline int sum_args(const void *arg, size_t len, mt_buf *out)
{
    mt_iov parts[8];
    int n = mt_unpack(arg, len, parts, 8);
    if (n < 0)
        return mt_fail(out, n, "not a pack");
    long sum = 0;
    for (int i = 0; i < n && i < 8; i++)
        sum += read_long(parts[i].data);
    return mt_buf_append(out, &sum, sizeof sum);
}

/* Make `n` bytes (a size_t argument) of a known pattern. */
static inline int make_bytes(const void *arg, size_t len, mt_buf *out)
{
    (void)len;
    size_t n;
    memcpy(&n, arg, sizeof n);
    int err = mt_buf_reserve(out, n);
    if (err)
        return err;
    for (size_t i = 0; i < n; i++)
        out->data[i] = (char)(i * 7 + 3);
    out->len = n;
    return 0;
}

/* The initializer sets this; tasks report it. */
static long init_value;
static inline int set_init_value(const void *arg, size_t len, mt_buf *out)
{
    (void)out;
    if (len != sizeof init_value)
        return -EINVAL;
    memcpy(&init_value, arg, sizeof init_value);
    return 0;
}
static inline int get_init_value(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len;
    return mt_buf_append(out, &init_value, sizeof init_value);
}
static inline int refuse_init(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len;
    return mt_fail(out, -EACCES, "initializer says no");
}

/* No result for a 0 byte; fail for a 1 byte (a filter that rarely matches). */
static inline int empty_unless_marked(const void *arg, size_t len, mt_buf *out)
{
    if (len == 1 && *(const char *)arg == 1)
        return mt_fail(out, -EDOM, "marked");
    return 0;
}

static inline mt_pool *new_pool(int processes)
{
    mt_pool *p = NULL;
    cr_assert_eq(mt_pool_new(&p, &(mt_pool_opts){.processes = processes}), 0);
    return p;
}

/* Close, join and free: the way a well-behaved program ends a pool. */
static inline void end_pool(mt_pool *p)
{
    cr_expect_eq(mt_pool_close(p), 0);
    cr_expect_eq(mt_pool_join(p, 30), 0);
    mt_pool_free(p);
}

#endif
