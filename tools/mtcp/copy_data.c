/*
 * copy_data.c - moving the bytes of one range of a file, by the fastest path
 * the two filesystems allow: a reflink (FICLONE) shares the blocks and
 * copies nothing; copy_file_range copies inside the kernel; read/write with
 * a 1 MiB buffer works everywhere. Each falls back to the next, per file, on
 * the errors that mean "not here" (EXDEV, EINVAL, EOPNOTSUPP, ENOSYS,
 * EPERM), and an operand remembers a path that can never work for it.
 * Holes are found with SEEK_DATA/SEEK_HOLE and left as holes; --sparse=always
 * also turns blocks of zeros into holes. Every chunk is credited to the
 * progress display as it lands, and --bwlimit paces the chunks.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "mtcp.h"

#define BLOCK 4096u
#define CFR_CHUNK (64u << 20)

void mtcp_credit(mtcp *m, mtcp_worker *w, uint64_t n)
{
    uint64_t left = w->budget > w->credited ? w->budget - w->credited : 0;
    uint64_t give = n < left ? n : left;
    if (give == 0)
        return;
    w->credited += give;
    mt_progress_advance(m->progress, give, 0);
    mt_progress_slot_advance(m->progress, w->index, give);
}

/* --bwlimit: sleep until the bytes copied so far are within the rate. */
static void pace(mtcp *m, uint64_t n)
{
    if (!m->o->bwlimit)
        return;
    uint64_t total = atomic_fetch_add(&m->bw_bytes, n) + n;
    uint64_t due = m->start_ns + (uint64_t)((double)total * 1e9 / (double)m->o->bwlimit);
    for (;;) {
        uint64_t now = mt_monotonic_ns();
        if (now >= due || mtcp_stopping(m))
            return;
        uint64_t nap = due - now < 50000000u ? due - now : 50000000u;
        nanosleep(&(struct timespec){0, (long)nap}, NULL);
    }
}

/* The most bytes per step: small steps when paced, so that pacing is smooth
 * and a stop is quick. */
static uint64_t step(mtcp *m, uint64_t max)
{
    if (!m->o->bwlimit)
        return max;
    uint64_t s = m->o->bwlimit / 20;
    s = s < 16384 ? 16384 : s;
    return s < max ? s : max;
}

static int pwrite_all(int fd, const char *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t k = pwrite(fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

static bool zeros(const char *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Write n bytes at off, leaving blocks of zeros unwritten (holes). */
static int write_sparse(int fd, const char *p, size_t n, uint64_t off)
{
    size_t i = 0;
    while (i < n) {
        size_t len = n - i < BLOCK ? n - i : BLOCK;
        if (zeros(p + i, len)) {
            i += len;
            continue;
        }
        size_t j = i + len;
        while (j < n) {
            size_t l2 = n - j < BLOCK ? n - j : BLOCK;
            if (zeros(p + j, l2))
                break;
            j += l2;
        }
        int err = pwrite_all(fd, p + i, j - i, off + i);
        if (err < 0)
            return err;
        i = j;
    }
    return 0;
}

/* Errors of copy_file_range that mean "use read/write instead". */
static bool cfr_unsupported(int e)
{
    return e == EXDEV || e == EINVAL || e == EOPNOTSUPP || e == ENOSYS || e == EPERM ||
           e == ETXTBSY;
}

/* Copy [pos, pos + len) that holds data. *rw switches to read/write. */
static int copy_segment(mtcp *m, mtcp_worker *w, mtcp_operand *op, int sfd, int tfd, uint64_t pos,
                        uint64_t len, bool *rw)
{
    bool sparse = m->o->sparse == MTCP_ALWAYS;
    while (len > 0) {
        if (mtcp_stopping(m))
            return -ECANCELED;
        ssize_t n;
        if (!*rw) {
            loff_t in = (loff_t)pos, out = (loff_t)pos;
            n = copy_file_range(sfd, &in, tfd, &out, step(m, len < CFR_CHUNK ? len : CFR_CHUNK), 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && cfr_unsupported(errno)) {
                if (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP)
                    atomic_store(&op->no_cfr, true);
                *rw = true;
                continue;
            }
        } else {
            n = pread(sfd, w->buf, step(m, len < MTCP_BUF ? len : MTCP_BUF), (off_t)pos);
            if (n < 0 && errno == EINTR)
                continue;
            if (n > 0) {
                int err = sparse ? write_sparse(tfd, w->buf, (size_t)n, pos)
                                 : pwrite_all(tfd, w->buf, (size_t)n, pos);
                if (err < 0)
                    return err;
            }
        }
        if (n < 0)
            return -errno;
        if (n == 0)
            return MTCP_ECHANGED; /* the file ended early: it shrank */
        pos += (uint64_t)n;
        len -= (uint64_t)n;
        mtcp_credit(m, w, (uint64_t)n);
        pace(m, (uint64_t)n);
    }
    return 0;
}

int mtcp_copy_range(mtcp *m, mtcp_worker *w, mtcp_operand *op, int sfd, int tfd,
                    const struct stat *st, uint64_t off, uint64_t len)
{
    uint64_t size = (uint64_t)st->st_size, end = off + len;
    if (len == 0)
        return 0;
    bool whole = off == 0 && end == size;
    if (m->o->reflink != MTCP_NEVER && whole && !atomic_load(&op->no_reflink)) {
        if (ioctl(tfd, FICLONE, sfd) == 0) {
            mtcp_credit(m, w, len);
            return 0;
        }
        int e = errno;
        if (m->o->reflink == MTCP_ALWAYS)
            return -e;
        if (e == EOPNOTSUPP || e == EXDEV || e == ENOTTY || e == ENOSYS)
            atomic_store(&op->no_reflink, true);
    }
    bool rw = atomic_load(&op->no_cfr) || m->o->sparse == MTCP_ALWAYS;
    bool holes = m->o->sparse != MTCP_NEVER && (uint64_t)st->st_blocks * 512 < size;
    bool sparse_end = holes || m->o->sparse == MTCP_ALWAYS;
    uint64_t pos = off;
    while (pos < end) {
        uint64_t data = pos, seg_end = end;
        if (holes) {
            off_t d = lseek(sfd, (off_t)pos, SEEK_DATA);
            if (d < 0 && errno == ENXIO)
                break; /* only a hole is left */
            if (d < 0) {
                holes = false; /* the filesystem cannot tell: copy it all */
                d = (off_t)pos;
            }
            if ((uint64_t)d >= end)
                break;
            off_t h = holes ? lseek(sfd, d, SEEK_HOLE) : (off_t)end;
            data = (uint64_t)d;
            seg_end = h < 0 || (uint64_t)h > end ? end : (uint64_t)h;
            mtcp_credit(m, w, data - pos);
        }
        int err = copy_segment(m, w, op, sfd, tfd, data, seg_end - data, &rw);
        if (err < 0)
            return err;
        pos = seg_end;
    }
    mtcp_credit(m, w, end - pos);
    if (sparse_end && end == size && ftruncate(tfd, (off_t)size) < 0)
        return -errno;
    return 0;
}
