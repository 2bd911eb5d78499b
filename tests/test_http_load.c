/*
 * test_http_load.c - the http layer over many requests against
 * mt-test-httpd: no growth of fds or heap across 10,000 mixed requests
 * (successes, 404 and 503, resets, short bodies, timeouts, redirects) on
 * one client, from the blocking call in a few threads, and across a
 * thousand clients made and freed; and admission checked from the
 * server's side (the most requests it answered at once, /_/count?most=):
 * per "scheme://host:port" of the URL asked for, a host at its limit not
 * holding back another, and the global cap.
 *
 * Growth is measured after a warm-up (libcurl's and OpenSSL's one-time
 * set-up, caches that fill once), at moments when no request is in
 * flight: the fds in /proc/self/fd, and the heap in use (mallinfo2, or
 * the sanitizer's allocator count in a sanitized build, where freed memory
 * sits in a quarantine and RSS says nothing).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>

#include "coro_helpers.h"
#include "http_client.h"
#include "http_server.h"

/* Under ThreadSanitizer, which is there for races rather than growth, a
 * request costs ten to twenty times more (a blocking one up to 30 ms on a
 * busy machine): the counts are a tenth there, to keep the suite within
 * its time. Normal and ASan builds make the full counts. */
#ifdef __SANITIZE_THREAD__
#define SCALE 10
#else
#define SCALE 1
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* The sanitizer runtime's count (sanitizer/allocator_interface.h, which
 * GCC 12 does not install). */
size_t __sanitizer_get_current_allocated_bytes(void);
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

/* Bytes of heap in use now. */
static size_t heap_in_use(void)
{
#if SANITIZED
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
#endif
}

static int count_fds(void)
{
    return count_dir("/proc/self/fd", "");
}

/* What the process holds at a quiet moment. */
typedef struct usage {
    int fds;
    size_t heap;
} usage;

static usage usage_now(void)
{
    return (usage){count_fds(), heap_in_use()};
}

/* Growth allowed from the warm-up to the end: a leak of 8 bytes a request
 * over 9,000 requests passes it. What may grow legitimately: libcurl's
 * cache of idle connections (about 2.6 KiB each, at most one a worker). */
#define HEAP_SLACK (64 * 1024)

static void expect_no_growth(usage warm, usage end, int fd_slack, size_t heap_slack,
                             const char *what)
{
    cr_expect_leq(end.fds, warm.fds + fd_slack, "%s: fds %d after the warm-up, %d at the end",
                  what, warm.fds, end.fds);
    cr_expect_leq(end.heap, warm.heap + heap_slack,
                  "%s: heap %zu bytes after the warm-up, %zu at the end (+%zd)", what, warm.heap,
                  end.heap, (ssize_t)(end.heap - warm.heap));
    cr_log_info("%s (scale 1/%d): fds %d -> %d, heap %zu -> %zu (%+zd bytes)", what, SCALE,
                warm.fds, end.fds, warm.heap, end.heap, (ssize_t)(end.heap - warm.heap));
}

static test_httpd srv;

#define FILE_SIZE 4096

/* ---- the mix of requests ---------------------------------------------- */

/* Request number i of the mix, of 20 kinds in turn: 12 of a file, 2
 * missing files (404), a 503, a redirect, a chunked body, a reset, a short
 * body, a stall cut by the request's timeout. The URL goes into url. */
typedef struct mix_req {
    char url[256];
    mt_http_opts opts;
    long status; /* expected status when err is 0 */
    int err;     /* expected result */
    uint64_t size;
} mix_req;

static void mix_make(mix_req *m, int port, unsigned i, double stall_timeout)
{
    const char *path = "/f.bin";
    memset(m, 0, sizeof *m);
    m->opts = (mt_http_opts){.to = MT_HTTP_TO_NOWHERE, .timeout = 20};
    m->status = 200;
    m->size = FILE_SIZE;
    switch (i % 20) {
    case 12:
    case 13: path = i % 20 == 12 ? "/missing" : "/no/such/file"; m->status = 404; m->size = 0; break;
    case 14: path = "/_/status/503"; m->status = 503; m->size = 0; break;
    case 15: path = "/_/redirect?n=1"; m->size = 21; break;
    case 16: path = "/_/chunked?bytes=3000&chunk=100"; m->size = 3000; break;
    case 17: path = "/_/reset?after=100&bytes=10000"; m->err = -ECONNRESET; break;
    case 18: path = "/_/short?claim=1000&send=10"; m->err = -EPIPE; break;
    case 19:
        path = "/_/stall?after=10";
        m->opts.timeout = stall_timeout;
        m->err = -ETIMEDOUT;
        break;
    default: break;
    }
    snprintf(m->url, sizeof m->url, "http://127.0.0.1:%d%s", port, path);
}

/* Whether the result of m is the one expected. */
static bool mix_check(const mix_req *m, int err, const mt_http_response *r)
{
    if (err != m->err)
        return false;
    if (err)
        return true;
    /* 404 and 503 bodies are the server's short texts: only the status */
    return r->status == m->status && (m->size == 0 || r->size == m->size);
}

/* Outcomes, for the messages. */
typedef struct tally {
    atomic_int ok, wrong;
    atomic_int first_wrong; /* request number + 1 */
    char why[512];
} tally;

static void tally_add(tally *t, const mix_req *m, unsigned i, int err, const mt_http_response *r)
{
    if (mix_check(m, err, r)) {
        atomic_fetch_add(&t->ok, 1);
        return;
    }
    atomic_fetch_add(&t->wrong, 1);
    int none = 0;
    if (atomic_compare_exchange_strong(&t->first_wrong, &none, (int)i + 1))
        snprintf(t->why, sizeof t->why, "%s: %s (status %ld), expected %s", m->url,
                 mt_strerror(err), r->status, mt_strerror(m->err));
}

/* ---- 10,000 on one client ------------------------------------------------ */

#define WORKERS 16
#define WARMUP (1000 / SCALE)
#define TOTAL (10000 / SCALE)
#define STALL_TIMEOUT 0.02

typedef struct one_client {
    mt_http_client *c;
    unsigned next, end; /* the next request number to make, the end */
    tally t;
} one_client;

static int mix_worker(void *arg)
{
    one_client *o = arg;
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    mix_req m;
    while (o->next < o->end) {
        unsigned i = o->next++;
        mix_make(&m, srv.port, i, STALL_TIMEOUT);
        int err = mt_http_get(o->c, m.url, &m.opts, &r);
        tally_add(&o->t, &m, i, err, &r);
    }
    mt_http_response_free(&r);
    return 0;
}

/* Run requests [o->next, end) on WORKERS coroutines. */
static void mix_run(one_client *o, unsigned end)
{
    o->end = end;
    mt_task *ts[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        cr_assert_eq(mt_task_create(&ts[i], mix_worker, o, NULL), 0);
    cr_expect_eq(mt_co_gather(ts, WORKERS, NULL, NULL), 0);
    release_all(ts, WORKERS);
}

static int one_client_main(void *arg)
{
    (void)arg;
    one_client o = {0};
    int before = count_fds();
    cr_assert_eq(mt_http_client_new(&o.c, NULL), 0);
    mix_run(&o, WARMUP);
    usage warm = usage_now();
    mix_run(&o, TOTAL);
    usage end = usage_now();
    cr_expect_eq(atomic_load(&o.t.ok), TOTAL, "%d as expected, %d not; the first: #%d %s",
                 atomic_load(&o.t.ok), atomic_load(&o.t.wrong), atomic_load(&o.t.first_wrong) - 1,
                 o.t.why);
    /* Idle kept-alive connections in libcurl's cache: about one a worker,
     * more or fewer at the two moments (a busy machine makes more requests
     * time out, and their connections are made anew), each its socket and
     * the duplicate the loop watches. */
    expect_no_growth(warm, end, 2 * WORKERS, HEAP_SLACK, "one client, mixed requests");
    cr_expect_eq(mt_http_client_free(o.c), 0);
    cr_expect_eq(count_fds(), before, "the client's fds all closed with it");
    return 0;
}

static void start_server(void)
{
    static const char *const extra[] = {"--stall-max", "30", NULL};
    test_httpd_start(&srv, extra);
    char data[FILE_SIZE];
    memset(data, 'f', sizeof data);
    test_httpd_put(&srv, "f.bin", data, sizeof data);
}

LEAK_TEST(http_load, ten_thousand_mixed_requests_one_client, .timeout = 120)
{
    start_server();
    cr_expect_eq(co_run(one_client_main, NULL), 0);
    test_httpd_stop(&srv);
}

/* ---- the blocking call from a few threads ------------------------------ */

#define THREADS 4
#define PER_THREAD (TOTAL / THREADS)
#define WARMUP_PER_THREAD (WARMUP / THREADS)
#define BLOCKING_STALL_TIMEOUT 0.01

typedef struct blocking_run {
    pthread_barrier_t bar; /* the threads and the test, at the quiet moments */
    tally t;
} blocking_run;

static void blocking_mix(blocking_run *b, unsigned from, unsigned to)
{
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    mix_req m;
    for (unsigned i = from; i < to; i++) {
        mix_make(&m, srv.port, i, BLOCKING_STALL_TIMEOUT);
        int err = mt_http_get_blocking(&r, m.url, &m.opts);
        tally_add(&b->t, &m, i, err, &r);
    }
    mt_http_response_free(&r);
}

static void *blocking_thread(void *arg)
{
    blocking_run *b = arg;
    blocking_mix(b, 0, WARMUP_PER_THREAD);
    pthread_barrier_wait(&b->bar); /* warmed up: the test measures */
    pthread_barrier_wait(&b->bar);
    blocking_mix(b, WARMUP_PER_THREAD, PER_THREAD);
    pthread_barrier_wait(&b->bar); /* done: the test measures */
    pthread_barrier_wait(&b->bar);
    return NULL; /* the thread's loop and client go with it */
}

LEAK_TEST(http_load, ten_thousand_blocking_requests_from_threads, .timeout = 120)
{
    start_server();
    blocking_run *b = calloc(1, sizeof *b);
    cr_assert(b);
    pthread_barrier_init(&b->bar, NULL, THREADS + 1);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, blocking_thread, b), 0);
    pthread_barrier_wait(&b->bar);
    usage warm = usage_now();
    pthread_barrier_wait(&b->bar);
    pthread_barrier_wait(&b->bar);
    usage end = usage_now();
    pthread_barrier_wait(&b->bar);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    cr_expect_eq(atomic_load(&b->t.ok), TOTAL, "%d as expected, %d not; the first: #%d %s",
                 atomic_load(&b->t.ok), atomic_load(&b->t.wrong),
                 atomic_load(&b->t.first_wrong) - 1, b->t.why);
    /* One kept-alive connection a thread at most, at either moment: its
     * socket and the duplicate the loop watches. (The leak check of the
     * test sees every fd closed once the threads are gone.) */
    expect_no_growth(warm, end, 2 * THREADS, HEAP_SLACK, "blocking, 4 threads, mixed requests");
    pthread_barrier_destroy(&b->bar);
    free(b);
    test_httpd_stop(&srv);
}

/* ---- clients made and freed -------------------------------------------- */

#define CLIENTS (1000 / SCALE)
#define CLIENTS_WARMUP (100 / SCALE)

static int client_once(void)
{
    mt_http_client *c;
    int err = mt_http_client_new(&c, NULL);
    if (err)
        return err;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/f.bin", srv.port);
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    err = mt_http_get(c, url, NULL, &r);
    if (!err && (r.status != 200 || r.body.len != FILE_SIZE))
        err = -EBADMSG;
    mt_http_response_free(&r);
    int freed = mt_http_client_free(c);
    return err ? err : freed;
}

static int clients_main(void *arg)
{
    (void)arg;
    usage warm = {0};
    for (int i = 0; i < CLIENTS; i++) {
        int err = client_once();
        if (err) {
            cr_expect_eq(err, 0, "client %d: %s", i, mt_strerror(err));
            return 0;
        }
        if (i == CLIENTS_WARMUP - 1)
            warm = usage_now();
    }
    /* Each client closes its connections when freed: the fds are exact,
     * and the heap too but for a little slack (a leak of 16 bytes a client
     * passes it). */
    expect_no_growth(warm, usage_now(), 0, 16 * 1024, "clients made and freed");
    return 0;
}

LEAK_TEST(http_load, thousand_clients_made_and_freed, .timeout = 120)
{
    start_server();
    cr_expect_eq(co_run(clients_main, NULL), 0);
    test_httpd_stop(&srv);
}

/* ---- admission, seen from the server ----------------------------------- */

/* The server's answer to /_/count?<query>, as a number; -1 if none. */
static long long server_count(const test_httpd *s, const char *query)
{
    hc_resp r;
    char target[512];
    snprintf(target, sizeof target, "/_/count?%s", query);
    long long n = -1;
    if (hc_get(s->port, "GET", target, NULL, &r) == 0 && r.status == 200 && r.body)
        n = atoll(r.body);
    free(r.body);
    return n;
}

typedef struct admit_req {
    mt_http_client *c;
    char url[256];
    double done_at; /* mt_monotonic() when it ended */
} admit_req;

static int admit_get(void *arg)
{
    admit_req *a = arg;
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    int err = mt_http_get(a->c, a->url, &(mt_http_opts){.timeout = 30}, &r);
    int status = err ? err : (int)r.status;
    mt_http_response_free(&r);
    a->done_at = mt_monotonic();
    return status;
}

/* Shared-stack tasks: a waiting task's frames are copied away and another
 * task's take their place, so whatever admission keeps of a waiting
 * request must not live on its stack. */
static const mt_task_opts shared_stack = {.stack = MT_STACK_SHARED};

/* Start n requests of c for url, into a[0..n) and ts[0..n). */
static void admit_start(admit_req *a, mt_task **ts, int n, mt_http_client *c, const char *url)
{
    for (int i = 0; i < n; i++) {
        a[i].c = c;
        snprintf(a[i].url, sizeof a[i].url, "%s", url);
        cr_assert_eq(mt_task_create(&ts[i], admit_get, &a[i], &shared_stack), 0);
    }
}

static void admit_expect_200(mt_task **ts, int n)
{
    for (int i = 0; i < n; i++)
        cr_expect_eq(mt_task_await(ts[i]), 200, "request %d", i);
    release_all(ts, (size_t)n);
}

static test_httpd other;

/* Two hosts that differ only by their port; 2 a host. */
static int per_host_main(void *arg)
{
    (void)arg;
    mt_http_client *c;
    cr_assert_eq(mt_http_client_new(&c, &(mt_http_client_opts){.max_per_host = 2}), 0);
    char a_url[128], b_url[128];
    snprintf(a_url, sizeof a_url, "http://127.0.0.1:%d/_/any/a?bytes=10&delay-ms=300", srv.port);
    snprintf(b_url, sizeof b_url, "http://127.0.0.1:%d/_/any/b?bytes=10&delay-ms=300", other.port);
    admit_req a[8], b[4];
    mt_task *ta[8], *tb[4];
    admit_start(a, ta, 8, c, a_url); /* 4 rounds of 2 */
    admit_start(b, tb, 4, c, b_url); /* after them, 2 rounds of 2 */
    admit_expect_200(tb, 4);
    admit_expect_200(ta, 8);
    double a_last = 0, b_last = 0;
    for (int i = 0; i < 8; i++)
        a_last = a[i].done_at > a_last ? a[i].done_at : a_last;
    for (int i = 0; i < 4; i++)
        b_last = b[i].done_at > b_last ? b[i].done_at : b_last;
    /* The second host's two rounds ran beside the first host's four. */
    cr_expect_lt(b_last, a_last - 0.2, "the other port was held back: %.3f s after",
                 b_last - a_last);
    cr_expect_eq(mt_http_client_free(c), 0);
    return 0;
}

LEAK_TEST(http_load, admission_per_host_and_port, .timeout = 60)
{
    start_server();
    test_httpd_start(&other, NULL);
    cr_expect_eq(co_run(per_host_main, NULL), 0);
    cr_expect_eq(server_count(&srv, "most=/_/any/a"), 2, "never more than 2, and 2 at once");
    cr_expect_eq(server_count(&other, "most=/_/any/b"), 2);
    cr_expect_eq(server_count(&srv, "path=/_/any/a"), 8);
    cr_expect_eq(server_count(&other, "path=/_/any/b"), 4);
    test_httpd_stop(&other);
    test_httpd_stop(&srv);
}

/* Two hosts that differ only by their name (127.0.0.1 and localhost, one
 * server): 2 a host, 3 in all. */
static int global_main(void *arg)
{
    (void)arg;
    mt_http_client *c;
    cr_assert_eq(mt_http_client_new(&c, &(mt_http_client_opts){.max_transfers = 3, .max_per_host = 2}),
                 0);
    char a_url[128], b_url[128];
    snprintf(a_url, sizeof a_url, "http://127.0.0.1:%d/_/any/a?bytes=10&delay-ms=200", srv.port);
    snprintf(b_url, sizeof b_url, "http://localhost:%d/_/any/b?bytes=10&delay-ms=200", srv.port);
    admit_req a[6], b[6];
    mt_task *ta[6], *tb[6];
    admit_start(a, ta, 6, c, a_url);
    admit_start(b, tb, 6, c, b_url);
    admit_expect_200(ta, 6);
    admit_expect_200(tb, 6);
    cr_expect_eq(mt_http_client_free(c), 0);
    return 0;
}

LEAK_TEST(http_load, admission_per_host_name_and_in_all, .timeout = 60)
{
    start_server();
    cr_expect_eq(co_run(global_main, NULL), 0);
    cr_expect_eq(server_count(&srv, "most=*"), 3, "3 in all at most, and 3 at once");
    cr_expect_eq(server_count(&srv, "most=/_/any/a"), 2);
    long long b = server_count(&srv, "most=/_/any/b");
    cr_expect(b >= 1 && b <= 2, "localhost: %lld at once", b);
    cr_expect_eq(server_count(&srv, "path=/_/any/a"), 6);
    cr_expect_eq(server_count(&srv, "path=/_/any/b"), 6);
    test_httpd_stop(&srv);
}
