/*
 * copy_file.c - the life of one regular file: open the source, skip it when
 * --resume finds it complete, write it under a temporary name in its
 * destination directory, check that the source did not change meanwhile,
 * verify, set its metadata and rename it into place. A name in the
 * destination only ever holds a complete file.
 *
 * Big files (MTCP_BIG_FILE and up) are copied in ranges: the worker that
 * opens one copies its ranges in turn, idle workers help, and whoever
 * finishes the last range completes the file. Their temporary file records
 * which ranges are done (an xattr), so that --resume after a kill finishes
 * it instead of starting over.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include "mtcp.h"

#define XATTR_SRC "user.mtcp.src"
#define XATTR_RANGES "user.mtcp.ranges"

typedef struct mtcp_bigfile {
    struct mtcp_bigfile *next; /* in m->helpable, while ranges are unclaimed */
    atomic_int refs;           /* the owner's, and one per range in hand */
    pthread_mutex_t mu;        /* guards map and the xattr that mirrors it */
    mtcp_node *dir;
    char *name, *dname, *path;
    int sfd, tfd;
    struct stat st;
    uint64_t walked;
    char tmp[MTCP_TMPNAME];
    uint64_t nranges;
    atomic_uint_fast64_t claimed; /* the next range to claim */
    uint8_t *map;              /* ranges done */
    bool resumable;            /* the xattrs could be written */
    atomic_int err;
    const char *what;
    void *hl;
} mtcp_bigfile;

static bool same_time(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* Whether the source changed between two looks at it. */
static bool changed(const struct stat *a, const struct stat *b)
{
    return a->st_size != b->st_size || !same_time(&a->st_mtim, &b->st_mtim) ||
           !same_time(&a->st_ctim, &b->st_ctim) || a->st_ino != b->st_ino;
}

/* Start writing back the source's pages that were written but are not on
 * disk yet, before its times are taken. A process that writes the file
 * through a shared mapping stamps its times only when it writes to a page
 * that is clean: once the pages are sent to disk, every such write during
 * the copy shows in changed(). (Writes into a page dirtied after this, or
 * on a filesystem that never stamps them, such as tmpfs, do not show:
 * --verify reads both sides back.) */
static void settle(int sfd)
{
    sync_file_range(sfd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

static int make_file(void *mode, int dfd, const char *tmp)
{
    int fd = openat(dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, *(mode_t *)mode);
    return fd >= 0 ? fd : -errno;
}

/* Create dname's temporary file, from temporary name index `first` on. */
static int open_tmp(mtcp *m, mtcp_node *dir, const char *dname, char tmp[MTCP_TMPNAME],
                    int first, const struct stat *st)
{
    mode_t mode = mtcp_create_mode(m, st);
    return mtcp_tmp_make(dir, dname, tmp, first, make_file, &mode);
}

/* Whether --resume finds the destination complete: same size and mtime. */
static bool complete_at_dest(mtcp *m, mtcp_node *dir, const char *dname, const struct stat *st)
{
    struct stat d;
    return m->o->resume && fstatat(dir->dfd, dname, &d, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISREG(d.st_mode) && d.st_size == st->st_size && same_time(&d.st_mtim, &st->st_mtim);
}

/* Whether a file at dname that we may not write stays, as cp -a leaves it
 * (it opens the file to write it, and fails): root writes anything. */
static bool read_only_at_dest(mtcp *m, mtcp_node *dir, const char *dname)
{
    struct stat d;
    return !m->o->root && fstatat(dir->dfd, dname, &d, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISREG(d.st_mode) && faccessat(dir->dfd, dname, W_OK, AT_EACCESS) < 0 &&
           errno == EACCES;
}

/* Whether dfd/tmp is still the file open as tfd. */
static bool tmp_is_ours(int dfd, const char *tmp, int tfd)
{
    struct stat ours, named;
    return fstat(tfd, &ours) == 0 && fstatat(dfd, tmp, &named, AT_SYMLINK_NOFOLLOW) == 0 &&
           named.st_dev == ours.st_dev && named.st_ino == ours.st_ino;
}

/* Remove a temporary file that is not to be put in place, by name only while
 * the name is still ours (see finish_tmp). */
static void drop_tmp(int dfd, const char *tmp, int tfd)
{
    if (tmp_is_ours(dfd, tmp, tfd))
        unlinkat(dfd, tmp, 0);
}

/* Metadata, fsync, rename: the temporary file becomes the file. */
static int finish_tmp(mtcp *m, mtcp_worker *w, mtcp_node *dir, int sfd, int tfd,
                      const char *tmp, const char *dname, const struct stat *st, const char **what)
{
    struct stat now;
    if (fstat(sfd, &now) < 0)
        return -errno;
    if (changed(st, &now))
        return MTCP_ECHANGED;
    if (m->o->verify) {
        *what = "cannot verify";
        int err = mtcp_verify(w, sfd, tfd, (uint64_t)st->st_size);
        if (err < 0)
            return err;
    }
    *what = "cannot set the attributes of";
    int err = mtcp_meta_fd(m, tfd, st, sfd, false);
    if (err < 0)
        return err;
    *what = "cannot write";
    if (m->o->fsync && fsync(tfd) < 0)
        return -errno;
    /* once more, as late as can be: verify, fsync and the rest took time */
    if (fstat(sfd, &now) < 0)
        return -errno;
    if (changed(st, &now)) {
        *what = "cannot copy";
        return MTCP_ECHANGED;
    }
    *what = "cannot rename into place";
    /* The name must still be the file we wrote: a source file named like one
     * of our temporaries (a killed run's leftover, copied back) may have been
     * put there meanwhile, and renaming it would put the wrong bytes under
     * dname. */
    if (!tmp_is_ours(dir->dfd, tmp, tfd))
        return MTCP_ETMPGONE;
    if (renameat(dir->dfd, tmp, dir->dfd, dname) < 0)
        return -errno;
    return 0;
}

/* A file's end, copied or not: the last of its bytes and its item. */
static void file_end(mtcp *m, mtcp_worker *w)
{
    mtcp_credit(m, w, w->budget);
    mt_progress_advance(m->progress, 0, 1);
    mt_progress_slot_end(m->progress, w->index);
}

/* Report a file that failed, or that a stop left incomplete. */
static void file_error(mtcp *m, const char *path, const char *what, int err)
{
    if (err == -ENOSPC || err == -EDQUOT || err == -EFBIG) {
        mtcp_stop(m, err);
        what = "incomplete";
    }
    if (err == -ECANCELED) {
        int why = atomic_load(&m->stop);
        err = why ? why : err;
        what = "incomplete";
    }
    if (strcmp(what, "incomplete") == 0)
        atomic_fetch_add(&m->files_incomplete, 1);
    mtcp_error(m, path, what, err);
    atomic_fetch_add(&m->files_failed, 1);
    mt_progress_failed(m->progress, 1);
}

static int big_start(mtcp *m, mtcp_worker *w, mtcp_node *dir, const char *name,
                     const char *dname, char *path, int sfd, const struct stat *st, void *hl);

int mtcp_copy_one(mtcp *m, mtcp_worker *w, mtcp_node *dir, const char *name, const char *dname,
                  uint64_t walked)
{
    char tmp[MTCP_TMPNAME];
    struct stat st;
    int sfd = -1, tfd = -1, err = 0;
    void *hl = NULL;
    const char *what = "cannot open";
    char *path = mtcp_path(dir, name);
    if (!path) {
        mtcp_stop(m, -ENOMEM);
        return -ENOMEM;
    }
    w->budget = walked;
    w->credited = 0;
    mt_progress_slot_start(m->progress, w->index, path, walked);
    if (m->o->dry_run) {
        mtcp_verbose(m, path, "would copy");
        goto out;
    }
    sfd = openat(dir->sfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (sfd >= 0)
        settle(sfd);
    if (sfd < 0 || fstat(sfd, &st) < 0) {
        err = -errno;
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        err = MTCP_ECHANGED;
        goto fail;
    }
    if ((uint64_t)st.st_size > walked) {
        mt_progress_add_total(m->progress, (uint64_t)st.st_size - walked, 0);
        w->budget = (uint64_t)st.st_size;
    }
    if (m->o->keep_links && st.st_nlink > 1) {
        what = "cannot link";
        err = mtcp_hl_claim(m, &st, dir, dname, w->budget, &hl);
        if (err < 0)
            goto fail;
        if (err != MTCP_HL_OWNER) {
            err = 0;
            goto out;
        }
    }
    if (complete_at_dest(m, dir, dname, &st)) {
        atomic_fetch_add(&m->files_skipped, 1);
        mt_progress_skipped(m->progress, 1);
        mtcp_hl_done(m, hl, true, dir, dname);
        goto out;
    }
    if (read_only_at_dest(m, dir, dname)) {
        what = "cannot replace the read-only copy of";
        err = -EACCES;
        goto fail;
    }
    if ((uint64_t)st.st_size >= MTCP_BIG_FILE) {
        err = big_start(m, w, dir, name, dname, path, sfd, &st, hl);
        return err;
    }
    what = "cannot create";
    tfd = open_tmp(m, dir, dname, tmp, 0, &st);
    if (tfd < 0) {
        err = tfd;
        goto fail;
    }
    what = "cannot copy";
    err = mtcp_copy_range(m, w, dir->op, sfd, tfd, &st, 0, (uint64_t)st.st_size);
    if (err == 0)
        err = finish_tmp(m, w, dir, sfd, tfd, tmp, dname, &st, &what);
    if (err < 0)
        goto fail;
    close(tfd);
    atomic_fetch_add(&m->files_copied, 1);
    atomic_fetch_add(&m->bytes_copied, (uint64_t)st.st_size);
    mtcp_verbose(m, path, NULL);
    mtcp_hl_done(m, hl, true, dir, dname);
out:
    file_end(m, w);
    if (sfd >= 0)
        close(sfd);
    free(path);
    return err;
fail:
    if (tfd >= 0) {
        drop_tmp(dir->dfd, tmp, tfd);
        close(tfd);
    }
    file_error(m, path, what, err);
    mtcp_hl_done(m, hl, false, dir, dname);
    goto out;
}

void mtcp_do_files(mtcp *m, mtcp_worker *w, mtcp_job *j)
{
    size_t off = 0;
    for (size_t i = 0; i < j->n; i++) {
        uint64_t size;
        memcpy(&size, j->data + off, sizeof size);
        const char *name = j->data + off + sizeof size;
        off += sizeof size + strlen(name) + 1;
        if (mtcp_stopping(m)) {
            /* Not started: neither copied nor failed, but counted done so
             * that the display ends at its total. */
            mt_progress_advance(m->progress, size, 1);
            atomic_fetch_add(&m->files_not_started, 1);
            continue;
        }
        mtcp_copy_one(m, w, j->dir, name, j->n == 1 && j->dname ? j->dname : name, size);
    }
}

/* ---- big files ----------------------------------------------------------- */

static void big_free(mtcp *m, mtcp_bigfile *b)
{
    if (b->tfd >= 0)
        close(b->tfd);
    close(b->sfd);
    mtcp_node_unref(m, b->dir);
    pthread_mutex_destroy(&b->mu);
    free(b->map);
    free(b->name);
    free(b->dname);
    free(b->path);
    free(b);
}

/* The last range is done: complete the file, or clean up. */
static void big_finish(mtcp *m, mtcp_worker *w, mtcp_bigfile *b)
{
    int err = atomic_load(&b->err);
    const char *what = b->what ? b->what : "cannot copy";
    if (err == 0 && mtcp_stopping(m))
        err = -ECANCELED;
    if (err == 0 && b->resumable) {
        fremovexattr(b->tfd, XATTR_SRC);
        fremovexattr(b->tfd, XATTR_RANGES);
    }
    if (err == 0)
        err = finish_tmp(m, w, b->dir, b->sfd, b->tfd, b->tmp, b->dname, &b->st, &what);
    if (err < 0) {
        /* After an interrupt the temporary file goes too: only a kill
         * leaves one behind for --resume. */
        drop_tmp(b->dir->dfd, b->tmp, b->tfd);
        file_error(m, b->path, what, err);
        mtcp_hl_done(m, b->hl, false, b->dir, b->dname);
    } else {
        atomic_fetch_add(&m->files_copied, 1);
        atomic_fetch_add(&m->bytes_copied, (uint64_t)b->st.st_size);
        mtcp_verbose(m, b->path, NULL);
        mtcp_hl_done(m, b->hl, true, b->dir, b->dname);
    }
    if (b->walked > (uint64_t)b->st.st_size)
        mt_progress_advance(m->progress, b->walked - (uint64_t)b->st.st_size, 0);
    mt_progress_advance(m->progress, 0, 1);
    big_free(m, b);
}

static void big_unref(mtcp *m, mtcp_worker *w, mtcp_bigfile *b)
{
    if (atomic_fetch_sub(&b->refs, 1) == 1)
        big_finish(m, w, b);
}

/* Copy range r of b (or only count it, when it is done or b failed). */
static void big_range(mtcp *m, mtcp_worker *w, mtcp_bigfile *b, uint64_t r)
{
    uint64_t off = r * MTCP_RANGE, size = (uint64_t)b->st.st_size;
    uint64_t len = size - off < MTCP_RANGE ? size - off : MTCP_RANGE;
    w->budget = len;
    w->credited = 0;
    pthread_mutex_lock(&b->mu); /* neighbours in the byte change it */
    bool done = b->map[r / 8] & (1u << (r % 8));
    pthread_mutex_unlock(&b->mu);
    if (!done && atomic_load(&b->err) == 0 && !mtcp_stopping(m)) {
        mt_progress_slot_start(m->progress, w->index, b->path, len);
        int err = mtcp_copy_range(m, w, b->dir->op, b->sfd, b->tfd, &b->st, off, len);
        if (err == 0 && m->o->fsync && b->resumable && fdatasync(b->tfd) < 0)
            err = -errno;
        if (err < 0) {
            int none = 0;
            atomic_compare_exchange_strong(&b->err, &none, err);
        } else if (b->resumable) {
            pthread_mutex_lock(&b->mu);
            b->map[r / 8] |= (uint8_t)(1u << (r % 8));
            fsetxattr(b->tfd, XATTR_RANGES, b->map, (b->nranges + 7) / 8, 0);
            pthread_mutex_unlock(&b->mu);
        }
        mt_progress_slot_end(m->progress, w->index);
    }
    mtcp_credit(m, w, len);
}

mtcp_job *mtcp_big_job(mtcp *m)
{
    while (m->helpable) {
        mtcp_bigfile *b = m->helpable;
        uint64_t r = atomic_fetch_add(&b->claimed, 1);
        if (r < b->nranges) {
            mtcp_job *j = calloc(1, sizeof *j + sizeof r);
            if (!j)
                return NULL;
            atomic_fetch_add(&b->refs, 1);
            j->kind = MTCP_JOB_RANGE;
            j->big = b;
            memcpy(j->data, &r, sizeof r);
            return j;
        }
        m->helpable = b->next;
    }
    return NULL;
}

void mtcp_do_range(mtcp *m, mtcp_worker *w, mtcp_job *j)
{
    uint64_t r;
    memcpy(&r, j->data, sizeof r);
    big_range(m, w, j->big, r);
    big_unref(m, w, j->big);
    j->big = NULL;
}

/* --resume: reuse a temporary file left by a killed run when it belongs to
 * this very source, with the ranges it says are done. */
static int big_reopen(mtcp *m, mtcp_bigfile *b, const char *marker)
{
    char have[96];
    if (!m->o->resume)
        return -ENOENT;
    int fd = openat(b->dir->dfd, b->tmp, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = fgetxattr(fd, XATTR_SRC, have, sizeof have - 1);
    struct stat d;
    /* ours: our marker, the size, and one name (not a link to another file) */
    if (n < 0 || (have[n] = '\0', strcmp(have, marker) != 0) || fstat(fd, &d) < 0 ||
        d.st_size != b->st.st_size || d.st_nlink != 1 ||
        fgetxattr(fd, XATTR_RANGES, b->map, (b->nranges + 7) / 8) < 0) {
        memset(b->map, 0, (b->nranges + 7) / 8);
        close(fd);
        return -ENOENT;
    }
    return fd;
}

static int big_start(mtcp *m, mtcp_worker *w, mtcp_node *dir, const char *name,
                     const char *dname, char *path, int sfd, const struct stat *st, void *hl)
{
    char marker[96];
    const char *what = "cannot create";
    int err = 0;
    mtcp_bigfile *b = calloc(1, sizeof *b);
    uint64_t nranges = ((uint64_t)st->st_size + MTCP_RANGE - 1) / MTCP_RANGE;
    if (b)
        b->tfd = -1;
    if (!b || !(b->map = calloc((nranges + 7) / 8, 1)) || !(b->name = strdup(name)) ||
        !(b->dname = strdup(dname))) {
        err = -ENOMEM;
        goto fail;
    }
    atomic_init(&b->refs, 1);
    pthread_mutex_init(&b->mu, NULL);
    b->dir = dir;
    mtcp_node_ref(dir);
    b->path = path;
    b->sfd = sfd;
    b->st = *st;
    b->walked = w->budget > (uint64_t)st->st_size ? w->budget : (uint64_t)st->st_size;
    b->nranges = nranges;
    b->hl = hl;
    /* A big file's temporary name lives long: it must not be one a file
     * copied beside it will be renamed to. */
    int first = mtcp_tmp_first_free(dir, dname, b->tmp);
    snprintf(marker, sizeof marker, "%jd %jd.%09ld", (intmax_t)st->st_size,
             (intmax_t)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
    b->tfd = first < 0 ? first : big_reopen(m, b, marker);
    if (b->tfd < 0) {
        b->tfd = open_tmp(m, dir, dname, b->tmp, first, st);
        if (b->tfd < 0) {
            err = b->tfd;
            goto fail;
        }
        if (ftruncate(b->tfd, st->st_size) < 0) {
            err = -errno;
            what = "cannot write";
            goto fail;
        }
        b->resumable = fsetxattr(b->tfd, XATTR_SRC, marker, strlen(marker), 0) == 0;
    } else {
        b->resumable = true;
    }
    mt_progress_slot_end(m->progress, w->index);
    bool cloned = false;
    if (m->o->reflink != MTCP_NEVER && !atomic_load(&dir->op->no_reflink)) {
        cloned = ioctl(b->tfd, FICLONE, sfd) == 0;
        if (!cloned && m->o->reflink == MTCP_ALWAYS) {
            atomic_store(&b->err, -errno);
            b->what = "cannot clone";
        }
    }
    if (cloned || atomic_load(&b->err))
        memset(b->map, 0xff, (nranges + 7) / 8);
    /* Let idle workers help, then take ranges in turn. */
    pthread_mutex_lock(&m->mu);
    b->next = m->helpable;
    m->helpable = b;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    uint64_t r;
    while ((r = atomic_fetch_add(&b->claimed, 1)) < b->nranges)
        big_range(m, w, b, r);
    pthread_mutex_lock(&m->mu);
    for (mtcp_bigfile **p = &m->helpable; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            break;
        }
    pthread_mutex_unlock(&m->mu);
    big_unref(m, w, b);
    return 0;
fail:
    if (b && b->tfd >= 0) {
        drop_tmp(dir->dfd, b->tmp, b->tfd);
        close(b->tfd);
    }
    file_error(m, path, what, err);
    mtcp_hl_done(m, hl, false, dir, dname);
    file_end(m, w);
    close(sfd);
    free(path);
    if (b) {
        if (b->dir) {
            mtcp_node_unref(m, b->dir);
            pthread_mutex_destroy(&b->mu);
        }
        free(b->map);
        free(b->name);
        free(b->dname);
        free(b);
    }
    return err;
}
