/*
 * remote_pool.c - one program, two roles: a pool whose workers are on
 * other machines, through a Redis server.
 *
 *   remote_pool --worker URL     serve the pool URL on this machine (one
 *                                process per CPU) until SIGINT or SIGTERM
 *   remote_pool URL              send work to it and print the results
 *
 * URL is redis://host[:port]/NAME or redis+unix:///path/to/socket/NAME.
 * Start workers on as many machines as you like (the same program, built
 * from the same sources), then the client anywhere: the functions travel
 * by the names MT_FN_REGISTER gives them.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static int square(const void *arg, size_t len, mt_buf *out)
{
    long x;
    if (len != sizeof x)
        return mt_fail(out, -EINVAL, "square takes a long");
    memcpy(&x, arg, sizeof x);
    x *= x;
    return mt_buf_append(out, &x, sizeof x);
}
MT_FN_REGISTER(square)

/* Where a call ran: host name and process id. */
static int where(const void *arg, size_t len, mt_buf *out)
{
    (void)arg;
    (void)len;
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    return mt_buf_printf(out, "%s pid %d", host, (int)getpid());
}
MT_FN_REGISTER(where)

static _Atomic(bool) stop;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&stop, true);
}

/* The URL as it may be shown: a password (user:password@) left out. */
static const char *shown(const char *url)
{
    const char *at = strchr(url, '@');
    return at ? at + 1 : url;
}

static int serve(const char *url)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("serving %s; SIGINT or SIGTERM to stop\n", shown(url));
    check(mt_worker_main(url, &(mt_worker_opts){.stop = &stop}), "mt_worker_main");
    printf("stopped\n");
    return 0;
}

static int client(const char *url)
{
    mt_pool *pool;
    check(mt_pool_new(&pool, &(mt_pool_opts){.redis = url}), "mt_pool_new");

    long items[20];
    for (long i = 0; i < 20; i++)
        items[i] = i + 1;
    mt_results *r;
    check(mt_pool_map(pool, square, items, 20, sizeof(long), NULL, &r), "mt_pool_map");
    long squares[20], sum = 0;
    check(mt_results_copy(r, squares, sizeof(long)), "mt_results_copy");
    mt_results_free(r);
    for (int i = 0; i < 20; i++)
        sum += squares[i];
    printf("sum of the squares of 1..20: %ld\n", sum);

    mt_future *fs[4];
    for (int i = 0; i < 4; i++)
        check(mt_pool_apply_async(pool, where, NULL, 0, &fs[i]), "mt_pool_apply_async");
    for (int i = 0; i < 4; i++) {
        mt_iov v;
        check(mt_future_result(fs[i], 60, &v), "mt_future_result");
        printf("call %d ran on %.*s\n", i, (int)v.len, (const char *)v.data);
        mt_future_free(fs[i]);
    }
    mt_pool_free(pool);
    return 0;
}

int main(int argc, char **argv)
{
    line_buffered_stdout();
    if (argc == 3 && strcmp(argv[1], "--worker") == 0)
        return serve(argv[2]);
    if (argc == 2 && argv[1][0] != '-')
        return client(argv[1]);
    fprintf(stderr, "usage: remote_pool [--worker] URL\n");
    return 2;
}
