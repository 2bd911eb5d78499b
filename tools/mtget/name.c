/*
 * name.c - local file names for downloads. A name comes from bytes a server
 * chose (a URL's path, a Content-Disposition header), so it is never used
 * as it is: it is decoded, stripped of control characters and of '/' and
 * '\', refused when it is "." or "..", kept from looking hidden, and cut to
 * the filesystem's limit without losing its extension or splitting a UTF-8
 * character. Collisions get ".1", ".2"... before the extension.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtget.h"

#define EXT_MAX 16 /* bytes after the dot; a longer "extension" is not one */
#define FALLBACK "index.html"

/* Where name's extension starts (its '.'), or len when it has none. */
static size_t ext_start(const char *name, size_t len)
{
    for (size_t i = len; i-- > 1;) {
        if (len - i > EXT_MAX + 1)
            break;
        if (name[i] == '.')
            return i + 1 < len ? i : len;
    }
    return len;
}

/* The largest n <= want that does not split a UTF-8 sequence of name at n
 * (a continuation byte at n belongs to a character begun before it). Bytes
 * that are not UTF-8 are cut anywhere: at most 3 bytes are given back. */
static size_t utf8_cut(const char *name, size_t want)
{
    size_t n = want;
    while (n > 0 && want - n < 3 && ((unsigned char)name[n] & 0xC0) == 0x80)
        n--;
    return ((unsigned char)name[n] & 0xC0) == 0x80 ? want : n;
}

void mtget_name_fit(char *name, size_t max)
{
    size_t len = strlen(name);
    if (len <= max || max == 0)
        return;
    size_t e = ext_start(name, len), elen = len - e;
    if (elen > 0 && elen < max) {
        size_t stem = utf8_cut(name, max - elen);
        if (stem > 0) {
            memmove(name + stem, name + e, elen + 1);
            return;
        }
    }
    name[utf8_cut(name, max)] = '\0';
}

void mtget_name_numbered(char *out, size_t max, const char *name, unsigned n)
{
    size_t len = strlen(name);
    char suffix[16] = "";
    if (n > 0)
        snprintf(suffix, sizeof suffix, ".%u", n);
    size_t e = ext_start(name, len), elen = len - e, slen = strlen(suffix);
    if (slen + elen + 1 > max) /* no room for the extension: suffix only */
        e = len, elen = 0;
    if (slen + 1 > max) { /* not even that: the name, cut */
        snprintf(out, max + 1, "%s", name);
        mtget_name_fit(out, max);
        return;
    }
    size_t stem = e;
    if (stem + slen + elen > max)
        stem = utf8_cut(name, max - slen - elen);
    memcpy(out, name, stem);
    memcpy(out + stem, suffix, slen);
    memcpy(out + stem + slen, name + e, elen);
    out[stem + slen + elen] = '\0';
}

int mtget_name_sanitize(char *out, size_t size, const char *raw, size_t len)
{
    if (!out || !raw || size < 2)
        return -EINVAL;
    char *buf = malloc(len + 2);
    if (!buf)
        return -ENOMEM;
    size_t n = 1; /* buf[0] is room for the '_' of a name that starts with '.' */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
            continue;
        buf[n++] = (char)c;
    }
    buf[n] = '\0';
    char *name = buf + 1;
    int err = -EINVAL;
    if (*name && strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
        if (*name == '.')
            *--name = '_';
        mtget_name_fit(name, size - 1);
        snprintf(out, size, "%s", name);
        err = 0;
    }
    free(buf);
    return err;
}

int mtget__hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode len bytes of s into out (len + 1 bytes); the decoded
 * length. A '%' not followed by two hex digits stays as it is. */
size_t mtget__pct_decode(char *out, const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len &&
            (hi = mtget__hexval((unsigned char)s[i + 1])) >= 0 &&
            (lo = mtget__hexval((unsigned char)s[i + 2])) >= 0) {
            out[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[n++] = s[i];
        }
    }
    out[n] = '\0';
    return n;
}

/* Sanitise len bytes of s after percent-decoding them. */
static int decoded_name(char *out, size_t size, const char *s, size_t len)
{
    char *dec = malloc(len + 1);
    if (!dec)
        return -ENOMEM;
    size_t n = mtget__pct_decode(dec, s, len);
    int err = mtget_name_sanitize(out, size, dec, n);
    free(dec);
    return err;
}

/* The host of an authority ("user@Host:port", "[::1]:80"), lower case. */
static int host_name(char *out, size_t size, const char *auth, size_t len)
{
    const char *at = memrchr(auth, '@', len);
    if (at) {
        len -= (size_t)(at + 1 - auth);
        auth = at + 1;
    }
    size_t hlen;
    if (len > 0 && auth[0] == '[') {
        const char *close = memchr(auth, ']', len);
        if (!close)
            return -EINVAL;
        auth++;
        hlen = (size_t)(close - auth);
    } else {
        const char *colon = memchr(auth, ':', len);
        hlen = colon ? (size_t)(colon - auth) : len;
    }
    char host[256];
    if (hlen == 0 || hlen >= sizeof host)
        return -EINVAL;
    for (size_t i = 0; i < hlen; i++)
        host[i] = (char)tolower((unsigned char)auth[i]);
    return decoded_name(out, size, host, hlen);
}

int mtget_name_from_url(char *out, size_t size, const char *url)
{
    if (!out || !url || size < 16)
        return -EINVAL;
    const char *end = url + strcspn(url, "?#");
    const char *p = url, *auth = NULL;
    size_t alen = 0;
    const char *sep = strstr(url, "://");
    if (sep && sep < end && (size_t)(sep - url) + 1 == strcspn(url, "/")) {
        auth = sep + 3;
        alen = strcspn(auth, "/?#");
        p = auth + alen;
    }
    size_t plen = (size_t)(end - p);
    if (auth && (plen == 0 || (plen == 1 && *p == '/')))
        return host_name(out, size, auth, alen);
    const char *slash = memrchr(p, '/', plen);
    const char *seg = slash ? slash + 1 : p;
    int err = decoded_name(out, size, seg, (size_t)(end - seg));
    if (err == -EINVAL) {
        snprintf(out, size, "%s", FALLBACK);
        err = 0;
    }
    return err;
}
