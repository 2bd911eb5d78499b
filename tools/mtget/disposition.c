/*
 * disposition.c - the file name a server suggests in Content-Disposition
 * (RFC 6266): `filename*=UTF-8''caf%C3%A9.txt` (RFC 8187) before
 * `filename="cafe.txt"`. The name is the server's word, so it gets the same
 * treatment as a URL's: path parts dropped, then mtget_name_sanitize.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mtget.h"

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Read a parameter value (quoted string or token) at p into out (as long as
 * the header); returns where the value ends. */
static const char *read_value(const char *p, char *out)
{
    size_t n = 0;
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\' && p[1])
                p++;
            out[n++] = *p;
        }
        if (*p == '"')
            p++;
    } else {
        while (*p && *p != ';')
            out[n++] = *p++;
        while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t'))
            n--;
    }
    out[n] = '\0';
    return p;
}

/* Decode an RFC 8187 value "charset'lang'pct-encoded" in place; 0, or
 * -EINVAL for a form or a charset we do not take. */
static int ext_value(char *v)
{
    char *q1 = strchr(v, '\''), *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
    if (!q2)
        return -EINVAL;
    *q1 = '\0';
    if (strcasecmp(v, "UTF-8") != 0 && strcasecmp(v, "US-ASCII") != 0)
        return -EINVAL;
    char *enc = q2 + 1;
    size_t n = mtget__pct_decode(v, enc, strlen(enc));
    v[n] = '\0';
    return 0;
}

/* The name of value v: what follows its last '/' or '\', sanitised. */
static int base_name(char *out, size_t size, const char *v)
{
    const char *base = v;
    for (const char *p = v; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    return mtget_name_sanitize(out, size, base, strlen(base));
}

int mtget_name_from_disposition(char *out, size_t size, const char *header)
{
    if (!out || !header || size < 2)
        return -EINVAL;
    size_t len = strlen(header);
    char *plain = malloc(len + 1), *ext = malloc(len + 1), *val = malloc(len + 1);
    int err = -ENOMEM;
    if (!plain || !ext || !val)
        goto out;
    bool have_plain = false, have_ext = false;
    const char *p = header + strcspn(header, ";"); /* past the type */
    while (*p == ';') {
        p = skip_ws(p + 1);
        const char *name = p;
        while (*p && *p != '=' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t nlen = (size_t)(p - name);
        p = skip_ws(p);
        if (*p != '=')
            continue;
        p = read_value(skip_ws(p + 1), val);
        p += strcspn(p, ";"); /* junk after a quoted string */
        if (nlen == 9 && strncasecmp(name, "filename*", 9) == 0 && !have_ext &&
            ext_value(val) == 0) {
            strcpy(ext, val);
            have_ext = true;
        } else if (nlen == 8 && strncasecmp(name, "filename", 8) == 0 && !have_plain) {
            strcpy(plain, val);
            have_plain = true;
        }
    }
    err = -ENOENT;
    if (have_ext)
        err = base_name(out, size, ext);
    if ((!have_ext || err == -EINVAL) && have_plain)
        err = base_name(out, size, plain);
out:
    free(plain);
    free(ext);
    free(val);
    return err;
}
