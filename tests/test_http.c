/*
 * test_http.c - the http layer against a real server on 127.0.0.1 (the
 * small one of http_helpers.h): bodies, headers, redirects and their
 * limits, caps after decoding, many coroutines on one client, blocking
 * calls from threads, cancellation and timeouts without leaked fds.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <math.h>
#include <sys/mman.h>

#include "coro_helpers.h"
#include "http_helpers.h"

static test_server srv;

/* The server's URL for path, in one of 16 buffers used in turn (so that a
 * few can be alive at once). */
static const char *URL(const char *path)
{
    static _Thread_local char bufs[16][256];
    static _Thread_local unsigned next;
    char *b = bufs[next++ % 16];
    return srv_url(&srv, path, b, sizeof bufs[0]);
}

/* Run fn(arg) as the main task, with the server up around it. */
static int with_server(mt_co_fn *fn, void *arg)
{
    srv_start(&srv);
    int r = co_run(fn, arg);
    srv_stop(&srv);
    return r;
}

static mt_http_client *client(void)
{
    mt_http_client *c = NULL;
    cr_assert_eq(mt_http_client_new(&c, NULL), 0);
    return c;
}

/* ---- bodies and headers ----------------------------------------------- */

static int basics_main(void *arg)
{
    (void)arg;
    mt_http_client *c = client();
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    cr_expect_eq(mt_http_get(c, URL("/hello"), NULL, &r), 0, "%s", r.error);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.body.len, 11);
    cr_expect_eq(r.size, 11);
    cr_expect(r.body.data && memcmp(r.body.data, "hello world", 11) == 0);
    cr_expect_str_eq(r.url, URL("/hello"));
    cr_expect_str_eq(r.error, "");
    cr_expect_eq(r.redirects, 0);
    cr_expect_gt(r.time.total, 0);
    cr_expect_geq(r.time.total, r.time.connect);
    const char *v = mt_http_response_header(&r, "x-TEST");
    cr_expect(v && strcmp(v, "Yes") == 0, "header lookup ignores case");
    cr_expect_str_eq(mt_http_response_header(&r, "Content-Type"), "text/plain");
    cr_expect_null(mt_http_response_header(&r, "X-Absent"));
    const char *n;
    cr_expect_eq(mt_http_response_header_at(&r, 0, &n, &v), 0);
    cr_expect_str_eq(n, "Content-Length");
    cr_expect_eq(mt_http_response_header_at(&r, 99, &n, &v), MT_EINDEX);

    /* The same response reused: chunked, then a 404 (not an error). */
    cr_expect_eq(mt_http_get(c, URL("/chunked"), NULL, &r), 0, "%s", r.error);
    cr_expect_eq(r.body.len, 8);
    cr_expect(memcmp(r.body.data, "abcdefgh", 8) == 0);
    cr_expect_null(mt_http_response_header(&r, "X-Test"), "headers of the last response only");
    cr_expect_eq(mt_http_get(c, URL("/nothing-here"), NULL, &r), 0);
    cr_expect_eq(r.status, 404);

    /* What the request says: User-Agent (the default, the client's, the
     * request's), more headers, Accept-Encoding; HEAD. */
    cr_expect_eq(mt_http_get(c, URL("/echo"), NULL, &r), 0);
    mt_buf_append(&r.body, "", 1);
    cr_expect(strstr(r.body.data, "\r\nUser-Agent: multitask/" MT_VERSION_STRING "\r\n"), "%s",
              r.body.data);
    cr_expect(strstr(r.body.data, "\r\nAccept-Encoding: ") && strstr(r.body.data, "gzip"));
    const char *more[] = {"X-One: 1", "X-Two: two", NULL};
    cr_expect_eq(mt_http_get(c, URL("/echo"), &(mt_http_opts){.user_agent = "probe/1", .headers = more,
                                             .flags = MT_HTTP_NO_DECODE}, &r),
                 0);
    mt_buf_append(&r.body, "", 1);
    cr_expect(strstr(r.body.data, "\r\nUser-Agent: probe/1\r\n"));
    cr_expect(strstr(r.body.data, "\r\nX-One: 1\r\nX-Two: two\r\n"));
    cr_expect_null(strstr(r.body.data, "Accept-Encoding"));
    mt_http_client *named;
    cr_assert_eq(mt_http_client_new(&named, &(mt_http_client_opts){.user_agent = "named/2"}), 0);
    cr_expect_eq(mt_http_get(named, URL("/echo"), NULL, &r), 0);
    mt_buf_append(&r.body, "", 1);
    cr_expect(strstr(r.body.data, "\r\nUser-Agent: named/2\r\n"));
    cr_expect_eq(mt_http_client_free(named), 0);
    cr_expect_eq(mt_http_get(c, URL("/big"), &(mt_http_opts){.flags = MT_HTTP_HEAD}, &r), 0);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.size, 0);
    cr_expect_str_eq(mt_http_response_header(&r, "content-length"), "1048576");

    /* Headers are kept up to 256 KiB in all. */
    cr_expect_eq(mt_http_get(c, URL("/many-headers"), NULL, &r), -EMSGSIZE, "%s", r.error);

    /* A body that ends early, a refused connection, bad arguments. */
    cr_expect_eq(mt_http_get(c, URL("/cut"), NULL, &r), -EPIPE);
    cr_expect_neq(r.error[0], '\0');
    cr_expect_eq(mt_http_get(c, "http://127.0.0.1:1/", NULL, &r), -ECONNREFUSED);
    cr_expect_eq(mt_http_get(c, URL("/hello"), &(mt_http_opts){.timeout = 0.0 / 0.0}, &r),
                 -EINVAL);
    cr_expect_eq(mt_http_get(c, URL("/hello"), &(mt_http_opts){.to = MT_HTTP_TO_FD, .fd = -1}, &r),
                 -EINVAL);
    cr_expect_eq(mt_http_get(c, URL("/hello"), &(mt_http_opts){.to = MT_HTTP_TO_CALLBACK}, &r),
                 -EINVAL);
    cr_expect_eq(mt_http_get(c, URL("/hello"), NULL, NULL), -EINVAL);
    cr_expect_eq(mt_http_get(c, "ftp://127.0.0.1/x", NULL, &r), -EPROTONOSUPPORT);
    /* RFC 6761: .invalid never resolves (libcurl's resolver thread and its
     * wake-up socket are exercised on the way). */
    cr_expect_eq(mt_http_get(c, "http://no-such-host.invalid/", &(mt_http_opts){.timeout = 20}, &r),
                 MT_ENOHOST, "%s", r.error);
    mt_http_response_free(&r);
    cr_expect_eq(mt_http_client_free(c), 0);
    return 0;
}

LEAK_TEST(http, get_body_headers_errors, .timeout = 60)
{
    cr_assert_eq(with_server(basics_main, NULL), 0);
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    cr_expect_eq(mt_http_get(NULL, "http://127.0.0.1/", NULL, &r), MT_ENOTCORO);
    mt_http_client *c = NULL;
    cr_expect_eq(mt_http_client_new(&c, NULL), MT_ENOTCORO);
}

/* ---- sinks ------------------------------------------------------------ */

typedef struct collect {
    size_t bytes;
    int fail_after; /* fail once this many bytes came; 0: never */
} collect;

static int collect_write(const void *data, size_t len, void *arg)
{
    (void)data;
    collect *k = arg;
    k->bytes += len;
    return k->fail_after && k->bytes >= (size_t)k->fail_after ? -ENOSPC : 0;
}

static int sinks_main(void *arg)
{
    (void)arg;
    mt_http_client *c = client();
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    int fd = memfd_create("body", MFD_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_expect_eq(mt_http_get(c, URL("/big"), &(mt_http_opts){.to = MT_HTTP_TO_FD, .fd = fd}, &r),
                 0, "%s", r.error);
    cr_expect_eq(r.size, SRV_BIG);
    cr_expect_eq(r.body.len, 0, "nothing kept in memory");
    cr_expect_eq(lseek(fd, 0, SEEK_END), (off_t)SRV_BIG);
    close(fd);

    collect k = {0};
    mt_http_opts to_cb = {.to = MT_HTTP_TO_CALLBACK, .write = collect_write, .write_arg = &k};
    cr_expect_eq(mt_http_get(c, URL("/big"), &to_cb, &r), 0);
    cr_expect_eq(k.bytes, SRV_BIG);
    k = (collect){.fail_after = 1000};
    cr_expect_eq(mt_http_get(c, URL("/big"), &to_cb, &r), -ENOSPC, "the sink's own error");
    cr_expect_lt(k.bytes, SRV_BIG);

    cr_expect_eq(mt_http_get(c, URL("/big"), &(mt_http_opts){.to = MT_HTTP_TO_NOWHERE}, &r), 0);
    cr_expect_eq(r.size, SRV_BIG);
    cr_expect_eq(r.body.len, 0);
    /* Capped: the declared length is refused before the body. */
    cr_expect_eq(mt_http_get(c, URL("/big"), &(mt_http_opts){.max_size = 1000}, &r), -EFBIG);
    cr_expect_eq(r.size, 0);
    mt_http_response_free(&r);
    mt_http_client_free(c);
    return 0;
}

LEAK_TEST(http, body_to_fd_callback_nowhere, .timeout = 60)
{
    cr_assert_eq(with_server(sinks_main, NULL), 0);
}

/* What a range request says: Range and If-Range, and no Accept-Encoding
 * (the server here ignores Range: its 200 is the request's head). */
static int range_request_main(void *arg)
{
    (void)arg;
    mt_http_client *c = client();
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    mt_http_opts o = {.range_from = 12345, .if_range = "\"v1\""};
    cr_expect_eq(mt_http_get(c, URL("/echo"), &o, &r), 0, "%s", r.error);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.range_start, 0);
    cr_expect_eq(r.length, (int64_t)r.body.len);
    mt_buf_append(&r.body, "", 1);
    cr_expect(strstr(r.body.data, "\r\nRange: bytes=12345-\r\n"), "%s", r.body.data);
    cr_expect(strstr(r.body.data, "\r\nIf-Range: \"v1\"\r\n"));
    cr_expect_null(strstr(r.body.data, "Accept-Encoding"));
    o.if_range = "";
    cr_expect_eq(mt_http_get(c, URL("/echo"), &o, &r), 0, "%s", r.error);
    mt_buf_append(&r.body, "", 1);
    cr_expect(strstr(r.body.data, "\r\nRange: bytes=12345-\r\n"));
    cr_expect_null(strstr(r.body.data, "If-Range"), "an empty if_range is none");
    o.range_from = 0;
    o.if_range = "\"v1\"";
    cr_expect_eq(mt_http_get(c, URL("/echo"), &o, &r), 0, "%s", r.error);
    mt_buf_append(&r.body, "", 1);
    cr_expect_null(strstr(r.body.data, "Range"), "no Range, no If-Range without range_from");
    cr_expect(strstr(r.body.data, "Accept-Encoding"));
    mt_http_response_free(&r);
    cr_expect_eq(mt_http_client_free(c), 0);
    return 0;
}

LEAK_TEST(http, range_request_headers, .timeout = 60)
{
    cr_assert_eq(with_server(range_request_main, NULL), 0);
}

/* The cap counts decoded bytes: 1 MiB of zeros arrives as about 1 KiB of
 * gzip, which no Content-Length check can catch. */
static int gzip_main(void *arg)
{
    (void)arg;
    mt_http_client *c = client();
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    cr_expect_lt(srv.gz_len, 16384);
    cr_expect_eq(mt_http_get(c, URL("/gzip"), NULL, &r), 0, "%s", r.error);
    cr_expect_eq(r.body.len, SRV_BIG, "decoded");
    cr_expect_eq(mt_http_get(c, URL("/gzip"), &(mt_http_opts){.max_size = 65536}, &r), -EFBIG);
    cr_expect_leq(r.size, 65536);
    cr_expect_leq(r.body.len, 65536);
    cr_expect_eq(mt_http_get(c, URL("/gzip"), &(mt_http_opts){.max_size = 65536, .flags = MT_HTTP_NO_DECODE}, &r),
                 0);
    cr_expect_eq(r.size, srv.gz_len, "undecoded, the body as sent");
    mt_http_response_free(&r);
    mt_http_client_free(c);
    return 0;
}

LEAK_TEST(http, cap_counts_decoded_bytes, .timeout = 60)
{
    cr_assert_eq(with_server(gzip_main, NULL), 0);
}

/* ---- redirects -------------------------------------------------------- */

static int redirect_main(void *arg)
{
    (void)arg;
    mt_http_client *c = client();
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    cr_expect_eq(mt_http_get(c, URL("/redirect/3"), NULL, &r), 0, "%s", r.error);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.redirects, 3);
    cr_expect_str_eq(r.url, URL("/redirect/0"));
    cr_expect_eq(mt_http_get(c, URL("/redirect/12"), NULL, &r), -ELOOP, "more than 10");
    cr_expect_eq(mt_http_get(c, URL("/redirect/3"), &(mt_http_opts){.max_redirects = 2}, &r),
                 -ELOOP);
    cr_expect_eq(mt_http_get(c, URL("/redirect/3"), &(mt_http_opts){.max_redirects = -1}, &r), 0);
    cr_expect_eq(r.status, 302, "not followed");
    cr_expect_str_eq(mt_http_response_header(&r, "location"), "/redirect/2");
    /* A loop is seen when it closes, not after 10 redirects. */
    int before = atomic_load(&srv.served);
    cr_expect_eq(mt_http_get(c, URL("/loop"), NULL, &r), -ELOOP);
    cr_expect_eq(atomic_load(&srv.served) - before, 2, "two requests, then the loop was seen");
    cr_expect_eq(mt_http_get(c, URL("/file"), NULL, &r), -EPROTONOSUPPORT);
    cr_expect_eq(r.body.len, 0, "nothing read from file:");
    mt_http_response_free(&r);
    mt_http_client_free(c);
    return 0;
}

LEAK_TEST(http, redirects_limits_loops_schemes, .timeout = 60)
{
    cr_assert_eq(with_server(redirect_main, NULL), 0);
}

/* GET url with c: the status, or the error. */
static int status_of(mt_http_client *c, const char *url)
{
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    int err = mt_http_get(c, url, NULL, &r);
    if (!err)
        err = (int)r.status;
    mt_http_response_free(&r);
    return err;
}

static int one_get_hello(void *arg)
{
    return status_of(arg, URL("/hello"));
}

/* ---- retries --------------------------------------------------------- */

static int retry_main(void *arg)
{
    (void)arg;
    mt_http_client *c = client();
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    mt_http_retry quick = {.backoff = 0.05};
    mt_http_opts o = {.retry = &quick};

    cr_expect_eq(mt_http_get(c, URL("/flaky/2/1"), &o, &r), 0, "%s", r.error);
    cr_expect_eq(r.status, 200, "503, 503, then 200");
    cr_expect_eq(r.tries, 3);
    cr_expect_eq(atomic_load(&srv.hits[1]), 3);
    cr_expect_eq(mt_http_get(c, URL("/flaky/5/2"), &o, &r), 0);
    cr_expect_eq(r.status, 503, "three tries, then the last response");
    cr_expect_eq(r.tries, 3);
    cr_expect_eq(atomic_load(&srv.hits[2]), 3);
    cr_expect_eq(mt_http_get(c, URL("/flaky/5/3"), NULL, &r), 0);
    cr_expect_eq(r.tries, 1, "no policy, no retry");
    cr_expect_eq(mt_http_get(c, URL("/nothing/4"), &o, &r), 0);
    cr_expect_eq(r.status, 404);
    cr_expect_eq(r.tries, 1, "a 404 is not transient");

    /* Retry-After, in seconds and as a date; one too long is not waited. */
    double t0 = mt_monotonic();
    cr_expect_eq(mt_http_get(c, URL("/after/5"), &o, &r), 0);
    cr_expect_eq(r.status, 200);
    cr_expect_geq(mt_monotonic() - t0, 0.95, "waited as Retry-After asked");
    t0 = mt_monotonic();
    cr_expect_eq(mt_http_get(c, URL("/after-date/6"), &o, &r), 0);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.tries, 2);
    cr_expect_geq(mt_monotonic() - t0, 0.5, "waited until the date");
    cr_expect_eq(mt_http_get(c, URL("/after-long/7"), &o, &r), 0);
    cr_expect_eq(r.status, 429);
    cr_expect_eq(r.tries, 1, "Retry-After beyond backoff_max: given up");
    mt_http_retry budget = {.backoff = 0.2, .max_tries = 10, .max_time = 0.5};
    cr_expect_eq(mt_http_get(c, URL("/flaky/9/8"), &(mt_http_opts){.retry = &budget}, &r), 0);
    cr_expect_eq(r.status, 503);
    cr_expect_lt(r.tries, 10, "the total wait is capped");
    cr_expect_geq(r.tries, 2);

    /* A short body and broken chunking are transient; an fd sink is
     * rewound before the next try. */
    int fd = memfd_create("body", MFD_CLOEXEC);
    cr_expect_eq(mt_http_get(c, URL("/cut-once/9"), &(mt_http_opts){.retry = &quick, .to = MT_HTTP_TO_FD, .fd = fd}, &r),
                 0, "%s", r.error);
    cr_expect_eq(r.tries, 2);
    cr_expect_eq(lseek(fd, 0, SEEK_END), 1000, "the short first body was taken back");
    close(fd);
    cr_expect_eq(mt_http_get(c, URL("/bad-chunks-once/10"), &o, &r), 0, "%s", r.error);
    cr_expect_eq(r.tries, 2);
    cr_expect(r.body.len == 3 && memcmp(r.body.data, "abc", 3) == 0);
    cr_expect_eq(mt_http_get(c, URL("/hello"), &(mt_http_opts){.retry = &(mt_http_retry){
                                                         .backoff = -1}}, &r),
                 -EINVAL);

    /* The policy's decision on its own, as a caller with tries of its own
     * asks for it: the long Retry-After obeyed when retry_after_max
     * allows it, and the plain backoff's bounds. */
    cr_expect_eq(mt_http_get(c, URL("/after-long/11"), NULL, &r), 0);
    double w = -1;
    cr_expect_eq(mt_http_retry_wait(&quick, 1, &r, 0, &w), 0, "past backoff_max");
    mt_http_retry patient = {.retry_after_max = 4000, .max_time = INFINITY};
    cr_expect_eq(mt_http_retry_wait(&patient, 1, &r, 0, &w), 1);
    cr_expect_eq(w, atof(mt_http_response_header(&r, "Retry-After")));
    mt_http_retry plain = {.backoff = 1, .backoff_max = 8, .max_tries = 10};
    for (int tries = 1; tries <= 6; tries++) {
        double base = tries < 4 ? (double)(1 << (tries - 1)) : 8;
        cr_expect_eq(mt_http_retry_wait(&plain, tries, NULL, 0, &w), 1);
        cr_expect(w >= base / 2 && w <= base, "try %d: %.3f s, not in [%g, %g]", tries, w,
                  base / 2, base);
    }
    cr_expect_eq(mt_http_retry_wait(&plain, 10, NULL, 0, &w), 0, "tries used up");
    cr_expect_eq(mt_http_retry_wait(&plain, 2, NULL, 59.5, &w), 0, "past the default budget");
    cr_expect_eq(mt_http_retry_wait(&plain, 0, NULL, 0, &w), -EINVAL);
    cr_expect_eq(mt_http_retry_wait(&plain, 1, NULL, NAN, &w), -EINVAL);
    cr_expect_eq(mt_http_retry_wait(NULL, 1, NULL, 0, &w), -EINVAL);
    cr_expect_eq(mt_http_retry_wait(&(mt_http_retry){.max_time = NAN}, 1, NULL, 0, &w), -EINVAL);
    cr_expect_eq(mt_http_retry_wait(&(mt_http_retry){.backoff = INFINITY}, 1, NULL, 0, &w),
                 -EINVAL);
    mt_http_response_free(&r);
    mt_http_client_free(c);
    return 0;
}

LEAK_TEST(http, retries_backoff_retry_after, .timeout = 60)
{
    cr_assert_eq(with_server(retry_main, NULL), 0);
}

/* A retry's wait is a loop timer: the coroutine can be cancelled in it. */
static int retry_wait_get(void *arg)
{
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    mt_http_retry slow = {.backoff = 20, .backoff_max = 40};
    int err = mt_http_get(arg, URL("/flaky/9/11"), &(mt_http_opts){.retry = &slow}, &r);
    mt_http_response_free(&r);
    return err;
}

static int retry_cancel_main(void *arg)
{
    (void)arg;
    mt_http_client *c = client();
    mt_task *t, *other;
    mt_task_create(&t, retry_wait_get, c, NULL);
    mt_task_create(&other, one_get_hello, c, NULL);
    cr_expect_eq(mt_task_await(other), 200, "the loop runs on while one waits to retry");
    mt_co_sleep(0.2);
    cr_expect_eq(atomic_load(&srv.hits[11]), 1);
    mt_task_cancel(t);
    cr_expect_eq(mt_task_await(t), -ECANCELED);
    mt_task_free(t);
    mt_task_free(other);
    mt_http_client_free(c);
    return 0;
}

LEAK_TEST(http, retry_wait_is_cancellable, .timeout = 30)
{
    cr_assert_eq(with_server(retry_cancel_main, NULL), 0);
}

/* ---- many at once ----------------------------------------------------- */

#define MANY 100

static mt_http_client *shared_client;

static int one_get(void *arg)
{
    (void)arg;
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    int err = mt_http_get(shared_client, URL("/slow-not"), NULL, &r); /* a 404 */
    if (!err)
        err = mt_http_get(shared_client, URL("/hello"), NULL, &r);
    if (!err)
        err = r.body.len == 11 ? (int)r.status : -EBADMSG;
    mt_http_response_free(&r);
    return err;
}

static int many_main(void *arg)
{
    (void)arg;
    shared_client = client();
    mt_task *ts[MANY];
    int results[MANY];
    for (int i = 0; i < MANY; i++)
        cr_assert_eq(mt_task_create(&ts[i], one_get, NULL, NULL), 0);
    cr_expect_eq(mt_co_gather(ts, MANY, results, NULL), 0);
    for (int i = 0; i < MANY; i++)
        cr_expect_eq(results[i], 200, "task %d: %s", i, mt_strerror(results[i]));
    release_all(ts, MANY);
    cr_expect_eq(mt_http_client_free(shared_client), 0);
    return 0;
}

LEAK_TEST(http, hundred_coroutines_one_client, .timeout = 60)
{
    cr_assert_eq(with_server(many_main, NULL), 0);
    cr_expect_geq(atomic_load(&srv.served), 2 * MANY);
}

/* Connections are kept for reuse, one per transfer the client may run:
 * tasks that each make requests one after another never reconnect. */
#define REUSE_TASKS 12
#define REUSE_GETS 20

static int reuse_gets(void *arg)
{
    mt_http_client *c = arg;
    for (int i = 0; i < REUSE_GETS; i++) {
        int st = status_of(c, URL("/keep/x"));
        if (st != 200)
            return st < 0 ? st : -EBADMSG;
    }
    return 0;
}

static int reuse_main(void *arg)
{
    (void)arg;
    mt_http_client *c;
    cr_assert_eq(mt_http_client_new(&c, &(mt_http_client_opts){.max_transfers = REUSE_TASKS}), 0);
    atomic_store(&srv.accepted, 0);
    mt_task *ts[REUSE_TASKS];
    int results[REUSE_TASKS];
    for (int i = 0; i < REUSE_TASKS; i++)
        cr_assert_eq(mt_task_create(&ts[i], reuse_gets, c, NULL), 0);
    cr_expect_eq(mt_co_gather(ts, REUSE_TASKS, results, NULL), 0);
    for (int i = 0; i < REUSE_TASKS; i++)
        cr_expect_eq(results[i], 0, "task %d: %s", i, mt_strerror(results[i]));
    release_all(ts, REUSE_TASKS);
    cr_expect_leq(atomic_load(&srv.accepted), REUSE_TASKS, "%d connections for %d transfers at once",
                  atomic_load(&srv.accepted), REUSE_TASKS);
    cr_expect_eq(mt_http_client_free(c), 0);
    return 0;
}

LEAK_TEST(http, connections_kept_per_transfer, .timeout = 60)
{
    cr_assert_eq(with_server(reuse_main, NULL), 0);
}

/* Admission: no more transfers at once than the client allows, in all
 * and per host, and a host at its limit holds back no other host. */
typedef struct admit_case {
    mt_http_client *c;
    const char *url;
} admit_case;

static int admit_get(void *arg)
{
    admit_case *a = arg;
    return status_of(a->c, a->url);
}

static void admit_run(mt_http_client_opts o, int n, int most)
{
    mt_http_client *c;
    cr_assert_eq(mt_http_client_new(&c, &o), 0);
    atomic_store(&srv.most, 0);
    admit_case a = {c, URL("/pause")};
    mt_task *ts[16];
    int results[16];
    for (int i = 0; i < n; i++)
        mt_task_create(&ts[i], admit_get, &a, NULL);
    cr_expect_eq(mt_co_gather(ts, (size_t)n, results, NULL), 0);
    for (int i = 0; i < n; i++)
        cr_expect_eq(results[i], 200);
    release_all(ts, (size_t)n);
    cr_expect_eq(atomic_load(&srv.most), most, "at most %d at once", most);
    cr_expect_eq(mt_http_client_free(c), 0);
}

static int admission_main(void *arg)
{
    (void)arg;
    admit_run((mt_http_client_opts){.max_per_host = 2}, 10, 2);
    admit_run((mt_http_client_opts){.max_transfers = 3}, 10, 3);
    admit_run((mt_http_client_opts){.max_transfers = 5, .max_per_host = 4}, 10, 4);

    /* One per host: a second request to 127.0.0.1 waits, one to localhost
     * (another host) goes on. */
    mt_http_client *c;
    cr_assert_eq(mt_http_client_new(&c, &(mt_http_client_opts){.max_per_host = 1}), 0);
    char other[256];
    snprintf(other, sizeof other, "http://localhost:%d/hello", srv.port);
    admit_case first = {c, URL("/long-pause")}, second = first, elsewhere = {c, other};
    mt_task *t1, *t2, *t3;
    mt_task_create(&t1, admit_get, &first, NULL);
    mt_task_create(&t2, admit_get, &second, NULL);
    mt_task_create(&t3, admit_get, &elsewhere, NULL);
    cr_expect_eq(mt_task_await(t3), 200);
    cr_expect(!mt_task_done(t1) && !mt_task_done(t2), "the other host was not held back");
    /* Cancelled while waiting for admission: it leaves the queue. */
    mt_task_cancel(t2);
    cr_expect_eq(mt_task_await(t2), -ECANCELED);
    cr_expect_eq(mt_task_await(t1), 200);
    mt_task_free(t1);
    mt_task_free(t2);
    mt_task_free(t3);
    cr_expect_eq(mt_http_client_free(c), 0);
    cr_expect_eq(mt_http_client_new(&c, &(mt_http_client_opts){.max_per_host = -1}), -EINVAL);
    return 0;
}

LEAK_TEST(http, admission_total_and_per_host, .timeout = 60)
{
    cr_assert_eq(with_server(admission_main, NULL), 0);
}

/* ---- from threads ----------------------------------------------------- */

static int blocking_fn(const void *arg, size_t len, mt_buf *out)
{
    (void)len;
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    int err = 0;
    for (int i = 0; i < 5 && !err; i++)
        err = mt_http_get_blocking(&r, arg, NULL);
    if (!err)
        err = mt_buf_append(out, r.body.data, r.body.len);
    mt_http_response_free(&r);
    return err;
}

static int blocking_in_coro(void *arg)
{
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    return mt_http_get_blocking(&r, arg, NULL);
}

LEAK_TEST(http, blocking_from_four_threads, .timeout = 60)
{
    srv_start(&srv);
    const char *url = URL("/hello");
    mt_executor *ex;
    cr_assert_eq(mt_executor_new(&ex, &(mt_executor_opts){.max_workers = 4}), 0);
    mt_future *fs[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(mt_executor_submit(ex, blocking_fn, url, strlen(url) + 1, &fs[i]), 0);
    for (int i = 0; i < 4; i++) {
        mt_iov res;
        cr_expect_eq(mt_future_result(fs[i], MT_FOREVER, &res), 0, "%s",
                     mt_future_error_message(fs[i]));
        cr_expect(res.len == 11 && memcmp(res.data, "hello world", 11) == 0);
        mt_future_free(fs[i]);
    }
    mt_executor_free(ex); /* its threads end: their loops and clients go */
    /* From a coroutine: refused (and no loop made for this thread). */
    cr_expect_eq(co_run(blocking_in_coro, (void *)url), -EBUSY);
    srv_stop(&srv);
    cr_expect_eq(atomic_load(&srv.served), 20);
}

/* A child process started by the process layer makes its own loop and
 * client: it never sends on a connection of its parent's (which the parent
 * keeps alive), and the parent's go on working. */
static int child_get(const void *arg, size_t len, mt_buf *out)
{
    (void)len;
    (void)out;
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    int err = mt_http_get_blocking(&r, arg, NULL);
    int ok = !err && r.status == 200;
    mt_http_response_free(&r);
    return ok ? 0 : 1;
}

static void *fork_thread(void *arg)
{
    const char *url = arg;
    char parent_url[256], child_url[256];
    srv_url(&srv, "/keep/parent", parent_url, sizeof parent_url);
    srv_url(&srv, "/keep/child", child_url, sizeof child_url);
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    cr_expect_eq(mt_http_get_blocking(&r, parent_url, NULL), 0);
    cr_expect_eq(r.status, 200);
    mt_process *p;
    cr_assert_eq(mt_process_new(&p, child_get, child_url, strlen(child_url) + 1, NULL), 0);
    cr_assert_eq(mt_process_start(p), 0);
    cr_expect_eq(mt_process_join(p, 30), 0);
    int code = -1;
    cr_expect(mt_process_exitcode(p, &code) && code == 0, "the child's request: %d", code);
    mt_process_free(p);
    cr_expect_not(atomic_load(&srv.child_reused), "the child used its parent's connection");
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(mt_http_get_blocking(&r, url, NULL), 0, "%s", r.error);
        cr_expect_eq(r.status, 200);
    }
    mt_http_response_free(&r);
    return NULL;
}

LEAK_TEST(http, blocking_in_a_child_process, .timeout = 60)
{
    srv_start(&srv);
    pthread_t th; /* a thread of its own: its loop goes when it ends */
    char url[256];
    srv_url(&srv, "/hello", url, sizeof url);
    cr_assert_eq(pthread_create(&th, NULL, fork_thread, url), 0);
    pthread_join(th, NULL);
    srv_stop(&srv);
    cr_expect_eq(atomic_load(&srv.served), 5);
}

/* ---- cancellation and timeouts ---------------------------------------- */

static int slow_get(void *arg)
{
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    int err = mt_http_get(arg, URL("/slow"), NULL, &r);
    cr_expect_gt(r.size, 0, "some of the body came");
    cr_expect_lt(r.size, 100000);
    mt_http_response_free(&r);
    return err;
}

static int count_fds(void)
{
    return count_dir("/proc/self/fd", "");
}

/* The fds of this process once the server has closed its side of every
 * connection. */
static int srv_idle_fds(void)
{
    for (int i = 0; i < 500 && atomic_load(&srv.now); i++)
        mt_co_sleep(0.01);
    return count_fds();
}

/* Wait (up to 5 s) until this process has `fds` fds: the server's side of
 * a connection closes once it sees the client gone. */
static int settle_fds(int fds)
{
    for (int i = 0; i < 500 && count_fds() != fds; i++)
        mt_co_sleep(0.01);
    return count_fds();
}

static int cancel_main(void *arg)
{
    (void)arg;
    mt_http_client *c = client();
    int fds = count_fds();
    mt_task *t;
    cr_assert_eq(mt_task_create(&t, slow_get, c, NULL), 0);
    mt_co_sleep(0.3);
    cr_expect_eq(count_fds(), fds + 3,
                 "the transfer's socket, the duplicate its poll handle watches, the server's");
    cr_expect_eq(mt_task_cancel(t), 0);
    cr_expect_eq(mt_task_await(t), -ECANCELED);
    mt_task_free(t);
    cr_expect_eq(settle_fds(fds), fds, "its socket closed with it, client still alive");

    /* A timeout scope around the request. */
    mt_co_timeout scope;
    mt_co_timeout_begin(&scope, 0.3);
    cr_expect_eq(slow_get(c), -ETIMEDOUT);
    cr_expect_eq(mt_co_timeout_end(&scope), -ETIMEDOUT);
    cr_expect_eq(settle_fds(fds), fds);
    /* The request's own limits: total time, and the low-speed abort. */
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    double t0 = mt_monotonic();
    cr_expect_eq(mt_http_get(c, URL("/slow"), &(mt_http_opts){.timeout = 0.3}, &r), -ETIMEDOUT);
    cr_expect_neq(r.error[0], '\0');
    cr_expect_eq(mt_http_get(c, URL("/stall"), &(mt_http_opts){.low_speed_bytes = 100, .low_speed_time = 1}, &r),
                 -ETIMEDOUT);
    cr_expect_lt(mt_monotonic() - t0, 10.0);
    cr_expect_eq(settle_fds(fds), fds);
    mt_http_response_free(&r);
    cr_expect_eq(mt_http_client_free(c), 0);
    return 0;
}

LEAK_TEST(http, cancel_and_timeouts_leave_no_fd, .timeout = 60)
{
    cr_assert_eq(with_server(cancel_main, NULL), 0);
}

static int sequential_main(void *arg)
{
    (void)arg;
    mt_http_client *c = client();
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    int fds = -1;
    for (int i = 0; i < 1000; i++) {
        int err = mt_http_get(c, URL("/hello"), NULL, &r);
        if (err || r.status != 200) {
            cr_expect_eq(err, 0, "request %d: %s", i, r.error);
            break;
        }
        if (i == 9)
            fds = srv_idle_fds();
    }
    cr_expect_eq(srv_idle_fds(), fds, "no fd growth over 1,000 requests");
    mt_http_response_free(&r);
    mt_http_client_free(c);
    return 0;
}

LEAK_TEST(http, thousand_sequential_requests, .timeout = 120)
{
    cr_assert_eq(with_server(sequential_main, NULL), 0);
    cr_expect_eq(atomic_load(&srv.served), 1000);
}
