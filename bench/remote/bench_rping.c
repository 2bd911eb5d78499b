/*
 * bench_rping.c - the bare round trip to a Redis server from C: N
 * sequential PINGs through hiredis's blocking API, each answered before the
 * next is sent. The yardstick of a remote call's latency (bench/remote/run.py
 * compares the pool's apply round trip with it).
 *
 *   bench_rping SERVER N
 *
 * SERVER is a Unix socket's absolute path or HOST:PORT. Prints one line
 *   {"name": "ping_rtt", "ops": N, "seconds": S, "rate": R, "us_per_op": U}
 * with U the mean, and exits 1 if a reply is not PONG.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench_util.h"

static redisContext *connect_to(const char *server)
{
    redisContext *c;
    if (server[0] == '/') {
        c = redisConnectUnix(server);
    } else {
        char host[256];
        const char *colon = strrchr(server, ':');
        if (!colon || (size_t)(colon - server) >= sizeof host)
            bench_die("SERVER is a socket's path or HOST:PORT");
        memcpy(host, server, (size_t)(colon - server));
        host[colon - server] = '\0';
        c = redisConnect(host, atoi(colon + 1));
    }
    if (!c || c->err)
        bench_die("connect: %s", c ? c->errstr : "out of memory");
    return c;
}

static void ping(redisContext *c)
{
    redisReply *r = redisCommand(c, "PING");
    if (!r)
        bench_die("PING: %s", c->errstr);
    if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "PONG") != 0)
        bench_die("PING: unexpected reply");
    freeReplyObject(r);
}

int main(int argc, char **argv)
{
    const char *server; /* here a socket's path or HOST:PORT */
    long n = bench_server_args(argc, argv, &server);
    redisContext *c = connect_to(server);
    ping(c); /* the connection's first use, outside the clock */
    double t0 = bench_now();
    for (long i = 0; i < n; i++)
        ping(c);
    double secs = bench_now() - t0;
    bench_rate_line("ping_rtt", n, secs, true);
    redisFree(c);
    return 0;
}
