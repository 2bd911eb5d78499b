/*
 * http_client.h - a minimal blocking HTTP/1.1 client on plain sockets, for
 * tests that check what a server puts on the wire: one connection with a
 * read buffer (so that keep-alive and pipelined responses can follow each
 * other), responses framed by Content-Length, chunks or the end of the
 * connection, every framing error reported instead of guessed around.
 */
#ifndef MT_TEST_HTTP_CLIENT_H
#define MT_TEST_HTTP_CLIENT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct hc_conn {
    int fd;
    char *buf;   /* received and not yet consumed */
    size_t len, cap;
} hc_conn;

typedef struct hc_resp {
    int status;
    char head[32768]; /* the status line and headers, NUL-terminated */
    char *body;       /* malloc'd (NUL-terminated), or NULL */
    size_t len;
} hc_resp;

/* Connect to 127.0.0.1:port; reads give up after timeout seconds (EAGAIN).
 * -errno on failure. */
static inline int hc_open(hc_conn *c, int port, double timeout)
{
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -errno;
    struct timeval tv = {(time_t)timeout, (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6)};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int err = -errno;
        close(c->fd);
        c->fd = -1;
        return err;
    }
    return 0;
}

static inline void hc_close(hc_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}

static inline int hc_send(hc_conn *c, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static inline int hc_send_str(hc_conn *c, const char *s)
{
    return hc_send(c, s, strlen(s));
}

/* Receive more into the buffer: the count, 0 at the end, or -errno
 * (-EAGAIN when the read timed out). */
static inline ssize_t hc_fill(hc_conn *c)
{
    if (c->cap - c->len < 65536) {
        c->cap = c->cap ? 2 * c->cap : 131072;
        c->buf = realloc(c->buf, c->cap + 1);
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        c->len += (size_t)n;
        c->buf[c->len] = '\0';
        return n;
    }
}

/* Drop the first n bytes of the buffer. */
static inline void hc_consume(hc_conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Make sure the buffer holds at least n bytes: 0, -EPIPE at an early end,
 * or hc_fill's error. */
static inline int hc_need(hc_conn *c, size_t n)
{
    while (c->len < n) {
        ssize_t r = hc_fill(c);
        if (r <= 0)
            return r == 0 ? -EPIPE : (int)r;
    }
    return 0;
}

/* The value of header `name` of r into out; false when absent. */
static inline bool hc_header(const hc_resp *r, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) != 0 || p[2 + n] != ':')
            continue;
        const char *v = p + 3 + n, *e = strstr(v, "\r\n");
        while (*v == ' ')
            v++;
        size_t len = (size_t)(e - v) < size - 1 ? (size_t)(e - v) : size - 1;
        memcpy(out, v, len);
        out[len] = '\0';
        return true;
    }
    return false;
}

/* Append n buffered bytes to the body and consume them. */
static inline void hc_take(hc_conn *c, hc_resp *r, size_t n)
{
    r->body = realloc(r->body, r->len + n + 1);
    memcpy(r->body + r->len, c->buf, n);
    r->len += n;
    r->body[r->len] = '\0';
    hc_consume(c, n);
}

/* A chunked body: 0, -EPROTO for broken framing, or a read error. */
static inline int hc_read_chunks(hc_conn *c, hc_resp *r)
{
    for (;;) {
        char *eol;
        int err;
        while (!(eol = memchr(c->buf, '\n', c->len))) {
            if (c->len > 64) /* no size line is that long */
                return -EPROTO;
            if ((err = hc_need(c, c->len + 1)))
                return err;
        }
        char *end;
        errno = 0;
        unsigned long long size = strtoull(c->buf, &end, 16);
        if (end == c->buf || errno || (*end != '\r' && *end != '\n' && *end != ';') ||
            size > (1ULL << 40))
            return -EPROTO;
        hc_consume(c, (size_t)(eol - c->buf) + 1);
        bool last = size == 0;
        while (size) {
            if (c->len == 0 && (err = hc_need(c, 1)))
                return err;
            size_t n = c->len < size ? c->len : (size_t)size;
            hc_take(c, r, n);
            size -= n;
        }
        if ((err = hc_need(c, 2)))
            return err;
        if (memcmp(c->buf, "\r\n", 2) != 0)
            return -EPROTO;
        hc_consume(c, 2);
        if (last) /* the last chunk ends the body (no trailers here) */
            return 0;
    }
}

/*
 * Read one response (to a HEAD request when head_req). 0 when it came
 * whole; -EPIPE when the connection ended early, -EPROTO for broken
 * framing, -EAGAIN when a read timed out, -ECONNRESET: what arrived is in
 * r all the same. Free r->body after.
 */
static inline int hc_read(hc_conn *c, hc_resp *r, bool head_req)
{
    r->status = 0;
    r->head[0] = '\0';
    r->body = NULL;
    r->len = 0;
    char *end;
    int err;
    while (!(end = c->len ? strstr(c->buf, "\r\n\r\n") : NULL))
        if ((err = hc_need(c, c->len + 1)))
            return err;
    size_t hlen = (size_t)(end - c->buf) + 4;
    if (hlen >= sizeof r->head)
        return -EPROTO;
    memcpy(r->head, c->buf, hlen);
    r->head[hlen] = '\0';
    hc_consume(c, hlen);
    if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
        return -EPROTO;
    char v[64];
    if (head_req || r->status == 204 || r->status == 304)
        return 0;
    if (hc_header(r, "Transfer-Encoding", v, sizeof v))
        return strcasecmp(v, "chunked") ? -EPROTO : hc_read_chunks(c, r);
    if (hc_header(r, "Content-Length", v, sizeof v)) {
        size_t want = strtoull(v, NULL, 10);
        while (r->len < want) {
            if (c->len == 0 && (err = hc_need(c, 1))) {
                return err;
            }
            size_t n = c->len < want - r->len ? c->len : want - r->len;
            hc_take(c, r, n);
        }
        return 0;
    }
    for (;;) { /* to the end of the connection */
        if (c->len)
            hc_take(c, r, c->len);
        ssize_t n = hc_fill(c);
        if (n <= 0)
            return (int)n;
    }
}

/* One GET (or another method) on a new connection with Connection: close;
 * extra header lines (CRLF-terminated) may be NULL. Returns hc_read's. */
static inline int hc_get(int port, const char *method, const char *target, const char *extra,
                         hc_resp *r)
{
    hc_conn c;
    int err = hc_open(&c, port, 30);
    if (err)
        return err;
    char req[16384];
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n",
             method, target, extra ? extra : "");
    err = hc_send_str(&c, req);
    if (!err)
        err = hc_read(&c, r, strcmp(method, "HEAD") == 0);
    hc_close(&c);
    return err;
}

#endif
