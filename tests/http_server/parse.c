/*
 * parse.c - reading a request head off a connection and taking it apart,
 * within fixed bounds: the request line, the header fields, the query.
 * Whatever a client sends ends in a parsed request or an error status,
 * never in a read past the buffer.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "multitask/coro.h"

#include "httpd.h"

/* The end of the head in buf[0..len): the offset after its blank line, or
 * 0. Lines end in CRLF or a bare LF. */
static size_t head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (buf[i + 1] == '\n')
            return i + 2;
        if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* Whether the request line (the first line) is already too long. */
static bool line_too_long(const char *buf, size_t len)
{
    const char *nl = memchr(buf, '\n', len);
    return nl ? (size_t)(nl - buf) > HTTPD_MAX_LINE : len > HTTPD_MAX_LINE;
}

int httpd_read_head(httpd_conn *c)
{
    mt_co_timeout scope;
    int status = -1;
    /* Blank lines before a request are allowed (RFC 9112 2.2). */
    size_t skip = 0;
    mt_co_timeout_begin(&scope, httpd_cfg.idle);
    for (;;) {
        while (skip < c->in_len && (c->in[skip] == '\r' || c->in[skip] == '\n'))
            skip++;
        if (skip) {
            memmove(c->in, c->in + skip, c->in_len - skip);
            c->in_len -= skip;
            skip = 0;
        }
        size_t end = head_end(c->in, c->in_len);
        if (end) {
            c->head_len = end;
            status = line_too_long(c->in, end) ? 414 : 0;
            break;
        }
        if (line_too_long(c->in, c->in_len)) {
            status = 414;
            break;
        }
        if (c->in_len >= HTTPD_MAX_HEAD) {
            status = 431;
            break;
        }
        ssize_t n = httpd_conn_recv(c, c->in + c->in_len, HTTPD_MAX_HEAD - c->in_len);
        if (n <= 0)
            break; /* gone, quiet too long, or the server stops */
        c->in_len += (size_t)n;
    }
    mt_co_timeout_end(&scope);
    return status;
}

/* Cut the line starting at *p (ending in LF, maybe CRLF) into a string;
 * *p moves past it. */
static char *take_line(char **p)
{
    char *line = *p, *nl = strchr(line, '\n');
    *p = nl + 1;
    *nl = '\0';
    if (nl > line && nl[-1] == '\r')
        nl[-1] = '\0';
    return line;
}

static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return false;
    return true;
}

static int parse_request_line(httpd_req *r, char *line)
{
    char *sp1 = strchr(line, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || strchr(sp2 + 1, ' '))
        return 400;
    *sp1 = *sp2 = '\0';
    r->method = line;
    r->target = sp1 + 1;
    const char *version = sp2 + 1;
    if (!is_token(r->method) || r->target[0] != '/')
        return 400;
    if (strncmp(version, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)version[7]) || version[8])
        return strncmp(version, "HTTP/", 5) == 0 ? 505 : 400;
    r->minor = version[7] - '0';
    for (const char *s = r->target; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return 400;
    const char *q = strchr(r->target, '?');
    size_t plen = q ? (size_t)(q - r->target) : strlen(r->target);
    r->query = q ? q + 1 : "";
    if (plen >= HTTPD_MAX_PATH)
        return 414;
    if (httpd_pct_decode(r->path, sizeof r->path, r->target, plen, false) != 0)
        return 400;
    return 0;
}

static int parse_header(httpd_req *r, char *line)
{
    char *colon = strchr(line, ':');
    if (!colon)
        return 400;
    *colon = '\0';
    if (!is_token(line)) /* also refuses space before the colon */
        return 400;
    char *v = colon + 1, *e = v + strlen(v);
    while (*v == ' ' || *v == '\t')
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    if (r->nheaders == HTTPD_MAX_HEADERS)
        return 431;
    r->headers[r->nheaders++] = (httpd_header){line, v};
    return 0;
}

/* Whether comma-separated header value list holds token `want`. */
static bool list_has(const char *list, const char *want)
{
    size_t n = strlen(want);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (strncasecmp(p, want, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
            return true;
        p = strchr(p, ',');
    }
    return false;
}

/* Fill in what the handlers ask of every request. */
static int request_facts(httpd_req *r)
{
    const char *conn = httpd_header_get(r, "Connection");
    r->keep_alive = r->minor >= 1 ? !list_has(conn, "close") : list_has(conn, "keep-alive");
    r->head = strcmp(r->method, "HEAD") == 0;
    if (httpd_header_get(r, "Transfer-Encoding"))
        return 501; /* no request bodies in chunks */
    const char *cl = httpd_header_get(r, "Content-Length");
    if (cl) {
        char *end;
        errno = 0;
        long long n = strtoll(cl, &end, 10);
        if (!isdigit((unsigned char)*cl) || *end || errno || n < 0)
            return 400;
        r->content_length = n;
    }
    if (strcmp(r->method, "GET") != 0 && !r->head)
        return 405;
    return 0;
}

int httpd_parse_head(httpd_conn *c)
{
    httpd_req *r = &c->req;
    r->nheaders = 0;
    r->content_length = -1;
    r->method = r->target = r->query = "";
    r->path[0] = '\0';
    r->keep_alive = r->head = false;
    for (const char *q = c->in; q < c->in + c->head_len; q++)
        if (*q == '\0')
            return 400;
    c->in[c->head_len - 1] = '\0'; /* the blank line's LF: the head is one string now */
    char *p = c->in;
    int err = parse_request_line(r, take_line(&p));
    while (!err && *p && strcmp(p, "\r") != 0) {
        if (*p == ' ' || *p == '\t') /* obsolete line folding */
            return 400;
        char *line = take_line(&p);
        err = strchr(line, '\r') ? 400 : parse_header(r, line);
    }
    return err ? err : request_facts(r);
}

const char *httpd_header_get(const httpd_req *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (char)tolower((unsigned char)ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

int httpd_pct_decode(char *out, size_t size, const char *in, size_t len, bool plus_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int ch = (unsigned char)in[i];
        if (ch == '%') {
            if (i + 2 >= len)
                return -1;
            int h = hex_value(in[i + 1]), l = hex_value(in[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            ch = h * 16 + l;
            i += 2;
        } else if (ch == '+' && plus_space) {
            ch = ' ';
        }
        if (ch == 0 || o + 1 >= size)
            return -1;
        out[o++] = (char)ch;
    }
    if (size == 0)
        return -1;
    out[o] = '\0';
    return 0;
}

const char *httpd_param_raw(const httpd_req *r, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (const char *p = r->query; *p;) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        if (plen >= n && strncmp(p, name, n) == 0 && (plen == n || p[n] == '=')) {
            *len = plen > n ? plen - n - 1 : 0;
            return plen > n ? p + n + 1 : p + n;
        }
        p += plen + (amp != NULL);
    }
    return NULL;
}

bool httpd_param(const httpd_req *r, const char *name, char *out, size_t size)
{
    size_t len;
    const char *raw = httpd_param_raw(r, name, &len);
    return raw && httpd_pct_decode(out, size, raw, len, true) == 0;
}

long long httpd_param_num(const httpd_req *r, const char *name, long long def, long long min,
                          long long max)
{
    char text[32], *end;
    if (!httpd_param(r, name, text, sizeof text))
        return def;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end || errno)
        return def;
    return v < min ? min : v > max ? max : v;
}

bool httpd_header_safe(const char *s)
{
    return !strpbrk(s, "\r\n");
}
