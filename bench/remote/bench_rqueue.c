/*
 * bench_rqueue.c - mt_queue on a Redis server: 16-byte messages from one
 * producer process to one consumer process.
 *
 *   bench_rqueue URL N
 *
 * URL names the queue (redis://host[:port][/db]/NAME or
 * redis+unix:///path/NAME); whatever queue has that name is removed first,
 * and the queue made (maxsize 1024, max_message 16) is removed at the end.
 * The producer puts N messages (blocking puts), the consumer gets them
 * (blocking gets) and checks that each is whole and in order. The clock
 * runs from before the consumer is forked until both processes are done.
 * Prints one JSON line:
 *   {"name": "queue 16 B put+get, 2 processes", "ops": N, "seconds": S, "rate": R}
 * where rate is N / S, messages per second. Exits 1, printing nothing on
 * stdout, when a call fails or a message is wrong.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "multitask.h"

enum { SIZE = 16, SLOTS = 1024 };

static void die(const char *what, int err)
{
    fprintf(stderr, "bench_rqueue: %s: %s\n", what, mt_strerror(err));
    exit(1);
}

static void stamp(char *msg, uint64_t i)
{
    snprintf(msg, SIZE + 1, "m%015" PRIu64, i % 1000000000000000u);
}

/* The consumer process: N messages, each checked. */
static int consume(const char *url, long n)
{
    mt_queue *q;
    int err = mt_queue_open(&q, url);
    if (err < 0) die("mt_queue_open", err);
    char buf[SIZE], want[SIZE + 1];
    for (long i = 0; i < n; i++) {
        ssize_t len = mt_queue_get_into(q, buf, sizeof buf, MT_FOREVER);
        if (len < 0) die("mt_queue_get_into", (int)len);
        stamp(want, (uint64_t)i);
        if (len != SIZE || memcmp(buf, want, SIZE)) {
            fprintf(stderr, "bench_rqueue: message %ld is wrong\n", i);
            return 1;
        }
    }
    mt_queue_free(q);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3 || atol(argv[2]) <= 0) {
        fprintf(stderr, "usage: bench_rqueue URL N\n");
        return 2;
    }
    const char *url = argv[1];
    long n = atol(argv[2]);
    int err = mt_queue_unlink(url);
    if (err < 0 && err != -ENOENT) die("mt_queue_unlink", err);
    mt_queue *q;
    err = mt_queue_new(&q, &(mt_queue_opts){.name = url, .maxsize = SLOTS, .max_message = SIZE});
    if (err < 0) die("mt_queue_new", err);
    char msg[SIZE + 1];
    double t0 = mt_monotonic();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) die("fork", -errno);
    if (pid == 0) _exit(consume(url, n));
    for (long i = 0; i < n; i++) {
        stamp(msg, (uint64_t)i);
        if ((err = mt_queue_put(q, msg, SIZE, MT_FOREVER)) < 0) die("mt_queue_put", err);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_rqueue: the consumer failed\n");
        return 1;
    }
    double secs = mt_monotonic() - t0;
    mt_queue_free(q);
    if ((err = mt_queue_unlink(url)) < 0) die("mt_queue_unlink", err);
    printf("{\"name\": \"queue 16 B put+get, 2 processes\", \"ops\": %ld, \"seconds\": %.6f, "
           "\"rate\": %.1f}\n",
           n, secs, (double)n / secs);
    return 0;
}
