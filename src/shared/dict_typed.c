/*
 * dict_typed.c - the dict with C strings and int64 values, as a Python user
 * writes d["k"] = "v" and d["n"] = 5: thin wrappers over the byte calls,
 * storing a string without its NUL and an int64 as mt_dict_incr does (8
 * bytes, host order), so that the byte calls and these read each other's.
 * On a server an int64 is decimal text, as HINCRBY keeps its counters.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared_internal.h"

/* The key's length, read no further than one past the longest key: the
 * byte calls refuse what is no key (NULL, "", too long) with -EINVAL. */
static size_t key_len(const char *key)
{
    return key ? strnlen(key, MT_SHARED_MAX_KEY + 1) : 0;
}

/* fn(value, len, out) on d[key], key a C string; -EINVAL for a bad key or
 * out NULL. */
static int view_at(mt_dict *d, const char *key, mt_shared_view_fn *fn, void *out)
{
    return out ? mt_dict_view(d, key, key_len(key), fn, out) : -EINVAL;
}

int mt_dict_set_str(mt_dict *d, const char *key, const char *value)
{
    if (!value)
        return -EINVAL;
    return mt_dict_set(d, key, key_len(key), value, strlen(value));
}

/* Copy a value that is a C string into the mt_buf ctx, NUL-terminated. */
static int copy_str(const void *value, size_t len, void *ctx)
{
    mt_buf *out = ctx;
    if (len && memchr(value, '\0', len))
        return -EINVAL; /* bytes, not a C string */
    int err = mt_buf_reserve(out, len + 1);
    if (err < 0)
        return err;
    mt_buf_reset(out);
    mt_buf_append(out, value, len);
    out->data[len] = '\0';
    return 0;
}

int mt_dict_get_str(mt_dict *d, const char *key, mt_buf *out)
{
    return view_at(d, key, copy_str, out);
}

int mt_dict_set_i64(mt_dict *d, const char *key, int64_t value)
{
    if (mt__dict_remote(d)) { /* decimal, as HINCRBY keeps it */
        char text[24];
        int n = snprintf(text, sizeof text, "%" PRId64, value);
        return mt_dict_set(d, key, key_len(key), text, (size_t)n);
    }
    return mt_dict_set(d, key, key_len(key), &value, sizeof value);
}

static int copy_i64(const void *value, size_t len, void *ctx)
{
    if (len != sizeof(int64_t))
        return -EINVAL;
    memcpy(ctx, value, sizeof(int64_t));
    return 0;
}

/* A server's counter: a decimal integer, nothing around it, in range. */
static int parse_i64(const void *value, size_t len, void *ctx)
{
    char text[24];
    if (len == 0 || len >= sizeof text)
        return -EINVAL;
    memcpy(text, value, len);
    text[len] = '\0';
    char *end;
    errno = 0;
    long long n = strtoll(text, &end, 10);
    if (*end || errno || !(text[0] == '-' || (text[0] >= '0' && text[0] <= '9')))
        return -EINVAL;
    *(int64_t *)ctx = n;
    return 0;
}

int mt_dict_get_i64(mt_dict *d, const char *key, int64_t *out)
{
    return view_at(d, key, mt__dict_remote(d) ? parse_i64 : copy_i64, out);
}
