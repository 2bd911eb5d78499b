/*
 * reply.c - writing responses: the status line and headers, bodies whole or
 * in chunks (nothing for HEAD), each write bounded by the send timeout, and
 * the request log line once a response is over.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "multitask/coro.h"

#include "httpd.h"

const char *httpd_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
    }
}

void httpd_http_date(time_t t, char *out, size_t size)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

void httpd_pattern(char *out, size_t len, unsigned long long off)
{
    for (size_t i = 0; i < len; i++)
        out[i] = (char)('a' + (off + i) % 26);
}

int httpd_send_raw(httpd_conn *c, const void *data, size_t len)
{
    if (c->aborted)
        return -EPIPE;
    mt_co_timeout scope;
    mt_co_timeout_begin(&scope, httpd_cfg.send_timeout);
    int err = httpd_conn_send(c, data, len);
    mt_co_timeout_end(&scope);
    if (err)
        c->aborted = true;
    return err;
}

int httpd_reply_head(httpd_conn *c, int status, const char *extra, long long clen)
{
    char head[2 * HTTPD_MAX_LINE + 1024], date[64]; /* room for one long header */
    httpd_http_date(time(NULL), date, sizeof date);
    c->status = status;
    c->chunked = clen == HTTPD_CHUNKED;
    if (!c->req.keep_alive)
        c->close = true;
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: mt-test-httpd\r\n%s%s", status,
                     httpd_reason(status), date,
                     c->close             ? "Connection: close\r\n"
                     : c->req.minor == 0 ? "Connection: keep-alive\r\n" /* HTTP/1.0 asked */
                                          : "",
                     extra ? extra : "");
    if (n < 0 || (size_t)n >= sizeof head - 64)
        return -EOVERFLOW;
    if (clen >= 0)
        n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %lld\r\n", clen);
    else if (clen == HTTPD_CHUNKED)
        n += snprintf(head + n, sizeof head - (size_t)n, "Transfer-Encoding: chunked\r\n");
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    return httpd_send_raw(c, head, (size_t)n);
}

int httpd_send_body(httpd_conn *c, const void *data, size_t len)
{
    if (c->req.head || len == 0)
        return c->aborted ? -EPIPE : 0;
    int err;
    if (c->chunked) {
        char size[32];
        int n = snprintf(size, sizeof size, "%zx\r\n", len);
        err = httpd_send_raw(c, size, (size_t)n);
        if (!err)
            err = httpd_send_raw(c, data, len);
        if (!err)
            err = httpd_send_raw(c, "\r\n", 2);
    } else {
        err = httpd_send_raw(c, data, len);
    }
    if (!err)
        c->sent += len;
    return err;
}

int httpd_end_chunks(httpd_conn *c)
{
    return c->req.head ? 0 : httpd_send_raw(c, "0\r\n\r\n", 5);
}

int httpd_reply_text(httpd_conn *c, int status, const char *extra, const char *text)
{
    size_t len = strlen(text);
    int err = httpd_reply_head(c, status, extra, (long long)len);
    return err ? err : httpd_send_body(c, text, len);
}

int httpd_send_pattern(httpd_conn *c, unsigned long long total)
{
    for (unsigned long long off = 0; off < total && !c->req.head;) {
        size_t n = total - off < HTTPD_BUF ? (size_t)(total - off) : HTTPD_BUF;
        httpd_pattern(c->buf, n, off);
        int err = httpd_send_body(c, c->buf, n);
        if (err)
            return err;
        off += n;
    }
    return 0;
}

void httpd_log(const httpd_conn *c)
{
    if (!httpd_cfg.log)
        return;
    /* One line a request: method target range status bytes; the target as
     * the client sent it (it holds no space or control character), the
     * Range header without its spaces, "-" for what is missing. */
    const char *range = httpd_header_get(&c->req, "Range");
    char r[256] = "-";
    for (size_t i = 0, o = 0; range && range[i] && o + 1 < sizeof r; i++)
        if ((unsigned char)range[i] > ' ' && range[i] != 0x7f) {
            r[o++] = range[i];
            r[o] = '\0';
        }
    fprintf(httpd_cfg.log, "%s %s %s %d %llu\n", *c->req.method ? c->req.method : "-",
            *c->req.target ? c->req.target : "-", r, c->status, c->sent);
    fflush(httpd_cfg.log);
}
