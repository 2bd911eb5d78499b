/*
 * tcp.c - TCP sockets for coroutines (loop.sock_accept / sock_connect /
 * sock_recv / sock_sendall): non-blocking sockets, tried at once, waiting
 * for readiness on the loop only when the kernel says EAGAIN.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coro_internal.h"
#include "net_internal.h"

/* Fill a socket address from a numeric host (NULL: any / loopback).
 * Returns 0, 1 when host is a name to look up, or -EINVAL. */
static int make_addr(const char *host, int port, bool passive, struct sockaddr_storage *ss,
                     socklen_t *len)
{
    if (port < 0 || port > 65535)
        return -EINVAL;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (!host || !*host) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        in4->sin_addr.s_addr = htonl(passive ? INADDR_ANY : INADDR_LOOPBACK);
        *len = sizeof *in4;
        return 0;
    }
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *len = sizeof *in4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
        return 0;
    }
    return 1;
}

/* The addresses of host:port: a numeric one in *one (its bytes in *ss),
 * or the list a lookup gave in *res (the caller frees it; NULL for a
 * numeric host). Returns 0 or an error. */
static int addresses(const char *host, int port, bool passive, struct sockaddr_storage *ss,
                     struct addrinfo *one, struct addrinfo **res)
{
    socklen_t len = 0;
    *res = NULL;
    int r = make_addr(host, port, passive, ss, &len);
    if (r < 0)
        return r;
    if (r > 0)
        return mt__resolve(host, port, passive, res);
    *one = (struct addrinfo){.ai_family = ss->ss_family,
                             .ai_socktype = SOCK_STREAM,
                             .ai_addr = (struct sockaddr *)ss,
                             .ai_addrlen = len};
    return 0;
}

/* A non-blocking TCP socket for address family `family`, with option
 * `opt` (level `level`) set. Returns the fd or -errno. */
static int tcp_socket(int family, int level, int opt)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, level, opt, &one, sizeof one);
    return fd;
}

int mt_co_tcp_listen(int *fd_out, const char *host, int port, int backlog)
{
    if (!fd_out || backlog < 0)
        return -EINVAL;
    struct sockaddr_storage ss;
    struct addrinfo one, *res;
    int err = addresses(host, port, true, &ss, &one, &res);
    if (err)
        return err;
    /* A name binds its first IPv4 address (what "localhost" always meant
     * here), else its first. */
    const struct addrinfo *ai = res ? res : &one;
    for (const struct addrinfo *p = ai; p; p = p->ai_next)
        if (p->ai_family == AF_INET) {
            ai = p;
            break;
        }
    int fd = tcp_socket(ai->ai_family, SOL_SOCKET, SO_REUSEADDR);
    if (fd < 0) {
        err = fd;
        goto out;
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        listen(fd, backlog ? backlog : 128) != 0) {
        err = -errno;
        close(fd);
        goto out;
    }
    *fd_out = fd;
out:
    if (res)
        freeaddrinfo(res);
    return err;
}

int mt_co_sock_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -EAFNOSUPPORT;
}

int mt_co_sock_accept(int lfd, int *fd_out)
{
    if (!mt__current())
        return MT_ENOTCORO;
    if (lfd < 0 || !fd_out)
        return -EINVAL;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            *fd_out = fd;
            return 0;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int r = mt_co_wait_fd(lfd, MT_READABLE, MT_FOREVER);
        if (r < 0)
            return r;
    }
}

/* Connect a new socket to one address. Returns the fd or an error. */
static int connect_one(const struct addrinfo *ai)
{
    int fd = tcp_socket(ai->ai_family, IPPROTO_TCP, TCP_NODELAY);
    if (fd < 0)
        return fd;
    int err;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            err = -errno;
            goto fail;
        }
        err = mt_co_wait_fd(fd, MT_WRITABLE, MT_FOREVER);
        if (err < 0)
            goto fail;
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr) {
            err = -soerr;
            goto fail;
        }
    }
    return fd;
fail:
    mt_co_close(fd);
    return err;
}

int mt_co_sock_connect(int *fd_out, const char *host, int port)
{
    mt_task *t = mt__current();
    if (!t)
        return MT_ENOTCORO;
    if (!fd_out)
        return -EINVAL;
    struct sockaddr_storage ss;
    struct addrinfo one, *res;
    int err = addresses(host, port, false, &ss, &one, &res);
    if (err)
        return err;
    /* Each address in turn (a name may have an IPv6 and an IPv4 one); a
     * cancellation or timeout ends the attempts. */
    int fd = -EHOSTUNREACH;
    for (const struct addrinfo *ai = res ? res : &one; ai; ai = ai->ai_next) {
        fd = connect_one(ai);
        if (fd >= 0 || mt__interrupt_code(t))
            break;
    }
    if (res)
        freeaddrinfo(res);
    if (fd < 0)
        return fd;
    *fd_out = fd;
    return 0;
}

ssize_t mt__fd_recv(int fd, bool sock, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = sock ? recv(fd, buf, len, 0) : read(fd, buf, len);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int r = mt_co_wait_fd(fd, MT_READABLE, MT_FOREVER);
        if (r < 0)
            return r;
    }
}

int mt__fd_sendall(int fd, bool sock, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = sock ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);
        if (n >= 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int r = mt_co_wait_fd(fd, MT_WRITABLE, MT_FOREVER);
        if (r < 0)
            return r;
    }
    return 0;
}

ssize_t mt_co_sock_recv(int fd, void *buf, size_t len)
{
    if (!mt__current())
        return MT_ENOTCORO;
    if (fd < 0 || (!buf && len))
        return -EINVAL;
    return mt__fd_recv(fd, true, buf, len);
}

int mt_co_sock_sendall(int fd, const void *buf, size_t len)
{
    if (!mt__current())
        return MT_ENOTCORO;
    if (fd < 0 || (!buf && len))
        return -EINVAL;
    return mt__fd_sendall(fd, true, buf, len);
}
