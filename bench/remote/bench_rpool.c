/*
 * bench_rpool.c - a pool on a Redis server with two worker machines (two
 * processes here, on the same host), for the comparison with Celery and RQ
 * on the same server.
 *
 *   bench_rpool URL N [PROCESSES]
 *
 * starts 2 worker processes serving URL (each with PROCESSES processes
 * running the calls, 1 unless given, so that two workers are two
 * processes at work, as two Celery workers with --concurrency 1 or two RQ
 * workers are), then:
 *   1. N tiny calls, each returning its 8-byte argument, sent with one
 *      mt_pool_map (the calls travel in stream entries of up to 256 calls,
 *      each answered and acknowledged on its own), and waits for all of
 *      them; every result is checked;
 *   2. 1000 mt_pool_apply in a row: one call's round trip, client to
 *      server to worker to server to client.
 * and prints one JSON line for each:
 *   {"name": "pool 100k tiny tasks, 2 workers", "ops": N, "seconds": S, "rate": R}
 *   {"name": "pool apply round trip", "ops": 1000, "seconds": S, "rate": R, "us_per_op": U}
 * Exits 1 with a message on stderr when a call fails or a result is wrong.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "multitask.h"

#define WORKERS 2
#define APPLIES 1000

static int ident(const void *arg, size_t len, mt_buf *out)
{
    return mt_buf_append(out, arg, len);
}
MT_FN_REGISTER(ident)

static void die(const char *what, int err)
{
    fprintf(stderr, "bench_rpool: %s: %s\n", what, mt_strerror(err));
    exit(1);
}

static pid_t start_worker(const char *url, int processes, _Atomic(bool) *stop)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int err = mt_worker_main(url, &(mt_worker_opts){.processes = processes, .stop = stop});
        if (err)
            fprintf(stderr, "bench_rpool: worker: %s\n", mt_strerror(err));
        _exit(err ? 1 : 0);
    }
    if (pid < 0)
        die("fork", -errno);
    return pid;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: bench_rpool URL N [PROCESSES]\n");
        return 2;
    }
    const char *url = argv[1];
    long n = atol(argv[2]);
    int processes = argc == 4 ? atoi(argv[3]) : 1;
    if (n <= 0 || processes <= 0) {
        fprintf(stderr, "bench_rpool: N and PROCESSES must be positive\n");
        return 2;
    }
    _Atomic(bool) *stop =
        mmap(NULL, sizeof *stop, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (stop == MAP_FAILED)
        die("mmap", -errno);
    atomic_store(stop, false);
    pid_t workers[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        workers[i] = start_worker(url, processes, stop);

    mt_pool *p;
    int err = mt_pool_new(&p, &(mt_pool_opts){.redis = url});
    if (err)
        die("mt_pool_new", err);
    /* one call first: the workers are up and the scripts loaded */
    uint64_t x = 1;
    mt_buf out = MT_BUF_INIT;
    if ((err = mt_pool_apply(p, ident, &x, sizeof x, &out)) != 0)
        die("warm-up apply", err);

    uint64_t *items = malloc((size_t)n * sizeof *items);
    if (!items)
        die("malloc", -ENOMEM);
    for (long i = 0; i < n; i++)
        items[i] = (uint64_t)i * 2654435761u;
    double t0 = mt_monotonic();
    mt_results *r;
    if ((err = mt_pool_map(p, ident, items, (size_t)n, sizeof *items, NULL, &r)) != 0)
        die("map", err);
    double map_s = mt_monotonic() - t0;
    uint64_t *got = malloc((size_t)n * sizeof *got);
    if (!got || mt_results_copy(r, got, sizeof *got) != 0 ||
        memcmp(got, items, (size_t)n * sizeof *got) != 0) {
        fprintf(stderr, "bench_rpool: wrong results\n");
        return 1;
    }
    mt_results_free(r);

    t0 = mt_monotonic();
    for (uint64_t i = 0; i < APPLIES; i++) {
        out.len = 0;
        if ((err = mt_pool_apply(p, ident, &i, sizeof i, &out)) != 0)
            die("apply", err);
        if (out.len != sizeof i || memcmp(out.data, &i, sizeof i) != 0) {
            fprintf(stderr, "bench_rpool: wrong apply result\n");
            return 1;
        }
    }
    double apply_s = mt_monotonic() - t0;

    printf("{\"name\": \"pool 100k tiny tasks, 2 workers\", \"ops\": %ld, \"seconds\": %.6f, "
           "\"rate\": %.1f}\n",
           n, map_s, (double)n / map_s);
    printf("{\"name\": \"pool apply round trip\", \"ops\": %d, \"seconds\": %.6f, \"rate\": %.1f, "
           "\"us_per_op\": %.2f}\n",
           APPLIES, apply_s, APPLIES / apply_s, apply_s * 1e6 / APPLIES);
    fflush(stdout);

    mt_pool_free(p);
    mt_buf_free(&out);
    free(items);
    free(got);
    atomic_store(stop, true);
    int status = 0, bad = 0;
    for (int i = 0; i < WORKERS; i++)
        if (waitpid(workers[i], &status, 0) != workers[i] || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            bad = 1;
    munmap(stop, sizeof *stop);
    return bad;
}
