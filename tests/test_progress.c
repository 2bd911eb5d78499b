/*
 * test_progress.c - the progress layer: arguments, counts that never go
 * back, plain lines and JSON events on a pipe, bars drawn on a terminal
 * only when in its foreground process group, messages printed above the
 * bars, and counts moved from many threads.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <fcntl.h>
#include <pty.h>

#include "helpers.h"

/* Read what is in the pipe now (non-blocking) into buf. */
static size_t drain(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    ssize_t n;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    return len;
}

LEAK_TEST(progress, bad_arguments, .timeout = 10)
{
    mt_progress *p = (mt_progress *)0x1;
    cr_expect_eq(mt_progress_new(NULL, NULL), -EINVAL);
    cr_expect_eq(mt_progress_new(&p, &(mt_progress_opts){.mode = 99}), -EINVAL);
    cr_expect_eq(mt_progress_new(&p, &(mt_progress_opts){.slots = 257}), -EINVAL);
    cr_expect_eq(mt_progress_new(&p, &(mt_progress_opts){.interval = -1}), -EINVAL);
    cr_expect_eq(mt_progress_new(&p, &(mt_progress_opts){.fd = -3}), -EINVAL);
    cr_expect_eq(p, (mt_progress *)0x1, "written on error");
    cr_assert_eq(mt_progress_new(&p, &(mt_progress_opts){.mode = MT_PROGRESS_NONE, .slots = 2}), 0);
    cr_expect_eq(mt_progress_slot_start(p, 2, "x", 0), -EINVAL);
    cr_expect_eq(mt_progress_slot_start(p, -1, "x", 0), -EINVAL);
    cr_expect_eq(mt_progress_slot_start(p, 0, NULL, 0), -EINVAL);
    cr_expect_eq(mt_progress_event(p, NULL, NULL), -EINVAL);
    mt_progress_free(p);
    mt_progress_free(NULL);
    mt_progress_advance(NULL, 1, 1); /* ignored */
}

LEAK_TEST(progress, counts_and_a_growing_total, .timeout = 10)
{
    mt_progress *p;
    mt_progress_stat s;
    cr_assert_eq(mt_progress_new(&p, &(mt_progress_opts){.mode = MT_PROGRESS_NONE}), 0);
    mt_progress_add_total(p, 100, 2);
    mt_progress_advance(p, 60, 1);
    mt_progress_stats(p, &s);
    cr_expect_eq(s.done, 60);
    cr_expect_eq(s.total, 100);
    mt_progress_advance(p, 80, 1); /* more than the total: the total follows */
    mt_progress_skipped(p, 1);
    mt_progress_failed(p, 2);
    mt_progress_stats(p, &s);
    cr_expect_eq(s.done, 140);
    cr_expect_eq(s.total, 140);
    cr_expect_eq(s.items_done, 2);
    cr_expect_eq(s.skipped, 1);
    cr_expect_eq(s.failed, 2);
    mt_progress_add_total(p, 1000, 0);
    mt_progress_stats(p, &s);
    cr_expect_eq(s.total, 1100);
    cr_expect_eq(mt_progress_mode_of(p), MT_PROGRESS_NONE);
    mt_progress_free(p);
}

LEAK_TEST(progress, plain_lines_and_json_events_on_a_pipe, .timeout = 10)
{
    int fds[2];
    char buf[8192];
    cr_assert_eq(pipe(fds), 0);
    mt_progress *p;
    cr_assert_eq(mt_progress_new(&p, &(mt_progress_opts){.mode = MT_PROGRESS_AUTO, .fd = fds[1]}), 0);
    cr_expect_eq(mt_progress_mode_of(p), MT_PROGRESS_NONE, "a pipe is no terminal");
    mt_progress_free(p);

    cr_assert_eq(mt_progress_new(&p, &(mt_progress_opts){.mode = MT_PROGRESS_PLAIN, .fd = fds[1],
                                                         .desc = "copy", .item_unit = "files",
                                                         .interval = 0.01}),
                 0);
    mt_progress_add_total(p, 2048, 4);
    mt_progress_advance(p, 1024, 2);
    mt_sleep(0.02);
    cr_expect(mt_progress_refresh(p));
    cr_expect_not(mt_progress_refresh(p), "drew again within the interval");
    mt_progress_failed(p, 1);
    mt_progress_retried(p, 2);
    cr_expect_eq(mt_progress_finish(p), 0);
    drain(fds[0], buf, sizeof buf);
    cr_expect(strstr(buf, "copy:  50% 1.00 KiB/2.00 KiB  2/4 files"), "%s", buf);
    cr_expect(strstr(buf, "  1 failed  2 retries\n"), "%s", buf);
    char *nl = strchr(buf, '\n');
    cr_expect(nl && !memmem(buf, (size_t)(nl - buf), "retries", 7), "none before the first: %s", buf);
    cr_expect_eq(strchr(buf, '\x1b'), NULL, "escape codes off a terminal");
    mt_progress_free(p);

    cr_assert_eq(mt_progress_new(&p, &(mt_progress_opts){.mode = MT_PROGRESS_JSON, .fd = fds[1],
                                                         .slots = 1, .interval = 0.01}),
                 0);
    mt_progress_add_total(p, 10, 1);
    cr_assert_eq(mt_progress_slot_start(p, 0, "a\"b\n\xff", 10), 0);
    mt_progress_slot_advance(p, 0, 5);
    mt_sleep(0.02);
    cr_expect(mt_progress_refresh(p));
    cr_expect_eq(mt_progress_event(p, "note", "\"n\":1"), 0);
    mt_progress_slot_end(p, 0);
    mt_progress_advance(p, 10, 1);
    mt_progress_retried(p, 3);
    mt_progress_finish(p);
    mt_progress_free(p);
    drain(fds[0], buf, sizeof buf);
    cr_expect(strstr(buf, "\"failed\":0,\"rate\":") && strstr(buf, ",\"retries\":3,\"eta\""),
              "%s", buf);
    cr_expect(strstr(buf, "{\"event\":\"progress\""), "%s", buf);
    cr_expect(strstr(buf, "\"label\":\"a\\\"b\\u000a\\ufffd\",\"done\":5,\"total\":10"), "%s", buf);
    cr_expect(strstr(buf, "{\"event\":\"note\",\"elapsed\":"), "%s", buf);
    cr_expect(strstr(buf, "\"n\":1}\n"), "%s", buf);
    cr_expect(strstr(buf, "{\"event\":\"end\",") && strstr(buf, "\"done\":10,\"total\":10"), "%s",
              buf);
    close(fds[0]);
    close(fds[1]);
}

LEAK_TEST(progress, json_strings, .timeout = 10)
{
    mt_buf b = MT_BUF_INIT;
    cr_assert_eq(mt_progress_json_string(&b, "tab\there \xc3\xa9 \xe2\x82"), 0);
    mt_buf_append(&b, "", 1);
    cr_expect_str_eq(b.data, "\"tab\\u0009here \xc3\xa9 \\ufffd\\ufffd\"");
    mt_buf_free(&b);
    char s[32];
    cr_expect_str_eq(mt_progress_format_size(s, sizeof s, 512), "512 B");
    cr_expect_str_eq(mt_progress_format_size(s, sizeof s, 1536), "1.50 KiB");
    cr_expect_str_eq(mt_progress_format_size(s, sizeof s, 300.0 * (1 << 20)), "300 MiB");
}

/* On a terminal whose foreground we are not, bars are not drawn. */
LEAK_TEST(progress, no_bars_unless_in_the_foreground, .timeout = 10)
{
    int master, slave;
    char buf[4096];
    cr_assert_eq(openpty(&master, &slave, NULL, NULL, NULL), 0);
    mt_progress *p;
    cr_assert_eq(mt_progress_new(&p, &(mt_progress_opts){.mode = MT_PROGRESS_AUTO, .fd = slave,
                                                         .interval = 0.01}),
                 0);
    cr_expect_eq(mt_progress_mode_of(p), MT_PROGRESS_BARS);
    mt_progress_add_total(p, 10, 1);
    mt_sleep(0.02);
    cr_expect_not(mt_progress_refresh(p));
    mt_progress_free(p);
    cr_expect_eq(drain(master, buf, sizeof buf), 0, "drew: %s", buf);
    close(master);
    close(slave);
}

/* A child that owns a terminal draws bars, and messages go above them. */
LEAK_TEST(progress, bars_in_the_foreground, .timeout = 10)
{
    int master;
    char buf[16384];
    struct winsize ws = {.ws_row = 24, .ws_col = 100};
    pid_t pid = forkpty(&master, NULL, NULL, &ws);
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        mt_progress *p;
        if (mt_progress_new(&p, &(mt_progress_opts){.desc = "job", .slots = 2, .interval = 0.01}) < 0)
            _exit(1);
        mt_progress_add_total(p, 4 << 20, 3);
        mt_progress_slot_start(p, 0, "dir/first-file", 1 << 20);
        mt_progress_slot_advance(p, 0, 1 << 19);
        mt_progress_advance(p, 1 << 20, 1);
        mt_sleep(0.02);
        if (!mt_progress_refresh(p))
            _exit(2);
        mt_progress_print(p, 2, "a message");
        mt_progress_finish(p);
        mt_progress_free(p);
        _exit(0);
    }
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 && (n = read(master, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    close(master);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    cr_expect(strstr(buf, "job  25%"), "%s", buf);
    cr_expect(strstr(buf, "[0] dir/first-file   50% 512 KiB/1.00 MiB"), "%s", buf);
    cr_expect(strstr(buf, "[1] -"), "%s", buf);
    cr_expect(strstr(buf, "\x1b[2A"), "bars not redrawn in place: %s", buf);
    cr_expect(strstr(buf, "a message"), "%s", buf);
}

static mt_progress *shared;

static void *adder(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10000; i++) {
        mt_progress_add_total(shared, 3, 1);
        mt_progress_advance(shared, 3, 1);
        mt_progress_refresh(shared);
    }
    return NULL;
}

LEAK_TEST(progress, counts_from_many_threads, .timeout = 20)
{
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    cr_assert_eq(mt_progress_new(&shared, &(mt_progress_opts){.mode = MT_PROGRESS_JSON, .fd = fd,
                                                              .interval = 0.001}),
                 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, adder, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    mt_progress_stat s;
    mt_progress_stats(shared, &s);
    cr_expect_eq(s.done, 120000);
    cr_expect_eq(s.total, 120000);
    cr_expect_eq(s.items_done, 40000);
    mt_progress_free(shared);
    close(fd);
}
