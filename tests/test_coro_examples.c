/*
 * test_coro_examples.c - runs the coroutine examples (examples/homework2,
 * homework3, producers_consumers, echo) and checks their lines against the
 * Python originals' and their wall time; homework 3 also under MT_TRACE,
 * checking the timeline it writes.
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "helpers.h"

/* Run examples/<name> with `env` (NAME=value or NULL) and capture its
 * stdout into out; returns the exit status, *secs the wall time. */
static int run_example(const char *name, const char *env, char *out, size_t cap, double *secs)
{
    const char *dir = getenv("MT_EXAMPLES_DIR");
    cr_assert(dir, "MT_EXAMPLES_DIR is not set");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s/%s", env ? env : "", dir, name);
    double t0 = mt_monotonic();
    FILE *p = popen(cmd, "r");
    cr_assert(p, "cannot run %s", cmd);
    size_t len = fread(out, 1, cap - 1, p);
    out[len] = '\0';
    int status = pclose(p);
    *secs = mt_monotonic() - t0;
    return status;
}

LEAK_TEST(coro_examples, homework2_chain_takes_six_seconds, .timeout = 60)
{
    char out[4096];
    double secs;
    cr_assert_eq(run_example("homework2", NULL, out, sizeof out, &secs), 0);
    cr_expect_str_eq(out, "Produce 1\nConsume 1\nProduce 2\nConsume 2\nProduce 3\nConsume 3\n");
    cr_expect(secs > 5.9 && secs < 7.5, "took %.2f s", secs);
}

LEAK_TEST(coro_examples, homework3_queue_takes_six_seconds_and_traces, .timeout = 60)
{
    char out[4096], trace[] = "/tmp/multitask-hw3-XXXXXX.json", env[128];
    int fd = mkstemps(trace, 5);
    cr_assert_geq(fd, 0);
    close(fd);
    snprintf(env, sizeof env, "MT_TRACE=%s", trace);
    double secs;
    cr_assert_eq(run_example("homework3", env, out, sizeof out, &secs), 0);
    const char *want = "producer starts.\nconsumer starts.\nproduce 0\nproduce 1\nconsume 0\n"
                       "produce 2\nconsume 1\nproduce 3\nconsume 2\nproduce 4\nconsume 3\n"
                       "consume 4\nconsumer ends.\nproducer ends.\n";
    cr_expect_eq(strncmp(out, want, strlen(want)), 0, "output:\n%s", out);
    double reported = 0;
    cr_expect_eq(sscanf(out + strlen(want), "%lf  s", &reported), 1, "last line: %s",
                 out + strlen(want));
    cr_expect(reported > 5.9 && reported < 7.0, "reported %.3f s", reported);
    cr_expect(secs > 5.9 && secs < 7.5, "took %.2f s", secs);

    /* The timeline: both tasks' run slices, their sleeps, the queue waits. */
    FILE *f = fopen(trace, "re");
    cr_assert(f);
    static char text[1 << 20];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    fclose(f);
    unlink(trace);
    cr_expect_eq(text[0], '[');
    cr_expect(strstr(text, "\"name\":\"producer\",\"cat\":\"run\""));
    cr_expect(strstr(text, "\"name\":\"consumer\",\"cat\":\"run\""));
    cr_expect(strstr(text, "\"name\":\"sleep\",\"cat\":\"sleep\""));
    cr_expect(strstr(text, "\"name\":\"get wait\",\"cat\":\"queue\""));
    cr_expect(strstr(text, "\"name\":\"join wait\",\"cat\":\"queue\""));
    int sleeps = 0;
    for (const char *s = text; (s = strstr(s, "\"cat\":\"sleep\"")); s++)
        sleeps++;
    cr_expect_eq(sleeps, 10, "five produce and five consume sleeps");
}

LEAK_TEST(coro_examples, producers_and_consumers_share_one_queue, .timeout = 60)
{
    char out[8192];
    double secs;
    cr_assert_eq(run_example("producers_consumers", NULL, out, sizeof out, &secs), 0);
    /* Every item put once, in each producer's order, and got once. */
    for (int p = 0; p < 3; p++) {
        const char *at = out;
        for (int i = 0; i < 4; i++) {
            char put[32], got[32];
            snprintf(put, sizeof put, "p%d put p%d-%d\n", p, p, i);
            snprintf(got, sizeof got, " got p%d-%d\n", p, i);
            const char *hit = strstr(out, put);
            cr_expect(hit && hit >= at, "missing or out of order: %s", put);
            if (hit)
                at = hit;
            cr_expect(strstr(out, got), "never got: %s", got);
        }
    }
    cr_expect(strstr(out, "c0 ends after "));
    cr_expect(strstr(out, "c1 ends after "));
    cr_expect(strstr(out, "12 items in "));
    cr_expect_lt(secs, 5.0);
}

LEAK_TEST(coro_examples, echo_server_replies_to_every_client, .timeout = 60)
{
    char out[4096];
    double secs;
    cr_assert_eq(run_example("echo", NULL, out, sizeof out, &secs), 0);
    cr_expect_str_eq(out, "echo server listening on 127.0.0.1\n"
                          "client 0: 3 of 3 replies match\n"
                          "client 1: 3 of 3 replies match\n"
                          "client 2: 3 of 3 replies match\n"
                          "server closed\n");
}
