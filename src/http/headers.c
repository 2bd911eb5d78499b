/*
 * headers.c - the moment the final response's headers are in, before any
 * of its body: what a resume got (range_start, length; a 206 that does not
 * start where asked is refused), the caller's headers hook, and an fd sink
 * emptied when a range request gets the whole body (a 200).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http_internal.h"

/* A decimal number at *p (digits only, at least one, no overflow),
 * *p moved past it. */
static bool number(const char **p, int64_t *out)
{
    const char *s = *p;
    int64_t v = 0;
    if (*s < '0' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (INT64_MAX - (*s - '0')) / 10)
            return false;
        v = v * 10 + (*s - '0');
    }
    *p = s;
    *out = v;
    return true;
}

/* Content-Length: the number, or -1 when absent or not one. */
static int64_t content_length(const char *v)
{
    int64_t n;
    return v && number(&v, &n) && !*v ? n : -1;
}

/* Content-Range "bytes a-b/N", with '*' for N when unknown, or '*' for
 * a-b in a 416: *first is a (-1 for '*'), *total N (-1 for '*'). false
 * when absent or malformed. */
static bool content_range(const char *v, int64_t *first, int64_t *total)
{
    int64_t last;
    if (!v || strncasecmp(v, "bytes", 5) != 0 || (v[5] != ' ' && v[5] != '\t'))
        return false;
    v += 5;
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v == '*') {
        *first = -1;
        v++;
    } else if (!number(&v, first) || *v++ != '-' || !number(&v, &last) || last < *first) {
        return false;
    }
    if (*v++ != '/')
        return false;
    if (*v == '*') {
        *total = -1;
        v++;
    } else if (!number(&v, total)) {
        return false;
    }
    return *v == '\0';
}

int mt__http_headers_done(mt__http_xfer *x)
{
    long status = x->status_seen;
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    r.status = status;
    r.headers_ = x->headers; /* lent for the lookups and the hook */
    curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &r.url);
    curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_COUNT, &r.redirects);
    int64_t first = -1, total = -1;
    bool ranged = content_range(mt_http_response_header(&r, "Content-Range"), &first, &total);
    x->range_start = 0;
    x->length = -1;
    if (status == 200)
        x->length = content_length(mt_http_response_header(&r, "Content-Length"));
    else if ((status == 206 || status == 416) && ranged)
        x->length = total;
    if (status == 206 && x->range_from > 0) {
        /* A multipart body has no Content-Range of its own: refused too. */
        const char *type = mt_http_response_header(&r, "Content-Type");
        if ((type && strncasecmp(type, "multipart/byteranges", 20) == 0) || !ranged ||
            first != x->range_from)
            return -EPROTO;
        x->range_start = x->range_from;
    }
    r.range_start = x->range_start;
    r.length = x->length;
    if (x->on_headers) {
        int err = x->on_headers(&r, x->on_headers_arg);
        if (err < 0)
            return err;
    }
    if (x->range_from > 0 && status == 416)
        x->discard = true; /* "range not satisfiable" is not the file's */
    if (x->range_from > 0 && status == 200 && x->to == MT_HTTP_TO_FD && !x->head) {
        /* The whole body comes: it replaces the partial file. */
        if (ftruncate(x->fd, 0) != 0)
            return -errno;
        x->truncated = true;
        if (lseek(x->fd, 0, SEEK_SET) != 0)
            return -errno;
    }
    return 0;
}
