/*
 * respond_range.c - /_/range/<size>: a generated resource of <size> pattern
 * bytes that honours one byte range as a real server does (206 with
 * Content-Range; at or past the end, 416 with the length alone) while If-Range
 * matches its ETag ("E" of ?etag=E) or its Last-Modified (?lm=DATE, as
 * sent), and sends it whole (200) otherwise. It misbehaves on request:
 *   ignore=1     Range is ignored: always the whole body
 *   shift=K      a 206 whose range starts K bytes after the one asked for
 *   multipart=1  the range as a multipart/byteranges body
 *   reset=N      on the first request of this exact target: the head, N
 *                bytes of the body, then a reset
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"

/* Send len pattern bytes from offset off. */
static int send_pattern_at(httpd_conn *c, long long off, long long len)
{
    for (long long end = off + len; off < end && !c->req.head;) {
        size_t n = end - off < HTTPD_BUF ? (size_t)(end - off) : HTTPD_BUF;
        httpd_pattern(c->buf, n, (unsigned long long)off);
        int err = httpd_send_body(c, c->buf, n);
        if (err)
            return err;
        off += (long long)n;
    }
    return 0;
}

/* "bytes=a-" or "bytes=a-b" into [*first, *last] (last clamped to size -
 * 1): 1; beyond the end: -1; absent or another form: 0 (the whole body). */
static int one_range(const char *h, long long size, long long *first, long long *last)
{
    char *end;
    if (!h || strncmp(h, "bytes=", 6) != 0 || h[6] < '0' || h[6] > '9')
        return 0;
    *first = strtoll(h + 6, &end, 10);
    if (*end++ != '-')
        return 0;
    *last = size - 1;
    if (*end) {
        char *stop;
        long long l = strtoll(end, &stop, 10);
        if (*stop || l < *first)
            return 0;
        if (l < *last)
            *last = l;
    }
    return *first < size ? 1 : -1;
}

int httpd_serve_range(httpd_conn *c, const char *size_text)
{
    char *end, etag[128] = "", lm[128] = "", extra[1024];
    long long size = strtoll(size_text, &end, 10);
    if (end == size_text || *end || size < 0 || (unsigned long long)size > httpd_cfg.cap)
        return httpd_reply_text(c, 400, NULL, "size must be 0..cap\n");
    size_t n = 0;
    extra[0] = '\0';
    if (httpd_param(&c->req, "etag", etag + 1, sizeof etag - 2) && httpd_header_safe(etag + 1)) {
        etag[0] = '"';
        strcat(etag, "\"");
        n += (size_t)snprintf(extra + n, sizeof extra - n, "ETag: %s\r\n", etag);
    } else {
        etag[0] = '\0';
    }
    if (httpd_param(&c->req, "lm", lm, sizeof lm) && httpd_header_safe(lm))
        n += (size_t)snprintf(extra + n, sizeof extra - n, "Last-Modified: %s\r\n", lm);
    else
        lm[0] = '\0';
    long long shift = httpd_param_num(&c->req, "shift", 0, 0, size);
    long long reset = httpd_param_num(&c->req, "reset", -1, -1, size);
    bool multipart = httpd_param_num(&c->req, "multipart", 0, 0, 1);
    bool first_time = true;
    if (reset >= 0) {
        char key[HTTPD_MAX_LINE + 16];
        snprintf(key, sizeof key, "target:%s", c->req.target);
        first_time = httpd_count_get(key) == 1;
    }
    const char *if_range = httpd_header_get(&c->req, "If-Range");
    bool holds = !if_range || (etag[0] && strcmp(if_range, etag) == 0) ||
                 (lm[0] && strcmp(if_range, lm) == 0);
    long long first = 0, last = size - 1;
    int ranged = holds && !httpd_param_num(&c->req, "ignore", 0, 0, 1)
                     ? one_range(httpd_header_get(&c->req, "Range"), size, &first, &last)
                     : 0;
    int err;
    if (ranged < 0) {
        snprintf(extra + n, sizeof extra - n, "Content-Range: bytes */%lld\r\n", size);
        return httpd_reply_text(c, 416, extra, "range not satisfiable\n");
    }
    if (ranged > 0 && multipart) {
        char part[256];
        int plen = snprintf(part, sizeof part,
                            "--SEP\r\nContent-Range: bytes %lld-%lld/%lld\r\n\r\n", first, last,
                            size);
        snprintf(extra + n, sizeof extra - n,
                 "Content-Type: multipart/byteranges; boundary=SEP\r\n");
        err = httpd_reply_head(c, 206, extra, plen + (last - first + 1) + 9);
        if (!err)
            err = httpd_send_body(c, part, (size_t)plen);
        if (!err)
            err = send_pattern_at(c, first, last - first + 1);
        return err ? err : httpd_send_body(c, "\r\n--SEP--", 9);
    }
    if (ranged > 0) {
        first += shift < last - first ? shift : last - first;
        snprintf(extra + n, sizeof extra - n, "Content-Range: bytes %lld-%lld/%lld\r\n", first,
                 last, size);
        err = httpd_reply_head(c, 206, extra, last - first + 1);
    } else {
        err = httpd_reply_head(c, 200, extra, size);
    }
    long long len = last - first + 1;
    if (reset >= 0 && first_time && reset < len) {
        c->close = true;
        return httpd_reset(c, err ? err : send_pattern_at(c, first, reset));
    }
    return err ? err : send_pattern_at(c, first, len);
}
