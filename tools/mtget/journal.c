/*
 * journal.c - what --continue knows about earlier runs: an append-only file,
 * ".mtget-journal" in the output directory, one record per line:
 *
 *     <XXH64 of the rest, 16 hex> <kind>\t<url>\t<name>\t<size>\t<etag>\t<last-modified>\n
 *
 * kind is "done", "part" or "gone"; fields are percent-escaped ('%', tabs,
 * line ends and other control characters). Each record is one write(2), so
 * a kill leaves at most one torn last line; its checksum fails (or it has
 * no '\n') and replay skips it, as it skips any garbage. Opening cuts a torn
 * tail off, so that the next record starts its own line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "mtget.h"

#define NFIELDS 6
#define HASH_LEN 16

struct mtget_journal {
    int fd;
    unsigned flags;
    off_t end;  /* the file's size: ours alone to grow while we hold the lock */
    char *line; /* MTGET_JOURNAL_LINE_MAX bytes: a record being made or read */
};

static const char *const kinds[] = {NULL, "done", "part", "gone"};

/* Cut the file after its last '\n' when it does not end with one; *size
 * is its size after. */
static int cut_torn_tail(int fd, off_t *size)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    off_t end = st.st_size;
    char buf[4096];
    while (end > 0) {
        off_t start = end > (off_t)sizeof buf ? end - (off_t)sizeof buf : 0;
        ssize_t n = pread(fd, buf, (size_t)(end - start), start);
        if (n < 0)
            return -errno;
        if (n != end - start)
            return -EIO;
        if (end == st.st_size && buf[n - 1] == '\n') {
            *size = end;
            return 0;
        }
        char *nl = memrchr(buf, '\n', (size_t)n);
        if (nl) {
            end = start + (nl - buf) + 1;
            break;
        }
        end = start;
    }
    if (ftruncate(fd, end) < 0)
        return -errno;
    *size = end;
    return 0;
}

int mtget_journal_open(mtget_journal **out, int dirfd, unsigned flags)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    mtget_journal *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    j->flags = flags;
    j->fd = -1;
    int err = -ENOMEM;
    j->line = malloc(MTGET_JOURNAL_LINE_MAX);
    if (!j->line)
        goto fail;
    j->fd = openat(dirfd, MTGET_JOURNAL, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
                   0644);
    err = -errno;
    if (j->fd < 0)
        goto fail;
    struct stat st;
    /* Not a device, not another name of someone's file: opening cuts the
     * file's tail, which must only ever be our own torn line. */
    err = -EINVAL;
    if (fstat(j->fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1)
        goto fail;
    if (flock(j->fd, LOCK_EX | LOCK_NB) < 0) {
        err = errno == EWOULDBLOCK ? -EBUSY : -errno;
        goto fail;
    }
    err = cut_torn_tail(j->fd, &j->end);
    if (err < 0)
        goto fail;
    *out = j;
    return 0;
fail:
    mtget_journal_free(j);
    return err;
}

void mtget_journal_free(mtget_journal *j)
{
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd); /* releases the lock */
    free(j->line);
    free(j);
}

/* Append s escaped to the line at *n; -E2BIG when it does not fit. */
static int put_field(char *line, size_t *n, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*n + 4 > MTGET_JOURNAL_LINE_MAX)
            return -E2BIG;
        if (*p < 0x20 || *p == 0x7f || *p == '%')
            *n += (size_t)snprintf(line + *n, 4, "%%%02X", *p);
        else
            line[(*n)++] = (char)*p;
    }
    return 0;
}

int mtget_journal_append(mtget_journal *j, const mtget_record *rec)
{
    if (!j || !rec || !rec->url || !*rec->url || rec->kind < MTGET_REC_DONE ||
        rec->kind > MTGET_REC_GONE)
        return -EINVAL;
    char *line = j->line, size[24];
    snprintf(size, sizeof size, "%" PRIu64, rec->size);
    const char *fields[NFIELDS] = {kinds[rec->kind], rec->url, rec->name, size, rec->etag,
                                   rec->last_modified};
    size_t n = HASH_LEN + 1;
    for (int i = 0; i < NFIELDS; i++) {
        if (i > 0)
            line[n++] = '\t';
        int err = put_field(line, &n, fields[i]);
        if (err < 0)
            return err;
    }
    if (n + 1 > MTGET_JOURNAL_LINE_MAX)
        return -E2BIG;
    uint64_t h = XXH64(line + HASH_LEN + 1, n - HASH_LEN - 1, 0);
    char hex[HASH_LEN + 1];
    snprintf(hex, sizeof hex, "%016" PRIx64, h);
    memcpy(line, hex, HASH_LEN);
    line[HASH_LEN] = ' ';
    line[n++] = '\n';
    /* One write. Should it fall short (a full disk), the part written is
     * cut off again, so that the file keeps ending at a line's end. The end
     * is known without asking (lseek): only the lock's holder appends. */
    ssize_t w = write(j->fd, line, n);
    if (w != (ssize_t)n) {
        int err = w < 0 ? -errno : -EIO;
        if (w > 0 && ftruncate(j->fd, j->end) < 0)
            return -errno;
        return err;
    }
    j->end += (off_t)n;
    if ((j->flags & MTGET_JOURNAL_FSYNC) && fdatasync(j->fd) < 0)
        return -errno;
    return 0;
}

/* Decode a field in place; false for an escape that is not one of ours. */
static bool unescape(char *s)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < len; i++)
        if (s[i] == '%' && (i + 2 >= len || !strchr("0123456789ABCDEF", s[i + 1]) ||
                            !strchr("0123456789ABCDEF", s[i + 2]) || !s[i + 1] || !s[i + 2]))
            return false;
    mtget__pct_decode(s, s, len);
    return true;
}

/* Parse one line (no '\n', NUL-terminated in place) into rec. */
static bool parse_line(char *line, size_t len, mtget_record *rec)
{
    if (len < HASH_LEN + 2 || line[HASH_LEN] != ' ' || memchr(line, '\0', len))
        return false;
    char hex[HASH_LEN + 1];
    memcpy(hex, line, HASH_LEN);
    hex[HASH_LEN] = '\0';
    char *end;
    uint64_t h = strtoull(hex, &end, 16);
    if (*end || !strchr("0123456789abcdef", hex[0]) ||
        h != XXH64(line + HASH_LEN + 1, len - HASH_LEN - 1, 0))
        return false;
    char *f[NFIELDS], *p = line + HASH_LEN + 1;
    for (int i = 0; i < NFIELDS; i++) {
        f[i] = p;
        p = strchr(p, '\t');
        if ((p != NULL) != (i < NFIELDS - 1))
            return false;
        if (p)
            *p++ = '\0';
    }
    for (int i = 0; i < NFIELDS; i++)
        if (!unescape(f[i]))
            return false;
    rec->kind = 0;
    for (int k = MTGET_REC_DONE; k <= MTGET_REC_GONE; k++)
        if (strcmp(f[0], kinds[k]) == 0)
            rec->kind = k;
    if (!rec->kind || !*f[1] || !*f[3] || strspn(f[3], "0123456789") != strlen(f[3]))
        return false;
    errno = 0;
    rec->size = strtoull(f[3], NULL, 10);
    if (errno)
        return false;
    rec->url = f[1];
    rec->name = f[2];
    rec->etag = f[4];
    rec->last_modified = f[5];
    return true;
}

static int replay(int fd, char *buf, mtget_replay_fn *fn, void *ctx)
{
    size_t have = 0;
    off_t off = 0;
    bool skipping = false; /* inside an overlong line: drop it up to its end */
    int count = 0;
    for (;;) {
        ssize_t n = pread(fd, buf + have, MTGET_JOURNAL_LINE_MAX - have, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return count; /* what is left has no '\n': a torn line */
        off += n;
        have += (size_t)n;
        size_t start = 0;
        char *nl;
        while ((nl = memchr(buf + start, '\n', have - start))) {
            size_t len = (size_t)(nl - (buf + start));
            *nl = '\0';
            mtget_record rec;
            if (!skipping && parse_line(buf + start, len, &rec)) {
                int r = fn(ctx, &rec);
                if (r)
                    return r;
                count++;
            }
            skipping = false;
            start += len + 1;
        }
        memmove(buf, buf + start, have - start);
        have -= start;
        if (have == MTGET_JOURNAL_LINE_MAX) { /* no '\n' in a full buffer */
            skipping = true;
            have = 0;
        }
    }
}

int mtget_journal_replay(mtget_journal *j, mtget_replay_fn *fn, void *ctx)
{
    if (!j || !fn)
        return -EINVAL;
    char *buf = malloc(MTGET_JOURNAL_LINE_MAX + 1);
    if (!buf)
        return -ENOMEM;
    int r = replay(j->fd, buf, fn, ctx);
    free(buf);
    return r;
}
