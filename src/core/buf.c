/*
 * buf.c - growable byte buffers, and the task helpers built on them
 * (error messages, packing several arguments into one).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "multitask/core.h"
#include "multitask/fn.h"

int mt_buf_grow(mt_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return -ENOMEM;
    size_t want = b->len + extra;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < want)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int mt_buf_vprintf(mt_buf *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    int err = n < 0 ? -EINVAL : mt_buf_reserve(b, (size_t)n + 1);
    if (err == 0) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
    return err;
}

int mt_buf_printf(mt_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int err = mt_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return err;
}

void mt_buf_free(mt_buf *b)
{
    free(b->data);
    *b = (mt_buf)MT_BUF_INIT;
}

void mt_buf_move(mt_buf *dst, mt_buf *src)
{
    if (dst == src)
        return;
    free(dst->data);
    *dst = *src;
    *src = (mt_buf)MT_BUF_INIT;
}

int mt_fail(mt_buf *out, int err, const char *fmt, ...)
{
    mt_buf_reset(out);
    va_list ap;
    va_start(ap, fmt);
    mt_buf_vprintf(out, fmt, ap); /* best effort: the error code matters more */
    va_end(ap);
    return err < 0 ? err : MT_EFAILED;
}

int mt_pack(mt_buf *b, const mt_iov *parts, size_t n)
{
    if (!b || (!parts && n))
        return -EINVAL;
    if (n > UINT32_MAX)
        return -EMSGSIZE;
    size_t total = 4;
    for (size_t i = 0; i < n; i++) {
        if (!parts[i].data && parts[i].len)
            return -EINVAL;
        if (parts[i].len > UINT32_MAX)
            return -EMSGSIZE;
        total += 4 + parts[i].len;
    }
    int err = mt_buf_reserve(b, total);
    if (err < 0)
        return err;
    uint32_t count = (uint32_t)n;
    mt_buf_append(b, &count, 4);
    for (size_t i = 0; i < n; i++) {
        uint32_t len = (uint32_t)parts[i].len;
        mt_buf_append(b, &len, 4);
        mt_buf_append(b, parts[i].data, parts[i].len);
    }
    return 0;
}

int mt_unpack(const void *data, size_t len, mt_iov *parts, size_t max)
{
    const char *p = data, *end = p + len;
    uint32_t count;
    if (!data || len < 4)
        return -EINVAL;
    memcpy(&count, p, 4);
    p += 4;
    if (count > INT32_MAX)
        return -EINVAL;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t n;
        if ((size_t)(end - p) < 4)
            return -EINVAL;
        memcpy(&n, p, 4);
        p += 4;
        if ((size_t)(end - p) < n)
            return -EINVAL;
        if (i < max)
            parts[i] = (mt_iov){p, n};
        p += n;
    }
    return p == end ? (int)count : -EINVAL;
}
