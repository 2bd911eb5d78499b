/*
 * respond_static.c - files from the docroot: GET and HEAD with ETag and
 * Last-Modified, one byte range (206, or 416 beyond the end) honoured only
 * while If-Range still matches, If-None-Match (304). Paths never leave the
 * docroot: no ".." segment, no symbolic link followed at the last step.
 * Two query parameters misbehave with a real file (its validators and
 * ranges intact, for resume tests): ?rate=B sends the body at B bytes a
 * second, ?cut=N closes the connection after N body bytes of the response.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "multitask/coro.h"

#include "httpd.h"

/* The path relative to the docroot (no leading '/'), or NULL when it has a
 * "." or ".." segment. "" is the docroot itself. */
static const char *relative_path(const char *path)
{
    for (const char *seg = path; seg;) {
        seg++; /* past '/' */
        size_t n = strcspn(seg, "/");
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return NULL;
        seg = seg[n] ? seg + n : NULL;
    }
    return path + 1;
}

/* Open the file a request names; -errno when there is none to serve. */
static int open_file(const char *path, struct stat *st)
{
    const char *rel = relative_path(path);
    if (!rel)
        return -EACCES;
    char name[HTTPD_MAX_PATH + 16];
    size_t len = strlen(rel);
    snprintf(name, sizeof name, "%s%s", rel, len == 0 || rel[len - 1] == '/' ? "index.html" : "");
    int fd = openat(httpd_cfg.rootfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return -EISDIR;
    }
    return fd;
}

/* A byte range of a file of `size` bytes. */
typedef struct byte_range {
    long long first, last;
} byte_range;

/* Parse a Range header: 1 for one satisfiable range in *r, 0 to send the
 * whole file (no header, a syntax it ignores, several ranges), -1 when
 * the range lies beyond the end (416). */
static int parse_range(const char *h, long long size, byte_range *r)
{
    if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 0;
    const char *p = h + 6;
    char *end;
    if (*p == '-') {
        long long n = strtoll(p + 1, &end, 10);
        if (end == p + 1 || *end || n < 0)
            return 0;
        if (n == 0 || size == 0)
            return -1;
        r->first = n >= size ? 0 : size - n;
        r->last = size - 1;
        return 1;
    }
    if (*p < '0' || *p > '9')
        return 0;
    r->first = strtoll(p, &end, 10);
    if (*end != '-')
        return 0;
    p = end + 1;
    r->last = size - 1;
    if (*p) {
        if (*p < '0' || *p > '9')
            return 0;
        r->last = strtoll(p, &end, 10);
        if (*end || r->last < r->first)
            return 0;
        if (r->last >= size)
            r->last = size - 1;
    }
    return r->first < size ? 1 : -1;
}

/* Whether If-Range (absent: true) still names this version of the file:
 * its strong ETag, or its Last-Modified date exactly. */
static bool if_range_holds(const httpd_req *req, const char *etag, const char *modified)
{
    const char *v = httpd_header_get(req, "If-Range");
    if (!v)
        return true;
    if (v[0] == '"')
        return strcmp(v, etag) == 0;
    return strcmp(v, modified) == 0;
}

static int send_file_part(httpd_conn *c, int fd, long long off, long long len)
{
    long long rate = httpd_param_num(&c->req, "rate", 0, 0, 1LL << 40);
    long long cut = httpd_param_num(&c->req, "cut", -1, -1, 1LL << 62);
    long long piece = rate ? (rate / 20 ? rate / 20 : 1) : HTTPD_BUF;
    double start = mt_loop_time();
    long long sent = 0;
    if (piece > HTTPD_BUF)
        piece = HTTPD_BUF;
    if (cut >= 0 && cut < len) {
        len = cut;
        c->close = true; /* the body ends short: the connection with it */
    }
    while (len > 0) {
        size_t want = len < piece ? (size_t)len : (size_t)piece;
        ssize_t n = pread(fd, c->buf, want, off);
        if (n <= 0)
            return n < 0 ? -errno : -EIO; /* the file shrank: cut the body short */
        int err = httpd_send_body(c, c->buf, (size_t)n);
        if (err)
            return err;
        off += n;
        len -= n;
        sent += n;
        double wait = rate ? start + (double)sent / (double)rate - mt_loop_time() : 0;
        if (wait > 0 && len > 0 && (err = mt_co_sleep(wait)) != 0)
            return err;
    }
    return 0;
}

int httpd_serve_static(httpd_conn *c)
{
    struct stat st;
    int fd = open_file(c->req.path, &st);
    if (fd < 0)
        return httpd_reply_text(c, fd == -EACCES ? 403 : 404, NULL,
                                fd == -EACCES ? "forbidden\n" : "not found\n");
    char etag[96], modified[64], extra[512];
    long long mtime_ms = (long long)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    snprintf(etag, sizeof etag, "\"%llx-%llx-%llx\"", (unsigned long long)st.st_ino,
             (unsigned long long)st.st_size, (unsigned long long)mtime_ms);
    httpd_http_date(st.st_mtim.tv_sec, modified, sizeof modified);
    int n = snprintf(extra, sizeof extra,
                     "ETag: %s\r\nLast-Modified: %s\r\nAccept-Ranges: bytes\r\n"
                     "Content-Type: application/octet-stream\r\n",
                     etag, modified);
    int err;
    const char *inm = httpd_header_get(&c->req, "If-None-Match");
    byte_range r = {0, st.st_size - 1};
    int ranged = if_range_holds(&c->req, etag, modified)
                     ? parse_range(httpd_header_get(&c->req, "Range"), st.st_size, &r)
                     : 0;
    if (inm && (strcmp(inm, etag) == 0 || strcmp(inm, "*") == 0)) {
        err = httpd_reply_head(c, 304, extra, HTTPD_NO_BODY);
    } else if (ranged < 0) {
        snprintf(extra + n, sizeof extra - (size_t)n, "Content-Range: bytes */%lld\r\n",
                 (long long)st.st_size);
        err = httpd_reply_text(c, 416, extra, "range not satisfiable\n");
    } else if (ranged > 0) {
        snprintf(extra + n, sizeof extra - (size_t)n, "Content-Range: bytes %lld-%lld/%lld\r\n",
                 r.first, r.last, (long long)st.st_size);
        err = httpd_reply_head(c, 206, extra, r.last - r.first + 1);
        if (!err)
            err = send_file_part(c, fd, r.first, r.last - r.first + 1);
    } else {
        err = httpd_reply_head(c, 200, extra, st.st_size);
        if (!err)
            err = send_file_part(c, fd, 0, st.st_size);
    }
    close(fd);
    return err;
}
