/*
 * bench_rdict.c - an mt_dict on a Redis server: N mt_dict_incr, then N
 * mt_dict_get, from one process, one call (one round trip) per operation;
 * beside bench/remote/py/redis_dict.py (redis-py's HINCRBY and HGET).
 *
 *   bench_rdict SERVER N
 *
 * SERVER is a server's name without the object's (redis://127.0.0.1:6379
 * or redis+unix:///path/to/redis.sock); the dict is SERVER/bench-rdict-PID,
 * removed at the end. Keys k0 ... k999 are incremented in turn by 1, then
 * read back in the same order, and every value read is checked against the
 * count of increments its key got. Prints one JSON line per measurement:
 *   {"name": "dict_incr", "ops": N, "seconds": S, "rate": R}
 *   {"name": "dict_get", "ops": N, "seconds": S, "rate": R}
 * and exits 1 without a figure if a call fails or a value is wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../bench_util.h"
#include "multitask.h"

#define KEYS 1000

static void print_rate(const char *name, long n, double secs)
{
    printf("{\"name\": \"%s\", \"ops\": %ld, \"seconds\": %.6f, \"rate\": %.1f}\n", name, n, secs,
           (double)n / secs);
    fflush(stdout);
}

/* The name of key i % KEYS into buf; its length. */
static size_t key_of(char *buf, size_t size, long i)
{
    return (size_t)snprintf(buf, size, "k%ld", i % KEYS);
}

/* How many increments key k got out of n. */
static long expected(long k, long n)
{
    return n / KEYS + (k < n % KEYS ? 1 : 0);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s SERVER N\n", argv[0]);
        return 2;
    }
    long n = strtol(argv[2], NULL, 10);
    if (n < 1)
        bench_die("N must be a positive count");
    char name[1024];
    if (snprintf(name, sizeof name, "%s/bench-rdict-%ld", argv[1], (long)getpid())
        >= (int)sizeof name)
        bench_die("server name too long");

    mt_dict *d;
    bench_check(mt_dict_open(&d, name, NULL), "mt_dict_open");
    char key[32];

    double t0 = bench_now();
    for (long i = 0; i < n; i++)
        bench_check(mt_dict_incr(d, key, key_of(key, sizeof key, i), 1, NULL), "mt_dict_incr");
    double t1 = bench_now();
    print_rate("dict_incr", n, t1 - t0);

    mt_buf value = MT_BUF_INIT;
    char text[32];
    t0 = bench_now();
    for (long i = 0; i < n; i++) {
        bench_check(mt_dict_get(d, key, key_of(key, sizeof key, i), &value), "mt_dict_get");
        /* The server keeps counters as decimal text. */
        if (value.len >= sizeof text)
            bench_die("value of %s is %zu bytes long", key, value.len);
        memcpy(text, value.data, value.len);
        text[value.len] = '\0';
        if (strtol(text, NULL, 10) != expected(i % KEYS, n))
            bench_die("%s is %s, not %ld", key, text, expected(i % KEYS, n));
    }
    t1 = bench_now();
    print_rate("dict_get", n, t1 - t0);

    mt_buf_free(&value);
    mt_dict_free(d);
    bench_check(mt_shared_unlink(name), "mt_shared_unlink");
    return 0;
}
