/*
 * stream.c - buffered byte streams for coroutines (asyncio's StreamReader
 * and StreamWriter as one object): read up to n bytes, exactly n bytes, a
 * line or up to a separator (bounded by the stream's limit), and write
 * everything. The bytes received and not yet read wait in one buffer,
 * [start, buf.len); a read that is cancelled or times out leaves there
 * what it had received, so nothing is lost.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coro_internal.h"
#include "net_internal.h"

/* asyncio's default limit of a line. */
#define DEFAULT_LIMIT ((size_t)64 << 10)
/* What one receive asks the kernel for, at least. */
#define CHUNK ((size_t)16 << 10)

struct mt_stream {
    int fd;
    bool sock;    /* send/recv; else read/write (a pipe, a tty) */
    bool eof;     /* the peer has ended its side */
    bool closed;  /* our side is shut (mt_stream_close) */
    bool reading; /* a coroutine is in a read call */
    bool writing; /* a coroutine is in mt_stream_write */
    size_t limit;
    size_t start; /* the first byte not yet read */
    mt_buf buf;
};

int mt_stream_new(mt_stream **out, int fd, const mt_stream_opts *opts)
{
    if (!out || fd < 0)
        return -EINVAL;
    struct stat st;
    int fl = fcntl(fd, F_GETFL);
    if (fstat(fd, &st) != 0 || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
        return -errno;
    mt_stream *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->fd = fd;
    s->sock = S_ISSOCK(st.st_mode);
    s->limit = opts && opts->limit ? opts->limit : DEFAULT_LIMIT;
    *out = s;
    return 0;
}

int mt_stream_connect(mt_stream **out, const char *host, int port, const mt_stream_opts *opts)
{
    if (!out)
        return -EINVAL;
    int fd;
    int err = mt_co_sock_connect(&fd, host, port);
    if (err)
        return err;
    err = mt_stream_new(out, fd, opts);
    if (err)
        mt_co_close(fd);
    return err;
}

void mt_stream_free(mt_stream *s)
{
    if (!s)
        return;
    mt_co_close(s->fd);
    mt_buf_free(&s->buf);
    free(s);
}

int mt_stream_fd(const mt_stream *s)
{
    return s ? s->fd : -EINVAL;
}

bool mt_stream_at_eof(const mt_stream *s)
{
    return s && s->eof && s->start == s->buf.len;
}

/* ---- reading ---------------------------------------------------------- */

static size_t buffered(const mt_stream *s)
{
    return s->buf.len - s->start;
}

/* Mark n buffered bytes as read. */
static void consume(mt_stream *s, size_t n)
{
    s->start += n;
    if (s->start == s->buf.len)
        s->start = s->buf.len = 0;
}

/* One receive into dst (up to len bytes), suspending until the fd is
 * readable. Returns the count, 0 at the end, or an error. */
static ssize_t receive(mt_stream *s, void *dst, size_t len)
{
    ssize_t n = mt__fd_recv(s->fd, s->sock, dst, len);
    if (n == 0)
        s->eof = true;
    return n;
}

/* Receive once more into the buffer, room for at least `want` bytes made
 * first (the buffer grows only as far as that). Returns the count, 0 at
 * the end, or an error. */
static ssize_t fill(mt_stream *s, size_t want)
{
    if (s->eof)
        return 0;
    if (s->start && s->buf.cap - s->buf.len < want) {
        memmove(s->buf.data, s->buf.data + s->start, buffered(s));
        s->buf.len -= s->start;
        s->start = 0;
    }
    int err = mt_buf_reserve(&s->buf, want);
    if (err)
        return err;
    ssize_t n = receive(s, s->buf.data + s->buf.len, s->buf.cap - s->buf.len);
    if (n > 0)
        s->buf.len += (size_t)n;
    return n;
}

/* The checks every read starts with; marks the stream as being read. */
static int read_begin(mt_stream *s)
{
    if (!mt__current())
        return MT_ENOTCORO;
    if (!s)
        return -EINVAL;
    if (s->reading)
        return -EBUSY;
    s->reading = true;
    return 0;
}

ssize_t mt_stream_read(mt_stream *s, void *buf, size_t n)
{
    if (!buf && n)
        return -EINVAL;
    int err = read_begin(s);
    if (err)
        return err;
    ssize_t r = 0;
    if (n && !buffered(s)) {
        /* Nothing buffered: a large read goes straight to the caller. */
        r = n >= CHUNK ? receive(s, buf, n) : fill(s, CHUNK);
        if (n >= CHUNK || r <= 0)
            goto out;
    }
    r = (ssize_t)(n < buffered(s) ? n : buffered(s));
    if (r)
        memcpy(buf, s->buf.data + s->start, (size_t)r);
    consume(s, (size_t)r);
out:
    s->reading = false;
    return r;
}

int mt_stream_readexactly(mt_stream *s, void *buf, size_t n, size_t *got)
{
    if (got)
        *got = 0;
    if (!buf && n)
        return -EINVAL;
    int err = read_begin(s);
    if (err)
        return err;
    ssize_t r = 1;
    while (buffered(s) < n && r > 0)
        r = fill(s, n - buffered(s) > CHUNK ? n - buffered(s) : CHUNK);
    if (r < 0) {
        /* cancelled, timed out, failed: what came stays buffered */
        s->reading = false;
        return (int)r;
    }
    size_t take = n < buffered(s) ? n : buffered(s);
    if (take)
        memcpy(buf, s->buf.data + s->start, take);
    consume(s, take);
    if (got)
        *got = take;
    s->reading = false;
    return take == n ? 0 : MT_EOF;
}

/* Move the first n buffered bytes to out (contents replaced, a NUL after
 * them). Returns n, or -ENOMEM (nothing moved). */
static ssize_t hand_out(mt_stream *s, mt_buf *out, size_t n)
{
    mt_buf_reset(out);
    int err = mt_buf_reserve(out, n + 1);
    if (err)
        return err;
    mt_buf_append(out, s->buf.data + s->start, n);
    out->data[n] = '\0';
    consume(s, n);
    return (ssize_t)n;
}

/* readuntil and readline: `line` says which (readline drops an overlong
 * line and takes a partial one at the end; readuntil keeps the first and
 * fails on the second). */
static ssize_t read_until(mt_stream *s, mt_buf *out, const void *sep, size_t seplen, bool line)
{
    if (!out || !sep || !seplen)
        return -EINVAL;
    int err = read_begin(s);
    if (err)
        return err;
    ssize_t r;
    size_t scanned = 0; /* buffered bytes known to hold no separator start */
    for (;;) {
        const char *p = s->buf.data + s->start;
        size_t have = buffered(s);
        const char *hit = NULL;
        if (have >= seplen)
            hit = memmem(p + scanned, have - scanned, sep, seplen);
        if (hit) {
            size_t len = (size_t)(hit - p) + seplen;
            if (len <= s->limit) {
                r = hand_out(s, out, len);
                break;
            }
            if (line)
                consume(s, len);
            r = -EMSGSIZE;
            break;
        }
        if (have >= s->limit) {
            /* No separator in the first `limit` bytes: the line is longer. */
            if (line)
                consume(s, have);
            r = -EMSGSIZE;
            break;
        }
        scanned = have >= seplen ? have - seplen + 1 : 0;
        r = fill(s, CHUNK);
        if (r < 0)
            break;
        if (r == 0) {
            /* The end came first: readline returns what is left (0 bytes
             * at the very end), readuntil fails with it. */
            ssize_t n = hand_out(s, out, buffered(s));
            r = n < 0 || line ? n : MT_EOF;
            break;
        }
    }
    s->reading = false;
    return r;
}

ssize_t mt_stream_readuntil(mt_stream *s, mt_buf *out, const void *sep, size_t seplen)
{
    return read_until(s, out, sep, seplen, false);
}

ssize_t mt_stream_readline(mt_stream *s, mt_buf *line)
{
    return read_until(s, line, "\n", 1, true);
}

/* ---- writing ---------------------------------------------------------- */

int mt_stream_write(mt_stream *s, const void *data, size_t len)
{
    if (!mt__current())
        return MT_ENOTCORO;
    if (!s || (!data && len))
        return -EINVAL;
    if (s->writing)
        return -EBUSY;
    if (s->closed)
        return -EPIPE;
    s->writing = true;
    int err = mt__fd_sendall(s->fd, s->sock, data, len);
    s->writing = false;
    return err;
}

int mt_stream_close(mt_stream *s)
{
    if (!s)
        return -EINVAL;
    if (s->closed)
        return 0;
    if (!s->sock)
        return -ENOTSOCK;
    if (shutdown(s->fd, SHUT_WR) != 0)
        return -errno;
    s->closed = true;
    return 0;
}
