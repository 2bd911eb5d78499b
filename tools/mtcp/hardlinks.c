/*
 * hardlinks.c - hard links stay hard links. A file with more than one link
 * is copied once: the first worker to meet it owns the copy, and every
 * other name of it becomes a link to that copy, made at once when the copy
 * is in place, or by the owner when it finishes (so no worker ever waits for
 * another). An entry is kept only for files with several links, and only
 * until all their names have been seen.
 *
 * The copy is found again through directory fds opened one name at a time
 * with O_NOFOLLOW, never through a path: a destination directory swapped for
 * a symlink must not send a link outside the destination (nor can a path
 * longer than PATH_MAX fail), and every name made must be a link to the very
 * inode we copied, checked before it takes its final name.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtcp.h"

#define BUCKETS 4096

typedef struct waiter {
    struct waiter *next;
    mtcp_node *dir; /* holds a reference */
    char *dname;
    char *path;
    uint64_t size;
} waiter;

/* The inode of the copy every other name links to. */
typedef struct copy_id {
    dev_t dev;
    ino_t ino;
} copy_id;

typedef struct entry {
    struct entry *next;
    dev_t dev;
    ino_t ino;
    nlink_t left; /* names not seen yet */
    bool done;    /* the copy is in place at op's dst_parent / drel */
    mtcp_operand *op;
    char *drel;
    copy_id copy; /* once done */
    waiter *waiters;
} entry;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static entry *table[BUCKETS];

static entry **slot(dev_t dev, ino_t ino)
{
    entry **p = &table[(ino ^ (dev * 31)) % BUCKETS];
    while (*p && ((*p)->dev != dev || (*p)->ino != ino))
        p = &(*p)->next;
    return p;
}

static void entry_free(entry *e)
{
    free(e->drel);
    free(e);
}

typedef struct link_from {
    int fd;
    const char *name;
} link_from;

static int make_link(void *from, int dfd, const char *tmp)
{
    const link_from *f = from;
    return linkat(f->fd, f->name, dfd, tmp, 0) < 0 ? -errno : 0;
}

static bool is_copy(const copy_id *c, int dirfd, const char *name)
{
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
           st.st_dev == c->dev && st.st_ino == c->ino;
}

/* The directory holding the copy at drel below root, opened one name at a
 * time, never through a symlink; *base is the copy's name there. Returns an
 * fd the caller closes, or -errno. */
static int open_copy_dir(int root, const char *drel, const char **base)
{
    char comp[NAME_MAX + 1];
    int fd = fcntl(root, F_DUPFD_CLOEXEC, 0);
    const char *p = drel;
    for (const char *slash; fd >= 0 && (slash = strchr(p, '/')); p = slash + 1) {
        size_t len = (size_t)(slash - p);
        if (len == 0)
            continue;
        if (len > NAME_MAX) {
            close(fd);
            return -ENAMETOOLONG;
        }
        memcpy(comp, p, len);
        comp[len] = '\0';
        int next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        fd = next;
    }
    *base = p;
    return fd >= 0 ? fd : -errno;
}

/* Make dir/dname a link to the copy c, named from_fd/from, through a temporary
 * name; 0 when made or already there, else -errno or an MTCP_E* code. */
static int link_to_copy(const copy_id *c, int from_fd, const char *from, mtcp_node *dir,
                        const char *dname, bool *already)
{
    char tmp[MTCP_TMPNAME];
    *already = is_copy(c, dir->dfd, dname);
    if (*already) /* --resume: renaming a second name of the same file onto
                   * it would do nothing and leave the temporary name */
        return 0;
    if (!is_copy(c, from_fd, from))
        return MTCP_EMOVED;
    link_from f = {from_fd, from};
    int err = mtcp_tmp_make(dir, dname, tmp, mtcp_tmp_first_free(dir, dname, tmp), make_link, &f);
    if (err < 0)
        return err;
    /* The name may have been swapped between the check and the link. */
    if (!is_copy(c, dir->dfd, tmp))
        err = MTCP_EMOVED;
    else if (renameat(dir->dfd, tmp, dir->dfd, dname) < 0)
        err = -errno;
    if (err < 0)
        unlinkat(dir->dfd, tmp, 0);
    return err;
}

/* Make dir/dname a link to the copy c, named from_fd/from, and count it. */
static void link_one(mtcp *m, const copy_id *c, int from_fd, const char *from, mtcp_node *dir,
                     const char *dname, const char *path)
{
    bool already = false;
    int err = from_fd < 0 ? from_fd : link_to_copy(c, from_fd, from, dir, dname, &already);
    if (err < 0) {
        mtcp_error(m, path, "cannot link", err);
        atomic_fetch_add(&m->files_failed, 1);
        mt_progress_failed(m->progress, 1);
    } else if (already) {
        atomic_fetch_add(&m->files_skipped, 1);
        mt_progress_skipped(m->progress, 1);
    } else {
        atomic_fetch_add(&m->files_copied, 1);
        mtcp_verbose(m, path, NULL);
    }
}

int mtcp_hl_claim(mtcp *m, const struct stat *st, mtcp_node *dir, const char *dname,
                  uint64_t size, void **out)
{
    pthread_mutex_lock(&mu);
    entry **p = slot(st->st_dev, st->st_ino), *e = *p;
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e) {
            pthread_mutex_unlock(&mu);
            return -ENOMEM;
        }
        e->dev = st->st_dev;
        e->ino = st->st_ino;
        e->left = st->st_nlink - 1;
        *p = e;
        *out = e;
        pthread_mutex_unlock(&mu);
        return MTCP_HL_OWNER;
    }
    if (e->left > 0)
        e->left--;
    char *path = mtcp_path(dir, dname);
    if (e->done) {
        const char *base = NULL;
        int fd = open_copy_dir(e->op->dst_parent, e->drel, &base);
        link_one(m, &e->copy, fd, base, dir, dname, path ? path : dname);
        if (fd >= 0)
            close(fd);
        free(path);
        if (e->left == 0) {
            *p = e->next;
            entry_free(e);
        }
        pthread_mutex_unlock(&mu);
        return MTCP_HL_LINKED;
    }
    waiter *w = calloc(1, sizeof *w);
    if (!w || !path || !(w->dname = strdup(dname))) {
        free(w);
        free(path);
        pthread_mutex_unlock(&mu);
        return -ENOMEM;
    }
    w->path = path;
    w->size = size;
    w->dir = dir;
    mtcp_node_ref(dir);
    w->next = e->waiters;
    e->waiters = w;
    pthread_mutex_unlock(&mu);
    return MTCP_HL_QUEUED;
}

/* Queue a waiter's name to be copied on its own (its owner failed). */
static void requeue(mtcp *m, waiter *w)
{
    mtcp_job *j = calloc(1, sizeof *j + sizeof w->size + strlen(w->dname) + 1);
    if (!j) {
        mtcp_stop(m, -ENOMEM);
        return;
    }
    j->kind = MTCP_JOB_FILES;
    j->dir = w->dir;
    mtcp_node_ref(w->dir);
    j->n = 1;
    memcpy(j->data, &w->size, sizeof w->size);
    strcpy(j->data + sizeof w->size, w->dname);
    j->len = sizeof w->size + strlen(w->dname) + 1;
    j->mem = sizeof *j + j->len;
    mt_progress_add_total(m->progress, w->size, 1);
    mtcp_push(m, j);
}

void mtcp_hl_done(mtcp *m, void *handle, bool ok, mtcp_node *dir, const char *dname)
{
    entry *e = handle;
    if (!e)
        return;
    pthread_mutex_lock(&mu);
    waiter *ws = e->waiters;
    e->waiters = NULL;
    entry **p = slot(e->dev, e->ino);
    struct stat copy;
    if (ok) {
        e->done = true;
        e->op = dir->op;
        e->drel = mtcp_join(dir->drel, dname);
        /* the copy just put in place (or found complete by --resume) */
        if (!e->drel || fstatat(dir->dfd, dname, &copy, AT_SYMLINK_NOFOLLOW) < 0)
            ok = false;
        else {
            e->copy = (copy_id){copy.st_dev, copy.st_ino};
        }
    }
    copy_id target = e->copy; /* e may be freed below */
    if (!ok || e->left == 0) {
        *p = e->next;
        entry_free(e);
    }
    pthread_mutex_unlock(&mu);
    while (ws) {
        waiter *w = ws;
        ws = w->next;
        if (ok)
            link_one(m, &target, dir->dfd, dname, w->dir, w->dname, w->path);
        else if (!mtcp_stopping(m))
            requeue(m, w);
        mtcp_node_unref(m, w->dir);
        free(w->dname);
        free(w->path);
        free(w);
    }
}

void mtcp_hl_free_all(void)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < BUCKETS; i++) {
        while (table[i]) {
            entry *e = table[i];
            table[i] = e->next;
            entry_free(e);
        }
    }
    pthread_mutex_unlock(&mu);
}
