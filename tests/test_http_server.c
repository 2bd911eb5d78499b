/*
 * test_http_server.c - the test HTTP server (mt-test-httpd) does what the
 * network tests will rely on, checked on plain sockets: static files with
 * keep-alive, HEAD, ranges and validators; each misbehaviour of /_/ on the
 * wire; the request log and the counter; bounded and unharmed by hostile
 * clients.
 */
#define _GNU_SOURCE
#include <time.h>
#include <zlib.h>

#include "helpers.h"
#include "http_client.h"
#include "http_server.h"

/* The body pattern of the server's generated bodies. */
static bool is_pattern(const char *p, size_t len, size_t off)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != (char)('a' + (off + i) % 26))
            return false;
    return true;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A docroot file of n pseudo-random bytes, returned (free it). */
static char *put_random(test_httpd *s, const char *name, size_t n)
{
    char *data = malloc(n);
    unsigned x = 12345;
    for (size_t i = 0; i < n; i++)
        data[i] = (char)((x = x * 1103515245 + 12345) >> 16);
    test_httpd_put(s, name, data, n);
    return data;
}

/* ---- static files ----------------------------------------------------- */

LEAK_TEST(http_server, keep_alive_serves_two_pipelined_requests_on_one_connection, .timeout = 60)
{
    test_httpd s;
    test_httpd_start(&s, NULL);
    char *data = put_random(&s, "dir/a.bin", 300000);
    hc_conn c;
    hc_resp r;
    cr_assert_eq(hc_open(&c, s.port, 10), 0);
    cr_assert_eq(hc_send_str(&c, "GET /dir/a.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                                 "HEAD /dir/a.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                                 "GET /dir/a.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
                 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(hc_read(&c, &r, i == 1), 0, "response %d", i);
        cr_expect_eq(r.status, 200);
        char v[64];
        cr_expect(hc_header(&r, "Content-Length", v, sizeof v) && strcmp(v, "300000") == 0);
        cr_expect_eq(r.len, i == 1 ? 0u : 300000u);
        if (i != 1)
            cr_expect(r.len == 300000 && memcmp(r.body, data, r.len) == 0);
        free(r.body);
    }
    cr_expect_eq(hc_fill(&c), 0, "the server closes after Connection: close");
    hc_close(&c);
    cr_expect(test_httpd_log_has(&s, "HEAD /dir/a.bin - 200 0", 5));
    cr_expect(test_httpd_log_has(&s, "GET /dir/a.bin - 200 300000", 5));
    free(data);
    test_httpd_stop(&s);
}

LEAK_TEST(http_server, http_1_0_closes_and_missing_files_are_404, .timeout = 60)
{
    test_httpd s;
    test_httpd_start(&s, NULL);
    test_httpd_put(&s, "robots.txt", "User-agent: *\nDisallow: /private/\n", 34);
    hc_conn c;
    hc_resp r;
    cr_assert_eq(hc_open(&c, s.port, 10), 0);
    hc_send_str(&c, "GET /robots.txt HTTP/1.0\r\n\r\n");
    cr_assert_eq(hc_read(&c, &r, false), 0);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "User-agent: *\nDisallow: /private/\n");
    cr_expect_eq(hc_fill(&c), 0, "HTTP/1.0 without keep-alive ends the connection");
    free(r.body);
    hc_close(&c);
    cr_assert_eq(hc_open(&c, s.port, 10), 0);
    char v[64];
    for (int i = 0; i < 2; i++) { /* HTTP/1.0 with keep-alive asked for */
        hc_send_str(&c, "GET /robots.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        cr_assert_eq(hc_read(&c, &r, false), 0);
        cr_expect(hc_header(&r, "Connection", v, sizeof v) && strcmp(v, "keep-alive") == 0);
        free(r.body);
    }
    hc_close(&c);
    cr_assert_eq(hc_get(s.port, "GET", "/nothing-here", NULL, &r), 0);
    cr_expect_eq(r.status, 404);
    free(r.body);
    cr_assert_eq(hc_get(s.port, "GET", "/dir/../robots.txt", NULL, &r), 0);
    cr_expect_eq(r.status, 403, "a path with .. never leaves the docroot");
    free(r.body);
    cr_assert_eq(hc_get(s.port, "GET", "/%2e%2e/%2e%2e/etc/passwd", NULL, &r), 0);
    cr_expect_eq(r.status, 403, "nor one with an encoded ..");
    free(r.body);
    test_httpd_stop(&s);
}

/* The ETag and Last-Modified of /f.bin. */
static void validators(int port, char *etag, char *modified)
{
    hc_resp r;
    cr_assert_eq(hc_get(port, "HEAD", "/f.bin", NULL, &r), 0);
    cr_assert(hc_header(&r, "ETag", etag, 128));
    cr_assert(hc_header(&r, "Last-Modified", modified, 128));
    cr_expect_eq(etag[0], '"', "a strong ETag");
}

/* GET /f.bin with extra headers; expects status and (for 206) the range. */
static void expect_range(int port, const char *extra, int status, const char *content_range,
                         const char *data, size_t first, size_t len)
{
    hc_resp r;
    char v[128];
    cr_assert_eq(hc_get(port, "GET", "/f.bin", extra, &r), 0);
    cr_expect_eq(r.status, status, "%s", extra);
    if (content_range)
        cr_expect(hc_header(&r, "Content-Range", v, sizeof v) && strcmp(v, content_range) == 0,
                  "%s: Content-Range %s", extra, content_range);
    if (status != 416) {
        cr_expect_eq(r.len, len, "%s", extra);
        cr_expect(r.len == len && memcmp(r.body, data + first, len) == 0, "%s", extra);
    }
    free(r.body);
}

LEAK_TEST(http_server, range_if_range_and_416_on_a_complete_file, .timeout = 60)
{
    test_httpd s;
    test_httpd_start(&s, NULL);
    char *data = put_random(&s, "f.bin", 1000), etag[128], modified[128], h[512];
    validators(s.port, etag, modified);
    expect_range(s.port, "Range: bytes=10-19\r\n", 206, "bytes 10-19/1000", data, 10, 10);
    expect_range(s.port, "Range: bytes=990-5000\r\n", 206, "bytes 990-999/1000", data, 990, 10);
    expect_range(s.port, "Range: bytes=-5\r\n", 206, "bytes 995-999/1000", data, 995, 5);
    expect_range(s.port, "Range: bytes=1000-\r\n", 416, "bytes */1000", data, 0, 0);
    expect_range(s.port, "Range: bytes=0-1,5-6\r\n", 200, NULL, data, 0, 1000);
    snprintf(h, sizeof h, "Range: bytes=500-\r\nIf-Range: %s\r\n", etag);
    expect_range(s.port, h, 206, "bytes 500-999/1000", data, 500, 500);
    snprintf(h, sizeof h, "Range: bytes=500-\r\nIf-Range: %s\r\n", modified);
    expect_range(s.port, h, 206, "bytes 500-999/1000", data, 500, 500);
    expect_range(s.port, "Range: bytes=500-\r\nIf-Range: \"stale\"\r\n", 200, NULL, data, 0, 1000);
    expect_range(s.port, "Range: bytes=500-\r\nIf-Range: Thu, 01 Jan 1970 00:00:00 GMT\r\n", 200,
                 NULL, data, 0, 1000);
    snprintf(h, sizeof h, "If-None-Match: %s\r\n", etag);
    hc_resp r;
    cr_assert_eq(hc_get(s.port, "GET", "/f.bin", h, &r), 0);
    cr_expect_eq(r.status, 304);
    cr_expect_eq(r.len, 0u);
    free(r.body);
    cr_expect(test_httpd_log_has(&s, "GET /f.bin bytes=10-19 206 10", 5));
    cr_expect(test_httpd_log_has(&s, "GET /f.bin bytes=1000- 416", 5));
    free(data);
    test_httpd_stop(&s);
}

/* GET target of /_/range with extra headers; expects the status, the
 * Content-Range (when not NULL) and the pattern from first, len bytes. */
static void expect_generated_range(int port, const char *target, const char *extra, int status,
                                   const char *content_range, size_t first, size_t len)
{
    hc_resp r;
    char v[128];
    cr_assert_eq(hc_get(port, "GET", target, extra, &r), 0, "%s %s", target, extra);
    cr_expect_eq(r.status, status, "%s %s", target, extra);
    if (content_range)
        cr_expect(hc_header(&r, "Content-Range", v, sizeof v) && strcmp(v, content_range) == 0,
                  "%s %s: Content-Range %s", target, extra, content_range);
    if (status != 416)
        cr_expect(r.len == len && is_pattern(r.body, len, first), "%s %s: %zu bytes", target,
                  extra, r.len);
    free(r.body);
}

LEAK_TEST(http_server, generated_range_resource_and_its_misbehaviour, .timeout = 60)
{
    test_httpd s;
    test_httpd_start(&s, NULL);
    const char *res = "/_/range/1000?etag=v1&lm=Sun,+06+Dec+2026+10:00:00+GMT";
    expect_generated_range(s.port, res, NULL, 200, NULL, 0, 1000);
    expect_generated_range(s.port, res, "Range: bytes=100-\r\n", 206, "bytes 100-999/1000", 100,
                           900);
    expect_generated_range(s.port, res, "Range: bytes=100-\r\nIf-Range: \"v1\"\r\n", 206,
                           "bytes 100-999/1000", 100, 900);
    expect_generated_range(s.port, res,
                           "Range: bytes=100-\r\nIf-Range: Sun, 06 Dec 2026 10:00:00 GMT\r\n",
                           206, "bytes 100-999/1000", 100, 900);
    expect_generated_range(s.port, res, "Range: bytes=100-\r\nIf-Range: \"v0\"\r\n", 200, NULL,
                           0, 1000);
    expect_generated_range(s.port, res, "Range: bytes=1000-\r\n", 416, "bytes */1000", 0, 0);
    expect_generated_range(s.port, "/_/range/1000?ignore=1", "Range: bytes=100-\r\n", 200, NULL,
                           0, 1000);
    expect_generated_range(s.port, "/_/range/1000?shift=10", "Range: bytes=100-\r\n", 206,
                           "bytes 110-999/1000", 110, 890);
    hc_resp r;
    char v[128];
    cr_assert_eq(hc_get(s.port, "GET", "/_/range/1000?multipart=1", "Range: bytes=100-\r\n", &r),
                 0);
    cr_expect_eq(r.status, 206);
    cr_expect(hc_header(&r, "Content-Type", v, sizeof v) &&
              strncmp(v, "multipart/byteranges", 20) == 0);
    free(r.body);
    /* reset=N: the first request of the target is cut, the next whole. */
    cr_expect_neq(hc_get(s.port, "GET", "/_/range/100000?reset=500", NULL, &r), 0);
    cr_expect_lt(r.len, 100000u);
    free(r.body);
    expect_generated_range(s.port, "/_/range/100000?reset=500", NULL, 200, NULL, 0, 100000);
    cr_expect(test_httpd_log_has(&s, "GET /_/range/1000?shift=10 bytes=100- 206 890", 5));
    test_httpd_stop(&s);
}

/* ---- statuses and bodies that misbehave --------------------------------- */

LEAK_TEST(http_server, status_with_retry_after_in_seconds_and_as_a_date, .timeout = 60)
{
    test_httpd s;
    test_httpd_start(&s, NULL);
    hc_resp r;
    char v[128];
    cr_assert_eq(hc_get(s.port, "GET", "/_/status/503?retry-after=2", NULL, &r), 0);
    cr_expect_eq(r.status, 503);
    cr_expect(hc_header(&r, "Retry-After", v, sizeof v) && strcmp(v, "2") == 0);
    free(r.body);
    time_t before = time(NULL);
    cr_assert_eq(hc_get(s.port, "GET", "/_/status/429?retry-after-date=120", NULL, &r), 0);
    cr_expect_eq(r.status, 429);
    struct tm tm = {0};
    cr_assert(hc_header(&r, "Retry-After", v, sizeof v));
    char *end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cr_expect(end && !*end, "an HTTP date: '%s'", v);
    time_t when = timegm(&tm);
    cr_expect(when >= before + 118 && when <= time(NULL) + 122, "120 s from now: %s", v);
    free(r.body);
    cr_assert_eq(hc_get(s.port, "GET",
                        "/_/status/503?retry-after-date=Wed,%2021%20Oct%202015%2007:28:00%20GMT",
                        NULL, &r),
                 0);
    cr_expect(hc_header(&r, "Retry-After", v, sizeof v) &&
              strcmp(v, "Wed, 21 Oct 2015 07:28:00 GMT") == 0);
    free(r.body);
    const char *inject = "/_/status/503?retry-after=1%0d%0aX-Injected:%201";
    cr_assert_eq(hc_get(s.port, "GET", inject, NULL, &r), 0);
    cr_expect(!hc_header(&r, "Retry-After", v, sizeof v), "no header with CR LF in it");
    cr_expect(!hc_header(&r, "X-Injected", v, sizeof v), "no header injection");
    free(r.body);
    double t0 = now();
    cr_assert_eq(hc_get(s.port, "GET", "/_/status/200?delay-ms=300", NULL, &r), 0);
    cr_expect_eq(r.status, 200);
    cr_expect_geq(now() - t0, 0.25, "the head comes after the delay asked");
    free(r.body);
    cr_assert_eq(hc_get(s.port, "GET", "/_/status/99", NULL, &r), 0);
    cr_expect_eq(r.status, 400);
    free(r.body);
    test_httpd_stop(&s);
}

LEAK_TEST(http_server, slow_body_comes_at_the_rate_asked, .timeout = 60)
{
    test_httpd s;
    test_httpd_start(&s, NULL);
    hc_resp r;
    double t0 = now();
    cr_assert_eq(hc_get(s.port, "GET", "/_/slow?bytes=6000&rate=10000", NULL, &r), 0);
    double took = now() - t0;
    cr_expect_eq(r.len, 6000u);
    cr_expect(is_pattern(r.body, r.len, 0));
    cr_expect_geq(took, 0.4, "6000 bytes at 10000 B/s take 0.6 s, not %.3f s", took);
    free(r.body);
    test_httpd_stop(&s);
}

LEAK_TEST(http_server, stalled_body_stalls_after_the_bytes_asked, .timeout = 60)
{
    test_httpd s;
    test_httpd_start(&s, NULL);
    hc_conn c;
    hc_resp r;
    cr_assert_eq(hc_open(&c, s.port, 2.0), 0);
    hc_send_str(&c, "GET /_/stall?after=100&bytes=5000 HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_expect_eq(hc_read(&c, &r, false), -EAGAIN, "the read times out");
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.len, 100u);
    cr_expect(is_pattern(r.body, r.len, 0));
    free(r.body);
    hc_close(&c);
    cr_expect(test_httpd_log_has(&s, "GET /_/stall?after=100&bytes=5000 - 200 100", 10),
              "the server lets go once the client left");
    test_httpd_stop(&s);
}

LEAK_TEST(http_server, reset_mid_body_is_a_connection_reset, .timeout = 60)
{
    test_httpd s;
    test_httpd_start(&s, NULL);
    hc_conn c;
    hc_resp r;
    cr_assert_eq(hc_open(&c, s.port, 10), 0);
    hc_send_str(&c, "GET /_/reset?after=5000 HTTP/1.1\r\nHost: x\r\n\r\n");
    int err = hc_read(&c, &r, false);
    cr_expect_eq(err, -ECONNRESET, "got %s", strerror(-err));
    cr_expect_leq(r.len, 5000u);
    cr_expect(is_pattern(r.body, r.len, 0));
    free(r.body);
    hc_close(&c);
    test_httpd_stop(&s);
}

LEAK_TEST(http_server, short_body_ends_before_its_content_length, .timeout = 60)
{
    test_httpd s;
    test_httpd_start(&s, NULL);
    hc_resp r;
    char v[64];
    cr_expect_eq(hc_get(s.port, "GET", "/_/short?claim=1000&send=100", NULL, &r), -EPIPE);
    cr_expect(hc_header(&r, "Content-Length", v, sizeof v) && strcmp(v, "1000") == 0);
    cr_expect_eq(r.len, 100u);
    free(r.body);
    test_httpd_stop(&s);
}

LEAK_TEST(http_server, chunked_bodies_good_broken_and_endless, .timeout = 60)
{
    const char *extra[] = {"--cap", "4194304", NULL};
    test_httpd s;
    test_httpd_start(&s, extra);
    hc_conn c;
    hc_resp r;
    cr_assert_eq(hc_open(&c, s.port, 10), 0);
    for (int i = 0; i < 2; i++) { /* and keep-alive after a chunked body */
        hc_send_str(&c, "GET /_/chunked?bytes=100000&chunk=777 HTTP/1.1\r\nHost: x\r\n\r\n");
        cr_assert_eq(hc_read(&c, &r, false), 0);
        cr_expect_eq(r.len, 100000u);
        cr_expect(is_pattern(r.body, r.len, 0));
        free(r.body);
    }
    hc_close(&c);
    static const char *const kinds[] = {"hex", "overflow", "crlf"};
    for (int i = 0; i < 3; i++) {
        char target[64];
        snprintf(target, sizeof target, "/_/badchunk?kind=%s", kinds[i]);
        cr_expect_eq(hc_get(s.port, "GET", target, NULL, &r), -EPROTO, "%s", kinds[i]);
        cr_expect(r.body && strncmp(r.body, "hello", 5) == 0, "the good chunk came first");
        free(r.body);
    }
    cr_expect_eq(hc_get(s.port, "GET", "/_/badchunk?kind=truncated", NULL, &r), -EPIPE);
    free(r.body);
    /* endless: the server's cap ends it, without the last chunk */
    cr_expect_eq(hc_get(s.port, "GET", "/_/endless", NULL, &r), -EPIPE);
    cr_expect_eq(r.len, 4194304u);
    free(r.body);
    /* a client that leaves: the server stops sending */
    cr_assert_eq(hc_open(&c, s.port, 10), 0);
    hc_send_str(&c, "GET /_/endless?chunk=1000 HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_eq(hc_need(&c, 100000), 0);
    hc_close(&c);
    cr_expect(test_httpd_log_has(&s, "GET /_/endless?chunk=1000 - 200 ", 10));
    cr_expect(!test_httpd_log_has(&s, "GET /_/endless?chunk=1000 - 200 4194304", 0));
    test_httpd_stop(&s);
}

LEAK_TEST(http_server, gzip_bomb_is_small_on_the_wire_and_inflates_to_its_stated_size,
          .timeout = 120)
{
    test_httpd s;
    test_httpd_start(&s, NULL);
    hc_resp r;
    char v[64];
    cr_assert_eq(hc_get(s.port, "GET", "/_/gzipbomb", "Accept-Encoding: gzip\r\n", &r), 0);
    cr_expect(hc_header(&r, "Content-Encoding", v, sizeof v) && strcmp(v, "gzip") == 0);
    cr_assert(hc_header(&r, "X-Uncompressed-Length", v, sizeof v));
    cr_expect_str_eq(v, "1073741824");
    cr_expect(r.len > 900000 && r.len < 1300000, "about 1 MiB on the wire: %zu", r.len);
    z_stream z = {0};
    cr_assert_eq(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (unsigned char *)r.body;
    z.avail_in = (uInt)r.len;
    static unsigned char out[1 << 20];
    int rc;
    bool zeros = true;
    do {
        z.next_out = out;
        z.avail_out = sizeof out;
        rc = inflate(&z, Z_NO_FLUSH);
        for (size_t i = 0; zeros && i < sizeof out - z.avail_out; i += 4096)
            zeros = out[i] == 0;
    } while (rc == Z_OK);
    cr_expect_eq(rc, Z_STREAM_END, "a whole gzip stream whose CRC matches");
    cr_expect_eq(z.total_out, 1UL << 30);
    cr_expect(zeros);
    inflateEnd(&z);
    free(r.body);
    test_httpd_stop(&s);
}

/* ---- redirects, names, generated pages ---------------------------------- */

/* GET target; expects a redirect and copies its Location. */
static void expect_redirect(int port, const char *target, char *location, size_t size)
{
    hc_resp r;
    cr_assert_eq(hc_get(port, "GET", target, NULL, &r), 0);
    cr_expect(r.status >= 301 && r.status <= 308, "%s: %d", target, r.status);
    cr_assert(hc_header(&r, "Location", location, size), "%s", target);
    free(r.body);
}

LEAK_TEST(http_server, redirect_chains_loops_and_other_schemes, .timeout = 60)
{
    test_httpd s;
    test_httpd_start(&s, NULL);
    test_httpd_put(&s, "end.txt", "the end\n", 8);
    char at[1024] = "/_/redirect?n=4&to=%2Fend.txt", next[1024];
    int hops = 0;
    for (; hops < 10; hops++) {
        hc_resp r;
        cr_assert_eq(hc_get(s.port, "GET", at, NULL, &r), 0);
        bool redirect = hc_header(&r, "Location", next, sizeof next);
        if (!redirect)
            cr_expect_str_eq(r.body, "the end\n");
        free(r.body);
        if (!redirect)
            break;
        strcpy(at, next);
    }
    cr_expect_eq(hops, 5, "4 redirects and then the target");
    expect_redirect(s.port, "/_/loop?len=2", next, sizeof next);
    expect_redirect(s.port, next, at, sizeof at);
    expect_redirect(s.port, at, next, sizeof next);
    cr_expect_str_eq(next, at[0] ? "/_/loop?len=2&at=1&code=302" : "", "the loop comes back");
    expect_redirect(s.port, "/_/redirect-scheme", next, sizeof next);
    cr_expect_str_eq(next, "file:///etc/passwd");
    expect_redirect(s.port, "/_/redirect-scheme?to=ftp://127.0.0.1/x&code=301", next, sizeof next);
    cr_expect_str_eq(next, "ftp://127.0.0.1/x");
    expect_redirect(s.port, "/_/redirect-scheme?to=gopher://127.0.0.1:70/1", next, sizeof next);
    cr_expect_str_eq(next, "gopher://127.0.0.1:70/1");
    cr_expect(test_httpd_log_has(&s, "GET /_/redirect-scheme?to=ftp://127.0.0.1/x&code=301 - 301",
                                 5));
    test_httpd_stop(&s);
}

LEAK_TEST(http_server, hostile_names_in_content_disposition_and_paths, .timeout = 60)
{
    test_httpd s;
    test_httpd_start(&s, NULL);
    hc_resp r;
    char v[512];
    cr_assert_eq(hc_get(s.port, "GET", "/_/name?filename=..%2F..%2Fetc%2Fpasswd", NULL, &r), 0);
    cr_expect(hc_header(&r, "Content-Disposition", v, sizeof v) &&
              strcmp(v, "attachment; filename=\"../../etc/passwd\"") == 0);
    free(r.body);
    cr_assert_eq(hc_get(s.port, "GET", "/_/name?cd=attachment;%20filename=%22a%01b%1bc%09d.txt%22",
                        NULL, &r),
                 0);
    cr_expect(hc_header(&r, "Content-Disposition", v, sizeof v) &&
              strcmp(v, "attachment; filename=\"a\001b\033c\td.txt\"") == 0,
              "control characters as sent");
    free(r.body);
    cr_assert_eq(hc_get(s.port, "GET", "/_/name?filename=a%0d%0aSet-Cookie:%20x", NULL, &r), 0);
    cr_expect_eq(r.status, 400, "CR LF would split the header");
    free(r.body);
    char target[8192];
    int n = snprintf(target, sizeof target, "/_/any/%%2e%%2e%%2f%%01x");
    for (int i = 0; i < 1000; i++)
        target[n++] = 'n';
    snprintf(target + n, sizeof target - (size_t)n, ".jpg?bytes=77");
    cr_assert_eq(hc_get(s.port, "GET", target, NULL, &r), 0);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.len, 77u);
    free(r.body);
    test_httpd_stop(&s);
}

LEAK_TEST(http_server, generated_html_deep_and_huge, .timeout = 60)
{
    test_httpd s;
    test_httpd_start(&s, NULL);
    hc_resp r;
    cr_assert_eq(hc_get(s.port, "GET", "/_/html/deep?n=100000", NULL, &r), 0);
    cr_expect_eq(r.status, 200);
    const char *frame = "<!DOCTYPE html>\n<html><head><title>generated</title></head><body>\n"
                        "<a href=\"/deep-end\">the end</a></body></html>\n";
    cr_expect_eq(r.len, strlen(frame) + 100000 * strlen("<div></div>"));
    cr_expect(strstr(r.body, "<div><div><div>") && strstr(r.body, "</div></div></body></html>"));
    free(r.body);
    cr_assert_eq(hc_get(s.port, "GET", "/_/html/huge?mb=3", NULL, &r), 0);
    cr_expect_geq(r.len, 3u << 20);
    cr_expect_lt(r.len, (3u << 20) + 1000);
    cr_expect(strstr(r.body, "<li class=\"list-group-item\">"
                             "<img data-original=\"/img/00000000.jpg\""));
    cr_expect(r.len > 15 && strcmp(r.body + r.len - 15, "</body></html>\n") == 0);
    free(r.body);
    test_httpd_stop(&s);
}

/* ---- the counter and the log -------------------------------------------- */

static unsigned long long count_of(int port, const char *query)
{
    hc_resp r;
    char target[512];
    snprintf(target, sizeof target, "/_/count?%s", query);
    cr_assert_eq(hc_get(port, "GET", target, NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    unsigned long long n = strtoull(r.body, NULL, 10);
    free(r.body);
    return n;
}

LEAK_TEST(http_server, counter_counts_requests_per_path_and_target, .timeout = 60)
{
    test_httpd s;
    test_httpd_start(&s, NULL);
    test_httpd_put(&s, "a b.txt", "x", 1);
    hc_resp r;
    const char *targets[] = {"/a%20b.txt", "/a%20b.txt", "/a%20b.txt?x=1", "/a b.txt-missing"};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(hc_get(s.port, "GET", targets[i], NULL, &r), 0);
        cr_expect_eq(r.status, 200);
        free(r.body);
    }
    cr_expect_eq(count_of(s.port, "path=/a%20b.txt"), 3u, "the decoded path");
    cr_expect_eq(count_of(s.port, "target=/a%2520b.txt"), 2u, "the target as sent");
    cr_expect_eq(count_of(s.port, "target=/a%2520b.txt%3Fx=1"), 1u);
    cr_expect_eq(count_of(s.port, "path=/never"), 0u);
    cr_expect_eq(count_of(s.port, "path=/_/count"), 0u, "asking does not count");
    test_httpd_stop(&s);
}

/* The most requests answered at once: three that overlap (each waits
 * 300 ms before its head), then one alone. */
LEAK_TEST(http_server, counter_keeps_the_most_answered_at_once, .timeout = 60)
{
    test_httpd s;
    test_httpd_start(&s, NULL);
    hc_conn c[3];
    hc_resp r;
    const char req[] = "GET /_/any/x?bytes=3&delay-ms=300 HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(hc_open(&c[i], s.port, 10), 0);
        cr_assert_eq(hc_send_str(&c[i], req), 0);
    }
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(hc_read(&c[i], &r, false), 0);
        cr_expect_eq(r.status, 200);
        free(r.body);
        hc_close(&c[i]);
    }
    cr_assert_eq(hc_get(s.port, "GET", "/_/any/y?bytes=3", NULL, &r), 0);
    free(r.body);
    cr_expect_eq(count_of(s.port, "most=/_/any/x"), 3u);
    cr_expect_eq(count_of(s.port, "most=/_/any/y"), 1u);
    cr_expect_eq(count_of(s.port, "most=*"), 3u, "any path");
    cr_expect_eq(count_of(s.port, "most=/never"), 0u);
    cr_expect_eq(count_of(s.port, "most=/_/count"), 0u, "asking does not count");
    test_httpd_stop(&s);
}

/* ---- hostile clients ------------------------------------------------------ */

/* Send raw bytes on a new connection; the status of the answer (0: none). */
static int raw_status(int port, const void *data, size_t len)
{
    hc_conn c;
    hc_resp r;
    cr_assert_eq(hc_open(&c, port, 10), 0);
    int err = hc_send(&c, data, len);
    int status = err ? -1 : hc_read(&c, &r, false) == 0 ? r.status : 0;
    if (!err)
        free(r.body);
    hc_close(&c);
    return status;
}

LEAK_TEST(http_server, oversized_and_malformed_requests_get_4xx_and_the_server_goes_on,
          .timeout = 120)
{
    test_httpd s;
    test_httpd_start(&s, NULL);
    size_t big = 1 << 20;
    char *line = malloc(big + 64);
    int n = snprintf(line, 64, "GET /");
    memset(line + n, 'a', big);
    n += (int)big;
    n += sprintf(line + n, " HTTP/1.1\r\n\r\n");
    cr_expect_eq(raw_status(s.port, line, (size_t)n), 414, "a 1 MiB request line");
    n = snprintf(line, 64, "GET / HTTP/1.1\r\nX-Big: ");
    memset(line + n, 'b', 100000);
    n += 100000;
    n += sprintf(line + n, "\r\n\r\n");
    cr_expect_eq(raw_status(s.port, line, (size_t)n), 431, "a 100 kB header");
    n = sprintf(line, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 200; i++)
        n += sprintf(line + n, "X-%d: y\r\n", i);
    n += sprintf(line + n, "\r\n");
    cr_expect_eq(raw_status(s.port, line, (size_t)n), 431, "200 headers");
    free(line);
    static const char *const bad[] = {
        "GARBAGE\r\n\r\n",
        "GET /\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "GET nohost HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nNo colon\r\n\r\n",
        "GET / HTTP/1.1\r\n folded: x\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
        "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n",
    };
    static const int want[] = {400, 400, 505, 400, 400, 400, 405, 400, 501, 413};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_expect_eq(raw_status(s.port, bad[i], strlen(bad[i])), want[i], "%s", bad[i]);
    cr_expect_eq(raw_status(s.port, "GET /\0x HTTP/1.1\r\n\r\n", 20), 400, "a NUL byte");
    /* random bytes and abandoned heads */
    unsigned x = 7;
    char junk[3000];
    for (int i = 0; i < 200; i++) {
        size_t len = 1 + (x = x * 1103515245 + 12345) % sizeof junk;
        for (size_t j = 0; j < len; j++)
            junk[j] = (char)((x = x * 1103515245 + 12345) >> 16);
        if (i % 2)
            memcpy(junk, "GET /", 5 < len ? 5 : len);
        hc_conn c;
        cr_assert_eq(hc_open(&c, s.port, 10), 0);
        hc_send(&c, junk, len);
        hc_close(&c);
    }
    test_httpd_put(&s, "ok.txt", "ok\n", 3);
    hc_resp r;
    cr_assert_eq(hc_get(s.port, "GET", "/ok.txt", NULL, &r), 0);
    cr_expect_str_eq(r.body, "ok\n", "the server still serves");
    free(r.body);
    /* a small request body is read and dropped: the next request follows */
    hc_conn c;
    cr_assert_eq(hc_open(&c, s.port, 10), 0);
    hc_send_str(&c, "GET /ok.txt HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                    "GET /ok.txt HTTP/1.1\r\n\r\n");
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(hc_read(&c, &r, false), 0);
        cr_expect_str_eq(r.body, "ok\n");
        free(r.body);
    }
    hc_close(&c);
    test_httpd_stop(&s);
}

LEAK_TEST(http_server, a_silent_client_is_dropped_after_the_idle_time, .timeout = 60)
{
    const char *extra[] = {"--idle", "0.5", NULL};
    test_httpd s;
    test_httpd_start(&s, extra);
    hc_conn c;
    cr_assert_eq(hc_open(&c, s.port, 10), 0);
    hc_send_str(&c, "GET / HTTP/1.1\r\nHost: x\r\n"); /* never finished */
    double t0 = now();
    cr_expect_eq(hc_fill(&c), 0, "the server closes the connection");
    cr_expect_lt(now() - t0, 8.0);
    hc_close(&c);
    test_httpd_stop(&s);
}

/* Open file descriptors of process pid. */
static int fds_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    return count_dir(path, "");
}

LEAK_TEST(http_server, a_thousand_connections_leave_no_fd_behind, .timeout = 120)
{
    test_httpd s;
    test_httpd_start(&s, NULL);
    test_httpd_put(&s, "x.txt", "x", 1);
    hc_resp r;
    cr_assert_eq(hc_get(s.port, "GET", "/x.txt", NULL, &r), 0);
    free(r.body);
    usleep(200000); /* the server closes its side of that connection */
    int before = fds_of(s.pid);
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(hc_get(s.port, "GET", i % 2 ? "/x.txt" : "/_/status/503", NULL, &r), 0);
        free(r.body);
    }
    hc_conn c;
    cr_assert_eq(hc_open(&c, s.port, 10), 0);
    for (int i = 0; i < 1000; i++) { /* and on one kept-alive connection */
        hc_send_str(&c, "GET /x.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        cr_assert_eq(hc_read(&c, &r, false), 0);
        free(r.body);
    }
    hc_close(&c);
    cr_expect(test_httpd_log_has(&s, "GET /x.txt - 200 1", 5));
    usleep(200000);
    cr_expect_eq(fds_of(s.pid), before, "%d fds, %d before", fds_of(s.pid), before);
    cr_expect_eq(count_of(s.port, "path=/x.txt"), 1501u);
    test_httpd_stop(&s);
}

LEAK_TEST(http_server, stopping_with_connections_in_flight_exits_cleanly, .timeout = 60)
{
    test_httpd s;
    test_httpd_start(&s, NULL);
    hc_conn c[3];
    const char *req[] = {"GET /_/stall?after=10 HTTP/1.1\r\n\r\n",
                         "GET /_/endless HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\n"};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(hc_open(&c[i], s.port, 10), 0);
        hc_send_str(&c[i], req[i]);
    }
    cr_assert_eq(hc_need(&c[0], 10), 0);
    cr_assert_eq(hc_need(&c[1], 100000), 0);
    test_httpd_stop(&s); /* expects exit status 0: no leak, no crash */
    for (int i = 0; i < 3; i++) {
        while (hc_fill(&c[i]) > 0)
            hc_consume(&c[i], c[i].len);
        hc_close(&c[i]);
    }
}
