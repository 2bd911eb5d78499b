/*
 * walk.c - the concurrent directory walk: directory nodes and their
 * lifetime, reading a directory into jobs (subdirectories to read, batches
 * of files to copy), and the entries copied on the spot (symlinks, FIFOs,
 * device nodes).
 *
 * Everything is opened relative to a directory fd with O_NOFOLLOW, so a
 * symlink is never followed, nor a path raced: a directory renamed while we
 * copy it cannot send us elsewhere. A node keeps its two fds open while
 * anything inside it is queued or running; the last reference out sets the
 * destination directory's metadata, after its contents.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mtcp.h"

/* Flush a batch of files at this many entries or bytes. */
#define BATCH_FILES 64
#define BATCH_BYTES (8u << 20)

char *mtcp_join(const char *dir, const char *name)
{
    char *s = NULL;
    if (!dir || !dir[0])
        return strdup(name);
    if (asprintf(&s, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name) < 0)
        return NULL;
    return s;
}

char *mtcp_path(const mtcp_node *dir, const char *name)
{
    return dir->pseudo ? strdup(dir->op->src) : mtcp_join(dir->rel, name);
}

mtcp_node *mtcp_node_pseudo(mtcp_operand *op)
{
    mtcp_node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    atomic_init(&n->refs, 1);
    n->op = op;
    n->sfd = op->src_parent;
    n->dfd = op->dst_parent;
    n->pseudo = true;
    n->drel = strdup("");
    if (!n->drel) {
        free(n);
        return NULL;
    }
    return n;
}

void mtcp_node_ref(mtcp_node *n)
{
    atomic_fetch_add_explicit(&n->refs, 1, memory_order_relaxed);
}

/* The last reference is gone: everything inside is done. */
static void finish_dir(mtcp *m, mtcp_node *n)
{
    /* the copy's top directory: complete when nothing failed */
    if (n->dfd >= 0 && n->parent->pseudo && n->op->mark && !mtcp_stopping(m) &&
        atomic_load(&m->files_failed) == 0)
        mtcp_mark_clear(n->dfd, n->op->mark);
    if (n->dfd >= 0 && !mtcp_stopping(m)) {
        int err = mtcp_meta_fd(m, n->dfd, &n->st, n->sfd, true);
        if (err == 0 && m->o->fsync && fsync(n->dfd) < 0)
            err = -errno;
        if (err < 0) {
            mtcp_error(m, n->rel, "cannot set the attributes of", err);
            atomic_fetch_add(&m->files_failed, 1);
            mt_progress_failed(m->progress, 1);
            if (err == -ENOSPC || err == -EDQUOT)
                mtcp_stop(m, err);
        }
    }
    close(n->sfd);
    if (n->dfd >= 0)
        close(n->dfd);
}

void mtcp_node_unref(mtcp *m, mtcp_node *n)
{
    while (n && atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) == 1) {
        mtcp_node *parent = n->parent;
        if (!n->pseudo)
            finish_dir(m, n);
        free(n->rel);
        free(n->drel);
        free(n);
        n = parent;
    }
}

mtcp_job *mtcp_job_new(int kind, mtcp_node *dir, const char *name, const char *dname)
{
    size_t nlen = strlen(name) + 1;
    size_t dlen = dname && strcmp(dname, name) != 0 ? strlen(dname) + 1 : 0;
    mtcp_job *j = calloc(1, sizeof *j + nlen + dlen);
    if (!j)
        return NULL;
    j->kind = kind;
    j->dir = dir;
    j->len = nlen;
    j->mem = sizeof *j + nlen + dlen;
    memcpy(j->data, name, nlen);
    if (dlen) {
        j->dname = j->data + nlen;
        memcpy(j->dname, dname, dlen);
    }
    mtcp_node_ref(dir);
    return j;
}

void mtcp_job_free(mtcp *m, mtcp_job *j)
{
    if (!j)
        return;
    mtcp_node_unref(m, j->dir);
    free(j);
}

/* Whether an --exclude pattern matches: patterns with a '/' match the path
 * below the SOURCE, others the name alone. */
static bool excluded(mtcp *m, const mtcp_node *dir, const char *name)
{
    if (m->o->nexcludes == 0 || dir->pseudo)
        return false;
    size_t skip = strlen(dir->op->src);
    const char *below = strlen(dir->rel) > skip ? dir->rel + skip + 1 : "";
    char *rel = NULL;
    for (int i = 0; i < m->o->nexcludes; i++) {
        const char *pat = m->o->excludes[i];
        if (!strchr(pat, '/')) {
            if (fnmatch(pat, name, FNM_PERIOD) == 0)
                goto yes;
            continue;
        }
        if (!rel && !(rel = mtcp_join(below, name)))
            return false;
        if (fnmatch(pat[0] == '/' ? pat + 1 : pat, rel, FNM_PATHNAME | FNM_PERIOD) == 0)
            goto yes;
    }
    free(rel);
    return false;
yes:
    free(rel);
    return true;
}

/* Read the target of the symlink `name` in dirfd; NULL with errno set. */
static char *read_link(int dirfd, const char *name, size_t hint)
{
    size_t size = hint ? hint + 1 : 256;
    for (;;) {
        char *t = malloc(size);
        if (!t)
            return NULL;
        ssize_t n = readlinkat(dirfd, name, t, size);
        if (n < 0) {
            free(t);
            return NULL;
        }
        if ((size_t)n < size) {
            t[n] = '\0';
            return t;
        }
        free(t);
        size *= 2;
    }
}

typedef struct other {
    mtcp *m;
    mtcp_node *dir;
    const char *name, *dname, *path;
    const struct stat *st;
} other;

/* Make the symlink, FIFO or device o->st describes under the temporary name
 * tmp in dfd, o->dir's destination. Returns 0, 1 when it was skipped, or
 * -errno. */
static int make_other(void *ctx, int dfd, const char *tmp)
{
    const other *o = ctx;
    mtcp *m = o->m;
    mtcp_node *dir = o->dir;
    const char *name = o->name, *dname = o->dname, *path = o->path;
    const struct stat *st = o->st;
    if (S_ISLNK(st->st_mode)) {
        char *target = read_link(dir->sfd, name, (size_t)st->st_size);
        if (!target)
            return -errno;
        int err = 0;
        if (m->o->resume) {
            char *have = read_link(dir->dfd, dname, 0);
            bool same = have && strcmp(have, target) == 0;
            free(have);
            if (same) {
                free(target);
                return 1;
            }
        }
        if (symlinkat(target, dfd, tmp) < 0)
            err = -errno;
        free(target);
        return err;
    }
    if (S_ISSOCK(st->st_mode)) {
        mtcp_warn(m, "skipping socket '%s'", path);
        return 1;
    }
    if ((S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) && !m->o->root) {
        mtcp_warn(m, "skipping device '%s': only root can make device nodes", path);
        return 1;
    }
    /* Made with its final permission bits unless its owner is to change
     * (the umask is 0 here): no chmod is needed on the way. */
    mode_t mode = mtcp_create_mode(m, st);
    if (mknodat(dfd, tmp, (st->st_mode & S_IFMT) | mode, st->st_rdev) < 0) {
        if (errno == EPERM && !S_ISFIFO(st->st_mode)) {
            mtcp_warn(m, "skipping device '%s': %s", path, strerror(errno));
            return 1;
        }
        return -errno;
    }
    return 0;
}

/* Copy an entry that is neither a directory nor a regular file. */
static void copy_other(mtcp *m, mtcp_node *dir, const char *name, const char *dname,
                       const struct stat *st)
{
    char tmp[MTCP_TMPNAME];
    char *path = mtcp_path(dir, name);
    if (!path) {
        mtcp_stop(m, -ENOMEM);
        return;
    }
    mt_progress_add_total(m->progress, 0, 1);
    int err = 0;
    if (m->o->dry_run) {
        mtcp_verbose(m, path, "would copy");
        goto out;
    }
    other o = {m, dir, name, dname, path, st};
    err = mtcp_tmp_make(dir, dname, tmp, mtcp_tmp_first_free(dir, dname, tmp), make_other, &o);
    if (err == 0) {
        err = mtcp_meta_node(m, dir->dfd, tmp, st);
        if (err == 0 && renameat(dir->dfd, tmp, dir->dfd, dname) < 0)
            err = -errno;
        if (err < 0)
            unlinkat(dir->dfd, tmp, 0);
    }
    if (err < 0) {
        mtcp_error(m, path, "cannot copy", err);
        atomic_fetch_add(&m->files_failed, 1);
        mt_progress_failed(m->progress, 1);
    } else if (err == 1) {
        atomic_fetch_add(&m->files_skipped, 1);
        mt_progress_skipped(m->progress, 1);
    } else {
        atomic_fetch_add(&m->files_copied, 1);
        mtcp_verbose(m, path, NULL);
    }
out:
    mt_progress_advance(m->progress, 0, 1);
    free(path);
}

/* Files of one directory waiting to become a FILES job. */
typedef struct batch {
    mt_buf b;
    size_t n;
    uint64_t bytes;
} batch;

static void flush(mtcp *m, mtcp_node *dir, batch *bt)
{
    if (bt->n == 0)
        return;
    mtcp_job *j = calloc(1, sizeof *j + bt->b.len);
    if (!j) {
        mtcp_stop(m, -ENOMEM);
        goto out;
    }
    j->kind = MTCP_JOB_FILES;
    j->dir = dir;
    j->n = bt->n;
    j->len = bt->b.len;
    j->mem = sizeof *j + bt->b.len;
    memcpy(j->data, bt->b.data, bt->b.len);
    mtcp_node_ref(dir);
    mtcp_push(m, j);
out:
    mt_buf_reset(&bt->b);
    bt->n = 0;
    bt->bytes = 0;
}

static void add_file(mtcp *m, mtcp_node *dir, batch *bt, const char *name, uint64_t size)
{
    if (size >= MTCP_BIG_FILE)
        flush(m, dir, bt);
    if (mt_buf_append(&bt->b, &size, sizeof size) < 0 ||
        mt_buf_append(&bt->b, name, strlen(name) + 1) < 0) {
        mtcp_stop(m, -ENOMEM);
        return;
    }
    bt->n++;
    bt->bytes += size;
    if (bt->n >= BATCH_FILES || bt->bytes >= BATCH_BYTES)
        flush(m, dir, bt);
}

/* Open (and in the destination make) the directory `name` of parent. */
static mtcp_node *open_dir(mtcp *m, mtcp_node *parent, const char *name, const char *dname)
{
    char *path = mtcp_path(parent, name);
    mtcp_node *n = calloc(1, sizeof *n);
    if (!path || !n) {
        free(path);
        free(n);
        mtcp_stop(m, -ENOMEM);
        return NULL;
    }
    n->rel = path;
    n->op = parent->op;
    n->dfd = -1;
    atomic_init(&n->refs, 1);
    const char *what = "cannot open directory";
    int err = 0;
    n->sfd = openat(parent->sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (n->sfd < 0 || fstat(n->sfd, &n->st) < 0)
        goto fail;
    n->drel = mtcp_join(parent->drel, dname);
    if (!n->drel) {
        errno = ENOMEM;
        goto fail;
    }
    if (!m->o->dry_run) {
        struct stat dst;
        what = "cannot create directory";
        if (mkdirat(parent->dfd, dname, 0700) < 0) {
            if (errno != EEXIST)
                goto fail;
            if (fstatat(parent->dfd, dname, &dst, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(dst.st_mode)) {
                what = "cannot overwrite non-directory with directory";
                errno = EEXIST;
                goto fail;
            }
        }
        n->dfd = openat(parent->dfd, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (n->dfd < 0)
            goto fail;
        what = "cannot mark the unfinished copy";
        if (parent->pseudo && n->op->mark && (errno = -mtcp_mark_set(n->dfd, n->op->mark)))
            goto fail;
    }
    n->parent = parent;
    mtcp_node_ref(parent);
    mtcp_verbose(m, path, m->o->dry_run ? "would copy" : NULL);
    return n;
fail:
    err = -errno;
    mtcp_error(m, path, what, err);
    atomic_fetch_add(&m->files_failed, 1);
    mt_progress_failed(m->progress, 1);
    if (n->sfd >= 0)
        close(n->sfd);
    if (n->dfd >= 0)
        close(n->dfd);
    free(n->drel);
    free(n->rel);
    free(n);
    return NULL;
}

/* One entry found in dir: queue or copy it. */
static void dispatch(mtcp *m, mtcp_worker *w, mtcp_node *dir, batch *bt, const char *name,
                     const char *dname, unsigned char type)
{
    struct stat st;
    if (type == DT_DIR) {
        mtcp_job *j = mtcp_job_new(MTCP_JOB_DIR, dir, name, dname);
        if (!j)
            mtcp_stop(m, -ENOMEM);
        else
            mtcp_push(m, j);
        return;
    }
    if (fstatat(dir->sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        char *path = mtcp_path(dir, name);
        mtcp_error(m, path ? path : name, "cannot stat", -errno);
        free(path);
        atomic_fetch_add(&m->files_failed, 1);
        mt_progress_failed(m->progress, 1);
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        dispatch(m, w, dir, bt, name, dname, DT_DIR);
    } else if (S_ISREG(st.st_mode)) {
        mt_progress_add_total(m->progress, (uint64_t)st.st_size, 1);
        if (bt)
            add_file(m, dir, bt, name, (uint64_t)st.st_size);
        else
            mtcp_copy_one(m, w, dir, name, dname, (uint64_t)st.st_size);
    } else {
        copy_other(m, dir, name, dname, &st);
    }
}

static void read_dir(mtcp *m, mtcp_worker *w, mtcp_node *parent, const char *name,
                     const char *dname)
{
    mtcp_node *n = open_dir(m, parent, name, dname);
    if (!n)
        return;
    batch bt = {MT_BUF_INIT, 0, 0};
    for (;;) {
        long got = syscall(SYS_getdents64, n->sfd, w->dents, MTCP_DENTS);
        if (got < 0) {
            mtcp_error(m, n->rel, "cannot read directory", -errno);
            atomic_fetch_add(&m->files_failed, 1);
            mt_progress_failed(m->progress, 1);
            break;
        }
        if (got == 0 || mtcp_stopping(m))
            break;
        for (long off = 0; off < got;) {
            struct dirent64 *d = (struct dirent64 *)(w->dents + off);
            off += d->d_reclen;
            const char *e = d->d_name;
            if (e[0] == '.' && (e[1] == '\0' || (e[1] == '.' && e[2] == '\0')))
                continue;
            if (excluded(m, n, e))
                continue;
            dispatch(m, w, n, &bt, e, e, d->d_type == DT_DIR ? DT_DIR : DT_UNKNOWN);
        }
    }
    flush(m, n, &bt);
    mt_buf_free(&bt.b);
    mtcp_node_unref(m, n);
}

void mtcp_do_dir(mtcp *m, mtcp_worker *w, mtcp_job *j)
{
    read_dir(m, w, j->dir, j->data, j->dname ? j->dname : j->data);
}

void mtcp_do_entry(mtcp *m, mtcp_worker *w, mtcp_job *j)
{
    struct stat st;
    const char *name = j->data, *dname = j->dname ? j->dname : j->data;
    if (fstatat(j->dir->sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        mtcp_error(m, j->dir->op->src, "cannot stat", -errno);
        atomic_fetch_add(&m->files_failed, 1);
        mt_progress_failed(m->progress, 1);
        return;
    }
    if (S_ISDIR(st.st_mode))
        read_dir(m, w, j->dir, name, dname);
    else
        dispatch(m, w, j->dir, NULL, name, dname, DT_UNKNOWN);
}
