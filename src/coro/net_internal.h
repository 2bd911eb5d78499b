/*
 * net_internal.h - what the socket files of src/coro/ share (tcp.c,
 * resolve.c, stream.c, server.c). Not installed.
 */
#ifndef MT_CORO_NET_INTERNAL_H
#define MT_CORO_NET_INTERNAL_H

#include <netdb.h>
#include <stdbool.h>
#include <sys/types.h>

#pragma GCC visibility push(hidden)

/* The TCP addresses of host:port (host NULL: any address when passive, the
 * loopback one when not), looked up as mt_co_getaddrinfo does: awaited in
 * a coroutine, directly outside one. *res is freed with freeaddrinfo.
 * Returns 0, -EINVAL (bad port), MT_ENOHOST, -EAGAIN, -ENOMEM, -ECANCELED,
 * -ETIMEDOUT. */
int mt__resolve(const char *host, int port, bool passive, struct addrinfo **res);

/* Receive up to len bytes from fd (recv for a socket, else read),
 * suspending until it is readable. Returns the count, 0 at the end, or an
 * error (-ECANCELED, -ETIMEDOUT, the call's -errno). */
ssize_t mt__fd_recv(int fd, bool sock, void *buf, size_t len);

/* Send all len bytes to fd (send without SIGPIPE for a socket, else
 * write), suspending while it is full. Returns 0 or an error. */
int mt__fd_sendall(int fd, bool sock, const void *buf, size_t len);

#pragma GCC visibility pop

#endif
