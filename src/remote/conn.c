/*
 * conn.c - one connection to the server, through hiredis's blocking API,
 * kept by a dict's or list's handle. A coroutine's call runs on a thread
 * of its loop's pool, so that only the coroutine waits.
 *
 * A command is sent by us with send(MSG_NOSIGNAL) (hiredis writes with
 * write(), and a server gone would raise SIGPIPE in the caller's program)
 * and read back by hiredis. A connection that breaks or times out is
 * dropped, never reused: a late reply could be taken for the next
 * command's. The caller resends; its scripts make a resend safe (see
 * remote_internal.h). Host names are resolved here, so that an unknown one
 * is MT_ENOHOST and not a connection refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "multitask/coro.h"
#include "remote_internal.h"

/* Backoff between attempts: from 10 ms, doubling, at most half a second. */
#define BACKOFF_FIRST 0.01
#define BACKOFF_MAX   0.5

/* A connection attempt waits at most this long even with no call limit:
 * an address that swallows packets is retried rather than waited on. */
#define CONNECT_MAX 5.0

/* What an attempt's failure means for the next one. */
enum {
    RETRY = 1, /* try again after a pause, if time is left */
};

static struct timeval tv_of(double seconds)
{
    if (seconds < 0.001) seconds = 0.001;
    struct timeval tv = {.tv_sec = (time_t)seconds};
    tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    return tv;
}

void mt__rconn_drop(mt__rconn *c)
{
    if (c->ctx) redisFree(c->ctx);
    c->ctx = NULL;
}

int mt__rerr(const redisReply *reply)
{
    const char *s = reply->str ? reply->str : "";
    if (!strncmp(s, "WRONGPASS", 9) || !strncmp(s, "NOAUTH", 6) || !strncmp(s, "ERR AUTH", 8) ||
        !strncmp(s, "ERR invalid password", 20))
        return MT_EAUTH;
    /* ACL: refused to the user, directly or inside a script */
    if (!strncmp(s, "NOPERM", 6) || !strncmp(s, "ERR The user executing the script can't", 39))
        return -EACCES;
    if (!strncmp(s, "OOM", 3)) return -ENOSPC;
    return MT_EREMOTE;
}

/* Error replies that mean "not now, nothing done": the server is loading
 * its data after a restart, or busy with a script. */
static bool transient(const redisReply *reply)
{
    const char *s = reply->str ? reply->str : "";
    return !strncmp(s, "LOADING", 7) || !strncmp(s, "BUSY", 4) || !strncmp(s, "MASTERDOWN", 10) ||
           !strncmp(s, "TRYAGAIN", 8);
}

/* Send a formatted command: 0, or -1 (the connection is broken). */
static int send_all(redisContext *ctx, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(ctx->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Send a command and read its reply, with `seconds` for both. Returns 0
 * and *out, or -1 when the connection broke or timed out (*sent says
 * whether any of it left).
 */
static int exchange(redisContext *ctx, double seconds, int argc, const char **argv,
                    const size_t *lens, redisReply **out, bool *sent)
{
    char *cmd = NULL;
    long long len = redisFormatCommandArgv(&cmd, argc, argv, lens);
    if (len < 0) return -ENOMEM;
    *sent = true; /* from here on, the server may have seen some of it */
    redisSetTimeout(ctx, seconds < 0 ? (struct timeval){0, 0} : tv_of(seconds));
    int err = send_all(ctx, cmd, (size_t)len);
    void *reply = NULL;
    if (err == 0 && redisGetReply(ctx, &reply) != REDIS_OK) err = -1;
    redisFreeCommand(cmd);
    *out = reply;
    return err;
}

/* AUTH and SELECT on a new connection, done by `deadline` (monotonic
 * seconds): 0, RETRY (also when the time is up), or a final error. */
static int handshake(mt__rconn *c, double deadline)
{
    const mt__rurl *u = c->url;
    char db[16];
    snprintf(db, sizeof db, "%d", u->db);
    const char *auth[3] = {"AUTH", u->user ? u->user : u->password, u->password};
    const char *select[2] = {"SELECT", db};
    for (int step = 0; step < 2; step++) {
        if ((step == 0 && !u->password) || (step == 1 && u->db == 0)) continue;
        int argc = step ? 2 : u->user ? 3 : 2;
        const char **argv = step ? select : auth;
        redisReply *reply;
        bool sent;
        double left = deadline - mt_monotonic();
        if (left <= 0) return RETRY;
        int err = exchange(c->ctx, left, argc, argv, NULL, &reply, &sent);
        if (err == -ENOMEM) return err;
        if (err < 0) return RETRY;
        if (reply->type == REDIS_REPLY_ERROR)
            err = transient(reply) ? RETRY : step ? MT_EREMOTE : MT_EAUTH;
        freeReplyObject(reply);
        if (err) return err;
    }
    return 0;
}

/* Connect to the URL's host: each of its addresses in turn (hiredis would
 * try the first only, and report an unknown name as a failed connection). */
static int connect_tcp(mt__rconn *c, double seconds)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG}, *res;
    int rc = getaddrinfo(c->url->host, NULL, &hints, &res);
    if (rc == EAI_NONAME || rc == EAI_FAIL || rc == EAI_NODATA) return MT_ENOHOST;
    if (rc == EAI_MEMORY) return -ENOMEM;
    if (rc != 0) return RETRY; /* EAI_AGAIN: a resolver not answering */
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        char addr[NI_MAXHOST];
        if (getnameinfo(a->ai_addr, a->ai_addrlen, addr, sizeof addr, NULL, 0, NI_NUMERICHOST))
            continue;
        c->ctx = redisConnectWithTimeout(addr, c->url->port, tv_of(seconds));
        if (!c->ctx || !c->ctx->err) break;
        mt__rconn_drop(c);
    }
    freeaddrinfo(res);
    return c->ctx ? 0 : RETRY;
}

/* Open the connection: 0, RETRY, or a final error. */
static int connect_once(mt__rconn *c, double seconds)
{
    if (seconds < 0 || seconds > CONNECT_MAX) seconds = CONNECT_MAX;
    double deadline = mt_monotonic() + seconds; /* the handshake's too */
    int err = 0;
    if (c->url->socket) {
        c->ctx = redisConnectUnixWithTimeout(c->url->socket, tv_of(seconds));
        err = !c->ctx ? -ENOMEM : c->ctx->err ? RETRY : 0;
    } else {
        err = connect_tcp(c, seconds);
    }
    if (err == 0) err = handshake(c, deadline);
    if (err) mt__rconn_drop(c);
    return err;
}

static int call(mt__rconn *c, double window, int argc, const char **argv, const size_t *lens,
                redisReply **out)
{
    double deadline = window < 0 ? INFINITY : mt_monotonic() + window;
    double pause = BACKOFF_FIRST;
    bool lost = false; /* a command went out and no answer came back */
    for (;;) {
        double left = deadline - mt_monotonic();
        if (left <= 0) return lost ? MT_ECONNLOST : MT_ECONNECT; /* a window of 0 */
        int err = c->ctx ? 0 : connect_once(c, left);
        if (err < 0) return err;
        left = deadline - mt_monotonic();
        /* connected with no time left: the command is not sent late */
        if (err == 0 && left <= 0) return lost ? MT_ECONNLOST : MT_ECONNECT;
        if (err == 0) {
            bool sent = false;
            redisReply *reply = NULL;
            err = exchange(c->ctx, isinf(left) ? -1 : left, argc, argv, lens, &reply, &sent);
            if (err == -ENOMEM) return err;
            if (err == 0 && reply->type == REDIS_REPLY_ERROR && transient(reply)) {
                freeReplyObject(reply); /* refused unrun: as good as never sent */
                err = RETRY;
            } else if (err == 0) {
                *out = reply;
                return 0;
            } else {
                if (reply) freeReplyObject(reply);
                mt__rconn_drop(c);
                lost = lost || sent;
            }
        }
        left = deadline - mt_monotonic();
        if (left <= 0) return lost ? MT_ECONNLOST : MT_ECONNECT;
        mt_sleep(pause < left ? pause : left);
        pause = pause * 2 < BACKOFF_MAX ? pause * 2 : BACKOFF_MAX;
    }
}

/* A call for a coroutine, run on a thread of its loop's pool: the
 * coroutine waits suspended, and hiredis keeps its blocking socket (a
 * socket the loop watched would be made non-blocking, and known to the
 * loop by its number after hiredis closed it). */
typedef struct call_args {
    mt__rconn *c;
    double window;
    int argc;
    const char **argv;
    const size_t *lens;
    redisReply **out;
    int err;
} call_args;

static int call_on_thread(const void *arg, size_t len, mt_buf *out)
{
    (void)len, (void)out;
    call_args *a;
    memcpy(&a, arg, sizeof a);
    a->err = call(a->c, a->window, a->argc, a->argv, a->lens, a->out);
    return 0;
}

/* In a coroutine the call is shielded: a cancellation waits for its answer
 * (within its time limit), so that no thread is left running on the
 * caller's frame and no call is left half-sent. */
int mt__rconn_call(mt__rconn *c, double window, int argc, const char **argv, const size_t *lens,
                   redisReply **out)
{
    if (!mt__rco()) return call(c, window, argc, argv, lens, out);
    call_args args = {c, window, argc, argv, lens, out, 0}, *a = &args;
    mt_co_shield_begin();
    int err = mt_co_to_thread(call_on_thread, &a, sizeof a, NULL);
    mt_co_shield_end();
    return err < 0 ? err : args.err;
}

/* ------------------------------------------------------------ scripts */

/* The scripts' SHA1 digests, as the server gave them (the same on every
 * server: they are of the scripts' text), by the script's address. */
#define SCRIPTS_MAX 16 /* dict and list: 5, queue: 5, pool: 4 */
static pthread_mutex_t digests_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    const char *script;
    char sha[41];
} digests[SCRIPTS_MAX];

static bool digest_find(const char *script, char sha[41])
{
    bool found = false;
    pthread_mutex_lock(&digests_lock);
    for (int i = 0; i < SCRIPTS_MAX && digests[i].script && !found; i++)
        if (digests[i].script == script) {
            memcpy(sha, digests[i].sha, 41);
            found = true;
        }
    pthread_mutex_unlock(&digests_lock);
    return found;
}

static void digest_keep(const char *script, const char *sha)
{
    pthread_mutex_lock(&digests_lock);
    for (int i = 0; i < SCRIPTS_MAX; i++)
        if (!digests[i].script || digests[i].script == script) {
            digests[i].script = script;
            memcpy(digests[i].sha, sha, 40);
            digests[i].sha[40] = '\0';
            break;
        }
    pthread_mutex_unlock(&digests_lock);
}

/* SCRIPT LOAD: the script's digest into sha, or an error. */
static int load(mt__rconn *c, double window, const char *script, char sha[41])
{
    const char *argv[3] = {"SCRIPT", "LOAD", script};
    redisReply *reply;
    int err = mt__rconn_call(c, window, 3, argv, NULL, &reply);
    if (err < 0) return err;
    if (reply->type == REDIS_REPLY_STRING && reply->len == 40) {
        memcpy(sha, reply->str, 40);
        sha[40] = '\0';
        digest_keep(script, sha);
    } else {
        err = reply->type == REDIS_REPLY_ERROR ? mt__rerr(reply) : MT_EREMOTE;
    }
    freeReplyObject(reply);
    return err;
}

/* The window left until deadline: -1 for none, 0 once it has passed (a
 * negative window would mean no limit). */
static double window_left(double deadline)
{
    if (isinf(deadline)) return -1;
    double left = deadline - mt_monotonic();
    return left > 0 ? left : 0;
}

int mt__rconn_script(mt__rconn *c, double window, const char *script, int argc, const char **argv,
                     size_t *lens, redisReply **out)
{
    double deadline = window < 0 ? INFINITY : mt_monotonic() + window;
    char sha[41];
    bool loaded = false;
    for (;;) {
        int err = 0;
        if (!loaded && !digest_find(script, sha)) {
            err = load(c, window_left(deadline), script, sha);
            loaded = true;
        }
        if (err < 0) return err;
        argv[0] = "EVALSHA";
        argv[1] = sha;
        if (lens) {
            lens[0] = 7;
            lens[1] = 40;
        }
        if ((err = mt__rconn_call(c, window_left(deadline), argc, argv, lens, out)) < 0)
            return err;
        redisReply *r = *out;
        /* not run: the server lost its scripts (a restart, SCRIPT FLUSH) */
        if (r->type != REDIS_REPLY_ERROR || strncmp(r->str, "NOSCRIPT", 8) || loaded) return 0;
        freeReplyObject(r);
        if ((err = load(c, window_left(deadline), script, sha)) < 0) return err;
        loaded = true;
    }
}
