/*
 * bench_rdict.c - an mt_dict on a Redis server: N mt_dict_incr, then N
 * mt_dict_get, from one process, one call (one round trip) per operation;
 * beside bench/remote/py/redis_dict.py (redis-py's HINCRBY and HGET).
 *
 *   bench_rdict URL N
 *
 * URL names the dict on its server (redis://127.0.0.1:6379/NAME or
 * redis+unix:///path/to/redis.sock/NAME); whatever object has that name is
 * removed first, and the dict at the end. Keys k0 ... k999 are incremented in turn by 1, then
 * read back in the same order, and every value read is checked against the
 * count of increments its key got. Prints one JSON line per measurement:
 *   {"name": "dict_incr", "ops": N, "seconds": S, "rate": R}
 *   {"name": "dict_get", "ops": N, "seconds": S, "rate": R}
 * and exits 1 without a figure if a call fails or a value is wrong.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench_util.h"
#include "multitask.h"

#define KEYS 1000

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
    const char *name;
    long n = bench_server_args(argc, argv, &name);
    int err = mt_shared_unlink(name);
    if (err != -ENOENT)
        bench_check(err, "mt_shared_unlink");

    mt_dict *d;
    bench_check(mt_dict_open(&d, name, NULL), "mt_dict_open");
    char key[32];

    double t0 = bench_now();
    for (long i = 0; i < n; i++)
        bench_check(mt_dict_incr(d, key, key_of(key, sizeof key, i), 1, NULL), "mt_dict_incr");
    double t1 = bench_now();
    bench_rate_line("dict_incr", n, t1 - t0, false);

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
    bench_rate_line("dict_get", n, t1 - t0, false);

    mt_buf_free(&value);
    mt_dict_free(d);
    bench_check(mt_shared_unlink(name), "mt_shared_unlink");
    return 0;
}
