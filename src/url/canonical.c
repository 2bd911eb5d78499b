/*
 * canonical.c - mt_url_canonical: RFC 3986 syntax-, case-, percent-encoding-
 * and scheme-based normalisation (sections 6.2.2 and 6.2.3), so that two
 * spellings of one URL compare equal as strings.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "url_internal.h"

static int hexval(unsigned char c)
{
    if (isdigit(c))
        return c - '0';
    c = (unsigned char)tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool is_unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Append with percent-escapes normalised: an escaped unreserved character
 * decoded, other escapes with upper-case hex, a "%" that starts none
 * encoded; with `lower`, everything else lower-cased (a host). */
static int append_normal(mt_buf *out, const char *s, size_t n, bool lower)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int hi, lo;
        if (c == '%' && !(i + 2 < n && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
                          (lo = hexval((unsigned char)s[i + 2])) >= 0)) {
            /* A "%" that starts no escape stands for itself: "%25", so
             * that it cannot make one with what follows ("%%65"). */
            if (mt_buf_append(out, "%25", 3) < 0)
                return -ENOMEM;
            continue;
        }
        if (c == '%') {
            unsigned char d = (unsigned char)(hi << 4 | lo);
            i += 2;
            if (is_unreserved(d)) {
                c = d; /* decoded: written below like any character */
            } else {
                if (mt_buf_append(out, (char[]){'%', hex[d >> 4], hex[d & 15]}, 3) < 0)
                    return -ENOMEM;
                continue;
            }
        }
        char ch = lower ? (char)tolower(c) : (char)c;
        if (mt__url_append(out, &ch, 1) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* The port's digits without leading zeros ("" for none or a default one),
 * or -EINVAL for anything that is not a port. */
static int normal_port(const mt__url *u, mt__url_part port, char digits[8])
{
    digits[0] = '\0';
    if (!port.has || port.n == 0)
        return 0;
    unsigned long v = 0;
    for (size_t i = 0; i < port.n; i++) {
        if (!isdigit((unsigned char)port.s[i]))
            return -EINVAL;
        v = v * 10 + (unsigned long)(port.s[i] - '0');
        if (v > 65535)
            return -EINVAL;
    }
    static const struct {
        const char *scheme;
        unsigned long port;
    } defaults[] = {{"http", 80}, {"https", 443}, {"ws", 80}, {"wss", 443}, {"ftp", 21}};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (mt__url_scheme_is(u->scheme, defaults[i].scheme) && v == defaults[i].port)
            return 0;
    snprintf(digits, 8, "%lu", v);
    return 0;
}

/* Whether a host holds only what RFC 3986 allows in one (unreserved and
 * sub-delims characters, escapes; in brackets, an IP literal), or bytes
 * beyond ASCII (a name in UTF-8, which is written percent-encoded). */
static bool valid_host(mt__url_part host)
{
    bool literal = host.n >= 2 && host.s[0] == '[';
    for (size_t i = literal; i < host.n - literal; i++) {
        unsigned char c = (unsigned char)host.s[i];
        if (literal ? !(isalnum(c) || strchr(":.%-_~", c) != NULL) /* (zone: "%25eth0") */
                    : (c <= ' ' || c == 0x7f || strchr("\"<>\\^`{|}[]%", c) != NULL) &&
                          !(c == '%' && i + 2 < host.n && isxdigit((unsigned char)host.s[i + 1]) &&
                            isxdigit((unsigned char)host.s[i + 2])))
            return false;
    }
    return true;
}

static int append_authority(mt_buf *out, const mt__url *u)
{
    mt__url_authority a;
    char port[8];
    if (mt__url_split_authority(u->authority, &a) < 0 || normal_port(u, a.port, port) < 0 ||
        !valid_host(a.host))
        return -EINVAL;
    if (a.host.n == 0 && (mt__url_scheme_is(u->scheme, "http") ||
                          mt__url_scheme_is(u->scheme, "https")))
        return -EINVAL;
    int err = mt_buf_append(out, "//", 2);
    if (!err && a.userinfo.has) {
        err = append_normal(out, a.userinfo.s, a.userinfo.n, false);
        if (!err)
            err = mt_buf_append(out, "@", 1);
    }
    if (!err)
        err = append_normal(out, a.host.s, a.host.n, true);
    if (!err && port[0])
        err = mt_buf_printf(out, ":%s", port);
    return err;
}

static int canonical(mt_buf *out, mt_buf *tmp, const mt__url *u)
{
    for (size_t i = 0; i < u->scheme.n; i++) {
        char c = (char)tolower((unsigned char)u->scheme.s[i]);
        if (mt_buf_append(out, &c, 1) < 0)
            return -ENOMEM;
    }
    if (mt_buf_append(out, ":", 1) < 0)
        return -ENOMEM;
    if (u->authority.has) {
        int err = append_authority(out, u);
        if (err < 0)
            return err;
    }
    /* Decode first, so that "%2E%2E" is a dot segment too (as browsers
     * read it), then remove dot segments from hierarchical paths. */
    mt_buf_reset(tmp);
    if (append_normal(tmp, u->path.s, u->path.n, false) < 0)
        return -ENOMEM;
    int err = 0;
    size_t path_start = out->len;
    if (tmp->len == 0 && u->authority.has)
        err = mt_buf_append(out, "/", 1);
    else if (tmp->len > 0 && tmp->data[0] == '/')
        err = mt__url_append_path(out, tmp->data, tmp->len);
    else
        err = mt_buf_append(out, tmp->data, tmp->len);
    if (!err && !u->authority.has)
        err = mt__url_guard_path(out, path_start);
    if (!err && u->query.has) {
        err = mt_buf_append(out, "?", 1);
        if (!err)
            err = append_normal(out, u->query.s, u->query.n, false);
    }
    return err;
}

int mt_url_canonical(mt_buf *out, const char *url)
{
    if (!out || !url)
        return -EINVAL;
    mt_buf clean = MT_BUF_INIT, tmp = MT_BUF_INIT;
    mt__url u;
    int err = mt__url_clean(&clean, url);
    if (err < 0)
        goto done;
    mt__url_split(clean.data, clean.len, &u);
    err = -EINVAL;
    if (!u.scheme.has)
        goto done;
    mt_buf_reset(out);
    err = canonical(out, &tmp, &u);
    if (!err)
        err = mt_buf_reserve(out, 1);
    if (!err)
        out->data[out->len] = '\0';
done:
    if (err < 0)
        mt_buf_reset(out);
    mt_buf_free(&clean);
    mt_buf_free(&tmp);
    return err;
}
