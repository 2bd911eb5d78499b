/*
 * test_core.c - errors, time, buffers, packing.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>

#include "helpers.h"

#include "../src/core/core_internal.h"

Test(core, error_names_and_messages)
{
    cr_expect_str_eq(mt_err_name(-EAGAIN), "EAGAIN");
    cr_expect_str_eq(mt_err_name(MT_EWORKER), "MT_EWORKER");
    cr_expect_str_eq(mt_err_name(MT_EOF), "MT_EOF");
    cr_expect_str_eq(mt_err_name(-99999), "EUNKNOWN");
    cr_expect_str_eq(mt_strerror(-ETIMEDOUT), "timed out");
    cr_expect_str_eq(mt_strerror(-ENOENT), "No such file or directory");
    cr_expect_str_eq(mt_strerror(MT_ECLOSED), "closed: it takes no more work or items");
    cr_expect_str_eq(mt_strerror(MT_EKEY), "no such key");
    cr_expect_str_eq(mt_strerror(MT_EINDEX), "index out of range");
    cr_expect_str_eq(mt_err_name(MT_ENOTCORO), "MT_ENOTCORO");
    cr_expect_str_eq(mt_strerror(MT_EBROKEN), "pool is broken: its workers cannot start");
    cr_expect_str_eq(mt_strerror(-12345), "unknown error");
    cr_expect_str_eq(mt_strerror(0), "success");
}

/* INT_MIN has no negation: both must answer without overflowing (UBSan). */
Test(core, error_names_of_extreme_codes)
{
    cr_expect_str_eq(mt_err_name(INT_MIN), "EUNKNOWN");
    cr_expect_str_eq(mt_strerror(INT_MIN), "unknown error");
    cr_expect_str_eq(mt_err_name(INT_MAX), "EUNKNOWN");
    cr_expect_str_eq(mt_strerror(INT_MAX),
                     "positive error code 2147483647: multitask returns negative codes");
}

/* A positive errno is the caller's slip (a missing minus): say so. */
Test(core, strerror_of_a_positive_errno_says_so)
{
    cr_expect_str_eq(mt_strerror(EIO), "positive error code 5: multitask returns negative codes (-EIO)");
    cr_expect_str_eq(mt_strerror(12345), "positive error code 12345: multitask returns negative codes");
    cr_expect_str_eq(mt_err_name(EIO), "EUNKNOWN");
}

/* Each thread has its own buffer for those messages. */
static void *positive_messages(void *arg)
{
    int code = *(int *)arg;
    char want[128];
    snprintf(want, sizeof want, "positive error code %d: multitask returns negative codes (-%s)",
             code, mt_err_name(-code));
    for (int i = 0; i < 20000; i++) {
        const char *msg = mt_strerror(code);
        sched_yield();
        if (strcmp(msg, want) != 0)
            return (void *)1;
    }
    return NULL;
}

Test(core, strerror_of_positive_codes_is_thread_safe, .timeout = 60)
{
    int codes[] = {EIO, ENOENT, EAGAIN, EPIPE};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, positive_messages, &codes[i]), 0);
    for (int i = 0; i < 4; i++) {
        void *bad;
        pthread_join(th[i], &bad);
        cr_expect_null(bad, "thread %d read another thread's message", i);
    }
}

Test(core, version)
{
    cr_expect_str_eq(mt_version(), MT_VERSION_STRING);
}

Test(core, sleep_sleeps_and_rejects_bad_durations)
{
    double t0 = mt_monotonic();
    cr_assert_eq(mt_sleep(0.05), 0);
    double dt = mt_monotonic() - t0;
    cr_expect_geq(dt, 0.05);
    cr_expect_eq(mt_sleep(-1), -EINVAL);
    cr_expect_eq(mt_sleep(NAN), -EINVAL);
    cr_expect_eq(mt_sleep(INFINITY), -EINVAL);
}

Test(core, clocks)
{
    cr_expect_gt(mt_time(), 1.6e9);
    uint64_t a = mt_monotonic_ns(), b = mt_monotonic_ns();
    cr_expect_geq(b, a);
}

Test(buf, append_printf_move)
{
    mt_buf b = MT_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(mt_buf_append(&b, "ab", 2), 0);
    cr_expect_eq(b.len, 2000);
    cr_assert_eq(mt_buf_printf(&b, "%d-%s", 42, "x"), 0);
    cr_expect_eq(b.len, 2004);
    cr_expect_eq(memcmp(b.data + 2000, "42-x", 4), 0);
    cr_expect_eq(b.data[b.len], '\0');
    mt_buf c = MT_BUF_INIT;
    mt_buf_move(&c, &b);
    cr_expect_eq(b.data, NULL);
    cr_expect_eq(c.len, 2004);
    mt_buf_reset(&c);
    cr_expect_eq(c.len, 0);
    mt_buf_free(&c);
    mt_buf_free(&c); /* twice is harmless */
}

Test(buf, grow_refuses_absurd_sizes)
{
    mt_buf b = MT_BUF_INIT;
    cr_expect_eq(mt_buf_reserve(&b, SIZE_MAX), -ENOMEM);
    cr_expect_eq(b.data, NULL);
}

Test(task, fail_writes_the_message)
{
    mt_buf b = MT_BUF_INIT;
    mt_buf_append(&b, "partial", 7);
    cr_expect_eq(mt_fail(&b, -ENOENT, "no file %s", "x"), -ENOENT);
    cr_expect_eq(b.len, 9);
    cr_expect_eq(memcmp(b.data, "no file x", 9), 0);
    cr_expect_eq(mt_fail(&b, 5, "positive"), MT_EFAILED);
    mt_buf_free(&b);
}

Test(task, pack_and_unpack)
{
    mt_buf b = MT_BUF_INIT;
    mt_iov in[3] = {{"alpha", 5}, {"", 0}, {"\0\1\2", 3}};
    cr_assert_eq(mt_pack(&b, in, 3), 0);
    mt_iov out[3];
    cr_assert_eq(mt_unpack(b.data, b.len, out, 3), 3);
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(out[i].len, in[i].len);
        cr_expect_eq(memcmp(out[i].data, in[i].data, in[i].len), 0);
    }
    /* More ranges than room: the count still says how many. */
    cr_expect_eq(mt_unpack(b.data, b.len, out, 1), 3);
    /* Truncated or padded bytes are not a pack. */
    cr_expect_eq(mt_unpack(b.data, b.len - 1, out, 3), -EINVAL);
    mt_buf_append(&b, "x", 1);
    cr_expect_eq(mt_unpack(b.data, b.len, out, 3), -EINVAL);
    cr_expect_eq(mt_unpack(NULL, 0, out, 3), -EINVAL);
    /* A range with no data but a length is refused, not read (it crashed). */
    size_t len = b.len;
    mt_iov bad[2] = {{"ok", 2}, {NULL, 5}};
    cr_expect_eq(mt_pack(&b, bad, 2), -EINVAL);
    cr_expect_eq(mt_pack(&b, NULL, 1), -EINVAL);
    cr_expect_eq(mt_pack(NULL, in, 1), -EINVAL);
    cr_expect_eq(b.len, len, "nothing appended");
    mt_buf_free(&b);
}

/* The library's own ceil (it links no libm) against libm's. */
LEAK_TEST(core, ceil_without_libm_matches_libm)
{
    const double xs[] = {0.0,   -0.0, 0.5,  1.0,  1.0000001, -0.5,         -1.5,
                         -2.0,  3e9,  3e9 + 0.25, 1e18 + 0.5, 2.5e-300,   -2.5e-300,
                         4.9999999999};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++)
        cr_expect_eq(mt__ceil_i64(xs[i]), (int64_t)ceil(xs[i]), "ceil(%.17g)", xs[i]);
}

/* ---- the trace file is JSON once the program ends -------------------- */

/* The whole file at path, NUL-terminated, in a static buffer. */
static const char *slurp(const char *path)
{
    static char text[1 << 16];
    FILE *f = fopen(path, "re");
    size_t len = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[len] = '\0';
    return text;
}

/* Whether Python's json module takes the file, and it holds `events`
 * events (any number when -1); 1 when it does, 0 when not, -1 without a
 * python3 to ask. */
static int python_json_ok(const char *path, int events)
{
    if (access("/usr/bin/python3", X_OK) != 0)
        return -1;
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); "
             "sys.exit(0 if %d in (-1, len(e)) else 1)' %s",
             events, path);
    return system(cmd) == 0;
}

/* A traced program: a slice from itself and one from a forked child that
 * exits normally too (the child must not close the array), then a normal
 * exit without mt_trace_stop. */
static void traced_program(const char *path)
{
    if (mt_trace_start(path) != 0)
        _exit(3);
    mt_trace_track_name(1, "main \"quoted\"");
    mt_trace_slice("parent", "run", 1, 1000, 2000);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        mt_trace_slice("child", "run", 2, 3000, 4000);
        exit(0); /* atexit handlers run here too */
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || st != 0)
        _exit(4);
    mt_trace_slice("after", "run", 1, 5000, 6000);
    exit(0);
}

LEAK_TEST(trace, the_file_is_json_after_a_normal_exit, .timeout = 30)
{
    if (mt_trace_enabled()) /* MT_TRACE set for the whole run: leave it be */
        return;
    char path[] = "/tmp/multitask-trace-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        traced_program(path);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "traced program: status %d", st);
    const char *text = slurp(path);
    size_t len = strlen(text);
    /* name, 3 slices and the end record, each on a line of its own. */
    cr_expect(len > 4 && strncmp(text, "[\n", 2) == 0, "%s", text);
    cr_expect(len > 4 && strcmp(text + len - 4, "}\n]\n") == 0, "not closed:\n%s", text);
    cr_expect_eq(strstr(text, "]\n") - text, (ptrdiff_t)len - 2, "closed twice:\n%s", text);
    cr_expect(strstr(text, "\"child\""), "the child's slice is missing:\n%s", text);
    cr_expect_neq(python_json_ok(path, 5), 0, "python's json refuses it:\n%s", text);
    unlink(path);
}

LEAK_TEST(trace, the_file_is_json_after_stop, .timeout = 30)
{
    if (mt_trace_enabled())
        return;
    char path[] = "/tmp/multitask-trace-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(mt_trace_start(path), 0);
    mt_trace_slice("one", "run", 1, 1000, 2000);
    mt_trace_stop();
    mt_trace_stop(); /* harmless, and no second bracket */
    const char *text = slurp(path);
    size_t len = strlen(text);
    cr_expect(len > 4 && strcmp(text + len - 4, "}\n]\n") == 0, "not closed:\n%s", text);
    cr_expect_neq(python_json_ok(path, 2), 0, "python's json refuses it:\n%s", text);
    /* A slice after the stop goes nowhere. */
    mt_trace_slice("late", "run", 1, 3000, 4000);
    cr_expect_null(strstr(slurp(path), "late"));
    unlink(path);
}

/* MT_TRACE=file: a program traced from its start, with pool workers adding
 * their slices, leaves a JSON array once it returns from main. */
LEAK_TEST(trace, mt_trace_with_pool_workers_gives_json, .timeout = 90)
{
    const char *dir = getenv("MT_EXAMPLES_DIR");
    char prog[512];
    snprintf(prog, sizeof prog, "%s/pool_get", dir ? dir : "");
    if (!dir || access(prog, X_OK) != 0)
        cr_skip_test("the examples are not built");
    char path[] = "/tmp/multitask-trace-XXXXXX", env[128];
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    snprintf(env, sizeof env, "MT_TRACE=%s", path);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        dup2(null, 1);
        putenv(env);
        unsetenv("MT__TRACE_APPEND"); /* a trace of its own, from its start */
        execl(prog, "pool_get", (char *)NULL);
        _exit(127);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "pool_get: status %d", st);
    const char *text = slurp(path);
    size_t len = strlen(text);
    cr_expect(strstr(text, "\"cat\":\"pool\""), "no worker's slice:\n%s", text);
    cr_expect(len > 4 && strcmp(text + len - 4, "}\n]\n") == 0, "not closed:\n%s", text);
    cr_expect_neq(python_json_ok(path, -1), 0, "python's json refuses it:\n%s", text);
    unlink(path);
}
