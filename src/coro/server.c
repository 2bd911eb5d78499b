/*
 * server.c - a TCP server of streams (asyncio.start_server): one task
 * accepts connections and starts a task per connection, which runs the
 * user's function on a stream over it. The server's record lives until its
 * handle is freed and every task of it has ended; each task's end is
 * noticed by a waiter record (so a task cancelled before it ran, at loop
 * close, still frees its connection).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coro_internal.h"
#include "net_internal.h"

typedef struct conn conn;

struct mt_stream_server {
    int lfd;
    int port;
    mt_stream_fn *fn;
    void *arg;
    mt_stream_opts stream_opts;
    mt_task_opts task_opts;
    mt_loop *loop;
    mt_task *acceptor;   /* our handle */
    mt__waiter acceptor_end;
    bool acceptor_done;
    conn *conns;         /* connections whose task has not ended */
    mt_task *waiter;     /* in mt_stream_server_wait_closed */
    size_t refs;         /* the handle, the acceptor, each connection */
    bool closed;
    bool freed;
};

struct conn {
    mt__waiter end; /* first: the waiter is the record */
    conn *prev, *next;
    mt_stream_server *srv;
    mt_task *task;  /* borrowed: valid until its end */
    mt_stream *s;
};

static void server_unref(mt_stream_server *srv)
{
    if (--srv->refs)
        return;
    mt_task_free(srv->acceptor);
    free(srv);
}

static void wake_waiter(mt_stream_server *srv)
{
    if (srv->waiter)
        mt__wake(srv->waiter, 0);
}

/* A connection's task ended (or was dropped before it ran). */
static void conn_ended(mt__waiter *w, mt_task *ended)
{
    (void)ended;
    conn *c = (conn *)w;
    mt_stream_server *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    mt_stream_free(c->s);
    free(c);
    wake_waiter(srv);
    server_unref(srv);
}

static int conn_main(void *arg)
{
    conn *c = arg;
    return c->srv->fn(c->s, c->srv->arg);
}

/* Start a connection's task on fd (which it then owns). */
static int start_conn(mt_stream_server *srv, int fd)
{
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        mt_co_close(fd);
        return -ENOMEM;
    }
    int err = mt_stream_new(&c->s, fd, &srv->stream_opts);
    if (err) {
        mt_co_close(fd);
        free(c);
        return err;
    }
    c->srv = srv;
    err = mt__task_new(srv->loop, &c->task, 0, conn_main, c, &srv->task_opts);
    if (err) {
        mt_stream_free(c->s);
        free(c);
        return err;
    }
    c->end.notify = conn_ended;
    mt__waiter_add(c->task, &c->end);
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->refs++;
    return 0;
}

static int accept_main(void *arg)
{
    mt_stream_server *srv = arg;
    for (;;) {
        int fd;
        int err = mt_co_sock_accept(srv->lfd, &fd);
        if (srv->closed) {
            if (!err) /* accepted just as the server closed: nobody serves it */
                mt_co_close(fd);
            return 0;
        }
        if (err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM) {
            /* Out of fds or memory for now: let connections end, retry. */
            err = mt_co_sleep(0.1);
            if (err)
                return srv->closed ? 0 : err;
            continue;
        }
        if (err)
            return err;
        start_conn(srv, fd); /* a connection we cannot serve is closed */
    }
}

static void acceptor_ended(mt__waiter *w, mt_task *ended)
{
    (void)ended;
    mt_stream_server *srv = (mt_stream_server *)((char *)w - offsetof(mt_stream_server, acceptor_end));
    srv->acceptor_done = true;
    wake_waiter(srv);
    server_unref(srv);
}

int mt_stream_server_new(mt_stream_server **out, const char *host, int port, mt_stream_fn *fn,
                         void *arg, const mt_stream_server_opts *opts)
{
    mt_loop *l = mt__loop_tls;
    if (!l)
        return MT_ENOTCORO;
    if (!out || !fn)
        return -EINVAL;
    mt_stream_server_opts none = {0};
    if (!opts)
        opts = &none;
    if (opts->backlog < 0 ||
        (opts->task.stack != MT_STACK_PRIVATE && opts->task.stack != MT_STACK_SHARED))
        return -EINVAL;
    mt_stream_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return -ENOMEM;
    int err = mt_co_tcp_listen(&srv->lfd, host, port, opts->backlog);
    if (err) {
        free(srv);
        return err;
    }
    srv->port = mt_co_sock_port(srv->lfd);
    srv->fn = fn;
    srv->arg = arg;
    srv->stream_opts = opts->stream;
    srv->task_opts = opts->task;
    srv->loop = l;
    err = mt__task_new(l, &srv->acceptor, MT__NEW_HANDLE, accept_main, srv,
                       &(mt_task_opts){.name = "stream-server"});
    if (err) {
        mt_co_close(srv->lfd);
        free(srv);
        return err;
    }
    srv->acceptor_end.notify = acceptor_ended;
    mt__waiter_add(srv->acceptor, &srv->acceptor_end);
    srv->refs = 2;
    *out = srv;
    return 0;
}

int mt_stream_server_port(const mt_stream_server *srv)
{
    return srv ? srv->port : -EINVAL;
}

int mt_stream_server_close(mt_stream_server *srv)
{
    if (!srv)
        return -EINVAL;
    if (srv->closed)
        return 0;
    srv->closed = true;
    mt_co_close(srv->lfd); /* wakes the acceptor with -EBADF */
    srv->lfd = -1;
    if (!srv->acceptor_done)
        mt_task_cancel(srv->acceptor);
    return 0;
}

int mt_stream_server_wait_closed(mt_stream_server *srv)
{
    mt_task *t = mt__current();
    if (!t)
        return MT_ENOTCORO;
    if (!srv || srv->loop != t->loop)
        return -EINVAL;
    if (srv->waiter)
        return -EBUSY;
    srv->waiter = t;
    srv->refs++; /* another task may free the server while this one waits */
    int r = 0;
    while (!r && !(srv->acceptor_done && !srv->conns))
        r = mt__suspend(t, false);
    srv->waiter = NULL;
    int res = r ? r : mt_task_result(srv->acceptor);
    server_unref(srv);
    if (r)
        return r;
    return res < 0 && res != -ECANCELED ? res : 0;
}

void mt_stream_server_free(mt_stream_server *srv)
{
    if (!srv || srv->freed)
        return;
    srv->freed = true;
    mt_stream_server_close(srv);
    for (conn *c = srv->conns; c; c = c->next)
        mt_task_cancel(c->task);
    server_unref(srv);
}
