/*
 * io.c - awaiting file descriptors and signals. Each fd a coroutine has
 * waited on keeps one libuv poll handle in the loop's table (started only
 * while someone waits), so that a reader and a writer can share the fd and
 * a wait costs no handle setup; mt_co_close / mt_co_forget_fd let it go.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coro_internal.h"

typedef struct mt__fdw {
    uv_poll_t h;
    int fd;
    mt_task *reader, *writer;
    int started; /* events the handle watches now */
} mt__fdw;

static void fdw_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_poll(uv_poll_t *h, int status, int events);

static void fdw_update(mt__fdw *w)
{
    int want = (w->reader ? UV_READABLE : 0) | (w->writer ? UV_WRITABLE : 0);
    if (want == w->started)
        return;
    w->started = want;
    if (!want)
        uv_poll_stop(&w->h);
    else if (uv_poll_start(&w->h, want, on_poll) != 0)
        w->started = 0;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    mt__fdw *w = h->data;
    mt_task *r = w->reader, *wr = w->writer;
    if (status < 0) {
        /* POLLERR (a refused connect, a reset): libuv stopped the handle.
         * Wake both sides: their next system call reports the error. */
        w->started = 0;
        events = UV_READABLE | UV_WRITABLE;
    }
    if (r && (events & (UV_READABLE | UV_DISCONNECT))) {
        w->reader = NULL;
        mt__wake(r, MT_READABLE);
    }
    if (wr && (events & UV_WRITABLE)) {
        w->writer = NULL;
        mt__wake(wr, MT_WRITABLE);
    }
    fdw_update(w);
}

/* The loop's watcher of fd, made on first use. */
static int fdw_get(mt_loop *l, int fd, mt__fdw **out)
{
    if ((size_t)fd >= l->nfdw) {
        size_t n = l->nfdw ? l->nfdw : 64;
        while (n <= (size_t)fd)
            n *= 2;
        mt__fdw **p = realloc(l->fdw, n * sizeof *p);
        if (!p)
            return -ENOMEM;
        memset(p + l->nfdw, 0, (n - l->nfdw) * sizeof *p);
        l->fdw = p;
        l->nfdw = n;
    }
    if (!l->fdw[fd]) {
        mt__fdw *w = calloc(1, sizeof *w);
        if (!w)
            return -ENOMEM;
        int err = uv_poll_init(&l->uv, &w->h, fd);
        if (err) {
            free(w);
            return err;
        }
        w->fd = fd;
        w->h.data = w;
        l->fdw[fd] = w;
    }
    *out = l->fdw[fd];
    return 0;
}

int mt_co_wait_fd(int fd, int events, double timeout)
{
    mt_task *t = mt__current();
    if (!t)
        return MT_ENOTCORO;
    if (fd < 0 || !events || (events & ~(MT_READABLE | MT_WRITABLE)) ||
        events == (MT_READABLE | MT_WRITABLE))
        return -EINVAL;
    int code = mt__interrupt_code(t);
    if (code)
        return code;
    mt_loop *l = t->loop;
    mt__fdw *w;
    int err = fdw_get(l, fd, &w);
    if (err)
        return err;
    mt_task **slot = events == MT_READABLE ? &w->reader : &w->writer;
    if (*slot)
        return -EBUSY;
    *slot = t;
    int want = (w->reader ? UV_READABLE : 0) | (w->writer ? UV_WRITABLE : 0);
    if (want != w->started) {
        err = uv_poll_start(&w->h, want, on_poll);
        if (err) {
            *slot = NULL;
            return err;
        }
        w->started = want;
    }
    mt__wake_timer local, *ft = mt__rec(t, &local, sizeof local);
    if (!ft || (err = mt__wake_timer_start(ft, t, timeout)) != 0) {
        *slot = NULL;
        fdw_update(w);
        if (ft)
            mt__rec_free(ft, &local);
        return ft ? err : -ENOMEM;
    }
    int r = mt__suspend(t, false);
    mt__wake_timer_stop(ft);
    mt__rec_free(ft, &local);
    /* mt_co_close may have let the watcher go meanwhile: look it up again. */
    if ((size_t)fd < l->nfdw && l->fdw[fd] == w && *slot == t) {
        /* not woken by the fd: stop waiting on it */
        *slot = NULL;
        fdw_update(w);
    }
    return r;
}

int mt_co_forget_fd(int fd)
{
    mt_loop *l = mt__loop_tls;
    if (!l)
        return MT_ENOTCORO;
    if (fd < 0)
        return -EINVAL;
    if ((size_t)fd >= l->nfdw || !l->fdw[fd])
        return 0;
    mt__fdw *w = l->fdw[fd];
    if (w->reader || w->writer)
        return -EBUSY;
    l->fdw[fd] = NULL;
    uv_close((uv_handle_t *)&w->h, fdw_closed);
    return 0;
}

int mt_co_close(int fd)
{
    mt_loop *l = mt__loop_tls;
    if (l && fd >= 0 && (size_t)fd < l->nfdw && l->fdw[fd]) {
        /* epoll forgets a closed fd: whoever waits on it would wait
         * forever. They wake with -EBADF instead. */
        mt__fdw *w = l->fdw[fd];
        mt_task *r = w->reader, *wr = w->writer;
        w->reader = w->writer = NULL;
        if (r)
            mt__wake(r, -EBADF);
        if (wr)
            mt__wake(wr, -EBADF);
    }
    int err = mt_co_forget_fd(fd);
    if (err && err != MT_ENOTCORO)
        return err;
    return close(fd) == 0 ? 0 : -errno;
}

void mt__fdw_free_all(mt_loop *l)
{
    for (size_t i = 0; i < l->nfdw; i++)
        if (l->fdw[i])
            uv_close((uv_handle_t *)&l->fdw[i]->h, fdw_closed);
    free(l->fdw);
    l->fdw = NULL;
    l->nfdw = 0;
}

/* ---- signals ---------------------------------------------------------- */

typedef struct sig_wait {
    uv_signal_t h;
    mt_task *who; /* NULL once the waiter has gone */
    mt__wake_timer ft; /* here, not on the stack: see mt__rec */
} sig_wait;

static void on_signal(uv_signal_t *h, int signum)
{
    sig_wait *s = h->data;
    if (s->who)
        mt__wake(s->who, signum);
}

static void sig_closed(uv_handle_t *h)
{
    free(h->data);
}

int mt_co_wait_signal(int signum, double timeout)
{
    mt_task *t = mt__current();
    if (!t)
        return MT_ENOTCORO;
    if (signum <= 0 || signum >= 65)
        return -EINVAL;
    int code = mt__interrupt_code(t);
    if (code)
        return code;
    mt_loop *l = t->loop;
    sig_wait *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    int err = uv_signal_init(&l->uv, &s->h);
    if (err) {
        free(s);
        return err;
    }
    s->h.data = s;
    s->who = t;
    err = uv_signal_start_oneshot(&s->h, on_signal, signum);
    if (!err)
        err = mt__wake_timer_start(&s->ft, t, timeout);
    int r = err ? err : mt__suspend(t, false);
    mt__wake_timer_stop(&s->ft);
    s->who = NULL;
    uv_close((uv_handle_t *)&s->h, sig_closed);
    return r;
}
