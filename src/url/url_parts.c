/*
 * url_parts.c - reading URL text: cleaning an href, splitting a URL into
 * components and an authority into its parts, and writing components back
 * as valid URL text with dot segments removed.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "url_internal.h"

static bool is_scheme_char(unsigned char c)
{
    return isalnum(c) || c == '+' || c == '-' || c == '.';
}

int mt__url_clean(mt_buf *out, const char *text)
{
    size_t n = strlen(text);
    while (n > 0 && (unsigned char)text[n - 1] <= ' ')
        n--;
    while (n > 0 && (unsigned char)*text <= ' ')
        text++, n--;
    mt_buf_reset(out);
    int err = mt_buf_reserve(out, n + 1);
    if (err < 0)
        return err;
    for (size_t i = 0; i < n; i++)
        if (text[i] != '\t' && text[i] != '\n' && text[i] != '\r')
            out->data[out->len++] = text[i];
    out->data[out->len] = '\0';
    return 0;
}

static mt__url_part part(const char *s, size_t n)
{
    return (mt__url_part){s, n, true};
}

void mt__url_split(const char *s, size_t len, mt__url *u)
{
    memset(u, 0, sizeof *u);
    const char *end = s + len;

    /* scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) then ":" */
    const char *p = s;
    if (p < end && isalpha((unsigned char)*p)) {
        while (p < end && is_scheme_char((unsigned char)*p))
            p++;
        if (p < end && *p == ':') {
            u->scheme = part(s, (size_t)(p - s));
            s = p + 1;
        }
    }
    if (end - s >= 2 && s[0] == '/' && s[1] == '/') {
        s += 2;
        p = s;
        while (p < end && *p != '/' && *p != '?' && *p != '#')
            p++;
        u->authority = part(s, (size_t)(p - s));
        s = p;
    }
    p = s;
    while (p < end && *p != '?' && *p != '#')
        p++;
    u->path = part(s, (size_t)(p - s));
    s = p;
    if (s < end && *s == '?') {
        p = ++s;
        while (p < end && *p != '#')
            p++;
        u->query = part(s, (size_t)(p - s));
        s = p;
    }
    if (s < end && *s == '#')
        u->fragment = part(s + 1, (size_t)(end - s - 1));
}

int mt__url_split_authority(mt__url_part a, mt__url_authority *out)
{
    memset(out, 0, sizeof *out);
    const char *s = a.s, *end = a.s + a.n;
    const char *at = NULL;
    for (const char *p = s; p < end; p++)
        if (*p == '@')
            at = p;
    if (at) {
        out->userinfo = part(s, (size_t)(at - s));
        s = at + 1;
    }
    const char *host_end;
    if (s < end && *s == '[') {
        host_end = memchr(s, ']', (size_t)(end - s));
        if (!host_end)
            return -EINVAL;
        host_end++;
        if (host_end < end && *host_end != ':')
            return -EINVAL;
    } else {
        /* (a host name holds no ":"; the port is all after the first) */
        host_end = memchr(s, ':', (size_t)(end - s));
        if (!host_end)
            host_end = end;
    }
    out->host = part(s, (size_t)(host_end - s));
    if (host_end < end)
        out->port = part(host_end + 1, (size_t)(end - host_end - 1));
    return 0;
}

static bool must_escape(unsigned char c)
{
    return c <= ' ' || c >= 0x7f || strchr("\"<>\\^`{|}", c) != NULL;
}

int mt__url_append(mt_buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int err = must_escape(c) ? mt_buf_append(out, (char[]){'%', hex[c >> 4], hex[c & 15]}, 3)
                                 : mt_buf_append(out, &s[i], 1);
        if (err < 0)
            return err;
    }
    return 0;
}

static bool starts(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && memcmp(s, prefix, k) == 0;
}

static bool equals(const char *s, size_t n, const char *word)
{
    return n == strlen(word) && memcmp(s, word, n) == 0;
}

/* Drop the last segment and its "/" from out, not below `floor`. */
static void pop_segment(mt_buf *out, size_t floor)
{
    while (out->len > floor && out->data[out->len - 1] != '/')
        out->len--;
    if (out->len > floor)
        out->len--;
}

int mt__url_append_path(mt_buf *out, const char *s, size_t n)
{
    size_t floor = out->len;
    while (n > 0) {
        if (starts(s, n, "../")) { /* A */
            s += 3, n -= 3;
        } else if (starts(s, n, "./")) {
            s += 2, n -= 2;
        } else if (starts(s, n, "/./")) { /* B: keep the second "/" */
            s += 2, n -= 2;
        } else if (equals(s, n, "/.")) {
            return mt_buf_append(out, "/", 1);
        } else if (starts(s, n, "/../")) { /* C */
            s += 3, n -= 3;
            pop_segment(out, floor);
        } else if (equals(s, n, "/..")) {
            pop_segment(out, floor);
            return mt_buf_append(out, "/", 1);
        } else if (equals(s, n, ".") || equals(s, n, "..")) { /* D */
            return 0;
        } else { /* E: the first segment, with its leading "/" */
            size_t k = *s == '/';
            while (k < n && s[k] != '/')
                k++;
            int err = mt__url_append(out, s, k);
            if (err < 0)
                return err;
            s += k, n -= k;
        }
    }
    return 0;
}

bool mt__url_scheme_is(mt__url_part scheme, const char *name)
{
    return scheme.has && scheme.n == strlen(name) && strncasecmp(scheme.s, name, scheme.n) == 0;
}

int mt_url_is_http(const char *url)
{
    if (!url)
        return 0;
    mt__url u;
    mt__url_authority a;
    mt__url_split(url, strlen(url), &u);
    if (!mt__url_scheme_is(u.scheme, "http") && !mt__url_scheme_is(u.scheme, "https"))
        return 0;
    return u.authority.has && mt__url_split_authority(u.authority, &a) == 0 && a.host.n > 0;
}

int mt__url_guard_path(mt_buf *out, size_t start)
{
    if (out->len - start < 2 || out->data[start] != '/' || out->data[start + 1] != '/')
        return 0;
    int err = mt_buf_reserve(out, 2);
    if (err < 0)
        return err;
    memmove(out->data + start + 2, out->data + start, out->len - start);
    memcpy(out->data + start, "/.", 2);
    out->len += 2;
    return 0;
}
