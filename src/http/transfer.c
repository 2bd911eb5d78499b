/*
 * transfer.c - one transfer: its easy handle with our defaults and the
 * caller's options, and libcurl's callbacks into it: the body goes to its
 * sink through the cap (counted after decoding: libcurl 7.88 does not
 * count decoded bytes against CURLOPT_MAXFILESIZE), the headers of the
 * latest response are kept for lookup (headers.c acts once the final
 * one's are in), and a redirect back to a URL already requested ends the
 * transfer at once as a loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http_internal.h"

#define DEFAULT_MEMORY_CAP ((uint64_t)64 << 20)
#define DEFAULT_CONNECT_TIMEOUT 10.0
#define DEFAULT_LOW_SPEED_BYTES 1L
#define DEFAULT_LOW_SPEED_TIME 30.0
#define DEFAULT_MAX_REDIRECTS 10
#define MAX_HEADER_BYTES ((size_t)256 << 10)

/* ---- the body --------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    mt__http_xfer *x = arg;
    size_t len = size * nmemb;
    if (x->discard)
        return len;
    if (x->cap - x->delivered < len) {
        x->err = -EFBIG;
        return CURL_WRITEFUNC_ERROR;
    }
    int err = 0;
    switch (x->to) {
    case MT_HTTP_TO_MEMORY:
        err = mt_buf_append(&x->body, p, len);
        break;
    case MT_HTTP_TO_FD:
        err = mt__write_all(x->fd, p, len);
        break;
    case MT_HTTP_TO_CALLBACK:
        err = x->write(p, len, x->write_arg);
        break;
    case MT_HTTP_TO_NOWHERE:
        break;
    }
    if (err < 0) {
        x->err = err;
        return CURL_WRITEFUNC_ERROR;
    }
    x->delivered += len;
    return len;
}

/* ---- headers and redirect loops --------------------------------------- */

static bool is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* `url` in a form fit to compare (scheme and host in lower case, no
 * fragment), resolved against `base` when not NULL; NULL on failure. */
static char *canonical_url(const char *base, const char *url)
{
    CURLU *u = curl_url();
    char *out = NULL;
    if (!u)
        return NULL;
    bool ok = (!base || curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK) &&
              curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK;
    if (ok && curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK)
        out = NULL;
    curl_url_cleanup(u);
    return out;
}

static bool visited(const mt_buf *v, const char *url)
{
    for (size_t at = 0; at < v->len; at += strlen(v->data + at) + 1)
        if (strcmp(v->data + at, url) == 0)
            return true;
    return false;
}

/* A Location header of a redirect: -ELOOP when it leads back to a URL
 * requested before, else 0 (the URL is remembered). */
static int check_loop(mt__http_xfer *x, const char *location)
{
    char *here = NULL;
    curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &here);
    char *next = canonical_url(here, location);
    if (!next)
        return 0; /* libcurl will refuse it with its own error */
    int err = visited(&x->visited, next) ? -ELOOP : 0;
    if (!err)
        err = mt_buf_append(&x->visited, next, strlen(next) + 1);
    curl_free(next);
    return err;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    mt__http_xfer *x = arg;
    size_t len = size * nmemb;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a new response begins */
        mt_buf_reset(&x->headers);
        const char *sp = memchr(p, ' ', len);
        x->status_seen = sp ? strtol(sp + 1, NULL, 10) : 0;
        x->location_seen = x->final_seen = false;
        return len;
    }
    size_t end = len;
    while (end && (p[end - 1] == '\r' || p[end - 1] == '\n'))
        end--;
    /* The blank line ends a response's headers: the final response's,
     * unless it is informational (1xx) or a 3xx that libcurl follows (any
     * with a Location that is not empty). Trailers come after it: no
     * second call. */
    if (end == 0 && !x->final_seen && x->status_seen >= 200 &&
        !(x->follow && x->location_seen)) {
        x->final_seen = true;
        int err = mt__http_headers_done(x);
        if (err) {
            x->err = err;
            return CURL_WRITEFUNC_ERROR;
        }
        return len;
    }
    const char *colon = memchr(p, ':', end);
    if (!colon)
        return len; /* the blank line, or a folded line we do not keep */
    size_t nlen = (size_t)(colon - p);
    const char *v = colon + 1, *vend = p + end;
    while (v < vend && (*v == ' ' || *v == '\t'))
        v++;
    while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
        vend--;
    size_t vlen = (size_t)(vend - v);
    if (x->headers.len + nlen + vlen + 2 > MAX_HEADER_BYTES) {
        x->err = -EMSGSIZE;
        return CURL_WRITEFUNC_ERROR;
    }
    mt_buf *h = &x->headers;
    size_t name_at = h->len;
    int err = mt_buf_reserve(h, nlen + vlen + 2);
    if (err) {
        x->err = err;
        return CURL_WRITEFUNC_ERROR;
    }
    mt_buf_append(h, p, nlen);
    mt_buf_append(h, "", 1);
    mt_buf_append(h, v, vlen);
    mt_buf_append(h, "", 1);
    if (x->status_seen / 100 == 3 && vlen && strcasecmp(h->data + name_at, "location") == 0)
        x->location_seen = true;
    if (x->follow && is_redirect(x->status_seen) &&
        strcasecmp(h->data + name_at, "location") == 0) {
        err = check_loop(x, h->data + name_at + nlen + 1);
        if (err) {
            x->err = err;
            return CURL_WRITEFUNC_ERROR;
        }
    }
    return len;
}

/* ---- the easy handle -------------------------------------------------- */

static bool bad_time(double s)
{
    return isnan(s) || isinf(s);
}

static long ms(double s)
{
    return s >= 2e6 ? 2000000000L : (long)mt__ceil_i64(s * 1000.0);
}

/* Check o and copy what the callbacks need into x. */
static int take_opts(mt__http_xfer *x, const mt_http_opts *o)
{
    if (bad_time(o->timeout) || bad_time(o->connect_timeout) || bad_time(o->low_speed_time) ||
        o->low_speed_bytes < 0 || o->range_from < 0 ||
        (o->if_range && strpbrk(o->if_range, "\r\n")))
        return -EINVAL;
    switch (o->to) {
    case MT_HTTP_TO_MEMORY:
    case MT_HTTP_TO_NOWHERE:
        break;
    case MT_HTTP_TO_FD:
        if (o->fd < 0)
            return -EINVAL;
        break;
    case MT_HTTP_TO_CALLBACK:
        if (!o->write)
            return -EINVAL;
        break;
    default:
        return -EINVAL;
    }
    x->to = o->to;
    x->fd = o->fd;
    x->write = o->write;
    x->write_arg = o->write_arg;
    if (o->max_size > 0)
        x->cap = (uint64_t)o->max_size;
    else if (o->max_size == 0 && o->to == MT_HTTP_TO_MEMORY)
        x->cap = DEFAULT_MEMORY_CAP;
    else
        x->cap = UINT64_MAX;
    x->follow = o->max_redirects >= 0;
    x->range_from = o->range_from;
    x->head = o->flags & MT_HTTP_HEAD;
    x->on_headers = o->on_headers;
    x->on_headers_arg = o->on_headers_arg;
    x->length = -1;
    return 0;
}

static int set_limits(mt__http_xfer *x, const mt_http_opts *o)
{
    CURL *e = x->easy;
    double connect = o->connect_timeout ? o->connect_timeout : DEFAULT_CONNECT_TIMEOUT;
    if (connect > 0)
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms(connect));
    if (o->timeout > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms(o->timeout));
    if (o->low_speed_time >= 0) {
        double t = o->low_speed_time ? o->low_speed_time : DEFAULT_LOW_SPEED_TIME;
        long bytes = o->low_speed_bytes ? o->low_speed_bytes : DEFAULT_LOW_SPEED_BYTES;
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, bytes);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)mt__ceil_i64(t < 1 ? 1 : t));
    }
    if (x->follow) {
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(e, CURLOPT_MAXREDIRS,
                         (long)(o->max_redirects ? o->max_redirects : DEFAULT_MAX_REDIRECTS));
    }
    if (x->cap != UINT64_MAX)
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                         (curl_off_t)(x->cap > INT64_MAX ? INT64_MAX : x->cap));
    if (curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK)
        return -ENOMEM;
    return 0;
}

static int add_header(mt__http_xfer *x, const char *line)
{
    struct curl_slist *l = curl_slist_append(x->req_headers, line);
    if (!l)
        return -ENOMEM;
    x->req_headers = l;
    return 0;
}

static int set_request(mt__http_xfer *x, const char *url, const mt_http_opts *o)
{
    CURL *e = x->easy;
    mt_http_client *c = x->client;
    if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK)
        return -ENOMEM;
    if (curl_easy_setopt(e, CURLOPT_USERAGENT, o->user_agent ? o->user_agent : c->user_agent) !=
        CURLE_OK)
        return -ENOMEM;
    /* A range counts bytes of the body as stored: no content coding. */
    if (!(o->flags & MT_HTTP_NO_DECODE) && o->range_from == 0 &&
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK)
        return -ENOMEM;
    if (o->flags & MT_HTTP_HEAD)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    if (o->ca_file && curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file) != CURLE_OK)
        return -ENOMEM;
    for (const char *const *h = o->headers; h && *h; h++)
        if (add_header(x, *h))
            return -ENOMEM;
    if (o->range_from > 0) {
        char line[64];
        snprintf(line, sizeof line, "Range: bytes=%lld-", (long long)o->range_from);
        if (add_header(x, line))
            return -ENOMEM;
        if (o->if_range && *o->if_range) {
            char *ir = NULL;
            if (asprintf(&ir, "If-Range: %s", o->if_range) < 0)
                return -ENOMEM;
            int err = add_header(x, ir);
            free(ir);
            if (err)
                return err;
        }
    }
    if (x->req_headers)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->req_headers);
    if (x->follow) { /* the first URL counts as visited */
        char *first = canonical_url(NULL, url);
        if (first) {
            int err = mt_buf_append(&x->visited, first, strlen(first) + 1);
            curl_free(first);
            if (err)
                return err;
        }
    }
    return 0;
}

int mt__http_xfer_init(mt__http_xfer *x, mt_http_client *c, const char *url,
                       const mt_http_opts *o)
{
    x->client = c;
    int err = take_opts(x, o);
    if (err)
        return err;
    CURL *e = x->easy = curl_easy_init();
    if (!e)
        return -ENOMEM;
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    /* A proxy's answer to CONNECT is not the response: keep it out of the
     * headers (and of the headers hook). */
    curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, mt__http_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, c);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, mt__http_close_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, c);
    err = set_limits(x, o);
    if (!err)
        err = set_request(x, url, o);
    return err;
}

void mt__http_xfer_free(mt__http_xfer *x)
{
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->req_headers);
    mt_buf_free(&x->body);
    mt_buf_free(&x->headers);
    mt_buf_free(&x->visited);
}
