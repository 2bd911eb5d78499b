/*
 * test_http_tls.c - HTTPS against mt-test-httpd in its TLS mode, with a CA
 * made for the test (tls_certs.h) and passed as mt_http_opts.ca_file: the
 * right CA verifies; the system's CAs, another CA, a missing CA file, a
 * certificate for another name and an expired one all fail with -EPROTO
 * (http.h: "TLS failure"); redirects between https and http follow the
 * usual rules; the blocking call takes the same option. HTTP/2 over TLS is
 * not tested here: the test server speaks HTTP/1.1 only (its ALPN offers
 * "http/1.1", so libcurl's offer of h2 is declined, which the first test
 * goes through).
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "coro_helpers.h"
#include "http_server.h"
#include "tls_certs.h"

static test_ca ca;

/* Start mt-test-httpd serving HTTPS with the certificate `name` of ca. */
static void start_tls(test_httpd *s, const char *name)
{
    char cert[128], key[128], file[64];
    snprintf(file, sizeof file, "%s.pem", name);
    test_ca_path(&ca, file, cert, sizeof cert);
    snprintf(file, sizeof file, "%s.key", name);
    test_ca_path(&ca, file, key, sizeof key);
    const char *extra[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    test_httpd_start(s, extra);
}

/* "scheme://host:port/path" into one of 16 buffers used in turn. */
static const char *url_of(const char *scheme, const char *host, int port, const char *path)
{
    static _Thread_local char bufs[16][1024];
    static _Thread_local unsigned next;
    char *b = bufs[next++ % 16];
    snprintf(b, sizeof bufs[0], "%s://%s:%d%s", scheme, host, port, path);
    return b;
}

static const char BODY[] = "a body that came through TLS\n";

/* ---- a server the CA vouches for -------------------------------------- */

typedef struct pair {
    test_httpd tls, plain;
} pair;

static int good_main(void *arg)
{
    pair *p = arg;
    mt_http_client *c;
    cr_assert_eq(mt_http_client_new(&c, NULL), 0);
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    const mt_http_opts with_ca = {.ca_file = ca.pem, .timeout = 20};
    const char *url = url_of("https", "127.0.0.1", p->tls.port, "/a.txt");

    /* The CA given: verified (IP address in subjectAltName), body right. */
    cr_expect_eq(mt_http_get(c, url, &with_ca, &r), 0, "%s", r.error);
    cr_expect_eq(r.status, 200);
    cr_expect(r.body.len == sizeof BODY - 1 && memcmp(r.body.data, BODY, r.body.len) == 0);
    cr_expect_str_eq(r.url, url);
    cr_expect_gt(r.time.tls, 0, "a TLS handshake took time");
    cr_expect_str_eq(r.error, "");
    /* By name (DNS:localhost), and a larger body (many TLS records). */
    cr_expect_eq(mt_http_get(c, url_of("https", "localhost", p->tls.port, "/_/any/big?bytes=1000000"),
                             &with_ca, &r),
                 0, "%s", r.error);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.body.len, 1000000);
    bool pattern = r.body.len == 1000000;
    for (size_t i = 0; pattern && i < r.body.len; i++)
        pattern = ((char *)r.body.data)[i] == (char)('a' + i % 26);
    cr_expect(pattern, "the body is the server's pattern");

    /* Not verified: the system's CAs, another CA, a CA file that is not
     * there. The request ends with -EPROTO and says why. */
    cr_expect_eq(mt_http_get(c, url, &(mt_http_opts){.timeout = 20}, &r), -EPROTO, "%s", r.error);
    cr_expect_neq(r.error[0], '\0');
    cr_expect_eq(r.status, 0);
    test_ca other;
    test_ca_new(&other);
    cr_expect_eq(mt_http_get(c, url, &(mt_http_opts){.ca_file = other.pem, .timeout = 20}, &r),
                 -EPROTO, "%s", r.error);
    test_ca_free(&other);
    char missing[128];
    test_ca_path(&ca, "no-such-ca.pem", missing, sizeof missing);
    cr_expect_eq(mt_http_get(c, url, &(mt_http_opts){.ca_file = missing, .timeout = 20}, &r),
                 -EPROTO, "%s", r.error);
    /* Plain HTTP to the TLS port: the server gives up on the handshake and
     * closes, and nothing came back (-EPIPE). */
    cr_expect_eq(mt_http_get(c, url_of("http", "127.0.0.1", p->tls.port, "/a.txt"),
                             &(mt_http_opts){.timeout = 20}, &r),
                 -EPIPE, "%s", r.error);

    /* Redirects across schemes: https -> http and http -> https are
     * followed (the CA file applies after a redirect); https -> file: is
     * refused. */
    char path[512];
    snprintf(path, sizeof path, "/_/redirect?n=1&to=%s",
             url_of("http", "127.0.0.1", p->plain.port, "/b.txt"));
    cr_expect_eq(mt_http_get(c, url_of("https", "127.0.0.1", p->tls.port, path), &with_ca, &r), 0,
                 "%s", r.error);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.redirects, 2);
    cr_expect_str_eq(r.url, url_of("http", "127.0.0.1", p->plain.port, "/b.txt"));
    cr_expect(r.body.len == 6 && memcmp(r.body.data, "plain\n", 6) == 0);
    snprintf(path, sizeof path, "/_/redirect?n=0&to=%s", url);
    cr_expect_eq(mt_http_get(c, url_of("http", "127.0.0.1", p->plain.port, path), &with_ca, &r),
                 0, "%s", r.error);
    cr_expect_eq(r.redirects, 1);
    cr_expect_str_eq(r.url, url);
    cr_expect(r.body.len == sizeof BODY - 1 && memcmp(r.body.data, BODY, r.body.len) == 0);
    /* ... and the redirect target is verified like any URL. */
    cr_expect_eq(mt_http_get(c, url_of("http", "127.0.0.1", p->plain.port, path),
                             &(mt_http_opts){.timeout = 20}, &r),
                 -EPROTO, "%s", r.error);
    cr_expect_eq(mt_http_get(c, url_of("https", "127.0.0.1", p->tls.port, "/_/redirect-scheme"),
                             &with_ca, &r),
                 -EPROTONOSUPPORT, "%s", r.error);

    /* Kept-alive TLS connections are reused: 20 more requests, all right. */
    for (int i = 0; i < 20; i++) {
        cr_expect_eq(mt_http_get(c, url, &with_ca, &r), 0, "%s", r.error);
        cr_expect_eq(r.status, 200);
    }
    mt_http_response_free(&r);
    cr_expect_eq(mt_http_client_free(c), 0);
    return 0;
}

LEAK_TEST(http_tls, https_with_the_ca_given, .timeout = 60)
{
    test_ca_new(&ca);
    test_ca_issue(&ca, "good", "IP:127.0.0.1,DNS:localhost", -60, 3600);
    pair p;
    start_tls(&p.tls, "good");
    test_httpd_put(&p.tls, "a.txt", BODY, sizeof BODY - 1);
    test_httpd_start(&p.plain, NULL);
    test_httpd_put(&p.plain, "b.txt", "plain\n", 6);
    cr_expect_eq(co_run(good_main, &p), 0);
    /* The TLS server saw the requests that were verified, and only those
     * (the failed handshakes never got to a request). */
    cr_expect(test_httpd_log_has(&p.tls, "GET /a.txt - 200 29", 5));
    cr_expect(test_httpd_log_has(&p.plain, "GET /b.txt - 200 6", 5));
    test_httpd_stop(&p.plain);
    test_httpd_stop(&p.tls);
    test_ca_free(&ca);
}

/* ---- certificates that must not verify -------------------------------- */

static int refused_main(void *arg)
{
    int *port = arg; /* [0]: a certificate for another name; [1]: expired */
    mt_http_client *c;
    cr_assert_eq(mt_http_client_new(&c, NULL), 0);
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    const mt_http_opts with_ca = {.ca_file = ca.pem, .timeout = 20};
    cr_expect_eq(mt_http_get(c, url_of("https", "127.0.0.1", port[0], "/a.txt"), &with_ca, &r),
                 -EPROTO, "%s", r.error);
    cr_expect_neq(r.error[0], '\0');
    cr_expect_eq(mt_http_get(c, url_of("https", "localhost", port[0], "/a.txt"), &with_ca, &r),
                 -EPROTO, "%s", r.error);
    cr_expect_eq(mt_http_get(c, url_of("https", "127.0.0.1", port[1], "/a.txt"), &with_ca, &r),
                 -EPROTO, "%s", r.error);
    cr_expect_neq(r.error[0], '\0');
    cr_expect_eq(r.status, 0);
    mt_http_response_free(&r);
    cr_expect_eq(mt_http_client_free(c), 0);
    return 0;
}

LEAK_TEST(http_tls, other_name_and_expired_certificates_fail, .timeout = 60)
{
    test_ca_new(&ca);
    test_ca_issue(&ca, "other", "DNS:other.example", -60, 3600);
    test_ca_issue(&ca, "expired", "IP:127.0.0.1,DNS:localhost", -7200, -3600);
    test_httpd other, expired;
    start_tls(&other, "other");
    start_tls(&expired, "expired");
    test_httpd_put(&other, "a.txt", BODY, sizeof BODY - 1);
    test_httpd_put(&expired, "a.txt", BODY, sizeof BODY - 1);
    int ports[2] = {other.port, expired.port};
    cr_expect_eq(co_run(refused_main, ports), 0);
    cr_expect_not(test_httpd_log_has(&other, "/a.txt", 0), "no request got through");
    cr_expect_not(test_httpd_log_has(&expired, "/a.txt", 0), "no request got through");
    test_httpd_stop(&expired);
    test_httpd_stop(&other);
    test_ca_free(&ca);
}

/* ---- from a plain thread ---------------------------------------------- */

static void *blocking_thread(void *arg)
{
    const test_httpd *s = arg;
    const char *url = url_of("https", "127.0.0.1", s->port, "/a.txt");
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(mt_http_get_blocking(&r, url, &(mt_http_opts){.ca_file = ca.pem}), 0, "%s",
                     r.error);
        cr_expect_eq(r.status, 200);
        cr_expect(r.body.len == sizeof BODY - 1 && memcmp(r.body.data, BODY, r.body.len) == 0);
    }
    cr_expect_eq(mt_http_get_blocking(&r, url, NULL), -EPROTO, "%s", r.error);
    mt_http_response_free(&r);
    return NULL;
}

LEAK_TEST(http_tls, blocking_with_the_ca_given, .timeout = 60)
{
    test_ca_new(&ca);
    test_ca_issue(&ca, "good", "IP:127.0.0.1,DNS:localhost", -60, 3600);
    test_httpd s;
    start_tls(&s, "good");
    test_httpd_put(&s, "a.txt", BODY, sizeof BODY - 1);
    pthread_t th[2]; /* threads of their own: their loops go when they end */
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, blocking_thread, &s), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    test_httpd_stop(&s);
    test_ca_free(&ca);
}
