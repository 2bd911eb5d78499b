/*
 * delay_relay.h - a TCP relay that adds latency where the kernel has no
 * netem: it listens on 127.0.0.1 (in whatever network namespace it runs),
 * connects each client it accepts to host:port, and passes every byte on,
 * both ways, *delay_ms after it arrived (read anew for each chunk, so the
 * test can change it while the relay runs). Bytes keep their order; a chunk
 * is held, not the connection, so pipelined bytes are not slowed further.
 * Connecting is not delayed. One process, one poll loop; it serves until
 * killed.
 *
 *   delay_relay_serve("10.213.0.1", 6379, &shared_ms, fd);  // port -> fd
 */
#ifndef MT_TEST_DELAY_RELAY_H
#define MT_TEST_DELAY_RELAY_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DELAY_RELAY_CONNS 64

/* Bytes read at `due - delay`, to be written at due. */
typedef struct delay_chunk {
    struct delay_chunk *next;
    double due;
    size_t len, off;
    char data[];
} delay_chunk;

/* One direction of a connection: from `in` to `out`. */
typedef struct delay_way {
    int in, out;
    delay_chunk *head, *tail;
    bool eof; /* in said it sends no more */
    bool shut; /* out was told so, once everything before was written */
} delay_way;

typedef struct delay_conn {
    delay_way way[2]; /* client to server, server to client */
    bool used;
} delay_conn;

static inline double delay_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void delay_conn_close(delay_conn *c)
{
    for (int w = 0; w < 2; w++)
        while (c->way[w].head) {
            delay_chunk *n = c->way[w].head->next;
            free(c->way[w].head);
            c->way[w].head = n;
        }
    close(c->way[0].in);
    close(c->way[0].out);
    memset(c, 0, sizeof *c);
}

/* Read what `in` has into a new chunk: 0, or -1 (the connection is done). */
static inline int delay_way_read(delay_way *w, int delay_ms)
{
    char buf[65536];
    ssize_t n = read(w->in, buf, sizeof buf);
    if (n < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
    if (n == 0) {
        w->eof = true;
        return 0;
    }
    delay_chunk *c = malloc(sizeof *c + (size_t)n);
    if (!c) return -1;
    c->next = NULL;
    c->due = delay_now() + delay_ms / 1000.0;
    c->len = (size_t)n;
    c->off = 0;
    memcpy(c->data, buf, (size_t)n);
    if (w->tail)
        w->tail->next = c;
    else
        w->head = c;
    w->tail = c;
    return 0;
}

/* Write what is due: 0, or -1 (the connection is done). */
static inline int delay_way_write(delay_way *w, double now)
{
    while (w->head && w->head->due <= now) {
        delay_chunk *c = w->head;
        ssize_t n = send(w->out, c->data + c->off, c->len - c->off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
        c->off += (size_t)n;
        if (c->off < c->len) return 0;
        w->head = c->next;
        if (!w->head) w->tail = NULL;
        free(c);
    }
    if (w->eof && !w->head && !w->shut) {
        shutdown(w->out, SHUT_WR);
        w->shut = true;
    }
    return 0;
}

static inline int delay_upstream(const char *host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* Serve until killed; the listening port is written to report_fd (then
 * closed). Returns 1 when it cannot start. */
static inline int delay_relay_serve(const char *host, int port, const int *delay_ms, int report_fd)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 64) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0)
        return 1;
    int lport = ntohs(a.sin_port);
    if (write(report_fd, &lport, sizeof lport) != (ssize_t)sizeof lport) return 1;
    close(report_fd);
    static delay_conn conns[DELAY_RELAY_CONNS];
    for (;;) {
        struct pollfd pfd[1 + 4 * DELAY_RELAY_CONNS];
        int map[1 + 4 * DELAY_RELAY_CONNS], np = 0;
        double now = delay_now(), next = now + 1.0;
        pfd[np] = (struct pollfd){.fd = lfd, .events = POLLIN};
        map[np++] = -1;
        for (int i = 0; i < DELAY_RELAY_CONNS; i++) {
            if (!conns[i].used) continue;
            for (int w = 0; w < 2; w++) {
                delay_way *way = &conns[i].way[w];
                if (!way->eof) {
                    pfd[np] = (struct pollfd){.fd = way->in, .events = POLLIN};
                    map[np++] = i * 2 + w;
                }
                if (way->head && way->head->due <= now) {
                    pfd[np] = (struct pollfd){.fd = way->out, .events = POLLOUT};
                    map[np++] = i * 2 + w;
                } else if (way->head && way->head->due < next) {
                    next = way->head->due;
                }
            }
        }
        int wait_ms = (int)((next - now) * 1000) + 1;
        if (poll(pfd, (nfds_t)np, wait_ms) < 0 && errno != EINTR) return 1;
        if (pfd[0].revents & POLLIN) {
            int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            int slot = 0;
            while (slot < DELAY_RELAY_CONNS && conns[slot].used)
                slot++;
            int sfd = cfd >= 0 && slot < DELAY_RELAY_CONNS ? delay_upstream(host, port) : -1;
            if (sfd < 0) {
                if (cfd >= 0) close(cfd);
            } else {
                int one = 1;
                fcntl(sfd, F_SETFL, O_NONBLOCK);
                setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                conns[slot] = (delay_conn){.used = true};
                conns[slot].way[0] = (delay_way){.in = cfd, .out = sfd};
                conns[slot].way[1] = (delay_way){.in = sfd, .out = cfd};
            }
        }
        int ms = __atomic_load_n(delay_ms, __ATOMIC_RELAXED);
        for (int j = 1; j < np; j++) {
            delay_conn *c = &conns[map[j] / 2];
            if (!c->used || !pfd[j].revents) continue;
            delay_way *way = &c->way[map[j] % 2];
            int err = pfd[j].events & POLLIN ? delay_way_read(way, ms) : 0;
            if (pfd[j].revents & (POLLERR | POLLNVAL)) err = -1;
            if (err) delay_conn_close(c);
        }
        now = delay_now();
        for (int i = 0; i < DELAY_RELAY_CONNS; i++) {
            delay_conn *c = &conns[i];
            for (int w = 0; w < 2 && c->used; w++)
                if (delay_way_write(&c->way[w], now) != 0) delay_conn_close(c);
            if (c->used && c->way[0].shut && c->way[1].shut) delay_conn_close(c);
        }
    }
}

#endif
