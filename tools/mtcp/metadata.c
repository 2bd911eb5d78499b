/*
 * metadata.c - what `cp -a` keeps besides the bytes: owner and group (when
 * root, or when allowed), permission bits (with setuid/setgid only where the
 * owner was kept), extended attributes, and access and modification times
 * to the nanosecond. The order matters: chown clears setuid bits, so the
 * mode comes after it, and the times come last.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "mtcp.h"

static bool needs_chown(mtcp *m, const struct stat *st)
{
    return m->o->keep_owner && (st->st_uid != m->o->euid || st->st_gid != m->o->egid);
}

/* The permission bits the copy ends with. */
static mode_t final_mode(mtcp *m, const struct stat *st)
{
    if (!m->o->keep_mode)
        return st->st_mode & 0777 & ~m->o->umask;
    return st->st_mode & 07777;
}

mode_t mtcp_create_mode(mtcp *m, const struct stat *st)
{
    /* Until its owner is right, a file is ours alone. */
    return needs_chown(m, st) ? 0600 : final_mode(m, st) & 0777;
}

/* chown the file open as fd (an O_PATH fd too), forgiving EPERM when not
 * root as cp does; *kept says whether the owner is now the source's. */
static int own(mtcp *m, int fd, const struct stat *st, bool *kept)
{
    *kept = true;
    if (!needs_chown(m, st))
        return 0;
    if (fchownat(fd, "", st->st_uid, st->st_gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    *kept = false;
    return errno == EPERM && !m->o->root ? 0 : -errno;
}

static bool xattr_unsupported(int e)
{
    return e == ENOTSUP || e == EOPNOTSUPP || e == EPERM || e == EACCES;
}

int mtcp_copy_xattrs(int sfd, int tfd)
{
    char small[1024], *names = small, *val = NULL;
    ssize_t n = flistxattr(sfd, small, sizeof small);
    if (n < 0 && errno == ERANGE) {
        n = flistxattr(sfd, NULL, 0);
        names = n > 0 ? malloc((size_t)n) : NULL;
        n = names ? flistxattr(sfd, names, (size_t)n) : -1;
    }
    if (n <= 0)
        return n == 0 || xattr_unsupported(errno) ? 0 : -errno;
    int err = 0;
    size_t cap = 0;
    for (char *k = names; k < names + n && err == 0; k += strlen(k) + 1) {
        if (strncmp(k, "user.mtcp.", 10) == 0)
            continue; /* our own marks on a partial copy */
        ssize_t len = fgetxattr(sfd, k, NULL, 0);
        if (len < 0)
            continue;
        if ((size_t)len + 1 > cap) {
            free(val);
            cap = (size_t)len + 1;
            val = malloc(cap);
            if (!val) {
                err = -ENOMEM;
                break;
            }
        }
        len = fgetxattr(sfd, k, val, cap);
        if (len >= 0 && fsetxattr(tfd, k, val, (size_t)len, 0) < 0 && !xattr_unsupported(errno))
            err = -errno;
    }
    free(val);
    if (names != small)
        free(names);
    return err;
}

int mtcp_meta_fd(mtcp *m, int fd, const struct stat *st, int src_fd, bool is_dir)
{
    bool kept;
    int err = own(m, fd, st, &kept);
    if (err < 0)
        return err;
    if (m->o->keep_xattr && src_fd >= 0 && (err = mtcp_copy_xattrs(src_fd, fd)) < 0)
        return err;
    mode_t mode = final_mode(m, st);
    if (!kept)
        mode &= ~(mode_t)(S_ISUID | S_ISGID);
    if ((is_dir || mode != mtcp_create_mode(m, st)) && fchmod(fd, mode) < 0)
        return -errno;
    if (m->o->keep_times && futimens(fd, (struct timespec[]){st->st_atim, st->st_mtim}) < 0)
        return -errno;
    return 0;
}

/* chmod the node open as the O_PATH fd: fchmod refuses O_PATH fds, and a
 * chmod by name would follow whatever symlink was renamed over it; the
 * fd's /proc link names that very inode. */
static int chmod_path_fd(int fd, mode_t mode)
{
    char proc[40];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    return fchmodat(AT_FDCWD, proc, mode, 0) < 0 ? -errno : 0;
}

static int set_times_path_fd(int fd, int dirfd, const char *name, const struct stat *st)
{
    const struct timespec ts[2] = {st->st_atim, st->st_mtim};
    if (utimensat(fd, "", ts, AT_EMPTY_PATH) == 0)
        return 0;
    if (errno != EINVAL)
        return -errno;
    /* kernels before 5.8: by name, not following a symlink */
    return utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

int mtcp_meta_node(mtcp *m, int dirfd, const char *name, const struct stat *st)
{
    struct stat now;
    bool kept;
    int err = 0;
    /* A FIFO opens for reading at once, with no side effect, and its fd
     * takes a plain fchmod (unless its mode does not let us read it); other
     * nodes are never opened for I/O, and are chmod-ed through /proc. */
    bool real_fd = S_ISFIFO(st->st_mode);
    int fd = real_fd ? openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC) : -1;
    if (fd < 0 && (!real_fd || errno == EACCES)) {
        real_fd = false;
        fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0)
        return errno == ELOOP ? MTCP_ETMPGONE : -errno;
    if (fstat(fd, &now) < 0) {
        err = -errno;
        goto out;
    }
    /* What we made has st's type and one name: anything else (a symlink,
     * or a hard link to another file, renamed over it) is left alone. */
    if ((now.st_mode & S_IFMT) != (st->st_mode & S_IFMT) || now.st_nlink != 1) {
        err = MTCP_ETMPGONE;
        goto out;
    }
    if ((err = own(m, fd, st, &kept)) < 0)
        goto out;
    mode_t mode = final_mode(m, st);
    if (!kept)
        mode &= ~(mode_t)(S_ISUID | S_ISGID);
    if (!S_ISLNK(st->st_mode) && (needs_chown(m, st) || mode != (now.st_mode & 07777)) &&
        (err = real_fd ? (fchmod(fd, mode) < 0 ? -errno : 0) : chmod_path_fd(fd, mode)) < 0)
        goto out;
    if (m->o->keep_times)
        err = set_times_path_fd(fd, dirfd, name, st);
out:
    close(fd);
    return err;
}
