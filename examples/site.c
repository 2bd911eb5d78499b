/*
 * site.c - the network examples' local web site (see site.h): an HTTP/1.1
 * server written with multitask's coroutine streams, run in a child
 * process. A coroutine per connection reads a request head, makes the page
 * and writes the response, and goes on with the next request of the same
 * connection (keep-alive) until the client closes it.
 */
#define _GNU_SOURCE
#include "site.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- the pages ---------------------------------------------------------- */

int site_image(mt_buf *out, int page, int k)
{
    mt_buf_reset(out);
    size_t size = 1000 + (size_t)(page * 7919 + k * 104729) % 3000;
    int err = mt_buf_printf(out, "\xff\xd8\xff\xe0%d-%d.jpg\n", page, k);
    uint64_t x = 0x9e3779b97f4a7c15u * (uint64_t)(page * 1000 + k);
    while (!err && out->len < size - 2) { /* xorshift bytes */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        err = mt_buf_append(out, &(char){(char)(x >> 24)}, 1);
    }
    return err ? err : mt_buf_append(out, "\xff\xd9", 2);
}

static const char page_top[] =
    "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
    "<title>%s</title>\n<link rel=\"stylesheet\" href=\"/static/site.css\"></head>\n<body>\n"
    "  <nav class=\"navbar\"><a href=\"/\">首页</a> <a href=\"/photo/list/?page=1\">最新表情</a></nav>\n";

static const char page_bottom[] =
    "  <footer><img class=\"logo\" src=\"/static/logo.png\"></footer>\n</body></html>\n";

/* / : a link to every list page. */
static int home_page(mt_buf *body)
{
    int err = mt_buf_printf(body, page_top, "photo list");
    err = err ? err : mt_buf_printf(body, "  <ul class=\"pages\">\n");
    for (int n = 1; n <= SITE_PAGES && !err; n++)
        err = mt_buf_printf(body, "    <li><a href=\"/photo/list/?page=%d\">page %d</a></li>\n", n,
                            n);
    err = err ? err : mt_buf_printf(body, "  </ul>\n");
    return err ? err : mt_buf_printf(body, "%s", page_bottom);
}

/* /photo/list/?page=N: the images in the list, an advertisement outside it
 * (an img with the same attributes: only the li picks the right ones), and
 * the pagination bar. */
static int list_page(mt_buf *body, int n)
{
    char title[64];
    snprintf(title, sizeof title, "photo list - page %d", n);
    int err = mt_buf_printf(body, page_top, title);
    err = err ? err
              : mt_buf_printf(body, "  <div class=\"ad\"><img referrerpolicy=\"no-referrer\" "
                                    "src=\"/static/ad.png\" data-original=\"/static/ad.png\"></div>\n"
                                    "  <ul class=\"list-group\">\n");
    for (int k = 1; k <= SITE_PER_PAGE && !err; k++)
        err = mt_buf_printf(body,
                            "    <li class=\"list-group-item\"><img referrerpolicy=\"no-referrer\" "
                            "src=\"/static/loading.gif\" data-original=\"/img/%d-%d.jpg\" "
                            "alt=\"表情 %d-%d\" class=\"img-responsive lazy\"></li>\n",
                            n, k, n, k);
    err = err ? err : mt_buf_printf(body, "  </ul>\n  <ul class=\"pagination\">");
    if (!err && n > 1)
        err = mt_buf_printf(body, "<li><a href=\"/photo/list/?page=%d\" rel=\"prev\">上一页</a></li>",
                            n - 1);
    if (!err && n < SITE_PAGES)
        err = mt_buf_printf(body, "<li><a href=\"/photo/list/?page=%d\" rel=\"next\">下一页</a></li>",
                            n + 1);
    err = err ? err : mt_buf_printf(body, "</ul>\n");
    return err ? err : mt_buf_printf(body, "%s", page_bottom);
}

/* A whole number from the start of s, and what follows it in *end. */
static bool number(const char *s, int *value, const char **end)
{
    if (*s < '0' || *s > '9')
        return false;
    long v = 0;
    while (*s >= '0' && *s <= '9' && v < 1000000)
        v = v * 10 + (*s++ - '0');
    *value = (int)v;
    *end = s;
    return true;
}

/* Make the body of `target`; returns its HTTP status and sets *type. */
static int route(const char *target, mt_buf *body, const char **type)
{
    const char *rest;
    int n, k;
    *type = "text/html; charset=utf-8";
    if (strcmp(target, "/") == 0)
        return home_page(body) ? 500 : 200;
    if (strcmp(target, "/photo/list/") == 0)
        return list_page(body, 1) ? 500 : 200;
    if (strncmp(target, "/photo/list/?page=", 18) == 0 && number(target + 18, &n, &rest) &&
        !*rest && n >= 1 && n <= SITE_PAGES)
        return list_page(body, n) ? 500 : 200;
    if (strncmp(target, "/img/", 5) == 0 && number(target + 5, &n, &rest) && *rest == '-' &&
        number(rest + 1, &k, &rest) && strcmp(rest, ".jpg") == 0 && n >= 1 && n <= SITE_PAGES &&
        k >= 1 && k <= SITE_PER_PAGE) {
        *type = "image/jpeg";
        return site_image(body, n, k) ? 500 : 200;
    }
    *type = "text/plain";
    if (strncmp(target, "/static/", 8) == 0)
        return mt_buf_printf(body, "static placeholder\n") ? 500 : 200;
    return mt_buf_printf(body, "not found\n") ? 500 : 404;
}

/* ---- HTTP --------------------------------------------------------------- */

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    default: return "Internal Server Error";
    }
}

static int reply(mt_stream *s, int status, const char *type, const mt_buf *body, bool keep_alive)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
                     status, reason(status), type, body->len,
                     keep_alive ? "" : "Connection: close\r\n");
    int err = mt_stream_write(s, head, (size_t)n);
    return err ? err : mt_stream_write(s, body->data, body->len);
}

/* One connection: request after request until the client closes it (or
 * asks to, or speaks HTTP/1.0). */
static int serve_connection(mt_stream *s, void *arg)
{
    (void)arg;
    mt_buf head = MT_BUF_INIT, body = MT_BUF_INIT;
    bool keep_alive = true;
    while (keep_alive && mt_stream_readuntil(s, &head, "\r\n\r\n", 4) > 0) {
        char method[8], target[256];
        int minor, status;
        const char *type = "text/plain";
        mt_buf_reset(&body);
        if (sscanf(head.data, "%7s %255s HTTP/1.%d", method, target, &minor) != 3) {
            status = 400;
            keep_alive = false;
        } else {
            keep_alive = minor >= 1 && !strcasestr(head.data, "\nConnection: close");
            status = strcmp(method, "GET") == 0 ? route(target, &body, &type) : 405;
        }
        if (status >= 400 && !body.len)
            mt_buf_printf(&body, "%s\n", reason(status));
        if (reply(s, status, type, &body, keep_alive) != 0)
            break;
    }
    mt_buf_free(&head);
    mt_buf_free(&body);
    return 0;
}

/* ---- the server process --------------------------------------------------- */

/* The server's pipes: `ready` tells the parent the port, `stop` brings
 * the parent's word to stop (a byte). */
typedef struct server_pipes {
    int ready[2], stop[2];
} server_pipes;

static int wait_for_stop(void *arg)
{
    int r = mt_co_wait_fd(*(int *)arg, MT_READABLE, MT_FOREVER);
    return r > 0 ? 0 : r;
}

/* The first coroutine of the server process: listen, tell the parent the
 * port, serve until the parent says stop. */
static int server_main(void *arg)
{
    server_pipes *p = arg;
    mt_stream_server *srv;
    int err = mt_stream_server_new(&srv, "127.0.0.1", 0, serve_connection, NULL, NULL);
    if (err)
        return err;
    mt_task *stop;
    err = mt_task_create(&stop, wait_for_stop, &p->stop[0], &(mt_task_opts){.name = "stop"});
    if (!err) {
        int port = mt_stream_server_port(srv);
        if (write(p->ready[1], &port, sizeof port) != sizeof port)
            mt_task_cancel(stop);
        close(p->ready[1]);
        err = mt_task_await(stop);
        mt_task_free(stop);
    }
    mt_stream_server_free(srv); /* stop listening, end the open connections */
    return err;
}

/* The server process: an mt_fn, run by mt_process, given the pipes. */
static int server_process(const void *arg, size_t len, mt_buf *out)
{
    (void)len, (void)out;
    server_pipes p;
    memcpy(&p, arg, sizeof p);
    close(p.ready[0]); /* the parent's ends */
    close(p.stop[1]);
    return mt_run(server_main, &p, NULL);
}

int site_start(site *s)
{
    server_pipes p;
    if (pipe2(p.ready, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(p.stop, O_CLOEXEC) < 0) {
        int err = -errno;
        close(p.ready[0]);
        close(p.ready[1]);
        return err;
    }
    int err = mt_process_new(&s->server, server_process, &p, sizeof p,
                             &(mt_process_opts){.name = "site", .daemon = true});
    if (!err && (err = mt_process_start(s->server)) < 0)
        mt_process_free(s->server);
    close(p.stop[0]); /* the server's ends */
    close(p.ready[1]);
    if (!err) {
        /* The port, or the end of the pipe if the server failed to start. */
        ssize_t n;
        while ((n = read(p.ready[0], &s->port, sizeof s->port)) < 0 && errno == EINTR)
            ;
        if (n != sizeof s->port) {
            err = -EIO;
            mt_process_free(s->server);
        }
    }
    close(p.ready[0]);
    if (err) {
        close(p.stop[1]);
        return err;
    }
    s->stop_fd = p.stop[1];
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
    return 0;
}

int site_stop(site *s)
{
    /* A byte rather than the pipe's end: children forked since hold its
     * write end too. */
    int err = write(s->stop_fd, "", 1) == 1 ? 0 : -errno;
    close(s->stop_fd);
    if (!err)
        err = mt_process_join(s->server, 10);
    int code = -1;
    if (!err && (!mt_process_exitcode(s->server, &code) || code != 0))
        err = -EIO;
    mt_process_free(s->server); /* kills it if it did not end */
    s->server = NULL;
    return err;
}
