/*
 * out.c - writing one download so that no partial or wrong body ever sits
 * under a final name. The bytes go to a temporary, ".mtget-<random>.part",
 * created in the output directory with O_CREAT|O_EXCL|O_NOFOLLOW (so a
 * name that exists, a planted link among them, is never opened); writes
 * past the size cap or the announced length are refused; only a complete,
 * checked file is renamed into place, and never over an existing name
 * (RENAME_NOREPLACE): a taken name gets ".1", ".2"... All names are
 * resolved against the directory's fd, never a path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mtget.h"

#define TMP_TRIES 16       /* random names drawn before giving up */
#define MAX_NUMBERED 9999  /* name.9999 is the last name tried */

struct mtget_out {
    int dirfd, fd;
    uint64_t written;
    mtget_out_opts opts;
    char tmp[MTGET_TMP_SIZE];
    char name[];
};

bool mtget_is_tmpname(const char *name)
{
    size_t plen = strlen(MTGET_TMP_PREFIX), slen = strlen(MTGET_TMP_SUFFIX);
    if (strlen(name) != plen + 16 + slen || strncmp(name, MTGET_TMP_PREFIX, plen) != 0 ||
        strcmp(name + plen + 16, MTGET_TMP_SUFFIX) != 0)
        return false;
    for (size_t i = plen; i < plen + 16; i++)
        if (!strchr("0123456789abcdef", name[i]))
            return false;
    return true;
}

static void random_tmpname(char out[MTGET_TMP_SIZE])
{
    uint64_t r;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        r = ((uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)getpid() << 32) ^
            (uint64_t)ts.tv_sec;
    }
    snprintf(out, MTGET_TMP_SIZE, MTGET_TMP_PREFIX "%016llx" MTGET_TMP_SUFFIX,
             (unsigned long long)r);
}

/* Whether a name is one this module may create a file for. */
static bool name_ok(const char *name)
{
    return name && *name && *name != '.' && !strchr(name, '/') && strlen(name) < 4096;
}

/* Open the temporary to resume, refusing anything but our own kind of file. */
static int open_resume(mtget_out *o)
{
    if (!mtget_is_tmpname(o->opts.resume))
        return -EINVAL;
    snprintf(o->tmp, sizeof o->tmp, "%s", o->opts.resume);
    /* O_NONBLOCK: a FIFO planted at the name must not hang the open */
    int fd = openat(o->dirfd, o->tmp, O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
        close(fd);
        return -EINVAL;
    }
    o->fd = fd;
    o->written = (uint64_t)st.st_size;
    if (o->opts.cap && o->written > o->opts.cap)
        return MTGET_ETOOBIG;
    if ((o->opts.flags & MTGET_OUT_LENGTH) && o->written > o->opts.length)
        return MTGET_ELENGTH;
    return 0;
}

static int open_new(mtget_out *o)
{
    mode_t mode = o->opts.mode ? o->opts.mode : 0644;
    for (int i = 0; i < TMP_TRIES; i++) {
        random_tmpname(o->tmp);
        int fd = openat(o->dirfd, o->tmp,
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, mode);
        if (fd >= 0) {
            o->fd = fd;
            return 0;
        }
        if (errno != EEXIST)
            return -errno;
    }
    return -EEXIST;
}

int mtget_out_open(mtget_out **out, int dirfd, const char *name, const mtget_out_opts *opts)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!name_ok(name) || dirfd < 0)
        return -EINVAL;
    mtget_out *o = calloc(1, sizeof *o + strlen(name) + 1);
    if (!o)
        return -ENOMEM;
    o->dirfd = dirfd;
    o->fd = -1;
    if (opts)
        o->opts = *opts;
    strcpy(o->name, name);
    int err = o->opts.resume ? open_resume(o) : open_new(o);
    if (err < 0) {
        if (o->fd >= 0)
            close(o->fd);
        free(o);
        return err;
    }
    o->opts.resume = NULL; /* the caller's string; not kept */
    *out = o;
    return 0;
}

const char *mtget_out_tmpname(const mtget_out *o)
{
    return o->tmp;
}

uint64_t mtget_out_size(const mtget_out *o)
{
    return o->written;
}

int mtget_out_write(mtget_out *o, const void *buf, size_t len)
{
    if (o->opts.cap && (len > o->opts.cap || o->written > o->opts.cap - len))
        return MTGET_ETOOBIG;
    if ((o->opts.flags & MTGET_OUT_LENGTH) &&
        (len > o->opts.length || o->written > o->opts.length - len))
        return MTGET_ELENGTH;
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(o->fd, p, len, (off_t)o->written);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        o->written += (uint64_t)n;
    }
    return 0;
}

int mtget_out_restart(mtget_out *o)
{
    if (ftruncate(o->fd, 0) < 0)
        return -errno;
    o->written = 0;
    return 0;
}

/* Whether the temporary name still holds the file open as our fd. */
static bool tmp_is_ours(const mtget_out *o)
{
    struct stat ours, named;
    return fstat(o->fd, &ours) == 0 &&
           fstatat(o->dirfd, o->tmp, &named, AT_SYMLINK_NOFOLLOW) == 0 &&
           named.st_dev == ours.st_dev && named.st_ino == ours.st_ino;
}

/* Give the temporary the name `final` unless that name exists: 0, -EEXIST,
 * -errno. Filesystems without RENAME_NOREPLACE get link + unlink, which is
 * as safe (link never replaces). */
static int place(const mtget_out *o, const char *final)
{
    if (renameat2(o->dirfd, o->tmp, o->dirfd, final, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return -errno;
    if (linkat(o->dirfd, o->tmp, o->dirfd, final, 0) < 0)
        return -errno;
    unlinkat(o->dirfd, o->tmp, 0);
    return 0;
}

static size_t name_max(int dirfd)
{
    long max = fpathconf(dirfd, _PC_NAME_MAX);
    return max <= 0 || max > MTGET_NAME_SIZE - 1 ? MTGET_NAME_SIZE - 1 : (size_t)max;
}

/* Rename the temporary to its name cut to max bytes, or to the first free
 * numbered name (unless MTGET_OUT_REPLACE); final receives the name. */
static int name_into_place(const mtget_out *o, char *final, size_t max)
{
    if (o->opts.flags & MTGET_OUT_REPLACE) {
        mtget_name_numbered(final, max, o->name, 0);
        return renameat(o->dirfd, o->tmp, o->dirfd, final) < 0 ? -errno : 0;
    }
    int err = -EEXIST;
    for (unsigned n = 0; n <= MAX_NUMBERED && err == -EEXIST; n++) {
        mtget_name_numbered(final, max, o->name, n);
        err = place(o, final);
    }
    return err;
}

int mtget_out_commit(mtget_out *o, char **final_name)
{
    if ((o->opts.flags & MTGET_OUT_LENGTH) && o->written != o->opts.length)
        return MTGET_ELENGTH;
    if ((o->opts.flags & MTGET_OUT_FSYNC) && fsync(o->fd) < 0)
        return -errno;
    /* The name must still be the file we wrote: renaming whatever someone
     * put there meanwhile would put the wrong bytes under the final name. */
    if (!tmp_is_ours(o))
        return MTGET_ETMPGONE;
    char *final = malloc(MTGET_NAME_SIZE);
    if (!final)
        return -ENOMEM;
    /* The directory's name limit is asked (fpathconf: a system call) only
     * when a name is refused as too long: a name within the limit is the
     * same whichever limit it is cut to. */
    size_t max = MTGET_NAME_SIZE - 1;
    int err = name_into_place(o, final, max);
    if (err == -ENAMETOOLONG && (max = name_max(o->dirfd)) < MTGET_NAME_SIZE - 1)
        err = name_into_place(o, final, max);
    if (err < 0) {
        free(final);
        return err;
    }
    /* with fsync, the rename too is made durable (best effort: the file is
     * in place whatever the directory's fsync says) */
    if (o->opts.flags & MTGET_OUT_FSYNC)
        fsync(o->dirfd);
    close(o->fd);
    free(o);
    if (final_name)
        *final_name = final;
    else
        free(final);
    return 0;
}

void mtget_out_abort(mtget_out *o)
{
    if (!o)
        return;
    if (tmp_is_ours(o))
        unlinkat(o->dirfd, o->tmp, 0);
    mtget_out_free(o);
}

void mtget_out_free(mtget_out *o)
{
    if (!o)
        return;
    close(o->fd);
    free(o);
}
