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

/* Fill a socket address from a numeric host (NULL: any / loopback). */
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
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
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
    return -EINVAL;
}

/* A non-blocking TCP socket for host:port, with option `opt` (level
 * `level`) set; its address in *ss. Returns the fd or -errno. */
static int tcp_socket(const char *host, int port, bool passive, int level, int opt,
                      struct sockaddr_storage *ss, socklen_t *len)
{
    int err = make_addr(host, port, passive, ss, len);
    if (err)
        return err;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
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
    socklen_t len;
    int err;
    int fd = tcp_socket(host, port, true, SOL_SOCKET, SO_REUSEADDR, &ss, &len);
    if (fd < 0)
        return fd;
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, backlog ? backlog : 128) != 0) {
        err = -errno;
        close(fd);
        return err;
    }
    *fd_out = fd;
    return 0;
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

int mt_co_sock_connect(const char *host, int port, int *fd_out)
{
    if (!mt__current())
        return MT_ENOTCORO;
    if (!fd_out)
        return -EINVAL;
    struct sockaddr_storage ss;
    socklen_t len;
    int err;
    int fd = tcp_socket(host, port, false, IPPROTO_TCP, TCP_NODELAY, &ss, &len);
    if (fd < 0)
        return fd;
    if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
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
    *fd_out = fd;
    return 0;
fail:
    mt_co_close(fd);
    return err;
}

ssize_t mt_co_sock_recv(int fd, void *buf, size_t len)
{
    if (!mt__current())
        return MT_ENOTCORO;
    if (fd < 0 || (!buf && len))
        return -EINVAL;
    for (;;) {
        ssize_t n = recv(fd, buf, len, 0);
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

int mt_co_sock_sendall(int fd, const void *buf, size_t len)
{
    if (!mt__current())
        return MT_ENOTCORO;
    if (fd < 0 || (!buf && len))
        return -EINVAL;
    const char *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
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
