/*
 * rqueue_kinds.c - lists against streams for the remote queue, measured
 * on the scripts' own cost: the figures behind the choice recorded at the
 * top of src/remote/queue.c.
 *
 *   rqueue_kinds SOCKET N
 *
 * On the Redis server at the Unix socket SOCKET, for each kind: one
 * producer process runs N put scripts (16-byte messages) while one
 * consumer process runs get scripts until it has taken all N, calling
 * again at once when it finds none (no blocking wait: both kinds alike).
 * The scripts have the shape of the queue's (src/remote/queue_script.c):
 * the marker and the settings read, the size checked, the message added or
 * taken, the operation's record stored with its result. The stream's get
 * takes through a consumer group (XREADGROUP, XACK, XDEL); the list's pops.
 * Prints one JSON line per kind:
 *   {"name": "lists"|"streams", "ops": N, "seconds": S, "rate": R}
 * Keys rqk:* are removed before and after.
 */
#define _GNU_SOURCE
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HEAD                                                                                       \
    "local m = redis.call('GET', KEYS[2])\n"                                                       \
    "if m ~= 'multitask:queue:1' then return {-6} end\n"                                           \
    "local cfg = redis.call('HMGET', KEYS[3], 'maxsize', 'closed')\n"

static const char *const scripts[2][2] = {
    {HEAD "if redis.call('LLEN', KEYS[1]) >= tonumber(cfg[1]) then return {-8} end\n"
          "redis.call('RPUSH', KEYS[1], ARGV[1])\n"
          "redis.call('SET', KEYS[4], cmsgpack.pack({0}), 'PX', 70000)\n"
          "return {0}\n",
     HEAD "local v = redis.call('LPOP', KEYS[1])\n"
          "if not v then return {-7} end\n"
          "redis.call('SET', KEYS[4], cmsgpack.pack({0, v}), 'PX', 70000)\n"
          "return {0, v}\n"},
    {HEAD "if redis.call('XLEN', KEYS[1]) >= tonumber(cfg[1]) then return {-8} end\n"
          "redis.call('XADD', KEYS[1], '*', 'm', ARGV[1])\n"
          "redis.call('SET', KEYS[4], cmsgpack.pack({0}), 'PX', 70000)\n"
          "return {0}\n",
     HEAD "local n = redis.call('XLEN', KEYS[1])\n"
          "local p = redis.call('XPENDING', KEYS[1], 'g')[1]\n"
          "if n <= p then return {-7} end\n"
          "local rd = redis.call('XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', 1, 'STREAMS', KEYS[1], "
          "'>')\n"
          "if not rd then return {-7} end\n"
          "local e = rd[1][2][1]\n"
          "redis.call('XACK', KEYS[1], 'g', e[1])\n"
          "redis.call('XDEL', KEYS[1], e[1])\n"
          "redis.call('SET', KEYS[4], cmsgpack.pack({0, e[2][2]}), 'PX', 70000)\n"
          "return {0, e[2][2]}\n"},
};

static redisContext *connect_to(const char *sock)
{
    redisContext *c = redisConnectUnix(sock);
    if (!c || c->err) {
        fprintf(stderr, "rqueue_kinds: cannot connect to %s\n", sock);
        exit(1);
    }
    return c;
}

static void cmd(redisContext *c, const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(c, fmt, arg);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "rqueue_kinds: %s: %s\n", fmt, r ? r->str : "no reply");
        exit(1);
    }
    freeReplyObject(r);
}

/* Run one script n times (a consumer: until n answered 0); 0 or 1. */
static int loop(const char *sock, const char *script, long n, bool put)
{
    redisContext *c = connect_to(sock);
    char msg[17];
    for (long i = 0; i < n;) {
        snprintf(msg, sizeof msg, "m%015lu", (unsigned long)i % 1000000000000000ul);
        redisReply *r = redisCommand(c, "EVAL %s 4 rqk:data rqk:mark rqk:meta rqk:rec %s", script,
                                     msg);
        if (!r || r->type != REDIS_REPLY_ARRAY) return 1;
        long long code = r->element[0]->integer;
        if (code == 0 && !put && (r->elements != 2 || r->element[1]->len != 16 ||
                                  memcmp(r->element[1]->str, msg, 16)))
            return 1;
        if (code == 0) i++;
        freeReplyObject(r);
    }
    redisFree(c);
    return 0;
}

static void reset(redisContext *c)
{
    cmd(c, "DEL rqk:data rqk:mark rqk:meta rqk:rec%s", "");
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 3 || atol(argv[2]) <= 0) {
        fprintf(stderr, "usage: rqueue_kinds SOCKET N\n");
        return 2;
    }
    const char *sock = argv[1];
    long n = atol(argv[2]);
    redisContext *c = connect_to(sock);
    for (int kind = 0; kind < 2; kind++) {
        reset(c);
        cmd(c, "SET rqk:mark %s", "multitask:queue:1");
        cmd(c, "HSET rqk:meta maxsize 1024 closed %s", "0");
        if (kind == 1) cmd(c, "XGROUP CREATE rqk:data g $ MKSTREAM%s", "");
        double t0 = now();
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) _exit(loop(sock, scripts[kind][1], n, false));
        int bad = loop(sock, scripts[kind][0], n, true), status;
        waitpid(pid, &status, 0);
        if (bad || !WIFEXITED(status) || WEXITSTATUS(status)) {
            fprintf(stderr, "rqueue_kinds: a %s script failed\n", kind ? "stream" : "list");
            return 1;
        }
        double secs = now() - t0;
        printf("{\"name\": \"%s\", \"ops\": %ld, \"seconds\": %.6f, \"rate\": %.1f}\n",
               kind ? "streams" : "lists", n, secs, (double)n / secs);
    }
    reset(c);
    redisFree(c);
    return 0;
}
