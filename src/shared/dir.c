/*
 * dir.c - an object's directory on disk: the marker that says a directory
 * is a multitask object, the check that a directory is one, and its
 * removal. Nothing here follows a symbolic link in the object's own name,
 * and removal works on the directory it opened (unlinkat), so that a name
 * swapped for a link or another directory halfway never leads it to
 * delete someone else's files.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared_internal.h"

/* What the marker file starts with; the creating pid follows, for people
 * (and the tests' leak check) who want to know who made it. */
#define MARKER_MAGIC "multitask shared object 1\n"
#define MARKER_MAX 128

static const char *const object_files[] = {"data.mdb", "lock.mdb", MT__SHARED_MARKER};

int mt__shdir_mark(const char *dir)
{
    char path[PATH_MAX], text[MARKER_MAX];
    snprintf(path, sizeof path, "%s/" MT__SHARED_MARKER, dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int len = snprintf(text, sizeof text, MARKER_MAGIC "creator pid %d\n", (int)getpid());
    int err = write(fd, text, (size_t)len) == len ? 0 : errno ? -errno : -EIO;
    close(fd);
    return err;
}

/* Whether dfd's directory holds a marker of ours: 1, 0 when it holds none,
 * or -EPROTO when the marker is not one (a link, another file). */
static int has_marker(int dfd)
{
    char text[MARKER_MAX];
    int fd = openat(dfd, MT__SHARED_MARKER, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -EPROTO;
    struct stat st;
    ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, text, sizeof text) : -1;
    close(fd);
    size_t magic = sizeof MARKER_MAGIC - 1;
    return n >= (ssize_t)magic && memcmp(text, MARKER_MAGIC, magic) == 0 ? 1 : -EPROTO;
}

int mt__shdir_check(int dfd)
{
    struct stat st;
    bool data = fstatat(dfd, "data.mdb", &st, AT_SYMLINK_NOFOLLOW) == 0;
    int marked = has_marker(dfd);
    if (marked == 0)
        return data ? -EPROTO : -ENOENT; /* an empty directory holds no object */
    if (marked < 0)
        return marked;
    /* LMDB writes its meta pages when it makes the file, and objects are
     * made elsewhere and renamed into place: an empty data.mdb is damage,
     * which LMDB would quietly make a new, empty object of. */
    return data && S_ISREG(st.st_mode) && st.st_size > 0 ? 0 : -EPROTO;
}

/* Open name (relative to at) as a directory without following a link: the
 * fd, or -ELOOP for a link, -ENOENT for anything else that is no directory,
 * -errno. */
static int open_dir_nofollow(int at, const char *name)
{
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0)
        return fd;
    struct stat st;
    if (errno != ENOTDIR && errno != ELOOP)
        return -errno;
    /* O_DIRECTORY reports a link as ENOTDIR. */
    return fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode) ? -ELOOP
                                                                                  : -ENOENT;
}

int mt__shdir_open(const char *dir, int *dfd_out)
{
    int dfd = open_dir_nofollow(AT_FDCWD, dir);
    if (dfd < 0)
        return dfd;
    int err = mt__shdir_check(dfd);
    if (err < 0) {
        close(dfd);
        return err;
    }
    *dfd_out = dfd;
    return 0;
}

/* Split dir into its parent, opened, and its last name (in *base, inside
 * buf). */
static int open_parent(const char *dir, char *buf, size_t size, const char **base)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (len >= size)
        return -ENAMETOOLONG;
    memcpy(buf, dir, len);
    buf[len] = '\0';
    char *slash = strrchr(buf, '/');
    const char *parent = ".";
    if (slash == buf) {
        parent = "/";
        *base = buf + 1;
    } else if (slash) {
        *slash = '\0';
        parent = buf;
        *base = slash + 1;
    } else {
        *base = buf;
    }
    if (!**base || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0)
        return -EINVAL;
    int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* Whether dfd's directory may be removed: it carries our marker, whatever
 * else it holds (a remove killed after unlinking data.mdb left the rest, and
 * the next remove must finish it); else mt__shdir_check's answer. */
static int removable(int dfd)
{
    int marked = has_marker(dfd);
    return marked == 1 ? 0 : marked < 0 ? marked : mt__shdir_check(dfd);
}

int mt__shdir_remove(const char *dir, const struct stat *expect, bool check, struct stat *seen)
{
    char buf[PATH_MAX];
    const char *base;
    int pfd = open_parent(dir, buf, sizeof buf, &base);
    if (pfd < 0)
        return pfd;
    int err = 0;
    struct stat st, now;
    int dfd = open_dir_nofollow(pfd, base);
    if (dfd < 0) {
        err = dfd;
        goto out;
    }
    if (fstat(dfd, &st) < 0 || (expect && (st.st_dev != expect->st_dev ||
                                           st.st_ino != expect->st_ino))) {
        err = -ESTALE; /* not the directory we made any more */
        goto out;
    }
    if (check && (err = removable(dfd)) < 0)
        goto out;
    if (seen)
        *seen = st;
    for (size_t i = 0; i < sizeof object_files / sizeof *object_files; i++)
        if (unlinkat(dfd, object_files[i], 0) < 0 && errno != ENOENT) {
            err = -errno;
            goto out;
        }
    /* The name still stands for the directory emptied: remove it. */
    if (fstatat(pfd, base, &now, AT_SYMLINK_NOFOLLOW) < 0 || now.st_dev != st.st_dev ||
        now.st_ino != st.st_ino)
        err = -ESTALE;
    else if (unlinkat(pfd, base, AT_REMOVEDIR) < 0)
        err = errno == EEXIST ? -ENOTEMPTY : -errno;
out:
    if (dfd >= 0)
        close(dfd);
    close(pfd);
    return err;
}
