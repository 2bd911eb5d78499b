/*
 * test_http_range.c - the headers hook and Range resume of the http layer,
 * against mt-test-httpd on 127.0.0.1 (its /_/range/<size> resource honours
 * Range and If-Range, or misbehaves on request): the hook sees the final
 * response's head before any body byte, also for an empty body, and can
 * refuse the body; a resume appends exactly the missing bytes to each
 * sink; a whole body (If-Range mismatch, Range ignored) replaces an fd
 * sink's partial file; a 416 delivers nothing; a 206 starting elsewhere is
 * refused; a retry of a range request ends with exactly the right bytes.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "coro_helpers.h"
#include "helpers.h"
#include "http_server.h"
#include "multitask/http.h"

static test_httpd srv;

/* The server's URL for path, in one of 8 buffers used in turn. */
static const char *URL(const char *path)
{
    static char bufs[8][512];
    static unsigned next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "http://127.0.0.1:%d%s", srv.port, path);
    return b;
}

/* Run fn as the main task, the server up around it. */
static void with_server(mt_co_fn *fn)
{
    test_httpd_start(&srv, NULL);
    cr_expect_eq(co_run(fn, NULL), 0, "%s", co_reports);
    test_httpd_stop(&srv);
}

static mt_http_client *client(void)
{
    mt_http_client *c = NULL;
    cr_assert_eq(mt_http_client_new(&c, NULL), 0);
    return c;
}

/* Whether p[0..len) is the server's pattern from offset off. */
static bool is_pattern(const char *p, size_t len, size_t off)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != (char)('a' + (off + i) % 26))
            return false;
    return true;
}

/* A file (memfd) holding n bytes, the pattern or `fill` bytes, its offset
 * at its end: a partial download. */
static int partial_file(size_t n, char fill)
{
    int fd = memfd_create("partial", MFD_CLOEXEC);
    cr_assert_geq(fd, 0);
    char *p = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        p[i] = fill ? fill : (char)('a' + i % 26);
    cr_assert_eq(write(fd, p, n), (ssize_t)n);
    free(p);
    return fd;
}

/* Whether the file is exactly the pattern of `size` bytes, its offset at
 * its end. */
static bool file_is_pattern(int fd, size_t size)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size != size ||
        lseek(fd, 0, SEEK_CUR) != (off_t)size)
        return false;
    char *p = malloc(size + 1);
    bool ok = pread(fd, p, size, 0) == (ssize_t)size && is_pattern(p, size, 0);
    free(p);
    return ok;
}

static off_t file_size(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? st.st_size : -1;
}

/* ---- the headers hook ------------------------------------------------- */

/* What a hook saw. */
typedef struct seen {
    int calls;
    long status;
    int64_t range_start, length;
    long redirects;
    size_t body_len;       /* resp->body.len at the call */
    size_t delivered;      /* bytes the callback sink had at the call */
    char etag[64], url[256];
    int refuse_from;       /* return -ENOENT for a status at or above; 0: never */
    size_t sink_bytes;     /* the callback sink's count */
    mt_buf sink;           /* the callback sink's bytes */
} seen;

static int hook(const mt_http_response *r, void *arg)
{
    seen *s = arg;
    s->calls++;
    s->status = r->status;
    s->range_start = r->range_start;
    s->length = r->length;
    s->redirects = r->redirects;
    s->body_len = r->body.len;
    s->delivered = s->sink_bytes;
    const char *e = mt_http_response_header(r, "ETag");
    snprintf(s->etag, sizeof s->etag, "%s", e ? e : "");
    snprintf(s->url, sizeof s->url, "%s", r->url ? r->url : "");
    return s->refuse_from && r->status >= s->refuse_from ? -ENOENT : 0;
}

static int sink(const void *data, size_t len, void *arg)
{
    seen *s = arg;
    s->sink_bytes += len;
    return mt_buf_append(&s->sink, data, len);
}

static int hook_before_body_main(void *arg)
{
    (void)arg;
    mt_http_client *c = client();
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    seen s = {0};
    mt_http_opts o = {.to = MT_HTTP_TO_CALLBACK, .write = sink, .write_arg = &s,
                      .on_headers = hook, .on_headers_arg = &s};
    cr_expect_eq(mt_http_get(c, URL("/_/range/5000?etag=v1"), &o, &r), 0, "%s", r.error);
    cr_expect_eq(s.calls, 1);
    cr_expect_eq(s.status, 200);
    cr_expect_str_eq(s.etag, "\"v1\"");
    cr_expect_eq(s.length, 5000);
    cr_expect_eq(s.range_start, 0);
    cr_expect_eq(s.delivered, 0, "the hook runs before the first body byte");
    cr_expect_eq(s.body_len, 0);
    cr_expect_str_eq(s.url, URL("/_/range/5000?etag=v1"));
    cr_expect_eq(s.sink_bytes, 5000);
    cr_expect_eq(r.length, 5000);
    cr_expect(is_pattern(s.sink.data, s.sink.len, 0));

    /* Through redirects: once, for the final response only. */
    s = (seen){0};
    o.write_arg = o.on_headers_arg = &s;
    cr_expect_eq(mt_http_get(c, URL("/_/redirect?n=2&to=/_/range/300"), &o, &r), 0, "%s",
                 r.error);
    cr_expect_eq(r.redirects, 3);
    cr_expect_eq(s.calls, 1, "not for the followed 3xx");
    cr_expect_eq(s.redirects, 3);
    cr_expect_eq(s.status, 200);
    cr_expect_eq(s.length, 300);
    cr_expect_str_eq(s.url, URL("/_/range/300"));
    /* Redirects not followed: the 3xx is the final response. */
    s = (seen){0};
    o.max_redirects = -1;
    cr_expect_eq(mt_http_get(c, URL("/_/redirect?n=2"), &o, &r), 0, "%s", r.error);
    cr_expect_eq(s.calls, 1);
    cr_expect_eq(s.status / 100, 3);
    cr_expect_eq(s.length, -1, "the length of a 3xx is not the resource's");
    mt_buf_free(&s.sink);
    mt_http_response_free(&r);
    cr_expect_eq(mt_http_client_free(c), 0);
    return 0;
}

LEAK_TEST(http_range, hook_sees_status_and_headers_before_the_body, .timeout = 60)
{
    with_server(hook_before_body_main);
}

static int hook_refuses_main(void *arg)
{
    (void)arg;
    mt_http_client *c = client();
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    seen s = {.refuse_from = 400};
    int fd = partial_file(0, 0);
    mt_http_opts o = {.to = MT_HTTP_TO_FD, .fd = fd, .on_headers = hook, .on_headers_arg = &s};
    cr_expect_eq(mt_http_get(c, URL("/missing.bin"), &o, &r), -ENOENT, "%s", r.error);
    cr_expect_eq(s.calls, 1);
    cr_expect_eq(r.status, 404, "the status is kept");
    cr_expect_str_eq(mt_http_response_header(&r, "Content-Length"), "10", "and the headers");
    cr_expect_eq(r.size, 0);
    cr_expect_eq(file_size(fd), 0, "not a byte of the 404 reached the file");
    cr_expect_neq(r.error[0], '\0');
    /* Into memory: nothing either; a 200 is taken. */
    o.to = MT_HTTP_TO_MEMORY;
    cr_expect_eq(mt_http_get(c, URL("/_/status/503"), &o, &r), -ENOENT);
    cr_expect_eq(r.status, 503);
    cr_expect_eq(r.body.len, 0);
    cr_expect_eq(mt_http_get(c, URL("/_/range/100"), &o, &r), 0, "%s", r.error);
    cr_expect_eq(r.body.len, 100);
    cr_expect_eq(s.calls, 3);
    close(fd);
    mt_http_response_free(&r);
    cr_expect_eq(mt_http_client_free(c), 0);
    return 0;
}

LEAK_TEST(http_range, hook_refuses_a_404_body_and_its_code_is_the_result, .timeout = 60)
{
    with_server(hook_refuses_main);
}

static int hook_empty_main(void *arg)
{
    (void)arg;
    mt_http_client *c = client();
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    seen s = {0};
    mt_http_opts o = {.on_headers = hook, .on_headers_arg = &s};
    cr_expect_eq(mt_http_get(c, URL("/_/status/204"), &o, &r), 0, "%s", r.error);
    cr_expect_eq(s.calls, 1, "a 204");
    cr_expect_eq(s.status, 204);
    o.flags = MT_HTTP_HEAD;
    cr_expect_eq(mt_http_get(c, URL("/_/range/1000"), &o, &r), 0, "%s", r.error);
    cr_expect_eq(s.calls, 2, "a HEAD");
    cr_expect_eq(s.status, 200);
    cr_expect_eq(s.length, 1000);
    o.flags = 0;
    cr_expect_eq(mt_http_get(c, URL("/_/range/0"), &o, &r), 0, "%s", r.error);
    cr_expect_eq(s.calls, 3, "a 200 with Content-Length: 0");
    cr_expect_eq(s.length, 0);
    cr_expect_eq(r.length, 0);
    o.range_from = 1000;
    cr_expect_eq(mt_http_get(c, URL("/_/range/1000"), &o, &r), 0, "%s", r.error);
    cr_expect_eq(s.calls, 4, "a 416");
    cr_expect_eq(s.status, 416);
    cr_expect_eq(s.length, 1000);
    /* A refusal of an empty body is the result too. */
    s.refuse_from = 200;
    o.range_from = 0;
    cr_expect_eq(mt_http_get(c, URL("/_/status/204"), &o, &r), -ENOENT);
    cr_expect_eq(r.status, 204);
    mt_http_response_free(&r);
    cr_expect_eq(mt_http_client_free(c), 0);
    return 0;
}

LEAK_TEST(http_range, hook_is_called_for_empty_bodies, .timeout = 60)
{
    with_server(hook_empty_main);
}

/* ---- resume ----------------------------------------------------------- */

#define SIZE 100000
#define HAVE 30000

static int resume_main(void *arg)
{
    (void)arg;
    mt_http_client *c = client();
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    const char *url = URL("/_/range/100000?etag=v1&lm=Sun,+06+Dec+2026+10:00:00+GMT");
    /* fd sink: the partial file gets the rest. */
    int fd = partial_file(HAVE, 0);
    seen s = {0};
    mt_http_opts o = {.to = MT_HTTP_TO_FD, .fd = fd, .range_from = HAVE, .if_range = "\"v1\"",
                      .on_headers = hook, .on_headers_arg = &s};
    cr_expect_eq(mt_http_get(c, url, &o, &r), 0, "%s", r.error);
    cr_expect_eq(r.status, 206);
    cr_expect_eq(r.range_start, HAVE);
    cr_expect_eq(r.length, SIZE);
    cr_expect_eq(r.size, SIZE - HAVE);
    cr_expect_eq(s.range_start, HAVE, "the hook sees where the body starts");
    cr_expect_eq(s.length, SIZE);
    cr_expect(file_is_pattern(fd, SIZE), "the file is whole");
    cr_expect(test_httpd_log_has(&srv, "bytes=30000- 206 70000", 5), "Range: bytes=30000- sent");
    close(fd);
    /* By date: If-Range with the Last-Modified as sent. */
    fd = partial_file(HAVE, 0);
    o.fd = fd;
    o.if_range = "Sun, 06 Dec 2026 10:00:00 GMT";
    cr_expect_eq(mt_http_get(c, url, &o, &r), 0, "%s", r.error);
    cr_expect_eq(r.status, 206);
    cr_expect(file_is_pattern(fd, SIZE));
    close(fd);
    /* Memory: only the bytes sent. */
    o.to = MT_HTTP_TO_MEMORY;
    o.if_range = NULL;
    cr_expect_eq(mt_http_get(c, url, &o, &r), 0, "%s", r.error);
    cr_expect_eq(r.status, 206);
    cr_expect_eq(r.range_start, HAVE);
    cr_expect(r.body.len == SIZE - HAVE && is_pattern(r.body.data, r.body.len, HAVE));
    /* Callback: the same bytes. */
    o.to = MT_HTTP_TO_CALLBACK;
    o.write = sink;
    o.write_arg = &s;
    cr_expect_eq(mt_http_get(c, url, &o, &r), 0, "%s", r.error);
    cr_expect_eq(r.range_start, HAVE);
    cr_expect(s.sink.len == SIZE - HAVE && is_pattern(s.sink.data, s.sink.len, HAVE));
    mt_buf_free(&s.sink);
    mt_http_response_free(&r);
    cr_expect_eq(mt_http_client_free(c), 0);
    return 0;
}

LEAK_TEST(http_range, a_206_resume_appends_exactly_the_rest_to_each_sink, .timeout = 60)
{
    with_server(resume_main);
}

static int whole_main(void *arg)
{
    (void)arg;
    mt_http_client *c = client();
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    /* The resource changed (another ETag): the whole body replaces the
     * partial file, whose bytes were not the pattern. */
    int fd = partial_file(HAVE, 'Z');
    mt_http_opts o = {.to = MT_HTTP_TO_FD, .fd = fd, .range_from = HAVE, .if_range = "\"v0\""};
    cr_expect_eq(mt_http_get(c, URL("/_/range/100000?etag=v1"), &o, &r), 0, "%s", r.error);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.range_start, 0);
    cr_expect_eq(r.length, SIZE);
    cr_expect_eq(r.size, SIZE);
    cr_expect(file_is_pattern(fd, SIZE), "truncated and written from its start");
    close(fd);
    /* A server that ignores Range, with a body shorter than the partial
     * file: nothing of the old file is left. */
    fd = partial_file(HAVE, 'Z');
    o.fd = fd;
    o.if_range = NULL;
    cr_expect_eq(mt_http_get(c, URL("/_/range/5000?ignore=1"), &o, &r), 0, "%s", r.error);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.range_start, 0);
    cr_expect_eq(r.length, 5000);
    cr_expect(file_is_pattern(fd, 5000));
    close(fd);
    /* A HEAD answered 200 leaves the partial file alone. */
    fd = partial_file(HAVE, 0);
    o.fd = fd;
    o.flags = MT_HTTP_HEAD;
    cr_expect_eq(mt_http_get(c, URL("/_/range/5000?ignore=1"), &o, &r), 0, "%s", r.error);
    cr_expect_eq(r.status, 200);
    cr_expect(file_is_pattern(fd, HAVE));
    close(fd);
    o.flags = 0;
    /* Into memory: the whole body. */
    o.to = MT_HTTP_TO_MEMORY;
    cr_expect_eq(mt_http_get(c, URL("/_/range/50000?ignore=1"), &o, &r), 0, "%s", r.error);
    cr_expect_eq(r.range_start, 0);
    cr_expect(r.body.len == 50000 && is_pattern(r.body.data, r.body.len, 0));
    mt_http_response_free(&r);
    cr_expect_eq(mt_http_client_free(c), 0);
    return 0;
}

LEAK_TEST(http_range, a_whole_body_replaces_the_partial_file, .timeout = 60)
{
    with_server(whole_main);
}

static int unsatisfiable_main(void *arg)
{
    (void)arg;
    mt_http_client *c = client();
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    int fd = partial_file(1000, 0); /* complete */
    mt_http_opts o = {.to = MT_HTTP_TO_FD, .fd = fd, .range_from = 1000};
    cr_expect_eq(mt_http_get(c, URL("/_/range/1000"), &o, &r), 0, "%s", r.error);
    cr_expect_eq(r.status, 416);
    cr_expect_eq(r.length, 1000, "bytes */1000: the file was complete");
    cr_expect_eq(r.range_start, 0);
    cr_expect_eq(r.size, 0, "nothing delivered");
    cr_expect(file_is_pattern(fd, 1000), "the file untouched");
    close(fd);
    o.to = MT_HTTP_TO_MEMORY;
    cr_expect_eq(mt_http_get(c, URL("/_/range/1000"), &o, &r), 0, "%s", r.error);
    cr_expect_eq(r.status, 416);
    cr_expect_eq(r.body.len, 0);
    mt_http_response_free(&r);
    cr_expect_eq(mt_http_client_free(c), 0);
    return 0;
}

LEAK_TEST(http_range, a_416_is_a_response_that_delivers_nothing, .timeout = 60)
{
    with_server(unsatisfiable_main);
}

static int refused_main(void *arg)
{
    (void)arg;
    mt_http_client *c = client();
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    seen s = {0};
    int fd = partial_file(100, 0);
    mt_http_opts o = {.to = MT_HTTP_TO_FD, .fd = fd, .range_from = 100,
                      .on_headers = hook, .on_headers_arg = &s};
    cr_expect_eq(mt_http_get(c, URL("/_/range/1000?shift=10"), &o, &r), -EPROTO, "%s", r.error);
    cr_expect_eq(r.status, 206);
    cr_expect_eq(r.size, 0);
    cr_expect(file_is_pattern(fd, 100), "nothing appended");
    cr_expect_eq(mt_http_get(c, URL("/_/range/1000?multipart=1"), &o, &r), -EPROTO, "%s",
                 r.error);
    cr_expect(file_is_pattern(fd, 100));
    cr_expect_eq(s.calls, 0, "the hook does not see a refused 206");
    o.range_from = -1;
    cr_expect_eq(mt_http_get(c, URL("/_/range/1000"), &o, &r), -EINVAL);
    o.range_from = 100;
    o.if_range = "\"v1\"\r\nX-Injected: 1";
    cr_expect_eq(mt_http_get(c, URL("/_/range/1000"), &o, &r), -EINVAL);
    cr_expect_eq(r.length, -1);
    close(fd);
    mt_http_response_free(&r);
    cr_expect_eq(r.length, -1, "MT_HTTP_RESPONSE_INIT again");
    cr_expect_eq(mt_http_client_free(c), 0);
    return 0;
}

LEAK_TEST(http_range, a_206_elsewhere_is_eproto_and_bad_options_einval, .timeout = 60)
{
    with_server(refused_main);
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    cr_expect_eq(r.length, -1);
}

static int retry_main(void *arg)
{
    (void)arg;
    mt_http_client *c = client();
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    mt_http_retry quick = {.backoff = 0.05};
    /* A 206 reset after 20000 bytes: the retry starts again from the call's
     * state and the file ends whole. */
    int fd = partial_file(HAVE, 0);
    mt_http_opts o = {.to = MT_HTTP_TO_FD, .fd = fd, .range_from = HAVE, .if_range = "\"v1\"",
                      .retry = &quick};
    cr_expect_eq(mt_http_get(c, URL("/_/range/100000?etag=v1&reset=20000&t=1"), &o, &r), 0, "%s",
                 r.error);
    cr_expect_eq(r.tries, 2);
    cr_expect_eq(r.status, 206);
    cr_expect_eq(r.range_start, HAVE);
    cr_expect(file_is_pattern(fd, SIZE));
    close(fd);
    /* Into memory: only the bytes of the last try. */
    o.to = MT_HTTP_TO_MEMORY;
    cr_expect_eq(mt_http_get(c, URL("/_/range/100000?etag=v1&reset=20000&t=2"), &o, &r), 0, "%s",
                 r.error);
    cr_expect_eq(r.tries, 2);
    cr_expect(r.body.len == SIZE - HAVE && is_pattern(r.body.data, r.body.len, HAVE));
    /* A 200 (changed resource) reset after it emptied the file: the retry
     * asks for the whole body, without Range, into the emptied file. */
    fd = partial_file(HAVE, 'Z');
    o.to = MT_HTTP_TO_FD;
    o.fd = fd;
    o.if_range = "\"v0\"";
    cr_expect_eq(mt_http_get(c, URL("/_/range/100000?etag=v1&reset=20000&t=3"), &o, &r), 0, "%s",
                 r.error);
    cr_expect_eq(r.tries, 2);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.range_start, 0);
    cr_expect(file_is_pattern(fd, SIZE));
    cr_expect(test_httpd_log_has(&srv, "GET /_/range/100000?etag=v1&reset=20000&t=3 - 200 100000",
                                 5));
    close(fd);
    mt_http_response_free(&r);
    cr_expect_eq(mt_http_client_free(c), 0);
    return 0;
}

LEAK_TEST(http_range, a_retried_range_request_ends_with_the_exact_bytes, .timeout = 60)
{
    with_server(retry_main);
}
