/*
 * bench_shared.c - mt_dict and mt_list throughput from several processes,
 * beside bench/py/manager_dict.py and bench/py/manager_list.py (Python's
 * Manager().dict() and .list(), the same work).
 *
 *   bench_shared dict_reads   [-p P] [-n N]   d[k] for 1,000 keys in turn
 *   bench_shared dict_writes  [-p P] [-n N]   d[k] = v, one transaction each
 *   bench_shared dict_batched [-p P] [-n N]   d.update() of 1,000 pairs at a time
 *   bench_shared list_appends [-p P] [-n N]   l.append(v), one transaction each
 *   bench_shared list_batched [-p P] [-n N]   l.extend() of 1,000 items at a time
 *
 * P processes (default 2) each do N operations on one shared object, made
 * by the parent and inherited through fork; keys are "key-<i mod 1000>" (a
 * writer's own "p<proc>-<i mod 1000>"), values 16 bytes. Each child opens
 * its handle (one read) before the clock starts; the clock runs from
 * releasing all children at once until the last has finished, and every
 * value read is checked, as is the list's final length.
 *
 * One JSON line (bench_util.h): "processes" P, "n" N, then "ops" (N x P,
 * all processes together), "batch", "seconds" and "ops_per_s".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "multitask.h"

#define KEYS 1000
#define VLEN 16
#define BATCH 1000 /* pairs or items per transaction in the batched benches */
#define MAX_PROCS 64

typedef struct bench {
    const char *name;
    int procs;
    long n, batch;
    mt_dict *d;
    mt_list *l;
} bench;

static const char value[VLEN + 1] = "0123456789abcdef";

static int dict_reads(bench *b, int me)
{
    mt_buf v = MT_BUF_INIT;
    char key[32];
    (void)me;
    for (long i = 0; i < b->n; i++) {
        int klen = snprintf(key, sizeof key, "key-%ld", i % KEYS);
        int err = mt_dict_get(b->d, key, (size_t)klen, &v);
        if (err < 0 || v.len != VLEN || memcmp(v.data, value, VLEN) != 0)
            return err < 0 ? err : -EBADMSG;
    }
    mt_buf_free(&v);
    return 0;
}

static int dict_writes(bench *b, int me)
{
    char key[32];
    for (long i = 0; i < b->n; i++) {
        int klen = snprintf(key, sizeof key, "p%d-%ld", me, i % KEYS);
        int err = mt_dict_set(b->d, key, (size_t)klen, value, VLEN);
        if (err < 0)
            return err;
    }
    return 0;
}

static int dict_batched(bench *b, int me)
{
    mt_dict_pair *pairs = calloc((size_t)b->batch, sizeof *pairs);
    char(*keys)[32] = calloc((size_t)b->batch, sizeof *keys);
    int err = pairs && keys ? 0 : -ENOMEM;
    for (long done = 0; done < b->n && err == 0; done += b->batch) {
        long m = b->n - done < b->batch ? b->n - done : b->batch;
        for (long j = 0; j < m; j++) {
            int klen = snprintf(keys[j], sizeof keys[j], "p%d-%ld", me, (done + j) % KEYS);
            pairs[j] = (mt_dict_pair){{keys[j], (size_t)klen}, {value, VLEN}};
        }
        err = mt_dict_update(b->d, pairs, (size_t)m);
    }
    free(keys);
    free(pairs);
    return err;
}

static int list_appends(bench *b, int me)
{
    (void)me;
    for (long i = 0; i < b->n; i++) {
        int err = mt_list_append(b->l, value, VLEN);
        if (err < 0)
            return err;
    }
    return 0;
}

static int list_batched(bench *b, int me)
{
    mt_iov *items = calloc((size_t)b->batch, sizeof *items);
    int err = items ? 0 : -ENOMEM;
    (void)me;
    for (long j = 0; j < b->batch && items; j++)
        items[j] = (mt_iov){value, VLEN};
    for (long done = 0; done < b->n && err == 0; done += b->batch) {
        long m = b->n - done < b->batch ? b->n - done : b->batch;
        err = mt_list_extend(b->l, items, (size_t)m);
    }
    free(items);
    return err;
}

typedef struct command {
    const char *name;
    int (*run)(bench *, int);
    bool list, batched;
} command;

static const command commands[] = {
    {"dict_reads", dict_reads, false, false},
    {"dict_writes", dict_writes, false, false},
    {"dict_batched", dict_batched, false, true},
    {"list_appends", list_appends, true, false},
    {"list_batched", list_batched, true, true},
};

/* A child: open the handle (one read), say ready, wait for go, run. */
static void child(bench *b, const command *c, int me, int ready, int go)
{
    char x = 0;
    ssize_t len = c->list ? mt_list_len(b->l) : mt_dict_len(b->d);
    if (len < 0 || write(ready, &x, 1) != 1 || read(go, &x, 1) != 1)
        _exit(2);
    int err = c->run(b, me);
    if (err < 0)
        fprintf(stderr, "bench_shared: %s in process %d: %s\n", c->name, me, mt_strerror(err));
    _exit(err < 0);
}

static double run(bench *b, const command *c)
{
    int ready[2], go[2];
    pid_t pids[MAX_PROCS];
    char x = 0;
    if (pipe(ready) < 0 || pipe(go) < 0)
        bench_check(-errno, "pipe");
    fflush(NULL);
    for (int i = 0; i < b->procs; i++) {
        pids[i] = fork();
        if (pids[i] < 0)
            bench_check(-errno, "fork");
        if (pids[i] == 0)
            child(b, c, i, ready[1], go[0]);
    }
    for (int i = 0; i < b->procs; i++)
        if (read(ready[0], &x, 1) != 1)
            bench_die("a child did not start");
    double t0 = bench_now();
    for (int i = 0; i < b->procs; i++)
        if (write(go[1], &x, 1) != 1)
            bench_check(-errno, "write");
    int failed = 0;
    for (int i = 0; i < b->procs; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    double secs = bench_now() - t0;
    if (failed)
        bench_die("%s: a child failed", c->name);
    close(ready[0]), close(ready[1]), close(go[0]), close(go[1]);
    return secs;
}

/* Every subcommand: the work named a->name in commands[], timed and checked. */
static void run_shared(const bench_args *a)
{
    const command *c = commands;
    while (strcmp(c->name, a->name) != 0)
        c++;
    if (a->processes > MAX_PROCS)
        bench_die("at most %d processes", MAX_PROCS);
    bench b = {.name = c->name, .procs = a->processes, .n = a->n, .batch = BATCH};
    bench_check(c->list ? mt_list_new(&b.l, NULL) : mt_dict_new(&b.d, NULL), "create");
    for (int i = 0; i < KEYS && !c->list; i++) {
        char key[32];
        int klen = snprintf(key, sizeof key, "key-%d", i);
        bench_check(mt_dict_set(b.d, key, (size_t)klen, value, VLEN), "fill");
    }
    double secs = run(&b, c);
    long ops = b.n * b.procs;
    if (c->list && mt_list_len(b.l) != ops)
        bench_die("the list has %zd items, want %ld", mt_list_len(b.l), ops);
    bench_json_begin(a);
    bench_json_int("ops", ops);
    bench_json_int("batch", c->batched ? b.batch : 1);
    bench_json_num("seconds", secs);
    bench_json_num("ops_per_s", (double)ops / secs);
    bench_json_end();
    mt_list_free(b.l);
    mt_dict_free(b.d);
}

int main(int argc, char **argv)
{
    static const bench_cmd cmds[] = {
        {"dict_reads", "P processes read N values each, one get at a time", 200000, 2,
         run_shared},
        {"dict_writes", "P processes write N pairs each, one transaction each", 100000, 2,
         run_shared},
        {"dict_batched", "P processes write N pairs each, 1,000 per update", 1000000, 2,
         run_shared},
        {"list_appends", "P processes append N items each, one transaction each", 100000, 2,
         run_shared},
        {"list_batched", "P processes append N items each, 1,000 per extend", 1000000, 2,
         run_shared},
    };
    return bench_main(argc, argv, cmds, sizeof cmds / sizeof cmds[0]);
}
