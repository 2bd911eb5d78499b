/*
 * resolve.c - host names for coroutines (loop.getaddrinfo): the lookup
 * runs on libuv's thread pool (uv_getaddrinfo) while the coroutine waits,
 * so a slow DNS server stalls only the task that asked. Numeric addresses
 * are never looked up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coro_internal.h"
#include "net_internal.h"

/* A lookup in flight. On the heap: a task that gives up (cancelled, timed
 * out) leaves it to the callback, which frees it. */
typedef struct lookup {
    uv_getaddrinfo_t req;
    mt_task *who; /* NULL once the task has given up */
    int status;
    struct addrinfo *res;
    bool done;
} lookup;

/* getaddrinfo's answers as the library's codes. */
static int gai_code(int status)
{
    switch (status) {
    case 0:
        return 0;
    case UV_EAI_NONAME:
    case UV_EAI_NODATA:
    case UV_EAI_ADDRFAMILY:
    case UV_EAI_FAIL:
        return MT_ENOHOST;
    case UV_EAI_AGAIN:
        return -EAGAIN;
    case UV_EAI_MEMORY:
        return -ENOMEM;
    case UV_EAI_CANCELED:
        return -ECANCELED;
    case UV_EAI_FAMILY:
    case UV_EAI_SERVICE:
    case UV_EAI_SOCKTYPE:
    case UV_EAI_BADFLAGS:
    case UV_EAI_BADHINTS:
    case UV_EAI_PROTOCOL:
        return -EINVAL;
    }
    if (status <= -3000 && status > -3100) /* another of libuv's EAI codes */
        return -EINVAL;
    return status;
}

/* The same for getaddrinfo called directly. */
static int gai_code_sync(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case EAI_NONAME:
    case EAI_NODATA:
    case EAI_ADDRFAMILY:
    case EAI_FAIL:
        return MT_ENOHOST;
    case EAI_AGAIN:
        return -EAGAIN;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_SYSTEM:
        return errno ? -errno : -EIO;
    }
    return -EINVAL;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    lookup *lk = req->data;
    if (!lk->who) {
        if (res)
            uv_freeaddrinfo(res);
        free(lk);
        return;
    }
    lk->status = status;
    lk->res = res;
    lk->done = true;
    mt__wake(lk->who, 0);
}

int mt_co_getaddrinfo(struct addrinfo **out, const char *host, const char *service,
                      const struct addrinfo *hints)
{
    if (!out || (!host && !service))
        return -EINVAL;
    *out = NULL;
    mt_task *t = mt__current();
    if (!t) {
        /* Outside a loop there is nothing to keep running: look it up here. */
        return gai_code_sync(getaddrinfo(host, service, hints, out));
    }
    int code = mt__interrupt_code(t);
    if (code)
        return code;
    lookup *lk = calloc(1, sizeof *lk);
    if (!lk)
        return -ENOMEM;
    lk->who = t;
    lk->req.data = lk;
    int err = uv_getaddrinfo(&t->loop->uv, &lk->req, on_resolved, host, service, hints);
    if (err) {
        free(lk);
        return gai_code(err);
    }
    int r = 0;
    while (!lk->done && !r)
        r = mt__suspend(t, false);
    if (!lk->done) {
        /* Given up: the callback frees the record (uv_cancel makes it come
         * sooner when the lookup has not started). */
        lk->who = NULL;
        uv_cancel((uv_req_t *)&lk->req);
        return r;
    }
    err = gai_code(lk->status);
    *out = err ? NULL : lk->res;
    if (err && lk->res)
        uv_freeaddrinfo(lk->res);
    free(lk);
    return err;
}

int mt__resolve(const char *host, int port, bool passive, struct addrinfo **res)
{
    if (port < 0 || port > 65535)
        return -EINVAL;
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_protocol = IPPROTO_TCP,
        .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0),
    };
    return mt_co_getaddrinfo(res, host, service, &hints);
}
