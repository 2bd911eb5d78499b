/*
 * multitask/buf.h - growable byte buffers and byte ranges.
 *
 * Every value that crosses a thread, process or coroutine boundary in
 * multitask is bytes. An mt_buf is the one growable buffer the library uses:
 * tasks write their results into one, and futures hand one back.
 *
 *   mt_buf b = MT_BUF_INIT;
 *   mt_buf_append(&b, "abc", 3);      // may fail with -ENOMEM
 *   mt_buf_printf(&b, " %d", 42);
 *   ... b.data, b.len ...
 *   mt_buf_free(&b);
 *
 * The struct is public so that appending is an inline call; change its fields
 * only through these functions. None of them is thread-safe on one buffer;
 * distinct buffers are independent. A buffer's memory is plain malloc memory.
 */
#ifndef MULTITASK_BUF_H
#define MULTITASK_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_buf {
    char *data; /* bytes; NULL until something is stored */
    size_t len; /* bytes in use */
    size_t cap; /* bytes allocated */
} mt_buf;

#define MT_BUF_INIT {NULL, 0, 0}

/* A read-only byte range: one argument or one result. */
typedef struct mt_iov {
    const void *data;
    size_t len;
} mt_iov;

/*
 * mt_buf_grow - make room for `extra` more bytes beyond len.
 * Returns 0, or -ENOMEM (the buffer is unchanged).
 */
int mt_buf_grow(mt_buf *b, size_t extra);

/* mt_buf_reserve - room for `extra` more bytes; inline fast path of grow. */
static inline int mt_buf_reserve(mt_buf *b, size_t extra)
{
    return b->cap - b->len >= extra ? 0 : mt_buf_grow(b, extra);
}

/* mt_buf_append - append n bytes. Returns 0 or -ENOMEM (nothing appended). */
static inline int mt_buf_append(mt_buf *b, const void *p, size_t n)
{
    int err = mt_buf_reserve(b, n);
    if (err < 0)
        return err;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

/* mt_buf_printf - append formatted text (no terminating NUL counted in len,
 * though one is always stored after it). Returns 0, -ENOMEM or -EINVAL. */
int mt_buf_printf(mt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int mt_buf_vprintf(mt_buf *b, const char *fmt, va_list ap);

/* mt_buf_reset - forget the contents, keep the memory. */
static inline void mt_buf_reset(mt_buf *b)
{
    b->len = 0;
}

/* mt_buf_free - release the memory; the buffer is MT_BUF_INIT again. */
void mt_buf_free(mt_buf *b);

/* mt_buf_move - hand src's memory to *dst (whose old memory is freed) and
 * leave src empty; no bytes are copied. */
void mt_buf_move(mt_buf *dst, mt_buf *src);

#ifdef __cplusplus
}
#endif
#endif
