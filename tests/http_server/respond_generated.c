/*
 * respond_generated.c - responses made up from the request: redirect
 * chains, loops and redirects to other schemes, hostile Content-Disposition
 * names, bodies under any name (/_/any/...), and generated HTML (deeply
 * nested, or huge list pages like the lecture's image gallery).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "httpd.h"

/* The status of a redirect: ?code= if it is one, else 302. */
static int redirect_code(const httpd_req *r)
{
    long long code = httpd_param_num(r, "code", 302, 0, 999);
    return code == 301 || code == 303 || code == 307 || code == 308 ? (int)code : 302;
}

static int reply_redirect(httpd_conn *c, int code, const char *location)
{
    char extra[HTTPD_MAX_LINE + 64];
    if (!httpd_header_safe(location))
        return httpd_reply_text(c, 400, NULL, "a location cannot hold CR or LF\n");
    snprintf(extra, sizeof extra, "Location: %s\r\n", location);
    return httpd_reply_text(c, code, extra, "redirect\n");
}

/* /_/redirect?n=K&to=URL&code=C: K redirects, then to URL (or a 200);
 * /_/loop?len=L&at=I: a cycle of L redirects; /_/redirect-scheme?to=URL:
 * one redirect to URL, whatever its scheme (file: by default). */
int httpd_serve_redirect(httpd_conn *c, const char *what)
{
    const httpd_req *r = &c->req;
    char location[HTTPD_MAX_LINE];
    int code = redirect_code(r);
    if (strcmp(what, "loop") == 0) {
        long long len = httpd_param_num(r, "len", 1, 1, 1000);
        long long at = httpd_param_num(r, "at", 0, 0, len - 1);
        snprintf(location, sizeof location, "/_/loop?len=%lld&at=%lld&code=%d", len,
                 (at + 1) % len, code);
        return reply_redirect(c, code, location);
    }
    if (strcmp(what, "redirect-scheme") == 0) {
        if (!httpd_param(r, "to", location, sizeof location))
            snprintf(location, sizeof location, "file:///etc/passwd");
        return reply_redirect(c, code, location);
    }
    if (strcmp(what, "redirect") != 0)
        return httpd_reply_text(c, 404, NULL, "no such redirect\n");
    long long n = httpd_param_num(r, "n", 1, 0, 1000000);
    size_t to_len = 0;
    const char *to = httpd_param_raw(r, "to", &to_len);
    if (n > 0) {
        snprintf(location, sizeof location, "/_/redirect?n=%lld&code=%d%s%.*s", n - 1, code,
                 to ? "&to=" : "", (int)to_len, to ? to : "");
        return reply_redirect(c, code, location);
    }
    if (to && httpd_param(r, "to", location, sizeof location))
        return reply_redirect(c, code, location);
    return httpd_reply_text(c, 200, NULL, "end of the redirects\n");
}

/* /_/name?cd=VALUE (the whole Content-Disposition value) or
 * ?filename=NAME (attachment; filename="NAME"), with ?bytes=N of body. */
int httpd_serve_name(httpd_conn *c)
{
    char value[HTTPD_MAX_LINE], extra[HTTPD_MAX_LINE + 64];
    long long bytes = httpd_param_num(&c->req, "bytes", 5, 0, (long long)httpd_cfg.cap);
    if (httpd_param(&c->req, "cd", value, sizeof value)) {
        snprintf(extra, sizeof extra, "Content-Disposition: %s\r\n", value);
    } else if (httpd_param(&c->req, "filename", value, sizeof value)) {
        snprintf(extra, sizeof extra, "Content-Disposition: attachment; filename=\"%s\"\r\n",
                 value);
    } else {
        return httpd_reply_text(c, 400, NULL, "cd= or filename= please\n");
    }
    if (!httpd_header_safe(value))
        return httpd_reply_text(c, 400, NULL, "a header cannot hold CR or LF\n");
    int err = httpd_reply_head(c, 200, extra, bytes);
    return err ? err : httpd_send_pattern(c, (unsigned long long)bytes);
}

/* Buffered output of generated text into c->buf, sent in chunks. */
typedef struct out_buf {
    httpd_conn *c;
    size_t used;
    int err;
} out_buf;

static void put(out_buf *o, const char *s, size_t n)
{
    while (n && !o->err) {
        size_t room = HTTPD_BUF - o->used, k = n < room ? n : room;
        memcpy(o->c->buf + o->used, s, k);
        o->used += k;
        s += k;
        n -= k;
        if (o->used == HTTPD_BUF) {
            o->err = httpd_send_body(o->c, o->c->buf, o->used);
            o->used = 0;
        }
    }
}

static void puts_out(out_buf *o, const char *s)
{
    put(o, s, strlen(s));
}

static int finish(out_buf *o)
{
    if (!o->err && o->used)
        o->err = httpd_send_body(o->c, o->c->buf, o->used);
    return o->err ? o->err : httpd_end_chunks(o->c);
}

/* /_/html/deep?n=N: N nested divs around one link.
 * /_/html/huge?mb=M: a list page of image items, M MiB or a little more. */
int httpd_serve_html(httpd_conn *c, const char *what)
{
    bool deep = strcmp(what, "deep") == 0;
    if (!deep && strcmp(what, "huge") != 0)
        return httpd_reply_text(c, 404, NULL, "no such page\n");
    out_buf o = {.c = c};
    o.err = httpd_reply_head(c, 200, "Content-Type: text/html; charset=utf-8\r\n", HTTPD_CHUNKED);
    if (o.err || c->req.head)
        return o.err;
    puts_out(&o, "<!DOCTYPE html>\n<html><head><title>generated</title></head><body>\n");
    if (deep) {
        long long n = httpd_param_num(&c->req, "n", 1000, 0, (long long)httpd_cfg.cap / 11);
        for (long long i = 0; i < n && !o.err; i++)
            put(&o, "<div>", 5);
        puts_out(&o, "<a href=\"/deep-end\">the end</a>");
        for (long long i = 0; i < n && !o.err; i++)
            put(&o, "</div>", 6);
    } else {
        long long mb = httpd_param_num(&c->req, "mb", 50, 0, (long long)(httpd_cfg.cap >> 20));
        unsigned long long target = (unsigned long long)mb << 20;
        char item[160];
        puts_out(&o, "<ul class=\"list-group\">\n");
        for (long long i = 0; c->sent + o.used < target && !o.err; i++) {
            int n = snprintf(item, sizeof item,
                             "<li class=\"list-group-item\"><img data-original=\"/img/%08lld.jpg\""
                             " alt=\"image %lld\"></li>\n",
                             i, i);
            put(&o, item, (size_t)n);
        }
        puts_out(&o, "</ul>\n");
    }
    puts_out(&o, "</body></html>\n");
    return finish(&o);
}

/* /_/any/<anything>?bytes=N: N pattern bytes under any name (names with
 * traversal, control characters, great length), whatever follows /_/any/. */
int httpd_serve_any(httpd_conn *c)
{
    long long bytes = httpd_param_num(&c->req, "bytes", 16, 0, (long long)httpd_cfg.cap);
    int err = httpd_reply_head(c, 200, "Content-Type: application/octet-stream\r\n", bytes);
    return err ? err : httpd_send_pattern(c, (unsigned long long)bytes);
}
