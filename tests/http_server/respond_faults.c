/*
 * respond_faults.c - the misbehaviour a test asks for under /_/: any
 * status with Retry-After, slow bodies, bodies that stall, end in a reset,
 * are shorter than their Content-Length or carry broken chunks, endless
 * bodies, plain chunked bodies, and the request counter. The others
 * (redirects, names, HTML, the gzip bomb) are in respond_generated.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "multitask/coro.h"

#include "httpd.h"

#define MIB (1024LL * 1024)

/* /_/status/NNN?retry-after=S&retry-after-date=S|DATE */
static int serve_status(httpd_conn *c, const char *code)
{
    char *end, value[256], extra[512] = "";
    long status = strtol(code, &end, 10);
    if (end == code || *end || status < 200 || status > 599)
        return httpd_reply_text(c, 400, NULL, "status must be 200..599\n");
    size_t n = 0;
    if (httpd_param(&c->req, "retry-after", value, sizeof value) && httpd_header_safe(value))
        n += (size_t)snprintf(extra + n, sizeof extra - n, "Retry-After: %s\r\n", value);
    if (httpd_param(&c->req, "retry-after-date", value, sizeof value) &&
        httpd_header_safe(value)) {
        /* a number of seconds from now, or a date as it is to be sent */
        long long secs = strtoll(value, &end, 10);
        if (end != value && !*end)
            httpd_http_date(time(NULL) + secs, value, sizeof value);
        snprintf(extra + n, sizeof extra - n, "Retry-After: %s\r\n", value);
    }
    if (status == 204 || status == 304)
        return httpd_reply_head(c, (int)status, extra, HTTPD_NO_BODY);
    char text[64];
    snprintf(text, sizeof text, "status %ld\n", status);
    return httpd_reply_text(c, (int)status, extra, text);
}

/* /_/slow?bytes=N&rate=B: N pattern bytes at B bytes a second. */
static int serve_slow(httpd_conn *c)
{
    long long total = httpd_param_num(&c->req, "bytes", 65536, 0, (long long)httpd_cfg.cap);
    long long rate = httpd_param_num(&c->req, "rate", 1024, 1, 1024 * MIB);
    int err = httpd_reply_head(c, 200, NULL, total);
    double start = mt_loop_time();
    long long piece = rate / 20 ? rate / 20 : 1;
    if (piece > HTTPD_BUF)
        piece = HTTPD_BUF;
    for (long long off = 0; !err && off < total && !c->req.head;) {
        size_t n = (size_t)(total - off < piece ? total - off : piece);
        httpd_pattern(c->buf, n, (unsigned long long)off);
        err = httpd_send_body(c, c->buf, n);
        off += (long long)n;
        double wait = start + (double)off / (double)rate - mt_loop_time();
        if (!err && wait > 0 && off < total)
            err = mt_co_sleep(wait);
    }
    return err;
}

/* /_/flaky?fail=K&status=S&retry-after=R&bytes=N: the first K requests
 * for this exact target get status S (503) with Retry-After R if given,
 * the later ones N pattern bytes (a 200). */
static int serve_flaky(httpd_conn *c)
{
    long long fail = httpd_param_num(&c->req, "fail", 1, 0, 1000000);
    long long status = httpd_param_num(&c->req, "status", 503, 400, 599);
    long long bytes = httpd_param_num(&c->req, "bytes", 1024, 0, (long long)httpd_cfg.cap);
    char key[HTTPD_MAX_LINE + 16], value[64], extra[128] = "", text[64];
    snprintf(key, sizeof key, "target:%s", c->req.target);
    if ((long long)httpd_count_get(key) > fail) {
        int err = httpd_reply_head(c, 200, NULL, bytes);
        return err ? err : httpd_send_pattern(c, (unsigned long long)bytes);
    }
    if (httpd_param(&c->req, "retry-after", value, sizeof value) && httpd_header_safe(value))
        snprintf(extra, sizeof extra, "Retry-After: %s\r\n", value);
    snprintf(text, sizeof text, "status %lld\n", status);
    return httpd_reply_text(c, (int)status, extra, text);
}

/* Send the head claiming `claim` bytes and the first `after` of them. */
static int send_part(httpd_conn *c, long long claim, long long after)
{
    int err = httpd_reply_head(c, 200, NULL, claim);
    return err ? err : httpd_send_pattern(c, (unsigned long long)after);
}

/* /_/stall?after=N&bytes=T: claims T bytes, sends N, then nothing until the
 * client leaves (or stall_max passes). */
static int serve_stall(httpd_conn *c)
{
    long long after = httpd_param_num(&c->req, "after", 0, 0, (long long)httpd_cfg.cap);
    long long claim = httpd_param_num(&c->req, "bytes", after + MIB, after + 1, LLONG_MAX / 2);
    c->close = true;
    int err = send_part(c, claim, after);
    mt_co_timeout scope;
    mt_co_timeout_begin(&scope, httpd_cfg.stall_max);
    while (!err) {
        ssize_t n = httpd_conn_recv(c, c->buf, HTTPD_BUF);
        err = n > 0 ? 0 : n == 0 ? -EPIPE : (int)n;
    }
    mt_co_timeout_end(&scope);
    return err == -EPIPE ? 0 : err;
}

/* /_/reset?after=N&bytes=T: claims T bytes, sends N, then resets the
 * connection (SO_LINGER 0), once the N bytes have left the send queue. */
static int serve_reset(httpd_conn *c)
{
    long long after = httpd_param_num(&c->req, "after", 0, 0, (long long)httpd_cfg.cap);
    long long claim = httpd_param_num(&c->req, "bytes", after + MIB, after + 1, LLONG_MAX / 2);
    c->close = true;
    int err = send_part(c, claim, after);
    return httpd_reset(c, err);
}

int httpd_reset(httpd_conn *c, int err)
{
    for (int i = 0; !err && i < 200; i++) { /* at most 2 s */
        int queued = 0;
        if (ioctl(c->fd, SIOCOUTQ, &queued) != 0 || queued == 0)
            break;
        err = mt_co_sleep(0.01);
    }
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    mt_co_close(c->fd);
    c->fd = -1;
    c->aborted = true;
    return err;
}

/* /_/short?claim=N&send=M: Content-Length N, M bytes, then the end. */
static int serve_short(httpd_conn *c)
{
    long long claim = httpd_param_num(&c->req, "claim", 1024, 0, LLONG_MAX / 2);
    long long send = httpd_param_num(&c->req, "send", claim / 2, 0, (long long)httpd_cfg.cap);
    c->close = true;
    return send_part(c, claim, send);
}

/* /_/badchunk?kind=hex|overflow|crlf|truncated: a chunked body whose
 * framing breaks after a first good chunk "hello". */
static int serve_badchunk(httpd_conn *c)
{
    char kind[16] = "hex";
    httpd_param(&c->req, "kind", kind, sizeof kind);
    const char *tail;
    if (strcmp(kind, "overflow") == 0)
        tail = "fffffffffffffffffffffff\r\nabc\r\n0\r\n\r\n";
    else if (strcmp(kind, "crlf") == 0)
        tail = "3\r\nabcXY0\r\n\r\n";
    else if (strcmp(kind, "truncated") == 0)
        tail = "100\r\nonly a few bytes";
    else
        tail = "zz\r\nbroken\r\n0\r\n\r\n";
    c->close = true;
    int err = httpd_reply_head(c, 200, NULL, HTTPD_CHUNKED);
    if (!err)
        err = httpd_send_body(c, "hello", 5);
    if (!err && !c->req.head)
        err = httpd_send_raw(c, tail, strlen(tail));
    return err;
}

/* /_/chunked?bytes=N&chunk=C: a correct chunked body of N pattern bytes;
 * /_/endless?chunk=C: chunks until the client leaves or the server's cap
 * (then the connection closes without the last chunk). */
static int serve_chunks(httpd_conn *c, bool endless)
{
    unsigned long long cap = httpd_cfg.cap;
    long long total = endless ? (long long)cap
                              : httpd_param_num(&c->req, "bytes", 65536, 0, (long long)cap);
    long long chunk = httpd_param_num(&c->req, "chunk", 16384, 1, HTTPD_BUF);
    c->close = c->close || endless;
    int err = httpd_reply_head(c, 200, NULL, HTTPD_CHUNKED);
    for (long long off = 0; !err && off < total && !c->req.head;) {
        size_t n = (size_t)(total - off < chunk ? total - off : chunk);
        httpd_pattern(c->buf, n, (unsigned long long)off);
        err = httpd_send_body(c, c->buf, n);
        off += (long long)n;
    }
    return err || endless ? err : httpd_end_chunks(c);
}

/* /_/count?path=/x or ?target=/x?y: how many requests it received;
 * ?most=/x or ?most=*: the most requests for path /x (for any path) that
 * were being answered at once. */
static int serve_count(httpd_conn *c)
{
    static const char *const kinds[] = {"path", "target", "most"};
    char key[HTTPD_MAX_PATH + 16], text[32];
    size_t i = 0;
    for (; i < 3; i++) {
        int n = snprintf(key, sizeof key, "%s:", kinds[i]);
        if (httpd_param(&c->req, kinds[i], key + n, sizeof key - (size_t)n))
            break;
    }
    if (i == 3)
        return httpd_reply_text(c, 400, NULL, "path=, target= or most= please\n");
    snprintf(text, sizeof text, "%llu\n", httpd_count_get(key));
    return httpd_reply_text(c, 200, "Cache-Control: no-store\r\n", text);
}

int httpd_serve_fault(httpd_conn *c)
{
    const char *what = c->req.path + strlen("/_/");
    /* ?delay-ms=D on any of them: wait that long before the response head
     * (for a client's page timeout). */
    long long delay = httpd_param_num(&c->req, "delay-ms", 0, 0, 600000);
    if (delay && mt_co_sleep((double)delay / 1000) != 0)
        return -ECANCELED;
    if (strncmp(what, "status/", 7) == 0)
        return serve_status(c, what + 7);
    if (strcmp(what, "slow") == 0)
        return serve_slow(c);
    if (strcmp(what, "flaky") == 0)
        return serve_flaky(c);
    if (strcmp(what, "stall") == 0)
        return serve_stall(c);
    if (strcmp(what, "reset") == 0)
        return serve_reset(c);
    if (strcmp(what, "short") == 0)
        return serve_short(c);
    if (strcmp(what, "badchunk") == 0)
        return serve_badchunk(c);
    if (strcmp(what, "chunked") == 0 || strcmp(what, "endless") == 0)
        return serve_chunks(c, what[0] == 'e');
    if (strcmp(what, "count") == 0)
        return serve_count(c);
    if (strncmp(what, "range/", 6) == 0)
        return httpd_serve_range(c, what + 6);
    if (strcmp(what, "gzipbomb") == 0)
        return httpd_serve_gzipbomb(c);
    if (strncmp(what, "any/", 4) == 0)
        return httpd_serve_any(c);
    if (strcmp(what, "name") == 0)
        return httpd_serve_name(c);
    if (strncmp(what, "html/", 5) == 0)
        return httpd_serve_html(c, what + 5);
    if (strncmp(what, "redirect", 8) == 0 || strcmp(what, "loop") == 0)
        return httpd_serve_redirect(c, what);
    return httpd_reply_text(c, 404, NULL, "no such misbehaviour\n");
}
