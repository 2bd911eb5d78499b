/*
 * test_coro_loop.c - the loop itself: it never sleeps past a due timer
 * while it also waits for an fd, and the reports it makes go to the hook
 * the program set (nothing printed).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <time.h>

#include "coro_helpers.h"

/* ---- timers beside an idle fd wait ------------------------------------- */

/* A task that waits for a pipe nobody writes to: libuv then has an fd to
 * watch, so a poll without a timeout would sleep for ever. */
static int idle_reader(void *arg)
{
    int fd = *(int *)arg;
    return mt_co_wait_fd(fd, MT_READABLE, MT_FOREVER);
}

typedef struct sleepers {
    int n;        /* how many sleeper tasks */
    int rounds;   /* how many sleeps each */
    double each;  /* seconds a sleep lasts */
    int woke;     /* sleeps that ended */
} sleepers;

static int short_sleeper(void *arg)
{
    sleepers *s = arg;
    for (int i = 0; i < s->rounds; i++) {
        int r = mt_co_sleep(s->each);
        if (r)
            return r;
        s->woke++;
    }
    return 0;
}

static int sleepers_main(void *arg)
{
    sleepers *s = arg;
    int fds[2];
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    mt_task *reader;
    cr_assert_eq(mt_task_create(&reader, idle_reader, &fds[0], NULL), 0);
    for (int i = 0; i < s->n; i++)
        cr_assert_eq(mt_task_create(NULL, short_sleeper, s, NULL), 0);
    while (s->woke < s->n * s->rounds)
        cr_assert_eq(mt_co_sleep(0.001), 0);
    cr_expect_eq(mt_task_cancel(reader), 0);
    cr_expect_eq(mt_task_await(reader), -ECANCELED);
    mt_task_free(reader);
    mt_co_close(fds[0]);
    close(fds[1]);
    return 0;
}

/* ThreadSanitizer counts each coroutine as a thread (it stops at 8128),
 * and makes each one slow to start and to switch to. */
#ifdef __SANITIZE_THREAD__
enum { NMANY = 500 };
#else
enum { NMANY = 20000 };
#endif

/* Before, a poll now and then began after libuv's timer had fallen due and
 * been consumed, and waited without a timeout: these runs hung within a
 * few seconds (on a busy machine more often). */
LEAK_TEST(coro_loop, many_short_sleeps_beside_an_idle_fd_all_wake, .timeout = 60)
{
    sleepers a = {.n = 100, .rounds = 300, .each = 0.001};
    cr_assert_eq(co_run(sleepers_main, &a), 0);
    cr_expect_eq(a.woke, a.n * a.rounds);
    sleepers b = {.n = NMANY, .rounds = 3, .each = 0.001};
    cr_assert_eq(co_run(sleepers_main, &b), 0);
    cr_expect_eq(b.woke, b.n * b.rounds);
    cr_expect_eq(co_reports[0], '\0', "unexpected report: %s", co_reports);
}

/* The same race made certain: a sleeper's deadline D is armed in libuv,
 * whose clock counts whole milliseconds, so libuv's timer falls due up to
 * 1 ms before D. A byte from another thread ends the poll early; the task
 * that reads it stays busy until just before D. The next poll then begins
 * with libuv's timer already due: before, libuv fired it before polling and
 * then polled an idle pipe without a timeout, so the sleeper never woke. */
typedef struct near_deadline {
    int fds[2];
    double deadline;  /* the sleeper's, on the loop's clock */
    int slept;
} near_deadline;

static void *write_soon(void *arg)
{
    near_deadline *nd = arg;
    nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
    ssize_t w = write(nd->fds[1], "x", 1);
    (void)w;
    return NULL;
}

static int deadline_sleeper(void *arg)
{
    near_deadline *nd = arg;
    nd->deadline = mt_loop_time() + 0.005;
    int r = mt_co_sleep(0.005);
    nd->slept = r == 0;
    return r;
}

static int busy_reader(void *arg)
{
    near_deadline *nd = arg;
    int r = mt_co_wait_fd(nd->fds[0], MT_READABLE, MT_FOREVER);
    if (r < 0)
        return r;
    char c;
    cr_expect_eq(read(nd->fds[0], &c, 1), 1);
    while (mt_loop_time() < nd->deadline - 20e-6)
        ; /* busy, without suspending, until just before the deadline */
    return mt_co_wait_fd(nd->fds[0], MT_READABLE, MT_FOREVER);
}

static int near_deadline_main(void *arg)
{
    near_deadline *nd = arg;
    cr_assert_eq(pipe2(nd->fds, O_CLOEXEC), 0);
    mt_task *sleeper, *reader;
    cr_assert_eq(mt_task_create(&sleeper, deadline_sleeper, nd, NULL), 0);
    cr_assert_eq(mt_task_create(&reader, busy_reader, nd, NULL), 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, write_soon, nd), 0);
    int r = mt_task_await(sleeper);
    pthread_join(th, NULL);
    mt_task_cancel(reader);
    cr_expect_eq(mt_task_await(reader), -ECANCELED);
    mt_task_free(sleeper);
    mt_task_free(reader);
    mt_co_close(nd->fds[0]);
    close(nd->fds[1]);
    return r;
}

LEAK_TEST(coro_loop, a_poll_after_libuvs_timer_fell_due_still_wakes_the_sleeper, .timeout = 30)
{
    for (int run = 0; run < 20; run++) {
        near_deadline nd = {0};
        cr_assert_eq(co_run(near_deadline_main, &nd), 0, "run %d", run);
        cr_expect_eq(nd.slept, 1);
    }
}

/* ---- the report hook --------------------------------------------------- */

typedef struct hook_log {
    char lines[2048];
    int calls;
} hook_log;

static void hook(const char *line, void *arg)
{
    hook_log *h = arg;
    size_t used = strlen(h->lines);
    snprintf(h->lines + used, sizeof h->lines - used, "%s\n", line);
    h->calls++;
}

static int fail_enoent(void *arg)
{
    (void)arg;
    return -ENOENT;
}

static int forgotten_sleeper(void *arg)
{
    (void)arg;
    return mt_co_sleep(100);
}

/* Sets the hook from inside mt_run, then leaves an error unread and a
 * task pending at close. */
static int hooked_main(void *arg)
{
    cr_assert_eq(mt_loop_set_report(mt_loop_current(), hook, arg), 0);
    mt_task *t;
    cr_assert_eq(mt_task_create(&t, fail_enoent, NULL, &(mt_task_opts){.name = "lost"}), 0);
    cr_assert_eq(mt_co_sleep(0.01), 0);
    mt_task_free(t); /* reported now */
    cr_assert_eq(mt_task_create(NULL, forgotten_sleeper, NULL, &(mt_task_opts){.name = "left"}),
                 0);
    return mt_co_yield();
}

/* Sends this process's stderr to a fresh temporary file; returns the fd to
 * put back with stderr_back. */
static int stderr_to(FILE *f)
{
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    cr_assert_geq(saved, 0);
    cr_assert_geq(dup2(fileno(f), STDERR_FILENO), 0);
    return saved;
}

/* Puts stderr back; returns what was written to f meanwhile. */
static const char *stderr_back(int saved, FILE *f, char *buf, size_t cap)
{
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    return buf;
}

LEAK_TEST(coro_loop, reports_go_to_the_hook_and_nothing_is_printed, .timeout = 20)
{
    hook_log h = {0};
    FILE *f = tmpfile();
    cr_assert(f);
    int saved = stderr_to(f);
    int r = mt_run(hooked_main, &h, NULL);
    char printed[1024];
    stderr_back(saved, f, printed, sizeof printed);
    fclose(f);
    cr_expect_eq(r, 0);
    cr_expect(strstr(h.lines, "Task exception was never retrieved: task 'lost' failed: ENOENT"),
              "hook got: %s", h.lines);
    cr_expect(strstr(h.lines, "Task 'left' was still pending when the loop closed"),
              "hook got: %s", h.lines);
    cr_expect_eq(h.calls, 2, "hook got: %s", h.lines);
    cr_expect_str_empty(printed, "printed: %s", printed);
    cr_expect_eq(mt_loop_set_report(NULL, hook, &h), -EINVAL);
}

static int unretrieved_main(void *arg)
{
    (void)arg;
    mt_task *t;
    cr_assert_eq(mt_task_create(&t, fail_enoent, NULL, &(mt_task_opts){.name = "lost"}), 0);
    cr_assert_eq(mt_co_sleep(0.01), 0);
    mt_task_free(t);
    return 0;
}

/* NULL puts the default hook back: the only one that prints. */
LEAK_TEST(coro_loop, the_default_hook_prints_to_stderr, .timeout = 20)
{
    hook_log h = {0};
    mt_loop *l;
    cr_assert_eq(mt_loop_new(&l, &(mt_run_opts){.report = hook, .report_arg = &h}), 0);
    cr_assert_eq(mt_loop_set_report(l, NULL, NULL), 0);
    mt_task *t;
    cr_assert_eq(mt_loop_create_task(l, unretrieved_main, NULL, NULL, &t), 0);
    FILE *f = tmpfile();
    cr_assert(f);
    int saved = stderr_to(f);
    int r = mt_loop_run_until_complete(l, t);
    mt_task_free(t);
    char printed[1024];
    stderr_back(saved, f, printed, sizeof printed);
    fclose(f);
    cr_expect_eq(r, 0);
    cr_expect_eq(mt_loop_free(l), 0);
    cr_expect_eq(h.calls, 0);
    cr_expect(strstr(printed, "Task exception was never retrieved: task 'lost' failed: ENOENT ("),
              "printed: %s", printed);
}
