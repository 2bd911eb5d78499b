/*
 * client.c - a client: one libcurl multi handle per loop, driven by the
 * loop (the pattern of libcurl's multi-uv example). libcurl tells us which
 * sockets to watch (sockets.c) and when to call it back (one libuv timer);
 * we tell it what happened (curl_multi_socket_action) and then collect the
 * transfers it completed, waking the coroutine that waits for each.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"

/* As aiohttp's connector: 100 transfers at once, no limit per host. */
#define DEFAULT_MAX_TRANSFERS 100

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_result;

static void global_init(void)
{
    global_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int mt__http_global_init(void)
{
    pthread_once(&global_once, global_init);
    return global_result == CURLE_OK ? 0 : -ENOMEM;
}

void mt__http_finish(mt_http_client *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        mt__http_xfer *x = NULL;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(c->multi, easy); /* msg is gone now */
        c->active--; /* every easy handle of ours carries its transfer */
        x->code = code;
        x->done = true;
        mt__wake(x->task, 0);
    }
}

static void on_timer(uv_timer_t *h)
{
    mt_http_client *c = h->data;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    mt__http_finish(c);
}

/* libcurl's timer callback: call back in ms milliseconds (-1: never). It
 * must not call libcurl itself: even 0 goes through the timer. */
static int on_timer_set(CURLM *multi, long ms, void *client)
{
    (void)multi;
    mt_http_client *c = client;
    if (ms < 0) {
        uv_timer_stop(&c->timer);
        return 0;
    }
    uv_update_time(&c->loop->uv); /* tasks may have run long since libuv looked */
    return uv_timer_start(&c->timer, on_timer, (uint64_t)ms, 0) == 0 ? 0 : -1;
}

int mt_http_client_new(mt_http_client **out, const mt_http_client_opts *opts)
{
    mt_http_client_opts none = {0};
    if (!opts)
        opts = &none;
    if (!out || opts->max_transfers < 0 || opts->max_per_host < 0)
        return -EINVAL;
    mt_loop *l = opts->loop ? opts->loop : mt_loop_current();
    if (!l)
        return MT_ENOTCORO;
    int err = mt__http_global_init();
    if (err)
        return err;
    mt_http_client *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->loop = l;
    c->max_transfers = opts->max_transfers ? (size_t)opts->max_transfers : DEFAULT_MAX_TRANSFERS;
    c->max_per_host = opts->max_per_host > 0 ? (size_t)opts->max_per_host : 0;
    c->user_agent = strdup(opts->user_agent ? opts->user_agent : "multitask/" MT_VERSION_STRING);
    c->multi = curl_multi_init();
    if (!c->user_agent || !c->multi)
        goto fail;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, mt__http_on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    /* libcurl's default cache holds 4 connections per easy handle in the
     * multi at the moment one is returned; ours come and go per request, so
     * between them the cache shrinks and closes connections a moment later
     * needed again. Keep one per transfer we may run at once. */
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->max_transfers);
    uv_timer_init(&l->uv, &c->timer);
    c->timer.data = c;
    *out = c;
    return 0;
fail:
    if (c->multi)
        curl_multi_cleanup(c->multi);
    free(c->user_agent);
    free(c);
    return -ENOMEM;
}

static void client_closed(uv_handle_t *h)
{
    free(h->data);
}

int mt_http_client_free(mt_http_client *c)
{
    if (!c)
        return 0;
    if (c->active || c->admitted || c->waiting)
        return -EBUSY;
    /* Closes the cached connections through our close-socket callback,
     * which closes each poll handle before its fd. */
    curl_multi_cleanup(c->multi);
    mt__http_socks_free(c);
    free(c->user_agent);
    uv_close((uv_handle_t *)&c->timer, client_closed); /* frees c */
    return 0;
}
