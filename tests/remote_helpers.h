/*
 * remote_helpers.h - what the tests of objects on a Redis server share
 * besides the server itself (redis_server.h): names on it, child
 * processes, counters children share with the test, and a thread that
 * keeps killing the server's client connections.
 */
#ifndef MT_TEST_REMOTE_HELPERS_H
#define MT_TEST_REMOTE_HELPERS_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>

#include "helpers.h"
#include "redis_server.h"

/* The object NAME on s, through its Unix socket. */
static inline void url_of(char *out, size_t size, const test_redis *s, const char *name)
{
    snprintf(out, size, "redis+unix://%s/%s", s->sock, name);
}

/* Fork a child that runs fn(ctx) and exits 0 when it returned 0. Children
 * do not use cr_* assertions (the runner's socket is the parent's). */
static inline pid_t spawn(int (*fn)(void *), void *ctx)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) _exit(fn(ctx) == 0 ? 0 : 1);
    return pid;
}

/* A child's exit status, or 128 + the signal that ended it. */
static inline int reap(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* n counters the children share with the test, zeroed. */
static inline int64_t *shared_counts(size_t n)
{
    void *p =
        mmap(NULL, n * sizeof(int64_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(p != MAP_FAILED);
    memset(p, 0, n * sizeof(int64_t));
    return p;
}

/* A thread that kills the server's client connections (CLIENT KILL) every
 * few milliseconds until stop, counting them. */
typedef struct killer {
    const test_redis *s;
    atomic_bool stop;
    int kills;
} killer;

static inline void *kill_clients(void *arg)
{
    killer *k = arg;
    while (!atomic_load(&k->stop)) {
        char reply[64];
        if (test_redis_cmd(k->s, reply, sizeof reply, "CLIENT", "KILL", "TYPE", "normal", "SKIPME",
                           "yes", NULL) == ':')
            k->kills += atoi(reply);
        mt_sleep(0.003);
    }
    return NULL;
}

#endif
