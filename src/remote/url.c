/*
 * url.c - a server's name taken apart, strictly: anything the grammar in
 * shared.h does not allow is -EINVAL, never a guess.
 *
 *   redis://[[user]:password@]host[:port][/db]/NAME
 *   redis+unix://[[user]:password@]/path/to/socket/NAME[?db=N]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "remote_internal.h"

/* A Unix socket's path must fit in sockaddr_un's sun_path. */
#define SOCKET_PATH_MAX 107

void mt__rurl_free(mt__rurl *u)
{
    free(u->host);
    free(u->socket);
    free(u->user);
    if (u->password) explicit_bzero(u->password, strlen(u->password));
    free(u->password);
    free(u->name);
    memset(u, 0, sizeof *u);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* s[0..len) percent-decoded into a new string; NULL in *out for a bad
 * escape, a NUL, or a character a URL's user part cannot hold raw. */
static int decode(const char *s, size_t len, char **out)
{
    *out = NULL;
    char *d = malloc(len + 1), *p = d;
    if (!d) return -ENOMEM;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < len ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi | lo) == 0) goto bad;
            *p++ = (char)(hi << 4 | lo);
            i += 2;
        } else if (c <= ' ' || c >= 0x7f || strchr("@/?#[]", c)) {
            goto bad;
        } else {
            *p++ = (char)c;
        }
    }
    *p = '\0';
    *out = d;
    return 0;
bad:
    explicit_bzero(d, len + 1);
    free(d);
    return -EINVAL;
}

/* A decimal number of 1 to `digits` digits in s[0..len), at most max. */
static bool number(const char *s, size_t len, size_t digits, long max, long *out)
{
    if (len == 0 || len > digits) return false;
    long n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        n = n * 10 + (s[i] - '0');
    }
    *out = n;
    return n <= max;
}

/* NAME: 1 to MT__RNAME_MAX of [A-Za-z0-9._~:-], not starting with '.'. */
static bool name_ok(const char *s, size_t len)
{
    if (len == 0 || len > MT__RNAME_MAX || s[0] == '.') return false;
    for (size_t i = 0; i < len; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~:-", s[i]) ||
            s[i] == '\0')
            return false;
    return true;
}

/* A host: a name or IPv4 address of [A-Za-z0-9.-] (not starting or ending
 * with '-' or '.'), or an IPv6 address in brackets. */
static bool host_ok(const char *s, size_t len, bool *bracketed)
{
    *bracketed = len >= 2 && s[0] == '[' && s[len - 1] == ']';
    if (*bracketed) {
        if (len < 4 || len > 2 + 45) return false;
        for (size_t i = 1; i < len - 1; i++)
            if (!strchr("0123456789abcdefABCDEF:.", s[i]) || s[i] == '\0') return false;
        return true;
    }
    if (len == 0 || len > 253 || strchr("-.", s[0]) || strchr("-.", s[len - 1])) return false;
    for (size_t i = 0; i < len; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-", s[i]) ||
            s[i] == '\0')
            return false;
    return true;
}

/* The user part "[user]:password" of s[0..len). */
static int userinfo(mt__rurl *u, const char *s, size_t len)
{
    const char *colon = memchr(s, ':', len);
    if (!colon || colon + 1 == s + len) /* a user without a password, or "user:" */
        return -EINVAL;
    size_t ulen = (size_t)(colon - s);
    int err = ulen ? decode(s, ulen, &u->user) : 0;
    if (err == 0) err = decode(colon + 1, len - ulen - 1, &u->password);
    if (err == 0 && ((ulen && !u->user[0]) || !u->password[0])) err = -EINVAL;
    return err;
}

/* After "redis://" and the user part: host[:port][/db]/NAME. */
static int tcp_rest(mt__rurl *u, const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash) return -EINVAL;
    size_t alen = (size_t)(slash - s);
    const char *colon = NULL;
    if (alen && s[0] == '[') {
        const char *close = memchr(s, ']', alen);
        if (!close) return -EINVAL;
        colon = close + 1 < slash ? close + 1 : NULL;
        if (colon && *colon != ':') return -EINVAL;
    } else {
        colon = memchr(s, ':', alen);
    }
    size_t hlen = colon ? (size_t)(colon - s) : alen;
    bool bracketed;
    if (!host_ok(s, hlen, &bracketed)) return -EINVAL;
    long port = 6379;
    if (colon && (!number(colon + 1, (size_t)(slash - colon - 1), 5, 65535, &port) || port == 0))
        return -EINVAL;
    u->port = (int)port;
    u->host = bracketed ? strndup(s + 1, hlen - 2) : strndup(s, hlen);
    if (!u->host) return -ENOMEM;
    const char *name = slash + 1, *second = strchr(name, '/');
    if (second) { /* /db/NAME */
        long db;
        if (!number(name, (size_t)(second - name), 9, 999999999, &db)) return -EINVAL;
        u->db = (int)db;
        name = second + 1;
    }
    if (!name_ok(name, strlen(name))) return -EINVAL;
    return (u->name = strdup(name)) ? 0 : -ENOMEM;
}

/* After "redis+unix://" and the user part: /path/to/socket/NAME[?db=N]. */
static int unix_rest(mt__rurl *u, const char *s)
{
    if (s[0] != '/') return -EINVAL;
    size_t len = strlen(s);
    const char *query = strchr(s, '?');
    if (query) {
        long db;
        if (strncmp(query, "?db=", 4) != 0 ||
            !number(query + 4, len - (size_t)(query + 4 - s), 9, 999999999, &db))
            return -EINVAL;
        u->db = (int)db;
        len = (size_t)(query - s);
    }
    const char *last = memrchr(s, '/', len);
    size_t plen = (size_t)(last - s), nlen = len - plen - 1;
    if (plen == 0 || plen > SOCKET_PATH_MAX || !name_ok(last + 1, nlen)) return -EINVAL;
    for (size_t i = 0; i < plen; i++)
        if ((unsigned char)s[i] < ' ' || s[i] == 0x7f || s[i] == '#' ||
            (s[i] == '/' && i + 1 < plen && s[i + 1] == '/'))
            return -EINVAL;
    if (s[plen - 1] == '/') return -EINVAL;
    if (!(u->socket = strndup(s, plen)) || !(u->name = strndup(last + 1, nlen))) return -ENOMEM;
    return 0;
}

int mt__rurl_parse(mt__rurl *u, const char *url)
{
    memset(u, 0, sizeof *u);
    if (strncmp(url, "rediss://", 9) == 0)
        return -EPROTONOSUPPORT; /* TLS: Debian 12's hiredis has none */
    bool unix_socket = strncmp(url, "redis+unix://", 13) == 0;
    if (!unix_socket && strncmp(url, "redis://", 8) != 0) return -EINVAL;
    const char *s = url + (unix_socket ? 13 : 8);
    /* The user part ends at an '@' before the first '/'; a second '@' there
     * would be one the user part holds unescaped. */
    const char *slash = strchr(s, '/');
    const char *at = slash ? memchr(s, '@', (size_t)(slash - s)) : NULL;
    int err = 0;
    if (at) {
        if (memchr(at + 1, '@', (size_t)(slash - at - 1)))
            err = -EINVAL;
        else
            err = userinfo(u, s, (size_t)(at - s));
        s = at + 1;
    }
    if (err == 0) err = unix_socket ? unix_rest(u, s) : tcp_rest(u, s);
    if (err < 0) mt__rurl_free(u);
    return err;
}
