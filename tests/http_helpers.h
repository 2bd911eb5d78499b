/*
 * http_helpers.h - a very small HTTP/1.1 server for the http tests: a
 * thread accepting on 127.0.0.1:<free port>, a thread per connection, one
 * canned response per path, then the connection closes (except /keep/...). Some answers
 * misbehave on purpose (see serve()).
 */
#ifndef MT_TEST_HTTP_HELPERS_H
#define MT_TEST_HTTP_HELPERS_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>
#include <zlib.h>

#include "helpers.h"

#define SRV_MAX_CONNS 4096
#define SRV_BIG ((size_t)1 << 20)

typedef struct test_server {
    int lfd, port;
    pthread_t acceptor;
    atomic_bool stop;
    pthread_t conns[SRV_MAX_CONNS];
    size_t nconns;
    atomic_int served;
    atomic_int now;       /* connections being answered (until closed) */
    atomic_int accepted;  /* connections accepted in all */
    atomic_bool child_reused; /* /keep/child came on a connection used before */
    atomic_int pausing, most; /* in /pause's pause now; the most at once */
    atomic_int hits[64]; /* requests to the paths ending in /<id> */
    unsigned char *gz;  /* SRV_BIG zero bytes, gzip-encoded */
    size_t gz_len;
} test_server;

typedef struct srv_conn {
    test_server *s;
    int fd;
} srv_conn;

static bool srv_send(int fd, const void *p, size_t len)
{
    const char *c = p;
    while (len) {
        ssize_t n = send(fd, c, len, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        c += n;
        len -= (size_t)n;
    }
    return true;
}

static bool srv_printf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool srv_printf(int fd, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return srv_send(fd, buf, (size_t)n);
}

static void srv_body(int fd, int status, const char *extra, const void *body, size_t len)
{
    bool keep = strstr(extra, "keep-alive") != NULL;
    if (srv_printf(fd, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s%s\r\n", status, len,
                   keep ? "" : "Connection: close\r\n", extra))
        srv_send(fd, body, len);
}

/* Send `len` bytes in pieces of `piece` every `gap` seconds, until done,
 * the client goes or the server stops. */
static void srv_trickle(test_server *s, int fd, size_t len, size_t piece, double gap)
{
    char buf[64] = "0123456789012345678901234567890123456789";
    for (size_t sent = 0; sent < len && !atomic_load(&s->stop); sent += piece) {
        if (!srv_send(fd, buf, piece))
            return;
        for (double slept = 0; slept < gap && !atomic_load(&s->stop); slept += 0.01) {
            struct pollfd p = {.fd = fd, .events = POLLRDHUP};
            if (poll(&p, 1, 10) > 0) /* the client went */
                return;
        }
    }
}

/* The n-th request (from 1) to a path ending in "/<id>". */
static int srv_hit(test_server *s, const char *path)
{
    const char *slash = strrchr(path, '/');
    int id = slash ? atoi(slash + 1) : 0;
    return atomic_fetch_add(&s->hits[id & 63], 1) + 1;
}

static void serve(test_server *s, int fd, const char *path, const char *req)
{
    int n;
    char date[64];
    time_t later = time(NULL) + 2;
    if (strcmp(path, "/many-headers") == 0) { /* 300 headers of 1 KiB */
        char line[1100];
        memset(line, 'h', sizeof line);
        srv_printf(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n");
        for (int i = 0; i < 300; i++) {
            int n = snprintf(line, sizeof line, "X-H%d: ", i);
            line[n] = 'h';
            memcpy(line + 1024, "\r\n", 2);
            if (!srv_send(fd, line, 1026))
                return;
        }
        srv_printf(fd, "\r\nok");
    } else if (strcmp(path, "/echo") == 0) { /* the request's head as the body */
        srv_body(fd, 200, "", req, strlen(req));
    } else if (sscanf(path, "/flaky/%d/", &n) == 1) { /* n times 503, then 200 */
        if (srv_hit(s, path) <= n)
            srv_body(fd, 503, "", "busy", 4);
        else
            srv_body(fd, 200, "", "fine", 4);
    } else if (strncmp(path, "/after/", 7) == 0) {
        if (srv_hit(s, path) == 1)
            srv_body(fd, 429, "Retry-After: 1\r\n", "slow down", 9);
        else
            srv_body(fd, 200, "", "fine", 4);
    } else if (strncmp(path, "/after-date/", 12) == 0) {
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime(&later));
        char extra[128];
        snprintf(extra, sizeof extra, "Retry-After: %s\r\n", date);
        if (srv_hit(s, path) == 1)
            srv_body(fd, 503, extra, "later", 5);
        else
            srv_body(fd, 200, "", "fine", 4);
    } else if (strncmp(path, "/after-long/", 12) == 0) {
        srv_hit(s, path);
        srv_body(fd, 429, "Retry-After: 100\r\n", "much later", 10);
    } else if (strncmp(path, "/cut-once/", 10) == 0) {
        char body[1000];
        memset(body, 'y', sizeof body);
        if (srv_hit(s, path) == 1) {
            srv_printf(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
            srv_send(fd, body, 10);
        } else {
            srv_body(fd, 200, "", body, sizeof body);
        }
    } else if (strncmp(path, "/bad-chunks-once/", 17) == 0) {
        if (srv_hit(s, path) == 1)
            srv_printf(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "3\r\nabc\r\nzz\r\nnot hex\r\n0\r\n\r\n");
        else
            srv_printf(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "3\r\nabc\r\n0\r\n\r\n");
    } else if (strcmp(path, "/hello") == 0) {
        srv_body(fd, 200, "X-Test: Yes\r\nContent-Type: text/plain\r\n", "hello world", 11);
    } else if (strcmp(path, "/pause") == 0) {
        /* Counted before the answer goes: the client cannot start another
         * request before this one has left the count. */
        int now = atomic_fetch_add(&s->pausing, 1) + 1, most = atomic_load(&s->most);
        while (now > most && !atomic_compare_exchange_weak(&s->most, &most, now))
            ;
        mt_sleep(0.1);
        atomic_fetch_sub(&s->pausing, 1);
        srv_body(fd, 200, "", "paused", 6);
    } else if (strcmp(path, "/long-pause") == 0) {
        mt_sleep(0.6);
        srv_body(fd, 200, "", "paused", 6);
    } else if (strcmp(path, "/chunked") == 0) {
        srv_printf(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                       "3\r\nabc\r\n4\r\ndefg\r\n1\r\nh\r\n0\r\n\r\n");
    } else if (sscanf(path, "/redirect/%d", &n) == 1) {
        if (n > 0)
            srv_printf(fd, "HTTP/1.1 302 Found\r\nLocation: /redirect/%d\r\nContent-Length: 0\r\n"
                           "Connection: close\r\n\r\n", n - 1);
        else
            srv_body(fd, 200, "", "arrived", 7);
    } else if (strcmp(path, "/loop") == 0) {
        srv_printf(fd, "HTTP/1.1 302 Found\r\nLocation: /loop2\r\nContent-Length: 0\r\n\r\n");
    } else if (strcmp(path, "/loop2") == 0) {
        srv_printf(fd, "HTTP/1.1 301 Moved\r\nLocation: http://127.0.0.1:%d/loop#again\r\n"
                       "Content-Length: 0\r\n\r\n", s->port);
    } else if (strcmp(path, "/file") == 0) {
        srv_printf(fd, "HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\n"
                       "Content-Length: 0\r\n\r\n");
    } else if (strcmp(path, "/slow") == 0) {
        srv_printf(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
        srv_trickle(s, fd, 100000, 10, 0.02);
    } else if (strcmp(path, "/stall") == 0) {
        srv_printf(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        srv_trickle(s, fd, 10, 10, 30.0);
    } else if (strcmp(path, "/big") == 0) {
        char *big = malloc(SRV_BIG);
        memset(big, 'x', SRV_BIG);
        srv_body(fd, 200, "", big, SRV_BIG);
        free(big);
    } else if (strcmp(path, "/gzip") == 0) {
        srv_body(fd, 200, "Content-Encoding: gzip\r\n", s->gz, s->gz_len);
    } else if (strcmp(path, "/cut") == 0) {
        srv_printf(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        srv_send(fd, "0123456789", 10); /* and close: a short body */
    } else {
        srv_body(fd, 404, "", "not found", 9);
    }
}

/* Read one request head into req (NUL-ended). Returns its length, or 0
 * when the client closed, 5 s passed or the server stops. */
static size_t srv_read_request(test_server *s, int fd, char *req, size_t size)
{
    size_t got = 0;
    for (int waited = 0; got < size - 1 && waited < 500 && !atomic_load(&s->stop);) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10) == 0) {
            waited++;
            continue;
        }
        ssize_t n = recv(fd, req + got, size - 1 - got, 0);
        if (n <= 0)
            return 0;
        got += (size_t)n;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n"))
            return got;
    }
    return 0;
}

static void *srv_conn_main(void *arg)
{
    srv_conn *c = arg;
    test_server *s = c->s;
    char req[8192], path[1024];
    atomic_fetch_add(&s->now, 1);
    /* Requests to /keep/<who> keep the connection open for the next. */
    for (int nth = 1; srv_read_request(s, c->fd, req, sizeof req); nth++) {
        if (sscanf(req, "%*s %1023s", path) != 1)
            break;
        atomic_fetch_add(&s->served, 1);
        if (strncmp(path, "/keep/", 6) != 0) {
            serve(s, c->fd, path, req);
            break;
        }
        if (nth > 1 && strcmp(path, "/keep/child") == 0)
            atomic_store(&s->child_reused, true);
        srv_body(c->fd, 200, "Connection: keep-alive\r\n", "kept", 4);
    }
    shutdown(c->fd, SHUT_WR);
    close(c->fd);
    atomic_fetch_sub(&s->now, 1); /* after the close: see srv_idle_fds */
    free(c);
    return NULL;
}

static void *srv_accept_main(void *arg)
{
    test_server *s = arg;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, (size_t)256 << 10);
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0)
            continue;
        int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        atomic_fetch_add(&s->accepted, 1);
        int one = 1; /* head and body go in two sends: no wait for an ACK */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        /* Join the connections that ended, to keep the table short. */
        size_t keep = 0;
        for (size_t i = 0; i < s->nconns; i++)
            if (pthread_tryjoin_np(s->conns[i], NULL) != 0)
                s->conns[keep++] = s->conns[i];
        s->nconns = keep;
        srv_conn *c = malloc(sizeof *c);
        *c = (srv_conn){s, fd};
        if (s->nconns == SRV_MAX_CONNS ||
            pthread_create(&s->conns[s->nconns], &attr, srv_conn_main, c) != 0) {
            close(fd);
            free(c);
            continue;
        }
        s->nconns++;
    }
    pthread_attr_destroy(&attr);
    return NULL;
}

static void srv_make_gzip(test_server *s)
{
    unsigned char *zeros = calloc(1, SRV_BIG);
    s->gz = malloc(SRV_BIG);
    z_stream z = {0};
    cr_assert_eq(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = zeros;
    z.avail_in = (uInt)SRV_BIG;
    z.next_out = s->gz;
    z.avail_out = (uInt)SRV_BIG;
    cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    s->gz_len = z.total_out;
    deflateEnd(&z);
    free(zeros);
}

static void srv_start(test_server *s)
{
    memset(s, 0, sizeof *s);
    srv_make_gzip(s);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(s->lfd, 0);
    int one = 1;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(s->lfd, 512), 0);
    socklen_t len = sizeof a;
    getsockname(s->lfd, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
    cr_assert_eq(pthread_create(&s->acceptor, NULL, srv_accept_main, s), 0);
}

static void srv_stop(test_server *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->acceptor, NULL);
    for (size_t i = 0; i < s->nconns; i++)
        pthread_join(s->conns[i], NULL);
    close(s->lfd);
    free(s->gz);
}

/* "http://127.0.0.1:<port><path>" in a static buffer of the caller's. */
static const char *srv_url(const test_server *s, const char *path, char *buf, size_t size)
{
    snprintf(buf, size, "http://127.0.0.1:%d%s", s->port, path);
    return buf;
}

#endif
