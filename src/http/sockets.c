/*
 * sockets.c - the sockets libcurl uses and the loop's watch over them.
 *
 * libcurl's own pattern (a poll handle made on CURL_POLL_IN/OUT, closed on
 * CURL_POLL_REMOVE) breaks when REMOVE comes after libcurl has closed the
 * socket, or never: the fd number may already belong to a new socket, and
 * epoll must never watch a number whose socket is gone. So we open the
 * sockets (open-socket callback) and close them (close-socket callback),
 * and a socket's poll handle lives exactly as long as the socket: made
 * when it opens, closed just before the fd is. REMOVE only stops watching.
 * Sockets libcurl opens without us (its resolver's wake-up pair) get a
 * handle on first use that REMOVE closes, as libcurl announces them.
 *
 * The poll handle watches a duplicate of libcurl's fd that is ours alone
 * (s->watch): should libcurl ever close a socket without our callback (a
 * foreign one is closed so, and REMOVE may come late or not at all), its
 * number may be reused at once by another socket, of this thread or any
 * other; a handle on the number itself would then remove that socket from
 * our epoll set, or touch another thread's fd. The duplicate keeps the
 * socket it was made for until the handle is closed: the record is found
 * stale when the number comes back (open-socket callback, or a new socket
 * libcurl announces) and at the latest when the client is freed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_internal.h"

static void sock_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Whether fds a and b are the same open socket. */
static bool same_socket(int a, int b)
{
    struct stat sa, sb;
    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static int table_grow(mt_http_client *c, int fd)
{
    if ((size_t)fd < c->nsocks)
        return 0;
    size_t n = c->nsocks ? c->nsocks : 64;
    while (n <= (size_t)fd)
        n *= 2;
    mt__http_sock **p = realloc(c->socks, n * sizeof *p);
    if (!p)
        return -ENOMEM;
    memset(p + c->nsocks, 0, (n - c->nsocks) * sizeof *p);
    c->socks = p;
    c->nsocks = n;
    return 0;
}

/* A record with a poll handle for fd, in the table. NULL on failure. */
static mt__http_sock *sock_add(mt_http_client *c, int fd, bool ours)
{
    if (fd < 0 || table_grow(c, fd) != 0)
        return NULL;
    mt__http_sock *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->watch = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (s->watch < 0 || uv_poll_init_socket(&c->loop->uv, &s->poll, s->watch) != 0) {
        if (s->watch >= 0)
            close(s->watch);
        free(s);
        return NULL;
    }
    s->poll.data = s;
    s->client = c;
    s->fd = fd;
    s->ours = ours;
    c->socks[fd] = s;
    return s;
}

/* Take s out of the table and close its handle (synchronously as far as
 * epoll is concerned: the fd may be closed right after). */
static void sock_drop(mt_http_client *c, mt__http_sock *s)
{
    c->socks[s->fd] = NULL;
    uv_close((uv_handle_t *)&s->poll, sock_closed);
    close(s->watch); /* out of epoll already: uv_close removed it */
}

static mt__http_sock *sock_find(mt_http_client *c, int fd)
{
    return fd >= 0 && (size_t)fd < c->nsocks ? c->socks[fd] : NULL;
}

curl_socket_t mt__http_open_socket(void *client, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)purpose;
    mt_http_client *c = client;
    int fd = socket(a->family, a->socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    mt__http_sock *stale = sock_find(c, fd);
    if (stale) /* a foreign socket libcurl closed without telling */
        sock_drop(c, stale);
    if (!sock_add(c, fd, true)) {
        close(fd);
        return CURL_SOCKET_BAD;
    }
    return fd;
}

int mt__http_close_socket(void *client, curl_socket_t fd)
{
    mt__http_sock *s = sock_find(client, fd);
    if (s)
        sock_drop(client, s);
    return close(fd);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    mt__http_sock *s = h->data;
    mt_http_client *c = s->client;
    int flags = 0;
    if (status < 0) /* POLLERR: libuv stopped the handle; libcurl finds out */
        flags = CURL_CSELECT_ERR | CURL_CSELECT_IN | CURL_CSELECT_OUT;
    else
        flags = ((events & (UV_READABLE | UV_DISCONNECT)) ? CURL_CSELECT_IN : 0) |
                ((events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(c->multi, s->fd, flags, &running); /* may free s */
    mt__http_finish(c);
}

int mt__http_on_socket(CURL *easy, curl_socket_t fd, int what, void *client, void *sockp)
{
    (void)easy;
    (void)sockp; /* never trusted: it may outlive the socket it was set for */
    mt_http_client *c = client;
    mt__http_sock *s = sock_find(c, fd);
    if (s && !s->ours && what != CURL_POLL_REMOVE && !same_socket(fd, s->watch)) {
        sock_drop(c, s); /* a foreign socket closed without a REMOVE */
        s = NULL;
    }
    if (what == CURL_POLL_REMOVE) {
        if (s && s->ours)
            uv_poll_stop(&s->poll);
        else if (s)
            sock_drop(c, s);
        return 0;
    }
    if (!s && !(s = sock_add(c, fd, false)))
        return -1;
    int events = ((what & CURL_POLL_IN) ? UV_READABLE : 0) |
                 ((what & CURL_POLL_OUT) ? UV_WRITABLE : 0);
    return uv_poll_start(&s->poll, events, on_poll) == 0 ? 0 : -1;
}

void mt__http_socks_free(mt_http_client *c)
{
    for (size_t fd = 0; fd < c->nsocks; fd++)
        if (c->socks[fd])
            sock_drop(c, c->socks[fd]);
    free(c->socks);
    c->socks = NULL;
    c->nsocks = 0;
}
