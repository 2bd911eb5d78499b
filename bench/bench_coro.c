/*
 * bench_coro.c - the coroutine benchmarks. Each subcommand prints one JSON
 * line (see bench/README.md); bench/py/bench_coro.py does the same work
 * with asyncio and uvloop, bench/anchors/anchor_coro.c with glibc's
 * swapcontext, Boost.Context and State Threads.
 *
 *   switch       raw context switch, main <-> one coroutine (ns per switch)
 *   yield        -p tasks yielding in turn, n yields in all (ns per yield)
 *   create       create + run + destroy a task that returns at once, one
 *                after another, stacks reused (ns per task)
 *   aqueue       one producer and one consumer, a queue of at most 10 ints
 *                (items/s, ns per item)
 *   sleepers     n tasks each sleeping 1 s (wall seconds; resident memory
 *                per sleeping task); sleepers_shared: on the shared stack
 *   sleep_start  start n timers (mt_co_call_later, 10 s), then cancel them
 *                untimed (ns per start)
 *   echo         an echo server; `echo_client` (another process: the same
 *                program) keeps -p connections busy with 64-byte round
 *                trips, n in all (requests/s)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "ctx.h"
#include "multitask.h"

extern char **environ;

/* ---- switch: the raw context switch, without the scheduler ------------- */

static mt__fiber sw_main, sw_co;
static long sw_count;

static void sw_body(void *arg)
{
    (void)arg;
    mt__fiber_started();
    for (;;) {
        sw_count++;
        mt__fiber_switch(&sw_co, &sw_main, false);
    }
}

static void run_switch(const bench_args *a)
{
    size_t size = 64 * 1024;
    void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED)
        bench_die("mmap failed");
    mt__fiber_init(&sw_main, NULL, 0, true);
    mt__fiber_init(&sw_co, stack, size, false);
    mt__ctx_make(&sw_co.ctx, stack, size, sw_body, NULL);
    for (int i = 0; i < 1000; i++) /* warm up */
        mt__fiber_switch(&sw_main, &sw_co, false);
    sw_count = 0;
    double t0 = bench_now();
    for (long i = 0; i < a->n; i++)
        mt__fiber_switch(&sw_main, &sw_co, false);
    double secs = bench_now() - t0;
    if (sw_count != a->n)
        bench_die("the coroutine ran %ld times, not %ld", sw_count, a->n);
    bench_json_begin(a);
#if defined(MT_CORO_UCONTEXT)
    bench_json_str("switch", "ucontext");
#else
    bench_json_str("switch", "asm");
#endif
    bench_json_num("seconds", secs);
    bench_json_num("ns_per_switch", secs * 1e9 / (2.0 * (double)a->n));
    bench_json_end();
    mt__fiber_destroy(&sw_co, false);
    munmap(stack, size);
}


/* ---- yield: through the scheduler's run queue --------------------------- */

static long yield_each;

static int yielder(void *arg)
{
    (void)arg;
    for (long i = 0; i < yield_each; i++)
        if (mt_co_yield() != 0)
            return -EIO;
    return 0;
}

static int yield_main(void *arg)
{
    const bench_args *a = arg;
    int p = a->processes;
    mt_task **ts = bench_alloc((size_t)p * sizeof *ts);
    yield_each = a->n / p;
    for (int i = 0; i < p; i++)
        bench_check(mt_task_create(&ts[i], yielder, NULL, NULL), "mt_task_create");
    double t0 = bench_now();
    bench_check(mt_co_gather(ts, (size_t)p, NULL, NULL), "mt_co_gather");
    double secs = bench_now() - t0;
    for (int i = 0; i < p; i++)
        mt_task_free(ts[i]);
    free(ts);
    bench_json_begin(a);
    bench_json_int("tasks", p);
    bench_json_num("seconds", secs);
    bench_json_num("ns_per_yield", secs * 1e9 / (double)(yield_each * p));
    bench_json_end();
    return 0;
}

/* ---- create: create + run + destroy -------------------------------------- */

static int nothing(void *arg)
{
    return (int)(long)arg;
}

static int create_main(void *arg)
{
    const bench_args *a = arg;
    for (int i = 0; i < 1000; i++) { /* warm the stack cache */
        mt_task *t;
        mt_task_create(&t, nothing, NULL, NULL);
        mt_task_await(t);
        mt_task_free(t);
    }
    double t0 = bench_now();
    for (long i = 0; i < a->n; i++) {
        mt_task *t;
        bench_check(mt_task_create(&t, nothing, (void *)(i & 0xff), NULL), "mt_task_create");
        if (mt_task_await(t) != (int)(i & 0xff))
            bench_die("wrong result");
        mt_task_free(t);
    }
    double secs = bench_now() - t0;
    bench_json_begin(a);
    bench_json_num("seconds", secs);
    bench_json_num("ns_per_task", secs * 1e9 / (double)a->n);
    bench_json_end();
    return 0;
}

/* ---- aqueue: one producer, one consumer, maxsize 10 ----------------------- */

typedef struct aq_arg {
    mt_aqueue *q;
    long n;
    long sum;
} aq_arg;

static int aq_producer(void *arg)
{
    aq_arg *a = arg;
    for (long i = 0; i < a->n; i++) {
        int v = (int)i;
        if (mt_aqueue_put(a->q, &v) != 0)
            return -EIO;
    }
    return 0;
}

static int aq_consumer(void *arg)
{
    aq_arg *a = arg;
    for (long i = 0; i < a->n; i++) {
        int v;
        if (mt_aqueue_get(a->q, &v) != 0)
            return -EIO;
        a->sum += v;
    }
    return 0;
}

static int aqueue_main(void *arg)
{
    const bench_args *a = arg;
    aq_arg q = {.n = a->n};
    bench_check(mt_aqueue_new(&q.q, &(mt_aqueue_opts){.maxsize = 10, .item_size = sizeof(int)}),
                "mt_aqueue_new");
    mt_task *ts[2];
    double t0 = bench_now();
    mt_task_create(&ts[0], aq_producer, &q, NULL);
    mt_task_create(&ts[1], aq_consumer, &q, NULL);
    bench_check(mt_co_gather(ts, 2, NULL, NULL), "mt_co_gather");
    double secs = bench_now() - t0;
    if (q.sum != a->n * (a->n - 1) / 2)
        bench_die("the consumer got the wrong items");
    mt_task_free(ts[0]);
    mt_task_free(ts[1]);
    mt_aqueue_free(q.q);
    bench_json_begin(a);
    bench_json_num("seconds", secs);
    bench_json_num("items_per_s", (double)a->n / secs);
    bench_json_num("ns_per_item", secs * 1e9 / (double)a->n);
    bench_json_end();
    return 0;
}

/* ---- sleepers: many tasks sleeping 1 s at once ---------------------------- */

/* Resident and page-table memory of this process, in bytes. */
static void memory_now(long *rss, long *pte)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    *rss = *pte = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6))
            *rss = atol(line + 6) * 1024;
        else if (!strncmp(line, "VmPTE:", 6))
            *pte = atol(line + 6) * 1024;
    }
    if (f)
        fclose(f);
}

static long sleepers_done;

static int sleeper(void *arg)
{
    (void)arg;
    int r = mt_co_sleep(1.0);
    sleepers_done++;
    return r;
}

static bool sleepers_shared_mode;

static int sleepers_main(void *arg)
{
    const bench_args *a = arg;
    long rss0, pte0, rss1, pte1;
    memory_now(&rss0, &pte0);
    mt_task_opts o = {.stack = sleepers_shared_mode ? MT_STACK_SHARED : MT_STACK_PRIVATE};
    double t0 = bench_now();
    for (long i = 0; i < a->n; i++)
        bench_check(mt_task_create(NULL, sleeper, NULL, &o), "mt_task_create");
    double t_created = bench_now();
    mt_co_sleep(0.5); /* every sleeper has started its sleep by now */
    memory_now(&rss1, &pte1);
    while (sleepers_done < a->n)
        mt_co_sleep(0.001);
    double secs = bench_now() - t0;
    bench_json_begin(a);
    bench_json_str("stack", sleepers_shared_mode ? "shared" : "private");
    bench_json_num("seconds", secs);
    bench_json_num("create_seconds", t_created - t0);
    bench_json_num("bytes_per_task", (double)(rss1 - rss0) / (double)a->n);
    bench_json_num("page_table_bytes_per_task", (double)(pte1 - pte0) / (double)a->n);
    bench_json_end();
    return 0;
}

/* ---- sleep_start: starting a timer ----------------------------------------- */

static void never(void *arg)
{
    (void)arg;
    bench_die("a 10 s timer fired");
}

static int sleep_start_main(void *arg)
{
    const bench_args *a = arg;
    mt_co_timer **ts = bench_alloc((size_t)a->n * sizeof *ts);
    for (long i = 0; i < a->n; i++) /* warm: the timers' memory */
        bench_check(mt_co_call_later(&ts[i], 10.0, never, NULL), "mt_co_call_later");
    for (long i = 0; i < a->n; i++)
        mt_co_timer_cancel(ts[i]);
    double t0 = bench_now();
    for (long i = 0; i < a->n; i++)
        bench_check(mt_co_call_later(&ts[i], 10.0, never, NULL), "mt_co_call_later");
    double secs = bench_now() - t0;
    for (long i = 0; i < a->n; i++)
        mt_co_timer_cancel(ts[i]);
    free(ts);
    bench_json_begin(a);
    bench_json_num("seconds", secs);
    bench_json_num("ns_per_start", secs * 1e9 / (double)a->n);
    bench_json_end();
    return 0;
}

/* ---- echo: a server, and a client process driving it ---------------------- */

#define ECHO_MSG 64

static int echo_conn(void *arg)
{
    int fd = (int)(long)arg;
    char buf[4096];
    ssize_t n;
    while ((n = mt_co_sock_recv(fd, buf, sizeof buf)) > 0)
        if (mt_co_sock_sendall(fd, buf, (size_t)n) != 0)
            break;
    mt_co_close(fd);
    return 0;
}

static int echo_accept(void *arg)
{
    int lfd = (int)(long)arg;
    for (;;) {
        int fd;
        int r = mt_co_sock_accept(lfd, &fd);
        if (r)
            return r == -ECANCELED ? 0 : r;
        mt_task_create(NULL, echo_conn, (void *)(long)fd, NULL);
    }
}

static int echo_main(void *arg)
{
    const bench_args *a = arg;
    int lfd;
    bench_check(mt_co_tcp_listen(&lfd, "127.0.0.1", 0, 1024), "mt_co_tcp_listen");
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        bench_die("pipe");
    /* The client: this program again, its JSON line on our pipe. */
    char port[16], clients[16], count[24];
    snprintf(port, sizeof port, "%d", mt_co_sock_port(lfd));
    snprintf(clients, sizeof clients, "%d", a->processes);
    snprintf(count, sizeof count, "%ld", a->n);
    setenv("MT_ECHO_PORT", port, 1);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    char *argv[] = {"bench_coro", "echo_client", "-p", clients, "-n", count, NULL};
    pid_t pid;
    if (posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ) != 0)
        bench_die("cannot start the client");
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    mt_task *acceptor;
    mt_task_create(&acceptor, echo_accept, (void *)(long)lfd, NULL);
    char line[512];
    size_t len = 0;
    for (;;) {
        mt_co_wait_fd(fds[0], MT_READABLE, MT_FOREVER);
        ssize_t n = read(fds[0], line + len, sizeof line - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    line[len] = '\0';
    int status;
    waitpid(pid, &status, 0);
    mt_task_cancel(acceptor);
    mt_task_await(acceptor);
    mt_task_free(acceptor);
    mt_co_close(fds[0]);
    mt_co_close(lfd);
    double rps = 0;
    const char *at = strstr(line, "\"requests_per_s\":");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !at)
        bench_die("the client failed: %s", line);
    rps = atof(at + strlen("\"requests_per_s\":"));
    bench_json_begin(a);
    bench_json_int("clients", a->processes);
    bench_json_num("requests_per_s", rps);
    bench_json_end();
    return 0;
}

typedef struct client_arg {
    int port;
    long rounds;
    long done;
} client_arg;

static int echo_client_conn(void *arg)
{
    client_arg *c = arg;
    int fd;
    int r = mt_co_sock_connect(&fd, "127.0.0.1", c->port);
    if (r)
        return r;
    char msg[ECHO_MSG], reply[ECHO_MSG];
    memset(msg, 'x', sizeof msg);
    for (long i = 0; i < c->rounds && !r; i++) {
        memcpy(msg, &i, sizeof i);
        if ((r = mt_co_sock_sendall(fd, msg, sizeof msg)) != 0)
            break;
        size_t got = 0;
        while (got < sizeof reply) {
            ssize_t n = mt_co_sock_recv(fd, reply + got, sizeof reply - got);
            if (n <= 0) {
                r = n ? (int)n : -EPIPE;
                break;
            }
            got += (size_t)n;
        }
        if (!r && memcmp(msg, reply, sizeof msg) != 0)
            r = -EILSEQ;
        c->done += !r;
    }
    mt_co_close(fd);
    return r;
}

static int echo_client_main(void *arg)
{
    const bench_args *a = arg;
    const char *port = getenv("MT_ECHO_PORT");
    if (!port)
        bench_die("MT_ECHO_PORT is not set");
    int p = a->processes;
    client_arg *cs = bench_alloc((size_t)p * sizeof *cs);
    mt_task **ts = bench_alloc((size_t)p * sizeof *ts);
    double t0 = bench_now();
    for (int i = 0; i < p; i++) {
        cs[i] = (client_arg){.port = atoi(port), .rounds = a->n / p};
        mt_task_create(&ts[i], echo_client_conn, &cs[i], NULL);
    }
    int err = mt_co_gather(ts, (size_t)p, NULL, NULL);
    double secs = bench_now() - t0;
    if (err)
        bench_die("a client failed: %s", mt_strerror(err));
    long total = 0;
    for (int i = 0; i < p; i++) {
        total += cs[i].done;
        mt_task_free(ts[i]);
    }
    bench_json_begin(a);
    bench_json_num("seconds", secs);
    bench_json_num("requests_per_s", (double)total / secs);
    bench_json_end();
    free(cs);
    free(ts);
    return 0;
}

/* ---- the subcommands ------------------------------------------------------ */

#define CORO_CMD(fn)                                                                               \
    static void run_##fn(const bench_args *a)                                                      \
    {                                                                                              \
        int err = mt_run(fn##_main, (void *)a, NULL);                                              \
        if (err)                                                                                   \
            bench_die("%s", mt_strerror(err));                                                     \
    }

CORO_CMD(yield)
CORO_CMD(create)
CORO_CMD(aqueue)
CORO_CMD(sleepers)
CORO_CMD(sleep_start)
CORO_CMD(echo)
CORO_CMD(echo_client)

static void run_sleepers_shared(const bench_args *a)
{
    sleepers_shared_mode = true;
    run_sleepers(a);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    static const bench_cmd cmds[] = {
        {"switch", "raw context switch main <-> coroutine", 10000000, 1, run_switch},
        {"yield", "-p tasks yielding in turn, n yields", 10000000, 2, run_yield},
        {"create", "create + run + destroy a task, one at a time", 1000000, 1, run_create},
        {"aqueue", "producer and consumer on a queue of maxsize 10", 1000000, 1, run_aqueue},
        {"sleepers", "n tasks each sleeping 1 s", 100000, 1, run_sleepers},
        {"sleepers_shared", "the same on the shared stack", 100000, 1, run_sleepers_shared},
        {"sleep_start", "start n timers of 10 s", 1000000, 1, run_sleep_start},
        {"echo", "echo server, -p client connections, n round trips", 200000, 100, run_echo},
        {"echo_client", "the echo benchmark's client (MT_ECHO_PORT)", 200000, 100,
         run_echo_client},
    };
    return bench_main(argc, argv, cmds, sizeof cmds / sizeof cmds[0]);
}
