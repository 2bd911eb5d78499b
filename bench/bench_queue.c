/*
 * bench_queue.c - mt_queue throughput, beside bench/py/queue_mp.py
 * (multiprocessing.Queue) and bench/py/queue_threads.py (queue.Queue).
 *
 *   bench_queue queue_16 [-n N]        N messages of 16 bytes, 4 KiB or
 *   bench_queue queue_4k [-n N]        1 MiB from a producer process to a
 *   bench_queue queue_1m [-n N]        consumer process, blocking put/get
 *   bench_queue queue_threads [-p P] [-n N]
 *                                      N messages of 16 bytes from P producer
 *                                      threads to P consumer threads
 *
 * Figures: msgs_per_s and mb_per_s (payload bytes). The clock runs from
 * before the consumer starts until it has checked the last message: every
 * message carries its sequence number, and consumers check that they
 * receive each producer's messages whole and in order. The process benches
 * always use one producer and one consumer (-p is only reported).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "multitask.h"

static void report(const bench_args *a, size_t size, long messages, double secs)
{
    bench_json_begin(a);
    bench_json_int("size", (long)size);
    bench_json_num("seconds", secs);
    bench_json_num("msgs_per_s", (double)messages / secs);
    bench_json_num("mb_per_s", (double)messages * (double)size / secs / 1e6);
    bench_json_end();
}

/* ---- between two processes --------------------------------------------- */

/* Stamp message i: its number first, its low byte last. */
static void stamp(char *msg, size_t size, uint64_t i)
{
    memcpy(msg, &i, sizeof i);
    msg[size - 1] = (char)i;
}

static bool stamped(const char *msg, ssize_t len, size_t size, uint64_t i)
{
    uint64_t seq;
    memcpy(&seq, msg, sizeof seq);
    return len == (ssize_t)size && seq == i && msg[size - 1] == (char)i;
}

/* The consumer process: receive n messages into one buffer, check each. */
static int consume(mt_queue *q, size_t size, long n)
{
    char *buf = bench_alloc(size);
    for (long i = 0; i < n; i++) {
        ssize_t len = mt_queue_get_into(q, buf, size, MT_FOREVER);
        if (!stamped(buf, len, size, (uint64_t)i))
            return 1;
    }
    free(buf);
    return 0;
}

static void between_processes(const bench_args *a, size_t size, size_t slots)
{
    mt_queue *q;
    bench_check(mt_queue_new(&q, &(mt_queue_opts){.maxsize = slots, .max_message = size}),
                "mt_queue_new");
    char *msg = bench_alloc(size);
    memset(msg, 'm', size);
    double t0 = bench_now();
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0)
        _exit(consume(q, size, a->n));
    for (long i = 0; i < a->n; i++) {
        stamp(msg, size, (uint64_t)i);
        bench_check(mt_queue_put(q, msg, size, MT_FOREVER), "mt_queue_put");
    }
    int status;
    waitpid(pid, &status, 0);
    double secs = bench_now() - t0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        bench_die("the consumer found a wrong message");
    report(a, size, a->n, secs);
    free(msg);
    mt_queue_free(q);
}

static void run_16(const bench_args *a)
{
    between_processes(a, 16, 1024);
}

static void run_4k(const bench_args *a)
{
    between_processes(a, 4096, 256);
}

static void run_1m(const bench_args *a)
{
    between_processes(a, 1 << 20, 16);
}

/* ---- between threads ------------------------------------------------------ */

typedef struct shared {
    mt_queue *q;
    long per_producer;
    int producers;
    _Atomic long received;
    _Atomic int bad;
} shared;

typedef struct worker {
    shared *s;
    uint64_t id;
} worker;

static void *producer(void *arg)
{
    worker *w = arg;
    for (long i = 0; i < w->s->per_producer; i++) {
        uint64_t msg[2] = {w->id, (uint64_t)i};
        if (mt_queue_put(w->s->q, msg, sizeof msg, MT_FOREVER) < 0)
            atomic_store(&w->s->bad, 1);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    worker *w = arg;
    uint64_t *next = calloc((size_t)w->s->producers, sizeof *next), msg[2];
    long got = 0;
    for (;;) {
        ssize_t n = mt_queue_get_into(w->s->q, msg, sizeof msg, MT_FOREVER);
        if (n == MT_ECLOSED)
            break;
        if (n != sizeof msg || msg[0] >= (uint64_t)w->s->producers || msg[1] < next[msg[0]]) {
            atomic_store(&w->s->bad, 1);
            break;
        }
        next[msg[0]] = msg[1] + 1;
        got++;
    }
    atomic_fetch_add(&w->s->received, got);
    free(next);
    return NULL;
}

static void run_threads(const bench_args *a)
{
    int p = a->processes;
    shared s = {.per_producer = a->n / p, .producers = p};
    bench_check(mt_queue_new(&s.q, &(mt_queue_opts){.maxsize = 1024, .max_message = 16}),
                "mt_queue_new");
    pthread_t *threads = bench_alloc(2 * (size_t)p * sizeof *threads);
    worker *workers = bench_alloc(2 * (size_t)p * sizeof *workers);
    double t0 = bench_now();
    for (int i = 0; i < 2 * p; i++) {
        workers[i] = (worker){&s, (uint64_t)(i % p)};
        pthread_create(&threads[i], NULL, i < p ? consumer : producer, &workers[i]);
    }
    for (int i = p; i < 2 * p; i++)
        pthread_join(threads[i], NULL);
    mt_queue_close(s.q); /* the consumers drain the rest, then stop */
    for (int i = 0; i < p; i++)
        pthread_join(threads[i], NULL);
    double secs = bench_now() - t0;
    long total = s.per_producer * p;
    if (atomic_load(&s.bad) || atomic_load(&s.received) != total)
        bench_die("the consumers found a wrong or missing message");
    report(a, 16, total, secs);
    free(workers);
    free(threads);
    mt_queue_free(s.q);
}

int main(int argc, char **argv)
{
    static const bench_cmd cmds[] = {
        {"queue_16", "16-byte messages, producer process -> consumer process", 1000000, 2,
         run_16},
        {"queue_4k", "4 KiB messages, producer process -> consumer process", 200000, 2, run_4k},
        {"queue_1m", "1 MiB messages, producer process -> consumer process", 2000, 2, run_1m},
        {"queue_threads", "16-byte messages, P producer threads -> P consumer threads", 1000000,
         2, run_threads},
    };
    return bench_main(argc, argv, cmds, sizeof cmds / sizeof cmds[0]);
}
